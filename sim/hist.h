/* Log-linear latency histograms (HdrHistogram's layout): values are unsigned integers (the bench
 * records microseconds), kept to 3 significant decimal digits over [0, 2^40) (12.7 days in µs);
 * larger values saturate into the top bucket and are counted in `saturated`. Every histogram has
 * the same fixed layout, so merging is an exact element-wise sum: the merge of shard histograms
 * equals the histogram of the union of their values, bucket for bucket. No allocation after
 * fb_hist_new; fb_hist_record is O(1) and branch-light (it sits on the collectors' hot path). */
#ifndef FB_HIST_H
#define FB_HIST_H
#include <stddef.h>
#include <stdint.h>

struct fb_hist;

struct fb_hist *fb_hist_new(void);          /* NULL if out of memory */
void fb_hist_free(struct fb_hist *h);
void fb_hist_reset(struct fb_hist *h);
void fb_hist_record(struct fb_hist *h, uint64_t v);
void fb_hist_record_n(struct fb_hist *h, uint64_t v, uint64_t n);
/* dst += src (exact). */
void fb_hist_merge(struct fb_hist *dst, const struct fb_hist *src);

uint64_t fb_hist_count(const struct fb_hist *h);
uint64_t fb_hist_saturated(const struct fb_hist *h);
uint64_t fb_hist_min(const struct fb_hist *h);     /* exact; 0 when empty */
uint64_t fb_hist_max(const struct fb_hist *h);     /* exact; 0 when empty */
double fb_hist_mean(const struct fb_hist *h);      /* from bucket midpoints; 0 when empty */
/* The value at quantile q in [0, 1] (q = 0.99 for p99): the highest value equivalent to the
 * bucket holding the ceil(q * count)-th smallest value, so within 0.1 % above the true value;
 * clamped to [min, max]. 0 when empty. */
uint64_t fb_hist_quantile(const struct fb_hist *h, double q);

/* Buckets, for serialisation: bucket indexes are stable across builds and machines. */
size_t fb_hist_nbuckets(void);
uint64_t fb_hist_bucket_count(const struct fb_hist *h, size_t i);
uint64_t fb_hist_bucket_low(size_t i);     /* lowest value the bucket holds */
uint64_t fb_hist_bucket_high(size_t i);    /* highest value the bucket holds */
size_t fb_hist_bucket_of(uint64_t v);
/* Restores a histogram from serialised parts (the report's sparse [index, count] pairs and its
 * exact min/max); returns -1 if an index is out of range. Used by `report merge`. */
int fb_hist_set_bucket(struct fb_hist *h, size_t i, uint64_t count);
void fb_hist_set_minmax(struct fb_hist *h, uint64_t min, uint64_t max, uint64_t saturated);

#endif
