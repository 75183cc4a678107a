/* libFuzzer harness: what a Modbus master sends the simulated servers. The first byte picks the
 * register map (a default map, a built-in model's default map, the VEGAPULS-like map file of
 * fixtures/modbus/) and the framing; the rest is the byte stream, framed as the server frames it
 * (protocols/modbus/server.c): MBAP ADUs over TCP, or RTU frames by function code. Each request
 * is answered by fb_mb_pdu_reply(). Checked: a frame never extends past the bytes given; a reply
 * is 2..253 bytes and echoes the function code (with 0x80 for an exception, then a known
 * exception code); a write reaches the command callback only for a writable field with a value
 * inside the field's range. Seeds: fixtures/fuzz/mbap/. */
#include <math.h>
#include <string.h>
#include "fuzz/fuzz.h"
#include "protocols/modbus/mbap.h"
#include "protocols/modbus/pdu.h"
#include "protocols/modbus/regmap.h"
#include "protocols/modbus/tests/mbtest_model.h"
#include "sim/log.h"

struct map_case {
	const struct fb_model *model;
	struct fb_regmap *map;
	double values[FB_MAX_FIELDS];
};
static struct map_case cases[3];

static int on_write(void *arg, int field, double value)
{
	const struct fb_model *m = arg;
	FB_FUZZ_CHECK(field >= 0 && (unsigned)field < m->nfields);
	const struct fb_field *f = &m->fields[field];
	FB_FUZZ_CHECK(f->writable);
	FB_FUZZ_CHECK(isfinite(value));
	if (value < f->min || value > f->max)
		return -3;
	return 0;
}

static void setup(void)
{
	fb_log_level = FB_LOG_ERROR;
	cases[0].model = &mbtest_model;
	cases[0].map = fb_regmap_default(&mbtest_model, FB_MB_CDAB);
	cases[1].model = fb_model_find("streetlight");
	cases[1].map = cases[1].model ? fb_regmap_default(cases[1].model, FB_MB_ABCD) : NULL;
	cases[2].model = fb_model_find("water-level");
	cases[2].map = cases[2].model ? fb_regmap_load_file("fixtures/modbus/vegapuls-like.yaml",
	                                                    cases[2].model, FB_MB_ABCD) : NULL;
	for (int i = 0; i < 3; i++) {
		FB_FUZZ_CHECK(cases[i].model && cases[i].map);
		for (unsigned f = 0; f < cases[i].model->nfields; f++)
			/* one value missing (NaN: the type's invalid marker), the others mid-range */
			cases[i].values[f] = f == 1 ? NAN : fb_field_quantize(&cases[i].model->fields[f],
			    (cases[i].model->fields[f].min + cases[i].model->fields[f].max) / 2);
	}
}

static void reply(const struct map_case *mc, const uint8_t *req, size_t len)
{
	struct fb_mb_target t = {
		.map = mc->map,
		.view = { .values = mc->values, .device_id = "fuzz-000042", .device = 42 },
		.write = on_write,
		.write_arg = (void *)mc->model,
	};
	/* The request in its own block, so reading one byte too far is caught. */
	if (len == 0)
		return;     /* the server never frames an empty PDU (MBAP length >= 2, RTU >= 4) */
	uint8_t *copy = malloc(len);
	FB_FUZZ_CHECK(copy);
	memcpy(copy, req, len);
	uint8_t resp[FB_MB_PDU_MAX + 16];
	memset(resp, 0xEE, sizeof resp);
	size_t n = fb_mb_pdu_reply(&t, copy, len, resp);
	FB_FUZZ_CHECK(n >= 2 && n <= FB_MB_PDU_MAX);
	for (size_t i = FB_MB_PDU_MAX; i < sizeof resp; i++)
		FB_FUZZ_CHECK(resp[i] == 0xEE);
	if (len >= 1) {
		FB_FUZZ_CHECK((resp[0] & 0x7F) == (copy[0] & 0x7F));
		if (resp[0] & 0x80) {
			FB_FUZZ_CHECK(n == 2);
			FB_FUZZ_CHECK(resp[1] >= 1 && resp[1] <= 0x0B);
		}
	}
	free(copy);
}

static void tcp_stream(const struct map_case *mc, const uint8_t *p, size_t n)
{
	size_t pos = 0;
	while (pos < n) {
		struct fb_mbap h;
		int k = fb_mbap_frame(p + pos, n - pos, &h);
		if (k == FB_MBAP_NEED_MORE)
			break;
		if (k < 0) {
			FB_FUZZ_CHECK(k == FB_MBAP_BAD_PROTOCOL || k == FB_MBAP_BAD_LENGTH);
			break;
		}
		FB_FUZZ_CHECK((size_t)k <= n - pos && k > FB_MBAP_HEADER && k <= FB_MBAP_MAX_ADU);
		FB_FUZZ_CHECK(h.protocol == 0 && (size_t)h.length + 6 == (size_t)k);
		reply(mc, p + pos + FB_MBAP_HEADER, (size_t)k - FB_MBAP_HEADER);
		pos += (size_t)k;
	}
}

static void rtu_stream(const struct map_case *mc, const uint8_t *p, size_t n)
{
	size_t pos = 0;
	while (pos < n) {
		int k = fb_rtu_request_length(p + pos, n - pos);
		FB_FUZZ_CHECK(k >= -1);
		if (k <= 0 || (size_t)k > n - pos)
			break;
		if (k < 4 || k > FB_RTU_MAX_ADU)
			break;
		(void)fb_rtu_crc16(p + pos, (size_t)k - 2);
		reply(mc, p + pos + 1, (size_t)k - 3);
		pos += (size_t)k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 1)
		return 0;
	const struct map_case *mc = &cases[data[0] % 3];
	switch ((data[0] / 3) % 3) {
	case 0: tcp_stream(mc, data + 1, size - 1); break;
	case 1: rtu_stream(mc, data + 1, size - 1); break;
	case 2: if (size - 1 <= FB_MB_PDU_MAX) reply(mc, data + 1, size - 1); break;
	}
	return 0;
}
