/* The run report (JSON): its schema, the pieces the bench adds to it, the shard merge, JUnit
 * output and the `report` command.
 *
 * Schema. `fleetbench run --report FILE` writes one object; every key below is present unless
 * marked optional. Integers are JSON integers; *_s are seconds (reals); times are ISO 8601 UTC.
 *
 *   "fleetbench": "0.1.0"                      version that wrote the report
 *   "scenario": {"name", "path", "timezone"}
 *   "shard": {"index", "count", "by", "first_device", "devices"}   by: "site" or "device"
 *                                              a merged report: {"count", "merged": [indexes],
 *                                              "complete": bool, "first_device", "devices"}
 *   "shards": [{"index", "first_device", "devices", "samples", "wall_time_s", "exit_code",
 *               "file"}]                       merged reports only: one entry per shard
 *   "seed": "42"                               a string (u64)
 *   "start", "end": virtual time span of the run; "duration_s"
 *   "speed": "max" or the paced factor (1 = realtime)
 *   "devices", "samples", "commands"           this shard's (merged: summed)
 *   "wall_time_s", "startup_s", "samples_per_s", "peak_rss_mib"
 *   "samples_by_type", "samples_by_site", "devices_by_type", "devices_by_site": {name: N}
 *   "lag": {"max_s", "mean_s", "late_events"}  optional: paced runs only
 *   "waited_on_peers_s"
 *   "transports": {name: {...}}                each transport's own counters (free-form)
 *   "exit_code"
 *
 * The bench adds (filled by run.c from recon.c, signals.c, expect.c; all optional):
 *
 *   "expect": the scenario's expect: block, normalised (fb_expect_parse): fractions as numbers
 *             in 0..1, latency limits in µs (as HIST), lag_max in seconds, rate_min in messages
 *             per second, counts as integers; per-protocol blocks under their protocol name.
 *   "bench": {
 *     "protocols": {"mqtt": COUNTS + {"latency_us": HIST, "by_type": {"noise": COUNTS, ...},
 *                                     "by_site": {"<site id>": COUNTS, ...}},
 *                   "lorawan": ..., "modbus": ...},
 *     "total": COUNTS + {"latency_us": HIST},
 *     "joins": {"requested": N, "accepted": N}}
 *   COUNTS = {"expected", "received", "lost", "duplicated", "out_of_order", "wrong_values",
 *             "undecodable", "unexpected", "foreign"} (integers), optionally "transport_errors"
 *             (transport-level failures the bench counts as errors: failed publishes, refused
 *             connections, ...)
 *   HIST = {"count", "min", "max", "mean", "saturated", "p50", "p90", "p99", "p999",
 *           "buckets": [[index, count], ...]}    sparse, indexes of sim/hist.h; values in µs
 *
 *   "series": {"t0": "<ISO wall time of second 0>", "step_s": 1, "sent": [N...],
 *              "received": [N...], "errors": [N...], "lag_s": [x...]}
 *             per wall second; t0 is a whole second, so shards align on absolute seconds
 *   "signals": {"<type>": {"field": "LAeq", "unit": "dB(A)", "devices": ["noise-000000", ...],
 *                          "points": [[[t, v], ...], ...]}}     t in virtual epoch seconds,
 *             one list of points per device (harness/signals.h)
 *   "expectations": [{"name": "mqtt.latency_p99_max", "limit": x, "actual": x or null,
 *                     "unit": "us" | "fraction" | "count" | "msg/s" | "s", "ok": bool,
 *                     "message": "..."}]        (harness/expect.h)
 */
#ifndef FB_REPORT_H
#define FB_REPORT_H
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "harness/recon.h"
#include "sim/fbtime.h"
#include "sim/hist.h"

/* HIST object of h (summaries and sparse buckets); NULL only if out of memory. */
json_t *fb_hist_to_json(const struct fb_hist *h);
/* Resets h and restores it from a HIST object (buckets, min, max, saturated). Returns 0, or -1
 * after fb_error when j is not a HIST object or an index is out of range. */
int fb_hist_from_json(const json_t *j, struct fb_hist *h);

/* COUNTS object; and back (missing keys read as 0; -1 if j is not an object). */
json_t *fb_report_counts_json(const struct fb_recon_counts *c);
int fb_report_counts_from_json(const json_t *j, struct fb_recon_counts *c);

/* The per-second time series. run.c calls fb_series_tick from a 1 s timer (and once at the end)
 * with its running totals; each tick adds the growth since the previous one to the wall second
 * holding `wall`, and keeps the largest lag seen in that second. Allocates only when the series
 * grows (about once a minute), never per message. */
struct fb_series;
struct fb_series *fb_series_new(fb_time_us wall_start);     /* NULL if out of memory */
void fb_series_free(struct fb_series *s);
void fb_series_tick(struct fb_series *s, fb_time_us wall, uint64_t sent_total,
                    uint64_t received_total, uint64_t errors_total, double lag_s);
json_t *fb_series_report(const struct fb_series *s);

/* Merges shard reports exactly: counters summed, histograms merged bucket by bucket, series
 * summed by absolute wall second, signals united, shards listed, and "expectations"
 * re-evaluated from "expect". names[i] labels reports[i] in messages and in "shards".
 * Returns the merged report, or NULL after fb_error (different scenario, seed or expect:
 * block, a shard given twice, a malformed report). */
json_t *fb_report_merge(json_t *const *reports, const char *const *names, size_t n);

/* Writes one JUnit <testcase> per expectation of the report, in a <testsuite> named after the
 * scenario. Returns 0, or -1 after fb_error. */
int fb_report_write_junit(const json_t *report, const char *path);
int fb_report_junit(const json_t *report, FILE *out);
/* Writes s (NULL: nothing) as XML 1.0 character data or attribute text: the five entities
 * escaped, control characters other than tab and newline (not allowed in XML 1.0) as spaces. */
void fb_xml_escape(FILE *out, const char *s);

/* Loads a report file; NULL after fb_error. */
json_t *fb_report_load(const char *path);

/* `fleetbench report merge|html ...` */
int fb_cmd_report(int argc, char **argv);

#endif
