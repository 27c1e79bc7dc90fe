/* Description: trace/ recorder and readers.  Several threads record
 * exchanges (plus notifications, events and pending requests from a
 * non-worker thread) to sqlite and pcap at once; both files are read back
 * and every field and byte is compared with a regenerated copy.  Also: the
 * decoded sqlite columns and views, db<->pcap conversion round trips, the
 * opcode filter, snaplen, both drop policies with a tiny ring, errors at
 * open, and write errors later (file size limit, /dev/full) that must end
 * in a warning and counted losses, never a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "opcodes.h"
#include "reader.h"
#include "trace.h"
#include "test_trace_gen.h"

#define WORKERS 4
#define PER_WORKER 3000
#define NOTES 50
#define EVENTS 10
#define PENDING 3
#define PENDING_WORKER 7            /* uniques of pending requests */

static char dir[] = "/tmp/test_trace.XXXXXX";
static char db[256], pcap[256];

static void path_in_dir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* ---- Writing the shared fixture --------------------------------------------- */

struct producer {
	struct fp_trace *t;
	int worker;
	uint64_t n;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct gen *g = malloc(sizeof *g);
	struct fp_trace_exchange x;

	for (uint64_t i = 0; i < p->n; i++) {
		gen_exchange(p->worker, i, g, &x);
		fp_trace_exchange(p->t, p->worker, &x);
	}
	free(g);
	return NULL;
}

static char *const test_argv[] = { "fuseproxy", "-w", "trace.db", "--passthrough", "/srv/\"x\"",
				   "/mnt", NULL };

static int write_fixture(void **state)
{
	struct fp_trace_opts o = {
		.db_path = db, .pcap_path = pcap, .nworkers = WORKERS,
		.snaplen = FP_TRACE_SNAPLEN_ALL, .argc = 6, .argv = test_argv,
		.mountpoint = "/mnt", .transport = "fusedev", .flush_ms = 20, .batch_rows = 1000,
	};
	struct producer p[WORKERS];
	pthread_t th[WORKERS];
	struct fp_trace *t;
	struct fp_trace_stats st;
	struct gen *g = malloc(sizeof *g);
	uint8_t note[256];
	char err[256];

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	path_in_dir(db, sizeof db, "trace.db");
	path_in_dir(pcap, sizeof pcap, "trace.pcap");
	if (fp_trace_open(&t, &o, err, sizeof err)) {
		fprintf(stderr, "open: %s\n", err);
		return -1;
	}
	for (int w = 0; w < WORKERS; w++) {
		p[w] = (struct producer){ t, w, PER_WORKER };
		pthread_create(&th[w], NULL, produce, &p[w]);
	}
	/* meanwhile, from this (non-worker) thread: shared ring */
	for (uint64_t k = 0; k < NOTES; k++) {
		uint32_t n = gen_notify(note, k);

		fp_trace_notify(t, -1, FP_DIR_PROXY_TO_KERNEL, note, n, GEN_BASE_T + k * 1000 + 500);
	}
	for (int k = 0; k < EVENTS; k++)
		fp_trace_event(t, k % 2 ? FP_EV_BACKEND_START : FP_EV_WARNING, "event %d: %s", k,
			       k % 2 ? "backend up" : "something odd");
	for (int w = 0; w < WORKERS; w++)
		pthread_join(th[w], NULL);
	for (uint64_t i = 1; i <= PENDING; i++) {
		struct fp_trace_exchange x;

		gen_exchange(PENDING_WORKER, i, g, &x);
		fp_trace_pending(t, &x);
	}
	free(g);
	if (fp_trace_close(t, &st, err, sizeof err)) {
		fprintf(stderr, "close: %s\n", err);
		return -1;
	}
	if (st.records != WORKERS * PER_WORKER + NOTES + EVENTS + PENDING ||
	    st.written != st.records || st.dropped || st.lost || st.write_error) {
		fprintf(stderr, "stats: records %llu written %llu dropped %llu lost %llu\n",
			(unsigned long long)st.records, (unsigned long long)st.written,
			(unsigned long long)st.dropped, (unsigned long long)st.lost);
		return -1;
	}
	return 0;
}

static int remove_fixture(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

/* ---- Checking what a reader returns ---------------------------------------------- */

static uint32_t expect_cap(uint32_t hdr, uint32_t len, uint32_t snaplen)
{
	uint64_t keep = snaplen == FP_TRACE_SNAPLEN_ALL ? len : (uint64_t)hdr + snaplen;

	return keep < len ? (uint32_t)keep : len;
}

/* The exchange recorded under `unique`, as the trace should hold it. */
static void expected(uint64_t unique, struct gen *g, struct fp_trace_exchange *e)
{
	uint64_t i;
	int w;

	gen_split(unique, &w, &i);
	assert_true(w >= 0 && (w < WORKERS || w == PENDING_WORKER));
	gen_exchange(w, i, g, e);
	if (w == PENDING_WORKER) {
		/* fp_trace_pending: no reply, hence no error or write time */
		e->flags |= FP_TRACE_F_PENDING;
		e->reply = NULL;
		e->reply_len = 0;
		e->error = 0;
		e->t_written = 0;
	}
}

/* Compare a read exchange with the one generated for its unique. */
static void check_exchange(const struct fp_trace_exchange *r, uint32_t snaplen,
			   const uint32_t req_hdr[], const uint32_t rep_hdr[])
{
	struct gen *g = malloc(sizeof *g);
	struct fp_trace_exchange e;

	expected(r->unique, g, &e);
	assert_int_equal(r->unique, e.unique);
	assert_int_equal(r->opcode, e.opcode);
	assert_int_equal(r->nodeid, e.nodeid);
	assert_int_equal(r->uid, e.uid);
	assert_int_equal(r->gid, e.gid);
	assert_int_equal(r->pid, e.pid);
	assert_int_equal(r->worker, e.worker);
	assert_int_equal(r->t_read, e.t_read);
	assert_int_equal(r->t_sent, e.t_sent);
	assert_int_equal(r->t_reply, e.t_reply);
	assert_int_equal(r->t_written, e.t_written);
	assert_int_equal(r->error, e.error);
	assert_int_equal(r->flags & ~(FP_TRACE_F_REQ_TRUNC | FP_TRACE_F_REPLY_TRUNC), e.flags);
	assert_string_equal(r->comm, e.comm);
	assert_int_equal(r->req_len, e.req_len);
	assert_int_equal(r->reply_len, e.reply_len);

	uint32_t rq = expect_cap(req_hdr[e.opcode], e.req_len, snaplen);
	uint32_t rp = expect_cap(rep_hdr[e.opcode], e.reply_len, snaplen);

	assert_int_equal(r->req_caplen, rq);
	assert_int_equal(r->reply_caplen, rp);
	assert_int_equal(!!(r->flags & FP_TRACE_F_REQ_TRUNC), rq < e.req_len);
	assert_int_equal(!!(r->flags & FP_TRACE_F_REPLY_TRUNC), rp < e.reply_len);
	if (rq)
		assert_memory_equal(r->req, e.req, rq);
	if (rp)
		assert_memory_equal(r->reply, e.reply, rp);
	else
		assert_null(r->reply);
	free(g);
}

/* Header sizes the snaplen keeps, as documented: in_header + fixed arg,
 * out_header + fixed reply struct. */
static void snap_headers(uint32_t req_hdr[FUSE_OP_MAX], uint32_t rep_hdr[FUSE_OP_MAX])
{
	for (uint32_t op = 0; op < FUSE_OP_MAX; op++) {
		const struct fuse_op *f = fuse_op_get(op);

		req_hdr[op] = 40 + (f ? f->in_size : 0);
		rep_hdr[op] = 16 + (f && (f->reply == FUSE_R_FIXED || f->reply == FUSE_R_INIT)
				    ? f->out_size : 0);
	}
}

struct counts {
	uint64_t x, n, e, pending;
	uint64_t per_op[FUSE_OP_MAX];
};

static void read_all(const char *path, const char *format, uint32_t snaplen, struct counts *c)
{
	uint32_t req_hdr[FUSE_OP_MAX], rep_hdr[FUSE_OP_MAX];
	uint64_t last_t = 0;
	struct fp_reader *r;
	struct fp_trace_rec rec;
	char err[FP_TRACE_ERRBUF_SIZE];
	int ret;

	snap_headers(req_hdr, rep_hdr);
	memset(c, 0, sizeof *c);
	ret = fp_reader_open(&r, path, 0, err, sizeof err);
	if (ret)
		fail_msg("%s", err);
	assert_string_equal(fp_reader_format(r), format);
	while ((ret = fp_reader_next(r, &rec, err, sizeof err)) > 0) {
		uint64_t t;

		switch (rec.kind) {
		case FP_REC_EXCHANGE:
			check_exchange(&rec.x, snaplen, req_hdr, rep_hdr);
			t = rec.x.t_read;
			c->x++;
			c->per_op[rec.x.opcode]++;
			c->pending += !!(rec.x.flags & FP_TRACE_F_PENDING);
			break;
		case FP_REC_NOTIFY: {
			uint8_t want[256];
			uint32_t n = gen_notify(want, c->n);

			t = rec.n.t;
			assert_int_equal(t, GEN_BASE_T + c->n * 1000 + 500);
			assert_int_equal(rec.n.dir, FP_DIR_PROXY_TO_KERNEL);
			assert_int_equal(rec.n.code, FUSE_NOTIFY_INVAL_ENTRY);
			assert_int_equal(rec.n.len, n);
			assert_int_equal(rec.n.caplen, n);
			assert_memory_equal(rec.n.msg, want, n);
			c->n++;
			break;
		}
		case FP_REC_EVENT: {
			char want[64];

			t = rec.e.t;
			snprintf(want, sizeof want, "event %d: %s", (int)c->e,
				 c->e % 2 ? "backend up" : "something odd");
			assert_string_equal(rec.e.text, want);
			assert_int_equal(rec.e.kind, c->e % 2 ? FP_EV_BACKEND_START : FP_EV_WARNING);
			c->e++;
			break;
		}
		default:
			fail_msg("unknown record kind %d", rec.kind);
			return;
		}
		assert_true(t >= last_t);        /* time order */
		last_t = t;
	}
	if (ret < 0)
		fail_msg("%s", err);
	fp_reader_close(r);
}

static void check_session(const char *path)
{
	struct fp_reader *r;
	const struct fp_trace_session *s;
	char err[FP_TRACE_ERRBUF_SIZE];

	if (fp_reader_open(&r, path, 0, err, sizeof err))
		fail_msg("%s", err);
	s = fp_reader_session(r);
	assert_int_equal(s->format_version, 1);
	assert_true(s->start_wall_ns > 1600000000ull * 1000000000ull);
	assert_true(s->start_mono_ns > 0);
	assert_true(s->end_mono_ns >= s->start_mono_ns);
	assert_string_equal(s->argv, "[\"fuseproxy\",\"-w\",\"trace.db\",\"--passthrough\","
				     "\"/srv/\\\"x\\\"\",\"/mnt\"]");
	assert_string_equal(s->mountpoint, "/mnt");
	assert_string_equal(s->transport, "fusedev");
	assert_null(s->backend);
	assert_non_null(s->kernel);
	assert_int_equal(s->snaplen, FP_TRACE_SNAPLEN_ALL);
	assert_string_equal(s->drop_policy, "block");
	assert_int_equal(s->proto_major, 7);
	assert_int_equal(s->proto_minor, 45);
	assert_int_equal(s->init_req_len, 40 + sizeof(struct fuse_init_in));
	assert_int_equal(s->init_reply_len, 16 + sizeof(struct fuse_init_out));
	assert_int_equal(s->records, WORKERS * PER_WORKER + NOTES + EVENTS + PENDING);
	assert_int_equal(s->dropped, 0);
	fp_reader_close(r);
}

static void check_counts(const struct counts *c)
{
	assert_int_equal(c->x, WORKERS * PER_WORKER + PENDING);
	assert_int_equal(c->n, NOTES);
	assert_int_equal(c->e, EVENTS);
	assert_int_equal(c->pending, PENDING);
	assert_int_equal(c->per_op[FUSE_INIT], WORKERS);
}

static void test_read_sqlite(void **state)
{
	struct counts c;

	(void)state;
	read_all(db, "sqlite", FP_TRACE_SNAPLEN_ALL, &c);
	check_counts(&c);
	check_session(db);
}

static void test_read_pcap(void **state)
{
	struct counts c, d;

	(void)state;
	read_all(pcap, "pcap", FP_TRACE_SNAPLEN_ALL, &c);
	check_counts(&c);
	read_all(db, "sqlite", FP_TRACE_SNAPLEN_ALL, &d);
	assert_memory_equal(c.per_op, d.per_op, sizeof c.per_op);
	check_session(pcap);
}

/* libpcap itself reads the file: link type, record count, timestamps. */
static void test_libpcap_reads_it(void **state)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t n = 0, replies = 0;
	pcap_t *p;
	int ret;

	(void)state;
	p = pcap_open_offline_with_tstamp_precision(pcap, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!p)
		fail_msg("libpcap: %s", errbuf);
	assert_int_equal(pcap_datalink(p), DLT_USER0);
	assert_int_equal(pcap_get_tstamp_precision(p), PCAP_TSTAMP_PRECISION_NANO);
	while ((ret = pcap_next_ex(p, &h, &data)) == 1) {
		assert_true(h->caplen >= 88);
		assert_memory_equal(data, "FPTR", 4);
		replies += data[6] == 2;
		n++;
	}
	assert_int_equal(ret, PCAP_ERROR_BREAK);       /* clean end of file */
	pcap_close(p);
	/* SESSION + requests + replies + notifications + events + END */
	{
		struct gen *g = malloc(sizeof *g);
		struct fp_trace_exchange x;
		uint64_t want = 0;

		for (int w = 0; w < WORKERS; w++)
			for (uint64_t i = 0; i < PER_WORKER; i++) {
				gen_exchange(w, i, g, &x);
				want += x.reply_len != 0;
			}
		free(g);
		assert_int_equal(replies, want);
	}
	assert_int_equal(n, 1 + (WORKERS * PER_WORKER + PENDING) + replies + NOTES + EVENTS + 1);
}

static void test_file_modes(void **state)
{
	struct stat st;
	char wal[300];

	(void)state;
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(pcap, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a clean close folds the WAL back in */
	snprintf(wal, sizeof wal, "%s-wal", db);
	assert_true(stat(wal, &st) != 0 || st.st_size == 0);
}

/* ---- sqlite columns and views ------------------------------------------------------ */

static sqlite3 *open_db(const char *path)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return h;
}

static int64_t q_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL))
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_sqlite_columns(void **state)
{
	sqlite3 *h = open_db(db);
	sqlite3_stmt *st;
	int rows = 0;

	(void)state;
	/* decoded columns agree with the generator, row by row */
	assert_int_equal(sqlite3_prepare_v2(h,
		"SELECT unique_id, op, fh, offset, size, name, out_nodeid, out_fh, error,"
		" opname, errname, latency_ns, t_request, length(req), comm FROM requests_v",
		-1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t u = (uint64_t)sqlite3_column_int64(st, 0), i;
		struct gen *g = malloc(sizeof *g);
		struct fp_trace_exchange e;
		int w;

		gen_split(u, &w, &i);
		expected(u, g, &e);
		assert_int_equal(sqlite3_column_int64(st, 1), e.opcode);
		assert_string_equal(sqlite3_column_text(st, 9), fuse_opname(e.opcode));
		assert_int_equal(sqlite3_column_int64(st, 12), e.t_read);
		assert_int_equal(sqlite3_column_int64(st, 13), e.req_len);
		assert_string_equal(sqlite3_column_text(st, 14), e.comm);
		if (e.t_written)
			assert_int_equal(sqlite3_column_int64(st, 11), e.t_written - e.t_read);
		switch (e.opcode) {
		case FUSE_LOOKUP:
			assert_string_equal(sqlite3_column_text(st, 5), (char *)g->req + 40);
			if (w == PENDING_WORKER) {
				assert_int_equal(sqlite3_column_type(st, 6), SQLITE_NULL);
			} else if (e.error) {
				assert_string_equal(sqlite3_column_text(st, 10), "ENOENT");
				assert_int_equal(sqlite3_column_type(st, 6), SQLITE_NULL);
			} else {
				assert_int_equal(sqlite3_column_int64(st, 6), 100 + i);
			}
			break;
		case FUSE_READ:
		case FUSE_WRITE:
			assert_int_equal(sqlite3_column_int64(st, 2), 0x1000 + i % 5);
			assert_int_equal(sqlite3_column_int64(st, 3),
					 e.opcode == FUSE_READ ? i * 4096 : i * 512);
			assert_int_equal(sqlite3_column_int64(st, 4),
					 e.opcode == FUSE_READ ? 4096 : i % 3000);
			break;
		case FUSE_OPEN:      /* the fh comes from the reply */
			if (w == PENDING_WORKER)
				assert_int_equal(sqlite3_column_type(st, 7), SQLITE_NULL);
			else
				assert_int_equal(sqlite3_column_int64(st, 7), 0x1000 + i % 5);
			assert_int_equal(sqlite3_column_type(st, 2), SQLITE_NULL);
			break;
		case FUSE_SETATTR:
			assert_int_equal(sqlite3_column_int64(st, 2), 0x1000 + i % 5);
			assert_int_equal(sqlite3_column_int64(st, 4), i * 7);
			break;
		case FUSE_GETATTR:   /* no GETATTR_FH: no fh */
			assert_int_equal(sqlite3_column_type(st, 2), SQLITE_NULL);
			break;
		case FUSE_FORGET:
			assert_int_equal(sqlite3_column_int64(st, 8), 0);
			break;
		}
		free(g);
		rows++;
	}
	sqlite3_finalize(st);
	assert_int_equal(rows, WORKERS * PER_WORKER + PENDING);

	assert_int_equal(q_int(h, "SELECT count(*) FROM opcodes WHERE name = 'BATCH_FORGET'"), 1);
	assert_int_equal(q_int(h, "SELECT count(*) FROM notifications WHERE name = 'INVAL_ENTRY'"),
			 NOTES);
	assert_int_equal(q_int(h, "SELECT count(*) FROM events WHERE kind = 'backend_start'"),
			 EVENTS / 2);
	assert_int_equal(q_int(h, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				  " AND name LIKE 'requests_%'"), 3);
	assert_int_equal(q_int(h, "PRAGMA user_version"), 1);
	assert_int_equal(q_int(h, "PRAGMA application_id"), 0x46505452);
	/* the example query works as written */
	assert_int_equal(q_int(h, "SELECT count(*) FROM (SELECT op, count(*),"
				  " avg(t_reply - t_request) FROM requests GROUP BY op)"),
			 GEN_KINDS - 1);
	sqlite3_close(h);
}

/* ---- Conversion ------------------------------------------------------------------- */

static void same_records(const char *a, const char *b)
{
	struct fp_reader *ra, *rb;
	struct fp_trace_rec x, y;
	char err[FP_TRACE_ERRBUF_SIZE];
	int ia, ib;
	uint64_t n = 0;

	if (fp_reader_open(&ra, a, 0, err, sizeof err) || fp_reader_open(&rb, b, 0, err, sizeof err))
		fail_msg("%s", err);
	for (;;) {
		ia = fp_reader_next(ra, &x, err, sizeof err);
		ib = fp_reader_next(rb, &y, err, sizeof err);
		assert_int_equal(ia, ib);
		if (ia <= 0)
			break;
		n++;
		assert_int_equal(x.kind, y.kind);
		if (x.kind == FP_REC_EXCHANGE) {
			assert_int_equal(x.x.unique, y.x.unique);
			assert_int_equal(x.x.opcode, y.x.opcode);
			assert_int_equal(x.x.nodeid, y.x.nodeid);
			assert_int_equal(x.x.pid, y.x.pid);
			assert_int_equal(x.x.worker, y.x.worker);
			assert_int_equal(x.x.t_read, y.x.t_read);
			assert_int_equal(x.x.t_sent, y.x.t_sent);
			assert_int_equal(x.x.t_reply, y.x.t_reply);
			assert_int_equal(x.x.t_written, y.x.t_written);
			assert_int_equal(x.x.error, y.x.error);
			assert_int_equal(x.x.flags, y.x.flags);
			assert_int_equal(x.x.req_len, y.x.req_len);
			assert_int_equal(x.x.req_caplen, y.x.req_caplen);
			assert_int_equal(x.x.reply_len, y.x.reply_len);
			assert_int_equal(x.x.reply_caplen, y.x.reply_caplen);
			assert_string_equal(x.x.comm ? x.x.comm : "", y.x.comm ? y.x.comm : "");
			if (x.x.req_caplen)
				assert_memory_equal(x.x.req, y.x.req, x.x.req_caplen);
			if (x.x.reply_caplen)
				assert_memory_equal(x.x.reply, y.x.reply, x.x.reply_caplen);
		} else if (x.kind == FP_REC_NOTIFY) {
			assert_int_equal(x.n.t, y.n.t);
			assert_int_equal(x.n.dir, y.n.dir);
			assert_int_equal(x.n.code, y.n.code);
			assert_int_equal(x.n.len, y.n.len);
			assert_int_equal(x.n.caplen, y.n.caplen);
			assert_memory_equal(x.n.msg, y.n.msg, x.n.caplen);
		} else {
			assert_int_equal(x.e.t, y.e.t);
			assert_int_equal(x.e.kind, y.e.kind);
			assert_string_equal(x.e.text, y.e.text);
		}
	}
	assert_int_equal(ia, 0);
	assert_true(n > WORKERS * PER_WORKER);
	{
		const struct fp_trace_session *s = fp_reader_session(ra), *t = fp_reader_session(rb);

		assert_int_equal(s->start_wall_ns, t->start_wall_ns);
		assert_int_equal(s->start_mono_ns, t->start_mono_ns);
		assert_int_equal(s->end_mono_ns, t->end_mono_ns);
		assert_string_equal(s->argv, t->argv);
		assert_string_equal(s->mountpoint, t->mountpoint);
		assert_string_equal(s->kernel, t->kernel);
		assert_int_equal(s->snaplen, t->snaplen);
		assert_int_equal(s->records, t->records);
		assert_int_equal(s->proto_minor, t->proto_minor);
		assert_int_equal(s->init_req_len, t->init_req_len);
		assert_memory_equal(s->init_req, t->init_req, s->init_req_len);
		assert_memory_equal(s->init_reply, t->init_reply, s->init_reply_len);
	}
	fp_reader_close(ra);
	fp_reader_close(rb);
}

static void test_convert_roundtrip(void **state)
{
	char p2[300], d2[300], d3[300], err[FP_TRACE_ERRBUF_SIZE];
	int ret;

	(void)state;
	path_in_dir(p2, sizeof p2, "conv.pcap");
	path_in_dir(d2, sizeof d2, "conv.db");
	path_in_dir(d3, sizeof d3, "conv2.db");
	/* db -> pcap, compared with the db and with the recorded pcap */
	ret = fp_trace_convert(db, p2, FP_FMT_AUTO, err, sizeof err);
	if (ret)
		fail_msg("%s", err);
	assert_string_equal(fp_trace_detect(p2, err, sizeof err), "pcap");
	same_records(db, p2);
	same_records(pcap, p2);
	/* pcap -> db */
	ret = fp_trace_convert(pcap, d2, FP_FMT_SQLITE, err, sizeof err);
	if (ret)
		fail_msg("%s", err);
	same_records(pcap, d2);
	same_records(db, d2);
	/* and the converted pcap back again */
	ret = fp_trace_convert(p2, d3, FP_FMT_AUTO, err, sizeof err);
	if (ret)
		fail_msg("%s", err);
	same_records(d2, d3);
	/* refusing to overwrite the input */
	assert_int_equal(fp_trace_convert(db, db, FP_FMT_PCAP, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "same file"));
}

/* ---- Filter ------------------------------------------------------------------------ */

static void test_filter_parse(void **state)
{
	struct fp_trace_filter f;
	char err[200];

	(void)state;
	assert_int_equal(fp_trace_filter_parse("lookup,getattr,READ,fuse_write", &f, err, sizeof err), 0);
	assert_true(fp_trace_filter_passes(&f, FUSE_LOOKUP));
	assert_true(fp_trace_filter_passes(&f, FUSE_GETATTR));
	assert_true(fp_trace_filter_passes(&f, FUSE_READ));
	assert_true(fp_trace_filter_passes(&f, FUSE_WRITE));
	assert_true(fp_trace_filter_passes(&f, FUSE_INIT));       /* always */
	assert_false(fp_trace_filter_passes(&f, FUSE_FORGET));
	assert_false(fp_trace_filter_passes(&f, FUSE_OPEN));

	assert_int_equal(fp_trace_filter_parse("!forget, !batch_forget", &f, err, sizeof err), 0);
	assert_false(fp_trace_filter_passes(&f, FUSE_FORGET));
	assert_false(fp_trace_filter_passes(&f, FUSE_BATCH_FORGET));
	assert_true(fp_trace_filter_passes(&f, FUSE_LOOKUP));
	assert_true(fp_trace_filter_passes(&f, CUSE_INIT));

	assert_int_equal(fp_trace_filter_parse("read,write,!write,15", &f, err, sizeof err), 0);
	assert_true(fp_trace_filter_passes(&f, FUSE_READ));
	assert_false(fp_trace_filter_passes(&f, FUSE_WRITE));
	assert_true(fp_trace_filter_passes(&f, 15));              /* READ by number */
	assert_false(fp_trace_filter_passes(&f, FUSE_LOOKUP));

	assert_int_equal(fp_trace_filter_parse("", &f, err, sizeof err), 0);
	assert_true(fp_trace_filter_passes(&f, FUSE_FORGET));
	assert_int_equal(fp_trace_filter_parse(NULL, &f, err, sizeof err), 0);
	assert_true(fp_trace_filter_passes(&f, FUSE_FORGET));

	assert_int_equal(fp_trace_filter_parse("lookup,bogus", &f, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "'bogus'"));
	assert_int_equal(fp_trace_filter_parse("!", &f, err, sizeof err), -EINVAL);
	assert_int_equal(fp_trace_filter_parse("7", &f, err, sizeof err), -EINVAL);   /* a gap */
	assert_int_equal(fp_trace_filter_parse("readx", &f, err, sizeof err), -EINVAL);
}

static uint64_t count_rows(const char *path, const char *sql)
{
	sqlite3 *h = open_db(path);
	uint64_t n = (uint64_t)q_int(h, sql);

	sqlite3_close(h);
	return n;
}

static void test_filter_recording(void **state)
{
	char path[300], err[256];
	struct fp_trace_opts o = { .nworkers = 1, .snaplen = FP_TRACE_SNAPLEN_ALL,
				   .filter = "lookup,read,!init" };
	struct fp_trace *t;
	struct fp_trace_stats st;
	struct gen *g = malloc(sizeof *g);
	uint64_t want = 0;

	(void)state;
	path_in_dir(path, sizeof path, "filter.db");
	o.db_path = path;
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), 0);
	assert_true(fp_trace_wants(t, FUSE_LOOKUP));
	assert_true(fp_trace_wants(t, FUSE_INIT));                /* "!init" cannot remove it */
	assert_false(fp_trace_wants(t, FUSE_GETATTR));
	for (uint64_t i = 0; i < 500; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		want += x.opcode == FUSE_LOOKUP || x.opcode == FUSE_READ || x.opcode == FUSE_INIT;
		fp_trace_exchange(t, 0, &x);
	}
	assert_int_equal(fp_trace_close(t, &st, err, sizeof err), 0);
	assert_int_equal(st.records, want);
	assert_int_equal(st.filtered, 500 - want);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM requests"), want);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM requests WHERE op NOT IN (1, 15, 26)"), 0);
	assert_int_equal(count_rows(path, "SELECT count(*) FROM session WHERE filter = 'lookup,read,!init'"), 1);
	free(g);
}

/* ---- Snaplen -------------------------------------------------------------------- */

static void snap_case(uint32_t snaplen)
{
	char d[300], p[300], err[256];
	struct fp_trace_opts o = { .nworkers = 2, .snaplen = snaplen };
	struct fp_trace *t;
	struct counts c;
	struct gen *g = malloc(sizeof *g);

	path_in_dir(d, sizeof d, "snap.db");
	path_in_dir(p, sizeof p, "snap.pcap");
	o.db_path = d;
	o.pcap_path = p;
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), 0);
	for (uint64_t i = 0; i < 400; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		fp_trace_exchange(t, 0, &x);
	}
	assert_int_equal(fp_trace_close(t, NULL, err, sizeof err), 0);
	/* read_all checks caplen = min(len, headers + snaplen) and the flags */
	read_all(d, "sqlite", snaplen, &c);
	assert_int_equal(c.x, 400);
	read_all(p, "pcap", snaplen, &c);
	assert_int_equal(c.x, 400);
	if (snaplen == 0) {
		/* headers only: the names are gone, the fixed arguments stay */
		assert_int_equal(count_rows(d, "SELECT count(*) FROM requests WHERE name IS NOT NULL"), 0);
		assert_int_equal(count_rows(d, "SELECT count(*) FROM requests WHERE op = 16"
					       " AND (offset IS NULL OR size IS NULL)"), 0);
		assert_int_equal(count_rows(d, "SELECT max(length(req)) FROM requests WHERE op = 16"),
				 40 + sizeof(struct fuse_write_in));
		assert_true(count_rows(d, "SELECT count(*) FROM requests WHERE flags & 16") > 0);
	} else if (snaplen >= 32) {
		assert_int_equal(count_rows(d, "SELECT count(*) FROM requests WHERE op = 1"
					       " AND name IS NULL"), 0);
	}
	assert_int_equal(count_rows(d, "SELECT snaplen FROM session"), snaplen);
	free(g);
}

static void test_snaplen(void **state)
{
	(void)state;
	snap_case(0);
	snap_case(5);        /* names cut mid-way */
	snap_case(64);
	snap_case(1000);
}

/* ---- Drop policy ---------------------------------------------------------------- */

static int log_calls;
static char log_last[512];

static void count_log(void *arg, const char *msg)
{
	(void)arg;
	log_calls++;
	snprintf(log_last, sizeof log_last, "%s", msg);
}

static void drop_case(int policy)
{
	char d[300], err[256];
	struct fp_trace_opts o = { .nworkers = 1, .snaplen = FP_TRACE_SNAPLEN_ALL,
				   .drop_policy = policy, .ring_kib = 16, .log = count_log };
	struct fp_trace *t;
	struct fp_trace_stats st;
	struct gen *g = malloc(sizeof *g);
	const uint64_t n = 20000;

	path_in_dir(d, sizeof d, "drop.db");
	o.db_path = d;
	log_calls = 0;
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		fp_trace_exchange(t, 0, &x);
	}
	assert_int_equal(fp_trace_close(t, &st, err, sizeof err), 0);
	assert_int_equal(st.records + st.dropped, n);
	assert_int_equal(count_rows(d, "SELECT count(*) FROM requests"), st.records);
	assert_int_equal(count_rows(d, "SELECT drops FROM session"), st.dropped);
	assert_int_equal(count_rows(d, "SELECT drop_policy = 'block' FROM session"),
			 policy == FP_TRACE_BLOCK);
	if (policy == FP_TRACE_BLOCK) {
		assert_int_equal(st.dropped, 0);
		assert_int_equal(log_calls, 0);
	} else {
		/* a 16 KiB ring cannot absorb 20000 records of up to 4 KiB */
		assert_true(st.dropped > 0);
		assert_int_equal(log_calls, 1);
		assert_non_null(strstr(log_last, "dropping"));
		assert_true(count_rows(d, "SELECT count(*) FROM events WHERE kind = 'drops'") > 0);
		assert_int_equal(count_rows(d, "SELECT sum(CAST(substr(text, 9) AS INTEGER))"
					       " FROM events WHERE kind = 'drops'"), st.dropped);
	}
	free(g);
}

static void test_drop_policy(void **state)
{
	(void)state;
	drop_case(FP_TRACE_DROP);
	drop_case(FP_TRACE_BLOCK);
}

/* A message bigger than half the ring is cut (flagged), never waited for
 * forever: 4 KiB rings, block policy, WRITEs of up to 3000 bytes. */
static void test_record_larger_than_ring(void **state)
{
	char d[300], err[256];
	struct fp_trace_opts o = { .nworkers = 1, .snaplen = FP_TRACE_SNAPLEN_ALL,
				   .drop_policy = FP_TRACE_BLOCK, .ring_kib = 4 };
	struct fp_trace *t;
	struct fp_trace_stats st;
	struct gen *g = malloc(sizeof *g);

	(void)state;
	path_in_dir(d, sizeof d, "small.db");
	o.db_path = d;
	alarm(60);
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), 0);
	for (uint64_t i = 0; i < 3000; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		fp_trace_exchange(t, 0, &x);
	}
	assert_int_equal(fp_trace_close(t, &st, err, sizeof err), 0);
	alarm(0);
	assert_int_equal(st.records, 3000);
	assert_int_equal(st.dropped, 0);
	/* 2048-byte records at most: long WRITEs and READ replies are cut */
	assert_true(count_rows(d, "SELECT count(*) FROM requests WHERE op = 16 AND flags & 16"
			       " AND length(req) < req_len") > 0);
	assert_true(count_rows(d, "SELECT count(*) FROM requests WHERE op = 15 AND flags & 32"
			       " AND length(reply) < reply_len") > 0);
	assert_int_equal(count_rows(d, "SELECT count(*) FROM requests WHERE length(req) + "
				       "coalesce(length(reply), 0) > 2048"), 0);
	free(g);
}

/* ---- Errors -------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
	struct fp_trace_opts o = { .nworkers = 1 };
	struct fp_trace *t = (struct fp_trace *)1;
	char err[256], good[300];

	(void)state;
	o.db_path = "/nonexistent-dir/x.db";
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), -ENOENT);
	assert_null(t);
	assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
	assert_non_null(strstr(err, "No such file or directory"));

	o.db_path = NULL;
	o.pcap_path = "/nonexistent-dir/x.pcap";
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent-dir/x.pcap: cannot create"));

	o.pcap_path = NULL;
	o.db_path = dir;                                           /* a directory */
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), -EISDIR);
	assert_non_null(strstr(err, "Is a directory"));

	/* the sqlite file is fine, the pcap is not: nothing is left open */
	path_in_dir(good, sizeof good, "half.db");
	o.db_path = good;
	o.pcap_path = "/proc/version/x.pcap";
	assert_true(fp_trace_open(&t, &o, err, sizeof err) < 0);
	assert_non_null(strstr(err, "/proc/version/x.pcap"));
	assert_true(access(good, F_OK) != 0);

	o.pcap_path = NULL;
	o.db_path = NULL;
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), -EINVAL);
	o.db_path = "/tmp/never-created.db";
	o.filter = "lookup,nosuchop";
	assert_int_equal(fp_trace_open(&t, &o, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "nosuchop"));
	assert_true(access("/tmp/never-created.db", F_OK) != 0);

	/* NULL trace: every call is a no-op */
	fp_trace_exchange(NULL, 0, NULL);
	fp_trace_event(NULL, FP_EV_INFO, "x");
	fp_trace_notify(NULL, 0, 4, "", 0, 0);
	assert_false(fp_trace_wants(NULL, FUSE_LOOKUP));
	assert_int_equal(fp_trace_close(NULL, NULL, err, sizeof err), 0);
}

/* Sinks that fail mid-run: one warning per file, losses counted, the
 * producer never blocks, close reports the error.  Runs in a child with a
 * file size limit (writes fail with EFBIG, like a full disk). */
static void write_error_child(const char *dbp, const char *pcapp)
{
	struct fp_trace_opts o = { .db_path = dbp, .pcap_path = pcapp, .nworkers = 1,
				   .snaplen = FP_TRACE_SNAPLEN_ALL, .drop_policy = FP_TRACE_BLOCK,
				   .log = count_log, .flush_ms = 10 };
	struct rlimit rl = { 1 << 20, 1 << 20 };
	struct fp_trace *t;
	struct fp_trace_stats st;
	struct gen *g = malloc(sizeof *g);
	int nsinks = !!dbp + !!pcapp;
	char err[256];
	int ret;

	signal(SIGXFSZ, SIG_IGN);
	alarm(60);                               /* a hang fails the test */
	setrlimit(RLIMIT_FSIZE, &rl);
	log_calls = 0;
	if (fp_trace_open(&t, &o, err, sizeof err)) {
		fprintf(stderr, "open: %s\n", err);
		_exit(10);
	}
	for (uint64_t i = 0; i < 20000; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		fp_trace_exchange(t, 0, &x);
	}
	ret = fp_trace_close(t, &st, err, sizeof err);
	if (ret >= 0 || !st.lost || st.lost > st.records || !st.write_error) {
		fprintf(stderr, "close %d lost %llu write_error %d\n", ret,
			(unsigned long long)st.lost, st.write_error);
		_exit(11);
	}
	if (log_calls != nsinks || !strstr(log_last, "no more records")) {
		fprintf(stderr, "log calls %d, last '%s'\n", log_calls, log_last);
		_exit(12);
	}
	if (st.records != 20000 || st.dropped) {
		fprintf(stderr, "records %llu dropped %llu\n", (unsigned long long)st.records,
			(unsigned long long)st.dropped);
		_exit(13);
	}
	fprintf(stderr, "expected failure: %s (lost %llu)\n", err, (unsigned long long)st.lost);
	_exit(0);
}

/* Full from the start: a clear error at open, no file left behind. */
static void full_at_open_child(const char *path)
{
	struct fp_trace_opts o = { .nworkers = 1 };
	struct rlimit rl = { 100, 100 };
	struct fp_trace *t;
	char err[256];
	int ret;

	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &rl);
	if (strstr(path, ".pcap"))
		o.pcap_path = path;
	else
		o.db_path = path;
	ret = fp_trace_open(&t, &o, err, sizeof err);
	fprintf(stderr, "expected failure: %s\n", err);
	if (ret != -EFBIG && ret != -EIO)
		_exit(20);
	if (!strstr(err, path))
		_exit(21);
	if (access(path, F_OK) == 0)
		_exit(22);
	_exit(0);
}

static void run_child(void (*fn)(const char *, const char *), const char *a, const char *b)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		fn(a, b);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void full_child(const char *path, const char *unused)
{
	(void)unused;
	full_at_open_child(path);
}

static void test_write_errors(void **state)
{
	char d[300], p[300];

	(void)state;
	path_in_dir(d, sizeof d, "full.db");
	path_in_dir(p, sizeof p, "full.pcap");
	run_child(write_error_child, d, NULL);
	run_child(write_error_child, NULL, p);
	run_child(write_error_child, d, p);
	run_child(full_child, p, NULL);
	run_child(full_child, d, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_sqlite),
		cmocka_unit_test(test_read_pcap),
		cmocka_unit_test(test_libpcap_reads_it),
		cmocka_unit_test(test_file_modes),
		cmocka_unit_test(test_sqlite_columns),
		cmocka_unit_test(test_convert_roundtrip),
		cmocka_unit_test(test_filter_parse),
		cmocka_unit_test(test_filter_recording),
		cmocka_unit_test(test_snaplen),
		cmocka_unit_test(test_drop_policy),
		cmocka_unit_test(test_record_larger_than_ring),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_write_errors),
	};

	return cmocka_run_group_tests(tests, write_fixture, getenv("KEEP") ? NULL : remove_fixture);
}
