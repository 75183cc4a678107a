#include <stdlib.h>
#include <string.h>
#include "sim/queue.h"

#define D 8

void fb_queue_init(struct fb_queue *q)
{
	memset(q, 0, sizeof *q);
}

void fb_queue_release(struct fb_queue *q)
{
	free(q->heap);
	for (size_t i = 0; i < q->nfifos; i++)
		free(q->fifos[i].ring);
	free(q->fifos);
	free(q->heads);
	free(q->head_keys);
	free(q->period_slots);
	memset(q, 0, sizeof *q);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *np = realloc(*p, n * size);
	if (!np)
		return -1;
	*p = np;
	*cap = n;
	return 0;
}

int fb_queue_reserve(struct fb_queue *q, size_t n)
{
	return grow((void **)&q->heap, &q->heap_cap, n, sizeof *q->heap);
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

static int ring_append(struct fb_fifo *f, struct fb_event ev)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 16;
		struct fb_event *r = malloc(ncap * sizeof *r);
		if (!r)
			return -1;
		for (size_t i = 0; i < f->n; i++)
			r[i] = f->ring[(f->head + i) & (f->cap - 1)];
		free(f->ring);
		f->ring = r;
		f->head = 0;
		f->cap = ncap;
	}
	f->ring[(f->head + f->n) & (f->cap - 1)] = ev;
	f->n++;
	return 0;
}

/* ---- the heap of ring heads ---- */

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
	struct fb_event key = *ring_head(&q->fifos[f]);
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
	struct fb_event key = *ring_head(&q->fifos[f]);
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
	if (grow((void **)&q->fifos, &q->fifos_cap, q->nfifos + 1, sizeof *q->fifos))
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
	q->period_slots[h] = (int32_t)q->nfifos;
	*out = (uint32_t)q->nfifos++;
	return 0;
}

int fb_queue_push(struct fb_queue *q, struct fb_event ev, fb_time_us period_us)
{
	if (period_us > 0) {
		uint32_t fi;
		if (find_fifo(q, period_us, &fi))
			return -1;
		struct fb_fifo *f = &q->fifos[fi];
		if (f->n == 0) {
			if (ring_append(f, ev))
				return -1;
			q->heads_n++;
			heads_up(q, q->heads_n - 1, fi);
			q->count++;
			return 0;
		}
		if (fb_event_less(ring_tail(f), &ev)) {
			if (ring_append(f, ev))
				return -1;
			q->count++;
			return 0;
		}
		/* Out of ring order (a first event, or back from an irregular interval): the heap. */
	}
	if (grow((void **)&q->heap, &q->heap_cap, q->heap_n + 1, sizeof *q->heap))
		return -1;
	heap_up(q->heap, q->heap_n++, ev);
	q->count++;
	return 0;
}

const struct fb_event *fb_queue_peek(const struct fb_queue *q)
{
	const struct fb_event *best = q->heap_n ? &q->heap[0] : NULL;
	if (q->heads_n) {
		const struct fb_event *h = &q->head_keys[0];
		if (!best || fb_event_less(h, best))
			best = h;
	}
	return best;
}

int fb_queue_pop(struct fb_queue *q, struct fb_event *out)
{
	int from_ring = 0;
	if (q->heads_n) {
		const struct fb_event *h = &q->head_keys[0];
		from_ring = !q->heap_n || fb_event_less(h, &q->heap[0]);
	} else if (!q->heap_n) {
		return -1;
	}
	if (from_ring) {
		uint32_t fi = q->heads[0];
		struct fb_fifo *f = &q->fifos[fi];
		*out = *ring_head(f);
		f->head = (f->head + 1) & (f->cap - 1);
		f->n--;
		if (f->n)
			heads_down(q, 0, fi);
		else if (--q->heads_n)
			heads_down(q, 0, q->heads[q->heads_n]);
	} else {
		*out = q->heap[0];
		if (--q->heap_n)
			heap_down(q->heap, q->heap_n, 0, q->heap[q->heap_n]);
	}
	q->count--;
	return 0;
}

int fb_queue_replace_top(struct fb_queue *q, struct fb_event ev, fb_time_us period_us)
{
	int top_in_heap = q->heap_n &&
	                  (!q->heads_n || fb_event_less(&q->heap[0], &q->head_keys[0]));
	if (top_in_heap) {
		/* Would the new event take the ring fast path? Then it cannot replace the root. */
		int to_ring = 0;
		if (period_us > 0) {
			uint32_t fi;
			if (find_fifo(q, period_us, &fi))
				return -1;
			const struct fb_fifo *f = &q->fifos[fi];
			to_ring = f->n == 0 || fb_event_less(ring_tail(f), &ev);
		}
		if (!to_ring) {
			heap_down(q->heap, q->heap_n, 0, ev);
			return 0;
		}
	}
	struct fb_event dropped;
	if (fb_queue_pop(q, &dropped))
		return -1;
	return fb_queue_push(q, ev, period_us);
}

int fb_queue_validate(const struct fb_queue *q)
{
	size_t total = q->heap_n;
	for (size_t i = 1; i < q->heap_n; i++)
		if (fb_event_less(&q->heap[i], &q->heap[(i - 1) / D]))
			return -1;
	size_t nonempty = 0;
	for (size_t fi = 0; fi < q->nfifos; fi++) {
		const struct fb_fifo *f = &q->fifos[fi];
		total += f->n;
		if (!f->n)
			continue;
		nonempty++;
		if (f->pos >= q->heads_n || q->heads[f->pos] != fi)
			return -2;
		for (size_t i = 1; i < f->n; i++)
			if (!fb_event_less(&f->ring[(f->head + i - 1) & (f->cap - 1)],
			                   &f->ring[(f->head + i) & (f->cap - 1)]))
				return -3;
	}
	if (nonempty != q->heads_n)
		return -4;
	for (size_t i = 0; i < q->heads_n; i++) {
		const struct fb_event *h = ring_head(&q->fifos[q->heads[i]]);
		if (h->t != q->head_keys[i].t || h->tie != q->head_keys[i].tie)
			return -7;
		if (i && fb_event_less(&q->head_keys[i], &q->head_keys[(i - 1) / D]))
			return -5;
	}
	return total == q->count ? 0 : -6;
}
