/* `fleetbench check` and `fleetbench types`: validate and print the plan; list the types. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness/cli.h"
#include "sim/fmt.h"
#include "sim/log.h"

static const char check_usage[] =
"usage: fleetbench check SCENARIO [--shard i/N] [--shard-by site|device]\n"
"\n"
"Validates the scenario, then prints the plan: devices per type, site and transport, samples\n"
"per simulated hour, and this shard's segment of the devices. Runs nothing.\n"
"\n"
"  --shard i/N   show segment i of N (default 0/1)\n"
"  --shard-by site|device\n"
"                how shards cut the devices: by site (the default when there are some)\n"
"                never through a site's LoRaWAN or per-site Sparkplug devices, as run does\n"
"  -h, --help    this help\n";

static const char types_usage[] =
"usage: fleetbench types [TYPE]\n"
"\n"
"Lists every built-in sensor type with its fields (unit, range, resolution), its default\n"
"interval and its parameters; with TYPE, only that one.\n";

/* Samples per simulated hour of one device of the fleet (mean over its interval range). */
static double per_hour(const struct fb_fleet *f)
{
	if (f->interval_max_us > f->interval_us) {
		double lo = (double)f->interval_us / 1e6, hi = (double)f->interval_max_us / 1e6;
		return 3600.0 * log(hi / lo) / (hi - lo);     /* mean of 1/x over [lo, hi] */
	}
	return 3600.0 * 1e6 / (double)f->interval_us;
}

struct tally { const char *key; uint64_t devices; double per_hour; };

static void add(struct tally *t, size_t *n, const char *key, uint64_t devices, double ph)
{
	size_t i = 0;
	while (i < *n && strcmp(t[i].key, key))
		i++;
	if (i == *n)
		t[(*n)++] = (struct tally){ key, 0, 0 };
	t[i].devices += devices;
	t[i].per_hour += ph;
}

static void print_tally(const char *title, struct tally *t, size_t n)
{
	printf("%s\n", title);
	for (size_t i = 0; i < n; i++)
		printf("  %-28s %8llu devices %12.0f samples/h\n", t[i].key,
		       (unsigned long long)t[i].devices, t[i].per_hour);
}

int fb_cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "shard", required_argument, NULL, 's' },
		{ "shard-by", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	uint32_t si = 0, sn = 1;
	int c, by = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 's') {
			if (fb_cli_shard(optarg, &si, &sn))
				return FB_EXIT_USAGE;
		} else if (c == 'b') {
			if (fb_cli_shard_by(optarg, &by))
				return FB_EXIT_USAGE;
		} else if (c == 'h') {
			fputs(check_usage, stdout);
			return FB_EXIT_OK;
		} else {
			fb_error(c == ':' ? "option '%s' needs a value" : "unknown option '%s'", argv[optind - 1]);
			fputs("try 'fleetbench check --help'\n", stderr);
			return FB_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fb_error(optind >= argc ? "missing scenario file" : "unexpected argument '%s'",
		         optind < argc ? argv[optind + 1] : "");
		fputs("try 'fleetbench check --help'\n", stderr);
		return FB_EXIT_USAGE;
	}
	struct fb_scenario *sc = fb_cli_load(argv[optind]);
	if (!sc)
		return FB_EXIT_USAGE;
	fb_cli_apply_shard_by(sc, by);
	uint64_t from, to;
	fb_scenario_segment(sc, si, sn, &from, &to);
	char start[25], dur[32];
	if (sc->start_now)
		strcpy(start, "now");
	else
		fb_format_iso_ms(sc->start, start);
	fb_format_duration(sc->duration, dur, sizeof dur);
	printf("scenario '%s' (%s): valid\n", sc->name, sc->path);
	printf("  seed %llu, start %s, duration %s, time zone %s\n", (unsigned long long)sc->seed, start,
	       dur, sc->timezone);
	printf("  %llu devices in %zu fleets on %zu sites\n", (unsigned long long)sc->ndevices,
	       sc->nfleets, sc->nsites);
	printf("  shard %u/%u (by %s): devices [%llu, %llu), %llu devices\n", si, sn,
	       sc->shard_by == FB_SHARD_BY_SITE ? "site" : "device", (unsigned long long)from,
	       (unsigned long long)to, (unsigned long long)(to - from));
	size_t nf = sc->nfleets ? sc->nfleets : 1;
	struct tally *types = calloc(nf, sizeof *types), *sites = calloc(nf, sizeof *sites),
	             *trs = calloc(nf, sizeof *trs);
	size_t nt = 0, ns = 0, ntr = 0;
	double total = 0;
	printf("\nfleets (this shard)\n");
	printf("  %-3s %-20s %-26s %8s %12s  %-16s %s\n", "#", "type", "site", "devices", "interval",
	       "transport", "codec");
	for (size_t i = 0; types && sites && trs && i < sc->nfleets; i++) {
		const struct fb_fleet *f = &sc->fleets[i];
		uint64_t lo = f->first > from ? f->first : from;
		uint64_t hi = f->first + f->count < to ? f->first + f->count : to;
		uint64_t n = hi > lo ? hi - lo : 0;
		double ph = per_hour(f) * (double)n;
		total += ph;
		char iv[80], a[32], b[32];
		fb_format_duration(f->interval_us, a, sizeof a);
		if (f->interval_max_us > f->interval_us) {
			fb_format_duration(f->interval_max_us, b, sizeof b);
			snprintf(iv, sizeof iv, "%s..%s", a, b);
		} else {
			snprintf(iv, sizeof iv, "%s", a);
		}
		printf("  %-3zu %-20s %-26s %8llu %12s  %-16s %s\n", i, f->model->name, f->site->id,
		       (unsigned long long)n, iv, f->transport ? f->transport : "-", f->codec ? f->codec : "-");
		add(types, &nt, f->model->name, n, ph);
		add(sites, &ns, f->site->id, n, ph);
		add(trs, &ntr, f->transport ? f->transport : "(trace only)", n, ph);
	}
	printf("\n");
	print_tally("by type", types, nt);
	print_tally("by site", sites, ns);
	print_tally("by transport", trs, ntr);
	printf("\nsamples per simulated hour: %.0f (about %.0f over the run)\n", total,
	       total * (double)sc->duration / 3600e6);
	free(types);
	free(sites);
	free(trs);
	fb_scenario_free(sc);
	return FB_EXIT_OK;
}

static void print_type(const struct fb_model *m)
{
	char iv[32];
	fb_format_duration(m->default_interval_us, iv, sizeof iv);
	printf("%s — %s\n", m->name, m->description ? m->description : "");
	printf("  default interval %s", iv);
	if (m->fiware_type)
		printf(", FIWARE %s", m->fiware_type);
	printf("\n  fields\n");
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct fb_field *f = &m->fields[i];
		char lo[32], hi[32], res[32];
		int dec = f->kind == FB_FIELD_NUMBER ? fb_fmt_decimals(f->resolution) : 0;
		lo[fb_fmt_fixed(f->min, dec, lo)] = 0;
		hi[fb_fmt_fixed(f->max, dec, hi)] = 0;
		res[fb_fmt_fixed(f->resolution, dec, res)] = 0;
		printf("    %-20s ", f->name);
		switch (f->kind) {
		case FB_FIELD_BOOL: printf("%-10s %s", "bool", ""); break;
		case FB_FIELD_ENUM:
			printf("%-10s ", "enum");
			for (size_t k = 0; f->enum_names && f->enum_names[k]; k++)
				printf("%s%s", k ? "|" : "", f->enum_names[k]);
			break;
		case FB_FIELD_INTEGER: printf("%-10s %s..%s", f->unit ? f->unit : "", lo, hi); break;
		default: printf("%-10s %s..%s step %s", f->unit ? f->unit : "", lo, hi, res); break;
		}
		printf("%s\n", f->writable ? "  (writable)" : "");
	}
	if (m->params && m->params->name) {
		printf("  params\n");
		for (const struct fb_param *p = m->params; p->name; p++) {
			printf("    %-20s ", p->name);
			switch (p->kind) {
			case FB_PARAM_ENUM:
				for (size_t k = 0; p->choices && p->choices[k]; k++)
					printf("%s%s", k ? "|" : "", p->choices[k]);
				printf(" (default %s)", p->choices ? p->choices[(int)p->def] : "?");
				break;
			case FB_PARAM_BOOL: printf("bool (default %s)", p->def ? "true" : "false"); break;
			case FB_PARAM_DURATION: {
				char d[32];
				fb_format_duration((fb_time_us)(p->def * 1e6), d, sizeof d);
				printf("duration (default %s)", d);
				break;
			}
			default: printf("number (default %g)", p->def); break;
			}
			if (p->doc)
				printf(": %s", p->doc);
			printf("\n");
		}
	}
}

int fb_cmd_types(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(types_usage, stdout);
		return FB_EXIT_OK;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fb_error(argc > 2 ? "unexpected argument '%s'" : "unknown option '%s'", argv[argc > 2 ? 2 : 1]);
		fputs("try 'fleetbench types --help'\n", stderr);
		return FB_EXIT_USAGE;
	}
	if (argc == 2) {
		const struct fb_model *m = fb_model_find(argv[1]);
		if (!m) {
			const char *names[64];
			size_t n = 0;
			for (; fb_builtin_models[n] && n < 63; n++)
				names[n] = fb_builtin_models[n]->name;
			names[n] = NULL;
			const char *s = fb_suggest(argv[1], names);
			if (s)
				fb_error("unknown sensor type '%s' (did you mean '%s'?)", argv[1], s);
			else
				fb_error("unknown sensor type '%s'", argv[1]);
			return FB_EXIT_USAGE;
		}
		print_type(m);
		return FB_EXIT_OK;
	}
	for (size_t i = 0; fb_builtin_models[i]; i++) {
		if (i)
			printf("\n");
		print_type(fb_builtin_models[i]);
	}
	return FB_EXIT_OK;
}
