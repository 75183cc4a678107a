/* The MQTT collector end to end, in one process on one loop: a real mosquitto on a free port,
 * the mqtt transport publishing a small scenario's fleets in every MQTT codec (json, senml, ul,
 * fiware-json, Sparkplug B with aliases), and the collector subscribed on filters it derives
 * from the scenario. The test's sink checks that every message the transport declared (env.sent)
 * arrives once with every field's exact value; then a plain client (mosquitto_pub) publishes one
 * payload twice (a duplicate: observed twice more), a sample declared and never published (a
 * drop: never observed), garbage on a device's topic (undecodable), an unknown device, and
 * Sparkplug births and data (a rebirth is counted, not observed; DDATA by alias is completed from
 * the birth); a message retained before the run is ignored; a second collector for the first five
 * devices subscribes to their fleets only and counts those fleets' other devices as foreign. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <ev.h>
#include <jansson.h>
#include "harness/collect.h"
#include "harness/peer.h"
#include "protocols/codec.h"
#include "protocols/codecs/senml.h"
#include "protocols/codecs/sparkplug.h"
#include "protocols/mqtt/transport.h"
#include "sim/engine.h"
#include "sim/scenario.h"

#define MAX_MSGS 4096

struct expected {
	uint32_t device;
	uint64_t key;
	unsigned nfields;
	double values[FB_MAX_FIELDS];
	unsigned seen;              /* observations of this (device, key) */
};

struct world {
	struct ev_loop *loop;
	struct fb_scenario *sc;
	struct fb_engine *e;
	struct fb_transport *tr;
	struct expected exp[MAX_MSGS];
	size_t nexp;
	size_t observed, unmatched, undecodable, unknown, bad_values, flagged;
};

static char tmpdir[256];
static struct fb_peer broker;
/* The restart and TLS tests' own broker, stopped by teardown even when an assertion ends a
 * test. */
static struct fb_peer b2;
static char b2_dir[256];
static struct fb_mosquitto_opts mopts;
static struct world W;

static fb_time_us wall_of(void *arg, fb_time_us t)
{
	(void)arg;
	(void)t;
	return fb_wall_now_us();
}

static void on_sent(void *arg, const char *proto, const struct fb_sample *s, uint64_t key)
{
	struct world *w = arg;
	assert_string_equal(proto, "mqtt");
	assert_true(w->nexp < MAX_MSGS);
	struct expected *x = &w->exp[w->nexp++];
	x->device = s->device;
	x->key = key;
	x->nfields = s->model->nfields;
	memcpy(x->values, s->values, s->model->nfields * sizeof *s->values);
	x->seen = 0;
}

static struct expected *find(struct world *w, uint32_t device, uint64_t key)
{
	for (size_t i = 0; i < w->nexp; i++)
		if (w->exp[i].device == device && w->exp[i].key == key)
			return &w->exp[i];
	return NULL;
}

static void on_obs(void *arg, const struct fb_obs *o)
{
	struct world *w = arg;
	assert_string_equal(o->proto, "mqtt");
	assert_true(o->recv_wall > 0);
	w->observed++;
	if (o->flags & FB_OBS_UNKNOWN_DEVICE) {
		assert_int_equal(o->device, FB_OBS_NO_DEVICE);
		w->unknown++;
		return;
	}
	if (o->flags & FB_OBS_UNDECODABLE) {
		w->undecodable++;
		return;
	}
	if (o->flags)
		w->flagged++;
	struct expected *x = find(w, o->device, o->key);
	if (!x) {
		w->unmatched++;
		return;
	}
	x->seen++;
	assert_non_null(o->model);
	assert_int_equal(o->nvalues, x->nfields);
	for (unsigned i = 0; i < x->nfields; i++) {
		if (!(o->present >> i & 1) ||
		    fabs(o->values[i] - x->values[i]) > o->tolerance[i] + 1e-9) {
			w->bad_values++;
			print_message("device %u key %llu field %u: sent %.10g got %.10g (present %d)\n",
			              o->device, (unsigned long long)o->key, i, x->values[i], o->values[i],
			              (int)(o->present >> i & 1));
			break;
		}
	}
}

static void on_obs_count_only(void *arg, const struct fb_obs *o)
{
	size_t *n = arg;
	(void)o;
	(*n)++;
}

static void engine_sink(void *arg, const struct fb_sample *s)
{
	struct world *w = arg;
	fb_transport_mqtt.send(w->tr, s);
}

static void tick(struct ev_loop *l, ev_timer *t, int revents)
{
	(void)l;
	(void)t;
	(void)revents;
}

/* Runs the loop (one turn at a time, woken at least every 5 ms) until cond() or timeout_ms of
 * wall time. */
static bool spin(bool (*cond)(void *), void *arg, int timeout_ms)
{
	ev_timer t;
	ev_timer_init(&t, tick, 0.005, 0.005);
	ev_timer_start(W.loop, &t);
	fb_time_us until = fb_wall_now_us() + (fb_time_us)timeout_ms * 1000;
	bool ok = true;
	while (!cond(arg)) {
		if (fb_wall_now_us() > until) {
			ok = false;
			break;
		}
		ev_run(W.loop, EVRUN_ONCE);
	}
	ev_timer_stop(W.loop, &t);
	return ok;
}

struct col { const struct fb_collector_ops *ops; struct fb_collector *c; };

static bool col_ready(void *arg)
{
	struct col *c = arg;
	return c->ops->ready(c->c);
}

static bool tr_ready(void *arg)
{
	(void)arg;
	return fb_transport_mqtt.ready(W.tr);
}

static bool tr_drained(void *arg)
{
	(void)arg;
	return fb_transport_mqtt.drain(W.tr);
}

static bool all_seen(void *arg)
{
	struct world *w = arg;
	for (size_t i = 0; i < w->nexp; i++)
		if (!w->exp[i].seen)
			return false;
	return true;
}

static size_t want_observed;

static bool observed_reaches(void *arg)
{
	struct world *w = arg;
	return w->observed >= want_observed;
}

static int64_t want_rebirths;

static bool rebirths_reach(void *arg)
{
	const struct fb_collector_ops *ops = fb_collector_find("mqtt");
	json_t *rep = ops->report(arg);
	int64_t n = json_integer_value(json_object_get(rep, "sparkplug_rebirths"));
	json_decref(rep);
	return n >= want_rebirths;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(fb_peer_tmpdir("fb-collect", tmpdir, sizeof tmpdir), 0);
	mopts = (struct fb_mosquitto_opts){ .dir = tmpdir };
	assert_int_equal(fb_mosquitto_start(&broker, &mopts), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fb_peer_stop(&broker, 2000);
	fb_peer_rmtree(tmpdir);
	fb_peer_stop(&b2, 2000);
	if (b2_dir[0])
		fb_peer_rmtree(b2_dir);
	return 0;
}

static void pub_flags(const char *topic, const void *payload, size_t len, bool retain);


static void pub(const char *topic, const void *payload, size_t len)
{
	pub_flags(topic, payload, len, false);
}

static void pub_flags(const char *topic, const void *payload, size_t len, bool retain)
{
	char port[8], path[512];
	snprintf(port, sizeof port, "%u", mopts.port);
	snprintf(path, sizeof path, "%s/payload.bin", tmpdir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(payload, 1, len, f);
	fclose(f);
	const char *argv[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", topic,
	                       "-f", path, retain ? "-r" : NULL, NULL };
	assert_int_equal(fb_peer_run(argv, 30000), 0);
}

static void every_message_arrives_with_its_values(void **state)
{
	(void)state;
	char yaml[4096], path[512];
	snprintf(yaml, sizeof yaml,
	         "name: collect-e2e\nseed: 11\nstart: 2026-06-01T00:00:00+02:00\nduration: 2h\n"
	         "sites:\n"
	         "  - {id: euromed, name: Euromed, lat: 43.3, lon: 5.37, radius: 500m}\n"
	         "  - {id: aix-centre, name: Aix, lat: 43.52, lon: 5.44, radius: 500m}\n"
	         "transports:\n"
	         "  mqtt:\n"
	         "    url: mqtt://127.0.0.1:%u\n"
	         "    version: 5\n"
	         "    connection: per-site\n"
	         "    topic: \"amp/{site}/{type}/{device}\"\n"
	         "    qos: 1\n"
	         "    aliases: true\n"
	         "fleets:\n"
	         "  - {type: noise, count: 4, site: euromed, transport: mqtt, codec: json, interval: 5m}\n"
	         "  - {type: waste, count: 3, site: aix-centre, transport: mqtt, codec: senml, interval: 10m}\n"
	         "  - {type: water-level, count: 3, site: aix-centre, transport: mqtt, codec: ul,"
	         " interval: 10m, params: {apikey: amp-water}}\n"
	         "  - {type: bike-counter, count: 2, site: euromed, transport: mqtt, codec: fiware-json,"
	         " interval: 15m, params: {apikey: amp-bike}}\n"
	         "  - {type: streetlight, count: 3, site: euromed, transport: mqtt, codec: sparkplug,"
	         " interval: 10m}\n",
	         mopts.port);
	snprintf(path, sizeof path, "%s/collect.yaml", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(yaml, f);
	fclose(f);

	struct world *w = &W;
	memset(w, 0, sizeof *w);
	w->loop = ev_loop_new(EVFLAG_AUTO);
	struct fb_load_opts lo = { .extra_params = fb_transport_mqtt.extra_params };
	w->sc = fb_scenario_load(path, &lo);
	assert_non_null(w->sc);
	w->e = fb_engine_new(w->sc, 0, 1, w->sc->start, w->sc->duration);
	assert_non_null(w->e);
	uint32_t ndev = (uint32_t)w->sc->ndevices;

	/* a message an earlier run left retained on a device's topic: delivered on subscribing with
	 * RETAIN set, it is no message of this run */
	const char *stale = "{\"id\":\"noise-000002\"}";
	pub_flags("amp/euromed/noise/noise-000002", stale, strlen(stale), true);

	/* the collector for every device, and one for the first five devices (the noise fleet and
	 * the first of the three waste devices): it subscribes to those two fleets' site and type
	 * only, so the other waste devices are foreign to it and the other fleets never reach it */
	const struct fb_collector_ops *ops = fb_collector_find("mqtt");
	assert_non_null(ops);
	char url[64];
	snprintf(url, sizeof url, "mqtt://127.0.0.1:%u", mopts.port);
	struct fb_collect_cfg cfg = { .url = url };
	struct fb_collect_env cenv = { .loop = w->loop, .scenario = w->sc, .first_device = 0,
	                               .device_count = ndev, .sink = on_obs, .sink_arg = w,
	                               .wall_of = wall_of };
	struct col all = { ops, ops->create(&cenv, &cfg) };
	assert_non_null(all.c);
	size_t half_obs = 0;
	struct fb_collect_env henv = cenv;
	henv.device_count = 5;
	henv.sink = on_obs_count_only;
	henv.sink_arg = &half_obs;
	struct col half = { ops, ops->create(&henv, &cfg) };
	assert_non_null(half.c);
	assert_int_equal(ops->start(all.c), 0);
	assert_int_equal(ops->start(half.c), 0);
	assert_true(spin(col_ready, &all, 30000));
	assert_true(spin(col_ready, &half, 30000));

	struct fb_transport_env tenv = { .loop = w->loop, .engine = w->e, .scenario = w->sc,
	                                 .shard_index = 0, .shard_count = 1, .wall_of = wall_of,
	                                 .sent = on_sent, .sent_arg = w };
	w->tr = fb_transport_mqtt.create(&tenv, fb_ynode_get(w->sc->transports, "mqtt"));
	assert_non_null(w->tr);
	assert_int_equal(fb_transport_mqtt.start(w->tr), 0);
	assert_true(spin(tr_ready, NULL, 30000));
	fb_engine_set_sink(w->e, engine_sink, w);
	/* max speed, as `run` does: batches between loop turns, held while the transport is busy */
	while (fb_engine_next_time(w->e) != FB_TIME_NEVER) {
		if (!fb_transport_mqtt.busy(w->tr))
			fb_engine_run(w->e, FB_TIME_NEVER, 64);
		ev_run(w->loop, EVRUN_NOWAIT);
	}
	assert_true(spin(tr_drained, NULL, 30000));
	assert_true(w->nexp > 100);
	assert_true(spin(all_seen, w, 30000));
	/* exactly once each, every value exact; nothing else */
	for (size_t i = 0; i < w->nexp; i++)
		if (w->exp[i].seen != 1)
			fail_msg("device %u key %llu observed %u times", w->exp[i].device,
			         (unsigned long long)w->exp[i].key, w->exp[i].seen);
	assert_int_equal(w->bad_values, 0);
	assert_int_equal(w->flagged, 0);
	assert_int_equal(w->unmatched, 0);
	assert_int_equal(w->undecodable + w->unknown, 0);
	assert_int_equal(w->observed, w->nexp);
	json_t *rep = ops->report(all.c);
	/* Sparkplug: a DBIRTH per device (its first sample), a DDEATH per device at the end */
	assert_int_equal(json_integer_value(json_object_get(rep, "sparkplug_dbirth")), 3);
	assert_int_equal(json_integer_value(json_object_get(rep, "sparkplug_ddeath")), 3);
	assert_int_equal(json_integer_value(json_object_get(rep, "retained_ignored")), 1);
	json_decref(rep);

	/* the partial collector: its own devices observed, the rest of its fleets foreign, nothing
	 * of the other fleets received */
	rep = ops->report(half.c);
	size_t foreign = (size_t)json_integer_value(json_object_get(rep, "foreign"));
	const json_t *filters = json_object_get(rep, "filters");
	assert_int_equal(json_array_size(filters), 2);
	assert_string_equal(json_string_value(json_array_get(filters, 0)), "amp/euromed/noise/+");
	assert_string_equal(json_string_value(json_array_get(filters, 1)), "amp/aix-centre/waste/+");
	size_t in_half = 0, in_waste = 0;
	for (size_t i = 0; i < w->nexp; i++) {
		in_half += w->exp[i].device < 5;
		in_waste += w->exp[i].device == 5 || w->exp[i].device == 6;
	}
	json_decref(rep);
	assert_int_equal(half_obs, in_half);
	assert_true(in_waste > 0);
	assert_int_equal(foreign, in_waste);

	/* injected faults from a plain client: one JSON sample of noise-000001 published twice, one
	 * sample declared and never published, garbage on a device's topic, an unknown device */
	const struct fb_fleet *noise = &w->sc->fleets[0];
	double vals[FB_MAX_FIELDS];
	for (unsigned i = 0; i < noise->model->nfields; i++)
		vals[i] = noise->model->fields[i].min;
	struct fb_sample dup = { .fleet = noise, .model = noise->model, .device = 1, .seq = 999,
	                         .t = w->sc->start + 7 * FB_US_PER_H, .values = vals };
	struct fb_sample dropped = dup;
	dropped.t += FB_US_PER_S;
	on_sent(w, "mqtt", &dup, (uint64_t)(dup.t / 1000));
	on_sent(w, "mqtt", &dropped, (uint64_t)(dropped.t / 1000));
	char id[64], topic[160];
	fb_device_id(noise->model, 1, id, sizeof id);
	snprintf(topic, sizeof topic, "amp/euromed/noise/%s", id);
	struct fb_codec_ctx ctx = { .device_id = id, .site_id = "euromed" };
	uint8_t payload[1024];
	ssize_t n = fb_codec_find("json")->encode(&ctx, &dup, payload, sizeof payload);
	assert_true(n > 0);
	size_t before = w->observed;
	pub(topic, payload, (size_t)n);
	pub(topic, payload, (size_t)n);
	pub(topic, "{\"LAeq\":", 8);
	pub("amp/euromed/noise/noise-999999", payload, (size_t)n);
	want_observed = before + 4;
	assert_true(spin(observed_reaches, w, 30000));
	struct expected *xd = find(w, 1, (uint64_t)(dup.t / 1000));
	struct expected *xl = find(w, 1, (uint64_t)(dropped.t / 1000));
	assert_int_equal(xd->seen, 2);      /* the sink sees the duplicate */
	assert_int_equal(xl->seen, 0);      /* and the loss */
	assert_int_equal(w->undecodable, 1);
	assert_int_equal(w->unknown, 1);
	assert_int_equal(w->bad_values, 0);

	/* Sparkplug B from a plain client: a rebirth (a DBIRTH repeating an older sample) is counted,
	 * not observed; a DBIRTH of a new session is the device's next sample; a DDATA by alias with
	 * one changed metric is observed with every field (the others from the birth) */
	const struct fb_fleet *lights = &w->sc->fleets[4];
	uint32_t ldev = lights->first;
	char lid[64], ltopic[160];
	fb_device_id(lights->model, ldev, lid, sizeof lid);
	double lv[FB_MAX_FIELDS];
	for (unsigned i = 0; i < lights->model->nfields; i++)
		lv[i] = lights->model->fields[i].max;
	struct fb_sample birth = { .fleet = lights, .model = lights->model, .device = ldev, .seq = 1,
	                           .t = w->sc->start + FB_US_PER_H, .values = lv };
	n = fb_spb_dbirth(&birth, 7, 0x500, payload, sizeof payload);
	assert_true(n > 0);
	snprintf(ltopic, sizeof ltopic, "spBv1.0/fleetbench/DBIRTH/euromed/%s", lid);
	before = w->observed;
	pub(ltopic, payload, (size_t)n);
	want_rebirths = 1;
	assert_true(spin(rebirths_reach, all.c, 30000));
	assert_int_equal(w->observed, before);
	birth.t = w->sc->start + 3 * FB_US_PER_H;
	on_sent(w, "mqtt", &birth, (uint64_t)(birth.t / 1000));
	n = fb_spb_dbirth(&birth, 8, 0x500, payload, sizeof payload);
	pub(ltopic, payload, (size_t)n);
	double prev[FB_MAX_FIELDS];
	memcpy(prev, lv, sizeof prev);
	lv[1] = lights->model->fields[1].min;     /* dimmingLevel changes, nothing else */
	struct fb_sample data = birth;
	data.t += 10 * FB_US_PER_MIN;
	on_sent(w, "mqtt", &data, (uint64_t)(data.t / 1000));
	n = fb_spb_ddata(&data, prev, 9, 0x500, payload, sizeof payload);
	snprintf(ltopic, sizeof ltopic, "spBv1.0/fleetbench/DDATA/euromed/%s", lid);
	pub(ltopic, payload, (size_t)n);
	want_observed = before + 2;
	assert_true(spin(observed_reaches, w, 30000));
	assert_int_equal(find(w, ldev, (uint64_t)(birth.t / 1000))->seen, 1);
	assert_int_equal(find(w, ldev, (uint64_t)(data.t / 1000))->seen, 1);
	assert_int_equal(w->bad_values, 0);
	assert_int_equal(w->flagged, 0);

	ops->free(all.c);
	ops->free(half.c);
	fb_transport_mqtt.free(w->tr);
	fb_engine_free(w->e);
	fb_scenario_free(w->sc);
	ev_loop_destroy(w->loop);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The scenario at `path` (loaded with lo) through the mqtt transport on a fresh loop, with a
 * collector at url (TLS with ca when given): the collector subscribed, the transport connected,
 * the engine's samples going to both. Returns the collector; world_free() ends it all. */
static struct col world_start(const char *path, const struct fb_load_opts *lo, const char *url,
                              const char *ca)
{
	struct world *w = &W;
	memset(w, 0, sizeof *w);
	w->loop = ev_loop_new(EVFLAG_AUTO);
	w->sc = fb_scenario_load(path, lo);
	assert_non_null(w->sc);
	w->e = fb_engine_new(w->sc, 0, 1, w->sc->start, w->sc->duration);
	assert_non_null(w->e);
	const struct fb_collector_ops *ops = fb_collector_find("mqtt");
	struct fb_collect_cfg cfg = { .url = url, .ca = ca };
	struct fb_collect_env cenv = { .loop = w->loop, .scenario = w->sc, .first_device = 0,
	                               .device_count = (uint32_t)w->sc->ndevices, .sink = on_obs,
	                               .sink_arg = w, .wall_of = wall_of };
	struct col col = { ops, ops->create(&cenv, &cfg) };
	assert_non_null(col.c);
	assert_int_equal(ops->start(col.c), 0);
	assert_true(spin(col_ready, &col, 30000));
	struct fb_transport_env tenv = { .loop = w->loop, .engine = w->e, .scenario = w->sc,
	                                 .shard_count = 1, .wall_of = wall_of, .sent = on_sent,
	                                 .sent_arg = w };
	w->tr = fb_transport_mqtt.create(&tenv, fb_ynode_get(w->sc->transports, "mqtt"));
	assert_non_null(w->tr);
	assert_int_equal(fb_transport_mqtt.start(w->tr), 0);
	assert_true(spin(tr_ready, NULL, 30000));
	fb_engine_set_sink(w->e, engine_sink, w);
	return col;
}

static void world_free(struct col *col)
{
	col->ops->free(col->c);
	fb_transport_mqtt.free(W.tr);
	fb_engine_free(W.e);
	fb_scenario_free(W.sc);
	ev_loop_destroy(W.loop);
}

/* The broker stops (SIGTERM: it saves its state) and comes back on its persistence mid-run: the
 * collector's session (QoS 1, kept across reconnects) and the transport's resends lose nothing;
 * QoS 1 may deliver a message twice, so the test asks for every message at least once and
 * exact values. */
static void nothing_lost_across_a_broker_restart(void **state)
{
	(void)state;
	char yaml[2048], path[512];
	char *dir = b2_dir;
	assert_int_equal(fb_peer_tmpdir("fb-collect-restart", dir, sizeof b2_dir), 0);
	struct fb_mosquitto_opts o2 = { .dir = dir, .persistence = true };
	assert_int_equal(fb_mosquitto_start(&b2, &o2), 0);
	snprintf(yaml, sizeof yaml,
	         "name: collect-restart\nseed: 12\nstart: 2026-06-01T00:00:00Z\nduration: 1h\n"
	         "sites:\n  - {id: euromed, name: Euromed, lat: 43.3, lon: 5.37, radius: 500m}\n"
	         "transports:\n  mqtt:\n    url: mqtt://127.0.0.1:%u\n    version: 5\n"
	         "    connection: per-site\n    qos: 1\n    reconnect: {min: 100ms, max: 200ms}\n"
	         "fleets:\n"
	         "  - {type: noise, count: 20, site: euromed, transport: mqtt, codec: json, interval: 1m}\n",
	         o2.port);
	snprintf(path, sizeof path, "%s/restart.yaml", dir);
	write_text(path, yaml);

	char url[64];
	snprintf(url, sizeof url, "mqtt://127.0.0.1:%u", o2.port);
	struct col col = world_start(path, NULL, url, NULL);
	struct world *w = &W;
	fb_time_us mid = w->sc->start + w->sc->duration / 2;
	bool restarted = false;
	while (fb_engine_next_time(w->e) != FB_TIME_NEVER) {
		if (!restarted && fb_engine_next_time(w->e) >= mid) {
			/* half the run published; some of it still on its way */
			assert_true(fb_peer_stop(&b2, 5000) >= 0);
			assert_int_equal(fb_mosquitto_start(&b2, &o2), 0);
			restarted = true;
		}
		if (!fb_transport_mqtt.busy(w->tr))
			fb_engine_run(w->e, restarted ? FB_TIME_NEVER : mid, 16);
		ev_run(w->loop, EVRUN_NOWAIT);
	}
	assert_true(spin(tr_drained, NULL, 30000));
	assert_true(w->nexp >= 20 * 60);
	assert_true(spin(all_seen, w, 30000));
	assert_int_equal(w->bad_values, 0);
	assert_int_equal(w->flagged + w->undecodable + w->unknown + w->unmatched, 0);
	json_t *rep = col.ops->report(col.c);
	assert_true(json_integer_value(json_object_get(rep, "reconnects")) >= 1);
	json_decref(rep);
	world_free(&col);
	fb_peer_stop(&b2, 2000);
	fb_peer_rmtree(b2_dir);
	b2_dir[0] = '\0';
}

/* Runs the scenario at `path` through the mqtt transport and a collector at `url` (TLS with
 * `ca` when given): every declared message arrives once, with exact values. */
static void run_and_check(const char *path, const char *url, const char *ca, size_t min_msgs)
{
	struct fb_load_opts lo = { .extra_params = fb_transport_mqtt.extra_params };
	struct col col = world_start(path, &lo, url, ca);
	struct world *w = &W;
	while (fb_engine_next_time(w->e) != FB_TIME_NEVER) {
		if (!fb_transport_mqtt.busy(w->tr))
			fb_engine_run(w->e, FB_TIME_NEVER, 64);
		ev_run(w->loop, EVRUN_NOWAIT);
	}
	assert_true(spin(tr_drained, NULL, 30000));
	assert_true(w->nexp >= min_msgs);
	assert_true(spin(all_seen, w, 30000));
	for (size_t i = 0; i < w->nexp; i++)
		assert_int_equal(w->exp[i].seen, 1);
	assert_int_equal(w->observed, w->nexp);
	assert_int_equal(w->bad_values + w->flagged + w->unmatched, 0);
	world_free(&col);
}

/* More FIWARE API keys than one connection has subscriptions: the collector widens its filters
 * to /ul/+/+/attrs and still receives every message exactly. */
static void many_api_keys_widen_the_filters(void **state)
{
	(void)state;
	char yaml[8192], path[512], url[64];
	int n = snprintf(yaml, sizeof yaml,
	                 "name: collect-keys\nseed: 4\nstart: 2026-06-01T00:00:00Z\nduration: 30m\n"
	                 "sites:\n  - {id: aix, name: Aix, lat: 43.52, lon: 5.44, radius: 500m}\n"
	                 "transports:\n  mqtt:\n    url: mqtt://127.0.0.1:%u\n    connection: per-device\n"
	                 "    qos: 1\nfleets:\n", mopts.port);
	for (int k = 0; k < 20; k++)
		n += snprintf(yaml + n, sizeof yaml - (size_t)n,
		              "  - {type: water-level, count: 1, site: aix, transport: mqtt, codec: ul,"
		              " interval: 5m, params: {apikey: key%d}}\n", k);
	snprintf(path, sizeof path, "%s/keys.yaml", tmpdir);
	write_text(path, yaml);
	snprintf(url, sizeof url, "mqtt://127.0.0.1:%u", mopts.port);
	run_and_check(path, url, NULL, 20 * 6);
}

static int openssl(const char *dir, const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "cd '%s' && openssl %s", dir, args);
	const char *argv[] = { "sh", "-c", cmd, NULL };
	return fb_peer_run(argv, 30000);
}

/* TLS on both sides: the transport (mqtts:// with the scenario's CA) and the collector (cfg.ca)
 * against a mosquitto TLS listener with a certificate for localhost made by the openssl CLI. */
static void tls_end_to_end(void **state)
{
	(void)state;
	char *dir = b2_dir;
	assert_int_equal(fb_peer_tmpdir("fb-collect-tls", dir, sizeof b2_dir), 0);
	assert_int_equal(openssl(dir, "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
	                         "-days 2 -subj /CN=fleetbench-test-ca 2>/dev/null"), 0);
	assert_int_equal(openssl(dir, "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
	                         "-subj /CN=localhost 2>/dev/null"), 0);
	assert_int_equal(openssl(dir, "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	                         "-out server.pem -days 2 -extfile /dev/stdin 2>/dev/null <<'E'\n"
	                         "subjectAltName=DNS:localhost,IP:127.0.0.1\nE"), 0);
	char ca[320], cert[320], key[320], yaml[2048], path[512], url[64];
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	snprintf(cert, sizeof cert, "%s/server.pem", dir);
	snprintf(key, sizeof key, "%s/server.key", dir);
	struct fb_mosquitto_opts o = { .dir = dir, .tls_cafile = ca, .tls_certfile = cert,
	                               .tls_keyfile = key };
	assert_int_equal(fb_mosquitto_start(&b2, &o), 0);
	assert_true(o.tls_port > 0);
	snprintf(yaml, sizeof yaml,
	         "name: collect-tls\nseed: 8\nstart: 2026-06-01T00:00:00Z\nduration: 1h\n"
	         "sites:\n  - {id: aix, name: Aix, lat: 43.52, lon: 5.44, radius: 500m}\n"
	         "transports:\n  mqtt:\n    url: mqtts://localhost:%u\n    connection: per-site\n"
	         "    qos: 1\n    tls: {ca: ca.pem}\nfleets:\n"
	         "  - {type: noise, count: 5, site: aix, transport: mqtt, codec: json, interval: 5m}\n",
	         o.tls_port);
	snprintf(path, sizeof path, "%s/tls.yaml", dir);
	write_text(path, yaml);
	snprintf(url, sizeof url, "mqtts://localhost:%u", o.tls_port);
	run_and_check(path, url, ca, 5 * 12);
	fb_peer_stop(&b2, 2000);
	fb_peer_rmtree(b2_dir);
	b2_dir[0] = '\0';
}

struct vcount { size_t n, complete, flagged, want; uint32_t flags; char id[64], detail[200]; };

static void on_validate_obs(void *arg, const struct fb_obs *o)
{
	struct vcount *v = arg;
	v->n++;
	assert_int_equal(o->device, FB_OBS_NO_DEVICE);
	assert_non_null(o->model);
	snprintf(v->id, sizeof v->id, "%s", o->device_id);
	snprintf(v->detail, sizeof v->detail, "%s", o->detail ? o->detail : "");
	v->flags = o->flags;
	if (o->flags)
		v->flagged++;
	if (o->present == (1ull << o->model->nfields) - 1)
		v->complete++;
}

static bool validate_seen(void *arg)
{
	struct vcount *v = arg;
	return v->n >= (v->want ? v->want : 2);
}

/* validate's collector (no scenario: one type, one codec, a topic filter) on a fresh loop,
 * started and subscribed; its observations are counted in *v. */
static struct col validate_collector(const struct fb_model *m, const char *filter,
                                     const char *codec, struct vcount *v)
{
	static char url[64];     /* the collector keeps the configuration's strings */
	memset(&W, 0, sizeof W);
	W.loop = ev_loop_new(EVFLAG_AUTO);
	snprintf(url, sizeof url, "mqtt://127.0.0.1:%u", mopts.port);
	struct fb_collect_cfg cfg = { .url = url, .topic_filter = filter, .codec = codec };
	struct fb_collect_env env = { .loop = W.loop, .model = m, .device_count = UINT32_MAX,
	                              .sink = on_validate_obs, .sink_arg = v, .wall_of = wall_of };
	const struct fb_collector_ops *ops = fb_collector_find("mqtt");
	struct col col = { ops, ops->create(&env, &cfg) };
	assert_non_null(col.c);
	assert_int_equal(ops->start(col.c), 0);
	assert_true(spin(col_ready, &col, 30000));
	return col;
}

/* validate's use (no scenario: one type, one codec, a filter): a Sparkplug device reporting by
 * exception passes, each DDATA completed from its birth. */
static void validate_mode_sparkplug(void **state)
{
	(void)state;
	const struct fb_model *m = fb_model_find("streetlight");
	assert_non_null(m);
	struct vcount v = { 0 };
	struct col col = validate_collector(m, "spBv1.0/#", "sparkplug", &v);
	double vals[FB_MAX_FIELDS], prev[FB_MAX_FIELDS];
	for (unsigned i = 0; i < m->nfields; i++)
		vals[i] = prev[i] = m->fields[i].min;
	struct fb_sample s = { .model = m, .device = 0, .seq = 0, .t = 1780000000LL * FB_US_PER_S,
	                       .values = vals };
	uint8_t buf[1024];
	ssize_t n = fb_spb_dbirth(&s, 1, FB_SPB_NO_ALIAS, buf, sizeof buf);
	pub("spBv1.0/g/DBIRTH/edge/lamp-7", buf, (size_t)n);
	vals[1] = m->fields[1].max;
	s.t += FB_US_PER_MIN;
	n = fb_spb_ddata(&s, prev, 2, FB_SPB_NO_ALIAS, buf, sizeof buf);
	pub("spBv1.0/g/DDATA/edge/lamp-7", buf, (size_t)n);
	assert_true(spin(validate_seen, &v, 30000));
	assert_int_equal(v.n, 2);
	assert_int_equal(v.complete, 2);
	assert_int_equal(v.flagged, 0);
	assert_string_equal(v.id, "lamp-7");
	/* a DDATA of a device whose birth came before the bench listened: fields missing, and
	 * flagged as only that (validate judges completeness by what the device's births carried) */
	n = fb_spb_ddata(&s, prev, 3, FB_SPB_NO_ALIAS, buf, sizeof buf);
	pub("spBv1.0/g/DDATA/edge/lamp-8", buf, (size_t)n);
	v.want = 3;
	assert_true(spin(validate_seen, &v, 30000));
	assert_string_equal(v.id, "lamp-8");
	assert_int_equal(v.flags, FB_OBS_BAD_FIELD | FB_OBS_PARTIAL);
	assert_int_equal(v.complete, 2);
	col.ops->free(col.c);
	ev_loop_destroy(W.loop);
}

/* validate over SenML: a record in another unit than the field's is named precisely (the
 * decoder only says the pack is malformed); a pack right in its units decodes clean. */
static void validate_mode_senml_unit(void **state)
{
	(void)state;
	const struct fb_model *m = fb_model_find("noise");
	assert_non_null(m);
	struct vcount v = { 0 };
	struct col col = validate_collector(m, "senml/#", "senml", &v);
	/* the device's own pack, as the encoder writes it */
	double vals[FB_MAX_FIELDS];
	for (unsigned i = 0; i < m->nfields; i++)
		vals[i] = fb_field_quantize(&m->fields[i], (m->fields[i].min + m->fields[i].max) / 2);
	struct fb_sample s = { .model = m, .device = 0, .t = 1780000000LL * FB_US_PER_S, .values = vals };
	struct fb_codec_ctx ctx = { .device_id = "noise-000042" };
	uint8_t buf[2048];
	ssize_t n = fb_senml_codec.encode(&ctx, &s, buf, sizeof buf - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	pub("senml/noise-000042", buf, (size_t)n);
	v.want = 1;
	assert_true(spin(validate_seen, &v, 30000));
	assert_int_equal(v.flags, 0);
	assert_int_equal(v.complete, 1);
	/* LAeq in degrees Celsius: the same pack with its first unit changed */
	char *u = strstr((char *)buf, "\"u\":\"dB\"");
	assert_non_null(u);
	char wrong[2048];
	snprintf(wrong, sizeof wrong, "%.*s\"u\":\"Cel\"%s", (int)(u - (char *)buf), (char *)buf, u + 8);
	pub("senml/noise-000042", wrong, strlen(wrong));
	v.want = 2;
	assert_true(spin(validate_seen, &v, 30000));
	assert_int_equal(v.flags, FB_OBS_UNDECODABLE);
	assert_string_equal(v.detail, "unit 'Cel' for field 'LAeq', expected 'dB' (the profile's 'dB(A)')");
	/* malformed for another reason: the decoder's own word */
	pub("senml/noise-000042", "[{\"bn\":", 8);
	v.want = 3;
	assert_true(spin(validate_seen, &v, 30000));
	assert_int_equal(v.flags, FB_OBS_UNDECODABLE);
	assert_string_equal(v.detail, fb_codec_strerror(FB_CODEC_EINVAL));
	col.ops->free(col.c);
	ev_loop_destroy(W.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_message_arrives_with_its_values),
		cmocka_unit_test(nothing_lost_across_a_broker_restart),
		cmocka_unit_test(validate_mode_sparkplug),
		cmocka_unit_test(validate_mode_senml_unit),
		cmocka_unit_test(many_api_keys_widen_the_filters),
		cmocka_unit_test(tls_end_to_end),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
