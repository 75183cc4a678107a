/* The simulated end device alone: join-accept handling, MAC commands and their answers, receive
 * windows, confirmed retransmission, ADR back-off, duty cycle and payload limits. The network
 * side's frames are built with the frame codec, as a network server would. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "protocols/lorawan/device.h"

static struct fb_lw_crypto cr;
static const fb_time_us T0 = 1780000000LL * FB_US_PER_S;

static void make(struct fb_lw_device *d, bool otaa, bool duty)
{
	struct fb_lw_identity id;
	fb_lw_identity_derive(7, 42, 0x13, &id);
	struct fb_lw_device_opts o = { .otaa = otaa, .adr = true, .duty_cycle = duty, .initial_dr = 5,
	                               .max_retx = 2, .dev_nonce = 10, .seed = 7 };
	fb_lw_device_init(d, 42, &id, &o);
}

/* A downlink from the network for d: MAC commands in FOpts (or, when longer than 15 bytes and
 * there is no app payload, in FRMPayload on port 0), optional app payload on port 5. */
static size_t down(struct fb_lw_device *d, uint32_t fcnt, bool ack, const struct fb_lw_mac *macs,
                   size_t nmac, const uint8_t *app, size_t app_len, uint8_t *buf)
{
	static uint8_t cmds[64];
	struct fb_lw_data_frame f = { .mtype = FB_LW_UNCONF_DOWN, .dev_addr = d->id.dev_addr, .ack = ack,
	                              .fcnt = fcnt, .fport = app ? 5 : -1, .payload = app,
	                              .payload_len = app_len };
	ssize_t n = fb_lw_mac_encode(macs, nmac, FB_LW_DOWN, cmds, sizeof(cmds));
	assert_true(n >= 0);
	if (n > FB_LW_MAX_FOPTS) {
		assert_null(app);
		f.fport = 0;
		f.payload = cmds;
		f.payload_len = (size_t)n;
	} else {
		memcpy(f.fopts, cmds, (size_t)n);
		f.fopts_len = (uint8_t)n;
	}
	ssize_t len = fb_lw_data_build(&cr, &f, d->id.nwk_s_key, d->id.app_s_key, buf, FB_LW_MAX_PHY);
	assert_true(len > 0);
	return (size_t)len;
}

static void test_join(void **state)
{
	struct fb_lw_device d;
	struct fb_lw_tx tx;
	make(&d, true, true);
	assert_int_equal(d.state, FB_LW_DEV_IDLE);
	assert_int_equal(fb_lw_device_join(&cr, &d, T0, &tx), FB_LW_UP_SENT);
	assert_true(tx.join);
	assert_int_equal(tx.len, 23);
	assert_int_equal(tx.dr, 5);
	struct fb_lw_join_request jr;
	assert_int_equal(fb_lw_join_request_parse(&cr, tx.phy, tx.len, d.id.app_key, &jr), 0);
	assert_int_equal(jr.dev_nonce, 10);
	assert_int_equal(d.dev_nonce, 11);
	/* join-accept windows: 5 s and 6 s after the end of the uplink */
	assert_int_equal(fb_lw_device_window_of(&d, 5 * FB_US_PER_S), 1);
	assert_int_equal(fb_lw_device_window_of(&d, 6 * FB_US_PER_S + 10000), 2);
	assert_int_equal(fb_lw_device_window_of(&d, 1 * FB_US_PER_S), 0);
	assert_int_equal(fb_lw_device_rx1_at(&d), T0 + tx.airtime + 5 * FB_US_PER_S);

	uint8_t buf[64];
	struct fb_lw_join_accept ja = { .join_nonce = 77, .net_id = 0x13, .dev_addr = 0x26000042,
	                                .rx1_dr_offset = 1, .rx2_dr = 3, .rx_delay_s = 2, .has_cflist = true,
	                                .cflist_hz = { 867100000, 867300000, 0, 0, 0 } };
	uint8_t wrong_key[16] = { 0 };
	assert_int_equal(fb_lw_join_accept_build(&cr, &ja, wrong_key, buf, sizeof(buf)), 33);
	struct fb_lw_dl_info info;
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, 33, 0, &info), FB_LW_DL_BAD_MIC);
	assert_int_equal(d.state, FB_LW_DEV_JOINING);
	assert_int_equal(fb_lw_join_accept_build(&cr, &ja, d.id.app_key, buf, sizeof(buf)), 33);
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, 33, 0, &info), FB_LW_DL_JOINED);
	assert_int_equal(d.state, FB_LW_DEV_JOINED);
	assert_int_equal(d.id.dev_addr, 0x26000042);
	uint8_t nwk[16], app[16];
	fb_lw_session_keys(&cr, d.id.app_key, 77, 0x13, 10, nwk, app);   /* the DevNonce that was sent */
	assert_memory_equal(d.id.nwk_s_key, nwk, 16);
	assert_memory_equal(d.id.app_s_key, app, 16);
	assert_int_equal(d.rx_delay_s, 2);
	assert_int_equal(d.rx2_dr, 3);
	assert_int_equal(fb_lw_channels_count(&d.ch, 0), 5);
	/* a second join-accept is not for a joined device */
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, 33, 0, &info), FB_LW_DL_NOT_MINE);
	/* RxDelay 2: data windows at 2 s and 3 s */
	uint8_t pl[3] = { 1, 2, 3 };
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0 + 60 * FB_US_PER_S, pl, 3, 1, false, &tx), FB_LW_UP_SENT);
	assert_int_equal(fb_lw_device_window_of(&d, 2 * FB_US_PER_S), 1);
	assert_int_equal(fb_lw_device_window_of(&d, 3 * FB_US_PER_S), 2);
	assert_int_equal(fb_lw_device_window_of(&d, 1 * FB_US_PER_S), 0);
}

static void test_join_retry_changes_nonce_and_dr(void **state)
{
	struct fb_lw_device d;
	struct fb_lw_tx tx;
	make(&d, true, false);
	assert_int_equal(fb_lw_device_join(&cr, &d, T0, &tx), FB_LW_UP_SENT);
	assert_int_equal(fb_lw_device_retransmit(&cr, &d, T0 + 20 * FB_US_PER_S, &tx), FB_LW_UP_SENT);
	assert_true(tx.retransmission && tx.join);
	assert_int_equal(tx.dr, 4);
	struct fb_lw_join_request jr;
	fb_lw_join_request_parse(&cr, tx.phy, tx.len, NULL, &jr);
	assert_int_equal(jr.dev_nonce, 11);          /* never reused, even on a retry */
	assert_int_equal(fb_lw_device_retransmit(&cr, &d, T0 + 40 * FB_US_PER_S, &tx), FB_LW_UP_SENT);
	assert_int_equal(fb_lw_device_retransmit(&cr, &d, T0 + 60 * FB_US_PER_S, &tx), FB_LW_UP_ERROR);
}

static void test_confirmed_retransmission_and_ack(void **state)
{
	struct fb_lw_device d;
	struct fb_lw_tx tx;
	make(&d, false, false);
	uint8_t pl[4] = { 9, 8, 7, 6 }, buf[FB_LW_MAX_PHY];
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0, pl, 4, 3, true, &tx), FB_LW_UP_SENT);
	assert_true(d.awaiting);
	struct fb_lw_data_frame f;
	assert_int_equal(fb_lw_data_parse(tx.phy, tx.len, &f), 0);
	assert_int_equal(f.mtype, FB_LW_CONF_UP);
	assert_int_equal(f.fcnt, 0);
	assert_int_equal(fb_lw_device_retransmit(&cr, &d, T0 + 10 * FB_US_PER_S, &tx), FB_LW_UP_SENT);
	assert_int_equal(fb_lw_data_parse(tx.phy, tx.len, &f), 0);
	assert_int_equal(f.fcnt, 0);                 /* same FCnt */
	assert_int_equal(f.fport, 3);
	assert_int_equal(d.fcnt_up, 1);
	/* the ACK */
	struct fb_lw_dl_info info;
	size_t n = down(&d, 0, true, NULL, 0, NULL, 0, buf);
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, n, 5, &info), FB_LW_DL_DATA);
	assert_true(info.ack);
	assert_false(d.awaiting);
	/* the same downlink again is a replay; a tampered one fails the MIC */
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, n, 5, &info), FB_LW_DL_REPLAY);
	n = down(&d, 1, false, NULL, 0, NULL, 0, buf);
	buf[n - 1] ^= 1;
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, n, 5, &info), FB_LW_DL_BAD_MIC);
	/* another device's frame */
	d.id.dev_addr ^= 1;
	buf[n - 1] ^= 1;
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, n, 5, &info), FB_LW_DL_NOT_MINE);
}

static void test_mac_commands(void **state)
{
	struct fb_lw_device d;
	struct fb_lw_tx tx;
	make(&d, false, false);
	uint8_t buf[FB_LW_MAX_PHY], pl[2] = { 1, 2 };
	struct fb_lw_dl_info info;
	struct fb_lw_mac m[4] = { 0 };
	/* LinkADRReq DR2, power 3, channels 0..1: accepted */
	m[0].cid = FB_LW_LINK_ADR;
	m[0].u.link_adr_req.dr = 2;
	m[0].u.link_adr_req.tx_power = 3;
	m[0].u.link_adr_req.ch_mask = 0x0003;
	m[0].u.link_adr_req.nb_trans = 1;
	m[1].cid = FB_LW_DEV_STATUS;
	m[2].cid = FB_LW_RX_TIMING_SETUP;
	m[2].u.rx_timing_setup_req.delay_s = 3;
	size_t n = down(&d, 0, false, m, 3, (const uint8_t *)"\x07", 1, buf);
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, n, -2.5, &info), FB_LW_DL_DATA);
	assert_true(info.link_adr);
	assert_int_equal(info.mac_count, 3);
	assert_int_equal(info.fport, 5);
	assert_int_equal(info.payload_len, 1);
	assert_int_equal(info.payload[0], 7);
	assert_int_equal(d.dr, 2);
	assert_int_equal(d.tx_power, 3);
	assert_int_equal(fb_lw_channels_count(&d.ch, 2), 2);
	assert_int_equal(d.rx_delay_s, 3);
	/* the answers ride the next uplink: LinkADRAns 0x07, DevStatusAns (battery, margin), RXTimingSetupAns */
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0, pl, 2, 1, false, &tx), FB_LW_UP_SENT);
	struct fb_lw_data_frame f;
	fb_lw_data_parse(tx.phy, tx.len, &f);
	assert_int_equal(tx.dr, 2);
	assert_int_equal(f.fopts_len, 2 + 3 + 1);
	assert_int_equal(f.fopts[0], 0x03);
	assert_int_equal(f.fopts[1], 0x07);
	assert_int_equal(f.fopts[2], 0x06);
	assert_int_equal(f.fopts[3], FB_LW_BATTERY_EXTERNAL);   /* mains powered unless told */
	/* battery: a charge fraction maps onto 1..254 (1.0.4 §5.5), NaN is "unknown" */
	assert_int_equal(fb_lw_battery_level(0), 1);
	assert_int_equal(fb_lw_battery_level(1), 254);
	assert_int_equal(fb_lw_battery_level(0.5), 128);
	assert_int_equal(fb_lw_battery_level(-0.2), 1);
	assert_int_equal(fb_lw_battery_level(1.5), 254);
	assert_int_equal(fb_lw_battery_level(NAN), FB_LW_BATTERY_UNKNOWN);
	/* margin: the DevStatusReq's SNR, -2.5 dB, rounded to -3, as 6-bit two's complement */
	assert_int_equal(f.fopts[4], 0x3d);
	assert_int_equal(f.fopts[5], 0x08);
	/* RXTimingSetupAns is repeated until a downlink comes (1.0.4 §5.7) */
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0 + 60 * FB_US_PER_S, pl, 2, 1, false, &tx), FB_LW_UP_SENT);
	fb_lw_data_parse(tx.phy, tx.len, &f);
	assert_int_equal(f.fopts_len, 6);
	n = down(&d, 1, false, NULL, 0, NULL, 0, buf);
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, n, 0, &info), FB_LW_DL_DATA);
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0 + 120 * FB_US_PER_S, pl, 2, 1, false, &tx), FB_LW_UP_SENT);
	fb_lw_data_parse(tx.phy, tx.len, &f);
	assert_int_equal(f.fopts_len, 0);

	/* LinkADRReq naming an undefined channel: nothing applied, channel-mask NACK */
	memset(m, 0, sizeof(m));
	m[0].cid = FB_LW_LINK_ADR;
	m[0].u.link_adr_req.dr = 5;
	m[0].u.link_adr_req.ch_mask = 0x0100;
	m[1].cid = FB_LW_NEW_CHANNEL;
	m[1].u.new_channel_req.ch_index = 3;
	m[1].u.new_channel_req.freq_hz = 867100000;
	m[1].u.new_channel_req.max_dr = 5;
	m[2].cid = FB_LW_DUTY_CYCLE;
	m[2].u.duty_cycle_req.max_duty_cycle = 4;
	m[3].cid = FB_LW_RX_PARAM_SETUP;
	m[3].u.rx_param_setup_req.rx2_dr = 3;
	m[3].u.rx_param_setup_req.freq_hz = 869525000;
	n = down(&d, 2, false, m, 4, NULL, 0, buf);
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, n, 0, &info), FB_LW_DL_DATA);
	assert_false(info.link_adr);
	assert_int_equal(d.dr, 2);
	assert_int_equal(d.duty.max_duty_cycle, 4);
	assert_int_equal(d.rx2_dr, 3);
	assert_int_equal(d.ch.ch[3].freq_hz, 867100000);
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0 + 180 * FB_US_PER_S, pl, 2, 1, false, &tx), FB_LW_UP_SENT);
	fb_lw_data_parse(tx.phy, tx.len, &f);
	/* LinkADRAns 0x06 (power, DR ok; mask NACK), NewChannelAns 0x03, DutyCycleAns, RXParamSetupAns 0x07 */
	static const uint8_t want[] = { 0x03, 0x06, 0x07, 0x03, 0x04, 0x05, 0x07 };
	assert_int_equal(f.fopts_len, sizeof(want));
	assert_memory_equal(f.fopts, want, sizeof(want));
	/* malformed MAC list: counted, the frame still accepted */
	uint8_t bad[1] = { 0x7e };
	struct fb_lw_data_frame g = { .mtype = FB_LW_UNCONF_DOWN, .dev_addr = d.id.dev_addr, .fcnt = 3,
	                              .fport = -1, .fopts_len = 1 };
	g.fopts[0] = bad[0];
	ssize_t len = fb_lw_data_build(&cr, &g, d.id.nwk_s_key, d.id.app_s_key, buf, sizeof(buf));
	assert_int_equal(fb_lw_device_downlink(&cr, &d, buf, (size_t)len, 0, &info), FB_LW_DL_BAD_MAC);
}

static void test_limits_duty_adr(void **state)
{
	struct fb_lw_device d;
	struct fb_lw_tx tx;
	uint8_t big[60] = { 0 };
	make(&d, false, true);
	d.dr = 0;
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0, big, 52, 1, false, &tx), FB_LW_UP_TOO_LONG);
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0, big, 51, 1, false, &tx), FB_LW_UP_SENT);
	/* 3 default channels, all in the 868.0-868.6 sub-band: the next frame must wait t_air/1% */
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0 + FB_US_PER_S, big, 10, 1, false, &tx), FB_LW_UP_DUTY);
	fb_time_us air = fb_lw_uplink_airtime_us(0, 64);
	assert_int_equal(fb_lw_device_uplink(&cr, &d, T0 + air * 100, big, 10, 1, false, &tx), FB_LW_UP_SENT);
	/* ADR back-off: after 64 + 32 uplinks without any downlink, one DR step down */
	make(&d, false, false);
	for (int i = 0; i < 64; i++)
		fb_lw_device_uplink(&cr, &d, T0 + i * FB_US_PER_S, big, 4, 1, false, &tx);
	struct fb_lw_data_frame f;
	fb_lw_device_uplink(&cr, &d, T0 + 64 * FB_US_PER_S, big, 4, 1, false, &tx);
	fb_lw_data_parse(tx.phy, tx.len, &f);
	assert_true(f.adr_ack_req);
	assert_int_equal(d.dr, 5);
	for (int i = 65; i < 96; i++)
		fb_lw_device_uplink(&cr, &d, T0 + i * FB_US_PER_S, big, 4, 1, false, &tx);
	assert_int_equal(d.dr, 4);
	/* channel choice is spread over the enabled channels */
	int seen[3] = { 0 };
	for (int i = 0; i < 60; i++) {
		fb_lw_device_uplink(&cr, &d, T0 + (100 + i) * FB_US_PER_S, big, 4, 1, false, &tx);
		seen[(tx.freq_hz - 868100000) / 200000]++;
	}
	assert_true(seen[0] > 5 && seen[1] > 5 && seen[2] > 5);
}

static int setup(void **state) { return fb_lw_crypto_init(&cr); }
static int teardown(void **state) { fb_lw_crypto_release(&cr); return 0; }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_join_retry_changes_nonce_and_dr),
		cmocka_unit_test(test_confirmed_retransmission_and_ack),
		cmocka_unit_test(test_mac_commands),
		cmocka_unit_test(test_limits_duty_adr),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
