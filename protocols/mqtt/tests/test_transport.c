/* The mqtt transport end to end: build/fleetbench runs a scenario against a real mosquitto on a
 * free port; mosquitto_sub records every message; each one is checked against the run's trace
 * (JSON parsed with jansson, UltraLight split, Sparkplug B decoded by the npm sparkplug-payload
 * oracle in ci/oracles). Commands come from mosquitto_pub while a paced run goes on, and the
 * trace shows their effect. Bad `transports.mqtt` settings exit 2 with file:line:col. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "harness/peer.h"

static char tmpdir[256], fleetbench[512];
static struct fb_peer broker;
static struct fb_mosquitto_opts mopts;

static void write_file(const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Data lines of a mosquitto_sub -d -F '%t %x' log: "topic hex" (debug lines start "Client " or
 * "Subscribed "). */
struct msg { char topic[160]; char hex[8192]; };

static size_t read_messages(const char *log, struct msg *out, size_t max)
{
	FILE *f = fopen(log, "r");
	if (!f)
		return 0;
	static char line[20000];
	size_t n = 0;
	while (fgets(line, sizeof line, f) && n < max) {
		size_t len = strlen(line);
		if (!len || line[len - 1] != '\n' || !strncmp(line, "Client ", 7) || !strncmp(line, "Subscribed ", 11))
			continue;
		line[len - 1] = 0;
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		snprintf(out[n].topic, sizeof out[n].topic, "%s", line);
		snprintf(out[n].hex, sizeof out[n].hex, "%s", sp + 1);
		n++;
	}
	fclose(f);
	return n;
}

static size_t unhex(const char *hex, char *out, size_t cap)
{
	size_t n = 0;
	for (; hex[0] && hex[1] && n + 1 < cap; hex += 2) {
		unsigned b;
		if (sscanf(hex, "%2x", &b) != 1)
			break;
		out[n++] = (char)b;
	}
	out[n] = 0;
	return n;
}

static void start_subscriber(struct fb_peer *sub, const char *log)
{
	char port[8];
	snprintf(port, sizeof port, "%u", mopts.port);
	const char *argv[] = { "stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-V", "mqttv5", "-q", "2",
	                       "-t", "#", "-F", "%t %x", "-d", "-i", "fb-test-sub", NULL };
	assert_int_equal(fb_peer_spawn(sub, argv, log), 0);
	assert_int_equal(fb_peer_wait_line(sub, "SUBACK", NULL, 0, 5000), 0);
}

static json_t *load_trace(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	json_t *arr = json_array();
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		json_array_append_new(arr, j);
	}
	fclose(f);
	return arr;
}

static json_t *trace_find(json_t *trace, const char *device, json_int_t seq)
{
	size_t i;
	json_t *e;
	json_array_foreach(trace, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "device")), device) &&
		    json_integer_value(json_object_get(e, "seq")) == seq)
			return e;
	return NULL;
}

static bool same_value(json_t *want, const char *got)
{
	char buf[64];
	if (json_is_string(want))
		return !strcmp(json_string_value(want), got);
	if (json_is_true(want) || json_is_false(want))
		return !strcmp(json_is_true(want) ? "true" : "false", got);
	snprintf(buf, sizeof buf, "%.10g", json_number_value(want));
	return strtod(got, NULL) == json_number_value(want);
}

/* Runs the Sparkplug oracle over the messages whose topic starts with spBv1.0/. */
static json_t *sparkplug_decode(const struct msg *m, size_t n)
{
	char in[512], out[512], cmd[2048];
	snprintf(in, sizeof in, "%s/spb.in", tmpdir);
	snprintf(out, sizeof out, "%s/spb.out", tmpdir);
	FILE *f = fopen(in, "w");
	for (size_t i = 0; i < n; i++)
		if (!strncmp(m[i].topic, "spBv1.0/", 8))
			fprintf(f, "%s %s\n", m[i].topic, m[i].hex);
	fclose(f);
	snprintf(cmd, sizeof cmd, "node ci/oracles/mqtt-sparkplug.js decode < '%s' > '%s'", in, out);
	const char *argv[] = { "sh", "-c", cmd, NULL };
	assert_int_equal(fb_peer_run(argv, 20000), 0);
	f = fopen(out, "r");
	json_t *arr = json_array();
	char line[16384];
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		assert_null(json_object_get(j, "error"));
		json_array_append_new(arr, j);
	}
	fclose(f);
	return arr;
}

struct want_lines { const char *log; size_t n; };

static size_t wait_messages(const char *log, struct msg *m, size_t max, size_t want)
{
	size_t n = 0;
	for (int i = 0; i < 500; i++) {     /* polled, at most 5 s */
		n = read_messages(log, m, max);
		if (n >= want)
			break;
		usleep(10000);
	}
	return n;
}

static void every_message_matches_the_trace(void **state)
{
	(void)state;
	char scenario[4096];
	snprintf(scenario, sizeof scenario,
	         "name: mqtt-e2e\nseed: 5\nstart: 2026-06-01T00:00:00+02:00\nduration: 2h\n"
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
	         "    connect_rate: 1000/s\n"
	         "fleets:\n"
	         "  - {type: noise, count: 6, site: euromed, transport: mqtt, codec: json, interval: 5m}\n"
	         "  - {type: streetlight, count: 3, site: euromed, transport: mqtt, codec: sparkplug}\n"
	         "  - {type: waste, count: 4, site: aix-centre, transport: mqtt, codec: ul, params: {apikey: amp-waste}}\n",
	         mopts.port);
	write_file("e2e.yaml", scenario);
	char log[512], yaml[512], trace[512];
	snprintf(log, sizeof log, "%s/sub.log", tmpdir);
	snprintf(yaml, sizeof yaml, "%s/e2e.yaml", tmpdir);
	snprintf(trace, sizeof trace, "%s/e2e.jsonl", tmpdir);
	struct fb_peer sub;
	start_subscriber(&sub, log);
	const char *argv[] = { fleetbench, "run", yaml, "--out", trace, "--quiet", NULL };
	assert_int_equal(fb_peer_run(argv, 30000), 0);
	json_t *tr = load_trace("e2e.jsonl");
	size_t nsamples = json_array_size(tr);
	assert_true(nsamples > 50);
	/* per site one edge node at most: euromed carries the Sparkplug devices, so one NBIRTH
	 * and, at the end, a DDEATH for each of its 3 devices and the NDEATH the broker sends for
	 * DISCONNECT 0x04 */
	static struct msg m[2000];
	size_t n = wait_messages(log, m, 2000, nsamples + 5);
	fb_peer_stop(&sub, 2000);
	assert_int_equal(n, nsamples + 5);
	size_t json_ok = 0, ul_ok = 0;
	char payload[8192];
	for (size_t i = 0; i < n; i++) {
		unhex(m[i].hex, payload, sizeof payload);
		if (!strncmp(m[i].topic, "amp/euromed/noise/", 18)) {
			json_t *j = json_loads(payload, 0, NULL);
			assert_non_null(j);
			const char *id = json_string_value(json_object_get(j, "id"));
			assert_string_equal(m[i].topic + 18, id);
			json_t *e = trace_find(tr, id, json_integer_value(json_object_get(j, "seq")));
			assert_non_null(e);
			assert_string_equal(json_string_value(json_object_get(j, "ts")), json_string_value(json_object_get(e, "ts")));
			const char *k;
			json_t *v;
			json_object_foreach(json_object_get(e, "values"), k, v)
				assert_true(json_equal(v, json_object_get(j, k)) ||
				            json_number_value(v) == json_number_value(json_object_get(j, k)));
			json_decref(j);
			json_ok++;
		} else if (!strncmp(m[i].topic, "/ul/amp-waste/", 14)) {
			/* "2026-...Z|fillingLevel|0.34|temperature|18.6|..." */
			char dev[64];
			sscanf(m[i].topic + 14, "%63[^/]", dev);
			char *save, *ts = strtok_r(payload, "|", &save);
			json_t *e = NULL;
			size_t k;
			json_t *x;
			json_array_foreach(tr, k, x)
				if (!strcmp(json_string_value(json_object_get(x, "device")), dev) &&
				    !strcmp(json_string_value(json_object_get(x, "ts")), ts))
					e = x;
			assert_non_null(e);
			int pairs = 0;
			for (char *key; (key = strtok_r(NULL, "|", &save)); pairs++) {
				char *val = strtok_r(NULL, "|", &save);
				assert_non_null(val);
				json_t *want = json_object_get(json_object_get(e, "values"), key);
				assert_non_null(want);
				if (!same_value(want, val))
					fail_msg("'%s' %s: '%s' is not the trace's value", dev, key, val);
			}
			assert_int_equal(pairs, json_object_size(json_object_get(e, "values")));
			ul_ok++;
		}
	}
	/* Sparkplug: NBIRTH (seq 0, bdSeq 0), then births and data with seq +1 each, NDEATH last */
	json_t *spb = sparkplug_decode(m, n);
	size_t nspb = json_array_size(spb), i;
	json_t *e;
	assert_true(nspb >= 4);
	json_int_t expect_seq = 0;
	size_t births = 0, data = 0, deaths = 0, ddeaths = 0;
	json_array_foreach(spb, i, e) {
		const char *topic = json_string_value(json_object_get(e, "topic"));
		if (ddeaths)    /* after the first DDEATH only DDEATHs, then the NDEATH */
			assert_true(strstr(topic, "/DDEATH/") || strstr(topic, "/NDEATH/"));
		if (strstr(topic, "/DDEATH/")) {
			assert_int_equal(json_array_size(json_object_get(e, "metrics")), 0);
			assert_int_equal(deaths, 0);
			ddeaths++;
		}
		if (strstr(topic, "/NDEATH/")) {
			assert_true(json_is_null(json_object_get(e, "seq")));
			json_t *mt = json_array_get(json_object_get(e, "metrics"), 0);
			assert_string_equal(json_string_value(json_object_get(mt, "name")), "bdSeq");
			assert_int_equal(json_integer_value(json_object_get(mt, "value")), 0);
			deaths++;
			continue;
		}
		if (strstr(topic, "/NBIRTH/")) {
			assert_string_equal(topic, "spBv1.0/fleetbench/NBIRTH/euromed");
			expect_seq = 0;
		}
		assert_int_equal(json_integer_value(json_object_get(e, "seq")), expect_seq);
		expect_seq = (expect_seq + 1) % 256;
		if (strstr(topic, "/DBIRTH/"))
			births++;
		if (strstr(topic, "/DDATA/") || strstr(topic, "/DBIRTH/")) {
			/* the k-th DBIRTH/DDATA of a device is its k-th sample: every metric it carries
			 * has the trace's value */
			const char *dev = strrchr(topic, '/') + 1;
			json_int_t k = 0;
			for (size_t j = 0; j < i; j++) {
				const char *tj = json_string_value(json_object_get(json_array_get(spb, j), "topic"));
				k += !strcmp(strrchr(tj, '/') + 1, dev) && !strstr(tj, "/NBIRTH/") && !strstr(tj, "/NDEATH/") &&
				     !strstr(tj, "/DDEATH/");
			}
			json_t *sample = trace_find(tr, dev, k);
			assert_non_null(sample);
			size_t mi;
			json_t *mt;
			json_array_foreach(json_object_get(e, "metrics"), mi, mt) {
				json_t *want = json_object_get(json_object_get(sample, "values"),
				                               json_string_value(json_object_get(mt, "name")));
				assert_non_null(want);
				json_t *got = json_object_get(mt, "value");
				/* a Double metric carries the quantized binary value; the trace prints it at
				 * the field's resolution: equal to 1e-9 relative */
				double a = json_number_value(want), g = json_number_value(got);
				if (!json_equal(want, got) && !(json_is_number(want) && fabs(a - g) <= 1e-9 * fmax(1, fabs(a)))) {
					char *ws = json_dumps(want, JSON_ENCODE_ANY), *gs = json_dumps(got, JSON_ENCODE_ANY);
					fail_msg("%s seq %lld %s: oracle %s, trace %s", dev, (long long)k,
					         json_string_value(json_object_get(mt, "name")), gs, ws);
				}
			}
			if (strstr(topic, "/DDATA/"))
				data++;
		}
	}
	assert_int_equal(births, 3);
	assert_int_equal(ddeaths, 3);
	assert_int_equal(deaths, 1);
	assert_int_equal(json_ok + ul_ok + births + data, nsamples);
	assert_true(json_ok > 0 && ul_ok > 0 && data > 0);
	json_decref(spb);
	json_decref(tr);
}

static void commands_reach_the_devices(void **state)
{
	(void)state;
	char scenario[4096];
	snprintf(scenario, sizeof scenario,
	         "name: mqtt-cmd\nseed: 9\nstart: 2026-01-10T00:00:00+01:00\nduration: 2h\n"
	         "sites:\n  - {id: euromed, name: Euromed, lat: 43.3, lon: 5.37, radius: 500m}\n"
	         "transports:\n  mqtt:\n    url: mqtt://127.0.0.1:%u\n    qos: 1\n"
	         "fleets:\n"
	         "  - {type: streetlight, count: 1, site: euromed, transport: mqtt, codec: json}\n"
	         "  - {type: streetlight, count: 1, site: euromed, transport: mqtt, codec: ul, params: {apikey: k1}}\n"
	         "  - {type: streetlight, count: 1, site: euromed, transport: mqtt, codec: sparkplug}\n",
	         mopts.port);
	write_file("cmd.yaml", scenario);
	char log[512], yaml[512], trace[512], port[8], report[512];
	snprintf(report, sizeof report, "%s/cmd-report.json", tmpdir);
	snprintf(log, sizeof log, "%s/cmd-sub.log", tmpdir);
	snprintf(yaml, sizeof yaml, "%s/cmd.yaml", tmpdir);
	snprintf(trace, sizeof trace, "%s/cmd.jsonl", tmpdir);
	snprintf(port, sizeof port, "%u", mopts.port);
	struct fb_peer sub, run;
	start_subscriber(&sub, log);
	/* 2 h at x2400: 3 s, a street-light sample every 0.375 s */
	const char *argv[] = { fleetbench, "run", yaml, "--out", trace, "--speed", "x2400", "--quiet",
	                       "--report", report, NULL };
	assert_int_equal(fb_peer_spawn(&run, argv, NULL), 0);
	assert_int_equal(fb_peer_wait_line(&sub, "fleetbench/euromed/streetlight/streetlight-000000 ", NULL, 0, 10000), 0);
	/* bad commands first: not JSON, and a read-only field; both are counted (as malformed: the
	 * codec refuses them) and the run goes on */
	const char *bad1[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
	                       "-t", "fleetbench/euromed/streetlight/streetlight-000000/cmd", "-m", "{not json", NULL };
	const char *bad2[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
	                       "-t", "fleetbench/euromed/streetlight/streetlight-000000/cmd", "-m", "{\"activePower\":3}", NULL };
	assert_int_equal(fb_peer_run(bad1, 5000), 0);
	assert_int_equal(fb_peer_run(bad2, 5000), 0);
	assert_int_equal(fb_peer_wait_line(&sub, "spBv1.0/fleetbench/DBIRTH/streetlight-000002/", NULL, 0, 10000), 0);
	const char *json_cmd[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
	                           "-t", "fleetbench/euromed/streetlight/streetlight-000000/cmd",
	                           "-m", "{\"dimmingLevel\":37}", NULL };
	assert_int_equal(fb_peer_run(json_cmd, 5000), 0);
	const char *ul_cmd[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1",
	                         "-t", "/k1/streetlight-000001/cmd", "-m", "streetlight-000001@dimmingLevel|44", NULL };
	assert_int_equal(fb_peer_run(ul_cmd, 5000), 0);
	char rebirth[1024];
	snprintf(rebirth, sizeof rebirth, "node ci/oracles/mqtt-sparkplug.js rebirth > '%s/rebirth.hex' && "
	         "node -e \"process.stdout.write(Buffer.from(require('fs').readFileSync('%s/rebirth.hex','utf8').trim(),'hex'))\" "
	         "| mosquitto_pub -h 127.0.0.1 -p %s -q 1 -t spBv1.0/fleetbench/NCMD/streetlight-000002 -s",
	         tmpdir, tmpdir, port);
	const char *spb_cmd[] = { "sh", "-c", rebirth, NULL };
	assert_int_equal(fb_peer_run(spb_cmd, 10000), 0);
	assert_int_equal(fb_peer_wait_exit(&run, 30000), 0);
	unlink(run.log_path);
	static struct msg m[500];
	size_t n = wait_messages(log, m, 500, 10);
	fb_peer_stop(&sub, 2000);
	/* the effect in the trace: a later json sample at 37, a later UL sample at 44 */
	json_t *tr = load_trace("cmd.jsonl");
	size_t i;
	json_t *e;
	bool saw37 = false, saw44 = false;
	json_array_foreach(tr, i, e) {
		double dim = json_number_value(json_object_get(json_object_get(e, "values"), "dimmingLevel"));
		const char *dev = json_string_value(json_object_get(e, "device"));
		saw37 |= !strcmp(dev, "streetlight-000000") && dim == 37;
		saw44 |= !strcmp(dev, "streetlight-000001") && dim == 44;
	}
	assert_true(saw37);
	assert_true(saw44);
	/* counted in the report, and the run went on */
	json_t *rj = json_load_file(report, 0, NULL);
	assert_non_null(rj);
	json_t *mq = json_object_get(json_object_get(rj, "transports"), "mqtt");
	assert_non_null(mq);
	assert_int_equal(json_integer_value(json_object_get(mq, "commands_malformed")), 2);
	assert_int_equal(json_integer_value(json_object_get(mq, "commands_applied")), 3);   /* json, ul, rebirth */
	assert_int_equal(json_integer_value(json_object_get(mq, "rebirths")), 1);
	assert_int_equal(json_integer_value(json_object_get(mq, "connects_ok")), 3);
	json_decref(rj);
	/* the UL command result, and a second NBIRTH after the rebirth request with the same bdSeq */
	bool cmdexe = false;
	char payload[8192];
	for (size_t k = 0; k < n; k++) {
		unhex(m[k].hex, payload, sizeof payload);
		if (!strcmp(m[k].topic, "/ul/k1/streetlight-000001/cmdexe"))
			cmdexe |= !strcmp(payload, "streetlight-000001@dimmingLevel|OK");
	}
	assert_true(cmdexe);
	json_t *spb = sparkplug_decode(m, n);
	size_t nbirths = 0;
	json_array_foreach(spb, i, e)
		if (strstr(json_string_value(json_object_get(e, "topic")), "/NBIRTH/")) {
			nbirths++;
			assert_int_equal(json_integer_value(json_object_get(e, "seq")), 0);
			json_t *mt;
			size_t k;
			json_array_foreach(json_object_get(e, "metrics"), k, mt)
				if (!strcmp(json_string_value(json_object_get(mt, "name")), "bdSeq"))
					assert_int_equal(json_integer_value(json_object_get(mt, "value")), 0);
		}
	assert_int_equal(nbirths, 2);
	json_decref(spb);
	json_decref(tr);
}

/* Sparkplug over 3.1.1 across a reconnect: the second CONNECT carries bdSeq 1 in its will and
 * its NBIRTH; at the end the node publishes NDEATH with that bdSeq itself. With --state, the next
 * run goes on with bdSeq 2. */
static void sparkplug_bdseq_across_a_reconnect(void **state)
{
	(void)state;
	char scenario[4096];
	snprintf(scenario, sizeof scenario,
	         "name: mqtt-spb\nseed: 4\nstart: 2026-01-10T00:00:00+01:00\nduration: 2h\n"
	         "sites:\n  - {id: euromed, name: Euromed, lat: 43.3, lon: 5.37, radius: 500m}\n"
	         "transports:\n  mqtt:\n    url: mqtt://127.0.0.1:%u\n    version: 3.1.1\n"
	         "    connection: per-site\n    reconnect: {min: 100ms, max: 200ms}\n"
	         "fleets:\n"
	         "  - {type: streetlight, count: 2, site: euromed, transport: mqtt, codec: sparkplug, interval: 5m}\n",
	         mopts.port);
	write_file("spb.yaml", scenario);
	char log[512], yaml[512], trace[512];
	snprintf(log, sizeof log, "%s/spb-sub.log", tmpdir);
	snprintf(yaml, sizeof yaml, "%s/spb.yaml", tmpdir);
	snprintf(trace, sizeof trace, "%s/spb.jsonl", tmpdir);
	struct fb_peer sub, run;
	start_subscriber(&sub, log);
	/* 2 h at x1200: 6 s */
	char statef[512], spbstate[540];
	snprintf(statef, sizeof statef, "%s/run.state", tmpdir);
	snprintf(spbstate, sizeof spbstate, "%s.sparkplug", statef);
	unlink(spbstate);
	/* another group's edge node of the same name: its row must survive our rewrite */
	write_file("run.state.sparkplug", "fleetbench-sparkplug-state 1\nother euromed 77\n");
	const char *argv[] = { fleetbench, "run", yaml, "--out", trace, "--speed", "x1200", "--quiet",
	                       "--state", statef, NULL };
	assert_int_equal(fb_peer_spawn(&run, argv, NULL), 0);
	assert_int_equal(fb_peer_wait_line(&sub, "spBv1.0/fleetbench/DDATA/euromed/", NULL, 0, 10000), 0);
	/* a client with the node's client id takes the session over: the broker drops the node,
	 * which reconnects (a broker restart would also drop the subscriber, which would then miss
	 * the QoS 0 births) */
	char port[8];
	snprintf(port, sizeof port, "%u", mopts.port);
	const char *takeover[] = { "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "fleetbench-euromed-0",
	                           "-t", "takeover", "-m", "x", NULL };
	assert_int_equal(fb_peer_run(takeover, 5000), 0);
	assert_int_equal(fb_peer_wait_exit(&run, 30000), 0);
	unlink(run.log_path);
	static struct msg m[500];
	size_t n = 0;
	for (int i = 0; i < 500; i++) {     /* polled until the final NDEATH is in */
		n = read_messages(log, m, 500);
		if (n && strstr(m[n - 1].topic, "/NDEATH/"))
			break;
		usleep(10000);
	}
	fb_peer_stop(&sub, 2000);
	json_t *spb = sparkplug_decode(m, n);
	json_int_t births[4];
	size_t nbirths = 0, i;
	json_t *e, *last = NULL;
	json_array_foreach(spb, i, e) {
		const char *topic = json_string_value(json_object_get(e, "topic"));
		if (!strncmp(topic, "spBv1.0/fleetbench/NDEATH/", 26) && last &&
		    strstr(json_string_value(json_object_get(last, "topic")), "/NDEATH/"))
			continue;   /* the will of the dropped session may come too */
		if (strstr(topic, "/NBIRTH/") && nbirths < 4) {
			assert_int_equal(json_integer_value(json_object_get(e, "seq")), 0);
			json_t *mt;
			size_t k;
			json_array_foreach(json_object_get(e, "metrics"), k, mt)
				if (!strcmp(json_string_value(json_object_get(mt, "name")), "bdSeq"))
					births[nbirths] = json_integer_value(json_object_get(mt, "value"));
			nbirths++;
		}
		last = e;
	}
	assert_int_equal(nbirths, 2);
	assert_int_equal(births[0], 0);
	assert_int_equal(births[1], 1);
	assert_non_null(last);
	assert_non_null(strstr(json_string_value(json_object_get(last, "topic")), "/NDEATH/euromed"));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(last, "metrics"), 0), "value")), 1);
	json_decref(spb);

	/* the state file keeps the last bdSeq (1); the next run's session is bdSeq 2, and ends with
	 * a DDEATH per device (seq going on), then NDEATH */
	FILE *f = fopen(spbstate, "r");
	assert_non_null(f);
	char content[256];
	size_t got = fread(content, 1, sizeof content - 1, f);
	content[got] = 0;
	fclose(f);
	assert_string_equal(content, "fleetbench-sparkplug-state 1\nother euromed 77\nfleetbench euromed 1\n");
	snprintf(scenario, sizeof scenario,
	         "name: mqtt-spb2\nseed: 4\nstart: 2026-01-10T00:00:00+01:00\nduration: 20m\n"
	         "sites:\n  - {id: euromed, name: Euromed, lat: 43.3, lon: 5.37, radius: 500m}\n"
	         "transports:\n  mqtt:\n    url: mqtt://127.0.0.1:%u\n    version: 3.1.1\n"
	         "    connection: per-site\n"
	         "fleets:\n"
	         "  - {type: streetlight, count: 2, site: euromed, transport: mqtt, codec: sparkplug, interval: 5m}\n",
	         mopts.port);
	write_file("spb2.yaml", scenario);
	snprintf(log, sizeof log, "%s/spb2-sub.log", tmpdir);
	snprintf(yaml, sizeof yaml, "%s/spb2.yaml", tmpdir);
	start_subscriber(&sub, log);
	const char *argv2[] = { fleetbench, "run", yaml, "--out", trace, "--quiet", "--state", statef, NULL };
	assert_int_equal(fb_peer_run(argv2, 30000), 0);
	for (int k = 0; k < 500; k++) {
		n = read_messages(log, m, 500);
		if (n && strstr(m[n - 1].topic, "/NDEATH/"))
			break;
		usleep(10000);
	}
	fb_peer_stop(&sub, 2000);
	spb = sparkplug_decode(m, n);
	size_t ns = json_array_size(spb);
	assert_true(ns >= 6);
	json_t *nb = json_array_get(spb, 0), *nd = json_array_get(spb, ns - 1);
	assert_string_equal(json_string_value(json_object_get(nb, "topic")), "spBv1.0/fleetbench/NBIRTH/euromed");
	json_int_t bd = -1;
	json_array_foreach(json_object_get(nb, "metrics"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")), "bdSeq"))
			bd = json_integer_value(json_object_get(e, "value"));
	assert_int_equal(bd, 2);
	assert_string_equal(json_string_value(json_object_get(nd, "topic")), "spBv1.0/fleetbench/NDEATH/euromed");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(nd, "metrics"), 0), "value")), 2);
	const char *dd[2] = { json_string_value(json_object_get(json_array_get(spb, ns - 3), "topic")),
	                      json_string_value(json_object_get(json_array_get(spb, ns - 2), "topic")) };
	assert_non_null(strstr(dd[0], "spBv1.0/fleetbench/DDEATH/euromed/"));
	assert_non_null(strstr(dd[1], "spBv1.0/fleetbench/DDEATH/euromed/"));
	assert_string_not_equal(dd[0], dd[1]);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(spb, ns - 2), "seq")),
	                 (json_integer_value(json_object_get(json_array_get(spb, ns - 4), "seq")) + 2) % 256);
	json_decref(spb);
	f = fopen(spbstate, "r");
	assert_non_null(f);
	got = fread(content, 1, sizeof content - 1, f);
	content[got] = 0;
	fclose(f);
	assert_string_equal(content, "fleetbench-sparkplug-state 1\nother euromed 77\nfleetbench euromed 2\n");
	unlink(spbstate);
}

/* Nothing can connect: exit 1 with the cause named, after the run's bounded wait. */
static void unreachable_broker_fails_the_run(void **state)
{
	(void)state;
	char scenario[2048], yaml[512], out[512];
	snprintf(scenario, sizeof scenario,
	         "name: dead\nstart: 2026-01-10T00:00:00+01:00\nduration: 10m\n"
	         "sites:\n  - {id: s, name: S, lat: 43.3, lon: 5.37, radius: 500m}\n"
	         "transports:\n  mqtt:\n    url: mqtt://127.0.0.1:%u\n    qos: 0\n"
	         "    reconnect: {min: 50ms, max: 100ms}\n"
	         "fleets:\n  - {type: noise, count: 3, site: s, transport: mqtt}\n",
	         fb_peer_free_port(SOCK_STREAM));
	write_file("dead.yaml", scenario);
	snprintf(yaml, sizeof yaml, "%s/dead.yaml", tmpdir);
	snprintf(out, sizeof out, "%s/dead.out", tmpdir);
	struct fb_peer p;
	const char *argv[] = { fleetbench, "run", yaml, NULL };
	assert_int_equal(fb_peer_spawn(&p, argv, out), 0);
	assert_int_equal(fb_peer_wait_exit(&p, 30000), 1);
	assert_int_equal(fb_peer_wait_line(&p, "no connection to the broker succeeded", NULL, 0, 10), 0);
	p.log_offset = 0;
	assert_int_equal(fb_peer_wait_line(&p, "connection refused", NULL, 0, 10), 0);
}

static void bad_settings_are_located(void **state)
{
	(void)state;
	static const struct { const char *setting; const char *want; } t[] = {
		{ "    url: http://127.0.0.1:1\n", "bad.yaml:7:10: error:" },
		{ "    url: mqtt://127.0.0.1:1\n    qos: 3\n", "bad.yaml:8:10: error:" },
		{ "    url: mqtt://127.0.0.1:1\n    topik: x\n", "did you mean 'topic'?" },
		{ "    url: mqtt://127.0.0.1:1\n    topic: \"a/{devise}\"\n", "unknown placeholder '{devise}'" },
		{ "    url: mqtt://127.0.0.1:1\n    connection: shared\n    client_id: \"{device}\"\n",
		  "needs 'connection: per-device'" },
		{ "    url: mqtt://127.0.0.1:1\n    version: 4\n", "bad.yaml:8:14: error:" },
		{ "    url: mqtt://127.0.0.1:1\n    reconnect: {min: 5s, max: 1s}\n", "0 < min <= max" },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		char scenario[2048], yaml[512], out[512];
		snprintf(scenario, sizeof scenario,
		         "name: bad\nduration: 1h\nsites:\n  - {id: s, name: S, lat: 43.3, lon: 5.37, radius: 500m}\n"
		         "transports:\n  mqtt:\n%s"
		         "fleets:\n  - {type: noise, count: 1, site: s, transport: mqtt}\n", t[i].setting);
		write_file("bad.yaml", scenario);
		snprintf(yaml, sizeof yaml, "%s/bad.yaml", tmpdir);
		snprintf(out, sizeof out, "%s/bad.out", tmpdir);
		struct fb_peer p;
		const char *argv[] = { fleetbench, "run", yaml, NULL };
		assert_int_equal(fb_peer_spawn(&p, argv, out), 0);
		int rc = fb_peer_wait_exit(&p, 10000);
		char line[512];
		int found = fb_peer_wait_line(&p, t[i].want, line, sizeof line, 10);
		if (rc != 2 || found != 0)
			fail_msg("case %zu: exit %d, want 2 and a line with '%s'", i, rc, t[i].want);
	}
}

static int setup(void **state)
{
	(void)state;
	const char *b = getenv("B");
	snprintf(fleetbench, sizeof fleetbench, "%s/fleetbench", b && *b ? b : "build");
	if (access(fleetbench, X_OK) != 0) {
		fprintf(stderr, "'%s' is not built\n", fleetbench);
		return -1;
	}
	if (fb_peer_tmpdir("fb-mqtt-e2e", tmpdir, sizeof tmpdir))
		return -1;
	mopts = (struct fb_mosquitto_opts){ .dir = tmpdir };
	return fb_mosquitto_start(&broker, &mopts);
}

static int teardown(void **state)
{
	(void)state;
	fb_peer_stop(&broker, 3000);
	return fb_peer_rmtree(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_message_matches_the_trace),
		cmocka_unit_test(commands_reach_the_devices),
		cmocka_unit_test(sparkplug_bdseq_across_a_reconnect),
		cmocka_unit_test(unreachable_broker_fails_the_run),
		cmocka_unit_test(bad_settings_are_located),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
