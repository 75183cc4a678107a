/* End-to-end reconciliation: the fleet is deterministic, so the bench knows every message that
 * should arrive. Transports declare each message as it leaves (fb_transport_env.sent ->
 * fb_recon_expect); collectors report what arrived (fb_recon_observe). Per protocol, type and
 * site the bench counts messages expected, received, lost, duplicated, out of order, with wrong
 * values, undecodable and foreign, and records end-to-end latency from each message's
 * *scheduled* wall time (no coordinated omission).
 *
 * Matching: a pending table keyed by (device, key) holds what was sent and not yet received
 * (expected values and scheduled wall time). A received message whose key is pending is
 * received (and compared); one whose key is not pending but was sent earlier is a duplicate; one
 * never sent is counted as unexpected. Out of order: a device's message whose scheduled time is
 * before one already received from it. At the end, what is still pending is lost. Modbus polls
 * are self-describing observations (the poller knows what it asked): each poll is an expected
 * message, a timeout is a loss. */
#ifndef FB_RECON_H
#define FB_RECON_H
#include <stdio.h>
#include <jansson.h>
#include "harness/collect.h"
#include "sim/engine.h"
#include "sim/hist.h"

struct fb_recon;

struct fb_recon_counts {
	uint64_t expected, received, lost, duplicated, out_of_order, wrong_values;
	uint64_t undecodable, unexpected, foreign;
};

/* protos: the protocol names that will appear (for the report's keys). */
struct fb_recon *fb_recon_new(const struct fb_scenario *sc, uint32_t first_device, uint32_t count);
void fb_recon_free(struct fb_recon *r);
/* A message left for the network: sample s, identity key (see fb_obs.key), scheduled wall time. */
void fb_recon_expect(struct fb_recon *r, const char *proto, const struct fb_sample *s, uint64_t key,
                     fb_time_us sched_wall);
void fb_recon_observe(struct fb_recon *r, const struct fb_obs *o);
/* Everything still pending becomes lost. Idempotent. */
void fb_recon_finish(struct fb_recon *r);
/* Messages sent and not yet received (drain waits on this). */
uint64_t fb_recon_outstanding(const struct fb_recon *r);
/* Totals for one protocol, or for all when proto is NULL. */
void fb_recon_totals(const struct fb_recon *r, const char *proto, struct fb_recon_counts *out);
/* Latency histogram (µs) for one protocol or all (NULL); never NULL. */
const struct fb_hist *fb_recon_latency(const struct fb_recon *r, const char *proto);
/* Live counters for the per-second series and the metrics endpoint. */
uint64_t fb_recon_received_total(const struct fb_recon *r);
uint64_t fb_recon_errors_total(const struct fb_recon *r);
void fb_recon_summary(const struct fb_recon *r, FILE *out);
/* The report's "bench" object (schema in harness/report.h). */
json_t *fb_recon_report(const struct fb_recon *r);

#endif
