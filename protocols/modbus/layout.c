/* Modbus devices' ports and unit ids, and fleets' register maps (see layout.h). */
#include "protocols/modbus/layout.h"
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/log.h"

static const char *const layouts[] = { "gateway", "per-device", NULL };
static const char *const orders[] = { "ABCD", "CDAB", "BADC", "DCBA", NULL };

void fb_mb_layout_defaults(struct fb_mb_layout *l)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->host, sizeof(l->host), "127.0.0.1");
	l->first_port = 5020;
	l->units_per_port = 247;
}

/* host:port into l; returns 0, -1 for a bad host, -2 for a bad port. */
static int split_hostport(struct fb_mb_layout *l, const char *text, long *port)
{
	const char *colon = strrchr(text, ':');
	if (!colon)
		return -1;
	size_t hl = (size_t)(colon - text);
	const char *h = text;
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(l->host))
		return -1;
	char *end;
	*port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || *port < 0 || *port > 65535)
		return -2;
	memcpy(l->host, h, hl);
	l->host[hl] = 0;
	return 0;
}

int fb_mb_layout_target(struct fb_mb_layout *l, const char *target)
{
	long port;
	if (!target || split_hostport(l, target, &port) < 0)
		return -1;
	l->first_port = (uint16_t)port;
	return 0;
}

int fb_mb_layout_read(struct fb_mb_layout *l, const struct fb_ynode *config)
{
	const struct fb_ynode *v;
	if (!config)
		return 0;
	if ((v = fb_ynode_get(config, "listen"))) {
		const char *text;
		long port;
		if (fb_ynode_string(v, "'listen'", &text) < 0)
			return -1;
		int rc = split_hostport(l, text, &port);
		if (rc == -1 && !strchr(text, ':'))
			return fb_ynode_error(v, "'listen' is host:port, e.g. '127.0.0.1:5020'");
		if (rc == -1)
			return fb_ynode_error(v, "host in 'listen' is too long");
		if (rc == -2)
			return fb_ynode_error(v, "port in 'listen' must be 0..65535, not '%s'",
			                      strrchr(text, ':') + 1);
		l->first_port = (uint16_t)port;
	}
	int choice;
	if ((v = fb_ynode_get(config, "layout"))) {
		if (fb_ynode_enum(v, "'layout'", layouts, &choice) < 0)
			return -1;
		l->per_device = choice == 1;
	}
	int64_t upp;
	if ((v = fb_ynode_get(config, "units_per_port"))) {
		if (fb_ynode_int(v, "'units_per_port'", 1, 247, &upp) < 0)
			return -1;
		l->units_per_port = (unsigned)upp;
	}
	if (l->per_device)
		l->units_per_port = 1;
	return 0;
}

int64_t fb_mb_layout_position(const struct fb_scenario *sc, uint32_t device)
{
	uint64_t k = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *fl = &sc->fleets[i];
		if (!fl->transport || strcmp(fl->transport, "modbus"))
			continue;
		if (device >= fl->first && device - fl->first < fl->count)
			return (int64_t)(k + (device - fl->first));
		k += fl->count;
	}
	return -1;
}

void fb_mb_layout_place(const struct fb_mb_layout *l, uint64_t k, size_t *port_index, uint8_t *unit)
{
	unsigned upp = l->per_device ? 1 : l->units_per_port ? l->units_per_port : 247;
	*port_index = (size_t)(k / upp);
	*unit = l->per_device ? 1 : (uint8_t)(1 + k % upp);
}

struct fb_regmap *fb_mb_fleet_regmap(const struct fb_scenario *sc, const struct fb_fleet *fl)
{
	const struct fb_ynode *cfg = fl->params_node ? fb_ynode_get(fl->params_node, "modbus") : NULL;
	enum fb_mb_order order = FB_MB_ABCD;
	const struct fb_ynode *v;
	if (cfg && fb_ynode_expect(cfg, FB_Y_MAP, "'modbus'") < 0)
		return NULL;
	if (cfg && (v = fb_ynode_get(cfg, "word_order"))) {
		int choice;
		if (fb_ynode_enum(v, "'word_order'", orders, &choice) < 0)
			return NULL;
		order = (enum fb_mb_order)choice;
	}
	if (cfg && (v = fb_ynode_get(cfg, "map"))) {
		const char *path;
		if (fb_ynode_string(v, "'map'", &path) < 0)
			return NULL;
		char full[4096];
		if (path[0] != '/' && sc && sc->path) {
			char dir[4096];
			snprintf(dir, sizeof dir, "%s", sc->path);
			snprintf(full, sizeof full, "%s/%s", dirname(dir), path);
		} else {
			snprintf(full, sizeof full, "%s", path);
		}
		return fb_regmap_load_file(full, fl->model, order);
	}
	return fb_regmap_default(fl->model, order);
}
