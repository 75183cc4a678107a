/* harness/peer.c: ports, spawning, readiness, stopping, and a real mosquitto. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness/peer.h"

static void free_port_is_bindable(void **state)
{
	(void)state;
	uint16_t port = fb_peer_free_port(SOCK_STREAM);
	assert_true(port > 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	close(fd);
	assert_true(fb_peer_free_port(SOCK_DGRAM) > 0);
}

static void missing_program_fails_at_spawn(void **state)
{
	(void)state;
	struct fb_peer p;
	const char *argv[] = { "/nonexistent/fleetbench-peer", NULL };
	assert_int_equal(fb_peer_spawn(&p, argv, NULL), -1);
	unlink(p.log_path);
}

static void line_readiness_and_stop(void **state)
{
	(void)state;
	struct fb_peer p;
	/* The child reports a port, then waits for a signal (exec'd sleep gets SIGTERM). */
	const char *argv[] = { "sh", "-c", "echo starting; echo 'listening on 4242'; exec sleep 30", NULL };
	assert_int_equal(fb_peer_spawn(&p, argv, NULL), 0);
	char line[64];
	assert_int_equal(fb_peer_wait_line(&p, "listening on", line, sizeof line, 5000), 0);
	assert_string_equal(line, "listening on 4242");
	assert_true(fb_peer_alive(&p));
	assert_int_equal(fb_peer_stop(&p, 2000), 128 + 15);
	assert_false(fb_peer_alive(&p));
	assert_int_equal(fb_peer_stop(&p, 2000), -1);
	unlink(p.log_path);
}

static void wait_line_sees_exit(void **state)
{
	(void)state;
	struct fb_peer p;
	const char *argv[] = { "sh", "-c", "echo nothing here; exit 3", NULL };
	assert_int_equal(fb_peer_spawn(&p, argv, NULL), 0);
	assert_int_equal(fb_peer_wait_line(&p, "never printed", NULL, 0, 5000), -1);
	unlink(p.log_path);
}

static void sigterm_ignored_gets_sigkill(void **state)
{
	(void)state;
	struct fb_peer p;
	const char *argv[] = { "sh", "-c", "trap '' TERM; echo up; while :; do sleep 1; done", NULL };
	assert_int_equal(fb_peer_spawn(&p, argv, NULL), 0);
	assert_int_equal(fb_peer_wait_line(&p, "up", NULL, 0, 5000), 0);
	assert_int_equal(fb_peer_stop(&p, 100), 128 + 9);
	unlink(p.log_path);
}

/* A pipeline under sh: stopping the peer stops the whole pipeline, nothing is left behind. */
static void stop_reaches_the_group(void **state)
{
	(void)state;
	struct fb_peer p;
	const char *argv[] = { "sh", "-c", "sleep 30 & echo child $!; wait", NULL };
	assert_int_equal(fb_peer_spawn(&p, argv, NULL), 0);
	char line[64];
	assert_int_equal(fb_peer_wait_line(&p, "child ", line, sizeof line, 5000), 0);
	pid_t child = (pid_t)atoi(line + 6);
	assert_true(child > 0);
	fb_peer_stop(&p, 2000);
	/* the background sleep got the signal too (it is our grandchild: poll until it is gone) */
	int gone = 0;
	for (int i = 0; i < 200 && !gone; i++) {
		gone = kill(child, 0) != 0;
		if (!gone)
			usleep(10000);
	}
	assert_true(gone);
	unlink(p.log_path);
}

static void run_to_completion(void **state)
{
	(void)state;
	const char *ok[] = { "sh", "-c", "exit 0", NULL };
	const char *bad[] = { "sh", "-c", "echo failing; exit 4", NULL };
	const char *slow[] = { "sleep", "30", NULL };
	assert_int_equal(fb_peer_run(ok, 5000), 0);
	assert_int_equal(fb_peer_run(bad, 5000), 4);
	assert_int_equal(fb_peer_run(slow, 100), -1);
}

static void mosquitto_starts_restarts_and_stops(void **state)
{
	(void)state;
	char dir[256], pw[300];
	assert_int_equal(fb_peer_tmpdir("fb-peer-test", dir, sizeof dir), 0);
	snprintf(pw, sizeof pw, "%s/passwd", dir);
	assert_int_equal(fb_mosquitto_passwd(pw, "dev1", "secret"), 0);
	assert_int_equal(fb_mosquitto_passwd(pw, "dev2", "other"), 0);
	struct fb_mosquitto_opts o = { .dir = dir, .persistence = true, .password_file = pw };
	struct fb_peer broker;
	assert_int_equal(fb_mosquitto_start(&broker, &o), 0);
	assert_true(o.port > 0);
	uint16_t port = o.port;
	assert_int_equal(fb_peer_stop(&broker, 5000), 0);
	assert_int_equal(fb_peer_wait_tcp(&broker, "127.0.0.1", port, 50), -1);
	assert_int_equal(fb_mosquitto_start(&broker, &o), 0);
	assert_int_equal(o.port, port);
	assert_int_equal(fb_peer_kill(&broker), 128 + 9);
	assert_int_equal(fb_peer_rmtree(dir), 0);
	assert_int_equal(access(dir, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(free_port_is_bindable),
		cmocka_unit_test(missing_program_fails_at_spawn),
		cmocka_unit_test(line_readiness_and_stop),
		cmocka_unit_test(wait_line_sees_exit),
		cmocka_unit_test(sigterm_ignored_gets_sigkill),
		cmocka_unit_test(stop_reaches_the_group),
		cmocka_unit_test(run_to_completion),
		cmocka_unit_test(mosquitto_starts_restarts_and_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
