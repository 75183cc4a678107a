/* The `binary` codec and its JavaScript decoder (see binary.h). */
#include "protocols/codecs/binary.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/dec.h"
#include "sim/fmt.h"

#define MAX_WIDTH 6

static double step_of(const struct fb_field *f)
{
	if (f->kind == FB_FIELD_NUMBER && f->resolution > 0 && isfinite(f->resolution))
		return f->resolution;
	return 1;
}

/* Raw bounds of a field: [lo, hi] in units of its step. */
static void raw_bounds(const struct fb_field *f, double *lo, double *hi)
{
	if (f->kind == FB_FIELD_BOOL || f->kind == FB_FIELD_ENUM) {
		*lo = 0;
		*hi = 255;
		return;
	}
	double step = step_of(f);
	*lo = nearbyint(f->min / step);
	*hi = nearbyint(f->max / step);
}

unsigned fb_binary_width(const struct fb_field *f, bool *is_signed)
{
	double lo, hi;
	raw_bounds(f, &lo, &hi);
	*is_signed = lo < 0;
	for (unsigned w = 1; w < MAX_WIDTH; w++) {
		double span = ldexp(1, (int)(8 * w));
		if (*is_signed ? lo >= -span / 2 && hi < span / 2 : hi < span)
			return w;
	}
	return MAX_WIDTH;
}

size_t fb_binary_size(const struct fb_model *m)
{
	size_t n = 1;
	bool sg;
	for (unsigned i = 0; i < m->nfields; i++)
		n += fb_binary_width(&m->fields[i], &sg);
	return n;
}

ssize_t fb_binary_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                         uint8_t *buf, size_t cap)
{
	const struct fb_model *m = s->model;
	struct fb_cbuf o;

	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_char(&o, FB_BINARY_VERSION);
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		bool sg;
		unsigned w = fb_binary_width(f, &sg);
		double lo, hi;
		raw_bounds(f, &lo, &hi);
		/* saturate at the field's bounds and at the width's */
		double wlo = sg ? -ldexp(1, (int)(8 * w - 1)) : 0;
		double whi = sg ? ldexp(1, (int)(8 * w - 1)) - 1 : ldexp(1, (int)(8 * w)) - 1;
		if (lo < wlo) lo = wlo;
		if (hi > whi) hi = whi;
		double v = s->values[i];
		double r = isfinite(v) ? nearbyint(f->kind == FB_FIELD_BOOL ? (v != 0) : v / step_of(f)) : 0;
		r = r < lo ? lo : r > hi ? hi : r;
		uint64_t raw = (uint64_t)(int64_t)r;
		uint8_t b[MAX_WIDTH];
		for (unsigned k = 0; k < w; k++)
			b[k] = (uint8_t)(raw >> (8 * (w - 1 - k)));
		fb_cbuf_bytes(&o, b, w);
	}
	return fb_cbuf_finish(&o);
}

/* One field's value at p (w bytes), as the decoder reads it. */
static double read_value(const struct fb_field *f, const uint8_t *p, unsigned w, bool sg)
{
	uint64_t raw = 0;
	for (unsigned k = 0; k < w; k++)
		raw = raw << 8 | p[k];
	int64_t sraw = (int64_t)raw;
	if (sg && raw >> (8 * w - 1))
		sraw -= (int64_t)1 << (8 * w);
	if (f->kind != FB_FIELD_NUMBER)
		return (double)sraw;
	/* at the field's resolution, as the JavaScript decoder's toFixed() gives it */
	int d = fb_fmt_decimals(step_of(f));
	double scale = pow(10, d);
	return nearbyint((double)sraw * step_of(f) * scale) / scale;
}

int fb_binary_decode(const struct fb_model *m, const uint8_t *buf, size_t len, double *values)
{
	if (len != fb_binary_size(m) || buf[0] != FB_BINARY_VERSION)
		return FB_CODEC_EINVAL;
	size_t at = 1;
	for (unsigned i = 0; i < m->nfields; i++) {
		bool sg;
		unsigned w = fb_binary_width(&m->fields[i], &sg);
		values[i] = read_value(&m->fields[i], buf + at, w, sg);
		at += w;
	}
	return 0;
}

int fb_binary_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                             const uint8_t *buf, size_t len, struct fb_command *out, size_t max)
{
	if (len == 0)
		return FB_CODEC_EINVAL;
	int n = 0;
	size_t at = 0;
	while (at < len) {
		unsigned idx = buf[at++];
		if (idx >= m->nfields)
			return FB_CODEC_EFIELD;
		const struct fb_field *f = &m->fields[idx];
		bool sg;
		unsigned w = fb_binary_width(f, &sg);
		if (len - at < w)
			return FB_CODEC_EINVAL;
		double v = read_value(f, buf + at, w, sg);
		at += w;
		if ((size_t)n >= max)
			return FB_CODEC_ENOSPC;
		int rc = fb_cbuf_command(m, f->name, strlen(f->name), v, &out[n]);
		if (rc < 0)
			return rc;
		n++;
	}
	return n;
}

ssize_t fb_binary_js_decoder(const struct fb_model *m, char *buf, size_t cap)
{
	struct fb_cbuf o;
	char num[64];

	fb_cbuf_init(&o, (uint8_t *)buf, cap);
	fb_cbuf_str(&o, "// Payload decoder for the fleetbench sensor type '");
	fb_cbuf_json_chars(&o, m->name);
	fb_cbuf_str(&o, "', binary format 1.\n"
	            "// Generated from the type's field table by fb_binary_js_decoder(): do not edit.\n"
	            "// The Things Stack, ChirpStack v4: decodeUplink({bytes, fPort}); "
	            "ChirpStack v3: Decode(fPort, bytes).\n"
	            "// ECMAScript 5.1. Values come back at each field's resolution.\n"
	            "\n"
	            "// [name, kind, width in bytes, signed, resolution, decimals, enum names]\n"
	            "var FIELDS = [\n");
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		bool sg;
		unsigned w = fb_binary_width(f, &sg);
		int d = f->kind == FB_FIELD_NUMBER ? fb_fmt_decimals(step_of(f)) : 0;
		fb_cbuf_str(&o, "\t[");
		fb_cbuf_json_str(&o, f->name);
		fb_cbuf_str(&o, f->kind == FB_FIELD_NUMBER ? ", \"number\", " :
		                f->kind == FB_FIELD_INTEGER ? ", \"integer\", " :
		                f->kind == FB_FIELD_BOOL ? ", \"bool\", " : ", \"enum\", ");
		snprintf(num, sizeof num, "%u, %s, %.*f, %d, ", w, sg ? "true" : "false", d,
		         step_of(f), d);
		fb_cbuf_str(&o, num);
		if (f->kind == FB_FIELD_ENUM && f->enum_names) {
			fb_cbuf_char(&o, '[');
			for (int k = 0; f->enum_names[k]; k++) {
				if (k)
					fb_cbuf_str(&o, ", ");
				fb_cbuf_json_str(&o, f->enum_names[k]);
			}
			fb_cbuf_char(&o, ']');
		} else {
			fb_cbuf_str(&o, "null");
		}
		fb_cbuf_str(&o, i + 1 < m->nfields ? "],\n" : "]\n");
	}
	fb_cbuf_str(&o,
		"];\n"
		"\n"
		"function decodeUplink(input) {\n"
		"\tvar bytes = input.bytes, data = {}, size = 1, at = 1, i, j, f, raw;\n"
		"\tfor (i = 0; i < FIELDS.length; i++) size += FIELDS[i][2];\n"
		"\tif (!bytes || bytes.length !== size)\n"
		"\t\treturn {errors: [\"expected \" + size + \" bytes, got \" + (bytes ? bytes.length : 0)]};\n"
		"\tif (bytes[0] !== 1)\n"
		"\t\treturn {errors: [\"unknown format version \" + bytes[0]]};\n"
		"\tfor (i = 0; i < FIELDS.length; i++) {\n"
		"\t\tf = FIELDS[i];\n"
		"\t\traw = 0;\n"
		"\t\tfor (j = 0; j < f[2]; j++) raw = raw * 256 + bytes[at + j];\n"
		"\t\tif (f[3] && raw >= Math.pow(2, 8 * f[2] - 1)) raw -= Math.pow(2, 8 * f[2]);\n"
		"\t\tat += f[2];\n"
		"\t\tif (f[1] === \"bool\") data[f[0]] = raw !== 0;\n"
		"\t\telse if (f[1] === \"enum\") data[f[0]] = raw < f[6].length ? f[6][raw] : raw;\n"
		"\t\telse if (f[1] === \"integer\") data[f[0]] = raw;\n"
		"\t\telse data[f[0]] = Number((raw * f[4]).toFixed(f[5]));\n"
		"\t}\n"
		"\treturn {data: data};\n"
		"}\n"
		"\n"
		"function Decode(fPort, bytes) {\n"
		"\treturn decodeUplink({bytes: bytes, fPort: fPort}).data;\n"
		"}\n");
	fb_cbuf_char(&o, '\0');
	ssize_t n = fb_cbuf_finish(&o);
	return n < 0 ? n : n - 1;
}

int fb_binary_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                            const uint8_t *buf, size_t len, struct fb_decoded *out)
{
	(void)c;
	if (fb_dec_clear(out, m))
		return FB_CODEC_EINVAL;
	if (len != fb_binary_size(m) || buf[0] != FB_BINARY_VERSION)
		return FB_CODEC_EINVAL;
	size_t at = 1;
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		bool sg;
		unsigned w = fb_binary_width(f, &sg);
		double v = read_value(f, buf + at, w, sg);
		at += w;
		/* the encoder never writes a BOOL above 1 or an ENUM past its names */
		if (!fb_dec_whole_ok(f, v))
			return FB_CODEC_EINVAL;
		out->values[i] = v;
		out->tolerance[i] = step_of(f) / 2;
		out->present |= (uint64_t)1 << i;
	}
	return 0;
}

const struct fb_codec fb_binary_codec = {
	.name = "binary",
	.content_type = "application/octet-stream",
	.encode = fb_binary_encode,
	.decode_command = fb_binary_decode_command,
	.decode_sample = fb_binary_decode_sample,
};
