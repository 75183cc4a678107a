/* `fleetbench run`: the engine on the libev loop, paced or as fast as the sinks accept, with the
 * trace, the transports, a progress line, the summary and the JSON report. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include <jansson.h>
#include "harness/bench.h"
#include "harness/cli.h"
#include "harness/collect_nsint.h"
#include "harness/expect.h"
#include "harness/html.h"
#include "harness/metrics.h"
#include "harness/report.h"
#include "protocols/faults.h"
#include "protocols/transport.h"
#include "sim/engine.h"
#include "sim/log.h"
#include "sim/trace.h"

#define MAX_TRANSPORTS 8
#define BATCH 4096               /* events per loop turn in max mode */

static const char run_usage[] =
"usage: fleetbench run SCENARIO [options]\n"
"\n"
"Runs the scenario's fleet in virtual time and sends every sample over its fleet's transport.\n"
"\n"
"  --seed N              random seed (default: the scenario's 'seed', else 1)\n"
"  --start RFC3339|now   virtual start time (default: the scenario's 'start')\n"
"  --duration D          virtual span: 500ms 30s 15m 6h 7d (default: the scenario's 'duration')\n"
"  --speed MODE          max (as fast as the sinks accept, default), realtime, or xN (N times\n"
"                        real time, e.g. x60)\n"
"  --max-lag D           paced modes: fail (exit 1) when lag behind the wall clock exceeds D\n"
"  --shard i/N           run only segment i of N of the devices (k6-style contiguous segments)\n"
"  --shard-by site|device  where shards may cut: by site (the default when there are some)\n"
"                        never through a site's LoRaWAN or per-site Sparkplug devices; by\n"
"                        device anywhere\n"
"  --out FILE|-          write the trace (one JSON line per sample) to FILE, or stdout with '-'\n"
"                        (default: the scenario's output.file, else no trace)\n"
"  --report FILE         write the summary as JSON, with per-type and per-site counts\n"
"  --state FILE          keep protocol state across runs (LoRaWAN DevNonce counters)\n"
"  --local               start the peers here on free loopback ports (a mosquitto broker, a\n"
"                        LoRaWAN network-server endpoint, a Modbus poller), point the fleet at\n"
"                        them and reconcile end to end: expected, received, lost, duplicated,\n"
"                        out of order, wrong values, latency from the scheduled send time\n"
"  --collect URL         against a real platform: the MQTT collector subscribes at URL\n"
"                        (mqtt://host:port) while the fleet targets the scenario's transports\n"
"  --collect-topic F     the topic filter to subscribe to (default: the fleets' topics)\n"
"  --collect-lorawan URL against a real network server: count the LoRaWAN uplinks its MQTT\n"
"                        integration publishes, decrypted (chirpstack://host:port for\n"
"                        ChirpStack v4, tts://host:port for The Things Stack v3;\n"
"                        chirpstack+mqtts:// and tts+mqtts:// for TLS; user:password@host)\n"
"  --collect-lorawan-topic F  its topic filter (default application/+/device/+/event/up,\n"
"                        or v3/+/devices/+/up)\n""  --collect-ca FILE     TLS (mqtts://, +mqtts://): the CA the collectors trust (default: the\n"
"                        system's); --collect-cert FILE --collect-key FILE: a client certificate\n"
"  --grace D             how long collectors wait for late messages at the end (default 5s)\n"
"  --start-at RFC3339    begin at this wall-clock time (aligns the clocks of shard processes)\n"
"  --junit FILE          one JUnit test case per expectation of the scenario's expect: block\n"
"  --html FILE           a self-contained report page with charts (throughput, lag, latency,\n"
"                        loss by type and site, each type's signals)\n"
"  --metrics-port P      serve Prometheus metrics at http://HOST:P/metrics during the run\n"
"  --quiet               no progress line and no summary; errors only\n"
"  -h, --help            this help\n"
"\n"
"Exit codes: 0 ok, 1 runtime failure, 2 usage or scenario error, 3 expectations not met.\n";

struct run {
	struct fb_run_opts o;
	struct fb_scenario *sc;
	struct fb_engine *e;
	struct fb_trace *trace;
	int trace_fd;
	struct ev_loop *loop;
	struct fb_transport *tr[MAX_TRANSPORTS];
	const struct fb_transport_ops *trops[MAX_TRANSPORTS];
	size_t ntr;
	struct fb_bench *bench;
	json_t *expect;             /* the scenario's expect:, normalised, or NULL */
	struct fb_metrics *metrics; /* --metrics-port */
	struct fb_metrics_run mrun;
	ev_timer tick;              /* once per wall second: the report's series */
	uint64_t sent;              /* samples handed to transports */
	struct fb_transport **fleet_tr;      /* per fleet: its transport instance, or NULL */
	const struct fb_transport_ops **fleet_ops;   /* per fleet: that instance's ops */
	fb_time_us start, duration;

	ev_idle idle;               /* max mode: run a batch when the loop is otherwise idle */
	ev_timer pace;              /* paced modes: fires at the next event's wall deadline */
	ev_timer progress;
	ev_timer drain_timer;
	ev_check check;
	ev_signal sigint, sigterm;

	fb_time_us wall0, virt0;    /* paced: wall = wall0 + (virt - virt0) / speed */
	fb_time_us process_start, wall_start, wall_end;
	double lag_max_s, lag_sum_s;
	uint64_t lag_count, late_events;
	fb_time_us held_us;         /* wall time the engine waited on a peer */
	fb_time_us hold_since;
	bool tty, finished, draining, stopping;
	int exit_code;
	int signal_seen;
	char fail[256];
};

static fb_time_us loop_now_us(struct run *r)
{
	return (fb_time_us)llround(ev_now(r->loop) * 1e6);
}

static fb_time_us wall_of(void *arg, fb_time_us virt)
{
	struct run *r = arg;
	if (r->o.speed_mode == FB_SPEED_MAX)
		return loop_now_us(r);
	return r->wall0 + (fb_time_us)((double)(virt - r->virt0) / r->o.speed);
}

static void sink(void *arg, const struct fb_sample *s)
{
	struct run *r = arg;
	if (r->trace)
		fb_trace_write(r->trace, s);
	fb_bench_sample(r->bench, s);
	struct fb_transport *t = r->fleet_tr[s->fleet->index];
	if (t) {
		r->fleet_ops[s->fleet->index]->send(t, s);
		r->sent++;
	}
}

static bool transports_busy(struct run *r)
{
	for (size_t i = 0; i < r->ntr; i++)
		if ((r->trops[i]->ready && !r->trops[i]->ready(r->tr[i])) ||
		    (r->trops[i]->busy && r->trops[i]->busy(r->tr[i])))
			return true;
	return false;
}

static fb_time_us transports_hold(struct run *r)
{
	fb_time_us h = FB_TIME_NEVER;
	for (size_t i = 0; i < r->ntr; i++)
		if (r->trops[i]->hold_until) {
			fb_time_us t = r->trops[i]->hold_until(r->tr[i]);
			if (t < h)
				h = t;
		}
	return h;
}

static void finish(struct run *r, int code, const char *why);
static void start_drain(struct run *r);

static void note_hold(struct run *r, bool held)
{
	fb_time_us now = fb_wall_now();
	if (held && !r->hold_since)
		r->hold_since = now;
	if (!held && r->hold_since) {
		r->held_us += now - r->hold_since;
		if (r->o.speed_mode == FB_SPEED_PACED)
			r->wall0 += now - r->hold_since;    /* virtual time stood still meanwhile */
		r->hold_since = 0;
	}
}

static void check_end(struct run *r)
{
	if (fb_engine_next_time(r->e) == FB_TIME_NEVER && !r->draining)
		start_drain(r);
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct run *r = w->data;
	if (transports_busy(r)) {
		ev_idle_stop(loop, w);        /* the check watcher restarts it once the sinks drain */
		return;
	}
	fb_time_us hold = transports_hold(r);
	fb_time_us next = fb_engine_next_time(r->e);
	if (next != FB_TIME_NEVER && next >= hold) {
		note_hold(r, true);
		ev_idle_stop(loop, w);
		/* Wake up to re-read the hold even if no socket does: the check watcher resumes. */
		if (!ev_is_active(&r->pace)) {
			ev_timer_set(&r->pace, 0.001, 0);
			ev_timer_start(loop, &r->pace);
		}
		return;
	}
	note_hold(r, false);
	/* A transport may start holding during the batch (an uplink that awaits a real peer's
	 * reply): the hold is re-read after each event. */
	if (r->ntr == 0)
		fb_engine_run(r->e, hold, BATCH);
	for (int k = 0; r->ntr && k < BATCH && fb_engine_next_time(r->e) < hold; k++) {
		fb_engine_run(r->e, hold, 1);
		hold = transports_hold(r);
		if (transports_busy(r))
			break;
	}
	if (r->trace && fb_trace_failed(r->trace)) {
		finish(r, FB_EXIT_RUNTIME, "the trace could not be written");
		return;
	}
	check_end(r);
}

static void pace_arm(struct run *r);

static void pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;
	fb_time_us now = fb_wall_now();
	fb_time_us virt_now = r->virt0 + (fb_time_us)((double)(now - r->wall0) * r->o.speed);
	fb_time_us hold = transports_hold(r);
	if (transports_busy(r)) {
		pace_arm(r);
		return;
	}
	fb_time_us limit = virt_now + 1 < hold ? virt_now + 1 : hold;
	for (;;) {
		fb_time_us next = fb_engine_next_time(r->e);
		if (next == FB_TIME_NEVER || next >= limit)
			break;
		double lag = (double)(now - wall_of(r, next)) / 1e6;
		if (lag < 0)
			lag = 0;
		if (lag > r->lag_max_s)
			r->lag_max_s = lag;
		r->lag_sum_s += lag;
		r->lag_count++;
		if (lag > 0.1)
			r->late_events++;
		if (r->o.max_lag && lag * 1e6 > (double)r->o.max_lag) {
			char buf[64];
			fb_format_duration(r->o.max_lag, buf, sizeof buf);
			snprintf(r->fail, sizeof r->fail,
			         "lag %.3f s behind the wall clock exceeds --max-lag %s (try a lower speed or more shards)",
			         lag, buf);
			finish(r, FB_EXIT_RUNTIME, r->fail);
			return;
		}
		fb_engine_run(r->e, next + 1, 1);
		limit = virt_now + 1 < (hold = transports_hold(r)) ? virt_now + 1 : hold;
		if (transports_busy(r))
			break;
	}
	note_hold(r, fb_engine_next_time(r->e) != FB_TIME_NEVER && fb_engine_next_time(r->e) >= hold &&
	             fb_engine_next_time(r->e) <= virt_now);
	if (r->trace && fb_trace_failed(r->trace)) {
		finish(r, FB_EXIT_RUNTIME, "the trace could not be written");
		return;
	}
	check_end(r);
	if (!r->draining && !r->finished)
		pace_arm(r);
}

static void pace_arm(struct run *r)
{
	fb_time_us next = fb_engine_next_time(r->e);
	if (next == FB_TIME_NEVER)
		return;
	fb_time_us wait = wall_of(r, next) - fb_wall_now();
	if (transports_busy(r) || next >= transports_hold(r))
		wait = FB_US_PER_MS;      /* re-check shortly; sockets progress meanwhile */
	ev_timer_stop(r->loop, &r->pace);
	ev_timer_set(&r->pace, wait > 0 ? (double)wait / 1e6 : 0, 0);
	ev_timer_start(r->loop, &r->pace);
}

static void check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct run *r = w->data;
	if (r->o.speed_mode == FB_SPEED_MAX && !r->draining && !r->finished &&
	    !ev_is_active(&r->idle) && !transports_busy(r)) {
		fb_time_us next = fb_engine_next_time(r->e);
		if (next == FB_TIME_NEVER || next < transports_hold(r))
			ev_idle_start(loop, &r->idle);
		else if (!ev_is_active(&r->pace)) {
			ev_timer_set(&r->pace, 0.001, 0);      /* poll the hold */
			ev_timer_start(loop, &r->pace);
		}
	}
}

static void max_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* max mode: a hold was in force; the check watcher decides whether to resume */
}

static void print_progress(struct run *r, bool final)
{
	if (!r->tty || r->o.quiet)
		return;
	if (final) {
		fputs("\r\033[K", stderr);
		return;
	}
	struct fb_engine_stats st;
	fb_engine_stats(r->e, &st);
	fb_time_us now_v = fb_engine_now(r->e);
	double pct = 100.0 * (double)(now_v - r->start) / (double)(r->duration ? r->duration : 1);
	double wall = (double)(fb_wall_now() - r->wall_start) / 1e6;
	char ts[25];
	fb_format_iso_ms(now_v, ts);
	ts[19] = 'Z';
	ts[20] = 0;
	fprintf(stderr, "\r\033[K  %s  %5.1f%%  %llu samples  %.0f samples/s%s", ts, pct < 0 ? 0 : pct,
	        (unsigned long long)st.samples, wall > 0 ? (double)st.samples / wall : 0,
	        r->hold_since ? "  (waiting on a peer)" : "");
	fflush(stderr);
}

static void progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	print_progress(w->data, false);
}

static void drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;
	bool done = true;
	for (size_t i = 0; i < r->ntr; i++)
		if (r->trops[i]->drain && !r->trops[i]->drain(r->tr[i]))
			done = false;
	/* then the collectors, for the messages still on their way (their own bounded grace) */
	if (done && r->bench && !r->signal_seen && !fb_bench_drain(r->bench))
		return;
	/* bounded: 10 s of wall time, or 2 s after a signal */
	fb_time_us bound = r->signal_seen ? 2 * FB_US_PER_S : 10 * FB_US_PER_S;
	if (done || fb_wall_now() - r->wall_end > bound) {
		if (!done)
			fb_warn("stopped waiting for in-flight messages after %lld s",
			        (long long)(bound / FB_US_PER_S));
		finish(r, r->exit_code, NULL);
	}
}

static void start_drain(struct run *r)
{
	r->draining = true;
	r->wall_end = fb_wall_now();
	ev_idle_stop(r->loop, &r->idle);
	ev_timer_stop(r->loop, &r->pace);
	if (r->trace)
		fb_trace_flush(r->trace);
	ev_timer_init(&r->drain_timer, drain_cb, 0, 0.01);
	r->drain_timer.data = r;
	ev_timer_start(r->loop, &r->drain_timer);
}

static void finish(struct run *r, int code, const char *why)
{
	if (r->finished)
		return;
	if (!r->wall_end)
		r->wall_end = fb_wall_now();
	if (why)
		fb_error("%s", why);
	if (code > r->exit_code)
		r->exit_code = code;
	r->finished = true;
	ev_break(r->loop, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct run *r = w->data;
	if (r->signal_seen) {            /* a second signal: stop at once */
		r->exit_code = 128 + w->signum;
		finish(r, 128 + w->signum, NULL);
		return;
	}
	r->signal_seen = w->signum;
	r->exit_code = 128 + w->signum;
	fb_warn("%s received: stopping (again to stop at once)", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
	if (!r->draining)
		start_drain(r);
}

static double peak_rss_mib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

static void print_summary(struct run *r)
{
	struct fb_engine_stats st;
	fb_engine_stats(r->e, &st);
	double wall = (double)(r->wall_end - r->wall_start) / 1e6;
	char a[25], b[25], span[32];
	fb_format_iso_ms(r->start, a);
	fb_format_iso_ms(r->start + r->duration, b);
	fb_format_duration(r->duration, span, sizeof span);
	fprintf(stderr, "fleetbench: %s, seed %llu, shard %u/%u\n", r->sc->name,
	        (unsigned long long)r->sc->seed, r->o.shard_index, r->o.shard_count);
	fprintf(stderr, "  devices       %u\n", fb_engine_device_count(r->e));
	fprintf(stderr, "  samples       %llu\n", (unsigned long long)st.samples);
	fprintf(stderr, "  virtual span  %s .. %s (%s)\n", a, b, span);
	fprintf(stderr, "  wall time     %.3f s (start-up %.3f s)\n", wall,
	        (double)(r->wall_start - r->process_start) / 1e6);
	fprintf(stderr, "  rate          %.0f samples/s\n", wall > 0 ? (double)st.samples / wall : 0);
	fprintf(stderr, "  peak RSS      %.1f MiB\n", peak_rss_mib());
	if (r->o.speed_mode == FB_SPEED_PACED)
		fprintf(stderr, "  lag           max %.3f s, mean %.3f s, %llu events late > 100 ms\n",
		        r->lag_max_s, r->lag_count ? r->lag_sum_s / (double)r->lag_count : 0,
		        (unsigned long long)r->late_events);
	if (r->held_us)
		fprintf(stderr, "  waited on peers %.3f s\n", (double)r->held_us / 1e6);
	if (st.commands)
		fprintf(stderr, "  commands      %llu\n", (unsigned long long)st.commands);
	for (size_t i = 0; i < r->ntr; i++)
		if (r->trops[i]->summary)
			r->trops[i]->summary(r->tr[i], stderr);
	fb_faults_summary(r->e, stderr);
	fb_bench_summary(r->bench, stderr);
}

static json_t *count_object(struct run *r, const uint64_t *by_fleet, int by_site)
{
	json_t *o = json_object();
	for (size_t i = 0; i < r->sc->nfleets; i++) {
		const struct fb_fleet *f = &r->sc->fleets[i];
		const char *key = by_site ? f->site->id : f->model->name;
		json_t *cur = json_object_get(o, key);
		json_int_t v = (cur ? json_integer_value(cur) : 0) + (json_int_t)by_fleet[i];
		json_object_set_new(o, key, json_integer(v));
	}
	return o;
}

static json_t *build_report(struct run *r)
{
	struct fb_engine_stats st;
	fb_engine_stats(r->e, &st);
	double wall = (double)(r->wall_end - r->wall_start) / 1e6;
	char a[25], b[25];
	fb_format_iso_ms(r->start, a);
	fb_format_iso_ms(r->start + r->duration, b);
	uint64_t *devs = calloc(r->sc->nfleets ? r->sc->nfleets : 1, sizeof *devs);
	if (!devs) {
		fb_error("out of memory writing the report");
		return NULL;
	}
	uint32_t lo = fb_engine_first_device(r->e), hi = lo + fb_engine_device_count(r->e);
	for (size_t i = 0; i < r->sc->nfleets; i++) {
		const struct fb_fleet *f = &r->sc->fleets[i];
		uint32_t a0 = f->first > lo ? f->first : lo, b0 = f->first + f->count < hi ? f->first + f->count : hi;
		devs[i] = b0 > a0 ? b0 - a0 : 0;
	}
	json_t *rep = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:i, s:i, s:s, s:i, s:i}}",
	                        "fleetbench", FB_VERSION,
	                        "scenario", "name", r->sc->name, "path", r->sc->path,
	                        "timezone", r->sc->timezone,
	                        "shard", "index", (json_int_t)r->o.shard_index,
	                        "count", (json_int_t)r->o.shard_count,
	                        "by", r->sc->shard_by == FB_SHARD_BY_SITE ? "site" : "device",
	                        "first_device", (json_int_t)lo, "devices", (json_int_t)(hi - lo));
	char seed[32];
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->sc->seed);
	json_object_set_new(rep, "seed", json_string(seed));   /* a string: u64 exceeds JSON's safe range */
	json_object_set_new(rep, "start", json_string(a));
	json_object_set_new(rep, "end", json_string(b));
	json_object_set_new(rep, "duration_s", json_real((double)r->duration / 1e6));
	json_object_set_new(rep, "speed", r->o.speed_mode == FB_SPEED_MAX ? json_string("max")
	                                                                 : json_real(r->o.speed));
	json_object_set_new(rep, "devices", json_integer(hi - lo));
	json_object_set_new(rep, "samples", json_integer((json_int_t)st.samples));
	json_object_set_new(rep, "commands", json_integer((json_int_t)st.commands));
	json_object_set_new(rep, "wall_time_s", json_real(wall));
	json_object_set_new(rep, "startup_s", json_real((double)(r->wall_start - r->process_start) / 1e6));
	json_object_set_new(rep, "samples_per_s", json_real(wall > 0 ? (double)st.samples / wall : 0));
	json_object_set_new(rep, "peak_rss_mib", json_real(peak_rss_mib()));
	json_object_set_new(rep, "samples_by_type", count_object(r, st.samples_by_fleet, 0));
	json_object_set_new(rep, "samples_by_site", count_object(r, st.samples_by_fleet, 1));
	json_object_set_new(rep, "devices_by_type", count_object(r, devs, 0));
	json_object_set_new(rep, "devices_by_site", count_object(r, devs, 1));
	free(devs);
	if (r->o.speed_mode == FB_SPEED_PACED)
		json_object_set_new(rep, "lag", json_pack("{s:f, s:f, s:I}", "max_s", r->lag_max_s, "mean_s",
		                                          r->lag_count ? r->lag_sum_s / (double)r->lag_count : 0.0,
		                                          "late_events", (json_int_t)r->late_events));
	json_object_set_new(rep, "waited_on_peers_s", json_real((double)r->held_us / 1e6));
	json_t *tr = json_object();
	for (size_t i = 0; i < r->ntr; i++)
		if (r->trops[i]->report)
			json_object_set_new(tr, r->trops[i]->name, r->trops[i]->report(r->tr[i]));
	json_object_set_new(rep, "transports", tr);
	json_object_set_new(rep, "faults", fb_faults_report(r->e));
	fb_bench_report(r->bench, rep);
	if (r->expect)
		json_object_set(rep, "expect", r->expect);
	return rep;
}

/* The report, the verdict of the expectations, and the files that carry them. Returns the exit
 * code: the run's, or 3 when an expectation is not met, or 1 when a file cannot be written. */
static int conclude(struct run *r, int code)
{
	if (!r->o.report && !r->o.junit && !r->o.html && !r->expect)
		return code;
	json_t *rep = build_report(r);
	if (!rep)
		return code ? code : FB_EXIT_RUNTIME;
	size_t failed = r->expect ? fb_expect_apply(rep) : 0;
	if (r->expect && !r->o.quiet) {
		size_t n = json_array_size(json_object_get(rep, "expectations"));
		fprintf(stderr, "fleetbench: expectations: %zu of %zu met%s\n", n - failed, n,
		        failed ? " (exit 3)" : "");
	}
	if (failed && code == FB_EXIT_OK)
		code = FB_EXIT_EXPECT;
	json_object_set_new(rep, "exit_code", json_integer(code));
	int rc = 0;
	if (r->o.report && json_dump_file(rep, r->o.report, JSON_INDENT(2) | JSON_PRESERVE_ORDER))
		rc = fb_error("cannot write the report '%s': %s", r->o.report, strerror(errno));
	if (r->o.junit && fb_report_write_junit(rep, r->o.junit))
		rc = -1;
	if (r->o.html && fb_html_write_file(rep, r->o.html))
		rc = -1;
	json_decref(rep);
	if (rc && code == FB_EXIT_OK)
		code = FB_EXIT_RUNTIME;
	return code;
}

static int parse_run_args(int argc, char **argv, struct fb_run_opts *o)
{
	enum { O_SEED = 256, O_START, O_DURATION, O_SPEED, O_MAXLAG, O_SHARD, O_OUT, O_REPORT,
	       O_STATE, O_QUIET, O_LOCAL, O_COLLECT, O_COLLECT_TOPIC, O_GRACE, O_START_AT, O_JUNIT,
	       O_HTML, O_METRICS, O_SHARD_BY, O_COLLECT_LW, O_COLLECT_LW_TOPIC, O_COLLECT_CA,
	       O_COLLECT_CERT, O_COLLECT_KEY };
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, O_SEED },
		{ "start", required_argument, NULL, O_START },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "speed", required_argument, NULL, O_SPEED },
		{ "max-lag", required_argument, NULL, O_MAXLAG },
		{ "shard", required_argument, NULL, O_SHARD },
		{ "shard-by", required_argument, NULL, O_SHARD_BY },
		{ "out", required_argument, NULL, O_OUT },
		{ "report", required_argument, NULL, O_REPORT },
		{ "state", required_argument, NULL, O_STATE },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "local", no_argument, NULL, O_LOCAL },
		{ "collect", required_argument, NULL, O_COLLECT },
		{ "collect-topic", required_argument, NULL, O_COLLECT_TOPIC },
		{ "collect-lorawan", required_argument, NULL, O_COLLECT_LW },
		{ "collect-lorawan-topic", required_argument, NULL, O_COLLECT_LW_TOPIC },
		{ "collect-ca", required_argument, NULL, O_COLLECT_CA },
		{ "collect-cert", required_argument, NULL, O_COLLECT_CERT },
		{ "collect-key", required_argument, NULL, O_COLLECT_KEY },
		{ "grace", required_argument, NULL, O_GRACE },
		{ "start-at", required_argument, NULL, O_START_AT },
		{ "junit", required_argument, NULL, O_JUNIT },
		{ "html", required_argument, NULL, O_HTML },
		{ "metrics-port", required_argument, NULL, O_METRICS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	memset(o, 0, sizeof *o);
	o->shard_count = 1;
	o->shard_by = -1;
	o->speed_mode = FB_SPEED_MAX;
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_SEED: if (fb_cli_seed(optarg, &o->seed)) return -1; o->seed_set = true; break;
		case O_START: if (fb_cli_start(optarg, &o->start_now, &o->start)) return -1; o->start_set = true; break;
		case O_DURATION: if (fb_cli_duration("--duration", optarg, &o->duration)) return -1; o->duration_set = true; break;
		case O_SPEED: if (fb_cli_speed(optarg, &o->speed_mode, &o->speed)) return -1; break;
		case O_MAXLAG: if (fb_cli_duration("--max-lag", optarg, &o->max_lag)) return -1; break;
		case O_SHARD: if (fb_cli_shard(optarg, &o->shard_index, &o->shard_count)) return -1; break;
		case O_SHARD_BY: if (fb_cli_shard_by(optarg, &o->shard_by)) return -1; break;
		case O_OUT: o->out = optarg; break;
		case O_REPORT: o->report = optarg; break;
		case O_STATE: o->state_file = optarg; break;
		case O_QUIET: o->quiet = true; break;
		case O_LOCAL: o->local = true; break;
		case O_COLLECT:
			if (strncmp(optarg, "mqtt://", 7) && strncmp(optarg, "mqtts://", 8)) {
				fb_error("--collect '%s': expected mqtt://host:port or mqtts://host:port", optarg);
				return -1;
			}
			o->collect_url = optarg;
			break;
		case O_COLLECT_TOPIC: o->collect_topic = optarg; break;
		case O_COLLECT_LW: {
			struct fb_nsint_url u;
			if (fb_nsint_url_parse(optarg, &u))
				return -1;
			o->collect_lorawan_url = optarg;
			break;
		}
		case O_COLLECT_LW_TOPIC: o->collect_lorawan_topic = optarg; break;
		case O_COLLECT_CA: case O_COLLECT_CERT: case O_COLLECT_KEY:
			if (access(optarg, R_OK)) {
				fb_error("--%s '%s': %s", c == O_COLLECT_CA ? "collect-ca" : c == O_COLLECT_CERT ?
				         "collect-cert" : "collect-key", optarg, strerror(errno));
				return -1;
			}
			*(c == O_COLLECT_CA ? &o->collect_ca : c == O_COLLECT_CERT ? &o->collect_cert
			                                                            : &o->collect_key) = optarg;
			break;
		case O_JUNIT: o->junit = optarg; break;
		case O_HTML: o->html = optarg; break;
		case O_METRICS: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || v < 1 || v > 65535) {
				fb_error("--metrics-port '%s': expected a TCP port 1..65535", optarg);
				return -1;
			}
			o->metrics_port = (int)v;
			break;
		}
		case O_GRACE: if (fb_cli_duration("--grace", optarg, &o->grace)) return -1; break;
		case O_START_AT: {
			bool now;
			if (fb_cli_start(optarg, &now, &o->start_at))
				return -1;
			if (now)
				o->start_at = fb_wall_now();
			o->start_at_set = true;
			break;
		}
		case 'h': fputs(run_usage, stdout); exit(FB_EXIT_OK);
		case ':':
			fb_error("option '%s' needs a value", argv[optind - 1]);
			fputs("try 'fleetbench run --help'\n", stderr);
			return -1;
		default:
			fb_error("unknown option '%s'", argv[optind - 1]);
			fputs("try 'fleetbench run --help'\n", stderr);
			return -1;
		}
	}
	if (optind >= argc) {
		fb_error("missing scenario file");
		fputs("try 'fleetbench run --help'\n", stderr);
		return -1;
	}
	if (optind + 1 < argc) {
		fb_error("unexpected argument '%s'", argv[optind + 1]);
		fputs("try 'fleetbench run --help'\n", stderr);
		return -1;
	}
	o->scenario = argv[optind];
	if (o->local && o->collect_url) {
		fb_error("--local and --collect exclude each other (--local collects from its own peers)");
		return -1;
	}
	if (o->collect_topic && !o->collect_url && !o->local) {
		fb_error("--collect-topic needs --collect or --local");
		return -1;
	}
	if (o->local && o->collect_lorawan_url) {
		fb_error("--local and --collect-lorawan exclude each other (--local runs its own network server)");
		return -1;
	}
	if (o->collect_lorawan_topic && !o->collect_lorawan_url) {
		fb_error("--collect-lorawan-topic needs --collect-lorawan");
		return -1;
	}
	if ((o->collect_ca || o->collect_cert || o->collect_key) && !o->collect_url && !o->collect_lorawan_url) {
		fb_error("--collect-ca, --collect-cert and --collect-key go with --collect or --collect-lorawan");
		return -1;
	}
	if (!o->collect_cert != !o->collect_key) {
		fb_error("--collect-cert and --collect-key go together");
		return -1;
	}
	return 0;
}

static int open_trace(struct run *r)
{
	const char *out = r->o.out ? r->o.out : r->sc->output_file;
	r->trace_fd = -1;
	if (!out)
		return 0;
	if (!strcmp(out, "-"))
		r->trace_fd = STDOUT_FILENO;
	else if ((r->trace_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return fb_error("cannot open the trace '%s': %s", out, strerror(errno));
	if (!(r->trace = fb_trace_new(r->sc, r->trace_fd)))
		return fb_error("out of memory for the trace");
	return 0;
}

static int setup_transports(struct run *r)
{
	r->fleet_tr = calloc(r->sc->nfleets ? r->sc->nfleets : 1, sizeof *r->fleet_tr);
	r->fleet_ops = calloc(r->sc->nfleets ? r->sc->nfleets : 1, sizeof *r->fleet_ops);
	if (!r->fleet_tr || !r->fleet_ops)
		return fb_error("out of memory");
	for (size_t i = 0; i < r->sc->nfleets; i++) {
		const struct fb_fleet *f = &r->sc->fleets[i];
		if (!f->transport)
			continue;
		size_t k = 0;
		while (k < r->ntr && strcmp(r->trops[k]->name, f->transport))
			k++;
		if (k == r->ntr) {
			const struct fb_transport_ops *ops = fb_transport_find(f->transport);
			if (!ops)
				return fb_ynode_error(fb_ynode_get(f->node, "transport"),
				                      "transport '%s' is not built in", f->transport);
			if (r->ntr == MAX_TRANSPORTS)
				return fb_error("too many transports");
			const struct fb_ynode *cfg = r->sc->transports ? fb_ynode_get(r->sc->transports, ops->name) : NULL;
			struct fb_transport_env env = {
				r->loop, r->e, r->sc, r->o.shard_index, r->o.shard_count, r->o.state_file,
				wall_of, r, NULL, NULL, NULL
			};
			fb_bench_env(r->bench, ops->name, &env);
			struct fb_transport *t = ops->create(&env, cfg);
			if (!t)
				return -2;     /* bad configuration: a scenario error */
			r->trops[r->ntr] = ops;
			r->tr[r->ntr++] = t;
		}
		r->fleet_tr[i] = r->tr[k];
		r->fleet_ops[i] = r->trops[k];
	}
	for (size_t k = 0; k < r->ntr; k++)
		if (r->trops[k]->start && r->trops[k]->start(r->tr[k]))
			return -1;
	return 0;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;
	double lag = 0;
	if (r->o.speed_mode == FB_SPEED_PACED) {
		fb_time_us next = fb_engine_next_time(r->e);
		if (next != FB_TIME_NEVER) {
			lag = (double)(fb_wall_now() - wall_of(r, next)) / 1e6;
			if (lag < 0)
				lag = 0;
		}
	}
	fb_bench_tick(r->bench, r->sent, lag);
	struct fb_engine_stats st;
	fb_engine_stats(r->e, &st);
	r->mrun.samples = st.samples;
	r->mrun.sent = r->sent;
	r->mrun.lag_s = lag;
	r->mrun.virtual_now = fb_engine_now(r->e);
}

static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* Runs the loop (sockets progress) until the collectors are ready and --start-at has come;
 * returns -1 if the collectors are not ready within 15 s. */
static int wait_to_begin(struct run *r)
{
	ev_timer t;
	ev_timer_init(&t, wait_cb, 0.005, 0.005);
	ev_timer_start(r->loop, &t);
	fb_time_us deadline = fb_wall_now() + 15 * FB_US_PER_S;
	int rc = 0;
	while (!fb_bench_ready(r->bench) && !r->finished) {
		if (fb_wall_now() > deadline) {
			rc = fb_error("the collectors were not ready within 15 s");
			break;
		}
		ev_run(r->loop, EVRUN_ONCE);
	}
	if (rc == 0 && fb_bench_failed(r->bench))
		rc = -1;
	if (rc == 0 && r->o.start_at_set) {
		fb_time_us wait = r->o.start_at - fb_wall_now();
		if (wait > 0 && !r->o.quiet)
			fb_info("waiting %.3f s for --start-at", (double)wait / 1e6);
		while (!r->finished && fb_wall_now() < r->o.start_at)
			ev_run(r->loop, EVRUN_ONCE);
	}
	ev_timer_stop(r->loop, &t);
	return rc;
}

int fb_cmd_run(int argc, char **argv)
{
	struct run r;
	memset(&r, 0, sizeof r);
	r.process_start = fb_wall_now();
	if (parse_run_args(argc, argv, &r.o))
		return FB_EXIT_USAGE;
	if (r.o.quiet)
		fb_log_level = FB_LOG_ERROR;
	r.sc = fb_cli_load(r.o.scenario);
	if (!r.sc)
		return FB_EXIT_USAGE;
	if (r.o.seed_set)
		r.sc->seed = r.o.seed;
	fb_cli_apply_shard_by(r.sc, r.o.shard_by);
	if (fb_expect_parse(r.sc, &r.expect)) {
		fb_scenario_free(r.sc);
		return FB_EXIT_USAGE;
	}
	bool now = r.o.start_set ? r.o.start_now : r.sc->start_now;
	r.start = r.o.start_set ? r.o.start : r.sc->start;
	if (now)
		r.start = fb_wall_now() / FB_US_PER_S * FB_US_PER_S;
	r.duration = r.o.duration_set ? r.o.duration : r.sc->duration;
	int code = FB_EXIT_OK;
	if (r.o.shard_count > 1 && r.sc->shard_by == FB_SHARD_BY_SITE) {
		uint64_t from, to;
		fb_scenario_segment(r.sc, r.o.shard_index, r.o.shard_count, &from, &to);
		if (from == to)
			fb_warn("shard %u/%u has no devices: shards keep each site's LoRaWAN (and per-site "
			        "Sparkplug) devices together (--shard-by device cuts anywhere)",
			        r.o.shard_index, r.o.shard_count);
	}
	r.e = fb_engine_new(r.sc, r.o.shard_index, r.o.shard_count, r.start, r.duration);
	if (!r.e) {
		code = FB_EXIT_RUNTIME;
		goto out;
	}
	r.loop = ev_default_loop(EVFLAG_AUTO);
	struct fb_bench_opts bo = {
		.local = r.o.local, .collect_url = r.o.collect_url, .collect_topic = r.o.collect_topic,
		.collect_lorawan_url = r.o.collect_lorawan_url,
		.collect_lorawan_topic = r.o.collect_lorawan_topic,
		.collect_ca = r.o.collect_ca, .collect_cert = r.o.collect_cert, .collect_key = r.o.collect_key,
		.grace = r.o.grace, .quiet = r.o.quiet, .max_mode = r.o.speed_mode == FB_SPEED_MAX
	};
	if (!(r.bench = fb_bench_new(r.loop, r.sc, r.e, &bo, wall_of, &r)) || fb_bench_prepare(r.bench)) {
		code = FB_EXIT_RUNTIME;
		goto out;
	}
	if (open_trace(&r)) {
		code = FB_EXIT_RUNTIME;
		goto out;
	}
	int trc = setup_transports(&r);
	if (trc) {
		code = trc == -2 ? FB_EXIT_USAGE : FB_EXIT_RUNTIME;
		goto out;
	}
	fb_engine_set_sink(r.e, sink, &r);
	r.tty = isatty(STDERR_FILENO) && !r.o.quiet;

	ev_idle_init(&r.idle, idle_cb);
	r.idle.data = &r;
	ev_check_init(&r.check, check_cb);
	r.check.data = &r;
	ev_timer_init(&r.pace, r.o.speed_mode == FB_SPEED_MAX ? max_retry_cb : pace_cb, 0, 0);
	r.pace.data = &r;
	ev_signal_init(&r.sigint, signal_cb, SIGINT);
	r.sigint.data = &r;
	ev_signal_start(r.loop, &r.sigint);
	ev_signal_init(&r.sigterm, signal_cb, SIGTERM);
	r.sigterm.data = &r;
	ev_signal_start(r.loop, &r.sigterm);
	if (wait_to_begin(&r)) {
		code = FB_EXIT_RUNTIME;
		goto out;
	}
	if (r.finished) {         /* a signal while waiting */
		code = r.exit_code;
		goto out;
	}
	ev_check_start(r.loop, &r.check);     /* only now: it starts the engine in max mode */
	ev_timer_init(&r.tick, tick_cb, 1.0, 1.0);
	r.tick.data = &r;
	ev_timer_start(r.loop, &r.tick);
	if (r.o.metrics_port) {
		r.mrun = (struct fb_metrics_run){
			.sc = r.sc, .recon = fb_bench_recon(r.bench), .virtual_start = r.start,
			.virtual_end = r.start + r.duration, .virtual_now = r.start
		};
		if (!(r.metrics = fb_metrics_start(r.loop, NULL, (uint16_t)r.o.metrics_port,
		                                   fb_metrics_fill_run, &r.mrun))) {
			code = FB_EXIT_RUNTIME;
			goto out;
		}
	}
	if (r.tty) {
		ev_timer_init(&r.progress, progress_cb, 0.25, 0.25);
		r.progress.data = &r;
		ev_timer_start(r.loop, &r.progress);
	}
	ev_now_update(r.loop);
	r.wall_start = fb_wall_now();
	r.virt0 = r.start;
	r.wall0 = r.wall_start;
	if (r.o.start_at_set && r.o.speed_mode == FB_SPEED_PACED)
		r.wall0 = r.o.start_at;   /* every shard maps the same virtual time to the same wall time */
	if (now && r.o.speed_mode == FB_SPEED_PACED)
		r.wall0 = r.start;        /* realtime from now: virtual time is the wall clock */
	if (r.o.speed_mode == FB_SPEED_MAX)
		ev_idle_start(r.loop, &r.idle);
	else
		pace_arm(&r);
	check_end(&r);
	ev_run(r.loop, 0);
	ev_timer_stop(r.loop, &r.tick);
	tick_cb(r.loop, &r.tick, 0);          /* the last, partial second */
	fb_bench_finish(r.bench);
	print_progress(&r, true);
	if (r.trace)
		fb_trace_flush(r.trace);
	if (r.trace && fb_trace_failed(r.trace) && r.exit_code == 0)
		r.exit_code = FB_EXIT_RUNTIME;
	for (size_t i = 0; i < r.ntr; i++)
		if (r.trops[i]->status && r.trops[i]->status(r.tr[i]) && r.exit_code == 0)
			r.exit_code = FB_EXIT_RUNTIME;
	code = r.exit_code;
	if (!r.o.quiet)
		print_summary(&r);
	code = conclude(&r, code);
out:
	fb_metrics_stop(r.metrics);
	for (size_t i = 0; i < r.ntr; i++)
		r.trops[i]->free(r.tr[i]);
	free(r.fleet_tr);
	free(r.fleet_ops);
	fb_bench_free(r.bench);
	fb_trace_free(r.trace);
	if (r.trace_fd > STDERR_FILENO)
		close(r.trace_fd);
	fb_engine_free(r.e);
	fb_scenario_free(r.sc);
	json_decref(r.expect);
	return code;
}
