/* Real peers for tests: see harness/peer.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "harness/peer.h"
#include "sim/log.h"

#define POLL_STEP_MS 10

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

uint16_t fb_peer_free_port(int sock_type)
{
	int fd = socket(AF_INET, sock_type, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	uint16_t port = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void print_log_tail(const struct fb_peer *p)
{
	FILE *f = fopen(p->log_path, "r");
	if (!f)
		return;
	char buf[2048];
	fseek(f, 0, SEEK_END);
	long size = ftell(f), from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	fprintf(stderr, "--- last output of '%s' (%s) ---\n%s\n---\n", p->name, p->log_path, buf);
}

int fb_peer_spawn(struct fb_peer *p, const char *const argv[], const char *log_path)
{
	memset(p, 0, sizeof *p);
	const char *base = strrchr(argv[0], '/');
	snprintf(p->name, sizeof p->name, "%s", base ? base + 1 : argv[0]);
	int logfd;
	if (log_path) {
		snprintf(p->log_path, sizeof p->log_path, "%s", log_path);
		logfd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(p->log_path, sizeof p->log_path, "%s/fb-peer-%s-XXXXXX",
		         tmp && *tmp ? tmp : "/tmp", p->name);
		logfd = mkostemp(p->log_path, O_CLOEXEC);
	}
	if (logfd < 0)
		return fb_error("cannot create '%s': %s", p->log_path, strerror(errno));
	/* A pipe closed on exec tells the parent whether exec worked. */
	int status_pipe[2];
	if (pipe2(status_pipe, O_CLOEXEC) != 0) {
		close(logfd);
		return fb_error("cannot start '%s': %s", p->name, strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(logfd);
		close(status_pipe[0]);
		close(status_pipe[1]);
		return fb_error("cannot start '%s': %s", p->name, strerror(errno));
	}
	if (pid == 0) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		setpgid(0, 0);     /* its own group: a terminal's ^C goes to the test, not the peer */
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		int err = errno;
		ssize_t w = write(status_pipe[1], &err, sizeof err);
		(void)w;
		_exit(127);
	}
	close(logfd);
	close(status_pipe[1]);
	int err = 0;
	ssize_t n;
	while ((n = read(status_pipe[0], &err, sizeof err)) < 0 && errno == EINTR)
		;
	close(status_pipe[0]);
	if (n == (ssize_t)sizeof err) {
		waitpid(pid, NULL, 0);
		return fb_error("cannot start '%s': %s", argv[0], strerror(err));
	}
	p->pid = pid;
	return 0;
}

bool fb_peer_alive(struct fb_peer *p)
{
	if (p->pid <= 0)
		return false;
	int st;
	pid_t r = waitpid(p->pid, &st, WNOHANG);
	if (r == p->pid) {
		p->pid = 0;
		return false;
	}
	return true;
}

int fb_peer_wait_tcp(struct fb_peer *p, const char *host, uint16_t port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return fb_error("bad address '%s'", host);
	int64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return fb_error("socket: %s", strerror(errno));
		int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
		close(fd);
		if (rc == 0)
			return 0;
		if (!fb_peer_alive(p)) {
			print_log_tail(p);
			return fb_error("'%s' exited before listening on '%s:%u'", p->name, host, port);
		}
		if (mono_ms() >= deadline) {
			print_log_tail(p);
			return fb_error("'%s' not listening on '%s:%u' after %d ms", p->name, host, port,
			                timeout_ms);
		}
		nap_ms(POLL_STEP_MS);
	}
}

int fb_peer_wait_line(struct fb_peer *p, const char *needle, char *line, size_t cap, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	char buf[4096];
	for (;;) {
		FILE *f = fopen(p->log_path, "r");
		if (f) {
			fseek(f, p->log_offset, SEEK_SET);
			/* Only whole lines count: a line still being written is read again next time. */
			while (fgets(buf, sizeof buf, f)) {
				size_t len = strlen(buf);
				if (len == 0 || buf[len - 1] != '\n')
					break;
				p->log_offset += (long)len;
				if (strstr(buf, needle)) {
					buf[len - 1] = 0;
					if (line && cap)
						snprintf(line, cap, "%s", buf);
					fclose(f);
					return 0;
				}
			}
			fclose(f);
		}
		bool alive = fb_peer_alive(p);
		if (!alive || mono_ms() >= deadline) {
			print_log_tail(p);
			return fb_error("'%s' %s before printing '%s'", p->name,
			                alive ? "timed out" : "exited", needle);
		}
		nap_ms(POLL_STEP_MS);
	}
}

static int reap(struct fb_peer *p, int st)
{
	p->pid = 0;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* The child leads its own process group (setpgid in fb_peer_spawn), so a signal to the group
 * also reaches what it started ("sh -c 'a | b'", node's workers). */
static void signal_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) != 0)
		kill(pid, sig);
}

/* After the leader is reaped: members of its group still running get SIGKILL. */
static int reap_group(struct fb_peer *p, int st)
{
	pid_t pid = p->pid;
	int rc = reap(p, st);
	if (kill(-pid, 0) == 0)
		kill(-pid, SIGKILL);
	return rc;
}

int fb_peer_stop(struct fb_peer *p, int grace_ms)
{
	if (p->pid <= 0)
		return -1;
	int st;
	signal_group(p->pid, SIGTERM);
	int64_t deadline = mono_ms() + grace_ms;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			return reap_group(p, st);
		if (r < 0) {
			p->pid = 0;
			return -1;
		}
		if (mono_ms() >= deadline)
			break;
		nap_ms(POLL_STEP_MS / 2);
	}
	signal_group(p->pid, SIGKILL);
	while (waitpid(p->pid, &st, 0) < 0)
		if (errno != EINTR) {
			p->pid = 0;
			return -1;
		}
	return reap_group(p, st);
}

int fb_peer_wait_exit(struct fb_peer *p, int timeout_ms)
{
	if (p->pid <= 0)
		return -1;
	int64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			return reap(p, st);
		if (r < 0) {
			p->pid = 0;
			return -1;
		}
		if (mono_ms() >= deadline)
			return -1;
		nap_ms(POLL_STEP_MS / 2);
	}
}

int fb_peer_run(const char *const argv[], int timeout_ms)
{
	struct fb_peer p;
	if (fb_peer_spawn(&p, argv, NULL) != 0) {
		unlink(p.log_path);
		return -1;
	}
	int rc = fb_peer_wait_exit(&p, timeout_ms);
	if (rc < 0) {
		fb_peer_kill(&p);
		fb_error("'%s' did not finish within %d ms", p.name, timeout_ms);
	}
	if (rc != 0)
		print_log_tail(&p);
	unlink(p.log_path);
	return rc;
}

int fb_peer_kill(struct fb_peer *p)
{
	return fb_peer_stop(p, 0);
}

int fb_peer_tmpdir(const char *prefix, char *path, size_t cap)
{
	const char *tmp = getenv("TMPDIR");
	if ((size_t)snprintf(path, cap, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix) >= cap)
		return fb_error("temporary path for '%s' too long", prefix);
	if (!mkdtemp(path))
		return fb_error("cannot create '%s': %s", path, strerror(errno));
	return 0;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

int fb_peer_rmtree(const char *path)
{
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int fb_mosquitto_write_config(const struct fb_mosquitto_opts *o, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return fb_error("cannot write '%s': %s", path, strerror(errno));
	fprintf(f, "# written by fleetbench harness/peer.c\n");
	/* Run as root, mosquitto switches to user 'mosquitto', which cannot read a test's files. */
	struct passwd *pw = getpwuid(geteuid());
	if (pw)
		fprintf(f, "user %s\n", pw->pw_name);
	fprintf(f, "per_listener_settings false\n");
	fprintf(f, "log_dest file %s/mosquitto.log\n", o->dir);
	fprintf(f, "log_type error\nlog_type warning\nlog_type notice\n");
	fprintf(f, "connection_messages false\n");
	fprintf(f, "max_connections %d\n", o->max_connections > 0 ? o->max_connections : -1);
	fprintf(f, "max_inflight_messages 0\nmax_queued_messages 0\nmax_queued_bytes 0\n");
	if (o->persistence) {
		fprintf(f, "persistence true\npersistence_location %s/\n", o->dir);
		fprintf(f, "autosave_interval 1\nautosave_on_changes true\n");
	} else {
		fprintf(f, "persistence false\n");
	}
	if (o->password_file)
		fprintf(f, "allow_anonymous false\npassword_file %s\n", o->password_file);
	else
		fprintf(f, "allow_anonymous true\n");
	fprintf(f, "listener %u 127.0.0.1\n", o->port);
	if (o->tls_port) {
		fprintf(f, "listener %u 127.0.0.1\n", o->tls_port);
		if (o->tls_cafile)
			fprintf(f, "cafile %s\n", o->tls_cafile);
		if (o->tls_certfile)
			fprintf(f, "certfile %s\n", o->tls_certfile);
		if (o->tls_keyfile)
			fprintf(f, "keyfile %s\n", o->tls_keyfile);
		fprintf(f, "require_certificate %s\n", o->tls_require_certificate ? "true" : "false");
	}
	if (o->extra)
		fprintf(f, "%s\n", o->extra);
	if (fclose(f) != 0)
		return fb_error("cannot write '%s': %s", path, strerror(errno));
	return 0;
}

int fb_mosquitto_start(struct fb_peer *p, struct fb_mosquitto_opts *o)
{
	char conf[300], log[300];
	if (!o->dir)
		return fb_error("mosquitto needs a directory");
	if (!o->port && !(o->port = fb_peer_free_port(SOCK_STREAM)))
		return fb_error("no free port for mosquitto");
	if ((o->tls_cafile || o->tls_certfile) && !o->tls_port &&
	    !(o->tls_port = fb_peer_free_port(SOCK_STREAM)))
		return fb_error("no free port for mosquitto's tls listener");
	snprintf(conf, sizeof conf, "%s/mosquitto.conf", o->dir);
	snprintf(log, sizeof log, "%s/mosquitto.out", o->dir);
	if (fb_mosquitto_write_config(o, conf) != 0)
		return -1;
	const char *argv[] = { "/usr/sbin/mosquitto", "-c", conf, NULL };
	if (fb_peer_spawn(p, argv, log) != 0)
		return -1;
	if (fb_peer_wait_tcp(p, "127.0.0.1", o->port, 10000) != 0 ||
	    (o->tls_port && fb_peer_wait_tcp(p, "127.0.0.1", o->tls_port, 10000) != 0)) {
		fb_peer_stop(p, 1000);
		return -1;
	}
	return 0;
}

int fb_mosquitto_passwd(const char *path, const char *user, const char *password)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;
	const char *argv_new[] = { "mosquitto_passwd", "-c", "-b", path, user, password, NULL };
	const char *argv_add[] = { "mosquitto_passwd", "-b", path, user, password, NULL };
	struct fb_peer p;
	if (fb_peer_spawn(&p, exists ? argv_add : argv_new, NULL) != 0)
		return -1;
	int st_code;
	while (waitpid(p.pid, &st_code, 0) < 0)
		if (errno != EINTR)
			return fb_error("mosquitto_passwd: %s", strerror(errno));
	p.pid = 0;
	bool ok = WIFEXITED(st_code) && WEXITSTATUS(st_code) == 0;
	if (!ok)
		print_log_tail(&p);
	unlink(p.log_path);
	chmod(path, 0600);
	return ok ? 0 : fb_error("mosquitto_passwd failed for '%s'", path);
}
