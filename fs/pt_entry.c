/* \summary: passthrough name and attribute operations: LOOKUP, FORGET,
 * GETATTR/SETATTR/STATX, READLINK, SYMLINK, MKNOD, MKDIR, UNLINK, RMDIR,
 * RENAME/RENAME2, LINK, ACCESS, STATFS, SYNCFS.
 *
 * Inodes are addressed through O_PATH fds (pt_inode.c), so each operation is
 * an *at() call on the parent's fd, or an AT_EMPTY_PATH / "/proc/self/fd/N"
 * call on the object's own fd.
 */
#include <stdint.h>
#include <stdio.h>          /* renameat2 */
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "pt_i.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

static int reply_entry(struct fp_req *req, const struct fuse_entry_out *e)
{
	uint32_t n = pt_entry_out_size(req);
	memcpy(req->out, e, n);
	return (int)n;
}

/* Make an entry for `name` just created in dir (nlookup +1). */
static int new_entry(struct pt_fs *fs, struct fp_req *req, struct pt_inode *dir, int dfd,
		     const char *name)
{
	struct fuse_entry_out e;
	int err = pt_entry_at(fs, dir, dfd, name, -1, &e);
	return err ? err : reply_entry(req, &e);
}

int pt_lookup(struct pt_fs *fs, struct fp_req *req)
{
	struct pt_inode *dir;
	struct fuse_entry_out e;
	int dfd, err;

	if (!req->v.name)
		return -EINVAL;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0)
		return dfd;
	err = pt_entry_at(fs, dir, dfd, req->v.name, -1, &e);
	pt_inode_put(fs, dir);
	return err ? err : reply_entry(req, &e);
}

int pt_forget(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_forget_in, in);
	pt_inode_forget(fs, req->in->nodeid, in.nlookup);
	return FP_NOREPLY;
}

int pt_batch_forget(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_batch_forget_in, in);
	const uint8_t *p = req->v.data;
	uint32_t n = req->v.data_len / sizeof(struct fuse_forget_one);

	if (in.count < n)
		n = in.count;
	for (uint32_t i = 0; i < n; i++) {
		struct fuse_forget_one one;
		memcpy(&one, p + i * sizeof one, sizeof one);
		pt_inode_forget(fs, one.nodeid, one.nlookup);
	}
	return FP_NOREPLY;
}

int pt_getattr(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_getattr_in, in);
	struct pt_inode *ino;
	struct stat st;
	int fd, r;

	if (in.getattr_flags & FUSE_GETATTR_FH) {
		if ((fd = pt_fh_fd(fs, in.fh)) >= 0) {
			if (fstat(fd, &st) < 0)
				return -errno;
			goto reply;
		}
	}
	if ((fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	r = fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	r = r < 0 ? -errno : 0;
	pt_inode_put(fs, ino);
	if (r)
		return r;
reply:;
	struct fuse_attr_out ao;
	pt_fill_attr_out(fs, &st, &ao);
	memcpy(req->out, &ao, pt_attr_out_size(req));
	return (int)pt_attr_out_size(req);
}

static int chmod_fd(int fd, bool opath, mode_t mode)
{
	char p[PT_PROC_FD_LEN];

	if (!opath)
		return fchmod(fd, mode) < 0 ? -errno : 0;
	if (syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL)
		return -errno;
	pt_proc_path(p, fd);
	return chmod(p, mode) < 0 ? -errno : 0;
}

static struct timespec set_time(uint32_t valid, uint32_t flag, uint32_t now_flag,
				uint64_t sec, uint32_t nsec)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = UTIME_OMIT };
	if (valid & now_flag) {
		ts.tv_nsec = UTIME_NOW;
	} else if (valid & flag) {
		ts.tv_sec = (time_t)sec;
		ts.tv_nsec = nsec;
	}
	return ts;
}

int pt_setattr(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_setattr_in, in);
	struct pt_inode *ino;
	struct stat st;
	int pfd, ffd = -1, fd, err = 0;
	bool opath;

	if ((pfd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return pfd;
	if (in.valid & FATTR_FH)
		ffd = pt_fh_fd(fs, in.fh);
	/* the open file when we have one (ftruncate/futimens semantics),
	 * else the inode's O_PATH fd (root: a real directory fd) */
	fd = ffd >= 0 ? ffd : pfd;
	opath = ffd < 0 && req->in->nodeid != FUSE_ROOT_ID;

	if (in.valid & FATTR_MODE) {
		if ((err = chmod_fd(fd, opath, in.mode & 07777)))
			goto out;
	}
	if (in.valid & (FATTR_UID | FATTR_GID)) {
		uid_t u = in.valid & FATTR_UID ? in.uid : (uid_t)-1;
		gid_t g = in.valid & FATTR_GID ? in.gid : (gid_t)-1;
		if (fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			err = -errno;
			goto out;
		}
	}
	if (in.valid & FATTR_SIZE) {
		if (ffd >= 0) {
			err = ftruncate(ffd, (off_t)in.size) < 0 ? -errno : 0;
		} else {
			char p[PT_PROC_FD_LEN];
			pt_proc_path(p, pfd);
			err = truncate(p, (off_t)in.size) < 0 ? -errno : 0;
		}
		if (err)
			goto out;
		/* a non-root fsuid lets the source kill the bits itself; a root
		 * caller without CAP_FSETID needs it done explicitly */
		if ((in.valid & FATTR_KILL_SUIDGID) && pt_cred_fsuid() == 0 &&
		    (err = pt_kill_suidgid(fd)))
			goto out;
	}
	if (in.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) {
		struct timespec ts[2] = {
			set_time(in.valid, FATTR_ATIME, FATTR_ATIME_NOW, in.atime, in.atimensec),
			set_time(in.valid, FATTR_MTIME, FATTR_MTIME_NOW, in.mtime, in.mtimensec),
		};
		if (ffd >= 0)
			err = futimens(ffd, ts);
		else
			err = utimensat(pfd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (err < 0) {
			err = -errno;
			goto out;
		}
	}
	/* FATTR_CTIME alone (writeback cache) cannot be set and needs nothing:
	 * the changes above already moved ctime. */
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		goto out;
	}
	pt_inode_put(fs, ino);
	struct fuse_attr_out ao;
	pt_fill_attr_out(fs, &st, &ao);
	memcpy(req->out, &ao, pt_attr_out_size(req));
	return (int)pt_attr_out_size(req);
out:
	pt_inode_put(fs, ino);
	return err;
}

static void sx_time(struct fuse_sx_time *d, const struct statx_timestamp *s)
{
	d->tv_sec = s->tv_sec;
	d->tv_nsec = s->tv_nsec;
}

int pt_statx(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_statx_in, in);
	struct pt_inode *ino = NULL;
	struct statx sx;
	int fd = -1, r, flags;

	flags = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | (int)(in.sx_flags & AT_STATX_SYNC_TYPE);
	if (in.getattr_flags & FUSE_GETATTR_FH)
		fd = pt_fh_fd(fs, in.fh);
	if (fd < 0 && (fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	r = statx(fd, "", flags, in.sx_mask | STATX_BASIC_STATS, &sx);
	r = r < 0 ? -errno : 0;
	if (ino)
		pt_inode_put(fs, ino);
	if (r)
		return r;

	struct fuse_statx_out o;
	memset(&o, 0, sizeof o);
	o.attr_valid = fs->attr_valid_ns / 1000000000u;
	o.attr_valid_nsec = (uint32_t)(fs->attr_valid_ns % 1000000000u);
	o.stat.mask = sx.stx_mask;
	o.stat.blksize = sx.stx_blksize;
	o.stat.attributes = sx.stx_attributes;
	o.stat.nlink = sx.stx_nlink;
	o.stat.uid = sx.stx_uid;
	o.stat.gid = sx.stx_gid;
	o.stat.mode = sx.stx_mode;
	o.stat.ino = sx.stx_ino;
	o.stat.size = sx.stx_size;
	o.stat.blocks = sx.stx_blocks;
	o.stat.attributes_mask = sx.stx_attributes_mask;
	sx_time(&o.stat.atime, &sx.stx_atime);
	sx_time(&o.stat.btime, &sx.stx_btime);
	sx_time(&o.stat.ctime, &sx.stx_ctime);
	sx_time(&o.stat.mtime, &sx.stx_mtime);
	o.stat.rdev_major = sx.stx_rdev_major;
	o.stat.rdev_minor = sx.stx_rdev_minor;
	o.stat.dev_major = sx.stx_dev_major;
	o.stat.dev_minor = sx.stx_dev_minor;
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

int pt_readlink(struct pt_fs *fs, struct fp_req *req)
{
	struct pt_inode *ino;
	int fd;
	ssize_t n;

	if ((fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	n = readlinkat(fd, "", req->out, req->outcap);
	n = n < 0 ? -errno : n;
	pt_inode_put(fs, ino);
	if (n >= (ssize_t)req->outcap)
		return -ENAMETOOLONG;
	return (int)n;
}

int pt_symlink(struct pt_fs *fs, struct fp_req *req)
{
	struct pt_inode *dir;
	int dfd, err;

	if (!req->v.name || !req->v.name2)
		return -EINVAL;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0)
		return dfd;
	if (symlinkat(req->v.name2, dfd, req->v.name) < 0)
		err = -errno;
	else
		err = new_entry(fs, req, dir, dfd, req->v.name);
	pt_inode_put(fs, dir);
	return err;
}

int pt_mknod(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_mknod_in, in);
	struct pt_inode *dir;
	int dfd, err;
	mode_t mode = in.mode;
	/* the kernel sends rdev as new_encode_dev() */
	dev_t rdev = makedev((in.rdev & 0xfff00) >> 8, (in.rdev & 0xff) | ((in.rdev >> 12) & 0xfff00));

	if (!req->v.name)
		return -EINVAL;
	if (!pt_cred_umask(in.umask))
		mode &= ~in.umask | S_IFMT;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0)
		return dfd;
	if (mknodat(dfd, req->v.name, mode, rdev) < 0)
		err = -errno;
	else
		err = new_entry(fs, req, dir, dfd, req->v.name);
	pt_inode_put(fs, dir);
	return err;
}

int pt_mkdir(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_mkdir_in, in);
	struct pt_inode *dir;
	int dfd, err;
	mode_t mode = in.mode;

	if (!req->v.name)
		return -EINVAL;
	if (!pt_cred_umask(in.umask))
		mode &= ~in.umask;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0)
		return dfd;
	if (mkdirat(dfd, req->v.name, mode) < 0)
		err = -errno;
	else
		err = new_entry(fs, req, dir, dfd, req->v.name);
	pt_inode_put(fs, dir);
	return err;
}

static int remove_at(struct pt_fs *fs, struct fp_req *req, int flags)
{
	struct pt_inode *dir;
	int dfd, err;

	if (!req->v.name)
		return -EINVAL;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0)
		return dfd;
	if (!(flags & AT_REMOVEDIR))
		pt_inode_pin_if_last_link(fs, dfd, req->v.name);
	err = unlinkat(dfd, req->v.name, flags) < 0 ? -errno : 0;
	pt_inode_put(fs, dir);
	return err;
}

int pt_unlink(struct pt_fs *fs, struct fp_req *req) { return remove_at(fs, req, 0); }
int pt_rmdir(struct pt_fs *fs, struct fp_req *req) { return remove_at(fs, req, AT_REMOVEDIR); }

static int do_rename(struct pt_fs *fs, struct fp_req *req, uint64_t newdir, uint32_t flags)
{
	struct pt_inode *od, *nd;
	int ofd, nfd, err;

	if (!req->v.name || !req->v.name2)
		return -EINVAL;
	if ((ofd = pt_acquire(fs, req->in->nodeid, &od)) < 0)
		return ofd;
	if ((nfd = pt_acquire(fs, newdir, &nd)) < 0) {
		pt_inode_put(fs, od);
		return nfd;
	}
	if (!(flags & RENAME_EXCHANGE))
		pt_inode_pin_if_last_link(fs, nfd, req->v.name2);
	err = renameat2(ofd, req->v.name, nfd, req->v.name2, flags) < 0 ? -errno : 0;
	pt_inode_put(fs, nd);
	pt_inode_put(fs, od);
	return err;
}

int pt_rename(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_rename_in, in);
	return do_rename(fs, req, in.newdir, 0);
}

int pt_rename2(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_rename2_in, in);
	if (in.flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	return do_rename(fs, req, in.newdir, in.flags);
}

int pt_link(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_link_in, in);
	struct pt_inode *src, *dir;
	char p[PT_PROC_FD_LEN];
	int sfd, dfd, err;

	if (!req->v.name)
		return -EINVAL;
	if ((sfd = pt_acquire(fs, in.oldnodeid, &src)) < 0)
		return sfd;
	if ((dfd = pt_acquire(fs, req->in->nodeid, &dir)) < 0) {
		pt_inode_put(fs, src);
		return dfd;
	}
	/* AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH; the /proc magic link
	 * works for any caller (and for O_TMPFILE files) */
	pt_proc_path(p, sfd);
	if (linkat(AT_FDCWD, p, dfd, req->v.name, AT_SYMLINK_FOLLOW) < 0)
		err = -errno;
	else
		err = new_entry(fs, req, dir, dfd, req->v.name);
	pt_inode_put(fs, dir);
	pt_inode_put(fs, src);
	return err;
}

int pt_access(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_access_in, in);
	struct pt_inode *ino;
	int fd, err;

	if ((fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	/* AT_EACCESS: check with the fsuid/fsgid we switched to, not the
	 * daemon's real ids */
	err = syscall(SYS_faccessat2, fd, "", (int)in.mask,
		      AT_EMPTY_PATH | AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	pt_inode_put(fs, ino);
	return err;
}

int pt_statfs(struct pt_fs *fs, struct fp_req *req)
{
	struct pt_inode *ino;
	struct statfs s;
	int fd, r;

	if ((fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	r = fstatfs(fd, &s) < 0 ? -errno : 0;
	pt_inode_put(fs, ino);
	if (r)
		return r;

	struct fuse_statfs_out o;
	memset(&o, 0, sizeof o);
	o.st.blocks = s.f_blocks;
	o.st.bfree = s.f_bfree;
	o.st.bavail = s.f_bavail;
	o.st.files = s.f_files;
	o.st.ffree = s.f_ffree;
	o.st.bsize = (uint32_t)s.f_bsize;
	o.st.namelen = (uint32_t)s.f_namelen;
	o.st.frsize = (uint32_t)s.f_frsize;
	uint32_t n = req->minor && req->minor < 4 ? FUSE_COMPAT_STATFS_SIZE : sizeof o;
	memcpy(req->out, &o, n);
	return (int)n;
}

int pt_syncfs(struct pt_fs *fs, struct fp_req *req)
{
	(void)req;
	return syncfs(fs->root_fd) < 0 ? -errno : 0;
}
