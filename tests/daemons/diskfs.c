/* Description: diskfs, a passthrough of a directory on disk on libfuse3's low-level API,
 * written for fuseproxy's crash-recovery tests: what it serves lives on disk, so a
 * restarted instance sees everything its crashed predecessor did, and it can crash on
 * purpose at a chosen point.
 *
 *   diskfs [options] [libfuse options] SRC MNT|/dev/fd/N
 *     --crash-after=OP[:NAME]   kill itself (SIGKILL) right after performing OP, before
 *                               replying; OP is one of mkdir, mknod, symlink, link,
 *                               create, unlink, rmdir, rename, read, write, setlkw; NAME
 *                               restricts it to that name (the new name for rename
 *                               and link; the file's name for write and setlkw)
 *     --crash-before=OP[:NAME]  the same, before performing it
 *     --hang-before=OP[:NAME]   stop answering (sleep for ever) before performing OP:
 *                               a backend that hangs, for --backend-timeout
 *     --hang-after=OP[:NAME]    perform OP, then never reply: a request done but still
 *                               pending (for a proxy worker killed meanwhile)
 *     --crash-marker=FILE       crash only if FILE does not exist, and create it first:
 *                               the restarted instance does not crash again
 *     --timeout=S               entry and attribute timeout (default 1.0)
 *     --slow-open=MS            every OPEN takes MS milliseconds more (a reopen the
 *                               proxy waits for, for a race with an upgrade)
 *     --remote-locks            serve POSIX and flock locks itself (POSIX_LOCKS,
 *                               FLOCK_LOCKS); without it the kernel keeps them locally:
 *                               remote locks race close(2) (the kernel releases the
 *                               handle after close returns), which upsets tests that
 *                               lock again right after closing
 *
 * Node ids count up from 2 in every instance, so a restarted instance hands out the
 * same small numbers for other objects: the proxy has to keep its kernel ids apart.
 * With --remote-locks, locks are OFD locks on the handle's fd (flock(2) for flock), so
 * they conflict between opens as POSIX locks between processes do, and vanish with the
 * process.
 * At exit it reports how many lookups the kernel (or proxy) still holds, so tests can
 * check that FORGETs balance lookups.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------------ */

static struct diskfs_opts {
	char *crash_after, *crash_before, *hang_before, *hang_after, *marker, *timeout_str;
	int slow_open_ms;
	double timeout;
	int remote_locks;
} opt = { .timeout = 1.0 };

#define DOPT(t, f) { t, offsetof(struct diskfs_opts, f), 0 }
static const struct fuse_opt optspec[] = {
	DOPT("--crash-after=%s", crash_after),
	DOPT("--crash-before=%s", crash_before),
	DOPT("--hang-before=%s", hang_before),
	DOPT("--hang-after=%s", hang_after),
	DOPT("--crash-marker=%s", marker),
	DOPT("--timeout=%s", timeout_str),
	DOPT("--slow-open=%d", slow_open_ms),
	{ "--remote-locks", offsetof(struct diskfs_opts, remote_locks), 1 },
	FUSE_OPT_END
};

static char *source;

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !source) {
		source = realpath(arg, NULL);
		if (!source) {
			fprintf(stderr, "diskfs: %s: %s\n", arg, strerror(errno));
			return -1;
		}
		return 0;
	}
	return 1;
}

/* ---- crash points ------------------------------------------------------------- */

static void crash_point(const char *spec, const char *when, const char *op, const char *name)
{
	char buf[PATH_MAX];
	const char *colon;
	size_t oplen;

	if (!spec)
		return;
	colon = strchr(spec, ':');
	oplen = colon ? (size_t)(colon - spec) : strlen(spec);
	if (strlen(op) != oplen || strncmp(spec, op, oplen))
		return;
	if (colon && (!name || strcmp(colon + 1, name)))
		return;
	if (opt.marker) {
		int fd = open(opt.marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return;		/* crashed once already */
		close(fd);
	}
	snprintf(buf, sizeof buf, "diskfs: %s %s %s %s\n", strncmp(when, "hang", 4) ? "crashing" :
		 "hanging", strcmp(when, "hang") ? (strcmp(when, "hang-after") ? when : "after")
		 : "before", op, name ? name : "");
	if (write(2, buf, strlen(buf)) < 0)
		_exit(2);
	if (!strncmp(when, "hang", 4)) {
		for (;;)
			pause();
	}
	raise(SIGKILL);
}

#define CRASH_BEFORE(op, name) do {                           \
		crash_point(opt.crash_before, "before", op, name);    \
		crash_point(opt.hang_before, "hang", op, name);       \
	} while (0)
#define CRASH_AFTER(op, name) do {                            \
		crash_point(opt.crash_after, "after", op, name);      \
		crash_point(opt.hang_after, "hang-after", op, name);  \
	} while (0)

/* ---- inodes ------------------------------------------------------------------- */

struct inode {
	int fd;                  /* O_PATH */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;
	uint64_t id;
	struct inode *hnext;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct inode **byid;      /* index: node id */
static uint64_t nid, capid;
#define HSIZE 65536
static struct inode *hash[HSIZE];

static struct inode *inode_of(fuse_ino_t id)
{
	struct inode *i;
	pthread_mutex_lock(&mu);
	i = id < nid ? byid[id] : NULL;
	pthread_mutex_unlock(&mu);
	return i;
}

static int fd_of(fuse_ino_t id)
{
	struct inode *i = inode_of(id);
	return i ? i->fd : -1;
}

static double timeout(void)
{
	return opt.timeout;
}

/* Look name up in parent: fill e, count one lookup.  0 or errno. */
static int do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	int pfd = fd_of(parent), fd;
	struct stat st;
	struct inode *i;
	unsigned h;

	memset(e, 0, sizeof *e);
	e->attr_timeout = e->entry_timeout = timeout();
	if (pfd < 0)
		return ESTALE;
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int e2 = errno;
		close(fd);
		return e2;
	}
	h = (unsigned)((st.st_ino * 31 + st.st_dev) % HSIZE);
	pthread_mutex_lock(&mu);
	for (i = hash[h]; i; i = i->hnext)
		if (i->ino == st.st_ino && i->dev == st.st_dev)
			break;
	if (i) {
		close(fd);
	} else {
		i = calloc(1, sizeof *i);
		if (!i || (nid == capid && !(byid = realloc(byid, (capid = capid * 2 + 64) *
							     sizeof *byid)))) {
			pthread_mutex_unlock(&mu);
			close(fd);
			free(i);
			return ENOMEM;
		}
		i->fd = fd;
		i->dev = st.st_dev;
		i->ino = st.st_ino;
		i->id = nid;
		byid[nid++] = i;
		i->hnext = hash[h];
		hash[h] = i;
	}
	i->nlookup++;
	pthread_mutex_unlock(&mu);
	e->ino = i->id;
	e->generation = 0;
	e->attr = st;
	return 0;
}

static void forget_one(fuse_ino_t id, uint64_t n)
{
	struct inode *i;

	pthread_mutex_lock(&mu);
	i = id < nid ? byid[id] : NULL;
	if (i && id != FUSE_ROOT_ID) {
		i->nlookup = n > i->nlookup ? 0 : i->nlookup - n;
		if (!i->nlookup) {
			unsigned h = (unsigned)((i->ino * 31 + i->dev) % HSIZE);
			for (struct inode **pp = &hash[h]; *pp; pp = &(*pp)->hnext)
				if (*pp == i) {
					*pp = i->hnext;
					break;
				}
			byid[id] = NULL;
			close(i->fd);
			free(i);
		}
	}
	pthread_mutex_unlock(&mu);
}

static void outstanding(uint64_t *inodes, uint64_t *refs)
{
	*inodes = *refs = 0;
	pthread_mutex_lock(&mu);
	for (uint64_t id = 2; id < nid; id++)
		if (byid[id] && byid[id]->nlookup) {
			++*inodes;
			*refs += byid[id]->nlookup;
		}
	pthread_mutex_unlock(&mu);
}

/* /proc/self/fd/N of an O_PATH fd, for the calls that want a path. */
static void procpath(char *buf, size_t n, int fd)
{
	snprintf(buf, n, "/proc/self/fd/%d", fd);
}

/* ---- operations --------------------------------------------------------------- */

static void d_init(void *ud, struct fuse_conn_info *conn)
{
	(void)ud;
	if (opt.remote_locks)
		conn->want |= conn->capable & (FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	else
		conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
}

static void d_destroy(void *ud)
{
	uint64_t inodes, refs;
	(void)ud;
	outstanding(&inodes, &refs);
	fprintf(stderr, "diskfs: DESTROY: %llu inodes still looked up (%llu lookups)\n",
		(unsigned long long)inodes, (unsigned long long)refs);
}

static void d_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = do_lookup(parent, name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void d_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	forget_one(ino, n);
	fuse_reply_none(req);
}

static void d_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		forget_one(f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

static void d_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int fd = fd_of(ino);
	(void)fi;
	if (fd < 0 || fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, fd < 0 ? ESTALE : errno);
	else
		fuse_reply_attr(req, &st, timeout());
}

static void d_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		      struct fuse_file_info *fi)
{
	char path[64];
	int fd = fd_of(ino), r = 0;

	if (fd < 0) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	procpath(path, sizeof path, fd);
	if (valid & FUSE_SET_ATTR_MODE)
		r = fi ? fchmod((int)fi->fh, attr->st_mode) : chmod(path, attr->st_mode);
	if (!r && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = fchownat(fd, "", valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1,
			     valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (!r && (valid & FUSE_SET_ATTR_SIZE))
		r = fi ? ftruncate((int)fi->fh, attr->st_size) : truncate(path, attr->st_size);
	if (!r && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		r = fi ? futimens((int)fi->fh, tv) : utimensat(AT_FDCWD, path, tv, 0);
	}
	if (r < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	d_getattr(req, ino, NULL);
}

static void d_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	int fd = fd_of(ino);
	ssize_t n = fd < 0 ? -1 : readlinkat(fd, "", buf, sizeof buf - 1);
	if (n < 0) {
		fuse_reply_err(req, fd < 0 ? ESTALE : errno);
		return;
	}
	buf[n] = 0;
	fuse_reply_readlink(req, buf);
}

/* After a successful make: entry back, with the crash point in between. */
static void made(fuse_req_t req, const char *op, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = do_lookup(parent, name, &e);
	CRASH_AFTER(op, name);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void d_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		    dev_t rdev)
{
	int pfd = fd_of(parent);
	CRASH_BEFORE("mknod", name);
	if (pfd < 0 || mknodat(pfd, name, mode, rdev) < 0) {
		fuse_reply_err(req, pfd < 0 ? ESTALE : errno);
		return;
	}
	made(req, "mknod", parent, name);
}

static void d_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	int pfd = fd_of(parent);
	CRASH_BEFORE("mkdir", name);
	if (pfd < 0 || mkdirat(pfd, name, mode) < 0) {
		fuse_reply_err(req, pfd < 0 ? ESTALE : errno);
		return;
	}
	made(req, "mkdir", parent, name);
}

static void d_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	int pfd = fd_of(parent);
	CRASH_BEFORE("symlink", name);
	if (pfd < 0 || symlinkat(link, pfd, name) < 0) {
		fuse_reply_err(req, pfd < 0 ? ESTALE : errno);
		return;
	}
	made(req, "symlink", parent, name);
}

static void d_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	int fd = fd_of(ino), pfd = fd_of(parent);
	char path[64];
	CRASH_BEFORE("link", name);
	if (fd < 0 || pfd < 0) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	procpath(path, sizeof path, fd);
	if (linkat(AT_FDCWD, path, pfd, name, AT_SYMLINK_FOLLOW) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	made(req, "link", parent, name);
}

static void d_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int pfd = fd_of(parent);
	CRASH_BEFORE("unlink", name);
	if (pfd < 0 || unlinkat(pfd, name, 0) < 0) {
		fuse_reply_err(req, pfd < 0 ? ESTALE : errno);
		return;
	}
	CRASH_AFTER("unlink", name);
	fuse_reply_err(req, 0);
}

static void d_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int pfd = fd_of(parent);
	CRASH_BEFORE("rmdir", name);
	if (pfd < 0 || unlinkat(pfd, name, AT_REMOVEDIR) < 0) {
		fuse_reply_err(req, pfd < 0 ? ESTALE : errno);
		return;
	}
	CRASH_AFTER("rmdir", name);
	fuse_reply_err(req, 0);
}

static void d_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	int pfd = fd_of(parent), npfd = fd_of(newparent);
	CRASH_BEFORE("rename", newname);
	if (pfd < 0 || npfd < 0 || renameat2(pfd, name, npfd, newname, flags) < 0) {
		fuse_reply_err(req, pfd < 0 || npfd < 0 ? ESTALE : errno);
		return;
	}
	CRASH_AFTER("rename", newname);
	fuse_reply_err(req, 0);
}

/* The file's name, for crash points on handles: the last component of its
 * /proc/self/fd link. */
static const char *name_of(int fd, char *buf, size_t n)
{
	char path[64];
	ssize_t r;
	procpath(path, sizeof path, fd);
	r = readlink(path, buf, n - 1);
	if (r < 0)
		return NULL;
	buf[r] = 0;
	const char *s = strrchr(buf, '/');
	return s ? s + 1 : buf;
}

static void d_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[64];
	int fd = fd_of(ino), nfd;
	if (fd < 0) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (opt.slow_open_ms > 0)
		usleep((useconds_t)opt.slow_open_ms * 1000);
	procpath(path, sizeof path, fd);
	/* no O_DIRECT: libfuse's buffers are not aligned for it (the kernel
	 * still does direct I/O towards us) */
	nfd = open(path, fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | O_DIRECT));
	if (nfd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)nfd;
	if (fuse_reply_open(req, fi) == -ENOENT)
		close(nfd);
}

static void d_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	int pfd = fd_of(parent), fd, err;
	CRASH_BEFORE("create", name);
	if (pfd < 0) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	fd = openat(pfd, name, (fi->flags | O_CREAT) & ~(O_NOFOLLOW | O_DIRECT), mode);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	err = do_lookup(parent, name, &e);
	CRASH_AFTER("create", name);
	if (err) {
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		close(fd);
}

static void d_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	char nb[PATH_MAX];
	(void)ino;
	if (opt.crash_before || opt.hang_before)
		CRASH_BEFORE("read", name_of((int)fi->fh, nb, sizeof nb));
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void d_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char nb[PATH_MAX];
	const char *name = (opt.crash_after || opt.crash_before || opt.hang_before || opt.hang_after) ?
			   name_of((int)fi->fh, nb, sizeof nb) : NULL;
	ssize_t n;
	(void)ino;
	CRASH_BEFORE("write", name);
	n = pwrite((int)fi->fh, data, size, off);	/* O_APPEND: at the end */
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	CRASH_AFTER("write", name);
	fuse_reply_write(req, (size_t)n);
}

static void d_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	/* close(dup()) would drop POSIX locks of the process; ours are OFD */
	fuse_reply_err(req, 0);
	(void)fi;
}

static void d_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void d_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	int r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	fuse_reply_err(req, r < 0 ? errno : 0);
}

struct dirh {
	DIR *dp;
	off_t off;
	struct dirent *ent;
};

static void d_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd = fd_of(ino), dfd;
	struct dirh *d;
	if (fd < 0) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = calloc(1, sizeof *d);
	if (dfd < 0 || !d || !(d->dp = fdopendir(dfd))) {
		int e = dfd < 0 ? errno : ENOMEM;
		if (dfd >= 0)
			close(dfd);
		free(d);
		fuse_reply_err(req, e);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		closedir(d->dp);
		free(d);
	}
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, int plus)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size), *p = buf;
	size_t rem = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->off) {
		seekdir(d->dp, off);
		d->ent = NULL;
		d->off = off;
	}
	for (;;) {
		size_t used;
		if (!d->ent) {
			errno = 0;
			d->ent = readdir(d->dp);
			if (!d->ent) {
				err = errno;
				break;
			}
		}
		off_t next = d->ent->d_off;
		const char *name = d->ent->d_name;
		int dot = !strcmp(name, ".") || !strcmp(name, "..");
		if (plus) {
			struct fuse_entry_param e;
			memset(&e, 0, sizeof e);
			if (!dot) {
				err = do_lookup(ino, name, &e);
				if (err == ENOENT) {	/* gone meanwhile */
					err = 0;
					d->ent = NULL;
					d->off = next;
					continue;
				}
				if (err)
					break;
			} else {
				e.attr.st_ino = d->ent->d_ino;
				e.attr.st_mode = (mode_t)d->ent->d_type << 12;
			}
			used = fuse_add_direntry_plus(req, p, rem, name, &e, next);
			if (used > rem) {
				if (!dot)
					forget_one(e.ino, 1);
				break;
			}
		} else {
			struct stat st = { .st_ino = d->ent->d_ino,
					   .st_mode = (mode_t)d->ent->d_type << 12 };
			used = fuse_add_direntry(req, p, rem, name, &st, next);
			if (used > rem)
				break;
		}
		p += used;
		rem -= used;
		d->ent = NULL;
		d->off = next;
	}
	if (err && p == buf)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void d_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 0);
}

static void d_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 1);
}

static void d_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	(void)ino;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void d_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int fd = fd_of(ino);
	if (fd < 0 || fstatvfs(fd, &sv) < 0)
		fuse_reply_err(req, fd < 0 ? ESTALE : errno);
	else
		fuse_reply_statfs(req, &sv);
}

static void d_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct flock *lock)
{
	(void)ino;
	lock->l_pid = 0;
	if (fcntl((int)fi->fh, F_OFD_GETLK, lock) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lock(req, lock);
}

static void d_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct flock *lock, int sleep)
{
	char nb[PATH_MAX];
	const char *name = NULL;
	(void)ino;
	if (sleep && (opt.crash_after || opt.crash_before || opt.hang_before || opt.hang_after))
		name = name_of((int)fi->fh, nb, sizeof nb);
	if (sleep)
		CRASH_BEFORE("setlkw", name);
	lock->l_pid = 0;
	if (fcntl((int)fi->fh, sleep ? F_OFD_SETLKW : F_OFD_SETLK, lock) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (sleep && lock->l_type != F_UNLCK)
		CRASH_AFTER("setlkw", name);
	fuse_reply_err(req, 0);
}

static void d_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	char nb[PATH_MAX];
	const char *name = NULL;
	int sleep = !(op & LOCK_NB) && !(op & LOCK_UN);
	(void)ino;
	if (sleep && (opt.crash_after || opt.crash_before || opt.hang_after))
		name = name_of((int)fi->fh, nb, sizeof nb);
	if (sleep)
		CRASH_BEFORE("setlkw", name);
	if (flock((int)fi->fh, op) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (sleep)
		CRASH_AFTER("setlkw", name);
	fuse_reply_err(req, 0);
}

static void d_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, fallocate((int)fi->fh, mode, off, len) < 0 ? errno : 0);
}

static const struct fuse_lowlevel_ops ops = {
	.init = d_init, .destroy = d_destroy, .lookup = d_lookup, .forget = d_forget,
	.forget_multi = d_forget_multi, .getattr = d_getattr, .setattr = d_setattr,
	.readlink = d_readlink, .mknod = d_mknod, .mkdir = d_mkdir, .symlink = d_symlink,
	.link = d_link, .unlink = d_unlink, .rmdir = d_rmdir, .rename = d_rename,
	.open = d_open, .create = d_create, .read = d_read, .write = d_write,
	.flush = d_flush, .release = d_release, .fsync = d_fsync, .opendir = d_opendir,
	.readdir = d_readdir, .readdirplus = d_readdirplus, .releasedir = d_releasedir,
	.statfs = d_statfs, .getlk = d_getlk, .setlk = d_setlk, .flock = d_flock,
	.fallocate = d_fallocate,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct fuse_session *se;
	struct fuse_loop_config *cfg;
	struct inode *root;
	uint64_t inodes, refs;
	int ret = 1;

	if (fuse_opt_parse(&args, &opt, optspec, opt_proc) == -1)
		return 1;
	if (opt.timeout_str) {
		char *v = opt.timeout_str + (opt.timeout_str[0] == '='), *end;
		opt.timeout = strtod(v, &end);
		if (end == v || *end || opt.timeout < 0) {
			fprintf(stderr, "diskfs: bad --timeout %s\n", opt.timeout_str);
			return 1;
		}
	}
	if (fuse_parse_cmdline(&args, &o) != 0)
		return 1;
	if (!source || !o.mountpoint) {
		fprintf(stderr, "usage: diskfs [--crash-after=OP[:NAME]] [--crash-before=...] "
			"[--crash-marker=FILE] [--timeout=S] SRC MNT|/dev/fd/N\n");
		goto out_args;
	}
	umask(0);
	/* ids 0 and 1: nothing and the root */
	capid = 1024;
	byid = calloc(capid, sizeof *byid);
	root = calloc(1, sizeof *root);
	if (!byid || !root)
		goto out_args;
	root->fd = open(source, O_PATH | O_CLOEXEC);
	if (root->fd < 0) {
		fprintf(stderr, "diskfs: %s: %s\n", source, strerror(errno));
		goto out_args;
	}
	root->id = FUSE_ROOT_ID;
	root->nlookup = 1;
	byid[FUSE_ROOT_ID] = root;
	nid = 2;

	se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(o.foreground);
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 64);
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	fuse_session_unmount(se);
	outstanding(&inodes, &refs);
	fprintf(stderr, "diskfs: exit: %llu inodes still looked up (%llu lookups), loop status "
		"%d\n", (unsigned long long)inodes, (unsigned long long)refs, ret);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP ? 0 : 1;
}
