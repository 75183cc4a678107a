/* Prometheus exposition over libmicrohttpd, driven by the libev loop (see harness/metrics.h). */
#include <arpa/inet.h>
#include <math.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "harness/metrics.h"
#include "sim/log.h"

struct fb_metrics {
	struct ev_loop *loop;
	struct MHD_Daemon *d;
	ev_io io;                   /* MHD's epoll fd */
	ev_timer timer;             /* MHD's next timeout */
	fb_metrics_fill_fn fill;
	void *arg;
	struct fb_metrics_buf buf;
	uint16_t port;
	uint64_t scrapes;
};

/* ---- exposition text ------------------------------------------------------------------------ */

void fb_metrics_printf(struct fb_metrics_buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (int attempt = 0; attempt < 2; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void fb_metrics_family(struct fb_metrics_buf *b, const char *name, const char *type, const char *help)
{
	fb_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value_text(double v, char *buf, size_t cap)
{
	if (isnan(v))
		snprintf(buf, cap, "NaN");
	else if (isinf(v))
		snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, cap, "%.0f", v);
	else
		snprintf(buf, cap, "%.9g", v);
}

void fb_metrics_sample(struct fb_metrics_buf *b, const char *name, const char *labels, double value)
{
	char v[40];
	value_text(value, v, sizeof v);
	if (labels && *labels)
		fb_metrics_printf(b, "%s{%s} %s\n", name, labels, v);
	else
		fb_metrics_printf(b, "%s %s\n", name, v);
}

void fb_metrics_summary(struct fb_metrics_buf *b, const char *name, const char *help, const char *labels,
                        const struct fb_hist *h, double scale)
{
	static const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
	static const char *const qn[] = { "0.5", "0.9", "0.99", "0.999" };
	if (help)
		fb_metrics_family(b, name, "summary", help);
	bool empty = fb_hist_count(h) == 0;
	const char *sep = labels && *labels ? "," : "";
	for (int i = 0; i < 4; i++) {
		char l[256], v[40];
		snprintf(l, sizeof l, "%s%squantile=\"%s\"", labels ? labels : "", sep, qn[i]);
		value_text(empty ? NAN : (double)fb_hist_quantile(h, qs[i]) * scale, v, sizeof v);
		fb_metrics_printf(b, "%s{%s} %s\n", name, l, v);
	}
	char n[160];
	snprintf(n, sizeof n, "%s_sum", name);
	fb_metrics_sample(b, n, labels, fb_hist_mean(h) * (double)fb_hist_count(h) * scale);
	snprintf(n, sizeof n, "%s_count", name);
	fb_metrics_sample(b, n, labels, (double)fb_hist_count(h));
}

void fb_metrics_counts(struct fb_metrics_buf *b, const char *const *protos, const struct fb_recon_counts *c,
                       size_t n)
{
	static const struct { const char *what, *help; size_t off; } fams[] = {
#define F(w, h) { #w, h, offsetof(struct fb_recon_counts, w) }
		F(expected, "messages the fleet sent that the bench expects to receive"),
		F(received, "expected messages received"),
		F(lost, "expected messages not received (final at the end of the run)"),
		F(duplicated, "messages received more than once"),
		F(out_of_order, "messages received after a later one of the same device"),
		F(wrong_values, "messages whose values differ from what the device sent"),
		F(undecodable, "messages whose payload does not decode"),
		F(unexpected, "messages no device of the fleet sent"),
		F(foreign, "messages of devices of other shards"),
#undef F
	};
	for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
		char name[96], labels[96];
		snprintf(name, sizeof name, "fleetbench_messages_%s_total", fams[f].what);
		fb_metrics_family(b, name, "counter", fams[f].help);
		for (size_t i = 0; i < n; i++) {
			uint64_t v;
			memcpy(&v, (const char *)&c[i] + fams[f].off, sizeof v);
			snprintf(labels, sizeof labels, "proto=\"%s\"", protos[i]);
			fb_metrics_sample(b, name, labels, (double)v);
		}
	}
}

void fb_metrics_fill_run(void *arg, struct fb_metrics_buf *b)
{
	const struct fb_metrics_run *r = arg;
	fb_metrics_family(b, "fleetbench_samples_total", "counter", "samples the fleet generated");
	fb_metrics_sample(b, "fleetbench_samples_total", NULL, (double)r->samples);
	fb_metrics_family(b, "fleetbench_messages_sent_total", "counter", "messages the transports sent");
	fb_metrics_sample(b, "fleetbench_messages_sent_total", NULL, (double)r->sent);
	fb_metrics_family(b, "fleetbench_lag_seconds", "gauge", "how far virtual time is behind its wall-clock schedule");
	fb_metrics_sample(b, "fleetbench_lag_seconds", NULL, r->lag_s);
	fb_metrics_family(b, "fleetbench_virtual_time_seconds", "gauge", "the run's virtual time, Unix seconds");
	fb_metrics_sample(b, "fleetbench_virtual_time_seconds", NULL, (double)r->virtual_now / 1e6);
	double span = (double)(r->virtual_end - r->virtual_start);
	double done = span > 0 ? (double)(r->virtual_now - r->virtual_start) / span : 0;
	fb_metrics_family(b, "fleetbench_progress_ratio", "gauge", "fraction of the run's virtual time done");
	fb_metrics_sample(b, "fleetbench_progress_ratio", NULL, done < 0 ? 0 : done > 1 ? 1 : done);
	if (!r->recon || !r->sc)
		return;
	static const char *const all[] = { "mqtt", "lorawan", "modbus" };
	const char *protos[3];
	struct fb_recon_counts c[3];
	size_t n = 0;
	for (size_t p = 0; p < 3; p++)
		for (size_t f = 0; f < r->sc->nfleets; f++)
			if (r->sc->fleets[f].transport && !strcmp(r->sc->fleets[f].transport, all[p])) {
				protos[n] = all[p];
				fb_recon_totals(r->recon, all[p], &c[n]);
				n++;
				break;
			}
	fb_metrics_counts(b, protos, c, n);
	for (size_t i = 0; i < n; i++) {
		char labels[32];
		snprintf(labels, sizeof labels, "proto=\"%s\"", protos[i]);
		fb_metrics_summary(b, "fleetbench_latency_seconds", i == 0 ? "end-to-end latency from the scheduled send time" : NULL,
		                   labels, fb_recon_latency(r->recon, protos[i]), 1e-6);
	}
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, const char *body,
                              size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct fb_metrics *m = cls;
	static const char text[] = "text/plain; charset=utf-8";
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		static const char msg[] = "only GET\n";
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, msg, sizeof msg - 1);
	}
	if (!strcmp(url, "/")) {
		static const char msg[] = "fleetbench: metrics at /metrics\n";
		return answer(c, MHD_HTTP_OK, text, msg, sizeof msg - 1);
	}
	if (strcmp(url, "/metrics")) {
		static const char msg[] = "not found: metrics are at /metrics\n";
		return answer(c, MHD_HTTP_NOT_FOUND, text, msg, sizeof msg - 1);
	}
	m->buf.len = 0;
	m->buf.oom = false;
	m->fill(m->arg, &m->buf);
	m->scrapes++;
	if (m->buf.oom) {
		static const char msg[] = "out of memory\n";
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, msg, sizeof msg - 1);
	}
	return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", m->buf.p ? m->buf.p : "",
	              m->buf.len);
}

/* After every MHD_run: the next timeout MHD wants (0 = it has work ready now). */
static void rearm(struct fb_metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;
	if (ev_is_active(&m->timer)) {
		ev_ref(m->loop);
		ev_timer_stop(m->loop, &m->timer);
	}
	double after = 1.0;     /* no timeout asked: still look once a second (idle connections) */
	if (MHD_get_timeout(m->d, &ms) == MHD_YES)
		after = ms < 1000 ? (double)ms / 1000.0 : 1.0;
	ev_timer_set(&m->timer, after, 0.);
	ev_timer_start(m->loop, &m->timer);
	ev_unref(m->loop);      /* the endpoint never keeps the loop alive by itself */
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fb_metrics *m = (struct fb_metrics *)((char *)w - offsetof(struct fb_metrics, io));
	MHD_run(m->d);
	rearm(m);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fb_metrics *m = (struct fb_metrics *)((char *)w - offsetof(struct fb_metrics, timer));
	MHD_run(m->d);
	rearm(m);
}

struct fb_metrics *fb_metrics_start(struct ev_loop *loop, const char *host, uint16_t port,
                                    fb_metrics_fill_fn fill, void *arg)
{
	struct fb_metrics *m = calloc(1, sizeof *m);
	if (!m) {
		fb_error("out of memory starting the metrics endpoint");
		return NULL;
	}
	m->loop = loop;
	m->fill = fill;
	m->arg = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (host && inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fb_error("invalid metrics address '%s': expected an IPv4 address", host);
		free(m);
		return NULL;
	}
	/* external epoll mode: no thread; MHD_run is called from the loop */
	m->d = MHD_start_daemon(MHD_USE_EPOLL, port, NULL, NULL, handle, m,
	                        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
	                        MHD_OPTION_END);
	if (!m->d) {
		fb_error("cannot serve metrics on '%s:%u': the port is taken or not allowed", host ? host : "0.0.0.0",
		         (unsigned)port);
		free(m);
		return NULL;
	}
	const union MHD_DaemonInfo *ep = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *pi = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	if (!ep || ep->epoll_fd < 0) {
		fb_error("cannot serve metrics: libmicrohttpd has no epoll support");
		MHD_stop_daemon(m->d);
		free(m);
		return NULL;
	}
	m->port = pi ? pi->port : port;
	ev_io_init(&m->io, on_io, ep->epoll_fd, EV_READ);
	ev_io_start(loop, &m->io);
	ev_unref(loop);
	ev_timer_init(&m->timer, on_timer, 1., 0.);
	rearm(m);
	return m;
}

uint16_t fb_metrics_port(const struct fb_metrics *m)
{
	return m->port;
}

uint64_t fb_metrics_scrapes(const struct fb_metrics *m)
{
	return m->scrapes;
}

void fb_metrics_stop(struct fb_metrics *m)
{
	if (!m)
		return;
	ev_ref(m->loop);
	ev_io_stop(m->loop, &m->io);
	if (ev_is_active(&m->timer)) {
		ev_ref(m->loop);
		ev_timer_stop(m->loop, &m->timer);
	}
	MHD_stop_daemon(m->d);
	free(m->buf.p);
	free(m);
}
