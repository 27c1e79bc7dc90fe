/* \summary: built-in passthrough filesystem: serves a host directory. */
#ifndef FP_PASSTHROUGH_H
#define FP_PASSTHROUGH_H

#include "fs.h"

struct pt_options {
	const char *source;       /* directory to serve */
	int writeback;            /* negotiate FUSE_WRITEBACK_CACHE */
	double entry_timeout;     /* seconds; default 1.0 */
	double attr_timeout;      /* seconds; default 1.0 */
	int max_fds;              /* fd-cache cap; 0 = derive from RLIMIT_NOFILE */
	int verbose;
};

/* Returns a filesystem or NULL with *err set to -errno and a message in
 * errbuf (naming the source directory and the cause). */
struct fp_fs *pt_create(const struct pt_options *opt, int *err, char *errbuf, size_t errlen);

/* Open file descriptors the passthrough holds now (for tests/reporting). */
long pt_open_fds(const struct fp_fs *fs);

#endif
