/* Shared pieces of the payload codecs: a bounded output writer over a caller-owned buffer, the
 * fixed-point value formatter (numbers at the field's resolution, as the trace prints them), and
 * the validation every command decoder applies. Nothing here allocates. */
#ifndef FB_CBUF_H
#define FB_CBUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "protocols/codec.h"
#include "sim/model.h"

/* A writer that never writes past cap: once something does not fit, it is marked full and
 * every later write is dropped; fb_cbuf_finish() then reports FB_CODEC_ENOSPC. */
struct fb_cbuf {
	uint8_t *buf;
	size_t cap, len;
	bool full;
};

static inline void fb_cbuf_init(struct fb_cbuf *o, uint8_t *buf, size_t cap)
{
	o->buf = buf; o->cap = cap; o->len = 0; o->full = false;
}
/* The length written, or FB_CODEC_ENOSPC if anything did not fit. */
static inline ssize_t fb_cbuf_finish(const struct fb_cbuf *o)
{
	return o->full ? FB_CODEC_ENOSPC : (ssize_t)o->len;
}
void fb_cbuf_bytes(struct fb_cbuf *o, const void *p, size_t n);
void fb_cbuf_str(struct fb_cbuf *o, const char *s);
void fb_cbuf_char(struct fb_cbuf *o, char c);
void fb_cbuf_u64(struct fb_cbuf *o, uint64_t v);
/* A JSON string: quotes, and escapes for '"', '\\' and control characters. */
void fb_cbuf_json_str(struct fb_cbuf *o, const char *s);
/* The same escaped characters without the quotes. */
void fb_cbuf_json_chars(struct fb_cbuf *o, const char *s);
/* A field's value as JSON: a number at the field's resolution, true/false, or the enum name
 * as a JSON string. */
void fb_cbuf_json_value(struct fb_cbuf *o, const struct fb_field *f, double v);
/* A field's value as bare text (UltraLight): like JSON, with the enum name unquoted. */
void fb_cbuf_text_value(struct fb_cbuf *o, const struct fb_field *f, double v);
/* Time as seconds with milliseconds, "1780294500.123" (SenML base time). */
void fb_cbuf_seconds_ms(struct fb_cbuf *o, int64_t t_us);
/* Time as RFC 3339 UTC with milliseconds, 2026-06-01T16:00:00.000Z (24 characters, unquoted). */
void fb_cbuf_iso_ms(struct fb_cbuf *o, int64_t t_us);
/* A sample's values as the members of a flat JSON object, after what is already written:
 * ,"name":value for each field of m in table order (the json and fiware-json codecs). */
void fb_cbuf_json_members(struct fb_cbuf *o, const struct fb_model *m, const double *values);

#define FB_CBUF_NUM_MAX 48   /* at least what sim/fmt.h's fb_fmt_fixed needs, plus the NUL */
/* Formats a NUMBER or INTEGER field's value as the trace does (sim/fmt.h): NUMBER with exactly
 * fb_fmt_decimals(resolution) decimals ("62.3", "-0.50", "12.0"; never "-0"), rounded half away
 * from zero, INTEGER as a whole number; a non-finite value as 0. BOOL gives 0/1 and ENUM the index
 * (callers print those themselves). NUL-terminated; returns the length. */
size_t fb_cbuf_fmt_number(const struct fb_field *f, double v, char buf[FB_CBUF_NUM_MAX]);

/* Index of the enum name s[0..len) in f->enum_names, or -1. */
int fb_cbuf_enum_index(const struct fb_field *f, const char *s, size_t len);
/* Checks a command setting field name[0..len) of model m to value and fills *out.
 * Returns 0, FB_CODEC_EFIELD (unknown or not writable), FB_CODEC_ERANGE (not finite, outside
 * [min, max], not whole for INTEGER/BOOL/ENUM, not 0/1 for BOOL, not an enum index). */
int fb_cbuf_command(const struct fb_model *m, const char *name, size_t len, double value,
                    struct fb_command *out);
/* A command's value given as a name (JSON and SenML commands): the index of enum name
 * s[0..slen) of field name[0..len) of m, in *value. Returns 0, FB_CODEC_EFIELD (no such field),
 * FB_CODEC_ERANGE (an ENUM field with no such name) or FB_CODEC_EINVAL (a field of another
 * kind, which takes no name). */
int fb_cbuf_command_enum(const struct fb_model *m, const char *name, size_t len, const char *s,
                         size_t slen, double *value);

#endif
