/* \summary: internals of the built-in passthrough filesystem (fs/pt_*.c).
 *
 * Layout of the state:
 *
 *   pt_fs.inodes   slot table of struct pt_inode, indexed by nodeid.  A slot
 *                  is reused only after the kernel forgot it (nlookup 0) and
 *                  a delay, with its generation bumped.
 *   pt_fs.hash     (st_dev, st_ino) -> nodeid, under pt_fs.tlock.
 *   pt_fs.cache    the bounded set of inodes that hold an O_PATH fd right
 *                  now (clock array); everything else reopens through its
 *                  struct file_handle with open_by_handle_at().
 *   pt_fs.files    slot table of struct pt_file (open files and dirs),
 *                  indexed by the low 32 bits of the fh we hand out.
 *
 * Lock order: cache.lock -> inode.lock (sweeps only trylock inodes),
 * tlock -> inode.lock.  No lock is held across a reply.
 */
#ifndef FP_PT_I_H
#define FP_PT_I_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "passthrough.h"

/* ---- slot tables (pt_slots.c) ------------------------------------------ */

#define PT_CHUNK_SHIFT 12
#define PT_CHUNK       (1u << PT_CHUNK_SHIFT)
#define PT_MAX_CHUNKS  16384u          /* 64M slots */

/* Chunked array of fixed-size elements: element addresses never move, so a
 * lookup by index needs no lock.  Freed slots go to a FIFO and are reused
 * only once `reuse_delay` slots are waiting (so a stale index from a buggy
 * peer rarely lands on a fresh object; generations catch the rest). */
struct pt_slots {
	size_t esize;
	_Atomic(char *) chunks[PT_MAX_CHUNKS];
	_Atomic uint32_t hiwater;         /* slots [0, hiwater) exist */
	pthread_mutex_t lock;
	uint32_t *next;                   /* FIFO links, grown with chunks */
	uint32_t next_cap;
	uint32_t free_head, free_tail, nfree;
	uint32_t reuse_delay;
	uint32_t first;                   /* first index handed out */
};

int pt_slots_init(struct pt_slots *s, size_t esize, uint32_t first, uint32_t reuse_delay);
void pt_slots_fini(struct pt_slots *s);
/* Returns an index >= first (element zeroed if brand new) or 0 on ENOMEM.
 * *reused tells whether the element held an older object. */
uint32_t pt_slots_alloc(struct pt_slots *s, bool *reused);
void pt_slots_free(struct pt_slots *s, uint32_t idx);
static inline void *pt_slots_at(struct pt_slots *s, uint64_t idx)
{
	if (idx >= atomic_load_explicit(&s->hiwater, memory_order_acquire))
		return NULL;
	char *c = atomic_load_explicit(&s->chunks[idx >> PT_CHUNK_SHIFT],
				       memory_order_acquire);
	return c ? c + (idx & (PT_CHUNK - 1)) * s->esize : NULL;
}

/* ---- inodes (pt_inode.c) ----------------------------------------------- */

struct pt_inode {
	pthread_mutex_t lock;       /* fd, users, referenced, transient, zombie */
	int fd;                     /* cached O_PATH fd (root: O_RDONLY dir), -1 */
	uint32_t users;             /* requests using fd right now */
	int32_t clock_pos;          /* index in pt_cache.slots, -1 if not there */
	uint8_t referenced;         /* clock bit */
	uint8_t transient;          /* fd opened over the cap: close on last put */
	uint8_t pinned;             /* fd never evicted (no usable handle) */
	uint8_t zombie;             /* forgotten while in use: free on last put */
	uint8_t live;               /* slot holds an inode the kernel may use */
	uint8_t hashed;             /* reachable through pt_fs.hash */
	uint32_t gen;               /* generation of this nodeid */
	uint64_t nlookup;           /* under tlock */
	dev_t dev;
	ino_t ino;
	uint32_t hnext;             /* hash chain, under tlock */
	struct file_handle *handle; /* NULL if pinned */
	uint64_t nodeid;
};

struct pt_cache {
	pthread_mutex_t lock;
	uint32_t *slots;            /* inode indices; 0 = empty */
	uint32_t cap;               /* max cached fds */
	uint32_t count;             /* used entries */
	uint32_t hand;              /* clock hand */
	uint32_t *freepos;          /* stack of empty positions */
	uint32_t nfreepos;
};

/* ---- open files (pt_file.c, pt_dir.c) ---------------------------------- */

struct pt_dir;

struct pt_file {
	int fd;
	uint32_t gen;
	uint8_t in_use;
	uint8_t is_dir;
	uint8_t direct;             /* O_DIRECT: I/O buffers must be aligned */
	uint64_t nodeid;
	struct pt_dir *dir;
};

/* ---- the filesystem ------------------------------------------------------ */

struct pt_fs {
	struct fp_fs base;          /* must be first */
	struct pt_options opt;
	char *source;
	int root_fd;                /* O_RDONLY|O_DIRECTORY; also the mount_fd */
	int root_mnt_id;
	bool handles_ok;            /* open_by_handle_at works on the source */
	_Atomic bool warned_pin;
	bool writeback;             /* negotiated (wanted and offered) */
	uint32_t max_write;

	uint64_t entry_valid_ns, attr_valid_ns;

	struct pt_slots inodes;
	pthread_mutex_t tlock;      /* hash, nlookup, live/hashed */
	uint32_t *hash;
	uint32_t hash_size, hash_count;

	struct pt_cache cache;
	struct pt_slots files;

	_Atomic long nfds;          /* every fd we hold (cache, files, locks, root) */

	struct pt_locks *locks;     /* pt_lock.c */
};

static inline struct pt_fs *pt_of(struct fp_fs *fs) { return (struct pt_fs *)fs; }

/* Every fd the filesystem holds is counted (pt_open_fds). */
static inline void pt_fd_opened(struct pt_fs *fs) { atomic_fetch_add(&fs->nfds, 1); }
static inline void pt_fd_closed(struct pt_fs *fs, int fd)
{
	close(fd);
	atomic_fetch_sub(&fs->nfds, 1);
}

int pt_inode_table_init(struct pt_fs *fs);
void pt_inode_table_fini(struct pt_fs *fs);
/* Inode for a nodeid the kernel sent, or NULL (-> ESTALE). */
struct pt_inode *pt_inode_get(struct pt_fs *fs, uint64_t nodeid);
/* Take a user reference and return a usable fd (O_PATH, or the root dir fd),
 * reopening by handle if needed; -errno on failure.  Pair with pt_inode_put. */
int pt_inode_fd(struct pt_fs *fs, struct pt_inode *ino);
void pt_inode_put(struct pt_fs *fs, struct pt_inode *ino);
/* Lookup `name` in directory fd `dirfd` (inode `dir`), creating or finding
 * the inode, incrementing its nlookup, and filling *e.  If `fd` >= 0 it is an
 * fd of the object already opened by the caller (not consumed). */
int pt_entry_at(struct pt_fs *fs, struct pt_inode *dir, int dirfd, const char *name,
		int fd, struct fuse_entry_out *e);
/* Entry for an object we hold an fd of but that has no name (O_TMPFILE). */
int pt_entry_unnamed(struct pt_fs *fs, int fd, struct fuse_entry_out *e);
/* Subtract n lookups; frees the inode at zero. */
void pt_inode_forget(struct pt_fs *fs, uint64_t nodeid, uint64_t n);
/* If `name` in dirfd is a known inode with one link left, make sure we keep
 * an fd of it: once unlinked its handle can no longer be opened. */
void pt_inode_pin_if_last_link(struct pt_fs *fs, int dirfd, const char *name);
/* ---- the fd cache (pt_fdcache.c) --------------------------------------- */

int pt_cache_init(struct pt_fs *fs, uint32_t cap);
void pt_cache_fini(struct pt_fs *fs);
/* Account a freshly set ino->fd; without room it becomes transient. */
void pt_cache_insert(struct pt_fs *fs, struct pt_inode *ino);
/* cache.lock and ino->lock held */
void pt_cache_remove_locked(struct pt_fs *fs, struct pt_inode *ino);
/* Close unused cached fds until at most `target` remain (EMFILE recovery). */
void pt_cache_shrink(struct pt_fs *fs, uint32_t target);
/* openat(), retried once after halving the fd cache if the process is out
 * of fds: apps' open files and our cached inode fds share one limit. */
int pt_openat_retry(struct pt_fs *fs, int dirfd, const char *path, int flags, mode_t mode);

void pt_fill_attr(struct pt_fs *fs, const struct stat *st, struct fuse_attr *a);
void pt_fill_entry_times(struct pt_fs *fs, struct fuse_entry_out *e);
void pt_fill_attr_out(struct pt_fs *fs, const struct stat *st, struct fuse_attr_out *ao);

/* "/proc/self/fd/N" */
#define PT_PROC_FD_LEN 32
static inline void pt_proc_path(char buf[PT_PROC_FD_LEN], int fd)
{
	static const char pre[] = "/proc/self/fd/";
	char tmp[12];
	int n = 0;
	unsigned u = (unsigned)fd;
	do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
	memcpy(buf, pre, sizeof pre - 1);
	char *p = buf + sizeof pre - 1;
	while (n)
		*p++ = tmp[--n];
	*p = 0;
}

/* ---- open files ---------------------------------------------------------- */

int pt_files_init(struct pt_fs *fs);
void pt_files_fini(struct pt_fs *fs);
/* Registers fd (consumed) as a new open file; returns the fh or 0 + *err. */
uint64_t pt_file_new(struct pt_fs *fs, int fd, uint64_t nodeid, struct pt_dir *dir, int *err);
struct pt_file *pt_file_get(struct pt_fs *fs, uint64_t fh);
/* fd of fh, or -EBADF */
static inline int pt_fh_fd(struct pt_fs *fs, uint64_t fh)
{
	struct pt_file *f = pt_file_get(fs, fh);
	return f ? f->fd : -EBADF;
}
void pt_file_free(struct pt_fs *fs, uint64_t fh);
void pt_dir_free(struct pt_dir *d);

/* Inode of nodeid and a user reference on its fd: returns the fd (>= 0) and
 * sets *ino, or -errno.  Release with pt_inode_put(fs, *ino). */
static inline int pt_acquire(struct pt_fs *fs, uint64_t nodeid, struct pt_inode **ino)
{
	*ino = pt_inode_get(fs, nodeid);
	return *ino ? pt_inode_fd(fs, *ino) : -ESTALE;
}

/* Reply sizes that depend on the negotiated minor (0 = unknown: current). */
static inline uint32_t pt_entry_out_size(const struct fp_req *req)
{
	return req->minor && req->minor < 9 ? FUSE_COMPAT_ENTRY_OUT_SIZE
					     : sizeof(struct fuse_entry_out);
}
static inline uint32_t pt_attr_out_size(const struct fp_req *req)
{
	return req->minor && req->minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE
					     : sizeof(struct fuse_attr_out);
}

/* ---- credentials (pt_cred.c) --------------------------------------------- */

enum pt_cred_kind {
	PT_CRED_NONE,      /* any: the op does no permission-checked syscall */
	PT_CRED_ROOT,      /* fsuid/fsgid 0 */
	PT_CRED_FSID,      /* caller's fsuid/fsgid, groups untouched */
	PT_CRED_FULL,      /* caller's fsuid/fsgid and supplementary groups */
};

/* Switch the calling thread to the request's credentials (only what differs
 * from what the thread already has).  Returns 0 or -errno. */
int pt_cred_apply(const struct fp_req *req, enum pt_cred_kind kind);
/* Run a root-only step (open_by_handle_at) from whatever creds we have. */
uid_t pt_cred_root_begin(void);
void pt_cred_root_end(uid_t saved);
/* Give this thread its own umask (unshare(CLONE_FS) once) and set it.
 * false: not possible here; the caller must apply the mask to the mode. */
bool pt_cred_umask(mode_t mask);
/* Caller's uid (0 for kernel-internal requests) */
uid_t pt_cred_fsuid(void);
/* Clear S_ISUID, and S_ISGID when group-executable (regular files; fd may
 * be O_PATH). */
int pt_kill_suidgid(int fd);

/* ---- locks (pt_lock.c) ---------------------------------------------------- */

int pt_locks_init(struct pt_fs *fs);
void pt_locks_fini(struct pt_fs *fs);
/* Drop every POSIX lock `owner` holds on `nodeid` (FLUSH/close semantics). */
void pt_locks_release_owner(struct pt_fs *fs, uint64_t nodeid, uint64_t owner);
/* Drop the owners created through fh (RELEASE: OFD locks end with it). */
void pt_locks_release_fh(struct pt_fs *fs, uint64_t nodeid, uint64_t fh);

/* ---- handlers -------------------------------------------------------------- */

typedef int pt_handler(struct pt_fs *fs, struct fp_req *req);

/* Copy the fixed argument into a zeroed local of the op's full size: handles
 * shorter compat sizes and the FUSE-over-io_uring rule that the reply area
 * may alias the request. */
#define PT_ARG(req, type, var)                                                 \
	type var;                                                              \
	memset(&var, 0, sizeof var);                                           \
	if ((req)->v.fixed)                                                    \
		memcpy(&var, (req)->v.fixed,                                   \
		       (req)->v.fixed_len < sizeof var ? (req)->v.fixed_len    \
						       : sizeof var)

pt_handler pt_lookup, pt_forget, pt_batch_forget, pt_getattr, pt_setattr,
	pt_statx, pt_readlink, pt_symlink, pt_mknod, pt_mkdir, pt_unlink,
	pt_rmdir, pt_rename, pt_rename2, pt_link, pt_access, pt_statfs,
	pt_syncfs;
pt_handler pt_open, pt_create_op, pt_tmpfile, pt_read, pt_write, pt_flush,
	pt_release, pt_fsync, pt_fallocate, pt_lseek, pt_copy_file_range,
	pt_copy_file_range_64, pt_ioctl, pt_poll;
pt_handler pt_opendir, pt_readdir, pt_readdirplus, pt_releasedir;
pt_handler pt_setxattr, pt_getxattr, pt_listxattr, pt_removexattr;
pt_handler pt_getlk, pt_setlk, pt_setlkw;

#endif
