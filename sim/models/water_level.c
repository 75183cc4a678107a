/* water-level: a river stage gauge (radar or pressure probe) on a small Mediterranean river such
 * as the Huveaune or the Arc (FIWARE WaterObserved).
 *
 * height = base stage − summer low water + base flow from the catchment's wetness + the flood
 * stage of the site's storm runoff (sim/weather.h: fast rise, peak, exponential recession) +
 * a small sensor noise. The weather is a pure function of the site, so every gauge and
 * water-quality probe of a site sees the same floods. While the river rises the gauge reports
 * faster (fast_interval), as VEGA/OTT gauges do on a rate-of-change trigger. */
#include <math.h>
#include "sim/model.h"
#include "sim/weather.h"

static const struct fb_field fields[] = {
	{ "height", "m", FB_FIELD_NUMBER, 0, 15, 0.001, NULL, false,
	  "water level above the gauge's zero" },
};

struct level_params {
	double base_m;
	double low_water_m;
	double wet_gain_m;
	double flood_gain_m;
	fb_time_us fast_interval;
	double rise_trigger_m_h;
	double noise_m;
};

static const struct fb_param params[] = {
	{ "base", FB_PARAM_NUMBER, offsetof(struct level_params, base_m), 0.30, 0, 5, NULL,
	  "stage at ordinary flow, m (Huveaune / Arc: 0.1-0.5 m)" },
	{ "low_water", FB_PARAM_NUMBER, offsetof(struct level_params, low_water_m), 0.15, 0, 2, NULL,
	  "how far the stage drops at the height of summer, m" },
	{ "wet_gain", FB_PARAM_NUMBER, offsetof(struct level_params, wet_gain_m), 0.02, 0, 1, NULL,
	  "base-flow rise per mm/day of recent rain (12-hour ramp, 15-day release), m" },
	{ "flood_gain", FB_PARAM_NUMBER, offsetof(struct level_params, flood_gain_m), 0.04, 0, 1,
	  NULL, "flood stage for 1 mm of storm runoff, m; stage grows as runoff^0.7 "
	  "(0.04: ~0.4 m for a 40 mm storm, ~1.7 m for 221 mm as in 1892)" },
	{ "fast_interval", FB_PARAM_DURATION, offsetof(struct level_params, fast_interval), 120, 10,
	  3600, NULL, "reporting interval while the river rises" },
	{ "rise_trigger", FB_PARAM_NUMBER, offsetof(struct level_params, rise_trigger_m_h), 0.05, 0,
	  10, NULL, "rise rate above which the gauge reports at fast_interval, m/h" },
	{ "noise", FB_PARAM_NUMBER, offsetof(struct level_params, noise_m), 0.002, 0, 0.1, NULL,
	  "sensor noise (sd), m" },
	{ NULL }
};

struct level_state {
	float zero_offset_m;   /* this gauge's datum relative to the site's reference */
	float gain;            /* cross-section: the same flood is higher in a narrow reach */
};

static uint32_t site_of(const struct fb_device_ctx *ctx)
{
	return ctx->site ? ctx->site->index : 0;
}

/* The noiseless stage at t. */
static double stage(const struct fb_device_ctx *ctx, const struct level_state *st, fb_time_us t)
{
	const struct level_params *p = ctx->params;
	uint64_t seed = ctx->world->seed;
	double h = p->base_m + st->zero_offset_m - p->low_water_m * fb_weather_summer_factor(t) +
	           p->wet_gain_m * fb_weather_wetness_mm_day(seed, site_of(ctx), t) +
	           st->gain * fb_weather_flood_stage_m(fb_weather_runoff_mm(seed, site_of(ctx), t),
	                                               p->flood_gain_m);
	return h < 0.005 ? 0.005 : h;
}

static int init(const struct fb_device_ctx *ctx, void *state, fb_time_us start)
{
	struct level_state *st = state;
	st->zero_offset_m = (float)fb_rng_range(ctx->rng, -0.05, 0.15);
	st->gain = (float)fb_rng_range(ctx->rng, 0.8, 1.25);
	return 0;
}

static fb_time_us next_time(const struct fb_device_ctx *ctx, void *state, fb_time_us last)
{
	const struct level_params *p = ctx->params;
	const struct level_state *st = state;
	uint64_t seed = ctx->world->seed;
	fb_time_us dt = 5 * FB_US_PER_MIN;
	/* Only the flood term moves fast; base flow and season are flat over minutes. */
	double rise = st->gain * (fb_weather_flood_stage_m(fb_weather_runoff_mm(seed, site_of(ctx),
	                                                                       last + dt),
	                                                   p->flood_gain_m) -
	                          fb_weather_flood_stage_m(fb_weather_runoff_mm(seed, site_of(ctx),
	                                                                       last),
	                                                   p->flood_gain_m));
	double rate_m_h = rise * (double)FB_US_PER_H / (double)dt;
	if (rate_m_h > p->rise_trigger_m_h && p->fast_interval < ctx->interval_us)
		return last + p->fast_interval;
	return last + ctx->interval_us;
}

static void sample(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *v)
{
	const struct level_params *p = ctx->params;
	double h = stage(ctx, state, t) + p->noise_m * fb_rng_normal(ctx->rng);
	v[0] = h < 0 ? 0 : h > 15 ? 15 : h;
}

const struct fb_model fb_model_water_level = {
	.name = "water-level",
	.description = "river stage gauge: base flow, summer low water, flash floods from autumn "
	               "storms; reports faster while the river rises",
	.fiware_type = "WaterObserved",
	.fields = fields,
	.nfields = 1,
	.default_interval_us = 15 * FB_US_PER_MIN,
	.state_size = sizeof(struct level_state),
	.params = params,
	.params_size = sizeof(struct level_params),
	.init = init,
	.next_time = next_time,
	.sample = sample,
};
