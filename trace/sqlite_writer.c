/* \summary: the sqlite sink: schema version 1 (doc/trace-format.md),
 * prepared inserts in large WAL transactions.
 *
 * Durability model: journal_mode=WAL, synchronous=OFF (as doc/trace-format.md
 * 4.1 says).  A batch is one transaction; the writer thread commits every
 * flush_ms or batch_rows.  After SIGKILL the WAL holds every committed batch
 * and the file opens; after a power loss more may be lost, since nothing is
 * fsynced while recording.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "names.h"
#include "opcodes.h"
#include "trace_i.h"

#define SCHEMA_VERSION 1
#define APPLICATION_ID 0x46505452     /* "FPTR" */

static const char schema[] =
	"CREATE TABLE session ("
	" format_version INTEGER NOT NULL,"
	" start_wall_ns INTEGER NOT NULL,"
	" start_mono_ns INTEGER NOT NULL,"
	" end_wall_ns INTEGER,"
	" end_mono_ns INTEGER,"
	" argv TEXT,"
	" mountpoint TEXT,"
	" transport TEXT,"
	" backend TEXT,"
	" kernel TEXT,"
	" proto_major INTEGER,"
	" proto_minor INTEGER,"
	" init_request BLOB,"
	" init_reply BLOB,"
	" snaplen INTEGER NOT NULL,"
	" filter TEXT,"
	" drop_policy TEXT,"
	" records INTEGER NOT NULL DEFAULT 0,"
	" drops INTEGER NOT NULL DEFAULT 0,"
	" lost INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE opcodes (op INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE errnos (errno INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE requests ("
	" id INTEGER PRIMARY KEY,"
	" unique_id INTEGER NOT NULL,"
	" op INTEGER NOT NULL,"
	" nodeid INTEGER NOT NULL,"
	" uid INTEGER, gid INTEGER, pid INTEGER,"
	" comm TEXT,"
	" worker INTEGER,"
	" t_read INTEGER NOT NULL,"
	" t_sent INTEGER, t_reply INTEGER, t_written INTEGER,"
	" error INTEGER NOT NULL,"
	" flags INTEGER NOT NULL,"
	" req_len INTEGER NOT NULL,"
	" reply_len INTEGER,"
	" req BLOB,"
	" reply BLOB,"
	" fh INTEGER, offset INTEGER, size INTEGER,"
	" name TEXT, name2 TEXT, node2 INTEGER,"
	" out_nodeid INTEGER, out_fh INTEGER,"
	" t_request INTEGER GENERATED ALWAYS AS (t_read) VIRTUAL);"
	"CREATE TABLE notifications ("
	" id INTEGER PRIMARY KEY,"
	" t INTEGER NOT NULL,"
	" direction INTEGER NOT NULL,"
	" code INTEGER NOT NULL,"
	" name TEXT,"
	" unique_id INTEGER,"
	" worker INTEGER,"
	" len INTEGER NOT NULL,"
	" msg BLOB);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" t INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" text TEXT);"
	"CREATE VIEW requests_v AS"
	" SELECT r.*, o.name AS opname, e.name AS errname,"
	"  r.t_written - r.t_read AS latency_ns"
	" FROM requests r LEFT JOIN opcodes o ON o.op = r.op"
	" LEFT JOIN errnos e ON e.errno = -r.error;";

/* Built at close, not kept up to date while recording: each one costs
 * about a third of the insert rate, while one sort at the end is cheap.
 * A trace cut short by SIGKILL has none; fp_trace_db_index() adds them. */
const char fp_trace_db_indexes[] =
	"CREATE INDEX IF NOT EXISTS requests_op ON requests(op);"
	"CREATE INDEX IF NOT EXISTS requests_nodeid ON requests(nodeid);"
	"CREATE INDEX IF NOT EXISTS requests_t_read ON requests(t_read);"
	"CREATE INDEX IF NOT EXISTS notifications_t ON notifications(t);"
	"CREATE INDEX IF NOT EXISTS events_t ON events(t);";

static const char ins_req_sql[] =
	"INSERT INTO requests (unique_id, op, nodeid, uid, gid, pid, comm, worker,"
	" t_read, t_sent, t_reply, t_written, error, flags, req_len, reply_len, req, reply,"
	" fh, offset, size, name, name2, node2, out_nodeid, out_fh)"
	" VALUES (?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?)";
static const char ins_note_sql[] =
	"INSERT INTO notifications (t, direction, code, name, unique_id, worker, len, msg)"
	" VALUES (?,?,?,?,?,?,?,?)";
static const char ins_ev_sql[] =
	"INSERT INTO events (t, kind, text) VALUES (?,?,?)";
static const char upd_counts_sql[] =
	"UPDATE session SET records = ?, drops = ?, lost = ?, end_wall_ns = ?, end_mono_ns = ?";
static const char upd_init_sql[] =
	"UPDATE session SET init_request = ?, init_reply = ?, proto_major = ?, proto_minor = ?";

struct fp_sink {
	sqlite3 *db;
	sqlite3_stmt *ins_req, *ins_note, *ins_ev, *upd_counts, *upd_init;
	bool in_txn;
	struct fuse_wire_params wp;
	uint64_t init_t;            /* t_read of the INIT in the session row */
	char *path;
};

static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

/* "trace.db: commit: disk I/O error (File too large)": sqlite's message
 * plus the OS error under it, which says what to fix. */
static int sql_fail(struct fp_sink *s, int rc, const char *what, char *err, size_t errlen)
{
	int os = s->db ? sqlite3_system_errno(s->db) : 0;
	int ret = sql_errno(rc);

	if (os == ENOSPC || os == EFBIG || os == EDQUOT || os == EROFS || os == EACCES)
		ret = -os;
	return trace_err(err, errlen, ret, "%s: %s: %s%s%s%s", s->path, what,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
			 os ? " (" : "", os ? strerror(os) : "", os ? ")" : "");
}

static int exec(struct fp_sink *s, const char *sql, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_fail(s, rc, what, err, errlen);
}

static int step_reset(struct fp_sink *s, sqlite3_stmt *st, const char *what,
		      char *err, size_t errlen)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : sql_fail(s, rc, what, err, errlen);
}

static void bind_u64_or_null(sqlite3_stmt *st, int i, bool has, uint64_t v)
{
	if (has)
		sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Fresh file, mode 0600, and no stale WAL that sqlite could replay into it. */
static int create_file(const char *path, char *err, size_t errlen)
{
	const char *sfx[] = { "-wal", "-shm", "-journal" };
	char side[4096];
	struct stat st;
	int fd;

	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		snprintf(side, sizeof side, "%s%s", path, sfx[i]);
		/* only those that exist: on a read-only or missing directory,
		 * the error worth reporting is the trace file's own */
		if (lstat(side, &st) && errno == ENOENT)
			continue;
		if (unlink(side) && errno != ENOENT)
			return trace_err(err, errlen, -errno, "%s: cannot remove: %s", side,
					 strerror(errno));
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return trace_err(err, errlen, -errno, "%s: cannot create: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return trace_err(err, errlen, -EINVAL, "%s: not a regular file", path);
	}
	if (fchmod(fd, 0600)) {
		int e = errno;

		close(fd);
		return trace_err(err, errlen, -e, "%s: cannot chmod 0600: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

static int fill_tables(struct fp_sink *s, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const struct fuse_op *op;
	int ret = 0;

	if (sqlite3_prepare_v2(s->db, "INSERT INTO opcodes VALUES (?,?)", -1, &st, NULL))
		return sql_fail(s, SQLITE_ERROR, "prepare", err, errlen);
	for (size_t i = 0; !ret && (op = fuse_op_at(i)); i++) {
		sqlite3_bind_int64(st, 1, op->opcode);
		sqlite3_bind_text(st, 2, op->name, -1, SQLITE_STATIC);
		ret = step_reset(s, st, "opcodes", err, errlen);
	}
	sqlite3_finalize(st);
	if (ret)
		return ret;
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO errnos VALUES (?,?)", -1, &st, NULL))
		return sql_fail(s, SQLITE_ERROR, "prepare", err, errlen);
	for (const struct fuse_tok *e = fuse_errno_names; !ret && e->s; e++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)e->v);
		sqlite3_bind_text(st, 2, e->s, -1, SQLITE_STATIC);
		ret = step_reset(s, st, "errnos", err, errlen);
	}
	sqlite3_finalize(st);
	return ret;
}

static int insert_session(struct fp_sink *s, const struct fp_trace_session *ses,
			  char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int ret;

	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO session (format_version, start_wall_ns, start_mono_ns,"
			       " argv, mountpoint, transport, backend, kernel, snaplen, filter,"
			       " drop_policy) VALUES (?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL))
		return sql_fail(s, SQLITE_ERROR, "prepare", err, errlen);
	sqlite3_bind_int64(st, 1, SCHEMA_VERSION);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ses->start_wall_ns);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ses->start_mono_ns);
	bind_text(st, 4, ses->argv);
	bind_text(st, 5, ses->mountpoint);
	bind_text(st, 6, ses->transport);
	bind_text(st, 7, ses->backend);
	bind_text(st, 8, ses->kernel);
	sqlite3_bind_int64(st, 9, ses->snaplen == FP_TRACE_SNAPLEN_ALL ? -1 : (sqlite3_int64)ses->snaplen);
	bind_text(st, 10, ses->filter);
	bind_text(st, 11, ses->drop_policy);
	ret = step_reset(s, st, "session", err, errlen);
	sqlite3_finalize(st);
	if (!ret && ses->init_req_len) {
		/* a converted trace brings its INIT along */
		sqlite3_bind_blob(s->upd_init, 1, ses->init_req, (int)ses->init_req_len, SQLITE_STATIC);
		sqlite3_bind_blob(s->upd_init, 2, ses->init_reply, (int)ses->init_reply_len,
				  SQLITE_STATIC);
		sqlite3_bind_int64(s->upd_init, 3, ses->proto_major);
		sqlite3_bind_int64(s->upd_init, 4, ses->proto_minor);
		ret = step_reset(s, s->upd_init, "session", err, errlen);
	}
	return ret;
}

static void sink_free(struct fp_sink *s)
{
	sqlite3_finalize(s->ins_req);
	sqlite3_finalize(s->ins_note);
	sqlite3_finalize(s->ins_ev);
	sqlite3_finalize(s->upd_counts);
	sqlite3_finalize(s->upd_init);
	if (s->db)
		sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

static int sq_open(struct fp_sink **sp, const char *path, const struct fp_trace_session *ses,
		   char *err, size_t errlen)
{
	struct fp_sink *s;
	sqlite3_stmt *st;
	char sql[128];
	int rc, ret;

	*sp = NULL;
	ret = create_file(path, err, errlen);
	if (ret)
		return ret;
	s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	/* sqlite's memory statistics take a global mutex on every malloc and
	 * free, a few per insert; nobody here reads them.  Only possible
	 * before sqlite initializes (later it is refused, harmlessly). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc) {
		ret = sql_fail(s, rc, "cannot open", err, errlen);
		goto fail;
	}
	/* Page size before WAL: it is fixed once the file has content.  The
	 * largest one: message bodies of a few KiB would otherwise spill into
	 * overflow chains, and every page costs a WAL frame header, a checksum
	 * and a checkpoint copy (trace-writer-bench: 1.5-2x the record rate and
	 * 2-3x the payload bandwidth of 8 KiB pages).  The WAL is checkpointed
	 * every 4096 pages (256 MiB): fewer, longer checkpoints copy less. */
	ret = exec(s, "PRAGMA page_size = 65536", "setup", err, errlen);
	if (ret)
		goto fail;
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal")) {
		sqlite3_finalize(st);
		ret = trace_err(err, errlen, -EIO, "%s: cannot use WAL mode (file system?)", path);
		goto fail;
	}
	sqlite3_finalize(st);
	if (rc) {
		ret = sql_fail(s, rc, "journal_mode", err, errlen);
		goto fail;
	}
	snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
		 APPLICATION_ID, SCHEMA_VERSION);
	ret = exec(s, "PRAGMA synchronous = OFF", "setup", err, errlen) ?:
	      exec(s, "PRAGMA wal_autocheckpoint = 4096", "setup", err, errlen) ?:
	      exec(s, "PRAGMA cache_size = -16384", "setup", err, errlen) ?:
	      exec(s, sql, "setup", err, errlen) ?:
	      exec(s, "BEGIN", "begin", err, errlen) ?:
	      exec(s, schema, "creating the schema", err, errlen);
	if (ret)
		goto fail;

	rc = sqlite3_prepare_v3(s->db, ins_req_sql, -1, SQLITE_PREPARE_PERSISTENT, &s->ins_req, NULL) ?:
	     sqlite3_prepare_v3(s->db, ins_note_sql, -1, SQLITE_PREPARE_PERSISTENT, &s->ins_note, NULL) ?:
	     sqlite3_prepare_v3(s->db, ins_ev_sql, -1, SQLITE_PREPARE_PERSISTENT, &s->ins_ev, NULL) ?:
	     sqlite3_prepare_v3(s->db, upd_counts_sql, -1, SQLITE_PREPARE_PERSISTENT, &s->upd_counts, NULL) ?:
	     sqlite3_prepare_v3(s->db, upd_init_sql, -1, SQLITE_PREPARE_PERSISTENT, &s->upd_init, NULL);
	if (rc) {
		ret = sql_fail(s, rc, "prepare", err, errlen);
		goto fail;
	}
	ret = fill_tables(s, err, errlen) ?:
	      insert_session(s, ses, err, errlen) ?:
	      exec(s, "COMMIT; BEGIN", "commit", err, errlen);
	if (ret)
		goto fail;
	s->in_txn = true;
	*sp = s;
	return 0;

fail:
	sink_free(s);
	unlink(path);
	return ret;
}

/* The kernel's INIT and our reply go to the session row as well.  There is
 * one per session; should a trace hold more, the earliest one counts
 * (the pcap reader agrees). */
static int note_init(struct fp_sink *s, const struct fp_trace_exchange *x, char *err, size_t errlen)
{
	uint32_t major = 0;

	if (!x->reply || (s->init_t && x->t_read >= s->init_t) ||
	    !trace_init_params(x->reply, x->reply_caplen, &s->wp, &major))
		return 0;
	s->init_t = x->t_read ? x->t_read : 1;
	sqlite3_bind_blob(s->upd_init, 1, x->req, (int)x->req_caplen, SQLITE_STATIC);
	sqlite3_bind_blob(s->upd_init, 2, x->reply, (int)x->reply_caplen, SQLITE_STATIC);
	sqlite3_bind_int64(s->upd_init, 3, major);
	sqlite3_bind_int64(s->upd_init, 4, s->wp.minor);
	return step_reset(s, s->upd_init, "session INIT", err, errlen);
}

static int put_exchange(struct fp_sink *s, const struct fp_trace_exchange *x,
			char *err, size_t errlen)
{
	sqlite3_stmt *st = s->ins_req;
	struct trace_decoded d;
	int ret;

	if (x->opcode == FUSE_INIT && x->error == 0) {
		ret = note_init(s, x, err, errlen);
		if (ret)
			return ret;
	}
	trace_decode(x, &s->wp, &d);

	sqlite3_bind_int64(st, 1, (sqlite3_int64)x->unique);
	sqlite3_bind_int64(st, 2, x->opcode);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)x->nodeid);
	sqlite3_bind_int64(st, 4, x->uid);
	sqlite3_bind_int64(st, 5, x->gid);
	sqlite3_bind_int64(st, 6, x->pid);
	bind_text(st, 7, x->comm);
	if (x->worker >= 0)
		sqlite3_bind_int64(st, 8, x->worker);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)x->t_read);
	bind_u64_or_null(st, 10, x->t_sent, x->t_sent);
	bind_u64_or_null(st, 11, x->t_reply, x->t_reply);
	bind_u64_or_null(st, 12, x->t_written, x->t_written);
	sqlite3_bind_int64(st, 13, x->error);
	sqlite3_bind_int64(st, 14, x->flags);
	sqlite3_bind_int64(st, 15, x->req_len);
	if (x->reply_len)
		sqlite3_bind_int64(st, 16, x->reply_len);
	sqlite3_bind_blob(st, 17, x->req ? x->req : "", (int)x->req_caplen, SQLITE_STATIC);
	if (x->reply_len)
		sqlite3_bind_blob(st, 18, x->reply ? x->reply : "", (int)x->reply_caplen,
				  SQLITE_STATIC);
	bind_u64_or_null(st, 19, d.has_fh, d.fh);
	bind_u64_or_null(st, 20, d.has_offset, d.offset);
	bind_u64_or_null(st, 21, d.has_size, d.size);
	bind_text(st, 22, d.name);
	bind_text(st, 23, d.name2);
	bind_u64_or_null(st, 24, d.has_node2, d.node2);
	bind_u64_or_null(st, 25, d.has_out_nodeid, d.out_nodeid);
	bind_u64_or_null(st, 26, d.has_out_fh, d.out_fh);
	return step_reset(s, st, "insert", err, errlen);
}

static int put_notify(struct fp_sink *s, const struct fp_trace_notify *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->ins_note;
	bool from_kernel = n->dir == FP_DIR_KERNEL_TO_PROXY || n->dir == FP_DIR_PROXY_TO_BACKEND;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)n->t);
	sqlite3_bind_int64(st, 2, n->dir);
	sqlite3_bind_int64(st, 3, n->code);
	bind_text(st, 4, from_kernel ? fuse_opname(n->code) : fuse_notify_name(n->code));
	sqlite3_bind_int64(st, 5, (sqlite3_int64)n->unique);
	if (n->worker >= 0)
		sqlite3_bind_int64(st, 6, n->worker);
	sqlite3_bind_int64(st, 7, n->len);
	sqlite3_bind_blob(st, 8, n->msg ? n->msg : "", (int)n->caplen, SQLITE_STATIC);
	return step_reset(s, st, "insert", err, errlen);
}

static int put_event(struct fp_sink *s, const struct fp_trace_event *e, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->ins_ev;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)e->t);
	bind_text(st, 2, fp_trace_event_name(e->kind));
	bind_text(st, 3, e->text);
	return step_reset(s, st, "insert", err, errlen);
}

static int sq_put(struct fp_sink *s, const struct fp_trace_rec *r, char *err, size_t errlen)
{
	switch (r->kind) {
	case FP_REC_EXCHANGE:
		return put_exchange(s, &r->x, err, errlen);
	case FP_REC_NOTIFY:
		return put_notify(s, &r->n, err, errlen);
	case FP_REC_EVENT:
		return put_event(s, &r->e, err, errlen);
	}
	return 0;
}

static int update_counts(struct fp_sink *s, const struct fp_trace_session *ses,
			 char *err, size_t errlen)
{
	sqlite3_stmt *st = s->upd_counts;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)ses->records);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ses->dropped);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ses->lost);
	bind_u64_or_null(st, 4, ses->end_wall_ns, ses->end_wall_ns);
	bind_u64_or_null(st, 5, ses->end_mono_ns, ses->end_mono_ns);
	return step_reset(s, st, "session", err, errlen);
}

static int sq_flush(struct fp_sink *s, const struct fp_trace_session *ses, char *err, size_t errlen)
{
	int ret = update_counts(s, ses, err, errlen) ?:
		  exec(s, "COMMIT", "commit", err, errlen);

	if (ret)
		return ret;
	s->in_txn = false;
	ret = exec(s, "BEGIN", "begin", err, errlen);
	if (!ret)
		s->in_txn = true;
	return ret;
}

static int sq_close(struct fp_sink *s, const struct fp_trace_session *ses, char *err, size_t errlen)
{
	int ret = 0;

	if (s->in_txn)
		ret = update_counts(s, ses, err, errlen) ?:
		      exec(s, fp_trace_db_indexes, "building indexes", err, errlen) ?:
		      exec(s, "COMMIT", "commit", err, errlen);
	if (ret)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	else
		/* Fold the WAL back in: the closed trace is one self-contained file. */
		ret = exec(s, "PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint", err, errlen);
	sink_free(s);
	return ret;
}

const struct fp_sink_ops fp_sqlite_sink = {
	.name = "sqlite",
	.open = sq_open,
	.put = sq_put,
	.flush = sq_flush,
	.close = sq_close,
};
