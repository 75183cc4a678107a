/* waste: a voluntary drop-off column (PAV) for glass or paper with an ultrasonic fill sensor,
 * a temperature sensor and an accelerometer (FIWARE WasteContainer; Milesight EM310/EM400-UDL
 * as the open proxy).
 *
 * Deposits are Poisson events between 08 and 21 h local, by hour and weekday (Monday and the
 * weekend heavier for glass), with a summer tourist uplift and a December one for glass; each adds
 * 0.1-1 % of the volume for glass, 0.2-2 % for paper (which compacts as it fills). Emptying,
 * by threshold (a truck comes the next working morning or the one after) or on fixed rounds,
 * drops the fill to 0-5 % and is reported by an extra uplink two minutes after the lift with
 * status `moved` (the tilt). The ultrasonic reading is noisy (the cone of glass under the sensor),
 * sometimes invalid (0 or full range when something covers the sensor); rare fires show as
 * status `burning` with 60-110 °C; the battery decays ~1 %/month, faster at end of life. */
#include <math.h>
#include "sim/model.h"
#include "sim/weather.h"

enum { F_FILL, F_TEMP, F_BATTERY, F_STATUS, NFIELDS };
enum { S_OK, S_LID_OPEN, S_MOVED, S_BURNING, S_INVALID, S_DROPPED };
static const char *const status_names[] = {
	"ok", "lidOpen", "moved", "burning", "invalidReading", "dropped", NULL };

static const struct fb_field fields[NFIELDS] = {
	{ "fillingLevel", "ratio", FB_FIELD_NUMBER, 0, 1, 0.01, NULL, false,
	  "measured fill level, 0 empty to 1 full" },
	{ "temperature", "°C", FB_FIELD_NUMBER, -30, 150, 0.1, NULL, false,
	  "temperature inside the container" },
	{ "batteryLevel", "ratio", FB_FIELD_NUMBER, 0, 1, 0.01, NULL, false,
	  "remaining battery, 0 to 1" },
	{ "status", NULL, FB_FIELD_ENUM, 0, 5, 1, status_names, false,
	  "ok, lidOpen, moved (tilt: lifted for emptying or displaced), burning (fire alarm), "
	  "invalidReading, dropped" },
};

enum { C_GLASS, C_PAPER };
static const char *const content_names[] = { "glass", "paper", NULL };
enum { E_THRESHOLD, E_FIXED };
static const char *const policy_names[] = { "threshold", "fixed", NULL };

struct waste_params {
	int content;
	double volume_m3;
	double daily_l;
	int emptying;
	double threshold;
	double period_days;
	double summer_uplift;
	double invalid_rate;
	double fire_rate;
	double noise;
};

static const struct fb_param params[] = {
	{ "content", FB_PARAM_ENUM, offsetof(struct waste_params, content), C_GLASS, 0, 0,
	  content_names, "glass (loose bottles: noisy level) or paper (fills faster, compacts)" },
	{ "volume", FB_PARAM_NUMBER, offsetof(struct waste_params, volume_m3), 3, 0.5, 10, NULL,
	  "container volume, m³ (PAV columns: 2-4 m³)" },
	{ "daily_volume", FB_PARAM_NUMBER, offsetof(struct waste_params, daily_l), 150, 0, 5000,
	  NULL, "mean volume deposited per day, litres (glass: ~400 inhabitants x 50 kg/year at "
	  "~0.35 kg/L loose is ~150 L/day)" },
	{ "emptying", FB_PARAM_ENUM, offsetof(struct waste_params, emptying), E_THRESHOLD, 0, 0,
	  policy_names, "threshold: collected the next working morning (or the one after) once the "
	  "level passes `threshold`; fixed: every `period` days on the same weekday" },
	{ "threshold", FB_PARAM_NUMBER, offsetof(struct waste_params, threshold), 0.75, 0.1, 1, NULL,
	  "fill level that triggers a collection (threshold policy)" },
	{ "period", FB_PARAM_NUMBER, offsetof(struct waste_params, period_days), 14, 1, 90, NULL,
	  "days between collections (fixed policy)" },
	{ "summer_uplift", FB_PARAM_NUMBER, offsetof(struct waste_params, summer_uplift), 0.3, 0, 3,
	  NULL, "extra deposits in July and August (tourists)" },
	{ "invalid_rate", FB_PARAM_NUMBER, offsetof(struct waste_params, invalid_rate), 0.005, 0, 1,
	  NULL, "probability that a reading is invalid (sensor covered)" },
	{ "fire_rate", FB_PARAM_NUMBER, offsetof(struct waste_params, fire_rate), 0.02, 0, 1000, NULL,
	  "fires per container and year" },
	{ "noise", FB_PARAM_NUMBER, offsetof(struct waste_params, noise), 0.03, 0, 0.2, NULL,
	  "sd of the level reading (glass cone under the sensor: 0.03-0.05)" },
	{ NULL }
};

struct waste_state {
	fb_time_us start;
	fb_time_us last;
	fb_time_us next_empty;   /* FB_TIME_NEVER when none is scheduled */
	fb_time_us emptied_at;   /* the last emptying, 0 if none */
	float fill;              /* true level, 0..1 */
	float battery0;
	uint8_t fire_left;       /* samples of fire left */
	uint8_t started;
};

/* Deposit weights by local hour (08-21 h) and by weekday (Sunday first) [estimate]. */
static const double hour_weight[24] = {
	0, 0, 0, 0, 0, 0, 0, 0, 4, 6, 8, 9, 7, 6, 6, 7, 8, 10, 12, 11, 7, 4, 0, 0 };
#define HOUR_WEIGHT_SUM 105.0
static const double glass_weekday[7] = { 1.10, 1.25, 0.90, 0.90, 0.90, 1.00, 1.15 };
static const double paper_weekday[7] = { 0.80, 1.10, 1.05, 1.00, 1.00, 1.05, 1.00 };

static fb_time_us local_morning(const struct fb_device_ctx *ctx, int64_t day, uint64_t key)
{
	double u = fb_unit(fb_hash64(ctx->world->seed, ctx->index, FB_RNG_EVENTS, key));
	return fb_tz_local_midnight(ctx->world->tz, day) + (fb_time_us)((6 + 6 * u) * FB_US_PER_H);
}

static int64_t round_phase(const struct fb_device_ctx *ctx, int64_t period)
{
	int64_t r = (int64_t)fb_rng_below(&(struct fb_rng){ fb_hash64(ctx->world->seed, ctx->index,
	                                                              FB_RNG_EVENTS, 1) },
	                                  (uint64_t)period);
	int wday = (int)(((r + 4) % 7 + 7) % 7);   /* 1970-01-01 was a Thursday */
	if (wday == 6)
		r += 2;
	else if (wday == 0)
		r += 1;
	return r;
}

/* The first fixed-round emptying strictly after x. */
static fb_time_us next_fixed(const struct fb_device_ctx *ctx, fb_time_us x)
{
	const struct waste_params *p = ctx->params;
	int64_t period = (int64_t)llround(p->period_days);
	int64_t r = round_phase(ctx, period);
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, x, &lt);
	int64_t k = ((r - lt.day) % period + period) % period;
	for (int64_t day = lt.day + k;; day += period) {
		fb_time_us at = local_morning(ctx, day, (uint64_t)day << 8 | 2);
		if (at > x)
			return at;
	}
}

/* A threshold collection: the next working morning after x, or the one after. */
static fb_time_us next_threshold(const struct fb_device_ctx *ctx, fb_time_us x)
{
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, x, &lt);
	int64_t day = lt.day + 1 + (int64_t)fb_rng_below(ctx->rng, 2);
	int wday = (int)((lt.wday + (day - lt.day)) % 7);
	if (wday == 6)
		day += 2;
	else if (wday == 0)
		day += 1;
	return local_morning(ctx, day, (uint64_t)day << 8 | 3);
}

/* Adds the deposits of (a, b]. */
static void deposit(const struct fb_device_ctx *ctx, struct waste_state *st, fb_time_us a,
                    fb_time_us b)
{
	const struct waste_params *p = ctx->params;
	bool glass = p->content == C_GLASS;
	double lo = glass ? 0.001 : 0.002, hi = glass ? 0.01 : 0.02;
	double mean_size = (lo + hi) / 2;
	double per_day = p->daily_l / (p->volume_m3 * 1000.0) / mean_size;   /* deposits a day */
	double device = 0.7 + 0.6 * fb_unit(fb_hash64(ctx->world->seed, ctx->index, FB_RNG_EVENTS, 0));
	while (a < b) {
		struct fb_localtime lt;
		fb_tz_local(ctx->world->tz, a, &lt);
		fb_time_us hour_end = a + (fb_time_us)((60 - lt.min) * 60 - lt.sec) * FB_US_PER_S -
		                      a % FB_US_PER_S;
		if (hour_end <= a)
			hour_end = a + FB_US_PER_H;
		fb_time_us e = hour_end < b ? hour_end : b;
		double w = hour_weight[lt.hour];
		if (w > 0) {
			double season = 1;
			if (lt.month == 7 || lt.month == 8)
				season += p->summer_uplift;
			if (glass && lt.month == 12)
				season += 0.2;   /* holiday bottles */
			double day_w = (glass ? glass_weekday : paper_weekday)[lt.wday] / (7.2 / 7);
			double lambda = per_day * device * season * day_w * w / HOUR_WEIGHT_SUM *
			                (double)(e - a) / FB_US_PER_H;
			uint32_t k = fb_rng_poisson(ctx->rng, lambda);
			double add;
			if (k < 8) {
				add = 0;
				for (uint32_t i = 0; i < k; i++)
					add += fb_rng_range(ctx->rng, lo, hi);
			} else {
				double sd = (hi - lo) / sqrt(12.0);
				add = k * mean_size + sqrt((double)k) * sd * fb_rng_normal(ctx->rng);
			}
			if (!glass)
				add *= 1 - 0.4 * st->fill;   /* paper settles and compacts */
			double f = st->fill + (add > 0 ? add : 0);
			st->fill = (float)(f > 1 ? 1 : f);
		}
		a = e;
	}
}

static int init(const struct fb_device_ctx *ctx, void *state, fb_time_us start)
{
	const struct waste_params *p = ctx->params;
	struct waste_state *st = state;
	st->start = start;
	st->last = start;
	st->fill = (float)fb_rng_range(ctx->rng, 0, 0.6);
	st->battery0 = (float)fb_rng_range(ctx->rng, 0.4, 1.0);
	st->next_empty = FB_TIME_NEVER;
	if (p->emptying == E_FIXED)
		st->next_empty = next_fixed(ctx, start);
	else if (st->fill >= p->threshold)
		st->next_empty = next_threshold(ctx, start);
	return 0;
}

static fb_time_us next_time(const struct fb_device_ctx *ctx, void *state, fb_time_us last)
{
	const struct waste_state *st = state;
	fb_time_us next = last + ctx->interval_us;
	/* The tilt of a collection is an event uplink shortly after the lift. */
	if (st->next_empty != FB_TIME_NEVER && st->next_empty + 2 * FB_US_PER_MIN < next &&
	    st->next_empty + 2 * FB_US_PER_MIN > last)
		next = st->next_empty + 2 * FB_US_PER_MIN;
	return next;
}

static double battery_at(const struct waste_state *st, fb_time_us t)
{
	double months = (double)(t - st->start) / (30.44 * FB_US_PER_DAY);
	double b = st->battery0 - 0.01 * months;
	if (b < 0.15)
		b = 0.15 - 3 * (0.15 - b);   /* the voltage knee at end of life */
	return b < 0 ? 0 : b > 1 ? 1 : b;
}

static void sample(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *v)
{
	const struct waste_params *p = ctx->params;
	struct waste_state *st = state;
	fb_time_us from = st->started ? st->last : t;
	if (from < t - 62 * FB_US_PER_DAY)
		from = t - 62 * FB_US_PER_DAY;
	bool moved = false;
	while (st->next_empty <= t) {
		if (st->next_empty > from) {
			deposit(ctx, st, from, st->next_empty);
			from = st->next_empty;
		}
		st->fill = (float)fb_rng_range(ctx->rng, 0, 0.05);
		st->emptied_at = st->next_empty;
		moved = true;
		st->next_empty = p->emptying == E_FIXED ? next_fixed(ctx, st->emptied_at)
		                                        : FB_TIME_NEVER;
	}
	deposit(ctx, st, from, t);
	if (p->emptying == E_THRESHOLD && st->next_empty == FB_TIME_NEVER && st->fill >= p->threshold)
		st->next_empty = next_threshold(ctx, t);
	fb_time_us span = st->started ? t - st->last : ctx->interval_us;
	st->started = 1;
	st->last = t;

	uint32_t site = ctx->site ? ctx->site->index : 0;
	double air = fb_weather_temperature_c(ctx->world->seed, site, t);
	struct fb_localtime lt;
	fb_tz_local(ctx->world->tz, t, &lt);
	double sun = cos(2 * M_PI * (lt.hour_f - 14) / 24);
	double temp = air + (sun > 0 ? sun : 0) * (3 + 5 * fb_weather_summer_factor(t)) +
	              0.2 * fb_rng_normal(ctx->rng);

	double level = st->fill + p->noise * fb_rng_normal(ctx->rng);
	int status = S_OK;
	double p_fire = p->fire_rate * (double)span / (365.25 * FB_US_PER_DAY);
	if (!st->fire_left && fb_rng_uniform(ctx->rng) < p_fire)
		st->fire_left = (uint8_t)(2 + fb_rng_below(ctx->rng, 3));
	double u = fb_rng_uniform(ctx->rng);
	if (moved) {
		status = S_MOVED;
	} else if (st->fire_left) {
		st->fire_left--;
		status = S_BURNING;
		temp = fb_rng_range(ctx->rng, 60, 110);
	} else if (u < p->invalid_rate) {
		status = S_INVALID;
		level = fb_rng_uniform(ctx->rng) < 0.5 ? 0 : 1;
	} else if (u < p->invalid_rate + (p->content == C_PAPER ? 0.02 : 0.01)) {
		status = S_LID_OPEN;
	} else if (u < p->invalid_rate + (p->content == C_PAPER ? 0.02 : 0.01) + 0.001) {
		status = S_MOVED;   /* displaced outside a collection (vandalism) */
	}
	v[F_FILL] = level < 0 ? 0 : level > 1 ? 1 : level;
	v[F_TEMP] = temp < -30 ? -30 : temp > 150 ? 150 : temp;
	v[F_BATTERY] = battery_at(st, t);
	v[F_STATUS] = status;
}

const struct fb_model fb_model_waste = {
	.name = "waste",
	.description = "glass or paper drop-off container with an ultrasonic fill sensor: deposits, "
	               "collections with the tilt event, alarms, battery",
	.fiware_type = "WasteContainer",
	.fields = fields,
	.nfields = NFIELDS,
	.default_interval_us = 4 * FB_US_PER_H,
	.state_size = sizeof(struct waste_state),
	.params = params,
	.params_size = sizeof(struct waste_params),
	.init = init,
	.next_time = next_time,
	.sample = sample,
};
