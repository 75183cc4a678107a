/* LoRaWAN 1.0.x frame codec; see frame.h. */
#include <string.h>
#include "protocols/lorawan/frame.h"

const char *fb_lw_strerror(int err)
{
	switch (err) {
	case FB_LW_OK: return "ok";
	case FB_LW_ENOSPC: return "no space";
	case FB_LW_ESHORT: return "frame truncated";
	case FB_LW_EMTYPE: return "unexpected message type";
	case FB_LW_EMAJOR: return "unsupported major version";
	case FB_LW_EMIC: return "MIC mismatch";
	case FB_LW_EINVAL: return "invalid field";
	case FB_LW_ECRYPTO: return "crypto failure";
	}
	return "unknown error";
}

/* 1.0.4 §4.2: MHDR = MType(7..5) | RFU(4..2) | Major(1..0), Major 0 = LoRaWAN R1. */
static int check_mhdr(uint8_t mhdr)
{
	return (mhdr & 0x03) ? FB_LW_EMAJOR : 0;
}

ssize_t fb_lw_data_build(struct fb_lw_crypto *c, const struct fb_lw_data_frame *f,
                         const uint8_t nwk_s_key[16], const uint8_t app_s_key[16],
                         uint8_t *buf, size_t cap)
{
	if (f->mtype < FB_LW_UNCONF_UP || f->mtype > FB_LW_CONF_DOWN || f->fopts_len > FB_LW_MAX_FOPTS
	    || f->fport > 255 || (f->fport < 0 && f->payload_len) || (f->fport == 0 && f->fopts_len))
		return FB_LW_EINVAL;
	size_t len = 1 + 7 + f->fopts_len + (f->fport >= 0 ? 1 + f->payload_len : 0) + 4;
	if (len > cap || len > FB_LW_MAX_PHY - 1)
		return FB_LW_ENOSPC;
	enum fb_lw_dir dir = fb_lw_mtype_dir(f->mtype);
	uint8_t *p = buf;
	*p++ = (uint8_t)(f->mtype << 5);
	fb_lw_put_le(p, f->dev_addr, 4);
	p += 4;
	/* 1.0.4 §4.3.1: FCtrl ADR(7) ADRACKReq/RFU(6) ACK(5) FPending/ClassB(4) FOptsLen(3..0) */
	*p++ = (uint8_t)((f->adr ? 0x80 : 0) | (f->adr_ack_req && dir == FB_LW_UP ? 0x40 : 0)
	                 | (f->ack ? 0x20 : 0) | (f->fpending ? 0x10 : 0) | f->fopts_len);
	fb_lw_put_le(p, f->fcnt & 0xffff, 2);     /* §4.3.1.5: only the low 16 bits travel */
	p += 2;
	memcpy(p, f->fopts, f->fopts_len);
	p += f->fopts_len;
	if (f->fport >= 0) {
		*p++ = (uint8_t)f->fport;
		const uint8_t *key = f->fport == 0 ? nwk_s_key : app_s_key;
		if (fb_lw_payload_crypt(c, key, dir, f->dev_addr, f->fcnt, f->payload, f->payload_len, p))
			return FB_LW_ECRYPTO;
		p += f->payload_len;
	}
	if (fb_lw_data_mic(c, nwk_s_key, dir, f->dev_addr, f->fcnt, buf, (size_t)(p - buf), p))
		return FB_LW_ECRYPTO;
	return (ssize_t)len;
}

int fb_lw_data_parse(const uint8_t *buf, size_t len, struct fb_lw_data_frame *f)
{
	if (len < 1 + 7 + 4)
		return FB_LW_ESHORT;
	int rc = check_mhdr(buf[0]);
	if (rc)
		return rc;
	enum fb_lw_mtype t = (enum fb_lw_mtype)(buf[0] >> 5);
	if (t < FB_LW_UNCONF_UP || t > FB_LW_CONF_DOWN)
		return FB_LW_EMTYPE;
	memset(f, 0, sizeof(*f));
	f->mtype = t;
	f->dev_addr = (uint32_t)fb_lw_get_le(buf + 1, 4);
	uint8_t fctrl = buf[5];
	f->adr = fctrl & 0x80;
	f->adr_ack_req = fb_lw_mtype_dir(t) == FB_LW_UP && (fctrl & 0x40);
	f->ack = fctrl & 0x20;
	f->fpending = fctrl & 0x10;
	f->fopts_len = fctrl & 0x0f;
	f->fcnt = (uint32_t)fb_lw_get_le(buf + 6, 2);
	size_t at = 8;
	if (at + f->fopts_len + 4 > len)
		return FB_LW_ESHORT;
	memcpy(f->fopts, buf + at, f->fopts_len);
	at += f->fopts_len;
	size_t body_end = len - 4;
	f->fport = -1;
	if (at < body_end) {
		f->fport = buf[at++];
		f->payload = buf + at;
		f->payload_len = body_end - at;
		if (f->fport == 0 && f->fopts_len)   /* §4.3.1.6: MAC commands in one place only */
			return FB_LW_EINVAL;
	}
	memcpy(f->mic, buf + body_end, 4);
	return 0;
}

int fb_lw_data_open(struct fb_lw_crypto *c, const uint8_t *buf, size_t len,
                    const struct fb_lw_data_frame *f, uint32_t fcnt,
                    const uint8_t nwk_s_key[16], const uint8_t app_s_key[16], uint8_t *plain)
{
	uint8_t mic[4];
	enum fb_lw_dir dir = fb_lw_mtype_dir(f->mtype);
	if (len < 4 || fb_lw_data_mic(c, nwk_s_key, dir, f->dev_addr, fcnt, buf, len - 4, mic))
		return FB_LW_ECRYPTO;
	if (memcmp(mic, buf + len - 4, 4))
		return FB_LW_EMIC;
	if (f->fport >= 0 && f->payload_len) {
		const uint8_t *key = f->fport == 0 ? nwk_s_key : app_s_key;
		if (fb_lw_payload_crypt(c, key, dir, f->dev_addr, fcnt, f->payload, f->payload_len, plain))
			return FB_LW_ECRYPTO;
	}
	return 0;
}

uint32_t fb_lw_fcnt_expand(uint32_t last, uint16_t wire)
{
	uint32_t v = (last & 0xffff0000u) | wire;
	if (v < last)
		v += 0x10000u;     /* the low 16 bits wrapped since `last` */
	return v;
}

ssize_t fb_lw_join_request_build(struct fb_lw_crypto *c, const struct fb_lw_join_request *jr,
                                 const uint8_t app_key[16], uint8_t *buf, size_t cap)
{
	if (cap < 23)
		return FB_LW_ENOSPC;
	/* 1.0.4 §6.2.4: MHDR | JoinEUI | DevEUI | DevNonce | MIC */
	buf[0] = FB_LW_JOIN_REQUEST << 5;
	fb_lw_put_le(buf + 1, jr->join_eui, 8);
	fb_lw_put_le(buf + 9, jr->dev_eui, 8);
	fb_lw_put_le(buf + 17, jr->dev_nonce, 2);
	if (fb_lw_join_mic(c, app_key, buf, 19, buf + 19))
		return FB_LW_ECRYPTO;
	return 23;
}

int fb_lw_join_request_parse(struct fb_lw_crypto *c, const uint8_t *buf, size_t len,
                             const uint8_t *app_key, struct fb_lw_join_request *jr)
{
	if (len != 23)
		return FB_LW_ESHORT;
	int rc = check_mhdr(buf[0]);
	if (rc)
		return rc;
	if (buf[0] >> 5 != FB_LW_JOIN_REQUEST)
		return FB_LW_EMTYPE;
	jr->join_eui = fb_lw_get_le(buf + 1, 8);
	jr->dev_eui = fb_lw_get_le(buf + 9, 8);
	jr->dev_nonce = (uint16_t)fb_lw_get_le(buf + 17, 2);
	if (app_key) {
		uint8_t mic[4];
		if (fb_lw_join_mic(c, app_key, buf, 19, mic))
			return FB_LW_ECRYPTO;
		if (memcmp(mic, buf + 19, 4))
			return FB_LW_EMIC;
	}
	return 0;
}

ssize_t fb_lw_join_accept_build(struct fb_lw_crypto *c, const struct fb_lw_join_accept *ja,
                                const uint8_t app_key[16], uint8_t *buf, size_t cap)
{
	size_t len = ja->has_cflist ? 33 : 17;
	if (cap < len)
		return FB_LW_ENOSPC;
	if (ja->rx1_dr_offset > 7 || ja->rx2_dr > 15 || ja->rx_delay_s > 15)
		return FB_LW_EINVAL;
	uint8_t plain[33];
	/* 1.0.4 §6.2.5: MHDR | JoinNonce | NetID | DevAddr | DLSettings | RxDelay | [CFList] | MIC */
	plain[0] = FB_LW_JOIN_ACCEPT << 5;
	fb_lw_put_le(plain + 1, ja->join_nonce & 0xffffff, 3);
	fb_lw_put_le(plain + 4, ja->net_id & 0xffffff, 3);
	fb_lw_put_le(plain + 7, ja->dev_addr, 4);
	plain[11] = (uint8_t)(ja->rx1_dr_offset << 4 | ja->rx2_dr);
	plain[12] = ja->rx_delay_s;
	if (ja->has_cflist) {
		/* RP002 EU868 §2.4.4: five frequencies in units of 100 Hz, 3 bytes each, then type 0 */
		for (int i = 0; i < 5; i++) {
			if (ja->cflist_hz[i] % 100 || ja->cflist_hz[i] / 100 > 0xffffff)
				return FB_LW_EINVAL;
			fb_lw_put_le(plain + 13 + 3 * i, ja->cflist_hz[i] / 100, 3);
		}
		plain[28] = 0;
	}
	if (fb_lw_join_mic(c, app_key, plain, len - 4, plain + len - 4)
	    || fb_lw_join_accept_encrypt(c, app_key, plain, len, buf))
		return FB_LW_ECRYPTO;
	return (ssize_t)len;
}

int fb_lw_join_accept_open(struct fb_lw_crypto *c, const uint8_t *wire, size_t len,
                           const uint8_t app_key[16], struct fb_lw_join_accept *ja)
{
	if (len != 17 && len != 33)
		return FB_LW_ESHORT;
	int rc = check_mhdr(wire[0]);
	if (rc)
		return rc;
	if (wire[0] >> 5 != FB_LW_JOIN_ACCEPT)
		return FB_LW_EMTYPE;
	uint8_t plain[33], mic[4];
	if (fb_lw_join_accept_decrypt(c, app_key, wire, len, plain)
	    || fb_lw_join_mic(c, app_key, plain, len - 4, mic))
		return FB_LW_ECRYPTO;
	if (memcmp(mic, plain + len - 4, 4))
		return FB_LW_EMIC;
	memset(ja, 0, sizeof(*ja));
	ja->join_nonce = (uint32_t)fb_lw_get_le(plain + 1, 3);
	ja->net_id = (uint32_t)fb_lw_get_le(plain + 4, 3);
	ja->dev_addr = (uint32_t)fb_lw_get_le(plain + 7, 4);
	ja->rx1_dr_offset = (plain[11] >> 4) & 0x07;
	ja->rx2_dr = plain[11] & 0x0f;
	ja->rx_delay_s = plain[12] & 0x0f;
	if (len == 33) {
		if (plain[28] != 0)
			return FB_LW_EINVAL;      /* only the frequency-list CFList exists in EU868 */
		ja->has_cflist = true;
		for (int i = 0; i < 5; i++)
			ja->cflist_hz[i] = (uint32_t)fb_lw_get_le(plain + 13 + 3 * i, 3) * 100;
	}
	return 0;
}

/* 1.0.4 §5, Table 4: payload sizes, [cid][dir]. */
int fb_lw_mac_size(uint8_t cid, enum fb_lw_dir dir)
{
	static const int8_t sizes[9][2] = {
		[FB_LW_LINK_CHECK] = { 0, 2 }, [FB_LW_LINK_ADR] = { 1, 4 },
		[FB_LW_DUTY_CYCLE] = { 0, 1 }, [FB_LW_RX_PARAM_SETUP] = { 1, 4 },
		[FB_LW_DEV_STATUS] = { 2, 0 }, [FB_LW_NEW_CHANNEL] = { 1, 5 },
		[FB_LW_RX_TIMING_SETUP] = { 0, 1 },
	};
	if (cid < FB_LW_LINK_CHECK || cid > FB_LW_RX_TIMING_SETUP)
		return -1;
	return sizes[cid][dir];
}

static int encode_one(const struct fb_lw_mac *m, enum fb_lw_dir dir, uint8_t *p)
{
	if (dir == FB_LW_UP) {
		switch (m->cid) {
		case FB_LW_LINK_ADR: case FB_LW_RX_PARAM_SETUP: case FB_LW_NEW_CHANNEL:
			p[0] = m->u.status;
			return 0;
		case FB_LW_DEV_STATUS:
			if (m->u.dev_status_ans.margin < -32 || m->u.dev_status_ans.margin > 31)
				return FB_LW_EINVAL;
			p[0] = m->u.dev_status_ans.battery;
			p[1] = (uint8_t)m->u.dev_status_ans.margin & 0x3f;   /* §5.5: 6-bit signed */
			return 0;
		default:
			return 0;      /* LinkCheckReq, DutyCycleAns, RXTimingSetupAns: empty */
		}
	}
	switch (m->cid) {
	case FB_LW_LINK_CHECK:
		p[0] = m->u.link_check_ans.margin;
		p[1] = m->u.link_check_ans.gw_cnt;
		return 0;
	case FB_LW_LINK_ADR:
		if (m->u.link_adr_req.dr > 15 || m->u.link_adr_req.tx_power > 15
		    || m->u.link_adr_req.ch_mask_cntl > 7 || m->u.link_adr_req.nb_trans > 15)
			return FB_LW_EINVAL;
		p[0] = (uint8_t)(m->u.link_adr_req.dr << 4 | m->u.link_adr_req.tx_power);
		fb_lw_put_le(p + 1, m->u.link_adr_req.ch_mask, 2);
		p[3] = (uint8_t)(m->u.link_adr_req.ch_mask_cntl << 4 | m->u.link_adr_req.nb_trans);
		return 0;
	case FB_LW_DUTY_CYCLE:
		if (m->u.duty_cycle_req.max_duty_cycle > 15)
			return FB_LW_EINVAL;
		p[0] = m->u.duty_cycle_req.max_duty_cycle;
		return 0;
	case FB_LW_RX_PARAM_SETUP:
		if (m->u.rx_param_setup_req.rx1_dr_offset > 7 || m->u.rx_param_setup_req.rx2_dr > 15
		    || m->u.rx_param_setup_req.freq_hz % 100
		    || m->u.rx_param_setup_req.freq_hz / 100 > 0xffffff)
			return FB_LW_EINVAL;
		p[0] = (uint8_t)(m->u.rx_param_setup_req.rx1_dr_offset << 4 | m->u.rx_param_setup_req.rx2_dr);
		fb_lw_put_le(p + 1, m->u.rx_param_setup_req.freq_hz / 100, 3);
		return 0;
	case FB_LW_NEW_CHANNEL:
		if (m->u.new_channel_req.freq_hz % 100 || m->u.new_channel_req.freq_hz / 100 > 0xffffff
		    || m->u.new_channel_req.min_dr > 15 || m->u.new_channel_req.max_dr > 15)
			return FB_LW_EINVAL;
		p[0] = m->u.new_channel_req.ch_index;
		fb_lw_put_le(p + 1, m->u.new_channel_req.freq_hz / 100, 3);
		p[4] = (uint8_t)(m->u.new_channel_req.max_dr << 4 | m->u.new_channel_req.min_dr);
		return 0;
	case FB_LW_RX_TIMING_SETUP:
		if (m->u.rx_timing_setup_req.delay_s > 15)
			return FB_LW_EINVAL;
		p[0] = m->u.rx_timing_setup_req.delay_s;
		return 0;
	default:
		return 0;      /* DevStatusReq: empty */
	}
}

ssize_t fb_lw_mac_encode(const struct fb_lw_mac *cmds, size_t n, enum fb_lw_dir dir,
                         uint8_t *buf, size_t cap)
{
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		int size = fb_lw_mac_size(cmds[i].cid, dir);
		if (size < 0)
			return FB_LW_EINVAL;
		if (at + 1 + (size_t)size > cap)
			return FB_LW_ENOSPC;
		buf[at] = cmds[i].cid;
		int rc = encode_one(&cmds[i], dir, buf + at + 1);
		if (rc)
			return rc;
		at += 1 + (size_t)size;
	}
	return (ssize_t)at;
}

static void decode_one(const uint8_t *p, enum fb_lw_dir dir, struct fb_lw_mac *m)
{
	if (dir == FB_LW_UP) {
		switch (m->cid) {
		case FB_LW_LINK_ADR: case FB_LW_RX_PARAM_SETUP: case FB_LW_NEW_CHANNEL:
			m->u.status = p[0];
			break;
		case FB_LW_DEV_STATUS:
			m->u.dev_status_ans.battery = p[0];
			/* sign-extend the 6-bit margin */
			m->u.dev_status_ans.margin = (int8_t)((p[1] & 0x20) ? (p[1] & 0x3f) - 64 : (p[1] & 0x3f));
			break;
		default:
			break;
		}
		return;
	}
	switch (m->cid) {
	case FB_LW_LINK_CHECK:
		m->u.link_check_ans.margin = p[0];
		m->u.link_check_ans.gw_cnt = p[1];
		break;
	case FB_LW_LINK_ADR:
		m->u.link_adr_req.dr = p[0] >> 4;
		m->u.link_adr_req.tx_power = p[0] & 0x0f;
		m->u.link_adr_req.ch_mask = (uint16_t)fb_lw_get_le(p + 1, 2);
		m->u.link_adr_req.ch_mask_cntl = (p[3] >> 4) & 0x07;
		m->u.link_adr_req.nb_trans = p[3] & 0x0f;
		break;
	case FB_LW_DUTY_CYCLE:
		m->u.duty_cycle_req.max_duty_cycle = p[0] & 0x0f;
		break;
	case FB_LW_RX_PARAM_SETUP:
		m->u.rx_param_setup_req.rx1_dr_offset = (p[0] >> 4) & 0x07;
		m->u.rx_param_setup_req.rx2_dr = p[0] & 0x0f;
		m->u.rx_param_setup_req.freq_hz = (uint32_t)fb_lw_get_le(p + 1, 3) * 100;
		break;
	case FB_LW_NEW_CHANNEL:
		m->u.new_channel_req.ch_index = p[0];
		m->u.new_channel_req.freq_hz = (uint32_t)fb_lw_get_le(p + 1, 3) * 100;
		m->u.new_channel_req.max_dr = p[4] >> 4;
		m->u.new_channel_req.min_dr = p[4] & 0x0f;
		break;
	case FB_LW_RX_TIMING_SETUP:
		m->u.rx_timing_setup_req.delay_s = p[0] & 0x0f;
		break;
	default:
		break;
	}
}

int fb_lw_mac_decode(const uint8_t *buf, size_t len, enum fb_lw_dir dir, struct fb_lw_mac *out,
                     size_t max)
{
	size_t at = 0;
	int n = 0;
	while (at < len) {
		int size = fb_lw_mac_size(buf[at], dir);
		if (size < 0)
			return FB_LW_EINVAL;
		if (at + 1 + (size_t)size > len)
			return FB_LW_ESHORT;
		if ((size_t)n == max)
			return FB_LW_ENOSPC;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].cid = buf[at];
		decode_one(buf + at + 1, dir, &out[n]);
		n++;
		at += 1 + (size_t)size;
	}
	return n;
}
