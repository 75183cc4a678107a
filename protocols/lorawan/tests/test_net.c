/* The network of devices and gateways without a real network server: collisions with 6 dB
 * capture at a gateway, several gateways hearing one uplink with their own metadata, a class C
 * immediate downlink found by DevAddr, and the JSON report. A bare UDP socket plays the server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>
#include "protocols/lorawan/lorawan.h"
#include "protocols/lorawan/tests/lwtest.h"

static struct ev_loop *loop;
static int ns;
static struct sockaddr_in ns_addr;
static const fb_time_us T0 = 1780000000LL * FB_US_PER_S;

static bool duty_on, otaa_on;

static struct fb_lw_net *make(bool collisions, bool class_c, unsigned per_site, const double *dist_m,
                              uint32_t ndev, double radius)
{
	static double lat[8], lon[8];
	static uint32_t site[8];
	static struct fb_site s = { .id = "s", .lat = 43.3, .lon = 5.4 };
	s.radius_m = radius;
	for (uint32_t i = 0; i < ndev; i++) {
		lat[i] = s.lat + dist_m[i] / 111320.0;
		lon[i] = s.lon;
	}
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", ntohs(ns_addr.sin_port));
	assert_int_equal(fb_lw_parse_server(&cfg, url), 0);
	cfg.otaa = otaa_on;
	cfg.duty_cycle = duty_on;
	cfg.collisions = collisions;
	cfg.class_c = class_c;
	cfg.per_site = per_site;
	struct fb_lw_placement p = { .seed = 3, .count = ndev, .lat = lat, .lon = lon, .site = site,
	                             .sites = &s, .nsites = 1 };
	struct fb_lw_net *n = fb_lw_net_new(loop, &cfg, &p, NULL);
	fb_lw_config_release(&cfg);
	assert_non_null(n);
	for (uint32_t i = 0; i < ndev; i++)     /* one channel: frames at the same time collide */
		assert_int_equal(fb_lw_channels_apply_mask(&fb_lw_net_device(n, i)->ch, 0x0001, 0), 1);
	return n;
}

static void test_capture(void **state)
{
	const double d[3] = { 5, 6, 60 };       /* 0 and 1 within 6 dB; 2 far weaker */
	struct fb_lw_net *n = make(true, false, 1, d, 3, 100);
	uint8_t pl[4] = { 1, 2, 3, 4 };
	struct fb_lw_gateway *gw = fb_lw_net_gateway(n, 0);
	/* the strong one first, the weak one 10 ms later: the weak one is captured away */
	fb_lw_net_uplink(n, 0, T0, pl, 4, 1);
	fb_lw_net_uplink(n, 2, T0 + 10000, pl, 4, 1);
	assert_int_equal(gw->npending, 1);
	assert_int_equal(fb_lw_net_counters(n)->rxpk_collided, 1);
	/* two of similar strength overlapping: both lost, the first taken back from the batch */
	fb_lw_net_uplink(n, 0, T0 + 10 * FB_US_PER_S, pl, 4, 1);
	assert_int_equal(gw->npending, 2);
	fb_lw_net_uplink(n, 1, T0 + 10 * FB_US_PER_S + 20000, pl, 4, 1);
	assert_int_equal(gw->npending, 1);
	assert_int_equal(fb_lw_net_counters(n)->rxpk_collided, 3);
	/* after the airtime: no collision */
	fb_lw_net_uplink(n, 1, T0 + 20 * FB_US_PER_S, pl, 4, 1);
	assert_int_equal(gw->npending, 2);
	assert_int_equal(gw->rxnb, 5);
	assert_int_equal(gw->rxok, 2);
	json_t *rep = fb_lw_net_report(n);
	assert_non_null(rep);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "uplinks"), "collided")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "uplinks"), "sent")), 5);
	json_decref(rep);
	fb_lw_net_free(n);

	/* collisions off: all forwarded */
	n = make(false, false, 1, d, 3, 100);
	fb_lw_net_uplink(n, 0, T0, pl, 4, 1);
	fb_lw_net_uplink(n, 1, T0 + 10000, pl, 4, 1);
	assert_int_equal(fb_lw_net_gateway(n, 0)->npending, 2);
	fb_lw_net_free(n);
}

static void test_multi_gateway_and_class_c(void **state)
{
	const double d[1] = { 10 };
	/* 3 gateways: one at the centre, two 40 m out: each hears the frame with its own RSSI */
	struct fb_lw_net *n = make(false, true, 3, d, 1, 80);
	assert_int_equal(fb_lw_net_start(n), 0);
	uint8_t buf[FB_SM_BUF_SIZE], pl[3] = { 7, 7, 7 };
	struct sockaddr_in from[3];
	/* each gateway's PULL_DATA opens its downlink path */
	for (int i = 0; i < 20; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	int pulls = 0;
	socklen_t fl = sizeof(from[0]);
	ssize_t r;
	while ((r = recvfrom(ns, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from[pulls], &fl)) > 0)
		if (buf[3] == FB_SM_PULL_DATA && pulls < 3)
			pulls++;
	assert_int_equal(pulls, 3);
	fb_lw_net_uplink(n, 0, T0, pl, 3, 1);
	ev_run(loop, EVRUN_NOWAIT);               /* the prepare watcher flushes the batches */
	int pushes = 0;
	double rssi[3];
	while ((r = recvfrom(ns, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL)) > 0) {
		if (buf[3] != FB_SM_PUSH_DATA)
			continue;
		json_error_t err;
		json_t *j = json_loadb((char *)buf + 12, (size_t)r - 12, 0, &err);
		json_t *rx = json_array_get(json_object_get(j, "rxpk"), 0);
		if (rx && pushes < 3)
			rssi[pushes++] = json_number_value(json_object_get(rx, "rssi"));
		json_decref(j);
	}
	assert_int_equal(pushes, 3);
	assert_true(rssi[0] != rssi[1] || rssi[1] != rssi[2]);

	/* class C: an immediate downlink by DevAddr, any time */
	struct fb_lw_device *dev = fb_lw_net_device(n, 0);
	struct fb_lw_crypto cr;
	fb_lw_crypto_init(&cr);
	struct fb_lw_data_frame f = { .mtype = FB_LW_UNCONF_DOWN, .dev_addr = dev->id.dev_addr, .fcnt = 0,
	                              .fport = 10, .payload = (const uint8_t *)"\x01\x19", .payload_len = 2 };
	uint8_t phy[64], b64[128];
	ssize_t len = fb_lw_data_build(&cr, &f, dev->id.nwk_s_key, dev->id.app_s_key, phy, sizeof(phy));
	fb_lw_crypto_release(&cr);
	ssize_t bl = fb_base64_encode(phy, (size_t)len, (char *)b64, sizeof(b64));
	b64[bl] = 0;
	int m = snprintf((char *)buf + 4, sizeof(buf) - 4, "{\"txpk\":{\"imme\":true,\"freq\":869.525,\"rfch\":0,"
	                 "\"powe\":14,\"modu\":\"LORA\",\"datr\":\"SF12BW125\",\"codr\":\"4/5\",\"ipol\":true,"
	                 "\"size\":%zd,\"data\":\"%s\"}}", len, b64);
	buf[0] = 2; buf[1] = 0x77; buf[2] = 0x88; buf[3] = FB_SM_PULL_RESP;
	sendto(ns, buf, (size_t)m + 4, 0, (struct sockaddr *)&from[0], sizeof(from[0]));
	for (int i = 0; i < 20 && !fb_lw_net_counters(n)->downlinks_app; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(fb_lw_net_counters(n)->downlinks_app, 1);
	assert_int_equal(fb_lw_net_counters(n)->downlinks_in_window, 1);
	/* TX_ACK with the PULL_RESP's token */
	bool acked = false;
	while ((r = recvfrom(ns, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL)) > 0)
		if (buf[3] == FB_SM_TX_ACK && buf[1] == 0x77 && buf[2] == 0x88 && r == 12)
			acked = true;
	assert_true(acked);
	fb_lw_net_free(n);
}

static void test_duty_cycle_delays(void **state)
{
	const double d[1] = { 5 };
	duty_on = true;
	struct fb_lw_net *n = make(false, false, 1, d, 1, 50);
	duty_on = false;
	struct fb_lw_device *dev = fb_lw_net_device(n, 0);
	dev->dr = 0;                                   /* SF12: 1 % of the sub-band is 148 s per frame */
	uint8_t a[10] = { 0xa }, b[10] = { 0xb }, c[10] = { 0xc };
	struct fb_lw_gateway *gw = fb_lw_net_gateway(n, 0);
	fb_lw_net_uplink(n, 0, T0, a, 10, 1);
	assert_int_equal(gw->npending, 1);
	fb_time_us air = fb_lw_uplink_airtime_us(0, 23), free_at = T0 + air * 100;
	fb_lw_net_uplink(n, 0, T0 + 60 * FB_US_PER_S, b, 10, 1);     /* delayed */
	fb_lw_net_uplink(n, 0, T0 + 120 * FB_US_PER_S, c, 10, 1);    /* replaces b, still delayed */
	assert_int_equal(gw->npending, 1);
	const struct fb_lw_counters *k = fb_lw_net_counters(n);
	assert_int_equal(k->duty_cycle_deferrals, 1);
	assert_int_equal(k->duty_cycle_superseded, 1);
	fb_lw_net_advance(n, free_at - 1);
	assert_int_equal(gw->npending, 1);
	fb_lw_net_advance(n, free_at);
	assert_int_equal(gw->npending, 2);
	/* sent when the off-time ended: its reception ends one airtime later */
	assert_int_equal(gw->pending[1].time, free_at + air);
	assert_int_equal(k->uplinks_sent, 2);
	/* and it carried the newest sample: decrypt it */
	struct fb_lw_data_frame f;
	uint8_t plain[16];
	assert_int_equal(fb_lw_data_parse(gw->pending[1].data, gw->pending[1].size, &f), 0);
	struct fb_lw_crypto cr;
	fb_lw_crypto_init(&cr);
	assert_int_equal(fb_lw_data_open(&cr, gw->pending[1].data, gw->pending[1].size, &f, 1,
	                                 dev->id.nwk_s_key, dev->id.app_s_key, plain), 0);
	fb_lw_crypto_release(&cr);
	assert_int_equal(plain[0], 0xc);
	fb_lw_net_free(n);
}

static void test_unheard_join_does_not_hold(void **state)
{
	const double d[2] = { 5, 5000 };     /* the second is beyond SF12 range (LoRaSim path loss) */
	otaa_on = true;
	struct fb_lw_net *n = make(false, false, 1, d, 2, 6000);
	otaa_on = false;
	uint8_t pl[2] = { 1, 2 };
	fb_lw_net_uplink(n, 1, T0, pl, 2, 1);
	assert_int_equal(fb_lw_net_counters(n)->joins_requested, 1);
	assert_int_equal(fb_lw_net_counters(n)->uplinks_unheard, 1);
	assert_true(fb_lw_net_hold_until(n) == FB_TIME_NEVER);
	/* a heard join-request does hold virtual time at its RX1 */
	fb_lw_net_uplink(n, 0, T0, pl, 2, 1);
	struct fb_lw_device *dev = fb_lw_net_device(n, 0);
	assert_int_equal(fb_lw_net_hold_until(n), fb_lw_device_rx1_at(dev));
	assert_int_equal(fb_lw_device_rx1_at(dev), T0 + fb_lw_uplink_airtime_us(5, 23) + 5 * FB_US_PER_S);
	/* the unheard device retries after its windows, with a new DevNonce and a lower DR */
	fb_lw_net_advance(n, T0 + 20 * FB_US_PER_S);
	assert_int_equal(fb_lw_net_device(n, 1)->dev_nonce, 2);
	assert_int_equal(fb_lw_net_device(n, 1)->dr, 4);
	fb_lw_net_free(n);
}

static void test_only_reached_gateways_open(void **state)
{
	/* a shard whose devices all sit in site 0 of two: site 1's gateway is another process's */
	struct fb_site sites[2] = { { .id = "a", .lat = 43.3, .lon = 5.4, .radius_m = 50, .index = 0 },
	                            { .id = "b", .lat = 43.4, .lon = 5.5, .radius_m = 50, .index = 1 } };
	double lat[2] = { 43.3, 43.3 }, lon[2] = { 5.4, 5.4 };
	uint32_t site[2] = { 0, 0 };
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", ntohs(ns_addr.sin_port));
	assert_int_equal(fb_lw_parse_server(&cfg, url), 0);
	cfg.otaa = false;
	struct fb_lw_placement p = { .seed = 3, .first = 100, .count = 2, .lat = lat, .lon = lon,
	                             .site = site, .sites = sites, .nsites = 2 };
	struct fb_lw_net *n = fb_lw_net_new(loop, &cfg, &p, NULL);
	assert_non_null(n);
	assert_int_equal(fb_lw_net_gateway_count(n), 2);
	assert_int_equal(fb_lw_net_start(n), 0);
	assert_true(fb_lw_net_gateway(n, 0)->fd >= 0);
	assert_true(fb_lw_net_gateway(n, 1)->fd < 0);
	assert_true(fb_lw_net_gateway(n, 1)->eui == fb_lw_gateway_eui(1));
	fb_lw_net_free(n);
	fb_lw_config_release(&cfg);
}

int main(void)
{
	loop = ev_default_loop(0);
	ns = lw_udp_loopback(&ns_addr);
	if (ns < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_multi_gateway_and_class_c),
		cmocka_unit_test(test_duty_cycle_delays),
		cmocka_unit_test(test_unheard_join_does_not_hold),
		cmocka_unit_test(test_only_reached_gateways_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
