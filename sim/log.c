#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/log.h"

int fb_log_level = FB_LOG_INFO;

int fb_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fleetbench: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

int fb_error_at(const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (line > 0 && col > 0)
		fprintf(stderr, "%s:%d:%d: error: ", file, line, col);
	else if (line > 0)
		fprintf(stderr, "%s:%d: error: ", file, line);
	else
		fprintf(stderr, "%s: error: ", file);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

void fb_warn(const char *fmt, ...)
{
	va_list ap;
	if (fb_log_level < FB_LOG_WARN)
		return;
	va_start(ap, fmt);
	fputs("fleetbench: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void fb_log_write(enum fb_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fleetbench: %s: ", names[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions: 'rnu' is one
 * step from 'run'), bounded to short words. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return (size_t)-1;
	size_t prev2[64] = { 0 }, prev[64], cur[64];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < cur[j])
				cur[j] = prev2[j - 2] + 1;
		}
		memcpy(prev2, prev, (lb + 1) * sizeof(size_t));
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

const char *fb_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	if (!word || !candidates)
		return NULL;
	for (size_t i = 0; candidates[i]; i++) {
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	/* Close enough: at most a third of the word wrong, and at least one letter right. */
	size_t len = strlen(word);
	if (best && best_d > 0 && best_d <= (len + 2) / 3 + (len > 8))
		return best;
	return NULL;
}
