/* The server read and written by independent peers: mbpoll (Debian, built on libmodbus) and the
 * npm modbus-serial client (ci/oracles/modbus-read.js), over TCP in each word order and over RTU
 * on a pty with several unit ids. The peers run as child processes while the test turns the loop. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "protocols/modbus/tests/mbtest_loop.h"

struct fixture {
	struct ev_loop *loop;
	struct fb_regmap *maps[4];
	struct fb_mbserver *srv;
	struct mbt_unit units[4];
	int commands;
	uint16_t port;
	int ep;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->loop = ev_loop_new(EVBACKEND_EPOLL);
	f->srv = fb_mbserver_new(f->loop, mbt_command, &f->commands);
	f->ep = fb_mbserver_listen(f->srv, "127.0.0.1", 0, &f->port);
	assert_true(f->ep >= 0);
	/* unit 1 + o serves the map in order o */
	for (int o = 0; o < 4; o++) {
		f->maps[o] = fb_regmap_default(&mbtest_model, (enum fb_mb_order)o);
		mbt_unit_init(&f->units[o], f->maps[o], (uint32_t)(100 + o));
		fb_mbserver_set_unit(f->srv, f->ep, (uint8_t)(1 + o), &f->units[o].u);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fb_mbserver_free(f->srv);
	for (int o = 0; o < 4; o++)
		fb_regmap_free(f->maps[o]);
	ev_loop_destroy(f->loop);
	free(f);
	return 0;
}

/* Runs argv with stdout+stderr into out[cap] while turning the loop; returns the exit status
 * (or -1 on a timeout, after killing the child by its pid). */
static int run_peer(struct fixture *f, char *const argv[], char *out, size_t cap, double timeout_s)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	size_t len = 0;
	int status = 0;
	double end = mbt_now() + timeout_s;
	bool done = false;
	while (!done) {
		ev_run(f->loop, EVRUN_NOWAIT);
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		poll(&pf, 1, 1);
		ssize_t n;
		while (len + 1 < cap && (n = read(p[0], out + len, cap - 1 - len)) > 0)
			len += (size_t)n;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			while (len + 1 < cap && (n = read(p[0], out + len, cap - 1 - len)) > 0)
				len += (size_t)n;
			done = true;
		} else if (mbt_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(p[0]);
			out[len] = 0;
			print_message("peer timed out: %s\n", out);
			return -1;
		}
	}
	close(p[0]);
	out[len] = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* mbpoll prints "[ref]: \tvalue" lines. */
static double mbpoll_value(const char *out, int ref)
{
	char key[16];
	snprintf(key, sizeof key, "[%d]:", ref);
	const char *p = strstr(out, key);
	assert_non_null(p);
	return strtod(p + strlen(key), NULL);
}

static void test_mbpoll_floats_abcd_cdab(void **state)
{
	struct fixture *f = *state;
	char port[8], out[4096];
	snprintf(port, sizeof port, "%u", f->port);
	/* mbpoll decodes ABCD with -B and CDAB by default */
	char *abcd[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-t", "4:float", "-B", "-0",
	                 "-r", "0", "-c", "3", "-1", "127.0.0.1", NULL };
	assert_int_equal(run_peer(f, abcd, out, sizeof out, 10), 0);
	assert_true(fabs(mbpoll_value(out, 0) - 40) < 1e-4);
	assert_true(fabs(mbpoll_value(out, 2) - 37.3) < 1e-4);
	assert_true(fabs(mbpoll_value(out, 4) - -12.25) < 1e-4);
	char *cdab[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "2", "-t", "3:float", "-0",
	                 "-r", "0", "-c", "3", "-1", "127.0.0.1", NULL };
	assert_int_equal(run_peer(f, cdab, out, sizeof out, 10), 0);
	assert_true(fabs(mbpoll_value(out, 2) - 37.3) < 1e-4);
	assert_true(fabs(mbpoll_value(out, 4) - -12.25) < 1e-4);
	/* scaled integers, input registers: 40 %, 37.3 W x 10 */
	char *ints[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-t", "3", "-0",
	                 "-r", "1000", "-c", "3", "-1", "127.0.0.1", NULL };
	assert_int_equal(run_peer(f, ints, out, sizeof out, 10), 0);
	assert_int_equal((int)mbpoll_value(out, 1000), 40);
	assert_int_equal((int)mbpoll_value(out, 1002), 373);
	/* BADC (unit 3) swaps the bytes of 16-bit registers too: 40 = 0x0028 -> 0x2800 */
	char *swapped[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "3", "-t", "3:hex", "-0",
	                    "-r", "1000", "-c", "1", "-1", "127.0.0.1", NULL };
	assert_int_equal(run_peer(f, swapped, out, sizeof out, 10), 0);
	assert_int_equal((int)mbpoll_value(out, 1000), 0x2800);
}

static void test_mbpoll_absent_unit_and_write(void **state)
{
	struct fixture *f = *state;
	char port[8], out[4096];
	snprintf(port, sizeof port, "%u", f->port);
	char *absent[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "77", "-t", "4", "-0",
	                   "-r", "0", "-c", "1", "-1", "127.0.0.1", NULL };
	assert_int_not_equal(run_peer(f, absent, out, sizeof out, 10), 0);
	assert_non_null(strstr(out, "Target device failed to respond"));
	/* write the dimming register (scaled, 1000) of unit 1, then read it back as a float */
	char *dim[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-0", "-r", "1000",
	                "127.0.0.1", "25", NULL };
	assert_int_equal(run_peer(f, dim, out, sizeof out, 10), 0);
	assert_int_equal(f->commands, 1);
	char *back[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-t", "4:float", "-B", "-0",
	                 "-r", "0", "-c", "1", "-1", "127.0.0.1", NULL };
	assert_int_equal(run_peer(f, back, out, sizeof out, 10), 0);
	assert_true(fabs(mbpoll_value(out, 0) - 25) < 1e-6);
	/* a read-only register refuses the write: illegal data address */
	char *ro[] = { "mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-0", "-r", "1002",
	               "127.0.0.1", "5", NULL };
	assert_int_not_equal(run_peer(f, ro, out, sizeof out, 10), 0);
	assert_non_null(strstr(out, "Illegal data address"));
	assert_int_equal(f->commands, 1);
}

/* modbus-serial reads each order; floats decoded by the oracle from the wire bytes. */
static void test_modbus_serial_each_order(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = { "ABCD", "CDAB", "BADC", "DCBA" };
	char port[8], unit[4], out[4096];
	snprintf(port, sizeof port, "%u", f->port);
	for (int o = 0; o < 4; o++) {
		snprintf(unit, sizeof unit, "%d", 1 + o);
		char *argv[] = { "node", "ci/oracles/modbus-read.js", "127.0.0.1", port, unit, "3", "0",
		                 "6", (char *)names[o], NULL };
		int rc = run_peer(f, argv, out, sizeof out, 20);
		if (rc != 0)
			print_message("%s\n", out);
		assert_int_equal(rc, 0);
		/* JavaScript prints float32(37.3) = 0x42153333 as 37.29999923706055 */
		const char *want = "\"floats\":[40,37.29999923706055,-12.25]";
		if (!strstr(out, want))
			print_message("order %s: %s (want %s)\n", names[o], out, want);
		assert_non_null(strstr(out, want));
	}
	/* input registers agree; bits: discrete inputs lampOn=1, lampFailure=0 */
	char *in[] = { "node", "ci/oracles/modbus-read.js", "127.0.0.1", port, "1", "4", "1000", "3",
	               NULL };
	assert_int_equal(run_peer(f, in, out, sizeof out, 20), 0);
	assert_non_null(strstr(out, "\"registers\":[40,0,373]"));
	char *bits[] = { "node", "ci/oracles/modbus-read.js", "127.0.0.1", port, "1", "2", "0", "2",
	                 NULL };
	assert_int_equal(run_peer(f, bits, out, sizeof out, 20), 0);
	assert_non_null(strstr(out, "\"bits\":[1,0]"));
	char *absent[] = { "node", "ci/oracles/modbus-read.js", "127.0.0.1", port, "99", "3", "0", "2",
	                   NULL };
	assert_int_equal(run_peer(f, absent, out, sizeof out, 20), 1);
	assert_non_null(strstr(out, "\"modbusCode\":11"));
}

static void test_mbpoll_rtu_several_units(void **state)
{
	struct fixture *f = *state;
	char name[64], out[4096];
	int bus = fb_mbserver_open_pty(f->srv, 19200, NULL, name, sizeof name);
	assert_true(bus >= 0);
	fb_mbserver_set_unit(f->srv, bus, 17, &f->units[0].u);
	fb_mbserver_set_unit(f->srv, bus, 18, &f->units[1].u);
	f->units[1].values[1] = 12.5;
	for (int unit = 17; unit <= 18; unit++) {
		char a[4];
		snprintf(a, sizeof a, "%d", unit);
		/* 1-based references: 1003 is PDU address 1002 (power x 10) */
		char *argv[] = { "mbpoll", "-m", "rtu", "-b", "19200", "-P", "none", "-a", a, "-t", "3",
		                 "-r", "1001", "-c", "3", "-1", name, NULL };
		int rc = run_peer(f, argv, out, sizeof out, 10);
		if (rc)
			print_message("%s\n", out);
		assert_int_equal(rc, 0);
		assert_int_equal((int)mbpoll_value(out, 1001), 40);
		assert_int_equal((int)mbpoll_value(out, 1003), unit == 17 ? 373 : 125);
	}
	char *absent[] = { "mbpoll", "-m", "rtu", "-b", "19200", "-P", "none", "-a", "19", "-t", "3",
	                   "-r", "1001", "-c", "1", "-o", "0.3", "-1", name, NULL };
	assert_int_not_equal(run_peer(f, absent, out, sizeof out, 10), 0);
}

int main(void)
{
	/* the oracle script is found from the repository root */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mbpoll_floats_abcd_cdab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mbpoll_absent_unit_and_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modbus_serial_each_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mbpoll_rtu_several_units, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
