#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "protocols/faults.h"
#include "sim/log.h"
#include "sim/rng.h"

enum { DARK_BEFORE, DARK_DOWN, DARK_OVER };

struct conn_ent {
	void *conn;
	uint32_t device;
	bool storm_pending;       /* brought back by a storm or a dark site's end: not up yet */
	fb_time_us since_wall;    /* when it was let go */
};

struct delayed {
	void *conn;
	const char *topic;
	fb_time_us release_t;     /* virtual */
	uint8_t *data;
	size_t len, cap;
	bool used;
};

struct conn_rule {
	const struct fb_fault_rule *r;
	int phase;                /* storm: 0 before, 1 fired; the others: DARK_* */
	uint32_t *churn_n;        /* churn: per connection, drops done */
	fb_time_us churn_next;    /* churn: the earliest next drop */
};

struct fb_netfaults {
	struct fb_transport_env env;
	struct fb_faults *faults;
	const struct fb_netfault_ops *ops;
	void *arg;
	struct conn_ent *conns;
	size_t nconns, capconns;
	struct conn_rule *crules;
	size_t ncrules;
	struct delayed *delayed;
	size_t ndelayed, capdelayed, pending;
	ev_timer tick;
	bool draining;
	uint64_t held_back, duplicated, malformed, dropped_dark, storm_conns, storm_reconnected, churned;
	double *storm_up_s;       /* per reconnection: seconds from being let go to up */
	size_t nup, capup;
	bool logged_delay_oom;
};

static bool rule_for_transport(const struct fb_scenario *sc, const struct fb_fault_rule *r,
                               const char *transport)
{
	for (size_t i = 0; i < sc->nfleets; i++)
		if (r->fleet_match[i] && sc->fleets[i].transport && !strcmp(sc->fleets[i].transport, transport))
			return true;
	return false;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct fb_netfaults *fb_netfaults_new(const struct fb_transport_env *env, const char *transport,
                                      const struct fb_netfault_ops *ops, void *arg, bool *failed)
{
	*failed = false;
	struct fb_faults *f = env->engine ? fb_engine_faults(env->engine) : NULL;
	if (!f)
		return NULL;
	bool any = false;
	size_t nconn_rules = 0;
	for (size_t i = 0; i < fb_faults_nrules(f); i++) {
		const struct fb_fault_rule *r = fb_faults_rule(f, i);
		if (r->kind < FB_FAULT_MALFORMED || !rule_for_transport(env->scenario, r, transport))
			continue;
		any = true;
		nconn_rules += r->kind == FB_FAULT_SITE_DARK || r->kind == FB_FAULT_RECONNECT_STORM ||
		               r->kind == FB_FAULT_MODBUS_EXCEPTION || r->kind == FB_FAULT_CHURN;
	}
	if (!any)
		return NULL;
	struct fb_netfaults *nf = calloc(1, sizeof *nf);
	if (!nf || !(nf->crules = calloc(nconn_rules ? nconn_rules : 1, sizeof *nf->crules))) {
		free(nf);
		*failed = true;
		fb_error("out of memory");
		return NULL;
	}
	nf->env = *env;
	nf->faults = f;
	nf->ops = ops;
	nf->arg = arg;
	for (size_t i = 0; i < fb_faults_nrules(f); i++) {
		const struct fb_fault_rule *r = fb_faults_rule(f, i);
		if ((r->kind == FB_FAULT_SITE_DARK || r->kind == FB_FAULT_RECONNECT_STORM ||
		     r->kind == FB_FAULT_MODBUS_EXCEPTION || r->kind == FB_FAULT_CHURN) &&
		    rule_for_transport(env->scenario, r, transport))
			nf->crules[nf->ncrules++].r = r;
	}
	ev_timer_init(&nf->tick, tick_cb, 0., 0.02);    /* first at once: a window open from the start */
	nf->tick.data = nf;
	if (nf->ncrules && env->loop)
		ev_timer_start(env->loop, &nf->tick);
	return nf;
}

void fb_netfaults_free(struct fb_netfaults *nf)
{
	if (!nf)
		return;
	if (nf->env.loop)
		ev_timer_stop(nf->env.loop, &nf->tick);
	for (size_t i = 0; i < nf->ndelayed; i++)
		free(nf->delayed[i].data);
	free(nf->delayed);
	free(nf->conns);
	for (size_t i = 0; i < nf->ncrules; i++)
		free(nf->crules[i].churn_n);
	free(nf->crules);
	free(nf->storm_up_s);
	free(nf);
}

int fb_netfaults_add_conn(struct fb_netfaults *nf, void *conn, uint32_t device)
{
	if (nf->nconns == nf->capconns) {
		size_t cap = nf->capconns ? 2 * nf->capconns : 64;
		struct conn_ent *c = realloc(nf->conns, cap * sizeof *c);
		if (!c)
			return fb_error("out of memory");
		nf->conns = c;
		nf->capconns = cap;
	}
	nf->conns[nf->nconns++] = (struct conn_ent){ conn, device, false, 0 };
	return 0;
}

static struct conn_ent *conn_of(struct fb_netfaults *nf, void *conn)
{
	for (size_t i = 0; i < nf->nconns; i++)      /* only on reconnection during a storm */
		if (nf->conns[i].conn == conn)
			return &nf->conns[i];
	return NULL;
}

void fb_netfaults_conn_up(struct fb_netfaults *nf, void *conn)
{
	if (!nf || !nf->storm_conns || nf->storm_reconnected >= nf->storm_conns)
		return;
	struct conn_ent *c = conn_of(nf, conn);
	if (!c || !c->storm_pending)
		return;
	c->storm_pending = false;
	if (nf->nup == nf->capup) {     /* grows with the storms, not per message */
		size_t cap = nf->capup ? 2 * nf->capup : nf->nconns + 16;
		double *u = realloc(nf->storm_up_s, cap * sizeof *u);
		if (!u)
			return;
		nf->storm_up_s = u;
		nf->capup = cap;
	}
	nf->storm_up_s[nf->nup++] = (double)(fb_wall_now() - c->since_wall) / 1e6;
	nf->storm_reconnected++;
}

/* ---- connection faults, at virtual times ---- */

static double wall_span_s(struct fb_netfaults *nf, fb_time_us from, fb_time_us span)
{
	if (nf->env.wall_of) {
		fb_time_us w = nf->env.wall_of(nf->env.wall_arg, from + span) - nf->env.wall_of(nf->env.wall_arg, from);
		if (w > 0)
			return (double)w / 1e6;
	}
	return (double)span / 1e6;    /* max speed: virtual time has no wall clock; take it as wall time */
}

static void release_due(struct fb_netfaults *nf, fb_time_us now_v, bool all)
{
	while (nf->pending) {
		struct delayed *best = NULL;
		for (size_t i = 0; i < nf->ndelayed; i++) {
			struct delayed *d = &nf->delayed[i];
			if (d->used && (all || d->release_t <= now_v) && (!best || d->release_t < best->release_t))
				best = d;
		}
		if (!best)
			break;
		best->used = false;
		nf->pending--;
		if (nf->ops->publish)
			nf->ops->publish(nf->arg, best->conn, best->topic, best->data, best->len);
	}
}

/* Churn: connection i's k-th drop falls at a drawn instant of the k-th period of 1/per_hour from
 * `from`, so the schedule is a function of the seed; each due drop takes the connection down and
 * lets it reconnect at once (through the connect rate and back-off). Drops due within one tick
 * (--speed max jumps) are one drop. */
static void run_churn(struct fb_netfaults *nf, struct conn_rule *cr, fb_time_us now_v)
{
	const struct fb_fault_rule *r = cr->r;
	if (nf->draining || !nf->ops->hold || !nf->ops->release) {
		cr->phase = DARK_OVER;
		return;
	}
	if (cr->phase == DARK_OVER || now_v < r->from || now_v < cr->churn_next)
		return;
	if (!cr->churn_n && !(cr->churn_n = calloc(nf->nconns ? nf->nconns : 1, sizeof *cr->churn_n))) {
		cr->phase = DARK_OVER;          /* out of memory: no churn rather than a stall */
		return;
	}
	cr->phase = DARK_DOWN;
	fb_time_us period = (fb_time_us)(3600e6 / r->per_hour), next = FB_TIME_NEVER;
	for (size_t i = 0; i < nf->nconns; i++) {
		struct conn_ent *c = &nf->conns[i];
		if (!fb_fault_targets(nf->faults, r, c->device))
			continue;
		bool drop = false;
		for (;;) {
			uint32_t k = cr->churn_n[i];
			fb_time_us at = r->from + (fb_time_us)k * period +
			                (fb_time_us)(fb_fault_draw(nf->faults, r, c->device, k + 1) * (double)period);
			if (at >= r->until)
				break;
			if (at > now_v) {
				if (at < next)
					next = at;
				break;
			}
			drop = true;
			cr->churn_n[i]++;
		}
		if (drop) {
			nf->ops->hold(nf->arg, c->conn);
			nf->ops->release(nf->arg, c->conn, 0);
			nf->churned++;
			fb_faults_add(nf->faults, FB_FAULT_CHURN, 1);
		}
	}
	cr->churn_next = next;
	if (next == FB_TIME_NEVER)
		cr->phase = DARK_OVER;
}

static void run_conn_rules(struct fb_netfaults *nf, fb_time_us now_v)
{
	for (size_t k = 0; k < nf->ncrules; k++) {
		struct conn_rule *cr = &nf->crules[k];
		const struct fb_fault_rule *r = cr->r;
		if (r->kind == FB_FAULT_CHURN) {
			run_churn(nf, cr, now_v);
		} else if (r->kind == FB_FAULT_MODBUS_EXCEPTION) {
			if (cr->phase == DARK_BEFORE && now_v >= r->from && !nf->draining && nf->ops->exceptions) {
				cr->phase = DARK_DOWN;
				for (size_t i = 0; i < nf->nconns; i++)
					if (fb_fault_targets(nf->faults, r, nf->conns[i].device))
						nf->ops->exceptions(nf->arg, nf->conns[i].conn, r, true);
			}
			if (cr->phase == DARK_DOWN && (now_v >= r->until || nf->draining)) {
				cr->phase = DARK_OVER;
				for (size_t i = 0; i < nf->nconns; i++)
					if (fb_fault_targets(nf->faults, r, nf->conns[i].device))
						nf->ops->exceptions(nf->arg, nf->conns[i].conn, r, false);
			}
		} else if (r->kind == FB_FAULT_SITE_DARK) {
			if (cr->phase == DARK_BEFORE && now_v >= r->from && !nf->draining && nf->ops->hold) {
				cr->phase = DARK_DOWN;
				for (size_t i = 0; i < nf->nconns; i++)
					if (fb_fault_targets(nf->faults, r, nf->conns[i].device))
						nf->ops->hold(nf->arg, nf->conns[i].conn);
			}
			if (cr->phase == DARK_DOWN && (now_v >= r->until || nf->draining)) {
				cr->phase = DARK_OVER;
				/* the site comes back: every connection at once (a storm of its own, measured
				 * alike) */
				fb_time_us now = fb_wall_now();
				for (size_t i = 0; i < nf->nconns; i++) {
					struct conn_ent *c = &nf->conns[i];
					if (!fb_fault_targets(nf->faults, r, c->device))
						continue;
					if (!nf->draining && !c->storm_pending) {
						c->storm_pending = true;
						c->since_wall = now;
						nf->storm_conns++;
					}
					nf->ops->release(nf->arg, c->conn, 0);
				}
			}
		} else if (cr->phase == 0 && now_v >= r->from && !nf->draining && nf->ops->hold) {
			cr->phase = 1;
			fb_time_us now = fb_wall_now();
			double within = wall_span_s(nf, r->from, r->within);
			for (size_t i = 0; i < nf->nconns; i++) {
				struct conn_ent *c = &nf->conns[i];
				if (!fb_fault_targets(nf->faults, r, c->device))
					continue;
				nf->ops->hold(nf->arg, c->conn);
				double after = r->jitter ? within * fb_fault_draw(nf->faults, r, c->device, 0) : 0;
				if (!c->storm_pending) {
					c->storm_pending = true;
					nf->storm_conns++;
				}
				c->since_wall = now;
				fb_faults_add(nf->faults, FB_FAULT_RECONNECT_STORM, 1);
				nf->ops->release(nf->arg, c->conn, after);
			}
		}
	}
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fb_netfaults *nf = w->data;
	fb_time_us now_v = fb_engine_now(nf->env.engine);
	release_due(nf, now_v, false);
	run_conn_rules(nf, now_v);
	bool open = false;
	for (size_t k = 0; k < nf->ncrules; k++)
		open |= nf->crules[k].r->kind == FB_FAULT_RECONNECT_STORM ? nf->crules[k].phase == 0
		                                                          : nf->crules[k].phase != DARK_OVER;
	if (!open && !nf->pending)
		ev_timer_stop(loop, w);
}

static void arm_tick(struct fb_netfaults *nf)
{
	if (nf->env.loop && !ev_is_active(&nf->tick))
		ev_timer_start(nf->env.loop, &nf->tick);
}

/* ---- messages ---- */

static const struct fb_fault_rule *rule_of(struct fb_netfaults *nf, const struct fb_sample *s)
{
	for (size_t i = 0; i < fb_faults_nrules(nf->faults); i++) {
		const struct fb_fault_rule *r = fb_faults_rule(nf->faults, i);
		if (r->kind == s->fault && r->fleet_match[s->fleet->index] && s->t >= r->from &&
		    s->t < r->until && fb_fault_targets(nf->faults, r, s->device))
			return r;
	}
	return NULL;
}

static bool hold_back(struct fb_netfaults *nf, const struct fb_fault_rule *r, const struct fb_sample *s,
                      void *conn, const char *topic, const uint8_t *payload, size_t len)
{
	struct delayed *d = NULL;
	for (size_t i = 0; i < nf->ndelayed && !d; i++)
		if (!nf->delayed[i].used)
			d = &nf->delayed[i];
	if (!d) {
		if (nf->ndelayed == nf->capdelayed) {
			size_t cap = nf->capdelayed ? 2 * nf->capdelayed : 64;
			struct delayed *v = realloc(nf->delayed, cap * sizeof *v);
			if (!v)
				return false;
			nf->delayed = v;
			nf->capdelayed = cap;
		}
		d = &nf->delayed[nf->ndelayed++];
		memset(d, 0, sizeof *d);
	}
	if (d->cap < len) {            /* slots are reused: an allocation only while the set grows */
		uint8_t *b = realloc(d->data, len);
		if (!b)
			return false;
		d->data = b;
		d->cap = len;
	}
	memcpy(d->data, payload, len);
	d->len = len;
	d->conn = conn;
	d->topic = topic;
	d->release_t = fb_engine_now(nf->env.engine) + (r ? r->delay : 0);
	d->used = true;
	nf->pending++;
	arm_tick(nf);
	return true;
}

unsigned fb_netfaults_message(struct fb_netfaults *nf, const struct fb_sample *s, void *conn,
                              const char *topic, uint8_t *payload, size_t *len, size_t cap)
{
	/* the engine's clock, not s->t: a skewed or late (backlog) sample carries another time */
	fb_time_us now_v = fb_engine_now(nf->env.engine);
	if (nf->pending)
		release_due(nf, now_v, false);
	if (nf->ncrules)
		run_conn_rules(nf, now_v);
	if (!s->fault)
		return 1;
	const struct fb_fault_rule *r;
	switch (s->fault) {
	case FB_FAULT_MALFORMED:
		r = rule_of(nf, s);
		*len = fb_fault_malform(r ? r->malformed : FB_MALFORMED_ANY,
		                        fb_hash64(nf->env.scenario->seed, s->device, FB_RNG_FAULTS | 3u << 16,
		                                  (uint64_t)s->t), payload, *len, cap);
		nf->malformed++;
		return 1;
	case FB_FAULT_DUPLICATE:
		r = rule_of(nf, s);
		nf->duplicated += r ? r->copies : 1;
		return 1 + (r ? r->copies : 1);
	case FB_FAULT_DELAY:
		r = rule_of(nf, s);
		if (!hold_back(nf, r, s, conn, topic, payload, *len)) {
			if (fb_first_time(&nf->logged_delay_oom))
				fb_warn("faults: out of memory holding a delayed message back: sent at once");
			return 1;
		}
		nf->held_back++;
		return 0;
	case FB_FAULT_SITE_DARK:
		nf->dropped_dark++;
		return 0;
	default:
		return 1;
	}
}

bool fb_netfaults_drain(struct fb_netfaults *nf)
{
	if (!nf)
		return true;
	nf->draining = true;
	release_due(nf, FB_TIME_NEVER, true);
	run_conn_rules(nf, FB_TIME_NEVER);
	return true;
}

/* ---- reports ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double quantile(const double *v, size_t n, double q)
{
	if (!n)
		return 0;
	size_t i = (size_t)ceil(q * (double)n);
	return v[i ? i - 1 : 0];
}

json_t *fb_netfaults_report(const struct fb_netfaults *nf)
{
	json_t *o = json_object();
	if (!nf)
		return o;
	json_object_set_new(o, "held_back", json_integer((json_int_t)nf->held_back));
	json_object_set_new(o, "duplicated", json_integer((json_int_t)nf->duplicated));
	json_object_set_new(o, "malformed", json_integer((json_int_t)nf->malformed));
	json_object_set_new(o, "dropped_dark", json_integer((json_int_t)nf->dropped_dark));
	json_object_set_new(o, "churned", json_integer((json_int_t)nf->churned));
	if (nf->storm_conns) {
		double *v = malloc((nf->nup ? nf->nup : 1) * sizeof *v);
		json_t *spread = json_object();
		if (v) {
			memcpy(v, nf->storm_up_s, nf->nup * sizeof *v);
			qsort(v, nf->nup, sizeof *v, cmp_double);
			json_object_set_new(spread, "min", json_real(nf->nup ? v[0] : 0));
			json_object_set_new(spread, "p50", json_real(quantile(v, nf->nup, 0.5)));
			json_object_set_new(spread, "p90", json_real(quantile(v, nf->nup, 0.9)));
			json_object_set_new(spread, "max", json_real(nf->nup ? v[nf->nup - 1] : 0));
			free(v);
		}
		json_object_set_new(o, "storm", json_pack("{s:I, s:I, s:o}", "connections",
		                                          (json_int_t)nf->storm_conns, "reconnected",
		                                          (json_int_t)nf->storm_reconnected, "spread_s", spread));
	}
	return o;
}

void fb_netfaults_summary(const struct fb_netfaults *nf, const char *transport, FILE *out)
{
	if (!nf)
		return;
	fprintf(out, "%s: faults: %llu held back, %llu duplicated, %llu malformed, %llu lost in a dark site, "
	        "%llu connections churned", transport, (unsigned long long)nf->held_back,
	        (unsigned long long)nf->duplicated, (unsigned long long)nf->malformed,
	        (unsigned long long)nf->dropped_dark, (unsigned long long)nf->churned);
	if (nf->storm_conns && nf->nup) {
		double *v = malloc(nf->nup * sizeof *v);
		if (v) {
			memcpy(v, nf->storm_up_s, nf->nup * sizeof *v);
			qsort(v, nf->nup, sizeof *v, cmp_double);
			fprintf(out, "; storm: %llu of %llu connections back, spread p50 %.3f s, p90 %.3f s, max %.3f s",
			        (unsigned long long)nf->storm_reconnected, (unsigned long long)nf->storm_conns,
			        quantile(v, nf->nup, 0.5), quantile(v, nf->nup, 0.9), v[nf->nup - 1]);
			free(v);
		}
	} else if (nf->storm_conns) {
		fprintf(out, "; storm: 0 of %llu connections back", (unsigned long long)nf->storm_conns);
	}
	fputc('\n', out);
}

/* ---- malformed payloads ---- */

static size_t garbage(uint64_t draw, uint8_t *buf, size_t len)
{
	struct fb_rng r = { draw };
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)fb_rng_next(&r);
	/* never valid by chance: the first byte is not a JSON opener nor a protobuf field 1 tag */
	if (len && (buf[0] == '{' || buf[0] == '[' || buf[0] == 0x08))
		buf[0] = 0xff;
	return len;
}

static bool is_json(const uint8_t *buf, size_t len)
{
	return len >= 2 && (buf[0] == '{' || buf[0] == '[');
}

size_t fb_fault_malform(enum fb_malformed_mode mode, uint64_t draw, uint8_t *buf, size_t len, size_t cap)
{
	if (!len)
		return 0;
	if (mode == FB_MALFORMED_ANY)
		return fb_fault_malform((enum fb_malformed_mode)(1 + draw % 4), fb_mix64(draw), buf, len, cap);
	switch (mode) {
	case FB_MALFORMED_TRUNCATED:
		return len > 1 ? 1 + (size_t)(draw % (len - 1)) : 0;
	case FB_MALFORMED_SYNTAX:
		if (is_json(buf, len)) {
			/* the closing bracket becomes a comma: {"a":1, */
			size_t i = len;
			while (i > 0 && buf[i - 1] != '}' && buf[i - 1] != ']')
				i--;
			if (i)
				buf[i - 1] = ',';
			return len;
		}
		buf[0] ^= 0xff;
		return len;
	case FB_MALFORMED_TYPES: {
		if (!is_json(buf, len))
			return garbage(draw, buf, len);
		/* the first number value becomes a string: "LAeq":"oops" */
		for (size_t i = 0; i + 1 < len; i++) {
			if (buf[i] != ':' || !((buf[i + 1] >= '0' && buf[i + 1] <= '9') || buf[i + 1] == '-'))
				continue;
			size_t a = i + 1, b = a;
			while (b < len && ((buf[b] >= '0' && buf[b] <= '9') || buf[b] == '-' || buf[b] == '.' ||
			                   buf[b] == 'e' || buf[b] == 'E' || buf[b] == '+'))
				b++;
			static const char word[] = "\"oops\"";
			size_t wl = sizeof word - 1, nl = len - (b - a) + wl;
			if (nl > cap)
				break;
			memmove(buf + a + wl, buf + b, len - b);
			memcpy(buf + a, word, wl);
			return nl;
		}
		return garbage(draw, buf, len);
	}
	case FB_MALFORMED_GARBAGE:
	default:
		return garbage(draw, buf, len);
	}
}

/* ---- counts for the run ---- */

json_t *fb_faults_report(const struct fb_engine *e)
{
	json_t *o = json_object();
	const struct fb_faults *f = e ? fb_engine_faults(e) : NULL;
	if (!f)
		return o;
	for (int k = FB_FAULT_NONE + 1; k < FB_FAULT_NKINDS; k++) {
		uint64_t n = fb_faults_count(f, (enum fb_fault_kind)k);
		if (n || fb_faults_has(f, (enum fb_fault_kind)k))
			json_object_set_new(o, fb_fault_name((enum fb_fault_kind)k), json_integer((json_int_t)n));
	}
	return o;
}

void fb_faults_summary(const struct fb_engine *e, FILE *out)
{
	const struct fb_faults *f = e ? fb_engine_faults(e) : NULL;
	if (!f)
		return;
	fputs("  faults       ", out);
	const char *sep = " ";
	for (int k = FB_FAULT_NONE + 1; k < FB_FAULT_NKINDS; k++) {
		uint64_t n = fb_faults_count(f, (enum fb_fault_kind)k);
		if (!n && !fb_faults_has(f, (enum fb_fault_kind)k))
			continue;
		fprintf(out, "%s%s %llu", sep, fb_fault_name((enum fb_fault_kind)k), (unsigned long long)n);
		sep = ", ";
	}
	fputc('\n', out);
}
