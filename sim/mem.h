/* Memory for the few large arrays an engine with a million devices touches at random on every
 * event: the device records, the event rings, the event heap. Tens of MiB in 4 KiB pages miss
 * the TLB on nearly every access (and a prefetch that misses the TLB stalls like a load), so
 * these come from anonymous mappings advised to use transparent huge pages (2 MiB). In
 * sanitizer builds they come from malloc instead, so ASan keeps checking their bounds. */
#ifndef FB_MEM_H
#define FB_MEM_H
#include <stddef.h>

/* A zeroed block of `size` bytes, or NULL when memory runs out. */
void *fb_mem_huge_alloc(size_t size);
/* Frees a block from fb_mem_huge_alloc() (`size` as allocated; NULL is a no-op). */
void fb_mem_huge_free(void *p, size_t size);

/* Power-of-two blocks (16 bytes or more) carved from huge-page chunks, with a free list per
 * size: for arrays that double as they grow (one event ring per period), whose freed blocks
 * are reused by the next array that reaches that size. Released all at once. */
struct fb_arena {
	struct fb_arena_chunk *chunks;
	char *cur, *end;            /* the unused rest of the newest chunk (sanitizer builds: the
	                               list of live blocks) */
	size_t total;               /* bytes mapped */
	size_t used;                /* bytes carved out of the chunks (what becomes resident) */
	void *free_blocks[64];      /* by log2(size) */
};

void fb_arena_init(struct fb_arena *a);
/* A block of `size` bytes (a power of two, >= 16), 16-byte aligned, not zeroed; NULL when
 * memory runs out. */
void *fb_arena_alloc(struct fb_arena *a, size_t size);
/* Returns a block of `size` bytes (as allocated) for reuse. */
void fb_arena_free(struct fb_arena *a, void *p, size_t size);
void fb_arena_release(struct fb_arena *a);

#endif
