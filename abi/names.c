/* \summary: value -> name tables (INIT, FOPEN, FATTR, open(2), errno, ...)
 * and the flag-word formatter that reads them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>             /* RENAME_* */
#include <sys/xattr.h>         /* XATTR_CREATE, XATTR_REPLACE */
#include "fuse_kernel.h"
#include "names.h"
#include "format_i.h"

#define T(prefix, x) { prefix##x, #x }
#define END { 0, NULL }

const struct fuse_tok fuse_init_flag_names[] = {
	T(FUSE_, ASYNC_READ), T(FUSE_, POSIX_LOCKS), T(FUSE_, FILE_OPS),
	T(FUSE_, ATOMIC_O_TRUNC), T(FUSE_, EXPORT_SUPPORT), T(FUSE_, BIG_WRITES),
	T(FUSE_, DONT_MASK), T(FUSE_, SPLICE_WRITE), T(FUSE_, SPLICE_MOVE),
	T(FUSE_, SPLICE_READ), T(FUSE_, FLOCK_LOCKS), T(FUSE_, HAS_IOCTL_DIR),
	T(FUSE_, AUTO_INVAL_DATA), T(FUSE_, DO_READDIRPLUS),
	T(FUSE_, READDIRPLUS_AUTO), T(FUSE_, ASYNC_DIO),
	T(FUSE_, WRITEBACK_CACHE), T(FUSE_, NO_OPEN_SUPPORT),
	T(FUSE_, PARALLEL_DIROPS), T(FUSE_, HANDLE_KILLPRIV),
	T(FUSE_, POSIX_ACL), T(FUSE_, ABORT_ERROR), T(FUSE_, MAX_PAGES),
	T(FUSE_, CACHE_SYMLINKS), T(FUSE_, NO_OPENDIR_SUPPORT),
	T(FUSE_, EXPLICIT_INVAL_DATA), T(FUSE_, MAP_ALIGNMENT),
	T(FUSE_, SUBMOUNTS), T(FUSE_, HANDLE_KILLPRIV_V2),
	T(FUSE_, SETXATTR_EXT), T(FUSE_, INIT_EXT), T(FUSE_, INIT_RESERVED),
	T(FUSE_, SECURITY_CTX), T(FUSE_, HAS_INODE_DAX),
	T(FUSE_, CREATE_SUPP_GROUP), T(FUSE_, HAS_EXPIRE_ONLY),
	T(FUSE_, DIRECT_IO_ALLOW_MMAP), T(FUSE_, PASSTHROUGH),
	T(FUSE_, NO_EXPORT_SUPPORT), T(FUSE_, HAS_RESEND),
	T(FUSE_, ALLOW_IDMAP), T(FUSE_, OVER_IO_URING),
	T(FUSE_, REQUEST_TIMEOUT),
	END
};

const struct fuse_tok fuse_fopen_flag_names[] = {
	T(FOPEN_, DIRECT_IO), T(FOPEN_, KEEP_CACHE), T(FOPEN_, NONSEEKABLE),
	T(FOPEN_, CACHE_DIR), T(FOPEN_, STREAM), T(FOPEN_, NOFLUSH),
	T(FOPEN_, PARALLEL_DIRECT_WRITES), T(FOPEN_, PASSTHROUGH),
	END
};

const struct fuse_tok fuse_fattr_names[] = {
	T(FATTR_, MODE), T(FATTR_, UID), T(FATTR_, GID), T(FATTR_, SIZE),
	T(FATTR_, ATIME), T(FATTR_, MTIME), T(FATTR_, FH), T(FATTR_, ATIME_NOW),
	T(FATTR_, MTIME_NOW), T(FATTR_, LOCKOWNER), T(FATTR_, CTIME),
	T(FATTR_, KILL_SUIDGID),
	END
};

const struct fuse_tok fuse_write_flag_names[] = {
	T(FUSE_WRITE_, CACHE), T(FUSE_WRITE_, LOCKOWNER), T(FUSE_WRITE_, KILL_SUIDGID),
	END
};

const struct fuse_tok fuse_release_flag_names[] = {
	T(FUSE_RELEASE_, FLUSH), T(FUSE_RELEASE_, FLOCK_UNLOCK),
	END
};

const struct fuse_tok fuse_ioctl_flag_names[] = {
	T(FUSE_IOCTL_, COMPAT), T(FUSE_IOCTL_, UNRESTRICTED), T(FUSE_IOCTL_, RETRY),
	T(FUSE_IOCTL_, 32BIT), T(FUSE_IOCTL_, DIR), T(FUSE_IOCTL_, COMPAT_X32),
	END
};

const struct fuse_tok fuse_rename_flag_names[] = {
	T(RENAME_, NOREPLACE), T(RENAME_, EXCHANGE), T(RENAME_, WHITEOUT),
	END
};

const struct fuse_tok fuse_setxattr_flag_names[] = {
	T(XATTR_, CREATE), T(XATTR_, REPLACE),
	END
};

/* The kernel's O_LARGEFILE bit.  glibc defines O_LARGEFILE as 0 on 64-bit
 * targets, but the kernel forces this bit into f_flags there and FUSE
 * passes it on in OPEN/CREATE/READ flags. */
#define FP_O_LARGEFILE 00100000
/* The bits that make O_SYNC and O_TMPFILE on top of O_DSYNC/O_DIRECTORY
 * (the kernel's __O_SYNC and __O_TMPFILE; glibc does not export them). */
#define FP_O_SYNC_BIT    (O_SYNC & ~O_DSYNC)
#define FP_O_TMPFILE_BIT (O_TMPFILE & ~O_DIRECTORY)

const struct fuse_tok fuse_open_flag_names[] = {
	{ O_CREAT, "O_CREAT" }, { O_EXCL, "O_EXCL" }, { O_NOCTTY, "O_NOCTTY" },
	{ O_TRUNC, "O_TRUNC" }, { O_APPEND, "O_APPEND" },
	{ O_NONBLOCK, "O_NONBLOCK" }, { O_DSYNC, "O_DSYNC" },
	{ O_ASYNC, "O_ASYNC" }, { O_DIRECT, "O_DIRECT" },
	{ FP_O_LARGEFILE, "O_LARGEFILE" }, { O_DIRECTORY, "O_DIRECTORY" },
	{ O_NOFOLLOW, "O_NOFOLLOW" }, { O_NOATIME, "O_NOATIME" },
	{ O_CLOEXEC, "O_CLOEXEC" }, { FP_O_SYNC_BIT, "O_SYNC" },
	{ O_PATH, "O_PATH" }, { FP_O_TMPFILE_BIT, "O_TMPFILE" },
	END
};

#define E(x) { x, #x }
/* First name wins for aliases (EAGAIN/EWOULDBLOCK, EOPNOTSUPP/ENOTSUP). */
const struct fuse_tok fuse_errno_names[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES),
	E(EFAULT), E(ENOTBLK), E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV),
	E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY),
	E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK),
	E(EPIPE), E(EDOM), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK),
	E(ENOSYS), E(ENOTEMPTY), E(ELOOP), E(ENOMSG), E(EIDRM), E(ENOSTR),
	E(ENODATA), E(ETIME), E(ENOSR), E(ENOLINK), E(EPROTO), E(EBADMSG),
	E(EOVERFLOW), E(EILSEQ), E(EUSERS), E(ENOTSOCK), E(EMSGSIZE),
	E(EOPNOTSUPP), E(EADDRINUSE), E(ENETDOWN), E(ENETUNREACH),
	E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN), E(ENOTCONN),
	E(ESHUTDOWN), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTUNREACH),
	E(EALREADY), E(EINPROGRESS), E(ESTALE), E(EUCLEAN), E(EREMOTEIO),
	E(EDQUOT), E(ENOMEDIUM), E(EMEDIUMTYPE), E(ECANCELED), E(ENOKEY),
	E(EKEYEXPIRED), E(EKEYREVOKED), E(EKEYREJECTED), E(EOWNERDEAD),
	E(ENOTRECOVERABLE), E(ERFKILL), E(EHWPOISON),
	END
};

const char *fuse_tok_name(const struct fuse_tok *t, uint64_t v)
{
	for (; t->s; t++)
		if (t->v == v)
			return t->s;
	return NULL;
}

int fuse_flags_format(char *buf, size_t n, const struct fuse_tok *t, uint64_t v)
{
	struct fbuf fb;

	fb_init(&fb, buf, n);
	fb_flags(&fb, t, v);
	return fb_done(&fb);
}

int fuse_open_flags_format(char *buf, size_t n, uint32_t flags)
{
	struct fbuf fb;

	fb_init(&fb, buf, n);
	fb_oflags(&fb, flags);
	return fb_done(&fb);
}
