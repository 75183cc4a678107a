/* Replays the LoRaWAN collector PUSH_DATA fuzz corpus and its regressions (fuzz/replay.h). */
#include "harness/tests/fuzz_push.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("push");
}
