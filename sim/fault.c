#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sim/engine.h"
#include "sim/fault.h"
#include "sim/log.h"
#include "sim/rng.h"
#include "sim/scenario.h"

static const char *const kind_names[FB_FAULT_NKINDS + 1] = {
	[FB_FAULT_NONE] = "none",
	[FB_FAULT_STUCK] = "stuck",
	[FB_FAULT_DRIFT] = "drift",
	[FB_FAULT_SPIKE] = "spike",
	[FB_FAULT_OUT_OF_RANGE] = "out_of_range",
	[FB_FAULT_INVALID] = "invalid",
	[FB_FAULT_BATTERY] = "battery",
	[FB_FAULT_OFFLINE] = "offline",
	[FB_FAULT_CLOCK_SKEW] = "clock_skew",
	[FB_FAULT_REBOOT] = "reboot",
	[FB_FAULT_MALFORMED] = "malformed",
	[FB_FAULT_BAD_MIC] = "bad_mic",
	[FB_FAULT_MODBUS_EXCEPTION] = "modbus_exception",
	[FB_FAULT_DUPLICATE] = "duplicate",
	[FB_FAULT_DELAY] = "delay",
	[FB_FAULT_SITE_DARK] = "site_dark",
	[FB_FAULT_RECONNECT_STORM] = "reconnect_storm",
	[FB_FAULT_CHURN] = "churn",
	[FB_FAULT_NKINDS] = NULL
};

const char *fb_fault_name(enum fb_fault_kind kind)
{
	return kind > FB_FAULT_NONE && kind < FB_FAULT_NKINDS ? kind_names[kind] : NULL;
}

size_t fb_fault_name_len(enum fb_fault_kind kind)
{
	const char *n = fb_fault_name(kind);
	return n ? strlen(n) : 0;
}

/* Option keys, and which kind accepts which. */
enum {
	K_KIND, K_RATE, K_FROM, K_FOR, K_SITE, K_TYPE, K_FLEET, K_DEVICES, K_FIELD, K_PER_HOUR,
	K_MAGNITUDE, K_SKEW, K_BACKLOG, K_BACKLOG_MAX, K_COPIES, K_DELAY, K_WITHIN, K_JITTER,
	K_MODE, K_EXCEPTION, K_NKEYS
};
static const char *const key_names[K_NKEYS + 1] = {
	"kind", "rate", "from", "for", "site", "type", "fleet", "devices", "field", "per_hour",
	"magnitude", "skew", "backlog", "backlog_max", "copies", "delay", "within", "jitter",
	"mode", "exception", NULL
};
#define B(k) (1u << (k))
#define COMMON (B(K_KIND) | B(K_RATE) | B(K_FROM) | B(K_FOR) | B(K_SITE) | B(K_TYPE) | \
                B(K_FLEET) | B(K_DEVICES))

struct kind_info {
	uint32_t keys;
	bool per_sample;          /* rate is per sample (else per device) */
	const char *transports;   /* space-separated transports that carry it out; NULL: any fleet */
	const char *not_yet;      /* not carried out yet: what to use instead */
};

static const struct kind_info kinds[FB_FAULT_NKINDS] = {
	[FB_FAULT_STUCK] = { COMMON | B(K_FIELD), false, NULL },
	[FB_FAULT_DRIFT] = { COMMON | B(K_FIELD) | B(K_PER_HOUR), false, NULL },
	[FB_FAULT_SPIKE] = { COMMON | B(K_FIELD) | B(K_MAGNITUDE), true, NULL },
	[FB_FAULT_OUT_OF_RANGE] = { COMMON | B(K_FIELD), true, NULL },
	[FB_FAULT_INVALID] = { COMMON | B(K_FIELD), true, NULL },
	[FB_FAULT_BATTERY] = { COMMON, false, NULL },
	[FB_FAULT_OFFLINE] = { COMMON | B(K_BACKLOG) | B(K_BACKLOG_MAX), false, NULL },
	[FB_FAULT_CLOCK_SKEW] = { COMMON | B(K_SKEW), false, NULL },
	[FB_FAULT_REBOOT] = { COMMON, false, NULL },
	[FB_FAULT_MALFORMED] = { COMMON | B(K_MODE), true, "mqtt" },
	[FB_FAULT_BAD_MIC] = { COMMON, true, "lorawan" },
	[FB_FAULT_MODBUS_EXCEPTION] = { COMMON | B(K_EXCEPTION), true, "modbus", NULL },
	[FB_FAULT_DUPLICATE] = { COMMON | B(K_COPIES), true, "mqtt" },
	[FB_FAULT_DELAY] = { COMMON | B(K_DELAY), true, "mqtt" },
	[FB_FAULT_SITE_DARK] = { COMMON, false, "mqtt lorawan" },
	[FB_FAULT_RECONNECT_STORM] = { (COMMON & ~B(K_FOR)) | B(K_WITHIN) | B(K_JITTER), false, "mqtt" },
	[FB_FAULT_CHURN] = { COMMON | B(K_PER_HOUR), false, "mqtt", NULL },
};

static const char *const backlog_names[] = { "lose", "send", NULL };
static const char *const mode_names[] = { "any", "truncated", "syntax", "types", "garbage", NULL };

/* A device's offline backlog: held samples in a pool of fixed-size slots. */
struct held {
	uint32_t device, seq, next;
	uint32_t fleet;
	fb_time_us t;
};

struct rule {
	struct fb_fault_rule pub;
	int *fleet_field;            /* per scenario fleet: field index, -1 none (battery: its field) */
	bool per_sample;
	/* stuck */
	double *stuck;               /* per shard device of a matched fleet: nf values */
	size_t *fleet_off;           /* per fleet: offset of its first shard device in stuck */
	uint8_t *stuck_have;         /* per shard device */
	/* reboot */
	uint8_t *rebooted;           /* per shard device */
	/* offline with backlog */
	uint32_t *head, *tail, *nheld;   /* per shard device; UINT32_MAX: none */
	unsigned char *pool;         /* slots of slot_size bytes: struct held + values */
	size_t slot_size, nslots, capslots;
	uint32_t free_slot;          /* free list */
	unsigned maxnf;
};

struct fb_faults {
	const struct fb_scenario *sc;
	struct rule *rules;
	size_t nrules;
	fb_time_us start, end;
	uint32_t first, count;
	uint32_t *seq_base;          /* per shard device (only with a reboot rule) */
	uint64_t counts[FB_FAULT_NKINDS];
	double raw[FB_MAX_FIELDS];
	double rel[FB_MAX_FIELDS];
	bool finished;
};

/* ---- parsing ---- */

static int parse_signed_duration(const struct fb_ynode *n, const char *what, fb_time_us *out)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "%s must be a duration, not a list or map", what);
	const char *t = n->text;
	int neg = *t == '-';
	if (*t == '-' || *t == '+')
		t++;
	if (fb_parse_duration(t, out) < 0)
		return fb_ynode_error(n, "%s must be a duration such as '5m' or '-30s', not '%s'", what,
		                      n->text);
	if (neg)
		*out = -*out;
	return 0;
}

static int parse_from(const struct fb_ynode *n, struct fb_fault_rule *r)
{
	if (n->kind != FB_Y_SCALAR)
		return fb_ynode_error(n, "'from' must be a duration or a date-time, not a list or map");
	if (fb_parse_duration(n->text, &r->from_rel) == 0)
		return 0;
	if (fb_parse_rfc3339(n->text, &r->from_rel) == 0) {
		r->from_abs = true;
		return 0;
	}
	return fb_ynode_error(n, "'from' must be a duration from the run's start ('6h') or an RFC 3339 "
	                      "date-time ('2026-06-01T06:00:00+02:00'), not '%s'", n->text);
}

/* A scalar or a list of scalars: calls fn for each. */
static int each_scalar(const struct fb_ynode *n, const char *what,
                       int (*fn)(void *ctx, const struct fb_ynode *item), void *ctx)
{
	if (n->kind == FB_Y_SCALAR)
		return fn(ctx, n);
	if (n->kind != FB_Y_SEQ)
		return fb_ynode_error(n, "%s must be a value or a list of values", what);
	int bad = 0;
	for (size_t i = 0; i < n->n; i++) {
		if (n->items[i]->kind != FB_Y_SCALAR)
			bad |= fb_ynode_error(n->items[i], "%s entries must be single values", what);
		else
			bad |= fn(ctx, n->items[i]);
	}
	return bad ? -1 : 0;
}

struct target_ctx {
	const struct fb_scenario *sc;
	bool *mask;         /* per fleet */
	uint32_t *devs;
	size_t ndevs, capdevs;
};

static int target_site(void *arg, const struct fb_ynode *n)
{
	struct target_ctx *c = arg;
	bool found = false;
	for (size_t i = 0; i < c->sc->nfleets; i++)
		if (!strcmp(c->sc->fleets[i].site->id, n->text))
			c->mask[i] = found = true;
	if (found)
		return 0;
	const char *ids[257];
	size_t k = 0;
	for (size_t i = 0; i < c->sc->nsites && k < 256; i++)
		ids[k++] = c->sc->sites[i].id;
	ids[k] = NULL;
	for (size_t i = 0; i < c->sc->nsites; i++)
		if (!strcmp(c->sc->sites[i].id, n->text))
			return fb_ynode_error(n, "site '%s' has no fleet", n->text);
	const char *hint = fb_suggest(n->text, ids);
	if (hint)
		return fb_ynode_error(n, "unknown site '%s' (did you mean '%s'?)", n->text, hint);
	return fb_ynode_error(n, "unknown site '%s'", n->text);
}

static int target_type(void *arg, const struct fb_ynode *n)
{
	struct target_ctx *c = arg;
	bool found = false;
	const char *names[257];
	size_t k = 0;
	for (size_t i = 0; i < c->sc->nfleets; i++) {
		if (!strcmp(c->sc->fleets[i].model->name, n->text))
			c->mask[i] = found = true;
		if (k < 256)
			names[k++] = c->sc->fleets[i].model->name;
	}
	names[k] = NULL;
	if (found)
		return 0;
	const char *hint = fb_suggest(n->text, names);
	if (hint)
		return fb_ynode_error(n, "no fleet of type '%s' (did you mean '%s'?)", n->text, hint);
	return fb_ynode_error(n, "no fleet of type '%s'", n->text);
}

static int target_fleet(void *arg, const struct fb_ynode *n)
{
	struct target_ctx *c = arg;
	int64_t v;
	if (fb_ynode_int(n, "'fleet'", 0, (int64_t)c->sc->nfleets - 1, &v) < 0)
		return -1;
	c->mask[v] = true;
	return 0;
}

static int target_device(void *arg, const struct fb_ynode *n)
{
	struct target_ctx *c = arg;
	const char *t = n->text, *dash = strrchr(t, '-');
	char *end = NULL;
	unsigned long long idx = 0;
	bool ok = false;
	if (dash && dash[1]) {
		idx = strtoull(dash + 1, &end, 10);
		ok = !*end && idx < c->sc->ndevices;
		if (ok) {
			const struct fb_fleet *f = fb_scenario_fleet_of(c->sc, (uint32_t)idx);
			ok = f && strlen(f->model->name) == (size_t)(dash - t) &&
			     !strncmp(f->model->name, t, (size_t)(dash - t));
		}
	} else if (t[0] >= '0' && t[0] <= '9') {
		idx = strtoull(t, &end, 10);
		ok = !*end && idx < c->sc->ndevices;
	}
	if (!ok)
		return fb_ynode_error(n, "unknown device '%s' (expected an id such as 'noise-000042' "
		                      "or a global index below %llu)", t,
		                      (unsigned long long)c->sc->ndevices);
	if (c->ndevs == c->capdevs) {
		size_t cap = c->capdevs ? 2 * c->capdevs : 16;
		uint32_t *d = realloc(c->devs, cap * sizeof *d);
		if (!d)
			return fb_error("out of memory");
		c->devs = d;
		c->capdevs = cap;
	}
	c->devs[c->ndevs++] = (uint32_t)idx;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool transport_carries(const char *list, const char *transport)
{
	if (!list)
		return true;
	if (!transport)
		return false;
	size_t n = strlen(transport);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && !strncmp(p, transport, n))
			return true;
		p += l + (e ? 1 : 0);
	}
	return false;
}

static int battery_field(const struct fb_model *m)
{
	for (unsigned i = 0; i < m->nfields; i++)
		if (!strncasecmp(m->fields[i].name, "battery", 7) &&
		    (m->fields[i].kind == FB_FIELD_NUMBER || m->fields[i].kind == FB_FIELD_INTEGER))
			return (int)i;
	return -1;
}

/* The field value faults act on: the model's main field, else its first field. */
static int first_number_field(const struct fb_model *m)
{
	int f = fb_model_main_field(m);
	return f >= 0 ? f : m->nfields ? 0 : -1;
}

static int parse_rule(const struct fb_scenario *sc, const struct fb_ynode *n, int fleet_only,
                      struct rule *out, unsigned index)
{
	struct fb_fault_rule *r = &out->pub;
	memset(out, 0, sizeof *out);
	r->index = index;
	r->line = n->line;
	r->col = n->col;
	r->fleet_only = fleet_only;
	r->rate = 1;
	r->field = -1;
	r->amount = NAN;
	r->backlog_max = 1000;
	r->copies = 1;
	r->delay = 10 * FB_US_PER_S;
	r->within = 60 * FB_US_PER_S;
	r->jitter = true;
	r->per_hour = NAN;
	r->exception = 4;
	r->until = FB_TIME_NEVER;
	if (fb_ynode_expect(n, FB_Y_MAP, "a fault") < 0)
		return -1;
	if (fb_ynode_check_keys(n, "fault", key_names) < 0)
		return -1;
	const struct fb_ynode *kn = fb_ynode_get(n, "kind");
	if (!kn)
		return fb_ynode_error(n, "a fault needs a 'kind' (e.g. 'kind: stuck')");
	int kind;
	if (fb_ynode_enum(kn, "fault kind", kind_names + 1, &kind) < 0)
		return -1;
	r->kind = (enum fb_fault_kind)(kind + 1);
	const struct kind_info *ki = &kinds[r->kind];
	out->per_sample = ki->per_sample;
	if (ki->not_yet)
		return fb_ynode_error(kn, "fault '%s' is not carried out yet (use %s)", kind_names[r->kind],
		                      ki->not_yet);
	int bad = 0;
	for (size_t i = 0; i < n->n; i++) {
		int k = 0;
		while (key_names[k] && strcmp(key_names[k], n->keys[i]->text))
			k++;
		if (!(ki->keys & B(k)))
			bad |= fb_ynode_error(n->keys[i], "'%s' does not apply to fault '%s'", key_names[k],
			                      kind_names[r->kind]);
	}
	if (bad)
		return -1;
	const struct fb_ynode *v;
	if ((v = fb_ynode_get(n, "rate"))) {
		if (fb_ynode_number(v, "'rate'", &r->rate) < 0)
			return -1;
		if (!(r->rate >= 0 && r->rate <= 1))
			return fb_ynode_error(v, "'rate' must be a probability in [0, 1], not %g", r->rate);
	}
	if ((v = fb_ynode_get(n, "from")) && parse_from(v, r) < 0)
		return -1;
	if ((v = fb_ynode_get(n, "for"))) {
		if (fb_ynode_duration(v, "'for'", &r->for_us) < 0)
			return -1;
		if (r->for_us <= 0)
			return fb_ynode_error(v, "'for' must be longer than zero");
		r->has_for = true;
	}
	if ((v = fb_ynode_get(n, "per_hour")) && fb_ynode_number(v, "'per_hour'", &r->per_hour) < 0)
		return -1;
	if (r->kind == FB_FAULT_CHURN) {
		if (isnan(r->per_hour))
			r->per_hour = 1;
		if (!(r->per_hour > 0 && r->per_hour <= 3600))
			return fb_ynode_error(v, "'per_hour' must be in (0, 3600]");
	}
	if ((v = fb_ynode_get(n, "magnitude"))) {
		if (fb_ynode_number(v, "'magnitude'", &r->amount) < 0)
			return -1;
		if (!(r->amount > 0))
			return fb_ynode_error(v, "'magnitude' must be greater than zero");
	}
	if ((v = fb_ynode_get(n, "skew")) && parse_signed_duration(v, "'skew'", &r->skew) < 0)
		return -1;
	if (r->kind == FB_FAULT_CLOCK_SKEW && !v)
		r->skew = FB_US_PER_H;
	if ((v = fb_ynode_get(n, "backlog"))) {
		int b;
		if (fb_ynode_enum(v, "'backlog'", backlog_names, &b) < 0)
			return -1;
		r->backlog = b == 1;
	}
	int64_t iv;
	if ((v = fb_ynode_get(n, "backlog_max"))) {
		if (fb_ynode_int(v, "'backlog_max'", 1, 1000000, &iv) < 0)
			return -1;
		r->backlog_max = (uint32_t)iv;
	}
	if ((v = fb_ynode_get(n, "copies"))) {
		if (fb_ynode_int(v, "'copies'", 1, 10, &iv) < 0)
			return -1;
		r->copies = (uint32_t)iv;
	}
	if ((v = fb_ynode_get(n, "exception"))) {
		if (fb_ynode_int(v, "'exception'", 1, 255, &iv) < 0)
			return -1;
		r->exception = (uint8_t)iv;
	}
	if ((v = fb_ynode_get(n, "delay"))) {
		if (fb_ynode_duration(v, "'delay'", &r->delay) < 0)
			return -1;
		if (r->delay < FB_US_PER_MS)
			return fb_ynode_error(v, "'delay' must be at least 1ms");
	}
	if ((v = fb_ynode_get(n, "within")) && fb_ynode_duration(v, "'within'", &r->within) < 0)
		return -1;
	if ((v = fb_ynode_get(n, "jitter")) && fb_ynode_bool(v, "'jitter'", &r->jitter) < 0)
		return -1;
	if ((v = fb_ynode_get(n, "mode"))) {
		int m;
		if (fb_ynode_enum(v, "'mode'", mode_names, &m) < 0)
			return -1;
		r->malformed = (enum fb_malformed_mode)m;
	}

	/* target: the fleets it may touch */
	size_t nf = sc->nfleets ? sc->nfleets : 1;
	struct target_ctx tc = { sc, calloc(nf, sizeof(bool)), NULL, 0, 0 };
	r->fleet_match = calloc(nf, sizeof(bool));
	out->fleet_field = malloc(nf * sizeof(int));
	if (!tc.mask || !r->fleet_match || !out->fleet_field) {
		free(tc.mask);
		return fb_error("out of memory");
	}
	for (size_t i = 0; i < sc->nfleets; i++)
		r->fleet_match[i] = fleet_only < 0 || (size_t)fleet_only == i;
	static const char *const selectors[] = { "site", "type", "fleet" };
	int (*const sel_fn[])(void *, const struct fb_ynode *) = { target_site, target_type, target_fleet };
	for (int s = 0; s < 3; s++) {
		if (!(v = fb_ynode_get(n, selectors[s])))
			continue;
		memset(tc.mask, 0, nf * sizeof(bool));
		char what[16];
		snprintf(what, sizeof what, "'%s'", selectors[s]);
		if (each_scalar(v, what, sel_fn[s], &tc) < 0) {
			free(tc.mask);
			return -1;
		}
		for (size_t i = 0; i < sc->nfleets; i++)
			r->fleet_match[i] = r->fleet_match[i] && tc.mask[i];
	}
	free(tc.mask);
	if ((v = fb_ynode_get(n, "devices"))) {
		if (each_scalar(v, "'devices'", target_device, &tc) < 0) {
			free(tc.devs);
			return -1;
		}
		qsort(tc.devs, tc.ndevs, sizeof *tc.devs, cmp_u32);
		r->devices = tc.devs;
		r->ndevices = tc.ndevs;
		/* only the fleets holding a listed device */
		for (size_t i = 0; i < sc->nfleets; i++) {
			bool any = false;
			for (size_t k = 0; k < tc.ndevs && !any; k++)
				any = tc.devs[k] >= sc->fleets[i].first &&
				      tc.devs[k] - sc->fleets[i].first < sc->fleets[i].count;
			r->fleet_match[i] = r->fleet_match[i] && any;
		}
	}
	/* the transport must carry the kind out */
	char needs[64] = "";
	for (const char *p2 = ki->transports; p2 && *p2;) {
		const char *e = strchr(p2, ' ');
		size_t l = e ? (size_t)(e - p2) : strlen(p2), k = strlen(needs);
		snprintf(needs + k, sizeof needs - k, "%s'%.*s'", k ? " or " : "", (int)l, p2);
		p2 += l + (e ? 1 : 0);
	}
	bool any = false;
	for (size_t i = 0; i < sc->nfleets; i++) {
		if (!r->fleet_match[i])
			continue;
		const struct fb_fleet *f = &sc->fleets[i];
		/* Sparkplug B payloads are stateful (seq, aliases, births): the MQTT transport does not
		 * corrupt, repeat or hold them back */
		bool stateful = f->codec && !strcmp(f->codec, "sparkplug") &&
		                (r->kind == FB_FAULT_MALFORMED || r->kind == FB_FAULT_DUPLICATE ||
		                 r->kind == FB_FAULT_DELAY);
		if (stateful) {
			if (fleet_only >= 0 || fb_ynode_get(n, "fleet") || fb_ynode_get(n, "devices"))
				return fb_ynode_error(kn, "fault '%s' cannot apply to a 'sparkplug' fleet "
				                      "(fleet %zu, '%s')", kind_names[r->kind], i, f->model->name);
			r->fleet_match[i] = false;
			continue;
		}
		if (!transport_carries(ki->transports, f->transport)) {
			if (fleet_only >= 0 || fb_ynode_get(n, "fleet") || fb_ynode_get(n, "devices"))
				return fb_ynode_error(kn, "fault '%s' needs a fleet with transport %s "
				                      "(fleet %zu, '%s', has %s%s%s)", kind_names[r->kind],
				                      needs, i, f->model->name,
				                      f->transport ? "'" : "", f->transport ? f->transport : "none",
				                      f->transport ? "'" : "");
			r->fleet_match[i] = false;
			continue;
		}
		any = true;
	}
	if (!any)
		return fb_ynode_error(n, "fault '%s' targets no device%s%s%s", kind_names[r->kind],
		                      ki->transports ? " (it needs a fleet with transport " : "",
		                      needs, ki->transports ? ")" : "");
	/* fields */
	const struct fb_ynode *fn = fb_ynode_get(n, "field");
	if (fn && fb_ynode_string(fn, "'field'", &r->field_name) < 0)
		return -1;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_model *m = sc->fleets[i].model;
		out->fleet_field[i] = -1;
		if (!r->fleet_match[i])
			continue;
		if (r->field_name) {
			int fi = fb_model_field_index(m, r->field_name);
			if (fi < 0) {
				const char *names[FB_MAX_FIELDS + 1];
				for (unsigned k = 0; k < m->nfields; k++)
					names[k] = m->fields[k].name;
				names[m->nfields] = NULL;
				const char *hint = fb_suggest(r->field_name, names);
				if (hint)
					return fb_ynode_error(fn, "type '%s' has no field '%s' (did you mean '%s'?)",
					                      m->name, r->field_name, hint);
				return fb_ynode_error(fn, "type '%s' has no field '%s'", m->name, r->field_name);
			}
			out->fleet_field[i] = fi;
		} else if (r->kind == FB_FAULT_BATTERY) {
			out->fleet_field[i] = battery_field(m);
		} else if (r->kind == FB_FAULT_SPIKE || r->kind == FB_FAULT_OUT_OF_RANGE ||
		           r->kind == FB_FAULT_INVALID) {
			out->fleet_field[i] = first_number_field(m);
		}
	}
	return 0;
}

static int parse_block(const struct fb_scenario *sc, const struct fb_ynode *block, int fleet_only,
                       struct fb_faults *f)
{
	if (block->kind != FB_Y_SEQ)
		return fb_ynode_error(block, "'faults' must be a list of faults ('- kind: stuck ...')");
	struct rule *nr = realloc(f->rules, (f->nrules + block->n + 1) * sizeof *nr);
	if (!nr)
		return fb_error("out of memory");
	f->rules = nr;
	int bad = 0;
	for (size_t i = 0; i < block->n; i++) {
		struct rule *r = &f->rules[f->nrules];
		if (parse_rule(sc, block->items[i], fleet_only, r, (unsigned)f->nrules) < 0) {
			free(r->pub.fleet_match);
			free(r->pub.devices);
			free(r->fleet_field);
			bad = -1;
			continue;
		}
		f->nrules++;
	}
	return bad;
}

int fb_faults_parse(const struct fb_scenario *sc, struct fb_faults **out)
{
	*out = NULL;
	bool any = sc->faults != NULL;
	for (size_t i = 0; i < sc->nfleets && !any; i++)
		any = sc->fleets[i].node && fb_ynode_get(sc->fleets[i].node, "faults");
	if (!any)
		return 0;
	struct fb_faults *f = calloc(1, sizeof *f);
	if (!f)
		return fb_error("out of memory");
	f->sc = sc;
	int bad = 0;
	if (sc->faults)
		bad |= parse_block(sc, sc->faults, -1, f);
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_ynode *b = sc->fleets[i].node ? fb_ynode_get(sc->fleets[i].node, "faults") : NULL;
		if (b)
			bad |= parse_block(sc, b, (int)i, f);
	}
	if (bad) {
		fb_faults_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

int fb_faults_check(const struct fb_scenario *sc)
{
	struct fb_faults *f;
	if (fb_faults_parse(sc, &f) < 0)
		return -1;
	fb_faults_free(f);
	return 0;
}

static void release_state(struct rule *r)
{
	free(r->stuck);
	free(r->fleet_off);
	free(r->stuck_have);
	free(r->rebooted);
	free(r->head);
	free(r->tail);
	free(r->nheld);
	free(r->pool);
	r->stuck = NULL;
	r->fleet_off = NULL;
	r->stuck_have = r->rebooted = NULL;
	r->head = r->tail = r->nheld = NULL;
	r->pool = NULL;
	r->nslots = r->capslots = 0;
}

void fb_faults_free(struct fb_faults *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nrules; i++) {
		release_state(&f->rules[i]);
		free(f->rules[i].pub.fleet_match);
		free(f->rules[i].pub.devices);
		free(f->rules[i].fleet_field);
	}
	free(f->rules);
	free(f->seq_base);
	free(f);
}

/* ---- binding ---- */

int fb_faults_bind(struct fb_faults *f, fb_time_us start, fb_time_us end, uint32_t first,
                   uint32_t count)
{
	const struct fb_scenario *sc = f->sc;
	f->start = start;
	f->end = end;
	f->first = first;
	f->count = count;
	f->finished = false;
	memset(f->counts, 0, sizeof f->counts);
	free(f->seq_base);
	f->seq_base = NULL;
	size_t n = count ? count : 1;
	for (size_t i = 0; i < f->nrules; i++) {
		struct rule *r = &f->rules[i];
		struct fb_fault_rule *p = &r->pub;
		release_state(r);
		p->from = p->from_abs ? p->from_rel : start + p->from_rel;
		p->until = p->has_for ? p->from + p->for_us : FB_TIME_NEVER;
		switch (p->kind) {
		case FB_FAULT_STUCK: {
			size_t total = 0;
			if (!(r->fleet_off = calloc(sc->nfleets ? sc->nfleets : 1, sizeof *r->fleet_off)))
				goto oom;
			for (size_t k = 0; k < sc->nfleets; k++) {
				const struct fb_fleet *fl = &sc->fleets[k];
				uint32_t lo = fl->first > first ? fl->first : first;
				uint32_t hi = fl->first + fl->count < first + count ? fl->first + fl->count : first + count;
				r->fleet_off[k] = total;
				if (p->fleet_match[k] && hi > lo)
					total += (size_t)(hi - lo) * fl->model->nfields;
			}
			if (!(r->stuck = malloc((total ? total : 1) * sizeof *r->stuck)) ||
			    !(r->stuck_have = calloc(n, 1)))
				goto oom;
			break;
		}
		case FB_FAULT_REBOOT:
			if (!(r->rebooted = calloc(n, 1)))
				goto oom;
			if (!f->seq_base && !(f->seq_base = calloc(n, sizeof *f->seq_base)))
				goto oom;
			break;
		case FB_FAULT_OFFLINE:
			if (!p->backlog)
				break;
			r->maxnf = 1;
			for (size_t k = 0; k < sc->nfleets; k++)
				if (p->fleet_match[k] && sc->fleets[k].model->nfields > r->maxnf)
					r->maxnf = sc->fleets[k].model->nfields;
			r->slot_size = sizeof(struct held) + r->maxnf * sizeof(double);
			r->free_slot = UINT32_MAX;
			if (!(r->head = malloc(n * sizeof *r->head)) || !(r->tail = malloc(n * sizeof *r->tail)) ||
			    !(r->nheld = calloc(n, sizeof *r->nheld)))
				goto oom;
			memset(r->head, 0xff, n * sizeof *r->head);
			memset(r->tail, 0xff, n * sizeof *r->tail);
			break;
		default:
			break;
		}
	}
	return 0;
oom:
	return fb_error("out of memory setting up faults for %u devices (try more shards: --shard i/N)",
	                count);
}

/* ---- decisions ---- */

static inline double unit_draw(const struct fb_faults *f, uint32_t device, uint32_t purpose_hi,
                               unsigned rule, uint64_t n)
{
	return fb_unit(fb_hash64(f->sc->seed, device, FB_RNG_FAULTS | purpose_hi,
	                         ((uint64_t)(rule + 1) << 40) ^ n));
}

static bool in_devices(const struct fb_fault_rule *r, uint32_t device)
{
	size_t lo = 0, hi = r->ndevices;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->devices[mid] < device)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->ndevices && r->devices[lo] == device;
}

/* Fleet and device list (not the rate). */
static inline bool targets_device(const struct fb_fault_rule *r, uint32_t fleet, uint32_t device)
{
	return r->fleet_match[fleet] && (!r->devices || in_devices(r, device));
}

static inline bool device_selected(const struct fb_faults *f, const struct rule *r, uint32_t device)
{
	return r->pub.rate >= 1 || unit_draw(f, device, 0, r->pub.index, 1ull << 39) < r->pub.rate;
}

bool fb_fault_targets(const struct fb_faults *f, const struct fb_fault_rule *r, uint32_t device)
{
	const struct fb_fleet *fl = fb_scenario_fleet_of(f->sc, device);
	if (!fl || !targets_device(r, fl->index, device))
		return false;
	const struct rule *rr = (const struct rule *)r;
	return rr->per_sample || device_selected(f, rr, device);
}

fb_time_us fb_faults_window_end(const struct fb_faults *f, enum fb_fault_kind kind, uint32_t device,
                                fb_time_us t)
{
	for (size_t i = 0; f && i < f->nrules; i++) {
		const struct fb_fault_rule *r = &f->rules[i].pub;
		if (r->kind == kind && t >= r->from && t < r->until && fb_fault_targets(f, r, device))
			return r->until;
	}
	return t;
}

double fb_fault_draw(const struct fb_faults *f, const struct fb_fault_rule *r, uint32_t device,
                     uint64_t n)
{
	return unit_draw(f, device, 2u << 16, r->index, n);
}

size_t fb_faults_nrules(const struct fb_faults *f) { return f ? f->nrules : 0; }
const struct fb_fault_rule *fb_faults_rule(const struct fb_faults *f, size_t i) { return &f->rules[i].pub; }

void fb_faults_add(struct fb_faults *f, enum fb_fault_kind kind, uint64_t n)
{
	if (f && kind > FB_FAULT_NONE && kind < FB_FAULT_NKINDS)
		f->counts[kind] += n;
}

uint64_t fb_faults_count(const struct fb_faults *f, enum fb_fault_kind kind)
{
	return f && kind > FB_FAULT_NONE && kind < FB_FAULT_NKINDS ? f->counts[kind] : 0;
}

bool fb_faults_has(const struct fb_faults *f, enum fb_fault_kind kind)
{
	for (size_t i = 0; f && i < f->nrules; i++)
		if (f->rules[i].pub.kind == kind)
			return true;
	return false;
}

static double quantize_free(const struct fb_field *fd, double v)
{
	/* like fb_field_quantize, without the clamp (out_of_range must stay out) */
	if (fd->kind == FB_FIELD_NUMBER && fd->resolution > 0)
		return round(v / fd->resolution) * fd->resolution;
	return round(v);
}

/* ---- backlog ---- */

static struct held *slot(struct rule *r, uint32_t i)
{
	return (struct held *)(r->pool + (size_t)i * r->slot_size);
}

static uint32_t slot_alloc(struct rule *r)
{
	if (r->free_slot != UINT32_MAX) {
		uint32_t i = r->free_slot;
		r->free_slot = slot(r, i)->next;
		return i;
	}
	if (r->nslots == r->capslots) {
		size_t cap = r->capslots ? 2 * r->capslots : 256;
		if (cap > UINT32_MAX - 1)
			return UINT32_MAX;
		unsigned char *p = realloc(r->pool, cap * r->slot_size);
		if (!p)
			return UINT32_MAX;
		r->pool = p;
		r->capslots = cap;
	}
	return (uint32_t)r->nslots++;
}

static void emit_held(struct fb_faults *f, struct rule *r, uint32_t i, uint16_t flags,
                      fb_fault_sink_fn sink, void *arg)
{
	struct held *h = slot(r, i);
	const struct fb_fleet *fl = &f->sc->fleets[h->fleet];
	struct fb_sample s = { .fleet = fl, .model = fl->model, .device = h->device, .seq = h->seq,
	                       .t = h->t, .values = (const double *)(h + 1),
	                       .fault = FB_FAULT_OFFLINE, .flags = flags };
	f->counts[FB_FAULT_OFFLINE]++;
	if (sink)
		sink(arg, &s);
}

/* Pops a device's oldest held sample into the trace (flags say sent late or lost). */
static void pop_held(struct fb_faults *f, struct rule *r, uint32_t local, uint16_t flags,
                     fb_fault_sink_fn sink, void *arg)
{
	uint32_t i = r->head[local];
	emit_held(f, r, i, flags, sink, arg);
	r->head[local] = slot(r, i)->next;
	if (r->head[local] == UINT32_MAX)
		r->tail[local] = UINT32_MAX;
	r->nheld[local]--;
	slot(r, i)->next = r->free_slot;
	r->free_slot = i;
}

static void hold(struct fb_faults *f, struct rule *r, uint32_t local, const struct fb_sample *s,
                 const double *values, fb_fault_sink_fn sink, void *arg)
{
	if (r->nheld[local] >= r->pub.backlog_max)
		pop_held(f, r, local, FB_SAMPLE_UNSENT, sink, arg);    /* the oldest is overwritten */
	uint32_t i = slot_alloc(r);
	if (i == UINT32_MAX) {
		/* out of memory: the sample is lost, as a device with a full buffer loses it */
		struct fb_sample lost = *s;
		lost.fault = FB_FAULT_OFFLINE;
		lost.flags = FB_SAMPLE_UNSENT;
		f->counts[FB_FAULT_OFFLINE]++;
		if (sink)
			sink(arg, &lost);
		return;
	}
	struct held *h = slot(r, i);
	h->device = s->device;
	h->seq = s->seq;
	h->t = s->t;
	h->fleet = s->fleet->index;
	h->next = UINT32_MAX;
	memcpy(h + 1, values, s->model->nfields * sizeof(double));
	if (r->tail[local] == UINT32_MAX)
		r->head[local] = i;
	else
		slot(r, r->tail[local])->next = i;
	r->tail[local] = i;
	r->nheld[local]++;
}

/* ---- the engine's hook ---- */

void fb_faults_emit(struct fb_faults *f, struct fb_sample *s, double *values, fb_fault_sink_fn sink,
                    void *arg)
{
	const uint32_t d = s->device, local = d - f->first, fi = s->fleet->index;
	const struct fb_model *m = s->model;
	const fb_time_us t = s->t;
	const uint32_t raw_seq = s->seq;
	enum fb_fault_kind mark = FB_FAULT_NONE;
	uint16_t flags = 0;
	bool held = false;
	fb_time_us skew = 0;
	memcpy(f->raw, values, m->nfields * sizeof *values);
	if (f->seq_base)
		s->seq = raw_seq - f->seq_base[local];
	/* two passes: faults that keep a sample from arriving (offline, battery, a dark site) come
	 * first, so such a sample never carries another fault; then the rest in file order */
	for (size_t i = 0; i < 2 * f->nrules; i++) {
		struct rule *r = &f->rules[i % f->nrules];
		const struct fb_fault_rule *p = &r->pub;
		bool silencing = p->kind == FB_FAULT_OFFLINE || p->kind == FB_FAULT_BATTERY ||
		                 p->kind == FB_FAULT_SITE_DARK;
		if (silencing != (i < f->nrules))
			continue;
		if (t < p->from || !targets_device(p, fi, d))
			continue;
		bool in = t < p->until;
		if (r->per_sample) {
			if (!in || mark || !(unit_draw(f, d, 0, p->index, raw_seq) < p->rate))
				continue;
		} else if (!device_selected(f, r, d)) {
			continue;
		}
		int fld = r->fleet_field[fi];
		switch (p->kind) {
		case FB_FAULT_STUCK: {
			if (!in)
				break;
			double *sv = r->stuck + r->fleet_off[fi] +
			             (size_t)(d - (s->fleet->first > f->first ? s->fleet->first : f->first)) * m->nfields;
			if (!r->stuck_have[local]) {
				memcpy(sv, f->raw, m->nfields * sizeof *sv);
				r->stuck_have[local] = 1;
			}
			if (mark)
				break;
			if (fld >= 0)
				values[fld] = sv[fld];
			else
				memcpy(values, sv, m->nfields * sizeof *values);
			mark = p->kind;
			break;
		}
		case FB_FAULT_DRIFT: {
			if (!in || mark)
				break;
			double hours = (double)(t - p->from) / (double)FB_US_PER_H;
			for (unsigned k = 0; k < m->nfields; k++) {
				const struct fb_field *fd = &m->fields[k];
				if (fld >= 0 ? (int)k != fld : fd->kind != FB_FIELD_NUMBER)
					continue;
				double rate = isnan(p->per_hour) ? 0.01 * (fd->max - fd->min) : p->per_hour;
				values[k] = fb_field_quantize(fd, values[k] + rate * hours);
			}
			mark = p->kind;
			break;
		}
		case FB_FAULT_SPIKE: {
			if (fld < 0)
				break;
			const struct fb_field *fd = &m->fields[fld];
			double mag = isnan(p->amount) ? 0.25 * (fd->max - fd->min) : p->amount;
			double sign = unit_draw(f, d, 1u << 16, p->index, raw_seq) < 0.5 ? -1 : 1;
			double v = values[fld] + sign * mag;
			if (v > fd->max || v < fd->min)
				v = values[fld] - sign * mag;     /* the other way stays in range */
			values[fld] = fb_field_quantize(fd, v);
			mark = p->kind;
			break;
		}
		case FB_FAULT_OUT_OF_RANGE: {
			if (fld < 0)
				break;
			const struct fb_field *fd = &m->fields[fld];
			double span = fd->max - fd->min, step = fd->resolution > 0 ? fd->resolution : 1;
			double beyond = fmax(0.1 * span, 10 * step);
			bool above = unit_draw(f, d, 1u << 16, p->index, raw_seq) < 0.5 || fd->min == 0;
			values[fld] = quantize_free(fd, above ? fd->max + beyond : fd->min - beyond);
			mark = p->kind;
			break;
		}
		case FB_FAULT_INVALID:
			if (fld < 0)
				break;
			values[fld] = NAN;
			mark = p->kind;
			break;
		case FB_FAULT_BATTERY:
			if (mark)
				break;
			if (in && p->until != FB_TIME_NEVER) {
				if (fld < 0)
					break;         /* no battery field: silence only after the window */
				const struct fb_field *fd = &m->fields[fld];
				double left = (double)(p->until - t) / (double)(p->until - p->from);
				values[fld] = fb_field_quantize(fd, fd->min + (values[fld] - fd->min) * left);
			} else {
				flags |= FB_SAMPLE_UNSENT;   /* drained: silent to the end */
			}
			mark = p->kind;
			break;
		case FB_FAULT_OFFLINE:
			if (!in) {
				/* back: the backlog goes first, with its original times */
				while (r->nheld && r->nheld[local])
					pop_held(f, r, local, FB_SAMPLE_LATE, sink, arg);
				break;
			}
			if (mark)
				break;
			if (p->backlog)
				held = true;
			else
				flags |= FB_SAMPLE_UNSENT;
			mark = p->kind;
			break;
		case FB_FAULT_CLOCK_SKEW:
			if (!in || mark)
				break;
			skew = p->skew;
			mark = p->kind;
			break;
		case FB_FAULT_REBOOT: {
			if (mark || r->rebooted[local])
				break;
			/* the reboot instant: uniform in the window, or at `from` for an open window; the
			 * device's first sample at or after it shows it (even past the window) */
			fb_time_us at = p->from;
			if (p->until != FB_TIME_NEVER)
				at += (fb_time_us)(unit_draw(f, d, 1u << 16, p->index, 0) * (double)(p->until - p->from));
			if (t < at)
				break;
			r->rebooted[local] = 1;
			f->seq_base[local] = raw_seq;
			s->seq = 0;
			mark = p->kind;
			break;
		}
		case FB_FAULT_MODBUS_EXCEPTION:    /* a request's fate, not a sample's: not marked */
		case FB_FAULT_SITE_DARK:
		case FB_FAULT_RECONNECT_STORM:
		case FB_FAULT_CHURN:
			/* connection-level: carried out by the transport; lines in a dark window are marked */
			if (p->kind == FB_FAULT_SITE_DARK && in && !mark)
				mark = p->kind;
			break;
		default:
			/* per-sample payload and network faults: the transport acts on the mark */
			mark = p->kind;
			break;
		}
	}
	s->fault = (uint16_t)mark;
	s->flags = flags;
	s->t = t + skew;
	if (held) {
		struct rule *r = NULL;
		for (size_t i = 0; i < f->nrules && !r; i++)
			if (f->rules[i].pub.kind == FB_FAULT_OFFLINE && f->rules[i].pub.backlog &&
			    t >= f->rules[i].pub.from && t < f->rules[i].pub.until &&
			    targets_device(&f->rules[i].pub, fi, d) && device_selected(f, &f->rules[i], d))
				r = &f->rules[i];
		hold(f, r, local, s, values, sink, arg);
		return;
	}
	if (mark)
		f->counts[mark]++;
	if (sink)
		sink(arg, s);
}

void fb_faults_finish(struct fb_faults *f, fb_fault_sink_fn sink, void *arg)
{
	if (f->finished)
		return;
	f->finished = true;
	/* backlogs of devices that never came back: lost, in device order */
	for (size_t i = 0; i < f->nrules; i++) {
		struct rule *r = &f->rules[i];
		if (!r->nheld)
			continue;
		for (uint32_t local = 0; local < f->count; local++)
			while (r->nheld[local])
				pop_held(f, r, local, FB_SAMPLE_UNSENT, sink, arg);
	}
}
