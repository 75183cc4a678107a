/* The Modbus poller; see collect_modbus.h. */
#include "harness/collect_modbus.h"
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "protocols/modbus/layout.h"
#include "protocols/modbus/mbap.h"
#include "protocols/modbus/regmap.h"
#include "sim/limits.h"
#include "sim/log.h"

#define MAX_REGS 125                 /* FC 03/04 (Modbus Application Protocol v1.1b3 §6.3) */
#define MAX_BITS 2000                /* FC 01/02 */
#define OUT_CAP 65536
#define IN_CAP 4096
#define RECONNECT_US (500 * 1000)
#define MAX_TIMEOUT_US (1000 * 1000)

struct block {
	enum fb_mb_table table;
	uint16_t address, count;
	size_t e_first, e_end;           /* the map's entries inside it */
};

struct fmap {
	struct fb_regmap *map;
	struct block *blocks;
	size_t nblocks;
};

struct conn {
	struct fb_collector *c;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char name[80];
	int fd;
	ev_io io;
	bool connected;
	fb_time_us retry_at;
	uint8_t in[IN_CAP];
	size_t in_len;
	uint8_t *out;
	size_t out_len;
};

struct mdev {
	uint32_t device;
	const struct fb_model *model;
	struct fmap *fm;
	struct conn *conn;
	uint8_t unit;
	char id[32];
	fb_time_us interval, next_wall;
	size_t heap_pos;
	/* the poll in flight (at most one) */
	bool active;
	uint64_t poll;                   /* its number; the next poll gets poll + 1 */
	bool any_poll;
	fb_time_us sched_wall, deadline, last_reply;
	uint32_t blocks_left, flags;
	const char *detail;
	uint64_t present;
	bool has_expect;
	double values[FB_MAX_FIELDS], tol[FB_MAX_FIELDS], expect_send[FB_MAX_FIELDS],
	       expect_now[FB_MAX_FIELDS];
	/* validate: fields whose copies in the map (a float32 and a scaled integer, a coil and a
	 * register bit) read different values, this poll and the one before */
	uint64_t disagree, disagree_prev;
	char why[200];
};

struct inflight {
	uint32_t dev;
	uint64_t poll;
	fb_time_us deadline;
};

struct txn {
	uint32_t dev_plus1;              /* 0: free */
	uint16_t block;
	uint64_t poll;
};

struct fb_collector {
	struct fb_collect_env env;
	struct ev_loop *loop;
	bool validate, started, draining;
	struct fmap *fmaps;              /* per scenario fleet, or one (validate) */
	size_t nfmaps;
	struct conn **conns;             /* by port index (NULL: no device of this shard there) */
	size_t nconns;
	struct mdev *devs;
	uint32_t ndevs;
	uint32_t *heap;                  /* devices by next_wall */
	struct inflight *fifo;           /* polls started, in start (so deadline) order */
	size_t fifo_head, fifo_len;
	struct txn *txns;                /* by MBAP transaction id */
	uint16_t next_tid;
	fb_time_us timeout;
	ev_timer timer;
	fb_time_us drain_since;
	struct fb_mb_poll_counters c;
	bool logged_connect, logged_exception, logged_wrong, logged_timeout, logged_frame, logged_range;
};

/* ---- register maps: blocks of whole entries -------------------------------------------------- */

static int build_blocks(struct fmap *fm)
{
	const struct fb_regmap *m = fm->map;
	fm->blocks = calloc(m->n ? m->n : 1, sizeof(*fm->blocks));
	if (!fm->blocks)
		return fb_error("out of memory");
	for (int t = 0; t < FB_MB_NTABLES; t++) {
		bool bits = t == FB_MB_COILS || t == FB_MB_DISCRETE;
		unsigned max = bits ? MAX_BITS : MAX_REGS;
		struct block *b = NULL;
		uint32_t end = 0;
		for (size_t i = m->table_first[t]; i < m->table_first[t + 1]; i++) {
			const struct fb_mb_entry *e = &m->entries[i];
			uint32_t span = bits ? 1 : e->span ? e->span : 1;
			uint32_t e_end = (uint32_t)e->address + span;
			/* bits of one status register share it; anything else extends or starts a block */
			bool joins = b && e->address <= end && (e_end <= end || e_end - b->address <= max);
			if (!joins) {
				b = &fm->blocks[fm->nblocks++];
				b->table = (enum fb_mb_table)t;
				b->address = e->address;
				b->e_first = i;
				end = e->address;
			}
			if (e_end > end)
				end = e_end;
			b->count = (uint16_t)(end - b->address);
			b->e_end = i + 1;
		}
	}
	return 0;
}

/* ---- scheduling: a heap of devices by next poll time, a FIFO of polls in flight -------------- */

static bool before(const struct fb_collector *c, uint32_t a, uint32_t b)
{
	return c->devs[a].next_wall < c->devs[b].next_wall;
}

static void heap_set(struct fb_collector *c, size_t i, uint32_t d)
{
	c->heap[i] = d;
	c->devs[d].heap_pos = i;
}

static void heap_down(struct fb_collector *c, size_t i)
{
	uint32_t d = c->heap[i];
	for (;;) {
		size_t k = 2 * i + 1;
		if (k >= c->ndevs)
			break;
		if (k + 1 < c->ndevs && before(c, c->heap[k + 1], c->heap[k]))
			k++;
		if (!before(c, c->heap[k], d))
			break;
		heap_set(c, i, c->heap[k]);
		i = k;
	}
	heap_set(c, i, d);
}

static void heap_build(struct fb_collector *c)
{
	for (uint32_t i = 0; i < c->ndevs; i++)
		heap_set(c, i, i);
	for (size_t i = c->ndevs / 2; i-- > 0;)
		heap_down(c, i);
}

static void arm(struct fb_collector *c, fb_time_us now)
{
	fb_time_us next = FB_TIME_NEVER;
	if (c->ndevs && !c->draining)
		next = c->devs[c->heap[0]].next_wall;
	if (c->fifo_len && c->fifo[c->fifo_head].deadline < next)
		next = c->fifo[c->fifo_head].deadline;
	ev_timer_stop(c->loop, &c->timer);
	if (next == FB_TIME_NEVER)
		return;
	ev_timer_set(&c->timer, next > now ? (double)(next - now) / 1e6 : 0, 0);
	ev_timer_start(c->loop, &c->timer);
}

/* ---- observations ---------------------------------------------------------------------------- */

static void finish_poll(struct fb_collector *c, struct mdev *d, fb_time_us now)
{
	if (!d->active)
		return;
	d->active = false;
	if (d->blocks_left) {
		d->flags |= FB_OBS_TIMEOUT;
		if (!d->detail)
			d->detail = "no reply within the poll timeout";
		c->c.timeouts++;
		if (fb_first_time(&c->logged_timeout))
			fb_warn("modbus poller: device '%s' (unit %u on %s): no reply within %lld ms (counted, "
			        "not logged again)", d->id, d->unit, d->conn->name, (long long)(c->timeout / 1000));
	} else {
		c->c.complete++;
	}
	if (d->flags & FB_OBS_EXCEPTION)
		c->c.exceptions++;
	if (d->flags & FB_OBS_WRONG_VALUE)
		c->c.wrong_values++;
	if (d->flags & FB_OBS_BAD_FIELD)
		c->c.bad_fields++;
	struct fb_obs o = {
		.proto = "modbus", .device = d->device, .device_id = d->id, .model = d->model,
		.key = d->poll, .seq = -1, .ts = d->sched_wall,
		.recv_wall = d->blocks_left ? now : d->last_reply, .flags = d->flags,
		.nvalues = d->model->nfields, .values = d->values, .present = d->present,
		.tolerance = d->tol, .detail = d->detail,
	};
	c->env.sink(c->env.sink_arg, &o);
}

/* ---- decoding and checking ------------------------------------------------------------------- */

static void wrong(struct fb_collector *c, struct mdev *d, const char *what)
{
	d->flags |= FB_OBS_WRONG_VALUE;
	if (!d->detail)
		d->detail = what;
	if (fb_first_time(&c->logged_wrong))
		fb_warn("modbus poller: device '%s': %s (counted, not logged again)", d->id, what);
}

static bool near(double got, double want, double tol)
{
	return fabs(got - want) <= tol;
}

/* One register entry of a block (regs: the block's registers). */
static void check_reg_entry(struct fb_collector *c, struct mdev *d, const struct fb_mb_entry *e,
                            const uint16_t *regs)
{
	/* validate: the identity registers name a simulated device ("noise-000042", its global
	 * index); a real device's are its own, read (the map must answer) but not compared */
	if (c->validate && (e->source == FB_MB_SRC_DEVICE_ID || e->source == FB_MB_SRC_DEVICE_INDEX))
		return;
	double scale = e->scale > 0 ? e->scale : 1, v, tol;
	bool invalid = false;
	switch (e->type) {
	case FB_MB_INT16: {
		uint16_t r = fb_mb_order16(regs[0], e->order);
		invalid = r == 0x7FFF;
		v = (int16_t)r * scale;
		tol = scale / 2;
		break;
	}
	case FB_MB_UINT16: {
		uint16_t r = fb_mb_order16(regs[0], e->order);
		invalid = r == 0xFFFF;
		v = r * scale;
		tol = scale / 2;
		break;
	}
	case FB_MB_INT32: {
		uint32_t r = fb_mb_get32(regs, e->order);
		invalid = r == 0x7FFFFFFFu;
		v = (int32_t)r * scale;
		tol = scale / 2;
		break;
	}
	case FB_MB_UINT32: {
		uint32_t r = fb_mb_get32(regs, e->order);
		invalid = r == 0xFFFFFFFFu;
		v = r * scale;
		tol = scale / 2;
		break;
	}
	case FB_MB_FLOAT32:
		v = fb_mb_get_float(regs, e->order) * scale;
		invalid = isnan(v);
		tol = 1.2e-7 * fmax(1, fabs(v));     /* float32 rounding of the value */
		break;
	case FB_MB_BIT:
		v = (regs[0] >> e->bit) & 1u;
		tol = 0;
		break;
	case FB_MB_STRING:
		if (e->source == FB_MB_SRC_DEVICE_ID) {
			for (unsigned r = 0; r < e->span; r++) {
				char hi = (char)(regs[r] >> 8), lo = (char)regs[r];
				size_t at = 2 * r;
				char want_hi = at < strlen(d->id) ? d->id[at] : 0;
				char want_lo = at + 1 < strlen(d->id) ? d->id[at + 1] : 0;
				if (hi != want_hi || lo != want_lo) {
					wrong(c, d, "deviceId registers do not name the device");
					return;
				}
			}
		}
		return;
	default:
		return;
	}
	switch (e->source) {
	case FB_MB_SRC_DEVICE_INDEX:
		if (v != d->device)
			wrong(c, d, "deviceIndex register does not hold the device's index");
		return;
	case FB_MB_SRC_CONST:
		if (!near(v, e->constant, tol + 1e-9))
			wrong(c, d, "a constant register reads another value");
		return;
	case FB_MB_SRC_DEVICE_ID:
		return;
	case FB_MB_SRC_FIELD:
		break;
	}
	if (e->field < 0 || (unsigned)e->field >= d->model->nfields)
		return;
	unsigned f = (unsigned)e->field;
	const struct fb_field *fd = &d->model->fields[f];
	double half = fd->kind == FB_FIELD_NUMBER && fd->resolution > 0 ? fd->resolution / 2 : 0.5;
	if (c->env.values_now) {
		/* the device's value when the request left and when the reply came: the read happened
		 * in between, so either may be the one it saw (NaN: no sample yet then) */
		double a = d->expect_send[f], b = d->expect_now[f];
		if (isnan(a) && isnan(b))
			return;                          /* no sample yet: nothing to compare */
		if (invalid) {
			if (isnan(a) || isnan(b))
				return;                      /* read before the first sample: not a value */
			wrong(c, d, "a register reads the 'no value' marker although the device has a value");
			return;
		}
		double want = e->type == FB_MB_BIT ? (a != 0) : a, want2 = e->type == FB_MB_BIT ? (b != 0) : b;
		if ((isnan(a) || !near(v, want, tol + 1e-9)) && (isnan(b) || !near(v, want2, tol + 1e-9))) {
			wrong(c, d, "a register differs from the device's value");
			return;
		}
	} else {
		if (invalid)
			return;
		double slack = tol + 1e-9 * (fabs(fd->min) + fabs(fd->max) + 1);
		if (e->type != FB_MB_BIT && (v < fd->min - slack || v > fd->max + slack)) {
			d->flags |= FB_OBS_BAD_FIELD;
			if (!d->detail)
				d->detail = "a value outside the field's range";
			if (fb_first_time(&c->logged_range))
				fb_warn("modbus poller: device '%s': field '%s' reads %g outside [%g, %g] (counted, "
				        "not logged again)", d->id, fd->name, v, fd->min, fd->max);
		}
	}
	if (!((d->present >> f) & 1)) {
		d->values[f] = v;
		d->tol[f] = fmax(tol, half);
		d->present |= (uint64_t)1 << f;
	} else if (!c->env.values_now && !invalid && f < 64 &&
	           !near(v, d->values[f], fmax(tol, d->tol[f]) + 1e-9 * (fabs(v) + fabs(d->values[f])))) {
		/* validate: two copies of a field disagree. Once may be a value changing between two
		 * reads; two polls running is the map's types, order or scale not being the device's */
		d->disagree |= (uint64_t)1 << f;
		if ((d->disagree_prev >> f & 1) && !(d->flags & FB_OBS_WRONG_VALUE)) {
			snprintf(d->why, sizeof d->why, "'%s' reads %.7g at %s %u (%s%s%s) but %.7g at an "
			         "earlier address, two polls running: a word order or scale other than the map's?",
			         fd->name, v, fb_mb_table_name(e->table), (unsigned)e->address,
			         fb_mb_type_name(e->type), e->span == 2 ? " " : "",
			         e->span == 2 ? fb_mb_order_name(e->order) : "", d->values[f]);
			d->detail = NULL;
			wrong(c, d, d->why);
		}
	}
}

static void on_block(struct fb_collector *c, struct mdev *d, const struct block *b, const uint8_t *pdu,
                     size_t len)
{
	static const char *const ex_names[] = {
		NULL, "exception 01 (illegal function)", "exception 02 (illegal data address)",
		"exception 03 (illegal data value)", "exception 04 (server device failure)",
		"exception 05 (acknowledge)", "exception 06 (server device busy)", "exception 07",
		"exception 08 (memory parity error)", "exception 09",
		"exception 0A (gateway path unavailable)",
		"exception 0B (gateway target device failed to respond)",
	};
	uint8_t fc = b->table == FB_MB_COILS ? 1 : b->table == FB_MB_DISCRETE ? 2
	           : b->table == FB_MB_HOLDING ? 3 : 4;
	if (len >= 2 && pdu[0] == (fc | 0x80)) {
		d->flags |= FB_OBS_EXCEPTION;
		if (!d->detail)
			d->detail = pdu[1] < sizeof(ex_names) / sizeof(ex_names[0]) && ex_names[pdu[1]]
			          ? ex_names[pdu[1]] : "exception reply";
		if (fb_first_time(&c->logged_exception))
			fb_warn("modbus poller: device '%s' (unit %u on %s): %s (counted, not logged again)",
			        d->id, d->unit, d->conn->name, d->detail);
		return;
	}
	bool bits = b->table == FB_MB_COILS || b->table == FB_MB_DISCRETE;
	size_t want = bits ? (size_t)(b->count + 7) / 8 : (size_t)b->count * 2;
	if (len != 2 + want || pdu[0] != fc || pdu[1] != want) {
		c->c.bad_frames++;
		d->flags |= FB_OBS_WRONG_VALUE;
		if (!d->detail)
			d->detail = "a reply of the wrong function or size";
		return;
	}
	const struct fb_regmap *m = d->fm->map;
	for (size_t i = b->e_first; i < b->e_end; i++) {
		const struct fb_mb_entry *e = &m->entries[i];
		if (bits) {
			uint32_t k = e->address - b->address;
			uint16_t reg = (pdu[2 + k / 8] >> (k % 8)) & 1u;
			struct fb_mb_entry be = *e;
			be.bit = 0;
			be.type = FB_MB_BIT;
			check_reg_entry(c, d, &be, &reg);
		} else {
			uint16_t regs[MAX_REGS];
			unsigned span = e->type == FB_MB_BIT ? 1 : e->span;
			for (unsigned r = 0; r < span && r < MAX_REGS; r++) {
				size_t at = 2 + 2 * (size_t)(e->address - b->address + r);
				regs[r] = (uint16_t)(pdu[at] << 8 | pdu[at + 1]);
			}
			check_reg_entry(c, d, e, regs);
		}
	}
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents);

static void conn_close(struct conn *k, bool failed)
{
	struct fb_collector *c = k->c;
	if (k->fd >= 0) {
		ev_io_stop(c->loop, &k->io);
		close(k->fd);
		if (k->connected)
			c->c.disconnects++;
	}
	k->fd = -1;
	k->connected = false;
	k->in_len = 0;
	k->out_len = 0;                  /* the polls whose requests are lost time out */
	k->retry_at = fb_wall_now_us() + RECONNECT_US;
	if (failed)
		c->c.connect_failures++;
}

static void conn_open(struct conn *k, fb_time_us now)
{
	struct fb_collector *c = k->c;
	if (k->fd >= 0 || now < k->retry_at)
		return;
	k->fd = socket(k->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0) {
		conn_close(k, true);
		return;
	}
	int one = 1;
	setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(k->fd, (struct sockaddr *)&k->addr, k->addr_len) < 0 && errno != EINPROGRESS) {
		if (fb_first_time(&c->logged_connect))
			fb_warn("modbus poller: cannot connect to '%s': %s (retrying; counted, not logged again)",
			        k->name, strerror(errno));
		close(k->fd);
		k->fd = -1;
		conn_close(k, true);
		return;
	}
	ev_io_init(&k->io, conn_cb, k->fd, EV_READ | EV_WRITE);
	ev_io_start(c->loop, &k->io);
}

static void conn_want_write(struct conn *k)
{
	if (k->fd < 0 || !k->connected)
		return;
	ev_io_stop(k->c->loop, &k->io);
	ev_io_set(&k->io, k->fd, EV_READ | (k->out_len ? EV_WRITE : 0));
	ev_io_start(k->c->loop, &k->io);
}

static void conn_flush(struct conn *k)
{
	while (k->out_len) {
		ssize_t n = send(k->fd, k->out, k->out_len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(k, false);
			return;
		}
		memmove(k->out, k->out + n, k->out_len - (size_t)n);
		k->out_len -= (size_t)n;
	}
	conn_want_write(k);
}

/* The device's values as a reply is compared (it may have sampled since the request left). */
static void refresh_expect(struct fb_collector *c, struct mdev *d)
{
	if (!c->env.values_now)
		return;
	for (unsigned f = 0; f < d->model->nfields; f++)
		d->expect_now[f] = NAN;
	c->env.values_now(c->env.values_arg, d->device, d->expect_now);
}

static void conn_frames(struct conn *k)
{
	struct fb_collector *c = k->c;
	size_t at = 0;
	fb_time_us now = fb_wall_now_us();
	while (at < k->in_len) {
		struct fb_mbap h;
		int n = fb_mbap_frame(k->in + at, k->in_len - at, &h);
		if (n == FB_MBAP_NEED_MORE)
			break;
		if (n < 0) {
			c->c.bad_frames++;
			if (fb_first_time(&c->logged_frame))
				fb_warn("modbus poller: malformed MBAP from '%s': connection reset (counted, not "
				        "logged again)", k->name);
			conn_close(k, false);
			return;
		}
		c->c.replies++;
		struct txn *t = &c->txns[h.transaction];
		struct mdev *d = t->dev_plus1 ? &c->devs[t->dev_plus1 - 1] : NULL;
		if (!d || !d->active || d->poll != t->poll || d->conn != k || d->unit != h.unit) {
			c->c.late_replies++;       /* after its poll's timeout, or never asked */
		} else {
			t->dev_plus1 = 0;
			refresh_expect(c, d);
			on_block(c, d, &d->fm->blocks[t->block], k->in + at + FB_MBAP_HEADER,
			         (size_t)n - FB_MBAP_HEADER);
			d->last_reply = now;
			if (--d->blocks_left == 0)
				finish_poll(c, d, now);
		}
		at += (size_t)n;
	}
	memmove(k->in, k->in + at, k->in_len - at);
	k->in_len -= at;
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *k = (struct conn *)((char *)w - offsetof(struct conn, io));
	if (!k->connected && (revents & EV_WRITE)) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			if (fb_first_time(&k->c->logged_connect))
				fb_warn("modbus poller: cannot connect to '%s': %s (retrying; counted, not logged "
				        "again)", k->name, strerror(err));
			conn_close(k, true);
			return;
		}
		k->connected = true;
		k->c->c.connects++;
	}
	if (revents & EV_READ) {
		for (;;) {
			ssize_t n = recv(k->fd, k->in + k->in_len, IN_CAP - k->in_len, 0);
			if (n > 0) {
				k->in_len += (size_t)n;
				conn_frames(k);
				if (k->fd < 0)
					return;
				if (k->in_len == IN_CAP) {
					conn_close(k, false);     /* a frame cannot be this long */
					return;
				}
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				conn_close(k, false);
				return;
			}
			break;
		}
	}
	conn_flush(k);
}

/* ---- polling --------------------------------------------------------------------------------- */

static void start_poll(struct fb_collector *c, struct mdev *d, fb_time_us now)
{
	if (d->active)
		finish_poll(c, d, now);          /* cannot happen with timeout < interval; be safe */
	d->poll = d->any_poll ? d->poll + 1 : 0;
	d->any_poll = true;
	d->active = true;
	d->sched_wall = d->next_wall;
	d->deadline = now + c->timeout;
	d->flags = 0;
	d->detail = NULL;
	d->present = 0;
	d->disagree_prev = d->disagree;
	d->disagree = 0;
	d->blocks_left = (uint32_t)d->fm->nblocks;
	for (unsigned f = 0; f < d->model->nfields; f++) {
		d->values[f] = NAN;
		d->tol[f] = 0;
		d->expect_send[f] = NAN;
	}
	if (c->env.values_now)
		c->env.values_now(c->env.values_arg, d->device, d->expect_send);
	c->c.polls++;
	c->fifo[(c->fifo_head + c->fifo_len) % (c->ndevs + 1)] =
		(struct inflight){ (uint32_t)(d - c->devs), d->poll, d->deadline };
	c->fifo_len++;
	struct conn *k = d->conn;
	conn_open(k, now);
	for (size_t b = 0; b < d->fm->nblocks; b++) {
		const struct block *bl = &d->fm->blocks[b];
		if (k->fd < 0 || k->out_len + 12 > OUT_CAP) {
			c->c.send_overflow += k->fd >= 0;
			continue;                    /* no connection: the poll times out */
		}
		uint16_t tid = ++c->next_tid;
		c->txns[tid] = (struct txn){ (uint32_t)(d - c->devs) + 1, (uint16_t)b, d->poll };
		uint8_t *p = k->out + k->out_len;
		fb_mbap_header(p, tid, d->unit, 5);
		p[7] = bl->table == FB_MB_COILS ? 1 : bl->table == FB_MB_DISCRETE ? 2
		     : bl->table == FB_MB_HOLDING ? 3 : 4;
		p[8] = (uint8_t)(bl->address >> 8);
		p[9] = (uint8_t)bl->address;
		p[10] = (uint8_t)(bl->count >> 8);
		p[11] = (uint8_t)bl->count;
		k->out_len += 12;
		c->c.requests++;
	}
	if (k->connected)
		conn_flush(k);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fb_collector *c = (struct fb_collector *)((char *)w - offsetof(struct fb_collector, timer));
	fb_time_us now = fb_wall_now_us();
	while (c->fifo_len) {
		const struct inflight *e = &c->fifo[c->fifo_head];
		struct mdev *d = &c->devs[e->dev];
		bool current = d->active && d->poll == e->poll;
		if (current && e->deadline > now)
			break;
		c->fifo_head = (c->fifo_head + 1) % (c->ndevs + 1);
		c->fifo_len--;
		if (current)
			finish_poll(c, d, now);
	}
	while (c->ndevs && !c->draining && c->devs[c->heap[0]].next_wall <= now) {
		struct mdev *d = &c->devs[c->heap[0]];
		start_poll(c, d, now);
		d->next_wall += d->interval;
		if (d->next_wall <= now) {
			/* the loop fell behind by a whole interval: skip, never burst */
			uint64_t behind = (uint64_t)((now - d->next_wall) / d->interval) + 1;
			c->c.skipped += behind;
			d->next_wall += (fb_time_us)behind * d->interval;
		}
		heap_down(c, 0);
	}
	arm(c, now);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static struct conn *conn_new(struct fb_collector *c, const char *host, uint16_t port)
{
	struct conn *k = calloc(1, sizeof(*k));
	if (!k || !(k->out = malloc(OUT_CAP))) {
		free(k);
		fb_error("out of memory");
		return NULL;
	}
	k->c = c;
	k->fd = -1;
	snprintf(k->name, sizeof(k->name), "%s:%u", host, port);
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	/* wildcard listen addresses are reached on loopback */
	const char *h = !host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "*") ? "127.0.0.1"
	              : !strcmp(host, "::") ? "::1" : host;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	/* resolved once here, before the loop runs */
	int gai = getaddrinfo(h, ps, &hints, &res);
	if (gai || !res) {
		free(k->out);
		free(k);
		fb_error("modbus poller: cannot resolve '%s': %s", h, gai_strerror(gai));
		return NULL;
	}
	memcpy(&k->addr, res->ai_addr, res->ai_addrlen);
	k->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return k;
}

static void mb_free(struct fb_collector *c);

static int add_dev(struct fb_collector *c, uint32_t device, const struct fb_model *m, struct fmap *fm,
                   struct conn *k, uint8_t unit, fb_time_us interval)
{
	struct mdev *d = &c->devs[c->ndevs++];
	d->device = device;
	d->model = m;
	d->fm = fm;
	d->conn = k;
	d->unit = unit;
	d->interval = interval > 0 ? interval : FB_US_PER_S;
	fb_device_id(m, device, d->id, sizeof(d->id));
	return 0;
}

/* Virtual durations to wall durations at the run's pacing (a Modbus fleet in max mode runs at
 * realtime, see protocols/modbus/transport.c). */
static fb_time_us wall_span(const struct fb_collector *c, fb_time_us virtual_span)
{
	if (!c->env.wall_of || !c->env.scenario)
		return virtual_span;
	fb_time_us t0 = c->env.scenario->start;
	fb_time_us a = c->env.wall_of(c->env.wall_arg, t0);
	fb_time_us b = c->env.wall_of(c->env.wall_arg, t0 + 3600 * FB_US_PER_S);
	if (b <= a)
		return virtual_span;
	return (fb_time_us)((double)virtual_span * (double)(b - a) / (3600.0 * FB_US_PER_S));
}

static int scenario_setup(struct fb_collector *c, const struct fb_collect_cfg *cfg)
{
	const struct fb_scenario *sc = c->env.scenario;
	const struct fb_ynode *node = sc->transports ? fb_ynode_get(sc->transports, "modbus") : NULL;
	struct fb_mb_layout lay;
	fb_mb_layout_defaults(&lay);
	if (fb_mb_layout_read(&lay, node) < 0)
		return -1;
	if (cfg->target && fb_mb_layout_target(&lay, cfg->target) < 0)
		return fb_error("modbus poller: bad target '%s': expected host:port", cfg->target);
	if (!lay.first_port)
		return fb_error("modbus poller: the fleet listens on any free ports ('listen: HOST:0'): give "
		                "the first port in transports.modbus.listen or a target, so the poller finds them");
	c->nfmaps = sc->nfleets;
	c->fmaps = calloc(sc->nfleets ? sc->nfleets : 1, sizeof(*c->fmaps));
	uint64_t nmodbus = 0;
	for (size_t i = 0; i < sc->nfleets; i++)
		if (sc->fleets[i].transport && !strcmp(sc->fleets[i].transport, "modbus"))
			nmodbus += sc->fleets[i].count;
	c->nconns = (size_t)((nmodbus + lay.units_per_port - 1) / lay.units_per_port);
	c->conns = calloc(c->nconns ? c->nconns : 1, sizeof(*c->conns));
	c->devs = calloc(c->env.device_count ? c->env.device_count : 1, sizeof(*c->devs));
	if (!c->fmaps || !c->conns || !c->devs)
		return fb_error("out of memory");
	for (uint32_t i = 0; i < c->env.device_count; i++) {
		uint32_t dev = c->env.first_device + i;
		const struct fb_fleet *fl = fb_scenario_fleet_of(sc, dev);
		if (!fl || !fl->transport || strcmp(fl->transport, "modbus"))
			continue;
		struct fmap *fm = &c->fmaps[fl - sc->fleets];
		if (!fm->map && (!(fm->map = fb_mb_fleet_regmap(sc, fl)) || build_blocks(fm) < 0))
			return -1;
		int64_t k = fb_mb_layout_position(sc, dev);
		size_t p;
		uint8_t unit;
		fb_mb_layout_place(&lay, (uint64_t)k, &p, &unit);
		if (p >= c->nconns || (uint32_t)lay.first_port + p > 65535)
			return fb_error("modbus poller: device %u has no port", dev);
		if (!c->conns[p] && !(c->conns[p] = conn_new(c, lay.host, (uint16_t)(lay.first_port + p))))
			return -1;
		fb_time_us iv = cfg->poll_interval > 0 ? cfg->poll_interval : fl->interval_us;
		add_dev(c, dev, fl->model, fm, c->conns[p], unit, wall_span(c, iv));
	}
	return 0;
}

static int validate_setup(struct fb_collector *c, const struct fb_collect_cfg *cfg)
{
	if (!c->env.model)
		return fb_error("the Modbus poller needs the sensor type to read");
	struct fb_mb_layout lay;
	fb_mb_layout_defaults(&lay);
	if (!cfg->target || fb_mb_layout_target(&lay, cfg->target) < 0 || !lay.first_port)
		return fb_error("the Modbus poller needs the device's address as HOST:PORT");
	c->nfmaps = 1;
	c->fmaps = calloc(1, sizeof(*c->fmaps));
	c->conns = calloc(1, sizeof(*c->conns));
	c->devs = calloc(1, sizeof(*c->devs));
	if (!c->fmaps || !c->conns || !c->devs)
		return fb_error("out of memory");
	enum fb_mb_order order = FB_MB_ABCD;
	if (cfg->order && fb_mb_order_parse(cfg->order, &order) < 0)
		return fb_error("unknown word order '%s': expected ABCD, CDAB, BADC or DCBA", cfg->order);
	c->fmaps[0].map = cfg->map_file ? fb_regmap_load_file(cfg->map_file, c->env.model, order)
	                                : fb_regmap_default(c->env.model, order);
	if (!c->fmaps[0].map || build_blocks(&c->fmaps[0]) < 0)
		return -1;
	c->nconns = 1;
	if (!(c->conns[0] = conn_new(c, lay.host, lay.first_port)))
		return -1;
	int unit = cfg->unit > 0 ? cfg->unit : 1;
	if (unit > 255)
		return fb_error("a Modbus unit id is 1..247 (255 on TCP), not %d", unit);
	fb_time_us iv = cfg->poll_interval > 0 ? cfg->poll_interval : c->env.model->default_interval_us;
	return add_dev(c, 0, c->env.model, &c->fmaps[0], c->conns[0], (uint8_t)unit, iv);
}

static struct fb_collector *mb_create(const struct fb_collect_env *env, const struct fb_collect_cfg *cfg)
{
	static const struct fb_collect_cfg none = { 0 };
	struct fb_collector *c = calloc(1, sizeof(*c));
	if (!c) {
		fb_error("out of memory");
		return NULL;
	}
	c->env = *env;
	c->loop = env->loop;
	c->validate = env->scenario == NULL;
	if (!cfg)
		cfg = &none;
	c->txns = calloc(65536, sizeof(*c->txns));
	if (!c->txns || (c->validate ? validate_setup(c, cfg) : scenario_setup(c, cfg)) < 0) {
		if (!c->txns)
			fb_error("out of memory");
		mb_free(c);
		return NULL;
	}
	c->heap = calloc(c->ndevs + 1, sizeof(*c->heap));
	c->fifo = calloc(c->ndevs + 1, sizeof(*c->fifo));
	if (!c->heap || !c->fifo) {
		fb_error("out of memory");
		mb_free(c);
		return NULL;
	}
	/* the reply must be in before the next poll: at most 1 s, at most 80 % of an interval */
	c->timeout = MAX_TIMEOUT_US;
	for (uint32_t i = 0; i < c->ndevs; i++)
		if (c->devs[i].interval * 8 / 10 < c->timeout)
			c->timeout = c->devs[i].interval * 8 / 10;
	return c;
}

static int mb_start(struct fb_collector *c)
{
	/* one connection per port, on top of the servers' own descriptors in a --local run */
	size_t nopen = 0;
	for (size_t p = 0; p < c->nconns; p++)
		nopen += c->conns[p] != NULL;
	char what[64];
	snprintf(what, sizeof what, "modbus poller: %zu connection%s", nopen, nopen == 1 ? "" : "s");
	if (fb_fd_reserve(nopen, what, "or split the fleet over processes with --shard i/N, or serve "
	                  "up to 247 devices per port with 'layout: gateway' in transports.modbus"))
		return -1;
	fb_time_us now = fb_wall_now_us();
	for (size_t p = 0; p < c->nconns; p++)
		if (c->conns[p])
			conn_open(c->conns[p], now);
	/* devices staggered over their interval, the first poll after a connect's round trip */
	for (uint32_t i = 0; i < c->ndevs; i++)
		c->devs[i].next_wall = now + 20 * 1000 + (fb_time_us)((double)c->devs[i].interval * i / c->ndevs);
	heap_build(c);
	ev_init(&c->timer, on_timer);
	c->started = true;
	arm(c, now);
	fb_info("modbus poller: %u devices on %zu port%s, timeout %lld ms", c->ndevs, c->nconns,
	        c->nconns == 1 ? "" : "s", (long long)(c->timeout / 1000));
	return 0;
}

static bool mb_ready(struct fb_collector *c)
{
	for (size_t p = 0; p < c->nconns; p++)
		if (c->conns[p] && !c->conns[p]->connected)
			return false;
	return c->started;
}

/* No new polls; done when every poll in flight has its answer or timed out, or at the grace's
 * end (what is in flight then is observed as timed out). */
static bool mb_drain(struct fb_collector *c, fb_time_us grace)
{
	fb_time_us now = fb_wall_now_us();
	if (!c->drain_since) {
		c->drain_since = now;
		c->draining = true;
		arm(c, now);
	}
	bool active = false;
	for (uint32_t i = 0; i < c->ndevs && !active; i++)
		active = c->devs[i].active;
	if (!active)
		return true;
	if (now - c->drain_since < grace)
		return false;
	for (uint32_t i = 0; i < c->ndevs; i++)
		finish_poll(c, &c->devs[i], now);
	c->fifo_len = 0;
	return true;
}

static void mb_summary(struct fb_collector *c, FILE *out)
{
	const struct fb_mb_poll_counters *k = &c->c;
	fprintf(out, "modbus poller: %u devices, polls %llu (complete %llu, timeouts %llu, exceptions "
	        "%llu, wrong values %llu, out of range %llu, skipped %llu)\n", c->ndevs,
	        (unsigned long long)k->polls, (unsigned long long)k->complete,
	        (unsigned long long)k->timeouts, (unsigned long long)k->exceptions,
	        (unsigned long long)k->wrong_values, (unsigned long long)k->bad_fields,
	        (unsigned long long)k->skipped);
	fprintf(out, "modbus poller: requests %llu, replies %llu (late %llu, malformed %llu), "
	        "connections %llu (failed %llu, lost %llu)\n", (unsigned long long)k->requests,
	        (unsigned long long)k->replies, (unsigned long long)k->late_replies,
	        (unsigned long long)k->bad_frames, (unsigned long long)k->connects,
	        (unsigned long long)k->connect_failures, (unsigned long long)k->disconnects);
}

static json_t *mb_report(struct fb_collector *c)
{
	const struct fb_mb_poll_counters *k = &c->c;
#define I(x) (json_int_t)(x)
	return json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	                 "devices", (int)c->ndevs, "polls", I(k->polls), "complete", I(k->complete),
	                 "timeouts", I(k->timeouts), "exceptions", I(k->exceptions),
	                 "wrong_values", I(k->wrong_values), "out_of_range", I(k->bad_fields),
	                 "skipped", I(k->skipped), "requests", I(k->requests), "replies", I(k->replies),
	                 "late_replies", I(k->late_replies), "malformed", I(k->bad_frames),
	                 "send_overflow", I(k->send_overflow), "connects", I(k->connects),
	                 "connect_failures", I(k->connect_failures), "disconnects", I(k->disconnects),
	                 "timeout_ms", I(c->timeout / 1000));
#undef I
}

static void mb_free(struct fb_collector *c)
{
	if (!c)
		return;
	if (c->started)
		ev_timer_stop(c->loop, &c->timer);
	for (size_t p = 0; c->conns && p < c->nconns; p++) {
		struct conn *k = c->conns[p];
		if (!k)
			continue;
		if (k->fd >= 0) {
			ev_io_stop(c->loop, &k->io);
			close(k->fd);
		}
		free(k->out);
		free(k);
	}
	for (size_t i = 0; c->fmaps && i < c->nfmaps; i++) {
		fb_regmap_free(c->fmaps[i].map);
		free(c->fmaps[i].blocks);
	}
	free(c->fmaps);
	free(c->conns);
	free(c->devs);
	free(c->heap);
	free(c->fifo);
	free(c->txns);
	free(c);
}

const struct fb_mb_poll_counters *fb_collector_modbus_counters(const struct fb_collector *c)
{
	return &c->c;
}

const struct fb_collector_ops fb_collector_modbus = {
	.name = "modbus", .create = mb_create, .start = mb_start, .ready = mb_ready,
	.drain = mb_drain, .summary = mb_summary, .report = mb_report, .free = mb_free,
};
