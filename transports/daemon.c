/* \summary: starting, talking to and stopping a FUSE daemon on a socket.
 *
 * The daemon gets one end of a SOCK_SEQPACKET socketpair as /dev/fd/N.
 * libfuse 3.3+ takes a mountpoint of exactly "/dev/fd/N" as an
 * already-opened FUSE device, skips mounting, and then read()s one request
 * per call and writev()s one reply per call; SEQPACKET keeps those message
 * boundaries, just as /dev/fuse does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

char **fp_split_words(const char *cmd, int *err)
{
	size_t len = strlen(cmd);
	/* at most len/2+1 words; the text needs at most len+words bytes */
	size_t nmax = len / 2 + 2;
	char **argv = malloc(nmax * sizeof(char *) + len + nmax);
	char *out;
	size_t n = 0;
	const char *p = cmd;

	if (!argv) {
		*err = -ENOMEM;
		return NULL;
	}
	out = (char *)(argv + nmax);
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		argv[n++] = out;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\'') {
				const char *q = strchr(p + 1, '\'');
				if (!q)
					goto bad;
				memcpy(out, p + 1, (size_t)(q - p - 1));
				out += q - p - 1;
				p = q + 1;
			} else if (*p == '"') {
				p++;
				while (*p && *p != '"') {
					/* inside "", backslash quotes only these */
					if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
						p++;
					*out++ = *p++;
				}
				if (*p != '"')
					goto bad;
				p++;
			} else if (*p == '\\') {
				if (!p[1])
					goto bad;
				*out++ = p[1];
				p += 2;
			} else {
				*out++ = *p++;
			}
		}
		*out++ = 0;
	}
	argv[n] = NULL;
	*err = 0;
	return argv;
bad:
	free(argv);
	*err = -EINVAL;
	return NULL;
}

/* Replace every "{}" in w with path; returns w itself if none. */
static char *subst(const char *w, const char *path, int *found)
{
	const char *q = strstr(w, "{}");
	if (!q)
		return (char *)w;
	*found = 1;
	size_t n = strlen(w) + strlen(path) * (strlen(w) / 2) + 1;
	char *r = malloc(n), *o = r;
	if (!r)
		return NULL;
	while ((q = strstr(w, "{}"))) {
		memcpy(o, w, (size_t)(q - w));
		o += q - w;
		o = stpcpy(o, path);
		w = q + 2;
	}
	strcpy(o, w);
	return r;
}

/* One FUSE message is one SEQPACKET message, and a unix socket refuses
 * (EMSGSIZE) any message larger than its sender's send buffer, whose
 * default (net.core.wmem_default, ~208 KiB) is less than a 1 MiB READ
 * reply or WRITE request.  Ask for room for the largest (the kernel
 * doubles the value; FORCE passes net.core.wmem_max when we may), and
 * note what we got so INIT can keep messages below it. */
static void set_sndbuf(struct fp_daemon *d, const int sv[2])
{
	int want = FP_DAEMON_SNDBUF, got;
	socklen_t len;

	d->max_msg = (size_t)-1;
	for (int i = 0; i < 2; i++) {
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
		len = sizeof got;
		if (getsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &got, &len) == 0 && got > 64 &&
		    (size_t)got - 32 < d->max_msg)
			d->max_msg = (size_t)got - 32;	/* af_unix keeps 32 bytes back */
	}
}

int fp_daemon_start(struct fp_daemon *d, const char *cmd, int log_fd,
		    char *errbuf, size_t errlen)
{
	int sv[2], err, found = 0;
	char **words, path[32];
	char **argv = NULL;
	size_t n = 0;

	memset(d, 0, sizeof *d);
	d->sock = -1;
	words = fp_split_words(cmd, &err);
	if (!words) {
		snprintf(errbuf, errlen, "--backend '%s': %s", cmd,
			 err == -EINVAL ? "unbalanced quote or trailing backslash"
					: strerror(-err));
		return err;
	}
	if (!words[0]) {
		free(words);
		snprintf(errbuf, errlen, "--backend: empty command");
		return -EINVAL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "socketpair: %s", strerror(-err));
		free(words);
		return err;
	}
	set_sndbuf(d, sv);
	snprintf(path, sizeof path, "/dev/fd/%d", sv[1]);
	while (words[n])
		n++;
	argv = calloc(n + 2, sizeof *argv);
	if (!argv)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (!(argv[i] = subst(words[i], path, &found)))
			goto nomem;
	if (!found)
		argv[n] = path;

	/* the child's end must survive exec and keep its number */
	pid_t pid = fork();
	if (pid < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "fork: %s", strerror(-err));
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		sigset_t all;
		setpgid(0, 0);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (devnull >= 0)
			dup2(devnull, 0);
		if (log_fd >= 0) {
			dup2(log_fd, 1);
			dup2(log_fd, 2);
		} else {
			dup2(2, 1);
		}
		fcntl(sv[1], F_SETFD, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "fuseproxy: cannot run backend '%s': %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);	/* also from here: no race with the kill below */
	close(sv[1]);
	sv[1] = -1;
	d->sock = sv[0];
	d->pid = pid;
	d->cmdline = strdup(cmd);
	err = 0;
	goto out;
nomem:
	err = -ENOMEM;
	snprintf(errbuf, errlen, "out of memory");
out:
	if (err) {
		close(sv[0]);
		if (sv[1] >= 0)
			close(sv[1]);
	}
	if (argv) {
		for (size_t i = 0; i < n; i++)
			if (argv[i] && argv[i] != words[i])
				free(argv[i]);
		free(argv);
	}
	free(words);
	return err;
}

int fp_daemon_send(struct fp_daemon *d, const void *msg, size_t len)
{
	ssize_t r;

	do
		r = send(d->sock, msg, len, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

ssize_t fp_daemon_recv(struct fp_daemon *d, void *buf, size_t cap, int flags)
{
	struct iovec iov = { buf, cap };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	do
		r = recvmsg(d->sock, &msg, flags);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (msg.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return r;
}

int fp_daemon_poll_exit(struct fp_daemon *d)
{
	if (d->reaped)
		return 1;
	if (d->pid > 0 && waitpid(d->pid, &d->status, WNOHANG) == d->pid) {
		d->reaped = 1;
		return 1;
	}
	return 0;
}

int fp_daemon_stop(struct fp_daemon *d, int timeout_ms)
{
	struct timespec ts = { 0, 10 * 1000000 };
	int waited = 0;

	if (d->pid > 0 && !fp_daemon_poll_exit(d)) {
		kill(-d->pid, SIGTERM);
		while (!fp_daemon_poll_exit(d) && waited < timeout_ms) {
			nanosleep(&ts, NULL);
			waited += 10;
		}
		if (!d->reaped) {
			kill(-d->pid, SIGKILL);
			while (waitpid(d->pid, &d->status, 0) < 0 && errno == EINTR)
				;
			d->reaped = 1;
		}
	}
	if (d->sock >= 0)
		close(d->sock);
	d->sock = -1;
	free(d->cmdline);
	d->cmdline = NULL;
	return d->status;
}

void fp_daemon_describe(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by SIG%s%s",
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, n, "status 0x%x", status);
}
