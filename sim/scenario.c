/* The scenario loader: validates what the simulator owns (name, seed, time, sites, fleets,
 * user-defined types, output) and keeps the tree for the upper layers' sections. It reports
 * every error it can find in one pass, each at its place in the file, and loads nothing when
 * there is any. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/log.h"
#include "sim/scenario.h"
#include "sim/tz.h"

#define DEFAULT_DURATION_US  FB_US_PER_H
#define DEFAULT_RADIUS_M     500.0
#define DEFAULT_SEED         1
#define DEFAULT_TIMEZONE     "Europe/Paris"
#define MAX_TOP_KEYS         64

static const char *const top_keys[] = {
	"name", "description", "seed", "start", "duration", "timezone", "sites", "fleets", "types",
	"output", "transports", "expect", "faults", NULL
};
static const char *const site_keys[] = { "id", "name", "lat", "lon", "radius", NULL };
static const char *const fleet_keys[] = {
	"type", "count", "site", "interval", "params", "transport", "codec", "faults", NULL
};
static const char *const output_keys[] = { "file", NULL };

/* Site ids and type names end up in device ids, MQTT topics and JSON: keep them plain. */
static bool is_identifier(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool in_list(const char *word, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(word, list[i]) == 0)
			return true;
	return false;
}

/* "unknown <noun> 'x' (did you mean 'y'?)" or "(expected one of 'a', 'b')". */
static int unknown_name(const struct fb_ynode *n, const char *noun, const char *const *choices)
{
	const char *hint = fb_suggest(n->text, choices);
	if (hint)
		return fb_ynode_error(n, "unknown %s '%s' (did you mean '%s'?)", noun, n->text, hint);
	if (!choices || !choices[0])
		return fb_ynode_error(n, "unknown %s '%s'", noun, n->text);
	char list[512];
	size_t len = 0;
	list[0] = '\0';
	for (size_t i = 0; choices[i] && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'", i ? ", " : "", choices[i]);
	return fb_ynode_error(n, "unknown %s '%s' (expected one of %s)", noun, n->text, list);
}

static int missing(const struct fb_ynode *map, const char *key, const char *context)
{
	return fb_ynode_error(map, "missing key '%s' in %s", key, context);
}

static int load_time(struct fb_scenario *sc, const struct fb_ynode *root)
{
	int errs = 0;
	const struct fb_ynode *n;
	int64_t v;

	sc->seed = DEFAULT_SEED;
	if ((n = fb_ynode_get(root, "seed"))) {
		if (fb_ynode_int(n, "'seed'", 0, INT64_MAX, &v) < 0)
			errs++;
		else
			sc->seed = (uint64_t)v;
	}
	sc->start_now = true;
	if ((n = fb_ynode_get(root, "start"))) {
		if (n->kind == FB_Y_SCALAR && strcmp(n->text, "now") == 0) {
			sc->start_now = true;
		} else if (n->kind != FB_Y_SCALAR || fb_parse_rfc3339(n->text, &sc->start) < 0) {
			fb_ynode_error(n, "'start' must be 'now' or an RFC 3339 date and time such as "
			               "'2026-06-01T00:00:00+02:00', not '%s'",
			               n->kind == FB_Y_SCALAR ? n->text : "a list or map");
			errs++;
		} else {
			sc->start_now = false;
		}
	}
	sc->duration = DEFAULT_DURATION_US;
	if ((n = fb_ynode_get(root, "duration"))) {
		if (fb_ynode_duration(n, "'duration'", &sc->duration) < 0)
			errs++;
		else if (sc->duration <= 0)
			errs++, fb_ynode_error(n, "'duration' must be longer than 0");
	}
	sc->timezone = DEFAULT_TIMEZONE;
	if ((n = fb_ynode_get(root, "timezone"))) {
		if (fb_ynode_string(n, "'timezone'", &sc->timezone) < 0)
			errs++;
		else if (!fb_tz_exists(sc->timezone))
			errs++, fb_ynode_error(n, "unknown time zone '%s' (use a tz database name such as "
			                       "'Europe/Paris' or 'UTC')", sc->timezone);
	}
	return errs;
}

static int load_site(struct fb_site *s, const struct fb_ynode *m)
{
	int errs = 0;
	const struct fb_ynode *n;
	if (fb_ynode_check_keys(m, "site", site_keys) < 0) {
		if (m->kind != FB_Y_MAP)
			return 1;
		errs++;
	}
	s->radius_m = DEFAULT_RADIUS_M;
	if (!(n = fb_ynode_get(m, "id")))
		errs++, missing(m, "id", "site");
	else if (fb_ynode_string(n, "'id'", &s->id) < 0)
		errs++;
	else if (!is_identifier(s->id))
		errs++, s->id = NULL,
		fb_ynode_error(n, "invalid site id '%s': use letters, digits, '-', '_' and '.'", n->text);
	s->name = s->id;
	if ((n = fb_ynode_get(m, "name")) && fb_ynode_string(n, "'name'", &s->name) < 0)
		errs++;
	if (!(n = fb_ynode_get(m, "lat")))
		errs++, missing(m, "lat", "site");
	else if (fb_ynode_number(n, "'lat'", &s->lat) < 0)
		errs++;
	else if (s->lat < -90 || s->lat > 90)
		errs++, fb_ynode_error(n, "'lat' must be between -90 and 90, not %s", n->text);
	if (!(n = fb_ynode_get(m, "lon")))
		errs++, missing(m, "lon", "site");
	else if (fb_ynode_number(n, "'lon'", &s->lon) < 0)
		errs++;
	else if (s->lon < -180 || s->lon > 180)
		errs++, fb_ynode_error(n, "'lon' must be between -180 and 180, not %s", n->text);
	if ((n = fb_ynode_get(m, "radius")) && fb_ynode_length_m(n, "'radius'", &s->radius_m) < 0)
		errs++;
	return errs;
}

static int load_sites(struct fb_scenario *sc, const struct fb_ynode *list)
{
	int errs = 0;
	if (fb_ynode_expect(list, FB_Y_SEQ, "'sites'") < 0)
		return 1;
	if (list->n == 0)
		return 0;
	if (!(sc->sites = calloc(list->n, sizeof(*sc->sites))))
		return fb_error("out of memory"), 1;
	sc->nsites = list->n;
	for (size_t i = 0; i < list->n; i++) {
		struct fb_site *s = &sc->sites[i];
		s->index = (uint32_t)i;
		errs += load_site(s, list->items[i]);
		for (size_t j = 0; s->id && j < i; j++) {
			if (sc->sites[j].id && strcmp(sc->sites[j].id, s->id) == 0) {
				const struct fb_ynode *idn = fb_ynode_get(list->items[i], "id");
				const struct fb_ynode *first = fb_ynode_get(list->items[j], "id");
				fb_ynode_error(idn, "duplicate site id '%s' (first at line %d)", s->id, first->line);
				errs++;
				break;
			}
		}
	}
	return errs;
}

static char *base_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Names of types whose definition failed, so fleets using them are not reported again. */
struct failed_names {
	const char *names[256];
	size_t n;
	bool sites;             /* some site failed: unknown-site errors may be its echo */
};

static int load_types(struct fb_scenario *sc, const struct fb_ynode *list, struct failed_names *failed)
{
	int errs = 0;
	if (fb_ynode_expect(list, FB_Y_SEQ, "'types'") < 0)
		return 1;
	if (list->n == 0)
		return 0;
	if (!(sc->types = calloc(list->n, sizeof(*sc->types))))
		return fb_error("out of memory"), 1;
	char *base = base_dir_of(sc->path);
	if (!base)
		return fb_error("out of memory"), 1;
	for (size_t i = 0; i < list->n; i++) {
		const struct fb_ynode *t = list->items[i];
		const struct fb_ynode *name = fb_ynode_get(t, "name");
		bool bad_name = false;
		if (name && name->kind == FB_Y_SCALAR) {
			if (fb_model_find(name->text)) {
				fb_ynode_error(name, "type '%s' is already a built-in type (choose another name)",
				               name->text);
				bad_name = true;
			}
			for (size_t j = 0; j < sc->ntypes && !bad_name; j++) {
				if (strcmp(sc->types[j]->name, name->text) == 0) {
					fb_ynode_error(name, "duplicate type '%s'", name->text);
					bad_name = true;
				}
			}
		}
		struct fb_model *m = bad_name ? NULL : fb_usertype_new(t, base);
		if (!m) {
			errs++;
			if (name && name->kind == FB_Y_SCALAR && failed->n < 256)
				failed->names[failed->n++] = name->text;
			continue;
		}
		sc->types[sc->ntypes++] = m;
	}
	free(base);
	return errs;
}

static const struct fb_model *find_type(const struct fb_scenario *sc, const char *name)
{
	for (size_t i = 0; i < sc->ntypes; i++)
		if (strcmp(sc->types[i]->name, name) == 0)
			return sc->types[i];
	return fb_model_find(name);
}

static int unknown_type(const struct fb_scenario *sc, const struct fb_ynode *n)
{
	size_t nb = 0;
	while (fb_builtin_models[nb])
		nb++;
	const char **names = calloc(nb + sc->ntypes + 1, sizeof(*names));
	if (!names)
		return fb_error("out of memory");
	for (size_t i = 0; i < nb; i++)
		names[i] = fb_builtin_models[i]->name;
	for (size_t i = 0; i < sc->ntypes; i++)
		names[nb + i] = sc->types[i]->name;
	const char *hint = fb_suggest(n->text, names);
	free(names);
	if (hint)
		return fb_ynode_error(n, "unknown sensor type '%s' (did you mean '%s'?)", n->text, hint);
	return fb_ynode_error(n, "unknown sensor type '%s' (see 'fleetbench types')", n->text);
}

/* "60s..900s": each device draws its interval in that range; otherwise one duration. */
static int load_interval(struct fb_fleet *f, const struct fb_ynode *n)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "'interval' must be a duration, not a %s",
		                      n->kind == FB_Y_MAP ? "map" : "list");
	const char *dots = strstr(n->text, "..");
	if (!dots) {
		if (fb_ynode_duration(n, "'interval'", &f->interval_us) < 0)
			return -1;
		if (f->interval_us <= 0)
			return fb_ynode_error(n, "'interval' must be longer than 0");
		f->interval_max_us = f->interval_us;
		return 0;
	}
	char lo[64], hi[64];
	size_t nlo = (size_t)(dots - n->text);
	const char *rest = dots + 2;
	if (nlo == 0 || nlo >= sizeof(lo) || !*rest || strlen(rest) >= sizeof(hi))
		goto bad;
	memcpy(lo, n->text, nlo);
	lo[nlo] = '\0';
	strcpy(hi, rest);
	if (fb_parse_duration(lo, &f->interval_us) < 0 || fb_parse_duration(hi, &f->interval_max_us) < 0)
		goto bad;
	if (f->interval_us <= 0)
		return fb_ynode_error(n, "'interval' must be longer than 0");
	if (f->interval_max_us < f->interval_us)
		return fb_ynode_error(n, "'interval' range '%s' goes from the longer to the shorter "
		                      "duration (write '%s..%s')", n->text, hi, lo);
	return 0;
bad:
	return fb_ynode_error(n, "'interval' must be a duration such as '30s', or a range such as "
	                      "'60s..900s', not '%s'", n->text);
}

static const struct fb_param *find_param(const struct fb_model *m, const char *name)
{
	for (const struct fb_param *p = m->params; p && p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static int unknown_param(const struct fb_model *m, const struct fb_ynode *k, const char *const *extra)
{
	const char *names[128];
	size_t n = 0;
	for (const struct fb_param *p = m->params; p && p->name && n < 127; p++)
		names[n++] = p->name;
	for (size_t i = 0; extra && extra[i] && n < 127; i++)
		names[n++] = extra[i];
	names[n] = NULL;
	const char *hint = fb_suggest(k->text, names);
	if (hint)
		return fb_ynode_error(k, "unknown parameter '%s' for type '%s' (did you mean '%s'?)",
		                      k->text, m->name, hint);
	if (n == 0)
		return fb_ynode_error(k, "unknown parameter '%s': type '%s' has no parameters",
		                      k->text, m->name);
	char list[512];
	size_t len = 0;
	list[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
	return fb_ynode_error(k, "unknown parameter '%s' for type '%s' (known: %s)", k->text, m->name, list);
}

static int load_param(const struct fb_param *p, const struct fb_ynode *v, char *block)
{
	char what[96];
	snprintf(what, sizeof(what), "'%s'", p->name);
	bool ranged = p->min < p->max;
	switch (p->kind) {
	case FB_PARAM_NUMBER: {
		double d;
		if (fb_ynode_number(v, what, &d) < 0)
			return -1;
		if (ranged && (d < p->min || d > p->max))
			return fb_ynode_error(v, "%s must be between %g and %g, not %s", what, p->min, p->max, v->text);
		memcpy(block + p->offset, &d, sizeof(d));
		return 0;
	}
	case FB_PARAM_DURATION: {
		fb_time_us d;
		if (fb_ynode_duration(v, what, &d) < 0)
			return -1;
		double s = (double)d / FB_US_PER_S;
		if (ranged && (s < p->min || s > p->max)) {
			char lo[32], hi[32];
			fb_format_duration((fb_time_us)(p->min * FB_US_PER_S), lo, sizeof(lo));
			fb_format_duration((fb_time_us)(p->max * FB_US_PER_S), hi, sizeof(hi));
			return fb_ynode_error(v, "%s must be between %s and %s, not %s", what, lo, hi, v->text);
		}
		memcpy(block + p->offset, &d, sizeof(d));
		return 0;
	}
	case FB_PARAM_ENUM: {
		int idx;
		if (fb_ynode_enum(v, p->name, p->choices, &idx) < 0)
			return -1;
		memcpy(block + p->offset, &idx, sizeof(idx));
		return 0;
	}
	case FB_PARAM_BOOL: {
		bool b;
		if (fb_ynode_bool(v, what, &b) < 0)
			return -1;
		memcpy(block + p->offset, &b, sizeof(b));
		return 0;
	}
	case FB_PARAM_INT: {
		int64_t i;
		int64_t lo = ranged ? (int64_t)p->min : INT64_MIN, hi = ranged ? (int64_t)p->max : INT64_MAX;
		if (fb_ynode_int(v, what, lo, hi, &i) < 0)
			return -1;
		memcpy(block + p->offset, &i, sizeof(i));
		return 0;
	}
	}
	return -1;
}

static int load_params(struct fb_fleet *f, const struct fb_ynode *n, const struct fb_load_opts *opts)
{
	int errs = 0;
	const struct fb_model *m = f->model;
	if (m->params_size) {
		if (!(f->params = calloc(1, m->params_size)))
			return fb_error("out of memory"), 1;
		fb_model_params_default(m, f->params);
	}
	if (!n)
		return 0;
	if (fb_ynode_expect(n, FB_Y_MAP, "'params'") < 0)
		return 1;
	for (size_t i = 0; i < n->n; i++) {
		const struct fb_param *p = find_param(m, n->keys[i]->text);
		if (!p) {
			if (!in_list(n->keys[i]->text, opts->extra_params))
				errs++, unknown_param(m, n->keys[i], opts->extra_params);
			continue;
		}
		if (load_param(p, n->items[i], f->params) < 0)
			errs++;
	}
	return errs;
}

static int load_choice(const struct fb_ynode *n, const char *key, const char *noun,
                       const char *const *choices, const char **out)
{
	char what[32];
	snprintf(what, sizeof(what), "'%s'", key);
	if (fb_ynode_string(n, what, out) < 0)
		return -1;
	if (choices && !in_list(*out, choices))
		return unknown_name(n, noun, choices);
	return 0;
}

static int load_fleet(struct fb_scenario *sc, struct fb_fleet *f, const struct fb_ynode *m,
                      const struct fb_load_opts *opts, const struct failed_names *failed)
{
	int errs = 0;
	const struct fb_ynode *n;
	int64_t v;
	if (fb_ynode_check_keys(m, "fleet", fleet_keys) < 0) {
		if (m->kind != FB_Y_MAP)
			return 1;
		errs++;
	}
	f->node = m;
	f->count = 1;
	if (!(n = fb_ynode_get(m, "type"))) {
		errs++, missing(m, "type", "fleet");
	} else if (n->kind != FB_Y_SCALAR) {
		errs++, fb_ynode_expect(n, FB_Y_SCALAR, "'type'");
	} else if (!(f->model = find_type(sc, n->text))) {
		bool known_bad = false;
		for (size_t i = 0; i < failed->n; i++)
			known_bad |= strcmp(failed->names[i], n->text) == 0;
		errs++;
		if (!known_bad)
			unknown_type(sc, n);
	}
	if ((n = fb_ynode_get(m, "count"))) {
		if (fb_ynode_int(n, "'count'", 1, UINT32_MAX, &v) < 0)
			errs++;
		else
			f->count = (uint32_t)v;
	}
	if ((n = fb_ynode_get(m, "site"))) {
		if (n->kind != FB_Y_SCALAR) {
			errs++, fb_ynode_expect(n, FB_Y_SCALAR, "'site'");
		} else {
			for (size_t i = 0; i < sc->nsites && !f->site; i++)
				if (sc->sites[i].id && strcmp(sc->sites[i].id, n->text) == 0)
					f->site = &sc->sites[i];
			if (!f->site) {
				const char **ids = calloc(sc->nsites + 1, sizeof(*ids));
				size_t k = 0;
				for (size_t i = 0; ids && i < sc->nsites; i++)
					if (sc->sites[i].id)
						ids[k++] = sc->sites[i].id;
				errs++;
				if (failed->sites)
					;
				else if (sc->nsites == 0)
					fb_ynode_error(n, "unknown site '%s' (the scenario has no 'sites')", n->text);
				else
					unknown_name(n, "site", ids);
				free(ids);
			}
		}
	} else if (sc->nsites == 1) {
		f->site = &sc->sites[0];
	} else {
		errs++;
		if (failed->sites)
			;
		else if (sc->nsites == 0)
			fb_ynode_error(m, "missing key 'site' in fleet (and the scenario has no 'sites')");
		else
			fb_ynode_error(m, "missing key 'site' in fleet (the scenario has %zu sites)", sc->nsites);
	}
	if (f->model) {
		f->interval_us = f->interval_max_us = f->model->default_interval_us;
	}
	if ((n = fb_ynode_get(m, "interval")) && load_interval(f, n) < 0)
		errs++;
	f->params_node = fb_ynode_get(m, "params");
	if (f->model)
		errs += load_params(f, f->params_node, opts);
	else if (f->params_node && fb_ynode_expect(f->params_node, FB_Y_MAP, "'params'") < 0)
		errs++;
	if ((n = fb_ynode_get(m, "transport")) &&
	    load_choice(n, "transport", "transport", opts->transports, &f->transport) < 0)
		errs++;
	if ((n = fb_ynode_get(m, "codec")) && load_choice(n, "codec", "codec", opts->codecs, &f->codec) < 0)
		errs++;
	return errs;
}

static int load_fleets(struct fb_scenario *sc, const struct fb_ynode *root,
                       const struct fb_load_opts *opts, const struct failed_names *failed)
{
	int errs = 0;
	const struct fb_ynode *list = fb_ynode_get(root, "fleets");
	if (!list)
		return fb_ynode_error(root, "missing key 'fleets' in scenario (a list of {type, count, site})"), 1;
	if (fb_ynode_expect(list, FB_Y_SEQ, "'fleets'") < 0)
		return 1;
	if (list->n == 0)
		return fb_ynode_error(list, "'fleets' is empty: a scenario needs at least one fleet"), 1;
	if (!(sc->fleets = calloc(list->n, sizeof(*sc->fleets))))
		return fb_error("out of memory"), 1;
	sc->nfleets = list->n;
	uint64_t total = 0;
	bool too_many = false;
	for (size_t i = 0; i < list->n; i++) {
		struct fb_fleet *f = &sc->fleets[i];
		f->index = (uint32_t)i;
		errs += load_fleet(sc, f, list->items[i], opts, failed);
		f->first = (uint32_t)total;
		total += f->count;
		if (total > UINT32_MAX && !too_many) {
			const struct fb_ynode *c = fb_ynode_get(list->items[i], "count");
			fb_ynode_error(c ? c : list->items[i], "too many devices: the fleets up to here add up to "
			               "%llu, at most %llu are possible", (unsigned long long)total,
			               (unsigned long long)UINT32_MAX);
			too_many = true;
			errs++;
		}
	}
	sc->ndevices = total;
	return errs;
}

static int load_output(struct fb_scenario *sc, const struct fb_ynode *n)
{
	if (fb_ynode_check_keys(n, "'output'", output_keys) < 0)
		return 1;
	const struct fb_ynode *file = fb_ynode_get(n, "file");
	if (file && fb_ynode_string(file, "'file'", &sc->output_file) < 0)
		return 1;
	return 0;
}

struct fb_scenario *fb_scenario_load(const char *path, const struct fb_load_opts *opts)
{
	static const struct fb_load_opts no_opts;
	struct failed_names failed = { .n = 0 };
	const char *allowed[MAX_TOP_KEYS + 1];
	const struct fb_ynode *n;
	struct fb_scenario *sc;
	int errs = 0;

	if (!opts)
		opts = &no_opts;
	struct fb_ynode *root = fb_ynode_load_file(path);
	if (!root)
		return NULL;
	/* The path buffer also holds the default name (the file's base name without extension). */
	size_t plen = strlen(path);
	if (!(sc = calloc(1, sizeof(*sc))) || !(sc->path = malloc(2 * plen + 2))) {
		free(sc);
		fb_ynode_free(root);
		fb_error("out of memory");
		return NULL;
	}
	memcpy(sc->path, path, plen + 1);
	sc->root = root;
	if (root->kind != FB_Y_MAP) {
		fb_ynode_error(root, "a scenario must be a map of keys ('name', 'sites', 'fleets', ...), "
		               "not a %s", root->kind == FB_Y_SEQ ? "list" : "single value");
		goto fail;
	}

	size_t na = 0;
	for (size_t i = 0; top_keys[i]; i++)
		allowed[na++] = top_keys[i];
	for (size_t i = 0; opts->extra_keys && opts->extra_keys[i] && na < MAX_TOP_KEYS; i++)
		allowed[na++] = opts->extra_keys[i];
	allowed[na] = NULL;
	if (fb_ynode_check_keys(root, "scenario", allowed) < 0)
		errs++;

	sc->name = NULL;
	if ((n = fb_ynode_get(root, "name")) && fb_ynode_string(n, "'name'", &sc->name) < 0)
		errs++;
	if ((n = fb_ynode_get(root, "description")) && n->kind != FB_Y_SCALAR)
		errs++, fb_ynode_expect(n, FB_Y_SCALAR, "'description'");
	errs += load_time(sc, root);
	if ((n = fb_ynode_get(root, "sites")) && load_sites(sc, n) > 0) {
		errs++;
		failed.sites = true;
	}
	if ((n = fb_ynode_get(root, "types")))
		errs += load_types(sc, n, &failed);
	errs += load_fleets(sc, root, opts, &failed);
	if ((n = fb_ynode_get(root, "output")))
		errs += load_output(sc, n);
	sc->transports = fb_ynode_get(root, "transports");
	sc->expect = fb_ynode_get(root, "expect");
	sc->faults = fb_ynode_get(root, "faults");
	if (!sc->name) {
		/* Default: the file's base name without its extension. */
		const char *base = strrchr(sc->path, '/');
		base = base ? base + 1 : sc->path;
		const char *dot = strrchr(base, '.');
		size_t nlen = dot && dot != base ? (size_t)(dot - base) : strlen(base);
		char *name = sc->path + plen + 1;
		memcpy(name, base, nlen);
		name[nlen] = '\0';
		sc->name = name;
	}
	if (errs)
		goto fail;
	return sc;
fail:
	fb_scenario_free(sc);
	return NULL;
}

void fb_scenario_free(struct fb_scenario *sc)
{
	if (!sc)
		return;
	for (size_t i = 0; i < sc->nfleets; i++)
		free(sc->fleets[i].params);
	free(sc->fleets);
	for (size_t i = 0; i < sc->ntypes; i++)
		fb_usertype_free(sc->types[i]);
	free(sc->types);
	free(sc->sites);
	fb_ynode_free(sc->root);
	free(sc->path);
	free(sc);
}

const struct fb_fleet *fb_scenario_fleet_of(const struct fb_scenario *sc, uint32_t device)
{
	size_t lo = 0, hi = sc->nfleets;
	/* The last fleet whose first device is <= device. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (sc->fleets[mid].first <= device)
			lo = mid;
		else
			hi = mid;
	}
	if (lo >= sc->nfleets)
		return NULL;
	const struct fb_fleet *f = &sc->fleets[lo];
	if (device < f->first || device - f->first >= f->count)
		return NULL;
	return f;
}

size_t fb_device_id(const struct fb_model *m, uint32_t device, char *buf, size_t cap)
{
	char digits[10];
	size_t nd = 0;
	do {
		digits[nd++] = (char)('0' + device % 10);
		device /= 10;
	} while (device);
	size_t width = nd < 6 ? 6 : nd;
	size_t name_len = strlen(m->name);
	size_t len = name_len + 1 + width;
	if (cap == 0)
		return len;
	if (len < cap) {
		char *p = buf;
		memcpy(p, m->name, name_len);
		p += name_len;
		*p++ = '-';
		for (size_t i = nd; i < width; i++)
			*p++ = '0';
		while (nd)
			*p++ = digits[--nd];
		*p = '\0';
		return len;
	}
	/* Truncated, like snprintf: as much as fits, NUL-terminated, the full length returned. */
	size_t k = 0;
	for (size_t i = 0; i < len && k + 1 < cap; i++) {
		char c;
		if (i < name_len)
			c = m->name[i];
		else if (i == name_len)
			c = '-';
		else if (i - name_len - 1 < width - nd)
			c = '0';
		else
			c = digits[len - 1 - i];
		buf[k++] = c;
	}
	buf[k] = '\0';
	return len;
}

/* round(total * i / n), halves up, exact in 128-bit arithmetic. */
static uint64_t scaled(uint64_t total, uint32_t i, uint32_t n)
{
	unsigned __int128 num = (unsigned __int128)total * i;
	return (uint64_t)((2 * num + n) / (2 * (unsigned __int128)n));
}

void fb_shard_segment(uint64_t total, uint32_t i, uint32_t n, uint64_t *from, uint64_t *to)
{
	if (n == 0 || i >= n) {
		*from = *to = 0;
		return;
	}
	*from = scaled(total, i, n);
	*to = scaled(total, i + 1, n);
}

struct span { uint64_t a, b; };

static int span_cmp(const void *x, const void *y)
{
	const struct span *p = x, *q = y;
	return p->a < q->a ? -1 : p->a > q->a;
}

/* The blocks of overlapping site spans (a site's span: from its first site_bound device to the
 * end of its last), sorted and disjoint; *n blocks. NULL with *n = 0 when there are none (or
 * no memory: then nothing is moved, and the engine's own allocation reports the shortage). */
static struct span *site_blocks(const struct fb_scenario *sc, size_t *n)
{
	*n = 0;
	struct span *sp = sc->nsites ? malloc(sc->nsites * sizeof *sp) : NULL;
	if (!sp)
		return NULL;
	for (size_t s = 0; s < sc->nsites; s++)
		sp[s] = (struct span){ UINT64_MAX, 0 };
	for (size_t k = 0; k < sc->nfleets; k++) {
		const struct fb_fleet *f = &sc->fleets[k];
		if (!f->site_bound || !f->site || !f->count)
			continue;
		struct span *p = &sp[f->site - sc->sites];
		if (f->first < p->a)
			p->a = f->first;
		if ((uint64_t)f->first + f->count > p->b)
			p->b = (uint64_t)f->first + f->count;
	}
	size_t m = 0;
	for (size_t s = 0; s < sc->nsites; s++)
		if (sp[s].a < sp[s].b)
			sp[m++] = sp[s];
	qsort(sp, m, sizeof *sp, span_cmp);
	for (size_t s = 0; s < m; s++) {
		if (*n && sp[s].a < sp[*n - 1].b) {       /* overlaps the block before: merge */
			if (sp[s].b > sp[*n - 1].b)
				sp[*n - 1].b = sp[s].b;
		} else {
			sp[(*n)++] = sp[s];
		}
	}
	return sp;
}

/* c, or the nearer edge of the block c is strictly inside (the upper on a tie). */
static uint64_t site_cut(const struct span *blocks, size_t n, uint64_t c)
{
	for (size_t k = 0; k < n; k++)
		if (blocks[k].a < c && c < blocks[k].b)
			return c - blocks[k].a < blocks[k].b - c ? blocks[k].a : blocks[k].b;
	return c;
}

void fb_scenario_segment(const struct fb_scenario *sc, uint32_t i, uint32_t n, uint64_t *from,
                         uint64_t *to)
{
	fb_shard_segment(sc->ndevices, i, n, from, to);
	if (sc->shard_by != FB_SHARD_BY_SITE || n <= 1 || i >= n)
		return;
	size_t nb;
	struct span *blocks = site_blocks(sc, &nb);
	*from = site_cut(blocks, nb, *from);
	*to = site_cut(blocks, nb, *to);
	free(blocks);
}

static int parse_u32(const char *s, size_t len, uint32_t *out)
{
	if (len == 0 || len > 10)
		return -1;
	uint64_t v = 0;
	for (size_t k = 0; k < len; k++) {
		if (s[k] < '0' || s[k] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[k] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int fb_parse_shard(const char *text, uint32_t *i, uint32_t *n)
{
	const char *slash = text ? strchr(text, '/') : NULL;
	uint32_t a, b;
	if (!slash || parse_u32(text, (size_t)(slash - text), &a) < 0 ||
	    parse_u32(slash + 1, strlen(slash + 1), &b) < 0 || b == 0 || a >= b)
		return -1;
	*i = a;
	*n = b;
	return 0;
}
