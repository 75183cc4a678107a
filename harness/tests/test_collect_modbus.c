/* The Modbus poller (harness/collect_modbus.c) against the Modbus transport, in process, paced
 * at x50 (a Modbus fleet needs a now):
 *  - gateway layout with 2 units per port (3 ports): every poll of every device completes, each
 *    value read equals one of the device's samples (checked here against the samples the engine
 *    produced, independently of the poller's own comparison with values_now), and the poller
 *    found no wrong value;
 *  - a values_now() that lies about one device: its polls are flagged FB_OBS_WRONG_VALUE;
 *  - validate mode: unit 200 on the same port (absent): FB_OBS_EXCEPTION naming exception 0B;
 *    a peer that accepts the connection and never answers: FB_OBS_TIMEOUT; a port nobody
 *    listens on: connection failures counted, polls time out, nothing stalls;
 *  - validate mode against a street light serving CDAB: read with --order CDAB, every poll is
 *    clean (its identity registers, which name a simulated device, are not compared) and reads
 *    one of the device's samples; read as ABCD, the values are not the device's, and the
 *    float32 copies of its fields disagree with the scaled integer ones (flagged). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "harness/collect_modbus.h"
#include "protocols/modbus/layout.h"
#include "protocols/transport.h"
#include "sim/engine.h"

#define SPEED 50.0
#define MAX_SAMPLES 8192
#define MAX_OBS 8192

struct sample_rec { uint32_t device; double values[FB_MAX_FIELDS]; };

struct obs_rec {
	uint32_t device;
	uint64_t key;
	uint32_t flags;
	uint64_t present;
	double values[FB_MAX_FIELDS], tol[FB_MAX_FIELDS];
	fb_time_us ts, recv;
	char detail[96];
};

struct world {
	struct fb_scenario *sc;
	struct fb_engine *e;
	const struct fb_transport_ops *ops;
	struct fb_transport *t;
	fb_time_us wall0;
	double latest[64][FB_MAX_FIELDS];
	struct sample_rec *samples;
	size_t nsamples;
	struct obs_rec *obs;
	size_t nobs;
	int32_t lie_device;
};

static struct ev_loop *loop;

static fb_time_us wall_of(void *arg, fb_time_us v)
{
	struct world *w = arg;
	return w->wall0 + (fb_time_us)((double)(v - w->sc->start) / SPEED);
}

static void values_now(void *arg, uint32_t device, double *values)
{
	struct world *w = arg;
	const struct fb_fleet *f = fb_scenario_fleet_of(w->sc, device);
	memcpy(values, w->latest[device], f->model->nfields * sizeof(double));
	if ((int32_t)device == w->lie_device)
		values[2] += 5;
}

static void on_sample(void *arg, const struct fb_sample *s)
{
	struct world *w = arg;
	memcpy(w->latest[s->device], s->values, s->model->nfields * sizeof(double));
	if (w->nsamples < MAX_SAMPLES) {
		w->samples[w->nsamples].device = s->device;
		memcpy(w->samples[w->nsamples].values, s->values, s->model->nfields * sizeof(double));
		w->nsamples++;
	}
	w->ops->send(w->t, s);
}

static void on_obs(void *arg, const struct fb_obs *o)
{
	struct world *w = arg;
	assert_string_equal(o->proto, "modbus");
	assert_true(w->nobs < MAX_OBS);
	struct obs_rec *r = &w->obs[w->nobs++];
	r->device = o->device;
	r->key = o->key;
	r->flags = o->flags;
	r->present = o->present;
	r->ts = o->ts;
	r->recv = o->recv_wall;
	snprintf(r->detail, sizeof(r->detail), "%s", o->detail ? o->detail : "");
	for (unsigned i = 0; i < o->nvalues; i++) {
		r->values[i] = o->values[i];
		r->tol[i] = o->tolerance[i];
	}
}

static void spin(double seconds)
{
	ev_tstamp end = ev_time() + seconds;
	do {
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		usleep(500);
		ev_now_update(loop);
	} while (ev_time() < end);
}

/* n consecutive free TCP ports on loopback (bound once to be sure, then released). The probes
 * bind with SO_REUSEADDR, as the servers do: a port whose old connections linger in TIME_WAIT
 * (many of them while the rest of the suite runs) is free for a listener. */
static int free_ports(int n)
{
	for (int attempt = 0; attempt < 500; attempt++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t al = sizeof(a);
		bind(s, (struct sockaddr *)&a, sizeof(a));
		getsockname(s, (struct sockaddr *)&a, &al);
		int base = ntohs(a.sin_port);
		close(s);
		bool ok = base + n < 65536;
		for (int k = 0; ok && k < n; k++) {
			int t = socket(AF_INET, SOCK_STREAM, 0), one = 1;
			struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(base + k)),
			                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			ok = bind(t, (struct sockaddr *)&b, sizeof(b)) == 0;
			close(t);
		}
		if (ok)
			return base;
	}
	fail();
	return -1;
}

static const char *const yaml =
	"name: collect-modbus\n"
	"seed: 23\n"
	"start: 2026-06-01T21:30:00+02:00\n"
	"duration: 6m\n"
	"sites:\n"
	"  - {id: port, name: \"Vieux-Port\", lat: 43.2951, lon: 5.3744, radius: 300m}\n"
	"transports:\n"
	"  modbus:\n"
	"    listen: 127.0.0.1:9\n"
	"    layout: gateway\n"
	"    units_per_port: 2\n"
	"fleets:\n"
	"  - {type: noise, count: 3, site: port, interval: 30s, transport: modbus}\n"
	"  - {type: streetlight, count: 2, site: port, interval: 30s, transport: modbus,\n"
	"     params: {modbus: {word_order: CDAB}}}\n"
	"  - {type: waste, count: 1, site: port, interval: 60s, transport: modbus}\n";

static struct world *world_new(char *path, char *target)
{
	struct world *w = calloc(1, sizeof(*w));
	w->samples = calloc(MAX_SAMPLES, sizeof(*w->samples));
	w->obs = calloc(MAX_OBS, sizeof(*w->obs));
	w->lie_device = -1;
	strcpy(path, "/tmp/fb-collect-mb-XXXXXX");
	int fd = mkstemp(path);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	static const char *const extra[] = { "modbus", NULL };
	struct fb_load_opts lo = { .extra_params = extra };
	w->sc = fb_scenario_load(path, &lo);
	assert_non_null(w->sc);
	w->e = fb_engine_new(w->sc, 0, 1, w->sc->start, w->sc->duration);
	assert_non_null(w->e);
	fb_engine_set_sink(w->e, on_sample, w);
	for (size_t i = 0; i < 64; i++)
		for (int f = 0; f < FB_MAX_FIELDS; f++)
			w->latest[i][f] = NAN;
	w->wall0 = fb_wall_now_us();
	snprintf(target, 32, "127.0.0.1:%d", free_ports(3));
	w->ops = fb_transport_find("modbus");
	struct fb_transport_env tenv = {
		.loop = loop, .engine = w->e, .scenario = w->sc, .shard_count = 1, .wall_of = wall_of,
		.wall_arg = w, .target = target,
	};
	w->t = w->ops->create(&tenv, fb_ynode_get(w->sc->transports, "modbus"));
	assert_non_null(w->t);
	assert_int_equal(w->ops->start(w->t), 0);
	return w;
}

/* The engine at x50 from wall0, never past the transport's hold; sockets served meanwhile. */
static void run_engine(struct world *w, struct fb_collector *extra)
{
	ev_tstamp end = ev_time() + 30;
	while (fb_engine_next_time(w->e) != FB_TIME_NEVER && ev_time() < end) {
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		ev_now_update(loop);
		fb_time_us virt = w->sc->start + (fb_time_us)((double)(fb_wall_now_us() - w->wall0) * SPEED);
		fb_time_us hold = w->ops->hold_until(w->t);
		fb_time_us limit = virt < hold ? virt : hold;
		while (fb_engine_next_time(w->e) < limit)
			fb_engine_run(w->e, limit, 1);
		usleep(300);
	}
	assert_true(fb_engine_next_time(w->e) == FB_TIME_NEVER);
}

static void world_free(struct world *w, const char *path)
{
	w->ops->free(w->t);
	fb_engine_free(w->e);
	fb_scenario_free(w->sc);
	unlink(path);
	free(w->samples);
	free(w->obs);
	free(w);
}

static void test_polls_read_the_models_values(void **state)
{
	char path[64], target[32];
	struct world *w = world_new(path, target);
	w->lie_device = 4;                   /* the second street light: its polls must be flagged */
	struct fb_collect_env env = {
		.loop = loop, .scenario = w->sc, .first_device = 0, .device_count = (uint32_t)w->sc->ndevices,
		.sink = on_obs, .sink_arg = w, .wall_of = wall_of, .wall_arg = w, .values_now = values_now,
		.values_arg = w,
	};
	struct fb_collect_cfg cfg = { .target = target };
	const struct fb_collector_ops *ops = fb_collector_find("modbus");
	assert_ptr_equal(ops, &fb_collector_modbus);
	struct fb_collector *c = ops->create(&env, &cfg);
	assert_non_null(c);
	assert_int_equal(ops->start(c), 0);
	ev_tstamp end = ev_time() + 3;
	while (!ops->ready(c) && ev_time() < end)
		spin(0.001);
	assert_true(ops->ready(c));
	run_engine(w, c);
	end = ev_time() + 5;
	while (!ops->drain(c, 2 * FB_US_PER_S) && ev_time() < end)
		spin(0.001);

	const struct fb_mb_poll_counters *k = fb_collector_modbus_counters(c);
	/* 6 virtual minutes at x50 = 7.2 s of polls every 0.6 s (1.2 s for the bin) */
	assert_true(k->polls >= 5 * 10 + 5);
	assert_int_equal(k->timeouts + k->exceptions + k->bad_fields + k->late_replies, 0);
	assert_int_equal(k->connects, 3);
	assert_int_equal(w->nobs, k->polls);
	unsigned checked = 0, full = 0, lied = 0;
	uint64_t next_key[6] = { 0 };
	for (size_t i = 0; i < w->nobs; i++) {
		const struct obs_rec *o = &w->obs[i];
		assert_true(o->device < 6);
		assert_int_equal(o->key, next_key[o->device]++);    /* poll numbers 0, 1, 2, ... */
		assert_true(o->recv >= o->ts);
		if (o->device == 4) {
			/* the lie shows as soon as the device has a value */
			if (o->present) {
				assert_int_equal(o->flags, FB_OBS_WRONG_VALUE);
				lied++;
			}
			continue;
		}
		assert_int_equal(o->flags, 0);
		if (!o->present)
			continue;                    /* before the device's first sample */
		const struct fb_model *m = fb_scenario_fleet_of(w->sc, o->device)->model;
		full += o->present == ((uint64_t)1 << m->nfields) - 1;
		/* what was read is one of the samples the engine gave the device */
		bool match = false;
		for (size_t s = 0; s < w->nsamples && !match; s++) {
			if (w->samples[s].device != o->device)
				continue;
			bool all = true;
			for (unsigned f = 0; f < m->nfields && all; f++)
				if ((o->present >> f) & 1)
					all = fabs(o->values[f] - w->samples[s].values[f]) <= o->tol[f] + 1e-9;
			match = all;
		}
		if (!match)
			fprintf(stderr, "device %u poll %llu matches none of its samples\n", o->device,
			        (unsigned long long)o->key);
		assert_true(match);
		checked++;
	}
	assert_true(checked >= 4 * 8);
	assert_true(full >= 4 * 8);
	assert_true(lied >= 8);
	assert_int_equal(k->wrong_values, lied);
	json_t *r = ops->report(c);
	assert_int_equal(json_integer_value(json_object_get(r, "polls")), (json_int_t)k->polls);
	json_decref(r);
	ops->free(c);
	world_free(w, path);
}

static void test_absent_unit_and_silent_peers(void **state)
{
	char path[64], target[32];
	struct world *w = world_new(path, target);
	const struct fb_model *noise = fb_model_find("noise");
	/* unit 200 on the transport's first port: exception 0B, as a gateway answers */
	struct fb_collect_env env = { .loop = loop, .model = noise, .sink = on_obs, .sink_arg = w };
	struct fb_collect_cfg cfg = { .target = target, .unit = 200, .poll_interval = 200 * 1000 };
	struct fb_collector *c = fb_collector_modbus.create(&env, &cfg);
	assert_non_null(c);
	assert_int_equal(fb_collector_modbus.start(c), 0);
	/* a peer that accepts connections (the kernel's backlog) and never answers */
	int silent = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	assert_int_equal(bind(silent, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(silent, 4), 0);
	getsockname(silent, (struct sockaddr *)&a, &al);
	char silent_target[32];
	snprintf(silent_target, sizeof(silent_target), "127.0.0.1:%u", ntohs(a.sin_port));
	struct fb_collect_cfg scfg = { .target = silent_target, .unit = 1, .poll_interval = 200 * 1000 };
	struct fb_collector *s = fb_collector_modbus.create(&env, &scfg);
	assert_non_null(s);
	assert_int_equal(fb_collector_modbus.start(s), 0);
	/* a port nobody listens on */
	int closed = free_ports(1);
	char closed_target[32];
	snprintf(closed_target, sizeof(closed_target), "127.0.0.1:%d", closed);
	struct fb_collect_cfg ncfg = { .target = closed_target, .unit = 1, .poll_interval = 200 * 1000 };
	struct fb_collector *n = fb_collector_modbus.create(&env, &ncfg);
	assert_non_null(n);
	assert_int_equal(fb_collector_modbus.start(n), 0);

	/* at least 1.5 s (about 7 polls each), longer while a loaded machine lags */
	const struct fb_mb_poll_counters *k = fb_collector_modbus_counters(c);
	const struct fb_mb_poll_counters *ks0 = fb_collector_modbus_counters(s), *kn0 = fb_collector_modbus_counters(n);
	spin(1.5);
	for (int i = 0; i < 150 && (k->exceptions < 5 || ks0->polls < 5 || kn0->timeouts < 5 ||
	                            kn0->connect_failures < 2); i++)
		spin(0.1);
	assert_true(k->polls >= 5);
	assert_int_equal(k->exceptions, k->complete);
	assert_true(k->exceptions >= 5);
	bool saw_0b = false;
	for (size_t i = 0; i < w->nobs; i++)
		if (w->obs[i].flags == FB_OBS_EXCEPTION && strstr(w->obs[i].detail, "0B"))
			saw_0b = true;
	assert_true(saw_0b);
	const struct fb_mb_poll_counters *ks = fb_collector_modbus_counters(s);
	assert_true(ks->polls >= 5);
	assert_true(ks->timeouts >= ks->polls - 1);
	assert_int_equal(ks->connects, 1);
	const struct fb_mb_poll_counters *kn = fb_collector_modbus_counters(n);
	assert_true(kn->connect_failures >= 2);
	assert_true(kn->timeouts >= 5);
	assert_int_equal(kn->connects, 0);
	size_t timeouts = 0;
	for (size_t i = 0; i < w->nobs; i++)
		timeouts += w->obs[i].flags == FB_OBS_TIMEOUT;
	assert_int_equal(timeouts, ks->timeouts + kn->timeouts);
	assert_true(fb_collector_modbus.drain(n, FB_US_PER_S) || true);
	fb_collector_modbus.free(c);
	fb_collector_modbus.free(s);
	fb_collector_modbus.free(n);
	close(silent);
	world_free(w, path);
}

/* A validate-mode poller's observations of one simulated device, held against its samples. */
struct vsink {
	struct world *w;
	uint32_t device;                 /* the simulated device behind the polled unit */
	size_t n, with_values, flagged, matched;
	char detail[256];
};

static void on_vobs(void *arg, const struct fb_obs *o)
{
	struct vsink *v = arg;
	const struct fb_model *m = fb_scenario_fleet_of(v->w->sc, v->device)->model;
	v->n++;
	if (o->flags) {
		v->flagged++;
		snprintf(v->detail, sizeof v->detail, "%s", o->detail ? o->detail : "");
	}
	if (o->present != ((uint64_t)1 << m->nfields) - 1)
		return;                      /* before the device's first sample (its coils read 0) */
	v->with_values++;
	for (size_t s = 0; s < v->w->nsamples; s++) {
		if (v->w->samples[s].device != v->device)
			continue;
		bool all = true;
		for (unsigned f = 0; f < m->nfields && all; f++)
			if ((o->present >> f) & 1)
				all = fabs(o->values[f] - v->w->samples[s].values[f]) <= o->tolerance[f] + 1e-9;
		if (all) {
			v->matched++;
			return;
		}
	}
}

static void test_validate_mode_word_order(void **state)
{
	char path[64], target[32];
	struct world *w = world_new(path, target);
	/* device 3, the first street light (word_order: CDAB), at its port and unit */
	struct fb_mb_layout lay;
	fb_mb_layout_defaults(&lay);
	assert_int_equal(fb_mb_layout_read(&lay, fb_ynode_get(w->sc->transports, "modbus")), 0);
	assert_int_equal(fb_mb_layout_target(&lay, target), 0);
	size_t port_index;
	uint8_t unit;
	fb_mb_layout_place(&lay, (uint64_t)fb_mb_layout_position(w->sc, 3), &port_index, &unit);
	char at[32];
	snprintf(at, sizeof at, "127.0.0.1:%u", (unsigned)(lay.first_port + port_index));
	const struct fb_model *light = fb_model_find("streetlight");
	struct vsink right = { .w = w, .device = 3 }, wrong = { .w = w, .device = 3 };
	struct fb_collect_env env = { .loop = loop, .model = light, .sink = on_vobs, .sink_arg = &right };
	struct fb_collect_cfg cfg = { .target = at, .unit = unit, .poll_interval = 300 * 1000,
	                              .order = "CDAB" };
	struct fb_collector *c = fb_collector_modbus.create(&env, &cfg);
	assert_non_null(c);
	env.sink_arg = &wrong;
	struct fb_collect_cfg wcfg = cfg;
	wcfg.order = NULL;               /* ABCD */
	struct fb_collector *cw = fb_collector_modbus.create(&env, &wcfg);
	assert_non_null(cw);
	/* a word order that is none */
	struct fb_collect_cfg bad = cfg;
	bad.order = "ABDC";
	assert_null(fb_collector_modbus.create(&env, &bad));
	assert_int_equal(fb_collector_modbus.start(c), 0);
	assert_int_equal(fb_collector_modbus.start(cw), 0);
	run_engine(w, c);
	spin(0.5);
	assert_true(right.with_values >= 8);
	if (right.flagged)
		fail_msg("CDAB: %zu of %zu polls flagged (%s)", right.flagged, right.n, right.detail);
	assert_int_equal(right.matched, right.with_values);
	/* ABCD on a CDAB device: the 32-bit registers read other values */
	assert_true(wrong.with_values >= 8);
	assert_true(wrong.matched < wrong.with_values);
	/* ... and its float32 copies disagree with its scaled integer ones, poll after poll */
	assert_true(wrong.flagged >= 1);
	assert_non_null(strstr(wrong.detail, "two polls running: a word order or scale other than the map's?"));
	fb_collector_modbus.free(c);
	fb_collector_modbus.free(cw);
	world_free(w, path);
}

int main(void)
{
	loop = ev_default_loop(0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_polls_read_the_models_values),
		cmocka_unit_test(test_absent_unit_and_silent_peers),
		cmocka_unit_test(test_validate_mode_word_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
