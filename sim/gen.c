/* User-defined sensor types: a model built at load time from generator primitives. See
 * sim/gen.h for the randomness contract. sample() allocates nothing and reads only the type
 * (shared by all devices) and one double of state per stateful field. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/gen.h"
#include "sim/log.h"
#include "sim/scenario.h"
#include "sim/ynode.h"

#define DEFAULT_INTERVAL_US   FB_US_PER_MIN
#define DEFAULT_RESOLUTION    0.01
#define DEFAULT_DAILY_WIDTH_H 2.0
/* Default range of unbounded generators: this many standard deviations from the centre
 * (reached with probability ~1e-15, so the clamp never shows but the range stays finite). */
#define TAIL_SD 8.0

const char *const fb_gen_kind_names[] = {
	"constant", "uniform", "normal", "random_walk", "mean_reverting", "daily", "sine",
	"poisson", "sawtooth", "csv", NULL
};

static const char *const gen_keys[FB_GEN_NKINDS][8] = {
	[FB_GEN_CONSTANT]       = { "kind", "value", NULL },
	[FB_GEN_UNIFORM]        = { "kind", "min", "max", NULL },
	[FB_GEN_NORMAL]         = { "kind", "mean", "sd", NULL },
	[FB_GEN_RANDOM_WALK]    = { "kind", "start", "step", "min", "max", NULL },
	[FB_GEN_MEAN_REVERTING] = { "kind", "mean", "theta", "sigma", NULL },
	[FB_GEN_DAILY]          = { "kind", "mean", "amplitude", "peaks", "width", "noise", "weekly", NULL },
	[FB_GEN_SINE]           = { "kind", "mean", "amplitude", "period", "phase", NULL },
	[FB_GEN_POISSON]        = { "kind", "rate", NULL },
	[FB_GEN_SAWTOOTH]       = { "kind", "rise_per_day", "reset_above", "reset_below", "reset_to", NULL },
	[FB_GEN_CSV]            = { "kind", "file", "column", "time_column", "loop", "speed", NULL },
};

static const char *const type_keys[] = { "name", "description", "interval", "fields", NULL };
static const char *const field_keys[] = {
	"name", "unit", "resolution", "min", "max", "gen", "description", NULL
};

/* ---- sampling ------------------------------------------------------------------------ */

static inline double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static inline fb_time_us mod_floor(fb_time_us a, fb_time_us m)
{
	fb_time_us r = a % m;
	return r < 0 ? r + m : r;
}

/* The OU step over dt: x' = mean + (x - mean) e^{-theta dt} + sigma sqrt((1 - e^{-2 theta dt})
 * / (2 theta)) N(0,1), exact for any dt (no Euler error). */
static inline void ou_coeffs(const struct fb_gen *g, fb_time_us dt_us, double *decay, double *sd)
{
	double dt_h = (double)dt_us / (double)FB_US_PER_H;
	double e = exp(-g->b * dt_h);
	*decay = e;
	*sd = g->c * sqrt((1.0 - e * e) / (2.0 * g->b));
}

static double csv_value(const struct fb_gen *g, fb_time_us since_start)
{
	const struct fb_csv_series *s = g->csv;
	fb_time_us x = g->speed == 1.0 ? since_start : (fb_time_us)((double)since_start * g->speed);
	if (g->loop)
		x = mod_floor(x, s->period_us);
	else if (x < 0)
		x = 0;
	/* The last row at or before x (t_us[0] == 0 <= x). */
	size_t lo = 0, hi = s->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->t_us[mid] <= x)
			lo = mid;
		else
			hi = mid;
	}
	return s->v[lo];
}

static double daily_value(const struct fb_gen *g, const struct fb_world *w, fb_time_us t,
                          struct fb_rng *r)
{
	int32_t off = w->tz ? fb_tz_offset_s(w->tz, t) : 0;
	fb_time_us local = t + (fb_time_us)off * FB_US_PER_S;
	fb_time_us in_day = mod_floor(local, FB_US_PER_DAY);
	int64_t day = (local - in_day) / FB_US_PER_DAY;
	double minute = (double)in_day / (double)FB_US_PER_MIN;
	int i = (int)minute;
	double s = g->shape[i] + (g->shape[i + 1] - g->shape[i]) * (minute - i);
	int dow = (int)mod_floor(day + 3, 7);          /* 1970-01-01 was a Thursday; Monday = 0 */
	double v = (g->a + g->b * s) * g->weekly[dow];
	if (g->noise > 0)
		v += g->noise * fb_rng_normal(r);
	return v;
}

static void ut_sample(const struct fb_device_ctx *ctx, void *state, fb_time_us t, double *values)
{
	const struct fb_usertype *u = ctx->model->data;
	double *st = state;
	const uint64_t seed = ctx->world->seed, index = ctx->index;
	for (unsigned f = 0; f < u->model.nfields; f++) {
		const struct fb_gen *g = &u->gens[f];
		struct fb_rng r;
		double v, decay, sd;
		if (g->kind != FB_GEN_CONSTANT && g->kind != FB_GEN_SINE && g->kind != FB_GEN_CSV &&
		    g->kind != FB_GEN_SAWTOOTH)
			r.s = fb_hash64(seed, index, FB_RNG_USER + f, (uint64_t)t);
		switch (g->kind) {
		case FB_GEN_CONSTANT:
			v = g->a;
			break;
		case FB_GEN_UNIFORM:
			v = g->a + (g->b - g->a) * fb_rng_uniform(&r);
			break;
		case FB_GEN_NORMAL:
			v = g->a + g->b * fb_rng_normal(&r);
			break;
		case FB_GEN_RANDOM_WALK:
			v = st[g->slot] + g->b * fb_rng_normal(&r);
			/* Reflect at the walls so the walk does not stick to a bound. */
			if (v > g->d)
				v = 2 * g->d - v;
			if (v < g->c)
				v = 2 * g->c - v;
			v = clampd(v, g->c, g->d);
			st[g->slot] = v;
			break;
		case FB_GEN_MEAN_REVERTING:
			if (ctx->interval_us == u->model.default_interval_us) {
				decay = g->d;
				sd = g->noise;
			} else {
				ou_coeffs(g, ctx->interval_us, &decay, &sd);
			}
			v = g->a + (st[g->slot] - g->a) * decay + sd * fb_rng_normal(&r);
			st[g->slot] = v;
			break;
		case FB_GEN_DAILY:
			v = daily_value(g, ctx->world, t, &r);
			break;
		case FB_GEN_SINE: {
			fb_time_us x = mod_floor(t - g->phase_us, g->period_us);
			v = g->a + g->b * sin(2.0 * M_PI * (double)x / (double)g->period_us);
			break;
		}
		case FB_GEN_POISSON:
			v = (double)fb_rng_poisson(&r, g->a);
			break;
		case FB_GEN_SAWTOOTH:
			v = st[g->slot] + g->a * (double)ctx->interval_us / (double)FB_US_PER_DAY;
			if (g->a > 0 ? v >= g->b : v <= g->b)
				v = g->c;      /* the reset event: emptied, recharged, replaced */
			st[g->slot] = v;
			break;
		case FB_GEN_CSV:
			v = csv_value(g, t - ctx->world->start);
			break;
		default:
			v = 0;
			break;
		}
		values[f] = clampd(v, u->fields[f].min, u->fields[f].max);
	}
}

static int ut_init(const struct fb_device_ctx *ctx, void *state, fb_time_us start)
{
	const struct fb_usertype *u = ctx->model->data;
	double *st = state;
	for (unsigned f = 0; f < u->model.nfields; f++) {
		const struct fb_gen *g = &u->gens[f];
		struct fb_rng r;
		if (g->slot < 0)
			continue;
		r.s = fb_hash64(ctx->world->seed, ctx->index, FB_RNG_USER + FB_MAX_FIELDS + f, 0);
		switch (g->kind) {
		case FB_GEN_RANDOM_WALK:
			st[g->slot] = g->a;
			break;
		case FB_GEN_MEAN_REVERTING:
			/* From the stationary law, so a fleet starts spread out, not all at the mean. */
			st[g->slot] = g->a + g->c / sqrt(2.0 * g->b) * fb_rng_normal(&r);
			break;
		case FB_GEN_SAWTOOTH:
			/* A random phase: containers are not all emptied on the same day. */
			st[g->slot] = g->c + (g->b - g->c) * fb_rng_uniform(&r);
			break;
		default:
			break;
		}
	}
	return 0;
}

const struct fb_usertype *fb_usertype_of(const struct fb_model *m)
{
	return m && m->sample == ut_sample ? (const struct fb_usertype *)m->data : NULL;
}

/* ---- CSV replay ---------------------------------------------------------------------- */

void fb_csv_free(struct fb_csv_series *s)
{
	if (!s)
		return;
	free(s->t_us);
	free(s->v);
	free(s);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Splits a line in place; "quoted, fields" with "" for a quote. Returns the field count. */
static size_t split_csv(char *line, char sep, char **out, size_t max)
{
	size_t n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		char *start = p, *w = p;
		if (*p == '"') {
			start = w = ++p;
			while (*p) {
				if (*p == '"' && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*w++ = *p++;
				}
			}
			while (*p && *p != sep)
				p++;
		} else {
			while (*p && *p != sep)
				p++;
			w = p;
		}
		char end = *p;
		*w = '\0';
		if (n < max)
			out[n++] = start == w ? w : trim(start);
		if (!end)
			break;
		p++;
	}
	return n;
}

static bool is_gap(const char *s)
{
	return !*s || strcasecmp(s, "na") == 0 || strcasecmp(s, "nan") == 0 ||
	       strcasecmp(s, "null") == 0 || strcmp(s, "-") == 0;
}

static bool parse_number(const char *s, double *out)
{
	char *end;
	if (!*s || strchr(s, 'x') || strchr(s, 'X'))
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || !isfinite(v) || errno == ERANGE)
		return false;
	*out = v;
	return true;
}

static int column_index(char **names, size_t n, const struct fb_ynode *node, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], node->text) == 0)
			return (int)i;
	const char *cands[257];
	for (size_t i = 0; i < n; i++)
		cands[i] = names[i];
	cands[n] = NULL;
	const char *hint = fb_suggest(node->text, cands);
	if (hint)
		return fb_ynode_error(node, "no column '%s' in '%s' (did you mean '%s'?)", node->text, path, hint);
	char list[512];
	size_t len = 0;
	list[0] = '\0';
	for (size_t i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s'%s'", i ? ", " : "", names[i]);
	return fb_ynode_error(node, "no column '%s' in '%s' (its columns: %s)", node->text, path, list);
}

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(fp);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len - 1, fp);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(fp), err = errno;
	fclose(fp);
	if (bad) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

struct fb_csv_series *fb_csv_load(const char *path, const struct fb_ynode *file_node,
                                  const struct fb_ynode *column, const struct fb_ynode *time_column,
                                  fb_time_us row_us)
{
	char *text = read_all(path);
	if (!text) {
		fb_ynode_error(file_node, "cannot read '%s': %s", path, strerror(errno));
		return NULL;
	}
	struct fb_csv_series *s = calloc(1, sizeof(*s));
	size_t cap = 0;
	char *fields[256];
	int vcol = -1, tcol = -1, line_no = 0;
	char sep = ',';
	bool header = false;
	fb_time_us t0 = 0, prev_t = 0, prev_prev_t = 0;
	long long rows = 0;
	if (!s)
		goto oom;
	for (char *line = text, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line_no++;
		char *l = trim(line);
		if (!*l || *l == '#')
			continue;
		if (!header) {
			if (!strchr(l, ',') && strchr(l, ';'))
				sep = ';';
			size_t n = split_csv(l, sep, fields, 256);
			if ((vcol = column_index(fields, n, column, path)) < 0)
				goto fail;
			if (time_column && (tcol = column_index(fields, n, time_column, path)) < 0)
				goto fail;
			header = true;
			continue;
		}
		size_t n = split_csv(l, sep, fields, 256);
		int need = vcol > tcol ? vcol : tcol;
		if ((int)n <= need) {
			fb_error_at(path, line_no, 0, "row has %zu columns, column '%s' is number %d", n,
			            vcol > tcol ? column->text : time_column->text, need + 1);
			goto fail;
		}
		fb_time_us t;
		if (tcol >= 0) {
			double secs;
			if (parse_number(fields[tcol], &secs) && fabs(secs) < 1e11) {
				t = (fb_time_us)llround(secs * 1e6);
			} else if (fb_parse_rfc3339(fields[tcol], &t) < 0) {
				fb_error_at(path, line_no, 0, "'%s' in column '%s' is not a time (use RFC 3339, "
				            "e.g. '2024-05-01T10:00:00Z', or epoch seconds)", fields[tcol],
				            time_column->text);
				goto fail;
			}
			if (rows > 0 && t <= prev_t) {
				fb_error_at(path, line_no, 0, "time '%s' is not after the previous row's: times "
				            "must increase", fields[tcol]);
				goto fail;
			}
		} else {
			t = (fb_time_us)rows * row_us;
		}
		/* Gap rows count for the timeline (and the loop length), not as readings. */
		prev_prev_t = prev_t;
		prev_t = t;
		rows++;
		double v;
		if (is_gap(fields[vcol]))
			continue;
		if (!parse_number(fields[vcol], &v)) {
			fb_error_at(path, line_no, 0, "'%s' in column '%s' is not a number", fields[vcol], column->text);
			goto fail;
		}
		if (s->n == 0)
			t0 = t;
		if (s->n == cap) {
			cap = cap ? cap * 2 : 256;
			fb_time_us *nt = realloc(s->t_us, cap * sizeof(*nt));
			if (nt)
				s->t_us = nt;
			double *nv = realloc(s->v, cap * sizeof(*nv));
			if (nv)
				s->v = nv;
			if (!nt || !nv)
				goto oom;
		}
		s->t_us[s->n] = t - t0;
		s->v[s->n] = v;
		if (s->n == 0 || v < s->vmin)
			s->vmin = v;
		if (s->n == 0 || v > s->vmax)
			s->vmax = v;
		s->n++;
	}
	if (!header || s->n == 0) {
		fb_ynode_error(file_node, "'%s' has no data rows (a header line, then one row per reading)", path);
		goto fail;
	}
	/* The loop lasts from the first reading to the last row, plus one step. */
	fb_time_us step = rows >= 2 ? prev_t - prev_prev_t : row_us > 0 ? row_us : FB_US_PER_S;
	s->period_us = prev_t - t0 + step;
	free(text);
	return s;
oom:
	fb_error("out of memory reading '%s'", path);
fail:
	free(text);
	fb_csv_free(s);
	return NULL;
}

/* ---- building a type from YAML --------------------------------------------------------- */

struct gen_ctx {
	const struct fb_ynode *map;
	char what[64];          /* "'gen' of kind 'normal'" */
};

static int gnum(const struct gen_ctx *c, const char *key, bool required, double def, double *out)
{
	const struct fb_ynode *n = fb_ynode_get(c->map, key);
	char what[48];
	if (!n) {
		if (required)
			return fb_ynode_error(c->map, "missing key '%s' in %s", key, c->what);
		*out = def;
		return 0;
	}
	snprintf(what, sizeof(what), "'%s'", key);
	return fb_ynode_number(n, what, out);
}

static int bad_value(const struct gen_ctx *c, const char *key, const char *rule)
{
	const struct fb_ynode *n = fb_ynode_get(c->map, key);
	return fb_ynode_error(n ? n : c->map, "'%s' %s, not %s", key, rule, n ? n->text : "absent");
}

static int build_daily_shape(struct fb_gen *g, const double *peaks, size_t npeaks, double width_h)
{
	if (!(g->shape = malloc((FB_DAILY_SLOTS + 1) * sizeof(double))))
		return fb_error("out of memory");
	double lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < FB_DAILY_SLOTS; i++) {
		double h = i / 60.0, s = 0;
		for (size_t p = 0; p < npeaks; p++) {
			double d = fabs(h - peaks[p]);
			if (d > 12)
				d = 24 - d;          /* the day wraps around */
			s += exp(-d * d / (2 * width_h * width_h));
		}
		g->shape[i] = s;
		lo = s < lo ? s : lo;
		hi = s > hi ? s : hi;
	}
	/* Normalised to [-1, 1]: mean - amplitude at the quietest minute, mean + amplitude at
	 * the highest peak. */
	for (int i = 0; i < FB_DAILY_SLOTS; i++)
		g->shape[i] = hi > lo ? 2 * (g->shape[i] - lo) / (hi - lo) - 1 : 0;
	g->shape[FB_DAILY_SLOTS] = g->shape[0];
	return 0;
}

static int load_daily(struct gen_ctx *c, struct fb_gen *g, double *lo, double *hi)
{
	int errs = 0;
	double width = DEFAULT_DAILY_WIDTH_H;
	errs += gnum(c, "mean", true, 0, &g->a) < 0;
	errs += gnum(c, "amplitude", true, 0, &g->b) < 0;
	errs += gnum(c, "noise", false, 0, &g->noise) < 0;
	errs += gnum(c, "width", false, DEFAULT_DAILY_WIDTH_H, &width) < 0;
	if (!errs && g->noise < 0)
		errs++, bad_value(c, "noise", "must be 0 or more");
	if (!errs && !(width > 0 && width <= 12))
		errs++, bad_value(c, "width", "must be between 0 and 12 hours");
	double peaks[48];
	size_t npeaks = 0;
	const struct fb_ynode *pn = fb_ynode_get(c->map, "peaks");
	if (!pn) {
		errs++, fb_ynode_error(c->map, "missing key 'peaks' in %s (hours of the day, e.g. [8, 19])", c->what);
	} else if (fb_ynode_expect(pn, FB_Y_SEQ, "'peaks'") < 0) {
		errs++;
	} else if (pn->n == 0 || pn->n > 48) {
		errs++, fb_ynode_error(pn, "'peaks' must list 1 to 48 hours of the day");
	} else {
		for (size_t i = 0; i < pn->n; i++) {
			if (fb_ynode_number(pn->items[i], "a peak hour", &peaks[npeaks]) < 0) {
				errs++;
			} else if (peaks[npeaks] < 0 || peaks[npeaks] >= 24) {
				errs++, fb_ynode_error(pn->items[i], "a peak hour must be between 0 and 24 (excluded), "
				                       "not %s", pn->items[i]->text);
			} else {
				npeaks++;
			}
		}
	}
	for (int d = 0; d < 7; d++)
		g->weekly[d] = 1.0;
	const struct fb_ynode *wn = fb_ynode_get(c->map, "weekly");
	if (wn) {
		if (fb_ynode_expect(wn, FB_Y_SEQ, "'weekly'") < 0) {
			errs++;
		} else if (wn->n != 7) {
			errs++, fb_ynode_error(wn, "'weekly' must list 7 factors, Monday to Sunday, not %zu", wn->n);
		} else {
			for (int d = 0; d < 7; d++) {
				if (fb_ynode_number(wn->items[d], "a weekly factor", &g->weekly[d]) < 0)
					errs++;
				else if (g->weekly[d] < 0)
					errs++, fb_ynode_error(wn->items[d], "a weekly factor must be 0 or more, not %s",
					                       wn->items[d]->text);
			}
		}
	}
	if (errs)
		return errs;
	if (build_daily_shape(g, peaks, npeaks, width) < 0)
		return 1;
	double wmin = g->weekly[0], wmax = g->weekly[0];
	for (int d = 1; d < 7; d++) {
		wmin = fmin(wmin, g->weekly[d]);
		wmax = fmax(wmax, g->weekly[d]);
	}
	double b1 = g->a - fabs(g->b), b2 = g->a + fabs(g->b);
	*lo = fmin(fmin(b1 * wmin, b1 * wmax), fmin(b2 * wmin, b2 * wmax)) - TAIL_SD * g->noise;
	*hi = fmax(fmax(b1 * wmin, b1 * wmax), fmax(b2 * wmin, b2 * wmax)) + TAIL_SD * g->noise;
	return 0;
}

static char *join_path(const char *base, const char *file)
{
	if (file[0] == '/' || !base || !*base || strcmp(base, ".") == 0)
		return strdup(file);
	size_t lb = strlen(base), lf = strlen(file);
	char *p = malloc(lb + lf + 2);
	if (!p)
		return NULL;
	memcpy(p, base, lb);
	p[lb] = '/';
	memcpy(p + lb + 1, file, lf + 1);
	return p;
}

static int load_csv(struct gen_ctx *c, struct fb_gen *g, const char *base_dir, fb_time_us row_us,
                    double *lo, double *hi)
{
	int errs = 0;
	const struct fb_ynode *file = fb_ynode_get(c->map, "file");
	const struct fb_ynode *col = fb_ynode_get(c->map, "column");
	const struct fb_ynode *tcol = fb_ynode_get(c->map, "time_column");
	const struct fb_ynode *loop = fb_ynode_get(c->map, "loop");
	const char *s;
	if (!file)
		errs++, fb_ynode_error(c->map, "missing key 'file' in %s", c->what);
	else if (fb_ynode_string(file, "'file'", &s) < 0)
		errs++;
	if (!col)
		errs++, fb_ynode_error(c->map, "missing key 'column' in %s", c->what);
	else if (fb_ynode_string(col, "'column'", &s) < 0)
		errs++;
	if (tcol && fb_ynode_string(tcol, "'time_column'", &s) < 0)
		errs++;
	g->loop = true;
	if (loop && fb_ynode_bool(loop, "'loop'", &g->loop) < 0)
		errs++;
	if (gnum(c, "speed", false, 1.0, &g->speed) < 0)
		errs++;
	else if (!(g->speed > 0))
		errs++, bad_value(c, "speed", "must be more than 0");
	if (errs)
		return errs;
	char *path = join_path(base_dir, file->text);
	if (!path)
		return fb_error("out of memory"), 1;
	g->csv = fb_csv_load(path, file, col, tcol, row_us);
	free(path);
	if (!g->csv)
		return 1;
	g->has_time = tcol != NULL;
	*lo = g->csv->vmin;
	*hi = g->csv->vmax;
	return 0;
}

/* Parses one `gen:` map; sets the generator's natural range in [lo, hi]. Returns errors. */
static int load_gen(struct fb_usertype *u, struct fb_gen *g, const struct fb_ynode *gn,
                    const char *base_dir, double *lo, double *hi)
{
	struct gen_ctx c = { .map = gn };
	int errs = 0, kind;
	if (fb_ynode_expect(gn, FB_Y_MAP, "'gen'") < 0)
		return 1;
	const struct fb_ynode *kn = fb_ynode_get(gn, "kind");
	if (!kn)
		return fb_ynode_error(gn, "missing key 'kind' in 'gen' (one of constant, uniform, normal, "
		                      "random_walk, mean_reverting, daily, sine, poisson, sawtooth, csv)"), 1;
	if (fb_ynode_enum(kn, "generator kind", fb_gen_kind_names, &kind) < 0)
		return 1;
	g->kind = (enum fb_gen_kind)kind;
	g->slot = -1;
	snprintf(c.what, sizeof(c.what), "'gen' of kind '%s'", fb_gen_kind_names[kind]);
	if (fb_ynode_check_keys(gn, c.what, gen_keys[kind]) < 0)
		errs++;
	switch (g->kind) {
	case FB_GEN_CONSTANT:
		errs += gnum(&c, "value", true, 0, &g->a) < 0;
		*lo = *hi = g->a;
		break;
	case FB_GEN_UNIFORM:
		errs += gnum(&c, "min", true, 0, &g->a) < 0;
		errs += gnum(&c, "max", true, 0, &g->b) < 0;
		if (!errs && g->b < g->a)
			errs++, bad_value(&c, "max", "must not be less than 'min'");
		*lo = g->a, *hi = g->b;
		break;
	case FB_GEN_NORMAL:
		errs += gnum(&c, "mean", true, 0, &g->a) < 0;
		errs += gnum(&c, "sd", true, 0, &g->b) < 0;
		if (!errs && g->b < 0)
			errs++, bad_value(&c, "sd", "must be 0 or more");
		*lo = g->a - TAIL_SD * g->b, *hi = g->a + TAIL_SD * g->b;
		break;
	case FB_GEN_RANDOM_WALK:
		errs += gnum(&c, "start", true, 0, &g->a) < 0;
		errs += gnum(&c, "step", true, 0, &g->b) < 0;
		errs += gnum(&c, "min", true, 0, &g->c) < 0;
		errs += gnum(&c, "max", true, 0, &g->d) < 0;
		if (!errs && g->b < 0)
			errs++, bad_value(&c, "step", "must be 0 or more");
		if (!errs && !(g->d > g->c))
			errs++, bad_value(&c, "max", "must be more than 'min'");
		if (!errs && (g->a < g->c || g->a > g->d))
			errs++, bad_value(&c, "start", "must be between 'min' and 'max'");
		g->slot = (int)u->nstate++;
		*lo = g->c, *hi = g->d;
		break;
	case FB_GEN_MEAN_REVERTING:
		errs += gnum(&c, "mean", true, 0, &g->a) < 0;
		errs += gnum(&c, "theta", true, 0, &g->b) < 0;
		errs += gnum(&c, "sigma", true, 0, &g->c) < 0;
		if (!errs && !(g->b > 0))
			errs++, bad_value(&c, "theta", "must be more than 0 (a rate per hour)");
		if (!errs && g->c < 0)
			errs++, bad_value(&c, "sigma", "must be 0 or more");
		if (!errs) {
			double stat_sd = g->c / sqrt(2 * g->b);
			*lo = g->a - TAIL_SD * stat_sd, *hi = g->a + TAIL_SD * stat_sd;
		}
		g->slot = (int)u->nstate++;
		break;
	case FB_GEN_DAILY:
		errs += load_daily(&c, g, lo, hi);
		break;
	case FB_GEN_SINE: {
		const struct fb_ynode *pn = fb_ynode_get(gn, "period"), *ph = fb_ynode_get(gn, "phase");
		errs += gnum(&c, "mean", true, 0, &g->a) < 0;
		errs += gnum(&c, "amplitude", true, 0, &g->b) < 0;
		if (!pn)
			errs++, fb_ynode_error(gn, "missing key 'period' in %s", c.what);
		else if (fb_ynode_duration(pn, "'period'", &g->period_us) < 0)
			errs++;
		else if (g->period_us <= 0)
			errs++, fb_ynode_error(pn, "'period' must be longer than 0");
		if (ph && fb_ynode_duration(ph, "'phase'", &g->phase_us) < 0)
			errs++;
		*lo = g->a - fabs(g->b), *hi = g->a + fabs(g->b);
		break;
	}
	case FB_GEN_POISSON:
		errs += gnum(&c, "rate", true, 0, &g->a) < 0;
		if (!errs && !(g->a >= 0 && g->a <= 1e6))
			errs++, bad_value(&c, "rate", "must be between 0 and 1000000 events per sample");
		*lo = 0, *hi = floor(g->a + TAIL_SD * sqrt(g->a) + TAIL_SD);
		break;
	case FB_GEN_SAWTOOTH: {
		/* Rising (reset_above) or falling (reset_below, a draining battery). */
		const struct fb_ynode *above = fb_ynode_get(gn, "reset_above"), *below = fb_ynode_get(gn, "reset_below");
		errs += gnum(&c, "rise_per_day", true, 0, &g->a) < 0;
		errs += gnum(&c, "reset_to", true, 0, &g->c) < 0;
		if (errs)
			break;
		if (g->a == 0) {
			errs++, bad_value(&c, "rise_per_day", "must not be 0");
		} else if (g->a > 0 && below) {
			errs++, fb_ynode_error(below, "'reset_below' is for a falling sawtooth (a negative "
			                       "'rise_per_day'): use 'reset_above'");
		} else if (g->a < 0 && above) {
			errs++, fb_ynode_error(above, "'reset_above' is for a rising sawtooth (a positive "
			                       "'rise_per_day'): use 'reset_below'");
		} else if (gnum(&c, g->a > 0 ? "reset_above" : "reset_below", true, 0, &g->b) < 0) {
			errs++;
		} else if (g->a > 0 && !(g->b > g->c)) {
			errs++, bad_value(&c, "reset_above", "must be more than 'reset_to'");
		} else if (g->a < 0 && !(g->b < g->c)) {
			errs++, bad_value(&c, "reset_below", "must be less than 'reset_to'");
		}
		g->slot = (int)u->nstate++;
		*lo = fmin(g->b, g->c), *hi = fmax(g->b, g->c);
		break;
	}
	case FB_GEN_CSV:
		errs += load_csv(&c, g, base_dir, u->model.default_interval_us, lo, hi);
		break;
	default:
		break;
	}
	return errs;
}

static bool is_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char ch = *s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static int dup_string(const struct fb_ynode *n, const char *what, char **out)
{
	const char *s;
	if (fb_ynode_string(n, what, &s) < 0)
		return -1;
	if (!(*out = strdup(s)))
		return fb_error("out of memory");
	return 0;
}

static int load_field(struct fb_usertype *u, unsigned i, const struct fb_ynode *fn, const char *base_dir)
{
	struct fb_field *f = &u->fields[i];
	struct fb_gen *g = &u->gens[i];
	const struct fb_ynode *n;
	int errs = 0;
	double lo = -1e9, hi = 1e9;
	if (fb_ynode_check_keys(fn, "field", field_keys) < 0) {
		if (fn->kind != FB_Y_MAP)
			return 1;
		errs++;
	}
	f->kind = FB_FIELD_NUMBER;
	f->resolution = DEFAULT_RESOLUTION;
	f->unit = "";
	if (!(n = fb_ynode_get(fn, "name"))) {
		errs++, fb_ynode_error(fn, "missing key 'name' in field");
	} else if (dup_string(n, "'name'", &u->field_strings[i][0]) < 0) {
		errs++;
	} else if (!is_name(n->text)) {
		errs++, fb_ynode_error(n, "invalid field name '%s': use letters, digits, '-', '_' and '.'", n->text);
	} else {
		f->name = u->field_strings[i][0];
		for (unsigned j = 0; j < i; j++)
			if (u->fields[j].name && strcmp(u->fields[j].name, f->name) == 0)
				errs++, fb_ynode_error(n, "duplicate field '%s'", f->name);
	}
	if ((n = fb_ynode_get(fn, "unit"))) {
		if (dup_string(n, "'unit'", &u->field_strings[i][1]) < 0)
			errs++;
		else
			f->unit = u->field_strings[i][1];
	}
	if ((n = fb_ynode_get(fn, "description"))) {
		if (dup_string(n, "'description'", &u->field_strings[i][2]) < 0)
			errs++;
		else
			f->description = u->field_strings[i][2];
	}
	if (!(n = fb_ynode_get(fn, "gen")))
		errs++, fb_ynode_error(fn, "missing key 'gen' in field (a map with a 'kind')");
	else
		errs += load_gen(u, g, n, base_dir, &lo, &hi);
	if (g->kind == FB_GEN_POISSON) {
		f->kind = FB_FIELD_INTEGER;
		f->resolution = 1;
	}
	if ((n = fb_ynode_get(fn, "resolution"))) {
		if (fb_ynode_number(n, "'resolution'", &f->resolution) < 0)
			errs++;
		else if (!(f->resolution > 0))
			errs++, fb_ynode_error(n, "'resolution' must be more than 0, not %s", n->text);
	}
	f->min = lo;
	f->max = hi;
	const struct fb_ynode *mn = fb_ynode_get(fn, "min"), *mx = fb_ynode_get(fn, "max");
	if (mn && fb_ynode_number(mn, "'min'", &f->min) < 0)
		errs++;
	if (mx && fb_ynode_number(mx, "'max'", &f->max) < 0)
		errs++;
	if (!errs && f->max < f->min)
		errs++, fb_ynode_error(mx ? mx : mn, "'max' must not be less than 'min' (%g)", f->min);
	return errs;
}

void fb_usertype_free(struct fb_model *m)
{
	if (!m)
		return;
	struct fb_usertype *u = (struct fb_usertype *)m;
	for (unsigned i = 0; i < FB_MAX_FIELDS; i++) {
		free(u->gens[i].shape);
		fb_csv_free(u->gens[i].csv);
		for (int k = 0; k < 3; k++)
			free(u->field_strings[i][k]);
	}
	free(u->name);
	free(u->description);
	free(u);
}

struct fb_model *fb_usertype_new(const struct fb_ynode *tn, const char *base_dir)
{
	const struct fb_ynode *n, *fields;
	int errs = 0;
	if (fb_ynode_expect(tn, FB_Y_MAP, "a type") < 0)
		return NULL;
	if (fb_ynode_check_keys(tn, "type", type_keys) < 0)
		errs++;
	struct fb_usertype *u = calloc(1, sizeof(*u));
	if (!u) {
		fb_error("out of memory");
		return NULL;
	}
	struct fb_model *m = &u->model;
	m->data = u;
	m->fields = u->fields;
	m->default_interval_us = DEFAULT_INTERVAL_US;
	m->init = ut_init;
	m->sample = ut_sample;
	if (!(n = fb_ynode_get(tn, "name"))) {
		errs++, fb_ynode_error(tn, "missing key 'name' in type");
	} else if (dup_string(n, "'name'", &u->name) < 0) {
		errs++;
	} else if (!is_name(u->name)) {
		errs++, fb_ynode_error(n, "invalid type name '%s': use letters, digits, '-', '_' and '.'", n->text);
	}
	m->name = u->name;
	if ((n = fb_ynode_get(tn, "description")) && dup_string(n, "'description'", &u->description) < 0)
		errs++;
	m->description = u->description;
	if ((n = fb_ynode_get(tn, "interval"))) {
		if (fb_ynode_duration(n, "'interval'", &m->default_interval_us) < 0)
			errs++;
		else if (m->default_interval_us <= 0)
			errs++, fb_ynode_error(n, "'interval' must be longer than 0");
	}
	if (!(fields = fb_ynode_get(tn, "fields"))) {
		errs++, fb_ynode_error(tn, "missing key 'fields' in type (a list of {name, unit, gen})");
	} else if (fb_ynode_expect(fields, FB_Y_SEQ, "'fields'") < 0) {
		errs++;
	} else if (fields->n == 0 || fields->n > FB_MAX_FIELDS) {
		errs++, fb_ynode_error(fields, "a type has 1 to %d fields, not %zu", FB_MAX_FIELDS, fields->n);
	} else {
		for (size_t i = 0; i < fields->n; i++)
			errs += load_field(u, (unsigned)i, fields->items[i], base_dir);
		m->nfields = (unsigned)fields->n;
	}
	m->state_size = u->nstate * sizeof(double);
	/* OU coefficients for the type's own interval, the common case. */
	for (unsigned i = 0; !errs && i < m->nfields; i++)
		if (u->gens[i].kind == FB_GEN_MEAN_REVERTING)
			ou_coeffs(&u->gens[i], m->default_interval_us, &u->gens[i].d, &u->gens[i].noise);
	if (errs) {
		fb_usertype_free(m);
		return NULL;
	}
	return m;
}
