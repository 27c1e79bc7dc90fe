/* \summary: fuseanalyze-tracegen: synthesizes fuseproxy traces with known
 * content for fuseanalyze's tests and benchmark, through the real trace
 * writer (trace/trace.h), and writes what an exact analysis must find.
 *
 *   fuseanalyze-tracegen [-n N] [--seed S] [--workload mix|paths|garbage]
 *                        [--pending K] [--slow OP=FACTOR] [--err-pct OP=PCT]
 *                        [-s SNAPLEN]
 *                        [--workers W] [--no-init] [--expect FILE.json] OUT
 *
 * OUT is sqlite, or pcap when it ends in .pcap.
 *
 * mix:    N requests of a weighted opcode mix arriving 0-20 us apart on W
 *         workers, log-normal backend times with a heavy tail, errors for a
 *         fixed share of LOOKUP/OPEN/UNLINK/GETXATTR/RMDIR, READ/WRITE data
 *         of 0-128 KiB; K of them (--pending) never answered.  --slow
 *         multiplies one opcode's backend time, --err-pct sets the share of
 *         one opcode's replies that fail (its usual errno, else EIO).  --expect: per opcode count,
 *         errors by errno name, data/request/reply bytes, pending, and exact
 *         nearest-rank quantiles of total/backend/overhead (computed by
 *         sorting), plus the pending uniques.
 * paths:  a scripted rename/unlink/forget/exchange/link/READDIRPLUS story
 *         with GETATTR probes; --expect maps each probe's unique to the path
 *         it must be shown with.
 * garbage: N exchanges of random opcodes and bytes (see gen_garbage).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fuse_kernel.h"
#include "format.h"
#include "opcodes.h"
#include "trace.h"

#define MAXMSG (1u << 20)
#define US 1000ull

static uint8_t reqbuf[MAXMSG], repbuf[MAXMSG];

/* ---- randomness ------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
	double u = rnd01(), v = rnd01();

	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* ---- messages ----------------------------------------------------------------- */

struct msg {
	uint32_t req_len, rep_len;
	bool has_reply;
};

static uint32_t put_req(uint32_t op, uint64_t unique, uint64_t node, const void *fixed,
			uint32_t fixed_len, const char *n1, const char *n2, uint32_t data)
{
	struct fuse_in_header h = { .opcode = op, .unique = unique, .nodeid = node,
				    .uid = 1000, .gid = 1000, .pid = 4000 + (uint32_t)(unique % 7) };
	uint32_t len = sizeof h;

	if (fixed_len) {
		memcpy(reqbuf + len, fixed, fixed_len);
		len += fixed_len;
	}
	if (n1) {
		memcpy(reqbuf + len, n1, strlen(n1) + 1);
		len += (uint32_t)strlen(n1) + 1;
	}
	if (n2) {
		memcpy(reqbuf + len, n2, strlen(n2) + 1);
		len += (uint32_t)strlen(n2) + 1;
	}
	len += data;                /* data bytes: whatever the buffer holds */
	h.len = len;
	memcpy(reqbuf, &h, sizeof h);
	return len;
}

static uint32_t put_reply(uint64_t unique, int32_t error, const void *payload, uint32_t n)
{
	struct fuse_out_header h = { .len = (uint32_t)sizeof h + n, .error = error,
				     .unique = unique };

	if (payload && n)
		memcpy(repbuf + sizeof h, payload, n);
	memcpy(repbuf, &h, sizeof h);
	return h.len;
}

static uint32_t entry_reply(uint64_t unique, uint64_t node, bool create)
{
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} r;

	memset(&r, 0, sizeof r);
	r.e.nodeid = node;
	r.e.generation = 1;
	r.e.attr.ino = node;
	r.e.attr.mode = 0100644;
	r.o.fh = node + 1000;
	return put_reply(unique, 0, &r, create ? sizeof r : sizeof r.e);
}

/* ---- the trace ---------------------------------------------------------------- */

static struct fp_trace *trace;
static int nworkers = 4;
static uint64_t next_unique = 2;

struct timing {
	uint64_t t_read, t_sent, t_reply, t_written;
};

static void emit(uint32_t op, uint64_t unique, uint64_t node, uint32_t req_len, uint32_t rep_len,
		 int32_t error, const struct timing *tm, int worker, uint32_t flags)
{
	struct fp_trace_exchange x = {
		.unique = unique, .nodeid = node, .opcode = op, .uid = 1000, .gid = 1000,
		.pid = 4000 + (uint32_t)(unique % 7), .worker = worker, .error = error,
		.flags = flags | FP_TRACE_F_BACKEND,
		.t_read = tm->t_read, .t_sent = tm->t_sent, .t_reply = tm->t_reply,
		.t_written = tm->t_written, .req = reqbuf, .req_len = req_len,
		.reply = rep_len ? repbuf : NULL, .reply_len = rep_len,
		.comm = unique % 3 ? "fio" : "bash",
	};

	if (flags & FP_TRACE_F_PENDING) {
		x.flags &= ~FP_TRACE_F_PENDING;
		fp_trace_pending(trace, &x);
	} else {
		fp_trace_exchange(trace, 0, &x);
	}
}

static void emit_init(uint64_t t)
{
	struct fuse_init_in ii = { .major = 7, .minor = 45, .max_readahead = 131072,
				   .flags = (uint32_t)(FUSE_INIT_EXT | FUSE_ASYNC_READ |
						       FUSE_DO_READDIRPLUS | FUSE_PARALLEL_DIROPS),
				   .flags2 = 0 };
	struct fuse_init_out io = { .major = 7, .minor = 45, .max_readahead = 131072,
				    .flags = (uint32_t)(FUSE_INIT_EXT | FUSE_ASYNC_READ |
							FUSE_DO_READDIRPLUS | FUSE_PARALLEL_DIROPS),
				    .max_write = 1 << 20, .max_pages = 256, .time_gran = 1 };
	struct timing tm = { t, t + 2 * US, t + 10 * US, t + 12 * US };
	uint32_t rl = put_req(FUSE_INIT, 1, 0, &ii, sizeof ii, NULL, NULL, 0);
	uint32_t pl = put_reply(1, 0, &io, sizeof io);

	emit(FUSE_INIT, 1, 0, rl, pl, 0, &tm, 0, 0);
}

/* ---- expectations (mix) ---------------------------------------------------------- */

struct opexp {
	uint64_t count, errors, pending, data, req_bytes, reply_bytes;
	uint64_t errnos[134];
	uint64_t *total, *backend, *overhead;
	size_t nt, nb, cap;
};

static struct opexp *exp_ops;        /* [FUSE_OP_MAX] with --expect */
static uint64_t *pending_uniques;
static size_t npending;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest rank, the definition fuseanalyze documents */
static uint64_t exact_q(uint64_t *v, size_t n, double p)
{
	double r = ceil(p * (double)n);
	size_t k = r < 1 ? 1 : (size_t)r;

	if (p >= 1)
		k = n;
	return v[k - 1];
}

static void note_exp(uint32_t op, uint32_t req_len, uint32_t rep_len, int32_t error,
		     uint64_t data, const struct timing *tm, bool pending, uint64_t unique)
{
	struct opexp *e;

	if (pending) {
		pending_uniques = realloc(pending_uniques, (npending + 1) * sizeof *pending_uniques);
		pending_uniques[npending++] = unique;
	}
	if (!exp_ops)
		return;
	e = &exp_ops[op];
	e->count++;
	e->req_bytes += req_len;
	e->reply_bytes += rep_len;
	e->data += data;
	if (pending) {
		e->pending++;
		return;
	}
	if (error) {
		e->errors++;
		e->errnos[-error]++;
	}
	if (!tm->t_written)
		return;                 /* no reply by design (FORGET): no latency */
	if (e->nt == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 1024;
		e->total = realloc(e->total, e->cap * sizeof *e->total);
		e->backend = realloc(e->backend, e->cap * sizeof *e->backend);
		e->overhead = realloc(e->overhead, e->cap * sizeof *e->overhead);
		if (!e->total || !e->backend || !e->overhead) {
			fprintf(stderr, "tracegen: out of memory\n");
			exit(1);
		}
	}
	e->total[e->nt] = tm->t_written - tm->t_read;
	e->backend[e->nt] = tm->t_reply - tm->t_sent;
	e->overhead[e->nt] = e->total[e->nt] - e->backend[e->nt];
	e->nt++;
}

static void write_quantiles(FILE *f, const char *name, uint64_t *v, size_t n)
{
	static const struct { const char *k; double p; } qs[] = {
		{ "p50", 0.5 }, { "p90", 0.9 }, { "p99", 0.99 }, { "p99.9", 0.999 }, { "max", 1 },
	};

	qsort(v, n, sizeof *v, cmp_u64);
	fprintf(f, ", \"%s\": {", name);
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", qs[i].k,
			(unsigned long long)exact_q(v, n, qs[i].p));
	fprintf(f, "}");
}

static void write_expect_mix(const char *path)
{
	FILE *f = fopen(path, "w");
	bool first = true;

	if (!f) {
		perror(path);
		exit(1);
	}
	fprintf(f, "{\"ops\": {");
	for (uint32_t op = 0; op < FUSE_OP_MAX; op++) {
		struct opexp *e = &exp_ops[op];
		bool fe = true;

		if (!e->count)
			continue;
		fprintf(f, "%s\n \"%s\": {\"count\": %llu, \"errors\": %llu, \"pending\": %llu, "
			"\"data_bytes\": %llu, \"request_bytes\": %llu, \"reply_bytes\": %llu, "
			"\"errnos\": {", first ? "" : ",", fuse_opname(op),
			(unsigned long long)e->count, (unsigned long long)e->errors,
			(unsigned long long)e->pending, (unsigned long long)e->data,
			(unsigned long long)e->req_bytes, (unsigned long long)e->reply_bytes);
		first = false;
		for (int k = 1; k < 134; k++) {
			if (!e->errnos[k])
				continue;
			fprintf(f, "%s\"%s\": %llu", fe ? "" : ", ", fuse_errno_name(k),
				(unsigned long long)e->errnos[k]);
			fe = false;
		}
		fprintf(f, "}");
		if (e->nt) {
			write_quantiles(f, "total", e->total, e->nt);
			write_quantiles(f, "backend", e->backend, e->nt);
			write_quantiles(f, "overhead", e->overhead, e->nt);
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n}, \"pending\": [");
	for (size_t i = 0; i < npending; i++)
		fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)pending_uniques[i]);
	fprintf(f, "]}\n");
	fclose(f);
}

/* ---- mix workload -------------------------------------------------------------------- */

struct opmix {
	uint32_t op;
	unsigned weight;
	double base_us;             /* median backend time */
	unsigned err_pct;
	int err;
};

static const struct opmix mix[] = {
	{ FUSE_LOOKUP, 300, 20, 25, -ENOENT },
	{ FUSE_GETATTR, 250, 8, 0, 0 },
	{ FUSE_READ, 150, 60, 0, 0 },
	{ FUSE_WRITE, 100, 90, 0, 0 },
	{ FUSE_OPEN, 50, 15, 3, -EACCES },
	{ FUSE_RELEASE, 50, 5, 0, 0 },
	{ FUSE_CREATE, 30, 120, 0, 0 },
	{ FUSE_FORGET, 25, 0, 0, 0 },
	{ FUSE_UNLINK, 20, 80, 5, -ENOENT },
	{ FUSE_GETXATTR, 15, 10, 60, -ENODATA },
	{ FUSE_MKDIR, 5, 150, 0, 0 },
	{ FUSE_RMDIR, 5, 100, 40, -ENOTEMPTY },
	{ FUSE_STATFS, 5, 30, 0, 0 },
};

static uint32_t err_op = UINT32_MAX;     /* --err-pct OP=PCT */
static unsigned err_pct_override;

static void gen_mix(uint64_t n, unsigned pending_k, uint32_t slow_op, double slow_factor,
		    bool with_init)
{
	unsigned total_w = 0;
	uint64_t t = fp_trace_now(), pending_every = pending_k ? n / pending_k : 0;

	for (size_t i = 0; i < sizeof mix / sizeof mix[0]; i++)
		total_w += mix[i].weight;
	if (with_init) {
		emit_init(t);
		note_exp(FUSE_INIT, (uint32_t)(sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in)),
			 (uint32_t)(sizeof(struct fuse_out_header) + sizeof(struct fuse_init_out)), 0, 0,
			 &(struct timing){ t, t + 2 * US, t + 10 * US, t + 12 * US }, false, 1);
		t += 20 * US;
	}
	for (uint64_t i = 0; i < n; i++) {
		unsigned w = (unsigned)(rnd() % total_w);
		const struct opmix *m = mix;
		uint64_t unique = next_unique, node = 1 + rnd() % 1000, data = 0;
		struct timing tm;
		uint32_t rl, pl = 0, flags = 0;
		int32_t error = 0;
		bool pending = pending_every && i % pending_every == pending_every / 2;
		double be;

		next_unique += 2;
		while (w >= m->weight) {
			w -= m->weight;
			m++;
		}
		t += rnd() % (20 * US);
		be = m->base_us * US * exp(0.6 * gauss());
		if (rnd() % 100 == 0)
			be *= 20;           /* the tail */
		if (m->op == slow_op)
			be *= slow_factor;
		tm.t_read = t;
		tm.t_sent = t + 1 * US + rnd() % (4 * US);
		tm.t_reply = tm.t_sent + (uint64_t)be + 1;
		tm.t_written = tm.t_reply + 500 + rnd() % (2 * US);
		{
			unsigned pct = m->op == err_op ? err_pct_override : m->err_pct;

			if (pct && rnd() % 100 < pct)
				error = m->err ? m->err : -EIO;
		}

		switch (m->op) {
		case FUSE_LOOKUP:
		case FUSE_UNLINK:
		case FUSE_RMDIR: {
			char name[32];

			snprintf(name, sizeof name, "f%llu", (unsigned long long)(rnd() % 5000));
			rl = put_req(m->op, unique, node, NULL, 0, name, NULL, 0);
			pl = m->op == FUSE_LOOKUP && !error ? entry_reply(unique, 10000 + i, false)
							    : put_reply(unique, error, NULL, 0);
			break;
		}
		case FUSE_MKDIR: {
			struct fuse_mkdir_in mi = { .mode = 0755 };

			rl = put_req(m->op, unique, node, &mi, sizeof mi, "d", NULL, 0);
			pl = entry_reply(unique, 10000 + i, false);
			break;
		}
		case FUSE_CREATE: {
			struct fuse_create_in ci = { .flags = 0101, .mode = 0644 };

			rl = put_req(m->op, unique, node, &ci, sizeof ci, "new", NULL, 0);
			pl = entry_reply(unique, 10000 + i, true);
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_getattr_in gi = { 0 };
			struct fuse_attr_out ao = { .attr_valid = 1, .attr.ino = node };

			rl = put_req(m->op, unique, node, &gi, sizeof gi, NULL, NULL, 0);
			pl = put_reply(unique, 0, &ao, sizeof ao);
			break;
		}
		case FUSE_READ: {
			struct fuse_read_in ri = { .fh = 7, .offset = rnd() % (1 << 30), .size = 131072 };

			data = rnd() % 131073;
			rl = put_req(m->op, unique, node, &ri, sizeof ri, NULL, NULL, 0);
			pl = put_reply(unique, 0, NULL, (uint32_t)data);
			break;
		}
		case FUSE_WRITE: {
			struct fuse_write_in wi = { .fh = 7, .offset = rnd() % (1 << 30) };
			struct fuse_write_out wo;

			data = rnd() % 131073;
			wi.size = (uint32_t)data;
			wo.size = wi.size;
			wo.padding = 0;
			rl = put_req(m->op, unique, node, &wi, sizeof wi, NULL, NULL, (uint32_t)data);
			pl = put_reply(unique, 0, &wo, sizeof wo);
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_in oi = { .flags = 0 };
			struct fuse_open_out oo = { .fh = 7 };

			rl = put_req(m->op, unique, node, &oi, sizeof oi, NULL, NULL, 0);
			pl = error ? put_reply(unique, error, NULL, 0) : put_reply(unique, 0, &oo, sizeof oo);
			break;
		}
		case FUSE_RELEASE: {
			struct fuse_release_in ri = { .fh = 7 };

			rl = put_req(m->op, unique, node, &ri, sizeof ri, NULL, NULL, 0);
			pl = put_reply(unique, 0, NULL, 0);
			break;
		}
		case FUSE_FORGET: {
			struct fuse_forget_in fi = { .nlookup = 1 };

			rl = put_req(m->op, unique, node, &fi, sizeof fi, NULL, NULL, 0);
			pl = 0;
			flags = FP_TRACE_F_NOREPLY;
			tm.t_sent = tm.t_reply = tm.t_written = 0;
			break;
		}
		case FUSE_GETXATTR: {
			struct fuse_getxattr_in gi = { .size = 256 };

			rl = put_req(m->op, unique, node, &gi, sizeof gi, "user.x", NULL, 0);
			pl = put_reply(unique, error, error ? NULL : "value", error ? 0 : 5);
			break;
		}
		default: {
			rl = put_req(m->op, unique, node, NULL, 0, NULL, NULL, 0);
			pl = put_reply(unique, 0, repbuf + 4096, sizeof(struct fuse_statfs_out));
			break;
		}
		}
		if (m->op == FUSE_READ && error)
			data = 0;
		if (pending && m->op != FUSE_FORGET) {
			tm.t_reply = 0;
			tm.t_written = 0;
			error = 0;
			pl = 0;
			if (m->op == FUSE_READ)
				data = 0;
			flags |= FP_TRACE_F_PENDING;
		} else {
			pending = false;
		}
		note_exp(m->op, rl, pl, error, data, &tm, pending, unique);
		emit(m->op, unique, node, rl, pl, error, &tm, (int)(rnd() % (uint64_t)nworkers), flags);
	}
}

/* ---- paths workload -------------------------------------------------------------------- */

static uint64_t pt;                  /* its clock */
static FILE *pexp;
static bool pfirst = true;

static void p_emit(uint32_t op, uint64_t node, uint32_t rl, uint32_t pl, int32_t error,
		   uint64_t unique, uint32_t flags)
{
	struct timing tm = { pt, pt + 1 * US, pt + 5 * US, pt + 6 * US };

	if (flags & FP_TRACE_F_NOREPLY)
		tm.t_sent = tm.t_reply = tm.t_written = 0;
	emit(op, unique, node, rl, pl, error, &tm, 0, flags);
	pt += 10 * US;
}

static uint64_t uniq(void)
{
	uint64_t u = next_unique;

	next_unique += 2;
	return u;
}

static void p_entry(uint32_t op, uint64_t dir, const char *name, uint64_t node)
{
	uint64_t u = uniq();
	uint32_t rl, pl;

	if (op == FUSE_MKDIR) {
		struct fuse_mkdir_in mi = { .mode = 0755 };

		rl = put_req(op, u, dir, &mi, sizeof mi, name, NULL, 0);
	} else if (op == FUSE_CREATE) {
		struct fuse_create_in ci = { .flags = 0101, .mode = 0644 };

		rl = put_req(op, u, dir, &ci, sizeof ci, name, NULL, 0);
	} else {
		rl = put_req(op, u, dir, NULL, 0, name, NULL, 0);
	}
	pl = entry_reply(u, node, op == FUSE_CREATE);
	p_emit(op, dir, rl, pl, 0, u, 0);
}

/* A probe: GETATTR of node that must be shown as `path`. */
static void p_probe(uint64_t node, const char *path)
{
	struct fuse_getattr_in gi = { 0 };
	struct fuse_attr_out ao = { .attr_valid = 1, .attr.ino = node };
	uint64_t u = uniq();
	uint32_t rl = put_req(FUSE_GETATTR, u, node, &gi, sizeof gi, NULL, NULL, 0);
	uint32_t pl = put_reply(u, 0, &ao, sizeof ao);

	p_emit(FUSE_GETATTR, node, rl, pl, 0, u, 0);
	fprintf(pexp, "%s\n  \"%llu\": \"%s\"", pfirst ? "" : ",", (unsigned long long)u, path);
	pfirst = false;
}

static void p_rename(uint32_t op, uint64_t olddir, const char *oldname, uint64_t newdir,
		     const char *newname, uint32_t flags)
{
	struct fuse_rename2_in r2 = { .newdir = newdir, .flags = flags };
	uint64_t u = uniq();
	uint32_t rl = put_req(op, u, olddir, &r2, op == FUSE_RENAME2 ? sizeof r2 : 8, oldname,
			      newname, 0);

	p_emit(op, olddir, rl, put_reply(u, 0, NULL, 0), 0, u, 0);
}

static void p_unlink(uint32_t op, uint64_t dir, const char *name)
{
	uint64_t u = uniq();
	uint32_t rl = put_req(op, u, dir, NULL, 0, name, NULL, 0);

	p_emit(op, dir, rl, put_reply(u, 0, NULL, 0), 0, u, 0);
}

static void p_forget(uint64_t node, uint64_t n)
{
	struct fuse_forget_in fi = { .nlookup = n };
	uint64_t u = uniq();
	uint32_t rl = put_req(FUSE_FORGET, u, node, &fi, sizeof fi, NULL, NULL, 0);

	p_emit(FUSE_FORGET, node, rl, 0, 0, u, FP_TRACE_F_NOREPLY);
}

static void p_readdirplus(uint64_t dir, const char *const *names, const uint64_t *nodes, int n)
{
	struct fuse_read_in ri = { .size = 4096 };
	uint8_t payload[4096];
	uint32_t len = 0;
	uint64_t u = uniq();
	uint32_t rl = put_req(FUSE_READDIRPLUS, u, dir, &ri, sizeof ri, NULL, NULL, 0);

	memset(payload, 0, sizeof payload);
	for (int i = 0; i < n; i++) {
		struct fuse_direntplus d;
		size_t nl = strlen(names[i]);

		memset(&d, 0, sizeof d);
		d.entry_out.nodeid = nodes[i];
		d.entry_out.attr.ino = nodes[i];
		d.dirent.ino = nodes[i];
		d.dirent.off = (uint64_t)i + 1;
		d.dirent.namelen = (uint32_t)nl;
		memcpy(payload + len, &d, FUSE_NAME_OFFSET_DIRENTPLUS);
		memcpy(payload + len + FUSE_NAME_OFFSET_DIRENTPLUS, names[i], nl);
		len += (uint32_t)FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + nl);
	}
	p_emit(FUSE_READDIRPLUS, dir, rl, put_reply(u, 0, payload, len), 0, u, 0);
}

static void gen_paths(const char *expect, bool with_init)
{
	static const char *const rdp_names[] = { ".", "..", "r1", "r2" };
	static const uint64_t rdp_nodes[] = { 3, 2, 10, 11 };
	uint64_t u;
	uint32_t rl;

	pexp = fopen(expect ? expect : "/dev/null", "w");
	if (!pexp) {
		perror(expect);
		exit(1);
	}
	fprintf(pexp, "{\"paths\": {");
	pt = fp_trace_now();
	if (with_init) {
		emit_init(pt);
		pt += 20 * US;
	}
	/* mid-session: a node never handed out in this trace, and a child of it */
	p_probe(500, "(unknown)");
	p_entry(FUSE_LOOKUP, 500, "child", 501);
	p_probe(501, "(unknown)/child");

	p_entry(FUSE_MKDIR, 1, "a", 2);
	p_entry(FUSE_MKDIR, 2, "b", 3);
	p_entry(FUSE_CREATE, 3, "f.txt", 4);
	p_probe(4, "/a/b/f.txt");
	p_rename(FUSE_RENAME, 3, "f.txt", 2, "g.txt", 0);
	p_probe(4, "/a/g.txt");
	p_rename(FUSE_RENAME, 1, "a", 1, "z", 0);              /* a directory */
	p_probe(4, "/z/g.txt");
	p_probe(3, "/z/b");
	p_entry(FUSE_CREATE, 3, "h", 5);
	p_probe(5, "/z/b/h");
	p_unlink(FUSE_UNLINK, 3, "h");
	p_probe(5, "/z/b/h (deleted)");                       /* still open */
	p_forget(5, 1);
	p_probe(5, "(unknown)");                              /* gone */
	p_entry(FUSE_CREATE, 3, "x", 6);
	p_entry(FUSE_CREATE, 3, "y", 7);
	p_rename(FUSE_RENAME2, 3, "x", 3, "y", RENAME_EXCHANGE);
	p_probe(6, "/z/b/y");
	p_probe(7, "/z/b/x");
	p_entry(FUSE_CREATE, 1, "t1", 8);
	p_entry(FUSE_CREATE, 1, "t2", 9);
	p_rename(FUSE_RENAME, 1, "t1", 1, "t2", 0);            /* replaces t2 */
	p_probe(9, "/t2 (deleted)");
	p_probe(8, "/t2");
	p_readdirplus(3, rdp_names, rdp_nodes, 4);
	p_probe(10, "/z/b/r1");
	p_probe(11, "/z/b/r2");
	/* LINK: the node is now also /hard; we show the last name */
	{
		struct fuse_link_in li = { .oldnodeid = 10 };

		u = uniq();
		rl = put_req(FUSE_LINK, u, 1, &li, sizeof li, "hard", NULL, 0);
		p_emit(FUSE_LINK, 1, rl, entry_reply(u, 10, false), 0, u, 0);
	}
	p_probe(10, "/hard");
	/* a failed LOOKUP changes nothing */
	u = uniq();
	rl = put_req(FUSE_LOOKUP, u, 3, NULL, 0, "r2", NULL, 0);
	p_emit(FUSE_LOOKUP, 3, rl, put_reply(u, -ENOENT, NULL, 0), -ENOENT, u, 0);
	p_probe(11, "/z/b/r2");
	/* a nodeid reused after its FORGET gets its new name */
	p_forget(8, 1);
	p_entry(FUSE_MKDIR, 3, "again", 8);
	p_probe(8, "/z/b/again");
	/* rmdir of an empty directory, then a lookup of the directory later */
	p_unlink(FUSE_RMDIR, 3, "again");
	p_probe(8, "/z/b/again (deleted)");
	p_probe(77, "(unknown)");
	p_probe(1, "/");
	fprintf(pexp, "\n}}\n");
	fclose(pexp);
}

/* ---- garbage workload ---------------------------------------------------------------------- */

/* Exchanges a broken or hostile daemon/kernel pair could leave in a trace:
 * random opcodes (known, unknown, CUSE), random bytes behind headers that
 * sometimes claim the right length, names without NULs, entry replies
 * naming random nodes, timestamps out of order.  Analysis must survive
 * all of it (the corrupt test runs every command on it under ASan). */
static void gen_garbage(uint64_t n)
{
	uint64_t t = fp_trace_now();

	for (uint64_t i = 0; i < n; i++) {
		uint32_t op = rnd() % 10 == 0 ? (uint32_t)(rnd() % 5000) : (uint32_t)(rnd() % 56);
		uint32_t rl = (uint32_t)(rnd() % 400), pl = (uint32_t)(rnd() % 400);
		uint64_t u = next_unique;
		struct timing tm;
		uint32_t flags = (uint32_t)(rnd() & 0x1ff) & ~FP_TRACE_F_UNPAIRED;

		next_unique += 2;
		for (uint32_t k = 0; k < rl; k++)
			reqbuf[k] = (uint8_t)rnd();
		for (uint32_t k = 0; k < pl; k++)
			repbuf[k] = (uint8_t)rnd();
		if (rnd() % 2 && rl >= 40) {
			struct fuse_in_header h = { .len = rl, .opcode = op, .unique = u,
						    .nodeid = rnd() % 20 };

			memcpy(reqbuf, &h, sizeof h);
		}
		if (rnd() % 2 && pl >= 16) {
			struct fuse_out_header h = { .len = pl, .error = rnd() % 3 ? 0 : -(int32_t)(rnd() % 600),
						     .unique = u };

			memcpy(repbuf, &h, sizeof h);
			if (pl >= 16 + 8 && rnd() % 2) {
				uint64_t node = 1 + rnd() % 30;    /* an entry reply's nodeid */

				memcpy(repbuf + 16, &node, 8);
			}
		}
		t += rnd() % 5000;
		tm.t_read = t;
		tm.t_sent = rnd() % 4 ? t + rnd() % 3000 : 0;
		tm.t_reply = rnd() % 4 ? t + rnd() % 6000 : 0;
		tm.t_written = rnd() % 5 ? t + rnd() % 9000 : (rnd() % 2 ? 0 : t - rnd() % 1000);
		if (flags & (FP_TRACE_F_NOREPLY | FP_TRACE_F_PENDING))
			pl = 0;
		emit(op, u, rnd() % 20, rl, pl, rnd() % 3 ? 0 : -(int32_t)(rnd() % 140), &tm,
		     (int)(rnd() % 5) - 1, flags);
	}
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: fuseanalyze-tracegen [-n N] [--seed S] [--workload mix|paths|garbage] "
		"[--pending K] [--slow OP=FACTOR] [-s SNAPLEN] [--workers W] [--no-init] "
		"[--expect FILE] OUT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", required_argument, NULL, 'S' },
		{ "workload", required_argument, NULL, 'W' },
		{ "pending", required_argument, NULL, 'P' },
		{ "slow", required_argument, NULL, 'L' },
		{ "workers", required_argument, NULL, 'w' },
		{ "no-init", no_argument, NULL, 'I' },
		{ "expect", required_argument, NULL, 'e' },
		{ "err-pct", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	const char *workload = "mix", *expect = NULL, *out;
	uint64_t n = 10000;
	unsigned pending = 0;
	uint32_t slow_op = UINT32_MAX, snaplen = FP_TRACE_SNAPLEN_ALL;
	double slow_factor = 1;
	bool with_init = true;
	struct fp_trace_stats st;
	char err[512], *argv0[] = { "fuseanalyze-tracegen", NULL };
	int ch;

	rng_state = 42;
	while ((ch = getopt_long(argc, argv, "n:s:", lo, NULL)) != -1) {
		switch (ch) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 's': snaplen = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'S': rng_state = strtoull(optarg, NULL, 10); break;
		case 'W': workload = optarg; break;
		case 'P': pending = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': nworkers = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
		case 'I': with_init = false; break;
		case 'e': expect = optarg; break;
		case 'E':
		case 'L': {
			char *eq = strchr(optarg, '=');
			uint32_t found = UINT32_MAX;
			const struct fuse_op *op;

			if (!eq)
				usage();
			*eq = '\0';
			for (size_t i = 0; (op = fuse_op_at(i)); i++)
				if (!strcasecmp(op->name, optarg))
					found = op->opcode;
			if (found == UINT32_MAX) {
				fprintf(stderr, "tracegen: unknown opcode %s\n", optarg);
				return 2;
			}
			if (ch == 'E') {
				err_op = found;
				err_pct_override = (unsigned)strtoul(eq + 1, NULL, 10);
			} else {
				slow_op = found;
				slow_factor = strtod(eq + 1, NULL);
			}
			break;
		}
		default: usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	out = argv[optind];
	{
		size_t l = strlen(out);
		bool pcap = l >= 5 && !strcmp(out + l - 5, ".pcap");
		struct fp_trace_opts o = {
			.db_path = pcap ? NULL : out, .pcap_path = pcap ? out : NULL,
			.nworkers = 1, .snaplen = snaplen, .drop_policy = FP_TRACE_BLOCK,
			.argc = 1, .argv = argv0, .mountpoint = "/mnt/synthetic",
			.transport = "fusedev", .backend = "tracegen",
		};

		if (fp_trace_open(&trace, &o, err, sizeof err)) {
			fprintf(stderr, "tracegen: %s\n", err);
			return 1;
		}
	}
	if (!strcmp(workload, "mix")) {
		if (expect && !(exp_ops = calloc(FUSE_OP_MAX, sizeof *exp_ops)))
			return 1;
		gen_mix(n, pending, slow_op, slow_factor, with_init);
	} else if (!strcmp(workload, "paths")) {
		gen_paths(expect, with_init);
	} else if (!strcmp(workload, "garbage")) {
		gen_garbage(n);
	} else {
		usage();
	}
	if (fp_trace_close(trace, &st, err, sizeof err)) {
		fprintf(stderr, "tracegen: %s\n", err);
		return 1;
	}
	if (st.dropped || st.lost) {
		fprintf(stderr, "tracegen: %llu records dropped, %llu lost\n",
			(unsigned long long)st.dropped, (unsigned long long)st.lost);
		return 1;
	}
	if (expect && exp_ops)
		write_expect_mix(expect);
	return 0;
}
