/* \summary: the interface between the engine and a filesystem that serves
 * requests in-process (the built-in passthrough; later the daemon-socket
 * backend implements the same ops).
 */
#ifndef FP_FS_H
#define FP_FS_H

#include <stdio.h>
#include "request.h"

struct fp_fs;

/* One request in flight, as `fuseproxy status` lists it. */
struct fp_inflight {
	uint64_t unique, nodeid, t_read;
	uint32_t opcode, pid;
	int where;                /* FP_AT_* */
};
#define FP_AT_FS       0      /* being served in-process */
#define FP_AT_BACKEND  1      /* sent to the backend, no reply yet */
#define FP_AT_BLOCKED  2      /* waiting for a lock (SETLKW) */
#define FP_AT_QUEUED   3      /* held while the backend restarts */

/* fp_fs_ops.flags */
#define FP_FS_RAW  1   /* gets INTERRUPT too (forwards it); else the engine
			  handles interrupts itself */

struct fp_fs_ops {
	const char *name;
	unsigned flags;
	/* Called once with the kernel's INIT.  `out` comes prefilled by the
	 * engine: minor = min(kernel, ours), max_readahead = the kernel's,
	 * max_write = FP_MAX_WRITE, max_background, congestion_threshold,
	 * time_gran, flags = flags2 = 0.  Set flags/flags2 to what the
	 * filesystem wants; it may lower minor or max_write and change the
	 * other fields.  The engine then keeps only flags the kernel offered.
	 * Return 0 or -errno. */
	int (*init)(struct fp_fs *fs, const struct fuse_init_in *in,
		    struct fuse_init_out *out);
	/* Serve one validated request; see proxy/request.h for the return. */
	int (*handle)(struct fp_fs *fs, struct fp_req *req);
	/* Optional: requests the filesystem holds beyond the worker that
	 * handed them over (FP_ASYNC).  Fill at most max, return the count. */
	int (*inflight)(struct fp_fs *fs, struct fp_inflight *out, int max);
	/* Optional: extra lines for `fuseproxy status` (state kept, restarts). */
	void (*status)(struct fp_fs *fs, FILE *out);
	/* Optional: `fuseproxy upgrade MNT --backend CMD`.  Returns 0 or -errno,
	 * with what happened in msg. */
	int (*upgrade)(struct fp_fs *fs, const char *cmd, char *msg, size_t n);
	/* Free everything.  Called after all workers have stopped. */
	void (*destroy)(struct fp_fs *fs);
};

struct fp_fs {
	const struct fp_fs_ops *ops;
};

#endif
