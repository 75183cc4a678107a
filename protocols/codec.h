/* Payload codecs: a sample into bytes, and a command payload back into (field, value) pairs.
 * Pure: no I/O, no allocation, caller-owned buffers. Each codec is one file in protocols/codecs/
 * with byte-exact tests. Stateful protocol rules (Sparkplug B seq/bdSeq/births, LoRaWAN FCnt) live
 * in the transports, which call the codecs' lower-level functions. */
#ifndef FB_CODEC_H
#define FB_CODEC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "sim/engine.h"

enum fb_codec_err {
	FB_CODEC_OK = 0,
	FB_CODEC_ENOSPC = -1,     /* buffer too small */
	FB_CODEC_EINVAL = -2,     /* malformed input (decode) */
	FB_CODEC_EFIELD = -3,     /* unknown or read-only field in a command */
	FB_CODEC_ERANGE = -4      /* value out of the field's range */
};
const char *fb_codec_strerror(int err);

/* What a codec may need besides the sample. */
struct fb_codec_ctx {
	const char *device_id;     /* "noise-000042" */
	const char *site_id;
	const char *apikey;        /* FIWARE UltraLight / fiware-json, or NULL */
};

struct fb_command {
	char field[48];
	double value;
};

/* A payload decoded back into a sample (what a collector received). */
#define FB_DECODED_MAX_FIELDS 32
struct fb_decoded {
	char device[64];           /* the device id the payload carries, or "" */
	int64_t seq;               /* the sample seq if carried, else -1 */
	fb_time_us ts;             /* the timestamp carried (µs), or FB_TIME_NEVER */
	uint64_t present;          /* bit i: field i of the model was in the payload */
	double values[FB_DECODED_MAX_FIELDS];   /* by model field index (ENUM: index, BOOL: 0/1) */
	double tolerance[FB_DECODED_MAX_FIELDS];/* the codec's half-step for the field (>= half the
	                                           field's resolution) */
};

struct fb_codec {
	const char *name;          /* the value of a fleet's `codec:` */
	const char *content_type;  /* "application/json", "application/senml+json", "text/plain", ... */
	ssize_t (*encode)(const struct fb_codec_ctx *c, const struct fb_sample *s,
	                  uint8_t *buf, size_t cap);
	/* Parses a command payload addressed to a device of model m; returns the number of commands
	 * written to out (at most max), or a negative fb_codec_err. May be NULL (no commands). */
	int (*decode_command)(const struct fb_codec_ctx *c, const struct fb_model *m,
	                      const uint8_t *buf, size_t len, struct fb_command *out, size_t max);
	/* Parses a payload this codec encodes, for a device of model m (collectors, validate).
	 * Unknown keys are FB_CODEC_EFIELD, wrong types or syntax FB_CODEC_EINVAL. Pure; no
	 * allocation. May be NULL until written. */
	int (*decode_sample)(const struct fb_codec_ctx *c, const struct fb_model *m,
	                     const uint8_t *buf, size_t len, struct fb_decoded *out);
};

/* The codecs compiled in, NULL-terminated (protocols/codecs/registry.c). */
extern const struct fb_codec *const fb_codecs[];
const struct fb_codec *fb_codec_find(const char *name);

#endif
