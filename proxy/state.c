/* \summary: the forwarder's node, handle, lock and poll tables (see state.h).
 *
 * Nodes are indexed three ways (kernel id; backend id of the current
 * generation; parent + name), handles two ways (kernel fh; backend fh of
 * the current generation), each a chained hash that doubles as it fills.
 * Locks and poll handles are short lists: programs hold few.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "state.h"
#include "journal.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Kernel ids we make up (after a restart, when the backend's id is taken)
 * come from a range no backend we know uses, so they stand out in logs. */
#define MADE_UP_BASE (1ull << 48)

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

/* Every change the kernel can see goes to the journal (if any), under
 * st->lock so records keep the order of the changes. */
static void jlog(struct fp_state *st, uint16_t type, const void *a, size_t alen,
		 const void *b, size_t blen)
{
	if (st->journal)
		fp_journal_append(st->journal, type, a, alen, b, blen);
}

/* ---- hash tables -------------------------------------------------------- */

static uint64_t pair_hash(uint64_t a, uint64_t b)
{
	return fp_mix64(fp_mix64(a) ^ b);
}

static int ht_init(struct fp_htab *t)
{
	t->mask = 255;
	t->n = 0;
	t->b = calloc(t->mask + 1, sizeof *t->b);
	return t->b ? 0 : -ENOMEM;
}

static void ht_fini(struct fp_htab *t)
{
	free(t->b);
	t->b = NULL;
}

static void ht_clear(struct fp_htab *t)
{
	memset(t->b, 0, (t->mask + 1) * sizeof *t->b);
	t->n = 0;
}

/* Doubles when the load passes 1; a failed allocation only costs speed. */
static void ht_grow(struct fp_htab *t)
{
	size_t nmask = t->mask * 2 + 1;
	struct fp_hlink **nb = calloc(nmask + 1, sizeof *nb);

	if (!nb)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		for (struct fp_hlink *l = t->b[i], *next; l; l = next) {
			next = l->next;
			l->next = nb[l->hash & nmask];
			nb[l->hash & nmask] = l;
		}
	}
	free(t->b);
	t->b = nb;
	t->mask = nmask;
}

static void ht_add(struct fp_htab *t, struct fp_hlink *l, uint64_t hash)
{
	if (t->n > t->mask)
		ht_grow(t);
	l->hash = hash;
	l->next = t->b[hash & t->mask];
	t->b[hash & t->mask] = l;
	t->n++;
}

static void ht_del(struct fp_htab *t, struct fp_hlink *l)
{
	for (struct fp_hlink **pp = &t->b[l->hash & t->mask]; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			t->n--;
			return;
		}
	}
}

#define HT_EACH(t, h, l) \
	for (struct fp_hlink *l = (t)->b[(h) & (t)->mask]; l; l = l->next) \
		if (l->hash == (h))

/* ---- node indexes ------------------------------------------------------- */

/* Membership in the bnode index is bgen == gen plus this bit, so a new
 * generation can drop the whole index at once. */
#define IN_NB (1u << 31)

static struct fp_node *by_k(struct fp_state *st, uint64_t knode)
{
	uint64_t h = fp_mix64(knode);
	HT_EACH(&st->nk, h, l) {
		struct fp_node *n = container_of(l, struct fp_node, kl);
		if (n->knode == knode)
			return n;
	}
	return NULL;
}

static struct fp_node *by_b(struct fp_state *st, uint64_t bnode)
{
	uint64_t h = fp_mix64(bnode ^ 0x5bd1e995u);
	HT_EACH(&st->nb, h, l) {
		struct fp_node *n = container_of(l, struct fp_node, bl);
		if (n->bnode == bnode)
			return n;
	}
	return NULL;
}

static struct fp_node *by_name(struct fp_state *st, uint64_t parent, const char *name)
{
	uint64_t h = fp_name_hash(parent, name, strlen(name));
	HT_EACH(&st->nn, h, l) {
		struct fp_node *n = container_of(l, struct fp_node, nl);
		if (n->parent == parent && !strcmp(n->name, name))
			return n;
	}
	return NULL;
}

static void nb_add(struct fp_state *st, struct fp_node *n)
{
	if ((n->flags & IN_NB) && n->bgen == st->gen)
		return;
	n->flags |= IN_NB;
	ht_add(&st->nb, &n->bl, fp_mix64(n->bnode ^ 0x5bd1e995u));
}

static void nb_del(struct fp_state *st, struct fp_node *n)
{
	if ((n->flags & IN_NB) && n->bgen == st->gen)
		ht_del(&st->nb, &n->bl);
	n->flags &= ~IN_NB;
}

static void unname(struct fp_state *st, struct fp_node *n)
{
	if (!n->name)
		return;
	ht_del(&st->nn, &n->nl);
	free(n->name);
	n->name = NULL;
	n->parent = 0;
}

/* Give n the name (parent, name), taking it from whoever had it: the last
 * reply is the truth.  On ENOMEM n keeps no name. */
static void set_name(struct fp_state *st, struct fp_node *n, uint64_t parent,
		     const char *name, size_t len)
{
	struct fp_node *old;

	if (n->name && n->parent == parent && strlen(n->name) == len &&
	    !memcmp(n->name, name, len))
		return;
	unname(st, n);
	n->name = strndup(name, len);
	if (!n->name)
		return;
	old = by_name(st, parent, n->name);
	if (old)
		unname(st, old);
	n->parent = parent;
	ht_add(&st->nn, &n->nl, fp_name_hash(parent, n->name, strlen(n->name)));
}

static uint64_t made_up_knode(struct fp_state *st)
{
	uint64_t k;
	do
		k = st->next_knode++;
	while (by_k(st, k));
	return k;
}

static void node_free(struct fp_state *st, struct fp_node *n)
{
	unname(st, n);
	nb_del(st, n);
	ht_del(&st->nk, &n->kl);
	st->nnodes--;
	free(n);
}

/* ---- init --------------------------------------------------------------- */

int fp_state_init(struct fp_state *st)
{
	struct fp_node *root;

	memset(st, 0, sizeof *st);
	if (ht_init(&st->nk) || ht_init(&st->nb) || ht_init(&st->nn) ||
	    ht_init(&st->hk) || ht_init(&st->hb) || !(root = calloc(1, sizeof *root))) {
		fp_state_fini(st);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	st->next_knode = MADE_UP_BASE;
	st->next_kfh = MADE_UP_BASE;
	/* the root is nobody's entry: the kernel holds it from the mount on */
	root->knode = root->bnode = FP_ROOT_ID;
	root->type = S_IFDIR;
	ht_add(&st->nk, &root->kl, fp_mix64(FP_ROOT_ID));
	nb_add(st, root);
	st->nnodes = 1;
	return 0;
}

static void free_node(struct fp_node *n, void *arg)
{
	(void)arg;
	free(n->name);
	free(n);
}

static void free_handle(struct fp_handle *h, void *arg)
{
	(void)arg;
	free(h);
}

void fp_state_fini(struct fp_state *st)
{
	if (st->nk.b) {
		fp_state_foreach_node_locked(st, free_node, NULL);
		pthread_mutex_destroy(&st->lock);
	}
	if (st->hk.b)
		fp_state_foreach_handle_locked(st, free_handle, NULL);
	for (struct fp_lock *l = st->locks, *n; l; l = n) {
		n = l->next;
		free(l);
	}
	for (struct fp_poll *p = st->polls, *n; p; p = n) {
		n = p->next;
		free(p);
	}
	ht_fini(&st->nk);
	ht_fini(&st->nb);
	ht_fini(&st->nn);
	ht_fini(&st->hk);
	ht_fini(&st->hb);
	memset(st, 0, sizeof *st);
}

/* ---- nodes -------------------------------------------------------------- */

int fp_state_entry_locked(struct fp_state *st, uint64_t kparent, const char *name,
			  size_t namelen, struct fuse_entry_out *e, int flags)
{
	uint64_t b = e->nodeid;
	struct fp_node *n;

	if (!b)		/* a negative entry: nothing is handed out */
		return 0;
	n = by_b(st, b);
	if (!n && st->translating && name) {
		/* the first entry of a node the kernel knows from before the
		 * restart: adopt it if it is the same object */
		char tmp[FUSE_NAME_MAX + 1];
		if (namelen < sizeof tmp) {
			memcpy(tmp, name, namelen);
			tmp[namelen] = 0;
			struct fp_node *c = by_name(st, kparent, tmp);
			if (c && c->bgen != st->gen && !(c->flags & FP_NODE_STALE) &&
			    c->ino == e->attr.ino && c->type == (e->attr.mode & S_IFMT)) {
				n = c;
				n->bnode = b;
				n->bgen = st->gen;
				n->flags &= ~IN_NB;
				nb_add(st, n);
			}
		}
	}
	if (!n) {
		n = calloc(1, sizeof *n);
		if (!n)
			return -ENOMEM;
		/* the backend's id unless the kernel already uses it for
		 * something else (possible only after a restart) */
		n->knode = by_k(st, b) ? made_up_knode(st) : b;
		n->bnode = b;
		n->bgen = st->gen;
		ht_add(&st->nk, &n->kl, fp_mix64(n->knode));
		nb_add(st, n);
		st->nnodes++;
	}
	n->klookup++;
	n->blookup++;
	st->klookups++;
	st->blookups++;
	if (name && n->knode != FP_ROOT_ID &&
	    (!(flags & FP_ENTRY_KEEP_NAME) || !n->name))
		set_name(st, n, kparent, name, namelen);
	n->ino = e->attr.ino;
	n->generation = e->generation;
	n->type = e->attr.mode & S_IFMT;
	n->size = e->attr.size;
	e->nodeid = n->knode;
	if (st->journal) {
		struct fp_j_entry je = { kparent, (uint32_t)flags, name ? (uint32_t)namelen : 0,
					 *e };
		jlog(st, FP_J_ENTRY, &je, sizeof je, name, name ? namelen : 0);
	}
	return 0;
}

int fp_state_entry(struct fp_state *st, uint64_t kparent, const char *name,
		   size_t namelen, struct fuse_entry_out *e, int flags)
{
	int r;

	pthread_mutex_lock(&st->lock);
	r = fp_state_entry_locked(st, kparent, name, namelen, e, flags);
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* The kernel's side of a FORGET: its count goes down.  A node at 0 stays
 * until settle_locked, which needs its backend id.  Returns the count to
 * forget on the backend as it is, for a node we do not know before any
 * restart (ids are the backend's then: let it count), else 0. */
static uint64_t kforget_locked(struct fp_state *st, uint64_t knode, uint64_t cnt)
{
	struct fp_node *n = by_k(st, knode);
	uint64_t dec;

	if (!n) {
		st->forgets_unknown++;
		return st->translating ? 0 : cnt;
	}
	dec = cnt < n->klookup ? cnt : n->klookup;
	n->klookup -= dec;
	st->klookups -= dec;
	return 0;
}

/* The backend's side: what it holds beyond the kernel's count is forgotten
 * (*bnode set when that is not 0); a node nobody holds goes. */
static uint64_t settle_locked(struct fp_state *st, uint64_t knode, uint64_t *bnode)
{
	struct fp_node *n = by_k(st, knode);
	uint64_t out = 0;

	if (!n)
		return 0;	/* settled by another FORGET of it already */
	if (n->bgen == st->gen && !(n->flags & FP_NODE_STALE)) {
		if (!n->klookup)
			out = n->blookup;
		else if (n->blookup > n->klookup)
			out = n->blookup - n->klookup;
		n->blookup -= out;
		st->blookups -= out;
		*bnode = n->bnode;
	}
	if (!n->klookup && knode != FP_ROOT_ID) {
		st->blookups -= n->blookup;	/* a stale node's backend count is 0 */
		node_free(st, n);
	}
	return out;
}

static uint64_t forget_locked(struct fp_state *st, uint64_t knode, uint64_t cnt,
			      uint64_t *bnode)
{
	struct fp_j_forget jf = { knode, cnt };
	uint64_t pass;

	jlog(st, FP_J_FORGET, &jf, sizeof jf, NULL, 0);
	pass = kforget_locked(st, knode, cnt);
	if (pass) {
		*bnode = knode;
		return pass;
	}
	return settle_locked(st, knode, bnode);
}

uint64_t fp_state_forget(struct fp_state *st, uint64_t knode, uint64_t n, uint64_t *bnode)
{
	uint64_t out;

	pthread_mutex_lock(&st->lock);
	out = forget_locked(st, knode, n, bnode);
	pthread_mutex_unlock(&st->lock);
	return out;
}

uint32_t fp_state_kforget(struct fp_state *st, int slot, uint64_t unique,
			  const struct fuse_forget_one *one, uint32_t count, uint64_t *pass)
{
	uint32_t gen;

	pthread_mutex_lock(&st->lock);
	if (st->journal)
		fp_journal_append_kforget(st->journal, slot, unique, one, count);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t p = kforget_locked(st, one[i].nodeid, one[i].nlookup);
		if (pass)
			pass[i] = p;
	}
	gen = st->gen;
	pthread_mutex_unlock(&st->lock);
	return gen;
}

uint64_t fp_state_forget_settle(struct fp_state *st, uint64_t knode, uint64_t *bnode)
{
	uint64_t out;

	pthread_mutex_lock(&st->lock);
	out = settle_locked(st, knode, bnode);
	pthread_mutex_unlock(&st->lock);
	return out;
}

uint64_t fp_state_entry_undo(struct fp_state *st, uint64_t knode, uint64_t *bnode)
{
	return fp_state_forget(st, knode, 1, bnode);
}

void fp_state_unlink(struct fp_state *st, uint64_t kparent, const char *name)
{
	struct fp_node *n;

	pthread_mutex_lock(&st->lock);
	n = by_name(st, kparent, name);
	if (n)
		unname(st, n);
	jlog(st, FP_J_UNLINK, &kparent, sizeof kparent, name, strlen(name) + 1);
	pthread_mutex_unlock(&st->lock);
}

void fp_state_rename(struct fp_state *st, uint64_t kolddir, const char *oldname,
		     uint64_t knewdir, const char *newname, uint32_t flags)
{
	struct fp_node *src, *dst;

	pthread_mutex_lock(&st->lock);
	src = by_name(st, kolddir, oldname);
	dst = by_name(st, knewdir, newname);
	if (flags & RENAME_EXCHANGE) {
		if (src)
			unname(st, src);
		if (dst)
			unname(st, dst);
		if (src)
			set_name(st, src, knewdir, newname, strlen(newname));
		if (dst)
			set_name(st, dst, kolddir, oldname, strlen(oldname));
	} else {
		if (dst && dst != src)
			unname(st, dst);
		if (src)
			set_name(st, src, knewdir, newname, strlen(newname));
	}
	if (st->journal) {
		size_t ol = strlen(oldname) + 1, nl = strlen(newname) + 1;
		char names[2 * (FUSE_NAME_MAX + 1)];
		struct fp_j_rename jr = { kolddir, knewdir, flags, (uint32_t)ol };
		if (ol + nl <= sizeof names) {
			memcpy(names, oldname, ol);
			memcpy(names + ol, newname, nl);
			jlog(st, FP_J_RENAME, &jr, sizeof jr, names, ol + nl);
		}
	}
	pthread_mutex_unlock(&st->lock);
}

void fp_state_set_size(struct fp_state *st, uint64_t knode, uint64_t size)
{
	struct fp_node *n;

	pthread_mutex_lock(&st->lock);
	n = by_k(st, knode);
	if (n && n->size != size) {
		struct fp_j_size js = { knode, size, 0, 0 };
		n->size = size;
		jlog(st, FP_J_SIZE, &js, sizeof js, NULL, 0);
	}
	pthread_mutex_unlock(&st->lock);
}

void fp_state_grow_size(struct fp_state *st, uint64_t knode, uint64_t end)
{
	struct fp_node *n;

	pthread_mutex_lock(&st->lock);
	n = by_k(st, knode);
	if (n && n->size < end) {
		struct fp_j_size js = { knode, end, 1, 0 };
		n->size = end;
		jlog(st, FP_J_SIZE, &js, sizeof js, NULL, 0);
	}
	pthread_mutex_unlock(&st->lock);
}

int fp_state_get_size(struct fp_state *st, uint64_t knode, uint64_t *size)
{
	struct fp_node *n;

	pthread_mutex_lock(&st->lock);
	n = by_k(st, knode);
	if (n)
		*size = n->size;
	pthread_mutex_unlock(&st->lock);
	return n ? 0 : -ENOENT;
}

/* ---- handles ------------------------------------------------------------ */

#define H_IN_HB (1u << 31)

static struct fp_handle *h_by_k(struct fp_state *st, uint64_t knode, uint64_t kfh)
{
	uint64_t h = pair_hash(knode, kfh);
	HT_EACH(&st->hk, h, l) {
		struct fp_handle *x = container_of(l, struct fp_handle, kl);
		if (x->knode == knode && x->kfh == kfh)
			return x;
	}
	return NULL;
}

static struct fp_handle *h_by_b(struct fp_state *st, uint64_t knode, uint64_t bfh)
{
	uint64_t h = pair_hash(knode, bfh);
	HT_EACH(&st->hb, h, l) {
		struct fp_handle *x = container_of(l, struct fp_handle, bl);
		if (x->knode == knode && x->bfh == bfh)
			return x;
	}
	return NULL;
}

static void hb_add(struct fp_state *st, struct fp_handle *h)
{
	if ((h->flags & H_IN_HB) && h->bgen == st->gen)
		return;
	h->flags |= H_IN_HB;
	ht_add(&st->hb, &h->bl, pair_hash(h->knode, h->bfh));
}

static void hb_del(struct fp_state *st, struct fp_handle *h)
{
	if ((h->flags & H_IN_HB) && h->bgen == st->gen)
		ht_del(&st->hb, &h->bl);
	h->flags &= ~H_IN_HB;
}

/* Two opens the backend gave the same fh share one entry; it must be
 * reopenable for both, so the access modes merge. */
static uint32_t merge_open_flags(uint32_t a, uint32_t b)
{
	uint32_t acc = ((a & O_ACCMODE) == (b & O_ACCMODE)) ? (a & O_ACCMODE) : O_RDWR;
	return ((a | b) & ~(uint32_t)O_ACCMODE) | acc;
}

int fp_state_open(struct fp_state *st, uint64_t knode, uint64_t *fh, uint32_t flags,
		  uint32_t fuse_open_flags, uint32_t fopen, int dir)
{
	uint64_t bfh = *fh;
	struct fp_handle *h;
	struct fp_node *n;

	pthread_mutex_lock(&st->lock);
	h = h_by_b(st, knode, bfh);
	if (h && !(h->flags & FP_H_BROKEN)) {
		h->refs++;
		h->bopen++;
		h->open_flags = merge_open_flags(h->open_flags, flags);
		*fh = h->kfh;
		goto logged;
	}
	h = calloc(1, sizeof *h);
	if (!h) {
		pthread_mutex_unlock(&st->lock);
		return -ENOMEM;
	}
	h->knode = knode;
	h->bfh = bfh;
	h->kfh = bfh;
	while (h_by_k(st, knode, h->kfh))
		h->kfh = st->next_kfh++;
	h->bgen = st->gen;
	h->open_flags = flags;
	h->fuse_open_flags = fuse_open_flags;
	h->fopen = fopen;
	h->refs = h->bopen = 1;
	h->dir = (uint8_t)!!dir;
	ht_add(&st->hk, &h->kl, pair_hash(knode, h->kfh));
	hb_add(st, h);
	n = by_k(st, knode);
	if (n)
		n->nhandles++;
	st->nhandles++;
	if (dir)
		st->ndirs++;
	*fh = h->kfh;
logged:
	if (st->journal) {
		struct fp_j_open jo = { knode, *fh, flags, fuse_open_flags, fopen, (uint32_t)!!dir };
		jlog(st, FP_J_OPEN, &jo, sizeof jo, NULL, 0);
	}
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static void drop_polls_locked(struct fp_state *st, uint64_t knode, uint64_t kfh)
{
	for (struct fp_poll **pp = &st->polls; *pp;) {
		struct fp_poll *p = *pp;
		if (p->knode == knode && p->kfh == kfh) {
			*pp = p->next;
			free(p);
			st->npolls--;
		} else {
			pp = &p->next;
		}
	}
}

/* The handle (knode, kfh) is gone: its flock locks go with it; POSIX locks
 * belong to the owner, who may hold the file through another handle. */
static void drop_handle_locks_locked(struct fp_state *st, uint64_t knode, uint64_t kfh)
{
	struct fp_handle *other = NULL;
	int looked = 0;

	for (struct fp_lock **pp = &st->locks; *pp;) {
		struct fp_lock *l = *pp;
		if (l->knode != knode || l->kfh != kfh) {
			pp = &l->next;
			continue;
		}
		if (!l->flock) {
			if (!looked) {
				other = fp_state_other_handle_locked(st, knode, NULL);
				looked = 1;
			}
			if (other) {
				l->kfh = other->kfh;
				pp = &l->next;
				continue;
			}
		}
		*pp = l->next;
		free(l);
		st->nlocks--;
	}
}

int fp_state_release(struct fp_state *st, uint64_t knode, uint64_t kfh, uint64_t *bfh)
{
	struct fp_handle *h;
	struct fp_node *n;
	int fwd = 0;

	pthread_mutex_lock(&st->lock);
	h = h_by_k(st, knode, kfh);
	if (st->journal) {
		struct fp_j_pair jp = { knode, kfh };
		jlog(st, FP_J_RELEASE, &jp, sizeof jp, NULL, 0);
	}
	if (!h) {
		pthread_mutex_unlock(&st->lock);
		*bfh = kfh;
		return !st->translating;
	}
	if (h->refs)
		h->refs--;
	if (h->bgen == st->gen && h->bopen && !(h->flags & FP_H_BROKEN) &&
	    (h->refs < h->bopen)) {
		fwd = 1;
		*bfh = h->bfh;
		h->bopen--;
	}
	if (!h->refs) {
		hb_del(st, h);
		ht_del(&st->hk, &h->kl);
		st->nhandles--;
		if (h->dir)
			st->ndirs--;
		n = by_k(st, knode);
		if (n && n->nhandles)
			n->nhandles--;
		drop_polls_locked(st, knode, kfh);
		drop_handle_locks_locked(st, knode, kfh);
		free(h);
	}
	pthread_mutex_unlock(&st->lock);
	return fwd;
}

/* ---- locks -------------------------------------------------------------- */

static int add_lock_locked(struct fp_state *st, uint64_t knode, uint64_t kfh,
			   uint64_t owner, uint64_t start, uint64_t end, uint32_t type,
			   uint32_t pid, int flock)
{
	struct fp_lock *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	*l = (struct fp_lock){ st->locks, knode, kfh, owner, start, end, type, pid,
			       (uint8_t)flock };
	st->locks = l;
	st->nlocks++;
	return 0;
}

void fp_state_lock(struct fp_state *st, uint64_t knode, uint64_t kfh,
		   const struct fuse_lk_in *lk)
{
	int flock = !!(lk->lk_flags & FUSE_LK_FLOCK);
	uint64_t s = lk->lk.start, e = lk->lk.end;

	pthread_mutex_lock(&st->lock);
	/* take the new range out of what this owner (flock: this open file)
	 * held, then add it unless it is an unlock */
	for (struct fp_lock **pp = &st->locks; *pp;) {
		struct fp_lock *l = *pp;
		bool mine = l->knode == knode && l->flock == flock &&
			    (flock ? l->kfh == kfh : l->owner == lk->owner);
		if (!mine || (!flock && (l->end < s || l->start > e))) {
			pp = &l->next;
			continue;
		}
		if (!flock && l->start < s && l->end > e) {
			/* split: the right part becomes a new entry */
			add_lock_locked(st, knode, l->kfh, l->owner, e + 1, l->end, l->type,
					l->pid, 0);
			l->end = s - 1;
			pp = &l->next;
			continue;
		}
		if (!flock && l->start < s) {
			l->end = s - 1;
			pp = &l->next;
			continue;
		}
		if (!flock && l->end > e) {
			l->start = e + 1;
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		free(l);
		st->nlocks--;
	}
	if (lk->lk.type != F_UNLCK)
		add_lock_locked(st, knode, kfh, lk->owner, s, e, lk->lk.type, lk->lk.pid, flock);
	if (st->journal) {
		struct fp_j_lock jl = { knode, kfh, *lk };
		jlog(st, FP_J_LOCK, &jl, sizeof jl, NULL, 0);
	}
	pthread_mutex_unlock(&st->lock);
}

void fp_state_unlock_owner(struct fp_state *st, uint64_t knode, uint64_t owner)
{
	pthread_mutex_lock(&st->lock);
	for (struct fp_lock **pp = &st->locks; *pp;) {
		struct fp_lock *l = *pp;
		if (l->knode == knode && !l->flock && l->owner == owner) {
			*pp = l->next;
			free(l);
			st->nlocks--;
		} else {
			pp = &l->next;
		}
	}
	if (st->journal) {
		struct fp_j_pair jp = { knode, owner };
		jlog(st, FP_J_UNLOCK_OWNER, &jp, sizeof jp, NULL, 0);
	}
	pthread_mutex_unlock(&st->lock);
}

void fp_state_poll(struct fp_state *st, uint64_t knode, uint64_t kfh, uint64_t kh)
{
	struct fp_poll *p;

	pthread_mutex_lock(&st->lock);
	for (p = st->polls; p; p = p->next)
		if (p->kh == kh)
			break;
	if (!p && (p = calloc(1, sizeof *p))) {
		p->next = st->polls;
		st->polls = p;
		st->npolls++;
	}
	if (p) {
		p->kh = kh;
		p->knode = knode;
		p->kfh = kfh;
	}
	if (st->journal) {
		struct fp_j_poll jp = { knode, kfh, kh };
		jlog(st, FP_J_POLL, &jp, sizeof jp, NULL, 0);
	}
	pthread_mutex_unlock(&st->lock);
}

/* ---- translation -------------------------------------------------------- */

int fp_state_k2b_node(struct fp_state *st, uint64_t knode, uint64_t *bnode)
{
	struct fp_node *n;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	n = by_k(st, knode);
	if (!n)
		r = -ENOENT;
	else if (n->flags & FP_NODE_STALE)
		r = -ESTALE;
	else if (n->bgen != st->gen)
		r = -EAGAIN;
	else
		*bnode = n->bnode;
	pthread_mutex_unlock(&st->lock);
	return r;
}

int fp_state_k2b_fh(struct fp_state *st, uint64_t knode, uint64_t kfh, uint64_t *bfh)
{
	struct fp_handle *h;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	h = h_by_k(st, knode, kfh);
	if (!h)
		r = -ENOENT;
	else if (h->flags & FP_H_BROKEN)
		r = -EIO;
	else if (h->bgen != st->gen || !h->bopen)
		r = -EAGAIN;
	else
		*bfh = h->bfh;
	pthread_mutex_unlock(&st->lock);
	return r;
}

uint64_t fp_state_b2k_node(struct fp_state *st, uint64_t bnode)
{
	struct fp_node *n;
	uint64_t k;

	pthread_mutex_lock(&st->lock);
	n = by_b(st, bnode);
	k = n ? n->knode : 0;
	pthread_mutex_unlock(&st->lock);
	return k;
}

/* ---- restart ------------------------------------------------------------ */

static void unresolve(struct fp_node *n, void *arg)
{
	(void)arg;
	n->flags &= ~IN_NB;
	n->blookup = 0;
}

static void unopen(struct fp_handle *h, void *arg)
{
	(void)arg;
	h->flags &= ~H_IN_HB;
	h->bopen = 0;
}

void fp_state_new_generation(struct fp_state *st)
{
	struct fp_node *root;

	pthread_mutex_lock(&st->lock);
	fp_state_foreach_node_locked(st, unresolve, NULL);
	fp_state_foreach_handle_locked(st, unopen, NULL);
	ht_clear(&st->nb);
	ht_clear(&st->hb);
	st->gen++;
	st->translating = 1;
	st->blookups = 0;
	root = by_k(st, FP_ROOT_ID);
	if (root) {
		root->bnode = FP_ROOT_ID;
		root->bgen = st->gen;
		root->flags &= ~FP_NODE_STALE;
		nb_add(st, root);
	}
	pthread_mutex_unlock(&st->lock);
}

struct fp_node *fp_state_node_locked(struct fp_state *st, uint64_t knode)
{
	return by_k(st, knode);
}

struct fp_handle *fp_state_handle_locked(struct fp_state *st, uint64_t knode, uint64_t kfh)
{
	return h_by_k(st, knode, kfh);
}

struct fp_node *fp_state_lookup_name_locked(struct fp_state *st, uint64_t kparent,
					    const char *name)
{
	return by_name(st, kparent, name);
}

struct fp_handle *fp_state_other_handle_locked(struct fp_state *st, uint64_t knode,
					       const struct fp_handle *not)
{
	for (size_t i = 0; i <= st->hk.mask; i++) {
		for (struct fp_hlink *l = st->hk.b[i]; l; l = l->next) {
			struct fp_handle *h = container_of(l, struct fp_handle, kl);
			if (h->knode == knode && h != not && !(h->flags & FP_H_BROKEN))
				return h;
		}
	}
	return NULL;
}

void fp_state_resolved_locked(struct fp_state *st, struct fp_node *n, uint64_t bnode,
			      uint64_t lookups)
{
	nb_del(st, n);
	n->bnode = bnode;
	n->bgen = st->gen;
	n->blookup = lookups;
	st->blookups += lookups;
	nb_add(st, n);
}

void fp_state_stale_locked(struct fp_state *st, struct fp_node *n)
{
	nb_del(st, n);
	st->blookups -= n->bgen == st->gen ? n->blookup : 0;
	n->blookup = 0;
	n->flags |= FP_NODE_STALE;
	unname(st, n);
}

void fp_state_reopened_locked(struct fp_state *st, struct fp_handle *h, uint64_t bfh)
{
	hb_del(st, h);
	h->bfh = bfh;
	h->bgen = st->gen;
	h->bopen = 1;
	h->flags &= ~FP_H_BROKEN;
	hb_add(st, h);
}

void fp_state_foreach_node_locked(struct fp_state *st,
				  void (*fn)(struct fp_node *n, void *arg), void *arg)
{
	for (size_t i = 0; i <= st->nk.mask; i++) {
		for (struct fp_hlink *l = st->nk.b[i], *next; l; l = next) {
			next = l->next;
			fn(container_of(l, struct fp_node, kl), arg);
		}
	}
}

void fp_state_foreach_handle_locked(struct fp_state *st,
				    void (*fn)(struct fp_handle *h, void *arg), void *arg)
{
	for (size_t i = 0; i <= st->hk.mask; i++) {
		for (struct fp_hlink *l = st->hk.b[i], *next; l; l = next) {
			next = l->next;
			fn(container_of(l, struct fp_handle, kl), arg);
		}
	}
}

static void count_stale(struct fp_node *n, void *arg)
{
	if (n->flags & FP_NODE_STALE)
		++*(uint64_t *)arg;
}

void fp_state_counts(struct fp_state *st, struct fp_state_counts *c)
{
	memset(c, 0, sizeof *c);
	pthread_mutex_lock(&st->lock);
	c->gen = st->gen;
	c->nodes = st->nnodes;
	c->handles = st->nhandles;
	c->dirs = st->ndirs;
	c->locks = st->nlocks;
	c->polls = st->npolls;
	c->klookups = st->klookups;
	c->blookups = st->blookups;
	c->forgets_unknown = st->forgets_unknown;
	if (st->gen)
		fp_state_foreach_node_locked(st, count_stale, &c->stale);
	pthread_mutex_unlock(&st->lock);
}

/* ---- journal replay ----------------------------------------------------- */

int fp_state_apply(struct fp_state *st, uint16_t type, const void *pl, size_t len)
{
	uint64_t b;

#define NEED(T) if (len < sizeof(T)) return -EINVAL
	switch (type) {
	case FP_J_ENTRY: {
		const struct fp_j_entry *je = pl;
		struct fuse_entry_out e;
		NEED(struct fp_j_entry);
		if (je->namelen > len - sizeof *je)
			return -EINVAL;
		e = je->e;
		return fp_state_entry(st, je->kparent, je->namelen ? (const char *)(je + 1) : NULL,
				      je->namelen, &e, (int)je->flags);
	}
	case FP_J_FORGET: {
		const struct fp_j_forget *jf = pl;
		NEED(struct fp_j_forget);
		fp_state_forget(st, jf->knode, jf->n, &b);
		return 0;
	}
	case FP_J_NODE: {
		const struct fp_j_nodesnap *ns = pl;
		struct fuse_entry_out e;
		struct fp_node *n;
		int r;
		NEED(struct fp_j_nodesnap);
		if (ns->namelen > len - sizeof *ns || !ns->klookup)
			return -EINVAL;
		e = ns->e;
		r = fp_state_entry(st, ns->kparent, ns->namelen ? (const char *)(ns + 1) : NULL,
				   ns->namelen, &e, 0);
		if (r < 0)
			return r;
		/* the other lookups it holds, on both sides as entries count */
		pthread_mutex_lock(&st->lock);
		n = by_k(st, e.nodeid);
		if (n) {
			n->klookup += ns->klookup - 1;
			n->blookup += ns->klookup - 1;
			st->klookups += ns->klookup - 1;
			st->blookups += ns->klookup - 1;
		}
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	case FP_J_KFORGET: {
		const struct fp_j_kforget *jk = pl;
		const struct fuse_forget_one *one = (const void *)(jk + 1);
		NEED(struct fp_j_kforget);
		if (jk->count > (len - sizeof *jk) / sizeof *one)
			return -EINVAL;
		fp_state_kforget(st, -1, jk->unique, one, jk->count, NULL);
		for (uint32_t i = 0; i < jk->count; i++)
			fp_state_forget_settle(st, one[i].nodeid, &b);
		return 0;
	}
	case FP_J_UNLINK: {
		const char *name = (const char *)pl + sizeof(uint64_t);
		uint64_t parent;
		NEED(uint64_t);
		if (!memchr(name, 0, len - sizeof parent))
			return -EINVAL;
		memcpy(&parent, pl, sizeof parent);
		fp_state_unlink(st, parent, name);
		return 0;
	}
	case FP_J_RENAME: {
		const struct fp_j_rename *jr = pl;
		const char *old = (const char *)(jr + 1), *new;
		NEED(struct fp_j_rename);
		if (jr->oldlen == 0 || jr->oldlen >= len - sizeof *jr || old[jr->oldlen - 1] ||
		    ((const char *)pl)[len - 1])
			return -EINVAL;
		new = old + jr->oldlen;
		fp_state_rename(st, jr->olddir, old, jr->newdir, new, jr->flags);
		return 0;
	}
	case FP_J_SIZE: {
		const struct fp_j_size *js = pl;
		NEED(struct fp_j_size);
		if (js->grow)
			fp_state_grow_size(st, js->knode, js->size);
		else
			fp_state_set_size(st, js->knode, js->size);
		return 0;
	}
	case FP_J_OPEN: {
		const struct fp_j_open *jo = pl;
		uint64_t fh;
		NEED(struct fp_j_open);
		fh = jo->kfh;
		return fp_state_open(st, jo->knode, &fh, jo->flags, jo->fuse_open_flags,
				     jo->fopen, (int)jo->dir);
	}
	case FP_J_RELEASE: {
		const struct fp_j_pair *jp = pl;
		NEED(struct fp_j_pair);
		fp_state_release(st, jp->a, jp->b, &b);
		return 0;
	}
	case FP_J_LOCK: {
		const struct fp_j_lock *jl = pl;
		NEED(struct fp_j_lock);
		fp_state_lock(st, jl->knode, jl->kfh, &jl->lk);
		return 0;
	}
	case FP_J_UNLOCK_OWNER: {
		const struct fp_j_pair *jp = pl;
		NEED(struct fp_j_pair);
		fp_state_unlock_owner(st, jp->a, jp->b);
		return 0;
	}
	case FP_J_POLL: {
		const struct fp_j_poll *jp = pl;
		NEED(struct fp_j_poll);
		fp_state_poll(st, jp->knode, jp->kfh, jp->kh);
		return 0;
	}
	default:
		return 0;	/* not a state record */
	}
#undef NEED
}

/* ---- snapshot (journal compaction) ------------------------------------- */

struct dump {
	fp_state_emit_fn emit;
	void *arg;
	int err;
};

static void dump_node(struct fp_node *n, void *arg)
{
	struct dump *d = arg;
	struct fp_j_nodesnap ns;

	if (d->err || !n->klookup)
		return;
	memset(&ns, 0, sizeof ns);
	ns.kparent = n->name ? n->parent : 0;
	ns.klookup = n->klookup;
	ns.namelen = n->name ? (uint32_t)strlen(n->name) : 0;
	ns.e.nodeid = n->knode;
	ns.e.generation = n->generation;
	ns.e.attr.ino = n->ino;
	ns.e.attr.mode = n->type;
	ns.e.attr.size = n->size;
	d->err = d->emit(d->arg, FP_J_NODE, &ns, sizeof ns, n->name, ns.namelen);
}

static void dump_handle(struct fp_handle *h, void *arg)
{
	struct dump *d = arg;
	struct fp_j_open jo = { h->knode, h->kfh, h->open_flags, h->fuse_open_flags, h->fopen,
				h->dir };

	/* one record per kernel open that shares it */
	for (uint32_t i = 0; i < h->refs && !d->err; i++)
		d->err = d->emit(d->arg, FP_J_OPEN, &jo, sizeof jo, NULL, 0);
}

int fp_state_dump(struct fp_state *st, fp_state_emit_fn emit, void *arg)
{
	struct dump d = { emit, arg, 0 };

	pthread_mutex_lock(&st->lock);
	fp_state_foreach_node_locked(st, dump_node, &d);
	fp_state_foreach_handle_locked(st, dump_handle, &d);
	for (struct fp_lock *l = st->locks; l && !d.err; l = l->next) {
		struct fp_j_lock jl;
		memset(&jl, 0, sizeof jl);
		jl.knode = l->knode;
		jl.kfh = l->kfh;
		jl.lk.fh = l->kfh;
		jl.lk.owner = l->owner;
		jl.lk.lk.start = l->start;
		jl.lk.lk.end = l->end;
		jl.lk.lk.type = l->type;
		jl.lk.lk.pid = l->pid;
		jl.lk.lk_flags = l->flock ? FUSE_LK_FLOCK : 0;
		d.err = emit(arg, FP_J_LOCK, &jl, sizeof jl, NULL, 0);
	}
	for (struct fp_poll *p = st->polls; p && !d.err; p = p->next) {
		struct fp_j_poll jp = { p->knode, p->kfh, p->kh };
		d.err = emit(arg, FP_J_POLL, &jp, sizeof jp, NULL, 0);
	}
	pthread_mutex_unlock(&st->lock);
	return d.err;
}
