/* MQTT collector benchmark (run by harness/bench.sh): can the bench's MQTT collector keep up with
 * RATE messages/s on loopback, with zero loss, on less than half a core?
 *
 * A mosquitto on a free port; this process loads a scenario of D noise sensors (json codec,
 * per-site connections, QoS 1, interval 1 s) and runs the MQTT collector (harness/collect.h) on
 * its own loop, counting observations per device; `fleetbench run` publishes the scenario at
 * --speed x(RATE / D) in a child process. When the publisher has exited (its report gives the
 * number of samples sent), the collector gets up to 5 s more. Loss = samples sent minus distinct
 * (device, key) observed; the collector's CPU is this process's getrusage over the span from its
 * first to its last message. Prints `name value unit` lines.
 *
 * Usage: mqtt-collect-bench FLEETBENCH [rate] [seconds] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include <jansson.h>
#include "harness/collect.h"
#include "harness/peer.h"
#include "protocols/mqtt/transport.h"
#include "sim/scenario.h"

static struct {
	uint64_t observed, flagged, out_of_order, duplicates;
	uint64_t *last_key;           /* per device: newest key + 1 */
	double first_cpu, last_cpu, first_t, last_t;
} st;

/* The broker and the publisher are stopped by PID however the program ends. */
static struct fb_peer broker, pub;
static char dir[256];

static void cleanup(void)
{
	fb_peer_stop(&pub, 1000);
	fb_peer_stop(&broker, 2000);
	if (dir[0])
		fb_peer_rmtree(dir);
}

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

static void on_obs(void *arg, const struct fb_obs *o)
{
	(void)arg;
	if (!st.observed) {
		st.first_cpu = cpu_s();
		st.first_t = mono_s();
	}
	st.observed++;
	if ((st.observed & 1023) == 0) {
		st.last_cpu = cpu_s();
		st.last_t = mono_s();
	}
	if (o->flags || o->device == FB_OBS_NO_DEVICE) {
		st.flagged++;
		return;
	}
	/* one connection per site carries a device's messages in order: a key not above the last
	 * one is a duplicate (or reordered) */
	if (o->key + 1 <= st.last_key[o->device]) {
		st.duplicates++;
		return;
	}
	st.last_key[o->device] = o->key + 1;
}

static void tick(struct ev_loop *l, ev_timer *t, int revents)
{
	(void)l;
	(void)t;
	(void)revents;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: mqtt-collect-bench FLEETBENCH [rate] [seconds]\n");
		return 2;
	}
	const char *fleetbench = argv[1];
	unsigned rate = argc > 2 ? (unsigned)atoi(argv[2]) : 50000;
	unsigned seconds = argc > 3 ? (unsigned)atoi(argv[3]) : 10;
	unsigned devices = 5000, sites = 10;
	if (rate < devices)
		devices = rate;
	char path[512], report[512], yaml[4096];
	if (fb_peer_tmpdir("fb-collect-bench", dir, sizeof dir))
		return 1;
	atexit(cleanup);
	struct fb_mosquitto_opts mo = { .dir = dir };
	if (fb_mosquitto_start(&broker, &mo))
		return 1;
	int n = snprintf(yaml, sizeof yaml,
	                 "name: collect-bench\nseed: 3\nstart: 2026-06-01T00:00:00Z\nduration: %us\n"
	                 "sites:\n", seconds * (rate / devices));
	for (unsigned i = 0; i < sites; i++)
		n += snprintf(yaml + n, sizeof yaml - (size_t)n,
		              "  - {id: s%u, name: S%u, lat: 43.3, lon: 5.37, radius: 500m}\n", i, i);
	n += snprintf(yaml + n, sizeof yaml - (size_t)n,
	              "transports:\n  mqtt:\n    url: mqtt://127.0.0.1:%u\n    version: 5\n"
	              "    connection: per-site\n    topic: \"b/{site}/{device}\"\n    qos: 1\n"
	              "    inflight: 200\nfleets:\n", mo.port);
	for (unsigned i = 0; i < sites; i++)
		n += snprintf(yaml + n, sizeof yaml - (size_t)n,
		              "  - {type: noise, count: %u, site: s%u, transport: mqtt, codec: json, interval: 1s}\n",
		              devices / sites, i);
	snprintf(path, sizeof path, "%s/bench.yaml", dir);
	snprintf(report, sizeof report, "%s/report.json", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fputs(yaml, f);
	fclose(f);

	struct fb_load_opts lo = { .extra_params = fb_transport_mqtt.extra_params };
	struct fb_scenario *sc = fb_scenario_load(path, &lo);
	if (!sc)
		return 1;
	st.last_key = calloc(sc->ndevices, sizeof *st.last_key);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	/* FB_COLLECT_BENCH_IO_COLLECT=0.0005: libev gathers I/O for that long per turn (fewer
	 * wake-ups, each with more messages); the run's loop does not, so the default is 0 */
	const char *collect = getenv("FB_COLLECT_BENCH_IO_COLLECT");
	if (collect)
		ev_set_io_collect_interval(loop, atof(collect));
	ev_timer t;
	ev_timer_init(&t, tick, 0.01, 0.01);
	ev_timer_start(loop, &t);
	char url[64];
	snprintf(url, sizeof url, "mqtt://127.0.0.1:%u", mo.port);
	const struct fb_collector_ops *ops = fb_collector_find("mqtt");
	struct fb_collect_cfg cfg = { .url = url };
	struct fb_collect_env env = { .loop = loop, .scenario = sc, .first_device = 0,
	                              .device_count = (uint32_t)sc->ndevices, .sink = on_obs };
	struct fb_collector *c = ops ? ops->create(&env, &cfg) : NULL;
	if (!c || ops->start(c))
		return 1;
	double until = mono_s() + 10;
	while (!ops->ready(c) && mono_s() < until)
		ev_run(loop, EVRUN_ONCE);
	if (!ops->ready(c)) {
		fprintf(stderr, "mqtt collect bench: the collector is not ready\n");
		return 1;
	}
	char speed[32];
	snprintf(speed, sizeof speed, "x%u", rate / devices);
	const char *pargv[] = { fleetbench, "run", path, "--speed", speed, "--quiet", "--report", report, NULL };
	if (fb_peer_spawn(&pub, pargv, NULL))
		return 1;
	int status;
	while ((status = fb_peer_wait_exit(&pub, 0)) == -1 && pub.pid > 0)
		ev_run(loop, EVRUN_ONCE);
	json_error_t jerr;
	json_t *rep = json_load_file(report, 0, &jerr);
	uint64_t sent = rep ? (uint64_t)json_integer_value(json_object_get(rep, "samples")) : 0;
	double offered = rep ? json_number_value(json_object_get(rep, "samples_per_s")) : 0;
	json_decref(rep);
	if (status != 0 || !sent) {
		fprintf(stderr, "mqtt collect bench: the publisher failed (status %d)\n", status);
		return 1;
	}
	/* late messages: at most 5 s more */
	until = mono_s() + 5;
	while (st.observed < sent && mono_s() < until)
		ev_run(loop, EVRUN_ONCE);
	uint64_t distinct = st.observed - st.flagged - st.duplicates;
	double span = st.last_t - st.first_t;
	double cpu = span > 0 ? (st.last_cpu - st.first_cpu) / span : 0;
	/* the publisher falls short of the target when the machine is busy: both rates shown */
	printf("mqtt_collector_publisher_rate %.0f msg/s\n", offered);
	printf("mqtt_collector_rate %.0f msg/s\n", span > 0 ? (double)st.observed / span : 0);
	printf("mqtt_collector_loss %" PRId64 " messages (of %" PRIu64 ")\n", (int64_t)(sent - distinct), sent);
	printf("mqtt_collector_duplicates %" PRIu64 " messages\n", st.duplicates);
	printf("mqtt_collector_cpu %.2f cores\n", cpu);
	printf("mqtt_collector_cpu_at_%u %.2f cores\n", rate,
	       st.observed ? (st.last_cpu - st.first_cpu) / (double)st.observed * rate : 0);
	printf("mqtt_collector_cpu_per_msg %.2f us\n",
	       st.observed ? (st.last_cpu - st.first_cpu) * 1e6 / (double)st.observed : 0);
	ops->free(c);
	ev_loop_destroy(loop);
	fb_scenario_free(sc);
	free(st.last_key);
	return 0;
}
