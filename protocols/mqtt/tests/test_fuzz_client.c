/* Replays the MQTT client session fuzz corpus and its regressions (fuzz/replay.h). */
#include "protocols/mqtt/tests/fuzz_client.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("client");
}
