/* Keyed random streams: reproducible, independent across devices and purposes, and with the
 * distributions the models rely on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>
#include "sim/rng.h"

static void test_same_key_same_stream(void **state)
{
	struct fb_rng a, b;
	fb_rng_init(&a, 42, 7, FB_RNG_VALUES);
	fb_rng_init(&b, 42, 7, FB_RNG_VALUES);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(fb_rng_next(&a), fb_rng_next(&b));
}

/* Neighbouring devices, purposes and seeds: streams must look independent (correlation of
 * uniforms near 0, no equal outputs). */
static void test_streams_independent(void **state)
{
	const struct { uint64_t seed, index; uint32_t purpose; } keys[][2] = {
		{ { 42, 7, FB_RNG_VALUES }, { 42, 8, FB_RNG_VALUES } },
		{ { 42, 7, FB_RNG_VALUES }, { 42, 7, FB_RNG_EVENTS } },
		{ { 42, 7, FB_RNG_VALUES }, { 43, 7, FB_RNG_VALUES } },
		{ { 0, 0, 1 }, { 0, 1, 0 } },
	};
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		struct fb_rng a, b;
		fb_rng_init(&a, keys[k][0].seed, keys[k][0].index, keys[k][0].purpose);
		fb_rng_init(&b, keys[k][1].seed, keys[k][1].index, keys[k][1].purpose);
		enum { N = 100000 };
		double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
		int equal = 0;
		for (int i = 0; i < N; i++) {
			uint64_t x = fb_rng_next(&a), y = fb_rng_next(&b);
			equal += x == y;
			double u = fb_unit(x) - 0.5, v = fb_unit(y) - 0.5;
			sa += u; sb += v; sab += u * v; saa += u * u; sbb += v * v;
		}
		double cov = sab / N - (sa / N) * (sb / N);
		double corr = cov / sqrt((saa / N) * (sbb / N));
		assert_true(fabs(corr) < 0.02);
		assert_int_equal(equal, 0);
	}
}

static void test_distributions(void **state)
{
	struct fb_rng r;
	fb_rng_init(&r, 1, 2, 3);
	enum { N = 200000 };
	double s = 0, ss = 0, pe = 0, pl = 0, e = 0;
	uint64_t below[10] = { 0 };
	for (int i = 0; i < N; i++) {
		double z = fb_rng_normal(&r);
		s += z;
		ss += z * z;
		pe += fb_rng_poisson(&r, 3.5);
		pl += fb_rng_poisson(&r, 250);
		e += fb_rng_exponential(&r, 2.0);
		below[fb_rng_below(&r, 10)]++;
		double u = fb_rng_uniform(&r);
		assert_true(u >= 0 && u < 1);
	}
	assert_true(fabs(s / N) < 0.01);
	assert_true(fabs(ss / N - 1) < 0.02);
	assert_true(fabs(pe / N - 3.5) < 0.03);
	assert_true(fabs(pl / N - 250) < 0.3);
	assert_true(fabs(e / N - 2.0) < 0.03);
	for (int k = 0; k < 10; k++)
		assert_true(below[k] > N / 10 * 0.97 && below[k] < N / 10 * 1.03);
	assert_int_equal(fb_rng_poisson(&r, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_key_same_stream),
		cmocka_unit_test(test_streams_independent),
		cmocka_unit_test(test_distributions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
