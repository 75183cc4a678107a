/* decode_sample of the MQTT codecs (json, senml, ul, fiware-json, sparkplug): every built-in type
 * and random samples survive encode -> decode within the decoded tolerance, with the id, seq and
 * time each codec carries; malformed payloads (truncated, bad syntax, wrong types, unknown keys,
 * garbage) are errors of the documented kind and never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "protocols/codec.h"
#include "protocols/codecs/dec.h"
#include "protocols/codecs/sparkplug.h"
#include "protocols/codecs/tests/fixture.h"
#include "sim/model.h"

static const char *const mqtt_codecs[] = { "json", "senml", "ul", "fiware-json", "sparkplug", NULL };

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void)
{
	/* xorshift64*: the test's own reproducible stream */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static double uniform(double lo, double hi)
{
	return lo + (hi - lo) * ((double)(next_u64() >> 11) / 9007199254740992.0);
}

/* A random sample of model m: every field within range, quantized as the engine does. */
static void random_values(const struct fb_model *m, double *v)
{
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		switch (f->kind) {
		case FB_FIELD_BOOL:
			v[i] = (double)(next_u64() & 1);
			break;
		case FB_FIELD_ENUM: {
			unsigned n = 0;
			while (f->enum_names[n])
				n++;
			v[i] = (double)(next_u64() % n);
			break;
		}
		default: {
			/* the extremes matter as much as the middle */
			uint64_t pick = next_u64() % 8;
			double x = pick == 0 ? f->min : pick == 1 ? f->max : uniform(f->min, f->max);
			v[i] = fb_field_quantize(f, x);
			break;
		}
		}
	}
}

static void check_round_trip(const struct fb_codec *codec, const struct fb_model *m,
                             const struct fb_sample *s, const char *id)
{
	struct fb_codec_ctx ctx = { .device_id = id, .site_id = "euromed", .apikey = "amp" };
	uint8_t buf[4096];
	ssize_t n = codec->encode(&ctx, s, buf, sizeof buf);
	assert_true(n > 0);
	struct fb_decoded d;
	int rc = codec->decode_sample(&ctx, m, buf, (size_t)n, &d);
	if (rc != 0)
		fail_msg("%s/%s: decode of '%.*s' gave %d", codec->name, m->name, (int)n, buf, rc);
	/* every field present, each within the tolerance, which is at most the printed step */
	assert_int_equal(d.present, m->nfields == 64 ? ~0ull : (1ull << m->nfields) - 1);
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		double tol = d.tolerance[i];
		assert_true(tol >= (f->resolution > 0 ? f->resolution / 2 : 0));
		if (fabs(d.values[i] - s->values[i]) > tol)
			fail_msg("%s/%s: field '%s' sent %.17g got %.17g (tolerance %g)", codec->name, m->name,
			         f->name, s->values[i], d.values[i], tol);
		if (f->kind != FB_FIELD_NUMBER)   /* integers, booleans, enums: exact */
			assert_true(d.values[i] == s->values[i]);
	}
	/* the identity the bench reads back: the scheduled time to the millisecond */
	assert_true(d.ts != FB_TIME_NEVER);
	assert_int_equal(d.ts / 1000, s->t / 1000);
	if (!strcmp(codec->name, "json")) {
		assert_int_equal(d.seq, s->seq);
		assert_string_equal(d.device, id);
	} else {
		assert_int_equal(d.seq, -1);
		if (!strcmp(codec->name, "senml"))
			assert_string_equal(d.device, id);
		else
			assert_string_equal(d.device, "");
	}
}

static void test_round_trip_every_type(void **state)
{
	(void)state;
	double values[FB_MAX_FIELDS];
	char id[64];
	unsigned types = 0;
	for (size_t k = 0; fb_builtin_models[k]; k++) {
		const struct fb_model *m = fb_builtin_models[k];
		types++;
		for (int round = 0; round < 200; round++) {
			random_values(m, values);
			uint32_t dev = (uint32_t)(next_u64() % 2000000);
			fb_device_id(m, dev, id, sizeof id);
			/* whole seconds and odd milliseconds, before and after 2038 */
			fb_time_us t = (fb_time_us)(1780000000 + next_u64() % 1000000000) * FB_US_PER_S +
			               (round % 2 ? (fb_time_us)(next_u64() % 1000) * 1000 : 0);
			struct fb_sample s = { .model = m, .device = dev, .seq = (uint32_t)next_u64(), .t = t,
			                       .values = values };
			for (size_t c = 0; mqtt_codecs[c]; c++) {
				const struct fb_codec *codec = fb_codec_find(mqtt_codecs[c]);
				assert_non_null(codec);
				assert_non_null(codec->decode_sample);
				check_round_trip(codec, m, &s, id);
			}
		}
	}
	assert_true(types >= 6);
	/* and the fixture's model, with every field kind in one table */
	struct fb_sample s = fx_sample();
	for (size_t c = 0; mqtt_codecs[c]; c++)
		check_round_trip(fb_codec_find(mqtt_codecs[c]), &fx_model, &s, "testlight-000042");
}

static int decode(const char *codec, const char *text)
{
	struct fb_decoded d;
	return fb_codec_find(codec)->decode_sample(&fx_ctx, &fx_model, (const uint8_t *)text,
	                                           strlen(text), &d);
}

/* The exact values of one known payload per codec (not only through our own encoder). */
static void test_known_payloads(void **state)
{
	(void)state;
	struct fb_decoded d;
	const char *j = " {\"id\":\"testlight-000042\", \"type\":\"Streetlight\",\"seq\":25,"
	                "\"ts\":\"2026-06-01T08:15:00.250+02:00\",\"LAeq\":62.3,\"count\":12345,"
	                "\"on\":false,\"mode\":\"off\"}\n";
	assert_int_equal(fb_codec_find("json")->decode_sample(&fx_ctx, &fx_model, (const uint8_t *)j,
	                                                       strlen(j), &d), 0);
	assert_string_equal(d.device, "testlight-000042");
	assert_int_equal(d.seq, 25);
	assert_int_equal(d.ts, FX_T_US);
	assert_int_equal(d.present, 1 | 4 | 8 | 16);   /* temperature and dimmingLevel absent */
	assert_true(d.values[0] == 62.3 && d.values[2] == 12345 && d.values[3] == 0 && d.values[4] == 2);
	assert_true(fabs(d.tolerance[0] - 0.05) < 1e-12);
	assert_true(fabs(d.tolerance[1] - 0.25) < 1e-12);   /* resolution 0.5 printed "-3.5" */
	assert_true(d.tolerance[2] == 0.5);

	const char *sm = "[{\"bn\":\"testlight-000042:\",\"bt\":1780294500.25,\"bver\":10,"
	                 "\"n\":\"LAeq\",\"u\":\"dB\",\"v\":6.23e1},{\"n\":\"on\",\"vb\":true},"
	                 "{\"n\":\"mode\",\"vs\":\"auto\",\"t\":0}]";
	assert_int_equal(fb_codec_find("senml")->decode_sample(&fx_ctx, &fx_model, (const uint8_t *)sm,
	                                                        strlen(sm), &d), 0);
	assert_string_equal(d.device, "testlight-000042");
	assert_int_equal(d.ts, FX_T_US);
	assert_int_equal(d.present, 1 | 8 | 16);
	assert_true(d.values[0] == 62.3 && d.values[3] == 1 && d.values[4] == 0);

	const char *ul = "2026-06-01T06:15:00.250Z|count|7|mode|manual|temperature|-0.5";
	assert_int_equal(fb_codec_find("ul")->decode_sample(&fx_ctx, &fx_model, (const uint8_t *)ul,
	                                                     strlen(ul), &d), 0);
	assert_int_equal(d.ts, FX_T_US);
	assert_int_equal(d.present, 2 | 4 | 16);
	assert_true(d.values[1] == -0.5 && d.values[2] == 7 && d.values[4] == 1);
	/* no timestamp: pairs only */
	assert_int_equal(decode("ul", "count|7"), 0);

	const char *fj = "{\"TimeInstant\":\"2026-06-01T06:15:00.250Z\",\"dimmingLevel\":40}";
	assert_int_equal(fb_codec_find("fiware-json")->decode_sample(&fx_ctx, &fx_model,
	                 (const uint8_t *)fj, strlen(fj), &d), 0);
	assert_int_equal(d.ts, FX_T_US);
	assert_int_equal(d.present, 32);
	assert_true(d.values[5] == 40);
}

static void test_sparkplug_deltas_and_aliases(void **state)
{
	(void)state;
	struct fb_sample s = fx_sample();
	uint8_t buf[1024];
	struct fb_decoded d;
	/* a DBIRTH names every metric with its alias: the base is learnt */
	uint64_t base = FB_SPB_NO_ALIAS;
	ssize_t n = fb_spb_dbirth(&s, 3, 0x300, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(fb_spb_decode_data(&fx_model, &base, buf, (size_t)n, &d), 0);
	assert_int_equal(base, 0x300);
	assert_int_equal(d.present, 63);
	/* a DDATA by alias only, with the fields that changed */
	double prev[6];
	memcpy(prev, fx_values, sizeof prev);
	prev[0] = 60;
	prev[5] = 10;
	n = fb_spb_ddata(&s, prev, 4, 0x300, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(fb_spb_decode_data(&fx_model, &base, buf, (size_t)n, &d), 0);
	assert_int_equal(d.present, 1 | 32);
	assert_true(d.values[0] == 62.3 && d.values[5] == 50);
	assert_int_equal(d.ts, FX_T_US / 1000 * 1000);
	/* without the birth, aliases mean nothing: unknown metrics */
	uint64_t none = FB_SPB_NO_ALIAS;
	assert_int_equal(fb_spb_decode_data(&fx_model, &none, buf, (size_t)n, &d), FB_CODEC_EFIELD);
	/* NBIRTH's node metrics are not fields of a device */
	n = fb_spb_nbirth(1, FX_T_US, 0, buf, sizeof buf);
	assert_int_equal(fb_spb_decode_data(&fx_model, NULL, buf, (size_t)n, &d), FB_CODEC_EFIELD);
}

static void test_malformed(void **state)
{
	(void)state;
	/* json */
	assert_int_equal(decode("json", ""), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "[]"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":62.3"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":62.3,}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":62.3} x"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":62.3,\"LAeq\":62.4}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":\"62.3\"}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":01}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":NaN}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":1e999}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"on\":1}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"on\":null}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"mode\":2}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"mode\":\"dim\"}"), FB_CODEC_ERANGE);
	assert_int_equal(decode("json", "{\"seq\":-1}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"seq\":1.5}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"ts\":\"yesterday\"}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"ts\":1780294500}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"id\":42}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"id\":\"a\\u0000b\"}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"LAeq\":62.3,\"humidity\":40}"), FB_CODEC_EFIELD);
	assert_int_equal(decode("json", "{\"humidity\":{\"v\":[1,{\"a\":\"]\"}]}}"), FB_CODEC_EFIELD);
	assert_int_equal(decode("json", "{\"humidity\":{\"v\":[1}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("json", "{\"type\":\"WasteContainer\"}"), FB_CODEC_EFIELD);
	assert_int_equal(decode("json", "{\"TimeInstant\":\"2026-06-01T06:15:00Z\"}"), FB_CODEC_EFIELD);
	assert_int_equal(decode("json", "{\"LAeq\":62.3,\"mode\":\"auto\"}"), 0);
	/* fiware-json: its own meta key only */
	assert_int_equal(decode("fiware-json", "{\"id\":\"x\"}"), FB_CODEC_EFIELD);
	assert_int_equal(decode("fiware-json", "{\"TimeInstant\":5}"), FB_CODEC_EINVAL);
	/* senml */
	assert_int_equal(decode("senml", "{}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[]"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"n\":\"LAeq\",\"v\":1,\"vb\":true}]"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"n\":\"on\",\"v\":1}]"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"n\":\"LAeq\",\"u\":\"Cel\",\"v\":1}]"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"n\":\"LAeq\"}]"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"n\":\"LAeq\",\"v\":1,\"t\":1},{\"n\":\"count\",\"v\":2}]"),
	                 FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"bn\":\"a:\",\"n\":\"LAeq\",\"v\":1},"
	                                 "{\"bn\":\"b:\",\"n\":\"count\",\"v\":2}]"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"n\":\"LAeq\",\"v\":1,\"s\":3}]"), FB_CODEC_EFIELD);
	assert_int_equal(decode("senml", "[{\"n\":\"x:humidity\",\"v\":1}]"), FB_CODEC_EFIELD);
	assert_int_equal(decode("senml", "[{\"n\":\"LAeq\",\"v\":1}"), FB_CODEC_EINVAL);
	assert_int_equal(decode("senml", "[{\"bn\":\"x:\",\"bt\":5}]"), 0);   /* base fields only */
	/* ul */
	assert_int_equal(decode("ul", ""), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "LAeq"), FB_CODEC_EINVAL);
	/* two tokens are a pair: the time would be a field name */
	assert_int_equal(decode("ul", "2026-06-01T06:15:00Z|LAeq"), FB_CODEC_EFIELD);
	assert_int_equal(decode("ul", "LAeq|62.3|count"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "LAeq|"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "|5"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "LAeq|abc"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "LAeq|0x10"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "on|1"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "mode|dim"), FB_CODEC_ERANGE);
	assert_int_equal(decode("ul", "LAeq|1|LAeq|2"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "LAeq|1#count|2"), FB_CODEC_EINVAL);
	assert_int_equal(decode("ul", "humidity|40"), FB_CODEC_EFIELD);
	/* sparkplug: not a payload, wrong value types */
	assert_int_equal(decode("sparkplug", "\xff\xff\xff"), FB_CODEC_EINVAL);
	struct fb_sample s = fx_sample();
	struct fb_field fields[6];
	memcpy(fields, fx_fields, sizeof fields);
	fields[3].kind = FB_FIELD_NUMBER;   /* "on" sent as a Double */
	fields[3].resolution = 1;
	struct fb_model other = fx_model;
	other.fields = fields;
	s.model = &other;
	uint8_t buf[1024];
	ssize_t n = fb_spb_ddata(&s, NULL, 0, FB_SPB_NO_ALIAS, buf, sizeof buf);
	struct fb_decoded d;
	assert_int_equal(fb_spb_decode_data(&fx_model, NULL, buf, (size_t)n, &d), FB_CODEC_EINVAL);
}

/* A value its field cannot hold (an enum name the field does not have) is a soft error: the
 * SenML and Sparkplug decoders still return every other field, and FB_CODEC_ERANGE; a malformed
 * record after it still stops the decode. */
static void test_out_of_range_is_soft(void **state)
{
	(void)state;
	struct fb_decoded d;
	const char *pack = "[{\"n\":\"mode\",\"vs\":\"dim\"},{\"n\":\"LAeq\",\"v\":62.3}]";
	assert_int_equal(fb_codec_find("senml")->decode_sample(&fx_ctx, &fx_model, (const uint8_t *)pack,
	                                                       strlen(pack), &d), FB_CODEC_ERANGE);
	assert_int_equal(d.present, 1ull << 0);          /* LAeq, not mode */
	assert_float_equal(d.values[0], 62.3, 1e-9);
	assert_int_equal(decode("senml", "[{\"n\":\"mode\",\"vs\":\"dim\"},{\"n\":\"on\",\"v\":1}]"),
	                 FB_CODEC_EINVAL);

	/* a DDATA whose mode is a name of another table, "dim" */
	static const char *const modes[] = {"auto", "manual", "dim", NULL};
	struct fb_field fields[6];
	memcpy(fields, fx_fields, sizeof fields);
	fields[4].enum_names = modes;
	struct fb_model other = fx_model;
	other.fields = fields;
	double values[6];
	memcpy(values, fx_values, sizeof values);
	values[4] = 2;
	struct fb_sample s = fx_sample();
	s.model = &other;
	s.values = values;
	uint8_t buf[1024];
	ssize_t n = fb_spb_ddata(&s, NULL, 0, FB_SPB_NO_ALIAS, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(fb_spb_decode_data(&fx_model, NULL, buf, (size_t)n, &d), FB_CODEC_ERANGE);
	assert_int_equal(d.present, 0x3full & ~(1ull << 4));   /* every field but mode */
	assert_float_equal(d.values[5], 50, 1e-9);
}

/* Every prefix of a valid payload, random garbage and random byte flips: errors where the format
 * makes a prefix invalid (JSON, SenML), never a crash, never a bit beyond the model's fields. */
static void test_truncated_and_garbage(void **state)
{
	(void)state;
	struct fb_sample s = fx_sample();
	uint8_t buf[2048], junk[512];
	struct fb_decoded d;
	for (size_t c = 0; mqtt_codecs[c]; c++) {
		const struct fb_codec *codec = fb_codec_find(mqtt_codecs[c]);
		ssize_t n = codec->encode(&fx_ctx, &s, buf, sizeof buf);
		assert_true(n > 0);
		bool json_like = strcmp(codec->name, "ul") && strcmp(codec->name, "sparkplug");
		for (ssize_t k = 0; k < n; k++) {
			int rc = codec->decode_sample(&fx_ctx, &fx_model, buf, (size_t)k, &d);
			if (json_like)
				assert_true(rc < 0);
			else
				assert_true(rc < 0 || (d.present & ~63ull) == 0);
		}
		for (int round = 0; round < 3000; round++) {
			size_t len = (size_t)(next_u64() % sizeof junk);
			for (size_t i = 0; i < len; i++)
				junk[i] = (uint8_t)next_u64();
			int rc = codec->decode_sample(&fx_ctx, &fx_model, junk, len, &d);
			if (strcmp(codec->name, "sparkplug"))
				assert_true(rc < 0);   /* text formats: random bytes never parse */
			else
				assert_true(rc < 0 || (d.present & ~63ull) == 0);
			/* one flipped byte of a valid payload */
			memcpy(junk, buf, (size_t)n);
			junk[next_u64() % (uint64_t)n] ^= (uint8_t)(1 + next_u64() % 255);
			rc = codec->decode_sample(&fx_ctx, &fx_model, junk, (size_t)n, &d);
			assert_true(rc <= 0 && (rc < 0 || (d.present & ~63ull) == 0));
		}
	}
}

/* The scanner's numbers equal strtod's, bit for bit (its fast path included). */
static void test_numbers_as_strtod(void **state)
{
	(void)state;
	char text[64];
	for (int i = 0; i < 200000; i++) {
		double x = uniform(-1e7, 1e7);
		int decimals = (int)(next_u64() % 10);
		switch (i % 4) {
		case 0: snprintf(text, sizeof text, "%.*f", decimals, x); break;
		case 1: snprintf(text, sizeof text, "%.*e", decimals + 5, x); break;
		case 2: snprintf(text, sizeof text, "%.17g", x / 1e9); break;
		default: snprintf(text, sizeof text, "%.*f", 15, x / 1e7); break;
		}
		double got;
		assert_int_equal(fb_dec_number(text, strlen(text), &got), 0);
		double want = strtod(text, NULL);
		if (memcmp(&got, &want, sizeof got))
			fail_msg("'%s': %.17g, strtod %.17g", text, got, want);
	}
	double z;
	assert_int_equal(fb_dec_number("-0.0", 4, &z), 0);
	assert_true(z == 0 && signbit(z));
	assert_int_equal(fb_dec_number("+1", 2, &z), FB_CODEC_EINVAL);
	assert_int_equal(fb_dec_number("1.", 2, &z), FB_CODEC_EINVAL);
	assert_int_equal(fb_dec_number(".5", 2, &z), FB_CODEC_EINVAL);
	assert_int_equal(fb_dec_number("0x10", 4, &z), FB_CODEC_EINVAL);
	assert_int_equal(fb_dec_number("inf", 3, &z), FB_CODEC_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers_as_strtod),
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_known_payloads),
		cmocka_unit_test(test_sparkplug_deltas_and_aliases),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_out_of_range_is_soft),
		cmocka_unit_test(test_truncated_and_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
