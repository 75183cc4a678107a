/* Fast number formatting for trace lines and text payloads (no printf on the hot path). */
#ifndef FB_FMT_H
#define FB_FMT_H
#include <stddef.h>
#include <stdint.h>
#include "sim/model.h"

/* Decimal digits a resolution needs: 1 -> 0, 0.1 -> 1, 0.001 -> 3, 0.5 -> 1, 0 -> 6. */
int fb_fmt_decimals(double resolution);
/* Unsigned / signed decimal; buf needs 21 bytes. Returns the length (no NUL written). */
size_t fb_fmt_u64(uint64_t v, char *buf);
size_t fb_fmt_i64(int64_t v, char *buf);
/* v with exactly `decimals` digits after the point (rounded half away from zero), "-0" never.
 * buf needs 32 bytes. Returns the length (no NUL written). */
size_t fb_fmt_fixed(double v, int decimals, char *buf);
/* A field's value as JSON: a number at the field's resolution, true/false, or "enum-name" with
 * quotes. buf needs 64 bytes (enum names are at most 40 characters). Returns the length. */
size_t fb_fmt_value(const struct fb_field *f, double v, char *buf);
/* The same without JSON quotes around enum names (for UltraLight, CSV). */
size_t fb_fmt_value_plain(const struct fb_field *f, double v, char *buf);

#endif
