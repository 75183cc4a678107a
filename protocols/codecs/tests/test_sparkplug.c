/* Sparkplug B payloads: byte-exact against hand-assembled protobuf (Sparkplug 3.0 §6.4 field
 * numbers), births/data/deaths, ENOSPC at every size, NCMD/DCMD decoding good and bad.
 * With FB_SPB_ORACLE_DIR set, also writes payloads (<name>.hex) and what they must decode to
 * (<name>.expect.json, built from the samples) for sparkplug_oracle.sh and the npm oracle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>
#include "protocols/codecs/sparkplug.h"
#include "protocols/codecs/tests/fixture.h"

#define T_1S (1000LL * 1000)   /* 1000 ms: varint e8 07 */

static void expect_bytes(ssize_t n, const uint8_t *got, const uint8_t *want, size_t wlen)
{
	assert_int_equal(n, (ssize_t)wlen);
	assert_memory_equal(got, want, wlen);
}

static const struct fb_field one_field[] = {
	{.name = "LAeq", .unit = "dB(A)", .kind = FB_FIELD_NUMBER, .min = 30, .max = 130,
	 .resolution = 0.1},
};
static const struct fb_model one_model = {.name = "one", .fields = one_field, .nfields = 1};

static void test_topics(void **state)
{
	char t[96];
	assert_int_equal(fb_spb_topic(t, sizeof t, "amp", FB_SPB_NBIRTH, "euromed", "x"), 26);
	assert_string_equal(t, "spBv1.0/amp/NBIRTH/euromed");
	fb_spb_topic(t, sizeof t, "amp", FB_SPB_DDATA, "euromed", "streetlight-000003");
	assert_string_equal(t, "spBv1.0/amp/DDATA/euromed/streetlight-000003");
	fb_spb_topic(t, sizeof t, "amp", FB_SPB_DCMD, "euromed", "d1");
	assert_string_equal(t, "spBv1.0/amp/DCMD/euromed/d1");
	fb_spb_topic(t, sizeof t, "amp", FB_SPB_NDEATH, "euromed", NULL);
	assert_string_equal(t, "spBv1.0/amp/NDEATH/euromed");
	assert_int_equal(fb_spb_topic(t, sizeof t, "amp", FB_SPB_DBIRTH, "e", NULL), FB_CODEC_EINVAL);
	assert_int_equal(fb_spb_topic(t, sizeof t, "a/b", FB_SPB_NCMD, "e", NULL), FB_CODEC_EINVAL);
	assert_int_equal(fb_spb_topic(t, sizeof t, "a", FB_SPB_NCMD, "e+", NULL), FB_CODEC_EINVAL);
	assert_int_equal(fb_spb_topic(t, sizeof t, "a", FB_SPB_NCMD, "", NULL), FB_CODEC_EINVAL);
	assert_int_equal(fb_spb_topic(t, 26, "amp", FB_SPB_NBIRTH, "euromed", NULL), FB_CODEC_ENOSPC);
	assert_string_equal(fb_spb_msg_name(FB_SPB_DDEATH), "DDEATH");
}

static void test_ndeath_exact(void **state)
{
	uint8_t buf[64];
	/* Payload.metrics(2) = Metric{name(1)="bdSeq", datatype(4)=8 UInt64, long_value(11)=3} */
	static const uint8_t want[] = {0x12, 0x0b, 0x0a, 0x05, 'b', 'd', 'S', 'e', 'q',
	                               0x20, 0x08, 0x58, 0x03};
	expect_bytes(fb_spb_ndeath(3, -1, buf, sizeof buf), buf, want, sizeof want);
	/* with a timestamp(1) = 1000 ms first */
	static const uint8_t want_ts[] = {0x08, 0xe8, 0x07, 0x12, 0x0b, 0x0a, 0x05, 'b', 'd', 'S',
	                                  'e', 'q', 0x20, 0x08, 0x58, 0x03};
	expect_bytes(fb_spb_ndeath(3, T_1S, buf, sizeof buf), buf, want_ts, sizeof want_ts);
}

static void test_nbirth_exact(void **state)
{
	uint8_t buf[128];
	static const uint8_t want[] = {
		0x08, 0xe8, 0x07,                                    /* timestamp 1000 */
		0x12, 0x0e, 0x0a, 0x05, 'b', 'd', 'S', 'e', 'q',     /* metric bdSeq */
		0x18, 0xe8, 0x07, 0x20, 0x08, 0x58, 0x00,            /*  ts, UInt64, long 0 */
		0x12, 0x1d, 0x0a, 0x14, 'N', 'o', 'd', 'e', ' ', 'C', 'o', 'n', 't', 'r', 'o', 'l', '/',
		'R', 'e', 'b', 'i', 'r', 't', 'h',
		0x18, 0xe8, 0x07, 0x20, 0x0b, 0x70, 0x00,            /*  ts, Boolean, false */
		0x18, 0x00,                                          /* seq 0 */
	};
	expect_bytes(fb_spb_nbirth(0, T_1S, 0, buf, sizeof buf), buf, want, sizeof want);
}

static void test_ddata_ddeath_exact(void **state)
{
	uint8_t buf[128];
	double v = 62.5;   /* 0x404F400000000000 */
	struct fb_sample s = {.model = &one_model, .t = T_1S, .values = &v};
	static const uint8_t want[] = {
		0x08, 0xe8, 0x07,
		0x12, 0x14, 0x0a, 0x04, 'L', 'A', 'e', 'q', 0x18, 0xe8, 0x07, 0x20, 0x0a,
		0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x4f, 0x40,   /* double_value(13), fixed64 */
		0x18, 0x07,
	};
	expect_bytes(fb_spb_ddata(&s, NULL, 7, FB_SPB_NO_ALIAS, buf, sizeof buf), buf, want,
	             sizeof want);
	/* aliased data: alias(2) = 256, no name */
	static const uint8_t want_alias[] = {
		0x08, 0xe8, 0x07,
		0x12, 0x11, 0x10, 0x80, 0x02, 0x18, 0xe8, 0x07, 0x20, 0x0a,
		0x69, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x4f, 0x40,
		0x18, 0x07,
	};
	expect_bytes(fb_spb_ddata(&s, NULL, 7, 256, buf, sizeof buf), buf, want_alias,
	             sizeof want_alias);
	/* unchanged: no metric at all */
	static const uint8_t want_none[] = {0x08, 0xe8, 0x07, 0x18, 0x08};
	expect_bytes(fb_spb_ddata(&s, &v, 8, 256, buf, sizeof buf), buf, want_none, sizeof want_none);
	static const uint8_t want_death[] = {0x08, 0xe8, 0x07, 0x18, 0xff, 0x01};
	expect_bytes(fb_spb_ddeath(T_1S, 255, buf, sizeof buf), buf, want_death, sizeof want_death);
}

static void test_birth_roundtrip_and_datatypes(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[1024];
	assert_int_equal(fb_spb_datatype(&fx_fields[0]), FB_SPB_DOUBLE);
	assert_int_equal(fb_spb_datatype(&fx_fields[2]), FB_SPB_INT32);
	assert_int_equal(fb_spb_datatype(&fx_fields[3]), FB_SPB_BOOLEAN);
	assert_int_equal(fb_spb_datatype(&fx_fields[4]), FB_SPB_STRING);
	struct fb_field big = {.name = "e", .kind = FB_FIELD_INTEGER, .min = 0, .max = 1e12};
	assert_int_equal(fb_spb_datatype(&big), FB_SPB_INT64);
	/* a DBIRTH decodes as a DCMD of the same values (name, datatype, value all survive) */
	ssize_t n = fb_spb_dbirth(&s, 1, FB_SPB_NO_ALIAS, buf, sizeof buf);
	assert_true(n > 0);
	struct fb_model rw = fx_model;
	struct fb_field all_rw[6];
	memcpy(all_rw, fx_fields, sizeof all_rw);
	for (int i = 0; i < 6; i++)
		all_rw[i].writable = true;
	rw.fields = all_rw;
	struct fb_command c[8];
	assert_int_equal(fb_spb_decode_dcmd(&rw, FB_SPB_NO_ALIAS, buf, (size_t)n, c, 8), 6);
	for (int i = 0; i < 6; i++) {
		assert_string_equal(c[i].field, fx_fields[i].name);
		assert_true(c[i].value == fx_values[i]);
	}
	/* with aliases the DDATA decodes by alias */
	n = fb_spb_ddata(&s, NULL, 2, 1000, buf, sizeof buf);
	assert_int_equal(fb_spb_decode_dcmd(&rw, 1000, buf, (size_t)n, c, 8), 6);
	assert_string_equal(c[5].field, "dimmingLevel");
	/* ...and cannot be resolved without them */
	assert_int_equal(fb_spb_decode_dcmd(&rw, FB_SPB_NO_ALIAS, buf, (size_t)n, c, 8),
	                 FB_CODEC_EINVAL);
}

static ssize_t enc_dbirth(const struct fb_codec_ctx *c, const struct fb_sample *s, uint8_t *b,
                          size_t cap)
{
	return fb_spb_dbirth(s, 1, 256, b, cap);
}
static ssize_t enc_ddata(const struct fb_codec_ctx *c, const struct fb_sample *s, uint8_t *b,
                         size_t cap)
{
	return fb_spb_ddata(s, NULL, 1, FB_SPB_NO_ALIAS, b, cap);
}
static ssize_t enc_nbirth(const struct fb_codec_ctx *c, const struct fb_sample *s, uint8_t *b,
                          size_t cap)
{
	return fb_spb_nbirth(200, s->t, 0, b, cap);
}
static ssize_t enc_ndeath(const struct fb_codec_ctx *c, const struct fb_sample *s, uint8_t *b,
                          size_t cap)
{
	return fb_spb_ndeath(200, s->t, b, cap);
}
static ssize_t enc_ddeath(const struct fb_codec_ctx *c, const struct fb_sample *s, uint8_t *b,
                          size_t cap)
{
	return fb_spb_ddeath(s->t, 9, b, cap);
}

static void test_enospc_every_size(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[1024];
	fx_encode_fn encs[] = {enc_dbirth, enc_ddata, enc_nbirth, enc_ndeath, enc_ddeath,
	                       fb_sparkplug_codec.encode};
	for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++) {
		ssize_t need = encs[i](&fx_ctx, &s, buf, sizeof buf);
		assert_true(need > 0);
		assert_int_equal(encs[i](&fx_ctx, &s, buf, (size_t)need), need);
		assert_int_equal(fx_check_enospc(encs[i], &s, (size_t)need), 0);
	}
}

static void test_ncmd(void **state)
{
	static const uint8_t rebirth[] = {
		0x12, 0x1a, 0x0a, 0x14, 'N', 'o', 'd', 'e', ' ', 'C', 'o', 'n', 't', 'r', 'o', 'l', '/',
		'R', 'e', 'b', 'i', 'r', 't', 'h', 0x20, 0x0b, 0x70, 0x01,
	};
	bool rb = false;
	assert_int_equal(fb_spb_decode_ncmd(rebirth, sizeof rebirth, &rb), 0);
	assert_true(rb);
	uint8_t off[sizeof rebirth];
	memcpy(off, rebirth, sizeof off);
	off[sizeof off - 1] = 0x00;   /* Rebirth = false: no rebirth */
	assert_int_equal(fb_spb_decode_ncmd(off, sizeof off, &rb), 0);
	assert_false(rb);
	/* truncated, and a length running past the end */
	assert_int_equal(fb_spb_decode_ncmd(rebirth, sizeof rebirth - 1, &rb), FB_CODEC_EINVAL);
	static const uint8_t bad[] = {0x12, 0x7f, 0x0a};
	assert_int_equal(fb_spb_decode_ncmd(bad, sizeof bad, &rb), FB_CODEC_EINVAL);
	assert_false(rb);
}

static void test_dcmd(void **state)
{
	struct fb_command c[4];
	/* Metric{name="dimmingLevel", datatype=3 Int32, int_value(10)=40} */
	static const uint8_t dim[] = {0x12, 0x12, 0x0a, 0x0c, 'd', 'i', 'm', 'm', 'i', 'n', 'g', 'L',
	                              'e', 'v', 'e', 'l', 0x20, 0x03, 0x50, 0x28};
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, FB_SPB_NO_ALIAS, dim, sizeof dim, c, 4), 1);
	assert_string_equal(c[0].field, "dimmingLevel");
	assert_true(c[0].value == 40);
	/* the registry codec is the same decoder */
	assert_int_equal(fb_sparkplug_codec.decode_command(&fx_ctx, &fx_model, dim, sizeof dim, c, 4),
	                 1);
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, FB_SPB_NO_ALIAS, dim, sizeof dim, c, 0),
	                 FB_CODEC_ENOSPC);
	/* Int32 -5: two's complement in the uint32 varint (ff ff ff ff 0f... fb) */
	static const uint8_t neg[] = {0x12, 0x16, 0x0a, 0x0c, 'd', 'i', 'm', 'm', 'i', 'n', 'g', 'L',
	                              'e', 'v', 'e', 'l', 0x20, 0x03, 0x50, 0xfb, 0xff, 0xff, 0xff,
	                              0x0f};
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, FB_SPB_NO_ALIAS, neg, sizeof neg, c, 4),
	                 FB_CODEC_ERANGE);
	/* String "off" into the enum "mode": Metric{name="mode", datatype=12, string_value(15)} */
	static const uint8_t mode[] = {0x12, 0x0d, 0x0a, 0x04, 'm', 'o', 'd', 'e', 0x20, 0x0c, 0x7a,
	                               0x03, 'o', 'f', 'f'};
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, FB_SPB_NO_ALIAS, mode, sizeof mode, c, 4), 1);
	assert_string_equal(c[0].field, "mode");
	assert_true(c[0].value == 2);
	/* read-only and unknown fields */
	static const uint8_t ro[] = {0x12, 0x0a, 0x0a, 0x04, 'L', 'A', 'e', 'q', 0x20, 0x03, 0x50,
	                             0x28};
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, FB_SPB_NO_ALIAS, ro, sizeof ro, c, 4),
	                 FB_CODEC_EFIELD);
	static const uint8_t unk[] = {0x12, 0x0a, 0x0a, 0x04, 'n', 'o', 'p', 'e', 0x20, 0x03, 0x50,
	                              0x28};
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, FB_SPB_NO_ALIAS, unk, sizeof unk, c, 4),
	                 FB_CODEC_EFIELD);
	/* a metric with a name but no value */
	static const uint8_t novalue[] = {0x12, 0x06, 0x0a, 0x04, 'm', 'o', 'd', 'e'};
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, FB_SPB_NO_ALIAS, novalue, sizeof novalue, c,
	                                    4), FB_CODEC_EINVAL);
	/* garbage */
	uint8_t g[200];
	uint32_t x = 99;
	for (int round = 0; round < 3000; round++) {
		size_t len = (size_t)(round % 200);
		for (size_t i = 0; i < len; i++) {
			x = x * 1664525u + 1013904223u;
			g[i] = (uint8_t)(x >> 24);
		}
		if (len > 2 && round % 2) {
			g[0] = 0x12;              /* a metrics field of a plausible length */
			g[1] = (uint8_t)(len - 2);
		}
		int n = fb_spb_decode_dcmd(&fx_model, 5, g, len, c, 4);
		assert_true(n >= FB_CODEC_ERANGE && n <= 4);
		bool rb;
		n = fb_spb_decode_ncmd(g, len, &rb);
		assert_true(n == 0 || n == FB_CODEC_EINVAL);
	}
	/* too large to decode on the stack: refused, not crashed */
	static uint8_t huge[9000];
	assert_int_equal(fb_spb_decode_dcmd(&fx_model, 5, huge, sizeof huge, c, 4), FB_CODEC_EINVAL);
}

/* ---- oracle files ---- */

static void write_case(const char *dir, const char *name, const uint8_t *p, ssize_t n,
                       json_t *expect)
{
	char path[512];
	assert_true(n > 0);
	snprintf(path, sizeof path, "%s/%s.hex", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (ssize_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
	fclose(f);
	snprintf(path, sizeof path, "%s/%s.expect.json", dir, name);
	assert_int_equal(json_dump_file(expect, path, JSON_SORT_KEYS), 0);
	json_decref(expect);
}

/* What the sample's metric i must decode to, from the mapping in sparkplug.h (written here
 * independently: kinds -> Sparkplug type names). */
static json_t *expect_metric(const struct fb_field *f, double v, long long ts_ms, long long alias,
                             bool name)
{
	json_t *m = json_object();
	const char *type;
	json_t *val;
	switch (f->kind) {
	case FB_FIELD_BOOL: type = "Boolean"; val = json_boolean(v != 0); break;
	case FB_FIELD_ENUM: type = "String"; val = json_string(f->enum_names[(int)v]); break;
	case FB_FIELD_INTEGER:
		type = f->min < -2147483648.0 || f->max > 2147483647.0 ? "Int64" : "Int32";
		val = json_integer((json_int_t)v);
		break;
	default: type = "Double"; val = json_real(v); break;
	}
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "value", val);
	json_object_set_new(m, "timestamp", json_integer(ts_ms));
	if (name)
		json_object_set_new(m, "name", json_string(f->name));
	if (alias >= 0)
		json_object_set_new(m, "alias", json_integer(alias));
	return m;
}

static json_t *expect_payload(long long ts_ms, long long seq)
{
	json_t *p = json_object();
	if (ts_ms >= 0)
		json_object_set_new(p, "timestamp", json_integer(ts_ms));
	if (seq >= 0)
		json_object_set_new(p, "seq", json_integer(seq));
	json_object_set_new(p, "metrics", json_array());
	return p;
}

static void test_oracle_files(void **state)
{
	const char *dir = getenv("FB_SPB_ORACLE_DIR");
	if (!dir)
		return;   /* the unit run; sparkplug_oracle.sh sets it */
	uint8_t buf[2048];
	struct fb_sample s = fx_sample();
	long long ms = FX_T_US / 1000;

	json_t *e = expect_payload(ms, 0);
	json_t *bd = json_object();
	json_object_set_new(bd, "name", json_string("bdSeq"));
	json_object_set_new(bd, "type", json_string("UInt64"));
	json_object_set_new(bd, "value", json_integer(7));
	json_object_set_new(bd, "timestamp", json_integer(ms));
	json_array_append_new(json_object_get(e, "metrics"), bd);
	json_t *rb = json_object();
	json_object_set_new(rb, "name", json_string("Node Control/Rebirth"));
	json_object_set_new(rb, "type", json_string("Boolean"));
	json_object_set_new(rb, "value", json_false());
	json_object_set_new(rb, "timestamp", json_integer(ms));
	json_array_append_new(json_object_get(e, "metrics"), rb);
	write_case(dir, "nbirth", buf, fb_spb_nbirth(7, FX_T_US, 0, buf, sizeof buf), e);

	e = expect_payload(-1, -1);
	bd = json_object();
	json_object_set_new(bd, "name", json_string("bdSeq"));
	json_object_set_new(bd, "type", json_string("UInt64"));
	json_object_set_new(bd, "value", json_integer(7));
	json_array_append_new(json_object_get(e, "metrics"), bd);
	write_case(dir, "ndeath", buf, fb_spb_ndeath(7, -1, buf, sizeof buf), e);

	e = expect_payload(ms, 1);
	for (unsigned i = 0; i < fx_model.nfields; i++)
		json_array_append_new(json_object_get(e, "metrics"),
		                      expect_metric(&fx_fields[i], fx_values[i], ms, 256 + i, true));
	write_case(dir, "dbirth", buf, fb_spb_dbirth(&s, 1, 256, buf, sizeof buf), e);

	e = expect_payload(ms, 2);
	for (unsigned i = 0; i < fx_model.nfields; i++)
		json_array_append_new(json_object_get(e, "metrics"),
		                      expect_metric(&fx_fields[i], fx_values[i], ms, -1, true));
	write_case(dir, "ddata-all", buf, fb_spb_ddata(&s, NULL, 2, FB_SPB_NO_ALIAS, buf, sizeof buf),
	           e);

	double prev[6];
	memcpy(prev, fx_values, sizeof prev);
	prev[0] = 60.0;
	prev[5] = 100;
	e = expect_payload(ms, 255);
	json_array_append_new(json_object_get(e, "metrics"),
	                      expect_metric(&fx_fields[0], fx_values[0], ms, 256, false));
	json_array_append_new(json_object_get(e, "metrics"),
	                      expect_metric(&fx_fields[5], fx_values[5], ms, 261, false));
	write_case(dir, "ddata-changed-alias", buf, fb_spb_ddata(&s, prev, 255, 256, buf, sizeof buf),
	           e);

	e = expect_payload(ms, 3);
	write_case(dir, "ddeath", buf, fb_spb_ddeath(FX_T_US, 3, buf, sizeof buf), e);

	/* signed and 64-bit integers */
	static const struct fb_field ints[] = {
		{.name = "energy", .kind = FB_FIELD_INTEGER, .min = -1e12, .max = 1e12},
		{.name = "delta", .kind = FB_FIELD_INTEGER, .min = -1000, .max = 1000},
		{.name = "tiny", .kind = FB_FIELD_NUMBER, .min = -1, .max = 1, .resolution = 0.001},
	};
	static const struct fb_model ints_model = {.name = "ints", .fields = ints, .nfields = 3};
	static const double iv[] = {-123456789012.0, -5, -0.125};
	struct fb_sample si = {.model = &ints_model, .seq = 4, .t = FX_T_US, .values = iv};
	e = expect_payload(ms, 4);
	for (unsigned i = 0; i < 3; i++)
		json_array_append_new(json_object_get(e, "metrics"),
		                      expect_metric(&ints[i], iv[i], ms, -1, true));
	write_case(dir, "ddata-signed", buf, fb_sparkplug_codec.encode(&fx_ctx, &si, buf, sizeof buf),
	           e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_ndeath_exact),
		cmocka_unit_test(test_nbirth_exact),
		cmocka_unit_test(test_ddata_ddeath_exact),
		cmocka_unit_test(test_birth_roundtrip_and_datatypes),
		cmocka_unit_test(test_enospc_every_size),
		cmocka_unit_test(test_ncmd),
		cmocka_unit_test(test_dcmd),
		cmocka_unit_test(test_oracle_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
