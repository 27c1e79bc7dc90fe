/* \summary: mounting and unmounting a FUSE filesystem on /dev/fuse, with
 * mount(2) as root and through fusermount3 otherwise. */
#ifndef FP_MOUNT_H
#define FP_MOUNT_H

#include <stddef.h>

struct fp_mount_opts {
	const char *mountpoint;
	const char *fsname;        /* source shown in mountinfo; default "fuseproxy" */
	const char *subtype;       /* type "fuse.<subtype>"; default "fuseproxy" */
	int allow_other;
	int default_permissions;
	int ro;
	unsigned long mflags;      /* extra MS_* flags: nosuid, nodev, noexec, ... */
	unsigned max_read;         /* 0 = not passed */
};

/* fuseproxy's max_read unless -o max_read says otherwise.  The kernel cuts
 * a large O_DIRECT read into requests of max_read bytes and, with
 * ASYNC_DIO, sends them all at once; at 1 MiB a 1 MiB read is one request
 * that the server serves alone, at 256 KiB it is four that our workers (and
 * a backend behind us) serve side by side.  bench/run read-1m-d1, same runs:
 * --passthrough 2290 -> 3818 MiB/s, --backend fuse-overlayfs 789 -> 1714. */
#define FP_MOUNT_MAX_READ (256u << 10)

struct fp_mount {
	int fd;                    /* /dev/fuse, attached to the mount */
	int via_fusermount;        /* unmount with fusermount3 */
	unsigned conn;             /* /sys/fs/fuse/connections/<conn>, 0 if unknown */
	char *mountpoint;          /* absolute */
};

/* Parse one -o option into *mo.  Returns 1 if it was a mount option,
 * 0 if unknown (the caller may hand it to the filesystem), -EINVAL if it
 * is a mount option with a bad value. */
int fp_mount_parse_opt(struct fp_mount_opts *mo, const char *opt);

/* Mount.  Returns 0 or -errno with a message naming the mountpoint and
 * the cause in errbuf. */
int fp_mount(const struct fp_mount_opts *mo, struct fp_mount *m,
	     char *errbuf, size_t errlen);

/* Unmount.  lazy: MNT_DETACH when busy.  Safe to call twice.
 * Returns 0, or -errno. */
int fp_unmount(struct fp_mount *m);

/* Abort the connection through fusectl (mounting fusectl if needed);
 * unblocks everything.  Returns 0 or -errno. */
int fp_mount_abort(const struct fp_mount *m);

void fp_mount_free(struct fp_mount *m);

#endif
