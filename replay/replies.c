/* \summary: what the target sends back: replies matched to their requests,
 * compared with the recording and reported; notifications counted (and a
 * RETRIEVE answered); the replay recorded with -w. */
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

char *rp_fmt_request(const struct rp_ex *ex)
{
	char buf[600];
	fuse_format_request(buf, sizeof buf, &ex->v);
	return strdup(buf);
}

char *rp_fmt_reply(const struct rp_ex *ex, const void *msg, size_t len)
{
	char buf[600];
	if (!msg || len < sizeof(struct fuse_out_header))
		return NULL;
	fuse_format_reply(buf, sizeof buf, ex->x.opcode, &ex->v, msg, len);
	return strdup(buf);
}

void rp_record(struct run *R, const struct rp_ex *ex, const void *reply,
			    size_t rlen, uint64_t t_done, uint32_t flags)
{
	const struct fuse_in_header *h = (const void *)ex->sent;
	struct fp_trace_exchange x;

	if (!R->rec)
		return;
	x = (struct fp_trace_exchange){ FP_TRACE_IDS(h) };
	x.t_read = ex->t_sent;
	x.t_sent = ex->t_sent;
	x.t_reply = t_done;
	x.t_written = t_done;
	x.flags = flags | (R->t->in_process ? 0 : FP_TRACE_F_BACKEND) |
		  (ex->int_sent ? FP_TRACE_F_INTERRUPTED : 0);
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

void rp_skip(struct run *R, struct rp_ex *ex, const char *why, uint64_t cause)
{
	if (!ex->quiet) {
		struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique, .opcode = ex->x.opcode,
				      .cause = cause };
		it.request = rp_fmt_request(ex);
		it.path = rp_ex_path(R, ex);
		it.reason = strdup(why);
		rep_add(&R->rep.skip, &it);
	}
	rep_count(&R->rep, ex->x.opcode, RP_O_SKIPPED, ex->quiet);
}

/* Recently answered requests (recorded unique, recorded t_written), for
 * INTERRUPTs that arrive after their request is done. */
static void recent_add(struct run *R, const struct rp_ex *ex)
{
	R->recent[R->nrecent++ % RECENT] = (struct recent){ ex->x.unique,
		ex->x.t_written ? ex->x.t_written : 1 };
}

uint64_t rp_recent_done(struct run *R, uint64_t unique)
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

	rp_record(R, ex, got, glen, t_done, 0);
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
		rp_learn(R, ex, gh, glen, got_ok, &R->o_none, &diff);
		outcome = RP_O_UNRECORDED;
		if (!ex->quiet) {
			struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique,
					      .opcode = ex->x.opcode };
			it.request = rp_fmt_request(ex);
			it.path = rp_ex_path(R, ex);
			it.replayed = got_ok ? rp_fmt_reply(ex, got, glen) : strdup(why);
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
	/* rp_learn after comparing: readdir listings add their own differences */
	uint64_t created = 0;
	if (got_ok) {
		if (!rp_learn(R, ex, gh, glen, got_ok, co, &diff))
			same = false;
		if ((ex->op->flags & FOP_NEW_NODE) && ex->x.reply && !ex->x.error)
			fuse_reply_new_node(ex->x.opcode, (const uint8_t *)ex->x.reply +
					    sizeof(struct fuse_out_header),
					    ex->x.reply_caplen - sizeof(struct fuse_out_header),
					    &created);
	} else {
		rp_learn(R, ex, gh, sizeof *gh, false, co, &diff);
	}
	if (ignored)
		outcome = RP_O_IGNORED;
	else
		outcome = same ? RP_O_MATCH : RP_O_DIVERGED;

	if (outcome == RP_O_DIVERGED) {
		uint64_t cause = rp_cause_of(R, ex);
		rp_taint(R, ex, cause, created);
		if (!ex->quiet) {
			struct rp_item it = { .seq = ex->seq, .unique = ex->x.unique,
					      .opcode = ex->x.opcode, .cause = cause };
			if (!R->rep.first_div || ex->seq < R->rep.first_div)
				R->rep.first_div = ex->seq;
			it.request = rp_fmt_request(ex);
			it.path = rp_ex_path(R, ex);
			it.recorded = rp_fmt_reply(ex, ex->x.reply, ex->x.reply_caplen);
			it.replayed = got_ok ? rp_fmt_reply(ex, got, glen) : strdup("(malformed)");
			it.diff = sb_take(&diff);
			rep_add(&R->rep.div, &it);
		}
	}
out:
	rep_count(&R->rep, ex->x.opcode, outcome, ex->quiet);
	sb_free(&diff);
}

/* Handle one message from the target. */
void rp_on_message(struct run *R, void *msg, size_t len)
{
	struct fuse_out_header *oh = msg;
	struct rp_ex *ex;
	uint64_t t = rp_now();

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
	rp_inflight_del(R, ex);
	finish(R, ex, msg, len, t);
	free(ex);
}
