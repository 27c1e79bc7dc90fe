/* \summary: the replay driver: read the trace in time order, rp_rewrite each
 * request with the target's ids, send it when its turn comes, match the
 * target's replies to requests, compare, and keep the report.
 *
 * One thread does all of it; the target does its own concurrency.  A
 * request is sent once
 *   - its pacing time has come (--speed F), and
 *   - the ordering rule of --concurrency lets it go:
 *       serial    nothing else is in flight (except requests that waited on
 *                 others in the recording: SETLKW, interrupted or pending);
 *       recorded  every request whose filesystem work had finished in the
 *                 recording before this one was read has finished here too,
 *                 and so has every one it conflicts with (same node or
 *                 handle, one of them changes state) that finished first;
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
#include "run_i.h"


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
		if (d && v && rp_now() > d) {
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

void rp_set_end(struct run *R, int code, const char *fmt, ...)
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

void rp_inflight_del(struct run *R, struct rp_ex *ex)
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

static void target_failed(struct run *R, bool hung, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void target_failed(struct run *R, bool hung, const char *fmt, ...)
{
	char what[300];
	va_list ap;
	uint64_t now = rp_now();

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	for (struct rp_ex *ex = R->ifl_head; ex; ex = ex->next) {
		struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique,
				      .opcode = ex->x.opcode };
		it.request = rp_fmt_request(ex);
		it.path = rp_ex_path(R, ex);
		it.late = now > ex->deadline;
		if (ex->rec_pending)
			it.reason = strdup("it had no reply in the recording either");
		rep_add(&R->rep.inflight, &it);
		if (hung && it.late)
			rep_count(&R->rep, ex->x.opcode, RP_O_TIMEOUT, ex->quiet);
		rp_record(R, ex, NULL, 0, 0, FP_TRACE_F_PENDING);
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
		rp_set_end(R, RP_EXIT_TARGET, "%s while serving [%llu] %s%s%s%s", what,
			(unsigned long long)f->seq, f->request ? f->request : "?",
			f->path ? " (" : "", f->path ? f->path : "", f->path ? ")" : "");
	} else {
		rp_set_end(R, RP_EXIT_TARGET, "%s", what);
	}
	if (hung) {
		R->hung = true;
		R->t->ops->abort(R->t);
	}
}

/* The target went away (its socket closed, or a send found it gone). */
static void died(struct run *R)
{
	char how[160] = "";

	R->t->ops->death(R->t, how, sizeof how);
	target_failed(R, false, "crashed%s%s%s", how[0] ? " (" : "", how, how[0] ? ")" : "");
}

static int send_msg(struct run *R, struct rp_ex *ex, const void *msg, size_t len,
		    unsigned flags)
{
	int r;

	if (R->sync_target) {
		atomic_store(&wd_view, &ex->v);
		atomic_store(&wd_deadline, rp_now() + (uint64_t)(R->o->timeout * NS) + 5 * NS);
	}
	r = rp_target_send_flags(R->t, msg, len, flags);
	if (R->sync_target) {
		atomic_store(&wd_deadline, 0);
		atomic_store(&wd_view, NULL);
	}
	if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN)
		return 0;	/* gone: the caller reports */
	if (r < 0) {
		rp_set_end(R, RP_EXIT_TARGET, "cannot send %s to the target: %s",
			fuse_opname(ex->x.opcode), strerror(-r));
		return -1;
	}
	R->rep.sent++;
	return 1;
}

/* When the recorded filesystem had finished i: its effects were visible from
 * then on.  t_written (reply written to the kernel) comes later, and a
 * request the kernel sent in between already saw them. */
static uint64_t rec_done(const struct rp_ex *i)
{
	return i->x.t_reply ? i->x.t_reply : i->x.t_written;
}

/* Was i still being served when j arrived, in the recording? */
static bool overlapped(const struct rp_ex *i, const struct rp_ex *j)
{
	uint64_t done = rec_done(i);
	return i->rec_pending || !done || done > j->x.t_read;
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

/* Does the order of i and j show in their answers?  Both are replayed in
 * the order they finished in the recording (see tracein.c), so j waits. */
static bool conflicts(const struct rp_ex *i, const struct rp_ex *j)
{
	if ((i->op->flags & FOP_LOOKS) && (j->op->flags & FOP_LOOKS))
		return false;
	return shares_id(i, j);
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
			if (conflicts(i, j) && !(i->blocker && overlapped(i, j)))
				return true;
			break;
		default:
			if ((shares_id(i, j) || depends(i, j)) && !(i->blocker && overlapped(i, j)))
				return true;
			/* whether a directory is empty depends on requests that name
			 * its children, not it: RMDIR and RENAME (onto a directory)
			 * wait for everything before them */
			if ((j->x.opcode == FUSE_RMDIR || j->x.opcode == FUSE_RENAME ||
			     j->x.opcode == FUSE_RENAME2) && !(i->blocker && overlapped(i, j)))
				return true;
		}
	}
	return false;
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

/* Returns 0 when ex was dealt with (sent, skipped, deferred), 1 to wait
 * (*wake = when to look again, 0 = at the next message). */
static int dispatch(struct run *R, struct rp_ex *ex, uint64_t *wake)
{
	const struct rp_opts *o = R->o;
	uint64_t now = rp_now(), cause = 0;
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
		rp_skip(R, ex, ex->skip, 0);
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
				rp_on_message(R, R->rbuf, (size_t)n);
			tgt = map_get(&R->rec_uniq, map_key(ii.unique));
		}
		/* when the recording answered its request before the INTERRUPT
		 * came, it was moot there; sent to a request still running here
		 * it would change what is replayed */
		uint64_t tw = tgt ? tgt->x.t_written : rp_recent_done(R, ii.unique);
		if (tw && tw <= ex->x.t_read) {
			rep_count(&R->rep, ex->x.opcode, RP_O_MATCH, ex->quiet);
			goto done;
		}
		if (!tgt) {
			rp_skip(R, ex, rp_recent_done(R, ii.unique) ?
				"the request it interrupts was answered already here; in "
				"the recording it was still running" :
				"the request it interrupts was not replayed", 0);
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
				died(R);
			R->head = NULL;
			free(ex);
			return 0;
		}
		note_sent(R, ex);
		tgt->int_sent = true;
		rp_record(R, ex, NULL, 0, now, FP_TRACE_F_NOREPLY);
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
			rp_skip_reason_node(R, n, ex->x.nodeid, "node", why, sizeof why, &cause);
			if (n) {
				uint64_t id;
				struct fuse_forget_in fi;
				memcpy(&fi, ex->v.fixed, sizeof fi);
				rp_forget_one(R, ex->x.nodeid, fi.nlookup, &id);
			}
			rp_skip(R, ex, why, cause);
			goto done;
		}
	}
	R->next_unique += 2;
	if (rp_rewrite(R, ex, why, sizeof why, &cause) < 0) {
		R->next_unique -= 2;
		if (R->ncreators)
			return 1;	/* its id may be on its way */
		rp_skip(R, ex, why, cause);
		if (ex->x.opcode == FUSE_RELEASE || ex->x.opcode == FUSE_RELEASEDIR)
			rp_release_fh(R, ex);	/* a handle the target never had is over too */
		goto done;
	}
	ex->new_unique = R->next_unique;

	if (ex->x.opcode == FUSE_FORGET) {
		struct fuse_forget_in fi;
		uint64_t id = 0, k;
		memcpy(&fi, ex->v.fixed, sizeof fi);
		k = rp_forget_one(R, ex->x.nodeid, fi.nlookup, &id);
		if (!k) {
			rp_skip(R, ex, "the target holds no reference to this node (its LOOKUPs "
				"did not succeed)", 0);
			goto done;
		}
		fi.nlookup = k;
		memcpy(ex->sent + fixed_off(ex), &fi, sizeof fi);
		((struct fuse_in_header *)ex->sent)->nodeid = id;
	} else if (ex->x.opcode == FUSE_BATCH_FORGET) {
		if (!rp_rewrite_batch(R, ex)) {
			rp_skip(R, ex, "the target holds no reference to any of its nodes", 0);
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
		struct rp_ex *nx = rp_peek_next(R);
		if (!nx || !overlapped(ex, nx))
			flags |= RP_SEND_ALONE;
	}
	if (!ex->noreply)
		inflight_add(R, ex);
	r = send_msg(R, ex, ex->sent, ex->sent_len, flags);
	if (r <= 0) {
		R->head = NULL;
		if (!r) {
			note_sent(R, ex);
			died(R);
		}
		if (ex->noreply)
			free(ex);
		return 0;
	}
	note_sent(R, ex);
	if (ex->x.opcode == FUSE_RELEASE || ex->x.opcode == FUSE_RELEASEDIR)
		rp_release_fh(R, ex);
	if (ex->noreply) {
		rp_record(R, ex, NULL, 0, now, FP_TRACE_F_NOREPLY);
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
	uint64_t now = rp_now();

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
	uint64_t now = rp_now(), until = next_deadline(R);
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
		rp_on_message(R, R->rbuf, (size_t)n);
		/* take whatever else is already there without waiting */
		while (!R->fatal && (n = rp_target_recv(R->t, R->rbuf, RBUF_SIZE, 0)) > 0)
			rp_on_message(R, R->rbuf, (size_t)n);
	}
	if (n == 0) {
		died(R);
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
			return rp_trace_error(R, "the session's INIT request has opcode %u",
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
		return rp_trace_error(R, "the session's INIT request is malformed: %s", why);
	struct rp_ex probe = { .v = v };
	int r = rp_target_send(R->t, &m, inlen);
	if (r < 0) {
		if (r == -EPIPE || r == -ECONNRESET) {
			died(R);
			return -1;
		}
		rp_set_end(R, RP_EXIT_TARGET, "cannot send INIT: %s", strerror(-r));
		return -1;
	}
	uint64_t deadline = rp_now() + (uint64_t)(R->o->timeout * NS);
	for (;;) {
		uint64_t now = rp_now();
		ssize_t n = now >= deadline ? -ETIMEDOUT
			    : rp_target_recv(R->t, R->rbuf, RBUF_SIZE,
					     (int)((deadline - now) / 1000000) + 1);
		if (n == 0) {
			char how[160] = "";
			R->t->ops->death(R->t, how, sizeof how);
			rp_set_end(R, RP_EXIT_TARGET, "crashed%s%s%s while serving INIT",
				how[0] ? " (" : "", how, how[0] ? ")" : "");
			return -1;
		}
		if (n == -ETIMEDOUT && rp_now() >= deadline) {
			rp_set_end(R, RP_EXIT_TARGET, "hung: no INIT reply within %.1f s",
				R->o->timeout);
			R->hung = true;
			R->t->ops->abort(R->t);
			return -1;
		}
		if (n < 0)
			continue;
		struct fuse_out_header *oh = R->rbuf;
		if ((size_t)n >= sizeof *oh && oh->unique == 0) {
			rp_on_message(R, R->rbuf, (size_t)n);	/* an early notification */
			continue;
		}
		if ((size_t)n < sizeof *oh || oh->unique != m.h.unique) {
			R->rep.target_protocol_errors++;
			continue;
		}
		if (fuse_validate_reply(FUSE_INIT, &probe.v, R->rbuf, (size_t)n, NULL, why,
					sizeof why) < 0) {
			rp_set_end(R, RP_EXIT_TARGET, "sent a malformed INIT reply: %s", why);
			return -1;
		}
		if (oh->error) {
			rp_set_end(R, RP_EXIT_TARGET, "refused INIT: %s", fuse_errno_name(-oh->error));
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
				ex->t_sent = rp_now();
				rp_record(R, ex, R->rbuf, (size_t)n, rp_now(), 0);
				free(ex);
			}
		}
		break;
	}
	if (got_out.major != FUSE_KERNEL_VERSION) {
		rp_set_end(R, RP_EXIT_TARGET, "speaks FUSE %u.%u, not 7.x", got_out.major,
			got_out.minor);
		return -1;
	}
	R->wp_new.minor = got_out.minor;
	R->wp_new.flags = rp_init_flags(got_out.flags, got_out.flags2);
	rp_init_compare(&R->rep, &m.i, &rec_out, have_rec, &got_out);
	return 0;
}

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
		rp_set_end(R, RP_EXIT_TARGET, "out of memory");
		goto report;
	}
	if (fp_reader_open(&R->rd, o->trace, o->allow_truncated ? FP_READ_TRUNCATED_OK : 0,
			   err, sizeof err) < 0) {
		rp_set_end(R, RP_EXIT_BADTRACE, "%s", err);
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
				rp_set_end(R, RP_EXIT_BADTRACE, "cannot open --backend-log %s",
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
		rp_set_end(R, RP_EXIT_TARGET, "cannot start: %s", err);
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
		rp_set_end(R, RP_EXIT_BADTRACE, "cannot create the -w trace");
		goto report;
	}
	if (do_init(R) < 0)
		goto report;

	t0 = rp_now();
	for (;;) {
		uint64_t wake = 0;

		if (R->fatal)
			break;
		if (!R->head && !R->eof) {
			int r = rp_read_next(R);
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
	R->rep.elapsed = (double)(rp_now() - t0) / NS;

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
	for (size_t i = 0; i < R->nheap; i++)
		free(R->heap[i]);
	free(R->heap);
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
