/* The `json` codec (see json.h). */
#include "protocols/codecs/json.h"
#include <jansson.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"

ssize_t fb_json_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                       uint8_t *buf, size_t cap)
{
	const struct fb_model *m = s->model;
	struct fb_cbuf o;
	char ts[25];

	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_str(&o, "{\"id\":");
	fb_cbuf_json_str(&o, c->device_id);
	fb_cbuf_str(&o, ",\"type\":");
	fb_cbuf_json_str(&o, m->fiware_type ? m->fiware_type : m->name);
	fb_cbuf_str(&o, ",\"seq\":");
	fb_cbuf_u64(&o, s->seq);
	fb_format_iso_ms(s->t, ts);
	fb_cbuf_str(&o, ",\"ts\":\"");
	fb_cbuf_bytes(&o, ts, 24);
	fb_cbuf_char(&o, '"');
	for (unsigned i = 0; i < m->nfields; i++) {
		fb_cbuf_char(&o, ',');
		fb_cbuf_json_str(&o, m->fields[i].name);
		fb_cbuf_char(&o, ':');
		fb_cbuf_json_value(&o, &m->fields[i], s->values[i]);
	}
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
		int field = -1;
		for (unsigned i = 0; i < m->nfields; i++)
			if (strlen(m->fields[i].name) == klen && memcmp(m->fields[i].name, key, klen) == 0)
				field = (int)i;
		if (field < 0)
			return FB_CODEC_EFIELD;
		int idx = fb_cbuf_enum_index(&m->fields[field], json_string_value(v),
		                             json_string_length(v));
		if (idx < 0)
			return m->fields[field].kind == FB_FIELD_ENUM ? FB_CODEC_ERANGE : FB_CODEC_EINVAL;
		x = idx;
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

const struct fb_codec fb_json_codec = {
	.name = "json",
	.content_type = "application/json",
	.encode = fb_json_encode,
	.decode_command = fb_json_decode_command,
};
