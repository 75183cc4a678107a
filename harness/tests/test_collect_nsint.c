/* The network-server integration collector (harness/collect_nsint.c):
 *  - the messages of the servers' documentation (fixtures/nsint/) parse to their DevEUI, FCnt,
 *    FPort, payload and gateway count; join events are not uplinks; zero values the servers omit
 *    (FCnt 0) read as 0; bad JSON, missing or mistyped fields and bad base64 are told apart;
 *  - --collect-lorawan URLs: the four schemes, default ports, user:password@ (a TTS user holds an
 *    '@'), and what is refused;
 *  - a collector over a small ABP scenario (keys derived from the seed, as the transport does):
 *    an uplink of a device is one observation with the device, key = FCnt and the values of the
 *    sample it carries; an unknown DevEUI, an undecodable payload, bad JSON and bad base64 are
 *    flagged observations; an uplink without FPort and another shard's device are counted and
 *    not observed. */
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
#include "harness/collect_nsint.h"
#include "protocols/codec.h"
#include "protocols/lorawan/keys.h"
#include "protocols/lorawan/semtech.h"
#include "sim/engine.h"

static char fixture[8192];

static size_t load(const char *name)
{
	char path[128];
	snprintf(path, sizeof path, "fixtures/nsint/%s", name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(fixture, 1, sizeof fixture - 1, f);
	fclose(f);
	fixture[n] = '\0';
	return n;
}

static enum fb_nsint_parse_result parse(enum fb_nsint_format fmt, const char *topic, const char *json,
                                        struct fb_nsint_up *up)
{
	return fb_nsint_parse(fmt, topic, strlen(topic), (const uint8_t *)json, strlen(json), up);
}

#define CS_TOPIC "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up"
#define TTS_TOPIC "v3/river-levels@ttn/devices/level-probe-12/up"

static void chirpstack_doc_uplink(void **state)
{
	(void)state;
	struct fb_nsint_up up;
	load("chirpstack-up.json");
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, fixture, &up), FB_NSINT_UP);
	assert_true(up.dev_eui == 0x0101010101010101ull);
	assert_string_equal(up.dev_eui_hex, "0101010101010101");
	assert_int_equal(up.fcnt, 10);
	assert_int_equal(up.fport, 1);
	assert_int_equal(up.data_len, 4);
	assert_memory_equal(up.data, "\x01\x02\x03\x04", 4);
	assert_int_equal(up.gateways, 2);
	/* the join event of the same device, on its own topic: not an uplink */
	load("chirpstack-join.json");
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, "application/x/device/0101010101010101/event/join",
	                       fixture, &up), FB_NSINT_OTHER);
	/* a status event on a topic of the user's own: told by its content */
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, "city/events",
	                       "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"},\"margin\":7,"
	                       "\"batteryLevel\":92.5}", &up), FB_NSINT_OTHER);
	/* ... and an uplink there too */
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, "city/events",
	                       "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"},\"fPort\":3,"
	                       "\"data\":\"AA==\",\"rxInfo\":[{}]}", &up), FB_NSINT_UP);
	assert_int_equal(up.fport, 3);
	assert_int_equal(up.fcnt, 0);
}

static void tts_doc_uplink(void **state)
{
	(void)state;
	struct fb_nsint_up up;
	load("tts-up.json");
	assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC, fixture, &up), FB_NSINT_UP);
	assert_true(up.dev_eui == 0x70b3d57ed005b89aull);
	assert_string_equal(up.dev_eui_hex, "70b3d57ed005b89a");
	assert_int_equal(up.fcnt, 1834);
	assert_int_equal(up.fport, 2);
	assert_int_equal(up.data_len, 6);
	assert_memory_equal(up.data, "\x01\x2b\x01\x28\x00\x00", 6);
	assert_int_equal(up.gateways, 1);
	load("tts-join.json");
	assert_int_equal(parse(FB_NSINT_TTS, "v3/river-levels@ttn/devices/level-probe-12/join", fixture, &up),
	                 FB_NSINT_OTHER);
	/* a message with no uplink_message on an /up topic is not an uplink either */
	assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC, fixture, &up), FB_NSINT_OTHER);
	/* the ChirpStack reader does not take a TTS uplink for one of its own */
	load("tts-up.json");
	assert_int_not_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, fixture, &up), FB_NSINT_UP);
}

static void zero_values_are_omitted(void **state)
{
	(void)state;
	struct fb_nsint_up up;
	/* FCnt 0: neither server writes it */
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC,
	                       "{\"deviceInfo\":{\"devEui\":\"02fbf4e000000003\"},\"fPort\":1,\"data\":\"AQI=\","
	                       "\"rxInfo\":[{\"gatewayId\":\"02fbfffe00000000\"}]}", &up), FB_NSINT_UP);
	assert_int_equal(up.fcnt, 0);
	assert_int_equal(up.data_len, 2);
	assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC,
	                       "{\"end_device_ids\":{\"dev_eui\":\"02FBF4E000000003\"},\"uplink_message\":"
	                       "{\"f_port\":1,\"frm_payload\":\"AQI=\",\"rx_metadata\":[{},{},{}]}}", &up),
	                 FB_NSINT_UP);
	assert_int_equal(up.fcnt, 0);
	assert_int_equal(up.gateways, 3);
	/* the largest FCnt */
	assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC,
	                       "{\"end_device_ids\":{\"dev_eui\":\"02FBF4E000000003\"},\"uplink_message\":"
	                       "{\"f_cnt\":4294967295,\"f_port\":1,\"frm_payload\":\"AQI=\"}}", &up), FB_NSINT_UP);
	assert_true(up.fcnt == UINT32_MAX);
	/* no FPort: MAC commands only (the caller ignores it) */
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC,
	                       "{\"deviceInfo\":{\"devEui\":\"02fbf4e000000003\"},\"fCnt\":4,\"rxInfo\":[{}]}", &up),
	                 FB_NSINT_UP);
	assert_int_equal(up.fport, 0);
}

static void bad_json(void **state)
{
	(void)state;
	struct fb_nsint_up up;
	const char *bad[] = {
		"", "{", "[1,2]", "\"up\"", "{\"fCnt\":1,}", "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"}",
		"{\"fCnt\":1} trailing", "{\"data\":\"AQI=}", "{\"fCnt\":tru}", "{'fCnt':1}",
		"{\"rxInfo\":[{},]}", "\x01\x02\xff",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, bad[i], &up), FB_NSINT_EJSON);
		assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC, bad[i], &up), FB_NSINT_EJSON);
		assert_non_null(up.detail);
	}
	/* nesting deeper than the reader follows */
	char deep[256] = "{\"object\":";
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	for (int i = 0; i < 40; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, deep, &up), FB_NSINT_EJSON);
}

static void missing_and_mistyped_fields(void **state)
{
	(void)state;
	struct fb_nsint_up up;
	/* no DevEUI at all */
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, "{\"fCnt\":3,\"fPort\":1,\"data\":\"AQI=\"}", &up),
	                 FB_NSINT_EFIELD);
	assert_string_equal(up.dev_eui_hex, "");
	assert_string_equal(up.detail, "no deviceInfo.devEui");
	assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC, "{\"uplink_message\":{\"f_port\":1}}", &up), FB_NSINT_EFIELD);
	assert_string_equal(up.detail, "no end_device_ids.dev_eui");
	/* a DevEUI that is not 16 hex digits, or not a string */
	const char *euis[] = { "\"01010101010101\"", "\"010101010101010g\"", "\"01010101010101010\"", "42",
	                       "\"0101010101010\\u0031\"" };
	for (size_t i = 0; i < sizeof euis / sizeof euis[0]; i++) {
		char m[256];
		snprintf(m, sizeof m, "{\"deviceInfo\":{\"devEui\":%s},\"fCnt\":3,\"fPort\":1,\"data\":\"AQI=\"}", euis[i]);
		assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, m, &up), FB_NSINT_EFIELD);
		assert_string_equal(up.dev_eui_hex, "");
	}
	/* the device is known, a field is wrong: the error still names it */
	const char *fields[] = { "\"fCnt\":\"3\"", "\"fCnt\":-1", "\"fCnt\":4294967296", "\"fCnt\":3.5",
	                         "\"fPort\":256", "\"fPort\":null", "\"data\":12", "\"rxInfo\":{}",
	                         "\"deviceInfo\":[]" };
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		char m[256];
		snprintf(m, sizeof m, "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"},\"fPort\":1,%s}", fields[i]);
		enum fb_nsint_parse_result rc = parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, m, &up);
		assert_int_equal(rc, FB_NSINT_EFIELD);
		if (i < sizeof fields / sizeof fields[0] - 1)
			assert_string_equal(up.dev_eui_hex, "0101010101010101");
	}
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"},"
	                       "\"fCnt\":\"3\"}", &up), FB_NSINT_EFIELD);
	assert_false(up.fcnt_valid);
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"},"
	                       "\"fCnt\":3,\"fPort\":300}", &up), FB_NSINT_EFIELD);
	assert_true(up.fcnt_valid);
	assert_int_equal(up.fcnt, 3);
	assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC,
	                       "{\"end_device_ids\":{\"dev_eui\":\"0101010101010101\"},\"uplink_message\":7}", &up),
	                 FB_NSINT_EFIELD);
	assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC,
	                       "{\"end_device_ids\":{\"dev_eui\":\"0101010101010101\"},\"uplink_message\":"
	                       "{\"f_cnt\":true,\"frm_payload\":\"AQI=\"}}", &up), FB_NSINT_EFIELD);
}

static void base64_errors(void **state)
{
	(void)state;
	struct fb_nsint_up up;
	const char *bad[] = { "AQI", "%%%=", "AQ==AQ==", "A===", "AQI=\\n", "AQ I=" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char m[256];
		snprintf(m, sizeof m, "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"},\"fCnt\":3,\"fPort\":1,"
		         "\"data\":\"%s\"}", bad[i]);
		assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, m, &up), FB_NSINT_EBASE64);
		assert_string_equal(up.dev_eui_hex, "0101010101010101");
		assert_int_equal(up.fcnt, 3);
		snprintf(m, sizeof m, "{\"end_device_ids\":{\"dev_eui\":\"0101010101010101\"},\"uplink_message\":"
		         "{\"f_port\":1,\"frm_payload\":\"%s\"}}", bad[i]);
		assert_int_equal(parse(FB_NSINT_TTS, TTS_TOPIC, m, &up), FB_NSINT_EBASE64);
	}
	/* longer than any LoRaWAN payload (FB_NSINT_MAX_DATA): refused, not overflowed */
	char m[1024];
	int n = snprintf(m, sizeof m, "{\"deviceInfo\":{\"devEui\":\"0101010101010101\"},\"fPort\":1,\"data\":\"");
	for (int i = 0; i < 344; i++)          /* 344 chars: 258 bytes */
		m[n++] = 'A';
	strcpy(m + n, "\"}");
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, m, &up), FB_NSINT_EBASE64);
	m[n - 4] = '"';                        /* 340 chars: 255 bytes, fits */
	strcpy(m + n - 3, "}");
	assert_int_equal(parse(FB_NSINT_CHIRPSTACK, CS_TOPIC, m, &up), FB_NSINT_UP);
	assert_int_equal(up.data_len, 255);
}

static void urls(void **state)
{
	(void)state;
	struct fb_nsint_url u;
	assert_int_equal(fb_nsint_url_parse("chirpstack://ns.example:1884", &u), 0);
	assert_int_equal(u.format, FB_NSINT_CHIRPSTACK);
	assert_false(u.tls);
	assert_string_equal(u.host, "ns.example");
	assert_int_equal(u.port, 1884);
	assert_false(u.has_username);
	assert_int_equal(fb_nsint_url_parse("chirpstack+mqtts://ns.example", &u), 0);
	assert_true(u.tls);
	assert_int_equal(u.port, 8883);
	assert_int_equal(fb_nsint_url_parse("tts://eu1.cloud.thethings.network/", &u), 0);
	assert_int_equal(u.format, FB_NSINT_TTS);
	assert_int_equal(u.port, 1883);
	/* a TTS user name holds an '@', its API key a ':' no more */
	assert_int_equal(fb_nsint_url_parse("tts+mqtts://river-levels@ttn:NNSXS.ABC.DEF@eu1.cloud.thethings.network:8883", &u), 0);
	assert_true(u.tls);
	assert_string_equal(u.username, "river-levels@ttn");
	assert_string_equal(u.password, "NNSXS.ABC.DEF");
	assert_string_equal(u.host, "eu1.cloud.thethings.network");
	assert_int_equal(fb_nsint_url_parse("chirpstack://reader@[::1]:1883", &u), 0);
	assert_string_equal(u.username, "reader");
	assert_false(u.has_password);
	assert_string_equal(u.host, "::1");
	const char *bad[] = { "chirpstacks://h", "ttss://h", "mqtt://h", "tts+mqtt://h", "chirpstack://",
	                      "chirpstack://h:0", "chirpstack://h:65536", "chirpstack://h:x", "tts://h/v3",
	                      "chirpstack://:pw@h", "h:1883" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(fb_nsint_url_parse(bad[i], &u), -1);
	assert_string_equal(fb_nsint_default_filter(FB_NSINT_CHIRPSTACK), "application/+/device/+/event/up");
	assert_string_equal(fb_nsint_default_filter(FB_NSINT_TTS), "v3/+/devices/+/up");
}

/* ---- the collector ---- */

#define MAX_OBS 16

struct got {
	size_t n;
	struct {
		uint32_t device, flags, gateways;
		uint64_t key;
		char id[32];
		unsigned nvalues;
		uint64_t present;
		double values[FB_MAX_FIELDS], tol[FB_MAX_FIELDS];
	} o[MAX_OBS];
};

static void on_obs(void *arg, const struct fb_obs *o)
{
	struct got *g = arg;
	assert_true(g->n < MAX_OBS);
	assert_string_equal(o->proto, "lorawan");
	if (o->key != UINT64_MAX)
		assert_int_equal(o->key, o->fcnt);
	g->o[g->n].device = o->device;
	g->o[g->n].flags = o->flags;
	g->o[g->n].gateways = o->gateways;
	g->o[g->n].key = o->key;
	snprintf(g->o[g->n].id, sizeof g->o[g->n].id, "%s", o->device_id ? o->device_id : "");
	g->o[g->n].nvalues = o->nvalues;
	g->o[g->n].present = o->present;
	for (unsigned i = 0; i < o->nvalues; i++) {
		g->o[g->n].values[i] = o->values[i];
		g->o[g->n].tol[i] = o->tolerance ? o->tolerance[i] : 0;
	}
	g->n++;
}

static const char scenario_yaml[] =
	"name: nsint-unit\n"
	"seed: 7\n"
	"start: 2026-06-01T08:00:00Z\n"
	"duration: 1h\n"
	"sites:\n"
	"  - {id: port, lat: 43.2951, lon: 5.3744, radius: 60m}\n"
	"transports:\n"
	"  lorawan: {server: 'udp://127.0.0.1:1700', activation: abp, payload: binary}\n"
	"fleets:\n"
	"  - {type: noise, count: 2, site: port, interval: 5m, transport: mqtt}\n"
	"  - {type: waste, count: 4, site: port, interval: 5m, transport: lorawan}\n";

struct fleet {
	char path[64];
	struct fb_scenario *sc;
	struct ev_loop *loop;
	struct fb_collector *c;
	struct got got;
	uint64_t eui[6];
};

static struct fleet *fleet_new(uint32_t first, uint32_t count)
{
	struct fleet *w = calloc(1, sizeof *w);
	assert_non_null(w);
	strcpy(w->path, "/tmp/fb-nsint-XXXXXX");
	int fd = mkstemp(w->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, scenario_yaml, strlen(scenario_yaml)), (ssize_t)strlen(scenario_yaml));
	close(fd);
	w->sc = fb_scenario_load(w->path, NULL);
	assert_non_null(w->sc);
	w->loop = ev_loop_new(EVFLAG_AUTO);
	struct fb_collect_env env = { .loop = w->loop, .scenario = w->sc, .first_device = first,
	                              .device_count = count, .sink = on_obs, .sink_arg = &w->got };
	struct fb_collect_cfg cfg = { .url = "chirpstack://127.0.0.1:1" };
	const struct fb_collector_ops *ops = fb_collector_find("lorawan-ns");
	assert_ptr_equal(ops, &fb_collector_nsint);
	w->c = ops->create(&env, &cfg);
	assert_non_null(w->c);
	for (uint32_t g = 0; g < 6; g++) {
		struct fb_lw_identity id;
		fb_lw_identity_derive(w->sc->seed, g, 0x13, &id);
		w->eui[g] = id.dev_eui;
	}
	return w;
}

static void fleet_free(struct fleet *w)
{
	fb_collector_nsint.free(w->c);
	ev_loop_destroy(w->loop);
	fb_scenario_free(w->sc);
	unlink(w->path);
	free(w);
}

/* Feeds a ChirpStack uplink of DevEUI eui with payload bytes. */
static void feed_up(struct fleet *w, uint64_t eui, uint32_t fcnt, const uint8_t *payload, size_t len)
{
	char b64[400], msg[1024], topic[128];
	ssize_t n = fb_base64_encode(payload, len, b64, sizeof b64);
	assert_true(n >= 0);
	b64[n] = '\0';
	snprintf(msg, sizeof msg, "{\"deviceInfo\":{\"devEui\":\"%016llx\",\"tags\":{}},\"fCnt\":%u,\"fPort\":1,"
	         "\"data\":\"%s\",\"object\":{\"fillingLevel\":99},\"rxInfo\":[{\"rssi\":-40},{\"rssi\":-90}]}",
	         (unsigned long long)eui, fcnt, b64);
	snprintf(topic, sizeof topic, "application/a/device/%016llx/event/up", (unsigned long long)eui);
	fb_collector_nsint_feed(w->c, topic, (const uint8_t *)msg, strlen(msg));
}

static void collector_observes_each_uplink(void **state)
{
	(void)state;
	struct fleet *w = fleet_new(0, 6);
	/* a sample of waste device 3, encoded as the transport encodes it */
	const struct fb_fleet *f = fb_scenario_fleet_of(w->sc, 3);
	assert_string_equal(f->model->name, "waste");
	double values[FB_MAX_FIELDS];
	for (unsigned i = 0; i < f->model->nfields; i++) {
		const struct fb_field *fd = &f->model->fields[i];
		values[i] = fd->min + (fd->max - fd->min) * 0.25;
		values[i] = fd->resolution > 0 ? round(values[i] / fd->resolution) * fd->resolution : values[i];
	}
	struct fb_sample s = { .fleet = f, .model = f->model, .device = 3, .seq = 5, .t = w->sc->start,
	                       .values = values };
	const struct fb_codec *codec = fb_codec_find("binary");
	uint8_t payload[128];
	struct fb_codec_ctx ctx = { .device_id = "waste-000003", .site_id = "port" };
	ssize_t len = codec->encode(&ctx, &s, payload, sizeof payload);
	assert_true(len > 0);

	feed_up(w, w->eui[3], 70000, payload, (size_t)len);
	assert_int_equal(w->got.n, 1);
	assert_int_equal(w->got.o[0].device, 3);
	assert_int_equal(w->got.o[0].flags, 0);
	assert_int_equal(w->got.o[0].key, 70000);
	assert_int_equal(w->got.o[0].gateways, 2);
	assert_int_equal(w->got.o[0].nvalues, f->model->nfields);
	for (unsigned i = 0; i < f->model->nfields; i++) {
		assert_true(w->got.o[0].present >> i & 1);
		assert_true(fabs(w->got.o[0].values[i] - values[i]) <= w->got.o[0].tol[i] + 1e-9);
	}
	char hex[17];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)w->eui[3]);
	assert_string_equal(w->got.o[0].id, hex);

	/* an MQTT device's DevEUI is no LoRaWAN device's: unknown */
	feed_up(w, w->eui[0], 1, payload, (size_t)len);
	assert_int_equal(w->got.n, 2);
	assert_int_equal(w->got.o[1].device, FB_OBS_NO_DEVICE);
	assert_int_equal(w->got.o[1].flags, FB_OBS_UNKNOWN_DEVICE);
	assert_int_equal(w->got.o[1].key, 1);

	/* bytes the codec cannot read */
	feed_up(w, w->eui[4], 2, (const uint8_t *)"\xff", 1);
	assert_int_equal(w->got.n, 3);
	assert_int_equal(w->got.o[2].device, 4);
	assert_int_equal(w->got.o[2].flags, FB_OBS_UNDECODABLE);
	assert_int_equal(w->got.o[2].key, 2);

	/* not JSON; bad base64 of a known device; a DevEUI-less message */
	const char *topic = "application/a/device/x/event/up";
	fb_collector_nsint_feed(w->c, topic, (const uint8_t *)"{\"fCnt\":", 8);
	assert_int_equal(w->got.n, 4);
	assert_int_equal(w->got.o[3].device, FB_OBS_NO_DEVICE);
	assert_true(w->got.o[3].flags & FB_OBS_UNDECODABLE);
	char msg[256];
	snprintf(msg, sizeof msg, "{\"deviceInfo\":{\"devEui\":\"%s\"},\"fCnt\":9,\"fPort\":1,\"data\":\"A\"}", hex);
	fb_collector_nsint_feed(w->c, topic, (const uint8_t *)msg, strlen(msg));
	assert_int_equal(w->got.n, 5);
	assert_int_equal(w->got.o[4].device, 3);
	assert_int_equal(w->got.o[4].key, 9);
	assert_int_equal(w->got.o[4].flags, FB_OBS_UNDECODABLE);
	fb_collector_nsint_feed(w->c, topic, (const uint8_t *)"{\"fCnt\":9,\"fPort\":1}", 20);
	assert_int_equal(w->got.n, 6);
	assert_int_equal(w->got.o[5].flags, FB_OBS_UNDECODABLE | FB_OBS_BAD_FIELD);

	/* an FCnt that is not a count: flagged, with a key that matches no message sent */
	snprintf(msg, sizeof msg, "{\"deviceInfo\":{\"devEui\":\"%s\"},\"fCnt\":\"9\",\"fPort\":1,\"data\":\"AA==\"}", hex);
	fb_collector_nsint_feed(w->c, topic, (const uint8_t *)msg, strlen(msg));
	assert_int_equal(w->got.n, 7);
	assert_int_equal(w->got.o[6].device, 3);
	assert_true(w->got.o[6].key == UINT64_MAX);
	assert_int_equal(w->got.o[6].flags, FB_OBS_UNDECODABLE | FB_OBS_BAD_FIELD);

	/* counted, not observed: no FPort (MAC commands only), a join event */
	snprintf(msg, sizeof msg, "{\"deviceInfo\":{\"devEui\":\"%s\"},\"fCnt\":10,\"rxInfo\":[{}]}", hex);
	fb_collector_nsint_feed(w->c, topic, (const uint8_t *)msg, strlen(msg));
	load("chirpstack-join.json");
	fb_collector_nsint_feed(w->c, "application/a/device/x/event/join", (const uint8_t *)fixture, strlen(fixture));
	assert_int_equal(w->got.n, 7);

	const struct fb_nsint_counters *n = fb_collector_nsint_counters(w->c);
	assert_int_equal(n->messages, 9);
	assert_int_equal(n->uplinks, 1);
	assert_int_equal(n->unknown_devices, 1);
	assert_int_equal(n->undecodable, 1);
	assert_int_equal(n->bad_json, 1);
	assert_int_equal(n->bad_base64, 1);
	assert_int_equal(n->bad_field, 2);
	assert_int_equal(n->no_fport, 1);
	assert_int_equal(n->other_events, 1);
	json_t *rep = fb_collector_nsint.report(w->c);
	assert_int_equal(json_integer_value(json_object_get(rep, "uplinks")), 1);
	assert_string_equal(json_string_value(json_object_get(rep, "format")), "chirpstack");
	json_decref(rep);
	fleet_free(w);
}

static void other_shards_devices_are_foreign(void **state)
{
	(void)state;
	struct fleet *w = fleet_new(0, 4);     /* this shard: devices 0..3; 4 and 5 are another's */
	uint8_t payload[1] = { 0 };
	feed_up(w, w->eui[5], 1, payload, 1);
	assert_int_equal(w->got.n, 0);
	assert_int_equal(fb_collector_nsint_counters(w->c)->foreign, 1);
	feed_up(w, w->eui[2], 1, payload, 1);    /* this shard's: observed (undecodable here) */
	assert_int_equal(w->got.n, 1);
	assert_int_equal(w->got.o[0].device, 2);
	fleet_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chirpstack_doc_uplink),
		cmocka_unit_test(tts_doc_uplink),
		cmocka_unit_test(zero_values_are_omitted),
		cmocka_unit_test(bad_json),
		cmocka_unit_test(missing_and_mistyped_fields),
		cmocka_unit_test(base64_errors),
		cmocka_unit_test(urls),
		cmocka_unit_test(collector_observes_each_uplink),
		cmocka_unit_test(other_shards_devices_are_foreign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
