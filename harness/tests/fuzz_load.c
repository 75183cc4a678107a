/* libFuzzer harness: a scenario file through everything that reads it before a run opens a
 * socket: fb_cli_load() (the loader with the transports and codecs compiled in, the faults:
 * and expect: blocks) and, for a small fleet, the engine and each transport's create() (its
 * transports.<name> section: URLs, topic templates, layouts, gateways, register maps), then
 * free. Hosts that are not numeric addresses are left alone (no DNS from a fuzzer). Checked: no
 * crash, leak or undefined behaviour; an accepted scenario has consistent fleets. Seeds:
 * fixtures/fuzz/load/ (and the scenario seeds). */
#include <arpa/inet.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <ev.h>
#include "fuzz/fuzz.h"
#include "harness/cli.h"
#include "protocols/transport.h"
#include "sim/engine.h"
#include "sim/log.h"
#include "sim/scenario.h"

/* True when transports.<name>.<key> is absent, or names a numeric host. */
static bool numeric_host(const struct fb_scenario *sc, const char *name, const char *key)
{
	const struct fb_ynode *t = sc->transports ? fb_ynode_get(sc->transports, name) : NULL;
	const struct fb_ynode *v = t && t->kind == FB_Y_MAP ? fb_ynode_get(t, key) : NULL;
	if (!v)
		return true;
	if (v->kind != FB_Y_SCALAR || !v->text)
		return true;       /* the transport refuses it itself */
	const char *h = strstr(v->text, "://");
	h = h ? h + 3 : v->text;
	char host[64];
	size_t n = 0;
	if (*h == '[') {
		h++;
		while (h[n] && h[n] != ']' && n < sizeof host - 1)
			n++;
	} else {
		while (h[n] && h[n] != ':' && h[n] != '/' && n < sizeof host - 1)
			n++;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	unsigned char buf[16];
	return n == 0 || inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static struct ev_loop *loop;
	if (fd < 0) {
		fb_log_level = FB_LOG_ERROR;
		fd = memfd_create("fuzz-load.yaml", 0);
		FB_FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		loop = ev_loop_new(EVFLAG_AUTO);
		FB_FUZZ_CHECK(loop);
	}
	FB_FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FB_FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	struct fb_scenario *sc = fb_cli_load(path);
	if (!sc)
		return 0;
	uint64_t total = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		FB_FUZZ_CHECK(sc->fleets[i].first == total);
		total += sc->fleets[i].count;
	}
	FB_FUZZ_CHECK(total == sc->ndevices);
	if (sc->ndevices > 0 && sc->ndevices <= 2000 && sc->duration > 0 &&
	    numeric_host(sc, "mqtt", "url") && numeric_host(sc, "lorawan", "server")) {
		fb_time_us start = sc->start_now ? 1780294500LL * 1000000 : sc->start;
		struct fb_engine *e = fb_engine_new(sc, 0, 1, start, sc->duration);
		for (size_t k = 0; e && fb_transports[k]; k++) {
			const struct fb_transport_ops *ops = fb_transports[k];
			bool used = false;
			for (size_t i = 0; i < sc->nfleets; i++)
				used |= sc->fleets[i].transport && !strcmp(sc->fleets[i].transport, ops->name);
			if (!used)
				continue;
			struct fb_transport_env env = { .loop = loop, .engine = e, .scenario = sc,
			                                .shard_index = 0, .shard_count = 1 };
			const struct fb_ynode *cfg = sc->transports ? fb_ynode_get(sc->transports, ops->name) : NULL;
			struct fb_transport *t = ops->create(&env, cfg);
			if (t)
				ops->free(t);
		}
		fb_engine_free(e);
	}
	fb_scenario_free(sc);
	return 0;
}
