/* Errors and logs, all on stderr. Messages: lowercase, no full stop, the subject in quotes. */
#ifndef FB_LOG_H
#define FB_LOG_H
#include <stdarg.h>
#include <stdbool.h>

enum fb_log_level { FB_LOG_ERROR, FB_LOG_WARN, FB_LOG_INFO, FB_LOG_DEBUG };
extern int fb_log_level;      /* FB_LOG_INFO by default; --quiet lowers it to FB_LOG_WARN */

/* "fleetbench: error: <what>"; returns -1 so call sites read `return fb_error(...)`. */
int fb_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<file>:<line>:<col>: error: <what>"; returns -1. line/col are 1-based; 0 omits them. */
int fb_error_at(const char *file, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void fb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fb_log_write(enum fb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The arguments are not evaluated when the level is off. */
#define fb_log(level, ...) \
	do { if ((level) <= fb_log_level) fb_log_write((level), __VA_ARGS__); } while (0)
#define fb_info(...)  fb_log(FB_LOG_INFO, __VA_ARGS__)
#define fb_debug(...) fb_log(FB_LOG_DEBUG, __VA_ARGS__)

/* Once-per-kind logging for counted errors: returns true the first time `*flag` is seen. */
static inline bool fb_first_time(bool *flag) { bool first = !*flag; *flag = true; return first; }

/* The closest of `candidates` (NULL-terminated) to `word`, or NULL when none is close. */
const char *fb_suggest(const char *word, const char *const *candidates);

#endif
