/* `fleetbench validate`: the bench plays the platform for a real device. It attaches one
 * collector (harness/collect.h) to the device's side of the wire, feeds every observation to the
 * conformance checks (harness/validate.c) for the duration, then writes the report. Exit 0 when
 * every check passed, 3 when one failed, 2 for usage, 1 when the collector cannot run. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <ev.h>
#include "harness/cli.h"
#include "harness/validate.h"
#include "protocols/codec.h"
#include "protocols/modbus/regmap.h"
#include "sim/log.h"
#include "sim/scenario.h"
#include "sim/tz.h"

static const char validate_usage[] =
"usage: fleetbench validate --type TYPE SOURCE [options]\n"
"\n"
"Plays the platform for a real device for a while and checks its traffic against the type's\n"
"profile (`fleetbench types TYPE`): payloads decode, every field present and typed (SenML: in\n"
"its unit), values in range and at the field's resolution, reporting interval and jitter,\n"
"counters monotonic, timestamps sane; LoRaWAN: MIC, FCnt, DevNonce, duty cycle; Modbus: the map\n"
"readable with its declared types. Prints one line per check: PASS or FAIL, what was measured,\n"
"what was expected.\n"
"\n"
"SOURCE, one of\n"
"  --mqtt URL              subscribe at mqtt://host:port (mqtts:// for TLS)\n"
"    --topic FILTER        topic filter the device publishes under (default '#')\n"
"    --codec NAME          json (default), senml, ul, fiware-json, sparkplug\n"
"    --ca FILE --cert FILE --key FILE   TLS trust and client certificate\n"
"    --username U --password P\n"
"  --lorawan-listen HOST:PORT   be the network server: Semtech UDP from the device's gateway\n"
"    --keys FILE           device keys, as `fleetbench keys` writes them (csv)\n"
"    --codec NAME          binary (default) or lpp\n"
"  --modbus HOST:PORT      poll the device's Modbus TCP server\n"
"    --unit N              unit id (default 1)\n"
"    --map FILE            register map (YAML, see fixtures/modbus/); default: the type's map\n"
"    --order ORDER         word order of 32-bit values: ABCD (default, high word first), CDAB\n"
"                          (low word first), BADC, DCBA; a --map file's word_order wins\n"
"    --poll D              poll every D (default 1s)\n"
"\n"
"options\n"
"  --type TYPE             the sensor type the device claims to be (required)\n"
"  --scenario FILE         take user-defined types from this scenario's 'types:'\n"
"  --duration D            how long to listen (default 5m); Ctrl-C ends early with a report\n"
"  --interval D            the device's configured reporting interval (default: the type's)\n"
"  --tolerance PCT         interval and jitter tolerance, in % of the interval (default 5)\n"
"  --skew D                how far a timestamp may be ahead of the bench's clock (default 2s)\n"
"  --timezone TZ           local midnight for daily counters (default Europe/Paris)\n"
"  --counter FIELD[:KIND]  treat FIELD as a counter: total (default), daily, yearly, none\n"
"  --format FMT            text (default), json or junit\n"
"  --out FILE              write the report to FILE (default: standard output)\n"
"  --print-profile         print the profile the device is held to, and exit\n"
"  --quiet                 no progress on standard error\n"
"\n"
"Exit codes: 0 every check passed, 1 runtime failure (cannot listen or connect), 2 usage,\n"
"3 a check failed.\n";

enum {
	O_TYPE = 256, O_SCENARIO, O_MQTT, O_TOPIC, O_CODEC, O_CA, O_CERT, O_KEY, O_USER, O_PASS,
	O_LORAWAN, O_KEYS, O_MODBUS, O_UNIT, O_MAP, O_ORDER, O_POLL, O_DURATION, O_INTERVAL,
	O_TOLERANCE, O_SKEW, O_TIMEZONE, O_COUNTER, O_FORMAT, O_OUT, O_PRINT_PROFILE, O_QUIET
};

#define MAX_COUNTERS 16

struct vopts {
	const char *type, *scenario;
	const char *proto;                 /* "mqtt", "lorawan", "modbus" */
	struct fb_collect_cfg cfg;
	const char *order;
	fb_time_us duration, interval, skew, poll;
	bool interval_set, skew_set;
	double tolerance;                  /* fraction; < 0: default */
	const char *timezone;
	const char *counters[MAX_COUNTERS];
	size_t ncounters;
	enum fb_validate_format format;
	const char *out;
	bool print_profile, quiet;
};

static int usage_error(const char *fmt, const char *arg)
{
	fb_error(fmt, arg);
	fputs("try 'fleetbench validate --help'\n", stderr);
	return -1;
}

static int set_source(struct vopts *o, const char *proto, const char *opt)
{
	if (o->proto && strcmp(o->proto, proto))
		return usage_error("only one source: %s and an earlier --mqtt, --lorawan-listen or "
		                   "--modbus exclude each other", opt);
	o->proto = proto;
	return 0;
}

static int parse_args(struct vopts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "type", required_argument, NULL, O_TYPE },
		{ "scenario", required_argument, NULL, O_SCENARIO },
		{ "mqtt", required_argument, NULL, O_MQTT },
		{ "topic", required_argument, NULL, O_TOPIC },
		{ "codec", required_argument, NULL, O_CODEC },
		{ "ca", required_argument, NULL, O_CA },
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "username", required_argument, NULL, O_USER },
		{ "password", required_argument, NULL, O_PASS },
		{ "lorawan-listen", required_argument, NULL, O_LORAWAN },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "modbus", required_argument, NULL, O_MODBUS },
		{ "unit", required_argument, NULL, O_UNIT },
		{ "map", required_argument, NULL, O_MAP },
		{ "order", required_argument, NULL, O_ORDER },
		{ "poll", required_argument, NULL, O_POLL },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "tolerance", required_argument, NULL, O_TOLERANCE },
		{ "skew", required_argument, NULL, O_SKEW },
		{ "timezone", required_argument, NULL, O_TIMEZONE },
		{ "counter", required_argument, NULL, O_COUNTER },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "out", required_argument, NULL, O_OUT },
		{ "print-profile", no_argument, NULL, O_PRINT_PROFILE },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	memset(o, 0, sizeof *o);
	o->duration = 5 * FB_US_PER_MIN;
	o->poll = FB_US_PER_S;
	o->tolerance = -1;
	o->cfg.unit = 1;
	opterr = 0;
	optind = 1;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_TYPE: o->type = optarg; break;
		case O_SCENARIO: o->scenario = optarg; break;
		case O_MQTT:
			if (strncmp(optarg, "mqtt://", 7) && strncmp(optarg, "mqtts://", 8))
				return usage_error("invalid --mqtt '%s': expected mqtt://host:port or "
				                   "mqtts://host:port", optarg);
			if (set_source(o, "mqtt", "--mqtt"))
				return -1;
			o->cfg.url = optarg;
			break;
		case O_TOPIC: o->cfg.topic_filter = optarg; break;
		case O_CODEC: o->cfg.codec = optarg; break;
		case O_CA: o->cfg.ca = optarg; break;
		case O_CERT: o->cfg.cert = optarg; break;
		case O_KEY: o->cfg.key = optarg; break;
		case O_USER: o->cfg.username = optarg; break;
		case O_PASS: o->cfg.password = optarg; break;
		case O_LORAWAN:
			if (!strchr(optarg, ':'))
				return usage_error("invalid --lorawan-listen '%s': expected HOST:PORT "
				                   "(e.g. 0.0.0.0:1700)", optarg);
			if (set_source(o, "lorawan", "--lorawan-listen"))
				return -1;
			o->cfg.listen = optarg;
			break;
		case O_KEYS: o->cfg.keys_file = optarg; break;
		case O_MODBUS:
			if (!strchr(optarg, ':'))
				return usage_error("invalid --modbus '%s': expected HOST:PORT (e.g. 192.0.2.10:502)",
				                   optarg);
			if (set_source(o, "modbus", "--modbus"))
				return -1;
			o->cfg.target = optarg;
			break;
		case O_UNIT: {
			errno = 0;
			long u = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || u < 0 || u > 255)
				return usage_error("invalid --unit '%s': expected a unit id from 0 to 255", optarg);
			o->cfg.unit = (int)u;
			break;
		}
		case O_MAP: o->cfg.map_file = optarg; break;
		case O_ORDER: {
			enum fb_mb_order order;
			if (fb_mb_order_parse(optarg, &order) < 0)
				return usage_error("invalid --order '%s': expected ABCD, CDAB, BADC or DCBA", optarg);
			o->order = o->cfg.order = optarg;
			break;
		}
		case O_POLL: if (fb_cli_duration("--poll", optarg, &o->poll)) return -1; break;
		case O_DURATION: if (fb_cli_duration("--duration", optarg, &o->duration)) return -1; break;
		case O_INTERVAL:
			if (fb_cli_duration("--interval", optarg, &o->interval))
				return -1;
			o->interval_set = true;
			break;
		case O_TOLERANCE:
			errno = 0;
			o->tolerance = strtod(optarg, &end);
			if (errno || end == optarg || (*end && strcmp(end, "%")) || !(o->tolerance > 0) ||
			    o->tolerance > 100)
				return usage_error("invalid --tolerance '%s': expected a percentage above 0, up "
				                   "to 100 (e.g. 5 or 2.5%%)", optarg);
			o->tolerance /= 100;
			break;
		case O_SKEW:
			if (fb_parse_duration(optarg, &o->skew))
				return usage_error("invalid --skew '%s': expected a duration like 500ms or 2s", optarg);
			o->skew_set = true;
			break;
		case O_TIMEZONE:
			if (!fb_tz_exists(optarg))
				return usage_error("unknown time zone '%s' (a tz database name like Europe/Paris)",
				                   optarg);
			o->timezone = optarg;
			break;
		case O_COUNTER:
			if (o->ncounters == MAX_COUNTERS)
				return usage_error("too many --counter options (at most %s)", "16");
			o->counters[o->ncounters++] = optarg;
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "text"))
				o->format = FB_VALIDATE_TEXT;
			else if (!strcmp(optarg, "json"))
				o->format = FB_VALIDATE_JSON;
			else if (!strcmp(optarg, "junit"))
				o->format = FB_VALIDATE_JUNIT;
			else
				return usage_error("invalid --format '%s': expected text, json or junit", optarg);
			break;
		case O_OUT: o->out = optarg; break;
		case O_PRINT_PROFILE: o->print_profile = true; break;
		case O_QUIET: o->quiet = true; break;
		case 'h': fputs(validate_usage, stdout); exit(FB_EXIT_OK);
		case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->type)
		return usage_error("missing --type (the sensor type the device claims to be%s)", ", e.g. noise");
	if (!o->proto && !o->print_profile)
		return usage_error("missing a source: %s", "--mqtt URL, --lorawan-listen HOST:PORT or "
		                   "--modbus HOST:PORT");
	/* options that belong to another source */
	const char *stray = NULL;
	if (o->proto && strcmp(o->proto, "mqtt") &&
	    (o->cfg.topic_filter || o->cfg.ca || o->cfg.cert || o->cfg.key || o->cfg.username))
		stray = "--topic, --ca, --cert, --key and --username go with --mqtt";
	else if (o->proto && strcmp(o->proto, "lorawan") && o->cfg.keys_file)
		stray = "--keys goes with --lorawan-listen";
	else if (o->proto && strcmp(o->proto, "modbus") && (o->cfg.map_file || o->order))
		stray = "--map and --order go with --modbus";
	else if (o->proto && !strcmp(o->proto, "modbus") && o->cfg.codec)
		stray = "--codec does not apply to --modbus (the register map gives the types)";
	if (stray)
		return usage_error("%s", stray);
	if (o->proto && !strcmp(o->proto, "lorawan") && !o->cfg.keys_file)
		return usage_error("--lorawan-listen needs --keys FILE (%s)", "the device's keys, as "
		                   "`fleetbench keys` writes them");
	if (o->proto && !strcmp(o->proto, "mqtt") && !o->cfg.topic_filter)
		o->cfg.topic_filter = "#";
	if (o->proto && strcmp(o->proto, "modbus") && !o->cfg.codec)
		o->cfg.codec = !strcmp(o->proto, "mqtt") ? "json" : "binary";
	if (o->cfg.codec) {
		static const char *const mqtt_codecs[] = { "json", "senml", "ul", "fiware-json", "sparkplug", NULL };
		static const char *const lorawan_codecs[] = { "binary", "lpp", NULL };
		const char *const *ok = !strcmp(o->proto, "mqtt") ? mqtt_codecs : lorawan_codecs;
		bool found = false;
		for (size_t i = 0; ok[i]; i++)
			found |= !strcmp(ok[i], o->cfg.codec);
		if (!found) {
			const char *s = fb_suggest(o->cfg.codec, ok);
			fb_error("codec '%s' is not carried over %s%s%s%s", o->cfg.codec, o->proto,
			         s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
			fputs("try 'fleetbench validate --help'\n", stderr);
			return -1;
		}
	}
	return 0;
}

/* The type by name: built-in, or user-defined in --scenario. */
static const struct fb_model *find_type(const char *name, const struct fb_scenario *sc)
{
	if (sc)
		for (size_t i = 0; i < sc->ntypes; i++)
			if (!strcmp(sc->types[i]->name, name))
				return sc->types[i];
	const struct fb_model *m = fb_model_find(name);
	if (m)
		return m;
	const char *names[64];
	size_t n = 0;
	for (size_t i = 0; fb_builtin_models[i] && n < 48; i++)
		names[n++] = fb_builtin_models[i]->name;
	for (size_t i = 0; sc && i < sc->ntypes && n < 63; i++)
		names[n++] = sc->types[i]->name;
	names[n] = NULL;
	const char *s = fb_suggest(name, names);
	const char *user = sc ? "" : "a user-defined type needs --scenario FILE";
	if (s)
		fb_error("unknown type '%s' (did you mean '%s'?%s%s)", name, s, *user ? " " : "", user);
	else
		fb_error("unknown type '%s' (`fleetbench types` lists them%s%s)", name, *user ? "; " : "", user);
	return NULL;
}

struct vrun {
	struct ev_loop *loop;
	const struct vopts *o;
	const struct fb_collector_ops *ops;
	struct fb_collector *col;
	struct fb_validate *v;
	ev_timer ready_timer, end_timer, drain_timer;
	ev_signal sigint, sigterm;
	fb_time_us ready_deadline, started, ended, drain_started;
	bool observing, failed, interrupted, progress;
	uint64_t last_count;
};

static fb_time_us wall_identity(void *arg, fb_time_us t)
{
	(void)arg;
	return t;     /* validate has no virtual time: the device lives in wall time */
}

static void finish_observing(struct vrun *r)
{
	if (!r->observing)
		return;
	r->observing = false;
	r->ended = fb_wall_now_us();
	ev_timer_stop(r->loop, &r->end_timer);
	r->drain_started = r->ended;
	ev_timer_start(r->loop, &r->drain_timer);
}

static void drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct vrun *r = (struct vrun *)((char *)w - offsetof(struct vrun, drain_timer));
	/* A real device keeps sending: only what is already in flight is worth a short wait. */
	fb_time_us grace = 500 * FB_US_PER_MS;
	bool done = r->ops->drain ? r->ops->drain(r->col, grace) : true;
	if (done || fb_wall_now_us() - r->drain_started > grace + FB_US_PER_S) {
		ev_timer_stop(loop, w);
		ev_break(loop, EVBREAK_ALL);
	}
}

static void end_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)revents;
	struct vrun *r = (struct vrun *)((char *)w - offsetof(struct vrun, end_timer));
	finish_observing(r);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	struct vrun *r = w->data;
	r->interrupted = true;
	if (r->observing) {
		if (r->progress && r->last_count)
			fputs("\n", stderr);
		r->last_count = 0;
		fb_info("validate: interrupted, reporting what was observed");
		finish_observing(r);
	} else {
		ev_break(loop, EVBREAK_ALL);   /* still waiting for the collector, or a second ^C */
	}
}

static void ready_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct vrun *r = (struct vrun *)((char *)w - offsetof(struct vrun, ready_timer));
	if (r->observing) {
		/* progress, once a second */
		uint64_t n = fb_validate_observations(r->v);
		if (r->progress && n != r->last_count) {
			double left = (double)(r->started + r->o->duration - fb_wall_now_us()) / FB_US_PER_S;
			fprintf(stderr, "\rvalidate: %llu message%s observed, %.0f s to go  ",
			        (unsigned long long)n, n == 1 ? "" : "s", left > 0 ? left : 0);
			r->last_count = n;
		}
		return;
	}
	if (r->ops->ready(r->col)) {
		r->observing = true;
		r->started = fb_wall_now_us();
		ev_timer_set(&r->end_timer, (double)r->o->duration / FB_US_PER_S, 0);
		ev_timer_start(loop, &r->end_timer);
		ev_timer_set(w, 1.0, 1.0);
		ev_timer_again(loop, w);
		char d[32];
		fb_format_duration(r->o->duration, d, sizeof d);
		fb_info("validate: listening for %s", d);
		return;
	}
	if (fb_wall_now_us() > r->ready_deadline) {
		fb_error("the %s collector is not ready after 10 s (cannot %s)", r->o->proto,
		         !strcmp(r->o->proto, "mqtt") ? "connect and subscribe" :
		         !strcmp(r->o->proto, "lorawan") ? "bind the UDP port" : "reach the Modbus server");
		r->failed = true;
		ev_break(loop, EVBREAK_ALL);
	}
}

static int observe(struct vrun *r, const struct fb_model *m)
{
	struct fb_collect_env env = {
		.loop = r->loop,
		.scenario = NULL,
		.model = m,
		.first_device = 0,
		.device_count = UINT32_MAX,
		.sink = fb_validate_observe,
		.sink_arg = r->v,
		.wall_of = wall_identity,
	};
	if (!(r->col = r->ops->create(&env, &r->o->cfg)))
		return -1;
	if (r->ops->start(r->col))
		return -1;
	r->ready_deadline = fb_wall_now_us() + 10 * FB_US_PER_S;
	ev_timer_init(&r->ready_timer, ready_cb, 0.01, 0.01);
	ev_timer_init(&r->end_timer, end_cb, 0, 0);
	ev_timer_init(&r->drain_timer, drain_cb, 0.01, 0.01);
	ev_signal_init(&r->sigint, signal_cb, SIGINT);
	ev_signal_init(&r->sigterm, signal_cb, SIGTERM);
	r->sigint.data = r->sigterm.data = r;
	ev_timer_start(r->loop, &r->ready_timer);
	ev_signal_start(r->loop, &r->sigint);
	ev_signal_start(r->loop, &r->sigterm);
	ev_run(r->loop, 0);
	ev_timer_stop(r->loop, &r->ready_timer);
	ev_timer_stop(r->loop, &r->end_timer);
	ev_timer_stop(r->loop, &r->drain_timer);
	ev_signal_stop(r->loop, &r->sigint);
	ev_signal_stop(r->loop, &r->sigterm);
	if (r->progress && r->last_count)
		fputs("\n", stderr);
	if (r->failed || !r->started)
		return -1;
	return 0;
}

static int write_report(struct fb_validate *v, const struct vopts *o)
{
	FILE *out = stdout;
	if (o->out && strcmp(o->out, "-") && !(out = fopen(o->out, "w")))
		return fb_error("cannot write the report '%s': %s", o->out, strerror(errno));
	int rc = fb_validate_write(v, o->format, out);
	if (out != stdout) {
		if (fclose(out))
			rc = -1;
	} else {
		fflush(out);
	}
	if (rc)
		return fb_error("cannot write the report '%s': %s", o->out ? o->out : "stdout", strerror(errno));
	return 0;
}

static void source_text(const struct vopts *o, char *buf, size_t cap)
{
	if (!strcmp(o->proto, "mqtt"))
		snprintf(buf, cap, "%s topic '%s'", o->cfg.url, o->cfg.topic_filter);
	else if (!strcmp(o->proto, "lorawan"))
		snprintf(buf, cap, "udp %s keys '%s'", o->cfg.listen, o->cfg.keys_file);
	else
		snprintf(buf, cap, "modbus %s unit %d%s%s%s", o->cfg.target, o->cfg.unit,
		         o->cfg.map_file ? " map '" : "", o->cfg.map_file ? o->cfg.map_file : "",
		         o->cfg.map_file ? "'" : "");
}

int fb_cmd_validate(int argc, char **argv)
{
	struct vopts o;
	if (parse_args(&o, argc, argv))
		return FB_EXIT_USAGE;
	if (o.quiet)
		fb_log_level = FB_LOG_WARN;
	struct fb_scenario *sc = NULL;
	if (o.scenario && !(sc = fb_cli_load(o.scenario)))
		return FB_EXIT_USAGE;
	int rc = FB_EXIT_USAGE;
	struct vrun r = { .o = &o, .progress = !o.quiet && isatty(STDERR_FILENO) };
	const struct fb_model *m = find_type(o.type, sc);
	if (!m)
		goto out;
	struct fb_profile p;
	fb_profile_init(&p, m);
	if (o.interval_set)
		p.interval_us = o.interval;
	if (o.tolerance > 0)
		p.tolerance = o.tolerance;
	if (o.skew_set)
		p.skew_us = o.skew;
	if (o.timezone)
		p.timezone = o.timezone;
	for (size_t i = 0; i < o.ncounters; i++)
		if (fb_profile_set_counter(&p, o.counters[i]))
			goto out;
	if (o.print_profile) {
		fb_profile_print(&p, stdout);
		rc = FB_EXIT_OK;
		goto out;
	}
	if (!strcmp(o.proto, "modbus"))
		o.cfg.poll_interval = o.poll;
	if (!o.quiet && o.duration < 3 * p.interval_us) {
		char d[32], iv[32];
		fb_format_duration(o.duration, d, sizeof d);
		fb_format_duration(p.interval_us, iv, sizeof iv);
		if (strcmp(o.proto, "modbus"))
			fb_warn("--duration %s covers fewer than 3 reports at the declared interval %s: the "
			        "interval checks need --duration of 3 intervals or more (or --interval)", d, iv);
	}
	r.ops = fb_collector_find(o.proto);
	if (!r.ops) {
		fb_error("the %s collector is not built into this fleetbench", o.proto);
		rc = FB_EXIT_RUNTIME;
		goto out;
	}
	char source[256];
	source_text(&o, source, sizeof source);
	struct fb_validate_opts vo = { .proto = o.proto, .codec = o.cfg.codec, .source = source };
	if (!(r.v = fb_validate_new(&p, &vo))) {
		rc = FB_EXIT_RUNTIME;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	r.loop = ev_default_loop(EVFLAG_AUTO);
	if (!r.loop) {
		fb_error("cannot start the event loop");
		rc = FB_EXIT_RUNTIME;
		goto out;
	}
	fb_info("validate: type '%s' over %s from %s", m->name, o.proto, source);
	if (observe(&r, m)) {
		rc = FB_EXIT_RUNTIME;
		goto out;
	}
	fb_validate_finish(r.v, r.started, r.ended ? r.ended : fb_wall_now_us());
	if (write_report(r.v, &o)) {
		rc = FB_EXIT_RUNTIME;
		goto out;
	}
	if (o.out && !o.quiet && o.format != FB_VALIDATE_TEXT)
		fb_info("validate: %s", fb_validate_passed(r.v) ? "PASS" : "FAIL");
	rc = fb_validate_passed(r.v) ? FB_EXIT_OK : FB_EXIT_EXPECT;
out:
	if (r.col)
		r.ops->free(r.col);
	fb_validate_free(r.v);
	if (sc)
		fb_scenario_free(sc);
	return rc;
}
