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
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forward.h"
#include "daemon.h"
#include "pending.h"
#include "session.h"
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

/* Our own requests to the backend use uniques the kernel never does
 * (the kernel's are even and far below 2^62). */
#define FWD_OWN_UNIQUE (1ull << 62)

#define RBUF_SIZE (FP_BUFSIZE + 4096)

/* One spliced reply being put back together (see join_piece). */
struct fwd_join {
	int open;
	uint64_t unique, t_open;
	uint32_t want, have, cap;
	char *buf;
	uint64_t orphans;
};

struct fwd {
	struct fp_fs fs;
	struct fp_session *s;
	struct fp_daemon d;
	struct fp_pending_table pt;
	struct fwd_options o;
	pthread_t reader;
	int reader_started;
	_Atomic int stopping;
	_Atomic int dead;
	char death[256];
	void *rbuf;
	struct fwd_join join;            /* reader thread only */
	struct fuse_init_out binit;      /* the backend's INIT answer */
	_Atomic uint64_t own_unique;
};

#define FWD(fs) ((struct fwd *)(fs))

static const struct fp_fs_ops fwd_ops;

static void give_up(struct fwd *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The backend will never answer p: record it as pending (what crashed
 * the backend, for `fusereplay --pending`) and answer EIO. */
static void fail_pending(struct fp_pending *p, void *arg)
{
	struct fwd *f = arg;
	struct fuse_out_header oh = { sizeof oh, -EIO, p->unique };

	if (!p->chan)
		return;
	if (f->s->trace && p->reqlen) {
		struct fp_trace_exchange x = {
			.unique = p->unique, .nodeid = p->in.nodeid, .opcode = p->in.opcode,
			.uid = p->in.uid, .gid = p->in.gid, .pid = p->in.pid,
			.worker = p->worker, .flags = p->flags | FP_TRACE_F_BACKEND,
			.t_read = p->t_read, .t_sent = p->t_sent,
			.req = p->req, .req_len = p->in.len,
		};
		fp_trace_pending(f->s->trace, &x);
	}
	fp_chan_send(p->chan, &oh, sizeof oh);
}

/* The backend is gone (or given up on): fail everything pending with EIO
 * and tell the owner, once. */
static void give_up(struct fwd *f, const char *fmt, ...)
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

/* ---- kernel -> backend ------------------------------------------------- */

static void mark_interrupted(struct fp_pending *p, void *arg)
{
	(void)arg;
	p->flags |= FP_TRACE_F_INTERRUPTED;
}

static int fwd_handle(struct fp_fs *fs, struct fp_req *req)
{
	struct fwd *f = FWD(fs);
	const struct fuse_in_header *in = req->in;
	const struct fuse_op *op = fuse_op_get(in->opcode);
	struct fp_pending *p;
	int r;

	if (atomic_load_explicit(&f->dead, memory_order_relaxed))
		return -EIO;
	/* no reply expected: FORGET, BATCH_FORGET, NOTIFY_REPLY, INTERRUPT */
	if ((op && (op->flags & FOP_NOREPLY)) || in->opcode == FUSE_INTERRUPT) {
		uint64_t t_sent = fp_now_ns();
		r = fp_daemon_send(&f->d, in, in->len);
		if (r < 0 && r != -EPIPE)
			fprintf(stderr, "fuseproxy: forward %s #%llu: %s\n",
				fuse_opname(in->opcode), (unsigned long long)in->unique,
				strerror(-r));
		if (in->opcode == FUSE_INTERRUPT)
			fp_pending_with(&f->pt, ((const struct fuse_interrupt_in *)req->v.fixed)->unique,
					mark_interrupted, NULL);
		if (f->s->trace && in->opcode == FUSE_NOTIFY_REPLY) {
			/* the kernel's answer to a RETRIEVE is a notification
			 * record (doc/trace-format.md 1.3), passed to the backend */
			fp_trace_notify(f->s->trace, req->worker, FP_DIR_PROXY_TO_BACKEND, in,
					in->len, t_sent);
		} else if (f->s->trace && fp_trace_wants(f->s->trace, in->opcode)) {
			struct fp_trace_exchange x = {
				.unique = in->unique, .nodeid = in->nodeid, .opcode = in->opcode,
				.uid = in->uid, .gid = in->gid, .pid = in->pid,
				.worker = req->worker,
				.flags = FP_TRACE_F_NOREPLY | FP_TRACE_F_BACKEND,
				.t_read = req->t_read, .t_sent = t_sent, .t_written = t_sent,
				.req = in, .req_len = in->len,
			};
			fp_trace_exchange(f->s->trace, req->worker, &x);
		}
		/* -d: the session logs it, "-> (no reply)" */
		return FP_NOREPLY;
	}

	p = fp_pending_alloc(&f->pt);
	if (!p)
		return -ENOMEM;
	p->unique = in->unique;
	p->in = *in;
	p->chan = req->chan;
	p->worker = req->worker;
	p->t_read = req->t_read;
	p->fixed_len = req->v.fixed_len < FP_PENDING_FIXED ? req->v.fixed_len
							    : FP_PENDING_FIXED;
	if (p->fixed_len)
		memcpy(p->fixed, req->v.fixed, p->fixed_len);
	if (f->o.debug) {
		char txt[512];
		fuse_format_request(txt, sizeof txt, &req->v);
		p->text = strdup(txt);
	}
	if (f->s->trace && fp_trace_wants(f->s->trace, in->opcode)) {
		/* the worker's buffer is reused before the reply comes: keep
		 * what the recorder will keep of the request */
		uint32_t keep = sizeof *in + req->v.fixed_len + f->s->trace_snaplen;
		if (keep < sizeof *in + req->v.fixed_len)	/* snaplen "all" wrapped */
			keep = in->len;
		if (keep > in->len)
			keep = in->len;
		if (fp_pending_keep_request(p, in, keep) < 0)
			p->reqlen = 0;
	}
	if (fp_pending_insert(&f->pt, p) < 0) {
		fprintf(stderr, "fuseproxy: %s #%llu: unique already in flight\n",
			fuse_opname(in->opcode), (unsigned long long)in->unique);
		fp_pending_release(&f->pt, p);
		return -EIO;
	}
	p->t_sent = fp_now_ns();
	r = fp_daemon_send(&f->d, in, in->len);
	if (r < 0) {
		/* if the reader already failed it (backend death), it has been
		 * answered; otherwise answer here */
		p = fp_pending_take(&f->pt, in->unique);
		if (!p)
			return FP_ASYNC;
		fp_pending_release(&f->pt, p);
		give_up(f, "cannot send to it: %s", strerror(-r));
		return -EIO;
	}
	return FP_ASYNC;
}

/* ---- backend -> kernel ------------------------------------------------- */

static void log_reply(struct fwd *f, struct fp_pending *p, const void *msg, size_t len)
{
	char rep[512];
	struct fuse_req_view v = { .h = &p->in, .fixed = p->fixed_len ? p->fixed : NULL,
				   .fixed_len = p->fixed_len };
	uint64_t now = fp_now_ns();
	int n = fuse_format_reply(rep, sizeof rep, p->in.opcode, &v, msg, len);

	if (n >= 0 && (size_t)n < sizeof rep)
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
		.unique = p->unique, .nodeid = p->in.nodeid, .opcode = p->in.opcode,
		.uid = p->in.uid, .gid = p->in.gid, .pid = p->in.pid,
		.worker = p->worker, .error = error,
		.flags = p->flags | flags | FP_TRACE_F_BACKEND,
		.t_read = p->t_read, .t_sent = p->t_sent, .t_reply = t_reply,
		.t_written = fp_now_ns(),
		.req = p->req, .req_len = p->in.len,
		.reply = reply, .reply_len = (uint32_t)len,
	};
	fp_trace_exchange(f->s->trace, f->s->nworkers, &x);
}

static void on_reply(struct fwd *f, void *msg, size_t len, int truncated)
{
	struct fuse_out_header *oh = msg;
	struct fp_pending *p;
	char why[256];
	uint64_t t_reply = fp_now_ns();
	int r;

	p = fp_pending_take(&f->pt, oh->unique);
	if (!p) {
		fprintf(stderr, "fuseproxy: backend replied to unique %#llx, which is not "
			"pending (already answered, or never sent); dropped\n",
			(unsigned long long)oh->unique);
		return;
	}
	if (!p->chan) {		/* our own request (DESTROY) */
		fp_pending_release(&f->pt, p);
		return;
	}
	struct fuse_req_view v = { .h = &p->in, .fixed = p->fixed_len ? p->fixed : NULL,
				   .fixed_len = p->fixed_len };
	if (truncated) {
		snprintf(why, sizeof why, "%s reply: larger than the %u-byte maximum",
			 fuse_opname(p->in.opcode), (unsigned)RBUF_SIZE);
		r = -EPROTO;
	} else {
		r = fuse_validate_reply(p->in.opcode, &v, msg, len, &f->s->wp, why, sizeof why);
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
		if (p->reqlen)
			record_reply(f, p, msg, len, -EIO, FP_TRACE_F_INVALID, t_reply);
	} else {
		if (oh->error)
			atomic_fetch_add_explicit(&f->s->nerr, 1, memory_order_relaxed);
		r = fp_chan_send(p->chan, msg, len);
		if (f->o.debug)
			log_reply(f, p, msg, len);
		if (p->reqlen)
			record_reply(f, p, msg, len, oh->error, 0, t_reply);
	}
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "fuseproxy: kernel refused the reply to %s #%llu: %s\n",
			fuse_opname(p->in.opcode), (unsigned long long)p->unique,
			strerror(-r));
	fp_pending_release(&f->pt, p);
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
	struct fuse_out_header eh = { sizeof eh, -EIO, unique };
	struct fp_pending *p = fp_pending_take(&f->pt, unique);

	if (!p)
		return;
	fprintf(stderr, "fuseproxy: backend sent a malformed reply to %s #%llu: spliced "
		"reply %s; answering EIO\n", fuse_opname(p->in.opcode),
		(unsigned long long)unique, why);
	atomic_fetch_add_explicit(&f->s->nerr, 1, memory_order_relaxed);
	if (p->chan)
		fp_chan_send(p->chan, &eh, sizeof eh);
	fp_pending_release(&f->pt, p);
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

static void *reader_main(void *arg)
{
	struct fwd *f = arg;
	struct pollfd pfd = { .fd = f->d.sock, .events = POLLIN };
	uint64_t tmo = (uint64_t)(f->o.timeout * 1e9);
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	while (!atomic_load(&f->stopping)) {
		int pr = poll(&pfd, 1, tmo || f->join.open ? 200 : -1);
		if (f->join.open && fp_now_ns() - f->join.t_open > JOIN_TIMEOUT_NS) {
			join_fail(f, f->join.unique, "cut short: the rest never came");
			f->join.open = 0;
		}
		if (pr < 0 && errno != EINTR) {
			give_up(f, "poll: %s", strerror(errno));
			break;
		}
		if (tmo) {
			uint64_t oldest = fp_pending_oldest(&f->pt);
			if (oldest && fp_now_ns() - oldest > tmo) {
				give_up(f, "stopped answering: a request has waited more "
					"than --backend-timeout %.1f s", f->o.timeout);
				break;
			}
		}
		if (pr <= 0)
			continue;
		ssize_t n = fp_daemon_recv(&f->d, f->rbuf, RBUF_SIZE);
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
			give_up(f, "closed its connection%s%s", st[0] ? ", " : "", st);
			break;
		}
		if (n < 0) {
			if (n == -EINTR || n == -EAGAIN)
				continue;
			give_up(f, "receive: %s", strerror((int)-n));
			break;
		}
		if ((size_t)n < sizeof(struct fuse_out_header)) {
			fprintf(stderr, "fuseproxy: backend sent a %zd-byte message, shorter "
				"than fuse_out_header; dropped\n", n);
			continue;
		}
		struct fuse_out_header *oh = f->rbuf;
		if (!truncated && (oh->len != (uint32_t)n || f->join.open) &&
		    join_piece(f, f->rbuf, (size_t)n))
			continue;
		if (!truncated && oh->len != (uint32_t)n) {
			/* answer the request (if it is one of ours) rather than
			 * forward bytes whose framing we cannot trust */
			if (oh->unique && !(oh->unique & FUSE_INT_REQ_BIT)) {
				on_reply(f, f->rbuf, (size_t)n, 0);
				continue;
			}
			fprintf(stderr, "fuseproxy: backend message header says %u bytes but "
				"%zd arrived; dropped\n", oh->len, n);
			continue;
		}
		if (oh->unique == 0)
			on_notify(f, f->rbuf, (size_t)n);
		else if (oh->unique & FUSE_INT_REQ_BIT)
			on_interrupt_reply(f, f->rbuf, (size_t)n);
		else
			on_reply(f, f->rbuf, (size_t)n, truncated);
	}
	return NULL;
}

/* ---- INIT mediation ---------------------------------------------------- */

/* Wait for one message of the backend with a deadline (before the reader
 * thread exists). */
static ssize_t recv_timed(struct fwd *f, void *buf, size_t cap, int ms)
{
	struct pollfd pfd = { .fd = f->d.sock, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	return fp_daemon_recv(&f->d, buf, cap);
}

static int fwd_init(struct fp_fs *fs, const struct fuse_init_in *in,
		    struct fuse_init_out *out)
{
	struct fwd *f = FWD(fs);
	struct { struct fuse_in_header h; struct fuse_init_in i; } m;
	struct fuse_out_header *oh = f->rbuf;
	uint64_t offered, got, stripped;
	char why[256], fb[1024];
	ssize_t n;
	int r;

	memset(&m, 0, sizeof m);
	m.h.len = sizeof m;
	m.h.opcode = FUSE_INIT;
	m.h.unique = FWD_OWN_UNIQUE;
	m.i = *in;
	offered = in->flags;
	if (in->flags & FUSE_INIT_EXT)
		offered |= (uint64_t)in->flags2 << 32;
	offered &= ~(uint64_t)FWD_STRIP;
	m.i.flags = (uint32_t)offered;
	m.i.flags2 = (uint32_t)(offered >> 32);

	r = fp_daemon_send(&f->d, &m, sizeof m);
	if (r < 0) {
		give_up(f, "cannot send INIT: %s", strerror(-r));
		return -EIO;
	}
	for (;;) {
		n = recv_timed(f, f->rbuf, RBUF_SIZE, 30000);
		if (n <= 0) {
			give_up(f, "no INIT reply: %s", n == 0 ? "it closed its connection" :
				strerror((int)-n));
			return -EIO;
		}
		if ((size_t)n >= sizeof *oh && oh->unique == 0) {
			on_notify(f, f->rbuf, (size_t)n);	/* early notification */
			continue;
		}
		break;
	}
	struct fuse_req_view v = { .h = &m.h, .fixed = &m.i, .fixed_len = sizeof m.i };
	struct fuse_wire_params wp = { 0, 0 };
	if (fuse_validate_reply(FUSE_INIT, &v, f->rbuf, (size_t)n, &wp, why, sizeof why) < 0) {
		give_up(f, "malformed INIT reply: %s", why);
		return -EIO;
	}
	if (oh->error) {
		give_up(f, "refused INIT: %s", strerror(-oh->error));
		return -EIO;
	}
	memset(&f->binit, 0, sizeof f->binit);
	memcpy(&f->binit, (char *)f->rbuf + sizeof *oh, (size_t)n - sizeof *oh);
	if (f->binit.major != FUSE_KERNEL_VERSION) {
		give_up(f, "speaks FUSE major %u, not %u", f->binit.major, FUSE_KERNEL_VERSION);
		return -EPROTO;
	}

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

	r = pthread_create(&f->reader, NULL, reader_main, f);
	if (r) {
		give_up(f, "cannot start the reader thread: %s", strerror(r));
		return -EIO;
	}
	f->reader_started = 1;
	return 0;
}

struct collect { struct fp_inflight *out; int max, n; };

static void collect_one(struct fp_pending *p, void *arg)
{
	struct collect *c = arg;
	if (c->n < c->max && p->chan)
		c->out[c->n++] = (struct fp_inflight){ p->unique, p->in.nodeid, p->t_read,
						       p->in.opcode, p->in.pid, FP_AT_BACKEND };
}

static int fwd_inflight(struct fp_fs *fs, struct fp_inflight *out, int max)
{
	struct collect c = { out, max, 0 };
	fp_pending_foreach(&FWD(fs)->pt, collect_one, &c);
	return c.n;
}

/* ---- lifecycle --------------------------------------------------------- */

struct fp_fs *fwd_create(const struct fwd_options *o, struct fp_session *s,
			 char *errbuf, size_t errlen)
{
	struct fwd *f = calloc(1, sizeof *f);
	int r;

	if (!f || fp_pending_init(&f->pt) < 0 || !(f->rbuf = aligned_alloc(4096, RBUF_SIZE))) {
		snprintf(errbuf, errlen, "out of memory");
		if (f) {
			fp_pending_fini(&f->pt);
			free(f);
		}
		return NULL;
	}
	f->fs.ops = &fwd_ops;
	f->s = s;
	f->o = *o;
	atomic_store(&f->own_unique, FWD_OWN_UNIQUE + 2);
	r = fp_daemon_start(&f->d, o->cmd, o->log_fd, errbuf, errlen);
	if (r < 0) {
		fp_pending_fini(&f->pt);
		free(f->rbuf);
		free(f);
		return NULL;
	}
	if (o->verbose)
		fprintf(stderr, "fuseproxy: started backend '%s' (pid %d)\n", o->cmd,
			(int)f->d.pid);
	if (s->trace)
		fp_trace_event(s->trace, FP_EV_BACKEND_START, "backend '%s' started, pid %d",
			       o->cmd, (int)f->d.pid);
	return &f->fs;
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

	if (f->d.sock < 0)
		return f->d.status;
	/* A `fuse` mount never gets DESTROY from the kernel; the backend
	 * deserves one to flush before it is told to exit. */
	if (!atomic_load(&f->dead) && f->reader_started) {
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
	/* Ask the backend to exit (libfuse daemons leave their loop cleanly on
	 * SIGTERM) before closing the socket, which they would report as a
	 * short read and exit 1.  A daemon that forked away from the pid we
	 * started sees the socket close instead. */
	atomic_store(&f->stopping, 1);
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
	fp_pending_fini(&f->pt);
	free(f->join.buf);
	free(f->rbuf);
	free(f);
}

static const struct fp_fs_ops fwd_ops = {
	.name = "forward",
	.flags = FP_FS_RAW,
	.init = fwd_init,
	.handle = fwd_handle,
	.inflight = fwd_inflight,
	.destroy = fwd_destroy,
};
