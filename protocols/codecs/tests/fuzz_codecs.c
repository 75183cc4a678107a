/* libFuzzer harness: every payload decoder the bench uses, on bytes from the network. The first
 * byte picks the decoder (each codec's decode_command and, where present, decode_sample; the
 * Sparkplug NCMD and DCMD decoders), the second the model (each built-in type and a test model
 * with every field kind), the third the room for commands; the rest is the payload. Checked:
 * a command decoder writes at most `max` commands, each naming a writable field of the model
 * with a finite value in its range (what fb_codec.decode_command promises, so the transports
 * can hand it to the engine as is); a sample decoder fills only fields of the model, with finite
 * values, and returns a fb_codec_err otherwise. Seeds: fixtures/fuzz/codecs/. */
#include <math.h>
#include <string.h>
#include "fuzz/fuzz.h"
#include "protocols/codec.h"
#include "protocols/codecs/sparkplug.h"
#include "protocols/codecs/tests/fixture.h"
#include "sim/log.h"

static const struct fb_model *model_of(uint8_t k)
{
	size_t n = 0;
	while (fb_builtin_models[n])
		n++;
	k = (uint8_t)(k % (n + 1));
	return k == n ? &fx_model : fb_builtin_models[k];
}

static void check_commands(const struct fb_model *m, const struct fb_command *cmds, int n, size_t max)
{
	FB_FUZZ_CHECK(n >= FB_CODEC_ERANGE);
	FB_FUZZ_CHECK(n < 0 || (size_t)n <= max);
	FB_FUZZ_CHECK(fb_codec_strerror(n) != NULL);
	for (int i = 0; i < n; i++) {
		FB_FUZZ_CHECK(memchr(cmds[i].field, '\0', sizeof cmds[i].field) != NULL);
		int f = fb_model_field_index(m, cmds[i].field);
		FB_FUZZ_CHECK(f >= 0);
		const struct fb_field *fd = &m->fields[f];
		FB_FUZZ_CHECK(fd->writable);
		FB_FUZZ_CHECK(isfinite(cmds[i].value));
		FB_FUZZ_CHECK(cmds[i].value >= fd->min && cmds[i].value <= fd->max);
	}
}

static void check_sample(const struct fb_model *m, const struct fb_decoded *d, int rc)
{
	FB_FUZZ_CHECK(rc <= 0 && rc >= FB_CODEC_ERANGE);
	if (rc < 0)
		return;
	FB_FUZZ_CHECK(memchr(d->device, '\0', sizeof d->device) != NULL);
	if (m->nfields < 64)
		FB_FUZZ_CHECK((d->present >> m->nfields) == 0);
	for (unsigned i = 0; i < m->nfields && i < FB_DECODED_MAX_FIELDS; i++)
		if (d->present & (1ull << i))
			FB_FUZZ_CHECK(isfinite(d->values[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fb_log_level = FB_LOG_ERROR;
	if (size < 3)
		return 0;
	size_t ncodecs = 0;
	while (fb_codecs[ncodecs])
		ncodecs++;
	/* 2 per codec (command, sample), then NCMD and DCMD */
	size_t which = data[0] % (2 * ncodecs + 2);
	const struct fb_model *m = model_of(data[1]);
	size_t max = 1 + data[2] % 8;
	const uint8_t *p = data + 3;
	size_t n = size - 3;
	/* The payload in a block of exactly its size: one byte read too far is caught. */
	uint8_t *copy = malloc(n ? n : 1);
	FB_FUZZ_CHECK(copy);
	if (n)
		memcpy(copy, p, n);
	struct fb_command cmds[8];
	memset(cmds, 0, sizeof cmds);
	if (which < 2 * ncodecs) {
		const struct fb_codec *c = fb_codecs[which / 2];
		if (which % 2 == 0 && c->decode_command) {
			int k = c->decode_command(&fx_ctx, m, copy, n, cmds, max);
			check_commands(m, cmds, k, max);
		} else if (which % 2 == 1 && c->decode_sample) {
			struct fb_decoded d;
			memset(&d, 0x5A, sizeof d);
			int rc = c->decode_sample(&fx_ctx, m, copy, n, &d);
			check_sample(m, &d, rc);
		}
	} else if (which == 2 * ncodecs) {
		bool rebirth = false;
		int rc = fb_spb_decode_ncmd(copy, n, &rebirth);
		FB_FUZZ_CHECK(rc <= 0);
	} else {
		int k = fb_spb_decode_dcmd(m, 1000, copy, n, cmds, max);
		check_commands(m, cmds, k, max);
	}
	free(copy);
	return 0;
}
