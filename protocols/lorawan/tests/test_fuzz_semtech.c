/* Replays the Semtech UDP fuzz corpus and its regressions (fuzz/replay.h). */
#include "protocols/lorawan/tests/fuzz_semtech.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("semtech");
}
