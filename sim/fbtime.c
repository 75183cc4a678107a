#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>
#include "sim/fbtime.h"

/* Howard Hinnant's days_from_civil / civil_from_days (public-domain algorithms, restated). */
int64_t fb_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void fb_civil_from_days(int64_t z, int *year, int *month, int *mday)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(y + (m <= 2));
	*month = m;
	*mday = d;
}

int fb_parse_duration(const char *text, fb_time_us *out)
{
	const char *p = text;
	long double total = 0;
	int parts = 0;
	if (!p || !*p)
		return -1;
	while (*p) {
		/* digits, optionally a point and more digits: no signs, exponents or hex */
		long double v = 0, scale = 1;
		int ndigits = 0;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (*p++ - '0');
			ndigits++;
		}
		if (*p == '.') {
			p++;
			while (isdigit((unsigned char)*p)) {
				scale /= 10;
				v += (*p++ - '0') * scale;
				ndigits++;
			}
		}
		if (!ndigits)
			return -1;
		long double unit;
		if (!strncmp(p, "us", 2)) { unit = 1; p += 2; }
		else if (!strncmp(p, "ms", 2)) { unit = FB_US_PER_MS; p += 2; }
		else if (*p == 's') { unit = FB_US_PER_S; p++; }
		else if (*p == 'm') { unit = FB_US_PER_MIN; p++; }
		else if (*p == 'h') { unit = FB_US_PER_H; p++; }
		else if (*p == 'd') { unit = FB_US_PER_DAY; p++; }
		else if (*p == 'w') { unit = 7 * FB_US_PER_DAY; p++; }
		else return -1;      /* a bare number has no unit: ambiguous, refused */
		total += v * unit;
		parts++;
	}
	if (!parts || total > 9.0e18L)
		return -1;
	*out = (fb_time_us)llroundl(total);
	return 0;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int fb_parse_rfc3339(const char *text, fb_time_us *out)
{
	const char *p = text;
	int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
	int64_t frac_us = 0;
	if (!p || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &s))
		return -1;
	if (*p == '.') {
		p++;
		int64_t scale = 100000;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			frac_us += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60 ||
	    oh > 23 || om > 59)
		return -1;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return -1;
	if (s == 60)
		s = 59;     /* a leap second: POSIX time has none; keep the instant just before */
	int64_t days = fb_days_from_civil(y, mo, d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + s - sign * (oh * 3600 + om * 60);
	*out = secs * FB_US_PER_S + frac_us;
	return 0;
}

static void put2(char *p, int v) { p[0] = (char)('0' + v / 10); p[1] = (char)('0' + v % 10); }

void fb_format_iso_ms(fb_time_us t, char buf[25])
{
	int64_t secs = t >= 0 ? t / FB_US_PER_S : -((-t + FB_US_PER_S - 1) / FB_US_PER_S);
	int64_t us = t - secs * FB_US_PER_S;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t sod = secs - days * 86400;
	int y, m, d;
	fb_civil_from_days(days, &y, &m, &d);
	if (y < 0) y = 0;
	if (y > 9999) y = 9999;
	buf[0] = (char)('0' + y / 1000);
	buf[1] = (char)('0' + y / 100 % 10);
	put2(buf + 2, y % 100);
	buf[4] = '-';
	put2(buf + 5, m);
	buf[7] = '-';
	put2(buf + 8, d);
	buf[10] = 'T';
	put2(buf + 11, (int)(sod / 3600));
	buf[13] = ':';
	put2(buf + 14, (int)(sod / 60 % 60));
	buf[16] = ':';
	put2(buf + 17, (int)(sod % 60));
	buf[19] = '.';
	int ms = (int)(us / 1000);
	buf[20] = (char)('0' + ms / 100);
	put2(buf + 21, ms % 100);
	buf[23] = 'Z';
	buf[24] = 0;
}

void fb_format_duration(fb_time_us d, char *buf, size_t cap)
{
	static const struct { int64_t us; const char *name; } units[] = {
		{ FB_US_PER_DAY, "d" }, { FB_US_PER_H, "h" }, { FB_US_PER_MIN, "m" }, { FB_US_PER_S, "s" },
	};
	size_t len = 0;
	if (cap == 0)
		return;
	buf[0] = 0;
	if (d < 0) {
		len += (size_t)snprintf(buf, cap, "-");
		d = -d;
	}
	if (d == 0) {
		snprintf(buf + len, cap - len, "0s");
		return;
	}
	if (d < FB_US_PER_S) {
		if (d % FB_US_PER_MS == 0)
			snprintf(buf + len, cap - len, "%lldms", (long long)(d / FB_US_PER_MS));
		else
			snprintf(buf + len, cap - len, "%lldus", (long long)d);
		return;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0] && d > 0 && len < cap; i++) {
		if (d >= units[i].us) {
			if (units[i].us == FB_US_PER_S && d % FB_US_PER_S) {
				len += (size_t)snprintf(buf + len, cap - len, "%.3gs", (double)d / FB_US_PER_S);
				return;
			}
			len += (size_t)snprintf(buf + len, cap - len, "%lld%s",
			                        (long long)(d / units[i].us), units[i].name);
			d %= units[i].us;
		}
	}
	if (d > 0 && len < cap)
		snprintf(buf + len, cap - len, "%lldms", (long long)(d / FB_US_PER_MS));
}

fb_time_us fb_wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (fb_time_us)ts.tv_sec * FB_US_PER_S + ts.tv_nsec / 1000;
}
