/* \summary: passthrough directories: OPENDIR, READDIR, READDIRPLUS,
 * RELEASEDIR, FSYNCDIR.
 *
 * Offsets are the source's own telldir cookies (getdents64 d_off): an entry
 * is sent with the cookie of the position after it, and a READDIR at any
 * cookie we sent resumes there.  Entries read from the source but not sent
 * (reply full) stay buffered for the next call, so nothing is skipped or
 * repeated.
 *
 * READDIRPLUS looks each entry up, which counts one lookup the kernel will
 * FORGET.  So the record's size is checked before the lookup, and "." and
 * ".." go out with nodeid 0: the kernel neither links nor counts them.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pt_i.h"

#define DIRBUF 16384

struct pt_dir {
	pthread_mutex_t lock;      /* the kernel serialises per open dir; cheap */
	uint64_t pos;              /* cookie of the entry at buf[cur] */
	int len, cur;              /* valid bytes in buf, next record */
	char buf[DIRBUF];
};

struct dirent64_rec {              /* what getdents64 writes */
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

void pt_dir_free(struct pt_dir *d)
{
	if (d) {
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
}

int pt_opendir(struct pt_fs *fs, struct fp_req *req)
{
	struct pt_inode *ino;
	struct pt_dir *d;
	char p[PT_PROC_FD_LEN];
	int pfd, fd, err = 0;

	if ((pfd = pt_acquire(fs, req->in->nodeid, &ino)) < 0)
		return pfd;
	/* our own open file (own position), opened as the caller: EACCES as
	 * for a local opendir */
	pt_proc_path(p, pfd);
	fd = pt_openat_retry(fs, AT_FDCWD, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	err = fd < 0 ? -errno : 0;
	pt_inode_put(fs, ino);
	if (err)
		return err;
	d = malloc(sizeof *d);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->pos = 0;
	d->len = d->cur = 0;
	uint64_t fh = pt_file_new(fs, fd, req->in->nodeid, d, &err);
	if (!fh) {
		pt_dir_free(d);
		close(fd);
		return err;
	}
	struct fuse_open_out o;
	memset(&o, 0, sizeof o);
	o.fh = fh;
	/* the kernel's readdir cache, within this open only (no KEEP_CACHE):
	 * changes made through the mount invalidate it, and every opendir
	 * reads the source afresh */
	if (fs->attr_valid_ns)
		o.open_flags = FOPEN_CACHE_DIR;
	memcpy(req->out, &o, sizeof o);
	return sizeof o;
}

static bool is_dot_or_dotdot(const char *n)
{
	return n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0));
}

static int readdir_common(struct pt_fs *fs, struct fp_req *req, bool plus)
{
	PT_ARG(req, struct fuse_read_in, in);
	struct pt_file *f = pt_file_get(fs, in.fh);
	struct pt_inode *dir = NULL;
	uint32_t size = in.size < req->outcap ? in.size : req->outcap, used = 0;
	char *out = req->out;
	int err = 0;

	if (!f || !f->dir)
		return -EBADF;
	struct pt_dir *d = f->dir;
	if (plus)
		dir = pt_inode_get(fs, f->nodeid);

	pthread_mutex_lock(&d->lock);
	if (in.offset != d->pos) {
		if (lseek(f->fd, (off_t)in.offset, SEEK_SET) < 0) {
			err = -errno;
			goto out;
		}
		d->pos = in.offset;
		d->len = d->cur = 0;
	}
	for (;;) {
		if (d->cur >= d->len) {
			long n = syscall(SYS_getdents64, f->fd, d->buf, DIRBUF);
			if (n < 0) {
				if (!used)
					err = -errno;
				break;
			}
			if (n == 0)
				break;
			d->len = (int)n;
			d->cur = 0;
		}
		struct dirent64_rec *de = (struct dirent64_rec *)(d->buf + d->cur);
		size_t namelen = strlen(de->d_name);
		size_t base = plus ? offsetof(struct fuse_direntplus, dirent) : 0;
		size_t rec = FUSE_DIRENT_ALIGN(base + FUSE_NAME_OFFSET + namelen);
		if (used + rec > size)
			break;

		char *r = out + used;
		struct fuse_dirent dh = {
			.ino = de->d_ino,
			.off = (uint64_t)de->d_off,
			.namelen = (uint32_t)namelen,
			.type = de->d_type,
		};
		if (plus) {
			struct fuse_entry_out e;
			if (is_dot_or_dotdot(de->d_name) || !dir ||
			    pt_entry_at(fs, dir, f->fd, de->d_name, -1, &e) < 0) {
				/* nodeid 0: listed, but not linked or counted */
				memset(&e, 0, sizeof e);
				e.attr.ino = de->d_ino;
				e.attr.mode = (uint32_t)de->d_type << 12;
			}
			memcpy(r, &e, sizeof e);
		}
		memcpy(r + base, &dh, FUSE_NAME_OFFSET);
		memcpy(r + base + FUSE_NAME_OFFSET, de->d_name, namelen);
		memset(r + base + FUSE_NAME_OFFSET + namelen, 0,
		       rec - (base + FUSE_NAME_OFFSET + namelen));
		used += (uint32_t)rec;
		d->pos = (uint64_t)de->d_off;
		d->cur += de->d_reclen;
	}
out:
	pthread_mutex_unlock(&d->lock);
	return err ? err : (int)used;
}

int pt_readdir(struct pt_fs *fs, struct fp_req *req) { return readdir_common(fs, req, false); }
int pt_readdirplus(struct pt_fs *fs, struct fp_req *req) { return readdir_common(fs, req, true); }

int pt_releasedir(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_release_in, in);
	struct pt_file *f = pt_file_get(fs, in.fh);

	if (!f || !f->dir)
		return -EBADF;
	pt_file_free(fs, in.fh);
	return 0;
}
