/* Collectors: the bench's side of the wire. A collector receives what devices sent (an MQTT
 * subscriber, a LoRaWAN network-server endpoint on UDP, a Modbus poller), decodes it, and hands
 * one observation per message to a sink: the reconciliation of `run` (harness/recon.h) or the
 * conformance checks of `validate` (harness/validate.c). Collectors live on the one libev loop
 * and never block it; bad bytes are counted (and logged once per kind), never fatal.
 *
 * A collector is configured by an explicit struct, not by the scenario, so `run` (which fills it
 * from the scenario's transports: block, or from --local / --collect) and `validate` (which fills
 * it from its options) share it. */
#ifndef FB_COLLECT_H
#define FB_COLLECT_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <ev.h>
#include <jansson.h>
#include "sim/fbtime.h"
#include "sim/model.h"
#include "sim/scenario.h"

#define FB_OBS_NO_DEVICE UINT32_MAX
#define FB_OBS_MAX_FIELDS 32

/* What went wrong with a message, beyond loss (bit set; 0 = clean). Validate names each. */
enum fb_obs_flag {
	FB_OBS_UNDECODABLE = 1u << 0,   /* payload does not parse for its codec */
	FB_OBS_UNKNOWN_DEVICE = 1u << 1,/* device id / DevAddr not in the fleet (or not this shard) */
	FB_OBS_BAD_MIC = 1u << 2,       /* LoRaWAN: MIC does not verify */
	FB_OBS_BAD_FIELD = 1u << 3,     /* a field missing, of the wrong type, or unknown */
	FB_OBS_REPLAY = 1u << 4,        /* LoRaWAN: FCnt not increasing / DevNonce reused */
	FB_OBS_EXCEPTION = 1u << 5,     /* Modbus: exception reply */
	FB_OBS_TIMEOUT = 1u << 6,       /* Modbus: no reply within the poll timeout */
	FB_OBS_WRONG_VALUE = 1u << 7,   /* Modbus: the collector itself compared with values_now()
	                                   and a value differs (MQTT/LoRaWAN: recon compares) */
	FB_OBS_PARTIAL = 1u << 8        /* set with FB_OBS_BAD_FIELD when the only fault is fields
	                                   missing from the message (nothing unknown or mistyped):
	                                   e.g. a Sparkplug DDATA reporting by exception before its
	                                   DBIRTH was seen; validate judges completeness itself */
};

/* One received message, decoded. Valid only during the sink call. */
struct fb_obs {
	const char *proto;              /* "mqtt", "lorawan", "modbus" */
	uint32_t device;                /* global device index, or FB_OBS_NO_DEVICE */
	const char *device_id;          /* as carried on the wire (id, topic part, DevEUI hex) */
	const struct fb_model *model;   /* the device's type when known, else NULL */
	/* Message identity within the device, the same the transport passed to
	 * fb_transport_env.sent(): MQTT the sample's scheduled time in ms (every MQTT codec carries
	 * it), LoRaWAN the 32-bit FCnt, Modbus the poll number. */
	uint64_t key;
	int64_t seq;                    /* sample seq if the payload carries it, else -1 */
	fb_time_us ts;                  /* timestamp the payload carries, or FB_TIME_NEVER */
	fb_time_us recv_wall;           /* CLOCK_REALTIME µs when the message arrived */
	uint32_t flags;                 /* enum fb_obs_flag */
	/* Decoded field values, indexed as model->fields; bit i of `present` set when field i was
	 * in the message. tolerance[i]: the codec's precision for field i (a half-step), or NULL for
	 * "half the field's resolution". */
	unsigned nvalues;
	const double *values;
	uint64_t present;
	const double *tolerance;
	/* Protocol details for validate (0 when not applicable). */
	uint32_t fcnt;                  /* LoRaWAN uplink FCnt (32-bit reconstructed) */
	uint32_t devnonce_plus1;        /* LoRaWAN join request: DevNonce + 1 */
	double airtime_s;               /* LoRaWAN: the frame's time on air */
	uint32_t gateways;              /* LoRaWAN: gateways that heard this uplink (after dedup) */
	const char *detail;             /* human-readable reason for flags, or NULL */
	uint32_t freq_hz;               /* LoRaWAN: the rxpk's frequency (uplinks and join
	                                   requests), 0 when not known */
};

typedef void (*fb_obs_fn)(void *arg, const struct fb_obs *o);

/* How a collector is pointed at its peer and at the fleet. Fields a collector does not use are
 * ignored. Strings are borrowed for the collector's lifetime. */
struct fb_collect_cfg {
	/* MQTT */
	const char *url;                /* mqtt://host:port or mqtts://..., as the transport's url */
	const char *topic_filter;       /* subscription; NULL: derived from the fleet's topic template */
	const char *codec;              /* validate: the codec to decode with; run: per fleet */
	const char *ca, *cert, *key;    /* TLS, optional */
	const char *username, *password;
	/* LoRaWAN network-server endpoint */
	const char *listen;             /* UDP host:port to bind ("127.0.0.1:0" = a free port) */
	const char *keys_file;          /* validate: device keys (the format `fleetbench keys` writes) */
	/* Modbus poller */
	const char *target;             /* host:port of the first port */
	int unit;                       /* validate: unit id; 0 = per the fleet's layout */
	const char *map_file;           /* validate: register map file, or NULL for the type's map */
	fb_time_us poll_interval;       /* 0 = the fleet's reporting interval */
	const char *order;              /* validate: word order of 32-bit registers ("ABCD", "CDAB",
	                                   "BADC", "DCBA"; NULL = ABCD); a map file's word_order
	                                   and its entries' own orders take precedence */
};

struct fb_collect_env {
	struct ev_loop *loop;
	const struct fb_scenario *scenario;   /* NULL for validate (then cfg + model say it all) */
	const struct fb_model *model;         /* validate: the type under test */
	uint32_t first_device, device_count;  /* this shard's devices; observations of others are
	                                         dropped and counted as foreign */
	fb_obs_fn sink;
	void *sink_arg;
	/* Virtual time -> wall clock, as in fb_transport_env (the Modbus poller polls in virtual time). */
	fb_time_us (*wall_of)(void *arg, fb_time_us virtual_t);
	void *wall_arg;
	/* Modbus poller: the values a device holds at the current virtual time, to compare with what
	 * it read (NULL in validate: then only types and ranges are checked). */
	void (*values_now)(void *arg, uint32_t device, double *values);
	void *values_arg;
};

struct fb_collector;

struct fb_collector_ops {
	const char *name;               /* the transport it collects for: "mqtt", "lorawan", "modbus" */
	struct fb_collector *(*create)(const struct fb_collect_env *env, const struct fb_collect_cfg *cfg);
	int (*start)(struct fb_collector *c);       /* 0, or -1 after fb_error */
	bool (*ready)(struct fb_collector *c);      /* subscribed / bound / connected */
	/* The fleet has stopped sending: keep receiving for at most `grace` of wall time, or until
	 * nothing more is outstanding; returns true once done. Called repeatedly. */
	bool (*drain)(struct fb_collector *c, fb_time_us grace);
	void (*summary)(struct fb_collector *c, FILE *out);
	json_t *(*report)(struct fb_collector *c);  /* collector-level counters (bytes, bad packets) */
	void (*free)(struct fb_collector *c);
};

extern const struct fb_collector_ops fb_collector_mqtt, fb_collector_lorawan, fb_collector_modbus;
/* "lorawan-ns": a network server's MQTT integration (ChirpStack, TTS), harness/collect_nsint.h */
extern const struct fb_collector_ops fb_collector_nsint;
const struct fb_collector_ops *fb_collector_find(const char *name);

/* The MQTT settings of the bench's subscribers (the MQTT collector, the network-server
 * integration collector): MQTT 5, a 1 MiB packet limit, reconnects from 200 ms to 5 s with
 * jitter, cfg's TLS files. Resolves host (before the loop runs); tls_host must outlive the pool.
 * Returns 0, or -1 after fb_error. */
struct fb_mqtt_pool_config;
int fb_collect_mqtt_config(struct fb_mqtt_pool_config *pc, const char *host, uint16_t port, bool tls,
                           const char *tls_host, const struct fb_collect_cfg *cfg, uint64_t seed);

/* CLOCK_REALTIME now in µs, as recv_wall uses. */
fb_time_us fb_wall_now_us(void);

#endif
