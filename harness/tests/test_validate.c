/* harness/validate.c: the conformance checks, driven by synthetic observation streams. A clean
 * device passes every check; each fault fails its own check, named, with what was measured. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "harness/validate.h"

static fb_time_us at(const char *rfc3339)
{
	fb_time_us t;
	assert_int_equal(fb_parse_rfc3339(rfc3339, &t), 0);
	return t;
}

/* A stream of reports from one device, as a collector would hand them over. */
struct feed {
	struct fb_validate *v;
	const struct fb_model *m;
	struct fb_obs o;
	double values[FB_MAX_FIELDS];
	char id[64];
	int64_t seq;
	fb_time_us t;                  /* next report's time (recv_wall and ts) */
	fb_time_us clock_ahead;        /* the device's clock minus the bench's */
	fb_time_us started;
	uint32_t freq_hz;              /* LoRaWAN: the next uplinks' frequency (0: not reported) */
};

static void feed_init(struct feed *f, const char *type, const char *proto, const char *codec,
                      fb_time_us start)
{
	memset(f, 0, sizeof *f);
	f->m = fb_model_find(type);
	assert_non_null(f->m);
	struct fb_profile p;
	fb_profile_init(&p, f->m);
	struct fb_validate_opts o = { .proto = proto, .codec = codec, .source = "test" };
	f->v = fb_validate_new(&p, &o);
	assert_non_null(f->v);
	snprintf(f->id, sizeof f->id, "%s-000001", type);
	f->t = f->started = start;
	/* values in range and on the grid: each field's minimum plus 3 steps */
	for (unsigned i = 0; i < f->m->nfields; i++) {
		const struct fb_field *fl = &f->m->fields[i];
		f->values[i] = fl->kind == FB_FIELD_NUMBER ? fl->min + 3 * fl->resolution : fl->min;
	}
}

/* The observation of one report with the feed's current values at f->t, in f->o. */
static void build(struct feed *f)
{
	struct fb_obs *o = &f->o;
	memset(o, 0, sizeof *o);
	o->proto = "mqtt";
	o->device = FB_OBS_NO_DEVICE;
	o->device_id = f->id;
	o->model = f->m;
	o->key = (uint64_t)(f->t / 1000);
	o->seq = f->seq++;
	o->ts = f->t + f->clock_ahead;
	o->recv_wall = f->t + 3 * FB_US_PER_MS;    /* a little network latency */
	o->nvalues = f->m->nfields;
	o->values = f->values;
	o->present = (1ull << f->m->nfields) - 1;
}

/* One report, observed, then f->t += step. */
static void report(struct feed *f, fb_time_us step)
{
	build(f);
	fb_validate_observe(f->v, &f->o);
	f->t += step;
}

static void finish(struct feed *f)
{
	fb_validate_finish(f->v, f->started, f->t);
}

static const struct fb_validate_check *check(struct feed *f, const char *name)
{
	const struct fb_validate_check *c = fb_validate_check(f->v, name);
	if (!c)
		fail_msg("check '%s' did not run (%s)", name,
		         fb_validate_not_checked(f->v, name) ? fb_validate_not_checked(f->v, name) : "unknown");
	return c;
}

static void assert_passes(struct feed *f, const char *name)
{
	const struct fb_validate_check *c = check(f, name);
	if (!c->passed)
		fail_msg("check '%s' failed: %s; expected: %s", name, c->measured, c->expected);
}

static void assert_fails(struct feed *f, const char *name, const char *needle)
{
	const struct fb_validate_check *c = check(f, name);
	if (c->passed)
		fail_msg("check '%s' passed: %s", name, c->measured);
	if (needle && !strstr(c->measured, needle))
		fail_msg("check '%s' measured '%s' lacks '%s'", name, c->measured, needle);
}

/* Every check that ran, except those named (NULL-terminated), passed. */
static void assert_only_failed(struct feed *f, ...)
{
	static const char *const all[] = { "traffic", "decode", "fields", "range", "resolution",
		"interval", "jitter", "counters", "timestamps", "sequence", "mic", "fcnt", "devnonce",
		"duty-cycle", "map", NULL };
	const char *failed[16];
	size_t n = 0;
	va_list ap;
	va_start(ap, f);
	for (const char *s; (s = va_arg(ap, const char *)) && n < 15;)
		failed[n++] = s;
	va_end(ap);
	for (size_t i = 0; all[i]; i++) {
		const struct fb_validate_check *c = fb_validate_check(f->v, all[i]);
		if (!c)
			continue;
		bool expect_fail = false;
		for (size_t k = 0; k < n; k++)
			expect_fail |= !strcmp(failed[k], all[i]);
		if (c->passed == expect_fail)
			fail_msg("check '%s' %s: %s", all[i], c->passed ? "passed" : "failed", c->measured);
	}
	assert_int_equal(fb_validate_passed(f->v), n == 0);
}

static void clean_noise_device_passes(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 10; i++) {
		f.values[0] = 55.3 + i * 0.1;       /* LAeq moves, on its 0.1 grid */
		report(&f, FB_US_PER_MIN);
	}
	finish(&f);
	assert_only_failed(&f, NULL);
	assert_non_null(strstr(check(&f, "traffic")->measured, "10 reports from 1 device"));
	assert_non_null(strstr(check(&f, "interval")->measured, "median 60.0 s over 9 intervals"));
	assert_non_null(strstr(check(&f, "interval")->expected, "1m ± 5 %"));
	/* noise has no counters and json no units: said, not silently passed */
	assert_non_null(fb_validate_not_checked(f.v, "counters"));
	assert_null(fb_validate_check(f.v, "counters"));
	assert_null(fb_validate_check(f.v, "mic"));      /* not LoRaWAN: not even listed */
	assert_null(fb_validate_not_checked(f.v, "mic"));
	fb_validate_free(f.v);
}

static void out_of_range_value_is_named(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 6; i++) {
		f.values[1] = i == 3 ? 150.3 : 70.0;   /* LAmax above its 140 dB(A) */
		report(&f, FB_US_PER_MIN);
	}
	finish(&f);
	assert_fails(&f, "range", "'LAmax' = 150.3 dB(A)");
	assert_non_null(strstr(check(&f, "range")->measured, "1 of 36 values"));
	assert_non_null(strstr(check(&f, "range")->expected, "LAmax 20..140 dB(A)"));
	assert_only_failed(&f, "range", NULL);
	fb_validate_free(f.v);
}

static void value_off_the_grid_fails_resolution(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 4; i++) {
		f.values[0] = i == 2 ? 55.37 : 55.4;   /* LAeq is printed at 0.1 dB */
		report(&f, FB_US_PER_MIN);
	}
	finish(&f);
	assert_fails(&f, "resolution", "'LAeq' = 55.37 dB(A)");
	assert_only_failed(&f, "resolution", NULL);
	fb_validate_free(f.v);
}

static void a_coarser_codec_does_not_fail_the_grid(void **state)
{
	(void)state;
	/* Over a codec whose step is coarser than the field, the grid cannot be seen: said so. */
	struct feed f;
	feed_init(&f, "water-level", "lorawan", "lpp", at("2026-06-01T10:00:00Z"));
	double tol[FB_MAX_FIELDS] = { 0.005 };          /* LPP analog input: 0.01 steps */
	for (int i = 0; i < 3; i++) {
		f.values[0] = 1.23;
		memset(&f.o, 0, sizeof f.o);
		f.o.device_id = f.id;
		f.o.device = FB_OBS_NO_DEVICE;
		f.o.seq = -1;
		f.o.ts = FB_TIME_NEVER;
		f.o.recv_wall = f.t;
		f.o.fcnt = (uint32_t)i;
		f.o.airtime_s = 0.06;
		f.o.nvalues = 1;
		f.o.values = f.values;
		f.o.tolerance = tol;
		f.o.present = 1;
		fb_validate_observe(f.v, &f.o);
		f.t += 15 * FB_US_PER_MIN;
	}
	finish(&f);
	assert_only_failed(&f, NULL);
	assert_null(fb_validate_check(f.v, "resolution"));
	assert_non_null(strstr(fb_validate_not_checked(f.v, "resolution"), "coarser"));
	assert_non_null(strstr(fb_validate_not_checked(f.v, "timestamps"), "carries no timestamp"));
	fb_validate_free(f.v);
}

static void wrong_interval_fails_interval_and_jitter(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 8; i++)
		report(&f, 90 * FB_US_PER_S);           /* declared: 1 min */
	finish(&f);
	assert_fails(&f, "interval", "median 90.0 s");
	assert_fails(&f, "jitter", "30.0 s");
	assert_only_failed(&f, "interval", "jitter", NULL);
	fb_validate_free(f.v);
}

static void irregular_reports_fail_jitter_only(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 9; i++)
		report(&f, (i % 2 ? 50 : 70) * FB_US_PER_S);  /* median 60 s, each 10 s off */
	finish(&f);
	assert_fails(&f, "jitter", "10.0 s");
	assert_only_failed(&f, "jitter", NULL);
	fb_validate_free(f.v);
}

static void a_missing_report_is_not_jitter(void **state)
{
	(void)state;
	/* one report lost (or unreadable): an interval of two periods, counted as missing */
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 8; i++)
		report(&f, i == 3 ? 2 * FB_US_PER_MIN : FB_US_PER_MIN);
	finish(&f);
	assert_only_failed(&f, NULL);
	assert_non_null(strstr(check(&f, "jitter")->measured, "1 report missing"));
	/* a device reporting every second period fails the interval all the same */
	struct feed g;
	feed_init(&g, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 8; i++)
		report(&g, 2 * FB_US_PER_MIN);
	finish(&g);
	assert_fails(&g, "interval", "median 120.0 s");
	fb_validate_free(f.v);
	fb_validate_free(g.v);
}

static void event_reports_may_come_early(void **state)
{
	(void)state;
	/* waste: every 4 h, plus the tilt report 2 min after a collection (the model's next_time) */
	struct feed f;
	feed_init(&f, "waste", "mqtt", "json", at("2026-06-01T00:00:00Z"));
	report(&f, 4 * FB_US_PER_H);
	report(&f, 4 * FB_US_PER_H);
	report(&f, 1 * FB_US_PER_H);                  /* the tilt event */
	report(&f, 4 * FB_US_PER_H);
	report(&f, 4 * FB_US_PER_H);
	finish(&f);
	assert_only_failed(&f, NULL);
	assert_non_null(strstr(check(&f, "interval")->measured, "1 early report (events, or first after a join) not counted"));
	/* noise has no event reports: an early one is jitter */
	struct feed g;
	feed_init(&g, "noise", "mqtt", "json", at("2026-06-01T00:00:00Z"));
	for (int i = 0; i < 10; i++)
		report(&g, i == 4 ? 10 * FB_US_PER_S : FB_US_PER_MIN);
	finish(&g);
	assert_passes(&g, "interval");
	assert_fails(&g, "jitter", NULL);
	fb_validate_free(f.v);
	fb_validate_free(g.v);
}

static void too_few_reports_cannot_pass_interval(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "water-quality", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	report(&f, 5 * FB_US_PER_MIN);
	finish(&f);
	assert_fails(&f, "interval", "fewer than two regular reports");
	assert_fails(&f, "jitter", NULL);
	assert_passes(&f, "traffic");
	fb_validate_free(f.v);
}

static void no_traffic_fails(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	fb_validate_finish(f.v, f.started, f.started + 5 * FB_US_PER_MIN);
	assert_fails(&f, "traffic", "0 reports");
	assert_false(fb_validate_passed(f.v));
	/* the value checks had nothing to look at: not checked, the cause named once */
	assert_string_equal(fb_validate_not_checked(f.v, "range"), "no report received");
	assert_string_equal(fb_validate_not_checked(f.v, "decode"), "no report received");
	assert_fails(&f, "interval", "no reports");
	fb_validate_free(f.v);
}

static void counter_falling_is_caught_but_daily_reset_is_not(void **state)
{
	(void)state;
	enum { DAILY = 3, YEAR = 4 };
	/* Europe/Paris is UTC+2 in June: local midnight is 22:00Z. */
	struct feed f;
	feed_init(&f, "bike-counter", "mqtt", "json", at("2026-06-01T21:15:00Z"));
	double daily = 500, year = 90000;
	for (int i = 0; i < 8; i++) {
		f.values[DAILY] = daily;
		f.values[YEAR] = year;
		report(&f, 15 * FB_US_PER_MIN);
		daily = f.t == at("2026-06-01T22:00:00Z") ? 0 : daily + 10;   /* reset at local midnight */
		year += 10;
	}
	finish(&f);
	assert_only_failed(&f, NULL);
	assert_non_null(strstr(check(&f, "counters")->measured, "14 successive counter values"));

	/* the same fall at UTC midnight is 02:00 local: not a reset */
	struct feed g;
	feed_init(&g, "bike-counter", "mqtt", "json", at("2026-06-01T23:15:00Z"));
	daily = 500, year = 90000;
	for (int i = 0; i < 6; i++) {
		g.values[DAILY] = daily;
		g.values[YEAR] = year;
		report(&g, 15 * FB_US_PER_MIN);
		daily = g.t == at("2026-06-02T00:00:00Z") ? 0 : daily + 10;
		year += 10;
	}
	finish(&g);
	assert_fails(&g, "counters", "'dailyTotal' of 'bike-counter-000001' fell from 520 count to 0 count");
	assert_non_null(strstr(check(&g, "counters")->measured, "no local midnight between"));
	assert_only_failed(&g, "counters", NULL);

	/* a total that falls (the year total mid-year) */
	struct feed h;
	feed_init(&h, "pedestrian-counter", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 4; i++) {
		h.values[YEAR] = i == 2 ? 100 : 90000 + i;
		report(&h, 15 * FB_US_PER_MIN);
	}
	finish(&h);
	assert_fails(&h, "counters", "'yearTotal'");
	fb_validate_free(f.v);
	fb_validate_free(g.v);
	fb_validate_free(h.v);
}

static void counter_for_a_user_field(void **state)
{
	(void)state;
	/* --counter makes a field a counter: here the street light's activePower, which does fall */
	struct fb_profile p;
	fb_profile_init(&p, fb_model_find("streetlight"));
	assert_int_equal(p.counter[3], FB_COUNTER_TOTAL);          /* activeEnergy, from the model */
	assert_int_equal(p.counter[2], FB_COUNTER_NONE);
	assert_int_equal(fb_profile_set_counter(&p, "activePower"), 0);
	assert_int_equal(p.counter[2], FB_COUNTER_TOTAL);
	assert_int_equal(fb_profile_set_counter(&p, "activePower:daily"), 0);
	assert_int_equal(p.counter[2], FB_COUNTER_DAILY);
	assert_int_equal(fb_profile_set_counter(&p, "activePower:none"), 0);
	assert_int_equal(p.counter[2], FB_COUNTER_NONE);
	assert_int_equal(fb_profile_set_counter(&p, "activePowr"), -1);   /* with a suggestion */
	assert_int_equal(fb_profile_set_counter(&p, "activePower:weekly"), -1);
	assert_false(fb_profile_has_counters(&(struct fb_profile){ .model = fb_model_find("noise") }));
}

static void timestamps_ahead_or_backwards_fail(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 5; i++) {
		f.clock_ahead = i == 2 ? 10 * FB_US_PER_S : 0;  /* the device's clock runs ahead, once */
		report(&f, FB_US_PER_MIN);
	}
	finish(&f);
	assert_fails(&f, "timestamps", "is 9.997 s ahead of the bench's clock");
	assert_only_failed(&f, "timestamps", NULL);

	struct feed g;
	feed_init(&g, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 5; i++) {
		memset(&g.o, 0, sizeof g.o);
		report(&g, FB_US_PER_MIN);
	}
	/* a late report that carries an older timestamp than the previous */
	g.o.recv_wall = g.t;
	g.o.ts = g.t - 3 * FB_US_PER_MIN;
	g.o.seq = g.seq++;
	fb_validate_observe(g.v, &g.o);
	g.t += FB_US_PER_MIN;
	finish(&g);
	assert_fails(&g, "timestamps", "before the previous report's 2026-06-01T10:04:00.000Z");
	assert_only_failed(&g, "timestamps", NULL);
	fb_validate_free(f.v);
	fb_validate_free(g.v);
}

static void undecodable_and_incomplete_reports(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "senml", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 6; i++) {
		if (i == 2) {                           /* garbage between two reports: counted */
			memset(&f.o, 0, sizeof f.o);
			f.o.device_id = f.id;
			f.o.device = FB_OBS_NO_DEVICE;
			f.o.seq = -1;
			f.o.ts = FB_TIME_NEVER;
			f.o.recv_wall = f.t - 30 * FB_US_PER_S;
			f.o.flags = FB_OBS_UNDECODABLE;
			f.o.detail = "expected a JSON array at byte 0";
			fb_validate_observe(f.v, &f.o);
		}
		report(&f, FB_US_PER_MIN);
	}
	/* a report without LA90 */
	struct fb_obs o = f.o;
	o.present &= ~(1ull << 5);
	o.recv_wall = f.t;
	o.ts = f.t;
	o.seq = f.seq++;
	fb_validate_observe(f.v, &o);
	f.t += FB_US_PER_MIN;
	finish(&f);
	assert_fails(&f, "decode", "undecodable payload from 'noise-000001': expected a JSON array");
	assert_non_null(strstr(check(&f, "decode")->measured, "1 of 8 payloads"));
	assert_fails(&f, "fields", "'LA90' missing");
	assert_non_null(strstr(check(&f, "fields")->expected, "in the profile's units"));   /* senml */
	assert_only_failed(&f, "decode", "fields", NULL);

	/* a field of the wrong unit or type, as the decoder reports it */
	struct feed g;
	feed_init(&g, "noise", "mqtt", "senml", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 3; i++)
		report(&g, FB_US_PER_MIN);
	o = g.o;
	o.flags = FB_OBS_BAD_FIELD;
	o.detail = "'LAeq' in unit 'dB' instead of 'dB(A)'";
	o.recv_wall = o.ts = g.t;
	o.seq = g.seq++;
	fb_validate_observe(g.v, &o);
	g.t += FB_US_PER_MIN;
	finish(&g);
	assert_fails(&g, "fields", "'LAeq' in unit 'dB' instead of 'dB(A)'");
	fb_validate_free(f.v);
	fb_validate_free(g.v);
}

static void sparkplug_reports_by_exception(void **state)
{
	(void)state;
	/* a DBIRTH with every metric, then DDATA with only what changed: complete */
	struct feed f;
	feed_init(&f, "streetlight", "mqtt", "sparkplug", at("2026-06-01T10:00:00Z"));
	report(&f, FB_US_PER_MIN);                  /* the DBIRTH */
	for (int i = 0; i < 4; i++) {
		build(&f);
		f.o.present = 1u << 2;                  /* activePower only */
		f.o.flags = FB_OBS_BAD_FIELD | FB_OBS_PARTIAL;   /* as the collector marks a partial DDATA */
		f.o.detail = "fields missing";
		fb_validate_observe(f.v, &f.o);
		f.t += FB_US_PER_MIN;
	}
	finish(&f);
	assert_passes(&f, "fields");
	assert_non_null(strstr(check(&f, "fields")->measured, "5 reports, all complete"));
	fb_validate_free(f.v);

	/* a DDATA with a metric of the wrong type is a bad field, however complete the device's
	 * metrics are (only FB_OBS_PARTIAL is judged by what the births carried) */
	struct feed h;
	feed_init(&h, "streetlight", "mqtt", "sparkplug", at("2026-06-01T10:00:00Z"));
	report(&h, FB_US_PER_MIN);
	build(&h);
	h.o.present = 1u << 2;
	h.o.flags = FB_OBS_BAD_FIELD;
	h.o.detail = "fields missing";                  /* the text plays no part */
	fb_validate_observe(h.v, &h.o);
	h.t += FB_US_PER_MIN;
	report(&h, FB_US_PER_MIN);
	finish(&h);
	assert_fails(&h, "fields", "1 of 3 reports not as the profile says (first: fields missing from "
	             "'streetlight-000001')");
	fb_validate_free(h.v);

	/* over json a partial report is incomplete; over sparkplug, a metric no report carried */
	const char *codecs[] = { "json", "sparkplug" };
	for (int k = 0; k < 2; k++) {
		struct feed g;
		feed_init(&g, "streetlight", "mqtt", codecs[k], at("2026-06-01T10:00:00Z"));
		if (k == 0)
			report(&g, FB_US_PER_MIN);          /* json: a complete report first */
		for (int i = 0; i < 3; i++) {
			build(&g);
			g.o.present = 1u << 2;              /* activePower only */
			g.o.flags = FB_OBS_BAD_FIELD | FB_OBS_PARTIAL;
			g.o.detail = "fields missing";
			fb_validate_observe(g.v, &g.o);
			g.t += FB_US_PER_MIN;
		}
		finish(&g);
		assert_fails(&g, "fields", "'powerState' and others missing");
		fb_validate_free(g.v);
	}
}

static void repeated_seq_fails_sequence(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 6; i++) {
		if (i == 3)
			f.seq--;                            /* seq 2 again */
		if (i == 5)
			f.seq += 3;                         /* a gap: counted, not a failure */
		report(&f, FB_US_PER_MIN);
	}
	finish(&f);
	assert_fails(&f, "sequence", "seq 2 from 'noise-000001' after seq 2");
	assert_non_null(strstr(check(&f, "sequence")->measured, "3 skipped"));
	assert_only_failed(&f, "sequence", NULL);
	fb_validate_free(f.v);
}

/* LoRaWAN: an uplink (or a join request when devnonce >= 0). */
static void uplink(struct feed *f, uint32_t fcnt, double airtime_s, uint32_t flags, int devnonce,
                   fb_time_us step)
{
	struct fb_obs *o = &f->o;
	memset(o, 0, sizeof *o);
	o->proto = "lorawan";
	o->device = FB_OBS_NO_DEVICE;
	o->device_id = f->id;
	o->model = f->m;
	o->seq = -1;
	o->ts = FB_TIME_NEVER;
	o->recv_wall = f->t;
	o->flags = flags;
	o->airtime_s = airtime_s;
	o->freq_hz = f->freq_hz;
	o->gateways = 1;
	if (devnonce >= 0) {
		o->devnonce_plus1 = (uint32_t)devnonce + 1;
	} else {
		o->key = o->fcnt = fcnt;
		o->nvalues = f->m->nfields;
		o->values = f->values;
		o->present = (1ull << f->m->nfields) - 1;
	}
	fb_validate_observe(f->v, o);
	f->t += step;
}

static void lorawan_clean_device_passes(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
	snprintf(f.id, sizeof f.id, "70b3d57ed0000001");
	uplink(&f, 0, 0.06, 0, 0x1234, 6 * FB_US_PER_S);    /* join at SF7 */
	uplink(&f, 0, 0.0617, 0, -1, 20 * FB_US_PER_S);     /* the first uplink, as the join is accepted */
	for (uint32_t i = 1; i < 10; i++)
		uplink(&f, i, 0.0617, 0, -1, FB_US_PER_MIN);
	uplink(&f, 0, 0.06, 0, 0x2345, 6 * FB_US_PER_S);    /* rejoin: FCnt starts again */
	for (uint32_t i = 0; i < 3; i++)
		uplink(&f, i, 0.0617, 0, -1, FB_US_PER_MIN);
	finish(&f);
	assert_only_failed(&f, NULL);
	/* the first uplink after the join came early: set aside; the rest is the cadence */
	assert_non_null(strstr(check(&f, "interval")->measured, "over 10 intervals"));
	assert_non_null(strstr(check(&f, "interval")->measured, "1 early report (first after a join)"));
	assert_passes(&f, "mic");
	assert_passes(&f, "fcnt");
	assert_passes(&f, "devnonce");
	assert_passes(&f, "duty-cycle");
	assert_non_null(strstr(check(&f, "traffic")->measured, "2 joins"));
	fb_validate_free(f.v);

	/* neighbours heard by the same gateway (DevAddrs not in the keys file) are left out */
	struct feed g;
	feed_init(&g, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
	for (uint32_t i = 0; i < 5; i++) {
		uplink(&g, i, 0.0617, 0, -1, 0);
		struct fb_obs o = { .proto = "lorawan", .device = FB_OBS_NO_DEVICE, .device_id = "26011f00",
		                    .seq = -1, .ts = FB_TIME_NEVER, .recv_wall = g.t + FB_US_PER_S,
		                    .flags = FB_OBS_UNKNOWN_DEVICE, .fcnt = 7, .airtime_s = 1.5,
		                    .detail = "DevAddr of no device" };
		fb_validate_observe(g.v, &o);
		g.t += FB_US_PER_MIN;
	}
	finish(&g);
	assert_only_failed(&g, NULL);
	assert_non_null(strstr(check(&g, "traffic")->measured, "5 reports from 1 device"));
	assert_non_null(strstr(check(&g, "traffic")->measured, "5 frames of devices not in the keys file ignored"));
	fb_validate_free(g.v);
}

static void lorawan_faults_are_named(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
	uplink(&f, 0, 0.06, 0, 7, 6 * FB_US_PER_S);
	uplink(&f, 0, 0.0617, 0, -1, FB_US_PER_MIN);
	uplink(&f, 1, 0.0617, FB_OBS_BAD_MIC, -1, FB_US_PER_MIN);
	uplink(&f, 2, 0.0617, 0, -1, FB_US_PER_MIN);
	uplink(&f, 2, 0.0617, 0, -1, FB_US_PER_MIN);          /* FCnt repeated */
	uplink(&f, 3, 0.0617, 0, -1, FB_US_PER_MIN);
	uplink(&f, 0, 0.06, 0, 7, 6 * FB_US_PER_S);          /* DevNonce 7 again */
	uplink(&f, 0, 0.0617, 0, -1, FB_US_PER_MIN);
	finish(&f);
	assert_fails(&f, "mic", "uplink FCnt 1 of 'noise-000001'");
	assert_fails(&f, "fcnt", "FCnt 2 of 'noise-000001' after FCnt 2");
	assert_fails(&f, "devnonce", "DevNonce 0x0007 of 'noise-000001' used again");
	assert_passes(&f, "duty-cycle");
	fb_validate_free(f.v);

	/* a DevNonce below the last (1.0.4 counts up) that the endpoint refused; a join with a bad
	 * MIC fails the MIC, not the DevNonce */
	struct feed g;
	feed_init(&g, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
	uplink(&g, 0, 0.06, FB_OBS_BAD_MIC, 9, 6 * FB_US_PER_S);
	uplink(&g, 0, 0.06, 0, 9, 6 * FB_US_PER_S);
	uplink(&g, 0, 0.0617, 0, -1, FB_US_PER_MIN);
	uplink(&g, 0, 0.06, FB_OBS_REPLAY, 5, 6 * FB_US_PER_S);
	finish(&g);
	assert_fails(&g, "devnonce", "DevNonce 0x0005 of 'noise-000001' refused (join 3)");
	assert_non_null(strstr(check(&g, "devnonce")->measured, "1 of 2 join requests"));
	assert_fails(&g, "mic", "join request of 'noise-000001'");
	fb_validate_free(g.v);
}

static void lorawan_duty_cycle_over_one_percent_fails(void **state)
{
	(void)state;
	/* SF12, 1.5 s on air every minute: 2.5 % of the time, over the 1 % of each sub-band (2 % in
	 * all, the frequency being unknown) */
	struct feed f;
	feed_init(&f, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
	for (uint32_t i = 0; i < 10; i++)
		uplink(&f, i, 1.5, 0, -1, FB_US_PER_MIN);
	finish(&f);
	assert_fails(&f, "duty-cycle", "'noise-000001': 2.5 %");
	assert_only_failed(&f, "duty-cycle", NULL);

	/* an hour at 1.5 s every 3 min: 0.83 %, passes; counted over the hour, not the run */
	struct feed g;
	feed_init(&g, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
	struct fb_profile p;
	fb_profile_init(&p, g.m);
	p.interval_us = 3 * FB_US_PER_MIN;
	fb_validate_free(g.v);
	g.v = fb_validate_new(&p, &(struct fb_validate_opts){ .proto = "lorawan", .codec = "binary" });
	for (uint32_t i = 0; i < 40; i++)
		uplink(&g, i, 1.5, 0, -1, 3 * FB_US_PER_MIN);
	finish(&g);
	assert_only_failed(&g, NULL);
	assert_non_null(strstr(check(&g, "duty-cycle")->measured, "busiest: 0.833 %"));

	/* a short observation: the rate of the frames seen (3 SF7 frames 7 s apart pass, 2 s fail) */
	for (int spacing = 7; spacing >= 2; spacing -= 5) {
		struct feed h;
		feed_init(&h, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
		for (uint32_t i = 0; i < 3; i++)
			uplink(&h, i, 0.0617, 0, -1, spacing * FB_US_PER_S);
		finish(&h);
		if (spacing == 7)
			assert_passes(&h, "duty-cycle");
		else
			assert_fails(&h, "duty-cycle", "3.08 % on air over 4s in all sub-bands (frequency not "
			             "reported), limit 2 % (3 uplinks)");
		fb_validate_free(h.v);
	}
	fb_validate_free(f.v);
	fb_validate_free(g.v);
}

/* With the frequency the gateway reported, each EU868 sub-band has its own budget. */
static void lorawan_duty_cycle_per_sub_band(void **state)
{
	(void)state;
	/* SF12, 1.5 s on air every 100 s: 1.5 %, within the 2 % allowed when the frequency is not
	 * known, over the 1 % of the sub-band when every frame is on 868.1 MHz; alternating with
	 * 867.1 MHz (a CFList channel, another 1 % sub-band) each band sees 0.75 % */
	static const struct { uint32_t freq[2]; bool passes; const char *needle; } cases[] = {
		{ { 0, 0 }, true, "busiest: 1.5 % (limit 2 %) for 'noise-000001' in all sub-bands "
		  "(frequency not reported)" },
		{ { 868100000, 868100000 }, false, "'noise-000001': 1.5 % on air over 15m in the sub-band "
		  "of 868.100 MHz, limit 1 % (10 uplinks)" },
		{ { 868100000, 867100000 }, true, "busiest: 0.75 % (limit 1 %) for 'noise-000001' in the "
		  "sub-band of 86" },
		/* 869.525 MHz (RX2's, 10 %) and a frequency in no sub-band (0.1 %) */
		{ { 869525000, 869525000 }, true, "busiest: 1.5 % (limit 10 %) for 'noise-000001' in the "
		  "sub-band of 869.525 MHz" },
		{ { 868650000, 868650000 }, false, "1.5 % on air over 15m in 868.650 MHz (in no EU868 "
		  "sub-band), limit 0.1 %" },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct feed f;
		feed_init(&f, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
		for (uint32_t i = 0; i < 10; i++) {
			f.freq_hz = cases[k].freq[i % 2];
			uplink(&f, i, 1.5, 0, -1, 100 * FB_US_PER_S);
		}
		finish(&f);
		const struct fb_validate_check *c = check(&f, "duty-cycle");
		if (c->passed != cases[k].passes || !strstr(c->measured, cases[k].needle))
			fail_msg("case %zu: duty-cycle %s: '%s', wanted %s with '%s'", k,
			         c->passed ? "passed" : "failed", c->measured, cases[k].passes ? "pass" : "fail",
			         cases[k].needle);
		fb_validate_free(f.v);
	}

	/* join requests are on air too: a device rejoining every 20 s at SF12 (1.5 s) is over the
	 * 1 % of 868.1 MHz's sub-band whatever its few uplinks do */
	struct feed g;
	feed_init(&g, "noise", "lorawan", "binary", at("2026-06-01T10:00:00Z"));
	g.freq_hz = 868100000;
	for (int i = 0; i < 6; i++)
		uplink(&g, 0, 1.5, 0, 0x100 + i, 20 * FB_US_PER_S);
	finish(&g);
	assert_fails(&g, "duty-cycle", "7.5 % on air over 1m40s in the sub-band of 868.100 MHz");
	fb_validate_free(g.v);
}

static void modbus_map_failures(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "water-level", "modbus", NULL, at("2026-06-01T10:00:00Z"));
	snprintf(f.id, sizeof f.id, "127.0.0.1:1502/1");
	for (int i = 0; i < 5; i++) {
		memset(&f.o, 0, sizeof f.o);
		f.o.proto = "modbus";
		f.o.device = FB_OBS_NO_DEVICE;
		f.o.device_id = f.id;
		f.o.key = (uint64_t)i;
		f.o.seq = -1;
		f.o.ts = FB_TIME_NEVER;
		f.o.recv_wall = f.t;
		f.values[0] = i == 4 ? 16.0 : 2.345;      /* the last read above the 15 m range */
		f.o.nvalues = 1;
		f.o.values = f.values;
		f.o.present = 1;
		if (i == 2) {
			f.o.flags = FB_OBS_EXCEPTION;
			f.o.detail = "illegal data address (02) at register 1000";
			f.o.present = 0;
		}
		fb_validate_observe(f.v, &f.o);
		f.t += 10 * FB_US_PER_S;
	}
	finish(&f);
	assert_fails(&f, "map", "exception from unit '127.0.0.1:1502/1': illegal data address");
	assert_fails(&f, "range", "'height' = 16 m");
	assert_only_failed(&f, "map", "range", NULL);
	assert_null(fb_validate_check(f.v, "interval"));      /* the bench polls: no interval */
	assert_null(fb_validate_not_checked(f.v, "interval"));
	fb_validate_free(f.v);
}

static void modbus_warm_up_is_not_a_missing_field(void **state)
{
	(void)state;
	/* the first polls find the 'no value' marker (not present), then the level: complete */
	for (int never = 0; never < 2; never++) {
		struct feed f;
		feed_init(&f, "water-level", "modbus", NULL, at("2026-06-01T10:00:00Z"));
		for (int i = 0; i < 5; i++) {
			build(&f);
			f.o.proto = "modbus";
			f.o.seq = -1;
			f.values[0] = 2.345;
			f.o.present = never || i < 2 ? 0 : 1;
			fb_validate_observe(f.v, &f.o);
			f.t += 10 * FB_US_PER_S;
		}
		finish(&f);
		if (never) {
			assert_fails(&f, "fields", "'height' of 'water-level-000001' never read a value");
		} else {
			assert_only_failed(&f, NULL);
			assert_non_null(strstr(check(&f, "fields")->measured, "2 first polls before the device held a value"));
		}
		fb_validate_free(f.v);
	}
}

static void several_devices_are_tracked_apart(void **state)
{
	(void)state;
	/* Two devices interleaved, each every minute: intervals are per device, not between them. */
	struct feed a, b;
	feed_init(&a, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	b = a;
	snprintf(b.id, sizeof b.id, "noise-000002");
	b.t += 20 * FB_US_PER_S;
	for (int i = 0; i < 6; i++) {
		report(&a, FB_US_PER_MIN);
		b.v = a.v;
		report(&b, FB_US_PER_MIN);
	}
	finish(&a);
	assert_only_failed(&a, NULL);
	assert_non_null(strstr(check(&a, "traffic")->measured, "12 reports from 2 devices"));
	assert_non_null(strstr(check(&a, "interval")->measured, "over 10 intervals"));
	fb_validate_free(a.v);
}

/* The XML is well formed: tags balance, attributes are quoted, text has no raw '<' or '&'. */
static void assert_well_formed_xml(const char *s)
{
	const char *stack[16];
	size_t lens[16], depth = 0;
	if (!strncmp(s, "<?xml", 5))
		s = strstr(s, "?>") + 2;
	while (*s) {
		if (*s == '&') {
			assert_true(!strncmp(s, "&amp;", 5) || !strncmp(s, "&lt;", 4) || !strncmp(s, "&gt;", 4) ||
			            !strncmp(s, "&quot;", 6) || !strncmp(s, "&apos;", 6));
			s++;
			continue;
		}
		if (*s != '<') {
			assert_true(*s != '>');
			s++;
			continue;
		}
		bool closing = s[1] == '/';
		const char *name = s + 1 + closing;
		size_t len = strcspn(name, " />\n");
		const char *p = name + len;
		while (*p && *p != '>' && !(p[0] == '/' && p[1] == '>')) {
			if (*p == '"') {
				p = strchr(p + 1, '"');
				assert_non_null(p);
				const char *q = p;
				(void)q;
			} else {
				assert_true(*p != '<');
			}
			p++;
		}
		assert_true(*p != '\0');
		bool empty = *p == '/';
		if (closing) {
			assert_true(depth > 0);
			depth--;
			assert_int_equal(lens[depth], len);
			assert_memory_equal(stack[depth], name, len);
		} else if (!empty) {
			assert_true(depth < 16);
			stack[depth] = name;
			lens[depth++] = len;
		}
		s = p + (empty ? 2 : 1);
	}
	assert_int_equal(depth, 0);
}

static void reports_text_json_junit(void **state)
{
	(void)state;
	struct feed f;
	feed_init(&f, "noise", "mqtt", "json", at("2026-06-01T10:00:00Z"));
	for (int i = 0; i < 6; i++) {
		f.values[1] = i == 3 ? 150.3 : 70.0;
		report(&f, FB_US_PER_MIN);
	}
	/* detail text with XML's specials reaches the report escaped */
	f.o.flags = FB_OBS_UNDECODABLE;
	f.o.detail = "bad <payload> & 'quotes' \"here\"";
	f.o.recv_wall = f.t;
	fb_validate_observe(f.v, &f.o);
	f.t += FB_US_PER_MIN;
	finish(&f);

	char *buf;
	size_t len;
	FILE *out = open_memstream(&buf, &len);
	assert_int_equal(fb_validate_write(f.v, FB_VALIDATE_TEXT, out), 0);
	fclose(out);
	assert_non_null(strstr(buf, "\nFAIL  range       1 of 36 values out of range (first: 'LAmax' = 150.3 dB(A)"));
	assert_non_null(strstr(buf, "\nPASS  traffic     7 reports from 1 device ('noise-000001') in 7m;"));
	assert_non_null(strstr(buf, "\n--    counters    not checked: type 'noise' has no counter fields"));
	assert_non_null(strstr(buf, "\nverdict: FAIL (2 of 9 checks failed: decode range)\n"));
	/* one check per line: every line is a check, a not-checked note, or the header/verdict */
	int lines = 0;
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 1 + 9 + 1 + 1);
	free(buf);

	out = open_memstream(&buf, &len);
	assert_int_equal(fb_validate_write(f.v, FB_VALIDATE_JSON, out), 0);
	fclose(out);
	json_error_t err;
	json_t *r = json_loads(buf, 0, &err);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "fail");
	assert_int_equal(json_integer_value(json_object_get(r, "checks_failed")), 2);
	json_t *checks = json_object_get(r, "checks");
	assert_int_equal(json_array_size(checks), 9);
	json_t *c3 = json_array_get(checks, 3);
	assert_string_equal(json_string_value(json_object_get(c3, "name")), "range");
	assert_string_equal(json_string_value(json_object_get(c3, "status")), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(c3, "measured")), "'LAmax' = 150.3"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "not_checked"), 0),
	                                                      "name")), "counters");
	json_decref(r);
	free(buf);

	out = open_memstream(&buf, &len);
	assert_int_equal(fb_validate_write(f.v, FB_VALIDATE_JUNIT, out), 0);
	fclose(out);
	assert_well_formed_xml(buf);
	assert_non_null(strstr(buf, "tests=\"10\" failures=\"2\" errors=\"0\" skipped=\"1\""));
	assert_non_null(strstr(buf, "<testcase classname=\"validate.noise\" name=\"range\">\n      <failure"));
	assert_non_null(strstr(buf, "bad &lt;payload&gt; &amp; &apos;quotes&apos; &quot;here&quot;"));
	assert_non_null(strstr(buf, "name=\"counters\">\n      <skipped message="));
	free(buf);
	fb_validate_free(f.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clean_noise_device_passes),
		cmocka_unit_test(out_of_range_value_is_named),
		cmocka_unit_test(value_off_the_grid_fails_resolution),
		cmocka_unit_test(a_coarser_codec_does_not_fail_the_grid),
		cmocka_unit_test(wrong_interval_fails_interval_and_jitter),
		cmocka_unit_test(irregular_reports_fail_jitter_only),
		cmocka_unit_test(a_missing_report_is_not_jitter),
		cmocka_unit_test(event_reports_may_come_early),
		cmocka_unit_test(too_few_reports_cannot_pass_interval),
		cmocka_unit_test(no_traffic_fails),
		cmocka_unit_test(counter_falling_is_caught_but_daily_reset_is_not),
		cmocka_unit_test(counter_for_a_user_field),
		cmocka_unit_test(timestamps_ahead_or_backwards_fail),
		cmocka_unit_test(undecodable_and_incomplete_reports),
		cmocka_unit_test(sparkplug_reports_by_exception),
		cmocka_unit_test(repeated_seq_fails_sequence),
		cmocka_unit_test(lorawan_clean_device_passes),
		cmocka_unit_test(lorawan_faults_are_named),
		cmocka_unit_test(lorawan_duty_cycle_over_one_percent_fails),
		cmocka_unit_test(lorawan_duty_cycle_per_sub_band),
		cmocka_unit_test(modbus_map_failures),
		cmocka_unit_test(modbus_warm_up_is_not_a_missing_field),
		cmocka_unit_test(several_devices_are_tracked_apart),
		cmocka_unit_test(reports_text_json_junit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
