/* Expectations: parse the scenario's expect: block, evaluate it against a report JSON. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness/expect.h"
#include "harness/report.h"
#include "sim/hist.h"
#include "sim/log.h"

enum kind { K_FRACTION, K_COUNT, K_LATENCY, K_LAG, K_RATE };
enum scope { S_ANY, S_GLOBAL, S_JOINS };   /* S_JOINS: global or under lorawan */

struct key {
	const char *name;
	enum kind kind;
	enum scope scope;
	double quantile;        /* K_LATENCY */
};

static const struct key keys[] = {
	{ "loss_max", K_FRACTION, S_ANY, 0 },
	{ "lost_max", K_COUNT, S_ANY, 0 },
	{ "latency_p50_max", K_LATENCY, S_ANY, 0.5 },
	{ "latency_p90_max", K_LATENCY, S_ANY, 0.9 },
	{ "latency_p99_max", K_LATENCY, S_ANY, 0.99 },
	{ "latency_p999_max", K_LATENCY, S_ANY, 0.999 },
	{ "rate_min", K_RATE, S_ANY, 0 },
	{ "errors_max", K_COUNT, S_ANY, 0 },
	{ "duplicates_max", K_COUNT, S_ANY, 0 },
	{ "out_of_order_max", K_COUNT, S_ANY, 0 },
	{ "wrong_values_max", K_COUNT, S_ANY, 0 },
	{ "join_success_min", K_FRACTION, S_JOINS, 0 },
	{ "lag_max", K_LAG, S_GLOBAL, 0 },
};
#define NKEYS (sizeof keys / sizeof keys[0])

static const char *const all_protos[] = { "mqtt", "lorawan", "modbus", NULL };

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static bool in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return true;
	return false;
}

/* "0.5%" or 0.005, within [0, 1]. */
static int parse_fraction(const struct fb_ynode *n, const char *what, double *out)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be a fraction like 0.005 or a percentage like '0.5%%'", what);
	const char *t = n->text;
	char *end;
	errno = 0;
	double v = strtod(t, &end);
	bool pct = end != t && *end == '%' && end[1] == '\0';
	if (end == t || errno || !isfinite(v) || (*end && !pct) || isspace((unsigned char)t[0]))
		return fb_ynode_error(n, "%s must be a fraction like 0.005 or a percentage like '0.5%%', not '%s'",
		                      what, t);
	if (pct)
		v /= 100.0;
	if (v < 0 || v > 1)
		return fb_ynode_error(n, "%s must be between 0 and 1 (or 0%% and 100%%), not '%s'", what, t);
	*out = v;
	return 0;
}

/* "5000/s", "300/min", "10/h" or a bare number per second. */
static int parse_rate(const struct fb_ynode *n, const char *what, double *out)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be a rate like '5000/s'", what);
	const char *t = n->text;
	char *end;
	errno = 0;
	double v = strtod(t, &end);
	double per = 1;
	if (end == t || errno || !isfinite(v) || v < 0 || isspace((unsigned char)t[0]))
		goto bad;
	if (*end == '/') {
		const char *u = end + 1;
		if (!strcmp(u, "s"))
			per = 1;
		else if (!strcmp(u, "min") || !strcmp(u, "m"))
			per = 60;
		else if (!strcmp(u, "h"))
			per = 3600;
		else
			goto bad;
	} else if (*end) {
		goto bad;
	}
	*out = v / per;
	return 0;
bad:
	return fb_ynode_error(n, "%s must be a rate like '5000/s', '300/min' or '10/h', not '%s'", what, t);
}

static int parse_block(const struct fb_ynode *map, const char *proto, const char *const *protos,
                       json_t *out)
{
	const char *names[NKEYS + 4];
	size_t k = 0;
	for (size_t i = 0; i < NKEYS; i++)
		names[k++] = keys[i].name;
	if (!proto)
		for (size_t i = 0; all_protos[i]; i++)
			names[k++] = all_protos[i];
	names[k] = NULL;
	char context[64];
	snprintf(context, sizeof context, proto ? "'expect.%s'" : "'expect'", proto);
	if (fb_ynode_expect(map, FB_Y_MAP, context) < 0)
		return -1;
	if (fb_ynode_check_keys(map, context, names) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < map->n; i++) {
		const struct fb_ynode *kn = map->keys[i], *v = map->items[i];
		const char *name = kn->text;
		if (!proto && in_list(all_protos, name)) {
			if (protos && !in_list(protos, name)) {
				rc = fb_ynode_error(kn, "expectations for '%s' but no fleet of the scenario uses "
				                    "the '%s' transport", name, name);
				continue;
			}
			json_t *sub = json_object();
			if (parse_block(v, name, protos, sub) < 0)
				rc = -1;
			json_object_set_new(out, name, sub);
			continue;
		}
		const struct key *key = find_key(name);
		char what[96];
		snprintf(what, sizeof what, proto ? "'expect.%s.%s'" : "'expect.%s'", proto ? proto : name, name);
		if (proto && key->scope == S_GLOBAL) {
			rc = fb_ynode_error(kn, "'%s' applies to the whole run: put it directly under 'expect'", name);
			continue;
		}
		if (proto && key->scope == S_JOINS && strcmp(proto, "lorawan")) {
			rc = fb_ynode_error(kn, "'%s' applies to LoRaWAN joins: put it under 'expect' or "
			                    "'expect.lorawan'", name);
			continue;
		}
		double d = 0;
		int64_t i64 = 0;
		fb_time_us us = 0;
		switch (key->kind) {
		case K_FRACTION:
			if (parse_fraction(v, what, &d) < 0) { rc = -1; break; }
			json_object_set_new(out, name, json_real(d));
			break;
		case K_COUNT:
			if (fb_ynode_int(v, what, 0, INT64_MAX, &i64) < 0) { rc = -1; break; }
			json_object_set_new(out, name, json_integer((json_int_t)i64));
			break;
		case K_LATENCY:
			if (fb_ynode_duration(v, what, &us) < 0) { rc = -1; break; }
			json_object_set_new(out, name, json_integer((json_int_t)us));
			break;
		case K_LAG:
			if (fb_ynode_duration(v, what, &us) < 0) { rc = -1; break; }
			json_object_set_new(out, name, json_real((double)us / 1e6));
			break;
		case K_RATE:
			if (parse_rate(v, what, &d) < 0) { rc = -1; break; }
			json_object_set_new(out, name, json_real(d));
			break;
		}
	}
	return rc;
}

int fb_expect_parse_node(const struct fb_ynode *node, const char *const *protos, json_t **out)
{
	*out = NULL;
	if (!node)
		return 0;
	json_t *o = json_object();
	if (!o)
		return fb_error("out of memory");
	if (parse_block(node, NULL, protos, o) < 0) {
		json_decref(o);
		return -1;
	}
	*out = o;
	return 0;
}

int fb_expect_parse(const struct fb_scenario *sc, json_t **out)
{
	const char *protos[4];
	size_t n = 0;
	for (size_t i = 0; all_protos[i]; i++)
		for (size_t f = 0; f < sc->nfleets; f++)
			if (sc->fleets[f].transport && !strcmp(sc->fleets[f].transport, all_protos[i])) {
				protos[n++] = all_protos[i];
				break;
			}
	protos[n] = NULL;
	return fb_expect_parse_node(sc->expect, protos, out);
}

/* ---- evaluation ---------------------------------------------------------------------------- */

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : 0;
}

static void fmt_duration_us(double us, char *buf, size_t cap)
{
	if (us < 1000)
		snprintf(buf, cap, "%.0fus", us);
	else if (us < 1e6)
		snprintf(buf, cap, "%.3gms", us / 1e3);
	else
		snprintf(buf, cap, "%.4gs", us / 1e6);
}

static void fmt_value(enum kind kind, double v, char *buf, size_t cap)
{
	switch (kind) {
	case K_FRACTION: snprintf(buf, cap, "%.4g%%", v * 100); break;
	case K_COUNT: snprintf(buf, cap, "%.0f", v); break;
	case K_LATENCY: fmt_duration_us(v, buf, cap); break;
	case K_LAG: fmt_duration_us(v * 1e6, buf, cap); break;
	case K_RATE: snprintf(buf, cap, "%.1f/s", v); break;
	}
}

static const char *unit_of(enum kind kind)
{
	switch (kind) {
	case K_FRACTION: return "fraction";
	case K_COUNT: return "count";
	case K_LATENCY: return "us";
	case K_LAG: return "s";
	case K_RATE: return "msg/s";
	}
	return "";
}

/* One expectation: actual is NAN when it cannot be measured (reason says why). */
static json_t *evaluate_one(const json_t *report, const char *proto, const struct key *key, const json_t *limit_j)
{
	double limit = json_number_value(limit_j);
	const json_t *bench = json_object_get(report, "bench");
	const json_t *scope = proto ? json_object_get(json_object_get(bench, "protocols"), proto)
	                            : json_object_get(bench, "total");
	double actual = NAN;
	const char *what = key->name;
	char reason[160] = "", extra[96] = "";
	bool absent = false;             /* nothing of its subject in the report (reason says) */
	bool is_max = strstr(key->name, "_max") != NULL;
	const char *name = key->name;

	if (key->kind == K_LAG) {
		what = "lag";
		const json_t *lag = json_object_get(report, "lag");
		const json_t *series = json_object_get(json_object_get(report, "series"), "lag_s");
		if (json_is_object(lag)) {
			actual = num(lag, "max_s");
		} else if (json_is_array(series)) {
			actual = 0;
			size_t i;
			const json_t *x;
			json_array_foreach(series, i, x)
				if (json_number_value(x) > actual)
					actual = json_number_value(x);
		} else {
			actual = 0;
			snprintf(extra, sizeof extra, " (not paced)");
		}
	} else if (!strcmp(name, "join_success_min")) {
		what = "join success";
		const json_t *joins = json_object_get(bench, "joins");
		double req = num(joins, "requested"), acc = num(joins, "accepted");
		if (!json_is_object(joins) || req <= 0) {
			snprintf(reason, sizeof reason, "no join was requested");
			absent = true;
		}
		else {
			actual = acc / req;
			snprintf(extra, sizeof extra, " (%.0f of %.0f accepted)", acc, req);
		}
	} else if (!json_is_object(scope)) {
		if (!json_is_object(bench))
			snprintf(reason, sizeof reason, "no bench results in the report (no collector ran)");
		else {
			snprintf(reason, sizeof reason, "no '%s' traffic in the report", proto);
			absent = true;
		}
	} else if (key->kind == K_LATENCY) {
		static const char *const pname[] = { "p50", "p90", "p99", "p999" };
		what = !strcmp(name, "latency_p50_max") ? pname[0] : !strcmp(name, "latency_p90_max") ? pname[1]
		     : !strcmp(name, "latency_p99_max") ? pname[2] : pname[3];
		struct fb_hist *h = fb_hist_new();
		const json_t *hj = json_object_get(scope, "latency_us");
		if (!h)
			snprintf(reason, sizeof reason, "out of memory");
		else if (!json_is_object(hj) || fb_hist_from_json(hj, h) < 0 || fb_hist_count(h) == 0) {
			snprintf(reason, sizeof reason, "no message received: no latency measured");
			absent = true;
		}
		else
			actual = (double)fb_hist_quantile(h, key->quantile);
		fb_hist_free(h);
	} else if (!strcmp(name, "loss_max") || !strcmp(name, "lost_max")) {
		double lost = num(scope, "lost"), expected = num(scope, "expected");
		what = "lost";
		if (key->kind == K_FRACTION) {
			what = "loss";
			actual = expected > 0 ? lost / expected : 0;
			snprintf(extra, sizeof extra, " (%.0f of %.0f lost)", lost, expected);
		} else {
			actual = lost;
		}
	} else if (!strcmp(name, "rate_min")) {
		what = "rate";
		double wall = num(report, "wall_time_s"), received = num(scope, "received");
		if (wall <= 0)
			snprintf(reason, sizeof reason, "the report has no wall time");
		else {
			actual = received / wall;
			snprintf(extra, sizeof extra, " (%.0f received in %.3gs)", received, wall);
		}
	} else if (!strcmp(name, "errors_max")) {
		what = "errors";
		double u = num(scope, "undecodable"), w = num(scope, "wrong_values"), x = num(scope, "unexpected"),
		       t = num(scope, "transport_errors");
		actual = u + w + x + t;
		if (actual > 0)
			snprintf(extra, sizeof extra, " (%.0f undecodable, %.0f wrong values, %.0f unexpected, "
			         "%.0f transport)", u, w, x, t);
	} else if (!strcmp(name, "duplicates_max")) {
		what = "duplicates";
		actual = num(scope, "duplicated");
	} else if (!strcmp(name, "out_of_order_max")) {
		what = "out of order";
		actual = num(scope, "out_of_order");
	} else if (!strcmp(name, "wrong_values_max")) {
		what = "wrong values";
		actual = num(scope, "wrong_values");
	}

	bool ok;
	char msg[400], a[48], l[48];
	fmt_value(key->kind, limit, l, sizeof l);
	char full[80];
	snprintf(full, sizeof full, "%s%s%s", proto ? proto : "", proto ? " " : "", what);
	/* One shard of several that has none of what an expectation is about (its segment holds no
	 * LoRaWAN device, say) cannot judge it: the merged report does (`report merge`). */
	const json_t *shard = json_object_get(report, "shard");
	bool partial = json_integer_value(json_object_get(shard, "count")) > 1 &&
	               !json_object_get(report, "shards");
	bool skipped = isnan(actual) && absent && partial;
	if (skipped) {
		ok = true;
		snprintf(msg, sizeof msg, "%s: %s in shard %lld/%lld, judged on the merged report (limit %s)",
		         full, reason, (long long)json_integer_value(json_object_get(shard, "index")),
		         (long long)json_integer_value(json_object_get(shard, "count")), l);
	} else if (isnan(actual)) {
		ok = false;
		snprintf(msg, sizeof msg, "%s: %s (limit %s)", full, reason, l);
	} else {
		ok = is_max ? actual <= limit : actual >= limit;
		fmt_value(key->kind, actual, a, sizeof a);
		snprintf(msg, sizeof msg, "%s %s %s %s%s", full, a,
		         ok ? (is_max ? "<=" : ">=") : (is_max ? ">" : "<"), l, extra);
	}
	char full_name[64];
	snprintf(full_name, sizeof full_name, "%s%s%s", proto ? proto : "", proto ? "." : "", name);
	json_t *e = json_object();
	json_object_set_new(e, "name", json_string(full_name));
	json_object_set_new(e, "limit", json_deep_copy(limit_j));
	if (isnan(actual))
		json_object_set_new(e, "actual", json_null());
	else if (key->kind == K_COUNT || key->kind == K_LATENCY)
		json_object_set_new(e, "actual", json_integer((json_int_t)actual));
	else
		json_object_set_new(e, "actual", json_real(actual));
	json_object_set_new(e, "unit", json_string(unit_of(key->kind)));
	json_object_set_new(e, "ok", json_boolean(ok));
	if (skipped)
		json_object_set_new(e, "skipped", json_true());
	json_object_set_new(e, "message", json_string(msg));
	return e;
}

static void evaluate_block(const json_t *report, const json_t *block, const char *proto, json_t *out)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)block, k, v) {
		if (!proto && json_is_object(v)) {
			evaluate_block(report, v, k, out);
			continue;
		}
		const struct key *key = find_key(k);
		if (!key || !json_is_number(v)) {
			char name[64], msg[128];
			snprintf(name, sizeof name, "%s%s%s", proto ? proto : "", proto ? "." : "", k);
			snprintf(msg, sizeof msg, "unknown expectation '%s' in the report", name);
			json_array_append_new(out, json_pack("{s:s, s:n, s:n, s:s, s:b, s:s}", "name", name, "limit",
			                                     "actual", "unit", "", "ok", 0, "message", msg));
			continue;
		}
		json_array_append_new(out, evaluate_one(report, proto, key, v));
	}
}

json_t *fb_expect_evaluate(const json_t *report)
{
	json_t *out = json_array();
	const json_t *expect = json_object_get(report, "expect");
	if (out && json_is_object(expect))
		evaluate_block(report, expect, NULL, out);
	return out;
}

size_t fb_expect_failed(const json_t *expectations)
{
	size_t n = 0, i;
	const json_t *e;
	json_array_foreach(expectations, i, e)
		if (!json_is_true(json_object_get(e, "ok")))
			n++;
	return n;
}

void fb_expect_print_failures(const json_t *expectations, FILE *out)
{
	size_t i;
	const json_t *e;
	json_array_foreach(expectations, i, e)
		if (!json_is_true(json_object_get(e, "ok")))
			fprintf(out, "fleetbench: expectation '%s' not met: %s\n",
			        json_string_value(json_object_get(e, "name")),
			        json_string_value(json_object_get(e, "message")));
}

size_t fb_expect_apply(json_t *report)
{
	json_t *ex = fb_expect_evaluate(report);
	if (!ex) {
		fb_error("out of memory evaluating the expectations");
		return 1;
	}
	size_t failed = fb_expect_failed(ex);
	fb_expect_print_failures(ex, stderr);
	if (json_object_get(report, "expect"))
		json_object_set(report, "expectations", ex);
	json_decref(ex);
	return failed;
}
