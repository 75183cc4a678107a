/* Device validation checks (harness/validate.h): observations in, a conformance report out. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "harness/validate.h"
#include "harness/report.h"
#include "protocols/lorawan/region.h"
#include "sim/log.h"
#include "sim/tz.h"

enum check {
	C_TRAFFIC, C_DECODE, C_FIELDS, C_RANGE, C_RESOLUTION, C_INTERVAL, C_JITTER, C_COUNTERS,
	C_TIMESTAMPS, C_SEQUENCE, C_MIC, C_FCNT, C_DEVNONCE, C_DUTY, C_MAP, NCHECKS
};

static const char *const check_names[NCHECKS] = {
	"traffic", "decode", "fields", "range", "resolution", "interval", "jitter", "counters",
	"timestamps", "sequence", "mic", "fcnt", "devnonce", "duty-cycle", "map"
};

enum proto { P_MQTT, P_LORAWAN, P_MODBUS };

/* Which checks a protocol has at all (others are not even listed as "not checked"). */
static bool applies(enum proto p, enum check c)
{
	switch (c) {
	case C_INTERVAL: case C_JITTER: case C_TIMESTAMPS: case C_SEQUENCE:
		return p != P_MODBUS;
	case C_MIC: case C_FCNT: case C_DEVNONCE: case C_DUTY:
		return p == P_LORAWAN;
	case C_MAP:
		return p == P_MODBUS;
	default:
		return true;
	}
}

/* Counts for one check during the observation; the first failure is kept as the example. */
struct tally {
	uint64_t checked, failed;
	char first[200];
};

struct interval {
	fb_time_us arrival;            /* between the two reports' arrivals (µs) */
	fb_time_us claimed;            /* between the timestamps they carry, or FB_TIME_NEVER */
	bool after_join;               /* from a session's first uplink (which may come early) */
};

struct tx {                        /* one LoRaWAN uplink, for the duty cycle */
	fb_time_us at, airtime;
};

/* Time on air is accounted per EU868 sub-band (protocols/lorawan/region.h) of the frequency
 * the gateway reported, plus two buckets: */
#define BAND_OUTSIDE FB_LW_NB_BANDS        /* a frequency in no EU868 sub-band */
#define BAND_UNKNOWN (FB_LW_NB_BANDS + 1)  /* no frequency reported */
#define NBANDS (FB_LW_NB_BANDS + 2)
/* Outside the sub-bands ETSI EN 300 220 allows 0.1 % (fb_lw_band_duty's value for no band). */
#define OUTSIDE_BAND_DUTY 0.001
/* Without the frequency, an uplink may be on either 1 % sub-band EU868 uplinks use: the default
 * channels (868.1-868.5 MHz) or the CFList's (867.1-867.9 MHz), so a compliant device may be on
 * air up to 2 % in all. */
#define UNKNOWN_BAND_DUTY 0.02
#define MAX_DEVICES 4096

struct vdev {
	char id[64];
	uint64_t reports, joins;
	uint64_t seen_fields;          /* fields any report of the device carried (Sparkplug births) */
	int after_join;                /* LoRaWAN: 2 after a join, 1 after its first uplink, then 0 */
	fb_time_us last_recv;          /* FB_TIME_NEVER before the first report */
	fb_time_us last_claimed;       /* the timestamp the last report carried, or FB_TIME_NEVER */
	fb_time_us last_ts;
	int64_t last_seq;
	bool have_fcnt;
	uint32_t last_fcnt;
	bool have_counter[FB_MAX_FIELDS];
	double counter_prev[FB_MAX_FIELDS];
	fb_time_us counter_t[FB_MAX_FIELDS];
	uint32_t *nonces;
	size_t nnonces, nonce_cap;
	struct tx *tx[NBANDS];
	size_t ntx[NBANDS], tx_cap[NBANDS];
	uint32_t band_freq[NBANDS];    /* the first frequency seen in each band (for messages) */
};

struct fb_validate {
	struct fb_profile profile;
	enum proto proto;
	char proto_name[16], codec[32], source[256];
	struct fb_tz *tz;              /* made at the first counter comparison */
	bool tz_failed;
	struct vdev **devs;
	size_t ndevs, dev_cap;
	struct vdev *last_dev;
	uint64_t observations, reports, joins, too_many_devices, foreign;
	/* intervals between consecutive reports of a device, all devices */
	struct interval *intervals;
	size_t nintervals, interval_cap;
	struct tally t[NCHECKS];
	/* details the messages quote */
	uint64_t values_checked, grid_unchecked_fields;  /* fields whose codec step is coarser */
	uint64_t grid_coarse[FB_MAX_FIELDS / 64 + 1];
	uint64_t ts_missing, seq_gaps, warming_up;
	fb_time_us ts_max_ahead, ts_max_age;
	bool ts_seen, seq_seen;
	double vmin[FB_MAX_FIELDS], vmax[FB_MAX_FIELDS];
	bool vseen[FB_MAX_FIELDS];
	/* results */
	bool finished;
	fb_time_us started, ended;
	struct fb_validate_check result[NCHECKS];
	bool ran[NCHECKS];
	char not_checked[NCHECKS][160];
};

static void note(struct tally *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts a failure; the first one's description is kept. */
static void note(struct tally *t, const char *fmt, ...)
{
	if (t->failed++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->first, sizeof t->first, fmt, ap);
		va_end(ap);
	}
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

struct fb_validate *fb_validate_new(const struct fb_profile *p, const struct fb_validate_opts *o)
{
	enum proto proto;
	if (!o->proto || !strcmp(o->proto, "mqtt"))
		proto = P_MQTT;
	else if (!strcmp(o->proto, "lorawan"))
		proto = P_LORAWAN;
	else if (!strcmp(o->proto, "modbus"))
		proto = P_MODBUS;
	else {
		fb_error("unknown protocol '%s' to validate", o->proto);
		return NULL;
	}
	struct fb_validate *v = calloc(1, sizeof *v);
	if (!v) {
		fb_error("out of memory");
		return NULL;
	}
	v->profile = *p;
	v->proto = proto;
	snprintf(v->proto_name, sizeof v->proto_name, "%s", o->proto ? o->proto : "mqtt");
	snprintf(v->codec, sizeof v->codec, "%s", o->codec ? o->codec : "");
	snprintf(v->source, sizeof v->source, "%s", o->source ? o->source : "");
	return v;
}

void fb_validate_free(struct fb_validate *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->ndevs; i++) {
		free(v->devs[i]->nonces);
		for (int b = 0; b < NBANDS; b++)
			free(v->devs[i]->tx[b]);
		free(v->devs[i]);
	}
	free(v->devs);
	free(v->intervals);
	if (v->tz)
		fb_tz_free(v->tz);
	free(v);
}

uint64_t fb_validate_observations(const struct fb_validate *v)
{
	return v->observations;
}

static struct vdev *device_of(struct fb_validate *v, const struct fb_obs *o)
{
	char id[64];
	if (o->device_id && *o->device_id)
		snprintf(id, sizeof id, "%s", o->device_id);
	else if (o->device != FB_OBS_NO_DEVICE)
		snprintf(id, sizeof id, "#%u", o->device);
	else
		snprintf(id, sizeof id, "(unknown)");
	if (v->last_dev && !strcmp(v->last_dev->id, id))
		return v->last_dev;
	for (size_t i = 0; i < v->ndevs; i++)
		if (!strcmp(v->devs[i]->id, id))
			return v->last_dev = v->devs[i];
	/* A device seen for the first time: one allocation per device, not per message. */
	if (v->ndevs >= MAX_DEVICES) {
		v->too_many_devices++;
		return NULL;
	}
	struct vdev *d = calloc(1, sizeof *d);
	if (!d || grow((void **)&v->devs, &v->dev_cap, v->ndevs + 1, sizeof *v->devs)) {
		free(d);
		return NULL;
	}
	memcpy(d->id, id, sizeof d->id);
	d->last_recv = FB_TIME_NEVER;
	d->last_claimed = FB_TIME_NEVER;
	d->last_ts = FB_TIME_NEVER;
	d->last_seq = -1;
	v->devs[v->ndevs++] = d;
	return v->last_dev = d;
}

static void fmt_value(const struct fb_field *f, double x, char *buf, size_t cap)
{
	if (f->kind == FB_FIELD_ENUM && x >= 0 && x == floor(x)) {
		if ((size_t)x < fb_field_enum_count(f)) {
			snprintf(buf, cap, "'%s'", f->enum_names[(size_t)x]);
			return;
		}
	}
	snprintf(buf, cap, "%.10g%s%s", x, f->unit && *f->unit ? " " : "", f->unit ? f->unit : "");
}

static void fmt_secs(fb_time_us us, char *buf, size_t cap)
{
	double s = (double)us / FB_US_PER_S;
	if (fabs(s) >= 10)
		snprintf(buf, cap, "%.1f s", s);
	else
		snprintf(buf, cap, "%.3f s", s);
}

static int64_t local_day(struct fb_validate *v, fb_time_us t, int *year)
{
	if (!v->tz && !v->tz_failed) {
		v->tz = fb_tz_new(v->profile.timezone, t - FB_US_PER_DAY, t + 31 * FB_US_PER_DAY);
		if (!v->tz) {
			v->tz_failed = true;
			fb_warn("unknown time zone '%s': counters reset at UTC midnight", v->profile.timezone);
		}
	}
	if (!v->tz) {
		int m, d;
		int64_t day = t >= 0 ? t / FB_US_PER_DAY : (t - FB_US_PER_DAY + 1) / FB_US_PER_DAY;
		fb_civil_from_days(day, year, &m, &d);
		return day;
	}
	struct fb_localtime lt;
	fb_tz_local(v->tz, t, &lt);
	*year = lt.year;
	return lt.day;
}

/* May a counter of this kind have fallen between a report at `from` and one at `to`? */
static bool reset_between(struct fb_validate *v, enum fb_field_counter k, fb_time_us from, fb_time_us to)
{
	if (k == FB_COUNTER_TOTAL || k == FB_COUNTER_NONE || to <= from)
		return false;
	int y0, y1;
	int64_t d0 = local_day(v, from, &y0), d1 = local_day(v, to, &y1);
	return k == FB_COUNTER_DAILY ? d1 > d0 : y1 > y0;
}

static bool has_coarse(const struct fb_validate *v, unsigned i)
{
	return v->grid_coarse[i / 64] >> (i % 64) & 1;
}

static void check_values(struct fb_validate *v, struct vdev *d, const struct fb_obs *o)
{
	const struct fb_model *m = v->profile.model;
	unsigned n = m->nfields < FB_MAX_FIELDS ? m->nfields : FB_MAX_FIELDS;
	/* fields: every field of the profile present, none unknown or mistyped. Sparkplug B reports
	 * by exception: a DDATA carries the metrics that changed, the DBIRTH carries them all, so a
	 * field counts as present once any report of the device carried it. */
	v->t[C_FIELDS].checked++;
	bool by_exception = !strcmp(v->codec, "sparkplug");
	uint64_t present = o->nvalues < 64 ? o->present & ((1ull << o->nvalues) - 1) : o->present;
	uint64_t before = d->seen_fields;
	d->seen_fields |= present;
	uint64_t have = by_exception ? d->seen_fields : present;
	/* Modbus: a register holding the 'no value' marker before it ever held a value is a device
	 * warming up (a field never read at all fails at the end) */
	if (v->proto == P_MODBUS && (~before & ~present & ((n < 64 ? 1ull << n : 0) - 1))) {
		v->warming_up++;
		have |= ~before;
	}
	unsigned missing = 0;
	int first_missing = -1;
	for (unsigned i = 0; i < n; i++)
		if (!(have >> i & 1)) {
			missing++;
			if (first_missing < 0)
				first_missing = (int)i;
		}
	/* (the Modbus poller flags a value out of range as a bad field: the range check names it;
	 * fields only missing (FB_OBS_PARTIAL) are judged above, Sparkplug reporting by exception) */
	if (missing)
		note(&v->t[C_FIELDS], "'%s'%s missing from a report of '%s'", m->fields[first_missing].name,
		     missing > 1 ? " and others" : "", d->id);
	else if ((o->flags & FB_OBS_BAD_FIELD) && !(o->flags & FB_OBS_PARTIAL) && v->proto != P_MODBUS)
		note(&v->t[C_FIELDS], "%s from '%s'", o->detail ? o->detail : "a field unknown or mistyped",
		     d->id);

	fb_time_us t = o->ts != FB_TIME_NEVER ? o->ts : o->recv_wall;
	for (unsigned i = 0; i < n && i < o->nvalues; i++) {
		if (!(o->present >> i & 1))
			continue;
		const struct fb_field *f = &m->fields[i];
		double x = o->values[i];
		double half = f->kind == FB_FIELD_NUMBER ? f->resolution / 2 : 0.5;
		double tol = o->tolerance ? o->tolerance[i] : half;
		char shown[64];
		v->values_checked++;
		if (!v->vseen[i] || x < v->vmin[i])
			v->vmin[i] = x;
		if (!v->vseen[i] || x > v->vmax[i])
			v->vmax[i] = x;
		v->vseen[i] = true;

		/* range: a codec coarser than the field may land a step beyond the edge */
		double eps = 1e-9 * fmax(1, fabs(x)) + (tol > half ? tol - half : 0);
		bool in_range = isfinite(x) && x >= f->min - eps && x <= f->max + eps;
		if (in_range && f->kind == FB_FIELD_ENUM && f->enum_names) {
			size_t count = 0;
			while (f->enum_names[count])
				count++;
			in_range = x >= 0 && x < (double)count;
		}
		v->t[C_RANGE].checked++;
		if (!in_range) {
			fmt_value(f, x, shown, sizeof shown);
			note(&v->t[C_RANGE], "'%s' = %s from '%s', outside %g..%g", f->name, shown, d->id,
			     f->min, f->max);
		}

		/* resolution: on the field's grid; a codec coarser than the grid cannot show it */
		if (tol > half * (1 + 1e-9) + 1e-12) {
			if (!has_coarse(v, i))
				v->grid_unchecked_fields++;
			v->grid_coarse[i / 64] |= 1ull << (i % 64);
		} else if (isfinite(x)) {
			double step = f->kind == FB_FIELD_NUMBER ? f->resolution : 1;
			double k = nearbyint(x / step);
			/* on the grid up to float32 precision (a Modbus float register holds 0.327 as
			 * 0.32699999), never more than a quarter step */
			double geps = fmin(fmax(1e-6 * step, 1.2e-7 * fabs(x)), step / 4);
			v->t[C_RESOLUTION].checked++;
			if (fabs(x - k * step) > geps) {
				fmt_value(f, x, shown, sizeof shown);
				note(&v->t[C_RESOLUTION], "'%s' = %s from '%s' is not a multiple of %g", f->name,
				     shown, d->id, step);
			}
		}

		/* counters */
		enum fb_field_counter ck = v->profile.counter[i];
		if (ck != FB_COUNTER_NONE && isfinite(x)) {
			if (d->have_counter[i]) {
				v->t[C_COUNTERS].checked++;
				double prev = d->counter_prev[i];
				double ceps = fmax(o->tolerance ? o->tolerance[i] : 0, 1e-9 * fmax(1, fabs(prev)));
				if (x < prev - ceps && !reset_between(v, ck, d->counter_t[i], t)) {
					char a[64], b[64], when[25];
					fmt_value(f, prev, a, sizeof a);
					fmt_value(f, x, b, sizeof b);
					fb_format_iso_ms(t, when);
					note(&v->t[C_COUNTERS], "'%s' of '%s' fell from %s to %s at %s%s", f->name, d->id,
					     a, b, when,
					     ck == FB_COUNTER_DAILY ? " with no local midnight between" :
					     ck == FB_COUNTER_YEARLY ? " with no new year between" : "");
				}
			}
			d->have_counter[i] = true;
			d->counter_prev[i] = x;
			d->counter_t[i] = t;
		}
	}
}

static void check_timestamp(struct fb_validate *v, struct vdev *d, const struct fb_obs *o)
{
	if (o->ts == FB_TIME_NEVER) {
		v->ts_missing++;
		return;
	}
	v->ts_seen = true;
	v->t[C_TIMESTAMPS].checked++;
	fb_time_us ahead = o->ts - o->recv_wall;
	char when[25], prev[25], s[32];
	fb_format_iso_ms(o->ts, when);
	if (ahead > v->ts_max_ahead)
		v->ts_max_ahead = ahead;
	if (-ahead > v->ts_max_age)
		v->ts_max_age = -ahead;
	if (ahead > v->profile.skew_us) {
		fmt_secs(ahead, s, sizeof s);
		note(&v->t[C_TIMESTAMPS], "%s from '%s' is %s ahead of the bench's clock", when, d->id, s);
	} else if (d->last_ts != FB_TIME_NEVER && o->ts < d->last_ts) {
		fb_format_iso_ms(d->last_ts, prev);
		note(&v->t[C_TIMESTAMPS], "%s from '%s' is before the previous report's %s", when, d->id, prev);
	}
	d->last_ts = o->ts;
}

static void check_seq(struct fb_validate *v, struct vdev *d, const struct fb_obs *o)
{
	if (o->seq < 0)
		return;
	v->seq_seen = true;
	if (d->last_seq >= 0) {
		v->t[C_SEQUENCE].checked++;
		if (o->seq <= d->last_seq)
			note(&v->t[C_SEQUENCE], "seq %lld from '%s' after seq %lld", (long long)o->seq, d->id,
			     (long long)d->last_seq);
		else
			v->seq_gaps += (uint64_t)(o->seq - d->last_seq - 1);
	}
	if (o->seq > d->last_seq)
		d->last_seq = o->seq;
}

static void record_tx(struct vdev *d, const struct fb_obs *o)
{
	if (!(o->airtime_s > 0))
		return;
	int b = BAND_UNKNOWN;
	if (o->freq_hz) {
		b = fb_lw_band_of(o->freq_hz);
		if (b < 0)
			b = BAND_OUTSIDE;
		if (!d->band_freq[b])
			d->band_freq[b] = o->freq_hz;
	}
	if (grow((void **)&d->tx[b], &d->tx_cap[b], d->ntx[b] + 1, sizeof(struct tx)))
		return;
	d->tx[b][d->ntx[b]++] = (struct tx){ o->recv_wall, (fb_time_us)llround(o->airtime_s * 1e6) };
}

static void join(struct fb_validate *v, struct vdev *d, const struct fb_obs *o)
{
	v->joins++;
	d->joins++;
	uint32_t nonce = o->devnonce_plus1 - 1;
	v->t[C_MIC].checked++;
	record_tx(d, o);
	if (o->flags & FB_OBS_BAD_MIC) {
		/* its DevNonce cannot be trusted: not recorded */
		note(&v->t[C_MIC], "join request of '%s': %s", d->id, o->detail ? o->detail : "MIC does not verify");
		return;
	}
	v->t[C_DEVNONCE].checked++;
	bool reused = false;
	for (size_t i = 0; i < d->nnonces && !reused; i++)
		reused = d->nonces[i] == nonce;
	if (reused)
		note(&v->t[C_DEVNONCE], "DevNonce 0x%04x of '%s' used again (join %llu)", nonce, d->id,
		     (unsigned long long)d->joins);
	else if (o->flags & FB_OBS_REPLAY)   /* the endpoint's rule: LoRaWAN 1.0.4 DevNonce counts up */
		note(&v->t[C_DEVNONCE], "DevNonce 0x%04x of '%s' refused (join %llu)%s%s", nonce, d->id,
		     (unsigned long long)d->joins, o->detail ? ": " : "", o->detail ? o->detail : "");
	if (!reused && !grow((void **)&d->nonces, &d->nonce_cap, d->nnonces + 1, sizeof *d->nonces))
		d->nonces[d->nnonces++] = nonce;
	/* A join starts a new session: FCnt from 0, and the reporting cadence afresh (its first
	 * uplink goes out when the join is accepted, maybe early on the device's schedule). */
	d->have_fcnt = false;
	d->after_join = 2;
	d->last_recv = d->last_claimed = FB_TIME_NEVER;
}

void fb_validate_observe(void *arg, const struct fb_obs *o)
{
	struct fb_validate *v = arg;
	if (v->finished)
		return;
	v->observations++;
	/* A gateway hears every LoRaWAN device around it: frames of DevAddrs not in the keys file
	 * are the neighbours', not the device's; counted and left out. */
	if (v->proto == P_LORAWAN && (o->flags & FB_OBS_UNKNOWN_DEVICE)) {
		v->foreign++;
		return;
	}
	struct vdev *d = device_of(v, o);
	if (!d) {
		note(&v->t[C_DECODE], "too many devices (more than %d): narrow the topic filter", MAX_DEVICES);
		return;
	}
	if (v->proto == P_LORAWAN && o->devnonce_plus1) {
		join(v, d, o);
		return;
	}
	v->reports++;
	d->reports++;

	bool usable = true;
	if (v->proto == P_LORAWAN) {
		v->t[C_MIC].checked++;
		record_tx(d, o);
		if (o->flags & FB_OBS_BAD_MIC) {
			note(&v->t[C_MIC], "uplink FCnt %u of '%s': %s", o->fcnt, d->id,
			     o->detail ? o->detail : "MIC does not verify");
			usable = false;
		} else {
			if (d->have_fcnt) {
				v->t[C_FCNT].checked++;
				if (o->fcnt <= d->last_fcnt || (o->flags & FB_OBS_REPLAY))
					note(&v->t[C_FCNT], "FCnt %u of '%s' after FCnt %u", o->fcnt, d->id, d->last_fcnt);
			} else if (o->flags & FB_OBS_REPLAY) {
				v->t[C_FCNT].checked++;
				note(&v->t[C_FCNT], "FCnt %u of '%s' replayed%s%s", o->fcnt, d->id,
				     o->detail ? ": " : "", o->detail ? o->detail : "");
			}
			if (!d->have_fcnt || o->fcnt > d->last_fcnt)
				d->last_fcnt = o->fcnt;
			d->have_fcnt = true;
		}
	}
	if (v->proto == P_MODBUS) {
		v->t[C_MAP].checked++;
		/* The poller compares constant registers (unit codes, status words) with the map: a
		 * mismatch is the device's. (In validate mode it leaves the simulator's identity
		 * registers, deviceId and deviceIndex, alone: a real device names itself otherwise.) */
		if (o->flags & (FB_OBS_EXCEPTION | FB_OBS_TIMEOUT)) {
			note(&v->t[C_MAP], "%s from unit '%s'%s%s",
			     o->flags & FB_OBS_TIMEOUT ? "no reply" : "exception", d->id,
			     o->detail ? ": " : "", o->detail ? o->detail : "");
			usable = false;
		} else if (o->flags & FB_OBS_WRONG_VALUE) {
			note(&v->t[C_MAP], "unit '%s': %s", d->id, o->detail ? o->detail : "a register reads "
			     "another value than the map declares");
		}
	}
	if (usable) {
		v->t[C_DECODE].checked++;
		if (o->flags & (FB_OBS_UNDECODABLE | FB_OBS_UNKNOWN_DEVICE)) {
			note(&v->t[C_DECODE], "%s from '%s'%s%s",
			     o->flags & FB_OBS_UNDECODABLE ? "undecodable payload" : "unknown device", d->id,
			     o->detail ? ": " : "", o->detail ? o->detail : "");
			usable = false;
		}
	}
	if (!usable)
		return;
	/* interval: between a device's decoded reports (an undecodable message cannot be told from
	 * someone else's traffic, and is counted by the decode check), on arrival and by the
	 * timestamps they carry */
	if (v->proto != P_MODBUS) {
		if (d->last_recv != FB_TIME_NEVER &&
		    !grow((void **)&v->intervals, &v->interval_cap, v->nintervals + 1, sizeof *v->intervals))
			v->intervals[v->nintervals++] = (struct interval){
				o->recv_wall - d->last_recv,
				o->ts != FB_TIME_NEVER && d->last_claimed != FB_TIME_NEVER ? o->ts - d->last_claimed :
				                                                            FB_TIME_NEVER,
				d->after_join == 1 };
		if (d->after_join)
			d->after_join--;
		d->last_recv = o->recv_wall;
		d->last_claimed = o->ts;
	}
	check_values(v, d, o);
	if (v->proto != P_MODBUS) {
		check_timestamp(v, d, o);
		check_seq(v, d, o);
	}
}

/* ---- the checks over the whole stream ---- */

static int cmp_time(const void *a, const void *b)
{
	fb_time_us x = *(const fb_time_us *)a, y = *(const fb_time_us *)b;
	return x < y ? -1 : x > y;
}

static void set(struct fb_validate *v, enum check c, bool passed, const char *expected,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void set(struct fb_validate *v, enum check c, bool passed, const char *expected,
                const char *fmt, ...)
{
	struct fb_validate_check *r = &v->result[c];
	r->name = check_names[c];
	r->passed = passed;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->measured, sizeof r->measured, fmt, ap);
	va_end(ap);
	snprintf(r->expected, sizeof r->expected, "%s", expected);
	v->ran[c] = true;
}

static void skip(struct fb_validate *v, enum check c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void skip(struct fb_validate *v, enum check c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->not_checked[c], sizeof v->not_checked[c], fmt, ap);
	va_end(ap);
	v->ran[c] = false;
}

/* A tally's verdict: "N of M <what> <fail-word> (first: ...)" or "M <what>, all <ok-word>". */
static void tally_result(struct fb_validate *v, enum check c, const char *what, const char *bad,
                         const char *good, const char *expected)
{
	const struct tally *t = &v->t[c];
	char one[96];
	size_t len = strlen(what);
	if (t->checked == 1 && len > 1 && len < sizeof one && what[len - 1] == 's' && !strchr(what, '(')) {
		memcpy(one, what, len - 1);      /* "1 join request", not "1 join requests" */
		one[len - 1] = '\0';
		what = one;
	}
	if (t->failed)
		set(v, c, false, expected, "%llu of %llu %s %s (first: %s)", (unsigned long long)t->failed,
		    (unsigned long long)t->checked, what, bad, t->first);
	else
		set(v, c, true, expected, "%llu %s, all %s", (unsigned long long)t->checked, what, good);
}

static void expected_ranges(const struct fb_validate *v, char *buf, size_t cap)
{
	const struct fb_model *m = v->profile.model;
	size_t len = (size_t)snprintf(buf, cap, "each value within its field's range:");
	for (unsigned i = 0; i < m->nfields && len < cap; i++) {
		const struct fb_field *f = &m->fields[i];
		len += (size_t)snprintf(buf + len, cap - len, "%s %s %g..%g%s%s", i ? "," : "", f->name,
		                        f->min, f->max, f->unit && *f->unit ? " " : "", f->unit ? f->unit : "");
	}
}

static void expected_grid(const struct fb_validate *v, char *buf, size_t cap)
{
	const struct fb_model *m = v->profile.model;
	size_t len = (size_t)snprintf(buf, cap, "each value a multiple of its field's step:");
	for (unsigned i = 0; i < m->nfields && len < cap; i++) {
		const struct fb_field *f = &m->fields[i];
		len += (size_t)snprintf(buf + len, cap - len, "%s %s %g", i ? "," : "", f->name,
		                        f->kind == FB_FIELD_NUMBER ? f->resolution : 1);
	}
}

struct cadence {
	size_t n, early, missed;
	fb_time_us median, min, max, p95;     /* p95 of |interval - declared| */
};

/* Statistics of the regular intervals (event reports that come early are set aside for types
 * that have them). claimed: by the reports' timestamps, else on arrival. -1 when out of memory. */
static int cadence(const struct fb_validate *v, bool claimed, struct cadence *c)
{
	const struct fb_profile *p = &v->profile;
	fb_time_us declared = p->interval_us;
	fb_time_us bound = (fb_time_us)llround(p->tolerance * (double)declared);
	memset(c, 0, sizeof *c);
	fb_time_us *regular = malloc((v->nintervals ? v->nintervals : 1) * sizeof *regular);
	fb_time_us *dev = malloc((v->nintervals ? v->nintervals : 1) * sizeof *dev);
	if (!regular || !dev) {
		free(regular);
		free(dev);
		return -1;
	}
	for (size_t i = 0; i < v->nintervals; i++) {
		fb_time_us x = claimed ? v->intervals[i].claimed : v->intervals[i].arrival;
		if ((p->early_reports || v->intervals[i].after_join) && x < declared - bound) {
			c->early++;
			continue;
		}
		/* An interval of a whole number of periods is a report that did not arrive or could not
		 * be read (the decode, mic or map check names it): missed, not jitter. The median still
		 * sees the raw interval, so a device reporting at twice the period fails the interval. */
		int64_t k = declared > 0 ? llround((double)x / (double)declared) : 1;
		fb_time_us off = llabs(x - k * declared);
		if (k >= 2 && off <= bound) {
			c->missed += (size_t)(k - 1);
			dev[c->n] = off;
		} else {
			dev[c->n] = llabs(x - declared);
		}
		regular[c->n] = x;
		c->n++;
	}
	if (c->n) {
		size_t n = c->n;
		qsort(regular, n, sizeof *regular, cmp_time);
		qsort(dev, n, sizeof *dev, cmp_time);
		c->median = n % 2 ? regular[n / 2] : (regular[n / 2 - 1] + regular[n / 2]) / 2;
		size_t rank = (size_t)ceil(0.95 * (double)n);   /* nearest rank */
		c->p95 = dev[(rank ? rank : 1) - 1];
		c->min = regular[0];
		c->max = regular[n - 1];
	}
	free(regular);
	free(dev);
	return 0;
}

static void finish_intervals(struct fb_validate *v)
{
	const struct fb_profile *p = &v->profile;
	fb_time_us declared = p->interval_us;
	fb_time_us bound = (fb_time_us)llround(p->tolerance * (double)declared);
	char iv[32], bs[32], exp[320];
	fb_format_duration(declared, iv, sizeof iv);
	fmt_secs(bound, bs, sizeof bs);
	/* The device's cadence is what its timestamps say when every report carries a sane one
	 * (network and bench delays are not the device's); on arrival otherwise (a wrong clock is
	 * the timestamps check's finding, not the cadence's). Both are shown. */
	bool claimed = v->nintervals > 0 && v->t[C_TIMESTAMPS].failed == 0;
	for (size_t i = 0; i < v->nintervals && claimed; i++)
		claimed = v->intervals[i].claimed != FB_TIME_NEVER;
	struct cadence c, arrival;
	if (cadence(v, claimed, &c) || cadence(v, false, &arrival)) {
		set(v, C_INTERVAL, false, "", "out of memory");
		set(v, C_JITTER, false, "", "out of memory");
		return;
	}
	char early_note[128] = "";
	if (c.early)
		snprintf(early_note, sizeof early_note, "; %zu early report%s (%s) not counted", c.early,
		         c.early == 1 ? "" : "s", p->early_reports ? "events, or first after a join" :
		         "first after a join");
	if (c.missed)
		snprintf(early_note + strlen(early_note), sizeof early_note - strlen(early_note),
		         "; %zu report%s missing (an interval of whole periods)", c.missed,
		         c.missed == 1 ? "" : "s");
	snprintf(exp, sizeof exp, "median interval %s ± %g %% (%s)%s", iv, p->tolerance * 100, bs,
	         p->early_reports ? ", event reports may come early" : "");
	if (c.n == 0) {
		const char *why = v->reports == 0 ? "no reports" :
		                  "fewer than two regular reports from one device";
		set(v, C_INTERVAL, false, exp, "%s in the observation (declared interval %s: observe for at "
		    "least 3 intervals, or give --interval)%s", why, iv, early_note);
		snprintf(exp, sizeof exp, "95 %% of intervals within %s of %s", bs, iv);
		set(v, C_JITTER, false, exp, "%s in the observation%s", why, early_note);
		return;
	}
	const char *basis = claimed ? "by the reports' timestamps" : "on arrival";
	char ms[32], lo[32], hi[32], ps[32], am[32], ap[32], also[96] = "";
	fmt_secs(c.median, ms, sizeof ms);
	fmt_secs(c.min, lo, sizeof lo);
	fmt_secs(c.max, hi, sizeof hi);
	fmt_secs(c.p95, ps, sizeof ps);
	fmt_secs(arrival.median, am, sizeof am);
	fmt_secs(arrival.p95, ap, sizeof ap);
	if (claimed) {
		snprintf(also, sizeof also, "; on arrival %s", am);
	}
	set(v, C_INTERVAL, llabs(c.median - declared) <= bound, exp,
	    "median %s over %zu interval%s %s (min %s, max %s%s)%s", ms, c.n, c.n == 1 ? "" : "s", basis,
	    lo, hi, also, early_note);
	if (claimed)
		snprintf(also, sizeof also, "; on arrival %s", ap);
	snprintf(exp, sizeof exp, "95 %% of intervals within %s of %s", bs, iv);
	set(v, C_JITTER, c.p95 <= bound, exp, "p95 |interval - %s| = %s over %zu interval%s %s%s%s", iv, ps,
	    c.n, c.n == 1 ? "" : "s", basis, also, early_note);
}

/* A device's share of time on air in one band. ETSI EN 300 220 counts airtime over any hour; an
 * observation shorter than an hour extrapolates the device's rate from its own frames: the
 * airtime of every frame but the last over the time from the first to the last (a device that
 * keeps each band off for airtime / duty after each frame, as LoRaWAN stacks do, stays within
 * the duty cycle by this measure too). -1 when fewer than two frames. */
static double duty_of(const struct tx *tx, size_t n, fb_time_us *span_out)
{
	if (n < 2)
		return -1;
	fb_time_us span = tx[n - 1].at - tx[0].at;
	*span_out = span < FB_US_PER_H ? span : FB_US_PER_H;
	if (span <= 0)
		return -1;
	if (span < FB_US_PER_H) {
		fb_time_us sum = 0;
		for (size_t i = 0; i + 1 < n; i++)
			sum += tx[i].airtime;
		return (double)sum / (double)span;
	}
	/* the most airtime in any hour: a window (t - 1 h, t] ending at each frame */
	fb_time_us sum = 0, max = 0;
	size_t lo = 0;
	for (size_t i = 0; i < n; i++) {
		sum += tx[i].airtime;
		while (tx[lo].at <= tx[i].at - FB_US_PER_H)
			sum -= tx[lo++].airtime;
		if (sum > max)
			max = sum;
	}
	return (double)max / (double)FB_US_PER_H;
}

static double band_limit(int b)
{
	return b < FB_LW_NB_BANDS ? fb_lw_band_duty(b) : b == BAND_OUTSIDE ? OUTSIDE_BAND_DUTY
	                                                                   : UNKNOWN_BAND_DUTY;
}

/* "the sub-band of 868.100 MHz", "868.650 MHz (in no EU868 sub-band)", "all sub-bands
 * (frequency not reported)" */
static void band_label(const struct vdev *d, int b, char *buf, size_t cap)
{
	if (b == BAND_UNKNOWN)
		snprintf(buf, cap, "all sub-bands (frequency not reported)");
	else if (b == BAND_OUTSIDE)
		snprintf(buf, cap, "%.3f MHz (in no EU868 sub-band)", d->band_freq[b] / 1e6);
	else
		snprintf(buf, cap, "the sub-band of %.3f MHz", d->band_freq[b] / 1e6);
}

static void finish_duty(struct fb_validate *v)
{
	double worst = -1, worst_ratio = 0, worst_limit = UNKNOWN_BAND_DUTY;
	const struct vdev *worst_dev = NULL;
	int worst_band = BAND_UNKNOWN;
	fb_time_us worst_span = 0;
	uint64_t frames = 0;
	bool failed = false;
	char first[400] = "", band[64];
	for (size_t k = 0; k < v->ndevs; k++) {
		struct vdev *d = v->devs[k];
		for (int b = 0; b < NBANDS; b++) {
			frames += d->ntx[b];
			fb_time_us span = 0;
			double ratio = duty_of(d->tx[b], d->ntx[b], &span);
			if (ratio < 0)
				continue;
			/* Shorter than an hour the rate is extrapolated from a few frames whose arrival
			 * times carry the network's and the bench's scheduling jitter: the profile's
			 * tolerance applies then, as it does to the interval. */
			double limit = band_limit(b);
			double allowed = limit * (span < FB_US_PER_H ? 1 + v->profile.tolerance : 1);
			char sp[32];
			fb_format_duration(span, sp, sizeof sp);
			if (ratio / limit > worst) {       /* the busiest: the nearest its band's limit */
				worst = ratio / limit;
				worst_ratio = ratio;
				worst_limit = limit;
				worst_dev = d;
				worst_band = b;
				worst_span = span;
			}
			if (ratio > allowed && !failed) {
				failed = true;
				band_label(d, b, band, sizeof band);
				snprintf(first, sizeof first, "'%s': %.3g %% on air over %s in %s, limit %.3g %% "
				         "(%zu uplinks)", d->id, ratio * 100, sp, band, limit * 100, d->ntx[b]);
			}
		}
	}
	const char *expected = "time on air within the duty cycle of the EU868 sub-band of each frame's "
	                       "frequency (1 % in 865-868, 868-868.6, 869.7-870 MHz; 0.1 % in 863-865, "
	                       "868.7-869.2 MHz and outside; 10 % in 869.4-869.65 MHz; 2 % in all when "
	                       "none is reported) over any hour, extrapolated from the frames seen (within "
	                       "the tolerance) when shorter";
	if (worst < 0) {
		skip(v, C_DUTY, "fewer than two uplinks with their airtime from one device");
		return;
	}
	char sp[32];
	fb_format_duration(worst_span, sp, sizeof sp);
	band_label(worst_dev, worst_band, band, sizeof band);
	if (failed)
		set(v, C_DUTY, false, expected, "%s", first);
	else
		set(v, C_DUTY, true, expected, "busiest: %.3g %% (limit %.3g %%) for '%s' in %s over %s, "
		    "%llu uplinks", worst_ratio * 100, worst_limit * 100, worst_dev->id, band, sp,
		    (unsigned long long)frames);
}

void fb_validate_finish(struct fb_validate *v, fb_time_us started, fb_time_us ended)
{
	if (v->finished)
		return;
	v->finished = true;
	v->started = started;
	v->ended = ended;
	const struct fb_profile *p = &v->profile;
	const struct fb_model *m = p->model;
	char exp[320], iv[32], dur[32];
	fb_format_duration(p->interval_us, iv, sizeof iv);
	fb_format_duration(ended - started, dur, sizeof dur);

	/* traffic */
	const char *unit = v->proto == P_MODBUS ? "poll" : "report";
	snprintf(exp, sizeof exp, "at least one %s of type '%s'%s%s", unit, m->name,
	         v->proto == P_MODBUS ? "" : " (declared: one every ", v->proto == P_MODBUS ? "" : iv);
	if (v->proto != P_MODBUS)
		strncat(exp, ")", sizeof exp - strlen(exp) - 1);
	char devs[96] = "";
	if (v->ndevs == 1)
		snprintf(devs, sizeof devs, " ('%s')", v->devs[0]->id);
	set(v, C_TRAFFIC, v->reports > 0, exp, "%llu %s%s from %zu device%s%s in %s",
	    (unsigned long long)v->reports, unit, v->reports == 1 ? "" : "s", v->ndevs,
	    v->ndevs == 1 ? "" : "s", devs, dur);
	if (v->joins) {
		char *r = v->result[C_TRAFFIC].measured;
		size_t len = strlen(r);
		snprintf(r + len, sizeof v->result[C_TRAFFIC].measured - len, ", %llu join%s",
		         (unsigned long long)v->joins, v->joins == 1 ? "" : "s");
	}
	if (v->foreign) {
		char *r = v->result[C_TRAFFIC].measured;
		size_t len = strlen(r);
		snprintf(r + len, sizeof v->result[C_TRAFFIC].measured - len,
		         "; %llu frame%s of devices not in the keys file ignored",
		         (unsigned long long)v->foreign, v->foreign == 1 ? "" : "s");
	}

	/* decode */
	char what[200];
	snprintf(exp, sizeof exp, "every payload decodes%s%s%s from a known device", v->codec[0] ? " as '" : "",
	         v->codec, v->codec[0] ? "'" : "");
	/* Without a decoded report the value checks have nothing to look at: said once, as not
	 * checked, while traffic, decode, mic or map names the cause. */
	const char *no_data = v->reports == 0 ? "no report received" : "no report could be read";
	if (v->t[C_DECODE].checked || v->t[C_DECODE].failed)
		tally_result(v, C_DECODE, "payloads", "do not decode", "decode", exp);
	else
		skip(v, C_DECODE, "%s", no_data);

	/* fields */
	bool units_carried = !strcmp(v->codec, "senml");
	snprintf(exp, sizeof exp, "every report carries %u field%s (", m->nfields, m->nfields == 1 ? "" : "s");
	for (unsigned i = 0; i < m->nfields && strlen(exp) < sizeof exp - 40; i++)
		snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%s", i ? ", " : "", m->fields[i].name);
	snprintf(exp + strlen(exp), sizeof exp - strlen(exp), ")%s, none unknown or mistyped%s",
	         units_carried ? " in the profile's units" : "",
	         !strcmp(v->codec, "sparkplug") ? " (Sparkplug: all in the birth, DDATA by exception)" : "");
	for (size_t k = 0; v->proto == P_MODBUS && k < v->ndevs; k++)
		for (unsigned i = 0; i < m->nfields && i < FB_MAX_FIELDS; i++)
			if (v->devs[k]->reports && !(v->devs[k]->seen_fields >> i & 1)) {
				note(&v->t[C_FIELDS], "'%s' of '%s' never read a value (its register holds the "
				     "'no value' marker)", m->fields[i].name, v->devs[k]->id);
				break;
			}
	if (v->t[C_FIELDS].checked) {
		tally_result(v, C_FIELDS, "reports", "not as the profile says", "complete", exp);
		if (v->warming_up) {
			char *r = v->result[C_FIELDS].measured;
			snprintf(r + strlen(r), sizeof v->result[C_FIELDS].measured - strlen(r),
			         "; %llu first poll%s before the device held a value", (unsigned long long)v->warming_up,
			         v->warming_up == 1 ? "" : "s");
		}
	}
	else
		skip(v, C_FIELDS, "%s", no_data);

	/* range and resolution */
	expected_ranges(v, exp, sizeof exp);
	if (v->t[C_RANGE].checked)
		tally_result(v, C_RANGE, "values", "out of range", "in range", exp);
	else
		skip(v, C_RANGE, "%s", no_data);
	expected_grid(v, exp, sizeof exp);
	if (v->t[C_RESOLUTION].checked) {
		tally_result(v, C_RESOLUTION, "values", "off the grid", "on the grid", exp);
		if (v->grid_unchecked_fields) {
			char *r = v->result[C_RESOLUTION].measured;
			size_t len = strlen(r);
			snprintf(r + len, sizeof v->result[C_RESOLUTION].measured - len,
			         "; %llu field%s not checked: codec '%s' is coarser than the field",
			         (unsigned long long)v->grid_unchecked_fields,
			         v->grid_unchecked_fields == 1 ? "" : "s", v->codec);
		}
	} else if (v->grid_unchecked_fields) {
		skip(v, C_RESOLUTION, "codec '%s' is coarser than every field's step", v->codec);
	} else {
		skip(v, C_RESOLUTION, "%s", no_data);
	}

	/* interval and jitter */
	if (applies(v->proto, C_INTERVAL))
		finish_intervals(v);

	/* counters */
	if (!fb_profile_has_counters(p)) {
		skip(v, C_COUNTERS, "type '%s' has no counter fields (--counter FIELD[:KIND] names one)", m->name);
	} else {
		size_t len = (size_t)snprintf(exp, sizeof exp, "cumulative fields never fall:");
		for (unsigned i = 0, k = 0; i < m->nfields && i < FB_MAX_FIELDS; i++)
			if (p->counter[i] != FB_COUNTER_NONE && len < sizeof exp)
				len += (size_t)snprintf(exp + len, sizeof exp - len, "%s %s%s", k++ ? "," : "",
				                        m->fields[i].name,
				                        p->counter[i] == FB_COUNTER_DAILY ? " (resets at local midnight)" :
				                        p->counter[i] == FB_COUNTER_YEARLY ? " (resets at local new year)" : "");
		if (v->t[C_COUNTERS].checked)
			tally_result(v, C_COUNTERS, "successive counter values", "fell", "monotonic", exp);
		else
			skip(v, C_COUNTERS, "fewer than two decoded reports from one device");
	}

	/* timestamps */
	if (applies(v->proto, C_TIMESTAMPS)) {
		if (v->proto != P_MQTT) {
			skip(v, C_TIMESTAMPS, "codec '%s' carries no timestamp", v->codec);
		} else if (!v->ts_seen) {
			skip(v, C_TIMESTAMPS, "no report carried a timestamp");
		} else {
			char sk[32], ah[32], ag[32];
			fmt_secs(p->skew_us, sk, sizeof sk);
			fmt_secs(v->ts_max_ahead, ah, sizeof ah);
			fmt_secs(v->ts_max_age, ag, sizeof ag);
			snprintf(exp, sizeof exp, "at most %s ahead of the bench's clock, never before the "
			         "previous report's", sk);
			snprintf(what, sizeof what, "timestamps (most ahead %s, oldest %s on arrival%s)", ah, ag,
			         v->ts_missing ? "; some reports carry none" : "");
			tally_result(v, C_TIMESTAMPS, what, "wrong", "sane", exp);
		}
	}

	/* sequence */
	if (applies(v->proto, C_SEQUENCE)) {
		if (!v->seq_seen)
			skip(v, C_SEQUENCE, "reports carry no sample seq");
		else if (!v->t[C_SEQUENCE].checked)
			skip(v, C_SEQUENCE, "fewer than two reports with a seq from one device");
		else {
			snprintf(what, sizeof what, "successive seqs (%llu skipped: lost or not sent)",
			         (unsigned long long)v->seq_gaps);
			tally_result(v, C_SEQUENCE, what, "repeated or went back", "increasing",
			             "a report's seq above the previous one's");
		}
	}

	/* LoRaWAN */
	if (v->proto == P_LORAWAN) {
		if (v->t[C_MIC].checked)
			tally_result(v, C_MIC, "frames", "fail the MIC", "verify",
			             "every frame's MIC verifies with the device's keys (LoRaWAN 1.0.x §4.4)");
		else
			skip(v, C_MIC, "no frame received");
		if (v->t[C_FCNT].checked)
			tally_result(v, C_FCNT, "successive uplinks", "did not increase FCnt", "increasing",
			             "FCnt strictly increasing between joins");
		else
			skip(v, C_FCNT, "fewer than two uplinks from one device in one session");
		if (v->t[C_DEVNONCE].checked)
			tally_result(v, C_DEVNONCE, "join requests", "reused a DevNonce", "fresh",
			             "no DevNonce used twice by a device");
		else
			skip(v, C_DEVNONCE, "no join request during the observation (ABP, or joined before)");
		finish_duty(v);
	}

	/* Modbus */
	if (v->proto == P_MODBUS) {
		snprintf(exp, sizeof exp, "every poll of the map answered with the declared types, no "
		         "exception");
		if (v->t[C_MAP].checked)
			tally_result(v, C_MAP, "polls", "failed", "answered", exp);
		else
			skip(v, C_MAP, "no poll made");
	}
}

static void ensure_finished(struct fb_validate *v)
{
	if (v->finished)
		return;
	fb_time_us last = 0;
	for (size_t i = 0; i < v->ndevs; i++)
		if (v->devs[i]->last_recv != FB_TIME_NEVER && v->devs[i]->last_recv > last)
			last = v->devs[i]->last_recv;
	fb_validate_finish(v, last, last);
}

bool fb_validate_passed(struct fb_validate *v)
{
	ensure_finished(v);
	for (int c = 0; c < NCHECKS; c++)
		if (v->ran[c] && !v->result[c].passed)
			return false;
	return true;
}

static int check_index(const char *name)
{
	for (int c = 0; c < NCHECKS; c++)
		if (!strcmp(check_names[c], name))
			return c;
	return -1;
}

const struct fb_validate_check *fb_validate_check(struct fb_validate *v, const char *name)
{
	ensure_finished(v);
	int c = check_index(name);
	return c >= 0 && v->ran[c] ? &v->result[c] : NULL;
}

const char *fb_validate_not_checked(struct fb_validate *v, const char *name)
{
	ensure_finished(v);
	int c = check_index(name);
	return c >= 0 && !v->ran[c] && v->not_checked[c][0] ? v->not_checked[c] : NULL;
}

/* ---- reports ---- */

static void counts(struct fb_validate *v, int *run, int *failed)
{
	*run = *failed = 0;
	for (int c = 0; c < NCHECKS; c++)
		if (v->ran[c]) {
			(*run)++;
			*failed += !v->result[c].passed;
		}
}

static void write_text(struct fb_validate *v, FILE *out)
{
	char dur[32];
	fb_format_duration(v->ended - v->started, dur, sizeof dur);
	fprintf(out, "validate: type '%s' over %s%s%s%s%s%s, observed %s\n", v->profile.model->name,
	        v->proto_name, v->codec[0] ? " (codec " : "", v->codec, v->codec[0] ? ")" : "",
	        v->source[0] ? " from " : "", v->source, dur);
	for (int c = 0; c < NCHECKS; c++)
		if (v->ran[c])
			fprintf(out, "%s  %-10s  %s; expected: %s\n", v->result[c].passed ? "PASS" : "FAIL",
			        check_names[c], v->result[c].measured, v->result[c].expected);
	for (int c = 0; c < NCHECKS; c++)
		if (!v->ran[c] && v->not_checked[c][0])
			fprintf(out, "--    %-10s  not checked: %s\n", check_names[c], v->not_checked[c]);
	int run, failed;
	counts(v, &run, &failed);
	if (failed) {
		fprintf(out, "verdict: FAIL (%d of %d checks failed:", failed, run);
		for (int c = 0; c < NCHECKS; c++)
			if (v->ran[c] && !v->result[c].passed)
				fprintf(out, " %s", check_names[c]);
		fputs(")\n", out);
	} else {
		fprintf(out, "verdict: PASS (%d checks)\n", run);
	}
}

json_t *fb_validate_report(struct fb_validate *v)
{
	ensure_finished(v);
	json_t *checks = json_array(), *skipped = json_array(), *devices = json_array();
	for (int c = 0; c < NCHECKS; c++) {
		if (v->ran[c])
			json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s}", "name", check_names[c],
			                                        "status", v->result[c].passed ? "pass" : "fail",
			                                        "measured", v->result[c].measured,
			                                        "expected", v->result[c].expected));
		else if (v->not_checked[c][0])
			json_array_append_new(skipped, json_pack("{s:s, s:s}", "name", check_names[c],
			                                         "reason", v->not_checked[c]));
	}
	for (size_t i = 0; i < v->ndevs; i++)
		json_array_append_new(devices, json_pack("{s:s, s:I, s:I}", "id", v->devs[i]->id,
		                                         "reports", (json_int_t)v->devs[i]->reports,
		                                         "joins", (json_int_t)v->devs[i]->joins));
	int run, failed;
	counts(v, &run, &failed);
	json_t *profile = json_pack("{s:s, s:f, s:f, s:f, s:s}", "type", v->profile.model->name,
	                            "interval_s", (double)v->profile.interval_us / FB_US_PER_S,
	                            "tolerance", v->profile.tolerance,
	                            "skew_s", (double)v->profile.skew_us / FB_US_PER_S,
	                            "timezone", v->profile.timezone);
	return json_pack("{s:s, s:s, s:s*, s:s, s:o, s:f, s:I, s:I, s:o, s:s, s:i, s:i, s:o, s:o}",
	                 "command", "validate", "protocol", v->proto_name,
	                 "codec", v->codec[0] ? v->codec : NULL, "source", v->source,
	                 "profile", profile,
	                 "duration_s", (double)(v->ended - v->started) / FB_US_PER_S,
	                 "reports", (json_int_t)v->reports, "joins", (json_int_t)v->joins,
	                 "devices", devices, "verdict", failed ? "fail" : "pass",
	                 "checks_run", run, "checks_failed", failed,
	                 "checks", checks, "not_checked", skipped);
}

static void write_junit(struct fb_validate *v, FILE *out)
{
	int run, failed, skipped = 0;
	counts(v, &run, &failed);
	for (int c = 0; c < NCHECKS; c++)
		skipped += !v->ran[c] && v->not_checked[c][0];
	char suite[128];
	snprintf(suite, sizeof suite, "fleetbench validate %s (%s)", v->profile.model->name, v->proto_name);
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"", out);
	fb_xml_escape(out, suite);
	fprintf(out, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\" time=\"%.3f\">\n",
	        run + skipped, failed, skipped, (double)(v->ended - v->started) / FB_US_PER_S);
	for (int c = 0; c < NCHECKS; c++) {
		if (!v->ran[c] && !v->not_checked[c][0])
			continue;
		fprintf(out, "    <testcase classname=\"validate.%s\" name=\"%s\"", v->profile.model->name,
		        check_names[c]);
		if (!v->ran[c]) {
			fputs(">\n      <skipped message=\"", out);
			fb_xml_escape(out, v->not_checked[c]);
			fputs("\"/>\n    </testcase>\n", out);
		} else if (!v->result[c].passed) {
			fputs(">\n      <failure message=\"", out);
			fb_xml_escape(out, v->result[c].measured);
			fputs("\" type=\"conformance\">measured: ", out);
			fb_xml_escape(out, v->result[c].measured);
			fputs("\nexpected: ", out);
			fb_xml_escape(out, v->result[c].expected);
			fputs("</failure>\n    </testcase>\n", out);
		} else {
			fputs(">\n      <system-out>measured: ", out);
			fb_xml_escape(out, v->result[c].measured);
			fputs("\nexpected: ", out);
			fb_xml_escape(out, v->result[c].expected);
			fputs("</system-out>\n    </testcase>\n", out);
		}
	}
	fputs("  </testsuite>\n</testsuites>\n", out);
}

int fb_validate_write(struct fb_validate *v, enum fb_validate_format fmt, FILE *out)
{
	ensure_finished(v);
	if (fmt == FB_VALIDATE_JSON) {
		json_t *r = fb_validate_report(v);
		int rc = r ? json_dumpf(r, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : -1;
		json_decref(r);
		if (rc == 0)
			fputc('\n', out);
		if (rc)
			return -1;
	} else if (fmt == FB_VALIDATE_JUNIT) {
		write_junit(v, out);
	} else {
		write_text(v, out);
	}
	return ferror(out) ? -1 : 0;
}
