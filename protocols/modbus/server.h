/* Modbus servers on the libev loop: TCP endpoints (one listening port each, up to 247 unit ids)
 * and RTU buses on pseudo-terminals (several unit ids on one line). Own framing from
 * per-connection buffers; replies built by protocols/modbus/pdu.c. Nothing blocks: a half frame
 * waits in its buffer, a slow reader is stopped from reading, never waited for. Works with any
 * fd number (no select()). */
#ifndef FB_MODBUS_SERVER_H
#define FB_MODBUS_SERVER_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <ev.h>
#include "protocols/modbus/regmap.h"
#include "sim/fbtime.h"

enum fb_mb_fault_kind {
	FB_MB_FAULT_EXCEPTION, FB_MB_FAULT_NO_REPLY, FB_MB_FAULT_DELAY, FB_MB_FAULT_SPLIT,
	FB_MB_FAULT_JUNK, FB_MB_FAULT_DROP, FB_MB_FAULT_KINDS
};
extern const char *const fb_mb_fault_names[FB_MB_FAULT_KINDS];

/* Fault injection, decided per request (rates are probabilities in [0, 1]). */
struct fb_mb_faults {
	double exception_rate;
	uint8_t exception_code;        /* default FB_MB_EX_DEVICE_FAILURE */
	double no_reply_rate;
	fb_time_us delay_min_us, delay_max_us;   /* each reply waits a uniform delay in the range */
	double split_rate;             /* reply sent in two parts, split_gap_us apart */
	fb_time_us split_gap_us;
	double junk_rate;              /* 1..8 random bytes sent before the reply */
	double drop_rate;              /* connection closed instead of replying (TCP) */
	uint64_t injected[FB_MB_FAULT_KINDS];    /* updated by the server */
};

/* One simulated device behind a unit id. The owner keeps it alive while the server runs. */
struct fb_mb_unit {
	const struct fb_regmap *map;
	double *values;                /* map->model->nfields; NaN until the first sample */
	char device_id[32];
	uint32_t device;               /* global index */
	struct fb_mb_faults *faults;   /* NULL: no faults */
	void *owner;
};

/* A write accepted by the map: returns 0, or -2 (not writable) / -3 (out of range) / -1. */
typedef int (*fb_mb_command_fn)(void *arg, struct fb_mb_unit *u, int field, double value);

enum { FB_MB_LATENCY_BUCKETS = 192 };

struct fb_mb_stats {
	uint64_t connections_accepted, connections_open, connections_peak, connections_dropped;
	uint64_t accept_errors;
	uint64_t requests, requests_by_fc[256];
	uint64_t exceptions, exceptions_by_code[16];
	uint64_t bytes_in, bytes_out;
	uint64_t bad_protocol, bad_length, bad_crc, rtu_incomplete, absent_unit, broadcasts;
	uint64_t latency_us[FB_MB_LATENCY_BUCKETS];   /* request received -> reply handed to the
	                                                 kernel, log-linear buckets */
};

struct fb_mbserver;

struct fb_mbserver *fb_mbserver_new(struct ev_loop *loop, fb_mb_command_fn command, void *arg);
/* Closes every socket and pty. */
void fb_mbserver_free(struct fb_mbserver *s);

/* Listens on host:port (port 0: any free port, written to *bound). Returns the endpoint index,
 * or -1 after fb_error. */
int fb_mbserver_listen(struct fb_mbserver *s, const char *host, uint16_t port, uint16_t *bound);
/* Opens a pseudo-terminal serving RTU at `baud` (for the 3.5-character silence); the peer opens
 * the slave, whose path is written to name[cap]; `link` (or NULL) is made a symlink to it.
 * Returns the endpoint index, or -1 after fb_error. */
int fb_mbserver_open_pty(struct fb_mbserver *s, unsigned baud, const char *link, char *name,
                         size_t cap);
/* Puts u behind unit id `unit` (1..247; 255 too on TCP) of endpoint ep; NULL removes it. */
void fb_mbserver_set_unit(struct fb_mbserver *s, int ep, uint8_t unit, struct fb_mb_unit *u);

const struct fb_mb_stats *fb_mbserver_stats(const struct fb_mbserver *s);
/* Latency quantile q in [0, 1] from the histogram, in µs (the bucket's upper bound). */
uint64_t fb_mb_latency_quantile(const struct fb_mb_stats *st, double q);
/* The counters, one line each ("modbus: requests 1234 (fc03 1200, fc06 34)"). */
void fb_mbserver_print_stats(const struct fb_mbserver *s, FILE *out);

#endif
