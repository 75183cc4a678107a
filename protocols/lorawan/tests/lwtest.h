/* Shared helpers for the LoRaWAN unit tests: hex, the fixture-block reader and a loopback UDP
 * socket. Header-only, static functions, so each test stays one file with its own main(). */
#ifndef FB_LW_TEST_H
#define FB_LW_TEST_H
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define LW_MAX_FIELDS 12

struct lw_block {
	int line;                          /* where the block starts in the fixture */
	int n;
	char name[LW_MAX_FIELDS][24];
	char value[LW_MAX_FIELDS][512];
};

static inline int lw_hexval(int ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	return -1;
}

/* Hex (spaces ignored) into buf; returns the byte count, or -1 on bad hex or overflow. */
static inline int lw_unhex(const char *s, unsigned char *buf, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *s; s++) {
		if (isspace((unsigned char)*s))
			continue;
		int v = lw_hexval((unsigned char)*s);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
		} else {
			if (n >= cap)
				return -1;
			buf[n++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	return hi < 0 ? (int)n : -1;
}

static inline const char *lw_get(const struct lw_block *b, const char *name)
{
	for (int i = 0; i < b->n; i++)
		if (!strcmp(b->name[i], name))
			return b->value[i];
	return NULL;
}

/* Reads the next block ("name: value" lines up to a blank line; '#' lines skipped). Returns 1,
 * or 0 at end of file. */
static inline int lw_next_block(FILE *f, int *lineno, struct lw_block *b)
{
	char line[1024];
	memset(b, 0, sizeof(*b));
	while (fgets(line, sizeof(line), f)) {
		(*lineno)++;
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '#')
			continue;
		if (!line[0]) {
			if (b->n)
				return 1;
			continue;
		}
		char *colon = strchr(line, ':');
		if (!colon || b->n == LW_MAX_FIELDS) {
			fprintf(stderr, "fixture line %d: bad line '%s'\n", *lineno, line);
			exit(1);
		}
		*colon = 0;
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		if (!b->n)
			b->line = *lineno;
		if (strlen(line) >= sizeof(b->name[0]) || strlen(v) >= sizeof(b->value[0])) {
			fprintf(stderr, "fixture line %d: too long\n", *lineno);
			exit(1);
		}
		memcpy(b->name[b->n], line, strlen(line) + 1);
		memcpy(b->value[b->n], v, strlen(v) + 1);
		b->n++;
	}
	return b->n > 0;
}

static inline FILE *lw_open_fixture(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "fixtures/lorawan/%s", name);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot open fixture '%s' (run from the repository root)\n", path);
		exit(1);
	}
	return f;
}

/* A UDP socket bound to a port the kernel chooses on loopback (the network server's side of the
 * gateway tests), its address in *addr; -1 when it cannot be had. */
static inline int lw_udp_loopback(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(*addr);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) || getsockname(fd, (struct sockaddr *)addr, &al))
		return -1;
	return fd;
}

#endif
