/* \summary: the state of one replay, shared by driver.c (scheduling and
 * the target), tracein.c (reading the trace), remap.c (ids) and replies.c
 * (comparing and reporting). */
#ifndef RP_RUN_I_H
#define RP_RUN_I_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "replay_i.h"
#include "dirstream.h"
#include "target.h"
#include "trace.h"
#include "validate.h"

#define RBUF_SIZE ((2u << 20) + 65536)
#define CLEANUP_UNIQUE (1ull << 62)     /* our own FORGET/RELEASE: replies ignored */
#define DEFAULT_WINDOW_RECORDED 4096
#define NS 1000000000ull
#define ALIGN8(x) (((size_t)(x) + 7) & ~(size_t)7)

struct rp_ex {
	struct rp_ex *prev, *next;       /* in-flight or deferred list */
	uint64_t seq;
	struct fp_trace_exchange x;      /* req/reply point into buf */
	struct fuse_req_view v;          /* the recorded request, parsed */
	const struct fuse_op *op;
	uint8_t *sent;
	uint32_t sent_len;
	uint64_t new_unique;
	uint64_t t_sent, deadline;
	uint64_t node, node2, fh, fh2;   /* recorded ids it names (fh as map keys), 0 = none */
	uint64_t out_node, out_fh;       /* recorded ids its reply hands out (fh as key) */
	struct ds_pos dpos;
	bool quiet;                      /* --pending prefix: counted, not reported */
	bool rec_pending;                /* no recorded reply to compare with */
	bool noreply;                    /* the op takes no reply */
	bool blocker;                    /* waited on other requests when recorded */
	bool int_sent;                   /* we sent an INTERRUPT for it: -w marks it
					    interrupted, so its replay waits for it */
	bool creator;                    /* may hand out ids */
	bool name_op;                    /* in_header.nodeid is the parent */
	char skip[320];                  /* non-empty: skip it, for this reason */
	char comm[16];
	uint64_t buf[];                  /* recorded request, reply, rewritten request */
};

#define RECENT 256
#define DUP_WINDOW 64

struct recent {
	uint64_t unique, t_written;
};

struct run {
	const struct rp_opts *o;
	struct rp_opts o_none;           /* the same with --compare none (ignored ops) */
	struct rp_report rep;
	struct fp_reader *rd;
	const struct fp_trace_session *ses;
	struct rp_target *t;
	struct fp_trace *rec;
	struct fuse_wire_params wp_rec, wp_new;
	struct rp_ids ids;
	struct rp_map inflight;          /* new unique -> ex */
	struct rp_map rec_uniq;          /* recorded unique -> ex in flight */
	struct rp_map deferred_uniq;     /* recorded unique -> deferred ex (--pending) */
	struct rp_ex *ifl_head, *ifl_tail;
	size_t ninflight, ncreators;
	struct rp_ex *def_head, *def_tail;
	struct rp_ex *head;              /* next to dispatch */
	struct rp_ex *ahead;             /* read ahead (peek_next) */
	bool eof, reader_done, injecting;
	uint64_t seq, next_unique, cleanup_unique;
	uint64_t t_first_rec, t_start;
	size_t window;
	bool sync_target;                /* in-process, served inside send() */
	bool hung;                       /* abandoned: do not wait for it at the end */
	void *rbuf;
	struct rp_ex *cur;               /* exchange whose reply is being processed */
	uint8_t last_sent[4096];         /* for a crash with nothing in flight: the */
	uint32_t last_sent_len;          /* last request sent (recorded bytes) */
	uint64_t last_sent_seq;
	uint32_t last_sent_op;
	int fatal;                       /* RP_EXIT_* once the run must stop */
	struct recent recent[RECENT];
	unsigned nrecent;
	uint64_t dup_ring[DUP_WINDOW];   /* last uniques read (tracein.c) */
	struct rp_ex **heap;             /* serial order: read, not yet replayed */
	size_t nheap, capheap;
	uint64_t last_t_read;
	bool reader_eof;
	unsigned dup_next;
};


static inline uint64_t rp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* Offset of the fixed argument in the recorded (and the rewritten) request. */
static inline uint32_t fixed_off(const struct rp_ex *ex)
{
	return (uint32_t)((const uint8_t *)ex->v.fixed - (const uint8_t *)ex->x.req);
}

static inline void put_u64(uint8_t *msg, uint32_t off, uint64_t v)
{
	memcpy(msg + off, &v, sizeof v);
}

/* driver.c */
void rp_set_end(struct run *R, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rp_inflight_del(struct run *R, struct rp_ex *ex);

/* tracein.c */
int rp_trace_error(struct run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next exchange into R->head: 1, 0 at the end, -1 on a bad trace. */
int rp_read_next(struct run *R);
/* The exchange after R->head, read but not consumed (NULL at the end). */
struct rp_ex *rp_peek_next(struct run *R);

/* remap.c */
char *rp_ex_path(struct run *R, const struct rp_ex *ex);
void rp_send_cleanup(struct run *R, uint32_t opcode, uint64_t nodeid, uint64_t fh,
		     uint32_t open_flags);
void rp_skip_reason_node(struct run *R, struct rp_node *n, uint64_t rec, const char *role,
			 char *why, size_t len, uint64_t *cause);
int rp_rewrite(struct run *R, struct rp_ex *ex, char *why, size_t len, uint64_t *cause);
uint64_t rp_forget_one(struct run *R, uint64_t rec, uint64_t nlookup, uint64_t *target_id);
uint32_t rp_rewrite_batch(struct run *R, struct rp_ex *ex);
void rp_release_fh(struct run *R, struct rp_ex *ex);
void rp_taint(struct run *R, struct rp_ex *ex, uint64_t cause, uint64_t created);
uint64_t rp_cause_of(struct run *R, struct rp_ex *ex);
bool rp_learn(struct run *R, struct rp_ex *ex, const struct fuse_out_header *got,
	      size_t glen, bool got_ok, const struct rp_opts *o, struct sbuf *diff);

/* replies.c */
char *rp_fmt_request(const struct rp_ex *ex);
char *rp_fmt_reply(const struct rp_ex *ex, const void *msg, size_t len);
void rp_record(struct run *R, const struct rp_ex *ex, const void *reply, size_t rlen,
	       uint64_t t_done, uint32_t flags);
void rp_skip(struct run *R, struct rp_ex *ex, const char *why, uint64_t cause);
uint64_t rp_recent_done(struct run *R, uint64_t unique);
void rp_on_message(struct run *R, void *msg, size_t len);

#endif
