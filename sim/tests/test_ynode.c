/* The YAML tree: marks, quoting, aliases, duplicate keys, syntax errors with their place, and
 * the typed getters' accept/reject rules with their exact messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "sim/tests/capture.h"
#include "sim/ynode.h"

/* Parses text that must fail; returns the stderr it produced. */
static const char *load_error(struct capture *c, const char *text)
{
	capture_begin(c);
	struct fb_ynode *n = fb_ynode_load_string(text, "t.yaml");
	const char *err = capture_end(c);
	assert_null(n);
	return err;
}

static struct fb_ynode *load_ok(const char *text)
{
	struct fb_ynode *n = fb_ynode_load_string(text, "t.yaml");
	assert_non_null(n);
	return n;
}

static void test_tree_and_marks(void **state)
{
	struct fb_ynode *root = load_ok(
		"# a comment\n"
		"name: pilot\n"
		"sites:\n"
		"  - {id: a, lat: 43.3}\n"
		"  - id: \"b\"\n"
		"    lat: '12'\n"
		"empty:\n");
	assert_int_equal(root->kind, FB_Y_MAP);
	assert_int_equal(root->n, 3);
	assert_string_equal(root->file, "t.yaml");
	struct fb_ynode *name = fb_ynode_get(root, "name");
	assert_non_null(name);
	assert_int_equal(name->kind, FB_Y_SCALAR);
	assert_string_equal(name->text, "pilot");
	assert_int_equal(name->line, 2);
	assert_int_equal(name->col, 7);
	assert_false(name->quoted);
	/* Keys carry their marks too. */
	assert_int_equal(root->keys[1]->line, 3);
	assert_int_equal(root->keys[1]->col, 1);

	struct fb_ynode *sites = fb_ynode_get(root, "sites");
	assert_int_equal(sites->kind, FB_Y_SEQ);
	assert_int_equal(sites->n, 2);
	assert_null(sites->keys);
	struct fb_ynode *a = sites->items[0];
	assert_int_equal(a->kind, FB_Y_MAP);
	assert_int_equal(a->line, 4);
	assert_int_equal(a->col, 5);
	assert_string_equal(fb_ynode_get(a, "id")->text, "a");
	assert_int_equal(fb_ynode_get(a, "lat")->col, 18);
	struct fb_ynode *b = sites->items[1];
	assert_true(fb_ynode_get(b, "id")->quoted);
	assert_true(fb_ynode_get(b, "lat")->quoted);
	assert_int_equal(fb_ynode_get(b, "lat")->line, 6);
	assert_int_equal(fb_ynode_get(b, "lat")->col, 10);
	/* A key with no value is an empty plain scalar; absent keys and non-maps give NULL. */
	struct fb_ynode *empty = fb_ynode_get(root, "empty");
	assert_non_null(empty);
	assert_string_equal(empty->text, "");
	assert_null(fb_ynode_get(root, "missing"));
	assert_null(fb_ynode_get(sites, "id"));
	fb_ynode_free(root);
}

static void test_aliases_expand(void **state)
{
	struct fb_ynode *root = load_ok(
		"base: &p {profile: arterial, level: 3}\n"
		"fleets:\n"
		"  - params: *p\n"
		"  - params: *p\n");
	struct fb_ynode *fleets = fb_ynode_get(root, "fleets");
	for (size_t i = 0; i < 2; i++) {
		struct fb_ynode *p = fb_ynode_get(fleets->items[i], "params");
		assert_non_null(p);
		assert_int_equal(p->kind, FB_Y_MAP);
		assert_string_equal(fb_ynode_get(p, "profile")->text, "arterial");
		/* The copy's root points at the alias, so errors about it name the use. */
		assert_int_equal(p->line, 3 + (int)i);
		assert_int_equal(p->col, 13);
	}
	/* Copies, not shared nodes: distinct pointers, and freeing does not double-free. */
	assert_ptr_not_equal(fb_ynode_get(fleets->items[0], "params"),
	                     fb_ynode_get(fleets->items[1], "params"));
	fb_ynode_free(root);

	struct capture c;
	assert_string_equal(load_error(&c, "a: 1\nb: *nope\n"),
	                    "t.yaml:2:4: error: unknown or recursive alias '*nope'\n");
	assert_string_equal(load_error(&c, "a: &r [1, *r]\n"),
	                    "t.yaml:1:11: error: unknown or recursive alias '*r'\n");
	/* An alias bomb stops at the node budget instead of eating the memory. */
	const char *bomb =
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
	const char *err = load_error(&c, bomb);
	assert_non_null(strstr(err, "error: document too large (more than 500000 nodes with aliases expanded)"));
	assert_string_equal(strchr(err, '\n') + 1, "");
}

static void test_duplicate_keys(void **state)
{
	struct capture c;
	assert_string_equal(load_error(&c, "name: a\nseed: 1\nname: b\n"),
	                    "t.yaml:3:1: error: duplicate key 'name' (first at line 1, column 1)\n");
	assert_string_equal(load_error(&c, "fleets:\n  - {type: noise, count: 2, type: waste}\n"),
	                    "t.yaml:2:29: error: duplicate key 'type' (first at line 2, column 6)\n");
	/* The same key in two different maps is fine. */
	fb_ynode_free(load_ok("a: {x: 1}\nb: {x: 2}\n"));
}

static void test_syntax_errors(void **state)
{
	struct capture c;
	assert_string_equal(load_error(&c, "a: [1, 2\nb: 3\n"),
	                    "t.yaml:2:2: error: did not find expected ',' or ']' "
	                    "(while parsing a flow sequence at line 1, column 4)\n");
	assert_string_equal(load_error(&c, "key: value\n  bad: indent\n"),
	                    "t.yaml:2:6: error: mapping values are not allowed in this context\n");
	assert_string_equal(load_error(&c, "a:\n\t- 1\n"),
	                    "t.yaml:2:1: error: found character that cannot start any token: "
	                    "a tab (yaml indents with spaces only)\n");
	assert_string_equal(load_error(&c, "a: 'x\n"),
	                    "t.yaml:2:1: error: found unexpected end of stream "
	                    "(while scanning a quoted scalar at line 1, column 4)\n");
	assert_string_equal(load_error(&c, "a: 1\n---\nb: 2\n"),
	                    "t.yaml:2:1: error: only one yaml document is allowed per file\n");
	/* Bad bytes: located by the reader's byte offset. */
	assert_string_equal(load_error(&c, "a: 1\nb: \xff\xfe\n"),
	                    "t.yaml:2:4: error: invalid leading UTF-8 octet\n");
	assert_string_equal(load_error(&c, "a: 1\nbc: x\x01y\n"),
	                    "t.yaml:2:6: error: control characters are not allowed\n");
	assert_string_equal(load_error(&c, "? [1]\n: 2\n"),
	                    "t.yaml:1:3: error: a map key must be a plain value, not a list\n");
}

static void test_empty_and_unreadable(void **state)
{
	struct capture c;
	const char *empty = "t.yaml: error: empty document (nothing but blanks and comments)\n";
	assert_string_equal(load_error(&c, ""), empty);
	assert_string_equal(load_error(&c, "# only a comment\n\n   \n"), empty);
	assert_string_equal(load_error(&c, "---\n...\n"), empty);
	assert_string_equal(load_error(&c, "~\n"), empty);

	capture_begin(&c);
	struct fb_ynode *n = fb_ynode_load_file("/nonexistent/dir/x.yaml");
	assert_null(n);
	assert_string_equal(capture_end(&c),
	                    "fleetbench: error: cannot read '/nonexistent/dir/x.yaml': No such file or directory\n");
	capture_begin(&c);
	n = fb_ynode_load_file("/");
	assert_null(n);
	assert_string_equal(capture_end(&c), "fleetbench: error: cannot read '/': Is a directory\n");

	/* A real file loads, with the path as the file name of every node. */
	char path[] = "/tmp/fb_ynode_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x: 1\n", 5), 5);
	close(fd);
	n = fb_ynode_load_file(path);
	assert_non_null(n);
	assert_string_equal(fb_ynode_get(n, "x")->file, path);
	fb_ynode_free(n);
	unlink(path);
}

/* One scalar document "v: <text>" and its value node. */
static struct fb_ynode *doc;
static const struct fb_ynode *value(const char *yaml_value)
{
	char text[256];
	fb_ynode_free(doc);
	snprintf(text, sizeof(text), "v: %s\n", yaml_value);
	doc = load_ok(text);
	return fb_ynode_get(doc, "v");
}

static void test_numbers(void **state)
{
	struct capture c;
	static const struct { const char *text; double v; } good[] = {
		{ "12", 12 }, { "-1.5e2", -150 }, { "+0.25", 0.25 }, { ".5", 0.5 }, { "7.", 7 }, { "1E3", 1000 },
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		double v = 0;
		assert_int_equal(fb_ynode_number(value(good[i].text), "'lat'", &v), 0);
		assert_true(v == good[i].v);
	}
	static const struct { const char *text, *msg; } bad[] = {
		{ "12abc", "t.yaml:1:4: error: 'lat' must be a number, not '12abc'\n" },
		{ "inf", "t.yaml:1:4: error: 'lat' must be a number, not 'inf'\n" },
		{ ".inf", "t.yaml:1:4: error: 'lat' must be a number, not '.inf'\n" },
		{ "nan", "t.yaml:1:4: error: 'lat' must be a number, not 'nan'\n" },
		{ "0x10", "t.yaml:1:4: error: 'lat' must be a number, not '0x10'\n" },
		{ "1e", "t.yaml:1:4: error: 'lat' must be a number, not '1e'\n" },
		{ "1e999", "t.yaml:1:4: error: 'lat' is out of range: '1e999'\n" },
		{ "'12'", "t.yaml:1:4: error: 'lat' must be a number, not the quoted string '12'\n" },
		{ "[1]", "t.yaml:1:4: error: 'lat' must be a number, not a list\n" },
		{ "", "t.yaml:1:3: error: 'lat' must be a number, not ''\n" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		double v = 42;
		const struct fb_ynode *n = value(bad[i].text);
		capture_begin(&c);
		assert_int_equal(fb_ynode_number(n, "'lat'", &v), -1);
		assert_string_equal(capture_end(&c), bad[i].msg);
		assert_true(v == 42);
	}
}

static void test_ints(void **state)
{
	struct capture c;
	int64_t v = 0;
	assert_int_equal(fb_ynode_int(value("4294967295"), "'count'", 1, UINT32_MAX, &v), 0);
	assert_int_equal(v, 4294967295LL);
	assert_int_equal(fb_ynode_int(value("-7"), "'x'", INT64_MIN, INT64_MAX, &v), 0);
	assert_int_equal(v, -7);
	static const struct { const char *text, *msg; } bad[] = {
		{ "-3", "t.yaml:1:4: error: 'count' must be between 1 and 100, not -3\n" },
		{ "101", "t.yaml:1:4: error: 'count' must be between 1 and 100, not 101\n" },
		{ "2.5", "t.yaml:1:4: error: 'count' must be a whole number, not '2.5'\n" },
		{ "1e2", "t.yaml:1:4: error: 'count' must be a whole number, not '1e2'\n" },
		{ "12abc", "t.yaml:1:4: error: 'count' must be a whole number, not '12abc'\n" },
		{ "99999999999999999999", "t.yaml:1:4: error: 'count' must be between 1 and 100, not 99999999999999999999\n" },
		{ "\"5\"", "t.yaml:1:4: error: 'count' must be a whole number, not the quoted string '5'\n" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const struct fb_ynode *n = value(bad[i].text);
		capture_begin(&c);
		assert_int_equal(fb_ynode_int(n, "'count'", 1, 100, &v), -1);
		assert_string_equal(capture_end(&c), bad[i].msg);
	}
	const struct fb_ynode *n = value("-1");
	capture_begin(&c);
	assert_int_equal(fb_ynode_int(n, "'seed'", 0, INT64_MAX, &v), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:4: error: 'seed' must be at least 0, not -1\n");
}

static void test_bool_duration_length(void **state)
{
	struct capture c;
	bool b = false;
	assert_int_equal(fb_ynode_bool(value("true"), "'loop'", &b), 0);
	assert_true(b);
	assert_int_equal(fb_ynode_bool(value("No"), "'loop'", &b), 0);
	assert_false(b);
	const struct fb_ynode *n = value("maybe");
	capture_begin(&c);
	assert_int_equal(fb_ynode_bool(n, "'loop'", &b), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:4: error: 'loop' must be true or false, not 'maybe'\n");

	fb_time_us d = 0;
	assert_int_equal(fb_ynode_duration(value("1h30m"), "'interval'", &d), 0);
	assert_int_equal(d, 90 * FB_US_PER_MIN);
	n = value("5 minutes");
	capture_begin(&c);
	assert_int_equal(fb_ynode_duration(n, "'interval'", &d), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:4: error: 'interval' must be a duration such as "
	                    "'30s', '15m' or '6h', not '5 minutes'\n");
	n = value("300");
	capture_begin(&c);
	assert_int_equal(fb_ynode_duration(n, "'interval'", &d), -1);
	assert_non_null(strstr(capture_end(&c), "not '300'"));

	double m = 0;
	assert_int_equal(fb_ynode_length_m(value("500m"), "'radius'", &m), 0);
	assert_true(m == 500);
	assert_int_equal(fb_ynode_length_m(value("2km"), "'radius'", &m), 0);
	assert_true(m == 2000);
	assert_int_equal(fb_ynode_length_m(value("1.5km"), "'radius'", &m), 0);
	assert_true(m == 1500);
	assert_int_equal(fb_ynode_length_m(value("25"), "'radius'", &m), 0);
	assert_true(m == 25);
	static const char *const bad[] = { "-3m", "3 miles", "km", "m", "2kmm", "1e999m", NULL };
	for (size_t i = 0; bad[i]; i++) {
		char want[160];
		n = value(bad[i]);
		capture_begin(&c);
		assert_int_equal(fb_ynode_length_m(n, "'radius'", &m), -1);
		snprintf(want, sizeof(want), "t.yaml:1:4: error: 'radius' must be a length such as '500m' "
		         "or '2km', not '%s'\n", bad[i]);
		assert_string_equal(capture_end(&c), want);
	}
}

static void test_strings_and_kinds(void **state)
{
	struct capture c;
	const char *s = NULL;
	assert_int_equal(fb_ynode_string(value("'42'"), "'name'", &s), 0);
	assert_string_equal(s, "42");
	assert_int_equal(fb_ynode_string(value("\"\""), "'name'", &s), 0);
	assert_string_equal(s, "");
	const struct fb_ynode *n = value("");
	capture_begin(&c);
	assert_int_equal(fb_ynode_string(n, "'name'", &s), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:3: error: 'name' is empty\n");
	n = value("{a: 1}");
	capture_begin(&c);
	assert_int_equal(fb_ynode_string(n, "'name'", &s), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:4: error: 'name' must be a single value, not a map\n");
	capture_begin(&c);
	assert_int_equal(fb_ynode_expect(n, FB_Y_SEQ, "'sites'"), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:4: error: 'sites' must be a list, not a map\n");
	n = value("abc");
	capture_begin(&c);
	assert_int_equal(fb_ynode_expect(n, FB_Y_MAP, "'output'"), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:4: error: 'output' must be a map, not 'abc'\n");
	assert_int_equal(fb_ynode_expect(n, FB_Y_SCALAR, "'x'"), 0);
}

static void test_enum_and_keys(void **state)
{
	struct capture c;
	static const char *const profiles[] = { "arterial", "street", "residential", "nightlife", NULL };
	int idx = -1;
	assert_int_equal(fb_ynode_enum(value("residential"), "profile", profiles, &idx), 0);
	assert_int_equal(idx, 2);
	const struct fb_ynode *n = value("arterail");
	capture_begin(&c);
	assert_int_equal(fb_ynode_enum(n, "profile", profiles, &idx), -1);
	assert_string_equal(capture_end(&c),
	                    "t.yaml:1:4: error: unknown profile 'arterail' (did you mean 'arterial'?)\n");
	n = value("zzz");
	capture_begin(&c);
	assert_int_equal(fb_ynode_enum(n, "profile", profiles, &idx), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:4: error: unknown profile 'zzz' (expected one of "
	                    "'arterial', 'street', 'residential', 'nightlife')\n");

	static const char *const keys[] = { "type", "count", "site", NULL };
	fb_ynode_free(doc);
	doc = load_ok("fleet:\n  type: noise\n  cuont: 3\n  colour: red\n");
	capture_begin(&c);
	assert_int_equal(fb_ynode_check_keys(fb_ynode_get(doc, "fleet"), "fleet", keys), -1);
	assert_string_equal(capture_end(&c),
	                    "t.yaml:3:3: error: unknown key 'cuont' in fleet (did you mean 'count'?)\n"
	                    "t.yaml:4:3: error: unknown key 'colour' in fleet (known keys: type, count, site)\n");
	fb_ynode_free(doc);
	doc = load_ok("fleet: {type: noise, count: 3}\n");
	assert_int_equal(fb_ynode_check_keys(fb_ynode_get(doc, "fleet"), "fleet", keys), 0);
	capture_begin(&c);
	assert_int_equal(fb_ynode_check_keys(doc->keys[0], "fleet", keys), -1);
	assert_string_equal(capture_end(&c), "t.yaml:1:1: error: fleet must be a map, not 'fleet'\n");
	fb_ynode_free(doc);
	doc = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_and_marks),
		cmocka_unit_test(test_aliases_expand),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_empty_and_unreadable),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_bool_duration_length),
		cmocka_unit_test(test_strings_and_kinds),
		cmocka_unit_test(test_enum_and_keys),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fb_ynode_free(doc);
	return rc;
}
