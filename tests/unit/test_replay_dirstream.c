/* Description: replay/dirstream.c: readdir cookies remapped by entry position
 * (also when the target fills its replies differently), listings compared as
 * sets at the end of the stream by default and in order with --readdir-order,
 * unknown cookies refused with a reason, READDIRPLUS entries matched by name
 * and the target's unmatched ones handed back (they hold lookup references).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dirstream.h"

struct listing {
	uint8_t b[4096];
	uint32_t len;
};

static void add(struct listing *l, bool plus, uint64_t nodeid, uint64_t off, uint32_t type,
		const char *name)
{
	size_t fixed = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	size_t nl = strlen(name), rec = FUSE_DIRENT_ALIGN(fixed + nl);
	struct fuse_direntplus e;

	memset(&e, 0, sizeof e);
	e.entry_out.nodeid = nodeid;
	e.entry_out.attr.ino = nodeid;
	e.entry_out.attr.mode = type << 12;
	e.dirent.ino = nodeid;
	e.dirent.off = off;
	e.dirent.namelen = (uint32_t)nl;
	e.dirent.type = type;
	memset(l->b + l->len, 0, rec);
	if (plus)
		memcpy(l->b + l->len, &e, fixed);
	else
		memcpy(l->b + l->len, &e.dirent, fixed);
	memcpy(l->b + l->len + fixed, name, nl);
	l->len += (uint32_t)rec;
}

static struct rp_opts opts(void)
{
	struct rp_opts o;
	memset(&o, 0, sizeof o);
	o.compare = RP_CMP_SEMANTIC;
	return o;
}

/* One READDIR of both sides at recorded cookie `off`. */
static bool step(struct rp_ds *ds, const struct rp_opts *o, uint64_t off, uint64_t want_got_off,
		 const struct listing *rec, const struct listing *got, struct sbuf *d)
{
	struct ds_pos pos;
	uint64_t g;
	char why[200];

	assert_int_equal(ds_map(ds, off, &g, &pos, why, sizeof why), 0);
	assert_int_equal(g, want_got_off);
	sb_free(d);
	return ds_feed(ds, o, false, &pos, rec->b, rec->len, false, got->b, got->len, NULL, d);
}

static void test_sets(void **state)
{
	struct rp_opts o = opts();
	struct listing r1 = { .len = 0 }, r2 = r1, g1 = r1, g2 = r1, empty = r1;
	struct sbuf d = { 0 };
	struct rp_ds *ds = ds_new();
	char why[200];
	uint64_t g;
	struct ds_pos pos;

	(void)state;
	/* recorded: . .. a b | c | end;  target: c a . | .. b | end (its own cookies) */
	add(&r1, false, 1, 11, 4, ".");
	add(&r1, false, 1, 12, 4, "..");
	add(&r1, false, 5, 13, 8, "a");
	add(&r1, false, 6, 14, 8, "b");
	add(&r2, false, 7, 15, 8, "c");
	add(&g1, false, 70, 901, 8, "c");
	add(&g1, false, 50, 902, 8, "a");
	add(&g1, false, 1, 903, 4, ".");
	add(&g2, false, 1, 904, 4, "..");
	add(&g2, false, 60, 905, 8, "b");
	assert_true(step(ds, &o, 0, 0, &r1, &g1, &d));
	/* the recording continues after its entry 4; the target has only 3 so
	 * far, so it continues after its own third */
	assert_true(step(ds, &o, 14, 903, &r2, &g2, &d));
	/* continuing after recorded entry 5 = the target's entry 5 */
	assert_true(step(ds, &o, 15, 905, &empty, &empty, &d));
	assert_string_equal(sb_str(&d), "");
	/* a cookie this handle never handed out */
	assert_int_equal(ds_map(ds, 4242, &g, &pos, why, sizeof why), -ENOENT);
	assert_non_null(strstr(why, "cookie 0x1092 was never handed out"));
	ds_free(ds, NULL);

	/* the target misses "b" and lists "z" */
	ds = ds_new();
	g2.len = 0;
	add(&g2, false, 1, 904, 4, "..");
	add(&g2, false, 90, 905, 8, "z");
	assert_true(step(ds, &o, 0, 0, &r1, &g1, &d));
	assert_true(step(ds, &o, 14, 903, &r2, &g2, &d));
	assert_false(step(ds, &o, 15, 905, &empty, &empty, &d));
	assert_non_null(strstr(sb_str(&d), "\"b\": listed in the recording only\n"));
	assert_non_null(strstr(sb_str(&d), "\"z\": listed by the target only\n"));
	ds_free(ds, NULL);

	/* --readdir-order: the same sets in another order are a difference */
	o.readdir_order = true;
	ds = ds_new();
	assert_false(step(ds, &o, 0, 0, &r1, &g1, &d));
	assert_non_null(strstr(sb_str(&d), "entry 0: recorded \".\", replayed \"c\"\n"));
	assert_non_null(strstr(sb_str(&d), "entry 3: \"b\" listed in the recording only\n"));
	ds_free(ds, NULL);
	sb_free(&d);
}

struct seen {
	int match, got_only;
	char names[8][16];
};

static void on_match(void *arg, const char *name, const struct fuse_direntplus *rec,
		     const struct fuse_direntplus *got, struct sbuf *diff)
{
	struct seen *s = arg;
	(void)diff;
	assert_int_equal(rec->entry_out.nodeid * 10, got->entry_out.nodeid);
	snprintf(s->names[s->match++ % 8], 16, "%s", name);
}

static void on_got_only(void *arg, const char *name, const struct fuse_direntplus *got)
{
	struct seen *s = arg;
	assert_string_equal(name, "extra");
	assert_int_equal(got->entry_out.nodeid, 990);
	s->got_only++;
}

static void test_plus(void **state)
{
	struct rp_opts o = opts();
	struct listing r = { .len = 0 }, g = r;
	struct seen s;
	struct ds_cb cb = { on_match, on_got_only, &s };
	struct sbuf d = { 0 };
	struct rp_ds *ds = ds_new();
	struct ds_pos pos;
	uint64_t off;
	char why[100];

	(void)state;
	memset(&s, 0, sizeof s);
	add(&r, true, 2, 1, 8, "x");
	add(&r, true, 3, 2, 8, "y");
	add(&g, true, 30, 7, 8, "y");
	add(&g, true, 990, 8, 8, "extra");
	add(&g, true, 20, 9, 8, "x");
	assert_int_equal(ds_map(ds, 0, &off, &pos, why, sizeof why), 0);
	assert_true(ds_feed(ds, &o, true, &pos, r.b, r.len, false, g.b, g.len, &cb, &d));
	assert_int_equal(s.match, 2);
	assert_string_equal(s.names[0], "y");
	assert_string_equal(s.names[1], "x");
	assert_int_equal(s.got_only, 0);
	ds_free(ds, &cb);	/* the handle is released: "extra" goes back */
	assert_int_equal(s.got_only, 1);
	sb_free(&d);
}

static void count(void *arg, const char *name, size_t namelen, const struct fuse_direntplus *e)
{
	(void)name;
	(void)namelen;
	(void)e;
	(*(int *)arg)++;
}

static void test_parse(void **state)
{
	struct listing l = { .len = 0 };
	int n = 0;

	(void)state;
	add(&l, false, 1, 1, 8, "abc");
	add(&l, false, 2, 2, 8, "defgh");
	assert_int_equal(ds_parse(l.b, l.len, false, count, &n), 2);
	/* the last record without its padding is whole */
	assert_int_equal(ds_parse(l.b, l.len - 3, false, NULL, NULL), 2);
	/* a name running past the end is not */
	n = 0;
	assert_int_equal(ds_parse(l.b, l.len - 4, false, count, &n), -EPROTO);
	assert_int_equal(n, 1);
	/* namelen beyond NAME_MAX */
	struct fuse_dirent e = { .namelen = 100000 };
	memcpy(l.b, &e, sizeof e);
	assert_int_equal(ds_parse(l.b, l.len, false, NULL, NULL), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_plus),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
