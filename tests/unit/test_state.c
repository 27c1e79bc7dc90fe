/* Description: the forwarder's state tables (proxy/state.c): nodes with their two ids,
 * names and lookup counts, handles, locks and poll handles, before and after a
 * backend restart (new generation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"

#define RENAME_EXCHANGE_ (1 << 1)

static struct fuse_entry_out ent(uint64_t nodeid, uint64_t ino, uint32_t mode)
{
	struct fuse_entry_out e;
	memset(&e, 0, sizeof e);
	e.nodeid = nodeid;
	e.attr.ino = ino;
	e.attr.mode = mode;
	e.attr.size = 10;
	return e;
}

static uint64_t add(struct fp_state *st, uint64_t parent, const char *name, uint64_t b,
		    uint64_t ino, uint32_t mode)
{
	struct fuse_entry_out e = ent(b, ino, mode);
	assert_int_equal(fp_state_entry(st, parent, name, strlen(name), &e, 0), 0);
	return e.nodeid;
}

static int setup(void **s)
{
	static struct fp_state st;
	assert_int_equal(fp_state_init(&st), 0);
	*s = &st;
	return 0;
}

static int teardown(void **s)
{
	fp_state_fini(*s);
	return 0;
}

/* Before any restart ids are the backend's and counts go both ways. */
static void identity_and_counts(void **s)
{
	struct fp_state *st = *s;
	struct fp_state_counts c;
	uint64_t b = 0;

	assert_int_equal(add(st, FP_ROOT_ID, "a", 5, 100, S_IFREG | 0644), 5);
	assert_int_equal(add(st, FP_ROOT_ID, "a", 5, 100, S_IFREG | 0644), 5);
	fp_state_counts(st, &c);
	assert_int_equal(c.nodes, 2);		/* root + a */
	assert_int_equal(c.klookups, 2);
	assert_int_equal(c.blookups, 2);
	assert_int_equal(fp_state_k2b_node(st, 5, &b), 0);
	assert_int_equal(b, 5);
	/* FORGET 1 of 2: the backend forgets 1 too */
	assert_int_equal(fp_state_forget(st, 5, 1, &b), 1);
	assert_int_equal(b, 5);
	assert_int_equal(fp_state_forget(st, 5, 1, &b), 1);
	fp_state_counts(st, &c);
	assert_int_equal(c.nodes, 1);
	assert_int_equal(c.klookups, 0);
	assert_int_equal(c.blookups, 0);
	/* unknown before a restart: passed on as it is */
	assert_int_equal(fp_state_forget(st, 77, 3, &b), 3);
	assert_int_equal(b, 77);
	/* a negative entry hands nothing out */
	struct fuse_entry_out e = ent(0, 0, 0);
	assert_int_equal(fp_state_entry(st, FP_ROOT_ID, "x", 1, &e, 0), 0);
	fp_state_counts(st, &c);
	assert_int_equal(c.nodes, 1);
}

static void names(void **s)
{
	struct fp_state *st = *s;
	uint64_t d = add(st, FP_ROOT_ID, "d", 2, 20, S_IFDIR | 0755);
	uint64_t x = add(st, d, "x", 3, 30, S_IFREG | 0644);
	uint64_t y = add(st, d, "y", 4, 40, S_IFREG | 0644);
	struct fp_node *n;

	pthread_mutex_lock(&st->lock);
	assert_ptr_equal(fp_state_lookup_name_locked(st, d, "x"),
			 fp_state_node_locked(st, x));
	pthread_mutex_unlock(&st->lock);
	/* rename x over y: y loses its name */
	fp_state_rename(st, d, "x", d, "y", 0);
	pthread_mutex_lock(&st->lock);
	n = fp_state_lookup_name_locked(st, d, "y");
	assert_non_null(n);
	assert_int_equal(n->knode, x);
	assert_null(fp_state_lookup_name_locked(st, d, "x"));
	assert_null(fp_state_node_locked(st, y)->name);
	pthread_mutex_unlock(&st->lock);
	/* and into another directory */
	fp_state_rename(st, d, "y", FP_ROOT_ID, "y", 0);
	pthread_mutex_lock(&st->lock);
	assert_int_equal(fp_state_lookup_name_locked(st, FP_ROOT_ID, "y")->knode, x);
	assert_int_equal(fp_state_node_locked(st, x)->parent, FP_ROOT_ID);
	pthread_mutex_unlock(&st->lock);
	/* exchange */
	uint64_t z = add(st, d, "z", 5, 50, S_IFREG | 0644);
	fp_state_rename(st, FP_ROOT_ID, "y", d, "z", RENAME_EXCHANGE_);
	pthread_mutex_lock(&st->lock);
	assert_int_equal(fp_state_lookup_name_locked(st, d, "z")->knode, x);
	assert_int_equal(fp_state_lookup_name_locked(st, FP_ROOT_ID, "y")->knode, z);
	pthread_mutex_unlock(&st->lock);
	/* unlink */
	fp_state_unlink(st, d, "z");
	pthread_mutex_lock(&st->lock);
	assert_null(fp_state_lookup_name_locked(st, d, "z"));
	assert_null(fp_state_node_locked(st, x)->name);
	pthread_mutex_unlock(&st->lock);
	/* LINK keeps the first name */
	struct fuse_entry_out e = ent(5, 50, S_IFREG | 0644);
	fp_state_entry(st, d, "second", 6, &e, FP_ENTRY_KEEP_NAME);
	pthread_mutex_lock(&st->lock);
	assert_string_equal(fp_state_node_locked(st, z)->name, "y");
	pthread_mutex_unlock(&st->lock);
}

/* After a restart: ids unresolved, new backend ids that collide with the
 * kernel's get made-up kernel ids, a known name adopts its node. */
static void restart(void **s)
{
	struct fp_state *st = *s;
	uint64_t a = add(st, FP_ROOT_ID, "a", 2, 20, S_IFREG | 0644);
	uint64_t b = add(st, FP_ROOT_ID, "b", 3, 30, S_IFREG | 0644);
	uint64_t id = 0, out;
	struct fp_node *n;

	add(st, FP_ROOT_ID, "a", 2, 20, S_IFREG | 0644);	/* a: 2 kernel lookups */
	fp_state_new_generation(st);
	assert_int_equal(fp_state_k2b_node(st, a, &id), -EAGAIN);
	assert_int_equal(fp_state_k2b_node(st, FP_ROOT_ID, &id), 0);
	assert_int_equal(id, FP_ROOT_ID);
	assert_int_equal(fp_state_k2b_node(st, 999, &id), -ENOENT);

	/* the new backend calls "c" 2, which the kernel uses for "a" */
	uint64_t c = add(st, FP_ROOT_ID, "c", 2, 70, S_IFREG | 0644);
	assert_int_not_equal(c, 2);
	assert_true(c >= (1ull << 48));
	assert_int_equal(fp_state_b2k_node(st, 2), c);
	assert_int_equal(fp_state_k2b_node(st, c, &id), 0);
	assert_int_equal(id, 2);

	/* "b" comes back as 9 with the same ino: it is the kernel's b */
	assert_int_equal(add(st, FP_ROOT_ID, "b", 9, 30, S_IFREG | 0644), b);
	assert_int_equal(fp_state_k2b_node(st, b, &id), 0);
	assert_int_equal(id, 9);

	/* "a" re-resolved by the proxy: one backend lookup, the kernel's 2 */
	pthread_mutex_lock(&st->lock);
	n = fp_state_node_locked(st, a);
	fp_state_resolved_locked(st, n, 11, 1);
	pthread_mutex_unlock(&st->lock);
	out = fp_state_forget(st, a, 1, &id);
	assert_int_equal(out, 0);		/* the backend keeps 1 while the kernel has 1 */
	out = fp_state_forget(st, a, 1, &id);
	assert_int_equal(out, 1);
	assert_int_equal(id, 11);

	/* stale */
	pthread_mutex_lock(&st->lock);
	fp_state_stale_locked(st, fp_state_node_locked(st, c));
	pthread_mutex_unlock(&st->lock);
	assert_int_equal(fp_state_k2b_node(st, c, &id), -ESTALE);
	assert_int_equal(fp_state_forget(st, c, 1, &id), 0);	/* nothing owed */
	struct fp_state_counts cnt;
	fp_state_counts(st, &cnt);
	assert_int_equal(cnt.gen, 1);
}

static void handles(void **s)
{
	struct fp_state *st = *s;
	uint64_t n = add(st, FP_ROOT_ID, "f", 2, 20, S_IFREG | 0644);
	uint64_t fh = 7, fh2 = 7, bfh = 0;

	assert_int_equal(fp_state_open(st, n, &fh, O_RDONLY, 0, 0, 0), 0);
	assert_int_equal(fh, 7);
	/* the backend gives the same fh again: one entry, two opens */
	assert_int_equal(fp_state_open(st, n, &fh2, O_WRONLY | O_APPEND, 0, 0, 0), 0);
	assert_int_equal(fh2, 7);
	pthread_mutex_lock(&st->lock);
	struct fp_handle *h = fp_state_handle_locked(st, n, 7);
	assert_int_equal(h->refs, 2);
	assert_int_equal(h->open_flags & O_ACCMODE, O_RDWR);	/* reopenable for both */
	assert_true(h->open_flags & O_APPEND);
	pthread_mutex_unlock(&st->lock);
	assert_int_equal(fp_state_release(st, n, 7, &bfh), 1);
	assert_int_equal(bfh, 7);

	/* after a restart: not reopened -> nothing to release on the backend */
	fp_state_new_generation(st);
	assert_int_equal(fp_state_k2b_fh(st, n, 7, &bfh), -EAGAIN);
	pthread_mutex_lock(&st->lock);
	fp_state_reopened_locked(st, fp_state_handle_locked(st, n, 7), 40);
	pthread_mutex_unlock(&st->lock);
	assert_int_equal(fp_state_k2b_fh(st, n, 7, &bfh), 0);
	assert_int_equal(bfh, 40);
	/* a new open the backend calls 7 too is another kernel handle */
	uint64_t fh3 = 7;
	assert_int_equal(fp_state_open(st, n, &fh3, O_RDONLY, 0, 0, 0), 0);
	assert_int_not_equal(fh3, 7);
	assert_int_equal(fp_state_k2b_fh(st, n, fh3, &bfh), 0);
	assert_int_equal(bfh, 7);
	assert_int_equal(fp_state_release(st, n, 7, &bfh), 1);
	assert_int_equal(bfh, 40);
	assert_int_equal(fp_state_release(st, n, fh3, &bfh), 1);
	assert_int_equal(fp_state_k2b_fh(st, n, 7, &bfh), -ENOENT);
}

static int nlocks(struct fp_state *st)
{
	int n = 0;
	pthread_mutex_lock(&st->lock);
	for (struct fp_lock *l = st->locks; l; l = l->next)
		n++;
	pthread_mutex_unlock(&st->lock);
	return n;
}

static void locks(void **s)
{
	struct fp_state *st = *s;
	uint64_t n = add(st, FP_ROOT_ID, "f", 2, 20, S_IFREG | 0644), fh = 1, fh2 = 2, b;
	struct fuse_lk_in lk;

	fp_state_open(st, n, &fh, O_RDWR, 0, 0, 0);
	fp_state_open(st, n, &fh2, O_RDWR, 0, 0, 0);
	memset(&lk, 0, sizeof lk);
	lk.fh = 1;
	lk.owner = 0xa;
	lk.lk = (struct fuse_file_lock){ 0, 99, F_WRLCK, 1 };
	fp_state_lock(st, n, 1, &lk);
	assert_int_equal(nlocks(st), 1);
	/* unlock the middle: two ranges left */
	lk.lk = (struct fuse_file_lock){ 10, 19, F_UNLCK, 1 };
	fp_state_lock(st, n, 1, &lk);
	assert_int_equal(nlocks(st), 2);
	pthread_mutex_lock(&st->lock);
	uint64_t total = 0;
	for (struct fp_lock *l = st->locks; l; l = l->next)
		total += l->end - l->start + 1;
	pthread_mutex_unlock(&st->lock);
	assert_int_equal(total, 90);
	/* another owner's lock stays when this one unlocks everything */
	lk.owner = 0xb;
	lk.lk = (struct fuse_file_lock){ 200, 299, F_RDLCK, 2 };
	fp_state_lock(st, n, 2, &lk);
	fp_state_unlock_owner(st, n, 0xa);
	assert_int_equal(nlocks(st), 1);
	/* a flock lock goes with its handle; the POSIX lock moves to another */
	memset(&lk, 0, sizeof lk);
	lk.fh = 1;
	lk.lk_flags = FUSE_LK_FLOCK;
	lk.lk = (struct fuse_file_lock){ 0, 0, F_WRLCK, 3 };
	fp_state_lock(st, n, 1, &lk);
	assert_int_equal(nlocks(st), 2);
	fp_state_poll(st, n, 2, 0x55);
	assert_int_equal(fp_state_release(st, n, 1, &b), 1);
	assert_int_equal(nlocks(st), 1);
	assert_int_equal(fp_state_release(st, n, 2, &b), 1);
	assert_int_equal(nlocks(st), 0);	/* no handle left on the node */
	struct fp_state_counts c;
	fp_state_counts(st, &c);
	assert_int_equal(c.polls, 0);
	assert_int_equal(c.handles, 0);
}

/* FORGET in two steps (the kernel's side, then the backend's under the
 * forwarder's gate), with two FORGETs of one node interleaved: the second
 * one's backend step finds the node settled and gone, and must not pass its
 * count on as if the node were unknown. */
static void forget_two_steps(void **s)
{
	struct fp_state *st = *s;
	struct fuse_forget_one a = { 5, 1 }, u = { 77, 3 };
	struct fp_state_counts c;
	uint64_t pass = 9, b = 0;

	add(st, FP_ROOT_ID, "a", 5, 100, S_IFREG | 0644);
	add(st, FP_ROOT_ID, "a", 5, 100, S_IFREG | 0644);
	assert_int_equal(fp_state_kforget(st, -1, 10, &a, 1, &pass), 0);
	assert_int_equal(pass, 0);
	assert_int_equal(fp_state_kforget(st, -1, 12, &a, 1, &pass), 0);
	fp_state_counts(st, &c);
	assert_int_equal(c.klookups, 0);	/* the kernel's side is done */
	assert_int_equal(c.nodes, 2);		/* kept for its backend id */
	assert_int_equal(fp_state_forget_settle(st, 5, &b), 2);	/* both at once */
	assert_int_equal(b, 5);
	b = 0;
	assert_int_equal(fp_state_forget_settle(st, 5, &b), 0);	/* nothing left */
	assert_int_equal(b, 0);
	fp_state_counts(st, &c);
	assert_int_equal(c.nodes, 1);
	assert_int_equal(c.blookups, 0);
	/* unknown before a restart: the kernel's step says to pass it on */
	assert_int_equal(fp_state_kforget(st, -1, 14, &u, 1, &pass), 0);
	assert_int_equal(pass, 3);
	/* a node looked up again between the two steps keeps one on each side */
	add(st, FP_ROOT_ID, "a", 5, 100, S_IFREG | 0644);
	fp_state_kforget(st, -1, 16, &a, 1, NULL);
	add(st, FP_ROOT_ID, "a", 5, 100, S_IFREG | 0644);
	assert_int_equal(fp_state_forget_settle(st, 5, &b), 1);
	fp_state_counts(st, &c);
	assert_int_equal(c.klookups, 1);
	assert_int_equal(c.blookups, 1);
}

/* Many nodes: the hash tables grow and keep every one findable. */
static void many(void **s)
{
	struct fp_state *st = *s;
	char name[32];
	uint64_t b;

	for (uint64_t i = 0; i < 20000; i++) {
		snprintf(name, sizeof name, "n%llu", (unsigned long long)i);
		assert_int_equal(add(st, FP_ROOT_ID, name, i + 2, i + 100, S_IFREG), i + 2);
	}
	for (uint64_t i = 0; i < 20000; i += 997) {
		assert_int_equal(fp_state_k2b_node(st, i + 2, &b), 0);
		snprintf(name, sizeof name, "n%llu", (unsigned long long)i);
		pthread_mutex_lock(&st->lock);
		assert_int_equal(fp_state_lookup_name_locked(st, FP_ROOT_ID, name)->knode, i + 2);
		pthread_mutex_unlock(&st->lock);
	}
	for (uint64_t i = 0; i < 20000; i++)
		assert_int_equal(fp_state_forget(st, i + 2, 1, &b), 1);
	struct fp_state_counts c;
	fp_state_counts(st, &c);
	assert_int_equal(c.nodes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(identity_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(names, setup, teardown),
		cmocka_unit_test_setup_teardown(restart, setup, teardown),
		cmocka_unit_test_setup_teardown(handles, setup, teardown),
		cmocka_unit_test_setup_teardown(locks, setup, teardown),
		cmocka_unit_test_setup_teardown(many, setup, teardown),
		cmocka_unit_test_setup_teardown(forget_two_steps, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
