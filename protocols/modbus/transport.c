/* The Modbus transport: the fleets with `transport: modbus` become Modbus servers that a master
 * polls. Each device keeps its latest sample; a read returns it, a write is a command into the
 * engine (and shows at once in the registers, then in the next samples).
 *
 *   transports:
 *     modbus:
 *       listen: 127.0.0.1:5020     # first port (0: any free ports, logged)
 *       layout: gateway            # up to units_per_port unit ids per port, then the next port
 *                                  # | per-device: one port per device, unit id 1 (and 255)
 *       units_per_port: 247
 *       rtu: {pty: true, link: ./ttyFB0, baud: 19200}   # the first port's units also on a pty
 *   fleets:
 *     - type: streetlight
 *       transport: modbus
 *       params:
 *         modbus:
 *           word_order: CDAB         # ABCD (default), CDAB, BADC, DCBA
 *           map: maps/luminaire.yaml # a register map file instead of the type's default map
 *           faults: {exception_rate: 0.01, exception_code: 6, no_reply_rate: 0.01,
 *                    delay_min: 5ms, delay_max: 50ms, split_rate: 0.1, split_gap: 2ms,
 *                    junk_rate: 0.01, drop_rate: 0.001}
 *
 * Unit ids and ports derive from a device's position among all Modbus devices of the scenario
 * (fleet order, then position in the fleet), so they are the same in every shard. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "protocols/faults.h"
#include "protocols/modbus/layout.h"
#include "protocols/modbus/regmap.h"
#include "protocols/modbus/server.h"
#include "protocols/transport.h"
#include "sim/limits.h"
#include "sim/log.h"

enum layout { LAYOUT_GATEWAY, LAYOUT_PER_DEVICE };

struct mb_fleet {
	bool used;
	struct fb_regmap *map;
	struct fb_mb_faults faults;
	bool has_faults;
};

struct port {
	int ep;                  /* server endpoint, -1 when this shard has no device there */
	uint16_t port;
	uint32_t first_unit_device, last_unit_device;
};

struct fb_transport {
	struct fb_transport_env env;
	char host[64];
	uint16_t first_port;
	enum layout layout;
	unsigned units_per_port;
	bool rtu;
	char *rtu_link;
	unsigned rtu_baud;
	char pty_name[64];
	struct fb_mbserver *srv;
	struct mb_fleet *fleets;        /* per scenario fleet */
	struct fb_mb_unit *units;       /* per device of this shard (NULL map: not Modbus) */
	double *values;
	uint32_t first_device, ndevices;
	struct port *ports;
	size_t nports;
	uint64_t commands_ok, commands_refused;
	int status;
	uint64_t fds_reserved;         /* descriptors reserved at start (sim/limits.h) */
	/* faults (protocols/faults.h): an exception storm switches units to `storm` for its window */
	struct fb_netfaults *nf;
	struct fb_mb_faults storm;
	bool storm_counted;
	/* --speed max: a poll needs a now, so the run is held to realtime from its start */
	bool pace_max;
	fb_time_us pace_wall0, pace_virt0;
	ev_timer pace_wake;             /* wakes the loop when the next event falls due */
};

static const char *const config_keys[] = { "listen", "layout", "units_per_port", "rtu", NULL };
static const char *const rtu_keys[] = { "pty", "link", "baud", NULL };
static const char *const fleet_keys[] = { "word_order", "map", "faults", NULL };
static const char *const fault_keys[] = { "exception_rate", "exception_code", "no_reply_rate",
                                          "delay_min", "delay_max", "split_rate", "split_gap",
                                          "junk_rate", "drop_rate", NULL };

static int parse_rate(const struct fb_ynode *map, const char *key, double *out)
{
	const struct fb_ynode *v = fb_ynode_get(map, key);
	char what[40];
	if (!v)
		return 0;
	snprintf(what, sizeof what, "'%s'", key);
	if (fb_ynode_number(v, what, out) < 0)
		return -1;
	if (!(*out >= 0 && *out <= 1))
		return fb_ynode_error(v, "'%s' is a probability between 0 and 1", key);
	return 0;
}

static int parse_faults(const struct fb_ynode *n, struct fb_mb_faults *f)
{
	const struct fb_ynode *v;
	if (fb_ynode_expect(n, FB_Y_MAP, "'faults'") < 0 ||
	    fb_ynode_check_keys(n, "Modbus 'faults'", fault_keys) < 0)
		return -1;
	if (parse_rate(n, "exception_rate", &f->exception_rate) < 0 ||
	    parse_rate(n, "no_reply_rate", &f->no_reply_rate) < 0 ||
	    parse_rate(n, "split_rate", &f->split_rate) < 0 ||
	    parse_rate(n, "junk_rate", &f->junk_rate) < 0 ||
	    parse_rate(n, "drop_rate", &f->drop_rate) < 0)
		return -1;
	int64_t code = FB_MB_EX_DEVICE_FAILURE;
	if ((v = fb_ynode_get(n, "exception_code")) &&
	    fb_ynode_int(v, "'exception_code'", 1, 11, &code) < 0)
		return -1;
	f->exception_code = (uint8_t)code;
	if ((v = fb_ynode_get(n, "delay_min")) && fb_ynode_duration(v, "'delay_min'", &f->delay_min_us) < 0)
		return -1;
	if ((v = fb_ynode_get(n, "delay_max")) && fb_ynode_duration(v, "'delay_max'", &f->delay_max_us) < 0)
		return -1;
	if (f->delay_max_us < f->delay_min_us)
		f->delay_max_us = f->delay_min_us;
	if (f->delay_max_us > 60 * FB_US_PER_S)
		return fb_ynode_error(n, "Modbus reply delays are limited to 60s");
	if ((v = fb_ynode_get(n, "split_gap")) && fb_ynode_duration(v, "'split_gap'", &f->split_gap_us) < 0)
		return -1;
	return 0;
}

/* A Modbus fleet's params (modbus: word_order, map, faults) and its register map. */
static int parse_fleet(const struct fb_scenario *sc, const struct fb_fleet *fl, struct mb_fleet *mf)
{
	const struct fb_ynode *cfg = fl->params_node ? fb_ynode_get(fl->params_node, "modbus") : NULL;
	const struct fb_ynode *v;
	mf->used = true;
	if (cfg) {
		if (fb_ynode_expect(cfg, FB_Y_MAP, "'modbus'") < 0 ||
		    fb_ynode_check_keys(cfg, "fleet 'modbus' params", fleet_keys) < 0)
			return -1;
		if ((v = fb_ynode_get(cfg, "faults"))) {
			if (parse_faults(v, &mf->faults) < 0)
				return -1;
			mf->has_faults = true;
		}
	}
	/* word_order and map: the same map the bench's poller reads with (layout.h) */
	mf->map = fb_mb_fleet_regmap(sc, fl);
	return mf->map ? 0 : -1;
}

static int command(void *arg, struct fb_mb_unit *u, int field, double value)
{
	struct fb_transport *t = arg;
	const struct fb_field *f = &u->map->model->fields[field];
	int rc = fb_engine_command(t->env.engine, u->device, f->name, value);
	if (rc == 0) {
		u->values[field] = fb_field_quantize(f, value);
		t->commands_ok++;
	} else {
		t->commands_refused++;
	}
	return rc;
}

static void transport_free(struct fb_transport *t)
{
	if (!t)
		return;
	if (t->pace_max)
		ev_timer_stop(t->env.loop, &t->pace_wake);
	fb_netfaults_free(t->nf);
	fb_fd_release(t->fds_reserved);
	fb_mbserver_free(t->srv);
	if (t->fleets && t->env.scenario)
		for (size_t i = 0; i < t->env.scenario->nfleets; i++)
			fb_regmap_free(t->fleets[i].map);
	free(t->fleets);
	free(t->units);
	free(t->values);
	free(t->ports);
	free(t->rtu_link);
	free(t);
}

/* faults: an exception storm (sim/fault.h modbus_exception) reuses the server's injection */
static void nf_exceptions(void *arg, void *conn, const struct fb_fault_rule *r, bool on)
{
	struct fb_transport *t = arg;
	struct fb_mb_unit *u = conn;
	if (on) {
		t->storm.exception_rate = r->rate;
		t->storm.exception_code = r->exception;
		u->faults = &t->storm;
	} else {
		const struct fb_fleet *fl = fb_scenario_fleet_of(t->env.scenario, u->device);
		u->faults = fl && t->fleets[fl->index].has_faults ? &t->fleets[fl->index].faults : NULL;
	}
}
static const struct fb_netfault_ops nf_ops = { .exceptions = nf_exceptions };

/* transports.modbus as read (strings point into the scenario's tree) */
struct mb_conf {
	char host[64];
	uint16_t first_port;
	enum layout layout;
	unsigned units_per_port;
	bool rtu;
	const char *rtu_link;
	unsigned rtu_baud;
};

/* Reads transports.modbus (config may be NULL: the defaults) into *c, for create and check.
 * No sockets, no allocation. 0, or -1 after located errors. */
static int read_conf(const struct fb_ynode *config, struct mb_conf *c)
{
	const struct fb_ynode *v;
	memset(c, 0, sizeof *c);
	snprintf(c->host, sizeof c->host, "127.0.0.1");
	c->first_port = 5020;
	c->layout = LAYOUT_GATEWAY;
	c->units_per_port = 247;
	c->rtu_baud = 19200;
	if (config) {
		if (fb_ynode_expect(config, FB_Y_MAP, "'transports: modbus'") < 0 ||
		    fb_ynode_check_keys(config, "'transports: modbus'", config_keys) < 0)
			return -1;
		struct fb_mb_layout lay;
		fb_mb_layout_defaults(&lay);
		if (fb_mb_layout_read(&lay, config) < 0)
			return -1;
		memcpy(c->host, lay.host, sizeof c->host);
		c->first_port = lay.first_port;
		c->layout = lay.per_device ? LAYOUT_PER_DEVICE : LAYOUT_GATEWAY;
		c->units_per_port = lay.units_per_port;
		if ((v = fb_ynode_get(config, "rtu"))) {
			if (fb_ynode_expect(v, FB_Y_MAP, "'rtu'") < 0 ||
			    fb_ynode_check_keys(v, "'rtu'", rtu_keys) < 0)
				return -1;
			const struct fb_ynode *w;
			if ((w = fb_ynode_get(v, "pty")) && fb_ynode_bool(w, "'pty'", &c->rtu) < 0)
				return -1;
			if ((w = fb_ynode_get(v, "link")) && fb_ynode_string(w, "'link'", &c->rtu_link) < 0)
				return -1;
			int64_t baud;
			if ((w = fb_ynode_get(v, "baud"))) {
				if (fb_ynode_int(w, "'baud'", 300, 4000000, &baud) < 0)
					return -1;
				c->rtu_baud = (unsigned)baud;
			}
		}
	}
	return 0;
}

/* Parse only (fb_transport_ops.check): the configuration and each Modbus fleet's params and
 * register map (read, then freed); the port range depends on the run (--local) and is left
 * to create. */
static int transport_check(const struct fb_scenario *sc, const struct fb_ynode *config)
{
	struct mb_conf conf;
	int errs = read_conf(config, &conf) < 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *fl = &sc->fleets[i];
		if (!fl->transport || strcmp(fl->transport, "modbus"))
			continue;
		struct mb_fleet mf = { 0 };
		errs += parse_fleet(sc, fl, &mf) < 0;
		fb_regmap_free(mf.map);
	}
	return errs ? -1 : 0;
}

static struct fb_transport *transport_create(const struct fb_transport_env *env,
                                             const struct fb_ynode *config)
{
	struct fb_transport *t = calloc(1, sizeof *t);
	const struct fb_scenario *sc = env->scenario;
	if (!t) {
		fb_error("modbus: out of memory");
		return NULL;
	}
	t->env = *env;
	struct mb_conf conf;
	if (read_conf(config, &conf) < 0)
		goto fail;
	memcpy(t->host, conf.host, sizeof t->host);
	t->first_port = conf.first_port;
	t->layout = conf.layout;
	t->units_per_port = conf.units_per_port;
	t->rtu = conf.rtu;
	t->rtu_baud = conf.rtu_baud;
	if (conf.rtu_link && !(t->rtu_link = strdup(conf.rtu_link)))
		goto oom;
	if (t->layout == LAYOUT_PER_DEVICE)
		t->units_per_port = 1;
	if (env->target) {
		/* --local / --collect: the first port where the bench's poller reads */
		struct fb_mb_layout lay = { .first_port = t->first_port };
		if (fb_mb_layout_target(&lay, env->target) < 0) {
			fb_error("modbus: bad target '%s': expected host:port", env->target);
			goto fail;
		}
		memcpy(t->host, lay.host, sizeof t->host);
		t->first_port = lay.first_port;
	}

	/* fleets, devices and their unit ids */
	if (!(t->fleets = calloc(sc->nfleets ? sc->nfleets : 1, sizeof *t->fleets)))
		goto oom;
	t->first_device = fb_engine_first_device(env->engine);
	t->ndevices = fb_engine_device_count(env->engine);
	if (!(t->units = calloc(t->ndevices ? t->ndevices : 1, sizeof *t->units)))
		goto oom;
	uint64_t nmodbus = 0, nvalues = 0;
	int errs = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *fl = &sc->fleets[i];
		if (!fl->transport || strcmp(fl->transport, "modbus"))
			continue;
		if (parse_fleet(sc, fl, &t->fleets[i]) < 0)
			errs++;
		nmodbus += fl->count;
		nvalues += (uint64_t)fl->count * fl->model->nfields;
	}
	if (errs)
		goto fail;
	t->nports = (size_t)((nmodbus + t->units_per_port - 1) / t->units_per_port);
	if (t->first_port && t->first_port + t->nports - 1 > 65535) {
		fb_error("modbus: %llu devices need %zu ports from %u: beyond 65535 (start lower with "
		         "'listen: HOST:PORT', or 'listen: HOST:0' for any free ports%s)",
		         (unsigned long long)nmodbus, t->nports, t->first_port,
		         t->units_per_port < 247 ? ", or put up to 247 devices on a port with 'layout: gateway'" : "");
		goto fail;
	}
	if (!(t->ports = calloc(t->nports ? t->nports : 1, sizeof *t->ports)) ||
	    !(t->values = malloc((nvalues ? nvalues : 1) * sizeof *t->values)))
		goto oom;
	for (uint64_t i = 0; i < nvalues; i++)
		t->values[i] = NAN;
	for (size_t p = 0; p < t->nports; p++)
		t->ports[p].ep = -1;
	uint64_t k = 0, vi = 0;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *fl = &sc->fleets[i];
		if (!t->fleets[i].used)
			continue;
		for (uint32_t d = 0; d < fl->count; d++, k++) {
			uint32_t dev = fl->first + d;
			double *vals = t->values + vi;
			vi += fl->model->nfields;
			if (dev < t->first_device || dev >= t->first_device + t->ndevices)
				continue;
			struct fb_mb_unit *u = &t->units[dev - t->first_device];
			u->map = t->fleets[i].map;
			u->values = vals;
			u->device = dev;
			u->faults = t->fleets[i].has_faults ? &t->fleets[i].faults : NULL;
			u->owner = (void *)(uintptr_t)k;   /* position among Modbus devices */
			fb_device_id(fl->model, dev, u->device_id, sizeof u->device_id);
		}
	}
	bool nf_failed = false;      /* faults: every unit is a "connection" a storm can switch */
	if ((t->nf = fb_netfaults_new(env, "modbus", &nf_ops, t, &nf_failed))) {
		for (uint32_t i = 0; i < t->ndevices; i++)
			if (t->units[i].map && fb_netfaults_add_conn(t->nf, &t->units[i], t->units[i].device))
				goto fail;
	} else if (nf_failed) {
		goto fail;
	}
	return t;
oom:
	fb_error("modbus: out of memory");
fail:
	transport_free(t);
	return NULL;
}

static void pace_wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* nothing: the wake-up lets the run re-read the hold */
}

static int transport_start(struct fb_transport *t)
{
	if (!(t->srv = fb_mbserver_new(t->env.loop, command, t)))
		return -1;
	if (t->env.wall_of &&
	    t->env.wall_of(t->env.wall_arg, 0) == t->env.wall_of(t->env.wall_arg, (fb_time_us)1 << 50)) {
		t->pace_max = true;
		ev_timer_init(&t->pace_wake, pace_wake_cb, 0, 0);
		fb_info("modbus: speed 'max' runs paced at realtime (a poll needs a now)");
	}
	/* Each port of this shard is a listening socket plus, typically, one master's connection:
	 * a fleet too big for the descriptor limit stops here, named. */
	size_t nlisten = 0, last = SIZE_MAX;
	for (uint32_t i = 0; i < t->ndevices; i++) {
		size_t p = t->units[i].map ? (size_t)((uintptr_t)t->units[i].owner / t->units_per_port) : last;
		if (p != last)
			nlisten++;
		last = p;
	}
	char what[96];
	snprintf(what, sizeof what, "modbus: %zu listening port%s ('layout: %s') and their masters' "
	         "connections", nlisten, nlisten == 1 ? "" : "s",
	         t->layout == LAYOUT_PER_DEVICE ? "per-device" : "gateway");
	if (fb_fd_reserve(2 * (uint64_t)nlisten, what, t->layout == LAYOUT_PER_DEVICE ?
	                  "or split the fleet over processes with --shard i/N, or serve up to 247 "
	                  "devices per port with 'layout: gateway' in transports.modbus" :
	                  "or split the fleet over processes with --shard i/N")) {
		t->status = 1;
		return -1;
	}
	t->fds_reserved = 2 * (uint64_t)nlisten;
	/* listen on each port that has a device of this shard */
	for (uint32_t i = 0; i < t->ndevices; i++) {
		struct fb_mb_unit *u = &t->units[i];
		if (!u->map)
			continue;
		uint64_t k = (uintptr_t)u->owner;
		struct fb_mb_layout lay = { .per_device = t->layout == LAYOUT_PER_DEVICE,
		                            .units_per_port = t->units_per_port };
		size_t p;
		uint8_t unit;
		fb_mb_layout_place(&lay, k, &p, &unit);
		struct port *pt = &t->ports[p];
		if (pt->ep < 0) {
			uint16_t want = t->first_port ? (uint16_t)(t->first_port + p) : 0;
			pt->ep = fb_mbserver_listen(t->srv, t->host, want, &pt->port);
			if (pt->ep < 0) {
				t->status = 1;
				return -1;
			}
			pt->first_unit_device = u->device;
		}
		pt->last_unit_device = u->device;
		fb_mbserver_set_unit(t->srv, pt->ep, unit, u);
		if (t->layout == LAYOUT_PER_DEVICE)
			fb_mbserver_set_unit(t->srv, pt->ep, 255, u);
	}
	for (size_t p = 0; p < t->nports; p++) {
		if (t->ports[p].ep < 0)
			continue;
		const struct fb_mb_unit *a = &t->units[t->ports[p].first_unit_device - t->first_device];
		const struct fb_mb_unit *b = &t->units[t->ports[p].last_unit_device - t->first_device];
		fb_info("modbus: listening on %s:%u, %s %s .. %s", t->host, t->ports[p].port,
		        t->layout == LAYOUT_PER_DEVICE ? "unit 1:" : "units from 1:", a->device_id,
		        b->device_id);
	}
	if (t->rtu) {
		int bus = fb_mbserver_open_pty(t->srv, t->rtu_baud, t->rtu_link, t->pty_name,
		                               sizeof t->pty_name);
		if (bus < 0) {
			t->status = 1;
			return -1;
		}
		unsigned n = 0;
		for (uint32_t i = 0; i < t->ndevices; i++) {
			struct fb_mb_unit *u = &t->units[i];
			uint64_t k = (uintptr_t)u->owner;
			if (u->map && k < 247) {
				fb_mbserver_set_unit(t->srv, bus, (uint8_t)(1 + k), u);
				n++;
			}
		}
		fb_info("modbus: RTU on pseudo-terminal %s%s%s, %u units from 1", t->pty_name,
		        t->rtu_link ? " linked as " : "", t->rtu_link ? t->rtu_link : "", n);
	}
	return 0;
}

static bool transport_ready(struct fb_transport *t) { (void)t; return true; }
static bool transport_busy(struct fb_transport *t) { (void)t; return false; }
/* In max speed mode (wall_of() then ignores the virtual time) a Modbus fleet runs paced at
 * realtime: the engine may not pass the virtual time that the wall clock has reached since the
 * first event, so a poll reads the values of "now" instead of those at the end of the run. */
static fb_time_us transport_hold(struct fb_transport *t)
{
	if (!t->pace_max)
		return FB_TIME_NEVER;
	fb_time_us now = fb_wall_now();
	if (!t->pace_wall0) {
		t->pace_wall0 = now;
		t->pace_virt0 = fb_engine_now(t->env.engine);
	}
	fb_time_us hold = t->pace_virt0 + (now - t->pace_wall0) + 1;
	/* The run's max mode stops its idle watcher while a hold is in force and only re-checks
	 * on the next loop wake-up: make sure there is one when the next event falls due. */
	fb_time_us next = fb_engine_next_time(t->env.engine);
	if (next != FB_TIME_NEVER && next >= hold && !ev_is_active(&t->pace_wake)) {
		ev_timer_set(&t->pace_wake, (double)(next - hold + 1) / 1e6, 0);
		ev_timer_start(t->env.loop, &t->pace_wake);
	}
	return hold;
}

/* The latest sample is what a poll reads; writes since it stay until the next sample, which
 * the engine computes with the command applied. */
static void transport_send(struct fb_transport *t, const struct fb_sample *s)
{
	if (s->flags & FB_SAMPLE_UNSENT)    /* faults: a silent device's registers keep its last values */
		return;
	if (s->device < t->first_device || s->device >= t->first_device + t->ndevices)
		return;
	struct fb_mb_unit *u = &t->units[s->device - t->first_device];
	if (u->map)
		memcpy(u->values, s->values, s->model->nfields * sizeof *s->values);
}

static bool transport_drain(struct fb_transport *t)
{
	if (t->nf && !t->storm_counted) {
		fb_netfaults_drain(t->nf);
		/* faults: each exception reply a storm injected */
		fb_faults_add(fb_engine_faults(t->env.engine), FB_FAULT_MODBUS_EXCEPTION,
		              t->storm.injected[FB_MB_FAULT_EXCEPTION]);
		t->storm_counted = true;
	}
	return true;
}

static void transport_summary(struct fb_transport *t, FILE *out)
{
	if (!t->srv)
		return;
	fb_mbserver_print_stats(t->srv, out);
	fprintf(out, "modbus: commands %llu applied, %llu refused\n",
	        (unsigned long long)t->commands_ok, (unsigned long long)t->commands_refused);
	for (size_t i = 0; i < t->env.scenario->nfleets; i++) {
		const struct mb_fleet *mf = &t->fleets[i];
		if (!mf->has_faults)
			continue;
		fprintf(out, "modbus: fleet %zu (%s) injected faults:", i,
		        t->env.scenario->fleets[i].model->name);
		for (int k = 0; k < FB_MB_FAULT_KINDS; k++)
			fprintf(out, " %s %llu", fb_mb_fault_names[k], (unsigned long long)mf->faults.injected[k]);
		fputc('\n', out);
	}
}

static json_t *transport_report(struct fb_transport *t)
{
	json_t *r = json_object();
	if (!t->srv)
		return r;
	const struct fb_mb_stats *st = fb_mbserver_stats(t->srv);
	json_t *fcs = json_object(), *exc = json_object(), *ports = json_array(), *fl = json_array();
	char key[8];
	for (int fc = 0; fc < 256; fc++)
		if (st->requests_by_fc[fc]) {
			snprintf(key, sizeof key, "%d", fc);
			json_object_set_new(fcs, key, json_integer((json_int_t)st->requests_by_fc[fc]));
		}
	for (int c = 0; c < 16; c++)
		if (st->exceptions_by_code[c]) {
			snprintf(key, sizeof key, "%d", c);
			json_object_set_new(exc, key, json_integer((json_int_t)st->exceptions_by_code[c]));
		}
	for (size_t p = 0; p < t->nports; p++)
		if (t->ports[p].ep >= 0)
			json_array_append_new(ports, json_integer(t->ports[p].port));
	for (size_t i = 0; i < t->env.scenario->nfleets; i++) {
		const struct mb_fleet *mf = &t->fleets[i];
		if (!mf->has_faults)
			continue;
		json_t *o = json_object();
		json_object_set_new(o, "fleet", json_integer((json_int_t)i));
		for (int k = 0; k < FB_MB_FAULT_KINDS; k++)
			json_object_set_new(o, fb_mb_fault_names[k],
			                    json_integer((json_int_t)mf->faults.injected[k]));
		json_array_append_new(fl, o);
	}
	json_object_set_new(r, "ports", ports);
	if (t->rtu)
		json_object_set_new(r, "pty", json_string(t->pty_name));
	json_object_set_new(r, "connections", json_integer((json_int_t)st->connections_accepted));
	json_object_set_new(r, "connections_peak", json_integer((json_int_t)st->connections_peak));
	json_object_set_new(r, "requests", json_integer((json_int_t)st->requests));
	json_object_set_new(r, "requests_by_fc", fcs);
	json_object_set_new(r, "exceptions", json_integer((json_int_t)st->exceptions));
	json_object_set_new(r, "exceptions_by_code", exc);
	json_object_set_new(r, "bytes_in", json_integer((json_int_t)st->bytes_in));
	json_object_set_new(r, "bytes_out", json_integer((json_int_t)st->bytes_out));
	json_object_set_new(r, "latency_p50_us", json_integer((json_int_t)fb_mb_latency_quantile(st, 0.5)));
	json_object_set_new(r, "latency_p99_us", json_integer((json_int_t)fb_mb_latency_quantile(st, 0.99)));
	json_object_set_new(r, "bad_protocol", json_integer((json_int_t)st->bad_protocol));
	json_object_set_new(r, "bad_length", json_integer((json_int_t)st->bad_length));
	json_object_set_new(r, "bad_crc", json_integer((json_int_t)st->bad_crc));
	json_object_set_new(r, "absent_unit", json_integer((json_int_t)st->absent_unit));
	json_object_set_new(r, "accept_errors", json_integer((json_int_t)st->accept_errors));
	/* what the bench counts as this transport's errors (protocols/transport.h) */
	json_object_set_new(r, "errors", json_integer((json_int_t)st->accept_errors));
	json_object_set_new(r, "commands_applied", json_integer((json_int_t)t->commands_ok));
	json_object_set_new(r, "commands_refused", json_integer((json_int_t)t->commands_refused));
	json_object_set_new(r, "faults", fl);
	if (t->nf)
		json_object_set_new(r, "exception_storm", json_pack("{s:I}", "exceptions",
		                    (json_int_t)t->storm.injected[FB_MB_FAULT_EXCEPTION]));
	return r;
}

static int transport_status(struct fb_transport *t) { return t->status; }

static const char *const modbus_codecs[] = { "registers", NULL };
static const char *const modbus_params[] = { "modbus", NULL };

const struct fb_transport_ops fb_transport_modbus = {
	.name = "modbus",
	.codecs = modbus_codecs,
	.extra_params = modbus_params,
	.create = transport_create,
	.check = transport_check,
	.start = transport_start,
	.ready = transport_ready,
	.send = transport_send,
	.busy = transport_busy,
	.hold_until = transport_hold,
	.drain = transport_drain,
	.summary = transport_summary,
	.report = transport_report,
	.status = transport_status,
	.free = transport_free,
};
