/* The bench side of a run (harness/bench.h). */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness/bench.h"
#include "harness/collect.h"
#include "harness/peer.h"
#include "harness/recon.h"
#include "harness/report.h"
#include "harness/signals.h"
#include "protocols/modbus/layout.h"
#include "sim/ynode.h"
#include "sim/log.h"

#define MAX_COLLECTORS 4

struct fb_bench {
	struct ev_loop *loop;
	const struct fb_scenario *sc;
	struct fb_engine *e;
	struct fb_bench_opts o;
	fb_time_us (*wall_of)(void *, fb_time_us);
	void *wall_arg;
	uint32_t first, count;

	bool uses[3];                  /* mqtt, lorawan, modbus fleets present */
	char target[3][96];            /* --local targets */
	struct fb_peer broker;
	char broker_dir[64];

	struct fb_recon *recon;
	struct fb_collector *col[MAX_COLLECTORS];
	const struct fb_collector_ops *colops[MAX_COLLECTORS];
	size_t ncol;
	struct fb_collect_cfg cfg[MAX_COLLECTORS];

	/* Modbus: each Modbus device's latest values, for the poller's comparison */
	double *mb_values;
	size_t *mb_offset;             /* per device of this shard: offset into mb_values, or SIZE_MAX */

	struct fb_series *series;
	struct fb_signals *signals;
	fb_time_us drain_since;
	bool finished;
	bool failed;                   /* a collector could not start: the run fails (exit 1) */
};

static const char *const proto_name[3] = { "mqtt", "lorawan", "modbus" };

static int proto_of(const char *t)
{
	for (int i = 0; i < 3; i++)
		if (t && strcmp(t, proto_name[i]) == 0)
			return i;
	return -1;
}

static void on_sent(void *arg, const char *proto, const struct fb_sample *s, uint64_t key)
{
	struct fb_bench *b = arg;
	/* max mode: the event runs now (the loop's cached time may be a batch old) */
	fb_time_us sched = b->o.max_mode ? fb_wall_now_us() : b->wall_of(b->wall_arg, s->t);
	fb_recon_expect(b->recon, proto, s, key, sched);
}

static void on_obs(void *arg, const struct fb_obs *o)
{
	struct fb_bench *b = arg;
	fb_recon_observe(b->recon, o);
}

static void values_now(void *arg, uint32_t device, double *values)
{
	struct fb_bench *b = arg;
	if (device < b->first || device - b->first >= b->count || !b->mb_offset ||
	    b->mb_offset[device - b->first] == SIZE_MAX)
		return;
	const struct fb_fleet *f = fb_scenario_fleet_of(b->sc, device);
	if (f)
		memcpy(values, b->mb_values + b->mb_offset[device - b->first],
		       f->model->nfields * sizeof *values);
}

struct fb_bench *fb_bench_new(struct ev_loop *loop, const struct fb_scenario *sc, struct fb_engine *e,
                              const struct fb_bench_opts *o,
                              fb_time_us (*wall_of)(void *, fb_time_us), void *wall_arg)
{
	struct fb_bench *b = calloc(1, sizeof *b);
	if (!b) {
		fb_error("out of memory");
		return NULL;
	}
	b->loop = loop;
	b->sc = sc;
	b->e = e;
	b->o = *o;
	if (!b->o.grace)
		b->o.grace = 5 * FB_US_PER_S;
	b->wall_of = wall_of;
	b->wall_arg = wall_arg;
	b->first = fb_engine_first_device(e);
	b->count = fb_engine_device_count(e);
	b->series = fb_series_new(fb_wall_now_us());
	b->signals = fb_signals_new(sc, b->first, b->count, fb_engine_end(e) - fb_engine_now(e));
	if (!b->series || !b->signals) {
		fb_bench_free(b);
		fb_error("out of memory");
		return NULL;
	}
	for (size_t i = 0; i < sc->nfleets; i++) {
		int p = proto_of(sc->fleets[i].transport);
		if (p >= 0)
			b->uses[p] = true;
	}
	return b;
}

bool fb_bench_active(const struct fb_bench *b)
{
	return b && b->recon;
}

static int add_collector(struct fb_bench *b, const char *name, const struct fb_collect_cfg *cfg)
{
	const struct fb_collector_ops *ops = fb_collector_find(name);
	if (!ops)
		return fb_error("the %s collector is not built in this version", name);
	struct fb_collect_env env = {
		.loop = b->loop, .scenario = b->sc, .model = NULL,
		.first_device = b->first, .device_count = b->count,
		.sink = on_obs, .sink_arg = b,
		.wall_of = b->wall_of, .wall_arg = b->wall_arg,
		.values_now = values_now, .values_arg = b,
	};
	b->cfg[b->ncol] = *cfg;
	struct fb_collector *c = ops->create(&env, &b->cfg[b->ncol]);
	if (!c)
		return -1;
	b->colops[b->ncol] = ops;
	b->col[b->ncol++] = c;
	if (ops->start && ops->start(c))
		return -1;
	return 0;
}

static int setup_modbus_values(struct fb_bench *b)
{
	size_t n = b->count ? b->count : 1, total = 0;
	b->mb_offset = malloc(n * sizeof *b->mb_offset);
	if (!b->mb_offset)
		return fb_error("out of memory");
	for (size_t i = 0; i < n; i++)
		b->mb_offset[i] = SIZE_MAX;
	for (size_t i = 0; i < b->sc->nfleets; i++) {
		const struct fb_fleet *f = &b->sc->fleets[i];
		if (proto_of(f->transport) != 2)
			continue;
		for (uint32_t g = f->first; g < f->first + f->count; g++)
			if (g >= b->first && g - b->first < b->count) {
				b->mb_offset[g - b->first] = total;
				total += f->model->nfields;
			}
	}
	b->mb_values = malloc((total ? total : 1) * sizeof *b->mb_values);
	if (!b->mb_values)
		return fb_error("out of memory");
	for (size_t i = 0; i < total; i++)
		b->mb_values[i] = NAN;       /* no sample yet: what the device holds too */
	return 0;
}

/* Whether a listener could bind PORT: probed with SO_REUSEADDR, as the Modbus server binds, so
 * a port with old connections in TIME_WAIT counts as free (it is, for a listener). */
static bool tcp_port_free(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0)
		return false;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* --local Modbus: the devices take consecutive ports from the first (one per 247 units, or one
 * per device), so find a first port whose whole run is free. 0 if none after a few tries. */
static uint16_t modbus_ports(struct fb_bench *b)
{
	struct fb_mb_layout l;
	fb_mb_layout_defaults(&l);
	const struct fb_ynode *cfg = b->sc->transports ? fb_ynode_get(b->sc->transports, "modbus") : NULL;
	if (fb_mb_layout_read(&l, cfg))
		return 0;
	uint64_t n = 0;
	for (size_t i = 0; i < b->sc->nfleets; i++)
		if (proto_of(b->sc->fleets[i].transport) == 2)
			n += b->sc->fleets[i].count;
	size_t last_index = 0;
	uint8_t unit;
	if (n)
		fb_mb_layout_place(&l, n - 1, &last_index, &unit);
	for (int attempt = 0; attempt < 200; attempt++) {
		uint16_t first = fb_peer_free_port(SOCK_STREAM);
		if (!first || (uint64_t)first + last_index > 65535)
			continue;
		bool all = true;
		for (size_t k = 1; all && k <= last_index; k++)
			all = tcp_port_free(first + (unsigned)k);
		if (all)
			return first;
	}
	return 0;
}

int fb_bench_prepare(struct fb_bench *b)
{
	if (!b->o.local && !b->o.collect_url && !b->o.collect_lorawan_url)
		return 0;
	if (!(b->recon = fb_recon_new(b->sc, b->first, b->count)))
		return -1;
	if (b->o.local && b->uses[0]) {
		snprintf(b->broker_dir, sizeof b->broker_dir, "/tmp/fleetbench-broker-XXXXXX");
		if (!mkdtemp(b->broker_dir))
			return fb_error("cannot create a directory for the local broker: %s", strerror(errno));
		/* unbounded queues and in-flight windows: the collector's QoS 1 subscription must not
		 * lose messages to the broker's defaults (1 000 queued, 20 in flight) */
		struct fb_mosquitto_opts mo = {
			.dir = b->broker_dir,
			.extra = "max_queued_messages 0\nmax_inflight_messages 0\nmax_queued_bytes 0"
		};
		if (fb_mosquitto_start(&b->broker, &mo))
			return fb_error("cannot start the local mosquitto broker (is the 'mosquitto' package "
			                "installed? ci/deps.sh installs it)");
		snprintf(b->target[0], sizeof b->target[0], "mqtt://127.0.0.1:%u", mo.port);
		if (!b->o.quiet)
			fb_info("--local: mosquitto (pid %d) on 127.0.0.1:%u", (int)b->broker.pid, mo.port);
	}
	if (b->o.local && b->uses[1]) {
		uint16_t port = fb_peer_free_port(SOCK_DGRAM);
		if (!port)
			return fb_error("no free UDP port on 127.0.0.1 for the network-server endpoint");
		snprintf(b->target[1], sizeof b->target[1], "127.0.0.1:%u", port);
	}
	if (b->o.local && b->uses[2]) {
		uint16_t port = modbus_ports(b);
		if (!port)
			return fb_error("no run of free TCP ports on 127.0.0.1 for the Modbus devices");
		snprintf(b->target[2], sizeof b->target[2], "127.0.0.1:%u", port);
	}
	if (b->uses[0] && (b->o.local || b->o.collect_url)) {
		struct fb_collect_cfg cfg = {
			.url = b->o.collect_url ? b->o.collect_url : b->target[0],
			.topic_filter = b->o.collect_topic,
			.ca = b->o.collect_ca, .cert = b->o.collect_cert, .key = b->o.collect_key,
		};
		if (add_collector(b, "mqtt", &cfg))
			return -1;
	}
	if (b->uses[1] && b->o.local) {
		struct fb_collect_cfg cfg = { .listen = b->target[1] };
		if (add_collector(b, "lorawan", &cfg))
			return -1;
	}
	if (b->uses[1] && b->o.collect_lorawan_url) {
		struct fb_collect_cfg cfg = {
			.url = b->o.collect_lorawan_url, .topic_filter = b->o.collect_lorawan_topic,
			.ca = b->o.collect_ca, .cert = b->o.collect_cert, .key = b->o.collect_key,
		};
		if (add_collector(b, "lorawan-ns", &cfg))
			return -1;
	}
	return 0;
}

/* The Modbus poller connects to the devices, so it starts after the transports listen. */
static int start_late_collectors(struct fb_bench *b)
{
	if (b->uses[2] && b->o.local && !b->mb_offset) {
		if (setup_modbus_values(b))
			return -1;
		struct fb_collect_cfg cfg = { .target = b->target[2] };
		if (add_collector(b, "modbus", &cfg))
			return -1;
	}
	return 0;
}

void fb_bench_env(struct fb_bench *b, const char *transport, struct fb_transport_env *env)
{
	if (!b || !b->recon)
		return;
	int p = proto_of(transport);
	/* against a real platform, only the protocols a collector receives are expected (a
	 * --collect-lorawan run does not count its MQTT fleets' messages lost, nor --collect its
	 * LoRaWAN fleets') */
	if (!b->o.local && ((p == 0 && !b->o.collect_url) || (p == 1 && !b->o.collect_lorawan_url)))
		return;
	env->sent = on_sent;
	env->sent_arg = b;
	if (p >= 0 && b->target[p][0])
		env->target = b->target[p];
}

bool fb_bench_ready(struct fb_bench *b)
{
	if (!b || !b->recon)
		return true;
	if (!b->failed && start_late_collectors(b))
		b->failed = true;    /* printed; the run stops with exit 1 */
	if (b->failed)
		return true;
	for (size_t i = 0; i < b->ncol; i++)
		if (b->colops[i]->ready && !b->colops[i]->ready(b->col[i]))
			return false;
	return true;
}

void fb_bench_sample(struct fb_bench *b, const struct fb_sample *s)
{
	if (b->signals)
		fb_signals_add(b->signals, s);
	if (b->mb_offset && s->device >= b->first && s->device - b->first < b->count) {
		size_t off = b->mb_offset[s->device - b->first];
		if (off != SIZE_MAX)
			memcpy(b->mb_values + off, s->values, s->model->nfields * sizeof *s->values);
	}
}

void fb_bench_tick(struct fb_bench *b, uint64_t sent_total, double lag_s)
{
	if (!b->series && !(b->series = fb_series_new(fb_wall_now_us())))
		return;
	uint64_t recv = b->recon ? fb_recon_received_total(b->recon) : 0;
	uint64_t err = b->recon ? fb_recon_errors_total(b->recon) : 0;
	fb_series_tick(b->series, fb_wall_now_us(), sent_total, recv, err, lag_s);
}

bool fb_bench_drain(struct fb_bench *b)
{
	if (!b || !b->recon)
		return true;
	fb_time_us now = fb_wall_now_us();
	if (!b->drain_since)
		b->drain_since = now;
	bool done = fb_recon_outstanding(b->recon) == 0;
	fb_time_us left = b->o.grace - (now - b->drain_since);
	for (size_t i = 0; i < b->ncol; i++)
		if (b->colops[i]->drain && !b->colops[i]->drain(b->col[i], left > 0 ? left : 0))
			done = false;
	return done || left <= 0;
}

void fb_bench_finish(struct fb_bench *b)
{
	if (b && b->recon && !b->finished) {
		b->finished = true;
		fb_recon_finish(b->recon);
	}
}

void fb_bench_summary(struct fb_bench *b, FILE *out)
{
	if (!b || !b->recon)
		return;
	fb_recon_summary(b->recon, out);
	for (size_t i = 0; i < b->ncol; i++)
		if (b->colops[i]->summary)
			b->colops[i]->summary(b->col[i], out);
}

static json_int_t key_int(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

/* Adds "transport_errors" to bench.protocols.<p> (the protocols the run reconciles) and to
 * bench.total, from the "errors" each transport states in the run report's "transports". */
static void add_transport_errors(json_t *bench, const json_t *rep)
{
	const json_t *trs = json_object_get(rep, "transports");
	json_t *protos = json_object_get(bench, "protocols");
	json_int_t total = 0;
	const char *name;
	const json_t *t;
	json_object_foreach((json_t *)trs, name, t) {
		json_int_t n = key_int(t, "errors");
		json_t *counts = json_object_get(protos, name);
		if (json_is_object(counts))
			json_object_set_new(counts, "transport_errors",
			                    json_integer(key_int(counts, "transport_errors") + n));
		total += n;
	}
	json_t *all = json_object_get(bench, "total");
	if (json_is_object(all))
		json_object_set_new(all, "transport_errors", json_integer(total));
}

void fb_bench_report(struct fb_bench *b, json_t *rep)
{
	if (!b)
		return;
	if (b->series)
		json_object_set_new(rep, "series", fb_series_report(b->series));
	if (b->signals)
		json_object_set_new(rep, "signals", fb_signals_report(b->signals));
	if (!b->recon)
		return;
	json_t *bench = fb_recon_report(b->recon);
	json_t *cols = json_object();
	for (size_t i = 0; i < b->ncol; i++)
		if (b->colops[i]->report)
			json_object_set_new(cols, b->colops[i]->name, b->colops[i]->report(b->col[i]));
	json_object_set_new(bench, "collectors", cols);
	add_transport_errors(bench, rep);
	/* the network-server endpoint counts joins: lift them next to the counts */
	json_t *lw = json_object_get(cols, "lorawan");
	json_t *joins = lw ? json_object_get(lw, "joins") : NULL;
	if (joins)
		json_object_set(bench, "joins", joins);
	json_object_set_new(rep, "bench", bench);
}

bool fb_bench_failed(const struct fb_bench *b)
{
	return b && b->failed;
}

struct fb_recon *fb_bench_recon(struct fb_bench *b)
{
	return b ? b->recon : NULL;
}

void fb_bench_free(struct fb_bench *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->ncol; i++)
		b->colops[i]->free(b->col[i]);
	if (b->broker.pid > 0)
		fb_peer_stop(&b->broker, 2000);
	if (b->broker_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "%s/mosquitto.conf", b->broker_dir);
		unlink(cmd);
		snprintf(cmd, sizeof cmd, "%s/mosquitto.log", b->broker_dir);
		unlink(cmd);
		rmdir(b->broker_dir);
	}
	fb_recon_free(b->recon);
	free(b->mb_values);
	free(b->mb_offset);
	fb_series_free(b->series);
	fb_signals_free(b->signals);
	free(b);
}
