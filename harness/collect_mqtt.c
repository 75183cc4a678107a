/* The MQTT collector (harness/collect.h): a subscriber on the bench's own MQTT client
 * (protocols/mqtt/client.h), on the run's loop, that decodes what the fleet published and hands
 * one observation per message to the sink.
 *
 * - Subscriptions: cfg->topic_filter, or filters derived from this shard's MQTT fleets: the
 *   `topic` template with {site} and {type} the fleet's and other placeholders '+' (then, if
 *   that is more filters than a connection holds, {site} only, then every placeholder '+'),
 *   /ul/<apikey>/+/attrs and /json/<apikey>/+/attrs for the FIWARE codecs, spBv1.0/<group>/#
 *   for Sparkplug B (spBv1.0/<group>/+/<site>/# per site with per-site connections); duplicates
 *   and filters another one covers are dropped (a broker may deliver a message once per
 *   matching subscription). Narrow filters spare a shard the other shards' messages. QoS 1, MQTT 5 with a Receive Maximum of 65535 and a session that
 *   outlives a reconnect, so the broker neither drops nor forgets for us.
 * - Ready once each connection has received its own probe message back (published after
 *   CONNACK on a topic of its own): the broker processes SUBSCRIBE before that PUBLISH, so the
 *   subscriptions are live from then on.
 * - Per message: the device from the topic (Sparkplug: its device level; otherwise the last
 *   level that is a device id of the scenario, through a hash map over this shard's MQTT
 *   devices), else from the payload's id (json "id", SenML base name); decoded with the device's
 *   fleet's codec; key = the carried timestamp in ms (what the transport declared).
 * - Sparkplug B: DDATA carries only the metrics that changed, so each device's last values
 *   (from its DBIRTH and DDATA) complete the observation; aliases are learnt from the DBIRTH.
 *   A DBIRTH carries the device's first sample of a session, so it is observed when its
 *   timestamp is newer than anything seen from the device (a rebirth repeats the last sample and
 *   is only counted). NBIRTH, NDEATH, DDEATH, commands and STATE are counted, not observed.
 * - Undecodable payloads and unknown devices are observations with flags (logged once per kind);
 *   devices of other shards are counted as foreign and not observed.
 * - Retained messages delivered on subscribing (RETAIN set: an earlier run's) are counted and
 *   ignored.
 * Nothing is allocated per message. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness/collect.h"
#include "protocols/codec.h"
#include "protocols/codecs/dec.h"
#include "protocols/codecs/senml.h"
#include "protocols/codecs/sparkplug.h"
#include "protocols/mqtt/client.h"
#include "sim/log.h"

#define NCONN 1                 /* one subscriber keeps up at 50 000 msg/s (harness/bench.sh) */
#define MAX_FILTERS (FB_MQTT_MAX_TOPICS - 1)   /* one slot for the probe */
#define TOPIC_LEVELS 16
#define VALIDATE_DEVICES 256         /* Sparkplug devices validate keeps state for (power of 2) */
#define VALIDATE_ID 64

enum { SPB_NONE = 0, SPB_KNOWN = 1 };

/* A Sparkplug device's state: its last values, which of them are known, its aliases. */
struct spb_dev {
	uint64_t known;             /* bit i: values[i] holds the last value of field i */
	uint64_t alias_base;
	uint64_t last_key;          /* newest sample key observed + 1 (0: none) */
	double *values;
};

struct fb_collector {
	struct fb_collect_env env;
	struct fb_collect_cfg cfg;
	struct fb_mqtt_pool *pool;
	char tls_host[256];          /* the pool keeps a pointer to it (SNI, verification) */
	struct fb_mqtt_conn *conns[NCONN];
	bool conn_ready[NCONN];
	char *filters[FB_MQTT_MAX_TOPICS + 1];
	size_t nfilters;
	char probe_topic[NCONN][160];
	/* the device map: this shard's devices on MQTT fleets, by id (open addressing; slot value
	 * global index + 1, 0 empty; the id is re-rendered with fb_device_id to compare) */
	uint32_t *map;
	size_t map_mask;
	/* per fleet: its codec (NULL when the fleet is not on mqtt) */
	const struct fb_codec **fleet_codec;
	const struct fb_codec *probe_codec[2];   /* json / senml when a fleet uses them */
	/* Sparkplug devices of this shard: spb[index - first_device] (values NULL: not Sparkplug) */
	struct spb_dev *spb;
	double *spb_values;
	/* validate mode (no scenario) */
	const struct fb_codec *vcodec;
	char *vdev_ids;              /* Sparkplug: VALIDATE_DEVICES ids of VALIDATE_ID bytes, for spb[] */
	/* counters */
	uint64_t msgs, bytes, observed, undecodable, bad_field, unknown, foreign, other_topic;
	uint64_t spb_births, spb_rebirths, spb_deaths, spb_node, retained;
	bool logged_undecodable, logged_unknown, logged_foreign, logged_bad_field, logged_other;
	char detail[224];            /* an observation's precise detail (valid during the sink call) */
};

/* ---- device ids ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
	return h;
}

static bool id_is(const struct fb_collector *c, uint32_t device, const char *s, size_t n)
{
	const struct fb_fleet *f = fb_scenario_fleet_of(c->env.scenario, device);
	char id[96];
	if (!f || fb_device_id(f->model, device, id, sizeof id) != n)
		return false;
	return memcmp(id, s, n) == 0;
}

static void map_put(struct fb_collector *c, uint32_t device, const char *id, size_t n)
{
	for (size_t i = hash_bytes(id, n) & c->map_mask;; i = (i + 1) & c->map_mask)
		if (!c->map[i]) {
			c->map[i] = device + 1;
			return;
		}
}

/* The global index of id s[0..n) among this shard's MQTT devices, or UINT32_MAX. */
static uint32_t map_get(const struct fb_collector *c, const char *s, size_t n)
{
	if (!c->map)
		return UINT32_MAX;
	for (size_t i = hash_bytes(s, n) & c->map_mask; c->map[i]; i = (i + 1) & c->map_mask)
		if (id_is(c, c->map[i] - 1, s, n))
			return c->map[i] - 1;
	return UINT32_MAX;
}

#define NOT_A_DEVICE (UINT32_MAX - 1)

/* True when type[0..n) is the type of one of the scenario's fleets. */
static bool looks_like_device(const struct fb_collector *c, const char *type, size_t n)
{
	for (size_t i = 0; i < c->env.scenario->nfleets; i++) {
		const char *name = c->env.scenario->fleets[i].model->name;
		if (strlen(name) == n && !memcmp(name, type, n))
			return true;
	}
	return false;
}

/* A device id of the scenario outside this shard's map ("<type>-<index>" of a fleet of that
 * type): its global index; NOT_A_DEVICE for an id of a scenario type that names no device
 * ("noise-999999"); else UINT32_MAX. */
static uint32_t scenario_device(const struct fb_collector *c, const char *s, size_t n)
{
	const char *dash = NULL;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '-')
			dash = s + i;
	if (!dash || dash + 1 == s + n || s + n - dash - 1 > 10)
		return UINT32_MAX;
	uint64_t v = 0;
	for (const char *p = dash + 1; p < s + n; p++) {
		if (*p < '0' || *p > '9')
			return UINT32_MAX;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v >= c->env.scenario->ndevices || !id_is(c, (uint32_t)v, s, n))
		return looks_like_device(c, s, (size_t)(dash - s)) ? NOT_A_DEVICE : UINT32_MAX;
	return (uint32_t)v;
}

/* ---- subscriptions ---- */

/* True when filter a matches every topic filter b matches (MQTT §4.7 wildcards). */
static bool filter_covers(const char *a, const char *b)
{
	while (*a && *b) {
		if (a[0] == '#')
			return true;
		size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
		bool plus = la == 1 && a[0] == '+';
		if (!plus && (la != lb || memcmp(a, b, la) || (lb == 1 && (b[0] == '+' || b[0] == '#'))))
			return false;
		if (plus && lb == 1 && b[0] == '#')
			return false;
		a += la;
		b += lb;
		if (*a != *b)
			return *a == '/' && !strcmp(a, "/#") && !*b;
		if (*a)
			a++, b++;
	}
	return !*a && !*b;
}

static int add_filter(struct fb_collector *c, const char *f)
{
	for (size_t i = 0; i < c->nfilters; i++)
		if (filter_covers(c->filters[i], f))
			return 0;
	/* the new one may cover some already there */
	for (size_t i = 0; i < c->nfilters; )
		if (filter_covers(f, c->filters[i])) {
			free(c->filters[i]);
			c->filters[i] = c->filters[--c->nfilters];
		} else {
			i++;
		}
	if (c->nfilters == MAX_FILTERS)
		return -2;   /* the caller widens the filters */
	if (!(c->filters[c->nfilters++] = strdup(f)))
		return fb_error("out of memory");
	return 0;
}

/* The topic template with each level that holds a placeholder replaced by '+'. */
/* The filter of topic template tmpl for fleet f: a level holding {device}, {index} or {shard}
 * (or any placeholder when f is NULL) becomes '+'; with f, {site} and {type} take f's values
 * (only {site} when !with_type), so a shard subscribes to what its own fleets publish. */
static int template_filter(const char *tmpl, const struct fb_fleet *f, bool with_type, char *out,
                           size_t cap)
{
	size_t n = 0;
	for (const char *p = tmpl; ; ) {
		size_t l = strcspn(p, "/");
		bool wild = false;
		for (const char *q = memchr(p, '{', l); q && !wild; q = memchr(q + 1, '{', l - (size_t)(q + 1 - p)))
			wild = !f || !(!strncmp(q, "{site}", 6) || (with_type && !strncmp(q, "{type}", 6)));
		if (wild) {
			if (n + 3 > cap)
				return -1;
			out[n++] = '+';
		} else {
			for (size_t i = 0; i < l; ) {
				const char *v = NULL;
				size_t skip = 1;
				if (f && !strncmp(p + i, "{site}", 6)) {
					v = f->site->id;
					skip = 6;
				} else if (f && !strncmp(p + i, "{type}", 6)) {
					v = f->model->name;
					skip = 6;
				}
				size_t vl = v ? strlen(v) : 1;
				if (n + vl + 2 > cap)
					return -1;
				memcpy(out + n, v ? v : p + i, vl);
				n += vl;
				i += skip;
			}
		}
		p += l;
		if (!*p)
			break;
		out[n++] = '/';
		p++;
	}
	out[n] = '\0';
	return 0;
}

static const char *yaml_string(const struct fb_ynode *map, const char *key, const char *def)
{
	const struct fb_ynode *n = fb_ynode_get(map, key);
	return n && n->kind == FB_Y_SCALAR && n->text ? n->text : def;
}

/* Filters at a level of detail: 0 each of this shard's fleets by site and type, 1 by site, 2 the
 * template's shape (every placeholder '+'), 3 also every FIWARE API key '+'. A level whose
 * filters do not fit on one connection falls to the next: narrower filters spare the collector
 * the other shards' (and other publishers') messages. */
static int derive_filters(struct fb_collector *c, int level)
{
	const struct fb_scenario *sc = c->env.scenario;
	const struct fb_ynode *mq = fb_ynode_get(sc->transports, "mqtt");
	const char *tmpl = yaml_string(mq, "topic", "fleetbench/{site}/{type}/{device}");
	const char *group = yaml_string(mq, "group", "fleetbench");
	bool per_site = !strcmp(yaml_string(mq, "connection", "per-device"), "per-site");
	uint64_t first = c->env.first_device, end = first + c->env.device_count;
	char buf[512];
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		const struct fb_codec *codec = c->fleet_codec[i];
		if (!codec || (c->env.device_count && (f->first >= end || f->first + (uint64_t)f->count <= first)))
			continue;
		const char *apikey = f->params_node ? yaml_string(f->params_node, "apikey", NULL) : NULL;
		if (!strcmp(codec->name, "ul") || !strcmp(codec->name, "fiware-json"))
			snprintf(buf, sizeof buf, "/%s/%s/+/attrs", codec->name[0] == 'u' ? "ul" : "json",
			         apikey && level < 3 ? apikey : "+");
		else if (!strcmp(codec->name, "sparkplug") && per_site && level < 2)
			snprintf(buf, sizeof buf, "spBv1.0/%s/+/%s/#", group, f->site->id);   /* its edge node */
		else if (!strcmp(codec->name, "sparkplug"))
			snprintf(buf, sizeof buf, "spBv1.0/%s/#", group);
		else if (template_filter(tmpl, level < 2 ? f : NULL, level == 0, buf, sizeof buf))
			return fb_error("the mqtt topic template '%s' is too long for a filter", tmpl);
		int rc = add_filter(c, buf);
		if (rc == -2 && level < 3) {
			for (size_t k = 0; k < c->nfilters; k++)
				free(c->filters[k]);
			c->nfilters = 0;
			return derive_filters(c, level + 1);
		}
		if (rc)
			return rc == -2 ? fb_error("the mqtt collector needs more than %d topic filters; give "
			                           "one with --collect-topic", MAX_FILTERS) : -1;
	}
	return 0;
}

/* ---- observations ---- */

static void log_once(bool *flag, const char *what, const struct fb_mqtt_packet *p)
{
	if (fb_first_time(flag))
		fb_warn("mqtt collector: %s on '%.*s' (further ones counted)", what,
		        (int)(p->topic.len > 160 ? 160 : p->topic.len), (const char *)p->topic.p);
}

/* Splits a topic into levels (at most TOPIC_LEVELS); returns their number. */
static size_t split_levels(const uint8_t *t, size_t n, const char *lv[], size_t len[])
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= n && k < TOPIC_LEVELS; i++)
		if (i == n || t[i] == '/') {
			lv[k] = (const char *)t + start;
			len[k++] = i - start;
			start = i + 1;
		}
	return k;
}

static void sink(struct fb_collector *c, struct fb_obs *o)
{
	o->proto = "mqtt";
	o->recv_wall = fb_wall_now_us();
	c->observed++;
	c->env.sink(c->env.sink_arg, o);
}

/* SenML: the decoder refuses a pack with a field in a unit that is not the field's. Scans a
 * refused pack again for such a record and names it in c->detail (no allocation; only on the
 * failure path); NULL when every unit is right (the pack failed for another reason). */
static const char *senml_unit_detail(struct fb_collector *c, const struct fb_model *m,
                                     const uint8_t *buf, size_t len)
{
	struct fb_jscan j;
	struct fb_jval v;
	char key[16], bn[96] = "", n[96], u[32], resolved[192];
	size_t klen;
	fb_jscan_init(&j, buf, len);
	if (!m || !fb_jscan_eat(&j, '['))
		return NULL;
	do {
		if (!fb_jscan_eat(&j, '{'))
			return NULL;
		n[0] = u[0] = '\0';
		if (!fb_jscan_eat(&j, '}')) {
			do {
				if (fb_jscan_string(&j, key, sizeof key, &klen) || !fb_jscan_eat(&j, ':') ||
				    fb_jscan_value(&j, &v))
					return NULL;
				if (v.kind == FB_J_OBJECT || v.kind == FB_J_ARRAY) {
					if (fb_jscan_skip_rest(&j))
						return NULL;
				} else if (v.kind == FB_J_STRING) {
					char *to = !strcmp(key, "bn") ? bn : !strcmp(key, "n") ? n : !strcmp(key, "u") ? u : NULL;
					size_t cap = to == u ? sizeof u : sizeof bn;
					if (to && v.len < cap)
						memcpy(to, v.str, v.len + 1);
				}
			} while (fb_jscan_eat(&j, ','));
			if (!fb_jscan_eat(&j, '}'))
				return NULL;
		}
		if (!u[0])
			continue;
		snprintf(resolved, sizeof resolved, "%s%s", bn, n);      /* RFC 8428 §4.6 */
		const char *colon = strrchr(resolved, ':');
		const char *field = colon ? colon + 1 : resolved;
		int fi = fb_dec_field(m, field, strlen(field));
		if (fi < 0)
			continue;
		const struct fb_field *f = &m->fields[fi];
		const char *want = fb_senml_unit(f->unit);
		if (want && !strcmp(u, want))
			continue;
		if (!want)
			snprintf(c->detail, sizeof c->detail, "unit '%s' for field '%s', which carries none",
			         u, f->name);
		else if (strcmp(want, f->unit))
			snprintf(c->detail, sizeof c->detail, "unit '%s' for field '%s', expected '%s' (the "
			         "profile's '%s')", u, f->name, want, f->unit);
		else
			snprintf(c->detail, sizeof c->detail, "unit '%s' for field '%s', expected '%s'", u,
			         f->name, want);
		return c->detail;
	} while (fb_jscan_eat(&j, ','));
	return NULL;
}

/* An observation of a device whose payload could not be read at all. */
static void observe_undecodable(struct fb_collector *c, uint32_t device, const char *id,
                                const struct fb_model *m, const struct fb_codec *codec, int rc,
                                const struct fb_mqtt_packet *p)
{
	c->undecodable++;
	log_once(&c->logged_undecodable, "undecodable payload", p);
	const char *detail = NULL;
	if (codec && codec->decode_sample == fb_senml_decode_sample)
		detail = senml_unit_detail(c, m, p->payload.p, p->payload.len);
	struct fb_obs o = { .device = device, .device_id = id, .model = m, .seq = -1,
	                    .ts = FB_TIME_NEVER, .flags = FB_OBS_UNDECODABLE,
	                    .detail = detail ? detail : fb_codec_strerror(rc) };
	sink(c, &o);
}

static void observe(struct fb_collector *c, uint32_t device, const char *id,
                    const struct fb_model *m, struct fb_decoded *d, int rc, uint32_t flags,
                    const struct fb_mqtt_packet *p)
{
	uint64_t all = m->nfields >= 64 ? ~0ull : (1ull << m->nfields) - 1;
	bool bad = rc == FB_CODEC_EFIELD || rc == FB_CODEC_ERANGE;
	if (bad || (d->present & all) != all) {
		if (!bad && !(flags & FB_OBS_BAD_FIELD))
			flags |= FB_OBS_PARTIAL;   /* fields missing, nothing wrong in what came */
		flags |= FB_OBS_BAD_FIELD;
		c->bad_field++;
		log_once(&c->logged_bad_field, "a payload with unknown, missing or bad fields", p);
	}
	struct fb_obs o = {
		.device = device, .device_id = id, .model = m,
		.key = d->ts != FB_TIME_NEVER && d->ts >= 0 ? (uint64_t)(d->ts / FB_US_PER_MS) : 0,
		.seq = d->seq, .ts = d->ts, .flags = flags,
		.nvalues = m->nfields, .values = d->values, .present = d->present,
		.tolerance = d->tolerance,
		.detail = !(flags & FB_OBS_BAD_FIELD) ? NULL : rc ? fb_codec_strerror(rc) :
		          flags & FB_OBS_PARTIAL ? "fields missing" : "the payload names another device than the topic",
	};
	sink(c, &o);
}

static void unknown_device(struct fb_collector *c, const char *id, const struct fb_mqtt_packet *p)
{
	c->unknown++;
	log_once(&c->logged_unknown, "a message of no device of the fleet", p);
	struct fb_obs o = { .device = FB_OBS_NO_DEVICE, .device_id = id, .seq = -1,
	                    .ts = FB_TIME_NEVER, .flags = FB_OBS_UNKNOWN_DEVICE,
	                    .detail = "unknown device" };
	sink(c, &o);
}

/* Resolves a device id: true with *device set for one of this shard's MQTT devices; counts
 * and observes it otherwise. */
static bool resolve(struct fb_collector *c, const char *id, size_t n, uint32_t *device,
                    const struct fb_mqtt_packet *p)
{
	char tmp[96];
	*device = map_get(c, id, n);
	if (*device != UINT32_MAX)
		return true;
	uint32_t g = scenario_device(c, id, n);
	if (g < NOT_A_DEVICE && (g < c->env.first_device || g - c->env.first_device >= c->env.device_count)) {
		c->foreign++;
		if (fb_first_time(&c->logged_foreign))
			fb_info("mqtt collector: messages of other shards' devices are counted as foreign");
		return false;
	}
	snprintf(tmp, sizeof tmp, "%.*s", (int)(n < 95 ? n : 95), id);
	unknown_device(c, tmp, p);
	return false;
}

/* validate: the state of Sparkplug device `id` (a small table by id; NULL when full). */
static struct spb_dev *validate_device(struct fb_collector *c, const char *id)
{
	if (!c->vdev_ids)
		return NULL;
	size_t n = strlen(id), mask = VALIDATE_DEVICES - 1;
	if (n >= VALIDATE_ID)
		return NULL;
	for (size_t i = hash_bytes(id, n) & mask, k = 0; k < VALIDATE_DEVICES; i = (i + 1) & mask, k++) {
		char *slot = c->vdev_ids + i * VALIDATE_ID;
		if (!slot[0]) {
			memcpy(slot, id, n + 1);
			c->spb[i].values = c->spb_values + i * FB_MAX_FIELDS;
			c->spb[i].alias_base = FB_SPB_NO_ALIAS;
		}
		if (!strcmp(slot, id))
			return &c->spb[i];
	}
	return NULL;
}

static void on_sparkplug(struct fb_collector *c, const char *lv[], size_t len[], size_t nl,
                         const struct fb_mqtt_packet *p)
{
	/* spBv1.0/<group>/<type>/<edge>[/<device>] */
	if (nl < 4) {
		c->other_topic++;
		return;
	}
	bool dbirth = len[2] == 6 && !memcmp(lv[2], "DBIRTH", 6);
	bool ddata = len[2] == 5 && !memcmp(lv[2], "DDATA", 5);
	if (!dbirth && !ddata) {
		if (len[2] == 6 && !memcmp(lv[2], "DDEATH", 6))
			c->spb_deaths++;
		else if (len[2] == 6 && (!memcmp(lv[2], "NBIRTH", 6) || !memcmp(lv[2], "NDEATH", 6)))
			c->spb_node++;
		else
			c->other_topic++;    /* NDATA, commands, STATE */
		return;
	}
	if (nl != 5) {
		c->other_topic++;
		return;
	}
	char id[96];
	snprintf(id, sizeof id, "%.*s", (int)(len[4] < 95 ? len[4] : 95), lv[4]);
	uint32_t device = UINT32_MAX;
	const struct fb_model *m = c->env.model;
	struct spb_dev *sd = NULL;
	if (c->env.scenario) {
		if (!resolve(c, lv[4], len[4], &device, p))
			return;
		m = fb_scenario_fleet_of(c->env.scenario, device)->model;
		sd = c->spb ? &c->spb[device - c->env.first_device] : NULL;
		if (!sd || !sd->values) {   /* a Sparkplug topic for a device of another codec */
			observe_undecodable(c, device, id, m, NULL, FB_CODEC_EINVAL, p);
			return;
		}
	} else {
		device = FB_OBS_NO_DEVICE;
		sd = validate_device(c, id);
	}
	struct fb_decoded d;
	uint64_t alias = sd ? sd->alias_base : FB_SPB_NO_ALIAS;
	int rc = fb_spb_decode_data(m, &alias, p->payload.p, p->payload.len, &d);
	if (rc == FB_CODEC_EINVAL) {
		observe_undecodable(c, device, id, m, NULL, rc, p);
		return;
	}
	uint64_t key = d.ts != FB_TIME_NEVER && d.ts >= 0 ? (uint64_t)(d.ts / FB_US_PER_MS) : 0;
	if (dbirth)
		c->spb_births++;
	if (sd) {
		sd->alias_base = alias;
		if (dbirth)
			sd->known = 0;     /* a birth states every metric afresh */
		/* report by exception: what DDATA leaves out is unchanged */
		for (unsigned i = 0; i < m->nfields && i < 64; i++) {
			if (d.present >> i & 1) {
				sd->values[i] = d.values[i];
				sd->known |= 1ull << i;
			} else if (sd->known >> i & 1) {
				d.values[i] = sd->values[i];
				d.present |= 1ull << i;
			}
		}
		if (dbirth && sd->last_key > key) {
			c->spb_rebirths++;   /* the last sample again, after a reconnect or a Rebirth */
			return;
		}
		if (key + 1 > sd->last_key)
			sd->last_key = key + 1;
	}
	observe(c, device, id, m, &d, rc, 0, p);
}

static void on_message(void *arg, struct fb_mqtt_conn *conn, const struct fb_mqtt_packet *p)
{
	struct fb_collector *c = arg;
	for (size_t i = 0; i < NCONN; i++)
		if (p->topic.len == strlen(c->probe_topic[i]) &&
		    !memcmp(p->topic.p, c->probe_topic[i], p->topic.len)) {
			if (c->conns[i] == conn)
				c->conn_ready[i] = true;
			return;
		}
	if (p->retain) {
		/* MQTT §3.3.1.3: RETAIN set on delivery means a message retained before we subscribed
		 * (without Retain As Published, live messages arrive with it clear): an earlier run's */
		c->retained++;
		return;
	}
	c->msgs++;
	c->bytes += p->payload.len;
	const char *lv[TOPIC_LEVELS];
	size_t len[TOPIC_LEVELS];
	size_t nl = split_levels(p->topic.p, p->topic.len, lv, len);
	if (len[0] == 7 && !memcmp(lv[0], "spBv1.0", 7) && (c->env.scenario || !strcmp(c->vcodec->name, "sparkplug"))) {
		on_sparkplug(c, lv, len, nl, p);
		return;
	}
	struct fb_decoded d;
	char id[96];
	if (!c->env.scenario) {
		/* validate: one type, one codec; the id from the payload, else the FIWARE topic */
		const struct fb_model *m = c->env.model;
		struct fb_codec_ctx vctx = { .device_id = "" };
		int rc = c->vcodec->decode_sample(&vctx, m, p->payload.p, p->payload.len, &d);
		if (d.device[0])
			snprintf(id, sizeof id, "%s", d.device);
		else if (nl == 5 && len[0] == 0 && len[4] == 5 && !memcmp(lv[4], "attrs", 5))
			snprintf(id, sizeof id, "%.*s", (int)(len[3] < 95 ? len[3] : 95), lv[3]);
		else
			snprintf(id, sizeof id, "%.*s", (int)(p->topic.len < 95 ? p->topic.len : 95),
			         (const char *)p->topic.p);
		if (rc == FB_CODEC_EINVAL)
			observe_undecodable(c, FB_OBS_NO_DEVICE, id, m, c->vcodec, rc, p);
		else
			observe(c, FB_OBS_NO_DEVICE, id, m, &d, rc, 0, p);
		return;
	}
	/* the device: the last topic level that is one of ours (templates end with {device}) */
	uint32_t device = UINT32_MAX;
	size_t at = 0;
	for (size_t i = nl; i-- > 0 && device == UINT32_MAX; )
		if (len[i] && (device = map_get(c, lv[i], len[i])) != UINT32_MAX)
			at = i;
	bool from_topic = device != UINT32_MAX;
	if (!from_topic) {
		/* a level naming another shard's device, or an unknown device in a FIWARE topic */
		for (size_t i = 0; i < nl; i++) {
			uint32_t g = len[i] ? scenario_device(c, lv[i], len[i]) : UINT32_MAX;
			if (g != UINT32_MAX) {   /* another shard's device, or none of the fleet's */
				resolve(c, lv[i], len[i], &device, p);
				return;
			}
		}
		if (nl == 5 && len[0] == 0 && len[4] == 5 && !memcmp(lv[4], "attrs", 5)) {
			resolve(c, lv[3], len[3], &device, p);
			return;
		}
		/* else the payload's id (json "id", SenML base name): read with any model first */
		for (size_t k = 0; k < 2 && device == UINT32_MAX; k++) {
			const struct fb_codec *pc = c->probe_codec[k];
			struct fb_codec_ctx pctx = { .device_id = "" };
			if (!pc)
				continue;
			pc->decode_sample(&pctx, c->env.scenario->fleets[0].model, p->payload.p,
			                  p->payload.len, &d);
			if (d.device[0]) {
				if (!resolve(c, d.device, strlen(d.device), &device, p))
					return;
			}
		}
		if (device == UINT32_MAX) {
			log_once(&c->logged_other, "a message that names no device", p);
			unknown_device(c, "", p);
			return;
		}
	}
	const struct fb_fleet *f = fb_scenario_fleet_of(c->env.scenario, device);
	const struct fb_model *m = f->model;
	const struct fb_codec *codec = c->fleet_codec[f->index];
	if (from_topic)
		snprintf(id, sizeof id, "%.*s", (int)(len[at] < 95 ? len[at] : 95), lv[at]);
	else
		snprintf(id, sizeof id, "%s", d.device);
	struct fb_codec_ctx ctx = { .device_id = id, .site_id = f->site->id };
	int rc = codec->decode_sample(&ctx, m, p->payload.p, p->payload.len, &d);
	if (rc == FB_CODEC_EINVAL || rc == FB_CODEC_ENOSPC) {
		observe_undecodable(c, device, id, m, codec, rc, p);
		return;
	}
	uint32_t flags = 0;
	if (d.device[0] && strcmp(d.device, id)) {
		flags |= FB_OBS_BAD_FIELD;   /* the payload names another device than the topic */
		c->bad_field++;
		log_once(&c->logged_bad_field, "a payload naming another device than its topic", p);
	}
	observe(c, device, id, m, &d, rc, flags, p);
}

/* ---- client callbacks ---- */

static void on_up(void *arg, struct fb_mqtt_conn *conn, bool session_present)
{
	(void)session_present;
	struct fb_collector *c = arg;
	for (size_t i = 0; i < NCONN; i++)
		if (c->conns[i] == conn && !c->conn_ready[i])
			fb_mqtt_publish(conn, c->probe_topic[i], (const uint8_t *)"ready", 5, 1, false);
}

/* ---- the collector interface ---- */

static void mqtt_free(struct fb_collector *c)
{
	if (!c)
		return;
	fb_mqtt_pool_free(c->pool);
	for (size_t i = 0; i < c->nfilters; i++)
		free(c->filters[i]);
	free(c->map);
	free(c->fleet_codec);
	free(c->spb);
	free(c->spb_values);
	free(c->vdev_ids);
	free(c);
}

static int parse_url(const char *url, char *host, size_t cap, uint16_t *port, bool *tls)
{
	const char *rest;
	if (!url)
		return fb_error("the mqtt collector needs a broker url");
	if (!strncmp(url, "mqtt://", 7)) {
		rest = url + 7;
		*tls = false;
		*port = 1883;
	} else if (!strncmp(url, "mqtts://", 8)) {
		rest = url + 8;
		*tls = true;
		*port = 8883;
	} else {
		return fb_error("collector url '%s' must start with 'mqtt://' or 'mqtts://'", url);
	}
	size_t hl;
	const char *after;
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (!close)
			return fb_error("bad ipv6 address in '%s'", url);
		rest++;
		hl = (size_t)(close - rest);
		after = close + 1;
	} else {
		hl = strcspn(rest, ":/");
		after = rest + hl;
	}
	if (hl == 0 || hl >= cap)
		return fb_error("no host in '%s'", url);
	memcpy(host, rest, hl);
	host[hl] = '\0';
	if (*after == ':') {
		char *end;
		long v = strtol(after + 1, &end, 10);
		if (end == after + 1 || (*end && strcmp(end, "/")) || v < 1 || v > 65535)
			return fb_error("bad port in '%s'", url);
		*port = (uint16_t)v;
	} else if (*after && strcmp(after, "/")) {
		return fb_error("collector url '%s' takes no path", url);
	}
	return 0;
}

static int build_devices(struct fb_collector *c)
{
	const struct fb_scenario *sc = c->env.scenario;
	uint32_t first = c->env.first_device, count = c->env.device_count;
	size_t n = 0, spb_values = 0;
	c->fleet_codec = calloc(sc->nfleets ? sc->nfleets : 1, sizeof *c->fleet_codec);
	if (!c->fleet_codec)
		return fb_error("out of memory");
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		if (!f->transport || strcmp(f->transport, "mqtt"))
			continue;
		const struct fb_codec *codec = fb_codec_find(f->codec ? f->codec : "json");
		if (!codec || !codec->decode_sample)
			return fb_error("the mqtt collector cannot decode codec '%s'", f->codec ? f->codec : "json");
		c->fleet_codec[i] = codec;
		if (!strcmp(codec->name, "json"))
			c->probe_codec[0] = codec;
		if (!strcmp(codec->name, "senml"))
			c->probe_codec[1] = codec;
		for (uint32_t k = 0; k < f->count; k++) {
			uint32_t g = f->first + k;
			if (g < first || g - first >= count)
				continue;
			n++;
			if (!strcmp(codec->name, "sparkplug"))
				spb_values += f->model->nfields;
		}
	}
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	c->map = calloc(cap, sizeof *c->map);
	c->map_mask = cap - 1;
	if (!c->map)
		return fb_error("out of memory");
	if (spb_values) {    /* Sparkplug state only when a fleet speaks it */
		c->spb = calloc(count, sizeof *c->spb);
		c->spb_values = calloc(spb_values, sizeof *c->spb_values);
		if (!c->spb || !c->spb_values)
			return fb_error("out of memory");
	}
	size_t off = 0;
	char id[96];
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		if (!c->fleet_codec[i])
			continue;
		bool spb = !strcmp(c->fleet_codec[i]->name, "sparkplug");
		for (uint32_t k = 0; k < f->count; k++) {
			uint32_t g = f->first + k;
			if (g < first || g - first >= count)
				continue;
			size_t l = fb_device_id(f->model, g, id, sizeof id);
			map_put(c, g, id, l);
			if (spb) {
				struct spb_dev *sd = &c->spb[g - first];
				sd->values = c->spb_values + off;
				sd->alias_base = FB_SPB_NO_ALIAS;
				off += f->model->nfields;
			}
		}
	}
	return 0;
}

static struct fb_collector *mqtt_create(const struct fb_collect_env *env, const struct fb_collect_cfg *cfg)
{
	struct fb_collector *c = calloc(1, sizeof *c);
	if (!c) {
		fb_error("out of memory");
		return NULL;
	}
	c->env = *env;
	c->cfg = *cfg;
	struct fb_mqtt_pool_config pc;
	char host[256];
	uint16_t port = 0;
	bool tls = false;
	if (parse_url(cfg->url, host, sizeof host, &port, &tls))
		goto fail;
	if (env->scenario) {
		if (build_devices(c))
			goto fail;
	} else {
		if (!env->model || !cfg->codec || !(c->vcodec = fb_codec_find(cfg->codec)) ||
		    !c->vcodec->decode_sample) {
			fb_error("the mqtt collector needs a type and a codec it can decode ('%s')",
			         cfg->codec ? cfg->codec : "");
			goto fail;
		}
		if (!strcmp(c->vcodec->name, "sparkplug")) {   /* DDATA is completed from the births */
			c->vdev_ids = calloc(VALIDATE_DEVICES, VALIDATE_ID);
			c->spb = calloc(VALIDATE_DEVICES, sizeof *c->spb);
			c->spb_values = calloc(VALIDATE_DEVICES * FB_MAX_FIELDS, sizeof *c->spb_values);
			if (!c->vdev_ids || !c->spb || !c->spb_values) {
				fb_error("out of memory");
				goto fail;
			}
		}
	}
	if (cfg->topic_filter) {
		if (add_filter(c, cfg->topic_filter))
			goto fail;   /* (one filter always fits) */
	} else if (!env->scenario) {
		fb_error("the mqtt collector needs a topic filter");
		goto fail;
	} else if (derive_filters(c, 0)) {
		goto fail;
	}
	snprintf(c->tls_host, sizeof c->tls_host, "%s", host);
	if (fb_collect_mqtt_config(&pc, host, port, tls, c->tls_host, cfg,
	                           env->scenario ? env->scenario->seed : 1))
		goto fail;
	struct fb_mqtt_callbacks cb = { .arg = c, .on_up = on_up, .on_message = on_message };
	if (!(c->pool = fb_mqtt_pool_new(env->loop, &pc, &cb)))
		goto fail;
	static unsigned instances;   /* client ids stay unique with several collectors in a process */
	unsigned instance = instances++;
	for (size_t i = 0; i < NCONN; i++) {
		char cid[96];
		snprintf(cid, sizeof cid, "fleetbench-collector-%ld-%" PRIu32 "-%u-%zu", (long)getpid(),
		         env->first_device, instance, i);
		snprintf(c->probe_topic[i], sizeof c->probe_topic[i], "fleetbench-collector-probe/%s", cid);
		const char *subs[FB_MQTT_MAX_TOPICS + 1];
		char shared[MAX_FILTERS][300];
		size_t k = 0;
		for (; k < c->nfilters; k++) {
			/* several connections share the subscription (MQTT 5 §4.8.2) */
			if (NCONN > 1) {
				snprintf(shared[k], sizeof shared[k], "$share/fleetbench-%ld/%s", (long)getpid(),
				         c->filters[k]);
				subs[k] = shared[k];
			} else {
				subs[k] = c->filters[k];
			}
		}
		subs[k++] = c->probe_topic[i];
		subs[k] = NULL;
		struct fb_mqtt_conn_config cc = {
			.index = (uint32_t)i, .client_id = cid, .username = cfg->username,
			.password = cfg->password, .clean_start = false, .session_expiry_s = 300,
			.subscribe = subs, .subscribe_qos = 1,
		};
		if (!(c->conns[i] = fb_mqtt_pool_add(c->pool, &cc, c))) {
			fb_error("out of memory");
			goto fail;
		}
	}
	return c;
fail:
	mqtt_free(c);
	return NULL;
}

static int mqtt_start(struct fb_collector *c)
{
	fb_mqtt_pool_start(c->pool);
	return 0;
}

static bool mqtt_ready(struct fb_collector *c)
{
	for (size_t i = 0; i < NCONN; i++)
		if (!c->conn_ready[i])
			return false;
	return true;
}

static bool mqtt_drain(struct fb_collector *c, fb_time_us grace)
{
	/* Nothing of its own is outstanding: the subscriber keeps receiving while the run waits on
	 * the reconciliation's outstanding messages (bounded by grace there). */
	(void)c;
	(void)grace;
	return true;
}

static void mqtt_summary(struct fb_collector *c, FILE *out)
{
	fprintf(out, "mqtt collector: %" PRIu64 " messages (%" PRIu64 " bytes), %" PRIu64 " observed, %"
	        PRIu64 " undecodable, %" PRIu64 " with bad fields, %" PRIu64 " of unknown devices, %"
	        PRIu64 " foreign, %" PRIu64 " on other topics\n", c->msgs, c->bytes, c->observed,
	        c->undecodable, c->bad_field, c->unknown, c->foreign, c->other_topic);
	if (c->retained)
		fprintf(out, "mqtt collector: %" PRIu64 " retained messages from before the run ignored\n",
		        c->retained);
	if (c->spb_births || c->spb_deaths || c->spb_node)
		fprintf(out, "mqtt collector: sparkplug %" PRIu64 " DBIRTH (%" PRIu64 " rebirths), %" PRIu64
		        " DDEATH, %" PRIu64 " NBIRTH/NDEATH\n", c->spb_births, c->spb_rebirths, c->spb_deaths,
		        c->spb_node);
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(c->pool);
	if (s->reconnects || s->connects_failed)
		fprintf(out, "mqtt collector: %" PRIu64 " reconnects, %" PRIu64 " failed connects\n",
		        s->reconnects, s->connects_failed);
}

static json_t *mqtt_report(struct fb_collector *c)
{
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(c->pool);
	json_t *filters = json_array();
	for (size_t i = 0; i < c->nfilters; i++)
		json_array_append_new(filters, json_string(c->filters[i]));
	return json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	                 "filters", filters,
	                 "retained_ignored", (json_int_t)c->retained,
	                 "messages", (json_int_t)c->msgs, "bytes", (json_int_t)c->bytes,
	                 "observed", (json_int_t)c->observed, "undecodable", (json_int_t)c->undecodable,
	                 "bad_field", (json_int_t)c->bad_field, "unknown_device", (json_int_t)c->unknown,
	                 "foreign", (json_int_t)c->foreign, "other_topic", (json_int_t)c->other_topic,
	                 "sparkplug_dbirth", (json_int_t)c->spb_births,
	                 "sparkplug_rebirths", (json_int_t)c->spb_rebirths,
	                 "sparkplug_ddeath", (json_int_t)c->spb_deaths,
	                 "sparkplug_node", (json_int_t)c->spb_node,
	                 "connects_ok", (json_int_t)s->connects_ok, "reconnects", (json_int_t)s->reconnects,
	                 "malformed", (json_int_t)s->failures[FB_MQTT_FAIL_MALFORMED]);
}

const struct fb_collector_ops fb_collector_mqtt = {
	.name = "mqtt",
	.create = mqtt_create,
	.start = mqtt_start,
	.ready = mqtt_ready,
	.drain = mqtt_drain,
	.summary = mqtt_summary,
	.report = mqtt_report,
	.free = mqtt_free,
};
