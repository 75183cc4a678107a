/* The LoRaWAN collector: a network-server endpoint on UDP; see collect_lorawan.h. */
#include "harness/collect_lorawan.h"
#include "harness/jcur.h"
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "protocols/codec.h"
#include "protocols/lorawan/crypto.h"
#include "protocols/lorawan/frame.h"
#include "protocols/lorawan/keys.h"
#include "protocols/lorawan/lorawan.h"
#include "protocols/lorawan/region.h"
#include "protocols/lorawan/semtech.h"
#include "sim/log.h"
#include "sim/rng.h"

#define POOL_MAX 65536            /* uplinks inside their dedup window at once, at most */
#define MAX_COPY_GWS 8            /* distinct gateways remembered per uplink */
#define PEND_PER_DEV 4            /* a device's uplinks in their windows at once (more only when
                                     virtual time runs much faster than the wall clock) */
#define RECENT_PER_DEV 4          /* a device's last uplinks whose windows closed */
#define ADR_ACK_DELAY 32          /* RP002: uplinks between a device's ADR back-off steps */
#define NONCE_RING 16             /* LoRaWAN 1.0.3: recent (random) DevNonces per device */
#define MAX_APP_DOWN 51           /* EU868 DR0 FRMPayload limit: fits every RX1 data rate */
#define READS_PER_WAKE 256        /* datagrams read per wake-up, so one flood cannot hog the loop */

struct gateway {
	uint64_t eui;
	struct sockaddr_storage pull_addr;  /* where its PULL_DATA came from: the downlink path */
	socklen_t pull_len;
};

struct dev {
	uint32_t device;                     /* global index */
	const struct fb_model *model;
	const struct fb_codec *codec;
	struct fb_lw_identity id;            /* session keys and DevAddr replaced at each join */
	bool otaa, session;
	uint32_t fcnt_last, fcnt_down;
	bool has_fcnt;
	int32_t pend[PEND_PER_DEV];          /* pool slots of its uplinks in their windows */
	uint8_t npend;
	struct {
		uint32_t fcnt;
		uint64_t gw_bits;                /* the gateways that reported it (a bit per EUI hash) */
	} recent[RECENT_PER_DEV];
	uint8_t nrecent, recent_pos;
	bool adr_answered;
	uint32_t adr_answered_fcnt;
	/* joins */
	bool has_nonce;
	uint16_t nonce_max, nonce_ring[NONCE_RING];
	uint8_t nonce_pos;
	uint16_t join_nonce_seen;            /* the last join-request, for its gateway copies */
	fb_time_us join_wall;
	/* queued application downlink */
	bool dl_queued;
	uint8_t dl_fport, dl_len, dl[MAX_APP_DOWN];
	char eui_hex[17];
};

struct pending {
	uint32_t dev;                        /* index into c->devs */
	uint32_t fcnt;
	fb_time_us first_wall;
	uint32_t flags;
	uint32_t ngw;
	uint64_t gws[MAX_COPY_GWS];
	double airtime_s;
	uint32_t freq_hz;
	const char *detail;
	struct fb_decoded dec;
	bool decoded;
	bool done;                           /* sunk before its window ended (tombstone) */
	bool repeat;                         /* the frame again: not another distinct uplink */
};

/* One rxpk as the scanner reads it. */
struct rx {
	uint32_t tmst;
	bool has_tmst;
	double freq_mhz;
	int stat;
	int dr;
	bool lora;
	const char *data;
	size_t data_len;
	long size;
};

struct fb_collector {
	struct fb_collect_env env;
	struct ev_loop *loop;
	char listen[128];
	int fd;
	int port;
	ev_io io;
	ev_timer tick;
	bool started, validate;
	struct fb_lw_crypto cr;
	uint32_t net_id;
	bool v103;
	uint64_t seed;
	uint64_t scenario_devices;           /* for telling foreign devices from unknown ones */
	struct dev *devs;
	uint32_t ndevs;
	uint32_t *by_eui, *by_addr;          /* open addressing: dev index + 1 */
	size_t table_cap;
	struct gateway *gws;
	size_t ngws, gws_cap;
	uint32_t *gw_slots;                  /* open addressing over gws: index + 1, 0 free */
	size_t gw_slots_cap;                 /* a power of two, at least twice gws_cap */
	struct pending *pool;              /* a ring in arrival order (so window-end order) */
	size_t pool_cap, pool_head, pool_len;
	uint32_t join_nonce;                 /* the network's JoinNonce counter (24 bits) */
	uint16_t token;
	fb_time_us now_wall;                 /* the cached now of the datagram being handled */
	fb_time_us last_datagram_wall, drain_since;
	struct fb_lw_collect_counters c;
	bool logged_bad, logged_mic, logged_unknown, logged_replay, logged_nonce, logged_nopath,
	     logged_undecodable, logged_join_mic, logged_overflow, logged_txack, logged_gw_full;
	uint8_t buf[FB_SM_BUF_SIZE + 1];
	uint8_t out[1024];
};

/* ---- lookup tables --------------------------------------------------------------------------- */

static size_t slot_of(uint64_t key, size_t cap) { return (size_t)fb_mix64(key) & (cap - 1); }

static void table_put(uint32_t *table, size_t cap, uint64_t key, uint32_t dev,
                      uint64_t (*key_of)(const struct dev *), const struct dev *devs)
{
	size_t i = slot_of(key, cap);
	while (table[i] && table[i] != dev + 1 && key_of(&devs[table[i] - 1]) != key)
		i = (i + 1) & (cap - 1);
	table[i] = dev + 1;
}

static int64_t table_find(const uint32_t *table, size_t cap, uint64_t key,
                          uint64_t (*key_of)(const struct dev *), const struct dev *devs)
{
	size_t i = slot_of(key, cap);
	for (size_t probes = 0; table[i] && probes < cap; probes++, i = (i + 1) & (cap - 1))
		if (key_of(&devs[table[i] - 1]) == key)
			return table[i] - 1;
	return -1;
}

static uint64_t eui_of(const struct dev *d) { return d->id.dev_eui; }
/* a device without a session has no address (never matches: addresses are 32 bits) */
static uint64_t addr_of(const struct dev *d) { return d->session ? d->id.dev_addr : UINT64_MAX; }

static struct dev *find_addr(struct fb_collector *c, uint32_t addr)
{
	int64_t i = table_find(c->by_addr, c->table_cap, addr, addr_of, c->devs);
	return i < 0 ? NULL : &c->devs[i];
}

static struct dev *find_eui(struct fb_collector *c, uint64_t eui)
{
	int64_t i = table_find(c->by_eui, c->table_cap, eui, eui_of, c->devs);
	return i < 0 ? NULL : &c->devs[i];
}

/* A derived identity names its device index (keys.h): one of the scenario's devices outside
 * this shard is foreign, not unknown. */
static bool foreign_index(const struct fb_collector *c, uint64_t index)
{
	uint32_t first = c->env.first_device, count = c->env.device_count;
	return c->env.scenario && index < c->scenario_devices && (index < first || index - first >= count);
}

/* ---- sinking --------------------------------------------------------------------------------- */

static void sink(struct fb_collector *c, const struct pending *p)
{
	const struct dev *d = &c->devs[p->dev];
	struct fb_obs o = {
		.proto = "lorawan", .device = d->device, .device_id = d->eui_hex, .model = d->model,
		.key = p->fcnt, .seq = p->decoded ? p->dec.seq : -1,
		.ts = p->decoded ? p->dec.ts : FB_TIME_NEVER, .recv_wall = p->first_wall,
		.flags = p->flags, .fcnt = p->fcnt, .airtime_s = p->airtime_s, .gateways = p->ngw,
		.detail = p->detail, .freq_hz = p->freq_hz,
	};
	if (p->decoded) {
		o.nvalues = d->model->nfields;
		o.values = p->dec.values;
		o.present = p->dec.present;
		o.tolerance = p->dec.tolerance;
	}
	if (!p->flags && !p->repeat)
		c->c.uplinks++;
	c->env.sink(c->env.sink_arg, &o);
}

static uint64_t gw_bit(uint64_t eui) { return 1ull << (fb_mix64(eui) & 63); }

/* Ends slot's window: sinks its observation and remembers the uplink among the device's recent
 * ones, so a gateway's copy arriving later is still known. */
static void close_slot(struct fb_collector *c, size_t slot)
{
	struct pending *p = &c->pool[slot];
	if (p->done)
		return;
	p->done = true;
	struct dev *d = &c->devs[p->dev];
	for (uint8_t i = 0; i < d->npend; i++)
		if (d->pend[i] == (int32_t)slot) {
			memmove(&d->pend[i], &d->pend[i + 1], (size_t)(d->npend - i - 1) * sizeof(d->pend[0]));
			d->npend--;
			break;
		}
	if (p->flags) {
		sink(c, p);                      /* only verified uplinks are remembered */
		return;
	}
	uint64_t bits = 0;
	for (uint32_t k = 0; k < p->ngw && k < MAX_COPY_GWS; k++)
		bits |= gw_bit(p->gws[k]);
	d->recent[d->recent_pos].fcnt = p->fcnt;
	d->recent[d->recent_pos].gw_bits = bits;
	d->recent_pos = (uint8_t)((d->recent_pos + 1) % RECENT_PER_DEV);
	if (d->nrecent < RECENT_PER_DEV)
		d->nrecent++;
	sink(c, p);
}

/* Closes the oldest window. */
static void pool_pop(struct fb_collector *c)
{
	size_t slot = c->pool_head;
	c->pool_head = (c->pool_head + 1) % c->pool_cap;
	c->pool_len--;
	close_slot(c, slot);
}

/* Closes the windows that ended by `now` (all when now is FB_TIME_NEVER). */
static void pool_flush(struct fb_collector *c, fb_time_us now)
{
	while (c->pool_len && (now == FB_TIME_NEVER ||
	                       c->pool[c->pool_head].first_wall + FB_LW_COLLECT_DEDUP_US <= now))
		pool_pop(c);
}

static struct pending *pool_push(struct fb_collector *c, uint32_t dev)
{
	if (c->pool_len == c->pool_cap) {
		/* harmless (a late copy is still recognised), and usual when virtual time runs far
		 * ahead of the wall clock */
		c->c.dedup_overflow++;
		if (fb_first_time(&c->logged_overflow))
			fb_debug("lorawan collector: more than %zu uplinks in one dedup window: windows closed "
			         "early (counted, not logged again)", c->pool_cap);
		pool_pop(c);
	}
	struct dev *d = &c->devs[dev];
	if (d->npend == PEND_PER_DEV) {
		c->c.dedup_overflow++;           /* this device's oldest window ends early */
		close_slot(c, (size_t)d->pend[0]);
	}
	size_t at = (c->pool_head + c->pool_len) % c->pool_cap;
	c->pool_len++;
	struct pending *p = &c->pool[at];
	memset(p, 0, offsetof(struct pending, dec));
	p->dev = dev;
	p->decoded = false;
	p->done = false;
	p->repeat = false;
	d->pend[d->npend++] = (int32_t)at;
	return p;
}

/* ---- sending --------------------------------------------------------------------------------- */

static struct gateway *gateway_of(struct fb_collector *c, uint64_t eui, bool create)
{
	size_t mask = c->gw_slots_cap - 1, k = c->gw_slots_cap ? slot_of(eui, c->gw_slots_cap) : 0;
	for (; c->gw_slots_cap && c->gw_slots[k]; k = (k + 1) & mask)
		if (c->gws[c->gw_slots[k] - 1].eui == eui)
			return &c->gws[c->gw_slots[k] - 1];
	if (!create)
		return NULL;
	if (c->ngws == FB_LW_COLLECT_MAX_GATEWAYS) {
		c->c.gateways_refused++;
		if (fb_first_time(&c->logged_gw_full))
			fb_warn("lorawan collector: more than %d gateways: '%016llx' and later new ones are "
			        "acknowledged, not remembered (counted, not logged again)",
			        FB_LW_COLLECT_MAX_GATEWAYS, (unsigned long long)eui);
		return NULL;
	}
	if (c->ngws == c->gws_cap) {
		/* a new gateway: rare, not per uplink; the index is rebuilt at twice the room */
		size_t cap = c->gws_cap ? 2 * c->gws_cap : 16;
		struct gateway *g = realloc(c->gws, cap * sizeof(*g));
		if (!g)
			return NULL;
		c->gws = g;
		uint32_t *slots = calloc(2 * cap, sizeof(*slots));
		if (!slots)
			return NULL;
		free(c->gw_slots);
		c->gw_slots = slots;
		c->gw_slots_cap = 2 * cap;
		c->gws_cap = cap;
		mask = c->gw_slots_cap - 1;
		for (size_t i = 0; i < c->ngws; i++) {
			size_t j = slot_of(c->gws[i].eui, c->gw_slots_cap);
			while (c->gw_slots[j])
				j = (j + 1) & mask;
			c->gw_slots[j] = (uint32_t)i + 1;
		}
		for (k = slot_of(eui, c->gw_slots_cap); c->gw_slots[k]; k = (k + 1) & mask)
			;
	}
	struct gateway *g = &c->gws[c->ngws++];
	memset(g, 0, sizeof(*g));
	g->eui = eui;
	c->gw_slots[k] = (uint32_t)c->ngws;
	return g;
}

/* PULL_RESP with one txpk for RX1 of an uplink received at `tmst` (`delay_us` later), on the
 * uplink's frequency and data rate (RX1DROffset 0). */
static void send_down(struct fb_collector *c, uint64_t gw_eui, const struct rx *r, uint32_t delay_us,
                      const uint8_t *phy, size_t len)
{
	struct gateway *g = gateway_of(c, gw_eui, false);
	if (!g || !g->pull_len) {
		c->c.downlinks_no_path++;
		if (fb_first_time(&c->logged_nopath))
			fb_warn("lorawan collector: gateway '%016llx' sent no PULL_DATA: no downlink path "
			        "(counted, not logged again)", (unsigned long long)gw_eui);
		return;
	}
	char b64[400], datr[16];
	ssize_t b64n = fb_base64_encode(phy, len, b64, sizeof(b64));
	if (b64n < 0 || fb_lw_dr_name(r->dr, datr, sizeof(datr)) < 0)
		return;
	uint16_t token = ++c->token;
	c->out[0] = 2;
	c->out[1] = (uint8_t)(token >> 8);
	c->out[2] = (uint8_t)token;
	c->out[3] = FB_SM_PULL_RESP;
	int n = snprintf((char *)c->out + 4, sizeof(c->out) - 4,
	                 "{\"txpk\":{\"imme\":false,\"tmst\":%u,\"freq\":%.6f,\"rfch\":0,\"powe\":14,"
	                 "\"modu\":\"LORA\",\"datr\":\"%s\",\"codr\":\"4/5\",\"ipol\":true,\"size\":%zu,"
	                 "\"data\":\"%.*s\"}}",
	                 (unsigned)(r->tmst + delay_us), r->freq_mhz, datr, len, (int)b64n, b64);
	if (n < 0 || (size_t)n >= sizeof(c->out) - 4)
		return;
	if (sendto(c->fd, c->out, 4 + (size_t)n, 0, (struct sockaddr *)&g->pull_addr, g->pull_len) < 0)
		return;
	c->c.downlinks++;
}

/* ---- joins ----------------------------------------------------------------------------------- */

static bool nonce_reused(struct fb_collector *c, const struct dev *d, uint16_t nonce)
{
	if (!d->has_nonce)
		return false;
	if (!c->v103)
		return nonce <= d->nonce_max;          /* 1.0.4 §6.2.4: a counter */
	for (int i = 0; i < NONCE_RING; i++)
		if (d->nonce_ring[i] == nonce)
			return true;
	return false;
}

/* The rxpk's frequency in Hz (0 when it gave none). */
static uint32_t freq_hz_of(const struct rx *r)
{
	return r->freq_mhz > 0 ? (uint32_t)llround(r->freq_mhz * 1e6) : 0;
}

static void join_obs(struct fb_collector *c, const struct dev *d, const struct rx *r, size_t len,
                     uint16_t nonce, uint32_t flags, const char *detail)
{
	if (!c->validate)
		return;
	/* a join request is on air too: it counts towards the device's duty cycle */
	struct fb_obs o = {
		.proto = "lorawan", .device = d->device, .device_id = d->eui_hex, .model = d->model,
		.key = nonce, .seq = -1, .ts = FB_TIME_NEVER, .recv_wall = c->now_wall, .flags = flags,
		.devnonce_plus1 = (uint32_t)nonce + 1, .gateways = 1, .detail = detail,
		.airtime_s = r->dr >= 0 ? (double)fb_lw_uplink_airtime_us(r->dr, len) / 1e6 : 0,
		.freq_hz = freq_hz_of(r),
	};
	c->env.sink(c->env.sink_arg, &o);
}

static void on_join(struct fb_collector *c, uint64_t gw_eui, const struct rx *r, const uint8_t *phy,
                    size_t len)
{
	struct fb_lw_join_request jr;
	if (fb_lw_join_request_parse(&c->cr, phy, len, NULL, &jr)) {
		c->c.rxpk_bad++;
		return;
	}
	struct dev *d = find_eui(c, jr.dev_eui);
	if (!d) {
		if ((jr.dev_eui >> 48) == 0x02fb && foreign_index(c, (uint32_t)jr.dev_eui)) {
			c->c.foreign++;
			return;
		}
		c->c.joins_unknown++;
		if (fb_first_time(&c->logged_unknown))
			fb_warn("lorawan collector: join-request from unknown DevEUI '%016llx' (counted, not "
			        "logged again)", (unsigned long long)jr.dev_eui);
		return;
	}
	/* the same request heard by another gateway */
	if (d->join_wall && d->join_nonce_seen == jr.dev_nonce &&
	    c->now_wall - d->join_wall < FB_LW_COLLECT_DEDUP_US) {
		c->c.gateway_copies++;
		return;
	}
	d->join_wall = c->now_wall;
	d->join_nonce_seen = jr.dev_nonce;
	c->c.joins_requested++;
	if (fb_lw_join_request_parse(&c->cr, phy, len, d->id.app_key, &jr)) {
		c->c.joins_bad_mic++;
		if (fb_first_time(&c->logged_join_mic))
			fb_warn("lorawan collector: device '%s': join-request with a wrong MIC (counted, not "
			        "logged again)", d->eui_hex);
		join_obs(c, d, r, len, jr.dev_nonce, FB_OBS_BAD_MIC, "join-request MIC does not verify");
		return;
	}
	if (nonce_reused(c, d, jr.dev_nonce)) {
		c->c.joins_nonce_reused++;
		if (fb_first_time(&c->logged_nonce))
			fb_warn("lorawan collector: device '%s': DevNonce %u reused (last %u): join refused "
			        "(counted, not logged again)", d->eui_hex, jr.dev_nonce, d->nonce_max);
		join_obs(c, d, r, len, jr.dev_nonce, FB_OBS_REPLAY, "DevNonce reused");
		return;
	}
	if (!d->has_nonce || jr.dev_nonce > d->nonce_max)
		d->nonce_max = jr.dev_nonce;
	d->has_nonce = true;
	d->nonce_ring[d->nonce_pos++ % NONCE_RING] = jr.dev_nonce;

	/* 1.0.4 §6.2.5: JoinNonce a counter of the network; keys from (JoinNonce, NetID, DevNonce) */
	c->join_nonce = (c->join_nonce + 1) & 0xffffff;
	struct fb_lw_join_accept ja = {
		.join_nonce = c->join_nonce, .net_id = c->net_id & 0xffffff,
		.dev_addr = fb_lw_dev_addr(c->net_id, d->device),
		.rx1_dr_offset = 0, .rx2_dr = 0, .rx_delay_s = 1, .has_cflist = true,
		.cflist_hz = { 867100000, 867300000, 867500000, 867700000, 867900000 },
	};
	uint8_t wire[64];
	ssize_t n = fb_lw_join_accept_build(&c->cr, &ja, d->id.app_key, wire, sizeof(wire));
	if (n < 0 || fb_lw_session_keys(&c->cr, d->id.app_key, ja.join_nonce, ja.net_id, jr.dev_nonce,
	                                d->id.nwk_s_key, d->id.app_s_key))
		return;
	d->id.dev_addr = ja.dev_addr;
	d->session = true;
	d->has_fcnt = false;
	d->fcnt_down = 0;
	table_put(c->by_addr, c->table_cap, d->id.dev_addr, (uint32_t)(d - c->devs), addr_of, c->devs);
	send_down(c, gw_eui, r, FB_LW_JOIN_ACCEPT_DELAY1_US, wire, (size_t)n);
	c->c.joins_accepted++;
	join_obs(c, d, r, len, jr.dev_nonce, 0, NULL);
}

/* ---- data uplinks ---------------------------------------------------------------------------- */

/* The class A downlink after an uplink, when one is due: an ACK for a confirmed uplink, a queued
 * application payload, or an answer to ADRACKReq (RP002 §4.3: the device lowers its data rate
 * when the network stays silent; any downlink tells it the uplinks are heard). */
static void answer(struct fb_collector *c, struct dev *d, uint64_t gw_eui, const struct rx *r,
                   bool ack, bool adr_ack_req)
{
	if (!ack && !d->dl_queued && !adr_ack_req)
		return;
	struct fb_lw_data_frame f = {
		.mtype = FB_LW_UNCONF_DOWN, .dev_addr = d->id.dev_addr, .ack = ack, .fcnt = d->fcnt_down,
		.fport = -1,
	};
	if (d->dl_queued) {
		f.fport = d->dl_fport;
		f.payload = d->dl;
		f.payload_len = d->dl_len;
	}
	uint8_t phy[FB_LW_MAX_PHY];
	ssize_t n = fb_lw_data_build(&c->cr, &f, d->id.nwk_s_key, d->id.app_s_key, phy, sizeof(phy));
	if (n < 0)
		return;
	d->fcnt_down++;
	c->c.acks_sent += ack;
	c->c.adr_ack_answers += adr_ack_req && !ack && !d->dl_queued;
	if (d->dl_queued) {
		c->c.app_downlinks++;
		d->dl_queued = false;
	}
	send_down(c, gw_eui, r, FB_US_PER_S, phy, (size_t)n);
}

static void on_data(struct fb_collector *c, uint64_t gw_eui, const struct rx *r, const uint8_t *phy,
                    size_t len)
{
	struct fb_lw_data_frame f;
	if (fb_lw_data_parse(phy, len, &f) || fb_lw_mtype_dir(f.mtype) != FB_LW_UP) {
		c->c.rxpk_bad++;
		return;
	}
	struct dev *d = find_addr(c, f.dev_addr);
	if (!d) {
		if (foreign_index(c, f.dev_addr & 0x1ffffff)) {
			c->c.foreign++;
			return;
		}
		c->c.unknown_devices++;
		if (fb_first_time(&c->logged_unknown))
			fb_warn("lorawan collector: uplink from unknown DevAddr '%08x' (counted, not logged "
			        "again)", f.dev_addr);
		char addr[16];
		snprintf(addr, sizeof(addr), "%08x", f.dev_addr);
		struct fb_obs o = {
			.proto = "lorawan", .device = FB_OBS_NO_DEVICE, .device_id = addr, .key = f.fcnt,
			.seq = -1, .ts = FB_TIME_NEVER, .recv_wall = c->now_wall,
			.flags = FB_OBS_UNKNOWN_DEVICE, .fcnt = f.fcnt, .gateways = 1,
			.detail = "DevAddr of no device",
		};
		c->env.sink(c->env.sink_arg, &o);
		return;
	}
	uint32_t dev = (uint32_t)(d - c->devs);
	uint16_t wire = (uint16_t)f.fcnt;
	/* the 32-bit counter: ahead of the last one within 2^16, else a replay of an older one */
	uint32_t fcnt = d->has_fcnt ? fb_lw_fcnt_expand(d->fcnt_last, wire) : wire;
	uint32_t same_epoch = d->has_fcnt ? ((d->fcnt_last & 0xffff0000u) | wire) : wire;

	/* another copy of an uplink in its window */
	for (uint8_t i = 0; i < d->npend; i++) {
		struct pending *p = &c->pool[d->pend[i]];
		if (p->fcnt == fcnt || p->fcnt == same_epoch) {
			for (uint32_t k = 0; k < p->ngw && k < MAX_COPY_GWS; k++)
				if (p->gws[k] == gw_eui) {
					/* one gateway cannot hear a frame twice: a duplicate in the network */
					c->c.same_gateway_repeats++;
					struct pending dup = *p;
					dup.first_wall = c->now_wall;
					dup.ngw = 1;
					dup.repeat = true;
					sink(c, &dup);
					return;
				}
			if (p->ngw < MAX_COPY_GWS)
				p->gws[p->ngw] = gw_eui;
			p->ngw++;
			c->c.gateway_copies++;
			return;
		}
	}
	/* an uplink whose window has ended: another gateway's late copy is dropped, as network
	 * servers drop it; the same gateway again is the frame sent again (a confirmed
	 * retransmission, or a duplicate in the network), observed again */
	bool seen = false;
	for (uint8_t i = 0; i < d->nrecent && !seen; i++)
		if (d->recent[i].fcnt == fcnt || d->recent[i].fcnt == same_epoch) {
			if (!(d->recent[i].gw_bits & gw_bit(gw_eui))) {
				c->c.gateway_copies++;
				return;
			}
			seen = true;
			if (d->recent[i].fcnt == same_epoch)
				fcnt = same_epoch;
		}

	uint8_t plain[FB_LW_MAX_PHY];
	uint32_t flags = 0;
	const char *detail = NULL;
	int rc = fb_lw_data_open(&c->cr, phy, len, &f, fcnt, d->id.nwk_s_key, d->id.app_s_key, plain);
	if (rc == FB_LW_EMIC && d->has_fcnt && same_epoch != fcnt &&
	    fb_lw_data_open(&c->cr, phy, len, &f, same_epoch, d->id.nwk_s_key, d->id.app_s_key, plain) == 0) {
		fcnt = same_epoch;          /* an older counter, replayed */
		rc = 0;
	}
	if (rc) {
		flags |= FB_OBS_BAD_MIC;
		detail = "MIC does not verify with the device's session key";
		c->c.bad_mic++;
		if (fb_first_time(&c->logged_mic))
			fb_warn("lorawan collector: device '%s': uplink FCnt %u with a wrong MIC (counted, not "
			        "logged again)", d->eui_hex, fcnt);
	} else if (seen) {
		c->c.late_copies++;              /* observed again: reconciliation counts it duplicated */
	} else if (d->has_fcnt && fcnt < d->fcnt_last) {
		flags |= FB_OBS_REPLAY;
		detail = "FCnt below one already received";
		c->c.replays++;
		if (fb_first_time(&c->logged_replay))
			fb_warn("lorawan collector: device '%s': FCnt %u after %u (counted, not logged again)",
			        d->eui_hex, fcnt, d->fcnt_last);
	} else {
		d->fcnt_last = fcnt;
		d->has_fcnt = true;
	}
	/* ADRACKReq is answered once per ADR_ACK_DELAY uplinks: the device's counter restarts when
	 * the downlink arrives, so more only means the answers come too late (a max-speed run) */
	bool adr_ack = !flags && f.adr_ack_req &&
	               (!d->adr_answered || fcnt - d->adr_answered_fcnt >= ADR_ACK_DELAY);
	if (adr_ack) {
		d->adr_answered = true;
		d->adr_answered_fcnt = fcnt;
	}
	if (!flags && f.fport <= 0) {
		/* MAC commands only: no application data to reconcile */
		c->c.mac_only++;
		answer(c, d, gw_eui, r, f.mtype == FB_LW_CONF_UP, adr_ack);
		return;
	}
	struct pending *p = pool_push(c, dev);
	p->fcnt = fcnt;
	p->first_wall = c->now_wall;
	p->gws[0] = gw_eui;
	p->ngw = 1;
	p->airtime_s = r->dr >= 0 ? (double)fb_lw_uplink_airtime_us(r->dr, len) / 1e6 : 0;
	p->freq_hz = freq_hz_of(r);
	p->flags = flags;
	p->detail = detail;
	p->repeat = seen;
	if (!flags) {
		struct fb_codec_ctx ctx = { .device_id = d->eui_hex };
		int drc = d->codec && d->codec->decode_sample
		        ? d->codec->decode_sample(&ctx, d->model, plain, f.payload_len, &p->dec) : FB_CODEC_EINVAL;
		if (drc < 0) {
			p->flags |= FB_OBS_UNDECODABLE;
			p->detail = fb_codec_strerror(drc);
			c->c.undecodable++;
			if (fb_first_time(&c->logged_undecodable))
				fb_warn("lorawan collector: device '%s': FCnt %u payload does not decode as '%s': %s "
				        "(counted, not logged again)", d->eui_hex, fcnt,
				        d->codec ? d->codec->name : "?", fb_codec_strerror(drc));
		} else {
			p->decoded = true;
		}
		answer(c, d, gw_eui, r, f.mtype == FB_LW_CONF_UP, adr_ack);
	}
}

/* ---- PUSH_DATA: {"rxpk":[{...}], ...} read in place (harness/jcur.h) ------------------------ */


static bool rxpk_object(struct fb_jcur *j, struct rx *r)
{
	memset(r, 0, sizeof(*r));
	r->stat = 1;
	r->dr = -1;
	r->size = -1;
	if (!fb_jcur_lit(j, '{'))
		return false;
	if (fb_jcur_lit(j, '}'))
		return true;
	do {
		const char *k, *s;
		size_t kn, sn;
		double v;
		if (!fb_jcur_str(j, &k, &kn, NULL) || !fb_jcur_lit(j, ':'))
			return false;
		fb_jcur_ws(j);
		/* ranges written so that NaN (strtod reads "nan") fails them: converting it, or a
		 * number out of the target type's range, is undefined (fuzz_push found it) */
		if (fb_jcur_key_is(k, kn, "tmst")) {
			if (!fb_jcur_num(j, &v) || !(v >= 0 && v <= UINT32_MAX))
				return false;
			r->tmst = (uint32_t)v;
			r->has_tmst = true;
		} else if (fb_jcur_key_is(k, kn, "freq")) {
			if (!fb_jcur_num(j, &r->freq_mhz) || !(r->freq_mhz > 0 && r->freq_mhz < 10000))
				return false;
		} else if (fb_jcur_key_is(k, kn, "stat")) {
			if (!fb_jcur_num(j, &v) || !(v >= -1 && v <= 1))
				return false;
			r->stat = (int)v;
		} else if (fb_jcur_key_is(k, kn, "size")) {
			if (!fb_jcur_num(j, &v) || !(v >= 0 && v <= 255))
				return false;
			r->size = (long)v;
		} else if (fb_jcur_key_is(k, kn, "modu")) {
			if (!fb_jcur_str(j, &s, &sn, NULL))
				return false;
			r->lora = fb_jcur_key_is(s, sn, "LORA");
		} else if (fb_jcur_key_is(k, kn, "datr")) {
			char datr[16];
			if (!fb_jcur_str(j, &s, &sn, NULL))
				return false;
			if (sn < sizeof(datr)) {
				memcpy(datr, s, sn);
				datr[sn] = 0;
				r->dr = fb_lw_dr_parse(datr);
			}
		} else if (fb_jcur_key_is(k, kn, "data")) {
			if (!fb_jcur_str(j, &r->data, &r->data_len, NULL))
				return false;
		} else if (!fb_jcur_skip(j, 1)) {
			return false;
		}
	} while (fb_jcur_lit(j, ','));
	return fb_jcur_lit(j, '}');
}

static void on_rxpk(struct fb_collector *c, uint64_t gw_eui, const struct rx *r)
{
	c->c.rxpk++;
	if (r->stat != 1) {
		c->c.rxpk_crc_bad++;
		return;
	}
	uint8_t phy[FB_LW_MAX_PHY];
	ssize_t n = r->data ? fb_base64_decode(r->data, r->data_len, phy, sizeof(phy)) : -1;
	if (n < 1 || !r->lora || r->dr < 0 || !r->has_tmst || (r->size >= 0 && r->size != n)) {
		c->c.rxpk_bad++;
		if (fb_first_time(&c->logged_bad))
			fb_warn("lorawan collector: gateway '%016llx': rxpk without valid LoRa data (counted, "
			        "not logged again)", (unsigned long long)gw_eui);
		return;
	}
	switch (phy[0] >> 5) {
	case FB_LW_JOIN_REQUEST:
		on_join(c, gw_eui, r, phy, (size_t)n);
		break;
	case FB_LW_UNCONF_UP: case FB_LW_CONF_UP:
		on_data(c, gw_eui, r, phy, (size_t)n);
		break;
	default:
		c->c.rxpk_bad++;
	}
}

static bool push_json(struct fb_collector *c, uint64_t gw_eui, const char *json, size_t len)
{
	struct fb_jcur j = { json, json + len };
	if (!fb_jcur_lit(&j, '{'))
		return false;
	if (fb_jcur_lit(&j, '}'))
		return true;
	do {
		const char *k;
		size_t kn;
		if (!fb_jcur_str(&j, &k, &kn, NULL) || !fb_jcur_lit(&j, ':'))
			return false;
		if (fb_jcur_key_is(k, kn, "rxpk")) {
			if (!fb_jcur_lit(&j, '['))
				return false;
			if (fb_jcur_lit(&j, ']'))
				continue;
			do {
				struct rx r;
				if (!rxpk_object(&j, &r))
					return false;
				on_rxpk(c, gw_eui, &r);
			} while (fb_jcur_lit(&j, ','));
			if (!fb_jcur_lit(&j, ']'))
				return false;
		} else if (!fb_jcur_skip(&j, 1)) {
			return false;
		}
	} while (fb_jcur_lit(&j, ','));
	return fb_jcur_lit(&j, '}');
}

/* ---- datagrams ------------------------------------------------------------------------------- */

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void bad_datagram(struct fb_collector *c, const char *why)
{
	c->c.bad_datagrams++;
	if (fb_first_time(&c->logged_bad))
		fb_warn("lorawan collector: bad datagram: %s (counted, not logged again)", why);
}

static void datagram(struct fb_collector *c, size_t n, const struct sockaddr *from, socklen_t fl)
{
	uint8_t ver, type;
	uint16_t token;
	c->c.datagrams++;
	if (fb_sm_header(c->buf, n, &ver, &token, &type)) {
		bad_datagram(c, "not a Semtech UDP header");
		return;
	}
	uint8_t ack[4] = { ver, c->buf[1], c->buf[2], 0 };
	switch (type) {
	case FB_SM_PUSH_DATA: {
		if (n < 12) {
			bad_datagram(c, "PUSH_DATA shorter than 12 bytes");
			return;
		}
		ack[3] = FB_SM_PUSH_ACK;
		sendto(c->fd, ack, 4, 0, from, fl);
		c->c.push_data++;
		uint64_t eui = be64(c->buf + 4);
		gateway_of(c, eui, true);
		if (!push_json(c, eui, (const char *)c->buf + 12, n - 12))
			bad_datagram(c, "PUSH_DATA JSON not understood");
		return;
	}
	case FB_SM_PULL_DATA: {
		if (n < 12) {
			bad_datagram(c, "PULL_DATA shorter than 12 bytes");
			return;
		}
		c->c.pull_data++;
		struct gateway *g = gateway_of(c, be64(c->buf + 4), true);
		if (g && fl <= sizeof(g->pull_addr)) {
			memcpy(&g->pull_addr, from, fl);
			g->pull_len = fl;
		}
		ack[3] = FB_SM_PULL_ACK;
		sendto(c->fd, ack, 4, 0, from, fl);
		return;
	}
	case FB_SM_TX_ACK:
		c->c.tx_ack++;
		/* v2: {"txpk_ack":{"error":"..."}}; none or "NONE" is a success */
		if (n > 12 && strstr((const char *)c->buf + 12, "\"error\"") &&
		    !strstr((const char *)c->buf + 12, "\"NONE\"")) {
			c->c.tx_ack_errors++;
			if (fb_first_time(&c->logged_txack))
				fb_warn("lorawan collector: a gateway refused a downlink: %.*s (counted, not logged "
				        "again)", (int)(n - 12 > 80 ? 80 : n - 12), (const char *)c->buf + 12);
		}
		return;
	default:
		bad_datagram(c, "a packet type a network server does not receive");
	}
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fb_collector *c = (struct fb_collector *)((char *)w - offsetof(struct fb_collector, io));
	for (int k = 0; k < READS_PER_WAKE; k++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(c->fd, c->buf, FB_SM_BUF_SIZE, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;                      /* EAGAIN: drained */
		c->buf[n] = 0;
		c->now_wall = fb_wall_now_us();
		c->last_datagram_wall = c->now_wall;
		datagram(c, (size_t)n, (struct sockaddr *)&from, fl);
	}
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fb_collector *c = (struct fb_collector *)((char *)w - offsetof(struct fb_collector, tick));
	pool_flush(c, fb_wall_now_us());
}

/* ---- devices --------------------------------------------------------------------------------- */

static int add_device(struct fb_collector *c, uint32_t device, const struct fb_model *m,
                      const struct fb_codec *codec, const struct fb_lw_identity *id, bool otaa)
{
	struct dev *d = &c->devs[c->ndevs];
	memset(d, 0, sizeof(*d));
	d->device = device;
	d->model = m;
	d->codec = codec;
	d->id = *id;
	d->otaa = otaa;
	d->session = !otaa;
	snprintf(d->eui_hex, sizeof(d->eui_hex), "%016llx", (unsigned long long)id->dev_eui);
	uint32_t i = c->ndevs++;
	table_put(c->by_eui, c->table_cap, id->dev_eui, i, eui_of, c->devs);
	if (d->session)
		table_put(c->by_addr, c->table_cap, id->dev_addr, i, addr_of, c->devs);
	return 0;
}

static int alloc_devices(struct fb_collector *c, uint64_t n)
{
	c->devs = calloc(n ? n : 1, sizeof(*c->devs));
	for (c->table_cap = 64; c->table_cap < 2 * n; c->table_cap *= 2)
		;
	c->by_eui = calloc(c->table_cap, sizeof(*c->by_eui));
	c->by_addr = calloc(c->table_cap, sizeof(*c->by_addr));
	if (!c->devs || !c->by_eui || !c->by_addr)
		return fb_error("out of memory");
	return 0;
}

/* run: this shard's devices of the lorawan fleets, keys as the transport has them. */
static int scenario_devices(struct fb_collector *c)
{
	const struct fb_scenario *sc = c->env.scenario;
	const struct fb_ynode *node = sc->transports ? fb_ynode_get(sc->transports, "lorawan") : NULL;
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	if (fb_lw_config_read_for(&cfg, node, false) < 0) {
		fb_lw_config_release(&cfg);
		return -1;
	}
	c->net_id = cfg.net_id;
	c->v103 = cfg.v103;
	c->seed = sc->seed;
	c->scenario_devices = sc->ndevices;
	uint32_t first = c->env.first_device, count = c->env.device_count;
	struct fb_lw_identity *ids = NULL;
	bool *need = calloc(count ? count : 1, sizeof(bool));
	int rc = need ? 0 : fb_error("out of memory");
	for (uint32_t i = 0; !rc && i < count; i++) {
		const struct fb_fleet *f = fb_scenario_fleet_of(sc, first + i);
		need[i] = f && f->transport && !strcmp(f->transport, "lorawan");
	}
	if (!rc && cfg.keys_file) {
		ids = calloc(count ? count : 1, sizeof(*ids));
		rc = ids ? fb_lw_keys_load_csv(cfg.keys_file, first, count, ids, need) : fb_error("out of memory");
	}
	uint64_t n = 0;
	for (uint32_t i = 0; !rc && i < count; i++)
		n += need[i];
	if (!rc)
		rc = alloc_devices(c, n);
	for (uint32_t i = 0; !rc && i < count; i++) {
		if (!need[i])
			continue;
		const struct fb_fleet *f = fb_scenario_fleet_of(sc, first + i);
		const char *cname = f->codec ? f->codec : cfg.payload;
		const struct fb_codec *codec = fb_codec_find(cname);
		struct fb_lw_identity id;
		if (ids)
			id = ids[i];
		else
			fb_lw_identity_derive(sc->seed, first + i, cfg.net_id, &id);
		rc = add_device(c, first + i, f->model, codec, &id, cfg.otaa);
	}
	free(ids);
	free(need);
	fb_lw_config_release(&cfg);
	return rc;
}

/* validate: every row of the keys file is a device of env->model. */
static int keys_file_devices(struct fb_collector *c, const struct fb_collect_cfg *cfg)
{
	if (!cfg->keys_file)
		return fb_error("the LoRaWAN collector needs a keys file (--keys FILE, as `fleetbench keys "
		                "--format csv` writes)");
	if (!c->env.model)
		return fb_error("the LoRaWAN collector needs the sensor type to decode with");
	const char *cname = cfg->codec ? cfg->codec : "binary";
	const struct fb_codec *codec = fb_codec_find(cname);
	if (!codec || !codec->decode_sample || (strcmp(cname, "binary") && strcmp(cname, "lpp")))
		return fb_error("LoRaWAN payloads are 'binary' or 'lpp', not '%s'", cname);
	FILE *f = fopen(cfg->keys_file, "r");
	if (!f)
		return fb_error("cannot open keys file '%s': %s", cfg->keys_file, strerror(errno));
	char line[512];
	unsigned long max = 0;
	bool any = false;
	while (fgets(line, sizeof(line), f)) {
		char *end;
		unsigned long v = strtoul(line, &end, 10);
		if (end != line && *end == ',' && v < (1ul << 24)) {
			if (v > max)
				max = v;
			any = true;
		}
	}
	fclose(f);
	if (!any)
		return fb_error("keys file '%s' has no device rows", cfg->keys_file);
	uint32_t count = (uint32_t)max + 1;
	struct fb_lw_identity *ids = calloc(count, sizeof(*ids));
	bool *need = calloc(count, sizeof(bool));          /* none required: absent rows skipped */
	int rc = ids && need ? fb_lw_keys_load_csv(cfg->keys_file, 0, count, ids, need) : fb_error("out of memory");
	uint64_t n = 0;
	for (uint32_t i = 0; !rc && i < count; i++)
		n += ids[i].dev_eui != 0;
	if (!rc)
		rc = alloc_devices(c, n);
	for (uint32_t i = 0; !rc && i < count; i++) {
		if (!ids[i].dev_eui)
			continue;
		/* a row with the ABP columns is an ABP device (DevAddr 0 is a valid address: look at
		 * the session keys) */
		bool abp = false;
		for (int b = 0; b < 16; b++)
			abp |= ids[i].nwk_s_key[b] != 0;
		rc = add_device(c, i, c->env.model, codec, &ids[i], !abp);
	}
	free(ids);
	free(need);
	return rc;
}

/* ---- the collector ops ----------------------------------------------------------------------- */

static void lw_free(struct fb_collector *c);

static struct fb_collector *lw_create(const struct fb_collect_env *env, const struct fb_collect_cfg *cfg)
{
	struct fb_collector *c = calloc(1, sizeof(*c));
	if (!c) {
		fb_error("out of memory");
		return NULL;
	}
	c->env = *env;
	c->loop = env->loop;
	c->fd = -1;
	c->port = -1;
	c->validate = env->scenario == NULL;
	snprintf(c->listen, sizeof(c->listen), "%s", cfg && cfg->listen ? cfg->listen : "127.0.0.1:0");
	if (fb_lw_crypto_init(&c->cr) < 0) {
		free(c);
		return NULL;
	}
	/* the JoinNonce counter starts at a value of the run, so two runs against one device do not
	 * give it the same session keys */
	c->join_nonce = (uint32_t)(fb_wall_now_us() / FB_US_PER_S) & 0xffff;
	if ((c->validate ? keys_file_devices(c, cfg) : scenario_devices(c)) < 0) {
		lw_free(c);
		return NULL;
	}
	c->pool_cap = (size_t)c->ndevs * PEND_PER_DEV + 1;
	c->pool_cap = c->pool_cap < 4096 ? 4096 : c->pool_cap > POOL_MAX ? POOL_MAX : c->pool_cap;
	c->pool = calloc(c->pool_cap, sizeof(*c->pool));
	if (!c->pool) {
		fb_error("out of memory");
		lw_free(c);
		return NULL;
	}
	return c;
}

static int lw_start(struct fb_collector *c)
{
	char host[128];
	const char *colon = strrchr(c->listen, ':');
	if (!colon)
		return fb_error("bad LoRaWAN listen address '%s': expected host:port", c->listen);
	size_t hl = (size_t)(colon - c->listen);
	const char *h = c->listen;
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return fb_error("bad LoRaWAN listen address '%s'", c->listen);
	memcpy(host, h, hl);
	host[hl] = 0;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
	int gai = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
	if (gai)
		return fb_error("bad LoRaWAN listen address '%s': %s", c->listen, gai_strerror(gai));
	c->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;
		freeaddrinfo(res);
		return fb_error("cannot bind '%s': %s", c->listen, strerror(e));
	}
	freeaddrinfo(res);
	/* a burst of PUSH_DATA from many gateways must not overflow the socket between wake-ups */
	int rcv = 4 << 20;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	struct sockaddr_storage a;
	socklen_t al = sizeof(a);
	if (getsockname(c->fd, (struct sockaddr *)&a, &al) == 0)
		c->port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
		                                        : ((struct sockaddr_in *)&a)->sin_port);
	ev_io_init(&c->io, on_read, c->fd, EV_READ);
	ev_io_start(c->loop, &c->io);
	ev_timer_init(&c->tick, on_tick, 0.02, 0.02);
	ev_timer_start(c->loop, &c->tick);
	ev_unref(c->loop);            /* the tick alone does not keep the loop alive */
	c->started = true;
	fb_info("lorawan collector: network server on UDP port %d, %u devices", c->port, c->ndevs);
	return 0;
}

static bool lw_ready(struct fb_collector *c) { return c->started; }

/* Done once every window has closed and nothing arrived for two windows, or at the grace's end
 * (everything still in a window is sunk then). */
static bool lw_drain(struct fb_collector *c, fb_time_us grace)
{
	fb_time_us now = fb_wall_now_us();
	if (!c->drain_since)
		c->drain_since = now;
	pool_flush(c, now);
	if (now - c->drain_since >= grace) {
		pool_flush(c, FB_TIME_NEVER);
		return true;
	}
	return c->pool_len == 0 && now - c->last_datagram_wall >= 2 * FB_LW_COLLECT_DEDUP_US;
}

static void lw_summary(struct fb_collector *c, FILE *out)
{
	const struct fb_lw_collect_counters *k = &c->c;
	fprintf(out, "lorawan collector: %zu gateways (refused %llu), PUSH_DATA %llu, PULL_DATA %llu, "
	        "rxpk %llu (CRC bad %llu, bad %llu), bad datagrams %llu\n", c->ngws,
	        (unsigned long long)k->gateways_refused,
	        (unsigned long long)k->push_data, (unsigned long long)k->pull_data,
	        (unsigned long long)k->rxpk, (unsigned long long)k->rxpk_crc_bad,
	        (unsigned long long)k->rxpk_bad, (unsigned long long)k->bad_datagrams);
	fprintf(out, "lorawan collector: uplinks %llu (extra gateway copies %llu, repeats %llu, late "
	        "copies %llu), bad MIC %llu, replays %llu, undecodable %llu, unknown %llu, foreign %llu\n",
	        (unsigned long long)k->uplinks, (unsigned long long)k->gateway_copies,
	        (unsigned long long)k->same_gateway_repeats, (unsigned long long)k->late_copies,
	        (unsigned long long)k->bad_mic, (unsigned long long)k->replays,
	        (unsigned long long)k->undecodable, (unsigned long long)k->unknown_devices,
	        (unsigned long long)k->foreign);
	fprintf(out, "lorawan collector: joins requested %llu, accepted %llu (bad MIC %llu, DevNonce "
	        "reused %llu, unknown %llu); downlinks %llu (ACKs %llu, application %llu, no path %llu), "
	        "TX_ACK errors %llu\n",
	        (unsigned long long)k->joins_requested, (unsigned long long)k->joins_accepted,
	        (unsigned long long)k->joins_bad_mic, (unsigned long long)k->joins_nonce_reused,
	        (unsigned long long)k->joins_unknown, (unsigned long long)k->downlinks,
	        (unsigned long long)k->acks_sent, (unsigned long long)k->app_downlinks,
	        (unsigned long long)k->downlinks_no_path, (unsigned long long)k->tx_ack_errors);
}

static json_t *lw_report(struct fb_collector *c)
{
	const struct fb_lw_collect_counters *k = &c->c;
#define I(x) (json_int_t)(x)
	return json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
	                 "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
	                 "s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I}}",
	                 "gateways", (int)c->ngws, "gateways_refused", I(k->gateways_refused),
	                 "datagrams", I(k->datagrams),
	                 "bad_datagrams", I(k->bad_datagrams), "push_data", I(k->push_data),
	                 "pull_data", I(k->pull_data), "tx_ack", I(k->tx_ack),
	                 "tx_ack_errors", I(k->tx_ack_errors), "rxpk", I(k->rxpk),
	                 "rxpk_crc_bad", I(k->rxpk_crc_bad), "rxpk_bad", I(k->rxpk_bad),
	                 "uplinks", "received", I(k->uplinks), "gateway_copies", I(k->gateway_copies),
	                 "same_gateway_repeats", I(k->same_gateway_repeats), "late_copies", I(k->late_copies),
	                 "bad_mic", I(k->bad_mic), "replays", I(k->replays), "undecodable", I(k->undecodable),
	                 "unknown_devices", I(k->unknown_devices), "foreign", I(k->foreign),
	                 "mac_only", I(k->mac_only), "dedup_overflow", I(k->dedup_overflow),
	                 "joins", "requested", I(k->joins_requested), "accepted", I(k->joins_accepted),
	                 "bad_mic", I(k->joins_bad_mic), "nonce_reused", I(k->joins_nonce_reused),
	                 "unknown", I(k->joins_unknown),
	                 "downlinks", "sent", I(k->downlinks), "acks", I(k->acks_sent),
	                 "application", I(k->app_downlinks), "adr_ack_answers", I(k->adr_ack_answers),
	                 "no_path", I(k->downlinks_no_path));
#undef I
}

static void lw_free(struct fb_collector *c)
{
	if (!c)
		return;
	if (c->started) {
		ev_ref(c->loop);
		ev_timer_stop(c->loop, &c->tick);
		ev_io_stop(c->loop, &c->io);
	}
	if (c->fd >= 0)
		close(c->fd);
	fb_lw_crypto_release(&c->cr);
	free(c->devs);
	free(c->by_eui);
	free(c->by_addr);
	free(c->gws);
	free(c->gw_slots);
	free(c->pool);
	free(c);
}

int fb_collector_lorawan_port(const struct fb_collector *c)
{
	return c ? c->port : -1;
}

int fb_collector_lorawan_downlink(struct fb_collector *c, uint32_t device, uint8_t fport,
                                  const uint8_t *payload, size_t len)
{
	if (fport == 0 || fport > 223 || len > MAX_APP_DOWN)
		return fb_error("a LoRaWAN application downlink takes port 1..223 and at most %d bytes",
		                MAX_APP_DOWN);
	for (uint32_t i = 0; i < c->ndevs; i++) {
		struct dev *d = &c->devs[i];
		if (d->device != device)
			continue;
		d->dl_queued = true;
		d->dl_fport = fport;
		d->dl_len = (uint8_t)len;
		memcpy(d->dl, payload, len);
		return 0;
	}
	return fb_error("no LoRaWAN device %u in this collector", device);
}

const struct fb_lw_collect_counters *fb_collector_lorawan_counters(const struct fb_collector *c)
{
	return &c->c;
}

const struct fb_collector_ops fb_collector_lorawan = {
	.name = "lorawan", .create = lw_create, .start = lw_start, .ready = lw_ready,
	.drain = lw_drain, .summary = lw_summary, .report = lw_report, .free = lw_free,
};
