/* MQTT client benchmark (run by protocols/mqtt/bench.sh): a mosquitto on a free loopback port, a
 * subscriber counting deliveries in a process of its own (this program with `count PORT QOS`,
 * printing its count every 20 ms), N publisher connections flooding 100-byte payloads at QoS 0 or
 * 1 with at most `window` messages between publish and delivery (closed loop, so the broker's
 * queues stay bounded). Every loader (ours, MQTT.js, mosquitto_pub) is measured with the same
 * counter process. Prints `name value unit` lines. */
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

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
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

/* ---- the counter process and reading its count ---- */

static struct fb_peer counter;
/* Each measurement publishes under its own topic prefix "b<run_id>/": a loader stopped with
 * messages still in the broker's socket buffers (mosquitto_pub -l floods open loop) cannot
 * inflate the next measurement's count. */
static unsigned run_id;
static ev_timer count_timer;

static uint64_t read_count(void)
{
	FILE *f = fopen(counter.log_path, "r");
	if (!f)
		return delivered;
	char buf[256];
	fseek(f, 0, SEEK_END);
	long size = ftell(f), from = size > 200 ? size - 200 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* the last complete "count N" line */
	char *end = strrchr(buf, '\n');
	if (!end)
		return delivered;
	*end = 0;
	char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	unsigned long long v;
	if (sscanf(line, "count %llu", &v) == 1)
		return v;
	return delivered;
}

static void count_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l; (void)w; (void)revents;
	delivered = read_count();
}

static void start_counter(uint16_t port, uint8_t qos)
{
	char p[8], q[4], filter[32];
	run_id++;
	snprintf(p, sizeof p, "%u", port);
	snprintf(q, sizeof q, "%u", qos);
	snprintf(filter, sizeof filter, "b%u/#", run_id);
	const char *argv[] = { "/proc/self/exe", "count", p, q, filter, NULL };
	if (fb_peer_spawn(&counter, argv, NULL) || fb_peer_wait_line(&counter, "ready", NULL, 0, 10000))
		exit(1);
	delivered = 0;
	ev_timer_init(&count_timer, count_cb, 0.01, 0.01);
	ev_timer_start(loop, &count_timer);
}

static void stop_counter(void)
{
	ev_timer_stop(loop, &count_timer);
	fb_peer_stop(&counter, 2000);
	unlink(counter.log_path);
}

static void print_count(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l; (void)w; (void)revents;
	printf("count %llu\n", (unsigned long long)delivered);
	fflush(stdout);
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
	start_counter(port, qos);
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
		snprintf(topics[i], sizeof topics[i], "b%u/%d", run_id, i);
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
	double cpu0 = cpu_s();
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
	double cpu = cpu_s() - cpu0;
	printf("mqtt_delivered_qos%u_conn%u %.0f msg/s\n", qos, nconn, rate);
	/* the loader's own CPU (user + system) per delivered message: what it takes from the
	 * broker on a shared machine, less noisy than the rate */
	if (delivered > d0)
		printf("mqtt_client_cpu_qos%u_conn%u %.2f us/msg\n", qos, nconn, cpu * 1e6 / (double)(delivered - d0));
	(void)t_up;
	fflush(stdout);
	fb_mqtt_pool_free(pubs);
	stop_counter();
	/* let the broker see the closes before the next round */
	double settle = mono_s() + 0.3;
	while (mono_s() < settle)
		ev_run(loop, EVRUN_NOWAIT);
}

/* The same measurement with another loader as the publisher: `nprocs` copies of a shell command
 * (the MQTT.js loader in ci/oracles, or mosquitto_pub -l fed by yes). */
static void run_peer(uint16_t port, const char *name, unsigned nconn, uint8_t qos, double seconds,
                     const char *cmd_fmt, unsigned nprocs, const char *ready_line)
{
	start_counter(port, qos);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, cmd_fmt, run_id);
	ev_timer tick;
	ev_timer_init(&tick, idle_tick, 0.001, 0.001);
	ev_timer_start(loop, &tick);
	struct fb_peer *peers = calloc(nprocs, sizeof *peers);
	unsigned started = 0;
	for (unsigned i = 0; i < nprocs; i++) {
		const char *argv[] = { "sh", "-c", cmd, NULL };
		if (fb_peer_spawn(&peers[i], argv, NULL) == 0)
			started++;
	}
	bool ok = started == nprocs;
	if (ok && ready_line)
		ok = fb_peer_wait_line(&peers[0], ready_line, NULL, 0, 120000) == 0;
	double until = mono_s() + 60;
	while (ok && delivered == 0 && mono_s() < until)
		ev_run(loop, EVRUN_ONCE);
	double warm = mono_s() + 0.5;
	while (mono_s() < warm)
		ev_run(loop, EVRUN_ONCE);
	uint64_t d0 = delivered;
	double start = mono_s(), end = start + seconds;
	while (mono_s() < end)
		ev_run(loop, EVRUN_ONCE);
	double rate = (double)(delivered - d0) / (mono_s() - start);
	for (unsigned i = 0; i < nprocs; i++) {
		fb_peer_stop(&peers[i], 2000);
		unlink(peers[i].log_path);
	}
	free(peers);
	ev_timer_stop(loop, &tick);
	if (ok && delivered)
		printf("mqtt_delivered_qos%u_conn%u_%s %.0f msg/s\n", qos, nconn, name, rate);
	else
		printf("mqtt_delivered_qos%u_conn%u_%s 0 msg/s\n", qos, nconn, name);
	fflush(stdout);
	stop_counter();
	/* an open-loop flood leaves a backlog in the broker: let it drain before the next point */
	double settle = mono_s() + 2;
	while (mono_s() < settle)
		ev_run(loop, EVRUN_NOWAIT);
}

static void peers(uint16_t port, double seconds, unsigned max_mqttjs)
{
	static const unsigned sizes[] = { 1, 100, 1000, 10000 };
	char cmd[1024];
	for (unsigned q = 0; q <= 1; q++)
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
			if (sizes[i] <= max_mqttjs) {
				snprintf(cmd, sizeof cmd, "exec node ci/oracles/mqtt-load.js mqtt://127.0.0.1:%u %u %u %.0f b%%u",
				         port, sizes[i], q, seconds + 70);
				run_peer(port, "mqttjs", sizes[i], (uint8_t)q, seconds, cmd, 1, "connected");
			}
	/* mosquitto_pub -l: one process per connection, an open-loop flood that leaves a backlog in
	 * the broker, so it goes last, smallest first */
	for (size_t i = 0; i < 2; i++)
		for (unsigned q = 0; q <= 1; q++) {
			snprintf(cmd, sizeof cmd, "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | mosquitto_pub -h 127.0.0.1 -p %u -q %u -t b%%u/m -l",
			         port, q);
			run_peer(port, "mosquitto_pub", sizes[i], (uint8_t)q, seconds, cmd, sizes[i], NULL);
		}
}

static void hold(uint16_t port, unsigned nconn)
{
	struct fb_mqtt_pool_config cfg = config(port, 4);
	/* a ramp: 15 000 SYNs at once overflow the broker's listen backlog, and the retransmitted
	 * SYNs (1 s, 3 s) make the whole slower than a steady rate */
	cfg.connect_rate = 4000;
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

static int counter_main(uint16_t port, uint8_t qos, const char *filter)
{
	loop = ev_default_loop(EVBACKEND_EPOLL);
	/* the counter (one QoS 1 subscriber: a PUBACK per message) batches per 0.5 ms too, else its
	 * PUBACKs reach the broker one or two per write and cost the broker, whatever the loader */
	const char *collect = getenv("FB_MQTT_BENCH_COLLECT");
	ev_set_io_collect_interval(loop, collect ? atof(collect) : 0.0005);
	struct fb_mqtt_pool_config cfg = config(port, 4);
	struct fb_mqtt_callbacks cb = { .on_message = count };
	struct fb_mqtt_pool *sub = fb_mqtt_pool_new(loop, &cfg, &cb);
	char id[32];
	snprintf(id, sizeof id, "bench-counter-%s", filter);
	id[strcspn(id, "/")] = 0;
	struct fb_mqtt_conn_config sc = { .client_id = id, .clean_start = true,
	                                  .subscribe = (const char *const[]){ filter, NULL }, .subscribe_qos = qos };
	fb_mqtt_pool_add(sub, &sc, NULL);
	fb_mqtt_pool_start(sub);
	if (!wait_up(sub, 1, 10))
		return 1;
	double settle = mono_s() + 0.1;    /* the SUBACK */
	while (mono_s() < settle)
		ev_run(loop, EVRUN_NOWAIT);
	printf("ready\n");
	fflush(stdout);
	ev_timer t;
	ev_timer_init(&t, print_count, 0.02, 0.02);
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "count"))
		return counter_main((uint16_t)atoi(argv[2]), (uint8_t)atoi(argv[3]), argv[4]);
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	unsigned held = argc > 2 ? (unsigned)atoi(argv[2]) : 15000;
	unsigned max_mqttjs = argc > 3 ? (unsigned)atoi(argv[3]) : 1000;   /* 0: no peer loaders */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < held + 100)
		held = (unsigned)rl.rlim_max - 100;
	loop = ev_default_loop(EVBACKEND_EPOLL);
	/* The loader's loop collects I/O for 0.5 ms per turn (FB_MQTT_BENCH_COLLECT=seconds to
	 * change, 0 for none). Without it, at QoS 1 the loop turns as fast as acks trickle in: each
	 * turn reads one or two PUBACKs per connection and writes one or two PUBLISHes, so both
	 * this process and the broker pay a syscall per message or so (measured: 1.8 messages per
	 * send with 1 connection). Collecting batches reads, refills and sends per turn. */
	const char *collect = getenv("FB_MQTT_BENCH_COLLECT");
	double collect_s = collect ? atof(collect) : 0.0005;
	ev_set_io_collect_interval(loop, collect_s);
	printf("mqtt_bench_io_collect_interval %.2f ms\n", collect_s * 1e3);
	char dir[256];
	if (fb_peer_tmpdir("fb-mqtt-bench", dir, sizeof dir))
		return 1;
	struct fb_mosquitto_opts o = { .dir = dir };
	struct fb_peer broker;
	if (fb_mosquitto_start(&broker, &o))
		return 1;
	/* FB_MQTT_BENCH_POINT=QOS:CONNECTIONS measures that one point only (for profiling);
	 * QOS:CONNECTIONS:mqttjs then the MQTT.js loader at the same point */
	const char *point = getenv("FB_MQTT_BENCH_POINT");
	unsigned pq, pn;
	if (point && sscanf(point, "%u:%u", &pq, &pn) == 2 && pq <= 1 && pn > 0) {
		run(o.port, pn, (uint8_t)pq, seconds);
		if (strstr(point, ":mqttjs")) {
			char cmd[1024];
			snprintf(cmd, sizeof cmd, "exec node ci/oracles/mqtt-load.js mqtt://127.0.0.1:%u %u %u %.0f b%%u",
			         o.port, pn, pq, seconds + 70);
			run_peer(o.port, "mqttjs", pn, (uint8_t)pq, seconds, cmd, 1, "connected");
		}
		fb_peer_stop(&broker, 10000);
		fb_peer_rmtree(dir);
		return 0;
	}
	/* memory first, in a fresh process */
	hold(o.port, held);
	static const unsigned sizes[] = { 1, 100, 1000, 10000 };
	for (int q = 0; q <= 1; q++)
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
			run(o.port, sizes[i], (uint8_t)q, seconds);
	if (max_mqttjs)
		peers(o.port, seconds, max_mqttjs);
	fb_peer_stop(&broker, 10000);
	fb_peer_rmtree(dir);
	return 0;
}
