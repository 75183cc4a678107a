/* Conformance profiles (harness/profile.h). */
#include <string.h>
#include "harness/profile.h"
#include "sim/log.h"

static const char *const kind_names[] = { "none", "total", "daily", "yearly", NULL };

const char *fb_counter_kind_name(enum fb_field_counter k)
{
	return (unsigned)k < 4 ? kind_names[k] : "none";
}

int fb_counter_kind_parse(const char *name)
{
	for (int i = 0; kind_names[i]; i++)
		if (!strcmp(kind_names[i], name))
			return i;
	return -1;
}

void fb_profile_init(struct fb_profile *p, const struct fb_model *m)
{
	memset(p, 0, sizeof *p);
	p->model = m;
	p->interval_us = m->default_interval_us;
	p->early_reports = m->next_time != NULL;
	p->tolerance = FB_PROFILE_TOLERANCE;
	p->skew_us = FB_PROFILE_SKEW_US;
	p->timezone = FB_PROFILE_TIMEZONE;
	for (unsigned i = 0; i < m->nfields && i < FB_MAX_FIELDS; i++)
		p->counter[i] = m->fields[i].counter;
}

int fb_profile_set_counter(struct fb_profile *p, const char *spec)
{
	char name[64];
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (len == 0 || len >= sizeof name)
		return fb_error("invalid --counter '%s': expected FIELD or FIELD:total|daily|yearly|none", spec);
	memcpy(name, spec, len);
	name[len] = '\0';
	int field = fb_model_field_index(p->model, name);
	if (field < 0) {
		const char *names[FB_MAX_FIELDS + 1];
		unsigned n = 0;
		for (; n < p->model->nfields && n < FB_MAX_FIELDS; n++)
			names[n] = p->model->fields[n].name;
		names[n] = NULL;
		const char *s = fb_suggest(name, names);
		if (s)
			return fb_error("unknown field '%s' in --counter for type '%s' (did you mean '%s'?)",
			                name, p->model->name, s);
		return fb_error("unknown field '%s' in --counter for type '%s'", name, p->model->name);
	}
	int kind = colon ? fb_counter_kind_parse(colon + 1) : FB_COUNTER_TOTAL;
	if (kind < 0)
		return fb_error("invalid counter kind '%s' in --counter: expected total, daily, yearly or none",
		                colon + 1);
	p->counter[field] = (enum fb_field_counter)kind;
	return 0;
}

bool fb_profile_has_counters(const struct fb_profile *p)
{
	for (unsigned i = 0; i < p->model->nfields && i < FB_MAX_FIELDS; i++)
		if (p->counter[i] != FB_COUNTER_NONE)
			return true;
	return false;
}

void fb_profile_print(const struct fb_profile *p, FILE *out)
{
	const struct fb_model *m = p->model;
	char iv[32], skew[32];
	fb_format_duration(p->interval_us, iv, sizeof iv);
	fb_format_duration(p->skew_us, skew, sizeof skew);
	fprintf(out, "profile '%s': a report every %s (± %g %%%s), timestamps at most %s ahead\n",
	        m->name, iv, p->tolerance * 100, p->early_reports ? ", event reports may come early" : "",
	        skew);
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		fprintf(out, "  %-18s %-8s %.10g..%.10g", f->name, f->unit ? f->unit : "", f->min, f->max);
		if (f->kind == FB_FIELD_NUMBER)
			fprintf(out, " step %g", f->resolution);
		else if (f->kind == FB_FIELD_INTEGER)
			fputs(" integer", out);
		else if (f->kind == FB_FIELD_BOOL)
			fputs(" bool", out);
		else
			fputs(" enum", out);
		if (i < FB_MAX_FIELDS && p->counter[i] != FB_COUNTER_NONE)
			fprintf(out, ", counter (%s)", p->counter[i] == FB_COUNTER_DAILY ? "resets at local midnight" : p->counter[i] == FB_COUNTER_YEARLY ? "resets at local new year" : "never falls");
		fputc('\n', out);
	}
}
