/* The engine's contract: total event order, determinism, exact shard partition, commands, and
 * a sound queue. Uses a hand-built scenario and model, so it tests the engine alone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sim/engine.h"
#include "sim/trace.h"

/* A small model: a random walk, a counter and a writable setpoint. */
struct toy_state { double level; double setpoint; uint32_t n; };
static const char *const toy_modes[] = { "low", "high", NULL };
static const struct fb_field toy_fields[] = {
	{ "level", "m", FB_FIELD_NUMBER, -100, 100, 0.01, NULL, false, NULL },
	{ "count", "", FB_FIELD_INTEGER, 0, 1e9, 1, NULL, false, NULL },
	{ "setpoint", "%", FB_FIELD_NUMBER, 0, 100, 1, NULL, true, NULL },
	{ "mode", "", FB_FIELD_ENUM, 0, 1, 0, toy_modes, false, NULL },
};
static int toy_init(const struct fb_device_ctx *c, void *st, fb_time_us start)
{
	struct toy_state *s = st;
	s->level = fb_rng_range(c->rng, -1, 1);
	s->setpoint = 100;
	return 0;
}
static void toy_sample(const struct fb_device_ctx *c, void *st, fb_time_us t, double *v)
{
	struct toy_state *s = st;
	s->level += fb_rng_normal(c->rng) * 0.5;
	v[0] = s->level;
	v[1] = s->n++;
	v[2] = s->setpoint;
	v[3] = s->level > 0;
}
static int toy_command(const struct fb_device_ctx *c, void *st, fb_time_us t, const char *f, double v)
{
	((struct toy_state *)st)->setpoint = v;
	return 0;
}
/* An irregular model: the next sample comes sooner while its value rises. */
static fb_time_us toy_next(const struct fb_device_ctx *c, void *st, fb_time_us last)
{
	struct toy_state *s = st;
	return last + (s->level > 0 ? c->interval_us / 4 : c->interval_us);
}
static const struct fb_model toy = {
	"toy", "test model", NULL, toy_fields, 4, 60 * FB_US_PER_S, sizeof(struct toy_state), NULL, 0,
	NULL, toy_init, NULL, toy_sample, toy_command
};
static const struct fb_model toy_irregular = {
	"toy-irregular", "test model", NULL, toy_fields, 4, 60 * FB_US_PER_S, sizeof(struct toy_state),
	NULL, 0, NULL, toy_init, toy_next, toy_sample, toy_command
};

static struct fb_site sites[2] = {
	{ "site-a", "A", 43.29, 5.37, 500, 0 },
	{ "site-b", "B", 43.52, 5.45, 800, 1 },
};
static struct fb_fleet fleets[3];
static struct fb_scenario sc;

static int setup(void **state)
{
	fleets[0] = (struct fb_fleet){ 0, &toy, &sites[0], 40, 0, 60 * FB_US_PER_S, 0 };
	fleets[1] = (struct fb_fleet){ 1, &toy_irregular, &sites[1], 25, 40, 5 * FB_US_PER_MIN, 0 };
	fleets[2] = (struct fb_fleet){ 2, &toy, &sites[1], 36, 65, 60 * FB_US_PER_S, 900 * FB_US_PER_S };
	memset(&sc, 0, sizeof sc);
	sc.name = "engine-test";
	sc.seed = 42;
	sc.timezone = "Europe/Paris";
	sc.sites = sites;
	sc.nsites = 2;
	sc.fleets = fleets;
	sc.nfleets = 3;
	sc.ndevices = 101;
	fb_parse_rfc3339("2026-06-01T00:00:00+02:00", &sc.start);
	sc.duration = 6 * FB_US_PER_H;
	return 0;
}

/* Collects formatted trace lines. */
struct lines { char **v; size_t n, cap; struct fb_trace *tr; fb_time_us last_t; uint32_t last_dev; int order_ok; };

static void collect(void *arg, const struct fb_sample *s)
{
	struct lines *l = arg;
	char buf[4096];
	size_t len = fb_trace_format(l->tr, s, buf);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = strndup(buf, len);
	if (s->t < l->last_t || (s->t == l->last_t && s->device <= l->last_dev))
		l->order_ok = 0;
	l->last_t = s->t;
	l->last_dev = s->device;
}

static void run_shard(uint32_t i, uint32_t n, struct lines *out)
{
	memset(out, 0, sizeof *out);
	out->order_ok = 1;
	out->last_t = INT64_MIN;
	out->tr = fb_trace_new(&sc, -1);
	struct fb_engine *e = fb_engine_new(&sc, i, n, sc.start, sc.duration);
	assert_non_null(e);
	assert_int_equal(fb_engine_validate(e), 0);
	fb_engine_set_sink(e, collect, out);
	while (fb_engine_run(e, FB_TIME_NEVER, 1000) > 0)
		assert_int_equal(fb_engine_validate(e), 0);
	assert_int_equal(fb_engine_next_time(e), FB_TIME_NEVER);
	fb_engine_free(e);
	fb_trace_free(out->tr);
}

static void free_lines(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_order_and_determinism(void **state)
{
	struct lines a, b;
	run_shard(0, 1, &a);
	run_shard(0, 1, &b);
	assert_true(a.order_ok);
	assert_true(a.n > 1000);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.v[i], b.v[i]);
	/* The trace line's shape. */
	assert_true(strncmp(a.v[0], "{\"ts\":\"2026-05-31T22:", 21) == 0);
	assert_non_null(strstr(a.v[0], "\",\"device\":\"toy-"));
	assert_non_null(strstr(a.v[0], ",\"values\":{\"level\":"));
	/* A different seed gives a different trace. */
	sc.seed = 43;
	struct lines c;
	run_shard(0, 1, &c);
	sc.seed = 42;
	int differs = c.n != a.n;
	for (size_t i = 0; !differs && i < a.n; i++)
		differs = strcmp(a.v[i], c.v[i]) != 0;
	assert_true(differs);
	free_lines(&a);
	free_lines(&b);
	free_lines(&c);
}

static void test_shards_partition_exactly(void **state)
{
	struct lines whole;
	run_shard(0, 1, &whole);
	qsort(whole.v, whole.n, sizeof *whole.v, cmp_str);
	static const uint32_t ns[] = { 1, 2, 3, 7 };
	for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
		char **all = NULL;
		size_t total = 0;
		for (uint32_t i = 0; i < ns[k]; i++) {
			struct lines part;
			run_shard(i, ns[k], &part);
			assert_true(part.order_ok);
			all = realloc(all, (total + part.n) * sizeof *all);
			memcpy(all + total, part.v, part.n * sizeof *all);
			total += part.n;
			free(part.v);
		}
		assert_int_equal(total, whole.n);
		qsort(all, total, sizeof *all, cmp_str);
		for (size_t i = 0; i < total; i++) {
			assert_string_equal(all[i], whole.v[i]);
			free(all[i]);
		}
		free(all);
	}
	free_lines(&whole);
}

static void test_interval_ranges_and_irregular(void **state)
{
	struct lines l;
	run_shard(0, 1, &l);
	/* fleet 2 draws each device's interval in [60 s, 900 s]: several distinct intervals */
	int seen_short = 0, seen_long = 0;
	for (uint32_t d = 65; d < 101; d++) {
		char id[32];
		snprintf(id, sizeof id, "\"device\":\"toy-%06u\"", d);
		size_t count = 0;
		for (size_t i = 0; i < l.n; i++)
			count += strstr(l.v[i], id) != NULL;
		assert_true(count >= 24 && count <= 361);    /* 6 h at 15 min .. 60 s */
		seen_short |= count > 120;
		seen_long |= count < 60;
	}
	assert_true(seen_short && seen_long);
	free_lines(&l);
}

static int last_setpoint = -1;
static void watch(void *arg, const struct fb_sample *s)
{
	if (s->device == 3)
		last_setpoint = (int)s->values[2];
}

static void test_command_shows_in_next_sample(void **state)
{
	struct fb_engine *e = fb_engine_new(&sc, 0, 1, sc.start, sc.duration);
	fb_engine_set_sink(e, watch, NULL);
	fb_engine_run(e, sc.start + 10 * FB_US_PER_MIN, SIZE_MAX);
	assert_int_equal(last_setpoint, 100);
	assert_int_equal(fb_engine_command(e, 3, "setpoint", 50), 0);
	assert_int_equal(fb_engine_command(e, 3, "level", 5), -2);       /* read-only */
	assert_int_equal(fb_engine_command(e, 3, "nope", 5), -2);
	assert_int_equal(fb_engine_command(e, 3, "setpoint", 150), -3);  /* out of range */
	assert_int_equal(fb_engine_command(e, 5000, "setpoint", 5), -1); /* not a device here */
	fb_engine_run(e, sc.start + 12 * FB_US_PER_MIN, SIZE_MAX);
	assert_int_equal(last_setpoint, 50);
	struct fb_engine_stats st;
	fb_engine_stats(e, &st);
	assert_int_equal(st.commands, 1);
	fb_engine_free(e);
	/* a shard does not own devices outside its segment */
	e = fb_engine_new(&sc, 1, 2, sc.start, sc.duration);
	assert_int_equal(fb_engine_command(e, 3, "setpoint", 50), -1);
	fb_engine_free(e);
}

static void test_shard_segments(void **state)
{
	for (uint64_t total = 0; total < 50; total++)
		for (uint32_t n = 1; n <= 9; n++) {
			uint64_t expect_from = 0, sum = 0;
			for (uint32_t i = 0; i < n; i++) {
				uint64_t from, to;
				fb_shard_segment(total, i, n, &from, &to);
				assert_int_equal(from, expect_from);
				assert_true(to >= from);
				assert_true(to - from <= total / n + 1);
				sum += to - from;
				expect_from = to;
			}
			assert_int_equal(sum, total);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_order_and_determinism, setup),
		cmocka_unit_test_setup(test_shards_partition_exactly, setup),
		cmocka_unit_test_setup(test_interval_ranges_and_irregular, setup),
		cmocka_unit_test_setup(test_command_shows_in_next_sample, setup),
		cmocka_unit_test_setup(test_shard_segments, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
