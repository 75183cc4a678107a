/* Time zones through the system's tz database, read once: the UTC offset is tabulated per
 * 15-minute slot of UTC over the run (every real zone changes offset on such a boundary), so a
 * local-time lookup is a table read plus civil-date arithmetic, with no libc call per sample. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sim/tz.h"

#define SLOT_US (15 * FB_US_PER_MIN)
#define MAX_SLOTS (11 * 366 * 96)     /* up to ~11 years tabulated; beyond, the slow path */

struct fb_tz {
	char *name;
	int64_t first_slot;
	size_t nslots;
	int32_t *offset_s;
};

static const char *current_tz;        /* the zone TZ is set to, to skip needless tzset() */

static int32_t offset_slow(const char *name, fb_time_us t)
{
	if (!current_tz || strcmp(current_tz, name)) {
		setenv("TZ", name, 1);
		tzset();
		current_tz = name;
	}
	time_t secs = (time_t)(t >= 0 ? t / FB_US_PER_S : -((-t + FB_US_PER_S - 1) / FB_US_PER_S));
	struct tm tm;
	if (!localtime_r(&secs, &tm))
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

bool fb_tz_exists(const char *name)
{
	if (!name || !*name || name[0] == '/' || strstr(name, ".."))
		return false;
	if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC"))
		return true;
	char path[512];
	const char *dir = getenv("TZDIR");
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	return access(path, R_OK) == 0;
}

struct fb_tz *fb_tz_new(const char *name, fb_time_us from, fb_time_us to)
{
	if (!fb_tz_exists(name))
		return NULL;
	struct fb_tz *tz = calloc(1, sizeof *tz);
	if (!tz || !(tz->name = strdup(name))) {
		free(tz);
		return NULL;
	}
	int64_t first = from / SLOT_US - 2 * 96, last = to / SLOT_US + 2 * 96;
	if (last < first)
		last = first;
	size_t n = (size_t)(last - first + 1);
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	tz->offset_s = malloc(n * sizeof *tz->offset_s);
	if (!tz->offset_s) {
		fb_tz_free(tz);
		return NULL;
	}
	tz->first_slot = first;
	tz->nslots = n;
	for (size_t i = 0; i < n; i++)
		tz->offset_s[i] = offset_slow(tz->name, (first + (int64_t)i) * SLOT_US);
	return tz;
}

void fb_tz_free(struct fb_tz *tz)
{
	if (!tz)
		return;
	if (current_tz == tz->name)
		current_tz = NULL;
	free(tz->offset_s);
	free(tz->name);
	free(tz);
}

const char *fb_tz_name(const struct fb_tz *tz) { return tz->name; }

int32_t fb_tz_offset_s(const struct fb_tz *tz, fb_time_us t)
{
	int64_t slot = (t >= 0 ? t / SLOT_US : -((-t + SLOT_US - 1) / SLOT_US)) - tz->first_slot;
	if (slot >= 0 && (uint64_t)slot < tz->nslots)
		return tz->offset_s[slot];
	return offset_slow(tz->name, t);
}

void fb_tz_local(const struct fb_tz *tz, fb_time_us t, struct fb_localtime *out)
{
	int32_t off = fb_tz_offset_s(tz, t);
	fb_time_us lt = t + (fb_time_us)off * FB_US_PER_S;
	int64_t day = lt >= 0 ? lt / FB_US_PER_DAY : -((-lt + FB_US_PER_DAY - 1) / FB_US_PER_DAY);
	fb_time_us in_day = lt - day * FB_US_PER_DAY;
	fb_civil_from_days(day, &out->year, &out->month, &out->mday);
	out->day = day;
	out->wday = (int)(((day % 7) + 7 + 4) % 7);       /* 1970-01-01 was a Thursday */
	out->yday = (int)(day - fb_days_from_civil(out->year, 1, 1));
	int64_t sod = in_day / FB_US_PER_S;
	out->hour = (int)(sod / 3600);
	out->min = (int)(sod / 60 % 60);
	out->sec = (int)(sod % 60);
	out->hour_f = (double)in_day / (double)FB_US_PER_H;
	out->offset_s = off;
}

fb_time_us fb_tz_local_midnight(const struct fb_tz *tz, int64_t day)
{
	/* Guess with the offset at UTC midnight, then correct once with the offset in force there
	 * (enough for every zone whose changes are not at local midnight). */
	fb_time_us guess = day * FB_US_PER_DAY;
	int32_t off = fb_tz_offset_s(tz, guess);
	fb_time_us t = guess - (fb_time_us)off * FB_US_PER_S;
	int32_t off2 = fb_tz_offset_s(tz, t);
	if (off2 != off)
		t = guess - (fb_time_us)off2 * FB_US_PER_S;
	return t;
}
