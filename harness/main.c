/* fleetbench: the command line. */
#include <stdio.h>
#include <string.h>
#include "harness/cli.h"
#include "harness/report.h"
#include "harness/validate.h"
#include "sim/log.h"

static const char usage[] =
"usage: fleetbench <command> [options]\n"
"\n"
"A deterministic smart-city fleet simulator and test bench.\n"
"\n"
"commands\n"
"  run SCENARIO     run a scenario: generate the fleet's samples in virtual time and send them\n"
"  check SCENARIO   validate a scenario and print its plan; runs nothing\n"
"  types [TYPE]     list the built-in sensor types with their fields and parameters\n"
"  keys SCENARIO    LoRaWAN identities and keys to provision the network server (csv,\n"
"                   chirpstack, tts)\n"
"  regmap TYPE      the Modbus register map a simulated device serves (md, csv)\n"
"  decoder TYPE     the JavaScript payload decoder for the LoRaWAN binary payload\n"
"  report merge|html  merge shard reports exactly; render a report as an HTML page\n"
"  validate         play the platform for a real device (--mqtt, --lorawan-listen, --modbus)\n"
"                   and check its traffic against its type's profile: a conformance report\n"
"\n"
"  fleetbench <command> --help   help on one command\n"
"  fleetbench --version          version\n"
"\n"
"Exit codes: 0 ok, 1 runtime failure, 2 usage or scenario error, 3 expectations not met.\n";

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return FB_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return FB_EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("fleetbench %s\n", FB_VERSION);
		return FB_EXIT_OK;
	}
	static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
		{ "run", fb_cmd_run }, { "check", fb_cmd_check }, { "types", fb_cmd_types },
		{ "keys", fb_cmd_keys }, { "regmap", fb_cmd_regmap }, { "decoder", fb_cmd_decoder },
		{ "report", fb_cmd_report }, { "validate", fb_cmd_validate },
	};
	const char *names[sizeof cmds / sizeof cmds[0] + 1];
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
		names[i] = cmds[i].name;
	}
	names[sizeof cmds / sizeof cmds[0]] = NULL;
	const char *s = fb_suggest(cmd, names);
	if (s)
		fb_error("unknown command '%s' (did you mean '%s'?)", cmd, s);
	else
		fb_error("unknown command '%s'", cmd);
	fputs("try 'fleetbench --help'\n", stderr);
	return FB_EXIT_USAGE;
}
