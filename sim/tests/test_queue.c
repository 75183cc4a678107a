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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_push_pop_matches_sort),
		cmocka_unit_test(test_hold_model_periodic_and_irregular),
		cmocka_unit_test(test_validate_detects_corruption),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
