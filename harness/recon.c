/* End-to-end reconciliation (harness/recon.h).
 *
 * The pending table is open addressing with linear probing and backward-shift deletion, keyed by
 * (device, key); each slot holds the scheduled wall time and the expected values inline (the
 * scenario's widest model sets the stride). It grows by doubling at half load, so an event costs
 * no allocation once the table has reached the run's in-flight size. Per device, two words: the
 * highest key declared sent (a later arrival of a key at or below it that is not pending is a
 * duplicate) and the scheduled time of the newest message received (an older one arriving after
 * it is out of order). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness/recon.h"
#include "harness/report.h"
#include "sim/log.h"

enum { P_MQTT, P_LORAWAN, P_MODBUS, P_OTHER, NPROTO };
static const char *const proto_names[NPROTO] = { "mqtt", "lorawan", "modbus", "other" };

struct slot {
	uint32_t device;       /* UINT32_MAX: empty */
	uint32_t fleet;
	uint64_t key;
	fb_time_us sched_wall;
	fb_time_us sched_virt;
	uint8_t proto;
	/* followed by `maxf` doubles */
};

struct recon_counts {
	uint64_t c[9];        /* in the order of struct fb_recon_counts */
};
enum { C_EXPECTED, C_RECEIVED, C_LOST, C_DUP, C_OOO, C_WRONG, C_UNDEC, C_UNEXP, C_FOREIGN };

struct fb_recon {
	const struct fb_scenario *sc;
	uint32_t first, count;
	size_t maxf, stride;
	unsigned char *slots;
	size_t cap, used;          /* cap: power of two */
	uint64_t *max_sent;        /* per device: highest key declared + 1 (0: none) */
	fb_time_us *last_recv;     /* per device: scheduled time of the newest received */
	uint16_t *fleet_of;        /* per device: fleet index */
	struct recon_counts *counts;   /* [NPROTO][nfleets + 1]: the last column has no fleet */
	struct fb_hist *lat[NPROTO + 1];   /* last: total */
	bool used_proto[NPROTO];
	bool finished;
};

static int proto_index(const char *p)
{
	for (int i = 0; i < P_OTHER; i++)
		if (p && strcmp(p, proto_names[i]) == 0)
			return i;
	return P_OTHER;
}

static inline struct slot *slot_at(const struct fb_recon *r, size_t i)
{
	return (struct slot *)(r->slots + i * r->stride);
}

static inline size_t hash_of(uint32_t device, uint64_t key)
{
	uint64_t h = ((uint64_t)device << 32 ^ key) * 0x9E3779B97F4A7C15ull;
	return (size_t)(h ^ h >> 29);
}

static uint64_t *cnt(struct fb_recon *r, int proto, uint32_t fleet)
{
	return r->counts[(size_t)proto * (r->sc->nfleets + 1) + fleet].c;
}

static int slots_alloc(struct fb_recon *r, size_t cap)
{
	r->slots = malloc(cap * r->stride);
	if (!r->slots)
		return -1;
	r->cap = cap;
	for (size_t i = 0; i < cap; i++)
		slot_at(r, i)->device = UINT32_MAX;
	return 0;
}

struct fb_recon *fb_recon_new(const struct fb_scenario *sc, uint32_t first_device, uint32_t count)
{
	struct fb_recon *r = calloc(1, sizeof *r);
	if (!r)
		goto oom;
	r->sc = sc;
	r->first = first_device;
	r->count = count;
	for (size_t i = 0; i < sc->nfleets; i++)
		if (sc->fleets[i].model->nfields > r->maxf)
			r->maxf = sc->fleets[i].model->nfields;
	r->stride = (sizeof(struct slot) + r->maxf * sizeof(double) + 7) & ~(size_t)7;
	size_t n = count ? count : 1;
	r->max_sent = calloc(n, sizeof *r->max_sent);
	r->last_recv = malloc(n * sizeof *r->last_recv);
	r->fleet_of = malloc(n * sizeof *r->fleet_of);
	r->counts = calloc(NPROTO * (sc->nfleets + 1), sizeof *r->counts);
	if (!r->max_sent || !r->last_recv || !r->fleet_of || !r->counts || slots_alloc(r, 1024))
		goto oom;
	for (uint32_t d = 0; d < count; d++)
		r->last_recv[d] = INT64_MIN;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		for (uint32_t g = f->first; g < f->first + f->count; g++)
			if (g >= first_device && g - first_device < count)
				r->fleet_of[g - first_device] = (uint16_t)i;
	}
	for (int i = 0; i <= NPROTO; i++)
		if (!(r->lat[i] = fb_hist_new()))
			goto oom;
	return r;
oom:
	fb_recon_free(r);
	fb_error("out of memory setting up reconciliation for %u devices", count);
	return NULL;
}

void fb_recon_free(struct fb_recon *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r->max_sent);
	free(r->last_recv);
	free(r->fleet_of);
	free(r->counts);
	for (int i = 0; i <= NPROTO; i++)
		fb_hist_free(r->lat[i]);
	free(r);
}

static size_t find(const struct fb_recon *r, uint32_t device, uint64_t key)
{
	size_t mask = r->cap - 1;
	for (size_t i = hash_of(device, key) & mask;; i = (i + 1) & mask) {
		struct slot *s = slot_at(r, i);
		if (s->device == UINT32_MAX || (s->device == device && s->key == key))
			return i;
	}
}

static void erase(struct fb_recon *r, size_t i)
{
	size_t mask = r->cap - 1;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		struct slot *s = slot_at(r, j);
		if (s->device == UINT32_MAX)
			break;
		size_t home = hash_of(s->device, s->key) & mask;
		/* s may move back to the hole at i when its home is at or before i (cyclically) */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			memcpy(slot_at(r, i), s, r->stride);
			i = j;
		}
	}
	slot_at(r, i)->device = UINT32_MAX;
	r->used--;
}

static int grow(struct fb_recon *r)
{
	unsigned char *old = r->slots;
	size_t ocap = r->cap;
	if (slots_alloc(r, ocap * 2)) {
		r->slots = old;
		r->cap = ocap;
		return -1;
	}
	for (size_t i = 0; i < ocap; i++) {
		struct slot *s = (struct slot *)(old + i * r->stride);
		if (s->device != UINT32_MAX)
			memcpy(slot_at(r, find(r, s->device, s->key)), s, r->stride);
	}
	free(old);
	return 0;
}

void fb_recon_expect(struct fb_recon *r, const char *proto, const struct fb_sample *s, uint64_t key,
                     fb_time_us sched_wall)
{
	if (s->device < r->first || s->device - r->first >= r->count)
		return;
	uint32_t d = s->device - r->first;
	int p = proto_index(proto);
	r->used_proto[p] = true;
	if (r->used * 2 >= r->cap && grow(r)) {
		static bool warned;
		if (!warned)
			fb_error("reconciliation: out of memory; further messages are counted as lost");
		warned = true;
		cnt(r, p, s->fleet->index)[C_EXPECTED]++;
		cnt(r, p, s->fleet->index)[C_LOST]++;
		return;
	}
	size_t i = find(r, s->device, key);
	struct slot *sl = slot_at(r, i);
	if (sl->device != UINT32_MAX) {
		/* the same key declared again (a device that restarted its counter): the earlier one is
		 * lost unless it already arrived */
		cnt(r, sl->proto, sl->fleet)[C_LOST]++;
	} else {
		r->used++;
	}
	sl->device = s->device;
	sl->fleet = s->fleet->index;
	sl->key = key;
	sl->sched_wall = sched_wall;
	sl->sched_virt = s->t;
	sl->proto = (uint8_t)p;
	memcpy(sl + 1, s->values, s->model->nfields * sizeof(double));
	if (key + 1 > r->max_sent[d])
		r->max_sent[d] = key + 1;
	cnt(r, p, sl->fleet)[C_EXPECTED]++;
}

static bool values_match(const struct fb_model *m, const double *want, const struct fb_obs *o)
{
	for (unsigned i = 0; i < m->nfields; i++) {
		if (i >= 64 || i >= o->nvalues || !(o->present >> i & 1))
			return false;
		double tol = o->tolerance ? o->tolerance[i] : m->fields[i].resolution / 2;
		if (m->fields[i].kind != FB_FIELD_NUMBER || !(tol > 0))
			tol = 0;
		tol += 1e-9 * fabs(want[i]) + 1e-12;
		if (!(fabs(o->values[i] - want[i]) <= tol))
			return false;
	}
	return true;
}

static void observe_modbus(struct fb_recon *r, const struct fb_obs *o, uint32_t fleet)
{
	uint64_t *c = cnt(r, P_MODBUS, fleet);
	r->used_proto[P_MODBUS] = true;
	c[C_EXPECTED]++;
	if (o->flags & FB_OBS_TIMEOUT) {
		c[C_LOST]++;
		return;
	}
	c[C_RECEIVED]++;
	if (o->flags & (FB_OBS_EXCEPTION | FB_OBS_UNDECODABLE))
		c[C_UNDEC]++;
	else if (o->flags & FB_OBS_WRONG_VALUE)
		c[C_WRONG]++;
	if (o->ts != FB_TIME_NEVER && o->recv_wall >= o->ts) {
		fb_hist_record(r->lat[P_MODBUS], (uint64_t)(o->recv_wall - o->ts));
	}
}

void fb_recon_observe(struct fb_recon *r, const struct fb_obs *o)
{
	int p = proto_index(o->proto);
	uint32_t nof = (uint32_t)r->sc->nfleets;
	if (o->device == FB_OBS_NO_DEVICE || (o->flags & FB_OBS_UNKNOWN_DEVICE)) {
		r->used_proto[p] = true;
		cnt(r, p, nof)[(o->flags & FB_OBS_UNDECODABLE) ? C_UNDEC : C_UNEXP]++;
		return;
	}
	if (o->device < r->first || o->device - r->first >= r->count) {
		cnt(r, p, nof)[C_FOREIGN]++;
		return;
	}
	uint32_t d = o->device - r->first;
	uint32_t fleet = r->fleet_of[d];
	if (p == P_MODBUS) {
		observe_modbus(r, o, fleet);
		return;
	}
	size_t i = find(r, o->device, o->key);
	struct slot *sl = slot_at(r, i);
	uint64_t *c = cnt(r, p, fleet);
	if (sl->device == UINT32_MAX) {
		if (o->flags & (FB_OBS_UNDECODABLE | FB_OBS_BAD_MIC))
			c[C_UNDEC]++;
		else if (o->key < r->max_sent[d])
			c[C_DUP]++;
		else
			c[C_UNEXP]++;
		return;
	}
	c[C_RECEIVED]++;
	if (o->recv_wall >= sl->sched_wall) {
		fb_hist_record(r->lat[p], (uint64_t)(o->recv_wall - sl->sched_wall));
	} else {
		fb_hist_record(r->lat[p], 0);
	}
	if (sl->sched_virt < r->last_recv[d])
		c[C_OOO]++;
	else
		r->last_recv[d] = sl->sched_virt;
	if (o->flags & (FB_OBS_UNDECODABLE | FB_OBS_BAD_MIC))
		c[C_UNDEC]++;
	else if ((o->flags & FB_OBS_BAD_FIELD) ||
	         !values_match(r->sc->fleets[fleet].model, (const double *)(sl + 1), o))
		c[C_WRONG]++;
	erase(r, i);
}

void fb_recon_finish(struct fb_recon *r)
{
	if (r->finished)
		return;
	r->finished = true;
	for (size_t i = 0; i < r->cap; i++) {
		struct slot *s = slot_at(r, i);
		if (s->device != UINT32_MAX) {
			cnt(r, s->proto, s->fleet)[C_LOST]++;
			s->device = UINT32_MAX;
		}
	}
	r->used = 0;
}

uint64_t fb_recon_outstanding(const struct fb_recon *r)
{
	return r->used;
}

static void add_counts(struct fb_recon_counts *out, const uint64_t *c)
{
	out->expected += c[C_EXPECTED];
	out->received += c[C_RECEIVED];
	out->lost += c[C_LOST];
	out->duplicated += c[C_DUP];
	out->out_of_order += c[C_OOO];
	out->wrong_values += c[C_WRONG];
	out->undecodable += c[C_UNDEC];
	out->unexpected += c[C_UNEXP];
	out->foreign += c[C_FOREIGN];
}

void fb_recon_totals(const struct fb_recon *r, const char *proto, struct fb_recon_counts *out)
{
	memset(out, 0, sizeof *out);
	int only = proto ? proto_index(proto) : -1;
	for (int p = 0; p < NPROTO; p++)
		if (only < 0 || p == only)
			for (size_t f = 0; f <= r->sc->nfleets; f++)
				add_counts(out, r->counts[(size_t)p * (r->sc->nfleets + 1) + f].c);
}

const struct fb_hist *fb_recon_latency(const struct fb_recon *r, const char *proto)
{
	if (proto)
		return r->lat[proto_index(proto)];
	fb_hist_reset(r->lat[NPROTO]);
	for (int p = 0; p < NPROTO; p++)
		fb_hist_merge(r->lat[NPROTO], r->lat[p]);
	return r->lat[NPROTO];
}

uint64_t fb_recon_received_total(const struct fb_recon *r)
{
	struct fb_recon_counts t;
	fb_recon_totals(r, NULL, &t);
	return t.received;
}

uint64_t fb_recon_errors_total(const struct fb_recon *r)
{
	struct fb_recon_counts t;
	fb_recon_totals(r, NULL, &t);
	return t.undecodable + t.wrong_values + t.unexpected;
}

static void hist_line(FILE *out, const struct fb_hist *h)
{
	if (!fb_hist_count(h))
		return;
	fprintf(out, ", latency p50 %.1f ms, p99 %.1f ms, max %.1f ms",
	        (double)fb_hist_quantile(h, 0.5) / 1e3, (double)fb_hist_quantile(h, 0.99) / 1e3,
	        (double)fb_hist_max(h) / 1e3);
}

void fb_recon_summary(const struct fb_recon *r, FILE *out)
{
	for (int p = 0; p < NPROTO; p++) {
		if (!r->used_proto[p])
			continue;
		struct fb_recon_counts t;
		fb_recon_totals(r, proto_names[p], &t);
		fprintf(out, "  bench %-8s expected %llu, received %llu, lost %llu, duplicated %llu, "
		        "out of order %llu, wrong values %llu, undecodable %llu, unexpected %llu",
		        proto_names[p], (unsigned long long)t.expected, (unsigned long long)t.received,
		        (unsigned long long)t.lost, (unsigned long long)t.duplicated,
		        (unsigned long long)t.out_of_order, (unsigned long long)t.wrong_values,
		        (unsigned long long)t.undecodable, (unsigned long long)t.unexpected);
		hist_line(out, r->lat[p]);
		fputc('\n', out);
	}
}

json_t *fb_recon_report(const struct fb_recon *r)
{
	json_t *protos = json_object();
	size_t nf = r->sc->nfleets;
	for (int p = 0; p < NPROTO; p++) {
		if (!r->used_proto[p])
			continue;
		struct fb_recon_counts t;
		fb_recon_totals(r, proto_names[p], &t);
		json_t *o = fb_report_counts_json(&t);
		json_object_set_new(o, "latency_us", fb_hist_to_json(r->lat[p]));
		json_t *by_type = json_object(), *by_site = json_object();
		struct fb_recon_counts *ty = calloc(nf + 1, sizeof *ty);
		struct fb_recon_counts *si = calloc(r->sc->nsites + 1, sizeof *si);
		for (size_t f = 0; ty && si && f < nf; f++) {
			const uint64_t *c = r->counts[(size_t)p * (nf + 1) + f].c;
			size_t first = f;     /* the type's bucket: its first fleet */
			for (size_t g = 0; g < f; g++)
				if (r->sc->fleets[g].model == r->sc->fleets[f].model) {
					first = g;
					break;
				}
			add_counts(&ty[first], c);
			add_counts(&si[r->sc->fleets[f].site->index], c);
		}
		for (size_t f = 0; ty && f < nf; f++)
			if (ty[f].expected || ty[f].received || ty[f].undecodable || ty[f].unexpected)
				json_object_set_new(by_type, r->sc->fleets[f].model->name, fb_report_counts_json(&ty[f]));
		for (size_t k = 0; si && k < r->sc->nsites; k++)
			if (si[k].expected || si[k].received || si[k].undecodable || si[k].unexpected)
				json_object_set_new(by_site, r->sc->sites[k].id, fb_report_counts_json(&si[k]));
		free(ty);
		free(si);
		json_object_set_new(o, "by_type", by_type);
		json_object_set_new(o, "by_site", by_site);
		json_object_set_new(protos, proto_names[p], o);
	}
	struct fb_recon_counts all;
	fb_recon_totals(r, NULL, &all);
	json_t *total = fb_report_counts_json(&all);
	json_object_set_new(total, "latency_us", fb_hist_to_json(fb_recon_latency(r, NULL)));
	return json_pack("{s:o, s:o}", "protocols", protos, "total", total);
}
