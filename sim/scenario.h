/* Scenario files (YAML): sites, fleets, user-defined types. The loader validates everything it
 * owns and keeps the tree, so the protocol and harness layers read their own sections
 * (transports:, expect:, faults:) with the same located errors. */
#ifndef FB_SCENARIO_H
#define FB_SCENARIO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"
#include "sim/model.h"
#include "sim/ynode.h"

struct fb_fleet {
	uint32_t index;                 /* position in the scenario's fleet list */
	const struct fb_model *model;
	const struct fb_site *site;
	uint32_t count;
	uint32_t first;                 /* global index of the fleet's first device */
	fb_time_us interval_us;         /* nominal reporting interval (model default if not given) */
	fb_time_us interval_max_us;     /* > interval_us: each device draws its own interval in
	                                   [interval_us, interval_max_us] in whole seconds */
	void *params;                   /* the model's parameter block */
	const char *transport;          /* name from `transport:`, or NULL (trace only) */
	const char *codec;              /* name from `codec:`, or NULL */
	const struct fb_ynode *node;    /* the fleet's map in the file */
	const struct fb_ynode *params_node;  /* its `params:` map, or NULL */
	bool site_bound;                /* set by the harness: its transport keeps state per site
	                                   (LoRaWAN gateways, a Sparkplug edge node per site), so
	                                   by-site shards keep it with its site's other bound fleets */
};

/* How `--shard i/N` cuts the devices (fb_scenario_segment). */
enum fb_shard_by {
	FB_SHARD_BY_DEVICE,             /* k6-style segments over the devices (fb_shard_segment) */
	FB_SHARD_BY_SITE                /* the same cut points, each moved to the nearest place that
	                                   splits no site's site_bound fleets */
};

struct fb_scenario {
	char *path;
	const char *name;
	uint64_t seed;
	fb_time_us start;               /* valid unless start_now */
	bool start_now;
	fb_time_us duration;
	const char *timezone;
	struct fb_site *sites;
	size_t nsites;
	struct fb_fleet *fleets;
	size_t nfleets;
	struct fb_model **types;        /* user-defined types */
	size_t ntypes;
	const char *output_file;        /* output: {file: ...}, or NULL */
	uint64_t ndevices;              /* all fleets */
	struct fb_ynode *root;
	const struct fb_ynode *transports, *expect, *faults;   /* NULL when absent */
	/* Set by the harness before any segment is asked for: FB_SHARD_BY_SITE when a transport
	 * keeps state per site that must not be split (LoRaWAN gateways and their radio, Sparkplug
	 * edge nodes), or as --shard-by says. The loader sets FB_SHARD_BY_DEVICE. */
	enum fb_shard_by shard_by;
};

/* What the upper layers tell the loader they accept; any field may be NULL (then anything goes
 * for transports and codecs, and no extra params are accepted). */
struct fb_load_opts {
	const char *const *transports;    /* names accepted in a fleet's `transport:` */
	const char *const *codecs;        /* names accepted in a fleet's `codec:` */
	const char *const *extra_params;  /* `params:` keys that a codec or transport reads */
	const char *const *extra_keys;    /* extra top-level keys an upper layer reads */
};

/* Loads and validates. On any error prints "file:line:col: error: ..." (or "fleetbench: error:"
 * for an unreadable file) and returns NULL. */
struct fb_scenario *fb_scenario_load(const char *path, const struct fb_load_opts *opts);
void fb_scenario_free(struct fb_scenario *sc);

const struct fb_fleet *fb_scenario_fleet_of(const struct fb_scenario *sc, uint32_t device);

/* "noise-000042": type name, '-', global index on at least 6 digits. Returns the length. */
size_t fb_device_id(const struct fb_model *m, uint32_t device, char *buf, size_t cap);

/* k6-style segment i of n over `total` items: [round(total*i/n), round(total*(i+1)/n)). The
 * segments are contiguous and their sizes sum to total. */
void fb_shard_segment(uint64_t total, uint32_t i, uint32_t n, uint64_t *from, uint64_t *to);
/* This shard's devices [from, to) of the scenario, as sc->shard_by says. By site: a site's
 * site_bound fleets span the devices from the first of them to the end of the last (with
 * whatever fleets the file lists between them); overlapping spans form blocks, and a cut point
 * inside a block moves to the block's nearer edge (the upper on a tie, so the earlier shard
 * takes it). Each site's bound devices are then in one shard, whatever the fleets' order; the
 * segments stay contiguous and exact, and may be uneven or empty. */
void fb_scenario_segment(const struct fb_scenario *sc, uint32_t i, uint32_t n, uint64_t *from,
                         uint64_t *to);
/* "i/N" with 0 <= i < N; returns 0 or -1. */
int fb_parse_shard(const char *text, uint32_t *i, uint32_t *n);

/* User-defined types (sim/gen.c): builds a model from a `types:` entry. base_dir resolves
 * relative paths (csv files). NULL after a located error. */
struct fb_model *fb_usertype_new(const struct fb_ynode *type_node, const char *base_dir);
void fb_usertype_free(struct fb_model *m);

#endif
