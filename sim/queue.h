/* The pending-event set. An 8-ary min-heap (children of a node share two cache lines) for
 * everything, plus a fast path for fixed-period telemetry: one FIFO ring per period, kept sorted
 * because a device re-appended at t + P after its event at t arrives in event order; the rings'
 * heads sit in a small 8-ary heap of their own. A periodic push costs O(1) + O(log #periods)
 * instead of O(log N) cache misses (see shared/reference/style_engine_scale.md §B.2).
 * Order: (t, tie) lexicographic; the engine packs tie = device << 32 | seq. */
#ifndef FB_QUEUE_H
#define FB_QUEUE_H
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"

struct fb_event {
	fb_time_us t;
	uint64_t tie;
};

static inline int fb_event_less(const struct fb_event *a, const struct fb_event *b)
{
	return a->t < b->t || (a->t == b->t && a->tie < b->tie);
}

/* One ring of events that recur with the same period, in event order. */
struct fb_fifo {
	fb_time_us period;
	struct fb_event *ring;
	size_t head, n, cap;        /* cap is a power of two */
	size_t pos;                 /* index in the heads heap while non-empty */
};

struct fb_queue {
	struct fb_event *heap;      /* 8-ary heap of aperiodic events */
	size_t heap_n, heap_cap;
	struct fb_fifo *fifos;      /* one per distinct period */
	size_t nfifos, fifos_cap;
	uint32_t *heads;            /* 8-ary heap of indexes of non-empty fifos, by head event */
	struct fb_event *head_keys; /* head_keys[i]: the head event of ring heads[i] */
	size_t heads_n;
	int32_t *period_slots;      /* open-addressed map: period -> fifo index (-1 empty) */
	size_t period_slots_n;      /* power of two */
	size_t count;               /* all events */
};

void fb_queue_init(struct fb_queue *q);
void fb_queue_release(struct fb_queue *q);
/* Preallocates the heap for n events. Returns 0 or -1 (out of memory). */
int fb_queue_reserve(struct fb_queue *q, size_t n);
/* Adds an event. period_us > 0 says the event recurs with that period, and it takes the FIFO
 * fast path when it sorts after that ring's tail (it falls back to the heap otherwise, so order
 * is always exact). Returns 0 or -1 (out of memory). */
int fb_queue_push(struct fb_queue *q, struct fb_event ev, fb_time_us period_us);
/* The least event, or NULL when empty. */
const struct fb_event *fb_queue_peek(const struct fb_queue *q);
/* Removes the least event into *out; returns 0, or -1 when empty. */
int fb_queue_pop(struct fb_queue *q, struct fb_event *out);
/* Removes the least event and adds `ev` in one step: when both are heap events the new one
 * takes the root's place and sifts down once (libev's timers_reify re-arm), instead of a pop
 * and a push. Returns 0, or -1 when empty or out of memory. */
int fb_queue_replace_top(struct fb_queue *q, struct fb_event ev, fb_time_us period_us);
static inline size_t fb_queue_size(const struct fb_queue *q) { return q->count; }
/* 0 when every invariant holds (heap order, ring order, heads heap and positions). */
int fb_queue_validate(const struct fb_queue *q);

#endif
