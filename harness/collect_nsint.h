/* The LoRaWAN network-server integration collector (fb_collector_nsint, harness/collect.h): for
 * `run --collect-lorawan URL`, where the simulated gateways talk to a real network server
 * (ChirpStack v4, The Things Stack v3) and the bench reconciles what that server's MQTT
 * integration publishes, decrypted, against the trace.
 *
 * - URL: chirpstack://host[:1883], tts://host[:1883], and over TLS chirpstack+mqtts://host[:8883],
 *   tts+mqtts://host[:8883]; an optional user[:password]@ before the host (the last '@' ends it,
 *   so a TTS user "app@tenant" needs no escaping). cfg->ca/cert/key as for the MQTT collector.
 * - Subscribes (QoS 1, MQTT 5, session kept across a reconnect) to cfg->topic_filter, else
 *   `application/+/device/+/event/up` (ChirpStack) or `v3/+/devices/+/up` (TTS); ready once its
 *   own probe message came back, as the MQTT collector (harness/collect_mqtt.c), or 2 s after
 *   CONNACK from a broker that does not echo it (TTS takes only its own v3/ topics); the probe
 *   is sent once, at QoS 0, so a broker that closes the connection on it does not see it again.
 * - Each uplink event is one observation: proto "lorawan", the device found by its DevEUI among
 *   this shard's LoRaWAN devices (keys as the transport has them: derived from the seed or the
 *   scenario's keys file), key = fcnt = the 32-bit FCnt the server reports (the key the LoRaWAN
 *   transport gives env.sent), values decoded from the decrypted FRMPayload with the fleet's
 *   codec (the server's own codec output is ignored), gateways = the rxInfo / rx_metadata
 *   entries. Bad JSON, missing or mistyped fields, bad base64, unknown DevEUI, undecodable
 *   payloads: observations with flags, counted, logged once per kind (an FCnt that cannot be
 *   read gives the key UINT64_MAX, which matches no message sent). Other events (join,
 *   status, ack, ...: another topic or no uplink in the message) and uplinks with no FPort
 *   (MAC commands only) are counted and ignored; devices of other shards are counted as foreign.
 * Nothing is allocated per message (the JSON is read in place). */
#ifndef FB_COLLECT_NSINT_H
#define FB_COLLECT_NSINT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "harness/collect.h"

enum fb_nsint_format { FB_NSINT_CHIRPSTACK, FB_NSINT_TTS };

struct fb_nsint_url {
	enum fb_nsint_format format;
	bool tls;
	char host[256];
	uint16_t port;
	char username[256], password[256];   /* "" when not given */
	bool has_username, has_password;
};

/* Parses a --collect-lorawan URL. Returns 0, or -1 after fb_error naming the accepted forms. */
int fb_nsint_url_parse(const char *url, struct fb_nsint_url *out);

/* The default subscription of a format. */
const char *fb_nsint_default_filter(enum fb_nsint_format f);

/* One integration message, parsed (no device lookup, no payload decoding). */
#define FB_NSINT_MAX_DATA 256
struct fb_nsint_up {
	uint64_t dev_eui;
	char dev_eui_hex[17];               /* as carried, lowercased ("" when absent) */
	uint32_t fcnt;                      /* absent: 0 (both servers omit zero values) */
	bool fcnt_valid;                    /* false when the FCnt is there but not a 32-bit count */
	int fport;                          /* absent: 0 */
	uint8_t data[FB_NSINT_MAX_DATA];
	size_t data_len;
	uint32_t gateways;                  /* rxInfo / rx_metadata entries */
	const char *detail;                 /* what was wrong, for the errors below */
};

enum fb_nsint_parse_result {
	FB_NSINT_UP = 0,            /* an uplink event, fields in out */
	FB_NSINT_OTHER = 1,         /* another event type (join, status, ack, ...): ignore */
	FB_NSINT_EJSON = -1,        /* not JSON, or not an object */
	FB_NSINT_EFIELD = -2,       /* the DevEUI missing or not 16 hex digits, a field of the wrong
	                               type, FCnt / FPort out of range */
	FB_NSINT_EBASE64 = -3       /* the payload not padded base64, or longer than
	                               FB_NSINT_MAX_DATA */
};

/* Parses one message of format f that arrived on topic[0..topic_len). dev_eui_hex is filled as
 * soon as the DevEUI was read, so an error after it still names the device. */
enum fb_nsint_parse_result fb_nsint_parse(enum fb_nsint_format f, const char *topic, size_t topic_len,
                                          const uint8_t *json, size_t len, struct fb_nsint_up *out);

/* Handles one message as if it had arrived from the broker (tests). */
void fb_collector_nsint_feed(struct fb_collector *c, const char *topic, const uint8_t *payload,
                             size_t len);

struct fb_nsint_counters {
	uint64_t messages, bytes, uplinks;   /* uplinks: observed without flags */
	uint64_t other_events, no_fport, bad_json, bad_field, bad_base64, unknown_devices,
	         undecodable, foreign, retained;
};
const struct fb_nsint_counters *fb_collector_nsint_counters(const struct fb_collector *c);

#endif
