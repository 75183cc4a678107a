#include <math.h>
#include <string.h>
#include "sim/model.h"

const struct fb_model *fb_model_find(const char *name)
{
	for (size_t i = 0; fb_builtin_models[i]; i++)
		if (!strcmp(fb_builtin_models[i]->name, name))
			return fb_builtin_models[i];
	return NULL;
}

int fb_model_field_index(const struct fb_model *m, const char *name)
{
	for (unsigned i = 0; i < m->nfields; i++)
		if (!strcmp(m->fields[i].name, name))
			return (int)i;
	return -1;
}

void fb_model_params_default(const struct fb_model *m, void *params)
{
	if (!m->params || !params)
		return;
	for (const struct fb_param *p = m->params; p->name; p++) {
		char *at = (char *)params + p->offset;
		switch (p->kind) {
		case FB_PARAM_NUMBER: { double v = p->def; memcpy(at, &v, sizeof v); break; }
		case FB_PARAM_DURATION: {
			fb_time_us v = (fb_time_us)llround(p->def * FB_US_PER_S);
			memcpy(at, &v, sizeof v);
			break;
		}
		case FB_PARAM_ENUM: { int v = (int)p->def; memcpy(at, &v, sizeof v); break; }
		case FB_PARAM_BOOL: { bool v = p->def != 0; memcpy(at, &v, sizeof v); break; }
		case FB_PARAM_INT: { int64_t v = (int64_t)p->def; memcpy(at, &v, sizeof v); break; }
		}
	}
}

void fb_device_position(const struct fb_world *w, const struct fb_site *site, uint32_t index,
                        double *lat, double *lon)
{
	/* Uniform over the disc: r = R sqrt(u). Metres to degrees on a local tangent plane. */
	double u = fb_unit(fb_hash64(w->seed, index, FB_RNG_POSITION, 1));
	double a = fb_unit(fb_hash64(w->seed, index, FB_RNG_POSITION, 2)) * 2 * M_PI;
	double r = site->radius_m * sqrt(u);
	double dlat = r * cos(a) / 111320.0;
	double dlon = r * sin(a) / (111320.0 * cos(site->lat * M_PI / 180));
	*lat = site->lat + dlat;
	*lon = site->lon + dlon;
}

/* nearbyint() in the default rounding mode (ties to even, the sign of zero kept), without the
 * library call: below 2^52, adding 2^52 leaves no fraction bits, so the addition rounds. */
static inline double round_even(double x)
{
	double a = fabs(x);
	if (!(a < 0x1p52))
		return x;               /* already whole (or NaN) */
	return copysign((a + 0x1p52) - 0x1p52, x);
}

int fb_model_main_field(const struct fb_model *m)
{
	for (unsigned i = 0; i < m->nfields; i++)
		if (m->fields[i].kind == FB_FIELD_NUMBER)
			return (int)i;
	for (unsigned i = 0; i < m->nfields; i++)
		if (m->fields[i].kind == FB_FIELD_INTEGER)
			return (int)i;
	return -1;
}

unsigned fb_field_enum_count(const struct fb_field *f)
{
	unsigned n = 0;
	while (f->enum_names && f->enum_names[n])
		n++;
	return n;
}

double fb_field_quantize(const struct fb_field *f, double v)
{
	if (!isfinite(v))
		v = f->min;
	if (f->kind == FB_FIELD_NUMBER && f->resolution > 0)
		v = round_even(v / f->resolution) * f->resolution;
	else if (f->kind != FB_FIELD_NUMBER)
		v = round_even(v);
	if (v < f->min)
		v = f->min;
	if (v > f->max)
		v = f->max;
	return v;
}
