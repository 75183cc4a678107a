/* MQTT 3.1.1 (OASIS 2014) and 5.0 (OASIS 2019) control packets: a pure codec. Encoding writes
 * into a caller's buffer; decoding is incremental (bytes as they arrive) and zero-copy (the
 * decoded strings point into the decoder's buffer). Nothing here allocates or does I/O.
 *
 * Every packet type of both versions is covered, with MQTT 5 properties (checked against the
 * packet they may appear in, repeats only where allowed), reason codes, the remaining-length
 * varint (minimal encoding, at most 4 bytes) and UTF-8 string rules (§1.5.4: well-formed, no
 * U+0000, no surrogates). A malformed packet is an error code, never a crash or an overread. */
#ifndef FB_MQTT_PACKET_H
#define FB_MQTT_PACKET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

enum fb_mqtt_version { FB_MQTT_V31 = 3, FB_MQTT_V311 = 4, FB_MQTT_V5 = 5 };

enum fb_mqtt_type {
	FB_MQTT_CONNECT = 1, FB_MQTT_CONNACK, FB_MQTT_PUBLISH, FB_MQTT_PUBACK, FB_MQTT_PUBREC,
	FB_MQTT_PUBREL, FB_MQTT_PUBCOMP, FB_MQTT_SUBSCRIBE, FB_MQTT_SUBACK, FB_MQTT_UNSUBSCRIBE,
	FB_MQTT_UNSUBACK, FB_MQTT_PINGREQ, FB_MQTT_PINGRESP, FB_MQTT_DISCONNECT, FB_MQTT_AUTH
};
const char *fb_mqtt_type_name(int type);      /* "CONNECT", ...; "reserved" otherwise */

enum fb_mqtt_err {
	FB_MQTT_OK = 0,
	FB_MQTT_ENOSPC = -1,      /* encode: the buffer is too small */
	FB_MQTT_EVARINT = -2,     /* remaining length or varint: more than 4 bytes or not minimal */
	FB_MQTT_ETRUNC = -3,      /* a field runs past the end of the packet */
	FB_MQTT_ETOOBIG = -4,     /* packet larger than the decoder's maximum */
	FB_MQTT_ETYPE = -5,       /* reserved packet type or wrong fixed-header flags */
	FB_MQTT_EPROP = -6,       /* unknown property id, or not allowed in this packet */
	FB_MQTT_EPROPDUP = -7,    /* a property that may appear once appears twice */
	FB_MQTT_EUTF8 = -8,       /* a string that is not valid MQTT UTF-8 */
	FB_MQTT_EMALFORMED = -9,  /* any other violation (bad QoS, reserved bit, extra bytes, ...) */
	FB_MQTT_EVERSION = -10,   /* packet not defined in this protocol version (AUTH in 3.1.1) */
	FB_MQTT_EINVAL = -11      /* encode: inconsistent packet (too many items, QoS 3, ...) */
};
const char *fb_mqtt_strerror(int err);

/* Reason codes (MQTT 5 §2.4) that the client names in its counters. */
enum fb_mqtt_reason {
	FB_MQTT_RC_SUCCESS = 0x00, FB_MQTT_RC_GRANTED_QOS1 = 0x01, FB_MQTT_RC_GRANTED_QOS2 = 0x02,
	FB_MQTT_RC_DISCONNECT_WITH_WILL = 0x04, FB_MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
	FB_MQTT_RC_UNSPECIFIED = 0x80, FB_MQTT_RC_MALFORMED = 0x81, FB_MQTT_RC_PROTOCOL_ERROR = 0x82,
	FB_MQTT_RC_IMPL_SPECIFIC = 0x83, FB_MQTT_RC_UNSUPPORTED_VERSION = 0x84,
	FB_MQTT_RC_BAD_CLIENT_ID = 0x85, FB_MQTT_RC_BAD_USERNAME_PASSWORD = 0x86,
	FB_MQTT_RC_NOT_AUTHORIZED = 0x87, FB_MQTT_RC_SERVER_UNAVAILABLE = 0x88,
	FB_MQTT_RC_SERVER_BUSY = 0x89, FB_MQTT_RC_BANNED = 0x8A, FB_MQTT_RC_KEEPALIVE_TIMEOUT = 0x8D,
	FB_MQTT_RC_SESSION_TAKEN_OVER = 0x8E, FB_MQTT_RC_TOPIC_NAME_INVALID = 0x90,
	FB_MQTT_RC_PACKET_ID_IN_USE = 0x91, FB_MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
	FB_MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93, FB_MQTT_RC_PACKET_TOO_LARGE = 0x95,
	FB_MQTT_RC_QUOTA_EXCEEDED = 0x97, FB_MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
	FB_MQTT_RC_QOS_NOT_SUPPORTED = 0x9B
};
/* "success", "bad user name or password", ... for an MQTT 5 reason code; for a 3.1.1 CONNACK
 * return code (1-5) use fb_mqtt_connack_name(). */
const char *fb_mqtt_reason_name(uint8_t code);
/* A CONNACK code of either version, named: 3.1.1 codes 1-5 are mapped to their meaning. */
const char *fb_mqtt_connack_name(uint8_t version, uint8_t code);

/* MQTT 5 property identifiers (§2.2.2.2). */
enum fb_mqtt_prop_id {
	FB_MQTT_P_PAYLOAD_FORMAT = 0x01, FB_MQTT_P_MESSAGE_EXPIRY = 0x02, FB_MQTT_P_CONTENT_TYPE = 0x03,
	FB_MQTT_P_RESPONSE_TOPIC = 0x08, FB_MQTT_P_CORRELATION_DATA = 0x09,
	FB_MQTT_P_SUBSCRIPTION_ID = 0x0B, FB_MQTT_P_SESSION_EXPIRY = 0x11,
	FB_MQTT_P_ASSIGNED_CLIENT_ID = 0x12, FB_MQTT_P_SERVER_KEEPALIVE = 0x13,
	FB_MQTT_P_AUTH_METHOD = 0x15, FB_MQTT_P_AUTH_DATA = 0x16, FB_MQTT_P_REQUEST_PROBLEM_INFO = 0x17,
	FB_MQTT_P_WILL_DELAY = 0x18, FB_MQTT_P_REQUEST_RESPONSE_INFO = 0x19,
	FB_MQTT_P_RESPONSE_INFO = 0x1A, FB_MQTT_P_SERVER_REFERENCE = 0x1C,
	FB_MQTT_P_REASON_STRING = 0x1F, FB_MQTT_P_RECEIVE_MAXIMUM = 0x21,
	FB_MQTT_P_TOPIC_ALIAS_MAXIMUM = 0x22, FB_MQTT_P_TOPIC_ALIAS = 0x23, FB_MQTT_P_MAXIMUM_QOS = 0x24,
	FB_MQTT_P_RETAIN_AVAILABLE = 0x25, FB_MQTT_P_USER_PROPERTY = 0x26,
	FB_MQTT_P_MAXIMUM_PACKET_SIZE = 0x27, FB_MQTT_P_WILDCARD_SUB_AVAILABLE = 0x28,
	FB_MQTT_P_SUB_ID_AVAILABLE = 0x29, FB_MQTT_P_SHARED_SUB_AVAILABLE = 0x2A
};

/* A run of bytes (string or binary); not NUL-terminated. */
struct fb_mqtt_bytes {
	const uint8_t *p;
	uint32_t len;
};
#define FB_MQTT_STR(s) ((struct fb_mqtt_bytes){ (const uint8_t *)(s), (uint32_t)strlen(s) })

struct fb_mqtt_prop {
	uint8_t id;
	uint32_t num;              /* byte, two-byte, four-byte and varint properties */
	struct fb_mqtt_bytes str;  /* string or binary; a user property's name */
	struct fb_mqtt_bytes str2; /* a user property's value */
};

#define FB_MQTT_MAX_PROPS 24
struct fb_mqtt_props {
	uint8_t n;
	struct fb_mqtt_prop p[FB_MQTT_MAX_PROPS];
};
/* The first property with this id, or NULL. */
const struct fb_mqtt_prop *fb_mqtt_prop_get(const struct fb_mqtt_props *ps, uint8_t id);
/* Appends a numeric / string property; returns 0 or FB_MQTT_EINVAL when full. */
int fb_mqtt_prop_add_num(struct fb_mqtt_props *ps, uint8_t id, uint32_t num);
int fb_mqtt_prop_add_str(struct fb_mqtt_props *ps, uint8_t id, struct fb_mqtt_bytes s);
int fb_mqtt_prop_add_user(struct fb_mqtt_props *ps, struct fb_mqtt_bytes name, struct fb_mqtt_bytes value);

#define FB_MQTT_MAX_TOPICS 16
struct fb_mqtt_sub {
	struct fb_mqtt_bytes filter;  /* SUBSCRIBE / UNSUBSCRIBE */
	uint8_t options;              /* SUBSCRIBE: QoS in bits 0-1 (v5: no-local 2, RAP 3, RH 4-5);
	                                 SUBACK / v5 UNSUBACK: the reason code */
};

/* One control packet of any type. Fields that do not apply to `type` are ignored by the encoder
 * and zero after decoding. */
struct fb_mqtt_packet {
	uint8_t type;               /* enum fb_mqtt_type */
	uint16_t packet_id;         /* PUBLISH QoS>0, PUBACK..PUBCOMP, (UN)SUBSCRIBE, (UN)SUBACK */
	uint8_t reason;             /* CONNACK code; v5 PUBACK..PUBCOMP, DISCONNECT, AUTH reason */
	bool session_present;       /* CONNACK */
	/* PUBLISH */
	uint8_t qos;
	bool retain, dup;
	struct fb_mqtt_bytes topic, payload;
	/* CONNECT */
	uint8_t version;            /* protocol level of a CONNECT (3, 4 or 5) */
	bool clean_start;
	uint16_t keepalive;         /* seconds */
	struct fb_mqtt_bytes client_id, username, password;
	bool has_username, has_password, has_will;
	uint8_t will_qos;
	bool will_retain;
	struct fb_mqtt_bytes will_topic, will_payload;
	struct fb_mqtt_props will_props;
	/* SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK */
	uint8_t nsubs;
	struct fb_mqtt_sub subs[FB_MQTT_MAX_TOPICS];
	/* MQTT 5 properties of the packet */
	struct fb_mqtt_props props;
};

/* Encodes p as protocol `version` (3/4/5; a CONNECT uses p->version) into buf. Returns the
 * packet's length, FB_MQTT_ENOSPC when cap is too small (nothing useful in buf then), or
 * FB_MQTT_EINVAL / FB_MQTT_EVERSION / FB_MQTT_EUTF8 when p cannot be encoded. */
ssize_t fb_mqtt_encode(const struct fb_mqtt_packet *p, uint8_t version, uint8_t *buf, size_t cap);
/* The length fb_mqtt_encode() would return (or the same negative error), writing nothing. */
ssize_t fb_mqtt_encoded_len(const struct fb_mqtt_packet *p, uint8_t version);

/* Decodes one whole packet (fixed header included) of exactly len bytes. Strings in out point
 * into buf. Returns 0 or a negative fb_mqtt_err. version is the connection's (for CONNECT, the
 * packet's own level is used). */
int fb_mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, struct fb_mqtt_packet *out);

/* Remaining-length varint (§1.5.5 / §2.1.4). encode: returns bytes written (1-4) into out[4], or
 * FB_MQTT_EINVAL for v > 268435455. decode: returns bytes consumed, 0 if more bytes are needed,
 * or FB_MQTT_EVARINT. */
int fb_mqtt_varint_encode(uint32_t v, uint8_t out[4]);
int fb_mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *v);
/* True if s is a valid MQTT UTF-8 string (§1.5.4). */
bool fb_mqtt_utf8_valid(const uint8_t *s, size_t len);
/* True if a topic *name* (PUBLISH) is valid: non-empty, valid UTF-8, no '+' or '#'. */
bool fb_mqtt_topic_name_valid(const uint8_t *s, size_t len);

/* The incremental decoder over a caller-owned buffer. The caller reads socket bytes into the
 * free space, commits them, and takes packets until next() returns 0:
 *
 *     size_t room; uint8_t *dst = fb_mqtt_decoder_space(&d, &room);
 *     ssize_t n = read(fd, dst, room); fb_mqtt_decoder_commit(&d, n);
 *     while ((rc = fb_mqtt_decoder_next(&d, &pkt)) > 0) handle(&pkt);
 *     if (rc < 0) close the connection (count fb_mqtt_strerror(rc));
 *
 * The decoded packet points into the buffer and stays valid until the next call to
 * fb_mqtt_decoder_space(), which moves unread bytes to the front. When a packet is larger than
 * the buffer but within max_packet, next() returns 0 with `need` set: the caller may give a
 * bigger buffer with fb_mqtt_decoder_rebuffer() (content is copied). */
struct fb_mqtt_decoder {
	uint8_t *buf;
	size_t cap, start, len;     /* unread bytes are buf[start, start + len) */
	uint32_t max_packet;        /* whole packet, fixed header included */
	uint32_t need;              /* bytes of the pending packet when it does not fit, else 0 */
	uint8_t version;
};
void fb_mqtt_decoder_init(struct fb_mqtt_decoder *d, uint8_t *buf, size_t cap, uint32_t max_packet,
                          uint8_t version);
uint8_t *fb_mqtt_decoder_space(struct fb_mqtt_decoder *d, size_t *room);
void fb_mqtt_decoder_commit(struct fb_mqtt_decoder *d, size_t n);
/* Copies unread bytes into newbuf (newcap >= unread bytes) and uses it from now on. */
void fb_mqtt_decoder_rebuffer(struct fb_mqtt_decoder *d, uint8_t *newbuf, size_t newcap);
/* 1 with a packet in *out, 0 when more bytes are needed, or a negative fb_mqtt_err (the stream
 * is unusable from then on: close the connection). */
int fb_mqtt_decoder_next(struct fb_mqtt_decoder *d, struct fb_mqtt_packet *out);
/* Drops buffered bytes (after a reconnect). */
void fb_mqtt_decoder_reset(struct fb_mqtt_decoder *d);

#endif
