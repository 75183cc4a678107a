/* A simulated LoRaWAN gateway speaking the Semtech UDP protocol to a network server: one
 * long-lived connected UDP socket (the source port never changes: TTS blocks a gateway whose
 * address changes), PUSH_DATA with up to 8 rxpk batched until the loop is about to block,
 * PUSH_ACK matched by token with the round-trip time, timeouts and retries counted, PULL_DATA
 * keep-alive every 10 s, stat every 30 s with its true counters, PULL_RESP -> TX_ACK (v2).
 * `tmst` is the gateway's own 32-bit µs counter over virtual time, starting at a value derived
 * from its index. */
#ifndef FB_LW_GATEWAY_H
#define FB_LW_GATEWAY_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <ev.h>
#include "protocols/lorawan/semtech.h"
#include "sim/fbtime.h"

#define FB_LW_GW_INFLIGHT 32          /* PUSH_DATA awaiting PUSH_ACK, per gateway */
#define FB_LW_RTT_BUCKETS 24          /* log2 µs buckets: [2^k, 2^(k+1)) */

struct fb_lw_gw_counters {
	uint64_t push_sent, push_acked, push_timeouts, push_retries, push_untracked;
	uint64_t pull_sent, pull_acked, pull_resp, tx_ack_sent, tx_ack_errors;
	uint64_t rxpk_forwarded, stat_sent, send_errors, bad_datagrams, unknown_token;
	uint64_t rtt_hist[FB_LW_RTT_BUCKETS];
	uint64_t rtt_sum_us, rtt_max_us;
};

struct fb_lw_gateway;

/* Called for each valid PULL_RESP; the handler answers with fb_lw_gateway_tx_ack(). */
typedef void (*fb_lw_downlink_fn)(void *arg, struct fb_lw_gateway *gw, uint16_t token,
                                  const struct fb_sm_txpk *tx);

struct fb_lw_inflight {
	uint16_t token;
	uint8_t tries;
	bool used;
	fb_time_us sent_wall;
	size_t len;
	uint8_t *buf;                      /* a copy for the retry (only when retries are on) */
};

struct fb_lw_gateway {
	uint32_t index;
	uint64_t eui;
	double lat, lon, height_m;
	uint8_t version;                   /* 2, or 1 */
	uint32_t tmst_offset;
	int fd;
	ev_io io;
	struct ev_loop *loop;
	fb_lw_downlink_fn on_downlink;
	void *arg;
	/* batching */
	struct fb_sm_rxpk pending[FB_SM_MAX_RXPK];
	uint8_t pending_data[FB_SM_MAX_RXPK][256];
	size_t npending;
	bool queued;                       /* on the transport's flush list */
	/* acks */
	struct fb_lw_inflight inflight[FB_LW_GW_INFLIGHT];
	uint16_t next_token;
	fb_time_us push_timeout_us;
	uint8_t push_retries;
	fb_time_us next_pull_wall, next_stat_wall, pull_sent_wall;
	uint16_t pull_token;
	bool pull_outstanding;
	unsigned pull_missed;              /* consecutive PULL_DATA without PULL_ACK */
	/* stat counters since the last stat */
	uint32_t rxnb, rxok, rxfw, dwnb, txnb, up_sent, up_acked;
	struct fb_lw_gw_counters c;
	bool logged_bad, logged_timeout, logged_send;
	uint8_t buf[FB_SM_BUF_SIZE];
};

/* Opens the socket, connects it to the server and starts reading. 0, or -1 after fb_error. */
int fb_lw_gateway_open(struct fb_lw_gateway *gw, struct ev_loop *loop,
                       const struct sockaddr *server, socklen_t server_len);
void fb_lw_gateway_close(struct fb_lw_gateway *gw);

/* The gateway's counter at virtual time t. */
uint32_t fb_lw_gateway_tmst(const struct fb_lw_gateway *gw, fb_time_us t);
/* Queues one rxpk (data copied); sends a PUSH_DATA when 8 are queued. Returns true when the
 * caller should put the gateway on its flush list (first pending rxpk). */
bool fb_lw_gateway_queue(struct fb_lw_gateway *gw, const struct fb_sm_rxpk *rx, fb_time_us wall_now);
/* Takes back a queued rxpk (by tmst) that a collision destroyed before it was forwarded; it
 * stays counted in rxnb, not in rxok. Returns true if it was still queued. */
bool fb_lw_gateway_unqueue(struct fb_lw_gateway *gw, uint32_t tmst);
/* Sends what is queued (PUSH_DATA with 1..8 rxpk). */
void fb_lw_gateway_flush(struct fb_lw_gateway *gw, fb_time_us wall_now);
/* Timers: keep-alive, stat, PUSH_ACK timeouts and retries. virtual_now stamps the stat time. */
void fb_lw_gateway_tick(struct fb_lw_gateway *gw, fb_time_us wall_now, fb_time_us virtual_now);
/* TX_ACK (v2 only) for the PULL_RESP token; error NULL or "NONE" for success. */
void fb_lw_gateway_tx_ack(struct fb_lw_gateway *gw, uint16_t token, const char *error);
/* Outstanding PUSH_DATA (for draining). */
unsigned fb_lw_gateway_inflight(const struct fb_lw_gateway *gw);

#endif
