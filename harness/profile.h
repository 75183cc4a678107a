/* A sensor type's conformance profile: what `fleetbench validate` holds a real device to. It is
 * the type's field table (sim/model.h: names, units, kinds, ranges, resolution) and default
 * reporting interval, its cumulative counters (the field table's `counter`: a totem's count since
 * local midnight falls only at midnight, energy since installation never), plus what the checks
 * need beyond the field table:
 *
 *  - whether reports may come earlier than the interval (types whose model schedules event
 *    reports: a waste container's tilt after a collection, a river gauge's fast mode);
 *  - the tolerances the interval, jitter and timestamp checks apply, and the time zone whose
 *    midnight resets daily counters;
 *  - --counter FIELD[:KIND] to declare a counter of a user-defined type. */
#ifndef FB_PROFILE_H
#define FB_PROFILE_H
#include <stdbool.h>
#include <stdio.h>
#include "sim/fbtime.h"
#include "sim/model.h"

struct fb_profile {
	const struct fb_model *model;
	fb_time_us interval_us;        /* declared reporting interval (the type's default, or --interval) */
	bool early_reports;            /* event reports may come before the interval is up */
	double tolerance;              /* interval: the median may differ from interval_us by this
	                                  fraction; jitter: p95 of |interval - interval_us| within it */
	fb_time_us skew_us;            /* a timestamp may be ahead of the bench's clock by this much */
	const char *timezone;          /* local midnight for daily / yearly counters */
	enum fb_field_counter counter[FB_MAX_FIELDS];   /* per field, from the field table */
};

#define FB_PROFILE_TOLERANCE 0.05
#define FB_PROFILE_SKEW_US (2 * FB_US_PER_S)
#define FB_PROFILE_TIMEZONE "Europe/Paris"

/* The profile of model m with the defaults above. */
void fb_profile_init(struct fb_profile *p, const struct fb_model *m);
/* "total", "daily", "yearly" (or "none") and back; -1 for an unknown name. */
const char *fb_counter_kind_name(enum fb_field_counter k);
int fb_counter_kind_parse(const char *name);
/* --counter FIELD[:KIND] (KIND total by default): sets the field's kind. Returns 0, or -1 after
 * fb_error (unknown field, with a suggestion; unknown kind). */
int fb_profile_set_counter(struct fb_profile *p, const char *spec);
bool fb_profile_has_counters(const struct fb_profile *p);
/* The profile as text: the interval and tolerances, then one line per field. */
void fb_profile_print(const struct fb_profile *p, FILE *out);

#endif
