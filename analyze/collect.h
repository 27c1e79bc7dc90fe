/* \summary: the collectors behind top, slow, inflight and timeline (and
 * the report, which runs them all in one pass).  Each is an engine
 * consumer plus a function that turns what it gathered into a table. */
#ifndef AN_COLLECT_H
#define AN_COLLECT_H

#include <stdbool.h>
#include <stdint.h>
#include "engine.h"
#include "hist.h"
#include "table.h"

/* ---- top: per-path totals (needs AN_PATHS) ------------------------------ */

enum an_top_by { AN_BY_OPS, AN_BY_BYTES, AN_BY_TIME, AN_BY_ERRORS };

struct an_top_row {
	char *path;
	uint64_t ops, errors, data, time_ns, nodes;
};

struct an_top {
	enum an_top_by by;          /* what compaction keeps */
	size_t cap;                 /* sealed rows kept before compaction */
	struct an_top_row *rows;    /* sealed: per node incarnation, then per path */
	size_t n, alloc;
	uint64_t dropped_max;       /* largest metric value compaction dropped */
	uint64_t dropped_rows;
	int err;
};

/* -1 if name is not ops/bytes/time/errors. */
int an_top_parse_by(const char *name);
void an_top_init(struct an_top *t, enum an_top_by by);
/* Engine must have AN_PATHS. */
struct an_consumer an_top_consumer(struct an_top *t);
/* After the pass: group by path; call once, after an_engine_run(). */
int an_top_finish(struct an_top *t, struct an_engine *e);
/* The n biggest rows by `by` as a table named `name`. */
struct an_table *an_top_table(struct an_top *t, enum an_top_by by, size_t n, const char *name,
			      const char *title);
void an_top_free(struct an_top *t);

/* ---- slow: the N slowest requests ---------------------------------------- */

struct an_slow_entry {
	uint64_t total, backend, t_read, unique, nodeid;
	uint32_t opcode, pid;
	int32_t error, worker;
	bool has_backend;
	char comm[17];
	char *path, *detail;
};

struct an_slow {
	size_t n;                   /* how many to keep */
	struct an_slow_entry *heap; /* min-heap by total */
	size_t len;
	int err;
};

void an_slow_init(struct an_slow *s, size_t n);
struct an_consumer an_slow_consumer(struct an_slow *s);
/* Slowest first. */
struct an_table *an_slow_table(struct an_slow *s, struct an_engine *e);
void an_slow_free(struct an_slow *s);

/* ---- inflight: requests never answered ------------------------------------- */

struct an_inflight {
	struct an_slow_entry *v;    /* t_read order (the pass's order) */
	uint8_t *where;             /* enum an_wait per entry */
	size_t n, alloc;
	int err;
};

void an_inflight_init(struct an_inflight *f);
struct an_consumer an_inflight_consumer(struct an_inflight *f);
struct an_table *an_inflight_table(struct an_inflight *f, struct an_engine *e);
void an_inflight_free(struct an_inflight *f);

/* ---- timeline: per time bucket --------------------------------------------- */

struct an_bucket {
	uint64_t start;             /* ns since the origin */
	uint64_t width;
	uint64_t requests, errors, data;
	uint64_t inflight_end, inflight_max;
	struct an_hist lat;         /* total latency, AN_HIST_BITS_SMALL */
};

/* Called with each finished bucket (streaming mode). */
typedef int an_bucket_fn(void *arg, const struct an_bucket *b);

struct an_timeline {
	uint64_t width;             /* bucket width, ns */
	an_bucket_fn *emit;         /* streaming: hand buckets out, keep none */
	void *emit_arg;
	size_t max_buckets;         /* kept mode: double the width past this */
	struct an_bucket *b;        /* kept buckets */
	size_t nb, alloc;
	struct an_bucket cur;       /* bucket being filled */
	bool started;
	uint64_t *heap;             /* t_written of requests in flight (min-heap) */
	size_t hlen, halloc;
	uint64_t peak_inflight;
	bool to_last_activity;      /* end at the last timestamp seen, not at
				       the session's end (charts) */
	int err;
};

/* Streaming: emit(arg, bucket) for every bucket of `width` ns in order. */
void an_timeline_init_stream(struct an_timeline *t, uint64_t width, an_bucket_fn *emit,
			     void *arg);
/* Kept: at most max_buckets buckets, starting at `width` and doubling
 * (merging neighbours) whenever the trace outgrows them. */
void an_timeline_init_kept(struct an_timeline *t, uint64_t width, size_t max_buckets);
struct an_consumer an_timeline_consumer(struct an_timeline *t);
void an_timeline_free(struct an_timeline *t);

/* ---- shared ---------------------------------------------------------------- */

/* Fill e's strings for request r (path before its effects, decoded
 * request and reply).  -ENOMEM. */
int an_entry_fill(struct an_slow_entry *s, struct an_engine *e, const struct an_req *r);
void an_entry_free(struct an_slow_entry *s);
/* Set the columns slow and inflight share, in row r of t.  -ENOMEM. */
int an_entry_row(struct an_table *t, size_t r, struct an_engine *e, const struct an_slow_entry *s,
		 unsigned c_at, unsigned c_op, unsigned c_unique, unsigned c_pid, unsigned c_comm,
		 unsigned c_worker, unsigned c_path, unsigned c_detail);

#endif
