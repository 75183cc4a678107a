/* Modbus TCP load generator for protocols/modbus/bench.sh (not part of the library).
 *   load HOST PORT[,PORT...] CONNS SECONDS RATE UNITS
 * CONNS connections (spread over the ports in turn), reading 10 holding registers (FC 03) from
 * ADDR at unit ids 1..UNITS in turn.
 *   RATE 0   closed loop: one request in flight per connection, the next as soon as the reply
 *            is in (the most the server serves).
 *   RATE > 0 open loop, evenly spaced: request k of the run is due at t0 + k / RATE on
 *            connection k % CONNS, so each connection sends every CONNS / RATE seconds with the
 *            phases spread evenly, whether or not its previous reply is in (a late reply does
 *            not delay the next request: no coordinated omission; requests are then pipelined,
 *            which Modbus TCP allows, and matched by transaction id). The wait for the next slot
 *            is epoll_pwait2 with a nanosecond timeout, so requests leave one by one at their
 *            slots instead of in bursts on a millisecond tick.
 * Latency, 1 µs buckets, two ways: from the request's write to the kernel's receipt of its
 * reply (SO_TIMESTAMPNS: what the server and the network took, p50_us...max_us), and to this
 * process's read of it (app_p50_us, app_p99_us: plus this generator's own wake-up delay, which
 * on a shared 2-core machine can exceed the server's time). The first 0.5 s is a warm-up, not
 * counted. Also reported: how late requests left against their slots (lag: this generator's own
 * health, e.g. when it shares the cores with the server), and this process's CPU per request.
 * Prints one line (replies: warm-up included; requests: measured):
 *   replies M requests N rps R p50_us A p90_us B p99_us C p999_us D max_us E app_p50_us F
 *   app_p99_us G errors H lag_p99_us I skipped J cpu_us_per_req K */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define ADDR 3000          /* the device id string in every default map (16 registers) */
#define MAXLAT 2000000     /* µs buckets: 1 µs resolution up to 2 s */
#define PIPE 32            /* requests outstanding per connection, at most */
#define WARMUP_NS 500000000LL

struct conn {
	int fd;
	uint16_t tid;
	uint8_t unit;
	unsigned head, count;              /* outstanding requests, oldest first */
	uint16_t out_tid[PIPE];
	int64_t out_at[PIPE];              /* CLOCK_MONOTONIC: warm-up and lag */
	int64_t out_wall[PIPE];            /* CLOCK_REALTIME: latency */
	size_t got;
	unsigned char buf[1024];
};

static uint32_t *hist, *app_hist, *lag_hist;
static uint64_t nreq, nlag, nerr, skipped, nreplies;   /* nreplies: warm-up included */
static int64_t measure_from;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The clock of the kernel's receive timestamps (SO_TIMESTAMPNS). */
static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void send_req(struct conn *c, int units, int64_t due)
{
	if (c->count == PIPE) {
		skipped++;        /* the server is that far behind: not a latency, counted apart */
		return;
	}
	unsigned char q[12];
	c->tid++;
	c->unit = (uint8_t)(c->unit % units + 1);
	q[0] = (unsigned char)(c->tid >> 8); q[1] = (unsigned char)c->tid;
	q[2] = 0; q[3] = 0; q[4] = 0; q[5] = 6; q[6] = c->unit; q[7] = 3;
	q[8] = ADDR >> 8; q[9] = ADDR & 0xff; q[10] = 0; q[11] = 10;
	int64_t t = now_ns();
	unsigned slot = (c->head + c->count) % PIPE;
	c->out_tid[slot] = c->tid;
	c->out_at[slot] = t;
	c->out_wall[slot] = wall_ns();
	c->count++;
	if (write(c->fd, q, sizeof q) != (ssize_t)sizeof q) {
		perror("write");
		exit(1);
	}
	if (due && t >= measure_from) {
		int64_t lag = (t - due) / 1000;
		lag_hist[lag < 0 ? 0 : lag < MAXLAT ? lag : MAXLAT]++;
		nlag++;
	}
}

static uint64_t pct(const uint32_t *h, uint64_t n, double p)
{
	uint64_t want = (uint64_t)((double)n * p), acc = 0;
	for (uint64_t i = 0; i <= MAXLAT; i++)
		if ((acc += h[i]) > want)
			return i;
	return MAXLAT;
}

static uint64_t hmax(const uint32_t *h)
{
	for (uint64_t i = MAXLAT + 1; i-- > 0;)
		if (h[i])
			return i;
	return 0;
}

static void add(uint32_t *h, int64_t ns)
{
	int64_t us = ns / 1000;
	h[us < 0 ? 0 : us < MAXLAT ? us : MAXLAT]++;
}

/* Takes every complete reply off c's buffer; returns how many. RX_WALL: when the kernel
 * received the last of the bytes read (the replies in one read share it: conservative). */
static int take_replies(struct conn *c, int units, bool closed_loop, int64_t rx_wall)
{
	int done = 0;
	for (;;) {
		if (c->got < 6)
			break;
		size_t len = 6u + (size_t)(c->buf[4] << 8 | c->buf[5]);
		if (c->got < len)
			break;
		int64_t t = wall_ns();
		uint16_t tid = (uint16_t)(c->buf[0] << 8 | c->buf[1]);
		if (c->count == 0 || c->out_tid[c->head] != tid || c->buf[7] != 3 || c->buf[8] != 20) {
			nerr++;
		} else if (c->out_at[c->head] >= measure_from) {
			add(hist, (rx_wall ? rx_wall : t) - c->out_wall[c->head]);
			add(app_hist, t - c->out_wall[c->head]);
			nreq++;
		}
		if (c->count) {
			c->head = (c->head + 1) % PIPE;
			c->count--;
		}
		memmove(c->buf, c->buf + len, c->got - len);
		c->got -= len;
		done++;
		nreplies++;
		if (closed_loop)
			send_req(c, units, 0);
	}
	return done;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: load HOST PORT[,PORT...] CONNS SECONDS RATE UNITS\n");
		return 2;
	}
	int nc = atoi(argv[3]), units = atoi(argv[6]);
	double secs = atof(argv[4]), rate = atof(argv[5]);
	hist = calloc(MAXLAT + 1, sizeof *hist);
	app_hist = calloc(MAXLAT + 1, sizeof *app_hist);
	lag_hist = calloc(MAXLAT + 1, sizeof *lag_hist);
	struct conn *cs = calloc((size_t)nc, sizeof *cs);
	if (!hist || !app_hist || !lag_hist || !cs || nc < 1 || units < 1)
		return 2;
	int ep = epoll_create1(0);
	int ports[64], np = 0;
	for (char *p = strtok(argv[2], ","); p && np < 64; p = strtok(NULL, ","))
		ports[np++] = atoi(p);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	for (int i = 0; i < nc; i++) {
		struct conn *c = &cs[i];
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		sa.sin_port = htons((uint16_t)ports[i % np]);
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			perror("connect");
			return 1;
		}
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) {
			perror("SO_TIMESTAMPNS");
			return 1;
		}
		c->unit = (uint8_t)(i % units);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	bool closed_loop = rate <= 0;
	int64_t t0 = now_ns(), end = t0 + (int64_t)(secs * 1e9);
	measure_from = t0 + WARMUP_NS;
	double step_ns = closed_loop ? 0 : 1e9 / rate;
	uint64_t k = 0;                       /* the next slot */
	if (closed_loop)
		for (int i = 0; i < nc; i++)
			send_req(&cs[i], units, 0);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	struct epoll_event evs[256];
	int64_t t;
	while ((t = now_ns()) < end) {
		struct timespec timeout = { 0, 100000000 };
		if (!closed_loop) {
			int64_t due;
			while ((due = t0 + (int64_t)((double)k * step_ns)) <= t) {
				send_req(&cs[k % (uint64_t)nc], units, due);
				k++;
			}
			int64_t wait = due - now_ns();
			timeout.tv_sec = 0;
			timeout.tv_nsec = wait > 0 ? wait : 0;
		}
		int n = epoll_pwait2(ep, evs, 256, &timeout, NULL);
		for (int e = 0; e < n; e++) {
			struct conn *c = evs[e].data.ptr;
			struct iovec iov = { c->buf + c->got, sizeof c->buf - c->got };
			union { char b[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } ctl;
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			                     .msg_controllen = sizeof ctl.b };
			ssize_t r = recvmsg(c->fd, &mh, 0);
			if (r <= 0) {
				fprintf(stderr, "connection closed by the server\n");
				return 1;
			}
			int64_t rx_wall = 0;
			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;
					memcpy(&ts, CMSG_DATA(cm), sizeof ts);
					rx_wall = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
				}
			c->got += (size_t)r;
			take_replies(c, units, closed_loop, rx_wall);
		}
	}
	getrusage(RUSAGE_SELF, &ru1);
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	             (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double el = (double)(now_ns() - measure_from) / 1e9;
	printf("replies %llu requests %llu rps %.0f p50_us %llu p90_us %llu p99_us %llu p999_us %llu max_us %llu "
	       "app_p50_us %llu app_p99_us %llu errors %llu lag_p99_us %llu skipped %llu cpu_us_per_req %.2f\n",
	       (unsigned long long)nreplies, (unsigned long long)nreq, (double)nreq / el, (unsigned long long)pct(hist, nreq, 0.5),
	       (unsigned long long)pct(hist, nreq, 0.9), (unsigned long long)pct(hist, nreq, 0.99),
	       (unsigned long long)pct(hist, nreq, 0.999), (unsigned long long)hmax(hist),
	       (unsigned long long)pct(app_hist, nreq, 0.5), (unsigned long long)pct(app_hist, nreq, 0.99),
	       (unsigned long long)nerr, (unsigned long long)(nlag ? pct(lag_hist, nlag, 0.99) : 0),
	       (unsigned long long)skipped, nreplies ? cpu * 1e6 / (double)nreplies : 0);
	return 0;
}
