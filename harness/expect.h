/* Expectations: the scenario's `expect:` block turns a run's results into a verdict (exit 3 when
 * one is not met) and JUnit test cases.
 *
 *   expect:
 *     loss_max: 0.5%            # global: over all protocols (bench.total)
 *     latency_p99_max: 2s
 *     lag_max: 1s
 *     mqtt:                     # per protocol (bench.protocols.mqtt)
 *       latency_p99_max: 250ms
 *       rate_min: 5000/s
 *     lorawan: {join_success_min: 0.99}
 *
 * Keys, global or per protocol (mqtt, lorawan, modbus):
 *   loss_max           lost / expected, a fraction 0..1 or a percentage ("0.5%")
 *   lost_max           lost messages (count)
 *   latency_p50_max, latency_p90_max, latency_p99_max, latency_p999_max
 *                      end-to-end latency percentile (a duration: 250ms, 2s)
 *   rate_min           received messages per wall second of the run ("5000/s", "300/min", 5000)
 *   errors_max         undecodable + wrong values + unexpected + transport errors (count)
 *   duplicates_max, out_of_order_max, wrong_values_max   (counts)
 *   join_success_min   LoRaWAN joins accepted / requested (global or under lorawan)
 *   lag_max            the engine's largest lag behind the wall clock (global only; paced runs)
 *
 * Evaluation reads only a report JSON (harness/report.h), so `report merge` re-evaluates the
 * merged totals exactly as a single run would. Nothing measured fails (a protocol without
 * traffic, no latency, no join), except in one shard of several: there it is "skipped", passed,
 * and left to the merged report (a shard may hold no device of that kind). */
#ifndef FB_EXPECT_H
#define FB_EXPECT_H
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include "sim/scenario.h"
#include "sim/ynode.h"

/* Parses sc->expect. Returns 0 with *out = the normalised block for the report's "expect" key
 * (NULL when the scenario has no expect:), or -1 after located errors (unknown key with a
 * suggestion, bad value, a protocol no fleet uses): exit 2. */
int fb_expect_parse(const struct fb_scenario *sc, json_t **out);
/* The same for any node; `protos` (NULL-terminated) are the protocols the fleet uses, NULL for
 * all three. */
int fb_expect_parse_node(const struct fb_ynode *node, const char *const *protos, json_t **out);

/* The "expectations" array for report["expect"] evaluated against the report (empty when the
 * report has no "expect"). NULL only if out of memory. */
json_t *fb_expect_evaluate(const json_t *report);
/* How many entries of an "expectations" array are not ok. */
size_t fb_expect_failed(const json_t *expectations);
/* One line per unmet expectation: "expectation 'mqtt.loss_max' not met: ...". */
void fb_expect_print_failures(const json_t *expectations, FILE *out);

/* Evaluates, stores report["expectations"], prints the failures on stderr; returns the number
 * not met (run exits 3 when > 0). */
size_t fb_expect_apply(json_t *report);

#endif
