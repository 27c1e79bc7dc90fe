/* \summary: built-in passthrough filesystem: serves a host directory. */
#ifndef FP_PASSTHROUGH_H
#define FP_PASSTHROUGH_H

#include "fs.h"

struct pt_options {
	const char *source;       /* directory to serve */
	int writeback;            /* negotiate FUSE_WRITEBACK_CACHE */
	double entry_timeout;     /* seconds; negative = default 1.0; 0 = no caching */
	double attr_timeout;      /* seconds; negative = default 1.0; 0 = no caching
				     (also: no FOPEN_KEEP_CACHE/CACHE_DIR) */
	int max_fds;              /* cap on cached inode (O_PATH) fds; 0 = half of
				     RLIMIT_NOFILE.  Open files, dirs and lock fds
				     come on top. */
	int verbose;
};

/* Returns a filesystem or NULL with *err set to -errno and a message in
 * errbuf (naming the source directory and the cause).  Raises the soft
 * RLIMIT_NOFILE to the hard limit.  Run it as root (or with
 * CAP_DAC_READ_SEARCH) for file handles; otherwise every inode pins an fd. */
struct fp_fs *pt_create(const struct pt_options *opt, int *err, char *errbuf, size_t errlen);

/* Open file descriptors the passthrough holds now (for tests/reporting). */
long pt_open_fds(const struct fp_fs *fs);

#endif
