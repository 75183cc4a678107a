/* The LoRaWAN collector (harness/collect_lorawan.c), the network-server endpoint of the bench:
 *  - in process, the LoRaWAN fleet of a small scenario (OTAA, confirmed uplinks, two gateways
 *    that both hear every device, binary and LPP payloads) runs against it: every device joins
 *    through its join-accept, every uplink the transport declares (env.sent) is observed exactly
 *    once with its FCnt, both gateways counted, the MIC verified, the payload decrypted and
 *    decoded to the sample's values within the codec's tolerance; every confirmed uplink gets
 *    its ACK in RX1; an application downlink queued for a street light dims it (a later sample
 *    shows it); under the duty cycle only the uplinks the devices transmitted are declared, and
 *    all of them arrive;
 *  - crafted frames from a fake gateway against a validate-mode endpoint (keys file, ABP and OTAA
 *    rows): one frame heard by two gateways is one observation with gateways = 2, the same
 *    gateway twice is a duplicate, a wrong MIC, a replayed FCnt, an unknown DevAddr, an
 *    undecodable payload, a reused DevNonce, bad datagrams: each flagged and counted, never a
 *    crash; ADRACKReq gets a downlink;
 *  - an independent peer: ci/oracles/lw-gateway-client.js builds every frame with the npm
 *    lora-packet (ABP uplinks, an OTAA join-request, a confirmed uplink with the session keys it
 *    derives from the collector's join-accept) and checks the collector's join-accept and ACK
 *    with lora-packet (MIC, decryption, RX1 timing); the collector decodes every one of its
 *    uplinks to the values that were encoded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "harness/collect_lorawan.h"
#include "protocols/codec.h"
#include "protocols/codecs/binary.h"
#include "protocols/lorawan/frame.h"
#include "protocols/lorawan/keys.h"
#include "protocols/lorawan/lorawan.h"
#include "protocols/lorawan/region.h"
#include "protocols/lorawan/semtech.h"
#include "protocols/transport.h"
#include "sim/engine.h"

#define MAX_REC 4096

struct rec {
	uint32_t device;
	uint64_t key;
	uint32_t flags, gateways, devnonce_plus1, freq_hz;
	double airtime_s;
	unsigned nvalues;
	uint64_t present;
	double values[FB_MAX_FIELDS], tol[FB_MAX_FIELDS];
	int64_t t;
};

struct world {
	struct ev_loop *loop;
	struct fb_scenario *sc;
	struct fb_engine *e;
	struct fb_transport *t;
	const struct fb_transport_ops *ops;
	struct fb_collector *col;
	struct rec *sent, *got;
	size_t nsent, ngot;
	char path[64];
};

static struct ev_loop *loop;

static fb_time_us wall_of(void *arg, fb_time_us v) { return fb_wall_now_us(); }

static void on_sent(void *arg, const char *proto, const struct fb_sample *s, uint64_t key)
{
	struct world *w = arg;
	assert_string_equal(proto, "lorawan");
	assert_true(w->nsent < MAX_REC);
	struct rec *r = &w->sent[w->nsent++];
	r->device = s->device;
	r->key = key;
	r->nvalues = s->model->nfields;
	r->t = s->t;
	memcpy(r->values, s->values, s->model->nfields * sizeof(double));
}

static void on_obs(void *arg, const struct fb_obs *o)
{
	struct world *w = arg;
	assert_string_equal(o->proto, "lorawan");
	assert_true(w->ngot < MAX_REC);
	struct rec *r = &w->got[w->ngot++];
	r->device = o->device;
	r->key = o->key;
	r->flags = o->flags;
	r->gateways = o->gateways;
	r->devnonce_plus1 = o->devnonce_plus1;
	r->freq_hz = o->freq_hz;
	r->airtime_s = o->airtime_s;
	r->nvalues = o->nvalues;
	r->present = o->present;
	for (unsigned i = 0; i < o->nvalues; i++) {
		r->values[i] = o->values[i];
		r->tol[i] = o->tolerance[i];
	}
	if (o->key == 0 && o->device != FB_OBS_NO_DEVICE)
		assert_true(o->fcnt == 0);
}

static void on_sample(void *arg, const struct fb_sample *s)
{
	struct world *w = arg;
	w->ops->send(w->t, s);
}

static void spin(double seconds)
{
	ev_tstamp end = ev_time() + seconds;
	while (ev_time() < end) {
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		usleep(500);
		ev_now_update(loop);
	}
}

/* Serves the loop until n observations are in (their dedup windows closed), at most 10 s: a
 * loaded machine may be slow, and a fixed sleep would make the test flaky. */
static void wait_obs(const struct world *w, size_t n)
{
	ev_tstamp end = ev_time() + 10;
	while (w->ngot < n && ev_time() < end)
		spin(0.005);
	spin(0.01);
}

static const char *const scenario_yaml =
	"name: collect-lorawan\n"
	"seed: 17\n"
	"start: 2026-06-01T22:00:00+02:00\n"
	"duration: 40m\n"
	"sites:\n"
	"  - {id: port, name: \"Vieux-Port\", lat: 43.2951, lon: 5.3744, radius: 40m}\n"
	"transports:\n"
	"  lorawan:\n"
	"    server: udp://127.0.0.1:9\n"
	"    gateways: {per_site: 2, height: 25m}\n"
	"    activation: otaa\n"
	"    confirmed: true\n"
	"    payload: binary\n"
	"fleets:\n"
	"  - {type: streetlight, count: 3, site: port, interval: 5m, transport: lorawan}\n"
	"  - {type: noise, count: 3, site: port, interval: 5m, transport: lorawan, codec: lpp}\n"
	"  - {type: waste, count: 2, site: port, interval: 10m, transport: lorawan}\n";

/* Loads yaml, starts the collector on a free port and the fleet's transport pointed at it. */
static struct world *fleet_start(const char *yaml)
{
	struct world *w = calloc(1, sizeof(*w));
	w->sent = calloc(MAX_REC, sizeof(struct rec));
	w->got = calloc(MAX_REC, sizeof(struct rec));
	strcpy(w->path, "/tmp/fb-collect-lw-XXXXXX");
	int fd = mkstemp(w->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	w->sc = fb_scenario_load(w->path, NULL);
	assert_non_null(w->sc);
	w->e = fb_engine_new(w->sc, 0, 1, w->sc->start, w->sc->duration);
	assert_non_null(w->e);
	fb_engine_set_sink(w->e, on_sample, w);

	/* the collector first, on a free port; the fleet's gateways target it */
	struct fb_collect_env cenv = {
		.loop = loop, .scenario = w->sc, .first_device = 0, .device_count = (uint32_t)w->sc->ndevices,
		.sink = on_obs, .sink_arg = w, .wall_of = wall_of,
	};
	struct fb_collect_cfg ccfg = { .listen = "127.0.0.1:0" };
	const struct fb_collector_ops *cops = fb_collector_find("lorawan");
	assert_ptr_equal(cops, &fb_collector_lorawan);
	w->col = cops->create(&cenv, &ccfg);
	assert_non_null(w->col);
	assert_int_equal(cops->start(w->col), 0);
	assert_true(cops->ready(w->col));
	int port = fb_collector_lorawan_port(w->col);
	assert_true(port > 0);
	char target[32];
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);

	w->ops = fb_transport_find("lorawan");
	struct fb_transport_env tenv = {
		.loop = loop, .engine = w->e, .scenario = w->sc, .shard_count = 1, .wall_of = wall_of,
		.sent = on_sent, .sent_arg = w, .target = target,
	};
	w->t = w->ops->create(&tenv, fb_ynode_get(w->sc->transports, "lorawan"));
	assert_non_null(w->t);
	assert_int_equal(w->ops->start(w->t), 0);
	ev_tstamp end = ev_time() + 5;
	while (!w->ops->ready(w->t) && ev_time() < end)
		spin(0.001);
	/* ready means every gateway's PULL_DATA was acknowledged by the collector */
	assert_true(fb_collector_lorawan_counters(w->col)->pull_data >= 1);
	return w;
}

/* Runs the engine to its end (never past the transport's hold, sockets served between events),
 * then drains the transport and the collector. */
static void fleet_run(struct world *w)
{
	const struct fb_collector_ops *cops = &fb_collector_lorawan;
	ev_tstamp end = ev_time() + 30;
	while (fb_engine_next_time(w->e) != FB_TIME_NEVER && ev_time() < end) {
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		ev_now_update(loop);
		if (w->ops->busy(w->t)) {
			usleep(200);
			continue;
		}
		fb_time_us hold = w->ops->hold_until(w->t);
		if (fb_engine_next_time(w->e) < hold)
			fb_engine_run(w->e, hold, 1);
		else
			usleep(200);
	}
	assert_true(fb_engine_next_time(w->e) == FB_TIME_NEVER);
	w->ops->hold_until(w->t);
	end = ev_time() + 5;
	while (!w->ops->drain(w->t) && ev_time() < end)
		spin(0.001);
	while (!cops->drain(w->col, 3 * FB_US_PER_S) && ev_time() < end + 5)
		spin(0.001);
}

static void fleet_free(struct world *w)
{
	w->ops->free(w->t);
	fb_collector_lorawan.free(w->col);
	fb_engine_free(w->e);
	fb_scenario_free(w->sc);
	unlink(w->path);
	free(w->sent);
	free(w->got);
	free(w);
}

/* Each declared uplink observed exactly once, clean, with its sample's values; returns how many
 * values were compared. */
static unsigned check_declared(const struct world *w, uint32_t gateways)
{
	unsigned compared = 0;
	for (size_t i = 0; i < w->nsent; i++) {
		const struct rec *s = &w->sent[i];
		const struct rec *g = NULL;
		for (size_t j = 0; j < w->ngot; j++)
			if (w->got[j].device == s->device && w->got[j].key == s->key) {
				assert_null(g);          /* exactly once */
				g = &w->got[j];
			}
		assert_non_null(g);
		assert_int_equal(g->flags, 0);
		assert_int_equal(g->gateways, gateways);
		assert_int_equal(g->nvalues, s->nvalues);
		for (unsigned f = 0; f < s->nvalues; f++) {
			assert_true((g->present >> f) & 1);
			if (isinf(g->tol[f]))
				continue;            /* an LPP reading saturated at its type's rail */
			if (fabs(g->values[f] - s->values[f]) > g->tol[f] + 1e-9) {
				fprintf(stderr, "device %u FCnt %llu field %u: sent %g got %g (tolerance %g)\n",
				        s->device, (unsigned long long)s->key, f, s->values[f], g->values[f], g->tol[f]);
				fail();
			}
			compared++;
		}
	}
	return compared;
}

static void test_fleet_end_to_end(void **state)
{
	struct world *w = fleet_start(scenario_yaml);
	const struct fb_collector_ops *cops = &fb_collector_lorawan;
	assert_int_equal(fb_collector_lorawan_counters(w->col)->pull_data, 2);

	/* a dimming command for street light 1 (binary: field 1 dimmingLevel = 25), sent in the RX1
	 * after its next uplink */
	static const uint8_t dim[] = { 0x01, 0x19 };
	assert_int_equal(fb_collector_lorawan_downlink(w->col, 1, 10, dim, sizeof(dim)), 0);
	assert_int_equal(fb_collector_lorawan_downlink(w->col, 99, 10, dim, sizeof(dim)), -1);

	fleet_run(w);

	const struct fb_lw_collect_counters *k = fb_collector_lorawan_counters(w->col);
	/* every device joined through the collector's join-accept */
	assert_int_equal(k->joins_requested, 8);
	assert_int_equal(k->joins_accepted, 8);
	assert_int_equal(k->joins_bad_mic + k->joins_nonce_reused + k->joins_unknown, 0);
	/* 40 min at 5 min (6 devices) and 10 min (2): 8 + 8 samples ... every one an uplink */
	struct fb_engine_stats st;
	fb_engine_stats(w->e, &st);
	assert_true(st.samples >= 40);
	assert_int_equal(w->nsent, st.samples);
	/* each uplink observed once, heard by both gateways, decoded to its sample's values */
	assert_int_equal(w->ngot, w->nsent);
	assert_int_equal(k->uplinks, w->nsent);
	assert_int_equal(k->gateway_copies, w->nsent + 8);      /* the joins were heard twice too */
	assert_int_equal(k->bad_mic + k->replays + k->undecodable + k->unknown_devices, 0);
	assert_true(check_declared(w, 2) > 200);
	/* the FCnt of each device counts 0, 1, 2, ... (the sample that started the join is FCnt 0) */
	for (uint32_t d = 0; d < 8; d++) {
		uint64_t next = 0;
		for (size_t i = 0; i < w->nsent; i++)
			if (w->sent[i].device == d)
				assert_int_equal(w->sent[i].key, next++);
		assert_true(next >= 4);
	}
	/* every confirmed uplink was acknowledged in its window; one dimming downlink */
	assert_int_equal(k->acks_sent, w->nsent);
	assert_int_equal(k->app_downlinks, 1);
	assert_int_equal(k->downlinks, 8 + w->nsent);
	assert_int_equal(k->tx_ack_errors + k->downlinks_no_path, 0);
	json_t *tr = w->ops->report(w->t);
	json_t *up = json_object_get(tr, "uplinks"), *dl = json_object_get(tr, "downlinks");
	assert_int_equal(json_integer_value(json_object_get(up, "acked")), (json_int_t)w->nsent);
	assert_int_equal(json_integer_value(json_object_get(dl, "late")), 0);
	assert_int_equal(json_integer_value(json_object_get(dl, "app")), 1);
	json_decref(tr);
	/* the street light applied it: a later sample shows dimmingLevel 25 */
	bool dimmed = false;
	for (size_t i = 0; i < w->nsent; i++)
		dimmed |= w->sent[i].device == 1 && w->sent[i].values[1] == 25;
	assert_true(dimmed);
	/* the report names the joins as the bench's report wants them */
	json_t *rep = cops->report(w->col);
	json_t *joins = json_object_get(rep, "joins");
	assert_int_equal(json_integer_value(json_object_get(joins, "requested")), 8);
	assert_int_equal(json_integer_value(json_object_get(joins, "accepted")), 8);
	json_decref(rep);
	char *text = NULL;
	size_t tl = 0;
	FILE *mem = open_memstream(&text, &tl);
	cops->summary(w->col, mem);
	fclose(mem);
	assert_non_null(strstr(text, "joins requested 8, accepted 8"));
	free(text);

	fleet_free(w);
}

/* ABP noise meters every 4 s on the 3 default channels (one sub-band, 1 % duty cycle): samples
 * wait for the sub-band, and a third are replaced by the next one. Only what the devices sent
 * is declared, and every declared uplink arrives: nothing expected goes missing. As fast as it
 * goes, each device has several uplinks inside one dedup window: each still counts both
 * gateways, and no copy is taken for a new uplink. */
static void test_duty_cycle_declares_only_sent(void **state)
{
	static const char *const yaml =
		"name: collect-lorawan-duty\n"
		"seed: 3\n"
		"start: 2026-06-01T10:00:00Z\n"
		"duration: 3m\n"
		"sites:\n"
		"  - {id: port, name: \"Vieux-Port\", lat: 43.2951, lon: 5.3744, radius: 40m}\n"
		"transports:\n"
		"  lorawan:\n"
		"    gateways: {per_site: 2, height: 25m}\n"
		"    activation: abp\n"
		"    adr: false\n"
		"fleets:\n"
		"  - {type: noise, count: 4, site: port, interval: 4s, transport: lorawan}\n";
	struct world *w = fleet_start(yaml);
	fleet_run(w);
	struct fb_engine_stats st;
	fb_engine_stats(w->e, &st);
	json_t *tr = w->ops->report(w->t);
	json_t *up = json_object_get(tr, "uplinks");
	json_int_t sent = json_integer_value(json_object_get(up, "sent"));
	json_int_t deferred = json_integer_value(json_object_get(up, "duty_cycle_deferrals"));
	json_decref(tr);
	assert_true(deferred > 0);
	/* a frame of about 60 ms closes the sub-band for 6 s: a third of the samples are replaced
	 * while they wait (180 samples, 116 sent with this seed) */
	assert_true((uint64_t)sent + 30 < st.samples);
	assert_int_equal(w->nsent, (size_t)sent);            /* declared = transmitted */
	assert_int_equal(w->ngot, w->nsent);
	/* both gateways counted on every uplink, though the fleet outruns the 200 ms windows */
	assert_true(check_declared(w, 2) > 100);
	assert_int_equal(fb_collector_lorawan_counters(w->col)->late_copies, 0);
	fleet_free(w);
}

/* ---- crafted frames against a validate-mode endpoint ----------------------------------------- */

struct gw {
	int fd;
	struct sockaddr_in to;
	uint64_t eui;
	uint16_t token;
	uint32_t freq_hz;          /* the rxpk's frequency; 0: 868.1 MHz */
};

static void gw_open(struct gw *g, int port, uint64_t eui)
{
	g->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(g->fd >= 0);
	g->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	g->eui = eui;
	g->token = 0;
	g->freq_hz = 0;
	struct timeval tv = { 5, 0 };      /* generous: a loaded machine */
	setsockopt(g->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Sends raw bytes and waits for the collector to have handled them. */
static void gw_raw(struct gw *g, const void *buf, size_t n)
{
	assert_int_equal(sendto(g->fd, buf, n, 0, (struct sockaddr *)&g->to, sizeof(g->to)), (ssize_t)n);
	spin(0.01);
}

static void gw_push(struct gw *g, uint32_t tmst, const uint8_t *phy, size_t len)
{
	struct fb_sm_rxpk rx = { .tmst = tmst, .time = 1780000000LL * FB_US_PER_S,
	                         .freq_hz = g->freq_hz ? g->freq_hz : 868100000,
	                         .stat = 1, .dr = 5, .rssi = -80, .lsnr_tenths = 70, .data = phy,
	                         .size = len };
	uint8_t buf[FB_SM_BUF_SIZE];
	ssize_t n = fb_sm_push_data(2, ++g->token, g->eui, &rx, 1, NULL, buf, sizeof(buf));
	assert_true(n > 0);
	gw_raw(g, buf, (size_t)n);
	uint8_t ack[16];
	assert_int_equal(recv(g->fd, ack, sizeof(ack), 0), 4);     /* PUSH_ACK, same token */
	assert_int_equal(ack[3], FB_SM_PUSH_ACK);
	assert_int_equal(ack[1] << 8 | ack[2], g->token);
}

static const uint8_t nwk[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t app[16] = { 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static const uint8_t appkey[16] = { 0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7,
                                    0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c };

static size_t data_frame(struct fb_lw_crypto *cr, uint32_t addr, uint32_t fcnt, const uint8_t *key,
                         const uint8_t *pl, size_t len, uint8_t *phy)
{
	struct fb_lw_data_frame f = { .mtype = FB_LW_UNCONF_UP, .dev_addr = addr, .fcnt = fcnt, .fport = 1,
	                              .payload = pl, .payload_len = len };
	ssize_t n = fb_lw_data_build(cr, &f, key, app, phy, FB_LW_MAX_PHY);
	assert_true(n > 0);
	return (size_t)n;
}

/* A keys file at `keys` (a mkstemp template) with the two devices of the crafted-traffic tests:
 * device `abp` activated by personalisation (DevEUI and DevAddr ending in abp_low, fixed session
 * keys) and device `otaa` joining with the test AppKey (DevEUI ending in otaa_low). */
static void write_keys(char *keys, uint32_t abp, unsigned abp_low, uint32_t otaa, unsigned otaa_low)
{
	int fd = mkstemp(keys);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key\n");
	fprintf(f, "%u,70b3d57ed0%06x,70b3d57ed0000000,00000000000000000000000000000000,26%06x,"
	           "0102030405060708090a0b0c0d0e0f10,100f0e0d0c0b0a090807060504030201\n",
	        abp, abp_low, abp_low);
	fprintf(f, "%u,70b3d57ed0%06x,70b3d57ed0000000,2b7e151628aed2a6abf7158809cf4f3c,,,\n",
	        otaa, otaa_low);
	fclose(f);
}

/* The collector under test with that keys file, on a free loopback UDP port, decoding model m's
 * binary payloads; its observations go to w. */
static struct fb_collector *keyed_collector(struct world *w, const struct fb_model *m,
                                            const char *keys)
{
	struct fb_collect_env env = { .loop = loop, .model = m, .sink = on_obs, .sink_arg = w };
	struct fb_collect_cfg cfg = { .listen = "127.0.0.1:0", .keys_file = keys, .codec = "binary" };
	struct fb_collector *c = fb_collector_lorawan.create(&env, &cfg);
	assert_non_null(c);
	assert_int_equal(fb_collector_lorawan.start(c), 0);
	return c;
}

static void test_crafted_frames(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	w->got = calloc(MAX_REC, sizeof(struct rec));
	const struct fb_model *m = fb_model_find("noise");
	assert_non_null(m);
	/* keys file: device 4 ABP, device 9 OTAA */
	char keys[] = "/tmp/fb-collect-lw-keys-XXXXXX";
	write_keys(keys, 4, 0x4, 9, 0x9);
	struct fb_collector *c = keyed_collector(w, m, keys);
	int port = fb_collector_lorawan_port(c);
	struct gw g1, g2;
	gw_open(&g1, port, 0x02fbfffe00000001ULL);
	gw_open(&g2, port, 0x02fbfffe00000002ULL);
	/* PULL_DATA -> PULL_ACK */
	uint8_t pull[12];
	assert_int_equal(fb_sm_pull_data(2, 77, g1.eui, pull, sizeof(pull)), 12);
	gw_raw(&g1, pull, 12);
	uint8_t ack[8];
	assert_int_equal(recv(g1.fd, ack, sizeof(ack), 0), 4);
	assert_int_equal(ack[3], FB_SM_PULL_ACK);

	struct fb_lw_crypto cr;
	assert_int_equal(fb_lw_crypto_init(&cr), 0);
	double v[FB_MAX_FIELDS] = { 0 };
	for (unsigned i = 0; i < m->nfields; i++)
		v[i] = fb_field_quantize(&m->fields[i], (m->fields[i].min + m->fields[i].max) / 2);
	struct fb_sample s = { .model = m, .device = 4, .values = v };
	uint8_t pl[64], phy[FB_LW_MAX_PHY];
	ssize_t pn = fb_binary_encode(NULL, &s, pl, sizeof(pl));
	assert_true(pn > 0);

	/* FCnt 7 heard by two gateways: one observation, gateways 2, values as encoded */
	size_t n = data_frame(&cr, 0x26000004, 7, nwk, pl, (size_t)pn, phy);
	gw_push(&g1, 1000, phy, n);
	gw_push(&g2, 2000, phy, n);
	wait_obs(w, 1);
	assert_int_equal(w->ngot, 1);
	assert_int_equal(w->got[0].device, 4);
	assert_int_equal(w->got[0].key, 7);
	assert_int_equal(w->got[0].gateways, 2);
	assert_int_equal(w->got[0].flags, 0);
	for (unsigned i = 0; i < m->nfields; i++)
		assert_true(fabs(w->got[0].values[i] - v[i]) <= w->got[0].tol[i]);
	/* the frequency the gateway reported and the frame's time on air (SF7), for the duty cycle */
	assert_int_equal(w->got[0].freq_hz, 868100000);
	assert_true(fabs(w->got[0].airtime_s - (double)fb_lw_uplink_airtime_us(5, n) / 1e6) < 1e-9);
	/* the same gateway twice: a duplicate in the network, observed again at once */
	n = data_frame(&cr, 0x26000004, 8, nwk, pl, (size_t)pn, phy);
	gw_push(&g1, 3000, phy, n);
	gw_push(&g1, 3000, phy, n);
	assert_int_equal(w->ngot, 2);
	assert_int_equal(w->got[1].key, 8);
	wait_obs(w, 3);
	assert_int_equal(w->ngot, 3);
	assert_int_equal(w->got[2].key, 8);
	assert_int_equal(fb_collector_lorawan_counters(c)->same_gateway_repeats, 1);
	/* a wrong MIC (another NwkSKey) */
	n = data_frame(&cr, 0x26000004, 9, app, pl, (size_t)pn, phy);
	gw_push(&g1, 4000, phy, n);
	wait_obs(w, 4);
	assert_int_equal(w->ngot, 4);
	assert_int_equal(w->got[3].flags, FB_OBS_BAD_MIC);
	assert_int_equal(w->got[3].nvalues, 0);
	/* FCnt 9 for real, then an older FCnt never received (3): a replay */
	n = data_frame(&cr, 0x26000004, 9, nwk, pl, (size_t)pn, phy);
	gw_push(&g1, 5000, phy, n);
	n = data_frame(&cr, 0x26000004, 3, nwk, pl, (size_t)pn, phy);
	gw_push(&g1, 6000, phy, n);
	wait_obs(w, 6);
	assert_int_equal(w->ngot, 6);
	assert_int_equal(w->got[4].flags, 0);
	assert_int_equal(w->got[5].flags, FB_OBS_REPLAY);
	assert_int_equal(w->got[5].key, 3);
	/* FCnt 8 again after its window: from a gateway that did not report it, a late copy
	 * (dropped, as network servers drop it); from the one that did, the frame sent again
	 * (observed again: reconciliation counts a duplicate) */
	n = data_frame(&cr, 0x26000004, 8, nwk, pl, (size_t)pn, phy);
	gw_push(&g2, 6500, phy, n);
	gw_push(&g1, 6600, phy, n);
	wait_obs(w, 7);
	assert_int_equal(w->ngot, 7);
	assert_int_equal(w->got[6].key, 8);
	assert_int_equal(w->got[6].flags, 0);
	assert_int_equal(fb_collector_lorawan_counters(c)->late_copies, 1);
	/* an unknown DevAddr, an undecodable payload (wrong size for the binary codec) */
	n = data_frame(&cr, 0x26000099, 1, nwk, pl, (size_t)pn, phy);
	gw_push(&g1, 7000, phy, n);
	n = data_frame(&cr, 0x26000004, 10, nwk, pl, (size_t)pn - 1, phy);
	gw_push(&g1, 8000, phy, n);
	wait_obs(w, 9);
	assert_int_equal(w->ngot, 9);
	assert_int_equal(w->got[7].flags, FB_OBS_UNKNOWN_DEVICE);
	assert_int_equal(w->got[7].device, FB_OBS_NO_DEVICE);
	assert_int_equal(w->got[8].flags, FB_OBS_UNDECODABLE);

	/* OTAA device 9: a join-request is answered through the PULL_DATA path with a join-accept
	 * for RX1 (tmst + 5 s) that decrypts with the AppKey; reusing its DevNonce is refused */
	struct fb_lw_join_request jr = { 0x70b3d57ed0000000ULL, 0x70b3d57ed0000009ULL, 3 };
	ssize_t jn = fb_lw_join_request_build(&cr, &jr, appkey, phy, sizeof(phy));
	assert_int_equal(jn, 23);
	gw_push(&g1, 100000, phy, (size_t)jn);
	uint8_t resp[1024];
	ssize_t rn = recv(g1.fd, resp, sizeof(resp) - 1, 0);
	assert_true(rn > 4);
	resp[rn] = 0;
	struct fb_sm_txpk tx;
	const char *what = NULL;
	assert_int_equal(fb_sm_parse_pull_resp(resp, (size_t)rn, &tx, &what), 0);
	assert_true(tx.has_tmst && tx.tmst == 100000 + 5000000);
	assert_int_equal(tx.freq_hz, 868100000);
	assert_int_equal(tx.dr, 5);
	struct fb_lw_join_accept ja;
	assert_int_equal(fb_lw_join_accept_open(&cr, tx.data, tx.size, appkey, &ja), 0);
	assert_true(ja.has_cflist && ja.cflist_hz[0] == 867100000);
	assert_int_equal(ja.dev_addr & 0x1ffffff, 9);
	assert_int_equal(w->ngot, 10);
	assert_int_equal(w->got[9].devnonce_plus1, 4);
	assert_int_equal(w->got[9].flags, 0);
	/* a join request is on air too: its frequency and airtime come with it */
	assert_int_equal(w->got[9].freq_hz, 868100000);
	assert_true(fabs(w->got[9].airtime_s - (double)fb_lw_uplink_airtime_us(5, 23) / 1e6) < 1e-9);
	/* the session works: an uplink with keys derived from the accept is verified and decoded */
	uint8_t snwk[16], sapp[16];
	assert_int_equal(fb_lw_session_keys(&cr, appkey, ja.join_nonce, ja.net_id, 3, snwk, sapp), 0);
	struct fb_lw_data_frame df = { .mtype = FB_LW_CONF_UP, .dev_addr = ja.dev_addr, .fcnt = 0,
	                               .fport = 1, .payload = pl, .payload_len = (size_t)pn };
	ssize_t dn = fb_lw_data_build(&cr, &df, snwk, sapp, phy, sizeof(phy));
	gw_push(&g1, 200000, phy, (size_t)dn);
	/* confirmed: the ACK comes in RX1, tmst + 1 s */
	rn = recv(g1.fd, resp, sizeof(resp) - 1, 0);
	assert_true(rn > 4);
	assert_int_equal(fb_sm_parse_pull_resp(resp, (size_t)rn, &tx, &what), 0);
	assert_int_equal(tx.tmst, 200000 + 1000000);
	struct fb_lw_data_frame down;
	assert_int_equal(fb_lw_data_parse(tx.data, tx.size, &down), 0);
	assert_true(down.ack && down.dev_addr == ja.dev_addr);
	uint8_t plain[64];
	assert_int_equal(fb_lw_data_open(&cr, tx.data, tx.size, &down, 0, snwk, sapp, plain), 0);
	wait_obs(w, 11);
	assert_int_equal(w->ngot, 11);
	assert_int_equal(w->got[10].device, 9);
	assert_int_equal(w->got[10].flags, 0);
	assert_int_equal(w->got[10].key, 0);
	gw_push(&g1, 300000, phy, (size_t)dn);               /* the data frame again: a late copy */
	rn = recv(g1.fd, resp, sizeof(resp) - 1, 0);         /* ... acknowledged again */
	assert_true(rn > 4);
	wait_obs(w, 12);
	assert_int_equal(w->ngot, 12);
	assert_int_equal(w->got[11].key, 0);
	assert_int_equal(fb_collector_lorawan_counters(c)->late_copies, 2);
	jn = fb_lw_join_request_build(&cr, &jr, appkey, phy, sizeof(phy));
	gw_push(&g1, 400000, phy, (size_t)jn);               /* DevNonce 3 again */
	const struct fb_lw_collect_counters *k = fb_collector_lorawan_counters(c);
	assert_int_equal(k->joins_nonce_reused, 1);
	assert_int_equal(k->joins_accepted, 1);
	assert_int_equal(w->got[w->ngot - 1].flags, FB_OBS_REPLAY);
	assert_int_equal(w->got[w->ngot - 1].devnonce_plus1, 4);
	/* a join-request with a wrong MIC */
	jr.dev_nonce = 4;
	jn = fb_lw_join_request_build(&cr, &jr, nwk, phy, sizeof(phy));
	gw_push(&g1, 500000, phy, (size_t)jn);
	assert_int_equal(k->joins_bad_mic, 1);
	assert_int_equal(w->got[w->ngot - 1].flags, FB_OBS_BAD_MIC);

	/* ADRACKReq: answered with an empty downlink in RX1, so the device keeps its data rate */
	struct fb_lw_data_frame af = { .mtype = FB_LW_UNCONF_UP, .dev_addr = 0x26000004, .adr = true,
	                               .adr_ack_req = true, .fcnt = 11, .fport = 1, .payload = pl,
	                               .payload_len = (size_t)pn };
	ssize_t an = fb_lw_data_build(&cr, &af, nwk, app, phy, sizeof(phy));
	assert_true(an > 0);
	gw_push(&g1, 900000, phy, (size_t)an);
	rn = recv(g1.fd, resp, sizeof(resp) - 1, 0);
	assert_true(rn > 4);
	assert_int_equal(fb_sm_parse_pull_resp(resp, (size_t)rn, &tx, &what), 0);
	assert_int_equal(tx.tmst, 900000 + 1000000);
	assert_int_equal(fb_lw_data_parse(tx.data, tx.size, &down), 0);
	assert_true(down.dev_addr == 0x26000004 && !down.ack && down.fport < 0);
	assert_int_equal(fb_lw_data_open(&cr, tx.data, tx.size, &down, 0, nwk, app, plain), 0);
	assert_int_equal(k->adr_ack_answers, 1);

	/* an uplink on a CFList channel: the observation carries that frequency */
	g1.freq_hz = 867300000;
	n = data_frame(&cr, 0x26000004, 12, nwk, pl, (size_t)pn, phy);
	gw_push(&g1, 950000, phy, n);
	g1.freq_hz = 0;
	const struct rec *cf = NULL;
	for (ev_tstamp until = ev_time() + 10; !cf && ev_time() < until; spin(0.005))
		for (size_t j = 0; j < w->ngot; j++)
			if (w->got[j].device == 4 && w->got[j].key == 12)
				cf = &w->got[j];
	assert_non_null(cf);
	assert_int_equal(cf->freq_hz, 867300000);
	assert_int_equal(cf->flags, 0);

	/* bad datagrams: counted, and the endpoint still answers */
	uint64_t bad = k->bad_datagrams;
	gw_raw(&g1, "\x02", 1);
	gw_raw(&g1, "\x07\x00\x00\x00", 4);
	static const char junk[] = "\x02\x00\x09\x00\x02\xfb\xff\xfe\x00\x00\x00\x01{\"rxpk\":[{\"tmst\":";
	gw_raw(&g1, junk, sizeof(junk) - 1);
	recv(g1.fd, ack, sizeof(ack), 0);                     /* its PUSH_ACK */
	static const char nodata[] = "\x02\x00\x0a\x00\x02\xfb\xff\xfe\x00\x00\x00\x01{\"rxpk\":[{\"tmst\":5,"
	                             "\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"data\":\"!!!!\"}]}";
	gw_raw(&g1, nodata, sizeof(nodata) - 1);
	recv(g1.fd, ack, sizeof(ack), 0);
	assert_int_equal(k->bad_datagrams, bad + 3);
	assert_true(k->rxpk_bad >= 1);
	gw_raw(&g1, pull, 12);
	assert_int_equal(recv(g1.fd, ack, sizeof(ack), 0), 4);

	assert_true(fb_collector_lorawan.drain(c, FB_US_PER_S) || true);
	close(g1.fd);
	close(g2.fd);
	fb_lw_crypto_release(&cr);
	fb_collector_lorawan.free(c);
	unlink(keys);
	free(w->got);
	free(w);
}

/* A sender making up gateway EUIs cannot grow the endpoint's memory: past
 * FB_LW_COLLECT_MAX_GATEWAYS distinct EUIs, new ones are acknowledged (a gateway must not back
 * off) but not remembered, and counted; gateways already known keep their downlink path. */
static void test_gateway_table_is_bounded(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	w->got = calloc(MAX_REC, sizeof(struct rec));
	const struct fb_model *m = fb_model_find("noise");
	char keys[] = "/tmp/fb-collect-lw-keys-XXXXXX";
	write_keys(keys, 4, 0x4, 9, 0x9);
	struct fb_collector *c = keyed_collector(w, m, keys);
	struct gw g;
	gw_open(&g, fb_collector_lorawan_port(c), 0);
	const unsigned extra = 10, total = FB_LW_COLLECT_MAX_GATEWAYS + extra;
	unsigned acked = 0;
	uint8_t pull[12], ack[8];
	for (unsigned i = 0; i < total; i += 256) {
		unsigned n = total - i < 256 ? total - i : 256;
		for (unsigned k = 0; k < n; k++) {
			assert_int_equal(fb_sm_pull_data(2, (uint16_t)(i + k), 0x0100000000000000ULL + i + k, pull,
			                                 sizeof(pull)), 12);
			assert_int_equal(sendto(g.fd, pull, 12, 0, (struct sockaddr *)&g.to, sizeof(g.to)), 12);
		}
		for (unsigned k = 0; k < n; k++) {
			while (recv(g.fd, ack, sizeof(ack), MSG_DONTWAIT) < 0)
				spin(0.001);
			acked += ack[3] == FB_SM_PULL_ACK;
		}
	}
	assert_int_equal(acked, total);
	const struct fb_lw_collect_counters *k = fb_collector_lorawan_counters(c);
	assert_int_equal(k->pull_data, total);
	assert_int_equal(k->gateways_refused, extra);
	/* a known gateway is still found, a refused one still refused */
	fb_sm_pull_data(2, 1, 0x0100000000000000ULL + 5, pull, sizeof(pull));
	gw_raw(&g, pull, 12);
	assert_int_equal(recv(g.fd, ack, sizeof(ack), 0), 4);
	assert_int_equal(k->gateways_refused, extra);
	fb_sm_pull_data(2, 2, 0x0100000000000000ULL + total - 1, pull, sizeof(pull));
	gw_raw(&g, pull, 12);
	assert_int_equal(recv(g.fd, ack, sizeof(ack), 0), 4);
	assert_int_equal(k->gateways_refused, extra + 1);
	json_t *r = fb_collector_lorawan.report(c);
	assert_int_equal(json_integer_value(json_object_get(r, "gateways")), FB_LW_COLLECT_MAX_GATEWAYS);
	json_decref(r);
	close(g.fd);
	fb_collector_lorawan.free(c);
	unlink(keys);
	free(w->got);
	free(w);
}

/* ---- lora-packet as the peer ------------------------------------------------------------------ */

static void test_lora_packet_peer(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	w->got = calloc(MAX_REC, sizeof(struct rec));
	const struct fb_model *m = fb_model_find("waste");
	assert_non_null(m);
	char keys[] = "/tmp/fb-collect-lw-lp-XXXXXX";
	write_keys(keys, 1, 0x101, 2, 0x102);
	struct fb_collector *c = keyed_collector(w, m, keys);

	/* three samples of a waste bin, encoded by the binary codec */
	double v[3][FB_MAX_FIELDS];
	char hex[3][2 * 64 + 1];
	for (int k = 0; k < 3; k++) {
		for (unsigned i = 0; i < m->nfields; i++) {
			const struct fb_field *fl = &m->fields[i];
			double x = fl->kind == FB_FIELD_ENUM || fl->kind == FB_FIELD_BOOL ? (k % 2)
			         : fl->min + (fl->max - fl->min) * (0.2 + 0.3 * k);
			v[k][i] = fb_field_quantize(fl, x);
		}
		struct fb_sample s = { .model = m, .device = 1, .values = v[k] };
		uint8_t pl[64];
		ssize_t n = fb_binary_encode(NULL, &s, pl, sizeof(pl));
		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			sprintf(hex[k] + 2 * i, "%02x", pl[i]);
	}
	char spec[1024];
	snprintf(spec, sizeof(spec),
	         "{\"port\":%d,\"gw\":\"02fbfffe000000aa\","
	         "\"abp\":{\"devAddr\":\"26000101\",\"nwkSKey\":\"0102030405060708090a0b0c0d0e0f10\","
	         "\"appSKey\":\"100f0e0d0c0b0a090807060504030201\",\"fcnt0\":10},"
	         "\"otaa\":{\"devEui\":\"70b3d57ed0000102\",\"joinEui\":\"70b3d57ed0000000\","
	         "\"appKey\":\"2b7e151628aed2a6abf7158809cf4f3c\",\"devNonce\":7},"
	         "\"payloads\":[\"%s\",\"%s\",\"%s\"]}", fb_collector_lorawan_port(c), hex[0], hex[1], hex[2]);
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execlp("node", "node", "ci/oracles/lw-gateway-client.js", spec, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	char line[4096] = "";
	size_t ll = 0;
	int status = 0;
	ev_tstamp end = ev_time() + 20;
	for (;;) {
		spin(0.005);
		ssize_t n = read(out[0], line + ll, sizeof(line) - 1 - ll);
		if (n > 0)
			ll += (size_t)n;
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (ev_time() > end) {
			kill(pid, SIGTERM);
			waitpid(pid, &status, 0);
			fail_msg("lw-gateway-client.js did not finish: %s", line);
		}
	}
	ssize_t n;
	while ((n = read(out[0], line + ll, sizeof(line) - 1 - ll)) > 0)
		ll += (size_t)n;
	line[ll] = 0;
	close(out[0]);
	wait_obs(w, 5);                              /* the last windows close */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("lora-packet peer: %s", line);
	json_error_t je;
	json_t *r = json_loads(line, 0, &je);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "abp_sent")), 3);
	json_t *ja = json_object_get(r, "join_accept");
	assert_true(json_is_true(json_object_get(ja, "mic_ok")));
	assert_string_equal(json_string_value(json_object_get(ja, "dev_addr")), "00000002");
	assert_true(json_is_true(json_object_get(json_object_get(r, "ack"), "ack")));
	json_decref(r);

	/* what the collector made of lora-packet's frames */
	const struct fb_lw_collect_counters *k = fb_collector_lorawan_counters(c);
	assert_int_equal(k->bad_mic + k->undecodable + k->unknown_devices + k->rxpk_bad, 0);
	assert_int_equal(k->joins_accepted, 1);
	assert_int_equal(k->acks_sent, 1);
	unsigned abp = 0, otaa = 0, join = 0;
	for (size_t i = 0; i < w->ngot; i++) {
		const struct rec *g = &w->got[i];
		assert_int_equal(g->flags, 0);
		if (g->devnonce_plus1) {
			assert_int_equal(g->device, 2);
			assert_int_equal(g->devnonce_plus1, 8);
			join++;
			continue;
		}
		int which = g->device == 1 ? (int)g->key - 10 : 0;
		assert_true(which >= 0 && which < 3);
		assert_int_equal(g->nvalues, m->nfields);
		for (unsigned fi = 0; fi < m->nfields; fi++)
			assert_true(fabs(g->values[fi] - v[which][fi]) <= g->tol[fi] + 1e-9);
		if (g->device == 1)
			abp++;
		else
			otaa++;
	}
	assert_int_equal(abp, 3);
	assert_int_equal(otaa, 1);
	assert_int_equal(join, 1);
	fb_collector_lorawan.free(c);
	unlink(keys);
	free(w->got);
	free(w);
}

int main(void)
{
	/* not the default loop: it would reap the node child itself (SIGCHLD) */
	loop = ev_loop_new(EVFLAG_AUTO);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet_end_to_end),
		cmocka_unit_test(test_duty_cycle_declares_only_sent),
		cmocka_unit_test(test_crafted_frames),
		cmocka_unit_test(test_gateway_table_is_bounded),
		cmocka_unit_test(test_lora_packet_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
