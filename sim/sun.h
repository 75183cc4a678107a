/* Sunrise and sunset, NOAA "General Solar Position Calculations" (NOAA Global Monitoring
 * Division): fractional-year series for the equation of time and the declination, hour angle
 * for a zenith of 90.833° (refraction and the solar disc's radius). Accurate to about a minute
 * at mid latitudes, which is what a street-light schedule needs. */
#ifndef FB_SUN_H
#define FB_SUN_H
#include "sim/fbtime.h"

enum fb_sun_day {
	FB_SUN_NORMAL = 0,     /* the sun rises and sets */
	FB_SUN_POLAR_DAY = 1,  /* above the horizon all day: no times written */
	FB_SUN_POLAR_NIGHT = -1
};

/* Sunrise and sunset (UTC instants) of the civil date year-month-mday at (lat, lon) in degrees,
 * east positive. The instants belong to the solar day centred on that date's local solar noon,
 * which is what a local date means anywhere within ±12 h of UTC. */
enum fb_sun_day fb_sun_times(double lat, double lon, int year, int month, int mday,
                             fb_time_us *sunrise, fb_time_us *sunset);

#endif
