#include <stdlib.h>
#include <string.h>
#include "sim/engine.h"
#include "sim/fault.h"
#include "sim/log.h"
#include "sim/mem.h"
#include "sim/queue.h"

/* A fleet's share of this shard. */
struct fleet_run {
	const struct fb_fleet *fleet;
	uint32_t first, count;          /* this shard's devices of the fleet (global indexes) */
	unsigned char *rec;             /* count records of rec_size bytes: one per device */
	size_t rec_size;
	fb_time_us interval_span_s;     /* interval_max - interval, whole seconds (0: fixed) */
};

struct fb_engine {
	const struct fb_scenario *sc;
	struct fb_world world;
	struct fb_tz *tz;
	fb_time_us start, end, now;
	uint32_t first, count;          /* this shard's global indexes */
	struct fleet_run *fleets;       /* only those with devices in this shard, in fleet order */
	size_t nfleets;
	struct fb_queue q;
	fb_sample_fn sink;
	void *sink_arg;
	uint64_t events, samples, commands;
	uint64_t *samples_by_fleet;     /* sc->nfleets */
	struct fb_faults *faults;       /* NULL when the scenario injects none */
	double values[FB_MAX_FIELDS];
};

static inline struct fleet_run *fleet_run_of(const struct fb_engine *e, uint32_t device)
{
	size_t lo = 0, hi = e->nfleets;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (e->fleets[mid].first <= device)
			lo = mid;
		else
			hi = mid;
	}
	return &e->fleets[lo];
}

/* A device's record keeps everything an event touches together, so an event costs one cache
 * miss, not one per array: its random stream, its sample count, its interval, then the model's
 * state. */
struct device_head {
	struct fb_rng rng;          /* FB_RNG_VALUES */
	uint32_t seq;
	uint32_t interval_extra_s;  /* interval - fleet interval, whole seconds (drawn once) */
};

static inline struct device_head *device_rec(const struct fleet_run *fr, uint32_t device)
{
	return (struct device_head *)(fr->rec + (size_t)(device - fr->first) * fr->rec_size);
}

/* Each device of a fleet with an interval range draws its own interval once. */
static fb_time_us draw_interval(const struct fb_engine *e, const struct fleet_run *fr,
                                uint32_t device)
{
	if (!fr->interval_span_s)
		return fr->fleet->interval_us;
	uint64_t h = fb_hash64(e->world.seed, device, FB_RNG_SCHEDULE, 0x1e7);
	return fr->fleet->interval_us + (fb_time_us)(h % (uint64_t)(fr->interval_span_s + 1)) * FB_US_PER_S;
}

static inline fb_time_us device_interval(const struct fb_engine *e, const struct fleet_run *fr,
                                         uint32_t device)
{
	if (!fr->interval_span_s)
		return fr->fleet->interval_us;
	if (fr->interval_span_s > UINT32_MAX)
		return draw_interval(e, fr, device);
	return fr->fleet->interval_us +
	       (fb_time_us)device_rec(fr, device)->interval_extra_s * FB_US_PER_S;
}

static inline void make_ctx(struct fb_engine *e, struct fleet_run *fr, uint32_t device,
                            struct fb_device_ctx *ctx)
{
	const struct fb_fleet *f = fr->fleet;
	ctx->world = &e->world;
	ctx->model = f->model;
	ctx->fleet = f;
	ctx->site = f->site;
	ctx->params = f->params;
	ctx->index = device;
	ctx->index_in_fleet = device - f->first;
	ctx->interval_us = device_interval(e, fr, device);
	ctx->rng = &device_rec(fr, device)->rng;
}

static inline void *device_state(const struct fleet_run *fr, uint32_t device)
{
	return device_rec(fr, device) + 1;
}

/* Event times are whole milliseconds, so the trace's ms timestamps keep event order. */
static inline fb_time_us ceil_ms(fb_time_us t)
{
	fb_time_us r = t % FB_US_PER_MS;
	return r ? t + (FB_US_PER_MS - r) : t;
}

/* A device's first event, with the period it recurs with (0: the model decides). */
struct first_event {
	struct fb_event ev;
	fb_time_us period;
};

static int cmp_first(const void *a, const void *b)
{
	const struct first_event *x = a, *y = b;
	return fb_event_less(&x->ev, &y->ev) ? -1 : fb_event_less(&y->ev, &x->ev) ? 1 : 0;
}

struct fb_engine *fb_engine_new(const struct fb_scenario *sc, uint32_t shard_index,
                                uint32_t shard_count, fb_time_us start, fb_time_us duration)
{
	struct fb_engine *e = calloc(1, sizeof *e);
	struct first_event *initial = NULL;
	if (!e)
		goto oom;
	e->sc = sc;
	e->start = e->now = start;
	e->end = start + duration;
	uint64_t from, to;
	fb_scenario_segment(sc, shard_index, shard_count, &from, &to);
	e->first = (uint32_t)from;
	e->count = (uint32_t)(to - from);
	e->tz = fb_tz_new(sc->timezone, e->start, e->end);
	if (!e->tz) {
		fb_error("unknown time zone '%s'", sc->timezone);
		fb_engine_free(e);
		return NULL;
	}
	e->world = (struct fb_world){ sc->seed, e->tz, e->start, e->end, sc->sites, sc->nsites };
	/* ---- faults (sim/fault.h): parsed here so every engine user gets them ---- */
	if (fb_faults_parse(sc, &e->faults) < 0) {
		fb_engine_free(e);
		return NULL;
	}
	if (e->faults && fb_faults_bind(e->faults, e->start, e->end, e->first, e->count) < 0) {
		fb_engine_free(e);
		return NULL;
	}
	/* ---- end faults ---- */
	e->samples_by_fleet = calloc(sc->nfleets ? sc->nfleets : 1, sizeof *e->samples_by_fleet);
	e->fleets = calloc(sc->nfleets ? sc->nfleets : 1, sizeof *e->fleets);
	if (!e->samples_by_fleet || !e->fleets)
		goto oom;
	fb_queue_init(&e->q);
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		uint32_t lo = f->first > e->first ? f->first : e->first;
		uint32_t hi_f = f->first + f->count, hi_s = e->first + e->count;
		uint32_t hi = hi_f < hi_s ? hi_f : hi_s;
		if (lo >= hi)
			continue;
		struct fleet_run *fr = &e->fleets[e->nfleets++];
		fr->fleet = f;
		fr->first = lo;
		fr->count = hi - lo;
		fr->rec_size = sizeof(struct device_head) + ((f->model->state_size + 7) & ~(size_t)7);
		if (f->interval_max_us > f->interval_us)
			fr->interval_span_s = (f->interval_max_us - f->interval_us) / FB_US_PER_S;
		if (!(fr->rec = fb_mem_huge_alloc((size_t)fr->count * fr->rec_size)))
			goto oom;
	}
	if (fb_queue_reserve(&e->q, 1024) ||
	    !(initial = malloc((e->count ? e->count : 1) * sizeof *initial)))
		goto oom;
	size_t ninitial = 0;
	for (size_t i = 0; i < e->nfleets; i++) {
		struct fleet_run *fr = &e->fleets[i];
		const struct fb_model *m = fr->fleet->model;
		for (uint32_t d = fr->first; d < fr->first + fr->count; d++) {
			struct fb_device_ctx ctx;
			struct device_head *h = device_rec(fr, d);
			fb_rng_init(&h->rng, sc->seed, d, FB_RNG_VALUES);
			if (fr->interval_span_s && fr->interval_span_s <= UINT32_MAX)
				h->interval_extra_s = (uint32_t)((draw_interval(e, fr, d) - fr->fleet->interval_us) /
				                                 FB_US_PER_S);
			make_ctx(e, fr, d, &ctx);
			if (m->init)
				m->init(&ctx, device_state(fr, d), e->start);
			/* First sample: a device-specific phase within its interval (shard-invariant). */
			double u = fb_unit(fb_hash64(sc->seed, d, FB_RNG_SCHEDULE, 0));
			fb_time_us t = ceil_ms(e->start + (fb_time_us)(u * (double)ctx.interval_us));
			fb_time_us period = m->next_time ? 0 : ctx.interval_us;
			if (t >= e->end)
				continue;
			initial[ninitial++] = (struct first_event){ { t, (uint64_t)d << 32 }, period };
			if (fb_queue_expect(&e->q, period, 1))
				goto oom;
		}
	}
	/* Pushed in event order, every first event lands on its period's ring (the fast path). */
	qsort(initial, ninitial, sizeof *initial, cmp_first);
	for (size_t i = 0; i < ninitial; i++)
		if (fb_queue_push(&e->q, initial[i].ev, initial[i].period))
			goto oom;
	free(initial);
	return e;
oom:
	free(initial);
	fb_error("out of memory instantiating %llu devices (try more shards: --shard i/N)",
	         (unsigned long long)(e ? e->count : 0));
	fb_engine_free(e);
	return NULL;
}

void fb_engine_free(struct fb_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nfleets; i++)
		fb_mem_huge_free(e->fleets[i].rec, (size_t)e->fleets[i].count * e->fleets[i].rec_size);
	free(e->fleets);
	free(e->samples_by_fleet);
	fb_queue_release(&e->q);
	fb_tz_free(e->tz);
	fb_faults_free(e->faults);
	free(e);
}

void fb_engine_set_sink(struct fb_engine *e, fb_sample_fn fn, void *arg)
{
	e->sink = fn;
	e->sink_arg = arg;
}

/* With a million devices, the record of a device is almost never in cache: fetch the records
 * of the events the queue announces as due within the next few milliseconds (a few dozen
 * events ahead), and for aperiodic events that of the one after next in the heap. */
static inline void prefetch_device(const struct fb_engine *e, uint64_t tie)
{
	uint32_t d = (uint32_t)(tie >> 32);
	const struct fleet_run *fr = fleet_run_of(e, d);
	const char *rec = (const char *)device_rec(fr, d);
	__builtin_prefetch(rec, 1, 3);
	if (((uintptr_t)rec & 63) + fr->rec_size > 64)
		__builtin_prefetch(rec + fr->rec_size - 1, 1, 3);     /* it straddles two lines */
}

static void prefetch_next(struct fb_engine *e)
{
	struct fb_queue *q = &e->q;
	const struct fb_event *up;
	unsigned n = fb_queue_upcoming(q, &up);
	for (unsigned i = 0; i < n; i++)
		prefetch_device(e, up[i].tie);
	fb_queue_upcoming_clear(q);
	/* The heap's root runs next (if a ring does not); the least of its children after it. */
	size_t nh = q->heap_n < 9 ? q->heap_n : 9;
	if (nh > 1) {
		size_t best = 1;
		for (size_t i = 2; i < nh; i++)
			if (fb_event_less(&q->heap[i], &q->heap[best]))
				best = i;
		prefetch_device(e, q->heap[best].tie);
	}
}

size_t fb_engine_run(struct fb_engine *e, fb_time_us until, size_t max_events)
{
	size_t ran = 0;
	if (until > e->end)
		until = e->end;
	while (ran < max_events) {
		const struct fb_event *top = fb_queue_peek(&e->q);
		if (!top || top->t >= until)
			break;
		struct fb_event ev = *top;     /* rescheduled in place below, or popped */
		uint32_t d = (uint32_t)(ev.tie >> 32);
		struct fleet_run *fr = fleet_run_of(e, d);
		const struct fb_model *m = fr->fleet->model;
		void *st = device_state(fr, d);
		struct fb_device_ctx ctx;
		make_ctx(e, fr, d, &ctx);
		e->now = ev.t;
		m->sample(&ctx, st, ev.t, e->values);
		for (unsigned i = 0; i < m->nfields; i++)
			e->values[i] = fb_field_quantize(&m->fields[i], e->values[i]);
		uint32_t *seq = &device_rec(fr, d)->seq;
		struct fb_sample s = { .fleet = fr->fleet, .model = m, .device = d, .seq = *seq, .t = ev.t,
		                       .values = e->values };
		if (__builtin_expect(e->faults != NULL, 0))      /* faults: sim/fault.h */
			fb_faults_emit(e->faults, &s, e->values, e->sink, e->sink_arg);
		else if (e->sink)
			e->sink(e->sink_arg, &s);
		++*seq;
		e->samples++;
		e->samples_by_fleet[fr->fleet->index]++;
		e->events++;
		ran++;
		fb_time_us next, period = 0;
		if (m->next_time) {
			next = ceil_ms(m->next_time(&ctx, st, ev.t));
			if (next <= ev.t)
				next = ev.t + FB_US_PER_MS;     /* never twice at one instant */
		} else {
			next = ev.t + ctx.interval_us;
			period = ctx.interval_us;
		}
		int rc;
		if (next < e->end) {
			struct fb_event nx = { next, (uint64_t)d << 32 | *seq };
			rc = fb_queue_replace_top(&e->q, nx, period);
		} else {
			struct fb_event gone;
			rc = fb_queue_pop(&e->q, &gone);
		}
		if (rc) {
			fb_error("out of memory in the event queue");
			break;
		}
		prefetch_next(e);
	}
	if (e->faults && fb_engine_next_time(e) == FB_TIME_NEVER)   /* faults: held backlogs are lost */
		fb_faults_finish(e->faults, e->sink, e->sink_arg);
	return ran;
}

fb_time_us fb_engine_next_time(const struct fb_engine *e)
{
	const struct fb_event *top = fb_queue_peek(&e->q);
	return top && top->t < e->end ? top->t : FB_TIME_NEVER;
}

fb_time_us fb_engine_now(const struct fb_engine *e) { return e->now; }
fb_time_us fb_engine_end(const struct fb_engine *e) { return e->end; }
const struct fb_world *fb_engine_world(const struct fb_engine *e) { return &e->world; }
uint32_t fb_engine_first_device(const struct fb_engine *e) { return e->first; }
uint32_t fb_engine_device_count(const struct fb_engine *e) { return e->count; }

int fb_engine_command(struct fb_engine *e, uint32_t device, const char *field, double value)
{
	if (device < e->first || device - e->first >= e->count || !e->nfleets)
		return -1;
	struct fleet_run *fr = fleet_run_of(e, device);
	const struct fb_model *m = fr->fleet->model;
	int fi = fb_model_field_index(m, field);
	if (fi < 0 || !m->fields[fi].writable || !m->command)
		return -2;
	if (!(value >= m->fields[fi].min && value <= m->fields[fi].max))
		return -3;
	struct fb_device_ctx ctx;
	make_ctx(e, fr, device, &ctx);
	if (m->command(&ctx, device_state(fr, device), e->now, field, value))
		return -3;
	e->commands++;
	return 0;
}

void fb_engine_stats(const struct fb_engine *e, struct fb_engine_stats *out)
{
	out->events = e->events;
	out->samples = e->samples;
	out->commands = e->commands;
	out->samples_by_fleet = e->samples_by_fleet;
}

struct fb_faults *fb_engine_faults(const struct fb_engine *e) { return e->faults; }

int fb_engine_validate(const struct fb_engine *e)
{
	return fb_queue_validate(&e->q);
}
