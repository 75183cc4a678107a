/* The `senml` codec: RFC 8428 SenML JSON (application/senml+json), one pack per sample.
 *
 *   [{"bn":"noise-000042:","bt":1780294500.000,"n":"LAeq","u":"dB","v":62.3},
 *    {"n":"LAmax","u":"dB","v":78.1},{"n":"alarm","vb":false},{"n":"state","vs":"ok"}]
 *
 * - Base name "<device>:" (RFC 8428 §4.5.1: resolved names "noise-000042:LAeq" use only the
 *   allowed characters). Not a urn:dev URN: RFC 9039's subtypes need a MAC, a 1-Wire id or an
 *   IANA enterprise number, none of which a simulated device has.
 * - Base time in the first record: the scheduled time in seconds with milliseconds (absolute:
 *   above 2^28, so never "relative to now", §4.5.3). The sample's identity is (bn, bt); there is
 *   no seq record, so a platform does not store a bogus "seq" measurement.
 * - One record per field in table order: NUMBER/INTEGER in "v" (at the field's resolution, as the
 *   trace prints it), BOOL in "vb", ENUM in "vs" (the name).
 * - "u": the field's unit translated to the SenML registry (§12.1) when it has a registered
 *   equivalent ("°C" -> "Cel", "dB(A)" -> "dB", "lux" -> "lx"; "%", "m", "W", "V", ... as is);
 *   omitted otherwise (no unregistered unit is ever sent, and values are never rescaled).
 *
 * Commands: a SenML pack of writable fields, [{"n":"dimmingLevel","v":50}], names resolved with
 * "bn" and optionally prefixed by "<device>:"; "v", "vb" or "vs" (enum name). */
#ifndef FB_SENML_H
#define FB_SENML_H
#include "protocols/codec.h"

extern const struct fb_codec fb_senml_codec;

/* Length written (no NUL) or FB_CODEC_ENOSPC. */
ssize_t fb_senml_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                        uint8_t *buf, size_t cap);
/* Commands written to out, or FB_CODEC_EINVAL / EFIELD / ERANGE / ENOSPC (see json.h). */
int fb_senml_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                            const uint8_t *buf, size_t len, struct fb_command *out, size_t max);
/* The inverse of fb_senml_encode: the device from the resolved names ("<device>:<field>"), ts
 * = bt + t (one instant per pack), each record's value by its field. Pure, no allocation.
 * Returns 0, FB_CODEC_EINVAL (not a SenML pack, two values in a record, a value key that is not
 * the field kind's (v / vb / vs), a unit that is not the field's, two devices or instants in one
 * pack, a duplicate field), FB_CODEC_EFIELD (an unknown record key or field name),
 * FB_CODEC_ERANGE (an unknown enum name). */
int fb_senml_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                           const uint8_t *buf, size_t len, struct fb_decoded *out);
/* The SenML registry name for a field unit, or NULL when none is registered. */
const char *fb_senml_unit(const char *unit);

#endif
