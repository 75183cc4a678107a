/* The metrics endpoint: served from the libev loop without threads while the loop keeps running
 * other watchers; valid Prometheus text exposition; concurrent scrapes; 404/405; a taken port
 * refused; the endpoint never keeps the loop alive. The HTTP clients are non-blocking sockets on
 * the same loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness/metrics.h"
#include "sim/tests/capture.h"

struct client {
	ev_io w;
	int fd;
	char req[256];
	size_t sent;
	char resp[65536];
	size_t len;
	bool done;
};

static struct {
	struct ev_loop *loop;
	uint64_t ticks;             /* the loop's own timer: proves it runs during scrapes */
	ev_timer ticker, guard;
	int pending;
	struct fb_hist *lat;
} T;

static void fill(void *arg, struct fb_metrics_buf *b)
{
	fb_metrics_family(b, "test_ticks_total", "counter", "ticks of the loop's timer");
	fb_metrics_sample(b, "test_ticks_total", NULL, (double)T.ticks);
	fb_metrics_family(b, "test_ratio", "gauge", "a fraction");
	fb_metrics_sample(b, "test_ratio", "site=\"vieux-port\"", 0.25);
	const char *protos[] = { "mqtt", "lorawan" };
	struct fb_recon_counts c[2] = { { .expected = 100, .received = 97, .lost = 3 }, { .expected = 5, .received = 5 } };
	fb_metrics_counts(b, protos, c, 2);
	fb_metrics_summary(b, "fleetbench_latency_seconds", "end-to-end latency", "proto=\"mqtt\"", T.lat, 1e-6);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	T.ticks++;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	fail_msg("scrapes did not finish within 5 s");
}

static void client_done(struct client *c)
{
	ev_io_stop(T.loop, &c->w);
	close(c->fd);
	c->done = true;
	c->resp[c->len] = '\0';
	if (--T.pending == 0)
		ev_timer_stop(T.loop, &T.guard);
}

static void on_client(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = (struct client *)w;
	if (revents & EV_WRITE) {
		size_t n = strlen(c->req);
		ssize_t k = send(c->fd, c->req + c->sent, n - c->sent, MSG_NOSIGNAL);
		if (k < 0 && errno != EAGAIN && errno != EINPROGRESS)
			return client_done(c);
		if (k > 0)
			c->sent += (size_t)k;
		if (c->sent == n) {
			ev_io_stop(loop, w);
			ev_io_set(w, c->fd, EV_READ);
			ev_io_start(loop, w);
		}
		return;
	}
	ssize_t k = recv(c->fd, c->resp + c->len, sizeof c->resp - 1 - c->len, 0);
	if (k > 0)
		c->len += (size_t)k;
	else if (k == 0 || errno != EAGAIN)
		client_done(c);
}

static void client_start(struct client *c, uint16_t port, const char *method, const char *path)
{
	memset(c, 0, sizeof *c);
	snprintf(c->req, sizeof c->req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method, path);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(c->fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int rc = connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
	assert_true(rc == 0 || errno == EINPROGRESS);
	ev_io_init(&c->w, on_client, c->fd, EV_WRITE);
	ev_io_start(T.loop, &c->w);
	T.pending++;
}

/* Runs the loop until every started client is done. */
static void run_clients(void)
{
	ev_timer_init(&T.guard, on_guard, 5., 0.);
	ev_timer_start(T.loop, &T.guard);
	ev_run(T.loop, 0);
	assert_int_equal(T.pending, 0);
}

static bool valid_name(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/* Checks the text exposition format line by line: HELP/TYPE comments, samples `name{k="v",...}
 * value`, every sample's family typed before it and each family's lines together. Returns the
 * number of samples. */
static int check_exposition(const char *body)
{
	char typed[64][96];
	int ntyped = 0, samples = 0;
	char current[96] = "";
	const char *line = body;
	while (*line) {
		const char *end = strchr(line, '\n');
		assert_non_null(end);                      /* every line ends with \n */
		size_t n = (size_t)(end - line);
		char l[512];
		assert_true(n < sizeof l);
		memcpy(l, line, n);
		l[n] = '\0';
		line = end + 1;
		if (!strncmp(l, "# HELP ", 7))
			continue;
		if (!strncmp(l, "# TYPE ", 7)) {
			char name[96], type[32];
			assert_int_equal(sscanf(l + 7, "%95s %31s", name, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") || !strcmp(type, "summary") ||
			            !strcmp(type, "histogram") || !strcmp(type, "untyped"));
			for (int i = 0; i < ntyped; i++)
				if (!strcmp(typed[i], name))
					fail_msg("family '%s' typed twice", name);
			snprintf(typed[ntyped++], sizeof typed[0], "%s", name);
			snprintf(current, sizeof current, "%s", name);
			continue;
		}
		assert_true(l[0] != '#');
		size_t nl = strcspn(l, "{ ");
		if (!valid_name(l, nl))
			fail_msg("bad metric name in '%s'", l);
		/* the sample belongs to the current family (summaries add _sum and _count) */
		size_t cl = strlen(current);
		if (!(nl >= cl && !strncmp(l, current, cl) &&
		      (nl == cl || !strcmp(l + cl, "_sum") || !strncmp(l + cl, "_sum ", 5) || !strncmp(l + cl, "_sum{", 5) ||
		       !strncmp(l + cl, "_count ", 7) || !strncmp(l + cl, "_count{", 7))))
			fail_msg("sample '%s' outside its family '%s'", l, current);
		const char *p = l + nl;
		if (*p == '{') {
			p++;
			while (*p != '}') {
				size_t kn = strcspn(p, "=");
				assert_true(valid_name(p, kn));
				p += kn;
				assert_true(p[0] == '=' && p[1] == '"');
				p += 2;
				while (*p && *p != '"') {
					if (*p == '\\')
						p++;
					p++;
				}
				assert_true(*p == '"');
				p++;
				if (*p == ',')
					p++;
				else
					assert_true(*p == '}');
			}
			p++;
		}
		assert_true(*p == ' ');
		p++;
		char *e;
		if (strcmp(p, "NaN") && strcmp(p, "+Inf") && strcmp(p, "-Inf")) {
			strtod(p, &e);
			if (e == p || *e)
				fail_msg("bad value in '%s'", l);
		}
		samples++;
	}
	return samples;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	assert_non_null(b);
	return b + 4;
}

/* The value of the sample line starting with `series` (not a HELP line mentioning it). */
static double value_of(const char *body, const char *series)
{
	for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, series, strlen(series)))
			return strtod(p + strlen(series), NULL);
	fail_msg("'%s' not in the exposition", series);
	return 0;
}

static void setup_loop(void)
{
	T.loop = ev_loop_new(EVFLAG_AUTO);
	T.ticks = 0;
	T.pending = 0;
	T.lat = fb_hist_new();
	for (uint64_t v = 1000; v <= 100000; v += 1000)
		fb_hist_record(T.lat, v);      /* 1..100 ms: p99 = 99 ms */
	ev_timer_init(&T.ticker, on_tick, 0.001, 0.001);
	ev_timer_start(T.loop, &T.ticker);
	ev_unref(T.loop);                    /* the ticker alone does not keep the loop running */
}

static void teardown_loop(void)
{
	ev_ref(T.loop);
	ev_timer_stop(T.loop, &T.ticker);
	ev_loop_destroy(T.loop);
	fb_hist_free(T.lat);
}

static void test_scrapes_while_the_loop_runs(void **state)
{
	setup_loop();
	struct fb_metrics *m = fb_metrics_start(T.loop, "127.0.0.1", 0, fill, NULL);
	assert_non_null(m);
	uint16_t port = fb_metrics_port(m);
	assert_true(port > 0);
	/* with only the endpoint's watchers the loop returns at once: it never holds a run open */
	ev_run(T.loop, 0);

	static struct client a, b;
	client_start(&a, port, "GET", "/metrics");
	client_start(&b, port, "GET", "/metrics");      /* concurrent */
	run_clients();
	assert_non_null(strstr(a.resp, "HTTP/1.1 200"));
	assert_non_null(strstr(a.resp, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(b.resp, "HTTP/1.1 200"));
	const char *body = body_of(a.resp);
	assert_int_equal(check_exposition(body), 2 + 9 * 2 + 6);
	assert_int_equal(check_exposition(body_of(b.resp)), 2 + 9 * 2 + 6);
	assert_true(value_of(body, "fleetbench_messages_lost_total{proto=\"mqtt\"} ") == 3);
	assert_true(value_of(body, "fleetbench_messages_received_total{proto=\"lorawan\"} ") == 5);
	double p99 = value_of(body, "fleetbench_latency_seconds{proto=\"mqtt\",quantile=\"0.99\"} ");
	assert_true(p99 >= 0.099 && p99 <= 0.0991);
	assert_true(value_of(body, "fleetbench_latency_seconds_count{proto=\"mqtt\"} ") == 100);
	assert_true(value_of(body, "test_ratio{site=\"vieux-port\"} ") == 0.25);
	double ticks1 = value_of(body, "test_ticks_total ");
	assert_true(ticks1 <= (double)T.ticks);
	assert_int_equal(fb_metrics_scrapes(m), 2);

	/* the loop's own timer keeps firing between scrapes; the next scrape sees it */
	uint64_t t0 = T.ticks;
	while (T.ticks < t0 + 20)
		ev_run(T.loop, EVRUN_ONCE);
	static struct client c;
	client_start(&c, port, "GET", "/metrics");
	run_clients();
	assert_true(value_of(body_of(c.resp), "test_ticks_total ") >= ticks1 + 20);
	assert_int_equal(fb_metrics_scrapes(m), 3);

	/* other paths and methods */
	static struct client d, e;
	client_start(&d, port, "GET", "/nope");
	client_start(&e, port, "POST", "/metrics");
	run_clients();
	assert_non_null(strstr(d.resp, "HTTP/1.1 404"));
	assert_non_null(strstr(e.resp, "HTTP/1.1 405"));
	assert_int_equal(fb_metrics_scrapes(m), 3);

	/* the same port twice is refused with a message */
	struct capture cap;
	capture_begin(&cap);
	struct fb_metrics *m2 = fb_metrics_start(T.loop, "127.0.0.1", port, fill, NULL);
	const char *err = capture_end(&cap);
	assert_null(m2);
	assert_non_null(strstr(err, "cannot serve metrics on '127.0.0.1:"));
	capture_begin(&cap);
	assert_null(fb_metrics_start(T.loop, "localhost:80", 0, fill, NULL));
	assert_non_null(strstr(capture_end(&cap), "invalid metrics address 'localhost:80'"));

	fb_metrics_stop(m);
	teardown_loop();
}

static void test_exposition_helpers(void **state)
{
	struct fb_metrics_buf b = { 0 };
	struct fb_hist *h = fb_hist_new();
	fb_metrics_summary(&b, "lat_seconds", "latency", NULL, h, 1e-6);   /* empty: NaN quantiles */
	assert_non_null(strstr(b.p, "lat_seconds{quantile=\"0.5\"} NaN\n"));
	assert_non_null(strstr(b.p, "lat_seconds_count 0\n"));
	/* growth past the first allocation keeps every byte */
	for (int i = 0; i < 2000; i++)
		fb_metrics_sample(&b, "x_total", "i=\"long label value to grow the buffer\"", i);
	assert_false(b.oom);
	assert_non_null(strstr(b.p, "x_total{i=\"long label value to grow the buffer\"} 1999\n"));
	assert_int_equal(strlen(b.p), b.len);
	free(b.p);
	fb_hist_free(h);
}

/* The run's fill: counters of the reconciliation as they stand mid-run, per protocol. */
static void test_fill_run(void **state)
{
	char path[] = "/tmp/fb_metrics_XXXXXX.yaml";
	int fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	static const char yaml[] = "name: m\nseed: 1\nstart: 2026-06-01T00:00:00Z\nduration: 1h\n"
	                           "sites: [{id: s, lat: 43.3, lon: 5.4}]\n"
	                           "transports: {mqtt: {url: 'mqtt://127.0.0.1:1883'}}\n"
	                           "fleets:\n  - {type: noise, count: 2, site: s, transport: mqtt, codec: json}\n"
	                           "  - {type: waste, count: 1, site: s}\n";
	assert_int_equal(write(fd, yaml, sizeof yaml - 1), (ssize_t)(sizeof yaml - 1));
	close(fd);
	struct fb_scenario *sc = fb_scenario_load(path, NULL);
	unlink(path);
	assert_non_null(sc);
	struct fb_recon *rc = fb_recon_new(sc, 0, 3);
	assert_non_null(rc);
	double v[FB_MAX_FIELDS] = { 55.5, 60, 50, 58, 54, 51 };
	const struct fb_fleet *fl = &sc->fleets[0];
	fb_time_us wall = 1780000000000000;
	for (uint32_t k = 0; k < 3; k++) {
		struct fb_sample smp = { fl, fl->model, 0, k, sc->start + (fb_time_us)k * 60000000, v };
		fb_recon_expect(rc, "mqtt", &smp, (uint64_t)smp.t / 1000, wall + k * 1000000);
	}
	for (uint32_t k = 0; k < 2; k++) {          /* two of three arrive, 25 ms after schedule */
		struct fb_obs o = { .proto = "mqtt", .device = 0, .device_id = "noise-000000", .model = fl->model,
		                    .key = (uint64_t)(sc->start + (fb_time_us)k * 60000000) / 1000, .seq = k,
		                    .ts = FB_TIME_NEVER, .recv_wall = wall + k * 1000000 + 25000,
		                    .nvalues = fl->model->nfields, .values = v, .present = (1u << fl->model->nfields) - 1 };
		fb_recon_observe(rc, &o);
	}
	struct fb_metrics_run run = { .sc = sc, .recon = rc, .samples = 3, .sent = 3, .lag_s = 0.5,
	                              .virtual_start = sc->start, .virtual_end = sc->start + FB_US_PER_H,
	                              .virtual_now = sc->start + FB_US_PER_H / 4 };
	struct fb_metrics_buf b = { 0 };
	fb_metrics_fill_run(&run, &b);
	assert_false(b.oom);
	check_exposition(b.p);
	assert_true(value_of(b.p, "fleetbench_samples_total ") == 3);
	assert_true(value_of(b.p, "fleetbench_progress_ratio ") == 0.25);
	assert_true(value_of(b.p, "fleetbench_lag_seconds ") == 0.5);
	assert_true(value_of(b.p, "fleetbench_messages_expected_total{proto=\"mqtt\"} ") == 3);
	assert_true(value_of(b.p, "fleetbench_messages_received_total{proto=\"mqtt\"} ") == 2);
	assert_true(value_of(b.p, "fleetbench_messages_wrong_values_total{proto=\"mqtt\"} ") == 0);
	assert_true(value_of(b.p, "fleetbench_latency_seconds_count{proto=\"mqtt\"} ") == 2);
	double p50 = value_of(b.p, "fleetbench_latency_seconds{proto=\"mqtt\",quantile=\"0.5\"} ");
	assert_true(p50 >= 0.025 && p50 <= 0.025025);
	/* only the protocols the fleets use */
	assert_null(strstr(b.p, "proto=\"lorawan\""));
	fb_recon_finish(rc);
	b.len = 0;
	fb_metrics_fill_run(&run, &b);
	assert_true(value_of(b.p, "fleetbench_messages_lost_total{proto=\"mqtt\"} ") == 1);
	free(b.p);
	fb_recon_free(rc);
	fb_scenario_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrapes_while_the_loop_runs),
		cmocka_unit_test(test_exposition_helpers),
		cmocka_unit_test(test_fill_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
