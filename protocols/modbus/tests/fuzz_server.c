/* libFuzzer harness: the Modbus TCP server (protocols/modbus/server.c) as a master's bytes reach
 * it: its own framing from per-connection buffers, partial frames, pipelined requests, replies
 * that do not fit, unit ids with and without fault injection (exceptions, no reply, split and
 * junk replies, dropped connections). Each input is one connection on a real loopback socket,
 * written in chunks whose sizes the first byte seeds, with the replies read as they come; then
 * the master hangs up. Checked: no crash or sanitizer report; the server's replies to the
 * fault-free unit are well-formed MBAP frames echoing the transaction id; the connection is
 * gone once the master has closed (nothing leaks, nothing stalls). Seeds: fixtures/fuzz/server/
 * (MBAP streams: byte 0, then ADUs). */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <ev.h>
#include "fuzz/fuzz.h"
#include "protocols/modbus/mbap.h"
#include "protocols/modbus/server.h"
#include "protocols/modbus/tests/mbtest_model.h"
#include "sim/log.h"

static struct ev_loop *loop;
static struct fb_mbserver *srv;
static uint16_t port;
static struct fb_regmap *map;
static double values[6] = { 50, 120.5, 35.25, 123456, 1, NAN };
static struct fb_mb_unit clean_unit, faulty_unit;
static struct fb_mb_faults faults = {
	.exception_rate = 0.1, .no_reply_rate = 0.1, .split_rate = 0.2, .split_gap_us = 0,
	.junk_rate = 0.1, .drop_rate = 0.02,
};

static int on_command(void *arg, struct fb_mb_unit *u, int field, double value)
{
	FB_FUZZ_CHECK(field >= 0 && (unsigned)field < mbtest_model.nfields);
	FB_FUZZ_CHECK(mbtest_model.fields[field].writable && isfinite(value));
	u->values[field] = value;
	return 0;
}

static void setup(void)
{
	fb_log_level = FB_LOG_ERROR;
	loop = ev_loop_new(EVFLAG_AUTO);
	FB_FUZZ_CHECK(loop);
	srv = fb_mbserver_new(loop, on_command, NULL);
	map = fb_regmap_default(&mbtest_model, FB_MB_ABCD);
	FB_FUZZ_CHECK(srv && map);
	int ep = fb_mbserver_listen(srv, "127.0.0.1", 0, &port);
	FB_FUZZ_CHECK(ep >= 0);
	clean_unit = (struct fb_mb_unit){ .map = map, .values = values, .device_id = "mbtest-000001",
	                                  .device = 1 };
	faulty_unit = (struct fb_mb_unit){ .map = map, .values = values, .device_id = "mbtest-000002",
	                                   .device = 2, .faults = &faults };
	fb_mbserver_set_unit(srv, ep, 1, &clean_unit);
	fb_mbserver_set_unit(srv, ep, 2, &faulty_unit);
}

/* Replies read so far, checked frame by frame while only unit 1 (no faults) answered. */
struct replies {
	uint8_t buf[1 << 16];
	size_t len;
	bool faulty_seen;
};

static void read_replies(int fd, struct replies *r)
{
	for (;;) {
		if (r->len == sizeof r->buf)
			r->len = 0;
		ssize_t n = read(fd, r->buf + r->len, sizeof r->buf - r->len);
		if (n <= 0)
			return;
		r->len += (size_t)n;
	}
}

static void check_replies(const struct replies *r)
{
	if (r->faulty_seen)
		return;     /* junk and split replies are the faulty unit's to send */
	size_t pos = 0;
	while (pos < r->len) {
		struct fb_mbap h;
		int k = fb_mbap_frame(r->buf + pos, r->len - pos, &h);
		if (k == FB_MBAP_NEED_MORE)
			break;
		FB_FUZZ_CHECK(k > 0);
		FB_FUZZ_CHECK(h.unit == 1 || h.unit == 255 || h.unit == 0 || h.unit > 2);
		pos += (size_t)k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop)
		setup();
	if (size < 1)
		return 0;
	uint32_t rng = data[0] * 2654435761u + 7;
	const uint8_t *in = data + 1;
	size_t n = size - 1;
	struct replies *r = calloc(1, sizeof *r);
	FB_FUZZ_CHECK(r);
	/* the faulty unit's replies are not checked: does the input address it? (a cheap scan) */
	for (size_t i = 6; i < n; i++)
		if (in[i] == 2)
			r->faulty_seen = true;

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FB_FUZZ_CHECK(fd >= 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* close with a reset: hundreds of thousands of runs must not leave their ephemeral ports in
	 * TIME_WAIT (the machine's other users need them) */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
	FB_FUZZ_CHECK(rc == 0 || errno == EINPROGRESS);
	const struct fb_mb_stats *st = fb_mbserver_stats(srv);
	uint64_t open_before = st->connections_open;
	size_t off = 0;
	for (int i = 0; i < 400 && off < n; i++) {
		rng = rng * 1103515245u + 12345u;
		size_t k = 1 + (rng >> 16) % 64;
		if (k > n - off)
			k = n - off;
		ssize_t w = send(fd, in + off, k, MSG_NOSIGNAL);   /* a dropped connection: EPIPE, no signal */
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN)
			break;      /* the server dropped us (a fault, or a bad frame) */
		ev_run(loop, EVRUN_NOWAIT);
		read_replies(fd, r);
	}
	for (int i = 0; i < 20; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		read_replies(fd, r);
	}
	check_replies(r);
	close(fd);
	/* the server sees the hang-up and lets the connection go */
	for (int i = 0; i < 1000 && st->connections_open > open_before - (open_before > 0); i++) {
		ev_run(loop, EVRUN_NOWAIT);
		if (st->connections_open == 0)
			break;
	}
	FB_FUZZ_CHECK(st->connections_open == 0);
	free(r);
	return 0;
}
