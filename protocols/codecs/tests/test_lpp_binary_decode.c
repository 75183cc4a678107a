/* decode_sample of the `lpp` and `binary` codecs (what the LoRaWAN collector and `validate` read
 * back): for every built-in type, random samples within each field's range (quantized as the
 * engine does) encode and decode back to the same values within the tolerance the decoder
 * states, which is the codec's half step; LPP readings saturated at their type's rail come back
 * with an unbounded tolerance; malformed frames (truncated, wrong version, channel twice, BOOL
 * above 1, enum past its names, random garbage) are FB_CODEC_EINVAL and never read past the
 * buffer (ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include "protocols/codecs/binary.h"
#include "protocols/codecs/lpp.h"
#include "protocols/codecs/tests/fixture.h"
#include "sim/model.h"
#include "sim/rng.h"

static double random_value(const struct fb_field *f, struct fb_rng *r)
{
	double u = fb_rng_uniform(r);
	switch (f->kind) {
	case FB_FIELD_BOOL:
		return u < 0.5 ? 0 : 1;
	case FB_FIELD_ENUM: {
		int n = 0;
		while (f->enum_names && f->enum_names[n])
			n++;
		return floor(u * n);
	}
	default: {
		/* the range's ends are drawn on purpose now and then */
		double v = u < 0.05 ? f->min : u > 0.95 ? f->max : f->min + (f->max - f->min) * u;
		return fb_field_quantize(f, v);
	}
	}
}

/* Round trips of one codec over every built-in type; returns how many values were compared
 * against a finite tolerance (so the test knows it compared something). */
static unsigned round_trips(const struct fb_codec *codec, unsigned *railed)
{
	struct fb_rng r;
	fb_rng_init(&r, 7, 0, FB_RNG_VALUES);
	unsigned compared = 0;
	for (size_t k = 0; fb_builtin_models[k]; k++) {
		const struct fb_model *m = fb_builtin_models[k];
		for (int trial = 0; trial < 200; trial++) {
			double v[FB_MAX_FIELDS];
			for (unsigned i = 0; i < m->nfields; i++)
				v[i] = random_value(&m->fields[i], &r);
			struct fb_sample s = {.model = m, .device = 3, .seq = (uint32_t)trial, .t = FX_T_US,
			                      .values = v};
			uint8_t buf[256];
			ssize_t n = codec->encode(&fx_ctx, &s, buf, sizeof buf);
			assert_true(n > 0);
			struct fb_decoded d;
			assert_int_equal(codec->decode_sample(&fx_ctx, m, buf, (size_t)n, &d), 0);
			assert_int_equal(d.seq, -1);
			assert_true(d.ts == FB_TIME_NEVER);
			assert_string_equal(d.device, "");
			for (unsigned i = 0; i < m->nfields; i++) {
				const struct fb_field *f = &m->fields[i];
				assert_true((d.present >> i) & 1);
				if (isinf(d.tolerance[i])) {
					/* only a saturated LPP reading may say "anywhere past the rail" */
					assert_string_equal(codec->name, "lpp");
					assert_true(d.values[i] > 0 ? v[i] >= d.values[i] - 0.01 : v[i] <= d.values[i] + 0.01);
					(*railed)++;
					continue;
				}
				double half = f->kind == FB_FIELD_NUMBER && f->resolution > 0 ? f->resolution / 2 : 0.5;
				assert_true(d.tolerance[i] >= half - 1e-12);
				if (fabs(d.values[i] - v[i]) > d.tolerance[i] + 1e-9) {
					fprintf(stderr, "%s %s.%s: sent %.6f, decoded %.6f, tolerance %.6f\n",
					        codec->name, m->name, f->name, v[i], d.values[i], d.tolerance[i]);
					fail();
				}
				if (f->kind == FB_FIELD_BOOL || f->kind == FB_FIELD_ENUM)
					assert_true(d.values[i] == v[i]);
				compared++;
			}
		}
	}
	return compared;
}

static void test_binary_round_trip(void **state)
{
	unsigned railed = 0;
	assert_true(round_trips(&fb_binary_codec, &railed) > 1000);
	assert_int_equal(railed, 0);
	assert_ptr_equal(fb_codec_find("binary")->decode_sample, fb_binary_decode_sample);
}

static void test_lpp_round_trip(void **state)
{
	unsigned railed = 0;
	assert_true(round_trips(&fb_lpp_codec, &railed) > 1000);
	assert_ptr_equal(fb_codec_find("lpp")->decode_sample, fb_lpp_decode_sample);
}

/* The fixture's count (0..100000) is sent as analog_in and saturates at 327.67: the decoder
 * says the reading is railed instead of claiming 327.67 ± 0.005. LPP tolerances: humidity half
 * of 0.5 %, temperature half of the field's 0.5 °C (coarser than LPP's 0.1). */
static void test_lpp_tolerances(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t buf[64];
	ssize_t n = fb_lpp_encode(&fx_ctx, &s, buf, sizeof buf);
	assert_true(n > 0);
	struct fb_decoded d;
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &fx_model, buf, (size_t)n, &d), 0);
	assert_int_equal(d.present, 0x3f);
	assert_true(fabs(d.values[0] - 62.3) < 1e-9);
	assert_true(fabs(d.tolerance[0] - 0.05) < 1e-12);      /* field 0.1 vs analog 0.01 */
	assert_true(fabs(d.values[1] + 3.5) < 1e-9);
	assert_true(fabs(d.tolerance[1] - 0.25) < 1e-12);
	assert_true(isinf(d.tolerance[2]));
	assert_true(fabs(d.values[2] - 327.67) < 1e-9);
	assert_true(d.values[4] == 1 && d.values[5] == 50);
	static const struct fb_field rh[] = {
		{.name = "h", .unit = "%RH", .kind = FB_FIELD_NUMBER, .min = 0, .max = 100, .resolution = 0.1},
	};
	static const struct fb_model hm = {.name = "h", .fields = rh, .nfields = 1};
	static const uint8_t hum[] = {0x01, 0x68, 0x61};   /* 48.5 % */
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &hm, hum, sizeof hum, &d), 0);
	assert_true(fabs(d.values[0] - 48.5) < 1e-9 && fabs(d.tolerance[0] - 0.25) < 1e-12);
	/* a subset of channels: only those are present */
	static const uint8_t part[] = {0x04, 0x00, 0x01};
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &fx_model, part, sizeof part, &d), 0);
	assert_int_equal(d.present, 1u << 3);
}

static void test_malformed(void **state)
{
	struct fb_sample s = fx_sample();
	uint8_t good[64], bad[64];
	struct fb_decoded d;
	ssize_t nb = fb_binary_encode(&fx_ctx, &s, good, sizeof good);
	assert_true(nb > 0);
	for (ssize_t k = 0; k < nb; k++)      /* every truncation */
		assert_int_equal(fb_binary_decode_sample(&fx_ctx, &fx_model, good, (size_t)k, &d), FB_CODEC_EINVAL);
	memcpy(bad, good, (size_t)nb);
	bad[0] = 2;                            /* unknown version */
	assert_int_equal(fb_binary_decode_sample(&fx_ctx, &fx_model, bad, (size_t)nb, &d), FB_CODEC_EINVAL);
	memcpy(bad, good, (size_t)nb);
	bad[nb - 3] = 2;                       /* BOOL "on" = 2 (layout: ... on, mode, dimming) */
	assert_int_equal(fb_binary_decode_sample(&fx_ctx, &fx_model, bad, (size_t)nb, &d), FB_CODEC_EINVAL);
	memcpy(bad, good, (size_t)nb);
	bad[nb - 2] = 3;                       /* mode index 3 of 3 names */
	assert_int_equal(fb_binary_decode_sample(&fx_ctx, &fx_model, bad, (size_t)nb, &d), FB_CODEC_EINVAL);

	ssize_t nl = fb_lpp_encode(&fx_ctx, &s, good, sizeof good);
	assert_true(nl > 0);
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &fx_model, good, 0, &d), FB_CODEC_EINVAL);
	for (ssize_t k = 1; k < nl; k++) {
		/* a cut inside a channel is malformed; at a channel boundary it is a shorter frame */
		int rc = fb_lpp_decode_sample(&fx_ctx, &fx_model, good, (size_t)k, &d);
		assert_true(rc == 0 || rc == FB_CODEC_EINVAL);
		if (k == 1 || k == 3)
			assert_int_equal(rc, FB_CODEC_EINVAL);
		if (k == 4)
			assert_int_equal(rc, 0);
	}
	static const uint8_t twice[] = {0x04, 0x00, 0x01, 0x04, 0x00, 0x01};
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &fx_model, twice, sizeof twice, &d), FB_CODEC_EINVAL);
	static const uint8_t wrongtype[] = {0x01, 0x67, 0x00, 0x10};   /* LAeq is analog_in */
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &fx_model, wrongtype, sizeof wrongtype, &d), FB_CODEC_EINVAL);
	static const uint8_t bool2[] = {0x04, 0x00, 0x02};
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &fx_model, bool2, sizeof bool2, &d), FB_CODEC_EINVAL);
	static const uint8_t ch0[] = {0x00, 0x00, 0x01};
	assert_int_equal(fb_lpp_decode_sample(&fx_ctx, &fx_model, ch0, sizeof ch0, &d), FB_CODEC_EINVAL);

	/* garbage: never a crash or an out-of-bounds read; exactly-sized copies so ASan sees any */
	struct fb_rng r;
	fb_rng_init(&r, 99, 0, FB_RNG_VALUES);
	unsigned lpp_ok = 0;
	for (int trial = 0; trial < 20000; trial++) {
		size_t len = (size_t)fb_rng_below(&r, 40);
		uint8_t *g = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			g[i] = (uint8_t)fb_rng_below(&r, 256);
		if (trial % 2)
			g[0 % (len ? len : 1)] = 1;
		for (size_t k = 0; fb_builtin_models[k]; k++) {
			const struct fb_model *m = fb_builtin_models[k];
			int rb = fb_binary_decode_sample(&fx_ctx, m, g, len, &d);
			assert_true(rb == 0 || rb == FB_CODEC_EINVAL);
			int rl = fb_lpp_decode_sample(&fx_ctx, m, g, len, &d);
			assert_true(rl == 0 || rl == FB_CODEC_EINVAL);
			lpp_ok += rl == 0;
		}
		free(g);
	}
	assert_true(lpp_ok < 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binary_round_trip),
		cmocka_unit_test(test_lpp_round_trip),
		cmocka_unit_test(test_lpp_tolerances),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
