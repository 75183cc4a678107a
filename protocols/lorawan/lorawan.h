/* The LoRaWAN transport: simulated gateways (Semtech UDP) and end devices on the libev loop.
 *
 * Two layers:
 *  - struct fb_lw_net, the network of gateways and devices, driven by plain calls (an uplink of
 *    device i at virtual time t with these payload bytes), usable without an engine (tests, bench);
 *  - fb_transport_lorawan, the struct fb_transport_ops that reads `transports: lorawan:`, encodes
 *    samples with the fleet's codec and turns application downlinks into fb_engine_command().
 *
 * Scenario section (every key optional except server):
 *   transports:
 *     lorawan:
 *       server: udp://127.0.0.1:1700
 *       protocol: 2                       # Semtech UDP version, 2 or 1
 *       gateways: {per_site: 2, height: 25m}   # or a list of {eui, lat, lon, height}
 *       activation: otaa                  # or abp
 *       region: EU868
 *       lorawan_version: 1.0.4            # or 1.0.3
 *       keys: {seed_derived: true}        # or {file: keys.csv}
 *       payload: binary                   # or lpp (default codec of lorawan fleets)
 *       duty_cycle: on                    # off: non-compliant stress runs, reported as such
 *       adr: true
 *       confirmed: false                  # confirmed uplinks (ACK expected)
 *       retransmissions: 3                # confirmed / join retries
 *       class: A                          # or C
 *       net_id: "000000"                  # ABP DevAddr NwkID
 *       push_timeout: 100ms
 *       push_retries: 0
 *       reply_grace: 1s                   # wall-clock wait for a downlink in xN / max modes
 *       radio: {gamma: 2.08, pl_d0: 127.41, d0: 40m, shadowing: 0}
 *       collisions: false                 # same channel + SF + overlapping airtime at a gateway:
 *                                         # the stronger by 6 dB survives, else both are lost
 */
#ifndef FB_LW_LORAWAN_H
#define FB_LW_LORAWAN_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <ev.h>
#include "protocols/lorawan/device.h"
#include "protocols/lorawan/gateway.h"
#include "protocols/lorawan/keys.h"
#include "protocols/lorawan/radio.h"
#include "protocols/transport.h"

struct fb_lw_gw_spec {
	uint64_t eui;
	double lat, lon, height_m;
	uint32_t site;                     /* site index it serves, or UINT32_MAX: all */
};

struct fb_lw_config {
	struct sockaddr_storage server;
	socklen_t server_len;
	char server_text[128];
	uint8_t protocol_version;          /* 2 or 1 */
	bool otaa, duty_cycle, adr, confirmed, class_c, v103;
	bool collisions;                   /* same channel and SF overlapping: 6 dB capture */
	uint32_t net_id;
	uint8_t retransmissions, initial_dr, push_retries;
	fb_time_us push_timeout_us, reply_grace_us;
	struct fb_lw_radio_params radio;
	struct fb_lw_gw_spec *gateways;    /* owned */
	size_t ngateways;
	char *keys_file;                   /* owned, or NULL: seed-derived */
	const char *payload;               /* "binary" or "lpp" */
	unsigned per_site;
	double gw_height_m;
};

/* Defaults: protocol 2, OTAA, duty cycle on, ADR on, unconfirmed, 3 retransmissions, DR5 first,
 * PUSH_ACK timeout 100 ms, no retries, 1 s grace, LoRaSim radio defaults, 1 gateway per site at 25 m. */
void fb_lw_config_defaults(struct fb_lw_config *c);
void fb_lw_config_release(struct fb_lw_config *c);
/* "udp://host:port" (numeric or resolvable host, resolved once at start-up). 0 or -1. */
int fb_lw_parse_server(struct fb_lw_config *c, const char *url);
/* Reads `transports: lorawan:` (node may be NULL). Prints file:line:col errors; 0 or -1. */
int fb_lw_config_read(struct fb_lw_config *c, const struct fb_ynode *node);
/* The same; need_server false when a --local / --collect target stands in for the server (it may
 * then be absent, and is not resolved), or for readers of the other settings (the collector). */
int fb_lw_config_read_for(struct fb_lw_config *c, const struct fb_ynode *node, bool need_server);

/* Per-run counters (the summary and the JSON report). */
struct fb_lw_counters {
	uint64_t joins_requested, joins_accepted, joins_failed;
	uint64_t uplinks_sent, uplinks_confirmed, uplinks_acked, retransmissions, ack_timeouts;
	uint64_t uplinks_unheard, rxpk_sent, rxpk_collided;
	uint64_t samples_not_joined, too_long, encode_errors;
	uint64_t held_sent;                /* samples kept during a join, sent after it */
	uint64_t held_superseded;          /* kept samples replaced by a newer one before the join */
	uint64_t duty_cycle_deferrals;     /* uplinks delayed to the end of their sub-band's off-time */
	uint64_t duty_cycle_superseded;    /* a delayed uplink replaced by the device's next sample */
	uint64_t downlinks_received, downlinks_in_window, downlinks_late, downlinks_unmatched;
	uint64_t downlinks_bad_mic, downlinks_replay, downlinks_bad_mac, downlinks_app;
	uint64_t mac_commands, adr_changes, commands_applied, commands_rejected;
};

/* Where the devices and gateways are. */
struct fb_lw_placement {
	uint64_t seed;
	uint32_t first, count;             /* global indexes of the devices */
	const double *lat, *lon;           /* per device */
	const uint32_t *site;              /* per device: site index */
	const bool *active;                /* per device: uses this transport (NULL: all) */
	const struct fb_site *sites;
	size_t nsites;
	/* Sharding (`--shard i/N`): a gateway that devices of other shards reach too would be spoken
	 * for by two processes under one EUI (the server routes its downlinks to whichever pulled
	 * last). Shard i > 0 then uses fb_lw_gateway_eui_shard(eui, i) for such gateways. */
	uint32_t shard_index;
	const bool *site_shared;           /* per site (per_site gateways); NULL: none shared */
	bool list_shared;                  /* explicit gateway list: other shards use it too */
};

typedef void (*fb_lw_app_fn)(void *arg, uint32_t device, uint8_t fport, const uint8_t *payload,
                             size_t len);
/* An application uplink left device `device` with the 32-bit FCnt `fcnt` (its first
 * transmission: not for retransmissions of a confirmed uplink, not for joins). */
typedef void (*fb_lw_sent_fn)(void *arg, uint32_t device, uint32_t fcnt);
typedef fb_time_us (*fb_lw_now_fn)(void *arg);

struct fb_lw_net;

/* Creates gateways (placed per cfg) and devices (keys derived or loaded, DevNonce from
 * state_file when given). Takes ownership of nothing; copies cfg. NULL after fb_error. */
struct fb_lw_net *fb_lw_net_new(struct ev_loop *loop, const struct fb_lw_config *cfg,
                                const struct fb_lw_placement *p, const char *state_file);
/* Opens the gateways' sockets and starts the timers. 0 or -1. */
int fb_lw_net_start(struct fb_lw_net *n);
void fb_lw_net_set_app_handler(struct fb_lw_net *n, fb_lw_app_fn fn, void *arg);
void fb_lw_net_set_sent_handler(struct fb_lw_net *n, fb_lw_sent_fn fn, void *arg);
/* The virtual clock used to judge late downlinks (default: the last uplink's time). */
void fb_lw_net_set_clock(struct fb_lw_net *n, fb_lw_now_fn fn, void *arg);
/* One application uplink of device `device` at virtual time t. Joins first (OTAA): a sample
 * that comes before the join completes starts the join (when idle) and is kept, as a real device
 * keeps its reading: it is sent once the join-accept arrives (at the join-accept's receive
 * window), unless a newer sample replaces it first (counted as held_superseded). */
void fb_lw_net_uplink(struct fb_lw_net *n, uint32_t device, fb_time_us t, const uint8_t *payload,
                      size_t len, uint8_t fport);
/* Sends the uplinks deferred to a virtual time at or before t (duty cycle, or a sample kept
 * during a join), in time order, none beyond fb_lw_net_hold_until() (re-read after each: a
 * confirmed uplink makes virtual time wait for its ACK). The driver calls it when virtual time
 * reaches t with every earlier sample handed over (the transport: the engine's next event). */
void fb_lw_net_run_due(struct fb_lw_net *n, fb_time_us t);
/* The earliest deferred uplink's time, or FB_TIME_NEVER. */
fb_time_us fb_lw_net_next_due(const struct fb_lw_net *n);
/* Handles receive windows that ended before t (retransmissions, join retries). */
void fb_lw_net_advance(struct fb_lw_net *n, fb_time_us t);
/* Virtual time must stay at or before this until a real peer has answered (the earliest RX1
 * opening of a device awaiting a join-accept or an ACK, while its wall-clock grace lasts), so
 * the answer is not TOO_LATE; FB_TIME_NEVER when nothing is awaited. */
fb_time_us fb_lw_net_hold_until(struct fb_lw_net *n);
/* Flushes batches; true once no PUSH_DATA awaits its ACK. Saves the state file. */
bool fb_lw_net_drain(struct fb_lw_net *n);
int fb_lw_net_save_state(struct fb_lw_net *n);
const struct fb_lw_counters *fb_lw_net_counters(const struct fb_lw_net *n);
/* Sum over gateways. */
void fb_lw_net_gw_counters(const struct fb_lw_net *n, struct fb_lw_gw_counters *out);
struct fb_lw_device *fb_lw_net_device(struct fb_lw_net *n, uint32_t device);
/* Faults (sim/fault.h): the device's next data uplink is declared sent, then sent with a MIC that
 * does not verify. */
enum fb_lw_fate { FB_LW_FATE_NONE, FB_LW_FATE_BAD_MIC };
void fb_lw_net_fate(struct fb_lw_net *n, uint32_t device, enum fb_lw_fate fate);
/* Faults: the device's site is dark: no gateway hears it before virtual time `until`. */
void fb_lw_net_dark(struct fb_lw_net *n, uint32_t device, fb_time_us until);
/* Faults: a firmware reboot: FCnt from 0, and an OTAA device joins again before its next uplink. */
void fb_lw_net_reboot(struct fb_lw_net *n, uint32_t device);
size_t fb_lw_net_gateway_count(const struct fb_lw_net *n);
struct fb_lw_gateway *fb_lw_net_gateway(struct fb_lw_net *n, size_t i);
void fb_lw_net_summary(const struct fb_lw_net *n, FILE *out);
json_t *fb_lw_net_report(const struct fb_lw_net *n);
void fb_lw_net_free(struct fb_lw_net *n);

extern const struct fb_transport_ops fb_transport_lorawan;

/* `fleetbench keys SCENARIO --format F`: every device of the scenario's lorawan fleets (keys
 * from the scenario's `keys:` setting) to out. Returns 0, or -1 after fb_error (2 for the CLI). */
int fb_lw_keys_command(const struct fb_scenario *sc, enum fb_lw_keys_format format, FILE *out);

#endif
