/* Payload faults and the run's fault counts (protocols/faults.h): each malformed mode breaks a
 * payload the way it promises (and only that way), deterministically; the report and summary
 * count by kind exactly what the engine marked, kinds of every rule included. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "protocols/faults.h"
#include "sim/engine.h"
#include "sim/fault.h"
#include "sim/scenario.h"

static const char sample_json[] =
	"{\"id\":\"noise-000001\",\"type\":\"NoiseLevelObserved\",\"seq\":12,"
	"\"ts\":\"2026-06-01T08:00:00.000Z\",\"LAeq\":61.5,\"LAmax\":70.1}";

static size_t load(uint8_t *buf)
{
	memcpy(buf, sample_json, sizeof sample_json - 1);
	return sizeof sample_json - 1;
}

static bool parses(const uint8_t *buf, size_t len)
{
	json_error_t e;
	json_t *j = json_loadb((const char *)buf, len, 0, &e);
	json_decref(j);
	return j != NULL;
}

static void test_truncated(void **state)
{
	for (uint64_t draw = 0; draw < 200; draw++) {
		uint8_t buf[256];
		size_t len = load(buf);
		size_t n = fb_fault_malform(FB_MALFORMED_TRUNCATED, fb_mix64(draw), buf, len, sizeof buf);
		assert_true(n >= 1 && n < len);
		assert_memory_equal(buf, sample_json, n);     /* a prefix of the message */
		assert_false(parses(buf, n));
	}
	uint8_t one[1] = { '{' };
	assert_int_equal(fb_fault_malform(FB_MALFORMED_TRUNCATED, 7, one, 1, 1), 0);
}

static void test_syntax(void **state)
{
	uint8_t buf[256];
	size_t len = load(buf);
	assert_true(parses(buf, len));
	size_t n = fb_fault_malform(FB_MALFORMED_SYNTAX, 1, buf, len, sizeof buf);
	assert_int_equal(n, len);
	assert_int_equal(buf[len - 1], ',');                 /* {..."LAmax":70.1, */
	assert_memory_equal(buf, sample_json, len - 1);
	assert_false(parses(buf, n));
	/* binary payloads: the first byte flipped */
	uint8_t bin[4] = { 0x01, 0x02, 0x03, 0x04 };
	assert_int_equal(fb_fault_malform(FB_MALFORMED_SYNTAX, 1, bin, 4, 4), 4);
	assert_int_equal(bin[0], 0xfe);
	assert_int_equal(bin[3], 0x04);
}

static void test_types(void **state)
{
	uint8_t buf[256];
	size_t len = load(buf);
	size_t n = fb_fault_malform(FB_MALFORMED_TYPES, 3, buf, len, sizeof buf);
	assert_int_equal(n, len - 2 + 6);                    /* 12 -> "oops" */
	json_error_t e;
	json_t *j = json_loadb((const char *)buf, n, 0, &e);
	assert_non_null(j);                                  /* valid JSON, wrong type */
	assert_true(json_is_string(json_object_get(j, "seq")));
	assert_string_equal(json_string_value(json_object_get(j, "seq")), "oops");
	assert_true(json_is_real(json_object_get(j, "LAeq")));
	json_decref(j);
	/* no room to grow: garbage instead, never past cap */
	len = load(buf);
	n = fb_fault_malform(FB_MALFORMED_TYPES, 3, buf, len, len);
	assert_int_equal(n, len);
	assert_false(parses(buf, n));
}

static void test_garbage_and_any(void **state)
{
	uint8_t a[256], b[256];
	size_t len = load(a);
	load(b);
	size_t n = fb_fault_malform(FB_MALFORMED_GARBAGE, 42, a, len, sizeof a);
	assert_int_equal(n, len);
	assert_true(a[0] != '{' && a[0] != '[');
	assert_int_equal(fb_fault_malform(FB_MALFORMED_GARBAGE, 42, b, len, sizeof b), len);
	assert_memory_equal(a, b, len);                      /* same draw, same bytes */
	load(b);
	fb_fault_malform(FB_MALFORMED_GARBAGE, 43, b, len, sizeof b);
	assert_memory_not_equal(a, b, len);
	/* any: every mode shows up over draws, each breaks the payload */
	bool seen_trunc = false, seen_syntax = false, seen_types = false, seen_garbage = false;
	for (uint64_t d = 0; d < 64; d++) {
		len = load(a);
		n = fb_fault_malform(FB_MALFORMED_ANY, fb_mix64(d + 1000), a, len, sizeof a);
		if (n < len)
			seen_trunc = true;
		else if (n > len)
			seen_types = true;
		else if (a[len - 1] == ',' && a[0] == '{')
			seen_syntax = true;
		else
			seen_garbage = true;
		json_error_t e;
		json_t *j = json_loadb((const char *)a, n, 0, &e);
		if (j) {                                         /* only 'types' parses: seq is a string */
			assert_true(n > len);
			assert_true(json_is_string(json_object_get(j, "seq")));
			json_decref(j);
		}
	}
	assert_true(seen_trunc && seen_syntax && seen_types && seen_garbage);
}

static void test_report_counts(void **state)
{
	char dir[] = "/tmp/fb_pfault_XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/x.yaml", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("name: f\nseed: 3\nstart: 2026-06-01T00:00:00Z\nduration: 2h\n"
	      "sites: [{id: port, lat: 43.29, lon: 5.37}]\n"
	      "fleets:\n  - {type: noise, count: 10, interval: 5m}\n"
	      "faults:\n  - {kind: spike, rate: 0.1}\n  - {kind: offline, devices: [noise-000002], from: 1h, for: 30m}\n"
	      "  - {kind: stuck, devices: [noise-000009], from: 5h}\n", fp);
	fclose(fp);
	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	assert_non_null(sc);
	struct fb_engine *e = fb_engine_new(sc, 0, 1, sc->start, sc->duration);
	assert_non_null(e);
	while (fb_engine_run(e, FB_TIME_NEVER, 100000) > 0)
		;
	json_t *r = fb_faults_report(e);
	const struct fb_faults *f = fb_engine_faults(e);
	assert_int_equal(json_object_size(r), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "spike")), fb_faults_count(f, FB_FAULT_SPIKE));
	assert_true(fb_faults_count(f, FB_FAULT_SPIKE) > 0);
	assert_int_equal(json_integer_value(json_object_get(r, "offline")), 6);
	assert_int_equal(json_integer_value(json_object_get(r, "stuck")), 0);   /* after the run's end */
	json_decref(r);
	char text[512];
	FILE *mem = fmemopen(text, sizeof text, "w");
	fb_faults_summary(e, mem);
	fclose(mem);
	char want[128];
	snprintf(want, sizeof want, "  faults        stuck 0, spike %llu, offline 6\n",
	         (unsigned long long)fb_faults_count(f, FB_FAULT_SPIKE));
	assert_string_equal(text, want);
	fb_engine_free(e);
	/* no faults: an empty object, no summary line */
	fb_scenario_free(sc);
	fp = fopen(path, "w");
	fputs("name: f\nstart: 2026-06-01T00:00:00Z\nduration: 1h\nsites: [{id: port, lat: 43.29, lon: 5.37}]\n"
	      "fleets: [{type: noise}]\n", fp);
	fclose(fp);
	sc = fb_scenario_load(path, NULL);
	e = fb_engine_new(sc, 0, 1, sc->start, sc->duration);
	r = fb_faults_report(e);
	assert_int_equal(json_object_size(r), 0);
	json_decref(r);
	mem = fmemopen(text, sizeof text, "w");
	fb_faults_summary(e, mem);
	long pos = ftell(mem);
	fclose(mem);
	assert_int_equal(pos, 0);
	fb_engine_free(e);
	fb_scenario_free(sc);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_garbage_and_any),
		cmocka_unit_test(test_report_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
