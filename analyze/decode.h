/* \summary: the few request/reply fields analysis needs, pulled out of
 * possibly snaplen-cut trace bytes with bounds-checked reads.  Anything
 * that was cut off comes back as "not present", never as garbage. */
#ifndef AN_DECODE_H
#define AN_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include "trace.h"
#include "validate.h"

/* Names and second node of an entry-changing request. */
struct an_names {
	const char *name;           /* NULL if absent or cut */
	const char *name2;          /* RENAME new name, SYMLINK target */
	uint64_t node2;             /* the table's node2_off: RENAME newdir, LINK oldnodeid, ... */
	bool has_node2;
	uint32_t rename_flags;      /* RENAME2 */
	uint64_t forget_nlookup;    /* FORGET */
};

void an_decode_names(const struct fp_trace_exchange *x, const struct fuse_wire_params *wp,
		     struct an_names *nm);

/* Nodeid handed out by a successful entry reply (LOOKUP, MKDIR, CREATE,
 * LINK, ...); false if none or cut (nodeid 0 = negative entry counts as
 * none). */
bool an_decode_new_node(const struct fp_trace_exchange *x, uint64_t *nodeid);

/* BATCH_FORGET: entries i = 0.. until false (bounds-checked). */
bool an_decode_forget_one(const struct fp_trace_exchange *x, uint32_t i,
			  uint64_t *nodeid, uint64_t *nlookup);

/* READDIRPLUS reply: walk entries; *off starts at 0.  Returns false at the
 * end or at a cut entry.  name is not NUL-terminated: namelen bytes. */
bool an_decode_direntplus(const struct fp_trace_exchange *x, uint32_t *off,
			  uint64_t *nodeid, const char **name, uint32_t *namelen);

/* Payload bytes moved by READ (reply) and WRITE (request), from the wire
 * lengths, so the snaplen does not matter.  0 for other ops. */
uint64_t an_data_bytes(const struct fp_trace_exchange *x, const struct fuse_wire_params *wp);

/* Negotiated minor and flags from a whole INIT reply; false if not one. */
bool an_decode_init_reply(const void *msg, uint32_t len, struct fuse_wire_params *wp,
			  uint32_t *major);

#endif
