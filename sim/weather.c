#include <math.h>
#include "sim/rng.h"
#include "sim/weather.h"

/* Marseille-Marignane, approximate 1991-2020 normals [estimate]: rain days >= 1 mm and mm. */
static const double rain_days[12] = { 6, 5, 5, 6, 5, 3, 1.5, 2.5, 5, 7, 7, 6 };
static const double rain_mm[12] = { 50, 30, 30, 50, 40, 22, 8, 25, 75, 85, 70, 55 };

static int64_t day_of(fb_time_us t)
{
	return t >= 0 ? t / FB_US_PER_DAY : -((-t + FB_US_PER_DAY - 1) / FB_US_PER_DAY);
}

/* The k-th uniform draw of a site's day. */
static double draw(uint64_t seed, uint32_t site, int64_t day, uint64_t k)
{
	return fb_unit(fb_hash64(seed, ((uint64_t)FB_RNG_WEATHER << 32) | site, (uint64_t)day, k));
}

bool fb_weather_episode(uint64_t seed, uint32_t site, int64_t day, struct fb_rain_episode *ep)
{
	int y, mo, d;
	fb_civil_from_days(day, &y, &mo, &d);
	int m = mo - 1;
	int mdays = (int)(fb_days_from_civil(mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1, 1) -
	                  fb_days_from_civil(y, mo, 1));
	if (draw(seed, site, day, 0) >= rain_days[m] / mdays)
		return false;
	/* A mixture keeps the month's mean: storms (fraction q) are 3x the mean rain day, the other
	 * rain days carry the rest. */
	double mean = rain_mm[m] / rain_days[m];
	bool autumn = m >= 8 && m <= 10;
	double q = autumn ? 0.2 : 0.08;
	bool storm = draw(seed, site, day, 1) < q;
	double day_mean = storm ? 3 * mean : mean * (1 - 3 * q) / (1 - q);
	double scale = day_mean > 1.5 ? day_mean - 1 : 0.5;
	double total = 1.0 - scale * log1p(-draw(seed, site, day, 2));   /* >= 1 mm */
	double dur_h = storm ? 1 + 3 * draw(seed, site, day, 3) : 2 + 8 * draw(seed, site, day, 3);
	double start_h = (24 - dur_h) * draw(seed, site, day, 4);
	fb_time_us midnight = day * FB_US_PER_DAY;
	ep->start = midnight + (fb_time_us)(start_h * FB_US_PER_H);
	ep->end = ep->start + (fb_time_us)(dur_h * FB_US_PER_H);
	ep->total_mm = total;
	ep->storm = storm;
	return true;
}

double fb_weather_rain_mm_h(uint64_t seed, uint32_t site, fb_time_us t)
{
	struct fb_rain_episode ep;
	if (!fb_weather_episode(seed, site, day_of(t), &ep) || t < ep.start || t >= ep.end)
		return 0;
	return ep.total_mm / ((double)(ep.end - ep.start) / FB_US_PER_H);
}

double fb_weather_runoff_mm(uint64_t seed, uint32_t site, fb_time_us t)
{
	const double lag_h = 0.5, tau_h = 8.0;
	int64_t today = day_of(t);
	double runoff = 0;
	for (int64_t day = today - 5; day <= today; day++) {
		struct fb_rain_episode ep;
		if (!fb_weather_episode(seed, site, day, &ep))
			continue;
		double loss = fb_weather_summer_factor(ep.start) > 0.5 ? 25 : 10;
		double excess = ep.total_mm - loss;
		if (excess <= 0)
			continue;
		double dur_h = (double)(ep.end - ep.start) / FB_US_PER_H;
		double rise_h = fmax(0.25, 0.5 * dur_h);
		double h = (double)(t - ep.start) / FB_US_PER_H - lag_h;
		if (h <= 0)
			continue;
		runoff += h < rise_h ? excess * h / rise_h : excess * exp(-(h - rise_h) / tau_h);
	}
	return runoff;
}

double fb_weather_flood_stage_m(double runoff_mm, double gain_m)
{
	return runoff_mm > 0 ? gain_m * pow(runoff_mm, 0.7) : 0;
}

double fb_weather_wetness_mm_day(uint64_t seed, uint32_t site, fb_time_us t)
{
	/* Kernel over the age of each episode's start: a 12-hour ramp while the soil and the aquifer
	 * take the water in, then a 15-day exponential release; normalised to a daily mean. */
	const double ramp_d = 0.5, tau_d = 15, norm = ramp_d / 2 + tau_d;
	int64_t today = day_of(t);
	double sum = 0;
	for (int k = 0; k < 45; k++) {
		struct fb_rain_episode ep;
		if (!fb_weather_episode(seed, site, today - k, &ep) || ep.start > t)
			continue;
		double age = (double)(t - ep.start) / FB_US_PER_DAY;
		double w = age < ramp_d ? age / ramp_d : exp(-(age - ramp_d) / tau_d);
		sum += w * ep.total_mm;
	}
	return sum / norm;
}

static double day_of_year(fb_time_us t)
{
	int64_t day = day_of(t);
	int y, m, d;
	fb_civil_from_days(day, &y, &m, &d);
	return (double)(day - fb_days_from_civil(y, 1, 1)) +
	       (double)(t - day * FB_US_PER_DAY) / FB_US_PER_DAY;
}

double fb_weather_temperature_normal_c(fb_time_us t)
{
	/* 16 °C annual mean, ±9 °C, coldest around 20 January. */
	return 16.0 - 9.0 * cos(2 * M_PI * (day_of_year(t) - 20) / 365.25);
}

double fb_weather_summer_factor(fb_time_us t)
{
	/* Driest and warmest in early August (day 215); zero from November to April. */
	double c = cos(2 * M_PI * (day_of_year(t) - 215) / 365.25);
	return c > 0.3 ? (c - 0.3) / 0.7 : 0;
}

/* The day's temperature anomaly, N(0, 2.5) from two hashed uniforms (Box-Muller). */
static double anomaly(uint64_t seed, uint32_t site, int64_t day)
{
	double u = draw(seed, site, day, 10), v = draw(seed, site, day, 11);
	return 2.5 * sqrt(-2 * log1p(-u)) * cos(2 * M_PI * v);
}

double fb_weather_temperature_c(uint64_t seed, uint32_t site, fb_time_us t)
{
	double normal = fb_weather_temperature_normal_c(t);
	/* Solar time in Provence is about UTC + 0.35 h. */
	double solar_h = fmod((double)(t - day_of(t) * FB_US_PER_DAY) / FB_US_PER_H + 0.35, 24);
	double amp = 3.5 + 1.5 * fb_weather_summer_factor(t);
	double diurnal = amp * cos(2 * M_PI * (solar_h - 15) / 24);
	/* Anomaly interpolated between day centres so it never jumps at midnight. */
	double x = (double)t / FB_US_PER_DAY - 0.5;
	int64_t d0 = (int64_t)floor(x);
	double f = x - (double)d0;
	double anom = (1 - f) * anomaly(seed, site, d0) + f * anomaly(seed, site, d0 + 1);
	double rain = fb_weather_rain_mm_h(seed, site, t) > 0 ? -2.0 : 0;
	return normal + diurnal + anom + rain;
}
