/* The `lpp` codec (see lpp.h). */
#include "protocols/codecs/lpp.h"
#include <math.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/dec.h"

struct lpp_info {
	enum fb_lpp_type type;
	const char *key;
	unsigned size;
	bool is_signed;
	double resolution;
};

static const struct lpp_info infos[] = {
	{FB_LPP_DIGITAL_IN, "digital_in", 1, false, 1},
	{FB_LPP_ANALOG_IN, "analog_in", 2, true, 0.01},
	{FB_LPP_ILLUMINANCE, "luminosity", 2, false, 1},
	{FB_LPP_TEMPERATURE, "temperature", 2, true, 0.1},
	{FB_LPP_HUMIDITY, "relative_humidity", 1, false, 0.5},
	{FB_LPP_BAROMETER, "barometric_pressure", 2, false, 0.1},
};

static const struct lpp_info *info(enum fb_lpp_type t)
{
	for (size_t i = 0; i < sizeof infos / sizeof infos[0]; i++)
		if (infos[i].type == t)
			return &infos[i];
	return NULL;
}

const char *fb_lpp_key(enum fb_lpp_type type)
{
	const struct lpp_info *in = info(type);
	return in ? in->key : NULL;
}

static bool unit_is(const struct fb_field *f, const char *a, const char *b, const char *c)
{
	return f->unit && (strcmp(f->unit, a) == 0 || (b && strcmp(f->unit, b) == 0) ||
	                   (c && strcmp(f->unit, c) == 0));
}

enum fb_lpp_type fb_lpp_type_of(const struct fb_field *f)
{
	if (f->kind == FB_FIELD_BOOL || f->kind == FB_FIELD_ENUM)
		return FB_LPP_DIGITAL_IN;
	if (unit_is(f, "°C", "Cel", "degC") && f->min >= -3276.8 && f->max <= 3276.7)
		return FB_LPP_TEMPERATURE;
	if (unit_is(f, "%RH", NULL, NULL) && f->min >= 0 && f->max <= 127.5)
		return FB_LPP_HUMIDITY;
	if (unit_is(f, "hPa", NULL, NULL) && f->min >= 0 && f->max <= 6553.5)
		return FB_LPP_BAROMETER;
	if (unit_is(f, "lx", "lux", NULL) && f->min >= 0 && f->max <= 65535)
		return FB_LPP_ILLUMINANCE;
	if (f->kind == FB_FIELD_INTEGER && f->min >= 0 && f->max <= 255)
		return FB_LPP_DIGITAL_IN;
	if (f->kind == FB_FIELD_INTEGER && f->min >= 0 && f->max <= 65535)
		return FB_LPP_ILLUMINANCE;
	return FB_LPP_ANALOG_IN;
}

/* The raw integer for v, rounded to the type's resolution and saturated to its range. */
static int64_t raw_of(const struct lpp_info *in, double v)
{
	double lo = in->is_signed ? -(double)(1LL << (8 * in->size - 1)) : 0;
	double hi = in->is_signed ? (double)((1LL << (8 * in->size - 1)) - 1)
	                          : (double)((1LL << (8 * in->size)) - 1);
	double r = isfinite(v) ? nearbyint(v / in->resolution) : 0;
	return (int64_t)(r < lo ? lo : r > hi ? hi : r);
}

ssize_t fb_lpp_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                      uint8_t *buf, size_t cap)
{
	const struct fb_model *m = s->model;
	struct fb_cbuf o;

	if (m->nfields > 255)
		return FB_CODEC_EINVAL;
	fb_cbuf_init(&o, buf, cap);
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct lpp_info *in = info(fb_lpp_type_of(&m->fields[i]));
		uint64_t raw = (uint64_t)raw_of(in, s->values[i]);
		uint8_t b[4] = {(uint8_t)(i + 1), (uint8_t)in->type};
		for (unsigned k = 0; k < in->size; k++)
			b[2 + k] = (uint8_t)(raw >> (8 * (in->size - 1 - k)));
		fb_cbuf_bytes(&o, b, 2 + in->size);
	}
	return fb_cbuf_finish(&o);
}

/* The record at buf[at..len): channel, type and data (Cayenne LPP: one byte each for channel and
 * type, then the type's bytes, big-endian). Sets its channel *ch (1..m->nfields, a field of the
 * record's type), the type's *in and the whole number *sraw the data carries (sign-extended for
 * a signed type). Returns 0, or FB_CODEC_EINVAL for a short, unknown or misplaced record. */
static int lpp_record(const struct fb_model *m, const uint8_t *buf, size_t len, size_t at,
                      unsigned *ch, const struct lpp_info **in, int64_t *sraw)
{
	if (len - at < 2)
		return FB_CODEC_EINVAL;
	*ch = buf[at];
	*in = info((enum fb_lpp_type)buf[at + 1]);
	if (!*in || *ch == 0 || *ch > m->nfields || len - at - 2 < (*in)->size ||
	    fb_lpp_type_of(&m->fields[*ch - 1]) != (*in)->type)
		return FB_CODEC_EINVAL;
	uint64_t raw = 0;
	for (unsigned k = 0; k < (*in)->size; k++)
		raw = raw << 8 | buf[at + 2 + k];
	*sraw = (int64_t)raw;
	if ((*in)->is_signed && raw >> (8 * (*in)->size - 1))
		*sraw -= (int64_t)1 << (8 * (*in)->size);
	return 0;
}

int fb_lpp_decode(const struct fb_model *m, const uint8_t *buf, size_t len, double *values)
{
	uint32_t seen[(FB_MAX_FIELDS + 31) / 32 + 8] = {0};
	size_t at = 0;
	while (at < len) {
		unsigned ch;
		const struct lpp_info *in;
		int64_t sraw;
		if (lpp_record(m, buf, len, at, &ch, &in, &sraw) || (seen[ch / 32] >> (ch % 32)) & 1)
			return FB_CODEC_EINVAL;
		seen[ch / 32] |= 1u << (ch % 32);
		values[ch - 1] = (double)sraw * in->resolution;
		at += 2 + in->size;
	}
	return 0;
}

int fb_lpp_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                          const uint8_t *buf, size_t len, struct fb_command *out, size_t max)
{
	if (len == 0 || len % 3)
		return FB_CODEC_EINVAL;
	int n = 0;
	for (size_t at = 0; at < len; at += 3) {
		unsigned ch = buf[at];
		if (ch == 0 || ch > m->nfields)
			return FB_CODEC_EFIELD;
		int16_t raw = (int16_t)(uint16_t)(buf[at + 1] << 8 | buf[at + 2]);
		if ((size_t)n >= max)
			return FB_CODEC_ENOSPC;
		const char *name = m->fields[ch - 1].name;
		int rc = fb_cbuf_command(m, name, strlen(name), raw / 100.0, &out[n]);
		if (rc < 0)
			return rc;
		n++;
	}
	return n;
}

/* A reading at its type's bound may have been saturated (lpp.h): when the field's range goes
 * beyond what the type holds, the true value is anywhere past the rail, so its tolerance is
 * unbounded instead of pretending a precision the frame does not have. */
static bool railed(const struct lpp_info *in, const struct fb_field *f, int64_t raw)
{
	int64_t lo = in->is_signed ? -((int64_t)1 << (8 * in->size - 1)) : 0;
	int64_t hi = in->is_signed ? ((int64_t)1 << (8 * in->size - 1)) - 1
	                           : ((int64_t)1 << (8 * in->size)) - 1;
	return (raw == hi && f->max > (double)hi * in->resolution) ||
	       (raw == lo && f->min < (double)lo * in->resolution);
}

int fb_lpp_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                         const uint8_t *buf, size_t len, struct fb_decoded *out)
{
	(void)c;
	if (fb_dec_clear(out, m))
		return FB_CODEC_EINVAL;
	if (len == 0)
		return FB_CODEC_EINVAL;
	size_t at = 0;
	while (at < len) {
		unsigned ch;
		const struct lpp_info *in;
		int64_t sraw;
		if (lpp_record(m, buf, len, at, &ch, &in, &sraw) || (out->present >> (ch - 1)) & 1)
			return FB_CODEC_EINVAL;
		const struct fb_field *f = &m->fields[ch - 1];
		double v = (double)sraw * in->resolution;
		/* BOOL is 0/1 and ENUM an index of the field's names (both digital_in: v is sraw) */
		if (!fb_dec_whole_ok(f, v))
			return FB_CODEC_EINVAL;
		/* the coarser of the type's step and the field's (1 for whole-number kinds) */
		double fstep = f->kind != FB_FIELD_NUMBER ? 1 : f->resolution > 0 ? f->resolution : 0;
		double half = (in->resolution > fstep ? in->resolution : fstep) / 2;
		out->values[ch - 1] = v;
		out->tolerance[ch - 1] = railed(in, f, sraw) ? HUGE_VAL : half;
		out->present |= (uint64_t)1 << (ch - 1);
		at += 2 + in->size;
	}
	return 0;
}

const struct fb_codec fb_lpp_codec = {
	.name = "lpp",
	.content_type = "application/octet-stream",
	.encode = fb_lpp_encode,
	.decode_command = fb_lpp_decode_command,
	.decode_sample = fb_lpp_decode_sample,
};
