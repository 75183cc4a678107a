/* The pending-event set. An 8-ary min-heap (children of a node share two cache lines) for
 * everything, plus a fast path for fixed-period telemetry: one FIFO ring per period, kept sorted
 * because a device re-appended at t + P after its event at t arrives in event order. A periodic
 * push costs O(1) instead of O(log N) cache misses (see shared/reference/style_engine_scale.md
 * §B.2).
 *
 * The rings' heads (one per distinct period, hundreds when intervals are spread over a range)
 * are merged by a calendar of 1 ms buckets over the next few seconds: a head lands in the bucket
 * of its time, each bucket a short list sorted by (t, tie), a bitmap finds the next non-empty
 * bucket. Taking the least head and putting the ring's next head back costs O(1), where a heap of
 * heads cost a sift over log8(#periods) levels of 8 keys. Heads outside the calendar's window
 * (sparse rings whose next event is far ahead, or a push into the past) or in a crowded bucket
 * go to a small 8-ary heap of heads instead, so order is always exact and any workload is at
 * worst as fast as a heap of heads.
 * Order: (t, tie) lexicographic; the engine packs tie = device << 32 | seq. */
#ifndef FB_QUEUE_H
#define FB_QUEUE_H
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"
#include "sim/mem.h"

struct fb_event {
	fb_time_us t;
	uint64_t tie;
};

static inline int fb_event_less(const struct fb_event *a, const struct fb_event *b)
{
	return a->t < b->t || (a->t == b->t && a->tie < b->tie);
}

/* One ring of events that recur with the same period, in event order. What an event touches
 * fills the first cache line (the array is aligned on lines); the queue's decisions read the
 * copies of the head, the next and the tail's time kept here, never the ring itself, whose
 * lines are rarely in cache. */
struct fb_fifo {
	_Alignas(64) struct fb_event key;   /* the head event (n >= 1) */
	struct fb_event key2;       /* the one after it (n >= 2) */
	struct fb_event *ring;
	fb_time_us tail_t;          /* the tail event's time (n >= 1) */
	uint32_t head, n, cap;      /* cap is a power of two */
	int32_t cal_next;           /* next ring in the same calendar bucket, -1 at the end */
	/* second line: */
	fb_time_us period;
	size_t pos;                 /* index in the heads heap while its head is there */
	size_t expected;            /* events announced by fb_queue_expect() */
};

#define FB_QUEUE_CAL_BUCKETS 4096           /* power of two */
#define FB_QUEUE_CAL_WIDTH_US 1000          /* engine times are whole milliseconds */
#define FB_QUEUE_CAL_AHEAD 8                /* buckets announced ahead of the least */
#define FB_QUEUE_UPCOMING 32

struct fb_queue {
	struct fb_event *heap;      /* 8-ary heap of aperiodic events */
	size_t heap_n, heap_cap;
	struct fb_fifo *fifos;      /* one per distinct period */
	size_t nfifos, fifos_cap;
	uint32_t *heads;            /* 8-ary heap of indexes of rings whose head is not in the calendar */
	struct fb_event *head_keys; /* head_keys[i]: the head event of ring heads[i] */
	size_t heads_n;
	int32_t *period_slots;      /* open-addressed map: period -> fifo index (-1 empty) */
	size_t period_slots_n;      /* power of two */
	size_t count;               /* all events */
	/* The calendar of ring heads: every head in it has its bucket (t / width, floored) in
	 * [cal_base, cal_base + FB_QUEUE_CAL_BUCKETS); bucket b is slot b % FB_QUEUE_CAL_BUCKETS. */
	int32_t *cal_first;         /* per slot: the ring with the least head, -1 when empty */
	uint64_t *cal_bits;         /* per slot: 1 when non-empty */
	int64_t cal_base;           /* follows the last event taken out */
	int64_t cal_min;            /* bucket of the least head in the calendar (when cal_n) */
	size_t cal_n;               /* rings whose head is in the calendar */
	const struct fb_event *top; /* the least event, NULL when empty */
	int top_src;                /* where it is: 0 heap, 1 heads heap, 2 calendar */
	int popped;                 /* an event was taken out: cal_base follows them */
	int64_t ahead_bucket;       /* the next calendar bucket whose heads are announced */
	unsigned nupcoming;
	struct fb_event upcoming[FB_QUEUE_UPCOMING];    /* see fb_queue_upcoming() */
	struct fb_arena arena;      /* the rings and the heap (huge pages: sim/mem.h) */
};

void fb_queue_init(struct fb_queue *q);
void fb_queue_release(struct fb_queue *q);
/* Preallocates the heap for n events. Returns 0 or -1 (out of memory). */
int fb_queue_reserve(struct fb_queue *q, size_t n);
/* Adds an event. period_us > 0 says the event recurs with that period, and it takes the FIFO
 * fast path when it sorts after that ring's tail (it falls back to the heap otherwise, so order
 * is always exact). Returns 0 or -1 (out of memory). */
int fb_queue_push(struct fb_queue *q, struct fb_event ev, fb_time_us period_us);
/* Says that n events with this period are coming: their ring is then allocated once at its
 * size instead of doubling its way there (a million devices' first events). Returns 0 or -1
 * (out of memory). */
int fb_queue_expect(struct fb_queue *q, fb_time_us period_us, size_t n);
/* The least event, or NULL when empty. Valid until the queue next changes. */
static inline const struct fb_event *fb_queue_peek(const struct fb_queue *q) { return q->top; }
/* Removes the least event into *out; returns 0, or -1 when empty. */
int fb_queue_pop(struct fb_queue *q, struct fb_event *out);
/* Removes the least event and adds `ev` in one step: when both are heap events the new one
 * takes the root's place and sifts down once (libev's timers_reify re-arm), instead of a pop
 * and a push. Returns 0, or -1 when empty or out of memory. */
int fb_queue_replace_top(struct fb_queue *q, struct fb_event ev, fb_time_us period_us);
/* Events that will soon be due: each ring head in the calendar is announced once, when it
 * comes within FB_QUEUE_CAL_AHEAD buckets of the least (a few dozen events ahead at a million
 * devices), so the caller can fetch what those events will need while others run; the queue
 * fetches the ring lines they will touch. A hint only: heap events are not announced and the
 * list keeps the first FB_QUEUE_UPCOMING. The caller empties it with fb_queue_upcoming_clear(). */
static inline unsigned fb_queue_upcoming(const struct fb_queue *q, const struct fb_event **list)
{
	*list = q->upcoming;
	return q->nupcoming;
}
static inline void fb_queue_upcoming_clear(struct fb_queue *q) { q->nupcoming = 0; }
static inline size_t fb_queue_size(const struct fb_queue *q) { return q->count; }
/* 0 when every invariant holds (heap order, ring order, heads heap and positions, calendar
 * buckets, the cached least event). */
int fb_queue_validate(const struct fb_queue *q);

#endif
