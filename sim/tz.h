/* Local time in the scenario's time zone, fast: offsets precomputed per UTC hour over the run. */
#ifndef FB_TZ_H
#define FB_TZ_H
#include <stdbool.h>
#include "sim/fbtime.h"

struct fb_tz;

struct fb_localtime {
	int year, month, mday;   /* month 1..12 */
	int wday;                /* 0 = Sunday .. 6 = Saturday */
	int yday;                /* 0-based day of the year */
	int hour, min, sec;
	double hour_f;           /* hour of the day with fraction, 0 <= hour_f < 24 */
	int64_t day;             /* local days since 1970-01-01 */
	int32_t offset_s;        /* UTC offset in force, seconds (7200 for CEST) */
};

/* A zone name from the tz database ("Europe/Paris", "UTC"). The table covers [from, to];
 * outside it, lookups are still right, only slower. Returns NULL if the zone is unknown. */
struct fb_tz *fb_tz_new(const char *name, fb_time_us from, fb_time_us to);
void fb_tz_free(struct fb_tz *tz);
bool fb_tz_exists(const char *name);
const char *fb_tz_name(const struct fb_tz *tz);
int32_t fb_tz_offset_s(const struct fb_tz *tz, fb_time_us t);
void fb_tz_local(const struct fb_tz *tz, fb_time_us t, struct fb_localtime *out);
/* The UTC instant of local midnight starting local day `day`. */
fb_time_us fb_tz_local_midnight(const struct fb_tz *tz, int64_t day);

#endif
