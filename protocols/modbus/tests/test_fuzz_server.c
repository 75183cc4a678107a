/* Replays the Modbus server session fuzz corpus and its regressions (fuzz/replay.h). */
#include "protocols/modbus/tests/fuzz_server.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("server");
}
