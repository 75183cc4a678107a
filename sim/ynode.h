/* A YAML document as a tree of nodes that remember where they stand in the file, so every
 * error can name file:line:col. Built with libyaml; scalars keep their text and their style
 * (a quoted "42" is a string, not a number). Lookups never allocate. */
#ifndef FB_YNODE_H
#define FB_YNODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"

enum fb_ynode_kind { FB_Y_SCALAR, FB_Y_MAP, FB_Y_SEQ };

struct fb_ynode {
	enum fb_ynode_kind kind;
	int line, col;              /* 1-based */
	const char *file;           /* shared by all nodes of a document */
	bool quoted;                /* scalar written in quotes */
	char *text;                 /* scalar text (NUL-terminated) */
	size_t n;                   /* map pairs or sequence items */
	struct fb_ynode **keys;     /* map: keys[i] (scalars); NULL for a sequence */
	struct fb_ynode **items;    /* map: values[i]; sequence: items[i] */
};

/* Parses a file. On error prints "file:line:col: error: ..." and returns NULL. An empty file
 * (or only comments) is an error. */
struct fb_ynode *fb_ynode_load_file(const char *path);
struct fb_ynode *fb_ynode_load_string(const char *text, const char *name);
void fb_ynode_free(struct fb_ynode *root);

/* Map lookup by key text; NULL if absent or if `map` is not a map. */
struct fb_ynode *fb_ynode_get(const struct fb_ynode *map, const char *key);

/* Each returns 0, or prints a located error and returns -1. `what` names the value for the
 * message ("'count'"). */
int fb_ynode_expect(const struct fb_ynode *n, enum fb_ynode_kind kind, const char *what);
int fb_ynode_string(const struct fb_ynode *n, const char *what, const char **out);
int fb_ynode_number(const struct fb_ynode *n, const char *what, double *out);
int fb_ynode_int(const struct fb_ynode *n, const char *what, int64_t min, int64_t max, int64_t *out);
int fb_ynode_bool(const struct fb_ynode *n, const char *what, bool *out);
int fb_ynode_duration(const struct fb_ynode *n, const char *what, fb_time_us *out);
/* One of `choices` (NULL-terminated); *out is its index. Suggests the closest on error. */
int fb_ynode_enum(const struct fb_ynode *n, const char *what, const char *const *choices, int *out);
/* Length with a unit: "500m", "2km", "25m", or a bare number of metres. */
int fb_ynode_length_m(const struct fb_ynode *n, const char *what, double *out);

/* Checks that every key of `map` is one of `allowed` (NULL-terminated); on an unknown key prints
 * "unknown key 'x' in <context> (did you mean 'y'?)" at the key and returns -1. */
int fb_ynode_check_keys(const struct fb_ynode *map, const char *context, const char *const *allowed);

/* A located error at node n; returns -1. */
int fb_ynode_error(const struct fb_ynode *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
