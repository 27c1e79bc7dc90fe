/* \summary: the interface between the engine and a filesystem that serves
 * requests in-process (the built-in passthrough; later the daemon-socket
 * backend implements the same ops).
 */
#ifndef FP_FS_H
#define FP_FS_H

#include "request.h"

struct fp_fs;

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
	/* Free everything.  Called after all workers have stopped. */
	void (*destroy)(struct fp_fs *fs);
};

struct fp_fs {
	const struct fp_fs_ops *ops;
};

#endif
