/* The `fiware-json` codec: the FIWARE IoT Agent JSON measure payload (iotagent-json user
 * manual), a flat object of attributes:
 *
 *   {"TimeInstant":"2026-06-01T06:15:00.000Z","LAeq":62.3,"LAmax":78.1,"state":"ok"}
 *
 * TimeInstant (the scheduled time; the agent uses it as the measure's timestamp) identifies the
 * sample with the device; values as in the `json` codec. Topic /json/<apikey>/<device>/attrs.
 * Commands arrive on /<apikey>/<device>/cmd as {"<field>":<value>} (parsed as in json.h); the
 * result goes to /json/<apikey>/<device>/cmdexe as {"<command>":"<result>"} (fb_fiware_json_cmdexe). */
#ifndef FB_FIWARE_JSON_H
#define FB_FIWARE_JSON_H
#include "protocols/codec.h"

extern const struct fb_codec fb_fiware_json_codec;

ssize_t fb_fiware_json_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                              uint8_t *buf, size_t cap);
/* {"<command>":"<result>"}; length (no NUL) or FB_CODEC_ENOSPC. */
ssize_t fb_fiware_json_cmdexe(const char *command, const char *result, uint8_t *buf, size_t cap);

/* The inverse of fb_fiware_json_encode: "TimeInstant" into out->ts, the fields by name (the
 * device is in the topic, not the payload). Returns as fb_json_decode_sample. */
int fb_fiware_json_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                                 const uint8_t *buf, size_t len, struct fb_decoded *out);

#endif
