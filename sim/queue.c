#include <stdlib.h>
#include <string.h>
#include "sim/queue.h"

#define D 8
#define NB FB_QUEUE_CAL_BUCKETS
#define WIDTH FB_QUEUE_CAL_WIDTH_US
/* A head whose bucket already holds this many lesser heads goes to the heads heap: sorted
 * insertion stays O(1) even when many periods line up on one millisecond. */
#define CROWD 24

enum { TOP_HEAP, TOP_HEADS, TOP_CAL };

void fb_queue_init(struct fb_queue *q)
{
	memset(q, 0, sizeof *q);
}

void fb_queue_release(struct fb_queue *q)
{
	fb_arena_release(&q->arena);       /* the heap and the rings */
	free(q->fifos);
	free(q->heads);
	free(q->head_keys);
	free(q->period_slots);
	free(q->cal_first);
	free(q->cal_bits);
	memset(q, 0, sizeof *q);
}

/* The heap lives in the arena: capacities are powers of two. */
static int heap_grow(struct fb_queue *q, size_t need)
{
	if (need <= q->heap_cap)
		return 0;
	size_t n = q->heap_cap ? q->heap_cap : 64;
	while (n < need)
		n *= 2;
	struct fb_event *h = fb_arena_alloc(&q->arena, n * sizeof *h);
	if (!h)
		return -1;
	if (q->heap_n)
		memcpy(h, q->heap, q->heap_n * sizeof *h);
	fb_arena_free(&q->arena, q->heap, q->heap_cap * sizeof *h);
	q->heap = h;
	q->heap_cap = n;
	return 0;
}

int fb_queue_reserve(struct fb_queue *q, size_t n)
{
	return heap_grow(q, n);
}

/* ---- the main heap ---- */

static void heap_up(struct fb_event *h, size_t i, struct fb_event ev)
{
	while (i > 0) {
		size_t parent = (i - 1) / D;
		if (!fb_event_less(&ev, &h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = ev;
}

static void heap_down(struct fb_event *h, size_t n, size_t i, struct fb_event ev)
{
	for (;;) {
		size_t c = i * D + 1;
		if (c >= n)
			break;
		size_t end = c + D < n ? c + D : n, best = c;
		for (size_t k = c + 1; k < end; k++)
			if (fb_event_less(&h[k], &h[best]))
				best = k;
		if (!fb_event_less(&h[best], &ev))
			break;
		h[i] = h[best];
		i = best;
	}
	h[i] = ev;
}

/* ---- rings ---- */

static inline const struct fb_event *ring_head(const struct fb_fifo *f)
{
	return &f->ring[f->head];
}

static inline const struct fb_event *ring_tail(const struct fb_fifo *f)
{
	return &f->ring[(f->head + f->n - 1) & (f->cap - 1)];
}

static int ring_append(struct fb_arena *a, struct fb_fifo *f, struct fb_event ev)
{
	if (f->n == f->cap) {
		if (f->cap >= (uint32_t)1 << 31)
			return -1;
		uint32_t ncap = f->cap ? f->cap * 2 : 16;
		while (ncap < f->expected && ncap < (uint32_t)1 << 31)
			ncap *= 2;
		struct fb_event *r = fb_arena_alloc(a, ncap * sizeof *r);
		if (!r)
			return -1;
		for (uint32_t i = 0; i < f->n; i++)
			r[i] = f->ring[(f->head + i) & (f->cap - 1)];
		fb_arena_free(a, f->ring, (size_t)f->cap * sizeof *r);
		f->ring = r;
		f->head = 0;
		f->cap = ncap;
	}
	uint32_t at = (f->head + f->n) & (f->cap - 1);
	f->ring[at] = ev;
	f->tail_t = ev.t;
	if (f->n == 0)
		f->key = ev;
	else if (f->n == 1)
		f->key2 = ev;
	f->n++;
	return 0;
}

/* Takes the head off a non-empty ring; f->key becomes the new head. The ring's memory is read
 * one entry ahead, into key2, so no decision waits for it. */
static inline void ring_shift(struct fb_fifo *f, struct fb_event *out)
{
	*out = f->key;
	f->head = (f->head + 1) & (f->cap - 1);
	f->n--;
	if (f->n) {
		f->key = f->key2;
		if (f->n > 1)
			f->key2 = f->ring[(f->head + 1) & (f->cap - 1)];
	}
}

/* ---- the heap of ring heads (those not in the calendar) ---- */

/* The heads heap caches each ring's head event beside its index (libev's EV_HEAP_CACHE_AT), so
 * sifting compares keys in one small array and never chases into the rings. */
static inline void heads_set(struct fb_queue *q, size_t i, uint32_t f, const struct fb_event *key)
{
	q->heads[i] = f;
	q->head_keys[i] = *key;
	q->fifos[f].pos = i;
}

static void heads_up(struct fb_queue *q, size_t i, uint32_t f)
{
	struct fb_event key = q->fifos[f].key;
	while (i > 0) {
		size_t parent = (i - 1) / D;
		if (!fb_event_less(&key, &q->head_keys[parent]))
			break;
		heads_set(q, i, q->heads[parent], &q->head_keys[parent]);
		i = parent;
	}
	heads_set(q, i, f, &key);
}

static void heads_down(struct fb_queue *q, size_t i, uint32_t f)
{
	struct fb_event key = q->fifos[f].key;
	size_t n = q->heads_n;
	for (;;) {
		size_t c = i * D + 1;
		if (c >= n)
			break;
		size_t end = c + D < n ? c + D : n, best = c;
		for (size_t k = c + 1; k < end; k++)
			if (fb_event_less(&q->head_keys[k], &q->head_keys[best]))
				best = k;
		if (!fb_event_less(&q->head_keys[best], &key))
			break;
		heads_set(q, i, q->heads[best], &q->head_keys[best]);
		i = best;
	}
	heads_set(q, i, f, &key);
}

/* ---- the calendar of ring heads ---- */

static inline int64_t bucket_of(fb_time_us t)
{
	return t >= 0 ? t / WIDTH : -((-(t + 1)) / WIDTH) - 1;
}

static int cal_alloc(struct fb_queue *q)
{
	if (q->cal_first)
		return 0;
	q->cal_first = malloc(NB * sizeof *q->cal_first);
	q->cal_bits = calloc(NB / 64, sizeof *q->cal_bits);
	if (!q->cal_first || !q->cal_bits) {
		free(q->cal_first);
		free(q->cal_bits);
		q->cal_first = NULL;
		q->cal_bits = NULL;
		return -1;
	}
	for (size_t i = 0; i < NB; i++)
		q->cal_first[i] = -1;
	return 0;
}

/* Ring f's head will soon be due: tell the caller, and fetch the ring lines its pop will read
 * (the entry after next) and its device's re-append will write (the tail). */
static inline void announce(struct fb_queue *q, const struct fb_fifo *f)
{
	if (q->nupcoming < FB_QUEUE_UPCOMING)
		q->upcoming[q->nupcoming++] = f->key;
	__builtin_prefetch(&f->ring[(f->head + 2) & (f->cap - 1)], 0, 3);
	__builtin_prefetch(&f->ring[(f->head + f->n) & (f->cap - 1)], 1, 3);
}

/* Announces the heads of the buckets that came within FB_QUEUE_CAL_AHEAD of the least. */
static void cal_look_ahead(struct fb_queue *q)
{
	int64_t limit = q->cal_min + FB_QUEUE_CAL_AHEAD;
	if (q->ahead_bucket < q->cal_min)
		q->ahead_bucket = q->cal_min;
	for (; q->ahead_bucket <= limit; q->ahead_bucket++) {
		size_t slot = (size_t)q->ahead_bucket & (NB - 1);
		for (int32_t fi = q->cal_first[slot]; fi >= 0; fi = q->fifos[fi].cal_next)
			announce(q, &q->fifos[fi]);
	}
}

/* Files ring fi (non-empty, key set) in the calendar; 0 if it belongs in the heads heap. */
static int cal_insert(struct fb_queue *q, uint32_t fi)
{
	struct fb_fifo *f = &q->fifos[fi];
	int64_t b = bucket_of(f->key.t);
	if (!q->cal_n && (b < q->cal_base || !q->popped))
		q->cal_base = b;      /* before any pop, "now" is the first head filed */
	if (b < q->cal_base || b - q->cal_base >= NB)
		return 0;
	size_t slot = (size_t)b & (NB - 1);
	int32_t *link = &q->cal_first[slot];
	for (int walked = 0; *link >= 0; walked++) {
		const struct fb_fifo *o = &q->fifos[*link];
		if (fb_event_less(&f->key, &o->key))
			break;
		if (walked == CROWD)
			return 0;
		link = (int32_t *)&o->cal_next;
	}
	f->cal_next = *link;
	*link = (int32_t)fi;
	if (b < q->ahead_bucket)
		announce(q, f);       /* its bucket was announced already */
	q->cal_bits[slot / 64] |= (uint64_t)1 << (slot % 64);
	if (!q->cal_n++ || b < q->cal_min)
		q->cal_min = b;
	return 1;
}

/* The first non-empty bucket at or after b (the calendar is not empty and holds nothing
 * before b). */
static int64_t cal_scan(const struct fb_queue *q, int64_t b)
{
	size_t slot = (size_t)b & (NB - 1), w = slot / 64;
	uint64_t bits = q->cal_bits[w] & (~(uint64_t)0 << (slot % 64));
	while (!bits) {
		w = (w + 1) & (NB / 64 - 1);
		bits = q->cal_bits[w];
	}
	size_t found = w * 64 + (size_t)__builtin_ctzll(bits);
	return b + (int64_t)((found - slot) & (NB - 1));
}

/* Unlinks the ring with the least head in the calendar. */
static uint32_t cal_take_min(struct fb_queue *q)
{
	size_t slot = (size_t)q->cal_min & (NB - 1);
	uint32_t fi = (uint32_t)q->cal_first[slot];
	struct fb_fifo *f = &q->fifos[fi];
	q->cal_first[slot] = f->cal_next;
	q->cal_n--;
	if (f->cal_next < 0) {
		q->cal_bits[slot / 64] &= ~((uint64_t)1 << (slot % 64));
		if (q->cal_n)
			q->cal_min = cal_scan(q, q->cal_min + 1);
	}
	return fi;
}

/* Files a non-empty ring's head (its key set): calendar, else heads heap. */
static void head_insert(struct fb_queue *q, uint32_t fi)
{
	if (cal_insert(q, fi))
		return;
	q->heads_n++;
	heads_up(q, q->heads_n - 1, fi);
}

static void update_top(struct fb_queue *q)
{
	const struct fb_event *best = NULL;
	int src = TOP_HEAP;
	if (q->heap_n)
		best = &q->heap[0];
	if (q->heads_n && (!best || fb_event_less(&q->head_keys[0], best))) {
		best = &q->head_keys[0];
		src = TOP_HEADS;
	}
	if (q->cal_n) {
		const struct fb_event *c = &q->fifos[q->cal_first[(size_t)q->cal_min & (NB - 1)]].key;
		if (!best || fb_event_less(c, best)) {
			best = c;
			src = TOP_CAL;
		}
	}
	q->top = best;
	q->top_src = src;
}

/* ---- the queue ---- */

/* One more ring; the array stays aligned on cache lines. */
static int fifos_grow(struct fb_queue *q)
{
	if (q->nfifos < q->fifos_cap)
		return 0;
	size_t n = q->fifos_cap ? q->fifos_cap * 2 : 64;
	struct fb_fifo *f = aligned_alloc(64, n * sizeof *f);
	if (!f)
		return -1;
	if (q->nfifos)
		memcpy(f, q->fifos, q->nfifos * sizeof *f);
	free(q->fifos);
	q->fifos = f;
	q->fifos_cap = n;
	return 0;
}

static int find_fifo(struct fb_queue *q, fb_time_us period, uint32_t *out)
{
	if (q->nfifos * 2 >= q->period_slots_n) {
		size_t n = q->period_slots_n ? q->period_slots_n * 2 : 64;
		int32_t *slots = malloc(n * sizeof *slots);
		if (!slots)
			return -1;
		for (size_t i = 0; i < n; i++)
			slots[i] = -1;
		for (size_t f = 0; f < q->nfifos; f++) {
			size_t h = (size_t)((uint64_t)q->fifos[f].period * 0x9e3779b97f4a7c15ULL >> 20) & (n - 1);
			while (slots[h] >= 0)
				h = (h + 1) & (n - 1);
			slots[h] = (int32_t)f;
		}
		free(q->period_slots);
		q->period_slots = slots;
		q->period_slots_n = n;
	}
	size_t mask = q->period_slots_n - 1;
	size_t h = (size_t)((uint64_t)period * 0x9e3779b97f4a7c15ULL >> 20) & mask;
	while (q->period_slots[h] >= 0) {
		if (q->fifos[q->period_slots[h]].period == period) {
			*out = (uint32_t)q->period_slots[h];
			return 0;
		}
		h = (h + 1) & mask;
	}
	if (cal_alloc(q) || fifos_grow(q))
		return -1;
	size_t hcap = q->fifos_cap;
	uint32_t *heads = realloc(q->heads, hcap * sizeof *heads);
	if (!heads)
		return -1;
	q->heads = heads;
	struct fb_event *keys = realloc(q->head_keys, hcap * sizeof *keys);
	if (!keys)
		return -1;
	q->head_keys = keys;
	struct fb_fifo *f = &q->fifos[q->nfifos];
	memset(f, 0, sizeof *f);
	f->period = period;
	f->cal_next = -1;
	q->period_slots[h] = (int32_t)q->nfifos;
	*out = (uint32_t)q->nfifos++;
	return 0;
}

/* Does ev sort after the non-empty ring's tail? Its time decides but for a tie. */
static inline int tail_before(const struct fb_fifo *f, const struct fb_event *ev)
{
	return f->tail_t < ev->t || (f->tail_t == ev->t && fb_event_less(ring_tail(f), ev));
}

static int push_heap(struct fb_queue *q, struct fb_event ev)
{
	if (heap_grow(q, q->heap_n + 1))
		return -1;
	heap_up(q->heap, q->heap_n++, ev);
	q->count++;
	update_top(q);
	return 0;
}

/* The fast path when ev sorts after ring fi's tail; the heap otherwise (a first event, or back
 * from an irregular interval), so order is always exact. */
static int push_ring(struct fb_queue *q, uint32_t fi, struct fb_event ev)
{
	struct fb_fifo *f = &q->fifos[fi];
	if (f->n == 0) {
		if (ring_append(&q->arena, f, ev))
			return -1;
		head_insert(q, fi);
		q->count++;
		update_top(q);
		return 0;
	}
	if (!tail_before(f, &ev))
		return push_heap(q, ev);
	if (ring_append(&q->arena, f, ev))
		return -1;
	q->count++;
	return 0;     /* behind a head: the least event is unchanged */
}

int fb_queue_expect(struct fb_queue *q, fb_time_us period_us, size_t n)
{
	uint32_t fi;
	if (period_us <= 0)
		return 0;
	if (find_fifo(q, period_us, &fi))
		return -1;
	q->fifos[fi].expected += n;
	return 0;
}

int fb_queue_push(struct fb_queue *q, struct fb_event ev, fb_time_us period_us)
{
	uint32_t fi;
	if (period_us <= 0)
		return push_heap(q, ev);
	if (find_fifo(q, period_us, &fi))
		return -1;
	return push_ring(q, fi, ev);
}

int fb_queue_pop(struct fb_queue *q, struct fb_event *out)
{
	if (!q->top)
		return -1;
	q->popped = 1;
	if (q->top_src == TOP_HEAP) {
		*out = q->heap[0];
		if (--q->heap_n)
			heap_down(q->heap, q->heap_n, 0, q->heap[q->heap_n]);
		q->cal_base = bucket_of(out->t) > q->cal_base ? bucket_of(out->t) : q->cal_base;
		q->count--;
		update_top(q);
		return 0;
	}
	uint32_t fi = q->top_src == TOP_HEADS ? q->heads[0] : cal_take_min(q);
	struct fb_fifo *f = &q->fifos[fi];
	ring_shift(f, out);
	/* Everything left sorts after *out, so the calendar's window can start at its bucket. */
	int64_t b = bucket_of(out->t);
	if (b > q->cal_base)
		q->cal_base = b;
	if (q->top_src == TOP_HEADS) {
		/* The ring's next head stays at the heads heap's root and sifts down, unless it
		 * now falls inside the calendar's window. */
		if (f->n && !cal_insert(q, fi))
			heads_down(q, 0, fi);
		else if (--q->heads_n)
			heads_down(q, 0, q->heads[q->heads_n]);
	} else if (f->n) {
		head_insert(q, fi);
	}
	if (q->cal_n)
		cal_look_ahead(q);
	q->count--;
	update_top(q);
	return 0;
}

int fb_queue_replace_top(struct fb_queue *q, struct fb_event ev, fb_time_us period_us)
{
	if (q->top && q->top_src == TOP_HEAP) {
		/* Would the new event take the ring fast path? Then it cannot replace the root. */
		int to_ring = 0;
		if (period_us > 0) {
			uint32_t fi;
			if (find_fifo(q, period_us, &fi))
				return -1;
			const struct fb_fifo *f = &q->fifos[fi];
			to_ring = f->n == 0 || tail_before(f, &ev);
		}
		if (!to_ring) {
			heap_down(q->heap, q->heap_n, 0, ev);
			update_top(q);
			return 0;
		}
	}
	/* A device with a fixed interval goes back to the ring it came from: no period lookup. */
	int from_ring = q->top_src != TOP_HEAP;
	uint32_t fi = q->top_src == TOP_HEADS ? q->heads[0] :
	              q->top_src == TOP_CAL ? (uint32_t)q->cal_first[(size_t)q->cal_min & (NB - 1)] : 0;
	struct fb_event dropped;
	if (fb_queue_pop(q, &dropped))
		return -1;
	if (from_ring && period_us > 0 && q->fifos[fi].period == period_us)
		return push_ring(q, fi, ev);
	return fb_queue_push(q, ev, period_us);
}

static int same_event(const struct fb_event *a, const struct fb_event *b)
{
	return a->t == b->t && a->tie == b->tie;
}

int fb_queue_validate(const struct fb_queue *q)
{
	size_t total = q->heap_n;
	const struct fb_event *least = q->heap_n ? &q->heap[0] : NULL;
	for (size_t i = 1; i < q->heap_n; i++)
		if (fb_event_less(&q->heap[i], &q->heap[(i - 1) / D]))
			return -1;
	size_t nonempty = 0, in_cal = 0;
	if ((uintptr_t)q->fifos % 64)
		return -13;
	for (size_t fi = 0; fi < q->nfifos; fi++) {
		const struct fb_fifo *f = &q->fifos[fi];
		total += f->n;
		if (!f->n)
			continue;
		nonempty++;
		if (!same_event(&f->key, ring_head(f)) || f->tail_t != ring_tail(f)->t ||
		    (f->n > 1 && !same_event(&f->key2, &f->ring[(f->head + 1) & (f->cap - 1)])))
			return -7;
		if (!least || fb_event_less(&f->key, least))
			least = &f->key;
		if (f->pos >= q->heads_n || q->heads[f->pos] != fi)
			in_cal++;     /* not in the heads heap: the calendar walk below must find it */
		for (size_t i = 1; i < f->n; i++)
			if (!fb_event_less(&f->ring[(f->head + i - 1) & (f->cap - 1)],
			                   &f->ring[(f->head + i) & (f->cap - 1)]))
				return -3;
	}
	if (nonempty != q->heads_n + q->cal_n || in_cal != q->cal_n)
		return -4;
	for (size_t i = 0; i < q->heads_n; i++) {
		if (!same_event(&q->fifos[q->heads[i]].key, &q->head_keys[i]))
			return -7;
		if (i && fb_event_less(&q->head_keys[i], &q->head_keys[(i - 1) / D]))
			return -5;
	}
	/* Calendar: each bucket's list sorted, in its slot, inside the window; bits and the least
	 * bucket agree with the lists. */
	size_t listed = 0;
	int64_t min_b = INT64_MAX;
	for (size_t slot = 0; q->cal_first && slot < NB; slot++) {
		int nonempty_slot = q->cal_first[slot] >= 0;
		if (nonempty_slot != (int)(q->cal_bits[slot / 64] >> (slot % 64) & 1))
			return -8;
		const struct fb_event *prev = NULL;
		for (int32_t fi = q->cal_first[slot]; fi >= 0; fi = q->fifos[fi].cal_next) {
			const struct fb_fifo *f = &q->fifos[fi];
			int64_t b = bucket_of(f->key.t);
			if ((f->pos < q->heads_n && q->heads[f->pos] == (uint32_t)fi) || !f->n ||
			    ((size_t)b & (NB - 1)) != slot ||
			    b < q->cal_base || b - q->cal_base >= NB || ++listed > q->cal_n)
				return -9;
			if (prev && !fb_event_less(prev, &f->key))
				return -10;
			prev = &f->key;
			if (b < min_b)
				min_b = b;
		}
	}
	if (listed != q->cal_n || (q->cal_n && min_b != q->cal_min))
		return -11;
	if (least != q->top && (!least || !q->top || !same_event(least, q->top)))
		return -12;
	return total == q->count ? 0 : -6;
}
