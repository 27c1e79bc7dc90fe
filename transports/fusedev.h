/* \summary: the /dev/fuse transport: N worker threads, each reading and
 * replying on its own cloned fd. */
#ifndef FP_FUSEDEV_H
#define FP_FUSEDEV_H

#include <stddef.h>

struct fp_session;
struct fp_fusedev;

/* Called once, from a worker, when the connection ends (external umount,
 * abort) or a worker fails; err is 0 for a normal end. */
typedef void (*fp_fusedev_ended_fn)(void *arg, int err);

/* Start nthreads workers on the mounted fd (worker 0 reads `fd` itself,
 * the others clone it).  shared: all workers read `fd` itself, for an fd
 * that cannot be cloned (the socket a proxy passed us as /dev/fd/N; one
 * message per read and write keeps that safe).  Returns NULL with a
 * message on failure. */
struct fp_fusedev *fp_fusedev_start(int fd, int nthreads, int shared, struct fp_session *s,
				    fp_fusedev_ended_fn ended, void *arg,
				    char *errbuf, size_t errlen);

/* The same on files the caller made and keeps (fds[i] for worker i: the
 * mounted fd and its clones), e.g. a holder process that outlives us and
 * hands them to our successor.  They are not closed here.  inbufs (or
 * NULL): worker i reads into inbufs[i] (FP_BUFSIZE bytes, the caller's,
 * placed like ours: a WRITE's data, after fuse_in_header and fuse_write_in,
 * on a page boundary; see fp_journal_slot()), e.g. shared memory a successor can look at: what a
 * read() returned is there even if the process is killed right after. */
struct fp_fusedev *fp_fusedev_start_fds(const int *fds, void *const *inbufs, int nthreads,
					struct fp_session *s, fp_fusedev_ended_fn ended,
					void *arg, char *errbuf, size_t errlen);

/* A new /dev/fuse file attached to fd's connection (FUSE_DEV_IOC_CLONE),
 * close-on-exec.  The fd or -errno with a message. */
int fp_fusedev_clone(int fd, char *errbuf, size_t errlen);

/* Wake every worker blocked in read() and wait for all of them.  Call after
 * unmounting (the connection usually ends by itself then); gives up waiting
 * after `timeout_ms` and returns -ETIMEDOUT so the caller can abort the
 * connection and call it again. */
int fp_fusedev_stop(struct fp_fusedev *d, int timeout_ms);

void fp_fusedev_free(struct fp_fusedev *d);

#endif
