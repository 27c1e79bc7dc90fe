/* \summary: the journal a proxy worker leaves for its successor (fuseproxy
 * --backend CMD --restart runs the proxy as a worker under a holder, see
 * holder.h and doc/recovery.md section 8).
 *
 * A MAP_SHARED memfd the holder creates and keeps; every worker maps it.
 * It holds the negotiated INIT (sent once per connection: a successor gets
 * none), the read slots (below), and a log, compacted now and then (below),
 * of what the kernel was handed: every change
 * of the state tables (state.c, at kernel ids), and the reply to each
 * request whose answer changed them, written before the reply goes to the
 * kernel.  A kill -9 can land anywhere: a record counts once its commit
 * word (written last) is set, and a record of a request counts only if the
 * request's reply was journaled too (see takeover.c).
 */
#ifndef FP_JOURNAL_H
#define FP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fuse_kernel.h"
#include "validate.h"

/* Record types. */
enum {
	FP_J_ENTRY = 1,    /* struct fp_j_entry + name */
	FP_J_FORGET,       /* struct fp_j_forget */
	FP_J_UNLINK,       /* struct fp_j_node (kparent) + name + NUL */
	FP_J_RENAME,       /* struct fp_j_rename + old + NUL + new + NUL */
	FP_J_SIZE,         /* struct fp_j_size */
	FP_J_OPEN,         /* struct fp_j_open */
	FP_J_RELEASE,      /* struct fp_j_pair (knode, kfh) */
	FP_J_LOCK,         /* struct fp_j_lock */
	FP_J_UNLOCK_OWNER, /* struct fp_j_pair (knode, owner) */
	FP_J_POLL,         /* struct fp_j_poll */
	FP_J_REPLY,        /* struct fp_j_reply + the message the kernel was sent */
	FP_J_DONE,         /* nothing: the kernel took the reply of `unique` */
	FP_J_KFORGET,      /* struct fp_j_kforget + struct fuse_forget_one[count]: a
			      FORGET or BATCH_FORGET the kernel sent (unique 0) */
	FP_J_NODE,         /* struct fp_j_nodesnap + name: a node as a whole (compaction) */
};

struct fp_j_entry { uint64_t kparent; uint32_t flags, namelen; struct fuse_entry_out e; };
struct fp_j_forget { uint64_t knode, n; };
struct fp_j_node { uint64_t knode; };
struct fp_j_rename { uint64_t olddir, newdir; uint32_t flags, oldlen; };
struct fp_j_size { uint64_t knode, size; uint32_t grow, pad; };
struct fp_j_open { uint64_t knode, kfh; uint32_t flags, fuse_open_flags, fopen, dir; };
struct fp_j_pair { uint64_t a, b; };
struct fp_j_lock { uint64_t knode, kfh; struct fuse_lk_in lk; };
struct fp_j_poll { uint64_t knode, kfh, kh; };
struct fp_j_reply { uint32_t worker, pad; };
struct fp_j_kforget { uint64_t unique; uint32_t count, slot; };
struct fp_j_nodesnap { uint64_t kparent, klookup; uint32_t namelen, pad; struct fuse_entry_out e; };

/* The INIT of the connection: what the kernel sent and got, what the
 * backend was given and answered. */
struct fp_journal_init {
	struct fuse_init_in kinit;
	struct fuse_init_out kout;
	struct fuse_wire_params wp;
	uint32_t kout_len;
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} breq;
	struct fuse_init_out bout;
	int backend_set;
};

struct fp_journal;

/* The unique of the request whose reply the calling thread is tracking
 * (0: none); records carry it. */
extern __thread uint64_t fp_journal_unique;
/* Records the calling thread appended (the caller resets it). */
extern __thread uint32_t fp_journal_count;

/* Read slots: worker thread i reads /dev/fuse into slot i of the memfd, so
 * what a read() returned survives a kill -9 right after it.  A FORGET has
 * no reply and the kernel never sends it again: one read and not yet
 * journaled would be lost with the worker, so the successor applies what
 * it finds in a slot unless the slot says (or a FP_J_KFORGET record
 * shows) that it was journaled. */
#define FP_J_MAX_SLOTS 256

/* Holder: a memfd (sparse) with `size` bytes of records (two regions of
 * half of it, see compaction below) and nslots read slots of slot_size
 * bytes; the fd or -errno. */
int fp_journal_create(size_t size, int nslots, size_t slot_size);

/* Worker: map the memfd.  NULL with a message on failure. */
struct fp_journal *fp_journal_attach(int fd, char *errbuf, size_t errlen);
void fp_journal_detach(struct fp_journal *j);

void fp_journal_set_backend_init(struct fp_journal *j, const void *req, size_t reqlen,
				 const struct fuse_init_out *bout);
/* Marks the INIT complete: from now on a worker that starts takes over. */
void fp_journal_set_kernel_init(struct fp_journal *j, const struct fuse_init_in *kinit,
				const struct fuse_init_out *kout, uint32_t kout_len,
				const struct fuse_wire_params *wp);
/* 0 and *out if a complete INIT is journaled, -ENOENT if not. */
int fp_journal_get_init(struct fp_journal *j, struct fp_journal_init *out);

/* Read slot i (fp_journal_slot_size bytes, placed so a WRITE's data is
 * page aligned) or NULL; *done
 * (if done is not NULL): the unique of the last FORGET from it that was
 * journaled. */
int fp_journal_nslots(struct fp_journal *j);
void *fp_journal_slot(struct fp_journal *j, int i, uint64_t *done);
size_t fp_journal_slot_size(struct fp_journal *j);

/* Map every page of the read slots into the calling process now, and lock
 * them if the limits allow; before any thread reads into a slot.  The
 * kernel copies a request into the reader's buffer page by page, pinning
 * each page with get_user_pages: a page this process has not mapped yet
 * (every page of a new worker, which maps the memfd afresh) takes the slow
 * path, which gives up when a fatal signal is pending, and the kernel then
 * ends the request itself with EIO (fuse_dev_do_read).  A kill -9 while a
 * thread read a 1 MiB writeback WRITE into a fresh slot failed that WRITE:
 * the kernel drops the pages' data with it.  0 or -errno. */
int fp_journal_map_slots(struct fp_journal *j);

/* Journal the kernel's FORGET/BATCH_FORGET `kunique` read into slot (-1:
 * none) as one FP_J_KFORGET record, then mark the slot.  0 or -ENOSPC. */
int fp_journal_append_kforget(struct fp_journal *j, int slot, uint64_t kunique,
			      const struct fuse_forget_one *one, uint32_t count);

/* Append one record (a then b as its payload), tagged with
 * fp_journal_unique.  0, or -ENOSPC once the journal is full (it then
 * stays full: a successor refuses to take over from it). */
int fp_journal_append(struct fp_journal *j, uint16_t type, const void *a, size_t alen,
		      const void *b, size_t blen);
/* The same with an explicit unique. */
int fp_journal_append_u(struct fp_journal *j, uint16_t type, uint64_t unique, const void *a,
			size_t alen, const void *b, size_t blen);

/* Call fn for every committed record, oldest first; a torn last record is
 * wiped, and appends continue after the last committed one.  Returns the
 * number of records, or -ENOSPC if the journal had filled up. */
typedef void (*fp_journal_fn)(void *arg, uint16_t type, uint64_t unique, const void *pl,
			      size_t len);
long fp_journal_replay(struct fp_journal *j, fp_journal_fn fn, void *arg);

/* Bytes used in the active region, for status; compactions so far. */
size_t fp_journal_used(struct fp_journal *j);
uint64_t fp_journal_compactions(struct fp_journal *j);

/* ---- compaction ----------------------------------------------------------
 * The records live in one of two regions.  When the active one holds more
 * than a threshold (16 MiB; the environment variable
 * FUSEPROXY_JOURNAL_COMPACT, in bytes, overrides it for tests), the
 * appending thread calls the compactor (jcompact.c), with the journal lock
 * held: it writes what a successor would rebuild from the active region
 * into the other one, and switches to it with one atomic store of the
 * header.  A kill -9 at any instant leaves one whole journal: the old
 * region until the store, the new one after. */
typedef void (*fp_journal_compact_fn)(void *arg, struct fp_journal *j);
/* threshold 0: the default (or the environment's). */
void fp_journal_set_compactor(struct fp_journal *j, fp_journal_compact_fn fn, void *arg,
			      size_t threshold);
/* For the compactor only (the lock is held): the committed records of the
 * active region; then begin writing the other region, append to it (0 or
 * -ENOSPC), and end: ok switches to it, !ok drops it. */
void fp_journal_walk_locked(struct fp_journal *j, fp_journal_fn fn, void *arg);
void fp_journal_rewrite_begin(struct fp_journal *j);
int fp_journal_rewrite_append(struct fp_journal *j, uint16_t type, uint64_t unique,
			      const void *a, size_t alen, const void *b, size_t blen);
void fp_journal_rewrite_end(struct fp_journal *j, int ok);

#endif
