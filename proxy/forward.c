/* \summary: the forwarder: every kernel request goes to the backend daemon
 * as it was read, and every backend message is validated before it
 * reaches the kernel.
 *
 * Workers send requests (one SEQPACKET message each) and return FP_ASYNC;
 * one reader thread receives the backend's replies and notifications.  A
 * reply is matched by unique to its pending entry, checked against the
 * request's opcode and arguments, and written on the kernel channel that
 * read the request.  A malformed reply becomes EIO for that request only;
 * the kernel connection never sees bytes we have not validated.
 *
 * On the way the tables of state.h are kept (track.c), so that with
 * --restart a dead backend can be replaced under the kernel's feet
 * (recovery.c).  Until the first restart ids are the backend's own and
 * requests go out untouched; after it, track.c translates them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "forward_i.h"
#include "journal.h"
#include "jcompact.h"
#include "holder.h"
#include "transport.h"
#include "opcodes.h"
#include "format.h"
#include "names.h"
#include "trace.h"

/* Capabilities that cannot work through a proxy:
 * - PASSTHROUGH: backing ids come from FUSE_DEV_IOC_BACKING_OPEN on the
 *   kernel fd, which a daemon on a socket cannot issue;
 * - OVER_IO_URING: the daemon would need the kernel fd for its rings;
 * - SPLICE_*: splicing to or from a socket is not the /dev/fuse splice;
 * - ALLOW_IDMAP: the kernel checks the mount's idmap; pass through once
 *   tested. */
#define FWD_STRIP (FUSE_PASSTHROUGH | FUSE_OVER_IO_URING | FUSE_SPLICE_READ | \
		   FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_ALLOW_IDMAP)

static const struct fp_fs_ops fwd_ops;
static int pump(struct fwd *f, int ms);

/* Record a request the backend never answered (what crashed it, for
 * `fusereplay --pending`). */
static void record_pending(struct fwd *f, struct fp_pending *p)
{
	if (!f->s->trace || !p->traced)
		return;
	struct fp_trace_exchange x = {
		FP_TRACE_IDS(&p->in),
		.worker = p->worker, .flags = p->flags | FP_TRACE_F_BACKEND,
		.t_read = p->t_read, .t_sent = p->t_sent,
		.req = p->req, .req_len = p->in.len, .comm = p->comm[0] ? p->comm : NULL,
	};
	fp_trace_pending(f->s->trace, &x);
}

static void wake_call(struct fwd *f, struct fp_pending *p, int err)
{
	pthread_mutex_lock(&f->call_lock);
	p->call->err = err;
	p->call->done = 1;
	pthread_cond_broadcast(&p->call->cond);
	pthread_mutex_unlock(&f->call_lock);
}

/* The backend will never answer p: record it as pending and answer EIO. */
static void fail_pending(struct fp_pending *p, void *arg)
{
	struct fwd *f = arg;
	struct fuse_out_header oh = { sizeof oh, -EIO, p->unique };

	if (p->call) {
		wake_call(f, p, -ERESTART);
		return;
	}
	if (!p->chan)
		return;
	record_pending(f, p);
	fp_chan_send(p->chan, &oh, sizeof oh);
}

/* The backend is gone (or given up on): fail everything pending with EIO
 * and tell the owner, once. */
void fwd_give_up(struct fwd *f, const char *fmt, ...)
{
	va_list ap;

	/* while we stop it ourselves, its going away is no death */
	if (atomic_load(&f->stopping) || atomic_exchange(&f->dead, 1)) {
		fp_pending_drain(&f->pt, fail_pending, f);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(f->death, sizeof f->death, fmt, ap);
	va_end(ap);
	fp_pending_drain(&f->pt, fail_pending, f);
	fprintf(stderr, "fuseproxy: backend '%s': %s\n", f->o.cmd, f->death);
	if (f->s->trace)
		fp_trace_event(f->s->trace, FP_EV_BACKEND_EXIT, "backend died: %s", f->death);
	if (f->o.died)
		f->o.died(f->o.died_arg);
}

const char *fwd_death_reason(struct fp_fs *fs)
{
	struct fwd *f = FWD(fs);
	return atomic_load(&f->dead) ? f->death : NULL;
}

/* ---- sending ------------------------------------------------------------ */

/* One message from pieces; SEQPACKET keeps it whole.  MSG_DONTWAIT lets the
 * reader thread pump replies instead of blocking on a full socket. */
static int sock_sendv(struct fwd *f, const struct iovec *iov, int niov, int flags)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)niov };
	size_t want = 0;
	ssize_t r;

	for (int i = 0; i < niov; i++)
		want += iov[i].iov_len;
	do
		r = sendmsg(f->d.sock, &m, MSG_NOSIGNAL | flags);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == want ? 0 : -EIO;
}

/* Send; the reader thread must not block on a full socket while the
 * backend waits for us to read its replies, so it pumps meanwhile. */
static int send_msg(struct fwd *f, const struct iovec *iov, int niov)
{
	int r;

	if (!fwd_is_reader(f))
		return sock_sendv(f, iov, niov, 0);
	for (;;) {
		r = sock_sendv(f, iov, niov, MSG_DONTWAIT);
		if (r != -EAGAIN)
			return r;
		if (fwd_pump(f, 10) == -ERESTART)
			return -EPIPE;
	}
}

int fwd_send_raw(struct fwd *f, const struct iovec *iov, int niov)
{
	return send_msg(f, iov, niov);
}

void fwd_send_own(struct fwd *f, void *msg, size_t len)
{
	struct fuse_in_header *h = msg;
	const struct fuse_op *op = fuse_op_get(h->opcode);
	struct iovec iov = { msg, len };
	struct fp_pending *p = NULL;

	h->unique = atomic_fetch_add(&f->own_unique, 2);
	if (!(op && (op->flags & FOP_NOREPLY))) {
		/* an answer will come: let the reader find it is ours */
		p = fp_pending_alloc(&f->pt);
		if (!p)
			return;
		p->unique = h->unique;
		p->in = *h;
		p->t_read = p->t_sent = fp_now_ns();
		if (fp_pending_insert(&f->pt, p) < 0) {
			fp_pending_release(&f->pt, p);
			return;
		}
	}
	if (send_msg(f, &iov, 1) < 0 && p) {
		p = fp_pending_take(&f->pt, h->unique);
		if (p)
			fp_pending_release(&f->pt, p);
	}
}

int fwd_is_reader(struct fwd *f)
{
	return f->reader_started && pthread_equal(pthread_self(), f->reader);
}

ssize_t fwd_call(struct fwd *f, struct iovec *iov, int niov, void *buf, size_t cap)
{
	struct fuse_in_header *h = iov[0].iov_base;
	const struct fuse_op *op = fuse_op_get(h->opcode);
	struct fwd_call c = { .buf = buf, .cap = cap };
	struct fp_pending *p = fp_pending_alloc(&f->pt);
	uint64_t deadline;
	int r;

	if (!p)
		return -ENOMEM;
	h->unique = atomic_fetch_add(&f->own_unique, 2);
	p->unique = h->unique;
	p->in = *h;
	/* the fixed argument, for checking the reply (READ size, ...) */
	if (op && op->in_size && iov[0].iov_len >= sizeof *h + op->in_size &&
	    op->in_size <= FP_PENDING_FIXED) {
		p->fixed_len = op->in_size;
		memcpy(p->fixed, (char *)iov[0].iov_base + sizeof *h, op->in_size);
	}
	p->call = &c;
	p->t_read = p->t_sent = fp_now_ns();
	pthread_cond_init(&c.cond, NULL);
	if (fp_pending_insert(&f->pt, p) < 0) {
		fp_pending_release(&f->pt, p);
		pthread_cond_destroy(&c.cond);
		return -EIO;
	}
	r = send_msg(f, iov, niov);
	if (r < 0) {
		p = fp_pending_take(&f->pt, h->unique);
		if (p)
			fp_pending_release(&f->pt, p);
		else	/* failed by a recovery meanwhile: it woke us */
			goto wait;
		pthread_cond_destroy(&c.cond);
		return -ERESTART;
	}
wait:
	deadline = fp_now_ns() + (uint64_t)FWD_CALL_TIMEOUT_MS * 1000000u;
	if (fwd_is_reader(f)) {
		while (!c.done) {
			if (atomic_load(&f->stopping) || fp_now_ns() > deadline) {
				snprintf(f->why, sizeof f->why, "%s", atomic_load(&f->stopping) ?
					 "stopping" : "no answer to our own request");
				c.err = -ERESTART;
				break;
			}
			if (fwd_pump(f, 50) == -ERESTART && !c.done) {
				c.err = -ERESTART;
				break;
			}
		}
		if (!c.done) {
			p = fp_pending_take(&f->pt, h->unique);
			if (p)
				fp_pending_release(&f->pt, p);
		}
	} else {
		pthread_mutex_lock(&f->call_lock);
		while (!c.done)
			pthread_cond_wait(&c.cond, &f->call_lock);
		pthread_mutex_unlock(&f->call_lock);
	}
	pthread_cond_destroy(&c.cond);
	return c.err ? c.err : (ssize_t)c.len;
}

/* ---- kernel -> backend ------------------------------------------------- */

static void mark_interrupted(struct fp_pending *p, void *arg)
{
	(void)arg;
	p->flags |= FP_TRACE_F_INTERRUPTED;
}

/* FORGET, BATCH_FORGET, NOTIFY_REPLY, INTERRUPT: nothing comes back. */
static void forward_noreply(struct fwd *f, struct fp_req *req)
{
	const struct fuse_in_header *in = req->in;
	uint64_t t_sent = fp_now_ns();
	int r = 0;

	if (in->opcode == FUSE_FORGET || in->opcode == FUSE_BATCH_FORGET) {
		fwd_track_forget(f, in, &req->v, req->worker);
	} else if (in->opcode == FUSE_NOTIFY_REPLY && f->st.translating) {
		struct fwd_xlate x;
		r = fwd_translate_request(f, NULL, in, &req->v, &x);
		if (!r)
			r = send_msg(f, x.iov, x.niov);
		else if (r > 0)
			r = 0;
	} else {
		struct iovec iov = { (void *)in, in->len };
		r = send_msg(f, &iov, 1);
	}
	if (r < 0 && r != -EPIPE && r != -ERESTART && r != -ESTALE)
		fprintf(stderr, "fuseproxy: forward %s #%llu: %s\n", fuse_opname(in->opcode),
			(unsigned long long)in->unique, strerror(-r));
	if (in->opcode == FUSE_INTERRUPT)
		fp_pending_with(&f->pt, ((const struct fuse_interrupt_in *)req->v.fixed)->unique,
				mark_interrupted, NULL);
	if (f->s->trace && in->opcode == FUSE_NOTIFY_REPLY) {
		/* the kernel's answer to a RETRIEVE is a notification record
		 * (doc/trace-format.md 1.3), passed to the backend */
		fp_trace_notify(f->s->trace, req->worker, FP_DIR_PROXY_TO_BACKEND, in, in->len,
				t_sent);
	} else if (f->s->trace && fp_trace_wants(f->s->trace, in->opcode)) {
		struct fp_trace_exchange x = {
			FP_TRACE_IDS(in), .worker = req->worker,
			.flags = FP_TRACE_F_NOREPLY | FP_TRACE_F_BACKEND,
			.t_read = req->t_read, .t_sent = t_sent, .t_written = t_sent,
			.req = in, .req_len = in->len,
		};
		fp_trace_exchange(f->s->trace, req->worker, &x);
	}
	/* -d: the session logs it, "-> (no reply)" */
}

/* Where the request's names are kept: in the request copy if there is a
 * whole one, else copied (they are short, and the reply needs them). */
static int keep_names(struct fp_pending *p, const struct fuse_req_view *v)
{
	size_t n1, n2, need;

	if (!v->name)
		return 0;
	if (p->reqlen == p->in.len && p->req) {
		p->name = (const char *)p->req + (v->name - (const char *)v->h);
		if (v->name2)
			p->name2 = (const char *)p->req + (v->name2 - (const char *)v->h);
		return 0;
	}
	n1 = strlen(v->name) + 1;
	n2 = v->name2 ? strlen(v->name2) + 1 : 0;
	need = n1 + n2;
	if (need > p->namescap) {
		char *n = realloc(p->names, need);
		if (!n)
			return -ENOMEM;
		p->names = n;
		p->namescap = (uint32_t)need;
	}
	memcpy(p->names, v->name, n1);
	p->name = p->names;
	if (n2) {
		memcpy(p->names + n1, v->name2, n2);
		p->name2 = p->names + n1;
	}
	return 0;
}

int fwd_send_request(struct fwd *f, struct fp_pending *p, const struct fuse_in_header *in,
		     const struct fuse_req_view *v, int answer)
{
	struct fwd_xlate x;
	struct iovec iov = { (void *)in, in->len };
	uint64_t unique = p->unique;
	int r;

	p->rflags &= ~FP_PR_QUEUED;
	p->t_sent = fp_now_ns();
	if (f->st.translating) {
		r = fwd_translate_request(f, p, in, v, &x);
		if (r == -ERESTART) {
			p->rflags |= FP_PR_QUEUED;
			return r;
		}
		if (r) {
			/* answered here: an error, or (RELEASE of a handle the
			 * new backend never had) success */
			int err = r > 0 ? x.err : r;
			p = fp_pending_take(&f->pt, unique);
			if (!p)
				return -ERESTART;
			if (answer) {
				fwd_answer(f, p, err, r > 0 ? "the backend that had its handle is gone"
							    : "cannot translate it for the new backend");
				return -ERESTART;
			}
			fp_pending_release(&f->pt, p);
			return err ? err : FP_SENT_HERE;
		}
		r = send_msg(f, x.iov, x.niov);
	} else {
		r = send_msg(f, &iov, 1);
	}
	if (r < 0) {
		/* p is still ours: the backend never got it */
		if (f->o.restart) {
			p->rflags |= FP_PR_QUEUED;	/* the recovery sends it */
			return -ERESTART;
		}
		/* if the reader already failed it (backend death), it has been
		 * answered; otherwise answer here */
		p = fp_pending_take(&f->pt, unique);
		if (!p)
			return -ERESTART;
		fp_pending_release(&f->pt, p);
		fwd_give_up(f, "cannot send to it: %s", strerror(-r));
		return -EIO;
	}
	return 0;
}

static int fwd_handle(struct fp_fs *fs, struct fp_req *req)
{
	struct fwd *f = FWD(fs);
	const struct fuse_in_header *in = req->in;
	const struct fuse_op *op = fuse_op_get(in->opcode);
	int gated = f->o.restart;
	struct fp_pending *p;
	int r, err;

	if (atomic_load_explicit(&f->dead, memory_order_relaxed))
		return -EIO;
	/* FORGETs must not wait for the gate before they are journaled (a
	 * recovery may hold it): fwd_track_forget takes it after */
	if (in->opcode == FUSE_FORGET || in->opcode == FUSE_BATCH_FORGET)
		gated = 0;
	if (gated)
		pthread_rwlock_rdlock(&f->gate);
	/* no reply expected: FORGET, BATCH_FORGET, NOTIFY_REPLY, INTERRUPT */
	if ((op && (op->flags & FOP_NOREPLY)) || in->opcode == FUSE_INTERRUPT) {
		forward_noreply(f, req);
		r = FP_NOREPLY;
		goto out;
	}

	p = fp_pending_alloc(&f->pt);
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	p->unique = in->unique;
	p->in = *in;
	p->chan = req->chan;
	p->worker = req->worker;
	p->t_read = req->t_read;
	memcpy(p->comm, req->comm, sizeof p->comm);
	p->fixed_len = req->v.fixed_len < FP_PENDING_FIXED ? req->v.fixed_len
							    : FP_PENDING_FIXED;
	if (p->fixed_len)
		memcpy(p->fixed, req->v.fixed, p->fixed_len);
	if (f->o.debug) {
		char txt[512];
		fuse_format_request(txt, sizeof txt, &req->v);
		p->text = strdup(txt);
	}
	p->traced = f->s->trace && fp_trace_wants(f->s->trace, in->opcode);
	if (f->o.restart) {
		/* the whole request: a restarted backend gets it again */
		if (fp_pending_keep_request(p, in, in->len) < 0) {
			fp_pending_release(&f->pt, p);
			r = -ENOMEM;
			goto out;
		}
	} else if (p->traced) {
		/* the worker's buffer is reused before the reply comes: keep
		 * what the recorder will keep of the request */
		uint32_t keep = sizeof *in + req->v.fixed_len + f->s->trace_snaplen;
		if (keep < sizeof *in + req->v.fixed_len)	/* snaplen "all" wrapped */
			keep = in->len;
		if (keep > in->len)
			keep = in->len;
		if (fp_pending_keep_request(p, in, keep) < 0)
			p->traced = 0;
	}
	if (keep_names(p, &req->v) < 0) {
		fp_pending_release(&f->pt, p);
		r = -ENOMEM;
		goto out;
	}
	if (fwd_track_request(f, p, &req->v, &err)) {
		fp_pending_release(&f->pt, p);
		r = err;
		goto out;
	}
	if (fp_pending_insert(&f->pt, p) < 0) {
		fprintf(stderr, "fuseproxy: %s #%llu: unique already in flight\n",
			fuse_opname(in->opcode), (unsigned long long)in->unique);
		fp_pending_release(&f->pt, p);
		r = -EIO;
		goto out;
	}
	if (gated && (in->unique & FUSE_UNIQUE_RESEND)) {
		/* read by a worker that died: it may have reached the backend
		 * that died with it, so it is judged like a request pending at
		 * a backend crash */
		atomic_fetch_add(&f->takeover.resent, 1);
		if (f->o.verbose)
			fprintf(stderr, "fuseproxy: takeover: %s #%llu sent again by the kernel\n",
				fuse_opname(in->opcode),
				(unsigned long long)(in->unique & ~FUSE_UNIQUE_RESEND));
		if (!atomic_load(&f->recovering)) {
			p->rflags |= FP_PR_QUEUED;
			fwd_reinject(f, p);
			r = FP_ASYNC;
			goto out;
		}
	}
	if (gated && atomic_load(&f->recovering)) {
		/* the backend is being restarted: the recovery sends it */
		p->rflags |= FP_PR_QUEUED;
		if (in->opcode != FUSE_SETLKW) {
			p->rflags |= FP_PR_RECOVERY;
			atomic_fetch_add(&f->rec_left, 1);
		}
		r = FP_ASYNC;
		goto out;
	}
	r = fwd_send_request(f, p, in, &req->v, 0);
	if (r == 0 || r == -ERESTART)
		r = FP_ASYNC;
	else if (r == FP_SENT_HERE)
		r = 0;
out:
	if (gated)
		pthread_rwlock_unlock(&f->gate);
	/* what we answer here ourselves (r < 0) the engine answers, logs and
	 * records */
	return r;
}

/* ---- backend -> kernel ------------------------------------------------- */

static void log_reply(struct fwd *f, struct fp_pending *p, const void *msg, size_t len)
{
	char rep[512];
	struct fuse_req_view v = { .h = &p->in, .fixed = p->fixed_len ? p->fixed : NULL,
				   .fixed_len = p->fixed_len };
	uint64_t now = fp_now_ns();
	int n = fuse_format_reply(rep, sizeof rep, p->in.opcode, &v, msg, len);

	if (n >= 0 && (size_t)n < sizeof rep && p->t_sent)
		snprintf(rep + n, sizeof rep - (size_t)n, " [backend %lluus]",
			 (unsigned long long)((now - p->t_sent) / 1000u));
	fp_session_log(f->s, p->text ? p->text : fuse_opname(p->in.opcode), p->in.uid,
		       p->in.pid, rep, p->t_read, now);
}

/* Record a finished forwarded exchange; reply is what the backend sent. */
static void record_reply(struct fwd *f, struct fp_pending *p, const void *reply,
			 size_t len, int32_t error, uint32_t flags, uint64_t t_reply)
{
	struct fp_trace_exchange x = {
		FP_TRACE_IDS(&p->in),
		.worker = p->worker, .error = error,
		.flags = p->flags | flags | FP_TRACE_F_BACKEND,
		.t_read = p->t_read, .t_sent = p->t_sent, .t_reply = t_reply,
		.t_written = fp_now_ns(),
		.req = p->req, .req_len = p->in.len, .comm = p->comm[0] ? p->comm : NULL,
		.reply = reply, .reply_len = (uint32_t)len,
	};
	fp_trace_exchange(f->s->trace, f->s->nworkers, &x);
}

static int check_reply(struct fwd *f, struct fp_pending *p, void *msg, size_t len,
		       int truncated, char *why, size_t whylen)
{
	struct fuse_req_view v = { .h = &p->in, .fixed = p->fixed_len ? p->fixed : NULL,
				   .fixed_len = p->fixed_len };

	if (truncated) {
		snprintf(why, whylen, "%s reply: larger than the %u-byte maximum",
			 fuse_opname(p->in.opcode), (unsigned)RBUF_SIZE);
		return -EPROTO;
	}
	return fuse_validate_reply(p->in.opcode, &v, msg, len, &f->s->wp, why, whylen);
}

/* The reply to one of our own synchronous requests. */
static void complete_call(struct fwd *f, struct fp_pending *p, void *msg, size_t len,
			  int truncated)
{
	char why[256];
	int r = check_reply(f, p, msg, len, truncated, why, sizeof why);

	if (r < 0)
		fprintf(stderr, "fuseproxy: backend sent a malformed reply to our %s: %s\n",
			fuse_opname(p->in.opcode), why);
	else if (len > p->call->cap)
		r = -EPROTO;
	pthread_mutex_lock(&f->call_lock);
	if (!r) {
		memcpy(p->call->buf, msg, len);
		p->call->len = len;
	}
	p->call->err = r;
	p->call->done = 1;
	pthread_cond_broadcast(&p->call->cond);
	pthread_mutex_unlock(&f->call_lock);
	fp_pending_release(&f->pt, p);
}

void fwd_answer(struct fwd *f, struct fp_pending *p, int err, const char *why)
{
	struct fuse_out_header oh = { sizeof oh, err, p->unique };
	int r;

	if (err)
		atomic_fetch_add_explicit(&f->s->nerr, 1, memory_order_relaxed);
	r = fp_chan_send(p->chan, &oh, sizeof oh);
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "fuseproxy: kernel refused the answer to %s #%llu: %s\n",
			fuse_opname(p->in.opcode), (unsigned long long)p->unique, strerror(-r));
	if (f->o.debug) {
		log_reply(f, p, &oh, sizeof oh);
		if (why)
			fprintf(stderr, "[%11s] %s #%llu answered by fuseproxy: %s\n", "",
				fuse_opname(p->in.opcode), (unsigned long long)p->unique, why);
	}
	if (p->traced)
		record_reply(f, p, &oh, sizeof oh, err, 0, fp_now_ns());
	if (p->rflags & FP_PR_RECOVERY)
		fwd_recovery_answered(f, p);
	fp_pending_release(&f->pt, p);
}

void fwd_complete(struct fwd *f, struct fp_pending *p, void *msg, size_t len, int truncated)
{
	struct fuse_out_header *oh = msg;
	uint64_t t_reply = fp_now_ns();
	int tracked = 0, journaled = 0;
	char why[256];
	int r;

	if (p->call) {
		complete_call(f, p, msg, len, truncated);
		return;
	}
	if (!p->chan) {		/* our own request nobody waits for (DESTROY, ...) */
		fp_pending_release(&f->pt, p);
		return;
	}
	r = check_reply(f, p, msg, len, truncated, why, sizeof why);
	fp_journal_unique = p->unique;
	fp_journal_count = 0;
	if (!r && !oh->error) {
		r = fwd_track_reply(f, p, msg, len);
		if (r < 0)
			snprintf(why, sizeof why, "cannot give the kernel ids for it (out of memory)");
		tracked = !r;
	}
	/* what tracking changed counts for a successor only if the reply is
	 * journaled too (before the kernel can have it; takeover.c) */
	if (fp_journal_count && !r) {
		struct fp_j_reply jr = { (uint32_t)p->worker, 0 };
		fp_journal_append(f->st.journal, FP_J_REPLY, &jr, sizeof jr, msg, len);
		journaled = 1;
	}
	if (r < 0) {
		fprintf(stderr, "fuseproxy: backend sent a malformed reply to %s #%llu: %s; "
			"answering EIO\n", fuse_opname(p->in.opcode),
			(unsigned long long)p->unique, why);
		struct fuse_out_header eh = { sizeof eh, -EIO, p->unique };
		atomic_fetch_add_explicit(&f->s->nerr, 1, memory_order_relaxed);
		r = fp_chan_send(p->chan, &eh, sizeof eh);
		if (f->o.debug)
			log_reply(f, p, &eh, sizeof eh);
		/* the trace keeps what the backend sent, marked invalid */
		if (p->traced)
			record_reply(f, p, msg, len, -EIO, FP_TRACE_F_INVALID, t_reply);
	} else {
		if (oh->error)
			atomic_fetch_add_explicit(&f->s->nerr, 1, memory_order_relaxed);
		r = fp_chan_send(p->chan, msg, len);
		if (r < 0 && tracked)	/* the kernel did not take it */
			fwd_track_undo(f, p, msg, len);
		if (journaled)
			fp_journal_append(f->st.journal, FP_J_DONE, NULL, 0, NULL, 0);
		if (f->o.debug)
			log_reply(f, p, msg, len);
		if (p->traced)
			record_reply(f, p, msg, len, oh->error, 0, t_reply);
	}
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "fuseproxy: kernel refused the reply to %s #%llu: %s\n",
			fuse_opname(p->in.opcode), (unsigned long long)p->unique,
			strerror(-r));
	fp_journal_unique = 0;
	if (p->rflags & FP_PR_RECOVERY)
		fwd_recovery_answered(f, p);
	fp_pending_release(&f->pt, p);
}

static void on_reply(struct fwd *f, void *msg, size_t len, int truncated)
{
	struct fuse_out_header *oh = msg;
	struct fp_pending *p;

	p = fp_pending_take(&f->pt, oh->unique);
	if (!p) {
		fprintf(stderr, "fuseproxy: backend replied to unique %#llx, which is not "
			"pending (already answered, or never sent); dropped\n",
			(unsigned long long)oh->unique);
		return;
	}
	fwd_complete(f, p, msg, len, truncated);
}

struct intr_ctx { const void *msg; size_t len; int r; };

static void send_intr_reply(struct fp_pending *p, void *arg)
{
	struct intr_ctx *c = arg;
	c->r = p->chan ? fp_chan_send(p->chan, c->msg, c->len) : 0;
}

/* A reply to an INTERRUPT (unique = orig|1, EAGAIN or ENOSYS): the kernel
 * looks it up in the processing queue of the fd that read the original,
 * so it goes where the original came from, while that is still pending. */
static void on_interrupt_reply(struct fwd *f, void *msg, size_t len)
{
	struct fuse_out_header *oh = msg;
	struct intr_ctx c = { msg, len, 0 };

	if (len != sizeof *oh || oh->error > 0 || oh->error <= -512) {
		fprintf(stderr, "fuseproxy: backend sent a malformed INTERRUPT reply "
			"(unique %#llx, %zu bytes, error %d); dropped\n",
			(unsigned long long)oh->unique, len, oh->error);
		return;
	}
	if (fp_pending_with(&f->pt, oh->unique & ~FUSE_INT_REQ_BIT, send_intr_reply, &c) &&
	    f->o.debug)
		fprintf(stderr, "fuseproxy: INTERRUPT #%llu answered %s by the backend\n",
			(unsigned long long)oh->unique, fuse_errno_name(-oh->error));
}

static void on_notify(struct fwd *f, void *msg, size_t len)
{
	struct fuse_out_header *oh = msg;
	char why[256];
	int r;

	if (fuse_validate_notify(msg, len, why, sizeof why) < 0) {
		fprintf(stderr, "fuseproxy: backend sent a malformed notification: %s; dropped\n",
			why);
		return;
	}
	if (f->st.translating && fwd_translate_notify(f, msg, len) < 0) {
		/* recorded as received: direction 3 is what never went further */
		if (f->s->trace)
			fp_trace_notify(f->s->trace, f->s->nworkers, FP_DIR_BACKEND_TO_PROXY, msg,
					len, fp_now_ns());
		if (f->o.debug)
			fprintf(stderr, "[%11s] NOTIFY_%s from the backend names nothing the "
				"kernel knows; dropped\n", "", fuse_notify_name((uint32_t)oh->error));
		return;
	}
	r = f->s->notify_chan ? fp_chan_send(f->s->notify_chan, msg, len) : -ENOTCONN;
	if (f->s->trace)
		fp_trace_notify(f->s->trace, f->s->nworkers, FP_DIR_PROXY_TO_KERNEL, msg, len,
				fp_now_ns());
	if (f->o.debug)
		fprintf(stderr, "[%11s] NOTIFY_%s %zu bytes (backend -> kernel): %s\n", "",
			fuse_notify_name((uint32_t)oh->error), len,
			r < 0 ? strerror(-r) : "ok");
	else if (r < 0 && r != -ENOENT)
		fprintf(stderr, "fuseproxy: kernel refused NOTIFY_%s from the backend: %s\n",
			fuse_notify_name((uint32_t)oh->error), strerror(-r));
}

struct later { struct fwd *f; size_t len; char msg[]; };

static void *notify_main(void *arg)
{
	struct later *l = arg;
	struct fwd *f = l->f;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (f->s->notify_chan)
		fp_chan_send(f->s->notify_chan, l->msg, l->len);
	free(l);
	atomic_fetch_sub(&f->notifiers, 1);
	return NULL;
}

void fwd_notify_later(struct fwd *f, const void *msg, size_t len)
{
	struct later *l = malloc(sizeof *l + len);
	pthread_attr_t a;
	pthread_t t;

	if (!l)
		return;
	l->f = f;
	l->len = len;
	memcpy(l->msg, msg, len);
	atomic_fetch_add(&f->notifiers, 1);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, notify_main, l)) {
		atomic_fetch_sub(&f->notifiers, 1);
		free(l);
	}
	pthread_attr_destroy(&a);
}

/* ---- spliced replies --------------------------------------------------
 *
 * A daemon that splice()s a reply into its end of the socketpair (libfuse
 * does for READ data when the filesystem wants FUSE_CAP_SPLICE_WRITE, even
 * though we never offer it) sends it as several messages: the kernel's
 * splice into a socket sends 16 pipe buffers per sendmsg.  The first piece
 * starts with the header and is shorter than header.len; the others are
 * raw data.  Complete messages of other daemon threads may arrive between
 * the pieces, but they start with a header that names a pending request.
 * So while exactly one spliced reply is open, every piece that is not such
 * a message start belongs to it.  If a second spliced reply starts before
 * the first is whole, the pieces cannot be attributed: both requests get
 * EIO — never a reply stitched from the wrong bytes. */
#define JOIN_TIMEOUT_NS 1000000000ull

static void exists(struct fp_pending *p, void *arg)
{
	if (arg)
		*(uint32_t *)arg = p->in.opcode;
}

/* Does this message start with a header that we would accept? */
static int looks_like_start(struct fwd *f, const void *msg, size_t n)
{
	const struct fuse_out_header *oh = msg;

	if (n < sizeof *oh || oh->len < n || oh->len > RBUF_SIZE)
		return 0;
	if (oh->unique == 0)
		return oh->len == n && fuse_notify_get((uint32_t)oh->error) != NULL;
	if (oh->error > 0 || oh->error <= -512)
		return 0;
	return fp_pending_with(&f->pt, oh->unique & ~(uint64_t)FUSE_INT_REQ_BIT, exists, NULL);
}

static void join_fail(struct fwd *f, uint64_t unique, const char *why)
{
	struct fp_pending *p = fp_pending_take(&f->pt, unique);

	if (!p)
		return;
	fprintf(stderr, "fuseproxy: backend sent a malformed reply to %s #%llu: spliced "
		"reply %s; answering EIO\n", fuse_opname(p->in.opcode),
		(unsigned long long)unique, why);
	if (p->call) {
		wake_call(f, p, -EPROTO);
		fp_pending_release(&f->pt, p);
	} else if (p->chan) {
		fwd_answer(f, p, -EIO, "spliced reply could not be joined");
	} else {
		fp_pending_release(&f->pt, p);
	}
}

/* Returns 1 if the message was taken by the joiner. */
static int join_piece(struct fwd *f, const void *msg, size_t n)
{
	const struct fuse_out_header *oh = msg;
	struct fwd_join *j = &f->join;

	if (looks_like_start(f, msg, n)) {
		uint32_t opcode = 0;
		const struct fuse_op *op;
		if (oh->len == n || oh->unique == 0 || (oh->unique & FUSE_INT_REQ_BIT))
			return 0;			/* a whole message */
		/* only data replies are spliced; anything else cut short is
		 * simply malformed */
		fp_pending_with(&f->pt, oh->unique, exists, &opcode);
		op = fuse_op_get(opcode);
		if (!op || op->reply != FUSE_R_DATA || oh->error)
			return 0;
		if (j->open) {
			join_fail(f, j->unique, "interleaved with another spliced reply");
			join_fail(f, oh->unique, "interleaved with another spliced reply");
			j->open = 0;
			return 1;
		}
		if (oh->len > j->cap) {
			char *nb = realloc(j->buf, oh->len);
			if (!nb) {
				join_fail(f, oh->unique, "out of memory");
				return 1;
			}
			j->buf = nb;
			j->cap = oh->len;
		}
		memcpy(j->buf, msg, n);
		j->have = (uint32_t)n;
		j->want = oh->len;
		j->unique = oh->unique;
		j->t_open = fp_now_ns();
		j->open = 1;
		return 1;
	}
	if (!j->open) {
		/* a piece of a reply we already failed: nothing to attribute
		 * it to; say so once */
		if (!j->orphans++)
			fprintf(stderr, "fuseproxy: dropping pieces of a spliced reply that "
				"could not be joined (further ones are not reported)\n");
		return 1;
	}
	if (j->have + n > j->want) {
		join_fail(f, j->unique, "pieces add up to more than its header says");
		j->open = 0;
		return 1;
	}
	memcpy(j->buf + j->have, msg, n);
	j->have += (uint32_t)n;
	if (j->have == j->want) {
		j->open = 0;
		on_reply(f, j->buf, j->want, 0);
	}
	return 1;
}

int fwd_pump(struct fwd *f, int ms)
{
	int r = pump(f, ms);
	if (r == -ERESTART)
		f->gone = 1;
	return r;
}

/* Wait at most ms for the socket (or the wake pipe): 1 if a message may be
 * there, 0 if not, -ERESTART if poll() failed. */
static int wait_msg(struct fwd *f, int ms)
{
	struct pollfd pfd[2] = { { .fd = f->d.sock, .events = POLLIN },
				 { .fd = f->wake[0], .events = POLLIN } };
	int pr;

	if (f->join.open && (ms < 0 || ms > 200))
		ms = 200;
	pr = poll(pfd, f->wake[0] >= 0 ? 2 : 1, ms);
	if (pr > 0 && f->wake[0] >= 0 && (pfd[1].revents & POLLIN)) {
		char b[16];
		/* the reader loop looks at what woke it */
		if (read(f->wake[0], b, sizeof b) < 0 && errno != EAGAIN)
			snprintf(f->why, sizeof f->why, "wake pipe: %s", strerror(errno));
	}
	if (pr < 0 && errno != EINTR) {
		snprintf(f->why, sizeof f->why, "poll: %s", strerror(errno));
		return -ERESTART;
	}
	return pr > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR));
}

static ssize_t recv_now(struct fwd *f)
{
	return fp_daemon_recv(&f->d, f->rbuf, RBUF_SIZE, MSG_DONTWAIT);
}

/* Spin, then sleep.  A sleeping reader costs every reply a wake-up, on a VM
 * often a halted vCPU to bring back: at one request at a time that doubled
 * the latency of a forwarded read (4k reads QD1 through fuse-overlayfs:
 * 14.5k -> 33.6k IOPS in the same run).  So for FP_SPIN_NS after a message,
 * when the next one is likely (the next reply of a busy stream; at one
 * request at a time, the reply to the next request), the reader looks
 * again without blocking, yielding the CPU between looks so that the
 * backend or the application can run on it.  An idle reader spins once,
 * then sleeps. */
static ssize_t recv_spin(struct fwd *f)
{
	ssize_t n;

	while ((n = recv_now(f)) == -EAGAIN && fp_now_ns() - f->last_msg < FP_SPIN_NS)
		sched_yield();
	return n;
}

static int pump(struct fwd *f, int ms)
{
	uint64_t tmo = (uint64_t)(f->o.timeout * 1e9);
	ssize_t n;
	int r;

	if (f->gone)
		return -ERESTART;
	if (f->join.open && fp_now_ns() - f->join.t_open > JOIN_TIMEOUT_NS) {
		join_fail(f, f->join.unique, "cut short: the rest never came");
		f->join.open = 0;
	}
	if (tmo) {
		uint64_t oldest = fp_pending_oldest(&f->pt);
		if (oldest && fp_now_ns() - oldest > tmo) {
			snprintf(f->why, sizeof f->why, "stopped answering: a request has "
				 "waited more than --backend-timeout %.1f s", f->o.timeout);
			return -ERESTART;
		}
	}
	/* Then sleep in one syscall where we can: with nothing else to wait
	 * for (no wake pipe, no deadline) in recvmsg() itself. */
	n = -EAGAIN;
	if (fp_now_ns() - f->last_msg < FP_SPIN_NS)
		n = recv_spin(f);
	if (n == -EAGAIN) {
		if (ms < 0 && f->wake[0] < 0 && !f->join.open)
			n = fp_daemon_recv(&f->d, f->rbuf, RBUF_SIZE, 0);
		else if ((r = wait_msg(f, ms)) <= 0)
			return r;
		else
			n = recv_now(f);
	}
	if (n > 0)
		f->last_msg = fp_now_ns();
	int truncated = 0;
	if (n == -EMSGSIZE) {	/* the first RBUF_SIZE bytes are there */
		truncated = 1;
		n = RBUF_SIZE;
	}
	if (n == 0) {
		char st[96] = "";
		/* it usually exits right after closing: say how */
		for (int i = 0; i < 20 && !fp_daemon_poll_exit(&f->d); i++)
			usleep(5000);
		if (fp_daemon_poll_exit(&f->d))
			fp_daemon_describe(f->d.status, st, sizeof st);
		snprintf(f->why, sizeof f->why, "closed its connection%s%s", st[0] ? ", " : "",
			 st);
		return -ERESTART;
	}
	if (n < 0) {
		if (n == -EINTR || n == -EAGAIN)
			return 0;
		snprintf(f->why, sizeof f->why, "receive: %s", strerror((int)-n));
		return -ERESTART;
	}
	if ((size_t)n < sizeof(struct fuse_out_header)) {
		fprintf(stderr, "fuseproxy: backend sent a %zd-byte message, shorter "
			"than fuse_out_header; dropped\n", n);
		return 0;
	}
	struct fuse_out_header *oh = f->rbuf;
	if (!truncated && (oh->len != (uint32_t)n || f->join.open) &&
	    join_piece(f, f->rbuf, (size_t)n))
		return 0;
	if (!truncated && oh->len != (uint32_t)n) {
		/* answer the request (if it is one of ours) rather than
		 * forward bytes whose framing we cannot trust */
		if (oh->unique && !(oh->unique & FUSE_INT_REQ_BIT)) {
			on_reply(f, f->rbuf, (size_t)n, 0);
			return 0;
		}
		fprintf(stderr, "fuseproxy: backend message header says %u bytes but "
			"%zd arrived; dropped\n", oh->len, n);
		return 0;
	}
	if (oh->unique == 0)
		on_notify(f, f->rbuf, (size_t)n);
	else if (oh->unique & FUSE_INT_REQ_BIT)
		on_interrupt_reply(f, f->rbuf, (size_t)n);
	else
		on_reply(f, f->rbuf, (size_t)n, truncated);
	return 0;
}

/* `fuseproxy upgrade`, asked for by the control thread: done here, where
 * backend messages are read.  Returns -1 if the forwarder gave up. */
static int do_upgrade(struct fwd *f)
{
	char cmd[4096];
	int r;

	pthread_mutex_lock(&f->up_lock);
	if (!f->up_cmd || f->up_done) {
		pthread_mutex_unlock(&f->up_lock);
		return 0;
	}
	snprintf(cmd, sizeof cmd, "%s", f->up_cmd);
	pthread_mutex_unlock(&f->up_lock);
	r = fwd_upgrade_run(f, cmd, f->up_msg, sizeof f->up_msg);
	pthread_mutex_lock(&f->up_lock);
	f->up_result = r;
	f->up_done = 1;
	pthread_cond_broadcast(&f->up_cond);
	pthread_mutex_unlock(&f->up_lock);
	return r == -EIO ? -1 : 0;
}

static void *reader_main(void *arg)
{
	struct fwd *f = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	while (!atomic_load(&f->stopping)) {
		if (f->o.restart && do_upgrade(f) < 0)
			break;
		if (fwd_pump(f, f->o.timeout || f->o.restart ? 200 : -1) == 0)
			continue;
		if (!f->o.restart || atomic_load(&f->stopping)) {
			fwd_give_up(f, "%s", f->why);
			break;
		}
		if (fwd_recover(f, f->why) < 0)
			break;
	}
	if (f->o.restart) {
		/* an upgrade asked for now will not happen */
		pthread_mutex_lock(&f->up_lock);
		if (f->up_cmd && !f->up_done) {
			snprintf(f->up_msg, sizeof f->up_msg, "failed: %s", atomic_load(&f->dead) ?
				 f->death : "fuseproxy is stopping");
			f->up_result = -EIO;
			f->up_done = 1;
			pthread_cond_broadcast(&f->up_cond);
		}
		pthread_mutex_unlock(&f->up_lock);
	}
	return NULL;
}

/* ---- INIT mediation ---------------------------------------------------- */

/* Wait for one message of the backend with a deadline (before the reader
 * thread exists). */
static ssize_t recv_timed(struct fp_daemon *d, void *buf, size_t cap, int ms)
{
	struct pollfd pfd = { .fd = d->sock, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	return fp_daemon_recv(d, buf, cap, 0);
}

int fwd_backend_init(struct fwd *f, struct fp_daemon *d, struct fuse_init_out *bi,
		     char *why, size_t whylen)
{
	struct fuse_out_header *oh = f->rbuf;
	struct fuse_req_view v = { .h = &f->init_req.h, .fixed = &f->init_req.i,
				   .fixed_len = sizeof f->init_req.i };
	struct fuse_wire_params wp = { 0, 0 };
	char vwhy[200];
	ssize_t n;
	int r;

	r = fp_daemon_send(d, &f->init_req, sizeof f->init_req);
	if (r < 0) {
		snprintf(why, whylen, "cannot send INIT: %s", strerror(-r));
		return -EIO;
	}
	for (;;) {
		n = recv_timed(d, f->rbuf, RBUF_SIZE, FWD_CALL_TIMEOUT_MS);
		if (n <= 0) {
			snprintf(why, whylen, "no INIT reply: %s", n == 0 ?
				 "it closed its connection" : strerror((int)-n));
			return -EIO;
		}
		if ((size_t)n >= sizeof *oh && oh->unique == 0) {
			on_notify(f, f->rbuf, (size_t)n);	/* early notification */
			continue;
		}
		break;
	}
	if (fuse_validate_reply(FUSE_INIT, &v, f->rbuf, (size_t)n, &wp, vwhy, sizeof vwhy) < 0) {
		snprintf(why, whylen, "malformed INIT reply: %s", vwhy);
		return -EIO;
	}
	if (oh->error) {
		snprintf(why, whylen, "refused INIT: %s", strerror(-oh->error));
		return -EIO;
	}
	memset(bi, 0, sizeof *bi);
	memcpy(bi, (char *)f->rbuf + sizeof *oh, (size_t)n - sizeof *oh);
	if (bi->major != FUSE_KERNEL_VERSION) {
		snprintf(why, whylen, "speaks FUSE major %u, not %u", bi->major,
			 FUSE_KERNEL_VERSION);
		return -EPROTO;
	}
	return 0;
}

static int fwd_init(struct fp_fs *fs, const struct fuse_init_in *in,
		    struct fuse_init_out *out)
{
	struct fwd *f = FWD(fs);
	uint64_t offered, got, stripped;
	char why[256], fb[1024];
	int r;

	memset(&f->init_req, 0, sizeof f->init_req);
	f->init_req.h.len = sizeof f->init_req;
	f->init_req.h.opcode = FUSE_INIT;
	f->init_req.h.unique = FWD_OWN_UNIQUE;
	f->init_req.i = *in;
	offered = in->flags;
	if (in->flags & FUSE_INIT_EXT)
		offered |= (uint64_t)in->flags2 << 32;
	offered &= ~(uint64_t)FWD_STRIP;
	f->init_req.i.flags = (uint32_t)offered;
	f->init_req.i.flags2 = (uint32_t)(offered >> 32);

	r = fwd_backend_init(f, &f->d, &f->binit, why, sizeof why);
	if (r < 0) {
		fwd_give_up(f, "%s", why);
		return r;
	}
	fp_journal_set_backend_init(f->o.journal, &f->init_req, sizeof f->init_req, &f->binit);

	got = f->binit.flags;
	if (got & FUSE_INIT_EXT)
		got |= (uint64_t)f->binit.flags2 << 32;
	stripped = got & FWD_STRIP;
	got &= ~(uint64_t)FWD_STRIP;
	if (f->o.verbose) {
		fuse_flags_format(fb, sizeof fb, fuse_init_flag_names, got);
		fprintf(stderr, "fuseproxy: backend INIT %u.%u max_write=%u flags %s\n",
			f->binit.major, f->binit.minor, f->binit.max_write, fb);
		if (stripped) {
			fuse_flags_format(fb, sizeof fb, fuse_init_flag_names, stripped);
			fprintf(stderr, "fuseproxy: stripped from the backend's INIT (cannot "
				"work through a proxy): %s\n", fb);
		}
	}

	/* the kernel talks to the backend through us in the backend's minor */
	if (f->binit.minor < out->minor)
		out->minor = f->binit.minor;
	out->max_readahead = f->binit.max_readahead;
	out->flags = (uint32_t)got;
	out->flags2 = (uint32_t)(got >> 32);
	out->max_background = f->binit.max_background;
	out->congestion_threshold = f->binit.congestion_threshold;
	out->max_write = f->binit.max_write;
	/* a WRITE request or READ reply is one socket message: keep it (with
	 * headers) below what the socketpair can carry; the engine then caps
	 * max_pages, and with it READ sizes, to max_write */
	if (f->d.max_msg < (size_t)out->max_write + 4096) {
		size_t room = f->d.max_msg > 8192 ? (f->d.max_msg - 4096) & ~(size_t)4095 : 4096;
		if (f->o.verbose)
			fprintf(stderr, "fuseproxy: backend socket carries at most %zu bytes: "
				"max_write %u -> %zu\n", f->d.max_msg, out->max_write, room);
		out->max_write = (uint32_t)room;
	}
	out->time_gran = f->binit.time_gran;
	out->max_pages = f->binit.max_pages;
	out->map_alignment = 0;
	out->max_stack_depth = 0;
	out->request_timeout = f->binit.request_timeout;

	r = fwd_start_reader(f);
	if (r < 0) {
		fwd_give_up(f, "cannot start the reader thread: %s", strerror(-r));
		return -EIO;
	}
	return 0;
}

int fwd_start_reader(struct fwd *f)
{
	int r = pthread_create(&f->reader, NULL, reader_main, f);
	if (r)
		return -r;
	f->reader_started = 1;
	return 0;
}

struct collect { struct fp_inflight *out; int max, n; };

static void collect_one(struct fp_pending *p, void *arg)
{
	struct collect *c = arg;
	if (c->n < c->max && p->chan)
		c->out[c->n++] = (struct fp_inflight){ p->unique, p->in.nodeid, p->t_read,
						       p->in.opcode, p->in.pid,
						       (p->rflags & FP_PR_QUEUED) ? FP_AT_QUEUED
										  : FP_AT_BACKEND };
}

static int fwd_inflight(struct fp_fs *fs, struct fp_inflight *out, int max)
{
	struct collect c = { out, max, 0 };
	fp_pending_foreach(&FWD(fs)->pt, collect_one, &c);
	return c.n;
}

static void fwd_status(struct fp_fs *fs, FILE *out)
{
	struct fwd *f = FWD(fs);
	struct fp_state_counts c;

	fp_state_counts(&f->st, &c);
	fprintf(out, "state: %llu nodes (%llu kernel lookups, %llu backend lookups%s%s), "
		"%llu handles (%llu dirs), %llu locks, %llu poll handles\n",
		(unsigned long long)c.nodes, (unsigned long long)c.klookups,
		(unsigned long long)c.blookups, c.stale ? ", stale " : "",
		c.stale ? "" : "", (unsigned long long)c.handles, (unsigned long long)c.dirs,
		(unsigned long long)c.locks, (unsigned long long)c.polls);
	if (c.stale)
		fprintf(out, "stale nodes: %llu\n", (unsigned long long)c.stale);
	if (f->s->holder) {
		const struct fp_holder_info *hi = f->s->holder;
		pthread_mutex_lock(&f->stats_lock);
		fprintf(out, "holder: pid %d; worker %u (pid %d), %u workers died before it; "
			"journal %zu KiB, compacted %llu times by this worker\n", (int)hi->holder,
			hi->worker_no, (int)getpid(), hi->deaths,
			fp_journal_used(f->st.journal) / 1024,
			(unsigned long long)fp_journal_compactions(f->st.journal));
		if (hi->worker_no)
			fprintf(out, "takeover: from a worker killed by signal %d; journal replayed "
				"in %.1f ms (%llu records, %llu changes, %llu of undelivered replies "
				"dropped), %u replies written again (%u taken), %u requests resent "
				"by the kernel\n", hi->last_signal,
				(double)f->takeover.replay_ns / 1e6,
				(unsigned long long)f->takeover.records,
				(unsigned long long)f->takeover.applied,
				(unsigned long long)f->takeover.skipped, f->takeover.replies,
				f->takeover.taken, atomic_load(&f->takeover.resent));
		pthread_mutex_unlock(&f->stats_lock);
	}
	fwd_recovery_status(f, out);
}

void fwd_set_cmd(struct fwd *f, const char *cmd)
{
	char *c = strdup(cmd);

	if (!c)
		return;
	free(f->cmd_owned);
	f->cmd_owned = c;
	f->o.cmd = c;
}

static int fwd_upgrade(struct fp_fs *fs, const char *cmd, char *msg, size_t n)
{
	struct fwd *f = FWD(fs);
	struct timespec ts;
	int r;

	if (!f->o.restart) {
		snprintf(msg, n, "upgrades need a fuseproxy started with --restart (it keeps "
			 "the requests that wait for the new backend)");
		return -ENOTSUP;
	}
	if (atomic_load(&f->dead) || !f->reader_started) {
		snprintf(msg, n, "no backend serves: %s", atomic_load(&f->dead) ? f->death :
			 "not initialized yet");
		return -EIO;
	}
	pthread_mutex_lock(&f->up_lock);
	if (f->up_cmd) {
		pthread_mutex_unlock(&f->up_lock);
		snprintf(msg, n, "another upgrade is running");
		return -EBUSY;
	}
	f->up_cmd = strdup(cmd);
	f->up_done = 0;
	if (!f->up_cmd || write(f->wake[1], "u", 1) != 1) {
		free(f->up_cmd);
		f->up_cmd = NULL;
		pthread_mutex_unlock(&f->up_lock);
		snprintf(msg, n, "cannot wake the forwarder");
		return -EIO;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 120;
	r = 0;
	while (!f->up_done && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&f->up_cond, &f->up_lock, &ts);
	if (!f->up_done) {
		snprintf(msg, n, "still running after 120 s; see fuseproxy status");
		pthread_mutex_unlock(&f->up_lock);
		return -ETIMEDOUT;
	}
	snprintf(msg, n, "%s", f->up_msg);
	r = f->up_result;
	free(f->up_cmd);
	f->up_cmd = NULL;
	pthread_mutex_unlock(&f->up_lock);
	return r;
}

/* ---- lifecycle --------------------------------------------------------- */

struct fp_fs *fwd_create(const struct fwd_options *o, struct fp_session *s,
			 char *errbuf, size_t errlen)
{
	struct fwd *f = calloc(1, sizeof *f);
	pthread_rwlockattr_t ra;
	int r;

	if (f) {
		f->log_fd = -1;
		f->wake[0] = f->wake[1] = -1;
	}
	if (!f || fp_pending_init(&f->pt) < 0 || !(f->rbuf = aligned_alloc(4096, RBUF_SIZE)) ||
	    fp_state_init(&f->st) < 0 ||
	    (o->restart && !(f->callbuf = malloc(RBUF_SIZE)))) {
		snprintf(errbuf, errlen, "out of memory");
		goto fail;
	}
	f->fs.ops = &fwd_ops;
	f->s = s;
	f->o = *o;
	pthread_mutex_init(&f->up_lock, NULL);
	pthread_cond_init(&f->up_cond, NULL);
	if (o->restart && pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
		f->wake[0] = f->wake[1] = -1;
		goto fail;
	}
	atomic_store(&f->own_unique, FWD_OWN_UNIQUE + 2);
	pthread_mutex_init(&f->call_lock, NULL);
	pthread_mutex_init(&f->resolve_lock, NULL);
	pthread_mutex_init(&f->stats_lock, NULL);
	/* writers first: a recovery must not wait behind a stream of requests */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&f->gate, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (o->restart && o->log_fd >= 0)
		f->log_fd = fcntl(o->log_fd, F_DUPFD_CLOEXEC, 3);
	if (o->takeover) {
		/* the backend is started by the takeover, as after a crash */
		memset(&f->d, 0, sizeof f->d);
		f->d.sock = -1;
		return &f->fs;
	}
	f->st.journal = o->journal;
	fp_journal_set_compactor(o->journal, fp_journal_compact, NULL, 0);
	r = fp_daemon_start(&f->d, o->cmd, o->log_fd, errbuf, errlen);
	if (r < 0)
		goto fail;
	f->pid_now = (int)f->d.pid;
	if (o->verbose)
		fprintf(stderr, "fuseproxy: started backend '%s' (pid %d)\n", o->cmd,
			(int)f->d.pid);
	if (s->trace)
		fp_trace_event(s->trace, FP_EV_BACKEND_START, "backend '%s' started, pid %d",
			       o->cmd, (int)f->d.pid);
	return &f->fs;
fail:
	if (f) {
		if (f->log_fd >= 0)
			close(f->log_fd);
		if (f->wake[0] >= 0) {
			close(f->wake[0]);
			close(f->wake[1]);
		}
		fp_pending_fini(&f->pt);
		fp_state_fini(&f->st);
		free(f->rbuf);
		free(f->callbuf);
		free(f);
	}
	return NULL;
}

static void noop(struct fp_pending *p, void *arg)
{
	(void)p;
	(void)arg;
}

int fwd_stop(struct fp_fs *fs)
{
	struct fwd *f = FWD(fs);
	char st[96];

	if (f->d.sock < 0) {
		/* given up on (a failed restart): the reader ended by itself */
		atomic_store(&f->stopping, 1);
		if (f->reader_started) {
			pthread_join(f->reader, NULL);
			f->reader_started = 0;
		}
		return f->d.status;
	}
	/* A `fuse` mount never gets DESTROY from the kernel; the backend
	 * deserves one to flush before it is told to exit. */
	if (!atomic_load(&f->dead) && f->reader_started && !atomic_load(&f->recovering)) {
		struct fuse_in_header h = { .len = sizeof h, .opcode = FUSE_DESTROY };
		struct fp_pending *p = fp_pending_alloc(&f->pt);
		h.unique = atomic_fetch_add(&f->own_unique, 2);
		if (p) {
			p->unique = h.unique;
			p->in = h;
			fp_pending_insert(&f->pt, p);
			if (fp_daemon_send(&f->d, &h, sizeof h) == 0) {
				/* wait for its answer, at most a second */
				for (int i = 0; i < 200; i++) {
					if (!fp_pending_with(&f->pt, h.unique, noop, NULL))
						break;
					usleep(5000);
				}
			}
		}
	}
	atomic_store(&f->stopping, 1);
	/* A restarting reader may be swapping backends: let it see we stop
	 * before we touch the backend it has. */
	if (f->o.restart && f->reader_started) {
		pthread_join(f->reader, NULL);
		f->reader_started = 0;
	}
	/* Ask the backend to exit (libfuse daemons leave their loop cleanly on
	 * SIGTERM) before closing the socket, which they would report as a
	 * short read and exit 1.  A daemon that forked away from the pid we
	 * started sees the socket close instead. */
	if (f->d.pid > 0 && !fp_daemon_poll_exit(&f->d)) {
		kill(-f->d.pid, SIGTERM);
		for (int i = 0; i < 500 && !fp_daemon_poll_exit(&f->d); i++)
			usleep(10000);
	}
	shutdown(f->d.sock, SHUT_RDWR);	/* wakes the reader: EOF */
	if (f->reader_started) {
		pthread_join(f->reader, NULL);
		f->reader_started = 0;
	}
	/* whatever the backend never answered is pending in the trace */
	fp_pending_drain(&f->pt, fail_pending, f);
	/* notifications still on their way use the kernel channel, which
	 * goes away after us */
	while (atomic_load(&f->notifiers))
		usleep(1000);
	int status = fp_daemon_stop(&f->d, 5000);
	fp_daemon_describe(status, st, sizeof st);
	if (f->o.verbose)
		fprintf(stderr, "fuseproxy: backend %s\n", st);
	if (f->s->trace)
		fp_trace_event(f->s->trace, FP_EV_BACKEND_EXIT, "backend stopped: %s", st);
	return status;
}

static void fwd_destroy(struct fp_fs *fs)
{
	struct fwd *f = FWD(fs);

	fwd_stop(fs);
	while (atomic_load(&f->notifiers))
		usleep(1000);
	fp_pending_fini(&f->pt);
	fp_state_fini(&f->st);
	free(f->join.buf);
	pthread_rwlock_destroy(&f->gate);
	pthread_mutex_destroy(&f->call_lock);
	pthread_mutex_destroy(&f->resolve_lock);
	pthread_mutex_destroy(&f->stats_lock);
	if (f->log_fd >= 0)
		close(f->log_fd);
	if (f->wake[0] >= 0) {
		close(f->wake[0]);
		close(f->wake[1]);
	}
	pthread_mutex_destroy(&f->up_lock);
	pthread_cond_destroy(&f->up_cond);
	free(f->cmd_owned);
	free(f->restart_times);
	free(f->rbuf);
	free(f->callbuf);
	free(f);
}

static const struct fp_fs_ops fwd_ops = {
	.name = "forward",
	.flags = FP_FS_RAW,
	.init = fwd_init,
	.handle = fwd_handle,
	.inflight = fwd_inflight,
	.status = fwd_status,
	.upgrade = fwd_upgrade,
	.destroy = fwd_destroy,
};
