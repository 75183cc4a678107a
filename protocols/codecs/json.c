/* The `json` codec (see json.h). */
#include "protocols/codecs/json.h"
#include <jansson.h>
#include <math.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/dec.h"

ssize_t fb_json_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                       uint8_t *buf, size_t cap)
{
	const struct fb_model *m = s->model;
	struct fb_cbuf o;

	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_str(&o, "{\"id\":");
	fb_cbuf_json_str(&o, c->device_id);
	fb_cbuf_str(&o, ",\"type\":");
	fb_cbuf_json_str(&o, m->fiware_type ? m->fiware_type : m->name);
	fb_cbuf_str(&o, ",\"seq\":");
	fb_cbuf_u64(&o, s->seq);
	fb_cbuf_str(&o, ",\"ts\":\"");
	fb_cbuf_iso_ms(&o, s->t);
	fb_cbuf_char(&o, '"');
	fb_cbuf_json_members(&o, m, s->values);
	fb_cbuf_char(&o, '}');
	return fb_cbuf_finish(&o);
}

/* One write "key": value, value a jansson number, boolean or enum name. */
static int one_write(const struct fb_model *m, const char *key, size_t klen, json_t *v,
                     struct fb_command *out)
{
	double x;

	if (json_is_integer(v)) {
		x = (double)json_integer_value(v);
	} else if (json_is_real(v)) {
		x = json_real_value(v);
	} else if (json_is_boolean(v)) {
		x = json_is_true(v) ? 1 : 0;
	} else if (json_is_string(v)) {
		int rc = fb_cbuf_command_enum(m, key, klen, json_string_value(v), json_string_length(v),
		                              &x);
		if (rc)
			return rc;
	} else {
		return FB_CODEC_EINVAL;
	}
	return fb_cbuf_command(m, key, klen, x, out);
}

int fb_json_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                           const uint8_t *buf, size_t len, struct fb_command *out, size_t max)
{
	json_error_t jerr;
	/* JSON_ALLOW_NUL: a NUL inside the payload is an error of the payload, not an end of it */
	json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	                          &jerr);
	if (!root)
		return FB_CODEC_EINVAL;
	int n = 0;
	if (!json_is_object(root)) {
		n = FB_CODEC_EINVAL;
		goto done;
	}
	const char *key;
	size_t klen;
	json_t *v;
	json_object_keylen_foreach(root, key, klen, v) {
		if ((size_t)n >= max) {
			n = FB_CODEC_ENOSPC;
			goto done;
		}
		int rc = one_write(m, key, klen, v, &out[n]);
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

enum { META_ID = 1, META_TYPE = 2, META_SEQ = 4, META_TS = 8 };

int fb_json_decode_flat(const struct fb_model *m, const uint8_t *buf, size_t len, bool fiware,
                        struct fb_decoded *out)
{
	struct fb_jscan j;
	struct fb_jval v;
	char key[64];
	size_t klen;
	unsigned meta = 0;
	int unknown = 0, next_field = 0;

	fb_dec_init(out, m);
	fb_jscan_init(&j, buf, len);
	if (!fb_jscan_eat(&j, '{'))
		return FB_CODEC_EINVAL;
	if (!fb_jscan_eat(&j, '}')) {
		do {
			if (fb_jscan_string(&j, key, sizeof key, &klen) || !fb_jscan_eat(&j, ':') ||
			    fb_jscan_value(&j, &v))
				return FB_CODEC_EINVAL;
			unsigned bit = 0;
			if (fiware)
				bit = !strcmp(key, "TimeInstant") ? META_TS : 0;
			else
				bit = !strcmp(key, "id") ? META_ID : !strcmp(key, "type") ? META_TYPE :
				      !strcmp(key, "seq") ? META_SEQ : !strcmp(key, "ts") ? META_TS : 0;
			if (bit) {
				if (meta & bit)
					return FB_CODEC_EINVAL;
				meta |= bit;
			}
			switch (bit) {
			case META_ID:
				if (v.kind != FB_J_STRING || v.len >= sizeof out->device)
					return FB_CODEC_EINVAL;
				memcpy(out->device, v.str, v.len + 1);
				continue;
			case META_TYPE: {
				if (v.kind != FB_J_STRING)
					return FB_CODEC_EINVAL;
				const char *want = m->fiware_type ? m->fiware_type : m->name;
				if (strcmp(v.str, want) && strcmp(v.str, m->name) && !unknown)
					unknown = FB_CODEC_EFIELD;   /* another type's payload */
				continue;
			}
			case META_SEQ:
				if (v.kind != FB_J_NUMBER || v.x < 0 || v.x > 4294967295.0 || v.x != floor(v.x))
					return FB_CODEC_EINVAL;
				out->seq = (int64_t)v.x;
				continue;
			case META_TS:
				if (v.kind != FB_J_STRING || fb_dec_time(v.str, v.len, &out->ts))
					return FB_CODEC_EINVAL;
				continue;
			}
			int fi = fb_dec_field_from(m, key, klen, next_field);
			if (fi < 0) {
				if ((v.kind == FB_J_OBJECT || v.kind == FB_J_ARRAY) && fb_jscan_skip_rest(&j))
					return FB_CODEC_EINVAL;
				if (!unknown)
					unknown = FB_CODEC_EFIELD;
				continue;
			}
			if (out->present & (1ull << fi))
				return FB_CODEC_EINVAL;
			next_field = fi + 1;
			int rc = fb_dec_json_value(&m->fields[fi], &v, &out->values[fi]);
			if (rc == FB_CODEC_ERANGE && !unknown)
				unknown = rc;
			else if (rc)
				return rc;
			else
				out->present |= 1ull << fi;
		} while (fb_jscan_eat(&j, ','));
		if (!fb_jscan_eat(&j, '}'))
			return FB_CODEC_EINVAL;
	}
	if (!fb_jscan_at_end(&j))
		return FB_CODEC_EINVAL;
	return unknown;
}

int fb_json_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                          const uint8_t *buf, size_t len, struct fb_decoded *out)
{
	(void)c;
	return fb_json_decode_flat(m, buf, len, false, out);
}

const struct fb_codec fb_json_codec = {
	.name = "json",
	.content_type = "application/json",
	.encode = fb_json_encode,
	.decode_command = fb_json_decode_command,
	.decode_sample = fb_json_decode_sample,
};
