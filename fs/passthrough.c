/* \summary: the built-in passthrough filesystem: setup, INIT, and the opcode
 * table that dispatches validated requests to fs/pt_*.c.
 *
 * Each opcode's row names its handler and the credentials it runs with
 * (pt_cred.c): name and permission-checked operations run as the caller,
 * operations on an already-open fh need no switch at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pt_i.h"

#define PT_MAX_WRITE (1u << 20)

struct pt_op {
	pt_handler *fn;
	uint8_t cred;              /* enum pt_cred_kind */
};

static const struct pt_op pt_ops[] = {
	[FUSE_LOOKUP]          = { pt_lookup,          PT_CRED_FULL },
	[FUSE_FORGET]          = { pt_forget,          PT_CRED_NONE },
	[FUSE_GETATTR]         = { pt_getattr,         PT_CRED_NONE },
	[FUSE_SETATTR]         = { pt_setattr,         PT_CRED_FULL },
	[FUSE_READLINK]        = { pt_readlink,        PT_CRED_NONE },
	[FUSE_SYMLINK]         = { pt_symlink,         PT_CRED_FULL },
	[FUSE_MKNOD]           = { pt_mknod,           PT_CRED_FULL },
	[FUSE_MKDIR]           = { pt_mkdir,           PT_CRED_FULL },
	[FUSE_UNLINK]          = { pt_unlink,          PT_CRED_FULL },
	[FUSE_RMDIR]           = { pt_rmdir,           PT_CRED_FULL },
	[FUSE_RENAME]          = { pt_rename,          PT_CRED_FULL },
	[FUSE_LINK]            = { pt_link,            PT_CRED_FULL },
	[FUSE_OPEN]            = { pt_open,            PT_CRED_FULL },
	[FUSE_READ]            = { pt_read,            PT_CRED_NONE },
	[FUSE_WRITE]           = { pt_write,           PT_CRED_NONE }, /* own choice */
	[FUSE_STATFS]          = { pt_statfs,          PT_CRED_NONE },
	[FUSE_RELEASE]         = { pt_release,         PT_CRED_NONE },
	[FUSE_FSYNC]           = { pt_fsync,           PT_CRED_NONE },
	[FUSE_SETXATTR]        = { pt_setxattr,        PT_CRED_FULL },
	[FUSE_GETXATTR]        = { pt_getxattr,        PT_CRED_FULL },
	[FUSE_LISTXATTR]       = { pt_listxattr,       PT_CRED_FULL },
	[FUSE_REMOVEXATTR]     = { pt_removexattr,     PT_CRED_FULL },
	[FUSE_FLUSH]           = { pt_flush,           PT_CRED_NONE },
	[FUSE_OPENDIR]         = { pt_opendir,         PT_CRED_FULL },
	[FUSE_READDIR]         = { pt_readdir,         PT_CRED_NONE },
	[FUSE_RELEASEDIR]      = { pt_releasedir,      PT_CRED_NONE },
	[FUSE_FSYNCDIR]        = { pt_fsync,           PT_CRED_NONE }, /* a dir fh is an fd too */
	[FUSE_GETLK]           = { pt_getlk,           PT_CRED_ROOT },
	[FUSE_SETLK]           = { pt_setlk,           PT_CRED_ROOT },
	[FUSE_SETLKW]          = { pt_setlkw,          PT_CRED_ROOT },
	[FUSE_ACCESS]          = { pt_access,          PT_CRED_FULL },
	[FUSE_CREATE]          = { pt_create_op,       PT_CRED_FULL },
	[FUSE_IOCTL]           = { pt_ioctl,           PT_CRED_FULL },
	[FUSE_POLL]            = { pt_poll,            PT_CRED_NONE },
	[FUSE_BATCH_FORGET]    = { pt_batch_forget,    PT_CRED_NONE },
	[FUSE_FALLOCATE]       = { pt_fallocate,       PT_CRED_FSID },
	[FUSE_READDIRPLUS]     = { pt_readdirplus,     PT_CRED_FULL },
	[FUSE_RENAME2]         = { pt_rename2,         PT_CRED_FULL },
	[FUSE_LSEEK]           = { pt_lseek,           PT_CRED_NONE },
	[FUSE_COPY_FILE_RANGE] = { pt_copy_file_range, PT_CRED_FSID },
	[FUSE_SYNCFS]          = { pt_syncfs,          PT_CRED_NONE },
	[FUSE_TMPFILE]         = { pt_tmpfile,         PT_CRED_FULL },
	[FUSE_STATX]           = { pt_statx,           PT_CRED_NONE },
	[FUSE_COPY_FILE_RANGE_64] = { pt_copy_file_range_64, PT_CRED_FSID },
};

static int pt_destroy_req(struct pt_fs *fs, struct fp_req *req)
{
	(void)fs;
	(void)req;
	return 0;        /* state goes in ops->destroy, after the workers stop */
}

static int pt_handle(struct fp_fs *f, struct fp_req *req)
{
	struct pt_fs *fs = pt_of(f);
	uint32_t op = req->in->opcode;
	int err;

	if (op == FUSE_DESTROY)
		return pt_destroy_req(fs, req);
	/* BMAP (block devices only), INTERRUPT (the engine's), the virtiofs
	 * DAX mappings and anything newer: ENOSYS */
	if (op >= sizeof pt_ops / sizeof pt_ops[0] || !pt_ops[op].fn)
		return -ENOSYS;
	if ((err = pt_cred_apply(req, (enum pt_cred_kind)pt_ops[op].cred)))
		return err;
	return pt_ops[op].fn(fs, req);
}

static int pt_init(struct fp_fs *f, const struct fuse_init_in *in,
		   struct fuse_init_out *out)
{
	struct pt_fs *fs = pt_of(f);
	uint64_t offered = in->flags;
	uint64_t w;

	if (in->flags & FUSE_INIT_EXT)
		offered |= (uint64_t)in->flags2 << 32;
	w = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS | FUSE_ATOMIC_O_TRUNC |
	    FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_AUTO_INVAL_DATA |
	    FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO |
	    FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV_V2 | FUSE_MAX_PAGES |
	    FUSE_SETXATTR_EXT | FUSE_INIT_EXT | FUSE_CREATE_SUPP_GROUP;
	if (fs->opt.writeback)
		w |= FUSE_WRITEBACK_CACHE;
	fs->writeback = (w & offered & FUSE_WRITEBACK_CACHE) != 0;
	out->flags = (uint32_t)w;
	out->flags2 = (uint32_t)(w >> 32);
	if (fs->max_write < out->max_write)
		out->max_write = fs->max_write;
	if (fs->opt.verbose)
		fprintf(stderr, "fuseproxy: passthrough %s: want 0x%llx of 0x%llx%s\n",
			fs->source, (unsigned long long)w, (unsigned long long)offered,
			fs->writeback ? ", writeback cache" : "");
	return 0;
}

static void pt_destroy(struct fp_fs *f)
{
	struct pt_fs *fs = pt_of(f);

	if (!fs)
		return;
	pt_locks_fini(fs);
	pt_files_fini(fs);
	if (atomic_load(&fs->inodes.hiwater) <= FUSE_ROOT_ID && fs->root_fd >= 0)
		close(fs->root_fd);    /* setup failed before the root inode took it */
	pt_inode_table_fini(fs);   /* closes root_fd with the root inode */
	free(fs->source);
	free(fs);
}

static const struct fp_fs_ops pt_fs_ops = {
	.name = "passthrough",
	.init = pt_init,
	.handle = pt_handle,
	.destroy = pt_destroy,
};

static uint64_t secs_to_ns(double s)
{
	if (s < 0)
		s = 1.0;              /* unset: the documented default */
	if (s > 1e9)
		s = 1e9;
	return (uint64_t)(s * 1e9);
}

struct fp_fs *pt_create(const struct pt_options *opt, int *err, char *errbuf, size_t errlen)
{
	struct pt_fs *fs;
	struct rlimit rl;
	int e;

	if (!opt || !opt->source) {
		*err = -EINVAL;
		snprintf(errbuf, errlen, "passthrough: no source directory");
		return NULL;
	}
	fs = calloc(1, sizeof *fs);
	if (!fs) {
		*err = -ENOMEM;
		snprintf(errbuf, errlen, "passthrough: out of memory");
		return NULL;
	}
	fs->base.ops = &pt_fs_ops;
	fs->opt = *opt;
	fs->source = strdup(opt->source);
	fs->opt.source = fs->source;
	fs->max_write = PT_MAX_WRITE;
	fs->entry_valid_ns = secs_to_ns(opt->entry_timeout);
	fs->attr_valid_ns = secs_to_ns(opt->attr_timeout);
	fs->root_fd = -1;

	/* open files count against RLIMIT_NOFILE: use all we may */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* O_RDONLY, not O_PATH: it is also open_by_handle_at's mount_fd */
	fs->root_fd = open(opt->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->root_fd < 0) {
		e = -errno;
		snprintf(errbuf, errlen, "passthrough: %s: %s", opt->source, strerror(-e));
		goto fail;
	}
	if ((e = pt_inode_table_init(fs)) || (e = pt_files_init(fs)) || (e = pt_locks_init(fs))) {
		snprintf(errbuf, errlen, "passthrough: %s: setting up: %s", opt->source,
			 strerror(-e));
		goto fail;
	}
	if (opt->verbose)
		fprintf(stderr, "fuseproxy: passthrough %s: fd cache %u, file handles %s\n",
			fs->source, fs->cache.cap, fs->handles_ok ? "yes" : "no (fds pinned)");
	*err = 0;
	return &fs->base;

fail:
	*err = e;
	if (fs->inodes.esize) {
		pt_destroy(&fs->base);
	} else {
		if (fs->root_fd >= 0)
			close(fs->root_fd);
		free(fs->source);
		free(fs);
	}
	return NULL;
}

long pt_open_fds(const struct fp_fs *f)
{
	const struct pt_fs *fs = (const struct pt_fs *)f;
	return atomic_load(&fs->nfds);
}
