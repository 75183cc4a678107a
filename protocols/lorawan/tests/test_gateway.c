/* One simulated gateway against a bare UDP socket standing in for the network server: PULL_DATA
 * keep-alive every 10 s, stat every 30 s with the counters of the interval, PUSH_DATA batching
 * (8 rxpk at most), PUSH_ACK matching with RTT, timeout and retry of the same datagram, TX_ACK,
 * and bad datagrams counted. Wall time is passed in, so no test waits for 30 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>
#include "protocols/lorawan/gateway.h"
#include "protocols/lorawan/tests/lwtest.h"

static struct ev_loop *loop;
static int ns;                       /* the fake network server's socket */
static struct sockaddr_in ns_addr;

static ssize_t ns_recv(uint8_t *buf, size_t cap, struct sockaddr_in *from)
{
	socklen_t fl = sizeof(*from);
	return recvfrom(ns, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, &fl);
}

static void pump(void)
{
	for (int i = 0; i < 20; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

static struct fb_lw_gateway *open_gw(uint8_t retries)
{
	static struct fb_lw_gateway gw;
	memset(&gw, 0, sizeof(gw));
	gw.fd = -1;
	gw.eui = 0xaa555a0000000001ULL;
	gw.version = 2;
	gw.lat = 43.29512;
	gw.lon = 5.37451;
	gw.height_m = 25;
	gw.push_timeout_us = 100 * FB_US_PER_MS;
	gw.push_retries = retries;
	assert_int_equal(fb_lw_gateway_open(&gw, loop, (struct sockaddr *)&ns_addr, sizeof(ns_addr)), 0);
	return &gw;
}

static fb_time_us at(int y, int mo, int d, int h, int mi, int s)
{
	return fb_days_from_civil(y, mo, d) * FB_US_PER_DAY + h * FB_US_PER_H + mi * FB_US_PER_MIN + s * FB_US_PER_S;
}

static void test_keepalive_stat_batching(void **state)
{
	struct fb_lw_gateway *gw = open_gw(0);
	uint8_t buf[FB_SM_BUF_SIZE], phy[20] = { 0x40 };
	struct sockaddr_in from;
	fb_time_us w0 = gw->next_pull_wall, v0 = at(2026, 6, 1, 8, 59, 28);
	/* the first tick sends PULL_DATA at once (opens the downlink path) */
	fb_lw_gateway_tick(gw, w0, v0);
	ssize_t n = ns_recv(buf, sizeof(buf), &from);
	assert_int_equal(n, 12);
	assert_int_equal(buf[3], FB_SM_PULL_DATA);
	static const uint8_t eui[8] = { 0xaa, 0x55, 0x5a, 0, 0, 0, 0, 1 };
	assert_memory_equal(buf + 4, eui, 8);
	uint16_t src_port = from.sin_port;
	/* PULL_ACK (4 bytes) with its token */
	uint8_t ack[4] = { 2, buf[1], buf[2], FB_SM_PULL_ACK };
	sendto(ns, ack, 4, 0, (struct sockaddr *)&from, sizeof(from));
	pump();
	assert_int_equal(gw->c.pull_acked, 1);
	/* nothing more before 10 s */
	fb_lw_gateway_tick(gw, w0 + 9 * FB_US_PER_S, v0);
	assert_true(ns_recv(buf, sizeof(buf), &from) < 0);
	fb_lw_gateway_tick(gw, w0 + 10 * FB_US_PER_S, v0);
	assert_int_equal(ns_recv(buf, sizeof(buf), &from), 12);
	assert_int_equal(buf[3], FB_SM_PULL_DATA);

	/* 9 frames: one PUSH_DATA of 8 at once, then the 9th on flush */
	for (int i = 0; i < 9; i++) {
		struct fb_sm_rxpk rx = { .tmst = 1000u + (uint32_t)i, .time = v0, .freq_hz = 868100000, .stat = 1,
		                         .dr = 5, .rssi = -80, .lsnr_tenths = 55, .data = phy, .size = sizeof(phy) };
		bool first = fb_lw_gateway_queue(gw, &rx, w0 + 11 * FB_US_PER_S);
		assert_int_equal(first, i == 0 || i == 8);
	}
	n = ns_recv(buf, sizeof(buf), &from);
	assert_true(n > 12);
	assert_int_equal(buf[3], FB_SM_PUSH_DATA);
	assert_int_equal(from.sin_port, src_port);         /* one socket, one source port */
	json_error_t err;
	json_t *j = json_loadb((char *)buf + 12, (size_t)n - 12, 0, &err);
	assert_int_equal(json_array_size(json_object_get(j, "rxpk")), 8);
	json_decref(j);
	/* PUSH_ACK for it: RTT measured */
	uint8_t pack[4] = { 2, buf[1], buf[2], FB_SM_PUSH_ACK };
	sendto(ns, pack, 4, 0, (struct sockaddr *)&from, sizeof(from));
	fb_lw_gateway_flush(gw, w0 + 11 * FB_US_PER_S);
	n = ns_recv(buf, sizeof(buf), &from);
	j = json_loadb((char *)buf + 12, (size_t)n - 12, 0, &err);
	assert_int_equal(json_array_size(json_object_get(j, "rxpk")), 1);
	json_decref(j);
	pump();
	assert_int_equal(gw->c.push_sent, 2);
	assert_int_equal(gw->c.push_acked, 1);
	/* an ACK with a token never sent is counted, not matched */
	uint8_t stray[4] = { 2, 0xde, 0xad, FB_SM_PUSH_ACK };
	sendto(ns, stray, 4, 0, (struct sockaddr *)&from, sizeof(from));
	pump();
	assert_int_equal(gw->c.unknown_token, 1);

	/* stat at 30 s: exact time format and this interval's counters */
	fb_lw_gateway_tick(gw, w0 + 30 * FB_US_PER_S, v0);
	bool got_stat = false;
	while ((n = ns_recv(buf, sizeof(buf), &from)) > 0) {
		if (buf[3] != FB_SM_PUSH_DATA)
			continue;
		j = json_loadb((char *)buf + 12, (size_t)n - 12, 0, &err);
		json_t *st = json_object_get(j, "stat");
		if (st) {
			got_stat = true;
			assert_string_equal(json_string_value(json_object_get(st, "time")), "2026-06-01 08:59:28 GMT");
			assert_int_equal(json_integer_value(json_object_get(st, "rxnb")), 9);
			assert_int_equal(json_integer_value(json_object_get(st, "rxok")), 9);
			assert_int_equal(json_integer_value(json_object_get(st, "rxfw")), 9);
			assert_float_equal(json_number_value(json_object_get(st, "ackr")), 50.0, 1e-9);
			assert_float_equal(json_number_value(json_object_get(st, "lati")), 43.29512, 1e-9);
			assert_int_equal(json_integer_value(json_object_get(st, "alti")), 25);
		}
		json_decref(j);
	}
	assert_true(got_stat);
	assert_int_equal(gw->c.stat_sent, 1);
	/* the second PUSH_DATA was never acknowledged: a timeout */
	assert_int_equal(gw->c.push_timeouts, 1);
	/* counters restart for the next interval */
	assert_int_equal(gw->rxnb, 0);

	/* garbage from the server is counted */
	static const uint8_t junk[3] = { 2, 0, 0 };
	static const uint8_t wrongver[4] = { 9, 0, 0, 1 };
	sendto(ns, junk, 3, 0, (struct sockaddr *)&from, sizeof(from));
	sendto(ns, wrongver, 4, 0, (struct sockaddr *)&from, sizeof(from));
	pump();
	assert_int_equal(gw->c.bad_datagrams, 2);

	/* TX_ACK: no JSON on success, an error object otherwise */
	fb_lw_gateway_tx_ack(gw, 0x0102, NULL);
	assert_int_equal(ns_recv(buf, sizeof(buf), &from), 12);
	assert_int_equal(buf[1], 1);
	assert_int_equal(buf[2], 2);
	assert_int_equal(buf[3], FB_SM_TX_ACK);
	fb_lw_gateway_tx_ack(gw, 0x0102, "TX_FREQ");
	n = ns_recv(buf, sizeof(buf), &from);
	assert_memory_equal(buf + 12, "{\"txpk_ack\":{\"error\":\"TX_FREQ\"}}", (size_t)n - 12);
	assert_int_equal(gw->c.tx_ack_errors, 1);
	fb_lw_gateway_close(gw);
}

static void test_retry_same_datagram(void **state)
{
	struct fb_lw_gateway *gw = open_gw(1);
	uint8_t buf[FB_SM_BUF_SIZE], first[FB_SM_BUF_SIZE], phy[5] = { 0x40, 1, 2, 3, 4 };
	struct sockaddr_in from;
	fb_time_us w0 = 1000 * FB_US_PER_S;
	gw->next_pull_wall = w0 + 100 * FB_US_PER_S;
	gw->next_stat_wall = w0 + 100 * FB_US_PER_S;
	struct fb_sm_rxpk rx = { .tmst = 5, .time = at(2026, 1, 1, 0, 0, 0), .freq_hz = 868300000, .stat = 1,
	                         .dr = 0, .rssi = -120, .lsnr_tenths = -150, .data = phy, .size = 5 };
	fb_lw_gateway_queue(gw, &rx, w0);
	fb_lw_gateway_flush(gw, w0);
	ssize_t n = ns_recv(first, sizeof(first), &from);
	assert_true(n > 12);
	fb_lw_gateway_tick(gw, w0 + 50 * FB_US_PER_MS, 0);
	assert_true(ns_recv(buf, sizeof(buf), &from) < 0);
	/* after the timeout: the same bytes again (same token), then given up */
	fb_lw_gateway_tick(gw, w0 + 100 * FB_US_PER_MS, 0);
	assert_int_equal(ns_recv(buf, sizeof(buf), &from), n);
	assert_memory_equal(buf, first, (size_t)n);
	assert_int_equal(gw->c.push_retries, 1);
	fb_lw_gateway_tick(gw, w0 + 250 * FB_US_PER_MS, 0);
	assert_int_equal(gw->c.push_timeouts, 1);
	assert_int_equal(fb_lw_gateway_inflight(gw), 0);
	/* the gateway's tmst counter wraps at 32 bits */
	gw->tmst_offset = 0xfffffff0u;
	assert_int_equal(fb_lw_gateway_tmst(gw, 0x20), 0x10);
	fb_lw_gateway_close(gw);
}

int main(void)
{
	loop = ev_default_loop(0);
	ns = lw_udp_loopback(&ns_addr);
	if (ns < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keepalive_stat_batching),
		cmocka_unit_test(test_retry_same_datagram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
