/* The LoRaWAN network against an independent network server: ci/oracles/lns-oracle.js, built on
 * the npm lora-packet, on a free loopback UDP port. OTAA joins, confirmed uplinks acknowledged,
 * a LinkADRReq that moves the DR, DevStatusReq answered, an application downlink delivered,
 * DevNonce never reused across two runs with one state file, and malformed PULL_RESPs counted
 * without a crash. Skips nothing: node and the oracle are required. */
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>
#include "protocols/lorawan/lorawan.h"

#define MAX_EVENTS 4096

struct oracle {
	pid_t pid;
	int out_fd, in_fd;
	int port;
	char line[65536];
	size_t line_len;
	json_t *ev[MAX_EVENTS];
	size_t nev;
	ev_io io;
};

static struct ev_loop *loop;
static fb_time_us vclock;

static fb_time_us test_clock(void *arg) { return vclock; }

static void oracle_read(struct oracle *o)
{
	for (;;) {
		ssize_t n = read(o->out_fd, o->line + o->line_len, sizeof(o->line) - o->line_len - 1);
		if (n <= 0)
			return;
		o->line_len += (size_t)n;
		char *nl;
		while ((nl = memchr(o->line, '\n', o->line_len))) {
			*nl = 0;
			json_error_t err;
			json_t *j = json_loads(o->line, 0, &err);
			if (j && o->nev < MAX_EVENTS)
				o->ev[o->nev++] = j;
			else if (j)
				json_decref(j);
			size_t used = (size_t)(nl - o->line) + 1;
			memmove(o->line, nl + 1, o->line_len - used);
			o->line_len -= used;
		}
	}
}

static void on_oracle(struct ev_loop *l, ev_io *w, int revents)
{
	oracle_read((struct oracle *)((char *)w - offsetof(struct oracle, io)));
}

static void oracle_start(struct oracle *o, const char *const *extra)
{
	memset(o, 0, sizeof(*o));
	int out[2], in[2];
	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(in), 0);
	const char *argv[32] = { "node", "ci/oracles/lns-oracle.js" };
	int a = 2;
	for (; extra && *extra && a < 31; extra++)
		argv[a++] = *extra;
	argv[a] = NULL;
	o->pid = fork();
	assert_true(o->pid >= 0);
	if (o->pid == 0) {
		dup2(out[1], 1);
		dup2(in[0], 0);
		close(out[0]); close(out[1]); close(in[0]); close(in[1]);
		execvp("node", (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	o->out_fd = out[0];
	o->in_fd = in[1];
	fcntl(o->out_fd, F_SETFL, O_NONBLOCK);
	ev_io_init(&o->io, on_oracle, o->out_fd, EV_READ);
	ev_io_start(loop, &o->io);
	/* readiness: the oracle's first line names its port (polled, bounded) */
	for (int i = 0; i < 500 && !o->nev; i++) {
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		usleep(10000);
		oracle_read(o);
	}
	assert_true(o->nev > 0);
	assert_string_equal(json_string_value(json_object_get(o->ev[0], "event")), "listening");
	o->port = (int)json_integer_value(json_object_get(o->ev[0], "port"));
	assert_true(o->port > 0);
}

static void oracle_stop(struct oracle *o)
{
	ev_io_stop(loop, &o->io);
	kill(o->pid, SIGTERM);
	int st;
	waitpid(o->pid, &st, 0);
	close(o->out_fd);
	close(o->in_fd);
	for (size_t i = 0; i < o->nev; i++)
		json_decref(o->ev[i]);
}

static size_t count_events(const struct oracle *o, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < o->nev; i++)
		n += !strcmp(json_string_value(json_object_get(o->ev[i], "event")), name);
	return n;
}

static json_t *last_event(const struct oracle *o, const char *name)
{
	for (size_t i = o->nev; i-- > 0; )
		if (!strcmp(json_string_value(json_object_get(o->ev[i], "event")), name))
			return o->ev[i];
	return NULL;
}

/* Runs the loop until pred() or a wall-clock bound (readiness polling, never a fixed sleep). */
static bool run_until(bool (*pred)(void *), void *arg, double max_s)
{
	ev_tstamp end = ev_time() + max_s;
	while (!pred(arg)) {
		if (ev_time() > end)
			return false;
		ev_timer guard;
		ev_timer_init(&guard, (void (*)(struct ev_loop *, ev_timer *, int))NULL, 0.01, 0);
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		usleep(2000);
		ev_now_update(loop);
	}
	return true;
}

struct fixture {
	struct oracle o;
	struct fb_lw_net *net;
	char keys_path[64], state_path[64];
	double lat[4], lon[4];
	uint32_t site[4];
	struct fb_site s;
	uint8_t app_got[64];
	size_t app_len;
	uint32_t app_device;
};

static void on_app(void *arg, uint32_t device, uint8_t fport, const uint8_t *p, size_t len)
{
	struct fixture *f = arg;
	f->app_device = device;
	f->app_len = len < sizeof(f->app_got) ? len : sizeof(f->app_got);
	memcpy(f->app_got, p, f->app_len);
}

static const uint64_t SEED = 424242;

static void write_keys(struct fixture *f, uint32_t ndev, bool abp)
{
	strcpy(f->keys_path, "/tmp/fb-lw-keys-XXXXXX");
	int fd = mkstemp(f->keys_path);
	assert_true(fd >= 0);
	FILE *out = fdopen(fd, "w");
	fb_lw_keys_write_begin(out, FB_LW_KEYS_CSV);
	for (uint32_t i = 0; i < ndev; i++) {
		struct fb_lw_identity id;
		char name[32];
		fb_lw_identity_derive(SEED, i, 0x13, &id);
		snprintf(name, sizeof(name), "light-%06u", i);
		fb_lw_keys_write_device(out, FB_LW_KEYS_CSV, name, &id, abp, "1.0.4", i == 0);
	}
	fclose(out);
}

static struct fb_lw_net *make_net(struct fixture *f, uint32_t ndev, bool confirmed, bool otaa,
                                  const char *state)
{
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%d", f->o.port);
	assert_int_equal(fb_lw_parse_server(&cfg, url), 0);
	cfg.confirmed = confirmed;
	cfg.otaa = otaa;
	cfg.net_id = 0x13;
	cfg.push_timeout_us = 2 * FB_US_PER_S;
	/* Marseille, devices within 60 m of the gateway: heard at SF7 with LoRaSim's path loss */
	f->s = (struct fb_site){ .id = "vieux-port", .lat = 43.2951, .lon = 5.3745, .radius_m = 60 };
	for (uint32_t i = 0; i < ndev; i++) {
		f->lat[i] = 43.2951 + 0.0001 * i;
		f->lon[i] = 5.3745 + 0.0001 * i;
		f->site[i] = 0;
	}
	struct fb_lw_placement p = { .seed = SEED, .first = 0, .count = ndev, .lat = f->lat, .lon = f->lon,
	                             .site = f->site, .sites = &f->s, .nsites = 1 };
	struct fb_lw_net *n = fb_lw_net_new(loop, &cfg, &p, state);
	fb_lw_config_release(&cfg);
	assert_non_null(n);
	fb_lw_net_set_clock(n, test_clock, NULL);
	fb_lw_net_set_app_handler(n, on_app, f);
	assert_int_equal(fb_lw_net_start(n), 0);
	return n;
}

struct want { struct fixture *f; uint32_t ndev; uint64_t n; };

static bool all_joined(void *arg)
{
	struct want *w = arg;
	for (uint32_t i = 0; i < w->ndev; i++)
		if (fb_lw_net_device(w->f->net, i)->state != FB_LW_DEV_JOINED)
			return false;
	return true;
}

static bool none_awaiting(void *arg)
{
	struct want *w = arg;
	for (uint32_t i = 0; i < w->ndev; i++)
		if (fb_lw_net_device(w->f->net, i)->awaiting)
			return false;
	return true;
}

static bool oracle_uplinks(void *arg)
{
	struct want *w = arg;
	return count_events(&w->f->o, "uplink") >= w->n;
}

static bool tx_acks(void *arg)
{
	struct want *w = arg;
	return count_events(&w->f->o, "tx_ack") >= w->n;
}

static bool pulled(void *arg)
{
	struct want *w = arg;
	return count_events(&w->f->o, "pull_data") >= w->n;
}

static bool drained(void *arg)
{
	struct want *w = arg;
	return fb_lw_net_drain(w->f->net);
}

/* What an engine does: virtual time does not pass hold_until() while the peer may answer, and
 * the uplinks the network deferred (duty cycle, a sample kept during a join) go out as virtual
 * time reaches them. */
static void advance_to(struct fixture *f, fb_time_us t)
{
	ev_tstamp end = ev_time() + 5;
	for (;;) {
		/* a join-accept may come while we wait, and with it a deferred uplink: re-read both */
		fb_time_us due = fb_lw_net_next_due(f->net), step = due < t ? due : t;
		if (step < vclock)
			step = vclock;
		if (fb_lw_net_hold_until(f->net) >= step) {
			vclock = step;
			fb_lw_net_run_due(f->net, step);
			if (step == t && fb_lw_net_next_due(f->net) > t)
				return;
			continue;
		}
		assert_true(ev_time() < end);
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		usleep(1000);
		ev_now_update(loop);
	}
}

/* One round: device i sends (1, i, tag, ab, cd) at base + 7 s * i. */
static void round_of(struct fixture *f, uint32_t ndev, uint8_t tag)
{
	fb_time_us base = vclock;
	for (uint32_t i = 0; i < ndev; i++) {
		uint8_t payload[5] = { 0x01, (uint8_t)i, tag, 0xab, 0xcd };
		advance_to(f, base + i * 7 * FB_US_PER_S);
		fb_lw_net_uplink(f->net, i, vclock, payload, sizeof(payload), 1);
	}
}

static void test_otaa_confirmed_adr_app(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const uint32_t ndev = 3;
	write_keys(f, ndev, false);
	const char *args[] = { "--keys", f->keys_path, "--adr-after", "2", "--adr-dr", "3",
	                       "--app-after", "3", "--app-port", "10", "--app-hex", "0132",
	                       "--devstatus-after", "3", "--powe", "20", NULL };
	oracle_start(&f->o, args);
	strcpy(f->state_path, "/tmp/fb-lw-state-XXXXXX");
	int fd = mkstemp(f->state_path);
	close(fd);
	unlink(f->state_path);        /* first run: no state file yet */
	vclock = 1780000000LL * FB_US_PER_S;
	f->net = make_net(f, ndev, true, true, f->state_path);
	struct want w = { f, ndev, 1 };
	assert_true(run_until(pulled, &w, 5));

	/* join: the first sample of each device sends a join-request; the device keeps that sample
	 * and sends it (FCnt 0) once the join-accept is in */
	round_of(f, ndev, 0);
	assert_true(run_until(all_joined, &w, 10));
	advance_to(f, vclock + 10 * FB_US_PER_S);
	assert_true(run_until(oracle_uplinks, &w, 10));
	assert_true(run_until(none_awaiting, &w, 10));
	/* device 0 runs on a half-charged battery; the others are mains powered (the default) */
	fb_lw_net_device(f->net, 0)->battery = fb_lw_battery_level(0.5);
	const struct fb_lw_counters *c = fb_lw_net_counters(f->net);
	assert_int_equal(c->joins_accepted, ndev);
	assert_int_equal(c->samples_not_joined, ndev);
	assert_int_equal(c->held_sent, ndev);
	assert_int_equal(c->held_superseded, 0);
	assert_int_equal(count_events(&f->o, "join"), ndev);
	json_t *j = last_event(&f->o, "join");
	assert_true(json_is_true(json_object_get(j, "mic_ok")));
	assert_false(json_is_true(json_object_get(j, "nonce_reused")));
	/* the CFList reached the device: 8 channels now */
	assert_int_equal(fb_lw_channels_count(&fb_lw_net_device(f->net, 0)->ch, 5), 8);

	/* rounds of confirmed uplinks, each acknowledged by the oracle */
	for (uint8_t r = 1; r <= 4; r++) {
		vclock += 300 * FB_US_PER_S;
		round_of(f, ndev, r);
		w.n = ndev * (r + 1u);
		assert_true(run_until(oracle_uplinks, &w, 10));
		assert_true(run_until(none_awaiting, &w, 10));
		assert_int_equal(c->uplinks_acked, ndev * (r + 1u));
		if (r == 2) {
			/* LinkADRReq (DR3) came with the 2nd ACK */
			for (uint32_t i = 0; i < ndev; i++)
				assert_int_equal(fb_lw_net_device(f->net, i)->dr, 3);
		}
	}
	/* the oracle decrypted every payload to what was sent, with valid MICs */
	size_t seen = 0;
	for (size_t i = 0; i < f->o.nev; i++) {
		json_t *e = f->o.ev[i];
		if (strcmp(json_string_value(json_object_get(e, "event")), "uplink"))
			continue;
		seen++;
		assert_true(json_is_true(json_object_get(e, "mic_ok")));
		assert_true(json_is_true(json_object_get(e, "confirmed")));
		const char *hex = json_string_value(json_object_get(e, "payload"));
		char want_hex[16];
		int fcnt = (int)json_integer_value(json_object_get(e, "fcnt"));
		unsigned dev = (unsigned)strtoul(json_string_value(json_object_get(e, "dev_eui")) + 8, NULL, 16);
		snprintf(want_hex, sizeof(want_hex), "01%02x%02xabcd", dev, fcnt);   /* round = FCnt */
		assert_string_equal(hex, want_hex);
		/* byte-exact metadata the network servers parse */
		const char *time = json_string_value(json_object_get(e, "time"));
		assert_int_equal(strlen(time), 27);
		assert_int_equal(time[26], 'Z');
		double freq = json_number_value(json_object_get(e, "freq"));
		assert_true(freq == 868.1 || freq == 868.3 || freq == 868.5 || (freq >= 867.1 && freq <= 867.9));
		const char *datr = json_string_value(json_object_get(e, "datr"));
		/* the kept sample and round 1 at DR5; after the LinkADRReq (with the 2nd ACK), DR3 */
		assert_string_equal(datr, fcnt >= 2 ? "SF9BW125" : "SF7BW125");
		if (fcnt == 3) {
			/* DevStatusAns: battery 128 (half) for device 0, 0 (external power) for the others */
			const char *fopts = json_string_value(json_object_get(e, "fopts"));
			assert_memory_equal(fopts, dev == 0 ? "0680" : "0600", 4);
			/* margin: the SNR the device heard the DevStatusReq at, i.e. the uplink fcnt 2's path
			 * reversed: its SNR (the oracle's lsnr, 0.1 dB) + powe 20 - the device's TX power */
			double lsnr = -100;
			for (size_t k = 0; k < f->o.nev; k++) {
				json_t *u = f->o.ev[k];
				if (!strcmp(json_string_value(json_object_get(u, "event")), "uplink") &&
				    json_integer_value(json_object_get(u, "fcnt")) == 2 &&
				    !strcmp(json_string_value(json_object_get(u, "dev_eui")),
				            json_string_value(json_object_get(e, "dev_eui"))))
					lsnr = json_number_value(json_object_get(u, "lsnr"));
			}
			assert_true(lsnr > -30 && lsnr < 10);   /* not the gateway's +10 dB report clamp */
			int txdbm = fb_lw_tx_power_dbm(fb_lw_net_device(f->net, dev)->tx_power) - 2;
			int margin = (int)strtol(fopts + 4, NULL, 16) & 0x3f;
			margin = margin >= 32 ? margin - 64 : margin;
			double want = lsnr + 20 - txdbm;
			want = want > 31 ? 31 : want;
			assert_true(fabs(margin - want) <= 0.55);
		}
		if (fcnt == 2)
			assert_string_equal(json_string_value(json_object_get(e, "fopts")), "0307");
	}
	assert_int_equal(seen, 5 * ndev);
	/* the application downlink reached the app handler, decrypted */
	assert_int_equal(f->app_len, 2);
	assert_int_equal(f->app_got[0], 0x01);
	assert_int_equal(f->app_got[1], 0x32);
	assert_int_equal(c->downlinks_app, ndev);
	assert_int_equal(c->downlinks_late + c->downlinks_unmatched + c->downlinks_bad_mic, 0);
	/* every TX_ACK was a success */
	w.n = ndev + 5 * ndev;
	assert_true(run_until(tx_acks, &w, 5));
	for (size_t i = 0; i < f->o.nev; i++)
		if (!strcmp(json_string_value(json_object_get(f->o.ev[i], "event")), "tx_ack"))
			assert_true(json_is_null(json_object_get(f->o.ev[i], "error")));
	assert_int_equal(count_events(&f->o, "tx_ack"), ndev + 5 * ndev);
	/* one source port for all traffic of the gateway */
	json_t *pd = last_event(&f->o, "pull_data"), *up = last_event(&f->o, "uplink");
	assert_int_equal(json_integer_value(json_object_get(pd, "port")),
	                 json_integer_value(json_object_get(up, "port")));
	struct fb_lw_gw_counters g;
	fb_lw_net_gw_counters(f->net, &g);
	assert_true(g.push_acked >= 1 && g.push_acked == g.push_sent);
	assert_true(g.pull_acked >= 1);
	assert_int_equal(g.bad_datagrams, 0);
	assert_true(run_until(drained, &w, 5));
	uint16_t nonce_after_first = fb_lw_net_device(f->net, 0)->dev_nonce;
	fb_lw_net_free(f->net);

	/* second run, same state file and the same network server: DevNonce continues */
	w.n = count_events(&f->o, "pull_data") + 1;
	f->net = make_net(f, ndev, true, true, f->state_path);
	assert_int_equal(fb_lw_net_device(f->net, 0)->dev_nonce, nonce_after_first);
	assert_true(run_until(pulled, &w, 5));        /* the downlink path to the new socket is open */
	vclock += 3600 * FB_US_PER_S;
	size_t joins_before = count_events(&f->o, "join");
	round_of(f, ndev, 9);
	assert_true(run_until(all_joined, &w, 10));
	assert_int_equal(count_events(&f->o, "join"), joins_before + ndev);
	for (size_t i = 0; i < f->o.nev; i++)
		if (!strcmp(json_string_value(json_object_get(f->o.ev[i], "event")), "join"))
			assert_false(json_is_true(json_object_get(f->o.ev[i], "nonce_reused")));
	assert_true(json_integer_value(json_object_get(last_event(&f->o, "join"), "dev_nonce")) >= 1);
	assert_true(run_until(drained, &w, 5));
	fb_lw_net_free(f->net);
	oracle_stop(&f->o);
	unlink(f->state_path);
	unlink(f->keys_path);
	free(f);
}

/* Everything the oracle's --bad-inputs provoke has come back: its report that it sent them, the
 * four bad datagrams, the late txpk's TX_ACK error and the two refused frames. */
static bool bad_inputs_handled(void *arg)
{
	struct fixture *f = arg;
	const struct fb_lw_counters *c = fb_lw_net_counters(f->net);
	struct fb_lw_gw_counters g;
	fb_lw_net_gw_counters(f->net, &g);
	bool late_logged = false;      /* the oracle's own line for the TX_ACK it sent */
	for (size_t i = 0; i < f->o.nev; i++)
		late_logged |= !strcmp(json_string_value(json_object_get(f->o.ev[i], "event")), "tx_ack") &&
		               json_is_string(json_object_get(f->o.ev[i], "error"));
	return count_events(&f->o, "bad_inputs_sent") >= 1 && g.bad_datagrams >= 4 && g.tx_ack_errors >= 1 &&
	       c->downlinks_late >= 1 && c->downlinks_unmatched >= 1 && c->downlinks_bad_mic >= 1 && late_logged;
}

static void test_bad_pull_resp(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const uint32_t ndev = 2;
	write_keys(f, ndev, true);
	const char *args[] = { "--keys", f->keys_path, "--bad-inputs", NULL };
	oracle_start(&f->o, args);
	vclock = 1790000000LL * FB_US_PER_S;
	f->net = make_net(f, ndev, true, false, NULL);      /* ABP: data from the first sample */
	struct want w = { f, ndev, 1 };
	assert_true(run_until(pulled, &w, 5));
	for (uint8_t r = 1; r <= 3; r++) {
		round_of(f, ndev, r);
		w.n = ndev * r;
		assert_true(run_until(oracle_uplinks, &w, 10));
		advance_to(f, vclock + 120 * FB_US_PER_S);
	}
	/* the bad inputs and their TX_ACK may still be on their way on a loaded machine */
	assert_true(run_until(bad_inputs_handled, f, 10));
	const struct fb_lw_counters *c = fb_lw_net_counters(f->net);
	struct fb_lw_gw_counters g;
	fb_lw_net_gw_counters(f->net, &g);
	assert_int_equal(count_events(&f->o, "bad_inputs_sent"), 1);
	/* bad JSON, bad base64, missing tmst, size mismatch: counted as bad datagrams */
	assert_int_equal(g.bad_datagrams, 4);
	/* a txpk in the past: TX_ACK TOO_LATE, counted */
	assert_int_equal(c->downlinks_late, 1);
	assert_int_equal(g.tx_ack_errors, 1);
	json_t *late = NULL;
	for (size_t i = 0; i < f->o.nev; i++)
		if (!strcmp(json_string_value(json_object_get(f->o.ev[i], "event")), "tx_ack")
		    && json_is_string(json_object_get(f->o.ev[i], "error")))
			late = f->o.ev[i];
	assert_non_null(late);
	assert_string_equal(json_string_value(json_object_get(late, "error")), "TOO_LATE");
	/* a frame for an unknown device, and one with a wrong MIC */
	assert_int_equal(c->downlinks_unmatched, 1);
	assert_int_equal(c->downlinks_bad_mic, 1);
	/* and the run carried on: all but the bad-MIC one acknowledged, the oracle saw all uplinks */
	assert_int_equal(count_events(&f->o, "uplink"), 3 * ndev);
	assert_true(c->uplinks_acked >= 3 * ndev - 1);
	fb_lw_net_free(f->net);
	oracle_stop(&f->o);
	unlink(f->keys_path);
	free(f);
}

static void test_unreachable_server(void **state)
{
	/* a port nobody listens on: PUSH_ACK timeouts are counted, nothing stalls */
	struct fixture *f = calloc(1, sizeof(*f));
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	bind(s, (struct sockaddr *)&a, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &al);
	f->o.port = ntohs(a.sin_port);
	close(s);
	struct fb_lw_config cfg;
	fb_lw_config_defaults(&cfg);
	char url[64];
	snprintf(url, sizeof(url), "udp://127.0.0.1:%d", f->o.port);
	assert_int_equal(fb_lw_parse_server(&cfg, url), 0);
	cfg.otaa = false;
	cfg.push_timeout_us = 50 * FB_US_PER_MS;
	f->s = (struct fb_site){ .id = "x", .lat = 43.3, .lon = 5.4, .radius_m = 10 };
	f->lat[0] = 43.3;
	f->lon[0] = 5.4;
	struct fb_lw_placement p = { .seed = SEED, .count = 1, .lat = f->lat, .lon = f->lon,
	                             .site = f->site, .sites = &f->s, .nsites = 1 };
	f->net = fb_lw_net_new(loop, &cfg, &p, NULL);
	assert_non_null(f->net);
	assert_int_equal(fb_lw_net_start(f->net), 0);
	uint8_t pl[3] = { 1, 2, 3 };
	fb_lw_net_uplink(f->net, 0, 1780000000LL * FB_US_PER_S, pl, 3, 1);
	struct fb_lw_gw_counters g;
	ev_tstamp end = ev_time() + 3;
	do {
		ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
		usleep(5000);
		ev_now_update(loop);
		fb_lw_net_gw_counters(f->net, &g);
	} while (g.push_timeouts < 1 && ev_time() < end);
	assert_true(g.push_timeouts >= 1);
	assert_int_equal(g.push_acked, 0);
	assert_true(fb_lw_net_drain(f->net));
	fb_lw_net_free(f->net);
	fb_lw_config_release(&cfg);
	free(f);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_otaa_confirmed_adr_app),
		cmocka_unit_test(test_bad_pull_resp),
		cmocka_unit_test(test_unreachable_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
