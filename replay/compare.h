/* \summary: recorded reply vs the target's reply, per opcode (the reply
 * shape comes from the abi opcode table).
 *
 *   semantic  errno (with --tolerate), reply length class, the entry/attr
 *             fields that mean something (type, mode, size, nlink, uid, gid,
 *             rdev; size not for directories, whose sizes are the
 *             filesystem's own business), read data byte by byte (the kept
 *             prefix and the length when the trace cut it), xattr values,
 *             xattr name lists as sets, statfs bsize/frsize/namelen;
 *   strict    every field except ids (nodeid, generation, fh, readdir
 *             cookies); implies --strict-attrs;
 *   none      nothing: only that an answer came.
 * --strict-attrs adds ino, blocks, blksize, times, attr flags and the
 * validity timeouts to the semantic fields.  READDIR(PLUS) listings are
 * compared across a whole directory stream by dirstream.c.
 */
#ifndef RP_COMPARE_H
#define RP_COMPARE_H

#include <stdbool.h>
#include <stdint.h>
#include "fuse_kernel.h"
#include "validate.h"
#include "replay.h"
#include "sbuf.h"

struct rp_cmp {
	const struct rp_opts *o;
	uint32_t opcode;
	const struct fuse_req_view *req;  /* the recorded request */
	uint32_t rec_flags;               /* FP_TRACE_F_* of the recorded exchange */
	const void *rec;                  /* recorded reply, fuse_out_header first */
	uint32_t rec_caplen, rec_len;     /* kept / on the wire */
	const void *got;                  /* the target's reply */
	uint32_t got_len;
};

/* Returns true when the replies agree under the mode; otherwise appends one
 * line per difference to diff ("size: recorded 5, replayed 4096"). */
bool rp_compare_reply(const struct rp_cmp *c, struct sbuf *diff);

/* Errors as reply headers carry them (0 or -errno): equal, or tolerated. */
bool rp_errors_match(const struct rp_opts *o, int rec_err, int got_err);

/* Attributes of one node (prefix names it in the diff, e.g. "a.txt: ").
 * Returns true if equal under the mode. */
bool rp_compare_attr(const struct rp_opts *o, const struct fuse_attr *rec,
		     const struct fuse_attr *got, const char *prefix, struct sbuf *diff);

/* An entry_out (attributes, and the timeouts under --strict-attrs). */
bool rp_compare_entry(const struct rp_opts *o, const struct fuse_entry_out *rec,
		      const struct fuse_entry_out *got, const char *prefix, struct sbuf *diff);

/* Does --strict-attrs apply (given explicitly, or by --compare strict)? */
static inline bool rp_strict_attrs(const struct rp_opts *o)
{
	return o->strict_attrs || o->compare == RP_CMP_STRICT;
}

#endif
