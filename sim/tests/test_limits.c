/* sim/limits.c: descriptor reservations add up against RLIMIT_NOFILE across openers (an MQTT
 * fleet and a Modbus fleet may each fit alone and not together); a soft limit below the need is
 * raised to the hard limit; the error names the need, the limit and the way out. The limits are
 * lowered in this process only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <cmocka.h>
#include "sim/limits.h"
#include "sim/log.h"
#include "sim/tests/capture.h"

static void set_nofile(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static rlim_t soft_nofile(void)
{
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	return rl.rlim_cur;
}

static void test_reservations_add_up(void **state)
{
	set_nofile(300, 300);
	assert_int_equal(fb_fd_reserve(120, "mqtt: 120 connections", NULL), 0);
	assert_int_equal(fb_fd_reserve(100, "modbus: 50 listening ports", NULL), 0);
	struct capture c;
	capture_begin(&c);
	int rc = fb_fd_reserve(100, "modbus: 50 listening ports", "or use 'layout: gateway'");
	const char *err = capture_end(&c);
	assert_int_equal(rc, -1);
	/* all three are counted: 120 + 100 + 100 + what is open + the spare */
	assert_non_null(strstr(err, "fleetbench: error: modbus: 50 listening ports need 3"));
	assert_non_null(strstr(err, "file descriptors in all, but the limit is 300 (ulimit -n; hard "
	                            "limit 300): raise it, e.g. 'ulimit -n 3"));
	assert_non_null(strstr(err, ", or use 'layout: gateway'\n"));
	assert_int_equal(fb_fd_reserved(), 220);
	/* given back, the same request fits */
	fb_fd_release(120);
	assert_int_equal(fb_fd_reserve(100, "modbus: 50 listening ports", NULL), 0);
	fb_fd_release(fb_fd_reserved());
	assert_int_equal(fb_fd_reserved(), 0);
}

static void test_soft_limit_raised(void **state)
{
	set_nofile(64, 256);
	fb_log_level = FB_LOG_ERROR;
	assert_int_equal(fb_fd_reserve(150, "mqtt: 150 connections", NULL), 0);
	assert_int_equal(soft_nofile(), 256);
	/* beyond the hard limit: refused, the limit left as it was */
	assert_int_equal(fb_fd_reserve(150, "mqtt: 150 more connections", NULL) < 0, 1);
	assert_int_equal(soft_nofile(), 256);
	fb_fd_release(fb_fd_reserved());
}

static void test_within_limit_untouched(void **state)
{
	set_nofile(128, 128);
	assert_int_equal(fb_fd_reserve(10, "lorawan: 10 gateways", NULL), 0);
	assert_int_equal(soft_nofile(), 128);
	fb_fd_release(fb_fd_reserved());
}

static void test_oom_message(void **state)
{
	struct capture c;
	capture_begin(&c);
	assert_int_equal(fb_oom_error("the engine's state for 500000000 devices", 3ull << 32), -1);
	assert_int_equal(fb_oom_error("the mqtt transport's command topic filters", 0), -1);
	const char *err = capture_end(&c);
	assert_string_equal(err,
	    "fleetbench: error: out of memory for the engine's state for 500000000 devices (about "
	    "12.0 GiB): run fewer devices per process with --shard i/N over several processes or "
	    "machines, or raise the memory limit (ulimit -v)\n"
	    "fleetbench: error: out of memory for the mqtt transport's command topic filters: run "
	    "fewer devices per process with --shard i/N over several processes or machines, or raise "
	    "the memory limit (ulimit -v)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reservations_add_up),
		cmocka_unit_test(test_soft_limit_raised),
		cmocka_unit_test(test_within_limit_untouched),
		cmocka_unit_test(test_oom_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
