/* \summary: which idle worker waits for the next request (transports).
 *
 * A pool of workers shares one request queue (the /dev/fuse fd and its
 * clones, or a socket).  Waking a sleeping worker for each request costs a
 * context switch and, more often than not, an IPI to the other CPU; a
 * single-threaded daemon pays neither at one request at a time, because
 * its one thread is already runnable on the caller's CPU when the next
 * request comes.  So at most one worker sleeps on the queue, the others are
 * parked, and a worker that finishes a request reads again before it
 * sleeps: at one request at a time the same warm worker serves them all.
 *
 * Parked workers join in when requests queue up behind the one just taken,
 * and a watchdog unparks one when the queue has not moved for
 * FP_IDLE_STALL_MS while workers are busy (a request that blocks: a FIFO
 * open waiting for its writer, a slow disk), so no request waits on
 * another one for longer than that.
 */
#ifndef FP_IDLE_H
#define FP_IDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define FP_IDLE_STALL_MS 2

struct fp_idle {
	int fd;                  /* the queue, for a zero-timeout poll() */
	int epfd;                /* fd (edge-triggered) and stopfd (level) */
	int stopfd;              /* eventfd: set once, every worker leaves */
	_Atomic int ending;
	_Atomic int nwaiting;    /* workers asleep in epoll_wait() */
	_Atomic int nbusy;       /* workers serving a request */
	_Atomic int nparked;
	_Atomic uint64_t taken;  /* requests taken so far */
	_Atomic uint64_t t_took; /* when the last one was (fp_now_ns) */
	_Atomic int wd_asleep;   /* the watchdog waits without a timeout */

	pthread_mutex_t lock;    /* parking and the watchdog */
	pthread_cond_t park;
	pthread_cond_t wd_cond;
	int tokens;              /* unparks not yet consumed */
	pthread_t wd;
	int wd_started;
};

/* Set up for queue fd; errbuf gets a message on failure (-errno). */
int fp_idle_init(struct fp_idle *q, int fd, char *errbuf, size_t errlen);
/* A worker read nothing (EAGAIN): sleep until it should read again.
 * Returns 0 to read again, 1 to leave (the end). */
int fp_idle_wait(struct fp_idle *q);
/* A worker took a request / finished serving it.  queued: the request was
 * there when the worker came back from serving the previous one (requests
 * queue up, so more may wait behind it); a request read right after a
 * wait is not looked behind (that would be a poll() per request at one
 * request at a time), and one queued behind it is for the worker to read
 * when it is done, or for the watchdog.  now_ns: when it was read
 * (fp_now_ns(), which the worker has already taken for the request). */
void fp_idle_took(struct fp_idle *q, int queued, uint64_t now_ns);
void fp_idle_done(struct fp_idle *q);
/* Every worker leaves its wait, now and from now on. */
void fp_idle_end(struct fp_idle *q);
/* After the workers have left. */
void fp_idle_fini(struct fp_idle *q);

#endif
