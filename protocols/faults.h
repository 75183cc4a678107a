/* Payload and network faults, carried out by the transports. sim/fault.h decides (keyed draws,
 * so shards partition them) and marks each affected sample (s->fault), so the trace records it;
 * a transport declares the message sent (env->sent) and then asks this module what the network
 * does with it: corrupt it, deliver it more than once, hold it back, or lose it. Connection
 * faults (a dark site, a reconnect storm) act on the transport's connections through two
 * callbacks, at the virtual times the scenario names.
 *
 * Counting: marked samples are counted by sim (one per trace line); this module adds what is off
 * the trace (connections a storm dropped) and measures how reconnections spread. */
#ifndef FB_PROTO_FAULTS_H
#define FB_PROTO_FAULTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "protocols/transport.h"
#include "sim/fault.h"

struct fb_netfaults;

struct fb_netfault_ops {
	/* Sends a held-back message now (delay faults). conn and topic are as given to
	 * fb_netfaults_message (they must outlive the transport's run). */
	void (*publish)(void *arg, void *conn, const char *topic, const uint8_t *payload, size_t len);
	/* Takes a connection down and keeps it down (no reconnect). */
	void (*hold)(void *arg, void *conn);
	/* Lets it reconnect after after_s seconds of wall time. */
	void (*release)(void *arg, void *conn, double after_s);
	/* Modbus: a unit starts (on) or stops answering with exceptions as rule r says. */
	void (*exceptions)(void *arg, void *conn, const struct fb_fault_rule *r, bool on);
};

/* NULL (and nothing to do) when the run has no faults for this transport's fleets; also NULL
 * after fb_error when memory runs out (then *failed is set). */
struct fb_netfaults *fb_netfaults_new(const struct fb_transport_env *env, const char *transport,
                                      const struct fb_netfault_ops *ops, void *arg, bool *failed);
void fb_netfaults_free(struct fb_netfaults *nf);

/* A connection of the transport, represented by one of its devices (per-device: that device;
 * per-site: the site's first device of this transport; Modbus: a unit and its device). Returns 0
 * or -1 (out of memory). Ops a transport has no use for may be NULL. */
int fb_netfaults_add_conn(struct fb_netfaults *nf, void *conn, uint32_t device);
/* The transport's on_up for a connection: measures a storm's reconnection spread. */
void fb_netfaults_conn_up(struct fb_netfaults *nf, void *conn);

/* One encoded message of sample s about to be published on conn: applies a malformed fault in
 * place (payload has cap bytes; *len may change) and returns how many times to publish it now:
 * 0 (held back for a delay fault, or lost in a dark site), 1, or 1 + copies for a duplicate. Call
 * after env->sent(). */
unsigned fb_netfaults_message(struct fb_netfaults *nf, const struct fb_sample *s, void *conn,
                              const char *topic, uint8_t *payload, size_t *len, size_t cap);

/* The run is ending: held-back messages are sent, held connections released. Returns true once
 * nothing is held. */
bool fb_netfaults_drain(struct fb_netfaults *nf);

/* For the transport's report: {"held_back":n, "duplicated":n, "malformed":n, "dropped_dark":n,
 * "churned":n,
 * "storm":{"connections":n,"reconnected":n,"spread_s":{min,p50,p90,max}}}: "storm" covers every
 * mass reconnection, a reconnect_storm's and a dark site's return, each connection's time from
 * being let go to its CONNACK. */
json_t *fb_netfaults_report(const struct fb_netfaults *nf);
void fb_netfaults_summary(const struct fb_netfaults *nf, const char *transport, FILE *out);

/* Corrupts a payload in place as `mode` says (FB_MALFORMED_ANY picks one from draw): truncated
 * (cut short), syntax (JSON/text: structure broken; binary: first byte flipped), types (JSON: a
 * number becomes a string; else garbage), garbage (random bytes, same length). Returns the new
 * length (<= cap). Pure. */
size_t fb_fault_malform(enum fb_malformed_mode mode, uint64_t draw, uint8_t *buf, size_t len, size_t cap);

/* The run's fault counts by kind (sim's marks plus the transports' additions), for the summary
 * and the report: {"stuck": 24, "offline": 12, ...}; kinds of every rule appear, even at 0.
 * An empty object when the scenario has no faults. */
json_t *fb_faults_report(const struct fb_engine *e);
/* "  faults        stuck 24, offline 12" (nothing when there are none). */
void fb_faults_summary(const struct fb_engine *e, FILE *out);

#endif
