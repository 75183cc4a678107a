/* The trace: every sample as one JSON line, keys in a fixed order, numbers at each field's
 * resolution. It is the expected stream the bench reconciles against, so it is byte-stable:
 * {"ts":"2026-06-01T06:15:00.000Z","device":"bike-counter-000012","type":"bike-counter",
 *  "site":"marseille-vieux-port","seq":25,"values":{...}}
 * A sample with an injected fault (sim/fault.h) ends with ,"fault":"<kind>" after "values", and
 * an invalid reading is written null. */
#ifndef FB_TRACE_H
#define FB_TRACE_H
#include <stddef.h>
#include "sim/engine.h"
#include "sim/scenario.h"

struct fb_trace;

/* Writes to fd (not closed by the trace). NULL when memory runs out. */
struct fb_trace *fb_trace_new(const struct fb_scenario *sc, int fd);
/* Appends one line; flushes its buffer when full. Returns 0, or -1 on a write error (then
 * reported once and further lines dropped; see fb_trace_failed). */
int fb_trace_write(struct fb_trace *tr, const struct fb_sample *s);
/* Formats one line into buf (cap >= 4096 is always enough); returns its length. */
size_t fb_trace_format(struct fb_trace *tr, const struct fb_sample *s, char *buf);
int fb_trace_flush(struct fb_trace *tr);
int fb_trace_failed(const struct fb_trace *tr);
uint64_t fb_trace_bytes(const struct fb_trace *tr);
void fb_trace_free(struct fb_trace *tr);

/* Sink adapter for fb_engine_set_sink(). */
void fb_trace_sink(void *trace, const struct fb_sample *s);

#endif
