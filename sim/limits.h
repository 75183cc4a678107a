/* Resource limits a run meets before it opens anything: file descriptors (RLIMIT_NOFILE) for the
 * connections, listening ports and sockets the transports and collectors open. Each opener
 * reserves what it will need at start-up; the reservations add up, so the limit is checked against
 * the whole process and a run too big for it stops with a clear error instead of failing
 * connection by connection (or crashing) later. */
#ifndef FB_LIMITS_H
#define FB_LIMITS_H
#include <stdint.h>

/* File descriptors kept aside for what nobody reserves (the trace, logs, DNS, a TLS library's
 * files, libev's own). */
#define FB_FD_SPARE 32

/* Reserves `count` descriptors for `what` ("mqtt: 5000 connections"). When the total (what is
 * open now, the reservations so far, this one and FB_FD_SPARE) is above the soft RLIMIT_NOFILE,
 * the soft limit is raised, up to the hard limit. Returns 0, or -1 after
 *   fleetbench: error: <what> need N file descriptors in all, but the limit is L (ulimit -n; hard
 *   limit H): raise it, e.g. 'ulimit -n N', <way_out>
 * way_out (may be NULL) names the scenario's own remedies ("or split the fleet over processes
 * with --shard i/N, or share connections with 'connection: per-site'"). */
int fb_fd_reserve(uint64_t count, const char *what, const char *way_out);
/* Gives back a reservation (a transport freed before the end of the process, tests). */
void fb_fd_release(uint64_t count);
/* Descriptors reserved so far. */
uint64_t fb_fd_reserved(void);

/* Local ports for `count` TCP connections to one destination (a broker): the kernel picks each
 * from the ephemeral range (net.ipv4.ip_local_port_range), at most once per destination. Returns
 * 0 when the range holds them (other processes' connections aside), or -1 after
 *   fleetbench: error: <what> need N local ports, but the ephemeral port range has R ...
 * with the ways out (widen the range, way_out). */
int fb_ports_check(uint64_t count, const char *what, const char *way_out);

/* "out of memory" with the size and the way out, for allocations proportional to the fleet:
 * `what` ("the engine's state for 500000000 devices"), bytes (0: not said). Returns -1. */
int fb_oom_error(const char *what, uint64_t bytes);

#endif
