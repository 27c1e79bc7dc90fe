/* \summary: the engine: INIT negotiation, validation, dispatch to the
 * filesystem, interrupts, and the -d request log.
 *
 * Workers call fp_session_process() concurrently, one request each.  The
 * only shared mutable state is the negotiated INIT (written once, before
 * the kernel sends anything else), per-worker slots for interrupts and
 * counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "transport.h"
#include "opcodes.h"
#include "format.h"
#include "names.h"
#include "trace.h"
#include "deadline.h"

uint64_t fp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int fp_session_init(struct fp_session *s, struct fp_fs *fs, int nworkers)
{
	memset(s, 0, sizeof *s);
	s->fs = fs;
	s->t0 = fp_now_ns();
	s->nworkers = nworkers;
	s->slots = calloc((size_t)nworkers, sizeof *s->slots);
	pthread_mutex_init(&s->blk_lock, NULL);
	pthread_cond_init(&s->blk_cond, NULL);
	return s->slots ? 0 : -ENOMEM;
}

void fp_session_drain(struct fp_session *s)
{
	/* blocking requests still waiting for a lock: interrupt them and wait
	 * (they answer EINTR on a connection that is going away) */
	pthread_mutex_lock(&s->blk_lock);
	while (s->nblk) {
		for (struct fp_blocking *b = s->blk; b; b = b->next)
			pthread_kill(b->thread, SIGUSR1);
		struct timespec ts = fp_deadline_ms(CLOCK_REALTIME, 10);
		pthread_cond_timedwait(&s->blk_cond, &s->blk_lock, &ts);
	}
	pthread_mutex_unlock(&s->blk_lock);
}

void fp_session_fini(struct fp_session *s)
{
	fp_session_drain(s);
	pthread_mutex_destroy(&s->blk_lock);
	pthread_cond_destroy(&s->blk_cond);
	free(s->slots);
	s->slots = NULL;
}

void fp_session_worker_start(struct fp_session *s, int w)
{
	s->slots[w].thread = pthread_self();
	s->slots[w].has_thread = 1;
}

/* Send header + payload; the transport guarantees header room before out. */
static void send_reply(struct fp_req *req, int err, uint32_t plen)
{
	struct fuse_out_header *oh =
		(struct fuse_out_header *)((char *)req->out - sizeof *oh);

	if (err > 0 || err <= -512)	/* the kernel rejects these: keep the app's request alive */
		err = -EIO;
	if (err)
		plen = 0;
	oh->len = (uint32_t)sizeof *oh + plen;
	oh->error = err;
	oh->unique = req->in->unique;
	int r = fp_chan_send(req->chan, oh, oh->len);
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "fuseproxy: reply to %s #%llu: %s\n",
			fuse_opname(req->in->opcode),
			(unsigned long long)req->in->unique, strerror(-r));
}

/* Flags the engine adds on its own: flags2 is only read with INIT_EXT. */
#define ENGINE_FLAGS FUSE_INIT_EXT

static int do_init(struct fp_session *s, struct fp_req *req)
{
	const struct fuse_init_in *in = req->v.fixed;
	struct fuse_init_out *out = req->out;
	uint64_t offered, want;
	int err;

	if (atomic_load(&s->initialized)) {
		/* sent again (NOTIFY_RESEND) after the worker that answered it
		 * died before the kernel had the answer: the same answer */
		memcpy(out, &s->init, sizeof *out);
		return (int)s->init_len;
	}
	memset(out, 0, sizeof *out);
	out->major = FUSE_KERNEL_VERSION;
	out->minor = FUSE_KERNEL_MINOR_VERSION;
	if (in->major > FUSE_KERNEL_VERSION)	/* kernel will retry with our major */
		return (int)offsetof(struct fuse_init_out, max_readahead);
	if (in->major < FUSE_KERNEL_VERSION) {
		fprintf(stderr, "fuseproxy: kernel FUSE protocol %u.%u is too old\n",
			in->major, in->minor);
		return -EPROTO;
	}
	s->kinit = *in;
	offered = in->flags;
	if (in->flags & FUSE_INIT_EXT)
		offered |= (uint64_t)in->flags2 << 32;

	out->minor = in->minor < FUSE_KERNEL_MINOR_VERSION ? in->minor
							    : FUSE_KERNEL_MINOR_VERSION;
	out->max_readahead = in->max_readahead;
	out->max_background = 64;
	out->congestion_threshold = 48;
	out->max_write = FP_MAX_WRITE;
	out->time_gran = 1;
	err = s->fs->ops->init(s->fs, in, out);
	if (err)
		return err;
	if (out->max_write > FP_MAX_WRITE)
		out->max_write = FP_MAX_WRITE;
	if (out->max_write < 4096)
		out->max_write = 4096;
	if (out->minor > in->minor)
		out->minor = in->minor;
	want = out->flags | (uint64_t)out->flags2 << 32;
	want = (want | ENGINE_FLAGS) & offered;
	out->flags = (uint32_t)want;
	out->flags2 = (uint32_t)(want >> 32);
	/* our read buffers hold FP_MAX_WRITE; never let the kernel send more */
	if (want & FUSE_MAX_PAGES) {
		uint32_t pages = (out->max_write + 4095) / 4096;
		if (!out->max_pages || out->max_pages > pages)
			out->max_pages = (uint16_t)pages;
	} else {
		out->max_pages = 0;
	}

	s->init = *out;
	s->wp.minor = out->minor;
	s->wp.flags = want;
	atomic_store(&s->initialized, 1);

	if (s->verbose) {
		char fb[1024];
		fuse_flags_format(fb, sizeof fb, fuse_init_flag_names, offered);
		fprintf(stderr, "fuseproxy: INIT kernel %u.%u offers %s\n",
			in->major, in->minor, fb);
		fuse_flags_format(fb, sizeof fb, fuse_init_flag_names, want);
		fprintf(stderr, "fuseproxy: INIT negotiated %u.%u max_write=%u "
			"max_pages=%u flags %s\n", out->major, out->minor,
			out->max_write, out->max_pages, fb);
	}
	/* minor < 23 kernels read a shorter reply */
	s->init_len = out->minor < 5 ? FUSE_COMPAT_INIT_OUT_SIZE :
		      out->minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : (uint32_t)sizeof *out;
	/* a successor gets no INIT: it needs ours (before the kernel has it) */
	if (s->init_done)
		s->init_done(s);
	return (int)s->init_len;
}

/* INTERRUPT: if a worker is still serving the target, signal it so a
 * blocking call (SETLKW) returns EINTR and the request is answered EINTR.
 * No reply either way: answering EAGAIN would make the kernel resend the
 * interrupt in a loop for as long as a non-interruptible call (fsync)
 * runs.  An interrupt for a request already answered needs no reply. */
static int do_interrupt(struct fp_session *s, struct fp_req *req)
{
	const struct fuse_interrupt_in *ii = req->v.fixed;

	for (int w = 0; w < s->nworkers; w++) {
		struct fp_worker_slot *sl = &s->slots[w];
		if (sl->has_thread && atomic_load(&sl->unique) == ii->unique) {
			atomic_store(&sl->interrupted, 1);
			pthread_kill(sl->thread, SIGUSR1);
			return FP_NOREPLY;
		}
	}
	pthread_mutex_lock(&s->blk_lock);
	for (struct fp_blocking *b = s->blk; b; b = b->next) {
		if (b->unique == ii->unique) {
			atomic_store(&b->interrupted, 1);
			pthread_kill(b->thread, SIGUSR1);
		}
	}
	pthread_mutex_unlock(&s->blk_lock);
	return FP_NOREPLY;
}

void fp_comm_of(uint32_t pid, char *buf, size_t n)
{
	char path[64];
	ssize_t r = -1;
	int fd;

	snprintf(path, sizeof path, "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		r = read(fd, buf, n - 1);
		close(fd);
	}
	if (r <= 0) {
		snprintf(buf, n, "?");
		return;
	}
	buf[r] = 0;
	if (buf[r - 1] == '\n')
		buf[r - 1] = 0;
}

static int by_age(const void *a, const void *b)
{
	const struct fp_inflight *x = a, *y = b;
	return x->t_read < y->t_read ? -1 : x->t_read > y->t_read;
}

int fp_session_inflight(struct fp_session *s, struct fp_inflight *out, int max)
{
	int n = 0;

	for (int w = 0; w < s->nworkers && n < max; w++) {
		struct fp_worker_slot *sl = &s->slots[w];
		uint64_t u = atomic_load_explicit(&sl->unique, memory_order_acquire);
		if (!u)
			continue;
		struct fp_inflight f = { u, sl->nodeid, sl->t_read, sl->opcode, sl->pid,
					 FP_AT_FS };
		if (atomic_load_explicit(&sl->unique, memory_order_acquire) != u)
			continue;	/* finished while we looked */
		out[n++] = f;
	}
	pthread_mutex_lock(&s->blk_lock);
	for (struct fp_blocking *b = s->blk; b && n < max; b = b->next)
		out[n++] = (struct fp_inflight){ b->unique, b->nodeid, b->t_read, b->opcode,
						 b->pid, FP_AT_BLOCKED };
	pthread_mutex_unlock(&s->blk_lock);
	if (s->fs && s->fs->ops->inflight && n < max)
		n += s->fs->ops->inflight(s->fs, out + n, max - n);
	qsort(out, (size_t)n, sizeof *out, by_age);
	return n;
}

void fp_session_log(struct fp_session *s, const char *reqtxt, uint32_t uid,
		    uint32_t pid, const char *reptxt, uint64_t t_read, uint64_t t_done)
{
	char comm[32];
	uint64_t t = t_read - s->t0;
	unsigned long long sec = t / 1000000000u, usec = t % 1000000000u / 1000u;
	unsigned long long lat = (t_done - t_read) / 1000u;

	if (pid) {
		fp_comm_of(pid, comm, sizeof comm);
		fprintf(stderr, "[%4llu.%06llu] %s uid=%u pid=%u(%s) -> %s (%lluus)\n",
			sec, usec, reqtxt, uid, pid, comm, reptxt, lat);
	} else {
		fprintf(stderr, "[%4llu.%06llu] %s -> %s (%lluus)\n", sec, usec, reqtxt,
			reptxt, lat);
	}
}

static void debug_line(struct fp_session *s, struct fp_req *req, const char *reqtxt,
		       int ret)
{
	char rep[512];

	if (ret == FP_NOREPLY) {
		snprintf(rep, sizeof rep, "(no reply)");
	} else {
		struct fuse_out_header *oh =
			(struct fuse_out_header *)((char *)req->out - sizeof *oh);
		fuse_format_reply(rep, sizeof rep, req->in->opcode, &req->v, oh, oh->len);
	}
	fp_session_log(s, reqtxt, req->in->uid, req->in->pid, rep, req->t_read,
		       fp_now_ns());
}

/* Record one finished in-process exchange: request as read, reply as
 * written.  ring: the trace ring of the calling thread (-1: shared). */
static void record(struct fp_session *s, struct fp_req *req, int ring, int ret,
		   uint32_t flags, uint64_t t_start, uint64_t t_end)
{
	const struct fuse_in_header *in = req->in;
	struct fp_trace_exchange x = {
		FP_TRACE_IDS(in), .worker = req->worker,
		.flags = flags, .t_read = req->t_read, .t_sent = t_start,
		.t_reply = t_end, .t_written = fp_now_ns(),
		.req = in, .req_len = in->len, .comm = req->comm[0] ? req->comm : NULL,
	};

	if (ret == FP_NOREPLY) {
		x.flags |= FP_TRACE_F_NOREPLY;
	} else {
		const struct fuse_out_header *oh =
			(const struct fuse_out_header *)((char *)req->out - sizeof *oh);
		x.error = oh->error;
		x.reply = oh;
		x.reply_len = oh->len;
	}
	fp_trace_exchange(s->trace, ring, &x);
}

#define FP_RECORDED (-2)   /* finish(): the filesystem recorded it already */

/* Answer (unless there is no reply), count, log and record. */
static void finish(struct fp_session *s, struct fp_req *req, int ret, const char *reqtxt,
		   int ring, uint32_t flags, uint64_t t_start)
{
	uint64_t t_end = fp_now_ns();

	if (ret != FP_NOREPLY) {
		if (ret < 0)
			atomic_fetch_add_explicit(&s->nerr, 1, memory_order_relaxed);
		send_reply(req, ret < 0 ? ret : 0, ret < 0 ? 0 : (uint32_t)ret);
	}
	if (s->debug)
		debug_line(s, req, reqtxt, ret);
	if (s->trace && ring != FP_RECORDED && fp_trace_wants(s->trace, req->in->opcode))
		record(s, req, ring, ret, flags, t_start, t_end);
}

/* Dispatch to the filesystem, answer, log.  The slot marks the request as
 * interruptible while the filesystem has it.  intr: set by do_interrupt()
 * when an INTERRUPT names the request (the slot's, or a blocking job's). */
static void serve(struct fp_session *s, struct fp_req *req, struct fp_worker_slot *slot,
		  _Atomic uint32_t *intr, const char *reqtxt)
{
	const struct fuse_in_header *in = req->in;
	const struct fuse_op *op = fuse_op_get(in->opcode);
	uint64_t t_start = s->trace ? fp_now_ns() : 0;
	uint32_t flags = 0;
	int ret;

	if (slot) {
		slot->nodeid = in->nodeid;
		slot->t_read = req->t_read;
		slot->opcode = in->opcode;
		slot->pid = in->pid;
		atomic_store(&slot->interrupted, 0);
		atomic_store_explicit(&slot->unique, in->unique, memory_order_release);
	}
	ret = s->fs->ops->handle(s->fs, req);
	if (slot)
		atomic_store_explicit(&slot->unique, 0, memory_order_release);
	if (ret == FP_ASYNC)
		return;	/* the filesystem answers, logs and records later */
	/* A forwarding fs records the no-reply messages it forwards itself, with
	 * the backend's send time.  What it refuses (-EIO once the backend is
	 * dead, -ENOMEM) the engine answers, so the engine records it. */
	bool recorded = (s->fs->ops->flags & FP_FS_RAW) && ret == FP_NOREPLY;
	if (op && (op->flags & FOP_NOREPLY))
		ret = FP_NOREPLY;
	if (intr && atomic_load(intr))
		flags |= FP_TRACE_F_INTERRUPTED;
	/* blocking requests run on their own threads: shared trace ring */
	finish(s, req, ret, reqtxt, recorded ? FP_RECORDED : slot ? req->worker : -1,
	       flags, t_start);
}

struct blocking_job {
	struct fp_blocking b;
	struct fp_session *s;
	struct fp_req req;
	char reqtxt[512];
	uint64_t msg[];          /* copy of the request, then the reply area */
};

static void *blocking_main(void *arg)
{
	struct blocking_job *j = arg;
	struct fp_session *s = j->s;
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, SIGUSR1);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	serve(s, &j->req, NULL, &j->b.interrupted, j->reqtxt);

	pthread_mutex_lock(&s->blk_lock);
	for (struct fp_blocking **pp = &s->blk; *pp; pp = &(*pp)->next) {
		if (*pp == &j->b) {
			*pp = j->b.next;
			break;
		}
	}
	s->nblk--;
	pthread_cond_broadcast(&s->blk_cond);
	pthread_mutex_unlock(&s->blk_lock);
	free(j);
	return NULL;
}

/* Hand a request that may block indefinitely to its own thread.  The copy
 * is small (SETLKW is header + fuse_lk_in) and re-validated so the view
 * points into it. */
static int start_blocking(struct fp_session *s, struct fp_req *req, const char *reqtxt)
{
	uint32_t len = req->in->len;
	size_t msgsz = (len + 7) & ~7u;
	size_t outsz = sizeof(struct fuse_out_header) + 256;
	struct blocking_job *j = malloc(sizeof *j + msgsz + outsz);
	pthread_attr_t attr;
	int e;

	if (!j)
		return -ENOMEM;
	memcpy(j->msg, req->in, len);
	j->s = s;
	j->req = *req;
	j->req.in = (const struct fuse_in_header *)j->msg;
	if (fuse_validate_request(j->msg, len, &s->wp, &j->req.v, NULL, 0) < 0) {
		free(j);
		return -EIO;
	}
	j->req.out = (char *)j->msg + msgsz + sizeof(struct fuse_out_header);
	j->req.outcap = 256;
	if (reqtxt)
		snprintf(j->reqtxt, sizeof j->reqtxt, "%s", reqtxt);
	atomic_init(&j->b.interrupted, 0);
	j->b.unique = req->in->unique;
	j->b.nodeid = req->in->nodeid;
	j->b.t_read = req->t_read;
	j->b.opcode = req->in->opcode;
	j->b.pid = req->in->pid;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_mutex_lock(&s->blk_lock);
	e = pthread_create(&j->b.thread, &attr, blocking_main, j);
	if (!e) {
		j->b.next = s->blk;
		s->blk = &j->b;
		s->nblk++;
	}
	pthread_mutex_unlock(&s->blk_lock);
	pthread_attr_destroy(&attr);
	if (e) {
		free(j);
		return -e;
	}
	return 0;
}

void fp_session_process(struct fp_session *s, struct fp_req *req)
{
	const struct fuse_in_header *in = req->in;
	char why[256], reqtxt[512];
	const struct fuse_op *op;
	int ret;

	atomic_fetch_add_explicit(&s->nreq, 1, memory_order_relaxed);
	req->minor = s->wp.minor;
	if (fuse_validate_request(in, in->len, &s->wp, &req->v, why, sizeof why) < 0) {
		/* The kernel sent something we cannot parse: answer EIO (if the
		 * message has a usable header) so the caller is not left hanging. */
		fprintf(stderr, "fuseproxy: malformed request: %s\n", why);
		op = fuse_op_get(in->opcode);
		ret = in->unique && !(op && (op->flags & FOP_NOREPLY)) ? -EIO : FP_NOREPLY;
		finish(s, req, ret, "(malformed)", req->worker, FP_TRACE_F_INVALID, req->t_read);
		return;
	}
	if (s->debug)
		fuse_format_request(reqtxt, sizeof reqtxt, &req->v);
	/* The name, now: the caller may be gone by the time the exchange is
	 * recorded (a cat's FLUSH is answered, cat exits). */
	if (s->trace && in->pid && fp_trace_wants(s->trace, in->opcode))
		fp_trace_comm(s->trace, req->worker, in->pid, req->t_read, req->comm);

	switch (in->opcode) {
	case FUSE_INIT:
		ret = do_init(s, req);
		break;
	case FUSE_INTERRUPT:
		if (s->fs->ops->flags & FP_FS_RAW) {
			serve(s, req, NULL, NULL, reqtxt);
			return;
		}
		ret = do_interrupt(s, req);
		break;
	default:
		if (!atomic_load_explicit(&s->initialized, memory_order_acquire)) {
			ret = -EIO;
			break;
		}
		if (in->opcode == FUSE_SETLKW && !(s->fs->ops->flags & FP_FS_RAW)) {
			ret = start_blocking(s, req, s->debug ? reqtxt : NULL);
			if (!ret)
				return;
			break;
		}
		serve(s, req, &s->slots[req->worker], &s->slots[req->worker].interrupted, reqtxt);
		return;
	}
	finish(s, req, ret, reqtxt, req->worker, 0, req->t_read);
}
