/* Replays the scenario load and transports create fuzz corpus and its regressions (fuzz/replay.h). */
#include "harness/tests/fuzz_load.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("load");
}
