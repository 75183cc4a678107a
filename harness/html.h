/* The HTML report: one self-contained page (inline CSS and SVG, no script, no network) rendered
 * from a report JSON (harness/report.h): the verdict and summary, the expectations, throughput
 * and lag over time, latency percentiles per protocol, loss by type and by site, and per sensor
 * type a chart of the recorded signals. Sections missing from the report are left out. */
#ifndef FB_HTML_H
#define FB_HTML_H
#include <stdio.h>
#include <jansson.h>

/* Each returns 0, or -1 after fb_error (cannot write). */
int fb_html_write(const json_t *report, FILE *out);
int fb_html_write_file(const json_t *report, const char *path);

#endif
