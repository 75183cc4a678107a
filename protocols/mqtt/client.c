/* MQTT client sessions on libev: see protocols/mqtt/client.h. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "protocols/mqtt/client.h"
#include "sim/log.h"
#include "sim/rng.h"

#define IN_START 256           /* first in-buffer size; grows to the largest packet seen */
#define IN_BUSY 16384          /* in-buffer of a connection whose reads fill the buffer */
#define READ_BUDGET 65536      /* bytes read per connection per event, for fairness */
#define ACKS_PER_WAKE 16       /* at most, waited for before a read (see set_lowat) */

enum state {
	ST_IDLE,          /* not started, or closed for good after a drain */
	ST_BACKOFF,       /* waiting for the reconnect timer */
	ST_QUEUED,        /* in the pool's connect queue, waiting for the rate limiter */
	ST_TCP,           /* non-blocking connect in progress */
	ST_TLS,           /* TLS handshake */
	ST_CONNACK,       /* CONNECT sent */
	ST_UP,
	ST_CLOSING        /* DISCONNECT queued; closes once written */
};

enum slot_state { SLOT_FREE, SLOT_PUB, SLOT_REL };

struct slot {
	uint16_t id;
	uint8_t state, qos;
	bool sent;                   /* written at least once: a resend carries DUP */
	uint32_t gen;
	uint64_t order;              /* publish order, for resends */
	uint8_t *pkt;                /* the encoded PUBLISH; the DUP bit is set on resend */
	size_t len, cap;
};

struct fb_mqtt_conn {
	struct fb_mqtt_pool *pool;
	ev_io io;
	ev_timer timer;
	int fd;
	int events;                  /* of io, 0 when stopped */
	int lowat;                   /* the socket's SO_RCVLOWAT (1: the default) */
	SSL *ssl;
	uint8_t state;
	bool dirty, ping_out, ever_up, will_retain, tls_want_write;
	uint8_t will_qos;
	uint32_t index, sessions, attempts;
	void *user;
	char *client_id, *username, *password;
	char *subs[FB_MQTT_MAX_TOPICS];
	uint8_t nsubs;
	bool clean_start;
	uint32_t session_expiry_s;
	uint8_t sub_qos;
	char *will_topic;
	uint8_t *will_payload;
	size_t will_len;
	/* out buffer: bytes [out_off, out_len) wait to be written */
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	/* in */
	uint8_t *in;
	size_t in_cap;
	struct fb_mqtt_decoder dec;
	/* QoS 1/2 window: slots[(id - 1) % inflight] */
	struct slot *slots;
	uint16_t *free_slots;
	uint16_t nfree, ninflight;
	uint16_t send_max;           /* window in use: min(inflight, the broker's Receive Maximum) */
	uint64_t next_order;
	/* queue behind the window: records [u32 len][u16 pid offset][packet] */
	uint8_t *q;
	size_t q_len, q_off, q_cap, q_count;
	/* inbound QoS 2 ids delivered and awaiting PUBREL (§4.3.3 method A); allocated on the first
	 * QoS 2 message, kept across a reconnect that resumes the session */
	uint16_t *in_rel;
	uint32_t n_in_rel, cap_in_rel;
	ev_tstamp last_out, ping_at;
	struct fb_rng rng;
};

struct fb_mqtt_pool {
	struct ev_loop *loop;
	struct fb_mqtt_pool_config cfg;
	struct fb_mqtt_callbacks cb;
	SSL_CTX *ssl_ctx;
	struct fb_mqtt_conn **conns;
	size_t n, cap;
	struct fb_mqtt_conn **dirty;
	size_t ndirty;
	/* connect queue (ring of connections in ST_QUEUED) */
	struct fb_mqtt_conn **ring;
	size_t ring_head, ring_len;
	double tokens;
	ev_tstamp tokens_at;
	ev_timer ramp;
	ev_prepare flush;
	bool draining;
	uint8_t drain_reason;
	size_t nbusy;                 /* connections with max_queued messages waiting */
	struct fb_mqtt_stats stats;
	bool logged_fail[FB_MQTT_FAIL_KINDS];
	bool logged_refused[256], logged_pub_failed[256], logged_malformed[16];
	uint8_t scratch[512];
};

const char *fb_mqtt_fail_name(enum fb_mqtt_fail f)
{
	static const char *const names[] = {
		"connection refused", "connect timeout", "unknown ca", "wrong hostname", "tls error",
		"connection closed", "malformed packet", "protocol error", "keep-alive timeout",
		"disconnected by broker", "no file descriptor left", "no local port left"
	};
	return (unsigned)f < FB_MQTT_FAIL_KINDS ? names[f] : "unknown";
}

int fb_mqtt_resolve(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
	char service[8];
	snprintf(service, sizeof service, "%u", port);
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0)
		return fb_error("cannot resolve '%s': %s", host, gai_strerror(rc));
	/* IPv4 first when the name has both: "localhost" gives ::1 first, and brokers often listen
	 * on 127.0.0.1 only */
	struct addrinfo *pick = res;
	for (struct addrinfo *a = res; a; a = a->ai_next)
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
	memcpy(addr, pick->ai_addr, pick->ai_addrlen);
	*len = pick->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* ---- small helpers ---- */

static void set_events(struct fb_mqtt_conn *c, int events)
{
	if (c->events == events)
		return;
	struct ev_loop *loop = c->pool->loop;
	if (c->events)
		ev_io_stop(loop, &c->io);
	c->events = events;
	if (events) {
		ev_io_set(&c->io, c->fd, events);
		ev_io_start(loop, &c->io);
	}
}

static void arm_timer(struct fb_mqtt_conn *c, double after_s)
{
	ev_timer_stop(c->pool->loop, &c->timer);
	ev_timer_set(&c->timer, after_s, 0.);
	ev_timer_start(c->pool->loop, &c->timer);
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	uint8_t *b = realloc(*buf, n);
	if (!b)
		return -1;
	*buf = b;
	*cap = n;
	return 0;
}

static void mark_dirty(struct fb_mqtt_conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->pool->dirty[c->pool->ndirty++] = c;
	}
}

/* Appends an encoded packet to the out buffer; it is written at the next flush. */
static int out_packet(struct fb_mqtt_conn *c, const struct fb_mqtt_packet *pk)
{
	ssize_t n = fb_mqtt_encoded_len(pk, c->pool->cfg.version);
	if (n < 0)
		return -1;
	if (reserve(&c->out, &c->out_cap, c->out_len + (size_t)n) != 0)
		return -1;
	fb_mqtt_encode(pk, c->pool->cfg.version, c->out + c->out_len, (size_t)n);
	c->out_len += (size_t)n;
	mark_dirty(c);
	return 0;
}

static int out_bytes(struct fb_mqtt_conn *c, const uint8_t *b, size_t n)
{
	if (reserve(&c->out, &c->out_cap, c->out_len + n) != 0)
		return -1;
	memcpy(c->out + c->out_len, b, n);
	c->out_len += n;
	mark_dirty(c);
	return 0;
}

static void log_fail(struct fb_mqtt_pool *p, enum fb_mqtt_fail f, const struct fb_mqtt_conn *c,
                     const char *detail)
{
	if (!fb_first_time(&p->logged_fail[f]))
		return;
	/* a broker whose certificate cannot be trusted is a setting to fix, not a passing
	 * failure: an error, shown even with --quiet */
	if (f == FB_MQTT_FAIL_UNKNOWN_CA || f == FB_MQTT_FAIL_WRONG_HOSTNAME)
		fb_error("mqtt '%s': %s%s%s (retried with back-off; further ones counted, not logged)",
		         c->client_id, fb_mqtt_fail_name(f), detail ? ": " : "", detail ? detail : "");
	else
		fb_warn("mqtt '%s': %s%s%s (further ones counted, not logged)", c->client_id,
		        fb_mqtt_fail_name(f), detail ? ": " : "", detail ? detail : "");
}

/* ---- connection life cycle ---- */

static void start_connect(struct fb_mqtt_conn *c);
static void flush_conn(struct fb_mqtt_conn *c);

static void close_socket(struct fb_mqtt_conn *c)
{
	set_events(c, 0);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->out_len = c->out_off = 0;
	c->lowat = 1;
	fb_mqtt_decoder_reset(&c->dec);
	c->ping_out = false;
}

static void enqueue_connect(struct fb_mqtt_conn *c)
{
	struct fb_mqtt_pool *p = c->pool;
	c->state = ST_QUEUED;
	p->ring[(p->ring_head + p->ring_len++) % p->cap] = c;
	if (!ev_is_active(&p->ramp)) {
		ev_timer_set(&p->ramp, 0., 0.);
		ev_timer_start(p->loop, &p->ramp);
	}
}

static void schedule_reconnect(struct fb_mqtt_conn *c)
{
	const struct fb_mqtt_pool_config *cfg = &c->pool->cfg;
	double min = (double)cfg->reconnect_min_us / 1e6, max = (double)cfg->reconnect_max_us / 1e6;
	double d = min * ldexp(1.0, c->attempts < 30 ? (int)c->attempts : 30);
	if (d > max)
		d = max;
	d *= 1.0 - cfg->reconnect_jitter * fb_rng_uniform(&c->rng);
	c->attempts++;
	c->state = ST_BACKOFF;
	arm_timer(c, d);
}

static void conn_down(struct fb_mqtt_conn *c, enum fb_mqtt_fail why, const char *detail)
{
	struct fb_mqtt_pool *p = c->pool;
	bool was_up = c->state == ST_UP || c->state == ST_CLOSING;
	bool attempting = c->state == ST_TCP || c->state == ST_TLS || c->state == ST_CONNACK;
	close_socket(c);
	ev_timer_stop(p->loop, &c->timer);
	p->stats.failures[why]++;
	if (was_up)
		p->stats.connections_up--;
	else if (attempting && why != FB_MQTT_FAIL_DISCONNECTED)
		p->stats.connects_failed++;
	log_fail(p, why, c, detail);
	if (p->cb.on_down)
		p->cb.on_down(p->cb.arg, c, why);
	if (p->draining && c->ninflight == 0 && c->q_count == 0) {
		c->state = ST_IDLE;
		return;
	}
	schedule_reconnect(c);
}

static void send_connect(struct fb_mqtt_conn *c)
{
	struct fb_mqtt_pool *p = c->pool;
	if (p->cb.before_connect)
		p->cb.before_connect(p->cb.arg, c);
	struct fb_mqtt_packet pk;
	memset(&pk, 0, offsetof(struct fb_mqtt_packet, subs));
	pk.props.n = pk.will_props.n = 0;
	pk.type = FB_MQTT_CONNECT;
	pk.version = p->cfg.version;
	pk.clean_start = c->clean_start;
	pk.keepalive = p->cfg.keepalive_s;
	pk.client_id = FB_MQTT_STR(c->client_id);
	if (c->username) {
		pk.has_username = true;
		pk.username = FB_MQTT_STR(c->username);
	}
	if (c->password) {
		pk.has_password = true;
		pk.password = FB_MQTT_STR(c->password);
	}
	if (c->will_topic) {
		pk.has_will = true;
		pk.will_topic = FB_MQTT_STR(c->will_topic);
		pk.will_payload = (struct fb_mqtt_bytes){ c->will_payload, (uint32_t)c->will_len };
		pk.will_qos = c->will_qos;
		pk.will_retain = c->will_retain;
	}
	if (p->cfg.version >= FB_MQTT_V5) {
		if (c->session_expiry_s)
			fb_mqtt_prop_add_num(&pk.props, FB_MQTT_P_SESSION_EXPIRY, c->session_expiry_s);
		fb_mqtt_prop_add_num(&pk.props, FB_MQTT_P_RECEIVE_MAXIMUM, 65535);
		fb_mqtt_prop_add_num(&pk.props, FB_MQTT_P_MAXIMUM_PACKET_SIZE, p->cfg.max_packet);
	}
	c->state = ST_CONNACK;
	if (out_packet(c, &pk) != 0) {
		conn_down(c, FB_MQTT_FAIL_PROTOCOL, "cannot encode CONNECT");
		return;
	}
	set_events(c, EV_READ);
	flush_conn(c);
}

static void tls_fail(struct fb_mqtt_conn *c)
{
	long v = SSL_get_verify_result(c->ssl);
	char detail[160];
	enum fb_mqtt_fail why = FB_MQTT_FAIL_TLS;
	if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
		why = FB_MQTT_FAIL_WRONG_HOSTNAME;
	else if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	         v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	         v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE || v == X509_V_ERR_CERT_UNTRUSTED)
		why = FB_MQTT_FAIL_UNKNOWN_CA;
	if (v != X509_V_OK) {
		snprintf(detail, sizeof detail, "%s", X509_verify_cert_error_string(v));
	} else {
		unsigned long e = ERR_peek_last_error();
		if (e)
			ERR_error_string_n(e, detail, sizeof detail);
		else
			snprintf(detail, sizeof detail, "handshake failed");
	}
	ERR_clear_error();
	conn_down(c, why, detail);
}

static void tls_handshake(struct fb_mqtt_conn *c)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(c->ssl);
	if (rc == 1) {
		send_connect(c);
		return;
	}
	int err = SSL_get_error(c->ssl, rc);
	if (err == SSL_ERROR_WANT_READ)
		set_events(c, EV_READ);
	else if (err == SSL_ERROR_WANT_WRITE)
		set_events(c, EV_READ | EV_WRITE);
	else
		tls_fail(c);
}

static void tcp_connected(struct fb_mqtt_conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		conn_down(c, FB_MQTT_FAIL_REFUSED_TCP, strerror(err));
		return;
	}
	struct fb_mqtt_pool *p = c->pool;
	if (p->ssl_ctx) {
		c->ssl = SSL_new(p->ssl_ctx);
		if (!c->ssl) {
			conn_down(c, FB_MQTT_FAIL_TLS, "SSL_new failed");
			return;
		}
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_connect_state(c->ssl);
		if (p->cfg.tls_host) {
			SSL_set_tlsext_host_name(c->ssl, p->cfg.tls_host);
			if (!p->cfg.tls_insecure)
				SSL_set1_host(c->ssl, p->cfg.tls_host);
		}
		c->state = ST_TLS;
		tls_handshake(c);
		return;
	}
	send_connect(c);
}

static void start_connect(struct fb_mqtt_conn *c)
{
	struct fb_mqtt_pool *p = c->pool;
	const struct fb_mqtt_pool_config *cfg = &p->cfg;
	c->fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->state = ST_TCP;
	arm_timer(c, (double)cfg->connect_timeout_us / 1e6);
	if (c->fd < 0) {
		conn_down(c, errno == EMFILE || errno == ENFILE ? FB_MQTT_FAIL_NOFILE : FB_MQTT_FAIL_REFUSED_TCP,
		          strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) == 0) {
		tcp_connected(c);
		return;
	}
	if (errno == EADDRNOTAVAIL) {
		/* the ephemeral ports towards this broker are all taken (by us or by others) */
		conn_down(c, FB_MQTT_FAIL_NOPORT, "the ephemeral port range is exhausted "
		          "(net.ipv4.ip_local_port_range): widen it, or split the fleet over hosts with "
		          "--shard i/N, or share connections with 'connection: per-site'");
		return;
	}
	if (errno == EADDRNOTAVAIL) {
		/* the ephemeral ports towards this broker are all taken (by us or by others) */
		conn_down(c, FB_MQTT_FAIL_NOPORT, "the ephemeral port range is exhausted "
		          "(net.ipv4.ip_local_port_range): widen it, or split the fleet over hosts with "
		          "--shard i/N, or share connections with 'connection: per-site'");
		return;
	}
	if (errno != EINPROGRESS) {
		conn_down(c, FB_MQTT_FAIL_REFUSED_TCP, strerror(errno));
		return;
	}
	set_events(c, EV_WRITE);
}

/* ---- the QoS 1/2 window and the queue behind it ---- */

static struct slot *slot_of(struct fb_mqtt_conn *c, uint16_t id)
{
	if (!c->slots || id == 0)
		return NULL;
	struct slot *s = &c->slots[(id - 1) % c->pool->cfg.inflight];
	return s->state != SLOT_FREE && s->id == id ? s : NULL;
}

static void free_slot(struct fb_mqtt_conn *c, struct slot *s)
{
	s->state = SLOT_FREE;
	c->free_slots[c->nfree++] = (uint16_t)(s - c->slots);
	c->ninflight--;
	c->pool->stats.inflight--;
}

static void send_slot(struct fb_mqtt_conn *c, struct slot *s, bool resend)
{
	if (s->state == SLOT_REL) {
		struct fb_mqtt_packet pk;
		memset(&pk, 0, offsetof(struct fb_mqtt_packet, subs));
		pk.props.n = 0;
		pk.type = FB_MQTT_PUBREL;
		pk.packet_id = s->id;
		out_packet(c, &pk);
		return;
	}
	if (resend && s->sent) {
		s->pkt[0] |= 0x08;     /* §3.3.1.1 DUP on a redelivery */
		c->pool->stats.pub_resent++;
	}
	s->sent = true;
	out_bytes(c, s->pkt, s->len);
	c->pool->stats.pub_sent++;
}

/* A free slot with room for len bytes, or NULL (out of memory). The caller writes the packet
 * into slot->pkt and calls slot_commit(). */
static struct slot *slot_take(struct fb_mqtt_conn *c, size_t len)
{
	struct slot *s = &c->slots[c->free_slots[c->nfree - 1]];
	return reserve(&s->pkt, &s->cap, len) == 0 ? s : NULL;
}

/* Gives the slot its packet id (written at pid_off) and sends it when the connection is up. */
static void slot_commit(struct fb_mqtt_conn *c, struct slot *s, size_t len, size_t pid_off, uint8_t qos)
{
	uint16_t cap = c->pool->cfg.inflight;
	size_t i = (size_t)(s - c->slots);
	c->nfree--;
	/* id = 1 + i + cap * gen, so that slot_of() finds the slot from the id alone; ids stay
	 * below 65535, which SUBSCRIBE uses */
	uint32_t gens = 65534u / cap;
	s->gen = (s->gen + 1) % gens;
	s->id = (uint16_t)(1 + i + cap * s->gen);
	s->pkt[pid_off] = (uint8_t)(s->id >> 8);
	s->pkt[pid_off + 1] = (uint8_t)(s->id & 0xff);
	s->len = len;
	s->qos = qos;
	s->state = SLOT_PUB;
	s->sent = false;
	s->order = c->next_order++;
	c->ninflight++;
	c->pool->stats.inflight++;
	if (c->state == ST_UP)
		send_slot(c, s, false);
}

/* Fills the window from the queue. */
static void window_refill(struct fb_mqtt_conn *c)
{
	while (c->nfree && c->ninflight < c->send_max && c->q_count) {
		uint8_t *r = c->q + c->q_off;
		uint32_t len;
		uint16_t pid_off;
		memcpy(&len, r, 4);
		memcpy(&pid_off, r + 4, 2);
		uint8_t qos = (r[6] >> 1) & 3;
		struct slot *s = slot_take(c, len);
		if (!s)
			return;
		memcpy(s->pkt, r + 6, len);
		slot_commit(c, s, len, pid_off, qos);
		c->q_off += 6 + len;
		if (c->q_count-- == c->pool->cfg.max_queued)
			c->pool->nbusy--;
		c->pool->stats.queued--;
	}
	if (c->q_count == 0)
		c->q_off = c->q_len = 0;
}

static int cmp_order(const void *a, const void *b)
{
	const struct slot *x = *(struct slot *const *)a, *y = *(struct slot *const *)b;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* After a CONNACK: every unacknowledged message again, oldest first (§4.4). */
static void resend_window(struct fb_mqtt_conn *c)
{
	if (!c->slots || !c->ninflight)
		return;
	struct slot *order[c->pool->cfg.inflight];
	size_t n = 0;
	for (unsigned i = 0; i < c->pool->cfg.inflight; i++)
		if (c->slots[i].state != SLOT_FREE)
			order[n++] = &c->slots[i];
	qsort(order, n, sizeof *order, cmp_order);
	for (size_t i = 0; i < n; i++)
		send_slot(c, order[i], true);
}

static int ensure_window(struct fb_mqtt_conn *c)
{
	if (c->slots)
		return 0;
	uint16_t cap = c->pool->cfg.inflight;
	c->slots = calloc(cap, sizeof *c->slots);
	c->free_slots = malloc(cap * sizeof *c->free_slots);
	if (!c->slots || !c->free_slots)
		return -1;
	for (uint16_t i = 0; i < cap; i++)
		c->free_slots[i] = (uint16_t)(cap - 1 - i);   /* slot 0 first */
	c->nfree = cap;
	return 0;
}

int fb_mqtt_publish(struct fb_mqtt_conn *c, const char *topic, const uint8_t *payload, size_t len,
                    uint8_t qos, bool retain)
{
	struct fb_mqtt_pool *p = c->pool;
	if (qos == 0 && c->state != ST_UP) {
		p->stats.pub_dropped++;
		return 1;
	}
	struct fb_mqtt_packet pk;
	memset(&pk, 0, offsetof(struct fb_mqtt_packet, subs));
	pk.props.n = 0;
	pk.type = FB_MQTT_PUBLISH;
	pk.qos = qos;
	pk.retain = retain;
	pk.packet_id = 1;            /* placeholder, patched when the message enters the window */
	pk.topic = FB_MQTT_STR(topic);
	pk.payload = (struct fb_mqtt_bytes){ payload, (uint32_t)len };
	ssize_t n = fb_mqtt_encoded_len(&pk, p->cfg.version);
	if (n < 0)
		return -1;
	if (qos == 0) {
		if (reserve(&c->out, &c->out_cap, c->out_len + (size_t)n) != 0)
			return -1;
		fb_mqtt_encode(&pk, p->cfg.version, c->out + c->out_len, (size_t)n);
		c->out_len += (size_t)n;
		mark_dirty(c);
		p->stats.pub_sent++;
		return 0;
	}
	if (ensure_window(c) != 0)
		return -1;
	/* the packet id follows the fixed header and the topic */
	size_t rl = (size_t)n - 1, hdr = 1 + (rl < 128 ? 1 : rl < 16384 ? 2 : rl < 2097152 ? 3 : 4);
	size_t pid_off = hdr + 2 + strlen(topic);
	if (c->nfree && c->ninflight < c->send_max && c->q_count == 0) {
		struct slot *s = slot_take(c, (size_t)n);
		if (!s)
			return -1;
		fb_mqtt_encode(&pk, p->cfg.version, s->pkt, (size_t)n);
		slot_commit(c, s, (size_t)n, pid_off, qos);
		return 0;
	}
	/* the queue is consumed from q_off: move the rest to the front once half is consumed, so a
	 * queue that never empties (a broker slower than the fleet) does not grow without bound */
	if (c->q_off && c->q_off >= c->q_len / 2) {
		memmove(c->q, c->q + c->q_off, c->q_len - c->q_off);
		c->q_len -= c->q_off;
		c->q_off = 0;
	}
	if (reserve(&c->q, &c->q_cap, c->q_len + 6 + (size_t)n) != 0)
		return -1;
	uint8_t *r = c->q + c->q_len;
	uint32_t len32 = (uint32_t)n;
	uint16_t off16 = (uint16_t)pid_off;
	memcpy(r, &len32, 4);
	memcpy(r + 4, &off16, 2);
	fb_mqtt_encode(&pk, p->cfg.version, r + 6, (size_t)n);
	c->q_len += 6 + (size_t)n;
	if (++c->q_count == p->cfg.max_queued)
		p->nbusy++;
	p->stats.queued++;
	if (c->q_count == 1 && c->state == ST_UP)
		mark_dirty(c);           /* set_lowat: refills wait for a quarter, not more */
	return 0;
}

/* ---- reading ---- */

static void protocol_error(struct fb_mqtt_conn *c, const char *what)
{
	conn_down(c, FB_MQTT_FAIL_PROTOCOL, what);
}

static void subscribe(struct fb_mqtt_conn *c)
{
	if (!c->nsubs)
		return;
	struct fb_mqtt_packet pk;
	memset(&pk, 0, sizeof pk);
	pk.type = FB_MQTT_SUBSCRIBE;
	pk.packet_id = 65535;        /* never a window id (slot_commit) */
	for (unsigned i = 0; i < c->nsubs; i++)
		pk.subs[pk.nsubs++] = (struct fb_mqtt_sub){ FB_MQTT_STR(c->subs[i]), c->sub_qos };
	out_packet(c, &pk);
}

static void on_connack(struct fb_mqtt_conn *c, const struct fb_mqtt_packet *pk)
{
	struct fb_mqtt_pool *p = c->pool;
	if (pk->reason != 0) {
		p->stats.connects_refused++;
		p->stats.refused_by_reason[pk->reason]++;
		if (fb_first_time(&p->logged_refused[pk->reason]))
			fb_error("mqtt '%s': connection refused by the broker: %s (code %u)", c->client_id,
			         fb_mqtt_connack_name(p->cfg.version, pk->reason), pk->reason);
		close_socket(c);
		ev_timer_stop(p->loop, &c->timer);
		if (p->cb.on_down)
			p->cb.on_down(p->cb.arg, c, FB_MQTT_FAIL_DISCONNECTED);
		schedule_reconnect(c);
		return;
	}
	c->state = ST_UP;
	c->attempts = 0;
	/* §4.3.3: the ids awaiting PUBREL belong to the session; a new session forgets them */
	if (!pk->session_present)
		c->n_in_rel = 0;
	/* MQTT 5 §3.2.2.3.3: no more unacknowledged QoS 1/2 messages than the broker's Receive
	 * Maximum (resends of what is already in the window included) */
	c->send_max = p->cfg.inflight;
	const struct fb_mqtt_prop *rm = fb_mqtt_prop_get(&pk->props, FB_MQTT_P_RECEIVE_MAXIMUM);
	if (rm && rm->num < c->send_max)
		c->send_max = (uint16_t)rm->num;
	c->sessions++;
	p->stats.connects_ok++;
	p->stats.connections_up++;
	if (c->ever_up)
		p->stats.reconnects++;
	c->ever_up = true;
	c->ping_out = false;
	if (p->cfg.keepalive_s)
		arm_timer(c, p->cfg.keepalive_s);
	else
		ev_timer_stop(p->loop, &c->timer);
	subscribe(c);
	resend_window(c);
	if (c->slots)
		window_refill(c);
	if (p->cb.on_up)
		p->cb.on_up(p->cb.arg, c, pk->session_present);
}

static void on_ack(struct fb_mqtt_conn *c, const struct fb_mqtt_packet *pk)
{
	struct fb_mqtt_pool *p = c->pool;
	struct slot *s = slot_of(c, pk->packet_id);
	if (!s) {
		/* an ack for a message already completed (a duplicate after a resend): harmless */
		if (pk->type == FB_MQTT_PUBREC) {
			struct fb_mqtt_packet rel;
			memset(&rel, 0, offsetof(struct fb_mqtt_packet, subs));
			rel.props.n = 0;
			rel.type = FB_MQTT_PUBREL;
			rel.packet_id = pk->packet_id;
			rel.reason = FB_MQTT_RC_PACKET_ID_NOT_FOUND;
			out_packet(c, &rel);
		}
		return;
	}
	bool failed = pk->reason >= 0x80;
	if (failed && fb_first_time(&p->logged_pub_failed[pk->reason]))
		fb_warn("mqtt '%s': publish refused by the broker: %s (code 0x%02x)", c->client_id,
		        fb_mqtt_reason_name(pk->reason), pk->reason);
	switch (pk->type) {
	case FB_MQTT_PUBACK:
		if (s->qos != 1 || s->state != SLOT_PUB)
			return protocol_error(c, "PUBACK for a QoS 2 message");
		break;
	case FB_MQTT_PUBREC:
		if (s->qos != 2)
			return protocol_error(c, "PUBREC for a QoS 1 message");
		if (!failed) {
			s->state = SLOT_REL;
			send_slot(c, s, false);
			return;
		}
		break;
	case FB_MQTT_PUBCOMP:
		if (s->state != SLOT_REL)
			return protocol_error(c, "PUBCOMP before PUBREC");
		break;
	}
	if (failed) {
		p->stats.pub_failed++;
		p->stats.pub_failed_by_reason[pk->reason]++;
	} else {
		p->stats.pub_acked++;
		if (pk->reason == FB_MQTT_RC_NO_MATCHING_SUBSCRIBERS)
			p->stats.pub_no_subscribers++;
	}
	free_slot(c, s);
	mark_dirty(c);               /* flush_conn lowers SO_RCVLOWAT to what is still to come */
	/* With messages waiting behind a full window, refill once a quarter of it is free rather
	 * than on every ack (silly window avoidance, as TCP's receivers do, RFC 1122 §4.2.3.3).
	 * mosquitto answers a busy connection one PUBACK per wake-up, so a refill per ack wrote one
	 * PUBLISH per send: measured at QoS 1 with 100 connections and messages waiting, 0.98
	 * sends and 1.0 packets per message; with a quarter, 0.04 sends and 0.1-0.4 packets, and
	 * with one connection 0.63 -> 0.23 system calls per message. */
	unsigned room = c->ninflight < c->send_max ? (unsigned)c->send_max - c->ninflight : 0;
	if (room >= (c->send_max + 3u) / 4 || c->ninflight == 0)
		window_refill(c);
}

/* Remembers an inbound QoS 2 id. At most 65 535 ids can be pending (one per packet id), so the
 * set grows by doubling up to that; out of memory, the message is refused by closing the
 * connection (the broker keeps it and sends it again) rather than risking a double delivery. */
static bool in_rel_add(struct fb_mqtt_conn *c, uint16_t id)
{
	if (c->n_in_rel == c->cap_in_rel) {
		uint32_t cap = c->cap_in_rel ? c->cap_in_rel * 2 : 8;
		uint16_t *n = cap <= 65536 ? realloc(c->in_rel, cap * sizeof *n) : NULL;
		if (!n) {
			conn_down(c, FB_MQTT_FAIL_PROTOCOL, "out of memory for QoS 2 packet ids");
			return false;
		}
		c->in_rel = n;
		c->cap_in_rel = cap;
	}
	c->in_rel[c->n_in_rel++] = id;
	return true;
}

static void on_publish(struct fb_mqtt_conn *c, const struct fb_mqtt_packet *pk)
{
	struct fb_mqtt_pool *p = c->pool;
	/* MQTT 5 §3.3.2.3.4: the client announces no Topic Alias Maximum (0), so an alias from the
	 * broker is a Protocol Error (it reached the application as an empty topic: fuzz_client) */
	if (fb_mqtt_prop_get(&pk->props, FB_MQTT_P_TOPIC_ALIAS))
		return protocol_error(c, "topic alias, which the client did not allow");
	bool deliver = true;
	struct fb_mqtt_packet ack;
	memset(&ack, 0, offsetof(struct fb_mqtt_packet, subs));
	ack.props.n = 0;
	ack.packet_id = pk->packet_id;
	if (pk->qos == 1) {
		ack.type = FB_MQTT_PUBACK;
		out_packet(c, &ack);
	} else if (pk->qos == 2) {
		/* method A (§4.3.3): deliver once, remember the id until PUBREL; a resent PUBLISH
		 * (its PUBREC lost) is acknowledged again and not delivered again */
		for (uint32_t i = 0; i < c->n_in_rel; i++)
			if (c->in_rel[i] == pk->packet_id)
				deliver = false;
		if (deliver && !in_rel_add(c, pk->packet_id))
			return;
		ack.type = FB_MQTT_PUBREC;
		out_packet(c, &ack);
	}
	if (deliver) {
		p->stats.msgs_in++;
		if (p->cb.on_message)
			p->cb.on_message(p->cb.arg, c, pk);
	}
}

static void on_packet(struct fb_mqtt_conn *c, const struct fb_mqtt_packet *pk)
{
	if (c->state == ST_CONNACK) {
		if (pk->type != FB_MQTT_CONNACK)
			return protocol_error(c, "packet before CONNACK");
		return on_connack(c, pk);
	}
	switch (pk->type) {
	case FB_MQTT_PUBACK: case FB_MQTT_PUBREC: case FB_MQTT_PUBCOMP:
		return on_ack(c, pk);
	case FB_MQTT_PUBLISH:
		return on_publish(c, pk);
	case FB_MQTT_PUBREL: {
		for (uint32_t i = 0; i < c->n_in_rel; i++)
			if (c->in_rel[i] == pk->packet_id) {
				c->in_rel[i] = c->in_rel[--c->n_in_rel];
				break;
			}
		struct fb_mqtt_packet comp;
		memset(&comp, 0, offsetof(struct fb_mqtt_packet, subs));
		comp.props.n = 0;
		comp.type = FB_MQTT_PUBCOMP;
		comp.packet_id = pk->packet_id;
		out_packet(c, &comp);
		return;
	}
	case FB_MQTT_SUBACK:
		for (unsigned i = 0; i < pk->nsubs; i++)
			if (pk->subs[i].options >= 0x80) {
				c->pool->stats.sub_failed++;
				if (fb_first_time(&c->pool->logged_fail[FB_MQTT_FAIL_PROTOCOL]))
					fb_warn("mqtt '%s': subscription to '%s' refused: %s", c->client_id,
					        i < c->nsubs ? c->subs[i] : "?", fb_mqtt_reason_name(pk->subs[i].options));
			}
		return;
	case FB_MQTT_UNSUBACK:
		return;
	case FB_MQTT_PINGRESP:
		c->ping_out = false;
		mark_dirty(c);           /* set_lowat */
		return;
	case FB_MQTT_DISCONNECT:
		c->pool->stats.refused_by_reason[pk->reason]++;
		{
			char why[80];
			snprintf(why, sizeof why, "%s (code 0x%02x)", fb_mqtt_reason_name(pk->reason), pk->reason);
			conn_down(c, FB_MQTT_FAIL_DISCONNECTED, why);
		}
		return;
	default:
		return protocol_error(c, fb_mqtt_type_name(pk->type));
	}
}

static ssize_t conn_read(struct fb_mqtt_conn *c, uint8_t *buf, size_t n, bool *again)
{
	*again = false;
	if (c->ssl) {
		ERR_clear_error();
		int rc = SSL_read(c->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
		if (rc > 0)
			return rc;
		int err = SSL_get_error(c->ssl, rc);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
			c->tls_want_write = err == SSL_ERROR_WANT_WRITE;
			*again = true;
			return -1;
		}
		return err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
	}
	ssize_t rc = read(c->fd, buf, n);
	if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		*again = true;
	return rc;
}

static void read_conn(struct fb_mqtt_conn *c)
{
	struct fb_mqtt_pool *p = c->pool;
	size_t budget = READ_BUDGET;
	while (budget) {
		size_t room;
		uint8_t *dst = fb_mqtt_decoder_space(&c->dec, &room);
		if (room == 0) {
			size_t want = c->dec.need ? c->dec.need : c->in_cap * 2;
			uint8_t *nb = malloc(want);
			if (!nb)
				return conn_down(c, FB_MQTT_FAIL_CLOSED, "out of memory");
			fb_mqtt_decoder_rebuffer(&c->dec, nb, want);
			free(c->in);
			c->in = nb;
			c->in_cap = want;
			continue;
		}
		bool again;
		ssize_t n = conn_read(c, dst, room, &again);
		if (n == 0)
			return conn_down(c, FB_MQTT_FAIL_CLOSED, "closed by the broker");
		if (n < 0) {
			if (again)
				break;
			return conn_down(c, c->ssl ? FB_MQTT_FAIL_TLS : FB_MQTT_FAIL_CLOSED,
			                 c->ssl ? "tls read failed" : strerror(errno));
		}
		p->stats.bytes_in += (uint64_t)n;
		budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
		fb_mqtt_decoder_commit(&c->dec, (size_t)n);
		struct fb_mqtt_packet pk;
		int rc;
		while ((rc = fb_mqtt_decoder_next(&c->dec, &pk)) > 0) {
			uint8_t st = c->state;
			on_packet(c, &pk);
			if (c->state != ST_UP && c->state != ST_CONNACK && c->state != ST_CLOSING)
				return;       /* closed by the packet */
			(void)st;
		}
		if (rc < 0) {
			unsigned kind = (unsigned)-rc < 16 ? (unsigned)-rc : 15;
			p->stats.malformed_by_kind[kind]++;
			char why[64];
			snprintf(why, sizeof why, "%s", fb_mqtt_strerror(rc));
			if (fb_first_time(&p->logged_malformed[kind]))
				fb_warn("mqtt '%s': broker sent a bad packet: %s", c->client_id, why);
			p->logged_fail[FB_MQTT_FAIL_MALFORMED] = true;
			return conn_down(c, FB_MQTT_FAIL_MALFORMED, why);
		}
		if ((size_t)n == room && c->in_cap < IN_BUSY && !c->dec.need) {
			/* a busy connection (a subscriber, a stream of acks): a bigger buffer, fewer reads */
			size_t want = c->in_cap * 4 < IN_BUSY ? c->in_cap * 4 : IN_BUSY;
			uint8_t *nb = malloc(want);
			if (nb) {
				fb_mqtt_decoder_rebuffer(&c->dec, nb, want);
				free(c->in);
				c->in = nb;
				c->in_cap = want;
			}
		}
		if (c->dec.need && c->dec.need > c->in_cap) {
			uint8_t *nb = malloc(c->dec.need);
			if (!nb)
				return conn_down(c, FB_MQTT_FAIL_CLOSED, "out of memory");
			fb_mqtt_decoder_rebuffer(&c->dec, nb, c->dec.need);
			free(c->in);
			c->in = nb;
			c->in_cap = c->dec.need;
		}
		/* a short read emptied the socket: no second read() just to hear EAGAIN (it was one
		 * syscall in two with many connections each getting a few PUBACKs per turn); the
		 * level-triggered watcher calls again when more arrives. TLS may hold decrypted
		 * bytes of a record already read, so it goes on until WANT_READ. */
		if (!c->ssl && (size_t)n < room)
			break;
	}
}

/* ---- writing ---- */

/* A busy connection sleeps until the acknowledgements that make a difference have come, not
 * each one. With many connections mosquitto answers each one PUBACK per wake-up, so a read per
 * PUBACK was the client's main cost (measured at QoS 1 with 1 000 connections: 1.0 read and
 * 1.0 TCP ACK sent per message, against 0.12 reads with 100 connections).
 * Every message in the window brings at least one acknowledgement of at least 4 bytes (PUBACK,
 * PUBREC, PUBCOMP: fixed header and packet id), of which the decoder may hold up to 3 already:
 * with k <= n in flight, 4k - 3 bytes are sure to come, so SO_RCVLOWAT = 4k - 3 reports the
 * socket readable (and wakes the process) once they are there, never later; EOF and errors
 * always wake. k: with messages queued behind the window, the acknowledgements that free the
 * quarter window_refill waits for (on_ack); with none, ACKS_PER_WAKE or all in flight, fewer
 * reads of what frees slots no message waits for (a message queued meanwhile marks the
 * connection dirty, which comes back here). Nothing to wait for (n = 0, a PINGREQ out, not up,
 * TLS, whose records do not map to these bytes): 1, the default. Called after each flush,
 * which follows every change of n or of the queue (slot_commit sends, on_ack and a queued
 * publish mark the connection dirty), before the loop waits again. */
static void set_lowat(struct fb_mqtt_conn *c)
{
	unsigned k = 0, n = c->ninflight;
	if (c->state == ST_UP && !c->ssl && !c->ping_out) {
		k = n < ACKS_PER_WAKE ? n : ACKS_PER_WAKE;
		if (c->q_count) {
			unsigned room = n < c->send_max ? c->send_max - n : 0, quarter = (c->send_max + 3u) / 4;
			unsigned need = quarter > room ? quarter - room : 1;
			if (need < k)
				k = need;
		}
	}
	int want = k ? 4 * (int)k - 3 : 1;
	if (want != c->lowat && setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want) == 0)
		c->lowat = want;
}

static void flush_conn(struct fb_mqtt_conn *c)
{
	struct fb_mqtt_pool *p = c->pool;
	c->dirty = false;
	if (c->fd < 0) {
		c->out_len = c->out_off = 0;    /* QoS 1/2 messages stay in the window for a resend */
		return;
	}
	if (c->state < ST_CONNACK)
		return;                          /* written once CONNECT is out */
	while (c->out_off < c->out_len) {
		size_t n = c->out_len - c->out_off;
		ssize_t w;
		if (c->ssl) {
			ERR_clear_error();
			int rc = SSL_write(c->ssl, c->out + c->out_off, (int)(n > INT32_MAX ? INT32_MAX : n));
			if (rc <= 0) {
				int err = SSL_get_error(c->ssl, rc);
				if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
					break;
				return conn_down(c, FB_MQTT_FAIL_TLS, "tls write failed");
			}
			w = rc;
		} else {
			w = send(c->fd, c->out + c->out_off, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				return conn_down(c, FB_MQTT_FAIL_CLOSED, strerror(errno));
			}
		}
		c->out_off += (size_t)w;
		p->stats.bytes_out += (uint64_t)w;
		c->last_out = ev_now(p->loop);
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->state == ST_CLOSING) {
			close_socket(c);
			ev_timer_stop(p->loop, &c->timer);
			p->stats.connections_up--;
			c->state = ST_IDLE;
			return;
		}
		set_events(c, EV_READ | (c->tls_want_write ? EV_WRITE : 0));
	} else {
		set_events(c, EV_READ | EV_WRITE);
	}
	set_lowat(c);
}

/* ---- watchers ---- */

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	struct fb_mqtt_conn *c = (struct fb_mqtt_conn *)((char *)w - offsetof(struct fb_mqtt_conn, io));
	switch (c->state) {
	case ST_TCP:
		tcp_connected(c);
		return;
	case ST_TLS:
		tls_handshake(c);
		return;
	default:
		break;
	}
	if (revents & EV_READ || c->tls_want_write) {
		c->tls_want_write = false;
		read_conn(c);
	}
	if (c->fd >= 0 && (revents & EV_WRITE) && c->out_off < c->out_len)
		flush_conn(c);
	else if (c->fd >= 0 && c->out_off == c->out_len && c->state >= ST_CONNACK && !c->dirty)
		set_events(c, EV_READ | (c->tls_want_write ? EV_WRITE : 0));
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct fb_mqtt_conn *c = (struct fb_mqtt_conn *)((char *)w - offsetof(struct fb_mqtt_conn, timer));
	struct fb_mqtt_pool *p = c->pool;
	switch (c->state) {
	case ST_BACKOFF:
		enqueue_connect(c);
		return;
	case ST_TCP: case ST_TLS: case ST_CONNACK:
		conn_down(c, FB_MQTT_FAIL_TIMEOUT, c->state == ST_TCP ? "tcp connect" :
		          c->state == ST_TLS ? "tls handshake" : "no CONNACK");
		return;
	case ST_UP: {
		ev_tstamp now = ev_now(loop), ka = p->cfg.keepalive_s;
		if (c->ping_out && now - c->ping_at >= ka) {
			conn_down(c, FB_MQTT_FAIL_KEEPALIVE, "no PINGRESP");
			return;
		}
		/* §3.1.2.10: a control packet at least every keep-alive; ping a little early */
		ev_tstamp idle = now - c->last_out;
		if (idle >= ka * 0.75 && !c->ping_out) {
			struct fb_mqtt_packet pk;
			memset(&pk, 0, offsetof(struct fb_mqtt_packet, subs));
			pk.props.n = 0;
			pk.type = FB_MQTT_PINGREQ;
			out_packet(c, &pk);
			c->ping_out = true;
			c->ping_at = now;
			arm_timer(c, ka);
		} else {
			double next = c->ping_out ? ka - (now - c->ping_at) : ka * 0.75 - idle;
			arm_timer(c, next > 0.05 ? next : 0.05);
		}
		return;
	}
	default:
		return;
	}
}

static void ramp_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct fb_mqtt_pool *p = (struct fb_mqtt_pool *)((char *)w - offsetof(struct fb_mqtt_pool, ramp));
	ev_tstamp now = ev_now(loop);
	double rate = p->cfg.connect_rate;
	size_t allowed = p->ring_len;
	if (rate > 0) {
		p->tokens += (now - p->tokens_at) * rate;
		double burst = rate / 50 > 1 ? rate / 50 : 1;      /* at most 20 ms worth at once */
		if (p->tokens > burst)
			p->tokens = burst;
		p->tokens_at = now;
		allowed = p->tokens >= 1 ? (size_t)p->tokens : 0;
		if (allowed > p->ring_len)
			allowed = p->ring_len;
		p->tokens -= (double)allowed;
	}
	for (size_t i = 0; i < allowed; i++) {
		struct fb_mqtt_conn *c = p->ring[p->ring_head];
		p->ring_head = (p->ring_head + 1) % p->cap;
		p->ring_len--;
		if (c->state == ST_QUEUED)
			start_connect(c);
	}
	if (p->ring_len) {
		double wait = rate > 0 ? (1 - p->tokens) / rate : 0;
		ev_timer_set(w, wait > 0.001 ? wait : 0.001, 0.);
		ev_timer_start(loop, w);
	}
}

static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop; (void)revents;
	struct fb_mqtt_pool *p = (struct fb_mqtt_pool *)((char *)w - offsetof(struct fb_mqtt_pool, flush));
	/* flush_conn may close a connection, which never adds to the list: a plain walk is safe */
	for (size_t i = 0; i < p->ndirty; i++)
		if (p->dirty[i]->dirty)
			flush_conn(p->dirty[i]);
	p->ndirty = 0;
}

/* ---- pool ---- */

static int init_tls(struct fb_mqtt_pool *p)
{
	const struct fb_mqtt_pool_config *cfg = &p->cfg;
	p->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!p->ssl_ctx)
		return fb_error("cannot create a tls context");
	SSL_CTX_set_min_proto_version(p->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(p->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Small per-connection buffers: thousands of idle TLS sessions */
	SSL_CTX_set_mode(p->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	if (cfg->tls_ca) {
		if (SSL_CTX_load_verify_locations(p->ssl_ctx, cfg->tls_ca, NULL) != 1)
			return fb_error("cannot load tls ca '%s'", cfg->tls_ca);
	} else {
		SSL_CTX_set_default_verify_paths(p->ssl_ctx);
	}
	if (cfg->tls_cert && SSL_CTX_use_certificate_chain_file(p->ssl_ctx, cfg->tls_cert) != 1)
		return fb_error("cannot load tls certificate '%s'", cfg->tls_cert);
	if (cfg->tls_key && SSL_CTX_use_PrivateKey_file(p->ssl_ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
		return fb_error("cannot load tls key '%s'", cfg->tls_key);
	if (cfg->tls_cert && cfg->tls_key && SSL_CTX_check_private_key(p->ssl_ctx) != 1)
		return fb_error("tls key '%s' does not match certificate '%s'", cfg->tls_key, cfg->tls_cert);
	SSL_CTX_set_verify(p->ssl_ctx, cfg->tls_insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	return 0;
}

struct fb_mqtt_pool *fb_mqtt_pool_new(struct ev_loop *loop, const struct fb_mqtt_pool_config *cfg,
                                      const struct fb_mqtt_callbacks *cb)
{
	struct fb_mqtt_pool *p = calloc(1, sizeof *p);
	if (!p) {
		fb_error("out of memory");
		return NULL;
	}
	p->loop = loop;
	p->cfg = *cfg;
	if (!p->cfg.inflight)
		p->cfg.inflight = 20;
	if (!p->cfg.max_packet)
		p->cfg.max_packet = 1 << 20;
	if (!p->cfg.connect_timeout_us)
		p->cfg.connect_timeout_us = 10 * FB_US_PER_S;
	if (!p->cfg.reconnect_min_us)
		p->cfg.reconnect_min_us = FB_US_PER_S;
	if (p->cfg.reconnect_max_us < p->cfg.reconnect_min_us)
		p->cfg.reconnect_max_us = p->cfg.reconnect_min_us;
	if (!p->cfg.max_queued)
		p->cfg.max_queued = 1000;
	if (!p->cfg.version)
		p->cfg.version = FB_MQTT_V311;
	if (cb)
		p->cb = *cb;
	if (cfg->tls && init_tls(p) != 0) {
		fb_mqtt_pool_free(p);
		return NULL;
	}
	ev_init(&p->ramp, ramp_cb);
	ev_prepare_init(&p->flush, flush_cb);
	ev_prepare_start(loop, &p->flush);
	ev_unref(loop);     /* the flush watcher alone does not keep the loop alive */
	p->tokens_at = ev_now(loop);
	return p;
}

static int grow_pool(struct fb_mqtt_pool *p)
{
	size_t cap = p->cap ? p->cap * 2 : 64;
	struct fb_mqtt_conn **conns = realloc(p->conns, cap * sizeof *conns);
	if (!conns)
		return -1;
	p->conns = conns;
	struct fb_mqtt_conn **dirty = realloc(p->dirty, cap * sizeof *dirty);
	if (!dirty)
		return -1;
	p->dirty = dirty;
	struct fb_mqtt_conn **ring = malloc(cap * sizeof *ring);
	if (!ring)
		return -1;
	for (size_t i = 0; i < p->ring_len; i++)
		ring[i] = p->ring[(p->ring_head + i) % p->cap];
	free(p->ring);
	p->ring = ring;
	p->ring_head = 0;
	p->cap = cap;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct fb_mqtt_conn *fb_mqtt_pool_add(struct fb_mqtt_pool *p, const struct fb_mqtt_conn_config *cc,
                                      void *user)
{
	if (p->n == p->cap && grow_pool(p) != 0)
		return NULL;
	struct fb_mqtt_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->pool = p;
	c->fd = -1;
	c->lowat = 1;
	c->index = cc->index;
	c->user = user;
	c->client_id = strdup(cc->client_id ? cc->client_id : "");
	c->username = dup_or_null(cc->username);
	c->password = dup_or_null(cc->password);
	for (size_t i = 0; cc->subscribe && cc->subscribe[i] && c->nsubs < FB_MQTT_MAX_TOPICS; i++)
		if ((c->subs[c->nsubs] = strdup(cc->subscribe[i])))
			c->nsubs++;
	c->sub_qos = cc->subscribe_qos;
	c->clean_start = cc->clean_start;
	c->session_expiry_s = cc->session_expiry_s;
	c->in = malloc(IN_START);
	c->in_cap = IN_START;
	if (!c->client_id || !c->in) {
		free(c->in);
		free(c->client_id);
		free(c);
		return NULL;
	}
	fb_mqtt_decoder_init(&c->dec, c->in, c->in_cap, p->cfg.max_packet, p->cfg.version);
	c->send_max = p->cfg.inflight;
	fb_rng_init(&c->rng, p->cfg.seed, cc->index, FB_RNG_TRANSPORT);
	ev_init(&c->io, io_cb);
	ev_init(&c->timer, timer_cb);
	p->conns[p->n++] = c;
	return c;
}

void fb_mqtt_pool_start(struct fb_mqtt_pool *p)
{
	p->tokens_at = ev_now(p->loop);
	p->tokens = 1;
	for (size_t i = 0; i < p->n; i++)
		if (p->conns[i]->state == ST_IDLE)
			enqueue_connect(p->conns[i]);
}

bool fb_mqtt_pool_drain(struct fb_mqtt_pool *p, uint8_t reason)
{
	p->draining = true;
	p->drain_reason = reason;
	bool done = true;
	for (size_t i = 0; i < p->n; i++) {
		struct fb_mqtt_conn *c = p->conns[i];
		if (c->state == ST_IDLE)
			continue;
		if (c->state == ST_UP && c->ninflight == 0 && c->q_count == 0) {
			struct fb_mqtt_packet pk;
			memset(&pk, 0, offsetof(struct fb_mqtt_packet, subs));
			pk.props.n = 0;
			pk.type = FB_MQTT_DISCONNECT;
			pk.reason = reason;
			out_packet(c, &pk);
			c->state = ST_CLOSING;
		} else if (c->state == ST_BACKOFF || c->state == ST_QUEUED) {
			if (c->ninflight == 0 && c->q_count == 0) {
				ev_timer_stop(p->loop, &c->timer);
				c->state = ST_IDLE;      /* a queued entry is skipped by the ramp */
				continue;
			}
		}
		done = false;
	}
	return done;
}

void fb_mqtt_pool_free(struct fb_mqtt_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct fb_mqtt_conn *c = p->conns[i];
		close_socket(c);
		ev_timer_stop(p->loop, &c->timer);
		if (c->slots)
			for (unsigned k = 0; k < p->cfg.inflight; k++)
				free(c->slots[k].pkt);
		free(c->slots);
		free(c->free_slots);
		free(c->q);
		free(c->in_rel);
		free(c->out);
		free(c->in);
		free(c->client_id);
		free(c->username);
		free(c->password);
		for (unsigned k = 0; k < c->nsubs; k++)
			free(c->subs[k]);
		free(c->will_topic);
		free(c->will_payload);
		free(c);
	}
	if (p->loop) {
		ev_timer_stop(p->loop, &p->ramp);
		if (ev_is_active(&p->flush)) {
			ev_ref(p->loop);
			ev_prepare_stop(p->loop, &p->flush);
		}
	}
	free(p->conns);
	free(p->dirty);
	free(p->ring);
	if (p->ssl_ctx)
		SSL_CTX_free(p->ssl_ctx);
	free(p);
}

const struct fb_mqtt_stats *fb_mqtt_pool_stats(const struct fb_mqtt_pool *p) { return &p->stats; }
size_t fb_mqtt_pool_size(const struct fb_mqtt_pool *p) { return p->n; }
struct fb_mqtt_conn *fb_mqtt_pool_conn(struct fb_mqtt_pool *p, size_t i) { return i < p->n ? p->conns[i] : NULL; }

bool fb_mqtt_pool_busy(const struct fb_mqtt_pool *p)
{
	return p->nbusy > 0;
}

int fb_mqtt_conn_set_will(struct fb_mqtt_conn *c, const char *topic, const uint8_t *payload,
                          size_t len, uint8_t qos, bool retain)
{
	free(c->will_topic);
	free(c->will_payload);
	c->will_topic = NULL;
	c->will_payload = NULL;
	c->will_len = 0;
	if (!topic)
		return 0;
	c->will_topic = strdup(topic);
	c->will_payload = malloc(len ? len : 1);
	if (!c->will_topic || !c->will_payload)
		return -1;
	if (len)
		memcpy(c->will_payload, payload, len);
	c->will_len = len;
	c->will_qos = qos;
	c->will_retain = retain;
	return 0;
}

void fb_mqtt_conn_abort(struct fb_mqtt_conn *c)
{
	if (c->fd >= 0)
		conn_down(c, FB_MQTT_FAIL_CLOSED, "aborted");
}

/* Fault injection (protocols/faults.h): a dark site, a reconnect storm. */
void fb_mqtt_conn_hold(struct fb_mqtt_conn *c)
{
	if (c->fd >= 0)
		conn_down(c, FB_MQTT_FAIL_CLOSED, "taken down by an injected fault");
	if (c->state == ST_BACKOFF || c->state == ST_QUEUED) {
		ev_timer_stop(c->pool->loop, &c->timer);
		c->state = ST_BACKOFF;      /* no timer: no reconnect; a queued entry is skipped */
	}
}

void fb_mqtt_conn_release(struct fb_mqtt_conn *c, double after_s)
{
	if (c->state == ST_BACKOFF && !ev_is_active(&c->timer))
		arm_timer(c, after_s > 0 ? after_s : 0);
}

bool fb_mqtt_conn_up(const struct fb_mqtt_conn *c) { return c->state == ST_UP; }
void *fb_mqtt_conn_user(const struct fb_mqtt_conn *c) { return c->user; }
uint32_t fb_mqtt_conn_index(const struct fb_mqtt_conn *c) { return c->index; }
const char *fb_mqtt_conn_client_id(const struct fb_mqtt_conn *c) { return c->client_id; }
uint32_t fb_mqtt_conn_sessions(const struct fb_mqtt_conn *c) { return c->sessions; }
size_t fb_mqtt_conn_pending(const struct fb_mqtt_conn *c) { return c->ninflight + c->q_count; }

size_t fb_mqtt_conn_unacked(const struct fb_mqtt_conn *c)
{
	size_t n = c->q_count;
	if (c->slots)
		for (unsigned i = 0; i < c->pool->cfg.inflight; i++)
			n += c->slots[i].state == SLOT_PUB;
	return n;
}
