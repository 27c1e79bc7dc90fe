/* \summary: the passthrough's inode table: (st_dev, st_ino) -> nodeid,
 * lookup counts, file handles, and reopening inodes by handle.
 *
 * Every inode the kernel knows keeps a struct file_handle (name_to_handle_at),
 * not an fd.  At most cache.cap inodes hold an O_PATH fd at a time
 * (pt_fdcache.c); the rest are reopened with open_by_handle_at() on demand.  That is what lets the kernel hold 100k+ inodes under a
 * 20000-fd limit.  Objects whose handle cannot be reopened (the source does
 * not support handles, another mount below the source, an unlinked file) keep
 * a pinned fd instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pt_i.h"

#define PT_HANDLE_MAX 128

static inline bool is_live(const struct pt_inode *ino)
{
	return __atomic_load_n(&ino->live, __ATOMIC_ACQUIRE);
}

/* ---- attributes -------------------------------------------------------- */

void pt_fill_attr(struct pt_fs *fs, const struct stat *st, struct fuse_attr *a)
{
	(void)fs;
	unsigned maj = major(st->st_rdev), min = minor(st->st_rdev);

	memset(a, 0, sizeof *a);
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	/* the kernel decodes rdev with new_decode_dev() */
	a->rdev = (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12);
	a->blksize = (uint32_t)st->st_blksize;
}

void pt_fill_entry_times(struct pt_fs *fs, struct fuse_entry_out *e)
{
	e->entry_valid = fs->entry_valid_ns / 1000000000u;
	e->entry_valid_nsec = (uint32_t)(fs->entry_valid_ns % 1000000000u);
	e->attr_valid = fs->attr_valid_ns / 1000000000u;
	e->attr_valid_nsec = (uint32_t)(fs->attr_valid_ns % 1000000000u);
}

void pt_fill_attr_out(struct pt_fs *fs, const struct stat *st, struct fuse_attr_out *ao)
{
	memset(ao, 0, sizeof *ao);
	ao->attr_valid = fs->attr_valid_ns / 1000000000u;
	ao->attr_valid_nsec = (uint32_t)(fs->attr_valid_ns % 1000000000u);
	pt_fill_attr(fs, st, &ao->attr);
}

static void fill_entry(struct pt_fs *fs, const struct pt_inode *ino,
		       const struct stat *st, struct fuse_entry_out *e)
{
	memset(e, 0, sizeof *e);
	e->nodeid = ino->nodeid;
	e->generation = ino->gen;
	pt_fill_entry_times(fs, e);
	pt_fill_attr(fs, st, &e->attr);
}

/* ---- handles -------------------------------------------------------------- */

/* Handle of fd's object, or NULL (no support, or on another mount than the
 * source's root, where open_by_handle_at(root_fd) could not reopen it). */
static struct file_handle *handle_of(struct pt_fs *fs, int fd)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + PT_HANDLE_MAX];
	} u;
	int mnt;

	if (!fs->handles_ok)
		return NULL;
	u.fh.handle_bytes = PT_HANDLE_MAX;
	if (name_to_handle_at(fd, "", &u.fh, &mnt, AT_EMPTY_PATH) < 0)
		return NULL;
	if (mnt != fs->root_mnt_id)
		return NULL;
	size_t n = sizeof(struct file_handle) + u.fh.handle_bytes;
	struct file_handle *h = malloc(n);
	if (h)
		memcpy(h, &u.fh, n);
	return h;
}

static bool handle_eq(const struct file_handle *a, const struct file_handle *b)
{
	return a->handle_bytes == b->handle_bytes && a->handle_type == b->handle_type &&
	       memcmp(a->f_handle, b->f_handle, a->handle_bytes) == 0;
}

static void warn_pin(struct pt_fs *fs, const char *why)
{
	if (!atomic_exchange(&fs->warned_pin, true))
		fprintf(stderr, "fuseproxy: passthrough: %s: %s; keeping one fd per such "
			"inode (the fd cap cannot bound these)\n", fs->source, why);
}

/* ---- hash ----------------------------------------------------------------- */

static inline uint32_t hash_key(const struct pt_fs *fs, dev_t dev, ino_t ino)
{
	uint64_t k = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ ((uint64_t)dev * 0xC2B2AE3D27D4EB4Full);
	return (uint32_t)(k >> 32) & (fs->hash_size - 1);
}

static struct pt_inode *hash_find(struct pt_fs *fs, dev_t dev, ino_t ino)
{
	for (uint32_t i = fs->hash[hash_key(fs, dev, ino)]; i;) {
		struct pt_inode *p = pt_slots_at(&fs->inodes, i);
		if (p->dev == dev && p->ino == ino)
			return p;
		i = p->hnext;
	}
	return NULL;
}

static void hash_insert_nogrow(struct pt_fs *fs, struct pt_inode *p)
{
	uint32_t b = hash_key(fs, p->dev, p->ino);
	p->hnext = fs->hash[b];
	fs->hash[b] = (uint32_t)p->nodeid;
	p->hashed = 1;
}

static void hash_insert(struct pt_fs *fs, struct pt_inode *p)
{
	if (fs->hash_count + 1 > fs->hash_size) {
		uint32_t nsize = fs->hash_size * 2;
		uint32_t *nh = calloc(nsize, sizeof *nh);
		if (nh) {
			uint32_t *old = fs->hash, osize = fs->hash_size;
			fs->hash = nh;
			fs->hash_size = nsize;
			for (uint32_t b = 0; b < osize; b++) {
				for (uint32_t i = old[b]; i;) {
					struct pt_inode *q = pt_slots_at(&fs->inodes, i);
					i = q->hnext;
					hash_insert_nogrow(fs, q);
				}
			}
			free(old);
		}
	}
	hash_insert_nogrow(fs, p);
	fs->hash_count++;
}

static void hash_remove(struct pt_fs *fs, struct pt_inode *p)
{
	uint32_t *link = &fs->hash[hash_key(fs, p->dev, p->ino)];

	while (*link) {
		struct pt_inode *q = pt_slots_at(&fs->inodes, *link);
		if (q == p) {
			*link = q->hnext;
			p->hashed = 0;
			fs->hash_count--;
			return;
		}
		link = &q->hnext;
	}
}

/* ---- table -------------------------------------------------------------- */

/* New inode for st; tlock held.  fd (may be -1) becomes its cached fd. */
static struct pt_inode *inode_new(struct pt_fs *fs, const struct stat *st,
				  struct file_handle *h, int fd)
{
	bool reused = false;
	uint32_t idx = pt_slots_alloc(&fs->inodes, &reused);
	if (!idx)
		return NULL;
	struct pt_inode *ino = pt_slots_at(&fs->inodes, idx);
	uint32_t gen = ino->gen + (reused ? 1 : 0);
	if (!reused)
		pthread_mutex_init(&ino->lock, NULL);

	pthread_mutex_lock(&ino->lock);
	ino->fd = fd;
	ino->users = 0;
	ino->clock_pos = -1;
	ino->referenced = 1;
	ino->transient = 0;
	ino->pinned = h ? 0 : 1;
	ino->zombie = 0;
	ino->gen = gen;
	ino->nlookup = 1;
	ino->dev = st->st_dev;
	ino->ino = st->st_ino;
	ino->handle = h;
	ino->nodeid = idx;
	__atomic_store_n(&ino->live, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&ino->lock);
	hash_insert(fs, ino);
	return ino;
}

/* Give back a slot whose lookups and users are all gone. */
static void inode_release(struct pt_fs *fs, struct pt_inode *ino)
{
	struct pt_cache *c = &fs->cache;

	pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&ino->lock);
	pt_cache_remove_locked(fs, ino);
	if (ino->fd >= 0)
		pt_fd_closed(fs, ino->fd);
	ino->fd = -1;
	free(ino->handle);
	ino->handle = NULL;
	ino->zombie = 0;
	ino->pinned = 0;
	ino->transient = 0;
	pthread_mutex_unlock(&ino->lock);
	pthread_mutex_unlock(&c->lock);
	pt_slots_free(&fs->inodes, (uint32_t)ino->nodeid);
}

struct pt_inode *pt_inode_get(struct pt_fs *fs, uint64_t nodeid)
{
	if (nodeid == 0 || nodeid > UINT32_MAX)
		return NULL;
	struct pt_inode *ino = pt_slots_at(&fs->inodes, nodeid);
	return ino && is_live(ino) ? ino : NULL;
}

int pt_inode_fd(struct pt_fs *fs, struct pt_inode *ino)
{
	int fd, err;

	for (int tries = 0;; tries++) {
		pthread_mutex_lock(&ino->lock);
		if (!ino->live) {
			pthread_mutex_unlock(&ino->lock);
			return -ESTALE;
		}
		if (ino->fd >= 0) {
			ino->users++;
			ino->referenced = 1;
			fd = ino->fd;
			pthread_mutex_unlock(&ino->lock);
			return fd;
		}
		if (!ino->handle) {
			pthread_mutex_unlock(&ino->lock);
			return -ESTALE;
		}
		/* open_by_handle_at needs CAP_DAC_READ_SEARCH, which a non-zero
		 * fsuid drops from the effective set */
		uid_t saved = pt_cred_root_begin();
		fd = open_by_handle_at(fs->root_fd, ino->handle, O_PATH | O_CLOEXEC);
		err = errno;
		pt_cred_root_end(saved);
		if (fd >= 0)
			break;
		pthread_mutex_unlock(&ino->lock);
		if (tries || (err != EMFILE && err != ENFILE))
			return -err;
		pt_cache_shrink(fs, fs->cache.cap / 2);
	}
	pt_fd_opened(fs);
	ino->fd = fd;
	ino->users++;
	ino->referenced = 1;
	pthread_mutex_unlock(&ino->lock);
	pt_cache_insert(fs, ino);
	return fd;
}

void pt_inode_put(struct pt_fs *fs, struct pt_inode *ino)
{
	bool free_it = false;

	pthread_mutex_lock(&ino->lock);
	if (--ino->users == 0) {
		if (ino->transient && ino->fd >= 0 && !ino->pinned) {
			pt_fd_closed(fs, ino->fd);
			ino->fd = -1;
		}
		ino->transient = 0;
		free_it = ino->zombie;
	}
	pthread_mutex_unlock(&ino->lock);
	if (free_it)
		inode_release(fs, ino);
}

void pt_inode_forget(struct pt_fs *fs, uint64_t nodeid, uint64_t n)
{
	struct pt_inode *ino;
	bool now = false;

	if (nodeid == FUSE_ROOT_ID || !(ino = pt_inode_get(fs, nodeid)))
		return;
	pthread_mutex_lock(&fs->tlock);
	if (!ino->live) {
		pthread_mutex_unlock(&fs->tlock);
		return;
	}
	ino->nlookup = n >= ino->nlookup ? 0 : ino->nlookup - n;
	if (ino->nlookup == 0) {
		if (ino->hashed)
			hash_remove(fs, ino);
		pthread_mutex_lock(&ino->lock);
		__atomic_store_n(&ino->live, 0, __ATOMIC_RELEASE);
		ino->zombie = 1;
		now = ino->users == 0;
		pthread_mutex_unlock(&ino->lock);
	}
	pthread_mutex_unlock(&fs->tlock);
	if (now)
		inode_release(fs, ino);
}

/* nlookup++ on an inode the caller knows is live; tlock held. */
static void ref_locked(struct pt_inode *ino) { ino->nlookup++; }

static int entry_self(struct pt_fs *fs, struct pt_inode *ino, int fd, struct fuse_entry_out *e)
{
	struct stat st;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	pthread_mutex_lock(&fs->tlock);
	if (!ino->live) {
		pthread_mutex_unlock(&fs->tlock);
		return -ESTALE;
	}
	ref_locked(ino);
	pthread_mutex_unlock(&fs->tlock);
	fill_entry(fs, ino, &st, e);
	return 0;
}

/* Is `ino`'s cached identity trustworthy without comparing handles?  It is
 * while we hold an fd: the object cannot be freed and its inode number
 * reused.  tlock held. */
static bool identity_pinned(struct pt_inode *ino)
{
	pthread_mutex_lock(&ino->lock);
	bool r = ino->fd >= 0 || !ino->handle;
	pthread_mutex_unlock(&ino->lock);
	return r;
}

int pt_entry_at(struct pt_fs *fs, struct pt_inode *dir, int dirfd, const char *name,
		int fd, struct fuse_entry_out *e)
{
	struct stat st;
	struct pt_inode *ino;
	struct file_handle *h = NULL;
	int opened = -1, objfd, err;

	if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0 &&
						dir->nodeid == FUSE_ROOT_ID)))
		return entry_self(fs, dir, dirfd, e);   /* "." or the root's ".." */

	/* fast path: a known inode whose fd we hold */
	if (fd >= 0 ? fstat(fd, &st) : fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + PT_HANDLE_MAX];
	} known;
	known.fh.handle_bytes = 0;
	pthread_mutex_lock(&fs->tlock);
	ino = hash_find(fs, st.st_dev, st.st_ino);
	if (ino && identity_pinned(ino)) {
		ref_locked(ino);
		pthread_mutex_unlock(&fs->tlock);
		fill_entry(fs, ino, &st, e);
		return 0;
	}
	if (ino && ino->handle && fd < 0)
		memcpy(&known, ino->handle, sizeof(struct file_handle) + ino->handle->handle_bytes);
	pthread_mutex_unlock(&fs->tlock);

	/* known inode whose fd was evicted: the handle of the name tells
	 * whether it is still the same object (not a reused inode number),
	 * without opening it */
	if (known.fh.handle_bytes && fs->handles_ok) {
		union {
			struct file_handle fh;
			char buf[sizeof(struct file_handle) + PT_HANDLE_MAX];
		} now;
		int mnt;
		now.fh.handle_bytes = PT_HANDLE_MAX;
		if (name_to_handle_at(dirfd, name, &now.fh, &mnt, 0) == 0 &&
		    mnt == fs->root_mnt_id && handle_eq(&now.fh, &known.fh)) {
			pthread_mutex_lock(&fs->tlock);
			ino = hash_find(fs, st.st_dev, st.st_ino);
			if (ino && ino->handle && handle_eq(ino->handle, &known.fh)) {
				ref_locked(ino);
				pthread_mutex_unlock(&fs->tlock);
				fill_entry(fs, ino, &st, e);
				return 0;
			}
			pthread_mutex_unlock(&fs->tlock);
		}
	}

	/* slow path: get an fd of the object and its handle */
	if (fd >= 0) {
		objfd = fd;
	} else {
		opened = pt_openat_retry(fs, dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
		if (opened < 0)
			return -errno;
		pt_fd_opened(fs);
		objfd = opened;
		if (fstat(objfd, &st) < 0) {
			err = -errno;
			goto out_close;
		}
	}
	h = handle_of(fs, objfd);
	if (!h && opened < 0) {
		/* pinned inodes need an fd of their own */
		char p[PT_PROC_FD_LEN];
		pt_proc_path(p, fd);
		opened = open(p, O_PATH | O_CLOEXEC);
		if (opened < 0)
			return -errno;
		pt_fd_opened(fs);
	}

	pthread_mutex_lock(&fs->tlock);
	ino = hash_find(fs, st.st_dev, st.st_ino);
	if (ino && !identity_pinned(ino) && h && ino->handle && !handle_eq(h, ino->handle)) {
		/* the number was reused by a new object: the old inode stays
		 * valid for the kernel's references but is no longer found */
		hash_remove(fs, ino);
		ino = NULL;
	}
	if (ino) {
		ref_locked(ino);
		pthread_mutex_unlock(&fs->tlock);
		free(h);
		fill_entry(fs, ino, &st, e);
		if (opened >= 0) {
			bool adopt = false;
			pthread_mutex_lock(&ino->lock);
			if (ino->fd < 0 && ino->live) {
				ino->fd = opened;
				adopt = true;
			}
			pthread_mutex_unlock(&ino->lock);
			if (adopt)
				pt_cache_insert(fs, ino);
			else
				pt_fd_closed(fs, opened);
		}
		return 0;
	}
	ino = inode_new(fs, &st, h, opened);
	pthread_mutex_unlock(&fs->tlock);
	if (!ino) {
		free(h);
		err = -ENOMEM;
		goto out_close;
	}
	if (!h)
		warn_pin(fs, "file handles unavailable for some objects (no export "
			 "support, or another mount below the source)");
	fill_entry(fs, ino, &st, e);
	if (h && opened >= 0)
		pt_cache_insert(fs, ino);
	return 0;

out_close:
	if (opened >= 0)
		pt_fd_closed(fs, opened);
	return err;
}

int pt_entry_unnamed(struct pt_fs *fs, int fd, struct fuse_entry_out *e)
{
	struct stat st;
	char p[PT_PROC_FD_LEN];
	int opened, err;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* an unlinked file's handle cannot be reopened: pin an O_PATH fd */
	pt_proc_path(p, fd);
	opened = open(p, O_PATH | O_CLOEXEC);
	if (opened < 0)
		return -errno;
	pt_fd_opened(fs);
	pthread_mutex_lock(&fs->tlock);
	struct pt_inode *ino = inode_new(fs, &st, NULL, opened);
	pthread_mutex_unlock(&fs->tlock);
	if (!ino) {
		err = -ENOMEM;
		pt_fd_closed(fs, opened);
		return err;
	}
	fill_entry(fs, ino, &st, e);
	return 0;
}

void pt_inode_pin_if_last_link(struct pt_fs *fs, int dirfd, const char *name)
{
	struct stat st, st2;
	struct pt_inode *ino;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode) ||
	    st.st_nlink != 1)
		return;
	pthread_mutex_lock(&fs->tlock);
	ino = hash_find(fs, st.st_dev, st.st_ino);
	pthread_mutex_unlock(&fs->tlock);
	if (!ino)
		return;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	pt_fd_opened(fs);
	if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
		pt_fd_closed(fs, fd);
		return;
	}
	pthread_mutex_lock(&fs->tlock);
	pthread_mutex_lock(&ino->lock);
	if (ino->live && ino->dev == st.st_dev && ino->ino == st.st_ino) {
		if (ino->fd < 0) {
			ino->fd = fd;
			fd = -1;
		}
		ino->pinned = 1;
		ino->transient = 0;
	}
	pthread_mutex_unlock(&ino->lock);
	pthread_mutex_unlock(&fs->tlock);
	if (fd >= 0)
		pt_fd_closed(fs, fd);
}

/* ---- setup ------------------------------------------------------------------ */

int pt_inode_table_init(struct pt_fs *fs)
{
	struct stat st;
	struct file_handle *h;
	uint32_t cap;
	int err;

	err = pt_slots_init(&fs->inodes, sizeof(struct pt_inode), FUSE_ROOT_ID, 4096);
	if (err)
		return err;
	if ((err = -pthread_mutex_init(&fs->tlock, NULL)))
		return err;
	fs->hash_size = 4096;
	fs->hash = calloc(fs->hash_size, sizeof *fs->hash);
	if (!fs->hash)
		return -ENOMEM;

	if (fs->opt.max_fds > 0) {
		cap = (uint32_t)fs->opt.max_fds;
	} else {
		struct rlimit rl;
		cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			      ? (uint32_t)(rl.rlim_cur / 2) : 512;
	}
	if (cap < 4)
		cap = 4;
	if ((err = pt_cache_init(fs, cap)))
		return err;

	/* can we reopen what we hand out?  Try the root itself. */
	if (fstat(fs->root_fd, &st) < 0)
		return -errno;
	fs->handles_ok = true;
	uid_t saved = pt_cred_root_begin();
	{
		union {
			struct file_handle fh;
			char buf[sizeof(struct file_handle) + PT_HANDLE_MAX];
		} u;
		u.fh.handle_bytes = PT_HANDLE_MAX;
		if (name_to_handle_at(fs->root_fd, "", &u.fh, &fs->root_mnt_id, AT_EMPTY_PATH) < 0) {
			fs->handles_ok = false;
		} else {
			int t = open_by_handle_at(fs->root_fd, &u.fh, O_PATH | O_CLOEXEC);
			if (t < 0)
				fs->handles_ok = false;
			else
				close(t);
		}
	}
	pt_cred_root_end(saved);
	if (!fs->handles_ok)
		warn_pin(fs, "file handles do not work here (name_to_handle_at/"
			 "open_by_handle_at failed: no export support or no "
			 "CAP_DAC_READ_SEARCH)");

	h = handle_of(fs, fs->root_fd);
	free(h);   /* the root is pinned: it is the mount_fd */
	pthread_mutex_lock(&fs->tlock);
	struct pt_inode *root = inode_new(fs, &st, NULL, fs->root_fd);
	pthread_mutex_unlock(&fs->tlock);
	if (!root || root->nodeid != FUSE_ROOT_ID)
		return -ENOMEM;
	pt_fd_opened(fs);
	return 0;
}

void pt_inode_table_fini(struct pt_fs *fs)
{
	uint32_t hw = atomic_load(&fs->inodes.hiwater);

	for (uint32_t i = FUSE_ROOT_ID; i < hw; i++) {
		struct pt_inode *ino = pt_slots_at(&fs->inodes, i);
		if (!ino)
			continue;
		if (ino->fd >= 0)
			pt_fd_closed(fs, ino->fd);   /* includes root_fd */
		ino->fd = -1;
		free(ino->handle);
		ino->handle = NULL;
		if (i < atomic_load(&fs->inodes.hiwater))
			pthread_mutex_destroy(&ino->lock);
	}
	free(fs->hash);
	pt_cache_fini(fs);
	pthread_mutex_destroy(&fs->tlock);
	pt_slots_fini(&fs->inodes);
}
