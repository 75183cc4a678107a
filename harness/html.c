/* The HTML report page: inline CSS, inline SVG charts, no script. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "harness/html.h"
#include "sim/fbtime.h"
#include "sim/log.h"
#include "sim/tz.h"

#define CHART_W 960
#define CHART_H 260
#define PAD_L 70
#define PAD_R 20
#define PAD_T 16
#define PAD_B 34
#define MAX_POINTS 1200     /* a line longer than this is averaged down to it */

static const char *const palette[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                       "#e377c2", "#17becf" };
#define NCOLORS (sizeof palette / sizeof palette[0])

static void esc(FILE *o, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", o); break;
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '"': fputs("&quot;", o); break;
		default: fputc(*s, o);
		}
	}
}

static const json_t *get(const json_t *o, const char *k)
{
	return json_object_get(o, k);
}

static double num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* 1234567 -> "1,234,567" */
static const char *fmt_int(double v, char *buf, size_t cap)
{
	char raw[32];
	snprintf(raw, sizeof raw, "%.0f", v);
	size_t n = strlen(raw), neg = raw[0] == '-', k = 0;
	for (size_t i = 0; i < n && k + 2 < cap; i++) {
		if (i > neg && (n - i) % 3 == 0)
			buf[k++] = ',';
		buf[k++] = raw[i];
	}
	buf[k] = '\0';
	return buf;
}

static const char *fmt_us(double us, char *buf, size_t cap)
{
	if (us < 1000)
		snprintf(buf, cap, "%.0f µs", us);
	else if (us < 1e6)
		snprintf(buf, cap, "%.3g ms", us / 1e3);
	else
		snprintf(buf, cap, "%.3g s", us / 1e6);
	return buf;
}

/* Tick values 1, 2, 5 x 10^k covering [0, max]. */
static double nice_step(double span, int want)
{
	if (!(span > 0))
		return 1;
	double raw = span / want, p = pow(10, floor(log10(raw))), m = raw / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static const char *fmt_axis(double v, char *buf, size_t cap)
{
	double a = fabs(v);
	if (a >= 1e6)
		snprintf(buf, cap, "%.3gM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, cap, "%.3gk", v / 1e3);
	else
		snprintf(buf, cap, "%.4g", v);
	return buf;
}

struct line {
	const char *label;
	double *x, *y;
	size_t n;
};

enum xaxis { X_ELAPSED, X_CLOCK };

struct chart {
	const char *id, *title, *yunit;
	enum xaxis xaxis;
	const struct fb_tz *tz;     /* X_CLOCK: labels in this zone (UTC when NULL) */
	bool y_from_data;           /* y range from the data (signals), else from 0 */
};

static const fb_time_us clock_steps_s[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
                                            10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000 };

static void x_label(const struct chart *c, double x, double step, char *buf, size_t cap)
{
	if (c->xaxis == X_ELAPSED) {
		fb_format_duration((fb_time_us)llround(x * 1e6), buf, cap);
		if (x == 0)
			snprintf(buf, cap, "0s");
		return;
	}
	fb_time_us t = (fb_time_us)llround(x * 1e6);
	time_t local = (time_t)(x + (c->tz ? fb_tz_offset_s(c->tz, t) : 0));
	struct tm tm;
	gmtime_r(&local, &tm);
	if (step >= 86400)
		strftime(buf, cap, "%a %d %b", &tm);
	else if (step >= 3600 && tm.tm_hour == 0)
		strftime(buf, cap, "%d %b", &tm);
	else
		strftime(buf, cap, "%H:%M", &tm);
}

/* A line chart. Points beyond MAX_POINTS are averaged into MAX_POINTS columns. */
static void line_chart(FILE *o, const struct chart *c, struct line *lines, size_t nlines)
{
	double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
	size_t total = 0;
	for (size_t l = 0; l < nlines; l++)
		for (size_t i = 0; i < lines[l].n; i++) {
			x0 = fmin(x0, lines[l].x[i]);
			x1 = fmax(x1, lines[l].x[i]);
			y0 = fmin(y0, lines[l].y[i]);
			y1 = fmax(y1, lines[l].y[i]);
			total++;
		}
	if (total == 0)
		return;
	if (!c->y_from_data || y0 > 0)
		y0 = c->y_from_data ? y0 : 0;
	if (!c->y_from_data)
		y0 = fmin(y0, 0);
	if (x1 <= x0)
		x1 = x0 + 1;
	double ystep = nice_step(y1 - y0 > 0 ? y1 - y0 : fabs(y1) + 1, 5);
	y0 = floor(y0 / ystep) * ystep;
	y1 = ceil(y1 / ystep) * ystep;
	if (y1 <= y0)
		y1 = y0 + ystep;
	double pw = CHART_W - PAD_L - PAD_R, ph = CHART_H - PAD_T - PAD_B;
#define SX(x) (PAD_L + ((x) - x0) / (x1 - x0) * pw)
#define SY(y) (PAD_T + ph - ((y) - y0) / (y1 - y0) * ph)
	fprintf(o, "<figure class=\"chart\"><figcaption>");
	esc(o, c->title);
	fprintf(o, "</figcaption>\n<svg id=\"");
	esc(o, c->id);
	fprintf(o, "\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", CHART_W, CHART_H);
	esc(o, c->title);
	fprintf(o, "\" xmlns=\"http://www.w3.org/2000/svg\">\n");
	/* y grid and labels */
	for (double y = y0; y <= y1 + ystep / 2; y += ystep) {
		char b[32];
		fprintf(o, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", PAD_L, CHART_W - PAD_R,
		        SY(y), SY(y));
		fprintf(o, "<text class=\"ylab\" x=\"%d\" y=\"%.1f\">%s</text>\n", PAD_L - 6, SY(y) + 4,
		        fmt_axis(y, b, sizeof b));
	}
	if (c->yunit && *c->yunit) {
		fprintf(o, "<text class=\"unit\" x=\"4\" y=\"%d\">", PAD_T - 4);
		esc(o, c->yunit);
		fputs("</text>\n", o);
	}
	/* x ticks */
	double span = x1 - x0, xstep = nice_step(span, 8);
	if (c->xaxis == X_CLOCK) {
		xstep = (double)clock_steps_s[sizeof clock_steps_s / sizeof clock_steps_s[0] - 1];
		for (size_t i = 0; i < sizeof clock_steps_s / sizeof clock_steps_s[0]; i++)
			if (span / (double)clock_steps_s[i] <= 8) {
				xstep = (double)clock_steps_s[i];
				break;
			}
	} else {
		static const double el[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400 };
		for (size_t i = 0; i < sizeof el / sizeof el[0]; i++)
			if (span / el[i] <= 8) {
				xstep = el[i];
				break;
			}
	}
	double first = c->xaxis == X_CLOCK ? ceil(x0 / xstep) * xstep : 0;
	if (c->xaxis == X_CLOCK && c->tz && xstep >= 3600) {
		/* align ticks on local hours/days */
		double off = fb_tz_offset_s(c->tz, (fb_time_us)(x0 * 1e6));
		first = ceil((x0 + off) / xstep) * xstep - off;
	}
	for (double x = first; x <= x1 + 1e-9; x += xstep) {
		char b[40];
		x_label(c, x, xstep, b, sizeof b);
		fprintf(o, "<line class=\"tick\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", SX(x), SX(x),
		        (double)PAD_T + ph, (double)PAD_T + ph + 4);
		fprintf(o, "<text class=\"xlab\" x=\"%.1f\" y=\"%d\">", SX(x), CHART_H - PAD_B + 18);
		esc(o, b);
		fputs("</text>\n", o);
	}
	fprintf(o, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>\n", PAD_L, CHART_W - PAD_R,
	        (double)PAD_T + ph, (double)PAD_T + ph);
	for (size_t l = 0; l < nlines; l++) {
		struct line *ln = &lines[l];
		size_t g = ln->n > MAX_POINTS ? (ln->n + MAX_POINTS - 1) / MAX_POINTS : 1;
		fprintf(o, "<polyline class=\"series\" data-label=\"");
		esc(o, ln->label);
		fprintf(o, "\" data-n=\"%zu\" stroke=\"%s\" points=\"", ln->n, palette[l % NCOLORS]);
		for (size_t i = 0; i < ln->n; i += g) {
			double sx = 0, sy = 0;
			size_t k = 0;
			for (size_t j = i; j < i + g && j < ln->n; j++, k++) {
				sx += ln->x[j];
				sy += ln->y[j];
			}
			fprintf(o, "%.1f,%.1f ", SX(sx / k), SY(sy / k));
		}
		fputs("\"/>\n", o);
		if (ln->n <= 60)    /* few points: mark each, so a single second still shows */
			for (size_t i = 0; i < ln->n; i++)
				fprintf(o, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
				        SX(ln->x[i]), SY(ln->y[i]), palette[l % NCOLORS]);
	}
	fputs("</svg>\n", o);
	if (nlines > 1 || (nlines == 1 && lines[0].label && *lines[0].label)) {
		fputs("<div class=\"legend\">", o);
		for (size_t l = 0; l < nlines; l++) {
			fprintf(o, "<span><i style=\"background:%s\"></i>", palette[l % NCOLORS]);
			esc(o, lines[l].label);
			fputs("</span>", o);
		}
		fputs("</div>", o);
	}
	fputs("</figure>\n", o);
#undef SX
#undef SY
}

/* ---- sections ------------------------------------------------------------------------------- */

static const char css[] =
"body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2430;background:#f5f6f8;margin:0}"
"main{max-width:1040px;margin:0 auto;padding:24px 20px 60px}"
"h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px;border-bottom:1px solid #d8dce3;padding-bottom:4px}"
"h3{font-size:15px;margin:18px 0 6px}"
".meta{color:#5b6472;font-size:13px}.meta span{margin-right:14px;white-space:nowrap}"
".verdict{display:inline-block;padding:3px 12px;border-radius:12px;font-weight:600;color:#fff;margin-left:10px;font-size:14px;vertical-align:middle}"
".pass{background:#2e7d32}.fail{background:#c62828}"
"table{border-collapse:collapse;width:100%;background:#fff;font-size:13.5px;margin:6px 0}"
"th,td{padding:5px 9px;border-bottom:1px solid #e6e8ec;text-align:right;white-space:nowrap}"
"th:first-child,td:first-child{text-align:left}th{background:#eef0f4;font-weight:600;white-space:normal;vertical-align:bottom}"
"#expectations-table th:last-child{text-align:left}td.ok{color:#2e7d32;font-weight:600}td.bad{color:#c62828;font-weight:600}td.msg{text-align:left;white-space:normal}"
".cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #e0e3e8;border-radius:6px;padding:8px 14px;min-width:120px}"
".card b{display:block;font-size:20px}.card small{color:#5b6472}"
"figure.chart{background:#fff;border:1px solid #e0e3e8;border-radius:6px;margin:10px 0;padding:8px 10px}"
"figcaption{font-weight:600;font-size:14px;margin-bottom:4px}"
"svg.chart{width:100%;height:auto;display:block}"
"svg .grid{stroke:#e8eaee;stroke-width:1}svg .axis,svg .tick{stroke:#8a93a2;stroke-width:1}"
"svg text{font:12px system-ui,sans-serif;fill:#5b6472}svg .ylab{text-anchor:end}svg .xlab{text-anchor:middle}"
"svg .series{fill:none;stroke-width:1.6;stroke-linejoin:round}"
"svg .bar{opacity:.9}svg .val{fill:#1d2430}"
".legend{font-size:12.5px;color:#5b6472}.legend span{margin-right:14px}"
".legend i{display:inline-block;width:12px;height:3px;margin-right:5px;vertical-align:middle}"
".lossbar{display:inline-block;height:8px;background:#c62828;vertical-align:middle}"
"footer{color:#8a93a2;font-size:12px;margin-top:40px}";

static void summary(FILE *o, const json_t *r)
{
	char b[48];
	const json_t *total = get(get(r, "bench"), "total");
	fputs("<h2 id=\"summary\">Summary</h2>\n<div class=\"cards\">", o);
#define CARD(label, val) fprintf(o, "<div class=\"card\"><small>%s</small><b>%s</b></div>", label, val)
	CARD("devices", fmt_int(num(r, "devices"), b, sizeof b));
	CARD("samples", fmt_int(num(r, "samples"), b, sizeof b));
	if (total) {
		CARD("received", fmt_int(num(total, "received"), b, sizeof b));
		CARD("lost", fmt_int(num(total, "lost"), b, sizeof b));
		const json_t *lat = get(total, "latency_us");
		if (lat && num(lat, "count") > 0)
			CARD("latency p99", fmt_us(num(lat, "p99"), b, sizeof b));
	}
	snprintf(b, sizeof b, "%.2f s", num(r, "wall_time_s"));
	CARD("wall time", b);
	CARD("samples / s", fmt_int(num(r, "samples_per_s"), b, sizeof b));
#undef CARD
	fputs("</div>\n", o);

	const json_t *protos = get(get(r, "bench"), "protocols");
	if (!protos && !total)
		return;
	fputs("<table id=\"counts\"><thead><tr><th>protocol</th><th>expected</th><th>received</th><th>lost</th>"
	      "<th>loss</th><th>duplicated</th><th>out of order</th><th>wrong values</th><th>undecodable</th>"
	      "<th>unexpected</th><th>foreign</th></tr></thead><tbody>\n", o);
	const char *name;
	const json_t *p;
	for (int pass = 0; pass < 2; pass++) {
		json_t *iter = pass == 0 ? (json_t *)protos : json_pack("{s:O}", "total", total ? total : json_null());
		json_object_foreach(iter, name, p) {
			if (!json_is_object(p))
				continue;
			double expected = num(p, "expected"), lost = num(p, "lost");
			fprintf(o, "<tr%s><td>", pass ? " class=\"total\"" : "");
			esc(o, name);
			fputs("</td>", o);
			static const char *const keys[] = { "expected", "received", "lost" };
			for (int k = 0; k < 3; k++)
				fprintf(o, "<td>%s</td>", fmt_int(num(p, keys[k]), b, sizeof b));
			fprintf(o, "<td>%.3f%%</td>", expected > 0 ? lost / expected * 100 : 0);
			static const char *const keys2[] = { "duplicated", "out_of_order", "wrong_values", "undecodable",
			                                     "unexpected", "foreign" };
			for (int k = 0; k < 6; k++)
				fprintf(o, "<td>%s</td>", fmt_int(num(p, keys2[k]), b, sizeof b));
			fputs("</tr>\n", o);
		}
		if (pass == 1)
			json_decref(iter);
	}
	fputs("</tbody></table>\n", o);
}

static void expectations(FILE *o, const json_t *r)
{
	const json_t *ex = get(r, "expectations");
	if (!json_is_array(ex) || json_array_size(ex) == 0)
		return;
	fputs("<h2 id=\"expectations\">Expectations</h2>\n<table id=\"expectations-table\"><thead><tr><th>expectation</th>"
	      "<th>result</th><th>detail</th></tr></thead><tbody>\n", o);
	size_t i;
	const json_t *e;
	json_array_foreach(ex, i, e) {
		bool ok = json_is_true(get(e, "ok"));
		fputs("<tr><td>", o);
		esc(o, str(e, "name"));
		fprintf(o, "</td><td class=\"%s\">%s</td><td class=\"msg\">", ok ? "ok" : "bad", ok ? "pass" : "FAIL");
		esc(o, str(e, "message"));
		fputs("</td></tr>\n", o);
	}
	fputs("</tbody></table>\n", o);
}

static void over_time(FILE *o, const json_t *r)
{
	const json_t *s = get(r, "series");
	const json_t *sent = get(s, "sent");
	size_t n = json_array_size(sent);
	if (!n)
		return;
	double *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b),
	       *lag = malloc(n * sizeof *lag), *err = malloc(n * sizeof *err);
	if (!x || !a || !b || !lag || !err)
		goto out;
	double errsum = 0;
	for (size_t i = 0; i < n; i++) {
		x[i] = (double)i;
		a[i] = json_number_value(json_array_get(sent, i));
		b[i] = json_number_value(json_array_get(get(s, "received"), i));
		err[i] = json_number_value(json_array_get(get(s, "errors"), i));
		lag[i] = json_number_value(json_array_get(get(s, "lag_s"), i));
		errsum += err[i];
	}
	fputs("<h2 id=\"over-time\">Over time</h2>\n<p class=\"meta\">per wall second from ", o);
	esc(o, str(s, "t0"));
	fputs("</p>\n", o);
	struct line tl[3] = { { "sent", x, a, n }, { "received", x, b, n }, { "errors", x, err, n } };
	struct chart c1 = { "chart-throughput", "Throughput (messages per second)", "msg/s", X_ELAPSED, NULL, false };
	line_chart(o, &c1, tl, errsum > 0 ? 3 : 2);
	double lagmax = 0;
	for (size_t i = 0; i < n; i++)
		lagmax = fmax(lagmax, lag[i]);
	struct line ll = { "", x, lag, n };
	struct chart c2 = { "chart-lag", "Lag behind the wall clock", "s", X_ELAPSED, NULL, false };
	if (lagmax > 0 || !json_is_string(get(r, "speed")))
		line_chart(o, &c2, &ll, 1);
	else
		fputs("<p class=\"meta\" id=\"no-lag\">No lag: the run was not paced (--speed max).</p>\n", o);
out:
	free(x);
	free(a);
	free(b);
	free(lag);
	free(err);
}

static void latency(FILE *o, const json_t *r)
{
	const json_t *bench = get(r, "bench");
	const json_t *protos = get(bench, "protocols");
	static const char *const qs[] = { "p50", "p90", "p99", "p999" };
	static const char *const qlabel[] = { "p50", "p90", "p99", "p99.9" };
	const char *names[16];
	const json_t *hists[16];
	size_t n = 0;
	const char *name;
	const json_t *p;
	json_object_foreach((json_t *)protos, name, p) {
		const json_t *h = get(p, "latency_us");
		if (n < 15 && h && num(h, "count") > 0) {
			names[n] = name;
			hists[n++] = h;
		}
	}
	const json_t *th = get(get(bench, "total"), "latency_us");
	if (n != 1 && th && num(th, "count") > 0) {
		names[n] = "total";
		hists[n++] = th;
	}
	if (!n)
		return;
	double vmax = 0;
	for (size_t i = 0; i < n; i++)
		vmax = fmax(vmax, num(hists[i], "p999"));
	if (vmax <= 0)
		vmax = 1;
	const int row = 22, group = 4 * row + 18, lw = 110, bw = CHART_W - lw - 110;
	int h = (int)n * group + 10;
	fputs("<h2 id=\"latency\">Latency</h2>\n<figure class=\"chart\"><figcaption>End-to-end latency percentiles per "
	      "protocol (from the scheduled send time)</figcaption>\n", o);
	fprintf(o, "<svg id=\"chart-latency\" class=\"chart\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
	        CHART_W, h);
	for (size_t i = 0; i < n; i++) {
		int y = (int)i * group + 4;
		fprintf(o, "<text x=\"0\" y=\"%d\" style=\"font-weight:600;fill:#1d2430\">", y + 14);
		esc(o, names[i]);
		fputs("</text>\n", o);
		for (int k = 0; k < 4; k++) {
			double v = num(hists[i], qs[k]);
			char b[32];
			int yy = y + 16 + k * row;
			double w = v / vmax * bw;
			fprintf(o, "<text x=\"%d\" y=\"%d\" class=\"ylab\">%s</text>", lw - 8, yy + 13, qlabel[k]);
			fprintf(o, "<rect class=\"bar\" data-q=\"%s\" data-us=\"%.0f\" x=\"%d\" y=\"%d\" width=\"%.1f\" "
			        "height=\"%d\" fill=\"%s\"/>", qs[k], v, lw, yy, w < 1 ? 1 : w, row - 6, palette[k]);
			fprintf(o, "<text class=\"val\" x=\"%.1f\" y=\"%d\">%s</text>\n", lw + (w < 1 ? 1 : w) + 6, yy + 13,
			        fmt_us(v, b, sizeof b));
		}
	}
	fputs("</svg></figure>\n", o);
	fputs("<table id=\"latency-table\"><thead><tr><th>protocol</th><th>messages</th><th>min</th><th>mean</th>"
	      "<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody>\n", o);
	for (size_t i = 0; i < n; i++) {
		char b[32];
		fputs("<tr><td>", o);
		esc(o, names[i]);
		fprintf(o, "</td><td>%s</td>", fmt_int(num(hists[i], "count"), b, sizeof b));
		static const char *const cols[] = { "min", "mean", "p50", "p90", "p99", "p999", "max" };
		for (int k = 0; k < 7; k++)
			fprintf(o, "<td>%s</td>", fmt_us(num(hists[i], cols[k]), b, sizeof b));
		fputs("</tr>\n", o);
	}
	fputs("</tbody></table>\n", o);
}

static void loss_table(FILE *o, const json_t *protos, const char *by, const char *title, const char *id)
{
	const char *pname, *name;
	const json_t *p, *c;
	size_t rows = 0;
	json_object_foreach((json_t *)protos, pname, p)
		rows += json_object_size(get(p, by));
	if (!rows)
		return;
	fprintf(o, "<h3>%s</h3>\n<table id=\"%s\"><thead><tr><th>%s</th><th>protocol</th><th>expected</th>"
	        "<th>received</th><th>lost</th><th>loss</th><th></th><th>duplicated</th><th>out of order</th>"
	        "<th>wrong values</th></tr></thead><tbody>\n", title, id, !strcmp(by, "by_type") ? "type" : "site");
	json_object_foreach((json_t *)protos, pname, p) {
		json_object_foreach((json_t *)get(p, by), name, c) {
			char b[32];
			double e = num(c, "expected"), l = num(c, "lost"), frac = e > 0 ? l / e : 0;
			fputs("<tr><td>", o);
			esc(o, name);
			fputs("</td><td>", o);
			esc(o, pname);
			fputs("</td>", o);
			fprintf(o, "<td>%s</td>", fmt_int(e, b, sizeof b));
			fprintf(o, "<td>%s</td>", fmt_int(num(c, "received"), b, sizeof b));
			fprintf(o, "<td>%s</td>", fmt_int(l, b, sizeof b));
			fprintf(o, "<td>%.3f%%</td>", frac * 100);
			/* a bar: full width = 10 % loss or more */
			fprintf(o, "<td style=\"width:90px;text-align:left\"><svg width=\"80\" height=\"10\" "
			        "xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"80\" height=\"10\" fill=\"#eef0f4\"/>"
			        "<rect class=\"bar\" width=\"%.1f\" height=\"10\" fill=\"#c62828\"/></svg></td>",
			        l > 0 ? fmax(1, fmin(80, frac * 800)) : 0);
			fprintf(o, "<td>%s</td>", fmt_int(num(c, "duplicated"), b, sizeof b));
			fprintf(o, "<td>%s</td>", fmt_int(num(c, "out_of_order"), b, sizeof b));
			fprintf(o, "<td>%s</td></tr>\n", fmt_int(num(c, "wrong_values"), b, sizeof b));
		}
	}
	fputs("</tbody></table>\n", o);
}

static void loss(FILE *o, const json_t *r)
{
	const json_t *protos = get(get(r, "bench"), "protocols");
	if (!json_object_size(protos))
		return;
	fputs("<h2 id=\"loss\">Loss</h2>\n", o);
	loss_table(o, protos, "by_type", "By sensor type", "loss-by-type");
	loss_table(o, protos, "by_site", "By site", "loss-by-site");
}

static void signals(FILE *o, const json_t *r)
{
	const json_t *sig = get(r, "signals");
	if (!json_object_size(sig))
		return;
	const char *zone = str(get(r, "scenario"), "timezone");
	struct fb_tz *tz = *zone ? fb_tz_new(zone, 0, 0) : NULL;
	fputs("<h2 id=\"signals\">Signals</h2>\n<p class=\"meta\">A few devices of each type over the run, in "
	      "virtual time", o);
	if (tz) {
		fputs(" (", o);
		esc(o, zone);
		fputs(")", o);
	} else {
		fputs(" (UTC)", o);
	}
	fputs(".</p>\n", o);
	const char *type;
	const json_t *s;
	json_object_foreach((json_t *)sig, type, s) {
		const json_t *devs = get(s, "devices"), *pts = get(s, "points");
		size_t nd = json_array_size(devs);
		if (nd > 8)
			nd = 8;
		struct line lines[8];
		size_t nl = 0;
		for (size_t d = 0; d < nd; d++) {
			const json_t *p = json_array_get(pts, d);
			size_t np = json_array_size(p);
			if (!np)
				continue;
			double *x = malloc(np * sizeof *x), *y = malloc(np * sizeof *y);
			if (!x || !y) {
				free(x);
				free(y);
				continue;
			}
			for (size_t i = 0; i < np; i++) {
				x[i] = json_number_value(json_array_get(json_array_get(p, i), 0));
				y[i] = json_number_value(json_array_get(json_array_get(p, i), 1));
			}
			lines[nl++] = (struct line){ json_string_value(json_array_get(devs, d)), x, y, np };
		}
		char id[96], title[160];
		snprintf(id, sizeof id, "signal-%s", type);
		snprintf(title, sizeof title, "%s: %s%s%s%s", type, str(s, "field"), *str(s, "unit") ? " (" : "",
		         str(s, "unit"), *str(s, "unit") ? ")" : "");
		struct chart c = { id, title, str(s, "unit"), X_CLOCK, tz, true };
		if (nl)
			line_chart(o, &c, lines, nl);
		for (size_t i = 0; i < nl; i++) {
			free(lines[i].x);
			free(lines[i].y);
		}
	}
	fb_tz_free(tz);
}

int fb_html_write(const json_t *r, FILE *o)
{
	const json_t *sc = get(r, "scenario");
	const json_t *ex = get(r, "expectations");
	size_t failed = 0, i;
	const json_t *e;
	json_array_foreach(ex, i, e)
		failed += !json_is_true(get(e, "ok"));
	int code = (int)num(r, "exit_code");
	bool pass = failed == 0 && code == 0;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>fleetbench: ", o);
	esc(o, str(sc, "name"));
	fprintf(o, "</title>\n<style>%s</style></head>\n<body><main>\n", css);
	fputs("<h1>", o);
	esc(o, str(sc, "name"));
	fprintf(o, "<span id=\"verdict\" class=\"verdict %s\">%s</span></h1>\n", pass ? "pass" : "fail",
	        pass ? "PASS" : failed ? "FAIL" : "ERROR");
	fputs("<p class=\"meta\">", o);
	fputs("<span>seed ", o);
	esc(o, str(r, "seed"));
	fputs("</span><span>", o);
	const json_t *sh = get(r, "shard");
	if (get(sh, "merged"))
		fprintf(o, "%zu of %.0f shards merged", json_array_size(get(sh, "merged")), num(sh, "count"));
	else if (num(sh, "count") > 1)
		fprintf(o, "shard %.0f/%.0f", num(sh, "index"), num(sh, "count"));
	else
		fputs("single process", o);
	fputs("</span><span>", o);
	esc(o, str(r, "start"));
	fputs(" → ", o);
	esc(o, str(r, "end"));
	fputs("</span><span>speed ", o);
	const json_t *speed = get(r, "speed");
	if (json_is_string(speed))
		esc(o, json_string_value(speed));
	else
		fprintf(o, "x%g", json_number_value(speed));
	fprintf(o, "</span><span>exit code %d</span></p>\n", code);
	summary(o, r);
	expectations(o, r);
	over_time(o, r);
	latency(o, r);
	loss(o, r);
	signals(o, r);
	fputs("<footer>fleetbench ", o);
	esc(o, str(r, "fleetbench"));
	fputs(" · ", o);
	esc(o, str(sc, "path"));
	fputs("</footer>\n</main></body></html>\n", o);
	if (ferror(o))
		return fb_error("cannot write the HTML report: %s", strerror(errno));
	return 0;
}

int fb_html_write_file(const json_t *report, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return fb_error("cannot write the HTML report '%s': %s", path, strerror(errno));
	int rc = fb_html_write(report, f);
	if (fclose(f) != 0 && rc == 0)
		return fb_error("cannot write the HTML report '%s': %s", path, strerror(errno));
	return rc;
}
