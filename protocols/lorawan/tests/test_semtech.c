/* Semtech UDP protocol: byte-exact datagrams, time formats, base64, PULL_RESP parsing and its
 * errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include "protocols/lorawan/semtech.h"
#include "protocols/lorawan/tests/lwtest.h"

static fb_time_us at(int y, int mo, int d, int h, int mi, int s, int us)
{
	return fb_days_from_civil(y, mo, d) * FB_US_PER_DAY + h * FB_US_PER_H + mi * FB_US_PER_MIN
	       + s * FB_US_PER_S + us;
}

static void test_time_formats(void **state)
{
	char t[32] = { 0 };
	/* PROTOCOL.TXT examples */
	assert_int_equal(fb_sm_format_rfc3339_us(at(2013, 3, 31, 16, 21, 17, 528002), t), 27);
	assert_string_equal(t, "2013-03-31T16:21:17.528002Z");
	memset(t, 0, sizeof(t));
	assert_int_equal(fb_sm_format_stat_time(at(2014, 1, 12, 8, 59, 28, 999999), t), 23);
	assert_string_equal(t, "2014-01-12 08:59:28 GMT");
	memset(t, 0, sizeof(t));
	fb_sm_format_rfc3339_us(at(2026, 12, 31, 23, 59, 59, 7), t);
	assert_string_equal(t, "2026-12-31T23:59:59.000007Z");
}

static void test_base64(void **state)
{
	/* RFC 4648 §10 */
	static const char *const pairs[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char enc[64];
	uint8_t dec[64];
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		size_t n = strlen(pairs[i][0]);
		ssize_t e = fb_base64_encode((const uint8_t *)pairs[i][0], n, enc, sizeof(enc));
		assert_int_equal(e, strlen(pairs[i][1]));
		assert_memory_equal(enc, pairs[i][1], (size_t)e);
		assert_int_equal(fb_base64_decode(pairs[i][1], (size_t)e, dec, sizeof(dec)), n);
		assert_memory_equal(dec, pairs[i][0], n);
	}
	/* reference §3.2 first uplink */
	uint8_t phy[23];
	lw_unhex("40da1b0126000000025f78d5dc4afc6e83c6466d831dcb", phy, sizeof(phy));
	assert_int_equal(fb_base64_encode(phy, 23, enc, sizeof(enc)), 32);
	assert_memory_equal(enc, "QNobASYAAAACX3jV3Er8boPGRm2DHcs=", 32);
	/* PROTOCOL.TXT's sample data is not valid base64: '-' and no padding */
	assert_int_equal(fb_base64_decode("-DS4CGaDCdG+48eJNM3Vai-zDpsR71Pn9CPA9uCON84", 43, dec, 64), -1);
	assert_int_equal(fb_base64_decode("Zg=a", 4, dec, 64), -1);
	assert_int_equal(fb_base64_decode("Z===", 4, dec, 64), -1);
	assert_int_equal(fb_base64_decode("Zg==Zg==", 8, dec, 64), -1);
	assert_int_equal(fb_base64_decode("Zm9vYmFy", 8, dec, 5), -1);
	assert_int_equal(fb_base64_encode((const uint8_t *)"foo", 3, enc, 3), -1);
}

static void test_push_data_exact(void **state)
{
	uint8_t phy[23], buf[FB_SM_BUF_SIZE];
	lw_unhex("40da1b0126000000025f78d5dc4afc6e83c6466d831dcb", phy, sizeof(phy));
	struct fb_sm_rxpk rx[2] = {
		{ .tmst = 3512348611u, .time = at(2013, 3, 31, 16, 21, 17, 528002), .freq_hz = 868100000,
		  .chan = 0, .rfch = 0, .stat = 1, .dr = 5, .rssi = -35, .lsnr_tenths = 51,
		  .data = phy, .size = 23 },
		{ .tmst = 7, .time = at(2013, 3, 31, 16, 21, 17, 5), .freq_hz = 867900000,
		  .chan = 7, .rfch = 1, .stat = 1, .dr = 0, .rssi = -121, .lsnr_tenths = -175,
		  .data = phy, .size = 1 },
	};
	ssize_t n = fb_sm_push_data(2, 0x1234, 0xaa555a0000000000ULL, rx, 2, NULL, buf, sizeof(buf));
	const char *want_json =
		"{\"rxpk\":[{\"tmst\":3512348611,\"time\":\"2013-03-31T16:21:17.528002Z\",\"chan\":0,"
		"\"rfch\":0,\"freq\":868.100000,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\","
		"\"codr\":\"4/5\",\"rssi\":-35,\"lsnr\":5.1,\"size\":23,"
		"\"data\":\"QNobASYAAAACX3jV3Er8boPGRm2DHcs=\"},"
		"{\"tmst\":7,\"time\":\"2013-03-31T16:21:17.000005Z\",\"chan\":7,\"rfch\":1,"
		"\"freq\":867.900000,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF12BW125\",\"codr\":\"4/5\","
		"\"rssi\":-121,\"lsnr\":-17.5,\"size\":1,\"data\":\"QA==\"}]}";
	/* reference §1.1: 02 12 34 00 AA 55 5A 00 00 00 00 00 7B... */
	static const uint8_t head[12] = { 2, 0x12, 0x34, 0, 0xaa, 0x55, 0x5a, 0, 0, 0, 0, 0 };
	assert_int_equal(n, 12 + strlen(want_json));
	assert_memory_equal(buf, head, 12);
	assert_memory_equal(buf + 12, want_json, strlen(want_json));
	/* every byte count below the size fails cleanly */
	for (size_t cap = 0; cap < (size_t)n; cap += 37)
		assert_int_equal(fb_sm_push_data(2, 0x1234, 0xaa555a0000000000ULL, rx, 2, NULL, buf, cap),
		                 FB_SM_ENOSPC);

	struct fb_sm_stat st = { .time = at(2014, 1, 12, 8, 59, 28, 0), .has_gps = true,
	                         .lat = 43.29512, .lon = 5.37451, .alt = 25, .rxnb = 2, .rxok = 2,
	                         .rxfw = 2, .ackr = 100.0, .dwnb = 1, .txnb = 1 };
	n = fb_sm_push_data(1, 0xbeef, 0x0102030405060708ULL, NULL, 0, &st, buf, sizeof(buf));
	const char *want_stat =
		"{\"stat\":{\"time\":\"2014-01-12 08:59:28 GMT\",\"lati\":43.29512,\"long\":5.37451,"
		"\"alti\":25,\"rxnb\":2,\"rxok\":2,\"rxfw\":2,\"ackr\":100.0,\"dwnb\":1,\"txnb\":1}}";
	static const uint8_t head1[12] = { 1, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_int_equal(n, 12 + strlen(want_stat));
	assert_memory_equal(buf, head1, 12);
	assert_memory_equal(buf + 12, want_stat, strlen(want_stat));

	/* rxpk and stat together, and the JSON is valid for a real parser */
	n = fb_sm_push_data(2, 1, 1, rx, 2, &st, buf, sizeof(buf));
	json_error_t err;
	json_t *j = json_loadb((const char *)buf + 12, (size_t)n - 12, 0, &err);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "rxpk")), 2);
	assert_true(json_is_object(json_object_get(j, "stat")));
	assert_float_equal(json_number_value(json_object_get(json_array_get(json_object_get(j, "rxpk"), 0), "freq")),
	                   868.1, 1e-9);
	json_decref(j);
}

static void test_small_packets(void **state)
{
	uint8_t buf[64], ver, type;
	uint16_t token;
	assert_int_equal(fb_sm_pull_data(2, 0xabcd, 0xaa555a0000000001ULL, buf, sizeof(buf)), 12);
	static const uint8_t pull[12] = { 2, 0xab, 0xcd, 2, 0xaa, 0x55, 0x5a, 0, 0, 0, 0, 1 };
	assert_memory_equal(buf, pull, 12);
	assert_int_equal(fb_sm_pull_data(2, 1, 1, buf, 11), FB_SM_ENOSPC);
	assert_int_equal(fb_sm_tx_ack(2, 0x0102, 0xaa555a0000000001ULL, NULL, buf, sizeof(buf)), 12);
	assert_int_equal(buf[3], FB_SM_TX_ACK);
	assert_int_equal(fb_sm_tx_ack(2, 0x0102, 0xaa555a0000000001ULL, "NONE", buf, sizeof(buf)), 12);
	ssize_t n = fb_sm_tx_ack(2, 0x0102, 0xaa555a0000000001ULL, "TOO_LATE", buf, sizeof(buf));
	const char *j = "{\"txpk_ack\":{\"error\":\"TOO_LATE\"}}";
	assert_int_equal(n, 12 + strlen(j));
	assert_memory_equal(buf + 12, j, strlen(j));
	/* headers: PULL_ACK is 4 bytes (houluy/lora-mote-emulator #10 expected 12) */
	static const uint8_t ack[4] = { 2, 0xab, 0xcd, 4 };
	assert_int_equal(fb_sm_header(ack, 4, &ver, &token, &type), 0);
	assert_int_equal(token, 0xabcd);
	assert_int_equal(type, FB_SM_PULL_ACK);
	assert_int_equal(fb_sm_header(ack, 3, &ver, &token, &type), FB_SM_ESHORT);
	static const uint8_t badv[4] = { 3, 0, 0, 1 }, badt[4] = { 2, 0, 0, 9 };
	assert_int_equal(fb_sm_header(badv, 4, &ver, &token, &type), FB_SM_EVERSION);
	assert_int_equal(fb_sm_header(badt, 4, &ver, &token, &type), FB_SM_ETYPE);
}

static int pull_resp(const char *json, struct fb_sm_txpk *tx, const char **what)
{
	static uint8_t buf[2048];
	buf[0] = 2; buf[1] = 0x55; buf[2] = 0x66; buf[3] = FB_SM_PULL_RESP;
	size_t n = strlen(json);
	memcpy(buf + 4, json, n);
	return fb_sm_parse_pull_resp(buf, 4 + n, tx, what);
}

static void test_pull_resp(void **state)
{
	struct fb_sm_txpk tx;
	const char *what;
	/* as chirpstack-gateway-bridge sends it for RX1 of a join-accept */
	assert_int_equal(pull_resp("{\"txpk\":{\"imme\":false,\"tmst\":5000000,\"freq\":868.1,\"rfch\":0,"
	                           "\"powe\":14,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"codr\":\"4/5\","
	                           "\"ipol\":true,\"size\":17,\"data\":\"IJ9HSgR3TV50vll4cQ+nVoE=\"}}",
	                           &tx, &what), 0);
	assert_true(tx.has_tmst);
	assert_int_equal(tx.tmst, 5000000);
	assert_int_equal(tx.freq_hz, 868100000);
	assert_int_equal(tx.dr, 5);
	assert_true(tx.ipol);
	assert_int_equal(tx.powe, 14);
	assert_int_equal(tx.size, 17);
	assert_int_equal(tx.data[0], 0x20);
	assert_int_equal(tx.data[16], 0x81);
	/* RX2 at 869.525 MHz, immediate, no size */
	assert_int_equal(pull_resp("{\"txpk\":{\"imme\":true,\"freq\":869.525,\"datr\":\"SF12BW125\","
	                           "\"powe\":27,\"data\":\"QA==\"}}", &tx, &what), 0);
	assert_true(tx.imme && !tx.has_tmst);
	assert_int_equal(tx.freq_hz, 869525000);
	assert_int_equal(tx.dr, 0);
	assert_int_equal(tx.powe, 27);

	static const struct { const char *json; int err; const char *what; } bad[] = {
		{ "{\"txpk\":{", FB_SM_EJSON, NULL },
		{ "", FB_SM_EJSON, NULL },
		{ "[1,2]", FB_SM_EJSON, "txpk" },
		{ "{\"txpk\":3}", FB_SM_EJSON, "txpk" },
		{ "{\"txpk\":{\"freq\":868.1,\"datr\":\"SF7BW125\",\"data\":\"QA==\"}}", FB_SM_EFIELD, "tmst" },
		{ "{\"txpk\":{\"tmst\":-1,\"freq\":868.1,\"datr\":\"SF7BW125\",\"data\":\"QA==\"}}", FB_SM_EFIELD, "tmst" },
		{ "{\"txpk\":{\"tmst\":\"1\",\"freq\":868.1,\"datr\":\"SF7BW125\",\"data\":\"QA==\"}}", FB_SM_EFIELD, "tmst" },
		{ "{\"txpk\":{\"tmst\":1,\"datr\":\"SF7BW125\",\"data\":\"QA==\"}}", FB_SM_EFIELD, "freq" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":\"868.1\",\"datr\":\"SF7BW125\",\"data\":\"QA==\"}}", FB_SM_EFIELD, "freq" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"data\":\"QA==\"}}", FB_SM_EFIELD, "datr" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":50000,\"modu\":\"FSK\",\"data\":\"QA==\"}}", FB_SM_EMODU, "modu" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":\"SF7BW500\",\"data\":\"QA==\"}}", FB_SM_EMODU, "datr" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":\"SF7BW125\"}}", FB_SM_EFIELD, "data" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":\"SF7BW125\",\"data\":\"QA=\"}}", FB_SM_EBASE64, "data" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":\"SF7BW125\",\"data\":\"Q-A=\"}}", FB_SM_EBASE64, "data" },
		{ "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":\"SF7BW125\",\"size\":2,\"data\":\"QA==\"}}", FB_SM_ESIZE, "size" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = pull_resp(bad[i].json, &tx, &what);
		if (rc != bad[i].err)
			print_error("case %zu: %s -> %d\n", i, bad[i].json, rc);
		assert_int_equal(rc, bad[i].err);
		if (bad[i].what)
			assert_string_equal(what, bad[i].what);
	}
	/* not a PULL_RESP */
	static const uint8_t ack[4] = { 2, 0, 0, FB_SM_PUSH_ACK };
	assert_int_equal(fb_sm_parse_pull_resp(ack, 4, &tx, &what), FB_SM_ETYPE);
	/* base64 of more than 256 bytes is refused, not overflowed */
	static char big[600];
	strcpy(big, "{\"txpk\":{\"imme\":true,\"freq\":868.1,\"datr\":\"SF7BW125\",\"data\":\"");
	size_t l = strlen(big);
	for (int i = 0; i < 348; i++)
		big[l++] = 'A';
	strcpy(big + l, "\"}}");
	assert_int_equal(pull_resp(big, &tx, &what), FB_SM_EBASE64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_formats),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_push_data_exact),
		cmocka_unit_test(test_small_packets),
		cmocka_unit_test(test_pull_resp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
