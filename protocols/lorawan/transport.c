/* The LoRaWAN transport: gateways + devices on the loop; see lorawan.h. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "protocols/codec.h"
#include "protocols/lorawan/lorawan.h"
#include "sim/fault.h"
#include "sim/limits.h"
#include "sim/log.h"
#include "sim/rng.h"

#define RECENT 128             /* uplinks remembered per gateway for matching downlinks */
#define MAX_REACH 4            /* gateways a device can reach */
#define ON_AIR 64              /* receptions remembered per gateway for collisions */

struct recent_up {
	uint32_t tmst;
	uint32_t dev;              /* local index + 1; 0 = empty */
	float pl_db;               /* path loss of that reception (shadowing included): the downlink
	                            * to the device crosses the same channel */
};

struct reach {
	uint8_t n;
	uint16_t gw[MAX_REACH];
	float pl_db[MAX_REACH];
};

struct on_air {
	struct fb_lw_rx rx;
	uint32_t tmst;             /* to take it back from the gateway's batch */
};

struct wait_entry {
	uint32_t dev;
	fb_time_us tx_start, window_end, wall_deadline;
	fb_time_us hold_at;        /* RX1 opens: virtual time waits here for the reply */
};

struct deferred {
	fb_time_us at;
	uint32_t dev;
};

struct wait_fifo {
	struct wait_entry *e;
	size_t cap, head, len, hold_pos;   /* hold_pos: entries before it are past their grace */
};

struct fb_lw_net {
	struct ev_loop *loop;
	struct fb_lw_config cfg;
	uint64_t seed;
	struct fb_lw_crypto cr;
	struct fb_lw_gateway *gws;
	size_t ngws;
	struct recent_up *recent;          /* ngws * RECENT */
	struct on_air *air;                /* ngws * ON_AIR, when collisions are on */
	unsigned *air_pos;
	unsigned *recent_pos;
	struct fb_lw_device *devs;
	struct reach *reach;
	bool *active;
	bool *gw_used;                     /* reached by an active device of this process */
	uint32_t first, ndevs;
	struct wait_fifo waits[2];         /* 0: join-accepts, 1: data downlinks */
	struct deferred *defer;            /* min-heap on `at`: one entry per device at most */
	size_t ndefer;
	bool *deferred;                    /* per device: an uplink waits for the duty cycle */
	uint32_t *addr_table;              /* DevAddr -> local index + 1, open addressing */
	size_t addr_cap;
	struct fb_lw_gateway **flush_list;
	size_t nflush;
	ev_prepare prepare;
	ev_timer tick;
	bool started;
	fb_lw_app_fn app_fn;
	void *app_arg;
	fb_lw_sent_fn sent_fn;
	void *sent_arg;
	bool *held;                        /* per device: a sample waits in last_payload for the join */
	uint8_t *fate;                     /* faults: per device, what happens to its next data uplink
	                                      (enum fb_lw_fate), allocated on first use */
	fb_time_us *dark_until;            /* faults: per device, no gateway hears it before this
	                                      virtual time (its site is dark), allocated on first use */
	fb_lw_now_fn now_fn;
	void *now_arg;
	fb_time_us last_virtual;
	char *state_file;
	struct fb_lw_counters c;
	bool logged_unmatched, logged_mic, logged_late, logged_replay, logged_mac, logged_dutyoff;
	struct fb_lw_tx tx;
};

void fb_lw_config_defaults(struct fb_lw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->protocol_version = 2;
	c->otaa = true;
	c->duty_cycle = true;
	c->adr = true;
	c->retransmissions = 3;
	c->initial_dr = 5;
	c->push_timeout_us = 100 * FB_US_PER_MS;
	c->reply_grace_us = FB_US_PER_S;
	c->payload = "binary";
	c->per_site = 1;
	c->gw_height_m = 25;
	fb_lw_radio_defaults(&c->radio);
}

void fb_lw_config_release(struct fb_lw_config *c)
{
	free(c->gateways);
	free(c->keys_file);
	c->gateways = NULL;
	c->keys_file = NULL;
}

/* "udp://host:port" or "udp://[v6]:port" into host (brackets off) and the port's text; 0 or -1.
 * Syntax only: check uses it alone, fb_lw_parse_server then resolves. */
static int split_server(const char *url, char *h, size_t hcap, const char **port_text)
{
	if (strncmp(url, "udp://", 6))
		return -1;
	const char *host = url + 6, *colon = strrchr(host, ':');
	if (!colon || colon == host || strlen(host) >= sizeof(((struct fb_lw_config *)0)->server_text))
		return -1;
	char *end;
	size_t hl = (size_t)(colon - host);
	if (hl >= hcap)
		return -1;
	memcpy(h, host, hl);
	h[hl] = 0;
	if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
		memmove(h, h + 1, hl - 2);
		h[hl - 2] = 0;
	}
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -1;
	*port_text = colon + 1;
	return 0;
}

int fb_lw_parse_server(struct fb_lw_config *c, const char *url)
{
	char h[128];
	const char *port;
	if (split_server(url, h, sizeof(h), &port) < 0)
		return -1;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
	/* resolved once, before the loop runs */
	if (getaddrinfo(h, port, &hints, &res) || !res)
		return -1;
	memcpy(&c->server, res->ai_addr, res->ai_addrlen);
	c->server_len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(c->server_text, sizeof(c->server_text), "%s", url);
	return 0;
}

static int read_hex_u64(const struct fb_ynode *n, const char *what, unsigned digits, uint64_t *out)
{
	const char *s;
	if (fb_ynode_string(n, what, &s) < 0)
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 16);
	if (errno || *end || strlen(s) != digits)
		return fb_ynode_error(n, "%s must be %u hex digits", what, digits);
	*out = v;
	return 0;
}

int fb_lw_config_read(struct fb_lw_config *c, const struct fb_ynode *node)
{
	return fb_lw_config_read_for(c, node, true);
}

int fb_lw_config_read_for(struct fb_lw_config *c, const struct fb_ynode *node, bool need_server)
{
	static const char *const keys[] = {
		"server", "protocol", "gateways", "activation", "region", "lorawan_version", "keys",
		"payload", "duty_cycle", "adr", "confirmed", "retransmissions", "class", "net_id",
		"push_timeout", "push_retries", "reply_grace", "radio", "collisions", NULL
	};
	const struct fb_ynode *n;
	if (!node && !need_server)
		return 0;
	if (!node)
		return fb_error("the 'lorawan' transport needs 'transports: lorawan: server: udp://host:port'");
	if (fb_ynode_expect(node, FB_Y_MAP, "'transports.lorawan'") < 0
	    || fb_ynode_check_keys(node, "'transports.lorawan'", keys) < 0)
		return -1;
	const char *s;
	if (!(n = fb_ynode_get(node, "server")) && need_server)
		return fb_ynode_error(node, "'transports.lorawan' needs 'server' (udp://host:port)");
	if (n && fb_ynode_string(n, "'server'", &s) < 0)
		return -1;
	if (n && need_server && fb_lw_parse_server(c, s) < 0)
		return fb_ynode_error(n, "bad 'server' '%s': expected udp://host:port with a resolvable host", s);
	int64_t iv;
	if ((n = fb_ynode_get(node, "protocol"))) {
		if (fb_ynode_int(n, "'protocol'", 1, 2, &iv) < 0)
			return -1;
		c->protocol_version = (uint8_t)iv;
	}
	int e;
	if ((n = fb_ynode_get(node, "activation"))) {
		static const char *const ch[] = { "otaa", "abp", NULL };
		if (fb_ynode_enum(n, "'activation'", ch, &e) < 0)
			return -1;
		c->otaa = e == 0;
	}
	if ((n = fb_ynode_get(node, "region"))) {
		static const char *const ch[] = { "EU868", NULL };
		if (fb_ynode_enum(n, "'region'", ch, &e) < 0)
			return -1;
	}
	if ((n = fb_ynode_get(node, "lorawan_version"))) {
		static const char *const ch[] = { "1.0.4", "1.0.3", NULL };
		if (fb_ynode_enum(n, "'lorawan_version'", ch, &e) < 0)
			return -1;
		c->v103 = e == 1;
	}
	if ((n = fb_ynode_get(node, "payload"))) {
		static const char *const ch[] = { "binary", "lpp", NULL };
		if (fb_ynode_enum(n, "'payload'", ch, &e) < 0)
			return -1;
		c->payload = ch[e];
	}
	if ((n = fb_ynode_get(node, "class"))) {
		static const char *const ch[] = { "A", "C", NULL };
		if (fb_ynode_enum(n, "'class'", ch, &e) < 0)
			return -1;
		c->class_c = e == 1;
	}
	if ((n = fb_ynode_get(node, "duty_cycle"))) {
		/* YAML 1.1 reads on/off as booleans; accept both spellings */
		static const char *const ch[] = { "on", "off", "true", "false", NULL };
		if (fb_ynode_enum(n, "'duty_cycle'", ch, &e) < 0)
			return -1;
		c->duty_cycle = e == 0 || e == 2;
	}
	if ((n = fb_ynode_get(node, "adr")) && fb_ynode_bool(n, "'adr'", &c->adr) < 0)
		return -1;
	if ((n = fb_ynode_get(node, "confirmed")) && fb_ynode_bool(n, "'confirmed'", &c->confirmed) < 0)
		return -1;
	if ((n = fb_ynode_get(node, "collisions")) && fb_ynode_bool(n, "'collisions'", &c->collisions) < 0)
		return -1;
	if ((n = fb_ynode_get(node, "retransmissions"))) {
		if (fb_ynode_int(n, "'retransmissions'", 0, FB_LW_MAX_RETX, &iv) < 0)
			return -1;
		c->retransmissions = (uint8_t)iv;
	}
	if ((n = fb_ynode_get(node, "push_retries"))) {
		if (fb_ynode_int(n, "'push_retries'", 0, 5, &iv) < 0)
			return -1;
		c->push_retries = (uint8_t)iv;
	}
	if ((n = fb_ynode_get(node, "net_id"))) {
		uint64_t v;
		if (read_hex_u64(n, "'net_id'", 6, &v) < 0)
			return -1;
		c->net_id = (uint32_t)v;
	}
	if ((n = fb_ynode_get(node, "push_timeout"))
	    && fb_ynode_duration(n, "'push_timeout'", &c->push_timeout_us) < 0)
		return -1;
	if ((n = fb_ynode_get(node, "reply_grace"))
	    && fb_ynode_duration(n, "'reply_grace'", &c->reply_grace_us) < 0)
		return -1;
	if ((n = fb_ynode_get(node, "keys"))) {
		static const char *const kk[] = { "seed_derived", "file", NULL };
		if (fb_ynode_expect(n, FB_Y_MAP, "'keys'") < 0 || fb_ynode_check_keys(n, "'keys'", kk) < 0)
			return -1;
		const struct fb_ynode *f = fb_ynode_get(n, "file");
		if (f) {
			if (fb_ynode_string(f, "'keys.file'", &s) < 0)
				return -1;
			free(c->keys_file);
			c->keys_file = strdup(s);
			if (!c->keys_file)
				return fb_error("out of memory");
		}
		bool derived = f == NULL;
		const struct fb_ynode *d = fb_ynode_get(n, "seed_derived");
		if (d && fb_ynode_bool(d, "'keys.seed_derived'", &derived) < 0)
			return -1;
		if (derived == (f != NULL))
			return fb_ynode_error(n, "'keys' takes either 'seed_derived: true' or 'file: PATH'");
	}
	if ((n = fb_ynode_get(node, "radio"))) {
		static const char *const rk[] = { "gamma", "pl_d0", "d0", "shadowing", NULL };
		if (fb_ynode_expect(n, FB_Y_MAP, "'radio'") < 0 || fb_ynode_check_keys(n, "'radio'", rk) < 0)
			return -1;
		const struct fb_ynode *r;
		if ((r = fb_ynode_get(n, "gamma")) && fb_ynode_number(r, "'radio.gamma'", &c->radio.gamma) < 0)
			return -1;
		if ((r = fb_ynode_get(n, "pl_d0")) && fb_ynode_number(r, "'radio.pl_d0'", &c->radio.pl_d0_db) < 0)
			return -1;
		if ((r = fb_ynode_get(n, "d0")) && fb_ynode_length_m(r, "'radio.d0'", &c->radio.d0_m) < 0)
			return -1;
		if ((r = fb_ynode_get(n, "shadowing"))
		    && fb_ynode_number(r, "'radio.shadowing'", &c->radio.shadowing_db) < 0)
			return -1;
		if (c->radio.gamma <= 0 || c->radio.d0_m <= 0 || c->radio.shadowing_db < 0)
			return fb_ynode_error(n, "'radio' needs gamma > 0, d0 > 0 and shadowing >= 0");
	}
	if ((n = fb_ynode_get(node, "gateways"))) {
		if (n->kind == FB_Y_MAP) {
			static const char *const gk[] = { "per_site", "height", NULL };
			if (fb_ynode_check_keys(n, "'gateways'", gk) < 0)
				return -1;
			const struct fb_ynode *g;
			if ((g = fb_ynode_get(n, "per_site"))) {
				if (fb_ynode_int(g, "'per_site'", 1, 64, &iv) < 0)
					return -1;
				c->per_site = (unsigned)iv;
			}
			if ((g = fb_ynode_get(n, "height")) && fb_ynode_length_m(g, "'height'", &c->gw_height_m) < 0)
				return -1;
		} else if (n->kind == FB_Y_SEQ) {
			if (!n->n)
				return fb_ynode_error(n, "'gateways' is an empty list");
			c->gateways = calloc(n->n, sizeof(*c->gateways));
			if (!c->gateways)
				return fb_error("out of memory");
			c->ngateways = n->n;
			for (size_t i = 0; i < n->n; i++) {
				static const char *const gk[] = { "eui", "lat", "lon", "height", NULL };
				const struct fb_ynode *g = n->items[i], *v;
				struct fb_lw_gw_spec *sp = &c->gateways[i];
				if (fb_ynode_expect(g, FB_Y_MAP, "a gateway") < 0
				    || fb_ynode_check_keys(g, "a gateway", gk) < 0)
					return -1;
				sp->eui = fb_lw_gateway_eui((uint32_t)i);
				sp->height_m = c->gw_height_m;
				sp->site = UINT32_MAX;
				if ((v = fb_ynode_get(g, "eui")) && read_hex_u64(v, "'eui'", 16, &sp->eui) < 0)
					return -1;
				if (!(v = fb_ynode_get(g, "lat")) || fb_ynode_number(v, "'lat'", &sp->lat) < 0)
					return v ? -1 : fb_ynode_error(g, "a gateway needs 'lat' and 'lon'");
				if (!(v = fb_ynode_get(g, "lon")) || fb_ynode_number(v, "'lon'", &sp->lon) < 0)
					return v ? -1 : fb_ynode_error(g, "a gateway needs 'lat' and 'lon'");
				if ((v = fb_ynode_get(g, "height")) && fb_ynode_length_m(v, "'height'", &sp->height_m) < 0)
					return -1;
			}
		} else {
			return fb_ynode_error(n, "'gateways' is {per_site: N, height: H} or a list of {eui, lat, lon, height}");
		}
	}
	return 0;
}

/* ---- state file: DevNonce counters by DevEUI ---------------------------------------------- */

struct nonce_row { uint64_t dev_eui; uint32_t next; };

static int cmp_row(const void *a, const void *b)
{
	uint64_t x = ((const struct nonce_row *)a)->dev_eui, y = ((const struct nonce_row *)b)->dev_eui;
	return x < y ? -1 : x > y;
}

static int load_state(struct fb_lw_net *n)
{
	FILE *f = fopen(n->state_file, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;             /* first run */
		return fb_error("cannot open state file '%s': %s", n->state_file, strerror(errno));
	}
	char line[128];
	size_t cap = 0, len = 0;
	struct nonce_row *rows = NULL;
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (lineno == 1) {
			if (strncmp(line, "fleetbench-lorawan-state 1", 26)) {
				rc = fb_error_at(n->state_file, 1, 1, "not a fleetbench LoRaWAN state file");
				break;
			}
			continue;
		}
		unsigned long long eui;
		unsigned next;
		if (sscanf(line, "%16llx %u", &eui, &next) != 2 || next > 65536) {
			rc = fb_error_at(n->state_file, lineno, 1, "expected 'DEVEUI NEXT_DEVNONCE'");
			break;
		}
		if (len == cap) {
			cap = cap ? 2 * cap : 1024;
			struct nonce_row *r = realloc(rows, cap * sizeof(*rows));
			if (!r) {
				rc = fb_error("out of memory");
				break;
			}
			rows = r;
		}
		rows[len++] = (struct nonce_row){ eui, next };
	}
	fclose(f);
	if (!rc && len) {
		qsort(rows, len, sizeof(*rows), cmp_row);
		for (uint32_t i = 0; i < n->ndevs; i++) {
			struct nonce_row key = { n->devs[i].id.dev_eui, 0 };
			struct nonce_row *r = bsearch(&key, rows, len, sizeof(*rows), cmp_row);
			if (r)
				n->devs[i].dev_nonce = (uint16_t)(r->next > 65535 ? 65535 : r->next);
		}
	}
	free(rows);
	return rc;
}

int fb_lw_net_save_state(struct fb_lw_net *n)
{
	if (!n->state_file)
		return 0;
	/* other devices' rows (other shards, other fleets) are kept */
	struct nonce_row *rows = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(n->state_file, "r");
	if (f) {
		char line[128];
		int lineno = 0;
		while (fgets(line, sizeof(line), f)) {
			unsigned long long eui;
			unsigned next;
			if (++lineno == 1 || sscanf(line, "%16llx %u", &eui, &next) != 2)
				continue;
			if (len == cap) {
				cap = cap ? 2 * cap : 1024;
				struct nonce_row *r = realloc(rows, cap * sizeof(*rows));
				if (!r) {
					free(rows);
					fclose(f);
					return fb_error("out of memory");
				}
				rows = r;
			}
			rows[len++] = (struct nonce_row){ eui, next };
		}
		fclose(f);
	}
	size_t tl = strlen(n->state_file) + 8;
	char *tmp = malloc(tl);
	if (!tmp) {
		free(rows);
		return fb_error("out of memory");
	}
	snprintf(tmp, tl, "%s.tmp", n->state_file);
	FILE *o = fopen(tmp, "w");
	if (!o) {
		int e = errno;
		free(rows);
		free(tmp);
		return fb_error("cannot write state file '%s': %s", n->state_file, strerror(e));
	}
	if (len)
		qsort(rows, len, sizeof(*rows), cmp_row);
	fputs("fleetbench-lorawan-state 1\n", o);
	for (size_t i = 0; i < len; i++) {
		bool mine = false;
		for (uint32_t d = 0; d < n->ndevs && !mine; d++)
			mine = n->active[d] && n->devs[d].id.dev_eui == rows[i].dev_eui;
		if (!mine)
			fprintf(o, "%016llx %u\n", (unsigned long long)rows[i].dev_eui, rows[i].next);
	}
	for (uint32_t d = 0; d < n->ndevs; d++)
		if (n->active[d] && n->devs[d].otaa)
			fprintf(o, "%016llx %u\n", (unsigned long long)n->devs[d].id.dev_eui, n->devs[d].dev_nonce);
	int bad = ferror(o);
	bad |= fclose(o);
	free(rows);
	if (bad || rename(tmp, n->state_file)) {
		int e = errno;
		unlink(tmp);
		free(tmp);
		return fb_error("cannot write state file '%s': %s", n->state_file, strerror(e));
	}
	free(tmp);
	return 0;
}

/* ---- DevAddr table --------------------------------------------------------------------------- */

static void addr_put(struct fb_lw_net *n, uint32_t addr, uint32_t local)
{
	size_t mask = n->addr_cap - 1, i = (size_t)fb_mix64(addr) & mask;
	while (n->addr_table[i] && n->devs[n->addr_table[i] - 1].id.dev_addr != addr
	       && n->addr_table[i] != local + 1)
		i = (i + 1) & mask;
	n->addr_table[i] = local + 1;
}

static int64_t addr_find(const struct fb_lw_net *n, uint32_t addr)
{
	size_t mask = n->addr_cap - 1, i = (size_t)fb_mix64(addr) & mask;
	for (size_t probes = 0; n->addr_table[i] && probes < n->addr_cap; probes++, i = (i + 1) & mask)
		if (n->devs[n->addr_table[i] - 1].id.dev_addr == addr
		    && n->devs[n->addr_table[i] - 1].state == FB_LW_DEV_JOINED)
			return n->addr_table[i] - 1;
	return -1;
}

/* ---- waits ----------------------------------------------------------------------------------- */

static int wait_push(struct wait_fifo *w, struct wait_entry e)
{
	if (w->len == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 256;
		struct wait_entry *ne = malloc(cap * sizeof(*ne));
		if (!ne)
			return -1;
		for (size_t i = 0; i < w->len; i++)
			ne[i] = w->e[(w->head + i) % w->cap];
		free(w->e);
		w->e = ne;
		w->cap = cap;
		w->head = 0;
	}
	w->e[(w->head + w->len) % w->cap] = e;
	w->len++;
	return 0;
}

static struct wait_entry *wait_at(struct wait_fifo *w, size_t i)
{
	return &w->e[(w->head + i) % w->cap];
}

static void wait_pop(struct wait_fifo *w)
{
	w->head = (w->head + 1) % w->cap;
	w->len--;
	if (w->hold_pos)
		w->hold_pos--;
}

static fb_time_us wall_now(const struct fb_lw_net *n)
{
	return (fb_time_us)(ev_now(n->loop) * 1e6);
}

/* ---- gateways -------------------------------------------------------------------------------- */

static void on_downlink(void *arg, struct fb_lw_gateway *gw, uint16_t token, const struct fb_sm_txpk *tx);

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct fb_lw_net *n = (struct fb_lw_net *)((char *)w - offsetof(struct fb_lw_net, prepare));
	fb_time_us now = wall_now(n);
	for (size_t i = 0; i < n->nflush; i++) {
		n->flush_list[i]->queued = false;
		fb_lw_gateway_flush(n->flush_list[i], now);
	}
	n->nflush = 0;
}

static fb_time_us virtual_now(struct fb_lw_net *n)
{
	if (n->now_fn)
		return n->now_fn(n->now_arg);
	return n->last_virtual;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fb_lw_net *n = (struct fb_lw_net *)((char *)w - offsetof(struct fb_lw_net, tick));
	fb_time_us now = wall_now(n), v = virtual_now(n);
	for (size_t i = 0; i < n->ngws; i++)
		if (n->gws[i].fd >= 0)
			fb_lw_gateway_tick(&n->gws[i], now, v);
}

static void place_gateways(struct fb_lw_net *n, const struct fb_lw_placement *p)
{
	if (n->cfg.ngateways) {
		for (size_t i = 0; i < n->ngws; i++) {
			const struct fb_lw_gw_spec *s = &n->cfg.gateways[i];
			n->gws[i].eui = s->eui;
			n->gws[i].lat = s->lat;
			n->gws[i].lon = s->lon;
			n->gws[i].height_m = s->height_m;
		}
		return;
	}
	/* per site: the first at the centre, the others on a ring at half the site's radius */
	for (size_t s = 0; s < p->nsites; s++) {
		for (unsigned k = 0; k < n->cfg.per_site; k++) {
			struct fb_lw_gateway *g = &n->gws[s * n->cfg.per_site + k];
			double r = k ? p->sites[s].radius_m / 2 : 0;
			double a = 2 * M_PI * (k - 1) / (n->cfg.per_site > 1 ? n->cfg.per_site - 1 : 1);
			g->eui = fb_lw_gateway_eui((uint32_t)(s * n->cfg.per_site + k));
			g->lat = p->sites[s].lat + r * cos(a) / 111320.0;
			g->lon = p->sites[s].lon + r * sin(a) / (111320.0 * cos(p->sites[s].lat * M_PI / 180));
			g->height_m = n->cfg.gw_height_m;
		}
	}
}

/* Each device keeps the MAX_REACH gateways with the least mean path loss (of its site when
 * gateways are per site: radio stays inside a site, so sharding by site keeps it exact). */
static void compute_reach(struct fb_lw_net *n, const struct fb_lw_placement *p)
{
	for (uint32_t i = 0; i < n->ndevs; i++) {
		struct reach *r = &n->reach[i];
		r->n = 0;
		size_t lo = 0, hi = n->ngws;
		if (!n->cfg.ngateways) {
			lo = (size_t)p->site[i] * n->cfg.per_site;
			hi = lo + n->cfg.per_site;
		}
		for (size_t g = lo; g < hi; g++) {
			double d = fb_lw_distance_m(p->lat[i], p->lon[i], 1.5, n->gws[g].lat, n->gws[g].lon,
			                            n->gws[g].height_m);
			float pl = (float)fb_lw_path_loss_db(&n->cfg.radio, d, 0);
			unsigned k = r->n < MAX_REACH ? r->n++ : MAX_REACH;
			if (k == MAX_REACH) {
				if (pl >= r->pl_db[MAX_REACH - 1])
					continue;
				k = MAX_REACH - 1;
			}
			while (k > 0 && r->pl_db[k - 1] > pl) {
				r->pl_db[k] = r->pl_db[k - 1];
				r->gw[k] = r->gw[k - 1];
				k--;
			}
			r->pl_db[k] = pl;
			r->gw[k] = (uint16_t)g;
		}
		for (unsigned k = 0; n->active[i] && k < r->n; k++)
			n->gw_used[r->gw[k]] = true;
	}
}

/* Shard i > 0 renames the gateways it shares with other shards (see fb_lw_placement): the
 * network server sees one more gateway per shard at the same place, each hearing its shard's
 * devices. Said once, as the user must register those EUIs too; interference between devices of
 * different shards (collisions, capture) is not simulated. */
static void tag_shared_gateways(struct fb_lw_net *n, const struct fb_lw_placement *p)
{
	if (!p->shard_index)
		return;
	size_t renamed = 0;
	uint64_t first = 0;
	for (size_t g = 0; g < n->ngws; g++) {
		bool shared = n->cfg.ngateways ? p->list_shared
		            : p->site_shared && p->site_shared[g / n->cfg.per_site];
		if (!n->gw_used[g] || !shared)
			continue;
		n->gws[g].eui = fb_lw_gateway_eui_shard(n->gws[g].eui, p->shard_index);
		if (!renamed++)
			first = n->gws[g].eui;
	}
	if (renamed)
		fb_warn("lorawan: shard %u shares %zu gateway(s) with other shards (their sites' devices are "
		        "split across shards): it speaks for them as other gateways, first '%016llx' "
		        "(register these EUIs too; radio between shards is not simulated)",
		        p->shard_index, renamed, (unsigned long long)first);
}

struct fb_lw_net *fb_lw_net_new(struct ev_loop *loop, const struct fb_lw_config *cfg,
                                const struct fb_lw_placement *p, const char *state_file)
{
	struct fb_lw_net *n = calloc(1, sizeof(*n));
	if (!n)
		goto oom;
	n->loop = loop;
	n->cfg = *cfg;
	n->cfg.gateways = NULL;
	n->cfg.keys_file = NULL;
	n->seed = p->seed;
	if (fb_lw_crypto_init(&n->cr) < 0) {
		free(n);
		return NULL;
	}
	n->ngws = cfg->ngateways ? cfg->ngateways : p->nsites * cfg->per_site;
	if (n->ngws == 0 || n->ngws > 65535) {
		fb_lw_net_free(n);
		fb_error("the 'lorawan' transport needs between 1 and 65535 gateways");
		return NULL;
	}
	if (cfg->ngateways) {
		n->cfg.gateways = malloc(cfg->ngateways * sizeof(*cfg->gateways));
		if (!n->cfg.gateways)
			goto oom;
		memcpy(n->cfg.gateways, cfg->gateways, cfg->ngateways * sizeof(*cfg->gateways));
	}
	n->first = p->first;
	n->ndevs = p->count;
	n->gws = calloc(n->ngws, sizeof(*n->gws));
	n->recent = calloc(n->ngws * RECENT, sizeof(*n->recent));
	n->recent_pos = calloc(n->ngws, sizeof(*n->recent_pos));
	n->flush_list = calloc(n->ngws, sizeof(*n->flush_list));
	n->devs = calloc(n->ndevs ? n->ndevs : 1, sizeof(*n->devs));
	n->reach = calloc(n->ndevs ? n->ndevs : 1, sizeof(*n->reach));
	n->active = calloc(n->ndevs ? n->ndevs : 1, sizeof(*n->active));
	n->defer = calloc(n->ndevs ? n->ndevs : 1, sizeof(*n->defer));
	n->gw_used = calloc(n->ngws, sizeof(*n->gw_used));
	n->deferred = calloc(n->ndevs ? n->ndevs : 1, sizeof(*n->deferred));
	n->held = calloc(n->ndevs ? n->ndevs : 1, sizeof(*n->held));
	for (n->addr_cap = 64; n->addr_cap < 2 * (size_t)n->ndevs; n->addr_cap *= 2)
		;
	n->addr_table = calloc(n->addr_cap, sizeof(*n->addr_table));
	if (!n->gws || !n->recent || !n->recent_pos || !n->flush_list || !n->devs || !n->reach
	    || !n->active || !n->addr_table || !n->defer || !n->deferred || !n->gw_used || !n->held)
		goto oom;
	if (cfg->collisions) {
		n->air = calloc(n->ngws * ON_AIR, sizeof(*n->air));
		n->air_pos = calloc(n->ngws, sizeof(*n->air_pos));
		if (!n->air || !n->air_pos)
			goto oom;
	}
	for (size_t g = 0; g < n->ngws; g++) {
		struct fb_lw_gateway *gw = &n->gws[g];
		gw->fd = -1;
		gw->index = (uint32_t)g;
		gw->version = cfg->protocol_version;
		gw->tmst_offset = (uint32_t)fb_hash64(p->seed, g, FB_RNG_TRANSPORT, 0x7e57);
		gw->push_timeout_us = cfg->push_timeout_us;
		gw->push_retries = cfg->push_retries;
		gw->on_downlink = on_downlink;
		gw->arg = n;
	}
	place_gateways(n, p);
	struct fb_lw_identity *ids = NULL;
	if (cfg->keys_file) {
		ids = calloc(n->ndevs ? n->ndevs : 1, sizeof(*ids));
		if (!ids)
			goto oom;
		if (fb_lw_keys_load_csv(cfg->keys_file, n->first, n->ndevs, ids, p->active) < 0) {
			free(ids);
			fb_lw_net_free(n);
			return NULL;
		}
	}
	struct fb_lw_device_opts o = {
		.otaa = cfg->otaa, .class_c = cfg->class_c, .adr = cfg->adr, .duty_cycle = cfg->duty_cycle,
		.initial_dr = cfg->initial_dr, .max_retx = cfg->retransmissions, .seed = p->seed,
	};
	for (uint32_t i = 0; i < n->ndevs; i++) {
		struct fb_lw_identity id;
		if (ids)
			id = ids[i];
		else
			fb_lw_identity_derive(p->seed, n->first + i, cfg->net_id, &id);
		fb_lw_device_init(&n->devs[i], n->first + i, &id, &o);
		n->active[i] = !p->active || p->active[i];
		if (!cfg->otaa)
			addr_put(n, id.dev_addr, i);
	}
	free(ids);
	compute_reach(n, p);
	tag_shared_gateways(n, p);
	if (state_file) {
		n->state_file = strdup(state_file);
		if (!n->state_file)
			goto oom;
		if (load_state(n) < 0) {
			fb_lw_net_free(n);
			return NULL;
		}
	}
	return n;
oom:
	fb_lw_net_free(n);
	fb_error("out of memory creating the 'lorawan' transport");
	return NULL;
}

int fb_lw_net_start(struct fb_lw_net *n)
{
	/* one UDP socket per gateway: too many for the descriptor limit stop here, named */
	size_t nopen = 0;
	for (size_t g = 0; g < n->ngws; g++)
		nopen += n->gw_used[g];
	char what[64];
	snprintf(what, sizeof what, "lorawan: %zu gateway socket%s", nopen, nopen == 1 ? "" : "s");
	if (fb_fd_reserve(nopen, what, "or split the sites over processes with --shard i/N"))
		return -1;
	/* only the gateways this process's devices can reach: another shard serves the rest, and two
	 * processes speaking for one gateway EUI would look like an address change to the server */
	for (size_t g = 0; g < n->ngws; g++)
		if (n->gw_used[g] && fb_lw_gateway_open(&n->gws[g], n->loop, (const struct sockaddr *)&n->cfg.server,
		                                        n->cfg.server_len) < 0)
			return -1;
	ev_prepare_init(&n->prepare, on_prepare);
	ev_prepare_start(n->loop, &n->prepare);
	ev_timer_init(&n->tick, on_tick, 0.0, 0.02);
	ev_timer_start(n->loop, &n->tick);
	ev_unref(n->loop);     /* the tick alone does not keep the loop alive */
	n->started = true;
	if (!n->cfg.duty_cycle && fb_first_time(&n->logged_dutyoff))
		fb_warn("lorawan: duty cycle enforcement is off: this run is not ETSI compliant");
	return 0;
}

void fb_lw_net_set_app_handler(struct fb_lw_net *n, fb_lw_app_fn fn, void *arg)
{
	n->app_fn = fn;
	n->app_arg = arg;
}

void fb_lw_net_set_sent_handler(struct fb_lw_net *n, fb_lw_sent_fn fn, void *arg)
{
	n->sent_fn = fn;
	n->sent_arg = arg;
}

void fb_lw_net_set_clock(struct fb_lw_net *n, fb_lw_now_fn fn, void *arg)
{
	n->now_fn = fn;
	n->now_arg = arg;
}

/* Shadowing for (device, frame, gateway): a pure function, so shards and reruns agree. */
static double shadow_db(const struct fb_lw_net *n, uint32_t dev, uint64_t frame, unsigned g)
{
	if (n->cfg.radio.shadowing_db <= 0)
		return 0;
	uint64_t h = fb_hash64(n->seed, dev, FB_RNG_RADIO, frame * 64 + g);
	double u1 = fb_unit(h) + 0x1.0p-54, u2 = fb_unit(fb_mix64(h));
	return n->cfg.radio.shadowing_db * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* Checks a new reception at gateway g against the ones still on the air there (LoRaSim / ns-3
 * lorawan: same frequency and SF, overlapping, 6 dB capture). A destroyed earlier frame still in
 * the gateway's batch is taken back; one already forwarded stays forwarded (counted only).
 * Returns true when the new frame is lost. */
static bool collides(struct fb_lw_net *n, unsigned g, const struct fb_lw_tx *tx, int sf, double rssi,
                     uint32_t tmst)
{
	struct fb_lw_rx now = { tx->start, tx->start + tx->airtime, tx->freq_hz, sf, rssi, false };
	struct on_air *ring = &n->air[(size_t)g * ON_AIR];
	for (unsigned i = 0; i < ON_AIR; i++) {
		struct on_air *a = &ring[i];
		/* a frame already lost still occupies the channel */
		if (a->rx.end <= now.start || !fb_lw_rx_capture(&a->rx, &now))
			continue;
		if (a->rx.lost && fb_lw_gateway_unqueue(&n->gws[g], a->tmst))
			n->c.rxpk_collided++;
	}
	struct on_air *slot = &ring[n->air_pos[g]++ % ON_AIR];
	slot->rx = now;
	slot->tmst = tmst;
	if (now.lost)
		n->c.rxpk_collided++;
	return now.lost;
}

/* The SNR at which a device demodulates a downlink the gateway sends with txpk.powe across a path
 * loss pl_db (the uplink's, reversed; the device's receiver has the same noise figure). No
 * saturation: the DevStatusAns margin field clamps to -32..31 itself. */
static double down_snr(const struct fb_lw_net *n, const struct fb_sm_txpk *tx, double pl_db)
{
	return tx->powe - pl_db - fb_lw_noise_floor_dbm(&n->cfg.radio, 125000);
}

static void transmit(struct fb_lw_net *n, uint32_t local, const struct fb_lw_tx *tx)
{
	struct fb_lw_device *d = &n->devs[local];
	const struct reach *r = &n->reach[local];
	fb_time_us end = tx->start + tx->airtime, wall = wall_now(n);
	/* faults: a dark site's gateways hear nothing (joins and retransmissions included) */
	unsigned ngw = n->dark_until && tx->start < n->dark_until[local] ? 0 : r->n;
	int sf = fb_lw_dr_sf(tx->dr);
	uint64_t frame = (uint64_t)d->dev_nonce << 32 | d->fcnt_up;
	unsigned heard = 0;
	/* the gateways' "now" is the start of the latest transmission (events are ordered by start;
	 * a long SF12 frame must not make another device's RX1 look past) */
	if (tx->start > n->last_virtual)
		n->last_virtual = tx->start;
	for (unsigned k = 0; k < ngw; k++) {
		struct fb_lw_link link;
		double pl_extra = shadow_db(n, d->index, frame + (tx->retransmission ? 1u << 31 : 0), k);
		link.rssi_dbm = tx->tx_power_dbm - r->pl_db[k] - pl_extra;
		link.snr_db = link.rssi_dbm - fb_lw_noise_floor_dbm(&n->cfg.radio, 125000);
		link.heard = link.rssi_dbm >= fb_lw_sensitivity_dbm(sf)
		          && link.snr_db >= fb_lw_snr_floor_db(sf, 125000);
		if (!link.heard)
			continue;
		struct fb_lw_gateway *gw = &n->gws[r->gw[k]];
		if (n->air && collides(n, r->gw[k], tx, sf, link.rssi_dbm, fb_lw_gateway_tmst(gw, end))) {
			gw->rxnb++;                 /* received, CRC bad: not forwarded */
			continue;
		}
		heard++;
		int slot = 0;
		for (int i = 0; i < FB_LW_MAX_CHANNELS; i++)
			if (d->ch.ch[i].freq_hz == tx->freq_hz)
				slot = i;
		/* SNR above the noise floor saturates in a real receiver around +10 dB */
		double snr = link.snr_db > 10 ? 10 : link.snr_db;
		struct fb_sm_rxpk rx = {
			.tmst = fb_lw_gateway_tmst(gw, end), .time = end, .freq_hz = tx->freq_hz,
			.chan = (uint8_t)(slot % 8), .rfch = (uint8_t)(slot >= 3), .stat = 1, .dr = (int8_t)tx->dr,
			.rssi = (int16_t)lround(link.rssi_dbm), .lsnr_tenths = (int16_t)lround(snr * 10),
			.data = tx->phy, .size = tx->len,
		};
		struct recent_up *ru = &n->recent[(size_t)r->gw[k] * RECENT + n->recent_pos[r->gw[k]]++ % RECENT];
		ru->tmst = rx.tmst;
		ru->dev = local + 1;
		ru->pl_db = (float)(r->pl_db[k] + pl_extra);
		if (fb_lw_gateway_queue(gw, &rx, wall) && !gw->queued) {
			gw->queued = true;
			n->flush_list[n->nflush++] = gw;
		}
		n->c.rxpk_sent++;
	}
	if (!heard)
		n->c.uplinks_unheard++;
	if (d->awaiting) {
		/* no gateway heard it: no reply can come, so virtual time need not wait (deadline 0),
		 * but the window still ends and the retry logic still runs */
		struct wait_entry e = { local, d->tx_start, fb_lw_device_window_end(d),
		                        heard ? wall + n->cfg.reply_grace_us : 0, fb_lw_device_rx1_at(d) };
		if (wait_push(&n->waits[d->state == FB_LW_DEV_JOINING ? 0 : 1], e) < 0)
			d->awaiting = false;     /* out of memory: give up waiting rather than stall */
	}
}

static void count_up_result(struct fb_lw_net *n, enum fb_lw_up_result r)
{
	if (r == FB_LW_UP_DUTY)
		n->c.duty_cycle_deferrals++;      /* a join or retransmission: tried again later */
	else if (r == FB_LW_UP_TOO_LONG)
		n->c.too_long++;
	else if (r != FB_LW_UP_SENT)
		n->c.encode_errors++;
}

static void try_join(struct fb_lw_net *n, uint32_t local, fb_time_us t)
{
	enum fb_lw_up_result r = fb_lw_device_join(&n->cr, &n->devs[local], t, &n->tx);
	count_up_result(n, r);
	if (r != FB_LW_UP_SENT)
		return;
	n->c.joins_requested++;
	transmit(n, local, &n->tx);
}

static void defer_push(struct fb_lw_net *n, fb_time_us at, uint32_t dev)
{
	size_t i = n->ndefer++;
	while (i > 0 && n->defer[(i - 1) / 2].at > at) {
		n->defer[i] = n->defer[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	n->defer[i] = (struct deferred){ at, dev };
}

static struct deferred defer_pop(struct fb_lw_net *n)
{
	struct deferred top = n->defer[0], last = n->defer[--n->ndefer];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n->ndefer)
			break;
		if (c + 1 < n->ndefer && n->defer[c + 1].at < n->defer[c].at)
			c++;
		if (n->defer[c].at >= last.at)
			break;
		n->defer[i] = n->defer[c];
		i = c;
	}
	if (n->ndefer)
		n->defer[i] = last;
	return top;
}

static void send_data(struct fb_lw_net *n, uint32_t local, fb_time_us t, const uint8_t *payload,
                      size_t len, uint8_t fport);

/* Sends the uplinks whose sub-band off-time ended by t, at the time it ended (what a device's
 * MAC does: the frame waits, it is not dropped). */
static void run_deferred(struct fb_lw_net *n, fb_time_us t)
{
	while (n->ndefer && n->defer[0].at <= t) {
		struct deferred e = defer_pop(n);
		if (!n->deferred[e.dev])
			continue;
		n->deferred[e.dev] = false;
		struct fb_lw_device *d = &n->devs[e.dev];
		uint8_t payload[sizeof(d->last_payload)];
		size_t len = d->last_payload_len;
		memcpy(payload, d->last_payload, len);
		send_data(n, e.dev, e.at, payload, len, d->last_fport);
	}
}

void fb_lw_net_run_due(struct fb_lw_net *n, fb_time_us t)
{
	while (n->ndefer && n->defer[0].at <= t && n->defer[0].at <= fb_lw_net_hold_until(n))
		run_deferred(n, n->defer[0].at);
}

fb_time_us fb_lw_net_next_due(const struct fb_lw_net *n)
{
	return n->ndefer ? n->defer[0].at : FB_TIME_NEVER;
}

void fb_lw_net_advance(struct fb_lw_net *n, fb_time_us t)
{
	run_deferred(n, t);
	for (int q = 0; q < 2; q++) {
		struct wait_fifo *w = &n->waits[q];
		while (w->len && wait_at(w, 0)->window_end <= t) {
			struct wait_entry e = *wait_at(w, 0);
			wait_pop(w);
			struct fb_lw_device *d = &n->devs[e.dev];
			if (!d->awaiting || d->tx_start != e.tx_start)
				continue;                 /* answered, or superseded */
			bool join = d->state == FB_LW_DEV_JOINING;
			if (!join)
				n->c.ack_timeouts++;
			/* 1.0.4 §19 / RP002: retry after ACK_TIMEOUT, a random 1..3 s after RX2 */
			fb_time_us at = e.window_end + FB_US_PER_S
			              + (fb_time_us)fb_rng_below(&d->rng, 2 * FB_US_PER_S);
			enum fb_lw_up_result r = fb_lw_device_retransmit(&n->cr, d, at, &n->tx);
			if (r == FB_LW_UP_SENT) {
				n->c.retransmissions++;
				if (join)
					n->c.joins_requested++;
				transmit(n, e.dev, &n->tx);
				continue;
			}
			count_up_result(n, r);
			d->awaiting = false;
			d->confirmed_pending = false;
			if (join) {
				n->c.joins_failed++;
				d->state = FB_LW_DEV_IDLE;    /* the next sample starts a new join */
			}
		}
	}
}

void fb_lw_net_uplink(struct fb_lw_net *n, uint32_t device, fb_time_us t, const uint8_t *payload,
                      size_t len, uint8_t fport)
{
	if (device < n->first || device - n->first >= n->ndevs)
		return;
	uint32_t local = device - n->first;
	struct fb_lw_device *d = &n->devs[local];
	fb_lw_net_advance(n, t);
	if (t > n->last_virtual)
		n->last_virtual = t;
	if (d->state != FB_LW_DEV_JOINED) {
		/* the device keeps the reading and sends it once joined (deliver()); a newer reading
		 * replaces it */
		n->c.samples_not_joined++;
		if (n->held[local])
			n->c.held_superseded++;
		size_t keep = len < sizeof(d->last_payload) ? len : sizeof(d->last_payload);
		memcpy(d->last_payload, payload, keep);
		d->last_payload_len = (uint8_t)keep;
		d->last_fport = fport;
		n->held[local] = true;
		if (d->state == FB_LW_DEV_IDLE)
			try_join(n, local, t);
		return;
	}
	if (d->awaiting && d->confirmed_pending) {
		/* a new sample supersedes an unacknowledged one (the device moves on, 1.0.4 §18.1) */
		d->awaiting = false;
		d->confirmed_pending = false;
	}
	if (n->deferred[local]) {
		/* the delayed sample is replaced by this newer one (still delayed) */
		n->c.duty_cycle_superseded++;
		memcpy(d->last_payload, payload, len < sizeof(d->last_payload) ? len : sizeof(d->last_payload));
		d->last_payload_len = (uint8_t)(len < sizeof(d->last_payload) ? len : sizeof(d->last_payload));
		d->last_fport = fport;
		return;
	}
	send_data(n, local, t, payload, len, fport);
}

static void send_data(struct fb_lw_net *n, uint32_t local, fb_time_us t, const uint8_t *payload,
                      size_t len, uint8_t fport)
{
	struct fb_lw_device *d = &n->devs[local];
	bool confirmed = n->cfg.confirmed;
	enum fb_lw_up_result r = fb_lw_device_uplink(&n->cr, d, t, payload, len, fport, confirmed, &n->tx);
	if (r == FB_LW_UP_DUTY) {
		fb_time_us at = fb_lw_device_next_free(d);
		if (at != FB_TIME_NEVER && n->ndefer < n->ndevs) {
			n->deferred[local] = true;
			defer_push(n, at > t ? at : t, local);
			n->c.duty_cycle_deferrals++;
			return;
		}
	}
	count_up_result(n, r);
	if (r != FB_LW_UP_SENT)
		return;
	n->c.uplinks_sent++;
	if (confirmed)
		n->c.uplinks_confirmed++;
	if (n->sent_fn)
		n->sent_fn(n->sent_arg, d->index, d->fcnt_up - 1);
	if (n->fate && n->fate[local]) {
		/* faults (sim/fault.h): declared sent, then corrupted on the way */
		n->fate[local] = FB_LW_FATE_NONE;
		n->tx.phy[n->tx.len - 1] ^= 0xa5;    /* 1.0.4 §4.4: the MIC is the last 4 bytes */
	}
	transmit(n, local, &n->tx);
}

void fb_lw_net_fate(struct fb_lw_net *n, uint32_t device, enum fb_lw_fate fate)
{
	struct fb_lw_device *d = fb_lw_net_device(n, device);
	if (!d)
		return;
	if (!n->fate && !(n->fate = calloc(n->ndevs ? n->ndevs : 1, 1)))
		return;                         /* out of memory: the fault is not carried out */
	n->fate[d - n->devs] = (uint8_t)fate;
}

void fb_lw_net_dark(struct fb_lw_net *n, uint32_t device, fb_time_us until)
{
	struct fb_lw_device *d = fb_lw_net_device(n, device);
	if (!d)
		return;
	if (!n->dark_until && !(n->dark_until = calloc(n->ndevs ? n->ndevs : 1, sizeof *n->dark_until)))
		return;                         /* out of memory: the fault is not carried out */
	n->dark_until[d - n->devs] = until;
}

void fb_lw_net_reboot(struct fb_lw_net *n, uint32_t device)
{
	struct fb_lw_device *d = fb_lw_net_device(n, device);
	if (!d)
		return;
	/* RAM is gone: frame counters from 0, no session (OTAA joins again; the DevNonce counter
	 * survives, as 1.0.4 §6.2.5 asks of NVM), no pending answers */
	d->fcnt_up = d->fcnt_down = 0;
	d->got_down = false;
	d->awaiting = d->confirmed_pending = false;
	d->mac_answers_len = 0;
	d->mac_answers_sticky = d->ack_next = d->link_check_req = false;
	d->adr_ack_cnt = 0;
	if (d->otaa)
		d->state = FB_LW_DEV_IDLE;
}

fb_time_us fb_lw_net_hold_until(struct fb_lw_net *n)
{
	fb_time_us hold = FB_TIME_NEVER, wall = wall_now(n);
	for (int q = 0; q < 2; q++) {
		struct wait_fifo *w = &n->waits[q];
		while (w->hold_pos < w->len) {
			struct wait_entry *e = wait_at(w, w->hold_pos);
			struct fb_lw_device *d = &n->devs[e->dev];
			if (d->awaiting && d->tx_start == e->tx_start && wall < e->wall_deadline) {
				if (e->hold_at < hold)
					hold = e->hold_at;
				break;
			}
			w->hold_pos++;
		}
	}
	return hold;
}

static void deliver(struct fb_lw_net *n, uint32_t local, const struct fb_lw_dl_info *info,
                    enum fb_lw_dl_result res)
{
	struct fb_lw_device *d = &n->devs[local];
	if (res == FB_LW_DL_JOINED) {
		n->c.joins_accepted++;
		addr_put(n, d->id.dev_addr, local);
		if (n->held[local]) {
			/* the reading kept during the join goes out once virtual time reaches the
			 * join-accept's window (fb_lw_net_run_due, or the next uplink): the accept
			 * arrives in wall time, and sending "in the future" here would push the
			 * network's clock past other devices' receive windows */
			n->held[local] = false;
			n->c.held_sent++;
			fb_time_us at = d->tx_end + FB_LW_JOIN_ACCEPT_DELAY1_US;
			n->deferred[local] = true;
			defer_push(n, at > n->last_virtual ? at : n->last_virtual, local);
		}
		return;
	}
	if (res == FB_LW_DL_BAD_MAC) {
		n->c.downlinks_bad_mac++;
		if (fb_first_time(&n->logged_mac))
			fb_warn("lorawan: device %u: malformed MAC commands in a downlink (counted, not "
			        "logged again)", d->index);
	}
	if (info->ack)
		n->c.uplinks_acked++;
	n->c.mac_commands += info->mac_count;
	if (info->link_adr)
		n->c.adr_changes++;
	if (info->fport > 0 && info->payload_len) {
		n->c.downlinks_app++;
		if (n->app_fn)
			n->app_fn(n->app_arg, d->index, (uint8_t)info->fport, info->payload, info->payload_len);
	}
}

static void on_downlink(void *arg, struct fb_lw_gateway *gw, uint16_t token, const struct fb_sm_txpk *tx)
{
	struct fb_lw_net *n = arg;
	n->c.downlinks_received++;
	uint32_t now_tmst = fb_lw_gateway_tmst(gw, virtual_now(n));
	if (!tx->imme && (int32_t)(tx->tmst - now_tmst) < 0) {
		/* the transmit time is already past on this gateway's counter (jitqueue.c TOO_LATE) */
		fb_lw_gateway_tx_ack(gw, token, "TOO_LATE");
		n->c.downlinks_late++;
		if (fb_first_time(&n->logged_late))
			fb_warn("gateway '%016llx': downlink scheduled in the past (tmst %u, now %u): TOO_LATE "
			        "(counted, not logged again)", (unsigned long long)gw->eui, tx->tmst, now_tmst);
		return;
	}
	fb_lw_gateway_tx_ack(gw, token, NULL);
	struct fb_lw_dl_info info;
	enum fb_lw_dl_result res = FB_LW_DL_NOT_MINE;
	int64_t who = -1;
	if (!tx->imme) {
		/* which uplink's window: txpk.tmst - rxpk.tmst is RX1/RX2 of data or join */
		const struct recent_up *ring = &n->recent[(size_t)gw->index * RECENT];
		unsigned pos = n->recent_pos[gw->index];
		bool saw_bad_mic = false;
		for (unsigned k = 1; k <= RECENT; k++) {
			const struct recent_up *u = &ring[(pos - k) % RECENT];
			if (!u->dev)
				break;
			int64_t delay = (int32_t)(tx->tmst - u->tmst);
			struct fb_lw_device *d = &n->devs[u->dev - 1];
			if (delay <= 0 || delay > 10 * FB_US_PER_S || !fb_lw_device_window_of(d, delay))
				continue;
			/* a wrong MIC may just be another device's key: keep looking */
			enum fb_lw_dl_result r = fb_lw_device_downlink(&n->cr, d, tx->data, tx->size,
			                                               down_snr(n, tx, u->pl_db), &info);
			if (r == FB_LW_DL_NOT_MINE)
				continue;
			if (r == FB_LW_DL_BAD_MIC) {
				saw_bad_mic = true;
				continue;
			}
			res = r;
			who = u->dev - 1;
			break;
		}
		if (who < 0 && saw_bad_mic)
			res = FB_LW_DL_BAD_MIC;
	}
	if (who < 0 && res != FB_LW_DL_BAD_MIC && tx->size >= 5 && tx->data[0] >> 5 != FB_LW_JOIN_ACCEPT) {
		/* class C (or an immediate downlink): by DevAddr */
		int64_t local = addr_find(n, (uint32_t)fb_lw_get_le(tx->data + 1, 4));
		if (local >= 0 && n->devs[local].class_c) {
			who = local;
			/* no uplink to pair with: the median path loss to this gateway (no shadowing) */
			const struct reach *rc = &n->reach[local];
			double snr = 5.0;
			for (unsigned k = 0; k < rc->n; k++)
				if (rc->gw[k] == gw->index)
					snr = down_snr(n, tx, rc->pl_db[k]);
			res = fb_lw_device_downlink(&n->cr, &n->devs[local], tx->data, tx->size, snr, &info);
		}
	}
	switch (res) {
	case FB_LW_DL_JOINED: case FB_LW_DL_DATA: case FB_LW_DL_BAD_MAC:
		n->c.downlinks_in_window++;
		deliver(n, (uint32_t)who, &info, res);
		return;
	case FB_LW_DL_BAD_MIC:
		n->c.downlinks_bad_mic++;
		if (fb_first_time(&n->logged_mic))
			fb_warn("gateway '%016llx': downlink with a wrong MIC (counted, not logged again)",
			        (unsigned long long)gw->eui);
		return;
	case FB_LW_DL_REPLAY:
		n->c.downlinks_replay++;
		if (fb_first_time(&n->logged_replay))
			fb_warn("gateway '%016llx': downlink with a replayed FCnt (counted, not logged again)",
			        (unsigned long long)gw->eui);
		return;
	default:
		n->c.downlinks_unmatched++;
		if (fb_first_time(&n->logged_unmatched))
			fb_warn("gateway '%016llx': downlink for an unknown device or outside any receive window "
			        "(counted, not logged again)", (unsigned long long)gw->eui);
		return;
	}
}

bool fb_lw_net_drain(struct fb_lw_net *n)
{
	fb_time_us now = wall_now(n);
	unsigned inflight = 0;
	for (size_t g = 0; g < n->ngws; g++) {
		fb_lw_gateway_flush(&n->gws[g], now);
		inflight += fb_lw_gateway_inflight(&n->gws[g]);
	}
	for (size_t i = 0; i < n->nflush; i++)
		n->flush_list[i]->queued = false;
	n->nflush = 0;
	if (inflight)
		return false;
	fb_lw_net_save_state(n);
	return true;
}

const struct fb_lw_counters *fb_lw_net_counters(const struct fb_lw_net *n)
{
	return &n->c;
}

void fb_lw_net_gw_counters(const struct fb_lw_net *n, struct fb_lw_gw_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t g = 0; g < n->ngws; g++) {
		const struct fb_lw_gw_counters *c = &n->gws[g].c;
		const uint64_t *src = (const uint64_t *)c;
		uint64_t *dst = (uint64_t *)out;
		size_t words = offsetof(struct fb_lw_gw_counters, rtt_max_us) / sizeof(uint64_t);
		for (size_t i = 0; i < words; i++)
			dst[i] += src[i];
		if (c->rtt_max_us > out->rtt_max_us)
			out->rtt_max_us = c->rtt_max_us;
	}
}

struct fb_lw_device *fb_lw_net_device(struct fb_lw_net *n, uint32_t device)
{
	return device >= n->first && device - n->first < n->ndevs ? &n->devs[device - n->first] : NULL;
}

size_t fb_lw_net_gateway_count(const struct fb_lw_net *n) { return n->ngws; }
struct fb_lw_gateway *fb_lw_net_gateway(struct fb_lw_net *n, size_t i) { return &n->gws[i]; }

/* p50/p99 from the log2 histogram: the bucket's upper bound. */
static uint64_t rtt_quantile(const struct fb_lw_gw_counters *g, double q)
{
	uint64_t total = 0, acc = 0;
	for (int i = 0; i < FB_LW_RTT_BUCKETS; i++)
		total += g->rtt_hist[i];
	if (!total)
		return 0;
	for (int i = 0; i < FB_LW_RTT_BUCKETS; i++) {
		acc += g->rtt_hist[i];
		if ((double)acc >= q * (double)total)
			return 1ULL << (i + 1);
	}
	return g->rtt_max_us;
}

void fb_lw_net_summary(const struct fb_lw_net *n, FILE *out)
{
	const struct fb_lw_counters *c = &n->c;
	struct fb_lw_gw_counters g;
	fb_lw_net_gw_counters(n, &g);
	size_t used = 0;
	for (size_t k = 0; k < n->ngws; k++)
		used += n->gw_used[k];
	fprintf(out, "lorawan: %zu gateways, %u devices, server %s, protocol v%u%s\n", used,
	        n->ndevs, n->cfg.server_text, n->cfg.protocol_version,
	        n->cfg.duty_cycle ? "" : ", duty cycle OFF (not compliant)");
	fprintf(out, "lorawan: joins requested %llu, accepted %llu, failed %llu\n",
	        (unsigned long long)c->joins_requested, (unsigned long long)c->joins_accepted,
	        (unsigned long long)c->joins_failed);
	fprintf(out, "lorawan: uplinks sent %llu (confirmed %llu, acked %llu, retransmissions %llu, "
	        "unheard %llu), samples before join %llu (sent once joined %llu, replaced %llu), "
	        "duty-cycle deferrals %llu (superseded %llu)\n",
	        (unsigned long long)c->uplinks_sent, (unsigned long long)c->uplinks_confirmed,
	        (unsigned long long)c->uplinks_acked, (unsigned long long)c->retransmissions,
	        (unsigned long long)c->uplinks_unheard, (unsigned long long)c->samples_not_joined,
	        (unsigned long long)c->held_sent, (unsigned long long)c->held_superseded,
	        (unsigned long long)c->duty_cycle_deferrals, (unsigned long long)c->duty_cycle_superseded);
	if (n->cfg.collisions)
		fprintf(out, "lorawan: receptions lost to collisions %llu\n", (unsigned long long)c->rxpk_collided);
	fprintf(out, "lorawan: PUSH_DATA %llu, acked %llu, timeouts %llu, retries %llu, ack rtt p50 "
	        "<%llu us p99 <%llu us max %llu us\n", (unsigned long long)g.push_sent,
	        (unsigned long long)g.push_acked, (unsigned long long)g.push_timeouts,
	        (unsigned long long)g.push_retries, (unsigned long long)rtt_quantile(&g, 0.5),
	        (unsigned long long)rtt_quantile(&g, 0.99), (unsigned long long)g.rtt_max_us);
	fprintf(out, "lorawan: downlinks %llu (in window %llu, late %llu, unmatched %llu, bad MIC %llu, "
	        "app %llu), TX_ACK errors %llu, bad datagrams %llu\n",
	        (unsigned long long)c->downlinks_received, (unsigned long long)c->downlinks_in_window,
	        (unsigned long long)c->downlinks_late, (unsigned long long)c->downlinks_unmatched,
	        (unsigned long long)c->downlinks_bad_mic, (unsigned long long)c->downlinks_app,
	        (unsigned long long)g.tx_ack_errors, (unsigned long long)g.bad_datagrams);
	fprintf(out, "lorawan: commands applied %llu, rejected %llu; MAC commands %llu, ADR changes %llu\n",
	        (unsigned long long)c->commands_applied, (unsigned long long)c->commands_rejected,
	        (unsigned long long)c->mac_commands, (unsigned long long)c->adr_changes);
}

json_t *fb_lw_net_report(const struct fb_lw_net *n)
{
	const struct fb_lw_counters *c = &n->c;
	struct fb_lw_gw_counters g;
	fb_lw_net_gw_counters(n, &g);
	json_t *hist = json_array();
	for (int i = 0; i < FB_LW_RTT_BUCKETS; i++)
		json_array_append_new(hist, json_integer((json_int_t)g.rtt_hist[i]));
	json_t *r = json_pack("{s:i,s:i,s:b,s:{s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
	                 "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}}",
	                 "gateways", (int)n->ngws, "devices", (int)n->ndevs,
	                 "duty_cycle_compliant", n->cfg.duty_cycle,
	                 "joins", "requested", (json_int_t)c->joins_requested,
	                 "accepted", (json_int_t)c->joins_accepted, "failed", (json_int_t)c->joins_failed,
	                 "uplinks", "sent", (json_int_t)c->uplinks_sent,
	                 "confirmed", (json_int_t)c->uplinks_confirmed, "acked", (json_int_t)c->uplinks_acked,
	                 "retransmissions", (json_int_t)c->retransmissions,
	                 "unheard", (json_int_t)c->uplinks_unheard,
	                 "collided", (json_int_t)c->rxpk_collided,
	                 "before_join", (json_int_t)c->samples_not_joined,
	                 "duty_cycle_deferrals", (json_int_t)c->duty_cycle_deferrals,
	                 "too_long", (json_int_t)c->too_long,
	                 "downlinks", "received", (json_int_t)c->downlinks_received,
	                 "in_window", (json_int_t)c->downlinks_in_window,
	                 "late", (json_int_t)c->downlinks_late,
	                 "unmatched", (json_int_t)c->downlinks_unmatched,
	                 "bad_mic", (json_int_t)c->downlinks_bad_mic,
	                 "replay", (json_int_t)c->downlinks_replay,
	                 "app", (json_int_t)c->downlinks_app,
	                 "mac_commands", (json_int_t)c->mac_commands,
	                 "adr_changes", (json_int_t)c->adr_changes,
	                 "udp", "push_data", (json_int_t)g.push_sent, "push_ack", (json_int_t)g.push_acked,
	                 "push_timeouts", (json_int_t)g.push_timeouts, "push_retries", (json_int_t)g.push_retries,
	                 "pull_data", (json_int_t)g.pull_sent, "pull_ack", (json_int_t)g.pull_acked,
	                 "tx_ack_errors", (json_int_t)g.tx_ack_errors,
	                 "bad_datagrams", (json_int_t)g.bad_datagrams,
	                 "push_ack_rtt_log2_us", hist);
	if (r)   /* what the bench counts as this transport's errors (protocols/transport.h) */
		json_object_set_new(r, "errors", json_integer((json_int_t)g.push_timeouts));
	json_t *up = r ? json_object_get(r, "uplinks") : NULL;
	if (up) {
		json_object_set_new(up, "held_sent", json_integer((json_int_t)c->held_sent));
		json_object_set_new(up, "held_superseded", json_integer((json_int_t)c->held_superseded));
	}
	return r;
}

void fb_lw_net_free(struct fb_lw_net *n)
{
	if (!n)
		return;
	if (n->started) {
		ev_ref(n->loop);
		ev_timer_stop(n->loop, &n->tick);
		ev_prepare_stop(n->loop, &n->prepare);
	}
	for (size_t g = 0; n->gws && g < n->ngws; g++)
		fb_lw_gateway_close(&n->gws[g]);
	fb_lw_crypto_release(&n->cr);
	free(n->waits[0].e);
	free(n->waits[1].e);
	free(n->gws);
	free(n->recent);
	free(n->recent_pos);
	free(n->air);
	free(n->air_pos);
	free(n->defer);
	free(n->deferred);
	free(n->held);
	free(n->fate);
	free(n->dark_until);
	free(n->gw_used);
	free(n->flush_list);
	free(n->devs);
	free(n->reach);
	free(n->active);
	free(n->addr_table);
	free(n->state_file);
	fb_lw_config_release(&n->cfg);
	free(n);
}

/* ---- the fb_transport_ops ---------------------------------------------------------------- */

/* A sample that came while virtual time must wait for a network server's reply. */
struct pending_up {
	uint32_t device;
	uint8_t fport, len;
	fb_time_us t;
	uint8_t payload[242];
	struct fb_sample s;                 /* for env.sent(): values point into `values` */
	double values[FB_MAX_FIELDS];
};

/* The field DevStatusAns takes the battery level from: a number named battery* (waste's
 * batteryLevel, a ratio 0..1; a percentage works alike through min..max). -1: none, the device is
 * mains powered (street lights, ...) and answers 0 = external power (LoRaWAN 1.0.4 §5.5). */
static int16_t battery_field(const struct fb_model *m)
{
	for (unsigned i = 0; m && i < m->nfields && i < INT16_MAX; i++)
		if (m->fields[i].kind == FB_FIELD_NUMBER && !strncasecmp(m->fields[i].name, "battery", 7))
			return (int16_t)i;
	return -1;
}

struct fb_transport {
	struct fb_transport_env env;
	struct pending_up *pend;            /* FIFO: the engine may run a batch past a hold */
	size_t pend_cap, pend_head, pend_len;
	struct fb_lw_net *net;
	const struct fb_codec **codec_of;   /* per local device (NULL: not a lorawan fleet) */
	uint8_t *fport_of;
	int16_t *battery_of;                /* the model's battery field, -1: mains powered */
	/* per local device: the sample whose payload the device holds (sent now, deferred by the
	 * duty cycle or kept during a join), declared through env.sent when it leaves */
	struct fb_sample *slot;
	double *slot_values;                /* FB_MAX_FIELDS per local device with a codec */
	uint32_t first, count;
	uint8_t payload[256];
	bool drained;
	bool logged_cmd, logged_encode;
	fb_time_us started_wall;
	ev_timer due_timer;                 /* wakes the loop when a deferred uplink's time comes */
	bool started;
};

static const char *const lw_codecs[] = { "binary", "lpp", NULL };

/* The device transmitted the sample it holds: declare it to the bench (FCnt = its identity). */
static void on_sent(void *arg, uint32_t device, uint32_t fcnt)
{
	struct fb_transport *t = arg;
	uint32_t local = device - t->first;
	if (device < t->first || local >= t->count || !t->slot[local].model)
		return;
	t->env.sent(t->env.sent_arg, "lorawan", &t->slot[local], fcnt);
}

/* Hands one sample to the device, remembering it for on_sent. */
static void uplink(struct fb_transport *t, const struct fb_sample *s, const uint8_t *payload,
                   size_t len, uint8_t fport)
{
	uint32_t local = s->device - t->first;
	/* the uplinks deferred to before this sample go first, declared with the sample they carry
	 * (the slot still holds it) */
	fb_lw_net_advance(t->net, s->t);
	if (s->fault == FB_FAULT_REBOOT)          /* faults (sim/fault.h) */
		fb_lw_net_reboot(t->net, s->device);
	else if (s->fault == FB_FAULT_BAD_MIC)
		fb_lw_net_fate(t->net, s->device, FB_LW_FATE_BAD_MIC);
	else if (s->fault == FB_FAULT_SITE_DARK)
		fb_lw_net_dark(t->net, s->device, fb_faults_window_end(fb_engine_faults(t->env.engine),
		                                                      FB_FAULT_SITE_DARK, s->device, s->t));
	if (t->slot) {
		double *v = t->slot_values + (size_t)local * FB_MAX_FIELDS;
		unsigned nf = s->model->nfields < FB_MAX_FIELDS ? s->model->nfields : FB_MAX_FIELDS;
		memcpy(v, s->values, nf * sizeof(*v));
		t->slot[local] = *s;
		t->slot[local].values = v;
	}
	fb_lw_net_uplink(t->net, s->device, s->t, payload, len, fport);
}


static void app_downlink(void *arg, uint32_t device, uint8_t fport, const uint8_t *payload, size_t len)
{
	struct fb_transport *t = arg;
	struct fb_lw_net *n = t->net;
	uint32_t local = device - t->first;
	const struct fb_codec *codec = t->codec_of[local];
	const struct fb_fleet *fleet = fb_scenario_fleet_of(t->env.scenario, device);
	if (!codec || !codec->decode_command || !fleet) {
		n->c.commands_rejected++;
		return;
	}
	char id[64];
	fb_device_id(fleet->model, device, id, sizeof(id));
	struct fb_codec_ctx ctx = { .device_id = id, .site_id = fleet->site ? fleet->site->id : NULL };
	struct fb_command cmds[8];
	int k = codec->decode_command(&ctx, fleet->model, payload, len, cmds, 8);
	if (k < 0) {
		n->c.commands_rejected++;
		if (fb_first_time(&t->logged_cmd))
			fb_warn("lorawan: device '%s': downlink on port %u is not a command: %s (counted, not "
			        "logged again)", id, fport, fb_codec_strerror(k));
		return;
	}
	for (int i = 0; i < k; i++) {
		if (t->env.engine && fb_engine_command(t->env.engine, device, cmds[i].field, cmds[i].value) == 0)
			n->c.commands_applied++;
		else
			n->c.commands_rejected++;
	}
}

/* A LoRaWAN fleet's codec: its own, else the transport's 'payload'; binary or lpp. NULL after a
 * located error. */
static const struct fb_codec *fleet_codec(const struct fb_fleet *f, const struct fb_lw_config *cfg)
{
	const char *cname = f->codec ? f->codec : cfg->payload;
	const struct fb_codec *codec = fb_codec_find(cname);
	if (!codec || (strcmp(cname, "binary") && strcmp(cname, "lpp"))) {
		fb_ynode_error(f->node, "the 'lorawan' transport carries codec 'binary' or 'lpp', not '%s'", cname);
		return NULL;
	}
	return codec;
}

/* Parse only (fb_transport_ops.check): the configuration as create reads it, without the
 * server's name resolution (a run with --local replaces the server), and each fleet's codec. */
/* Gateways per site (the default) hear only their site's devices: a site split across shards
 * would have its radio (collisions, capture, reach) cut in two. A `gateways:` list hears every
 * site, and any cut is the same approximation. */
static bool lw_site_local(const struct fb_scenario *sc, const struct fb_ynode *config,
                          const struct fb_fleet *f)
{
	(void)sc;
	(void)f;
	const struct fb_ynode *g = config ? fb_ynode_get(config, "gateways") : NULL;
	return !g || g->kind != FB_Y_SEQ;
}

static int lw_check(const struct fb_scenario *sc, const struct fb_ynode *config)
{
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	int bad = fb_lw_config_read_for(&cfg, config, false) < 0;
	const struct fb_ynode *server = config && !bad ? fb_ynode_get(config, "server") : NULL;
	char host[128];
	const char *port;
	if (server && split_server(server->text, host, sizeof(host), &port) < 0) {
		fb_ynode_error(server, "bad 'server' '%s': expected udp://host:port", server->text);
		bad = 1;
	}
	for (size_t i = 0; bad != 1 && i < sc->nfleets; i++) {   /* (cfg.payload is the fleets' default) */
		const struct fb_fleet *f = &sc->fleets[i];
		if (f->transport && !strcmp(f->transport, "lorawan") && !fleet_codec(f, &cfg))
			bad = 2;
	}
	fb_lw_config_release(&cfg);
	return bad ? -1 : 0;
}

static struct fb_transport *lw_create(const struct fb_transport_env *env, const struct fb_ynode *config)
{
	const struct fb_scenario *sc = env->scenario;
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	if (fb_lw_config_read_for(&cfg, config, !env->target) < 0) {
		fb_lw_config_release(&cfg);
		return NULL;
	}
	if (env->target) {
		/* --local / --collect: the gateways talk to this server instead */
		char url[160];
		snprintf(url, sizeof(url), "udp://%s", env->target);
		if (strlen(env->target) > 120 || fb_lw_parse_server(&cfg, url) < 0) {
			fb_lw_config_release(&cfg);
			fb_error("lorawan: bad target '%s': expected host:port with a resolvable host",
			         env->target);
			return NULL;
		}
	}
	struct fb_transport *t = calloc(1, sizeof(*t));
	if (!t) {
		fb_lw_config_release(&cfg);
		fb_error("out of memory");
		return NULL;
	}
	t->env = *env;
	uint64_t from, to;
	if (env->engine) {
		from = fb_engine_first_device(env->engine);
		to = from + fb_engine_device_count(env->engine);
	} else {
		fb_scenario_segment(sc, env->shard_index, env->shard_count ? env->shard_count : 1, &from, &to);
	}
	t->first = (uint32_t)from;
	t->count = (uint32_t)(to - from);
	size_t cnt = t->count ? t->count : 1;
	double *lat = calloc(cnt, sizeof(double)), *lon = calloc(cnt, sizeof(double));
	uint32_t *site = calloc(cnt, sizeof(uint32_t));
	bool *active = calloc(cnt, sizeof(bool));
	t->codec_of = calloc(cnt, sizeof(*t->codec_of));
	t->fport_of = calloc(cnt, 1);
	t->battery_of = calloc(cnt, sizeof(*t->battery_of));
	struct fb_world w = { .seed = sc->seed, .sites = sc->sites, .nsites = sc->nsites };
	if (!lat || !lon || !site || !active || !t->codec_of || !t->fport_of || !t->battery_of) {
		fb_error("out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < t->count; i++) {
		const struct fb_fleet *f = fb_scenario_fleet_of(sc, t->first + i);
		if (!f || !f->transport || strcmp(f->transport, "lorawan"))
			continue;
		const struct fb_codec *codec = fleet_codec(f, &cfg);
		if (!codec)
			goto fail;
		active[i] = true;
		t->codec_of[i] = codec;
		t->fport_of[i] = strcmp(codec->name, "lpp") ? 1 : 2;
		t->battery_of[i] = battery_field(f->model);
		site[i] = f->site ? f->site->index : 0;
		if (f->site)
			fb_device_position(&w, f->site, t->first + i, &lat[i], &lon[i]);
	}
	struct fb_lw_placement p = {
		.seed = sc->seed, .first = t->first, .count = t->count, .lat = lat, .lon = lon,
		.site = site, .active = active, .sites = sc->sites, .nsites = sc->nsites,
		.shard_index = env->shard_count > 1 ? env->shard_index : 0,
	};
	/* which sites have lorawan devices both in this shard and in another (the shard segments
	 * are contiguous device ranges and may cut a site) */
	uint8_t *where = sc->nsites ? calloc(sc->nsites, 1) : NULL;   /* bit 0 here, bit 1 elsewhere */
	bool *shared = sc->nsites ? calloc(sc->nsites, sizeof(bool)) : NULL;
	if (sc->nsites && (!where || !shared)) {
		free(where);
		free(shared);
		fb_error("out of memory");
		goto fail;
	}
	uint8_t any = 0;
	for (size_t k = 0; k < sc->nfleets; k++) {
		const struct fb_fleet *f = &sc->fleets[k];
		if (!f->transport || strcmp(f->transport, "lorawan") || !f->count)
			continue;
		uint64_t lo = f->first, hi = (uint64_t)f->first + f->count;
		uint8_t m = (lo < t->first + (uint64_t)t->count && hi > t->first ? 1 : 0)
		          | (lo < t->first || hi > t->first + (uint64_t)t->count ? 2 : 0);
		any |= m;
		if (where)
			where[f->site ? f->site->index : 0] |= m;
	}
	for (size_t k = 0; k < sc->nsites; k++)
		shared[k] = where[k] == 3;
	p.site_shared = shared;
	p.list_shared = any == 3;
	t->net = fb_lw_net_new(env->loop, &cfg, &p, env->state_file);
	free(where);
	free(shared);
	free(lat);
	free(lon);
	free(site);
	free(active);
	lat = lon = NULL;
	site = NULL;
	active = NULL;
	fb_lw_config_release(&cfg);
	if (!t->net)
		goto fail;
	/* the network's virtual "now" is its last uplink's time (not the engine's, which may have
	 * run a batch ahead while samples wait in the FIFO) */
	fb_lw_net_set_app_handler(t->net, app_downlink, t);
	if (env->sent) {
		t->slot = calloc(cnt, sizeof(*t->slot));
		t->slot_values = calloc(cnt * FB_MAX_FIELDS, sizeof(*t->slot_values));
		if (!t->slot || !t->slot_values) {
			fb_error("out of memory");
			fb_lw_net_free(t->net);
			free(t->slot);
			free(t->slot_values);
			goto fail;
		}
		fb_lw_net_set_sent_handler(t->net, on_sent, t);
	}
	return t;
fail:
	free(lat);
	free(lon);
	free(site);
	free(active);
	fb_lw_config_release(&cfg);
	free(t->codec_of);
	free(t->fport_of);
	free(t->battery_of);
	free(t);
	return NULL;
}

static void due_cb(struct ev_loop *loop, ev_timer *w, int revents);

static int lw_start(struct fb_transport *t)
{
	if (fb_lw_net_start(t->net) < 0)
		return -1;
	t->started_wall = fb_wall_now();
	ev_init(&t->due_timer, due_cb);
	t->due_timer.data = t;
	t->started = true;
	for (size_t g = 0; g < fb_lw_net_gateway_count(t->net); g++)
		fb_debug("lorawan: gateway %zu EUI %016llx", g,
		         (unsigned long long)fb_lw_net_gateway(t->net, g)->eui);
	return 0;
}

/* Ready once every gateway's PULL_DATA was acknowledged (the network server knows where to send
 * downlinks; a join-accept sent before that is lost), or 3 s after the start: an absent server
 * is counted and reported, not waited for. */
static bool lw_ready(struct fb_transport *t)
{
	if (fb_wall_now() - t->started_wall > 3 * FB_US_PER_S)
		return true;
	for (size_t g = 0; g < fb_lw_net_gateway_count(t->net); g++) {
		const struct fb_lw_gateway *gw = fb_lw_net_gateway(t->net, g);
		if (gw->fd >= 0 && !gw->c.pull_acked)
			return false;
	}
	return true;
}

/* Sends the waiting samples whose time the hold now allows, in order. */
static void pump(struct fb_transport *t)
{
	while (t->pend_len) {
		struct pending_up *p = &t->pend[t->pend_head];
		if (p->t >= fb_lw_net_hold_until(t->net))
			return;
		p->s.values = p->values;
		uplink(t, &p->s, p->payload, p->len, p->fport);
		t->pend_head = (t->pend_head + 1) % t->pend_cap;
		t->pend_len--;
	}
}

static int enqueue(struct fb_transport *t, const struct fb_sample *s, const uint8_t *payload,
                   size_t len, uint8_t fport)
{
	if (t->pend_len == t->pend_cap) {
		size_t cap = t->pend_cap ? 2 * t->pend_cap : 256;
		struct pending_up *np = malloc(cap * sizeof(*np));
		if (!np)
			return -1;
		for (size_t i = 0; i < t->pend_len; i++)
			np[i] = t->pend[(t->pend_head + i) % t->pend_cap];
		free(t->pend);
		t->pend = np;
		t->pend_cap = cap;
		t->pend_head = 0;
	}
	struct pending_up *p = &t->pend[(t->pend_head + t->pend_len) % t->pend_cap];
	p->device = s->device;
	p->t = s->t;
	p->fport = fport;
	p->s = *s;
	unsigned nf = s->model->nfields < FB_MAX_FIELDS ? s->model->nfields : FB_MAX_FIELDS;
	memcpy(p->values, s->values, nf * sizeof(*p->values));
	p->s.values = p->values;
	p->len = (uint8_t)(len < sizeof(p->payload) ? len : sizeof(p->payload));
	memcpy(p->payload, payload, p->len);
	t->pend_len++;
	return 0;
}

static void lw_send(struct fb_transport *t, const struct fb_sample *s)
{
	if (s->flags & FB_SAMPLE_UNSENT)          /* faults: the device did not transmit it */
		return;
	uint32_t local = s->device - t->first;
	if (s->device < t->first || local >= t->count || !t->codec_of[local])
		return;
	char id[64];
	fb_device_id(s->model, s->device, id, sizeof(id));
	struct fb_codec_ctx ctx = { .device_id = id, .site_id = s->fleet->site ? s->fleet->site->id : NULL };
	ssize_t len = t->codec_of[local]->encode(&ctx, s, t->payload, sizeof(t->payload));
	if (len < 0) {
		t->net->c.encode_errors++;
		if (fb_first_time(&t->logged_encode))
			fb_warn("lorawan: device '%s': cannot encode a sample: %s (counted, not logged again)",
			        id, fb_codec_strerror((int)len));
		return;
	}
	if (t->battery_of[local] >= 0) {
		/* DevStatusAns reports the charge of the device's latest sample */
		const struct fb_field *bf = &s->model->fields[t->battery_of[local]];
		double v = s->values[t->battery_of[local]];
		struct fb_lw_device *d = fb_lw_net_device(t->net, s->device);
		if (d)
			d->battery = fb_lw_battery_level(bf->max > bf->min ? (v - bf->min) / (bf->max - bf->min) : NAN);
	}
	pump(t);
	/* a reply is awaited before this sample's time: it waits its turn (the engine may run a
	 * batch past the hold; busy() stops it until the FIFO empties) */
	if (t->pend_len || s->t >= fb_lw_net_hold_until(t->net)) {
		if (enqueue(t, s, t->payload, (size_t)len, t->fport_of[local]) == 0)
			return;
		t->net->c.encode_errors++;
	}
	uplink(t, s, t->payload, (size_t)len, t->fport_of[local]);
}

/* Sends the uplinks deferred by the network (duty cycle, a sample kept during a join) whose
 * virtual time has come: every sample before the engine's next event has been handed over, and
 * in paced modes the wall clock has reached it (the timer wakes the loop then; in max mode
 * wall_of() is the present, so they go at once). */
static void send_due(struct fb_transport *t)
{
	pump(t);
	if (t->pend_len || !t->env.engine)
		return;
	fb_time_us next = fb_engine_next_time(t->env.engine);
	fb_time_us lim = next != FB_TIME_NEVER ? next : fb_engine_end(t->env.engine);
	fb_time_us due;
	while ((due = fb_lw_net_next_due(t->net)) <= lim) {
		fb_time_us at = t->env.wall_of ? t->env.wall_of(t->env.wall_arg, due) : 0;
		fb_time_us now = fb_wall_now();
		if (at > now) {
			if (t->started) {
				ev_timer_stop(t->env.loop, &t->due_timer);
				ev_timer_set(&t->due_timer, (double)(at - now) / 1e6, 0);
				ev_timer_start(t->env.loop, &t->due_timer);
			}
			return;
		}
		fb_lw_net_run_due(t->net, due);
		if (fb_lw_net_next_due(t->net) == due)
			return;                      /* held: a reply is awaited before it */
	}
}

static void due_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	send_due(w->data);
}

static bool lw_busy(struct fb_transport *t)
{
	pump(t);
	return t->pend_len > 0;
}

static fb_time_us lw_hold_until(struct fb_transport *t)
{
	send_due(t);
	return fb_lw_net_hold_until(t->net);
}

static bool lw_drain(struct fb_transport *t)
{
	if (t->drained)
		return true;
	pump(t);
	if (t->pend_len)
		return false;
	t->drained = fb_lw_net_drain(t->net);
	return t->drained;
}

static void lw_summary(struct fb_transport *t, FILE *out) { fb_lw_net_summary(t->net, out); }
static json_t *lw_report(struct fb_transport *t) { return fb_lw_net_report(t->net); }

static int lw_status(struct fb_transport *t)
{
	struct fb_lw_gw_counters g;
	fb_lw_net_gw_counters(t->net, &g);
	/* the network server never answered at all */
	return g.push_sent + g.pull_sent > 0 && g.push_acked + g.pull_acked == 0 ? 1 : 0;
}

static void lw_free(struct fb_transport *t)
{
	if (!t)
		return;
	if (t->started)
		ev_timer_stop(t->env.loop, &t->due_timer);
	if (!t->drained)
		fb_lw_net_save_state(t->net);
	fb_lw_net_free(t->net);
	free(t->codec_of);
	free(t->fport_of);
	free(t->battery_of);
	free(t->slot);
	free(t->slot_values);
	free(t->pend);
	free(t);
}

static const char *const lw_extra_params[] = { NULL };

const struct fb_transport_ops fb_transport_lorawan = {
	.name = "lorawan", .codecs = lw_codecs, .extra_params = lw_extra_params,
	.create = lw_create, .check = lw_check, .site_local = lw_site_local, .start = lw_start, .ready = lw_ready, .send = lw_send, .busy = lw_busy,
	.hold_until = lw_hold_until, .drain = lw_drain, .summary = lw_summary, .report = lw_report,
	.status = lw_status, .free = lw_free,
};

int fb_lw_keys_command(const struct fb_scenario *sc, enum fb_lw_keys_format format, FILE *out)
{
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	const struct fb_ynode *node = sc->transports ? fb_ynode_get(sc->transports, "lorawan") : NULL;
	if (node && fb_lw_config_read(&cfg, node) < 0) {
		fb_lw_config_release(&cfg);
		return -1;
	}
	struct fb_lw_identity *ids = NULL;
	if (cfg.keys_file) {
		size_t nd = sc->ndevices ? sc->ndevices : 1;
		ids = calloc(nd, sizeof(*ids));
		bool *need = calloc(nd, sizeof(bool));
		for (size_t fi = 0; ids && need && fi < sc->nfleets; fi++)
			if (sc->fleets[fi].transport && !strcmp(sc->fleets[fi].transport, "lorawan"))
				for (uint32_t k = 0; k < sc->fleets[fi].count; k++)
					need[sc->fleets[fi].first + k] = true;
		int rc = ids && need ? fb_lw_keys_load_csv(cfg.keys_file, 0, (uint32_t)sc->ndevices, ids, need)
		                     : fb_error("out of memory");
		free(need);
		if (rc < 0) {
			free(ids);
			fb_lw_config_release(&cfg);
			return -1;
		}
	}
	int rc = fb_lw_keys_write_begin(out, format);
	bool first = true;
	for (size_t fi = 0; fi < sc->nfleets && !rc; fi++) {
		const struct fb_fleet *f = &sc->fleets[fi];
		if (!f->transport || strcmp(f->transport, "lorawan"))
			continue;
		for (uint32_t k = 0; k < f->count && !rc; k++) {
			uint32_t dev = f->first + k;
			struct fb_lw_identity id;
			if (ids)
				id = ids[dev];
			else
				fb_lw_identity_derive(sc->seed, dev, cfg.net_id, &id);
			char name[64];
			fb_device_id(f->model, dev, name, sizeof(name));
			rc = fb_lw_keys_write_device(out, format, name, &id, !cfg.otaa,
			                             cfg.v103 ? "1.0.3" : "1.0.4", first);
			first = false;
		}
	}
	if (!rc)
		rc = fb_lw_keys_write_end(out, format);
	free(ids);
	fb_lw_config_release(&cfg);
	if (rc)
		return fb_error("cannot write the keys: %s", strerror(errno));
	return 0;
}
