#include <math.h>
#include "sim/rng.h"

/* The normal draw is the ziggurat method (Marsaglia and Tsang, J. Stat. Softw. 5(8), 2000):
 * the density's upper half is covered by ZIG_N horizontal layers of equal area, the bottom one
 * ending in the tail beyond ZIG_R. A draw picks a layer and a point in it from one 64-bit value;
 * 99 % of the time the point lies under the curve of every layer above it and is accepted with
 * one multiply and one compare (no log, no sqrt, no loop). The rest test the wedge against the
 * density, or sample the tail (Marsaglia's exponential method). Each draw is a fixed function of
 * the stream position, as before. */
#define ZIG_N FB_ZIG_LAYERS
#define ZIG_R 3.6541528853610088        /* x where the bottom layer's box ends, for 256 layers */

double fb_zig_x[ZIG_N + 1];             /* layer i spans [0, fb_zig_x[i]] in x */
static double zig_f[ZIG_N + 1];         /* exp(-fb_zig_x[i]^2 / 2) */

static inline double density(double x) { return exp(-0.5 * x * x); }

__attribute__((constructor)) static void zig_tables(void)
{
	/* Each layer's area: the bottom box plus the tail. */
	double v = ZIG_R * density(ZIG_R) + sqrt(M_PI / 2) * erfc(ZIG_R / M_SQRT2);
	fb_zig_x[0] = v / density(ZIG_R);     /* the bottom layer as a box of area v */
	fb_zig_x[1] = ZIG_R;
	for (int i = 1; i < ZIG_N - 1; i++)
		fb_zig_x[i + 1] = sqrt(-2.0 * log(v / fb_zig_x[i] + density(fb_zig_x[i])));
	fb_zig_x[ZIG_N] = 0;
	for (int i = 0; i <= ZIG_N; i++)
		zig_f[i] = density(fb_zig_x[i]);
}

/* The draw u fell outside its layer's box (fb_rng_normal() in sim/rng.h tried that): the
 * wedge, the tail, or another draw. */
double fb_rng_normal_rest(struct fb_rng *r, uint64_t u)
{
	for (;;) {
		unsigned layer = (unsigned)(u & (ZIG_N - 1));
		double sign = u & ZIG_N ? -1.0 : 1.0;
		double x = fb_unit(u) * fb_zig_x[layer];          /* bits 11..63: independent of the rest */
		if (x < fb_zig_x[layer + 1])
			return sign * x;
		if (layer == 0) {
			/* The tail beyond R: x = R + e1 / R, accepted when e2 > (e1 / R)^2 / 2. */
			double a, b;
			do {
				a = -log1p(-fb_rng_uniform(r)) / ZIG_R;
				b = -log1p(-fb_rng_uniform(r));
			} while (b + b < a * a);
			return sign * (ZIG_R + a);
		}
		/* The wedge between this layer's box and the curve. */
		double y = zig_f[layer] + fb_rng_uniform(r) * (zig_f[layer + 1] - zig_f[layer]);
		if (y < density(x))
			return sign * x;
		u = fb_rng_next(r);
	}
}

double fb_rng_exponential(struct fb_rng *r, double mean)
{
	return -mean * log1p(-fb_rng_uniform(r));
}

uint32_t fb_rng_poisson(struct fb_rng *r, double lambda)
{
	if (!(lambda > 0))
		return 0;
	if (lambda < 30) {
		/* Knuth's product method: exact, O(lambda). */
		double limit = exp(-lambda), p = 1.0;
		uint32_t k = 0;
		do {
			k++;
			p *= fb_rng_uniform(r);
		} while (p > limit);
		return k - 1;
	}
	/* Large means: normal approximation with continuity correction (error < 1 % of sd). */
	double x = lambda + sqrt(lambda) * fb_rng_normal(r) + 0.5;
	return x < 0 ? 0 : (uint32_t)x;
}
