/* Helpers for Modbus tests that run the server on a libev loop in the test's own thread: the
 * test drives clients with plain sockets and turns the loop until what it waits for happens
 * (polling with a deadline, never sleeping as synchronisation). */
#ifndef FB_MBTEST_LOOP_H
#define FB_MBTEST_LOOP_H
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include "protocols/modbus/server.h"
#include "protocols/modbus/tests/mbtest_model.h"

static inline double mbt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Turns the loop until fd is readable or the deadline passes; true when readable. */
static inline bool mbt_pump_until_readable(struct ev_loop *loop, int fd, double timeout_s)
{
	double end = mbt_now() + timeout_s;
	while (mbt_now() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 1) > 0)
			return true;
	}
	return false;
}

static inline void mbt_pump_for(struct ev_loop *loop, double seconds)
{
	double end = mbt_now() + seconds;
	while (mbt_now() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		poll(NULL, 0, 1);
	}
}

static inline int mbt_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Reads exactly n bytes, turning the loop meanwhile; returns the count read. */
static inline size_t mbt_read_n(struct ev_loop *loop, int fd, uint8_t *buf, size_t n, double timeout_s)
{
	size_t got = 0;
	double end = mbt_now() + timeout_s;
	while (got < n && mbt_now() < end) {
		if (!mbt_pump_until_readable(loop, fd, end - mbt_now()))
			break;
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* A unit serving the test model with fixed values. */
struct mbt_unit {
	struct fb_mb_unit u;
	double values[6];
};

static inline void mbt_unit_init(struct mbt_unit *m, const struct fb_regmap *map, uint32_t device)
{
	static const double v[6] = { 40, 37.3, -12.25, 3000000000.0, 1, 0 };
	memset(m, 0, sizeof *m);
	memcpy(m->values, v, sizeof v);
	m->u.map = map;
	m->u.values = m->values;
	m->u.device = device;
	snprintf(m->u.device_id, sizeof m->u.device_id, "mbtest-light-%06u", device);
}

/* Commands applied to the unit's values, as the transport does. */
static inline int mbt_command(void *arg, struct fb_mb_unit *u, int field, double value)
{
	int *count = arg;
	(*count)++;
	u->values[field] = value;
	return 0;
}

#endif
