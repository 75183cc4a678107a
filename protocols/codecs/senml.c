/* The `senml` codec (see senml.h). */
#include "protocols/codecs/senml.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/dec.h"

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
			int rc = fb_cbuf_command_enum(m, field, flen, json_string_value(vs),
			                              json_string_length(vs), &x);
			if (rc) {
				n = rc;
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

/* Record keys this decoder reads (RFC 8428 §4.2, §4.3); others are FB_CODEC_EFIELD. */
enum { K_BN, K_BT, K_BU, K_BVER, K_N, K_U, K_V, K_VB, K_VS, K_T, K_UT, K_NKEYS };
static const char *const rec_keys[K_NKEYS] = {
	"bn", "bt", "bu", "bver", "n", "u", "v", "vb", "vs", "t", "ut"
};

int fb_senml_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                           const uint8_t *buf, size_t len, struct fb_decoded *out)
{
	(void)c;
	struct fb_jscan j;
	struct fb_jval v, val;
	char key[16], bn[96] = "", n[96], resolved[192];
	size_t klen;
	fb_time_us bt = 0;
	int rc_soft = 0;
	bool have_time = false;

	fb_dec_init(out, m);
	fb_jscan_init(&j, buf, len);
	if (!fb_jscan_eat(&j, '[') || fb_jscan_eat(&j, ']'))
		return FB_CODEC_EINVAL;
	do {
		unsigned seen = 0;
		fb_time_us t = 0;
		const char *unit = NULL;
		char ubuf[32];
		int value_key = -1;
		n[0] = '\0';
		if (!fb_jscan_eat(&j, '{'))
			return FB_CODEC_EINVAL;
		if (!fb_jscan_eat(&j, '}')) {
			do {
				if (fb_jscan_string(&j, key, sizeof key, &klen) || !fb_jscan_eat(&j, ':') ||
				    fb_jscan_value(&j, &v))
					return FB_CODEC_EINVAL;
				int k = 0;
				while (k < K_NKEYS && strcmp(key, rec_keys[k]))
					k++;
				if (k == K_NKEYS) {
					if ((v.kind == FB_J_OBJECT || v.kind == FB_J_ARRAY) && fb_jscan_skip_rest(&j))
						return FB_CODEC_EINVAL;
					if (!rc_soft)
						rc_soft = FB_CODEC_EFIELD;
					continue;
				}
				if (seen & (1u << k))
					return FB_CODEC_EINVAL;
				seen |= 1u << k;
				switch (k) {
				case K_BN: case K_N: case K_BU: case K_U:
					if (v.kind != FB_J_STRING)
						return FB_CODEC_EINVAL;
					if (k == K_BN || k == K_N) {
						if (v.len >= sizeof bn)
							return FB_CODEC_EINVAL;
						memcpy(k == K_BN ? bn : n, v.str, v.len + 1);
					} else if (k == K_U) {
						if (v.len >= sizeof ubuf)
							return FB_CODEC_EINVAL;
						memcpy(ubuf, v.str, v.len + 1);
						unit = ubuf;
					}
					break;
				case K_BT: case K_T:
					if (v.kind != FB_J_NUMBER ||
					    fb_dec_seconds(v.num, v.num_len, k == K_BT ? &bt : &t))
						return FB_CODEC_EINVAL;
					break;
				case K_BVER: case K_UT:
					if (v.kind != FB_J_NUMBER)
						return FB_CODEC_EINVAL;
					break;
				default:   /* v, vb, vs */
					if (value_key >= 0)
						return FB_CODEC_EINVAL;   /* one value per record (§4.2) */
					value_key = k;
					val = v;
					break;
				}
			} while (fb_jscan_eat(&j, ','));
			if (!fb_jscan_eat(&j, '}'))
				return FB_CODEC_EINVAL;
		}
		if (value_key < 0) {
			if (seen & (1u << K_N))
				return FB_CODEC_EINVAL;   /* a name without a value */
			continue;                     /* a record of base fields only */
		}
		/* RFC 8428 §4.6: name = bn + n, time = bt + t */
		size_t bl = strlen(bn), nl = strlen(n);
		memcpy(resolved, bn, bl);
		memcpy(resolved + bl, n, nl + 1);
		const char *colon = strrchr(resolved, ':');
		const char *field = colon ? colon + 1 : resolved;
		size_t dlen = colon ? (size_t)(colon - resolved) : 0;
		if (dlen >= sizeof out->device)
			return FB_CODEC_EINVAL;
		if (colon) {
			if (out->device[0] && (strlen(out->device) != dlen || memcmp(out->device, resolved, dlen)))
				return FB_CODEC_EINVAL;   /* a pack of two devices */
			memcpy(out->device, resolved, dlen);
			out->device[dlen] = '\0';
		}
		fb_time_us when = bt + t;
		if (have_time && when != out->ts)
			return FB_CODEC_EINVAL;       /* a pack of several instants: not one sample */
		out->ts = when;
		have_time = true;
		int fi = fb_dec_field(m, field, strlen(field));
		if (fi < 0) {
			if (!rc_soft)
				rc_soft = FB_CODEC_EFIELD;
			continue;
		}
		const struct fb_field *f = &m->fields[fi];
		if (out->present & (1ull << fi))
			return FB_CODEC_EINVAL;
		/* the record's value key must be the one the field's kind travels in */
		int want = f->kind == FB_FIELD_BOOL ? K_VB : f->kind == FB_FIELD_ENUM ? K_VS : K_V;
		if (value_key != want)
			return FB_CODEC_EINVAL;
		if (unit && (!fb_senml_unit(f->unit) || strcmp(unit, fb_senml_unit(f->unit))))
			return FB_CODEC_EINVAL;   /* a unit that is not the field's */
		int rc = fb_dec_settle(out, fi, fb_dec_json_value(f, &val, &out->values[fi]), &rc_soft);
		if (rc)
			return rc;
	} while (fb_jscan_eat(&j, ','));
	if (!fb_jscan_eat(&j, ']') || !fb_jscan_at_end(&j))
		return FB_CODEC_EINVAL;
	return rc_soft;
}

const struct fb_codec fb_senml_codec = {
	.name = "senml",
	.content_type = "application/senml+json",
	.encode = fb_senml_encode,
	.decode_command = fb_senml_decode_command,
	.decode_sample = fb_senml_decode_sample,
};
