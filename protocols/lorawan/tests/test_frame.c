/* LoRaWAN frame codec: builds reproduce published frames byte for byte, parses recover the fields,
 * MAC commands round-trip, and malformed frames give errors without reading out of bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "protocols/lorawan/frame.h"
#include "protocols/lorawan/tests/lwtest.h"

static struct fb_lw_crypto cr;

static size_t hex(const char *s, uint8_t *buf, size_t cap)
{
	int n = lw_unhex(s, buf, cap);
	assert_true(n >= 0);
	return (size_t)n;
}

static void test_build_data_vectors(void **state)
{
	uint8_t nwk[16], app[16], want[64], buf[64];
	/* brocaar/lorawan phypayload_test.go LoRaWAN10 table: DevAddr 01020304, ADR, FCnt 1, FPort 1 */
	memset(nwk, 2, 16);
	memset(app, 1, 16);
	struct fb_lw_data_frame f = { .mtype = FB_LW_UNCONF_UP, .dev_addr = 0x01020304, .adr = true,
	                              .fcnt = 1, .fport = 1, .payload = (const uint8_t *)"hello",
	                              .payload_len = 5 };
	size_t n = hex("400403020180010001a694642615d6c3b582", want, sizeof(want));
	assert_int_equal(fb_lw_data_build(&cr, &f, nwk, app, buf, sizeof(buf)), (ssize_t)n);
	assert_memory_equal(buf, want, n);

	/* reference §3.2: FCnt 0x00010002 puts 0x0002 on the wire and the whole counter in B0/Ai */
	f.fcnt = 0x00010002;
	n = hex("400403020180020001f6ecd8285ac5f95adb", want, sizeof(want));
	assert_int_equal(fb_lw_data_build(&cr, &f, nwk, app, buf, sizeof(buf)), (ssize_t)n);
	assert_memory_equal(buf, want, n);

	/* brocaar ExamplePHYPayload_lorawan10Encode: confirmed up, FOpts DevStatusAns(115, 7), FPort 10 */
	hex("0102030405060708090a0b0c0d0e0f10", nwk, 16);
	hex("100f0e0d0c0b0a090807060504030201", app, 16);
	struct fb_lw_mac ans = { .cid = FB_LW_DEV_STATUS, .u.dev_status_ans = { 115, 7 } };
	struct fb_lw_data_frame g = { .mtype = FB_LW_CONF_UP, .dev_addr = 0x01020304, .fcnt = 0,
	                              .fport = 10, .payload = (const uint8_t *)"\x01\x02\x03\x04",
	                              .payload_len = 4 };
	assert_int_equal(fb_lw_mac_encode(&ans, 1, FB_LW_UP, g.fopts, sizeof(g.fopts)), 3);
	g.fopts_len = 3;
	n = hex("80040302010300000673070ae264d4f7e117d2c0", want, sizeof(want));
	assert_int_equal(fb_lw_data_build(&cr, &g, nwk, app, buf, sizeof(buf)), (ssize_t)n);
	assert_memory_equal(buf, want, n);
	/* one byte short of room */
	assert_int_equal(fb_lw_data_build(&cr, &g, nwk, app, buf, n - 1), FB_LW_ENOSPC);
}

static void test_parse_open_roundtrip(void **state)
{
	uint8_t nwk[16], app[16], buf[FB_LW_MAX_PHY], plain[FB_LW_MAX_PHY], payload[51];
	memset(nwk, 0x5a, 16);
	memset(app, 0xa5, 16);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	struct fb_lw_mac mac[2] = { { .cid = FB_LW_LINK_CHECK },
	                            { .cid = FB_LW_LINK_ADR, .u.status = 0x07 } };
	struct fb_lw_data_frame f = { .mtype = FB_LW_UNCONF_DOWN, .dev_addr = 0x26011bda, .ack = true,
	                              .fpending = true, .fcnt = 0x0003fffe, .fport = 7,
	                              .payload = payload, .payload_len = sizeof(payload) };
	mac[0].u.link_check_ans.margin = 20;
	mac[0].u.link_check_ans.gw_cnt = 3;
	ssize_t fl = fb_lw_mac_encode(mac, 1, FB_LW_DOWN, f.fopts, sizeof(f.fopts));
	assert_int_equal(fl, 3);
	f.fopts_len = (uint8_t)fl;
	ssize_t n = fb_lw_data_build(&cr, &f, nwk, app, buf, sizeof(buf));
	assert_int_equal(n, 1 + 7 + 3 + 1 + 51 + 4);

	struct fb_lw_data_frame p;
	assert_int_equal(fb_lw_data_parse(buf, (size_t)n, &p), 0);
	assert_int_equal(p.mtype, FB_LW_UNCONF_DOWN);
	assert_int_equal(p.dev_addr, 0x26011bda);
	assert_true(p.ack && p.fpending && !p.adr);
	assert_int_equal(p.fcnt, 0xfffe);
	assert_int_equal(p.fport, 7);
	assert_int_equal(p.payload_len, 51);
	uint32_t fcnt = fb_lw_fcnt_expand(0x0003fff0, (uint16_t)p.fcnt);
	assert_int_equal(fcnt, 0x0003fffe);
	assert_int_equal(fb_lw_data_open(&cr, buf, (size_t)n, &p, fcnt, nwk, app, plain), 0);
	assert_memory_equal(plain, payload, sizeof(payload));
	/* the wrong upper counter bits fail the MIC */
	assert_int_equal(fb_lw_data_open(&cr, buf, (size_t)n, &p, 0x0002fffe, nwk, app, plain), FB_LW_EMIC);
	struct fb_lw_mac got[4];
	assert_int_equal(fb_lw_mac_decode(p.fopts, p.fopts_len, FB_LW_DOWN, got, 4), 1);
	assert_int_equal(got[0].u.link_check_ans.gw_cnt, 3);
	assert_int_equal(got[0].u.link_check_ans.margin, 20);

	/* FPort 0: MAC commands in the payload, encrypted with NwkSKey */
	uint8_t cmds[8];
	ssize_t cl = fb_lw_mac_encode(mac, 2, FB_LW_UP, cmds, sizeof(cmds));
	assert_int_equal(cl, 3);
	struct fb_lw_data_frame u = { .mtype = FB_LW_CONF_UP, .dev_addr = 1, .fcnt = 9, .fport = 0,
	                              .payload = cmds, .payload_len = (size_t)cl };
	n = fb_lw_data_build(&cr, &u, nwk, app, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(fb_lw_data_parse(buf, (size_t)n, &p), 0);
	assert_int_equal(fb_lw_data_open(&cr, buf, (size_t)n, &p, 9, nwk, app, plain), 0);
	assert_int_equal(fb_lw_mac_decode(plain, p.payload_len, FB_LW_UP, got, 4), 2);
	assert_int_equal(got[1].cid, FB_LW_LINK_ADR);
	assert_int_equal(got[1].u.status, 0x07);
}

static void test_fcnt_expand(void **state)
{
	assert_int_equal(fb_lw_fcnt_expand(0, 0), 0);
	assert_int_equal(fb_lw_fcnt_expand(5, 9), 9);
	assert_int_equal(fb_lw_fcnt_expand(0x0000fffe, 0x0001), 0x00010001);
	assert_int_equal(fb_lw_fcnt_expand(0x00020010, 0x0011), 0x00020011);
}

static void test_join_request(void **state)
{
	/* reference §3.2 EU868 OTAA chain (cross-checked with lora-packet) */
	uint8_t key[16], want[23], buf[32];
	hex("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
	hex("00010000d07ed5b37030051c000ba3040000005484d702", want, 23);
	struct fb_lw_join_request jr = { 0x70b3d57ed0000001ULL, 0x0004a30b001c0530ULL, 0 }, back;
	assert_int_equal(fb_lw_join_request_build(&cr, &jr, key, buf, sizeof(buf)), 23);
	assert_memory_equal(buf, want, 23);
	assert_int_equal(fb_lw_join_request_parse(&cr, buf, 23, key, &back), 0);
	assert_true(back.join_eui == jr.join_eui && back.dev_eui == jr.dev_eui && back.dev_nonce == 0);
	buf[17] ^= 1;   /* DevNonce changed, MIC no longer matches */
	assert_int_equal(fb_lw_join_request_parse(&cr, buf, 23, key, &back), FB_LW_EMIC);
	assert_int_equal(fb_lw_join_request_parse(&cr, buf, 22, key, &back), FB_LW_ESHORT);
	assert_int_equal(fb_lw_join_request_build(&cr, &jr, key, buf, 22), FB_LW_ENOSPC);
}

static void test_join_accept(void **state)
{
	uint8_t key[16], want[33], buf[40];
	hex("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
	hex("209f474a04774d5e74be5978710fa75681d6e8756b2cdc0d571f76ef16913a0d56", want, 33);
	struct fb_lw_join_accept ja = { .join_nonce = 1, .net_id = 0x13, .dev_addr = 0x26011bda,
	                                .rx_delay_s = 1, .has_cflist = true,
	                                .cflist_hz = { 867100000, 867300000, 867500000, 867700000,
	                                               867900000 } }, got;
	assert_int_equal(fb_lw_join_accept_build(&cr, &ja, key, buf, sizeof(buf)), 33);
	assert_memory_equal(buf, want, 33);
	assert_int_equal(fb_lw_join_accept_open(&cr, buf, 33, key, &got), 0);
	assert_int_equal(got.join_nonce, 1);
	assert_int_equal(got.net_id, 0x13);
	assert_int_equal(got.dev_addr, 0x26011bda);
	assert_int_equal(got.rx_delay_s, 1);
	assert_true(got.has_cflist);
	assert_int_equal(got.cflist_hz[4], 867900000);

	/* brocaar TestPHYPayloadJoinAccept: no CFList, JoinNonce 5704647, NetID 221101, DevAddr 02031980 */
	hex("00112233445566778899aabbccddeeff", key, 16);
	hex("20493eeb51fba2116f810edb3742975142", want, 17);
	assert_int_equal(fb_lw_join_accept_open(&cr, want, 17, key, &got), 0);
	assert_int_equal(got.join_nonce, 5704647);
	assert_int_equal(got.net_id, 0x221101);
	assert_int_equal(got.dev_addr, 0x02031980);
	assert_false(got.has_cflist);
	want[5] ^= 0x80;
	assert_int_equal(fb_lw_join_accept_open(&cr, want, 17, key, &got), FB_LW_EMIC);
	assert_int_equal(fb_lw_join_accept_open(&cr, want, 16, key, &got), FB_LW_ESHORT);
	want[0] = 0x40;
	assert_int_equal(fb_lw_join_accept_open(&cr, want, 17, key, &got), FB_LW_EMTYPE);
}

static void test_mac_roundtrip(void **state)
{
	struct fb_lw_mac down[6] = { 0 }, got[8];
	down[0].cid = FB_LW_LINK_ADR;
	down[0].u.link_adr_req.dr = 5;
	down[0].u.link_adr_req.tx_power = 2;
	down[0].u.link_adr_req.ch_mask = 0x00ff;
	down[0].u.link_adr_req.nb_trans = 1;
	down[1].cid = FB_LW_DUTY_CYCLE;
	down[1].u.duty_cycle_req.max_duty_cycle = 7;
	down[2].cid = FB_LW_RX_PARAM_SETUP;
	down[2].u.rx_param_setup_req.rx1_dr_offset = 1;
	down[2].u.rx_param_setup_req.rx2_dr = 3;
	down[2].u.rx_param_setup_req.freq_hz = 869525000;
	down[3].cid = FB_LW_DEV_STATUS;
	down[4].cid = FB_LW_NEW_CHANNEL;
	down[4].u.new_channel_req.ch_index = 3;
	down[4].u.new_channel_req.freq_hz = 867100000;
	down[4].u.new_channel_req.max_dr = 5;
	down[5].cid = FB_LW_RX_TIMING_SETUP;
	down[5].u.rx_timing_setup_req.delay_s = 2;
	uint8_t buf[32];
	ssize_t n = fb_lw_mac_encode(down, 6, FB_LW_DOWN, buf, sizeof(buf));
	assert_int_equal(n, 5 + 2 + 5 + 1 + 6 + 2);
	/* LinkADRReq wire layout (1.0.4 §5.3): DR<<4|TXPower, ChMask LE, Redundancy */
	uint8_t adr[5];
	hex("0352ff0001", adr, 5);
	assert_memory_equal(buf, adr, 5);
	assert_int_equal(fb_lw_mac_decode(buf, (size_t)n, FB_LW_DOWN, got, 8), 6);
	for (int i = 0; i < 6; i++)
		assert_memory_equal(&got[i], &down[i], sizeof(got[i]));
	/* truncated last command, unknown CID, too many for out */
	assert_int_equal(fb_lw_mac_decode(buf, (size_t)n - 1, FB_LW_DOWN, got, 8), FB_LW_ESHORT);
	buf[0] = 0x7f;
	assert_int_equal(fb_lw_mac_decode(buf, (size_t)n, FB_LW_DOWN, got, 8), FB_LW_EINVAL);
	buf[0] = FB_LW_LINK_ADR;
	assert_int_equal(fb_lw_mac_decode(buf, (size_t)n, FB_LW_DOWN, got, 2), FB_LW_ENOSPC);
	down[1].u.duty_cycle_req.max_duty_cycle = 16;
	assert_int_equal(fb_lw_mac_encode(down, 6, FB_LW_DOWN, buf, sizeof(buf)), FB_LW_EINVAL);
	assert_int_equal(fb_lw_mac_encode(down, 1, FB_LW_DOWN, buf, 4), FB_LW_ENOSPC);

	/* uplink: brocaar vector J's FOpts 020305 = LinkCheckReq + LinkADRAns(0x05) */
	uint8_t fopts[3] = { 0x02, 0x03, 0x05 };
	assert_int_equal(fb_lw_mac_decode(fopts, 3, FB_LW_UP, got, 8), 2);
	assert_int_equal(got[0].cid, FB_LW_LINK_CHECK);
	assert_int_equal(got[1].u.status, 0x05);
	/* DevStatusAns margin is 6-bit signed */
	struct fb_lw_mac ds = { .cid = FB_LW_DEV_STATUS, .u.dev_status_ans = { 254, -5 } };
	assert_int_equal(fb_lw_mac_encode(&ds, 1, FB_LW_UP, buf, sizeof(buf)), 3);
	assert_int_equal(buf[2], 0x3b);
	assert_int_equal(fb_lw_mac_decode(buf, 3, FB_LW_UP, got, 8), 1);
	assert_int_equal(got[0].u.dev_status_ans.margin, -5);
	assert_int_equal(got[0].u.dev_status_ans.battery, 254);
}

static void test_malformed(void **state)
{
	struct fb_lw_data_frame p;
	uint8_t buf[FB_LW_MAX_PHY];
	size_t n = hex("400403020180010001a694642615d6c3b582", buf, sizeof(buf));
	/* every truncation below the minimum is rejected */
	for (size_t len = 0; len < 12; len++)
		assert_int_equal(fb_lw_data_parse(buf, len, &p), FB_LW_ESHORT);
	/* FOptsLen says 15 but the frame cannot hold them */
	buf[5] = 0x8f;
	assert_int_equal(fb_lw_data_parse(buf, n, &p), FB_LW_ESHORT);
	buf[5] = 0x80;
	buf[0] = 0x41;     /* Major 1 */
	assert_int_equal(fb_lw_data_parse(buf, n, &p), FB_LW_EMAJOR);
	buf[0] = 0x00;     /* join-request is not a data frame */
	assert_int_equal(fb_lw_data_parse(buf, n, &p), FB_LW_EMTYPE);
	buf[0] = 0xe0;
	assert_int_equal(fb_lw_data_parse(buf, n, &p), FB_LW_EMTYPE);
	/* FOpts with FPort 0 is forbidden */
	hex("4004030201010100020000000000", buf, sizeof(buf));
	assert_int_equal(fb_lw_data_parse(buf, 14, &p), FB_LW_EINVAL);
	/* a frame without FPort parses with fport -1 */
	hex("6004030201200100aabbccdd", buf, sizeof(buf));
	assert_int_equal(fb_lw_data_parse(buf, 12, &p), 0);
	assert_int_equal(p.fport, -1);
	assert_true(p.ack);
	/* builder refuses payload without FPort */
	struct fb_lw_data_frame f = { .mtype = FB_LW_UNCONF_UP, .fport = -1,
	                              .payload = buf, .payload_len = 1 };
	uint8_t k[16] = { 0 };
	assert_int_equal(fb_lw_data_build(&cr, &f, k, k, buf, sizeof(buf)), FB_LW_EINVAL);
	/* random bytes never crash the parsers */
	uint32_t x = 12345;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(x % 64);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		x = x * 1103515245u + 12345u;
		if (fb_lw_data_parse(buf, len, &p) == 0)
			assert_true(p.payload_len <= len);
		struct fb_lw_mac m[16];
		(void)fb_lw_mac_decode(buf, len, (enum fb_lw_dir)(round & 1), m, 16);
		struct fb_lw_join_accept ja;
		(void)fb_lw_join_accept_open(&cr, buf, len, k, &ja);
	}
}

static int setup(void **state) { return fb_lw_crypto_init(&cr); }
static int teardown(void **state) { fb_lw_crypto_release(&cr); return 0; }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_data_vectors),
		cmocka_unit_test(test_parse_open_roundtrip),
		cmocka_unit_test(test_fcnt_expand),
		cmocka_unit_test(test_join_request),
		cmocka_unit_test(test_join_accept),
		cmocka_unit_test(test_mac_roundtrip),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
