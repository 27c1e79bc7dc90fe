/* \summary: passthrough open files: OPEN, CREATE, TMPFILE, READ, WRITE,
 * FLUSH, RELEASE, FSYNC, FALLOCATE, LSEEK, COPY_FILE_RANGE(_64), IOCTL, POLL,
 * and the fh table.
 *
 * An fh is (generation << 32 | slot) in a table of real fds, so a stale or
 * forged fh is refused (EBADF) instead of reaching some other fd we hold.
 * READ and WRITE are one table lookup plus pread/pwrite straight between
 * the backing file and the request/reply buffers.
 */
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pt_i.h"

/* ---- fh table ------------------------------------------------------------ */

int pt_files_init(struct pt_fs *fs)
{
	return pt_slots_init(&fs->files, sizeof(struct pt_file), 1, 1024);
}

void pt_files_fini(struct pt_fs *fs)
{
	uint32_t hw = atomic_load(&fs->files.hiwater);

	for (uint32_t i = 1; i < hw; i++) {
		struct pt_file *f = pt_slots_at(&fs->files, i);
		if (f && f->in_use) {
			pt_fd_closed(fs, f->fd);
			pt_dir_free(f->dir);
			f->in_use = 0;
		}
	}
	pt_slots_fini(&fs->files);
}

uint64_t pt_file_new(struct pt_fs *fs, int fd, uint64_t nodeid, struct pt_dir *dir, int *err)
{
	int fl = dir ? 0 : fcntl(fd, F_GETFL);
	bool reused = false;
	uint32_t idx = pt_slots_alloc(&fs->files, &reused);

	if (!idx) {
		*err = -ENOMEM;
		return 0;
	}
	struct pt_file *f = pt_slots_at(&fs->files, idx);
	f->gen += reused ? 1 : 0;
	f->fd = fd;
	f->nodeid = nodeid;
	f->dir = dir;
	f->is_dir = dir != NULL;
	f->direct = fl > 0 && (fl & O_DIRECT);
	__atomic_store_n(&f->in_use, 1, __ATOMIC_RELEASE);
	pt_fd_opened(fs);
	return (uint64_t)f->gen << 32 | idx;
}

struct pt_file *pt_file_get(struct pt_fs *fs, uint64_t fh)
{
	struct pt_file *f = pt_slots_at(&fs->files, (uint32_t)fh);

	if (!f || !__atomic_load_n(&f->in_use, __ATOMIC_ACQUIRE) || f->gen != (uint32_t)(fh >> 32))
		return NULL;
	return f;
}

void pt_file_free(struct pt_fs *fs, uint64_t fh)
{
	struct pt_file *f = pt_file_get(fs, fh);

	if (!f)
		return;
	__atomic_store_n(&f->in_use, 0, __ATOMIC_RELEASE);
	pt_fd_closed(fs, f->fd);
	pt_dir_free(f->dir);
	f->dir = NULL;
	f->fd = -1;
	pt_slots_free(&fs->files, (uint32_t)fh);
}

/* ---- open ------------------------------------------------------------------- */

/* Flags for our own open of the backing file. */
static int backing_flags(struct pt_fs *fs, uint32_t kflags)
{
	int f = (int)kflags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW);

	/* O_DIRECT stays: the app asked for I/O that bypasses caches, and gets
	 * the source's alignment rules too (pt_read/pt_write bounce through an
	 * aligned buffer when only the reply/request area is misaligned). */
	if (fs->writeback) {
		/* the kernel's write-back cache writes at offsets it picks
		 * (unaligned page tails, through any writable fh) and reads to
		 * fill partial pages */
		f &= ~(O_APPEND | O_DIRECT);
		if ((f & O_ACCMODE) == O_WRONLY)
			f = (f & ~O_ACCMODE) | O_RDWR;
	}
	return f | O_CLOEXEC;
}

static uint32_t fopen_flags(struct pt_fs *fs)
{
	/* Page cache kept across opens while attributes may be cached at all;
	 * AUTO_INVAL_DATA drops it when a refreshed mtime/size shows the source
	 * changed underneath.  attr_timeout=0 gives close-to-open coherence. */
	uint32_t f = FOPEN_PARALLEL_DIRECT_WRITES;
	if (fs->attr_valid_ns)
		f |= FOPEN_KEEP_CACHE;
	return f;
}

/* open(2) of the backing file.  With the writeback cache a write-only open
 * is upgraded to O_RDWR, because the kernel reads pages it only partly
 * writes.  If the caller may not read the file, its write-only open decides
 * the permission, and the read side is then added as root: the kernel uses
 * it only to fill the page cache (the app itself cannot read through an
 * O_WRONLY file). */
static int open_backing(struct pt_fs *fs, int dirfd, const char *path, uint32_t kflags,
			int extra, mode_t mode)
{
	int f = backing_flags(fs, kflags) | extra;
	int fd = pt_openat_retry(fs, dirfd, path, f, mode);

	if (fd < 0 && errno == EACCES && (f & O_ACCMODE) != ((int)kflags & O_ACCMODE)) {
		f = (f & ~O_ACCMODE) | ((int)kflags & O_ACCMODE);
		fd = pt_openat_retry(fs, dirfd, path, f, mode);
		if (fd < 0)
			return fd;
		char p[PT_PROC_FD_LEN];
		pt_proc_path(p, fd);
		uid_t saved = pt_cred_root_begin();
		int rw = open(p, (f & ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_TMPFILE)) | O_RDWR);
		pt_cred_root_end(saved);
		if (rw >= 0) {
			close(fd);
			fd = rw;
		}
	}
	return fd;
}

static void fill_open_out(struct pt_fs *fs, struct fuse_open_out *o, uint64_t fh)
{
	memset(o, 0, sizeof *o);
	o->fh = fh;
	o->open_flags = fopen_flags(fs);
}

int pt_open(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_open_in, in);
	struct pt_inode *ino;
	char p[PT_PROC_FD_LEN];
	int pfd, fd, err = 0;

	if ((pfd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return pfd;
	pt_proc_path(p, pfd);
	fd = open_backing(fs, AT_FDCWD, p, in.flags, 0, 0);
	err = fd < 0 ? -errno : 0;
	pt_inode_put(fs, ino);
	if (err)
		return err;
	/* FUSE_OPEN_KILL_SUIDGID: as for SETATTR, only a root fsuid needs help */
	if ((in.open_flags & FUSE_OPEN_KILL_SUIDGID) && (in.flags & O_TRUNC) &&
	    pt_cred_fsuid() == 0)
		pt_kill_suidgid(fd);

	uint64_t fh = pt_file_new(fs, fd, req->in->nodeid, NULL, &err);
	if (!fh) {
		close(fd);
		return err;
	}
	struct fuse_open_out o;
	fill_open_out(fs, &o, fh);
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

static int finish_create(struct pt_fs *fs, struct fp_req *req, int fd,
			 const struct fuse_entry_out *e)
{
	int err = 0;
	uint64_t fh = pt_file_new(fs, fd, e->nodeid, NULL, &err);

	if (!fh) {
		close(fd);
		pt_inode_forget(fs, e->nodeid, 1);
		return err;
	}
	struct fuse_open_out o;
	fill_open_out(fs, &o, fh);
	uint32_t esz = pt_entry_out_size(req);
	memcpy(req->out, e, esz);
	memcpy((char *)req->out + esz, &o, sizeof o);
	return (int)(esz + sizeof o);
}

int pt_create_op(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_create_in, in);
	struct pt_inode *dir;
	struct fuse_entry_out e;
	mode_t mode = in.mode;
	int dfd, fd, err;

	if (!req->v.name)
		return -EINVAL;
	if (!pt_cred_umask(in.umask))
		mode &= ~in.umask;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0)
		return dfd;
	fd = open_backing(fs, dfd, req->v.name, in.flags,
			  O_CREAT | (int)(in.flags & (O_EXCL | O_NOFOLLOW)), mode & 07777);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if ((in.open_flags & FUSE_OPEN_KILL_SUIDGID) && (in.flags & O_TRUNC) &&
	    pt_cred_fsuid() == 0)
		pt_kill_suidgid(fd);
	err = pt_entry_at(fs, dir, dfd, req->v.name, fd, &e);
	if (err) {
		close(fd);
		goto out;
	}
	err = finish_create(fs, req, fd, &e);
out:
	pt_inode_put(fs, dir);
	return err;
}

int pt_tmpfile(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_create_in, in);
	struct pt_inode *dir;
	struct fuse_entry_out e;
	mode_t mode = in.mode;
	int dfd, fd, err;
	uint32_t kflags = in.flags & ~(uint32_t)(O_TMPFILE | O_CREAT);

	if (!pt_cred_umask(in.umask))
		mode &= ~in.umask;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0)
		return dfd;
	fd = open_backing(fs, dfd, ".", kflags, O_TMPFILE | (int)(in.flags & O_EXCL),
			  mode & 07777);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = pt_entry_unnamed(fs, fd, &e);
	if (err) {
		close(fd);
		goto out;
	}
	err = finish_create(fs, req, fd, &e);
out:
	pt_inode_put(fs, dir);
	return err;
}

/* ---- data ------------------------------------------------------------------ */

#define DIO_ALIGN 4096

/* A per-thread aligned buffer for O_DIRECT files when the request or reply
 * area is not aligned (it follows the FUSE headers).  Freed at thread exit. */
static pthread_key_t bounce_key;
static pthread_once_t bounce_once = PTHREAD_ONCE_INIT;

static void bounce_key_init(void)
{
	pthread_key_create(&bounce_key, free);
}

static void *bounce(size_t len)
{
	static __thread void *buf;
	static __thread size_t cap;

	if (len <= cap)
		return buf;
	size_t want = (len + DIO_ALIGN - 1) & ~(size_t)(DIO_ALIGN - 1);
	void *n = NULL;
	if (posix_memalign(&n, DIO_ALIGN, want))
		return NULL;
	pthread_once(&bounce_once, bounce_key_init);
	if (pthread_setspecific(bounce_key, n)) {
		free(n);
		return NULL;
	}
	free(buf);
	buf = n;
	cap = want;
	pthread_setspecific(bounce_key, buf);
	return buf;
}

static inline bool misaligned(const void *p)
{
	return (uintptr_t)p & (DIO_ALIGN - 1);
}

int pt_read(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_read_in, in);
	struct pt_file *f = pt_file_get(fs, in.fh);
	size_t want = in.size < req->outcap ? in.size : req->outcap, got = 0;
	char *dst = req->out;

	if (!f)
		return -EBADF;
	int fd = f->fd;
	if (f->direct && misaligned(dst) && !(dst = bounce(want)))
		return -ENOMEM;
	while (got < want) {
		ssize_t n = pread(fd, dst + got, want - got, (off_t)(in.offset + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (got)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (dst != req->out)
		memcpy(req->out, dst, got);
	return (int)got;
}

int pt_write(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_write_in, in);
	struct pt_file *f = pt_file_get(fs, in.fh);
	size_t len = in.size < req->v.data_len ? in.size : req->v.data_len;
	bool kill = in.write_flags & FUSE_WRITE_KILL_SUIDGID;
	const void *src = req->v.data;
	int err;

	if (!f)
		return -EBADF;
	int fd = f->fd;
	if (f->direct && len && misaligned(src)) {
		void *b = bounce(len);
		if (!b)
			return -ENOMEM;
		memcpy(b, src, len);
		src = b;
	}
	/* HANDLE_KILLPRIV_V2: the flag means the writer lacks CAP_FSETID.
	 * Writing with its fsuid makes the source drop S_ISUID/S_ISGID itself
	 * (for free when the file has none); without the flag, write as root
	 * so they survive. */
	if ((err = pt_cred_apply(req, kill ? PT_CRED_FSID : PT_CRED_ROOT)))
		return err;
	ssize_t n = pwrite(fd, src, len, (off_t)in.offset);
	if (n < 0)
		return -errno;
	if (kill && pt_cred_fsuid() == 0)
		pt_kill_suidgid(fd);

	struct fuse_write_out o = { .size = (uint32_t)n };
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

int pt_flush(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_flush_in, in);
	int fd = pt_fh_fd(fs, in.fh), dfd;

	if (fd < 0)
		return fd;
	/* close() of any fd drops the process's POSIX locks on the file */
	pt_locks_release_owner(fs, req->in->nodeid, in.lock_owner);
	/* and reports deferred write errors (NFS and the like) */
	dfd = dup(fd);
	if (dfd < 0)
		return errno == EMFILE || errno == ENFILE ? 0 : -errno;
	return close(dfd) < 0 ? -errno : 0;
}

int pt_release(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_release_in, in);
	struct pt_file *f = pt_file_get(fs, in.fh);

	if (!f)
		return -EBADF;
	if (in.release_flags & FUSE_RELEASE_FLUSH)
		pt_locks_release_owner(fs, req->in->nodeid, in.lock_owner);
	pt_locks_release_fh(fs, req->in->nodeid, in.fh);
	/* FUSE_RELEASE_FLOCK_UNLOCK: closing our fd drops its flock() */
	pt_file_free(fs, in.fh);
	return 0;
}

int pt_fsync(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_fsync_in, in);
	int fd = pt_fh_fd(fs, in.fh), r;

	if (fd < 0)
		return fd;
	r = in.fsync_flags & FUSE_FSYNC_FDATASYNC ? fdatasync(fd) : fsync(fd);
	return r < 0 ? -errno : 0;
}

int pt_fallocate(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_fallocate_in, in);
	int fd = pt_fh_fd(fs, in.fh);

	if (fd < 0)
		return fd;
	return fallocate(fd, (int)in.mode, (off_t)in.offset, (off_t)in.length) < 0 ? -errno : 0;
}

int pt_lseek(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_lseek_in, in);
	int fd = pt_fh_fd(fs, in.fh);

	if (fd < 0)
		return fd;
	off_t r = lseek(fd, (off_t)in.offset, (int)in.whence);
	if (r < 0)
		return -errno;
	struct fuse_lseek_out o = { .offset = (uint64_t)r };
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

static ssize_t copy_range(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_copy_file_range_in, in);
	int fin = pt_fh_fd(fs, in.fh_in), fout = pt_fh_fd(fs, in.fh_out);
	loff_t oin = (loff_t)in.off_in, oout = (loff_t)in.off_out;

	if (fin < 0 || fout < 0)
		return -EBADF;
	ssize_t n = copy_file_range(fin, &oin, fout, &oout, in.len, (unsigned)in.flags);
	return n < 0 ? -errno : n;
}

int pt_copy_file_range(struct pt_fs *fs, struct fp_req *req)
{
	ssize_t n = copy_range(fs, req);
	if (n < 0)
		return (int)n;
	struct fuse_write_out o = { .size = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n };
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

int pt_copy_file_range_64(struct pt_fs *fs, struct fp_req *req)
{
	ssize_t n = copy_range(fs, req);
	if (n < 0)
		return (int)n;
	struct fuse_copy_file_range_out o = { .bytes_copied = (uint64_t)n };
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

/* ---- ioctl, poll ------------------------------------------------------------ */

/* The inode-flag ioctls chattr/lsattr use; everything else is ENOTTY, as
 * forwarding arbitrary ioctls to the source would be unsafe. */
int pt_ioctl(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_ioctl_in, in);
	int fd = pt_fh_fd(fs, in.fh);
	union {
		int flags;
		struct fsxattr fsx;
	} arg;
	size_t argsz;
	bool to_kernel;

	if (fd < 0)
		return fd;
	if (in.flags & (FUSE_IOCTL_UNRESTRICTED | FUSE_IOCTL_COMPAT | FUSE_IOCTL_32BIT))
		return -ENOTTY;
	switch (in.cmd) {
	case FS_IOC_GETFLAGS:   argsz = sizeof(int); to_kernel = false; break;
	case FS_IOC_SETFLAGS:   argsz = sizeof(int); to_kernel = true; break;
	case FS_IOC_FSGETXATTR: argsz = sizeof(struct fsxattr); to_kernel = false; break;
	case FS_IOC_FSSETXATTR: argsz = sizeof(struct fsxattr); to_kernel = true; break;
	default:
		return -ENOTTY;
	}
	memset(&arg, 0, sizeof arg);
	if (to_kernel) {
		if (in.in_size < argsz || req->v.data_len < argsz)
			return -EINVAL;
		memcpy(&arg, req->v.data, argsz);
	} else if (in.out_size < argsz) {
		return -EINVAL;
	}
	if (ioctl(fd, (unsigned long)in.cmd, &arg) < 0)
		return -errno;

	struct fuse_ioctl_out o;
	memset(&o, 0, sizeof o);
	memcpy(req->out, &o, sizeof o);
	if (to_kernel)
		return sizeof o;
	memcpy((char *)req->out + sizeof o, &arg, argsz);
	return (int)(sizeof o + argsz);
}

int pt_poll(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_poll_in, in);
	int fd = pt_fh_fd(fs, in.fh);

	if (fd < 0)
		return fd;
	/* regular files and directories are always ready; ask anyway */
	struct pollfd p = { .fd = fd, .events = (short)in.events };
	if (poll(&p, 1, 0) < 0)
		return -errno;
	struct fuse_poll_out o = { .revents = (uint32_t)(uint16_t)p.revents };
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}
