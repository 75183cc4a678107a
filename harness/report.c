/* The report: histograms and counters as JSON, the per-second series, the shard merge, JUnit,
 * and `fleetbench report`. Schema in harness/report.h. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness/cli.h"
#include "harness/expect.h"
#include "harness/html.h"
#include "harness/report.h"
#include "sim/log.h"

/* ---- histograms and counters ---------------------------------------------------------------- */

static json_t *u64_json(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *fb_hist_to_json(const struct fb_hist *h)
{
	json_t *buckets = json_array();
	json_t *o = json_object();
	if (!buckets || !o) {
		json_decref(buckets);
		json_decref(o);
		return NULL;
	}
	for (size_t i = 0, n = fb_hist_nbuckets(); i < n; i++) {
		uint64_t c = fb_hist_bucket_count(h, i);
		if (c)
			json_array_append_new(buckets, json_pack("[I, I]", (json_int_t)i, (json_int_t)c));
	}
	json_object_set_new(o, "count", u64_json(fb_hist_count(h)));
	json_object_set_new(o, "min", u64_json(fb_hist_min(h)));
	json_object_set_new(o, "max", u64_json(fb_hist_max(h)));
	json_object_set_new(o, "mean", json_real(fb_hist_mean(h)));
	json_object_set_new(o, "saturated", u64_json(fb_hist_saturated(h)));
	json_object_set_new(o, "p50", u64_json(fb_hist_quantile(h, 0.5)));
	json_object_set_new(o, "p90", u64_json(fb_hist_quantile(h, 0.9)));
	json_object_set_new(o, "p99", u64_json(fb_hist_quantile(h, 0.99)));
	json_object_set_new(o, "p999", u64_json(fb_hist_quantile(h, 0.999)));
	json_object_set_new(o, "buckets", buckets);
	return o;
}

static uint64_t get_u64(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v) < 0 ? 0 : (uint64_t)json_integer_value(v);
	if (json_is_real(v))
		return json_real_value(v) < 0 ? 0 : (uint64_t)json_real_value(v);
	return 0;
}

int fb_hist_from_json(const json_t *j, struct fb_hist *h)
{
	fb_hist_reset(h);
	const json_t *buckets = json_object_get(j, "buckets");
	if (!json_is_object(j) || !json_is_array(buckets))
		return fb_error("a latency histogram has no 'buckets'");
	size_t i;
	const json_t *b;
	json_array_foreach(buckets, i, b) {
		const json_t *ix = json_array_get(b, 0), *c = json_array_get(b, 1);
		if (!json_is_integer(ix) || !json_is_integer(c) || json_integer_value(ix) < 0 || json_integer_value(c) < 0)
			return fb_error("a latency histogram bucket is not a pair [index, count]");
		size_t at = (size_t)json_integer_value(ix);
		if (fb_hist_set_bucket(h, at, fb_hist_bucket_count(h, at) + (uint64_t)json_integer_value(c)) < 0)
			return fb_error("a latency histogram bucket index '%zu' is out of range (0..%zu)", at,
			                fb_hist_nbuckets() - 1);
	}
	if (json_object_get(j, "count") && get_u64(j, "count") != fb_hist_count(h))
		return fb_error("a latency histogram's 'count' does not match its buckets");
	fb_hist_set_minmax(h, get_u64(j, "min"), get_u64(j, "max"), get_u64(j, "saturated"));
	return 0;
}

json_t *fb_report_counts_json(const struct fb_recon_counts *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "expected", u64_json(c->expected));
	json_object_set_new(o, "received", u64_json(c->received));
	json_object_set_new(o, "lost", u64_json(c->lost));
	json_object_set_new(o, "duplicated", u64_json(c->duplicated));
	json_object_set_new(o, "out_of_order", u64_json(c->out_of_order));
	json_object_set_new(o, "wrong_values", u64_json(c->wrong_values));
	json_object_set_new(o, "undecodable", u64_json(c->undecodable));
	json_object_set_new(o, "unexpected", u64_json(c->unexpected));
	json_object_set_new(o, "foreign", u64_json(c->foreign));
	return o;
}

int fb_report_counts_from_json(const json_t *j, struct fb_recon_counts *c)
{
	memset(c, 0, sizeof *c);
	if (!json_is_object(j))
		return -1;
	c->expected = get_u64(j, "expected");
	c->received = get_u64(j, "received");
	c->lost = get_u64(j, "lost");
	c->duplicated = get_u64(j, "duplicated");
	c->out_of_order = get_u64(j, "out_of_order");
	c->wrong_values = get_u64(j, "wrong_values");
	c->undecodable = get_u64(j, "undecodable");
	c->unexpected = get_u64(j, "unexpected");
	c->foreign = get_u64(j, "foreign");
	return 0;
}

/* ---- per-second series ---------------------------------------------------------------------- */

struct fb_series {
	fb_time_us t0;                  /* whole wall second */
	size_t n, cap;
	uint64_t *sent, *received, *errors;
	double *lag;
	uint64_t last_sent, last_received, last_errors;
};

struct fb_series *fb_series_new(fb_time_us wall_start)
{
	struct fb_series *s = calloc(1, sizeof *s);
	if (s)
		s->t0 = wall_start - ((wall_start % FB_US_PER_S) + FB_US_PER_S) % FB_US_PER_S;
	return s;
}

void fb_series_free(struct fb_series *s)
{
	if (!s)
		return;
	free(s->sent);
	free(s->received);
	free(s->errors);
	free(s->lag);
	free(s);
}

static int series_grow(struct fb_series *s, size_t need)
{
	size_t cap = s->cap ? s->cap : 64;
	while (cap < need)
		cap *= 2;
	uint64_t *a = realloc(s->sent, cap * sizeof *a);
	if (a) s->sent = a;
	uint64_t *b = realloc(s->received, cap * sizeof *b);
	if (b) s->received = b;
	uint64_t *c = realloc(s->errors, cap * sizeof *c);
	if (c) s->errors = c;
	double *d = realloc(s->lag, cap * sizeof *d);
	if (d) s->lag = d;
	if (!a || !b || !c || !d)
		return -1;
	for (size_t i = s->cap; i < cap; i++) {
		s->sent[i] = s->received[i] = s->errors[i] = 0;
		s->lag[i] = 0;
	}
	s->cap = cap;
	return 0;
}

static uint64_t delta(uint64_t now, uint64_t *last)
{
	uint64_t d = now >= *last ? now - *last : 0;
	*last = now;
	return d;
}

void fb_series_tick(struct fb_series *s, fb_time_us wall, uint64_t sent_total, uint64_t received_total,
                    uint64_t errors_total, double lag_s)
{
	size_t i = wall > s->t0 ? (size_t)((wall - s->t0) / FB_US_PER_S) : 0;
	if (i >= s->cap && series_grow(s, i + 1) < 0)
		return;     /* out of memory: the series stops growing, the run goes on */
	s->sent[i] += delta(sent_total, &s->last_sent);
	s->received[i] += delta(received_total, &s->last_received);
	s->errors[i] += delta(errors_total, &s->last_errors);
	if (lag_s > s->lag[i])
		s->lag[i] = lag_s;
	if (i + 1 > s->n)
		s->n = i + 1;
}

json_t *fb_series_report(const struct fb_series *s)
{
	char t0[25];
	fb_format_iso_ms(s->t0, t0);
	json_t *sent = json_array(), *recv = json_array(), *err = json_array(), *lag = json_array();
	for (size_t i = 0; i < s->n; i++) {
		json_array_append_new(sent, u64_json(s->sent[i]));
		json_array_append_new(recv, u64_json(s->received[i]));
		json_array_append_new(err, u64_json(s->errors[i]));
		json_array_append_new(lag, json_real(s->lag[i]));
	}
	return json_pack("{s:s, s:i, s:o, s:o, s:o, s:o}", "t0", t0, "step_s", 1, "sent", sent,
	                 "received", recv, "errors", err, "lag_s", lag);
}

/* ---- merge ---------------------------------------------------------------------------------- */

static bool is_hist(const json_t *o)
{
	return json_is_object(o) && json_is_array(json_object_get(o, "buckets"));
}

enum combine { C_SUM, C_MAX, C_MIN };

static enum combine combine_of(const char *key)
{
	if (strstr(key, "peak") || strstr(key, "max"))
		return C_MAX;
	if (strstr(key, "min"))
		return C_MIN;
	return C_SUM;
}

static int merge_value(json_t *parent, const char *key, const json_t *src);

static int merge_hist(json_t *dst, const json_t *src)
{
	struct fb_hist *a = fb_hist_new(), *b = fb_hist_new();
	int rc = -1;
	if (!a || !b) {
		fb_error("out of memory merging histograms");
		goto out;
	}
	if (fb_hist_from_json(dst, a) < 0 || fb_hist_from_json(src, b) < 0)
		goto out;
	fb_hist_merge(a, b);
	json_t *m = fb_hist_to_json(a);
	if (!m)
		goto out;
	json_object_update(dst, m);
	json_decref(m);
	rc = 0;
out:
	fb_hist_free(a);
	fb_hist_free(b);
	return rc;
}

static int merge_object(json_t *dst, const json_t *src)
{
	if (is_hist(dst) || is_hist(src)) {
		if (!is_hist(dst) || !is_hist(src))
			return fb_error("a latency histogram is malformed in one of the reports");
		return merge_hist(dst, src);
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)src, k, v)
		if (merge_value(dst, k, v) < 0)
			return -1;
	return 0;
}

/* parent[key] combined with src: objects recurse, numbers add (or max/min by name), anything
 * else keeps the first report's value. */
static int merge_value(json_t *parent, const char *key, const json_t *src)
{
	json_t *dst = json_object_get(parent, key);
	if (!dst)
		return json_object_set_new(parent, key, json_deep_copy(src)) ? -1 : 0;
	if (json_is_object(dst) && json_is_object(src))
		return merge_object(dst, src);
	if (json_is_integer(dst) && json_is_integer(src)) {
		json_int_t a = json_integer_value(dst), b = json_integer_value(src);
		enum combine c = combine_of(key);
		json_integer_set(dst, c == C_SUM ? a + b : c == C_MAX ? (a > b ? a : b) : (a < b ? a : b));
		return 0;
	}
	if (json_is_number(dst) && json_is_number(src)) {
		double a = json_number_value(dst), b = json_number_value(src);
		enum combine c = combine_of(key);
		return json_object_set_new(parent, key, json_real(c == C_SUM ? a + b : c == C_MAX ? fmax(a, b) : fmin(a, b)));
	}
	return 0;
}

static const char *str_at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static int merge_series(json_t *out, json_t *const *reports, size_t n)
{
	fb_time_us t0 = FB_TIME_NEVER, end = 0;
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_object_get(reports[i], "series");
		if (!s)
			continue;
		fb_time_us t;
		if (!str_at(s, "t0", NULL) || fb_parse_rfc3339(str_at(s, "t0", NULL), &t) < 0)
			return fb_error("a report's series has no valid 't0'");
		if (json_object_get(s, "step_s") && get_u64(s, "step_s") != 1)
			return fb_error("a report's series has a step other than 1 s");
		fb_time_us e = t + (fb_time_us)json_array_size(json_object_get(s, "sent")) * FB_US_PER_S;
		if (t < t0) t0 = t;
		if (e > end) end = e;
		any = true;
	}
	if (!any)
		return 0;
	size_t len = (size_t)((end - t0) / FB_US_PER_S);
	static const char *const names[] = { "sent", "received", "errors", "lag_s" };
	json_t *arr[4];
	for (int k = 0; k < 4; k++) {
		arr[k] = json_array();
		for (size_t i = 0; i < len; i++)
			json_array_append_new(arr[k], k == 3 ? json_real(0) : json_integer(0));
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_object_get(reports[i], "series");
		fb_time_us t;
		if (!s || fb_parse_rfc3339(str_at(s, "t0", NULL), &t) < 0)
			continue;
		size_t off = (size_t)((t - t0) / FB_US_PER_S);
		for (int k = 0; k < 4; k++) {
			const json_t *a = json_object_get(s, names[k]);
			size_t j;
			const json_t *x;
			json_array_foreach(a, j, x) {
				if (off + j >= len)
					break;
				json_t *d = json_array_get(arr[k], off + j);
				if (k == 3) {
					if (json_number_value(x) > json_number_value(d))
						json_real_set(d, json_number_value(x));
				} else {
					json_integer_set(d, json_integer_value(d) + (json_int_t)json_number_value(x));
				}
			}
		}
	}
	char iso[25];
	fb_format_iso_ms(t0, iso);
	json_object_set_new(out, "series", json_pack("{s:s, s:i, s:o, s:o, s:o, s:o}", "t0", iso, "step_s", 1,
	                                             "sent", arr[0], "received", arr[1], "errors", arr[2],
	                                             "lag_s", arr[3]));
	return 0;
}

struct dev_pts {
	const char *id;
	json_t *points;
};

static int cmp_dev(const void *a, const void *b)
{
	return strcmp(((const struct dev_pts *)a)->id, ((const struct dev_pts *)b)->id);
}

/* Signals: per type, the union of the shards' devices, sorted by device id. */
static void merge_signals(json_t *out, json_t *const *reports, size_t n)
{
	json_t *merged = json_object();
	for (size_t i = 0; i < n; i++) {
		const char *type;
		json_t *sig;
		json_object_foreach(json_object_get(reports[i], "signals"), type, sig) {
			json_t *m = json_object_get(merged, type);
			if (!m) {
				m = json_pack("{s:O, s:O, s:[], s:[]}", "field", json_object_get(sig, "field"),
				              "unit", json_object_get(sig, "unit") ? json_object_get(sig, "unit") : json_string(""),
				              "devices", "points");
				json_object_set_new(merged, type, m);
			}
			json_array_extend(json_object_get(m, "devices"), json_object_get(sig, "devices"));
			json_array_extend(json_object_get(m, "points"), json_object_get(sig, "points"));
		}
	}
	const char *type;
	json_t *m;
	json_object_foreach(merged, type, m) {
		json_t *devs = json_object_get(m, "devices"), *pts = json_object_get(m, "points");
		size_t k = json_array_size(devs);
		struct dev_pts *v = calloc(k ? k : 1, sizeof *v);
		if (!v)
			continue;
		for (size_t i = 0; i < k; i++) {
			v[i].id = json_string_value(json_array_get(devs, i));
			v[i].id = v[i].id ? v[i].id : "";
			v[i].points = json_incref(json_array_get(pts, i));
		}
		qsort(v, k, sizeof *v, cmp_dev);
		json_t *nd = json_array(), *np = json_array();
		for (size_t i = 0; i < k; i++) {
			json_array_append_new(nd, json_string(v[i].id));
			json_array_append_new(np, v[i].points ? v[i].points : json_array());
		}
		json_object_set_new(m, "devices", nd);
		json_object_set_new(m, "points", np);
		free(v);
	}
	if (json_object_size(merged))
		json_object_set_new(out, "signals", merged);
	else
		json_decref(merged);
}

static json_t *shard_entry(const json_t *rep, const char *name)
{
	const json_t *sh = json_object_get(rep, "shard");
	return json_pack("{s:I, s:I, s:I, s:I, s:f, s:I, s:s}",
	                 "index", (json_int_t)get_u64(sh, "index"),
	                 "first_device", (json_int_t)get_u64(sh, "first_device"),
	                 "devices", (json_int_t)get_u64(rep, "devices"),
	                 "samples", (json_int_t)get_u64(rep, "samples"),
	                 "wall_time_s", json_number_value(json_object_get(rep, "wall_time_s")),
	                 "exit_code", (json_int_t)get_u64(rep, "exit_code"),
	                 "file", name);
}

json_t *fb_report_merge(json_t *const *reports, const char *const *names, size_t n)
{
	if (n == 0) {
		fb_error("no report to merge");
		return NULL;
	}
	const json_t *first = reports[0];
	const char *sc0 = str_at(first, "scenario", "name"), *seed0 = str_at(first, "seed", NULL);
	uint64_t count0 = get_u64(json_object_get(first, "shard"), "count");
	for (size_t i = 0; i < n; i++) {
		const json_t *r = reports[i];
		if (!json_is_object(r) || !json_is_object(json_object_get(r, "shard")) || !str_at(r, "scenario", "name")) {
			fb_error("'%s' is not a fleetbench report (no 'scenario' or 'shard')", names[i]);
			return NULL;
		}
		const char *sc = str_at(r, "scenario", "name"), *seed = str_at(r, "seed", NULL);
		if (strcmp(sc, sc0)) {
			fb_error("'%s' is a report of scenario '%s' but '%s' is of '%s'", names[i], sc, names[0], sc0);
			return NULL;
		}
		if (!seed || !seed0 || strcmp(seed, seed0)) {
			fb_error("'%s' ran with seed '%s' but '%s' with seed '%s'", names[i], seed ? seed : "?",
			         names[0], seed0 ? seed0 : "?");
			return NULL;
		}
		uint64_t count = get_u64(json_object_get(r, "shard"), "count");
		if (count != count0) {
			fb_error("'%s' is one of %" PRIu64 " shards but '%s' one of %" PRIu64, names[i], count,
			         names[0], count0);
			return NULL;
		}
		const json_t *e0 = json_object_get(first, "expect"), *e = json_object_get(r, "expect");
		if ((e0 || e) && (!e0 || !e || !json_equal((json_t *)e0, (json_t *)e))) {
			fb_error("'%s' and '%s' have different 'expect' blocks", names[i], names[0]);
			return NULL;
		}
	}
	/* shards: each input is one shard, or an already merged report listing its own */
	json_t *shards = json_array();
	for (size_t i = 0; i < n; i++) {
		const json_t *list = json_object_get(reports[i], "shards");
		if (json_is_array(list))
			json_array_extend(shards, (json_t *)list);
		else
			json_array_append_new(shards, shard_entry(reports[i], names[i]));
	}
	size_t nsh = json_array_size(shards);
	bool *seen = calloc(count0 ? count0 : 1, sizeof *seen);
	const char **seen_in = calloc(count0 ? count0 : 1, sizeof *seen_in);
	json_t *merged_ix = json_array();
	for (size_t i = 0; i < nsh && seen && seen_in; i++) {
		const json_t *e = json_array_get(shards, i);
		uint64_t ix = get_u64(e, "index");
		const char *file = str_at(e, "file", NULL);
		if (ix >= count0) {
			fb_error("'%s': shard index %" PRIu64 " is out of range (%" PRIu64 " shards)", file, ix, count0);
			goto fail;
		}
		if (seen[ix]) {
			fb_error("shard %" PRIu64 "/%" PRIu64 " is given twice ('%s' and '%s')", ix, count0, seen_in[ix], file);
			goto fail;
		}
		seen[ix] = true;
		seen_in[ix] = file;
	}
	if (!seen || !seen_in) {
		fb_error("out of memory merging reports");
		goto fail;
	}
	uint64_t first_device = UINT64_MAX, devices = 0;
	for (size_t i = 0; i < count0; i++)
		if (seen[i])
			json_array_append_new(merged_ix, json_integer((json_int_t)i));
	for (size_t i = 0; i < nsh; i++) {
		const json_t *e = json_array_get(shards, i);
		if (get_u64(e, "first_device") < first_device)
			first_device = get_u64(e, "first_device");
		devices += get_u64(e, "devices");
	}
	if (nsh < count0)
		fb_warn("merging %zu of %" PRIu64 " shards: the totals cover part of the fleet", nsh, count0);

	json_t *out = json_deep_copy(first);
	double lag_mean_w = 0, lag_w = 0;
	int exit_code = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *r = reports[i];
		const char *k;
		json_t *v;
		const json_t *lag = json_object_get(r, "lag");
		if (lag) {
			double w = (double)get_u64(r, "samples") + 1;
			lag_mean_w += json_number_value(json_object_get(lag, "mean_s")) * w;
			lag_w += w;
		}
		int code = (int)get_u64(r, "exit_code");
		if (code != FB_EXIT_EXPECT && code > exit_code)
			exit_code = code;
		if (i == 0)
			continue;
		json_object_foreach((json_t *)r, k, v) {
			static const char *const keep[] = { "fleetbench", "scenario", "seed", "speed", "shard", "shards",
			                                    "exit_code", "signals", "series", "expect", "expectations", NULL };
			bool skip = false;
			for (size_t j = 0; keep[j]; j++)
				skip |= !strcmp(k, keep[j]);
			if (skip)
				continue;
			if (!strcmp(k, "start") || !strcmp(k, "end")) {
				const char *a = json_string_value(json_object_get(out, k)), *b = json_string_value(v);
				if (a && b && strcmp(a, b))
					fb_warn("'%s' %s at %s but '%s' at %s: align shards with --start", names[i],
					        !strcmp(k, "start") ? "starts" : "ends", b, names[0], a);
				/* ISO strings of one format compare as times */
				if (a && b && (!strcmp(k, "start") ? strcmp(b, a) < 0 : strcmp(b, a) > 0))
					json_object_set(out, k, v);
				continue;
			}
			if (!strcmp(k, "wall_time_s") || !strcmp(k, "startup_s") || !strcmp(k, "duration_s") ||
			    !strcmp(k, "waited_on_peers_s")) {
				json_object_set_new(out, k, json_real(fmax(json_number_value(json_object_get(out, k)),
				                                           json_number_value(v))));
				continue;
			}
			if (!strcmp(k, "lag")) {
				json_t *l = json_object_get(out, k);
				if (!l)
					json_object_set(out, k, v);
				else {
					json_object_set_new(l, "max_s", json_real(fmax(json_number_value(json_object_get(l, "max_s")),
					                                               json_number_value(json_object_get(v, "max_s")))));
					merge_value(l, "late_events", json_object_get(v, "late_events"));
				}
				continue;
			}
			if (merge_value(out, k, v) < 0) {
				fb_error("cannot merge '%s' of '%s'", k, names[i]);
				json_decref(out);
				goto fail;
			}
		}
	}
	if (json_object_get(out, "lag") && lag_w > 0)
		json_object_set_new(json_object_get(out, "lag"), "mean_s", json_real(lag_mean_w / lag_w));
	json_object_set_new(out, "shard", json_pack("{s:I, s:o, s:b, s:I, s:I}", "count", (json_int_t)count0,
	                                            "merged", merged_ix, "complete", nsh == count0,
	                                            "first_device", (json_int_t)(first_device == UINT64_MAX ? 0 : first_device),
	                                            "devices", (json_int_t)devices));
	merged_ix = NULL;
	json_object_set_new(out, "shards", shards);
	shards = NULL;
	json_object_del(out, "series");
	if (merge_series(out, reports, n) < 0) {
		json_decref(out);
		goto fail;
	}
	json_object_del(out, "signals");
	merge_signals(out, reports, n);
	json_object_del(out, "expectations");
	if (json_object_get(out, "expect")) {
		json_t *ex = fb_expect_evaluate(out);
		json_object_set_new(out, "expectations", ex);
		if (fb_expect_failed(ex) && exit_code == 0)
			exit_code = FB_EXIT_EXPECT;
	}
	json_object_set_new(out, "exit_code", json_integer(exit_code));
	free(seen);
	free(seen_in);
	return out;
fail:
	json_decref(shards);
	json_decref(merged_ix);
	free(seen);
	free(seen_in);
	return NULL;
}

/* ---- JUnit ---------------------------------------------------------------------------------- */

void fb_xml_escape(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		default:
			if (c < 0x20 && c != '\n' && c != '\t')
				fputc(' ', out);   /* not allowed in XML 1.0 */
			else
				fputc(c, out);
		}
	}
}

static void value_text(const json_t *v, const char *unit, char *buf, size_t cap)
{
	if (!v || json_is_null(v))
		snprintf(buf, cap, "none");
	else if (json_is_integer(v))
		snprintf(buf, cap, "%lld %s", (long long)json_integer_value(v), unit);
	else
		snprintf(buf, cap, "%.6g %s", json_number_value(v), unit);
}

int fb_report_junit(const json_t *report, FILE *out)
{
	const json_t *ex = json_object_get(report, "expectations");
	const char *scenario = str_at(report, "scenario", "name");
	scenario = scenario ? scenario : "fleetbench";
	size_t n = json_array_size(ex), failed = fb_expect_failed(ex);
	double t = json_number_value(json_object_get(report, "wall_time_s"));
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out, "<testsuites name=\"fleetbench\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.3f\">\n",
	        n, failed, t);
	fputs("  <testsuite name=\"", out);
	fb_xml_escape(out, scenario);
	size_t nskipped = 0, k;
	const json_t *x;
	json_array_foreach(ex, k, x)
		nskipped += json_is_true(json_object_get(x, "skipped"));
	fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n", n, failed,
	        nskipped, t);
	size_t i;
	const json_t *e;
	json_array_foreach(ex, i, e) {
		const char *unit = str_at(e, "unit", NULL);
		char limit[64], actual[64];
		value_text(json_object_get(e, "limit"), unit ? unit : "", limit, sizeof limit);
		value_text(json_object_get(e, "actual"), unit ? unit : "", actual, sizeof actual);
		fputs("    <testcase name=\"", out);
		fb_xml_escape(out, str_at(e, "name", NULL));
		fputs("\" classname=\"fleetbench.", out);
		fb_xml_escape(out, scenario);
		fputs("\" time=\"0\"", out);
		if (json_is_true(json_object_get(e, "skipped"))) {
			fputs(">\n      <skipped message=\"", out);
			fb_xml_escape(out, str_at(e, "message", NULL));
			fputs("\"/>\n    </testcase>\n", out);
			continue;
		}
		if (json_is_true(json_object_get(e, "ok"))) {
			fputs(">\n      <system-out>", out);
			fb_xml_escape(out, str_at(e, "message", NULL));
			fputs("</system-out>\n    </testcase>\n", out);
			continue;
		}
		fputs(">\n      <failure type=\"expectation\" message=\"", out);
		fb_xml_escape(out, str_at(e, "message", NULL));
		fputs("\">limit: ", out);
		fb_xml_escape(out, limit);
		fputs("\nactual: ", out);
		fb_xml_escape(out, actual);
		fputs("</failure>\n    </testcase>\n", out);
	}
	fputs("  </testsuite>\n</testsuites>\n", out);
	return ferror(out) ? -1 : 0;
}

int fb_report_write_junit(const json_t *report, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return fb_error("cannot write the JUnit file '%s': %s", path, strerror(errno));
	int rc = fb_report_junit(report, f);
	if (fclose(f) != 0 || rc < 0)
		return fb_error("cannot write the JUnit file '%s': %s", path, strerror(errno));
	return 0;
}

json_t *fb_report_load(const char *path)
{
	json_error_t err;
	json_t *r = json_load_file(path, 0, &err);
	if (!r) {
		if (err.line > 0)
			fb_error_at(path, err.line, err.column, "%s", err.text);
		else
			fb_error("cannot read the report '%s': %s", path, err.text);
		return NULL;
	}
	if (!json_is_object(r)) {
		fb_error("'%s' is not a fleetbench report (not a JSON object)", path);
		json_decref(r);
		return NULL;
	}
	return r;
}

/* ---- fleetbench report ---------------------------------------------------------------------- */

static const char report_usage[] =
"usage: fleetbench report merge REPORT.json... [--out FILE] [--junit FILE] [--html FILE]\n"
"       fleetbench report html REPORT.json [--out FILE]\n"
"\n"
"merge   merges the reports of the shards of one run (--report of each `fleetbench run\n"
"        --shard i/N`) exactly: counters summed, latency histograms merged bucket by bucket,\n"
"        series aligned on wall seconds, signals united; the expectations are evaluated on\n"
"        the totals. Writes the merged report to stdout or --out.\n"
"html    renders a report as one self-contained HTML page (charts inline, readable offline).\n"
"\n"
"options\n"
"  -o, --out FILE     write the output there instead of stdout\n"
"  --junit FILE       merge: one JUnit testcase per expectation\n"
"  --html FILE        merge: also render the merged report as HTML\n"
"\n"
"Exit codes: 0 ok, 1 runtime failure, 2 usage or bad reports, 3 expectations not met.\n";

static int report_usage_error(const char *fmt, const char *arg)
{
	fb_error(fmt, arg);
	fputs("try 'fleetbench report --help'\n", stderr);
	return FB_EXIT_USAGE;
}

static int write_json(const json_t *j, const char *path)
{
	bool to_stdout = !path || !strcmp(path, "-");
	FILE *f = to_stdout ? stdout : fopen(path, "w");
	if (!f)
		return fb_error("cannot write '%s': %s", path, strerror(errno));
	int rc = json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (fputc('\n', f) == EOF)
		rc = -1;
	if (to_stdout ? fflush(f) != 0 : fclose(f) != 0)
		rc = -1;
	if (rc)
		return fb_error("cannot write '%s': %s", to_stdout ? "stdout" : path, strerror(errno));
	return 0;
}

int fb_cmd_report(int argc, char **argv)
{
	enum { O_JUNIT = 256, O_HTML };
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "junit", required_argument, NULL, O_JUNIT },
		{ "html", required_argument, NULL, O_HTML },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *out = NULL, *junit = NULL, *html = NULL;
	if (argc < 2)
		return report_usage_error("missing subcommand%s (merge or html)", "");
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		fputs(report_usage, stdout);
		return FB_EXIT_OK;
	}
	static const char *const subs[] = { "merge", "html", NULL };
	if (strcmp(sub, "merge") && strcmp(sub, "html")) {
		const char *s = fb_suggest(sub, subs);
		if (s) {
			fb_error("unknown report subcommand '%s' (did you mean '%s'?)", sub, s);
			fputs("try 'fleetbench report --help'\n", stderr);
			return FB_EXIT_USAGE;
		}
		return report_usage_error("unknown report subcommand '%s' (merge or html)", sub);
	}
	int sargc = argc - 1;
	char **sargv = argv + 1;
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(sargc, sargv, ":ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case O_JUNIT: junit = optarg; break;
		case O_HTML: html = optarg; break;
		case 'h': fputs(report_usage, stdout); return FB_EXIT_OK;
		case ':': return report_usage_error("option '%s' needs a value", sargv[optind - 1]);
		default: return report_usage_error("unknown option '%s'", sargv[optind - 1]);
		}
	}
	int nfiles = sargc - optind;
	char **files = sargv + optind;
	if (nfiles < 1)
		return report_usage_error("missing report file%s", "");
	if (!strcmp(sub, "html")) {
		if (nfiles > 1)
			return report_usage_error("unexpected argument '%s' (html renders one report)", files[1]);
		if (junit)
			return report_usage_error("'--junit' applies to 'report merge'%s", "");
		json_t *r = fb_report_load(files[0]);
		if (!r)
			return FB_EXIT_USAGE;
		int rc = out && strcmp(out, "-") ? fb_html_write_file(r, out) : fb_html_write(r, stdout);
		json_decref(r);
		return rc < 0 ? FB_EXIT_RUNTIME : FB_EXIT_OK;
	}
	json_t **reps = calloc((size_t)nfiles, sizeof *reps);
	if (!reps)
		return fb_error("out of memory"), FB_EXIT_RUNTIME;
	int code = FB_EXIT_OK;
	json_t *m = NULL;
	for (int i = 0; i < nfiles; i++)
		if (!(reps[i] = fb_report_load(files[i])))
			code = FB_EXIT_USAGE;
	if (code == FB_EXIT_OK && !(m = fb_report_merge(reps, (const char *const *)files, (size_t)nfiles)))
		code = FB_EXIT_USAGE;
	if (m) {
		if (write_json(m, out) < 0 || (junit && fb_report_write_junit(m, junit) < 0) ||
		    (html && fb_html_write_file(m, html) < 0))
			code = FB_EXIT_RUNTIME;
		const json_t *ex = json_object_get(m, "expectations");
		fb_expect_print_failures(ex, stderr);
		if (code == FB_EXIT_OK)
			code = (int)json_integer_value(json_object_get(m, "exit_code"));
		json_decref(m);
	}
	for (int i = 0; i < nfiles; i++)
		json_decref(reps[i]);
	free(reps);
	return code;
}
