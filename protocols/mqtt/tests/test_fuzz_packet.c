/* Replays the MQTT packet fuzz corpus and its regressions (fuzz/replay.h). */
#include "protocols/mqtt/tests/fuzz_packet.c"
#include "fuzz/replay.h"

int main(void)
{
	return fb_fuzz_replay_main("packet");
}
