/* \summary: replay target "passthrough": the built-in passthrough behind
 * fuseproxy's own engine (proxy/session.c), in this process, no mount.
 *
 * The engine answers on a struct fp_chan; ours copies each message into a
 * queue that rp_target_recv() drains.  With workers = 0 the request is
 * served inside rp_target_send() on the caller's thread; otherwise worker
 * threads take requests from a job queue, as fuseproxy's /dev/fuse workers
 * would.  SETLKW is served on its own thread by the engine either way, so a
 * lock wait never blocks the driver.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "target.h"
#include "session.h"
#include "transport.h"
#include "opcodes.h"

struct msg {
	struct msg *next;
	size_t len;
	uint64_t data[];
};

struct job {
	struct job *next;
	uint32_t len;
	uint32_t outcap;
	uint64_t data[];          /* request, then fuse_out_header + payload */
};

struct pass {
	struct rp_target t;
	struct fp_session s;
	struct fp_fs *fs;
	struct fp_chan chan;
	int workers;

	pthread_mutex_t mu;       /* replies */
	pthread_cond_t cv;
	struct msg *head, *tail;
	_Atomic int nmsg;         /* queued replies (read without the lock) */
	int msg_sleepers;         /* threads in pthread_cond_wait on cv */

	pthread_mutex_t jmu;      /* jobs */
	pthread_cond_t jcv;
	struct job *jhead, *jtail;
	_Atomic int njobs;
	int job_sleepers;
	bool stop;
	_Atomic int next_w;
	pthread_t *threads;
	int nthreads;

	void *sbuf;               /* workers = 0: request + reply area */
	size_t sbuf_size;
};

#define PASS_OF_CHAN(c) ((struct pass *)((char *)(c) - offsetof(struct pass, chan)))
#define ALIGN8(x) (((x) + 7) & ~(size_t)7)
#define SYNC_BUF (2 * (size_t)FP_BUFSIZE)
/* A hand-off between threads costs two context switches when the other side
 * sleeps: wait for work this many rounds (yielding) before sleeping. */
#define SPIN_ROUNDS 200

static int chan_send(struct fp_chan *c, const void *buf, size_t len)
{
	struct pass *p = PASS_OF_CHAN(c);
	struct msg *m = malloc(sizeof *m + len);

	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->data, buf, len);
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = m;
	else
		p->head = m;
	p->tail = m;
	atomic_fetch_add(&p->nmsg, 1);
	if (p->msg_sleepers)
		pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

static void spin_for(_Atomic int *count)
{
	for (int i = 0; i < SPIN_ROUNDS && !atomic_load_explicit(count, memory_order_acquire); i++)
		sched_yield();
}

static const struct fp_chan_ops chan_ops = { .send = chan_send };

/* Room for the reply payload of a request: sized by what it asks for. */
static uint32_t reply_cap(const void *msg, size_t len)
{
	const struct fuse_in_header *h = msg;
	const uint8_t *arg = (const uint8_t *)msg + sizeof *h;
	size_t argl = len - sizeof *h;
	uint32_t want = 0;

	switch (h->opcode) {
	case FUSE_READ:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
		if (argl >= offsetof(struct fuse_read_in, read_flags))
			memcpy(&want, arg + offsetof(struct fuse_read_in, size), sizeof want);
		break;
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
		if (argl >= sizeof(struct fuse_getxattr_in))
			memcpy(&want, arg + offsetof(struct fuse_getxattr_in, size), sizeof want);
		break;
	case FUSE_IOCTL:
		if (argl >= sizeof(struct fuse_ioctl_in))
			memcpy(&want, arg + offsetof(struct fuse_ioctl_in, out_size), sizeof want);
		break;
	}
	if (want > FP_BUFSIZE)
		want = FP_BUFSIZE;
	return want + 8192;
}

static void serve(struct pass *p, void *buf, size_t len, uint32_t outcap, int worker)
{
	struct fp_req req;

	memset(&req, 0, sizeof req);
	req.in = buf;
	req.out = (char *)buf + ALIGN8(len) + sizeof(struct fuse_out_header);
	req.outcap = outcap;
	req.chan = &p->chan;
	req.worker = worker;
	req.t_read = fp_now_ns();
	fp_session_process(&p->s, &req);
}

static void *worker_main(void *arg)
{
	struct pass *p = arg;
	int w = atomic_fetch_add(&p->next_w, 1);
	sigset_t set;

	/* SIGUSR1 is how the engine interrupts a request being served */
	sigfillset(&set);
	sigdelset(&set, SIGUSR1);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	fp_session_worker_start(&p->s, w);
	for (;;) {
		spin_for(&p->njobs);
		pthread_mutex_lock(&p->jmu);
		while (!p->jhead && !p->stop) {
			p->job_sleepers++;
			pthread_cond_wait(&p->jcv, &p->jmu);
			p->job_sleepers--;
		}
		struct job *j = p->jhead;
		if (!j) {
			pthread_mutex_unlock(&p->jmu);
			break;
		}
		p->jhead = j->next;
		if (!p->jhead)
			p->jtail = NULL;
		atomic_fetch_sub(&p->njobs, 1);
		pthread_mutex_unlock(&p->jmu);
		serve(p, j->data, j->len, j->outcap, w);
		free(j);
	}
	return NULL;
}

static int pt_send(struct rp_target *t, const void *msg, size_t len, unsigned flags)
{
	struct pass *p = (struct pass *)t;
	uint32_t outcap = reply_cap(msg, len);

	if (len < sizeof(struct fuse_in_header) || len > FP_BUFSIZE)
		return -EMSGSIZE;
	if (!p->workers || ((flags & RP_SEND_ALONE) && !atomic_load(&p->njobs))) {
		/* the caller's thread has its own engine slot after the workers' */
		memcpy(p->sbuf, msg, len);
		serve(p, p->sbuf, len, outcap, p->workers);
		return 0;
	}
	struct job *j = malloc(sizeof *j + ALIGN8(len) + sizeof(struct fuse_out_header) + outcap);
	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->len = (uint32_t)len;
	j->outcap = outcap;
	memcpy(j->data, msg, len);
	pthread_mutex_lock(&p->jmu);
	if (p->jtail)
		p->jtail->next = j;
	else
		p->jhead = j;
	p->jtail = j;
	atomic_fetch_add(&p->njobs, 1);
	if (p->job_sleepers)
		pthread_cond_signal(&p->jcv);
	pthread_mutex_unlock(&p->jmu);
	return 0;
}

static ssize_t pt_recv(struct rp_target *t, void *buf, size_t cap, int timeout_ms)
{
	struct pass *p = (struct pass *)t;
	struct timespec ts;
	struct msg *m;
	ssize_t n;

	if (timeout_ms != 0 && p->workers)
		spin_for(&p->nmsg);
	pthread_mutex_lock(&p->mu);
	if (!p->head && timeout_ms != 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (timeout_ms > 0) {
			ts.tv_sec += timeout_ms / 1000;
			ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
		}
		while (!p->head) {
			p->msg_sleepers++;
			int r = timeout_ms < 0 ? pthread_cond_wait(&p->cv, &p->mu)
					       : pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			p->msg_sleepers--;
			if (r == ETIMEDOUT)
				break;
		}
	}
	m = p->head;
	if (m) {
		p->head = m->next;
		if (!p->head)
			p->tail = NULL;
		atomic_fetch_sub(&p->nmsg, 1);
	}
	pthread_mutex_unlock(&p->mu);
	if (!m)
		return -ETIMEDOUT;
	n = (ssize_t)m->len;
	memcpy(buf, m->data, m->len < cap ? m->len : cap);
	free(m);
	return (size_t)n > cap ? -EMSGSIZE : n;
}

static void pt_death(struct rp_target *t, char *buf, size_t n)
{
	(void)t;
	if (n)
		buf[0] = 0;
}

static void pt_abort(struct rp_target *t)
{
	/* a request stuck in this process cannot be taken back; the caller
	 * exits without waiting for it */
	(void)t;
}

static void free_queues(struct pass *p)
{
	while (p->head) {
		struct msg *m = p->head;
		p->head = m->next;
		free(m);
	}
	while (p->jhead) {
		struct job *j = p->jhead;
		p->jhead = j->next;
		free(j);
	}
}

static void pt_close(struct rp_target *t, char *how, size_t n)
{
	struct pass *p = (struct pass *)t;

	pthread_mutex_lock(&p->jmu);
	p->stop = true;
	pthread_cond_broadcast(&p->jcv);
	pthread_mutex_unlock(&p->jmu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	fp_session_fini(&p->s);
	if (p->fs)
		p->fs->ops->destroy(p->fs);
	free_queues(p);
	free(p->threads);
	free(p->sbuf);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->jmu);
	pthread_cond_destroy(&p->jcv);
	if (how)
		snprintf(how, n, "stopped");
	free(p);
}

static const struct rp_target_ops passthrough_ops = {
	.send = pt_send,
	.recv = pt_recv,
	.death = pt_death,
	.close = pt_close,
	.abort = pt_abort,
};

static void on_sigusr1(int sig)
{
	(void)sig;
}

struct rp_target *rp_target_passthrough(const struct pt_options *opt, int workers,
					char *err, size_t errlen)
{
	struct pass *p = calloc(1, sizeof *p);
	struct sigaction sa;
	int e = 0;

	if (!p || fp_session_init(&p->s, NULL, workers + 1) < 0) {
		snprintf(err, errlen, "out of memory");
		free(p);
		return NULL;
	}
	p->t.ops = &passthrough_ops;
	p->t.in_process = true;
	p->t.max_msg = FP_BUFSIZE;
	p->workers = workers;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_mutex_init(&p->jmu, NULL);
	pthread_cond_init(&p->jcv, NULL);
	p->chan.ops = &chan_ops;
	p->chan.fd = -1;
	p->s.notify_chan = &p->chan;

	/* The engine signals a thread serving an interrupted request with
	 * SIGUSR1; its default action would end the process. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	p->fs = pt_create(opt, &e, err, errlen);
	if (!p->fs)
		goto fail;
	p->s.fs = p->fs;
	p->sbuf_size = SYNC_BUF;
	p->sbuf = aligned_alloc(4096, SYNC_BUF);
	if (!p->sbuf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	fp_session_worker_start(&p->s, workers);
	if (workers) {
		p->threads = calloc((size_t)workers, sizeof *p->threads);
		if (!p->threads) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		p->nthreads = workers;
		for (int i = 0; i < workers; i++) {
			int r = pthread_create(&p->threads[i], NULL, worker_main, p);
			if (r) {
				p->nthreads = i;
				snprintf(err, errlen, "cannot start a worker thread: %s", strerror(r));
				goto fail;
			}
		}
	}
	snprintf(p->t.desc, sizeof p->t.desc, "passthrough %s (in-process, %s)",
		 opt->source, workers ? "worker threads" : "synchronous");
	return &p->t;
fail:
	pt_close(&p->t, NULL, 0);
	return NULL;
}
