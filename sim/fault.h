/* Injected faults: devices, payloads and networks that misbehave on purpose, deterministically.
 *
 * A scenario lists faults under a top-level `faults:` (every fleet) and under a fleet's own
 * `faults:` (that fleet only); each entry has a kind, an optional rate, an optional time window
 * (from/for) and an optional target (site, type, fleet, devices). Every decision is a pure
 * function of (run seed, global device index, FB_RNG_FAULTS, rule, per-device sample count), so
 * the same seed gives the same faults and shards partition them exactly.
 *
 * The engine applies device faults to each sample (sim) and marks the sample with the kind
 * (struct fb_sample.fault), so the trace writes a "fault" key on the line. Payload and network
 * kinds are decided here too (so the trace records them) and carried out by the transports after
 * they declared the message sent (protocols/faults.h). One fault per sample: a fault that keeps it
 * from arriving (offline, battery, site_dark) first, else the first rule that applies, in file
 * order (the top-level block first, then each fleet's). */
#ifndef FB_FAULT_H
#define FB_FAULT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"

struct fb_scenario;
struct fb_fleet;
struct fb_sample;

enum fb_fault_kind {
	FB_FAULT_NONE = 0,
	/* device (sim) */
	FB_FAULT_STUCK,           /* values frozen at the window's first reading */
	FB_FAULT_DRIFT,           /* an offset growing per_hour from the window's start */
	FB_FAULT_SPIKE,           /* a plausible but wrong reading (within range) */
	FB_FAULT_OUT_OF_RANGE,    /* beyond the field's physical range */
	FB_FAULT_INVALID,         /* no valid reading: NaN (the trace writes null) */
	FB_FAULT_BATTERY,         /* battery drains over the window, then the device is silent */
	FB_FAULT_OFFLINE,         /* silent for the window; backlog sent at reconnection or lost */
	FB_FAULT_CLOCK_SKEW,      /* the timestamp the device claims is off by `skew` */
	FB_FAULT_REBOOT,          /* firmware reboot: seq (and LoRaWAN FCnt) restart, fresh join */
	/* payload (protocols) */
	FB_FAULT_MALFORMED,       /* truncated, bad syntax, wrong types or garbage bytes */
	FB_FAULT_BAD_MIC,         /* LoRaWAN: a MIC that does not verify */
	FB_FAULT_MODBUS_EXCEPTION,/* Modbus: exception replies for the window (rate per request) */
	/* network (protocols) */
	FB_FAULT_DUPLICATE,       /* the message is delivered `copies` extra times */
	FB_FAULT_DELAY,           /* held back `delay`, so later ones overtake it */
	FB_FAULT_SITE_DARK,       /* the site's connections / gateways are down for the window */
	FB_FAULT_RECONNECT_STORM, /* every connection drops at `from` and reconnects within `within` */
	FB_FAULT_CHURN,           /* connections drop at a rate per hour and reconnect */
	FB_FAULT_NKINDS
};

/* Sample flags (struct fb_sample.flags). */
enum fb_sample_flag {
	FB_SAMPLE_UNSENT = 1u << 0,   /* the device did not transmit it (offline, dead battery):
	                                 in the trace, never sent by a transport, never declared */
	FB_SAMPLE_LATE = 1u << 1      /* backlog released at reconnection, with its original time */
};

enum fb_malformed_mode { FB_MALFORMED_ANY, FB_MALFORMED_TRUNCATED, FB_MALFORMED_SYNTAX,
                         FB_MALFORMED_TYPES, FB_MALFORMED_GARBAGE };

/* One parsed `faults:` entry. Times are relative to the run start until fb_faults_bind. */
struct fb_fault_rule {
	enum fb_fault_kind kind;
	unsigned index;               /* position among all rules (keys its random draws) */
	int line, col;                /* where it stands in the file */
	double rate;                  /* per sample (per-sample kinds) or per device; default 1;
	                                 modbus_exception: per request */
	fb_time_us from, until;       /* absolute window once bound; until FB_TIME_NEVER: the end */
	int field;                    /* model field index, -1: the kind's default */
	const char *field_name;       /* as written (resolved per fleet) */
	double amount;                /* drift per hour / spike magnitude (field units); NAN: default */
	fb_time_us skew;              /* clock_skew (signed) */
	fb_time_us delay;             /* delay */
	fb_time_us within;            /* reconnect_storm: reconnections spread over [0, within) */
	double per_hour;              /* churn: drops per connection per hour (drift: its own) */
	bool backlog;                 /* offline: send the backlog at reconnection (else lost) */
	uint32_t backlog_max;         /* offline: samples a device keeps (oldest lost beyond) */
	uint32_t copies;              /* duplicate */
	bool jitter;                  /* reconnect_storm: spread reconnections (else all at once) */
	enum fb_malformed_mode malformed;
	uint8_t exception;            /* modbus exception code (default 4, server device failure) */
	/* target */
	int fleet_only;               /* rule from a fleet's block: that fleet index, else -1 */
	bool *fleet_match;            /* per scenario fleet: the rule targets it */
	uint32_t *devices;            /* sorted global indexes, or NULL: every device of the fleets */
	size_t ndevices;
	/* private */
	fb_time_us from_rel, for_us;
	bool from_abs, has_for;
};

struct fb_faults;

/* Reads the scenario's top-level and per-fleet `faults:` blocks. Returns 0 with *out NULL when
 * there are none, 0 with *out set, or -1 after located errors ("file:line:col: error: ...",
 * with suggestions): the caller exits 2. */
int fb_faults_parse(const struct fb_scenario *sc, struct fb_faults **out);
void fb_faults_free(struct fb_faults *f);
/* Validates the faults: blocks at load time (the CLI's exit 2): 0, or -1 after located errors. */
int fb_faults_check(const struct fb_scenario *sc);

/* Resolves windows for a run over [start, end) and sets up per-device state for this shard's
 * devices [first, first + count). Returns 0, or -1 after fb_error (out of memory). */
int fb_faults_bind(struct fb_faults *f, fb_time_us start, fb_time_us end, uint32_t first,
                   uint32_t count);

/* The engine's hook: applies the faults to the sample the model just produced (values are
 * writable, quantized), sets s->fault / s->flags / s->seq / s->t, and hands the sample, and any
 * backlog released before it, to sink. */
typedef void (*fb_fault_sink_fn)(void *arg, const struct fb_sample *s);
void fb_faults_emit(struct fb_faults *f, struct fb_sample *s, double *values, fb_fault_sink_fn sink,
                    void *arg);

/* The run is over: backlogs still held (devices that never came back) go to sink as lost
 * (FB_SAMPLE_UNSENT). Once. */
void fb_faults_finish(struct fb_faults *f, fb_fault_sink_fn sink, void *arg);

/* Rules, for the transports (protocols/faults.c). */
size_t fb_faults_nrules(const struct fb_faults *f);
const struct fb_fault_rule *fb_faults_rule(const struct fb_faults *f, size_t i);
/* True when rule r targets the device (fleet, site, type, device list, and the per-device rate
 * draw for per-device kinds). */
bool fb_fault_targets(const struct fb_faults *f, const struct fb_fault_rule *r, uint32_t device);
/* The end of the window of the first rule of `kind` that targets the device at virtual time t
 * (FB_TIME_NEVER for an open window), or t itself when none does. */
fb_time_us fb_faults_window_end(const struct fb_faults *f, enum fb_fault_kind kind, uint32_t device,
                                fb_time_us t);
/* A uniform draw in [0, 1) for (rule, device, n): the transports' deterministic randomness. */
double fb_fault_draw(const struct fb_faults *f, const struct fb_fault_rule *r, uint32_t device,
                     uint64_t n);

/* Counts by kind. Device faults and the per-sample kinds are counted here as samples are marked
 * (one per marked trace line); transports add what happens off the trace (a storm's drops). */
void fb_faults_add(struct fb_faults *f, enum fb_fault_kind kind, uint64_t n);
uint64_t fb_faults_count(const struct fb_faults *f, enum fb_fault_kind kind);
/* "stuck", "out_of_range", ...; NULL for FB_FAULT_NONE or out of range. */
const char *fb_fault_name(enum fb_fault_kind kind);
/* Length of the name, for the trace. */
size_t fb_fault_name_len(enum fb_fault_kind kind);
/* True when any rule of the kind exists. */
bool fb_faults_has(const struct fb_faults *f, enum fb_fault_kind kind);

#endif
