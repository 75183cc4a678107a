/* Replays the scenario fuzz corpus and its regressions (fuzz/replay.h). */
#include "sim/tests/fuzz_scenario.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("scenario");
}
