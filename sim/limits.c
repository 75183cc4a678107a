/* Resource limits (sim/limits.h). */
#include "sim/limits.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include "sim/log.h"

static uint64_t reserved;

/* Descriptors open now, from /proc/self/fd (its own directory stream excepted); FB_FD_SPARE
 * when /proc is not there. */
static uint64_t open_now(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return FB_FD_SPARE;
	uint64_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0;
}

static void human(uint64_t v, char *buf, size_t cap)
{
	if (v == (uint64_t)RLIM_INFINITY)
		snprintf(buf, cap, "unlimited");
	else
		snprintf(buf, cap, "%" PRIu64, v);
}

int fb_fd_reserve(uint64_t count, const char *what, const char *way_out)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return fb_error("cannot read the file-descriptor limit: %s", strerror(errno));
	uint64_t need = open_now() + reserved + count + FB_FD_SPARE;
	if (rl.rlim_cur != RLIM_INFINITY && need > (uint64_t)rl.rlim_cur) {
		/* The soft limit is often far below the hard one (1024 vs 524288 on Debian 12):
		 * take what the hard limit allows before giving up. */
		if (rl.rlim_max == RLIM_INFINITY || need <= (uint64_t)rl.rlim_max) {
			struct rlimit raised = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
			if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
				char hard[24];
				human((uint64_t)rl.rlim_max, hard, sizeof hard);
				fb_info("raised the file-descriptor limit from %" PRIu64 " to %s (the hard limit) "
				        "for %s", (uint64_t)rl.rlim_cur, hard, what);
				reserved += count;
				return 0;
			}
		}
		char soft[24], hard[24];
		human((uint64_t)rl.rlim_cur, soft, sizeof soft);
		human((uint64_t)rl.rlim_max, hard, sizeof hard);
		return fb_error("%s need %" PRIu64 " file descriptors in all, but the limit is %s "
		                "(ulimit -n; hard limit %s): raise it, e.g. 'ulimit -n %" PRIu64 "' (as root "
		                "above the hard limit, or LimitNOFILE= for a service)%s%s", what, need, soft,
		                hard, need, way_out ? ", " : "", way_out ? way_out : "");
	}
	reserved += count;
	return 0;
}

void fb_fd_release(uint64_t count)
{
	reserved = count > reserved ? 0 : reserved - count;
}

uint64_t fb_fd_reserved(void)
{
	return reserved;
}

int fb_ports_check(uint64_t count, const char *what, const char *way_out)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned lo = 0, hi = 0;
	int got = f ? fscanf(f, "%u %u", &lo, &hi) : 0;
	if (f)
		fclose(f);
	if (got != 2 || hi < lo)
		return 0;      /* not Linux, or unreadable: connect() will say EADDRNOTAVAIL */
	uint64_t range = (uint64_t)hi - lo + 1;
	if (count <= range)
		return 0;
	return fb_error("%s need %" PRIu64 " local ports, but the ephemeral port range has %" PRIu64
	                " (net.ipv4.ip_local_port_range %u-%u): widen it, e.g. 'sysctl -w "
	                "net.ipv4.ip_local_port_range=\"1024 65535\"' (as root)%s%s", what, count, range,
	                lo, hi, way_out ? ", " : "", way_out ? way_out : "");
}

int fb_oom_error(const char *what, uint64_t bytes)
{
	char size[48] = "";
	double mib = (double)bytes / (1024.0 * 1024);
	if (bytes)
		snprintf(size, sizeof size, " (about %.*f %s)", mib >= 1024 ? 1 : 0,
		         mib >= 1024 ? mib / 1024 : mib, mib >= 1024 ? "GiB" : "MiB");
	return fb_error("out of memory for %s%s: run fewer devices per process with --shard i/N "
	                "over several processes or machines, or raise the memory limit (ulimit -v)",
	                what, size);
}
