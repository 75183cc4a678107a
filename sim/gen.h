/* User-defined sensor types built from generator primitives (the `types:` section of a
 * scenario). fb_usertype_new() (declared in sim/scenario.h) turns a type's YAML map into a
 * `struct fb_model` whose init/sample functions are generic over `model->data`, which points
 * at the `struct fb_usertype` below. Exposed for tests and for `fleetbench types`; the engine
 * only sees the fb_model interface.
 *
 * Randomness: a field's draws for the sample at time t come from a stream seeded by
 * fb_hash64(seed, device index, FB_RNG_USER + field, t), and its initial state from purpose
 * FB_RNG_USER + FB_MAX_FIELDS + field: a pure function of (seed, device, field, time), so it is
 * the same on any shard, and adding a field never changes another field's values. */
#ifndef FB_GEN_H
#define FB_GEN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sim/fbtime.h"
#include "sim/model.h"

struct fb_ynode;

enum fb_gen_kind {
	FB_GEN_CONSTANT,        /* value */
	FB_GEN_UNIFORM,         /* min, max */
	FB_GEN_NORMAL,          /* mean, sd */
	FB_GEN_RANDOM_WALK,     /* start, step (sd of a step), min, max; reflected at the bounds */
	FB_GEN_MEAN_REVERTING,  /* mean, theta (1/h), sigma (per sqrt(h)): Ornstein-Uhlenbeck */
	FB_GEN_DAILY,           /* mean, amplitude, peaks [h], width (h), noise, weekly [7] */
	FB_GEN_SINE,            /* mean, amplitude, period, phase */
	FB_GEN_POISSON,         /* rate: mean count per sample */
	FB_GEN_SAWTOOTH,        /* rise_per_day, reset_above (rising) or reset_below (falling),
	                           reset_to */
	FB_GEN_CSV,             /* file, column, time_column, loop, speed */
	FB_GEN_NKINDS
};

/* NULL-terminated, indexed by enum fb_gen_kind ("constant", "uniform", ...). */
extern const char *const fb_gen_kind_names[];

#define FB_DAILY_SLOTS 1440     /* the daily shape, one entry per local minute */

/* A replayed series: times relative to the first row, values, and the loop period. */
struct fb_csv_series {
	size_t n;
	fb_time_us *t_us;       /* strictly increasing, t_us[0] == 0 */
	double *v;
	fb_time_us period_us;   /* loop length: span plus one step */
	double vmin, vmax;
};

struct fb_gen {
	enum fb_gen_kind kind;
	int slot;               /* index of this field's state double, or -1 when stateless */
	double a, b, c, d;      /* kind parameters in the order listed above */
	double noise;           /* daily: sd of the added noise; mean_reverting: the step's sd at
	                           the type's interval (d holds the decay e^{-theta dt} for it) */
	fb_time_us period_us, phase_us;   /* sine */
	double speed;           /* csv: data seconds per simulated second */
	bool loop;              /* csv */
	bool has_time;          /* csv: rows carry their own time */
	double weekly[7];       /* daily: factors Monday..Sunday (all 1 when not given) */
	double *shape;          /* daily: FB_DAILY_SLOTS + 1 values in [-1, 1], by local minute */
	struct fb_csv_series *csv;
};

struct fb_usertype {
	struct fb_model model;  /* first: a model pointer is a usertype pointer */
	char *name, *description;
	struct fb_field fields[FB_MAX_FIELDS];
	char *field_strings[FB_MAX_FIELDS][3];   /* name, unit, description (owned) */
	struct fb_gen gens[FB_MAX_FIELDS];
	unsigned nstate;        /* doubles of per-device state */
};

/* The usertype behind a model built by fb_usertype_new(), or NULL for a built-in model. */
const struct fb_usertype *fb_usertype_of(const struct fb_model *m);

/* Loads a CSV column for replay: the first line names the columns (',' or ';' separated),
 * `column` (a scalar node naming one) holds numbers, `time_column` (NULL: row i is at
 * i * row_us) RFC 3339 times or epoch seconds, strictly increasing. Empty values (and NA,
 * NaN, null) are gaps. Errors name "file:line", or the node (`file_node` when the file cannot
 * be read, the column's node when it does not exist). NULL after an error. */
struct fb_csv_series *fb_csv_load(const char *path, const struct fb_ynode *file_node,
                                  const struct fb_ynode *column, const struct fb_ynode *time_column,
                                  fb_time_us row_us);
void fb_csv_free(struct fb_csv_series *s);

#endif
