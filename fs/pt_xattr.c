/* \summary: passthrough extended attributes: SETXATTR, GETXATTR, LISTXATTR,
 * REMOVEXATTR.
 *
 * Inodes are O_PATH fds, which f*xattr() refuses.  Linux 6.13 added
 * *xattrat() syscalls; where they accept our fd with AT_EMPTY_PATH we use
 * them, else the "/proc/self/fd/N" magic link with the following variants,
 * which lands on the object itself (a symlink too, not its target).  Which
 * one works is found out on first use: 6.18 answers EBADF for O_PATH fds
 * (the empty-path case takes the fd through fdget()), so there it is /proc.
 */
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "pt_i.h"

#ifndef SYS_setxattrat
#define SYS_setxattrat    463
#define SYS_getxattrat    464
#define SYS_listxattrat   465
#define SYS_removexattrat 466
#endif

struct xattr_args_v0 {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

/* 1 = *xattrat works on O_PATH fds, 0 = use /proc, -1 = not known yet */
static _Atomic int use_at = -1;

#define AT_FLAGS (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)

/* Did an *xattrat call fail because of the interface rather than the
 * object?  Then remember to use /proc from now on. */
static bool at_unusable(long r)
{
	/* EBADF on an fd we know is open: the call refuses O_PATH fds */
	if (r >= 0 || (errno != ENOSYS && errno != EBADF))
		return false;
	atomic_store(&use_at, 0);
	return true;
}

static ssize_t x_get(int fd, const char *name, void *buf, size_t size)
{
	if (atomic_load(&use_at) != 0) {
		struct xattr_args_v0 a = { .value = (uintptr_t)buf, .size = (uint32_t)size };
		long r = syscall(SYS_getxattrat, fd, "", AT_FLAGS, name, &a, sizeof a);
		if (!at_unusable(r)) {
			atomic_store(&use_at, 1);
			return r;
		}
	}
	char p[PT_PROC_FD_LEN];
	pt_proc_path(p, fd);
	return getxattr(p, name, buf, size);
}

static ssize_t x_list(int fd, char *buf, size_t size)
{
	if (atomic_load(&use_at) != 0) {
		long r = syscall(SYS_listxattrat, fd, "", AT_FLAGS, buf, size);
		if (!at_unusable(r)) {
			atomic_store(&use_at, 1);
			return r;
		}
	}
	char p[PT_PROC_FD_LEN];
	pt_proc_path(p, fd);
	return listxattr(p, buf, size);
}

static int x_set(int fd, const char *name, const void *val, size_t size, int flags)
{
	if (atomic_load(&use_at) != 0) {
		struct xattr_args_v0 a = {
			.value = (uintptr_t)val, .size = (uint32_t)size, .flags = (uint32_t)flags
		};
		long r = syscall(SYS_setxattrat, fd, "", AT_FLAGS, name, &a, sizeof a);
		if (!at_unusable(r)) {
			atomic_store(&use_at, 1);
			return (int)r;
		}
	}
	char p[PT_PROC_FD_LEN];
	pt_proc_path(p, fd);
	return setxattr(p, name, val, size, flags);
}

static int x_remove(int fd, const char *name)
{
	if (atomic_load(&use_at) != 0) {
		long r = syscall(SYS_removexattrat, fd, "", AT_FLAGS, name);
		if (!at_unusable(r)) {
			atomic_store(&use_at, 1);
			return (int)r;
		}
	}
	char p[PT_PROC_FD_LEN];
	pt_proc_path(p, fd);
	return removexattr(p, name);
}

int pt_setxattr(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_setxattr_in, in);
	struct pt_inode *ino;
	int fd, err;

	if (!req->v.name || in.size != req->v.data_len)
		return -EINVAL;
	/* FUSE_SETXATTR_ACL_KILL_SGID needs nothing: we run as the caller,
	 * so the source clears S_ISGID by the same rule the kernel used. */
	if ((fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	err = x_set(fd, req->v.name, req->v.data, in.size, (int)in.flags) < 0 ? -errno : 0;
	pt_inode_put(fs, ino);
	return err;
}

/* Drop "trusted.*" names from a list.  The source lists them because this
 * daemon has CAP_SYS_ADMIN; a local non-root caller would not see them (and
 * the kernel refuses it their values anyway). */
static size_t drop_trusted(char *list, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		size_t n = strnlen(list + in, len - in) + 1;
		if (strncmp(list + in, "trusted.", 8) != 0) {
			memmove(list + out, list + in, n);
			out += n;
		}
		in += n;
	}
	return out;
}

/* GETXATTR and LISTXATTR: size 0 asks for the length (fuse_getxattr_out),
 * else the value, or ERANGE if it does not fit in size. */
static int get_or_list(struct pt_fs *fs, struct fp_req *req, bool list)
{
	PT_ARG(req, struct fuse_getxattr_in, in);
	struct pt_inode *ino;
	ssize_t r;
	int fd;

	if (!list && !req->v.name)
		return -EINVAL;
	if ((fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	size_t cap = in.size < req->outcap ? in.size : req->outcap;
	if (list && pt_cred_fsuid() != 0) {
		/* filter in the whole reply area, then apply the caller's size */
		r = x_list(fd, req->out, req->outcap);
		if (r >= 0) {
			r = (ssize_t)drop_trusted(req->out, (size_t)r);
			if (in.size && (size_t)r > in.size) {
				errno = ERANGE;
				r = -1;
			}
		}
	} else if (list)
		r = x_list(fd, in.size ? req->out : NULL, in.size ? cap : 0);
	else
		r = x_get(fd, req->v.name, in.size ? req->out : NULL, in.size ? cap : 0);
	r = r < 0 ? -errno : r;
	pt_inode_put(fs, ino);
	if (r < 0)
		return (int)r;
	if (in.size)
		return (int)r;
	struct fuse_getxattr_out o = { .size = (uint32_t)r };
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

int pt_getxattr(struct pt_fs *fs, struct fp_req *req) { return get_or_list(fs, req, false); }
int pt_listxattr(struct pt_fs *fs, struct fp_req *req) { return get_or_list(fs, req, true); }

int pt_removexattr(struct pt_fs *fs, struct fp_req *req)
{
	struct pt_inode *ino;
	int fd, err;

	if (!req->v.name)
		return -EINVAL;
	if ((fd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return fd;
	err = x_remove(fd, req->v.name) < 0 ? -errno : 0;
	pt_inode_put(fs, ino);
	return err;
}
