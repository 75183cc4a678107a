/* The `ul` codec (see ul.h). */
#include "protocols/codecs/ul.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/dec.h"

ssize_t fb_ul_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                     uint8_t *buf, size_t cap)
{
	const struct fb_model *m = s->model;
	struct fb_cbuf o;

	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_iso_ms(&o, s->t);
	for (unsigned i = 0; i < m->nfields; i++) {
		fb_cbuf_char(&o, '|');
		fb_cbuf_str(&o, m->fields[i].name);
		fb_cbuf_char(&o, '|');
		fb_cbuf_text_value(&o, &m->fields[i], s->values[i]);
	}
	return fb_cbuf_finish(&o);
}

/* A UL value: a number ("50", "-1.5", no hex, no inf/nan), true/false, or an enum name. */
static int parse_value(const struct fb_model *m, const char *field, size_t flen,
                       const char *v, size_t vlen, double *out)
{
	char tmp[64];
	if (vlen == 0 || vlen >= sizeof tmp)
		return FB_CODEC_EINVAL;
	memcpy(tmp, v, vlen);
	tmp[vlen] = '\0';
	if (strcmp(tmp, "true") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(tmp, "false") == 0) {
		*out = 0;
		return 0;
	}
	if ((tmp[0] >= '0' && tmp[0] <= '9') || ((tmp[0] == '-' || tmp[0] == '+' || tmp[0] == '.') &&
	    vlen > 1)) {
		for (size_t i = 0; i < vlen; i++)
			if (!strchr("0123456789+-.eE", tmp[i]))
				return FB_CODEC_EINVAL;
		char *end;
		errno = 0;
		double x = strtod(tmp, &end);
		if (*end || errno == ERANGE || !isfinite(x))
			return *end ? FB_CODEC_EINVAL : FB_CODEC_ERANGE;
		*out = x;
		return 0;
	}
	for (unsigned i = 0; i < m->nfields; i++) {
		if (strlen(m->fields[i].name) == flen && memcmp(m->fields[i].name, field, flen) == 0) {
			int idx = fb_cbuf_enum_index(&m->fields[i], v, vlen);
			if (idx >= 0) {
				*out = idx;
				return 0;
			}
			return m->fields[i].kind == FB_FIELD_ENUM ? FB_CODEC_ERANGE : FB_CODEC_EINVAL;
		}
	}
	return FB_CODEC_EFIELD;
}

int fb_ul_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                         const uint8_t *buf, size_t len, struct fb_command *out, size_t max)
{
	const char *p = (const char *)buf, *end = p + len;
	const char *at = memchr(p, '@', len);
	if (!at)
		return FB_CODEC_EINVAL;
	/* the device part must name this device */
	size_t dlen = (size_t)(at - p);
	if (c && c->device_id && (strlen(c->device_id) != dlen || memcmp(c->device_id, p, dlen) != 0))
		return FB_CODEC_EINVAL;
	const char *cmd = at + 1;
	const char *bar = memchr(cmd, '|', (size_t)(end - cmd));
	if (!bar || bar == cmd)
		return FB_CODEC_EINVAL;
	const char *v = bar + 1;
	size_t vlen = (size_t)(end - v);
	if (memchr(v, '|', vlen) || memchr(v, '\0', vlen) || memchr(cmd, '\0', (size_t)(bar - cmd)))
		return FB_CODEC_EINVAL;
	double x;
	int rc = parse_value(m, cmd, (size_t)(bar - cmd), v, vlen, &x);
	if (rc < 0)
		return rc;
	if (max == 0)
		return FB_CODEC_ENOSPC;
	rc = fb_cbuf_command(m, cmd, (size_t)(bar - cmd), x, &out[0]);
	return rc < 0 ? rc : 1;
}

ssize_t fb_ul_cmdexe(const char *device, const char *command, const char *result,
                     uint8_t *buf, size_t cap)
{
	struct fb_cbuf o;
	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_str(&o, device);
	fb_cbuf_char(&o, '@');
	fb_cbuf_str(&o, command);
	fb_cbuf_char(&o, '|');
	fb_cbuf_str(&o, result);
	return fb_cbuf_finish(&o);
}

int fb_ul_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                        const uint8_t *buf, size_t len, struct fb_decoded *out)
{
	(void)c;
	const char *p = (const char *)buf, *end = p + len;
	int rc_soft = 0, next_field = 0;

	fb_dec_init(out, m);
	if (len == 0 || memchr(p, '#', len) || memchr(p, '\0', len))
		return FB_CODEC_EINVAL;   /* '#' separates measure groups: several samples, not one */
	size_t bars = 0;
	for (const char *q = p; q < end; q++)
		bars += *q == '|';
	/* an even number of tokens is pairs; odd, a leading timestamp then pairs */
	if (bars % 2 == 0) {
		const char *bar = memchr(p, '|', len);
		size_t tl = bar ? (size_t)(bar - p) : len;
		if (fb_dec_time(p, tl, &out->ts))
			return FB_CODEC_EINVAL;
		if (!bar)
			return 0;
		p = bar + 1;
	}
	while (p < end) {
		const char *kb = memchr(p, '|', (size_t)(end - p));
		if (!kb)
			return FB_CODEC_EINVAL;
		const char *v = kb + 1;
		const char *vb = memchr(v, '|', (size_t)(end - v));
		const char *ve = vb ? vb : end;
		if (kb == p || ve == v)
			return FB_CODEC_EINVAL;   /* an empty key or value */
		int fi = fb_dec_field_from(m, p, (size_t)(kb - p), next_field);
		if (fi < 0) {
			if (!rc_soft)
				rc_soft = FB_CODEC_EFIELD;
		} else if (out->present & (1ull << fi)) {
			return FB_CODEC_EINVAL;
		} else {
			next_field = fi + 1;
			int rc = fb_dec_text_value(&m->fields[fi], v, (size_t)(ve - v), &out->values[fi]);
			if (rc == FB_CODEC_ERANGE) {
				if (!rc_soft)
					rc_soft = rc;
			} else if (rc) {
				return rc;
			} else {
				out->present |= 1ull << fi;
			}
		}
		if (!vb)
			break;
		p = vb + 1;
		if (p == end)
			return FB_CODEC_EINVAL;   /* a trailing '|' */
	}
	return rc_soft;
}

const struct fb_codec fb_ul_codec = {
	.name = "ul",
	.content_type = "text/plain",
	.encode = fb_ul_encode,
	.decode_command = fb_ul_decode_command,
	.decode_sample = fb_ul_decode_sample,
};
