/* libFuzzer harness: every payload decoder the bench uses, on bytes from the network. The first
 * byte picks the decoder (each codec's decode_command and, where present, decode_sample; the
 * Sparkplug NCMD and DCMD decoders), the second the model (each built-in type and a test model
 * with every field kind), the third the room for commands; the rest is the payload. Checked:
 * a command decoder writes at most `max` commands, each naming a writable field of the model
 * with a finite value in its range (what fb_codec.decode_command promises, so the transports
 * can hand it to the engine as is); a sample decoder fills only fields of the model, with finite
 * values, and returns a fb_codec_err otherwise. The commands decoded for a built-in type are then
 * applied to a device of that type in a running engine (as the transports do): the engine must
 * take each one (the codec promised a writable field in range) and the device's next samples
 * stay finite and within their fields' ranges. Seeds: fixtures/fuzz/codecs/. */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz/fuzz.h"
#include "protocols/codec.h"
#include "protocols/codecs/sparkplug.h"
#include "protocols/codecs/tests/fixture.h"
#include "sim/engine.h"
#include "sim/log.h"
#include "sim/scenario.h"

/* The model picked by k, and its device in the engine (-1: the test model, not in it). */
static const struct fb_model *model_of(uint8_t k, int *device)
{
	size_t n = 0;
	while (fb_builtin_models[n])
		n++;
	k = (uint8_t)(k % (n + 1));
	*device = k == n ? -1 : (int)k;
	return k == n ? &fx_model : fb_builtin_models[k];
}

/* One device of each built-in type (device i is fb_builtin_models[i]), running for years. */
static struct fb_scenario *sc;
static struct fb_engine *engine;

static void check_engine_sample(void *arg, const struct fb_sample *s)
{
	for (unsigned i = 0; i < s->model->nfields; i++) {
		const struct fb_field *f = &s->model->fields[i];
		FB_FUZZ_CHECK(isfinite(s->values[i]));
		FB_FUZZ_CHECK(s->values[i] >= f->min && s->values[i] <= f->max);
	}
}

static void setup_engine(void)
{
	char yaml[4096];
	size_t n = (size_t)snprintf(yaml, sizeof yaml,
	    "name: fuzz-commands\nseed: 5\nstart: 2026-06-01T00:00:00Z\nduration: 3650d\n"
	    "sites:\n  - {id: s, lat: 43.3, lon: 5.4, radius: 100m}\nfleets:\n");
	for (size_t i = 0; fb_builtin_models[i]; i++)
		n += (size_t)snprintf(yaml + n, sizeof yaml - n, "  - {type: %s, count: 1, site: s, interval: 10m}\n",
		                      fb_builtin_models[i]->name);
	FB_FUZZ_CHECK(n < sizeof yaml);
	int fd = memfd_create("fuzz-commands.yaml", 0);
	FB_FUZZ_CHECK(fd >= 0 && write(fd, yaml, n) == (ssize_t)n);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	sc = fb_scenario_load(path, NULL);
	FB_FUZZ_CHECK(sc);
	engine = fb_engine_new(sc, 0, 1, sc->start, sc->duration);
	FB_FUZZ_CHECK(engine);
	fb_engine_set_sink(engine, check_engine_sample, NULL);
	close(fd);
}

/* Commands for device `device` as a transport applies them, then its next samples. */
static void apply(uint32_t device, const struct fb_command *cmds, int n)
{
	if (!engine)
		setup_engine();
	for (int i = 0; i < n; i++)
		FB_FUZZ_CHECK(fb_engine_command(engine, device, cmds[i].field, cmds[i].value) == 0);
	if (n > 0)
		fb_engine_run(engine, FB_TIME_NEVER, 16);
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
	int device;
	const struct fb_model *m = model_of(data[1], &device);
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
			if (device >= 0)
				apply((uint32_t)device, cmds, k);
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
		if (device >= 0)
			apply((uint32_t)device, cmds, k);
	}
	free(copy);
	return 0;
}
