/* libFuzzer harness: the MQTT client's session logic (protocols/mqtt/client.c) against a broker
 * that answers with arbitrary bytes. Each input runs one connection on a real loopback socket:
 * the harness accepts it, reads the CONNECT, lets the client queue QoS 0/1/2 messages, answers
 * with a valid CONNACK and then with the input (PUBACK/PUBREC/PUBCOMP for ids it never sent,
 * PUBLISH of every QoS and DUP, PUBREL, SUBACK, DISCONNECT, garbage), and turns the loop until
 * the client has read it all. The first byte picks the protocol version and the window.
 * Checked: no crash or sanitizer report; the counters stay consistent (messages in the window
 * never exceed it, unacked <= pending, acked + failed <= sent); a PUBLISH delivered to the
 * application has a valid topic within the packet. Seeds: fixtures/fuzz/client/. */
#include <errno.h>
#include <fcntl.h>
#include <sys/un.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <ev.h>
#include "fuzz/fuzz.h"
#include "protocols/mqtt/client.h"
#include "sim/log.h"

static struct ev_loop *loop;
static int listener = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;

static void setup(void)
{
	fb_log_level = FB_LOG_ERROR;
	loop = ev_loop_new(EVFLAG_AUTO);
	FB_FUZZ_CHECK(loop);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FB_FUZZ_CHECK(listener >= 0);
	addr.sun_family = AF_UNIX;
	/* abstract namespace (leading NUL), unique per process */
	int k = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "fleetbench-fuzz-client-%d", (int)getpid());
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)k);
	FB_FUZZ_CHECK(bind(listener, (struct sockaddr *)&addr, addr_len) == 0);
	FB_FUZZ_CHECK(listen(listener, 16) == 0);
}

/* Reads and drops what the client wrote (its CONNECT, SUBSCRIBE, PUBLISH, acks). */
static void drain(int fd)
{
	uint8_t buf[4096];
	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void on_message(void *arg, struct fb_mqtt_conn *c, const struct fb_mqtt_packet *p)
{
	FB_FUZZ_CHECK(fb_mqtt_topic_name_valid(p->topic.p, p->topic.len));
	FB_FUZZ_CHECK(p->qos <= 2);
	/* answer as a transport answers a command: a publish from inside the callback */
	static const uint8_t ok[] = "OK";
	fb_mqtt_publish(c, "fuzz/cmdexe", ok, 2, 1, false);
}

static void check_stats(const struct fb_mqtt_pool *p, struct fb_mqtt_conn *c, unsigned window)
{
	const struct fb_mqtt_stats *s = fb_mqtt_pool_stats(p);
	FB_FUZZ_CHECK(s->inflight <= window);
	FB_FUZZ_CHECK(s->pub_acked + s->pub_failed <= s->pub_sent);
	FB_FUZZ_CHECK(fb_mqtt_conn_unacked(c) <= fb_mqtt_conn_pending(c));
	FB_FUZZ_CHECK(s->connections_up <= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop)
		setup();
	if (size < 1)
		return 0;
	uint8_t version = (data[0] & 1) ? FB_MQTT_V5 : FB_MQTT_V311;
	unsigned window = 1 + (data[0] >> 1) % 4;
	const uint8_t *in = data + 1;
	size_t n = size - 1;

	struct fb_mqtt_pool_config cfg;
	memset(&cfg, 0, sizeof cfg);
	memcpy(&cfg.addr, &addr, sizeof addr);
	cfg.addrlen = addr_len;
	cfg.version = version;
	cfg.inflight = (uint16_t)window;
	cfg.reconnect_min_us = cfg.reconnect_max_us = 3600 * FB_US_PER_S;   /* no reconnect here */
	cfg.connect_timeout_us = 3600 * FB_US_PER_S;
	cfg.max_packet = 1 << 16;
	cfg.max_queued = 64;
	cfg.seed = 1;
	struct fb_mqtt_callbacks cb = { .arg = NULL, .on_message = on_message };
	struct fb_mqtt_pool *p = fb_mqtt_pool_new(loop, &cfg, &cb);
	FB_FUZZ_CHECK(p);
	static const char *const subs[] = { "fuzz/+/cmd", NULL };
	struct fb_mqtt_conn_config cc = { .index = 0, .client_id = "fuzz-client", .clean_start = false,
	                                  .session_expiry_s = 60, .subscribe = subs, .subscribe_qos = 1 };
	struct fb_mqtt_conn *c = fb_mqtt_pool_add(p, &cc, NULL);
	FB_FUZZ_CHECK(c);
	fb_mqtt_pool_start(p);

	int fd = -1;
	for (int i = 0; i < 10000 && fd < 0; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	FB_FUZZ_CHECK(fd >= 0);
	/* messages of each QoS before and while the window fills */
	static const uint8_t payload[] = "{\"LAeq\":55.5}";
	for (int q = 0; q < 6; q++)
		fb_mqtt_publish(c, "fuzz/dev/attrs", payload, sizeof payload - 1, (uint8_t)(q % 3), false);
	for (int i = 0; i < 20; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		drain(fd);
	}
	static const uint8_t connack4[] = { 0x20, 0x02, 0x01, 0x00 };   /* session present */
	static const uint8_t connack5[] = { 0x20, 0x03, 0x01, 0x00, 0x00 };
	const uint8_t *ca = version == FB_MQTT_V5 ? connack5 : connack4;
	size_t calen = version == FB_MQTT_V5 ? sizeof connack5 : sizeof connack4;
	FB_FUZZ_CHECK(write(fd, ca, calen) == (ssize_t)calen);
	size_t off = 0;
	for (int i = 0; i < 200; i++) {
		if (off < n) {
			ssize_t w = send(fd, in + off, n - off, MSG_NOSIGNAL);   /* the client may have hung up */
			if (w > 0)
				off += (size_t)w;
		}
		ev_run(loop, EVRUN_NOWAIT);
		drain(fd);
		check_stats(p, c, window);
		if (off == n && i >= 20)
			break;
	}
	/* more traffic after whatever the broker said, then the end of the session */
	fb_mqtt_publish(c, "fuzz/dev/attrs", payload, sizeof payload - 1, 1, false);
	for (int i = 0; i < 5; i++) {
		ev_run(loop, EVRUN_NOWAIT);
		drain(fd);
	}
	check_stats(p, c, window);
	fb_mqtt_pool_drain(p, 0);
	ev_run(loop, EVRUN_NOWAIT);
	close(fd);
	fb_mqtt_pool_free(p);
	return 0;
}
