/* \summary: what the forwarder knows about the objects the kernel holds:
 * nodes (kernel nodeid <-> backend nodeid, name, lookup counts), open
 * handles, locks held and poll handles.
 *
 * It is kept from the traffic itself (entry replies, READDIRPLUS, FORGET,
 * OPEN/RELEASE, RENAME/UNLINK, SETLK) so that a restarted backend can be
 * given back what the kernel still refers to, and ids translated between
 * the kernel's and the new backend's.  Until the first restart every id
 * is the backend's own (identity): the same allocation rule that later
 * keeps kernel ids unique yields that by itself.
 *
 * One mutex guards everything; each call takes it once.  Functions named
 * *_locked expect the caller to hold st->lock (recovery walks the tables).
 */
#ifndef FP_STATE_H
#define FP_STATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "fuse_kernel.h"

struct fp_journal;

#define FP_ROOT_ID 1

/* A chained hash: entries embed a fp_hlink; the caller walks a bucket and
 * compares its own key (hash equality first). */
struct fp_hlink {
	struct fp_hlink *next;
	uint64_t hash;
};

struct fp_htab {
	struct fp_hlink **b;
	size_t mask;                   /* buckets - 1 */
	size_t n;
};

/* fp_node.flags */
#define FP_NODE_STALE   (1u << 0)  /* the restarted backend has another object
				      there (or none): requests get ESTALE */

struct fp_node {
	struct fp_hlink kl;            /* by knode */
	struct fp_hlink bl;            /* by bnode, while bgen == st->gen */
	struct fp_hlink nl;            /* by (parent, name), while named */
	uint64_t knode;                /* what the kernel calls it */
	uint64_t bnode;                /* what the backend of generation bgen calls it */
	uint32_t bgen;
	uint32_t flags;
	uint64_t parent;               /* knode of the directory its name is in; 0 if
					  it has none (unlinked, TMPFILE) */
	char *name;
	uint64_t ino, generation;      /* from the last entry reply */
	uint32_t type;                 /* mode & S_IFMT */
	uint64_t klookup;              /* lookups the kernel holds */
	uint64_t blookup;              /* lookups the backend of bgen handed us */
	uint64_t size;                 /* last size an attribute reply showed */
	uint32_t nhandles;             /* open handles on it */
};

/* fp_handle.flags */
#define FP_H_BROKEN     (1u << 0)  /* could not be reopened: requests get EIO */

struct fp_handle {
	struct fp_hlink kl;            /* by (knode, kfh) */
	struct fp_hlink bl;            /* by (knode, bfh), while bgen == st->gen */
	uint64_t knode, kfh;
	uint64_t bfh;
	uint32_t bgen;
	uint32_t flags;
	uint32_t open_flags;           /* open(2) flags the kernel sent */
	uint32_t fuse_open_flags;      /* fuse_open_in.open_flags */
	uint32_t fopen;                /* FOPEN_* the kernel was given */
	uint32_t refs;                 /* kernel opens that got this (knode, kfh) */
	uint32_t bopen;                /* opens of bfh the backend of bgen holds */
	uint8_t dir;
};

struct fp_lock {
	struct fp_lock *next;
	uint64_t knode, kfh, owner;
	uint64_t start, end;
	uint32_t type, pid;            /* F_RDLCK / F_WRLCK */
	uint8_t flock;                 /* flock(2) (whole file, per open file) */
};

struct fp_poll {
	struct fp_poll *next;
	uint64_t kh, knode, kfh;
};

struct fp_state {
	pthread_mutex_t lock;
	uint32_t gen;                  /* backend generation: restarts so far */
	int translating;               /* ids may differ (after the first restart) */
	struct fp_htab nk, nb, nn;     /* nodes by knode, bnode, (parent, name) */
	struct fp_htab hk, hb;         /* handles by (knode, kfh), (knode, bfh) */
	struct fp_lock *locks;
	struct fp_poll *polls;
	uint64_t next_knode;           /* kernel ids we make up start here */
	uint64_t next_kfh;
	/* counters for `fuseproxy status` */
	uint64_t nnodes, nhandles, ndirs, nlocks, npolls;
	uint64_t klookups, blookups;   /* sums over the nodes */
	uint64_t forgets_unknown;      /* FORGETs for nodes we did not know */
	struct fp_journal *journal;    /* changes are journaled here (or NULL) */
};

int fp_state_init(struct fp_state *st);
void fp_state_fini(struct fp_state *st);

/* ---- nodes -------------------------------------------------------------- */

/* An entry reply for `name` in directory kparent (name NULL: none, e.g.
 * TMPFILE) handed out e->nodeid (the backend's).  Counts one lookup on both
 * sides, remembers name, ino, generation, type, size, and rewrites
 * e->nodeid to the kernel's id.  Returns 0, or -ENOMEM (e untouched). */
#define FP_ENTRY_KEEP_NAME 1       /* a second name (LINK): keep the first */
int fp_state_entry(struct fp_state *st, uint64_t kparent, const char *name,
		   size_t namelen, struct fuse_entry_out *e, int flags);
/* The same under st->lock (READDIRPLUS: one lock for a whole reply). */
int fp_state_entry_locked(struct fp_state *st, uint64_t kparent, const char *name,
			  size_t namelen, struct fuse_entry_out *e, int flags);
/* Raise the known size of knode to at least end. */
void fp_state_grow_size(struct fp_state *st, uint64_t knode, uint64_t end);

/* The kernel never got an entry we counted (its write failed): take the
 * kernel lookup back.  Like fp_state_forget for n = 1. */
uint64_t fp_state_entry_undo(struct fp_state *st, uint64_t knode, uint64_t *bnode);

/* The kernel forgets n lookups of knode.  Returns how many lookups of
 * *bnode to forget on the backend to keep it level with the kernel (0 if
 * none: the node is unknown, not resolved in this generation, or the
 * backend's count stays above the kernel's). */
uint64_t fp_state_forget(struct fp_state *st, uint64_t knode, uint64_t n, uint64_t *bnode);

/* The same in two steps, for the kernel's FORGET/BATCH_FORGET `unique`
 * read into read slot `slot` (journal.h; -1: none).  First the kernel's
 * side, at once, before anything can make the caller wait (a FORGET the
 * worker read and lost before it is journaled is never sent again): one
 * journal record, the kernel counts go down; pass[i] (if pass is not NULL)
 * is what to forget on the backend as it is (node one[i].nodeid unknown
 * before any restart), else 0.  Returns the generation: pass counts are
 * for that backend only. */
uint32_t fp_state_kforget(struct fp_state *st, int slot, uint64_t unique,
			  const struct fuse_forget_one *one, uint32_t count, uint64_t *pass);
/* Then, per node (with the backend fixed: under the forwarder's gate), the
 * backend's side: how many lookups of *bnode to forget on the backend
 * (0: none); a node the kernel no longer holds goes. */
uint64_t fp_state_forget_settle(struct fp_state *st, uint64_t knode, uint64_t *bnode);

/* Name changes after a successful UNLINK/RMDIR and RENAME/RENAME2. */
void fp_state_unlink(struct fp_state *st, uint64_t kparent, const char *name);
void fp_state_rename(struct fp_state *st, uint64_t kolddir, const char *oldname,
		     uint64_t knewdir, const char *newname, uint32_t flags);

/* Last known size of a node (attribute replies, writes). */
void fp_state_set_size(struct fp_state *st, uint64_t knode, uint64_t size);
/* 0 and *size, or -ENOENT. */
int fp_state_get_size(struct fp_state *st, uint64_t knode, uint64_t *size);

/* ---- handles ------------------------------------------------------------ */

/* An OPEN/OPENDIR/CREATE/TMPFILE reply gave *fh (the backend's) on knode.
 * Records it and rewrites *fh to the kernel's.  Returns 0 or -ENOMEM. */
int fp_state_open(struct fp_state *st, uint64_t knode, uint64_t *fh, uint32_t flags,
		  uint32_t fuse_open_flags, uint32_t fopen, int dir);

/* RELEASE/RELEASEDIR of (knode, kfh): drops the handle, its flock locks and
 * poll handles (POSIX locks move to another handle of the same node, or go).
 * Returns 1 if the backend of this generation holds an open to release
 * (*bfh set), 0 if not (never reopened after a restart, or unknown). */
int fp_state_release(struct fp_state *st, uint64_t knode, uint64_t kfh, uint64_t *bfh);

/* ---- locks and poll ----------------------------------------------------- */

/* A SETLK/SETLKW on (knode, kfh) succeeded: apply it (POSIX ranges per
 * owner; flock per open file). */
void fp_state_lock(struct fp_state *st, uint64_t knode, uint64_t kfh,
		   const struct fuse_lk_in *lk);
/* FLUSH with a lock owner: the backend drops that owner's POSIX locks. */
void fp_state_unlock_owner(struct fp_state *st, uint64_t knode, uint64_t owner);
/* POLL with FUSE_POLL_SCHEDULE_NOTIFY registered kh. */
void fp_state_poll(struct fp_state *st, uint64_t knode, uint64_t kfh, uint64_t kh);

/* ---- translation (kernel -> backend of this generation) ---------------- */

/* 0 and *bnode; -EAGAIN: known but not resolved in this generation;
 * -ESTALE: stale; -ENOENT: unknown. */
int fp_state_k2b_node(struct fp_state *st, uint64_t knode, uint64_t *bnode);
/* 0 and *bfh; -EAGAIN: not reopened yet; -EIO: broken; -ENOENT: unknown. */
int fp_state_k2b_fh(struct fp_state *st, uint64_t knode, uint64_t kfh, uint64_t *bfh);
/* Backend nodeid of this generation -> kernel's; 0 if none. */
uint64_t fp_state_b2k_node(struct fp_state *st, uint64_t bnode);

/* ---- restart ------------------------------------------------------------ */

/* A new backend: generation + 1; every node but the root and every handle
 * is unresolved, the backend's lookup counts are 0. */
void fp_state_new_generation(struct fp_state *st);

/* Lookups by kernel id, under st->lock. */
struct fp_node *fp_state_node_locked(struct fp_state *st, uint64_t knode);
struct fp_handle *fp_state_handle_locked(struct fp_state *st, uint64_t knode, uint64_t kfh);
/* The node named `name` in kparent, or NULL (under st->lock). */
struct fp_node *fp_state_lookup_name_locked(struct fp_state *st, uint64_t kparent,
					    const char *name);
/* Any handle of knode other than `not` (NULL if none), under st->lock. */
struct fp_handle *fp_state_other_handle_locked(struct fp_state *st, uint64_t knode,
					       const struct fp_handle *not);

/* knode now means bnode in this generation, with `lookups` backend lookups
 * (the LOOKUP that resolved it).  Under st->lock. */
void fp_state_resolved_locked(struct fp_state *st, struct fp_node *n, uint64_t bnode,
			      uint64_t lookups);
void fp_state_stale_locked(struct fp_state *st, struct fp_node *n);
/* Reopened in this generation: the backend holds one open of bfh. */
void fp_state_reopened_locked(struct fp_state *st, struct fp_handle *h, uint64_t bfh);

/* Iterate every node / handle under st->lock (fn may not change tables). */
void fp_state_foreach_node_locked(struct fp_state *st,
				  void (*fn)(struct fp_node *n, void *arg), void *arg);
void fp_state_foreach_handle_locked(struct fp_state *st,
				    void (*fn)(struct fp_handle *h, void *arg), void *arg);

struct fp_state_counts {
	uint32_t gen;
	uint64_t nodes, handles, dirs, locks, polls, klookups, blookups, stale,
		 forgets_unknown;
};
void fp_state_counts(struct fp_state *st, struct fp_state_counts *c);

/* ---- journal (journal.h) ----------------------------------------------- */

/* Apply one journaled change (kernel ids; call with st->journal NULL, on a
 * state that has seen only journaled changes, so ids are identities).
 * 0, -EINVAL for a malformed record, -ENOMEM. */
int fp_state_apply(struct fp_state *st, uint16_t type, const void *pl, size_t len);

/* The tables as journal records (FP_J_NODE, FP_J_OPEN, FP_J_LOCK,
 * FP_J_POLL) that fp_state_apply turns back into the same tables, at
 * kernel ids: the snapshot a compaction writes.  Stops at the first
 * non-zero return of emit and returns it. */
typedef int (*fp_state_emit_fn)(void *arg, uint16_t type, const void *a, size_t alen,
				const void *b, size_t blen);
int fp_state_dump(struct fp_state *st, fp_state_emit_fn emit, void *arg);

#endif
