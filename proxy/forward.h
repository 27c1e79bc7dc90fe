/* \summary: forwarding to an unmodified FUSE daemon (fuseproxy --backend). */
#ifndef FP_FORWARD_H
#define FP_FORWARD_H

#include <stddef.h>
#include "fs.h"

struct fp_session;

struct fwd_options {
	const char *cmd;            /* --backend, split like a shell would */
	int log_fd;                 /* --backend-log, or -1 for our stderr */
	double timeout;             /* --backend-timeout seconds, 0 = off */
	int verbose, debug;
	int restart;                /* --restart: restart the backend when it dies */
	int restart_per_min;        /* --restart=N: at most N a minute (0 = no cap) */
	/* Called (from the reader thread) once when the backend is gone or
	 * must be given up: socket closed, exited, timed out (with --restart:
	 * when it cannot be restarted). */
	void (*died)(void *arg);
	void *died_arg;
	struct fp_journal *journal;  /* under a holder: journal what the kernel sees */
	int takeover;               /* a worker died: start from the journal
				       (fwd_takeover), not from a kernel INIT */
	uint64_t t_death;           /* when it died (fp_now_ns), for the stats */
};

/* Start the backend; returns NULL with a message on failure. */
struct fp_fs *fwd_create(const struct fwd_options *o, struct fp_session *s,
			 char *errbuf, size_t errlen);

/* Why the backend went away ("exited with status 1", "stopped answering:
 * READ #84 pending for 5.0 s"), or NULL while it is alive. */
const char *fwd_death_reason(struct fp_fs *fs);

/* Stop the backend in order (DESTROY, SIGTERM, wait) and return its wait
 * status; the fs must still be destroyed with ops->destroy. */
int fwd_stop(struct fp_fs *fs);

/* Take over from a dead worker (takeover.c): rebuild the state from the
 * journal, give the kernel the journaled replies it may lack (on fds, the
 * files the workers read), and start bringing a backend up.  The caller
 * then starts the transport and sends NOTIFY_RESEND.  0 or -errno. */
struct fp_journal;
int fwd_takeover(struct fp_fs *fs, struct fp_journal *j, const int *fds, int nfds,
		 char *errbuf, size_t errlen);

#endif
