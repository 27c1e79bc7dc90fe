/* Description: the worker journal (proxy/journal.c) and its compaction
 * (proxy/jcompact.c): a snapshot of the tables written to the other region
 * and switched to must replay into the same tables as the log it replaces;
 * changes whose reply is not journaled yet, and replies not delivered, must
 * survive it; a kill -9 at any instant of a compaction leaves a journal that
 * replays into the same tables; a long run stays bounded; a worker's read
 * slots are mapped (in its page tables) before it reads, so that a kill -9
 * cannot cut the kernel's copy of a request short. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state.h"
#include "journal.h"
#include "jscan.h"
#include "jcompact.h"

#define JSIZE ((size_t)8 << 20)

struct fixture {
	int fd;
	struct fp_journal *j;
	struct fp_state st;      /* the live tables, journaled */
};

static int setup(void **s)
{
	static struct fixture fx;
	char err[128];

	fx.fd = fp_journal_create(JSIZE, 2, 4096);
	assert_true(fx.fd >= 0);
	fx.j = fp_journal_attach(fx.fd, err, sizeof err);
	assert_non_null(fx.j);
	assert_int_equal(fp_state_init(&fx.st), 0);
	fx.st.journal = fx.j;
	*s = &fx;
	return 0;
}

static int teardown(void **s)
{
	struct fixture *fx = *s;
	fp_state_fini(&fx->st);
	fp_journal_detach(fx->j);
	close(fx->fd);
	return 0;
}

/* ---- the tables as sorted text ----------------------------------------- */

struct text {
	char **l;
	size_t n, cap;
};

static void line(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->l = realloc(t->l, t->cap * sizeof *t->l);
		assert_non_null(t->l);
	}
	t->l[t->n++] = strdup(buf);
}

static void node_line(struct fp_node *n, void *arg)
{
	line(arg, "node %llu in %llu '%s' ino %llu gen %llu type %o lookups %llu size %llu",
	     (unsigned long long)n->knode, (unsigned long long)n->parent,
	     n->name ? n->name : "", (unsigned long long)n->ino,
	     (unsigned long long)n->generation, n->type, (unsigned long long)n->klookup,
	     (unsigned long long)n->size);
}

static void handle_line(struct fp_handle *h, void *arg)
{
	line(arg, "handle %llu/%llu flags %o/%x fopen %x refs %u dir %u",
	     (unsigned long long)h->knode, (unsigned long long)h->kfh, h->open_flags,
	     h->fuse_open_flags, h->fopen, h->refs, h->dir);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One string with every node, handle, lock and poll handle, sorted. */
static char *tables(struct fp_state *st)
{
	struct text t = { 0 };
	size_t len = 1;
	char *out;

	pthread_mutex_lock(&st->lock);
	fp_state_foreach_node_locked(st, node_line, &t);
	fp_state_foreach_handle_locked(st, handle_line, &t);
	for (struct fp_lock *l = st->locks; l; l = l->next)
		line(&t, "lock %llu/%llu owner %llx %llu-%llu type %u pid %u flock %u",
		     (unsigned long long)l->knode, (unsigned long long)l->kfh,
		     (unsigned long long)l->owner, (unsigned long long)l->start,
		     (unsigned long long)l->end, l->type, l->pid, l->flock);
	for (struct fp_poll *p = st->polls; p; p = p->next)
		line(&t, "poll %llu %llu/%llu", (unsigned long long)p->kh,
		     (unsigned long long)p->knode, (unsigned long long)p->kfh);
	pthread_mutex_unlock(&st->lock);
	qsort(t.l, t.n, sizeof *t.l, cmp);
	for (size_t i = 0; i < t.n; i++)
		len += strlen(t.l[i]) + 1;
	out = malloc(len);
	assert_non_null(out);
	out[0] = 0;
	for (size_t i = 0; i < t.n; i++) {
		strcat(out, t.l[i]);
		strcat(out, "\n");
		free(t.l[i]);
	}
	free(t.l);
	return out;
}

/* What a successor rebuilds from the journal (as takeover.c does), as text. */
static char *replayed(struct fp_journal *j)
{
	struct fp_jscan s;
	struct fp_state st;
	char *out;

	memset(&s, 0, sizeof s);
	assert_int_equal(fp_state_init(&st), 0);
	s.st = &st;
	assert_true(fp_journal_replay(j, fp_jscan_replies, &s) >= 0);
	assert_false(s.nomem);
	fp_journal_replay(j, fp_jscan_apply, &s);
	assert_int_equal(s.bad, 0);
	out = tables(&st);
	fp_state_fini(&st);
	fp_jscan_free(&s);
	return out;
}

/* The same, in a fresh mapping of the memfd (what a new worker sees). */
static char *replayed_fd(int fd)
{
	char err[128];
	struct fp_journal *j = fp_journal_attach(fd, err, sizeof err);
	char *out;

	assert_non_null(j);
	out = replayed(j);
	fp_journal_detach(j);
	return out;
}

/* ---- a workload on the live tables ------------------------------------- */

static uint64_t entry(struct fp_state *st, uint64_t parent, const char *name, uint64_t id,
		      uint32_t mode)
{
	struct fuse_entry_out e;
	memset(&e, 0, sizeof e);
	e.nodeid = id;
	e.generation = id * 7;
	e.attr.ino = id + 1000;
	e.attr.mode = mode;
	e.attr.size = id * 3;
	assert_int_equal(fp_state_entry(st, parent, name, strlen(name), &e, 0), 0);
	return e.nodeid;
}

/* Round r of a deterministic workload: lookups, forgets (both ways),
 * renames, unlinks, sizes, opens, releases, locks, polls. */
static void round_of(struct fp_state *st, unsigned r)
{
	char name[32], name2[32];
	uint64_t dir = 2 + (r % 5) * 100000, id = 10 + r, b, fh;
	struct fuse_forget_one one = { id, 1 };

	snprintf(name, sizeof name, "d%u", r % 5);
	entry(st, FP_ROOT_ID, name, dir, S_IFDIR | 0755);
	snprintf(name, sizeof name, "f%u", r);
	entry(st, dir, name, id, S_IFREG | 0644);
	entry(st, dir, name, id, S_IFREG | 0644);
	fp_state_set_size(st, id, r * 11);
	fh = 500 + r;
	assert_int_equal(fp_state_open(st, id, &fh, O_RDWR, 0, 0, 0), 0);
	if (r % 3 == 0) {
		struct fuse_lk_in lk;
		memset(&lk, 0, sizeof lk);
		lk.owner = 0xabc0 + r;
		lk.lk.start = r;
		lk.lk.end = r + 10;
		lk.lk.type = 1;	/* F_WRLCK */
		lk.lk.pid = 42;
		fp_state_lock(st, id, fh, &lk);
		fp_state_poll(st, id, fh, 9000 + r);
	}
	if (r % 4 == 1) {
		snprintf(name2, sizeof name2, "g%u", r);
		fp_state_rename(st, dir, name, dir, name2, 0);
	}
	if (r % 7 == 2) {
		/* closed, unlinked, forgotten: gone */
		fp_state_release(st, id, fh, &b);
		fp_state_unlink(st, dir, name);
		fp_state_kforget(st, -1, 1000000 + r * 2, &one, 1, NULL);
		fp_state_forget_settle(st, id, &b);
		fp_state_forget(st, id, 1, &b);
	} else {
		fp_state_forget(st, id, 1, &b);	/* one of two */
	}
	/* the directory's lookup of this round goes again */
	fp_state_forget(st, dir, 1, &b);
}

/* ---- tests --------------------------------------------------------------- */

/* Compacting changes nothing a successor rebuilds, and the log shrinks to
 * the size of the tables. */
static void compact_same_tables(void **s)
{
	struct fixture *fx = *s;
	char *live, *before, *after;
	size_t used;

	for (unsigned r = 0; r < 2000; r++)
		round_of(&fx->st, r);
	live = tables(&fx->st);
	before = replayed(fx->j);
	assert_string_equal(live, before);
	used = fp_journal_used(fx->j);

	/* compact on the next append */
	fp_journal_set_compactor(fx->j, fp_journal_compact, NULL, 4096);
	fp_state_set_size(&fx->st, 10, 12345);
	assert_int_equal(fp_journal_compactions(fx->j), 1);
	free(live);
	live = tables(&fx->st);
	after = replayed(fx->j);
	assert_string_equal(live, after);
	after = (free(after), replayed_fd(fx->fd));
	assert_string_equal(live, after);
	assert_true(fp_journal_used(fx->j) < used / 2);
	/* and it goes on from there, compacting again as it grows */
	fp_journal_set_compactor(fx->j, fp_journal_compact, NULL, 64 << 10);
	for (unsigned r = 2000; r < 4000; r++)
		round_of(&fx->st, r);
	assert_true(fp_journal_compactions(fx->j) > 2);
	free(live);
	free(after);
	live = tables(&fx->st);
	after = replayed_fd(fx->fd);
	assert_string_equal(live, after);
	free(live);
	free(before);
	free(after);
}

/* A change whose reply is not journaled yet survives a compaction and
 * counts once its reply comes; one whose reply never comes does not; a
 * reply not delivered is still there to be written again. */
static void compact_keeps_pending(void **s)
{
	struct fixture *fx = *s;
	struct fp_j_reply jr = { 1, 0 };
	struct fuse_out_header oh = { sizeof oh, 0, 0 };
	struct fp_jscan sc;
	struct fp_jreply *r;
	char *out;

	entry(&fx->st, FP_ROOT_ID, "settled", 20, S_IFREG | 0644);
	/* #100: changes, reply journaled, not delivered */
	fp_journal_unique = 100;
	entry(&fx->st, FP_ROOT_ID, "undelivered", 21, S_IFREG | 0644);
	oh.unique = 100;
	fp_journal_append(fx->j, FP_J_REPLY, &jr, sizeof jr, &oh, sizeof oh);
	/* #102: changes, reply still being tracked */
	fp_journal_unique = 102;
	entry(&fx->st, FP_ROOT_ID, "pending", 22, S_IFREG | 0644);
	/* #104: changes whose reply never reaches the journal */
	fp_journal_unique = 104;
	entry(&fx->st, FP_ROOT_ID, "refused", 23, S_IFREG | 0644);
	fp_journal_unique = 0;

	fp_journal_set_compactor(fx->j, fp_journal_compact, NULL, 4096);
	for (unsigned i = 0; fp_journal_compactions(fx->j) == 0 && i < 1000; i++)
		fp_state_set_size(&fx->st, 20, i);
	assert_int_equal(fp_journal_compactions(fx->j), 1);
	fp_journal_set_compactor(fx->j, NULL, NULL, 0);

	/* #102's reply after the compaction; then #100 is undone (the kernel
	 * refused it) */
	fp_journal_unique = 102;
	oh.unique = 102;
	fp_journal_append(fx->j, FP_J_REPLY, &jr, sizeof jr, &oh, sizeof oh);
	fp_journal_append(fx->j, FP_J_DONE, NULL, 0, NULL, 0);
	fp_journal_unique = 0;

	out = replayed_fd(fx->fd);
	assert_non_null(strstr(out, "'settled'"));
	assert_non_null(strstr(out, "'undelivered'"));
	assert_non_null(strstr(out, "'pending'"));
	assert_null(strstr(out, "'refused'"));
	free(out);

	memset(&sc, 0, sizeof sc);
	fp_journal_replay(fx->j, fp_jscan_replies, &sc);
	r = fp_jscan_reply(&sc, 100);
	assert_non_null(r);
	assert_non_null(r->msg);
	assert_false(r->done);
	assert_int_equal(r->worker, 1);
	r = fp_jscan_reply(&sc, 102);
	assert_non_null(r);
	assert_true(r->done);
	fp_jscan_free(&sc);
}

/* A child compacts over and over (appending records that change nothing)
 * and is killed at a random instant: every time, a new mapping replays into
 * the same tables. */
static void kill_during_compaction(void **s)
{
	struct fixture *fx = *s;
	char *want;
	unsigned seed = (unsigned)time(NULL);

	for (unsigned r = 0; r < 1500; r++)
		round_of(&fx->st, r);
	want = tables(&fx->st);
	srand(seed);
	for (int k = 0; k < 40; k++) {
		int ready[2], st;
		char c;
		assert_int_equal(pipe(ready), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			char err[128];
			struct fp_journal *j = fp_journal_attach(fx->fd, err, sizeof err);
			if (!j)
				_exit(2);
			/* what a worker does first: replay (and wipe a torn tail) */
			fp_journal_replay(j, NULL, NULL);
			fp_journal_set_compactor(j, fp_journal_compact, NULL, 4096);
			if (write(ready[1], "x", 1) != 1)
				_exit(2);
			for (uint64_t i = 0;; i++) {
				/* a size of a node nobody has: no change */
				struct fp_j_size js = { 999999999, i, 0, 0 };
				fp_journal_append(j, FP_J_SIZE, &js, sizeof js, NULL, 0);
			}
		}
		close(ready[1]);
		assert_int_equal(read(ready[0], &c, 1), 1);
		close(ready[0]);
		struct timespec ts = { 0, (rand() % 20000) * 1000L };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));
		char *got = replayed_fd(fx->fd);
		if (strcmp(got, want))
			fail_msg("kill %d (seed %u): the journal replays into other tables", k, seed);
		free(got);
	}
	free(want);
}

/* 100k lookups and forgets of short-lived nodes: the journal stays bounded
 * by the compaction threshold plus the live tables. */
static void bounded(void **s)
{
	struct fixture *fx = *s;
	size_t max = 0;
	uint64_t b;

	fp_journal_set_compactor(fx->j, fp_journal_compact, NULL, 256 << 10);
	for (uint64_t i = 0; i < 100000; i++) {
		char name[32];
		struct fuse_forget_one one = { 10 + i, 1 };
		snprintf(name, sizeof name, "n%llu", (unsigned long long)i);
		entry(&fx->st, FP_ROOT_ID, name, 10 + i, S_IFREG | 0644);
		fp_state_kforget(&fx->st, -1, 2 * i + 1, &one, 1, NULL);
		fp_state_forget_settle(&fx->st, 10 + i, &b);
		if (fp_journal_used(fx->j) > max)
			max = fp_journal_used(fx->j);
	}
	assert_true(max <= (256 << 10) + 4096);
	assert_true(fp_journal_compactions(fx->j) > 10);
	char *got = replayed_fd(fx->fd), *live = tables(&fx->st);
	assert_string_equal(live, got);
	free(got);
	free(live);
}

/* How many pages of [p, p + len) are in this process's page tables. */
static size_t pages_present(const char *p, size_t len)
{
	uintptr_t first = (uintptr_t)p / 4096, last = ((uintptr_t)p + len - 1) / 4096;
	size_t n = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	assert_true(fd >= 0);
	for (uintptr_t pg = first; pg <= last; pg++) {
		uint64_t e = 0;
		assert_int_equal(pread(fd, &e, sizeof e, (off_t)(pg * sizeof e)), sizeof e);
		n += e >> 63;
	}
	close(fd);
	return n;
}

static void slots_mapped(void **state)
{
	size_t slot = (size_t)256 << 10, total = 0, present = 0;
	int fd = fp_journal_create(JSIZE, 3, slot);
	char err[128];
	struct fp_journal *j;

	(void)state;
	assert_true(fd >= 0);
	j = fp_journal_attach(fd, err, sizeof err);
	assert_non_null(j);
	assert_int_equal(fp_journal_nslots(j), 3);
	/* a fresh mapping, as a new worker has it: nothing mapped yet */
	for (int i = 0; i < 3; i++)
		present += pages_present(fp_journal_slot(j, i, NULL), fp_journal_slot_size(j));
	assert_int_equal(present, 0);
	assert_int_equal(fp_journal_map_slots(j), 0);
	for (int i = 0; i < 3; i++) {
		size_t len = fp_journal_slot_size(j);
		total += (len + 4095) / 4096;
		present += pages_present(fp_journal_slot(j, i, NULL), len);
	}
	assert_true(total >= 3 * slot / 4096);
	assert_true(present >= total);
	fp_journal_detach(j);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(compact_same_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(compact_keeps_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(kill_during_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(bounded, setup, teardown),
		cmocka_unit_test(slots_mapped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
