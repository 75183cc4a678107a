/* The collectors' JSON cursor (harness/jcur.h): members found and values read in place, every
 * kind of value skipped, and what is not JSON refused (truncated, raw control characters,
 * malformed numbers, nesting too deep) without reading past the end of the buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "harness/jcur.h"

static struct fb_jcur cur(const char *s)
{
	return (struct fb_jcur){ s, s + strlen(s) };
}

static void test_reads_members(void **state)
{
	(void)state;
	struct fb_jcur j = cur(" {\"fCnt\": 42, \"data\":\"AQI=\", \"x\\\"y\": [1, {\"a\": null}, true], \"e\": -1.5e3 }");
	const char *k, *s;
	size_t n;
	bool esc;
	double v;
	assert_true(fb_jcur_lit(&j, '{'));
	assert_true(fb_jcur_str(&j, &k, &n, &esc) && fb_jcur_key_is(k, n, "fCnt") && !esc);
	assert_true(fb_jcur_lit(&j, ':') && fb_jcur_num(&j, &v));
	assert_true(v == 42);
	assert_true(fb_jcur_lit(&j, ','));
	assert_true(fb_jcur_str(&j, &k, &n, NULL) && fb_jcur_lit(&j, ':'));
	assert_true(fb_jcur_str(&j, &s, &n, &esc));
	assert_int_equal(n, 4);
	assert_memory_equal(s, "AQI=", 4);
	assert_true(fb_jcur_lit(&j, ','));
	assert_true(fb_jcur_str(&j, &k, &n, &esc) && esc);          /* raw: x\"y */
	assert_int_equal(n, 4);
	assert_true(fb_jcur_lit(&j, ':') && fb_jcur_skip(&j, 0));
	assert_true(fb_jcur_lit(&j, ',') && fb_jcur_str(&j, &k, &n, NULL) && fb_jcur_lit(&j, ':'));
	assert_true(fb_jcur_num(&j, &v));
	assert_true(v == -1500);
	assert_true(fb_jcur_peek(&j, '}'));
	assert_true(fb_jcur_lit(&j, '}'));
	fb_jcur_ws(&j);
	assert_ptr_equal(j.p, j.end);
}

static bool skips(const char *s)
{
	struct fb_jcur j = cur(s);
	return fb_jcur_skip(&j, 0);
}

static void test_refuses_what_is_not_json(void **state)
{
	(void)state;
	assert_true(skips("{\"a\":[1,2,{\"b\":\"c\"}],\"d\":false}"));
	assert_false(skips("{\"a\":1"));                 /* truncated */
	assert_false(skips("\"abc"));                    /* unterminated */
	assert_false(skips("\"a\tb\""));                 /* a raw control character */
	assert_false(skips("\"ab\\"));                   /* an escape at the end */
	assert_false(skips("1.2.3"));
	assert_false(skips("-"));
	assert_false(skips("tru"));
	assert_false(skips("{\"a\" 1}"));
	assert_false(skips("[1,]"));
	char deep[80];
	memset(deep, '[', 40);
	memset(deep + 40, ']', 39);
	deep[79] = '\0';
	assert_false(skips(deep));                       /* deeper than 32 */
	double v;
	struct fb_jcur j = cur("1e999");
	assert_false(fb_jcur_num(&j, &v));               /* not finite */
	char big[80];
	memset(big, '1', 79);
	big[79] = '\0';
	j = cur(big);
	assert_false(fb_jcur_num(&j, &v));               /* longer than a number may be */
	/* the end of the buffer is the end: a number cut by it is read up to it, no further */
	const char *s = "12345";
	j = (struct fb_jcur){ s, s + 3 };
	assert_true(fb_jcur_num(&j, &v));
	assert_true(v == 123);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_members),
		cmocka_unit_test(test_refuses_what_is_not_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
