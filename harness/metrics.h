/* Live metrics: `--metrics-port P` serves the Prometheus text exposition format (version 0.0.4)
 * on GET /metrics during the run, from libmicrohttpd driven by the run's libev loop without any
 * thread: MHD in external epoll mode, an ev_io on MHD's epoll fd and an ev_timer from
 * MHD_get_timeout, MHD_run when either fires. Each scrape calls the fill function, which
 * appends the exposition text to a buffer the module owns (it grows if a scrape needs it; not
 * per message). The endpoint's watchers do not keep the loop alive (ev_unref). */
#ifndef FB_METRICS_H
#define FB_METRICS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ev.h>
#include "harness/recon.h"
#include "sim/hist.h"

struct fb_metrics_buf {
	char *p;
	size_t len, cap;
	bool oom;              /* an append failed: the scrape answers 500 */
};

typedef void (*fb_metrics_fill_fn)(void *arg, struct fb_metrics_buf *b);

struct fb_metrics;

/* Listens on host:port (host NULL = all interfaces; port 0 = a free port, see fb_metrics_port).
 * NULL after fb_error (cannot bind). */
struct fb_metrics *fb_metrics_start(struct ev_loop *loop, const char *host, uint16_t port,
                                    fb_metrics_fill_fn fill, void *arg);
uint16_t fb_metrics_port(const struct fb_metrics *m);
uint64_t fb_metrics_scrapes(const struct fb_metrics *m);
/* Stops the watchers and the daemon; NULL is fine. */
void fb_metrics_stop(struct fb_metrics *m);

/* Exposition helpers. `labels` is the inside of the braces ("proto=\"mqtt\"") or NULL. */
void fb_metrics_printf(struct fb_metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP name help\n# TYPE name type\n": once per metric family, before its samples. */
void fb_metrics_family(struct fb_metrics_buf *b, const char *name, const char *type, const char *help);
void fb_metrics_sample(struct fb_metrics_buf *b, const char *name, const char *labels, double value);
/* A summary (quantiles 0.5, 0.9, 0.99, 0.999, _sum, _count) of a histogram, values times
 * `scale` (1e-6 turns µs into seconds). Emits its own HELP/TYPE when help != NULL. */
void fb_metrics_summary(struct fb_metrics_buf *b, const char *name, const char *help, const char *labels,
                        const struct fb_hist *h, double scale);
/* The reconciliation counters of n protocols as counter families
 * fleetbench_messages_<what>_total{proto="<protos[i]>"} (expected, received, lost, duplicated,
 * out_of_order, wrong_values, undecodable, unexpected, foreign), each family's samples together. */
void fb_metrics_counts(struct fb_metrics_buf *b, const char *const *protos, const struct fb_recon_counts *c,
                       size_t n);

/* A ready fill function for `run --metrics-port`: pass fb_metrics_fill_run as `fill` and a
 * struct fb_metrics_run the run keeps current as `arg` (plain stores, no locking: everything runs
 * on the one loop). Exposes fleetbench_samples_total, fleetbench_messages_sent_total,
 * fleetbench_lag_seconds, fleetbench_virtual_time_seconds, fleetbench_progress_ratio and, when
 * recon is set, the reconciliation counters and fleetbench_latency_seconds{proto} per protocol
 * of the scenario's fleets. */
struct fb_metrics_run {
	const struct fb_scenario *sc;
	const struct fb_recon *recon;       /* NULL: no collector */
	uint64_t samples;                   /* samples generated so far */
	uint64_t sent;                      /* messages the transports sent */
	double lag_s;                       /* current lag behind the wall clock (paced) */
	fb_time_us virtual_now, virtual_start, virtual_end;
};
void fb_metrics_fill_run(void *arg, struct fb_metrics_buf *b);

#endif
