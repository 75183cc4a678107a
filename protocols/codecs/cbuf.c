/* Bounded output, value formatting and command validation shared by the codecs. */
#include "protocols/codecs/cbuf.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "sim/fbtime.h"
#include "sim/fmt.h"

void fb_cbuf_bytes(struct fb_cbuf *o, const void *p, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

void fb_cbuf_str(struct fb_cbuf *o, const char *s)
{
	fb_cbuf_bytes(o, s, strlen(s));
}

void fb_cbuf_char(struct fb_cbuf *o, char c)
{
	if (o->full || o->len >= o->cap) {
		o->full = true;
		return;
	}
	o->buf[o->len++] = (uint8_t)c;
}

void fb_cbuf_u64(struct fb_cbuf *o, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	fb_cbuf_bytes(o, tmp + i, sizeof tmp - i);
}

void fb_cbuf_json_str(struct fb_cbuf *o, const char *s)
{
	fb_cbuf_char(o, '"');
	fb_cbuf_json_chars(o, s);
	fb_cbuf_char(o, '"');
}

void fb_cbuf_json_chars(struct fb_cbuf *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			fb_cbuf_char(o, '\\');
			fb_cbuf_char(o, (char)*p);
		} else if (*p < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
			fb_cbuf_bytes(o, esc, sizeof esc);
		} else {
			fb_cbuf_char(o, (char)*p);
		}
	}
}

size_t fb_cbuf_fmt_number(const struct fb_field *f, double v, char buf[FB_CBUF_NUM_MAX])
{
	/* sim/fmt.c's formatter, the one the trace uses, so a payload carries the trace's decimals */
	if (!isfinite(v))
		v = 0;   /* samples are finite by contract; never print a non-JSON token */
	int d = f->kind == FB_FIELD_NUMBER ? fb_fmt_decimals(f->resolution) : 0;
	size_t n = fb_fmt_fixed(v, d, buf);
	buf[n] = '\0';
	return n;
}

static void value(struct fb_cbuf *o, const struct fb_field *f, double v, bool quote_enum)
{
	if (f->kind == FB_FIELD_BOOL) {
		fb_cbuf_str(o, v != 0 ? "true" : "false");
		return;
	}
	if (f->kind == FB_FIELD_ENUM && f->enum_names) {
		long idx = lround(v);
		if (idx >= 0 && idx < (long)fb_field_enum_count(f)) {
			if (quote_enum)
				fb_cbuf_json_str(o, f->enum_names[idx]);
			else
				fb_cbuf_str(o, f->enum_names[idx]);
			return;
		}
	}
	char num[FB_CBUF_NUM_MAX];
	size_t n = fb_cbuf_fmt_number(f, v, num);
	fb_cbuf_bytes(o, num, n);
}

void fb_cbuf_json_value(struct fb_cbuf *o, const struct fb_field *f, double v)
{
	value(o, f, v, true);
}

void fb_cbuf_text_value(struct fb_cbuf *o, const struct fb_field *f, double v)
{
	value(o, f, v, false);
}

void fb_cbuf_seconds_ms(struct fb_cbuf *o, int64_t t_us)
{
	/* truncated toward zero to the millisecond (times before 1970 keep their sign) */
	uint64_t mag = t_us >= 0 ? (uint64_t)t_us : (uint64_t)0 - (uint64_t)t_us;
	uint64_t ms = mag / 1000;
	if (t_us < 0)
		fb_cbuf_char(o, '-');
	fb_cbuf_u64(o, ms / 1000);
	unsigned frac = (unsigned)(ms % 1000);
	char tail[4] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
	                (char)('0' + frac % 10)};
	fb_cbuf_bytes(o, tail, sizeof tail);
}

void fb_cbuf_iso_ms(struct fb_cbuf *o, int64_t t_us)
{
	char ts[25];
	fb_format_iso_ms(t_us, ts);
	fb_cbuf_bytes(o, ts, 24);
}

void fb_cbuf_json_members(struct fb_cbuf *o, const struct fb_model *m, const double *values)
{
	for (unsigned i = 0; i < m->nfields; i++) {
		fb_cbuf_char(o, ',');
		fb_cbuf_json_str(o, m->fields[i].name);
		fb_cbuf_char(o, ':');
		fb_cbuf_json_value(o, &m->fields[i], values[i]);
	}
}

int fb_cbuf_enum_index(const struct fb_field *f, const char *s, size_t len)
{
	if (f->kind != FB_FIELD_ENUM || !f->enum_names)
		return -1;
	for (int i = 0; f->enum_names[i]; i++)
		if (strlen(f->enum_names[i]) == len && memcmp(f->enum_names[i], s, len) == 0)
			return i;
	return -1;
}

int fb_cbuf_command_enum(const struct fb_model *m, const char *name, size_t len, const char *s,
                         size_t slen, double *value)
{
	const struct fb_field *f = NULL;
	for (unsigned i = 0; i < m->nfields && !f; i++)
		if (strlen(m->fields[i].name) == len && memcmp(m->fields[i].name, name, len) == 0)
			f = &m->fields[i];
	if (!f)
		return FB_CODEC_EFIELD;
	int idx = fb_cbuf_enum_index(f, s, slen);
	if (idx < 0)
		return f->kind == FB_FIELD_ENUM ? FB_CODEC_ERANGE : FB_CODEC_EINVAL;
	*value = idx;
	return 0;
}

int fb_cbuf_command(const struct fb_model *m, const char *name, size_t len, double v,
                    struct fb_command *out)
{
	const struct fb_field *f = NULL;
	for (unsigned i = 0; i < m->nfields; i++) {
		if (strlen(m->fields[i].name) == len && memcmp(m->fields[i].name, name, len) == 0) {
			f = &m->fields[i];
			break;
		}
	}
	if (!f || !f->writable || len >= sizeof out->field)
		return FB_CODEC_EFIELD;
	if (!isfinite(v))
		return FB_CODEC_ERANGE;
	switch (f->kind) {
	case FB_FIELD_NUMBER:
		if (v < f->min || v > f->max)
			return FB_CODEC_ERANGE;
		break;
	case FB_FIELD_INTEGER:
		if (v != nearbyint(v) || v < f->min || v > f->max)
			return FB_CODEC_ERANGE;
		break;
	case FB_FIELD_BOOL:
		if (v != 0 && v != 1)
			return FB_CODEC_ERANGE;
		break;
	case FB_FIELD_ENUM: {
		if (v != nearbyint(v) || v < 0 || v >= fb_field_enum_count(f))
			return FB_CODEC_ERANGE;
		break;
	}
	}
	memcpy(out->field, name, len);
	out->field[len] = '\0';
	out->value = v;
	return 0;
}
