/* \summary: the recorder: hot-path copies into per-worker rings, and the
 * writer thread that drains them into the sinks (see trace.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "opcodes.h"
#include "trace_i.h"

#define DEFAULT_RING_KIB   4096
#define MAX_RING_BYTES     (1ull << 30)        /* record sizes are u32 */
#define DEFAULT_FLUSH_MS   200
#define DEFAULT_BATCH_ROWS 65536
#define IDLE_WAIT_NS       (10 * 1000000ull)   /* writer's longest nap */
#define FULL_WAIT_NS       (1000000ull)        /* producer's nap on a full ring */
#define RELEASE_EVERY      256                 /* records between tail stores */
#define RELEASE_FRACTION   8                   /* ... or this part of a ring */
#define ROUND_RECORDS      8192                /* per ring per round: fairness */

struct sink_slot {
	const struct fp_sink_ops *ops;
	struct fp_sink *s;
	char *path;
	bool dead;
	uint64_t lost;              /* records this file is missing */
};

struct fp_trace {
	/* read by producers */
	int nworkers;
	struct fp_ring *rings;              /* nworkers + 1; the last is shared */
	struct comm_cache **ring_comm;      /* per worker: fp_trace_comm() */
	pthread_mutex_t shared_lock;
	int policy;                         /* FP_TRACE_BLOCK / FP_TRACE_DROP */
	uint32_t snaplen;
	struct fp_trace_filter filter;
	uint16_t req_hdr[FUSE_OP_MAX];
	uint16_t reply_hdr[FUSE_OP_MAX];    /* 0: depends on the length */
	_Alignas(64) _Atomic uint32_t bell; /* writer's doorbell (futex) */
	_Atomic uint32_t writer_asleep;     /* the writer naps on bell */
	_Atomic int stop;

	/* writer thread */
	_Alignas(64) pthread_t thread;
	bool started;
	struct sink_slot sinks[2];
	int nsinks;
	uint64_t flush_ns, batch_rows;
	struct comm_cache *comm;
	uint64_t drops_reported;
	bool drop_warned;
	_Atomic uint64_t written, lost;
	_Atomic int write_error;
	char first_error[256];
	void (*log)(void *arg, const char *msg);
	void *log_arg;

	/* session description (strings owned) */
	struct fp_trace_session ses;
	char *own[8];
};

/* ---- Producer side (hot path) --------------------------------------------- */

static inline struct fp_ring *pick_ring(struct fp_trace *t, int worker, bool *shared)
{
	*shared = worker < 0 || worker >= t->nworkers;
	return &t->rings[*shared ? t->nworkers : worker];
}

static inline uint32_t snap(const struct fp_trace *t, uint32_t hdr, uint32_t len)
{
	uint64_t keep;

	if (t->snaplen == FP_TRACE_SNAPLEN_ALL)
		return len;
	keep = (uint64_t)hdr + t->snaplen;
	return keep < len ? (uint32_t)keep : len;
}

static inline uint32_t req_hdr(const struct fp_trace *t, uint32_t opcode)
{
	return opcode < FUSE_OP_MAX ? t->req_hdr[opcode] : trace_req_hdrlen(opcode);
}

static inline uint32_t reply_hdr(const struct fp_trace *t, uint32_t opcode, uint32_t len)
{
	if (opcode < FUSE_OP_MAX && t->reply_hdr[opcode])
		return t->reply_hdr[opcode];
	return trace_reply_hdrlen(opcode, len);
}

/* Reserve ring space, waiting for the writer under FP_TRACE_BLOCK. */
static bool reserve(struct fp_trace *t, struct fp_ring *r, uint64_t len, struct ring_slot *s)
{
	while (!ring_reserve(r, len, s)) {
		if (t->policy == FP_TRACE_DROP) {
			ring_count(&r->dropped);
			return false;
		}
		atomic_fetch_add_explicit(&t->bell, 1, memory_order_release);
		fp_futex_wake(&t->bell);
		ring_wait_space(r, len, FULL_WAIT_NS);
	}
	return true;
}

/* Ring the doorbell once a ring is half full while the writer naps: it
 * would otherwise sleep out its nap (IDLE_WAIT_NS) while the ring fills up
 * and the producer blocks.  Below half, the nap's end is soon enough: no
 * syscall per record.  tail_seen may be stale: a fresh look decides. */
static inline void publish(struct fp_trace *t, struct fp_ring *r, const struct ring_slot *s)
{
	ring_publish(r, s);
	if (s->next_head - r->tail_seen <= r->size / 2)
		return;
	r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (s->next_head - r->tail_seen <= r->size / 2)
		return;
	/* pairs with the writer's fence between flagging and its last look */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&t->writer_asleep, memory_order_relaxed) &&
	    atomic_exchange_explicit(&t->writer_asleep, 0, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&t->bell, 1, memory_order_release);
		fp_futex_wake(&t->bell);
	}
}

static void put_exchange(struct fp_trace *t, int worker, const struct fp_trace_exchange *x,
			 uint32_t extra_flags)
{
	bool shared;
	struct fp_ring *r = pick_ring(t, worker, &shared);
	uint32_t req_len = x->req ? x->req_len : 0;
	uint32_t reply_len = x->reply ? x->reply_len : 0;
	uint32_t rq = snap(t, req_hdr(t, x->opcode), req_len);
	uint32_t rp = snap(t, reply_hdr(t, x->opcode, reply_len), reply_len);
	uint32_t flags = x->flags | extra_flags;
	/* minus 8: the record is rounded up to a multiple of 8 */
	uint64_t max = ring_max_record(r) - sizeof(struct trec_x) - 8;
	struct ring_slot s;
	struct trec_x *rec;

	if (!fp_trace_filter_passes(&t->filter, x->opcode)) {
		ring_count(&r->filtered);
		return;
	}
	/* A record must fit half the ring: cut the reply first. */
	if ((uint64_t)rq + rp > max) {
		rp = rq >= max ? 0 : (uint32_t)(max - rq);
		rq = rq > max ? (uint32_t)max : rq;
	}
	if (rq < req_len)
		flags |= FP_TRACE_F_REQ_TRUNC;
	if (rp < reply_len)
		flags |= FP_TRACE_F_REPLY_TRUNC;

	if (shared)
		pthread_mutex_lock(&t->shared_lock);
	if (!reserve(t, r, RING_ALIGN(sizeof *rec + rq + rp), &s))
		goto out;
	rec = s.p;
	rec->h.size = (uint32_t)RING_ALIGN(sizeof *rec + rq + rp);
	rec->h.type = TREC_EXCHANGE;
	rec->h.aux = 0;
	rec->worker = x->worker;
	rec->opcode = x->opcode;
	rec->uid = x->uid;
	rec->gid = x->gid;
	rec->pid = x->pid;
	rec->error = x->error;
	rec->flags = flags;
	rec->req_len = req_len;
	rec->req_cap = rq;
	rec->reply_len = reply_len;
	rec->reply_cap = rp;
	rec->unique = x->unique;
	rec->nodeid = x->nodeid;
	rec->t_read = x->t_read;
	rec->t_sent = x->t_sent;
	rec->t_reply = x->t_reply;
	rec->t_written = x->t_written;
	trace_comm_copy(rec->comm, x->comm);
	if (rq)
		memcpy(rec + 1, x->req, rq);
	if (rp)
		memcpy((uint8_t *)(rec + 1) + rq, x->reply, rp);
	publish(t, r, &s);
out:
	if (shared)
		pthread_mutex_unlock(&t->shared_lock);
}

void fp_trace_exchange(struct fp_trace *t, int worker, const struct fp_trace_exchange *x)
{
	if (t && x)
		put_exchange(t, worker, x, 0);
}

void fp_trace_pending(struct fp_trace *t, const struct fp_trace_exchange *x)
{
	struct fp_trace_exchange p;

	if (!t || !x)
		return;
	p = *x;
	p.reply = NULL;
	p.reply_len = 0;
	p.error = 0;
	p.t_written = 0;
	put_exchange(t, -1, &p, FP_TRACE_F_PENDING);
}

void fp_trace_notify(struct fp_trace *t, int worker, int dir,
		     const void *msg, size_t len, uint64_t tns)
{
	bool shared, in_hdr = dir == FP_DIR_KERNEL_TO_PROXY || dir == FP_DIR_PROXY_TO_BACKEND;
	struct fp_ring *r;
	struct ring_slot s;
	struct trec_n *rec;
	uint32_t code = 0, hdr, cap, n;
	uint64_t unique = 0;
	const struct fuse_notify *nt;

	if (!t || !msg || len > UINT32_MAX)
		return;
	n = (uint32_t)len;
	r = pick_ring(t, worker, &shared);
	if (n >= 16) {
		memcpy(&code, (const uint8_t *)msg + 4, 4);   /* opcode / error */
		memcpy(&unique, (const uint8_t *)msg + 8, 8);
	}
	if (in_hdr) {
		hdr = req_hdr(t, code);
	} else {
		nt = fuse_notify_get(code);
		hdr = (uint32_t)sizeof(struct fuse_out_header) + (nt ? nt->size : 0);
	}
	cap = snap(t, hdr, n);
	if (cap > ring_max_record(r) - sizeof *rec - 8)
		cap = (uint32_t)(ring_max_record(r) - sizeof *rec - 8);

	if (shared)
		pthread_mutex_lock(&t->shared_lock);
	if (!reserve(t, r, RING_ALIGN(sizeof *rec + cap), &s))
		goto out;
	rec = s.p;
	rec->h.size = (uint32_t)RING_ALIGN(sizeof *rec + cap);
	rec->h.type = TREC_NOTIFY;
	rec->h.aux = (uint16_t)dir;
	rec->worker = worker;
	rec->code = code;
	rec->len = n;
	rec->cap = cap;
	rec->unique = unique;
	rec->t = tns;
	memcpy(rec + 1, msg, cap);
	publish(t, r, &s);
out:
	if (shared)
		pthread_mutex_unlock(&t->shared_lock);
}

void fp_trace_event(struct fp_trace *t, int kind, const char *fmt, ...)
{
	char text[1024];
	struct fp_ring *r;
	struct ring_slot s;
	struct trec_e *rec;
	va_list ap;
	int n;

	if (!t)
		return;
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof text)
		n = sizeof text - 1;
	r = &t->rings[t->nworkers];
	pthread_mutex_lock(&t->shared_lock);
	if (reserve(t, r, RING_ALIGN(sizeof *rec + (uint32_t)n + 1), &s)) {
		rec = s.p;
		rec->h.size = (uint32_t)RING_ALIGN(sizeof *rec + (uint32_t)n + 1);
		rec->h.type = TREC_EVENT;
		rec->h.aux = (uint16_t)kind;
		rec->len = (uint32_t)n;
		rec->t = fp_trace_now();
		memcpy(rec + 1, text, (size_t)n + 1);
		ring_publish(r, &s);
	}
	pthread_mutex_unlock(&t->shared_lock);
}

void fp_trace_comm(struct fp_trace *t, int worker, uint32_t pid, uint64_t now_ns, char comm[16])
{
	const char *c;

	comm[0] = '\0';
	if (!t || !pid)
		return;
	if (worker >= 0 && worker < t->nworkers)
		c = comm_lookup(t->ring_comm[worker], pid, now_ns);
	else
		c = comm_read(pid, comm) ? comm : NULL;
	if (c && c != comm)
		memcpy(comm, c, 16);
}

bool fp_trace_wants(const struct fp_trace *t, uint32_t opcode)
{
	return t && fp_trace_filter_passes(&t->filter, opcode);
}

void fp_trace_stats(struct fp_trace *t, struct fp_trace_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!t)
		return;
	for (int i = 0; i <= t->nworkers; i++) {
		st->records += atomic_load_explicit(&t->rings[i].produced, memory_order_relaxed);
		st->dropped += atomic_load_explicit(&t->rings[i].dropped, memory_order_relaxed);
		st->filtered += atomic_load_explicit(&t->rings[i].filtered, memory_order_relaxed);
	}
	st->written = atomic_load(&t->written);
	st->lost = atomic_load(&t->lost);
	st->write_error = atomic_load(&t->write_error);
}

/* ---- Writer thread ---------------------------------------------------------- */

static void warn(struct fp_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct fp_trace *t, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (t->log)
		t->log(t->log_arg, msg);
	else
		fprintf(stderr, "fuseproxy: trace: %s\n", msg);
}

/* stats.lost: what the worst-off file is missing */
static void note_lost(struct fp_trace *t)
{
	uint64_t worst = 0;

	for (int i = 0; i < t->nsinks; i++)
		if (t->sinks[i].lost > worst)
			worst = t->sinks[i].lost;
	atomic_store_explicit(&t->lost, worst, memory_order_relaxed);
}

static void sink_failed(struct fp_trace *t, struct sink_slot *k, int ret, const char *msg,
			uint64_t batch)
{
	int none = 0;

	k->dead = true;
	if (atomic_compare_exchange_strong(&t->write_error, &none, ret))
		snprintf(t->first_error, sizeof t->first_error, "%s", msg);
	/* The failed batch is gone with the transaction (sqlite) or buffer. */
	k->lost += batch;
	note_lost(t);
	/* the sinks' messages start with the file's name */
	warn(t, "%s; no more records go to this file (they are counted as lost)", msg);
}

/* Hand one record to every live sink. */
static void deliver(struct fp_trace *t, const struct fp_trace_rec *rec, uint64_t batch)
{
	char err[256];
	bool lost = false;

	for (int i = 0; i < t->nsinks; i++) {
		struct sink_slot *k = &t->sinks[i];
		int ret;

		if (!k->dead) {
			ret = k->ops->put(k->s, rec, err, sizeof err);
			if (ret)
				sink_failed(t, k, ret, err, batch);
		}
		if (k->dead) {
			k->lost++;
			lost = true;
		}
	}
	if (lost)
		note_lost(t);
	atomic_fetch_add_explicit(&t->written, 1, memory_order_relaxed);
}

static void fill_counters(struct fp_trace *t)
{
	struct fp_trace_stats st;

	fp_trace_stats(t, &st);
	t->ses.records = st.written;
	t->ses.dropped = st.dropped;
	t->ses.lost = st.lost;
}

static void flush_sinks(struct fp_trace *t, uint64_t batch)
{
	char err[256];

	fill_counters(t);
	for (int i = 0; i < t->nsinks; i++) {
		struct sink_slot *k = &t->sinks[i];
		int ret;

		if (k->dead)
			continue;
		ret = k->ops->flush(k->s, &t->ses, err, sizeof err);
		if (ret)
			sink_failed(t, k, ret, err, batch);
	}
}

/* Drops since the last look become an event in the trace itself. */
static void report_drops(struct fp_trace *t)
{
	struct fp_trace_stats st;
	struct fp_trace_rec rec;
	char text[128];

	fp_trace_stats(t, &st);
	if (st.dropped == t->drops_reported)
		return;
	if (!t->drop_warned) {
		warn(t, "rings full, dropping records (--drop-policy drop); the count is in the trace");
		t->drop_warned = true;
	}
	snprintf(text, sizeof text, "dropped %llu records (%llu in total)",
		 (unsigned long long)(st.dropped - t->drops_reported),
		 (unsigned long long)st.dropped);
	t->drops_reported = st.dropped;
	memset(&rec, 0, sizeof rec);
	rec.kind = FP_REC_EVENT;
	rec.e.t = fp_trace_now();
	rec.e.kind = FP_EV_DROPS;
	rec.e.text = text;
	deliver(t, &rec, 0);
}

/* A ring record as a struct fp_trace_rec pointing into the ring; comm
 * (17 bytes) receives the NUL-terminated command name. */
static void ring_rec_to_rec(struct fp_trace *t, const struct trec *h, struct fp_trace_rec *rec,
			    char *comm, uint64_t now)
{
	memset(rec, 0, sizeof *rec);
	if (h->type == TREC_EXCHANGE) {
		const struct trec_x *r = (const struct trec_x *)h;
		struct fp_trace_exchange *x = &rec->x;

		rec->kind = FP_REC_EXCHANGE;
		x->unique = r->unique;
		x->nodeid = r->nodeid;
		x->opcode = r->opcode;
		x->uid = r->uid;
		x->gid = r->gid;
		x->pid = r->pid;
		x->worker = r->worker;
		x->error = r->error;
		x->flags = r->flags;
		x->t_read = r->t_read;
		x->t_sent = r->t_sent;
		x->t_reply = r->t_reply;
		x->t_written = r->t_written;
		x->req = r + 1;
		x->req_len = r->req_len;
		x->req_caplen = r->req_cap;
		x->reply = r->reply_cap || r->reply_len ? (const uint8_t *)(r + 1) + r->req_cap : NULL;
		x->reply_len = r->reply_len;
		x->reply_caplen = r->reply_cap;
		if (r->comm[0]) {
			memcpy(comm, r->comm, 16);     /* may lack the NUL */
			comm[16] = '\0';
			x->comm = comm;
		} else {
			x->comm = comm_lookup(t->comm, r->pid, now);
		}
	} else if (h->type == TREC_NOTIFY) {
		const struct trec_n *r = (const struct trec_n *)h;

		rec->kind = FP_REC_NOTIFY;
		rec->n.t = r->t;
		rec->n.unique = r->unique;
		rec->n.worker = r->worker;
		rec->n.dir = h->aux;
		rec->n.code = r->code;
		rec->n.msg = r + 1;
		rec->n.len = r->len;
		rec->n.caplen = r->cap;
	} else if (h->type == TREC_EVENT) {
		const struct trec_e *r = (const struct trec_e *)h;

		rec->kind = FP_REC_EVENT;
		rec->e.t = r->t;
		rec->e.kind = h->aux;
		rec->e.text = (const char *)(r + 1);
	}
}

/* Drain what each ring holds right now (bounded per ring).  Returns the
 * number of records handled. */
static uint64_t drain(struct fp_trace *t, uint64_t batch)
{
	uint64_t total = 0, now = fp_trace_now();
	char comm[17];

	for (int i = 0; i <= t->nworkers; i++) {
		struct fp_ring *r = &t->rings[i];
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint64_t n = 0, released = tail;
		const struct trec *h;

		while (n < ROUND_RECORDS && (h = ring_peek(r, &tail, head))) {
			struct fp_trace_rec rec;

			ring_rec_to_rec(t, h, &rec, comm, now);
			if (rec.kind)
				deliver(t, &rec, batch + total + n);
			tail += h->size;
			/* often enough that a producer waiting for room gets it
			 * while large records are still being written */
			if (++n % RELEASE_EVERY == 0 || tail - released >= r->size / RELEASE_FRACTION) {
				ring_release(r, tail);
				released = tail;
			}
		}
		/* pads at the end, and the last partial group */
		ring_peek(r, &tail, head);
		ring_release(r, tail);
		total += n;
	}
	return total;
}

static bool rings_empty(struct fp_trace *t)
{
	for (int i = 0; i <= t->nworkers; i++) {
		struct fp_ring *r = &t->rings[i];

		if (atomic_load_explicit(&r->head, memory_order_acquire) !=
		    atomic_load_explicit(&r->tail, memory_order_relaxed))
			return false;
	}
	return true;
}

static void *writer_main(void *arg)
{
	struct fp_trace *t = arg;
	uint64_t last_flush = fp_trace_now(), batch = 0;

	for (;;) {
		/* Read stop before draining: what was published before close()
		 * set it is drained in this round. */
		int stop = atomic_load(&t->stop);
		uint64_t n = drain(t, batch);
		uint64_t now = fp_trace_now();

		batch += n;
		if (now - last_flush >= t->flush_ns || batch >= t->batch_rows) {
			report_drops(t);
			if (batch)
				flush_sinks(t, batch);
			batch = 0;
			last_flush = now;
		}
		if (n)
			continue;
		if (stop)
			break;
		uint32_t seq = atomic_load_explicit(&t->bell, memory_order_acquire);
		uint64_t wait = IDLE_WAIT_NS;

		if (batch && t->flush_ns - (now - last_flush) < wait)
			wait = t->flush_ns - (now - last_flush);
		atomic_store_explicit(&t->writer_asleep, 1, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst);
		if (rings_empty(t))
			fp_futex_wait(&t->bell, seq, wait);
		atomic_store_explicit(&t->writer_asleep, 0, memory_order_relaxed);
	}
	report_drops(t);
	return NULL;
}

/* ---- Open / close ------------------------------------------------------------ */

static char *own(struct fp_trace *t, const char *s)
{
	char *c;

	if (!s)
		return NULL;
	c = strdup(s);
	for (size_t i = 0; c && i < sizeof t->own / sizeof t->own[0]; i++) {
		if (!t->own[i]) {
			t->own[i] = c;
			return c;
		}
	}
	free(c);
	return NULL;
}

static void free_trace(struct fp_trace *t)
{
	if (t->rings) {
		for (int i = 0; i <= t->nworkers; i++)
			ring_destroy(&t->rings[i]);
		free(t->rings);
	}
	if (t->ring_comm) {
		for (int i = 0; i <= t->nworkers; i++)
			comm_cache_free(t->ring_comm[i]);
		free(t->ring_comm);
	}
	for (int i = 0; i < t->nsinks; i++)
		free(t->sinks[i].path);
	for (size_t i = 0; i < sizeof t->own / sizeof t->own[0]; i++)
		free(t->own[i]);
	comm_cache_free(t->comm);
	pthread_mutex_destroy(&t->shared_lock);
	free(t);
}

static void close_sinks(struct fp_trace *t, char *err, size_t errlen, int *ret)
{
	char msg[256];

	for (int i = 0; i < t->nsinks; i++) {
		struct sink_slot *k = &t->sinks[i];
		int r;

		if (!k->s)
			continue;
		r = k->ops->close(k->s, &t->ses, msg, sizeof msg);
		k->s = NULL;
		if (r && !k->dead && !*ret)
			*ret = trace_err(err, errlen, r, "%s: %s", k->path, msg);
	}
}

static uint64_t ns_of(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t ring_bytes(uint32_t kib)
{
	size_t want = (size_t)(kib ? kib : DEFAULT_RING_KIB) * 1024, size = 4096;

	if (want > MAX_RING_BYTES)
		want = MAX_RING_BYTES;

	while (size < want)
		size <<= 1;
	return size;
}

int fp_trace_open(struct fp_trace **tp, const struct fp_trace_opts *o,
		  char *err, size_t errlen)
{
	struct fp_trace *t;
	struct utsname uts;
	const char *paths[2] = { o->db_path, o->pcap_path };
	const struct fp_sink_ops *ops[2] = { &fp_sqlite_sink, &fp_pcap_sink };
	char msg[256];
	int ret;

	*tp = NULL;
	if (o->nworkers < 0 || o->nworkers > 4096)
		return trace_err(err, errlen, -EINVAL, "trace: bad worker count %d", o->nworkers);
	if (!o->db_path && !o->pcap_path)
		return trace_err(err, errlen, -EINVAL, "trace: no output file");
	t = calloc(1, sizeof *t);
	if (!t)
		return trace_err(err, errlen, -ENOMEM, "trace: out of memory");
	pthread_mutex_init(&t->shared_lock, NULL);
	t->nworkers = o->nworkers;
	t->snaplen = o->snaplen;
	t->policy = o->drop_policy ? o->drop_policy
				   : o->db_path ? FP_TRACE_BLOCK : FP_TRACE_DROP;
	t->flush_ns = (uint64_t)(o->flush_ms ? o->flush_ms : DEFAULT_FLUSH_MS) * 1000000u;
	t->batch_rows = o->batch_rows ? o->batch_rows : DEFAULT_BATCH_ROWS;
	t->log = o->log;
	t->log_arg = o->log_arg;

	ret = fp_trace_filter_parse(o->filter, &t->filter, err, errlen);
	if (ret)
		goto fail;
	for (uint32_t op = 0; op < FUSE_OP_MAX; op++) {
		const struct fuse_op *fop = fuse_op_get(op);

		t->req_hdr[op] = (uint16_t)trace_req_hdrlen(op);
		t->reply_hdr[op] = fop && fop->reply == FUSE_R_XATTR ? 0
				   : (uint16_t)trace_reply_hdrlen(op, 0);
	}

	ret = -ENOMEM;
	t->rings = calloc((size_t)t->nworkers + 1, sizeof *t->rings);
	t->ring_comm = calloc((size_t)t->nworkers + 1, sizeof *t->ring_comm);
	t->comm = comm_cache_new();
	if (!t->rings || !t->ring_comm || !t->comm) {
		trace_err(err, errlen, ret, "trace: out of memory");
		goto fail;
	}
	for (int i = 0; i <= t->nworkers; i++)
		if (!(t->ring_comm[i] = comm_cache_new())) {
			trace_err(err, errlen, ret, "trace: out of memory");
			goto fail;
		}
	for (int i = 0; i <= t->nworkers; i++) {
		ret = ring_init(&t->rings[i], ring_bytes(o->ring_kib));
		if (ret) {
			trace_err(err, errlen, ret, "trace: ring of %zu bytes: %s",
				  ring_bytes(o->ring_kib), strerror(-ret));
			goto fail;
		}
	}

	/* Session description */
	t->ses.format_version = 1;
	t->ses.start_mono_ns = ns_of(CLOCK_MONOTONIC);
	t->ses.start_wall_ns = ns_of(CLOCK_REALTIME);
	{
		char *argv = trace_argv_json(o->argc, o->argv);

		t->ses.argv = own(t, argv);
		free(argv);
	}
	t->ses.mountpoint = own(t, o->mountpoint);
	t->ses.transport = own(t, o->transport);
	t->ses.backend = own(t, o->backend);
	t->ses.kernel = uname(&uts) ? NULL : own(t, uts.release);
	t->ses.filter = o->filter && *o->filter ? own(t, o->filter) : NULL;
	t->ses.drop_policy = t->policy == FP_TRACE_BLOCK ? "block" : "drop";
	t->ses.snaplen = o->snaplen;

	for (int i = 0; i < 2; i++) {
		struct sink_slot *k;

		if (!paths[i])
			continue;
		k = &t->sinks[t->nsinks];
		k->ops = ops[i];
		k->path = strdup(paths[i]);
		ret = ops[i]->open(&k->s, paths[i], &t->ses, msg, sizeof msg);
		if (ret) {
			trace_err(err, errlen, ret, "%s", msg);
			free(k->path);
			k->path = NULL;
			goto fail;
		}
		t->nsinks++;
	}

	ret = -pthread_create(&t->thread, NULL, writer_main, t);
	if (ret) {
		trace_err(err, errlen, ret, "trace: writer thread: %s", strerror(-ret));
		goto fail;
	}
	t->started = true;
	/* findable in top -H, perf and /proc/PID/task/N/comm (bench/run) */
	pthread_setname_np(t->thread, "fp-trace-writer");
	*tp = t;
	return 0;

fail:
	{
		int ignore = 0;

		close_sinks(t, NULL, 0, &ignore);
	}
	/* no half-made traces left behind */
	for (int i = 0; i < t->nsinks; i++)
		if (strcmp(t->sinks[i].path, "-"))
			unlink(t->sinks[i].path);
	free_trace(t);
	return ret;
}

int fp_trace_close(struct fp_trace *t, struct fp_trace_stats *st, char *err, size_t errlen)
{
	int ret = 0;

	if (!t)
		return 0;
	atomic_store(&t->stop, 1);
	atomic_fetch_add(&t->bell, 1);
	fp_futex_wake(&t->bell);
	if (t->started)
		pthread_join(t->thread, NULL);

	fill_counters(t);
	t->ses.end_mono_ns = ns_of(CLOCK_MONOTONIC);
	t->ses.end_wall_ns = ns_of(CLOCK_REALTIME);
	if (atomic_load(&t->write_error))
		ret = trace_err(err, errlen, atomic_load(&t->write_error), "%s", t->first_error);
	close_sinks(t, err, errlen, &ret);
	if (st) {
		fp_trace_stats(t, st);
	}
	free_trace(t);
	return ret;
}
