/* \summary: FUSE wire protocol 7.45 (Linux 6.18): constants and structs.
 *
 * fuseproxy's own definitions, written from the protocol facts in
 * /work/shared/docs/fuse-protocol.md and checked against the running
 * kernel's BTF there.  Names follow the Linux uapi so that code reads the
 * same as the kernel side.  Do not include <linux/fuse.h> alongside this
 * file: the system copy is 7.38 and older.
 *
 * All fields are native-endian.  Every struct is laid out without implicit
 * padding (the explicit padding/unused members are part of the wire format
 * and are sent as zero); the _Static_asserts at the end pin every size.
 *
 * Protocol minors (what each one added, as far as a proxy cares):
 *   7.1   base protocol
 *   7.2   FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE
 *   7.3   ACCESS, CREATE
 *   7.4   fuse_kstatfs.frsize (statfs reply 48 -> 80 bytes)
 *   7.5   init_out.max_write (INIT reply 8 -> 24 bytes)
 *   7.6   init_in max_readahead/flags, FUSE_ASYNC_READ
 *   7.7   INTERRUPT, GETLK/SETLK/SETLKW, FUSE_POSIX_LOCKS
 *   7.8   BMAP, DESTROY, release_flags, FUSE_RELEASE_FLUSH
 *   7.9   fuse_getattr_in, lock_owner in read/write/setattr,
 *         fuse_attr.blksize (entry_out 120 -> 128, attr_out 96 -> 104),
 *         write_in 24 -> 40 bytes, FUSE_ATOMIC_O_TRUNC, FUSE_BIG_WRITES
 *   7.10  FOPEN_NONSEEKABLE
 *   7.11  IOCTL, POLL, CUSE
 *   7.12  umask in CREATE/MKNOD/MKDIR (mknod_in 8 -> 16 bytes),
 *         FUSE_DONT_MASK, notifications INVAL_INODE, INVAL_ENTRY
 *   7.13  init_out max_background/congestion_threshold
 *   7.14  splice on the device (FUSE_SPLICE_*)
 *   7.15  notifications STORE, RETRIEVE; NOTIFY_REPLY
 *   7.16  BATCH_FORGET, 64-bit fuse_ioctl_iovec
 *   7.17  FUSE_FLOCK_LOCKS, FUSE_RELEASE_FLOCK_UNLOCK
 *   7.18  notification DELETE, FUSE_IOCTL_DIR
 *   7.19  FALLOCATE
 *   7.20  FUSE_AUTO_INVAL_DATA
 *   7.21  READDIRPLUS, FUSE_DO_READDIRPLUS, FUSE_READDIRPLUS_AUTO
 *   7.22  FUSE_ASYNC_DIO
 *   7.23  FUSE_WRITEBACK_CACHE, init_out.time_gran (INIT reply 24 -> 64),
 *         RENAME2, ctime in setattr
 *   7.24  LSEEK
 *   7.25  FUSE_PARALLEL_DIROPS
 *   7.26  FUSE_HANDLE_KILLPRIV, FUSE_POSIX_ACL
 *   7.27  FUSE_ABORT_ERROR
 *   7.28  COPY_FILE_RANGE, FOPEN_CACHE_DIR, FUSE_MAX_PAGES,
 *         FUSE_CACHE_SYMLINKS
 *   7.29  FUSE_NO_OPENDIR_SUPPORT
 *   7.30  FUSE_EXPLICIT_INVAL_DATA, FUSE_IOCTL_COMPAT_X32
 *   7.31  SETUPMAPPING/REMOVEMAPPING (DAX), FUSE_MAP_ALIGNMENT,
 *         FUSE_WRITE_KILL_PRIV
 *   7.32  fuse_attr.flags, FUSE_ATTR_SUBMOUNT, FUSE_SUBMOUNTS
 *   7.33  FUSE_HANDLE_KILLPRIV_V2, FUSE_*_KILL_SUIDGID, FUSE_SETXATTR_EXT
 *         (setxattr_in 8 -> 16 bytes when negotiated)
 *   7.34  SYNCFS
 *   7.35  FOPEN_NOFLUSH
 *   7.36  FUSE_INIT_EXT (flags2), FUSE_SECURITY_CTX, init_in 16 -> 64 bytes
 *   7.37  TMPFILE
 *   7.38  request extensions (in_header.total_extlen), FUSE_EXPIRE_ONLY,
 *         FUSE_CREATE_SUPP_GROUP
 *   7.39  STATX, FUSE_DIRECT_IO_ALLOW_MMAP
 *   7.40  FUSE_PASSTHROUGH, FOPEN_PASSTHROUGH, open_out.backing_id,
 *         FUSE_DEV_IOC_BACKING_*, FUSE_HAS_RESEND, NOTIFY_RESEND,
 *         FUSE_UNIQUE_RESEND, FUSE_NO_EXPORT_SUPPORT          (Linux 6.9)
 *   7.41  FUSE_ALLOW_IDMAP                                    (by 6.12)
 *   7.42  FUSE-over-io_uring (FUSE_OVER_IO_URING, fuse_uring_*) (6.14)
 *   7.43  FUSE_REQUEST_TIMEOUT, init_out.request_timeout
 *   7.44  notification INC_EPOCH
 *   7.45  COPY_FILE_RANGE_64, notification PRUNE             (6.18)
 */
#ifndef FP_FUSE_KERNEL_H
#define FP_FUSE_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#define FUSE_KERNEL_VERSION        7
#define FUSE_KERNEL_MINOR_VERSION  45

/* The node ID of the root inode. */
#define FUSE_ROOT_ID               1

/* ---- Opcodes ---------------------------------------------------------- */

enum fuse_opcode {
	FUSE_LOOKUP             = 1,
	FUSE_FORGET             = 2,   /* no reply */
	FUSE_GETATTR            = 3,
	FUSE_SETATTR            = 4,
	FUSE_READLINK           = 5,
	FUSE_SYMLINK            = 6,
	/* 7 unused */
	FUSE_MKNOD              = 8,
	FUSE_MKDIR              = 9,
	FUSE_UNLINK             = 10,
	FUSE_RMDIR              = 11,
	FUSE_RENAME             = 12,
	FUSE_LINK               = 13,
	FUSE_OPEN               = 14,
	FUSE_READ               = 15,
	FUSE_WRITE              = 16,
	FUSE_STATFS             = 17,
	FUSE_RELEASE            = 18,
	/* 19 unused */
	FUSE_FSYNC              = 20,
	FUSE_SETXATTR           = 21,
	FUSE_GETXATTR           = 22,
	FUSE_LISTXATTR          = 23,
	FUSE_REMOVEXATTR        = 24,
	FUSE_FLUSH              = 25,
	FUSE_INIT               = 26,
	FUSE_OPENDIR            = 27,
	FUSE_READDIR            = 28,
	FUSE_RELEASEDIR         = 29,
	FUSE_FSYNCDIR           = 30,
	FUSE_GETLK              = 31,
	FUSE_SETLK              = 32,
	FUSE_SETLKW             = 33,
	FUSE_ACCESS             = 34,
	FUSE_CREATE             = 35,
	FUSE_INTERRUPT          = 36,
	FUSE_BMAP               = 37,
	FUSE_DESTROY            = 38,
	FUSE_IOCTL              = 39,
	FUSE_POLL               = 40,
	FUSE_NOTIFY_REPLY       = 41,  /* no reply */
	FUSE_BATCH_FORGET       = 42,  /* no reply */
	FUSE_FALLOCATE          = 43,
	FUSE_READDIRPLUS        = 44,
	FUSE_RENAME2            = 45,
	FUSE_LSEEK              = 46,
	FUSE_COPY_FILE_RANGE    = 47,
	FUSE_SETUPMAPPING       = 48,
	FUSE_REMOVEMAPPING      = 49,
	FUSE_SYNCFS             = 50,
	FUSE_TMPFILE            = 51,
	FUSE_STATX              = 52,
	FUSE_COPY_FILE_RANGE_64 = 53,

	/* CUSE specific operations */
	CUSE_INIT               = 4096,

	/* Reserved opcodes: only there to detect a byte-swapped peer. */
	CUSE_INIT_BSWAP_RESERVED = 1048576,   /* CUSE_INIT << 8 */
	FUSE_INIT_BSWAP_RESERVED = 436207616, /* FUSE_INIT << 24 */
};

/* One past the highest regular opcode (CUSE_INIT is outside this range). */
#define FUSE_OP_MAX  (FUSE_COPY_FILE_RANGE_64 + 1)

/* ---- Notification codes (daemon -> kernel, unique = 0, error = code) -- */

enum fuse_notify_code {
	FUSE_NOTIFY_POLL        = 1,
	FUSE_NOTIFY_INVAL_INODE = 2,
	FUSE_NOTIFY_INVAL_ENTRY = 3,
	FUSE_NOTIFY_STORE       = 4,
	FUSE_NOTIFY_RETRIEVE    = 5,
	FUSE_NOTIFY_DELETE      = 6,
	FUSE_NOTIFY_RESEND      = 7,
	FUSE_NOTIFY_INC_EPOCH   = 8,
	FUSE_NOTIFY_PRUNE       = 9,
	FUSE_NOTIFY_CODE_MAX,
};

/* ---- INIT flags (64-bit: init flags | flags2 << 32) ------------------- */

#define FUSE_ASYNC_READ            (UINT64_C(1) << 0)
#define FUSE_POSIX_LOCKS           (UINT64_C(1) << 1)
#define FUSE_FILE_OPS              (UINT64_C(1) << 2)   /* unused */
#define FUSE_ATOMIC_O_TRUNC        (UINT64_C(1) << 3)
#define FUSE_EXPORT_SUPPORT        (UINT64_C(1) << 4)
#define FUSE_BIG_WRITES            (UINT64_C(1) << 5)
#define FUSE_DONT_MASK             (UINT64_C(1) << 6)
#define FUSE_SPLICE_WRITE          (UINT64_C(1) << 7)
#define FUSE_SPLICE_MOVE           (UINT64_C(1) << 8)
#define FUSE_SPLICE_READ           (UINT64_C(1) << 9)
#define FUSE_FLOCK_LOCKS           (UINT64_C(1) << 10)
#define FUSE_HAS_IOCTL_DIR         (UINT64_C(1) << 11)
#define FUSE_AUTO_INVAL_DATA       (UINT64_C(1) << 12)
#define FUSE_DO_READDIRPLUS        (UINT64_C(1) << 13)
#define FUSE_READDIRPLUS_AUTO      (UINT64_C(1) << 14)
#define FUSE_ASYNC_DIO             (UINT64_C(1) << 15)
#define FUSE_WRITEBACK_CACHE       (UINT64_C(1) << 16)
#define FUSE_NO_OPEN_SUPPORT       (UINT64_C(1) << 17)
#define FUSE_PARALLEL_DIROPS       (UINT64_C(1) << 18)
#define FUSE_HANDLE_KILLPRIV       (UINT64_C(1) << 19)
#define FUSE_POSIX_ACL             (UINT64_C(1) << 20)
#define FUSE_ABORT_ERROR           (UINT64_C(1) << 21)
#define FUSE_MAX_PAGES             (UINT64_C(1) << 22)
#define FUSE_CACHE_SYMLINKS        (UINT64_C(1) << 23)
#define FUSE_NO_OPENDIR_SUPPORT    (UINT64_C(1) << 24)
#define FUSE_EXPLICIT_INVAL_DATA   (UINT64_C(1) << 25)
#define FUSE_MAP_ALIGNMENT         (UINT64_C(1) << 26)
#define FUSE_SUBMOUNTS             (UINT64_C(1) << 27)
#define FUSE_HANDLE_KILLPRIV_V2    (UINT64_C(1) << 28)
#define FUSE_SETXATTR_EXT          (UINT64_C(1) << 29)
#define FUSE_INIT_EXT              (UINT64_C(1) << 30)
#define FUSE_INIT_RESERVED         (UINT64_C(1) << 31)
/* bits 32.. travel in init_in/out.flags2 and need FUSE_INIT_EXT */
#define FUSE_SECURITY_CTX          (UINT64_C(1) << 32)
#define FUSE_HAS_INODE_DAX         (UINT64_C(1) << 33)
#define FUSE_CREATE_SUPP_GROUP     (UINT64_C(1) << 34)
#define FUSE_HAS_EXPIRE_ONLY       (UINT64_C(1) << 35)
#define FUSE_DIRECT_IO_ALLOW_MMAP  (UINT64_C(1) << 36)
#define FUSE_PASSTHROUGH           (UINT64_C(1) << 37)
#define FUSE_NO_EXPORT_SUPPORT     (UINT64_C(1) << 38)
#define FUSE_HAS_RESEND            (UINT64_C(1) << 39)
#define FUSE_ALLOW_IDMAP           (UINT64_C(1) << 40)
#define FUSE_OVER_IO_URING         (UINT64_C(1) << 41)
#define FUSE_REQUEST_TIMEOUT       (UINT64_C(1) << 42)

/* Older name of bit 36. */
#define FUSE_DIRECT_IO_RELAX       FUSE_DIRECT_IO_ALLOW_MMAP

/* CUSE INIT flags */
#define CUSE_UNRESTRICTED_IOCTL    (1 << 0)

/* ---- SETATTR valid bits (fuse_setattr_in.valid) ----------------------- */

#define FATTR_MODE          (1 << 0)
#define FATTR_UID           (1 << 1)
#define FATTR_GID           (1 << 2)
#define FATTR_SIZE          (1 << 3)
#define FATTR_ATIME         (1 << 4)
#define FATTR_MTIME         (1 << 5)
#define FATTR_FH            (1 << 6)
#define FATTR_ATIME_NOW     (1 << 7)
#define FATTR_MTIME_NOW     (1 << 8)
#define FATTR_LOCKOWNER     (1 << 9)
#define FATTR_CTIME         (1 << 10)
#define FATTR_KILL_SUIDGID  (1 << 11)

/* ---- OPEN reply flags (fuse_open_out.open_flags) ---------------------- */

#define FOPEN_DIRECT_IO              (1 << 0)
#define FOPEN_KEEP_CACHE             (1 << 1)
#define FOPEN_NONSEEKABLE            (1 << 2)
#define FOPEN_CACHE_DIR              (1 << 3)
#define FOPEN_STREAM                 (1 << 4)
#define FOPEN_NOFLUSH                (1 << 5)
#define FOPEN_PARALLEL_DIRECT_WRITES (1 << 6)
#define FOPEN_PASSTHROUGH            (1 << 7)

/* ---- Per-request flag words -------------------------------------------- */

/* fuse_open_in.open_flags, fuse_create_in.open_flags */
#define FUSE_OPEN_KILL_SUIDGID     (1 << 0)

/* fuse_release_in.release_flags */
#define FUSE_RELEASE_FLUSH         (1 << 0)
#define FUSE_RELEASE_FLOCK_UNLOCK  (1 << 1)

/* fuse_getattr_in.getattr_flags: fh is valid */
#define FUSE_GETATTR_FH            (1 << 0)

/* fuse_lk_in.lk_flags: a BSD flock(2) lock, not a POSIX one */
#define FUSE_LK_FLOCK              (1 << 0)

/* fuse_write_in.write_flags */
#define FUSE_WRITE_CACHE           (1 << 0)   /* delayed write from page cache */
#define FUSE_WRITE_LOCKOWNER       (1 << 1)   /* lock_owner is valid */
#define FUSE_WRITE_KILL_SUIDGID    (1 << 2)
#define FUSE_WRITE_KILL_PRIV       FUSE_WRITE_KILL_SUIDGID   /* older name */

/* fuse_read_in.read_flags */
#define FUSE_READ_LOCKOWNER        (1 << 1)

/* fuse_ioctl_in.flags / fuse_ioctl_out.flags */
#define FUSE_IOCTL_COMPAT          (1 << 0)
#define FUSE_IOCTL_UNRESTRICTED    (1 << 1)
#define FUSE_IOCTL_RETRY           (1 << 2)
#define FUSE_IOCTL_32BIT           (1 << 3)
#define FUSE_IOCTL_DIR             (1 << 4)
#define FUSE_IOCTL_COMPAT_X32      (1 << 5)
#define FUSE_IOCTL_MAX_IOV         256

/* fuse_poll_in.flags: the daemon should send NOTIFY_POLL on readiness */
#define FUSE_POLL_SCHEDULE_NOTIFY  (1 << 0)

/* fuse_fsync_in.fsync_flags */
#define FUSE_FSYNC_FDATASYNC       (1 << 0)

/* fuse_attr.flags */
#define FUSE_ATTR_SUBMOUNT         (1 << 0)
#define FUSE_ATTR_DAX              (1 << 1)

/* fuse_setxattr_in.setxattr_flags */
#define FUSE_SETXATTR_ACL_KILL_SGID (1 << 0)

/* fuse_notify_inval_entry_out.flags: only expire the dentry */
#define FUSE_EXPIRE_ONLY           (1 << 0)

/* fuse_setupmapping_in.flags */
#define FUSE_SETUPMAPPING_FLAG_WRITE (1ULL << 0)
#define FUSE_SETUPMAPPING_FLAG_READ  (1ULL << 1)

/* RENAME2 flags are the renameat2(2) RENAME_* flags, passed through. */

/* ---- Unique IDs --------------------------------------------------------- */

/* ORed into the unique of a request re-queued by NOTIFY_RESEND. */
#define FUSE_UNIQUE_RESEND         (UINT64_C(1) << 63)
/* An INTERRUPT for request U carries unique U | FUSE_INT_REQ_BIT. */
#define FUSE_INT_REQ_BIT           (UINT64_C(1) << 0)

/* ---- Limits and compat sizes ------------------------------------------- */

#define FUSE_MIN_READ_BUFFER       8192
/* Longest name the kernel sends in a request.  The protocol constant was
 * 1024 until Linux 6.16 raised it to PATH_MAX - 1; 6.18 sends names of up
 * to 4095 bytes (measured) and leaves ENAMETOOLONG to the filesystem. */
#define FUSE_NAME_MAX              4095
#define CUSE_INIT_INFO_MAX         4096

#define FUSE_COMPAT_ENTRY_OUT_SIZE   120   /* minor < 9 */
#define FUSE_COMPAT_ATTR_OUT_SIZE    96    /* minor < 9 */
#define FUSE_COMPAT_MKNOD_IN_SIZE    8     /* minor < 12 */
#define FUSE_COMPAT_WRITE_IN_SIZE    24    /* minor < 9 */
#define FUSE_COMPAT_STATFS_SIZE      48    /* minor < 4 */
#define FUSE_COMPAT_SETXATTR_IN_SIZE 8     /* without FUSE_SETXATTR_EXT */
#define FUSE_COMPAT_INIT_OUT_SIZE    8     /* minor < 5 */
#define FUSE_COMPAT_22_INIT_OUT_SIZE 24    /* minor < 23 */

/* ---- Common structs ---------------------------------------------------- */

struct fuse_attr {
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t atime;
	uint64_t mtime;
	uint64_t ctime;
	uint32_t atimensec;
	uint32_t mtimensec;
	uint32_t ctimensec;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint32_t rdev;
	uint32_t blksize;
	uint32_t flags;            /* FUSE_ATTR_* */
};

/* statx(2) timestamp as FUSE sends it. */
struct fuse_sx_time {
	int64_t  tv_sec;
	uint32_t tv_nsec;
	int32_t  __reserved;
};

/* statx(2) result as FUSE sends it (256 bytes). */
struct fuse_statx {
	uint32_t mask;
	uint32_t blksize;
	uint64_t attributes;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint16_t mode;
	uint16_t __spare0[1];
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t attributes_mask;
	struct fuse_sx_time atime;
	struct fuse_sx_time btime;
	struct fuse_sx_time ctime;
	struct fuse_sx_time mtime;
	uint32_t rdev_major;
	uint32_t rdev_minor;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t __spare2[14];
};

struct fuse_kstatfs {
	uint64_t blocks;
	uint64_t bfree;
	uint64_t bavail;
	uint64_t files;
	uint64_t ffree;
	uint32_t bsize;
	uint32_t namelen;
	uint32_t frsize;
	uint32_t padding;
	uint32_t spare[6];
};

struct fuse_file_lock {
	uint64_t start;
	uint64_t end;
	uint32_t type;
	uint32_t pid;              /* tgid */
};

/* ---- Headers ----------------------------------------------------------- */

struct fuse_in_header {
	uint32_t len;              /* whole message, header included */
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid;
	uint32_t gid;
	uint32_t pid;
	uint16_t total_extlen;     /* extensions after the args, in 8-byte units */
	uint16_t padding;
};

struct fuse_out_header {
	uint32_t len;
	int32_t  error;            /* 0, -errno, or a notify code when unique=0 */
	uint64_t unique;
};

/* ---- Request/reply arguments, in opcode order -------------------------- */

struct fuse_entry_out {
	uint64_t nodeid;           /* inode ID */
	uint64_t generation;       /* (nodeid, generation) is unique for the fs lifetime */
	uint64_t entry_valid;      /* cache timeout for the name */
	uint64_t attr_valid;       /* cache timeout for the attributes */
	uint32_t entry_valid_nsec;
	uint32_t attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_forget_in {
	uint64_t nlookup;
};

struct fuse_forget_one {
	uint64_t nodeid;
	uint64_t nlookup;
};

struct fuse_batch_forget_in {
	uint32_t count;
	uint32_t dummy;
};

struct fuse_getattr_in {
	uint32_t getattr_flags;    /* FUSE_GETATTR_FH */
	uint32_t dummy;
	uint64_t fh;
};

struct fuse_attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t dummy;
	struct fuse_attr attr;
};

struct fuse_statx_in {
	uint32_t getattr_flags;
	uint32_t reserved;
	uint64_t fh;
	uint32_t sx_flags;
	uint32_t sx_mask;
};

struct fuse_statx_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t flags;
	uint64_t spare[2];
	struct fuse_statx stat;
};

struct fuse_mknod_in {
	uint32_t mode;
	uint32_t rdev;
	uint32_t umask;
	uint32_t padding;
};

struct fuse_mkdir_in {
	uint32_t mode;
	uint32_t umask;
};

struct fuse_rename_in {
	uint64_t newdir;
};

struct fuse_rename2_in {
	uint64_t newdir;
	uint32_t flags;            /* RENAME_NOREPLACE, RENAME_EXCHANGE, ... */
	uint32_t padding;
};

struct fuse_link_in {
	uint64_t oldnodeid;
};

struct fuse_setattr_in {
	uint32_t valid;            /* FATTR_* */
	uint32_t padding;
	uint64_t fh;
	uint64_t size;
	uint64_t lock_owner;
	uint64_t atime;
	uint64_t mtime;
	uint64_t ctime;
	uint32_t atimensec;
	uint32_t mtimensec;
	uint32_t ctimensec;
	uint32_t mode;
	uint32_t unused4;
	uint32_t uid;
	uint32_t gid;
	uint32_t unused5;
};

struct fuse_open_in {
	uint32_t flags;            /* open(2) flags */
	uint32_t open_flags;       /* FUSE_OPEN_KILL_SUIDGID */
};

struct fuse_create_in {
	uint32_t flags;
	uint32_t mode;
	uint32_t umask;
	uint32_t open_flags;
};

struct fuse_open_out {
	uint64_t fh;
	uint32_t open_flags;       /* FOPEN_* */
	int32_t  backing_id;       /* with FOPEN_PASSTHROUGH */
};

struct fuse_release_in {
	uint64_t fh;
	uint32_t flags;
	uint32_t release_flags;    /* FUSE_RELEASE_* */
	uint64_t lock_owner;
};

struct fuse_flush_in {
	uint64_t fh;
	uint32_t unused;
	uint32_t padding;
	uint64_t lock_owner;
};

struct fuse_read_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t size;
	uint32_t read_flags;       /* FUSE_READ_LOCKOWNER */
	uint64_t lock_owner;
	uint32_t flags;            /* open(2) flags of the file */
	uint32_t padding;
};

struct fuse_write_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t size;             /* data bytes that follow */
	uint32_t write_flags;      /* FUSE_WRITE_* */
	uint64_t lock_owner;
	uint32_t flags;
	uint32_t padding;
};

struct fuse_write_out {
	uint32_t size;
	uint32_t padding;
};

struct fuse_statfs_out {
	struct fuse_kstatfs st;
};

struct fuse_fsync_in {
	uint64_t fh;
	uint32_t fsync_flags;      /* FUSE_FSYNC_FDATASYNC */
	uint32_t padding;
};

struct fuse_setxattr_in {
	uint32_t size;             /* value bytes after the name */
	uint32_t flags;            /* XATTR_CREATE / XATTR_REPLACE */
	uint32_t setxattr_flags;   /* only with FUSE_SETXATTR_EXT */
	uint32_t padding;
};

struct fuse_getxattr_in {
	uint32_t size;             /* 0: ask for the size only */
	uint32_t padding;
};

struct fuse_getxattr_out {
	uint32_t size;
	uint32_t padding;
};

struct fuse_lk_in {
	uint64_t fh;
	uint64_t owner;
	struct fuse_file_lock lk;
	uint32_t lk_flags;         /* FUSE_LK_FLOCK */
	uint32_t padding;
};

struct fuse_lk_out {
	struct fuse_file_lock lk;
};

struct fuse_access_in {
	uint32_t mask;
	uint32_t padding;
};

struct fuse_init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint32_t flags2;           /* bits 32..63 of the flag set */
	uint32_t unused[11];
};

struct fuse_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;           /* honoured only with FUSE_INIT_EXT */
	uint32_t max_stack_depth;
	uint16_t request_timeout;  /* seconds, with FUSE_REQUEST_TIMEOUT */
	uint16_t unused[11];
};

struct cuse_init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t unused;
	uint32_t flags;
};

struct cuse_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t unused;
	uint32_t flags;
	uint32_t max_read;
	uint32_t max_write;
	uint32_t dev_major;        /* chardev major */
	uint32_t dev_minor;        /* chardev minor */
	uint32_t spare[10];
};

struct fuse_interrupt_in {
	uint64_t unique;           /* the request to interrupt */
};

struct fuse_bmap_in {
	uint64_t block;
	uint32_t blocksize;
	uint32_t padding;
};

struct fuse_bmap_out {
	uint64_t block;
};

struct fuse_ioctl_in {
	uint64_t fh;
	uint32_t flags;            /* FUSE_IOCTL_* */
	uint32_t cmd;
	uint64_t arg;
	uint32_t in_size;          /* in-data bytes that follow */
	uint32_t out_size;
};

struct fuse_ioctl_iovec {
	uint64_t base;
	uint64_t len;
};

struct fuse_ioctl_out {
	int32_t  result;
	uint32_t flags;            /* FUSE_IOCTL_RETRY */
	uint32_t in_iovs;
	uint32_t out_iovs;
};

struct fuse_poll_in {
	uint64_t fh;
	uint64_t kh;
	uint32_t flags;            /* FUSE_POLL_SCHEDULE_NOTIFY */
	uint32_t events;
};

struct fuse_poll_out {
	uint32_t revents;
	uint32_t padding;
};

struct fuse_fallocate_in {
	uint64_t fh;
	uint64_t offset;
	uint64_t length;
	uint32_t mode;
	uint32_t padding;
};

struct fuse_lseek_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t whence;
	uint32_t padding;
};

struct fuse_lseek_out {
	uint64_t offset;
};

struct fuse_copy_file_range_in {
	uint64_t fh_in;
	uint64_t off_in;
	uint64_t nodeid_out;
	uint64_t fh_out;
	uint64_t off_out;
	uint64_t len;
	uint64_t flags;
};

struct fuse_copy_file_range_out {
	uint64_t bytes_copied;
};

struct fuse_setupmapping_in {
	uint64_t fh;               /* an already open handle */
	uint64_t foffset;          /* offset into the file */
	uint64_t len;              /* length of the mapping */
	uint64_t flags;            /* FUSE_SETUPMAPPING_FLAG_* */
	uint64_t moffset;          /* offset into the DAX window */
};

struct fuse_removemapping_in {
	uint32_t count;            /* fuse_removemapping_one entries that follow */
};

struct fuse_removemapping_one {
	uint64_t moffset;
	uint64_t len;
};

#define FUSE_REMOVEMAPPING_MAX_ENTRY \
	(4096 / sizeof(struct fuse_removemapping_one))

struct fuse_syncfs_in {
	uint64_t padding;
};

/* ---- Directory records -------------------------------------------------- */

struct fuse_dirent {
	uint64_t ino;
	uint64_t off;
	uint32_t namelen;
	uint32_t type;
	char name[];
};

/* Records are padded to 8 bytes; the name starts right after the fixed part. */
#define FUSE_NAME_OFFSET  offsetof(struct fuse_dirent, name)
#define FUSE_DIRENT_ALIGN(x) \
	(((x) + sizeof(uint64_t) - 1) & ~(sizeof(uint64_t) - 1))
#define FUSE_DIRENT_SIZE(d) FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + (d)->namelen)

struct fuse_direntplus {
	struct fuse_entry_out entry_out;
	struct fuse_dirent dirent;
};

#define FUSE_NAME_OFFSET_DIRENTPLUS offsetof(struct fuse_direntplus, dirent.name)
#define FUSE_DIRENTPLUS_SIZE(d) \
	FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + (d)->dirent.namelen)

/* ---- Notifications (payloads after fuse_out_header) --------------------- */

struct fuse_notify_poll_wakeup_out {
	uint64_t kh;
};

struct fuse_notify_inval_inode_out {
	uint64_t ino;
	int64_t  off;
	int64_t  len;
};

struct fuse_notify_inval_entry_out {       /* then name, NUL */
	uint64_t parent;
	uint32_t namelen;
	uint32_t flags;            /* FUSE_EXPIRE_ONLY */
};

struct fuse_notify_delete_out {            /* then name, NUL */
	uint64_t parent;
	uint64_t child;
	uint32_t namelen;
	uint32_t padding;
};

struct fuse_notify_store_out {             /* then size data bytes */
	uint64_t nodeid;
	uint64_t offset;
	uint32_t size;
	uint32_t padding;
};

struct fuse_notify_retrieve_out {
	uint64_t notify_unique;
	uint64_t nodeid;
	uint64_t offset;
	uint32_t size;
	uint32_t padding;
};

/* NOTIFY_REPLY request argument: the kernel's answer to a RETRIEVE. */
struct fuse_notify_retrieve_in {           /* then size data bytes */
	uint64_t dummy1;
	uint64_t offset;
	uint32_t size;
	uint32_t dummy2;
	uint64_t dummy3;
	uint64_t dummy4;
};

struct fuse_notify_prune_out {             /* then count u64 nodeids */
	uint32_t count;
	uint32_t padding;
	uint64_t spare;
};

/* ---- Request extensions (total_extlen, 7.38) ----------------------------
 * Appended after the args of MKNOD, MKDIR, SYMLINK, CREATE and TMPFILE.
 * Each starts with fuse_ext_header; size includes the header and is a
 * multiple of 8. */

struct fuse_ext_header {
	uint32_t size;
	uint32_t type;             /* enum fuse_ext_type */
};

enum fuse_ext_type {
	/* types 0..FUSE_MAX_NR_SECCTX are security contexts */
	FUSE_MAX_NR_SECCTX = 31,
	FUSE_EXT_GROUPS    = 32,
};

struct fuse_secctx_header {                /* then nr_secctx fuse_secctx */
	uint32_t size;
	uint32_t nr_secctx;
};

struct fuse_secctx {                       /* then name, NUL, label */
	uint32_t size;
	uint32_t padding;
};

struct fuse_supp_groups {
	uint32_t nr_groups;
	uint32_t groups[];
};

/* ---- Device ioctls (magic 229) ------------------------------------------ */

struct fuse_backing_map {
	int32_t  fd;
	uint32_t flags;            /* must be 0 */
	uint64_t padding;          /* must be 0 */
};

#define FUSE_DEV_IOC_MAGIC          229
#define FUSE_DEV_IOC_CLONE          _IOR(FUSE_DEV_IOC_MAGIC, 0, uint32_t)
#define FUSE_DEV_IOC_BACKING_OPEN   _IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE  _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
#define FUSE_DEV_IOC_SYNC_INIT      _IO(FUSE_DEV_IOC_MAGIC, 3)

/* ---- FUSE-over-io_uring (7.42) ------------------------------------------ */

#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ     128

struct fuse_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;        /* equals the request's unique */
	uint32_t payload_sz;       /* bytes used in the payload buffer */
	uint32_t padding;
	uint64_t reserved;
};

/* iov[0] of every ring entry. */
struct fuse_uring_req_header {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];  /* fuse_in_header / fuse_out_header */
	char op_in[FUSE_URING_OP_IN_OUT_SZ];       /* the op's first in-arg, if any */
	struct fuse_uring_ent_in_out ring_ent_in_out;
};

enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID          = 0,
	FUSE_IO_URING_CMD_REGISTER         = 1,
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

/* The 80-byte command area of a 128-byte SQE starts with this. */
struct fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t  padding[6];
};

/* ---- Size pins (checked against the 6.18 kernel's BTF) ------------------ */

#define FUSE_ABI_SIZE(t, n) _Static_assert(sizeof(struct t) == (n), #t " size")
FUSE_ABI_SIZE(fuse_attr, 88);
FUSE_ABI_SIZE(fuse_sx_time, 16);
FUSE_ABI_SIZE(fuse_statx, 256);
FUSE_ABI_SIZE(fuse_kstatfs, 80);
FUSE_ABI_SIZE(fuse_file_lock, 24);
FUSE_ABI_SIZE(fuse_in_header, 40);
FUSE_ABI_SIZE(fuse_out_header, 16);
FUSE_ABI_SIZE(fuse_entry_out, 128);
FUSE_ABI_SIZE(fuse_forget_in, 8);
FUSE_ABI_SIZE(fuse_forget_one, 16);
FUSE_ABI_SIZE(fuse_batch_forget_in, 8);
FUSE_ABI_SIZE(fuse_getattr_in, 16);
FUSE_ABI_SIZE(fuse_attr_out, 104);
FUSE_ABI_SIZE(fuse_statx_in, 24);
FUSE_ABI_SIZE(fuse_statx_out, 288);
FUSE_ABI_SIZE(fuse_mknod_in, 16);
FUSE_ABI_SIZE(fuse_mkdir_in, 8);
FUSE_ABI_SIZE(fuse_rename_in, 8);
FUSE_ABI_SIZE(fuse_rename2_in, 16);
FUSE_ABI_SIZE(fuse_link_in, 8);
FUSE_ABI_SIZE(fuse_setattr_in, 88);
FUSE_ABI_SIZE(fuse_open_in, 8);
FUSE_ABI_SIZE(fuse_create_in, 16);
FUSE_ABI_SIZE(fuse_open_out, 16);
FUSE_ABI_SIZE(fuse_release_in, 24);
FUSE_ABI_SIZE(fuse_flush_in, 24);
FUSE_ABI_SIZE(fuse_read_in, 40);
FUSE_ABI_SIZE(fuse_write_in, 40);
FUSE_ABI_SIZE(fuse_write_out, 8);
FUSE_ABI_SIZE(fuse_statfs_out, 80);
FUSE_ABI_SIZE(fuse_fsync_in, 16);
FUSE_ABI_SIZE(fuse_setxattr_in, 16);
FUSE_ABI_SIZE(fuse_getxattr_in, 8);
FUSE_ABI_SIZE(fuse_getxattr_out, 8);
FUSE_ABI_SIZE(fuse_lk_in, 48);
FUSE_ABI_SIZE(fuse_lk_out, 24);
FUSE_ABI_SIZE(fuse_access_in, 8);
FUSE_ABI_SIZE(fuse_init_in, 64);
FUSE_ABI_SIZE(fuse_init_out, 64);
FUSE_ABI_SIZE(cuse_init_in, 16);
FUSE_ABI_SIZE(cuse_init_out, 72);
FUSE_ABI_SIZE(fuse_interrupt_in, 8);
FUSE_ABI_SIZE(fuse_bmap_in, 16);
FUSE_ABI_SIZE(fuse_bmap_out, 8);
FUSE_ABI_SIZE(fuse_ioctl_in, 32);
FUSE_ABI_SIZE(fuse_ioctl_iovec, 16);
FUSE_ABI_SIZE(fuse_ioctl_out, 16);
FUSE_ABI_SIZE(fuse_poll_in, 24);
FUSE_ABI_SIZE(fuse_poll_out, 8);
FUSE_ABI_SIZE(fuse_fallocate_in, 32);
FUSE_ABI_SIZE(fuse_lseek_in, 24);
FUSE_ABI_SIZE(fuse_lseek_out, 8);
FUSE_ABI_SIZE(fuse_copy_file_range_in, 56);
FUSE_ABI_SIZE(fuse_copy_file_range_out, 8);
FUSE_ABI_SIZE(fuse_setupmapping_in, 40);
FUSE_ABI_SIZE(fuse_removemapping_in, 4);
FUSE_ABI_SIZE(fuse_removemapping_one, 16);
FUSE_ABI_SIZE(fuse_syncfs_in, 8);
FUSE_ABI_SIZE(fuse_dirent, 24);
FUSE_ABI_SIZE(fuse_direntplus, 152);
FUSE_ABI_SIZE(fuse_notify_poll_wakeup_out, 8);
FUSE_ABI_SIZE(fuse_notify_inval_inode_out, 24);
FUSE_ABI_SIZE(fuse_notify_inval_entry_out, 16);
FUSE_ABI_SIZE(fuse_notify_delete_out, 24);
FUSE_ABI_SIZE(fuse_notify_store_out, 24);
FUSE_ABI_SIZE(fuse_notify_retrieve_out, 32);
FUSE_ABI_SIZE(fuse_notify_retrieve_in, 40);
FUSE_ABI_SIZE(fuse_notify_prune_out, 16);
FUSE_ABI_SIZE(fuse_ext_header, 8);
FUSE_ABI_SIZE(fuse_secctx_header, 8);
FUSE_ABI_SIZE(fuse_secctx, 8);
FUSE_ABI_SIZE(fuse_supp_groups, 4);
FUSE_ABI_SIZE(fuse_backing_map, 16);
FUSE_ABI_SIZE(fuse_uring_ent_in_out, 32);
FUSE_ABI_SIZE(fuse_uring_req_header, 288);
FUSE_ABI_SIZE(fuse_uring_cmd_req, 24);

/* Offsets the protocol notes pin explicitly. */
_Static_assert(offsetof(struct fuse_init_out, max_pages) == 28, "init_out.max_pages");
_Static_assert(offsetof(struct fuse_init_out, flags2) == 32, "init_out.flags2");
_Static_assert(offsetof(struct fuse_init_out, request_timeout) == 40, "init_out.request_timeout");
_Static_assert(offsetof(struct fuse_in_header, total_extlen) == 36, "in_header.total_extlen");
_Static_assert(offsetof(struct fuse_uring_req_header, ring_ent_in_out) == 256, "uring ent");
_Static_assert(FUSE_NAME_OFFSET == 24, "dirent name offset");
_Static_assert(FUSE_NAME_OFFSET_DIRENTPLUS == 152, "direntplus name offset");

#undef FUSE_ABI_SIZE

#endif /* FP_FUSE_KERNEL_H */
