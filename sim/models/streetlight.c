/* streetlight: a smart LED luminaire with a LoRaWAN/DALI node (FIWARE Streetlight; TALQ
 * LampActuator/LampMonitor).
 *
 * Schedule: on at sunset + on_delay, off at sunrise − off_advance, from the NOAA sunrise and
 * sunset (sim/sun.h) for the site's latitude and longitude and the local date, so DST moves the
 * clock times; each photocell adds its own ±2 min. Night dimming: 100 % from dusk to dim_start,
 * night_level % until dim_end, 100 % until dawn.
 *
 * Faults, all pure functions of (seed, device or cabinet, time), so shard-invariant:
 * - lampFailure: the lamp draws only its driver's 0.5 W while commanded on; repaired in 2-10 days;
 * - dayBurning: a stuck relay keeps the lamp on at 100 % in daylight for 1-7 days;
 * - supplyLoss: the whole cabinet (cabinet_size consecutive devices of the fleet) loses supply
 *   for 30 min to 6 h, keyed by (seed, FB_RNG_GROUP, cabinet, day): every light of the cabinet
 *   goes dark at the same instants.
 *
 * Commands: dimmingLevel (0-100 %) and powerState (0 forces off, 1 forces on). A command holds
 * until the next scheduled switch (the next sunset or sunrise switching), or for `command_hold`
 * when that is set; a later command restarts the hold for both. activeEnergy and
 * operatingHours integrate the exact piecewise-constant power between samples, splitting at
 * every switch, dimming step, fault edge and command, so the next sample shows a command's
 * effect both in activePower and in the energy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sim/model.h"
#include "sim/sun.h"

enum { F_POWER_STATE, F_DIMMING, F_POWER, F_ENERGY, F_HOURS, F_STATUS, NFIELDS };
enum { S_OK, S_LAMP_FAILURE, S_DAY_BURNING, S_SUPPLY_LOSS };
static const char *const status_names[] = {
	"ok", "lampFailure", "dayBurning", "supplyLoss", NULL };

static const struct fb_field fields[NFIELDS] = {
	{ "powerState", NULL, FB_FIELD_BOOL, 0, 1, 1, NULL, true,
	  "lamp on (true) or off; writable: forces on or off until the next scheduled switch" },
	{ "dimmingLevel", "%", FB_FIELD_NUMBER, 0, 100, 1, NULL, true,
	  "light output while on, 0 when off; writable: holds until the next scheduled switch" },
	{ "activePower", "W", FB_FIELD_NUMBER, 0, 1000, 0.1, NULL, false, "power drawn now" },
	{ "activeEnergy", "kWh", FB_FIELD_NUMBER, 0, 1e7, 0.001, NULL, false,
	  "energy drawn since installation", FB_COUNTER_TOTAL },
	{ "operatingHours", "h", FB_FIELD_NUMBER, 0, 1e6, 0.01, NULL, false,
	  "hours the lamp has been lit since installation", FB_COUNTER_TOTAL },
	{ "status", NULL, FB_FIELD_ENUM, 0, 3, 1, status_names, false,
	  "ok, lampFailure, dayBurning (on in daylight), supplyLoss (cabinet without supply)" },
};

struct light_params {
	double power_w;
	double night_level;
	double dim_start_h;
	double dim_end_h;
	fb_time_us on_delay;
	fb_time_us off_advance;
	int64_t cabinet_size;
	double lamp_failure_rate;
	double day_burning_rate;
	double supply_loss_rate;
	fb_time_us command_hold;
};

static const struct fb_param params[] = {
	{ "power", FB_PARAM_NUMBER, offsetof(struct light_params, power_w), 50, 5, 500, NULL,
	  "nominal LED power at 100 %, W (30-100; 40-60 typical residential)" },
	{ "night_level", FB_PARAM_NUMBER, offsetof(struct light_params, night_level), 50, 0, 100,
	  NULL, "dimming level in the heart of the night, % (0 switches off)" },
	{ "dim_start", FB_PARAM_NUMBER, offsetof(struct light_params, dim_start_h), 23, 0, 24, NULL,
	  "local hour when night dimming starts" },
	{ "dim_end", FB_PARAM_NUMBER, offsetof(struct light_params, dim_end_h), 5.5, 0, 24, NULL,
	  "local hour when night dimming ends" },
	{ "on_delay", FB_PARAM_DURATION, offsetof(struct light_params, on_delay), 600, 0, 7200, NULL,
	  "switch-on after sunset (photocell lag)" },
	{ "off_advance", FB_PARAM_DURATION, offsetof(struct light_params, off_advance), 600, 0, 7200,
	  NULL, "switch-off before sunrise" },
	{ "cabinet_size", FB_PARAM_INT, offsetof(struct light_params, cabinet_size), 30, 1, 10000,
	  NULL, "luminaires per cabinet (consecutive devices of the fleet; 20-60 in practice)" },
	{ "lamp_failure_rate", FB_PARAM_NUMBER, offsetof(struct light_params, lamp_failure_rate),
	  0.05, 0, 52, NULL, "lamp failures per luminaire and year" },
	{ "day_burning_rate", FB_PARAM_NUMBER, offsetof(struct light_params, day_burning_rate), 0.02,
	  0, 52, NULL, "stuck-relay (day-burning) episodes per luminaire and year" },
	{ "supply_loss_rate", FB_PARAM_NUMBER, offsetof(struct light_params, supply_loss_rate), 1, 0,
	  365, NULL, "supply losses per cabinet and year" },
	{ "command_hold", FB_PARAM_DURATION, offsetof(struct light_params, command_hold), 0, 0,
	  30 * 86400, NULL, "how long a command holds; 0: until the next scheduled switch" },
	{ NULL }
};

struct light_state {
	double energy_kwh;
	double hours;
	fb_time_us last;         /* energy and hours are integrated up to here */
	fb_time_us cmd_until;    /* overrides hold before this instant */
	fb_time_us cache_off, cache_on;   /* the cached local day's switching instants */
	int32_t cache_day;
	int8_t force;            /* -1 none, 0 forced off, 1 forced on */
	uint8_t dim_cmd;         /* 255: none */
};

/* What the luminaire does at an instant. */
struct light_now {
	bool on;           /* relay closed */
	double level;      /* %, 0 when off */
	double power_w;    /* mean power (no measurement noise) */
	bool lit;
	int status;
};

static double unit_of(const struct fb_device_ctx *ctx, uint64_t what)
{
	return fb_unit(fb_hash64(ctx->world->seed, ctx->index, FB_RNG_FAULTS, what));
}

static void day_switches(const struct fb_device_ctx *ctx, struct light_state *st, int64_t day,
                         fb_time_us *off, fb_time_us *on)
{
	if (st->cache_day == (int32_t)day && st->cache_on) {
		*off = st->cache_off;
		*on = st->cache_on;
		return;
	}
	const struct light_params *p = ctx->params;
	int y, m, d;
	fb_civil_from_days(day, &y, &m, &d);
	double lat = ctx->site ? ctx->site->lat : 43.2965, lon = ctx->site ? ctx->site->lon : 5.3698;
	fb_time_us rise, set;
	fb_time_us midnight = fb_tz_local_midnight(ctx->world->tz, day);
	switch (fb_sun_times(lat, lon, y, m, d, &rise, &set)) {
	case FB_SUN_POLAR_DAY:
		rise = set = midnight + 12 * FB_US_PER_H;   /* never dark */
		break;
	case FB_SUN_POLAR_NIGHT:
		rise = midnight;
		set = midnight;                              /* dark all day */
		break;
	default:
		break;
	}
	fb_time_us jitter = (fb_time_us)((unit_of(ctx, 1) - 0.5) * 4 * FB_US_PER_MIN);
	*off = rise - p->off_advance + jitter;
	*on = set + p->on_delay + jitter;
	if (*on < *off)
		*on = *off;
	st->cache_day = (int32_t)day;
	st->cache_off = *off;
	st->cache_on = *on;
}

/* The instant local hour h (may be fractional) of local day `day`, DST-aware. */
static fb_time_us local_hour(const struct fb_device_ctx *ctx, int64_t day, double h)
{
	fb_time_us midnight = fb_tz_local_midnight(ctx->world->tz, day);
	fb_time_us at = midnight + (fb_time_us)(h * FB_US_PER_H);
	return at + (fb_time_us)(fb_tz_offset_s(ctx->world->tz, midnight) -
	                         fb_tz_offset_s(ctx->world->tz, at)) * FB_US_PER_S;
}

/* A device fault window of kind `kind` covering t, per 7-day block with a start inside it. */
static bool fault_window(const struct fb_device_ctx *ctx, unsigned kind, double per_year,
                         double min_days, double max_days, fb_time_us t, fb_time_us *from,
                         fb_time_us *to)
{
	const fb_time_us week = 7 * FB_US_PER_DAY;
	int64_t w = t / week;
	for (int64_t k = w - 2; k <= w; k++) {
		uint64_t key = (uint64_t)k << 4 | kind;
		if (unit_of(ctx, key) >= per_year * 7 / 365.25)
			continue;
		fb_time_us s = k * week + (fb_time_us)(unit_of(ctx, key + 1000003) * (double)week);
		double days = min_days + (max_days - min_days) * unit_of(ctx, key + 2000003);
		fb_time_us e = s + (fb_time_us)(days * FB_US_PER_DAY);
		if (t >= s && t < e) {
			*from = s;
			*to = e;
			return true;
		}
	}
	return false;
}

/* The cabinet's supply loss starting on UTC day `day`, if any (30 min - 6 h long). */
static bool supply_window_of_day(const struct fb_device_ctx *ctx, int64_t day, fb_time_us *from,
                                 fb_time_us *to)
{
	const struct light_params *p = ctx->params;
	uint64_t first = ctx->index - ctx->index_in_fleet;
	uint64_t cabinet = ctx->index_in_fleet / (uint64_t)p->cabinet_size;
	uint64_t h = fb_hash64(ctx->world->seed, FB_RNG_GROUP, first << 32 | cabinet, (uint64_t)day);
	if (fb_unit(h) >= p->supply_loss_rate / 365.25)
		return false;
	*from = day * FB_US_PER_DAY + (fb_time_us)(fb_unit(fb_mix64(h)) * FB_US_PER_DAY);
	double hours = 0.5 + 5.5 * fb_unit(fb_mix64(h ^ 0x5bd1e995));
	*to = *from + (fb_time_us)(hours * FB_US_PER_H);
	return true;
}

/* The cabinet's supply loss covering t. */
static bool supply_window(const struct fb_device_ctx *ctx, fb_time_us t, fb_time_us *from,
                          fb_time_us *to)
{
	int64_t day = t / FB_US_PER_DAY;
	for (int64_t d = day - 1; d <= day; d++)
		if (supply_window_of_day(ctx, d, from, to) && t >= *from && t < *to)
			return true;
	return false;
}

static double nominal_w(const struct fb_device_ctx *ctx)
{
	const struct light_params *p = ctx->params;
	return p->power_w * (0.95 + 0.1 * unit_of(ctx, 2));   /* driver tolerance */
}

static void light_at(const struct fb_device_ctx *ctx, struct light_state *st, fb_time_us t,
                     struct light_now *out)
{
	const struct light_params *p = ctx->params;
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, t, &lt);
	fb_time_us off, on, a, b;
	day_switches(ctx, st, lt.day, &off, &on);
	bool sched_on = t < off || t >= on;
	double h = lt.hour_f;
	bool dim = p->dim_start_h <= p->dim_end_h ? (h >= p->dim_start_h && h < p->dim_end_h)
	                                          : (h >= p->dim_start_h || h < p->dim_end_h);
	double level = sched_on ? (dim ? p->night_level : 100) : 0;
	bool cmd = t < st->cmd_until;
	if (cmd && st->force >= 0) {
		sched_on = st->force == 1;
		level = sched_on ? (level > 0 ? level : 100) : 0;
	}
	if (cmd && st->dim_cmd != 255 && sched_on)
		level = st->dim_cmd;
	memset(out, 0, sizeof *out);
	out->status = S_OK;
	if (supply_window(ctx, t, &a, &b)) {
		out->status = S_SUPPLY_LOSS;
		return;
	}
	bool failed = fault_window(ctx, 1, p->lamp_failure_rate, 2, 10, t, &a, &b);
	if (!sched_on && fault_window(ctx, 2, p->day_burning_rate, 1, 7, t, &a, &b)) {
		sched_on = true;
		level = 100;
		out->status = S_DAY_BURNING;
	}
	out->on = sched_on && level > 0;
	out->level = out->on ? level : 0;
	if (failed) {
		out->status = S_LAMP_FAILURE;
		out->power_w = out->on ? 0.5 : 0;
		return;
	}
	out->lit = out->on;
	out->power_w = out->on ? 0.5 + nominal_w(ctx) * level / 100 : 0;
}

static int cmp_time(const void *a, const void *b)
{
	fb_time_us x = *(const fb_time_us *)a, y = *(const fb_time_us *)b;
	return (x > y) - (x < y);
}

/* Integrates energy and lit hours over (st->last, t], in pieces of constant behaviour. */
static void integrate(const struct fb_device_ctx *ctx, struct light_state *st, fb_time_us t)
{
	const struct light_params *p = ctx->params;
	fb_time_us a = st->last;
	if (a < t - 400 * FB_US_PER_DAY)
		a = t - 400 * FB_US_PER_DAY;
	while (a < t) {
		struct fb_localtime lt;
		fb_tz_local(ctx->world->tz, a, &lt);
		fb_time_us day_end = fb_tz_local_midnight(ctx->world->tz, lt.day + 1);
		fb_time_us b = day_end < t ? day_end : t;
		fb_time_us cut[32];
		int n = 0;
		fb_time_us off, on, fa, fb;
		day_switches(ctx, st, lt.day, &off, &on);
		cut[n++] = off;
		cut[n++] = on;
		cut[n++] = local_hour(ctx, lt.day, p->dim_start_h);
		cut[n++] = local_hour(ctx, lt.day, p->dim_end_h);
		cut[n++] = st->cmd_until;
		/* Supply losses (hours long) starting the UTC day before through the piece's end. */
		for (int64_t d = a / FB_US_PER_DAY - 1; d <= (b - 1) / FB_US_PER_DAY; d++)
			if (supply_window_of_day(ctx, d, &fa, &fb)) {
				cut[n++] = fa;
				cut[n++] = fb;
			}
		/* Device faults last a day or more: probing both ends and the middle of the piece (at
		 * most 25 h) finds every one that touches it. */
		fb_time_us probes[3] = { a, a + (b - a) / 2, b - 1 };
		for (int i = 0; i < 3; i++) {
			if (fault_window(ctx, 1, p->lamp_failure_rate, 2, 10, probes[i], &fa, &fb) ||
			    fault_window(ctx, 2, p->day_burning_rate, 1, 7, probes[i], &fa, &fb)) {
				cut[n++] = fa;
				cut[n++] = fb;
			}
		}
		qsort(cut, (size_t)n, sizeof cut[0], cmp_time);
		fb_time_us x = a;
		for (int i = 0; i <= n; i++) {
			fb_time_us y = i < n ? cut[i] : b;
			if (y <= x)
				continue;
			if (y > b)
				y = b;
			struct light_now now;
			light_at(ctx, st, x + (y - x) / 2, &now);
			double dt_h = (double)(y - x) / FB_US_PER_H;
			st->energy_kwh += now.power_w * dt_h / 1000.0;
			if (now.lit)
				st->hours += dt_h;
			x = y;
			if (x >= b)
				break;
		}
		a = b;
	}
	st->last = t;
}

static int init(const struct fb_device_ctx *ctx, void *state, fb_time_us start)
{
	struct light_state *st = state;
	st->hours = fb_rng_range(ctx->rng, 0, 20000);   /* luminaires of various ages */
	st->energy_kwh = st->hours * nominal_w(ctx) * 0.8 / 1000.0;
	st->last = start;
	st->cmd_until = 0;
	st->force = -1;
	st->dim_cmd = 255;
	st->cache_day = INT32_MIN;
	return 0;
}

static void sample(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *v)
{
	struct light_state *st = state;
	integrate(ctx, st, t);
	if (t >= st->cmd_until) {
		st->force = -1;
		st->dim_cmd = 255;
	}
	struct light_now now;
	light_at(ctx, st, t, &now);
	/* Mains voltage varies (230 V ±10 %): the driver regulates, ~1 % shows in the reading. */
	double power = now.power_w > 0 ? now.power_w * (1 + 0.01 * fb_rng_normal(ctx->rng)) : 0;
	v[F_POWER_STATE] = now.on;
	v[F_DIMMING] = now.level;
	v[F_POWER] = power < 0 ? 0 : power;
	v[F_ENERGY] = st->energy_kwh;
	v[F_HOURS] = st->hours;
	v[F_STATUS] = now.status;
}

/* The next scheduled switch (sunrise-off or sunset-on) strictly after t. */
static fb_time_us next_switch(const struct fb_device_ctx *ctx, struct light_state *st,
                              fb_time_us t)
{
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, t, &lt);
	for (int64_t day = lt.day; day <= lt.day + 2; day++) {
		fb_time_us off, on;
		day_switches(ctx, st, day, &off, &on);
		if (off > t)
			return off;
		if (on > t)
			return on;
	}
	return t + FB_US_PER_DAY;
}

static int command(const struct fb_device_ctx *ctx, void *state, fb_time_us t, const char *field,
                   double value)
{
	const struct light_params *p = ctx->params;
	struct light_state *st = state;
	bool is_dim = !strcmp(field, "dimmingLevel"), is_power = !strcmp(field, "powerState");
	if (!is_dim && !is_power)
		return -1;
	if (!(value >= 0 && value <= (is_dim ? 100 : 1)))
		return -1;
	/* Energy so far was drawn under the old settings. */
	if (t > st->last)
		integrate(ctx, st, t);
	if (t >= st->cmd_until) {
		st->force = -1;
		st->dim_cmd = 255;
	}
	if (is_dim)
		st->dim_cmd = (uint8_t)lround(value);
	else
		st->force = value >= 0.5 ? 1 : 0;
	st->cmd_until = p->command_hold > 0 ? t + p->command_hold : next_switch(ctx, st, t);
	return 0;
}

const struct fb_model fb_model_streetlight = {
	.name = "streetlight",
	.description = "smart LED street light: sunset/sunrise schedule, night dimming, faults, "
	               "cabinet supply losses, dimming and on/off commands",
	.fiware_type = "Streetlight",
	.fields = fields,
	.nfields = NFIELDS,
	.default_interval_us = 15 * FB_US_PER_MIN,
	.state_size = sizeof(struct light_state),
	.params = params,
	.params_size = sizeof(struct light_params),
	.init = init,
	.sample = sample,
	.command = command,
};
