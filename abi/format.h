/* \summary: one-line human formatting of FUSE messages (for -d, the
 * recorder's text views, replay and analysis reports). */
#ifndef FP_FORMAT_H
#define FP_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "validate.h"

/* "LOOKUP #12 node=1 \"hello.txt\""  (no uid/pid: the caller adds those).
 * Returns the length written (snprintf semantics, always NUL-terminated). */
int fuse_format_request(char *buf, size_t n, const struct fuse_req_view *v);

/* The reply part: "node=2 ino=131", "ENOENT", "4096 bytes", ...
 * msg is the whole reply including fuse_out_header. */
int fuse_format_reply(char *buf, size_t n, uint32_t opcode,
		      const struct fuse_req_view *req, const void *msg, size_t len);

/* A notification (unique 0, error = code), whole message:
 * "INVAL_ENTRY parent=1 \"a.txt\"", "STORE node=5 off=0 size=4096". */
int fuse_format_notify(char *buf, size_t n, const void *msg, size_t len);

/* "ENOENT" for 2, "E123" for unknown; positive errno in. */
const char *fuse_errno_name(int err);

#endif
