/* Random streams keyed by (run seed, global device index, purpose): no shared generator, so a
 * device draws the same numbers on any shard and adding a purpose never shifts another stream.
 * The generator is SplitMix64 (Steele, Lea, Flood 2014; passes BigCrush), 8 bytes of state,
 * seeded by hashing the key. fb_hash64() is the stateless, counter-based form for values that
 * must be a pure function of their coordinates (a site's weather for an hour, a cabinet outage). */
#ifndef FB_RNG_H
#define FB_RNG_H
#include <stdint.h>

enum fb_rng_purpose {
	FB_RNG_SCHEDULE = 1,  /* first-sample phase, interval jitter */
	FB_RNG_VALUES,        /* a model's measurement process */
	FB_RNG_EVENTS,        /* a model's discrete events (pass-bys, deposits, faults of the device) */
	FB_RNG_POSITION,      /* position within the site */
	FB_RNG_IDS,           /* keys and identities (LoRaWAN keys) */
	FB_RNG_RADIO,         /* shadowing, collisions */
	FB_RNG_FAULTS,        /* injected faults */
	FB_RNG_WEATHER,       /* keyed by site index, not device */
	FB_RNG_GROUP,         /* keyed by a group (street-light cabinet), not device */
	FB_RNG_TRANSPORT,     /* reconnect jitter and the like */
	FB_RNG_USER = 64      /* user-defined type fields: FB_RNG_USER + field index */
};

struct fb_rng { uint64_t s; };

static inline uint64_t fb_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A well-mixed 64-bit value that depends on all of (a, b, c, d). */
static inline uint64_t fb_hash64(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t h = fb_mix64(a + 0x9e3779b97f4a7c15ULL);
	h = fb_mix64(h ^ (b + 0x632be59bd9b4e019ULL));
	h = fb_mix64(h ^ (c + 0x85157af5ULL));
	return fb_mix64(h ^ d);
}

/* Uniform in [0, 1) from a hash value. */
static inline double fb_unit(uint64_t h) { return (double)(h >> 11) * 0x1.0p-53; }

static inline void fb_rng_init(struct fb_rng *r, uint64_t seed, uint64_t index, uint32_t purpose)
{
	r->s = fb_hash64(seed, index, purpose, 0x5eed);
}

static inline uint64_t fb_rng_next(struct fb_rng *r)
{
	return fb_mix64(r->s += 0x9e3779b97f4a7c15ULL);
}

/* Uniform in [0, 1). */
static inline double fb_rng_uniform(struct fb_rng *r) { return fb_unit(fb_rng_next(r)); }
/* Uniform in [lo, hi). */
static inline double fb_rng_range(struct fb_rng *r, double lo, double hi)
{
	return lo + (hi - lo) * fb_rng_uniform(r);
}
/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32 for n < 2^32). */
static inline uint64_t fb_rng_below(struct fb_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)fb_rng_next(r) * n) >> 64);
}

/* Mean 0, sd 1: the ziggurat method (sim/rng.c). The common case, a point inside a layer's
 * box, is inline; the rest is fb_rng_normal_rest(). */
#define FB_ZIG_LAYERS 256
extern double fb_zig_x[FB_ZIG_LAYERS + 1];
double fb_rng_normal_rest(struct fb_rng *r, uint64_t u);
static inline double fb_rng_normal(struct fb_rng *r)
{
	uint64_t u = fb_rng_next(r);
	unsigned layer = (unsigned)(u & (FB_ZIG_LAYERS - 1));
	double x = fb_unit(u) * fb_zig_x[layer];
	if (__builtin_expect(x < fb_zig_x[layer + 1], 1))
		return u & FB_ZIG_LAYERS ? -x : x;
	return fb_rng_normal_rest(r, u);
}
double fb_rng_exponential(struct fb_rng *r, double mean);
uint32_t fb_rng_poisson(struct fb_rng *r, double lambda);

#endif
