/* libFuzzer harness: scenario files. The bytes are a YAML file handed to fb_scenario_load()
 * through a memfd; a scenario that loads (and is small) then runs its first events, since the
 * loader's job is to refuse what the models cannot run: every sample must be finite and within
 * its field's range (sim/model.h). Seeds: fixtures/fuzz/scenario/. */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz/fuzz.h"
#include "sim/engine.h"
#include "sim/log.h"
#include "sim/scenario.h"

static void check_sample(void *arg, const struct fb_sample *s)
{
	size_t *count = arg;
	(*count)++;
	FB_FUZZ_CHECK(s->model && s->fleet);
	for (unsigned i = 0; i < s->model->nfields; i++) {
		const struct fb_field *f = &s->model->fields[i];
		FB_FUZZ_CHECK(isfinite(s->values[i]));
		FB_FUZZ_CHECK(s->values[i] >= f->min && s->values[i] <= f->max);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fb_log_level = FB_LOG_ERROR;
		fd = memfd_create("fuzz-scenario.yaml", 0);
		FB_FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	FB_FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FB_FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	if (!sc)
		return 0;
	FB_FUZZ_CHECK(sc->name);
	FB_FUZZ_CHECK(sc->nfleets == 0 || sc->fleets);
	uint64_t total = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		FB_FUZZ_CHECK(sc->fleets[i].model && sc->fleets[i].site);
		FB_FUZZ_CHECK(sc->fleets[i].first == total);
		total += sc->fleets[i].count;
	}
	FB_FUZZ_CHECK(total == sc->ndevices);
	if (sc->ndevices > 0 && sc->ndevices <= 2000 && sc->duration > 0) {
		fb_time_us start = sc->start_now ? 1780294500LL * 1000000 : sc->start;
		struct fb_engine *e = fb_engine_new(sc, 0, 1, start, sc->duration);
		if (e) {
			size_t count = 0;
			fb_engine_set_sink(e, check_sample, &count);
			fb_engine_run(e, FB_TIME_NEVER, 500);
			FB_FUZZ_CHECK(fb_engine_validate(e) == 0);
			fb_engine_free(e);
		}
	}
	fb_scenario_free(sc);
	return 0;
}
