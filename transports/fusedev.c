/* \summary: /dev/fuse transport.
 *
 * Each worker owns an fd: worker 0 the mounted one, the others a fresh
 * /dev/fuse fd attached with FUSE_DEV_IOC_CLONE, so each has its own
 * processing queue and replies never contend.  One read() returns exactly
 * one request; the reply is one write() on the same fd.  Buffers are sized
 * for the largest request we negotiate (FP_BUFSIZE) and allocated once.
 *
 * Reads are non-blocking: a worker that finds nothing queued goes to
 * idle.c, which decides whether it sleeps on the queue or is parked (one
 * sleeper at a time, so one request at a time stays on one warm worker).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fusedev.h"
#include "idle.h"
#include "transport.h"
#include "session.h"

struct worker {
	struct fp_fusedev *dev;
	struct fp_chan chan;
	int index;
	int own_fd;              /* cloned fd we must close */
	pthread_t thread;
	int started;
	_Atomic int done;
	void *inbuf;             /* FP_BUFSIZE, WRITE data page-aligned */
	void *outbuf;            /* FP_BUFSIZE, header room + payload */
	void *inmem, *outmem;    /* our allocations (inmem NULL: the caller's inbuf) */
};

/* Where a WRITE's data starts in the request, and a reply's payload after
 * its header: buffers are placed so that both land on a page boundary.
 * Then O_DIRECT files (the app asked for direct I/O; the source may insist
 * on alignment) are read and written in place, with no bounce copy of
 * every byte (a 1 MiB direct write copied 1 MiB more than it moved). */
#define IN_DATA_OFF  (sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))
#define OUT_DATA_OFF sizeof(struct fuse_out_header)
#define PAGE         4096u

static void *place(void **mem, size_t data_off)
{
	*mem = aligned_alloc(PAGE, FP_BUFSIZE + PAGE);
	return *mem ? (char *)*mem + PAGE - data_off : NULL;
}

struct fp_fusedev {
	struct fp_session *s;
	struct fp_idle idle;     /* who sleeps on the queue */
	int is_sock;             /* the fd is a socket: recv(MSG_DONTWAIT) */
	int nworkers;
	struct worker *w;
	_Atomic int stopping;
	_Atomic int ended_sent;
	fp_fusedev_ended_fn ended;
	void *arg;
};

static int dev_send(struct fp_chan *c, const void *msg, size_t len)
{
	ssize_t r;

	do
		r = write(c->fd, msg, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

static const struct fp_chan_ops dev_chan_ops = { .send = dev_send };

static void notify_end(struct fp_fusedev *d, int err)
{
	if (!atomic_exchange(&d->ended_sent, 1) && d->ended)
		d->ended(d->arg, err);
}

/* One request, without blocking: bytes read, or -errno (-EAGAIN: none
 * queued, -EINTR: a signal). */
static ssize_t read_one(struct fp_fusedev *d, struct worker *w)
{
	ssize_t n = d->is_sock ? recv(w->chan.fd, w->inbuf, FP_BUFSIZE, MSG_DONTWAIT)
			       : read(w->chan.fd, w->inbuf, FP_BUFSIZE);
	return n < 0 ? -errno : n;
}


static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fp_fusedev *d = w->dev;
	int err = 0, waited = 1;
	sigset_t set;

	/* Only SIGUSR1 reaches workers: it interrupts read() at shutdown and
	 * blocking calls (SETLKW) on INTERRUPT. */
	sigfillset(&set);
	sigdelset(&set, SIGUSR1);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	fp_session_worker_start(d->s, w->index);

	while (!atomic_load_explicit(&d->stopping, memory_order_relaxed)) {
		ssize_t n = read_one(d, w);
		if (n == -EAGAIN) {
			if (fp_idle_wait(&d->idle))
				break;
			waited = 1;
			continue;
		}
		if (n < 0) {
			int e = (int)-n;
			/* ENOENT: the request was interrupted before we got it */
			if (e == EINTR || e == ENOENT)
				continue;
			if (e != ENODEV && e != ECONNABORTED) {
				fprintf(stderr, "fuseproxy: worker %d: read /dev/fuse: %s\n",
					w->index, strerror(e));
				err = -e;
			}
			break;
		}
		if (n == 0)	/* a socket peer (fuseproxy --backend) went away */
			break;
		if ((size_t)n < sizeof(struct fuse_in_header)) {
			fprintf(stderr, "fuseproxy: worker %d: short read of %zd bytes from /dev/fuse\n",
				w->index, n);
			continue;
		}
		struct fp_req req;
		memset(&req.v, 0, sizeof req.v);
		req.in = w->inbuf;
		/* the header length must match what read() returned; validation
		 * checks in->len against it */
		if (req.in->len != (uint32_t)n) {
			fprintf(stderr, "fuseproxy: worker %d: header len %u but read %zd bytes\n",
				w->index, req.in->len, n);
			continue;
		}
		req.out = (char *)w->outbuf + sizeof(struct fuse_out_header);
		req.outcap = FP_BUFSIZE - sizeof(struct fuse_out_header);
		req.chan = &w->chan;
		req.worker = w->index;
		req.t_read = fp_now_ns();
		req.comm[0] = '\0';
		fp_idle_took(&d->idle, !waited, req.t_read);
		waited = 0;
		fp_session_process(d->s, &req);
		fp_idle_done(&d->idle);
	}
	atomic_store(&w->done, 1);
	/* the connection is over for everyone: the others may be parked, or
	 * asleep in epoll_wait(), which an end of the connection wakes once */
	fp_idle_end(&d->idle);
	if (!atomic_load(&d->stopping))
		notify_end(d, err);
	return NULL;
}

int fp_fusedev_clone(int fd, char *errbuf, size_t errlen)
{
	int nfd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	uint32_t src = (uint32_t)fd;

	if (nfd < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "/dev/fuse: %s", strerror(e));
		return -e;
	}
	if (ioctl(nfd, FUSE_DEV_IOC_CLONE, &src) < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "FUSE_DEV_IOC_CLONE: %s", strerror(e));
		close(nfd);
		return -e;
	}
	return nfd;
}

static int set_nonblock(int fd, char *errbuf, size_t errlen)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "O_NONBLOCK on the FUSE fd: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* A socket (shared mode) is read with MSG_DONTWAIT, so its own flags,
 * which its writes share, stay blocking. */
static int setup_wait(struct fp_fusedev *d, int fd, char *errbuf, size_t errlen)
{
	struct stat st;

	d->is_sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	if (!d->is_sock && set_nonblock(fd, errbuf, errlen) < 0)
		return -1;
	return fp_idle_init(&d->idle, fd, errbuf, errlen);
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

static struct fp_fusedev *start(int fd, const int *fds, void *const *inbufs, int nthreads,
				int shared, struct fp_session *s, fp_fusedev_ended_fn ended,
				void *arg, char *errbuf, size_t errlen);

struct fp_fusedev *fp_fusedev_start(int fd, int nthreads, int shared, struct fp_session *s,
				    fp_fusedev_ended_fn ended, void *arg,
				    char *errbuf, size_t errlen)
{
	return start(fd, NULL, NULL, nthreads, shared, s, ended, arg, errbuf, errlen);
}

struct fp_fusedev *fp_fusedev_start_fds(const int *fds, void *const *inbufs, int nthreads,
					struct fp_session *s, fp_fusedev_ended_fn ended,
					void *arg, char *errbuf, size_t errlen)
{
	return start(fds[0], fds, inbufs, nthreads, 0, s, ended, arg, errbuf, errlen);
}

static struct fp_fusedev *start(int fd, const int *fds, void *const *inbufs, int nthreads,
				int shared, struct fp_session *s, fp_fusedev_ended_fn ended,
				void *arg, char *errbuf, size_t errlen)
{
	struct fp_fusedev *d = calloc(1, sizeof *d);
	struct sigaction sa;

	if (!d) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	/* no SA_RESTART: the signal must make read() and fcntl() return EINTR */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	d->s = s;
	d->ended = ended;
	d->arg = arg;
	d->nworkers = nthreads;
	d->idle.epfd = d->idle.stopfd = -1;
	d->w = calloc((size_t)nthreads, sizeof *d->w);
	if (!d->w)
		goto nomem;
	if (setup_wait(d, fd, errbuf, errlen) < 0)
		goto fail;
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &d->w[i];
		w->dev = d;
		w->index = i;
		w->own_fd = -1;
		w->chan.ops = &dev_chan_ops;
		w->inbuf = inbufs ? inbufs[i] : place(&w->inmem, IN_DATA_OFF);
		w->outbuf = place(&w->outmem, OUT_DATA_OFF);
		if (!w->inbuf || !w->outbuf)
			goto nomem;
		if (fds) {
			w->chan.fd = fds[i];	/* the caller's, kept open by it */
		} else if (i == 0 || shared) {
			w->chan.fd = fd;
		} else {
			int c = fp_fusedev_clone(fd, errbuf, errlen);
			if (c < 0)
				goto fail;
			w->chan.fd = w->own_fd = c;
			if (set_nonblock(c, errbuf, errlen) < 0)
				goto fail;
		}
	}
	s->notify_chan = &d->w[0].chan;
	for (int i = 0; i < nthreads; i++) {
		int e = pthread_create(&d->w[i].thread, NULL, worker_main, &d->w[i]);
		if (e) {
			snprintf(errbuf, errlen, "pthread_create: %s", strerror(e));
			goto fail;
		}
		d->w[i].started = 1;
	}
	return d;
nomem:
	snprintf(errbuf, errlen, "out of memory");
fail:
	fp_fusedev_stop(d, 1000);
	fp_fusedev_free(d);
	return NULL;
}

int fp_fusedev_stop(struct fp_fusedev *d, int timeout_ms)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)timeout_ms * 1000000u;

	atomic_store(&d->stopping, 1);
	fp_idle_end(&d->idle);
	for (;;) {
		int left = 0;
		for (int i = 0; i < d->nworkers; i++) {
			struct worker *w = &d->w[i];
			if (!w->started)
				continue;
			if (atomic_load(&w->done)) {
				pthread_join(w->thread, NULL);
				w->started = 0;
				continue;
			}
			/* a signal that lands before read() is entered is lost,
			 * hence the loop */
			pthread_kill(w->thread, SIGUSR1);
			left++;
		}
		if (!left)
			return 0;
		if (fp_now_ns() > deadline)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

void fp_fusedev_free(struct fp_fusedev *d)
{
	if (!d)
		return;
	for (int i = 0; d->w && i < d->nworkers; i++) {
		if (d->w[i].own_fd >= 0)
			close(d->w[i].own_fd);
		free(d->w[i].inmem);
		free(d->w[i].outmem);
	}
	free(d->w);
	fp_idle_fini(&d->idle);
	free(d);
}
