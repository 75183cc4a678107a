/* Replays the payload decoder fuzz corpus and its regressions (fuzz/replay.h). */
#include "protocols/codecs/tests/fuzz_codecs.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("codecs");
}
