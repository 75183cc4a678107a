/* water-quality: a multi-parameter river probe (FIWARE WaterQualityObserved) on a calcareous
 * Provençal river (Huveaune, Arc).
 *
 * Seasonal and diurnal cycles (water temperature follows the air's season; pH and dissolved
 * oxygen swing with photosynthesis, with night minima in summer), floods from the site's storm
 * runoff (the same sim/weather.h process as water-level: dilution lowers conductivity, turbidity
 * climbs to hundreds of NTU, pH drops), and sensor drift that grows between calibrations and
 * vanishes at each one (the probe is cleaned and recalibrated every `calibration` period, with a
 * device-specific phase). Stateless apart from the device's random stream. */
#include <math.h>
#include "sim/model.h"
#include "sim/weather.h"

enum { F_TEMP, F_PH, F_COND, F_TURB, F_O2, NFIELDS };

static const struct fb_field fields[NFIELDS] = {
	{ "temperature", "°C", FB_FIELD_NUMBER, 0, 40, 0.01, NULL, false, "water temperature" },
	{ "pH", "pH", FB_FIELD_NUMBER, 0, 14, 0.01, NULL, false, "acidity" },
	{ "conductivity", "µS/cm", FB_FIELD_NUMBER, 0, 5000, 1, NULL, false,
	  "specific conductance at 25 °C" },
	{ "turbidity", "NTU", FB_FIELD_NUMBER, 0, 4000, 0.1, NULL, false, "turbidity" },
	{ "O2", "mg/L", FB_FIELD_NUMBER, 0, 20, 0.01, NULL, false, "dissolved oxygen" },
};

struct quality_params {
	double conductivity;
	double turbidity;
	double ph;
	fb_time_us calibration;
	double drift;
};

static const struct fb_param params[] = {
	{ "conductivity", FB_PARAM_NUMBER, offsetof(struct quality_params, conductivity), 750, 50,
	  3000, NULL, "conductivity at ordinary flow in winter, µS/cm (calcareous rivers 500-1100; "
	  "+25 % at summer low water)" },
	{ "turbidity", FB_PARAM_NUMBER, offsetof(struct quality_params, turbidity), 5, 0.1, 100, NULL,
	  "median turbidity at base flow, NTU (1-20)" },
	{ "ph", FB_PARAM_NUMBER, offsetof(struct quality_params, ph), 8.1, 6, 9.5, NULL,
	  "mean pH (7.6-8.6)" },
	{ "calibration", FB_PARAM_DURATION, offsetof(struct quality_params, calibration),
	  30 * 86400, 86400, 365 * 86400, NULL, "time between cleanings/recalibrations" },
	{ "drift", FB_PARAM_NUMBER, offsetof(struct quality_params, drift), 1, 0, 10, NULL,
	  "drift multiplier: at 1, up to ±0.15 pH, ±5 % conductivity, -8 % O2 and +2 NTU of fouling "
	  "accumulate over one calibration period" },
	{ NULL }
};

/* Oxygen solubility in fresh water at 1 atm, mg/L (APHA polynomial fit, 0-40 °C). */
static double do_saturation(double t)
{
	return 14.62 - 0.3898 * t + 0.006969 * t * t - 0.00005896 * t * t * t;
}

/* Uniform in [-1, 1) for (device, calibration period, quantity). */
static double drift_dir(const struct fb_device_ctx *ctx, int64_t period, unsigned what)
{
	return 2 * fb_unit(fb_hash64(ctx->world->seed, ctx->index, FB_RNG_FAULTS,
	                             ((uint64_t)period << 4) | what)) - 1;
}

static void sample(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *v)
{
	const struct quality_params *p = ctx->params;
	struct fb_rng *r = ctx->rng;
	uint64_t seed = ctx->world->seed;
	uint32_t site = ctx->site ? ctx->site->index : 0;
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, t, &lt);
	double summer = fb_weather_summer_factor(t);
	/* Flood intensity in metres of stage (default rating), capped at 1 for the proportional
	 * effects; turbidity keeps growing with it. */
	double flood = fb_weather_flood_stage_m(fb_weather_runoff_mm(seed, site, t), 0.04);
	double f1 = flood > 1 ? 1 : flood;
	double air_anomaly = fb_weather_temperature_c(seed, site, t) -
	                     fb_weather_temperature_normal_c(t);

	/* Drift since the last calibration: linear in the elapsed fraction of the period. */
	fb_time_us phase = (fb_time_us)(fb_unit(fb_hash64(seed, ctx->index, FB_RNG_FAULTS, 0)) *
	                                (double)p->calibration);
	int64_t period = (t + phase) / p->calibration;
	double frac = (double)((t + phase) % p->calibration) / (double)p->calibration;
	double d = p->drift * frac;

	double day_angle = 2 * M_PI * (lt.hour_f - 16) / 24;   /* warmest and most productive ~16 h */
	double temp = 16 + 1.1 * (fb_weather_temperature_normal_c(t) - 16) +
	              (1.0 + 1.5 * summer) * cos(day_angle) + 0.3 * air_anomaly - 1.5 * f1 +
	              0.02 * fb_rng_normal(r);
	if (temp < 0.5)
		temp = 0.5;

	double ph = p->ph + (0.15 + 0.25 * summer) * cos(day_angle) - 0.3 * f1 +
	            0.15 * d * drift_dir(ctx, period, 1) + 0.01 * fb_rng_normal(r);

	double cond = p->conductivity * (1 + 0.25 * summer) / (1 + 1.5 * flood) *
	              (1 + 0.05 * d * drift_dir(ctx, period, 2)) + 2 * fb_rng_normal(r);

	double turb = p->turbidity * exp(0.3 * fb_rng_normal(r)) + 800 * pow(flood, 1.3) +
	              2 * d * fabs(drift_dir(ctx, period, 3));
	turb *= 1 + 0.03 * fb_rng_normal(r);

	/* Photosynthesis by day, respiration by night: larger swings in the warm season. */
	double o2 = do_saturation(temp) * (1 + (0.05 + 0.12 * summer) * cos(day_angle)) *
	            (1 - 0.1 * f1) * (1 - 0.08 * d * fabs(drift_dir(ctx, period, 4))) +
	            0.05 * fb_rng_normal(r);

	v[F_TEMP] = temp > 40 ? 40 : temp;
	v[F_PH] = ph < 0 ? 0 : ph > 14 ? 14 : ph;
	v[F_COND] = cond < 0 ? 0 : cond > 5000 ? 5000 : cond;
	v[F_TURB] = turb < 0 ? 0 : turb > 4000 ? 4000 : turb;
	v[F_O2] = o2 < 0 ? 0 : o2 > 20 ? 20 : o2;
}

const struct fb_model fb_model_water_quality = {
	.name = "water-quality",
	.description = "river water-quality probe: temperature, pH, conductivity, turbidity and "
	               "dissolved oxygen with daily cycles, flood dilution and calibration drift",
	.fiware_type = "WaterQualityObserved",
	.fields = fields,
	.nfields = NFIELDS,
	.default_interval_us = 15 * FB_US_PER_MIN,
	.state_size = 0,
	.params = params,
	.params_size = sizeof(struct quality_params),
	.sample = sample,
};
