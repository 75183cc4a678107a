/* The sensor-model interface. Each built-in type is one file in sim/models/ that defines one
 * `const struct fb_model`; user-defined types are built at load time from generator primitives
 * (sim/gen.h). The engine owns per-device state (state_size bytes, zeroed before init) and calls
 * the model at each due event. Models never allocate per sample and never read the wall clock. */
#ifndef FB_MODEL_H
#define FB_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"
#include "sim/rng.h"
#include "sim/tz.h"

#define FB_MAX_FIELDS 32

enum fb_field_kind {
	FB_FIELD_NUMBER,   /* printed at `resolution` */
	FB_FIELD_INTEGER,  /* a whole number (counters) */
	FB_FIELD_BOOL,     /* 0 or 1, printed true/false */
	FB_FIELD_ENUM      /* index into enum_names, printed as the name */
};

/* Cumulative fields, and when they may legitimately fall (`fleetbench validate` checks them). */
enum fb_field_counter {
	FB_COUNTER_NONE = 0,   /* a level or a per-sample count: free to go up and down */
	FB_COUNTER_TOTAL,      /* cumulative since installation: never decreases */
	FB_COUNTER_DAILY,      /* cumulative since local midnight: falls only across one */
	FB_COUNTER_YEARLY      /* cumulative since local 1 January 00:00: falls only across it */
};

struct fb_field {
	const char *name;          /* FIWARE Smart Data Models name where one exists */
	const char *unit;          /* as printed by `fleetbench types` and SenML ("dB(A)", "m", "%") */
	enum fb_field_kind kind;
	double min, max;           /* physical range: every sample stays within it */
	double resolution;         /* FB_FIELD_NUMBER: values are rounded to a multiple of it */
	const char *const *enum_names;  /* FB_FIELD_ENUM: NULL-terminated */
	bool writable;             /* a command may set it (see fb_model.command) */
	const char *description;
	enum fb_field_counter counter;  /* FB_COUNTER_NONE unless the field is cumulative */
};

/* Model parameters, set per fleet under `params:`. The loader validates them against this table
 * and stores them at `offset` in the fleet's parameter block (params_size bytes, defaults first). */
enum fb_param_kind {
	FB_PARAM_NUMBER,    /* double */
	FB_PARAM_DURATION,  /* fb_time_us */
	FB_PARAM_ENUM,      /* int: index into choices */
	FB_PARAM_BOOL,      /* bool */
	FB_PARAM_INT        /* int64_t */
};

struct fb_param {
	const char *name;
	enum fb_param_kind kind;
	size_t offset;
	double def;                     /* default: number, duration in seconds, enum index, 0/1 */
	double min, max;                /* NUMBER, INT, DURATION (seconds): allowed range */
	const char *const *choices;     /* ENUM: NULL-terminated */
	const char *doc;
};

struct fb_site {
	const char *id, *name;
	double lat, lon;     /* degrees WGS84 */
	double radius_m;     /* devices are spread within this radius */
	uint32_t index;      /* position in the scenario's site list */
};

/* What every device can see of the world. */
struct fb_world {
	uint64_t seed;
	const struct fb_tz *tz;
	fb_time_us start, end;
	const struct fb_site *sites;
	size_t nsites;
};

struct fb_model;
struct fb_fleet;

/* Built by the engine for each call; valid for the call only. */
struct fb_device_ctx {
	const struct fb_world *world;
	const struct fb_model *model;
	const struct fb_fleet *fleet;
	const struct fb_site *site;
	const void *params;        /* the fleet's parameter block (the model's params struct) */
	uint32_t index;            /* global device index */
	uint32_t index_in_fleet;
	fb_time_us interval_us;    /* this device's nominal reporting interval */
	struct fb_rng *rng;        /* this device's FB_RNG_VALUES stream */
};

struct fb_model {
	const char *name;              /* type name in scenarios: "noise", "bike-counter" */
	const char *description;
	const char *fiware_type;       /* Smart Data Models entity type, or NULL */
	const struct fb_field *fields;
	unsigned nfields;
	fb_time_us default_interval_us;
	size_t state_size;             /* per device */
	const struct fb_param *params; /* terminated by an entry with name == NULL; may be NULL */
	size_t params_size;
	const void *data;              /* for models built at run time (user-defined types) */

	/* Sets up one device's state (zeroed) for a run starting at `start`. Returns 0. */
	int (*init)(const struct fb_device_ctx *ctx, void *state, fb_time_us start);
	/* Time of the next sample after one at `last`. NULL: last + ctx->interval_us, exactly. */
	fb_time_us (*next_time)(const struct fb_device_ctx *ctx, void *state, fb_time_us last);
	/* The sample at virtual time t (t never decreases for a device): fills values[nfields]
	 * (ENUM: the index; BOOL: 0 or 1). Values must be finite and within [min, max]. */
	void (*sample)(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *values);
	/* A command at virtual time t setting `field` to `value` (e.g. dimmingLevel=50). Returns 0,
	 * or -1 if the field is not writable or the value is out of range. May be NULL. */
	int (*command)(const struct fb_device_ctx *ctx, void *state, fb_time_us t,
	               const char *field, double value);
};

/* The built-in models, NULL-terminated, in the order `fleetbench types` prints them. */
extern const struct fb_model *const fb_builtin_models[];
const struct fb_model *fb_model_find(const char *name);
int fb_model_field_index(const struct fb_model *m, const char *name);   /* -1 if none */
/* Fills `params` (m->params_size bytes) with the table's defaults. */
void fb_model_params_default(const struct fb_model *m, void *params);

/* A device's position: uniform over the site's disc, from its own stream (shard-invariant). */
void fb_device_position(const struct fb_world *w, const struct fb_site *site, uint32_t index,
                        double *lat, double *lon);

/* Rounds v to the field's resolution and clamps it to [min, max]. */
double fb_field_quantize(const struct fb_field *f, double v);
/* How many names an ENUM field's table gives (0 when it has none). */
unsigned fb_field_enum_count(const struct fb_field *f);
/* The model's main measured field: its first NUMBER field, else its first INTEGER; -1 if it has
 * neither (what charts plot and what value faults act on). */
int fb_model_main_field(const struct fb_model *m);

#endif
