/* The LoRaWAN collector (fb_collector_lorawan, harness/collect.h): a network-server endpoint on
 * UDP speaking the Semtech packet-forwarder protocol v2 (v1 datagrams are answered alike).
 *
 * - Gateways: PUSH_DATA -> PUSH_ACK, PULL_DATA -> PULL_ACK (the address of the last PULL_DATA is
 *   the gateway's downlink path), TX_ACK errors counted.
 * - Uplinks: every rxpk with a good CRC is parsed without allocation; one frame heard by several
 *   gateways (same DevAddr and FCnt within FB_LW_COLLECT_DEDUP_US of its first copy) is one
 *   uplink: its observation is sunk when the window closes, with `gateways` = the distinct
 *   gateways that heard it and recv_wall = the first copy's arrival. A device may have several
 *   uplinks in their windows at once (virtual time faster than the wall clock). The same
 *   gateway reporting the same frame twice is a network duplicate or a retransmission (a
 *   gateway cannot hear one transmission twice): sunk again, so reconciliation counts it; inside
 *   the window at once, after it when the frame is one of the device's last verified uplinks
 *   (late_copies). Another gateway's copy after the window is dropped, as network servers do.
 * - Each uplink's MIC is verified (32-bit FCnt rebuilt from the 16 wire bits, LoRaWAN 1.0.4
 *   §4.3.1.5) and its FRMPayload decrypted with the device's session keys, then decoded with the
 *   fleet's codec (decode_sample). Observation: key = fcnt = the 32-bit FCnt, airtime_s, gateways,
 *   the decoded values; flags FB_OBS_BAD_MIC, FB_OBS_REPLAY (FCnt below one already seen),
 *   FB_OBS_UNDECODABLE, FB_OBS_UNKNOWN_DEVICE (DevAddr of no device; device FB_OBS_NO_DEVICE).
 *   device_id is the DevEUI in hex. Frames of other shards' devices are counted as foreign.
 * - Joins (OTAA): the join-request's MIC is verified with the AppKey; the JoinAccept (JoinNonce a
 *   counter, NetID from the scenario, DevAddr = the device's derived address, RX1DROffset 0,
 *   RX2 DR0, RxDelay 1 s, CFList 867.1..867.9 MHz) goes back through PULL_RESP timed for RX1
 *   (rxpk.tmst + 5 s, same frequency and data rate). A DevNonce not above the device's last one
 *   (LoRaWAN 1.0.4: a counter; 1.0.3: one of its last 16) is reuse: flagged, counted, not
 *   accepted, as network servers do. In validate mode (no scenario) each join is also sunk as an
 *   observation with devnonce_plus1 set and no values; in `run` joins are counted only (the
 *   report's "joins": {"requested", "accepted", ...}).
 * - Downlinks: a confirmed uplink is acknowledged in its RX1 (tmst + 1 s); an application
 *   downlink queued with fb_collector_lorawan_downlink() rides in the RX1 after the device's next
 *   uplink (unconfirmed, FCntDown counting from 0 after each join); an uplink with ADRACKReq gets
 *   an empty downlink, so ADR devices keep their data rate (RP002: a silent network makes them
 *   step down to SF12). No other MAC commands are sent.
 *
 * Keys: derived from the scenario's seed as the transport derives them (protocols/lorawan/keys.h)
 * or read from the scenario's keys file; in validate mode (no scenario) from cfg->keys_file, the
 * csv `fleetbench keys` writes, every row a device of env->model (codec cfg->codec, default
 * binary). */
#ifndef FB_COLLECT_LORAWAN_H
#define FB_COLLECT_LORAWAN_H
#include <stddef.h>
#include <stdint.h>
#include "harness/collect.h"

#define FB_LW_COLLECT_DEDUP_US (200 * 1000)

/* The UDP port the endpoint is bound to (after start), or -1. */
int fb_collector_lorawan_port(const struct fb_collector *c);
/* Queues one application downlink (FPort 1..223, at most 51 bytes, the EU868 DR0 limit) for
 * device `device` (global index), sent in the RX1 window after its next uplink; a second call
 * before that replaces it. Returns 0, or -1 after fb_error (unknown device, bad port or size). */
int fb_collector_lorawan_downlink(struct fb_collector *c, uint32_t device, uint8_t fport,
                                  const uint8_t *payload, size_t len);

/* Counters, for the report and tests. */
struct fb_lw_collect_counters {
	uint64_t datagrams, bad_datagrams, push_data, pull_data, tx_ack, tx_ack_errors;
	uint64_t rxpk, rxpk_crc_bad, rxpk_bad;       /* bad: base64, modulation, unparsable frame */
	uint64_t uplinks;                            /* distinct verified uplinks sunk (after dedup;
	                                                repeats and late copies not counted) */
	uint64_t gateway_copies;                     /* extra copies merged by the dedup */
	uint64_t same_gateway_repeats;               /* network duplicates inside the window */
	uint64_t late_copies;                        /* the same gateway again after the window */
	uint64_t bad_mic, replays, undecodable, unknown_devices, foreign, mac_only;
	uint64_t joins_requested, joins_accepted, joins_bad_mic, joins_nonce_reused, joins_unknown;
	uint64_t downlinks, acks_sent, app_downlinks, adr_ack_answers, downlinks_no_path;
	uint64_t dedup_overflow;                     /* windows closed early (pool or device full) */
	uint64_t gateways_refused;                   /* datagrams of gateways beyond the table's
	                                                FB_LW_COLLECT_MAX_GATEWAYS: acknowledged,
	                                                not remembered (no downlink path) */
};
/* Distinct gateway EUIs the endpoint remembers (a simulated fleet has per_site x sites, or its
 * list); more, e.g. random EUIs from a misbehaving sender, cannot grow its memory. */
#define FB_LW_COLLECT_MAX_GATEWAYS 65536
const struct fb_lw_collect_counters *fb_collector_lorawan_counters(const struct fb_collector *c);

#endif
