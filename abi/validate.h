/* \summary: bounds-checked validation of FUSE messages in both directions.
 *
 * Every message that crosses fuseproxy goes through these functions before
 * anything else reads it.  They never read outside [msg, msg+len), and on
 * success fill a view whose pointers all lie inside the message.
 */
#ifndef FP_VALIDATE_H
#define FP_VALIDATE_H

#include <stdbool.h>
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
 * Returns 0, or -EPROTO with a one-line reason in err (may be NULL).
 * wp may be NULL (= before INIT: minor 0, no flags).  On failure v holds
 * what was parsed before the failing check (h once 40 bytes are there),
 * so fuse_format_request() can still print it with a truncation marker. */
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

/* Reply errors must lie in (-FUSE_REPLY_ERRNO_LIMIT, 0].  6.18 rejects
 * -512 and below with EINVAL (older kernels and libfuse use -1000). */
#define FUSE_REPLY_ERRNO_LIMIT 512

/* Handles a validated request names, per the opcode table (for recorders).
 * Each returns false if the op has no such handle (or, for GETATTR,
 * SETATTR and STATX, the request says its fh is not set). */
bool fuse_req_fh(const struct fuse_req_view *v, uint64_t *fh);       /* fh, fh_in */
bool fuse_req_fh2(const struct fuse_req_view *v, uint64_t *fh);      /* COPY_FILE_RANGE fh_out */
bool fuse_req_node2(const struct fuse_req_view *v, uint64_t *nodeid);/* LINK old, RENAME newdir,
									COPY_FILE_RANGE nodeid_out */
/* Nodeid / fh a successful reply payload (after fuse_out_header) hands
 * out: entry_out.nodeid of LOOKUP, MKNOD, ..., CREATE; open_out.fh of
 * OPEN, OPENDIR, CREATE, TMPFILE. */
bool fuse_reply_new_node(uint32_t opcode, const void *payload, size_t len, uint64_t *nodeid);
bool fuse_reply_new_fh(uint32_t opcode, const void *payload, size_t len, uint64_t *fh);

#endif
