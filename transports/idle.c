/* \summary: which idle worker waits for the next request (see idle.h).
 *
 * The one sleeper waits in epoll_wait() rather than in a blocking read():
 * the queue fd is in the epoll set edge-triggered, so each request queued
 * while nobody sleeps leaves a mark that the next epoll_wait() returns at
 * once, and workers read (non-blocking) until EAGAIN before sleeping, so
 * no request is left behind.  The end of the connection is an eventfd in
 * the same set, level-triggered, which every sleeper sees.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "idle.h"
#include "deadline.h"
#include "session.h"

enum { EV_QUEUE, EV_END };

static int pending(struct fp_idle *q)
{
	struct pollfd p = { .fd = q->fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void unpark(struct fp_idle *q)
{
	pthread_mutex_lock(&q->lock);
	if (atomic_load(&q->nparked) > q->tokens) {
		q->tokens++;
		pthread_cond_signal(&q->park);
	}
	pthread_mutex_unlock(&q->lock);
}

/* The watchdog: while workers are busy it looks every FP_IDLE_STALL_MS
 * whether the queue moved; when it did not and requests wait, it unparks a
 * worker.  With nothing being served it sleeps until a request is taken. */
static void *watchdog_main(void *arg)
{
	struct fp_idle *q = arg;
	uint64_t seen = atomic_load(&q->taken);
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	pthread_mutex_lock(&q->lock);
	while (!atomic_load(&q->ending)) {
		struct timespec ts = fp_deadline_ms(CLOCK_MONOTONIC, FP_IDLE_STALL_MS);
		pthread_cond_timedwait(&q->wd_cond, &q->lock, &ts);
		uint64_t now = atomic_load(&q->taken);
		if (now == seen && atomic_load(&q->nbusy) > 0 && atomic_load(&q->nwaiting) == 0 &&
		    atomic_load(&q->nparked) > q->tokens && pending(q)) {
			q->tokens++;
			pthread_cond_signal(&q->park);
		}
		if (now == seen && atomic_load(&q->nbusy) == 0) {
			/* idle: fp_idle_took() wakes us (it checks the flag
			 * after counting, we check the count after flagging) */
			atomic_store(&q->wd_asleep, 1);
			while (atomic_load(&q->taken) == seen && !atomic_load(&q->ending))
				pthread_cond_wait(&q->wd_cond, &q->lock);
			atomic_store(&q->wd_asleep, 0);
		}
		seen = atomic_load(&q->taken);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int fp_idle_init(struct fp_idle *q, int fd, char *errbuf, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = EV_QUEUE };
	pthread_condattr_t ca;
	int e;

	memset(q, 0, sizeof *q);
	q->fd = fd;
	q->epfd = epoll_create1(EPOLL_CLOEXEC);
	q->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->epfd < 0 || q->stopfd < 0 || epoll_ctl(q->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.u32 = EV_END;
	if (epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->stopfd, &ev) < 0)
		goto fail;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->park, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->wd_cond, &ca);
	pthread_condattr_destroy(&ca);
	e = pthread_create(&q->wd, NULL, watchdog_main, q);
	if (e) {
		errno = e;
		goto fail;
	}
	q->wd_started = 1;
	return 0;
fail:
	e = errno;
	snprintf(errbuf, errlen, "setting up the workers' wait: %s", strerror(e));
	return -e;
}

/* Spin, then sleep.  Right after a request was taken the next one is
 * likely within microseconds (at one request at a time, the application's
 * next call once the reply is in), and a sleeper woken for it costs the
 * request a wake-up, on a VM often a halted vCPU to bring back.  So the one
 * sleeper first looks (epoll_wait() without a timeout) for up to
 * FP_SPIN_NS after the last take, yielding the CPU between looks so
 * that the application or a backend can run on it.  Idle, it sleeps at
 * once.  Returns what epoll_wait() did, 0 if nothing came. */
static int spin(struct fp_idle *q, struct epoll_event *ev)
{
	int r = 0;

	while (fp_now_ns() - atomic_load_explicit(&q->t_took, memory_order_relaxed) <
	       FP_SPIN_NS) {
		r = epoll_wait(q->epfd, ev, 1, 0);
		if (r)
			break;
		sched_yield();
	}
	return r;
}

int fp_idle_wait(struct fp_idle *q)
{
	struct epoll_event ev;
	int r;

	if (atomic_load(&q->ending))
		return 1;
	if (atomic_load(&q->nwaiting) > 0) {
		/* someone already sleeps on the queue: park */
		pthread_mutex_lock(&q->lock);
		atomic_fetch_add(&q->nparked, 1);
		while (!q->tokens && !atomic_load(&q->ending))
			pthread_cond_wait(&q->park, &q->lock);
		if (q->tokens)
			q->tokens--;
		atomic_fetch_sub(&q->nparked, 1);
		pthread_mutex_unlock(&q->lock);
		return atomic_load(&q->ending);
	}
	atomic_fetch_add(&q->nwaiting, 1);
	r = spin(q, &ev);
	if (!r)
		r = epoll_wait(q->epfd, &ev, 1, -1);
	atomic_fetch_sub(&q->nwaiting, 1);
	if (r < 0 && errno != EINTR)
		return 1;	/* EBADF/EINVAL: a bug, not a reason to spin */
	return atomic_load(&q->ending) || (r == 1 && ev.data.u32 == EV_END);
}

void fp_idle_took(struct fp_idle *q, int queued, uint64_t now_ns)
{
	atomic_fetch_add(&q->nbusy, 1);
	atomic_fetch_add(&q->taken, 1);
	atomic_store_explicit(&q->t_took, now_ns, memory_order_relaxed);
	/* more requests queued behind this one and nobody to take them */
	if (queued && atomic_load(&q->nwaiting) == 0 && atomic_load(&q->nparked) > 0 &&
	    pending(q))
		unpark(q);
	if (atomic_load(&q->wd_asleep) && atomic_exchange(&q->wd_asleep, 0)) {
		pthread_mutex_lock(&q->lock);
		pthread_cond_signal(&q->wd_cond);
		pthread_mutex_unlock(&q->lock);
	}
}

void fp_idle_done(struct fp_idle *q)
{
	atomic_fetch_sub(&q->nbusy, 1);
}

void fp_idle_end(struct fp_idle *q)
{
	uint64_t one = 1;

	if (atomic_exchange(&q->ending, 1))
		return;
	if (q->stopfd >= 0 && write(q->stopfd, &one, sizeof one) < 0)
		perror("fuseproxy: waking the workers");
	if (!q->wd_started)
		return;
	pthread_mutex_lock(&q->lock);
	pthread_cond_broadcast(&q->park);
	pthread_cond_signal(&q->wd_cond);
	pthread_mutex_unlock(&q->lock);
}

void fp_idle_fini(struct fp_idle *q)
{
	fp_idle_end(q);
	if (q->wd_started) {
		pthread_join(q->wd, NULL);
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->park);
		pthread_cond_destroy(&q->wd_cond);
		q->wd_started = 0;
	}
	if (q->epfd >= 0)
		close(q->epfd);
	if (q->stopfd >= 0)
		close(q->stopfd);
	q->epfd = q->stopfd = -1;
}
