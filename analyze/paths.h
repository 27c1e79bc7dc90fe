/* \summary: nodeid -> path, rebuilt from the entry history in a trace.
 *
 * The kernel names files by nodeid; a trace only says which name a nodeid
 * had when a successful LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, CREATE or
 * READDIRPLUS handed it out.  We replay those, plus what changes names
 * (RENAME/RENAME2 incl. RENAME_EXCHANGE, UNLINK, RMDIR) and what ends a
 * node (FORGET/BATCH_FORGET bringing its lookup count to 0), in request
 * order.  Only successful replies change anything.
 *
 * Paths are relative to the mount's root ("/" is nodeid 1).  Whatever the
 * trace never said stays unknown: a node first seen without an entry
 * reply (the trace started mid-session, or the reply was cut by the
 * snaplen) is "(unknown)", an ancestor we never learnt is written as
 * "(unknown)/sub/file".  A node whose name was unlinked or replaced
 * while it lives on (an open file) gets " (deleted)".  A hard-linked node
 * carries the last name it was looked up under.
 *
 * Memory: one entry per node the kernel holds a lookup on (what it would
 * FORGET), plus nodes that were only ever referenced.
 */
#ifndef AN_PATHS_H
#define AN_PATHS_H

#include <stddef.h>
#include <stdint.h>
#include "trace.h"
#include "validate.h"

struct an_paths;

/* Called when a node entry goes away (forgotten, or an_paths_free), with
 * its user pointer and its last path, so per-node statistics can keep it. */
typedef void an_node_gone_fn(void *arg, void *user, uint64_t nodeid, const char *path);

struct an_paths *an_paths_new(an_node_gone_fn *gone, void *arg);
/* Set or replace the gone() hook. */
void an_paths_set_gone(struct an_paths *p, an_node_gone_fn *gone, void *arg);

/* Call gone() for every node that has a user pointer, with its current
 * path, and clear the pointers. */
void an_paths_release_users(struct an_paths *p);

/* Releases the users as above, then frees everything. */
void an_paths_free(struct an_paths *p);

/* Apply what a finished exchange did to the namespace. 0 or -ENOMEM. */
int an_paths_apply(struct an_paths *p, const struct fp_trace_exchange *x,
		   const struct fuse_wire_params *wp);

/* Path of nodeid into buf (always NUL-terminated, cut with "..." if too
 * long).  Returns the length. */
size_t an_paths_resolve(struct an_paths *p, uint64_t nodeid, char *buf, size_t n);

/* What a request addresses, as a path: its node's path, plus "/NAME" for
 * ops that name an entry in that directory (LOOKUP, CREATE, UNLINK, ...),
 * and "OLD -> NEW" for RENAME/RENAME2/LINK.  Call before an_paths_apply()
 * of the same exchange. */
size_t an_paths_describe(struct an_paths *p, const struct fp_trace_exchange *x,
			 const struct fuse_wire_params *wp, char *buf, size_t n);

/* The user slot of a node (created as unknown if the node is new); NULL
 * on ENOMEM. */
void **an_paths_user(struct an_paths *p, uint64_t nodeid);

/* Number of nodes held. */
size_t an_paths_count(const struct an_paths *p);

#endif
