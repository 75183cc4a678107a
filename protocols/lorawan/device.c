/* Simulated LoRaWAN end device; see device.h. */
#include <math.h>
#include <string.h>
#include "protocols/lorawan/device.h"
#include "protocols/lorawan/radio.h"

void fb_lw_device_init(struct fb_lw_device *d, uint32_t index, const struct fb_lw_identity *id,
                       const struct fb_lw_device_opts *o)
{
	memset(d, 0, sizeof(*d));
	d->index = index;
	d->id = *id;
	d->otaa = o->otaa;
	d->class_c = o->class_c;
	d->adr = o->adr;
	d->duty_cycle = o->duty_cycle;
	d->dev_nonce = o->dev_nonce;
	d->dr = o->initial_dr <= FB_LW_DR_MAX ? o->initial_dr : FB_LW_DR_MAX;
	d->nb_trans = 1;
	d->max_retx = o->max_retx <= FB_LW_MAX_RETX ? o->max_retx : FB_LW_MAX_RETX;
	d->rx2_dr = FB_LW_RX2_DR;
	d->rx2_freq_hz = FB_LW_RX2_FREQ_HZ;
	d->rx_delay_s = 1;
	d->battery = FB_LW_BATTERY_EXTERNAL;  /* until the transport knows the model has a battery */
	fb_lw_channels_default(&d->ch);
	fb_lw_duty_init(&d->duty);
	fb_rng_init(&d->rng, o->seed, index, FB_RNG_TRANSPORT);
	d->state = o->otaa ? FB_LW_DEV_IDLE : FB_LW_DEV_JOINED;
}

/* A random enabled channel for dr whose sub-band is out of its off-time at t (duty cycle on). */
static int pick_channel(struct fb_lw_device *d, int dr, fb_time_us t, bool *deferred)
{
	int n = fb_lw_channels_count(&d->ch, dr);
	*deferred = false;
	if (!n)
		return -1;
	unsigned start = (unsigned)fb_rng_below(&d->rng, (uint64_t)n);
	for (int k = 0; k < n; k++) {
		int ch = fb_lw_channels_pick(&d->ch, dr, (start + (unsigned)k) % (unsigned)n);
		if (!d->duty_cycle || fb_lw_duty_free_at(&d->duty, d->ch.ch[ch].freq_hz) <= t)
			return ch;
	}
	*deferred = true;
	return -1;
}

static enum fb_lw_up_result place(struct fb_lw_device *d, fb_time_us t, int dr, struct fb_lw_tx *tx)
{
	bool deferred;
	int ch = pick_channel(d, dr, t, &deferred);
	if (ch < 0)
		return deferred ? FB_LW_UP_DUTY : FB_LW_UP_NO_CHANNEL;
	tx->freq_hz = d->ch.ch[ch].freq_hz;
	tx->dr = (uint8_t)dr;
	tx->tx_power_dbm = (int8_t)(fb_lw_tx_power_dbm(d->tx_power) - 2);   /* EIRP 16 -> 14 dBm conducted */
	tx->start = t;
	return FB_LW_UP_SENT;
}

static void record(struct fb_lw_device *d, struct fb_lw_tx *tx)
{
	tx->airtime = fb_lw_uplink_airtime_us(tx->dr, tx->len);
	fb_lw_duty_record(&d->duty, tx->freq_hz, tx->start, tx->airtime);
	d->tx_start = tx->start;
	d->tx_end = tx->start + tx->airtime;
	d->tx_freq_hz = tx->freq_hz;
	d->tx_dr = tx->dr;
}

enum fb_lw_up_result fb_lw_device_join(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                       fb_time_us t, struct fb_lw_tx *tx)
{
	memset(tx, 0, offsetof(struct fb_lw_tx, phy));
	enum fb_lw_up_result r = place(d, t, d->dr, tx);
	if (r != FB_LW_UP_SENT)
		return r;
	/* 1.0.4 §6.2.4: DevNonce is a counter, never reused, incremented with every join-request */
	struct fb_lw_join_request jr = { d->id.join_eui, d->id.dev_eui, d->dev_nonce };
	ssize_t n = fb_lw_join_request_build(c, &jr, d->id.app_key, tx->phy, sizeof(tx->phy));
	if (n < 0)
		return FB_LW_UP_ERROR;
	d->dev_nonce++;
	tx->len = (size_t)n;
	tx->join = true;
	d->state = FB_LW_DEV_JOINING;
	d->awaiting = true;
	d->retx_left = d->max_retx;
	record(d, tx);
	return FB_LW_UP_SENT;
}

static enum fb_lw_up_result build_data(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                       fb_time_us t, uint32_t fcnt, struct fb_lw_tx *tx)
{
	if (d->last_payload_len > fb_lw_max_payload(d->dr))
		return FB_LW_UP_TOO_LONG;
	enum fb_lw_up_result r = place(d, t, d->dr, tx);
	if (r != FB_LW_UP_SENT)
		return r;
	struct fb_lw_data_frame f = {
		.mtype = d->confirmed_pending ? FB_LW_CONF_UP : FB_LW_UNCONF_UP,
		.dev_addr = d->id.dev_addr, .adr = d->adr, .ack = d->ack_next, .fcnt = fcnt,
		.fport = d->last_fport, .payload = d->last_payload, .payload_len = d->last_payload_len,
	};
	f.adr_ack_req = d->adr && d->adr_ack_cnt >= FB_LW_ADR_ACK_LIMIT;
	memcpy(f.fopts, d->mac_answers, d->mac_answers_len);
	f.fopts_len = d->mac_answers_len;
	if (d->link_check_req && f.fopts_len < FB_LW_MAX_FOPTS)
		f.fopts[f.fopts_len++] = FB_LW_LINK_CHECK;
	ssize_t n = fb_lw_data_build(c, &f, d->id.nwk_s_key, d->id.app_s_key, tx->phy, sizeof(tx->phy));
	if (n < 0)
		return FB_LW_UP_ERROR;
	tx->len = (size_t)n;
	d->ack_next = false;
	d->link_check_req = false;
	if (!d->mac_answers_sticky)
		d->mac_answers_len = 0;
	record(d, tx);
	return FB_LW_UP_SENT;
}

enum fb_lw_up_result fb_lw_device_uplink(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                         fb_time_us t, const uint8_t *payload, size_t len,
                                         uint8_t fport, bool confirmed, struct fb_lw_tx *tx)
{
	memset(tx, 0, offsetof(struct fb_lw_tx, phy));
	if (d->state != FB_LW_DEV_JOINED)
		return FB_LW_UP_ERROR;
	if (len > sizeof(d->last_payload) || (int)len > fb_lw_max_payload(d->dr))
		return FB_LW_UP_TOO_LONG;
	memcpy(d->last_payload, payload, len);
	d->last_payload_len = (uint8_t)len;
	d->last_fport = fport;
	d->confirmed_pending = confirmed;
	enum fb_lw_up_result r = build_data(c, d, t, d->fcnt_up, tx);
	if (r != FB_LW_UP_SENT) {
		d->confirmed_pending = false;
		return r;
	}
	d->fcnt_up++;                          /* 1.0.4 §4.3.1.5: 32 bits, never reused */
	d->awaiting = confirmed;
	d->retx_left = d->max_retx;
	if (d->adr) {
		/* RP002 ADR back-off: ADRACKReq after ADR_ACK_LIMIT uplinks without a downlink, then one
		 * DR step down every ADR_ACK_DELAY more */
		d->adr_ack_cnt++;
		if (d->adr_ack_cnt >= FB_LW_ADR_ACK_LIMIT + FB_LW_ADR_ACK_DELAY) {
			if (d->tx_power)
				d->tx_power = 0;
			else if (d->dr > FB_LW_DR_MIN)
				d->dr--;
			d->adr_ack_cnt = FB_LW_ADR_ACK_LIMIT;
		}
	}
	return FB_LW_UP_SENT;
}

enum fb_lw_up_result fb_lw_device_retransmit(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                             fb_time_us t, struct fb_lw_tx *tx)
{
	memset(tx, 0, offsetof(struct fb_lw_tx, phy));
	if (!d->awaiting || !d->retx_left)
		return FB_LW_UP_ERROR;
	uint8_t left = d->retx_left - 1;
	enum fb_lw_up_result r;
	if (d->state == FB_LW_DEV_JOINING) {
		/* join back-off: step the DR down so a far device is eventually heard */
		d->dr = d->dr > FB_LW_DR_MIN ? d->dr - 1 : FB_LW_DR_MAX;
		r = fb_lw_device_join(c, d, t, tx);
	} else {
		r = build_data(c, d, t, d->fcnt_up - 1, tx);     /* 1.0.4 §4.3.1.5: same FCnt */
	}
	if (r == FB_LW_UP_SENT) {
		d->retx_left = left;
		tx->retransmission = true;
	}
	return r;
}

fb_time_us fb_lw_device_next_free(const struct fb_lw_device *d)
{
	fb_time_us best = FB_TIME_NEVER;
	for (int i = 0; i < FB_LW_MAX_CHANNELS; i++) {
		const struct fb_lw_channel *c = &d->ch.ch[i];
		if (!c->enabled || d->dr < c->min_dr || d->dr > c->max_dr)
			continue;
		fb_time_us t = fb_lw_duty_free_at(&d->duty, c->freq_hz);
		if (t < best)
			best = t;
	}
	return best;
}

fb_time_us fb_lw_device_rx1_at(const struct fb_lw_device *d)
{
	fb_time_us delay = d->state == FB_LW_DEV_JOINING ? FB_LW_JOIN_ACCEPT_DELAY1_US
	                 : (d->rx_delay_s ? d->rx_delay_s : 1) * FB_US_PER_S;
	return d->tx_end + delay;
}

fb_time_us fb_lw_device_window_end(const struct fb_lw_device *d)
{
	/* RX2 opens 1 s after RX1; allow its longest downlink (SF12, 64 B, ~2.8 s) to arrive */
	return fb_lw_device_rx1_at(d) + FB_US_PER_S + 3 * FB_US_PER_S;
}

int fb_lw_device_window_of(const struct fb_lw_device *d, int64_t delay_us)
{
	int64_t rx1 = d->state == FB_LW_DEV_JOINING ? FB_LW_JOIN_ACCEPT_DELAY1_US
	            : (d->rx_delay_s ? d->rx_delay_s : 1) * FB_US_PER_S;
	const int64_t tol = 20 * FB_US_PER_MS;
	if (delay_us >= rx1 - tol && delay_us <= rx1 + tol)
		return 1;
	if (delay_us >= rx1 + FB_US_PER_S - tol && delay_us <= rx1 + FB_US_PER_S + tol)
		return 2;
	return 0;
}

static void answer(struct fb_lw_device *d, const struct fb_lw_mac *m)
{
	uint8_t buf[4];
	ssize_t n = fb_lw_mac_encode(m, 1, FB_LW_UP, buf, sizeof(buf));
	if (n > 0 && d->mac_answers_len + (size_t)n <= FB_LW_MAX_FOPTS) {
		memcpy(d->mac_answers + d->mac_answers_len, buf, (size_t)n);
		d->mac_answers_len += (uint8_t)n;
	}
}

static void apply_mac(struct fb_lw_device *d, const struct fb_lw_mac *m, double snr_db,
                      struct fb_lw_dl_info *info)
{
	struct fb_lw_mac a = { .cid = m->cid };
	switch (m->cid) {
	case FB_LW_LINK_CHECK:
		info->link_check_ans = true;
		info->link_check_margin = m->u.link_check_ans.margin;
		info->link_check_gw = m->u.link_check_ans.gw_cnt;
		return;
	case FB_LW_LINK_ADR: {
		/* 1.0.4 §5.3: apply all of DR, power and mask, or none */
		struct fb_lw_channels ch = d->ch;
		uint8_t dr = m->u.link_adr_req.dr, pw = m->u.link_adr_req.tx_power;
		bool mask_ok = fb_lw_channels_apply_mask(&ch, m->u.link_adr_req.ch_mask,
		                                         m->u.link_adr_req.ch_mask_cntl) == 1;
		if (dr == 0x0f)
			dr = d->dr;
		if (pw == 0x0f)
			pw = d->tx_power;
		bool dr_ok = dr <= FB_LW_DR_MAX && fb_lw_channels_count(mask_ok ? &ch : &d->ch, dr) > 0;
		bool pw_ok = pw <= 7;
		a.u.status = (uint8_t)((pw_ok ? 4 : 0) | (dr_ok ? 2 : 0) | (mask_ok ? 1 : 0));
		if (pw_ok && dr_ok && mask_ok) {
			d->ch = ch;
			d->dr = dr;
			d->tx_power = pw;
			d->nb_trans = m->u.link_adr_req.nb_trans ? m->u.link_adr_req.nb_trans : 1;
			info->link_adr = true;
		}
		answer(d, &a);
		return;
	}
	case FB_LW_DUTY_CYCLE:
		d->duty.max_duty_cycle = m->u.duty_cycle_req.max_duty_cycle;
		answer(d, &a);
		return;
	case FB_LW_RX_PARAM_SETUP: {
		bool ch_ok = fb_lw_band_of(m->u.rx_param_setup_req.freq_hz) >= 0;
		bool rx2_ok = m->u.rx_param_setup_req.rx2_dr <= FB_LW_DR_MAX;
		bool off_ok = m->u.rx_param_setup_req.rx1_dr_offset <= 5;
		a.u.status = (uint8_t)((off_ok ? 4 : 0) | (rx2_ok ? 2 : 0) | (ch_ok ? 1 : 0));
		if (ch_ok && rx2_ok && off_ok) {
			d->rx2_freq_hz = m->u.rx_param_setup_req.freq_hz;
			d->rx2_dr = m->u.rx_param_setup_req.rx2_dr;
			d->rx1_dr_offset = m->u.rx_param_setup_req.rx1_dr_offset;
		}
		answer(d, &a);
		d->mac_answers_sticky = true;        /* §5.4: repeated until a class A downlink */
		return;
	}
	case FB_LW_DEV_STATUS: {
		/* 1.0.4 §5.5: margin = the demodulation SNR of the DevStatusReq (as received by this
		 * device, see fb_lw_device_downlink), rounded, -32..31 */
		long mg = lround(snr_db);
		a.u.dev_status_ans.battery = d->battery;
		a.u.dev_status_ans.margin = (int8_t)(mg < -32 ? -32 : mg > 31 ? 31 : mg);
		answer(d, &a);
		return;
	}
	case FB_LW_NEW_CHANNEL:
		a.u.status = fb_lw_channels_new(&d->ch, m->u.new_channel_req.ch_index,
		                                m->u.new_channel_req.freq_hz, m->u.new_channel_req.min_dr,
		                                m->u.new_channel_req.max_dr);
		answer(d, &a);
		return;
	case FB_LW_RX_TIMING_SETUP:
		d->rx_delay_s = m->u.rx_timing_setup_req.delay_s ? m->u.rx_timing_setup_req.delay_s : 1;
		answer(d, &a);
		d->mac_answers_sticky = true;
		return;
	}
}

static enum fb_lw_dl_result join_accept(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                        const uint8_t *phy, size_t len)
{
	if (!d->otaa || d->state != FB_LW_DEV_JOINING)
		return FB_LW_DL_NOT_MINE;
	struct fb_lw_join_accept ja;
	int rc = fb_lw_join_accept_open(c, phy, len, d->id.app_key, &ja);
	if (rc == FB_LW_EMIC)
		return FB_LW_DL_BAD_MIC;
	if (rc)
		return FB_LW_DL_MALFORMED;
	uint16_t used_nonce = (uint16_t)(d->dev_nonce - 1);
	if (fb_lw_session_keys(c, d->id.app_key, ja.join_nonce, ja.net_id, used_nonce,
	                       d->id.nwk_s_key, d->id.app_s_key))
		return FB_LW_DL_MALFORMED;
	d->id.dev_addr = ja.dev_addr;
	d->rx1_dr_offset = ja.rx1_dr_offset;
	d->rx2_dr = ja.rx2_dr <= FB_LW_DR_MAX ? ja.rx2_dr : FB_LW_RX2_DR;
	d->rx_delay_s = ja.rx_delay_s ? ja.rx_delay_s : 1;
	fb_lw_channels_default(&d->ch);
	if (ja.has_cflist)
		fb_lw_channels_apply_cflist(&d->ch, ja.cflist_hz);
	d->fcnt_up = 0;
	d->fcnt_down = 0;
	d->got_down = false;
	d->state = FB_LW_DEV_JOINED;
	d->awaiting = false;
	d->mac_answers_len = 0;
	d->mac_answers_sticky = false;
	d->adr_ack_cnt = 0;
	return FB_LW_DL_JOINED;
}

enum fb_lw_dl_result fb_lw_device_downlink(struct fb_lw_crypto *c, struct fb_lw_device *d,
                                           const uint8_t *phy, size_t len, double snr_db,
                                           struct fb_lw_dl_info *info)
{
	memset(info, 0, offsetof(struct fb_lw_dl_info, payload));
	info->fport = -1;
	info->payload_len = 0;
	if (len < 1)
		return FB_LW_DL_MALFORMED;
	if (phy[0] >> 5 == FB_LW_JOIN_ACCEPT)
		return join_accept(c, d, phy, len);
	struct fb_lw_data_frame f;
	if (fb_lw_data_parse(phy, len, &f) || fb_lw_mtype_dir(f.mtype) != FB_LW_DOWN)
		return FB_LW_DL_MALFORMED;
	if (d->state != FB_LW_DEV_JOINED || f.dev_addr != d->id.dev_addr)
		return FB_LW_DL_NOT_MINE;
	uint32_t fcnt = d->got_down ? fb_lw_fcnt_expand(d->fcnt_down, (uint16_t)f.fcnt) : f.fcnt;
	uint8_t plain[FB_LW_MAX_PHY];
	int rc = fb_lw_data_open(c, phy, len, &f, fcnt, d->id.nwk_s_key, d->id.app_s_key, plain);
	if (rc == FB_LW_EMIC)
		return FB_LW_DL_BAD_MIC;
	if (rc)
		return FB_LW_DL_MALFORMED;
	if (d->got_down && fcnt <= d->fcnt_down)
		return FB_LW_DL_REPLAY;
	d->fcnt_down = fcnt;
	d->got_down = true;
	d->adr_ack_cnt = 0;
	d->last_margin_db = (int8_t)lround(snr_db);
	info->confirmed = f.mtype == FB_LW_CONF_DOWN;
	d->ack_next = info->confirmed;
	if (f.ack && d->confirmed_pending) {
		info->ack = true;
		d->confirmed_pending = false;
	}
	d->awaiting = d->confirmed_pending;
	/* any class A downlink ends the repetition of sticky answers (§5.4, §5.7) */
	d->mac_answers_len = 0;
	d->mac_answers_sticky = false;

	const uint8_t *cmds = f.fopts;
	size_t ncmd_bytes = f.fopts_len;
	if (f.fport == 0) {
		cmds = plain;
		ncmd_bytes = f.payload_len;
	}
	enum fb_lw_dl_result result = FB_LW_DL_DATA;
	if (ncmd_bytes) {
		struct fb_lw_mac macs[16];
		int n = fb_lw_mac_decode(cmds, ncmd_bytes, FB_LW_DOWN, macs, 16);
		if (n < 0) {
			result = FB_LW_DL_BAD_MAC;
		} else {
			for (int i = 0; i < n; i++)
				apply_mac(d, &macs[i], snr_db, info);
			info->mac_count = (unsigned)n;
		}
	}
	if (f.fport > 0) {
		info->fport = f.fport;
		info->payload_len = f.payload_len < sizeof(info->payload) ? f.payload_len : sizeof(info->payload);
		memcpy(info->payload, plain, info->payload_len);
	}
	return result;
}

uint8_t fb_lw_battery_level(double fraction)
{
	/* 1.0.4 §5.5: 1 = minimum, 254 = fully charged (0 external power, 255 unknown) */
	if (isnan(fraction))
		return FB_LW_BATTERY_UNKNOWN;
	long b = 1 + lround((fraction > 1 ? 1 : fraction < 0 ? 0 : fraction) * 253);
	return (uint8_t)b;
}
