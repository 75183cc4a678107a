/* Shared pieces of the command line: option values, exit codes, version. */
#ifndef FB_CLI_H
#define FB_CLI_H
#include <stdbool.h>
#include <stdint.h>
#include "sim/fbtime.h"
#include "sim/scenario.h"

#define FB_VERSION "0.1.0"

enum fb_exit {
	FB_EXIT_OK = 0,
	FB_EXIT_RUNTIME = 1,      /* runtime failure */
	FB_EXIT_USAGE = 2,        /* usage or scenario error */
	FB_EXIT_EXPECT = 3        /* expectations not met */
};

enum fb_speed_mode { FB_SPEED_MAX, FB_SPEED_PACED };

struct fb_run_opts {
	const char *scenario;
	bool seed_set;
	uint64_t seed;
	bool start_set, start_now;
	fb_time_us start;
	bool duration_set;
	fb_time_us duration;
	enum fb_speed_mode speed_mode;
	double speed;                /* paced: virtual seconds per wall second (realtime = 1) */
	fb_time_us max_lag;          /* 0: no bound */
	uint32_t shard_index, shard_count;
	int shard_by;                   /* --shard-by: enum fb_shard_by, or -1 (as the transports need) */
	const char *out;             /* --out FILE or "-" */
	const char *report;
	const char *state_file;
	bool quiet;
	/* the bench (issue 6) */
	bool local;                  /* --local: start the peers here and reconcile end to end */
	const char *collect_url;     /* --collect URL */
	const char *collect_topic;   /* --collect-topic FILTER */
	const char *collect_lorawan_url;    /* --collect-lorawan URL (a network server's integration) */
	const char *collect_lorawan_topic;  /* --collect-lorawan-topic FILTER */
	const char *collect_ca, *collect_cert, *collect_key;   /* --collect-ca/-cert/-key FILE */
	fb_time_us grace;            /* --grace D: collectors wait this long for stragglers */
	bool start_at_set;
	fb_time_us start_at;         /* --start-at RFC3339: wall time the run begins (shards align) */
	const char *junit, *html;    /* --junit FILE, --html FILE */
	int metrics_port;            /* --metrics-port P, 0: none */
};

/* Each prints "fleetbench: error: ..." and returns -1 on a bad value. */
int fb_cli_seed(const char *text, uint64_t *out);
int fb_cli_duration(const char *opt, const char *text, fb_time_us *out);
int fb_cli_start(const char *text, bool *now, fb_time_us *out);
int fb_cli_speed(const char *text, enum fb_speed_mode *mode, double *speed);
int fb_cli_shard(const char *text, uint32_t *i, uint32_t *n);
/* --shard-by: "site" or "device" (sim/scenario.h enum fb_shard_by); 0, or -1 after a message. */
int fb_cli_shard_by(const char *text, int *out);
/* Applies --shard-by (BY: -1 = as the transports need, set by fb_cli_load) to sc. */
void fb_cli_apply_shard_by(struct fb_scenario *sc, int by);

/* The loader options every command uses: transport and codec names compiled in. */
const struct fb_load_opts *fb_cli_load_opts(void);
/* Loads the scenario and checks what the protocol layers check before a run (a fleet's codec
 * belongs to its transport). NULL after errors. */
struct fb_scenario *fb_cli_load(const char *path);

int fb_cmd_run(int argc, char **argv);
int fb_cmd_check(int argc, char **argv);
int fb_cmd_types(int argc, char **argv);
int fb_cmd_keys(int argc, char **argv);
int fb_cmd_regmap(int argc, char **argv);
int fb_cmd_decoder(int argc, char **argv);

#endif
