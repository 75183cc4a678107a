/* Virtual time: int64 microseconds since the Unix epoch, UTC. Parsing and formatting. */
#ifndef FB_TIME_H
#define FB_TIME_H
#include <stddef.h>
#include <stdint.h>

typedef int64_t fb_time_us;
#define FB_US_PER_MS  1000LL
#define FB_US_PER_S   1000000LL
#define FB_US_PER_MIN (60LL * FB_US_PER_S)
#define FB_US_PER_H   (3600LL * FB_US_PER_S)
#define FB_US_PER_DAY (86400LL * FB_US_PER_S)
#define FB_TIME_NEVER INT64_MAX

/* "500ms", "30s", "15m", "6h", "7d", "1w", "1h30m", "1.5h", "250us". Returns 0, or -1 when
 * the text is not a positive-or-zero duration (nothing written to *out then). */
int fb_parse_duration(const char *text, fb_time_us *out);

/* RFC 3339 date-time with a zone: "2026-06-01T00:00:00+02:00", "...Z", fractional seconds
 * allowed; a space may stand for 'T'. Returns 0 or -1. */
int fb_parse_rfc3339(const char *text, fb_time_us *out);

/* "2026-06-01T06:15:00.000Z": always 24 characters, NUL-terminated (buf has 25 bytes). */
void fb_format_iso_ms(fb_time_us t, char buf[25]);

/* A duration as the shortest readable text: "1d", "6h30m", "1.5s", "250ms". */
void fb_format_duration(fb_time_us d, char *buf, size_t cap);

/* Civil date from days since 1970-01-01 (proleptic Gregorian) and back. */
void fb_civil_from_days(int64_t days, int *year, int *month, int *mday);
int64_t fb_days_from_civil(int year, int month, int mday);

/* Wall clock (CLOCK_REALTIME) in microseconds; the only place the real clock is read for "now". */
fb_time_us fb_wall_now(void);

#endif
