/* MQTT client connections on one libev loop: a pool of sessions (one socket each, plain TCP or
 * TLS through one shared SSL_CTX), each with its own state machine: non-blocking connect, TLS
 * handshake, CONNECT/CONNACK, subscribe, keep-alive, QoS 1/2 flows with packet ids in an inflight
 * window, a queue behind the window, resend of unacknowledged QoS 1/2 messages with DUP after a
 * reconnect, and reconnect with exponential back-off and jitter (keyed random stream, so a run
 * with the same seed waits the same). New connections are admitted at `connect_rate`.
 *
 * Writes are batched: a publish appends to the connection's out buffer and the pool flushes each
 * dirty connection once per loop turn (one send / SSL_write per connection per turn). Buffers grow
 * to the largest packet seen and are then reused: no allocation per message once warm. Nothing
 * here blocks: the broker's address is resolved by the caller before the loop runs
 * (fb_mqtt_resolve()). Time is ev_now() of the loop. */
#ifndef FB_MQTT_CLIENT_H
#define FB_MQTT_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <ev.h>
#include "protocols/mqtt/packet.h"
#include "sim/fbtime.h"

struct fb_mqtt_pool;
struct fb_mqtt_conn;

/* Why a connection attempt or a live connection failed (counted, logged once per kind). */
enum fb_mqtt_fail {
	FB_MQTT_FAIL_REFUSED_TCP,     /* ECONNREFUSED and other connect() errors */
	FB_MQTT_FAIL_TIMEOUT,         /* no CONNACK within the connect timeout */
	FB_MQTT_FAIL_UNKNOWN_CA,      /* TLS: the broker's certificate does not chain to the CA */
	FB_MQTT_FAIL_WRONG_HOSTNAME,  /* TLS: the certificate does not name the host */
	FB_MQTT_FAIL_TLS,             /* TLS: any other handshake or record error */
	FB_MQTT_FAIL_CLOSED,          /* the broker closed the connection (or a read/write error) */
	FB_MQTT_FAIL_MALFORMED,       /* the broker sent bytes that are not valid MQTT */
	FB_MQTT_FAIL_PROTOCOL,        /* a valid packet that makes no sense here */
	FB_MQTT_FAIL_KEEPALIVE,       /* no PINGRESP within the keep-alive */
	FB_MQTT_FAIL_DISCONNECTED,    /* the broker sent DISCONNECT (v5; reason counted) */
	FB_MQTT_FAIL_NOFILE,          /* no descriptor left (EMFILE / ENFILE) */
	FB_MQTT_FAIL_NOPORT,          /* no local port left towards the broker (EADDRNOTAVAIL) */
	FB_MQTT_FAIL_KINDS
};
const char *fb_mqtt_fail_name(enum fb_mqtt_fail f);

struct fb_mqtt_stats {
	uint64_t connections_up;             /* now */
	uint64_t connects_ok, connects_failed, connects_refused;
	uint64_t refused_by_reason[256];     /* CONNACK code (3.1.1 return code or v5 reason) */
	uint64_t failures[FB_MQTT_FAIL_KINDS];
	uint64_t reconnects;                 /* successful connects after the first per connection */
	uint64_t pub_sent;                   /* PUBLISH packets written (resends included) */
	uint64_t pub_resent;                 /* of which resends with DUP after a reconnect */
	uint64_t pub_acked;                  /* QoS 1/2 completed with a success code */
	uint64_t pub_no_subscribers;         /* of which with reason 0x10 (v5) */
	uint64_t pub_failed;                 /* QoS 1/2 answered with a failure reason code */
	uint64_t pub_failed_by_reason[256];
	uint64_t pub_dropped;                /* QoS 0 offered while the connection was down */
	uint64_t inflight, queued;           /* now: in the window, waiting behind it */
	uint64_t bytes_in, bytes_out;
	uint64_t msgs_in;                    /* PUBLISH received (commands) */
	uint64_t sub_failed;                 /* SUBACK failure codes */
	uint64_t malformed_by_kind[16];      /* index: -fb_mqtt_err of the decoder */
};

struct fb_mqtt_pool_config {
	struct sockaddr_storage addr;        /* the broker, resolved (fb_mqtt_resolve) */
	socklen_t addrlen;
	uint8_t version;                     /* FB_MQTT_V311 or FB_MQTT_V5 */
	uint16_t keepalive_s;                /* 0: no keep-alive */
	uint16_t inflight;                   /* QoS 1/2 window per connection, >= 1 */
	double connect_rate;                 /* new connections per second; 0: no limit */
	fb_time_us reconnect_min_us, reconnect_max_us;
	double reconnect_jitter;             /* 0..1: the delay is d * (1 - jitter * u) */
	fb_time_us connect_timeout_us;       /* TCP + TLS + CONNACK */
	uint32_t max_packet;                 /* largest packet accepted from the broker */
	size_t max_queued;                   /* per connection, messages behind the window: busy */
	uint64_t seed;                       /* for the reconnect jitter streams */
	/* TLS when tls is true: one SSL_CTX for the pool. tls_host names the broker for SNI and
	 * certificate verification; ca NULL uses the system's default store. */
	bool tls;
	const char *tls_host, *tls_ca, *tls_cert, *tls_key;
	bool tls_insecure;                   /* no verification (test brokers only) */
};

/* The session of one connection. Strings are copied. */
struct fb_mqtt_conn_config {
	uint32_t index;                      /* keys the jitter stream; e.g. the device index */
	const char *client_id;
	const char *username;                /* or NULL */
	const char *password;                /* or NULL */
	bool clean_start;
	uint32_t session_expiry_s;           /* v5 */
	const char *const *subscribe;        /* command topic filters, NULL-terminated (at most
	                                        FB_MQTT_MAX_TOPICS), or NULL */
	uint8_t subscribe_qos;
};

struct fb_mqtt_callbacks {
	void *arg;
	/* Just before each CONNECT is written: the place to set the will (Sparkplug bdSeq). */
	void (*before_connect)(void *arg, struct fb_mqtt_conn *c);
	/* CONNACK accepted; the subscription and any resends are already queued. */
	void (*on_up)(void *arg, struct fb_mqtt_conn *c, bool session_present);
	/* The connection went down (it will reconnect unless the pool is draining). */
	void (*on_down)(void *arg, struct fb_mqtt_conn *c, enum fb_mqtt_fail why);
	/* A PUBLISH from the broker (QoS acks are handled here). */
	void (*on_message)(void *arg, struct fb_mqtt_conn *c, const struct fb_mqtt_packet *p);
};

/* Resolves host:port once (blocking; call before the loop runs). Returns 0 or -1 after fb_error. */
int fb_mqtt_resolve(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len);

/* Returns NULL after fb_error (bad TLS files, out of memory). */
struct fb_mqtt_pool *fb_mqtt_pool_new(struct ev_loop *loop, const struct fb_mqtt_pool_config *cfg,
                                      const struct fb_mqtt_callbacks *cb);
void fb_mqtt_pool_free(struct fb_mqtt_pool *p);
/* Adds a connection (not connected until fb_mqtt_pool_start). NULL if out of memory. */
struct fb_mqtt_conn *fb_mqtt_pool_add(struct fb_mqtt_pool *p, const struct fb_mqtt_conn_config *cc,
                                      void *user);
/* Queues every connection for connecting at the connect rate. */
void fb_mqtt_pool_start(struct fb_mqtt_pool *p);
/* Orderly end: each connection with no QoS 1/2 message waiting sends DISCONNECT (v5 reason
 * `reason`) and closes; the others keep going (and reconnecting) until their messages are
 * acknowledged. Call repeatedly; true once every connection is closed. The caller bounds the
 * wait (a broker that stays away keeps messages waiting forever). */
bool fb_mqtt_pool_drain(struct fb_mqtt_pool *p, uint8_t reason);
const struct fb_mqtt_stats *fb_mqtt_pool_stats(const struct fb_mqtt_pool *p);
size_t fb_mqtt_pool_size(const struct fb_mqtt_pool *p);
struct fb_mqtt_conn *fb_mqtt_pool_conn(struct fb_mqtt_pool *p, size_t i);
/* True when any connection has max_queued messages waiting (backpressure). */
bool fb_mqtt_pool_busy(const struct fb_mqtt_pool *p);

/* Publishes on c. QoS 0 is written at the next flush if the connection is up, else dropped and
 * counted (returns 1). QoS 1/2 enter the window or the queue behind it and are never dropped
 * (returns 0). Returns -1 (after counting nothing) if topic or payload cannot be encoded. */
int fb_mqtt_publish(struct fb_mqtt_conn *c, const char *topic, const uint8_t *payload, size_t len,
                    uint8_t qos, bool retain);
/* Sets (or clears with topic NULL) the will of the next CONNECT; bytes are copied. */
int fb_mqtt_conn_set_will(struct fb_mqtt_conn *c, const char *topic, const uint8_t *payload,
                          size_t len, uint8_t qos, bool retain);
/* Closes the connection at once, as a crash would (no DISCONNECT: the broker sends the will).
 * It reconnects after back-off. For tests and fault injection. */
void fb_mqtt_conn_abort(struct fb_mqtt_conn *c);
/* Fault injection: closes the connection at once (as fb_mqtt_conn_abort) and keeps it down, no
 * reconnect, until fb_mqtt_conn_release, which reconnects it after `after_s` seconds of wall time
 * (through the pool's connect rate). A held connection with messages waiting keeps a drain
 * waiting: release it first. */
void fb_mqtt_conn_hold(struct fb_mqtt_conn *c);
void fb_mqtt_conn_release(struct fb_mqtt_conn *c, double after_s);
bool fb_mqtt_conn_up(const struct fb_mqtt_conn *c);
void *fb_mqtt_conn_user(const struct fb_mqtt_conn *c);
uint32_t fb_mqtt_conn_index(const struct fb_mqtt_conn *c);
const char *fb_mqtt_conn_client_id(const struct fb_mqtt_conn *c);
/* Number of CONNACKs accepted on this connection so far. */
uint32_t fb_mqtt_conn_sessions(const struct fb_mqtt_conn *c);
/* Messages waiting (window + queue) on this connection. */
size_t fb_mqtt_conn_pending(const struct fb_mqtt_conn *c);
/* Of those, the ones the broker has not taken yet: queued, or written and neither PUBACKed nor
 * PUBRECed (after a PUBREC the broker owns a QoS 2 message; only PUBREL is resent, §4.3.3). */
size_t fb_mqtt_conn_unacked(const struct fb_mqtt_conn *c);

#endif
