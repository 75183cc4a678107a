/* Signals recorded for the report's charts (see harness/signals.h). */
#include <stdlib.h>
#include <string.h>
#include "harness/signals.h"

struct track {
	uint32_t device;
	unsigned field;
	const struct fb_model *model;
	uint32_t every, skip;       /* keep one sample, skip every-1 */
	size_t n;
	fb_time_us *t;              /* FB_SIGNALS_POINTS each, in the shared pools */
	double *v;
};

/* A fleet's recorded devices are its first n of this shard: [lo, lo + n) -> tracks[track..]. */
struct fleet_rec {
	uint32_t lo, n;
	size_t track;
};

struct fb_signals {
	const struct fb_scenario *sc;
	struct fleet_rec *fleets;
	size_t nfleets;
	struct track *tracks;
	size_t ntracks;
	fb_time_us *tpool;
	double *vpool;
};


struct fb_signals *fb_signals_new(const struct fb_scenario *sc, uint32_t first_device, uint32_t count,
                                  fb_time_us duration)
{
	struct fb_signals *sig = calloc(1, sizeof *sig);
	if (!sig)
		return NULL;
	sig->sc = sc;
	sig->nfleets = sc->nfleets;
	sig->fleets = calloc(sc->nfleets ? sc->nfleets : 1, sizeof *sig->fleets);
	/* at most FB_SIGNALS_DEVICES tracks per fleet, fewer per type */
	size_t max_tracks = sc->nfleets * FB_SIGNALS_DEVICES;
	sig->tracks = calloc(max_tracks ? max_tracks : 1, sizeof *sig->tracks);
	if (!sig->fleets || !sig->tracks)
		goto oom;
	uint32_t lo = first_device, hi = first_device + count;
	for (size_t f = 0; f < sc->nfleets; f++) {
		const struct fb_fleet *fl = &sc->fleets[f];
		struct fleet_rec *fr = &sig->fleets[f];
		fr->track = sig->ntracks;
		int field = fb_model_main_field(fl->model);   /* the field to chart */
		uint32_t a = fl->first > lo ? fl->first : lo, b = fl->first + fl->count < hi ? fl->first + fl->count : hi;
		if (field < 0 || b <= a)
			continue;
		size_t have = 0;
		for (size_t i = 0; i < sig->ntracks; i++)
			have += sig->tracks[i].model == fl->model;
		if (have >= FB_SIGNALS_DEVICES)
			continue;
		uint32_t n = b - a;
		if (n > FB_SIGNALS_DEVICES - have)
			n = (uint32_t)(FB_SIGNALS_DEVICES - have);
		fb_time_us interval = fl->interval_us > 0 ? fl->interval_us : fl->model->default_interval_us;
		uint64_t expected = interval > 0 ? (uint64_t)(duration / interval) + 1 : FB_SIGNALS_POINTS;
		uint32_t every = (uint32_t)((expected + FB_SIGNALS_POINTS - 1) / FB_SIGNALS_POINTS);
		fr->lo = a;
		fr->n = n;
		for (uint32_t d = 0; d < n; d++) {
			struct track *t = &sig->tracks[sig->ntracks++];
			t->device = a + d;
			t->field = (unsigned)field;
			t->model = fl->model;
			t->every = every ? every : 1;
		}
	}
	sig->tpool = malloc((sig->ntracks ? sig->ntracks : 1) * FB_SIGNALS_POINTS * sizeof *sig->tpool);
	sig->vpool = malloc((sig->ntracks ? sig->ntracks : 1) * FB_SIGNALS_POINTS * sizeof *sig->vpool);
	if (!sig->tpool || !sig->vpool)
		goto oom;
	for (size_t i = 0; i < sig->ntracks; i++) {
		sig->tracks[i].t = sig->tpool + i * FB_SIGNALS_POINTS;
		sig->tracks[i].v = sig->vpool + i * FB_SIGNALS_POINTS;
	}
	return sig;
oom:
	fb_signals_free(sig);
	return NULL;
}

void fb_signals_free(struct fb_signals *sig)
{
	if (!sig)
		return;
	free(sig->fleets);
	free(sig->tracks);
	free(sig->tpool);
	free(sig->vpool);
	free(sig);
}

void fb_signals_add(struct fb_signals *sig, const struct fb_sample *s)
{
	const struct fleet_rec *fr = &sig->fleets[s->fleet->index];
	uint32_t off = s->device - fr->lo;
	if (off >= fr->n)
		return;
	struct track *t = &sig->tracks[fr->track + off];
	if (t->skip) {
		t->skip--;
		return;
	}
	if (t->n == FB_SIGNALS_POINTS) {
		/* full: keep every other point; the last kept one is 2k samples before this one */
		for (size_t i = 0; i < FB_SIGNALS_POINTS / 2; i++) {
			t->t[i] = t->t[2 * i];
			t->v[i] = t->v[2 * i];
		}
		t->n = FB_SIGNALS_POINTS / 2;
		t->every *= 2;
	}
	t->skip = t->every - 1;
	t->t[t->n] = s->t;
	t->v[t->n] = s->values[t->field];
	t->n++;
}

json_t *fb_signals_report(const struct fb_signals *sig)
{
	json_t *out = json_object();
	for (size_t i = 0; i < sig->ntracks; i++) {
		const struct track *t = &sig->tracks[i];
		const struct fb_field *f = &t->model->fields[t->field];
		json_t *ty = json_object_get(out, t->model->name);
		if (!ty) {
			ty = json_pack("{s:s, s:s, s:[], s:[]}", "field", f->name, "unit", f->unit ? f->unit : "",
			               "devices", "points");
			json_object_set_new(out, t->model->name, ty);
		}
		char id[64];
		fb_device_id(t->model, t->device, id, sizeof id);
		json_array_append_new(json_object_get(ty, "devices"), json_string(id));
		json_t *pts = json_array();
		for (size_t k = 0; k < t->n; k++) {
			json_t *tj = t->t[k] % FB_US_PER_S ? json_real((double)t->t[k] / 1e6)
			                                   : json_integer((json_int_t)(t->t[k] / FB_US_PER_S));
			json_array_append_new(pts, json_pack("[o, f]", tj, t->v[k]));
		}
		json_array_append_new(json_object_get(ty, "points"), pts);
	}
	return out;
}
