#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "harness/cli.h"
#include "harness/expect.h"
#include "sim/fault.h"
#include "protocols/transport.h"
#include "sim/log.h"

int fb_cli_seed(const char *text, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!text || !*text || *text == '-')
		return fb_error("invalid seed '%s': expected a whole number from 0 to 2^64-1", text);
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || *end)
		return fb_error("invalid seed '%s': expected a whole number from 0 to 2^64-1", text);
	*out = v;
	return 0;
}

int fb_cli_duration(const char *opt, const char *text, fb_time_us *out)
{
	if (fb_parse_duration(text, out) || *out <= 0)
		return fb_error("invalid %s '%s': expected a duration like 500ms, 30s, 15m, 6h, 7d", opt, text);
	return 0;
}

int fb_cli_start(const char *text, bool *now, fb_time_us *out)
{
	if (!strcmp(text, "now")) {
		*now = true;
		return 0;
	}
	*now = false;
	if (fb_parse_rfc3339(text, out))
		return fb_error("invalid --start '%s': expected 'now' or an RFC 3339 date-time like "
		                "2026-06-01T00:00:00+02:00", text);
	return 0;
}

int fb_cli_speed(const char *text, enum fb_speed_mode *mode, double *speed)
{
	if (!strcmp(text, "max")) {
		*mode = FB_SPEED_MAX;
		*speed = 0;
		return 0;
	}
	if (!strcmp(text, "realtime")) {
		*mode = FB_SPEED_PACED;
		*speed = 1;
		return 0;
	}
	if (text[0] == 'x' && text[1]) {
		char *end;
		errno = 0;
		double v = strtod(text + 1, &end);
		if (!errno && !*end && v > 0 && v <= 1e9) {
			*mode = FB_SPEED_PACED;
			*speed = v;
			return 0;
		}
	}
	return fb_error("invalid --speed '%s': expected max, realtime or xN (e.g. x60)", text);
}

int fb_cli_shard(const char *text, uint32_t *i, uint32_t *n)
{
	if (fb_parse_shard(text, i, n))
		return fb_error("invalid --shard '%s': expected i/N with 0 <= i < N (e.g. 0/4)", text);
	return 0;
}

int fb_cli_shard_by(const char *text, int *out)
{
	if (!strcmp(text, "site"))
		*out = FB_SHARD_BY_SITE;
	else if (!strcmp(text, "device"))
		*out = FB_SHARD_BY_DEVICE;
	else
		return fb_error("invalid --shard-by '%s': expected 'site' or 'device'", text);
	return 0;
}

void fb_cli_apply_shard_by(struct fb_scenario *sc, int by)
{
	if (by >= 0)
		sc->shard_by = (enum fb_shard_by)by;
}

const struct fb_load_opts *fb_cli_load_opts(void)
{
	static const char *transports[16], *codecs[64], *params[64];
	static struct fb_load_opts opts;
	static bool done;
	if (done)
		return &opts;
	size_t nt = 0, nc = 0, np = 0;
	for (size_t i = 0; fb_transports[i] && nt < 15; i++) {
		const struct fb_transport_ops *t = fb_transports[i];
		transports[nt++] = t->name;
		for (size_t k = 0; t->codecs && t->codecs[k] && nc < 63; k++) {
			size_t j = 0;
			while (j < nc && strcmp(codecs[j], t->codecs[k]))
				j++;
			if (j == nc)
				codecs[nc++] = t->codecs[k];
		}
		for (size_t k = 0; t->extra_params && t->extra_params[k] && np < 63; k++)
			params[np++] = t->extra_params[k];
	}
	transports[nt] = codecs[nc] = params[np] = NULL;
	opts.transports = transports;
	opts.codecs = codecs;
	opts.extra_params = params;
	done = true;
	return &opts;
}

struct fb_scenario *fb_cli_load(const char *path)
{
	struct fb_scenario *sc = fb_scenario_load(path, fb_cli_load_opts());
	if (!sc)
		return NULL;
	int bad = 0;
	/* transports: names a transport per key, and each transport in use or configured reads its
	 * block and its fleets' params here (parse only), so `check` finds what `run` would */
	bool transports_ok = true;
	if (sc->transports && fb_ynode_expect(sc->transports, FB_Y_MAP, "'transports'") == 0)
		transports_ok = fb_ynode_check_keys(sc->transports, "'transports'", fb_cli_load_opts()->transports) == 0;
	else if (sc->transports)
		transports_ok = false;
	bad |= !transports_ok;
	for (size_t i = 0; transports_ok && fb_transports[i]; i++) {
		const struct fb_transport_ops *t = fb_transports[i];
		const struct fb_ynode *config = sc->transports ? fb_ynode_get(sc->transports, t->name) : NULL;
		bool used = config != NULL;
		for (size_t k = 0; !used && k < sc->nfleets; k++)
			used = sc->fleets[k].transport && !strcmp(sc->fleets[k].transport, t->name);
		if (used && t->check)
			bad |= t->check(sc, config) != 0;
		/* fleets whose transport keeps state per site stay with their site's other such fleets
		 * in one shard (sim/scenario.h; --shard-by device overrides) */
		for (size_t k = 0; used && !bad && t->site_local && k < sc->nfleets; k++) {
			struct fb_fleet *f = &sc->fleets[k];
			if (f->transport && !strcmp(f->transport, t->name) && t->site_local(sc, config, f)) {
				f->site_bound = true;
				sc->shard_by = FB_SHARD_BY_SITE;
			}
		}
	}
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		const struct fb_ynode *node = fb_ynode_get(f->node, "codec");
		if (!f->codec)
			continue;
		if (!f->transport) {
			bad |= fb_ynode_error(node, "codec '%s' without a transport (add 'transport:')", f->codec);
			continue;
		}
		const struct fb_transport_ops *t = fb_transport_find(f->transport);
		bool ok = false;
		for (size_t k = 0; t && t->codecs && t->codecs[k]; k++)
			ok |= !strcmp(t->codecs[k], f->codec);
		if (t && !ok)
			bad |= fb_ynode_error(node, "transport '%s' does not carry codec '%s'", f->transport,
			                      f->codec);
	}
	bad |= fb_faults_check(sc) != 0;
	json_t *expect = NULL;       /* expect: is checked here too, so `check` catches it */
	bad |= fb_expect_parse(sc, &expect) != 0;
	json_decref(expect);
	if (bad) {
		fb_scenario_free(sc);
		return NULL;
	}
	return sc;
}
