/* noise: a permanent noise-observatory station (FIWARE NoiseLevelObserved).
 *
 * Underneath is a 1-second A-weighted level, LAeq,1s, as permanent stations record it: a base
 * level that follows the station's daily and weekly shape, a slow anomaly (hours), a fast AR(1)
 * fluctuation (seconds), Poisson events (pass-bys, horns, sirens) combined energetically, and
 * rain (drop noise, wet-road tyre noise). Each sample summarises the seconds since the previous
 * one: LAeq is the energetic mean 10·log10(mean(10^(L/10))), LAmax/LAmin the extremes, LA10,
 * LA50, LA90 the levels exceeded 10/50/90 % of the seconds (nearest rank). Order statistics of
 * one set of values and an energetic mean always satisfy LAmin <= LA90 <= LA50 <= LA10 <= LAmax and
 * LAmin <= LAeq <= LAmax; rounding to 0.1 dB is monotone, so they hold after quantization too. */
#include <math.h>
#include "sim/model.h"
#include "sim/weather.h"

enum { L_EQ, L_MAX, L_MIN, L_10, L_50, L_90, NFIELDS };
#define MAX_SECONDS 3600

static const struct fb_field fields[NFIELDS] = {
	{ "LAeq", "dB(A)", FB_FIELD_NUMBER, 20, 140, 0.1, NULL, false,
	  "A-weighted equivalent level over the interval (energetic mean of the 1 s levels)" },
	{ "LAmax", "dB(A)", FB_FIELD_NUMBER, 20, 140, 0.1, NULL, false, "highest 1 s level" },
	{ "LAmin", "dB(A)", FB_FIELD_NUMBER, 20, 140, 0.1, NULL, false, "lowest 1 s level" },
	{ "LA10", "dB(A)", FB_FIELD_NUMBER, 20, 140, 0.1, NULL, false,
	  "level exceeded 10 % of the interval (peaks)" },
	{ "LA50", "dB(A)", FB_FIELD_NUMBER, 20, 140, 0.1, NULL, false, "median level" },
	{ "LA90", "dB(A)", FB_FIELD_NUMBER, 20, 140, 0.1, NULL, false,
	  "level exceeded 90 % of the interval (background)" },
};

enum { P_ARTERIAL, P_URBAN, P_RESIDENTIAL, P_NIGHTLIFE };
static const char *const profile_names[] = { "arterial", "urban", "residential", "nightlife", NULL };

struct noise_params {
	int profile;
	double offset_db;
	double events;
	bool rain;
};

static const struct fb_param params[] = {
	{ "profile", FB_PARAM_ENUM, offsetof(struct noise_params, profile), P_URBAN, 0, 0,
	  profile_names, "station class: arterial (day LAeq ~70, night ~63), urban street (~65/55), "
	  "residential/park (~52/45), nightlife (~55 by day, ~57 at night, loudest Friday and "
	  "Saturday nights)" },
	{ "offset", FB_PARAM_NUMBER, offsetof(struct noise_params, offset_db), 0, -20, 20, NULL,
	  "dB added to the whole station (a closer or farther microphone)" },
	{ "events", FB_PARAM_NUMBER, offsetof(struct noise_params, events), 1, 0, 20, NULL,
	  "multiplier on the rates of discrete events (pass-bys, horns, sirens)" },
	{ "rain", FB_PARAM_BOOL, offsetof(struct noise_params, rain), 1, 0, 1, NULL,
	  "rain at the site raises the level (drops on the microphone's shield, wet-road tyre noise)" },
	{ NULL }
};

/* Activity shape 0..1 by local hour (traffic: minimum at 3-4 h, plateau 8-18 h). */
static const float traffic_weekday[24] = {
	0.30f, 0.15f, 0.05f, 0.00f, 0.02f, 0.20f, 0.60f, 0.90f, 1.00f, 0.95f, 0.90f, 0.92f,
	0.95f, 0.92f, 0.92f, 0.95f, 1.00f, 1.00f, 1.00f, 0.90f, 0.75f, 0.60f, 0.50f, 0.40f };
static const float traffic_weekend[24] = {
	0.45f, 0.35f, 0.20f, 0.10f, 0.05f, 0.05f, 0.15f, 0.35f, 0.55f, 0.75f, 0.85f, 0.90f,
	0.90f, 0.85f, 0.85f, 0.85f, 0.90f, 0.90f, 0.90f, 0.85f, 0.75f, 0.65f, 0.55f, 0.50f };
/* Nightlife district: terraces and bars, loudest 21-01 h. */
static const float nightlife_shape[24] = {
	0.85f, 0.65f, 0.40f, 0.15f, 0.00f, 0.00f, 0.10f, 0.30f, 0.40f, 0.45f, 0.50f, 0.55f,
	0.65f, 0.60f, 0.50f, 0.50f, 0.55f, 0.60f, 0.70f, 0.80f, 0.90f, 0.95f, 1.00f, 0.95f };

struct profile {
	double lo, hi;           /* base (median-ish) level at shape 0 and 1, dB(A) */
	double sigma;            /* sd of the 1 s fluctuation, dB */
	double passbys, horns, sirens;   /* per day at the daily mean activity */
	bool traffic;            /* wet roads make it louder */
};

/* Targets (Part B1 of the reference): arterial day 68-73 / night 60-66, urban street 62-68 /
 * 52-58, residential/park 50-56 / 40-46; Paris rue des Haudriettes: 61 horns > 80 dB and 75
 * two-wheeler peaks a day. The base sits ~2-3 dB under the target LAeq, which the fluctuation
 * (0.115·sigma² for a log-normal energy) and the events add back. */
static const struct profile profiles[] = {
	[P_ARTERIAL] = { 57.5, 68.0, 3.5, 150, 60, 1, true },
	[P_URBAN] = { 50.0, 62.5, 4.0, 75, 30, 0.3, true },
	[P_RESIDENTIAL] = { 38.0, 50.5, 4.5, 20, 3, 0.05, false },
	[P_NIGHTLIFE] = { 45.0, 58.0, 4.0, 40, 20, 0.3, false },
};

struct noise_state {
	fb_time_us last;
	float fast;       /* AR(1) 1 s fluctuation, dB */
	float slow;       /* slow anomaly, dB */
	float event_db;   /* absolute level of the event in progress */
	uint16_t event_left;   /* its remaining seconds */
	uint8_t started;
};

static double shape_at(const float *shape, double hour_f)
{
	int h = (int)hour_f % 24;
	double f = hour_f - floor(hour_f);
	return shape[h] + (shape[(h + 1) % 24] - shape[h]) * f;
}

/* Base level and activity (0..1) at a local time. */
static double base_level(const struct noise_params *p, const struct fb_localtime *lt,
                         double *activity)
{
	const struct profile *pr = &profiles[p->profile];
	bool weekend = lt->wday == 0 || lt->wday == 6;
	double s, extra = 0;
	if (p->profile == P_NIGHTLIFE) {
		s = shape_at(nightlife_shape, lt->hour_f);
		/* Friday and Saturday nights (20 h to 03 h the next morning) are livelier. */
		bool fri_sat_evening = (lt->wday == 5 || lt->wday == 6) && lt->hour_f >= 20;
		bool sat_sun_small_hours = (lt->wday == 6 || lt->wday == 0) && lt->hour_f < 3;
		if (fri_sat_evening || sat_sun_small_hours)
			extra = 4;
	} else {
		s = shape_at(weekend ? traffic_weekend : traffic_weekday, lt->hour_f);
		if (lt->wday == 0)
			extra = -2;   /* Sunday: fewer lorries and deliveries */
	}
	*activity = s;
	return pr->lo + (pr->hi - pr->lo) * s + extra + p->offset_db;
}

static int init(const struct fb_device_ctx *ctx, void *state, fb_time_us start)
{
	const struct noise_params *p = ctx->params;
	struct noise_state *st = state;
	st->last = start;
	st->fast = (float)(profiles[p->profile].sigma * fb_rng_normal(ctx->rng));
	st->slow = (float)(1.5 * fb_rng_normal(ctx->rng));
	return 0;
}

#define LN10_10 0.23025850929940458   /* ln(10) / 10: 10^(L/10) = exp(L * LN10_10) */

static double energy_add(double a_db, double b_db)
{
	return 10 * log10(exp(a_db * LN10_10) + exp(b_db * LN10_10));
}

/* A cheap standard normal for the 1 s fluctuation: Irwin-Hall sum of four 16-bit uniforms from
 * one draw, scaled to unit variance (tails cut at ±3.46 sd, irrelevant for a dB wobble). */
static double quick_normal(struct fb_rng *r)
{
	uint64_t x = fb_rng_next(r);
	double s = (double)(x & 0xffff) + (double)(x >> 16 & 0xffff) + (double)(x >> 32 & 0xffff) +
	           (double)(x >> 48);
	return (s / 65536.0 - 2.0) * 1.7320508075688772;
}

/* Puts the k-th smallest of a[0..n) at a[k], smaller ones before it, larger after
 * (Hoare's quickselect, median-of-three pivot). */
static void select_kth(float *a, long n, long k)
{
	long lo = 0, hi = n - 1;
	while (hi > lo) {
		long mid = lo + (hi - lo) / 2;
		float x = a[lo], y = a[mid], z = a[hi];
		float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
		long i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				float tmp = a[i];
				a[i++] = a[j];
				a[j--] = tmp;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return;
	}
}

static void sample(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *v)
{
	const struct noise_params *p = ctx->params;
	const struct profile *pr = &profiles[p->profile];
	struct noise_state *st = state;
	fb_time_us span = st->started ? t - st->last : ctx->interval_us;
	long n = (long)(span / FB_US_PER_S);
	if (n < 1)
		n = 1;
	if (n > MAX_SECONDS)
		n = MAX_SECONDS;
	st->started = 1;
	st->last = t;

	/* The profile moves slowly: evaluate it at the middle of the window. */
	fb_time_us mid = t - (fb_time_us)n * FB_US_PER_S / 2;
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, mid, &lt);
	double activity;
	double base = base_level(p, &lt, &activity);
	double rain_db = 0;
	if (p->rain) {
		double r = fb_weather_rain_mm_h(ctx->world->seed, ctx->site ? ctx->site->index : 0, mid);
		if (r > 0) {
			rain_db = 40 + 15 * log10(1 + r);   /* 1 mm/h ~44.5 dB, 10 mm/h ~55.6 dB */
			if (pr->traffic)
				base += 3;                       /* tyres on a wet road */
		}
	}
	/* The slow anomaly: AR(1) with a 30-minute memory, stepped once per window. */
	double rho_slow = exp(-(double)n / 1800.0);
	st->slow = (float)(rho_slow * st->slow + sqrt(1 - rho_slow * rho_slow) * 1.5 *
	                   fb_rng_normal(ctx->rng));
	base += st->slow;

	/* Event starts per second; the activity scales them (few pass-bys at 4 h). */
	double per_s = p->events * activity / 0.65 / 86400.0;
	double p_pass = pr->passbys * per_s, p_horn = pr->horns * per_s, p_siren = pr->sirens * per_s;
	double p_any = p_pass + p_horn + p_siren;
	const double rho = 0.85, innov = sqrt(1 - rho * rho) * pr->sigma;

	float levels[MAX_SECONDS];
	double energy = 0, lmin = 1e9, lmax = -1e9;
	double fast = st->fast;
	for (long i = 0; i < n; i++) {
		fast = rho * fast + innov * quick_normal(ctx->rng);
		double level = base + fast;
		if (!st->event_left) {
			double u = fb_rng_uniform(ctx->rng);
			if (u < p_any) {
				if (u < p_pass) {
					st->event_db = (float)(base + fb_rng_range(ctx->rng, 5, 15));
					st->event_left = (uint16_t)(2 + fb_rng_below(ctx->rng, 9));
				} else if (u < p_pass + p_horn) {
					st->event_db = (float)fb_rng_range(ctx->rng, 80, 88);
					st->event_left = (uint16_t)(1 + fb_rng_below(ctx->rng, 2));
				} else {
					st->event_db = (float)fb_rng_range(ctx->rng, 90, 100);
					st->event_left = (uint16_t)(10 + fb_rng_below(ctx->rng, 21));
				}
			}
		}
		if (st->event_left) {
			level = energy_add(level, st->event_db);
			st->event_left--;
		}
		if (rain_db > 0)
			level = energy_add(level, rain_db + 0.5 * fast);
		if (level < 21)
			level = 21;
		if (level > 139)
			level = 139;
		levels[i] = (float)level;
		energy += exp(levels[i] * LN10_10);
		if (levels[i] < lmin)
			lmin = levels[i];
		if (levels[i] > lmax)
			lmax = levels[i];
	}
	st->fast = (float)fast;

	/* Nearest-rank percentiles; each selection narrows the next (k10 >= k50 >= k90). */
	long k10 = (long)floor(0.9 * (double)(n - 1) + 0.5);
	long k50 = (long)floor(0.5 * (double)(n - 1) + 0.5);
	long k90 = (long)floor(0.1 * (double)(n - 1) + 0.5);
	select_kth(levels, n, k10);
	select_kth(levels, k10 + 1, k50);
	select_kth(levels, k50 + 1, k90);
	double leq = 10 * log10(energy / (double)n);
	/* Rounding in the energetic mean must not push it outside the extremes. */
	v[L_EQ] = leq < lmin ? lmin : leq > lmax ? lmax : leq;
	v[L_MAX] = lmax;
	v[L_MIN] = lmin;
	v[L_10] = levels[k10];
	v[L_50] = levels[k50];
	v[L_90] = levels[k90];
}

const struct fb_model fb_model_noise = {
	.name = "noise",
	.description = "noise-observatory station: LAeq and statistical levels over each interval "
	               "from a 1-second level process",
	.fiware_type = "NoiseLevelObserved",
	.fields = fields,
	.nfields = NFIELDS,
	.default_interval_us = FB_US_PER_MIN,
	.state_size = sizeof(struct noise_state),
	.params = params,
	.params_size = sizeof(struct noise_params),
	.init = init,
	.sample = sample,
};
