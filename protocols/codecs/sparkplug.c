/* Sparkplug B payloads (see sparkplug.h). */
#include "protocols/codecs/sparkplug.h"
#include <math.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "protocols/codecs/dec.h"
#include "protocols/codecs/sparkplug_b.pb-c.h"

typedef Org__Eclipse__Tahu__Protobuf__Payload Payload;
typedef Org__Eclipse__Tahu__Protobuf__Payload__Metric Metric;
#define PAYLOAD_INIT ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__INIT
#define METRIC_INIT ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__INIT
#define V(x) ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_##x

static const char *const msg_names[] = {
	"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD"
};

const char *fb_spb_msg_name(enum fb_spb_msg type)
{
	return (unsigned)type < sizeof msg_names / sizeof msg_names[0] ? msg_names[type] : "?";
}

/* Sparkplug 3.0 §4.1: ids are non-empty UTF-8 without the MQTT wildcards or '/'. */
static bool valid_id(const char *s)
{
	return s && *s && !strpbrk(s, "+/#");
}

ssize_t fb_spb_topic(char *buf, size_t cap, const char *group, enum fb_spb_msg type,
                     const char *edge, const char *device)
{
	bool dev = type == FB_SPB_DBIRTH || type == FB_SPB_DDEATH || type == FB_SPB_DDATA ||
	           type == FB_SPB_DCMD;
	if ((unsigned)type >= sizeof msg_names / sizeof msg_names[0] || !valid_id(group) ||
	    !valid_id(edge) || (dev && !valid_id(device)))
		return FB_CODEC_EINVAL;
	struct fb_cbuf o;
	fb_cbuf_init(&o, (uint8_t *)buf, cap);
	fb_cbuf_str(&o, "spBv1.0/");
	fb_cbuf_str(&o, group);
	fb_cbuf_char(&o, '/');
	fb_cbuf_str(&o, msg_names[type]);
	fb_cbuf_char(&o, '/');
	fb_cbuf_str(&o, edge);
	if (dev) {
		fb_cbuf_char(&o, '/');
		fb_cbuf_str(&o, device);
	}
	fb_cbuf_char(&o, '\0');
	ssize_t n = fb_cbuf_finish(&o);
	return n < 0 ? n : n - 1;
}

enum fb_spb_datatype fb_spb_datatype(const struct fb_field *f)
{
	switch (f->kind) {
	case FB_FIELD_INTEGER:
		return f->min >= INT32_MIN && f->max <= INT32_MAX ? FB_SPB_INT32 : FB_SPB_INT64;
	case FB_FIELD_BOOL:
		return FB_SPB_BOOLEAN;
	case FB_FIELD_ENUM:
		return FB_SPB_STRING;
	case FB_FIELD_NUMBER:
	default:
		return FB_SPB_DOUBLE;
	}
}

static uint64_t ms_of(fb_time_us t)
{
	return t >= 0 ? (uint64_t)(t / FB_US_PER_MS) : 0;
}

static ssize_t pack(const Payload *p, uint8_t *buf, size_t cap)
{
	size_t need = org__eclipse__tahu__protobuf__payload__get_packed_size(p);
	if (need > cap)
		return FB_CODEC_ENOSPC;
	return (ssize_t)org__eclipse__tahu__protobuf__payload__pack(p, buf);
}

/* Field i's metric: name unless aliased data, alias, timestamp, datatype, value. */
static void field_metric(Metric *mt, const struct fb_field *f, double v, uint64_t ts_ms,
                         uint64_t alias, bool with_name)
{
	*mt = (Metric)METRIC_INIT;
	if (with_name)
		mt->name = (char *)f->name;
	if (alias != FB_SPB_NO_ALIAS) {
		mt->has_alias = 1;
		mt->alias = alias;
	}
	mt->has_timestamp = 1;
	mt->timestamp = ts_ms;
	mt->has_datatype = 1;
	mt->datatype = fb_spb_datatype(f);
	if (!isfinite(v))
		v = 0;
	switch (mt->datatype) {
	case FB_SPB_INT32:
		mt->value_case = V(INT_VALUE);
		/* Sparkplug 3.0 §6.4.16: signed types travel as two's complement in the uint field */
		mt->int_value = (uint32_t)(int32_t)llround(v);
		break;
	case FB_SPB_INT64:
		mt->value_case = V(LONG_VALUE);
		mt->long_value = (uint64_t)(int64_t)llround(v);
		break;
	case FB_SPB_BOOLEAN:
		mt->value_case = V(BOOLEAN_VALUE);
		mt->boolean_value = v != 0;
		break;
	case FB_SPB_STRING: {
		long idx = lround(v);
		if (idx >= 0 && idx < (long)fb_field_enum_count(f)) {
			mt->value_case = V(STRING_VALUE);
			mt->string_value = (char *)f->enum_names[idx];
		} else {
			mt->has_is_null = 1;
			mt->is_null = 1;
		}
		break;
	}
	default:
		mt->value_case = V(DOUBLE_VALUE);
		mt->double_value = v;
		break;
	}
}

ssize_t fb_spb_nbirth(uint64_t bdseq, fb_time_us t, uint8_t seq, uint8_t *buf, size_t cap)
{
	Metric m[2] = {METRIC_INIT, METRIC_INIT};
	Metric *mp[2] = {&m[0], &m[1]};
	Payload p = PAYLOAD_INIT;
	uint64_t ts = ms_of(t);

	m[0].name = "bdSeq";
	m[0].has_timestamp = 1;
	m[0].timestamp = ts;
	m[0].has_datatype = 1;
	m[0].datatype = FB_SPB_UINT64;
	m[0].value_case = V(LONG_VALUE);
	m[0].long_value = bdseq;
	m[1].name = FB_SPB_REBIRTH;
	m[1].has_timestamp = 1;
	m[1].timestamp = ts;
	m[1].has_datatype = 1;
	m[1].datatype = FB_SPB_BOOLEAN;
	m[1].value_case = V(BOOLEAN_VALUE);
	m[1].boolean_value = 0;
	p.has_timestamp = 1;
	p.timestamp = ts;
	p.n_metrics = 2;
	p.metrics = mp;
	p.has_seq = 1;
	p.seq = seq;
	return pack(&p, buf, cap);
}

ssize_t fb_spb_ndeath(uint64_t bdseq, fb_time_us t, uint8_t *buf, size_t cap)
{
	Metric m = METRIC_INIT;
	Metric *mp = &m;
	Payload p = PAYLOAD_INIT;

	m.name = "bdSeq";
	m.has_datatype = 1;
	m.datatype = FB_SPB_UINT64;
	m.value_case = V(LONG_VALUE);
	m.long_value = bdseq;
	if (t >= 0) {
		p.has_timestamp = 1;
		p.timestamp = ms_of(t);
	}
	p.n_metrics = 1;
	p.metrics = &mp;
	return pack(&p, buf, cap);
}

static ssize_t device_payload(const struct fb_sample *s, const double *prev, uint8_t seq,
                              uint64_t alias_base, bool birth, uint8_t *buf, size_t cap)
{
	const struct fb_model *mo = s->model;
	Metric m[FB_MAX_FIELDS];
	Metric *mp[FB_MAX_FIELDS];
	Payload p = PAYLOAD_INIT;
	uint64_t ts = ms_of(s->t);
	size_t n = 0;

	for (unsigned i = 0; i < mo->nfields && i < FB_MAX_FIELDS; i++) {
		if (prev && prev[i] == s->values[i])
			continue;
		uint64_t alias = alias_base == FB_SPB_NO_ALIAS ? FB_SPB_NO_ALIAS : alias_base + i;
		field_metric(&m[n], &mo->fields[i], s->values[i], ts, alias,
		             birth || alias == FB_SPB_NO_ALIAS);
		mp[n] = &m[n];
		n++;
	}
	p.has_timestamp = 1;
	p.timestamp = ts;
	p.n_metrics = n;
	p.metrics = n ? mp : NULL;
	p.has_seq = 1;
	p.seq = seq;
	return pack(&p, buf, cap);
}

ssize_t fb_spb_dbirth(const struct fb_sample *s, uint8_t seq, uint64_t alias_base,
                      uint8_t *buf, size_t cap)
{
	return device_payload(s, NULL, seq, alias_base, true, buf, cap);
}

ssize_t fb_spb_ddata(const struct fb_sample *s, const double *prev, uint8_t seq,
                     uint64_t alias_base, uint8_t *buf, size_t cap)
{
	return device_payload(s, prev, seq, alias_base, false, buf, cap);
}

ssize_t fb_spb_ddeath(fb_time_us t, uint8_t seq, uint8_t *buf, size_t cap)
{
	Payload p = PAYLOAD_INIT;
	p.has_timestamp = 1;
	p.timestamp = ms_of(t);
	p.has_seq = 1;
	p.seq = seq;
	return pack(&p, buf, cap);
}

/* Unpacking without the heap: protobuf-c allocates through this bump arena on the stack. */
struct arena {
	unsigned char *base;
	size_t used, cap;
};

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	size_t at = (a->used + 15) & ~(size_t)15;
	if (at > a->cap || size > a->cap - at)
		return NULL;
	a->used = at + size;
	return a->base + at;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

#define ARENA_BYTES (48 * 1024)
#define MAX_CMD_PAYLOAD (8 * 1024)

static Payload *unpack(struct arena *a, ProtobufCAllocator *al, const uint8_t *buf, size_t len)
{
	if (len > MAX_CMD_PAYLOAD)
		return NULL;
	al->alloc = arena_alloc;
	al->free = arena_free;
	al->allocator_data = a;
	return org__eclipse__tahu__protobuf__payload__unpack(al, len, buf);
}

int fb_spb_decode_ncmd(const uint8_t *buf, size_t len, bool *rebirth)
{
	_Alignas(16) unsigned char mem[ARENA_BYTES];
	struct arena a = {mem, 0, sizeof mem};
	ProtobufCAllocator al;
	Payload *p = unpack(&a, &al, buf, len);
	*rebirth = false;
	if (!p)
		return FB_CODEC_EINVAL;
	for (size_t i = 0; i < p->n_metrics; i++) {
		const Metric *m = p->metrics[i];
		if (m->name && strcmp(m->name, FB_SPB_REBIRTH) == 0 &&
		    m->value_case == V(BOOLEAN_VALUE) && m->boolean_value)
			*rebirth = true;
	}
	return 0;
}

/* A metric's value as a double, by its oneof case and datatype; enum names by the field. */
static int metric_value(const Metric *m, const struct fb_field *f, double *out)
{
	uint32_t dt = m->has_datatype ? m->datatype : 0;
	switch (m->value_case) {
	case V(INT_VALUE):
		if (dt == 1)
			*out = (int8_t)m->int_value;
		else if (dt == 2)
			*out = (int16_t)m->int_value;
		else if (dt == 3)
			*out = (int32_t)m->int_value;
		else
			*out = m->int_value;
		return 0;
	case V(LONG_VALUE):
		*out = dt == 4 ? (double)(int64_t)m->long_value : (double)m->long_value;
		return 0;
	case V(FLOAT_VALUE):
		*out = m->float_value;
		return 0;
	case V(DOUBLE_VALUE):
		*out = m->double_value;
		return 0;
	case V(BOOLEAN_VALUE):
		*out = m->boolean_value ? 1 : 0;
		return 0;
	case V(STRING_VALUE): {
		if (!m->string_value)
			return FB_CODEC_EINVAL;
		int idx = fb_cbuf_enum_index(f, m->string_value, strlen(m->string_value));
		if (idx < 0)
			return f->kind == FB_FIELD_ENUM ? FB_CODEC_ERANGE : FB_CODEC_EINVAL;
		*out = idx;
		return 0;
	}
	default:
		return FB_CODEC_EINVAL;
	}
}

int fb_spb_decode_dcmd(const struct fb_model *mo, uint64_t alias_base, const uint8_t *buf,
                       size_t len, struct fb_command *out, size_t max)
{
	_Alignas(16) unsigned char mem[ARENA_BYTES];
	struct arena a = {mem, 0, sizeof mem};
	ProtobufCAllocator al;
	Payload *p = unpack(&a, &al, buf, len);
	if (!p)
		return FB_CODEC_EINVAL;
	int n = 0;
	for (size_t i = 0; i < p->n_metrics; i++) {
		const Metric *m = p->metrics[i];
		int fi = -1;
		if (m->name) {
			for (unsigned k = 0; k < mo->nfields; k++)
				if (strcmp(mo->fields[k].name, m->name) == 0)
					fi = (int)k;
		} else if (m->has_alias && alias_base != FB_SPB_NO_ALIAS) {
			if (m->alias >= alias_base && m->alias - alias_base < mo->nfields)
				fi = (int)(m->alias - alias_base);
		} else {
			return FB_CODEC_EINVAL;
		}
		if (fi < 0)
			return FB_CODEC_EFIELD;
		const struct fb_field *f = &mo->fields[fi];
		double v;
		int rc = metric_value(m, f, &v);
		if (rc < 0)
			return rc;
		if ((size_t)n >= max)
			return FB_CODEC_ENOSPC;
		rc = fb_cbuf_command(mo, f->name, strlen(f->name), v, &out[n]);
		if (rc < 0)
			return rc;
		n++;
	}
	return n;
}

/* Whether a metric's value case is one a field of this kind travels in (fb_spb_datatype; any
 * numeric case for NUMBER, integer cases for INTEGER). */
static bool value_fits(const Metric *m, const struct fb_field *f)
{
	switch (f->kind) {
	case FB_FIELD_NUMBER:
		return m->value_case == V(DOUBLE_VALUE) || m->value_case == V(FLOAT_VALUE) ||
		       m->value_case == V(INT_VALUE) || m->value_case == V(LONG_VALUE);
	case FB_FIELD_INTEGER:
		return m->value_case == V(INT_VALUE) || m->value_case == V(LONG_VALUE);
	case FB_FIELD_BOOL:
		return m->value_case == V(BOOLEAN_VALUE);
	case FB_FIELD_ENUM:
		return m->value_case == V(STRING_VALUE);
	}
	return false;
}

int fb_spb_decode_data(const struct fb_model *mo, uint64_t *alias_base, const uint8_t *buf,
                       size_t len, struct fb_decoded *out)
{
	_Alignas(16) unsigned char mem[ARENA_BYTES];
	struct arena a = {mem, 0, sizeof mem};
	ProtobufCAllocator al;
	int rc_soft = 0;

	fb_dec_init(out, mo);
	Payload *p = unpack(&a, &al, buf, len);
	if (!p)
		return FB_CODEC_EINVAL;
	if (p->has_timestamp) {
		if (p->timestamp > (uint64_t)INT64_MAX / FB_US_PER_MS)
			return FB_CODEC_EINVAL;
		out->ts = (fb_time_us)p->timestamp * FB_US_PER_MS;
	}
	uint64_t base = alias_base ? *alias_base : FB_SPB_NO_ALIAS;
	/* births name every metric with its alias: learn the base first */
	for (size_t i = 0; i < p->n_metrics && alias_base; i++) {
		const Metric *m = p->metrics[i];
		int fi = m->name ? fb_dec_field(mo, m->name, strlen(m->name)) : -1;
		if (fi >= 0 && m->has_alias && m->alias >= (uint64_t)fi) {
			base = *alias_base = m->alias - (uint64_t)fi;
			break;
		}
	}
	for (size_t i = 0; i < p->n_metrics; i++) {
		const Metric *m = p->metrics[i];
		int fi = -1;
		if (m->name) {
			fi = fb_dec_field(mo, m->name, strlen(m->name));
		} else if (m->has_alias) {
			if (base != FB_SPB_NO_ALIAS && m->alias >= base && m->alias - base < mo->nfields &&
			    m->alias - base < FB_DECODED_MAX_FIELDS)
				fi = (int)(m->alias - base);
		} else {
			return FB_CODEC_EINVAL;   /* a metric with neither name nor alias */
		}
		if (fi < 0) {
			if (!rc_soft)
				rc_soft = FB_CODEC_EFIELD;
			continue;
		}
		if (out->present & (1ull << fi))
			return FB_CODEC_EINVAL;
		if (m->has_is_null && m->is_null)
			continue;   /* no value (an enum index the encoder could not name) */
		const struct fb_field *f = &mo->fields[fi];
		if (!value_fits(m, f))
			return FB_CODEC_EINVAL;
		int rc = fb_dec_settle(out, fi, metric_value(m, f, &out->values[fi]), &rc_soft);
		if (rc)
			return rc;
	}
	return rc_soft;
}

/* The registry's `sparkplug` codec: a DDATA with every field, seq = the sample's seq mod 256,
 * no aliases; commands are DCMD payloads by name. The MQTT transport uses the functions above. */
static ssize_t spb_encode(const struct fb_codec_ctx *c, const struct fb_sample *s,
                          uint8_t *buf, size_t cap)
{
	return fb_spb_ddata(s, NULL, (uint8_t)(s->seq & 0xff), FB_SPB_NO_ALIAS, buf, cap);
}

static int spb_decode_command(const struct fb_codec_ctx *c, const struct fb_model *m,
                              const uint8_t *buf, size_t len, struct fb_command *out, size_t max)
{
	return fb_spb_decode_dcmd(m, FB_SPB_NO_ALIAS, buf, len, out, max);
}

static int spb_decode_sample(const struct fb_codec_ctx *c, const struct fb_model *m,
                             const uint8_t *buf, size_t len, struct fb_decoded *out)
{
	(void)c;
	return fb_spb_decode_data(m, NULL, buf, len, out);
}

const struct fb_codec fb_sparkplug_codec = {
	.name = "sparkplug",
	.content_type = "application/vnd.eclipse.sparkplug-b",
	.encode = spb_encode,
	.decode_command = spb_decode_command,
	.decode_sample = spb_decode_sample,
};
