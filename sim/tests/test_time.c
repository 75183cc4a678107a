/* Durations, RFC 3339 dates, ISO formatting, time zones (DST), number formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "sim/fbtime.h"
#include "sim/fmt.h"
#include "sim/tz.h"

static void test_durations(void **state)
{
	static const struct { const char *text; fb_time_us us; } good[] = {
		{ "500ms", 500000 }, { "30s", 30000000 }, { "15m", 900000000 },
		{ "6h", 6 * FB_US_PER_H }, { "7d", 7 * FB_US_PER_DAY }, { "1w", 7 * FB_US_PER_DAY },
		{ "1h30m", 90 * FB_US_PER_MIN }, { "1.5h", 90 * FB_US_PER_MIN }, { "250us", 250 },
		{ "0s", 0 },
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		fb_time_us v = -1;
		assert_int_equal(fb_parse_duration(good[i].text, &v), 0);
		assert_int_equal(v, good[i].us);
	}
	static const char *const bad[] = { "", "10", "-5s", "5x", "s", "1h-", "ms", "1e3s", " 5s", "5 s", NULL };
	for (size_t i = 0; bad[i]; i++) {
		fb_time_us v = 42;
		assert_int_equal(fb_parse_duration(bad[i], &v), -1);
		assert_int_equal(v, 42);
	}
}

static void test_rfc3339(void **state)
{
	fb_time_us t;
	assert_int_equal(fb_parse_rfc3339("2026-06-01T00:00:00+02:00", &t), 0);
	assert_int_equal(t, 1780264800LL * FB_US_PER_S);
	assert_int_equal(fb_parse_rfc3339("2026-05-31T22:00:00Z", &t), 0);
	assert_int_equal(t, 1780264800LL * FB_US_PER_S);
	assert_int_equal(fb_parse_rfc3339("2026-05-31 22:00:00.250z", &t), 0);
	assert_int_equal(t, 1780264800LL * FB_US_PER_S + 250000);
	assert_int_equal(fb_parse_rfc3339("2024-02-29T12:00:00-05:30", &t), 0);
	static const char *const bad[] = {
		"2026-06-01", "2026-06-01T00:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
		"2026-06-31T00:00:00Z", "2026-06-01T24:00:00Z", "2026-06-01T00:00:00+2:00",
		"yesterday", "2026-06-01T00:00:00Zjunk", "2026-06-01T00:00:00.Z", NULL
	};
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(fb_parse_rfc3339(bad[i], &t), -1);
}

static void test_iso_format_round_trip(void **state)
{
	char buf[25];
	fb_format_iso_ms(1780264800LL * FB_US_PER_S + 123456, buf);
	assert_string_equal(buf, "2026-05-31T22:00:00.123Z");
	fb_format_iso_ms(0, buf);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	for (int64_t s = 0; s < 4000LL * 86400 * 365 / 100; s += 86400 * 37 + 3671) {
		fb_time_us t = s * FB_US_PER_S + 7000, back;
		fb_format_iso_ms(t, buf);
		assert_int_equal(fb_parse_rfc3339(buf, &back), 0);
		assert_int_equal(back, t);
	}
	char d[32];
	fb_format_duration(FB_US_PER_DAY, d, sizeof d);
	assert_string_equal(d, "1d");
	fb_format_duration(6 * FB_US_PER_H + 30 * FB_US_PER_MIN, d, sizeof d);
	assert_string_equal(d, "6h30m");
	fb_format_duration(250 * FB_US_PER_MS, d, sizeof d);
	assert_string_equal(d, "250ms");
}

/* Europe/Paris: CET/CEST, DST from the last Sunday of March 01:00 UTC to the last Sunday of
 * October 01:00 UTC (2026: 29 March and 25 October). */
static void test_time_zone_dst(void **state)
{
	fb_time_us from, to, t;
	fb_parse_rfc3339("2026-01-01T00:00:00Z", &from);
	fb_parse_rfc3339("2027-01-01T00:00:00Z", &to);
	struct fb_tz *tz = fb_tz_new("Europe/Paris", from, to);
	assert_non_null(tz);
	fb_parse_rfc3339("2026-03-29T00:59:59Z", &t);
	assert_int_equal(fb_tz_offset_s(tz, t), 3600);
	fb_parse_rfc3339("2026-03-29T01:00:00Z", &t);
	assert_int_equal(fb_tz_offset_s(tz, t), 7200);
	fb_parse_rfc3339("2026-10-25T00:59:00Z", &t);
	assert_int_equal(fb_tz_offset_s(tz, t), 7200);
	fb_parse_rfc3339("2026-10-25T01:00:00Z", &t);
	assert_int_equal(fb_tz_offset_s(tz, t), 3600);
	struct fb_localtime lt;
	fb_parse_rfc3339("2026-06-01T06:15:00Z", &t);
	fb_tz_local(tz, t, &lt);
	assert_int_equal(lt.hour, 8);
	assert_int_equal(lt.min, 15);
	assert_int_equal(lt.wday, 1);        /* 1 June 2026 is a Monday */
	assert_int_equal(lt.month, 6);
	assert_int_equal(lt.yday, 151);
	/* outside the table, the slow path agrees */
	fb_parse_rfc3339("2030-07-01T12:00:00Z", &t);
	assert_int_equal(fb_tz_offset_s(tz, t), 7200);
	/* local midnight of 29 March 2026 is 23:00 UTC the day before */
	fb_tz_local(tz, t, &lt);
	fb_parse_rfc3339("2026-03-29T12:00:00Z", &t);
	fb_tz_local(tz, t, &lt);
	fb_time_us m = fb_tz_local_midnight(tz, lt.day), want;
	fb_parse_rfc3339("2026-03-28T23:00:00Z", &want);
	assert_int_equal(m, want);
	fb_tz_free(tz);
	assert_null(fb_tz_new("Europe/Pariss", from, to));
	assert_false(fb_tz_exists("../etc/passwd"));
	assert_true(fb_tz_exists("UTC"));
}

static void test_fixed_formatting(void **state)
{
	char b[32];
	b[fb_fmt_fixed(61.25, 1, b)] = 0;
	assert_string_equal(b, "61.3");
	b[fb_fmt_fixed(-0.04, 1, b)] = 0;
	assert_string_equal(b, "0.0");
	b[fb_fmt_fixed(-2.5, 0, b)] = 0;
	assert_string_equal(b, "-3");
	b[fb_fmt_fixed(1.0005, 3, b)] = 0;
	assert_string_equal(b, "1.001");
	b[fb_fmt_fixed(12345678.9, 2, b)] = 0;
	assert_string_equal(b, "12345678.90");
	assert_int_equal(fb_fmt_decimals(0.1), 1);
	assert_int_equal(fb_fmt_decimals(0.001), 3);
	assert_int_equal(fb_fmt_decimals(1), 0);
	assert_int_equal(fb_fmt_decimals(0.5), 1);
	assert_int_equal(fb_fmt_decimals(0.25), 2);
	static const char *const names[] = { "ok", "lampFailure", NULL };
	struct fb_field e = { "status", "", FB_FIELD_ENUM, 0, 1, 0, names, false, NULL };
	b[fb_fmt_value(&e, 1, b)] = 0;
	assert_string_equal(b, "\"lampFailure\"");
	struct fb_field bo = { "on", "", FB_FIELD_BOOL, 0, 1, 0, NULL, false, NULL };
	b[fb_fmt_value(&bo, 1, b)] = 0;
	assert_string_equal(b, "true");
	/* integers round half away from zero, and stay right beyond int64 */
	struct fb_field in = { "count", "", FB_FIELD_INTEGER, 0, 1e20, 1, NULL, false, NULL };
	b[fb_fmt_value(&in, -2.5, b)] = 0;
	assert_string_equal(b, "-3");
	b[fb_fmt_value(&in, 1e19, b)] = 0;
	assert_string_equal(b, "10000000000000000000");
	/* a value too long for fixed notation is still a JSON number */
	b[fb_fmt_fixed(-1e300, 2, b)] = 0;
	assert_string_equal(b, "-1.0000000000000001e+300");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_iso_format_round_trip),
		cmocka_unit_test(test_time_zone_dst),
		cmocka_unit_test(test_fixed_formatting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
