/* Injected device faults: each kind changes exactly the samples it marks, in the way it promises,
 * and the count by kind equals the lines marked in the trace; the same seed gives the same
 * faults and shards partition them; a bad faults: block is refused at file:line:col. Faulted runs
 * are compared with the clean run of the same seed (faults draw from their own stream, so every
 * unmarked line is byte-identical to the clean run's). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "sim/engine.h"
#include "sim/fault.h"
#include "sim/scenario.h"
#include "sim/trace.h"
#include "sim/tests/capture.h"

static char dir[64];
static char path[128];

#define HEAD \
	"name: f\nseed: 7\nstart: 2026-06-01T00:00:00Z\nduration: 6h\n" \
	"sites:\n  - {id: port, lat: 43.29, lon: 5.37}\n  - {id: aix, lat: 43.52, lon: 5.44}\n"
#define BASE HEAD \
	"fleets:\n  - {type: noise, count: 20, site: port, interval: 5m}\n" \
	"  - {type: waste, count: 10, site: aix, interval: 10m}\n"
#define H (FB_US_PER_H)

struct line {
	char *text;
	uint16_t fault, flags;
	uint32_t device, seq;
	fb_time_us t;
};

struct capture_run {
	struct fb_trace *tr;
	struct line *v;
	size_t n, cap;
	uint64_t counts[FB_FAULT_NKINDS];
	fb_time_us start;
};

static void sink(void *arg, const struct fb_sample *s)
{
	struct capture_run *c = arg;
	char buf[4096];
	size_t n = fb_trace_format(c->tr, s, buf);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 1024;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		assert_non_null(c->v);
	}
	struct line *l = &c->v[c->n++];
	l->text = strndup(buf, n);
	l->fault = s->fault;
	l->flags = s->flags;
	l->device = s->device;
	l->seq = s->seq;
	l->t = s->t;
}

static void write_file(const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void run_text(const char *text, uint32_t shard, uint32_t nshards, struct capture_run *c)
{
	memset(c, 0, sizeof *c);
	write_file(text);
	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	assert_non_null(sc);
	struct fb_engine *e = fb_engine_new(sc, shard, nshards, sc->start, sc->duration);
	assert_non_null(e);
	c->tr = fb_trace_new(sc, -1);
	c->start = sc->start;
	fb_engine_set_sink(e, sink, c);
	while (fb_engine_run(e, FB_TIME_NEVER, 100000) > 0)
		;
	fb_engine_run(e, FB_TIME_NEVER, 1);
	for (int k = 0; k < FB_FAULT_NKINDS; k++)
		c->counts[k] = fb_faults_count(fb_engine_faults(e), (enum fb_fault_kind)k);
	fb_trace_free(c->tr);
	c->tr = NULL;
	fb_engine_free(e);
	fb_scenario_free(sc);
}

static void run_free(struct capture_run *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].text);
	free(c->v);
}

static size_t marked(const struct capture_run *c, enum fb_fault_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++) {
		bool has = strstr(c->v[i].text, "\"fault\":\"") != NULL;
		assert_int_equal(has, c->v[i].fault != 0);
		n += c->v[i].fault == k;
	}
	return n;
}

/* The clean run's line for (device, scheduled time). */
static const struct line *clean_at(const struct capture_run *clean, uint32_t device, fb_time_us t)
{
	for (size_t i = 0; i < clean->n; i++)
		if (clean->v[i].device == device && clean->v[i].t == t)
			return &clean->v[i];
	return NULL;
}

static double value_of(const char *line, const char *field)
{
	json_error_t err;
	json_t *j = json_loads(line, 0, &err);
	assert_non_null(j);
	json_t *v = json_object_get(json_object_get(j, "values"), field);
	assert_non_null(v);
	double d = json_is_null(v) ? NAN : json_number_value(v);
	json_decref(j);
	return d;
}

/* A marked line is its clean line up to "values" closing brace, then the fault key. */
static bool same_but_mark(const char *marked_line, const char *clean_line)
{
	size_t n = strlen(clean_line) - 2;         /* without the closing "}\n" */
	return !strncmp(marked_line, clean_line, n) && !strncmp(marked_line + n, ",\"fault\":\"", 10);
}

/* Every unmarked line is the clean run's line, byte for byte. */
static void assert_unmarked_clean(const struct capture_run *c, const struct capture_run *clean)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].fault)
			continue;
		const struct line *l = clean_at(clean, c->v[i].device, c->v[i].t);
		assert_non_null(l);
		assert_string_equal(c->v[i].text, l->text);
	}
}

static struct capture_run clean;

static int setup(void **state)
{
	strcpy(dir, "/tmp/fb_fault_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/x.yaml", dir);
	run_text(BASE, 0, 1, &clean);
	return clean.n == 20 * 72 + 10 * 36 ? 0 : -1;
}

static int teardown(void **state)
{
	run_free(&clean);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_stuck(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n  - {kind: stuck, type: noise, rate: 0.5, from: 1h, for: 2h}\n", 0, 1, &c);
	size_t n = marked(&c, FB_FAULT_STUCK);
	assert_int_equal(c.counts[FB_FAULT_STUCK], n);
	assert_int_equal(c.n, clean.n);
	assert_unmarked_clean(&c, &clean);
	unsigned devices = 0;
	for (uint32_t d = 0; d < 20; d++) {
		const char *first = NULL;
		size_t in_window = 0, stuck = 0;
		for (size_t i = 0; i < c.n; i++) {
			const struct line *l = &c.v[i];
			if (l->device != d)
				continue;
			bool in = l->t >= c.start + H && l->t < c.start + 3 * H;
			in_window += in;
			if (!l->fault)
				continue;
			assert_true(in);
			stuck++;
			const char *vals = strstr(l->text, "\"values\"");
			if (!first) {
				first = vals;
				/* frozen at the window's first true reading */
				assert_true(same_but_mark(l->text, clean_at(&clean, d, l->t)->text));
			} else {
				assert_memory_equal(first, vals, (size_t)(strchr(first, '}') - first));
			}
		}
		assert_true(stuck == 0 || stuck == in_window);   /* a device is stuck for the whole window */
		devices += stuck > 0;
	}
	assert_in_range(devices, 4, 16);                 /* rate 0.5 of 20 devices */
	assert_int_equal(n, devices * 24);               /* 2 h at 5 min */
	run_free(&c);
}

static void test_drift(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n  - {kind: drift, type: noise, field: LAeq, per_hour: 2, from: 1h, for: 2h}\n",
	         0, 1, &c);
	assert_int_equal(marked(&c, FB_FAULT_DRIFT), 20 * 24);
	assert_int_equal(c.counts[FB_FAULT_DRIFT], 20 * 24);
	assert_unmarked_clean(&c, &clean);
	for (size_t i = 0; i < c.n; i++) {
		const struct line *l = &c.v[i];
		if (!l->fault)
			continue;
		const struct line *cl = clean_at(&clean, l->device, l->t);
		double hours = (double)(l->t - (c.start + H)) / (double)H;
		double want = fmin(140, value_of(cl->text, "LAeq") + 2 * hours);
		assert_true(fabs(value_of(l->text, "LAeq") - want) <= 0.051);
		assert_true(value_of(l->text, "LAmax") == value_of(cl->text, "LAmax"));
	}
	run_free(&c);
}

static void test_spike_out_of_range_invalid(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n"
	         "  - {kind: spike, type: noise, rate: 0.1, magnitude: 30}\n"
	         "  - {kind: out_of_range, type: waste, rate: 0.05, field: fillingLevel}\n"
	         "  - {kind: invalid, type: waste, rate: 0.05, field: temperature}\n", 0, 1, &c);
	size_t spikes = marked(&c, FB_FAULT_SPIKE), oor = marked(&c, FB_FAULT_OUT_OF_RANGE),
	       inv = marked(&c, FB_FAULT_INVALID);
	assert_int_equal(c.counts[FB_FAULT_SPIKE], spikes);
	assert_int_equal(c.counts[FB_FAULT_OUT_OF_RANGE], oor);
	assert_int_equal(c.counts[FB_FAULT_INVALID], inv);
	assert_in_range(spikes, 144 - 50, 144 + 50);     /* 1440 samples at 0.1 */
	assert_in_range(oor, 4, 40);                     /* 360 at 0.05 (one rule takes a line) */
	assert_in_range(inv, 4, 40);
	assert_unmarked_clean(&c, &clean);
	for (size_t i = 0; i < c.n; i++) {
		const struct line *l = &c.v[i];
		const struct line *cl = clean_at(&clean, l->device, l->t);
		if (l->fault == FB_FAULT_SPIKE) {
			double v = value_of(l->text, "LAeq");
			assert_true(fabs(fabs(v - value_of(cl->text, "LAeq")) - 30) <= 0.051);
			assert_true(v >= 20 && v <= 140);
		} else if (l->fault == FB_FAULT_OUT_OF_RANGE) {
			double v = value_of(l->text, "fillingLevel");
			assert_true(v > 1 || v < 0);
		} else if (l->fault == FB_FAULT_INVALID) {
			assert_non_null(strstr(l->text, "\"temperature\":null"));
			assert_true(isnan(value_of(l->text, "temperature")));
		}
	}
	run_free(&c);
}

static void test_battery(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n  - {kind: battery, type: waste, from: 2h, for: 2h}\n", 0, 1, &c);
	size_t n = marked(&c, FB_FAULT_BATTERY);
	assert_int_equal(c.counts[FB_FAULT_BATTERY], n);
	assert_int_equal(n, 10 * 24);                    /* 2 h draining + 2 h silent, at 10 min */
	assert_int_equal(c.n, clean.n);
	size_t silent = 0;
	for (size_t i = 0; i < c.n; i++) {
		const struct line *l = &c.v[i];
		if (!l->fault)
			continue;
		assert_true(l->t >= c.start + 2 * H);
		if (l->t >= c.start + 4 * H) {
			assert_int_equal(l->flags, FB_SAMPLE_UNSENT);
			silent++;
		} else {
			assert_int_equal(l->flags, 0);
			const struct line *cl = clean_at(&clean, l->device, l->t);
			double left = (double)(c.start + 4 * H - l->t) / (2.0 * H);
			assert_true(fabs(value_of(l->text, "batteryLevel") -
			                 value_of(cl->text, "batteryLevel") * left) <= 0.0051);
		}
	}
	assert_int_equal(silent, 10 * 12);
	run_free(&c);
}

static void test_offline_lost(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n  - {kind: offline, devices: [noise-000003, 25], from: 1h, for: 1h}\n",
	         0, 1, &c);
	assert_int_equal(marked(&c, FB_FAULT_OFFLINE), 12 + 6);
	assert_int_equal(c.counts[FB_FAULT_OFFLINE], 18);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].fault) {
			assert_true(c.v[i].device == 3 || c.v[i].device == 25);
			assert_int_equal(c.v[i].flags, FB_SAMPLE_UNSENT);
		}
	assert_unmarked_clean(&c, &clean);
	run_free(&c);
}

static void test_offline_backlog(void **state)
{
	struct capture_run c;
	run_text(HEAD "fleets:\n  - {type: noise, count: 20, site: port, interval: 5m, faults: "
	         "[{kind: offline, devices: [noise-000003], from: 1h, for: 1h, backlog: send, backlog_max: 5}]}\n"
	         "  - {type: waste, count: 10, site: aix, interval: 10m}\n", 0, 1, &c);
	assert_int_equal(c.n, clean.n);
	assert_int_equal(marked(&c, FB_FAULT_OFFLINE), 12);
	assert_int_equal(c.counts[FB_FAULT_OFFLINE], 12);
	size_t late = 0, lost = 0, first_late = 0;
	fb_time_us prev = 0;
	for (size_t i = 0; i < c.n; i++) {
		const struct line *l = &c.v[i];
		if (!l->fault)
			continue;
		assert_int_equal(l->device, 3);
		/* the line carries its original time and values */
		const struct line *cl = clean_at(&clean, 3, l->t);
		assert_non_null(cl);
		assert_true(same_but_mark(l->text, cl->text));
		if (l->flags == FB_SAMPLE_UNSENT) {
			lost++;
			assert_true(l->t < c.start + H + 7 * 5 * FB_US_PER_MIN);   /* the 7 oldest */
		} else {
			assert_int_equal(l->flags, FB_SAMPLE_LATE);
			if (!late++)
				first_late = i;
			assert_true(l->t > prev);
			prev = l->t;
		}
	}
	assert_int_equal(lost, 7);
	assert_int_equal(late, 5);
	/* released just before the device's first sample after the window, in order */
	const struct line *after = &c.v[first_late + 5];
	assert_int_equal(after->device, 3);
	assert_int_equal(after->fault, 0);
	assert_true(after->t >= c.start + 2 * H && after->t < c.start + 2 * H + 5 * FB_US_PER_MIN);
	run_free(&c);
}

static void test_offline_never_back(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n  - {kind: offline, devices: [noise-000004], from: 5h, backlog: send}\n",
	         0, 1, &c);
	/* still offline at the end: the held samples are lost, and still in the trace */
	assert_int_equal(c.n, clean.n);
	assert_int_equal(marked(&c, FB_FAULT_OFFLINE), 12);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].fault)
			assert_int_equal(c.v[i].flags, FB_SAMPLE_UNSENT);
	run_free(&c);
}

static void test_clock_skew(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n  - {kind: clock_skew, skew: -90s, site: aix, rate: 0.3}\n", 0, 1, &c);
	size_t n = marked(&c, FB_FAULT_CLOCK_SKEW);
	assert_int_equal(c.counts[FB_FAULT_CLOCK_SKEW], n);
	assert_true(n % 36 == 0 && n >= 36 && n <= 9 * 36);   /* whole devices */
	for (size_t i = 0; i < c.n; i++) {
		const struct line *l = &c.v[i];
		if (!l->fault)
			continue;
		const struct line *cl = clean_at(&clean, l->device, l->t + 90 * FB_US_PER_S);
		assert_non_null(cl);
		assert_true(same_but_mark(strstr(l->text, "\"device\""), strstr(cl->text, "\"device\"")));
		assert_int_equal(strlen(l->text), strlen(cl->text) + 21);   /* ,"fault":"clock_skew" */
		assert_memory_equal(l->text, "{\"ts\":\"2026-06-01T", 18);
	}
	run_free(&c);
}

static void test_reboot(void **state)
{
	struct capture_run c;
	run_text(BASE "faults:\n  - {kind: reboot, type: waste, from: 2h, for: 1h}\n", 0, 1, &c);
	assert_int_equal(marked(&c, FB_FAULT_REBOOT), 10);
	assert_int_equal(c.counts[FB_FAULT_REBOOT], 10);
	for (uint32_t d = 20; d < 30; d++) {
		int64_t expect = 0;
		bool rebooted = false;
		for (size_t i = 0; i < c.n; i++) {
			const struct line *l = &c.v[i];
			if (l->device != d)
				continue;
			if (l->fault == FB_FAULT_REBOOT) {
				assert_false(rebooted);
				rebooted = true;
				/* the first sample at or after an instant within the window */
				assert_true(l->t >= c.start + 2 * H && l->t < c.start + 3 * H + 10 * FB_US_PER_MIN);
				expect = 0;
			}
			assert_int_equal(l->seq, expect);
			expect++;
		}
		assert_true(rebooted);
	}
	run_free(&c);
}

/* device faults, plus payload and network kinds on an MQTT fleet (marked by sim, carried out by
 * the transport: here only the marks, no broker) */
#define MIX HEAD "fleets:\n  - {type: noise, count: 20, site: port, interval: 5m, transport: mqtt, faults: [" \
	"{kind: duplicate, rate: 0.02}, {kind: delay, rate: 0.02}, {kind: malformed, rate: 0.02}, " \
	"{kind: site_dark, from: 5h, for: 20m}]}\n" \
	"  - {type: waste, count: 10, site: aix, interval: 10m}\n" \
	"faults:\n" \
	"  - {kind: stuck, rate: 0.2, from: 1h, for: 1h}\n" \
	"  - {kind: spike, rate: 0.05}\n" \
	"  - {kind: offline, rate: 0.3, from: 2h, for: 30m, backlog: send}\n" \
	"  - {kind: reboot, rate: 0.5, from: 3h, for: 2h}\n" \
	"  - {kind: battery, site: aix, rate: 0.4, from: 4h, for: 1h}\n"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_determinism_and_shards(void **state)
{
	struct capture_run a, b, s[3];
	run_text(MIX, 0, 1, &a);
	run_text(MIX, 0, 1, &b);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.v[i].text, b.v[i].text);
	for (int k = 1; k < FB_FAULT_NKINDS; k++)
		assert_int_equal(a.counts[k], b.counts[k]);
	static const enum fb_fault_kind drawn[] = { FB_FAULT_STUCK, FB_FAULT_SPIKE, FB_FAULT_BATTERY,
		FB_FAULT_OFFLINE, FB_FAULT_REBOOT, FB_FAULT_DUPLICATE, FB_FAULT_DELAY, FB_FAULT_MALFORMED,
		FB_FAULT_SITE_DARK };
	for (size_t k = 0; k < sizeof drawn / sizeof *drawn; k++) {
		assert_true(a.counts[drawn[k]] > 0);
		assert_int_equal(a.counts[drawn[k]], marked(&a, drawn[k]));
	}
	size_t total = 0;
	uint64_t sum[FB_FAULT_NKINDS] = { 0 };
	for (uint32_t i = 0; i < 3; i++) {
		run_text(MIX, i, 3, &s[i]);
		total += s[i].n;
		for (int k = 1; k < FB_FAULT_NKINDS; k++)
			sum[k] += s[i].counts[k];
	}
	assert_int_equal(total, a.n);
	for (int k = 1; k < FB_FAULT_NKINDS; k++)
		assert_int_equal(sum[k], a.counts[k]);
	char **x = malloc(a.n * sizeof *x), **y = malloc(a.n * sizeof *y);
	size_t m = 0;
	for (uint32_t i = 0; i < 3; i++)
		for (size_t j = 0; j < s[i].n; j++)
			y[m++] = s[i].v[j].text;
	for (size_t j = 0; j < a.n; j++)
		x[j] = a.v[j].text;
	qsort(x, a.n, sizeof *x, cmp_str);
	qsort(y, a.n, sizeof *y, cmp_str);
	for (size_t j = 0; j < a.n; j++)
		assert_string_equal(x[j], y[j]);
	free(x);
	free(y);
	/* another seed, other faults */
	struct capture_run o;
	char text[4096];
	snprintf(text, sizeof text, "%s", MIX);
	memcpy(strstr(text, "seed: 7"), "seed: 8", 7);
	run_text(text, 0, 1, &o);
	size_t same = 0;
	for (size_t j = 0; j < o.n && j < a.n; j++)
		same += o.v[j].fault == a.v[j].fault && o.v[j].device == a.v[j].device;
	assert_true(same < a.n);
	run_free(&o);
	run_free(&a);
	run_free(&b);
	for (int i = 0; i < 3; i++)
		run_free(&s[i]);
}

static const char *load_fail(const char *text)
{
	static struct capture cap;
	static char out[16384];
	char prefix[80];
	write_file(text);
	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	assert_non_null(sc);
	struct fb_faults *f = (struct fb_faults *)1;
	capture_begin(&cap);
	int rc = fb_faults_parse(sc, &f);
	static char err[sizeof cap.text];
	strcpy(err, capture_end(&cap));
	assert_int_equal(rc, -1);
	assert_null(f);
	/* the load-time check and the engine say the same */
	capture_begin(&cap);
	assert_int_equal(fb_faults_check(sc), -1);
	assert_string_equal(capture_end(&cap), err);
	capture_begin(&cap);
	assert_null(fb_engine_new(sc, 0, 1, sc->start, sc->duration));
	assert_string_equal(capture_end(&cap), err);
	fb_scenario_free(sc);
	snprintf(prefix, sizeof prefix, "%s/", dir);
	size_t k = 0, plen = strlen(prefix);
	for (const char *p = err; *p && k + 1 < sizeof out;) {
		if (!strncmp(p, prefix, plen))
			p += plen;
		else
			out[k++] = *p++;
	}
	out[k] = 0;
	return out;
}

static void test_parse_errors(void **state)
{
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: stuk}\n"),
	                    "x.yaml:12:12: error: unknown fault kind 'stuk' (did you mean 'stuck'?)\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: stuck, skew: 5m}\n"),
	                    "x.yaml:12:19: error: 'skew' does not apply to fault 'stuck'\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: spike, rat: 0.1}\n"),
	                    "x.yaml:12:19: error: unknown key 'rat' in fault (did you mean 'rate'?)\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: spike, rate: 2}\n"),
	                    "x.yaml:12:25: error: 'rate' must be a probability in [0, 1], not 2\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: offline, from: tomorrow}\n"),
	                    "x.yaml:12:27: error: 'from' must be a duration from the run's start ('6h') or "
	                    "an RFC 3339 date-time ('2026-06-01T06:00:00+02:00'), not 'tomorrow'\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: offline, site: prot}\n"),
	                    "x.yaml:12:27: error: unknown site 'prot' (did you mean 'port'?)\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: drift, type: noise, field: LAEQ}\n"),
	                    "x.yaml:12:39: error: type 'noise' has no field 'LAEQ' (did you mean 'LAeq'?)\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: offline, devices: [noise-000099]}\n"),
	                    "x.yaml:12:31: error: unknown device 'noise-000099' (expected an id such as "
	                    "'noise-000042' or a global index below 30)\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: duplicate, rate: 0.1}\n"),
	                    "x.yaml:12:5: error: fault 'duplicate' targets no device (it needs a fleet "
	                    "with transport 'mqtt')\n");
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: site_dark, site: port}\n"),
	                    "x.yaml:12:5: error: fault 'site_dark' targets no device (it needs a fleet "
	                    "with transport 'mqtt' or 'lorawan')\n");
	assert_string_equal(load_fail(HEAD "fleets:\n  - {type: noise, site: aix, faults: [{kind: bad_mic}]}\n"),
	                    "x.yaml:9:46: error: fault 'bad_mic' needs a fleet with transport 'lorawan' "
	                    "(fleet 0, 'noise', has none)\n");
	assert_string_equal(load_fail(HEAD "fleets:\n  - {type: noise, site: aix, transport: mqtt, "
	                              "codec: sparkplug, faults: [{kind: duplicate}]}\n"),
	                    "x.yaml:9:81: error: fault 'duplicate' cannot apply to a 'sparkplug' fleet "
	                    "(fleet 0, 'noise')\n");
	assert_string_equal(load_fail(BASE "faults: {kind: stuck}\n"),
	                    "x.yaml:11:9: error: 'faults' must be a list of faults ('- kind: stuck ...')\n");
	/* two errors at once */
	assert_string_equal(load_fail(BASE "faults:\n  - {kind: stuck, for: 0s}\n  - {rate: 1}\n"),
	                    "x.yaml:12:24: error: 'for' must be longer than zero\n"
	                    "x.yaml:13:5: error: a fault needs a 'kind' (e.g. 'kind: stuck')\n");
}

static void test_no_faults_no_marks(void **state)
{
	write_file(BASE);
	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	struct fb_faults *f = (struct fb_faults *)1;
	assert_int_equal(fb_faults_parse(sc, &f), 0);
	assert_null(f);
	struct fb_engine *e = fb_engine_new(sc, 0, 1, sc->start, sc->duration);
	assert_null(fb_engine_faults(e));
	fb_engine_free(e);
	fb_scenario_free(sc);
	for (size_t i = 0; i < clean.n; i++)
		assert_int_equal(clean.v[i].fault | clean.v[i].flags, 0);
	assert_string_equal(fb_fault_name(FB_FAULT_OUT_OF_RANGE), "out_of_range");
	assert_null(fb_fault_name(FB_FAULT_NONE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stuck),
		cmocka_unit_test(test_drift),
		cmocka_unit_test(test_spike_out_of_range_invalid),
		cmocka_unit_test(test_battery),
		cmocka_unit_test(test_offline_lost),
		cmocka_unit_test(test_offline_backlog),
		cmocka_unit_test(test_offline_never_back),
		cmocka_unit_test(test_clock_skew),
		cmocka_unit_test(test_reboot),
		cmocka_unit_test(test_determinism_and_shards),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_no_faults_no_marks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
