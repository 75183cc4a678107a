/* The HTML page from reports the browser test does not cover: an empty or partial report (no
 * section crashes or shows without data), a day-long series averaged down to a readable line,
 * text from the report escaped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness/html.h"

static char *render(const json_t *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(fb_html_write(r, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "</html>\n"));
	return buf;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void test_empty_report(void **state)
{
	json_t *r = json_object();
	char *page = render(r);
	assert_int_equal(count(page, "<svg"), 0);
	assert_null(strstr(page, "id=\"expectations\""));
	assert_null(strstr(page, "id=\"latency\""));
	assert_non_null(strstr(page, "<h2 id=\"summary\">"));
	free(page);
	json_decref(r);
}

static void test_long_series_is_averaged(void **state)
{
	enum { N = 86400 };        /* a day of wall seconds */
	json_t *sent = json_array(), *recv = json_array(), *err = json_array(), *lag = json_array();
	for (int i = 0; i < N; i++) {
		json_array_append_new(sent, json_integer(100));
		json_array_append_new(recv, json_integer(i % 2 ? 98 : 102));    /* averages to 100 */
		json_array_append_new(err, json_integer(0));
		json_array_append_new(lag, json_real(i == N / 2 ? 3.0 : 0.0));
	}
	json_t *r = json_pack("{s:s, s:{s:s, s:i, s:o, s:o, s:o, s:o}}", "speed", "max", "series", "t0",
	                      "2026-06-01T00:00:00.000Z", "step_s", 1, "sent", sent, "received", recv, "errors", err,
	                      "lag_s", lag);
	char *page = render(r);
	const char *thr = strstr(page, "<svg id=\"chart-throughput\"");
	assert_non_null(thr);
	const char *pts = strstr(thr, "points=\"");
	assert_non_null(pts);
	pts += 8;
	size_t pairs = 0;
	for (const char *p = pts; *p != '"'; p++)
		pairs += *p == ',';
	assert_true(pairs <= 1200 && pairs >= 1000);
	assert_non_null(strstr(thr, "data-n=\"86400\""));
	/* a lag in a max-speed run still shows */
	assert_non_null(strstr(page, "<svg id=\"chart-lag\""));
	/* x axis in elapsed time: ticks up to a day */
	assert_non_null(strstr(thr, ">12h<"));
	free(page);
	json_decref(r);
}

static void test_text_escaped(void **state)
{
	json_t *r = json_pack("{s:{s:s}, s:[{s:s, s:b, s:s}], s:{s:{s:s, s:s, s:[s], s:[[[i, f], [i, f]]]}}}",
	                      "scenario", "name", "<script>x</script>",
	                      "expectations", "name", "loss_max", "ok", 0, "message", "loss 5% > 1% & \"more\"",
	                      "signals", "noise", "field", "LAeq", "unit", "dB(A)", "devices", "noise-<0>",
	                      "points", 1780272000, 50.0, 1780272060, 51.0);
	char *page = render(r);
	assert_null(strstr(page, "<script>"));
	assert_non_null(strstr(page, "&lt;script&gt;x&lt;/script&gt;"));
	assert_non_null(strstr(page, "loss 5% &gt; 1% &amp; &quot;more&quot;"));
	assert_non_null(strstr(page, "noise-&lt;0&gt;"));
	assert_non_null(strstr(page, "class=\"verdict fail\">FAIL<"));
	assert_non_null(strstr(page, "<svg id=\"signal-noise\""));
	free(page);
	json_decref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_report),
		cmocka_unit_test(test_long_series_is_averaged),
		cmocka_unit_test(test_text_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
