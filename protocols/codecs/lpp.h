/* The `lpp` codec: Cayenne LPP, with only the core IPSO types (the ones The Things Stack's and
 * ChirpStack's built-in Cayenne decoders know): frame = repeated [channel][type][value, big-endian].
 *
 * Channel map: channel N (1-based) carries field N-1 of the type's field table, so the network
 * server shows field i as "<key>_<i+1>" (e.g. analog_in_1). The LPP type per field, first match:
 *   BOOL                                   digital_in  (0)   1 byte, 0/1       digital_in_N
 *   ENUM                                   digital_in  (0)   1 byte, index     digital_in_N
 *   unit °C/Cel, range within ±3276.7      temperature (103) int16, 0.1 °C     temperature_N
 *   unit %RH, range within 0..127.5        humidity    (104) uint8, 0.5 %      relative_humidity_N
 *   unit hPa, range within 0..6553.5       barometer   (115) uint16, 0.1 hPa   barometric_pressure_N
 *   unit lx/lux, range within 0..65535     illuminance (101) uint16, 1 lx      luminosity_N
 *   INTEGER within 0..255                  digital_in  (0)   1 byte            digital_in_N
 *   INTEGER within 0..65535                illuminance (101) uint16 (the only core unsigned
 *                                                            16-bit integer type) luminosity_N
 *   anything else                          analog_in   (2)   int16, 0.01       analog_in_N
 * Values are rounded to the type's resolution. Out of the type's range (a field whose physical
 * range exceeds what any core type holds, e.g. a counter above 65535 or a level above 327.67):
 * the value SATURATES at the type's bound (never wraps), so a railed reading is visible; use the
 * `binary` codec for such types. Models with more than 255 fields cannot be encoded.
 *
 * Downlink commands, as The Things Stack's Cayenne encoder writes them (value_N): repeated
 * [channel][int16 big-endian value × 100]; channel N sets field N-1. */
#ifndef FB_LPP_H
#define FB_LPP_H
#include "protocols/codec.h"

enum fb_lpp_type {
	FB_LPP_DIGITAL_IN = 0, FB_LPP_ANALOG_IN = 2, FB_LPP_ILLUMINANCE = 101,
	FB_LPP_TEMPERATURE = 103, FB_LPP_HUMIDITY = 104, FB_LPP_BAROMETER = 115
};

extern const struct fb_codec fb_lpp_codec;

/* The LPP type a field is sent as (see the table above), and The Things Stack's key for it. */
enum fb_lpp_type fb_lpp_type_of(const struct fb_field *f);
const char *fb_lpp_key(enum fb_lpp_type type);
/* Length or FB_CODEC_ENOSPC. */
ssize_t fb_lpp_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                      uint8_t *buf, size_t cap);
/* Parses a frame with the same types back into values[nfields] (for tests and collectors);
 * returns 0 or FB_CODEC_EINVAL (truncated, unknown type, a channel out of the table or twice, a
 * type other than the field's). */
int fb_lpp_decode(const struct fb_model *m, const uint8_t *buf, size_t len, double *values);
/* decode_sample (protocols/codec.h): a frame into out by field index, with `present` bits for
 * the channels it carries (any subset, each at most once). Tolerance: half the LPP type's
 * resolution (at least half the field's); a value at the type's bound for a field whose range
 * exceeds it was maybe saturated: tolerance HUGE_VAL. No device id, seq or ts (seq -1, ts
 * FB_TIME_NEVER). Returns 0 or FB_CODEC_EINVAL (empty, truncated, unknown type, channel out of
 * the table or twice, a type other than the field's, a BOOL above 1 or an ENUM index past its
 * names). */
int fb_lpp_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                         const uint8_t *buf, size_t len, struct fb_decoded *out);
/* Downlink commands (see above): count, or FB_CODEC_EINVAL / EFIELD / ERANGE / ENOSPC. */
int fb_lpp_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                          const uint8_t *buf, size_t len, struct fb_command *out, size_t max);

#endif
