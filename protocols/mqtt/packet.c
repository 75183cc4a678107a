/* MQTT 3.1.1 / 5.0 packet codec: see protocols/mqtt/packet.h. Clause numbers are MQTT 5.0's
 * unless marked 3.1.1. */
#include <string.h>
#include "protocols/mqtt/packet.h"

#define VARINT_MAX 268435455u

const char *fb_mqtt_type_name(int type)
{
	static const char *const names[] = { "reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK",
		"PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
		"PINGREQ", "PINGRESP", "DISCONNECT", "AUTH" };
	return type > 0 && type < 16 ? names[type] : names[0];
}

const char *fb_mqtt_strerror(int err)
{
	switch (err) {
	case FB_MQTT_OK: return "success";
	case FB_MQTT_ENOSPC: return "buffer too small";
	case FB_MQTT_EVARINT: return "bad remaining length";
	case FB_MQTT_ETRUNC: return "truncated packet";
	case FB_MQTT_ETOOBIG: return "packet too large";
	case FB_MQTT_ETYPE: return "bad packet type or flags";
	case FB_MQTT_EPROP: return "bad property";
	case FB_MQTT_EPROPDUP: return "repeated property";
	case FB_MQTT_EUTF8: return "bad utf-8 string";
	case FB_MQTT_EMALFORMED: return "malformed packet";
	case FB_MQTT_EVERSION: return "packet not in this protocol version";
	case FB_MQTT_EINVAL: return "invalid packet to encode";
	default: return "unknown error";
	}
}

const char *fb_mqtt_reason_name(uint8_t code)
{
	switch (code) {
	case 0x00: return "success";
	case 0x01: return "granted qos 1";
	case 0x02: return "granted qos 2";
	case 0x04: return "disconnect with will message";
	case 0x10: return "no matching subscribers";
	case 0x11: return "no subscription existed";
	case 0x18: return "continue authentication";
	case 0x19: return "re-authenticate";
	case 0x80: return "unspecified error";
	case 0x81: return "malformed packet";
	case 0x82: return "protocol error";
	case 0x83: return "implementation specific error";
	case 0x84: return "unsupported protocol version";
	case 0x85: return "client identifier not valid";
	case 0x86: return "bad user name or password";
	case 0x87: return "not authorized";
	case 0x88: return "server unavailable";
	case 0x89: return "server busy";
	case 0x8A: return "banned";
	case 0x8B: return "server shutting down";
	case 0x8C: return "bad authentication method";
	case 0x8D: return "keep alive timeout";
	case 0x8E: return "session taken over";
	case 0x8F: return "topic filter invalid";
	case 0x90: return "topic name invalid";
	case 0x91: return "packet identifier in use";
	case 0x92: return "packet identifier not found";
	case 0x93: return "receive maximum exceeded";
	case 0x94: return "topic alias invalid";
	case 0x95: return "packet too large";
	case 0x96: return "message rate too high";
	case 0x97: return "quota exceeded";
	case 0x98: return "administrative action";
	case 0x99: return "payload format invalid";
	case 0x9A: return "retain not supported";
	case 0x9B: return "qos not supported";
	case 0x9C: return "use another server";
	case 0x9D: return "server moved";
	case 0x9E: return "shared subscriptions not supported";
	case 0x9F: return "connection rate exceeded";
	case 0xA0: return "maximum connect time";
	case 0xA1: return "subscription identifiers not supported";
	case 0xA2: return "wildcard subscriptions not supported";
	default: return "unknown reason code";
	}
}

const char *fb_mqtt_connack_name(uint8_t version, uint8_t code)
{
	if (version >= FB_MQTT_V5)
		return fb_mqtt_reason_name(code);
	switch (code) {   /* 3.1.1 §3.2.2.3 */
	case 0: return "connection accepted";
	case 1: return "unacceptable protocol version";
	case 2: return "identifier rejected";
	case 3: return "server unavailable";
	case 4: return "bad user name or password";
	case 5: return "not authorized";
	default: return "unknown return code";
	}
}

/* ---- properties (§2.2.2.2) ---- */

enum ptype { PT_NONE, PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };
#define WILL 0    /* bit 0 of a mask stands for the will properties of a CONNECT */
#define M(t) (1u << (t))

struct pinfo { uint8_t type; uint16_t allowed; };

static struct pinfo prop_info(uint8_t id)
{
	const uint16_t pub_will = M(FB_MQTT_PUBLISH) | M(WILL);
	const uint16_t acks = M(FB_MQTT_CONNACK) | M(FB_MQTT_PUBACK) | M(FB_MQTT_PUBREC) |
		M(FB_MQTT_PUBREL) | M(FB_MQTT_PUBCOMP) | M(FB_MQTT_SUBACK) | M(FB_MQTT_UNSUBACK) |
		M(FB_MQTT_DISCONNECT) | M(FB_MQTT_AUTH);
	switch (id) {
	case 0x01: return (struct pinfo){ PT_BYTE, pub_will };
	case 0x02: return (struct pinfo){ PT_U32, pub_will };
	case 0x03: return (struct pinfo){ PT_STR, pub_will };
	case 0x08: return (struct pinfo){ PT_STR, pub_will };
	case 0x09: return (struct pinfo){ PT_BIN, pub_will };
	case 0x0B: return (struct pinfo){ PT_VARINT, M(FB_MQTT_PUBLISH) | M(FB_MQTT_SUBSCRIBE) };
	case 0x11: return (struct pinfo){ PT_U32, M(FB_MQTT_CONNECT) | M(FB_MQTT_CONNACK) | M(FB_MQTT_DISCONNECT) };
	case 0x12: return (struct pinfo){ PT_STR, M(FB_MQTT_CONNACK) };
	case 0x13: return (struct pinfo){ PT_U16, M(FB_MQTT_CONNACK) };
	case 0x15: return (struct pinfo){ PT_STR, M(FB_MQTT_CONNECT) | M(FB_MQTT_CONNACK) | M(FB_MQTT_AUTH) };
	case 0x16: return (struct pinfo){ PT_BIN, M(FB_MQTT_CONNECT) | M(FB_MQTT_CONNACK) | M(FB_MQTT_AUTH) };
	case 0x17: return (struct pinfo){ PT_BYTE, M(FB_MQTT_CONNECT) };
	case 0x18: return (struct pinfo){ PT_U32, M(WILL) };
	case 0x19: return (struct pinfo){ PT_BYTE, M(FB_MQTT_CONNECT) };
	case 0x1A: return (struct pinfo){ PT_STR, M(FB_MQTT_CONNACK) };
	case 0x1C: return (struct pinfo){ PT_STR, M(FB_MQTT_CONNACK) | M(FB_MQTT_DISCONNECT) };
	case 0x1F: return (struct pinfo){ PT_STR, acks };
	case 0x21: return (struct pinfo){ PT_U16, M(FB_MQTT_CONNECT) | M(FB_MQTT_CONNACK) };
	case 0x22: return (struct pinfo){ PT_U16, M(FB_MQTT_CONNECT) | M(FB_MQTT_CONNACK) };
	case 0x23: return (struct pinfo){ PT_U16, M(FB_MQTT_PUBLISH) };
	case 0x24: return (struct pinfo){ PT_BYTE, M(FB_MQTT_CONNACK) };
	case 0x25: return (struct pinfo){ PT_BYTE, M(FB_MQTT_CONNACK) };
	case 0x26: return (struct pinfo){ PT_PAIR, 0xffff & ~M(FB_MQTT_PINGREQ) & ~M(FB_MQTT_PINGRESP) };
	case 0x27: return (struct pinfo){ PT_U32, M(FB_MQTT_CONNECT) | M(FB_MQTT_CONNACK) };
	case 0x28: return (struct pinfo){ PT_BYTE, M(FB_MQTT_CONNACK) };
	case 0x29: return (struct pinfo){ PT_BYTE, M(FB_MQTT_CONNACK) };
	case 0x2A: return (struct pinfo){ PT_BYTE, M(FB_MQTT_CONNACK) };
	default: return (struct pinfo){ PT_NONE, 0 };
	}
}

const struct fb_mqtt_prop *fb_mqtt_prop_get(const struct fb_mqtt_props *ps, uint8_t id)
{
	for (unsigned i = 0; i < ps->n; i++)
		if (ps->p[i].id == id)
			return &ps->p[i];
	return NULL;
}

int fb_mqtt_prop_add_num(struct fb_mqtt_props *ps, uint8_t id, uint32_t num)
{
	if (ps->n >= FB_MQTT_MAX_PROPS)
		return FB_MQTT_EINVAL;
	ps->p[ps->n++] = (struct fb_mqtt_prop){ .id = id, .num = num };
	return 0;
}

int fb_mqtt_prop_add_str(struct fb_mqtt_props *ps, uint8_t id, struct fb_mqtt_bytes s)
{
	if (ps->n >= FB_MQTT_MAX_PROPS)
		return FB_MQTT_EINVAL;
	ps->p[ps->n++] = (struct fb_mqtt_prop){ .id = id, .str = s };
	return 0;
}

int fb_mqtt_prop_add_user(struct fb_mqtt_props *ps, struct fb_mqtt_bytes name, struct fb_mqtt_bytes value)
{
	if (ps->n >= FB_MQTT_MAX_PROPS)
		return FB_MQTT_EINVAL;
	ps->p[ps->n++] = (struct fb_mqtt_prop){ .id = FB_MQTT_P_USER_PROPERTY, .str = name, .str2 = value };
	return 0;
}

/* ---- primitives ---- */

int fb_mqtt_varint_encode(uint32_t v, uint8_t out[4])
{
	if (v > VARINT_MAX)
		return FB_MQTT_EINVAL;
	int n = 0;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		out[n++] = b | (v ? 0x80 : 0);
	} while (v);
	return n;
}

int fb_mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *v)
{
	uint32_t value = 0;
	for (size_t i = 0; i < 4; i++) {
		if (i >= len)
			return 0;
		value |= (uint32_t)(buf[i] & 0x7f) << (7 * i);
		if (!(buf[i] & 0x80)) {
			/* §1.5.5: the minimum number of bytes: a last byte of 0 after others is not */
			if (i > 0 && buf[i] == 0)
				return FB_MQTT_EVARINT;
			*v = value;
			return (int)i + 1;
		}
	}
	return FB_MQTT_EVARINT;
}

static int varint_len(uint32_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

bool fb_mqtt_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n;
		if (c < 0x80) {
			if (c == 0)
				return false;     /* §1.5.4: U+0000 must not appear */
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			cp = c & 0x1f; n = 1;
		} else if ((c & 0xf0) == 0xe0) {
			cp = c & 0x0f; n = 2;
		} else if ((c & 0xf8) == 0xf0) {
			cp = c & 0x07; n = 3;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates (§1.5.4), beyond U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += n + 1;
	}
	return true;
}

bool fb_mqtt_topic_name_valid(const uint8_t *s, size_t len)
{
	if (len == 0 || !fb_mqtt_utf8_valid(s, len))
		return false;
	return !memchr(s, '+', len) && !memchr(s, '#', len);
}

/* ---- encoding ---- */

/* A writer that only counts when buf is NULL (the sizing pass). */
struct wr {
	uint8_t *buf;
	size_t len;
};

static void put(struct wr *w, const void *src, size_t n)
{
	if (w->buf && n)
		memcpy(w->buf + w->len, src, n);
	w->len += n;
}

static void put8(struct wr *w, uint8_t v) { put(w, &v, 1); }
static void put16(struct wr *w, uint16_t v) { uint8_t b[2] = { v >> 8, v & 0xff }; put(w, b, 2); }
static void put32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff };
	put(w, b, 4);
}
static void putvar(struct wr *w, uint32_t v) { uint8_t b[4]; put(w, b, (size_t)fb_mqtt_varint_encode(v, b)); }

static int putbin(struct wr *w, struct fb_mqtt_bytes s)
{
	if (s.len > 65535 || (s.len && !s.p))
		return FB_MQTT_EINVAL;
	put16(w, (uint16_t)s.len);
	put(w, s.p, s.len);
	return 0;
}

static int putstr(struct wr *w, struct fb_mqtt_bytes s)
{
	if (s.len && !fb_mqtt_utf8_valid(s.p, s.len))
		return FB_MQTT_EUTF8;
	return putbin(w, s);
}

static int props_body(struct wr *w, const struct fb_mqtt_props *ps, unsigned where)
{
	for (unsigned i = 0; i < ps->n; i++) {
		const struct fb_mqtt_prop *pr = &ps->p[i];
		struct pinfo info = prop_info(pr->id);
		if (info.type == PT_NONE || !(info.allowed & M(where)))
			return FB_MQTT_EPROP;
		int rc = 0;
		put8(w, pr->id);
		switch (info.type) {
		case PT_BYTE: put8(w, (uint8_t)pr->num); break;
		case PT_U16: put16(w, (uint16_t)pr->num); break;
		case PT_U32: put32(w, pr->num); break;
		case PT_VARINT:
			if (pr->num > VARINT_MAX)
				return FB_MQTT_EINVAL;
			putvar(w, pr->num);
			break;
		case PT_STR: rc = putstr(w, pr->str); break;
		case PT_BIN: rc = putbin(w, pr->str); break;
		case PT_PAIR:
			rc = putstr(w, pr->str);
			if (!rc)
				rc = putstr(w, pr->str2);
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int put_props(struct wr *w, const struct fb_mqtt_props *ps, unsigned where)
{
	struct wr count = { NULL, 0 };
	int rc = props_body(&count, ps, where);
	if (rc)
		return rc;
	if (count.len > VARINT_MAX)
		return FB_MQTT_EINVAL;
	putvar(w, (uint32_t)count.len);
	return props_body(w, ps, where);
}

static int body(struct wr *w, const struct fb_mqtt_packet *p, uint8_t version)
{
	bool v5 = version >= FB_MQTT_V5;
	int rc = 0;
	switch (p->type) {
	case FB_MQTT_CONNECT: {
		uint8_t level = p->version ? p->version : version;
		v5 = level >= FB_MQTT_V5;
		if (level == FB_MQTT_V31)
			rc = putstr(w, FB_MQTT_STR("MQIsdp"));
		else if (level == FB_MQTT_V311 || level == FB_MQTT_V5)
			rc = putstr(w, FB_MQTT_STR("MQTT"));
		else
			return FB_MQTT_EINVAL;
		if (p->has_will && p->will_qos > 2)
			return FB_MQTT_EINVAL;
		if (p->has_password && !p->has_username && !v5)
			return FB_MQTT_EINVAL;    /* 3.1.1 §3.1.2.9 */
		put8(w, level);
		put8(w, (uint8_t)((p->has_username ? 0x80 : 0) | (p->has_password ? 0x40 : 0) |
		                  (p->has_will && p->will_retain ? 0x20 : 0) |
		                  (p->has_will ? (p->will_qos << 3) | 0x04 : 0) |
		                  (p->clean_start ? 0x02 : 0)));
		put16(w, p->keepalive);
		if (v5 && (rc = put_props(w, &p->props, FB_MQTT_CONNECT)))
			return rc;
		if ((rc = putstr(w, p->client_id)))
			return rc;
		if (p->has_will) {
			if (v5 && (rc = put_props(w, &p->will_props, WILL)))
				return rc;
			if (!fb_mqtt_topic_name_valid(p->will_topic.p, p->will_topic.len))
				return FB_MQTT_EUTF8;
			if ((rc = putstr(w, p->will_topic)) || (rc = putbin(w, p->will_payload)))
				return rc;
		}
		if (p->has_username && (rc = putstr(w, p->username)))
			return rc;
		if (p->has_password && (rc = putbin(w, p->password)))
			return rc;
		return 0;
	}
	case FB_MQTT_CONNACK:
		put8(w, p->session_present ? 1 : 0);
		put8(w, p->reason);
		return v5 ? put_props(w, &p->props, FB_MQTT_CONNACK) : 0;
	case FB_MQTT_PUBLISH:
		if (p->qos > 2 || (p->qos && !p->packet_id) || (!p->qos && p->dup))
			return FB_MQTT_EINVAL;
		/* An empty topic is allowed in v5 only with a topic alias (§3.3.2.1). */
		if (p->topic.len || !v5 || !fb_mqtt_prop_get(&p->props, FB_MQTT_P_TOPIC_ALIAS)) {
			if (!fb_mqtt_topic_name_valid(p->topic.p, p->topic.len))
				return FB_MQTT_EUTF8;
		}
		if ((rc = putbin(w, p->topic)))
			return rc;
		if (p->qos)
			put16(w, p->packet_id);
		if (v5 && (rc = put_props(w, &p->props, FB_MQTT_PUBLISH)))
			return rc;
		if (p->payload.len && !p->payload.p)
			return FB_MQTT_EINVAL;
		put(w, p->payload.p, p->payload.len);
		return 0;
	case FB_MQTT_PUBACK: case FB_MQTT_PUBREC: case FB_MQTT_PUBREL: case FB_MQTT_PUBCOMP:
		if (!p->packet_id)
			return FB_MQTT_EINVAL;
		put16(w, p->packet_id);
		/* §3.4.2.1: reason and properties may be left out when success without properties */
		if (v5 && (p->reason || p->props.n)) {
			put8(w, p->reason);
			if (p->props.n)
				return put_props(w, &p->props, p->type);
		}
		return 0;
	case FB_MQTT_SUBSCRIBE: case FB_MQTT_UNSUBSCRIBE:
		if (!p->packet_id || p->nsubs == 0 || p->nsubs > FB_MQTT_MAX_TOPICS)
			return FB_MQTT_EINVAL;
		put16(w, p->packet_id);
		if (v5 && (rc = put_props(w, &p->props, p->type)))
			return rc;
		for (unsigned i = 0; i < p->nsubs; i++) {
			if (!p->subs[i].filter.len)
				return FB_MQTT_EINVAL;
			if ((rc = putstr(w, p->subs[i].filter)))
				return rc;
			if (p->type == FB_MQTT_SUBSCRIBE) {
				if ((p->subs[i].options & 3) == 3 || (p->subs[i].options & (v5 ? 0xc0 : 0xfc)))
					return FB_MQTT_EINVAL;
				put8(w, p->subs[i].options);
			}
		}
		return 0;
	case FB_MQTT_SUBACK: case FB_MQTT_UNSUBACK:
		if (!p->packet_id || p->nsubs > FB_MQTT_MAX_TOPICS)
			return FB_MQTT_EINVAL;
		if (p->type == FB_MQTT_SUBACK && p->nsubs == 0)
			return FB_MQTT_EINVAL;
		put16(w, p->packet_id);
		if (v5 && (rc = put_props(w, &p->props, p->type)))
			return rc;
		if (p->type == FB_MQTT_SUBACK || v5)
			for (unsigned i = 0; i < p->nsubs; i++)
				put8(w, p->subs[i].options);
		return 0;
	case FB_MQTT_PINGREQ: case FB_MQTT_PINGRESP:
		return 0;
	case FB_MQTT_DISCONNECT:
		if (v5 && (p->reason || p->props.n)) {
			put8(w, p->reason);
			if (p->props.n)
				return put_props(w, &p->props, FB_MQTT_DISCONNECT);
		}
		return 0;
	case FB_MQTT_AUTH:
		if (!v5)
			return FB_MQTT_EVERSION;
		if (p->reason || p->props.n) {
			put8(w, p->reason);
			return put_props(w, &p->props, FB_MQTT_AUTH);
		}
		return 0;
	default:
		return FB_MQTT_EINVAL;
	}
}

static uint8_t first_byte(const struct fb_mqtt_packet *p)
{
	uint8_t flags = 0;
	if (p->type == FB_MQTT_PUBLISH)
		flags = (uint8_t)((p->dup ? 8 : 0) | (p->qos << 1) | (p->retain ? 1 : 0));
	else if (p->type == FB_MQTT_PUBREL || p->type == FB_MQTT_SUBSCRIBE || p->type == FB_MQTT_UNSUBSCRIBE)
		flags = 2;     /* §2.1.3: reserved flags 0010 */
	return (uint8_t)(p->type << 4 | flags);
}

static ssize_t body_len_of(const struct fb_mqtt_packet *p, uint8_t version, uint32_t *body_len)
{
	struct wr count = { NULL, 0 };
	int rc = body(&count, p, version);
	if (rc)
		return rc;
	if (count.len > VARINT_MAX)
		return FB_MQTT_EINVAL;
	*body_len = (uint32_t)count.len;
	return (ssize_t)(1 + varint_len(*body_len) + count.len);
}

ssize_t fb_mqtt_encoded_len(const struct fb_mqtt_packet *p, uint8_t version)
{
	uint32_t body_len = 0;
	return body_len_of(p, version, &body_len);
}

ssize_t fb_mqtt_encode(const struct fb_mqtt_packet *p, uint8_t version, uint8_t *buf, size_t cap)
{
	uint32_t body_len = 0;
	ssize_t total = body_len_of(p, version, &body_len);
	if (total < 0)
		return total;
	if ((size_t)total > cap)
		return FB_MQTT_ENOSPC;
	struct wr w = { buf, 0 };
	put8(&w, first_byte(p));
	putvar(&w, body_len);
	body(&w, p, version);
	return total;
}

/* ---- decoding ---- */

struct rd {
	const uint8_t *p;
	size_t len, pos;
};

static size_t left(const struct rd *r) { return r->len - r->pos; }

static int get8(struct rd *r, uint8_t *v)
{
	if (left(r) < 1)
		return FB_MQTT_ETRUNC;
	*v = r->p[r->pos++];
	return 0;
}

static int get16(struct rd *r, uint16_t *v)
{
	if (left(r) < 2)
		return FB_MQTT_ETRUNC;
	*v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
	r->pos += 2;
	return 0;
}

static int get32(struct rd *r, uint32_t *v)
{
	if (left(r) < 4)
		return FB_MQTT_ETRUNC;
	const uint8_t *b = r->p + r->pos;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	r->pos += 4;
	return 0;
}

static int getvar(struct rd *r, uint32_t *v)
{
	int n = fb_mqtt_varint_decode(r->p + r->pos, left(r), v);
	if (n == 0)
		return FB_MQTT_ETRUNC;
	if (n < 0)
		return n;
	r->pos += (size_t)n;
	return 0;
}

static int getbin(struct rd *r, struct fb_mqtt_bytes *s)
{
	uint16_t n;
	int rc = get16(r, &n);
	if (rc)
		return rc;
	if (left(r) < n)
		return FB_MQTT_ETRUNC;
	s->p = r->p + r->pos;
	s->len = n;
	r->pos += n;
	return 0;
}

static int getstr(struct rd *r, struct fb_mqtt_bytes *s)
{
	int rc = getbin(r, s);
	if (rc)
		return rc;
	return fb_mqtt_utf8_valid(s->p, s->len) ? 0 : FB_MQTT_EUTF8;
}

static int get_props(struct rd *r, struct fb_mqtt_props *ps, unsigned where)
{
	uint32_t total;
	int rc = getvar(r, &total);
	if (rc)
		return rc;
	if (left(r) < total)
		return FB_MQTT_ETRUNC;
	struct rd sub = { r->p + r->pos, total, 0 };
	r->pos += total;
	ps->n = 0;
	uint64_t seen = 0;
	while (left(&sub)) {
		uint32_t id;
		/* the identifier is a varint (§2.2.2.2), all defined ones fit in one byte */
		if ((rc = getvar(&sub, &id)))
			return rc == FB_MQTT_ETRUNC ? FB_MQTT_EMALFORMED : rc;
		struct pinfo info = id < 64 ? prop_info((uint8_t)id) : (struct pinfo){ PT_NONE, 0 };
		if (info.type == PT_NONE || !(info.allowed & M(where)))
			return FB_MQTT_EPROP;
		bool may_repeat = id == FB_MQTT_P_USER_PROPERTY ||
		                  (id == FB_MQTT_P_SUBSCRIPTION_ID && where == FB_MQTT_PUBLISH);
		if (!may_repeat && (seen & (1ull << id)))
			return FB_MQTT_EPROPDUP;
		seen |= 1ull << id;
		struct fb_mqtt_prop pr = { .id = (uint8_t)id };
		uint8_t b;
		uint16_t h;
		switch (info.type) {
		case PT_BYTE: rc = get8(&sub, &b); pr.num = b; break;
		case PT_U16: rc = get16(&sub, &h); pr.num = h; break;
		case PT_U32: rc = get32(&sub, &pr.num); break;
		case PT_VARINT: rc = getvar(&sub, &pr.num); break;
		case PT_STR: rc = getstr(&sub, &pr.str); break;
		case PT_BIN: rc = getbin(&sub, &pr.str); break;
		case PT_PAIR:
			rc = getstr(&sub, &pr.str);
			if (!rc)
				rc = getstr(&sub, &pr.str2);
			break;
		}
		if (rc)
			return rc;
		/* Values the specification bounds (§3.1.2.11, §3.2.2.3, §3.3.2.3) */
		if ((id == FB_MQTT_P_PAYLOAD_FORMAT || id == FB_MQTT_P_REQUEST_PROBLEM_INFO ||
		     id == FB_MQTT_P_REQUEST_RESPONSE_INFO || id == FB_MQTT_P_MAXIMUM_QOS ||
		     id == FB_MQTT_P_RETAIN_AVAILABLE || id == FB_MQTT_P_WILDCARD_SUB_AVAILABLE ||
		     id == FB_MQTT_P_SUB_ID_AVAILABLE || id == FB_MQTT_P_SHARED_SUB_AVAILABLE) && pr.num > 1)
			return FB_MQTT_EMALFORMED;
		if ((id == FB_MQTT_P_RECEIVE_MAXIMUM || id == FB_MQTT_P_MAXIMUM_PACKET_SIZE ||
		     id == FB_MQTT_P_SUBSCRIPTION_ID || id == FB_MQTT_P_TOPIC_ALIAS) && pr.num == 0)
			return FB_MQTT_EMALFORMED;
		/* A packet with more properties than we keep: the rest are checked, not stored. */
		if (ps->n < FB_MQTT_MAX_PROPS)
			ps->p[ps->n++] = pr;
	}
	return 0;
}

static int decode_connect(struct rd *r, struct fb_mqtt_packet *p)
{
	struct fb_mqtt_bytes name;
	uint8_t flags;
	int rc;
	if ((rc = getbin(r, &name)) || (rc = get8(r, &p->version)) || (rc = get8(r, &flags)) ||
	    (rc = get16(r, &p->keepalive)))
		return rc;
	bool mqtt = name.len == 4 && !memcmp(name.p, "MQTT", 4);
	bool mqisdp = name.len == 6 && !memcmp(name.p, "MQIsdp", 6);
	if (!((mqtt && (p->version == 4 || p->version == 5)) || (mqisdp && p->version == 3)))
		return FB_MQTT_EVERSION;
	bool v5 = p->version == FB_MQTT_V5;
	if (flags & 0x01)
		return FB_MQTT_EMALFORMED;          /* §3.1.2.3 reserved */
	p->clean_start = flags & 0x02;
	p->has_will = flags & 0x04;
	p->will_qos = (flags >> 3) & 3;
	p->will_retain = flags & 0x20;
	p->has_password = flags & 0x40;
	p->has_username = flags & 0x80;
	if (p->will_qos == 3 || (!p->has_will && (p->will_qos || p->will_retain)))
		return FB_MQTT_EMALFORMED;          /* §3.1.2.6, §3.1.2.7 */
	if (!v5 && p->has_password && !p->has_username)
		return FB_MQTT_EMALFORMED;          /* 3.1.1 §3.1.2.9 */
	if (v5 && (rc = get_props(r, &p->props, FB_MQTT_CONNECT)))
		return rc;
	if ((rc = getstr(r, &p->client_id)))
		return rc;
	if (p->has_will) {
		if (v5 && (rc = get_props(r, &p->will_props, WILL)))
			return rc;
		if ((rc = getstr(r, &p->will_topic)) || (rc = getbin(r, &p->will_payload)))
			return rc;
		if (!fb_mqtt_topic_name_valid(p->will_topic.p, p->will_topic.len))
			return FB_MQTT_EMALFORMED;
	}
	if (p->has_username && (rc = getstr(r, &p->username)))
		return rc;
	if (p->has_password && (rc = getbin(r, &p->password)))
		return rc;
	return 0;
}

static int decode_body(struct rd *r, uint8_t flags, uint8_t version, struct fb_mqtt_packet *p)
{
	bool v5 = version >= FB_MQTT_V5;
	int rc;
	switch (p->type) {
	case FB_MQTT_CONNECT:
		return decode_connect(r, p);
	case FB_MQTT_CONNACK: {
		uint8_t ack;
		if ((rc = get8(r, &ack)) || (rc = get8(r, &p->reason)))
			return rc;
		if (ack & 0xfe)
			return FB_MQTT_EMALFORMED;      /* §3.2.2.1 reserved bits */
		p->session_present = ack & 1;
		return v5 ? get_props(r, &p->props, FB_MQTT_CONNACK) : 0;
	}
	case FB_MQTT_PUBLISH:
		p->dup = flags & 8;
		p->qos = (flags >> 1) & 3;
		p->retain = flags & 1;
		if (p->qos == 3 || (p->qos == 0 && p->dup))
			return FB_MQTT_EMALFORMED;      /* §3.3.1.2, §3.3.1.1 */
		if ((rc = getstr(r, &p->topic)))
			return rc;
		if (p->topic.len && (memchr(p->topic.p, '+', p->topic.len) || memchr(p->topic.p, '#', p->topic.len)))
			return FB_MQTT_EMALFORMED;      /* §3.3.2.1: no wildcards in a topic name */
		if (p->qos) {
			if ((rc = get16(r, &p->packet_id)))
				return rc;
			if (!p->packet_id)
				return FB_MQTT_EMALFORMED;  /* §2.2.1: non-zero */
		}
		if (v5 && (rc = get_props(r, &p->props, FB_MQTT_PUBLISH)))
			return rc;
		if (!p->topic.len && !(v5 && fb_mqtt_prop_get(&p->props, FB_MQTT_P_TOPIC_ALIAS)))
			return FB_MQTT_EMALFORMED;
		p->payload.p = r->p + r->pos;
		p->payload.len = (uint32_t)left(r);
		r->pos = r->len;
		return 0;
	case FB_MQTT_PUBACK: case FB_MQTT_PUBREC: case FB_MQTT_PUBREL: case FB_MQTT_PUBCOMP:
		if ((rc = get16(r, &p->packet_id)))
			return rc;
		if (!p->packet_id)
			return FB_MQTT_EMALFORMED;
		if (v5 && left(r) >= 1 && (rc = get8(r, &p->reason)))
			return rc;
		if (v5 && left(r) >= 1 && (rc = get_props(r, &p->props, p->type)))
			return rc;
		return 0;
	case FB_MQTT_SUBSCRIBE: case FB_MQTT_UNSUBSCRIBE:
		if ((rc = get16(r, &p->packet_id)))
			return rc;
		if (!p->packet_id)
			return FB_MQTT_EMALFORMED;
		if (v5 && (rc = get_props(r, &p->props, p->type)))
			return rc;
		if (!left(r))
			return FB_MQTT_EMALFORMED;      /* §3.8.3: at least one topic filter */
		while (left(r)) {
			struct fb_mqtt_sub s = { { NULL, 0 }, 0 };
			if ((rc = getstr(r, &s.filter)))
				return rc;
			if (!s.filter.len)
				return FB_MQTT_EMALFORMED;
			if (p->type == FB_MQTT_SUBSCRIBE) {
				if ((rc = get8(r, &s.options)))
					return rc;
				if ((s.options & 3) == 3 || (s.options & (v5 ? 0xc0 : 0xfc)))
					return FB_MQTT_EMALFORMED;
			}
			if (p->nsubs < FB_MQTT_MAX_TOPICS)
				p->subs[p->nsubs++] = s;
			else
				return FB_MQTT_ETOOBIG;
		}
		return 0;
	case FB_MQTT_SUBACK: case FB_MQTT_UNSUBACK:
		if ((rc = get16(r, &p->packet_id)))
			return rc;
		if (!p->packet_id)
			return FB_MQTT_EMALFORMED;
		if (v5 && (rc = get_props(r, &p->props, p->type)))
			return rc;
		if (p->type == FB_MQTT_UNSUBACK && !v5)
			return 0;
		if (!left(r))
			return FB_MQTT_EMALFORMED;
		while (left(r)) {
			if (p->nsubs >= FB_MQTT_MAX_TOPICS)
				return FB_MQTT_ETOOBIG;
			get8(r, &p->subs[p->nsubs++].options);
		}
		return 0;
	case FB_MQTT_PINGREQ: case FB_MQTT_PINGRESP:
		return 0;
	case FB_MQTT_DISCONNECT:
		if (v5 && left(r) >= 1 && (rc = get8(r, &p->reason)))
			return rc;
		if (v5 && left(r) >= 1 && (rc = get_props(r, &p->props, FB_MQTT_DISCONNECT)))
			return rc;
		return 0;
	case FB_MQTT_AUTH:
		if (!v5)
			return FB_MQTT_EVERSION;
		if (left(r) >= 1 && (rc = get8(r, &p->reason)))
			return rc;
		if (left(r) >= 1 && (rc = get_props(r, &p->props, FB_MQTT_AUTH)))
			return rc;
		return 0;
	default:
		return FB_MQTT_ETYPE;
	}
}

int fb_mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, struct fb_mqtt_packet *out)
{
	memset(out, 0, offsetof(struct fb_mqtt_packet, subs));
	out->nsubs = 0;
	out->props.n = 0;
	out->will_props.n = 0;
	if (len < 2)
		return FB_MQTT_ETRUNC;
	uint8_t type = buf[0] >> 4, flags = buf[0] & 0x0f;
	if (type == 0)
		return FB_MQTT_ETYPE;
	/* §2.1.3: fixed flags per type */
	uint8_t want = (type == FB_MQTT_PUBREL || type == FB_MQTT_SUBSCRIBE || type == FB_MQTT_UNSUBSCRIBE) ? 2 : 0;
	if (type != FB_MQTT_PUBLISH && flags != want)
		return FB_MQTT_ETYPE;
	if (type == FB_MQTT_AUTH && version < FB_MQTT_V5)
		return FB_MQTT_EVERSION;
	uint32_t rl;
	int n = fb_mqtt_varint_decode(buf + 1, len - 1, &rl);
	if (n == 0)
		return FB_MQTT_ETRUNC;
	if (n < 0)
		return n;
	if ((size_t)n + 1 + rl != len)
		return (size_t)n + 1 + rl > len ? FB_MQTT_ETRUNC : FB_MQTT_EMALFORMED;
	out->type = type;
	struct rd r = { buf + 1 + n, rl, 0 };
	int rc = decode_body(&r, flags, version, out);
	if (rc)
		return rc;
	/* Fixed-size packets of 3.1.1 and any trailing garbage */
	if (left(&r))
		return FB_MQTT_EMALFORMED;
	return 0;
}

/* ---- incremental decoder ---- */

void fb_mqtt_decoder_init(struct fb_mqtt_decoder *d, uint8_t *buf, size_t cap, uint32_t max_packet,
                          uint8_t version)
{
	*d = (struct fb_mqtt_decoder){ .buf = buf, .cap = cap, .max_packet = max_packet, .version = version };
}

uint8_t *fb_mqtt_decoder_space(struct fb_mqtt_decoder *d, size_t *room)
{
	if (d->start) {
		memmove(d->buf, d->buf + d->start, d->len);
		d->start = 0;
	}
	*room = d->cap - d->len;
	return d->buf + d->len;
}

void fb_mqtt_decoder_commit(struct fb_mqtt_decoder *d, size_t n)
{
	d->len += n;
}

void fb_mqtt_decoder_rebuffer(struct fb_mqtt_decoder *d, uint8_t *newbuf, size_t newcap)
{
	memmove(newbuf, d->buf + d->start, d->len);
	d->buf = newbuf;
	d->cap = newcap;
	d->start = 0;
}

void fb_mqtt_decoder_reset(struct fb_mqtt_decoder *d)
{
	d->start = d->len = 0;
	d->need = 0;
}

int fb_mqtt_decoder_next(struct fb_mqtt_decoder *d, struct fb_mqtt_packet *out)
{
	const uint8_t *b = d->buf + d->start;
	d->need = 0;
	if (d->len < 2)
		return 0;
	uint32_t rl;
	int n = fb_mqtt_varint_decode(b + 1, d->len - 1, &rl);
	if (n < 0)
		return n;
	if (n == 0)
		return 0;
	uint64_t total = 1 + (uint64_t)n + rl;
	if (total > d->max_packet)
		return FB_MQTT_ETOOBIG;
	if (total > d->len) {
		if (total > d->cap)
			d->need = (uint32_t)total;
		return 0;
	}
	int rc = fb_mqtt_decode(b, (size_t)total, d->version, out);
	if (rc)
		return rc;
	d->start += (size_t)total;
	d->len -= (size_t)total;
	return 1;
}
