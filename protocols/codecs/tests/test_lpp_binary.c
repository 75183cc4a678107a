/* Cayenne LPP and the per-type binary codec: byte-exact frames, published LPP vectors, round
 * trips, ENOSPC at every size, downlink commands, the generated JavaScript decoders.
 * With FB_BINARY_ORACLE_DIR set, also writes frames and their expected values for
 * binary_decoders.sh, which runs the committed protocols/lorawan/decoders/<type>.js in node.
 * With FB_BINARY_WRITE_DECODERS set to a folder, (re)writes <type>.js there for every built-in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include "protocols/codecs/binary.h"
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/lpp.h"
#include "protocols/codecs/tests/fixture.h"

static void expect_bytes(ssize_t n, const uint8_t *got, const uint8_t *want, size_t wlen)
{
	assert_int_equal(n, (ssize_t)wlen);
	assert_memory_equal(got, want, wlen);
}

static void test_lpp_exact(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[64];
	static const uint8_t want[] = {
		0x01, 0x02, 0x18, 0x56,   /* LAeq 62.3 dB(A): analog_in, 6230 x 0.01 */
		0x02, 0x67, 0xff, 0xdd,   /* temperature -3.5 °C: temperature, -35 x 0.1 */
		0x03, 0x02, 0x7f, 0xff,   /* count 12345, range 0..100000: analog_in, saturated */
		0x04, 0x00, 0x01,         /* on: digital_in 1 */
		0x05, 0x00, 0x01,         /* mode manual: digital_in, index 1 */
		0x06, 0x00, 0x32,         /* dimmingLevel 50 (0..100): digital_in */
	};
	expect_bytes(fb_lpp_encode(&fx_ctx, &s, buf, sizeof buf), buf, want, sizeof want);
	assert_string_equal(fb_lpp_key(fb_lpp_type_of(&fx_fields[1])), "temperature");
	struct fb_field rh = {.name = "h", .unit = "%RH", .kind = FB_FIELD_NUMBER, .max = 100,
	                      .resolution = 0.5};
	assert_int_equal(fb_lpp_type_of(&rh), FB_LPP_HUMIDITY);
	struct fb_field lux = {.name = "l", .unit = "lux", .kind = FB_FIELD_NUMBER, .max = 60000};
	assert_int_equal(fb_lpp_type_of(&lux), FB_LPP_ILLUMINANCE);
	struct fb_field cnt = {.name = "c", .kind = FB_FIELD_INTEGER, .max = 5000};
	assert_int_equal(fb_lpp_type_of(&cnt), FB_LPP_ILLUMINANCE);
	assert_int_equal(fx_check_enospc(fb_lpp_encode, &s, sizeof want), 0);
}

/* The Things Stack documentation's vector: 03 67 01 10 05 67 00 FF is temperature_3 = 27.2 and
 * temperature_5 = 25.5. */
static void test_lpp_published_vector(void **state)
{
	static const struct fb_field t5[] = {
		{.name = "t1", .unit = "°C", .kind = FB_FIELD_NUMBER, .min = -40, .max = 85, .resolution = 0.1},
		{.name = "t2", .unit = "°C", .kind = FB_FIELD_NUMBER, .min = -40, .max = 85, .resolution = 0.1},
		{.name = "t3", .unit = "°C", .kind = FB_FIELD_NUMBER, .min = -40, .max = 85, .resolution = 0.1},
		{.name = "t4", .unit = "°C", .kind = FB_FIELD_NUMBER, .min = -40, .max = 85, .resolution = 0.1},
		{.name = "t5", .unit = "°C", .kind = FB_FIELD_NUMBER, .min = -40, .max = 85, .resolution = 0.1},
	};
	static const struct fb_model m = {.name = "t5", .fields = t5, .nfields = 5};
	static const uint8_t vec[] = {0x03, 0x67, 0x01, 0x10, 0x05, 0x67, 0x00, 0xff};
	double v[5] = {0};
	assert_int_equal(fb_lpp_decode(&m, vec, sizeof vec, v), 0);
	assert_true(fabs(v[2] - 27.2) < 1e-9);
	assert_true(fabs(v[4] - 25.5) < 1e-9);
	double in[5] = {0, 0, 27.2, 0, 25.5};
	struct fb_sample s = {.model = &m, .values = in};
	uint8_t buf[32];
	assert_int_equal(fb_lpp_encode(&fx_ctx, &s, buf, sizeof buf), 20);
	assert_memory_equal(buf + 8, vec, 4);
	assert_memory_equal(buf + 16, vec + 4, 4);
	/* malformed frames */
	static const uint8_t trunc[] = {0x03, 0x67, 0x01};
	assert_int_equal(fb_lpp_decode(&m, trunc, sizeof trunc, v), FB_CODEC_EINVAL);
	static const uint8_t twice[] = {0x03, 0x67, 0x01, 0x10, 0x03, 0x67, 0x01, 0x10};
	assert_int_equal(fb_lpp_decode(&m, twice, sizeof twice, v), FB_CODEC_EINVAL);
	static const uint8_t badch[] = {0x09, 0x67, 0x01, 0x10};
	assert_int_equal(fb_lpp_decode(&m, badch, sizeof badch, v), FB_CODEC_EINVAL);
}

static void test_lpp_commands(void **state)
{
	struct fb_command c[4];
	static const uint8_t dim[] = {0x06, 0x13, 0x88};   /* channel 6 = 50.00 */
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, dim, sizeof dim, c, 4), 1);
	assert_string_equal(c[0].field, "dimmingLevel");
	assert_true(c[0].value == 50);
	static const uint8_t two[] = {0x06, 0x00, 0x00, 0x04, 0x00, 0x64};   /* 0, on = 1.00 */
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, two, sizeof two, c, 4), 2);
	assert_true(c[1].value == 1);
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, two, sizeof two, c, 1),
	                 FB_CODEC_ENOSPC);
	static const uint8_t ro[] = {0x01, 0x00, 0x64};
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, ro, sizeof ro, c, 4), FB_CODEC_EFIELD);
	static const uint8_t nofield[] = {0x07, 0x00, 0x64};
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, nofield, 3, c, 4), FB_CODEC_EFIELD);
	static const uint8_t over[] = {0x06, 0x27, 0x74};   /* 101.00 */
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, over, 3, c, 4), FB_CODEC_ERANGE);
	static const uint8_t frac[] = {0x06, 0x00, 0x05};   /* 0.05: not a whole level */
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, frac, 3, c, 4), FB_CODEC_ERANGE);
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, dim, 2, c, 4), FB_CODEC_EINVAL);
	assert_int_equal(fb_lpp_decode_command(&fx_ctx, &fx_model, dim, 0, c, 4), FB_CODEC_EINVAL);
}

static void test_binary_exact(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[64];
	static const uint8_t want[] = {
		0x01,               /* format version */
		0x02, 0x6f,         /* LAeq 623 x 0.1, [300, 1300]: u16 */
		0xff, 0xf9,         /* temperature -7 x 0.5, [-80, 170]: s16 */
		0x00, 0x30, 0x39,   /* count 12345, [0, 100000]: u24 */
		0x01,               /* on */
		0x01,               /* mode manual */
		0x32,               /* dimmingLevel 50, [0, 100]: u8 */
	};
	expect_bytes(fb_binary_encode(&fx_ctx, &s, buf, sizeof buf), buf, want, sizeof want);
	assert_int_equal(fb_binary_size(&fx_model), sizeof want);
	double v[6];
	assert_int_equal(fb_binary_decode(&fx_model, buf, sizeof want, v), 0);
	for (int i = 0; i < 6; i++)
		assert_true(v[i] == fx_values[i]);
	assert_int_equal(fb_binary_decode(&fx_model, buf, sizeof want - 1, v), FB_CODEC_EINVAL);
	buf[0] = 2;
	assert_int_equal(fb_binary_decode(&fx_model, buf, sizeof want, v), FB_CODEC_EINVAL);
	assert_int_equal(fx_check_enospc(fb_binary_encode, &s, sizeof want), 0);
	/* out-of-range values saturate instead of wrapping */
	double wild[6] = {500, -1000, -5, 1, 7, 1000};
	s.values = wild;
	assert_int_equal(fb_binary_encode(&fx_ctx, &s, buf, sizeof buf), (ssize_t)sizeof want);
	static const uint8_t sat[] = {0x01, 0x05, 0x14, 0xff, 0xb0, 0x00, 0x00, 0x00, 0x01, 0x07, 0x64};
	assert_memory_equal(buf, sat, sizeof sat);
}

static void test_binary_commands(void **state)
{
	struct fb_command c[4];
	static const uint8_t ok[] = {0x05, 0x32, 0x04, 0x02, 0x03, 0x00};
	assert_int_equal(fb_binary_decode_command(&fx_ctx, &fx_model, ok, sizeof ok, c, 4), 3);
	assert_string_equal(c[0].field, "dimmingLevel");
	assert_true(c[0].value == 50);
	assert_string_equal(c[1].field, "mode");
	assert_true(c[1].value == 2);
	assert_string_equal(c[2].field, "on");
	assert_true(c[2].value == 0);
	static const uint8_t ro[] = {0x00, 0x02, 0x6f};
	assert_int_equal(fb_binary_decode_command(&fx_ctx, &fx_model, ro, 3, c, 4), FB_CODEC_EFIELD);
	static const uint8_t nofield[] = {0x09, 0x00};
	assert_int_equal(fb_binary_decode_command(&fx_ctx, &fx_model, nofield, 2, c, 4),
	                 FB_CODEC_EFIELD);
	static const uint8_t trunc[] = {0x05};
	assert_int_equal(fb_binary_decode_command(&fx_ctx, &fx_model, trunc, 1, c, 4), FB_CODEC_EINVAL);
	static const uint8_t over[] = {0x05, 0x65};
	assert_int_equal(fb_binary_decode_command(&fx_ctx, &fx_model, over, 2, c, 4), FB_CODEC_ERANGE);
	static const uint8_t badenum[] = {0x04, 0x03};
	assert_int_equal(fb_binary_decode_command(&fx_ctx, &fx_model, badenum, 2, c, 4),
	                 FB_CODEC_ERANGE);
	assert_int_equal(fb_binary_decode_command(&fx_ctx, &fx_model, ok, sizeof ok, c, 2),
	                 FB_CODEC_ENOSPC);
}

static void test_js_decoder_text(void **state)
{
	static char js[16384];
	ssize_t n = fb_binary_js_decoder(&fx_model, js, sizeof js);
	assert_true(n > 0);
	assert_int_equal(strlen(js), (size_t)n);
	assert_non_null(strstr(js, "function decodeUplink(input)"));
	assert_non_null(strstr(js, "\t[\"LAeq\", \"number\", 2, false, 0.1, 1, null],\n"));
	assert_non_null(strstr(js, "\t[\"temperature\", \"number\", 2, true, 0.5, 1, null],\n"));
	assert_non_null(strstr(js, "\t[\"count\", \"integer\", 3, false, 1, 0, null],\n"));
	assert_non_null(strstr(js, "\t[\"mode\", \"enum\", 1, false, 1, 0, [\"auto\", \"manual\", \"off\"]],\n"));
	/* never past cap, at every size */
	static char small[16384];
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		memset(small, 'Z', sizeof small);
		assert_int_equal(fb_binary_js_decoder(&fx_model, small, cap), FB_CODEC_ENOSPC);
		for (size_t i = cap; i < (size_t)n + 8; i++)
			assert_int_equal(small[i], 'Z');
	}
	assert_int_equal(fb_binary_js_decoder(&fx_model, small, (size_t)n + 1), n);
}

/* The committed decoders are exactly what the generator writes for today's field tables. */
static void test_committed_decoders(void **state)
{
	static char js[65536], file[65536];
	const char *write_dir = getenv("FB_BINARY_WRITE_DECODERS");
	int checked = 0;
	for (size_t i = 0; fb_builtin_models[i]; i++) {
		const struct fb_model *m = fb_builtin_models[i];
		ssize_t n = fb_binary_js_decoder(m, js, sizeof js);
		assert_true(n > 0);
		char path[512];
		snprintf(path, sizeof path, "%s/%s.js", write_dir ? write_dir : "protocols/lorawan/decoders",
		         m->name);
		if (write_dir) {
			FILE *f = fopen(path, "w");
			assert_non_null(f);
			fwrite(js, 1, (size_t)n, f);
			fclose(f);
		}
		FILE *f = fopen(path, "r");
		if (!f)
			fail_msg("missing '%s': regenerate with FB_BINARY_WRITE_DECODERS=protocols/lorawan/decoders", path);
		size_t got = fread(file, 1, sizeof file, f);
		fclose(f);
		if (got != (size_t)n || memcmp(file, js, got) != 0)
			fail_msg("'%s' differs from the generated decoder: regenerate with "
			         "FB_BINARY_WRITE_DECODERS=protocols/lorawan/decoders", path);
		checked++;
	}
	assert_true(checked > 0);
}

/* ---- oracle cases: frames of in-range values for the fixture and every built-in type ---- */

static json_t *expected_value(const struct fb_field *f, double v)
{
	if (f->kind == FB_FIELD_BOOL)
		return json_boolean(v != 0);
	if (f->kind == FB_FIELD_ENUM)
		return json_string(f->enum_names[(int)v]);
	if (f->kind == FB_FIELD_INTEGER)
		return json_integer((json_int_t)v);
	char num[FB_CBUF_NUM_MAX];
	fb_cbuf_fmt_number(f, v, num);
	return json_real(strtod(num, NULL));   /* the decimal the trace prints, as a number */
}

static void add_model_cases(json_t *cases, const struct fb_model *m, const char *decoder,
                            uint32_t seed)
{
	json_t *frames = json_array();
	double v[FB_MAX_FIELDS];
	uint8_t buf[256];
	uint32_t x = seed;
	for (int k = 0; k < 40; k++) {
		json_t *data = json_object();
		for (unsigned i = 0; i < m->nfields; i++) {
			const struct fb_field *f = &m->fields[i];
			x = x * 1664525u + 1013904223u;
			double u = k == 0 ? 0 : k == 1 ? 1 : (x >> 8) / 16777216.0;   /* bounds first */
			if (f->kind == FB_FIELD_ENUM) {
				int n = 0;
				while (f->enum_names[n])
					n++;
				v[i] = floor(u * n) < n ? floor(u * n) : n - 1;
			} else if (f->kind == FB_FIELD_BOOL) {
				v[i] = u >= 0.5;
			} else {
				double step = f->kind == FB_FIELD_NUMBER && f->resolution > 0 ? f->resolution : 1;
				double lo = ceil(f->min / step - 1e-9), hi = floor(f->max / step + 1e-9);
				v[i] = (lo + nearbyint(u * (hi - lo))) * step;
			}
			json_object_set_new(data, f->name, expected_value(f, v[i]));
		}
		struct fb_sample s = {.model = m, .seq = (uint32_t)k, .values = v};
		ssize_t n = fb_binary_encode(&fx_ctx, &s, buf, sizeof buf);
		assert_true(n > 0);
		char hex[520];
		for (ssize_t i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x", buf[i]);
		json_t *fr = json_object();
		json_object_set_new(fr, "hex", json_string(hex));
		json_object_set_new(fr, "data", data);
		json_array_append_new(frames, fr);
	}
	json_t *c = json_object();
	json_object_set_new(c, "type", json_string(m->name));
	json_object_set_new(c, "decoder", json_string(decoder));
	json_object_set_new(c, "frames", frames);
	json_array_append_new(cases, c);
}

static void test_oracle_cases(void **state)
{
	const char *dir = getenv("FB_BINARY_ORACLE_DIR");
	if (!dir)
		return;   /* the unit run; binary_decoders.sh sets it */
	static char js[65536];
	char path[512];
	snprintf(path, sizeof path, "%s/testlight.js", dir);
	ssize_t n = fb_binary_js_decoder(&fx_model, js, sizeof js);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite(js, 1, (size_t)n, f);
	fclose(f);
	json_t *cases = json_array();
	add_model_cases(cases, &fx_model, path, 1);
	for (size_t i = 0; fb_builtin_models[i]; i++) {
		char dec[256];
		snprintf(dec, sizeof dec, "protocols/lorawan/decoders/%s.js", fb_builtin_models[i]->name);
		add_model_cases(cases, fb_builtin_models[i], dec, (uint32_t)i + 7);
	}
	snprintf(path, sizeof path, "%s/cases.json", dir);
	assert_int_equal(json_dump_file(cases, path, JSON_INDENT(1)), 0);
	json_decref(cases);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lpp_exact),
		cmocka_unit_test(test_lpp_published_vector),
		cmocka_unit_test(test_lpp_commands),
		cmocka_unit_test(test_binary_exact),
		cmocka_unit_test(test_binary_commands),
		cmocka_unit_test(test_js_decoder_text),
		cmocka_unit_test(test_committed_decoders),
		cmocka_unit_test(test_oracle_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
