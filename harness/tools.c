/* `fleetbench keys`, `regmap` and `decoder`: what integrators provision on their side before
 * a run (network-server keys, Modbus register maps, LoRaWAN payload decoders). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness/cli.h"
#include "protocols/codecs/binary.h"
#include "protocols/lorawan/keys.h"
#include "protocols/lorawan/lorawan.h"
#include "protocols/modbus/regmap.h"
#include "sim/log.h"

static const char keys_usage[] =
"usage: fleetbench keys SCENARIO [--format csv|chirpstack|tts]\n"
"\n"
"Writes the identities and keys of the scenario's LoRaWAN devices to stdout, to bulk-provision\n"
"the network server before a run. Keys derive from the seed and the device index unless the\n"
"scenario's transports.lorawan.keys names a file. csv columns:\n"
"device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key (hex; ABP columns for ABP).\n"
"\n"
"  --format F   csv (default), chirpstack or tts\n"
"  --seed N     override the scenario's seed\n";

static const char regmap_usage[] =
"usage: fleetbench regmap TYPE [--format md|csv] [--order ABCD|CDAB|BADC|DCBA]\n"
"\n"
"Prints the Modbus register map a simulated device of TYPE serves: holding and input\n"
"registers, coils and discrete inputs, with types, word order, scale and access.\n";

static const char decoder_usage[] =
"usage: fleetbench decoder TYPE\n"
"\n"
"Prints the JavaScript payload decoder (decodeUplink({bytes, fPort})) for TYPE's compact\n"
"binary LoRaWAN payload, for ChirpStack or The Things Stack.\n";

static int bad_usage(const char *cmd, const char *fmt, const char *arg)
{
	fb_error(fmt, arg);
	fprintf(stderr, "try 'fleetbench %s --help'\n", cmd);
	return FB_EXIT_USAGE;
}

/* TYPE among the built-ins, with a suggestion. */
static const struct fb_model *find_type(const char *name)
{
	const struct fb_model *m = fb_model_find(name);
	if (m)
		return m;
	const char *names[64];
	size_t n = 0;
	for (; fb_builtin_models[n] && n < 63; n++)
		names[n] = fb_builtin_models[n]->name;
	names[n] = NULL;
	const char *s = fb_suggest(name, names);
	if (s)
		fb_error("unknown sensor type '%s' (did you mean '%s'?)", name, s);
	else
		fb_error("unknown sensor type '%s' (see 'fleetbench types')", name);
	return NULL;
}

int fb_cmd_keys(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int format = FB_LW_KEYS_CSV, c;
	uint64_t seed = 0;
	bool seed_set = false;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'f') {
			if ((format = fb_lw_keys_format_parse(optarg)) < 0)
				return bad_usage("keys", "invalid --format '%s': expected csv, chirpstack or tts", optarg);
		} else if (c == 's') {
			if (fb_cli_seed(optarg, &seed))
				return FB_EXIT_USAGE;
			seed_set = true;
		} else if (c == 'h') {
			fputs(keys_usage, stdout);
			return FB_EXIT_OK;
		} else {
			return bad_usage("keys", c == ':' ? "option '%s' needs a value" : "unknown option '%s'",
			                 argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return bad_usage("keys", optind >= argc ? "missing scenario file%s" : "unexpected argument '%s'",
		                 optind >= argc ? "" : argv[optind + 1]);
	struct fb_scenario *sc = fb_cli_load(argv[optind]);
	if (!sc)
		return FB_EXIT_USAGE;
	if (seed_set)
		sc->seed = seed;
	int rc = fb_lw_keys_command(sc, (enum fb_lw_keys_format)format, stdout);
	fb_scenario_free(sc);
	return rc ? FB_EXIT_USAGE : FB_EXIT_OK;
}

int fb_cmd_regmap(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "order", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum fb_regmap_format fmt = FB_REGMAP_MD;
	enum fb_mb_order order = FB_MB_ABCD;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'f') {
			if (!strcmp(optarg, "md"))
				fmt = FB_REGMAP_MD;
			else if (!strcmp(optarg, "csv"))
				fmt = FB_REGMAP_CSV;
			else
				return bad_usage("regmap", "invalid --format '%s': expected md or csv", optarg);
		} else if (c == 'o') {
			if (fb_mb_order_parse(optarg, &order))
				return bad_usage("regmap", "invalid --order '%s': expected ABCD, CDAB, BADC or DCBA", optarg);
		} else if (c == 'h') {
			fputs(regmap_usage, stdout);
			return FB_EXIT_OK;
		} else {
			return bad_usage("regmap", c == ':' ? "option '%s' needs a value" : "unknown option '%s'",
			                 argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return bad_usage("regmap", optind >= argc ? "missing sensor type%s" : "unexpected argument '%s'",
		                 optind >= argc ? "" : argv[optind + 1]);
	const struct fb_model *m = find_type(argv[optind]);
	if (!m)
		return FB_EXIT_USAGE;
	struct fb_regmap *map = fb_regmap_default(m, order);
	if (!map)
		return fb_error("cannot build the register map of '%s'", m->name), FB_EXIT_RUNTIME;
	int rc = fb_regmap_print(map, fmt, stdout);
	fb_regmap_free(map);
	return rc ? FB_EXIT_RUNTIME : FB_EXIT_OK;
}

int fb_cmd_decoder(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(decoder_usage, stdout);
		return FB_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return bad_usage("decoder", argc < 2 ? "missing sensor type%s" : "unexpected argument '%s'",
		                 argc < 2 ? "" : argv[argc - 1]);
	const struct fb_model *m = find_type(argv[1]);
	if (!m)
		return FB_EXIT_USAGE;
	size_t cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t n = buf ? fb_binary_js_decoder(m, buf, cap) : -1;
	if (n < 0) {
		free(buf);
		return fb_error("cannot write the decoder of '%s'", m->name), FB_EXIT_RUNTIME;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	free(buf);
	return FB_EXIT_OK;
}
