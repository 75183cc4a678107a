#include <math.h>
#include "sim/rng.h"

double fb_rng_normal(struct fb_rng *r)
{
	/* Marsaglia's polar method; the second deviate is dropped so a draw is a fixed function of
	 * the stream position (no hidden cache that would make two calls order-dependent). */
	double u, v, s;
	do {
		u = 2.0 * fb_rng_uniform(r) - 1.0;
		v = 2.0 * fb_rng_uniform(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	return u * sqrt(-2.0 * log(s) / s);
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
