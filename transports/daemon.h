/* \summary: the backend side: an unmodified FUSE daemon started with one
 * end of a SOCK_SEQPACKET socketpair as its /dev/fd/N "FUSE device"
 * (the libfuse >= 3.3 convention for an already-opened FUSE fd). */
#ifndef FP_DAEMON_H
#define FP_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

/* Send buffer asked for on both ends of the socketpair (the kernel doubles
 * it): room for a 1 MiB READ reply or WRITE request with headers. */
#define FP_DAEMON_SNDBUF (2 << 20)

struct fp_daemon {
	int sock;                 /* our end; one message per send/recv */
	pid_t pid;                /* the process we started (it may fork) */
	int status;               /* wait status once reaped */
	int reaped;
	char *cmdline;            /* as given, for messages */
	size_t max_msg;           /* largest message either end can send */
};

/* Split `cmd` into words like a POSIX shell would (quotes and backslash,
 * no expansion).  Returns a NULL-terminated vector in one allocation
 * (free it with free()), or NULL with *err = -EINVAL (unbalanced quote)
 * or -ENOMEM. */
char **fp_split_words(const char *cmd, int *err);

/* Start the backend: `{}` in any word is replaced by /dev/fd/N, otherwise
 * /dev/fd/N is appended as the last argument.  Its stdin is /dev/null,
 * stdout/stderr go to log_fd (or ours if -1).  It runs in its own process
 * group so a terminal's Ctrl-C reaches only fuseproxy, which shuts the
 * backend down in order.  Returns 0 or -errno with a message. */
int fp_daemon_start(struct fp_daemon *d, const char *cmd, int log_fd,
		    char *errbuf, size_t errlen);

/* Send one whole message.  Safe from several threads at once: a
 * SOCK_SEQPACKET send is atomic.  Returns 0 or -errno. */
int fp_daemon_send(struct fp_daemon *d, const void *msg, size_t len);

/* Receive one message into buf (flags: recvmsg's, e.g. MSG_DONTWAIT);
 * returns its length, 0 when the backend closed its end, -EMSGSIZE if it
 * did not fit, or -errno. */
ssize_t fp_daemon_recv(struct fp_daemon *d, void *buf, size_t cap, int flags);

/* Reap without blocking (1 if it has exited, 0 if still running). */
int fp_daemon_poll_exit(struct fp_daemon *d);

/* Stop: SIGTERM to its process group, wait up to timeout_ms, then
 * SIGKILL; close the socket.  Returns the exit status in wait(2) form. */
int fp_daemon_stop(struct fp_daemon *d, int timeout_ms);

/* "exited with status 1", "killed by SIGSEGV (core dumped)" */
void fp_daemon_describe(int status, char *buf, size_t n);

#endif
