/* Description: replay/compare.c, recorded reply vs the target's: errors and
 * --tolerate maps, negative entries as ENOENT, the attribute fields semantic
 * mode compares (and those only --strict-attrs or --compare strict do), read
 * data with a prefix the trace cut, xattr name lists as sets, volatile statfs
 * fields, interrupted requests, fixed-size length checks, --compare none; and
 * the --tolerate/errno parsers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "compare.h"
#include "fuse_kernel.h"

struct msg {
	struct fuse_out_header h;
	uint8_t p[8192];
};

static uint32_t mk(struct msg *m, int err, const void *payload, uint32_t len)
{
	memset(m, 0, sizeof *m);
	m->h.len = (uint32_t)sizeof m->h + len;
	m->h.error = err;
	m->h.unique = 2;
	if (len)
		memcpy(m->p, payload, len);
	return m->h.len;
}

static struct rp_opts opts(int mode)
{
	struct rp_opts o;
	memset(&o, 0, sizeof o);
	o.compare = mode;
	return o;
}

/* Compare two replies of opcode op; returns the verdict, diff text in d. */
static bool cmp(const struct rp_opts *o, uint32_t op, const struct fuse_req_view *v,
		uint32_t flags, const struct msg *a, uint32_t akept, const struct msg *b,
		struct sbuf *d)
{
	struct rp_cmp c = { o, op, v, flags, a, akept, a->h.len, b, b->h.len };
	sb_free(d);
	return rp_compare_reply(&c, d);
}

static struct fuse_attr file_attr(void)
{
	struct fuse_attr a;
	memset(&a, 0, sizeof a);
	a.ino = 100;
	a.size = 10;
	a.mode = S_IFREG | 0644;
	a.nlink = 1;
	a.uid = 1000;
	a.gid = 100;
	a.mtime = 12345;
	a.blocks = 8;
	return a;
}

static void test_errors(void **state)
{
	struct rp_opts o = opts(RP_CMP_SEMANTIC);
	struct msg a, b;
	struct sbuf d = { 0 };
	struct fuse_attr_out ao = { .attr = file_attr() };

	(void)state;
	mk(&a, -ENOENT, NULL, 0);
	mk(&b, -ENOENT, NULL, 0);
	assert_true(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	mk(&b, 0, &ao, sizeof ao);
	assert_false(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "error: recorded ENOENT, replayed success\n");
	mk(&b, -EACCES, NULL, 0);
	assert_false(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "error: recorded ENOENT, replayed EACCES\n");

	/* --tolerate ENOENT=EACCES accepts exactly that pair */
	struct rp_tolerance t[] = { { ENOENT, EACCES }, { ENOSYS, -1 } };
	o.tol = t;
	o.ntol = 2;
	assert_true(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	assert_false(cmp(&o, FUSE_GETATTR, NULL, 0, &b, b.h.len, &a, &d));
	mk(&a, -ENOSYS, NULL, 0);
	mk(&b, 0, &ao, sizeof ao);
	assert_true(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));	/* ENOSYS=* */

	/* --compare none: any answer is an answer */
	o = opts(RP_CMP_NONE);
	assert_true(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	sb_free(&d);
}

static void test_negative_entry(void **state)
{
	struct rp_opts o = opts(RP_CMP_SEMANTIC);
	struct fuse_entry_out neg;
	struct msg a, b;
	struct sbuf d = { 0 };

	(void)state;
	memset(&neg, 0, sizeof neg);
	neg.entry_valid = 1;
	mk(&a, 0, &neg, sizeof neg);	/* nodeid 0: cache "no such name" */
	mk(&b, -ENOENT, NULL, 0);
	assert_true(cmp(&o, FUSE_LOOKUP, NULL, 0, &a, a.h.len, &b, &d));
	assert_true(cmp(&o, FUSE_LOOKUP, NULL, 0, &b, b.h.len, &a, &d));
	o.compare = RP_CMP_STRICT;
	assert_false(cmp(&o, FUSE_LOOKUP, NULL, 0, &a, a.h.len, &b, &d));
	sb_free(&d);
}

static void test_attrs(void **state)
{
	struct rp_opts o = opts(RP_CMP_SEMANTIC);
	struct fuse_attr_out x = { .attr = file_attr() }, y = x;
	struct msg a, b;
	struct sbuf d = { 0 };

	(void)state;
	/* ids, times and blocks differ: semantic mode does not care */
	y.attr.ino = 999;
	y.attr.mtime = 99999;
	y.attr.blocks = 16;
	y.attr_valid = 7;
	mk(&a, 0, &x, sizeof x);
	mk(&b, 0, &y, sizeof y);
	assert_true(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	o.strict_attrs = true;
	assert_false(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	assert_non_null(strstr(sb_str(&d), "ino: recorded 100, replayed 999\n"));
	assert_non_null(strstr(sb_str(&d), "mtime: recorded 12345.000000000, replayed 99999.000000000\n"));
	assert_non_null(strstr(sb_str(&d), "blocks: recorded 8, replayed 16\n"));
	assert_non_null(strstr(sb_str(&d), "attr_valid"));
	o.strict_attrs = false;

	/* what it does care about */
	y = x;
	y.attr.size = 4106;
	mk(&b, 0, &y, sizeof y);
	assert_false(cmp(&o, FUSE_SETATTR, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "size: recorded 10, replayed 4106\n");
	y = x;
	y.attr.mode = S_IFREG | 0600;
	y.attr.nlink = 2;
	y.attr.uid = 0;
	mk(&b, 0, &y, sizeof y);
	assert_false(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "mode: recorded 0644, replayed 0600\n"
			    "nlink: recorded 1, replayed 2\nuid: recorded 1000, replayed 0\n");
	y = x;
	y.attr.mode = S_IFDIR | 0644;
	mk(&b, 0, &y, sizeof y);
	assert_false(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "type: recorded regular file, replayed directory\n");

	/* a directory's size is the filesystem's own business */
	x.attr.mode = y.attr.mode = S_IFDIR | 0755;
	x.attr.size = 4096;
	y.attr.size = 60;
	mk(&a, 0, &x, sizeof x);
	mk(&b, 0, &y, sizeof y);
	assert_true(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));
	o.compare = RP_CMP_STRICT;
	assert_false(cmp(&o, FUSE_GETATTR, NULL, 0, &a, a.h.len, &b, &d));

	/* entry replies: attributes, and a node vs a negative entry */
	struct fuse_entry_out e1 = { .nodeid = 5, .attr = file_attr() }, e2 = e1;
	o = opts(RP_CMP_SEMANTIC);
	e2.nodeid = 77;		/* ids are the target's own */
	e2.generation = 3;
	mk(&a, 0, &e1, sizeof e1);
	mk(&b, 0, &e2, sizeof e2);
	assert_true(cmp(&o, FUSE_MKDIR, NULL, 0, &a, a.h.len, &b, &d));
	e2.nodeid = 0;
	mk(&b, 0, &e2, sizeof e2);
	assert_false(cmp(&o, FUSE_MKNOD, NULL, 0, &a, a.h.len, &b, &d));

	/* a fixed reply of the wrong length */
	mk(&b, 0, &e1, sizeof e1 - 8);
	assert_false(cmp(&o, FUSE_MKNOD, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "length: recorded 128 bytes, replayed 120 bytes\n");
	sb_free(&d);
}

static void test_data(void **state)
{
	struct rp_opts o = opts(RP_CMP_SEMANTIC);
	struct msg a, b;
	struct sbuf d = { 0 };
	char x[100], y[100];

	(void)state;
	memset(x, 'x', sizeof x);
	memcpy(y, x, sizeof y);
	mk(&a, 0, x, sizeof x);
	mk(&b, 0, y, sizeof y);
	assert_true(cmp(&o, FUSE_READ, NULL, 0, &a, a.h.len, &b, &d));
	y[37] = 'Y';
	mk(&b, 0, y, sizeof y);
	assert_false(cmp(&o, FUSE_READ, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "data: first difference at byte 37: recorded 0x78, "
			    "replayed 0x59\n");
	/* the trace kept the first 30 bytes only: those and the length count */
	assert_true(cmp(&o, FUSE_READ, NULL, 0, &a, (uint32_t)sizeof a.h + 30, &b, &d));
	mk(&b, 0, y, 90);
	assert_false(cmp(&o, FUSE_READ, NULL, 0, &a, (uint32_t)sizeof a.h + 30, &b, &d));
	assert_string_equal(sb_str(&d), "data: recorded 100 bytes, replayed 90 bytes\n");

	/* READLINK */
	mk(&a, 0, "target", 6);
	mk(&b, 0, "targex", 6);
	assert_false(cmp(&o, FUSE_READLINK, NULL, 0, &a, a.h.len, &b, &d));

	/* WRITE: the size written */
	struct fuse_write_out w1 = { 4096, 0 }, w2 = { 100, 0 };
	mk(&a, 0, &w1, sizeof w1);
	mk(&b, 0, &w2, sizeof w2);
	assert_false(cmp(&o, FUSE_WRITE, NULL, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "size: recorded 4096, replayed 100\n");
	sb_free(&d);
}

static void test_xattr(void **state)
{
	struct rp_opts o = opts(RP_CMP_SEMANTIC);
	struct fuse_in_header h = { .opcode = FUSE_LISTXATTR };
	struct fuse_getxattr_in gi = { .size = 4096 };
	struct fuse_req_view v = { .h = &h, .fixed = &gi, .fixed_len = sizeof gi };
	struct msg a, b;
	struct sbuf d = { 0 };

	(void)state;
	mk(&a, 0, "user.a\0user.b\0", 14);
	mk(&b, 0, "user.b\0user.a\0", 14);
	assert_true(cmp(&o, FUSE_LISTXATTR, &v, 0, &a, a.h.len, &b, &d));
	mk(&b, 0, "user.b\0user.c\0", 14);
	assert_false(cmp(&o, FUSE_LISTXATTR, &v, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "xattr \"user.a\": listed in the recording only\n"
			    "xattr \"user.c\": listed by the target only\n");
	o.compare = RP_CMP_STRICT;	/* bytes, so order too */
	mk(&b, 0, "user.b\0user.a\0", 14);
	assert_false(cmp(&o, FUSE_LISTXATTR, &v, 0, &a, a.h.len, &b, &d));

	/* a size query compares sizes */
	o.compare = RP_CMP_SEMANTIC;
	gi.size = 0;
	h.opcode = FUSE_GETXATTR;
	struct fuse_getxattr_out s1 = { 5, 0 }, s2 = { 6, 0 };
	mk(&a, 0, &s1, sizeof s1);
	mk(&b, 0, &s2, sizeof s2);
	assert_false(cmp(&o, FUSE_GETXATTR, &v, 0, &a, a.h.len, &b, &d));
	assert_string_equal(sb_str(&d), "size: recorded 5, replayed 6\n");
	gi.size = 64;
	mk(&a, 0, "value", 5);
	mk(&b, 0, "value", 5);
	assert_true(cmp(&o, FUSE_GETXATTR, &v, 0, &a, a.h.len, &b, &d));
	sb_free(&d);
}

static void test_statfs_interrupt(void **state)
{
	struct rp_opts o = opts(RP_CMP_SEMANTIC);
	struct fuse_statfs_out x, y;
	struct msg a, b;
	struct sbuf d = { 0 };

	(void)state;
	memset(&x, 0, sizeof x);
	x.st.bsize = 4096;
	x.st.namelen = 255;
	x.st.bfree = 1000;
	y = x;
	y.st.bfree = 999;	/* changes with every write */
	mk(&a, 0, &x, sizeof x);
	mk(&b, 0, &y, sizeof y);
	assert_true(cmp(&o, FUSE_STATFS, NULL, 0, &a, a.h.len, &b, &d));
	o.compare = RP_CMP_STRICT;
	assert_false(cmp(&o, FUSE_STATFS, NULL, 0, &a, a.h.len, &b, &d));
	o.compare = RP_CMP_SEMANTIC;
	y.st.namelen = 1024;
	mk(&b, 0, &y, sizeof y);
	assert_false(cmp(&o, FUSE_STATFS, NULL, 0, &a, a.h.len, &b, &d));

	/* an interrupted READ may end with EINTR or with its data */
	mk(&a, 0, "data", 4);
	mk(&b, -EINTR, NULL, 0);
	assert_false(cmp(&o, FUSE_READ, NULL, 0, &a, a.h.len, &b, &d));
	assert_true(cmp(&o, FUSE_READ, NULL, FP_TRACE_F_INTERRUPTED, &a, a.h.len, &b, &d));
	assert_true(cmp(&o, FUSE_READ, NULL, FP_TRACE_F_INTERRUPTED, &b, b.h.len, &a, &d));
	sb_free(&d);
}

static void test_parsers(void **state)
{
	struct rp_tolerance *t = NULL;
	char err[128];
	int n = 0, e;

	(void)state;
	assert_int_equal(rp_parse_errno("ENOENT", &e), 0);
	assert_int_equal(e, ENOENT);
	assert_int_equal(rp_parse_errno("eacces", &e), 0);
	assert_int_equal(e, EACCES);
	assert_int_equal(rp_parse_errno("5", &e), 0);
	assert_int_equal(e, 5);
	assert_int_equal(rp_parse_errno("OK", &e), 0);
	assert_int_equal(e, 0);
	assert_int_equal(rp_parse_errno("*", &e), 0);
	assert_int_equal(e, -1);
	assert_int_equal(rp_parse_errno("EWHAT", &e), -EINVAL);
	assert_int_equal(rp_parse_tolerate("ENOSYS=*,0=ENOENT,EPERM=EACCES", &t, &n, err,
					   sizeof err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(t[0].rec, ENOSYS);
	assert_int_equal(t[0].got, -1);
	assert_int_equal(t[1].rec, 0);
	assert_int_equal(t[1].got, ENOENT);
	assert_int_equal(t[2].got, EACCES);
	assert_int_equal(rp_parse_tolerate("ENOENT", &t, &n, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "is not REC=NEW"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_negative_entry),
		cmocka_unit_test(test_attrs),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_xattr),
		cmocka_unit_test(test_statfs_interrupt),
		cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
