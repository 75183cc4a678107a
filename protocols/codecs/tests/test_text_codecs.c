/* The text codecs: json, senml, ul, fiware-json; the shared formatter; the registry; commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/fiware.h"
#include "protocols/codecs/fiware_json.h"
#include "protocols/codecs/json.h"
#include "protocols/codecs/senml.h"
#include "protocols/codecs/ul.h"
#include "protocols/codecs/tests/fixture.h"
#include "sim/fmt.h"

static void expect_text(ssize_t n, const uint8_t *buf, const char *want)
{
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

static void test_number_format(void **state)
{
	struct fb_field f = {.name = "x", .kind = FB_FIELD_NUMBER, .resolution = 0.1};
	char b[FB_CBUF_NUM_MAX];
	fb_cbuf_fmt_number(&f, 62.0, b);            assert_string_equal(b, "62.0");
	fb_cbuf_fmt_number(&f, 62.3, b);            assert_string_equal(b, "62.3");
	fb_cbuf_fmt_number(&f, -0.04, b);           assert_string_equal(b, "0.0");   /* never "-0.0" */
	fb_cbuf_fmt_number(&f, -12.25, b);          assert_string_equal(b, "-12.3"); /* half away from 0 */
	fb_cbuf_fmt_number(&f, 0.30000000000000004, b); assert_string_equal(b, "0.3");
	f.resolution = 0.25;
	fb_cbuf_fmt_number(&f, 1.5, b);             assert_string_equal(b, "1.50");
	f.resolution = 0.001;
	fb_cbuf_fmt_number(&f, 1234.5678, b);       assert_string_equal(b, "1234.568");
	f.resolution = 5;
	fb_cbuf_fmt_number(&f, 15, b);              assert_string_equal(b, "15");
	f.resolution = 1;
	fb_cbuf_fmt_number(&f, 1e17, b);            assert_string_equal(b, "100000000000000000");
	f.kind = FB_FIELD_INTEGER;
	fb_cbuf_fmt_number(&f, -7, b);              assert_string_equal(b, "-7");
	assert_int_equal(fb_fmt_decimals(0.5), 1);
	assert_int_equal(fb_fmt_decimals(0.01), 2);
	assert_int_equal(fb_fmt_decimals(10), 0);
}

static void test_json_exact(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[512];
	expect_text(fb_json_encode(&fx_ctx, &s, buf, sizeof buf), buf,
	            "{\"id\":\"testlight-000042\",\"type\":\"Streetlight\",\"seq\":25,"
	            "\"ts\":\"2026-06-01T06:15:00.250Z\",\"LAeq\":62.3,\"temperature\":-3.5,"
	            "\"count\":12345,\"on\":true,\"mode\":\"manual\",\"dimmingLevel\":50}");
	/* without a Smart Data Models type, the model's name; ids are escaped */
	struct fb_model m = fx_model;
	m.fiware_type = NULL;
	m.nfields = 1;
	s.model = &m;
	struct fb_codec_ctx c = {.device_id = "a\"b"};
	expect_text(fb_json_encode(&c, &s, buf, sizeof buf), buf,
	            "{\"id\":\"a\\\"b\",\"type\":\"testlight\",\"seq\":25,"
	            "\"ts\":\"2026-06-01T06:15:00.250Z\",\"LAeq\":62.3}");
}

static void test_json_roundtrip(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[512];
	ssize_t n = fb_json_encode(&fx_ctx, &s, buf, sizeof buf);
	assert_true(n > 0);
	json_error_t e;
	json_t *o = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, &e);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "id")), "testlight-000042");
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 25);
	assert_true(fabs(json_number_value(json_object_get(o, "LAeq")) - 62.3) < 1e-9);
	assert_true(fabs(json_number_value(json_object_get(o, "temperature")) + 3.5) < 1e-9);
	assert_int_equal(json_integer_value(json_object_get(o, "count")), 12345);
	assert_true(json_is_true(json_object_get(o, "on")));
	assert_string_equal(json_string_value(json_object_get(o, "mode")), "manual");
	assert_int_equal(json_integer_value(json_object_get(o, "dimmingLevel")), 50);
	json_decref(o);
}

static void test_senml_exact(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[1024];
	ssize_t n = fb_senml_encode(&fx_ctx, &s, buf, sizeof buf);
	expect_text(n, buf,
	            "[{\"bn\":\"testlight-000042:\",\"bt\":1780294500.250,\"n\":\"LAeq\",\"u\":\"dB\","
	            "\"v\":62.3},{\"n\":\"temperature\",\"u\":\"Cel\",\"v\":-3.5},"
	            "{\"n\":\"count\",\"u\":\"count\",\"v\":12345},{\"n\":\"on\",\"vb\":true},"
	            "{\"n\":\"mode\",\"vs\":\"manual\"},{\"n\":\"dimmingLevel\",\"u\":\"%\",\"v\":50}]");
	/* RFC 8428 §4.6 resolution: bn + n, bt + t */
	json_error_t e;
	json_t *a = json_loadb((const char *)buf, (size_t)n, 0, &e);
	assert_non_null(a);
	assert_int_equal(json_array_size(a), 6);
	json_t *r0 = json_array_get(a, 0);
	assert_true(fabs(json_real_value(json_object_get(r0, "bt")) - 1780294500.25) < 1e-6);
	json_decref(a);
	assert_string_equal(fb_senml_unit("°C"), "Cel");
	assert_string_equal(fb_senml_unit("lux"), "lx");
	assert_null(fb_senml_unit("mg/L"));   /* unregistered: no "u" rather than a wrong one */
}

static void test_ul_exact(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[512];
	expect_text(fb_ul_encode(&fx_ctx, &s, buf, sizeof buf), buf,
	            "2026-06-01T06:15:00.250Z|LAeq|62.3|temperature|-3.5|count|12345|on|true|"
	            "mode|manual|dimmingLevel|50");
	expect_text(fb_ul_cmdexe("testlight-000042", "dimmingLevel", "OK", buf, sizeof buf), buf,
	            "testlight-000042@dimmingLevel|OK");
	assert_int_equal(fb_ul_cmdexe("d", "c", "r", buf, 4), FB_CODEC_ENOSPC);
}

static void test_fiware_json_exact(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[512];
	expect_text(fb_fiware_json_encode(&fx_ctx, &s, buf, sizeof buf), buf,
	            "{\"TimeInstant\":\"2026-06-01T06:15:00.250Z\",\"LAeq\":62.3,\"temperature\":-3.5,"
	            "\"count\":12345,\"on\":true,\"mode\":\"manual\",\"dimmingLevel\":50}");
	expect_text(fb_fiware_json_cmdexe("ping", "OK", buf, sizeof buf), buf, "{\"ping\":\"OK\"}");
}

static void test_fiware_topics(void **state)
{
	char t[128];
	assert_int_equal(fb_fiware_topic(t, sizeof t, FB_FIWARE_ATTRS, "ul", "amp-waste",
	                                 "waste-000001", 0), 32);
	assert_string_equal(t, "/ul/amp-waste/waste-000001/attrs");
	fb_fiware_topic(t, sizeof t, FB_FIWARE_CMD, "ul", "amp-waste", "waste-000001", 0);
	assert_string_equal(t, "/amp-waste/waste-000001/cmd");
	fb_fiware_topic(t, sizeof t, FB_FIWARE_CMDEXE, "json", "k", "d", 0);
	assert_string_equal(t, "/json/k/d/cmdexe");
	fb_fiware_topic(t, sizeof t, FB_FIWARE_ATTRS, "json", "k", "d", FB_FIWARE_LEGACY);
	assert_string_equal(t, "/k/d/attrs");
	fb_fiware_topic(t, sizeof t, FB_FIWARE_ATTRS, "json", "k", "d",
	                FB_FIWARE_LEGACY | FB_FIWARE_NO_SLASH);
	assert_string_equal(t, "k/d/attrs");
	fb_fiware_topic(t, sizeof t, FB_FIWARE_ATTRS, "ul", "k", "d", FB_FIWARE_NO_SLASH);
	assert_string_equal(t, "ul/k/d/attrs");
	/* the NUL must fit too */
	memset(t, 'x', sizeof t);
	/* "/ul/k/d/attrs" is 13 characters */
	assert_int_equal(fb_fiware_topic(t, 13, FB_FIWARE_ATTRS, "ul", "k", "d", 0), FB_CODEC_ENOSPC);
	assert_int_equal(t[13], 'x');
	assert_int_equal(fb_fiware_topic(t, 14, FB_FIWARE_ATTRS, "ul", "k", "d", 0), 13);
}

static void test_enospc_every_size(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[1024];
	fx_encode_fn encs[] = {fb_json_encode, fb_senml_encode, fb_ul_encode, fb_fiware_json_encode};
	for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++) {
		ssize_t need = encs[i](&fx_ctx, &s, buf, sizeof buf);
		assert_true(need > 0);
		assert_int_equal(encs[i](&fx_ctx, &s, buf, (size_t)need), need);   /* exact fit */
		assert_int_equal(fx_check_enospc(encs[i], &s, (size_t)need), 0);
	}
}

typedef int (*decode_fn)(const struct fb_codec_ctx *c, const struct fb_model *m,
                         const uint8_t *buf, size_t len, struct fb_command *out, size_t max);

static int dec(decode_fn fn, const char *text, struct fb_command *out, size_t max)
{
	return fn(&fx_ctx, &fx_model, (const uint8_t *)text, strlen(text), out, max);
}

static void test_json_commands(void **state)
{
	struct fb_command c[4];
	assert_int_equal(dec(fb_json_decode_command, "{\"dimmingLevel\":50}", c, 4), 1);
	assert_string_equal(c[0].field, "dimmingLevel");
	assert_true(c[0].value == 50);
	assert_int_equal(dec(fb_json_decode_command,
	                     "{\"mode\":\"off\",\"on\":false,\"dimmingLevel\":0.0}", c, 4), 3);
	assert_string_equal(c[0].field, "mode");
	assert_true(c[0].value == 2);
	assert_string_equal(c[1].field, "on");
	assert_true(c[1].value == 0);
	assert_true(c[2].value == 0);
	assert_int_equal(dec(fb_json_decode_command, "{}", c, 4), 0);
	assert_int_equal(dec(fb_json_decode_command, "{", c, 4), FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_json_decode_command, "", c, 4), FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_json_decode_command, "[{\"on\":true}]", c, 4), FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_json_decode_command, "{\"dimmingLevel\":null}", c, 4), FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_json_decode_command, "{\"dimmingLevel\":{}}", c, 4), FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_json_decode_command, "{\"dimmingLevel\":\"high\"}", c, 4),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_json_decode_command, "{\"nope\":1}", c, 4), FB_CODEC_EFIELD);
	assert_int_equal(dec(fb_json_decode_command, "{\"LAeq\":50}", c, 4), FB_CODEC_EFIELD);
	assert_int_equal(dec(fb_json_decode_command, "{\"dimmingLevel\":101}", c, 4), FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_json_decode_command, "{\"dimmingLevel\":-1}", c, 4), FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_json_decode_command, "{\"dimmingLevel\":50.5}", c, 4), FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_json_decode_command, "{\"mode\":\"disco\"}", c, 4), FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_json_decode_command, "{\"on\":2}", c, 4), FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_json_decode_command, "{\"on\":true,\"on\":false}", c, 4),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_json_decode_command, "{\"on\":true,\"mode\":\"off\"}", c, 1),
	                 FB_CODEC_ENOSPC);
	/* a key with an embedded NUL is not the field before the NUL (jansson rejects it) */
	const char nul[] = "{\"on\\u0000x\":true}";
	assert_int_equal(fb_json_decode_command(&fx_ctx, &fx_model, (const uint8_t *)nul,
	                                        sizeof nul - 1, c, 4), FB_CODEC_EINVAL);
	/* the fiware-json codec takes the same commands */
	assert_int_equal(fb_fiware_json_codec.decode_command(&fx_ctx, &fx_model,
	                 (const uint8_t *)"{\"dimmingLevel\":20}", 19, c, 4), 1);
}

static void test_senml_commands(void **state)
{
	struct fb_command c[4];
	assert_int_equal(dec(fb_senml_decode_command, "[{\"n\":\"dimmingLevel\",\"v\":50}]", c, 4), 1);
	assert_string_equal(c[0].field, "dimmingLevel");
	assert_int_equal(dec(fb_senml_decode_command,
	                     "[{\"bn\":\"testlight-000042:\",\"n\":\"on\",\"vb\":true},"
	                     "{\"n\":\"mode\",\"vs\":\"auto\"}]", c, 4), 2);
	assert_string_equal(c[0].field, "on");
	assert_true(c[0].value == 1);
	assert_string_equal(c[1].field, "mode");
	assert_true(c[1].value == 0);
	assert_int_equal(dec(fb_senml_decode_command, "{\"n\":\"on\",\"vb\":true}", c, 4),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_senml_decode_command, "[{\"n\":\"on\",\"vb\":true,\"v\":1}]", c, 4),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_senml_decode_command, "[{\"n\":\"on\",\"vb\":1}]", c, 4),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_senml_decode_command,
	                     "[{\"bn\":\"other-000001:\",\"n\":\"on\",\"vb\":true}]", c, 4),
	                 FB_CODEC_EFIELD);
	assert_int_equal(dec(fb_senml_decode_command, "[{\"n\":\"count\",\"v\":1}]", c, 4),
	                 FB_CODEC_EFIELD);
	assert_int_equal(dec(fb_senml_decode_command, "[{\"n\":\"dimmingLevel\",\"v\":1000}]", c, 4),
	                 FB_CODEC_ERANGE);
}

static void test_ul_commands(void **state)
{
	struct fb_command c[2];
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel|50", c, 2), 1);
	assert_string_equal(c[0].field, "dimmingLevel");
	assert_true(c[0].value == 50);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@mode|off", c, 2), 1);
	assert_true(c[0].value == 2);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@on|true", c, 2), 1);
	assert_true(c[0].value == 1);
	assert_int_equal(dec(fb_ul_decode_command, "other-000001@dimmingLevel|50", c, 2),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel|", c, 2),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel", c, 2),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042dimmingLevel|5", c, 2),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel|0x10", c, 2),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel|5|6", c, 2),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel|nan", c, 2),
	                 FB_CODEC_EINVAL);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel|1e3", c, 2),
	                 FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@dimmingLevel|1e999", c, 2),
	                 FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@LAeq|60", c, 2),
	                 FB_CODEC_EFIELD);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@mode|disco", c, 2),
	                 FB_CODEC_ERANGE);
	assert_int_equal(dec(fb_ul_decode_command, "testlight-000042@on|true", c, 0),
	                 FB_CODEC_ENOSPC);
}

/* Garbage never crashes a decoder (the sanitizer build holds the "never reads out of bounds"
 * part) and gives a clean negative error or a count within max. */
static void test_garbage_commands(void **state)
{
	uint8_t buf[96];
	struct fb_command c[4];
	uint32_t x = 12345;
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)(round % 96);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = (uint8_t)(x >> 16);
		}
		if (round % 3 == 1 && len > 2) {   /* plausible prefixes reach deeper code */
			memcpy(buf, "{\"", 2);
		} else if (round % 3 == 2 && len > 17) {
			memcpy(buf, "testlight-000042@", 17);
		}
		for (size_t k = 0; fb_codecs[k]; k++) {
			if (!fb_codecs[k]->decode_command)
				continue;
			int n = fb_codecs[k]->decode_command(&fx_ctx, &fx_model, buf, len, c, 4);
			assert_true(n >= FB_CODEC_ERANGE && n <= 4);
		}
	}
}

static void test_registry(void **state)
{
	const char *names[] = {"json", "senml", "ul", "fiware-json", "sparkplug", "lpp", "binary"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const struct fb_codec *c = fb_codec_find(names[i]);
		assert_non_null(c);
		assert_string_equal(c->name, names[i]);
		assert_non_null(c->encode);
		assert_non_null(c->content_type);
	}
	assert_null(fb_codec_find("xml"));
	assert_null(fb_codec_find(NULL));
	assert_string_equal(fb_codec_find("senml")->content_type, "application/senml+json");
	assert_string_equal(fb_codec_strerror(FB_CODEC_ENOSPC), "buffer too small");
	assert_string_equal(fb_codec_strerror(FB_CODEC_ERANGE), "value out of the field's range");
	assert_string_equal(fb_codec_strerror(-99), "unknown codec error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_number_format),
		cmocka_unit_test(test_json_exact),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_senml_exact),
		cmocka_unit_test(test_ul_exact),
		cmocka_unit_test(test_fiware_json_exact),
		cmocka_unit_test(test_fiware_topics),
		cmocka_unit_test(test_enospc_every_size),
		cmocka_unit_test(test_json_commands),
		cmocka_unit_test(test_senml_commands),
		cmocka_unit_test(test_ul_commands),
		cmocka_unit_test(test_garbage_commands),
		cmocka_unit_test(test_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
