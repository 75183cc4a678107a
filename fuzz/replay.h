/* Replays a libFuzzer harness's corpus under `make test` (and SANITIZER=address,undefined): a
 * test_fuzz_<name>.c includes its fuzz_<name>.c and this header, then calls
 * fb_fuzz_replay_main("<name>"). Every file of fixtures/fuzz/<name>/ (the seeds) and of
 * fixtures/fuzz/regressions/<name>/ (inputs that once crashed, hung or tripped a sanitizer) goes
 * through LLVMFuzzerTestOneInput() in its own heap block of exactly its size, so an overread of
 * one byte is caught. The harness itself asserts its target's invariants (it aborts on a
 * violation), so the test fails on anything the fuzzer would flag. */
#ifndef FB_FUZZ_REPLAY_H
#define FB_FUZZ_REPLAY_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs every regular file of dir; returns how many, or -1 when dir does not exist. */
static int fb_fuzz_replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int count = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[1024];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t size = (size_t)st.st_size;
		uint8_t *buf = malloc(size ? size : 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, size, f), size);
		fclose(f);
		/* Named in the log, so a failure points at its file. */
		print_message("replay %s\n", path);
		LLVMFuzzerTestOneInput(buf, size);
		free(buf);
		count++;
	}
	closedir(d);
	return count;
}

static const char *fb_fuzz_name;

static void fb_fuzz_test_seeds(void **state)
{
	char dir[256];
	snprintf(dir, sizeof dir, "fixtures/fuzz/%s", fb_fuzz_name);
	/* A harness without seeds would only replay nothing: the corpus is part of the harness. */
	assert_true(fb_fuzz_replay_dir(dir) > 0);
}

static void fb_fuzz_test_regressions(void **state)
{
	char dir[256];
	snprintf(dir, sizeof dir, "fixtures/fuzz/regressions/%s", fb_fuzz_name);
	fb_fuzz_replay_dir(dir);    /* may not exist: nothing found yet */
}

static inline int fb_fuzz_replay_main(const char *name)
{
	fb_fuzz_name = name;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fb_fuzz_test_seeds),
		cmocka_unit_test(fb_fuzz_test_regressions),
	};
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}

#endif
