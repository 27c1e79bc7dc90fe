/* \summary: recorded reply vs the target's reply (see compare.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compare.h"
#include "format.h"
#include "opcodes.h"

#define ULL(x) ((unsigned long long)(x))

bool rp_errors_match(const struct rp_opts *o, int rec_err, int got_err)
{
	if (rec_err == got_err)
		return true;
	for (int i = 0; i < o->ntol; i++) {
		const struct rp_tolerance *t = &o->tol[i];
		if ((t->rec < 0 || t->rec == -rec_err) && (t->got < 0 || t->got == -got_err))
			return true;
	}
	return false;
}

static const char *err_text(int err, char *buf, size_t n)
{
	if (!err)
		return "success";
	snprintf(buf, n, "%s", fuse_errno_name(-err));
	return buf;
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "unknown type";
}

static bool u64_field(struct sbuf *d, const char *prefix, const char *name, uint64_t a, uint64_t b)
{
	if (a == b)
		return true;
	sb_printf(d, "%s%s: recorded %llu, replayed %llu\n", prefix, name, ULL(a), ULL(b));
	return false;
}

static bool s64_field(struct sbuf *d, const char *prefix, const char *name, int64_t a, int64_t b)
{
	if (a == b)
		return true;
	sb_printf(d, "%s%s: recorded %lld, replayed %lld\n", prefix, name, (long long)a,
		  (long long)b);
	return false;
}

static bool time_field(struct sbuf *d, const char *prefix, const char *name, uint64_t s1,
		       uint32_t ns1, uint64_t s2, uint32_t ns2)
{
	if (s1 == s2 && ns1 == ns2)
		return true;
	sb_printf(d, "%s%s: recorded %llu.%09u, replayed %llu.%09u\n", prefix, name, ULL(s1),
		  ns1, ULL(s2), ns2);
	return false;
}

bool rp_compare_attr(const struct rp_opts *o, const struct fuse_attr *a,
		     const struct fuse_attr *b, const char *prefix, struct sbuf *d)
{
	bool ok = true, strict = rp_strict_attrs(o);

	if ((a->mode & S_IFMT) != (b->mode & S_IFMT)) {
		sb_printf(d, "%stype: recorded %s, replayed %s\n", prefix, type_name(a->mode),
			  type_name(b->mode));
		ok = false;
	}
	if ((a->mode & 07777) != (b->mode & 07777)) {
		sb_printf(d, "%smode: recorded %04o, replayed %04o\n", prefix, a->mode & 07777,
			  b->mode & 07777);
		ok = false;
	}
	/* a directory's size is the filesystem's own accounting (ext4 never
	 * shrinks one, tmpfs counts entries): not meaningful across targets */
	if (strict || !S_ISDIR(a->mode) || !S_ISDIR(b->mode))
		ok &= u64_field(d, prefix, "size", a->size, b->size);
	ok &= u64_field(d, prefix, "nlink", a->nlink, b->nlink);
	ok &= u64_field(d, prefix, "uid", a->uid, b->uid);
	ok &= u64_field(d, prefix, "gid", a->gid, b->gid);
	if (a->rdev != b->rdev) {
		sb_printf(d, "%srdev: recorded %#x, replayed %#x\n", prefix, a->rdev, b->rdev);
		ok = false;
	}
	if (!strict)
		return ok;
	ok &= u64_field(d, prefix, "ino", a->ino, b->ino);
	ok &= u64_field(d, prefix, "blocks", a->blocks, b->blocks);
	ok &= u64_field(d, prefix, "blksize", a->blksize, b->blksize);
	ok &= time_field(d, prefix, "atime", a->atime, a->atimensec, b->atime, b->atimensec);
	ok &= time_field(d, prefix, "mtime", a->mtime, a->mtimensec, b->mtime, b->mtimensec);
	ok &= time_field(d, prefix, "ctime", a->ctime, a->ctimensec, b->ctime, b->ctimensec);
	ok &= u64_field(d, prefix, "attr flags", a->flags, b->flags);
	return ok;
}

bool rp_compare_entry(const struct rp_opts *o, const struct fuse_entry_out *a,
		      const struct fuse_entry_out *b, const char *prefix, struct sbuf *d)
{
	bool ok = true;

	/* nodeid 0 is a negative entry: "no such name, cache that" */
	if (!a->nodeid != !b->nodeid) {
		sb_printf(d, "%sentry: recorded %s, replayed %s\n", prefix,
			  a->nodeid ? "a node" : "negative (nodeid 0)",
			  b->nodeid ? "a node" : "negative (nodeid 0)");
		return false;
	}
	if (!a->nodeid)
		return true;
	if (rp_strict_attrs(o)) {
		ok &= time_field(d, prefix, "entry_valid", a->entry_valid, a->entry_valid_nsec,
				 b->entry_valid, b->entry_valid_nsec);
		ok &= time_field(d, prefix, "attr_valid", a->attr_valid, a->attr_valid_nsec,
				 b->attr_valid, b->attr_valid_nsec);
	}
	ok &= rp_compare_attr(o, &a->attr, &b->attr, prefix, d);
	return ok;
}

/* Copy a fixed payload into a zeroed struct (the trace may have cut it). */
#define TAKE(dst, p, n) do {                                          \
		memset(&(dst), 0, sizeof(dst));                       \
		memcpy(&(dst), (p), (n) < sizeof(dst) ? (n) : sizeof(dst)); \
	} while (0)

static bool cmp_statx(const struct rp_opts *o, const struct fuse_statx *a,
		      const struct fuse_statx *b, struct sbuf *d)
{
	bool ok = true, strict = rp_strict_attrs(o);
	uint32_t both = a->mask & b->mask;

	if (both & STATX_TYPE && (a->mode & S_IFMT) != (b->mode & S_IFMT)) {
		sb_printf(d, "type: recorded %s, replayed %s\n", type_name(a->mode),
			  type_name(b->mode));
		ok = false;
	}
	if (both & STATX_MODE && (a->mode & 07777) != (b->mode & 07777)) {
		sb_printf(d, "mode: recorded %04o, replayed %04o\n", a->mode & 07777,
			  b->mode & 07777);
		ok = false;
	}
	if (both & STATX_SIZE && (strict || !S_ISDIR(a->mode)))
		ok &= u64_field(d, "", "size", a->size, b->size);
	if (both & STATX_NLINK)
		ok &= u64_field(d, "", "nlink", a->nlink, b->nlink);
	if (both & STATX_UID)
		ok &= u64_field(d, "", "uid", a->uid, b->uid);
	if (both & STATX_GID)
		ok &= u64_field(d, "", "gid", a->gid, b->gid);
	ok &= u64_field(d, "", "rdev_major", a->rdev_major, b->rdev_major);
	ok &= u64_field(d, "", "rdev_minor", a->rdev_minor, b->rdev_minor);
	if (!strict)
		return ok;
	ok &= u64_field(d, "", "mask", a->mask, b->mask);
	ok &= u64_field(d, "", "ino", a->ino, b->ino);
	ok &= u64_field(d, "", "blocks", a->blocks, b->blocks);
	ok &= u64_field(d, "", "blksize", a->blksize, b->blksize);
	ok &= u64_field(d, "", "attributes", a->attributes, b->attributes);
	ok &= time_field(d, "", "atime", (uint64_t)a->atime.tv_sec, a->atime.tv_nsec,
			 (uint64_t)b->atime.tv_sec, b->atime.tv_nsec);
	ok &= time_field(d, "", "mtime", (uint64_t)a->mtime.tv_sec, a->mtime.tv_nsec,
			 (uint64_t)b->mtime.tv_sec, b->mtime.tv_nsec);
	ok &= time_field(d, "", "ctime", (uint64_t)a->ctime.tv_sec, a->ctime.tv_nsec,
			 (uint64_t)b->ctime.tv_sec, b->ctime.tv_nsec);
	ok &= time_field(d, "", "btime", (uint64_t)a->btime.tv_sec, a->btime.tv_nsec,
			 (uint64_t)b->btime.tv_sec, b->btime.tv_nsec);
	return ok;
}

/* Bytes: the kept prefix of the recording against the same bytes of the
 * reply, and the full lengths. */
static bool cmp_bytes(const char *what, const uint8_t *a, uint32_t akept, uint32_t alen,
		      const uint8_t *b, uint32_t blen, struct sbuf *d)
{
	uint32_t n = akept < blen ? akept : blen;
	bool ok = true;

	if (alen != blen) {
		sb_printf(d, "%s: recorded %u bytes, replayed %u bytes\n", what, alen, blen);
		ok = false;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (a[i] != b[i]) {
			sb_printf(d, "%s: first difference at byte %u: recorded 0x%02x, "
				  "replayed 0x%02x\n", what, i, a[i], b[i]);
			return false;
		}
	}
	return ok;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Split a NUL-separated name list into a sorted array (caller frees). */
static const char **split_names(const char *p, uint32_t len, size_t *n)
{
	size_t cnt = 0, k = 0;
	const char **v;

	for (uint32_t i = 0; i < len; i++)
		if (!p[i])
			cnt++;
	v = calloc(cnt + 1, sizeof *v);
	if (!v)
		return NULL;
	for (uint32_t i = 0; i < len && k < cnt;) {
		v[k++] = p + i;
		i += (uint32_t)strnlen(p + i, len - i) + 1;
	}
	qsort(v, k, sizeof *v, cmp_str);
	*n = k;
	return v;
}

static bool cmp_xattr_list(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
			   struct sbuf *d)
{
	size_t na = 0, nb = 0, i = 0, j = 0;
	const char **va = split_names((const char *)a, alen, &na);
	const char **vb = split_names((const char *)b, blen, &nb);
	bool ok = true;

	if (!va || !vb) {
		free(va);
		free(vb);
		return cmp_bytes("names", a, alen, alen, b, blen, d);
	}
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(va[i], vb[j]);
		if (c == 0) {
			i++;
			j++;
			continue;
		}
		ok = false;
		if (c < 0)
			sb_printf(d, "xattr \"%s\": listed in the recording only\n", va[i++]);
		else
			sb_printf(d, "xattr \"%s\": listed by the target only\n", vb[j++]);
	}
	free(va);
	free(vb);
	return ok;
}

static bool cmp_fixed(const struct rp_cmp *c, const uint8_t *rp, uint32_t rl,
		      const uint8_t *gp, uint32_t gl, struct sbuf *d)
{
	const struct rp_opts *o = c->o;
	bool strict = o->compare == RP_CMP_STRICT, ok = true;

	switch (c->opcode) {
	case FUSE_LOOKUP:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_LINK: {
		struct fuse_entry_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		return rp_compare_entry(o, &a, &b, "", d);
	}
	case FUSE_CREATE:
	case FUSE_TMPFILE: {
		struct { struct fuse_entry_out e; struct fuse_open_out op; } a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		ok = rp_compare_entry(o, &a.e, &b.e, "", d);
		if (strict)
			ok &= u64_field(d, "", "open_flags", a.op.open_flags, b.op.open_flags);
		return ok;
	}
	case FUSE_GETATTR:
	case FUSE_SETATTR: {
		struct fuse_attr_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		if (rp_strict_attrs(o))
			ok &= time_field(d, "", "attr_valid", a.attr_valid, a.attr_valid_nsec,
					 b.attr_valid, b.attr_valid_nsec);
		return rp_compare_attr(o, &a.attr, &b.attr, "", d) && ok;
	}
	case FUSE_STATX: {
		struct fuse_statx_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		return cmp_statx(o, &a.stat, &b.stat, d);
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		/* the fh is an id; open_flags are cache hints unless strict */
		return !strict || u64_field(d, "", "open_flags", a.open_flags, b.open_flags);
	}
	case FUSE_WRITE:
	case FUSE_COPY_FILE_RANGE: {
		struct fuse_write_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		return u64_field(d, "", "size", a.size, b.size);
	}
	case FUSE_COPY_FILE_RANGE_64: {
		struct fuse_copy_file_range_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		return u64_field(d, "", "bytes_copied", a.bytes_copied, b.bytes_copied);
	}
	case FUSE_STATFS: {
		struct fuse_statfs_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		ok &= u64_field(d, "", "bsize", a.st.bsize, b.st.bsize);
		ok &= u64_field(d, "", "frsize", a.st.frsize, b.st.frsize);
		ok &= u64_field(d, "", "namelen", a.st.namelen, b.st.namelen);
		if (strict) {	/* the rest changes with every write */
			ok &= u64_field(d, "", "blocks", a.st.blocks, b.st.blocks);
			ok &= u64_field(d, "", "bfree", a.st.bfree, b.st.bfree);
			ok &= u64_field(d, "", "bavail", a.st.bavail, b.st.bavail);
			ok &= u64_field(d, "", "files", a.st.files, b.st.files);
			ok &= u64_field(d, "", "ffree", a.st.ffree, b.st.ffree);
		}
		return ok;
	}
	case FUSE_GETLK: {
		struct fuse_lk_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		ok &= u64_field(d, "", "lock type", a.lk.type, b.lk.type);
		ok &= u64_field(d, "", "lock start", a.lk.start, b.lk.start);
		ok &= u64_field(d, "", "lock end", a.lk.end, b.lk.end);
		ok &= u64_field(d, "", "lock pid", a.lk.pid, b.lk.pid);
		return ok;
	}
	case FUSE_BMAP: {
		struct fuse_bmap_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		return u64_field(d, "", "block", a.block, b.block);
	}
	case FUSE_LSEEK: {
		struct fuse_lseek_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		return u64_field(d, "", "offset", a.offset, b.offset);
	}
	case FUSE_POLL: {
		struct fuse_poll_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		return u64_field(d, "", "revents", a.revents, b.revents);
	}
	}
	if (!strict)
		return true;
	return cmp_bytes("reply", rp, rl, rl, gp, gl, d);
}

bool rp_compare_reply(const struct rp_cmp *c, struct sbuf *d)
{
	const struct rp_opts *o = c->o;
	const struct fuse_op *op = fuse_op_get(c->opcode);
	const struct fuse_out_header *rh = c->rec, *gh = c->got;
	int rerr = rh->error, gerr = gh->error;
	const uint8_t *rp = (const uint8_t *)c->rec + sizeof *rh;
	const uint8_t *gp = (const uint8_t *)c->got + sizeof *gh;
	uint32_t rl = c->rec_caplen - (uint32_t)sizeof *rh;     /* kept */
	uint32_t rwl = c->rec_len - (uint32_t)sizeof *rh;       /* on the wire */
	uint32_t gl = c->got_len - (uint32_t)sizeof *gh;
	char b1[32], b2[32];

	if (o->compare == RP_CMP_NONE || !op)
		return true;
	/* a negative entry says what ENOENT says, with a cache timeout */
	if (c->opcode == FUSE_LOOKUP && o->compare == RP_CMP_SEMANTIC) {
		uint64_t id;
		if (!rerr && rl >= sizeof id && (memcpy(&id, rp, sizeof id), !id))
			rerr = -ENOENT;
		if (!gerr && gl >= sizeof id && (memcpy(&id, gp, sizeof id), !id))
			gerr = -ENOENT;
		if (rerr == -ENOENT && gerr == -ENOENT)
			return true;
	}
	/* an interrupted request may legitimately finish either way */
	if ((c->rec_flags & FP_TRACE_F_INTERRUPTED) && (rerr == -EINTR || gerr == -EINTR))
		return true;
	if (!rp_errors_match(o, rerr, gerr)) {
		sb_printf(d, "error: recorded %s, replayed %s\n", err_text(rerr, b1, sizeof b1),
			  err_text(gerr, b2, sizeof b2));
		return false;
	}
	if (rerr || gerr)
		return true;	/* the same error, or a tolerated pair */

	switch (op->reply) {
	case FUSE_R_NONE:
	case FUSE_R_INTERRUPT:
	case FUSE_R_EMPTY:
		if (rwl != gl) {
			sb_printf(d, "length: recorded %u bytes, replayed %u bytes\n", rwl, gl);
			return false;
		}
		return true;
	case FUSE_R_FIXED:
		if (rwl != gl) {
			sb_printf(d, "length: recorded %u bytes, replayed %u bytes\n", rwl, gl);
			return false;
		}
		return cmp_fixed(c, rp, rl, gp, gl, d);
	case FUSE_R_DATA:
		return cmp_bytes("data", rp, rl, rwl, gp, gl, d);
	case FUSE_R_LINK:
		return cmp_bytes("target", rp, rl, rwl, gp, gl, d);
	case FUSE_R_XATTR: {
		struct fuse_getxattr_in gi;
		TAKE(gi, c->req->fixed, c->req->fixed_len);
		if (!gi.size) {
			struct fuse_getxattr_out a, b;
			TAKE(a, rp, rl);
			TAKE(b, gp, gl);
			return u64_field(d, "", "size", a.size, b.size);
		}
		if (c->opcode == FUSE_LISTXATTR && o->compare == RP_CMP_SEMANTIC && rl == rwl)
			return cmp_xattr_list(rp, rl, gp, gl, d);
		return cmp_bytes("value", rp, rl, rwl, gp, gl, d);
	}
	case FUSE_R_IOCTL: {
		struct fuse_ioctl_out a, b;
		TAKE(a, rp, rl);
		TAKE(b, gp, gl);
		if (!s64_field(d, "", "result", a.result, b.result))
			return false;
		return cmp_bytes("ioctl reply", rp, rl, rwl, gp, gl, d);
	}
	case FUSE_R_DIRENT:
	case FUSE_R_DIRENTPLUS:
		return true;	/* whole listings: dirstream.c */
	}
	return o->compare != RP_CMP_STRICT || cmp_bytes("reply", rp, rl, rwl, gp, gl, d);
}
