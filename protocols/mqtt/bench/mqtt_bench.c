/* MQTT client benchmark (run by protocols/mqtt/bench.sh): a mosquitto on a free loopback port, one
 * subscriber counting deliveries, N publisher connections flooding 100-byte payloads at QoS 0 or 1
 * with at most `window` messages between publish and delivery (closed loop, so the broker's
 * queues stay bounded). Prints `name value unit` lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include "harness/peer.h"
#include "protocols/mqtt/client.h"

static struct ev_loop *loop;
static uint64_t delivered;

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

static void count(void *arg, struct fb_mqtt_conn *c, const struct fb_mqtt_packet *p)
{
	(void)arg; (void)c; (void)p;
	delivered++;
}

static struct fb_mqtt_pool_config config(uint16_t port, uint8_t version)
{
	struct fb_mqtt_pool_config cfg;
	memset(&cfg, 0, sizeof cfg);
	fb_mqtt_resolve("127.0.0.1", port, &cfg.addr, &cfg.addrlen);
	cfg.version = version;
	cfg.keepalive_s = 60;
	cfg.inflight = 100;
	cfg.max_queued = 100000;
	cfg.connect_timeout_us = 30 * FB_US_PER_S;
	cfg.reconnect_min_us = 200 * FB_US_PER_MS;
	cfg.reconnect_max_us = 2 * FB_US_PER_S;
	cfg.reconnect_jitter = 0.5;
	return cfg;
}

static bool wait_up(struct fb_mqtt_pool *p, uint64_t n, double timeout)
{
	double end = mono_s() + timeout;
	while (fb_mqtt_pool_stats(p)->connections_up < n && mono_s() < end)
		ev_run(loop, EVRUN_ONCE);
	return fb_mqtt_pool_stats(p)->connections_up >= n;
}

static void idle_tick(struct ev_loop *l, ev_timer *w, int revents) { (void)l; (void)w; (void)revents; }

static void run(uint16_t port, unsigned nconn, uint8_t qos, double seconds)
{
	struct fb_mqtt_pool_config cfg = config(port, 4);
	struct fb_mqtt_callbacks cb = { .on_message = count };
	struct fb_mqtt_pool *sub = fb_mqtt_pool_new(loop, &cfg, &cb);
	struct fb_mqtt_conn_config sc = { .client_id = "bench-counter", .clean_start = true,
	                                  .subscribe = (const char *const[]){ "bench/#", NULL }, .subscribe_qos = qos };
	fb_mqtt_pool_add(sub, &sc, NULL);
	fb_mqtt_pool_start(sub);
	if (!wait_up(sub, 1, 10)) {
		fprintf(stderr, "mqtt bench: subscriber cannot connect\n");
		exit(1);
	}
	struct fb_mqtt_pool *pubs = fb_mqtt_pool_new(loop, &cfg, NULL);
	for (unsigned i = 0; i < nconn; i++) {
		char id[32];
		snprintf(id, sizeof id, "bench-%u-%u-%06u", nconn, qos, i);
		struct fb_mqtt_conn_config cc = { .index = i, .client_id = id, .clean_start = true };
		fb_mqtt_pool_add(pubs, &cc, NULL);
	}
	double t0 = mono_s();
	fb_mqtt_pool_start(pubs);
	if (!wait_up(pubs, nconn, 60)) {
		fprintf(stderr, "mqtt bench: %llu of %u connections up\n",
		        (unsigned long long)fb_mqtt_pool_stats(pubs)->connections_up, nconn);
		exit(1);
	}
	double t_up = mono_s() - t0;
	ev_timer tick;
	ev_timer_init(&tick, idle_tick, 0.001, 0.001);
	ev_timer_start(loop, &tick);
	/* 100-byte payload, like a JSON sample */
	uint8_t payload[100];
	memset(payload, 'x', sizeof payload);
	const uint64_t window = 20000;
	uint64_t sent = 0;
	unsigned next = 0;
	char topics[64][32];
	for (int i = 0; i < 64; i++)
		snprintf(topics[i], sizeof topics[i], "bench/%d", i);
	delivered = 0;
	double warm = mono_s() + 0.5;     /* warm-up: buffers grown, broker queues steady */
	while (mono_s() < warm) {
		while (sent - delivered < window) {
			fb_mqtt_publish(fb_mqtt_pool_conn(pubs, next), topics[next % 64], payload, sizeof payload, qos, false);
			next = (next + 1) % nconn;
			sent++;
		}
		ev_run(loop, EVRUN_ONCE);
	}
	uint64_t d0 = delivered;
	double start = mono_s(), end = start + seconds;
	while (mono_s() < end) {
		while (sent - delivered < window) {
			fb_mqtt_publish(fb_mqtt_pool_conn(pubs, next), topics[next % 64], payload, sizeof payload, qos, false);
			next = (next + 1) % nconn;
			sent++;
		}
		ev_run(loop, EVRUN_ONCE);
	}
	double rate = (double)(delivered - d0) / (mono_s() - start);
	ev_timer_stop(loop, &tick);
	printf("mqtt_delivered_qos%u_conn%u %.0f msg/s\n", qos, nconn, rate);
	(void)t_up;
	fflush(stdout);
	fb_mqtt_pool_free(pubs);
	fb_mqtt_pool_free(sub);
	/* let the broker see the closes before the next round */
	double settle = mono_s() + 0.3;
	while (mono_s() < settle)
		ev_run(loop, EVRUN_NOWAIT);
}

static void hold(uint16_t port, unsigned nconn)
{
	struct fb_mqtt_pool_config cfg = config(port, 4);
	long rss0 = rss_kib();
	struct fb_mqtt_pool *pool = fb_mqtt_pool_new(loop, &cfg, NULL);
	for (unsigned i = 0; i < nconn; i++) {
		char id[32];
		snprintf(id, sizeof id, "hold-%06u", i);
		struct fb_mqtt_conn_config cc = { .index = i, .client_id = id, .clean_start = true };
		fb_mqtt_pool_add(pool, &cc, NULL);
	}
	double t0 = mono_s();
	fb_mqtt_pool_start(pool);
	wait_up(pool, nconn, 120);
	double t = mono_s() - t0;
	uint64_t up = fb_mqtt_pool_stats(pool)->connections_up;
	long rss1 = rss_kib();
	printf("mqtt_connections_held %llu connections\n", (unsigned long long)up);
	printf("mqtt_connect_rate_conn%u %.0f conn/s\n", nconn, (double)up / t);
	printf("mqtt_memory_per_idle_connection %.0f bytes\n", (double)(rss1 - rss0) * 1024.0 / (double)(up ? up : 1));
	fflush(stdout);
	fb_mqtt_pool_free(pool);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	unsigned held = argc > 2 ? (unsigned)atoi(argv[2]) : 15000;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < held + 100)
		held = (unsigned)rl.rlim_max - 100;
	loop = ev_default_loop(EVBACKEND_EPOLL);
	char dir[256];
	if (fb_peer_tmpdir("fb-mqtt-bench", dir, sizeof dir))
		return 1;
	struct fb_mosquitto_opts o = { .dir = dir };
	struct fb_peer broker;
	if (fb_mosquitto_start(&broker, &o))
		return 1;
	/* memory first, in a fresh process */
	hold(o.port, held);
	static const unsigned sizes[] = { 1, 100, 1000, 10000 };
	for (int q = 0; q <= 1; q++)
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
			run(o.port, sizes[i], (uint8_t)q, seconds);
	fb_peer_stop(&broker, 10000);
	fb_peer_rmtree(dir);
	return 0;
}
