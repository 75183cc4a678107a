/* Reports: histogram JSON round trip, the per-second series, the shard merge (exact: counts
 * summed, histograms bucket for bucket, series on absolute seconds, signals united, the verdict
 * re-evaluated on the totals), refused merges, JUnit, and the signals recorder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness/expect.h"
#include "harness/report.h"
#include "harness/signals.h"
#include "sim/hist.h"
#include "sim/tests/capture.h"

static uint64_t rng_state = 12345;

static uint64_t next_u64(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t random_latency(void)
{
	return (uint64_t)exp2((double)(next_u64() >> 11) / 9007199254740992.0 * 24.0);
}

static void assert_hist_equal(const struct fb_hist *a, const struct fb_hist *b)
{
	assert_int_equal(fb_hist_count(a), fb_hist_count(b));
	assert_int_equal(fb_hist_min(a), fb_hist_min(b));
	assert_int_equal(fb_hist_max(a), fb_hist_max(b));
	assert_int_equal(fb_hist_saturated(a), fb_hist_saturated(b));
	for (size_t i = 0; i < fb_hist_nbuckets(); i++)
		if (fb_hist_bucket_count(a, i) != fb_hist_bucket_count(b, i))
			fail_msg("bucket %zu differs", i);
}

static void test_hist_json_round_trip(void **state)
{
	struct fb_hist *h = fb_hist_new(), *back = fb_hist_new();
	for (int i = 0; i < 5000; i++)
		fb_hist_record(h, random_latency());
	fb_hist_record(h, (uint64_t)1 << 41);
	json_t *j = fb_hist_to_json(h);
	assert_int_equal(json_integer_value(json_object_get(j, "count")), 5001);
	assert_int_equal(json_integer_value(json_object_get(j, "saturated")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "p99")), fb_hist_quantile(h, 0.99));
	/* through text, as a report file carries it */
	char *text = json_dumps(j, 0);
	json_t *parsed = json_loads(text, 0, NULL);
	assert_int_equal(fb_hist_from_json(parsed, back), 0);
	assert_hist_equal(h, back);
	free(text);
	json_decref(parsed);

	struct capture c;
	json_t *bad = json_pack("{s:i, s:[[i, i]]}", "count", 1, "buckets", 999999, 1);
	capture_begin(&c);
	assert_int_equal(fb_hist_from_json(bad, back), -1);
	assert_non_null(strstr(capture_end(&c), "out of range"));
	json_decref(bad);
	bad = json_pack("{s:i, s:[[i, i]]}", "count", 2, "buckets", 10, 1);
	capture_begin(&c);
	assert_int_equal(fb_hist_from_json(bad, back), -1);
	assert_non_null(strstr(capture_end(&c), "does not match"));
	json_decref(bad);
	json_decref(j);
	fb_hist_free(h);
	fb_hist_free(back);
}

static void test_series_ticks(void **state)
{
	fb_time_us t0 = 1780000000123456;     /* not on a whole second */
	struct fb_series *s = fb_series_new(t0);
	fb_series_tick(s, t0 + 500000, 10, 8, 0, 0.1);        /* second 0 (t0 rounds down) */
	fb_series_tick(s, t0 + 800000, 15, 12, 1, 0.3);       /* still second 0: adds, lag max */
	fb_series_tick(s, t0 + 1900000, 25, 20, 1, 0.2);      /* second 2 */
	fb_series_tick(s, t0 + 4100000, 25, 24, 1, 0);        /* second 4; second 3 stays empty */
	json_t *j = fb_series_report(s);
	assert_string_equal(json_string_value(json_object_get(j, "t0")), "2026-05-28T20:26:40.000Z");
	assert_int_equal(json_integer_value(json_object_get(j, "step_s")), 1);
	const json_t *sent = json_object_get(j, "sent"), *recv = json_object_get(j, "received"),
	             *err = json_object_get(j, "errors"), *lag = json_object_get(j, "lag_s");
	assert_int_equal(json_array_size(sent), 5);
	static const int want_sent[] = { 15, 0, 10, 0, 0 }, want_recv[] = { 12, 0, 8, 0, 4 }, want_err[] = { 1, 0, 0, 0, 0 };
	for (int i = 0; i < 5; i++) {
		assert_int_equal(json_integer_value(json_array_get(sent, i)), want_sent[i]);
		assert_int_equal(json_integer_value(json_array_get(recv, i)), want_recv[i]);
		assert_int_equal(json_integer_value(json_array_get(err, i)), want_err[i]);
	}
	assert_true(json_real_value(json_array_get(lag, 0)) == 0.3);
	assert_true(json_real_value(json_array_get(lag, 2)) == 0.2);
	json_decref(j);
	/* a long run: the series grows past its first allocation */
	for (int i = 5; i < 1000; i++)
		fb_series_tick(s, t0 + (fb_time_us)i * 1000000, 25 + (uint64_t)i, 24, 1, 0);
	j = fb_series_report(s);
	assert_int_equal(json_array_size(json_object_get(j, "sent")), 1000);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "sent"), 999)), 1);
	json_decref(j);
	fb_series_free(s);
}

/* ---- synthetic shard reports ---------------------------------------------------------------- */

struct shard_truth {
	struct fb_hist *mqtt, *lora, *all;
	uint64_t expected, lost;
};

static json_t *counts(uint64_t expected, uint64_t lost, uint64_t dup)
{
	struct fb_recon_counts c = { .expected = expected, .received = expected - lost + dup, .lost = lost,
	                             .duplicated = dup };
	return fb_report_counts_json(&c);
}

/* Shard i of 3: mqtt and lorawan traffic with random latencies, a series starting i seconds
 * after shard 0, two signal devices. Latencies are also recorded into the truth. */
static json_t *make_shard(int i, uint64_t lost_mqtt, struct shard_truth *tr)
{
	struct fb_hist *hm = fb_hist_new(), *hl = fb_hist_new(), *ht = fb_hist_new();
	uint64_t nm = 1000 + (uint64_t)i * 100, nl = 300;
	for (uint64_t k = 0; k < nm - lost_mqtt; k++) {
		uint64_t v = random_latency() * (uint64_t)(i + 1);
		fb_hist_record(hm, v);
		fb_hist_record(tr->mqtt, v);
		fb_hist_record(tr->all, v);
	}
	for (uint64_t k = 0; k < nl; k++) {
		uint64_t v = random_latency() + 5000;
		fb_hist_record(hl, v);
		fb_hist_record(tr->lora, v);
		fb_hist_record(tr->all, v);
	}
	fb_hist_merge(ht, hm);
	fb_hist_merge(ht, hl);
	tr->expected += nm + nl;
	tr->lost += lost_mqtt;

	json_t *mq = counts(nm, lost_mqtt, 0);
	json_object_set_new(mq, "latency_us", fb_hist_to_json(hm));
	json_object_set_new(mq, "by_type", json_pack("{s:o, s:o}", "noise", counts(nm / 2, lost_mqtt, 0), "waste",
	                                             counts(nm - nm / 2, 0, 0)));
	json_object_set_new(mq, "by_site", json_pack("{s:o}", "vieux-port", counts(nm, lost_mqtt, 0)));
	json_t *lo = counts(nl, 0, (uint64_t)i);
	json_object_set_new(lo, "latency_us", fb_hist_to_json(hl));
	json_t *tot = counts(nm + nl, lost_mqtt, (uint64_t)i);
	json_object_set_new(tot, "latency_us", fb_hist_to_json(ht));
	char t0[48], d0[48], d1[48];
	snprintf(t0, sizeof t0, "2026-06-01T10:00:0%d.000Z", i);
	snprintf(d0, sizeof d0, "noise-%06d", 10 * i);
	snprintf(d1, sizeof d1, "noise-%06d", 10 * i + 1);
	json_t *r = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:i, s:i, s:i, s:i}, s:s, s:s, s:s, s:f, s:s,"
	                      " s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:{s:i, s:i}, s:{s:f, s:f, s:i}, s:f,"
	                      " s:{s:{s:i, s:i}}, s:i}",
	                      "fleetbench", "0.1.0",
	                      "scenario", "name", "pilot", "path", "p.yaml", "timezone", "Europe/Paris",
	                      "shard", "index", i, "count", 3, "first_device", 10 * i, "devices", 10,
	                      "seed", "42", "start", "2026-06-01T10:00:00.000Z", "end", "2026-06-01T11:00:00.000Z",
	                      "duration_s", 3600.0, "speed", "max",
	                      "devices", 10, "samples", 1300 + 100 * i, "commands", 0,
	                      "wall_time_s", 4.0 + i, "startup_s", 0.1, "samples_per_s", 100.0, "peak_rss_mib", 10.0 + i,
	                      "samples_by_type", "noise", 600, "waste", 700 + 100 * i,
	                      "lag", "max_s", 0.1 * (i + 1), "mean_s", 0.01, "late_events", i,
	                      "waited_on_peers_s", 0.5,
	                      "transports", "mqtt", "pub_sent", 1000 + i, "connections_peak", 5 + i,
	                      "exit_code", 0);
	json_object_set_new(r, "bench", json_pack("{s:{s:o, s:o}, s:o, s:{s:i, s:i}}", "protocols", "mqtt", mq,
	                                          "lorawan", lo, "total", tot, "joins", "requested", 10, "accepted", 10 - i));
	json_object_set_new(r, "series", json_pack("{s:s, s:i, s:[i, i, i], s:[i, i, i], s:[i, i, i], s:[f, f, f]}",
	                                           "t0", t0, "step_s", 1, "sent", 10, 20, 30, "received", 1, 2, 3,
	                                           "errors", 0, 1, 0, "lag_s", 0.1 * i, 0.2, 0.0));
	json_object_set_new(r, "signals", json_pack("{s:{s:s, s:s, s:[s, s], s:[[[i, f]], [[i, f]]]}}", "noise",
	                                            "field", "LAeq", "unit", "dB(A)", "devices", d1, d0,
	                                            "points", 1780308000 + i, 60.0 + i, 1780308000, 50.0 + i));
	fb_hist_free(hm);
	fb_hist_free(hl);
	fb_hist_free(ht);
	return r;
}

static json_t *expect_block(void)
{
	/* shard 0 alone loses 3 % of its mqtt traffic: over all shards, under 1.5 % */
	return json_pack("{s:f, s:{s:i}}", "loss_max", 0.015, "mqtt", "latency_p99_max", 100000000);
}

static void test_merge_exact(void **state)
{
	struct shard_truth tr = { fb_hist_new(), fb_hist_new(), fb_hist_new(), 0, 0 };
	json_t *sh[3];
	for (int i = 0; i < 3; i++) {
		sh[i] = make_shard(i, i == 0 ? 30 : 0, &tr);
		json_object_set_new(sh[i], "expect", expect_block());
		struct capture c0;
		capture_begin(&c0);
		size_t failed = fb_expect_apply(sh[i]);
		capture_end(&c0);
		json_object_set_new(sh[i], "exit_code", json_integer(failed ? 3 : 0));
	}
	assert_int_equal(json_integer_value(json_object_get(sh[0], "exit_code")), 3);   /* shard 0 alone fails */
	const char *names[] = { "a.json", "b.json", "c.json" };
	json_t *m = fb_report_merge(sh, names, 3);
	assert_non_null(m);

	/* counts summed */
	const json_t *bench = json_object_get(m, "bench"), *total = json_object_get(bench, "total");
	assert_int_equal(json_integer_value(json_object_get(total, "expected")), tr.expected);
	assert_int_equal(json_integer_value(json_object_get(total, "lost")), tr.lost);
	assert_int_equal(json_integer_value(json_object_get(total, "duplicated")), 0 + 1 + 2);
	const json_t *mq = json_object_get(json_object_get(bench, "protocols"), "mqtt");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(mq, "by_type"), "noise"), "lost")), 30);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(mq, "by_site"), "vieux-port"), "expected")),
	                 1000 + 1100 + 1200);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(bench, "joins"), "accepted")), 10 + 9 + 8);

	/* histograms: bucket for bucket the histogram of every value */
	struct fb_hist *h = fb_hist_new();
	assert_int_equal(fb_hist_from_json(json_object_get(mq, "latency_us"), h), 0);
	assert_hist_equal(h, tr.mqtt);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(mq, "latency_us"), "p99")),
	                 fb_hist_quantile(tr.mqtt, 0.99));
	assert_int_equal(fb_hist_from_json(json_object_get(total, "latency_us"), h), 0);
	assert_hist_equal(h, tr.all);
	assert_int_equal(fb_hist_from_json(json_object_get(json_object_get(json_object_get(bench, "protocols"), "lorawan"),
	                                                   "latency_us"), h), 0);
	assert_hist_equal(h, tr.lora);

	/* top-level: sums, maxima, shards */
	assert_int_equal(json_integer_value(json_object_get(m, "devices")), 30);
	assert_int_equal(json_integer_value(json_object_get(m, "samples")), 1300 + 1400 + 1500);
	assert_true(json_number_value(json_object_get(m, "wall_time_s")) == 6.0);
	assert_true(json_number_value(json_object_get(m, "peak_rss_mib")) == 12.0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "samples_by_type"), "waste")), 700 + 800 + 900);
	const json_t *tp = json_object_get(json_object_get(m, "transports"), "mqtt");
	assert_int_equal(json_integer_value(json_object_get(tp, "pub_sent")), 3003);
	assert_int_equal(json_integer_value(json_object_get(tp, "connections_peak")), 7);
	assert_true(fabs(json_number_value(json_object_get(json_object_get(m, "lag"), "max_s")) - 0.3) < 1e-12);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "lag"), "late_events")), 3);
	const json_t *shard = json_object_get(m, "shard");
	assert_int_equal(json_integer_value(json_object_get(shard, "count")), 3);
	assert_true(json_is_true(json_object_get(shard, "complete")));
	assert_int_equal(json_array_size(json_object_get(shard, "merged")), 3);
	assert_int_equal(json_integer_value(json_object_get(shard, "devices")), 30);
	const json_t *shards = json_object_get(m, "shards");
	assert_int_equal(json_array_size(shards), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(shards, 1), "file")), "b.json");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(shards, 0), "exit_code")), 3);

	/* series on absolute seconds: shard i starts i s after shard 0 */
	const json_t *s = json_object_get(m, "series");
	assert_string_equal(json_string_value(json_object_get(s, "t0")), "2026-06-01T10:00:00.000Z");
	const json_t *sent = json_object_get(s, "sent");
	assert_int_equal(json_array_size(sent), 5);
	static const int want[] = { 10, 30, 60, 50, 30 };
	for (int i = 0; i < 5; i++)
		assert_int_equal(json_integer_value(json_array_get(sent, i)), want[i]);
	assert_true(json_real_value(json_array_get(json_object_get(s, "lag_s"), 2)) == 0.2);

	/* signals united, sorted by device */
	const json_t *sg = json_object_get(json_object_get(m, "signals"), "noise");
	const json_t *devs = json_object_get(sg, "devices");
	assert_int_equal(json_array_size(devs), 6);
	assert_string_equal(json_string_value(json_array_get(devs, 0)), "noise-000000");
	assert_string_equal(json_string_value(json_array_get(devs, 5)), "noise-000021");
	/* each device keeps its own points: noise-000000 is shard 0's second device (50.0) */
	assert_true(json_real_value(json_array_get(json_array_get(json_array_get(json_object_get(sg, "points"), 0), 0), 1)) == 50.0);

	/* the verdict on the totals: 30 lost of 4800 < 1.5 %, although shard 0 failed alone */
	const json_t *ex = json_object_get(m, "expectations");
	assert_int_equal(json_array_size(ex), 2);
	assert_int_equal(fb_expect_failed(ex), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "exit_code")), 0);

	/* order does not matter, and merging a merged report with the rest is the same merge */
	json_t *rev[3] = { sh[2], sh[0], sh[1] };
	const char *rnames[] = { "c.json", "a.json", "b.json" };
	json_t *m2 = fb_report_merge(rev, rnames, 3);
	assert_true(json_equal(json_object_get(m2, "bench"), json_object_get(m, "bench")));
	assert_true(json_equal(json_object_get(m2, "series"), json_object_get(m, "series")));
	assert_true(json_equal(json_object_get(m2, "signals"), json_object_get(m, "signals")));
	struct capture c;
	capture_begin(&c);
	json_t *part = fb_report_merge(sh, names, 2);        /* 2 of 3: warned, not complete */
	const char *warn = capture_end(&c);
	assert_non_null(strstr(warn, "merging 2 of 3 shards"));
	assert_false(json_is_true(json_object_get(json_object_get(part, "shard"), "complete")));
	json_t *two[2] = { part, sh[2] };
	const char *pnames[] = { "ab.json", "c.json" };
	json_t *m3 = fb_report_merge(two, pnames, 2);
	assert_non_null(m3);
	assert_true(json_equal(json_object_get(m3, "bench"), json_object_get(m, "bench")));
	assert_true(json_equal(json_object_get(m3, "series"), json_object_get(m, "series")));
	assert_true(json_is_true(json_object_get(json_object_get(m3, "shard"), "complete")));

	json_decref(m);
	json_decref(m2);
	json_decref(m3);
	json_decref(part);
	for (int i = 0; i < 3; i++)
		json_decref(sh[i]);
	fb_hist_free(h);
	fb_hist_free(tr.mqtt);
	fb_hist_free(tr.lora);
	fb_hist_free(tr.all);
}

static const char *merge_error(json_t *a, json_t *b)
{
	static char msg[16384];
	json_t *two[2] = { a, b };
	const char *names[] = { "a.json", "b.json" };
	struct capture c;
	capture_begin(&c);
	json_t *m = fb_report_merge(two, names, 2);
	snprintf(msg, sizeof msg, "%s", capture_end(&c));
	assert_null(m);
	return msg;
}

static void test_merge_refuses_mismatches(void **state)
{
	struct shard_truth tr = { fb_hist_new(), fb_hist_new(), fb_hist_new(), 0, 0 };
	json_t *a = make_shard(0, 0, &tr), *b = make_shard(1, 0, &tr);
	json_object_set_new(b, "seed", json_string("43"));
	assert_non_null(strstr(merge_error(a, b), "'b.json' ran with seed '43' but 'a.json' with seed '42'"));
	json_object_set_new(b, "seed", json_string("42"));
	json_object_set_new(json_object_get(b, "scenario"), "name", json_string("other"));
	assert_non_null(strstr(merge_error(a, b), "'b.json' is a report of scenario 'other' but 'a.json' is of 'pilot'"));
	json_object_set_new(json_object_get(b, "scenario"), "name", json_string("pilot"));
	json_object_set_new(json_object_get(b, "shard"), "index", json_integer(0));
	assert_non_null(strstr(merge_error(a, b), "shard 0/3 is given twice ('a.json' and 'b.json')"));
	json_object_set_new(json_object_get(b, "shard"), "index", json_integer(1));
	json_object_set_new(json_object_get(b, "shard"), "count", json_integer(4));
	assert_non_null(strstr(merge_error(a, b), "one of 4 shards"));
	json_object_set_new(json_object_get(b, "shard"), "count", json_integer(3));
	json_object_set_new(b, "expect", expect_block());
	assert_non_null(strstr(merge_error(a, b), "different 'expect' blocks"));
	json_object_del(b, "expect");
	json_t *junk = json_pack("{s:i}", "x", 1);
	assert_non_null(strstr(merge_error(a, junk), "'b.json' is not a fleetbench report"));
	json_decref(junk);
	/* and the pair merges once it is consistent */
	json_t *two[2] = { a, b };
	const char *names[] = { "a.json", "b.json" };
	struct capture c;
	capture_begin(&c);
	json_t *m = fb_report_merge(two, names, 2);
	capture_end(&c);
	assert_non_null(m);
	json_decref(m);
	json_decref(a);
	json_decref(b);
	fb_hist_free(tr.mqtt);
	fb_hist_free(tr.lora);
	fb_hist_free(tr.all);
}

static void test_junit_escapes_and_counts(void **state)
{
	json_t *r = json_pack("{s:{s:s}, s:f, s:[{s:s, s:i, s:i, s:s, s:b, s:s}, {s:s, s:i, s:n, s:s, s:b, s:s}]}",
	                      "scenario", "name", "a<b>&\"c\"", "wall_time_s", 1.5, "expectations",
	                      "name", "mqtt.lost_max", "limit", 0, "actual", 3, "unit", "count", "ok", 0,
	                      "message", "mqtt lost 3 > 0 <&>",
	                      "name", "loss_max", "limit", 0, "actual", "unit", "fraction", "ok", 1, "message", "loss 0% <= 0%");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(fb_report_junit(r, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "<testsuite name=\"a&lt;b&gt;&amp;&quot;c&quot;\" tests=\"2\" failures=\"1\""));
	assert_non_null(strstr(buf, "<testcase name=\"mqtt.lost_max\""));
	assert_non_null(strstr(buf, "<failure type=\"expectation\" message=\"mqtt lost 3 &gt; 0 &lt;&amp;&gt;\">limit: 0 count\nactual: 3 count</failure>"));
	/* one failure element, for the failed case only */
	assert_null(strstr(strstr(buf, "<failure") + 1, "<failure"));
	free(buf);
	json_decref(r);
}

/* ---- signals -------------------------------------------------------------------------------- */

static struct fb_scenario *load_scenario(const char *yaml, char *path)
{
	strcpy(path, "/tmp/fb_signals_XXXXXX.yaml");
	int fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	assert_non_null(sc);
	return sc;
}

static void test_signals(void **state)
{
	char path[64];
	struct fb_scenario *sc = load_scenario(
		"name: sig\nseed: 1\nstart: 2026-06-01T00:00:00Z\nduration: 7d\n"
		"sites: [{id: s, lat: 43.3, lon: 5.4}]\n"
		"fleets:\n"
		"  - {type: noise, count: 2, site: s, interval: 1m}\n"
		"  - {type: waste, count: 5, site: s, interval: 1h}\n"
		"  - {type: noise, count: 4, site: s, interval: 1m}\n", path);
	/* shard: devices 1..10 (noise-000001, waste 2..6, noise 7..10) */
	fb_time_us dur = 7 * FB_US_PER_DAY;
	struct fb_signals *sig = fb_signals_new(sc, 1, 10, dur);
	assert_non_null(sig);
	double values[FB_MAX_FIELDS] = { 0 };
	for (uint32_t dev = 0; dev < 11; dev++) {
		const struct fb_fleet *fl = fb_scenario_fleet_of(sc, dev);
		fb_time_us iv = fl->interval_us;
		for (fb_time_us t = sc->start; t < sc->start + dur; t += iv) {
			values[0] = (double)dev * 1000 + (double)((t - sc->start) / iv);   /* sample number */
			struct fb_sample s = { fl, fl->model, dev, 0, t, values };
			fb_signals_add(sig, &s);
		}
	}
	json_t *j = fb_signals_report(sig);
	const json_t *noise = json_object_get(j, "noise"), *waste = json_object_get(j, "waste");
	assert_string_equal(json_string_value(json_object_get(noise, "field")), "LAeq");
	assert_string_equal(json_string_value(json_object_get(noise, "unit")), "dB(A)");
	assert_string_equal(json_string_value(json_object_get(waste, "field")), "fillingLevel");
	/* the first 3 of this shard per type: noise-000001 from the first fleet, 7 and 8 from the third */
	const json_t *nd = json_object_get(noise, "devices");
	assert_int_equal(json_array_size(nd), 3);
	assert_string_equal(json_string_value(json_array_get(nd, 0)), "noise-000001");
	assert_string_equal(json_string_value(json_array_get(nd, 1)), "noise-000007");
	assert_string_equal(json_string_value(json_array_get(nd, 2)), "noise-000008");
	assert_string_equal(json_string_value(json_array_get(json_object_get(waste, "devices"), 0)), "waste-000002");
	/* a week of 1-minute samples (10080) kept every 7th: 1440 points, evenly spaced, from the start */
	const json_t *p = json_array_get(json_object_get(noise, "points"), 0);
	assert_int_equal(json_array_size(p), 1440);
	assert_true(json_array_size(p) <= FB_SIGNALS_POINTS);
	for (size_t i = 0; i < json_array_size(p); i++)
		assert_true(json_number_value(json_array_get(json_array_get(p, i), 1)) == 1000 + 7.0 * (double)i);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(p, 1), 0)), 1780272000 + 7 * 60);
	/* waste: 168 hourly samples, all kept */
	assert_int_equal(json_array_size(json_array_get(json_object_get(waste, "points"), 0)), 168);
	json_decref(j);
	fb_signals_free(sig);

	/* a device sending far more than its interval says: thinned, never above the cap */
	sig = fb_signals_new(sc, 0, 11, FB_US_PER_H);
	for (int k = 0; k < 100000; k++) {
		values[0] = k;
		struct fb_sample s = { &sc->fleets[0], sc->fleets[0].model, 0, 0, sc->start + k, values };
		fb_signals_add(sig, &s);
	}
	j = fb_signals_report(sig);
	p = json_array_get(json_object_get(json_object_get(j, "noise"), "points"), 0);
	assert_true(json_array_size(p) <= FB_SIGNALS_POINTS);
	assert_true(json_array_size(p) >= FB_SIGNALS_POINTS / 2);
	/* still evenly spaced from the first sample */
	double step = json_number_value(json_array_get(json_array_get(p, 1), 1));
	assert_true(step > 1);
	for (size_t i = 0; i < json_array_size(p); i++)
		assert_true(json_number_value(json_array_get(json_array_get(p, i), 1)) == step * (double)i);
	json_decref(j);
	fb_signals_free(sig);
	fb_scenario_free(sc);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_json_round_trip),
		cmocka_unit_test(test_series_ticks),
		cmocka_unit_test(test_merge_exact),
		cmocka_unit_test(test_merge_refuses_mismatches),
		cmocka_unit_test(test_junit_escapes_and_counts),
		cmocka_unit_test(test_signals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
