/* The `binary` codec: a compact per-type encoding derived from the type's field table, for
 * LoRaWAN uplinks, with a JavaScript payload decoder generated from the same table.
 *
 * Frame (format version 1):
 *   byte 0        the format version, 0x01 (a decoder rejects any other)
 *   then, for each field in table order, big-endian:
 *     NUMBER   round(v / resolution) in the narrowest width (1..6 bytes) that holds
 *              [round(min / resolution), round(max / resolution)]: unsigned when min >= 0,
 *              else two's complement
 *     INTEGER  the same with resolution 1
 *     BOOL     1 byte, 0 or 1
 *     ENUM     1 byte, the index (at most 256 names)
 * Values outside [min, max] (never produced by a model) saturate at the bound. Ranges needing more
 * than 6 bytes (beyond JavaScript's exact integers) saturate at the 6-byte bound.
 * The decoder gives back v at the field's resolution: NUMBER raw × resolution printed with the
 * resolution's decimals, as the trace prints it.
 *
 * Downlink commands: repeated [field index u8][the value in that field's encoding]. */
#ifndef FB_BINARY_H
#define FB_BINARY_H
#include "protocols/codec.h"

#define FB_BINARY_VERSION 1

extern const struct fb_codec fb_binary_codec;

/* Width in bytes of field f's value, and whether it is signed. */
unsigned fb_binary_width(const struct fb_field *f, bool *is_signed);
/* Encoded frame size for model m (the same for every sample). */
size_t fb_binary_size(const struct fb_model *m);
/* Length or FB_CODEC_ENOSPC. */
ssize_t fb_binary_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                         uint8_t *buf, size_t cap);
/* Frame back into values[nfields]; 0 or FB_CODEC_EINVAL (wrong size or version). */
int fb_binary_decode(const struct fb_model *m, const uint8_t *buf, size_t len, double *values);
/* decode_sample (protocols/codec.h): every field present, tolerance half its step (NUMBER: half
 * the resolution; INTEGER, BOOL, ENUM: 0.5). No device id, seq or ts. Returns 0 or
 * FB_CODEC_EINVAL (wrong size or version, a BOOL above 1, an ENUM index past its names). */
int fb_binary_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                            const uint8_t *buf, size_t len, struct fb_decoded *out);
/* Downlink commands (see above): count, or FB_CODEC_EINVAL / EFIELD / ERANGE / ENOSPC. */
int fb_binary_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                             const uint8_t *buf, size_t len, struct fb_command *out, size_t max);

/* Writes the ECMAScript 5.1 payload decoder for model m (The Things Stack / ChirpStack v4
 * `decodeUplink({bytes, fPort})` returning {data: {<field>: value}} or {errors: [...]}, and
 * ChirpStack v3 `Decode(fPort, bytes)`), NUL-terminated. Returns the length without the NUL, or
 * FB_CODEC_ENOSPC. protocols/lorawan/decoders/<type>.js are this output for the built-in types. */
ssize_t fb_binary_js_decoder(const struct fb_model *m, char *buf, size_t cap);

#endif
