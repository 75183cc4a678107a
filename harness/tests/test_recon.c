/* Reconciliation: every message declared sent and then observed is counted exactly once as
 * received, duplicated, out of order or with wrong values; what never arrives is lost; latency
 * is measured from the scheduled wall time. The messages come from a real engine run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness/cli.h"
#include "harness/recon.h"
#include "sim/engine.h"

static const char scenario_yaml[] =
"name: recon-test\n"
"seed: 7\n"
"start: 2026-06-01T00:00:00Z\n"
"duration: 2h\n"
"sites:\n"
"  - {id: vieux-port, lat: 43.295, lon: 5.374}\n"
"  - {id: aix-centre, lat: 43.529, lon: 5.447}\n"
"fleets:\n"
"  - {type: noise, count: 20, site: vieux-port, transport: mqtt, codec: json}\n"
"  - {type: waste, count: 10, site: aix-centre, transport: mqtt, codec: json}\n";

#define MAXS 20000
struct capture {
	size_t n;
	struct fb_sample s[MAXS];
	double v[MAXS][FB_OBS_MAX_FIELDS];
};

static void keep(void *arg, const struct fb_sample *s)
{
	struct capture *c = arg;
	if (c->n == MAXS)
		return;
	c->s[c->n] = *s;
	memcpy(c->v[c->n], s->values, s->model->nfields * sizeof(double));
	c->s[c->n].values = c->v[c->n];
	c->n++;
}

struct fixture {
	struct fb_scenario *sc;
	struct fb_engine *e;
	struct capture cap;
	char path[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->path, sizeof f->path, "/tmp/fb-recon-XXXXXX.yaml");
	int fd = mkstemps(f->path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, scenario_yaml, sizeof scenario_yaml - 1), (ssize_t)sizeof scenario_yaml - 1);
	close(fd);
	f->sc = fb_cli_load(f->path);
	assert_non_null(f->sc);
	f->e = fb_engine_new(f->sc, 0, 1, f->sc->start, f->sc->duration);
	assert_non_null(f->e);
	fb_engine_set_sink(f->e, keep, &f->cap);
	while (fb_engine_run(f->e, FB_TIME_NEVER, 100000))
		;
	assert_true(f->cap.n > 100 && f->cap.n < MAXS);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fb_engine_free(f->e);
	fb_scenario_free(f->sc);
	unlink(f->path);
	free(f);
	return 0;
}

/* What an MQTT collector would report for sample i, received `delay` µs after schedule. */
static void obs_of(const struct fb_sample *s, fb_time_us recv, struct fb_obs *o)
{
	memset(o, 0, sizeof *o);
	o->proto = "mqtt";
	o->device = s->device;
	o->model = s->model;
	o->key = (uint64_t)(s->t / 1000);
	o->seq = s->seq;
	o->ts = s->t;
	o->recv_wall = recv;
	o->nvalues = s->model->nfields;
	o->values = s->values;
	o->present = (1ull << s->model->nfields) - 1;
}

static void exact_counts_with_injected_faults(void **state)
{
	struct fixture *f = *state;
	struct fb_recon *r = fb_recon_new(f->sc, 0, fb_engine_device_count(f->e));
	assert_non_null(r);
	const fb_time_us base = 1000000000000;   /* wall = base + virtual offset */
	size_t lost = 0, dups = 0, wrong = 0, swapped = 0;
	double wrong_vals[FB_OBS_MAX_FIELDS];
	for (size_t i = 0; i < f->cap.n; i++) {
		const struct fb_sample *s = &f->cap.s[i];
		fb_recon_expect(r, "mqtt", s, (uint64_t)(s->t / 1000), base + (s->t - f->sc->start));
	}
	assert_int_equal(fb_recon_outstanding(r), f->cap.n);
	for (size_t i = 0; i < f->cap.n; i++) {
		const struct fb_sample *s = &f->cap.s[i];
		struct fb_obs o;
		fb_time_us sched = base + (s->t - f->sc->start);
		if (i % 97 == 5) {            /* lost */
			lost++;
			continue;
		}
		obs_of(s, sched + 2000, &o);  /* 2 ms latency */
		if (i % 89 == 3) {            /* a value off by far more than the resolution */
			memcpy(wrong_vals, s->values, s->model->nfields * sizeof(double));
			wrong_vals[0] += 10;
			o.values = wrong_vals;
			wrong++;
		}
		fb_recon_observe(r, &o);
		if (i % 53 == 11) {           /* delivered twice */
			fb_recon_observe(r, &o);
			dups++;
		}
	}
	/* Out of order: a device's two messages arriving newest first. Declare two more samples of
	 * device 0 at later times and deliver them swapped. */
	struct fb_sample a = f->cap.s[0], b = f->cap.s[0];
	a.t = f->sc->start + f->sc->duration + 1000000;
	b.t = a.t + 1000000;
	a.seq = 1000;
	b.seq = 1001;
	fb_recon_expect(r, "mqtt", &a, (uint64_t)(a.t / 1000), base + (a.t - f->sc->start));
	fb_recon_expect(r, "mqtt", &b, (uint64_t)(b.t / 1000), base + (b.t - f->sc->start));
	struct fb_obs o;
	obs_of(&b, base + (b.t - f->sc->start) + 2000, &o);
	fb_recon_observe(r, &o);
	obs_of(&a, base + (a.t - f->sc->start) + 2000, &o);
	fb_recon_observe(r, &o);
	swapped = 1;
	/* A message no device sent (a key beyond anything declared). */
	struct fb_sample c = f->cap.s[0];
	c.t = b.t + 60000000;
	obs_of(&c, base, &o);
	fb_recon_observe(r, &o);
	/* Another shard's device. */
	obs_of(&f->cap.s[0], base, &o);
	o.device = 100000;
	fb_recon_observe(r, &o);

	assert_int_equal(fb_recon_outstanding(r), lost);
	fb_recon_finish(r);
	struct fb_recon_counts t;
	fb_recon_totals(r, "mqtt", &t);
	assert_int_equal(t.expected, f->cap.n + 2);
	assert_int_equal(t.received, f->cap.n + 2 - lost);
	assert_int_equal(t.lost, lost);
	assert_int_equal(t.duplicated, dups);
	assert_int_equal(t.wrong_values, wrong);
	assert_int_equal(t.out_of_order, swapped);
	assert_int_equal(t.unexpected, 1);
	assert_int_equal(t.foreign, 1);
	const struct fb_hist *h = fb_recon_latency(r, "mqtt");
	assert_int_equal(fb_hist_count(h), f->cap.n + 2 - lost);
	assert_true(fb_hist_quantile(h, 0.5) >= 1995 && fb_hist_quantile(h, 0.5) <= 2005);

	/* the report carries the same counts, split by type and site */
	json_t *rep = fb_recon_report(r);
	json_t *m = json_object_get(json_object_get(rep, "protocols"), "mqtt");
	assert_int_equal(json_integer_value(json_object_get(m, "lost")), (json_int_t)lost);
	json_t *noise = json_object_get(json_object_get(m, "by_type"), "noise");
	json_t *waste = json_object_get(json_object_get(m, "by_type"), "waste");
	json_t *aix = json_object_get(json_object_get(m, "by_site"), "aix-centre");
	assert_non_null(noise);
	assert_non_null(waste);
	assert_int_equal(json_integer_value(json_object_get(noise, "expected")) +
	                 json_integer_value(json_object_get(waste, "expected")), (json_int_t)t.expected);
	assert_int_equal(json_integer_value(json_object_get(aix, "expected")),
	                 json_integer_value(json_object_get(waste, "expected")));
	json_decref(rep);
	fb_recon_free(r);
}

/* The pending table grows and shrinks under heavy in-flight load and keeps every entry. */
static void many_in_flight(void **state)
{
	struct fixture *f = *state;
	struct fb_recon *r = fb_recon_new(f->sc, 0, fb_engine_device_count(f->e));
	for (size_t i = 0; i < f->cap.n; i++)
		fb_recon_expect(r, "mqtt", &f->cap.s[i], (uint64_t)(f->cap.s[i].t / 1000), 0);
	/* deliver in reverse: each lookup crosses displaced entries */
	for (size_t i = f->cap.n; i-- > 0;) {
		struct fb_obs o;
		obs_of(&f->cap.s[i], 10, &o);
		fb_recon_observe(r, &o);
	}
	struct fb_recon_counts t;
	fb_recon_totals(r, NULL, &t);
	assert_int_equal(t.received, f->cap.n);
	assert_int_equal(t.lost + t.duplicated + t.unexpected + t.wrong_values, 0);
	assert_int_equal(fb_recon_outstanding(r), 0);
	fb_recon_free(r);
}

/* Modbus polls are self-describing: a timeout is a loss, an exception is undecodable. */
static void modbus_polls(void **state)
{
	struct fixture *f = *state;
	struct fb_recon *r = fb_recon_new(f->sc, 0, fb_engine_device_count(f->e));
	struct fb_obs o = { .proto = "modbus", .device = 3, .ts = 100, .recv_wall = 600 };
	fb_recon_observe(r, &o);
	o.flags = FB_OBS_TIMEOUT;
	fb_recon_observe(r, &o);
	o.flags = FB_OBS_EXCEPTION;
	fb_recon_observe(r, &o);
	o.flags = FB_OBS_WRONG_VALUE;
	fb_recon_observe(r, &o);
	struct fb_recon_counts t;
	fb_recon_totals(r, "modbus", &t);
	assert_int_equal(t.expected, 4);
	assert_int_equal(t.received, 3);
	assert_int_equal(t.lost, 1);
	assert_int_equal(t.undecodable, 1);
	assert_int_equal(t.wrong_values, 1);
	assert_int_equal(fb_hist_count(fb_recon_latency(r, "modbus")), 3);
	fb_recon_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exact_counts_with_injected_faults),
		cmocka_unit_test(many_in_flight),
		cmocka_unit_test(modbus_polls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
