/* Huge-page memory for the engine's large arrays: zeroed, usable over its whole size; arena
 * blocks never overlap, survive other blocks' reuse, and freed blocks are reused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "sim/mem.h"
#include "sim/rng.h"

static void test_huge_alloc_zeroed_and_writable(void **state)
{
	const size_t sizes[] = { 1, 4096, (size_t)3 << 20, ((size_t)24 << 20) + 24 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		unsigned char *p = fb_mem_huge_alloc(sizes[k]);
		assert_non_null(p);
		for (size_t i = 0; i < sizes[k]; i += 1021)
			assert_int_equal(p[i], 0);
		assert_int_equal(p[sizes[k] - 1], 0);
		memset(p, 0xa5, sizes[k]);
		fb_mem_huge_free(p, sizes[k]);
	}
	fb_mem_huge_free(NULL, 0);
}

/* Blocks of random power-of-two sizes, each filled with its own byte, freed and allocated at
 * random: every live block keeps its content (no two overlap). */
static void test_arena_blocks_disjoint(void **state)
{
	enum { N = 400 };
	struct fb_arena a;
	struct fb_rng r;
	unsigned char *blk[N] = { 0 };
	size_t size[N] = { 0 };
	fb_arena_init(&a);
	fb_rng_init(&r, 3, 0, 1);
	for (int step = 0; step < 20000; step++) {
		size_t i = (size_t)fb_rng_below(&r, N);
		if (blk[i]) {
			for (size_t k = 0; k < size[i]; k += 7)
				assert_int_equal(blk[i][k], (unsigned char)i);
			assert_int_equal(blk[i][size[i] - 1], (unsigned char)i);
			fb_arena_free(&a, blk[i], size[i]);
			blk[i] = NULL;
		} else {
			size[i] = (size_t)16 << fb_rng_below(&r, 14);     /* 16 B .. 128 KiB */
			blk[i] = fb_arena_alloc(&a, size[i]);
			assert_non_null(blk[i]);
			assert_int_equal((uintptr_t)blk[i] % 16, 0);
			memset(blk[i], (int)i, size[i]);
		}
	}
	for (size_t i = 0; i < N; i++)
		if (blk[i])
			assert_int_equal(blk[i][size[i] - 1], (unsigned char)i);
	fb_arena_release(&a);
}

/* A ring that doubles leaves its old block to the next ring that reaches that size: rings
 * growing one after the other use about what they end up holding, and hundreds growing side by
 * side (the engine's start-up, where a freed size is not asked for again) at most twice that.
 * Sanitizer builds allocate each block on its own: nothing is carved, nothing to bound. */
static void test_arena_reuses_freed_blocks(void **state)
{
	enum { RINGS = 841, FINAL = 32768 };
	const size_t live = (size_t)RINGS * FINAL;
	struct fb_arena a;
	static void *ring[RINGS];
	fb_arena_init(&a);
	for (size_t i = 0; i < RINGS; i++) {
		for (size_t size = 256; size <= FINAL; size *= 2) {
			void *p = fb_arena_alloc(&a, size);
			assert_non_null(p);
			memset(p, 1, size);
			fb_arena_free(&a, ring[i], size / 2);
			ring[i] = p;
		}
	}
	assert_true(a.used <= live + FINAL);
	for (size_t i = 0; i < RINGS; i++) {
		fb_arena_free(&a, ring[i], FINAL);
		ring[i] = NULL;
	}
	size_t before = a.used;
	for (size_t size = 256; size <= FINAL; size *= 2)
		for (size_t i = 0; i < RINGS; i++) {
			void *p = fb_arena_alloc(&a, size);
			assert_non_null(p);
			memset(p, 2, size);
			fb_arena_free(&a, ring[i], size / 2);
			ring[i] = p;
		}
	/* the final blocks reuse the first round's; only the smaller sizes are new */
	assert_true(a.used - before <= live);
	assert_true(a.total <= 2 * a.used + ((size_t)64 << 20));
	fb_arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_huge_alloc_zeroed_and_writable),
		cmocka_unit_test(test_arena_blocks_disjoint),
		cmocka_unit_test(test_arena_reuses_freed_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
