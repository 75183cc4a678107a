/* Replays the Modbus framing fuzz corpus and its regressions (fuzz/replay.h). */
#include "protocols/modbus/tests/fuzz_mbap.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("mbap");
}
