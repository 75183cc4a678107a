/* The event queue: exact (t, tie) order under random pushes and pops, periodic fast path or
 * not, with the invariants checked after every operation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "sim/queue.h"
#include "sim/rng.h"

static int cmp_event(const void *a, const void *b)
{
	const struct fb_event *x = a, *y = b;
	return fb_event_less(x, y) ? -1 : fb_event_less(y, x) ? 1 : 0;
}

/* Pops everything and checks it comes out in exactly the sorted order of what was pushed. */
static void drain_sorted(struct fb_queue *q, struct fb_event *ref, size_t n)
{
	qsort(ref, n, sizeof *ref, cmp_event);
	for (size_t i = 0; i < n; i++) {
		struct fb_event ev;
		assert_int_equal(fb_queue_pop(q, &ev), 0);
		assert_int_equal(ev.t, ref[i].t);
		assert_int_equal(ev.tie, ref[i].tie);
	}
	struct fb_event ev;
	assert_int_equal(fb_queue_pop(q, &ev), -1);
	assert_null(fb_queue_peek(q));
}

static void test_random_push_pop_matches_sort(void **state)
{
	struct fb_queue q;
	struct fb_rng r;
	fb_queue_init(&q);
	fb_rng_init(&r, 7, 0, 1);
	enum { N = 20000 };
	struct fb_event *ref = malloc(N * sizeof *ref);
	for (size_t i = 0; i < N; i++) {
		/* many ties on t, so the tie-break is exercised */
		ref[i].t = (fb_time_us)fb_rng_below(&r, 500);
		ref[i].tie = fb_rng_below(&r, 1000) << 32 | i;
		fb_time_us period = fb_rng_below(&r, 3) ? (fb_time_us)(1 + fb_rng_below(&r, 5)) * 10 : 0;
		assert_int_equal(fb_queue_push(&q, ref[i], period), 0);
		if (i % 997 == 0)
			assert_int_equal(fb_queue_validate(&q), 0);
	}
	assert_int_equal(fb_queue_size(&q), N);
	assert_int_equal(fb_queue_validate(&q), 0);
	drain_sorted(&q, ref, N);
	free(ref);
	fb_queue_release(&q);
}

/* A hold model like the engine's: pop the least, push it back one period later. The popped
 * sequence must never go backwards and must match a reference simulation with a plain sort. */
static void test_hold_model_periodic_and_irregular(void **state)
{
	struct fb_queue q;
	struct fb_rng r;
	fb_queue_init(&q);
	fb_rng_init(&r, 11, 0, 1);
	enum { DEVICES = 3000, STEPS = 60000 };
	static fb_time_us period[DEVICES];
	for (uint32_t d = 0; d < DEVICES; d++) {
		period[d] = (fb_time_us)(60 + fb_rng_below(&r, 20)) * 1000;
		struct fb_event ev = { (fb_time_us)fb_rng_below(&r, 60000), (uint64_t)d << 32 };
		assert_int_equal(fb_queue_push(&q, ev, period[d]), 0);
	}
	struct fb_event last = { -1, 0 };
	uint64_t from_heap_pushes = 0;
	for (int s = 0; s < STEPS; s++) {
		struct fb_event ev;
		int in_place = s % 2;      /* half the steps re-schedule the top in place */
		if (in_place)
			ev = *fb_queue_peek(&q);
		else
			assert_int_equal(fb_queue_pop(&q, &ev), 0);
		assert_true(fb_event_less(&last, &ev));
		last = ev;
		uint32_t d = (uint32_t)(ev.tie >> 32);
		uint32_t seq = (uint32_t)ev.tie + 1;
		/* one event in ten is irregular (like a water level reporting faster while rising) */
		int irregular = fb_rng_below(&r, 10) == 0;
		fb_time_us next = ev.t + (irregular ? (fb_time_us)fb_rng_below(&r, 50000) + 1 : period[d]);
		from_heap_pushes += irregular;
		struct fb_event nx = { next, (uint64_t)d << 32 | seq };
		if (in_place)
			assert_int_equal(fb_queue_replace_top(&q, nx, irregular ? 0 : period[d]), 0);
		else
			assert_int_equal(fb_queue_push(&q, nx, irregular ? 0 : period[d]), 0);
		if (s % 5000 == 0)
			assert_int_equal(fb_queue_validate(&q), 0);
	}
	assert_true(from_heap_pushes > 0);
	assert_int_equal(fb_queue_size(&q), DEVICES);
	assert_int_equal(fb_queue_validate(&q), 0);
	fb_queue_release(&q);
}

/* A plain binary heap: the reference every pop is checked against. */
struct ref_heap {
	struct fb_event *h;
	size_t n;
};

static void ref_push(struct ref_heap *r, struct fb_event ev)
{
	size_t i = r->n++;
	while (i > 0 && fb_event_less(&ev, &r->h[(i - 1) / 2])) {
		r->h[i] = r->h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	r->h[i] = ev;
}

static struct fb_event ref_pop(struct ref_heap *r)
{
	struct fb_event top = r->h[0], last = r->h[--r->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= r->n)
			break;
		if (c + 1 < r->n && fb_event_less(&r->h[c + 1], &r->h[c]))
			c++;
		if (!fb_event_less(&r->h[c], &last))
			break;
		r->h[i] = r->h[c];
		i = c;
	}
	if (r->n)
		r->h[i] = last;
	return top;
}

/* The engine's workload in small: hundreds of periods (so ring heads are merged by the
 * calendar), some rings dense, some with a single device whose head lies beyond the calendar's
 * window (the heads heap), a few irregular events (the main heap). Every event taken out must
 * be exactly the reference's least, whichever structure held it. */
static void test_many_periods_match_reference(void **state)
{
	struct fb_queue q;
	struct fb_rng r;
	fb_queue_init(&q);
	fb_rng_init(&r, 5, 0, 1);
	enum { DEVICES = 20000, STEPS = 300000 };
	static fb_time_us period[DEVICES];
	struct ref_heap ref = { malloc(DEVICES * sizeof *ref.h), 0 };
	struct fb_event *initial = malloc(DEVICES * sizeof *initial);
	for (uint32_t d = 0; d < DEVICES; d++) {
		/* 1 to 400 s, whole ms; devices past 19000 each get a period of their own */
		period[d] = d < 19000 ? (fb_time_us)(1 + fb_rng_below(&r, 300)) * 1000000
		                      : (fb_time_us)(1000 + d) * 397000;
		initial[d] = (struct fb_event){ (fb_time_us)fb_rng_below(&r, (uint64_t)period[d] / 1000) * 1000,
		                                (uint64_t)d << 32 };
	}
	/* in event order, as the engine pushes first events, so they land on their rings */
	qsort(initial, DEVICES, sizeof *initial, cmp_event);
	for (uint32_t i = 0; i < DEVICES; i++) {
		uint32_t d = (uint32_t)(initial[i].tie >> 32);
		assert_int_equal(fb_queue_push(&q, initial[i], period[d]), 0);
		ref_push(&ref, initial[i]);
	}
	assert_int_equal(q.heap_n, 0);
	assert_int_equal(fb_queue_validate(&q), 0);
	size_t saw_cal = 0, saw_heads = 0, irregular = 0;
	for (int s = 0; s < STEPS; s++) {
		struct fb_event ev, want = ref_pop(&ref);
		int in_place = s % 3 != 0;
		if (in_place)
			ev = *fb_queue_peek(&q);
		else
			assert_int_equal(fb_queue_pop(&q, &ev), 0);
		assert_int_equal(ev.t, want.t);
		assert_int_equal(ev.tie, want.tie);
		uint32_t d = (uint32_t)(ev.tie >> 32);
		int odd = fb_rng_below(&r, 50) == 0;
		fb_time_us next = ev.t + (odd ? (fb_time_us)fb_rng_below(&r, 5000) * 1000 + 1000 : period[d]);
		irregular += odd;
		struct fb_event nx = { next, (uint64_t)d << 32 | ((uint32_t)ev.tie + 1) };
		if (in_place)
			assert_int_equal(fb_queue_replace_top(&q, nx, odd ? 0 : period[d]), 0);
		else
			assert_int_equal(fb_queue_push(&q, nx, odd ? 0 : period[d]), 0);
		ref_push(&ref, nx);
		saw_cal += q.cal_n > 0;
		saw_heads += q.heads_n > 0;
		if (s % 20011 == 0)
			assert_int_equal(fb_queue_validate(&q), 0);
	}
	assert_true(saw_cal == STEPS);             /* the calendar carried the dense rings */
	assert_true(saw_heads > STEPS / 2);        /* and the sparse ones went to the heads heap */
	assert_true(irregular > 0);
	assert_int_equal(fb_queue_validate(&q), 0);
	assert_int_equal(fb_queue_size(&q), DEVICES);
	free(initial);
	free(ref.h);
	fb_queue_release(&q);
}

/* Random operations, including pushes before events already taken out and many rings whose
 * heads fall on one millisecond (a crowded calendar bucket), with microsecond times and
 * negative ones: order stays exact and the invariants hold after every step. */
static void test_random_operations_any_times(void **state)
{
	struct fb_queue q;
	struct fb_rng r;
	fb_queue_init(&q);
	fb_rng_init(&r, 9, 0, 1);
	enum { OPS = 40000 };
	struct ref_heap ref = { malloc(OPS * sizeof *ref.h), 0 };
	fb_time_us now = -3000000;
	uint64_t id = 0;
	/* 100 periods whose first events all fall on one millisecond */
	for (int p = 1; p <= 100; p++) {
		struct fb_event ev = { now + 500, id++ };
		assert_int_equal(fb_queue_push(&q, ev, (fb_time_us)p * 1000), 0);
		ref_push(&ref, ev);
	}
	assert_int_equal(fb_queue_validate(&q), 0);
	assert_true(q.heads_n > 0 && q.cal_n > 0);  /* the crowded bucket overflowed to the heap */
	for (int s = 0; s < OPS; s++) {
		uint64_t op = fb_rng_below(&r, 10);
		if (op < 4 && ref.n) {
			struct fb_event ev, want = ref_pop(&ref);
			assert_int_equal(fb_queue_pop(&q, &ev), 0);
			assert_int_equal(ev.t, want.t);
			assert_int_equal(ev.tie, want.tie);
			now = ev.t;
		} else {
			/* mostly ahead of the last event out, sometimes behind it, sometimes far ahead */
			fb_time_us t = now + (fb_time_us)fb_rng_below(&r, 8000000) - 1000000;
			if (fb_rng_below(&r, 20) == 0)
				t += 60000000;
			fb_time_us period = fb_rng_below(&r, 4) ? (fb_time_us)(1 + fb_rng_below(&r, 100)) * 1000 : 0;
			struct fb_event ev = { t, fb_rng_below(&r, 3) << 32 | id++ };
			if (op < 6 && ref.n) {
				struct fb_event want = ref_pop(&ref);
				assert_int_equal(fb_queue_peek(&q)->t, want.t);
				assert_int_equal(fb_queue_peek(&q)->tie, want.tie);
				assert_int_equal(fb_queue_replace_top(&q, ev, period), 0);
				now = want.t;
			} else {
				assert_int_equal(fb_queue_push(&q, ev, period), 0);
			}
			ref_push(&ref, ev);
		}
		assert_int_equal(fb_queue_validate(&q), 0);
	}
	while (ref.n) {
		struct fb_event ev, want = ref_pop(&ref);
		assert_int_equal(fb_queue_pop(&q, &ev), 0);
		assert_int_equal(ev.t, want.t);
		assert_int_equal(ev.tie, want.tie);
	}
	assert_null(fb_queue_peek(&q));
	assert_int_equal(fb_queue_validate(&q), 0);
	free(ref.h);
	fb_queue_release(&q);
}

/* The validator must catch a broken queue, or it proves nothing. */
static void test_validate_detects_corruption(void **state)
{
	struct fb_queue q;
	fb_queue_init(&q);
	for (int i = 0; i < 100; i++) {
		struct fb_event ev = { 1000 - i, (uint64_t)i };
		assert_int_equal(fb_queue_push(&q, ev, 0), 0);
	}
	assert_int_equal(fb_queue_validate(&q), 0);
	q.heap[5].t = -5;      /* a child smaller than the root */
	assert_int_not_equal(fb_queue_validate(&q), 0);
	fb_queue_release(&q);

	fb_queue_init(&q);
	for (int i = 0; i < 10; i++) {
		struct fb_event ev = { i * 10, (uint64_t)i };
		assert_int_equal(fb_queue_push(&q, ev, 10), 0);
	}
	assert_int_equal(q.heap_n, 0);           /* all on the fast path */
	assert_int_equal(fb_queue_validate(&q), 0);
	q.fifos[0].ring[3].t = 1;               /* ring out of order */
	assert_int_not_equal(fb_queue_validate(&q), 0);
	fb_queue_release(&q);

	/* The calendar of ring heads: a bucket whose bit is lost, a bucket list out of order. */
	fb_queue_init(&q);
	for (int i = 0; i < 10; i++) {
		struct fb_event ev = { 5000 + i, (uint64_t)i };
		assert_int_equal(fb_queue_push(&q, ev, (fb_time_us)(i + 1) * 1000), 0);
	}
	assert_int_equal(q.cal_n, 10);          /* all heads in one bucket */
	assert_int_equal(fb_queue_validate(&q), 0);
	q.cal_bits[0] &= ~((uint64_t)1 << 5);   /* bucket 5 (5 ms) */
	assert_int_not_equal(fb_queue_validate(&q), 0);
	q.cal_bits[0] |= (uint64_t)1 << 5;
	assert_int_equal(fb_queue_validate(&q), 0);
	int32_t first = q.cal_first[5], second = q.fifos[first].cal_next;
	q.fifos[first].cal_next = q.fifos[second].cal_next;
	q.fifos[second].cal_next = first;
	q.cal_first[5] = second;
	assert_int_not_equal(fb_queue_validate(&q), 0);
	fb_queue_release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_push_pop_matches_sort),
		cmocka_unit_test(test_hold_model_periodic_and_irregular),
		cmocka_unit_test(test_many_periods_match_reference),
		cmocka_unit_test(test_random_operations_any_times),
		cmocka_unit_test(test_validate_detects_corruption),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
