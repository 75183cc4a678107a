/* Device validation: the bench plays the platform for a real device and checks its traffic
 * against its type's profile (harness/profile.h). The checks are a pure module: they consume the
 * collectors' observations (harness/collect.h: one struct fb_obs per message, through
 * fb_validate_observe as the collector's sink) and produce a conformance report with one check
 * per line: PASS or FAIL, what was measured, what was expected.
 *
 * Checks, by protocol (a check that cannot apply, such as timestamps for a codec that carries
 * none, is listed under "not checked" with the reason, never passed silently):
 *
 *   traffic      at least one report arrived (every protocol)
 *   decode       every payload decodes for the codec, from a known device (LoRaWAN: frames of
 *                DevAddrs not in the keys file are the neighbours' a gateway hears: counted,
 *                left out)
 *   fields       every report carries each field of the profile, none unknown or mistyped
 *                (SenML: in the profile's units)
 *   range        every value within its field's [min, max]; ENUM a valid index, BOOL 0/1
 *   resolution   every value on its field's grid (a multiple of the resolution; INTEGER whole)
 *   interval     median interval between reports within ± tolerance of the declared one
 *   jitter       p95 of |interval - declared| within the tolerance
 *                (both by the reports' timestamps when every report carries a sane one, so
 *                network and bench delays are not charged to the device; on arrival otherwise;
 *                types whose model sends event reports may report early: those are set aside;
 *                an interval of whole periods is a report missing, counted, not jitter; a
 *                LoRaWAN session's first uplink may come early)
 *   counters     cumulative fields never fall, except across their reset (local midnight ...)
 *   timestamps   not ahead of the bench's clock by more than the skew, not before the previous
 *   sequence     a carried sample seq never repeats or goes back
 *   mic          LoRaWAN: every MIC verifies
 *   fcnt         LoRaWAN: FCnt strictly increasing between joins
 *   devnonce     LoRaWAN: no DevNonce reused
 *   duty-cycle   LoRaWAN: airtime per sub-band within its duty cycle over any hour (EU868,
 *                protocols/lorawan/region.h); fb_obs has no frequency yet, so all uplinks
 *                count against the 2 % of the two 1 % sub-bands uplinks use
 *   map          Modbus: every poll of the map answered, no exception
 *
 * Modbus has no interval, jitter or timestamps (the bench polls). */
#ifndef FB_VALIDATE_H
#define FB_VALIDATE_H
#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include "harness/collect.h"
#include "harness/profile.h"

enum fb_validate_format { FB_VALIDATE_TEXT, FB_VALIDATE_JSON, FB_VALIDATE_JUNIT };

struct fb_validate_opts {
	const char *proto;         /* "mqtt", "lorawan", "modbus" */
	const char *codec;         /* the codec decoded with, or NULL (modbus) */
	const char *source;        /* what was listened to, for the report ("mqtt://h:p 'topic'") */
};

struct fb_validate;

/* The profile is copied. NULL when out of memory or the protocol is unknown (after fb_error). */
struct fb_validate *fb_validate_new(const struct fb_profile *p, const struct fb_validate_opts *o);
void fb_validate_free(struct fb_validate *v);
/* A collector's sink (fb_obs_fn): arg is the struct fb_validate. */
void fb_validate_observe(void *arg, const struct fb_obs *o);
/* Ends the observation that ran over [started, ended] (wall µs) and runs the checks that need the
 * whole stream (interval, jitter, duty cycle). Idempotent; the report functions call it with the
 * last observation's time if it was not called. */
void fb_validate_finish(struct fb_validate *v, fb_time_us started, fb_time_us ended);
/* After finish: true when every check passed. */
bool fb_validate_passed(struct fb_validate *v);
/* The number of observations taken (data reports, joins and polls). */
uint64_t fb_validate_observations(const struct fb_validate *v);

/* One check's outcome, for callers and tests. NULL when `name` was not run ("not checked"). */
struct fb_validate_check {
	const char *name;
	bool passed;
	char measured[320];
	char expected[320];
};
const struct fb_validate_check *fb_validate_check(struct fb_validate *v, const char *name);
/* The reason a check was not run, or NULL when it ran or is unknown. */
const char *fb_validate_not_checked(struct fb_validate *v, const char *name);

/* The report: text (one check per line), JSON or JUnit XML. Returns 0 or -1 on a write error. */
int fb_validate_write(struct fb_validate *v, enum fb_validate_format fmt, FILE *out);
json_t *fb_validate_report(struct fb_validate *v);

/* `fleetbench validate`: harness/validate_cmd.c. */
int fb_cmd_validate(int argc, char **argv);

#endif
