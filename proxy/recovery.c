/* \summary: backend restart (--restart): detect, restart, check INIT,
 * rebuild, re-inject, judge; and lazy re-resolution of nodes and handles.
 *
 * Runs in the forwarder's reader thread, which keeps dispatching backend
 * messages while it waits for its own requests (fwd_call pumps).  Workers
 * keep reading the kernel meanwhile; their requests wait in the pending
 * table (FP_PR_QUEUED) until the new backend has them.  The gate (a
 * rwlock workers read-lock around sending) is write-locked only to swap
 * backends and to re-inject, so no request can reach a backend with ids
 * of another generation.
 *
 * Nodes and handles are rebuilt lazily: a kernel nodeid gets a backend
 * nodeid the first time a request needs it (LOOKUP of its name, down from
 * the root), a handle is reopened the first time it is used.  Locks are
 * re-taken at once (before any SETLKW is replayed), poll waiters are woken
 * at once.  doc/recovery.md has every rule.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "forward_i.h"
#include "recovery.h"
#include "deadline.h"
#include "transport.h"
#include "opcodes.h"
#include "format.h"
#include "names.h"
#include "trace.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Capabilities whose loss after a restart changes nothing the kernel
 * relies on (performance hints, or ways of talking the kernel keeps). */
#define INIT_HARMLESS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_AUTO_INVAL_DATA | \
		       FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | \
		       FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS | \
		       FUSE_INIT_EXT | FUSE_HAS_RESEND | FUSE_NO_OPEN_SUPPORT | \
		       FUSE_NO_OPENDIR_SUPPORT)

#define MAX_DEPTH 4096          /* directory levels re-resolved at most */

/* ---- logging ------------------------------------------------------------ */

static void rec_log(struct fwd *f, int always, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rec_log(struct fwd *f, int always, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (always || f->o.verbose)
		fprintf(stderr, "fuseproxy: recovery: %s\n", msg);
	if (f->s->trace)
		fp_trace_event(f->s->trace, FP_EV_BACKEND_RESTART, "%s", msg);
}

#define STAT_INC(f, field) do {                 \
		pthread_mutex_lock(&(f)->stats_lock);   \
		(f)->cur.field++;                       \
		pthread_mutex_unlock(&(f)->stats_lock); \
	} while (0)

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* ---- our own requests to the backend ------------------------------------ */

struct msg_hdr {
	struct fuse_in_header h;
	unsigned char arg[64];
};

static void hdr(struct fuse_in_header *h, uint32_t opcode, uint64_t bnode, size_t len)
{
	memset(h, 0, sizeof *h);
	h->len = (uint32_t)len;
	h->opcode = opcode;
	h->nodeid = bnode;
}

/* A reply: its error, or 0 with the payload at *pl. */
static int reply_of(ssize_t n, void *buf, void **pl, size_t *plen)
{
	struct fuse_out_header *oh = buf;

	*pl = NULL;
	*plen = 0;
	if (n < 0)
		return (int)n;
	if (oh->error)
		return oh->error;
	*pl = (char *)buf + sizeof *oh;
	*plen = (size_t)n - sizeof *oh;
	return 0;
}

static void b_forget(struct fwd *f, uint64_t bnode, uint64_t n)
{
	struct {
		struct fuse_in_header h;
		struct fuse_forget_in i;
	} m;

	if (!n || !bnode)
		return;
	hdr(&m.h, FUSE_FORGET, bnode, sizeof m);
	m.i.nlookup = n;
	fwd_send_own(f, &m, sizeof m);
}

/* LOOKUP: 0 and *e, -ENOENT (also a negative entry), or another error. */
static int b_lookup(struct fwd *f, uint64_t bparent, const char *name,
		    struct fuse_entry_out *e)
{
	struct fuse_in_header h;
	size_t nl = strlen(name) + 1;
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)name, nl } };
	char buf[sizeof(struct fuse_out_header) + sizeof *e];
	void *pl = NULL;
	size_t plen = 0;
	int r;

	hdr(&h, FUSE_LOOKUP, bparent, sizeof h + nl);
	r = reply_of(fwd_call(f, iov, 2, buf, sizeof buf), buf, &pl, &plen);
	if (r < 0)
		return r;
	if (plen < sizeof *e)
		return -EPROTO;
	memcpy(e, pl, sizeof *e);
	return e->nodeid ? 0 : -ENOENT;
}

static int b_getattr(struct fwd *f, uint64_t bnode, struct fuse_attr *a)
{
	struct {
		struct fuse_in_header h;
		struct fuse_getattr_in g;
	} m;
	struct iovec iov = { &m, sizeof m };
	char buf[sizeof(struct fuse_out_header) + sizeof(struct fuse_attr_out)];
	void *pl = NULL;
	size_t plen = 0;
	int r;

	memset(&m, 0, sizeof m);
	hdr(&m.h, FUSE_GETATTR, bnode, sizeof m);
	r = reply_of(fwd_call(f, &iov, 1, buf, sizeof buf), buf, &pl, &plen);
	if (r < 0)
		return r;
	if (plen < sizeof(struct fuse_attr_out))
		return -EPROTO;
	*a = ((struct fuse_attr_out *)pl)->attr;
	return 0;
}

static int b_open(struct fwd *f, uint64_t bnode, uint32_t flags, uint32_t oflags, int dir,
		  struct fuse_open_out *o)
{
	struct {
		struct fuse_in_header h;
		struct fuse_open_in i;
	} m;
	struct iovec iov = { &m, sizeof m };
	char buf[sizeof(struct fuse_out_header) + sizeof *o];
	void *pl = NULL;
	size_t plen = 0;
	int r;

	hdr(&m.h, dir ? FUSE_OPENDIR : FUSE_OPEN, bnode, sizeof m);
	/* reopening must not create, fail on existence or truncate again */
	m.i.flags = flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY);
	m.i.open_flags = oflags;
	r = reply_of(fwd_call(f, &iov, 1, buf, sizeof buf), buf, &pl, &plen);
	if (r < 0)
		return r;
	if (plen < sizeof *o)
		return -EPROTO;
	*o = *(struct fuse_open_out *)pl;
	return 0;
}

static void b_release(struct fwd *f, uint64_t bnode, uint64_t bfh, int dir)
{
	struct {
		struct fuse_in_header h;
		struct fuse_release_in r;
	} m;

	memset(&m, 0, sizeof m);
	hdr(&m.h, dir ? FUSE_RELEASEDIR : FUSE_RELEASE, bnode, sizeof m);
	m.r.fh = bfh;
	fwd_send_own(f, &m, sizeof m);
}

/* READ into buf (f->callbuf-sized); returns bytes or -errno. */
static ssize_t b_read(struct fwd *f, uint64_t bnode, uint64_t bfh, uint64_t off,
		      uint32_t size, void *buf, size_t cap)
{
	struct {
		struct fuse_in_header h;
		struct fuse_read_in r;
	} m;
	struct iovec iov = { &m, sizeof m };
	void *pl = NULL;
	size_t plen = 0;
	int r;

	memset(&m, 0, sizeof m);
	hdr(&m.h, FUSE_READ, bnode, sizeof m);
	m.r.fh = bfh;
	m.r.offset = off;
	m.r.size = size;
	m.r.flags = O_RDONLY;
	r = reply_of(fwd_call(f, &iov, 1, buf, cap), buf, &pl, &plen);
	if (r < 0)
		return r;
	memmove(buf, pl, plen);
	return (ssize_t)plen;
}

static ssize_t b_readlink(struct fwd *f, uint64_t bnode, char *out, size_t cap)
{
	struct fuse_in_header h;
	struct iovec iov = { &h, sizeof h };
	char buf[sizeof(struct fuse_out_header) + FUSE_READLINK_MAX + 1];
	void *pl = NULL;
	size_t plen = 0;
	int r;

	hdr(&h, FUSE_READLINK, bnode, sizeof h);
	r = reply_of(fwd_call(f, &iov, 1, buf, sizeof buf), buf, &pl, &plen);
	if (r < 0)
		return r;
	if (plen >= cap)
		return -ENAMETOOLONG;
	memcpy(out, pl, plen);
	out[plen] = 0;
	return (ssize_t)plen;
}

/* ---- lazy re-resolution ------------------------------------------------- */

/* The kernel's dentry for (kparent, name) now leads elsewhere: tell it to
 * drop it (from a thread of its own: the kernel may hold the directory
 * for a request we are serving). */
static void inval_entry(struct fwd *f, uint64_t kparent, const char *name)
{
	struct {
		struct fuse_out_header oh;
		struct fuse_notify_inval_entry_out e;
		char name[FUSE_NAME_MAX + 1];
	} m;
	size_t nl = strlen(name);

	if (!kparent || nl > FUSE_NAME_MAX)
		return;
	memset(&m, 0, sizeof m);
	m.oh.len = (uint32_t)(sizeof m.oh + sizeof m.e + nl + 1);
	m.oh.error = FUSE_NOTIFY_INVAL_ENTRY;
	m.e.parent = kparent;
	m.e.namelen = (uint32_t)nl;
	memcpy(m.name, name, nl + 1);
	fwd_notify_later(f, &m, m.oh.len);
}

static void mark_stale(struct fwd *f, uint64_t knode, const char *why)
{
	char name[FUSE_NAME_MAX + 1] = "";
	uint64_t parent = 0;
	struct fp_node *n;

	pthread_mutex_lock(&f->st.lock);
	n = fp_state_node_locked(&f->st, knode);
	if (n && !(n->flags & FP_NODE_STALE)) {
		if (n->name) {
			parent = n->parent;
			snprintf(name, sizeof name, "%s", n->name);
		}
		fp_state_stale_locked(&f->st, n);
	} else {
		n = NULL;
	}
	pthread_mutex_unlock(&f->st.lock);
	if (!n)
		return;
	pthread_mutex_lock(&f->stats_lock);
	f->cur.stale++;
	pthread_mutex_unlock(&f->stats_lock);
	rec_log(f, 0, "node %llu (\"%s\") is stale: %s; its requests get ESTALE",
		(unsigned long long)knode, name, why);
	if (parent)
		inval_entry(f, parent, name);
}

static int resolve_locked(struct fwd *f, uint64_t knode, uint64_t *bnode, int depth)
{
	char name[FUSE_NAME_MAX + 1];
	uint64_t parent, ino, gen, oldb, pb;
	struct fuse_entry_out e;
	struct fp_node *n;
	uint32_t type;
	int r;

	pthread_mutex_lock(&f->st.lock);
	n = fp_state_node_locked(&f->st, knode);
	if (!n || (n->flags & FP_NODE_STALE)) {
		pthread_mutex_unlock(&f->st.lock);
		return -ESTALE;
	}
	if (n->bgen == f->st.gen) {
		*bnode = n->bnode;
		pthread_mutex_unlock(&f->st.lock);
		return 0;
	}
	if (!n->name || depth > MAX_DEPTH) {
		pthread_mutex_unlock(&f->st.lock);
		mark_stale(f, knode, "it has no name to look it up by (unlinked while in use)");
		return -ESTALE;
	}
	parent = n->parent;
	snprintf(name, sizeof name, "%s", n->name);
	ino = n->ino;
	gen = n->generation;
	type = n->type;
	oldb = n->bnode;
	pthread_mutex_unlock(&f->st.lock);

	r = resolve_locked(f, parent, &pb, depth + 1);
	if (r == -ESTALE)
		mark_stale(f, knode, "its directory is stale");
	if (r < 0)
		return r;
	r = b_lookup(f, pb, name, &e);
	if (r == -ENOENT || r == -ESTALE || r == -ENOTDIR) {
		mark_stale(f, knode, "the new backend has nothing under its name");
		return -ESTALE;
	}
	if (r < 0)
		return r == -ERESTART ? r : -EIO;
	/* the same object?  ino and type; generation only where the backend
	 * hands out the same nodeid again (a generation belongs to a nodeid) */
	if ((ino && e.attr.ino != ino) || (e.attr.mode & S_IFMT) != type ||
	    (e.nodeid == oldb && e.generation != gen)) {
		char why[160];
		b_forget(f, e.nodeid, 1);
		snprintf(why, sizeof why, "the new backend has another object under its name "
			 "(ino %llu, was %llu)", (unsigned long long)e.attr.ino,
			 (unsigned long long)ino);
		mark_stale(f, knode, why);
		return -ESTALE;
	}
	pthread_mutex_lock(&f->st.lock);
	n = fp_state_node_locked(&f->st, knode);
	if (!n || n->bgen == f->st.gen) {
		/* forgotten or resolved meanwhile: this lookup is one too many */
		pthread_mutex_unlock(&f->st.lock);
		b_forget(f, e.nodeid, 1);
		if (!n)
			return -ESTALE;
		pthread_mutex_lock(&f->st.lock);
		*bnode = n->bnode;
		pthread_mutex_unlock(&f->st.lock);
		return 0;
	}
	fp_state_resolved_locked(&f->st, n, e.nodeid, 1);
	n->size = e.attr.size;
	*bnode = e.nodeid;
	pthread_mutex_unlock(&f->st.lock);
	pthread_mutex_lock(&f->stats_lock);
	f->cur.resolved++;
	pthread_mutex_unlock(&f->stats_lock);
	if (f->o.verbose > 1)
		rec_log(f, 0, "node %llu (\"%s\") -> backend node %llu",
			(unsigned long long)knode, name, (unsigned long long)e.nodeid);
	return 0;
}

int fwd_resolve(struct fwd *f, uint64_t knode, uint64_t *bnode)
{
	int r = fp_state_k2b_node(&f->st, knode, bnode);

	if (r == -ENOENT)
		return -ESTALE;		/* a node we never saw handed out */
	if (r != -EAGAIN)
		return r;
	/* workers leave re-resolution to the recovery while it runs */
	if (!fwd_is_reader(f) && atomic_load(&f->recovering))
		return -ERESTART;
	pthread_mutex_lock(&f->resolve_lock);
	r = resolve_locked(f, knode, bnode, 0);
	pthread_mutex_unlock(&f->resolve_lock);
	return r;
}

int fwd_reopen(struct fwd *f, uint64_t knode, uint64_t kfh, uint64_t *bfh)
{
	uint32_t flags, oflags, fopen;
	struct fuse_open_out o;
	struct fp_handle *h;
	uint64_t bnode;
	int r, dir;

	r = fp_state_k2b_fh(&f->st, knode, kfh, bfh);
	if (r == -ENOENT) {
		/* not from an OPEN we saw (NO_OPEN_SUPPORT's fh 0): as it is */
		*bfh = kfh;
		return 0;
	}
	if (r != -EAGAIN)
		return r;
	if (!fwd_is_reader(f) && atomic_load(&f->recovering))
		return -ERESTART;
	pthread_mutex_lock(&f->resolve_lock);
	pthread_mutex_lock(&f->st.lock);
	h = fp_state_handle_locked(&f->st, knode, kfh);
	if (!h) {
		pthread_mutex_unlock(&f->st.lock);
		pthread_mutex_unlock(&f->resolve_lock);
		return -EIO;
	}
	if (h->bgen == f->st.gen && h->bopen) {	/* reopened meanwhile */
		*bfh = h->bfh;
		pthread_mutex_unlock(&f->st.lock);
		pthread_mutex_unlock(&f->resolve_lock);
		return 0;
	}
	flags = h->open_flags;
	oflags = h->fuse_open_flags;
	fopen = h->fopen;
	dir = h->dir;
	pthread_mutex_unlock(&f->st.lock);

	r = resolve_locked(f, knode, &bnode, 0);
	if (!r) {
		r = b_open(f, bnode, flags, oflags, dir, &o);
		if (r < 0 && r != -ERESTART) {
			rec_log(f, 1, "reopening handle %llu of node %llu (flags %#o) failed: %s; "
				"its requests get EIO", (unsigned long long)kfh,
				(unsigned long long)knode, flags, strerror(-r));
			r = -EIO;
		}
	}
	pthread_mutex_lock(&f->st.lock);
	h = fp_state_handle_locked(&f->st, knode, kfh);
	if (r == -EIO || r == -ESTALE) {
		if (h)
			h->flags |= FP_H_BROKEN;
	} else if (!r && !h) {
		pthread_mutex_unlock(&f->st.lock);
		b_release(f, bnode, o.fh, dir);	/* released meanwhile */
		pthread_mutex_unlock(&f->resolve_lock);
		return -EIO;
	} else if (!r) {
		fp_state_reopened_locked(&f->st, h, o.fh);
		*bfh = o.fh;
	}
	pthread_mutex_unlock(&f->st.lock);
	pthread_mutex_unlock(&f->resolve_lock);
	pthread_mutex_lock(&f->stats_lock);
	if (!r)
		f->cur.reopened++;
	else if (r != -ERESTART)
		f->cur.reopen_failed++;
	pthread_mutex_unlock(&f->stats_lock);
	if (!r && (o.open_flags & ~(uint32_t)FOPEN_KEEP_CACHE) !=
		  (fopen & ~(uint32_t)FOPEN_KEEP_CACHE))
		rec_log(f, 0, "handle %llu of node %llu reopened with FOPEN flags %#x, the "
			"kernel has %#x (kept: the kernel's file cannot change)",
			(unsigned long long)kfh, (unsigned long long)knode, o.open_flags, fopen);
	return r;
}

/* ---- the restart itself ------------------------------------------------- */

static void fail_call(struct fp_pending *p, void *arg)
{
	uint64_t **u = arg;
	if (p->call || !p->chan)
		*(*u)++ = p->unique;
}

/* Our own requests to the dead backend: wake their waiters with
 * -ERESTART, drop the fire-and-forget ones. */
static void fail_own(struct fwd *f)
{
	size_t cap = f->pt.count + 16;
	uint64_t *list = malloc(cap * sizeof *list), *end = list;

	if (!list)
		return;
	pthread_mutex_lock(&f->pt.lock);
	if (f->pt.count + 16 > cap) {	/* grew meanwhile: take what fits */
		pthread_mutex_unlock(&f->pt.lock);
		free(list);
		cap = f->pt.count * 2 + 64;
		list = end = malloc(cap * sizeof *list);
		if (!list)
			return;
		pthread_mutex_lock(&f->pt.lock);
	}
	for (uint32_t i = 0; i < f->pt.nbucket; i++)
		for (struct fp_pending *p = f->pt.bucket[i]; p && (size_t)(end - list) < cap;
		     p = p->next)
			fail_call(p, &end);
	pthread_mutex_unlock(&f->pt.lock);
	for (uint64_t *u = list; u < end; u++) {
		struct fp_pending *p = fp_pending_take(&f->pt, *u);
		if (!p)
			continue;
		if (p->call) {
			pthread_mutex_lock(&f->call_lock);
			p->call->err = -ERESTART;
			p->call->done = 1;
			pthread_cond_broadcast(&p->call->cond);
			pthread_mutex_unlock(&f->call_lock);
		}
		fp_pending_release(&f->pt, p);
	}
	free(list);
}

/* Every kernel request still pending waits for the new backend, and
 * counts towards this recovery's time (SETLKW may wait for another
 * process's unlock: it does not). */
static void mark_one(struct fp_pending *p, void *arg)
{
	struct fwd *f = arg;

	if (!p->chan)
		return;
	p->rflags |= FP_PR_QUEUED;
	if (!(p->rflags & FP_PR_RECOVERY) && p->in.opcode != FUSE_SETLKW) {
		p->rflags |= FP_PR_RECOVERY;
		atomic_fetch_add(&f->rec_left, 1);
	}
}

/* --restart=N: N restarts a minute at most. */
static int rate_ok(struct fwd *f)
{
	int cap = f->o.restart_per_min;
	uint64_t now = fp_now_ns();

	if (cap <= 0)
		return 1;
	if (!f->restart_times && !(f->restart_times = calloc((size_t)cap, sizeof(uint64_t))))
		return 1;
	uint64_t oldest = f->restart_times[f->nrestarts % (uint32_t)cap];
	if (f->nrestarts >= (uint32_t)cap && now - oldest < 60ull * 1000000000u)
		return 0;
	f->restart_times[f->nrestarts % (uint32_t)cap] = now;
	return 1;
}

/* Does the new backend's INIT answer fit what the kernel accepted? */
static int init_conflict(struct fwd *f, const struct fuse_init_out *bi,
			 const struct fp_daemon *nd, char *why, size_t n)
{
	uint64_t old = f->binit.flags, now = bi->flags, missing;

	if (f->binit.flags & FUSE_INIT_EXT)
		old |= (uint64_t)f->binit.flags2 << 32;
	if (bi->flags & FUSE_INIT_EXT)
		now |= (uint64_t)bi->flags2 << 32;
	if (bi->minor != f->binit.minor) {
		snprintf(why, n, "it speaks protocol 7.%u, its predecessor 7.%u", bi->minor,
			 f->binit.minor);
		return 1;
	}
	if (bi->max_write < f->s->init.max_write) {
		snprintf(why, n, "its max_write %u is below the %u the kernel uses",
			 bi->max_write, f->s->init.max_write);
		return 1;
	}
	if (nd->max_msg < (size_t)f->s->init.max_write + 4096) {
		snprintf(why, n, "its socket carries at most %zu bytes", nd->max_msg);
		return 1;
	}
	missing = f->s->wp.flags & old & ~now & ~(uint64_t)INIT_HARMLESS;
	if (missing) {
		char fb[160];
		fuse_flags_format(fb, sizeof fb, fuse_init_flag_names, missing);
		/* the return value used: a cut message is fine */
		return snprintf(why, n, "it no longer offers %s, which the kernel relies on",
				fb) >= 0;
	}
	return 0;
}

/* Locks the kernel believes held: take them again before anything else
 * (a replayed SETLKW must not get a lock someone holds). */
static int retake_locks(struct fwd *f)
{
	struct fp_lock *copy = NULL, *l;
	size_t n = 0, i;
	int r = 0;

	pthread_mutex_lock(&f->st.lock);
	for (l = f->st.locks; l; l = l->next)
		n++;
	if (n && (copy = calloc(n, sizeof *copy))) {
		i = 0;
		for (l = f->st.locks; l; l = l->next)
			copy[i++] = *l;
	}
	pthread_mutex_unlock(&f->st.lock);
	if (n && !copy)
		return -ENOMEM;
	for (i = 0; i < n && !r; i++) {
		struct {
			struct fuse_in_header h;
			struct fuse_lk_in lk;
		} m;
		struct iovec iov = { &m, sizeof m };
		char buf[sizeof(struct fuse_out_header) + 64];
		uint64_t bnode, bfh;
		void *pl = NULL;
		size_t plen = 0;

		l = &copy[i];
		r = fwd_reopen(f, l->knode, l->kfh, &bfh);
		if (!r)
			r = fwd_resolve(f, l->knode, &bnode);
		if (!r) {
			memset(&m, 0, sizeof m);
			hdr(&m.h, FUSE_SETLK, bnode, sizeof m);
			m.h.pid = l->pid;
			m.lk.fh = bfh;
			m.lk.owner = l->owner;
			m.lk.lk = (struct fuse_file_lock){ l->start, l->end, l->type, l->pid };
			m.lk.lk_flags = l->flock ? FUSE_LK_FLOCK : 0;
			r = reply_of(fwd_call(f, &iov, 1, buf, sizeof buf), buf, &pl, &plen);
		}
		if (r == -ERESTART)
			break;
		pthread_mutex_lock(&f->stats_lock);
		if (r)
			f->cur.locks_lost++;
		else
			f->cur.locks++;
		pthread_mutex_unlock(&f->stats_lock);
		rec_log(f, r != 0, "%s lock %s %llu-%llu of owner %#llx on node %llu%s%s",
			l->flock ? "flock" : "POSIX", l->type == F_WRLCK ? "write" : "read",
			(unsigned long long)l->start, (unsigned long long)l->end,
			(unsigned long long)l->owner, (unsigned long long)l->knode,
			r ? ": could not be re-taken: " : " re-taken", r ? strerror(-r) : "");
		r = 0;
	}
	free(copy);
	return r == -ERESTART ? r : 0;
}

/* Poll waiters registered with the dead backend: wake them, so they poll
 * again and register with the new one. */
static void wake_polls(struct fwd *f)
{
	uint64_t khs[256];
	size_t n = 0;

	pthread_mutex_lock(&f->st.lock);
	for (struct fp_poll *p = f->st.polls; p && n < 256; p = p->next)
		khs[n++] = p->kh;
	pthread_mutex_unlock(&f->st.lock);
	for (size_t i = 0; i < n; i++) {
		struct {
			struct fuse_out_header oh;
			struct fuse_notify_poll_wakeup_out w;
		} m = { { sizeof m, FUSE_NOTIFY_POLL, 0 }, { khs[i] } };
		if (f->s->notify_chan)
			fp_chan_send(f->s->notify_chan, &m, sizeof m);
	}
	if (n) {
		f->cur.polls = (uint32_t)n;
		rec_log(f, 0, "woke %zu poll waiters (NOTIFY_POLL)", n);
	}
}

/* ---- judging and re-injecting ------------------------------------------- */

static const uint8_t replay_rule[FUSE_OP_MAX] = {
	[FUSE_MKDIR] = FWD_MAKE, [FUSE_MKNOD] = FWD_MAKE, [FUSE_SYMLINK] = FWD_MAKE,
	[FUSE_LINK] = FWD_MAKE, [FUSE_CREATE] = FWD_MAKE,
	[FUSE_UNLINK] = FWD_REMOVE, [FUSE_RMDIR] = FWD_REMOVE,
	[FUSE_RENAME] = FWD_RENAME, [FUSE_RENAME2] = FWD_RENAME,
	[FUSE_WRITE] = FWD_WRITE, [FUSE_SETLKW] = FWD_SETLKW,
	[FUSE_SETXATTR] = FWD_XATTR_CREATE,
	[FUSE_IOCTL] = FWD_FAIL,
};

static enum fwd_replay rule_of(struct fp_pending *p, const struct fuse_req_view *v)
{
	enum fwd_replay r;

	if (!fuse_op_get(p->in.opcode) || p->in.opcode >= FUSE_OP_MAX)
		return FWD_FAIL;
	r = (enum fwd_replay)replay_rule[p->in.opcode];
	/* the conditions under which these are idempotent after all */
	if (r == FWD_WRITE && !p->has_aux)
		return FWD_RESEND;
	if (r == FWD_XATTR_CREATE &&
	    !(((const struct fuse_setxattr_in *)v->fixed)->flags & XATTR_CREATE))
		return FWD_RESEND;
	return r;
}

/* Answer p with a reply message we have (an own request's reply in buf). */
static void deliver(struct fwd *f, struct fp_pending *p, void *buf, size_t len)
{
	struct fuse_out_header *oh = buf;
	uint64_t unique = p->unique;

	oh->unique = unique;
	oh->len = (uint32_t)len;
	p = fp_pending_take(&f->pt, unique);
	if (p)
		fwd_complete(f, p, buf, len, 0);
}

static void deliver_err(struct fwd *f, struct fp_pending *p, int err, const char *why)
{
	uint64_t unique = p->unique;

	p = fp_pending_take(&f->pt, unique);
	if (p)
		fwd_answer(f, p, err, why);
}

static void verdict(struct fwd *f, struct fp_pending *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verdict(struct fwd *f, struct fp_pending *p, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rec_log(f, 0, "%s #%llu node %llu%s%s%s: %s", fuse_opname(p->in.opcode),
		(unsigned long long)p->unique, (unsigned long long)p->in.nodeid,
		p->name ? " \"" : "", p->name ? p->name : "", p->name ? "\"" : "", msg);
}

static int perms_subset(uint32_t have, uint32_t asked)
{
	return !((have & 07777) & ~(asked & 07777));
}

/* Is the object the backend has under the name the one p would have made? */
static int made_by_us(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v,
		      const struct fuse_entry_out *e, char *why, size_t n)
{
	const struct fuse_attr *a = &e->attr;
	uint32_t type = a->mode & S_IFMT;

	switch (p->in.opcode) {
	case FUSE_MKDIR: {
		const struct fuse_mkdir_in *mi = v->fixed;
		if (type != S_IFDIR || !perms_subset(a->mode, mi->mode)) {
			snprintf(why, n, "mode %o, asked for a directory %o", a->mode, mi->mode);
			return 0;
		}
		return 1;
	}
	case FUSE_MKNOD: {
		const struct fuse_mknod_in *mi = v->fixed;
		if (type != (mi->mode & S_IFMT) || !perms_subset(a->mode, mi->mode) ||
		    ((S_ISCHR(mi->mode) || S_ISBLK(mi->mode)) && a->rdev != mi->rdev)) {
			snprintf(why, n, "mode %o rdev %#x, asked for %o rdev %#x", a->mode,
				 a->rdev, mi->mode, mi->rdev);
			return 0;
		}
		return 1;
	}
	case FUSE_SYMLINK: {
		char target[FUSE_READLINK_MAX + 1];
		ssize_t r;
		if (type != S_IFLNK) {
			snprintf(why, n, "not a symlink (mode %o)", a->mode);
			return 0;
		}
		r = b_readlink(f, e->nodeid, target, sizeof target);
		if (r < 0 || !v->name2 || strcmp(target, v->name2)) {
			snprintf(why, n, "it points elsewhere");
			return 0;
		}
		return 1;
	}
	case FUSE_LINK: {
		const struct fuse_link_in *li = v->fixed;
		uint64_t ino = 0;
		pthread_mutex_lock(&f->st.lock);
		struct fp_node *o = fp_state_node_locked(&f->st, li->oldnodeid);
		if (o)
			ino = o->ino;
		pthread_mutex_unlock(&f->st.lock);
		if (!ino || a->ino != ino) {
			snprintf(why, n, "ino %llu, the link target is %llu",
				 (unsigned long long)a->ino, (unsigned long long)ino);
			return 0;
		}
		return 1;
	}
	case FUSE_CREATE: {
		const struct fuse_create_in *ci = v->fixed;
		/* without O_EXCL any regular file there is what open(2) wants
		 * (backends relying on the kernel's LOOKUP first may still say
		 * EEXIST to a replay) */
		if (!(ci->flags & O_EXCL) && type == S_IFREG)
			return 1;
		if (type != S_IFREG || a->size || !perms_subset(a->mode, ci->mode)) {
			snprintf(why, n, "mode %o size %llu, asked for an empty file %o", a->mode,
				 (unsigned long long)a->size, ci->mode);
			return 0;
		}
		return 1;
	}
	default:
		snprintf(why, n, "cannot tell");
		return 0;
	}
}

/* MKDIR, MKNOD, SYMLINK, LINK, CREATE|O_EXCL: replay; EEXIST means the
 * crashed backend may have done it: if what is there is what we asked
 * for, answer the success it was, with its entry. */
static int judge_make(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v)
{
	char buf[sizeof(struct fuse_out_header) + sizeof(struct fuse_entry_out) +
		 sizeof(struct fuse_open_out)];
	struct fuse_out_header *oh = (void *)buf;
	struct fuse_entry_out e;
	struct fwd_xlate x;
	uint64_t bparent;
	char why[200];
	ssize_t n;
	int r;

	r = fwd_translate_request(f, p, v->h, v, &x);
	if (r)
		return r;
	bparent = ((struct fuse_in_header *)x.head)->nodeid;
	n = fwd_call(f, x.iov, x.niov, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	if (oh->error != -EEXIST) {
		verdict(f, p, "replayed: %s", oh->error ? fuse_errno_name(-oh->error) : "done");
		deliver(f, p, buf, (size_t)n);
		return 0;
	}
	r = b_lookup(f, bparent, v->name, &e);
	if (r == -ERESTART)
		return r;
	if (r < 0) {
		verdict(f, p, "EEXIST on replay, then LOOKUP %s: answering EEXIST",
			fuse_errno_name(-r));
		deliver(f, p, buf, (size_t)n);
		return 0;
	}
	if (!made_by_us(f, p, v, &e, why, sizeof why)) {
		b_forget(f, e.nodeid, 1);
		verdict(f, p, "EEXIST on replay, and the object there is not ours (%s): "
			"answering EEXIST", why);
		deliver(f, p, buf, (size_t)n);
		return 0;
	}
	memset(buf, 0, sizeof buf);
	memcpy(buf + sizeof *oh, &e, sizeof e);
	n = (ssize_t)(sizeof *oh + sizeof e);
	if (p->in.opcode == FUSE_CREATE) {
		const struct fuse_create_in *ci = v->fixed;
		struct fuse_open_out o;
		r = b_open(f, e.nodeid, ci->flags, ci->open_flags, 0, &o);
		if (r == -ERESTART)
			return r;
		if (r < 0) {
			b_forget(f, e.nodeid, 1);
			verdict(f, p, "the crashed backend created it, but opening it failed: %s; "
				"answering EIO", fuse_errno_name(-r));
			deliver_err(f, p, -EIO, "created before the crash, cannot open it");
			STAT_INC(f, failed);
			return 0;
		}
		memcpy(buf + n, &o, sizeof o);
		n += (ssize_t)sizeof o;
	}
	verdict(f, p, "EEXIST on replay, and the object there is the one asked for: "
		"answering the success the crashed backend did not send");
	deliver(f, p, buf, (size_t)n);
	return 0;
}

/* The node the kernel had under (kparent, name), as the table knows it:
 * its kernel id (0 if none), ino and whether this generation knows it. */
static uint64_t known(struct fwd *f, uint64_t kparent, const char *name, uint64_t *ino,
		      int *resolved, uint64_t *bnode)
{
	struct fp_node *n;
	uint64_t k = 0;

	pthread_mutex_lock(&f->st.lock);
	n = name ? fp_state_lookup_name_locked(&f->st, kparent, name) : NULL;
	if (n) {
		k = n->knode;
		*ino = n->ino;
		*resolved = n->bgen == f->st.gen && !(n->flags & FP_NODE_STALE);
		*bnode = n->bnode;
	}
	pthread_mutex_unlock(&f->st.lock);
	return k;
}

/* Look a name up: *found and *ino.  If the object there is knode (known,
 * not yet resolved in this generation, same ino and type), the lookup
 * resolves it: backends expect a lookup held on whatever they are asked to
 * unlink or rename (the kernel always holds one).  Otherwise the lookup is
 * given back at once.  0 or -ERESTART/-EIO. */
static int peek(struct fwd *f, uint64_t bparent, const char *name, uint64_t knode,
		int *found, uint64_t *ino)
{
	struct fuse_entry_out e;
	struct fp_node *n;
	int r = b_lookup(f, bparent, name, &e), kept = 0;

	*found = 0;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r == -ERESTART ? r : -EIO;
	*found = 1;
	*ino = e.attr.ino;
	pthread_mutex_lock(&f->st.lock);
	n = knode ? fp_state_node_locked(&f->st, knode) : NULL;
	if (n && n->bgen != f->st.gen && !(n->flags & FP_NODE_STALE) && n->ino == e.attr.ino &&
	    n->type == (e.attr.mode & S_IFMT)) {
		fp_state_resolved_locked(&f->st, n, e.nodeid, 1);
		kept = 1;
	}
	pthread_mutex_unlock(&f->st.lock);
	if (!kept)
		b_forget(f, e.nodeid, 1);
	return 0;
}

static void find_p(struct fp_pending *p, void *arg)
{
	*(struct fp_pending **)arg = p;
}

/* Send p again (translated).  -ERESTART only if the backend went away. */
static int resend(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v)
{
	uint64_t unique = p->unique;
	int r = fwd_send_request(f, p, v->h, v, 1);

	if (r == -ERESTART) {
		/* answered here, or left queued because sending failed */
		struct fp_pending *q = NULL;
		fp_pending_with(&f->pt, unique, find_p, &q);
		if (f->gone || (q && (q->rflags & FP_PR_QUEUED)))
			return -ERESTART;
	}
	return 0;
}

/* UNLINK, RMDIR: look first.  Still there (same ino): replay.  Gone, or
 * something else under the name: the crashed backend removed ours. */
static int judge_remove(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v)
{
	uint64_t kino = 0, ino = 0, bparent, bnode = 0, k;
	int found, r, resolved = 0;

	k = known(f, p->in.nodeid, v->name, &kino, &resolved, &bnode);
	if (!k) {
		verdict(f, p, "the victim is not in the table: replayed as it is");
		return resend(f, p, v);
	}
	r = fwd_resolve(f, p->in.nodeid, &bparent);
	if (r == -ERESTART)
		return r;
	if (r < 0) {
		deliver_err(f, p, r, "its directory is stale");
		return 0;
	}
	r = peek(f, bparent, v->name, k, &found, &ino);
	if (r == -ERESTART)
		return r;
	if (r < 0) {
		verdict(f, p, "cannot look at the name: answering EIO");
		deliver_err(f, p, -EIO, "cannot judge");
		STAT_INC(f, failed);
		return 0;
	}
	if (found && ino == kino) {
		verdict(f, p, "still there: replayed");
		return resend(f, p, v);
	}
	verdict(f, p, "%s: the crashed backend had done it; answering success",
		found ? "another object has the name now" : "gone");
	struct fuse_out_header oh = { sizeof oh, 0, p->unique };
	deliver(f, p, &oh, sizeof oh);
	return 0;
}

/* RENAME, RENAME2: compare source and target with what the kernel had. */
static int judge_rename(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v)
{
	const struct fuse_rename2_in *ri = v->fixed;
	uint32_t flags = p->in.opcode == FUSE_RENAME2 ? ri->flags : 0;
	uint64_t sino = 0, dino = 0, i1 = 0, i2 = 0, bold, bnew, b, ks, kd;
	int f1 = 0, f2 = 0, hs, hd, r, res;

	ks = known(f, p->in.nodeid, v->name, &sino, &res, &b);
	kd = known(f, ri->newdir, v->name2, &dino, &res, &b);
	hs = ks != 0;
	hd = kd != 0;
	if (!hs) {
		verdict(f, p, "the source is not in the table: cannot judge; answering EIO");
		deliver_err(f, p, -EIO, "cannot judge");
		STAT_INC(f, failed);
		return 0;
	}
	r = fwd_resolve(f, p->in.nodeid, &bold);
	if (!r)
		r = fwd_resolve(f, ri->newdir, &bnew);
	if (!r)
		r = peek(f, bold, v->name, ks, &f1, &i1);
	if (!r)
		r = peek(f, bnew, v->name2, kd, &f2, &i2);
	if (r == -ERESTART)
		return r;
	if (r < 0) {
		verdict(f, p, "cannot look at source and target (%s): answering EIO",
			fuse_errno_name(-r));
		deliver_err(f, p, -EIO, "cannot judge");
		STAT_INC(f, failed);
		return 0;
	}
	if (flags & RENAME_EXCHANGE) {
		if (hd && f1 && f2 && i1 == sino && i2 == dino && sino != dino) {
			verdict(f, p, "not exchanged yet: replayed");
			return resend(f, p, v);
		}
		if (hd && f1 && f2 && i1 == dino && i2 == sino) {
			verdict(f, p, "already exchanged: answering success");
			goto done;
		}
	} else {
		if (f1 && i1 == sino) {
			verdict(f, p, "the source is still there: replayed");
			return resend(f, p, v);
		}
		if (!f1 && f2 && i2 == sino) {
			verdict(f, p, "the source is at the target: answering success");
			goto done;
		}
	}
	verdict(f, p, "source and target are neither as before nor as after it: "
		"answering EIO");
	deliver_err(f, p, -EIO, "cannot judge");
	STAT_INC(f, failed);
	return 0;
done:;
	struct fuse_out_header oh = { sizeof oh, 0, p->unique };
	deliver(f, p, &oh, sizeof oh);
	return 0;
}

/* O_APPEND WRITE: the backend put it at the end.  The size now tells
 * whether it did: as before -> replay; before + len (and those bytes are
 * ours) -> done; anything else -> EIO. */
static int judge_append(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v)
{
	const struct fuse_write_in *wi = v->fixed;
	uint64_t pre = p->aux, bnode = 0;
	struct fuse_attr a = { 0 };
	int r;

	r = fwd_resolve(f, p->in.nodeid, &bnode);
	if (r == -ERESTART)
		return r;
	if (!r)
		r = b_getattr(f, bnode, &a);
	if (r == -ERESTART)
		return r;
	if (r < 0) {
		verdict(f, p, "O_APPEND: cannot get the size (%s): answering EIO",
			fuse_errno_name(-r));
		deliver_err(f, p, r == -ESTALE ? -ESTALE : -EIO, "cannot judge");
		STAT_INC(f, failed);
		return 0;
	}
	if (a.size == pre) {
		verdict(f, p, "O_APPEND: size %llu as before: replayed",
			(unsigned long long)a.size);
		return resend(f, p, v);
	}
	if (a.size != pre + wi->size) {
		verdict(f, p, "O_APPEND: size %llu is neither %llu (before) nor %llu (after): "
			"answering EIO", (unsigned long long)a.size, (unsigned long long)pre,
			(unsigned long long)(pre + wi->size));
		deliver_err(f, p, -EIO, "cannot judge");
		STAT_INC(f, failed);
		return 0;
	}
	/* the size says done: the bytes at the end should be ours */
	struct fuse_open_out o;
	r = b_open(f, bnode, O_RDONLY, 0, 0, &o);
	if (r == -ERESTART)
		return r;
	if (!r) {
		ssize_t got = b_read(f, bnode, o.fh, pre, wi->size, f->callbuf, RBUF_SIZE);
		b_release(f, bnode, o.fh, 0);
		if (got == -ERESTART)
			return -ERESTART;
		if (got != (ssize_t)wi->size || memcmp(f->callbuf, v->data, wi->size)) {
			verdict(f, p, "O_APPEND: the size grew by the write's length, but the "
				"bytes there are not its data: answering EIO");
			deliver_err(f, p, -EIO, "cannot judge");
			STAT_INC(f, failed);
			return 0;
		}
	}
	verdict(f, p, "O_APPEND: size %llu = %llu + %u%s: the crashed backend wrote it; "
		"answering success", (unsigned long long)a.size, (unsigned long long)pre,
		wi->size, r ? " (not read back)" : ", data read back");
	struct {
		struct fuse_out_header oh;
		struct fuse_write_out w;
	} m = { { sizeof m, 0, p->unique }, { wi->size, 0 } };
	deliver(f, p, &m, sizeof m);
	return 0;
}

/* SETXATTR with XATTR_CREATE: EEXIST now -> success if the value there is
 * the one we set. */
static int judge_xattr(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v)
{
	const struct fuse_setxattr_in *si = v->fixed;
	char buf[sizeof(struct fuse_out_header) + 64];
	struct fuse_out_header *oh = (void *)buf;
	struct fwd_xlate x;
	ssize_t n;
	int r;

	r = fwd_translate_request(f, p, v->h, v, &x);
	if (r)
		return r;
	n = fwd_call(f, x.iov, x.niov, buf, sizeof buf);
	if (n < 0)
		return (int)n;
	if (oh->error == -EEXIST) {
		struct {
			struct fuse_in_header h;
			struct fuse_getxattr_in g;
		} m;
		size_t nl = strlen(v->name) + 1;
		struct iovec iov[2] = { { &m, sizeof m }, { (void *)v->name, nl } };
		void *pl = NULL;
		size_t plen = 0;

		memset(&m, 0, sizeof m);
		hdr(&m.h, FUSE_GETXATTR, ((struct fuse_in_header *)x.head)->nodeid,
		    sizeof m + nl);
		m.g.size = si->size ? si->size : 1;
		r = reply_of(fwd_call(f, iov, 2, f->callbuf, RBUF_SIZE), f->callbuf, &pl, &plen);
		if (r == -ERESTART)
			return r;
		if (!r && plen == si->size && !memcmp(pl, v->data, plen)) {
			verdict(f, p, "XATTR_CREATE: EEXIST on replay with our value there: "
				"answering success");
			struct fuse_out_header ok = { sizeof ok, 0, p->unique };
			deliver(f, p, &ok, sizeof ok);
			return 0;
		}
	}
	verdict(f, p, "replayed: %s", oh->error ? fuse_errno_name(-oh->error) : "done");
	deliver(f, p, buf, (size_t)n);
	return 0;
}

static int reinject_one(struct fwd *f, struct fp_pending *p)
{
	struct fuse_req_view v;
	char why[200];
	int r;

	if (!p->req || p->reqlen != p->in.len ||
	    fuse_validate_request(p->req, p->reqlen, &f->s->wp, &v, why, sizeof why) < 0) {
		deliver_err(f, p, -EIO, "no copy of the request to replay");
		STAT_INC(f, failed);
		return 0;
	}
	STAT_INC(f, reinjected);
	switch (rule_of(p, &v)) {
	case FWD_MAKE:
		STAT_INC(f, judged);
		r = judge_make(f, p, &v);
		break;
	case FWD_REMOVE:
		STAT_INC(f, judged);
		r = judge_remove(f, p, &v);
		break;
	case FWD_RENAME:
		STAT_INC(f, judged);
		r = judge_rename(f, p, &v);
		break;
	case FWD_WRITE:
		STAT_INC(f, judged);
		r = judge_append(f, p, &v);
		break;
	case FWD_XATTR_CREATE:
		STAT_INC(f, judged);
		r = judge_xattr(f, p, &v);
		break;
	case FWD_SETLKW:
		if (p->flags & FP_TRACE_F_INTERRUPTED) {
			verdict(f, p, "interrupted while the backend was away: answering EINTR");
			deliver_err(f, p, -EINTR, "interrupted during the restart");
			return 0;
		}
		verdict(f, p, "re-injected after the locks were re-taken");
		r = resend(f, p, &v);
		break;
	case FWD_FAIL:
		verdict(f, p, "cannot tell whether the crashed backend did it: answering EIO");
		deliver_err(f, p, -EIO, "cannot judge");
		STAT_INC(f, failed);
		return 0;
	default:
		verdict(f, p, "re-injected");
		r = resend(f, p, &v);
		break;
	}
	if (r == -ESTALE || r == -EIO) {	/* from translation */
		verdict(f, p, "%s", r == -ESTALE ? "its node is stale: answering ESTALE"
						 : "cannot be translated: answering EIO");
		deliver_err(f, p, r, "cannot translate it");
		STAT_INC(f, failed);
		r = 0;
	}
	return r;
}

int fwd_reinject(struct fwd *f, struct fp_pending *p)
{
	return reinject_one(f, p);
}

/* In the order the kernel issued them: a request the kernel resent after a
 * worker died (1 << 63 ORed in) is older than any it sent since. */
static int by_unique(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a & ~FUSE_UNIQUE_RESEND,
		 y = *(const uint64_t *)b & ~FUSE_UNIQUE_RESEND;
	return x < y ? -1 : x > y;
}

struct queued { uint64_t *u; size_t n, cap; };

static void collect_queued(struct fp_pending *p, void *arg)
{
	struct queued *q = arg;
	if (p->chan && (p->rflags & FP_PR_QUEUED) && q->n < q->cap)
		q->u[q->n++] = p->unique;
}

/* Oldest first (uniques grow), so a WRITE replays before a later one. */
static int reinject_all(struct fwd *f)
{
	struct queued q = { NULL, 0, f->pt.count + 64 };
	int r = 0;

	q.u = malloc(q.cap * sizeof *q.u);
	if (!q.u)
		return -ENOMEM;
	fp_pending_foreach(&f->pt, collect_queued, &q);
	qsort(q.u, q.n, sizeof *q.u, by_unique);
	for (size_t i = 0; i < q.n && !r; i++) {
		struct fp_pending *p = NULL;
		/* answered meanwhile (a reply pumped while we judged another)? */
		fp_pending_with(&f->pt, q.u[i], find_p, &p);
		if (!p || !(p->rflags & FP_PR_QUEUED))
			continue;
		r = reinject_one(f, p);
		if (f->gone)
			r = -ERESTART;
	}
	free(q.u);
	return r;
}

/* ---- recovery ----------------------------------------------------------- */

static void finish_stats(struct fwd *f, uint64_t now)
{
	pthread_mutex_lock(&f->stats_lock);
	if (!f->cur.done && f->cur.t_death) {
		f->cur.total_ns = now - f->cur.t_death;
		f->cur.done = 1;
		f->last = f->cur;
		pthread_mutex_unlock(&f->stats_lock);
		rec_log(f, 1, "done: all %u requests answered %.1f ms after the backend died "
			"(backend start %.1f ms, recovery %.1f ms); %u re-injected, %u judged, "
			"%u failed", f->last.pending, ms(f->last.total_ns), ms(f->last.start_ns),
			ms(f->last.total_ns - f->last.start_ns), f->last.reinjected,
			f->last.judged, f->last.failed);
		return;
	}
	pthread_mutex_unlock(&f->stats_lock);
}

void fwd_recovery_answered(struct fwd *f, struct fp_pending *p)
{
	(void)p;
	if (atomic_fetch_sub(&f->rec_left, 1) == 1 && !atomic_load(&f->recovering))
		finish_stats(f, fp_now_ns());
}

static void count_pending(struct fp_pending *p, void *arg)
{
	if (p->chan)
		++*(uint32_t *)arg;
}

/* Bring a backend up under the live mount, from the reader thread: the old
 * one stopped (or gone), then start f->o.cmd, check its INIT, rebuild, and
 * re-inject.  Starts over whenever the new one dies too.  With a fallback
 * command (an upgrade), an INIT that conflicts makes it go back to that
 * instead of giving up.  0 when a backend serves, -1 after giving up. */
static int restart_loop(struct fwd *f, char *reason, size_t rlen, const char *fallback)
{
	char err[200];
	uint64_t backoff_ms = 0, t_begin = fp_now_ns();
	uint64_t tmo = (uint64_t)(f->o.timeout * 1e9);
	int first = 1;

	for (;;) {
		struct fp_daemon nd;
		struct fuse_init_out bi;
		uint64_t t0, t1;
		int r;

		if (atomic_load(&f->stopping)) {
			fwd_give_up(f, "stopping");
			return -1;
		}
		if (!first) {
			rec_log(f, 1, "the new backend went away too: %s", f->why);
			snprintf(reason, rlen, "%.*s", (int)rlen - 1, f->why);
		}
		first = 0;
		/* --backend-timeout also bounds how long requests wait for a
		 * backend that cannot be brought back */
		if (tmo && fp_now_ns() - t_begin > tmo) {
			fwd_give_up(f, "%s; no backend serves again within --backend-timeout "
				    "%.1f s: giving up", reason, f->o.timeout);
			return -1;
		}
		if (!rate_ok(f)) {
			fwd_give_up(f, "%s; it was restarted %d times in the last minute "
				    "(--restart=%d): giving up", reason, f->o.restart_per_min,
				    f->o.restart_per_min);
			return -1;
		}
		pthread_mutex_lock(&f->stats_lock);
		f->nrestarts++;
		f->cur.attempts++;
		pthread_mutex_unlock(&f->stats_lock);

		/* 1. the old one is gone for good: nothing more goes to it */
		shutdown(f->d.sock, SHUT_RDWR);
		if (f->d.pid > 0 && !fp_daemon_poll_exit(&f->d))
			kill(-f->d.pid, SIGKILL);
		fail_own(f);
		f->join.open = 0;	/* the rest of a spliced reply never comes */
		pthread_rwlock_wrlock(&f->gate);
		atomic_store(&f->recovering, 1);
		fp_pending_foreach(&f->pt, mark_one, f);
		fp_daemon_stop(&f->d, 0);
		pthread_rwlock_unlock(&f->gate);
		if (backoff_ms) {
			struct timespec ts = { (time_t)(backoff_ms / 1000),
					       (long)(backoff_ms % 1000) * 1000000 };
			nanosleep(&ts, NULL);
		}

		/* 2. a new one, given the INIT the kernel's answer was made from */
		t0 = fp_now_ns();
		r = fp_daemon_start(&nd, f->o.cmd, f->log_fd, err, sizeof err);
		if (r == 0)
			r = fwd_backend_init(f, &nd, &bi, err, sizeof err);
		if (r < 0) {
			/* f->d stays the old one, stopped (its socket closed) */
			if (nd.sock >= 0 || nd.pid > 0)
				fp_daemon_stop(&nd, 0);
			snprintf(f->why, sizeof f->why, "could not be started: %s", err);
			if (fallback) {
				rec_log(f, 1, "'%s' %s; going back to '%s'", f->o.cmd, f->why,
					fallback);
				fwd_set_cmd(f, fallback);
				fallback = NULL;
				continue;
			}
			backoff_ms = backoff_ms ? (backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2) : 10;
			continue;
		}
		t1 = fp_now_ns();
		if (init_conflict(f, &bi, &nd, err, sizeof err)) {
			fp_daemon_stop(&nd, 1000);
			if (fallback) {
				rec_log(f, 1, "'%s' cannot take over: its INIT conflicts with what "
					"the kernel accepted: %s; going back to '%s'", f->o.cmd, err,
					fallback);
				snprintf(f->why, sizeof f->why, "INIT conflict: %s", err);
				fwd_set_cmd(f, fallback);
				fallback = NULL;
				continue;
			}
			fwd_give_up(f, "%s; restarted, but its INIT conflicts with what the kernel "
				    "accepted: %s; failing requests rather than corrupting", reason,
				    err);
			return -1;
		}
		pthread_rwlock_wrlock(&f->gate);
		f->d = nd;
		f->binit = bi;
		f->gone = 0;
		fp_state_new_generation(&f->st);
		pthread_rwlock_unlock(&f->gate);
		pthread_mutex_lock(&f->stats_lock);
		f->pid_now = (int)nd.pid;
		pthread_mutex_unlock(&f->stats_lock);
		f->cur.start_ns += t1 - t0;
		rec_log(f, 0, "backend '%s' started: pid %d, INIT answered in %.1f ms "
			"(generation %u)", f->o.cmd, (int)nd.pid, ms(t1 - t0), f->st.gen);
		if (f->s->trace)
			fp_trace_event(f->s->trace, FP_EV_BACKEND_START,
				       "backend '%s' restarted, pid %d", f->o.cmd, (int)nd.pid);

		/* 3. what cannot wait for a request to need it */
		if (retake_locks(f) == -ERESTART)
			continue;
		wake_polls(f);

		/* 4. the requests the dead one never answered, and the queued */
		pthread_rwlock_wrlock(&f->gate);
		r = reinject_all(f);
		if (r == -ERESTART || f->gone) {
			pthread_rwlock_unlock(&f->gate);
			continue;
		}
		atomic_store(&f->recovering, 0);
		pthread_rwlock_unlock(&f->gate);
		pthread_mutex_lock(&f->stats_lock);
		f->cur.rebuild_ns = fp_now_ns() - t1;
		f->reinjected_total += f->cur.reinjected;
		f->judged_total += f->cur.judged;
		f->failed_total += f->cur.failed;
		pthread_mutex_unlock(&f->stats_lock);
		rec_log(f, 0, "rebuilt in %.1f ms: %u nodes re-resolved, %u stale, %u handles "
			"reopened (%u failed), %u locks re-taken (%u lost), %u poll waiters woken; "
			"%u requests re-injected (%u judged, %u failed)", ms(f->cur.rebuild_ns),
			f->cur.resolved, f->cur.stale, f->cur.reopened, f->cur.reopen_failed,
			f->cur.locks, f->cur.locks_lost, f->cur.polls, f->cur.reinjected,
			f->cur.judged, f->cur.failed);
		if (!atomic_load(&f->rec_left))
			finish_stats(f, fp_now_ns());
		return 0;
	}
}

static void begin_stats(struct fwd *f)
{
	pthread_mutex_lock(&f->stats_lock);
	if (f->cur.t_death && !f->cur.done)
		f->last = f->cur;	/* a recovery cut short by this one */
	memset(&f->cur, 0, sizeof f->cur);
	f->cur.t_death = fp_now_ns();
	if (f->o.t_death) {	/* a takeover: the worker died with the backend */
		f->cur.t_death = f->o.t_death;
		f->o.t_death = 0;
	}
	pthread_mutex_unlock(&f->stats_lock);
	fp_pending_foreach(&f->pt, count_pending, &f->cur.pending);
}

int fwd_recover(struct fwd *f, const char *why)
{
	char reason[256];

	snprintf(reason, sizeof reason, "%s", why);
	begin_stats(f);
	rec_log(f, 1, "backend '%s' (pid %d) %s; restarting it, %u requests wait",
		f->o.cmd, (int)f->d.pid, reason, f->cur.pending);
	return restart_loop(f, reason, sizeof reason, NULL);
}

/* Kernel requests the backend has (not queued here), SETLKW aside: those
 * may wait for another process for ever. */
static void count_at_backend(struct fp_pending *p, void *arg)
{
	if (p->chan && !(p->rflags & FP_PR_QUEUED) && p->in.opcode != FUSE_SETLKW)
		++*(uint32_t *)arg;
}

static void nothing(struct fp_pending *p, void *arg)
{
	(void)p;
	(void)arg;
}

/* The gate, from this (the reader) thread while the backend serves: a
 * worker may hold it for reading while it waits for the answer to a
 * request of its own (a lazy reopen or re-resolution, fwd_call), which only
 * this thread reads.  Blocking on the gate would deadlock with it: wait a
 * little at a time (new readers wait meanwhile), and pump in between. */
static void gate_wrlock_serving(struct fwd *f)
{
	for (;;) {
		struct timespec ts = fp_deadline_ms(CLOCK_MONOTONIC, 2);
		if (!pthread_rwlock_clockwrlock(&f->gate, CLOCK_MONOTONIC, &ts))
			return;
		if (fwd_pump(f, 1) == -ERESTART)
			fail_own(f);	/* it died: its callers stop waiting */
	}
}

int fwd_upgrade_run(struct fwd *f, const char *cmd, char *msg, size_t n)
{
	char reason[320], *old = strdup(f->o.cmd);
	uint64_t deadline, t0 = fp_now_ns();
	uint32_t left = 0, drained;
	int oldpid = (int)f->d.pid, r;

	if (!old) {
		snprintf(msg, n, "out of memory");
		return -ENOMEM;
	}
	begin_stats(f);
	rec_log(f, 1, "upgrade: '%s' (pid %d) -> '%s': holding new requests, draining %u",
		old, oldpid, cmd, f->cur.pending);

	/* 1. new requests wait here; what the old backend has, it answers */
	gate_wrlock_serving(f);
	atomic_store(&f->recovering, 1);
	pthread_rwlock_unlock(&f->gate);
	deadline = fp_now_ns() + 10ull * 1000000000u;
	for (;;) {
		left = 0;
		fp_pending_foreach(&f->pt, count_at_backend, &left);
		if (!left || fp_now_ns() > deadline)
			break;
		if (fwd_pump(f, 20) == -ERESTART) {
			/* it died while draining: an ordinary recovery, onto the new one */
			if (snprintf(reason, sizeof reason, "%s (while draining for an upgrade)",
				     f->why) < 0)
				reason[0] = 0;
			fwd_set_cmd(f, cmd);
			rec_log(f, 1, "backend '%s' (pid %d) %s; starting '%s'", old, oldpid,
				reason, cmd);
			r = restart_loop(f, reason, sizeof reason, old);
			goto out;
		}
	}
	drained = f->cur.pending - left;
	if (left)
		rec_log(f, 1, "upgrade: %u requests still at the old backend after 10 s: they "
			"are judged as after a crash", left);

	/* 2. the old one stops in order: DESTROY (a second at most), SIGTERM */
	{
		struct fuse_in_header h = { .len = sizeof h, .opcode = FUSE_DESTROY };
		fwd_send_own(f, &h, sizeof h);
		for (int i = 0; i < 50 && fp_pending_with(&f->pt, h.unique, nothing, NULL); i++)
			if (fwd_pump(f, 20) == -ERESTART)
				break;
	}
	f->gone = 1;		/* whatever it still says is not read any more */
	pthread_rwlock_wrlock(&f->gate);
	fail_own(f);
	fp_pending_foreach(&f->pt, mark_one, f);
	fp_daemon_stop(&f->d, 2000);
	pthread_rwlock_unlock(&f->gate);

	/* 3. the new one, as after a crash (back to the old one if it cannot) */
	fwd_set_cmd(f, cmd);
	snprintf(reason, sizeof reason, "upgrade");
	r = restart_loop(f, reason, sizeof reason, old);
	if (!r)
		rec_log(f, 1, "upgrade: %s '%s' (pid %d) in %.1f ms; %u requests drained, %u "
			"re-injected", strcmp(f->o.cmd, cmd) ? "kept" : "now serving", f->o.cmd,
			(int)f->d.pid, ms(fp_now_ns() - t0), drained, f->cur.reinjected);
out:
	if (r < 0)
		snprintf(msg, n, "failed: %s", f->death);
	else if (strcmp(f->o.cmd, cmd))
		snprintf(msg, n, "'%s' could not take over (%s); '%s' serves again, pid %d",
			 cmd, f->why, f->o.cmd, (int)f->d.pid);
	else
		snprintf(msg, n, "ok: '%s' serves, pid %d (was pid %d); %.1f ms", cmd,
			 (int)f->d.pid, oldpid, ms(fp_now_ns() - t0));
	free(old);
	return r < 0 ? -EIO : strcmp(f->o.cmd, cmd) ? -EPROTO : 0;
}

void fwd_recovery_status(struct fwd *f, FILE *out)
{
	struct fwd_recovery_stats l, c;
	uint64_t reinjected, judged, failed;
	uint32_t restarts;
	int pid;

	if (!f->o.restart) {
		fprintf(out, "restart: off\n");
		return;
	}
	pthread_mutex_lock(&f->stats_lock);
	l = f->last;
	c = f->cur;
	restarts = f->nrestarts;
	pid = f->pid_now;
	reinjected = f->reinjected_total;
	judged = f->judged_total;
	failed = f->failed_total;
	pthread_mutex_unlock(&f->stats_lock);
	fprintf(out, "restart: on (%s); %u restarts, backend pid %d; %llu requests re-injected "
		"in all (%llu judged, %llu failed)\n",
		f->o.restart_per_min ? "capped per minute" : "unlimited", restarts, pid,
		(unsigned long long)reinjected, (unsigned long long)judged,
		(unsigned long long)failed);
	if (atomic_load(&f->recovering))
		fprintf(out, "recovery: in progress for %.1f ms, %u backend starts\n",
			ms(fp_now_ns() - c.t_death), c.attempts);
	if (l.done)
		fprintf(out, "last recovery: %.1f ms total, backend start %.1f ms, ours %.1f ms; "
			"%u requests waited (%u re-injected, %u judged, %u failed); %u nodes "
			"re-resolved, %u stale, %u handles reopened, %u locks re-taken, %u lost\n",
			ms(l.total_ns), ms(l.start_ns), ms(l.total_ns - l.start_ns), l.pending,
			l.reinjected, l.judged, l.failed, l.resolved, l.stale, l.reopened, l.locks,
			l.locks_lost);
	if (c.done && (c.resolved > l.resolved || c.stale > l.stale || c.reopened > l.reopened))
		fprintf(out, "since: %u nodes re-resolved, %u stale, %u handles reopened (%u "
			"failed) as requests needed them\n", c.resolved, c.stale, c.reopened,
			c.reopen_failed);
}
