/* `fleetbench validate` end to end. MQTT, against a real mosquitto on a free port: the
 * simulator's own devices (json, senml, ul, sparkplug) pass; devices with injected faults (the
 * scenario's faults: block: out of range, clock skew, reboot, malformed payloads) and a
 * hand-made publisher (mosquitto_pub) fail, each fault named by its check.
 * LoRaWAN, as the network server on a free UDP port with the keys `fleetbench keys` writes: a
 * simulated device passes; one whose duty cycle is switched off, and one whose first uplink
 * carries a broken MIC, fail on exactly that. Modbus,
 * polling the simulator's Modbus TCP server: devices pass with the type's map and with a
 * vendor's map file; one answering half its reads with exceptions, and one whose unit-code
 * register differs from the declared map, fail on their map; one serving CDAB passes with
 * --order CDAB and fails its range read as ABCD.
 *
 * One session in setup: every validate process starts and reports ready ("listening"), then a
 * publisher script and `fleetbench run --speed realtime` (one per LoRaWAN case, one for the MQTT
 * fleet) send for a while; each test then reads one validate's exit code and JSON report. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include "harness/peer.h"

static char fleetbench[256], tmpdir[256];
static struct fb_peer broker;
static struct fb_mosquitto_opts mopts;

/* One validate process: the device it listens to and what it was run with. */
struct case_ {
	const char *name;
	const char *type, *topic, *codec;
	const char *extra[6];          /* further options, NULL-terminated */
	const char *lorawan;           /* LoRaWAN: "on" or "off", the run's duty_cycle */
	const char *lorawan_faults;    /* LoRaWAN: the fleet's faults: list, or NULL */
	const char *modbus_unit;       /* Modbus: the unit id polled (NULL for both: MQTT) */
	const char *duration;          /* --duration (MQTT: 5s) */
	uint16_t udp_port;
	char scenario[300], keys[300];
	struct fb_peer peer, run;
	char report[300];
	int exit_code;
	json_t *json;
};

static struct case_ cases[] = {
	{ "clean-json", "noise", "v/noise-000000", "json", { "--interval", "1s" } },
	{ "clean-senml", "bike-counter", "v/bike-counter-000001", "senml", { "--interval", "1s" } },
	{ "clean-ul", "waste", "/ul/k1/waste-000002/attrs", "ul", { "--interval", "1s" } },
	{ "clean-sparkplug", "streetlight", "spBv1.0/#", "sparkplug", { "--interval", "1s" } },
	{ "out-of-range", "noise", "v/noise-000003", "json", { "--interval", "1s" } },
	/* wrong timestamps: the cadence is measured on arrival, where this machine's load shows */
	{ "clock-skew", "noise", "v/noise-000004", "json", { "--interval", "1s", "--tolerance", "100" } },
	{ "reboot", "noise", "v/noise-000005", "json", { "--interval", "1s" } },
	{ "slow", "noise", "v/noise-000006", "json", { "--interval", "1s" } },
	{ "malformed", "noise", "v/noise-000008", "json", { "--interval", "1s" } },
	{ "publisher", "bike-counter", "v/bike-counter-000099", "json", { "--interval", "1s" } },
	/* LoRaWAN cadence is measured on arrival (binary carries no time): a loaded machine's
	 * delays are allowed for. Seed 9 puts the device's first sample 30 ms after the start: it
	 * waits for the join (its uplink comes early, set aside), then 7 s and 14 s: one interval. */
	{ "lorawan-clean", "noise", NULL, "binary", { "--interval", "7s", "--tolerance", "20" },
	  .lorawan = "on", .duration = "16s" },
	{ "lorawan-duty-off", "noise", NULL, "binary", { "--interval", "1s", "--tolerance", "50" },
	  .lorawan = "off", .duration = "8s" },
	/* one uplink, amid others a second apart, goes out with a broken MIC (duty cycle off, so
	 * the run is short: that fails too) */
	{ "lorawan-bad-mic", "noise", NULL, "binary", { "--interval", "1s", "--tolerance", "50" },
	  .lorawan = "off", .lorawan_faults = "[{kind: bad_mic, from: 8s, for: 1s}]", .duration = "10s" },
	{ "modbus-clean", "water-level", NULL, NULL, { "--poll", "500ms" }, .modbus_unit = "1",
	  .duration = "4s" },
	{ "modbus-exceptions", "water-level", NULL, NULL, { "--poll", "500ms" }, .modbus_unit = "2",
	  .duration = "4s" },
	/* the vendor's declared map against a device configured for centimetres */
	{ "modbus-map-clean", "water-level", NULL, NULL,
	  { "--poll", "500ms", "--map", "fixtures/validate/level-map.yaml" }, .modbus_unit = "3",
	  .duration = "4s" },
	{ "modbus-unit-code", "water-level", NULL, NULL,
	  { "--poll", "500ms", "--map", "fixtures/validate/level-map.yaml" }, .modbus_unit = "4",
	  .duration = "4s" },
	/* a device serving its 32-bit registers low word first: read as it says, and as ABCD */
	{ "modbus-cdab", "water-level", NULL, NULL, { "--poll", "500ms", "--order", "CDAB" },
	  .modbus_unit = "5", .duration = "4s" },
	{ "modbus-cdab-as-abcd", "water-level", NULL, NULL, { "--poll", "500ms" },
	  .modbus_unit = "5", .duration = "4s" },
};
#define NCASES (sizeof cases / sizeof cases[0])

static struct case_ *case_named(const char *name)
{
	for (size_t i = 0; i < NCASES; i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	fail_msg("no case '%s'", name);
	return NULL;
}

static const char scenario_fmt[] =
	"name: validate-e2e\n"
	"seed: 7\n"
	"start: now\n"
	"duration: 7s\n"
	"sites:\n"
	"  - {id: s1, name: S1, lat: 43.3, lon: 5.37, radius: 100m}\n"
	"transports:\n"
	"  mqtt:\n"
	"    url: mqtt://127.0.0.1:%u\n"
	"    topic: \"v/{device}\"\n"
	"fleets:\n"
	"  - {type: noise, count: 1, site: s1, interval: 1s, transport: mqtt, codec: json}\n"
	"  - {type: bike-counter, count: 1, site: s1, interval: 1s, transport: mqtt, codec: senml}\n"
	"  - {type: waste, count: 1, site: s1, interval: 1s, transport: mqtt, codec: ul,\n"
	"     params: {apikey: k1}}\n"
	"  - {type: noise, count: 1, site: s1, interval: 1s, transport: mqtt, codec: json,\n"
	"     faults: [{kind: out_of_range, field: LAeq, rate: 0.5}]}\n"
	"  - {type: noise, count: 1, site: s1, interval: 1s, transport: mqtt, codec: json,\n"
	"     faults: [{kind: clock_skew, skew: 30s}]}\n"
	"  - {type: noise, count: 1, site: s1, interval: 1s, transport: mqtt, codec: json,\n"
	"     faults: [{kind: reboot, from: 3s}]}\n"
	"  - {type: noise, count: 1, site: s1, interval: 1500ms, transport: mqtt, codec: json}\n"
	"  - {type: streetlight, count: 1, site: s1, interval: 1s, transport: mqtt, codec: sparkplug}\n"
	"  - {type: noise, count: 1, site: s1, interval: 1s, transport: mqtt, codec: json,\n"
	"     faults: [{kind: malformed, mode: garbage, from: 0s, for: 1s}]}\n";

static const char lorawan_fmt[] =
	"name: validate-e2e-lorawan\n"
	"seed: 9\n"
	"start: now\n"
	"duration: 20s\n"
	"sites:\n"
	"  - {id: s1, name: S1, lat: 43.3, lon: 5.37, radius: 100m}\n"
	"transports:\n"
	"  lorawan:\n"
	"    server: udp://127.0.0.1:%u\n"
	"    duty_cycle: %s\n"
	"fleets:\n"
	"  - {type: noise, count: 1, site: s1, interval: %s, transport: lorawan, codec: binary%s%s}\n";

/* Water-level gauges behind one Modbus TCP port: units 1 and 2 with the type's map, the second
 * answering half its reads with an exception; units 3 and 4 with a vendor's map, the fourth
 * configured for centimetres (its unit-code register differs); unit 5 with the type's map in
 * CDAB word order. Map paths: from the repo root. */
static const char modbus_fmt[] =
	"name: validate-e2e-modbus\n"
	"seed: 13\n"
	"start: now\n"
	"duration: 9s\n"
	"sites:\n"
	"  - {id: s1, name: S1, lat: 43.3, lon: 5.37, radius: 100m}\n"
	"transports:\n"
	"  modbus:\n"
	"    listen: 127.0.0.1:%u\n"
	"fleets:\n"
	"  - {type: water-level, count: 1, site: s1, interval: 1s, transport: modbus}\n"
	"  - {type: water-level, count: 1, site: s1, interval: 1s, transport: modbus,\n"
	"     params: {modbus: {faults: {exception_rate: 0.5}}}}\n"
	"  - {type: water-level, count: 1, site: s1, interval: 1s, transport: modbus,\n"
	"     params: {modbus: {map: %s/fixtures/validate/level-map.yaml}}}\n"
	"  - {type: water-level, count: 1, site: s1, interval: 1s, transport: modbus,\n"
	"     params: {modbus: {map: %s/fixtures/validate/level-map-cm.yaml}}}\n"
	"  - {type: water-level, count: 1, site: s1, interval: 1s, transport: modbus,\n"
	"     params: {modbus: {word_order: CDAB}}}\n";
static uint16_t modbus_port;
static struct fb_peer modbus_run;

/* A bike counter by hand: a report a second (stamped on its schedule), its yearTotal falls once,
 * one garbage message. */
static const char publisher_fmt[] =
	"pub() { mosquitto_pub -h 127.0.0.1 -p %u -t v/bike-counter-000099 -m \"$1\"; }\n"
	"t0=$(date +%%s)\n"
	"for i in 0 1 2 3 4 5 6; do\n"
	"  y=$((500000 + i * 10)); [ $i = 3 ] && y=400000\n"
	"  ts=$(date -u -d \"@$((t0 + i))\" +%%Y-%%m-%%dT%%H:%%M:%%S.000Z)\n"
	"  pub \"$(printf '{\"id\":\"bike-counter-000099\",\"type\":\"TrafficFlowObserved\",\"seq\":%%d,\"ts\":\"%%s\",'\\\n"
	"'\"intensity\":3,\"intensityForward\":2,\"intensityBackward\":1,\"dailyTotal\":%%d,\"yearTotal\":%%d}' \\\n"
	"$i $ts $((40 + i)) $y)\"\n"
	"  [ $i = 2 ] && pub 'garbage{'\n"
	"  sleep 1\n"
	"done\n";

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* LoRaWAN: the case's scenario and the keys `fleetbench keys` writes for it. */
static int prepare_lorawan(struct case_ *c)
{
	char text[2048], cmd[1024];
	if (!(c->udp_port = fb_peer_free_port(SOCK_DGRAM)))
		return -1;
	snprintf(c->scenario, sizeof c->scenario, "%s/%s.yaml", tmpdir, c->name);
	snprintf(c->keys, sizeof c->keys, "%s/%s-keys.csv", tmpdir, c->name);
	snprintf(text, sizeof text, lorawan_fmt, c->udp_port, c->lorawan, c->extra[1],
	         c->lorawan_faults ? ", faults: " : "", c->lorawan_faults ? c->lorawan_faults : "");
	if (write_file(c->scenario, text))
		return -1;
	snprintf(cmd, sizeof cmd, "'%s' keys '%s' > '%s'", fleetbench, c->scenario, c->keys);
	const char *argv[] = { "sh", "-c", cmd, NULL };
	return fb_peer_run(argv, 10000) == 0 ? 0 : -1;
}

static int start_validate(struct case_ *c)
{
	char source[64], log[300];
	snprintf(c->report, sizeof c->report, "%s/%s.json", tmpdir, c->name);
	snprintf(log, sizeof log, "%s/%s.log", tmpdir, c->name);
	if (c->lorawan && prepare_lorawan(c))
		return -1;
	if (c->lorawan)
		snprintf(source, sizeof source, "127.0.0.1:%u", c->udp_port);
	else if (c->modbus_unit)
		snprintf(source, sizeof source, "127.0.0.1:%u", modbus_port);
	else
		snprintf(source, sizeof source, "mqtt://127.0.0.1:%u", mopts.port);
	const char *argv[24] = { fleetbench, "validate", "--type", c->type,
	                         c->lorawan ? "--lorawan-listen" : c->modbus_unit ? "--modbus" : "--mqtt",
	                         source,
	                         c->lorawan ? "--keys" : c->modbus_unit ? "--unit" : "--topic",
	                         c->lorawan ? c->keys : c->modbus_unit ? c->modbus_unit : c->topic,
	                         "--duration", c->duration ? c->duration : "5s",
	                         "--format", "json", "--out", c->report };
	size_t n = 14;
	if (c->codec) {
		argv[n++] = "--codec";
		argv[n++] = c->codec;
	}
	for (size_t i = 0; i < 6 && c->extra[i]; i++)
		argv[n++] = c->extra[i];
	argv[n] = NULL;
	if (fb_peer_spawn(&c->peer, argv, log))
		return -1;
	/* ready once its subscription (or UDP socket) is in place */
	return fb_peer_wait_line(&c->peer, "validate: listening for", NULL, 0, 10000);
}

static int session(void)
{
	/* the Modbus devices first: the pollers connect to them */
	char mpath[300], mtext[4096], mlog[300];
	if (!(modbus_port = fb_peer_free_port(SOCK_STREAM)))
		return -1;
	snprintf(mpath, sizeof mpath, "%s/modbus.yaml", tmpdir);
	char cwd[200];
	if (!getcwd(cwd, sizeof cwd))
		return -1;
	snprintf(mtext, sizeof mtext, modbus_fmt, modbus_port, cwd, cwd);
	snprintf(mlog, sizeof mlog, "%s/modbus-run.log", tmpdir);
	const char *margv[] = { fleetbench, "run", mpath, "--speed", "realtime", NULL };
	if (write_file(mpath, mtext) || fb_peer_spawn(&modbus_run, margv, mlog) ||
	    fb_peer_wait_tcp(&modbus_run, "127.0.0.1", modbus_port, 10000))
		return -1;
	/* Each validate's window opens when it is ready, so each starts just before its traffic:
	 * the Modbus pollers while the Modbus run serves, each LoRaWAN endpoint right before its
	 * run, the MQTT subscribers right before the MQTT run and the publisher. */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < NCASES; i++) {
			struct case_ *c = &cases[i];
			int kind = c->modbus_unit ? 0 : c->lorawan ? 1 : 2;
			if (kind != pass)
				continue;
			if (start_validate(c)) {
				fprintf(stderr, "validate '%s' did not start listening\n", c->name);
				return -1;
			}
			if (!c->lorawan)
				continue;
			const char *argv[] = { fleetbench, "run", c->scenario, "--speed", "realtime", "--quiet",
			                       NULL };
			char log[300];
			snprintf(log, sizeof log, "%s/%s-run.log", tmpdir, c->name);
			if (fb_peer_spawn(&c->run, argv, log))
				return -1;
		}
	}
	char path[300], text[4096];
	snprintf(path, sizeof path, "%s/publisher.sh", tmpdir);
	snprintf(text, sizeof text, publisher_fmt, mopts.port);
	if (write_file(path, text))
		return -1;
	struct fb_peer publisher;
	const char *pargv[] = { "sh", path, NULL };
	char plog[300];
	snprintf(plog, sizeof plog, "%s/publisher.log", tmpdir);
	if (fb_peer_spawn(&publisher, pargv, plog))
		return -1;
	snprintf(path, sizeof path, "%s/scenario.yaml", tmpdir);
	snprintf(text, sizeof text, scenario_fmt, mopts.port);
	if (write_file(path, text))
		return -1;
	const char *rargv[] = { fleetbench, "run", path, "--speed", "realtime", "--quiet", NULL };
	int run_rc = fb_peer_run(rargv, 30000);
	int pub_rc = fb_peer_wait_exit(&publisher, 30000);
	int modbus_rc = fb_peer_wait_exit(&modbus_run, 30000);
	if (modbus_rc != 0) {
		fprintf(stderr, "the Modbus run exited %d\n", modbus_rc);
		return -1;
	}
	fb_peer_stop(&publisher, 1000);
	if (run_rc != 0 || pub_rc != 0) {
		fprintf(stderr, "run exited %d, publisher %d\n", run_rc, pub_rc);
		return -1;
	}
	for (size_t i = 0; i < NCASES; i++) {
		struct case_ *c = &cases[i];
		if (c->lorawan && (run_rc = fb_peer_wait_exit(&c->run, 40000)) != 0) {
			fprintf(stderr, "'%s': run exited %d\n", c->name, run_rc);
			return -1;
		}
		c->exit_code = fb_peer_wait_exit(&c->peer, 40000);
		fb_peer_stop(&c->peer, 1000);
		json_error_t err;
		c->json = json_load_file(c->report, 0, &err);
		if (!c->json)
			fprintf(stderr, "validate '%s' (exit %d): no report: %s\n", c->name, c->exit_code, err.text);
	}
	return 0;
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
	if (fb_peer_tmpdir("fb-validate-e2e", tmpdir, sizeof tmpdir))
		return -1;
	mopts = (struct fb_mosquitto_opts){ .dir = tmpdir };
	if (fb_mosquitto_start(&broker, &mopts))
		return -1;
	return session();
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCASES; i++) {
		fb_peer_stop(&cases[i].peer, 1000);
		fb_peer_stop(&cases[i].run, 1000);
		json_decref(cases[i].json);
	}
	fb_peer_stop(&modbus_run, 1000);
	fb_peer_stop(&broker, 3000);
	if (getenv("FB_KEEP"))
		return 0;
	return fb_peer_rmtree(tmpdir);
}

static json_t *check_of(struct case_ *c, const char *name)
{
	json_t *checks = json_object_get(c->json, "checks");
	for (size_t i = 0; i < json_array_size(checks); i++) {
		json_t *k = json_array_get(checks, i);
		if (!strcmp(json_string_value(json_object_get(k, "name")), name))
			return k;
	}
	return NULL;
}

/* The case's report: exit code as its verdict, the named checks failed (with `needle` in the
 * first one's measurement), every other check passed, and each check in `must_run` ran. */
static void assert_report(const char *name, const char *const *failing, const char *needle,
                          const char *const *must_run)
{
	struct case_ *c = case_named(name);
	if (!c->json)
		fail_msg("validate '%s' wrote no report (exit %d)", name, c->exit_code);
	json_t *checks = json_object_get(c->json, "checks");
	assert_true(json_array_size(checks) >= 2);
	size_t nfail = 0;
	for (size_t i = 0; failing && failing[i]; i++)
		nfail++;
	for (size_t i = 0; i < json_array_size(checks); i++) {
		json_t *k = json_array_get(checks, i);
		const char *cn = json_string_value(json_object_get(k, "name"));
		bool failed = !strcmp(json_string_value(json_object_get(k, "status")), "fail");
		bool expect = false;
		for (size_t j = 0; j < nfail; j++)
			expect |= !strcmp(failing[j], cn);
		if (failed != expect)
			fail_msg("'%s': check '%s' %s: %s (expected: %s)", name, cn, failed ? "failed" : "passed",
			         json_string_value(json_object_get(k, "measured")),
			         json_string_value(json_object_get(k, "expected")));
	}
	for (size_t i = 0; must_run && must_run[i]; i++)
		if (!check_of(c, must_run[i]))
			fail_msg("'%s': check '%s' did not run", name, must_run[i]);
	if (nfail) {
		const char *m = json_string_value(json_object_get(check_of(c, failing[0]), "measured"));
		if (needle && !strstr(m, needle))
			fail_msg("'%s': check '%s' measured '%s', lacking '%s'", name, failing[0], m, needle);
	}
	assert_int_equal(c->exit_code, nfail ? 3 : 0);
	assert_string_equal(json_string_value(json_object_get(c->json, "verdict")), nfail ? "fail" : "pass");
}

static void simulated_json_device_passes(void **state)
{
	(void)state;
	static const char *const run[] = { "traffic", "decode", "fields", "range", "resolution",
		"interval", "jitter", "timestamps", "sequence", NULL };
	assert_report("clean-json", NULL, NULL, run);
	/* at least three reports a second apart were seen from the one device */
	json_t *dev = json_array_get(json_object_get(case_named("clean-json")->json, "devices"), 0);
	assert_string_equal(json_string_value(json_object_get(dev, "id")), "noise-000000");
	assert_true(json_integer_value(json_object_get(dev, "reports")) >= 3);
}

static void simulated_senml_counter_passes(void **state)
{
	(void)state;
	/* senml: units carried and checked by the decoder; the totals are counters */
	static const char *const run[] = { "fields", "counters", "timestamps", "interval", NULL };
	assert_report("clean-senml", NULL, NULL, run);
}

static void simulated_ul_device_passes(void **state)
{
	(void)state;
	static const char *const run[] = { "fields", "range", "timestamps", "interval", NULL };
	assert_report("clean-ul", NULL, NULL, run);
}

static void simulated_sparkplug_device_passes(void **state)
{
	(void)state;
	/* DBIRTH with every metric, then DDATA with what changed: complete */
	static const char *const run[] = { "fields", "range", "timestamps", "interval", NULL };
	assert_report("clean-sparkplug", NULL, NULL, run);
}

static void out_of_range_values_are_caught(void **state)
{
	(void)state;
	static const char *const failing[] = { "range", NULL };
	assert_report("out-of-range", failing, "'LAeq' = ", NULL);
}

static void clock_skew_is_caught(void **state)
{
	(void)state;
	static const char *const failing[] = { "timestamps", NULL };
	assert_report("clock-skew", failing, "ahead of the bench's clock", NULL);
}

static void reboot_seq_restart_is_caught(void **state)
{
	(void)state;
	static const char *const failing[] = { "sequence", NULL };
	assert_report("reboot", failing, "seq 0 from 'noise-000005' after seq", NULL);
}

static void wrong_interval_is_caught(void **state)
{
	(void)state;
	static const char *const failing[] = { "interval", "jitter", NULL };
	assert_report("slow", failing, "median 1.50", NULL);
}

static void malformed_payload_is_caught(void **state)
{
	(void)state;
	/* the first report (inside the fault's first second) arrives as garbage */
	static const char *const failing[] = { "decode", NULL };
	assert_report("malformed", failing, "1 of ", NULL);
	const char *m = json_string_value(json_object_get(check_of(case_named("malformed"), "decode"),
	                                                  "measured"));
	assert_non_null(strstr(m, "undecodable payload from 'v/noise-000008'"));
}

static void hand_made_faults_are_caught(void **state)
{
	(void)state;
	static const char *const failing[] = { "decode", "counters", NULL };
	assert_report("publisher", failing, "undecodable payload from 'v/bike-counter-000099'", NULL);
	const char *m = json_string_value(json_object_get(check_of(case_named("publisher"), "counters"),
	                                                  "measured"));
	assert_non_null(strstr(m, "'yearTotal' of 'bike-counter-000099' fell from 500020 count to 400000 count"));
}

static void simulated_lorawan_device_passes(void **state)
{
	(void)state;
	static const char *const run[] = { "traffic", "decode", "fields", "range", "resolution",
		"interval", "jitter", "mic", "fcnt", "devnonce", "duty-cycle", NULL };
	assert_report("lorawan-clean", NULL, NULL, run);
	/* the join was seen and answered: the reports that followed decrypted */
	assert_true(json_integer_value(json_object_get(case_named("lorawan-clean")->json, "joins")) >= 1);
}

static void lorawan_duty_cycle_off_is_caught(void **state)
{
	(void)state;
	/* one SF7 frame a second: about 6 % of the time on air */
	static const char *const failing[] = { "duty-cycle", NULL };
	assert_report("lorawan-duty-off", failing, "% on air over", NULL);
}

static void simulated_modbus_device_passes(void **state)
{
	(void)state;
	static const char *const run[] = { "traffic", "decode", "fields", "range", "resolution", "map",
		NULL };
	assert_report("modbus-clean", NULL, NULL, run);
	json_t *k = check_of(case_named("modbus-clean"), "traffic");
	assert_non_null(strstr(json_string_value(json_object_get(k, "measured")), "polls from 1 device"));
}

static void modbus_exceptions_fail_the_map(void **state)
{
	(void)state;
	static const char *const failing[] = { "map", NULL };
	assert_report("modbus-exceptions", failing, "exception from unit 'water-level-000000'", NULL);
	/* the value checks look only at what was read (said "not checked" when nothing was) */
	json_t *nc = json_object_get(case_named("modbus-exceptions")->json, "not_checked");
	for (size_t i = 0; i < json_array_size(nc); i++)
		assert_string_not_equal(json_string_value(json_object_get(json_array_get(nc, i), "name")), "map");
}

static void modbus_declared_map_passes(void **state)
{
	(void)state;
	static const char *const run[] = { "map", "range", "resolution", NULL };
	assert_report("modbus-map-clean", NULL, NULL, run);
}

static void modbus_wrong_unit_code_fails_the_map(void **state)
{
	(void)state;
	static const char *const failing[] = { "map", NULL };
	assert_report("modbus-unit-code", failing, "a constant register reads another value", NULL);
}

static void modbus_word_order_is_taken(void **state)
{
	(void)state;
	/* --order CDAB reads the device right: every check passes, its identity registers (which
	 * name the simulated device) not held against it */
	static const char *const run[] = { "map", "range", "resolution", NULL };
	assert_report("modbus-cdab", NULL, NULL, run);
}

static void modbus_wrong_word_order_is_caught(void **state)
{
	(void)state;
	/* the same device read high word first: its float32 height (a tiny number, in range) and
	 * its scaled uint16 copy disagree poll after poll, which fails the map */
	static const char *const failing[] = { "map", NULL };
	assert_report("modbus-cdab-as-abcd", failing, "'height' reads ", NULL);
	const char *m = json_string_value(json_object_get(check_of(case_named("modbus-cdab-as-abcd"),
	                                                           "map"), "measured"));
	assert_non_null(strstr(m, "two polls running: a word order or scale other than the map's?"));
}

static void lorawan_bad_mic_is_caught(void **state)
{
	(void)state;
	static const char *const failing[] = { "mic", "duty-cycle", NULL };
	assert_report("lorawan-bad-mic", failing, "1 of ", NULL);
	const char *m = json_string_value(json_object_get(check_of(case_named("lorawan-bad-mic"), "mic"),
	                                                  "measured"));
	assert_non_null(strstr(m, "MIC does not verify"));
	/* the unreadable uplink is a missing report to the cadence, not jitter */
	m = json_string_value(json_object_get(check_of(case_named("lorawan-bad-mic"), "jitter"), "measured"));
	assert_non_null(strstr(m, "1 report missing"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(simulated_json_device_passes),
		cmocka_unit_test(simulated_senml_counter_passes),
		cmocka_unit_test(simulated_ul_device_passes),
		cmocka_unit_test(simulated_sparkplug_device_passes),
		cmocka_unit_test(out_of_range_values_are_caught),
		cmocka_unit_test(clock_skew_is_caught),
		cmocka_unit_test(reboot_seq_restart_is_caught),
		cmocka_unit_test(wrong_interval_is_caught),
		cmocka_unit_test(malformed_payload_is_caught),
		cmocka_unit_test(hand_made_faults_are_caught),
		cmocka_unit_test(simulated_lorawan_device_passes),
		cmocka_unit_test(lorawan_duty_cycle_off_is_caught),
		cmocka_unit_test(lorawan_bad_mic_is_caught),
		cmocka_unit_test(simulated_modbus_device_passes),
		cmocka_unit_test(modbus_exceptions_fail_the_map),
		cmocka_unit_test(modbus_declared_map_passes),
		cmocka_unit_test(modbus_wrong_unit_code_fails_the_map),
		cmocka_unit_test(modbus_word_order_is_taken),
		cmocka_unit_test(modbus_wrong_word_order_is_caught),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
