/* The Modbus poller (fb_collector_modbus, harness/collect.h): a Modbus TCP master on the loop
 * (non-blocking sockets, the bench's own MBAP framing, requests pipelined on one connection
 * per port, never libmodbus's blocking calls) that reads every simulated device's register map
 * on an interval.
 *
 * - Where: run mode reads this shard's Modbus devices at the ports and unit ids the transport
 *   serves them on (protocols/modbus/layout.h; cfg->target replaces the first port, as the
 *   transport's env.target does); validate mode reads one device at cfg->target, unit cfg->unit
 *   (default 1), with cfg->map_file or the type's default map (word order ABCD).
 * - When: every cfg->poll_interval (default: the fleet's reporting interval; validate: the type's
 *   default interval), converted to wall time with the run's pacing (a Modbus fleet runs at
 *   realtime in max mode), devices staggered over the interval. A poll is one read request per
 *   contiguous block of each table of the map (FC 01/02/03/04, at most 125 registers or 2000
 *   bits), sent back to back.
 * - What: every entry is decoded with its declared type, word/byte order and scale; a field's
 *   value is compared with env->values_now() taken when the poll was sent and when its last
 *   reply came (the device may take a new sample in between), within the entry's step (half the
 *   scale for integer registers, float32 rounding for floats, exact for bits); deviceIndex and
 *   deviceId registers must name the device; constants must read back. Without values_now
 *   (validate), values must lie in the field's range.
 * - One observation per poll: key = the device's poll number (0, 1, ...), ts = the poll's
 *   scheduled wall time (so latency counts from the schedule, not from a late send),
 *   recv_wall = its last reply; values by model field with `present` bits (fields still NaN,
 *   before the device's first sample, are not present); flags FB_OBS_TIMEOUT (a reply missing
 *   after the timeout: min(1 s, 80 % of the interval)), FB_OBS_EXCEPTION (an exception reply,
 *   e.g. 0x0B for an absent unit; detail names it), FB_OBS_WRONG_VALUE, FB_OBS_BAD_FIELD (out
 *   of range, validate). */
#ifndef FB_COLLECT_MODBUS_H
#define FB_COLLECT_MODBUS_H
#include <stdint.h>
#include "harness/collect.h"

struct fb_mb_poll_counters {
	uint64_t polls, complete, timeouts, exceptions, wrong_values, bad_fields, skipped;
	uint64_t requests, replies, late_replies, bad_frames, send_overflow;
	uint64_t connects, connect_failures, disconnects;
};
const struct fb_mb_poll_counters *fb_collector_modbus_counters(const struct fb_collector *c);

#endif
