/* The `json` codec: one flat JSON object per sample, Smart Data Models attribute names.
 *
 *   {"id":"noise-000042","type":"NoiseLevelObserved","seq":25,"ts":"2026-06-01T06:15:00.000Z",
 *    "LAeq":62.3,"LAmax":78.1,"alarm":false,"state":"ok"}
 *
 * - id: the device id (ctx->device_id), as in the trace.
 * - type: model->fiware_type (the Smart Data Models entity type) when set, else model->name. No
 *   separate sensorType key: the fleet type is the device id's prefix ("noise-000042"), and one
 *   key fewer keeps the 100-byte benchmark payloads small.
 * - seq: the device's sample count (loss, duplicates); ts: the scheduled virtual time in RFC 3339
 *   UTC with milliseconds, exactly as the trace prints it (latency without coordinated omission).
 * - fields in the model's table order: NUMBER at the field's resolution ("62.3"), INTEGER whole,
 *   BOOL true/false, ENUM the name as a string. Same text as the trace.
 *
 * Commands: a JSON object of writable fields, {"dimmingLevel":50} or {"mode":"auto","on":true}:
 * numbers, true/false (1/0), or an enum name. */
#ifndef FB_JSON_H
#define FB_JSON_H
#include <stdbool.h>
#include "protocols/codec.h"

extern const struct fb_codec fb_json_codec;

/* Returns the length written to buf (no NUL), or FB_CODEC_ENOSPC (never writes past cap). */
ssize_t fb_json_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                       uint8_t *buf, size_t cap);

/* Parses a JSON object of field writes (jansson). Returns the number of commands written to out,
 * FB_CODEC_EINVAL (not JSON, not an object, a value that is not a number, boolean or string),
 * FB_CODEC_EFIELD (unknown or read-only field, unknown enum name), FB_CODEC_ERANGE (out of the
 * field's range), FB_CODEC_ENOSPC (more than max writes). */
int fb_json_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                           const uint8_t *buf, size_t len, struct fb_command *out, size_t max);

/* The inverse of fb_json_encode: "id" into out->device, "seq", "ts" (RFC 3339), "type" (must be
 * the model's Smart Data Models type or name), every field by name. Pure, no allocation.
 * Returns 0, FB_CODEC_EINVAL (not one JSON object, a nested or duplicate key, a value of the
 * wrong JSON type, a bad seq or ts), FB_CODEC_EFIELD (a key that is no field of the model, or
 * another type's payload), FB_CODEC_ERANGE (an enum name the field does not have). Fields
 * missing from the payload are simply not present. */
int fb_json_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                          const uint8_t *buf, size_t len, struct fb_decoded *out);
/* The flat-object decoder json and fiware-json share: with fiware, the only other key is
 * "TimeInstant" (the ts); without, "id", "type", "seq" and "ts". Same returns. */
int fb_json_decode_flat(const struct fb_model *m, const uint8_t *buf, size_t len, bool fiware,
                        struct fb_decoded *out);

#endif
