/* MQTT delivered-rate benchmark (run by protocols/mqtt/bench.sh).
 *
 * One mosquitto on a free loopback port. Each measurement has a counter of its own: a process
 * (this program, `count ...`) with one subscriber at the measured QoS on a topic prefix of that
 * measurement only, which keeps its delivered count in a shared memory page the bench reads
 * without a syscall or a lag. The publishers are one of three loaders:
 *   ours           this process, fb_mqtt pool of N connections, 100-byte payloads, closed loop
 *                  (at most `window` messages between publish and delivery, so the broker's
 *                  queues stay bounded), handed to the connections in chunks of `chunk`
 *                  messages each, so the broker reads several messages per read as it would
 *                  from a device that sends a burst;
 *   mqttjs         ci/oracles/mqtt-load.js (MQTT.js 5), N clients in one node process;
 *   mosquitto_pub  N processes of `yes | mosquitto_pub -l` (up to FB_MQTT_BENCH_MAX_PUB).
 * For each (QoS, N) point the loaders are measured in rounds, the order rotated each round,
 * and the medians are printed; the ceiling is the best median of any loader at that point.
 * Alongside the rates, counted proxies less sensitive to a busy shared machine: CPU seconds
 * (user + system, /proc and getrusage) per delivered message of the loader, the broker and
 * the counter, and optionally (FB_MQTT_BENCH_SYSCALLS=1, needs perf) system calls per
 * delivered message of each. Prints `name value unit` lines; per-round figures go to stderr.
 *
 *   mqtt-bench SECONDS HELD MAX_MQTTJS        the whole bench
 *   FB_MQTT_BENCH_POINT=QOS:N[:LOADERS]       one point only (LOADERS: ours,mqttjs,mosquitto_pub)
 *   FB_MQTT_BENCH_ROUNDS (3), FB_MQTT_BENCH_WINDOW (20000), FB_MQTT_BENCH_CHUNK (16),
 *   FB_MQTT_BENCH_COLLECT (seconds of I/O collection per loop turn of our loader and the
 *   counter, 0.0005), FB_MQTT_BENCH_MAX_PUB (100). */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include "harness/peer.h"
#include "protocols/mqtt/client.h"

enum loader { L_OURS, L_MQTTJS, L_PUB, L_KINDS };
static const char *const loader_name[L_KINDS] = { "ours", "mqttjs", "mosquitto_pub" };

struct sample {
	bool ok;
	double rate;                                /* delivered messages/s */
	double us_loader, us_broker, us_counter;    /* CPU microseconds per delivered message */
	double sc_loader, sc_broker, sc_counter;    /* system calls per delivered message, or -1 */
	char sc_detail[3][160];                     /* the same by call: loader, broker, counter */
};

/* The counter's shared page. */
struct shared_count {
	uint64_t count;       /* messages delivered so far (written by the counter only) */
	uint64_t ready;       /* 1 once the subscription is known to be in place */
};

static struct ev_loop *loop;
static struct {
	char dir[256];
	uint16_t port;
	pid_t broker_pid;
	double seconds, collect_s;
	unsigned rounds, max_pub, max_mqttjs;
	uint64_t window, chunk;
	bool syscalls;
	int sub_qos;          /* the counter's subscription QoS; -1: the loaders' QoS */
	unsigned run_id;
} cfg;

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- processes: CPU time and pids by process group, from /proc ---- */

struct procinfo {
	pid_t pid, pgrp;
	char comm[32];
	double cpu_s;
};

/* Reads /proc/<pid>/stat: comm, pgrp and utime + stime. Returns 0 or -1. */
static int read_proc(pid_t pid, struct procinfo *pi)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
	if (!lp || !rp)
		return -1;
	size_t cl = (size_t)(rp - lp - 1) < sizeof pi->comm - 1 ? (size_t)(rp - lp - 1) : sizeof pi->comm - 1;
	memcpy(pi->comm, lp + 1, cl);
	pi->comm[cl] = 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	char state;
	int ppid, pgrp;
	unsigned long utime, stime;
	if (sscanf(rp + 2, "%c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &state, &ppid, &pgrp,
	           &utime, &stime) != 5)
		return -1;
	pi->pid = pid;
	pi->pgrp = pgrp;
	pi->cpu_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static double pid_cpu_s(pid_t pid)
{
	struct procinfo pi;
	return read_proc(pid, &pi) == 0 ? pi.cpu_s : 0;
}

static bool in_set(pid_t v, const pid_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == v)
			return true;
	return false;
}

/* CPU seconds of every process in the given process groups; with pids non-NULL, also collects
 * up to cap pids of those whose command is `comm` (the loaders proper, not `sh` or `yes`). */
static double groups_cpu_s(const pid_t *groups, size_t ngroups, const char *comm, pid_t *pids,
                           size_t cap, size_t *npids)
{
	double total = 0;
	if (npids)
		*npids = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		struct procinfo pi;
		if (read_proc((pid_t)atoi(e->d_name), &pi) != 0 || !in_set(pi.pgrp, groups, ngroups))
			continue;
		total += pi.cpu_s;
		if (pids && *npids < cap && !strcmp(pi.comm, comm))
			pids[(*npids)++] = pi.pid;
	}
	closedir(d);
	return total;
}

/* ---- optional syscall counts (perf stat on the raw_syscalls:sys_enter tracepoint) ---- */

/* the calls a network loop makes, counted one by one besides the total */
#define SC_EVENTS "syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_sendto," \
	"syscalls:sys_enter_recvfrom,syscalls:sys_enter_writev,syscalls:sys_enter_readv," \
	"syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl," \
	"syscalls:sys_enter_clock_nanosleep,syscalls:sys_enter_nanosleep,syscalls:sys_enter_select," \
	"syscalls:sys_enter_futex,net:net_dev_xmit"

struct sc_probe {
	struct fb_peer perf;
	char out[300];
	bool on;
};

/* Counts the system calls of `pids` for `seconds` from now. */
static void sc_start(struct sc_probe *p, const char *role, const pid_t *pids, size_t n, double seconds)
{
	p->on = false;
	if (!cfg.syscalls || n == 0)
		return;
	size_t cap = n * 12 + 1;
	char *list = malloc(cap), secs[32];
	if (!list)
		return;
	size_t off = 0;
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(list + off, cap - off, "%s%d", i ? "," : "", (int)pids[i]);
	snprintf(p->out, sizeof p->out, "%s/perf-%s.txt", cfg.dir, role);
	snprintf(secs, sizeof secs, "%.3f", seconds);
	const char *argv[] = { "perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-e", SC_EVENTS,
	                       "-o", p->out, "-p", list, "--", "sleep", secs, NULL };
	p->on = fb_peer_spawn(&p->perf, argv, NULL) == 0;
	free(list);
}

/* The count divided by `messages`, or -1 when not measured; the main calls per message go to
 * detail[cap] ("read 1.02 sendto 0.10 ..."). */
static double sc_finish(struct sc_probe *p, double messages, char *detail, size_t cap)
{
	*detail = 0;
	if (!p->on)
		return -1;
	double v = -1, m = messages > 0 ? messages : 1;
	size_t off = 0;
	if (fb_peer_wait_exit(&p->perf, 30000) >= 0) {
		FILE *f = fopen(p->out, "r");
		char line[256];
		while (f && fgets(line, sizeof line, f)) {
			if (!isdigit((unsigned char)line[0]))
				continue;
			/* "count,,event,..." */
			const char *name = strstr(line, "sys_enter_"), *xmit = strstr(line, "net_dev_xmit");
			if (strstr(line, "raw_syscalls:sys_enter"))
				v = atof(line) / m;
			else if (xmit && off < cap)    /* packets sent from this process's context */
				off += (size_t)snprintf(detail + off, cap - off, " | packets %.2f", atof(line) / m);
			else if (name && atof(line) / m >= 0.005 && off < cap)
				off += (size_t)snprintf(detail + off, cap - off, " %.*s %.2f",
				                        (int)strcspn(name + 10, ","), name + 10, atof(line) / m);
		}
		if (f)
			fclose(f);
	} else {
		fb_peer_stop(&p->perf, 1000);
	}
	unlink(p->out);
	unlink(p->perf.log_path);
	return v;
}

/* ---- the counter ---- */

static struct fb_peer counter;
static struct shared_count *shared;
static char shared_path[300];

static uint64_t delivered(void)
{
	return __atomic_load_n(&shared->count, __ATOMIC_RELAXED);
}

static struct fb_mqtt_pool_config pool_config(uint16_t port)
{
	struct fb_mqtt_pool_config pc;
	memset(&pc, 0, sizeof pc);
	fb_mqtt_resolve("127.0.0.1", port, &pc.addr, &pc.addrlen);
	pc.version = FB_MQTT_V311;
	pc.keepalive_s = 60;
	pc.inflight = 100;
	pc.max_queued = 1000000;
	pc.connect_timeout_us = 60 * FB_US_PER_S;
	pc.reconnect_min_us = 200 * FB_US_PER_MS;
	pc.reconnect_max_us = 2 * FB_US_PER_S;
	pc.reconnect_jitter = 0.5;
	return pc;
}

static bool wait_up(struct fb_mqtt_pool *p, uint64_t n, double timeout)
{
	double end = mono_s() + timeout;
	while (fb_mqtt_pool_stats(p)->connections_up < n && mono_s() < end)
		ev_run(loop, EVRUN_ONCE);
	return fb_mqtt_pool_stats(p)->connections_up >= n;
}

/* A new counter process subscribed to "b<run_id>/#" (at QoS 0 unless FB_MQTT_BENCH_SUB_QOS says
 * otherwise: see main). Exits the bench on failure: no figure is worth printing without it. */
static void start_counter(uint8_t qos)
{
	char p[8], q[12], filter[32];
	cfg.run_id++;
	snprintf(p, sizeof p, "%u", cfg.port);
	snprintf(q, sizeof q, "%u", cfg.sub_qos >= 0 ? (unsigned)(cfg.sub_qos & 1) : qos);
	snprintf(filter, sizeof filter, "b%u/#", cfg.run_id);
	snprintf(shared_path, sizeof shared_path, "%s/count-%u", cfg.dir, cfg.run_id);
	int fd = open(shared_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, sizeof *shared) != 0) {
		perror("mqtt bench: counter page");
		exit(1);
	}
	shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (shared == MAP_FAILED) {
		perror("mqtt bench: mmap");
		exit(1);
	}
	const char *argv[] = { "/proc/self/exe", "count", p, q, filter, shared_path, NULL };
	if (fb_peer_spawn(&counter, argv, NULL) || fb_peer_wait_line(&counter, "ready", NULL, 0, 20000))
		exit(1);
}

static void stop_counter(void)
{
	fb_peer_stop(&counter, 2000);
	unlink(counter.log_path);
	munmap(shared, sizeof *shared);
	unlink(shared_path);
}

static struct sc_probe probes[3];

/* Snapshot at the start of the measured window, and the figures at its end. */
struct window {
	double t, cpu_loader, cpu_broker, cpu_counter;
	uint64_t count;
};

static void window_open(struct window *w, double cpu_loader, const pid_t *loader_pids, size_t nloader)
{
	pid_t b = cfg.broker_pid, c = counter.pid;
	sc_start(&probes[0], "loader", loader_pids, nloader, cfg.seconds);
	sc_start(&probes[1], "broker", &b, 1, cfg.seconds);
	sc_start(&probes[2], "counter", &c, 1, cfg.seconds);
	w->cpu_loader = cpu_loader;
	w->cpu_broker = pid_cpu_s(cfg.broker_pid);
	w->cpu_counter = pid_cpu_s(counter.pid);
	w->count = delivered();
	w->t = mono_s();
}

static struct sample window_close(const struct window *w, double cpu_loader)
{
	struct sample s;
	double t = mono_s();
	uint64_t n = delivered() - w->count;
	s.ok = n > 0;
	s.rate = (double)n / (t - w->t);
	double m = n ? (double)n : 1;
	s.us_loader = (cpu_loader - w->cpu_loader) * 1e6 / m;
	s.us_broker = (pid_cpu_s(cfg.broker_pid) - w->cpu_broker) * 1e6 / m;
	s.us_counter = (pid_cpu_s(counter.pid) - w->cpu_counter) * 1e6 / m;
	/* the probes counted for cfg.seconds: scale by the messages of that span */
	double in_span = s.rate * cfg.seconds;
	s.sc_loader = sc_finish(&probes[0], in_span, s.sc_detail[0], sizeof s.sc_detail[0]);
	s.sc_broker = sc_finish(&probes[1], in_span, s.sc_detail[1], sizeof s.sc_detail[1]);
	s.sc_counter = sc_finish(&probes[2], in_span, s.sc_detail[2], sizeof s.sc_detail[2]);
	return s;
}

static void idle_tick(struct ev_loop *l, ev_timer *w, int revents) { (void)l; (void)w; (void)revents; }

/* Turns the loop for `seconds` (the peers do the work; the tick bounds each turn). */
static void spin(double seconds)
{
	double end = mono_s() + seconds;
	while (mono_s() < end)
		ev_run(loop, EVRUN_ONCE);
}

/* Waits until the broker is idle (under 5 % of a core over 250 ms, at most 120 s): a loader
 * stopped with a flood in the broker's socket buffers (MQTT.js at QoS 0 keeps up to 64 KiB per
 * client in flight, `mosquitto_pub -l` more) leaves the broker reading it, three reads per
 * message, for seconds after (measured: 31 000 broker reads per delivered message in the
 * measurement that followed 10 000 MQTT.js connections at QoS 0), whatever loader comes next. */
static void settle_broker(void)
{
	double t0 = mono_s(), last = pid_cpu_s(cfg.broker_pid);
	for (;;) {
		spin(0.25);
		double now = pid_cpu_s(cfg.broker_pid);
		if (now - last < 0.05 * 0.25 || mono_s() - t0 > 120)
			break;
		last = now;
	}
	if (mono_s() - t0 > 1)
		fprintf(stderr, "# broker busy %.1f s after the measurement\n", mono_s() - t0);
}

/* ---- our loader ---- */

static struct sample run_ours(unsigned nconn, uint8_t qos)
{
	struct fb_mqtt_pool_config pc = pool_config(cfg.port);
	struct sample bad = { .ok = false };
	start_counter(qos);
	struct fb_mqtt_pool *pubs = fb_mqtt_pool_new(loop, &pc, NULL);
	for (unsigned i = 0; i < nconn; i++) {
		char id[40];
		snprintf(id, sizeof id, "bench-%u-%u-%u-%06u", cfg.run_id, nconn, qos, i);
		struct fb_mqtt_conn_config cc = { .index = i, .client_id = id, .clean_start = true };
		fb_mqtt_pool_add(pubs, &cc, NULL);
	}
	fb_mqtt_pool_start(pubs);
	if (!wait_up(pubs, nconn, 90)) {
		fprintf(stderr, "mqtt bench: %llu of %u connections up\n",
		        (unsigned long long)fb_mqtt_pool_stats(pubs)->connections_up, nconn);
		fb_mqtt_pool_free(pubs);
		stop_counter();
		return bad;
	}
	uint8_t payload[100];          /* 100 bytes, like a JSON sample */
	memset(payload, 'x', sizeof payload);
	char topics[64][32];
	for (int i = 0; i < 64; i++)
		snprintf(topics[i], sizeof topics[i], "b%u/%d", cfg.run_id, i);
	uint64_t sent = 0, window = cfg.window, chunk = cfg.chunk;
	unsigned next = 0;
	struct window w;
	bool measuring = false;
	double warm_end = mono_s() + 0.5, end = 0;
	for (;;) {
		double now = mono_s();
		if (!measuring && now >= warm_end) {
			window_open(&w, self_cpu_s(), &(pid_t){ getpid() }, 1);
			end = w.t + cfg.seconds;
			measuring = true;
		} else if (measuring && now >= end) {
			break;
		}
		/* hand the room in the window out in chunks, one connection after the other */
		uint64_t room;
		while ((room = window - (sent - delivered())) >= chunk) {
			struct fb_mqtt_conn *c = fb_mqtt_pool_conn(pubs, next);
			const char *topic = topics[next % 64];
			for (uint64_t k = 0; k < chunk; k++)
				fb_mqtt_publish(c, topic, payload, sizeof payload, qos, false);
			sent += chunk;
			next = (next + 1) % nconn;
		}
		ev_run(loop, EVRUN_ONCE);
	}
	struct sample s = window_close(&w, self_cpu_s());
	fb_mqtt_pool_free(pubs);
	stop_counter();
	settle_broker();
	return s;
}

/* ---- the other loaders ---- */

static struct sample run_peer(enum loader kind, unsigned nconn, uint8_t qos)
{
	struct sample bad = { .ok = false };
	start_counter(qos);
	char cmd[1024];
	unsigned nprocs = 1;
	const char *ready = NULL, *comm;
	if (kind == L_MQTTJS) {
		snprintf(cmd, sizeof cmd, "exec node ci/oracles/mqtt-load.js mqtt://127.0.0.1:%u %u %u %.0f b%u",
		         cfg.port, nconn, qos, cfg.seconds + 120, cfg.run_id);
		ready = "connected";
		comm = "node";
	} else {
		char line[101];          /* a 100-byte payload per line */
		memset(line, 'x', 100);
		line[100] = 0;
		snprintf(cmd, sizeof cmd, "yes %s | exec mosquitto_pub -h 127.0.0.1 -p %u -q %u -t b%u/m -l",
		         line, cfg.port, qos, cfg.run_id);
		nprocs = nconn;
		comm = "mosquitto_pub";
	}
	struct fb_peer *peers = calloc(nprocs, sizeof *peers);
	pid_t *groups = calloc(nprocs, sizeof *groups);
	size_t cap = nprocs + 8, npids = 0;
	pid_t *pids = calloc(cap, sizeof *pids);
	bool ok = peers && groups && pids;
	unsigned started = 0;
	for (unsigned i = 0; ok && i < nprocs; i++) {
		const char *argv[] = { "sh", "-c", cmd, NULL };
		if (fb_peer_spawn(&peers[i], argv, NULL) != 0)
			break;
		groups[started++] = peers[i].pid;
	}
	ok = ok && started == nprocs;
	if (ok && ready)
		ok = fb_peer_wait_line(&peers[0], ready, NULL, 0, 180000) == 0;
	double until = mono_s() + 60;
	while (ok && delivered() == 0 && mono_s() < until)
		ev_run(loop, EVRUN_ONCE);
	ok = ok && delivered() > 0;
	struct sample s = bad;
	if (ok) {
		spin(1.0);      /* warm-up: every process publishing, buffers grown */
		groups_cpu_s(groups, started, comm, pids, cap, &npids);
		struct window w;
		window_open(&w, groups_cpu_s(groups, started, NULL, NULL, 0, NULL), pids, npids);
		spin(cfg.seconds);
		s = window_close(&w, groups_cpu_s(groups, started, NULL, NULL, 0, NULL));
	}
	for (unsigned i = 0; i < started; i++) {
		fb_peer_stop(&peers[i], 2000);
		unlink(peers[i].log_path);
	}
	free(peers);
	free(groups);
	free(pids);
	stop_counter();
	settle_broker();
	return s;
}

/* ---- figures ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median of the `ok` samples' field at byte offset `off`; NAN when there is none. */
static double median(const struct sample *s, unsigned n, size_t off)
{
	double v[32];
	unsigned k = 0;
	for (unsigned i = 0; i < n && k < 32; i++)
		if (s[i].ok)
			v[k++] = *(const double *)((const char *)&s[i] + off);
	if (!k)
		return NAN;
	qsort(v, k, sizeof *v, cmp_double);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static void print_fig(const char *what, unsigned qos, unsigned nconn, enum loader l, double v,
                      const char *fmt, const char *unit)
{
	if (isnan(v) || v < 0)
		return;
	printf("mqtt_%s_qos%u_conn%u%s%s ", what, qos, nconn, l == L_OURS ? "" : "_", l == L_OURS ? "" : loader_name[l]);
	printf(fmt, v);
	printf(" %s\n", unit);
}

static void point(uint8_t qos, unsigned nconn, const bool use[L_KINDS])
{
	struct sample s[L_KINDS][32];
	unsigned rounds = cfg.rounds > 32 ? 32 : cfg.rounds;
	memset(s, 0, sizeof s);
	enum loader order[L_KINDS];
	unsigned nl = 0;
	for (int l = 0; l < L_KINDS; l++)
		if (use[l])
			order[nl++] = (enum loader)l;
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned i = 0; i < nl; i++) {
			enum loader l = order[(i + r) % nl];
			/* mosquitto_pub -l fed by `yes` queues without bound inside each process and
			 * burns a core per process or so (measured: several ms of CPU per delivered
			 * message with 100 processes, a load average near 90): one round only, so the
			 * bench does not take the shared machine down for minutes */
			if (l == L_PUB && nconn > 1 && r > 0)
				continue;
			struct sample x = l == L_OURS ? run_ours(nconn, qos) : run_peer(l, nconn, qos);
			s[l][r] = x;
			fprintf(stderr, "# qos%u conn%u round %u %-13s %8.0f msg/s  cpu us/msg: loader %.2f broker %.2f "
			        "counter %.2f", qos, nconn, r + 1, loader_name[l], x.ok ? x.rate : 0, x.us_loader,
			        x.us_broker, x.us_counter);
			if (x.sc_broker >= 0)
				fprintf(stderr, "\n#   syscalls/msg: loader %.3f (%s ) broker %.3f (%s ) counter %.3f (%s )",
				        x.sc_loader, x.sc_detail[0], x.sc_broker, x.sc_detail[1], x.sc_counter, x.sc_detail[2]);
			fprintf(stderr, "\n");
		}
	double rate[L_KINDS], ceiling = 0, best_peer = 0;
	for (unsigned i = 0; i < nl; i++) {
		enum loader l = order[i];
		rate[l] = median(s[l], rounds, offsetof(struct sample, rate));
		if (isnan(rate[l]))
			rate[l] = 0;
		print_fig("delivered", qos, nconn, l, rate[l], "%.0f", "msg/s");
		if (rate[l] > ceiling)
			ceiling = rate[l];
		if (l != L_OURS && rate[l] > best_peer)
			best_peer = rate[l];
	}
	printf("mqtt_ceiling_qos%u_conn%u %.0f msg/s\n", qos, nconn, ceiling);
	if (use[L_OURS] && ceiling > 0)
		printf("mqtt_share_of_ceiling_qos%u_conn%u %.1f %%\n", qos, nconn, 100 * rate[L_OURS] / ceiling);
	if (use[L_OURS] && best_peer > 0)
		printf("mqtt_vs_best_peer_qos%u_conn%u %.2f x\n", qos, nconn, rate[L_OURS] / best_peer);
	for (unsigned i = 0; i < nl; i++) {
		enum loader l = order[i];
		print_fig("loader_cpu", qos, nconn, l, median(s[l], rounds, offsetof(struct sample, us_loader)), "%.2f", "us/msg");
		print_fig("broker_cpu", qos, nconn, l, median(s[l], rounds, offsetof(struct sample, us_broker)), "%.2f", "us/msg");
		print_fig("loader_syscalls", qos, nconn, l, median(s[l], rounds, offsetof(struct sample, sc_loader)), "%.3f", "/msg");
		print_fig("broker_syscalls", qos, nconn, l, median(s[l], rounds, offsetof(struct sample, sc_broker)), "%.3f", "/msg");
	}
	fflush(stdout);
}

static void hold(unsigned nconn)
{
	struct fb_mqtt_pool_config pc = pool_config(cfg.port);
	/* a ramp: 15 000 SYNs at once overflow the broker's listen backlog, and the retransmitted
	 * SYNs (1 s, 3 s) make the whole slower than a steady rate */
	pc.connect_rate = 4000;
	long rss0 = rss_kib();
	struct fb_mqtt_pool *pool = fb_mqtt_pool_new(loop, &pc, NULL);
	for (unsigned i = 0; i < nconn; i++) {
		char id[32];
		snprintf(id, sizeof id, "hold-%06u", i);
		struct fb_mqtt_conn_config cc = { .index = i, .client_id = id, .clean_start = true };
		fb_mqtt_pool_add(pool, &cc, NULL);
	}
	double t0 = mono_s();
	fb_mqtt_pool_start(pool);
	wait_up(pool, nconn, 120);
	double t = mono_s() - t0;
	uint64_t up = fb_mqtt_pool_stats(pool)->connections_up;
	long rss1 = rss_kib();
	printf("mqtt_connections_held %llu connections\n", (unsigned long long)up);
	printf("mqtt_connect_rate_conn%u %.0f conn/s\n", nconn, (double)up / t);
	printf("mqtt_memory_per_idle_connection %.0f bytes\n", (double)(rss1 - rss0) * 1024.0 / (double)(up ? up : 1));
	fflush(stdout);
	fb_mqtt_pool_free(pool);
	spin(1.0);
}

/* ---- the counter process ---- */

static uint64_t counted;
static struct shared_count *counter_page;
static const char *probe_topic;
static bool probe_seen;

static void on_count(void *arg, struct fb_mqtt_conn *c, const struct fb_mqtt_packet *p)
{
	(void)arg; (void)c;
	if (!probe_seen && p->topic.len == strlen(probe_topic) && !memcmp(p->topic.p, probe_topic, p->topic.len)) {
		probe_seen = true;
		return;
	}
	__atomic_store_n(&counter_page->count, ++counted, __ATOMIC_RELAXED);
}

static int counter_main(uint16_t port, uint8_t qos, const char *filter, const char *page_path)
{
	int fd = open(page_path, O_RDWR);
	if (fd < 0)
		return 1;
	counter_page = mmap(NULL, sizeof *counter_page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (counter_page == MAP_FAILED)
		return 1;
	loop = ev_default_loop(EVBACKEND_EPOLL);
	/* one subscriber at QoS 1 answers each message with a PUBACK: batched per turn, else they
	 * reach the broker one or two per write and cost it a read each, whatever the loader */
	const char *collect = getenv("FB_MQTT_BENCH_COLLECT");
	ev_set_io_collect_interval(loop, collect ? atof(collect) : 0.0005);
	struct fb_mqtt_pool_config pc = pool_config(port);
	struct fb_mqtt_callbacks cb = { .on_message = on_count };
	struct fb_mqtt_pool *sub = fb_mqtt_pool_new(loop, &pc, &cb);
	char id[32], probe[40];
	snprintf(id, sizeof id, "bench-counter-%s", filter);
	id[strcspn(id, "/")] = 0;
	snprintf(probe, sizeof probe, "%.*sprobe", (int)strcspn(filter, "#"), filter);
	probe_topic = probe;
	struct fb_mqtt_conn_config sc = { .client_id = id, .clean_start = true,
	                                  .subscribe = (const char *const[]){ filter, NULL }, .subscribe_qos = qos };
	fb_mqtt_pool_add(sub, &sc, NULL);
	fb_mqtt_pool_start(sub);
	if (!wait_up(sub, 1, 10))
		return 1;
	/* the broker handles a connection's packets in order: the probe published after the
	 * SUBSCRIBE comes back once the subscription is in place */
	fb_mqtt_publish(fb_mqtt_pool_conn(sub, 0), probe, (const uint8_t *)"p", 1, 1, false);
	double end = mono_s() + 10;
	while (!probe_seen && mono_s() < end)
		ev_run(loop, EVRUN_ONCE);
	if (!probe_seen)
		return 1;
	counter_page->ready = 1;
	printf("ready\n");
	fflush(stdout);
	ev_run(loop, 0);
	return 0;
}

static bool env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

static double env_num(const char *name, double dflt)
{
	const char *v = getenv(name);
	return v && *v ? atof(v) : dflt;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "count"))
		return counter_main((uint16_t)atoi(argv[2]), (uint8_t)atoi(argv[3]), argv[4], argv[5]);
	cfg.seconds = argc > 1 ? atof(argv[1]) : 2;
	unsigned held = argc > 2 ? (unsigned)atoi(argv[2]) : 15000;
	cfg.max_mqttjs = argc > 3 ? (unsigned)atoi(argv[3]) : 10000;    /* 0: no peer loaders */
	cfg.rounds = (unsigned)env_num("FB_MQTT_BENCH_ROUNDS", 3);
	cfg.window = (uint64_t)env_num("FB_MQTT_BENCH_WINDOW", 20000);
	cfg.chunk = (uint64_t)env_num("FB_MQTT_BENCH_CHUNK", 16);
	cfg.max_pub = (unsigned)env_num("FB_MQTT_BENCH_MAX_PUB", 100);
	cfg.collect_s = env_num("FB_MQTT_BENCH_COLLECT", 0.0005);
	cfg.syscalls = env_flag("FB_MQTT_BENCH_SYSCALLS");
	cfg.sub_qos = (int)env_num("FB_MQTT_BENCH_SUB_QOS", 0);
	if (cfg.rounds < 1)
		cfg.rounds = 1;
	if (cfg.chunk < 1)
		cfg.chunk = 1;
	if (cfg.window < cfg.chunk)
		cfg.window = cfg.chunk;
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max < held + 100)
		held = (unsigned)rl.rlim_max - 100;
	loop = ev_default_loop(EVBACKEND_EPOLL);
	/* Our loader's loop collects I/O for 0.5 ms per turn. Without it, at QoS 1 the loop turns
	 * as fast as acks trickle in: each turn reads one or two PUBACKs per connection and writes
	 * one or two PUBLISHes, so both this process and the broker pay a syscall per message or
	 * so. */
	ev_set_io_collect_interval(loop, cfg.collect_s);
	/* A tick bounds each turn, so our loader looks at the window often (the delivered count
	 * wakes nobody). Not 1 ms: libev never sleeps the collect interval when a timer is due
	 * within the epoll backend's 1 ms resolution, so a 1 ms tick cancelled it (measured: no
	 * clock_nanosleep at all, 2.3 messages per turn at QoS 1 with one connection). */
	ev_timer tick;
	double tick_s = cfg.collect_s + 0.0015;
	ev_timer_init(&tick, idle_tick, tick_s, tick_s);
	ev_timer_start(loop, &tick);
	/* The counter subscribes at QoS 0 by default, whatever the loaders' QoS. mosquitto 2.0 reads
	 * one packet per socket per wake-up: with a thousand busy publishers it reads the single
	 * subscriber's PUBACKs a thousand times slower than they come, its in-flight list to the
	 * subscriber grows without bound, and how much of that work it defers past the measured
	 * window depends on the loader's shape (measured: 3.0 reads per message with our loader,
	 * 5.7 with MQTT.js, at QoS 1 with 1 000 connections). With a QoS 0 subscriber the broker's
	 * work per message is the same for every loader: read the PUBLISH, PUBACK it at QoS 1,
	 * write it to the subscriber. */
	printf("# method: %u rounds x %.1f s, medians; window %llu chunk %llu; collect %.2f ms; "
	       "counter subscribed at QoS %s\n", cfg.rounds, cfg.seconds, (unsigned long long)cfg.window,
	       (unsigned long long)cfg.chunk, cfg.collect_s * 1e3, cfg.sub_qos >= 0 ? (cfg.sub_qos ? "1" : "0") : "of the loader");
	if (fb_peer_tmpdir("fb-mqtt-bench", cfg.dir, sizeof cfg.dir))
		return 1;
	struct fb_mosquitto_opts o = { .dir = cfg.dir };
	struct fb_peer broker;
	if (fb_mosquitto_start(&broker, &o))
		return 1;
	cfg.port = o.port;
	cfg.broker_pid = broker.pid;
	fprintf(stderr, "# broker pid %d port %u\n", (int)broker.pid, cfg.port);
	const char *pt = getenv("FB_MQTT_BENCH_POINT");
	unsigned pq, pn;
	if (pt && sscanf(pt, "%u:%u", &pq, &pn) == 2 && pq <= 1 && pn > 0) {
		const char *names = strchr(strchr(pt, ':') + 1, ':');
		bool use[L_KINDS] = { true, pn <= cfg.max_mqttjs, pn <= cfg.max_pub };
		if (names)
			for (int l = 0; l < L_KINDS; l++)
				use[l] = strstr(names, loader_name[l]) != NULL;
		point((uint8_t)pq, pn, use);
	} else {
		hold(held);          /* memory first, in a fresh process */
		static const unsigned sizes[] = { 1, 100, 1000, 10000 };
		for (unsigned q = 0; q <= 1; q++)
			for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
				bool use[L_KINDS] = { true, sizes[i] <= cfg.max_mqttjs, sizes[i] <= cfg.max_pub };
				point((uint8_t)q, sizes[i], use);
			}
	}
	fb_peer_stop(&broker, 10000);
	fb_peer_rmtree(cfg.dir);
	return 0;
}
