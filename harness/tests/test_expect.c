/* Expectations: the expect: block as a user writes it (values, units, located errors with
 * suggestions) and its verdict on reports (limits inclusive, per protocol and global, nothing
 * measured = not met). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <cmocka.h>
#include "harness/expect.h"
#include "harness/report.h"
#include "sim/hist.h"
#include "sim/tests/capture.h"

static json_t *parse_ok(const char *yaml, const char *const *protos)
{
	struct fb_ynode *root = fb_ynode_load_string(yaml, "s.yaml");
	assert_non_null(root);
	json_t *out = NULL;
	struct capture c;
	capture_begin(&c);
	int rc = fb_expect_parse_node(fb_ynode_get(root, "expect"), protos, &out);
	const char *err = capture_end(&c);
	if (rc != 0)
		fail_msg("parse failed: %s", err);
	fb_ynode_free(root);
	return out;
}

/* Parses, expects failure, returns the message (static buffer). */
static const char *parse_err(const char *yaml, const char *const *protos)
{
	static char msg[16384];
	struct fb_ynode *root = fb_ynode_load_string(yaml, "s.yaml");
	assert_non_null(root);
	json_t *out = (json_t *)1;
	struct capture c;
	capture_begin(&c);
	int rc = fb_expect_parse_node(fb_ynode_get(root, "expect"), protos, &out);
	snprintf(msg, sizeof msg, "%s", capture_end(&c));
	assert_int_equal(rc, -1);
	assert_null(out);
	fb_ynode_free(root);
	return msg;
}

static void assert_contains(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("'%s' not in '%s'", want, text);
}

static void test_parse_values_and_units(void **state)
{
	json_t *e = parse_ok("expect:\n"
	                     "  loss_max: 0.5%\n"
	                     "  lost_max: 10\n"
	                     "  latency_p999_max: 2s\n"
	                     "  lag_max: 1500ms\n"
	                     "  errors_max: 0\n"
	                     "  join_success_min: 0.99\n"
	                     "  mqtt:\n"
	                     "    latency_p99_max: 250ms\n"
	                     "    rate_min: 5000/s\n"
	                     "    duplicates_max: 0\n"
	                     "  lorawan: {rate_min: 600/min, join_success_min: 100%, out_of_order_max: 3}\n", NULL);
	assert_non_null(e);
	assert_true(fabs(json_real_value(json_object_get(e, "loss_max")) - 0.005) < 1e-12);
	assert_int_equal(json_integer_value(json_object_get(e, "lost_max")), 10);
	assert_int_equal(json_integer_value(json_object_get(e, "latency_p999_max")), 2000000);
	assert_true(json_real_value(json_object_get(e, "lag_max")) == 1.5);
	assert_true(json_real_value(json_object_get(e, "join_success_min")) == 0.99);
	json_t *m = json_object_get(e, "mqtt");
	assert_int_equal(json_integer_value(json_object_get(m, "latency_p99_max")), 250000);
	assert_true(json_real_value(json_object_get(m, "rate_min")) == 5000);
	json_t *l = json_object_get(e, "lorawan");
	assert_true(json_real_value(json_object_get(l, "rate_min")) == 10);
	assert_true(json_real_value(json_object_get(l, "join_success_min")) == 1.0);
	json_decref(e);
	/* no expect: block at all */
	json_t *none = parse_ok("name: x\n", NULL);
	assert_null(none);
}

static void test_parse_errors_are_located(void **state)
{
	static const char *const mqtt_only[] = { "mqtt", NULL };
	assert_contains(parse_err("expect:\n  los_max: 0\n", NULL),
	                "s.yaml:2:3: error: unknown key 'los_max' in 'expect' (did you mean 'loss_max'?)");
	assert_contains(parse_err("expect:\n  mqtt:\n    latency_p99: 250ms\n", NULL),
	                "s.yaml:3:5: error: unknown key 'latency_p99' in 'expect.mqtt' (did you mean 'latency_p99_max'?)");
	assert_contains(parse_err("expect:\n  mqttt: {loss_max: 0}\n", NULL), "did you mean 'mqtt'?");
	assert_contains(parse_err("expect:\n  loss_max: 5\n", NULL), "s.yaml:2:13: error: 'expect.loss_max' must be between 0 and 1");
	assert_contains(parse_err("expect:\n  loss_max: lots\n", NULL), "a percentage like '0.5%'");
	assert_contains(parse_err("expect:\n  latency_p99_max: fast\n", NULL), "s.yaml:2:20: error: 'expect.latency_p99_max' must be a duration");
	assert_contains(parse_err("expect:\n  rate_min: 5000/day\n", NULL), "must be a rate like '5000/s'");
	assert_contains(parse_err("expect:\n  lost_max: -1\n", NULL), "must be at least 0");
	assert_contains(parse_err("expect:\n  mqtt: {lag_max: 1s}\n", NULL), "'lag_max' applies to the whole run");
	assert_contains(parse_err("expect:\n  mqtt: {join_success_min: 0.9}\n", NULL), "applies to LoRaWAN joins");
	assert_contains(parse_err("expect:\n  modbus: {loss_max: 0}\n", mqtt_only),
	                "s.yaml:2:3: error: expectations for 'modbus' but no fleet of the scenario uses the 'modbus' transport");
	assert_contains(parse_err("expect: [loss_max]\n", NULL), "'expect'");
}

/* A report with one protocol: counts, latency values, wall time. */
static json_t *report_with(const char *proto, uint64_t expected, uint64_t lost, const uint64_t *lat, size_t nlat,
                           double wall_s)
{
	struct fb_hist *h = fb_hist_new();
	for (size_t i = 0; i < nlat; i++)
		fb_hist_record(h, lat[i]);
	struct fb_recon_counts c = { .expected = expected, .received = expected - lost, .lost = lost };
	json_t *p = fb_report_counts_json(&c);
	json_object_set_new(p, "latency_us", fb_hist_to_json(h));
	json_t *t = json_deep_copy(p);
	json_t *r = json_pack("{s:f, s:{s:{s:o}, s:o}}", "wall_time_s", wall_s, "bench", "protocols", proto, p, "total", t);
	fb_hist_free(h);
	return r;
}

static const json_t *find(const json_t *ex, const char *name)
{
	size_t i;
	const json_t *e;
	json_array_foreach(ex, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")), name))
			return e;
	fail_msg("no expectation '%s'", name);
	return NULL;
}

static bool ok_of(const json_t *ex, const char *name)
{
	return json_is_true(json_object_get(find(ex, name), "ok"));
}

static void test_evaluate_limits_inclusive(void **state)
{
	uint64_t lat[1000];
	for (int i = 0; i < 1000; i++)
		lat[i] = 1000 + (uint64_t)i * 1000;   /* 1 ms .. 1000 ms: p99 = 990 ms, p50 = 500 ms */
	json_t *r = report_with("mqtt", 1000, 5, lat, 1000, 10.0);
	json_object_set_new(r, "expect", parse_ok("expect:\n"
	                                         "  loss_max: 0.5%\n"        /* exactly at the limit: ok */
	                                         "  lost_max: 4\n"           /* 5 > 4: not met */
	                                         "  mqtt:\n"
	                                         "    latency_p99_max: 991ms\n"  /* 990 ms + the 0.1 % bucket */
	                                         "    latency_p50_max: 499ms\n"
	                                         "    rate_min: 99.5/s\n"    /* 995 received in 10 s */
	                                         "    errors_max: 0\n", NULL));
	json_t *ex = fb_expect_evaluate(r);
	assert_int_equal(json_array_size(ex), 6);
	assert_true(ok_of(ex, "loss_max"));
	assert_false(ok_of(ex, "lost_max"));
	assert_true(ok_of(ex, "mqtt.latency_p99_max"));
	assert_false(ok_of(ex, "mqtt.latency_p50_max"));
	assert_true(ok_of(ex, "mqtt.rate_min"));
	assert_true(ok_of(ex, "mqtt.errors_max"));
	const json_t *p50 = find(ex, "mqtt.latency_p50_max");
	/* the highest value of the bucket holding the true 500 ms: at most 0.1 % above it */
	json_int_t p50_us = json_integer_value(json_object_get(p50, "actual"));
	assert_true(p50_us >= 500000 && p50_us <= 500500);
	assert_int_equal(json_integer_value(json_object_get(p50, "limit")), 499000);
	assert_string_equal(json_string_value(json_object_get(p50, "unit")), "us");
	assert_string_equal(json_string_value(json_object_get(p50, "message")), "mqtt p50 500ms > 499ms");
	assert_string_equal(json_string_value(json_object_get(find(ex, "lost_max"), "message")), "lost 5 > 4");
	assert_true(json_real_value(json_object_get(find(ex, "mqtt.rate_min"), "actual")) == 99.5);
	assert_int_equal(fb_expect_failed(ex), 2);
	/* the failures as the user sees them */
	struct capture c;
	capture_begin(&c);
	fb_expect_print_failures(ex, stderr);
	const char *out = capture_end(&c);
	assert_string_equal(out, "fleetbench: expectation 'lost_max' not met: lost 5 > 4\n"
	                         "fleetbench: expectation 'mqtt.latency_p50_max' not met: mqtt p50 500ms > 499ms\n");
	json_decref(ex);
	/* apply stores the array in the report and returns the number not met */
	capture_begin(&c);
	assert_int_equal(fb_expect_apply(r), 2);
	capture_end(&c);
	assert_int_equal(json_array_size(json_object_get(r, "expectations")), 6);
	json_decref(r);
}

static void test_evaluate_errors_joins_lag(void **state)
{
	uint64_t lat[] = { 100 };
	json_t *r = report_with("lorawan", 100, 0, lat, 1, 1.0);
	json_t *p = json_object_get(json_object_get(json_object_get(r, "bench"), "protocols"), "lorawan");
	json_object_set_new(p, "undecodable", json_integer(1));
	json_object_set_new(p, "transport_errors", json_integer(2));
	json_object_set_new(p, "duplicated", json_integer(3));
	json_object_set_new(json_object_get(r, "bench"), "joins", json_pack("{s:i, s:i}", "requested", 200, "accepted", 197));
	json_object_set_new(r, "lag", json_pack("{s:f, s:f, s:i}", "max_s", 0.75, "mean_s", 0.1, "late_events", 3));
	json_object_set_new(r, "expect", parse_ok("expect:\n"
	                                         "  lag_max: 500ms\n"
	                                         "  join_success_min: 0.98\n"
	                                         "  lorawan: {errors_max: 3, duplicates_max: 3, join_success_min: 0.99}\n", NULL));
	json_t *ex = fb_expect_evaluate(r);
	assert_false(ok_of(ex, "lag_max"));
	assert_true(json_real_value(json_object_get(find(ex, "lag_max"), "actual")) == 0.75);
	assert_true(ok_of(ex, "join_success_min"));
	assert_false(ok_of(ex, "lorawan.join_success_min"));
	assert_string_equal(json_string_value(json_object_get(find(ex, "lorawan.join_success_min"), "message")),
	                    "lorawan join success 98.5% < 99% (197 of 200 accepted)");
	assert_true(ok_of(ex, "lorawan.errors_max"));          /* 1 undecodable + 2 transport = 3 */
	assert_int_equal(json_integer_value(json_object_get(find(ex, "lorawan.errors_max"), "actual")), 3);
	assert_true(ok_of(ex, "lorawan.duplicates_max"));
	json_decref(ex);
	json_decref(r);
}

/* Nothing measured is not a pass: a protocol without traffic, no message for a latency. */
static void test_evaluate_nothing_measured_fails(void **state)
{
	json_t *r = report_with("mqtt", 100, 100, NULL, 0, 1.0);
	json_object_set_new(r, "expect", parse_ok("expect:\n"
	                                         "  join_success_min: 0.9\n"
	                                         "  mqtt: {latency_p99_max: 1s}\n"
	                                         "  modbus: {loss_max: 0}\n", NULL));
	json_t *ex = fb_expect_evaluate(r);
	assert_int_equal(fb_expect_failed(ex), 3);
	assert_true(json_is_null(json_object_get(find(ex, "mqtt.latency_p99_max"), "actual")));
	assert_contains(json_string_value(json_object_get(find(ex, "mqtt.latency_p99_max"), "message")), "no message received");
	assert_contains(json_string_value(json_object_get(find(ex, "modbus.loss_max"), "message")), "no 'modbus' traffic");
	assert_contains(json_string_value(json_object_get(find(ex, "join_success_min"), "message")), "no join was requested");
	json_decref(ex);
	/* a report without any bench results */
	json_t *bare = json_pack("{s:f}", "wall_time_s", 1.0);
	json_object_set_new(bare, "expect", parse_ok("expect: {loss_max: 0}\n", NULL));
	ex = fb_expect_evaluate(bare);
	assert_false(ok_of(ex, "loss_max"));
	assert_contains(json_string_value(json_object_get(find(ex, "loss_max"), "message")), "no bench results");
	json_decref(ex);
	json_decref(bare);
	json_decref(r);
	/* no expect: no expectations */
	json_t *plain = json_object();
	ex = fb_expect_evaluate(plain);
	assert_int_equal(json_array_size(ex), 0);
	json_decref(ex);
	json_decref(plain);
}

/* One shard of several with nothing of an expectation's subject (no LoRaWAN device in its
 * segment, say) leaves it to the merged report: passed as skipped, a JUnit <skipped/>. The same
 * absence in a single run, or in a merged report, still fails; a measured miss in a shard fails. */
static void test_shard_without_subject_is_skipped(void **state)
{
	const char *yaml = "expect:\n  join_success_min: 0.9\n  mqtt: {latency_p99_max: 1s, loss_max: 0}\n"
	                   "  modbus: {loss_max: 0}\n";
	json_t *r = report_with("mqtt", 100, 99, NULL, 0, 1.0);     /* mqtt traffic, no latency */
	json_object_set_new(r, "expect", parse_ok(yaml, NULL));
	json_object_set_new(r, "shard", json_pack("{s:i, s:i}", "index", 2, "count", 4));
	json_t *ex = fb_expect_evaluate(r);
	assert_int_equal(fb_expect_failed(ex), 1);                  /* mqtt.loss_max: 1 lost, measured */
	assert_false(ok_of(ex, "mqtt.loss_max"));
	static const char *const skipped[] = { "join_success_min", "mqtt.latency_p99_max", "modbus.loss_max" };
	for (size_t i = 0; i < 3; i++) {
		const json_t *e = find(ex, skipped[i]);
		assert_true(ok_of(ex, skipped[i]));
		assert_true(json_is_true(json_object_get(e, "skipped")));
		assert_contains(json_string_value(json_object_get(e, "message")), "in shard 2/4, judged on the merged report");
	}
	json_object_set_new(r, "expectations", ex);
	char *xml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&xml, &len);
	assert_int_equal(fb_report_junit(r, f), 0);
	fclose(f);
	assert_contains(xml, "skipped=\"3\"");
	assert_contains(xml, "<skipped message=\"join success: no join was requested in shard 2/4");
	assert_contains(xml, "failures=\"1\"");
	free(xml);
	/* the whole run (one shard), and a merged report: absence fails */
	json_object_set_new(r, "shard", json_pack("{s:i, s:i}", "index", 0, "count", 1));
	ex = fb_expect_evaluate(r);
	assert_int_equal(fb_expect_failed(ex), 4);
	json_decref(ex);
	json_object_set_new(r, "shard", json_pack("{s:i, s:i}", "index", 0, "count", 4));
	json_object_set_new(r, "shards", json_array());
	ex = fb_expect_evaluate(r);
	assert_int_equal(fb_expect_failed(ex), 4);
	json_decref(ex);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_values_and_units),
		cmocka_unit_test(test_parse_errors_are_located),
		cmocka_unit_test(test_evaluate_limits_inclusive),
		cmocka_unit_test(test_evaluate_errors_joins_lag),
		cmocka_unit_test(test_evaluate_nothing_measured_fails),
		cmocka_unit_test(test_shard_without_subject_is_skipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
