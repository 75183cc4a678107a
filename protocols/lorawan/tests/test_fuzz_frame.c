/* Replays the LoRaWAN frame fuzz corpus and its regressions (fuzz/replay.h). */
#include "protocols/lorawan/tests/fuzz_frame.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("frame");
}
