/* \summary: bounds-checked validation of FUSE messages in both directions.
 *
 * Every message that crosses fuseproxy goes through these functions before
 * anything else reads it.  They never read outside [msg, msg+len), and on
 * success fill a view whose pointers all lie inside the message.
 */
#ifndef FP_VALIDATE_H
#define FP_VALIDATE_H

#include <stddef.h>
#include <stdint.h>
#include "fuse_kernel.h"

/* Parsed arguments of a kernel->daemon request.  Unused fields are NULL/0. */
struct fuse_req_view {
	const struct fuse_in_header *h;
	const void *fixed;        /* the op's fixed in-struct, NULL if none   */
	uint32_t fixed_len;       /* its size as sent (compat sizes for old minors) */
	const char *name;         /* first NUL-terminated name, e.g. LOOKUP   */
	const char *name2;        /* second name: SYMLINK target, RENAME new  */
	const void *data;         /* trailing bytes: WRITE data, SETXATTR value,
				     IOCTL in-data, BATCH_FORGET entries,
				     NOTIFY_REPLY data */
	uint32_t data_len;
	const void *ext;          /* extensions (in_header.total_extlen * 8)  */
	uint32_t ext_len;
};

/* Connection facts that change how a message is laid out. */
struct fuse_wire_params {
	uint32_t minor;           /* negotiated minor; 0 before INIT */
	uint64_t flags;           /* negotiated INIT flags (flags | flags2<<32) */
};

/* Validate a request read from the kernel (or from a trace).
 * Returns 0, or -EPROTO with a one-line reason in err (may be NULL). */
int fuse_validate_request(const void *msg, size_t len,
			  const struct fuse_wire_params *wp,
			  struct fuse_req_view *v, char *err, size_t errlen);

/* Validate a reply (daemon->kernel, unique != 0) to a request of opcode
 * `opcode`.  `req` is that request's view (used e.g. for READ size and
 * GETXATTR size==0); it may be NULL, which skips checks that need it.
 * Returns 0, or -EPROTO with a reason. */
int fuse_validate_reply(uint32_t opcode, const struct fuse_req_view *req,
			const void *msg, size_t len,
			const struct fuse_wire_params *wp, char *err, size_t errlen);

/* Validate a notification (daemon->kernel, unique == 0, error = code). */
int fuse_validate_notify(const void *msg, size_t len, char *err, size_t errlen);

#endif
