#include "harness/jcur.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fb_jcur_ws(struct fb_jcur *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

bool fb_jcur_lit(struct fb_jcur *j, char ch)
{
	fb_jcur_ws(j);
	if (j->p < j->end && *j->p == ch) {
		j->p++;
		return true;
	}
	return false;
}

bool fb_jcur_peek(struct fb_jcur *j, char ch)
{
	fb_jcur_ws(j);
	return j->p < j->end && *j->p == ch;
}

bool fb_jcur_str(struct fb_jcur *j, const char **s, size_t *n, bool *escaped)
{
	if (!fb_jcur_lit(j, '"'))
		return false;
	const char *start = j->p;
	bool esc = false;
	while (j->p < j->end && *j->p != '"') {
		if ((unsigned char)*j->p < 0x20)
			return false;
		if (*j->p == '\\') {
			esc = true;
			if (++j->p == j->end)
				return false;
		}
		j->p++;
	}
	if (j->p == j->end)
		return false;
	*s = start;
	*n = (size_t)(j->p - start);
	j->p++;
	if (escaped)
		*escaped = esc;
	return true;
}

bool fb_jcur_num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

bool fb_jcur_num(struct fb_jcur *j, double *v)
{
	fb_jcur_ws(j);
	char buf[64];
	size_t n = 0;
	while (j->p + n < j->end && fb_jcur_num_char(j->p[n]) && n < sizeof buf - 1) {
		buf[n] = j->p[n];
		n++;
	}
	if (!n || (j->p + n < j->end && fb_jcur_num_char(j->p[n])))
		return false;
	buf[n] = '\0';
	char *e;
	double x = strtod(buf, &e);
	if (e != buf + n || !isfinite(x))
		return false;
	*v = x;
	j->p += n;
	return true;
}

bool fb_jcur_skip(struct fb_jcur *j, int depth)
{
	if (depth > 32)
		return false;
	fb_jcur_ws(j);
	if (j->p == j->end)
		return false;
	char c = *j->p;
	const char *s;
	size_t n;
	if (c == '"')
		return fb_jcur_str(j, &s, &n, NULL);
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		j->p++;
		if (fb_jcur_lit(j, close))
			return true;
		do {
			if (c == '{' && (!fb_jcur_str(j, &s, &n, NULL) || !fb_jcur_lit(j, ':')))
				return false;
			if (!fb_jcur_skip(j, depth + 1))
				return false;
		} while (fb_jcur_lit(j, ','));
		return fb_jcur_lit(j, close);
	}
	static const char *const words[] = { "true", "false", "null" };
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(words[i]);
		if ((size_t)(j->end - j->p) >= l && !memcmp(j->p, words[i], l)) {
			j->p += l;
			return true;
		}
	}
	double v;
	return fb_jcur_num(j, &v);
}

bool fb_jcur_key_is(const char *k, size_t n, const char *want)
{
	return strlen(want) == n && !memcmp(k, want, n);
}
