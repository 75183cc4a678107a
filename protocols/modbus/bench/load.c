/* Modbus TCP load generator for protocols/modbus/bench.sh (not part of the library).
 *   load HOST PORT[,PORT...] CONNS SECONDS RATE UNITS
 * CONNS connections (spread over the ports in turn), each a closed loop of FC 03 reads of 10 holding
 * registers from ADDR (one request in
 * flight per connection, no pipelining) at unit ids 1..UNITS in turn. RATE 0: as fast as
 * replies come; RATE > 0: total requests/s, spread over the connections (a request is sent at
 * its slot, or as soon as the previous reply is in when late). Prints:
 *   requests N rps R p50_us A p99_us B errors E */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ADDR 3000          /* the device id string in every default map (16 registers) */
#define MAXLAT 2000000     /* µs buckets: 1 µs resolution up to 2 s */

struct conn {
	int fd;
	uint16_t tid;
	uint8_t unit;
	int64_t sent_at, next_at;
	int inflight;
	size_t got;
	unsigned char buf[300];
};

static uint32_t *hist;
static uint64_t nreq, nerr;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void send_req(struct conn *c, int units)
{
	unsigned char q[12];
	c->tid++;
	c->unit = (uint8_t)(c->unit % units + 1);
	q[0] = (unsigned char)(c->tid >> 8); q[1] = (unsigned char)c->tid;
	q[2] = 0; q[3] = 0; q[4] = 0; q[5] = 6; q[6] = c->unit; q[7] = 3;
	q[8] = ADDR >> 8; q[9] = ADDR & 0xff; q[10] = 0; q[11] = 10;
	c->sent_at = now_us();
	c->got = 0;
	c->inflight = 1;
	if (write(c->fd, q, sizeof q) != (ssize_t)sizeof q) {
		perror("write");
		exit(1);
	}
}

static uint64_t pct(double p)
{
	uint64_t want = (uint64_t)((double)nreq * p), acc = 0;
	for (uint64_t i = 0; i < MAXLAT; i++)
		if ((acc += hist[i]) > want)
			return i;
	return MAXLAT;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: load HOST PORT CONNS SECONDS RATE UNITS\n");
		return 2;
	}
	int nc = atoi(argv[3]), units = atoi(argv[6]);
	double secs = atof(argv[4]), rate = atof(argv[5]);
	hist = calloc(MAXLAT + 1, sizeof *hist);
	struct conn *cs = calloc((size_t)nc, sizeof *cs);
	int ep = epoll_create1(0);
	int ports[64], np = 0;
	for (char *p = strtok(argv[2], ","); p && np < 64; p = strtok(NULL, ","))
		ports[np++] = atoi(p);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	int64_t period = rate > 0 ? (int64_t)(1e6 * nc / rate) : 0;
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
		c->unit = (uint8_t)(i % units);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	int64_t t0 = now_us(), end = t0 + (int64_t)(secs * 1e6);
	for (int i = 0; i < nc; i++) {
		cs[i].next_at = t0 + (period ? period * i / nc : 0);
		if (!period)
			send_req(&cs[i], units);
	}
	struct epoll_event evs[256];
	int64_t t;
	while ((t = now_us()) < end) {
		int timeout = 1;
		if (period) {
			for (int i = 0; i < nc; i++)
				if (!cs[i].inflight && cs[i].next_at <= t) {
					send_req(&cs[i], units);
					cs[i].next_at += period;
				}
		} else {
			timeout = 100;
		}
		int n = epoll_wait(ep, evs, 256, timeout);
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			ssize_t r = read(c->fd, c->buf + c->got, sizeof c->buf - c->got);
			if (r <= 0) {
				fprintf(stderr, "connection closed by the server\n");
				return 1;
			}
			c->got += (size_t)r;
			if (c->got < 6 || c->got < 6u + (size_t)(c->buf[4] << 8 | c->buf[5]))
				continue;
			int64_t lat = now_us() - c->sent_at;
			if (c->buf[7] != 3 || c->buf[8] != 20 ||
			    (uint16_t)(c->buf[0] << 8 | c->buf[1]) != c->tid)
				nerr++;
			hist[lat < MAXLAT ? lat : MAXLAT]++;
			nreq++;
			c->inflight = 0;
			if (!period)
				send_req(c, units);
		}
	}
	double el = (double)(now_us() - t0) / 1e6;
	printf("requests %llu rps %.0f p50_us %llu p99_us %llu errors %llu\n",
	       (unsigned long long)nreq, (double)nreq / el, (unsigned long long)pct(0.5),
	       (unsigned long long)pct(0.99), (unsigned long long)nerr);
	return 0;
}
