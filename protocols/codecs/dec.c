/* Shared decode helpers (see dec.h). */
#include "protocols/codecs/dec.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "protocols/codecs/cbuf.h"
#include "sim/fmt.h"
#include "sim/fbtime.h"

void fb_jscan_init(struct fb_jscan *j, const uint8_t *buf, size_t len)
{
	j->p = (const char *)buf;
	j->end = j->p + len;
}

static void skip_ws(struct fb_jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

bool fb_jscan_eat(struct fb_jscan *j, char c)
{
	skip_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

bool fb_jscan_at_end(struct fb_jscan *j)
{
	skip_ws(j);
	return j->p == j->end;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* RFC 8259 §7 strings; out may be NULL (skip). */
static int scan_string(struct fb_jscan *j, char *out, size_t cap, size_t *len)
{
	size_t n = 0;
	if (j->p >= j->end || *j->p != '"')
		return FB_CODEC_EINVAL;
	j->p++;
	for (;;) {
		/* a run of plain characters at once */
		const char *run = j->p;
		while (run < j->end && *run != '"' && *run != '\\' && (unsigned char)*run >= 0x20)
			run++;
		if (run > j->p) {
			size_t k = (size_t)(run - j->p);
			if (out) {
				if (n + k >= cap)
					return FB_CODEC_EINVAL;
				memcpy(out + n, j->p, k);
			}
			n += k;
			j->p = run;
		}
		if (j->p >= j->end)
			return FB_CODEC_EINVAL;
		unsigned char c = (unsigned char)*j->p++;
		char enc[4];
		size_t k = 1;
		if (c == '"')
			break;
		if (c < 0x20)
			return FB_CODEC_EINVAL;
		enc[0] = (char)c;
		if (c == '\\') {
			if (j->p >= j->end)
				return FB_CODEC_EINVAL;
			char e = *j->p++;
			switch (e) {
			case '"': case '\\': case '/': enc[0] = e; break;
			case 'b': enc[0] = '\b'; break;
			case 'f': enc[0] = '\f'; break;
			case 'n': enc[0] = '\n'; break;
			case 'r': enc[0] = '\r'; break;
			case 't': enc[0] = '\t'; break;
			case 'u': {
				unsigned u;
				if (j->end - j->p < 4 || hex4(j->p, &u))
					return FB_CODEC_EINVAL;
				j->p += 4;
				if (u >= 0xD800 && u <= 0xDBFF) {     /* a surrogate pair */
					unsigned lo;
					if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
					    hex4(j->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
						return FB_CODEC_EINVAL;
					j->p += 6;
					u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
				} else if (u >= 0xDC00 && u <= 0xDFFF) {
					return FB_CODEC_EINVAL;
				}
				if (u == 0)
					return FB_CODEC_EINVAL;   /* a NUL would cut the C string short */
				if (u < 0x80) {
					enc[0] = (char)u;
				} else if (u < 0x800) {
					enc[0] = (char)(0xC0 | u >> 6);
					enc[1] = (char)(0x80 | (u & 0x3F));
					k = 2;
				} else if (u < 0x10000) {
					enc[0] = (char)(0xE0 | u >> 12);
					enc[1] = (char)(0x80 | (u >> 6 & 0x3F));
					enc[2] = (char)(0x80 | (u & 0x3F));
					k = 3;
				} else {
					enc[0] = (char)(0xF0 | u >> 18);
					enc[1] = (char)(0x80 | (u >> 12 & 0x3F));
					enc[2] = (char)(0x80 | (u >> 6 & 0x3F));
					enc[3] = (char)(0x80 | (u & 0x3F));
					k = 4;
				}
				break;
			}
			default:
				return FB_CODEC_EINVAL;
			}
		}
		if (out) {
			if (n + k >= cap)
				return FB_CODEC_EINVAL;
			memcpy(out + n, enc, k);
		}
		n += k;
	}
	if (out)
		out[n] = '\0';
	if (len)
		*len = n;
	return 0;
}

int fb_jscan_string(struct fb_jscan *j, char *out, size_t cap, size_t *len)
{
	skip_ws(j);
	return scan_string(j, out, cap, len);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 §6 number grammar; returns the token's length, or 0 if none. */
static size_t number_len(const char *s, size_t len)
{
	size_t i = 0;
	if (i < len && s[i] == '-')
		i++;
	if (i >= len || !is_digit(s[i]))
		return 0;
	if (s[i] == '0')
		i++;
	else
		while (i < len && is_digit(s[i]))
			i++;
	if (i < len && s[i] == '.') {
		i++;
		if (i >= len || !is_digit(s[i]))
			return 0;
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || !is_digit(s[i]))
			return 0;
		while (i < len && is_digit(s[i]))
			i++;
	}
	return i;
}

static const double pow10_exact[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

int fb_dec_number(const char *s, size_t len, double *out)
{
	char tmp[64];
	if (len == 0 || len >= sizeof tmp || number_len(s, len) != len)
		return FB_CODEC_EINVAL;
	/* Clinger's fast path: at most 15 significant digits and no exponent make an exact integer
	 * mantissa and an exact power of ten, so one division is correctly rounded, as strtod is */
	size_t i = s[0] == '-', digits = 0, frac = 0;
	uint64_t m = 0;
	bool dot = false;
	for (; i < len; i++) {
		char ch = s[i];
		if (ch == '.') {
			dot = true;
			continue;
		}
		if (ch == 'e' || ch == 'E' || ++digits > 15)
			break;
		m = m * 10 + (uint64_t)(ch - '0');
		frac += dot;
	}
	if (i == len) {
		double x = (double)m / pow10_exact[frac];
		*out = s[0] == '-' ? -x : x;
		return 0;
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	double x = strtod(tmp, NULL);
	if (!isfinite(x))
		return FB_CODEC_EINVAL;
	*out = x;
	return 0;
}

static bool literal(struct fb_jscan *j, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return false;
	j->p += n;
	return true;
}

int fb_jscan_value(struct fb_jscan *j, struct fb_jval *v)
{
	skip_ws(j);
	if (j->p >= j->end)
		return FB_CODEC_EINVAL;
	char c = *j->p;
	if (c == '"') {
		v->kind = FB_J_STRING;
		return scan_string(j, v->str, sizeof v->str, &v->len);
	}
	if (c == '-' || is_digit(c)) {
		size_t n = number_len(j->p, (size_t)(j->end - j->p));
		v->kind = FB_J_NUMBER;
		v->num = j->p;
		v->num_len = n;
		if (!n || fb_dec_number(j->p, n, &v->x))
			return FB_CODEC_EINVAL;
		j->p += n;
		return 0;
	}
	if (c == '{' || c == '[') {
		v->kind = c == '{' ? FB_J_OBJECT : FB_J_ARRAY;
		j->p++;
		return 0;
	}
	if (literal(j, "true"))
		v->kind = FB_J_TRUE;
	else if (literal(j, "false"))
		v->kind = FB_J_FALSE;
	else if (literal(j, "null"))
		v->kind = FB_J_NULL;
	else
		return FB_CODEC_EINVAL;
	return 0;
}

int fb_jscan_skip_rest(struct fb_jscan *j)
{
	int depth = 1;
	while (depth > 0) {
		skip_ws(j);
		if (j->p >= j->end)
			return FB_CODEC_EINVAL;
		char c = *j->p;
		if (c == '"') {
			if (scan_string(j, NULL, 0, NULL))
				return FB_CODEC_EINVAL;
		} else if (c == '{' || c == '[') {
			if (++depth > 32)
				return FB_CODEC_EINVAL;
			j->p++;
		} else if (c == '}' || c == ']') {
			depth--;
			j->p++;
		} else {
			j->p++;   /* numbers, literals, ',' and ':' (the syntax inside is not checked) */
		}
	}
	return 0;
}

double fb_dec_tolerance(const struct fb_field *f)
{
	double half_res = f->resolution > 0 ? f->resolution / 2 : 0;
	double half_step;
	switch (f->kind) {
	case FB_FIELD_NUMBER:
		half_step = 0.5 / pow10_exact[fb_fmt_decimals(f->resolution)];
		break;
	default:
		half_step = 0.5;
		break;
	}
	return half_step > half_res ? half_step : half_res;
}

int fb_dec_clear(struct fb_decoded *out, const struct fb_model *m)
{
	if (m->nfields > FB_DECODED_MAX_FIELDS)
		return FB_CODEC_EINVAL;
	memset(out, 0, sizeof(*out));
	out->seq = -1;
	out->ts = FB_TIME_NEVER;
	return 0;
}

bool fb_dec_whole_ok(const struct fb_field *f, double v)
{
	double names = f->enum_names ? fb_field_enum_count(f) : 256;
	return !((f->kind == FB_FIELD_BOOL && v > 1) || (f->kind == FB_FIELD_ENUM && v >= names));
}

int fb_dec_settle(struct fb_decoded *out, int fi, int rc, int *soft)
{
	if (rc == FB_CODEC_ERANGE) {
		if (!*soft)
			*soft = rc;
		return 0;
	}
	if (rc)
		return rc;
	out->present |= 1ull << fi;
	return 0;
}

void fb_dec_init(struct fb_decoded *out, const struct fb_model *m)
{
	out->device[0] = '\0';
	out->seq = -1;
	out->ts = FB_TIME_NEVER;
	out->present = 0;
	unsigned n = m->nfields < FB_DECODED_MAX_FIELDS ? m->nfields : FB_DECODED_MAX_FIELDS;
	for (unsigned i = 0; i < n; i++) {
		out->values[i] = 0;
		out->tolerance[i] = fb_dec_tolerance(&m->fields[i]);
	}
}

static bool field_is(const struct fb_field *f, const char *name, size_t len)
{
	return strncmp(f->name, name, len) == 0 && f->name[len] == '\0';
}

int fb_dec_field(const struct fb_model *m, const char *name, size_t len)
{
	if (memchr(name, '\0', len))
		return -1;   /* (field_is may not read past a shorter name then) */
	for (unsigned i = 0; i < m->nfields && i < FB_DECODED_MAX_FIELDS; i++)
		if (field_is(&m->fields[i], name, len))
			return (int)i;
	return -1;
}

int fb_dec_field_from(const struct fb_model *m, const char *name, size_t len, int hint)
{
	if (hint >= 0 && (unsigned)hint < m->nfields && hint < FB_DECODED_MAX_FIELDS &&
	    !memchr(name, '\0', len) && field_is(&m->fields[hint], name, len))
		return hint;
	return fb_dec_field(m, name, len);
}

int fb_dec_json_value(const struct fb_field *f, const struct fb_jval *v, double *out)
{
	switch (f->kind) {
	case FB_FIELD_NUMBER:
	case FB_FIELD_INTEGER:
		if (v->kind != FB_J_NUMBER)
			return FB_CODEC_EINVAL;
		*out = v->x;
		return 0;
	case FB_FIELD_BOOL:
		if (v->kind != FB_J_TRUE && v->kind != FB_J_FALSE)
			return FB_CODEC_EINVAL;
		*out = v->kind == FB_J_TRUE;
		return 0;
	case FB_FIELD_ENUM: {
		if (v->kind != FB_J_STRING)
			return FB_CODEC_EINVAL;
		int idx = fb_cbuf_enum_index(f, v->str, v->len);
		if (idx < 0)
			return FB_CODEC_ERANGE;
		*out = idx;
		return 0;
	}
	}
	return FB_CODEC_EINVAL;
}

int fb_dec_text_value(const struct fb_field *f, const char *s, size_t len, double *out)
{
	switch (f->kind) {
	case FB_FIELD_NUMBER:
	case FB_FIELD_INTEGER:
		return fb_dec_number(s, len, out);
	case FB_FIELD_BOOL:
		if (len == 4 && !memcmp(s, "true", 4))
			*out = 1;
		else if (len == 5 && !memcmp(s, "false", 5))
			*out = 0;
		else
			return FB_CODEC_EINVAL;
		return 0;
	case FB_FIELD_ENUM: {
		int idx = fb_cbuf_enum_index(f, s, len);
		if (idx < 0)
			return FB_CODEC_ERANGE;
		*out = idx;
		return 0;
	}
	}
	return FB_CODEC_EINVAL;
}

int fb_dec_time(const char *s, size_t len, fb_time_us *out)
{
	char tmp[48];
	if (len == 0 || len >= sizeof tmp || memchr(s, '\0', len))
		return FB_CODEC_EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return fb_parse_rfc3339(tmp, out) == 0 ? 0 : FB_CODEC_EINVAL;
}

int fb_dec_seconds(const char *s, size_t len, fb_time_us *out)
{
	size_t n = number_len(s, len);
	if (n != len)
		return FB_CODEC_EINVAL;
	size_t i = 0;
	bool neg = s[0] == '-';
	if (neg)
		i++;
	int64_t whole = 0, frac = 0;
	size_t digits = 0;
	for (; i < len && is_digit(s[i]); i++, digits++) {
		if (digits >= 12)   /* beyond year 33658: not a time we sent */
			return FB_CODEC_EINVAL;
		whole = whole * 10 + (s[i] - '0');
	}
	int fdigits = 0;
	bool round_up = false;
	if (i < len && s[i] == '.') {
		for (i++; i < len && is_digit(s[i]); i++) {
			if (fdigits < 6) {
				frac = frac * 10 + (s[i] - '0');
				fdigits++;
			} else if (fdigits == 6) {
				round_up = s[i] >= '5';
				fdigits++;
			}
		}
	}
	if (i < len) {     /* an exponent: not exact, through a double */
		double x;
		if (fb_dec_number(s, len, &x) || fabs(x) > 1e12)
			return FB_CODEC_EINVAL;
		*out = (fb_time_us)llround(x * 1e6);
		return 0;
	}
	for (int k = fdigits > 6 ? 6 : fdigits; k < 6; k++)
		frac *= 10;
	int64_t us = whole * 1000000 + frac + (round_up ? 1 : 0);
	*out = neg ? -us : us;
	return 0;
}
