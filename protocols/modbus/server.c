/* Modbus TCP and RTU servers on the libev loop. Every connection (and every pty bus) is a `link`
 * with its own receive and transmit buffers and watchers embedded; requests are framed from the
 * receive buffer (pipelined requests answered in order), answered by pdu.c, and the reply is
 * queued in the transmit buffer. A reply held back by fault injection (delay, split) stops the
 * processing of that link's later requests until it is released, so replies stay in order. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include "protocols/modbus/mbap.h"
#include "protocols/modbus/pdu.h"
#include "protocols/modbus/server.h"
#include "sim/log.h"

const char *const fb_mb_fault_names[FB_MB_FAULT_KINDS] = {
	"exception", "no_reply", "delay", "split", "junk", "drop"
};

enum { RX_CAP = 2048, TX_CAP = 4096, TX_ROOM = FB_MBAP_MAX_ADU + 16, MAX_ENDPOINTS_INIT = 8 };

struct endpoint;

struct link {
	ev_io io;
	ev_timer hold;              /* releases a held reply (delay, split) */
	ev_timer silence;           /* RTU: 3.5 character times without bytes ends a frame */
	struct fb_mbserver *srv;
	struct endpoint *ep;
	int fd;
	bool rtu;
	bool discard;               /* RTU: drop bytes until the next silence (after a bad frame) */
	int events;
	uint8_t rx[RX_CAP];
	size_t rx_len;
	uint8_t tx[TX_CAP];
	size_t tx_off, tx_ready, tx_len;   /* [off, ready) may be sent; [ready, len) is held */
	size_t split_at;                   /* a split reply: release up to here first */
	ev_tstamp held_since;              /* receipt time of the held reply's request */
	bool latency_pending;              /* held_since not yet recorded */
	double split_gap;                  /* seconds between the two parts of a split reply */
	struct link *prev, *next;
};

struct endpoint {
	struct fb_mbserver *srv;
	bool rtu;
	int fd;                     /* listening socket, or the pty master */
	int pty_slave;              /* kept open so the master never sees a hang-up */
	ev_io io;
	ev_timer retry;             /* accept paused after EMFILE */
	uint16_t port;
	char pty_name[64];
	char *link_path;
	double t35;                 /* seconds */
	struct link *bus;           /* RTU: the one link */
	struct fb_mb_unit *units[256];
};

struct fb_mbserver {
	struct ev_loop *loop;
	fb_mb_command_fn command;
	void *command_arg;
	struct endpoint **eps;
	size_t neps, cap_eps;
	struct link *links;         /* TCP connections */
	uint64_t rng;
	struct fb_mb_stats stats;
	bool logged_protocol, logged_length, logged_crc, logged_incomplete, logged_accept,
	     logged_absent;
};

static uint64_t next_random(struct fb_mbserver *s)
{
	/* xorshift64*: the fault draws need no more than this */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545F4914F6CDD1DULL;
}

static double uniform01(struct fb_mbserver *s) { return (next_random(s) >> 11) * 0x1.0p-53; }

static unsigned latency_bucket(uint64_t us)
{
	if (us < 4)
		return (unsigned)us;
	unsigned msb = 63u - (unsigned)__builtin_clzll(us);
	unsigned b = 4 * (msb - 1) + (unsigned)((us >> (msb - 2)) & 3);
	return b < FB_MB_LATENCY_BUCKETS ? b : FB_MB_LATENCY_BUCKETS - 1;
}

static uint64_t bucket_upper(unsigned b)
{
	if (b < 4)
		return b;
	unsigned msb = b / 4 + 1, sub = b % 4;
	return ((uint64_t)(4 + sub + 1) << (msb - 2)) - 1;
}

uint64_t fb_mb_latency_quantile(const struct fb_mb_stats *st, double q)
{
	uint64_t total = 0, seen = 0;
	for (unsigned b = 0; b < FB_MB_LATENCY_BUCKETS; b++)
		total += st->latency_us[b];
	if (!total)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)total);
	if (rank < 1)
		rank = 1;
	for (unsigned b = 0; b < FB_MB_LATENCY_BUCKETS; b++) {
		seen += st->latency_us[b];
		if (seen >= rank)
			return bucket_upper(b);
	}
	return bucket_upper(FB_MB_LATENCY_BUCKETS - 1);
}

static void record_latency(struct fb_mbserver *s, ev_tstamp since)
{
	double us = (ev_time() - since) * 1e6;
	s->stats.latency_us[latency_bucket(us > 0 ? (uint64_t)us : 0)]++;
}

/* ---- links ---- */

static void link_update_events(struct link *c)
{
	int ev = 0;
	if (c->rx_len < RX_CAP)
		ev |= EV_READ;
	if (c->tx_ready > c->tx_off)
		ev |= EV_WRITE;
	if (ev != c->events) {
		ev_io_stop(c->srv->loop, &c->io);
		ev_io_set(&c->io, c->fd, ev);
		if (ev)
			ev_io_start(c->srv->loop, &c->io);
		c->events = ev;
	}
}

static void link_close(struct link *c)
{
	struct fb_mbserver *s = c->srv;
	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->hold);
	ev_timer_stop(s->loop, &c->silence);
	if (c->rtu) {
		c->ep->bus = NULL;
	} else {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->links = c->next;
		if (c->next)
			c->next->prev = c->prev;
		close(c->fd);
		s->stats.connections_open--;
	}
	free(c);
}

/* Sends what may be sent; returns -1 when the link had to be closed. */
static int link_flush(struct link *c)
{
	while (c->tx_ready > c->tx_off) {
		ssize_t n = c->rtu ? write(c->fd, c->tx + c->tx_off, c->tx_ready - c->tx_off)
		                   : send(c->fd, c->tx + c->tx_off, c->tx_ready - c->tx_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (c->rtu) {   /* nobody on the line: the reply is lost, as on a wire */
				c->tx_off = c->tx_ready;
				break;
			}
			link_close(c);
			return -1;
		}
		c->tx_off += (size_t)n;
		c->srv->stats.bytes_out += (uint64_t)n;
	}
	if (c->tx_off == c->tx_len)
		c->tx_off = c->tx_ready = c->tx_len = 0;
	link_update_events(c);
	return 0;
}

/* Room for one more reply at the end of tx; compacts when that helps. */
static bool tx_has_room(struct link *c)
{
	if (TX_CAP - c->tx_len >= TX_ROOM)
		return true;
	if (c->tx_off > 0) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_ready -= c->tx_off;
		if (c->split_at)
			c->split_at -= c->tx_off;
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
	}
	return TX_CAP - c->tx_len >= TX_ROOM;
}

static bool link_held(const struct link *c) { return c->tx_ready < c->tx_len; }

static void process(struct link *c);

static void hold_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct link *c = (struct link *)((char *)w - offsetof(struct link, hold));
	(void)loop; (void)revents;
	if (c->split_at > c->tx_ready && c->split_at < c->tx_len) {
		/* the delay is over: the first part goes now, the rest after the gap */
		c->tx_ready = c->split_at;
		c->split_at = 0;
		ev_timer_set(&c->hold, c->split_gap, 0);
		ev_timer_start(c->srv->loop, &c->hold);
	} else {
		c->tx_ready = c->tx_len;
		c->split_at = 0;
	}
	if (c->latency_pending) {
		c->latency_pending = false;
		record_latency(c->srv, c->held_since);
	}
	if (link_flush(c) < 0)
		return;
	if (!link_held(c))
		process(c);
}

static int unit_write(void *arg, int field, double value);

struct write_ctx {
	struct fb_mbserver *srv;
	struct fb_mb_unit *unit;
};

static int unit_write(void *arg, int field, double value)
{
	struct write_ctx *w = arg;
	if (!w->srv->command)
		return -1;
	return w->srv->command(w->srv->command_arg, w->unit, field, value);
}

static size_t answer(struct fb_mbserver *s, struct fb_mb_unit *u, const uint8_t *pdu, size_t len,
                     uint8_t *resp)
{
	struct write_ctx w = { s, u };
	struct fb_mb_target t = {
		.map = u->map,
		.view = { .values = u->values, .device_id = u->device_id, .device = u->device },
		.write = unit_write,
		.write_arg = &w,
	};
	return fb_mb_pdu_reply(&t, pdu, len, resp);
}

enum outcome { REPLY, NO_REPLY, DROP };

/* Fault plan for one request: may replace the reply by an exception, or cancel it. */
static enum outcome plan_faults(struct fb_mbserver *s, struct fb_mb_faults *f, uint8_t fc,
                                uint8_t *pdu, size_t *pdu_len)
{
	if (!f)
		return REPLY;
	if (f->drop_rate > 0 && uniform01(s) < f->drop_rate) {
		f->injected[FB_MB_FAULT_DROP]++;
		return DROP;
	}
	if (f->no_reply_rate > 0 && uniform01(s) < f->no_reply_rate) {
		f->injected[FB_MB_FAULT_NO_REPLY]++;
		return NO_REPLY;
	}
	if (f->exception_rate > 0 && uniform01(s) < f->exception_rate) {
		f->injected[FB_MB_FAULT_EXCEPTION]++;
		*pdu_len = fb_mb_pdu_exception(fc, f->exception_code ? f->exception_code
		                                                     : FB_MB_EX_DEVICE_FAILURE, pdu);
	}
	return REPLY;
}

/* Queues one reply (frame already built at tx[tx_len..tx_len+n)) with its delivery faults. */
static void queue_reply(struct link *c, struct fb_mb_faults *f, size_t n, ev_tstamp received)
{
	struct fb_mbserver *s = c->srv;
	size_t start = c->tx_len;
	if (f && f->junk_rate > 0 && uniform01(s) < f->junk_rate) {
		size_t junk = 1 + next_random(s) % 8;
		memmove(c->tx + start + junk, c->tx + start, n);
		for (size_t i = 0; i < junk; i++)
			c->tx[start + i] = (uint8_t)next_random(s);
		n += junk;
		f->injected[FB_MB_FAULT_JUNK]++;
	}
	c->tx_len = start + n;
	double delay = 0;
	if (f && f->delay_max_us > 0) {
		delay = (double)f->delay_min_us +
		        uniform01(s) * (double)(f->delay_max_us - f->delay_min_us);
		f->injected[FB_MB_FAULT_DELAY]++;
	}
	bool split = f && f->split_rate > 0 && n > 1 && uniform01(s) < f->split_rate;
	if (split)
		f->injected[FB_MB_FAULT_SPLIT]++;
	if (delay <= 0 && !split) {
		c->tx_ready = c->tx_len;
		record_latency(s, received);
		return;
	}
	c->held_since = received;
	c->latency_pending = true;
	if (split) {
		c->split_at = start + n / 2;
		c->split_gap = f->split_gap_us > 0 ? f->split_gap_us / 1e6 : 0.001;
		if (delay <= 0)   /* first part at once (the timer fires on the next loop turn) */
			delay = 1;
	}
	ev_timer_set(&c->hold, delay / 1e6, 0);
	ev_timer_start(s->loop, &c->hold);
}

static void count_reply(struct fb_mbserver *s, const uint8_t *pdu)
{
	if (pdu[0] & 0x80) {
		s->stats.exceptions++;
		s->stats.exceptions_by_code[pdu[1] & 15]++;
	}
}

/* One TCP request; returns -1 when the link was closed. */
static int handle_tcp(struct link *c, const uint8_t *adu, size_t len, const struct fb_mbap *h,
                      ev_tstamp received)
{
	struct fb_mbserver *s = c->srv;
	const uint8_t *req = adu + FB_MBAP_HEADER;
	size_t req_len = len - FB_MBAP_HEADER;
	uint8_t *frame = c->tx + c->tx_len, *pdu = frame + FB_MBAP_HEADER;
	size_t pdu_len;
	struct fb_mb_unit *u = c->ep->units[h->unit];
	s->stats.requests++;
	s->stats.requests_by_fc[req[0]]++;
	struct fb_mb_faults *f = u ? u->faults : NULL;
	if (!u) {
		s->stats.absent_unit++;
		if (fb_first_time(&s->logged_absent))
			fb_info("modbus: request for absent unit %u on port %u: exception 0x0B (logged once)",
			        h->unit, c->ep->port);
		pdu_len = fb_mb_pdu_exception(req[0], FB_MB_EX_GATEWAY_TARGET, pdu);
	} else {
		pdu_len = answer(s, u, req, req_len, pdu);
	}
	enum outcome o = plan_faults(s, f, req[0], pdu, &pdu_len);
	if (o == DROP) {
		s->stats.connections_dropped++;
		link_close(c);
		return -1;
	}
	if (o == NO_REPLY)
		return 0;
	count_reply(s, pdu);
	fb_mbap_header(frame, h->transaction, h->unit, pdu_len);
	queue_reply(c, f, FB_MBAP_HEADER + pdu_len, received);
	return 0;
}

static void bad_frame(struct link *c, int status)
{
	struct fb_mbserver *s = c->srv;
	if (status == FB_MBAP_BAD_PROTOCOL) {
		s->stats.bad_protocol++;
		if (fb_first_time(&s->logged_protocol))
			fb_warn("modbus: connection on port %u sent a protocol id other than 0: closed "
			        "(counted, logged once)", c->ep->port);
	} else {
		s->stats.bad_length++;
		if (fb_first_time(&s->logged_length))
			fb_warn("modbus: connection on port %u sent an MBAP length outside 2..254: closed "
			        "(counted, logged once)", c->ep->port);
	}
	link_close(c);
}

static void process_tcp(struct link *c)
{
	size_t pos = 0;
	ev_tstamp received = ev_now(c->srv->loop);
	while (!link_held(c)) {
		struct fb_mbap h;
		int n = fb_mbap_frame(c->rx + pos, c->rx_len - pos, &h);
		if (n == FB_MBAP_NEED_MORE)
			break;
		if (n < 0) {
			bad_frame(c, n);
			return;
		}
		if (!tx_has_room(c))
			break;
		if (handle_tcp(c, c->rx + pos, (size_t)n, &h, received) < 0)
			return;
		pos += (size_t)n;
	}
	if (pos) {
		memmove(c->rx, c->rx + pos, c->rx_len - pos);
		c->rx_len -= pos;
	}
	link_flush(c);
}

/* ---- RTU ---- */

static void handle_rtu(struct link *c, const uint8_t *adu, size_t len, ev_tstamp received)
{
	struct fb_mbserver *s = c->srv;
	uint16_t crc = fb_rtu_crc16(adu, len - 2);
	if (adu[len - 2] != (uint8_t)crc || adu[len - 1] != (uint8_t)(crc >> 8)) {
		s->stats.bad_crc++;
		if (fb_first_time(&s->logged_crc))
			fb_warn("modbus: RTU frame with a bad CRC on '%s': dropped (counted, logged once)",
			        c->ep->pty_name);
		c->discard = true;
		return;
	}
	s->stats.requests++;
	s->stats.requests_by_fc[adu[1]]++;
	uint8_t scratch[FB_MB_PDU_MAX];
	if (adu[0] == 0) {
		/* Modbus over Serial Line §2.1: broadcast writes reach every server, none replies */
		s->stats.broadcasts++;
		if (adu[1] == 0x05 || adu[1] == 0x06 || adu[1] == 0x0F || adu[1] == 0x10)
			for (int id = 1; id <= 247; id++)
				if (c->ep->units[id])
					answer(s, c->ep->units[id], adu + 1, len - 3, scratch);
		return;
	}
	struct fb_mb_unit *u = c->ep->units[adu[0]];
	if (!u) {   /* another server's address: stay silent, as on a shared line */
		s->stats.absent_unit++;
		return;
	}
	if (!tx_has_room(c))
		return;
	uint8_t *frame = c->tx + c->tx_len;
	size_t pdu_len = answer(s, u, adu + 1, len - 3, frame + 1);
	if (plan_faults(s, u->faults, adu[1], frame + 1, &pdu_len) != REPLY)
		return;
	count_reply(s, frame + 1);
	frame[0] = adu[0];
	crc = fb_rtu_crc16(frame, 1 + pdu_len);
	frame[1 + pdu_len] = (uint8_t)crc;
	frame[2 + pdu_len] = (uint8_t)(crc >> 8);
	queue_reply(c, u->faults, 3 + pdu_len, received);
}

/* Frames by function code; a frame whose length the code does not tell waits for silence. */
static void process_rtu(struct link *c, bool at_silence)
{
	size_t pos = 0;
	ev_tstamp received = ev_now(c->srv->loop);
	if (c->discard) {
		if (at_silence) {
			c->discard = false;
			c->rx_len = 0;
		}
		return;
	}
	while (!link_held(c) && pos < c->rx_len && !c->discard) {
		int n = fb_rtu_request_length(c->rx + pos, c->rx_len - pos);
		size_t avail = c->rx_len - pos;
		if (n < 0 && at_silence)
			n = (int)avail;
		if (n <= 0 || (size_t)n > avail) {
			if (at_silence) {
				c->srv->stats.rtu_incomplete++;
				if (fb_first_time(&c->srv->logged_incomplete))
					fb_warn("modbus: incomplete RTU frame on '%s' before a silence: dropped "
					        "(counted, logged once)", c->ep->pty_name);
				pos = c->rx_len;
			}
			break;
		}
		if (n < 4 || n > FB_RTU_MAX_ADU) {
			c->discard = true;
			break;
		}
		handle_rtu(c, c->rx + pos, (size_t)n, received);
		pos += (size_t)n;
	}
	if (c->discard)
		pos = c->rx_len;
	if (pos) {
		memmove(c->rx, c->rx + pos, c->rx_len - pos);
		c->rx_len -= pos;
	}
	link_flush(c);
}

static void silence_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct link *c = (struct link *)((char *)w - offsetof(struct link, silence));
	(void)loop; (void)revents;
	process_rtu(c, true);
}

static void process(struct link *c)
{
	if (c->rtu)
		process_rtu(c, false);
	else
		process_tcp(c);
}

static void link_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct link *c = (struct link *)w;
	if ((revents & EV_WRITE) && link_flush(c) < 0)
		return;
	if (!(revents & EV_READ) || c->rx_len >= RX_CAP) {
		if (!link_held(c))
			process(c);
		return;
	}
	ssize_t n = read(c->fd, c->rx + c->rx_len, RX_CAP - c->rx_len);
	if (n == 0 && !c->rtu) {
		link_close(c);
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (c->rtu) {   /* EIO: the peer side of the pty closed; keep serving the next one */
			return;
		}
		link_close(c);
		return;
	}
	if (n == 0)
		return;
	c->srv->stats.bytes_in += (uint64_t)n;
	c->rx_len += (size_t)n;
	if (c->rtu) {
		ev_timer_stop(loop, &c->silence);
		ev_timer_set(&c->silence, c->ep->t35, 0);
		ev_timer_start(loop, &c->silence);
	}
	if (!link_held(c))
		process(c);
	else
		link_update_events(c);
}

static struct link *link_new(struct fb_mbserver *s, struct endpoint *ep, int fd, bool rtu)
{
	struct link *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->srv = s;
	c->ep = ep;
	c->fd = fd;
	c->rtu = rtu;
	ev_io_init(&c->io, link_cb, fd, EV_READ);
	ev_timer_init(&c->hold, hold_cb, 0, 0);
	ev_timer_init(&c->silence, silence_cb, 0, 0);
	c->events = EV_READ;
	ev_io_start(s->loop, &c->io);
	return c;
}

/* ---- endpoints ---- */

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct endpoint *ep = (struct endpoint *)((char *)w - offsetof(struct endpoint, retry));
	(void)revents;
	ev_io_start(loop, &ep->io);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct endpoint *ep = (struct endpoint *)((char *)w - offsetof(struct endpoint, io));
	struct fb_mbserver *s = ep->srv;
	(void)revents;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(ep->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			s->stats.accept_errors++;
			if (fb_first_time(&s->logged_accept))
				fb_warn("modbus: cannot accept on port %u: %s (accepting paused 100 ms, "
				        "counted, logged once)", ep->port, strerror(errno));
			ev_io_stop(loop, &ep->io);
			ev_timer_set(&ep->retry, 0.1, 0);
			ev_timer_start(loop, &ep->retry);
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct link *c = link_new(s, ep, fd, false);
		if (!c) {
			close(fd);
			s->stats.accept_errors++;
			continue;
		}
		c->next = s->links;
		if (s->links)
			s->links->prev = c;
		s->links = c;
		s->stats.connections_accepted++;
		if (++s->stats.connections_open > s->stats.connections_peak)
			s->stats.connections_peak = s->stats.connections_open;
	}
}

struct fb_mbserver *fb_mbserver_new(struct ev_loop *loop, fb_mb_command_fn command, void *arg)
{
	struct fb_mbserver *s = calloc(1, sizeof *s);
	if (!s) {
		fb_error("modbus: out of memory");
		return NULL;
	}
	s->loop = loop;
	s->command = command;
	s->command_arg = arg;
	s->rng = 0x9E3779B97F4A7C15ULL;
	return s;
}

static struct endpoint *endpoint_add(struct fb_mbserver *s)
{
	if (s->neps == s->cap_eps) {
		size_t ncap = s->cap_eps ? s->cap_eps * 2 : MAX_ENDPOINTS_INIT;
		struct endpoint **n = realloc(s->eps, ncap * sizeof *n);
		if (!n)
			return NULL;
		s->eps = n;
		s->cap_eps = ncap;
	}
	struct endpoint *ep = calloc(1, sizeof *ep);
	if (!ep)
		return NULL;
	ep->srv = s;
	ep->fd = ep->pty_slave = -1;
	s->eps[s->neps++] = ep;
	return ep;
}

int fb_mbserver_listen(struct fb_mbserver *s, const char *host, uint16_t port, uint16_t *bound)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%u", port);
	int rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &ai);
	if (rc != 0)
		return fb_error("cannot listen on '%s:%u': %s (a numeric address is needed)",
		                host ? host : "*", port, gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return fb_error("cannot listen on '%s:%u': %s%s", host ? host : "*", port, strerror(err),
		                err == EADDRINUSE ? " (another process holds the port: give a free range "
		                "with 'listen' in transports.modbus, or port 0 for any free ports)" : "");
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	uint16_t p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	                                      : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	struct endpoint *ep = endpoint_add(s);
	if (!ep) {
		close(fd);
		return fb_error("modbus: out of memory");
	}
	ep->fd = fd;
	ep->port = p;
	ev_io_init(&ep->io, accept_cb, fd, EV_READ);
	ev_timer_init(&ep->retry, retry_cb, 0, 0);
	ev_io_start(s->loop, &ep->io);
	if (bound)
		*bound = p;
	return (int)(s->neps - 1);
}

int fb_mbserver_open_pty(struct fb_mbserver *s, unsigned baud, const char *link, char *name,
                         size_t cap)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
		int err = errno;
		if (m >= 0)
			close(m);
		return fb_error("cannot open a pseudo-terminal: %s", strerror(err));
	}
	const char *slave = ptsname(m);
	int sfd = slave ? open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
	struct termios tio;
	if (sfd < 0 || tcgetattr(sfd, &tio) < 0) {
		int err = errno;
		close(m);
		if (sfd >= 0)
			close(sfd);
		return fb_error("cannot open pseudo-terminal '%s': %s", slave ? slave : "?", strerror(err));
	}
	cfmakeraw(&tio);
	tcsetattr(sfd, TCSANOW, &tio);
	struct endpoint *ep = endpoint_add(s);
	if (!ep) {
		close(m);
		close(sfd);
		return fb_error("modbus: out of memory");
	}
	ep->rtu = true;
	ep->fd = m;
	ep->pty_slave = sfd;
	snprintf(ep->pty_name, sizeof ep->pty_name, "%s", slave);
	/* Modbus over Serial Line §2.5.1.1: 3.5 characters of 11 bits; 1.75 ms above 19200 baud */
	ep->t35 = baud > 19200 || baud == 0 ? 0.00175 : 3.5 * 11.0 / baud;
	if (link) {
		unlink(link);
		if (symlink(slave, link) < 0) {
			int err = errno;
			return fb_error("cannot link '%s' to '%s': %s", link, slave, strerror(err));
		}
		ep->link_path = strdup(link);
	}
	if (!(ep->bus = link_new(s, ep, m, true)))
		return fb_error("modbus: out of memory");
	if (name)
		snprintf(name, cap, "%s", slave);
	return (int)(s->neps - 1);
}

void fb_mbserver_set_unit(struct fb_mbserver *s, int ep, uint8_t unit, struct fb_mb_unit *u)
{
	if (ep >= 0 && (size_t)ep < s->neps)
		s->eps[ep]->units[unit] = u;
}

const struct fb_mb_stats *fb_mbserver_stats(const struct fb_mbserver *s) { return &s->stats; }

void fb_mbserver_free(struct fb_mbserver *s)
{
	if (!s)
		return;
	while (s->links)
		link_close(s->links);
	for (size_t i = 0; i < s->neps; i++) {
		struct endpoint *ep = s->eps[i];
		if (ep->bus)
			link_close(ep->bus);
		if (!ep->rtu) {
			ev_io_stop(s->loop, &ep->io);
			ev_timer_stop(s->loop, &ep->retry);
		}
		if (ep->fd >= 0)
			close(ep->fd);
		if (ep->pty_slave >= 0)
			close(ep->pty_slave);
		if (ep->link_path) {
			unlink(ep->link_path);
			free(ep->link_path);
		}
		free(ep);
	}
	free(s->eps);
	free(s);
}

void fb_mbserver_print_stats(const struct fb_mbserver *s, FILE *out)
{
	const struct fb_mb_stats *st = &s->stats;
	fprintf(out, "modbus: connections %llu accepted, %llu open, peak %llu, %llu dropped by faults\n",
	        (unsigned long long)st->connections_accepted, (unsigned long long)st->connections_open,
	        (unsigned long long)st->connections_peak, (unsigned long long)st->connections_dropped);
	fprintf(out, "modbus: requests %llu (", (unsigned long long)st->requests);
	const char *sep = "";
	for (int fc = 0; fc < 256; fc++)
		if (st->requests_by_fc[fc]) {
			fprintf(out, "%sfc%02x %llu", sep, fc, (unsigned long long)st->requests_by_fc[fc]);
			sep = ", ";
		}
	fprintf(out, "), exceptions %llu (", (unsigned long long)st->exceptions);
	sep = "";
	for (int code = 0; code < 16; code++)
		if (st->exceptions_by_code[code]) {
			fprintf(out, "%s0x%02X %llu", sep, code,
			        (unsigned long long)st->exceptions_by_code[code]);
			sep = ", ";
		}
	fprintf(out, ")\n");
	fprintf(out, "modbus: bytes in %llu, out %llu; latency p50 %llu us, p99 %llu us\n",
	        (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out,
	        (unsigned long long)fb_mb_latency_quantile(st, 0.5),
	        (unsigned long long)fb_mb_latency_quantile(st, 0.99));
	fprintf(out, "modbus: bad input: protocol id %llu, length %llu, crc %llu, incomplete rtu %llu, "
	        "absent unit %llu, accept errors %llu\n",
	        (unsigned long long)st->bad_protocol, (unsigned long long)st->bad_length,
	        (unsigned long long)st->bad_crc, (unsigned long long)st->rtu_incomplete,
	        (unsigned long long)st->absent_unit, (unsigned long long)st->accept_errors);
}
