/* \summary: restarting a dead backend under a live mount (fuseproxy
 * --restart): start it again, give it the recorded INIT, rebuild what the
 * kernel still refers to, re-inject the requests it never answered (judging
 * those that must not simply run twice).  The rules are in doc/recovery.md;
 * the code is in recovery.c, entry points in forward_i.h. */
#ifndef FP_RECOVERY_H
#define FP_RECOVERY_H

/* How a request pending at a crash is given to the new backend. */
enum fwd_replay {
	FWD_RESEND = 0,     /* idempotent: send it again (translated) */
	FWD_MAKE,           /* MKDIR, MKNOD, SYMLINK, LINK, CREATE|O_EXCL:
			       EEXIST now -> success if the object there matches */
	FWD_REMOVE,         /* UNLINK, RMDIR: look first; gone -> success */
	FWD_RENAME,         /* RENAME, RENAME2: look at source and target first */
	FWD_WRITE,          /* O_APPEND WRITE: compare the size with the one before */
	FWD_SETLKW,         /* locks re-taken first; interrupted -> EINTR */
	FWD_XATTR_CREATE,   /* SETXATTR with XATTR_CREATE: EEXIST -> compare the value */
	FWD_FAIL,           /* cannot be judged: EIO (IOCTL, unknown ops) */
};

#endif
