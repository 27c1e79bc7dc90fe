/* \summary: the holder process (see holder.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "holder.h"
#include "session.h"

/* Kill what the dead worker left (its backends, re-parented to us as the
 * subreaper) and wait until it is gone: a new backend must not run next
 * to an old one still executing a request.  Returns how many were
 * killed. */
static uint32_t kill_orphans(void)
{
	char path[64], buf[4096];
	uint32_t killed = 0;

	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	for (int round = 0; round < 500; round++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), any = 0;
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			for (char *p = buf, *end; *p; p = end) {
				long pid = strtol(p, &end, 10);
				if (end == p)
					break;
				if (pid > 0) {
					/* backends run in their own process group */
					kill(-(pid_t)pid, SIGKILL);
					kill((pid_t)pid, SIGKILL);
					any = 1;
				}
			}
		}
		/* reap whatever died */
		for (;;) {
			int st;
			pid_t r = waitpid(-1, &st, WNOHANG);
			if (r <= 0)
				break;
			killed++;
		}
		if (!any && n >= 0)
			return killed;
		struct timespec ts = { 0, 2 * 1000000 };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "fuseproxy: holder: processes of the dead worker do not go away\n");
	return killed;
}

static pid_t spawn(const struct fp_holder_opts *o, struct fp_holder_info *info,
		   const sigset_t *orig)
{
	info->t_fork = fp_now_ns();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* the worker: its own signal handling, a name to tell it by */
	sigprocmask(SIG_SETMASK, orig, NULL);
	prctl(PR_SET_NAME, "fp-worker", 0, 0, 0);
	exit(o->worker(o->arg, info));
}

int fp_holder_run(const struct fp_holder_opts *o, struct fp_holder_info *info)
{
	sigset_t set, orig;
	uint64_t window = 0;
	uint32_t in_window = 0;
	int stopping = 0, rc = 1;
	pid_t worker;

	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &orig);
	sigdelset(&orig, SIGCHLD);

	worker = spawn(o, info, &orig);
	if (worker < 0) {
		fprintf(stderr, "fuseproxy: holder: fork: %s\n", strerror(errno));
		o->unmount(o->arg);
		return 1;
	}
	if (o->verbose)
		fprintf(stderr, "fuseproxy: holder pid %d keeps %s; worker pid %d\n",
			(int)info->holder, o->mnt, (int)worker);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si), st;
		pid_t r;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* the worker unmounts and exits; without one, we do */
			stopping = 1;
			if (worker > 0)
				kill(worker, sig);
			else
				break;
			continue;
		}
		while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
			if (r != worker)
				continue;	/* an orphaned backend */
			worker = -1;
			if (!WIFSIGNALED(st)) {
				/* it ended the mount (or gave up on it) */
				rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
				kill_orphans();
				return rc;
			}
			uint64_t now = fp_now_ns();
			info->deaths++;
			info->last_signal = WTERMSIG(st);
			info->t_death = now;
			fprintf(stderr, "fuseproxy: holder: worker killed by SIG%s%s\n",
				sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?",
				stopping ? "" : "; starting a new one");
			if (stopping)
				break;
			info->killed_backends = kill_orphans();
			if (o->restart_per_min > 0) {
				if (now - window > 60000000000ull) {
					window = now;
					in_window = 0;
				}
				if (++in_window > (uint32_t)o->restart_per_min) {
					fprintf(stderr, "fuseproxy: holder: %u worker deaths in a minute "
						"(--restart=%d): giving up, unmounting %s\n", in_window,
						o->restart_per_min, o->mnt);
					break;
				}
			}
			info->worker_no++;
			worker = spawn(o, info, &orig);
			if (worker < 0) {
				fprintf(stderr, "fuseproxy: holder: fork: %s\n", strerror(errno));
				break;
			}
		}
		if (worker < 0)
			break;
	}
	kill_orphans();
	o->unmount(o->arg);
	return rc;
}
