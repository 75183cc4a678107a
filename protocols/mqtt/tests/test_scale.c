/* 10 000 MQTT connections in one process against one mosquitto (the soft descriptor limit is
 * raised to the hard one), each publishing once; connect rate and memory per idle connection
 * are printed for the record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include <cmocka.h>
#include "harness/peer.h"
#include "protocols/mqtt/client.h"
#include "protocols/mqtt/tests/mqtest_loop.h"

#define NCONN 10000

static struct ev_loop *loop;

struct want_up { struct fb_mqtt_pool *pool; uint64_t n; };
static bool all_up(void *arg)
{
	struct want_up *w = arg;
	return fb_mqtt_pool_stats(w->pool)->connections_up >= w->n;
}

struct want_msgs { uint64_t *got, n; };
static bool got_all(void *arg)
{
	struct want_msgs *w = arg;
	return *w->got >= w->n;
}

static void count(void *arg, struct fb_mqtt_conn *c, const struct fb_mqtt_packet *p)
{
	(void)c; (void)p;
	(*(uint64_t *)arg)++;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void ten_thousand_connections(void **state)
{
	(void)state;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < NCONN + 200)
		fail_msg("the hard descriptor limit %lu is below %d", (unsigned long)rl.rlim_max, NCONN + 200);
	rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	loop = ev_default_loop(EVBACKEND_EPOLL);
	char dir[256];
	assert_int_equal(fb_peer_tmpdir("fb-mqtt-scale", dir, sizeof dir), 0);
	struct fb_mosquitto_opts o = { .dir = dir };
	struct fb_peer broker;
	assert_int_equal(fb_mosquitto_start(&broker, &o), 0);

	struct fb_mqtt_pool_config cfg;
	memset(&cfg, 0, sizeof cfg);
	assert_int_equal(fb_mqtt_resolve("127.0.0.1", o.port, &cfg.addr, &cfg.addrlen), 0);
	cfg.version = FB_MQTT_V311;
	cfg.keepalive_s = 60;
	cfg.connect_timeout_us = 20 * FB_US_PER_S;
	cfg.reconnect_min_us = 200 * FB_US_PER_MS;
	cfg.reconnect_max_us = 2 * FB_US_PER_S;
	cfg.reconnect_jitter = 0.5;
	uint64_t received = 0;
	struct fb_mqtt_callbacks scb = { .arg = &received, .on_message = count };
	struct fb_mqtt_pool *sub = fb_mqtt_pool_new(loop, &cfg, &scb);
	struct fb_mqtt_conn_config sc = { .client_id = "scale-counter", .subscribe = (const char *const[]){ "scale/#", NULL }, .clean_start = true };
	fb_mqtt_pool_add(sub, &sc, NULL);
	fb_mqtt_pool_start(sub);
	struct want_up ws = { sub, 1 };
	assert_true(mqt_run_until(loop, all_up, &ws, 5));

	long rss0 = rss_kib();
	struct fb_mqtt_pool *pool = fb_mqtt_pool_new(loop, &cfg, NULL);
	for (uint32_t i = 0; i < NCONN; i++) {
		char id[32];
		snprintf(id, sizeof id, "scale-%06u", i);
		struct fb_mqtt_conn_config cc = { .index = i, .client_id = id, .clean_start = true };
		assert_non_null(fb_mqtt_pool_add(pool, &cc, NULL));
	}
	double t0 = mono_s();
	fb_mqtt_pool_start(pool);
	struct want_up w = { pool, NCONN };
	bool up = mqt_run_until(loop, all_up, &w, 60);
	double t1 = mono_s();
	const struct fb_mqtt_stats *st = fb_mqtt_pool_stats(pool);
	if (!up)
		fail_msg("%llu of %d up (failed %llu, refused %llu, nofile %llu)",
		         (unsigned long long)st->connections_up, NCONN, (unsigned long long)st->connects_failed,
		         (unsigned long long)st->connects_refused,
		         (unsigned long long)st->failures[FB_MQTT_FAIL_NOFILE]);
	long rss1 = rss_kib();
	printf("mqtt_scale connections %d\n", NCONN);
	printf("mqtt_scale connect_rate %.0f conn/s\n", NCONN / (t1 - t0));
	printf("mqtt_scale memory_per_idle_connection %.0f bytes\n", (rss1 - rss0) * 1024.0 / NCONN);
	for (uint32_t i = 0; i < NCONN; i++) {
		char topic[32];
		snprintf(topic, sizeof topic, "scale/%u", i);
		assert_int_equal(fb_mqtt_publish(fb_mqtt_pool_conn(pool, i), topic, (const uint8_t *)"1", 1, 0, false), 0);
	}
	struct want_msgs wm = { &received, NCONN };
	assert_true(mqt_run_until(loop, got_all, &wm, 30));
	assert_int_equal(st->connections_up, NCONN);
	assert_int_equal(st->pub_dropped, 0);
	fb_mqtt_pool_free(pool);
	fb_mqtt_pool_free(sub);
	assert_int_equal(fb_peer_stop(&broker, 10000), 0);
	fb_peer_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ten_thousand_connections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
