/* \summary: the interface between the engine and a filesystem that serves
 * requests in-process (the built-in passthrough; later the daemon-socket
 * backend implements the same ops).
 */
#ifndef FP_FS_H
#define FP_FS_H

#include "request.h"

struct fp_fs;

struct fp_fs_ops {
	const char *name;
	/* Called once with the kernel's INIT.  Fill *want with the flags
	 * (64-bit: flags | flags2 << 32) the filesystem wants, and *max_write
	 * with the largest WRITE it accepts.  Return 0 or -errno. */
	int (*init)(struct fp_fs *fs, const struct fuse_init_in *in,
		    uint64_t *want, uint32_t *max_write);
	/* Serve one validated request; see proxy/request.h for the return. */
	int (*handle)(struct fp_fs *fs, struct fp_req *req);
	/* Free everything.  Called after all workers have stopped. */
	void (*destroy)(struct fp_fs *fs);
};

struct fp_fs {
	const struct fp_fs_ops *ops;
};

#endif
