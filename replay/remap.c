/* \summary: recorded ids -> the target's ids, per exchange: rewriting a
 * request before it is sent (node ids, handles, readdir cookies, FORGET
 * counts), learning the ids a reply pair hands out, the rp_taint that links a
 * divergence to the earlier one it follows from, and the FORGET/RELEASE the
 * kernel would send for ids the target handed out beyond the recording. */
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

/* The path of what a request works on, when known. */
char *rp_ex_path(struct run *R, const struct rp_ex *ex)
{
	struct rp_node *n;

	if (ex->name_op && ex->v.name)
		return ids_child_path(&R->ids, ex->x.nodeid, ex->v.name);
	if (ex->node && (n = ids_node(&R->ids, ex->node)) && n->path)
		return strdup(n->path);
	return NULL;
}

/* A FORGET or RELEASE(DIR) of our own, for an id the target handed out that
 * the recording never had: what the kernel would have done.  Replies to
 * these carry CLEANUP_UNIQUE and are dropped. */
void rp_send_cleanup(struct run *R, uint32_t opcode, uint64_t nodeid, uint64_t fh,
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

void rp_skip_reason_node(struct run *R, struct rp_node *n, uint64_t rec, const char *role,
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

/* The handle a request names (key: map_key(value)) on its node. */
static struct rp_fh *fh_of(struct run *R, uint64_t key, uint64_t node)
{
	return key ? ids_fh(&R->ids, key - 1, node) : NULL;
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

/* Cut n bytes at off out of the rewritten request. */
static void cut(struct rp_ex *ex, uint32_t off, uint32_t n)
{
	memmove(ex->sent + off, ex->sent + off + n, ex->sent_len - off - n);
	ex->sent_len -= n;
	((struct fuse_in_header *)ex->sent)->len = ex->sent_len;
}

/* The recording's layout where the target negotiated less: requests keep
 * what the target can read.  Extensions (supplementary group, security
 * context) go when it took neither; SETXATTR loses setxattr_flags when it did
 * not take SETXATTR_EXT.  Counted, and said in the report's INIT section. */
static void convert_layout(struct run *R, struct rp_ex *ex)
{
	struct fuse_in_header *h = (struct fuse_in_header *)ex->sent;
	const uint64_t ext_caps = FUSE_CREATE_SUPP_GROUP | FUSE_SECURITY_CTX;

	if (h->total_extlen && ex->v.ext && !(R->wp_new.flags & ext_caps)) {
		uint32_t off = (uint32_t)((const uint8_t *)ex->v.ext - (const uint8_t *)ex->x.req);
		cut(ex, off, ex->v.ext_len);
		h->total_extlen = 0;
		R->rep.converted++;
	}
	if (ex->x.opcode == FUSE_SETXATTR && ex->v.fixed_len > FUSE_COMPAT_SETXATTR_IN_SIZE &&
	    !(R->wp_new.flags & FUSE_SETXATTR_EXT)) {
		cut(ex, fixed_off(ex) + FUSE_COMPAT_SETXATTR_IN_SIZE,
		    ex->v.fixed_len - FUSE_COMPAT_SETXATTR_IN_SIZE);
		R->rep.converted++;
	}
}

/* Find the target's ids for everything ex names and write them into
 * ex->sent.  No side effects.  Returns 0, or -ENOENT with why/cause. */
int rp_rewrite(struct run *R, struct rp_ex *ex, char *why, size_t len, uint64_t *cause)
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
			rp_skip_reason_node(R, n, ex->node, ex->name_op ? "parent node" : "node",
					 why, len, cause);
			return -ENOENT;
		}
		h->nodeid = n->id;
	}
	if (ex->node2) {
		n = ids_node(&R->ids, ex->node2);
		if (!n || !n->id) {
			rp_skip_reason_node(R, n, ex->node2, "node", why, len, cause);
			return -ENOENT;
		}
		put_u64(ex->sent, fo + (uint32_t)op->node2_off, n->id);
	}
	if (ex->fh) {
		f = fh_of(R, ex->fh, ex->node);
		if (!f || !f->nids) {
			skip_reason_fh(f, ex->fh, why, len, cause);
			return -ENOENT;
		}
		put_u64(ex->sent, fo + (uint32_t)op->fh_off, ids_fh_id(f));
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
		f = fh_of(R, ex->fh2, ex->node2);
		if (!f || !f->nids) {
			skip_reason_fh(f, ex->fh2, why, len, cause);
			return -ENOENT;
		}
		put_u64(ex->sent, fo + (uint32_t)op->fh2_off, ids_fh_id(f));
	}
	convert_layout(R, ex);
	return 0;
}

/* FORGET: the count the target gets is what it granted for this recorded
 * node, not what the recorded daemon had granted.  Commits the counts.
 * Returns the count to send (0 = nothing to send). */
uint64_t rp_forget_one(struct run *R, uint64_t rec, uint64_t nlookup, uint64_t *target_id)
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

/* BATCH_FORGET: keep the entries the target knows, with its counts. */
uint32_t rp_rewrite_batch(struct run *R, struct rp_ex *ex)
{
	struct fuse_batch_forget_in bi;
	uint32_t fo = fixed_off(ex), out = 0;
	const uint8_t *e = ex->v.data;

	memcpy(&bi, ex->v.fixed, sizeof bi);
	for (uint32_t i = 0; i < bi.count; i++) {
		struct fuse_forget_one one;
		uint64_t id = 0, k;
		memcpy(&one, e + i * sizeof one, sizeof one);
		k = rp_forget_one(R, one.nodeid, one.nlookup, &id);
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

void rp_taint(struct run *R, struct rp_ex *ex, uint64_t cause, uint64_t created)
{
	struct rp_node *n;
	struct rp_fh *f;

	if (ex->node && !ex->name_op && (n = ids_node(&R->ids, ex->node)) && n != &R->ids.root &&
	    !n->taint)
		n->taint = cause;
	if (created && (n = ids_node(&R->ids, created)) && !n->taint)
		n->taint = cause;
	if ((f = fh_of(R, ex->fh, ex->node)) && !f->taint)
		f->taint = cause;
}

/* The root divergence a new one follows from (its own seq if none). */
uint64_t rp_cause_of(struct run *R, struct rp_ex *ex)
{
	uint64_t c = 0;
	struct rp_node *n;
	struct rp_fh *f;

	if (ex->node && !ex->name_op && (n = ids_node(&R->ids, ex->node)) && n->taint)
		c = n->taint;
	if (ex->node2 && ex->x.opcode == FUSE_LINK && (n = ids_node(&R->ids, ex->node2)) &&
	    n->taint && (!c || n->taint < c))
		c = n->taint;
	if ((f = fh_of(R, ex->fh, ex->node)) && f->taint && (!c || f->taint < c))
		c = f->taint;
	return c && c < ex->seq ? c : ex->seq;
}

static void new_node(struct run *R, struct rp_ex *ex, uint64_t r, uint64_t g, uint64_t parent,
		     const char *name)
{
	struct rp_node *n;

	if (!r) {
		if (g)
			rp_send_cleanup(R, FUSE_FORGET, g, 0, 0);
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
			rp_send_cleanup(R, ex->x.opcode == FUSE_OPENDIR ? FUSE_RELEASEDIR : FUSE_RELEASE,
				     h->nodeid, G, oi.flags);
		}
		return;
	}
	struct rp_fh *f = ids_fh_add(&R->ids, F, node);
	if (!f)
		return;
	f->dir = ex->x.opcode == FUSE_OPENDIR;
	if (have_g && ids_fh_push(f, G) == 0) {
		f->dead = 0;
	} else if (!f->nids) {
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
		rp_send_cleanup(R, FUSE_FORGET, got->entry_out.nodeid, 0, 0);
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
		rp_send_cleanup(R, FUSE_FORGET, got->entry_out.nodeid, 0, 0);
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
bool rp_learn(struct run *R, struct rp_ex *ex, const struct fuse_out_header *got,
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
		struct rp_fh *f = fh_of(R, ex->fh, ex->node);
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

/* RELEASE/RELEASEDIR sent (or skipped): one open of the handle is over on
 * both sides; when none is left the recorded value may come back for
 * another file. */
void rp_release_fh(struct run *R, struct rp_ex *ex)
{
	struct rp_fh *f = fh_of(R, ex->fh, ex->node);
	struct ds_cb cb = { NULL, ds_got_only, R };

	if (!f)
		return;
	if (f->nids)
		f->nids--;
	if (!f->nids)
		ids_fh_del(&R->ids, f, &cb);
}
