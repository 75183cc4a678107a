#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sim/fault.h"
#include "sim/fmt.h"
#include "sim/log.h"
#include "sim/trace.h"

#define TRACE_BUF (1 << 20)

/* Per-fleet pieces of a line, built once. */
struct fleet_text {
	char *middle;          /* ","type":"noise","site":"x","seq": */
	size_t middle_len;
	char **keys;           /* per field: "LAeq": (with the leading comma after the first) */
	size_t *key_len;
	int *decimals;
};

struct fb_trace {
	int fd;
	int failed;
	uint64_t bytes;
	const struct fb_scenario *sc;
	struct fleet_text *ft;
	char *buf;
	size_t len;
	fb_time_us ts_second;  /* the second whose text is cached */
	char ts_text[25];
};

static size_t json_escape(const char *s, char *out)
{
	size_t n = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			static const char hex[] = "0123456789abcdef";
			memcpy(out + n, "\\u00", 4);
			out[n + 4] = hex[c >> 4];
			out[n + 5] = hex[c & 15];
			n += 6;
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = 0;
	return n;
}

static char *escaped_piece(const char *pre, const char *s, const char *post, size_t *len)
{
	size_t cap = strlen(pre) + strlen(s) * 6 + strlen(post) + 1;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t n = strlen(pre);
	memcpy(out, pre, n);
	n += json_escape(s, out + n);
	strcpy(out + n, post);
	*len = n + strlen(post);
	return out;
}

struct fb_trace *fb_trace_new(const struct fb_scenario *sc, int fd)
{
	struct fb_trace *tr = calloc(1, sizeof *tr);
	if (!tr)
		return NULL;
	tr->fd = fd;
	tr->sc = sc;
	tr->ts_second = FB_TIME_NEVER;
	tr->buf = malloc(TRACE_BUF);
	tr->ft = calloc(sc->nfleets ? sc->nfleets : 1, sizeof *tr->ft);
	if (!tr->buf || !tr->ft)
		goto oom;
	for (size_t i = 0; i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		struct fleet_text *t = &tr->ft[i];
		char pre[512];
		size_t l1, l2;
		char *type = escaped_piece("", f->model->name, "", &l1);
		char *site = escaped_piece("", f->site->id, "", &l2);
		if (!type || !site) {
			free(type);
			free(site);
			goto oom;
		}
		snprintf(pre, sizeof pre, "\",\"type\":\"%s\",\"site\":\"%s\",\"seq\":", type, site);
		free(type);
		free(site);
		t->middle = strdup(pre);
		t->middle_len = strlen(pre);
		unsigned nf = f->model->nfields;
		t->keys = calloc(nf ? nf : 1, sizeof *t->keys);
		t->key_len = calloc(nf ? nf : 1, sizeof *t->key_len);
		t->decimals = calloc(nf ? nf : 1, sizeof *t->decimals);
		if (!t->middle || !t->keys || !t->key_len || !t->decimals)
			goto oom;
		for (unsigned k = 0; k < nf; k++) {
			t->keys[k] = escaped_piece(k ? ",\"" : "\"", f->model->fields[k].name, "\":",
			                           &t->key_len[k]);
			if (!t->keys[k])
				goto oom;
			t->decimals[k] = fb_fmt_decimals(f->model->fields[k].resolution);
		}
	}
	return tr;
oom:
	fb_trace_free(tr);
	return NULL;
}

size_t fb_trace_format(struct fb_trace *tr, const struct fb_sample *s, char *p)
{
	const struct fleet_text *t = &tr->ft[s->fleet->index];
	const struct fb_model *m = s->model;
	char *start = p;
	fb_time_us sec = s->t - ((s->t % FB_US_PER_S) + FB_US_PER_S) % FB_US_PER_S;
	if (sec != tr->ts_second) {
		fb_format_iso_ms(sec, tr->ts_text);
		tr->ts_second = sec;
	}
	memcpy(p, "{\"ts\":\"", 7);
	p += 7;
	memcpy(p, tr->ts_text, 20);       /* up to and including the '.' */
	p += 20;
	int ms = (int)((s->t - sec) / FB_US_PER_MS);
	p[0] = (char)('0' + ms / 100);
	p[1] = (char)('0' + ms / 10 % 10);
	p[2] = (char)('0' + ms % 10);
	p[3] = 'Z';
	p += 4;
	memcpy(p, "\",\"device\":\"", 12);
	p += 12;
	p += fb_device_id(m, s->device, p, 128);
	memcpy(p, t->middle, t->middle_len);
	p += t->middle_len;
	p += fb_fmt_u64(s->seq, p);
	memcpy(p, ",\"values\":{", 11);
	p += 11;
	const bool faulted = s->fault != 0;     /* read once: the writes through p may alias s */
	for (unsigned k = 0; k < m->nfields; k++) {
		memcpy(p, t->keys[k], t->key_len[k]);
		p += t->key_len[k];
		const struct fb_field *f = &m->fields[k];
		if (__builtin_expect(faulted, 0) && !isfinite(s->values[k])) {
			memcpy(p, "null", 4);      /* an invalid reading (fault) */
			p += 4;
		} else if (f->kind == FB_FIELD_NUMBER)
			p += fb_fmt_fixed(s->values[k], t->decimals[k], p);
		else
			p += fb_fmt_value(f, s->values[k], p);
	}
	if (__builtin_expect(faulted, 0)) {
		/* faults (sim/fault.h): after "values", the kind injected into this sample */
		memcpy(p, "},\"fault\":\"", 11);
		p += 11;
		size_t n = fb_fault_name_len(s->fault);
		memcpy(p, fb_fault_name(s->fault), n);
		p += n;
		memcpy(p, "\"}\n", 3);
		p += 3;
		return (size_t)(p - start);
	}
	memcpy(p, "}}\n", 3);
	p += 3;
	return (size_t)(p - start);
}

int fb_trace_flush(struct fb_trace *tr)
{
	size_t off = 0;
	while (off < tr->len && !tr->failed) {
		ssize_t w = write(tr->fd, tr->buf + off, tr->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fb_error("cannot write the trace: %s", w < 0 ? strerror(errno) : "short write");
			tr->failed = 1;
			break;
		}
		off += (size_t)w;
		tr->bytes += (uint64_t)w;
	}
	tr->len = 0;
	return tr->failed ? -1 : 0;
}

int fb_trace_write(struct fb_trace *tr, const struct fb_sample *s)
{
	if (tr->failed)
		return -1;
	/* a line is at most ~100 bytes of fixed text plus 32 fields of ~100 bytes each */
	if (TRACE_BUF - tr->len < 8192 && fb_trace_flush(tr))
		return -1;
	tr->len += fb_trace_format(tr, s, tr->buf + tr->len);
	return 0;
}

void fb_trace_sink(void *trace, const struct fb_sample *s)
{
	fb_trace_write(trace, s);
}

int fb_trace_failed(const struct fb_trace *tr) { return tr->failed; }
uint64_t fb_trace_bytes(const struct fb_trace *tr) { return tr->bytes + tr->len; }

void fb_trace_free(struct fb_trace *tr)
{
	if (!tr)
		return;
	if (tr->ft) {
		for (size_t i = 0; i < tr->sc->nfleets; i++) {
			struct fleet_text *t = &tr->ft[i];
			for (unsigned k = 0; t->keys && k < tr->sc->fleets[i].model->nfields; k++)
				free(t->keys[k]);
			free(t->keys);
			free(t->key_len);
			free(t->decimals);
			free(t->middle);
		}
		free(tr->ft);
	}
	free(tr->buf);
	free(tr);
}
