/* The bench side of a run: local peers (--local), collectors, reconciliation, the per-second
 * series. harness/run.c drives it:
 *
 *     fb_bench_new()        after the engine exists, before the transports
 *     fb_bench_prepare()    starts local peers, collectors (bound, subscribing); fills the
 *                           transports' env (sent callback, --local target)
 *     fb_bench_ready()      polled on the loop before the first event: collectors subscribed
 *     fb_bench_sample()     for every sample (signals, Modbus values)
 *     fb_bench_tick()       once per wall second (series)
 *     fb_bench_drain()      after the transports drained: until nothing is outstanding or grace
 *     fb_bench_finish()     what is still pending is lost
 *     fb_bench_summary() / fb_bench_report()
 *     fb_bench_free()       stops the local peers by PID
 */
#ifndef FB_BENCH_H
#define FB_BENCH_H
#include <stdbool.h>
#include <stdio.h>
#include <ev.h>
#include <jansson.h>
#include "protocols/transport.h"
#include "sim/engine.h"

struct fb_bench_opts {
	bool local;                  /* --local: start the peers here, point the fleet at them */
	const char *collect_url;     /* --collect URL: the MQTT collector subscribes there */
	const char *collect_topic;   /* --collect-topic FILTER */
	const char *collect_lorawan_url;    /* --collect-lorawan URL: a network server's MQTT
	                                       integration (harness/collect_nsint.h) */
	const char *collect_lorawan_topic;  /* --collect-lorawan-topic FILTER */
	/* TLS of the --collect and --collect-lorawan connections: the CA to trust (else the
	 * system's), a client certificate and its key; NULL when not given */
	const char *collect_ca, *collect_cert, *collect_key;
	fb_time_us grace;            /* how long collectors wait for stragglers at the end */
	bool quiet;
	bool max_mode;               /* --speed max: a message is scheduled when the engine runs it */
};

struct fb_bench;

struct fb_bench *fb_bench_new(struct ev_loop *loop, const struct fb_scenario *sc, struct fb_engine *e,
                              const struct fb_bench_opts *o,
                              fb_time_us (*wall_of)(void *, fb_time_us), void *wall_arg);
/* Starts peers and collectors for the transports the fleets use; sets env->sent/sent_arg and
 * env->target for transport `name` (call once per transport before its create). 0 or -1. */
int fb_bench_prepare(struct fb_bench *b);
void fb_bench_env(struct fb_bench *b, const char *transport, struct fb_transport_env *env);
bool fb_bench_active(const struct fb_bench *b);     /* collectors attached (recon on) */
bool fb_bench_ready(struct fb_bench *b);
/* A collector could not start (printed): the run must end with exit 1. */
bool fb_bench_failed(const struct fb_bench *b);
void fb_bench_sample(struct fb_bench *b, const struct fb_sample *s);
void fb_bench_tick(struct fb_bench *b, uint64_t sent_total, double lag_s);
bool fb_bench_drain(struct fb_bench *b);
void fb_bench_finish(struct fb_bench *b);
void fb_bench_summary(struct fb_bench *b, FILE *out);
/* Adds "bench", "series" (and collector counters) to the run's report object. */
void fb_bench_report(struct fb_bench *b, json_t *report);
/* The reconciliation, or NULL when no collector runs (for expectations and metrics). */
struct fb_recon *fb_bench_recon(struct fb_bench *b);
void fb_bench_free(struct fb_bench *b);

#endif
