#include <math.h>
#include "sim/sun.h"

#define DEG (M_PI / 180.0)

/* Equation of time (minutes) and declination (radians) for a fractional year gamma. */
static void solar_terms(double gamma, double *eqtime_min, double *decl)
{
	*eqtime_min = 229.18 * (0.000075 + 0.001868 * cos(gamma) - 0.032077 * sin(gamma) -
	                        0.014615 * cos(2 * gamma) - 0.040849 * sin(2 * gamma));
	*decl = 0.006918 - 0.399912 * cos(gamma) + 0.070257 * sin(gamma) -
	        0.006758 * cos(2 * gamma) + 0.000907 * sin(2 * gamma) -
	        0.002697 * cos(3 * gamma) + 0.00148 * sin(3 * gamma);
}

/* Minutes after 00:00 UTC of the event (rising: sunrise), evaluated with the solar terms at the
 * event's own time (one refinement from solar noon). Returns 0, or ±1 as enum fb_sun_day. */
static int event_minutes(double lat, double lon, int doy, int days_in_year, int rising,
                         double *minutes)
{
	double guess = 720 - 4 * lon;   /* start from solar noon */
	for (int pass = 0; pass < 2; pass++) {
		double gamma = 2 * M_PI / days_in_year * (doy - 1 + (guess / 60 - 12) / 24);
		double eqtime, decl;
		solar_terms(gamma, &eqtime, &decl);
		double c = cos(90.833 * DEG) / (cos(lat * DEG) * cos(decl)) - tan(lat * DEG) * tan(decl);
		if (c < -1)
			return FB_SUN_POLAR_DAY;
		if (c > 1)
			return FB_SUN_POLAR_NIGHT;
		double ha = acos(c) / DEG;
		guess = 720 - 4 * (lon + (rising ? ha : -ha)) - eqtime;
	}
	*minutes = guess;
	return FB_SUN_NORMAL;
}

enum fb_sun_day fb_sun_times(double lat, double lon, int year, int month, int mday,
                             fb_time_us *sunrise, fb_time_us *sunset)
{
	int64_t day = fb_days_from_civil(year, month, mday);
	int doy = (int)(day - fb_days_from_civil(year, 1, 1)) + 1;
	int diy = (int)(fb_days_from_civil(year + 1, 1, 1) - fb_days_from_civil(year, 1, 1));
	double rise_min, set_min;
	int r = event_minutes(lat, lon, doy, diy, 1, &rise_min);
	if (r)
		return (enum fb_sun_day)r;
	r = event_minutes(lat, lon, doy, diy, 0, &set_min);
	if (r)
		return (enum fb_sun_day)r;
	fb_time_us midnight = day * FB_US_PER_DAY;
	*sunrise = midnight + (fb_time_us)llround(rise_min * 60.0 * FB_US_PER_S);
	*sunset = midnight + (fb_time_us)llround(set_min * 60.0 * FB_US_PER_S);
	return FB_SUN_NORMAL;
}
