/* \summary: unordered column scan of a sqlite trace (scan_sqlite.h). */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "scan_sqlite.h"

struct an_scan {
	sqlite3 *db;
	sqlite3_stmt *q;
	const char *path;
	uint64_t row;
};

/* Only what statistics read: each selected column costs sqlite time on
 * every row, whether we fetch it or not (unique, nodeid, uid, gid, pid,
 * worker stay 0/-1). */
enum { S_OP, S_READ, S_SENT, S_REPLY, S_WRITTEN, S_ERROR, S_FLAGS, S_REQ_LEN, S_REPLY_LEN };

static int fail(struct an_scan *s, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_errcode(s->db) & 0xff;

	snprintf(err, errlen, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? -EINVAL
	       : rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

int an_scan_open(struct an_scan **sp, const char *path, char *err, size_t errlen)
{
	return an_scan_open_range(sp, path, INT64_MIN, INT64_MAX, err, errlen);
}

int an_scan_open_range(struct an_scan **sp, const char *path, int64_t lo, int64_t hi,
		       char *err, size_t errlen)
{
	struct an_scan *s = calloc(1, sizeof *s);
	int ret;

	*sp = NULL;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->path = path;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL)) {
		ret = fail(s, "cannot open", err, errlen);
		goto fail;
	}
	/* no mmap: mapped pages would count as our resident memory and make
	 * a 10 GB trace look like a 10 GB process; read() costs ~10% more */
	sqlite3_exec(s->db, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(s->db,
			       "SELECT op, t_read, t_sent, t_reply, t_written, error, flags, req_len,"
			       " reply_len FROM requests WHERE rowid >= ?1 AND rowid < ?2", -1,
			       &s->q, NULL)) {
		ret = fail(s, "query", err, errlen);
		goto fail;
	}
	sqlite3_bind_int64(s->q, 1, lo);
	sqlite3_bind_int64(s->q, 2, hi);
	*sp = s;
	return 0;
fail:
	an_scan_close(s);
	return ret;
}

int an_scan_next(struct an_scan *s, struct fp_trace_exchange *x, char *err, size_t errlen)
{
	sqlite3_stmt *q = s->q;
	int64_t req_len, reply_len;
	int rc = sqlite3_step(q);

	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return fail(s, "reading", err, errlen);
	memset(x, 0, sizeof *x);
	s->row++;
	x->worker = -1;
	x->opcode = (uint32_t)sqlite3_column_int64(q, S_OP);
	x->t_read = (uint64_t)sqlite3_column_int64(q, S_READ);
	x->t_sent = (uint64_t)sqlite3_column_int64(q, S_SENT);
	x->t_reply = (uint64_t)sqlite3_column_int64(q, S_REPLY);
	x->t_written = (uint64_t)sqlite3_column_int64(q, S_WRITTEN);
	x->error = (int32_t)sqlite3_column_int64(q, S_ERROR);
	x->flags = (uint32_t)sqlite3_column_int64(q, S_FLAGS);
	req_len = sqlite3_column_int64(q, S_REQ_LEN);
	reply_len = sqlite3_column_int64(q, S_REPLY_LEN);
	if (req_len < 0 || req_len > UINT32_MAX || reply_len < 0 || reply_len > UINT32_MAX) {
		snprintf(err, errlen, "%s: requests row (the %lluth scanned): length out of range",
			 s->path, (unsigned long long)s->row);
		return -EINVAL;
	}
	x->req_len = (uint32_t)req_len;
	x->reply_len = (uint32_t)reply_len;
	return 1;
}

int an_scan_rowids(struct an_scan *s, int64_t *lo, int64_t *hi, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT min(rowid), max(rowid) FROM requests", -1, &st, NULL))
		return fail(s, "query", err, errlen);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*lo = sqlite3_column_int64(st, 0);
		*hi = sqlite3_column_type(st, 1) == SQLITE_NULL ? *lo : sqlite3_column_int64(st, 1) + 1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail(s, "query", err, errlen);
}

static int count_max(struct an_scan *s, const char *sql, uint64_t *n, uint64_t *t_max,
		     char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))
		return fail(s, "query", err, errlen);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		uint64_t t = (uint64_t)sqlite3_column_int64(st, 1);

		*n = (uint64_t)sqlite3_column_int64(st, 0);
		if (t > *t_max)
			*t_max = t;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : fail(s, "query", err, errlen);
}

int an_scan_others(struct an_scan *s, uint64_t *nnotify, uint64_t *nevents, uint64_t *t_max,
		   char *err, size_t errlen)
{
	int ret = count_max(s, "SELECT count(*), max(t) FROM notifications", nnotify, t_max,
			    err, errlen);

	return ret ? ret : count_max(s, "SELECT count(*), max(t) FROM events", nevents, t_max,
				     err, errlen);
}

void an_scan_close(struct an_scan *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->q);
	sqlite3_close_v2(s->db);
	free(s);
}
