/* The codecs compiled in (protocols/codec.h). */
#include <string.h>
#include "protocols/codec.h"
#include "protocols/codecs/binary.h"
#include "protocols/codecs/fiware_json.h"
#include "protocols/codecs/json.h"
#include "protocols/codecs/lpp.h"
#include "protocols/codecs/senml.h"
#include "protocols/codecs/sparkplug.h"
#include "protocols/codecs/ul.h"

const struct fb_codec *const fb_codecs[] = {
	&fb_json_codec,
	&fb_senml_codec,
	&fb_ul_codec,
	&fb_fiware_json_codec,
	&fb_sparkplug_codec,
	&fb_lpp_codec,
	&fb_binary_codec,
	NULL
};

const struct fb_codec *fb_codec_find(const char *name)
{
	for (size_t i = 0; name && fb_codecs[i]; i++)
		if (strcmp(fb_codecs[i]->name, name) == 0)
			return fb_codecs[i];
	return NULL;
}

const char *fb_codec_strerror(int err)
{
	switch (err) {
	case FB_CODEC_OK: return "success";
	case FB_CODEC_ENOSPC: return "buffer too small";
	case FB_CODEC_EINVAL: return "malformed payload";
	case FB_CODEC_EFIELD: return "unknown or read-only field";
	case FB_CODEC_ERANGE: return "value out of the field's range";
	default: return err >= 0 ? "success" : "unknown codec error";
	}
}
