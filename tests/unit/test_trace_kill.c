/* Description: a recorder killed with SIGKILL mid-run leaves traces that
 * open.  A child records to sqlite and pcap without pause; once another
 * connection sees the first K exchanges committed it tells the parent,
 * which lets it run on and then kills it.  The sqlite trace must open and hold between
 * K and the number of exchanges the child had handed over, each row intact;
 * the pcap must open with FP_READ_TRUNCATED_OK and hold at least K.
 */
#include <errno.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "reader.h"
#include "trace.h"
#include "test_trace_gen.h"

#define FLUSH_MS 20

static char dir[] = "/tmp/test_trace_kill.XXXXXX";
static char db[256], pcap[256];

struct shared {
	_Atomic uint64_t handed;         /* fp_trace_exchange() calls returned */
	_Atomic uint64_t committed;      /* at least this many are committed */
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static uint64_t committed_rows(void)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	uint64_t n = 0;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM requests", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
	return n;
}

static int index_count(void)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_master WHERE type = 'index'",
					    -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static void child(struct shared *sh, int fd)
{
	struct fp_trace_opts o = { .db_path = db, .pcap_path = pcap, .nworkers = 1,
				   .snaplen = FP_TRACE_SNAPLEN_ALL, .flush_ms = FLUSH_MS };
	struct fp_trace *t;
	struct fp_trace_stats st;
	struct gen *g = malloc(sizeof *g);
	char err[256];
	uint64_t i = 0;

	if (fp_trace_open(&t, &o, err, sizeof err)) {
		fprintf(stderr, "child: %s\n", err);
		_exit(1);
	}
	/* Phase 1: K exchanges, then wait until the writer has handed them
	 * all to the sinks and a flush period (and some) has passed. */
	for (; i < 5000; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		fp_trace_exchange(t, 0, &x);
		atomic_store(&sh->handed, i + 1);
	}
	do {
		sleep_ms(5);
		fp_trace_stats(t, &st);
	} while (st.written < i);
	/* committed = visible to another connection */
	while (committed_rows() < i)
		sleep_ms(5);
	atomic_store(&sh->committed, i);
	if (write(fd, "k", 1) != 1)
		_exit(2);
	/* Phase 2: keep recording until killed. */
	for (;; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		fp_trace_exchange(t, 0, &x);
		atomic_store(&sh->handed, i + 1);
	}
}

static void check_rows(const char *path, unsigned flags, uint64_t min, uint64_t max)
{
	struct fp_reader *r;
	struct fp_trace_rec rec;
	char err[FP_TRACE_ERRBUF_SIZE];
	uint64_t n = 0, unpaired = 0;
	int ret;

	ret = fp_reader_open(&r, path, flags, err, sizeof err);
	if (ret)
		fail_msg("%s", err);
	while ((ret = fp_reader_next(r, &rec, err, sizeof err)) > 0) {
		struct gen *g = malloc(sizeof *g);
		struct fp_trace_exchange e;
		uint64_t i;
		int w;

		assert_int_equal(rec.kind, FP_REC_EXCHANGE);
		gen_split(rec.x.unique, &w, &i);
		gen_exchange(w, i, g, &e);
		assert_int_equal(rec.x.opcode, e.opcode);
		assert_int_equal(rec.x.req_caplen, e.req_len);
		assert_memory_equal(rec.x.req, e.req, e.req_len);
		if (rec.x.flags & FP_TRACE_F_UNPAIRED) {
			/* the reply record was cut off: only ever the last one */
			assert_true(flags & FP_READ_TRUNCATED_OK);
			assert_int_equal(rec.x.reply_caplen, 0);
			unpaired++;
		} else {
			assert_int_equal(rec.x.reply_caplen, e.reply_len);
			if (e.reply_len)
				assert_memory_equal(rec.x.reply, e.reply, e.reply_len);
		}
		free(g);
		n++;
	}
	if (ret < 0)
		fail_msg("%s", err);
	fp_reader_close(r);
	fprintf(stderr, "%s: %llu exchanges (committed >= %llu, handed %llu)\n", path,
		(unsigned long long)n, (unsigned long long)min, (unsigned long long)max);
	assert_true(n >= min);
	assert_true(n <= max);
	assert_true(unpaired <= 1);
}

static void test_sigkill(void **state)
{
	struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int p[2], status;
	char c;
	pid_t pid;

	(void)state;
	assert_true(sh != MAP_FAILED);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(sh, p[1]);
	}
	close(p[1]);
	alarm(120);
	assert_int_equal(read(p[0], &c, 1), 1);
	sleep_ms(7 * FLUSH_MS + 3);          /* mid-batch, most likely */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(p[0]);

	assert_true(atomic_load(&sh->handed) > atomic_load(&sh->committed));
	check_rows(db, 0, atomic_load(&sh->committed), atomic_load(&sh->handed));
	check_rows(pcap, FP_READ_TRUNCATED_OK, atomic_load(&sh->committed),
		   atomic_load(&sh->handed));
	/* indexes are built at a clean close: add them afterwards */
	assert_int_equal(index_count(), 0);
	{
		char err[FP_TRACE_ERRBUF_SIZE];

		if (fp_trace_db_index(db, err, sizeof err))
			fail_msg("%s", err);
	}
	assert_int_equal(index_count(), 5);
	check_rows(db, 0, atomic_load(&sh->committed), atomic_load(&sh->handed));
	munmap(sh, sizeof *sh);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof db, "%s/k.db", dir);
	snprintf(pcap, sizeof pcap, "%s/k.pcap", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkill),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
