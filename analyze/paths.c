/* \summary: rebuilding nodeid -> path from a trace's entry history (rules
 * in paths.h).  Two chained hash tables over the same nodes: by nodeid, and
 * by (parent, name) for the ops that name entries (UNLINK, RENAME). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "decode.h"
#include "opcodes.h"
#include "paths.h"
#include "sbuf.h"

#define ROOT_ID 1
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1u << 1)      /* <linux/fs.h> */
#endif
#define MAX_DEPTH 512

enum {
	N_NAMED = 1u << 0,          /* (parent, name) is in the dentry table */
	N_DELETED = 1u << 1,        /* its name was unlinked or replaced */
	N_ROOT = 1u << 2,
};

struct node {
	uint64_t id, parent;
	char *name;                 /* NULL: never learnt */
	uint64_t nlookup;
	uint32_t flags;
	uint32_t dh;                /* dentry hash, valid with N_NAMED */
	struct node *next_id, *next_d;
	void *user;
};

struct an_paths {
	struct node **ids, **dents;
	size_t cap;                 /* both tables, power of two */
	size_t n, nd;
	an_node_gone_fn *gone;
	void *arg;
};

static struct node *node_get(const struct an_paths *p, uint64_t id)
{
	struct node *n = p->ids[fp_mix64(id) & (p->cap - 1)];

	while (n && n->id != id)
		n = n->next_id;
	return n;
}

static int grow(struct an_paths *p)
{
	size_t cap = p->cap * 2;
	struct node **ids = calloc(cap, sizeof *ids), **dents = calloc(cap, sizeof *dents);

	if (!ids || !dents) {
		free(ids);
		free(dents);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->cap; i++) {
		for (struct node *n = p->ids[i], *next; n; n = next) {
			size_t s = fp_mix64(n->id) & (cap - 1);

			next = n->next_id;
			n->next_id = ids[s];
			ids[s] = n;
		}
		for (struct node *n = p->dents[i], *next; n; n = next) {
			size_t s = n->dh & (cap - 1);

			next = n->next_d;
			n->next_d = dents[s];
			dents[s] = n;
		}
	}
	free(p->ids);
	free(p->dents);
	p->ids = ids;
	p->dents = dents;
	p->cap = cap;
	return 0;
}

static struct node *node_make(struct an_paths *p, uint64_t id)
{
	struct node *n = node_get(p, id);
	size_t s;

	if (n)
		return n;
	if (p->n + 1 > p->cap && grow(p))
		return NULL;
	n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->id = id;
	s = fp_mix64(id) & (p->cap - 1);
	n->next_id = p->ids[s];
	p->ids[s] = n;
	p->n++;
	return n;
}

static struct node *dent_find(const struct an_paths *p, uint64_t parent, const char *name)
{
	uint32_t h = (uint32_t)fp_name_hash(parent, name, strlen(name));

	for (struct node *n = p->dents[h & (p->cap - 1)]; n; n = n->next_d)
		if (n->dh == h && n->parent == parent && !strcmp(n->name, name))
			return n;
	return NULL;
}

static void dent_unlink(struct an_paths *p, struct node *n)
{
	struct node **pp;

	if (!(n->flags & N_NAMED))
		return;
	for (pp = &p->dents[n->dh & (p->cap - 1)]; *pp; pp = &(*pp)->next_d) {
		if (*pp == n) {
			*pp = n->next_d;
			break;
		}
	}
	n->next_d = NULL;
	n->flags &= ~N_NAMED;
	p->nd--;
}

/* Give n the name (parent, name[0..len)); whoever held that name before
 * loses it (we missed its unlink, or a rename replaced it). */
static int dent_link(struct an_paths *p, struct node *n, uint64_t parent, const char *name,
		     size_t len)
{
	struct node *old;
	char *copy;
	size_t s;

	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, len);
	copy[len] = '\0';
	old = dent_find(p, parent, copy);
	if (old && old != n) {
		dent_unlink(p, old);
		old->flags |= N_DELETED;
	}
	dent_unlink(p, n);
	free(n->name);
	n->name = copy;
	n->parent = parent;
	n->dh = (uint32_t)fp_name_hash(parent, copy, len);
	n->flags = (n->flags | N_NAMED) & ~N_DELETED;
	s = n->dh & (p->cap - 1);
	n->next_d = p->dents[s];
	p->dents[s] = n;
	p->nd++;
	return 0;
}

static void node_drop(struct an_paths *p, struct node *n)
{
	struct node **pp;

	if (n->user && p->gone) {
		char path[4096];

		an_paths_resolve(p, n->id, path, sizeof path);
		p->gone(p->arg, n->user, n->id, path);
	}
	dent_unlink(p, n);
	for (pp = &p->ids[fp_mix64(n->id) & (p->cap - 1)]; *pp; pp = &(*pp)->next_id) {
		if (*pp == n) {
			*pp = n->next_id;
			break;
		}
	}
	p->n--;
	free(n->name);
	free(n);
}

struct an_paths *an_paths_new(an_node_gone_fn *gone, void *arg)
{
	struct an_paths *p = calloc(1, sizeof *p);
	struct node *root;

	if (!p)
		return NULL;
	p->cap = 1024;
	p->ids = calloc(p->cap, sizeof *p->ids);
	p->dents = calloc(p->cap, sizeof *p->dents);
	p->gone = gone;
	p->arg = arg;
	if (!p->ids || !p->dents || !(root = node_make(p, ROOT_ID))) {
		free(p->ids);
		free(p->dents);
		free(p);
		return NULL;
	}
	root->flags = N_ROOT;
	return p;
}

void an_paths_set_gone(struct an_paths *p, an_node_gone_fn *gone, void *arg)
{
	p->gone = gone;
	p->arg = arg;
}

void an_paths_release_users(struct an_paths *p)
{
	/* every node with statistics, while the tree is still whole */
	for (size_t i = 0; p->gone && i < p->cap; i++) {
		for (struct node *n = p->ids[i]; n; n = n->next_id) {
			if (n->user) {
				char path[4096];

				an_paths_resolve(p, n->id, path, sizeof path);
				p->gone(p->arg, n->user, n->id, path);
				n->user = NULL;
			}
		}
	}
}

void an_paths_free(struct an_paths *p)
{
	if (!p)
		return;
	an_paths_release_users(p);
	for (size_t i = 0; i < p->cap; i++) {
		for (struct node *n = p->ids[i], *next; n; n = next) {
			next = n->next_id;
			free(n->name);
			free(n);
		}
	}
	free(p->ids);
	free(p->dents);
	free(p);
}

size_t an_paths_count(const struct an_paths *p)
{
	return p->n;
}

void **an_paths_user(struct an_paths *p, uint64_t nodeid)
{
	struct node *n = node_make(p, nodeid);

	return n ? &n->user : NULL;
}

static void put_path(struct an_paths *p, struct sbuf *s, uint64_t id)
{
	const struct node *chain[MAX_DEPTH];
	const struct node *n = node_get(p, id), *top;
	int depth = 0;

	if (id == ROOT_ID) {
		sbuf_puts(s, "/");
		return;
	}
	if (!n || !n->name) {
		sbuf_puts(s, "(unknown)");
		return;
	}
	for (top = n; top && !(top->flags & N_ROOT) && top->name && depth < MAX_DEPTH;
	     top = node_get(p, top->parent))
		chain[depth++] = top;
	if (!top || !(top->flags & N_ROOT))
		sbuf_puts(s, "(unknown)");
	while (depth--) {
		sbuf_puts(s, "/");
		sbuf_puts(s, chain[depth]->name);
	}
	if (n->flags & N_DELETED)
		sbuf_puts(s, " (deleted)");
}

size_t an_paths_resolve(struct an_paths *p, uint64_t nodeid, char *buf, size_t n)
{
	struct sbuf s = sbuf_make(buf, n);

	put_path(p, &s, nodeid);
	return sbuf_finish(&s);
}

/* "DIR/NAME" without doubling the root's slash. */
static void put_entry(struct an_paths *p, struct sbuf *s, uint64_t dir, const char *name)
{
	if (dir != ROOT_ID)
		put_path(p, s, dir);
	sbuf_puts(s, "/");
	sbuf_puts(s, name ? name : "(unknown)");
}

size_t an_paths_describe(struct an_paths *p, const struct fp_trace_exchange *x,
			 const struct fuse_wire_params *wp, char *buf, size_t n)
{
	const struct fuse_op *op = fuse_op_get(x->opcode);
	struct sbuf s = sbuf_make(buf, n);
	struct an_names nm;

	if (!x->nodeid)
		return 0;
	if (!op || !op->nnames) {
		put_path(p, &s, x->nodeid);
		return sbuf_finish(&s);
	}
	an_decode_names(x, wp, &nm);
	switch (x->opcode) {
	case FUSE_RENAME:
	case FUSE_RENAME2:
		put_entry(p, &s, x->nodeid, nm.name);
		sbuf_puts(&s, " -> ");
		if (nm.has_node2)
			put_entry(p, &s, nm.node2, nm.name2);
		else
			sbuf_puts(&s, "(unknown)");
		break;
	case FUSE_LINK:
		if (nm.has_node2)
			put_path(p, &s, nm.node2);
		else
			sbuf_puts(&s, "(unknown)");
		sbuf_puts(&s, " -> ");
		put_entry(p, &s, x->nodeid, nm.name);
		break;
	default:
		put_entry(p, &s, x->nodeid, nm.name);
		break;
	}
	return sbuf_finish(&s);
}

/* The kernel took one more lookup reference on `id`, named (dir, name). */
static int entry_reply(struct an_paths *p, uint64_t id, uint64_t dir, const char *name,
		       size_t len)
{
	struct node *n = node_make(p, id);

	if (!n)
		return -ENOMEM;
	if (n->flags & N_ROOT)
		return 0;
	n->nlookup++;
	return name ? dent_link(p, n, dir, name, len) : 0;
}

static void forget(struct an_paths *p, uint64_t id, uint64_t count)
{
	struct node *n = node_get(p, id);

	if (!n || (n->flags & N_ROOT))
		return;
	/* a node we never saw handed out has an unknown count: the FORGET
	 * still says the kernel is done with it */
	if (n->nlookup > count) {
		n->nlookup -= count;
		return;
	}
	node_drop(p, n);
}

static int do_rename(struct an_paths *p, const struct fp_trace_exchange *x,
		     const struct an_names *nm)
{
	struct node *src, *dst;
	int ret = 0;

	if (!nm->name || !nm->name2 || !nm->has_node2)
		return 0;
	src = dent_find(p, x->nodeid, nm->name);
	dst = dent_find(p, nm->node2, nm->name2);
	if (nm->rename_flags & RENAME_EXCHANGE) {
		if (src && dst && src != dst) {
			ret = dent_link(p, src, nm->node2, nm->name2, strlen(nm->name2));
			if (!ret)
				ret = dent_link(p, dst, x->nodeid, nm->name, strlen(nm->name));
		} else if (src) {
			ret = dent_link(p, src, nm->node2, nm->name2, strlen(nm->name2));
		} else if (dst) {
			ret = dent_link(p, dst, x->nodeid, nm->name, strlen(nm->name));
		}
		return ret;
	}
	if (src)
		return dent_link(p, src, nm->node2, nm->name2, strlen(nm->name2));
	if (dst) {                  /* the source was never named in the trace */
		dent_unlink(p, dst);
		dst->flags |= N_DELETED;
	}
	return 0;
}

int an_paths_apply(struct an_paths *p, const struct fp_trace_exchange *x,
		   const struct fuse_wire_params *wp)
{
	struct an_names nm;
	uint64_t id, count;
	struct node *n;

	switch (x->opcode) {
	case FUSE_FORGET:
		an_decode_names(x, wp, &nm);
		forget(p, x->nodeid, nm.forget_nlookup ? nm.forget_nlookup : 1);
		return 0;
	case FUSE_BATCH_FORGET:
		for (uint32_t i = 0; an_decode_forget_one(x, i, &id, &count); i++)
			forget(p, id, count ? count : 1);
		return 0;
	default:
		break;
	}
	if (x->error || !x->reply || (x->flags & FP_TRACE_F_PENDING))
		return 0;
	switch (x->opcode) {
	case FUSE_LOOKUP:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_CREATE:
	case FUSE_LINK:
		if (!an_decode_new_node(x, &id))
			return 0;
		an_decode_names(x, wp, &nm);
		return entry_reply(p, id, x->nodeid, nm.name, nm.name ? strlen(nm.name) : 0);
	case FUSE_TMPFILE:          /* a node born without a name */
		if (!an_decode_new_node(x, &id))
			return 0;
		n = node_make(p, id);
		if (!n)
			return -ENOMEM;
		n->nlookup++;
		if (!n->name && !(n->name = strdup("#tmpfile")))
			return -ENOMEM;
		n->parent = x->nodeid;
		n->flags |= N_DELETED;
		return 0;
	case FUSE_READDIRPLUS: {
		uint32_t off = 0, len;
		const char *name;

		while (an_decode_direntplus(x, &off, &id, &name, &len)) {
			int ret;

			if (!id || (len == 1 && name[0] == '.') ||
			    (len == 2 && name[0] == '.' && name[1] == '.'))
				continue;
			ret = entry_reply(p, id, x->nodeid, name, len);
			if (ret)
				return ret;
		}
		return 0;
	}
	case FUSE_UNLINK:
	case FUSE_RMDIR:
		an_decode_names(x, wp, &nm);
		if (nm.name && (n = dent_find(p, x->nodeid, nm.name))) {
			dent_unlink(p, n);
			n->flags |= N_DELETED;
		}
		return 0;
	case FUSE_RENAME:
	case FUSE_RENAME2:
		an_decode_names(x, wp, &nm);
		return do_rename(p, x, &nm);
	default:
		return 0;
	}
}
