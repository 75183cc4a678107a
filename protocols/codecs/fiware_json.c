/* The `fiware-json` codec (see fiware_json.h). */
#include "protocols/codecs/fiware_json.h"
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/json.h"

ssize_t fb_fiware_json_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                              uint8_t *buf, size_t cap)
{
	struct fb_cbuf o;

	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_str(&o, "{\"TimeInstant\":\"");
	fb_cbuf_iso_ms(&o, s->t);
	fb_cbuf_char(&o, '"');
	fb_cbuf_json_members(&o, s->model, s->values);
	fb_cbuf_char(&o, '}');
	return fb_cbuf_finish(&o);
}

ssize_t fb_fiware_json_cmdexe(const char *command, const char *result, uint8_t *buf, size_t cap)
{
	struct fb_cbuf o;
	fb_cbuf_init(&o, buf, cap);
	fb_cbuf_char(&o, '{');
	fb_cbuf_json_str(&o, command);
	fb_cbuf_char(&o, ':');
	fb_cbuf_json_str(&o, result);
	fb_cbuf_char(&o, '}');
	return fb_cbuf_finish(&o);
}

int fb_fiware_json_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                                 const uint8_t *buf, size_t len, struct fb_decoded *out)
{
	(void)c;
	return fb_json_decode_flat(m, buf, len, true, out);
}

const struct fb_codec fb_fiware_json_codec = {
	.name = "fiware-json",
	.content_type = "application/json",
	.encode = fb_fiware_json_encode,
	.decode_command = fb_json_decode_command,
	.decode_sample = fb_fiware_json_decode_sample,
};
