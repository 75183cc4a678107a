/* FIWARE IoT Agent topics (see fiware.h). */
#include "protocols/codecs/fiware.h"
#include "protocols/codecs/cbuf.h"

ssize_t fb_fiware_topic(char *buf, size_t cap, enum fb_fiware_topic kind, const char *proto,
                        const char *apikey, const char *device, unsigned flags)
{
	struct fb_cbuf o;
	bool slash = !(flags & FB_FIWARE_NO_SLASH);

	fb_cbuf_init(&o, (uint8_t *)buf, cap);
	if (kind != FB_FIWARE_CMD && !(flags & FB_FIWARE_LEGACY)) {
		if (slash)
			fb_cbuf_char(&o, '/');
		fb_cbuf_str(&o, proto);
		slash = true;
	}
	if (slash)
		fb_cbuf_char(&o, '/');
	fb_cbuf_str(&o, apikey);
	fb_cbuf_char(&o, '/');
	fb_cbuf_str(&o, device);
	fb_cbuf_str(&o, kind == FB_FIWARE_ATTRS ? "/attrs" : kind == FB_FIWARE_CMD ? "/cmd" : "/cmdexe");
	fb_cbuf_char(&o, '\0');
	ssize_t n = fb_cbuf_finish(&o);
	return n < 0 ? n : n - 1;
}
