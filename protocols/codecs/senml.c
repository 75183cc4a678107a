/* The `senml` codec (see senml.h). */
#include "protocols/codecs/senml.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"

/* Our unit spellings and the RFC 8428 §12.1 registry names they map to. Registry names map to
 * themselves. */
static const char *const unit_map[][2] = {
	{"°C", "Cel"}, {"degC", "Cel"}, {"C", "Cel"}, {"Cel", "Cel"}, {"K", "K"},
	{"dB(A)", "dB"}, {"dBA", "dB"}, {"dB", "dB"}, {"Bspl", "Bspl"},
	{"%", "%"}, {"%RH", "%RH"}, {"%EL", "%EL"}, {"/", "/"},
	{"m", "m"}, {"m2", "m2"}, {"m3", "m3"}, {"l", "l"}, {"L", "l"},
	{"m/s", "m/s"}, {"m3/s", "m3/s"}, {"l/s", "l/s"},
	{"kg", "kg"}, {"g", "g"}, {"kg/m3", "kg/m3"}, {"s", "s"}, {"Hz", "Hz"},
	{"W", "W"}, {"V", "V"}, {"A", "A"}, {"J", "J"}, {"Pa", "Pa"}, {"W/m2", "W/m2"},
	{"lx", "lx"}, {"lux", "lx"}, {"pH", "pH"}, {"S/m", "S/m"},
	{"dBW", "dBW"}, {"dBm", "dBm"}, {"count", "count"}, {"1/s", "1/s"}, {"1/min", "1/min"},
	{"lat", "lat"}, {"lon", "lon"}, {"rad", "rad"},
};

const char *fb_senml_unit(const char *unit)
{
	if (!unit)
		return NULL;
	for (size_t i = 0; i < sizeof unit_map / sizeof unit_map[0]; i++)
		if (strcmp(unit_map[i][0], unit) == 0)
			return unit_map[i][1];
	return NULL;
}

ssize_t fb_senml_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                        uint8_t *buf, size_t cap)
{
	const struct fb_model *m = s->model;
	struct fb_cbuf o;

	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_char(&o, '[');
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		if (i == 0) {
			fb_cbuf_str(&o, "{\"bn\":\"");
			fb_cbuf_json_chars(&o, c->device_id);
			fb_cbuf_str(&o, ":\",\"bt\":");
			fb_cbuf_seconds_ms(&o, s->t);
			fb_cbuf_char(&o, ',');
		} else {
			fb_cbuf_str(&o, ",{");
		}
		fb_cbuf_str(&o, "\"n\":");
		fb_cbuf_json_str(&o, f->name);
		const char *u = fb_senml_unit(f->unit);
		if (u && (f->kind == FB_FIELD_NUMBER || f->kind == FB_FIELD_INTEGER)) {
			fb_cbuf_str(&o, ",\"u\":");
			fb_cbuf_json_str(&o, u);
		}
		fb_cbuf_str(&o, f->kind == FB_FIELD_BOOL ? ",\"vb\":" :
		                f->kind == FB_FIELD_ENUM ? ",\"vs\":" : ",\"v\":");
		fb_cbuf_json_value(&o, f, s->values[i]);
		fb_cbuf_char(&o, '}');
	}
	fb_cbuf_char(&o, ']');
	return fb_cbuf_finish(&o);
}

int fb_senml_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                            const uint8_t *buf, size_t len, struct fb_command *out, size_t max)
{
	json_error_t jerr;
	json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return FB_CODEC_EINVAL;
	int n = 0;
	char name[160];
	const char *bn = "";
	if (!json_is_array(root)) {
		n = FB_CODEC_EINVAL;
		goto done;
	}
	size_t i;
	json_t *rec;
	json_array_foreach(root, i, rec) {
		if (!json_is_object(rec)) {
			n = FB_CODEC_EINVAL;
			goto done;
		}
		json_t *jbn = json_object_get(rec, "bn");
		if (jbn) {
			if (!json_is_string(jbn)) {
				n = FB_CODEC_EINVAL;
				goto done;
			}
			bn = json_string_value(jbn);
		}
		json_t *jn = json_object_get(rec, "n");
		json_t *v = json_object_get(rec, "v"), *vb = json_object_get(rec, "vb"),
		       *vs = json_object_get(rec, "vs");
		if (!jn && !v && !vb && !vs)
			continue;   /* a record with base fields only */
		if ((jn && !json_is_string(jn)) || (!!v + !!vb + !!vs) != 1) {
			n = FB_CODEC_EINVAL;
			goto done;
		}
		int w = snprintf(name, sizeof name, "%s%s", bn, jn ? json_string_value(jn) : "");
		if (w < 0 || (size_t)w >= sizeof name) {
			n = FB_CODEC_EFIELD;
			goto done;
		}
		const char *field = name;
		size_t dlen = c && c->device_id ? strlen(c->device_id) : 0;
		if (dlen && strncmp(name, c->device_id, dlen) == 0 && name[dlen] == ':')
			field = name + dlen + 1;
		size_t flen = strlen(field);
		double x;
		if (v) {
			if (!json_is_number(v)) {
				n = FB_CODEC_EINVAL;
				goto done;
			}
			x = json_number_value(v);
		} else if (vb) {
			if (!json_is_boolean(vb)) {
				n = FB_CODEC_EINVAL;
				goto done;
			}
			x = json_is_true(vb);
		} else {
			if (!json_is_string(vs)) {
				n = FB_CODEC_EINVAL;
				goto done;
			}
			int fi = -1;
			for (unsigned k = 0; k < m->nfields; k++)
				if (strcmp(m->fields[k].name, field) == 0)
					fi = (int)k;
			if (fi < 0) {
				n = FB_CODEC_EFIELD;
				goto done;
			}
			x = fb_cbuf_enum_index(&m->fields[fi], json_string_value(vs),
			                       json_string_length(vs));
			if (x < 0) {
				n = m->fields[fi].kind == FB_FIELD_ENUM ? FB_CODEC_ERANGE : FB_CODEC_EINVAL;
				goto done;
			}
		}
		if ((size_t)n >= max) {
			n = FB_CODEC_ENOSPC;
			goto done;
		}
		int rc = fb_cbuf_command(m, field, flen, x, &out[n]);
		if (rc < 0) {
			n = rc;
			goto done;
		}
		n++;
	}
done:
	json_decref(root);
	return n;
}

const struct fb_codec fb_senml_codec = {
	.name = "senml",
	.content_type = "application/senml+json",
	.encode = fb_senml_encode,
	.decode_command = fb_senml_decode_command,
};
