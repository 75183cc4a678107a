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

/* The normal draw has the normal's shape, not only its mean and variance: the counts in bins
 * of 0.25 sd from -5 to 5 (and the two tails) match the normal law (chi-square, 41 degrees of
 * freedom, far below the 0.1 % critical value 74.7), including the tail beyond 3.65 sd that the
 * generator samples by a separate method, and the draws are symmetric. */
static void test_normal_shape(void **state)
{
	enum { N = 2000000, BINS = 40 };
	static uint64_t count[BINS + 2];
	struct fb_rng r;
	fb_rng_init(&r, 99, 5, FB_RNG_VALUES);
	const double tail = 3.6541528853610088;
	uint64_t beyond_tail = 0, negative = 0;
	double m4 = 0, excess = 0;
	for (int i = 0; i < N; i++) {
		double z = fb_rng_normal(&r);
		assert_true(isfinite(z));
		int b = z < -5 ? 0 : z >= 5 ? BINS + 1 : 1 + (int)((z + 5) * 4);
		count[b]++;
		if (fabs(z) > tail) {
			beyond_tail++;
			excess += fabs(z) - tail;
		}
		negative += z < 0;
		m4 += z * z * z * z;
	}
	double chi2 = 0;
	for (int b = 0; b < BINS + 2; b++) {
		double lo = b == 0 ? -INFINITY : -5 + (b - 1) * 0.25;
		double hi = b == BINS + 1 ? INFINITY : -5 + b * 0.25;
		double p = 0.5 * (erfc(-hi / M_SQRT2) - erfc(-lo / M_SQRT2));
		double want = p * N;
		if (want < 5)
			continue;       /* beyond 4.5 sd: too few to weigh */
		chi2 += (count[b] - want) * (count[b] - want) / want;
	}
	assert_true(chi2 < 74.7);
	/* P(|z| > 3.654) = 2.58e-4: 516 expected, sd 23 */
	assert_true(beyond_tail > 516 - 5 * 23 && beyond_tail < 516 + 5 * 23);
	/* and its shape: the mean excess over the bound is phi(t) / Q(t) - t = 0.243 (sd of the
	 * estimate 0.01) */
	double q = 0.5 * erfc(tail / M_SQRT2), phi = exp(-tail * tail / 2) / sqrt(2 * M_PI);
	assert_true(fabs(excess / (double)beyond_tail - (phi / q - tail)) < 0.04);
	assert_true(fabs((double)negative / N - 0.5) < 0.002);
	assert_true(fabs(m4 / N - 3.0) < 0.05);          /* kurtosis of the normal */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_key_same_stream),
		cmocka_unit_test(test_streams_independent),
		cmocka_unit_test(test_distributions),
		cmocka_unit_test(test_normal_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
