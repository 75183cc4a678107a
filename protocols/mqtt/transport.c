/* The `mqtt` transport (protocols/transport.h): the scenario's `transports: mqtt:` settings, one
 * connection per device, per site or shared, topics from templates or from the codec's
 * convention (FIWARE UltraLight / JSON agents, Sparkplug B), commands back into the engine, and
 * the Sparkplug B edge-node session rules (bdSeq in the will and NBIRTH, seq 0..255 across the
 * node's messages, births after every connect and on a Rebirth command). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "protocols/codec.h"
#include "protocols/codecs/fiware.h"
#include "protocols/codecs/fiware_json.h"
#include "protocols/codecs/sparkplug.h"
#include "protocols/codecs/ul.h"
#include "protocols/faults.h"
#include "protocols/mqtt/client.h"
#include "protocols/mqtt/transport.h"
#include "protocols/transport.h"
#include "sim/limits.h"
#include "sim/limits.h"
#include "sim/log.h"

#define PAYLOAD_MAX 16384
#define TOPIC_MAX 256

enum conn_mode { CONN_PER_DEVICE, CONN_PER_SITE, CONN_SHARED };
enum kind { K_TEMPLATE, K_UL, K_FIWARE_JSON, K_SPARKPLUG };

struct cx;

struct dev {
	uint32_t index;                /* global */
	const struct fb_fleet *fleet;
	const struct fb_codec *codec;
	enum kind kind;
	struct cx *cx;
	char *id, *topic, *cmd_topic;  /* cmd_topic NULL: no commands */
	struct fb_codec_ctx ctx;
	/* Sparkplug: the last sample, for DDATA deltas and rebirths */
	double *prev;
	uint32_t prev_seq;
	fb_time_us prev_t;
	bool has_prev, born;
	uint64_t alias_base;
};

struct cx {
	struct fb_transport *t;
	struct fb_mqtt_conn *conn;
	const struct fb_site *site;    /* per-site */
	struct dev *first;             /* per-device */
	char *edge;                    /* Sparkplug edge node id when it carries Sparkplug devices */
	char *ncmd_topic;
	uint8_t bdseq, seq;
	bool bd_started, tried;
	struct dev **spb;              /* its Sparkplug devices */
	size_t nspb, capspb;
	char *subs[FB_MQTT_MAX_TOPICS + 1];
	size_t nsubs;
};

struct fb_transport {
	struct fb_transport_env env;
	struct fb_mqtt_pool *pool;
	enum conn_mode mode;
	size_t fds_reserved;           /* descriptors reserved at start (sim/limits.h) */
	uint8_t version, qos;
	bool retain, aliases, tls;
	const char *topic_tmpl, *cmd_tmpl, *client_tmpl, *user_tmpl, *group;
	char *password;
	char *tls_host;                /* the broker's name for TLS, used by the pool at each connect */
	uint32_t first_device;
	struct dev **by_local;         /* index - first_device -> dev, NULL when not ours */
	uint32_t nlocal;
	struct dev *devs;
	size_t ndevs;
	struct cx *cxs;
	size_t ncx;
	/* command topic -> dev (open addressing) */
	struct dev **cmd_map;
	size_t cmd_cap;
	size_t ntried;
	bool draining, state_saved;
	/* counters beyond the client's */
	uint64_t commands_in, commands_applied, commands_rejected, commands_bad, commands_unknown;
	uint64_t encode_errors, rebirths;
	bool logged_bad_cmd, logged_rejected, logged_encode, logged_unknown;
	struct fb_netfaults *nf;       /* injected network faults (protocols/faults.h), or NULL */
	uint8_t payload[PAYLOAD_MAX];
	char topic[TOPIC_MAX];
};

/* ---- templates ---- */

static const char *const placeholders[] = { "device", "type", "site", "index", "shard", NULL };

/* Renders tmpl. dev NULL: connection-level (only {site} when site is given, and {shard}).
 * wild: {device} {type} {index} (and {site} when site is NULL) become '+'. Returns the length,
 * or -1 when it does not fit, -2 for an unknown placeholder, -3 for one not allowed here. */
static ssize_t render(const char *tmpl, const struct dev *d, const struct fb_site *site,
                      uint32_t shard, bool wild, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = tmpl; *p; ) {
		char val[64];
		const char *v = NULL;
		if (*p == '{') {
			const char *end = strchr(p, '}');
			if (!end)
				return -2;
			size_t len = (size_t)(end - p - 1);
			int which = -1;
			for (int i = 0; placeholders[i]; i++)
				if (strlen(placeholders[i]) == len && !strncmp(p + 1, placeholders[i], len))
					which = i;
			if (which < 0)
				return -2;
			if (which == 4) {
				snprintf(val, sizeof val, "%" PRIu32, shard);
				v = val;
			} else if (which == 2 && (site || d)) {
				v = site ? site->id : d->fleet->site->id;
			} else if (wild) {
				v = "+";
			} else if (!d) {
				return -3;
			} else if (which == 0) {
				v = d->id;
			} else if (which == 1) {
				v = d->fleet->model->name;
			} else {
				snprintf(val, sizeof val, "%" PRIu32, d->index);
				v = val;
			}
			p = end + 1;
		} else {
			val[0] = *p++;
			val[1] = 0;
			v = val;
		}
		size_t l = strlen(v);
		if (n + l + 1 > cap)
			return -1;
		memcpy(out + n, v, l);
		n += l;
	}
	out[n] = 0;
	return (ssize_t)n;
}

static int check_template(const struct fb_ynode *node, const char *what, const char *tmpl, bool per_device,
                          bool per_site)
{
	for (const char *p = tmpl; (p = strchr(p, '{')); p++) {
		const char *end = strchr(p, '}');
		if (!end)
			return fb_ynode_error(node, "unclosed '{' in %s", what);
		size_t len = (size_t)(end - p - 1);
		int which = -1;
		for (int i = 0; placeholders[i]; i++)
			if (strlen(placeholders[i]) == len && !strncmp(p + 1, placeholders[i], len))
				which = i;
		if (which < 0)
			return fb_ynode_error(node, "unknown placeholder '%.*s' in %s (one of {device} {type} "
			                      "{site} {index} {shard})", (int)len + 2, p, what);
		if (!per_device && which != 4 && !(which == 2 && per_site))
			return fb_ynode_error(node, "placeholder '%.*s' in %s needs 'connection: per-device'",
			                      (int)len + 2, p, what);
	}
	return 0;
}

/* ---- configuration ---- */

static const char *const top_keys[] = {
	"url", "version", "connection", "client_id", "username", "password", "password_file", "topic",
	"command_topic", "qos", "retain", "keepalive", "connect_rate", "inflight", "tls", "reconnect",
	"group", "aliases", "clean_session", "session_expiry", "connect_timeout", NULL
};

static int parse_url(const struct fb_ynode *n, char *host, size_t cap, uint16_t *port, bool *tls)
{
	const char *url;
	if (fb_ynode_string(n, "'url'", &url))
		return -1;
	const char *rest;
	if (!strncmp(url, "mqtt://", 7)) {
		*tls = false;
		rest = url + 7;
		*port = 1883;
	} else if (!strncmp(url, "mqtts://", 8)) {
		*tls = true;
		rest = url + 8;
		*port = 8883;
	} else {
		return fb_ynode_error(n, "'url' must start with 'mqtt://' or 'mqtts://', not '%s'", url);
	}
	const char *colon = strrchr(rest, ':');
	const char *slash = strchr(rest, '/');
	if (slash && slash[1])
		return fb_ynode_error(n, "'url' takes no path: '%s'", url);
	size_t hlen = colon ? (size_t)(colon - rest) : slash ? (size_t)(slash - rest) : strlen(rest);
	if (rest[0] == '[') {   /* [v6]:port */
		const char *close = strchr(rest, ']');
		if (!close)
			return fb_ynode_error(n, "bad ipv6 address in 'url' '%s'", url);
		rest++;
		hlen = (size_t)(close - rest);
		colon = close[1] == ':' ? close + 1 : NULL;
	}
	if (hlen == 0 || hlen >= cap)
		return fb_ynode_error(n, "no host in 'url' '%s'", url);
	memcpy(host, rest, hlen);
	host[hlen] = 0;
	if (colon) {
		char *end;
		errno = 0;
		long v = strtol(colon + 1, &end, 10);
		if (errno || end == colon + 1 || (*end && *end != '/') || v < 1 || v > 65535)
			return fb_ynode_error(n, "bad port in 'url' '%s'", url);
		*port = (uint16_t)v;
	}
	return 0;
}

static int parse_rate(const struct fb_ynode *n, double *out)
{
	/* "500/s", "30/min", or a bare number per second */
	const char *text;
	if (fb_ynode_string(n, "'connect_rate'", &text))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	double per = 1;
	if (end == text || errno || v < 0)
		return fb_ynode_error(n, "'connect_rate' must look like '500/s', not '%s'", text);
	if (!strcmp(end, "/s") || !*end)
		per = 1;
	else if (!strcmp(end, "/min") || !strcmp(end, "/m"))
		per = 60;
	else if (!strcmp(end, "/h"))
		per = 3600;
	else
		return fb_ynode_error(n, "'connect_rate' must look like '500/s', not '%s'", text);
	*out = v / per;
	return 0;
}

static int read_password_file(const struct fb_ynode *n, char *line, size_t cap)
{
	const char *path;
	if (fb_ynode_string(n, "'password_file'", &path))
		return -1;
	char full[1024];
	if (path[0] != '/' && n->file && strrchr(n->file, '/'))
		snprintf(full, sizeof full, "%.*s/%s", (int)(strrchr(n->file, '/') - n->file), n->file, path);
	else
		snprintf(full, sizeof full, "%s", path);
	FILE *f = fopen(full, "r");
	if (!f)
		return fb_ynode_error(n, "cannot read 'password_file' '%s': %s", full, strerror(errno));
	if (!fgets(line, (int)cap, f))
		line[0] = 0;
	fclose(f);
	line[strcspn(line, "\r\n")] = 0;
	return 0;
}

static const char *resolve_path(const struct fb_ynode *n, const char *path, char *buf, size_t cap)
{
	if (path[0] != '/' && n->file && strrchr(n->file, '/')) {
		snprintf(buf, cap, "%.*s/%s", (int)(strrchr(n->file, '/') - n->file), n->file, path);
		return buf;
	}
	return path;
}

/* ---- configuration: read by create and by check ---- */

/* transports.mqtt as read; the strings point into the scenario's tree (or into this struct) */
struct conf {
	struct fb_mqtt_pool_config cfg;   /* all but addr/addrlen (create resolves) and tls_host */
	const struct fb_ynode *url_node;  /* NULL when neither url nor a target is given (check) */
	char host[256];
	uint16_t port;
	uint8_t version, qos;
	enum conn_mode mode;
	bool retain, aliases, clean;
	fb_time_us expiry;
	const char *topic_tmpl, *cmd_tmpl, *client_tmpl, *user_tmpl, *group, *password;
	char password_buf[512];           /* password_file's first line */
	char ca[1024], cert[1024], key[1024];
};

/* Reads transports.mqtt (config may be NULL) into *c: every key, its type and range, the url
 * (target, when given, replaces it) and the password file. No sockets, no allocation: create
 * and check both call it. target_known: false from check, which cannot know whether a run will
 * have --local (then the url may be absent and 'tls' beside a plain url is not an error yet).
 * Returns 0, or -1 after located errors. */
static int read_conf(const struct fb_ynode *config, const struct fb_ynode *target, bool target_known,
                     struct conf *c)
{
	struct fb_mqtt_pool_config *cfg = &c->cfg;
	const struct fb_ynode *n;
	memset(c, 0, sizeof *c);
	if (config && (fb_ynode_expect(config, FB_Y_MAP, "'transports.mqtt'") ||
	               fb_ynode_check_keys(config, "'transports.mqtt'", top_keys)))
		return -1;
	/* url */
	if (target) {
		c->url_node = target;
	} else if (!(c->url_node = fb_ynode_get(config, "url")) && target_known) {
		return fb_ynode_error(config, "'transports.mqtt' needs a 'url' (mqtt://host:port or mqtts://host:port)");
	}
	if (c->url_node && parse_url(c->url_node, c->host, sizeof c->host, &c->port, &cfg->tls))
		return -1;
	/* version */
	c->version = FB_MQTT_V311;
	if ((n = fb_ynode_get(config, "version"))) {
		static const char *const versions[] = { "3.1.1", "5", NULL };
		int v;
		if (fb_ynode_enum(n, "'version'", versions, &v))
			return -1;
		c->version = v ? FB_MQTT_V5 : FB_MQTT_V311;
	}
	cfg->version = c->version;
	c->mode = CONN_PER_DEVICE;
	if ((n = fb_ynode_get(config, "connection"))) {
		static const char *const modes[] = { "per-device", "per-site", "shared", NULL };
		int m;
		if (fb_ynode_enum(n, "'connection'", modes, &m))
			return -1;
		c->mode = (enum conn_mode)m;
	}
	bool per_device = c->mode == CONN_PER_DEVICE, per_site = c->mode == CONN_PER_SITE;
	c->client_tmpl = per_device ? "{device}" : per_site ? "fleetbench-{site}-{shard}" : "fleetbench-{shard}";
	c->topic_tmpl = "fleetbench/{site}/{type}/{device}";
	c->cmd_tmpl = NULL;
	c->group = "fleetbench";
	const struct { const char *key; const char **dst; bool device_level; } strs[] = {
		{ "client_id", &c->client_tmpl, false }, { "username", &c->user_tmpl, false },
		{ "topic", &c->topic_tmpl, true }, { "command_topic", &c->cmd_tmpl, true },
		{ "group", &c->group, true },     /* checked below: no placeholders */
	};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		if ((n = fb_ynode_get(config, strs[i].key))) {
			char what[48];
			snprintf(what, sizeof what, "'%s'", strs[i].key);
			if (fb_ynode_string(n, what, strs[i].dst) ||
			    check_template(n, what, *strs[i].dst, per_device || strs[i].device_level, per_site))
				return -1;
		}
	if (strpbrk(c->group, "+/#{}") || !*c->group)
		return fb_ynode_error(fb_ynode_get(config, "group"), "'group' (the Sparkplug group id) must be "
		                      "non-empty without '+', '/', '#' or placeholders");
	if ((n = fb_ynode_get(config, "password")) && fb_ynode_string(n, "'password'", &c->password))
		return -1;
	if ((n = fb_ynode_get(config, "password_file"))) {
		if (c->password)
			return fb_ynode_error(n, "give 'password' or 'password_file', not both");
		if (read_password_file(n, c->password_buf, sizeof c->password_buf))
			return -1;
		c->password = c->password_buf;
	}
	int64_t v;
	c->qos = 0;
	if ((n = fb_ynode_get(config, "qos"))) {
		if (fb_ynode_int(n, "'qos'", 0, 2, &v))
			return -1;
		c->qos = (uint8_t)v;
	}
	if ((n = fb_ynode_get(config, "retain")) && fb_ynode_bool(n, "'retain'", &c->retain))
		return -1;
	if ((n = fb_ynode_get(config, "aliases")) && fb_ynode_bool(n, "'aliases'", &c->aliases))
		return -1;
	fb_time_us d = 60 * FB_US_PER_S;
	if ((n = fb_ynode_get(config, "keepalive"))) {
		if (fb_ynode_duration(n, "'keepalive'", &d))
			return -1;
		if (d > 65535 * FB_US_PER_S || (d && d < FB_US_PER_S))
			return fb_ynode_error(n, "'keepalive' must be 0 or between 1s and 65535s");
	}
	cfg->keepalive_s = (uint16_t)(d / FB_US_PER_S);
	cfg->connect_rate = 0;
	if ((n = fb_ynode_get(config, "connect_rate")) && parse_rate(n, &cfg->connect_rate))
		return -1;
	cfg->inflight = 20;
	if ((n = fb_ynode_get(config, "inflight"))) {
		if (fb_ynode_int(n, "'inflight'", 1, 65534, &v))
			return -1;
		cfg->inflight = (uint16_t)v;
	}
	cfg->connect_timeout_us = 10 * FB_US_PER_S;
	if ((n = fb_ynode_get(config, "connect_timeout")) &&
	    fb_ynode_duration(n, "'connect_timeout'", &cfg->connect_timeout_us))
		return -1;
	cfg->reconnect_min_us = FB_US_PER_S;
	cfg->reconnect_max_us = 60 * FB_US_PER_S;
	cfg->reconnect_jitter = 0.5;
	if ((n = fb_ynode_get(config, "reconnect"))) {
		static const char *const rk[] = { "min", "max", "jitter", NULL };
		const struct fb_ynode *m;
		if (fb_ynode_expect(n, FB_Y_MAP, "'reconnect'") || fb_ynode_check_keys(n, "'reconnect'", rk))
			return -1;
		if ((m = fb_ynode_get(n, "min")) && fb_ynode_duration(m, "'reconnect.min'", &cfg->reconnect_min_us))
			return -1;
		if ((m = fb_ynode_get(n, "max")) && fb_ynode_duration(m, "'reconnect.max'", &cfg->reconnect_max_us))
			return -1;
		if ((m = fb_ynode_get(n, "jitter"))) {
			if (fb_ynode_number(m, "'reconnect.jitter'", &cfg->reconnect_jitter))
				return -1;
			if (cfg->reconnect_jitter < 0 || cfg->reconnect_jitter > 1)
				return fb_ynode_error(m, "'reconnect.jitter' must be between 0 and 1");
		}
		if (cfg->reconnect_min_us <= 0 || cfg->reconnect_max_us < cfg->reconnect_min_us)
			return fb_ynode_error(n, "'reconnect' needs 0 < min <= max");
	}
	c->clean = c->qos == 0;
	if ((n = fb_ynode_get(config, "clean_session")) && fb_ynode_bool(n, "'clean_session'", &c->clean))
		return -1;
	c->expiry = c->clean ? 0 : FB_US_PER_H;
	if ((n = fb_ynode_get(config, "session_expiry")) && fb_ynode_duration(n, "'session_expiry'", &c->expiry))
		return -1;
	if ((n = fb_ynode_get(config, "tls"))) {
		static const char *const tk[] = { "ca", "cert", "key", "insecure", NULL };
		const struct fb_ynode *m;
		if (fb_ynode_expect(n, FB_Y_MAP, "'tls'") || fb_ynode_check_keys(n, "'tls'", tk))
			return -1;
		/* a plain --local broker: the settings are checked, unused */
		if (!cfg->tls && !target && c->url_node)
			return fb_ynode_error(n, "'tls' needs an 'mqtts://' url");
		const char *s;
		if ((m = fb_ynode_get(n, "ca"))) {
			if (fb_ynode_string(m, "'tls.ca'", &s))
				return -1;
			cfg->tls_ca = resolve_path(m, s, c->ca, sizeof c->ca);
		}
		if ((m = fb_ynode_get(n, "cert"))) {
			if (fb_ynode_string(m, "'tls.cert'", &s))
				return -1;
			cfg->tls_cert = resolve_path(m, s, c->cert, sizeof c->cert);
		}
		if ((m = fb_ynode_get(n, "key"))) {
			if (fb_ynode_string(m, "'tls.key'", &s))
				return -1;
			cfg->tls_key = resolve_path(m, s, c->key, sizeof c->key);
		}
		if (!cfg->tls_cert != !cfg->tls_key)
			return fb_ynode_error(n, "'tls' needs both 'cert' and 'key', or neither");
		if ((m = fb_ynode_get(n, "insecure")) && fb_ynode_bool(m, "'tls.insecure'", &cfg->tls_insecure))
			return -1;
	}
	cfg->max_packet = 1 << 20;
	cfg->max_queued = 1000;
	return 0;
}

/* ---- the command-topic map ---- */

static uint64_t hash_str(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
	return h;
}

static int map_put(struct fb_transport *t, struct dev *d)
{
	size_t mask = t->cmd_cap - 1;
	for (size_t i = hash_str(d->cmd_topic, strlen(d->cmd_topic)) & mask;; i = (i + 1) & mask) {
		if (!t->cmd_map[i]) {
			t->cmd_map[i] = d;
			return 0;
		}
		if (!strcmp(t->cmd_map[i]->cmd_topic, d->cmd_topic))
			return -1;
	}
}

static struct dev *map_get(struct fb_transport *t, const uint8_t *topic, size_t n)
{
	if (!t->cmd_cap)
		return NULL;
	size_t mask = t->cmd_cap - 1;
	for (size_t i = hash_str((const char *)topic, n) & mask; t->cmd_map[i]; i = (i + 1) & mask)
		if (strlen(t->cmd_map[i]->cmd_topic) == n && !memcmp(t->cmd_map[i]->cmd_topic, topic, n))
			return t->cmd_map[i];
	return NULL;
}

/* ---- Sparkplug B session ---- */

static fb_time_us now_virtual(struct fb_transport *t)
{
	return t->env.engine ? fb_engine_now(t->env.engine) : 0;
}

static void spb_publish(struct cx *cx, enum fb_spb_msg type, const char *device, const uint8_t *p,
                        ssize_t n, uint8_t qos)
{
	struct fb_transport *t = cx->t;
	if (n < 0 || fb_spb_topic(t->topic, sizeof t->topic, t->group, type, cx->edge, device) < 0) {
		t->encode_errors++;
		return;
	}
	fb_mqtt_publish(cx->conn, t->topic, p, (size_t)n, qos, false);
}

static void spb_dbirth(struct cx *cx, struct dev *d)
{
	struct fb_transport *t = cx->t;
	struct fb_sample s = { d->fleet, d->fleet->model, d->index, d->prev_seq, d->prev_t, d->prev };
	ssize_t n = fb_spb_dbirth(&s, cx->seq++, d->alias_base, t->payload, sizeof t->payload);
	spb_publish(cx, FB_SPB_DBIRTH, d->id, t->payload, n, 0);
	d->born = true;
}

/* NBIRTH with the session's bdSeq and seq 0, then a DBIRTH for every device with a sample. */
static void spb_births(struct cx *cx)
{
	struct fb_transport *t = cx->t;
	cx->seq = 0;
	ssize_t n = fb_spb_nbirth(cx->bdseq, now_virtual(t), cx->seq++, t->payload, sizeof t->payload);
	spb_publish(cx, FB_SPB_NBIRTH, NULL, t->payload, n, 0);
	for (size_t i = 0; i < cx->nspb; i++) {
		cx->spb[i]->born = false;
		if (cx->spb[i]->has_prev)
			spb_dbirth(cx, cx->spb[i]);
	}
}

/* bdSeq across runs (Sparkplug 3.0 wants it kept by the edge node): with --state FILE, the last
 * bdSeq of every edge node is kept in FILE.sparkplug (a file of its own: the --state file itself
 * belongs to the LoRaWAN transport's format), lines "<group> <edge node> <bdSeq>" after a header.
 * The next run's first CONNECT uses bdSeq + 1. Rows of other edge nodes (other shards, other
 * groups) are kept when the file is rewritten. */
#define SPB_STATE_HEADER "fleetbench-sparkplug-state 1"

static char *spb_state_path(const struct fb_transport *t)
{
	size_t n = strlen(t->env.state_file) + sizeof ".sparkplug";
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s.sparkplug", t->env.state_file);
	return p;
}

static struct cx *cx_of_edge(struct fb_transport *t, const char *group, const char *edge)
{
	if (strcmp(group, t->group))
		return NULL;
	for (size_t i = 0; i < t->ncx; i++)
		if (t->cxs[i].edge && !strcmp(t->cxs[i].edge, edge))
			return &t->cxs[i];
	return NULL;
}

static int spb_load_state(struct fb_transport *t)
{
	if (!t->env.state_file)
		return 0;
	char *path = spb_state_path(t);
	if (!path)
		return fb_error("out of memory");
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		int rc = e == ENOENT ? 0 : fb_error("cannot open state file '%s': %s", path, strerror(e));
		free(path);
		return rc;    /* ENOENT: the first run */
	}
	char line[512], group[200], edge[200];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (lineno == 1) {
			if (strncmp(line, SPB_STATE_HEADER, strlen(SPB_STATE_HEADER))) {
				rc = fb_error_at(path, 1, 1, "not a fleetbench Sparkplug state file");
				break;
			}
			continue;
		}
		unsigned bd;
		if (sscanf(line, "%199s %199s %u", group, edge, &bd) != 3 || bd > 255) {
			rc = fb_error_at(path, lineno, 1, "expected 'GROUP EDGE_NODE BDSEQ' (bdSeq 0..255)");
			break;
		}
		struct cx *cx = cx_of_edge(t, group, edge);
		if (cx) {
			cx->bdseq = (uint8_t)bd;
			cx->bd_started = true;    /* the next CONNECT goes on from there */
		}
	}
	fclose(f);
	free(path);
	return rc;
}

static int spb_save_state(struct fb_transport *t)
{
	if (!t->env.state_file)
		return 0;
	char *path = spb_state_path(t);
	size_t tl = path ? strlen(path) + 8 : 0;
	char *tmp = path ? malloc(tl) : NULL;
	if (!tmp) {
		free(path);
		return fb_error("out of memory");
	}
	snprintf(tmp, tl, "%s.tmp", path);
	FILE *o = fopen(tmp, "w");
	if (!o) {
		int e = errno;
		free(tmp);
		int rc = fb_error("cannot write state file '%s': %s", path, strerror(e));
		free(path);
		return rc;
	}
	fputs(SPB_STATE_HEADER "\n", o);
	FILE *f = fopen(path, "r");
	if (f) {    /* other edge nodes' rows are kept */
		char line[512], group[200], edge[200];
		unsigned bd;
		int lineno = 0;
		while (fgets(line, sizeof line, f))
			if (++lineno > 1 && sscanf(line, "%199s %199s %u", group, edge, &bd) == 3 && bd <= 255 &&
			    !cx_of_edge(t, group, edge))
				fprintf(o, "%s %s %u\n", group, edge, bd);
		fclose(f);
	}
	for (size_t i = 0; i < t->ncx; i++)
		if (t->cxs[i].edge && t->cxs[i].bd_started && !strpbrk(t->cxs[i].edge, " \t\n"))
			fprintf(o, "%s %s %u\n", t->group, t->cxs[i].edge, t->cxs[i].bdseq);
	int bad = ferror(o);
	bad |= fclose(o);
	int rc = 0;
	if (bad || rename(tmp, path)) {
		rc = fb_error("cannot write state file '%s': %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	free(path);
	return rc;
}

/* ---- client callbacks ---- */

static void before_connect(void *arg, struct fb_mqtt_conn *c)
{
	struct cx *cx = fb_mqtt_conn_user(c);
	struct fb_transport *t = arg;
	if (!cx->edge)
		return;
	/* Sparkplug 3.0: bdSeq starts at 0 and goes up by one on every new CONNECT, 255 -> 0 */
	if (cx->bd_started)
		cx->bdseq = (uint8_t)(cx->bdseq + 1);
	cx->bd_started = true;
	ssize_t n = fb_spb_ndeath(cx->bdseq, -1, t->payload, sizeof t->payload);
	if (n < 0 || fb_spb_topic(t->topic, sizeof t->topic, t->group, FB_SPB_NDEATH, cx->edge, NULL) < 0)
		return;
	fb_mqtt_conn_set_will(c, t->topic, t->payload, (size_t)n, 1, false);
}

static void on_up(void *arg, struct fb_mqtt_conn *c, bool session_present)
{
	(void)session_present;
	struct fb_transport *t = arg;
	struct cx *cx = fb_mqtt_conn_user(c);
	if (!cx->tried) {
		cx->tried = true;
		t->ntried++;
	}
	if (cx->edge)
		spb_births(cx);
	if (t->nf)
		fb_netfaults_conn_up(t->nf, c);
}

static void on_down(void *arg, struct fb_mqtt_conn *c, enum fb_mqtt_fail why)
{
	(void)why;
	struct fb_transport *t = arg;
	struct cx *cx = fb_mqtt_conn_user(c);
	if (!cx->tried) {
		cx->tried = true;
		t->ntried++;
	}
	for (size_t i = 0; i < cx->nspb; i++)
		cx->spb[i]->born = false;
}

static void command_result(struct fb_transport *t, struct dev *d, const char *field, bool ok)
{
	ssize_t n = -1;
	if (d->kind == K_UL) {
		if (fb_fiware_topic(t->topic, sizeof t->topic, FB_FIWARE_CMDEXE, "ul", d->ctx.apikey, d->id, 0) < 0)
			return;
		n = fb_ul_cmdexe(d->id, field, ok ? "OK" : "ERROR", t->payload, sizeof t->payload);
	} else if (d->kind == K_FIWARE_JSON) {
		if (fb_fiware_topic(t->topic, sizeof t->topic, FB_FIWARE_CMDEXE, "json", d->ctx.apikey, d->id, 0) < 0)
			return;
		n = fb_fiware_json_cmdexe(field, ok ? "OK" : "ERROR", t->payload, sizeof t->payload);
	}
	if (n >= 0)
		fb_mqtt_publish(d->cx->conn, t->topic, t->payload, (size_t)n, t->qos, false);
}

static void on_message(void *arg, struct fb_mqtt_conn *c, const struct fb_mqtt_packet *p)
{
	struct fb_transport *t = arg;
	struct cx *cx = fb_mqtt_conn_user(c);
	t->commands_in++;
	if (cx->ncmd_topic && p->topic.len == strlen(cx->ncmd_topic) &&
	    !memcmp(p->topic.p, cx->ncmd_topic, p->topic.len)) {
		bool rebirth = false;
		if (fb_spb_decode_ncmd(p->payload.p, p->payload.len, &rebirth) != 0) {
			t->commands_bad++;
			if (fb_first_time(&t->logged_bad_cmd))
				fb_warn("mqtt: bad NCMD payload for edge node '%s' (further ones counted)", cx->edge);
			return;
		}
		if (rebirth) {
			t->rebirths++;
			t->commands_applied++;
			spb_births(cx);
		}
		return;
	}
	struct dev *d = map_get(t, p->topic.p, p->topic.len);
	if (!d) {
		t->commands_unknown++;
		if (fb_first_time(&t->logged_unknown))
			fb_warn("mqtt: message on '%.*s', which is no device's command topic (further ones counted)",
			        (int)(p->topic.len > 200 ? 200 : p->topic.len), (const char *)p->topic.p);
		return;
	}
	struct fb_command cmds[8];
	int n;
	if (d->kind == K_SPARKPLUG)
		n = fb_spb_decode_dcmd(d->fleet->model, d->alias_base, p->payload.p, p->payload.len, cmds, 8);
	else
		n = d->codec->decode_command(&d->ctx, d->fleet->model, p->payload.p, p->payload.len, cmds, 8);
	if (n < 0) {
		t->commands_bad++;
		if (fb_first_time(&t->logged_bad_cmd))
			fb_warn("mqtt: bad command for '%s': %s (further ones counted)", d->id, fb_codec_strerror(n));
		command_result(t, d, "?", false);
		return;
	}
	for (int i = 0; i < n; i++) {
		int rc = t->env.engine ? fb_engine_command(t->env.engine, d->index, cmds[i].field, cmds[i].value) : -1;
		if (rc == 0) {
			t->commands_applied++;
		} else {
			t->commands_rejected++;
			if (fb_first_time(&t->logged_rejected))
				fb_warn("mqtt: command '%s=%g' for '%s' rejected (further ones counted)", cmds[i].field,
				        cmds[i].value, d->id);
		}
		command_result(t, d, cmds[i].field, rc == 0);
	}
}

/* ---- sending ---- */

/* The bench's reconciliation (protocols/transport.h): once per sample, as it is handed to its
 * connection; the identity a collector reads back is the scheduled time in ms, which every MQTT
 * codec carries. */
static void declare_sent(struct fb_transport *t, const struct fb_sample *s)
{
	if (t->env.sent)
		t->env.sent(t->env.sent_arg, "mqtt", s, (uint64_t)(s->t / FB_US_PER_MS));
}

static void mqtt_send(struct fb_transport *t, const struct fb_sample *s)
{
	if (s->flags & FB_SAMPLE_UNSENT)      /* faults: the device did not transmit it */
		return;
	if (s->device < t->first_device || s->device - t->first_device >= t->nlocal)
		return;
	struct dev *d = t->by_local[s->device - t->first_device];
	if (!d)
		return;
	if (d->kind == K_SPARKPLUG) {
		struct cx *cx = d->cx;
		unsigned nf = s->model->nfields;
		ssize_t n = 0;
		if (fb_mqtt_conn_up(cx->conn)) {
			if (!d->born) {
				memcpy(d->prev, s->values, nf * sizeof *d->prev);
				d->prev_seq = s->seq;
				d->prev_t = s->t;
				d->has_prev = true;
				/* the device's first sample of a session travels in its DBIRTH */
				declare_sent(t, s);
				spb_dbirth(cx, d);
				return;
			}
			n = fb_spb_ddata(s, d->has_prev ? d->prev : NULL, cx->seq++, d->alias_base,
			                 t->payload, sizeof t->payload);
			if (n >= 0)
				declare_sent(t, s);
			spb_publish(cx, FB_SPB_DDATA, d->id, t->payload, n, 0);
		} else {
			/* counted as dropped by the client, as any QoS 0 message while down; the bench
			 * counts it lost (unless a rebirth carries it later) */
			declare_sent(t, s);
			fb_mqtt_publish(cx->conn, d->topic, t->payload, 0, 0, false);
		}
		memcpy(d->prev, s->values, nf * sizeof *d->prev);
		d->prev_seq = s->seq;
		d->prev_t = s->t;
		d->has_prev = true;
		return;
	}
	ssize_t n = d->codec->encode(&d->ctx, s, t->payload, sizeof t->payload);
	if (n < 0) {
		t->encode_errors++;
		if (fb_first_time(&t->logged_encode))
			fb_warn("mqtt: cannot encode a sample of '%s' as '%s': %s", d->id, d->codec->name,
			        fb_codec_strerror((int)n));
		return;
	}
	/* handed to the connection: published, queued, or (QoS 0 while down) dropped and counted */
	declare_sent(t, s);
	size_t len = (size_t)n;
	/* faults: what the network does with the message, once it is declared sent */
	unsigned copies = t->nf ? fb_netfaults_message(t->nf, s, d->cx->conn, d->topic, t->payload, &len,
	                                               sizeof t->payload) : 1;
	for (unsigned k = 0; k < copies; k++)
		fb_mqtt_publish(d->cx->conn, d->topic, t->payload, len, t->qos, t->retain);
}

/* faults: the network's side of a held-back message or a dark site (protocols/faults.h) */
static void nf_publish(void *arg, void *conn, const char *topic, const uint8_t *p, size_t len)
{
	struct fb_transport *t = arg;
	fb_mqtt_publish(conn, topic, p, len, t->qos, t->retain);
}
static void nf_hold(void *arg, void *conn) { fb_mqtt_conn_hold(conn); }
static void nf_release(void *arg, void *conn, double after_s) { fb_mqtt_conn_release(conn, after_s); }
static const struct fb_netfault_ops nf_ops = { nf_publish, nf_hold, nf_release };

/* ---- create ---- */

static const struct fb_fleet *fleet_uses_us(const struct fb_scenario *sc, size_t i)
{
	const struct fb_fleet *f = &sc->fleets[i];
	return f->transport && !strcmp(f->transport, "mqtt") ? f : NULL;
}

static struct cx *cx_for(struct fb_transport *t, struct dev *d, struct cx **by_site, struct cx **shared)
{
	struct cx *cx;
	if (t->mode == CONN_PER_DEVICE) {
		cx = &t->cxs[t->ncx++];
		cx->first = d;
	} else if (t->mode == CONN_PER_SITE) {
		uint32_t si = d->fleet->site->index;
		if (!by_site[si]) {
			by_site[si] = &t->cxs[t->ncx++];
			by_site[si]->site = d->fleet->site;
		}
		cx = by_site[si];
	} else {
		if (!*shared)
			*shared = &t->cxs[t->ncx++];
		cx = *shared;
	}
	cx->t = t;
	return cx;
}

/* Adds a command topic filter to a connection once. 0, -1 after a located error, -2 when out of
 * memory (unreported). */
static int add_sub(struct cx *cx, const char *filter, const struct fb_ynode *where)
{
	for (size_t i = 0; i < cx->nsubs; i++)
		if (!strcmp(cx->subs[i], filter))
			return 0;
	if (cx->nsubs == FB_MQTT_MAX_TOPICS)
		return fb_ynode_error(where, "more than %d command topic filters on one connection",
		                      FB_MQTT_MAX_TOPICS);
	if (!(cx->subs[cx->nsubs] = strdup(filter)))
		return -2;   /* out of memory: the caller says so with the fleet's size */
	cx->nsubs++;
	return 0;
}

/* A fleet of ours: its codec, how its topics are made, and its IoT Agent apikey (ul and
 * fiware-json need one). Returns 0, or -1 after a located error. */
static int read_fleet(const struct fb_fleet *f, const struct fb_codec **codec, enum kind *kind,
                      const char **apikey)
{
	*codec = fb_codec_find(f->codec ? f->codec : "json");
	if (!*codec || !(*codec)->encode)
		return fb_ynode_error(fb_ynode_get(f->node, "codec"), "codec '%s' cannot be carried by 'mqtt'",
		                      f->codec ? f->codec : "json");
	const char *name = (*codec)->name;
	*kind = !strcmp(name, "ul") ? K_UL : !strcmp(name, "fiware-json") ? K_FIWARE_JSON :
	        !strcmp(name, "sparkplug") ? K_SPARKPLUG : K_TEMPLATE;
	*apikey = NULL;
	const struct fb_ynode *ak = f->params_node ? fb_ynode_get(f->params_node, "apikey") : NULL;
	if (ak && fb_ynode_string(ak, "'apikey'", apikey))
		return -1;
	if ((*kind == K_UL || *kind == K_FIWARE_JSON) && !*apikey)
		return fb_ynode_error(f->node, "codec '%s' needs 'params: {apikey: ...}' (the IoT Agent's "
		                      "service key)", name);
	return 0;
}

/* Parse only (fb_transport_ops.check): what create reads, without the target a run may bring
 * (--local), name resolution or sockets. */
static int mqtt_check(const struct fb_scenario *sc, const struct fb_ynode *config)
{
	struct conf conf;
	int bad = read_conf(config, NULL, false, &conf) != 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = fleet_uses_us(sc, i);
		const struct fb_codec *codec;
		enum kind kind;
		const char *apikey;
		if (f)
			bad |= read_fleet(f, &codec, &kind, &apikey) != 0;
	}
	return bad ? -1 : 0;
}

/* Per-site connections make each site one Sparkplug edge node: a site's Sparkplug fleets split
 * across shards would be two processes announcing the same edge node (two NBIRTHs, two bdSeq,
 * each DBIRTH half the devices), which a Sparkplug host application takes for one node
 * flapping. */
static bool mqtt_site_local(const struct fb_scenario *sc, const struct fb_ynode *config,
                            const struct fb_fleet *f)
{
	(void)sc;
	struct conf conf;
	return f->codec && !strcmp(f->codec, "sparkplug") && read_conf(config, NULL, false, &conf) == 0 &&
	       conf.mode == CONN_PER_SITE;
}

static void mqtt_free(struct fb_transport *t);

static struct fb_transport *mqtt_create(const struct fb_transport_env *env, const struct fb_ynode *config)
{
	struct fb_transport *t = calloc(1, sizeof *t);
	if (!t) {
		fb_error("out of memory");
		return NULL;
	}
	t->env = *env;
	const struct fb_scenario *sc = env->scenario;
	/* --local / --collect: env->target replaces the url (and makes the section optional) */
	struct fb_ynode target_node = { .kind = FB_Y_SCALAR, .file = "--local", .text = (char *)env->target };
	if (!config && !env->target) {
		fb_error("fleets use transport 'mqtt' but the scenario has no 'transports: mqtt:' section "
		         "(at least 'url')");
		goto fail;
	}
	struct conf conf, *c = &conf;   /* the pool copies what it keeps (tls_host aside) */
	if (read_conf(config, env->target ? &target_node : NULL, true, c))
		goto fail;
	struct fb_mqtt_pool_config cfg = c->cfg;
	if (fb_mqtt_resolve(c->host, c->port, &cfg.addr, &cfg.addrlen)) {
		fb_ynode_error(c->url_node, "cannot resolve '%s'", c->host);
		goto fail;
	}
	t->tls = cfg.tls;
	/* the pool keeps this pointer for every TLS connect (SNI, verification): the transport owns it */
	cfg.tls_host = t->tls_host = cfg.tls ? strdup(c->host) : NULL;
	t->version = c->version;
	t->mode = c->mode;
	bool per_device = t->mode == CONN_PER_DEVICE, per_site = t->mode == CONN_PER_SITE;
	t->client_tmpl = c->client_tmpl;
	t->topic_tmpl = c->topic_tmpl;
	t->cmd_tmpl = c->cmd_tmpl;
	t->user_tmpl = c->user_tmpl;
	t->group = c->group;
	if (c->password && !(t->password = strdup(c->password)))
		goto oom;
	t->qos = c->qos;
	t->retain = c->retain;
	t->aliases = c->aliases;
	bool clean = c->clean;
	fb_time_us expiry = c->expiry;
	cfg.seed = sc->seed;

	/* the devices of this shard on fleets of ours */
	t->first_device = env->engine ? fb_engine_first_device(env->engine) : 0;
	t->nlocal = env->engine ? fb_engine_device_count(env->engine) : (uint32_t)sc->ndevices;
	t->by_local = calloc(t->nlocal ? t->nlocal : 1, sizeof *t->by_local);
	size_t count = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = fleet_uses_us(sc, i);
		for (uint32_t k = 0; f && k < f->count; k++)
			if (f->first + k >= t->first_device && f->first + k - t->first_device < t->nlocal)
				count++;
	}
	t->devs = calloc(count ? count : 1, sizeof *t->devs);
	t->cxs = calloc(count ? count : 1, sizeof *t->cxs);
	struct cx **by_site = calloc(sc->nsites ? sc->nsites : 1, sizeof *by_site), *shared = NULL;
	t->cmd_cap = 16;
	while (t->cmd_cap < 2 * count)
		t->cmd_cap *= 2;
	t->cmd_map = calloc(t->cmd_cap, sizeof *t->cmd_map);
	if (!t->by_local || !t->devs || !t->cxs || !by_site || !t->cmd_map) {
		free(by_site);
		goto oom;
	}
	char buf[TOPIC_MAX];
	int rc;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = fleet_uses_us(sc, i);
		if (!f)
			continue;
		const struct fb_codec *codec;
		enum kind kind;
		const char *apikey;
		if (read_fleet(f, &codec, &kind, &apikey)) {
			free(by_site);
			goto fail;
		}
		for (uint32_t k = 0; k < f->count; k++) {
			uint32_t gi = f->first + k;
			if (gi < t->first_device || gi - t->first_device >= t->nlocal)
				continue;
			struct dev *dv = &t->devs[t->ndevs++];
			t->by_local[gi - t->first_device] = dv;
			dv->index = gi;
			dv->fleet = f;
			dv->codec = codec;
			dv->kind = kind;
			fb_device_id(f->model, gi, buf, sizeof buf);
			if (!(dv->id = strdup(buf))) {
				free(by_site);
				goto oom;
			}
			dv->ctx = (struct fb_codec_ctx){ dv->id, f->site->id, apikey };
			dv->cx = cx_for(t, dv, by_site, &shared);
			ssize_t len = 0, clen = -1;
			char cbuf[TOPIC_MAX];
			switch (kind) {
			case K_TEMPLATE:
				len = render(t->topic_tmpl, dv, NULL, env->shard_index, false, buf, sizeof buf);
				if (codec->decode_command) {
					if (t->cmd_tmpl)
						clen = render(t->cmd_tmpl, dv, NULL, env->shard_index, false, cbuf, sizeof cbuf);
					else if (len >= 0)
						clen = snprintf(cbuf, sizeof cbuf, "%s/cmd", buf);
				}
				break;
			case K_UL: case K_FIWARE_JSON: {
				const char *proto = kind == K_UL ? "ul" : "json";
				len = fb_fiware_topic(buf, sizeof buf, FB_FIWARE_ATTRS, proto, apikey, dv->id, 0);
				clen = fb_fiware_topic(cbuf, sizeof cbuf, FB_FIWARE_CMD, proto, apikey, dv->id, 0);
				break;
			}
			case K_SPARKPLUG: {
				struct cx *cx = dv->cx;
				if (!cx->edge) {
					if (!(cx->edge = strdup(per_device ? dv->id : per_site ? f->site->id : "fleetbench"))) {
						free(by_site);
						goto oom;
					}
					if (fb_spb_topic(cbuf, sizeof cbuf, t->group, FB_SPB_NCMD, cx->edge, NULL) < 0) {
						fb_ynode_error(f->node, "edge node id '%s' cannot be a Sparkplug id", cx->edge);
						free(by_site);
						goto fail;
					}
					if (!(cx->ncmd_topic = strdup(cbuf))) {
						free(by_site);
						goto oom;
					}
					if ((rc = add_sub(cx, cbuf, config))) {
						free(by_site);
						if (rc == -2)
							goto oom;
						goto fail;
					}
				}
				if (cx->nspb == cx->capspb) {
					struct dev **grown = realloc(cx->spb, (cx->capspb ? cx->capspb * 2 : 8) * sizeof *cx->spb);
					if (!grown) {
						free(by_site);
						goto oom;
					}
					cx->spb = grown;
					cx->capspb = cx->capspb ? cx->capspb * 2 : 8;
				}
				dv->alias_base = t->aliases ? ((uint64_t)cx->nspb + 1) << 8 : FB_SPB_NO_ALIAS;
				cx->spb[cx->nspb++] = dv;
				if (!(dv->prev = calloc(f->model->nfields ? f->model->nfields : 1, sizeof *dv->prev))) {
					free(by_site);
					goto oom;
				}
				len = fb_spb_topic(buf, sizeof buf, t->group, FB_SPB_DDATA, cx->edge, dv->id);
				clen = fb_spb_topic(cbuf, sizeof cbuf, t->group, FB_SPB_DCMD, cx->edge, dv->id);
				break;
			}
			}
			if (len < 0 || !fb_mqtt_topic_name_valid((const uint8_t *)buf, (size_t)len)) {
				fb_ynode_error(fb_ynode_get(config, "topic") ? fb_ynode_get(config, "topic") : f->node,
				               "device '%s' gets no valid topic", dv->id);
				free(by_site);
				goto fail;
			}
			if (!(dv->topic = strdup(buf))) {
				free(by_site);
				goto oom;
			}
			if (clen >= 0) {
				if (!(dv->cmd_topic = strdup(cbuf))) {
					free(by_site);
					goto oom;
				}
				if (map_put(t, dv)) {
					fb_ynode_error(fb_ynode_get(config, "command_topic") ? fb_ynode_get(config, "command_topic") : f->node,
					               "two devices share the command topic '%s'", cbuf);
					free(by_site);
					goto fail;
				}
				/* the connection's filter: the topic itself per device, else its wildcard form */
				const char *filter = cbuf;
				char wbuf[TOPIC_MAX];
				if (!per_device) {
					ssize_t wl = -1;
					if (kind == K_TEMPLATE)
						wl = render(t->cmd_tmpl ? t->cmd_tmpl : t->topic_tmpl, NULL, per_site ? f->site : NULL,
						            env->shard_index, true, wbuf, sizeof wbuf - 4);
					if (kind == K_TEMPLATE && wl >= 0 && !t->cmd_tmpl)
						strcat(wbuf, "/cmd");
					else if (kind == K_UL || kind == K_FIWARE_JSON)   /* /<apikey>/+/cmd */
						wl = snprintf(wbuf, sizeof wbuf, "/%s/+/cmd", apikey);
					else if (kind == K_SPARKPLUG)
						wl = snprintf(wbuf, sizeof wbuf, "spBv1.0/%s/DCMD/%s/+", t->group, dv->cx->edge);
					if (wl >= (ssize_t)sizeof wbuf)
						wl = -1;
					if (wl < 0) {
						fb_ynode_error(config, "cannot build the command topic filter of '%s'", dv->id);
						free(by_site);
						goto fail;
					}
					filter = wbuf;
				}
				if ((rc = add_sub(dv->cx, filter, config))) {
					free(by_site);
					if (rc == -2)
						goto oom;
					goto fail;
				}
			}
		}
	}
	free(by_site);
	if (!t->ndevs) {
		/* nothing of ours in this shard */
		return t;
	}
	struct fb_mqtt_callbacks cb = { t, before_connect, on_up, on_down, on_message };
	t->pool = fb_mqtt_pool_new(env->loop, &cfg, &cb);
	if (!t->pool)
		goto fail;
	for (size_t i = 0; i < t->ncx; i++) {
		struct cx *cx = &t->cxs[i];
		char cid[TOPIC_MAX], user[TOPIC_MAX];
		if (render(t->client_tmpl, cx->first, cx->site, env->shard_index, false, cid, sizeof cid) < 0 ||
		    (t->user_tmpl && render(t->user_tmpl, cx->first, cx->site, env->shard_index, false, user, sizeof user) < 0)) {
			fb_ynode_error(config, "cannot render 'client_id' or 'username'");
			goto fail;
		}
		cx->subs[cx->nsubs] = NULL;
		bool spb = cx->edge != NULL;
		struct fb_mqtt_conn_config cc = {
			.index = cx->first ? cx->first->index : (uint32_t)i,
			.client_id = cid, .username = t->user_tmpl ? user : NULL, .password = t->password,
			/* Sparkplug 3.0: clean session, session expiry 0 */
			.clean_start = spb ? true : clean, .session_expiry_s = spb ? 0 : (uint32_t)(expiry / FB_US_PER_S),
			.subscribe = cx->nsubs ? (const char *const *)cx->subs : NULL,
			.subscribe_qos = spb ? 1 : (t->qos ? t->qos : 1),
		};
		if (!(cx->conn = fb_mqtt_pool_add(t->pool, &cc, cx)))
			goto oom;
	}
	if (spb_load_state(t) != 0)
		goto fail;
	bool nf_failed = false;       /* faults: each connection with the first device it carries */
	if ((t->nf = fb_netfaults_new(env, "mqtt", &nf_ops, t, &nf_failed))) {
		bool *seen = calloc(t->ncx ? t->ncx : 1, sizeof *seen);
		for (size_t i = 0; seen && i < t->ndevs; i++) {
			struct cx *cx = t->devs[i].cx;
			if (!cx || !cx->conn || seen[cx - t->cxs])
				continue;
			seen[cx - t->cxs] = true;
			if (fb_netfaults_add_conn(t->nf, cx->conn, t->devs[i].index)) {
				free(seen);
				goto fail;
			}
		}
		if (!seen) {
			fb_error("out of memory");
			goto fail;
		}
		free(seen);
	} else if (nf_failed) {
		goto fail;
	}
	return t;
oom: {
	/* a fleet too big for this process: said with its size and the way out */
	char what[96];
	snprintf(what, sizeof what, "the mqtt transport's %" PRIu32 " devices", t->nlocal);
	fb_oom_error(what, (uint64_t)t->nlocal * (sizeof(struct dev) + sizeof(struct cx) + 160));
}
fail:
	mqtt_free(t);
	return NULL;
}

/* ---- the rest of the interface ---- */

static int mqtt_start(struct fb_transport *t)
{
	if (!t->pool)
		return 0;
	/* One descriptor per connection: a fleet too big for the limit stops here, named, instead
	 * of failing connection by connection with EMFILE. */
	static const char *const mode_names[] = { "per-device", "per-site", "shared" };
	char what[96];
	snprintf(what, sizeof what, "mqtt: %zu connection%s ('connection: %s')", t->ncx,
	         t->ncx == 1 ? "" : "s", mode_names[t->mode]);
	if (fb_fd_reserve(t->ncx, what, t->mode == CONN_PER_DEVICE ?
	                  "or split the fleet over processes with --shard i/N, or share connections "
	                  "with 'connection: per-site' in transports.mqtt" :
	                  "or split the fleet over processes with --shard i/N"))
		return -1;
	t->fds_reserved = t->ncx;
	/* and one local port each towards the broker */
	if (fb_ports_check(t->ncx, what, t->mode == CONN_PER_DEVICE ?
	                   "or split the fleet over processes on several hosts with --shard i/N, or "
	                   "share connections with 'connection: per-site' in transports.mqtt" :
	                   "or split the fleet over processes on several hosts with --shard i/N"))
		return -1;
	fb_mqtt_pool_start(t->pool);
	return 0;
}

static bool mqtt_ready(struct fb_transport *t)
{
	return !t->pool || t->ntried >= t->ncx;
}

static bool mqtt_busy(struct fb_transport *t)
{
	return t->pool && fb_mqtt_pool_busy(t->pool);
}

static fb_time_us mqtt_hold_until(struct fb_transport *t)
{
	(void)t;
	return FB_TIME_NEVER;
}

static bool mqtt_drain(struct fb_transport *t)
{
	if (!t->pool)
		return true;
	fb_netfaults_drain(t->nf);     /* faults: held-back messages out, held connections back */
	bool any_spb = false;
	if (!t->draining) {
		t->draining = true;
		for (size_t i = 0; i < t->ncx; i++) {
			struct cx *cx = &t->cxs[i];
			if (!cx->edge)
				continue;
			any_spb = true;
			if (!fb_mqtt_conn_up(cx->conn))
				continue;
			/* a DDEATH for every device born in this session, seq going on (QoS 0) */
			for (size_t k = 0; k < cx->nspb; k++) {
				struct dev *d = cx->spb[k];
				if (!d->born)
					continue;
				ssize_t n = fb_spb_ddeath(now_virtual(t), cx->seq++, t->payload, sizeof t->payload);
				spb_publish(cx, FB_SPB_DDEATH, d->id, t->payload, n, 0);
				d->born = false;
			}
			/* Sparkplug 3.0 intentional disconnect: 3.1.1 publishes NDEATH itself; 5.0 asks the
			 * broker for the will with DISCONNECT reason 0x04 */
			if (t->version < FB_MQTT_V5) {
				ssize_t n = fb_spb_ndeath(cx->bdseq, now_virtual(t), t->payload, sizeof t->payload);
				spb_publish(cx, FB_SPB_NDEATH, NULL, t->payload, n, 1);
			}
		}
	}
	for (size_t i = 0; i < t->ncx && !any_spb; i++)
		any_spb = t->cxs[i].edge != NULL;
	bool done = fb_mqtt_pool_drain(t->pool, t->version >= FB_MQTT_V5 && any_spb ? FB_MQTT_RC_DISCONNECT_WITH_WILL : 0);
	if (done && any_spb && !t->state_saved) {
		t->state_saved = true;
		spb_save_state(t);     /* an error is printed; the run's data is complete anyway */
	}
	return done;
}

static void mqtt_summary(struct fb_transport *t, FILE *out)
{
	if (!t->pool) {
		fprintf(out, "mqtt: no device of this shard\n");
		return;
	}
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(t->pool);
	fprintf(out, "mqtt: %zu connections, %" PRIu64 " up; connects %" PRIu64 " ok, %" PRIu64 " failed, %"
	        PRIu64 " refused; %" PRIu64 " reconnects\n", t->ncx, s->connections_up, s->connects_ok,
	        s->connects_failed, s->connects_refused, s->reconnects);
	fprintf(out, "mqtt: published %" PRIu64 " (%" PRIu64 " resent), acked %" PRIu64 ", failed %" PRIu64
	        ", dropped while down %" PRIu64 "; inflight %" PRIu64 ", queued %" PRIu64 "; bytes out %" PRIu64
	        ", in %" PRIu64 "\n", s->pub_sent, s->pub_resent, s->pub_acked, s->pub_failed, s->pub_dropped,
	        s->inflight, s->queued, s->bytes_out, s->bytes_in);
	for (int i = 0; i < 256; i++) {
		if (s->refused_by_reason[i])
			fprintf(out, "mqtt: refused %" PRIu64 "x: %s (code 0x%02x)\n", s->refused_by_reason[i],
			        fb_mqtt_connack_name(t->version, (uint8_t)i), i);
		if (s->pub_failed_by_reason[i])
			fprintf(out, "mqtt: publish failed %" PRIu64 "x: %s (code 0x%02x)\n", s->pub_failed_by_reason[i],
			        fb_mqtt_reason_name((uint8_t)i), i);
	}
	for (int f = 0; f < FB_MQTT_FAIL_KINDS; f++)
		if (s->failures[f])
			fprintf(out, "mqtt: %" PRIu64 "x %s\n", s->failures[f], fb_mqtt_fail_name((enum fb_mqtt_fail)f));
	if (t->commands_in)
		fprintf(out, "mqtt: commands %" PRIu64 " received, %" PRIu64 " applied, %" PRIu64 " rejected, %"
		        PRIu64 " malformed, %" PRIu64 " on unknown topics; %" PRIu64 " rebirths\n", t->commands_in,
		        t->commands_applied, t->commands_rejected, t->commands_bad, t->commands_unknown, t->rebirths);
	fb_netfaults_summary(t->nf, "mqtt", out);
}

static json_t *mqtt_report(struct fb_transport *t)
{
	json_t *o = json_object();
	if (!t->pool)
		return o;
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(t->pool);
	json_object_set_new(o, "connections", json_integer((json_int_t)t->ncx));
	json_object_set_new(o, "connections_up", json_integer((json_int_t)s->connections_up));
	json_object_set_new(o, "connects_ok", json_integer((json_int_t)s->connects_ok));
	json_object_set_new(o, "connects_failed", json_integer((json_int_t)s->connects_failed));
	json_object_set_new(o, "connects_refused", json_integer((json_int_t)s->connects_refused));
	json_object_set_new(o, "reconnects", json_integer((json_int_t)s->reconnects));
	json_object_set_new(o, "pub_sent", json_integer((json_int_t)s->pub_sent));
	json_object_set_new(o, "pub_resent", json_integer((json_int_t)s->pub_resent));
	json_object_set_new(o, "pub_acked", json_integer((json_int_t)s->pub_acked));
	json_object_set_new(o, "pub_failed", json_integer((json_int_t)s->pub_failed));
	/* what the bench counts as this transport's errors (protocols/transport.h) */
	json_object_set_new(o, "errors", json_integer((json_int_t)(s->pub_failed + s->connects_failed +
	                                                            s->connects_refused)));
	json_object_set_new(o, "pub_dropped", json_integer((json_int_t)s->pub_dropped));
	json_object_set_new(o, "inflight", json_integer((json_int_t)s->inflight));
	json_object_set_new(o, "queued", json_integer((json_int_t)s->queued));
	json_object_set_new(o, "bytes_out", json_integer((json_int_t)s->bytes_out));
	json_object_set_new(o, "bytes_in", json_integer((json_int_t)s->bytes_in));
	json_object_set_new(o, "commands_in", json_integer((json_int_t)t->commands_in));
	json_object_set_new(o, "commands_applied", json_integer((json_int_t)t->commands_applied));
	json_object_set_new(o, "commands_rejected", json_integer((json_int_t)t->commands_rejected));
	json_object_set_new(o, "commands_malformed", json_integer((json_int_t)t->commands_bad));
	json_object_set_new(o, "rebirths", json_integer((json_int_t)t->rebirths));
	json_t *refused = json_object(), *failed = json_object(), *fails = json_object();
	for (int i = 0; i < 256; i++) {
		if (s->refused_by_reason[i])
			json_object_set_new(refused, fb_mqtt_connack_name(t->version, (uint8_t)i),
			                    json_integer((json_int_t)s->refused_by_reason[i]));
		if (s->pub_failed_by_reason[i])
			json_object_set_new(failed, fb_mqtt_reason_name((uint8_t)i),
			                    json_integer((json_int_t)s->pub_failed_by_reason[i]));
	}
	for (int f = 0; f < FB_MQTT_FAIL_KINDS; f++)
		if (s->failures[f])
			json_object_set_new(fails, fb_mqtt_fail_name((enum fb_mqtt_fail)f), json_integer((json_int_t)s->failures[f]));
	json_object_set_new(o, "refused_by_reason", refused);
	json_object_set_new(o, "pub_failed_by_reason", failed);
	json_object_set_new(o, "failures", fails);
	if (t->nf)
		json_object_set_new(o, "faults", fb_netfaults_report(t->nf));
	return o;
}

static int mqtt_status(struct fb_transport *t)
{
	if (!t->pool)
		return 0;
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(t->pool);
	if (s->connects_ok == 0) {
		fb_error("mqtt: no connection to the broker succeeded");
		return 1;
	}
	return 0;
}

static void mqtt_free(struct fb_transport *t)
{
	if (!t)
		return;
	fb_fd_release(t->fds_reserved);
	fb_netfaults_free(t->nf);
	fb_mqtt_pool_free(t->pool);
	free(t->tls_host);
	for (size_t i = 0; i < t->ndevs; i++) {
		free(t->devs[i].id);
		free(t->devs[i].topic);
		free(t->devs[i].cmd_topic);
		free(t->devs[i].prev);
	}
	for (size_t i = 0; t->cxs && i < t->ncx; i++) {
		free(t->cxs[i].edge);
		free(t->cxs[i].ncmd_topic);
		free(t->cxs[i].spb);
		for (size_t k = 0; k < t->cxs[i].nsubs; k++)
			free(t->cxs[i].subs[k]);
	}
	free(t->devs);
	free(t->cxs);
	free(t->by_local);
	free(t->cmd_map);
	free(t->password);
	free(t);
}

static const char *const mqtt_codecs[] = { "json", "senml", "ul", "fiware-json", "sparkplug", NULL };
static const char *const mqtt_params[] = { "apikey", NULL };

const struct fb_transport_ops fb_transport_mqtt = {
	.name = "mqtt",
	.codecs = mqtt_codecs,
	.extra_params = mqtt_params,
	.create = mqtt_create,
	.check = mqtt_check,
	.site_local = mqtt_site_local,
	.start = mqtt_start,
	.ready = mqtt_ready,
	.send = mqtt_send,
	.busy = mqtt_busy,
	.hold_until = mqtt_hold_until,
	.drain = mqtt_drain,
	.summary = mqtt_summary,
	.report = mqtt_report,
	.status = mqtt_status,
	.free = mqtt_free,
};

/* For tests: the pool, to read its counters. */
struct fb_mqtt_pool *fb_transport_mqtt_pool(struct fb_transport *t)
{
	return t->pool;
}
