/* Shared by the libFuzzer harnesses (fuzz/build.mk): an invariant check that aborts, so a
 * violated promise of the code under test is a finding like a crash, both under libFuzzer and
 * when `make test` replays the corpus (fuzz/replay.h). */
#ifndef FB_FUZZ_H
#define FB_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FB_FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

#endif
