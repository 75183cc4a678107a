/* The scenario loader: a valid scenario read in full (sites, fleets, global indexes, params
 * with defaults, intervals, user types, upper-layer sections), every error a user can make
 * with its exact message and place, device ids, fleet lookup and shard segments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "sim/gen.h"
#include "sim/scenario.h"
#include "sim/tests/capture.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	strcpy(dir, "/tmp/fb_scenario_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/x.yaml", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

static void write_file(const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct fb_scenario *load_text(const char *text, const struct fb_load_opts *opts)
{
	write_file(text);
	return fb_scenario_load(path, opts);
}

/* Loads text that must be refused; returns stderr with the temporary folder taken out of the
 * file names, so messages read "x.yaml:3:5: error: ...". */
static const char *load_fail(const char *text, const struct fb_load_opts *opts)
{
	static struct capture c;
	static char out[16384];
	char prefix[80];
	write_file(text);
	capture_begin(&c);
	struct fb_scenario *sc = fb_scenario_load(path, opts);
	const char *err = capture_end(&c);
	assert_null(sc);
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	size_t k = 0, plen = strlen(prefix);
	for (const char *p = err; *p && k + 1 < sizeof(out);) {
		if (strncmp(p, prefix, plen) == 0) {
			p += plen;
			continue;
		}
		out[k++] = *p++;
	}
	out[k] = '\0';
	return out;
}

#define SITES "sites: [{id: port, lat: 43.3, lon: 5.4}]\n"

/* Reads a parameter back through the model's own table. */
static const struct fb_param *param(const struct fb_model *m, const char *name)
{
	for (const struct fb_param *p = m->params; p && p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	fail_msg("no parameter '%s' in '%s'", name, m->name);
	return NULL;
}

static double param_number(const struct fb_fleet *f, const char *name)
{
	double v;
	memcpy(&v, (const char *)f->params + param(f->model, name)->offset, sizeof(v));
	return v;
}

static int param_enum(const struct fb_fleet *f, const char *name)
{
	int v;
	memcpy(&v, (const char *)f->params + param(f->model, name)->offset, sizeof(v));
	return v;
}

static bool param_bool(const struct fb_fleet *f, const char *name)
{
	bool v;
	memcpy(&v, (const char *)f->params + param(f->model, name)->offset, sizeof(v));
	return v;
}

static const char *const transports[] = { "mqtt", "lorawan", "modbus", NULL };
static const char *const codecs[] = { "json", "senml", "ultralight", "sparkplug", "lpp", NULL };
static const char *const extra_params[] = { "topic", NULL };
static const char *const extra_keys[] = { "mqtt_defaults", NULL };
static const struct fb_load_opts opts = { transports, codecs, extra_params, extra_keys };

static void test_valid_scenario(void **state)
{
	struct fb_scenario *sc = load_text(
		"name: unit-pilot\n"
		"seed: 42\n"
		"start: 2026-06-01T00:00:00+02:00\n"
		"duration: 1d\n"
		"timezone: UTC\n"
		"sites:\n"
		"  - {id: vieux-port, name: \"Marseille – Vieux-Port\", lat: 43.2951, lon: 5.3744, radius: 2km}\n"
		"  - {id: aix, lat: 43.5283, lon: 5.4497}\n"
		"types:\n"
		"  - name: air-quality\n"
		"    interval: 10m\n"
		"    fields:\n"
		"      - {name: pm25, unit: ug/m3, resolution: 0.1, min: 0, gen: {kind: daily, mean: 12, peaks: [8, 19], amplitude: 6, noise: 2}}\n"
		"fleets:\n"
		"  - {type: noise, count: 12, site: vieux-port, interval: 1m, params: {profile: arterial, offset: -3.5, topic: a/b}}\n"
		"  - {type: air-quality, count: 5, site: aix, interval: 60s..900s, transport: mqtt, codec: json, faults: {drop: 0.1}}\n"
		"  - {type: noise, site: aix}\n"
		"output: {file: pilot.jsonl}\n"
		"transports: {mqtt: {url: \"mqtt://127.0.0.1:1883\"}}\n"
		"expect: {loss: 0}\n"
		"mqtt_defaults: {qos: 1}\n", &opts);
	assert_non_null(sc);
	assert_string_equal(sc->name, "unit-pilot");
	assert_int_equal(sc->seed, 42);
	assert_false(sc->start_now);
	assert_int_equal(sc->start, 1780264800LL * FB_US_PER_S);
	assert_int_equal(sc->duration, FB_US_PER_DAY);
	assert_string_equal(sc->timezone, "UTC");

	assert_int_equal(sc->nsites, 2);
	assert_string_equal(sc->sites[0].id, "vieux-port");
	assert_string_equal(sc->sites[0].name, "Marseille – Vieux-Port");
	assert_true(sc->sites[0].lat == 43.2951 && sc->sites[0].lon == 5.3744);
	assert_true(sc->sites[0].radius_m == 2000);
	assert_string_equal(sc->sites[1].name, "aix");        /* name defaults to the id */
	assert_true(sc->sites[1].radius_m == 500);            /* default radius */
	assert_int_equal(sc->sites[1].index, 1);

	assert_int_equal(sc->ntypes, 1);
	assert_string_equal(sc->types[0]->name, "air-quality");
	assert_non_null(fb_usertype_of(sc->types[0]));

	assert_int_equal(sc->nfleets, 3);
	assert_int_equal(sc->ndevices, 18);
	const struct fb_fleet *f0 = &sc->fleets[0], *f1 = &sc->fleets[1], *f2 = &sc->fleets[2];
	assert_ptr_equal(f0->model, fb_model_find("noise"));
	assert_ptr_equal(f0->site, &sc->sites[0]);
	assert_int_equal(f0->index, 0);
	assert_int_equal(f0->count, 12);
	assert_int_equal(f0->first, 0);
	assert_int_equal(f0->interval_us, FB_US_PER_MIN);
	assert_int_equal(f0->interval_max_us, FB_US_PER_MIN);
	assert_int_equal(param_enum(f0, "profile"), 0);       /* arterial */
	assert_true(param_number(f0, "offset") == -3.5);
	assert_true(param_number(f0, "events") == param(f0->model, "events")->def);
	assert_true(param_bool(f0, "rain") == (param(f0->model, "rain")->def != 0));
	assert_null(f0->transport);
	assert_non_null(f0->params_node);
	assert_string_equal(fb_ynode_get(f0->params_node, "topic")->text, "a/b");

	assert_ptr_equal(f1->model, sc->types[0]);
	assert_ptr_equal(f1->site, &sc->sites[1]);
	assert_int_equal(f1->first, 12);
	assert_int_equal(f1->count, 5);
	assert_int_equal(f1->interval_us, 60 * FB_US_PER_S);
	assert_int_equal(f1->interval_max_us, 900 * FB_US_PER_S);
	assert_string_equal(f1->transport, "mqtt");
	assert_string_equal(f1->codec, "json");
	assert_non_null(fb_ynode_get(f1->node, "faults"));
	assert_null(f1->params_node);

	/* count defaults to 1; interval to the model's; params to the model's defaults. */
	assert_int_equal(f2->first, 17);
	assert_int_equal(f2->count, 1);
	assert_int_equal(f2->interval_us, fb_model_find("noise")->default_interval_us);
	assert_int_equal(param_enum(f2, "profile"), (int)param(f2->model, "profile")->def);

	assert_string_equal(sc->output_file, "pilot.jsonl");
	assert_non_null(sc->transports);
	assert_non_null(sc->expect);
	assert_null(sc->faults);
	assert_non_null(fb_ynode_get(sc->root, "mqtt_defaults"));

	/* Every device maps to its fleet; one past the end to none. */
	for (uint32_t d = 0; d < 18; d++) {
		const struct fb_fleet *f = fb_scenario_fleet_of(sc, d);
		assert_ptr_equal(f, d < 12 ? f0 : d < 17 ? f1 : f2);
	}
	assert_null(fb_scenario_fleet_of(sc, 18));
	assert_null(fb_scenario_fleet_of(sc, UINT32_MAX));
	fb_scenario_free(sc);
}

static void test_defaults(void **state)
{
	struct fb_scenario *sc = load_text(SITES "fleets: [{type: waste}]\n", NULL);
	assert_non_null(sc);
	assert_string_equal(sc->name, "x");               /* the file's base name */
	assert_int_equal(sc->seed, 1);
	assert_true(sc->start_now);
	assert_int_equal(sc->duration, FB_US_PER_H);
	assert_string_equal(sc->timezone, "Europe/Paris");
	assert_ptr_equal(sc->fleets[0].site, &sc->sites[0]);   /* the only site */
	assert_null(sc->output_file);
	assert_null(sc->transports);
	fb_scenario_free(sc);
	sc = load_text("start: now\n" SITES "fleets: [{type: waste}]\n", NULL);
	assert_non_null(sc);
	assert_true(sc->start_now);
	fb_scenario_free(sc);
}

static void test_unknown_type_and_keys(void **state)
{
	assert_string_equal(load_fail(SITES "fleets:\n  - type: noize\n    count: 2\n", NULL),
	                    "x.yaml:3:11: error: unknown sensor type 'noize' (did you mean 'noise'?)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: bike-counters}\n", NULL),
	                    "x.yaml:3:12: error: unknown sensor type 'bike-counters' (did you mean 'bike-counter'?)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: kettle}\n", NULL),
	                    "x.yaml:3:12: error: unknown sensor type 'kettle' (see 'fleetbench types')\n");
	assert_string_equal(load_fail("nmae: x\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:1: error: unknown key 'nmae' in scenario (did you mean 'name'?)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - type: noise\n    cuont: 3\n", NULL),
	                    "x.yaml:4:5: error: unknown key 'cuont' in fleet (did you mean 'count'?)\n");
	assert_string_equal(load_fail("sites: [{id: port, lat: 43.3, lon: 5.4, colour: red}]\n"
	                              "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:41: error: unknown key 'colour' in site (known keys: id, name, lat, "
	                    "lon, radius)\n");
	/* A key an upper layer declared is accepted; without the declaration it is not. */
	assert_string_equal(load_fail("mqtt_defaults: {}\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:1: error: unknown key 'mqtt_defaults' in scenario (known keys: name, "
	                    "description, seed, start, duration, timezone, sites, fleets, types, output, "
	                    "transports, expect, faults)\n");
	assert_string_equal(load_fail("- a\n- b\n", NULL),
	                    "x.yaml:1:1: error: a scenario must be a map of keys ('name', 'sites', "
	                    "'fleets', ...), not a list\n");
}

static void test_wrong_values(void **state)
{
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, count: -3}\n", NULL),
	                    "x.yaml:3:26: error: 'count' must be between 1 and 4294967295, not -3\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, count: 0}\n", NULL),
	                    "x.yaml:3:26: error: 'count' must be between 1 and 4294967295, not 0\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, count: many}\n", NULL),
	                    "x.yaml:3:26: error: 'count' must be a whole number, not 'many'\n");
	assert_string_equal(load_fail("sites: {id: port}\nfleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:8: error: 'sites' must be a list, not a map\n");
	assert_string_equal(load_fail("fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:10: error: missing key 'site' in fleet (and the scenario has no 'sites')\n");
	assert_string_equal(load_fail("seed: -1\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:7: error: 'seed' must be at least 0, not -1\n");
	assert_string_equal(load_fail("duration: 1 day\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:11: error: 'duration' must be a duration such as '30s', '15m' or "
	                    "'6h', not '1 day'\n");
	assert_string_equal(load_fail("duration: 0s\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:11: error: 'duration' must be longer than 0\n");
	assert_string_equal(load_fail("start: 2026-13-01T00:00:00Z\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:8: error: 'start' must be 'now' or an RFC 3339 date and time such "
	                    "as '2026-06-01T00:00:00+02:00', not '2026-13-01T00:00:00Z'\n");
	assert_string_equal(load_fail("start: 2026-06-01\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:8: error: 'start' must be 'now' or an RFC 3339 date and time such "
	                    "as '2026-06-01T00:00:00+02:00', not '2026-06-01'\n");
	assert_string_equal(load_fail("timezone: Europe/Pariss\n" SITES "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:1:11: error: unknown time zone 'Europe/Pariss' (use a tz database "
	                    "name such as 'Europe/Paris' or 'UTC')\n");
	assert_string_equal(load_fail(SITES "fleets: [{type: noise, interval: 5x}]\n", NULL),
	                    "x.yaml:2:34: error: 'interval' must be a duration such as '30s', '15m' or "
	                    "'6h', not '5x'\n");
	assert_string_equal(load_fail(SITES "fleets: [{type: noise, interval: 0s}]\n", NULL),
	                    "x.yaml:2:34: error: 'interval' must be longer than 0\n");
	assert_string_equal(load_fail(SITES "fleets: [{type: noise, interval: 900s..60s}]\n", NULL),
	                    "x.yaml:2:34: error: 'interval' range '900s..60s' goes from the longer to "
	                    "the shorter duration (write '60s..900s')\n");
	assert_string_equal(load_fail(SITES "fleets: [{type: noise, interval: 60s..}]\n", NULL),
	                    "x.yaml:2:34: error: 'interval' must be a duration such as '30s', or a range "
	                    "such as '60s..900s', not '60s..'\n");
	assert_string_equal(load_fail(SITES "fleets: [{type: noise}]\noutput: {file: [a]}\n", NULL),
	                    "x.yaml:3:16: error: 'file' must be a single value, not a list\n");
	assert_string_equal(load_fail(SITES "fleets: [{type: noise}]\noutput: {path: a}\n", NULL),
	                    "x.yaml:3:10: error: unknown key 'path' in 'output' (known keys: file)\n");
}

static void test_sites(void **state)
{
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, site: prot}\n", NULL),
	                    "x.yaml:3:25: error: unknown site 'prot' (did you mean 'port'?)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, site: harbour}\n", NULL),
	                    "x.yaml:3:25: error: unknown site 'harbour' (expected one of 'port')\n");
	assert_string_equal(load_fail("sites:\n  - {id: a, lat: 91, lon: 5}\n  - {id: b, lat: 4, lon: -181}\n"
	                              "fleets: [{type: noise, site: a}]\n", NULL),
	                    "x.yaml:2:18: error: 'lat' must be between -90 and 90, not 91\n"
	                    "x.yaml:3:26: error: 'lon' must be between -180 and 180, not -181\n");
	assert_string_equal(load_fail("sites:\n  - {id: a, lat: 1, lon: 5}\n  - {id: a, lat: 2, lon: 6}\n"
	                              "fleets: [{type: noise, site: a}]\n", NULL),
	                    "x.yaml:3:10: error: duplicate site id 'a' (first at line 2)\n");
	assert_string_equal(load_fail("sites:\n  - {id: 'a b', lat: 1, lon: 5}\n  - {lon: 5}\n"
	                              "fleets: [{type: noise, site: a}]\n", NULL),
	                    "x.yaml:2:10: error: invalid site id 'a b': use letters, digits, '-', '_' and '.'\n"
	                    "x.yaml:3:5: error: missing key 'id' in site\n"
	                    "x.yaml:3:5: error: missing key 'lat' in site\n");
	assert_string_equal(load_fail("sites:\n  - {id: a, lat: 1, lon: 5, radius: 2 miles}\n"
	                              "fleets: [{type: noise, site: a}]\n", NULL),
	                    "x.yaml:2:37: error: 'radius' must be a length such as '500m' or '2km', not '2 miles'\n");
	/* With several sites a fleet must say which. */
	assert_string_equal(load_fail("sites:\n  - {id: a, lat: 1, lon: 5}\n  - {id: b, lat: 2, lon: 6}\n"
	                              "fleets:\n  - {type: noise}\n", NULL),
	                    "x.yaml:5:5: error: missing key 'site' in fleet (the scenario has 2 sites)\n");
}

static void test_fleets_section(void **state)
{
	assert_string_equal(load_fail(SITES, NULL),
	                    "x.yaml:1:1: error: missing key 'fleets' in scenario (a list of {type, count, site})\n");
	assert_string_equal(load_fail(SITES "fleets: []\n", NULL),
	                    "x.yaml:2:9: error: 'fleets' is empty: a scenario needs at least one fleet\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {count: 3}\n", NULL),
	                    "x.yaml:3:5: error: missing key 'type' in fleet\n");
	/* Device indexes are uint32: the fleets must add up to at most 2^32 - 1 devices. */
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, count: 4294967295}\n"
	                              "  - {type: noise, count: 1}\n", NULL),
	                    "x.yaml:4:26: error: too many devices: the fleets up to here add up to "
	                    "4294967296, at most 4294967295 are possible\n");
	struct fb_scenario *sc = load_text(SITES "fleets:\n  - {type: noise, count: 4294967294}\n"
	                                   "  - {type: noise, count: 1}\n", NULL);
	assert_non_null(sc);
	assert_int_equal(sc->ndevices, 4294967295ULL);
	assert_ptr_equal(fb_scenario_fleet_of(sc, 4294967294U), &sc->fleets[1]);
	assert_ptr_equal(fb_scenario_fleet_of(sc, 4294967293U), &sc->fleets[0]);
	fb_scenario_free(sc);
}

static void test_params_transport_codec(void **state)
{
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, params: {profle: arterial}}\n", &opts),
	                    "x.yaml:3:28: error: unknown parameter 'profle' for type 'noise' (did you mean 'profile'?)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, params: {profile: arterail}}\n", &opts),
	                    "x.yaml:3:37: error: unknown profile 'arterail' (did you mean 'arterial'?)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, params: {offset: 30}}\n", &opts),
	                    "x.yaml:3:36: error: 'offset' must be between -20 and 20, not 30\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, params: {rain: often}}\n", &opts),
	                    "x.yaml:3:34: error: 'rain' must be true or false, not 'often'\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, params: [1]}\n", &opts),
	                    "x.yaml:3:27: error: 'params' must be a map, not a list\n");
	/* extra_params (a codec's or transport's) are accepted only when declared. */
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, params: {topic: a}}\n", NULL),
	                    "x.yaml:3:28: error: unknown parameter 'topic' for type 'noise' (known: profile, "
	                    "offset, events, rain)\n");
	assert_string_equal(load_fail(SITES "types: [{name: t, fields: [{name: v, gen: {kind: constant, value: 1}}]}]\n"
	                              "fleets:\n  - {type: t, params: {speed: 2}}\n", NULL),
	                    "x.yaml:4:24: error: unknown parameter 'speed': type 't' has no parameters\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, transport: mqt}\n", &opts),
	                    "x.yaml:3:30: error: unknown transport 'mqt' (did you mean 'mqtt'?)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise, codec: cbor}\n", &opts),
	                    "x.yaml:3:26: error: unknown codec 'cbor' (expected one of 'json', 'senml', "
	                    "'ultralight', 'sparkplug', 'lpp')\n");
	/* Without lists from the upper layers, any name goes. */
	struct fb_scenario *sc = load_text(SITES "fleets:\n  - {type: noise, transport: pigeon, codec: cbor}\n", NULL);
	assert_non_null(sc);
	assert_string_equal(sc->fleets[0].transport, "pigeon");
	fb_scenario_free(sc);
}

static void test_user_types(void **state)
{
	assert_string_equal(load_fail(SITES "types:\n  - {name: noise, fields: [{name: v, gen: {kind: constant, value: 1}}]}\n"
	                              "fleets: [{type: noise}]\n", NULL),
	                    "x.yaml:3:12: error: type 'noise' is already a built-in type (choose another name)\n");
	assert_string_equal(load_fail(SITES "types:\n  - {name: air-quality, fields: [{name: v, gen: {kind: constant, value: 1}}]}\n"
	                              "fleets: [{type: air-qualty}]\n", NULL),
	                    "x.yaml:4:17: error: unknown sensor type 'air-qualty' (did you mean 'air-quality'?)\n");
	assert_string_equal(load_fail(SITES "types:\n  - {name: t, fields: [{name: v, gen: {kind: constant, value: 1}}]}\n"
	                              "  - {name: t, fields: [{name: v, gen: {kind: constant, value: 2}}]}\n"
	                              "fleets: [{type: t}]\n", NULL),
	                    "x.yaml:4:12: error: duplicate type 't'\n");
	/* A type that fails is reported once, not again at each fleet using it. */
	assert_string_equal(load_fail(SITES "types:\n  - {name: t, fields: [{name: v, gen: {kind: normall}}]}\n"
	                              "fleets: [{type: t}, {type: t}]\n", NULL),
	                    "x.yaml:3:46: error: unknown generator kind 'normall' (did you mean 'normal'?)\n");
	/* A csv file is found beside the scenario file, not in the working folder. */
	char csv[160];
	snprintf(csv, sizeof(csv), "%s/levels.csv", dir);
	FILE *fp = fopen(csv, "w");
	assert_non_null(fp);
	fputs("level\n1.5\n2.5\n", fp);
	fclose(fp);
	struct fb_scenario *sc = load_text(SITES "types:\n  - {name: t, fields: [{name: v, gen: {kind: csv, "
	                                   "file: levels.csv, column: level}}]}\nfleets: [{type: t}]\n", NULL);
	assert_non_null(sc);
	assert_true(sc->types[0]->fields[0].min == 1.5 && sc->types[0]->fields[0].max == 2.5);
	fb_scenario_free(sc);
	unlink(csv);
	assert_string_equal(load_fail(SITES "types:\n  - {name: t, fields: [{name: v, gen: {kind: csv, "
	                              "file: levels.csv, column: level}}]}\nfleets: [{type: t}]\n", NULL),
	                    "x.yaml:3:57: error: cannot read 'levels.csv': No such file or directory\n");
	assert_string_equal(load_fail(SITES "types: {name: t}\nfleets: [{type: noise}]\n", NULL),
	                    "x.yaml:2:8: error: 'types' must be a list, not a map\n");
}

static void test_several_errors_in_one_pass(void **state)
{
	assert_string_equal(load_fail(
		"seed: abc\n"
		"duration: forever\n"
		"sites:\n"
		"  - {id: port, lat: 43.3, lon: 5.4}\n"
		"fleets:\n"
		"  - {type: noize, site: port}\n"
		"  - {type: waste, site: prot, count: -1}\n", NULL),
		"x.yaml:1:7: error: 'seed' must be a whole number, not 'abc'\n"
		"x.yaml:2:11: error: 'duration' must be a duration such as '30s', '15m' or '6h', not 'forever'\n"
		"x.yaml:6:12: error: unknown sensor type 'noize' (did you mean 'noise'?)\n"
		"x.yaml:7:38: error: 'count' must be between 1 and 4294967295, not -1\n"
		"x.yaml:7:25: error: unknown site 'prot' (did you mean 'port'?)\n");
}

static void test_files(void **state)
{
	struct capture c;
	capture_begin(&c);
	assert_null(fb_scenario_load("/nonexistent/scenario.yaml", NULL));
	assert_string_equal(capture_end(&c), "fleetbench: error: cannot read '/nonexistent/scenario.yaml': "
	                    "No such file or directory\n");
	assert_string_equal(load_fail("", NULL),
	                    "x.yaml: error: empty document (nothing but blanks and comments)\n");
	assert_string_equal(load_fail("# nothing yet\n", NULL),
	                    "x.yaml: error: empty document (nothing but blanks and comments)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - {type: noise\n", NULL),
	                    "x.yaml:4:1: error: did not find expected ',' or '}' (while parsing a flow "
	                    "mapping at line 3, column 5)\n");
	assert_string_equal(load_fail(SITES "fleets:\n  - type: noise\n   count: 2\n", NULL),
	                    "x.yaml:4:4: error: did not find expected '-' indicator (while parsing a "
	                    "block collection at line 3, column 3)\n");
}

static void test_device_ids(void **state)
{
	const struct fb_model *noise = fb_model_find("noise");
	char buf[64];
	assert_int_equal(fb_device_id(noise, 42, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "noise-000042");
	assert_int_equal(fb_device_id(noise, 0, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "noise-000000");
	assert_int_equal(fb_device_id(noise, 999999, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "noise-999999");
	assert_int_equal(fb_device_id(noise, 1000000, buf, sizeof(buf)), 13);
	assert_string_equal(buf, "noise-1000000");
	assert_int_equal(fb_device_id(noise, UINT32_MAX, buf, sizeof(buf)), 16);
	assert_string_equal(buf, "noise-4294967295");
	/* Same result as the obvious snprintf for a spread of indexes. */
	const struct fb_model *bike = fb_model_find("bike-counter");
	for (uint64_t d = 0; d < UINT32_MAX; d = d * 3 + 7) {
		char want[64];
		int n = snprintf(want, sizeof(want), "bike-counter-%06u", (unsigned)d);
		assert_int_equal(fb_device_id(bike, (uint32_t)d, buf, sizeof(buf)), (size_t)n);
		assert_string_equal(buf, want);
	}
	/* Too small a buffer: truncated and terminated like snprintf, full length returned. */
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(fb_device_id(noise, 42, buf, 9), 12);
	assert_string_equal(buf, "noise-00");
	assert_int_equal(fb_device_id(noise, 42, buf, 12), 12);
	assert_string_equal(buf, "noise-00004");
	assert_int_equal(fb_device_id(noise, 42, buf, 0), 12);
}

static void check_segments(uint64_t total, uint32_t n)
{
	uint64_t expect_from = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t from, to;
		fb_shard_segment(total, i, n, &from, &to);
		assert_int_equal(from, expect_from);          /* contiguous */
		assert_true(to >= from);
		/* Balanced: each segment within one of total / n. */
		uint64_t size = to - from;
		assert_true(size * n <= total + n && size * n + n >= total);
		expect_from = to;
	}
	assert_int_equal(expect_from, total);             /* sums exactly */
}

static void test_shards(void **state)
{
	static const uint64_t totals[] = { 0, 1, 5, 18, 100, 1000003, 4294967295ULL };
	static const uint32_t ns[] = { 1, 2, 3, 7 };
	for (size_t t = 0; t < sizeof totals / sizeof totals[0]; t++)
		for (size_t k = 0; k < 4; k++)
			check_segments(totals[t], ns[k]);
	check_segments(10, 10);
	check_segments(3, 7);
	/* The extremes without overflow: 2^32 - 1 devices over 2^32 - 1 shards, one each
	 * (spot checks; contiguity is from + size == the next from). */
	static const uint32_t spots[] = { 0, 1, 2, 1000, 2147483647U, 4294967293U, 4294967294U };
	for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
		uint64_t from, to, from2, to2;
		fb_shard_segment(4294967295ULL, spots[k], 4294967295U, &from, &to);
		assert_int_equal(from, spots[k]);
		assert_int_equal(to, (uint64_t)spots[k] + 1);
		if (spots[k] < 4294967294U) {
			fb_shard_segment(4294967295ULL, spots[k] + 1, 4294967295U, &from2, &to2);
			assert_int_equal(from2, to);
		}
	}

	/* k6 rounding: 10 over 3 is [0,3) [3,7) [7,10) (3.33 -> 3, 6.67 -> 7). */
	uint64_t from, to;
	fb_shard_segment(10, 1, 3, &from, &to);
	assert_int_equal(from, 3);
	assert_int_equal(to, 7);
	/* Halves round up: 5 over 2 is [0,3) [3,5). */
	fb_shard_segment(5, 0, 2, &from, &to);
	assert_int_equal(to, 3);

	/* The segments of a scenario's devices, shard by shard, cover each device exactly once. */
	struct fb_scenario *sc = load_text(SITES "fleets:\n  - {type: noise, count: 12}\n"
	                                   "  - {type: waste, count: 5}\n  - {type: streetlight, count: 1}\n", NULL);
	assert_non_null(sc);
	static const uint32_t shard_counts[] = { 1, 2, 3, 7 };
	for (size_t k = 0; k < 4; k++) {
		uint32_t seen[18] = { 0 };
		for (uint32_t i = 0; i < shard_counts[k]; i++) {
			fb_shard_segment(sc->ndevices, i, shard_counts[k], &from, &to);
			for (uint64_t d = from; d < to; d++)
				seen[d]++;
		}
		for (size_t d = 0; d < 18; d++)
			assert_int_equal(seen[d], 1);
	}
	fb_scenario_free(sc);
}

/* By site, a k6 cut point inside the span of a site's site_bound fleets (with what lies between
 * them) moves to the nearer edge of the block of overlapping spans: every site's bound devices
 * are in one shard whatever the fleets' order, unbound fleets are cut anywhere, and the segments
 * still cover every device once, in order. */
static void test_shards_by_site(void **state)
{
	struct fb_scenario *sc = load_text(
		"sites: [{id: a, lat: 43.3, lon: 5.4}, {id: b, lat: 43.5, lon: 5.4}, {id: c, lat: 43.4, lon: 5.5}]\n"
		"fleets:\n"
		"  - {type: noise, count: 10, site: a}\n"      /* [0, 10)   a bound */
		"  - {type: waste, count: 5, site: b}\n"       /* [10, 15)  b */
		"  - {type: noise, count: 5, site: a}\n"       /* [15, 20)  a bound */
		"  - {type: noise, count: 20, site: b}\n"      /* [20, 40)  b bound */
		"  - {type: waste, count: 1, site: c}\n"       /* [40, 41)  c */
		"  - {type: noise, count: 4, site: b}\n"       /* [41, 45)  b bound */
		"  - {type: waste, count: 15, site: c}\n", NULL); /* [45, 60)  c */
	assert_non_null(sc);
	assert_int_equal(sc->shard_by, FB_SHARD_BY_DEVICE);   /* the loader's default */
	sc->fleets[0].site_bound = sc->fleets[2].site_bound = true;
	sc->fleets[3].site_bound = sc->fleets[5].site_bound = true;
	uint64_t from, to;
	fb_scenario_segment(sc, 0, 4, &from, &to);
	assert_int_equal(to, 15);                             /* by device: 60 / 4, inside a's span */
	sc->shard_by = FB_SHARD_BY_SITE;
	/* blocks: a [0, 20), b [20, 45); c is not bound. 4 shards: cuts 15 -> 20 and 30 -> 20 (the
	 * nearer edges), 45 stays */
	static const uint64_t want4[] = { 0, 20, 20, 45, 60 };
	for (uint32_t i = 0; i < 4; i++) {
		fb_scenario_segment(sc, i, 4, &from, &to);
		assert_int_equal(from, want4[i]);
		assert_int_equal(to, want4[i + 1]);
	}
	/* any number of shards: contiguous, exact, and never inside a block; c's fleets cut freely */
	for (uint32_t n = 1; n <= 13; n++) {
		uint64_t next = 0;
		for (uint32_t i = 0; i < n; i++) {
			fb_scenario_segment(sc, i, n, &from, &to);
			assert_int_equal(from, next);
			assert_true(to >= from);
			assert_false(to > 0 && to < 20);
			assert_false(to > 20 && to < 45);
			next = to;
		}
		assert_int_equal(next, 60);
	}
	fb_scenario_segment(sc, 11, 12, &from, &to);          /* 55 -> 60: inside c's free fleet */
	assert_int_equal(from, 55);
	/* overlapping spans merge: b bound on [10, 15) too makes b [10, 45), a [0, 20): one block */
	sc->fleets[1].site_bound = true;
	fb_scenario_segment(sc, 0, 2, &from, &to);            /* cut 30 in [0, 45): nearer 45 */
	assert_int_equal(to, 45);
	/* a tie goes to the upper edge: the earlier shard takes the block */
	fb_scenario_free(sc);
	sc = load_text("sites: [{id: a, lat: 43.3, lon: 5.4}, {id: b, lat: 43.5, lon: 5.4}]\n"
	               "fleets:\n  - {type: noise, count: 10, site: a}\n  - {type: noise, count: 10, site: b}\n", NULL);
	assert_non_null(sc);
	sc->shard_by = FB_SHARD_BY_SITE;
	sc->fleets[0].site_bound = sc->fleets[1].site_bound = true;
	fb_scenario_segment(sc, 0, 4, &from, &to);            /* cut 5 in a's [0, 10): 10 */
	assert_int_equal(from, 0);
	assert_int_equal(to, 10);
	fb_scenario_segment(sc, 1, 4, &from, &to);            /* [5, 10) -> [10, 10) */
	assert_int_equal(from, 10);
	assert_int_equal(to, 10);
	fb_scenario_free(sc);
}

static void test_parse_shard(void **state)
{
	uint32_t i = 99, n = 99;
	assert_int_equal(fb_parse_shard("0/1", &i, &n), 0);
	assert_int_equal(i, 0);
	assert_int_equal(n, 1);
	assert_int_equal(fb_parse_shard("6/7", &i, &n), 0);
	assert_int_equal(i, 6);
	assert_int_equal(n, 7);
	assert_int_equal(fb_parse_shard("4294967294/4294967295", &i, &n), 0);
	assert_int_equal(i, 4294967294U);
	static const char *const bad[] = {
		"7/7", "1/0", "0/0", "-1/2", "+1/2", " 1/2", "1/2 ", "1/2x", "1", "/2", "1/", "",
		"1//2", "0/4294967296", "a/b", "1/-2", NULL
	};
	for (size_t k = 0; bad[k]; k++) {
		i = n = 99;
		assert_int_equal(fb_parse_shard(bad[k], &i, &n), -1);
		assert_int_equal(i, 99);
		assert_int_equal(n, 99);
	}
	assert_int_equal(fb_parse_shard(NULL, &i, &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_scenario),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_unknown_type_and_keys),
		cmocka_unit_test(test_wrong_values),
		cmocka_unit_test(test_sites),
		cmocka_unit_test(test_fleets_section),
		cmocka_unit_test(test_params_transport_codec),
		cmocka_unit_test(test_user_types),
		cmocka_unit_test(test_several_errors_in_one_pass),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_device_ids),
		cmocka_unit_test(test_shards),
		cmocka_unit_test(test_shards_by_site),
		cmocka_unit_test(test_parse_shard),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
