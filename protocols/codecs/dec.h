/* Shared pieces of the codecs' decode_sample (protocols/codec.h): a JSON scanner that reads a
 * payload in place (no allocation, no tree: the flat objects and SenML packs our encoders write),
 * field lookup, tolerances, and the value and time parsers the text codecs share.
 *
 * The scanner is a cursor over [p, end): each call skips white space, reads one token and
 * returns 0 or FB_CODEC_EINVAL. Strings are unescaped into a caller buffer (bounded: a longer
 * string is FB_CODEC_EINVAL, nothing we decode is longer than a device id). */
#ifndef FB_CODECS_DEC_H
#define FB_CODECS_DEC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "protocols/codec.h"
#include "sim/model.h"

struct fb_jscan {
	const char *p, *end;
};

enum fb_jkind { FB_J_STRING, FB_J_NUMBER, FB_J_TRUE, FB_J_FALSE, FB_J_NULL, FB_J_OBJECT, FB_J_ARRAY };

/* One scalar value (objects and arrays are reported by kind only, not consumed). */
struct fb_jval {
	enum fb_jkind kind;
	char str[128];              /* FB_J_STRING: unescaped, NUL-terminated */
	size_t len;
	const char *num;            /* FB_J_NUMBER: the token as written */
	size_t num_len;
	double x;                   /* FB_J_NUMBER: its value */
};

void fb_jscan_init(struct fb_jscan *j, const uint8_t *buf, size_t len);
/* Skips white space; consumes c if it is next and returns true. */
bool fb_jscan_eat(struct fb_jscan *j, char c);
/* True when only white space is left. */
bool fb_jscan_at_end(struct fb_jscan *j);
/* A string into out[cap] (unescaped, NUL-terminated); 0 or FB_CODEC_EINVAL. */
int fb_jscan_string(struct fb_jscan *j, char *out, size_t cap, size_t *len);
/* One value: a scalar is read; '{' or '[' is reported (kind OBJECT / ARRAY) and consumed. */
int fb_jscan_value(struct fb_jscan *j, struct fb_jval *v);
/* After fb_jscan_value reported an OBJECT or ARRAY: skips to its end (nesting at most 32
 * deep); 0 or FB_CODEC_EINVAL. */
int fb_jscan_skip_rest(struct fb_jscan *j);

/* Resets out for model m: no device, seq -1, ts FB_TIME_NEVER, nothing present, tolerances set
 * (fb_dec_tolerance for every field). */
void fb_dec_init(struct fb_decoded *out, const struct fb_model *m);
/* Resets out for a binary codec's decode: all zero (tolerances too, set per field read), seq -1,
 * ts FB_TIME_NEVER. FB_CODEC_EINVAL when m has more fields than fb_decoded holds, else 0. */
int fb_dec_clear(struct fb_decoded *out, const struct fb_model *m);
/* Whether a whole number v read from a binary payload is one field f's encoder writes: a BOOL at
 * most 1, an ENUM an index of its names (any byte when the table gives none). */
bool fb_dec_whole_ok(const struct fb_field *f, double v);
/* Settles field fi after its value was decoded with result rc: 0 marks it present;
 * FB_CODEC_ERANGE (a value the field cannot hold) leaves it absent and is kept in *soft unless
 * an earlier soft error is; any other error is returned for the decoder to stop with. */
int fb_dec_settle(struct fb_decoded *out, int fi, int rc, int *soft);
/* Half the step a text codec prints field f with (its resolution's decimals for NUMBER, 1 for
 * INTEGER), and never less than half the field's resolution; 0.5 for BOOL and ENUM. */
double fb_dec_tolerance(const struct fb_field *f);
/* The index of field name[0..len) in m, or -1. */
int fb_dec_field(const struct fb_model *m, const char *name, size_t len);
/* The same, trying field `hint` first (payloads list fields in table order). */
int fb_dec_field_from(const struct fb_model *m, const char *name, size_t len, int hint);
/* A value for field f from JSON: numbers for NUMBER/INTEGER, true/false for BOOL, an enum name
 * for ENUM. Returns 0, FB_CODEC_EINVAL (wrong JSON type), FB_CODEC_ERANGE (unknown enum name). */
int fb_dec_json_value(const struct fb_field *f, const struct fb_jval *v, double *out);
/* A value for field f from bare text (UltraLight): a strict decimal number for NUMBER/INTEGER,
 * true/false for BOOL, the enum name for ENUM. Same returns. */
int fb_dec_text_value(const struct fb_field *f, const char *s, size_t len, double *out);
/* A strict JSON-style number s[0..len) (no hex, inf, nan, leading '+'); 0 or FB_CODEC_EINVAL. */
int fb_dec_number(const char *s, size_t len, double *out);
/* RFC 3339 text s[0..len) into µs; 0 or FB_CODEC_EINVAL. */
int fb_dec_time(const char *s, size_t len, fb_time_us *out);
/* A number of seconds s[0..len) ("1780294500.250") into µs, exactly for up to 6 decimals;
 * 0 or FB_CODEC_EINVAL. */
int fb_dec_seconds(const char *s, size_t len, fb_time_us *out);

#endif
