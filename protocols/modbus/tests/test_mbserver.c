/* The Modbus TCP/RTU server on a libev loop, driven by raw sockets and a pty from the test:
 * framing, pipelining, unit dispatch, exceptions, malformed input, writes as commands, fault
 * injection, a half frame that must not delay others, and 1 500 connections on fds > 1023. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <termios.h>
#include <cmocka.h>
#include "protocols/modbus/mbap.h"
#include "protocols/modbus/tests/mbtest_loop.h"

struct fixture {
	struct ev_loop *loop;
	struct fb_regmap *map;
	struct fb_mbserver *srv;
	struct mbt_unit units[3];
	int commands;
	uint16_t port;
	int ep;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->loop = ev_loop_new(EVBACKEND_EPOLL);
	f->map = fb_regmap_default(&mbtest_model, FB_MB_ABCD);
	f->srv = fb_mbserver_new(f->loop, mbt_command, &f->commands);
	f->ep = fb_mbserver_listen(f->srv, "127.0.0.1", 0, &f->port);
	assert_true(f->ep >= 0);
	assert_true(f->port > 0);
	for (int i = 0; i < 3; i++)
		mbt_unit_init(&f->units[i], f->map, (uint32_t)(10 + i));
	fb_mbserver_set_unit(f->srv, f->ep, 1, &f->units[0].u);
	fb_mbserver_set_unit(f->srv, f->ep, 2, &f->units[1].u);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fb_mbserver_free(f->srv);
	fb_regmap_free(f->map);
	ev_loop_destroy(f->loop);
	free(f);
	return 0;
}

/* An MBAP request: tid, unit, PDU bytes. Returns its length. */
static size_t req(uint8_t *out, uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t n)
{
	fb_mbap_header(out, tid, unit, n);
	memcpy(out + 7, pdu, n);
	return 7 + n;
}

/* Sends one request and reads the reply's header then its body; returns the PDU length. */
static size_t transact(struct fixture *f, int fd, uint16_t tid, uint8_t unit, const uint8_t *pdu,
                       size_t n, uint8_t *resp)
{
	uint8_t buf[300];
	size_t len = req(buf, tid, unit, pdu, n);
	assert_int_equal(send(fd, buf, len, 0), (ssize_t)len);
	assert_int_equal(mbt_read_n(f->loop, fd, resp, 7, 2.0), 7);
	assert_int_equal(resp[0] << 8 | resp[1], tid);
	assert_int_equal(resp[2] << 8 | resp[3], 0);
	assert_int_equal(resp[6], unit);
	size_t body = (size_t)(resp[4] << 8 | resp[5]) - 1;
	assert_int_equal(mbt_read_n(f->loop, fd, resp + 7, body, 2.0), body);
	memmove(resp, resp + 7, body);
	return body;
}

static void test_read_pipelined_in_order(void **state)
{
	struct fixture *f = *state;
	int fd = mbt_connect(f->port);
	uint8_t buf[64], resp[300];
	static const uint8_t fc03[] = { 0x03, 0x00, 0x00, 0x00, 0x04 };   /* 2 floats */
	static const uint8_t fc04[] = { 0x04, 0x03, 0xE8, 0x00, 0x03 };   /* scaled 1000..1002 */
	size_t a = req(buf, 0x1234, 1, fc03, sizeof fc03);
	size_t b = req(buf + a, 0x1235, 2, fc04, sizeof fc04);
	assert_int_equal(send(fd, buf, a + b, 0), (ssize_t)(a + b));
	assert_int_equal(mbt_read_n(f->loop, fd, resp, 7 + 2 + 8, 2.0), 17);
	static const uint8_t want1[] = { 0x12, 0x34, 0, 0, 0, 11, 1, 0x03, 8,
	                                 0x42, 0x20, 0x00, 0x00,    /* 40.0f */
	                                 0x42, 0x15, 0x33, 0x33 };  /* 37.3f */
	assert_memory_equal(resp, want1, sizeof want1);
	assert_int_equal(mbt_read_n(f->loop, fd, resp, 7 + 2 + 6, 2.0), 15);
	static const uint8_t want2[] = { 0x12, 0x35, 0, 0, 0, 9, 2, 0x04, 6,
	                                 0x00, 40, 0x00, 0x00, 0x01, 0x75 };   /* 40, reserved, 373 */
	assert_memory_equal(resp, want2, sizeof want2);
	close(fd);
	const struct fb_mb_stats *st = fb_mbserver_stats(f->srv);
	assert_int_equal(st->requests_by_fc[3], 1);
	assert_int_equal(st->requests_by_fc[4], 1);
}

static void test_exceptions(void **state)
{
	struct fixture *f = *state;
	int fd = mbt_connect(f->port);
	uint8_t resp[300];
	static const uint8_t absent[] = { 0x03, 0x00, 0x00, 0x00, 0x02 };
	static const uint8_t fc07[] = { 0x07 };
	static const uint8_t too_many[] = { 0x03, 0x00, 0x00, 0x00, 126 };
	static const uint8_t unmapped[] = { 0x03, 0x01, 0x00, 0x00, 0x01 };
	static const uint8_t short_fc03[] = { 0x03, 0x00, 0x00 };
	static const uint8_t bad_coil[] = { 0x05, 0x00, 0x00, 0x12, 0x34 };
	double t0 = mbt_now();
	assert_int_equal(transact(f, fd, 1, 9, absent, sizeof absent, resp), 2);
	assert_int_equal(resp[0], 0x83);
	assert_int_equal(resp[1], 0x0B);
	assert_int_equal(transact(f, fd, 2, 1, fc07, sizeof fc07, resp), 2);
	assert_int_equal(resp[0], 0x87);
	assert_int_equal(resp[1], 0x01);
	assert_int_equal(transact(f, fd, 3, 1, too_many, sizeof too_many, resp), 2);
	assert_int_equal(resp[1], 0x03);
	assert_int_equal(transact(f, fd, 4, 1, unmapped, sizeof unmapped, resp), 2);
	assert_int_equal(resp[1], 0x02);
	assert_int_equal(transact(f, fd, 5, 1, short_fc03, sizeof short_fc03, resp), 2);
	assert_int_equal(resp[1], 0x03);
	assert_int_equal(transact(f, fd, 6, 1, bad_coil, sizeof bad_coil, resp), 2);
	assert_int_equal(resp[0], 0x85);
	assert_int_equal(resp[1], 0x03);
	/* no libmodbus-style 0.5 s sleep before an exception */
	assert_true(mbt_now() - t0 < 0.4);
	const struct fb_mb_stats *st = fb_mbserver_stats(f->srv);
	assert_int_equal(st->exceptions, 6);
	assert_int_equal(st->exceptions_by_code[0x0B], 1);
	assert_int_equal(st->absent_unit, 1);
	close(fd);
}

/* A malformed MBAP closes that connection only, counted. */
static void test_malformed_mbap_closes(void **state)
{
	struct fixture *f = *state;
	static const uint8_t bad_proto[] = { 0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1 };
	static const uint8_t bad_len_hi[] = { 0, 1, 0, 0, 0x01, 0x00, 1, 3 };
	static const uint8_t bad_len_lo[] = { 0, 1, 0, 0, 0, 1, 1 };
	const uint8_t *cases[] = { bad_proto, bad_len_hi, bad_len_lo };
	size_t lens[] = { sizeof bad_proto, sizeof bad_len_hi, sizeof bad_len_lo };
	int good = mbt_connect(f->port);
	for (int i = 0; i < 3; i++) {
		int fd = mbt_connect(f->port);
		uint8_t b;
		assert_int_equal(send(fd, cases[i], lens[i], 0), (ssize_t)lens[i]);
		assert_true(mbt_pump_until_readable(f->loop, fd, 2.0));
		assert_int_equal(recv(fd, &b, 1, 0), 0);   /* closed by the server */
		close(fd);
	}
	const struct fb_mb_stats *st = fb_mbserver_stats(f->srv);
	assert_int_equal(st->bad_protocol, 1);
	assert_int_equal(st->bad_length, 2);
	/* the other connection is unaffected */
	uint8_t resp[300];
	static const uint8_t fc03[] = { 0x03, 0x0B, 0xB8, 0x00, 0x0A };
	assert_int_equal(transact(f, good, 7, 1, fc03, sizeof fc03, resp), 22);
	assert_memory_equal(resp + 2, "mbtest-light-000010", 19);
	close(good);
}

/* One client sends half a frame and goes silent: others are answered at once; the half frame
 * is completed later and answered then. */
static void test_half_frame_does_not_delay_others(void **state)
{
	struct fixture *f = *state;
	int slow = mbt_connect(f->port), fast = mbt_connect(f->port);
	uint8_t buf[32], resp[300];
	static const uint8_t fc03[] = { 0x03, 0x00, 0x00, 0x00, 0x02 };
	size_t n = req(buf, 99, 1, fc03, sizeof fc03);
	assert_int_equal(send(slow, buf, 5, 0), 5);
	mbt_pump_for(f->loop, 0.02);
	double t0 = mbt_now();
	for (int i = 0; i < 20; i++)
		assert_int_equal(transact(f, fast, (uint16_t)i, 1, fc03, sizeof fc03, resp), 6);
	assert_true(mbt_now() - t0 < 0.5);
	struct pollfd p = { .fd = slow, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(send(slow, buf + 5, n - 5, 0), (ssize_t)(n - 5));
	assert_int_equal(mbt_read_n(f->loop, slow, resp, 13, 2.0), 13);
	assert_int_equal(resp[1], 99);
	close(slow);
	close(fast);
}

static void test_writes_are_commands(void **state)
{
	struct fixture *f = *state;
	int fd = mbt_connect(f->port);
	uint8_t resp[300];
	static const uint8_t dim[] = { 0x06, 0x03, 0xE8, 0x00, 25 };            /* 1000 := 25 % */
	static const uint8_t read_dim[] = { 0x03, 0x00, 0x00, 0x00, 0x02 };
	static const uint8_t ro[] = { 0x06, 0x03, 0xEA, 0x00, 1 };              /* power: read-only */
	static const uint8_t range[] = { 0x06, 0x03, 0xE8, 0x00, 200 };         /* 200 % */
	static const uint8_t lamp_off[] = { 0x05, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t fc16[] = { 0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0x42, 0x48, 0x00, 0x00 };
	static const uint8_t fc15[] = { 0x0F, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01 };
	assert_int_equal(transact(f, fd, 1, 1, dim, sizeof dim, resp), 5);
	assert_memory_equal(resp, dim, 5);
	assert_int_equal(f->commands, 1);
	assert_int_equal(transact(f, fd, 2, 1, read_dim, sizeof read_dim, resp), 6);
	assert_true(fb_mb_get_float((uint16_t[]){ (uint16_t)(resp[2] << 8 | resp[3]),
	                                          (uint16_t)(resp[4] << 8 | resp[5]) },
	                            FB_MB_ABCD) == 25.0f);
	assert_int_equal(transact(f, fd, 3, 1, ro, sizeof ro, resp), 2);
	assert_int_equal(resp[0], 0x86);
	assert_int_equal(resp[1], 0x02);
	assert_int_equal(transact(f, fd, 4, 1, range, sizeof range, resp), 2);
	assert_int_equal(resp[1], 0x03);
	assert_int_equal(f->commands, 1);
	assert_int_equal(transact(f, fd, 5, 1, lamp_off, sizeof lamp_off, resp), 5);
	assert_true(f->units[0].values[4] == 0.0);
	assert_int_equal(transact(f, fd, 6, 1, fc16, sizeof fc16, resp), 5);
	assert_memory_equal(resp, fc16, 5);
	assert_true(f->units[0].values[0] == 50.0);
	assert_int_equal(transact(f, fd, 7, 1, fc15, sizeof fc15, resp), 5);
	assert_true(f->units[0].values[4] == 1.0);
	assert_int_equal(f->commands, 4);
	close(fd);
}

static void test_identification(void **state)
{
	struct fixture *f = *state;
	int fd = mbt_connect(f->port);
	uint8_t resp[300];
	static const uint8_t fc17[] = { 0x11 };
	static const uint8_t basic[] = { 0x2B, 0x0E, 0x01, 0x00 };
	static const uint8_t one[] = { 0x2B, 0x0E, 0x04, 0x06 };
	static const uint8_t missing[] = { 0x2B, 0x0E, 0x04, 0x03 };
	size_t n = transact(f, fd, 1, 2, fc17, sizeof fc17, resp);
	assert_int_equal(resp[0], 0x11);
	assert_int_equal(resp[1], n - 2);
	assert_int_equal(resp[2], 1);        /* server id */
	assert_int_equal(resp[3], 0xFF);     /* running */
	assert_memory_equal(resp + 4, "fleetbench mbtest-light 1.0", 27);
	assert_null(memmem(resp, n, "LMB", 3));
	n = transact(f, fd, 2, 2, basic, sizeof basic, resp);
	static const uint8_t want[] = { 0x2B, 0x0E, 0x01, 0x82, 0x00, 0x00, 3,
	                                0, 10, 'f', 'l', 'e', 'e', 't', 'b', 'e', 'n', 'c', 'h',
	                                1, 12, 'm', 'b', 't', 'e', 's', 't', '-', 'l', 'i', 'g', 'h', 't',
	                                2, 3, '1', '.', '0' };
	assert_int_equal(n, sizeof want);
	assert_memory_equal(resp, want, sizeof want);
	n = transact(f, fd, 3, 2, one, sizeof one, resp);
	assert_int_equal(resp[6], 1);
	assert_int_equal(resp[7], 6);
	assert_int_equal(resp[8], 19);
	assert_memory_equal(resp + 9, "mbtest-light-000011", 19);
	n = transact(f, fd, 4, 2, missing, sizeof missing, resp);
	assert_int_equal(resp[0], 0xAB);
	assert_int_equal(resp[1], 0x02);
	close(fd);
}

static void test_faults(void **state)
{
	struct fixture *f = *state;
	struct fb_mb_faults faults = { .exception_rate = 1, .exception_code = 0x06 };
	f->units[0].u.faults = &faults;
	int fd = mbt_connect(f->port);
	uint8_t buf[32], resp[300];
	static const uint8_t fc03[] = { 0x03, 0x00, 0x00, 0x00, 0x02 };
	assert_int_equal(transact(f, fd, 1, 1, fc03, sizeof fc03, resp), 2);
	assert_int_equal(resp[0], 0x83);
	assert_int_equal(resp[1], 0x06);

	/* no reply at all */
	memset(&faults, 0, sizeof faults);
	faults.no_reply_rate = 1;
	size_t n = req(buf, 2, 1, fc03, sizeof fc03);
	assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
	assert_false(mbt_pump_until_readable(f->loop, fd, 0.1));
	assert_int_equal(faults.injected[FB_MB_FAULT_NO_REPLY], 1);

	/* delayed reply: not before the delay, and a pipelined request stays behind it */
	memset(&faults, 0, sizeof faults);
	faults.delay_min_us = faults.delay_max_us = 60000;
	double t0 = mbt_now();
	n = req(buf, 3, 1, fc03, sizeof fc03);
	n += req(buf + n, 4, 1, fc03, sizeof fc03);
	assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
	assert_int_equal(mbt_read_n(f->loop, fd, resp, 26, 2.0), 26);
	assert_true(mbt_now() - t0 >= 0.110);
	assert_int_equal(resp[1], 3);
	assert_int_equal(resp[13 + 1], 4);

	/* split: the first part arrives alone */
	memset(&faults, 0, sizeof faults);
	faults.split_rate = 1;
	faults.split_gap_us = 100000;
	n = req(buf, 5, 1, fc03, sizeof fc03);
	assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
	assert_true(mbt_pump_until_readable(f->loop, fd, 1.0));
	mbt_pump_for(f->loop, 0.02);
	ssize_t got = recv(fd, resp, sizeof resp, MSG_DONTWAIT);
	assert_int_equal(got, 6);
	assert_int_equal(mbt_read_n(f->loop, fd, resp + 6, 7, 2.0), 7);
	assert_int_equal(resp[1], 5);

	/* junk before the reply */
	memset(&faults, 0, sizeof faults);
	faults.junk_rate = 1;
	n = req(buf, 6, 1, fc03, sizeof fc03);
	assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
	assert_true(mbt_pump_until_readable(f->loop, fd, 1.0));
	mbt_pump_for(f->loop, 0.02);
	got = recv(fd, resp, sizeof resp, MSG_DONTWAIT);
	assert_true(got > 13 && got <= 21);
	assert_int_equal(resp[got - 13 + 1], 6);
	assert_int_equal(faults.injected[FB_MB_FAULT_JUNK], 1);

	/* connection dropped */
	memset(&faults, 0, sizeof faults);
	faults.drop_rate = 1;
	n = req(buf, 7, 1, fc03, sizeof fc03);
	assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
	assert_true(mbt_pump_until_readable(f->loop, fd, 1.0));
	assert_int_equal(recv(fd, resp, 1, 0), 0);
	close(fd);
	f->units[0].u.faults = NULL;
}

/* RTU frame: unit, PDU, CRC low byte first. */
static size_t rtu(uint8_t *out, uint8_t unit, const uint8_t *pdu, size_t n)
{
	out[0] = unit;
	memcpy(out + 1, pdu, n);
	uint16_t crc = fb_rtu_crc16(out, 1 + n);
	out[1 + n] = (uint8_t)crc;
	out[2 + n] = (uint8_t)(crc >> 8);
	return 3 + n;
}

static void test_rtu_pty_several_units(void **state)
{
	struct fixture *f = *state;
	char name[64];
	int bus = fb_mbserver_open_pty(f->srv, 19200, NULL, name, sizeof name);
	assert_true(bus >= 0);
	fb_mbserver_set_unit(f->srv, bus, 17, &f->units[1].u);
	fb_mbserver_set_unit(f->srv, bus, 18, &f->units[2].u);
	int fd = open(name, O_RDWR | O_NOCTTY);
	assert_true(fd >= 0);
	struct termios tio;
	tcgetattr(fd, &tio);
	cfmakeraw(&tio);
	tcsetattr(fd, TCSANOW, &tio);
	/* CRC-16/MODBUS check value and a classic frame: 01 03 00 00 00 0A -> C5 CD */
	assert_int_equal(fb_rtu_crc16((const uint8_t *)"123456789", 9), 0x4B37);
	assert_int_equal(fb_rtu_crc16((const uint8_t[]){ 1, 3, 0, 0, 0, 10 }, 6), 0xCDC5);

	uint8_t buf[64], resp[300];
	static const uint8_t fc03[] = { 0x03, 0x0B, 0xC8, 0x00, 0x02 };   /* device index 3016 */
	for (uint8_t unit = 17; unit <= 18; unit++) {
		size_t n = rtu(buf, unit, fc03, sizeof fc03);
		assert_int_equal(write(fd, buf, n), (ssize_t)n);
		assert_int_equal(mbt_read_n(f->loop, fd, resp, 9, 2.0), 9);
		assert_int_equal(resp[0], unit);
		assert_int_equal(resp[1], 0x03);
		assert_int_equal(resp[2], 4);
		assert_int_equal(resp[6], 11 + (unit - 17));
		assert_int_equal(fb_rtu_crc16(resp, 7), resp[7] | resp[8] << 8);
	}
	/* another server's address, a bad CRC: silence */
	size_t n = rtu(buf, 19, fc03, sizeof fc03);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	n = rtu(buf, 17, fc03, sizeof fc03);
	buf[n - 1] ^= 0xFF;
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	assert_false(mbt_pump_until_readable(f->loop, fd, 0.1));
	const struct fb_mb_stats *st = fb_mbserver_stats(f->srv);
	assert_int_equal(st->bad_crc, 1);
	/* after the silence the bus serves again; a frame split in two writes is reassembled */
	n = rtu(buf, 18, fc03, sizeof fc03);
	assert_int_equal(write(fd, buf, 3), 3);
	mbt_pump_for(f->loop, 0.0005);
	assert_int_equal(write(fd, buf + 3, n - 3), (ssize_t)(n - 3));
	assert_int_equal(mbt_read_n(f->loop, fd, resp, 9, 2.0), 9);
	assert_int_equal(resp[0], 18);
	/* an unknown function code is framed by silence and answered with exception 01 */
	n = rtu(buf, 17, (const uint8_t[]){ 0x41, 0x00 }, 2);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	assert_int_equal(mbt_read_n(f->loop, fd, resp, 5, 2.0), 5);
	assert_int_equal(resp[1], 0xC1);
	assert_int_equal(resp[2], 0x01);
	/* broadcast write: applied to every unit, no reply */
	static const uint8_t dim[] = { 0x06, 0x03, 0xE8, 0x00, 33 };
	n = rtu(buf, 0, dim, sizeof dim);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	assert_false(mbt_pump_until_readable(f->loop, fd, 0.1));
	assert_true(f->units[1].values[0] == 33.0);
	assert_true(f->units[2].values[0] == 33.0);
	close(fd);
}

static void test_1500_connections(void **state)
{
	struct fixture *f = *state;
	enum { N = 1500 };
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 2 * N + 64) {
		rl.rlim_cur = rl.rlim_max;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	assert_true(rl.rlim_cur >= 2 * N + 64);   /* the hard limit must allow the test */
	static int fds[N];
	uint8_t buf[32], resp[64];
	static const uint8_t fc03[] = { 0x03, 0x00, 0x02, 0x00, 0x02 };
	int max_fd = 0;
	for (int i = 0; i < N; i++) {
		fds[i] = mbt_connect(f->port);
		assert_true(fds[i] >= 0);
		if (fds[i] > max_fd)
			max_fd = fds[i];
		if (i % 100 == 99)
			ev_run(f->loop, EVRUN_NOWAIT);   /* let the server accept as we go */
	}
	mbt_pump_for(f->loop, 0.05);
	const struct fb_mb_stats *st = fb_mbserver_stats(f->srv);
	assert_true(max_fd > 2 * 1023 - 100);   /* server-side fds are above 1023 too */
	for (int i = 0; i < N; i++) {
		size_t n = req(buf, (uint16_t)i, (uint8_t)(1 + i % 2), fc03, sizeof fc03);
		assert_int_equal(send(fds[i], buf, n, 0), (ssize_t)n);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(mbt_read_n(f->loop, fds[i], resp, 13, 5.0), 13);
		assert_int_equal(resp[0] << 8 | resp[1], i);
		assert_memory_equal(resp + 9, "\x42\x15\x33\x33", 4);   /* 37.3f */
	}
	assert_int_equal(st->connections_open, N);
	assert_true(st->connections_peak >= N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	mbt_pump_for(f->loop, 0.05);
	assert_int_equal(st->connections_open, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_pipelined_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exceptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_mbap_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_frame_does_not_delay_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_are_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtu_pty_several_units, setup, teardown),
		cmocka_unit_test_setup_teardown(test_1500_connections, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
