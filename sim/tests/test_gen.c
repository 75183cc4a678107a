/* User-defined types: each generator's statistics and bounds, local-time profiles, CSV
 * replay from fixtures/csv/, determinism and shard invariance of the draws, and the errors a
 * user gets for a bad type definition. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sim/gen.h"
#include "sim/scenario.h"
#include "sim/tests/capture.h"
#include "sim/tz.h"
#include "sim/ynode.h"

#define START (1780272000LL * FB_US_PER_S)      /* 2026-06-01T00:00:00Z, a Monday */

static struct fb_model *type_from(const char *yaml)
{
	struct fb_ynode *root = fb_ynode_load_string(yaml, "t.yaml");
	assert_non_null(root);
	struct fb_model *m = fb_usertype_new(root, "fixtures/csv");
	fb_ynode_free(root);      /* the model keeps nothing of the tree */
	return m;
}

static const char *type_error(const char *yaml)
{
	static struct capture c;
	struct fb_ynode *root = fb_ynode_load_string(yaml, "t.yaml");
	assert_non_null(root);
	capture_begin(&c);
	struct fb_model *m = fb_usertype_new(root, "fixtures/csv");
	const char *err = capture_end(&c);
	fb_ynode_free(root);
	assert_null(m);
	return err;
}

struct dev {
	struct fb_world world;
	struct fb_device_ctx ctx;
	double state[FB_MAX_FIELDS];
	fb_time_us t;
};

static void dev_init(struct dev *d, const struct fb_model *m, uint64_t seed, uint32_t index,
                     fb_time_us interval_us, const struct fb_tz *tz)
{
	memset(d, 0, sizeof(*d));
	d->world.seed = seed;
	d->world.tz = tz;
	d->world.start = START;
	d->world.end = START + 365 * FB_US_PER_DAY;
	d->ctx.world = &d->world;
	d->ctx.model = m;
	d->ctx.index = index;
	d->ctx.interval_us = interval_us ? interval_us : m->default_interval_us;
	assert_true(m->state_size <= sizeof(d->state));
	assert_int_equal(m->init(&d->ctx, d->state, START), 0);
	d->t = START;
}

/* The next sample, as the engine would call it (next_time is NULL: last + interval). */
static void dev_next(struct dev *d, double *values)
{
	assert_null(d->ctx.model->next_time);
	d->ctx.model->sample(&d->ctx, d->state, d->t, values);
	for (unsigned f = 0; f < d->ctx.model->nfields; f++) {
		assert_true(isfinite(values[f]));
		assert_true(values[f] >= d->ctx.model->fields[f].min);
		assert_true(values[f] <= d->ctx.model->fields[f].max);
	}
	d->t += d->ctx.interval_us;
}

struct stats {
	double sum, sum2, min, max;
	size_t n;
};

static void add(struct stats *s, double v)
{
	if (s->n == 0 || v < s->min)
		s->min = v;
	if (s->n == 0 || v > s->max)
		s->max = v;
	s->sum += v;
	s->sum2 += v * v;
	s->n++;
}

static double mean(const struct stats *s) { return s->sum / (double)s->n; }
static double sd(const struct stats *s)
{
	double m = mean(s);
	return sqrt(s->sum2 / (double)s->n - m * m);
}

/* |observed - expected| within k standard errors. */
static void assert_near(double observed, double expected, double tolerance)
{
	if (fabs(observed - expected) > tolerance)
		fail_msg("%.6g is not within %.3g of %.6g", observed, tolerance, expected);
}

static struct stats run_field(const struct fb_model *m, unsigned field, unsigned devices,
                              unsigned samples)
{
	struct stats s = { 0 };
	struct dev d;
	double v[FB_MAX_FIELDS];
	for (unsigned i = 0; i < devices; i++) {
		dev_init(&d, m, 11, i, 0, NULL);
		for (unsigned k = 0; k < samples; k++) {
			dev_next(&d, v);
			add(&s, v[field]);
		}
	}
	return s;
}

static void test_constant_uniform_normal(void **state)
{
	struct fb_model *m = type_from(
		"name: basic\n"
		"interval: 30s\n"
		"description: three simple fields\n"
		"fields:\n"
		"  - {name: c, unit: V, gen: {kind: constant, value: 3.3}}\n"
		"  - {name: u, gen: {kind: uniform, min: -2, max: 6}}\n"
		"  - {name: n, unit: degC, resolution: 0.1, gen: {kind: normal, mean: 20, sd: 4}}\n"
		"  - {name: clipped, min: 0, gen: {kind: normal, mean: 1, sd: 2}}\n");
	assert_non_null(m);
	assert_string_equal(m->name, "basic");
	assert_string_equal(m->description, "three simple fields");
	assert_int_equal(m->nfields, 4);
	assert_int_equal(m->default_interval_us, 30 * FB_US_PER_S);
	assert_int_equal(m->state_size, 0);           /* all stateless */
	assert_string_equal(m->fields[0].unit, "V");
	assert_string_equal(m->fields[1].unit, "");
	assert_true(m->fields[2].resolution == 0.1);
	assert_true(m->fields[1].resolution == 0.01);   /* the default */
	/* Default ranges come from the generator. */
	assert_true(m->fields[0].min == 3.3 && m->fields[0].max == 3.3);
	assert_true(m->fields[1].min == -2 && m->fields[1].max == 6);
	assert_true(m->fields[2].min == 20 - 8 * 4 && m->fields[2].max == 20 + 8 * 4);
	assert_true(m->fields[3].min == 0);

	const unsigned N = 20000;
	struct stats c = run_field(m, 0, 4, N / 4);
	assert_true(c.min == 3.3 && c.max == 3.3);
	struct stats u = run_field(m, 1, 4, N / 4);
	assert_near(mean(&u), 2, 5 * 8 / sqrt(12 * N));
	assert_near(sd(&u), 8 / sqrt(12), 0.05);
	assert_true(u.min >= -2 && u.min < -1.9 && u.max < 6 && u.max > 5.9);
	struct stats n = run_field(m, 2, 4, N / 4);
	assert_near(mean(&n), 20, 5 * 4 / sqrt(N));
	assert_near(sd(&n), 4, 0.1);
	/* Clamped at min 0: P(N(1, 2) < 0) = 0.3085 of the samples sit at 0. */
	struct stats k = { 0 };
	struct dev d;
	double v[FB_MAX_FIELDS];
	size_t at_zero = 0;
	dev_init(&d, m, 3, 0, 0, NULL);
	for (unsigned i = 0; i < N; i++) {
		dev_next(&d, v);
		add(&k, v[3]);
		at_zero += v[3] == 0;
	}
	assert_true(k.min == 0);
	assert_near((double)at_zero / N, 0.3085, 0.015);
	fb_usertype_free(m);
}

static void test_random_walk(void **state)
{
	struct fb_model *m = type_from(
		"name: walk\n"
		"fields:\n"
		"  - {name: level, gen: {kind: random_walk, start: 50, step: 0.5, min: 0, max: 100}}\n"
		"  - {name: tight, gen: {kind: random_walk, start: 1, step: 2, min: 0, max: 2}}\n");
	assert_non_null(m);
	assert_int_equal(m->state_size, 2 * sizeof(double));
	struct dev d;
	double v[FB_MAX_FIELDS], prev = 50;
	struct stats steps = { 0 };
	size_t tight_low = 0;
	dev_init(&d, m, 5, 9, 0, NULL);
	for (unsigned i = 0; i < 20000; i++) {
		dev_next(&d, v);
		if (v[0] > 5 && v[0] < 95 && prev > 5 && prev < 95)
			add(&steps, v[0] - prev);
		prev = v[0];
		assert_true(v[1] >= 0 && v[1] <= 2);
		tight_low += v[1] < 1;
	}
	/* Gaussian steps of sd `step`, centred. */
	assert_near(mean(&steps), 0, 5 * 0.5 / sqrt((double)steps.n));
	assert_near(sd(&steps), 0.5, 0.02);
	/* Reflected at both walls, the tight walk spreads over the whole range, not stuck. */
	assert_near((double)tight_low / 20000, 0.5, 0.05);
	/* The first sample is one step from start. */
	dev_init(&d, m, 5, 9, 0, NULL);
	dev_next(&d, v);
	assert_true(fabs(v[0] - 50) < 0.5 * 6);
	fb_usertype_free(m);
}

static void test_mean_reverting(void **state)
{
	struct fb_model *m = type_from(
		"name: ou\n"
		"interval: 10m\n"
		"fields:\n"
		"  - {name: temp, gen: {kind: mean_reverting, mean: 15, theta: 1, sigma: 2}}\n");
	assert_non_null(m);
	/* theta per hour, sigma per sqrt(hour): stationary sd = sigma / sqrt(2 theta). */
	const double stat_sd = 2 / sqrt(2.0);
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: the type's own interval (cached coefficients); pass 1: a fleet's 25 min. */
		fb_time_us interval = pass == 0 ? 10 * FB_US_PER_MIN : 25 * FB_US_PER_MIN;
		double rho = exp(-1.0 * (double)interval / FB_US_PER_H);
		struct stats s = { 0 }, first = { 0 };
		double sxy = 0, prev = 0;
		size_t pairs = 0;
		for (unsigned dv = 0; dv < 200; dv++) {
			struct dev d;
			double v[1];
			dev_init(&d, m, 17, dv, interval, NULL);
			for (unsigned i = 0; i < 200; i++) {
				dev_next(&d, v);
				if (i == 0)
					add(&first, v[0]);
				if (i > 0) {
					sxy += (v[0] - 15) * (prev - 15);
					pairs++;
				}
				add(&s, v[0]);
				prev = v[0];
			}
		}
		assert_near(mean(&s), 15, 0.1);
		assert_near(sd(&s), stat_sd, 0.05);
		assert_near(sxy / (double)pairs / (stat_sd * stat_sd), rho, 0.03);
		/* Devices start from the stationary law, already spread out. */
		assert_near(sd(&first), stat_sd, 0.25);
	}
	fb_usertype_free(m);
}

static void test_daily_profile(void **state)
{
	struct fb_tz *tz = fb_tz_new("Europe/Paris", START - FB_US_PER_DAY, START + 30 * FB_US_PER_DAY);
	assert_non_null(tz);
	struct fb_model *m = type_from(
		"name: air-quality\n"
		"interval: 1m\n"
		"fields:\n"
		"  - {name: one, gen: {kind: daily, mean: 10, amplitude: 4, peaks: [8]}}\n"
		"  - {name: two, gen: {kind: daily, mean: 12, amplitude: 6, peaks: [8, 19], width: 1.5}}\n"
		"  - {name: week, gen: {kind: daily, mean: 100, amplitude: 0, peaks: [12], weekly: [1, 1, 1, 1, 1, 0.5, 0.25]}}\n"
		"  - {name: noisy, gen: {kind: daily, mean: 50, amplitude: 10, peaks: [3], noise: 2}}\n");
	assert_non_null(m);
	assert_int_equal(m->state_size, 0);
	assert_true(m->fields[0].min == 6 && m->fields[0].max == 14);
	struct dev d;
	double v[4];
	dev_init(&d, m, 1, 0, 0, tz);
	/* June: Paris is UTC+2. Local 08:00 = 06:00Z is the single peak: mean + amplitude; local
	 * 20:00 (12 h away) the trough: mean - amplitude. */
	d.t = START + 6 * FB_US_PER_H;
	dev_next(&d, v);
	assert_near(v[0], 14, 1e-9);
	assert_near(v[1], 18, 0.05);          /* one of the two peaks */
	d.t = START + 18 * FB_US_PER_H;
	dev_next(&d, v);
	assert_near(v[0], 6, 1e-9);
	d.t = START + 17 * FB_US_PER_H;   /* local 19:00: the second peak */
	dev_next(&d, v);
	assert_near(v[1], 18, 0.05);
	d.t = START + 11 * FB_US_PER_H + 30 * FB_US_PER_MIN;   /* local 13:30, between the peaks */
	dev_next(&d, v);
	assert_true(v[1] < 8);
	/* Over a whole day the two-peak profile spans [mean - amp, mean + amp]. */
	struct stats day = { 0 };
	d.t = START;
	for (int i = 0; i < 1440; i++) {
		dev_next(&d, v);
		add(&day, v[1]);
	}
	assert_near(day.max, 18, 0.01);
	assert_near(day.min, 6, 0.01);
	/* Weekly factors: 2026-06-01 is a Monday (factor 1); Saturday 0.5, Sunday 0.25, in local
	 * days (Sunday 23:30 local is Sunday 21:30Z). */
	d.t = START + 12 * FB_US_PER_H;
	dev_next(&d, v);
	assert_near(v[2], 100, 1e-9);
	d.t = START + 5 * FB_US_PER_DAY + 12 * FB_US_PER_H;
	dev_next(&d, v);
	assert_near(v[2], 50, 1e-9);
	d.t = START + 6 * FB_US_PER_DAY + 21 * FB_US_PER_H + 30 * FB_US_PER_MIN;
	dev_next(&d, v);
	assert_near(v[2], 25, 1e-9);
	d.t = START + 6 * FB_US_PER_DAY + 22 * FB_US_PER_H + 30 * FB_US_PER_MIN;   /* Monday 00:30 local */
	dev_next(&d, v);
	assert_near(v[2], 100, 1e-9);
	/* The noisy field stays within its declared range (profile +- 8 sd of noise). */
	d.t = START;
	for (int i = 0; i < 10000; i++)
		dev_next(&d, v);
	assert_true(m->fields[3].min == 40 - 8 * 2 && m->fields[3].max == 60 + 8 * 2);
	fb_usertype_free(m);
	fb_tz_free(tz);
}

static void test_daily_noise(void **state)
{
	/* amplitude 0: the value is mean + noise, so the noise's own statistics show. */
	struct fb_model *m = type_from(
		"name: flat\n"
		"fields:\n"
		"  - {name: v, gen: {kind: daily, mean: 40, amplitude: 0, peaks: [12], noise: 3}}\n");
	assert_non_null(m);
	struct stats s = run_field(m, 0, 10, 2000);
	assert_near(mean(&s), 40, 5 * 3 / sqrt(20000.0));
	assert_near(sd(&s), 3, 0.08);
	assert_true(m->fields[0].min == 40 - 8 * 3);
	fb_usertype_free(m);
}

static void test_sine(void **state)
{
	struct fb_model *m = type_from(
		"name: tide\n"
		"fields:\n"
		"  - {name: h, gen: {kind: sine, mean: 2, amplitude: 1.5, period: 12h, phase: 3h}}\n");
	assert_non_null(m);
	struct dev d;
	double v[1];
	dev_init(&d, m, 1, 0, 0, NULL);
	/* Epoch-aligned: at phase (mod period) the value is the mean, rising; a quarter later
	 * the crest. START is a multiple of 12 h. */
	d.t = START + 3 * FB_US_PER_H;
	dev_next(&d, v);
	assert_near(v[0], 2, 1e-9);
	d.t = START + 6 * FB_US_PER_H;
	dev_next(&d, v);
	assert_near(v[0], 3.5, 1e-9);
	d.t = START + 12 * FB_US_PER_H;
	dev_next(&d, v);
	assert_near(v[0], 0.5, 1e-9);
	d.t = START + 18 * FB_US_PER_H;    /* one period after the crest */
	dev_next(&d, v);
	assert_near(v[0], 3.5, 1e-9);
	assert_true(m->fields[0].min == 0.5 && m->fields[0].max == 3.5);
	fb_usertype_free(m);
}

static void test_poisson(void **state)
{
	struct fb_model *m = type_from(
		"name: counts\n"
		"fields:\n"
		"  - {name: small, gen: {kind: poisson, rate: 2.5}}\n"
		"  - {name: large, gen: {kind: poisson, rate: 80}}\n"
		"  - {name: none, gen: {kind: poisson, rate: 0}}\n");
	assert_non_null(m);
	assert_int_equal(m->fields[0].kind, FB_FIELD_INTEGER);
	assert_true(m->fields[0].resolution == 1);
	assert_true(m->fields[0].min == 0);
	struct stats s = run_field(m, 0, 10, 2000);
	assert_near(mean(&s), 2.5, 5 * sqrt(2.5 / 20000));
	assert_near(sd(&s) * sd(&s), 2.5, 0.1);          /* variance = mean */
	struct stats l = run_field(m, 1, 10, 2000);
	assert_near(mean(&l), 80, 5 * sqrt(80.0 / 20000));
	assert_near(sd(&l), sqrt(80.0), 0.3);
	struct stats z = run_field(m, 2, 1, 100);
	assert_true(z.max == 0);
	/* Whole numbers. */
	struct dev d;
	double v[3];
	dev_init(&d, m, 2, 1, 0, NULL);
	for (int i = 0; i < 100; i++) {
		dev_next(&d, v);
		assert_true(v[0] == floor(v[0]) && v[1] == floor(v[1]));
	}
	fb_usertype_free(m);
}

static void test_sawtooth(void **state)
{
	struct fb_model *m = type_from(
		"name: bin\n"
		"interval: 1h\n"
		"fields:\n"
		"  - {name: fill, unit: '%', gen: {kind: sawtooth, rise_per_day: 24, reset_above: 90, reset_to: 5}}\n");
	assert_non_null(m);
	assert_int_equal(m->state_size, sizeof(double));
	struct dev d;
	double v[1], prev = -1;
	int resets = 0;
	dev_init(&d, m, 4, 0, 0, NULL);
	for (int i = 0; i < 24 * 30; i++) {
		dev_next(&d, v);
		assert_true(v[0] >= 5 && v[0] < 90);
		if (prev >= 0) {
			if (v[0] < prev) {
				assert_true(v[0] == 5);           /* the reset event */
				assert_true(prev + 1 >= 90);
				resets++;
			} else {
				assert_near(v[0] - prev, 1, 1e-9);   /* 24 per day, hourly */
			}
		}
		prev = v[0];
	}
	/* 85 units at 24 a day: a reset every ~3.5 days, so 8 or 9 in 30 days. */
	assert_true(resets >= 8 && resets <= 9);
	/* Devices start at different phases. */
	double firsts[8];
	for (uint32_t i = 0; i < 8; i++) {
		dev_init(&d, m, 4, i, 0, NULL);
		dev_next(&d, v);
		firsts[i] = v[0];
		for (uint32_t j = 0; j < i; j++)
			assert_true(firsts[j] != firsts[i]);
	}
	/* A fleet with a 6 h interval rises 6 per sample. */
	dev_init(&d, m, 4, 0, 6 * FB_US_PER_H, NULL);
	dev_next(&d, v);
	prev = v[0];
	dev_next(&d, v);
	assert_true(v[0] == 5 || fabs(v[0] - prev - 6) < 1e-9);
	fb_usertype_free(m);

	/* Falling: a battery drains 0.05 V a day from 4.15 V and is swapped at 3.3 V. */
	m = type_from("name: tag\ninterval: 1d\nfields:\n"
	              "  - {name: v, gen: {kind: sawtooth, rise_per_day: -0.05, reset_below: 3.3, reset_to: 4.15}}\n");
	assert_non_null(m);
	assert_true(m->fields[0].min == 3.3 && m->fields[0].max == 4.15);
	dev_init(&d, m, 4, 3, 0, NULL);
	prev = -1;
	resets = 0;
	for (int i = 0; i < 100; i++) {
		dev_next(&d, v);
		assert_true(v[0] > 3.3 && v[0] <= 4.15);
		if (prev >= 0 && v[0] > prev) {
			assert_true(v[0] == 4.15 && prev - 0.05 <= 3.3 + 1e-9);
			resets++;
		} else if (prev >= 0) {
			assert_near(prev - v[0], 0.05, 1e-9);
		}
		prev = v[0];
	}
	assert_true(resets >= 5 && resets <= 6);        /* every 17 days */
	fb_usertype_free(m);
}

static const double levels[] = { 0.42, 0.44, 0.51, 0.63, 0.80, 1.25, 0.97 };
static const int minutes[] = { 0, 15, 45, 60, 75, 90, 105 };

/* The fixture's value at data minute x (the last row at or before it). */
static double level_at(double x)
{
	double v = levels[0];
	for (int i = 0; i < 7; i++)
		if (minutes[i] <= x)
			v = levels[i];
	return v;
}

static void test_csv_replay(void **state)
{
	struct fb_model *m = type_from(
		"name: river\n"
		"interval: 5m\n"
		"fields:\n"
		"  - {name: height, unit: m, resolution: 0.001, gen: {kind: csv, file: river-level.csv, column: level_m, time_column: time}}\n"
		"  - {name: once, gen: {kind: csv, file: river-level.csv, column: level_m, time_column: time, loop: false}}\n"
		"  - {name: fast, gen: {kind: csv, file: river-level-epoch.csv, column: level_m, time_column: epoch, speed: 3}}\n"
		"  - {name: temp, gen: {kind: csv, file: river-level.csv, column: water_temp_c}}\n");
	assert_non_null(m);
	const struct fb_usertype *u = fb_usertype_of(m);
	assert_non_null(u);
	assert_int_equal(u->gens[0].csv->n, 7);              /* the gap row is skipped */
	assert_int_equal(u->gens[0].csv->period_us, 120 * FB_US_PER_MIN);
	/* Default range: the data's. */
	assert_true(m->fields[0].min == 0.42 && m->fields[0].max == 1.25);
	struct dev d;
	double v[4];
	dev_init(&d, m, 1, 0, 0, NULL);
	for (int k = 0; k < 24 * 4; k++) {       /* 8 h at 5 min: four loops of the 2 h series */
		double minute = k * 5.0;
		dev_next(&d, v);
		assert_true(v[0] == level_at(fmod(minute, 120)));
		assert_true(v[1] == level_at(minute > 105 ? 105 : minute));
		/* Epoch times, ';' separator, NA gap: the same series, played three times faster. */
		assert_true(v[2] == level_at(fmod(minute * 3, 120)));
	}
	/* Without a time column, one row per type interval (5 min); the rows with a value. */
	static const double temps[] = { 18.1, 18.0, 17.9, 17.9, 17.7, 17.6, 17.2, 17.3 };
	dev_init(&d, m, 1, 0, 0, NULL);
	for (int k = 0; k < 16; k++) {
		dev_next(&d, v);
		assert_true(v[3] == temps[k % 8]);
	}
	fb_usertype_free(m);

	m = type_from("name: counts\nfields:\n  - {name: n, gen: {kind: csv, file: counts.csv, column: count}}\n");
	assert_non_null(m);
	static const double counts[] = { 3, 5, 5, 8 };   /* NA at row 2 holds the previous value */
	dev_init(&d, m, 1, 0, 0, NULL);
	for (int k = 0; k < 8; k++) {
		dev_next(&d, v);
		assert_true(v[0] == counts[k % 4]);
	}
	fb_usertype_free(m);
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_csv_errors(void **state)
{
	assert_string_equal(type_error("name: r\nfields:\n  - {name: h, gen: {kind: csv, file: river-level.csv, column: levelm}}\n"),
	                    "t.yaml:3:63: error: no column 'levelm' in 'fixtures/csv/river-level.csv' "
	                    "(did you mean 'level_m'?)\n");
	assert_string_equal(type_error("name: r\nfields:\n  - {name: h, gen: {kind: csv, file: river-level.csv, column: flow}}\n"),
	                    "t.yaml:3:63: error: no column 'flow' in 'fixtures/csv/river-level.csv' "
	                    "(its columns: 'time', 'level_m', 'water_temp_c')\n");
	assert_string_equal(type_error("name: r\nfields:\n  - {name: h, gen: {kind: csv, file: nope.csv, column: x}}\n"),
	                    "t.yaml:3:38: error: cannot read 'fixtures/csv/nope.csv': No such file or directory\n");
	assert_string_equal(type_error("name: r\nfields:\n  - {name: h, gen: {kind: csv, column: x}}\n"),
	                    "t.yaml:3:20: error: missing key 'file' in 'gen' of kind 'csv'\n");
	assert_string_equal(type_error("name: r\nfields:\n  - {name: h, gen: {kind: csv, file: counts.csv, column: count, speed: 0}}\n"),
	                    "t.yaml:3:72: error: 'speed' must be more than 0, not 0\n");

	/* Bad data: the message names the csv file and line. */
	char dir[] = "/tmp/fb_gen_XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	struct capture c;
	static const struct { const char *text, *msg; } bad[] = {
		{ "t,v\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,abc\n",
		  "bad.csv:3: error: 'abc' in column 'v' is not a number\n" },
		{ "t,v\n2024-01-01T00:00:00Z,1\n# comment\n2024-01-01T00:00:00Z,2\n",
		  "bad.csv:4: error: time '2024-01-01T00:00:00Z' is not after the previous row's: times must increase\n" },
		{ "t,v\nyesterday,1\n",
		  "bad.csv:2: error: 'yesterday' in column 't' is not a time (use RFC 3339, e.g. "
		  "'2024-05-01T10:00:00Z', or epoch seconds)\n" },
		{ "t,v\n1700000000\n",
		  "bad.csv:2: error: row has 1 columns, column 'v' is number 2\n" },
		{ "t,v\n", "t.yaml:1:33: error: 'bad.csv' has no data rows (a header line, then one row per reading)\n" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof(path), "%s/bad.csv", dir);
		write_text(path, bad[i].text);
		struct fb_ynode *root = fb_ynode_load_string(
			"{name: r, fields: [{gen: {file: bad.csv, kind: csv, column: v, time_column: t}, name: v}]}", "t.yaml");
		assert_non_null(root);
		capture_begin(&c);
		struct fb_model *m = fb_usertype_new(root, dir);
		const char *err = capture_end(&c);
		fb_ynode_free(root);
		assert_null(m);
		/* Take the temporary folder out of the message. */
		char want[512];
		const char *p = strstr(err, "bad.csv");
		assert_non_null(p);
		if (strncmp(bad[i].msg, "t.yaml", 6) == 0) {
			snprintf(want, sizeof(want), "t.yaml:1:33: error: '%s/bad.csv' has no data rows (a header "
			         "line, then one row per reading)\n", dir);
			assert_string_equal(err, want);
		} else {
			assert_true(strncmp(err, dir, strlen(dir)) == 0);
			assert_string_equal(err + strlen(dir) + 1, bad[i].msg);
		}
		unlink(path);
	}
	rmdir(dir);
}

static void test_determinism_and_shards(void **state)
{
	struct fb_model *m = type_from(
		"name: mix\n"
		"fields:\n"
		"  - {name: a, gen: {kind: normal, mean: 0, sd: 1}}\n"
		"  - {name: b, gen: {kind: mean_reverting, mean: 5, theta: 2, sigma: 1}}\n"
		"  - {name: c, gen: {kind: poisson, rate: 4}}\n");
	struct fb_model *m1 = type_from(
		"name: mix\n"
		"fields:\n"
		"  - {name: a, gen: {kind: normal, mean: 0, sd: 1}}\n");
	assert_non_null(m);
	assert_non_null(m1);
	/* Device 7's values depend on (seed, 7, time) only: the same whether other devices ran
	 * before it or not (a shard holds a different set of devices). */
	double alone[50][3], mixed[50][3], v[3];
	struct dev d7, other;
	dev_init(&d7, m, 99, 7, 0, NULL);
	for (int i = 0; i < 50; i++)
		dev_next(&d7, alone[i]);
	dev_init(&other, m, 99, 6, 0, NULL);
	dev_init(&d7, m, 99, 7, 0, NULL);
	for (int i = 0; i < 50; i++) {
		dev_next(&other, v);
		dev_next(&d7, mixed[i]);
		dev_next(&other, v);
	}
	assert_memory_equal(alone, mixed, sizeof(alone));
	/* Another device, or another seed: other values. */
	dev_init(&other, m, 99, 8, 0, NULL);
	dev_next(&other, v);
	assert_true(v[0] != alone[0][0] && v[1] != alone[0][1]);
	dev_init(&other, m, 100, 7, 0, NULL);
	dev_next(&other, v);
	assert_true(v[0] != alone[0][0]);
	/* Adding fields never changes another field's values. */
	dev_init(&d7, m1, 99, 7, 0, NULL);
	for (int i = 0; i < 50; i++) {
		dev_next(&d7, v);
		assert_true(v[0] == alone[i][0]);
	}
	fb_usertype_free(m);
	fb_usertype_free(m1);
}

static void test_type_errors(void **state)
{
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: normall, mean: 1}}\n"),
	                    "t.yaml:3:27: error: unknown generator kind 'normall' (did you mean 'normal'?)\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {mean: 1}}\n"),
	                    "t.yaml:3:20: error: missing key 'kind' in 'gen' (one of constant, uniform, "
	                    "normal, random_walk, mean_reverting, daily, sine, poisson, sawtooth, csv)\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: normal, mean: 1}}\n"),
	                    "t.yaml:3:20: error: missing key 'sd' in 'gen' of kind 'normal'\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: daily, mean: 1, amplitud: 2, peaks: [8]}}\n"),
	                    "t.yaml:3:43: error: unknown key 'amplitud' in 'gen' of kind 'daily' (did you "
	                    "mean 'amplitude'?)\n"
	                    "t.yaml:3:20: error: missing key 'amplitude' in 'gen' of kind 'daily'\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: uniform, min: 5, max: 1}}\n"),
	                    "t.yaml:3:49: error: 'max' must not be less than 'min', not 1\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: normal, mean: 1, sd: -2}}\n"),
	                    "t.yaml:3:48: error: 'sd' must be 0 or more, not -2\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: random_walk, start: 200, step: 1, min: 0, max: 100}}\n"),
	                    "t.yaml:3:47: error: 'start' must be between 'min' and 'max', not 200\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: mean_reverting, mean: 1, theta: 0, sigma: 1}}\n"),
	                    "t.yaml:3:59: error: 'theta' must be more than 0 (a rate per hour), not 0\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: daily, mean: 1, amplitude: 1, peaks: [8, 24]}}\n"),
	                    "t.yaml:3:68: error: a peak hour must be between 0 and 24 (excluded), not 24\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: daily, mean: 1, amplitude: 1, peaks: [8], weekly: [1, 1, 1, 1, 1, 1]}}\n"),
	                    "t.yaml:3:77: error: 'weekly' must list 7 factors, Monday to Sunday, not 6\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: sine, mean: 1, amplitude: 1, period: 0s}}\n"),
	                    "t.yaml:3:64: error: 'period' must be longer than 0\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: sawtooth, rise_per_day: 1, reset_above: 5, reset_to: 9}}\n"),
	                    "t.yaml:3:67: error: 'reset_above' must be more than 'reset_to', not 5\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: sawtooth, rise_per_day: -1, reset_above: 5, reset_to: 9}}\n"),
	                    "t.yaml:3:68: error: 'reset_above' is for a rising sawtooth (a positive "
	                    "'rise_per_day'): use 'reset_below'\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: sawtooth, rise_per_day: -1, reset_below: 9, reset_to: 5}}\n"),
	                    "t.yaml:3:68: error: 'reset_below' must be less than 'reset_to', not 9\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: sawtooth, rise_per_day: 2, reset_to: 5}}\n"),
	                    "t.yaml:3:20: error: missing key 'reset_above' in 'gen' of kind 'sawtooth'\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: poisson, rate: -1}}\n"),
	                    "t.yaml:3:42: error: 'rate' must be between 0 and 1000000 events per sample, not -1\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, min: 5, max: 1, gen: {kind: constant, value: 3}}\n"),
	                    "t.yaml:3:28: error: 'max' must not be less than 'min' (5)\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, resolution: 0, gen: {kind: constant, value: 3}}\n"),
	                    "t.yaml:3:27: error: 'resolution' must be more than 0, not 0\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, gen: {kind: constant, value: 1}}\n"
	                               "  - {name: v, gen: {kind: constant, value: 2}}\n"),
	                    "t.yaml:4:12: error: duplicate field 'v'\n");
	assert_string_equal(type_error("name: 'my type'\nfields:\n  - {name: v, gen: {kind: constant, value: 1}}\n"),
	                    "t.yaml:1:7: error: invalid type name 'my type': use letters, digits, '-', '_' and '.'\n");
	assert_string_equal(type_error("name: t\n"),
	                    "t.yaml:1:1: error: missing key 'fields' in type (a list of {name, unit, gen})\n");
	assert_string_equal(type_error("name: t\nfields: []\n"),
	                    "t.yaml:2:9: error: a type has 1 to 32 fields, not 0\n");
	assert_string_equal(type_error("name: t\nintervall: 1m\nfields:\n  - {name: v, gen: {kind: constant, value: 1}}\n"),
	                    "t.yaml:2:1: error: unknown key 'intervall' in type (did you mean 'interval'?)\n");
	assert_string_equal(type_error("name: t\nfields:\n  - {name: v, unit: m, colour: red, gen: {kind: constant, value: 1}}\n"),
	                    "t.yaml:3:24: error: unknown key 'colour' in field (known keys: name, unit, "
	                    "resolution, min, max, gen, description)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant_uniform_normal),
		cmocka_unit_test(test_random_walk),
		cmocka_unit_test(test_mean_reverting),
		cmocka_unit_test(test_daily_profile),
		cmocka_unit_test(test_daily_noise),
		cmocka_unit_test(test_sine),
		cmocka_unit_test(test_poisson),
		cmocka_unit_test(test_sawtooth),
		cmocka_unit_test(test_csv_replay),
		cmocka_unit_test(test_csv_errors),
		cmocka_unit_test(test_determinism_and_shards),
		cmocka_unit_test(test_type_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
