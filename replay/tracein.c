/* \summary: reading the trace for the replay: one exchange at a time, with
 * one of read-ahead, each copied out of the reader and checked as far as the
 * replay relies on it (a trace that fails a check is a bad trace: exit 2). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_i.h"
#include "compare.h"
#include "dirstream.h"
#include "format.h"
#include "opcodes.h"
#include "reader.h"

/* The kernel never hands out a unique twice on a connection (a resent
 * request says so with FP_TRACE_F_RESENT), so a second record of one is the
 * recorder's double: replaying it would, say, forget a node twice.  Copies
 * sit next to each other in time order; the last few uniques suffice. */
static bool recorded_twice(struct run *R, const struct fp_trace_exchange *x)
{
	if (x->opcode == FUSE_INTERRUPT || (x->flags & FP_TRACE_F_RESENT))
		return false;
	for (unsigned i = 0; i < DUP_WINDOW; i++) {
		if (R->dup_ring[i] == x->unique && x->unique) {
			R->rep.duplicates++;
			return true;
		}
	}
	R->dup_ring[R->dup_next++ % DUP_WINDOW] = x->unique;
	return false;
}

int rp_trace_error(struct run *R, const char *fmt, ...)
{
	va_list ap;
	char buf[700];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	rp_set_end(R, RP_EXIT_BADTRACE, "%s: %s", R->o->trace, buf);
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
			rp_set_end(R, RP_EXIT_BADTRACE, "%s", err);	/* names the file */
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
		if (recorded_twice(R, &rec.x))
			continue;
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
		return rp_trace_error(R, "out of memory");
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
		return rp_trace_error(R, "exchange %llu (unique %llu): the request has %u bytes, less "
				   "than a fuse_in_header", (unsigned long long)seq,
				   (unsigned long long)x->unique, x->req_caplen);
	memcpy(&h, ex->x.req, sizeof h);
	if (h.len != x->req_len || h.opcode != x->opcode || h.unique != x->unique)
		return rp_trace_error(R, "exchange %llu (unique %llu): the request header (len %u, "
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
		return rp_trace_error(R, "exchange %llu: malformed %s request (unique %llu): %s",
				   (unsigned long long)seq, fuse_opname(x->opcode),
				   (unsigned long long)x->unique, why);
	}
	if (ex->x.reply) {
		struct fuse_out_header oh;
		if (x->reply_caplen < sizeof oh)
			return rp_trace_error(R, "exchange %llu: %s reply of %u bytes, less than a "
					   "fuse_out_header", (unsigned long long)seq,
					   fuse_opname(x->opcode), x->reply_caplen);
		memcpy(&oh, ex->x.reply, sizeof oh);
		if (oh.len != x->reply_len || oh.unique != x->unique)
			return rp_trace_error(R, "exchange %llu: the %s reply header (len %u, unique "
					   "%llu) disagrees with its record (len %u, unique %llu)",
					   (unsigned long long)seq, fuse_opname(x->opcode), oh.len,
					   (unsigned long long)oh.unique, x->reply_len,
					   (unsigned long long)x->unique);
		if (x->reply_caplen == x->reply_len &&
		    fuse_validate_reply(x->opcode, &ex->v, ex->x.reply, x->reply_len, &R->wp_rec,
					why, sizeof why) < 0)
			return rp_trace_error(R, "exchange %llu: malformed recorded %s reply (unique "
					   "%llu): %s", (unsigned long long)seq,
					   fuse_opname(x->opcode), (unsigned long long)x->unique, why);
	}

	const struct fuse_op *op = ex->op;
	ex->noreply = (op->flags & FOP_NOREPLY) || x->opcode == FUSE_INTERRUPT;
	ex->rec_pending = !ex->x.reply && !ex->noreply;
	ex->creator = (op->flags & (FOP_NEW_NODE | FOP_NEW_FH)) || x->opcode == FUSE_READDIRPLUS;
	ex->blocker = x->opcode == FUSE_SETLKW || (x->flags & FP_TRACE_F_INTERRUPTED) ||
		      ex->rec_pending;
	/* names of directory entries: the nodeid is their parent (xattr names are not) */
	ex->name_op = op->nnames > 0 && op->family != FUSE_FAM_XATTR;
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
/* ---- replay order: by completion --------------------------------------------
 * Serial replay needs one total order, and the recorded concurrency needs
 * conflicting requests in the order they took effect.  The trace's order is
 * the one the kernel sent requests in; but requests that overlapped were
 * served in the order the recorded filesystem finished them, and that is
 * what their answers reflect (a GETATTR that raced a WRITE and saw its size
 * finished after it; a flock that failed because the RELEASE sent before it
 * was served after it).  So both send them in order of completion; a window
 * of N keeps the kernel's order.  No request can move
 * ahead of one it depends on: that one was answered before it was even sent.
 * A min-heap holds what was read until nothing unread can finish earlier. */

static uint64_t done_key(const struct rp_ex *ex)
{
	/* requests that waited on others (SETLKW, interrupted, never answered)
	 * stay in flight in serial mode while the others go on: they go at
	 * their place, and an INTERRUPT after its request */
	if (ex->blocker || ex->noreply)
		return ex->x.t_read;
	return ex->x.t_reply ? ex->x.t_reply : ex->x.t_written ? ex->x.t_written : ex->x.t_read;
}

static bool heap_less(const struct rp_ex *a, const struct rp_ex *b)
{
	uint64_t x = done_key(a), y = done_key(b);
	return x < y || (x == y && a->seq < b->seq);
}

static int heap_push(struct run *R, struct rp_ex *ex)
{
	if (R->nheap == R->capheap) {
		size_t cap = R->capheap ? R->capheap * 2 : 64;
		struct rp_ex **v = realloc(R->heap, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		R->heap = v;
		R->capheap = cap;
	}
	size_t i = R->nheap++;
	while (i && heap_less(ex, R->heap[(i - 1) / 2])) {
		R->heap[i] = R->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	R->heap[i] = ex;
	return 0;
}

static struct rp_ex *heap_pop(struct run *R)
{
	struct rp_ex *top = R->heap[0], *last = R->heap[--R->nheap];
	size_t i = 0, n = R->nheap;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(R->heap[c + 1], R->heap[c]))
			c++;
		if (!heap_less(R->heap[c], last))
			break;
		R->heap[i] = R->heap[c];
		i = c;
	}
	if (n)
		R->heap[i] = last;
	return top;
}

/* The next exchange in replay order into R->head. */
static int read_ordered(struct run *R)
{
	int r;

	if (R->o->concurrency != RP_CONC_SERIAL && R->o->concurrency != RP_CONC_RECORDED)
		return read_one(R);
	while (!R->reader_eof &&
	       (!R->nheap || done_key(R->heap[0]) > R->last_t_read)) {
		r = read_one(R);
		if (r < 0)
			return r;
		if (r == 0) {
			R->reader_eof = true;
			break;
		}
		R->last_t_read = R->head->x.t_read;
		if (heap_push(R, R->head) < 0)
			return rp_trace_error(R, "out of memory");
		R->head = NULL;
	}
	if (!R->nheap)
		return 0;
	R->head = heap_pop(R);
	return 1;
}

int rp_read_next(struct run *R)
{
	int r;

	if (R->ahead) {
		R->head = R->ahead;
		R->ahead = NULL;
		return 1;
	}
	if (R->reader_done)
		return 0;
	r = read_ordered(R);
	if (r == 0)
		R->reader_done = true;
	return r;
}

/* The exchange after R->head, read but not consumed; NULL at the end. */
struct rp_ex *rp_peek_next(struct run *R)
{
	struct rp_ex *cur = R->head;
	int r;

	if (R->ahead || R->reader_done || R->fatal)
		return R->ahead;
	r = read_ordered(R);
	if (r > 0)
		R->ahead = R->head;
	else if (r < 0 && R->head != cur)
		free(R->head);	/* the run ends with the trace error */
	if (r == 0)
		R->reader_done = true;
	R->head = cur;
	return R->ahead;
}
