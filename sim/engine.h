/* The discrete-event engine: a fleet of devices in virtual time. Events are totally ordered by
 * (time, device global index, per-device seq), never by insertion order, so a shard's events are
 * exactly the single run's events for its devices. */
#ifndef FB_ENGINE_H
#define FB_ENGINE_H
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"
#include "sim/model.h"
#include "sim/scenario.h"

struct fb_engine;

struct fb_sample {
	const struct fb_fleet *fleet;
	const struct fb_model *model;
	uint32_t device;          /* global index */
	uint32_t seq;             /* the device's sample count before this one */
	fb_time_us t;             /* scheduled virtual time */
	const double *values;     /* model->nfields values, quantized to each field's resolution
	                             (a fault may put them out of range, or NaN: sim/fault.h) */
	uint16_t fault;           /* enum fb_fault_kind injected into this sample, 0 for none */
	uint16_t flags;           /* enum fb_sample_flag: FB_SAMPLE_UNSENT samples are in the trace
	                             but never leave the device (transports skip them) */
};

/* Called for every sample, in event order. */
typedef void (*fb_sample_fn)(void *arg, const struct fb_sample *s);

/* Instantiates this shard's devices of `sc` for a run over [start, start + duration).
 * Returns NULL (after fb_error) if memory runs out. */
struct fb_engine *fb_engine_new(const struct fb_scenario *sc, uint32_t shard_index,
                                uint32_t shard_count, fb_time_us start, fb_time_us duration);
void fb_engine_free(struct fb_engine *e);
void fb_engine_set_sink(struct fb_engine *e, fb_sample_fn fn, void *arg);

/* Runs due events with time < until (and < the run's end), at most max_events of them.
 * Returns how many ran. */
size_t fb_engine_run(struct fb_engine *e, fb_time_us until, size_t max_events);
/* Time of the next event, or FB_TIME_NEVER when the run is over. */
fb_time_us fb_engine_next_time(const struct fb_engine *e);
/* Virtual time of the event being run or last run (the run's start before any). */
fb_time_us fb_engine_now(const struct fb_engine *e);
fb_time_us fb_engine_end(const struct fb_engine *e);
const struct fb_world *fb_engine_world(const struct fb_engine *e);

/* A command into a device (a transport received it): applied at the engine's current virtual
 * time, so the device's next sample shows it. Returns 0, -1 if the device is not in this shard,
 * -2 if the field is unknown or not writable, -3 if the value is out of range. */
int fb_engine_command(struct fb_engine *e, uint32_t device, const char *field, double value);

/* This shard's devices: global indexes [first, first + count). */
uint32_t fb_engine_first_device(const struct fb_engine *e);
uint32_t fb_engine_device_count(const struct fb_engine *e);

struct fb_engine_stats {
	uint64_t events;
	uint64_t samples;
	uint64_t commands;
	const uint64_t *samples_by_fleet;   /* sc->nfleets entries */
};
void fb_engine_stats(const struct fb_engine *e, struct fb_engine_stats *out);

/* The scenario's faults (sim/fault.h) as parsed and bound by fb_engine_new, or NULL when it has
 * none. Transports read the rules and add their counts through it. */
struct fb_faults *fb_engine_faults(const struct fb_engine *e);

/* Checks the queue's invariants (heap order, FIFO order); 0 when sound. For tests. */
int fb_engine_validate(const struct fb_engine *e);

#endif
