/* \summary: the forwarder's state, kept from the traffic (state.h tables),
 * and id translation between the kernel and a restarted backend.
 *
 * What each opcode changes comes from one table (track_ops) plus the
 * opcode table's FOP_NEW_NODE / FOP_NEW_FH / fh_off / node2_off; where the
 * ids sit in a request is read from the latter, never from a per-opcode
 * switch.  Until the first restart every id is the backend's own and
 * nothing is rewritten: requests go out as they came, and the tables are
 * only counted.  Attribute sizes (for judging O_APPEND replays) are only
 * kept with --restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "forward_i.h"
#include "opcodes.h"

#ifndef STATX_SIZE
#define STATX_SIZE 0x200u
#endif

/* ---- per-opcode tracking ------------------------------------------------ */

enum track_kind {
	T_NONE,
	T_ENTRY,          /* LOOKUP, MKNOD, MKDIR, SYMLINK: entry for (nodeid, name) */
	T_LINK,           /* LINK: a second name for an existing node */
	T_CREATE,         /* CREATE, TMPFILE: entry + open handle */
	T_OPEN,           /* OPEN, OPENDIR */
	T_DIRPLUS,        /* READDIRPLUS: an entry per record */
	T_UNLINK,         /* UNLINK, RMDIR */
	T_RENAME,         /* RENAME, RENAME2 */
	T_SETLK,          /* SETLK, SETLKW */
	T_RELEASE,        /* RELEASE, RELEASEDIR (request time) */
	T_FLUSH,          /* FLUSH: the owner's POSIX locks go (request time) */
	T_POLL,           /* POLL: kh to wake after a restart (request time) */
	T_ATTR,           /* GETATTR, SETATTR: size (--restart) */
	T_STATX,
	T_WRITE,          /* size after writes, O_APPEND pre-size (--restart) */
};

static const uint8_t track_kind[FUSE_OP_MAX] = {
	[FUSE_LOOKUP] = T_ENTRY, [FUSE_MKNOD] = T_ENTRY, [FUSE_MKDIR] = T_ENTRY,
	[FUSE_SYMLINK] = T_ENTRY, [FUSE_LINK] = T_LINK,
	[FUSE_CREATE] = T_CREATE, [FUSE_TMPFILE] = T_CREATE,
	[FUSE_OPEN] = T_OPEN, [FUSE_OPENDIR] = T_OPEN,
	[FUSE_READDIRPLUS] = T_DIRPLUS,
	[FUSE_UNLINK] = T_UNLINK, [FUSE_RMDIR] = T_UNLINK,
	[FUSE_RENAME] = T_RENAME, [FUSE_RENAME2] = T_RENAME,
	[FUSE_SETLK] = T_SETLK, [FUSE_SETLKW] = T_SETLK,
	[FUSE_RELEASE] = T_RELEASE, [FUSE_RELEASEDIR] = T_RELEASE,
	[FUSE_FLUSH] = T_FLUSH, [FUSE_POLL] = T_POLL,
	[FUSE_GETATTR] = T_ATTR, [FUSE_SETATTR] = T_ATTR, [FUSE_STATX] = T_STATX,
	[FUSE_WRITE] = T_WRITE,
};

static enum track_kind kind_of(uint32_t opcode)
{
	return opcode < FUSE_OP_MAX ? (enum track_kind)track_kind[opcode] : T_NONE;
}

static void send_forget(struct fwd *f, uint64_t bnode, uint64_t n)
{
	struct {
		struct fuse_in_header h;
		struct fuse_forget_in i;
	} m = { { sizeof m, FUSE_FORGET, 0, bnode, 0, 0, 0, 0, 0 }, { n } };

	if (n)
		fwd_send_own(f, &m, sizeof m);
}

int fwd_track_request(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v,
		      int *err)
{
	const struct fuse_in_header *in = v->h;

	switch (kind_of(in->opcode)) {
	case T_RELEASE: {
		const struct fuse_release_in *ri = v->fixed;
		uint64_t bfh;
		/* the kernel never uses the handle again, whatever the answer */
		p->has_aux = (uint8_t)fp_state_release(&f->st, in->nodeid, ri->fh, &bfh);
		p->aux = bfh;
		p->aux_gen = f->st.gen;
		if (!p->has_aux && f->st.translating) {
			*err = 0;	/* the backend that had it is gone */
			return 1;
		}
		break;
	}
	case T_FLUSH: {
		const struct fuse_flush_in *fi = v->fixed;
		fp_state_unlock_owner(&f->st, in->nodeid, fi->lock_owner);
		break;
	}
	case T_POLL: {
		const struct fuse_poll_in *pi = v->fixed;
		if (pi->flags & FUSE_POLL_SCHEDULE_NOTIFY)
			fp_state_poll(&f->st, in->nodeid, pi->fh, pi->kh);
		break;
	}
	case T_WRITE: {
		const struct fuse_write_in *wi = v->fixed;
		/* an O_APPEND write the backend places itself: what size did
		 * it start from?  (Page-cache writes are positional.) */
		if (f->o.restart && v->fixed_len >= sizeof *wi && (wi->flags & O_APPEND) &&
		    !(wi->write_flags & FUSE_WRITE_CACHE) &&
		    fp_state_get_size(&f->st, in->nodeid, &p->aux) == 0) {
			p->has_aux = 1;
			p->aux_gen = f->st.gen;
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

static int dot_or_dotdot(const char *name, uint32_t len)
{
	return (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.');
}

/* An entry handed out by the backend: count it and give the kernel its id.
 * When the kernel id cannot be made (out of memory after a restart), the
 * backend's lookup is forgotten and the caller says so. */
static int entry(struct fwd *f, uint64_t kparent, const char *name, size_t namelen,
		 struct fuse_entry_out *e, int flags)
{
	uint64_t b = e->nodeid;

	if (fp_state_entry(&f->st, kparent, name, namelen, e, flags) == 0)
		return 0;
	if (!f->st.translating)
		return 0;	/* ids are the backend's: the kernel can use it */
	send_forget(f, b, 1);
	return -ENOMEM;
}

/* Every record of a READDIRPLUS reply, under one lock. */
static int track_dirplus(struct fwd *f, struct fp_pending *p, char *buf, size_t len)
{
	uint64_t dropped[64];
	size_t off = 0, ndropped = 0;

	pthread_mutex_lock(&f->st.lock);
	while (off + FUSE_NAME_OFFSET_DIRENTPLUS <= len) {
		struct fuse_direntplus *d = (struct fuse_direntplus *)(buf + off);
		size_t rec = FUSE_DIRENTPLUS_SIZE(d);
		if (off + rec > len)
			break;
		/* the kernel skips nodeid 0, "." and ".." without counting */
		if (d->entry_out.nodeid && !dot_or_dotdot(d->dirent.name, d->dirent.namelen)) {
			uint64_t b = d->entry_out.nodeid;
			if (fp_state_entry_locked(&f->st, p->in.nodeid, d->dirent.name,
						  d->dirent.namelen, &d->entry_out, 0) &&
			    f->st.translating) {
				/* no kernel id for it (out of memory): the kernel
				 * skips it, the backend forgets it */
				d->entry_out.nodeid = 0;
				if (ndropped < 64)
					dropped[ndropped++] = b;
			}
		}
		off += rec;
	}
	pthread_mutex_unlock(&f->st.lock);
	for (size_t i = 0; i < ndropped; i++)
		send_forget(f, dropped[i], 1);
	return 0;
}

static int open_flags_of(struct fp_pending *p, uint32_t *flags, uint32_t *oflags)
{
	if (p->in.opcode == FUSE_CREATE || p->in.opcode == FUSE_TMPFILE) {
		const struct fuse_create_in *ci = (const void *)p->fixed;
		*flags = ci->flags;
		*oflags = p->fixed_len >= sizeof *ci ? ci->open_flags : 0;
	} else {
		const struct fuse_open_in *oi = (const void *)p->fixed;
		*flags = oi->flags;
		*oflags = oi->open_flags;
	}
	return 0;
}

int fwd_track_reply(struct fwd *f, struct fp_pending *p, void *msg, size_t len)
{
	char *pl = (char *)msg + sizeof(struct fuse_out_header);
	size_t plen = len - sizeof(struct fuse_out_header);
	const struct fuse_op *op = fuse_op_get(p->in.opcode);
	uint32_t flags, oflags;

	switch (kind_of(p->in.opcode)) {
	case T_ENTRY:
	case T_LINK:
		if (plen < sizeof(struct fuse_entry_out))
			return 0;	/* compat size (< 7.9): not tracked */
		return entry(f, p->in.nodeid, p->name, p->name ? strlen(p->name) : 0,
			     (struct fuse_entry_out *)pl,
			     kind_of(p->in.opcode) == T_LINK ? FP_ENTRY_KEEP_NAME : 0);
	case T_CREATE: {
		struct fuse_entry_out *e = (struct fuse_entry_out *)pl;
		struct fuse_open_out *oo = (struct fuse_open_out *)(pl + op->new_fh_off);
		if (plen < op->new_fh_off + sizeof *oo)
			return 0;
		int tmp = p->in.opcode == FUSE_TMPFILE;
		if (entry(f, p->in.nodeid, tmp ? NULL : p->name,
			  tmp || !p->name ? 0 : strlen(p->name), e, 0) < 0)
			return -ENOMEM;
		open_flags_of(p, &flags, &oflags);
		if (fp_state_open(&f->st, e->nodeid, &oo->fh, flags, oflags, oo->open_flags, 0) &&
		    f->st.translating)
			return -ENOMEM;
		return 0;
	}
	case T_OPEN: {
		struct fuse_open_out *oo = (struct fuse_open_out *)pl;
		if (plen < sizeof *oo)
			return 0;
		open_flags_of(p, &flags, &oflags);
		if (fp_state_open(&f->st, p->in.nodeid, &oo->fh, flags, oflags, oo->open_flags,
				  p->in.opcode == FUSE_OPENDIR) && f->st.translating)
			return -ENOMEM;
		return 0;
	}
	case T_DIRPLUS:
		return track_dirplus(f, p, pl, plen);
	case T_UNLINK:
		if (p->name)
			fp_state_unlink(&f->st, p->in.nodeid, p->name);
		return 0;
	case T_RENAME: {
		const struct fuse_rename2_in *ri = (const void *)p->fixed;
		uint32_t rflags = p->in.opcode == FUSE_RENAME2 ? ri->flags : 0;
		if (p->name && p->name2)
			fp_state_rename(&f->st, p->in.nodeid, p->name, ri->newdir, p->name2, rflags);
		return 0;
	}
	case T_SETLK: {
		const struct fuse_lk_in *lk = (const void *)p->fixed;
		if (p->fixed_len >= sizeof *lk)
			fp_state_lock(&f->st, p->in.nodeid, lk->fh, lk);
		return 0;
	}
	case T_ATTR:
		if (f->o.restart && plen >= sizeof(struct fuse_attr_out))
			fp_state_set_size(&f->st, p->in.nodeid,
					  ((struct fuse_attr_out *)pl)->attr.size);
		return 0;
	case T_STATX: {
		const struct fuse_statx_out *so = (const void *)pl;
		if (f->o.restart && plen >= sizeof *so && (so->stat.mask & STATX_SIZE))
			fp_state_set_size(&f->st, p->in.nodeid, so->stat.size);
		return 0;
	}
	case T_WRITE: {
		const struct fuse_write_in *wi = (const void *)p->fixed;
		const struct fuse_write_out *wo = (const void *)pl;
		if (!f->o.restart || plen < sizeof *wo)
			return 0;
		fp_state_grow_size(&f->st, p->in.nodeid,
				   (p->has_aux ? p->aux : wi->offset) + wo->size);
		return 0;
	}
	default:
		return 0;
	}
}

static void release_own(struct fwd *f, uint64_t knode, uint64_t kfh, int dir)
{
	uint64_t bfh, bnode;
	struct {
		struct fuse_in_header h;
		struct fuse_release_in r;
	} m;

	if (!fp_state_release(&f->st, knode, kfh, &bfh))
		return;
	if (fp_state_k2b_node(&f->st, knode, &bnode) < 0)
		bnode = knode;
	memset(&m, 0, sizeof m);
	m.h.len = sizeof m;
	m.h.opcode = dir ? FUSE_RELEASEDIR : FUSE_RELEASE;
	m.h.nodeid = bnode;
	m.r.fh = bfh;
	fwd_send_own(f, &m, sizeof m);
}

static void undo_entry(struct fwd *f, uint64_t knode)
{
	uint64_t bnode = 0, n = fp_state_entry_undo(&f->st, knode, &bnode);
	send_forget(f, bnode, n);
}

void fwd_track_undo(struct fwd *f, struct fp_pending *p, void *msg, size_t len)
{
	char *pl = (char *)msg + sizeof(struct fuse_out_header);
	size_t plen = len - sizeof(struct fuse_out_header);
	const struct fuse_op *op = fuse_op_get(p->in.opcode);

	switch (kind_of(p->in.opcode)) {
	case T_ENTRY:
	case T_LINK:
		if (plen >= sizeof(struct fuse_entry_out) &&
		    ((struct fuse_entry_out *)pl)->nodeid)
			undo_entry(f, ((struct fuse_entry_out *)pl)->nodeid);
		break;
	case T_CREATE:
		if (plen >= op->new_fh_off + sizeof(struct fuse_open_out)) {
			uint64_t k = ((struct fuse_entry_out *)pl)->nodeid;
			release_own(f, k, ((struct fuse_open_out *)(pl + op->new_fh_off))->fh, 0);
			undo_entry(f, k);
		}
		break;
	case T_OPEN:
		if (plen >= sizeof(struct fuse_open_out))
			release_own(f, p->in.nodeid, ((struct fuse_open_out *)pl)->fh,
				    p->in.opcode == FUSE_OPENDIR);
		break;
	case T_DIRPLUS: {
		size_t off = 0;
		while (off + FUSE_NAME_OFFSET_DIRENTPLUS <= plen) {
			struct fuse_direntplus *d = (struct fuse_direntplus *)(pl + off);
			size_t rec = FUSE_DIRENTPLUS_SIZE(d);
			if (off + rec > plen)
				break;
			if (d->entry_out.nodeid &&
			    !dot_or_dotdot(d->dirent.name, d->dirent.namelen))
				undo_entry(f, d->entry_out.nodeid);
			off += rec;
		}
		break;
	}
	default:
		break;
	}
}

/* ---- FORGET ------------------------------------------------------------- */

void fwd_track_forget(struct fwd *f, const struct fuse_in_header *in,
		      const struct fuse_req_view *v, int slot)
{
	struct fuse_forget_one single, *one = &single, stackbuf[64], *o = stackbuf;
	uint64_t passbuf[64], *pass = passbuf;
	uint32_t count = 1, out = 0, gen, same;

	if (in->opcode == FUSE_FORGET) {
		single.nodeid = in->nodeid;
		single.nlookup = ((const struct fuse_forget_in *)v->fixed)->nlookup;
	} else {
		count = ((const struct fuse_batch_forget_in *)v->fixed)->count;
		one = (struct fuse_forget_one *)v->data;
	}
	if (count > 64) {
		o = malloc(count * sizeof *o);
		pass = malloc(count * sizeof *pass);
		if (!o || !pass) {
			/* out of memory: one message per node, nothing passed
			 * on for nodes we do not know */
			free(o);
			free(pass);
			o = NULL;
			pass = NULL;
		}
	}
	/* the kernel's side first, journaled before anything can make us wait
	 * (the gate, while a recovery holds it): a worker killed then would
	 * lose the FORGET, and the kernel never sends it again */
	gen = fp_state_kforget(&f->st, slot, in->unique, one, count, pass);

	/* the backend's side with the backend fixed */
	if (f->o.restart)
		pthread_rwlock_rdlock(&f->gate);
	same = !f->st.translating && gen == f->st.gen && o;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t b = 0, n;
		if (pass && pass[i]) {
			/* for the backend of generation gen only */
			b = one[i].nodeid;
			n = gen == f->st.gen ? pass[i] : 0;
		} else {
			n = fp_state_forget_settle(&f->st, one[i].nodeid, &b);
		}
		if (n != one[i].nlookup || b != one[i].nodeid)
			same = 0;
		if (n && o)
			o[out++] = (struct fuse_forget_one){ b, n };
		else if (n)
			send_forget(f, b, n);
	}
	if (same) {
		struct iovec iov = { (void *)in, in->len };
		fwd_send_raw(f, &iov, 1);
	} else if (out == 1) {
		send_forget(f, o[0].nodeid, o[0].nlookup);
	} else if (out) {
		struct {
			struct fuse_in_header h;
			struct fuse_batch_forget_in b;
		} m = { { (uint32_t)(sizeof m + out * sizeof *o), FUSE_BATCH_FORGET, in->unique,
			  0, 0, 0, 0, 0, 0 }, { out, 0 } };
		struct iovec iov[2] = { { &m, sizeof m }, { o, out * sizeof *o } };
		fwd_send_raw(f, iov, 2);
	}
	if (f->o.restart)
		pthread_rwlock_unlock(&f->gate);
	if (o != stackbuf)
		free(o);
	if (pass != passbuf)
		free(pass);
}

/* ---- notifications (backend -> kernel) ---------------------------------- */

static int b2k(struct fwd *f, uint64_t *id)
{
	uint64_t k = fp_state_b2k_node(&f->st, *id);
	if (!k)
		return -ENOENT;
	*id = k;
	return 0;
}

int fwd_translate_notify(struct fwd *f, void *msg, size_t len)
{
	struct fuse_out_header *oh = msg;
	char *pl = (char *)msg + sizeof *oh;

	switch (oh->error) {
	case FUSE_NOTIFY_INVAL_INODE:
		return b2k(f, &((struct fuse_notify_inval_inode_out *)pl)->ino);
	case FUSE_NOTIFY_INVAL_ENTRY:
		return b2k(f, &((struct fuse_notify_inval_entry_out *)pl)->parent);
	case FUSE_NOTIFY_DELETE: {
		struct fuse_notify_delete_out *d = (void *)pl;
		if (b2k(f, &d->parent) < 0)
			return -ENOENT;
		if (b2k(f, &d->child) < 0)
			d->child = 0;	/* the kernel then only drops the name */
		return 0;
	}
	case FUSE_NOTIFY_STORE:
		return b2k(f, &((struct fuse_notify_store_out *)pl)->nodeid);
	case FUSE_NOTIFY_RETRIEVE:
		return b2k(f, &((struct fuse_notify_retrieve_out *)pl)->nodeid);
	case FUSE_NOTIFY_PRUNE: {
		struct fuse_notify_prune_out *po = (void *)pl;
		uint64_t *ids = (uint64_t *)(pl + sizeof *po);
		size_t room = (len - sizeof *oh - sizeof *po) / sizeof *ids;
		for (uint32_t i = 0; i < po->count && i < room; i++)
			if (b2k(f, &ids[i]) < 0)
				ids[i] = 0;
		return 0;
	}
	default:	/* POLL (kh is the kernel's), RESEND, INC_EPOCH: no nodeids */
		(void)len;
		return 0;
	}
}

/* ---- requests (kernel -> backend) --------------------------------------- */

static inline uint64_t get64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof v);
}

/* Backends expect a lookup held on what they are asked to unlink or rename
 * (the kernel always holds one): after a restart, resolve the child first. */
static int resolve_child(struct fwd *f, uint64_t kparent, const char *name)
{
	struct fp_node *n;
	uint64_t k = 0, b;
	int r;

	if (!name)
		return 0;
	pthread_mutex_lock(&f->st.lock);
	n = fp_state_lookup_name_locked(&f->st, kparent, name);
	if (n && n->bgen != f->st.gen && !(n->flags & FP_NODE_STALE))
		k = n->knode;
	pthread_mutex_unlock(&f->st.lock);
	if (!k)
		return 0;
	r = fwd_resolve(f, k, &b);
	/* a stale child: the backend answers for the name itself */
	return r == -ERESTART ? r : 0;
}

int fwd_translate_request(struct fwd *f, struct fp_pending *p,
			  const struct fuse_in_header *in,
			  const struct fuse_req_view *v, struct fwd_xlate *x)
{
	const struct fuse_op *op = fuse_op_get(in->opcode);
	struct fuse_in_header *h = (struct fuse_in_header *)x->head;
	unsigned char *fixed = x->head + sizeof *h;
	size_t flen = v->fixed ? v->fixed_len : 0;
	uint64_t knode2 = 0, fh, b;
	int r;

	x->err = 0;
	if (flen > sizeof x->head - sizeof *h ||
	    (v->fixed && (const char *)v->fixed != (const char *)in + sizeof *in))
		return -EIO;	/* no op has a larger fixed part: cannot happen */
	memcpy(x->head, in, sizeof *in + flen);

	if (in->nodeid) {
		r = fwd_resolve(f, in->nodeid, &b);
		if (r < 0)
			return r;
		h->nodeid = b;
	}
	if (kind_of(in->opcode) == T_UNLINK || kind_of(in->opcode) == T_RENAME) {
		r = resolve_child(f, in->nodeid, v->name);
		if (!r && kind_of(in->opcode) == T_RENAME)
			r = resolve_child(f, ((const struct fuse_rename_in *)v->fixed)->newdir,
					  v->name2);
		if (r < 0)
			return r;
	}
	if (op && op->node2_off >= 0 && flen >= (size_t)op->node2_off + 8) {
		knode2 = get64(fixed + op->node2_off);
		r = fwd_resolve(f, knode2, &b);
		if (r < 0)
			return r;
		put64(fixed + op->node2_off, b);
	}
	if (fuse_req_fh(v, &fh)) {
		switch (kind_of(in->opcode)) {
		case T_RELEASE:
			/* the table dropped it when the request came */
			if (!p || !p->has_aux || p->aux_gen != f->st.gen)
				return 1;	/* x->err = 0 */
			b = p->aux;
			break;
		case T_FLUSH:
			/* nothing to flush in a backend that never had it */
			if (fp_state_k2b_fh(&f->st, in->nodeid, fh, &b) < 0)
				return 1;
			break;
		default:
			r = fwd_reopen(f, in->nodeid, fh, &b);
			if (r < 0)
				return r;
		}
		put64(fixed + op->fh_off, b);
	}
	if (knode2 && fuse_req_fh2(v, &fh)) {
		r = fwd_reopen(f, knode2, fh, &b);
		if (r < 0)
			return r;
		put64(fixed + op->fh2_off, b);
	}
	x->iov[0] = (struct iovec){ x->head, sizeof *in + flen };
	x->niov = 1;
	if (in->len > sizeof *in + flen) {
		x->iov[1] = (struct iovec){ (char *)in + sizeof *in + flen,
					    in->len - sizeof *in - flen };
		x->niov = 2;
	}
	return 0;
}
