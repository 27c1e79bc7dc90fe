/* Description: analyze/paths.c, nodeid -> path from a trace's entry
 * history.  LOOKUP/MKDIR/CREATE/LINK/READDIRPLUS name nodes; RENAME moves
 * files and whole directories, RENAME2 EXCHANGE swaps, a rename over an
 * existing name and UNLINK/RMDIR leave "(deleted)" nodes; FORGET ends a
 * node only when its lookup count reaches 0; failed replies change
 * nothing; nodes and ancestors the trace never named are "(unknown)";
 * names cut by the snaplen do not crash; the gone() hook sees each node
 * with statistics exactly once, with its last path.
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

#include "fuse_kernel.h"
#include "paths.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1u << 1)
#endif

static uint8_t req[8192], rep[8192];
static uint64_t unique = 2;
static const struct fuse_wire_params wp = { .minor = 45 };
static struct an_paths *P;

static struct fp_trace_exchange x_make(uint32_t op, uint64_t node, const void *fixed, size_t flen,
				       const char *n1, const char *n2, int32_t error,
				       const void *payload, size_t plen, bool reply)
{
	struct fuse_in_header ih = { .opcode = op, .unique = unique, .nodeid = node };
	struct fuse_out_header oh = { .error = error, .unique = unique };
	struct fp_trace_exchange x = { .unique = unique, .opcode = op, .nodeid = node,
				       .error = error, .req = req, .reply = rep };
	size_t len = sizeof ih;

	unique += 2;
	if (flen)
		memcpy(req + len, fixed, flen), len += flen;
	if (n1)
		memcpy(req + len, n1, strlen(n1) + 1), len += strlen(n1) + 1;
	if (n2)
		memcpy(req + len, n2, strlen(n2) + 1), len += strlen(n2) + 1;
	ih.len = (uint32_t)len;
	memcpy(req, &ih, sizeof ih);
	x.req_len = x.req_caplen = (uint32_t)len;
	if (reply) {
		oh.len = (uint32_t)(sizeof oh + plen);
		memcpy(rep, &oh, sizeof oh);
		if (plen)
			memcpy(rep + sizeof oh, payload, plen);
		x.reply_len = x.reply_caplen = oh.len;
	} else {
		x.reply = NULL;
		x.flags = FP_TRACE_F_NOREPLY;
	}
	return x;
}

static void apply(struct fp_trace_exchange x)
{
	assert_int_equal(an_paths_apply(P, &x, &wp), 0);
}

static void entry(uint32_t op, uint64_t dir, const char *name, uint64_t node)
{
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} r = { .e.nodeid = node };
	struct fuse_mkdir_in mi = { .mode = 0755 };
	struct fuse_create_in ci = { .flags = 0101, .mode = 0644 };
	const void *fixed = op == FUSE_MKDIR ? (const void *)&mi : op == FUSE_CREATE ? (const void *)&ci : NULL;
	size_t flen = op == FUSE_MKDIR ? sizeof mi : op == FUSE_CREATE ? sizeof ci : 0;

	apply(x_make(op, dir, fixed, flen, name, NULL, 0, &r,
		     op == FUSE_CREATE ? sizeof r : sizeof r.e, true));
}

static void rename2(uint64_t od, const char *on, uint64_t nd, const char *nn, uint32_t flags)
{
	struct fuse_rename2_in r = { .newdir = nd, .flags = flags };

	apply(x_make(FUSE_RENAME2, od, &r, sizeof r, on, nn, 0, NULL, 0, true));
}

static void rename1(uint64_t od, const char *on, uint64_t nd, const char *nn)
{
	struct fuse_rename_in r = { .newdir = nd };

	apply(x_make(FUSE_RENAME, od, &r, sizeof r, on, nn, 0, NULL, 0, true));
}

static void unlink_(uint32_t op, uint64_t dir, const char *name)
{
	apply(x_make(op, dir, NULL, 0, name, NULL, 0, NULL, 0, true));
}

static void forget(uint64_t node, uint64_t n)
{
	struct fuse_forget_in fi = { .nlookup = n };

	apply(x_make(FUSE_FORGET, node, &fi, sizeof fi, NULL, NULL, 0, NULL, 0, false));
}

#define PATH_IS(node, want) do {                                        \
	char b_[512];                                                   \
	an_paths_resolve(P, (node), b_, sizeof b_);                     \
	assert_string_equal(b_, (want));                                \
} while (0)

static int setup(void **state)
{
	(void)state;
	P = an_paths_new(NULL, NULL);
	return P ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	an_paths_free(P);
	P = NULL;
	return 0;
}

static void test_rename_and_dirs(void **state)
{
	(void)state;
	PATH_IS(1, "/");
	entry(FUSE_MKDIR, 1, "a", 2);
	entry(FUSE_MKDIR, 2, "b", 3);
	entry(FUSE_CREATE, 3, "f", 4);
	PATH_IS(4, "/a/b/f");
	rename1(3, "f", 2, "g");
	PATH_IS(4, "/a/g");
	rename2(1, "a", 1, "z", 0);         /* a directory: children follow */
	PATH_IS(4, "/z/g");
	PATH_IS(3, "/z/b");
	entry(FUSE_CREATE, 3, "x", 5);
	entry(FUSE_CREATE, 3, "y", 6);
	rename2(3, "x", 3, "y", RENAME_EXCHANGE);
	PATH_IS(5, "/z/b/y");
	PATH_IS(6, "/z/b/x");
	rename1(3, "x", 3, "y");            /* over an existing name */
	PATH_IS(6, "/z/b/y");
	PATH_IS(5, "/z/b/y (deleted)");
}

static void test_unlink_forget_counts(void **state)
{
	(void)state;
	entry(FUSE_LOOKUP, 1, "f", 7);
	entry(FUSE_LOOKUP, 1, "f", 7);      /* nlookup 2 */
	forget(7, 1);
	PATH_IS(7, "/f");                   /* one reference left */
	unlink_(FUSE_UNLINK, 1, "f");
	PATH_IS(7, "/f (deleted)");
	forget(7, 1);
	PATH_IS(7, "(unknown)");            /* gone */
	entry(FUSE_MKDIR, 1, "d", 7);       /* the nodeid comes back */
	PATH_IS(7, "/d");
	unlink_(FUSE_RMDIR, 1, "d");
	PATH_IS(7, "/d (deleted)");
	/* BATCH_FORGET */
	{
		struct {
			struct fuse_batch_forget_in b;
			struct fuse_forget_one one[2];
		} bf = { { .count = 2 }, { { .nodeid = 7, .nlookup = 1 }, { .nodeid = 99, .nlookup = 3 } } };

		apply(x_make(FUSE_BATCH_FORGET, 0, &bf, sizeof bf, NULL, NULL, 0, NULL, 0, false));
	}
	PATH_IS(7, "(unknown)");
}

static void test_failed_and_unknown(void **state)
{
	struct fuse_entry_out eo = { .nodeid = 8 };

	(void)state;
	/* a failed LOOKUP names nothing, a negative entry (nodeid 0) neither */
	apply(x_make(FUSE_LOOKUP, 1, NULL, 0, "nope", NULL, -ENOENT, NULL, 0, true));
	eo.nodeid = 0;
	apply(x_make(FUSE_LOOKUP, 1, NULL, 0, "neg", NULL, 0, &eo, sizeof eo, true));
	PATH_IS(8, "(unknown)");
	/* a failed UNLINK keeps the name */
	entry(FUSE_LOOKUP, 1, "keep", 8);
	apply(x_make(FUSE_UNLINK, 1, NULL, 0, "keep", NULL, -EBUSY, NULL, 0, true));
	PATH_IS(8, "/keep");
	/* mid-session: a parent never named */
	entry(FUSE_LOOKUP, 500, "child", 501);
	PATH_IS(501, "(unknown)/child");
	PATH_IS(500, "(unknown)");
	PATH_IS(12345, "(unknown)");
}

static void test_link_readdirplus(void **state)
{
	struct fuse_read_in ri = { .size = 4096 };
	struct fuse_link_in li = { .oldnodeid = 11 };
	struct fuse_entry_out eo = { .nodeid = 11 };
	const char *names[] = { ".", "..", "r1", "r2", "neg" };
	const uint64_t nodes[] = { 1, 1, 10, 11, 0 };
	uint8_t payload[1024];
	size_t len = 0;

	(void)state;
	memset(payload, 0, sizeof payload);
	for (int i = 0; i < 5; i++) {
		struct fuse_direntplus d;

		memset(&d, 0, sizeof d);
		d.entry_out.nodeid = nodes[i];
		d.dirent.namelen = (uint32_t)strlen(names[i]);
		memcpy(payload + len, &d, FUSE_NAME_OFFSET_DIRENTPLUS);
		memcpy(payload + len + FUSE_NAME_OFFSET_DIRENTPLUS, names[i], strlen(names[i]));
		len += FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + strlen(names[i]));
	}
	apply(x_make(FUSE_READDIRPLUS, 1, &ri, sizeof ri, NULL, NULL, 0, payload, len, true));
	PATH_IS(10, "/r1");
	PATH_IS(11, "/r2");
	PATH_IS(1, "/");                    /* "." and ".." left the root alone */
	apply(x_make(FUSE_LINK, 1, &li, sizeof li, "hard", NULL, 0, &eo, sizeof eo, true));
	PATH_IS(11, "/hard");
	/* a reply cut in the middle of an entry: the whole ones still count */
	entry(FUSE_MKDIR, 1, "dd", 20);
	{
		struct fp_trace_exchange x = x_make(FUSE_READDIRPLUS, 20, &ri, sizeof ri, NULL, NULL, 0,
						    payload, len, true);

		x.reply_caplen = (uint32_t)(16 + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 1) +
					    FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 2) + 40);
		x.flags |= FP_TRACE_F_REPLY_TRUNC;
		apply(x);
	}
	PATH_IS(10, "/r1");
}

static void test_cut_names_and_describe(void **state)
{
	char buf[256];
	struct fp_trace_exchange x;

	(void)state;
	entry(FUSE_MKDIR, 1, "dir", 30);
	/* LOOKUP whose name the snaplen cut (no NUL in the kept bytes) */
	x = x_make(FUSE_LOOKUP, 30, NULL, 0, "longname", NULL, 0, NULL, 0, true);
	x.req_caplen = 40 + 3;
	assert_true(an_paths_describe(P, &x, &wp, buf, sizeof buf) > 0);
	assert_string_equal(buf, "/dir/(unknown)");
	/* describe names the entry an op works on */
	x = x_make(FUSE_UNLINK, 30, NULL, 0, "a.txt", NULL, 0, NULL, 0, true);
	an_paths_describe(P, &x, &wp, buf, sizeof buf);
	assert_string_equal(buf, "/dir/a.txt");
	{
		struct fuse_rename_in r = { .newdir = 1 };

		x = x_make(FUSE_RENAME, 30, &r, sizeof r, "a.txt", "b.txt", 0, NULL, 0, true);
		an_paths_describe(P, &x, &wp, buf, sizeof buf);
		assert_string_equal(buf, "/dir/a.txt -> /b.txt");
	}
	x = x_make(FUSE_GETATTR, 30, NULL, 0, NULL, NULL, 0, NULL, 0, true);
	an_paths_describe(P, &x, &wp, buf, sizeof buf);
	assert_string_equal(buf, "/dir");
	/* a tiny buffer is cut, never overrun */
	an_paths_resolve(P, 30, buf, 3);
	assert_int_equal(strlen(buf), 2);
	/* a request without any bytes */
	x.req = NULL;
	x.req_caplen = 0;
	assert_int_equal(an_paths_apply(P, &x, &wp), 0);
}

static int gone_calls;
static char gone_path[256];

static void gone(void *arg, void *user, uint64_t nodeid, const char *path)
{
	(void)arg;
	(void)nodeid;
	gone_calls++;
	snprintf(gone_path, sizeof gone_path, "%s", path);
	free(user);
}

static void test_gone_hook(void **state)
{
	void **u;

	(void)state;
	an_paths_set_gone(P, gone, NULL);
	entry(FUSE_CREATE, 1, "s", 40);
	u = an_paths_user(P, 40);
	assert_non_null(u);
	*u = malloc(8);
	rename1(1, "s", 1, "t");
	forget(40, 1);
	assert_int_equal(gone_calls, 1);
	assert_string_equal(gone_path, "/t");
	u = an_paths_user(P, 41);           /* never named: created as unknown */
	*u = malloc(8);
	an_paths_release_users(P);
	assert_int_equal(gone_calls, 2);
	assert_string_equal(gone_path, "(unknown)");
	an_paths_release_users(P);          /* nothing left to release */
	assert_int_equal(gone_calls, 2);
}

static void test_many_nodes(void **state)
{
	char name[32], want[40];

	(void)state;
	/* grows the tables well past their start size */
	for (uint64_t i = 0; i < 50000; i++) {
		snprintf(name, sizeof name, "n%llu", (unsigned long long)i);
		entry(FUSE_LOOKUP, 1, name, 1000 + i);
	}
	for (uint64_t i = 0; i < 50000; i += 7) {
		snprintf(want, sizeof want, "/n%llu", (unsigned long long)i);
		PATH_IS(1000 + i, want);
	}
	for (uint64_t i = 0; i < 50000; i++)
		forget(1000 + i, 1);
	assert_int_equal(an_paths_count(P), 1);     /* the root */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rename_and_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_forget_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_readdirplus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_names_and_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_nodes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
