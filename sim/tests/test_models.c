/* The built-in sensor models, driven directly (a fake device context, no engine) over simulated
 * days: ranges, invariants, plausibility against the reference figures (Part B of
 * modbus_sensors.md), commands, and determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sim/model.h"
#include "sim/sun.h"
#include "sim/weather.h"

static struct fb_tz *tz;

static fb_time_us at(const char *rfc3339)
{
	fb_time_us t;
	if (fb_parse_rfc3339(rfc3339, &t))
		fail_msg("bad date '%s'", rfc3339);
	return t;
}

/* One device of a model, as the engine would run it. */
struct rig {
	const struct fb_model *m;
	struct fb_world world;
	struct fb_site site;
	struct fb_rng rng;
	struct fb_device_ctx ctx;
	_Alignas(16) unsigned char state[256];
	_Alignas(16) unsigned char params[512];
};

static const struct fb_model *model(const char *name)
{
	const struct fb_model *m = fb_model_find(name);
	if (!m)
		fail_msg("no model '%s'", name);
	return m;
}

static void rig_setup(struct rig *r, const struct fb_model *m, uint64_t seed, uint32_t index,
                      uint32_t index_in_fleet)
{
	memset(r, 0, sizeof *r);
	r->m = m;
	r->site = (struct fb_site){ "marseille-vieux-port", "Marseille", 43.2951, 5.3744, 500, 0 };
	r->world = (struct fb_world){ seed, tz, 0, 0, &r->site, 1 };
	assert_true(m->state_size <= sizeof r->state);
	assert_true(m->params_size <= sizeof r->params);
	fb_model_params_default(m, r->params);
	fb_rng_init(&r->rng, seed, index, FB_RNG_VALUES);
	r->ctx = (struct fb_device_ctx){ &r->world, m, NULL, &r->site, r->params, index,
	                                 index_in_fleet, m->default_interval_us, &r->rng };
}

static void set_param(struct rig *r, const char *name, double value)
{
	for (const struct fb_param *p = r->m->params; p && p->name; p++) {
		if (strcmp(p->name, name))
			continue;
		char *dst = (char *)r->params + p->offset;
		switch (p->kind) {
		case FB_PARAM_NUMBER: memcpy(dst, &value, sizeof value); break;
		case FB_PARAM_DURATION: {
			fb_time_us d = (fb_time_us)llround(value * FB_US_PER_S);
			memcpy(dst, &d, sizeof d);
			break;
		}
		case FB_PARAM_ENUM: { int e = (int)value; memcpy(dst, &e, sizeof e); break; }
		case FB_PARAM_BOOL: { bool b = value != 0; memcpy(dst, &b, sizeof b); break; }
		case FB_PARAM_INT: { int64_t i = (int64_t)value; memcpy(dst, &i, sizeof i); break; }
		}
		return;
	}
	fail_msg("model '%s' has no param '%s'", r->m->name, name);
}

static int choice(const struct fb_model *m, const char *param, const char *name)
{
	for (const struct fb_param *p = m->params; p && p->name; p++)
		if (!strcmp(p->name, param))
			for (int i = 0; p->choices[i]; i++)
				if (!strcmp(p->choices[i], name))
					return i;
	fail_msg("no choice '%s' for '%s'", name, param);
	return -1;
}

static int field(const struct fb_model *m, const char *name)
{
	int i = fb_model_field_index(m, name);
	if (i < 0)
		fail_msg("model '%s' has no field '%s'", m->name, name);
	return i;
}

static void rig_start(struct rig *r, fb_time_us start)
{
	r->world.start = start;
	r->world.end = start + 400 * FB_US_PER_DAY;
	if (r->m->init)
		assert_int_equal(r->m->init(&r->ctx, r->state, start), 0);
}

/* The next sample of the rig after `last`: raw values checked against the field table (finite,
 * in range, enums and booleans whole), then quantized as the engine does. */
static fb_time_us rig_next(struct rig *r, fb_time_us last)
{
	return r->m->next_time ? r->m->next_time(&r->ctx, r->state, last)
	                       : last + r->ctx.interval_us;
}

static void rig_sample(struct rig *r, fb_time_us t, double *v)
{
	r->m->sample(&r->ctx, r->state, t, v);
	for (unsigned i = 0; i < r->m->nfields; i++) {
		const struct fb_field *f = &r->m->fields[i];
		if (!isfinite(v[i]) || v[i] < f->min || v[i] > f->max)
			fail_msg("%s.%s = %g outside [%g, %g]", r->m->name, f->name, v[i], f->min, f->max);
		if (f->kind != FB_FIELD_NUMBER && v[i] != floor(v[i]))
			fail_msg("%s.%s = %g is not whole", r->m->name, f->name, v[i]);
		v[i] = fb_field_quantize(f, v[i]);
	}
}

typedef void (*visit_fn)(void *arg, fb_time_us t, const double *v);

/* Runs the device from `start` (init) through samples at times < end. */
static size_t run(struct rig *r, fb_time_us start, fb_time_us end, visit_fn fn, void *arg)
{
	rig_start(r, start);
	size_t n = 0;
	double v[FB_MAX_FIELDS];
	for (fb_time_us t = rig_next(r, start); t < end; t = rig_next(r, t)) {
		rig_sample(r, t, v);
		if (fn)
			fn(arg, t, v);
		n++;
	}
	return n;
}

/* ---- every model ---- */

static void test_all_models_in_range_and_small(void **unused)
{
	(void)unused;
	const char *starts[] = { "2026-01-01T00:00:00+01:00", "2026-06-15T00:00:00+02:00",
	                         "2026-10-10T00:00:00+02:00" };
	int n = 0;
	for (size_t i = 0; fb_builtin_models[i]; i++, n++) {
		const struct fb_model *m = fb_builtin_models[i];
		assert_true(m->state_size <= 64);
		assert_true(m->nfields > 0 && m->nfields <= FB_MAX_FIELDS);
		assert_true(m->default_interval_us > 0);
		for (size_t s = 0; s < 3; s++) {
			struct rig r;
			rig_setup(&r, m, 7 + s, 100 + (uint32_t)i, 3);
			fb_time_us t0 = at(starts[s]);
			assert_true(run(&r, t0, t0 + 3 * FB_US_PER_DAY, NULL, NULL) > 0);
		}
	}
	assert_int_equal(n, 7);
	assert_non_null(fb_model_find("pedestrian-counter"));
	/* Two years at a 25 h interval (every hour of the day, every season, a New Year, the
	 * battery's end of life): still in range. */
	for (size_t i = 0; fb_builtin_models[i]; i++) {
		struct rig r;
		rig_setup(&r, fb_builtin_models[i], 99, 7, 7);
		r.ctx.interval_us = 25 * FB_US_PER_H;
		fb_time_us t0 = at("2026-01-01T00:00:00+01:00");
		assert_true(run(&r, t0, t0 + 730 * FB_US_PER_DAY, NULL, NULL) > 600);
	}
}

struct trace {
	size_t n, cap;
	fb_time_us *t;
	double *v;
	unsigned nf;
};

static void record(void *arg, fb_time_us t, const double *v)
{
	struct trace *tr = arg;
	if (tr->n == tr->cap) {
		tr->cap = tr->cap ? 2 * tr->cap : 1024;
		tr->t = realloc(tr->t, tr->cap * sizeof *tr->t);
		tr->v = realloc(tr->v, tr->cap * tr->nf * sizeof *tr->v);
		assert_non_null(tr->t);
		assert_non_null(tr->v);
	}
	tr->t[tr->n] = t;
	memcpy(tr->v + tr->n * tr->nf, v, tr->nf * sizeof *v);
	tr->n++;
}

static void trace_free(struct trace *tr)
{
	free(tr->t);
	free(tr->v);
	memset(tr, 0, sizeof *tr);
}

static struct trace record_run(struct rig *r, fb_time_us start, fb_time_us end)
{
	struct trace tr = { .nf = r->m->nfields };
	run(r, start, end, record, &tr);
	return tr;
}

static double val(const struct trace *tr, size_t i, int f) { return tr->v[i * tr->nf + (size_t)f]; }

static void test_determinism(void **unused)
{
	(void)unused;
	fb_time_us t0 = at("2026-10-01T00:00:00+02:00"), t1 = t0 + 2 * FB_US_PER_DAY;
	for (size_t i = 0; fb_builtin_models[i]; i++) {
		const struct fb_model *m = fb_builtin_models[i];
		struct rig a, b, c;
		rig_setup(&a, m, 42, 12, 12);
		rig_setup(&b, m, 42, 12, 12);
		rig_setup(&c, m, 42, 13, 13);
		struct trace ta = record_run(&a, t0, t1), tb = record_run(&b, t0, t1),
		             tc = record_run(&c, t0, t1);
		assert_int_equal(ta.n, tb.n);
		assert_memory_equal(ta.t, tb.t, ta.n * sizeof *ta.t);
		assert_memory_equal(ta.v, tb.v, ta.n * ta.nf * sizeof *ta.v);
		/* Another device differs somewhere (its own stream, its own faults and offsets). */
		size_t n = ta.n < tc.n ? ta.n : tc.n;
		bool differ = ta.n != tc.n || memcmp(ta.v, tc.v, n * ta.nf * sizeof *ta.v) != 0;
		if (!differ)
			fail_msg("model '%s': devices 12 and 13 gave identical traces", m->name);
		trace_free(&ta);
		trace_free(&tb);
		trace_free(&tc);
	}
}

/* ---- noise ---- */

struct noise_acc {
	int eq, max, min, l10, l50, l90;
	double day_energy, night_energy;
	int day_n, night_n;
	size_t n;
};

static void noise_visit(void *arg, fb_time_us t, const double *v)
{
	struct noise_acc *a = arg;
	double eq = v[a->eq];
	/* The order holds on every quantized sample. */
	if (!(v[a->min] <= v[a->l90] && v[a->l90] <= v[a->l50] && v[a->l50] <= v[a->l10] &&
	      v[a->l10] <= v[a->max] && v[a->min] <= eq && eq <= v[a->max]))
		fail_msg("noise order broken: min %.1f L90 %.1f L50 %.1f L10 %.1f max %.1f eq %.1f",
		         v[a->min], v[a->l90], v[a->l50], v[a->l10], v[a->max], eq);
	struct fb_localtime lt;
	fb_tz_local(tz, t, &lt);
	if (lt.hour >= 6 && lt.hour < 18) {
		a->day_energy += pow(10, eq / 10);
		a->day_n++;
	} else if (lt.hour >= 22 || lt.hour < 6) {
		a->night_energy += pow(10, eq / 10);
		a->night_n++;
	}
	a->n++;
}

static void test_noise_order_and_day_night(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("noise");
	/* Reference B1 classes: arterial day 68-73 / night 60-66, urban 62-68 / 52-58,
	 * residential 50-56 / 40-46 (a ±2 dB margin for the events and the slow anomaly). */
	struct { const char *profile; double day_lo, day_hi, night_lo, night_hi; } cases[] = {
		{ "arterial", 66, 75, 58, 68 },
		{ "urban", 60, 70, 50, 60 },
		{ "residential", 48, 58, 38, 48 },
		{ "nightlife", 50, 66, 52, 68 },
	};
	/* A dry week in July (weekdays and a weekend), then intervals of 1 s, 15 min too. */
	fb_time_us t0 = at("2026-07-06T00:00:00+02:00");
	for (size_t c = 0; c < 4; c++) {
		struct rig r;
		rig_setup(&r, m, 3, 40 + (uint32_t)c, 0);
		set_param(&r, "profile", choice(m, "profile", cases[c].profile));
		set_param(&r, "rain", 0);
		struct noise_acc a = { field(m, "LAeq"), field(m, "LAmax"), field(m, "LAmin"),
		                       field(m, "LA10"), field(m, "LA50"), field(m, "LA90") };
		run(&r, t0, t0 + 7 * FB_US_PER_DAY, noise_visit, &a);
		double day = 10 * log10(a.day_energy / a.day_n);
		double night = 10 * log10(a.night_energy / a.night_n);
		print_message("noise %-11s Ld %.1f  Ln %.1f dB(A) over %zu samples\n", cases[c].profile,
		              day, night, a.n);
		assert_true(day >= cases[c].day_lo && day <= cases[c].day_hi);
		assert_true(night >= cases[c].night_lo && night <= cases[c].night_hi);
		if (c < 3)
			assert_true(day > night + 4);
	}
	/* Other intervals: 15 min (900 one-second levels) and 1 s (all statistics equal). */
	fb_time_us intervals[] = { 15 * FB_US_PER_MIN, FB_US_PER_S, 10 * FB_US_PER_S };
	for (size_t k = 0; k < 3; k++) {
		struct rig r;
		rig_setup(&r, m, 5, 7, 0);
		r.ctx.interval_us = intervals[k];
		struct noise_acc a = { field(m, "LAeq"), field(m, "LAmax"), field(m, "LAmin"),
		                       field(m, "LA10"), field(m, "LA50"), field(m, "LA90") };
		fb_time_us span = k == 0 ? 2 * FB_US_PER_DAY : FB_US_PER_H;
		run(&r, t0, t0 + span, noise_visit, &a);
		assert_true(a.n > 0);
	}
}

static void test_noise_rain_raises_levels(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("noise");
	struct fb_rain_episode ep;
	int64_t day = fb_days_from_civil(2026, 10, 1);
	do
		day++;
	while (!fb_weather_episode(4, 0, day, &ep) ||
	       ep.total_mm / ((double)(ep.end - ep.start) / FB_US_PER_H) < 3);
	struct rig wet, dry;
	rig_setup(&wet, m, 4, 9, 0);
	rig_setup(&dry, m, 4, 9, 0);
	set_param(&dry, "rain", 0);
	struct trace tw = record_run(&wet, ep.start, ep.end), td = record_run(&dry, ep.start, ep.end);
	int eq = field(m, "LAeq"), l90 = field(m, "LA90");
	double gain = 0;
	assert_int_equal(tw.n, td.n);
	for (size_t i = 0; i < tw.n; i++) {
		assert_true(val(&tw, i, eq) >= val(&td, i, eq));
		gain += val(&tw, i, l90) - val(&td, i, l90);
	}
	gain /= (double)tw.n;
	print_message("noise in %.1f mm/h of rain: background LA90 +%.1f dB\n",
	              ep.total_mm / ((double)(ep.end - ep.start) / FB_US_PER_H), gain);
	assert_true(gain > 2);
	trace_free(&tw);
	trace_free(&td);
}

static void test_noise_statistics_spread(void **unused)
{
	(void)unused;
	/* Traffic noise: L10 ≈ LAeq + 2..4, L90 ≈ LAeq − 6..10 (reference B1), on average. */
	const struct fb_model *m = model("noise");
	struct rig r;
	rig_setup(&r, m, 11, 5, 0);
	set_param(&r, "profile", choice(m, "profile", "urban"));
	r.ctx.interval_us = 15 * FB_US_PER_MIN;
	fb_time_us t0 = at("2026-07-07T08:00:00+02:00");
	struct trace tr = record_run(&r, t0, t0 + 10 * FB_US_PER_H);
	double d10 = 0, d90 = 0;
	for (size_t i = 0; i < tr.n; i++) {
		d10 += val(&tr, i, field(m, "LA10")) - val(&tr, i, field(m, "LAeq"));
		d90 += val(&tr, i, field(m, "LAeq")) - val(&tr, i, field(m, "LA90"));
	}
	d10 /= (double)tr.n;
	d90 /= (double)tr.n;
	print_message("noise urban daytime: LA10 - LAeq %.1f dB, LAeq - LA90 %.1f dB\n", d10, d90);
	assert_true(d10 > 0.5 && d10 < 6);
	assert_true(d90 > 4 && d90 < 13);
	trace_free(&tr);
}

/* ---- streetlight ---- */

static void test_sun_times_match_reference_table(void **unused)
{
	(void)unused;
	/* Reference B5: Marseille 43.30 N 5.37 E, legal time (CET +1, CEST +2). */
	struct { int y, m, d, off_h; const char *rise, *set; } rows[] = {
		{ 2026, 1, 1, 1, "08:11", "17:13" },
		{ 2026, 3, 20, 1, "06:43", "18:50" },
		{ 2026, 6, 21, 2, "05:58", "21:22" },
		{ 2026, 9, 22, 2, "07:25", "19:37" },
		{ 2026, 12, 21, 1, "08:07", "17:06" },
	};
	for (size_t i = 0; i < 5; i++) {
		fb_time_us rise, set;
		assert_int_equal(fb_sun_times(43.30, 5.37, rows[i].y, rows[i].m, rows[i].d, &rise, &set),
		                 FB_SUN_NORMAL);
		int64_t midnight = fb_days_from_civil(rows[i].y, rows[i].m, rows[i].d) * FB_US_PER_DAY;
		double rise_min = (double)(rise - midnight) / FB_US_PER_MIN + 60.0 * rows[i].off_h;
		double set_min = (double)(set - midnight) / FB_US_PER_MIN + 60.0 * rows[i].off_h;
		double ref_rise = atoi(rows[i].rise) * 60 + atoi(rows[i].rise + 3);
		double ref_set = atoi(rows[i].set) * 60 + atoi(rows[i].set + 3);
		print_message("sun %04d-%02d-%02d rise %02d:%02d (ref %s) set %02d:%02d (ref %s)\n",
		              rows[i].y, rows[i].m, rows[i].d, (int)rise_min / 60, (int)rise_min % 60,
		              rows[i].rise, (int)set_min / 60, (int)set_min % 60, rows[i].set);
		assert_true(fabs(rise_min - ref_rise) <= 2.0);
		assert_true(fabs(set_min - ref_set) <= 2.0);
	}
	/* Polar cases are reported, not computed into nonsense. */
	fb_time_us a, b;
	assert_int_equal(fb_sun_times(78.2, 15.6, 2026, 6, 21, &a, &b), FB_SUN_POLAR_DAY);
	assert_int_equal(fb_sun_times(78.2, 15.6, 2026, 12, 21, &a, &b), FB_SUN_POLAR_NIGHT);
}

static void light_quiet(struct rig *r)
{
	set_param(r, "lamp_failure_rate", 0);
	set_param(r, "day_burning_rate", 0);
	set_param(r, "supply_loss_rate", 0);
}

/* Local minutes of the day of the first switch-on after 12:00 and the first switch-off after
 * 00:00, sampled every minute on the local date starting at `midnight`. */
static void switch_minutes(struct rig *r, fb_time_us midnight, double *off_min, double *on_min)
{
	const struct fb_model *m = r->m;
	int ps = field(m, "powerState");
	struct trace tr;
	r->ctx.interval_us = FB_US_PER_MIN;
	tr = record_run(r, midnight, midnight + FB_US_PER_DAY);
	*off_min = *on_min = -1;
	for (size_t i = 1; i < tr.n; i++) {
		double prev = val(&tr, i - 1, ps), cur = val(&tr, i, ps);
		struct fb_localtime lt;
		fb_tz_local(tz, tr.t[i], &lt);
		double minute = lt.hour * 60 + lt.min;
		if (prev == 1 && cur == 0 && *off_min < 0)
			*off_min = minute;
		if (prev == 0 && cur == 1 && lt.hour >= 12)
			*on_min = minute;
	}
	trace_free(&tr);
}

static void test_streetlight_follows_sunset_and_sunrise(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("streetlight");
	struct { const char *midnight; const char *rise, *set; } rows[] = {
		{ "2026-01-01T00:00:00+01:00", "08:11", "17:13" },
		{ "2026-03-20T00:00:00+01:00", "06:43", "18:50" },
		{ "2026-06-21T00:00:00+02:00", "05:58", "21:22" },
		{ "2026-09-22T00:00:00+02:00", "07:25", "19:37" },
		{ "2026-12-21T00:00:00+01:00", "08:07", "17:06" },
	};
	for (size_t i = 0; i < 5; i++) {
		struct rig r;
		rig_setup(&r, m, 1, 200 + (uint32_t)i, 0);
		light_quiet(&r);
		double off, on;
		switch_minutes(&r, at(rows[i].midnight), &off, &on);
		double ref_rise = atoi(rows[i].rise) * 60 + atoi(rows[i].rise + 3);
		double ref_set = atoi(rows[i].set) * 60 + atoi(rows[i].set + 3);
		print_message("light %s: off %02d:%02d (sunrise %s), on %02d:%02d (sunset %s)\n",
		              rows[i].midnight, (int)off / 60, (int)off % 60, rows[i].rise,
		              (int)on / 60, (int)on % 60, rows[i].set);
		/* Off before sunrise, on after sunset (photocell lag 10 min ± 2), within 15 min. */
		assert_true(off <= ref_rise && off >= ref_rise - 15);
		assert_true(on >= ref_set && on <= ref_set + 15);
	}
	/* DST: Sunday 29 March 2026 the clocks go from 02:00 CET to 03:00 CEST, so the local
	 * sunset jumps by about an hour from the Saturday (≈19:00 -> ≈20:00) while the sun itself
	 * moves about a minute. */
	double off28, on28, off29, on29;
	struct rig r;
	rig_setup(&r, m, 1, 300, 0);
	light_quiet(&r);
	switch_minutes(&r, at("2026-03-28T00:00:00+01:00"), &off28, &on28);
	rig_setup(&r, m, 1, 300, 0);
	light_quiet(&r);
	switch_minutes(&r, at("2026-03-29T00:00:00+01:00"), &off29, &on29);
	fb_time_us rise, set;
	fb_sun_times(43.2951, 5.3744, 2026, 3, 29, &rise, &set);
	double set29 = (double)(set - fb_days_from_civil(2026, 3, 29) * FB_US_PER_DAY) /
	               FB_US_PER_MIN + 120;   /* CEST in the evening */
	double rise29 = (double)(rise - fb_days_from_civil(2026, 3, 29) * FB_US_PER_DAY) /
	                FB_US_PER_MIN + 120;  /* and at sunrise (after 03:00) */
	print_message("light DST 28/29 March: on %02d:%02d -> %02d:%02d, off %02d:%02d -> %02d:%02d\n",
	              (int)on28 / 60, (int)on28 % 60, (int)on29 / 60, (int)on29 % 60,
	              (int)off28 / 60, (int)off28 % 60, (int)off29 / 60, (int)off29 % 60);
	assert_true(on29 - on28 > 55 && on29 - on28 < 65);
	assert_true(off29 - off28 > 55 && off29 - off28 < 65);
	assert_true(on29 >= set29 && on29 <= set29 + 15);
	assert_true(off29 <= rise29 && off29 >= rise29 - 15);
}

static void test_streetlight_dimming_profile_and_energy(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("streetlight");
	struct rig r;
	rig_setup(&r, m, 2, 17, 0);
	light_quiet(&r);
	r.ctx.interval_us = 5 * FB_US_PER_MIN;
	fb_time_us t0 = at("2026-01-10T12:00:00+01:00");
	struct trace tr = record_run(&r, t0, t0 + FB_US_PER_DAY);
	int dim = field(m, "dimmingLevel"), pw = field(m, "activePower"), en = field(m, "activeEnergy");
	int hrs = field(m, "operatingHours");
	double lit_h = 0, energy_expected = 0;
	for (size_t i = 0; i < tr.n; i++) {
		struct fb_localtime lt;
		fb_tz_local(tz, tr.t[i], &lt);
		double d = val(&tr, i, dim);
		if (lt.hour == 21)
			assert_true(d == 100);
		if (lt.hour >= 0 && lt.hour < 5)
			assert_true(d == 50);
		if (lt.hour == 13)
			assert_true(d == 0 && val(&tr, i, pw) == 0);
		if (i > 0) {
			double p = (val(&tr, i - 1, pw) + val(&tr, i, pw)) / 2;   /* trapezoid */
			energy_expected += p * 5.0 / 60 / 1000;
			lit_h += val(&tr, i, dim) > 0 ? 5.0 / 60 : 0;
		}
		if (i > 0)
			assert_true(val(&tr, i, en) >= val(&tr, i - 1, en));
	}
	double de = val(&tr, tr.n - 1, en) - val(&tr, 0, en);
	double dh = val(&tr, tr.n - 1, hrs) - val(&tr, 0, hrs);
	print_message("light January night: %.3f kWh (trapezoid of samples %.3f), %.2f h lit\n",
	              de, energy_expected, dh);
	assert_true(fabs(de - energy_expected) < 0.03 * energy_expected + 0.01);
	assert_true(fabs(dh - lit_h) < 0.3);
	assert_true(dh > 14 && dh < 15.5);   /* 15.0 dark h on 1 Jan, minus 2 x 10 min lag */
	trace_free(&tr);
}

static void test_streetlight_commands(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("streetlight");
	struct rig r;
	rig_setup(&r, m, 4, 33, 0);
	light_quiet(&r);
	int ps = field(m, "powerState"), dim = field(m, "dimmingLevel"), pw = field(m, "activePower");
	int en = field(m, "activeEnergy");
	fb_time_us t0 = at("2026-02-02T18:00:00+01:00");
	rig_start(&r, t0);
	double v[FB_MAX_FIELDS];
	fb_time_us t = t0 + 3 * FB_US_PER_H;    /* 21:00, full power */
	rig_sample(&r, t, v);
	assert_true(v[ps] == 1 && v[dim] == 100);
	double full = v[pw];
	assert_true(full > 45 && full < 60);
	/* Dim to 30 %: the next sample shows it, and the energy grows at the lower rate. */
	assert_int_equal(m->command(&r.ctx, r.state, t, "dimmingLevel", 30), 0);
	double e0 = v[en];
	t += 15 * FB_US_PER_MIN;
	rig_sample(&r, t, v);
	assert_true(v[dim] == 30);
	assert_true(v[pw] < 0.4 * full && v[pw] > 0.2 * full);
	double de = v[en] - e0;
	assert_true(fabs(de - v[pw] * 0.25 / 1000) < 0.0015);
	/* The dimming holds through the night's own 23:00 step ... */
	t = t0 + 6 * FB_US_PER_H;   /* 00:00 */
	rig_sample(&r, t, v);
	assert_true(v[dim] == 30);
	/* ... until the next scheduled switch (sunrise): the next evening is back to schedule. */
	t = t0 + 24 * FB_US_PER_H + 3 * FB_US_PER_H;   /* next day 21:00 */
	rig_sample(&r, t, v);
	assert_true(v[dim] == 100);
	/* Force off at night: dark now, on again from the next sunset. */
	assert_int_equal(m->command(&r.ctx, r.state, t, "powerState", 0), 0);
	t += 15 * FB_US_PER_MIN;
	rig_sample(&r, t, v);
	assert_true(v[ps] == 0 && v[pw] == 0 && v[dim] == 0);
	/* Force on at noon: lit at 100 % in daylight until the evening switch takes over. */
	t = t0 + 42 * FB_US_PER_H;   /* 12:00 */
	rig_sample(&r, t, v);
	assert_true(v[ps] == 0 && v[pw] == 0);
	assert_int_equal(m->command(&r.ctx, r.state, t, "powerState", 1), 0);
	t += 15 * FB_US_PER_MIN;
	rig_sample(&r, t, v);
	assert_true(v[ps] == 1 && v[dim] == 100 && v[pw] > 45);
	/* Refused: unknown or read-only fields, out of range values. */
	assert_int_equal(m->command(&r.ctx, r.state, t, "activePower", 1), -1);
	assert_int_equal(m->command(&r.ctx, r.state, t, "dimmingLevel", 101), -1);
	assert_int_equal(m->command(&r.ctx, r.state, t, "dimmingLevel", NAN), -1);
}

static void test_streetlight_cabinet_supply_loss(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("streetlight");
	enum { N = 24, CAB = 8 };
	struct trace tr[N];
	fb_time_us t0 = at("2026-11-01T00:00:00+01:00");
	for (uint32_t d = 0; d < N; d++) {
		struct rig r;
		/* The fleet starts at global index 500: cabinets are fleet positions 0-7, 8-15, 16-23. */
		rig_setup(&r, m, 9, 500 + d, d);
		set_param(&r, "supply_loss_rate", 60);
		set_param(&r, "cabinet_size", CAB);
		r.ctx.interval_us = 10 * FB_US_PER_MIN;
		tr[d] = record_run(&r, t0, t0 + 20 * FB_US_PER_DAY);
	}
	int st = field(m, "status"), pw = field(m, "activePower"), en = field(m, "activeEnergy");
	size_t losses = 0, cabinets_differ = 0;
	for (size_t i = 0; i < tr[0].n; i++) {
		for (uint32_t d = 0; d < N; d++) {
			bool loss = val(&tr[d], i, st) == 3;
			bool first_loss = val(&tr[d - d % CAB], i, st) == 3;
			assert_true(loss == first_loss);   /* the whole cabinet at once */
			if (loss)
				assert_true(val(&tr[d], i, pw) == 0);
			/* No energy drawn between two samples inside one outage. */
			if (loss && i > 0 && val(&tr[d], i - 1, st) == 3)
				assert_true(val(&tr[d], i, en) == val(&tr[d], i - 1, en));
		}
		losses += val(&tr[0], i, st) == 3;
		cabinets_differ += (val(&tr[0], i, st) == 3) != (val(&tr[CAB], i, st) == 3);
	}
	print_message("light supply loss: %zu of %zu samples in cabinet 0\n", losses, tr[0].n);
	assert_true(losses > 0);
	assert_true(cabinets_differ > 0);
	for (uint32_t d = 0; d < N; d++)
		trace_free(&tr[d]);
}

static void test_streetlight_faults(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("streetlight");
	int st = field(m, "status"), pw = field(m, "activePower"), ps = field(m, "powerState");
	size_t failures = 0, day_burning = 0;
	for (uint32_t d = 0; d < 6; d++) {
		struct rig r;
		rig_setup(&r, m, 21, d, d);
		set_param(&r, "supply_loss_rate", 0);
		set_param(&r, "lamp_failure_rate", 20);
		set_param(&r, "day_burning_rate", 20);
		r.ctx.interval_us = 30 * FB_US_PER_MIN;
		fb_time_us t0 = at("2026-04-01T00:00:00+02:00");
		struct trace tr = record_run(&r, t0, t0 + 60 * FB_US_PER_DAY);
		for (size_t i = 0; i < tr.n; i++) {
			if (val(&tr, i, st) == 1) {
				failures++;
				assert_true(val(&tr, i, pw) < 1);   /* lamp failure: driver only */
			}
			if (val(&tr, i, st) == 2) {
				day_burning++;
				assert_true(val(&tr, i, ps) == 1 && val(&tr, i, pw) > 40);
			}
		}
		trace_free(&tr);
	}
	assert_true(failures > 0);
	assert_true(day_burning > 0);
}

/* ---- counters ---- */

struct hourly {
	double sum[24];
	int days;
};

static void test_counters_totals_and_resets(void **unused)
{
	(void)unused;
	const char *names[] = { "bike-counter", "pedestrian-counter" };
	for (int k = 0; k < 2; k++) {
		const struct fb_model *m = model(names[k]);
		int in = field(m, "intensity"), fw = field(m, "intensityForward");
		int bw = field(m, "intensityBackward"), dt = field(m, "dailyTotal");
		int yt = field(m, "yearTotal");
		struct rig r;
		rig_setup(&r, m, 5, 60 + (uint32_t)k, 0);
		/* Over New Year: 28 December to 4 January. */
		fb_time_us t0 = at("2026-12-28T00:00:00+01:00");
		struct trace tr = record_run(&r, t0, t0 + 8 * FB_US_PER_DAY);
		int midnights = 0, new_years = 0;
		double since_midnight = 0;
		for (size_t i = 0; i < tr.n; i++) {
			struct fb_localtime lt;
			fb_tz_local(tz, tr.t[i], &lt);
			assert_true(val(&tr, i, in) == val(&tr, i, fw) + val(&tr, i, bw));
			if (lt.hour == 0 && lt.min == 0) {
				/* The totem opens the day at zero. */
				assert_true(val(&tr, i, dt) == 0);
				midnights++;
				since_midnight = 0;
				if (lt.month == 1 && lt.mday == 1) {
					assert_true(val(&tr, i, yt) == 0);
					assert_true(i > 0 && val(&tr, i - 1, yt) > 0);
					new_years++;
				}
				continue;
			}
			since_midnight += val(&tr, i, in);
			assert_true(val(&tr, i, dt) == since_midnight);
			if (i > 0) {
				assert_true(val(&tr, i, dt) >= val(&tr, i - 1, dt));
				assert_true(val(&tr, i, yt) >= val(&tr, i - 1, yt));
				assert_true(val(&tr, i, yt) - val(&tr, i - 1, yt) == val(&tr, i, in));
			}
		}
		assert_int_equal(midnights, 7);
		assert_int_equal(new_years, 1);
		trace_free(&tr);
	}
}

static void hourly_visit(void *arg, fb_time_us t, const double *v)
{
	struct hourly *h = arg;
	struct fb_localtime lt;
	/* The sample at t counts the 15 minutes before it. */
	fb_tz_local(tz, t - 1, &lt);
	if (lt.wday >= 1 && lt.wday <= 5)
		h->sum[lt.hour] += v[0];
}

static void weekday_profile(const char *name, double *share)
{
	const struct fb_model *m = model(name);
	struct rig r;
	rig_setup(&r, m, 8, 70, 0);
	set_param(&r, "daily", 20000);
	set_param(&r, "weather", 0);
	struct hourly h = { { 0 }, 0 };
	fb_time_us t0 = at("2026-09-07T00:00:00+02:00");   /* Monday; four weeks */
	run(&r, t0, t0 + 28 * FB_US_PER_DAY, hourly_visit, &h);
	double total = 0;
	for (int i = 0; i < 24; i++)
		total += h.sum[i];
	for (int i = 0; i < 24; i++)
		share[i] = 100 * h.sum[i] / total;
}

static int argmax(const double *x, int from, int to)
{
	int best = from;
	for (int i = from; i <= to; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static void test_counters_daily_profiles(void **unused)
{
	(void)unused;
	double bike[24], ped[24];
	weekday_profile("bike-counter", bike);
	weekday_profile("pedestrian-counter", ped);
	print_message("bike weekday %%/h: 7h %.1f 8h %.1f 9h %.1f 13h %.1f 17h %.1f 18h %.1f 19h %.1f\n",
	              bike[7], bike[8], bike[9], bike[13], bike[17], bike[18], bike[19]);
	/* Commuter double peak (reference B4: 8-9 h 7.0/7.9 %, 18-19 h 10.7 %). */
	int am = argmax(bike, 5, 11), pm = argmax(bike, 15, 22);
	assert_true(am == 8 || am == 9);
	assert_true(pm == 17 || pm == 18 || pm == 19);
	assert_true(bike[am] > 1.5 * bike[13] && bike[pm] > 2 * bike[13]);
	assert_true(bike[3] < 0.5);
	/* Pedestrians: flatter, with a lunchtime peak. */
	int noon = argmax(ped, 10, 15);
	assert_true(noon == 12 || noon == 13);
	assert_true(ped[12] > ped[10] && ped[12] > ped[15]);
	double bike_peak = bike[argmax(bike, 0, 23)], ped_peak = ped[argmax(ped, 0, 23)];
	assert_true(ped_peak < bike_peak);
}

static void test_counters_volume_weekend_and_rain(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("bike-counter");
	int dt = field(m, "dailyTotal");
	/* Weather off: the weekday mean is daily x the month factor (June: 19.2k / 14.9k). */
	struct rig r;
	rig_setup(&r, m, 12, 80, 0);
	set_param(&r, "weather", 0);
	fb_time_us t0 = at("2026-06-01T00:00:00+02:00");   /* Monday */
	struct trace tr = record_run(&r, t0, t0 + 28 * FB_US_PER_DAY + 1);
	double weekday = 0, weekend = 0;
	int nwd = 0, nwe = 0;
	for (size_t i = 0; i < tr.n; i++) {
		struct fb_localtime lt;
		fb_tz_local(tz, tr.t[i], &lt);
		if (lt.hour || lt.min || i == 0)
			continue;
		/* The last sample of the day before midnight holds that day's total. */
		double total = val(&tr, i - 1, dt) + val(&tr, i, field(m, "intensity"));
		fb_tz_local(tz, tr.t[i] - 1, &lt);
		if (lt.wday == 0 || lt.wday == 6) { weekend += total; nwe++; }
		else { weekday += total; nwd++; }
	}
	weekday /= nwd;
	weekend /= nwe;
	print_message("bike June: weekday %.0f/day, weekend %.0f/day (ratio %.2f)\n", weekday, weekend,
	              weekend / weekday);
	assert_true(weekday > 1500 * 1.285 * 0.88 && weekday < 1500 * 1.285 * 1.12);
	assert_true(weekend / weekday > 0.6 && weekend / weekday < 0.95);
	trace_free(&tr);

	/* Rain: the hours of rain episodes count fewer bikes than the same hours with weather off. */
	double wet = 0, dry = 0;
	fb_time_us a0 = at("2026-10-01T00:00:00+02:00");
	for (int hour = 0; hour < 24 * 61; hour++) {
		fb_time_us t = a0 + hour * FB_US_PER_H;
		if (fb_weather_rain_mm_h(12, 0, t + 30 * FB_US_PER_MIN) < 2)
			continue;
		struct rig w, d;
		rig_setup(&w, m, 12, 81, 0);
		rig_setup(&d, m, 12, 81, 0);
		set_param(&d, "weather", 0);
		set_param(&w, "daily", 50000);
		set_param(&d, "daily", 50000);
		double v[FB_MAX_FIELDS];
		rig_start(&w, t);
		rig_start(&d, t);
		w.ctx.interval_us = d.ctx.interval_us = FB_US_PER_H;
		rig_sample(&w, t + FB_US_PER_H, v);
		wet += v[0];
		rig_sample(&d, t + FB_US_PER_H, v);
		dry += v[0];
	}
	print_message("bike rain hours (>= 2 mm/h): %.0f counted vs %.0f without weather\n", wet, dry);
	assert_true(dry > 0 && wet < 0.85 * dry);
}

/* ---- waste ---- */

static void test_waste_fills_then_empties(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("waste");
	int fl = field(m, "fillingLevel"), st = field(m, "status"), bat = field(m, "batteryLevel");
	struct rig r;
	rig_setup(&r, m, 6, 90, 0);
	set_param(&r, "invalid_rate", 0);
	set_param(&r, "fire_rate", 0);
	fb_time_us t0 = at("2026-03-02T00:00:00+01:00");
	struct trace tr = record_run(&r, t0, t0 + 90 * FB_US_PER_DAY);
	int emptyings = 0;
	size_t last_empty = 0;
	for (size_t i = 1; i < tr.n; i++) {
		if (val(&tr, i, st) != 2)
			continue;
		/* Emptying: the level drops from above the threshold (less the reading noise) to a few
		 * percent, on a working-day morning, reported by the tilt uplink 2 min after the lift. */
		struct fb_localtime lt;
		fb_tz_local(tz, tr.t[i], &lt);
		if (val(&tr, i, fl) > 0.2)
			continue;   /* a rare displacement outside a collection */
		emptyings++;
		assert_true(val(&tr, i - 1, fl) >= 0.6);
		assert_true(lt.wday >= 1 && lt.wday <= 5 && lt.hour >= 6 && lt.hour < 13);
		assert_true(tr.t[i] - tr.t[i - 1] < r.ctx.interval_us);
		/* The level rose over the cycle: two days before, it was clearly lower. */
		if (last_empty) {
			size_t j = i - 12;   /* 4 h samples: two days back */
			assert_true(j > last_empty);
			assert_true(val(&tr, i - 1, fl) > val(&tr, last_empty + 1, fl) + 0.4);
		}
		last_empty = i;
	}
	print_message("waste: %d emptyings in 90 days\n", emptyings);
	assert_true(emptyings >= 3 && emptyings <= 12);
	/* Battery only goes down, ~1 %/month. */
	double drop = val(&tr, 0, bat) - val(&tr, tr.n - 1, bat);
	assert_true(drop > 0.015 && drop < 0.05);
	trace_free(&tr);

	/* Fixed rounds: every 14 days, on the same weekday. */
	rig_setup(&r, m, 6, 91, 0);
	set_param(&r, "emptying", choice(m, "emptying", "fixed"));
	set_param(&r, "invalid_rate", 0);
	tr = record_run(&r, t0, t0 + 90 * FB_US_PER_DAY);
	fb_time_us prev = 0;
	int rounds = 0;
	for (size_t i = 0; i < tr.n; i++) {
		if (val(&tr, i, st) != 2 || val(&tr, i, fl) > 0.2)
			continue;
		if (prev) {
			double days = (double)(tr.t[i] - prev) / FB_US_PER_DAY;
			assert_true(days > 13.7 && days < 14.3);
		}
		prev = tr.t[i];
		rounds++;
	}
	assert_true(rounds >= 6 && rounds <= 7);
	trace_free(&tr);
}

static void test_waste_alarms(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("waste");
	int fl = field(m, "fillingLevel"), st = field(m, "status"), temp = field(m, "temperature");
	struct rig r;
	rig_setup(&r, m, 6, 92, 0);
	set_param(&r, "invalid_rate", 0.05);
	set_param(&r, "fire_rate", 20);
	fb_time_us t0 = at("2026-07-01T00:00:00+02:00");
	struct trace tr = record_run(&r, t0, t0 + 120 * FB_US_PER_DAY);
	int burning = 0, invalid = 0, ok = 0;
	for (size_t i = 0; i < tr.n; i++) {
		int s = (int)val(&tr, i, st);
		if (s == 3) {
			burning++;
			assert_true(val(&tr, i, temp) >= 60);
		} else if (s == 4) {
			invalid++;
			assert_true(val(&tr, i, fl) == 0 || val(&tr, i, fl) == 1);
		} else if (s == 0) {
			ok++;
			assert_true(val(&tr, i, temp) > 5 && val(&tr, i, temp) < 50);
		}
	}
	assert_true(burning > 0 && invalid > 0 && ok > invalid);
	trace_free(&tr);
}

/* ---- water ---- */

/* A storm day with at least `mm` of rain at site 0 for this seed, searched from `from`. */
static int64_t find_storm(uint64_t seed, int64_t from, double mm, struct fb_rain_episode *ep)
{
	for (int64_t day = from; day < from + 3 * 365; day++)
		if (fb_weather_episode(seed, 0, day, ep) && ep->total_mm >= mm)
			return day;
	fail_msg("no storm of %g mm in three years", mm);
	return 0;
}

static void test_water_level_storm_rises_and_recedes(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("water-level");
	struct fb_rain_episode ep;
	uint64_t seed = 31;
	find_storm(seed, fb_days_from_civil(2026, 9, 1), 60, &ep);
	fb_time_us t0 = ep.start - FB_US_PER_DAY;
	struct rig r;
	rig_setup(&r, m, seed, 3, 0);
	struct trace tr = record_run(&r, t0, ep.end + 3 * FB_US_PER_DAY);
	double before = val(&tr, 0, 0), peak = 0;
	size_t ipeak = 0;
	for (size_t i = 0; i < tr.n; i++)
		if (val(&tr, i, 0) > peak) {
			peak = val(&tr, i, 0);
			ipeak = i;
		}
	double after = val(&tr, tr.n - 1, 0);
	/* Faster reporting while rising: samples at the 2-minute fast interval before the peak. */
	int fast = 0;
	for (size_t i = 1; i <= ipeak; i++)
		fast += tr.t[i] - tr.t[i - 1] == 2 * FB_US_PER_MIN;
	int slow_after = 0;
	for (size_t i = ipeak + 2; i < tr.n; i++)
		slow_after += tr.t[i] - tr.t[i - 1] == 15 * FB_US_PER_MIN;
	print_message("water-level: %.0f mm storm, %.3f m before, peak %.3f m %.1f h after the rain "
	              "began, %.3f m three days later; %d fast samples\n", ep.total_mm, before, peak,
	              (double)(tr.t[ipeak] - ep.start) / FB_US_PER_H, after, fast);
	assert_true(peak > before + 0.3);
	assert_true(tr.t[ipeak] > ep.start && tr.t[ipeak] < ep.end + 3 * FB_US_PER_H);
	assert_true(after < before + 0.3 * (peak - before));   /* exponential recession */
	assert_true(fast >= 5);
	assert_true(slow_after > 100);
	/* The recession goes down step after step (6 h steps over the two days after the
	 * peak, each step well above the 2 mm noise). */
	double prev = peak;
	for (fb_time_us s = tr.t[ipeak] + 6 * FB_US_PER_H; s <= tr.t[ipeak] + 48 * FB_US_PER_H;
	     s += 6 * FB_US_PER_H) {
		size_t i = ipeak;
		while (tr.t[i] < s)
			i++;
		assert_true(val(&tr, i, 0) < prev);
		prev = val(&tr, i, 0);
	}
	trace_free(&tr);

	/* The same site's water-quality probe sees the same flood: turbid, diluted. */
	const struct fb_model *q = model("water-quality");
	struct rig rq;
	rig_setup(&rq, q, seed, 4, 1);
	fb_time_us tpeak = ep.end + (fb_time_us)(0.5 * FB_US_PER_H);
	struct trace tq = record_run(&rq, t0, tpeak + FB_US_PER_MIN);
	int turb = field(q, "turbidity"), cond = field(q, "conductivity");
	double turb_before = val(&tq, 0, turb), cond_before = val(&tq, 0, cond);
	double turb_peak = val(&tq, tq.n - 1, turb), cond_peak = val(&tq, tq.n - 1, cond);
	print_message("water-quality in the flood: turbidity %.1f -> %.1f NTU, conductivity %.0f -> "
	              "%.0f uS/cm\n", turb_before, turb_peak, cond_before, cond_peak);
	assert_true(turb_peak > 10 * turb_before && turb_peak > 100);
	assert_true(cond_peak < 0.8 * cond_before);
	trace_free(&tq);
}

static void test_water_quality_cycles_and_drift(void **unused)
{
	(void)unused;
	const struct fb_model *m = model("water-quality");
	int temp = field(m, "temperature"), o2 = field(m, "O2"), ph = field(m, "pH");
	/* Summer diurnal cycle: warmer and more oxygen in the afternoon than before dawn. */
	struct rig r;
	rig_setup(&r, m, 2, 5, 0);
	set_param(&r, "drift", 0);
	fb_time_us t0 = at("2026-07-10T00:00:00+02:00");
	struct trace tr = record_run(&r, t0, t0 + 10 * FB_US_PER_DAY);
	double t_pm = 0, t_am = 0, o_pm = 0, o_am = 0, p_pm = 0, p_am = 0;
	for (size_t i = 0; i < tr.n; i++) {
		struct fb_localtime lt;
		fb_tz_local(tz, tr.t[i], &lt);
		if (lt.hour == 16) { t_pm += val(&tr, i, temp); o_pm += val(&tr, i, o2); p_pm += val(&tr, i, ph); }
		if (lt.hour == 4) { t_am += val(&tr, i, temp); o_am += val(&tr, i, o2); p_am += val(&tr, i, ph); }
	}
	assert_true(t_pm > t_am && o_pm > o_am && p_pm > p_am);
	double mean_t = t_pm / 40;
	assert_true(mean_t > 20 && mean_t < 30);
	trace_free(&tr);

	/* Drift: the pH offset grows through a calibration period and resets at calibration. */
	double max_gap = 0;
	for (uint32_t d = 0; d < 8; d++) {
		struct rig a, b;
		rig_setup(&a, m, 2, 10 + d, 0);
		rig_setup(&b, m, 2, 10 + d, 0);
		set_param(&b, "drift", 0);
		fb_time_us s = at("2026-02-01T00:00:00+01:00");
		struct trace ta = record_run(&a, s, s + 60 * FB_US_PER_DAY);
		struct trace tb = record_run(&b, s, s + 60 * FB_US_PER_DAY);
		for (size_t i = 0; i < ta.n; i++) {
			double gap = fabs(val(&ta, i, ph) - val(&tb, i, ph));
			assert_true(gap <= 0.16);
			if (gap > max_gap)
				max_gap = gap;
		}
		trace_free(&ta);
		trace_free(&tb);
	}
	assert_true(max_gap > 0.08);
}

static void test_weather_climate(void **unused)
{
	(void)unused;
	/* Marseille: ~59 rain days and ~540 mm a year; autumn far wetter than summer. */
	double days = 0, mm = 0, autumn = 0, summer = 0;
	int years = 0;
	for (uint64_t seed = 1; seed <= 5; seed++)
		for (uint32_t site = 0; site < 4; site++) {
			int64_t d0 = fb_days_from_civil(2026, 1, 1);
			for (int64_t d = d0; d < d0 + 365; d++) {
				struct fb_rain_episode ep;
				if (!fb_weather_episode(seed, site, d, &ep))
					continue;
				int y, mo, dd;
				fb_civil_from_days(d, &y, &mo, &dd);
				days++;
				mm += ep.total_mm;
				if (mo >= 9 && mo <= 11)
					autumn += ep.total_mm;
				if (mo >= 6 && mo <= 8)
					summer += ep.total_mm;
				assert_true(ep.start >= d * FB_US_PER_DAY && ep.end <= (d + 1) * FB_US_PER_DAY);
				assert_true(ep.end > ep.start && ep.total_mm >= 1);
			}
			years++;
		}
	print_message("weather: %.1f rain days and %.0f mm a year; autumn %.0f mm, summer %.0f mm\n",
	              days / years, mm / years, autumn / years, summer / years);
	assert_true(days / years > 50 && days / years < 70);
	assert_true(mm / years > 450 && mm / years < 650);
	assert_true(autumn > 3 * summer);
	/* Rain intensity is the episode's. */
	struct fb_rain_episode ep;
	int64_t day = find_storm(3, fb_days_from_civil(2026, 9, 1), 30, &ep);
	(void)day;
	fb_time_us mid = ep.start + (ep.end - ep.start) / 2;
	double r = fb_weather_rain_mm_h(3, 0, mid);
	assert_true(fabs(r - ep.total_mm / ((double)(ep.end - ep.start) / FB_US_PER_H)) < 1e-9);
	assert_true(fb_weather_rain_mm_h(3, 0, ep.end + 1) == 0);
	/* Temperatures: January cold, July hot. */
	double jan = fb_weather_temperature_c(3, 0, at("2026-01-15T15:00:00+01:00"));
	double jul = fb_weather_temperature_c(3, 0, at("2026-07-15T15:00:00+02:00"));
	assert_true(jan > -8 && jan < 22 && jul > 20 && jul < 42 && jul > jan);
}

static int setup(void **unused)
{
	(void)unused;
	tz = fb_tz_new("Europe/Paris", at("2025-12-01T00:00:00Z"), at("2028-02-01T00:00:00Z"));
	return tz ? 0 : -1;
}

static int teardown(void **unused)
{
	(void)unused;
	fb_tz_free(tz);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_models_in_range_and_small),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_noise_order_and_day_night),
		cmocka_unit_test(test_noise_rain_raises_levels),
		cmocka_unit_test(test_noise_statistics_spread),
		cmocka_unit_test(test_sun_times_match_reference_table),
		cmocka_unit_test(test_streetlight_follows_sunset_and_sunrise),
		cmocka_unit_test(test_streetlight_dimming_profile_and_energy),
		cmocka_unit_test(test_streetlight_commands),
		cmocka_unit_test(test_streetlight_cabinet_supply_loss),
		cmocka_unit_test(test_streetlight_faults),
		cmocka_unit_test(test_counters_totals_and_resets),
		cmocka_unit_test(test_counters_daily_profiles),
		cmocka_unit_test(test_counters_volume_weekend_and_rain),
		cmocka_unit_test(test_waste_fills_then_empties),
		cmocka_unit_test(test_waste_alarms),
		cmocka_unit_test(test_water_level_storm_rises_and_recedes),
		cmocka_unit_test(test_water_quality_cycles_and_drift),
		cmocka_unit_test(test_weather_climate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
