#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "sim/mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define PLAIN_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PLAIN_MALLOC 1
#endif
#endif

#define HUGE_PAGE ((size_t)2 << 20)
/* Below this, a block is not worth a mapping of its own. */
#define SMALL_BLOCK ((size_t)256 << 10)

#ifndef PLAIN_MALLOC
/* A mapping of `size` bytes (a multiple of HUGE_PAGE) aligned on a huge page. */
static void *map_huge(size_t size)
{
	size_t span = size + HUGE_PAGE;
	char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *start = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	if (start + size < p + span)
		munmap(start + size, (size_t)(p + span - (start + size)));
#ifdef MADV_HUGEPAGE
	madvise(start, size, MADV_HUGEPAGE);   /* advice only: without it, plain pages */
#endif
	return start;
}

static size_t round_huge(size_t size)
{
	return (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}
#endif

void *fb_mem_huge_alloc(size_t size)
{
#ifdef PLAIN_MALLOC
	return calloc(1, size ? size : 1);
#else
	if (size < SMALL_BLOCK)
		return calloc(1, size ? size : 1);
	return map_huge(round_huge(size));     /* fresh anonymous pages are zero */
#endif
}

void fb_mem_huge_free(void *p, size_t size)
{
	if (!p)
		return;
#ifdef PLAIN_MALLOC
	(void)size;
	free(p);
#else
	if (size < SMALL_BLOCK)
		free(p);
	else
		munmap(p, round_huge(size));
#endif
}

/* ---- arena ---- */

struct fb_arena_chunk {
	struct fb_arena_chunk *next;
	size_t size;
};

void fb_arena_init(struct fb_arena *a)
{
	memset(a, 0, sizeof *a);
}

#ifdef PLAIN_MALLOC
/* Each block its own malloc (so ASan checks its bounds), on a list so release frees them. */
struct plain_block {
	struct plain_block *prev, *next;
};

void *fb_arena_alloc(struct fb_arena *a, size_t size)
{
	struct plain_block *b = malloc(sizeof *b + size);
	if (!b)
		return NULL;
	b->prev = NULL;
	b->next = (struct plain_block *)a->cur;
	if (b->next)
		b->next->prev = b;
	a->cur = (char *)b;
	return b + 1;
}

void fb_arena_free(struct fb_arena *a, void *p, size_t size)
{
	(void)size;
	if (!p)
		return;
	struct plain_block *b = (struct plain_block *)p - 1;
	if (b->prev)
		b->prev->next = b->next;
	else
		a->cur = (char *)b->next;
	if (b->next)
		b->next->prev = b->prev;
	free(b);
}

void fb_arena_release(struct fb_arena *a)
{
	for (struct plain_block *b = (struct plain_block *)a->cur, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	memset(a, 0, sizeof *a);
}
#else
static unsigned log2_size(size_t size)
{
	return (unsigned)(63 - __builtin_clzll((unsigned long long)size));
}

void *fb_arena_alloc(struct fb_arena *a, size_t size)
{
	unsigned k = log2_size(size);
	void *p = a->free_blocks[k];
	if (p) {
		memcpy(&a->free_blocks[k], p, sizeof(void *));
		return p;
	}
	if ((size_t)(a->end - a->cur) < size) {
		/* Chunks grow with what is in use (2 MiB up to 64 MiB), so a small queue maps one
		 * huge page and a large one a few dozen chunks. The rest of the old chunk is left. */
		size_t csize = a->total < HUGE_PAGE ? HUGE_PAGE : a->total;
		if (csize > ((size_t)64 << 20))
			csize = (size_t)64 << 20;
		if (csize < size + 64)
			csize = round_huge(size + 64);
		struct fb_arena_chunk *c = map_huge(csize);
		if (!c)
			return NULL;
		c->next = a->chunks;
		c->size = csize;
		a->chunks = c;
		a->total += csize;
		a->cur = (char *)c + 64;
		a->end = (char *)c + csize;
	}
	p = a->cur;
	a->cur += size;
	a->used += size;
	return p;
}

void fb_arena_free(struct fb_arena *a, void *p, size_t size)
{
	if (!p)
		return;
	unsigned k = log2_size(size);
	memcpy(p, &a->free_blocks[k], sizeof(void *));
	a->free_blocks[k] = p;
}

void fb_arena_release(struct fb_arena *a)
{
	for (struct fb_arena_chunk *c = a->chunks, *next; c; c = next) {
		next = c->next;
		munmap(c, c->size);
	}
	memset(a, 0, sizeof *a);
}
#endif
