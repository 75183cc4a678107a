/* A hand-built model and sample shared by the codec tests (the built-in models are tested
 * elsewhere; these tables pin every field kind and unit mapping the codecs care about). */
#ifndef FB_CODECS_TEST_FIXTURE_H
#define FB_CODECS_TEST_FIXTURE_H
#include <string.h>
#include "protocols/codec.h"

static const char *const fx_modes[] = {"auto", "manual", "off", NULL};

static const struct fb_field fx_fields[] = {
	{.name = "LAeq", .unit = "dB(A)", .kind = FB_FIELD_NUMBER, .min = 30, .max = 130,
	 .resolution = 0.1},
	{.name = "temperature", .unit = "°C", .kind = FB_FIELD_NUMBER, .min = -40, .max = 85,
	 .resolution = 0.5},
	{.name = "count", .unit = "count", .kind = FB_FIELD_INTEGER, .min = 0, .max = 100000,
	 .resolution = 1},
	{.name = "on", .unit = "", .kind = FB_FIELD_BOOL, .min = 0, .max = 1, .writable = true},
	{.name = "mode", .unit = "", .kind = FB_FIELD_ENUM, .min = 0, .max = 2,
	 .enum_names = fx_modes, .writable = true},
	{.name = "dimmingLevel", .unit = "%", .kind = FB_FIELD_INTEGER, .min = 0, .max = 100,
	 .resolution = 1, .writable = true},
};

static const struct fb_model fx_model = {
	.name = "testlight",
	.fiware_type = "Streetlight",
	.fields = fx_fields,
	.nfields = 6,
};

/* 2026-06-01T06:15:00.250Z = 1780294500 s + 250 ms */
#define FX_T_US (1780294500LL * 1000000 + 250000)

static const double fx_values[] = {62.3, -3.5, 12345, 1, 1, 50};

static const struct fb_codec_ctx fx_ctx = {
	.device_id = "testlight-000042", .site_id = "euromed", .apikey = "amp-light"
};

static inline struct fb_sample fx_sample(void)
{
	struct fb_sample s = {.model = &fx_model, .device = 42, .seq = 25, .t = FX_T_US,
	                      .values = fx_values};
	return s;
}

/* The encoder under every buffer size below the needed one: each returns FB_CODEC_ENOSPC and
 * writes nothing at or past cap (checked with a canary). Returns the number of failures. */
typedef ssize_t (*fx_encode_fn)(const struct fb_codec_ctx *c, const struct fb_sample *s,
                                uint8_t *buf, size_t cap);
static inline int fx_check_enospc(fx_encode_fn enc, const struct fb_sample *s, size_t need)
{
	uint8_t buf[4096];
	int bad = 0;
	for (size_t cap = 0; cap < need; cap++) {
		memset(buf, 0xA5, sizeof buf);
		ssize_t n = enc(&fx_ctx, s, buf, cap);
		if (n != FB_CODEC_ENOSPC)
			bad++;
		for (size_t i = cap; i < sizeof buf; i++)
			if (buf[i] != 0xA5) {
				bad++;
				break;
			}
	}
	return bad;
}

#endif
