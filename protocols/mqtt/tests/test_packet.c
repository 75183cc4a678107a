/* protocols/mqtt/packet.c: byte-exact against the .hex files of fixtures/mqtt (specification examples and
 * packets captured from mosquitto 2.0.11 and its clients), incremental decoding, and malformed
 * input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "protocols/mqtt/packet.h"

struct fixture {
	char name[96];
	uint8_t version;
	uint8_t bytes[512];
	size_t len;
};

static struct fixture fixtures[64];
static size_t nfixtures;

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static void load_fixture(const char *dir, const char *name)
{
	char path[512], line[2048];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_true(nfixtures < 64);
	struct fixture *fx = &fixtures[nfixtures++];
	memset(fx, 0, sizeof *fx);
	snprintf(fx->name, sizeof fx->name, "%s", name);
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (!strncmp(line, "version ", 8)) {
			fx->version = (uint8_t)atoi(line + 8);
			continue;
		}
		for (char *c = line; *c && *c != '\n'; c++) {
			if (*c == ' ')
				continue;
			int hi = hexval(c[0]), lo = hexval(c[1]);
			assert_true(hi >= 0 && lo >= 0);
			assert_true(fx->len < sizeof fx->bytes);
			fx->bytes[fx->len++] = (uint8_t)(hi << 4 | lo);
			c++;
		}
	}
	fclose(f);
	assert_true(fx->version == 4 || fx->version == 5);
	assert_true(fx->len >= 2);
}

static int load_all(void **state)
{
	(void)state;
	const char *dir = "fixtures/mqtt";
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 4 && !strcmp(e->d_name + n - 4, ".hex"))
			load_fixture(dir, e->d_name);
	}
	closedir(d);
	return nfixtures >= 20 ? 0 : -1;
}

static bool eq(struct fb_mqtt_bytes b, const char *s)
{
	return b.len == strlen(s) && !memcmp(b.p, s, b.len);
}

/* ---- what each fixture must decode to ---- */

static void x_v311_connect_pub(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_CONNECT);
	assert_int_equal(p->version, 4);
	assert_true(p->clean_start);
	assert_int_equal(p->keepalive, 60);
	assert_true(eq(p->client_id, "noise-000042"));
	assert_true(p->has_will && p->will_retain);
	assert_int_equal(p->will_qos, 1);
	assert_true(eq(p->will_topic, "amp/status/noise-000042"));
	assert_true(eq(p->will_payload, "offline"));
	assert_true(p->has_username && eq(p->username, "dev"));
	assert_true(p->has_password && eq(p->password, "pw"));
}

static void x_v311_publish_pub(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBLISH);
	assert_int_equal(p->qos, 0);
	assert_false(p->retain || p->dup);
	assert_true(eq(p->topic, "amp/s1/noise/noise-000042"));
	assert_true(eq(p->payload, "{\"LAeq\":62.3}"));
}

static void x_disconnect(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_DISCONNECT);
	assert_int_equal(p->reason, 0);
}

static void x_v5_connect_pub(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_CONNECT);
	assert_int_equal(p->version, 5);
	assert_true(p->clean_start);
	assert_false(p->has_will || p->has_username || p->has_password);
	assert_true(eq(p->client_id, "dev-5"));
	assert_int_equal(p->props.n, 3);
	const struct fb_mqtt_prop *up = fb_mqtt_prop_get(&p->props, FB_MQTT_P_USER_PROPERTY);
	assert_non_null(up);
	assert_true(eq(up->str, "site") && eq(up->str2, "euromed"));
	assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_SESSION_EXPIRY)->num, 3600);
	assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_RECEIVE_MAXIMUM)->num, 20);
}

static void x_v5_publish_pub(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBLISH);
	assert_true(eq(p->topic, "a/b"));
	assert_true(eq(p->payload, "hello"));
	assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_MESSAGE_EXPIRY)->num, 30);
	assert_true(eq(fb_mqtt_prop_get(&p->props, FB_MQTT_P_CONTENT_TYPE)->str, "application/json"));
}

static void x_v5_connect_sub(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_CONNECT);
	assert_false(p->clean_start);
	assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_SESSION_EXPIRY)->num, 120);
	assert_true(eq(p->client_id, "sub-5"));
}

static void x_v5_subscribe_sub(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_SUBSCRIBE);
	assert_int_equal(p->packet_id, 1);
	assert_int_equal(p->nsubs, 2);
	assert_true(eq(p->subs[0].filter, "cmd/+/x"));
	assert_int_equal(p->subs[0].options, 2);
	assert_true(eq(p->subs[1].filter, "spBv1.0/g/NCMD/#"));
	assert_int_equal(p->subs[1].options, 2);
}

static void x_connect_spec(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_CONNECT);
	assert_true(p->has_username && p->has_password && p->has_will && p->clean_start);
	assert_false(p->will_retain);
	assert_int_equal(p->will_qos, 1);
	assert_int_equal(p->keepalive, 10);
	assert_true(eq(p->client_id, "fb") && eq(p->will_topic, "w") && eq(p->will_payload, "x"));
	assert_true(eq(p->username, "u") && eq(p->password, "p"));
	if (p->version == 5) {
		assert_int_equal(p->props.n, 1);
		assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_SESSION_EXPIRY)->num, 10);
		assert_int_equal(p->will_props.n, 0);
	}
}

static void x_v311_publish_qos1(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBLISH);
	assert_int_equal(p->qos, 1);
	assert_int_equal(p->packet_id, 10);
	assert_true(eq(p->topic, "a/b") && eq(p->payload, "hi"));
}

static void x_v311_subscribe(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_SUBSCRIBE);
	assert_int_equal(p->packet_id, 10);
	assert_int_equal(p->nsubs, 2);
	assert_true(eq(p->subs[0].filter, "a/b") && eq(p->subs[1].filter, "c/d"));
	assert_int_equal(p->subs[0].options, 1);
	assert_int_equal(p->subs[1].options, 2);
}

static void x_v311_unsubscribe(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_UNSUBSCRIBE);
	assert_int_equal(p->nsubs, 2);
	assert_true(eq(p->subs[1].filter, "c/d"));
}

static void x_connack_ok(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_CONNACK);
	assert_int_equal(p->reason, 0);
	assert_false(p->session_present);
}

static void x_connack_refused(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_CONNACK);
	assert_int_equal(p->reason, 5);
	assert_string_equal(fb_mqtt_connack_name(4, p->reason), "not authorized");
}

static void x_v311_suback(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_SUBACK);
	assert_int_equal(p->packet_id, 10);
	assert_int_equal(p->nsubs, 2);
	assert_int_equal(p->subs[0].options, 1);
	assert_int_equal(p->subs[1].options, 2);
}

static void x_v311_unsuback(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_UNSUBACK);
	assert_int_equal(p->packet_id, 10);
}

static void x_pingresp(const struct fb_mqtt_packet *p) { assert_int_equal(p->type, FB_MQTT_PINGRESP); }
static void x_pingreq(const struct fb_mqtt_packet *p) { assert_int_equal(p->type, FB_MQTT_PINGREQ); }

static void x_v5_connack(const struct fb_mqtt_packet *p)
{
	x_connack_ok(p);
	assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_TOPIC_ALIAS_MAXIMUM)->num, 10);
	assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_RECEIVE_MAXIMUM)->num, 20);
}

static void x_v5_suback(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_SUBACK);
	assert_int_equal(p->packet_id, 1);
	assert_int_equal(p->nsubs, 2);
	assert_int_equal(p->subs[0].options, FB_MQTT_RC_GRANTED_QOS2);
}

static void x_v5_pubrec(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBREC);
	assert_int_equal(p->packet_id, 7);
	assert_int_equal(p->reason, 0);
}

static void x_v5_pubrel(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBREL);
	assert_int_equal(p->packet_id, 7);
}

static void x_v5_pubcomp(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBCOMP);
	assert_int_equal(p->packet_id, 7);
}

static void x_v5_puback_nosub(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBACK);
	assert_int_equal(p->packet_id, 10);
	assert_int_equal(p->reason, FB_MQTT_RC_NO_MATCHING_SUBSCRIBERS);
	assert_string_equal(fb_mqtt_reason_name(p->reason), "no matching subscribers");
}

static void x_v5_puback_reason_string(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBACK);
	assert_int_equal(p->reason, FB_MQTT_RC_NOT_AUTHORIZED);
	assert_true(eq(fb_mqtt_prop_get(&p->props, FB_MQTT_P_REASON_STRING)->str, "acl"));
}

static void x_v5_disconnect_will(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_DISCONNECT);
	assert_int_equal(p->reason, FB_MQTT_RC_DISCONNECT_WITH_WILL);
}

static void x_v5_auth(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_AUTH);
	assert_int_equal(p->reason, 0x18);
	assert_true(eq(fb_mqtt_prop_get(&p->props, FB_MQTT_P_AUTH_METHOD)->str, "SCRAM"));
}

static void x_v5_unsuback(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_UNSUBACK);
	assert_int_equal(p->packet_id, 3);
	assert_int_equal(p->nsubs, 2);
	assert_int_equal(p->subs[1].options, 0x11);
}

static void x_v5_publish_alias(const struct fb_mqtt_packet *p)
{
	assert_int_equal(p->type, FB_MQTT_PUBLISH);
	assert_int_equal(p->qos, 2);
	assert_true(p->retain);
	assert_int_equal(p->packet_id, 513);
	assert_int_equal(fb_mqtt_prop_get(&p->props, FB_MQTT_P_TOPIC_ALIAS)->num, 1);
	assert_int_equal(p->props.n, 3);
	assert_true(eq(p->props.p[2].str2, "2"));
	assert_int_equal(p->payload.len, 2);
	assert_int_equal(p->payload.p[1], 0xff);
}

static const struct {
	const char *name;
	void (*check)(const struct fb_mqtt_packet *p);
} expectations[] = {
	{ "v311-connect-mosquitto_pub.hex", x_v311_connect_pub },
	{ "v311-publish-mosquitto_pub.hex", x_v311_publish_pub },
	{ "v311-disconnect.hex", x_disconnect },
	{ "v5-connect-mosquitto_pub.hex", x_v5_connect_pub },
	{ "v5-publish-mosquitto_pub.hex", x_v5_publish_pub },
	{ "v5-connect-mosquitto_sub.hex", x_v5_connect_sub },
	{ "v5-subscribe-mosquitto_sub.hex", x_v5_subscribe_sub },
	{ "v311-connect-spec.hex", x_connect_spec },
	{ "v5-connect-spec.hex", x_connect_spec },
	{ "v311-publish-qos1-spec.hex", x_v311_publish_qos1 },
	{ "v311-subscribe-spec.hex", x_v311_subscribe },
	{ "v311-unsubscribe-spec.hex", x_v311_unsubscribe },
	{ "v311-connack-mosquitto.hex", x_connack_ok },
	{ "v311-connack-refused.hex", x_connack_refused },
	{ "v311-suback-mosquitto.hex", x_v311_suback },
	{ "v311-unsuback-mosquitto.hex", x_v311_unsuback },
	{ "v311-pingresp-mosquitto.hex", x_pingresp },
	{ "v311-pingreq.hex", x_pingreq },
	{ "v5-connack-mosquitto.hex", x_v5_connack },
	{ "v5-suback-mosquitto.hex", x_v5_suback },
	{ "v5-pubrec-mosquitto.hex", x_v5_pubrec },
	{ "v5-pubrel.hex", x_v5_pubrel },
	{ "v5-pubcomp-mosquitto.hex", x_v5_pubcomp },
	{ "v5-puback-no-subscribers.hex", x_v5_puback_nosub },
	{ "v5-puback-reason-string.hex", x_v5_puback_reason_string },
	{ "v5-disconnect-with-will.hex", x_v5_disconnect_will },
	{ "v5-auth.hex", x_v5_auth },
	{ "v5-unsuback.hex", x_v5_unsuback },
	{ "v5-publish-alias-user-props.hex", x_v5_publish_alias },
};

/* Every fixture decodes to what its table entry says and re-encodes to the same bytes. */
static void fixtures_decode_and_reencode_exactly(void **state)
{
	(void)state;
	for (size_t i = 0; i < nfixtures; i++) {
		const struct fixture *fx = &fixtures[i];
		void (*check)(const struct fb_mqtt_packet *) = NULL;
		for (size_t k = 0; k < sizeof expectations / sizeof *expectations; k++)
			if (!strcmp(expectations[k].name, fx->name))
				check = expectations[k].check;
		if (!check)
			fail_msg("fixture '%s' has no expectation", fx->name);
		struct fb_mqtt_packet p;
		int rc = fb_mqtt_decode(fx->bytes, fx->len, fx->version, &p);
		if (rc != 0)
			fail_msg("'%s': %s", fx->name, fb_mqtt_strerror(rc));
		check(&p);
		uint8_t out[512];
		ssize_t n = fb_mqtt_encode(&p, fx->version, out, sizeof out);
		if (n != (ssize_t)fx->len || memcmp(out, fx->bytes, fx->len))
			fail_msg("'%s': re-encoding differs (%zd bytes for %zu)", fx->name, n, fx->len);
		assert_int_equal(fb_mqtt_encoded_len(&p, fx->version), n);
		/* Every smaller buffer is refused, without writing past it. */
		for (size_t cap = 0; cap < fx->len; cap++) {
			memset(out, 0xee, sizeof out);
			assert_int_equal(fb_mqtt_encode(&p, fx->version, out, cap), FB_MQTT_ENOSPC);
			assert_int_equal(out[cap], 0xee);
		}
	}
}

/* Packets built field by field encode to the fixture bytes (the encoder, not just round trips). */
static void encoder_builds_fixture_bytes(void **state)
{
	(void)state;
	struct fb_mqtt_packet p;
	memset(&p, 0, sizeof p);
	p.type = FB_MQTT_CONNECT;
	p.version = 5;
	p.clean_start = true;
	p.keepalive = 10;
	p.client_id = FB_MQTT_STR("fb");
	p.has_will = true;
	p.will_qos = 1;
	p.will_topic = FB_MQTT_STR("w");
	p.will_payload = FB_MQTT_STR("x");
	p.has_username = p.has_password = true;
	p.username = FB_MQTT_STR("u");
	p.password = FB_MQTT_STR("p");
	fb_mqtt_prop_add_num(&p.props, FB_MQTT_P_SESSION_EXPIRY, 10);
	uint8_t out[256];
	ssize_t n = fb_mqtt_encode(&p, 5, out, sizeof out);
	const struct fixture *fx = NULL;
	for (size_t i = 0; i < nfixtures; i++)
		if (!strcmp(fixtures[i].name, "v5-connect-spec.hex"))
			fx = &fixtures[i];
	assert_non_null(fx);
	assert_int_equal(n, fx->len);
	assert_memory_equal(out, fx->bytes, fx->len);
	/* the same packet as 3.1.1: properties are not written */
	p.version = 4;
	n = fb_mqtt_encode(&p, 4, out, sizeof out);
	for (size_t i = 0; i < nfixtures; i++)
		if (!strcmp(fixtures[i].name, "v311-connect-spec.hex"))
			fx = &fixtures[i];
	assert_int_equal(n, fx->len);
	assert_memory_equal(out, fx->bytes, fx->len);

	memset(&p, 0, sizeof p);
	p.type = FB_MQTT_PUBLISH;
	p.qos = 1;
	p.packet_id = 10;
	p.topic = FB_MQTT_STR("a/b");
	p.payload = FB_MQTT_STR("hi");
	n = fb_mqtt_encode(&p, 4, out, sizeof out);
	static const uint8_t pub[] = { 0x32, 0x09, 0, 3, 'a', '/', 'b', 0, 10, 'h', 'i' };
	assert_int_equal(n, sizeof pub);
	assert_memory_equal(out, pub, sizeof pub);
	/* v5 adds an empty property length after the packet id */
	n = fb_mqtt_encode(&p, 5, out, sizeof out);
	static const uint8_t pub5[] = { 0x32, 0x0a, 0, 3, 'a', '/', 'b', 0, 10, 0, 'h', 'i' };
	assert_int_equal(n, sizeof pub5);
	assert_memory_equal(out, pub5, sizeof pub5);
}

/* MQTT 3.1.1 §2.2.3 Table 2.4 / MQTT 5.0 §1.5.5 Table 1-1: the varint boundaries. */
static void remaining_length_table(void **state)
{
	(void)state;
	static const struct { uint32_t v; uint8_t len; uint8_t b[4]; } t[] = {
		{ 0, 1, { 0x00 } }, { 127, 1, { 0x7f } },
		{ 128, 2, { 0x80, 0x01 } }, { 16383, 2, { 0xff, 0x7f } },
		{ 16384, 3, { 0x80, 0x80, 0x01 } }, { 2097151, 3, { 0xff, 0xff, 0x7f } },
		{ 2097152, 4, { 0x80, 0x80, 0x80, 0x01 } }, { 268435455, 4, { 0xff, 0xff, 0xff, 0x7f } },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		uint8_t b[4];
		assert_int_equal(fb_mqtt_varint_encode(t[i].v, b), t[i].len);
		assert_memory_equal(b, t[i].b, t[i].len);
		uint32_t v = 1;
		assert_int_equal(fb_mqtt_varint_decode(t[i].b, t[i].len, &v), t[i].len);
		assert_int_equal(v, t[i].v);
		/* one byte short: more is needed, not an error */
		assert_int_equal(fb_mqtt_varint_decode(t[i].b, t[i].len - 1u, &v), 0);
	}
	uint8_t b[4];
	assert_int_equal(fb_mqtt_varint_encode(268435456, b), FB_MQTT_EINVAL);
	static const uint8_t five[] = { 0xff, 0xff, 0xff, 0xff, 0x01 };
	uint32_t v;
	assert_int_equal(fb_mqtt_varint_decode(five, 5, &v), FB_MQTT_EVARINT);
	static const uint8_t non_minimal[] = { 0x80, 0x00 };
	assert_int_equal(fb_mqtt_varint_decode(non_minimal, 2, &v), FB_MQTT_EVARINT);
}

/* MQTT 3.1.1 §1.5.3 Figure 1.1 (U+2A6D4 'A𪛔' is 00 05 41 F0 AA 9B 94) and §1.5.4's rules. */
static void utf8_rules(void **state)
{
	(void)state;
	static const uint8_t example[] = { 0x41, 0xf0, 0xaa, 0x9b, 0x94 };
	assert_true(fb_mqtt_utf8_valid(example, sizeof example));
	static const struct { const char *s; size_t n; } bad[] = {
		{ "a\0b", 3 },                 /* U+0000 */
		{ "\xed\xa0\x80", 3 },         /* surrogate U+D800 */
		{ "\xc0\xaf", 2 },             /* overlong '/' */
		{ "\xf4\x90\x80\x80", 4 },     /* beyond U+10FFFF */
		{ "\xe2\x82", 2 },             /* truncated sequence */
		{ "\x80", 1 },                 /* continuation byte alone */
		{ "\xff", 1 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_false(fb_mqtt_utf8_valid((const uint8_t *)bad[i].s, bad[i].n));
	assert_true(fb_mqtt_topic_name_valid((const uint8_t *)"amp/site/é", strlen("amp/site/é")));
	assert_false(fb_mqtt_topic_name_valid((const uint8_t *)"a/+/b", 5));
	assert_false(fb_mqtt_topic_name_valid((const uint8_t *)"a/#", 3));
	assert_false(fb_mqtt_topic_name_valid((const uint8_t *)"", 0));
	/* the encoder refuses a bad string instead of sending it */
	struct fb_mqtt_packet p;
	memset(&p, 0, sizeof p);
	p.type = FB_MQTT_PUBLISH;
	p.topic = (struct fb_mqtt_bytes){ (const uint8_t *)"\xed\xa0\x80", 3 };
	uint8_t out[64];
	assert_int_equal(fb_mqtt_encode(&p, 4, out, sizeof out), FB_MQTT_EUTF8);
}

/* All packets of a version back to back, fed in chunks of every size from 1 byte: the same
 * packets come out in order, and nothing is reported before a packet is complete. */
static void incremental_decoder_any_chunking(void **state)
{
	(void)state;
	for (uint8_t version = 4; version <= 5; version++) {
		static uint8_t stream[16384];
		size_t total = 0, npackets = 0;
		for (size_t i = 0; i < nfixtures; i++)
			if (fixtures[i].version == version) {
				memcpy(stream + total, fixtures[i].bytes, fixtures[i].len);
				total += fixtures[i].len;
				npackets++;
			}
		for (size_t chunk = 1; chunk <= 64; chunk++) {
			uint8_t buf[256];
			struct fb_mqtt_decoder d;
			fb_mqtt_decoder_init(&d, buf, sizeof buf, 256, version);
			size_t fed = 0, got = 0, fx_i = 0;
			while (fed < total) {
				size_t room;
				uint8_t *dst = fb_mqtt_decoder_space(&d, &room);
				size_t n = total - fed < chunk ? total - fed : chunk;
				if (n > room)
					n = room;
				assert_true(n > 0);
				memcpy(dst, stream + fed, n);
				fb_mqtt_decoder_commit(&d, n);
				fed += n;
				struct fb_mqtt_packet p;
				int rc;
				while ((rc = fb_mqtt_decoder_next(&d, &p)) > 0) {
					while (fixtures[fx_i].version != version)
						fx_i++;
					uint8_t out[512];
					ssize_t len = fb_mqtt_encode(&p, version, out, sizeof out);
					assert_int_equal(len, fixtures[fx_i].len);
					assert_memory_equal(out, fixtures[fx_i].bytes, fixtures[fx_i].len);
					fx_i++;
					got++;
				}
				assert_int_equal(rc, 0);
			}
			assert_int_equal(got, npackets);
		}
	}
}

/* A packet longer than the buffer but within the maximum: the decoder asks for room. */
static void decoder_asks_for_a_bigger_buffer(void **state)
{
	(void)state;
	uint8_t big[3000];
	struct fb_mqtt_packet p;
	memset(&p, 0, sizeof p);
	p.type = FB_MQTT_PUBLISH;
	p.topic = FB_MQTT_STR("cmd/x");
	static uint8_t payload[2000];
	memset(payload, 'z', sizeof payload);
	p.payload = (struct fb_mqtt_bytes){ payload, sizeof payload };
	ssize_t n = fb_mqtt_encode(&p, 4, big, sizeof big);
	assert_true(n > 2000);
	uint8_t small[64], larger[4096];
	struct fb_mqtt_decoder d;
	fb_mqtt_decoder_init(&d, small, sizeof small, 4096, 4);
	size_t room;
	uint8_t *dst = fb_mqtt_decoder_space(&d, &room);
	memcpy(dst, big, room);
	fb_mqtt_decoder_commit(&d, room);
	assert_int_equal(fb_mqtt_decoder_next(&d, &p), 0);
	assert_int_equal(d.need, n);
	fb_mqtt_decoder_rebuffer(&d, larger, sizeof larger);
	dst = fb_mqtt_decoder_space(&d, &room);
	memcpy(dst, big + 64, (size_t)n - 64);
	fb_mqtt_decoder_commit(&d, (size_t)n - 64);
	assert_int_equal(fb_mqtt_decoder_next(&d, &p), 1);
	assert_int_equal(p.payload.len, 2000);
	assert_true(eq(p.topic, "cmd/x"));
	/* beyond the maximum: refused as soon as the header says so */
	fb_mqtt_decoder_init(&d, larger, sizeof larger, 1024, 4);
	dst = fb_mqtt_decoder_space(&d, &room);
	memcpy(dst, big, 8);
	fb_mqtt_decoder_commit(&d, 8);
	assert_int_equal(fb_mqtt_decoder_next(&d, &p), FB_MQTT_ETOOBIG);
}

static int decode_hex(const char *hex, uint8_t version)
{
	uint8_t b[256];
	size_t n = 0;
	for (const char *c = hex; *c; c++) {
		if (*c == ' ')
			continue;
		b[n++] = (uint8_t)(hexval(c[0]) << 4 | hexval(c[1]));
		c++;
	}
	struct fb_mqtt_packet p;
	return fb_mqtt_decode(b, n, version, &p);
}

static void malformed_packets_are_errors(void **state)
{
	(void)state;
	static const struct { const char *hex; uint8_t version; int err; const char *why; } t[] = {
		{ "30 ff ff ff ff 01", 4, FB_MQTT_EVARINT, "5-byte remaining length" },
		{ "c0 80 00", 4, FB_MQTT_EVARINT, "non-minimal remaining length" },
		{ "30 05 00 03 61 2f", 4, FB_MQTT_ETRUNC, "shorter than its remaining length" },
		{ "30 05 00 09 61 2f 62", 4, FB_MQTT_ETRUNC, "string longer than the packet" },
		{ "c0 01 00", 4, FB_MQTT_EMALFORMED, "PINGREQ with a body" },
		{ "20 03 00 00 00", 4, FB_MQTT_EMALFORMED, "3.1.1 CONNACK of 3 bytes" },
		{ "00 00", 4, FB_MQTT_ETYPE, "reserved type 0" },
		{ "c1 00", 4, FB_MQTT_ETYPE, "PINGREQ with flags" },
		{ "60 02 00 07", 5, FB_MQTT_ETYPE, "PUBREL without its 0010 flags" },
		{ "80 08 00 01 00 03 61 2f 62 01", 4, FB_MQTT_ETYPE, "SUBSCRIBE without 0010 flags" },
		{ "36 07 00 03 61 2f 62 00 01", 4, FB_MQTT_EMALFORMED, "QoS 3" },
		{ "38 05 00 03 61 2f 62", 4, FB_MQTT_EMALFORMED, "DUP on QoS 0" },
		{ "32 07 00 03 61 2f 62 00 00", 4, FB_MQTT_EMALFORMED, "packet id 0" },
		{ "30 05 00 03 61 2f 2b", 4, FB_MQTT_EMALFORMED, "wildcard in a topic name" },
		{ "30 05 00 03 61 00 62", 4, FB_MQTT_EUTF8, "U+0000 in a topic" },
		{ "20 05 00 00 02 00 00", 5, FB_MQTT_EPROP, "property id 0x00" },
		{ "20 05 00 00 02 7f 00", 5, FB_MQTT_EPROP, "unknown property id 0x7f" },
		{ "30 09 00 03 61 2f 62 02 12 00 00", 5, FB_MQTT_EPROP, "assigned client id in a PUBLISH" },
		{ "20 0b 00 00 08 21 00 01 21 00 02 24 01", 5, FB_MQTT_EPROPDUP, "receive maximum twice" },
		{ "20 06 00 00 03 21 00 00", 5, FB_MQTT_EMALFORMED, "receive maximum 0" },
		{ "20 05 00 00 02 24 02", 5, FB_MQTT_EMALFORMED, "maximum QoS 2" },
		{ "20 06 00 00 05 21 00 01", 5, FB_MQTT_ETRUNC, "property length past the end" },
		{ "20 03 02 00 00", 5, FB_MQTT_EMALFORMED, "CONNACK reserved ack flag" },
		{ "f0 00", 4, FB_MQTT_EVERSION, "AUTH in 3.1.1" },
		{ "82 02 00 01", 4, FB_MQTT_EMALFORMED, "SUBSCRIBE with no topic" },
		{ "82 08 00 01 00 03 61 2f 62 03", 4, FB_MQTT_EMALFORMED, "subscription QoS 3" },
		{ "82 08 00 01 00 03 61 2f 62 04", 4, FB_MQTT_EMALFORMED, "3.1.1 subscription reserved bits" },
		{ "10 0c 00 04 4d 51 54 54 06 02 00 3c 00 00", 4, FB_MQTT_EVERSION, "protocol level 6" },
		{ "10 0c 00 04 4d 51 54 54 04 03 00 3c 00 00", 4, FB_MQTT_EMALFORMED, "CONNECT reserved flag" },
		{ "10 0c 00 04 4d 51 54 54 04 40 00 3c 00 00", 4, FB_MQTT_EMALFORMED, "3.1.1 password without user" },
		{ "10 0c 00 04 4d 51 54 54 04 08 00 3c 00 00", 4, FB_MQTT_EMALFORMED, "will QoS without will" },
		{ "40 03 00 0a 10", 4, FB_MQTT_EMALFORMED, "3.1.1 PUBACK with a reason" },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		int rc = decode_hex(t[i].hex, t[i].version);
		if (rc != t[i].err)
			fail_msg("%s: got %d (%s), want %d (%s)", t[i].why, rc, fb_mqtt_strerror(rc),
			         t[i].err, fb_mqtt_strerror(t[i].err));
	}
	/* a decoder stops on the first bad packet and keeps saying so */
	uint8_t buf[64];
	struct fb_mqtt_decoder d;
	fb_mqtt_decoder_init(&d, buf, sizeof buf, 64, 4);
	static const uint8_t bad[] = { 0xd0, 0x00, 0x00, 0x00, 0xd0, 0x00 };
	size_t room;
	memcpy(fb_mqtt_decoder_space(&d, &room), bad, sizeof bad);
	fb_mqtt_decoder_commit(&d, sizeof bad);
	struct fb_mqtt_packet p;
	assert_int_equal(fb_mqtt_decoder_next(&d, &p), 1);
	assert_int_equal(fb_mqtt_decoder_next(&d, &p), FB_MQTT_ETYPE);
	assert_int_equal(fb_mqtt_decoder_next(&d, &p), FB_MQTT_ETYPE);
}

/* Every prefix of every fixture, and seeded random byte flips: an error or a packet, never an
 * overread (the sanitizer build checks that) and never a packet from a prefix. */
static void truncations_and_mutations_never_crash(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t errors = 0, decoded = 0;
	for (size_t i = 0; i < nfixtures; i++) {
		const struct fixture *fx = &fixtures[i];
		struct fb_mqtt_packet p;
		for (size_t n = 0; n < fx->len; n++) {
			uint8_t *copy = malloc(n ? n : 1);   /* exact size: an overread is caught */
			memcpy(copy, fx->bytes, n);
			assert_true(fb_mqtt_decode(copy, n, fx->version, &p) < 0);
			free(copy);
		}
		for (int round = 0; round < 300; round++) {
			uint8_t *copy = malloc(fx->len);
			memcpy(copy, fx->bytes, fx->len);
			int flips = 1 + (int)((x >> 60) & 3);
			for (int f = 0; f < flips; f++) {
				x ^= x << 13; x ^= x >> 7; x ^= x << 17;
				copy[x % fx->len] ^= (uint8_t)(1u << ((x >> 32) & 7));
			}
			int rc = fb_mqtt_decode(copy, fx->len, fx->version, &p);
			if (rc < 0) {
				errors++;
				assert_string_not_equal(fb_mqtt_strerror(rc), "unknown error");
			} else {
				decoded++;
				uint8_t out[600];
				/* what decodes can be encoded again */
				ssize_t n = fb_mqtt_encode(&p, fx->version, out, sizeof out);
				if (n <= 0)
					fail_msg("'%s' mutated: decodes as %s, encodes to %s", fx->name,
					         fb_mqtt_type_name(p.type), fb_mqtt_strerror((int)n));
			}
			free(copy);
		}
	}
	assert_true(errors > 0 && decoded > 0);
}

static void names(void **state)
{
	(void)state;
	assert_string_equal(fb_mqtt_type_name(FB_MQTT_PUBCOMP), "PUBCOMP");
	assert_string_equal(fb_mqtt_connack_name(5, 0x86), "bad user name or password");
	assert_string_equal(fb_mqtt_connack_name(4, 4), "bad user name or password");
	assert_string_equal(fb_mqtt_connack_name(4, 1), "unacceptable protocol version");
	assert_string_equal(fb_mqtt_strerror(FB_MQTT_EVARINT), "bad remaining length");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixtures_decode_and_reencode_exactly),
		cmocka_unit_test(encoder_builds_fixture_bytes),
		cmocka_unit_test(remaining_length_table),
		cmocka_unit_test(utf8_rules),
		cmocka_unit_test(incremental_decoder_any_chunking),
		cmocka_unit_test(decoder_asks_for_a_bigger_buffer),
		cmocka_unit_test(malformed_packets_are_errors),
		cmocka_unit_test(truncations_and_mutations_never_crash),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, load_all, NULL);
}
