/* A site's weather as a pure function of (run seed, site index, time): no state, nothing shared,
 * so every device of a site, on any shard, sees the same rain and the same floods.
 *
 * Climate: Marseille (Mediterranean): dry summer, autumn storms from September to November,
 * about 60 rain days (>= 1 mm) and 550-600 mm a year; monthly normals approximate the
 * Météo-France 1991-2020 normals for Marseille-Marignane [estimate]. Each UTC day has at most one
 * rain episode (constant intensity, starting and ending within the day); in autumn about one rain
 * day in five is a convective storm, three times wetter than the month's mean rain day.
 *
 * Days are UTC days; months and seasons follow the UTC date (an hour's difference from the local
 * date does not matter for a climate). */
#ifndef FB_WEATHER_H
#define FB_WEATHER_H
#include <stdbool.h>
#include <stdint.h>
#include "sim/fbtime.h"

struct fb_rain_episode {
	fb_time_us start, end;  /* within one UTC day */
	double total_mm;        /* rain over the episode; intensity = total / duration */
	bool storm;             /* a convective storm (short, intense) */
};

/* The rain episode of UTC day `day` (days since 1970-01-01) at a site; false for a dry day. */
bool fb_weather_episode(uint64_t seed, uint32_t site, int64_t day, struct fb_rain_episode *ep);

/* Rain intensity in mm/h at time t (0 when dry). */
double fb_weather_rain_mm_h(uint64_t seed, uint32_t site, fb_time_us t);

/* Storm runoff reaching the site's river at t, in mm of effective rain (rain beyond the soil's
 * initial loss, 10 mm, 25 mm on dry summer soils): it rises from 30 minutes after the episode's
 * start over half the episode (at least 15 minutes), peaks, then recedes exponentially with an
 * 8 h time constant. Summed over the episodes of the last five days. 0 in dry weather.
 * water-level and water-quality both derive their flood from it, so they agree at a site. */
double fb_weather_runoff_mm(uint64_t seed, uint32_t site, fb_time_us t);

/* Stage rise in metres for a runoff (the rating curve's power law, stage ~ runoff^0.7), with
 * gain_m the rise for 1 mm: 0.04 gives 0.4 m for a 40 mm storm, 1.7 m for the 221 mm of 1892. */
double fb_weather_flood_stage_m(double runoff_mm, double gain_m);

/* Catchment wetness, mm/day: the rain of the last 45 days weighted by a kernel that ramps up
 * over 12 hours (infiltration) and then decays over 15 days (release), normalised so that a steady
 * rain of x mm/day gives x. Continuous in time; drives base flow. */
double fb_weather_wetness_mm_day(uint64_t seed, uint32_t site, fb_time_us t);

/* Climatological daily-mean air temperature for the date of t, °C (7 in mid-January,
 * 25 in late July). */
double fb_weather_temperature_normal_c(fb_time_us t);

/* Air temperature at t, °C: the normal, a diurnal cycle (minimum near 06 h, maximum near
 * 15 h solar time, ±3.5 °C in winter to ±5 °C in summer), a smooth day-to-day anomaly
 * (sd 2.5 °C) and 2 °C of cooling while it rains. */
double fb_weather_temperature_c(uint64_t seed, uint32_t site, fb_time_us t);

/* 0 in winter .. 1 at the height of summer (early August): the season's dryness, used for low
 * water and warm-water effects. */
double fb_weather_summer_factor(fb_time_us t);

#endif
