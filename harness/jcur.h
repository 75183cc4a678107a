/* A JSON cursor reading a buffer in place, without allocating: the collectors' readers of
 * network-server and packet-forwarder JSON (harness/collect_lorawan.c PUSH_DATA, harness/
 * collect_nsint.c integration events) walk the members they need and skip the rest. Strings
 * come back raw (escapes as written). Each function skips white space first and returns false
 * (leaving the cursor somewhere inside) on what is not JSON. */
#ifndef FB_JCUR_H
#define FB_JCUR_H
#include <stdbool.h>
#include <stddef.h>

struct fb_jcur {
	const char *p, *end;
};

void fb_jcur_ws(struct fb_jcur *j);
/* Takes ch if it comes next. */
bool fb_jcur_lit(struct fb_jcur *j, char ch);
/* Whether ch comes next (not taken). */
bool fb_jcur_peek(struct fb_jcur *j, char ch);
/* A string's raw bytes in [*s, *s + *n); *escaped (may be NULL) says whether it holds escapes.
 * Raw control characters are not JSON. */
bool fb_jcur_str(struct fb_jcur *j, const char **s, size_t *n, bool *escaped);
/* A number (JSON's grammar, at most 63 characters), as a finite double. */
bool fb_jcur_num(struct fb_jcur *j, double *v);
/* Skips one value, nested at most 32 deep below `depth`. */
bool fb_jcur_skip(struct fb_jcur *j, int depth);
/* Whether the n bytes at k spell want. */
bool fb_jcur_key_is(const char *k, size_t n, const char *want);
/* Whether c may be part of a number. */
bool fb_jcur_num_char(char c);

#endif
