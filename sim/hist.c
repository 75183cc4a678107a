/* Log-linear histograms with HdrHistogram's layout (see sim/hist.h).
 *
 * 3 significant decimal digits need 2 * 10^3 = 2000 distinct values per power of two, rounded up
 * to a power of two: 2048 sub-buckets. Bucket 0 holds 0..2047 at width 1; bucket b >= 1 holds
 * [1024 << b, 2048 << b) at width 2^b in its upper 1024 sub-buckets (the lower half overlaps
 * bucket b-1 and is not stored). Values below 2^40 need buckets 0..29, so the flat counts array
 * has (30 + 1) * 1024 entries. A bucket's width is at most 1/1024 of its lowest value, so any
 * value stands for every value of its bucket to within 0.1 %. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sim/hist.h"

#define SUB_HALF_MAG 10                         /* log2(sub-buckets / 2) */
#define SUB_HALF (1u << SUB_HALF_MAG)           /* 1024 */
#define SUB_COUNT (2u * SUB_HALF)               /* 2048 */
#define SUB_MASK ((uint64_t)SUB_COUNT - 1)
#define TOP_BITS 40
#define HIGHEST (((uint64_t)1 << TOP_BITS) - 1)  /* largest value kept exactly to 3 digits */
#define NBUCKETS_POW2 (TOP_BITS - SUB_HALF_MAG)              /* 30: buckets 0..29 */
#define NCOUNTS ((NBUCKETS_POW2 + 1) * SUB_HALF)            /* 31744 */

struct fb_hist {
	uint64_t total, saturated;
	uint64_t min, max;          /* min = UINT64_MAX when empty */
	uint64_t counts[NCOUNTS];
};

size_t fb_hist_nbuckets(void)
{
	return NCOUNTS;
}

size_t fb_hist_bucket_of(uint64_t v)
{
	if (v > HIGHEST)
		v = HIGHEST;
	/* position of the highest set bit of (v | mask), so values < 2048 land in bucket 0 */
	unsigned pow2ceil = 64u - (unsigned)__builtin_clzll(v | SUB_MASK);
	unsigned bucket = pow2ceil - (SUB_HALF_MAG + 1);
	uint64_t sub = v >> bucket;
	return ((size_t)(bucket + 1) << SUB_HALF_MAG) + (size_t)(sub - SUB_HALF);
}

uint64_t fb_hist_bucket_low(size_t i)
{
	if (i >= NCOUNTS)
		return HIGHEST;
	if (i < SUB_COUNT)
		return i;
	unsigned bucket = (unsigned)(i >> SUB_HALF_MAG) - 1;
	uint64_t sub = (i & (SUB_HALF - 1)) + SUB_HALF;
	return sub << bucket;
}

uint64_t fb_hist_bucket_high(size_t i)
{
	if (i >= NCOUNTS)
		return HIGHEST;
	if (i < SUB_COUNT)
		return i;
	unsigned bucket = (unsigned)(i >> SUB_HALF_MAG) - 1;
	return fb_hist_bucket_low(i) + ((uint64_t)1 << bucket) - 1;
}

struct fb_hist *fb_hist_new(void)
{
	struct fb_hist *h = malloc(sizeof *h);
	if (h)
		fb_hist_reset(h);
	return h;
}

void fb_hist_free(struct fb_hist *h)
{
	free(h);
}

void fb_hist_reset(struct fb_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

void fb_hist_record_n(struct fb_hist *h, uint64_t v, uint64_t n)
{
	if (n == 0)
		return;
	h->counts[fb_hist_bucket_of(v)] += n;
	h->total += n;
	if (v > HIGHEST)
		h->saturated += n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void fb_hist_record(struct fb_hist *h, uint64_t v)
{
	fb_hist_record_n(h, v, 1);
}

void fb_hist_merge(struct fb_hist *dst, const struct fb_hist *src)
{
	if (src->total == 0)
		return;
	for (size_t i = 0; i < NCOUNTS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->saturated += src->saturated;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t fb_hist_count(const struct fb_hist *h)
{
	return h->total;
}

uint64_t fb_hist_saturated(const struct fb_hist *h)
{
	return h->saturated;
}

uint64_t fb_hist_min(const struct fb_hist *h)
{
	return h->total ? h->min : 0;
}

uint64_t fb_hist_max(const struct fb_hist *h)
{
	return h->total ? h->max : 0;
}

uint64_t fb_hist_bucket_count(const struct fb_hist *h, size_t i)
{
	return i < NCOUNTS ? h->counts[i] : 0;
}

double fb_hist_mean(const struct fb_hist *h)
{
	if (h->total == 0)
		return 0;
	double sum = 0;
	for (size_t i = 0; i < NCOUNTS; i++)
		if (h->counts[i]) {
			uint64_t lo = fb_hist_bucket_low(i), hi = fb_hist_bucket_high(i);
			sum += (double)h->counts[i] * (double)(lo + ((hi - lo + 1) >> 1));
		}
	double mean = sum / (double)h->total;
	if (mean < (double)h->min)
		mean = (double)h->min;
	if (mean > (double)h->max)
		mean = (double)h->max;
	return mean;
}

uint64_t fb_hist_quantile(const struct fb_hist *h, double q)
{
	if (h->total == 0)
		return 0;
	if (!(q > 0))
		return h->min;
	if (q > 1)
		q = 1;
	double target_f = ceil(q * (double)h->total);
	uint64_t target = target_f < 1 ? 1 : (uint64_t)target_f;
	if (target > h->total)
		target = h->total;
	uint64_t seen = 0;
	for (size_t i = 0; i < NCOUNTS; i++) {
		seen += h->counts[i];
		if (seen >= target) {
			uint64_t v = fb_hist_bucket_high(i);
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

int fb_hist_set_bucket(struct fb_hist *h, size_t i, uint64_t count)
{
	if (i >= NCOUNTS)
		return -1;
	h->total = h->total - h->counts[i] + count;
	h->counts[i] = count;
	return 0;
}

void fb_hist_set_minmax(struct fb_hist *h, uint64_t min, uint64_t max, uint64_t saturated)
{
	h->min = h->total ? min : UINT64_MAX;
	h->max = h->total ? max : 0;
	h->saturated = saturated;
}
