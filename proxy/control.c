/* \summary: control socket server and the `status` client.
 *
 * Protocol: the client connects, sends one line ("status\n"), and reads a
 * text answer until EOF.  The socket is created 0600 in a 0700 directory
 * owned by the user who mounted, so only that user (and root) can ask.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "session.h"
#include "opcodes.h"
#include "trace.h"

#define MAX_LIST 4096

struct fp_control {
	struct fp_session *s;
	int lfd;
	pthread_t thread;
	_Atomic int stop;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *mnt, *what;
	pid_t pid;
	/* requests/s over the last sampling second */
	uint64_t last_n, last_t;
	double rate;
};

static int control_dir(char *buf, size_t n)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int r;

	if (geteuid() == 0)
		r = snprintf(buf, n, "/run/fuseproxy");
	else if (xdg && *xdg)
		r = snprintf(buf, n, "%s/fuseproxy", xdg);
	else
		r = snprintf(buf, n, "/tmp/fuseproxy-%u", (unsigned)geteuid());
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

int fp_control_path(const char *mnt, char *buf, size_t n)
{
	char dir[PATH_MAX];
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a of the mountpoint */
	int r;

	for (const char *p = mnt; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	if (control_dir(dir, sizeof dir) < 0)
		return -ENAMETOOLONG;
	r = snprintf(buf, n, "%s/%016llx.sock", dir, (unsigned long long)h);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static void fmt_age(char *b, size_t n, uint64_t ns)
{
	double s = (double)ns / 1e9;
	if (s < 1)
		snprintf(b, n, "%.1fms", s * 1e3);
	else if (s < 600)
		snprintf(b, n, "%.3fs", s);
	else
		snprintf(b, n, "%um%02us", (unsigned)(s / 60), (unsigned)s % 60);
}

static const char *where_name(int w)
{
	switch (w) {
	case FP_AT_BACKEND: return "backend";
	case FP_AT_BLOCKED: return "lock-wait";
	default:            return "proxy";
	}
}

static void answer_status(struct fp_control *c, FILE *f)
{
	struct fp_session *s = c->s;
	static struct fp_inflight list[MAX_LIST];	/* one control thread */
	uint64_t now = fp_now_ns();
	char age[32], up[32], cm[32];
	int n = fp_session_inflight(s, list, MAX_LIST);

	fmt_age(up, sizeof up, now - s->t0);
	fprintf(f, "fuseproxy %s on %s (pid %d, up %s)\n", c->what, c->mnt, (int)c->pid, up);
	fprintf(f, "requests: %llu total, %.0f/s, %llu errors; in flight: %d\n",
		(unsigned long long)atomic_load(&s->nreq), c->rate,
		(unsigned long long)atomic_load(&s->nerr), n);
	/* the trace is closed only after this thread has stopped */
	if (s->trace) {
		struct fp_trace_stats st;
		fp_trace_stats(s->trace, &st);
		fprintf(f, "trace: %llu records, %llu written, %llu dropped (rings full), "
			"%llu lost (write errors)%s\n", (unsigned long long)st.records,
			(unsigned long long)st.written, (unsigned long long)st.dropped,
			(unsigned long long)st.lost, st.write_error ? "; writing failed" : "");
	}
	if (!n)
		return;
	fprintf(f, "%-10s %-12s %-14s %-10s %-8s %-16s %s\n", "AGE", "UNIQUE", "OP", "NODE",
		"PID", "COMMAND", "WHERE");
	for (int i = 0; i < n; i++) {
		fmt_age(age, sizeof age, now - list[i].t_read);
		if (list[i].pid)
			fp_comm_of(list[i].pid, cm, sizeof cm);
		else
			snprintf(cm, sizeof cm, "-");
		fprintf(f, "%-10s %-12llu %-14s %-10llu %-8u %-16s %s\n", age,
			(unsigned long long)list[i].unique, fuse_opname(list[i].opcode),
			(unsigned long long)list[i].nodeid, list[i].pid, cm,
			where_name(list[i].where));
	}
}

static void serve_client(struct fp_control *c, int fd)
{
	char line[128];
	ssize_t r;
	struct pollfd p = { fd, POLLIN, 0 };

	/* a client that says nothing must not stall the control thread */
	if (poll(&p, 1, 1000) <= 0)
		return;
	r = read(fd, line, sizeof line - 1);
	if (r <= 0)
		return;
	line[r] = 0;
	line[strcspn(line, "\r\n")] = 0;
	FILE *f = fdopen(dup(fd), "w");
	if (!f)
		return;
	if (!strcmp(line, "status"))
		answer_status(c, f);
	else
		fprintf(f, "error: unknown request '%s'\n", line);
	fclose(f);
}

static void *control_main(void *arg)
{
	struct fp_control *c = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	c->last_t = fp_now_ns();
	while (!atomic_load(&c->stop)) {
		struct pollfd p = { c->lfd, POLLIN, 0 };
		int r = poll(&p, 1, 1000);
		uint64_t now = fp_now_ns();
		if (now - c->last_t >= 1000000000u) {
			uint64_t nreq = atomic_load(&c->s->nreq);
			c->rate = (double)(nreq - c->last_n) * 1e9 / (double)(now - c->last_t);
			c->last_n = nreq;
			c->last_t = now;
		}
		if (r <= 0 || !(p.revents & POLLIN))
			continue;
		int fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_client(c, fd);
		close(fd);
	}
	return NULL;
}

struct fp_control *fp_control_start(struct fp_session *s, const char *mnt,
				    const char *what, char *errbuf, size_t errlen)
{
	struct fp_control *c = calloc(1, sizeof *c);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int e;

	if (!c) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	c->s = s;
	c->lfd = -1;
	c->pid = getpid();
	c->mnt = strdup(mnt);
	c->what = strdup(what);
	if (control_dir(dir, sizeof dir) < 0 || fp_control_path(mnt, c->path, sizeof c->path) < 0) {
		snprintf(errbuf, errlen, "control socket path too long");
		goto fail;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(errbuf, errlen, "control directory %s: %s", dir, strerror(errno));
		goto fail;
	}
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->lfd < 0) {
		snprintf(errbuf, errlen, "control socket: %s", strerror(errno));
		goto fail;
	}
	/* a stale socket of a crashed fuseproxy on the same mountpoint */
	unlink(c->path);
	strcpy(sa.sun_path, c->path);
	mode_t old = umask(0177);
	e = bind(c->lfd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (e < 0 || listen(c->lfd, 16) < 0) {
		snprintf(errbuf, errlen, "control socket %s: %s", c->path, strerror(errno));
		goto fail;
	}
	e = pthread_create(&c->thread, NULL, control_main, c);
	if (e) {
		snprintf(errbuf, errlen, "control thread: %s", strerror(e));
		unlink(c->path);
		goto fail;
	}
	return c;
fail:
	if (c->lfd >= 0)
		close(c->lfd);
	free(c->mnt);
	free(c->what);
	free(c);
	return NULL;
}

void fp_control_stop(struct fp_control *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, 1);
	pthread_join(c->thread, NULL);
	close(c->lfd);
	unlink(c->path);
	free(c->mnt);
	free(c->what);
	free(c);
}

int fp_control_status(int argc, char **argv)
{
	char real[PATH_MAX], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536];
	ssize_t r;
	int fd;

	if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc == 2 ? stdout : stderr,
			"usage: fuseproxy status MNT\n\n"
			"List the requests a running fuseproxy has in flight on MNT, oldest\n"
			"first (age, unique, opcode, node, pid, command, and whether the\n"
			"backend has it), with request and error counters and, when\n"
			"recording, the trace's record/drop/loss counts.\n");
		return argc == 2 ? 0 : 2;
	}
	if (!realpath(argv[1], real)) {
		fprintf(stderr, "fuseproxy status: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (fp_control_path(real, path, sizeof path) < 0) {
		fprintf(stderr, "fuseproxy status: control socket path too long\n");
		return 1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "fuseproxy status: no fuseproxy answers for %s (%s: %s)\n",
			real, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (write(fd, "status\n", 7) != 7) {
		fprintf(stderr, "fuseproxy status: %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	while ((r = read(fd, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)r, stdout);
	close(fd);
	return 0;
}
