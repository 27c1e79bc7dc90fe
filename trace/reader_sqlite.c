/* \summary: reading sqlite traces: three ordered queries merged by time. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include "reader_i.h"

#define SCHEMA_VERSION 1
#define APPLICATION_ID 0x46505452

enum { Q_REQ, Q_NOTE, Q_EV, Q_COUNT };

static const char *const queries[Q_COUNT] = {
	[Q_REQ] = "SELECT unique_id, op, nodeid, uid, gid, pid, comm, worker, t_read, t_sent,"
		  " t_reply, t_written, error, flags, req_len, reply_len, req, reply, id"
		  " FROM requests ORDER BY t_read, id",
	[Q_NOTE] = "SELECT t, direction, code, unique_id, worker, len, msg, id"
		   " FROM notifications ORDER BY t, id",
	[Q_EV] = "SELECT t, kind, text, id FROM events ORDER BY t, id",
};

struct sq_reader {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	bool has_row[Q_COUNT];
	bool done[Q_COUNT];
	int advance;              /* query whose row was returned last, -1 none */
};

static int fail(struct fp_reader *r, sqlite3 *db, int rc, const char *what,
		char *err, size_t errlen)
{
	int e = (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB ? -EINVAL
		: (rc & 0xff) == SQLITE_NOMEM ? -ENOMEM : -EIO;

	return trace_err(err, errlen, e, "%s: %s: %s", r->path, what,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	return (uint64_t)sqlite3_column_int64(st, i);
}

static const char *col_str(struct fp_reader *r, sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? reader_keep(r, s, strlen((const char *)s)) : NULL;
}

static int read_session(struct fp_reader *r, struct sq_reader *q, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(q->db,
				"SELECT format_version, start_wall_ns, start_mono_ns, end_wall_ns,"
				" end_mono_ns, argv, mountpoint, transport, backend, kernel,"
				" proto_major, proto_minor, init_request, init_reply, snaplen, filter,"
				" drop_policy, records, drops, lost FROM session", -1, &st, NULL);
	if (rc)
		return fail(r, q->db, rc, "session table", err, errlen);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE)
			return trace_err(err, errlen, -EINVAL, "%s: the session table is empty",
					 r->path);
		return fail(r, q->db, rc, "session table", err, errlen);
	}
	r->ses.format_version = (uint32_t)sqlite3_column_int64(st, 0);
	r->ses.start_wall_ns = col_u64(st, 1);
	r->ses.start_mono_ns = col_u64(st, 2);
	r->ses.end_wall_ns = col_u64(st, 3);
	r->ses.end_mono_ns = col_u64(st, 4);
	r->ses.argv = col_str(r, st, 5);
	r->ses.mountpoint = col_str(r, st, 6);
	r->ses.transport = col_str(r, st, 7);
	r->ses.backend = col_str(r, st, 8);
	r->ses.kernel = col_str(r, st, 9);
	r->ses.proto_major = (uint32_t)sqlite3_column_int64(st, 10);
	r->ses.proto_minor = (uint32_t)sqlite3_column_int64(st, 11);
	r->ses.init_req_len = (uint32_t)sqlite3_column_bytes(st, 12);
	r->ses.init_req = r->ses.init_req_len
		? reader_keep(r, sqlite3_column_blob(st, 12), r->ses.init_req_len) : NULL;
	r->ses.init_reply_len = (uint32_t)sqlite3_column_bytes(st, 13);
	r->ses.init_reply = r->ses.init_reply_len
		? reader_keep(r, sqlite3_column_blob(st, 13), r->ses.init_reply_len) : NULL;
	r->ses.snaplen = sqlite3_column_int64(st, 14) < 0 ? FP_TRACE_SNAPLEN_ALL
			 : (uint32_t)sqlite3_column_int64(st, 14);
	r->ses.filter = col_str(r, st, 15);
	r->ses.drop_policy = col_str(r, st, 16);
	r->ses.records = col_u64(st, 17);
	r->ses.dropped = col_u64(st, 18);
	r->ses.lost = col_u64(st, 19);
	sqlite3_finalize(st);
	if (!r->ses.init_req)
		r->ses.init_req_len = 0;
	if (!r->ses.init_reply)
		r->ses.init_reply_len = 0;
	return 0;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_open(struct fp_reader *r, const char *path, unsigned flags, char *err, size_t errlen)
{
	struct sq_reader *q = calloc(1, sizeof *q);
	int64_t app = 0, ver = 0;
	int rc;

	(void)flags;
	if (!q)
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", path);
	r->priv = q;
	q->advance = -1;
	rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc)
		return fail(r, q->db, rc, "cannot open", err, errlen);
	rc = pragma_int(q->db, "PRAGMA application_id", &app);
	if (!rc)
		rc = pragma_int(q->db, "PRAGMA user_version", &ver);
	if (rc)
		return fail(r, q->db, rc, "not a readable sqlite database", err, errlen);
	if (app != APPLICATION_ID)
		return trace_err(err, errlen, -EINVAL, "%s: an sqlite database but not a fuseproxy "
				 "trace (application_id 0x%llx)", path, (unsigned long long)app);
	if (ver > SCHEMA_VERSION || ver < 1)
		return trace_err(err, errlen, -ENOTSUP, "%s: trace format version %lld; this reader "
				 "knows version %d", path, (long long)ver, SCHEMA_VERSION);
	rc = read_session(r, q, err, errlen);
	if (rc)
		return rc;
	for (int i = 0; i < Q_COUNT; i++) {
		rc = sqlite3_prepare_v2(q->db, queries[i], -1, &q->q[i], NULL);
		if (rc)
			return fail(r, q->db, rc, "query", err, errlen);
	}
	return 0;
}

/* Step query i to its next row (or its end). */
static int step(struct fp_reader *r, struct sq_reader *q, int i, char *err, size_t errlen)
{
	int rc = sqlite3_step(q->q[i]);

	q->has_row[i] = rc == SQLITE_ROW;
	if (rc == SQLITE_DONE)
		q->done[i] = true;
	else if (rc != SQLITE_ROW)
		return fail(r, q->db, rc, "reading", err, errlen);
	return 0;
}

static uint64_t row_time(struct sq_reader *q, int i)
{
	return col_u64(q->q[i], i == Q_REQ ? 8 : 0);
}

static int corrupt(struct fp_reader *r, const char *table, sqlite3_stmt *st, int idcol,
		   const char *what, char *err, size_t errlen)
{
	return trace_err(err, errlen, -EINVAL, "%s: %s row %lld: %s", r->path, table,
			 (long long)sqlite3_column_int64(st, idcol), what);
}

static int fill_exchange(struct fp_reader *r, sqlite3_stmt *st, struct fp_trace_exchange *x,
			 char *err, size_t errlen)
{
	int64_t req_len = sqlite3_column_int64(st, 14), reply_len = sqlite3_column_int64(st, 15);

	x->unique = col_u64(st, 0);
	x->opcode = (uint32_t)sqlite3_column_int64(st, 1);
	x->nodeid = col_u64(st, 2);
	x->uid = (uint32_t)sqlite3_column_int64(st, 3);
	x->gid = (uint32_t)sqlite3_column_int64(st, 4);
	x->pid = (uint32_t)sqlite3_column_int64(st, 5);
	x->comm = (const char *)sqlite3_column_text(st, 6);
	x->worker = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : (int32_t)sqlite3_column_int64(st, 7);
	x->t_read = col_u64(st, 8);
	x->t_sent = col_u64(st, 9);
	x->t_reply = col_u64(st, 10);
	x->t_written = col_u64(st, 11);
	x->error = (int32_t)sqlite3_column_int64(st, 12);
	x->flags = (uint32_t)sqlite3_column_int64(st, 13);
	x->req = sqlite3_column_blob(st, 16);
	x->req_caplen = (uint32_t)sqlite3_column_bytes(st, 16);
	x->reply = sqlite3_column_blob(st, 17);
	x->reply_caplen = (uint32_t)sqlite3_column_bytes(st, 17);
	if (req_len < 0 || req_len > UINT32_MAX || reply_len < 0 || reply_len > UINT32_MAX)
		return corrupt(r, "requests", st, 18, "length out of range", err, errlen);
	x->req_len = (uint32_t)req_len;
	x->reply_len = (uint32_t)reply_len;
	if (x->req_caplen > x->req_len || x->reply_caplen > x->reply_len)
		return corrupt(r, "requests", st, 18, "keeps more bytes than the message had",
			       err, errlen);
	if (!x->req_caplen)
		x->req = NULL;
	if (!x->reply_caplen)
		x->reply = NULL;
	return 0;
}

static int sq_next(struct fp_reader *r, struct fp_trace_rec *rec, char *err, size_t errlen)
{
	struct sq_reader *q = r->priv;
	sqlite3_stmt *st;
	int best = -1, ret;

	for (int i = 0; i < Q_COUNT; i++) {
		if (q->done[i] || (q->has_row[i] && q->advance != i))
			continue;
		ret = step(r, q, i, err, errlen);
		if (ret)
			return ret;
	}
	q->advance = -1;
	for (int i = 0; i < Q_COUNT; i++)
		if (q->has_row[i] && (best < 0 || row_time(q, i) < row_time(q, best)))
			best = i;
	if (best < 0)
		return 0;
	q->advance = best;
	st = q->q[best];
	memset(rec, 0, sizeof *rec);
	switch (best) {
	case Q_REQ:
		rec->kind = FP_REC_EXCHANGE;
		ret = fill_exchange(r, st, &rec->x, err, errlen);
		if (ret)
			return ret;
		break;
	case Q_NOTE:
		rec->kind = FP_REC_NOTIFY;
		rec->n.t = col_u64(st, 0);
		rec->n.dir = (uint32_t)sqlite3_column_int64(st, 1);
		rec->n.code = (uint32_t)sqlite3_column_int64(st, 2);
		rec->n.unique = col_u64(st, 3);
		rec->n.worker = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1
				: (int32_t)sqlite3_column_int64(st, 4);
		rec->n.len = (uint32_t)sqlite3_column_int64(st, 5);
		rec->n.msg = sqlite3_column_blob(st, 6);
		rec->n.caplen = (uint32_t)sqlite3_column_bytes(st, 6);
		if (rec->n.caplen > rec->n.len)
			return corrupt(r, "notifications", st, 7,
				       "keeps more bytes than the message had", err, errlen);
		break;
	case Q_EV:
		rec->kind = FP_REC_EVENT;
		rec->e.t = col_u64(st, 0);
		rec->e.kind = fp_trace_event_kind((const char *)sqlite3_column_text(st, 1));
		rec->e.text = (const char *)sqlite3_column_text(st, 2);
		if (!rec->e.text)
			rec->e.text = "";
		break;
	}
	return 1;
}

static void sq_close(struct fp_reader *r)
{
	struct sq_reader *q = r->priv;

	if (!q)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(q->q[i]);
	if (q->db)
		sqlite3_close_v2(q->db);
	free(q);
}

const struct fp_reader_ops fp_sqlite_reader = {
	.name = "sqlite",
	.open = sq_open,
	.next = sq_next,
	.close = sq_close,
};

int fp_trace_db_index(const char *path, char *err, size_t errlen)
{
	struct fp_reader r = { .path = path };
	sqlite3 *db = NULL;
	int64_t app = 0;
	int rc, ret = 0;

	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (!rc)
		rc = pragma_int(db, "PRAGMA application_id", &app);
	if (rc)
		ret = fail(&r, db, rc, "cannot open", err, errlen);
	else if (app != APPLICATION_ID)
		ret = trace_err(err, errlen, -EINVAL, "%s: not a fuseproxy trace", path);
	else if ((rc = sqlite3_exec(db, fp_trace_db_indexes, NULL, NULL, NULL)))
		ret = fail(&r, db, rc, "building indexes", err, errlen);
	sqlite3_close_v2(db);
	return ret;
}
