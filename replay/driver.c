/* \summary: the replay driver: read the trace in time order, rewrite each
 * request with the target's ids, send it when its turn comes, match the
 * target's replies to requests, compare, and keep the report.
 *
 * One thread does all of it; the target does its own concurrency.  A
 * request is sent once
 *   - its pacing time has come (--speed F), and
 *   - the ordering rule of --concurrency lets it go:
 *       serial    nothing else is in flight (except requests that waited on
 *                 others in the recording: SETLKW, interrupted or pending);
 *       recorded  every request that had finished in the recording before
 *                 this one was read has finished here too;
 *       N         fewer than N in flight and none of them names one of its
 *                 node ids or file handles;
 *   - every id it names is mapped.  An id that is not mapped while a
 *     request that may create it is in flight makes it wait; otherwise it
 *     is skipped with the reason (the request that should have created the
 *     id diverged, or the trace never showed it).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "replay_i.h"
#include "compare.h"
#include "dirstream.h"
#include "target.h"
#include "reader.h"
#include "trace.h"
#include "opcodes.h"
#include "format.h"
#include "validate.h"

#define RBUF_SIZE ((2u << 20) + 65536)
#define CLEANUP_UNIQUE (1ull << 62)     /* our own FORGET/RELEASE: replies ignored */
#define DEFAULT_WINDOW_RECORDED 4096
#define NS 1000000000ull
#define ALIGN8(x) (((size_t)(x) + 7) & ~(size_t)7)

struct rp_ex {
	struct rp_ex *prev, *next;       /* in-flight or deferred list */
	uint64_t seq;
	struct fp_trace_exchange x;      /* req/reply point into buf */
	struct fuse_req_view v;          /* the recorded request, parsed */
	const struct fuse_op *op;
	uint8_t *sent;
	uint32_t sent_len;
	uint64_t new_unique;
	uint64_t t_sent, deadline;
	uint64_t node, node2, fh, fh2;   /* recorded ids it names (fh as map keys), 0 = none */
	uint64_t out_node, out_fh;       /* recorded ids its reply hands out (fh as key) */
	struct ds_pos dpos;
	bool quiet;                      /* --pending prefix: counted, not reported */
	bool rec_pending;                /* no recorded reply to compare with */
	bool noreply;                    /* the op takes no reply */
	bool blocker;                    /* waited on other requests when recorded */
	bool creator;                    /* may hand out ids */
	bool name_op;                    /* in_header.nodeid is the parent */
	char skip[320];                  /* non-empty: skip it, for this reason */
	char comm[16];
	uint64_t buf[];                  /* recorded request, reply, rewritten request */
};

#define RECENT 256

struct recent {
	uint64_t unique, t_written;
};

struct run {
	const struct rp_opts *o;
	struct rp_opts o_none;           /* the same with --compare none (ignored ops) */
	struct rp_report rep;
	struct fp_reader *rd;
	const struct fp_trace_session *ses;
	struct rp_target *t;
	struct fp_trace *rec;
	struct fuse_wire_params wp_rec, wp_new;
	struct rp_ids ids;
	struct rp_map inflight;          /* new unique -> ex */
	struct rp_map rec_uniq;          /* recorded unique -> ex in flight */
	struct rp_map deferred_uniq;     /* recorded unique -> deferred ex (--pending) */
	struct rp_ex *ifl_head, *ifl_tail;
	size_t ninflight, ncreators;
	struct rp_ex *def_head, *def_tail;
	struct rp_ex *head;              /* next to dispatch */
	struct rp_ex *ahead;             /* read ahead (peek_next) */
	bool eof, reader_done, injecting;
	uint64_t seq, next_unique, cleanup_unique;
	uint64_t t_first_rec, t_start;
	size_t window;
	bool sync_target;                /* in-process, served inside send() */
	bool hung;                       /* abandoned: do not wait for it at the end */
	void *rbuf;
	struct rp_ex *cur;               /* exchange whose reply is being processed */
	uint8_t last_sent[4096];         /* for a crash with nothing in flight: the */
	uint32_t last_sent_len;          /* last request sent (recorded bytes) */
	uint64_t last_sent_seq;
	uint32_t last_sent_op;
	int fatal;                       /* RP_EXIT_* once the run must stop */
	struct recent recent[RECENT];
	unsigned nrecent;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* ---- watchdog for the in-process target ------------------------------------
 * A synchronous in-process passthrough runs the request on our own thread;
 * if that never returns, nothing else would notice.  The watchdog names the
 * request and ends the process with exit 3 (the report files are not
 * written in that case: the state they describe is stuck mid-request). */
static _Atomic uint64_t wd_deadline;
static const struct fuse_req_view *_Atomic wd_view;	/* stable while the send runs */
static pthread_t wd_thread;
static bool wd_started;

static void *watchdog_main(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(200000);
		uint64_t d = atomic_load(&wd_deadline);
		const struct fuse_req_view *v = atomic_load(&wd_view);
		if (d && v && now_ns() > d) {
			char txt[600], msg[800];
			fuse_format_request(txt, sizeof txt, v);
			int n = snprintf(msg, sizeof msg, "fusereplay: the in-process target hung "
					 "serving %s; exiting (exit 3)\n", txt);
			if (n > 0 && write(2, msg, (size_t)n) < 0)
				_exit(RP_EXIT_TARGET);
			_exit(RP_EXIT_TARGET);
		}
	}
	return NULL;
}

/* ---- small helpers -------------------------------------------------------- */

static uint32_t fixed_off(const struct rp_ex *ex)
{
	return (uint32_t)((const uint8_t *)ex->v.fixed - (const uint8_t *)ex->x.req);
}

static void put_u64(uint8_t *msg, uint32_t off, uint64_t v)
{
	memcpy(msg + off, &v, sizeof v);
}

static char *fmt_request(const struct rp_ex *ex)
{
	char buf[600];
	fuse_format_request(buf, sizeof buf, &ex->v);
	return strdup(buf);
}

static char *fmt_reply(const struct rp_ex *ex, const void *msg, size_t len)
{
	char buf[600];
	if (!msg || len < sizeof(struct fuse_out_header))
		return NULL;
	fuse_format_reply(buf, sizeof buf, ex->x.opcode, &ex->v, msg, len);
	return strdup(buf);
}

/* The path of what a request works on, when known. */
static char *ex_path(struct run *R, const struct rp_ex *ex)
{
	struct rp_node *n;

	if (ex->name_op && ex->v.name)
		return ids_child_path(&R->ids, ex->x.nodeid, ex->v.name);
	if (ex->node && (n = ids_node(&R->ids, ex->node)) && n->path)
		return strdup(n->path);
	if (ex->fh) {
		struct rp_fh *f = map_get(&R->ids.fhs, ex->fh);
		if (f && (n = ids_node(&R->ids, f->node)) && n->path)
			return strdup(n->path);
	}
	return NULL;
}

static void set_end(struct run *R, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_end(struct run *R, int code, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (R->fatal)
		return;
	R->fatal = code;
	R->rep.end = code;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(R->rep.end_reason);
	R->rep.end_reason = s;
}

/* ---- recording the replay (-w) -------------------------------------------- */

static void record_exchange(struct run *R, const struct rp_ex *ex, const void *reply,
			    size_t rlen, uint64_t t_done, uint32_t flags)
{
	const struct fuse_in_header *h = (const void *)ex->sent;
	struct fp_trace_exchange x;

	if (!R->rec)
		return;
	memset(&x, 0, sizeof x);
	x.unique = h->unique;
	x.nodeid = h->nodeid;
	x.opcode = h->opcode;
	x.uid = h->uid;
	x.gid = h->gid;
	x.pid = h->pid;
	x.worker = 0;
	x.t_read = ex->t_sent;
	x.t_sent = ex->t_sent;
	x.t_reply = t_done;
	x.t_written = t_done;
	x.flags = flags | (R->t->in_process ? 0 : FP_TRACE_F_BACKEND);
	x.req = ex->sent;
	x.req_len = ex->sent_len;
	if (reply) {
		x.reply = reply;
		x.reply_len = (uint32_t)rlen;
		x.error = ((const struct fuse_out_header *)reply)->error;
	}
	x.comm = ex->comm[0] ? ex->comm : "?";
	if (flags & FP_TRACE_F_PENDING)
		fp_trace_pending(R->rec, &x);
	else
		fp_trace_exchange(R->rec, 0, &x);
}

/* ---- reading the trace ------------------------------------------------------ */

static int trace_error(struct run *R, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int trace_error(struct run *R, const char *fmt, ...)
{
	va_list ap;
	char buf[700];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	set_end(R, RP_EXIT_BADTRACE, "%s: %s", R->o->trace, buf);
	return -1;
}

/* Copy one exchange out of the reader and check it as far as a replay
 * relies on it.  Returns 1 (R->head set), 0 at the end, -1 on a bad trace. */
static int read_one(struct run *R)
{
	struct fp_trace_rec rec;
	char err[FP_TRACE_ERRBUF_SIZE], why[256];
	int r;

	for (;;) {
		r = fp_reader_next(R->rd, &rec, err, sizeof err);
		if (r < 0) {
			set_end(R, RP_EXIT_BADTRACE, "%s", err);	/* names the file */
			return -1;
		}
		if (r == 0)
			return 0;
		if (rec.kind == FP_REC_NOTIFY) {
			if (rec.n.dir >= FP_DIR_BACKEND_TO_PROXY && rec.n.code < 32)
				R->rep.rec_notify[rec.n.code]++;
			continue;
		}
		if (rec.kind != FP_REC_EXCHANGE)
			continue;
		R->rep.exchanges++;
		if (rec.x.opcode == FUSE_INIT)
			continue;	/* the session's INIT was sent already */
		break;
	}

	const struct fp_trace_exchange *x = &rec.x;
	uint64_t seq = ++R->seq;
	/* request, reply and the rewritten request, each 8-byte aligned so the
	 * wire headers can be read in place */
	size_t rq = ALIGN8(x->req_caplen), rp = ALIGN8(x->reply_caplen);
	struct rp_ex *ex = calloc(1, sizeof(struct rp_ex) + 2 * rq + rp + 16);
	uint8_t *buf;
	struct fuse_in_header h;

	if (!ex)
		return trace_error(R, "out of memory");
	buf = (uint8_t *)ex->buf;
	ex->seq = seq;
	ex->x = *x;
	ex->x.req = buf;
	ex->x.reply = x->reply_caplen ? buf + rq : NULL;
	ex->sent = buf + rq + rp;
	if (x->req_caplen)
		memcpy(buf, x->req, x->req_caplen);
	if (x->reply_caplen)
		memcpy(buf + rq, x->reply, x->reply_caplen);
	if (x->comm)
		snprintf(ex->comm, sizeof ex->comm, "%s", x->comm);
	ex->x.comm = NULL;
	R->head = ex;

	if (x->req_caplen < sizeof h)
		return trace_error(R, "exchange %llu (unique %llu): the request has %u bytes, less "
				   "than a fuse_in_header", (unsigned long long)seq,
				   (unsigned long long)x->unique, x->req_caplen);
	memcpy(&h, ex->x.req, sizeof h);
	if (h.len != x->req_len || h.opcode != x->opcode || h.unique != x->unique)
		return trace_error(R, "exchange %llu (unique %llu): the request header (len %u, "
				   "opcode %u, unique %llu) disagrees with its record (len %u, "
				   "opcode %u)", (unsigned long long)seq,
				   (unsigned long long)x->unique, h.len, h.opcode,
				   (unsigned long long)h.unique, x->req_len, x->opcode);
	ex->op = fuse_op_get(x->opcode);
	if (!ex->op) {
		snprintf(ex->skip, sizeof ex->skip, "unknown opcode %u", x->opcode);
		ex->v.h = (const struct fuse_in_header *)ex->x.req;
		return 1;
	}
	if (x->req_caplen < x->req_len) {
		fuse_validate_request(ex->x.req, x->req_caplen, &R->wp_rec, &ex->v, NULL, 0);
		if (!ex->v.h)
			ex->v.h = (const struct fuse_in_header *)ex->x.req;
		snprintf(ex->skip, sizeof ex->skip, "the trace kept only %u of the request's %u "
			 "bytes (snaplen)", x->req_caplen, x->req_len);
		return 1;
	}
	if (fuse_validate_request(ex->x.req, x->req_len, &R->wp_rec, &ex->v, why, sizeof why) < 0) {
		if (!ex->v.h)
			ex->v.h = (const struct fuse_in_header *)ex->x.req;
		if (x->flags & FP_TRACE_F_INVALID) {
			snprintf(ex->skip, sizeof ex->skip, "the recording proxy rejected it as "
				 "malformed: %s", why);
			return 1;
		}
		return trace_error(R, "exchange %llu: malformed %s request (unique %llu): %s",
				   (unsigned long long)seq, fuse_opname(x->opcode),
				   (unsigned long long)x->unique, why);
	}
	if (ex->x.reply) {
		struct fuse_out_header oh;
		if (x->reply_caplen < sizeof oh)
			return trace_error(R, "exchange %llu: %s reply of %u bytes, less than a "
					   "fuse_out_header", (unsigned long long)seq,
					   fuse_opname(x->opcode), x->reply_caplen);
		memcpy(&oh, ex->x.reply, sizeof oh);
		if (oh.len != x->reply_len || oh.unique != x->unique)
			return trace_error(R, "exchange %llu: the %s reply header (len %u, unique "
					   "%llu) disagrees with its record (len %u, unique %llu)",
					   (unsigned long long)seq, fuse_opname(x->opcode), oh.len,
					   (unsigned long long)oh.unique, x->reply_len,
					   (unsigned long long)x->unique);
		if (x->reply_caplen == x->reply_len &&
		    fuse_validate_reply(x->opcode, &ex->v, ex->x.reply, x->reply_len, &R->wp_rec,
					why, sizeof why) < 0)
			return trace_error(R, "exchange %llu: malformed recorded %s reply (unique "
					   "%llu): %s", (unsigned long long)seq,
					   fuse_opname(x->opcode), (unsigned long long)x->unique, why);
	}

	const struct fuse_op *op = ex->op;
	ex->noreply = (op->flags & FOP_NOREPLY) || x->opcode == FUSE_INTERRUPT;
	ex->rec_pending = !ex->x.reply && !ex->noreply;
	ex->creator = (op->flags & (FOP_NEW_NODE | FOP_NEW_FH)) || x->opcode == FUSE_READDIRPLUS;
	ex->blocker = x->opcode == FUSE_SETLKW || (x->flags & FP_TRACE_F_INTERRUPTED) ||
		      ex->rec_pending;
	ex->name_op = op->nnames > 0;
	/* FOP_NODE0 ops (OPEN, READ, ... for CUSE) may carry 0; any other
	 * value is a node id like everyone's */
	if (x->opcode != FUSE_INTERRUPT && h.nodeid)
		ex->node = h.nodeid;
	uint64_t id;
	if (ex->x.reply && !x->error && x->reply_caplen > sizeof(struct fuse_out_header)) {
		const uint8_t *p = (const uint8_t *)ex->x.reply + sizeof(struct fuse_out_header);
		uint32_t pl = x->reply_caplen - (uint32_t)sizeof(struct fuse_out_header);
		if ((op->flags & FOP_NEW_NODE) && fuse_reply_new_node(x->opcode, p, pl, &id))
			ex->out_node = id;
		if ((op->flags & FOP_NEW_FH) && fuse_reply_new_fh(x->opcode, p, pl, &id))
			ex->out_fh = map_key(id);
	}
	if (fuse_req_node2(&ex->v, &id))
		ex->node2 = id;
	if (fuse_req_fh(&ex->v, &id))
		ex->fh = map_key(id);
	if (fuse_req_fh2(&ex->v, &id))
		ex->fh2 = map_key(id);
	return 1;
}

/* The next exchange into R->head (the one read ahead, if any). */
static int read_next(struct run *R)
{
	int r;

	if (R->ahead) {
		R->head = R->ahead;
		R->ahead = NULL;
		return 1;
	}
	if (R->reader_done)
		return 0;
	r = read_one(R);
	if (r == 0)
		R->reader_done = true;
	return r;
}

/* The exchange after R->head, read but not consumed; NULL at the end. */
static struct rp_ex *peek_next(struct run *R)
{
	struct rp_ex *cur = R->head;
	int r;

	if (R->ahead || R->reader_done || R->fatal)
		return R->ahead;
	r = read_one(R);
	if (r > 0)
		R->ahead = R->head;
	else if (r < 0 && R->head != cur)
		free(R->head);	/* the run ends with the trace error */
	if (r == 0)
		R->reader_done = true;
	R->head = cur;
	return R->ahead;
}

/* ---- target I/O -------------------------------------------------------------- */

static void inflight_add(struct run *R, struct rp_ex *ex)
{
	ex->prev = R->ifl_tail;
	ex->next = NULL;
	if (R->ifl_tail)
		R->ifl_tail->next = ex;
	else
		R->ifl_head = ex;
	R->ifl_tail = ex;
	R->ninflight++;
	if (ex->creator)
		R->ncreators++;
	map_put(&R->inflight, ex->new_unique, ex);
	map_put(&R->rec_uniq, map_key(ex->x.unique), ex);
}

static void inflight_del(struct run *R, struct rp_ex *ex)
{
	if (ex->prev)
		ex->prev->next = ex->next;
	else
		R->ifl_head = ex->next;
	if (ex->next)
		ex->next->prev = ex->prev;
	else
		R->ifl_tail = ex->prev;
	R->ninflight--;
	if (ex->creator)
		R->ncreators--;
	map_del(&R->inflight, ex->new_unique);
	if (map_get(&R->rec_uniq, map_key(ex->x.unique)) == ex)
		map_del(&R->rec_uniq, map_key(ex->x.unique));
}

static int cmp_seq(const void *a, const void *b)
{
	const struct rp_item *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The target crashed or hung: name what was in flight, stop. */
static void target_failed(struct run *R, bool hung, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void target_failed(struct run *R, bool hung, const char *fmt, ...)
{
	char what[300];
	va_list ap;
	uint64_t now = now_ns();

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	for (struct rp_ex *ex = R->ifl_head; ex; ex = ex->next) {
		struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique,
				      .opcode = ex->x.opcode };
		it.request = fmt_request(ex);
		it.path = ex_path(R, ex);
		it.late = now > ex->deadline;
		if (ex->rec_pending)
			it.reason = strdup("it had no reply in the recording either");
		rep_add(&R->rep.inflight, &it);
		if (hung && it.late)
			rep_count(&R->rep, ex->x.opcode, RP_O_TIMEOUT, ex->quiet);
		record_exchange(R, ex, NULL, 0, 0, FP_TRACE_F_PENDING);
	}
	if (R->rep.inflight.n > 1)
		qsort(R->rep.inflight.v, R->rep.inflight.n, sizeof *R->rep.inflight.v, cmp_seq);
	if (!R->ninflight && R->last_sent_seq) {
		struct rp_item it = { .seq = R->last_sent_seq, .opcode = R->last_sent_op };
		struct fuse_req_view v = { 0 };
		char txt[600];
		fuse_validate_request(R->last_sent, R->last_sent_len, &R->wp_rec, &v, NULL, 0);
		if (!v.h)
			v.h = (const struct fuse_in_header *)R->last_sent;
		fuse_format_request(txt, sizeof txt, &v);
		it.request = strdup(txt);
		it.reason = strdup("nothing was in flight; this was the last request sent "
				   "(it takes no reply)");
		rep_add(&R->rep.inflight, &it);
	}
	if (R->ninflight) {
		const struct rp_item *f = &R->rep.inflight.v[0];
		set_end(R, RP_EXIT_TARGET, "%s while serving [%llu] %s%s%s%s", what,
			(unsigned long long)f->seq, f->request ? f->request : "?",
			f->path ? " (" : "", f->path ? f->path : "", f->path ? ")" : "");
	} else {
		set_end(R, RP_EXIT_TARGET, "%s", what);
	}
	if (hung) {
		R->hung = true;
		R->t->ops->abort(R->t);
	}
}

static void died(struct run *R, const char *when)
{
	char how[160] = "";

	R->t->ops->death(R->t, how, sizeof how);
	target_failed(R, false, "crashed%s%s%s", how[0] ? " (" : "", how, how[0] ? ")" : "");
	(void)when;
}

static int send_msg(struct run *R, struct rp_ex *ex, const void *msg, size_t len,
		    unsigned flags)
{
	int r;

	if (R->sync_target) {
		atomic_store(&wd_view, &ex->v);
		atomic_store(&wd_deadline, now_ns() + (uint64_t)(R->o->timeout * NS) + 5 * NS);
	}
	r = rp_target_send_flags(R->t, msg, len, flags);
	if (R->sync_target) {
		atomic_store(&wd_deadline, 0);
		atomic_store(&wd_view, NULL);
	}
	if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN)
		return 0;	/* gone: the caller reports */
	if (r < 0) {
		set_end(R, RP_EXIT_TARGET, "cannot send %s to the target: %s",
			fuse_opname(ex->x.opcode), strerror(-r));
		return -1;
	}
	R->rep.sent++;
	return 1;
}

/* A FORGET or RELEASE(DIR) of our own, for an id the target handed out that
 * the recording never had: what the kernel would have done.  Replies to
 * these carry CLEANUP_UNIQUE and are dropped. */
static void send_cleanup(struct run *R, uint32_t opcode, uint64_t nodeid, uint64_t fh,
			 uint32_t open_flags)
{
	struct { struct fuse_in_header h; union { struct fuse_forget_in f;
						  struct fuse_release_in r; } a; } m;
	size_t len = sizeof m.h + (opcode == FUSE_FORGET ? sizeof m.a.f : sizeof m.a.r);

	memset(&m, 0, sizeof m);
	m.h.len = (uint32_t)len;
	m.h.opcode = opcode;
	m.h.unique = CLEANUP_UNIQUE + (R->cleanup_unique += 2);
	m.h.nodeid = nodeid;
	if (opcode == FUSE_FORGET) {
		m.a.f.nlookup = 1;
	} else {
		m.a.r.fh = fh;
		m.a.r.flags = open_flags;
	}
	if (rp_target_send(R->t, &m, len) == 0)
		R->rep.cleanup++;
}

/* ---- id rewriting -------------------------------------------------------------- */

static void skip_reason_node(struct run *R, struct rp_node *n, uint64_t rec, const char *role,
			     char *why, size_t len, uint64_t *cause)
{
	(void)R;
	if (n && n->dead) {
		snprintf(why, len, "%s %llu%s%s%s has no counterpart in the target: %s [%llu] did "
			 "not hand it out", role, (unsigned long long)rec,
			 n->path ? " (" : "", n->path ? n->path : "", n->path ? ")" : "",
			 fuse_opname(n->dead_op), (unsigned long long)n->dead);
		*cause = n->dead;
	} else if (n) {
		snprintf(why, len, "%s %llu%s%s%s: the target holds no reference to it", role,
			 (unsigned long long)rec, n->path ? " (" : "", n->path ? n->path : "",
			 n->path ? ")" : "");
	} else {
		snprintf(why, len, "%s %llu was never handed out in this trace (no LOOKUP or "
			 "create of it was recorded)", role, (unsigned long long)rec);
	}
}

static void skip_reason_fh(struct rp_fh *f, uint64_t key, char *why, size_t len,
			   uint64_t *cause)
{
	if (f && f->dead) {
		snprintf(why, len, "fh %#llx has no counterpart in the target: %s [%llu] did not "
			 "hand it out", (unsigned long long)(key - 1), fuse_opname(f->dead_op),
			 (unsigned long long)f->dead);
		*cause = f->dead;
	} else {
		snprintf(why, len, "fh %#llx was never handed out in this trace (no OPEN/CREATE "
			 "of it was recorded)", (unsigned long long)(key - 1));
	}
}

/* Find the target's ids for everything ex names and write them into
 * ex->sent.  No side effects.  Returns 0, or -ENOENT with why/cause. */
static int rewrite(struct run *R, struct rp_ex *ex, char *why, size_t len, uint64_t *cause)
{
	struct fuse_in_header *h = (struct fuse_in_header *)ex->sent;
	const struct fuse_op *op = ex->op;
	uint32_t fo = ex->v.fixed ? fixed_off(ex) : 0;
	struct rp_node *n;
	struct rp_fh *f;

	memcpy(ex->sent, ex->x.req, ex->x.req_len);
	ex->sent_len = ex->x.req_len;
	h->unique = R->next_unique;
	*cause = 0;
	if (ex->node) {
		n = ids_node(&R->ids, ex->node);
		if (!n || !n->id) {
			skip_reason_node(R, n, ex->node, ex->name_op ? "parent node" : "node",
					 why, len, cause);
			return -ENOENT;
		}
		h->nodeid = n->id;
	}
	if (ex->node2) {
		n = ids_node(&R->ids, ex->node2);
		if (!n || !n->id) {
			skip_reason_node(R, n, ex->node2, "node", why, len, cause);
			return -ENOENT;
		}
		put_u64(ex->sent, fo + (uint32_t)op->node2_off, n->id);
	}
	if (ex->fh) {
		f = map_get(&R->ids.fhs, ex->fh);
		if (!f || f->dead) {
			skip_reason_fh(f, ex->fh, why, len, cause);
			return -ENOENT;
		}
		put_u64(ex->sent, fo + (uint32_t)op->fh_off, f->id);
		if (ex->x.opcode == FUSE_READDIR || ex->x.opcode == FUSE_READDIRPLUS) {
			struct fuse_read_in ri;
			uint64_t off;
			memcpy(&ri, ex->v.fixed, sizeof ri);
			if (!f->ds)
				f->ds = ds_new();
			if (!f->ds || ds_map(f->ds, ri.offset, &off, &ex->dpos, why, len) < 0) {
				if (!f->ds)
					snprintf(why, len, "out of memory");
				*cause = f->taint;
				return -ENOENT;
			}
			put_u64(ex->sent, fo + offsetof(struct fuse_read_in, offset), off);
		}
	}
	if (ex->fh2) {
		f = map_get(&R->ids.fhs, ex->fh2);
		if (!f || f->dead) {
			skip_reason_fh(f, ex->fh2, why, len, cause);
			return -ENOENT;
		}
		put_u64(ex->sent, fo + (uint32_t)op->fh2_off, f->id);
	}
	return 0;
}

/* FORGET: the count the target gets is what it granted for this recorded
 * node, not what the recorded daemon had granted.  Commits the counts.
 * Returns the count to send (0 = nothing to send). */
static uint64_t forget_one(struct run *R, uint64_t rec, uint64_t nlookup, uint64_t *target_id)
{
	struct rp_node *n = ids_node(&R->ids, rec);
	uint64_t k, id;

	if (rec == FUSE_ROOT_ID) {
		*target_id = FUSE_ROOT_ID;
		return nlookup;
	}
	if (!n)
		return 0;
	id = n->id;
	*target_id = id;
	n->rec_refs -= (int64_t)nlookup;
	k = n->new_refs > 0 ? ((uint64_t)n->new_refs < nlookup ? (uint64_t)n->new_refs : nlookup) : 0;
	n->new_refs -= (int64_t)k;
	if (n->rec_refs <= 0) {
		/* the recorded kernel let go of it entirely: so do we */
		if (n->new_refs > 0)
			k += (uint64_t)n->new_refs;
		ids_node_del(&R->ids, rec);
	}
	return id ? k : 0;
}

/* ---- replies --------------------------------------------------------------------- */

static void taint(struct run *R, struct rp_ex *ex, uint64_t cause, uint64_t created)
{
	struct rp_node *n;
	struct rp_fh *f;

	if (ex->node && !ex->name_op && (n = ids_node(&R->ids, ex->node)) && n != &R->ids.root &&
	    !n->taint)
		n->taint = cause;
	if (created && (n = ids_node(&R->ids, created)) && !n->taint)
		n->taint = cause;
	if (ex->fh && (f = map_get(&R->ids.fhs, ex->fh)) && !f->taint)
		f->taint = cause;
}

/* The root divergence a new one follows from (its own seq if none). */
static uint64_t cause_of(struct run *R, struct rp_ex *ex)
{
	uint64_t c = 0;
	struct rp_node *n;
	struct rp_fh *f;

	if (ex->node && !ex->name_op && (n = ids_node(&R->ids, ex->node)) && n->taint)
		c = n->taint;
	if (ex->node2 && ex->x.opcode == FUSE_LINK && (n = ids_node(&R->ids, ex->node2)) &&
	    n->taint && (!c || n->taint < c))
		c = n->taint;
	if (ex->fh && (f = map_get(&R->ids.fhs, ex->fh)) && f->taint && (!c || f->taint < c))
		c = f->taint;
	return c && c < ex->seq ? c : ex->seq;
}

static void new_node(struct run *R, struct rp_ex *ex, uint64_t r, uint64_t g, uint64_t parent,
		     const char *name)
{
	struct rp_node *n;

	if (!r) {
		if (g)
			send_cleanup(R, FUSE_FORGET, g, 0, 0);
		return;
	}
	n = ids_node_add(&R->ids, r);
	if (!n)
		return;
	n->rec_refs++;
	if (!n->path && name)
		n->path = ids_child_path(&R->ids, parent, name);
	if (g) {
		n->id = g;
		n->new_refs++;
		n->dead = 0;
	} else if (!n->id) {
		n->dead = ex->seq;
		n->dead_op = ex->x.opcode;
	}
}

static void new_fh(struct run *R, struct rp_ex *ex, bool have_f, uint64_t F, bool have_g,
		   uint64_t G, uint64_t node)
{
	struct fuse_open_in oi = { 0 };

	if (ex->v.fixed && ex->v.fixed_len >= sizeof oi.flags)
		memcpy(&oi.flags, ex->v.fixed, sizeof oi.flags);
	if (!have_f) {
		if (have_g) {
			const struct fuse_in_header *h = (const void *)ex->sent;
			send_cleanup(R, ex->x.opcode == FUSE_OPENDIR ? FUSE_RELEASEDIR : FUSE_RELEASE,
				     h->nodeid, G, oi.flags);
		}
		return;
	}
	struct rp_fh *f = ids_fh(&R->ids, F);
	if (f) {	/* reused without a RELEASE we saw: start over */
		ids_fh_free(ids_fh_take(&R->ids, F));
	}
	f = ids_fh_add(&R->ids, F);
	if (!f)
		return;
	f->node = node;
	f->dir = ex->x.opcode == FUSE_OPENDIR;
	if (have_g) {
		f->id = G;
	} else {
		f->dead = ex->seq;
		f->dead_op = ex->x.opcode;
	}
}

/* READDIRPLUS: a name listed on both sides maps the recorded node to the
 * target's, like a LOOKUP would. */
static bool dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

static void ds_match(void *arg, const char *name, const struct fuse_direntplus *rec,
		     const struct fuse_direntplus *got, struct sbuf *diff)
{
	struct run *R = arg;
	struct rp_ex *ex = R->cur;
	bool plus = ex && ex->x.opcode == FUSE_READDIRPLUS;

	if (!plus || dot_or_dotdot(name))
		return;
	if (rec->entry_out.nodeid && got->entry_out.nodeid) {
		struct rp_node *n = ids_node_add(&R->ids, rec->entry_out.nodeid);
		if (n) {
			n->id = got->entry_out.nodeid;
			n->new_refs++;
			n->dead = 0;
		}
	} else if (got->entry_out.nodeid) {
		send_cleanup(R, FUSE_FORGET, got->entry_out.nodeid, 0, 0);
	}
	if (rec->entry_out.nodeid && got->entry_out.nodeid) {
		char prefix[300];
		snprintf(prefix, sizeof prefix, "\"%s\": ", name);
		rp_compare_entry(ex->quiet ? &R->o_none : R->o, &rec->entry_out, &got->entry_out,
				 prefix, diff);
	}
}

static void ds_got_only(void *arg, const char *name, const struct fuse_direntplus *got)
{
	struct run *R = arg;

	if (got->entry_out.nodeid && !dot_or_dotdot(name))
		send_cleanup(R, FUSE_FORGET, got->entry_out.nodeid, 0, 0);
}

struct plus_refs {
	struct run *R;
	struct rp_ex *ex;
	uint64_t dir;
};

/* Every recorded direntplus with a nodeid was a lookup reference of the
 * recorded kernel (except . and ..). */
static void rec_plus_entry(void *arg, const char *name, size_t namelen,
			   const struct fuse_direntplus *e)
{
	struct plus_refs *p = arg;
	struct rp_node *n;

	(void)namelen;
	if (!e->entry_out.nodeid || dot_or_dotdot(name))
		return;
	n = ids_node_add(&p->R->ids, e->entry_out.nodeid);
	if (!n)
		return;
	n->rec_refs++;
	if (!n->path)
		n->path = ids_child_path(&p->R->ids, p->dir, name);
	if (!n->id && !n->dead) {
		n->dead = p->ex->seq;
		n->dead_op = p->ex->x.opcode;
	}
}

/* Learn the ids a reply pair hands out, and feed directory listings.
 * Appends listing differences to diff; returns false if there were any. */
static bool learn(struct run *R, struct rp_ex *ex, const struct fuse_out_header *got,
		  size_t glen, bool got_ok, const struct rp_opts *o, struct sbuf *diff)
{
	const struct fuse_out_header *rh = ex->x.reply;
	const uint8_t *rp = ex->x.reply ? (const uint8_t *)ex->x.reply + sizeof *rh : NULL;
	const uint8_t *gp = (const uint8_t *)got + sizeof *got;
	uint32_t rl = ex->x.reply ? ex->x.reply_caplen - (uint32_t)sizeof *rh : 0;
	uint32_t gl = (uint32_t)glen - (uint32_t)sizeof *got;
	bool rec_ok = ex->x.reply && !ex->x.error;
	bool got_succ = got_ok && !got->error;
	const struct fuse_op *op = ex->op;
	uint64_t r = 0, g = 0, F = 0, G = 0;
	bool ok = true;

	if (op->flags & FOP_NEW_NODE) {
		if (rec_ok)
			fuse_reply_new_node(ex->x.opcode, rp, rl, &r);
		if (got_succ)
			fuse_reply_new_node(ex->x.opcode, gp, gl, &g);
		new_node(R, ex, r, g, ex->x.nodeid, ex->v.name);
	}
	if (op->flags & FOP_NEW_FH) {
		bool hf = rec_ok && fuse_reply_new_fh(ex->x.opcode, rp, rl, &F);
		bool hg = got_succ && fuse_reply_new_fh(ex->x.opcode, gp, gl, &G);
		new_fh(R, ex, hf, F, hg, G, ex->x.opcode == FUSE_CREATE ||
		       ex->x.opcode == FUSE_TMPFILE ? r : ex->x.nodeid);
	}
	if ((ex->x.opcode == FUSE_READDIR || ex->x.opcode == FUSE_READDIRPLUS) && ex->fh) {
		struct rp_fh *f = map_get(&R->ids.fhs, ex->fh);
		bool plus = ex->x.opcode == FUSE_READDIRPLUS;
		if (f && f->ds && rec_ok && got_succ) {
			struct ds_cb cb = { ds_match, ds_got_only, R };
			R->cur = ex;
			ok = ds_feed(f->ds, o, plus, &ex->dpos, rp, rl,
				     ex->x.reply_caplen < ex->x.reply_len, gp, gl, &cb, diff);
			R->cur = NULL;
		}
		if (plus && rec_ok) {
			struct plus_refs pr = { R, ex, f ? f->node : 0 };
			ds_parse(rp, rl, true, rec_plus_entry, &pr);
		}
		if (plus && !rec_ok && got_succ) {
			/* the target listed entries the recorded kernel never saw */
			struct ds_cb cb = { NULL, ds_got_only, R };
			struct rp_ds *tmp = ds_new();
			struct ds_pos pos = { 0, 0 };
			struct sbuf scratch = { 0 };
			if (tmp) {
				ds_feed(tmp, &R->o_none, true, &pos, NULL, 0, false, gp, gl, &cb,
					&scratch);
				ds_free(tmp, &cb);
			}
			sb_free(&scratch);
		}
	}
	return ok;
}

/* Recently answered requests (recorded unique, recorded t_written), for
 * INTERRUPTs that arrive after their request is done. */
static void recent_add(struct run *R, const struct rp_ex *ex)
{
	R->recent[R->nrecent++ % RECENT] = (struct recent){ ex->x.unique,
		ex->x.t_written ? ex->x.t_written : 1 };
}

static uint64_t recent_done(struct run *R, uint64_t unique)
{
	for (unsigned i = 0; i < RECENT && i < R->nrecent; i++)
		if (R->recent[i].unique == unique)
			return R->recent[i].t_written;
	return 0;
}

static void finish(struct run *R, struct rp_ex *ex, const void *got, size_t glen, uint64_t t_done)
{
	const struct rp_opts *o = R->o;
	bool ignored = R->o->have_ignore && fp_trace_filter_passes(&o->ignore, ex->x.opcode);
	const struct rp_opts *co = ex->quiet || ignored ? &R->o_none : o;
	const struct fuse_out_header *gh = got;
	struct sbuf diff = { 0 };
	char why[256];
	bool got_ok, same = true;
	int outcome;

	record_exchange(R, ex, got, glen, t_done, 0);
	recent_add(R, ex);
	/* validated against what was sent (its unique, the target's ids) */
	struct fuse_req_view sv = ex->v;
	sv.h = (const struct fuse_in_header *)ex->sent;
	got_ok = fuse_validate_reply(ex->x.opcode, &sv, got, glen, &R->wp_new, why,
				     sizeof why) == 0;
	if (!got_ok) {
		R->rep.target_protocol_errors++;
		fprintf(stderr, "fusereplay: the target sent a malformed %s reply: %s\n",
			fuse_opname(ex->x.opcode), why);
	}

	if (ex->rec_pending) {
		learn(R, ex, gh, glen, got_ok, &R->o_none, &diff);
		outcome = RP_O_UNRECORDED;
		if (!ex->quiet) {
			struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique,
					      .opcode = ex->x.opcode };
			it.request = fmt_request(ex);
			it.path = ex_path(R, ex);
			it.replayed = got_ok ? fmt_reply(ex, got, glen) : strdup(why);
			it.reason = strdup(ex->x.flags & FP_TRACE_F_PENDING ?
					   "pending when the recording stopped" :
					   "the trace holds no reply");
			rep_add(&R->rep.answers, &it);
		}
		goto out;
	}
	if (!got_ok) {
		if (co->compare != RP_CMP_NONE) {
			sb_printf(&diff, "the target's reply is malformed: %s\n", why);
			same = false;
		}
	} else {
		struct rp_cmp c = { co, ex->x.opcode, &ex->v, ex->x.flags, ex->x.reply,
				    ex->x.reply_caplen, ex->x.reply_len, got, (uint32_t)glen };
		same = rp_compare_reply(&c, &diff);
	}
	/* learn after comparing: readdir listings add their own differences */
	uint64_t created = 0;
	if (got_ok) {
		if (!learn(R, ex, gh, glen, got_ok, co, &diff))
			same = false;
		if ((ex->op->flags & FOP_NEW_NODE) && ex->x.reply && !ex->x.error)
			fuse_reply_new_node(ex->x.opcode, (const uint8_t *)ex->x.reply +
					    sizeof(struct fuse_out_header),
					    ex->x.reply_caplen - sizeof(struct fuse_out_header),
					    &created);
	} else {
		learn(R, ex, gh, sizeof *gh, false, co, &diff);
	}
	if (ignored)
		outcome = RP_O_IGNORED;
	else
		outcome = same ? RP_O_MATCH : RP_O_DIVERGED;

	if (outcome == RP_O_DIVERGED) {
		uint64_t cause = cause_of(R, ex);
		taint(R, ex, cause, created);
		if (!ex->quiet) {
			struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique,
					      .opcode = ex->x.opcode, .cause = cause };
			if (!R->rep.first_div || ex->seq < R->rep.first_div)
				R->rep.first_div = ex->seq;
			it.request = fmt_request(ex);
			it.path = ex_path(R, ex);
			it.recorded = fmt_reply(ex, ex->x.reply, ex->x.reply_caplen);
			it.replayed = got_ok ? fmt_reply(ex, got, glen) : strdup("(malformed)");
			it.diff = sb_take(&diff);
			rep_add(&R->rep.div, &it);
		}
	}
out:
	rep_count(&R->rep, ex->x.opcode, outcome, ex->quiet);
	sb_free(&diff);
}

/* Handle one message from the target. */
static void on_message(struct run *R, void *msg, size_t len)
{
	struct fuse_out_header *oh = msg;
	struct rp_ex *ex;
	uint64_t t = now_ns();

	if (len < sizeof *oh || oh->len != len) {
		R->rep.target_protocol_errors++;
		fprintf(stderr, "fusereplay: the target sent a %zu-byte message whose header "
			"says %u bytes; dropped\n", len, len >= sizeof *oh ? oh->len : 0);
		return;
	}
	if (oh->unique == 0) {
		char why[256];
		if (fuse_validate_notify(msg, len, why, sizeof why) < 0) {
			R->rep.target_protocol_errors++;
			fprintf(stderr, "fusereplay: the target sent a malformed notification: "
				"%s\n", why);
			return;
		}
		if ((uint32_t)oh->error < 32)
			R->rep.got_notify[oh->error]++;
		if (R->rec)
			fp_trace_notify(R->rec, 0, FP_DIR_BACKEND_TO_PROXY, msg, len, t);
		if (oh->error == FUSE_NOTIFY_RETRIEVE &&
		    len >= sizeof *oh + sizeof(struct fuse_notify_retrieve_out)) {
			/* no page cache here: answer with no data so the
			 * target is not left waiting */
			struct fuse_notify_retrieve_out ro;
			struct { struct fuse_in_header h; struct fuse_notify_retrieve_in i; } m;
			memcpy(&ro, (char *)msg + sizeof *oh, sizeof ro);
			memset(&m, 0, sizeof m);
			m.h.len = sizeof m;
			m.h.opcode = FUSE_NOTIFY_REPLY;
			m.h.unique = ro.notify_unique;
			m.h.nodeid = ro.nodeid;
			m.i.offset = ro.offset;
			rp_target_send(R->t, &m, sizeof m);
		}
		return;
	}
	if (oh->unique & FUSE_INT_REQ_BIT)
		return;		/* EAGAIN/ENOSYS to an INTERRUPT: nothing to compare */
	if (oh->unique >= CLEANUP_UNIQUE)
		return;		/* our own cleanup RELEASE */
	ex = map_get(&R->inflight, oh->unique);
	if (!ex) {
		R->rep.target_protocol_errors++;
		fprintf(stderr, "fusereplay: the target answered unique %llu, which is not in "
			"flight; dropped\n", (unsigned long long)oh->unique);
		return;
	}
	inflight_del(R, ex);
	finish(R, ex, msg, len, t);
	free(ex);
}

/* ---- dispatch ----------------------------------------------------------------------- */

static bool overlapped(const struct rp_ex *i, const struct rp_ex *j)
{
	return i->rec_pending || !i->x.t_written || i->x.t_written > j->x.t_read;
}

static bool shares_id(const struct rp_ex *i, const struct rp_ex *j)
{
	uint64_t a[4] = { i->node, i->node2, i->fh, i->fh2 };
	uint64_t b[4] = { j->node, j->node2, j->fh, j->fh2 };

	for (int x = 0; x < 2; x++)
		for (int y = 0; y < 2; y++)
			if (a[x] && a[x] == b[y])
				return true;
	for (int x = 2; x < 4; x++)
		for (int y = 2; y < 4; y++)
			if (a[x] && a[x] == b[y])
				return true;
	return false;
}

/* Does j need i's reply first: does i hand out an id j names? */
static bool depends(const struct rp_ex *i, const struct rp_ex *j)
{
	if (i->out_node && (i->out_node == j->node || i->out_node == j->node2))
		return true;
	if (i->out_fh && (i->out_fh == j->fh || i->out_fh == j->fh2))
		return true;
	/* a FORGET's count includes the references its node's creators give */
	if (j->x.opcode == FUSE_BATCH_FORGET && i->creator)
		return true;
	if (j->x.opcode == FUSE_FORGET && i->x.opcode == FUSE_READDIRPLUS)
		return true;
	return false;
}

/* Must j wait for something in flight? */
static bool must_wait(struct run *R, const struct rp_ex *j)
{
	if (R->ninflight >= R->window)
		return true;
	for (const struct rp_ex *i = R->ifl_head; i; i = i->next) {
		switch (R->o->concurrency) {
		case RP_CONC_SERIAL:
			if (!(i->blocker && overlapped(i, j)))
				return true;
			break;
		case RP_CONC_RECORDED:
			if (!overlapped(i, j) || depends(i, j))
				return true;
			break;
		default:
			if ((shares_id(i, j) || depends(i, j)) && !(i->blocker && overlapped(i, j)))
				return true;
		}
	}
	return false;
}

static void skip_ex(struct run *R, struct rp_ex *ex, const char *why, uint64_t cause)
{
	if (!ex->quiet) {
		struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique, .opcode = ex->x.opcode,
				      .cause = cause };
		it.request = fmt_request(ex);
		it.path = ex_path(R, ex);
		it.reason = strdup(why);
		rep_add(&R->rep.skip, &it);
	}
	rep_count(&R->rep, ex->x.opcode, RP_O_SKIPPED, ex->quiet);
}

static void note_sent(struct run *R, struct rp_ex *ex)
{
	/* formatted only if it is needed: this runs for every request */
	R->last_sent_len = ex->x.req_len < sizeof R->last_sent ? ex->x.req_len
							       : (uint32_t)sizeof R->last_sent;
	memcpy(R->last_sent, ex->x.req, R->last_sent_len);
	R->last_sent_seq = ex->seq;
	R->last_sent_op = ex->x.opcode;
}

/* BATCH_FORGET: keep the entries the target knows, with its counts. */
static uint32_t rewrite_batch(struct run *R, struct rp_ex *ex)
{
	struct fuse_batch_forget_in bi;
	uint32_t fo = fixed_off(ex), out = 0;
	const uint8_t *e = ex->v.data;

	memcpy(&bi, ex->v.fixed, sizeof bi);
	for (uint32_t i = 0; i < bi.count; i++) {
		struct fuse_forget_one one;
		uint64_t id = 0, k;
		memcpy(&one, e + i * sizeof one, sizeof one);
		k = forget_one(R, one.nodeid, one.nlookup, &id);
		if (!k || !id)
			continue;
		one.nodeid = id;
		one.nlookup = k;
		memcpy(ex->sent + fo + sizeof bi + out * sizeof one, &one, sizeof one);
		out++;
	}
	bi.count = out;
	memcpy(ex->sent + fo, &bi, sizeof bi);
	ex->sent_len = fo + (uint32_t)sizeof bi + out * (uint32_t)sizeof(struct fuse_forget_one);
	((struct fuse_in_header *)ex->sent)->len = ex->sent_len;
	return out;
}

/* Returns 0 when ex was dealt with (sent, skipped, deferred), 1 to wait
 * (*wake = when to look again, 0 = at the next message). */
static int dispatch(struct run *R, struct rp_ex *ex, uint64_t *wake)
{
	const struct rp_opts *o = R->o;
	uint64_t now = now_ns(), cause = 0;
	char why[256];
	int r;

	*wake = 0;
	if (o->pending && !R->injecting) {
		bool defer = ex->rec_pending;
		if (ex->x.opcode == FUSE_INTERRUPT && ex->v.fixed) {
			struct fuse_interrupt_in ii;
			memcpy(&ii, ex->v.fixed, sizeof ii);
			defer = map_get(&R->deferred_uniq, map_key(ii.unique)) != NULL;
		}
		if (defer) {
			ex->prev = R->def_tail;
			ex->next = NULL;
			if (R->def_tail)
				R->def_tail->next = ex;
			else
				R->def_head = ex;
			R->def_tail = ex;
			map_put(&R->deferred_uniq, map_key(ex->x.unique), ex);
			R->head = NULL;
			return 0;
		}
		ex->quiet = true;
	}
	if (ex->skip[0]) {
		skip_ex(R, ex, ex->skip, 0);
		goto done;
	}

	if (ex->x.opcode == FUSE_INTERRUPT) {
		struct fuse_interrupt_in ii;
		struct rp_ex *tgt;
		memcpy(&ii, ex->v.fixed, sizeof ii);
		tgt = map_get(&R->rec_uniq, map_key(ii.unique));
		if (tgt) {
			/* its reply may be waiting already: then there is nothing to
			 * interrupt, whatever the mode */
			ssize_t n;
			while (!R->fatal &&
			       (n = rp_target_recv(R->t, R->rbuf, RBUF_SIZE, 0)) > 0)
				on_message(R, R->rbuf, (size_t)n);
			tgt = map_get(&R->rec_uniq, map_key(ii.unique));
		}
		if (!tgt) {
			uint64_t tw = recent_done(R, ii.unique);
			if (tw && tw <= ex->x.t_read) {
				/* moot in the recording too: its request had been
				 * answered before the INTERRUPT came */
				rep_count(&R->rep, ex->x.opcode, RP_O_MATCH, ex->quiet);
			} else {
				skip_ex(R, ex, tw ? "the request it interrupts was answered "
					"already here; in the recording it was still running" :
					"the request it interrupts was not replayed", 0);
			}
			goto done;
		}
		double f = o->speed > 0 ? o->speed : 1.0;
		uint64_t delay = ex->x.t_read > tgt->x.t_read ?
				 (uint64_t)((double)(ex->x.t_read - tgt->x.t_read) / f) : 0;
		if (delay > NS)
			delay = NS;
		if (!R->injecting && now < tgt->t_sent + delay) {
			*wake = tgt->t_sent + delay;
			return 1;
		}
		memcpy(ex->sent, ex->x.req, ex->x.req_len);
		ex->sent_len = ex->x.req_len;
		((struct fuse_in_header *)ex->sent)->unique = tgt->new_unique | FUSE_INT_REQ_BIT;
		ii.unique = tgt->new_unique;
		memcpy(ex->sent + fixed_off(ex), &ii, sizeof ii);
		ex->t_sent = now;
		r = send_msg(R, ex, ex->sent, ex->sent_len, 0);
		if (r <= 0) {
			if (!r)
				died(R, "interrupt");
			R->head = NULL;
			free(ex);
			return 0;
		}
		note_sent(R, ex);
		record_exchange(R, ex, NULL, 0, now, FP_TRACE_F_NOREPLY);
		rep_count(&R->rep, ex->x.opcode, RP_O_SENT, ex->quiet);
		goto done;
	}

	/* pacing */
	if (o->speed > 0 && !R->injecting) {
		if (!R->t_first_rec) {
			R->t_first_rec = ex->x.t_read;
			R->t_start = now;
		}
		uint64_t due = R->t_start + (uint64_t)((double)(ex->x.t_read - R->t_first_rec) /
						       o->speed);
		if (ex->x.t_read > R->t_first_rec && now < due) {
			*wake = due;
			return 1;
		}
	}
	if (R->injecting ? R->ninflight >= R->window : must_wait(R, ex))
		return 1;

	if (ex->x.opcode == FUSE_FORGET && ex->x.nodeid != FUSE_ROOT_ID) {
		/* counts first: even a node the target never had is let go of */
		struct rp_node *n = ids_node(&R->ids, ex->x.nodeid);
		if (!n || !n->id) {
			if (!n && R->ncreators)
				return 1;
			skip_reason_node(R, n, ex->x.nodeid, "node", why, sizeof why, &cause);
			if (n) {
				uint64_t id;
				struct fuse_forget_in fi;
				memcpy(&fi, ex->v.fixed, sizeof fi);
				forget_one(R, ex->x.nodeid, fi.nlookup, &id);
			}
			skip_ex(R, ex, why, cause);
			goto done;
		}
	}
	R->next_unique += 2;
	if (rewrite(R, ex, why, sizeof why, &cause) < 0) {
		R->next_unique -= 2;
		if (R->ncreators)
			return 1;	/* its id may be on its way */
		skip_ex(R, ex, why, cause);
		goto done;
	}
	ex->new_unique = R->next_unique;

	if (ex->x.opcode == FUSE_FORGET) {
		struct fuse_forget_in fi;
		uint64_t id = 0, k;
		memcpy(&fi, ex->v.fixed, sizeof fi);
		k = forget_one(R, ex->x.nodeid, fi.nlookup, &id);
		if (!k) {
			skip_ex(R, ex, "the target holds no reference to this node (its LOOKUPs "
				"did not succeed)", 0);
			goto done;
		}
		fi.nlookup = k;
		memcpy(ex->sent + fixed_off(ex), &fi, sizeof fi);
		((struct fuse_in_header *)ex->sent)->nodeid = id;
	} else if (ex->x.opcode == FUSE_BATCH_FORGET) {
		if (!rewrite_batch(R, ex)) {
			skip_ex(R, ex, "the target holds no reference to any of its nodes", 0);
			goto done;
		}
	}

	ex->t_sent = now;
	ex->deadline = now + (uint64_t)(o->timeout * NS);
	if (!ex->rec_pending && ex->x.t_written > ex->x.t_read)
		ex->deadline += ex->x.t_written - ex->x.t_read;	/* it was slow then too */
	/* an in-process target with workers may serve a request on our thread
	 * when nothing would run beside it: nothing is in flight, and the next
	 * request came after this one's reply in the recording (so did all
	 * later ones) */
	unsigned flags = 0;
	if (R->t->in_process && !R->sync_target && !R->injecting && !R->ninflight &&
	    !ex->blocker && !ex->noreply) {
		struct rp_ex *nx = peek_next(R);
		if (!nx || nx->x.t_read >= ex->x.t_written)
			flags |= RP_SEND_ALONE;
	}
	if (!ex->noreply)
		inflight_add(R, ex);
	r = send_msg(R, ex, ex->sent, ex->sent_len, flags);
	if (r <= 0) {
		R->head = NULL;
		if (!r) {
			note_sent(R, ex);
			died(R, "send");
		}
		if (ex->noreply)
			free(ex);
		return 0;
	}
	note_sent(R, ex);
	if (ex->x.opcode == FUSE_RELEASE || ex->x.opcode == FUSE_RELEASEDIR) {
		/* the handle is gone on both sides; the recorded value may come back */
		struct rp_fh *f = map_del(&R->ids.fhs, ex->fh);
		if (f) {
			struct ds_cb cb = { NULL, ds_got_only, R };
			ds_free(f->ds, &cb);
			f->ds = NULL;
			ids_fh_free(f);
		}
	}
	if (ex->noreply) {
		record_exchange(R, ex, NULL, 0, now, FP_TRACE_F_NOREPLY);
		rep_count(&R->rep, ex->x.opcode, RP_O_SENT, ex->quiet);
		goto done;
	}
	R->head = NULL;
	return 0;
done:
	R->head = NULL;
	free(ex);
	return 0;
}

/* Earliest in-flight deadline, 0 if none. */
static uint64_t next_deadline(struct run *R)
{
	uint64_t d = 0;
	for (struct rp_ex *ex = R->ifl_head; ex; ex = ex->next)
		if (!d || ex->deadline < d)
			d = ex->deadline;
	return d;
}

static void check_deadlines(struct run *R)
{
	uint64_t now = now_ns();

	for (struct rp_ex *ex = R->ifl_head; ex; ex = ex->next) {
		if (now > ex->deadline) {
			target_failed(R, true, "hung (no reply within %.1f s)",
				      (double)(ex->deadline - ex->t_sent) / NS);
			return;
		}
	}
}

/* Wait for the target (or until wake), handle what arrives. */
static void pump(struct run *R, uint64_t wake)
{
	uint64_t now = now_ns(), until = next_deadline(R);
	int ms;
	ssize_t n;

	if (wake && (!until || wake < until))
		until = wake;
	if (!until)
		ms = R->ninflight || !R->sync_target ? 1000 : 0;
	else
		ms = until > now ? (int)((until - now + 999999) / 1000000) : 0;
	if (ms > 1000)
		ms = 1000;
	n = rp_target_recv(R->t, R->rbuf, RBUF_SIZE, ms);
	if (n > 0) {
		on_message(R, R->rbuf, (size_t)n);
		/* take whatever else is already there without waiting */
		while (!R->fatal && (n = rp_target_recv(R->t, R->rbuf, RBUF_SIZE, 0)) > 0)
			on_message(R, R->rbuf, (size_t)n);
	}
	if (n == 0) {
		died(R, "recv");
		return;
	}
	if (n < 0 && n != -ETIMEDOUT) {
		if (n == -EMSGSIZE) {
			R->rep.target_protocol_errors++;
			fprintf(stderr, "fusereplay: the target sent a message larger than %u "
				"bytes; dropped\n", RBUF_SIZE);
		} else {
			target_failed(R, false, "receive failed: %s", strerror((int)-n));
			return;
		}
	}
	check_deadlines(R);
}

/* ---- INIT ------------------------------------------------------------------------------ */

static int do_init(struct run *R)
{
	const struct fp_trace_session *s = R->ses;
	struct { struct fuse_in_header h; struct fuse_init_in i; } m;
	struct fuse_init_out rec_out, got_out;
	bool have_rec = false;
	uint32_t inlen;
	char why[256];

	memset(&m, 0, sizeof m);
	memset(&rec_out, 0, sizeof rec_out);
	if (s->init_reply && s->init_reply_len >= sizeof(struct fuse_out_header) + 8) {
		const struct fuse_out_header *oh = s->init_reply;
		if (!oh->error) {
			memcpy(&rec_out, (const char *)s->init_reply + sizeof *oh,
			       s->init_reply_len - sizeof *oh < sizeof rec_out ?
			       s->init_reply_len - sizeof *oh : sizeof rec_out);
			have_rec = true;
		}
	}
	if (s->init_req && s->init_req_len >= sizeof m.h + 16) {
		inlen = s->init_req_len < sizeof m ? s->init_req_len : (uint32_t)sizeof m;
		memcpy(&m, s->init_req, inlen);
		if (m.h.opcode != FUSE_INIT)
			return trace_error(R, "the session's INIT request has opcode %u",
					   m.h.opcode);
	} else {
		/* no INIT in the trace (cut by a filter?): offer what was negotiated */
		fprintf(stderr, "fusereplay: warning: the trace holds no INIT request; "
			"offering %s\n", have_rec ? "the recorded negotiation" : "every flag");
		m.i.major = FUSE_KERNEL_VERSION;
		m.i.minor = have_rec ? rec_out.minor : FUSE_KERNEL_MINOR_VERSION;
		m.i.max_readahead = have_rec ? rec_out.max_readahead : 131072;
		m.i.flags = have_rec ? rec_out.flags : 0xffffffffu;
		m.i.flags2 = have_rec ? rec_out.flags2 : 0xffffffffu;
		m.i.flags |= FUSE_INIT_EXT;
	}
	inlen = sizeof m.h + fuse_init_in_size(m.i.minor);
	if (inlen > sizeof m)
		inlen = sizeof m;
	m.h.len = inlen;
	m.h.opcode = FUSE_INIT;
	m.h.unique = R->next_unique += 2;
	m.i.flags &= ~(uint32_t)RP_INIT_STRIP;
	m.i.flags2 &= ~(uint32_t)(RP_INIT_STRIP >> 32);

	R->wp_rec.minor = have_rec ? rec_out.minor : m.i.minor;
	R->wp_rec.flags = have_rec ? rp_init_flags(rec_out.flags, rec_out.flags2)
				   : rp_init_flags(m.i.flags, m.i.flags2);

	struct fuse_req_view v;
	if (fuse_validate_request(&m, inlen, NULL, &v, why, sizeof why) < 0)
		return trace_error(R, "the session's INIT request is malformed: %s", why);
	struct rp_ex probe = { .v = v };
	int r = rp_target_send(R->t, &m, inlen);
	if (r < 0) {
		if (r == -EPIPE || r == -ECONNRESET) {
			died(R, "init");
			return -1;
		}
		set_end(R, RP_EXIT_TARGET, "cannot send INIT: %s", strerror(-r));
		return -1;
	}
	uint64_t deadline = now_ns() + (uint64_t)(R->o->timeout * NS);
	for (;;) {
		uint64_t now = now_ns();
		ssize_t n = now >= deadline ? -ETIMEDOUT
			    : rp_target_recv(R->t, R->rbuf, RBUF_SIZE,
					     (int)((deadline - now) / 1000000) + 1);
		if (n == 0) {
			char how[160] = "";
			R->t->ops->death(R->t, how, sizeof how);
			set_end(R, RP_EXIT_TARGET, "crashed%s%s%s while serving INIT",
				how[0] ? " (" : "", how, how[0] ? ")" : "");
			return -1;
		}
		if (n == -ETIMEDOUT && now_ns() >= deadline) {
			set_end(R, RP_EXIT_TARGET, "hung: no INIT reply within %.1f s",
				R->o->timeout);
			R->hung = true;
			R->t->ops->abort(R->t);
			return -1;
		}
		if (n < 0)
			continue;
		struct fuse_out_header *oh = R->rbuf;
		if ((size_t)n >= sizeof *oh && oh->unique == 0) {
			on_message(R, R->rbuf, (size_t)n);	/* an early notification */
			continue;
		}
		if ((size_t)n < sizeof *oh || oh->unique != m.h.unique) {
			R->rep.target_protocol_errors++;
			continue;
		}
		if (fuse_validate_reply(FUSE_INIT, &probe.v, R->rbuf, (size_t)n, NULL, why,
					sizeof why) < 0) {
			set_end(R, RP_EXIT_TARGET, "sent a malformed INIT reply: %s", why);
			return -1;
		}
		if (oh->error) {
			set_end(R, RP_EXIT_TARGET, "refused INIT: %s", fuse_errno_name(-oh->error));
			return -1;
		}
		memset(&got_out, 0, sizeof got_out);
		memcpy(&got_out, (char *)R->rbuf + sizeof *oh,
		       (size_t)n - sizeof *oh < sizeof got_out ? (size_t)n - sizeof *oh
							       : sizeof got_out);
		if (R->rec) {
			struct rp_ex *ex = calloc(1, sizeof *ex + inlen);
			if (ex) {
				ex->sent = (uint8_t *)ex->buf;
				memcpy(ex->sent, &m, inlen);
				ex->sent_len = inlen;
				ex->t_sent = now_ns();
				record_exchange(R, ex, R->rbuf, (size_t)n, now_ns(), 0);
				free(ex);
			}
		}
		break;
	}
	if (got_out.major != FUSE_KERNEL_VERSION) {
		set_end(R, RP_EXIT_TARGET, "speaks FUSE %u.%u, not 7.x", got_out.major,
			got_out.minor);
		return -1;
	}
	R->wp_new.minor = got_out.minor;
	R->wp_new.flags = rp_init_flags(got_out.flags, got_out.flags2);
	rp_init_compare(&R->rep, &m.i, &rec_out, have_rec, &got_out);
	return 0;
}

/* ---- the run -------------------------------------------------------------------------- */

static int open_recorder(struct run *R)
{
	const struct rp_opts *o = R->o;
	char err[512], backend[600];
	struct fp_trace_opts to = {
		.db_path = o->record, .pcap_path = o->record_pcap, .nworkers = 1,
		.snaplen = FP_TRACE_SNAPLEN_ALL, .drop_policy = FP_TRACE_BLOCK,
		.argc = o->argc, .argv = o->argv, .mountpoint = NULL, .transport = "replay",
	};

	if (!o->record && !o->record_pcap)
		return 0;
	snprintf(backend, sizeof backend, "%s", R->rep.target);
	to.backend = backend;
	if (fp_trace_open(&R->rec, &to, err, sizeof err) < 0) {
		fprintf(stderr, "fusereplay: %s\n", err);
		return -1;
	}
	return 0;
}

static void free_list(struct rp_ex *ex)
{
	while (ex) {
		struct rp_ex *n = ex->next;
		free(ex);
		ex = n;
	}
}

static int parse_json_argv(const char *s, char *out, size_t n)
{
	/* ["a","b"] -> a b (enough for the report header) */
	size_t k = 0;
	bool in = false;

	for (; s && *s && k + 1 < n; s++) {
		if (*s == '"') {
			in = !in;
			if (!in && k + 1 < n)
				out[k++] = ' ';
			continue;
		}
		if (in) {
			if (*s == '\\' && s[1])
				s++;
			out[k++] = *s;
		}
	}
	while (k && out[k - 1] == ' ')
		k--;
	out[k] = 0;
	return 0;
}

static void write_reports(struct run *R)
{
	char err[512];

	rep_text(&R->rep, stdout);
	fflush(stdout);
	if (R->o->json && rep_json(&R->rep, R->o->json, err, sizeof err) < 0)
		fprintf(stderr, "fusereplay: --json: %s\n", err);
	if (R->o->junit && rep_junit(&R->rep, R->o->junit, err, sizeof err) < 0)
		fprintf(stderr, "fusereplay: --junit: %s\n", err);
}

int rp_run(const struct rp_opts *o)
{
	struct run *R = calloc(1, sizeof *R);
	char err[FP_TRACE_ERRBUF_SIZE];
	int code, log_fd = -1;
	uint64_t t0 = 0;

	if (!R) {
		fprintf(stderr, "fusereplay: out of memory\n");
		return RP_EXIT_TARGET;
	}
	R->o = o;
	/* far from the kernel's: a unique that matches the recording by
	 * accident must not hide a mix-up */
	R->next_unique = 1ull << 40;
	R->o_none = *o;
	R->o_none.compare = RP_CMP_NONE;
	rep_init(&R->rep, o);
	ids_init(&R->ids);
	R->window = o->window > 0 ? (size_t)o->window
		    : o->concurrency == RP_CONC_SERIAL ? 1 : DEFAULT_WINDOW_RECORDED;
	if (o->concurrency == RP_CONC_SERIAL)
		R->window = DEFAULT_WINDOW_RECORDED;	/* blockers may overlap */
	signal(SIGPIPE, SIG_IGN);

	R->rbuf = malloc(RBUF_SIZE);
	if (!R->rbuf) {
		set_end(R, RP_EXIT_TARGET, "out of memory");
		goto report;
	}
	if (fp_reader_open(&R->rd, o->trace, o->allow_truncated ? FP_READ_TRUNCATED_OK : 0,
			   err, sizeof err) < 0) {
		set_end(R, RP_EXIT_BADTRACE, "%s", err);
		fprintf(stderr, "fusereplay: %s\n", err);
		goto report;
	}
	R->rep.trace_format = fp_reader_format(R->rd);
	R->ses = fp_reader_session(R->rd);
	if (R->ses->argv) {
		char a[512];
		parse_json_argv(R->ses->argv, a, sizeof a);
		R->rep.session_argv = strdup(a);
	}
	if (R->ses->kernel)
		R->rep.session_kernel = strdup(R->ses->kernel);

	if (o->backend) {
		if (o->backend_log) {
			log_fd = open(o->backend_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (log_fd < 0) {
				fprintf(stderr, "fusereplay: %s: %s\n", o->backend_log, strerror(errno));
				set_end(R, RP_EXIT_BADTRACE, "cannot open --backend-log %s",
					o->backend_log);
				goto report;
			}
		}
		R->t = rp_target_backend(o->backend, log_fd, err, sizeof err);
		if (log_fd >= 0)
			close(log_fd);
	} else {
		R->t = rp_target_passthrough(&o->pt, o->concurrency == RP_CONC_SERIAL ? 0 :
					     o->workers, err, sizeof err);
	}
	if (!R->t) {
		fprintf(stderr, "fusereplay: cannot start the target: %s\n", err);
		set_end(R, RP_EXIT_TARGET, "cannot start: %s", err);
		goto report;
	}
	snprintf(R->rep.target, sizeof R->rep.target, "%s", R->t->desc);
	R->sync_target = R->t->in_process && o->concurrency == RP_CONC_SERIAL;
	if (R->t->in_process && !wd_started &&
	    pthread_create(&wd_thread, NULL, watchdog_main, NULL) == 0) {
		pthread_detach(wd_thread);
		wd_started = true;
	}
	if (open_recorder(R) < 0) {
		set_end(R, RP_EXIT_BADTRACE, "cannot create the -w trace");
		goto report;
	}
	if (do_init(R) < 0)
		goto report;

	t0 = now_ns();
	for (;;) {
		uint64_t wake = 0;

		if (R->fatal)
			break;
		if (!R->head && !R->eof) {
			int r = read_next(R);
			if (r < 0) {
				fprintf(stderr, "fusereplay: %s\n", R->rep.end_reason);
				break;
			}
			if (r == 0)
				R->eof = true;
		}
		if (!R->head && R->eof && o->pending && !R->injecting && !R->ninflight) {
			/* the prefix is in place: re-inject what was left pending */
			R->injecting = true;
			if (!R->def_head)
				fprintf(stderr, "fusereplay: the trace has no pending requests\n");
		}
		if (!R->head && R->injecting && R->def_head) {
			R->head = R->def_head;
			R->def_head = R->head->next;
			if (!R->def_head)
				R->def_tail = NULL;
			R->head->next = R->head->prev = NULL;
			map_del(&R->deferred_uniq, map_key(R->head->x.unique));
		}
		if (R->head) {
			if (dispatch(R, R->head, &wake) == 0)
				continue;
		} else if (R->eof && !R->ninflight && (!o->pending || R->injecting)) {
			break;
		}
		pump(R, wake);
	}
	R->rep.elapsed = (double)(now_ns() - t0) / NS;

report:
	if (!R->fatal && R->t) {
		/* DESTROY lets a daemon flush; the kernel does not send it for
		 * `fuse` mounts, so the trace rarely has one */
		struct fuse_in_header h = { .len = sizeof h, .opcode = FUSE_DESTROY,
					    .unique = CLEANUP_UNIQUE + (R->cleanup_unique += 2) };
		if (rp_target_send(R->t, &h, sizeof h) == 0) {
			for (int i = 0; i < 100; i++) {
				ssize_t n = rp_target_recv(R->t, R->rbuf, RBUF_SIZE, 10);
				if (n <= 0 && n != -ETIMEDOUT)
					break;
				if (n > 0 && ((struct fuse_out_header *)R->rbuf)->unique == h.unique)
					break;
			}
		}
	}
	if (!R->fatal)
		R->rep.end = o->pending ? RP_EXIT_SAME
			     : R->rep.total.n[RP_O_DIVERGED] ? RP_EXIT_DIVERGED : RP_EXIT_SAME;
	code = R->rep.end;
	if (R->rec) {
		struct fp_trace_stats st;
		if (fp_trace_close(R->rec, &st, err, sizeof err) < 0)
			fprintf(stderr, "fusereplay: -w: %s\n", err);
		R->rec = NULL;
	}
	write_reports(R);
	if (R->t && R->hung && R->t->in_process) {
		/* a thread of ours is stuck in the filesystem: leave it to exit() */
	} else if (R->t) {
		char how[160];
		R->t->ops->close(R->t, how, sizeof how);
		if (o->verbose)
			fprintf(stderr, "fusereplay: target %s\n", how);
	}
	free_list(R->ifl_head);
	free_list(R->def_head);
	free(R->head);
	free(R->ahead);
	if (R->rd)
		fp_reader_close(R->rd);
	map_free(&R->inflight);
	map_free(&R->rec_uniq);
	map_free(&R->deferred_uniq);
	ids_fini(&R->ids);
	rep_fini(&R->rep);
	free(R->rbuf);
	free(R);
	return code;
}
