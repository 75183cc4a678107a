/* The LoRaWAN network-server integration collector; see collect_nsint.h.
 *
 * The messages it reads, with the fields it relies on (everything else is skipped):
 *
 * ChirpStack v4, MQTT integration, JSON marshaler: topic
 *   application/{application_id}/device/{dev_eui}/event/{event}; the "up" event is the
 *   integration.UplinkEvent message of chirpstack/api/proto/integration/integration.proto
 *   (chirpstack_api 4.x on docs.rs) in the protobuf JSON mapping (lowerCamelCase names, bytes
 *   in base64): deviceInfo.devEui (hex string), fCnt, fPort, data (the decrypted FRMPayload),
 *   time, rxInfo[] (one entry per gateway), object (the device profile's codec output: ignored).
 *   Other events (join, status, ack, txack, log, location, integration) carry none of fCnt,
 *   fPort, data, rxInfo.
 * The Things Stack v3, MQTT server: topic v3/{application id}@{tenant id}/devices/{device id}/up
 *   (also .../join, .../down/..., .../service/data, .../location/solved); the uplink is an
 *   ApplicationUp with end_device_ids.dev_eui (hex), uplink_message.f_cnt, .f_port,
 *   .frm_payload (base64), .rx_metadata[] (one per gateway), received_at
 *   (thethingsindustries.com/docs/integrations/data-formats/, "Uplink Messages").
 * Both omit fields that hold their type's zero value (proto3 JSON; the TTS page says so: "if a
 * certain field has a value of "", 0 or false it will not be present"), so an absent FCnt is
 * FCnt 0 and an absent FPort is FPort 0 (MAC commands only: not a sample). */
#include "harness/collect_nsint.h"
#include "harness/jcur.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "protocols/codec.h"
#include "protocols/lorawan/keys.h"
#include "protocols/lorawan/lorawan.h"
#include "protocols/lorawan/semtech.h"
#include "protocols/mqtt/client.h"
#include "sim/log.h"
#include "sim/rng.h"
#include "sim/ynode.h"

/* ---- URL ------------------------------------------------------------------------------------- */

static const struct {
	const char *prefix;
	enum fb_nsint_format format;
	bool tls;
} schemes[] = {
	{ "chirpstack://", FB_NSINT_CHIRPSTACK, false },
	{ "chirpstack+mqtts://", FB_NSINT_CHIRPSTACK, true },
	{ "tts://", FB_NSINT_TTS, false },
	{ "tts+mqtts://", FB_NSINT_TTS, true },
};

static int url_error(const char *url, const char *why)
{
	return fb_error("--collect-lorawan '%s': %s; expected chirpstack://[user[:password]@]host[:port] "
	                "or tts://..., with chirpstack+mqtts:// or tts+mqtts:// for TLS", url, why);
}

int fb_nsint_url_parse(const char *url, struct fb_nsint_url *out)
{
	memset(out, 0, sizeof *out);
	const char *rest = NULL;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
		if (!strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix))) {
			rest = url + strlen(schemes[i].prefix);
			out->format = schemes[i].format;
			out->tls = schemes[i].tls;
		}
	if (!rest)
		return url_error(url, "unknown scheme");
	out->port = out->tls ? 8883 : 1883;
	/* user[:password]@: up to the last '@' (TTS user names hold one: "app@tenant") */
	const char *at = strrchr(rest, '@');
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		size_t ul = (size_t)((colon ? colon : at) - rest);
		if (ul == 0 || ul >= sizeof out->username)
			return url_error(url, "bad user name");
		memcpy(out->username, rest, ul);
		out->has_username = true;
		if (colon) {
			size_t pl = (size_t)(at - colon - 1);
			if (pl >= sizeof out->password)
				return url_error(url, "password too long");
			memcpy(out->password, colon + 1, pl);
			out->has_password = true;
		}
		rest = at + 1;
	}
	size_t hl;
	const char *after;
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (!close)
			return url_error(url, "bad ipv6 address");
		rest++;
		hl = (size_t)(close - rest);
		after = close + 1;
	} else {
		hl = strcspn(rest, ":/");
		after = rest + hl;
	}
	if (hl == 0 || hl >= sizeof out->host)
		return url_error(url, "no host");
	memcpy(out->host, rest, hl);
	if (*after == ':') {
		char *end;
		long v = strtol(after + 1, &end, 10);
		if (end == after + 1 || (*end && strcmp(end, "/")) || v < 1 || v > 65535)
			return url_error(url, "bad port");
		out->port = (uint16_t)v;
	} else if (*after && strcmp(after, "/")) {
		return url_error(url, "a path is not allowed");
	}
	return 0;
}

const char *fb_nsint_default_filter(enum fb_nsint_format f)
{
	return f == FB_NSINT_TTS ? "v3/+/devices/+/up" : "application/+/device/+/event/up";
}

/* ---- reading the JSON in place (harness/jcur.h) ---------------------------------------------- */

/* What a field holds, for the caller to judge: 1 an unsigned integer in *v, 0 something else
 * (skipped), -1 not JSON. */
static int uint_field(struct fb_jcur *j, uint64_t *v)
{
	fb_jcur_ws(j);
	const char *start = j->p;
	uint64_t x = 0;
	size_t digits = 0;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9' && digits < 19) {
		x = x * 10 + (uint64_t)(*j->p - '0');
		j->p++;
		digits++;
	}
	if (digits && (j->p == j->end || !fb_jcur_num_char(*j->p))) {
		*v = x;
		return 1;
	}
	j->p = start;
	return fb_jcur_skip(j, 1) ? 0 : -1;
}

/* Iterates an object's members: calls member() with each key, the cursor at its value; member
 * consumes the value and returns 0, or returns <0 to stop with that result. */
typedef int (*member_fn)(struct fb_jcur *j, const char *k, size_t n, void *arg);

static int object(struct fb_jcur *j, member_fn member, void *arg)
{
	if (!fb_jcur_lit(j, '{'))
		return FB_NSINT_EJSON;
	if (fb_jcur_lit(j, '}'))
		return 0;
	do {
		const char *k;
		size_t n;
		if (!fb_jcur_str(j, &k, &n, NULL) || !fb_jcur_lit(j, ':'))
			return FB_NSINT_EJSON;
		int rc = member(j, k, n, arg);
		if (rc < 0)
			return rc;
	} while (fb_jcur_lit(j, ','));
	return fb_jcur_lit(j, '}') ? 0 : FB_NSINT_EJSON;
}

/* Counts an array's elements (skipping them); -1 when not JSON, -2 when not an array. */
static int64_t array_count(struct fb_jcur *j)
{
	if (!fb_jcur_peek(j, '['))
		return fb_jcur_skip(j, 1) ? -2 : -1;
	j->p++;
	int64_t n = 0;
	if (fb_jcur_lit(j, ']'))
		return 0;
	do {
		if (!fb_jcur_skip(j, 1))
			return -1;
		n++;
	} while (fb_jcur_lit(j, ','));
	return fb_jcur_lit(j, ']') ? n : -1;
}

struct parse {
	struct fb_nsint_up *out;
	bool has_eui, has_data, has_up;   /* has_up: a member that only uplinks carry */
	int err;                          /* first field error (FB_NSINT_EFIELD / EBASE64), or 0 */
	const char *err_detail;
};

static void field_error(struct parse *ps, int err, const char *detail)
{
	if (!ps->err) {
		ps->err = err;
		ps->err_detail = detail;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int eui_value(struct fb_jcur *j, struct parse *ps)
{
	const char *s;
	size_t n;
	bool esc;
	if (!fb_jcur_peek(j, '"'))
		return fb_jcur_skip(j, 1) ? (field_error(ps, FB_NSINT_EFIELD, "the DevEUI is not a string"), 0)
		                  : FB_NSINT_EJSON;
	if (!fb_jcur_str(j, &s, &n, &esc))
		return FB_NSINT_EJSON;
	uint64_t v = 0;
	bool ok = n == 16 && !esc;
	for (size_t i = 0; ok && i < 16; i++) {
		int h = hexval(s[i]);
		ok = h >= 0;
		v = v << 4 | (uint64_t)(h < 0 ? 0 : h);
	}
	if (!ok) {
		field_error(ps, FB_NSINT_EFIELD, "the DevEUI is not 16 hex digits");
		return 0;
	}
	ps->out->dev_eui = v;
	ps->has_eui = true;
	snprintf(ps->out->dev_eui_hex, sizeof ps->out->dev_eui_hex, "%016" PRIx64, v);
	return 0;
}

/* An unsigned count up to max into *to; *valid false (and a field error) when it is not one. */
static int counter_value(struct fb_jcur *j, struct parse *ps, uint64_t max, uint64_t *to, bool *valid,
                         const char *what)
{
	uint64_t v;
	int k = uint_field(j, &v);
	if (k < 0)
		return FB_NSINT_EJSON;
	*valid = k == 1 && v <= max;
	if (!*valid)
		field_error(ps, FB_NSINT_EFIELD, what);
	else
		*to = v;
	return 0;
}

static int data_value(struct fb_jcur *j, struct parse *ps)
{
	const char *s;
	size_t n;
	bool esc;
	if (!fb_jcur_peek(j, '"')) {
		if (!fb_jcur_skip(j, 1))
			return FB_NSINT_EJSON;
		field_error(ps, FB_NSINT_EFIELD, "the payload is not a string");
		return 0;
	}
	if (!fb_jcur_str(j, &s, &n, &esc))
		return FB_NSINT_EJSON;
	ssize_t len = esc ? -1 : fb_base64_decode(s, n, ps->out->data, sizeof ps->out->data);
	if (len < 0) {
		field_error(ps, FB_NSINT_EBASE64, "the payload is not padded base64 (or longer than 256 bytes)");
		return 0;
	}
	ps->out->data_len = (size_t)len;
	ps->has_data = true;
	return 0;
}

static int gateways_value(struct fb_jcur *j, struct parse *ps)
{
	int64_t n = array_count(j);
	if (n == -1)
		return FB_NSINT_EJSON;
	if (n < 0)
		field_error(ps, FB_NSINT_EFIELD, "the gateway list is not an array");
	else
		ps->out->gateways = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
	return 0;
}

static int fcnt_fport(struct fb_jcur *j, struct parse *ps, bool fcnt)
{
	uint64_t v = 0;
	bool valid = false;
	int rc = counter_value(j, ps, fcnt ? UINT32_MAX : 255, &v, &valid,
	                       fcnt ? "the FCnt is not a 32-bit count" : "the FPort is not 0..255");
	if (fcnt) {
		ps->out->fcnt = (uint32_t)v;
		ps->out->fcnt_valid = valid;
	} else {
		ps->out->fport = (int)v;
	}
	return rc;
}

/* ChirpStack: deviceInfo { devEui } */
static int cs_device_info(struct fb_jcur *j, const char *k, size_t n, void *arg)
{
	if (fb_jcur_key_is(k, n, "devEui"))
		return eui_value(j, arg);
	return fb_jcur_skip(j, 1) ? 0 : FB_NSINT_EJSON;
}

static int cs_member(struct fb_jcur *j, const char *k, size_t n, void *arg)
{
	struct parse *ps = arg;
	if (fb_jcur_key_is(k, n, "deviceInfo")) {
		if (!fb_jcur_peek(j, '{')) {
			field_error(ps, FB_NSINT_EFIELD, "deviceInfo is not an object");
			return fb_jcur_skip(j, 1) ? 0 : FB_NSINT_EJSON;
		}
		return object(j, cs_device_info, ps);
	}
	if (fb_jcur_key_is(k, n, "fCnt")) {
		ps->has_up = true;
		return fcnt_fport(j, ps, true);
	}
	if (fb_jcur_key_is(k, n, "fPort")) {
		ps->has_up = true;
		return fcnt_fport(j, ps, false);
	}
	if (fb_jcur_key_is(k, n, "data")) {
		ps->has_up = true;
		return data_value(j, ps);
	}
	if (fb_jcur_key_is(k, n, "rxInfo")) {
		ps->has_up = true;
		return gateways_value(j, ps);
	}
	return fb_jcur_skip(j, 1) ? 0 : FB_NSINT_EJSON;
}

/* TTS: end_device_ids { dev_eui }, uplink_message { f_cnt, f_port, frm_payload, rx_metadata } */
static int tts_ids(struct fb_jcur *j, const char *k, size_t n, void *arg)
{
	if (fb_jcur_key_is(k, n, "dev_eui"))
		return eui_value(j, arg);
	return fb_jcur_skip(j, 1) ? 0 : FB_NSINT_EJSON;
}

static int tts_uplink(struct fb_jcur *j, const char *k, size_t n, void *arg)
{
	struct parse *ps = arg;
	if (fb_jcur_key_is(k, n, "f_cnt"))
		return fcnt_fport(j, ps, true);
	if (fb_jcur_key_is(k, n, "f_port"))
		return fcnt_fport(j, ps, false);
	if (fb_jcur_key_is(k, n, "frm_payload"))
		return data_value(j, ps);
	if (fb_jcur_key_is(k, n, "rx_metadata"))
		return gateways_value(j, ps);
	return fb_jcur_skip(j, 1) ? 0 : FB_NSINT_EJSON;
}

static int tts_member(struct fb_jcur *j, const char *k, size_t n, void *arg)
{
	struct parse *ps = arg;
	bool ids = fb_jcur_key_is(k, n, "end_device_ids"), up = fb_jcur_key_is(k, n, "uplink_message");
	if (!ids && !up)
		return fb_jcur_skip(j, 1) ? 0 : FB_NSINT_EJSON;
	if (up)
		ps->has_up = true;
	if (!fb_jcur_peek(j, '{')) {
		field_error(ps, FB_NSINT_EFIELD, ids ? "end_device_ids is not an object"
		                                     : "uplink_message is not an object");
		return fb_jcur_skip(j, 1) ? 0 : FB_NSINT_EJSON;
	}
	return object(j, ids ? tts_ids : tts_uplink, ps);
}

/* The topic's last level ("up", "join", ...). */
static bool last_level_is(const char *topic, size_t n, const char *want)
{
	size_t l = strlen(want);
	return n >= l && !memcmp(topic + n - l, want, l) && (n == l || topic[n - l - 1] == '/');
}

enum fb_nsint_parse_result fb_nsint_parse(enum fb_nsint_format f, const char *topic, size_t topic_len,
                                          const uint8_t *json, size_t len, struct fb_nsint_up *out)
{
	out->dev_eui = 0;
	out->dev_eui_hex[0] = '\0';
	out->fcnt = 0;
	out->fcnt_valid = true;
	out->fport = 0;
	out->data_len = 0;
	out->gateways = 0;
	out->detail = NULL;
	struct parse ps = { .out = out };
	struct fb_jcur j = { (const char *)json, (const char *)json + len };
	int rc = object(&j, f == FB_NSINT_TTS ? tts_member : cs_member, &ps);
	fb_jcur_ws(&j);
	if (rc < 0 || j.p != j.end) {
		out->detail = "not a JSON object";
		return FB_NSINT_EJSON;
	}
	/* the event is named by the topic's last level; on a topic of the user's own, by content */
	bool up_topic = last_level_is(topic, topic_len, "up");
	if (!up_topic && !ps.has_up)
		return FB_NSINT_OTHER;
	if (f == FB_NSINT_TTS && !ps.has_up)
		return FB_NSINT_OTHER;          /* no uplink_message: not an uplink */
	if (!ps.err && !ps.has_eui)
		field_error(&ps, FB_NSINT_EFIELD, f == FB_NSINT_TTS ? "no end_device_ids.dev_eui"
		                                                   : "no deviceInfo.devEui");
	if (ps.err) {
		out->detail = ps.err_detail;
		return (enum fb_nsint_parse_result)ps.err;
	}
	return FB_NSINT_UP;
}

/* ---- the collector --------------------------------------------------------------------------- */

struct dev {
	uint64_t eui;
	uint32_t device;                    /* global index */
	bool foreign;                       /* another shard's */
	const struct fb_model *model;
	const struct fb_codec *codec;
};

struct fb_collector {
	struct fb_collect_env env;
	struct fb_nsint_url url;
	const char *filter;
	struct fb_mqtt_pool *pool;
	struct fb_mqtt_conn *conn;
	char probe_topic[160];
	bool ready, probe_sent;
	ev_tstamp up_since;                 /* the loop's now at the last CONNACK, 0 while down */
	struct dev *devs;
	uint32_t ndevs;
	uint32_t *table;                    /* open addressing on the DevEUI: dev index + 1 */
	size_t table_cap;
	struct fb_nsint_counters n;
	bool logged_json, logged_field, logged_base64, logged_unknown, logged_undecodable,
	     logged_foreign;
	struct fb_nsint_up up;              /* the message being handled */
	struct fb_decoded dec;
	char topic[256];
	char detail[160];
};

static const struct dev *find_dev(const struct fb_collector *c, uint64_t eui)
{
	for (size_t i = (size_t)fb_mix64(eui) & (c->table_cap - 1), probes = 0;
	     c->table[i] && probes < c->table_cap; i = (i + 1) & (c->table_cap - 1), probes++)
		if (c->devs[c->table[i] - 1].eui == eui)
			return &c->devs[c->table[i] - 1];
	return NULL;
}

/* Every LoRaWAN device of the scenario (other shards' too, to tell them from unknown ones), with
 * the DevEUI the transport gives it. */
static int load_devices(struct fb_collector *c)
{
	const struct fb_scenario *sc = c->env.scenario;
	const struct fb_ynode *node = sc->transports ? fb_ynode_get(sc->transports, "lorawan") : NULL;
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	if (fb_lw_config_read_for(&cfg, node, false) < 0) {
		fb_lw_config_release(&cfg);
		return -1;
	}
	uint32_t total = (uint32_t)sc->ndevices, first = c->env.first_device, count = c->env.device_count;
	bool *need = calloc(total ? total : 1, sizeof *need);
	bool *lw = calloc(total ? total : 1, sizeof *lw);
	struct fb_lw_identity *ids = NULL;
	int rc = need && lw ? 0 : fb_error("out of memory");
	uint32_t n = 0;
	for (uint32_t g = 0; !rc && g < total; g++) {
		const struct fb_fleet *f = fb_scenario_fleet_of(sc, g);
		lw[g] = f && f->transport && !strcmp(f->transport, "lorawan");
		need[g] = lw[g] && g >= first && g - first < count;   /* other shards' rows optional */
		n += lw[g];
	}
	if (!rc && cfg.keys_file) {
		ids = calloc(total ? total : 1, sizeof *ids);
		rc = ids ? fb_lw_keys_load_csv(cfg.keys_file, 0, total, ids, need) : fb_error("out of memory");
	}
	if (!rc) {
		for (c->table_cap = 64; c->table_cap < 2 * (size_t)n; c->table_cap *= 2)
			;
		c->devs = calloc(n ? n : 1, sizeof *c->devs);
		c->table = calloc(c->table_cap, sizeof *c->table);
		if (!c->devs || !c->table)
			rc = fb_error("out of memory");
	}
	for (uint32_t g = 0; !rc && g < total; g++) {
		if (!lw[g])
			continue;
		struct fb_lw_identity id;
		if (ids)
			id = ids[g];
		else
			fb_lw_identity_derive(sc->seed, g, cfg.net_id, &id);
		if (!id.dev_eui)
			continue;           /* another shard's device the keys file leaves out */
		const struct fb_fleet *f = fb_scenario_fleet_of(sc, g);
		const char *cname = f->codec ? f->codec : cfg.payload;
		struct dev *d = &c->devs[c->ndevs];
		d->eui = id.dev_eui;
		d->device = g;
		d->foreign = !need[g];
		d->model = f->model;
		d->codec = fb_codec_find(cname);
		if (!d->codec || !d->codec->decode_sample) {
			rc = fb_error("the lorawan integration collector cannot decode codec '%s'", cname);
			break;
		}
		size_t i = (size_t)fb_mix64(d->eui) & (c->table_cap - 1);
		while (c->table[i] && c->devs[c->table[i] - 1].eui != d->eui)
			i = (i + 1) & (c->table_cap - 1);
		c->table[i] = ++c->ndevs;
	}
	free(ids);
	free(need);
	free(lw);
	fb_lw_config_release(&cfg);
	return rc;
}

static void log_once(struct fb_collector *c, bool *flag, const char *what)
{
	if (fb_first_time(flag))
		fb_warn("lorawan integration collector: %s on '%s' (further ones counted, not logged)",
		        what, c->topic);
}

static void sink(struct fb_collector *c, struct fb_obs *o)
{
	o->proto = "lorawan";
	o->recv_wall = fb_wall_now_us();
	o->gateways = c->up.gateways;
	o->fcnt = c->up.fcnt;
	o->key = c->up.fcnt_valid ? c->up.fcnt : UINT64_MAX;   /* an unread FCnt matches nothing sent */
	if (!o->device_id)
		o->device_id = c->up.dev_eui_hex;
	c->env.sink(c->env.sink_arg, o);
}

static void handle(struct fb_collector *c, const uint8_t *payload, size_t len)
{
	struct fb_nsint_up *up = &c->up;
	enum fb_nsint_parse_result rc = fb_nsint_parse(c->url.format, c->topic, strlen(c->topic),
	                                               payload, len, up);
	if (rc == FB_NSINT_OTHER) {
		c->n.other_events++;
		return;
	}
	if (rc == FB_NSINT_EJSON || (rc == FB_NSINT_EFIELD && !up->dev_eui_hex[0])) {
		bool json = rc == FB_NSINT_EJSON;
		json ? c->n.bad_json++ : c->n.bad_field++;
		log_once(c, json ? &c->logged_json : &c->logged_field,
		         json ? "a message that is not JSON" : up->detail);
		struct fb_obs o = { .device = FB_OBS_NO_DEVICE, .seq = -1, .ts = FB_TIME_NEVER,
		                    .flags = FB_OBS_UNDECODABLE | (json ? 0 : FB_OBS_BAD_FIELD),
		                    .detail = up->detail };
		sink(c, &o);
		return;
	}
	const struct dev *d = find_dev(c, up->dev_eui);
	if (!d) {
		c->n.unknown_devices++;
		snprintf(c->detail, sizeof c->detail, "DevEUI '%s' of no device", up->dev_eui_hex);
		log_once(c, &c->logged_unknown, c->detail);
		struct fb_obs o = { .device = FB_OBS_NO_DEVICE, .seq = -1, .ts = FB_TIME_NEVER,
		                    .flags = FB_OBS_UNKNOWN_DEVICE, .detail = "DevEUI of no device" };
		sink(c, &o);
		return;
	}
	if (d->foreign) {
		c->n.foreign++;
		return;
	}
	struct fb_obs o = { .device = d->device, .model = d->model, .seq = -1, .ts = FB_TIME_NEVER };
	if (rc == FB_NSINT_EFIELD || rc == FB_NSINT_EBASE64) {
		bool b64 = rc == FB_NSINT_EBASE64;
		b64 ? c->n.bad_base64++ : c->n.bad_field++;
		snprintf(c->detail, sizeof c->detail, "device '%s': %s", up->dev_eui_hex, up->detail);
		log_once(c, b64 ? &c->logged_base64 : &c->logged_field, c->detail);
		o.flags = FB_OBS_UNDECODABLE | (b64 ? 0 : FB_OBS_BAD_FIELD);
		o.detail = up->detail;
		sink(c, &o);
		return;
	}
	if (up->fport == 0) {
		c->n.no_fport++;            /* MAC commands only: no sample */
		return;
	}
	struct fb_codec_ctx ctx = { .device_id = up->dev_eui_hex };
	int drc = d->codec->decode_sample(&ctx, d->model, up->data, up->data_len, &c->dec);
	if (drc < 0) {
		c->n.undecodable++;
		snprintf(c->detail, sizeof c->detail, "device '%s': FCnt %" PRIu32 " payload does not decode "
		         "as '%s': %s", up->dev_eui_hex, up->fcnt, d->codec->name, fb_codec_strerror(drc));
		log_once(c, &c->logged_undecodable, c->detail);
		o.flags = FB_OBS_UNDECODABLE;
		o.detail = fb_codec_strerror(drc);
		sink(c, &o);
		return;
	}
	c->n.uplinks++;
	o.seq = c->dec.seq;
	o.ts = c->dec.ts;
	o.nvalues = d->model->nfields;
	o.values = c->dec.values;
	o.present = c->dec.present;
	o.tolerance = c->dec.tolerance;
	sink(c, &o);
}

static void set_topic(struct fb_collector *c, const uint8_t *t, size_t n)
{
	if (n >= sizeof c->topic)
		n = sizeof c->topic - 1;
	memcpy(c->topic, t, n);
	c->topic[n] = '\0';
}

void fb_collector_nsint_feed(struct fb_collector *c, const char *topic, const uint8_t *payload,
                             size_t len)
{
	set_topic(c, (const uint8_t *)topic, strlen(topic));
	c->n.messages++;
	c->n.bytes += len;
	handle(c, payload, len);
}

static void on_message(void *arg, struct fb_mqtt_conn *conn, const struct fb_mqtt_packet *p)
{
	struct fb_collector *c = arg;
	(void)conn;
	if (p->topic.len == strlen(c->probe_topic) && !memcmp(p->topic.p, c->probe_topic, p->topic.len)) {
		c->ready = true;
		return;
	}
	if (p->retain) {
		c->n.retained++;             /* retained before we subscribed: an earlier run's */
		return;
	}
	set_topic(c, p->topic.p, p->topic.len);
	c->n.messages++;
	c->n.bytes += p->payload.len;
	handle(c, p->payload.p, p->payload.len);
}

static void on_up(void *arg, struct fb_mqtt_conn *conn, bool session_present)
{
	(void)session_present;
	struct fb_collector *c = arg;
	c->up_since = ev_now(c->env.loop);
	/* once, at QoS 0 (never resent): a server that refuses it by closing the connection must
	 * not see it again */
	if (!c->ready && !c->probe_sent) {
		c->probe_sent = true;
		fb_mqtt_publish(conn, c->probe_topic, (const uint8_t *)"ready", 5, 0, false);
	}
}

static void on_down(void *arg, struct fb_mqtt_conn *conn, enum fb_mqtt_fail why)
{
	(void)conn;
	(void)why;
	struct fb_collector *c = arg;
	c->up_since = 0;
}

static void ns_free(struct fb_collector *c)
{
	if (!c)
		return;
	fb_mqtt_pool_free(c->pool);
	free(c->devs);
	free(c->table);
	free(c);
}

static struct fb_collector *ns_create(const struct fb_collect_env *env, const struct fb_collect_cfg *cfg)
{
	struct fb_collector *c = calloc(1, sizeof *c);
	if (!c) {
		fb_error("out of memory");
		return NULL;
	}
	c->env = *env;
	if (!env->scenario) {
		fb_error("the lorawan integration collector needs a scenario");
		goto fail;
	}
	if (!cfg->url || fb_nsint_url_parse(cfg->url, &c->url) || load_devices(c))
		goto fail;
	c->filter = cfg->topic_filter ? cfg->topic_filter : fb_nsint_default_filter(c->url.format);
	struct fb_mqtt_pool_config pc;
	if (fb_collect_mqtt_config(&pc, c->url.host, c->url.port, c->url.tls, c->url.host, cfg,
	                           env->scenario->seed))
		goto fail;
	struct fb_mqtt_callbacks cb = { .arg = c, .on_up = on_up, .on_down = on_down, .on_message = on_message };
	if (!(c->pool = fb_mqtt_pool_new(env->loop, &pc, &cb)))
		goto fail;
	static unsigned instances;
	char cid[96];
	snprintf(cid, sizeof cid, "fleetbench-nsint-%ld-%" PRIu32 "-%u", (long)getpid(),
	         env->first_device, instances++);
	snprintf(c->probe_topic, sizeof c->probe_topic, "fleetbench-collector-probe/%s", cid);
	const char *subs[] = { c->filter, c->probe_topic, NULL };
	struct fb_mqtt_conn_config cc = {
		.index = 0, .client_id = cid,
		.username = c->url.has_username ? c->url.username : NULL,
		.password = c->url.has_password ? c->url.password : NULL,
		.clean_start = false, .session_expiry_s = 300, .subscribe = subs, .subscribe_qos = 1,
	};
	if (!(c->conn = fb_mqtt_pool_add(c->pool, &cc, c))) {
		fb_error("out of memory");
		goto fail;
	}
	return c;
fail:
	ns_free(c);
	return NULL;
}

static int ns_start(struct fb_collector *c)
{
	fb_mqtt_pool_start(c->pool);
	return 0;
}

/* Subscribed: the probe came back (the broker handled the SUBSCRIBE before it); or, from a
 * network server's broker that does not let us publish or subscribe to a topic of our own (The
 * Things Stack only takes its v3/ topics), 2 s after CONNACK. */
static bool ns_ready(struct fb_collector *c)
{
	if (!c->ready && c->up_since > 0 && fb_mqtt_conn_up(c->conn) &&
	    ev_now(c->env.loop) - c->up_since >= 2.0)
		c->ready = true;
	return c->ready;
}

static bool ns_drain(struct fb_collector *c, fb_time_us grace)
{
	/* nothing of its own outstanding: the run waits on the reconciliation (bounded by grace) */
	(void)c;
	(void)grace;
	return true;
}

static void ns_summary(struct fb_collector *c, FILE *out)
{
	const struct fb_nsint_counters *n = &c->n;
	fprintf(out, "lorawan integration collector (%s): %" PRIu64 " messages, %" PRIu64 " uplinks "
	        "observed, %" PRIu64 " other events, %" PRIu64 " without FPort, %" PRIu64 " not JSON, %"
	        PRIu64 " with bad fields, %" PRIu64 " bad base64, %" PRIu64 " undecodable, %" PRIu64
	        " of unknown devices, %" PRIu64 " foreign\n",
	        c->url.format == FB_NSINT_TTS ? "tts" : "chirpstack", n->messages, n->uplinks,
	        n->other_events, n->no_fport, n->bad_json, n->bad_field, n->bad_base64, n->undecodable,
	        n->unknown_devices, n->foreign);
	if (n->retained)
		fprintf(out, "lorawan integration collector: %" PRIu64 " retained messages from before the "
		        "run ignored\n", n->retained);
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(c->pool);
	if (s->reconnects || s->connects_failed)
		fprintf(out, "lorawan integration collector: %" PRIu64 " reconnects, %" PRIu64
		        " failed connects\n", s->reconnects, s->connects_failed);
}

static json_t *ns_report(struct fb_collector *c)
{
	const struct fb_nsint_counters *n = &c->n;
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(c->pool);
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	                 "format", c->url.format == FB_NSINT_TTS ? "tts" : "chirpstack",
	                 "topic_filter", c->filter,
	                 "messages", (json_int_t)n->messages, "bytes", (json_int_t)n->bytes,
	                 "uplinks", (json_int_t)n->uplinks, "other_events", (json_int_t)n->other_events,
	                 "no_fport", (json_int_t)n->no_fport, "bad_json", (json_int_t)n->bad_json,
	                 "bad_field", (json_int_t)n->bad_field, "bad_base64", (json_int_t)n->bad_base64,
	                 "undecodable", (json_int_t)n->undecodable,
	                 "unknown_device", (json_int_t)n->unknown_devices,
	                 "foreign", (json_int_t)n->foreign, "retained_ignored", (json_int_t)n->retained,
	                 "connects_ok", (json_int_t)s->connects_ok, "reconnects", (json_int_t)s->reconnects);
}

const struct fb_nsint_counters *fb_collector_nsint_counters(const struct fb_collector *c)
{
	return &c->n;
}

const struct fb_collector_ops fb_collector_nsint = {
	.name = "lorawan-ns",
	.create = ns_create,
	.start = ns_start,
	.ready = ns_ready,
	.drain = ns_drain,
	.summary = ns_summary,
	.report = ns_report,
	.free = ns_free,
};
