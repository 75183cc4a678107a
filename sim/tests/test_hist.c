/* Latency histograms: quantiles within 0.1 % of the exact order statistics, exact merge, exact
 * min/max, saturation above 2^40, the empty histogram, and the bucket layout itself. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <cmocka.h>
#include "sim/hist.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void)
{
	/* splitmix64: test data only */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Latency-like values: log-uniform over 1 µs .. ~17 min, with a cluster of small exact ones. */
static uint64_t random_latency(void)
{
	uint64_t r = next_u64();
	if ((r & 7) == 0)
		return r >> 53 & 2047;   /* 0..2047: width-1 buckets */
	double e = (double)(r >> 11) / 9007199254740992.0 * 30.0;
	return (uint64_t)exp2(e);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_quantiles_within_a_tenth_of_a_percent(void **state)
{
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof *v);
	struct fb_hist *h = fb_hist_new();
	assert_non_null(v);
	assert_non_null(h);
	for (size_t i = 0; i < N; i++) {
		v[i] = random_latency();
		fb_hist_record(h, v[i]);
	}
	qsort(v, N, sizeof *v, cmp_u64);
	assert_int_equal(fb_hist_count(h), N);
	const double qs[] = { 0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0 };
	for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
		size_t rank = (size_t)ceil(qs[k] * N);
		uint64_t exact = v[rank ? rank - 1 : 0];
		uint64_t got = fb_hist_quantile(h, qs[k]);
		/* never below the true value, and at most 0.1 % above it */
		assert_true(got >= exact);
		assert_true((double)(got - exact) <= (double)exact * 0.001);
	}
	assert_int_equal(fb_hist_quantile(h, 1.0), v[N - 1]);
	double exact_mean = 0;
	for (size_t i = 0; i < N; i++)
		exact_mean += (double)v[i];
	exact_mean /= N;
	assert_true(fabs(fb_hist_mean(h) - exact_mean) <= exact_mean * 0.001);
	free(v);
	fb_hist_free(h);
}

static void assert_same(const struct fb_hist *a, const struct fb_hist *b)
{
	assert_int_equal(fb_hist_count(a), fb_hist_count(b));
	assert_int_equal(fb_hist_min(a), fb_hist_min(b));
	assert_int_equal(fb_hist_max(a), fb_hist_max(b));
	assert_int_equal(fb_hist_saturated(a), fb_hist_saturated(b));
	for (size_t i = 0; i < fb_hist_nbuckets(); i++)
		if (fb_hist_bucket_count(a, i) != fb_hist_bucket_count(b, i))
			fail_msg("bucket %zu: %llu != %llu", i, (unsigned long long)fb_hist_bucket_count(a, i),
			         (unsigned long long)fb_hist_bucket_count(b, i));
	const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
	for (size_t k = 0; k < 4; k++)
		assert_int_equal(fb_hist_quantile(a, qs[k]), fb_hist_quantile(b, qs[k]));
}

static void test_merge_equals_recording_all_into_one(void **state)
{
	struct fb_hist *a = fb_hist_new(), *b = fb_hist_new(), *all = fb_hist_new();
	for (int i = 0; i < 50000; i++) {
		uint64_t x = random_latency() * 3 + 7;      /* shard A: a different distribution */
		uint64_t y = random_latency();
		fb_hist_record(a, x);
		fb_hist_record(b, y);
		fb_hist_record(all, y);
		fb_hist_record(all, x);
	}
	fb_hist_record_n(a, (uint64_t)1 << 45, 3);      /* saturated values merge too */
	fb_hist_record_n(all, (uint64_t)1 << 45, 3);
	fb_hist_merge(a, b);
	assert_same(a, all);
	/* merging an empty histogram changes nothing, and merging into an empty one copies */
	struct fb_hist *empty = fb_hist_new(), *copy = fb_hist_new();
	fb_hist_merge(a, empty);
	assert_same(a, all);
	fb_hist_merge(copy, all);
	assert_same(copy, all);
	fb_hist_free(a);
	fb_hist_free(b);
	fb_hist_free(all);
	fb_hist_free(empty);
	fb_hist_free(copy);
}

static void test_min_max_exact(void **state)
{
	struct fb_hist *h = fb_hist_new();
	fb_hist_record(h, 123456789);    /* bucket width 2^16 here: min/max must not round */
	fb_hist_record(h, 987654321);
	fb_hist_record(h, 555555555);
	assert_int_equal(fb_hist_min(h), 123456789);
	assert_int_equal(fb_hist_max(h), 987654321);
	/* quantiles are clamped to [min, max] */
	assert_int_equal(fb_hist_quantile(h, 0), 123456789);
	assert_int_equal(fb_hist_quantile(h, 0.01), fb_hist_bucket_high(fb_hist_bucket_of(123456789)));
	assert_int_equal(fb_hist_quantile(h, 1), 987654321);
	fb_hist_reset(h);
	assert_int_equal(fb_hist_count(h), 0);
	fb_hist_record(h, 42);
	assert_int_equal(fb_hist_min(h), 42);
	assert_int_equal(fb_hist_max(h), 42);
	assert_int_equal(fb_hist_quantile(h, 0.5), 42);
	assert_true(fb_hist_mean(h) == 42.0);
	fb_hist_free(h);
}

static void test_saturation(void **state)
{
	struct fb_hist *h = fb_hist_new();
	uint64_t top = ((uint64_t)1 << 40) - 1;
	fb_hist_record(h, 1000);
	fb_hist_record(h, top);                  /* the largest value kept: not saturated */
	fb_hist_record(h, (uint64_t)1 << 40);
	fb_hist_record(h, UINT64_MAX);
	assert_int_equal(fb_hist_count(h), 4);
	assert_int_equal(fb_hist_saturated(h), 2);
	assert_int_equal(fb_hist_max(h), UINT64_MAX);
	size_t last = fb_hist_nbuckets() - 1;
	assert_int_equal(fb_hist_bucket_of(top), last);
	assert_int_equal(fb_hist_bucket_of(UINT64_MAX), last);
	assert_int_equal(fb_hist_bucket_count(h, last), 3);
	/* the top quantile reports the top bucket, not a wrapped-around value */
	assert_int_equal(fb_hist_quantile(h, 0.99), top);
	assert_int_equal(fb_hist_quantile(h, 0.25), 1000);
	fb_hist_free(h);
}

static void test_empty(void **state)
{
	struct fb_hist *h = fb_hist_new();
	assert_int_equal(fb_hist_count(h), 0);
	assert_int_equal(fb_hist_min(h), 0);
	assert_int_equal(fb_hist_max(h), 0);
	assert_int_equal(fb_hist_quantile(h, 0.99), 0);
	assert_true(fb_hist_mean(h) == 0.0);
	fb_hist_record_n(h, 5, 0);              /* recording zero times records nothing */
	assert_int_equal(fb_hist_count(h), 0);
	assert_int_equal(fb_hist_min(h), 0);
	fb_hist_free(h);
}

/* Buckets tile [0, 2^40) without gap or overlap, each within 0.1 % of its lowest value. */
static void test_layout(void **state)
{
	size_t n = fb_hist_nbuckets();
	assert_int_equal(fb_hist_bucket_low(0), 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = fb_hist_bucket_low(i), hi = fb_hist_bucket_high(i);
		assert_true(lo <= hi);
		assert_int_equal(fb_hist_bucket_of(lo), i);
		assert_int_equal(fb_hist_bucket_of(hi), i);
		if (i + 1 < n)
			assert_int_equal(fb_hist_bucket_low(i + 1), hi + 1);
		if (lo >= 1000)
			assert_true((double)(hi - lo) <= (double)lo / 1000.0);
	}
	assert_int_equal(fb_hist_bucket_high(n - 1), ((uint64_t)1 << 40) - 1);
}

/* What `report merge` does: a histogram rebuilt from its sparse buckets and exact min/max. */
static void test_restore_from_parts(void **state)
{
	struct fb_hist *h = fb_hist_new(), *r = fb_hist_new();
	for (int i = 0; i < 10000; i++)
		fb_hist_record(h, random_latency());
	fb_hist_record(h, (uint64_t)1 << 50);
	for (size_t i = 0; i < fb_hist_nbuckets(); i++)
		if (fb_hist_bucket_count(h, i))
			assert_int_equal(fb_hist_set_bucket(r, i, fb_hist_bucket_count(h, i)), 0);
	fb_hist_set_minmax(r, fb_hist_min(h), fb_hist_max(h), fb_hist_saturated(h));
	assert_same(r, h);
	assert_int_equal(fb_hist_set_bucket(r, fb_hist_nbuckets(), 1), -1);
	fb_hist_free(h);
	fb_hist_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles_within_a_tenth_of_a_percent),
		cmocka_unit_test(test_merge_equals_recording_all_into_one),
		cmocka_unit_test(test_min_max_exact),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_restore_from_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
