/* \summary: replay target "backend": a FUSE daemon on a socketpair. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "target.h"
#include "daemon.h"

struct backend {
	struct rp_target t;
	struct fp_daemon d;
	bool stopped;
	int rcvtimeo_ms;          /* SO_RCVTIMEO now on the socket (-1 = none) */
};

#define BK(t) ((struct backend *)(t))

static int bk_send(struct rp_target *t, const void *msg, size_t len, unsigned flags)
{
	(void)flags;
	return fp_daemon_send(&BK(t)->d, msg, len);
}

/* One message, waiting at most timeout_ms (-1: forever).  A receive timeout
 * on the socket instead of poll() saves a system call per reply, which
 * counts when replaying serially at tens of thousands of requests a second;
 * the timeout is set only when it changes. */
static ssize_t bk_recv(struct rp_target *t, void *buf, size_t cap, int timeout_ms)
{
	struct backend *b = BK(t);
	struct iovec iov = { buf, cap };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (timeout_ms != 0 && timeout_ms != b->rcvtimeo_ms) {
		struct timeval tv = { 0, 0 };
		if (timeout_ms > 0) {
			tv.tv_sec = timeout_ms / 1000;
			tv.tv_usec = (timeout_ms % 1000) * 1000;
		}
		if (setsockopt(b->d.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
			return -errno;
		b->rcvtimeo_ms = timeout_ms;
	}
	do
		n = recvmsg(b->d.sock, &msg, timeout_ms == 0 ? MSG_DONTWAIT : 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		if (errno == ECONNRESET || errno == EPIPE)
			return 0;
		return -errno;
	}
	if (msg.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return n;
}

static void bk_death(struct rp_target *t, char *buf, size_t n)
{
	struct fp_daemon *d = &BK(t)->d;

	/* a daemon usually exits right after its end of the socket closes */
	for (int i = 0; i < 100 && !fp_daemon_poll_exit(d); i++)
		usleep(5000);
	if (fp_daemon_poll_exit(d))
		fp_daemon_describe(d->status, buf, n);
	else
		snprintf(buf, n, "closed its connection (still running)");
}

static void bk_abort(struct rp_target *t)
{
	struct backend *b = BK(t);

	if (b->d.pid > 0 && !fp_daemon_poll_exit(&b->d))
		kill(-b->d.pid, SIGKILL);
}

static void bk_close(struct rp_target *t, char *how, size_t n)
{
	struct backend *b = BK(t);
	int status;

	/* libfuse daemons leave their loop cleanly on SIGTERM; closing the
	 * socket first would make them report a short read */
	if (b->d.pid > 0 && !fp_daemon_poll_exit(&b->d)) {
		kill(-b->d.pid, SIGTERM);
		for (int i = 0; i < 500 && !fp_daemon_poll_exit(&b->d); i++)
			usleep(10000);
	}
	status = fp_daemon_stop(&b->d, 5000);
	if (how)
		fp_daemon_describe(status, how, n);
	free(b);
}

static const struct rp_target_ops backend_ops = {
	.send = bk_send,
	.recv = bk_recv,
	.death = bk_death,
	.close = bk_close,
	.abort = bk_abort,
};

struct rp_target *rp_target_backend(const char *cmd, int log_fd, char *err, size_t errlen)
{
	struct backend *b = calloc(1, sizeof *b);

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (fp_daemon_start(&b->d, cmd, log_fd, err, errlen) < 0) {
		free(b);
		return NULL;
	}
	b->t.ops = &backend_ops;
	b->rcvtimeo_ms = -1;
	b->t.max_msg = b->d.max_msg;
	snprintf(b->t.desc, sizeof b->t.desc, "backend '%s' (pid %d)", cmd, (int)b->d.pid);
	return &b->t;
}
