/* bike-counter and pedestrian-counter: Eco-Counter style permanent counters with a display
 * totem (FIWARE TrafficFlowObserved).
 *
 * Each sample reports the passages since the previous one (intensity, split by direction) and
 * what a totem shows: passages since local midnight (dailyTotal) and since local 1 January
 * (yearTotal). Passages are Poisson, drawn per local-hour segment of the window with
 * λ = daily volume × day factor × hourly share × weather factor, and split into independent
 * Poisson streams per direction (exact Poisson thinning). Counts falling before a local
 * midnight still count in the window's intensity but not in the new day's total, so a sample
 * at 00:00 shows dailyTotal 0. */
#include <math.h>
#include "sim/model.h"
#include "sim/weather.h"

enum { F_INTENSITY, F_FORWARD, F_BACKWARD, F_DAILY, F_YEAR, NFIELDS };

static const struct fb_field fields[NFIELDS] = {
	{ "intensity", "count", FB_FIELD_INTEGER, 0, 1e6, 1, NULL, false,
	  "passages since the previous sample, both directions" },
	{ "intensityForward", "count", FB_FIELD_INTEGER, 0, 1e6, 1, NULL, false,
	  "passages in the forward direction" },
	{ "intensityBackward", "count", FB_FIELD_INTEGER, 0, 1e6, 1, NULL, false,
	  "passages in the backward direction" },
	{ "dailyTotal", "count", FB_FIELD_INTEGER, 0, 1e8, 1, NULL, false,
	  "passages since local midnight (what the totem shows)", FB_COUNTER_DAILY },
	{ "yearTotal", "count", FB_FIELD_INTEGER, 0, 4e9, 1, NULL, false,
	  "passages since local 1 January 00:00", FB_COUNTER_YEARLY },
};

struct counter_params {
	double daily;          /* mean weekday volume */
	double weekend_ratio;
	double forward_share;
	double tidal;          /* forward share +tidal in the morning, -tidal in the evening */
	double day_sd;         /* day-to-day log-normal variation */
	bool weather;
};

#define PARAM_TABLE(DAILY, WEEKEND, TIDAL, DAILY_DOC)                                            \
	{ "daily", FB_PARAM_NUMBER, offsetof(struct counter_params, daily), DAILY, 0, 1e6, NULL,     \
	  DAILY_DOC },                                                                               \
	{ "weekend_ratio", FB_PARAM_NUMBER, offsetof(struct counter_params, weekend_ratio), WEEKEND, \
	  0, 5, NULL, "weekend-day volume relative to a weekday" },                                  \
	{ "forward_share", FB_PARAM_NUMBER, offsetof(struct counter_params, forward_share), 0.576,   \
	  0, 1, NULL, "share of the forward direction over a day (Paris bd Sebastopol: 57.6 %)" },   \
	{ "tidal", FB_PARAM_NUMBER, offsetof(struct counter_params, tidal), TIDAL, 0, 0.4, NULL,     \
	  "commuter tide: the forward share is higher by this much 06-11 h and lower 16-21 h" },     \
	{ "day_sd", FB_PARAM_NUMBER, offsetof(struct counter_params, day_sd), 0.12, 0, 1, NULL,      \
	  "day-to-day variation (sd of the log of a day's volume factor)" },                         \
	{ "weather", FB_PARAM_BOOL, offsetof(struct counter_params, weather), 1, 0, 1, NULL,         \
	  "rain and temperature anomalies change the counts" },                                      \
	{ NULL }

static const struct fb_param bike_params[] = {
	PARAM_TABLE(1500, 0.77, 0.10,
	            "mean weekday volume, both directions (busy Aix-Marseille lane 500-3000; Paris bd "
	            "Sebastopol 15172 as a stress profile)")
};
static const struct fb_param ped_params[] = {
	PARAM_TABLE(4000, 0.90, 0.03, "mean weekday volume, both directions")
};

/* Share of the day's passages (%) by local hour. Bikes: Paris bd Sebastopol, 1,174 days of
 * hourly open data (reference Part B4). Pedestrians: a flatter profile with a lunchtime peak
 * [estimate]. Normalised at use. */
static const double bike_weekday[24] = {
	1.8, 0.9, 0.5, 0.2, 0.2, 0.3, 0.7, 2.2, 7.0, 7.9, 3.9, 3.6,
	4.8, 4.7, 4.6, 4.6, 5.2, 7.3, 10.7, 10.7, 6.5, 4.1, 3.9, 3.5 };
static const double bike_weekend[24] = {
	3.5, 2.6, 2.1, 1.2, 0.8, 0.6, 0.5, 0.8, 1.5, 2.4, 3.5, 4.6,
	5.9, 6.2, 6.6, 8.0, 8.4, 8.4, 8.2, 7.7, 5.8, 4.1, 3.5, 3.1 };
static const double ped_weekday[24] = {
	0.6, 0.3, 0.2, 0.1, 0.1, 0.3, 1.0, 3.0, 5.5, 5.5, 5.8, 6.8,
	8.5, 8.0, 6.5, 6.3, 6.8, 7.8, 8.0, 6.5, 4.5, 3.0, 2.0, 1.2 };
static const double ped_weekend[24] = {
	1.2, 0.7, 0.4, 0.2, 0.1, 0.1, 0.3, 0.8, 2.0, 3.8, 5.8, 7.2,
	8.5, 8.3, 7.5, 7.5, 8.0, 8.2, 7.8, 6.5, 5.0, 3.5, 2.2, 1.5 };
/* Weekday monthly mean relative to the year's (bikes: bd Sebastopol monthly means 12.1k ..
 * 19.2k; pedestrians: flatter with a summer tourist uplift [estimate]). */
static const double bike_month[12] = {
	0.810, 0.917, 1.024, 1.064, 1.124, 1.285, 1.031, 0.783, 1.178, 1.118, 0.944, 0.723 };
static const double ped_month[12] = {
	0.88, 0.90, 0.96, 1.00, 1.04, 1.08, 1.15, 1.12, 1.04, 0.98, 0.90, 0.95 };

struct counter_kind {
	const double *weekday, *weekend, *month;
	double rain_per_mm;    /* fractional change per mm/h of rain */
	double temp_per_c;     /* fractional change per °C above the normal, per hour */
};

/* Auckland Eco-Counter study (Environ Health 11:12, 2012): -10.6 %/h per mm of rain,
 * +3.2 %/h per °C. Pedestrians are less sensitive [estimate]. */
static const struct counter_kind bikes = { bike_weekday, bike_weekend, bike_month, 0.106, 0.032 };
static const struct counter_kind walkers = { ped_weekday, ped_weekend, ped_month, 0.04, 0.01 };

struct counter_state {
	int64_t day;          /* local day of the last sample */
	fb_time_us last;
	uint32_t daily;
	uint32_t year_total;
	int32_t year;
	uint8_t started;
};

static double table_sum(const double *t)
{
	double s = 0;
	for (int i = 0; i < 24; i++)
		s += t[i];
	return s;
}

/* Mean passages per hour at local time lt (no weather), and the forward share then. */
static double hourly_rate(const struct fb_device_ctx *ctx, const struct counter_kind *k,
                          const struct fb_localtime *lt, double *fwd_share)
{
	const struct counter_params *p = ctx->params;
	bool weekend = lt->wday == 0 || lt->wday == 6;
	const double *tab = weekend ? k->weekend : k->weekday;
	/* A day's own factor: weather-independent variation (events, school holidays). */
	uint64_t h = fb_hash64(ctx->world->seed, ctx->index, FB_RNG_EVENTS, (uint64_t)lt->day);
	double u1 = fb_unit(h), u2 = fb_unit(fb_mix64(h));
	double z = sqrt(-2 * log1p(-u1)) * cos(2 * M_PI * u2);
	double day_factor = exp(p->day_sd * z - 0.5 * p->day_sd * p->day_sd);
	double share = tab[lt->hour] / table_sum(tab);
	double rate = p->daily * (weekend ? p->weekend_ratio : 1) * k->month[lt->month - 1] *
	              day_factor * share;
	double f = p->forward_share;
	if (lt->hour >= 6 && lt->hour < 11)
		f += p->tidal;
	else if (lt->hour >= 16 && lt->hour < 21)
		f -= p->tidal;
	*fwd_share = f < 0 ? 0 : f > 1 ? 1 : f;
	return rate;
}

static double weather_factor(const struct fb_device_ctx *ctx, const struct counter_kind *k,
                             fb_time_us t, bool weekend)
{
	const struct counter_params *p = ctx->params;
	if (!p->weather)
		return 1;
	uint32_t site = ctx->site ? ctx->site->index : 0;
	double rain = fb_weather_rain_mm_h(ctx->world->seed, site, t);
	double anomaly = fb_weather_temperature_c(ctx->world->seed, site, t) -
	                 fb_weather_temperature_normal_c(t);
	/* Recreational (weekend) flows react more to the weather (TRB, multi-city). */
	double s = weekend ? 1.5 : 1.0;
	double f = exp(-s * k->rain_per_mm * rain) * exp(s * k->temp_per_c * anomaly);
	return f < 0.05 ? 0.05 : f > 3 ? 3 : f;
}

static void start_totals(const struct fb_device_ctx *ctx, const struct counter_kind *k,
                         struct counter_state *st, fb_time_us start)
{
	/* The totem already shows this year's passages when the run starts: their expected count
	 * (the mean day factor times the days elapsed), and today's so far. */
	const struct counter_params *p = ctx->params;
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, start, &lt);
	double mean_day = p->daily * (5 + 2 * p->weekend_ratio) / 7;
	double today = 0;
	for (int h = 0; h < lt.hour; h++) {
		struct fb_localtime at = lt;
		at.hour = h;
		double fwd;
		today += hourly_rate(ctx, k, &at, &fwd);
	}
	double fwd;
	today += hourly_rate(ctx, k, &lt, &fwd) * (lt.hour_f - lt.hour);
	st->day = lt.day;
	st->year = lt.year;
	st->daily = fb_rng_poisson(ctx->rng, today);
	st->year_total = (uint32_t)llround(mean_day * lt.yday) + st->daily;
	st->last = start;
}

static int init_common(const struct fb_device_ctx *ctx, const struct counter_kind *k, void *state,
                       fb_time_us start)
{
	start_totals(ctx, k, state, start);
	return 0;
}

static int init_bike(const struct fb_device_ctx *ctx, void *state, fb_time_us start)
{
	return init_common(ctx, &bikes, state, start);
}

static int init_ped(const struct fb_device_ctx *ctx, void *state, fb_time_us start)
{
	return init_common(ctx, &walkers, state, start);
}

static void sample_common(const struct fb_device_ctx *ctx, const struct counter_kind *k,
                          struct counter_state *st, fb_time_us t, double *v)
{
	fb_time_us from = st->started ? st->last : t - ctx->interval_us;
	if (from < t - 31 * FB_US_PER_DAY)
		from = t - 31 * FB_US_PER_DAY;   /* bound the work after a very long gap */
	st->started = 1;
	st->last = t;
	uint64_t fwd_total = 0, bwd_total = 0;
	/* Walk the window in local-hour segments; each segment belongs to one local day. */
	fb_time_us a = from;
	while (a < t) {
		struct fb_localtime lt;
		fb_tz_local(ctx->world->tz, a, &lt);
		fb_time_us hour_end = a + (fb_time_us)((60 - lt.min) * 60 - lt.sec) * FB_US_PER_S -
		                      (a % FB_US_PER_S);
		if (hour_end <= a)
			hour_end = a + FB_US_PER_H;
		fb_time_us b = hour_end < t ? hour_end : t;
		double fwd_share;
		bool weekend = lt.wday == 0 || lt.wday == 6;
		double lambda = hourly_rate(ctx, k, &lt, &fwd_share) *
		                weather_factor(ctx, k, a + (b - a) / 2, weekend) *
		                (double)(b - a) / FB_US_PER_H;
		uint32_t nf = fb_rng_poisson(ctx->rng, lambda * fwd_share);
		uint32_t nb = fb_rng_poisson(ctx->rng, lambda * (1 - fwd_share));
		fwd_total += nf;
		bwd_total += nb;
		if (lt.year != st->year) {
			st->year = lt.year;
			st->year_total = 0;
		}
		if (lt.day != st->day) {
			st->day = lt.day;
			st->daily = 0;
		}
		st->daily += nf + nb;
		st->year_total += nf + nb;
		a = b;
	}
	/* A sample exactly at local midnight opens the new day with nothing counted yet. */
	struct fb_localtime now;
	fb_tz_local(ctx->world->tz, t, &now);
	if (now.day != st->day) {
		st->day = now.day;
		st->daily = 0;
		if (now.year != st->year) {
			st->year = now.year;
			st->year_total = 0;
		}
	}
	v[F_INTENSITY] = (double)(fwd_total + bwd_total);
	v[F_FORWARD] = (double)fwd_total;
	v[F_BACKWARD] = (double)bwd_total;
	v[F_DAILY] = st->daily;
	v[F_YEAR] = st->year_total;
}

static void sample_bike(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *v)
{
	sample_common(ctx, &bikes, state, t, v);
}

static void sample_ped(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *v)
{
	sample_common(ctx, &walkers, state, t, v);
}

const struct fb_model fb_model_bike_counter = {
	.name = "bike-counter",
	.description = "permanent bicycle counter with a display totem (Eco-Counter style)",
	.fiware_type = "TrafficFlowObserved",
	.fields = fields,
	.nfields = NFIELDS,
	.default_interval_us = 15 * FB_US_PER_MIN,
	.state_size = sizeof(struct counter_state),
	.params = bike_params,
	.params_size = sizeof(struct counter_params),
	.init = init_bike,
	.sample = sample_bike,
};

const struct fb_model fb_model_pedestrian_counter = {
	.name = "pedestrian-counter",
	.description = "permanent pedestrian counter (Eco-Counter style)",
	.fiware_type = "TrafficFlowObserved",
	.fields = fields,
	.nfields = NFIELDS,
	.default_interval_us = 15 * FB_US_PER_MIN,
	.state_size = sizeof(struct counter_state),
	.params = ped_params,
	.params_size = sizeof(struct counter_params),
	.init = init_ped,
	.sample = sample_ped,
};
