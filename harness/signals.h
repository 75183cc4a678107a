/* Signals: for the report's charts, the values a few devices of each sensor type produced over
 * the run. For each type of the scenario, the first NUMBER field (else the first INTEGER field)
 * of the first FB_SIGNALS_DEVICES devices of this shard of that type, at most
 * FB_SIGNALS_POINTS points per device: every k-th sample, with k chosen from the fleet's
 * interval and the run's duration, and doubled (the buffer thinned to every other point) if a
 * device still sends more. All memory is allocated by fb_signals_new. */
#ifndef FB_SIGNALS_H
#define FB_SIGNALS_H
#include <stdint.h>
#include <jansson.h>
#include "sim/engine.h"
#include "sim/scenario.h"

#define FB_SIGNALS_DEVICES 3
#define FB_SIGNALS_POINTS 1500

struct fb_signals;

/* For this shard's devices [first_device, first_device + count) over a run of `duration`.
 * NULL if out of memory. */
struct fb_signals *fb_signals_new(const struct fb_scenario *sc, uint32_t first_device, uint32_t count,
                                  fb_time_us duration);
void fb_signals_free(struct fb_signals *sig);
/* Every sample of the run may be passed: a device not recorded costs one compare. */
void fb_signals_add(struct fb_signals *sig, const struct fb_sample *s);
/* The report's "signals" object (harness/report.h). */
json_t *fb_signals_report(const struct fb_signals *sig);

#endif
