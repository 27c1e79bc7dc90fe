/* Description: the built-in passthrough filesystem (fs/), driven without a
 * mount: each test builds FUSE requests as bytes (fuse_in_header + args),
 * validates them with fuse_validate_request(), serves them with
 * ops->handle() and checks the reply (validated with fuse_validate_reply())
 * against what the source directory shows.
 *
 * Covers lookup/forget accounting, create/write/read, readdir cookies,
 * readdirplus lookup counts, rename flags, xattrs, POSIX and flock locks,
 * SEEK_DATA/SEEK_HOLE, setattr, links/tmpfile/copy_file_range, caller
 * credentials (as root), the reply area aliasing the request, and 30k inodes
 * served through a 64-fd cache.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "fuse_kernel.h"
#include "passthrough.h"
#include "pt_i.h"          /* white-box: nlookup accounting */
#include "validate.h"

#define MSGCAP  (1u << 21)
#define OUTCAP  ((1u << 20) + 4096)

struct env {
	char dir[256];
	struct fp_fs *fs;
	struct fuse_wire_params wp;
	uint64_t unique;
	uint8_t *msg;
	uint8_t *outbuf;          /* fuse_out_header + payload */
	uint8_t *out;             /* payload */
	uint32_t uid, gid, pid;
	const void *ext;          /* extension block for the next request */
	uint32_t extlen;
	bool alias;               /* reply area = the request's own bytes */
};

/* ---- harness ------------------------------------------------------------- */

static void rm_rf(const char *path)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", path);
}

static void src_path(struct env *e, char *buf, const char *rel)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", e->dir, rel) >= PATH_MAX)
		fail_msg("path too long");
}

static void src_write(struct env *e, const char *rel, const char *content)
{
	char p[PATH_MAX];
	src_path(e, p, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static struct env *env_new_opts(int max_fds, int writeback)
{
	struct env *e = calloc(1, sizeof *e);
	char err[256];
	int rc;

	assert_non_null(e);
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(e->dir, sizeof e->dir, "%s/pt-unit-XXXXXX", tmp);
	assert_non_null(mkdtemp(e->dir));
	chmod(e->dir, 0755);

	struct pt_options o = {
		.source = e->dir, .entry_timeout = 1.0, .attr_timeout = 1.0,
		.max_fds = max_fds, .writeback = writeback,
	};
	e->fs = pt_create(&o, &rc, err, sizeof err);
	if (!e->fs)
		fail_msg("pt_create: %s", err);
	assert_int_equal(rc, 0);

	/* INIT as this kernel offers it */
	struct fuse_init_in in = {
		.major = 7, .minor = 45, .max_readahead = 131072,
		.flags = 0x73fffffb, .flags2 = 0x5fd,
	};
	uint64_t want, offered = in.flags | (uint64_t)in.flags2 << 32;
	struct fuse_init_out out = { .major = 7, .minor = 45, .max_write = 1u << 20 };
	assert_int_equal(e->fs->ops->init(e->fs, &in, &out), 0);
	want = out.flags | (uint64_t)out.flags2 << 32;
	uint32_t max_write = out.max_write;
	assert_true(want & FUSE_HANDLE_KILLPRIV_V2);
	assert_true(want & FUSE_DO_READDIRPLUS);
	assert_int_equal(!!(want & FUSE_WRITEBACK_CACHE), !!writeback);
	assert_true(max_write >= 4096);
	e->wp.minor = 45;
	e->wp.flags = want & offered;

	e->msg = malloc(MSGCAP);
	e->outbuf = malloc(sizeof(struct fuse_out_header) + OUTCAP);
	assert_non_null(e->msg);
	assert_non_null(e->outbuf);
	e->out = e->outbuf + sizeof(struct fuse_out_header);
	return e;
}

static struct env *env_new(int max_fds)
{
	return env_new_opts(max_fds, 0);
}

static void env_free(struct env *e)
{
	e->fs->ops->destroy(e->fs);
	rm_rf(e->dir);
	free(e->msg);
	free(e->outbuf);
	free(e);
}

/* One request: returns the handler's result (payload length, -errno or
 * FP_NOREPLY); the payload is at e->out. */
static int call(struct env *e, uint32_t op, uint64_t nodeid, const void *fixed, size_t flen,
		const char *n1, const char *n2, const void *data, size_t dlen)
{
	struct fuse_in_header h = {
		.opcode = op, .unique = (e->unique += 2), .nodeid = nodeid,
		.uid = e->uid, .gid = e->gid, .pid = e->pid,
		.total_extlen = (uint16_t)(e->extlen / 8),
	};
	size_t len = sizeof h;
	uint8_t *m = e->msg;

#define PUT(p, n) do { memcpy(m + len, (p), (n)); len += (n); } while (0)
	len = sizeof h;
	if (flen)
		PUT(fixed, flen);
	if (n1)
		PUT(n1, strlen(n1) + 1);
	if (n2)
		PUT(n2, strlen(n2) + 1);
	if (dlen)
		PUT(data, dlen);
	if (e->extlen)
		PUT(e->ext, e->extlen);
#undef PUT
	h.len = (uint32_t)len;
	memcpy(m, &h, sizeof h);

	struct fp_req req;
	char err[256];
	memset(&req, 0, sizeof req);
	req.in = (const struct fuse_in_header *)m;
	if (fuse_validate_request(m, len, &e->wp, &req.v, err, sizeof err))
		fail_msg("request rejected: %s", err);
	req.minor = e->wp.minor;
	if (e->alias) {
		/* FUSE-over-io_uring style: the reply overwrites the arguments */
		req.out = m + sizeof h;
		req.outcap = MSGCAP - sizeof h;
	} else {
		req.out = e->out;
		req.outcap = OUTCAP;
	}
	int ret = e->fs->ops->handle(e->fs, &req);
	if (ret == FP_NOREPLY)
		return ret;
	assert_true(ret < 0 || (uint32_t)ret <= req.outcap);
	if (e->alias && ret > 0)
		memmove(e->out, req.out, (size_t)ret);

	/* the reply must be one the kernel accepts */
	struct fuse_out_header oh = {
		.len = (uint32_t)(sizeof oh + (ret > 0 ? ret : 0)),
		.error = ret < 0 ? ret : 0, .unique = h.unique,
	};
	memcpy(e->outbuf, &oh, sizeof oh);
	if (!e->alias && fuse_validate_reply(op, &req.v, e->outbuf, oh.len, &e->wp, err, sizeof err))
		fail_msg("reply to opcode %u invalid: %s", op, err);
	return ret;
}

static int lookup(struct env *e, uint64_t parent, const char *name, struct fuse_entry_out *eo)
{
	int r = call(e, FUSE_LOOKUP, parent, NULL, 0, name, NULL, NULL, 0);
	if (r >= 0) {
		assert_int_equal(r, sizeof *eo);
		memcpy(eo, e->out, sizeof *eo);
	}
	return r < 0 ? r : 0;
}

static uint64_t lookup_ok(struct env *e, uint64_t parent, const char *name)
{
	struct fuse_entry_out eo;
	int r = lookup(e, parent, name, &eo);
	if (r)
		fail_msg("lookup %s: %s", name, strerror(-r));
	assert_true(eo.nodeid > FUSE_ROOT_ID);
	return eo.nodeid;
}

static void forget(struct env *e, uint64_t nodeid, uint64_t n)
{
	struct fuse_forget_in f = { .nlookup = n };
	assert_int_equal(call(e, FUSE_FORGET, nodeid, &f, sizeof f, NULL, NULL, NULL, 0),
			 FP_NOREPLY);
}

static bool node_live(struct env *e, uint64_t nodeid)
{
	return pt_inode_get((struct pt_fs *)e->fs, nodeid) != NULL;
}

static int create(struct env *e, uint64_t parent, const char *name, uint32_t flags,
		  uint32_t mode, struct fuse_entry_out *eo, uint64_t *fh)
{
	struct fuse_create_in c = { .flags = flags, .mode = S_IFREG | mode, .umask = 022 };
	int r = call(e, FUSE_CREATE, parent, &c, sizeof c, name, NULL, NULL, 0);
	if (r < 0)
		return r;
	assert_int_equal(r, sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out));
	struct fuse_open_out oo;
	memcpy(eo, e->out, sizeof *eo);
	memcpy(&oo, e->out + sizeof *eo, sizeof oo);
	*fh = oo.fh;
	return 0;
}

static uint64_t open_ok(struct env *e, uint64_t nodeid, uint32_t flags, uint32_t *oflags)
{
	struct fuse_open_in o = { .flags = flags };
	int r = call(e, FUSE_OPEN, nodeid, &o, sizeof o, NULL, NULL, NULL, 0);
	if (r < 0)
		fail_msg("open: %s", strerror(-r));
	struct fuse_open_out oo;
	memcpy(&oo, e->out, sizeof oo);
	if (oflags)
		*oflags = oo.open_flags;
	return oo.fh;
}

static void release(struct env *e, uint64_t nodeid, uint64_t fh)
{
	struct fuse_release_in r = { .fh = fh };
	assert_int_equal(call(e, FUSE_RELEASE, nodeid, &r, sizeof r, NULL, NULL, NULL, 0), 0);
}

static int pwrite_(struct env *e, uint64_t nodeid, uint64_t fh, uint64_t off,
		   const void *buf, uint32_t len, uint32_t wflags)
{
	struct fuse_write_in w = { .fh = fh, .offset = off, .size = len, .write_flags = wflags };
	int r = call(e, FUSE_WRITE, nodeid, &w, sizeof w, NULL, NULL, buf, len);
	if (r < 0)
		return r;
	struct fuse_write_out wo;
	memcpy(&wo, e->out, sizeof wo);
	return (int)wo.size;
}

static int pread_(struct env *e, uint64_t nodeid, uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in rd = { .fh = fh, .offset = off, .size = size };
	return call(e, FUSE_READ, nodeid, &rd, sizeof rd, NULL, NULL, NULL, 0);
}

static int getattr(struct env *e, uint64_t nodeid, struct fuse_attr *a)
{
	struct fuse_getattr_in g = { 0 };
	int r = call(e, FUSE_GETATTR, nodeid, &g, sizeof g, NULL, NULL, NULL, 0);
	if (r >= 0) {
		struct fuse_attr_out ao;
		assert_int_equal(r, sizeof ao);
		memcpy(&ao, e->out, sizeof ao);
		*a = ao.attr;
	}
	return r < 0 ? r : 0;
}

/* Back to root credentials on this thread, through the fs itself so its
 * per-thread record stays right. */
static void as_root(struct env *e)
{
	struct fuse_access_in a = { .mask = 0 };
	e->uid = e->gid = e->pid = 0;
	e->ext = NULL;
	e->extlen = 0;
	assert_int_equal(call(e, FUSE_ACCESS, FUSE_ROOT_ID, &a, sizeof a, NULL, NULL, NULL, 0), 0);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_lookup_forget(void **state)
{
	struct env *e = *state;
	struct fuse_entry_out eo, eo2;
	struct stat st;
	char p[PATH_MAX];

	src_write(e, "a.txt", "hello");
	src_path(e, p, "a.txt");
	assert_int_equal(stat(p, &st), 0);

	assert_int_equal(lookup(e, FUSE_ROOT_ID, "a.txt", &eo), 0);
	assert_int_equal(eo.attr.ino, st.st_ino);
	assert_int_equal(eo.attr.size, 5);
	assert_int_equal(eo.attr.mode, st.st_mode);
	assert_int_equal(eo.entry_valid, 1);
	assert_int_equal(eo.attr_valid, 1);
	assert_int_equal(lookup(e, FUSE_ROOT_ID, "a.txt", &eo2), 0);
	assert_int_equal(eo2.nodeid, eo.nodeid);
	assert_int_equal(eo2.generation, eo.generation);

	assert_int_equal(lookup(e, FUSE_ROOT_ID, "missing", &eo2), -ENOENT);
	/* ".." of the root stays in the source; "." is the node itself */
	assert_int_equal(lookup(e, FUSE_ROOT_ID, "..", &eo2), 0);
	assert_int_equal(eo2.nodeid, FUSE_ROOT_ID);

	/* two lookups: one forget keeps it, the second frees it */
	forget(e, eo.nodeid, 1);
	assert_true(node_live(e, eo.nodeid));
	forget(e, eo.nodeid, 1);
	assert_false(node_live(e, eo.nodeid));
	struct fuse_attr a;
	assert_int_equal(getattr(e, eo.nodeid, &a), -ESTALE);

	/* BATCH_FORGET */
	uint64_t n1 = lookup_ok(e, FUSE_ROOT_ID, "a.txt");
	lookup_ok(e, FUSE_ROOT_ID, "a.txt");
	lookup_ok(e, FUSE_ROOT_ID, "a.txt");
	struct {
		struct fuse_batch_forget_in h;
		struct fuse_forget_one one[1];
	} bf = { { .count = 1 }, { { .nodeid = n1, .nlookup = 3 } } };
	assert_int_equal(call(e, FUSE_BATCH_FORGET, 0, &bf.h, sizeof bf.h, NULL, NULL,
			      bf.one, sizeof bf.one), FP_NOREPLY);
	assert_false(node_live(e, n1));

	/* a reused slot gets a new generation */
	uint64_t n2 = lookup_ok(e, FUSE_ROOT_ID, "a.txt");
	assert_int_equal(lookup(e, FUSE_ROOT_ID, "a.txt", &eo2), 0);
	forget(e, n2, 2);

	/* unknown opcode and BMAP: ENOSYS */
	struct fuse_bmap_in bm = { .block = 0, .blocksize = 4096 };
	assert_int_equal(call(e, FUSE_BMAP, FUSE_ROOT_ID, &bm, sizeof bm, NULL, NULL, NULL, 0),
			 -ENOSYS);
}

static void test_create_write_read(void **state)
{
	struct env *e = *state;
	struct fuse_entry_out eo;
	uint64_t fh = 0;
	char p[PATH_MAX];
	struct stat st;

	assert_int_equal(create(e, FUSE_ROOT_ID, "f", O_RDWR | O_CREAT | O_EXCL, 0666, &eo, &fh), 0);
	src_path(e, p, "f");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);      /* DONT_MASK: we apply the umask */
	assert_int_equal(eo.attr.ino, st.st_ino);
	assert_int_equal(create(e, FUSE_ROOT_ID, "f", O_RDWR | O_CREAT | O_EXCL, 0666, &eo, &fh),
			 -EEXIST);

	char buf[8192];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)(i * 7);
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 100, buf, sizeof buf, 0), sizeof buf);
	assert_int_equal(pread_(e, eo.nodeid, fh, 100, sizeof buf), sizeof buf);
	assert_memory_equal(e->out, buf, sizeof buf);
	/* short read at EOF, empty read past it */
	assert_int_equal(pread_(e, eo.nodeid, fh, 100 + 8000, 4096), 192);
	assert_int_equal(pread_(e, eo.nodeid, fh, 1 << 20, 4096), 0);

	/* FLUSH, FSYNC (data and full), RELEASE, then a stale fh */
	struct fuse_flush_in fl = { .fh = fh, .lock_owner = 1 };
	assert_int_equal(call(e, FUSE_FLUSH, eo.nodeid, &fl, sizeof fl, NULL, NULL, NULL, 0), 0);
	struct fuse_fsync_in fs = { .fh = fh, .fsync_flags = FUSE_FSYNC_FDATASYNC };
	assert_int_equal(call(e, FUSE_FSYNC, eo.nodeid, &fs, sizeof fs, NULL, NULL, NULL, 0), 0);
	fs.fsync_flags = 0;
	assert_int_equal(call(e, FUSE_FSYNC, eo.nodeid, &fs, sizeof fs, NULL, NULL, NULL, 0), 0);
	release(e, eo.nodeid, fh);
	assert_int_equal(pread_(e, eo.nodeid, fh, 0, 10), -EBADF);

	/* OPEN with O_TRUNC (ATOMIC_O_TRUNC), KEEP_CACHE with attr caching */
	uint32_t of;
	fh = open_ok(e, eo.nodeid, O_WRONLY | O_TRUNC, &of);
	assert_true(of & FOPEN_KEEP_CACHE);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* O_APPEND: the kernel's offset is ignored, data lands at EOF */
	release(e, eo.nodeid, fh);
	src_write(e, "f", "12345");
	fh = open_ok(e, eo.nodeid, O_WRONLY | O_APPEND, NULL);
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 0, "xy", 2, 0), 2);
	release(e, eo.nodeid, fh);
	fh = open_ok(e, eo.nodeid, O_RDONLY, NULL);
	assert_int_equal(pread_(e, eo.nodeid, fh, 0, 100), 7);
	assert_memory_equal(e->out, "12345xy", 7);
	/* write on a read-only fh fails like a local one */
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 0, "z", 1, 0), -EBADF);
	release(e, eo.nodeid, fh);

	/* STATFS */
	int r = call(e, FUSE_STATFS, FUSE_ROOT_ID, NULL, 0, NULL, NULL, NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_statfs_out));
	struct fuse_statfs_out so;
	memcpy(&so, e->out, sizeof so);
	assert_true(so.st.bsize > 0 && so.st.blocks > 0 && so.st.namelen >= 255);
	forget(e, eo.nodeid, 1);
}

/* Read a directory with READDIR in `chunk`-byte replies from `off`;
 * collects names and the cookie after each.  Returns the count. */
static int list_dir(struct env *e, uint64_t nodeid, uint64_t fh, uint64_t off, uint32_t chunk,
		    char names[][64], uint64_t *offs, int max, bool plus, uint64_t *nodeids)
{
	int n = 0;
	for (;;) {
		struct fuse_read_in rd = { .fh = fh, .offset = off, .size = chunk };
		int r = call(e, plus ? FUSE_READDIRPLUS : FUSE_READDIR, nodeid, &rd, sizeof rd,
			     NULL, NULL, NULL, 0);
		assert_true(r >= 0);
		if (r == 0)
			return n;
		for (int p = 0; p < r;) {
			struct fuse_dirent d;
			const uint8_t *rec = e->out + p;
			uint64_t nid = 0;
			if (plus) {
				struct fuse_entry_out eo;
				memcpy(&eo, rec, sizeof eo);
				nid = eo.nodeid;
				rec += sizeof eo;
			}
			memcpy(&d, rec, sizeof d);
			assert_true(n < max);
			memcpy(names[n], rec + FUSE_NAME_OFFSET, d.namelen);
			names[n][d.namelen] = 0;
			offs[n] = d.off;
			if (nodeids)
				nodeids[n] = nid;
			n++;
			off = d.off;
			p += (int)(plus ? FUSE_DIRENTPLUS_SIZE((struct fuse_direntplus *)(e->out + p))
					: FUSE_DIRENT_SIZE(&d));
		}
		if (max == 1)
			return n;
	}
}

static uint64_t opendir_ok(struct env *e, uint64_t nodeid)
{
	struct fuse_open_in o = { .flags = O_RDONLY };
	int r = call(e, FUSE_OPENDIR, nodeid, &o, sizeof o, NULL, NULL, NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_open_out));
	struct fuse_open_out oo;
	memcpy(&oo, e->out, sizeof oo);
	return oo.fh;
}

static void releasedir(struct env *e, uint64_t nodeid, uint64_t fh)
{
	struct fuse_release_in r = { .fh = fh };
	assert_int_equal(call(e, FUSE_RELEASEDIR, nodeid, &r, sizeof r, NULL, NULL, NULL, 0), 0);
}

#define NFILES 300

static void test_readdir_offsets(void **state)
{
	struct env *e = *state;
	static char names[NFILES + 8][64], names2[NFILES + 8][64];
	static uint64_t offs[NFILES + 8], offs2[NFILES + 8];
	char p[PATH_MAX];

	src_path(e, p, "d");
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < NFILES; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "d/file_%03d_with_a_longer_name", i);
		src_write(e, rel, "x");
	}
	uint64_t d = lookup_ok(e, FUSE_ROOT_ID, "d");
	uint64_t fh = opendir_ok(e, d);
	int n = list_dir(e, d, fh, 0, 512, names, offs, NFILES + 8, false, NULL);
	assert_int_equal(n, NFILES + 2);
	/* every name once, and "." and ".." present */
	int dots = 0;
	for (int i = 0; i < n; i++) {
		if (!strcmp(names[i], ".") || !strcmp(names[i], ".."))
			dots++;
		for (int j = i + 1; j < n; j++)
			assert_string_not_equal(names[i], names[j]);
	}
	assert_int_equal(dots, 2);

	/* resume at any cookie: from the same fh (seek) and a new one */
	for (int k = 0; k < n; k += 37) {
		int m = list_dir(e, d, fh, offs[k], 4096, names2, offs2, NFILES + 8, false, NULL);
		assert_int_equal(m, n - k - 1);
		if (m)
			assert_string_equal(names2[0], names[k + 1]);
	}
	uint64_t fh2 = opendir_ok(e, d);
	int m = list_dir(e, d, fh2, offs[150], 1 << 16, names2, offs2, NFILES + 8, false, NULL);
	assert_int_equal(m, n - 151);
	assert_string_equal(names2[0], names[151]);
	/* a reply too small for one entry is empty, not an error */
	struct fuse_read_in rd = { .fh = fh2, .offset = 0, .size = 16 };
	assert_int_equal(call(e, FUSE_READDIR, d, &rd, sizeof rd, NULL, NULL, NULL, 0), 0);
	struct fuse_fsync_in fs = { .fh = fh2 };
	assert_int_equal(call(e, FUSE_FSYNCDIR, d, &fs, sizeof fs, NULL, NULL, NULL, 0), 0);
	releasedir(e, d, fh2);
	releasedir(e, d, fh);
	forget(e, d, 1);
}

static void test_readdirplus_counts(void **state)
{
	struct env *e = *state;
	static char names[64][64];
	static uint64_t offs[64], nids[64];
	char p[PATH_MAX];

	src_path(e, p, "dp");
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 40; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "dp/e%02d", i);
		src_write(e, rel, "x");
	}
	uint64_t d = lookup_ok(e, FUSE_ROOT_ID, "dp");
	uint64_t fh = opendir_ok(e, d);
	/* 400-byte replies hold two entries: most calls end with an entry
	 * that did not fit, which must not have been counted */
	int n = list_dir(e, d, fh, 0, 400, names, offs, 64, true, nids);
	assert_int_equal(n, 42);
	for (int i = 0; i < n; i++) {
		if (!strcmp(names[i], ".") || !strcmp(names[i], "..")) {
			assert_int_equal(nids[i], 0);
			continue;
		}
		assert_true(nids[i] > FUSE_ROOT_ID);
		assert_true(node_live(e, nids[i]));
		/* a LOOKUP finds the same node; then exactly two forgets free it */
		assert_int_equal(lookup_ok(e, d, names[i]), nids[i]);
		forget(e, nids[i], 1);
		assert_true(node_live(e, nids[i]));
		forget(e, nids[i], 1);
		assert_false(node_live(e, nids[i]));
	}
	releasedir(e, d, fh);
	forget(e, d, 1);
}

static int rename2(struct env *e, uint64_t od, const char *o, uint64_t nd, const char *n,
		   uint32_t flags)
{
	struct fuse_rename2_in r = { .newdir = nd, .flags = flags };
	return call(e, FUSE_RENAME2, od, &r, sizeof r, o, n, NULL, 0);
}

static void read_src(struct env *e, const char *rel, char *buf, size_t n)
{
	char p[PATH_MAX];
	src_path(e, p, rel);
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t r = read(fd, buf, n - 1);
	assert_true(r >= 0);
	buf[r] = 0;
	close(fd);
}

static void test_rename_flags(void **state)
{
	struct env *e = *state;
	char buf[16], p[PATH_MAX];
	struct stat st;

	src_write(e, "ra", "A");
	src_write(e, "rb", "B");
	src_path(e, p, "sub");
	assert_int_equal(mkdir(p, 0755), 0);
	uint64_t sub = lookup_ok(e, FUSE_ROOT_ID, "sub");

	assert_int_equal(rename2(e, FUSE_ROOT_ID, "ra", FUSE_ROOT_ID, "rb", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(rename2(e, FUSE_ROOT_ID, "ra", FUSE_ROOT_ID, "rb", RENAME_EXCHANGE), 0);
	read_src(e, "ra", buf, sizeof buf);
	assert_string_equal(buf, "B");
	assert_int_equal(rename2(e, FUSE_ROOT_ID, "ra", FUSE_ROOT_ID, "nope", RENAME_EXCHANGE), -ENOENT);
	assert_int_equal(rename2(e, FUSE_ROOT_ID, "ra", sub, "moved", RENAME_NOREPLACE), 0);
	src_path(e, p, "sub/moved");
	assert_int_equal(stat(p, &st), 0);
	/* plain RENAME replaces */
	struct fuse_rename_in r = { .newdir = FUSE_ROOT_ID };
	assert_int_equal(call(e, FUSE_RENAME, sub, &r, sizeof r, "moved", "rb", NULL, 0), 0);
	read_src(e, "rb", buf, sizeof buf);
	assert_string_equal(buf, "B");
	assert_int_equal(rename2(e, FUSE_ROOT_ID, "rb", FUSE_ROOT_ID, "rc", 1u << 7), -EINVAL);

	if (geteuid() == 0) {
		/* WHITEOUT leaves a 0/0 character device behind */
		int w = rename2(e, FUSE_ROOT_ID, "rb", FUSE_ROOT_ID, "rw", RENAME_WHITEOUT);
		if (w != -EINVAL && w != -EOPNOTSUPP) {
			assert_int_equal(w, 0);
			struct fuse_entry_out eo;
			assert_int_equal(lookup(e, FUSE_ROOT_ID, "rb", &eo), 0);
			assert_true(S_ISCHR(eo.attr.mode));
			assert_int_equal(eo.attr.rdev, 0);
			forget(e, eo.nodeid, 1);
		}
	}
	forget(e, sub, 1);
}

static void test_xattr(void **state)
{
	struct env *e = *state;
	src_write(e, "x", "");
	uint64_t n = lookup_ok(e, FUSE_ROOT_ID, "x");

	struct fuse_setxattr_in si = { .size = 5, .flags = 0 };
	int r = call(e, FUSE_SETXATTR, n, &si, sizeof si, "user.test", NULL, "value", 5);
	if (r == -EOPNOTSUPP) {
		forget(e, n, 1);
		skip();
	}
	assert_int_equal(r, 0);
	si.flags = XATTR_CREATE;
	assert_int_equal(call(e, FUSE_SETXATTR, n, &si, sizeof si, "user.test", NULL, "value", 5),
			 -EEXIST);

	struct fuse_getxattr_in gi = { .size = 0 };
	r = call(e, FUSE_GETXATTR, n, &gi, sizeof gi, "user.test", NULL, NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_getxattr_out));
	struct fuse_getxattr_out go;
	memcpy(&go, e->out, sizeof go);
	assert_int_equal(go.size, 5);
	gi.size = 2;
	assert_int_equal(call(e, FUSE_GETXATTR, n, &gi, sizeof gi, "user.test", NULL, NULL, 0), -ERANGE);
	gi.size = 100;
	assert_int_equal(call(e, FUSE_GETXATTR, n, &gi, sizeof gi, "user.test", NULL, NULL, 0), 5);
	assert_memory_equal(e->out, "value", 5);

	gi.size = 0;
	r = call(e, FUSE_LISTXATTR, n, &gi, sizeof gi, NULL, NULL, NULL, 0);
	assert_int_equal(r, sizeof go);
	memcpy(&go, e->out, sizeof go);
	assert_true(go.size >= sizeof "user.test");
	gi.size = go.size;
	r = call(e, FUSE_LISTXATTR, n, &gi, sizeof gi, NULL, NULL, NULL, 0);
	assert_int_equal(r, (int)go.size);
	assert_non_null(memmem(e->out, (size_t)r, "user.test", sizeof "user.test"));
	gi.size = 1;
	assert_int_equal(call(e, FUSE_LISTXATTR, n, &gi, sizeof gi, NULL, NULL, NULL, 0), -ERANGE);

	assert_int_equal(call(e, FUSE_REMOVEXATTR, n, NULL, 0, "user.test", NULL, NULL, 0), 0);
	gi.size = 100;
	assert_int_equal(call(e, FUSE_GETXATTR, n, &gi, sizeof gi, "user.test", NULL, NULL, 0), -ENODATA);
	assert_int_equal(call(e, FUSE_REMOVEXATTR, n, NULL, 0, "user.test", NULL, NULL, 0), -ENODATA);

	/* on a symlink: reads work on the link itself, user.* is refused
	 * as on a local filesystem */
	char p[PATH_MAX];
	src_path(e, p, "xl");
	assert_int_equal(symlink("x", p), 0);
	uint64_t l = lookup_ok(e, FUSE_ROOT_ID, "xl");
	si.flags = 0;
	assert_int_equal(call(e, FUSE_SETXATTR, l, &si, sizeof si, "user.test", NULL, "value", 5), -EPERM);
	gi.size = 0;
	r = call(e, FUSE_LISTXATTR, l, &gi, sizeof gi, NULL, NULL, NULL, 0);
	assert_true(r == sizeof go);
	forget(e, l, 1);
	forget(e, n, 1);
}

static int lk(struct env *e, uint32_t op, uint64_t nodeid, uint64_t fh, uint64_t owner,
	      uint32_t type, uint64_t start, uint64_t end, uint32_t pid, uint32_t flags,
	      struct fuse_file_lock *out)
{
	struct fuse_lk_in l = {
		.fh = fh, .owner = owner,
		.lk = { .start = start, .end = end, .type = type, .pid = pid },
		.lk_flags = flags,
	};
	int r = call(e, op, nodeid, &l, sizeof l, NULL, NULL, NULL, 0);
	if (r > 0 && out) {
		struct fuse_lk_out lo;
		assert_int_equal(r, sizeof lo);
		memcpy(&lo, e->out, sizeof lo);
		*out = lo.lk;
	}
	return r;
}

static void test_locks(void **state)
{
	struct env *e = *state;
	struct fuse_file_lock got;
	const uint64_t A = 0x1111, B = 0x2222, EOFF = INT64_MAX;

	src_write(e, "lk", "0123456789");
	uint64_t n = lookup_ok(e, FUSE_ROOT_ID, "lk");
	uint64_t fa = open_ok(e, n, O_RDWR, NULL), fa2 = open_ok(e, n, O_RDONLY, NULL);
	uint64_t fb = open_ok(e, n, O_RDWR, NULL);

	assert_int_equal(lk(e, FUSE_SETLK, n, fa, A, F_WRLCK, 0, 99, 111, 0, NULL), 0);
	/* B sees A's lock and its pid; cannot take it */
	assert_int_equal(lk(e, FUSE_GETLK, n, fb, B, F_WRLCK, 50, 60, 222, 0, &got),
			 sizeof(struct fuse_lk_out));
	assert_int_equal(got.type, F_WRLCK);
	assert_int_equal(got.start, 0);
	assert_int_equal(got.end, 99);
	assert_int_equal(got.pid, 111);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_RDLCK, 0, EOFF, 222, 0, NULL), -EAGAIN);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_WRLCK, 100, EOFF, 222, 0, NULL), 0);
	/* A's second fd is the same owner: no conflict with itself */
	assert_int_equal(lk(e, FUSE_GETLK, n, fa2, A, F_RDLCK, 0, 50, 111, 0, &got),
			 sizeof(struct fuse_lk_out));
	assert_int_equal(got.type, F_UNLCK);
	assert_int_equal(lk(e, FUSE_SETLK, n, fa2, A, F_RDLCK, 10, 20, 111, 0, NULL), 0);
	/* A sees B's lock to EOF */
	assert_int_equal(lk(e, FUSE_GETLK, n, fa, A, F_WRLCK, 0, EOFF, 111, 0, &got),
			 sizeof(struct fuse_lk_out));
	assert_int_equal(got.type, F_WRLCK);
	assert_int_equal(got.start, 100);
	assert_int_equal(got.end, EOFF);
	assert_int_equal(got.pid, 222);
	/* close() of A's other fd drops all of A's locks (FLUSH with owner) */
	struct fuse_flush_in fl = { .fh = fa2, .lock_owner = A };
	assert_int_equal(call(e, FUSE_FLUSH, n, &fl, sizeof fl, NULL, NULL, NULL, 0), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_WRLCK, 0, 99, 222, 0, NULL), 0);
	/* explicit unlock, and unlocking what was never locked */
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_UNLCK, 0, EOFF, 222, 0, NULL), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fa, 0x3333, F_UNLCK, 0, EOFF, 333, 0, NULL), 0);
	assert_int_equal(lk(e, FUSE_SETLKW, n, fa, A, F_WRLCK, 0, EOFF, 111, 0, NULL), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_WRLCK, 0, 0, 222, 0, NULL), -EAGAIN);
	assert_int_equal(lk(e, FUSE_SETLK, n, fa, A, 77, 0, 0, 111, 0, NULL), -EINVAL);

	/* flock: per open file */
	assert_int_equal(lk(e, FUSE_SETLK, n, fa, A, F_WRLCK, 0, EOFF, 111, FUSE_LK_FLOCK, NULL), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_RDLCK, 0, EOFF, 222, FUSE_LK_FLOCK, NULL),
			 -EWOULDBLOCK);
	assert_int_equal(lk(e, FUSE_SETLK, n, fa, A, F_UNLCK, 0, EOFF, 111, FUSE_LK_FLOCK, NULL), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_RDLCK, 0, EOFF, 222, FUSE_LK_FLOCK, NULL), 0);

	/* OFD locks: lock_owner is the kernel's file, no FLUSH names it;
	 * RELEASE of that fh ends them */
	uint64_t fo = open_ok(e, n, O_RDWR, NULL);
	const uint64_t OFD = 0xf11e;
	assert_int_equal(lk(e, FUSE_SETLK, n, fa, A, F_UNLCK, 0, EOFF, 111, 0, NULL), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fo, OFD, F_WRLCK, 1000, 1999, 0, 0, NULL), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_WRLCK, 1500, 1500, 222, 0, NULL), -EAGAIN);
	fl.fh = fo;
	fl.lock_owner = 0x5555;   /* some process closing its fd of that file */
	assert_int_equal(call(e, FUSE_FLUSH, n, &fl, sizeof fl, NULL, NULL, NULL, 0), 0);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_WRLCK, 1500, 1500, 222, 0, NULL), -EAGAIN);
	release(e, n, fo);
	assert_int_equal(lk(e, FUSE_SETLK, n, fb, B, F_WRLCK, 1500, 1500, 222, 0, NULL), 0);
	fl.lock_owner = A;

	long before = pt_open_fds(e->fs);
	release(e, n, fa2);
	release(e, n, fb);
	fl.fh = fa;
	assert_int_equal(call(e, FUSE_FLUSH, n, &fl, sizeof fl, NULL, NULL, NULL, 0), 0);
	release(e, n, fa);
	/* the lock fds of A (and B's, once B flushes) go with the flushes */
	assert_true(pt_open_fds(e->fs) <= before - 3);
	forget(e, n, 1);
}

/* O_DIRECT reaches the source: aligned I/O works even though the request
 * and reply areas sit at unaligned addresses; unaligned offsets get the
 * source's EINVAL, as a local caller would. */
static void test_direct_io(void **state)
{
	struct env *e = *state;
	struct fuse_entry_out eo;
	uint64_t fh = 0;
	static char blk[8192];

	for (size_t i = 0; i < sizeof blk; i++)
		blk[i] = (char)(i ^ 0x5a);
	int r = create(e, FUSE_ROOT_ID, "direct", O_RDWR | O_DIRECT, 0644, &eo, &fh);
	if (r == -EINVAL)
		skip();               /* the source has no O_DIRECT */
	assert_int_equal(r, 0);
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 4096, blk, sizeof blk, 0), sizeof blk);
	assert_int_equal(pread_(e, eo.nodeid, fh, 4096, sizeof blk), sizeof blk);
	assert_memory_equal(e->out, blk, sizeof blk);
	assert_int_equal(pread_(e, eo.nodeid, fh, 0, 4096), 4096);   /* the hole */
	assert_int_equal(pread_(e, eo.nodeid, fh, 100, 4096), -EINVAL);
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 100, blk, 4096, 0), -EINVAL);
	release(e, eo.nodeid, fh);
	/* a buffered open of the same file sees the data */
	fh = open_ok(e, eo.nodeid, O_RDONLY, NULL);
	assert_int_equal(pread_(e, eo.nodeid, fh, 4196, 10), 10);
	assert_memory_equal(e->out, blk + 100, 10);
	release(e, eo.nodeid, fh);
	forget(e, eo.nodeid, 1);
}

static void test_lseek_fallocate(void **state)
{
	struct env *e = *state;
	struct fuse_entry_out eo;
	uint64_t fh = 0;
	static char blk[65536];

	memset(blk, 'd', sizeof blk);
	assert_int_equal(create(e, FUSE_ROOT_ID, "sparse", O_RDWR, 0644, &eo, &fh), 0);
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 0, blk, sizeof blk, 0), sizeof blk);
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 4 << 20, blk, sizeof blk, 0), sizeof blk);

	struct fuse_lseek_in ls = { .fh = fh, .offset = 0, .whence = SEEK_HOLE };
	struct fuse_lseek_out lo;
	assert_int_equal(call(e, FUSE_LSEEK, eo.nodeid, &ls, sizeof ls, NULL, NULL, NULL, 0),
			 sizeof lo);
	memcpy(&lo, e->out, sizeof lo);
	assert_int_equal(lo.offset, sizeof blk);
	ls.offset = sizeof blk + 4096;
	ls.whence = SEEK_DATA;
	assert_int_equal(call(e, FUSE_LSEEK, eo.nodeid, &ls, sizeof ls, NULL, NULL, NULL, 0),
			 sizeof lo);
	memcpy(&lo, e->out, sizeof lo);
	assert_int_equal(lo.offset, 4 << 20);
	ls.offset = (4 << 20) + sizeof blk + 1;
	assert_int_equal(call(e, FUSE_LSEEK, eo.nodeid, &ls, sizeof ls, NULL, NULL, NULL, 0), -ENXIO);

	/* punch the first block, then SEEK_DATA from 0 skips it */
	struct fuse_fallocate_in fa = {
		.fh = fh, .offset = 0, .length = 32768,
		.mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	};
	assert_int_equal(call(e, FUSE_FALLOCATE, eo.nodeid, &fa, sizeof fa, NULL, NULL, NULL, 0), 0);
	ls.offset = 0;
	assert_int_equal(call(e, FUSE_LSEEK, eo.nodeid, &ls, sizeof ls, NULL, NULL, NULL, 0),
			 sizeof lo);
	memcpy(&lo, e->out, sizeof lo);
	assert_int_equal(lo.offset, 32768);
	/* plain allocation grows the file */
	fa.mode = 0;
	fa.offset = 8 << 20;
	fa.length = 4096;
	assert_int_equal(call(e, FUSE_FALLOCATE, eo.nodeid, &fa, sizeof fa, NULL, NULL, NULL, 0), 0);
	struct fuse_attr a;
	assert_int_equal(getattr(e, eo.nodeid, &a), 0);
	assert_int_equal(a.size, (8 << 20) + 4096);

	/* COPY_FILE_RANGE_64 and the 32-bit COPY_FILE_RANGE */
	struct fuse_entry_out eo2;
	uint64_t fh2 = 0;
	assert_int_equal(create(e, FUSE_ROOT_ID, "copy", O_RDWR, 0644, &eo2, &fh2), 0);
	struct fuse_copy_file_range_in cr = {
		.fh_in = fh, .off_in = 4 << 20, .nodeid_out = eo2.nodeid, .fh_out = fh2,
		.off_out = 10, .len = sizeof blk, .flags = 0,
	};
	assert_int_equal(call(e, FUSE_COPY_FILE_RANGE_64, eo.nodeid, &cr, sizeof cr, NULL, NULL,
			      NULL, 0), sizeof(struct fuse_copy_file_range_out));
	struct fuse_copy_file_range_out co;
	memcpy(&co, e->out, sizeof co);
	assert_int_equal(co.bytes_copied, sizeof blk);
	cr.off_out = 0;
	cr.len = 5;
	assert_int_equal(call(e, FUSE_COPY_FILE_RANGE, eo.nodeid, &cr, sizeof cr, NULL, NULL,
			      NULL, 0), sizeof(struct fuse_write_out));
	assert_int_equal(pread_(e, eo2.nodeid, fh2, 0, 100), 100);
	assert_memory_equal(e->out, "ddddd\0\0\0\0\0dddddddd", 18);

	/* POLL: files are always ready */
	struct fuse_poll_in pi = { .fh = fh, .events = POLLIN | POLLOUT };
	assert_int_equal(call(e, FUSE_POLL, eo.nodeid, &pi, sizeof pi, NULL, NULL, NULL, 0),
			 sizeof(struct fuse_poll_out));
	struct fuse_poll_out po;
	memcpy(&po, e->out, sizeof po);
	assert_int_equal(po.revents & (POLLIN | POLLOUT), POLLIN | POLLOUT);

	/* IOCTL: GETFLAGS works where the source supports it, others ENOTTY */
	struct fuse_ioctl_in io = { .fh = fh, .cmd = FS_IOC_GETFLAGS, .out_size = 4 };
	int r = call(e, FUSE_IOCTL, eo.nodeid, &io, sizeof io, NULL, NULL, NULL, 0);
	assert_true(r == (int)(sizeof(struct fuse_ioctl_out) + 4) || r == -ENOTTY);
	io.cmd = 0x5401;   /* TCGETS */
	assert_int_equal(call(e, FUSE_IOCTL, eo.nodeid, &io, sizeof io, NULL, NULL, NULL, 0), -ENOTTY);

	release(e, eo.nodeid, fh);
	release(e, eo2.nodeid, fh2);
	forget(e, eo.nodeid, 1);
	forget(e, eo2.nodeid, 1);
}

static void test_setattr_links(void **state)
{
	struct env *e = *state;
	char p[PATH_MAX];
	struct stat st;

	src_write(e, "s", "0123456789");
	uint64_t n = lookup_ok(e, FUSE_ROOT_ID, "s");
	src_path(e, p, "s");

	/* path-based (O_PATH fd) chmod, truncate, times */
	struct fuse_setattr_in sa = {
		.valid = FATTR_MODE | FATTR_SIZE | FATTR_MTIME | FATTR_ATIME,
		.mode = S_IFREG | 0600, .size = 4, .mtime = 1000000, .mtimensec = 5,
		.atime = 2000000,
	};
	int r = call(e, FUSE_SETATTR, n, &sa, sizeof sa, NULL, NULL, NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_attr_out));
	struct fuse_attr_out ao;
	memcpy(&ao, e->out, sizeof ao);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(st.st_mtim.tv_sec, 1000000);
	assert_int_equal(st.st_mtim.tv_nsec, 5);
	assert_int_equal(st.st_atim.tv_sec, 2000000);
	assert_int_equal(ao.attr.size, 4);
	assert_int_equal(ao.attr.mtime, 1000000);

	/* fh-based truncate and MTIME_NOW */
	uint64_t fh = open_ok(e, n, O_RDWR, NULL);
	memset(&sa, 0, sizeof sa);
	sa.valid = FATTR_FH | FATTR_SIZE | FATTR_MTIME | FATTR_MTIME_NOW;
	sa.fh = fh;
	sa.size = 100;
	assert_int_equal(call(e, FUSE_SETATTR, n, &sa, sizeof sa, NULL, NULL, NULL, 0),
			 sizeof(struct fuse_attr_out));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 100);
	assert_true(st.st_mtim.tv_sec > 1000000);
	/* GETATTR through the fh */
	struct fuse_getattr_in gi = { .getattr_flags = FUSE_GETATTR_FH, .fh = fh };
	assert_int_equal(call(e, FUSE_GETATTR, n, &gi, sizeof gi, NULL, NULL, NULL, 0),
			 sizeof(struct fuse_attr_out));
	/* STATX */
	struct fuse_statx_in sx = { .sx_mask = STATX_BASIC_STATS | STATX_BTIME };
	assert_int_equal(call(e, FUSE_STATX, n, &sx, sizeof sx, NULL, NULL, NULL, 0),
			 sizeof(struct fuse_statx_out));
	struct fuse_statx_out so;
	memcpy(&so, e->out, sizeof so);
	assert_int_equal(so.stat.size, 100);
	assert_int_equal(so.stat.ino, st.st_ino);
	assert_int_equal(so.stat.mode, st.st_mode);
	release(e, n, fh);

	/* SYMLINK + READLINK */
	r = call(e, FUSE_SYMLINK, FUSE_ROOT_ID, NULL, 0, "sl", "target/path", NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_entry_out));
	struct fuse_entry_out eo;
	memcpy(&eo, e->out, sizeof eo);
	assert_true(S_ISLNK(eo.attr.mode));
	assert_int_equal(call(e, FUSE_READLINK, eo.nodeid, NULL, 0, NULL, NULL, NULL, 0), 11);
	assert_memory_equal(e->out, "target/path", 11);
	forget(e, eo.nodeid, 1);

	/* MKNOD fifo, MKDIR, RMDIR, UNLINK */
	struct fuse_mknod_in mn = { .mode = S_IFIFO | 0666, .umask = 027 };
	r = call(e, FUSE_MKNOD, FUSE_ROOT_ID, &mn, sizeof mn, "fifo", NULL, NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_entry_out));
	memcpy(&eo, e->out, sizeof eo);
	assert_true(S_ISFIFO(eo.attr.mode));
	assert_int_equal(eo.attr.mode & 0777, 0640);
	forget(e, eo.nodeid, 1);
	struct fuse_mkdir_in md = { .mode = 0777, .umask = 022 };
	r = call(e, FUSE_MKDIR, FUSE_ROOT_ID, &md, sizeof md, "newdir", NULL, NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_entry_out));
	memcpy(&eo, e->out, sizeof eo);
	assert_true(S_ISDIR(eo.attr.mode));
	assert_int_equal(eo.attr.mode & 0777, 0755);
	assert_int_equal(call(e, FUSE_MKDIR, FUSE_ROOT_ID, &md, sizeof md, "newdir", NULL, NULL, 0),
			 -EEXIST);
	assert_int_equal(call(e, FUSE_UNLINK, FUSE_ROOT_ID, NULL, 0, "newdir", NULL, NULL, 0), -EISDIR);
	assert_int_equal(call(e, FUSE_RMDIR, FUSE_ROOT_ID, NULL, 0, "newdir", NULL, NULL, 0), 0);
	forget(e, eo.nodeid, 1);
	assert_int_equal(call(e, FUSE_UNLINK, FUSE_ROOT_ID, NULL, 0, "fifo", NULL, NULL, 0), 0);

	/* LINK: same node, nlink 2, one more lookup */
	struct fuse_link_in li = { .oldnodeid = n };
	r = call(e, FUSE_LINK, FUSE_ROOT_ID, &li, sizeof li, "s2", NULL, NULL, 0);
	assert_int_equal(r, sizeof(struct fuse_entry_out));
	memcpy(&eo, e->out, sizeof eo);
	assert_int_equal(eo.nodeid, n);
	assert_int_equal(eo.attr.nlink, 2);
	forget(e, n, 1);
	assert_true(node_live(e, n));

	/* ACCESS */
	struct fuse_access_in ac = { .mask = R_OK | W_OK };
	assert_int_equal(call(e, FUSE_ACCESS, n, &ac, sizeof ac, NULL, NULL, NULL, 0), 0);
	ac.mask = X_OK;
	assert_int_equal(call(e, FUSE_ACCESS, n, &ac, sizeof ac, NULL, NULL, NULL, 0), -EACCES);

	/* TMPFILE, written, then linked into the tree */
	struct fuse_create_in ci = { .flags = O_RDWR, .mode = S_IFREG | 0644 };
	/* the kernel names a tmpfile's dentry "/" */
	r = call(e, FUSE_TMPFILE, FUSE_ROOT_ID, &ci, sizeof ci, "/", NULL, NULL, 0);
	if (r != -EOPNOTSUPP) {
		assert_int_equal(r, sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out));
		struct fuse_open_out oo;
		memcpy(&eo, e->out, sizeof eo);
		memcpy(&oo, e->out + sizeof eo, sizeof oo);
		assert_int_equal(eo.attr.nlink, 0);
		assert_int_equal(pwrite_(e, eo.nodeid, oo.fh, 0, "tmp!", 4, 0), 4);
		li.oldnodeid = eo.nodeid;
		r = call(e, FUSE_LINK, FUSE_ROOT_ID, &li, sizeof li, "fromtmp", NULL, NULL, 0);
		assert_int_equal(r, sizeof(struct fuse_entry_out));
		char buf[16];
		read_src(e, "fromtmp", buf, sizeof buf);
		assert_string_equal(buf, "tmp!");
		release(e, eo.nodeid, oo.fh);
		forget(e, eo.nodeid, 2);
	}
	forget(e, n, 1);
	assert_false(node_live(e, n));
}

/* The reply area may alias the request (FUSE-over-io_uring): handlers must
 * read their arguments before writing. */
static void test_aliased_reply(void **state)
{
	struct env *e = *state;
	struct fuse_entry_out eo;
	uint64_t fh = 0;

	e->alias = true;
	assert_int_equal(create(e, FUSE_ROOT_ID, "alias_file_with_a_name", O_RDWR, 0644, &eo, &fh), 0);
	assert_int_equal(pwrite_(e, eo.nodeid, fh, 0, "0123456789abcdef", 16, 0), 16);
	assert_int_equal(pread_(e, eo.nodeid, fh, 4, 8), 8);
	assert_memory_equal(e->out, "456789ab", 8);
	uint64_t n = lookup_ok(e, FUSE_ROOT_ID, "alias_file_with_a_name");
	assert_int_equal(n, eo.nodeid);
	struct fuse_setxattr_in si = { .size = 3 };
	if (call(e, FUSE_SETXATTR, n, &si, sizeof si, "user.alias", NULL, "abc", 3) == 0) {
		struct fuse_getxattr_in gi = { .size = 64 };
		assert_int_equal(call(e, FUSE_GETXATTR, n, &gi, sizeof gi, "user.alias", NULL, NULL, 0), 3);
		assert_memory_equal(e->out, "abc", 3);
	}
	assert_int_equal(call(e, FUSE_SYMLINK, FUSE_ROOT_ID, NULL, 0, "alias_link", "alias_file_with_a_name",
			      NULL, 0), sizeof eo);
	memcpy(&eo, e->out, sizeof eo);
	assert_int_equal(call(e, FUSE_READLINK, eo.nodeid, NULL, 0, NULL, NULL, NULL, 0), 22);
	assert_memory_equal(e->out, "alias_file_with_a_name", 22);
	e->alias = false;
	release(e, n, fh);
	forget(e, n, 2);
	forget(e, eo.nodeid, 1);
}

/* Operations run with the caller's uid, gid and groups (root only). */
static void test_credentials(void **state)
{
	struct env *e = *state;
	char p[PATH_MAX];
	struct stat st;
	struct fuse_entry_out eo;
	uint64_t fh = 0;

	if (geteuid() != 0)
		skip();
	src_path(e, p, "pub");
	assert_int_equal(mkdir(p, 0777), 0);
	assert_int_equal(chmod(p, 0777), 0);
	src_path(e, p, "grp");
	assert_int_equal(mkdir(p, 0770), 0);
	assert_int_equal(chmod(p, 0770), 0);
	assert_int_equal(chown(p, 0, 4242), 0);
	uint64_t pub = lookup_ok(e, FUSE_ROOT_ID, "pub");
	uint64_t grp = lookup_ok(e, FUSE_ROOT_ID, "grp");

	e->uid = 1000;
	e->gid = 1000;
	e->pid = 0;                 /* no /proc lookup: groups from the extension only */
	assert_int_equal(create(e, pub, "mine", O_RDWR, 0644, &eo, &fh), 0);
	assert_int_equal(eo.attr.uid, 1000);
	assert_int_equal(eo.attr.gid, 1000);
	src_path(e, p, "pub/mine");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 1000);
	release(e, eo.nodeid, fh);
	forget(e, eo.nodeid, 1);

	assert_int_equal(create(e, grp, "no", O_RDWR, 0644, &eo, &fh), -EACCES);
	assert_int_equal(lookup(e, grp, "x", &eo), -EACCES);
	assert_int_equal(create(e, FUSE_ROOT_ID, "no", O_RDWR, 0644, &eo, &fh), -EACCES);

	/* FUSE_EXT_GROUPS grants the directory's group */
	struct {
		struct fuse_ext_header h;
		uint32_t nr, g[1];
	} ext = { { .size = 16, .type = FUSE_EXT_GROUPS }, 1, { 4242 } };
	e->ext = &ext;
	e->extlen = sizeof ext;
	assert_int_equal(create(e, grp, "yes", O_RDWR, 0644, &eo, &fh), 0);
	e->ext = NULL;
	e->extlen = 0;
	assert_int_equal(eo.attr.uid, 1000);
	uint64_t yes = eo.nodeid;

	/* WRITE with KILL_SUIDGID as the owner drops S_ISUID */
	as_root(e);
	src_path(e, p, "grp/yes");
	assert_int_equal(chmod(p, 04755), 0);
	e->uid = 1000;
	e->gid = 1000;
	assert_int_equal(pwrite_(e, yes, fh, 0, "x", 1, FUSE_WRITE_KILL_SUIDGID), 1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* without the flag (writer has CAP_FSETID) the bit stays */
	as_root(e);
	assert_int_equal(chmod(p, 04755), 0);
	assert_int_equal(pwrite_(e, yes, fh, 0, "x", 1, 0), 1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04755);
	/* a root caller that lacks CAP_FSETID: we clear it ourselves */
	assert_int_equal(pwrite_(e, yes, fh, 0, "x", 1, FUSE_WRITE_KILL_SUIDGID), 1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	release(e, yes, fh);

	/* chmod by a non-owner fails, by the owner works */
	e->uid = 2000;
	e->gid = 2000;
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = S_IFREG | 0600 };
	assert_int_equal(call(e, FUSE_SETATTR, yes, &sa, sizeof sa, NULL, NULL, NULL, 0), -EPERM);
	e->uid = 1000;
	e->gid = 1000;
	assert_int_equal(call(e, FUSE_SETATTR, yes, &sa, sizeof sa, NULL, NULL, NULL, 0),
			 sizeof(struct fuse_attr_out));
	/* caller's supplementary groups from /proc/<pid>/status: ours (root's) */
	e->pid = (uint32_t)getpid();
	struct fuse_access_in ac = { .mask = R_OK };
	assert_int_equal(call(e, FUSE_ACCESS, yes, &ac, sizeof ac, NULL, NULL, NULL, 0), 0);
	e->uid = 2000;
	assert_int_equal(call(e, FUSE_ACCESS, pub, &ac, sizeof ac, NULL, NULL, NULL, 0), 0);
	ac.mask = W_OK;
	assert_int_equal(call(e, FUSE_ACCESS, FUSE_ROOT_ID, &ac, sizeof ac, NULL, NULL, NULL, 0), -EACCES);
	as_root(e);
	assert_int_equal(call(e, FUSE_ACCESS, FUSE_ROOT_ID, &ac, sizeof ac, NULL, NULL, NULL, 0), 0);

	forget(e, yes, 1);
	forget(e, pub, 1);
	forget(e, grp, 1);
}

/* With the writeback cache the kernel writes pages at offsets it picks and
 * reads pages it only partly writes: our opens are O_RDWR and never
 * O_APPEND, even for a caller that may only write. */
static void test_writeback_opens(void **state)
{
	(void)state;
	struct env *e = env_new_opts(0, 1);
	char p[PATH_MAX];

	src_write(e, "wo", "abc");
	src_path(e, p, "wo");
	if (geteuid() == 0) {
		assert_int_equal(chown(p, 1000, 1000), 0);
		assert_int_equal(chmod(p, 0200), 0);
		e->uid = e->gid = 1000;
	}
	uint64_t n = lookup_ok(e, FUSE_ROOT_ID, "wo");
	uint64_t fh = open_ok(e, n, O_WRONLY | O_APPEND, NULL);
	assert_int_equal(pread_(e, n, fh, 0, 100), 3);          /* page fill */
	assert_memory_equal(e->out, "abc", 3);
	assert_int_equal(pwrite_(e, n, fh, 1, "X", 1, 0), 1);    /* at 1, not EOF */
	release(e, n, fh);
	as_root(e);
	char buf[16];
	read_src(e, "wo", buf, sizeof buf);
	assert_string_equal(buf, "aXc");
	/* the caller's own permission still decides the open */
	if (geteuid() == 0) {
		e->uid = e->gid = 2000;
		struct fuse_open_in o = { .flags = O_WRONLY };
		assert_int_equal(call(e, FUSE_OPEN, n, &o, sizeof o, NULL, NULL, NULL, 0), -EACCES);
		as_root(e);
	}
	forget(e, n, 1);
	env_free(e);
}

/* 30k inodes through 64 cached fds; then each one opened and read. */
#define MANY 30000
#define MAXFDS 64
#define SLACK 4

static void test_many_inodes(void **state)
{
	(void)state;
	struct env *e = env_new(MAXFDS);
	char p[PATH_MAX];
	static uint64_t ids[MANY];

	src_path(e, p, "many");
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < MANY; i++) {
		char rel[64], body[32];
		snprintf(rel, sizeof rel, "many/f%05d", i);
		snprintf(body, sizeof body, "content %d", i);
		src_write(e, rel, body);
	}
	uint64_t dir = lookup_ok(e, FUSE_ROOT_ID, "many");
	long base = pt_open_fds(e->fs);
	assert_true(base <= MAXFDS + SLACK);

	for (int i = 0; i < MANY; i++) {
		char name[32];
		snprintf(name, sizeof name, "f%05d", i);
		ids[i] = lookup_ok(e, dir, name);
		if (i % 1000 == 0)
			assert_true(pt_open_fds(e->fs) <= MAXFDS + SLACK);
	}
	assert_true(pt_open_fds(e->fs) <= MAXFDS + SLACK);

	/* reopened through their handles, also from a non-root fsuid */
	e->uid = 1000;
	e->gid = 1000;
	struct fuse_access_in ac = { .mask = R_OK };
	assert_int_equal(call(e, FUSE_ACCESS, dir, &ac, sizeof ac, NULL, NULL, NULL, 0), 0);
	for (int i = 0; i < MANY; i++) {
		char body[32];
		int len = snprintf(body, sizeof body, "content %d", i);
		struct fuse_attr a;
		assert_int_equal(getattr(e, ids[i], &a), 0);
		assert_int_equal(a.size, len);
		uint64_t fh = open_ok(e, ids[i], O_RDONLY, NULL);
		assert_int_equal(pread_(e, ids[i], fh, 0, 4096), len);
		assert_memory_equal(e->out, body, len);
		release(e, ids[i], fh);
		if (i % 1000 == 0)
			assert_true(pt_open_fds(e->fs) <= MAXFDS + SLACK);
	}
	as_root(e);

	/* an inode whose fd was evicted keeps working once unlinked */
	assert_int_equal(call(e, FUSE_UNLINK, dir, NULL, 0, "f00000", NULL, NULL, 0), 0);
	struct fuse_attr a;
	assert_int_equal(getattr(e, ids[0], &a), 0);
	assert_int_equal(a.nlink, 0);

	for (int i = 0; i < MANY; i++)
		forget(e, ids[i], 1);
	forget(e, dir, 1);
	assert_true(pt_open_fds(e->fs) <= 2);    /* the root, plus nothing */
	env_free(e);
}

static int setup(void **state)
{
	*state = env_new(0);
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	/* every test forgets what it looked up: only the root is left */
	struct pt_fs *fs = (struct pt_fs *)e->fs;
	assert_int_equal(fs->hash_count, 1);
	env_free(e);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdirplus_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lseek_fallocate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setattr_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliased_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credentials, setup, teardown),
		cmocka_unit_test(test_writeback_opens),
		cmocka_unit_test(test_many_inodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
