/* \summary: the holder: the first fuseproxy process of `--backend CMD
 * --restart`.  It mounted and keeps the kernel connection (the mounted
 * /dev/fuse file and its clones, one per worker thread) and the journal
 * memfd, runs the proxy as a forked worker process, and forks a new one
 * when the worker dies by a signal (doc/recovery.md section 8).
 *
 * It is single-threaded and allocates nothing once it runs: waitpid,
 * signal forwarding, killing what the dead worker left behind.
 */
#ifndef FP_HOLDER_H
#define FP_HOLDER_H

#include <stdint.h>
#include <sys/types.h>

/* What a worker is told (a copy in its memory, made by fork). */
struct fp_holder_info {
	pid_t holder;
	int nfds;
	const int *fds;                /* fds[i]: the file worker thread i reads */
	int journal_fd;
	uint32_t worker_no;            /* 0 for the first worker */
	uint32_t deaths;               /* workers that died so far */
	int last_signal;               /* what killed the last one */
	uint64_t t_death;              /* CLOCK_MONOTONIC ns of that death */
	uint64_t t_fork;               /* when this worker was forked */
	uint32_t killed_backends;      /* processes it left that were killed */
};

struct fp_holder_opts {
	int verbose;
	int restart_per_min;           /* 0: no cap */
	const char *mnt;               /* for messages */
	/* runs in each worker; its return value is the worker's exit code */
	int (*worker)(void *arg, const struct fp_holder_info *hi);
	void *arg;
	/* in the holder, when it ends without a worker that unmounted (a
	 * restart refused, a signal while no worker runs): unmount */
	void (*unmount)(void *arg);
};

/* Run the holder with `info` prefilled (holder, nfds, fds, journal_fd).
 * Returns the exit code of the process: the last worker's, or 1. */
int fp_holder_run(const struct fp_holder_opts *o, struct fp_holder_info *info);

#endif
