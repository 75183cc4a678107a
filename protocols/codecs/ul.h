/* The `ul` codec: FIWARE IoT Agent UltraLight 2.0 measures (iotagent-ul user manual).
 *
 *   2026-06-01T06:15:00.000Z|LAeq|62.3|LAmax|78.1|alarm|false|state|ok
 *
 * - A leading ISO 8601 timestamp: the agent stores it as the entity's TimeInstant, and it is the
 *   sample's scheduled time, so (device, timestamp) identifies the sample for the bench. No seq
 *   pair: it would become a bogus "seq" attribute in the context broker.
 * - Then `name|value` pairs in the model's table order: values as the trace prints them (NUMBER at
 *   the field's resolution, INTEGER whole, BOOL true/false, ENUM the name).
 * Topic: /ul/<apikey>/<device>/attrs (fiware.h builds it).
 *
 * Commands (on /<apikey>/<device>/cmd): `<device>@<field>|<value>`, value a number, true/false or
 * an enum name: "streetlight-000003@dimmingLevel|50". The result goes to
 * /ul/<apikey>/<device>/cmdexe as `<device>@<command>|<result>` (fb_ul_cmdexe). */
#ifndef FB_UL_H
#define FB_UL_H
#include "protocols/codec.h"

extern const struct fb_codec fb_ul_codec;

/* Length written (no NUL) or FB_CODEC_ENOSPC. */
ssize_t fb_ul_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                     uint8_t *buf, size_t cap);
/* One command: returns 1 (out[0] filled), FB_CODEC_EINVAL (not `<device>@<cmd>|<value>`, another
 * device, a value that is not a number, true/false or enum name), FB_CODEC_EFIELD,
 * FB_CODEC_ERANGE, FB_CODEC_ENOSPC (max == 0). */
int fb_ul_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                         const uint8_t *buf, size_t len, struct fb_command *out, size_t max);
/* The inverse of fb_ul_encode: an optional leading timestamp into out->ts, then `name|value`
 * pairs by field (the device is in the topic). Pure, no allocation. Returns 0, FB_CODEC_EINVAL
 * (empty, several measure groups ('#'), an odd token that is not a timestamp, an empty key or
 * value, a value that does not fit the field's kind, a duplicate), FB_CODEC_EFIELD (a name that
 * is no field), FB_CODEC_ERANGE (an unknown enum name). */
int fb_ul_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                        const uint8_t *buf, size_t len, struct fb_decoded *out);
/* The cmdexe payload `<device>@<command>|<result>`. Length (no NUL) or FB_CODEC_ENOSPC. */
ssize_t fb_ul_cmdexe(const char *device, const char *command, const char *result,
                     uint8_t *buf, size_t cap);

#endif
