/* Real peers for tests and --local runs: a free loopback port, a child process started with
 * fork+exec, readiness polled (a TCP connect succeeds, or a line appears in its output), stopped
 * by PID (SIGTERM, then SIGKILL after a bound, always reaped). Plus a mosquitto broker on a port
 * of its own with an optional password file, persistence and TLS listener.
 *
 * Typical use (a CMocka test):
 *
 *     struct fb_peer broker;
 *     struct fb_mosquitto_opts o = { .dir = tmpdir };     // port 0: pick a free one
 *     if (fb_mosquitto_start(&broker, &o) != 0) fail();   // o.port now holds the port
 *     ... connect to 127.0.0.1:o.port ...
 *     fb_peer_stop(&broker, 2000);
 *
 * A child's stdout and stderr go to a log file (never a pipe, so a chatty child can never block
 * on a full pipe); fb_peer_wait_line() tails that file. Every function here is blocking and meant
 * for set-up and tear-down, never for a libev callback. Errors are printed with fb_error(). */
#ifndef FB_PEER_H
#define FB_PEER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fb_peer {
	pid_t pid;                 /* > 0 while running */
	char name[32];             /* argv[0]'s base name, for messages */
	char log_path[256];        /* where the child's stdout + stderr go */
	long log_offset;           /* fb_peer_wait_line() has read up to here */
};

/* A loopback port that was free a moment ago: binds 127.0.0.1:0 with `sock_type` (SOCK_STREAM
 * or SOCK_DGRAM) and returns the kernel's choice, or 0 on failure. The socket is closed, so pass
 * the port on quickly (the kernel hands out ephemeral ports in sequence, so a reuse is rare). */
uint16_t fb_peer_free_port(int sock_type);

/* Starts argv[0] (searched in PATH) with argv (NULL-terminated). Output goes to `log_path`
 * (truncated), or to a new file under /tmp when NULL. In the child, RLIMIT_NOFILE's soft limit is
 * raised to the hard one. Returns 0, or -1 when the program cannot be started (a missing
 * executable is reported here, not later). */
int fb_peer_spawn(struct fb_peer *p, const char *const argv[], const char *log_path);

/* True while the child has not exited (reaps it if it has; then p->pid becomes 0). */
bool fb_peer_alive(struct fb_peer *p);

/* Polls until a TCP connect to host:port succeeds. Returns 0; -1 when timeout_ms passes or the
 * child exits first (its log's last lines are printed then). */
int fb_peer_wait_tcp(struct fb_peer *p, const char *host, uint16_t port, int timeout_ms);

/* Polls the child's output until a line containing `needle` appears (after what earlier calls
 * consumed). Copies that line without its newline into line[cap] when line is not NULL. Returns 0;
 * -1 on timeout or child exit. */
int fb_peer_wait_line(struct fb_peer *p, const char *needle, char *line, size_t cap, int timeout_ms);

/* Waits up to timeout_ms for the child to exit by itself (a command run to completion). Returns
 * its exit status as fb_peer_stop() does, or -1 on timeout (the child is then left running). */
int fb_peer_wait_exit(struct fb_peer *p, int timeout_ms);
/* Runs argv to completion (at most timeout_ms, then it is killed); returns its exit status, or
 * -1 if it could not start or timed out. Its output is printed when the status is not 0. */
int fb_peer_run(const char *const argv[], int timeout_ms);

/* Stops the child: SIGTERM, then SIGKILL if it is still there after grace_ms; reaps it. The child
 * leads its own process group and the signals go to the group, so what it started dies with it
 * ("sh -c 'yes | mosquitto_pub -l'"); members left after the leader exits get SIGKILL. Returns
 * its exit status (0-255), 128+signal if a signal ended it, or -1 if there was no child. Safe to
 * call twice. */
int fb_peer_stop(struct fb_peer *p, int grace_ms);
/* SIGKILL at once and reap (a crash, for tests of a broker dying). Same returns. */
int fb_peer_kill(struct fb_peer *p);

/* mkdtemp under $TMPDIR or /tmp with the given prefix ("fb-mqtt"); path[cap]. Returns 0 or -1. */
int fb_peer_tmpdir(const char *prefix, char *path, size_t cap);
/* Removes a tree made by a test (fb_peer_tmpdir). Returns 0 or -1. */
int fb_peer_rmtree(const char *path);

/* A mosquitto broker (/usr/sbin/mosquitto -c <dir>/mosquitto.conf). Fields left zero get the
 * defaults noted. */
struct fb_mosquitto_opts {
	const char *dir;             /* required: config, log, persistence and password file go here */
	uint16_t port;               /* plain listener on 127.0.0.1; 0: a free port, written back */
	bool persistence;            /* persistence true, location <dir>/ (autosave on every change) */
	const char *password_file;   /* allow_anonymous false + this file (fb_mosquitto_passwd) */
	uint16_t tls_port;           /* 0: no TLS listener unless tls_cafile is set, then a free port */
	const char *tls_cafile, *tls_certfile, *tls_keyfile;
	bool tls_require_certificate;
	int max_connections;         /* 0: unlimited (-1 in mosquitto's terms) */
	const char *extra;           /* further config lines, verbatim, or NULL */
};

/* Writes the config file for `o` to `path`. Returns 0 or -1. */
int fb_mosquitto_write_config(const struct fb_mosquitto_opts *o, const char *path);
/* Writes <dir>/mosquitto.conf, starts the broker (log <dir>/mosquitto.log) and waits until each
 * listener accepts TCP connections (timeout 10 s). Returns 0 or -1. o->port and o->tls_port are
 * filled in when they were 0. Call it again with the same opts to restart on the same ports. */
int fb_mosquitto_start(struct fb_peer *p, struct fb_mosquitto_opts *o);
/* Adds user:password to a mosquitto password file (created if absent) with mosquitto_passwd -b.
 * Returns 0 or -1. */
int fb_mosquitto_passwd(const char *path, const char *user, const char *password);

#endif
