/* The interface between the run (harness) and a transport (mqtt, lorawan, modbus). A transport
 * owns its sockets on the one libev loop, receives every sample of the fleets that name it, and
 * turns commands from the network into fb_engine_command() calls. Nothing here may block. */
#ifndef FB_TRANSPORT_H
#define FB_TRANSPORT_H
#include <stdbool.h>
#include <stdio.h>
#include <ev.h>
#include <jansson.h>
#include "sim/engine.h"
#include "sim/scenario.h"

struct fb_transport;

struct fb_transport_env {
	struct ev_loop *loop;
	struct fb_engine *engine;
	const struct fb_scenario *scenario;
	uint32_t shard_index, shard_count;
	const char *state_file;      /* --state FILE, or NULL */
	/* Virtual time -> wall clock (CLOCK_REALTIME µs) for the current pacing; in max mode the
	 * wall time at which the engine ran the event. For latency from the scheduled time. */
	fb_time_us (*wall_of)(void *arg, fb_time_us virtual_t);
	void *wall_arg;
	/* The bench's reconciliation (may be NULL: then nothing is reconciled). A transport calls it
	 * once per message as the message leaves the fleet for the network: the sample it carries, and
	 * the identity a collector will read back (MQTT: the sample's scheduled time in ms, s->t / 1000;
	 * LoRaWAN: the uplink's 32-bit FCnt). Network faults the transport injects (loss, duplicates)
	 * happen after this call, so the bench finds them; a sample the device itself never sends (an
	 * OTAA device still joining, a duty-cycle drop) is not declared. */
	void (*sent)(void *arg, const char *proto, const struct fb_sample *s, uint64_t key);
	void *sent_arg;
	/* --local / --collect: overrides where the transport connects or listens ("mqtt://127.0.0.1:P"
	 * for mqtt's url, "127.0.0.1:P" for lorawan's gateway server and modbus's first listen port),
	 * or NULL to use the scenario's value. */
	const char *target;
};

struct fb_transport_ops {
	const char *name;                  /* the value of a fleet's `transport:` */
	const char *const *codecs;         /* codecs it can carry, NULL-terminated; first is default */
	const char *const *extra_params;   /* fleet `params:` keys it reads (e.g. "apikey") */
	/* Reads transports.<name> (config may be NULL when absent) and the fleets that use it;
	 * prints located errors and returns NULL on bad input. */
	struct fb_transport *(*create)(const struct fb_transport_env *env, const struct fb_ynode *config);
	/* Starts connecting; returns 0, or -1 after fb_error when nothing can start. */
	int (*start)(struct fb_transport *t);
	/* True once the transport can take samples (connections up, or given up per its policy). */
	bool (*ready)(struct fb_transport *t);
	/* One sample of a fleet of this transport. Must not block; queue what cannot be sent. */
	void (*send)(struct fb_transport *t, const struct fb_sample *s);
	/* Backpressure: true while the engine should not produce more (max speed mode). */
	bool (*busy)(struct fb_transport *t);
	/* Virtual time the engine must not pass yet (a real peer's reply is awaited), or
	 * FB_TIME_NEVER. */
	fb_time_us (*hold_until)(struct fb_transport *t);
	/* Begins an orderly end (flush in flight, disconnect); returns true once done. */
	bool (*drain)(struct fb_transport *t);
	/* Counters for the summary (text, one line each) and the JSON report. The report carries
	 * "errors": the transport-level failures (failed publishes, refused connections, unanswered
	 * PUSH_DATA, ...) that the bench counts against `errors_max`. */
	void (*summary)(struct fb_transport *t, FILE *out);
	json_t *(*report)(struct fb_transport *t);
	/* 0 if the run went as it should from this transport's view; 1 on a runtime failure
	 * (e.g. nothing could connect). */
	int (*status)(struct fb_transport *t);
	void (*free)(struct fb_transport *t);
	/* Parse only (`check`, and every load before a run): reads transports.<name> (config may be
	 * NULL) and the fleets that use it with the same readers create() uses; returns 0, or -1
	 * after located errors. Opens no socket, resolves no name, creates no file and leaves no
	 * allocation behind. What depends on the run (--local's target, the shard, free ports) is
	 * left to create(). NULL: the transport reads nothing beyond its name. */
	int (*check)(const struct fb_scenario *sc, const struct fb_ynode *config);
	/* True when the transport keeps state for fleet f's site that two shards must not share
	 * (LoRaWAN gateways and the radio between a site's devices, a Sparkplug edge node per
	 * site): the harness marks f site_bound and shards by site (sim/scenario.h). Called for
	 * each fleet of this transport after check() passed. NULL: never. */
	bool (*site_local)(const struct fb_scenario *sc, const struct fb_ynode *config,
	                   const struct fb_fleet *f);
};

/* The transports compiled in, NULL-terminated (protocols/transports.c). */
extern const struct fb_transport_ops *const fb_transports[];
const struct fb_transport_ops *fb_transport_find(const char *name);

#endif
