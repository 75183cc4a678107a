/* Test helper: captures what a call writes on stderr (fd 2), to assert exact error messages. */
#ifndef FB_TEST_CAPTURE_H
#define FB_TEST_CAPTURE_H
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct capture {
	FILE *tmp;
	int saved_fd;
	char text[16384];
};

static inline void capture_begin(struct capture *c)
{
	fflush(stderr);
	c->tmp = tmpfile();
	c->saved_fd = dup(2);
	dup2(fileno(c->tmp), 2);
}

/* Restores stderr and returns what was written (NUL-terminated, truncated to the buffer). */
static inline const char *capture_end(struct capture *c)
{
	fflush(stderr);
	dup2(c->saved_fd, 2);
	close(c->saved_fd);
	rewind(c->tmp);
	size_t n = fread(c->text, 1, sizeof(c->text) - 1, c->tmp);
	c->text[n] = '\0';
	fclose(c->tmp);
	return c->text;
}

#endif
