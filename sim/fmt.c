#include <math.h>
#include <stdio.h>
#include <string.h>
#include "sim/fmt.h"

int fb_fmt_decimals(double res)
{
	if (!(res > 0))
		return 6;
	double scaled = res;
	for (int d = 0; d < 9; d++) {
		if (fabs(scaled - nearbyint(scaled)) < 1e-9 * (scaled > 1 ? scaled : 1))
			return d;
		scaled *= 10;
	}
	return 9;
}

size_t fb_fmt_u64(uint64_t v, char *buf)
{
	char tmp[21];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

size_t fb_fmt_i64(int64_t v, char *buf)
{
	if (v < 0) {
		buf[0] = '-';
		return 1 + fb_fmt_u64((uint64_t)0 - (uint64_t)v, buf + 1);
	}
	return fb_fmt_u64((uint64_t)v, buf);
}

static const double pow10_tab[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };

size_t fb_fmt_fixed(double v, int decimals, char *buf)
{
	if (!isfinite(v)) {
		memcpy(buf, "0", 1);
		return 1;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	double scaled = round(v * pow10_tab[decimals]);
	if (fabs(scaled) >= 9.2e18) {        /* beyond int64: let the C library do it */
		char tmp[32];
		int len = snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
		if (len <= 0 || (size_t)len >= sizeof tmp)   /* past ~1e30: still a number, with an exponent */
			len = snprintf(tmp, sizeof tmp, "%.17g", v);
		memcpy(buf, tmp, (size_t)len);
		return (size_t)len;
	}
	int64_t m = (int64_t)scaled;
	size_t n = 0;
	if (m < 0) {
		buf[n++] = '-';
		m = -m;
	}
	uint64_t p = (uint64_t)pow10_tab[decimals];
	n += fb_fmt_u64((uint64_t)m / p, buf + n);
	if (decimals) {
		uint64_t frac = (uint64_t)m % p;
		buf[n++] = '.';
		for (int i = decimals - 1; i >= 0; i--) {
			buf[n + (size_t)i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		n += (size_t)decimals;
	}
	return n;
}

static size_t fmt_value(const struct fb_field *f, double v, char *buf, int quote)
{
	switch (f->kind) {
	case FB_FIELD_BOOL:
		if (v != 0) { memcpy(buf, "true", 4); return 4; }
		memcpy(buf, "false", 5);
		return 5;
	case FB_FIELD_ENUM: {
		size_t count = fb_field_enum_count(f);
		long i = lround(v);
		const char *name = count && i >= 0 && (size_t)i < count ? f->enum_names[i] : "unknown";
		size_t len = strlen(name), n = 0;
		if (len > 40)
			len = 40;
		if (quote)
			buf[n++] = '"';
		memcpy(buf + n, name, len);
		n += len;
		if (quote)
			buf[n++] = '"';
		return n;
	}
	case FB_FIELD_INTEGER:      /* as a NUMBER with no decimals: also right beyond int64 */
		return fb_fmt_fixed(v, 0, buf);
	case FB_FIELD_NUMBER:
	default:
		return fb_fmt_fixed(v, fb_fmt_decimals(f->resolution), buf);
	}
}

size_t fb_fmt_value(const struct fb_field *f, double v, char *buf) { return fmt_value(f, v, buf, 1); }
size_t fb_fmt_value_plain(const struct fb_field *f, double v, char *buf) { return fmt_value(f, v, buf, 0); }
