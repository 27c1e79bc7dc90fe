/* \summary: requests forwarded to the backend and not yet answered, keyed
 * by the kernel's unique. */
#ifndef FP_PENDING_H
#define FP_PENDING_H

#include <pthread.h>
#include <stdint.h>

#include "fuse_kernel.h"

struct fp_chan;
struct fwd_call;

#define FP_PENDING_FIXED 96   /* bytes of the fixed in-arg kept for reply checks */

struct fp_pending {
	struct fp_pending *next;       /* hash chain / free list */
	uint64_t unique;
	struct fuse_in_header in;      /* the request's header */
	uint32_t fixed_len;
	struct fp_chan *chan;          /* reply goes back where it came from;
					  NULL for our own requests (DESTROY) */
	uint64_t t_read, t_sent;
	int worker;
	uint32_t flags;                /* FP_TRACE_F_* gathered on the way */
	uint32_t reqlen;               /* bytes of the request kept in req */
	char comm[16];                 /* fp_req.comm */
	char *text;                    /* -d: the formatted request, or NULL */
	/* state tracking and recovery (forward.c, recovery.c) */
	uint32_t rflags;               /* FP_PR_* */
	uint8_t traced;                /* the recorder wants this exchange */
	const char *name, *name2;      /* the request's names (in names or req) */
	uint64_t aux;                  /* O_APPEND WRITE: the node's size before it;
					  RELEASE: the backend's fh (of aux_gen) */
	uint32_t aux_gen;              /* backend generation aux belongs to */
	uint8_t has_aux;
	struct fwd_call *call;         /* our own request: who waits for it */
	unsigned char fixed[FP_PENDING_FIXED];
	/* -- kept across reuse (not cleared by fp_pending_alloc) -- */
	void *req;                     /* recording, --restart: copy of the request */
	uint32_t reqcap;
	char *names;                   /* copy of the names when req has none */
	uint32_t namescap;
};

/* fp_pending.rflags */
#define FP_PR_QUEUED    (1u << 0)  /* not (yet) sent to the current backend */
#define FP_PR_RECOVERY  (1u << 1)  /* counts towards the running recovery's time */

struct fp_pending_table {
	pthread_mutex_t lock;
	struct fp_pending **bucket;
	uint32_t nbucket;              /* power of two */
	uint32_t count;
	struct fp_pending *free;
};

int fp_pending_init(struct fp_pending_table *t);
void fp_pending_fini(struct fp_pending_table *t);

/* Get an entry cleared up to `fixed` (from the free list when possible);
 * its request buffer survives reuse.  NULL on ENOMEM. */
struct fp_pending *fp_pending_alloc(struct fp_pending_table *t);
void fp_pending_release(struct fp_pending_table *t, struct fp_pending *p);
/* Keep a copy of the request (for the recorder).  Returns 0 or -ENOMEM. */
int fp_pending_keep_request(struct fp_pending *p, const void *msg, uint32_t len);

/* Insert; returns -EEXIST if the unique is already pending. */
int fp_pending_insert(struct fp_pending_table *t, struct fp_pending *p);
/* Remove and return the entry for unique, or NULL. */
struct fp_pending *fp_pending_take(struct fp_pending_table *t, uint64_t unique);
/* Look up without removing; calls fn under the table lock. Returns 1 if found. */
int fp_pending_with(struct fp_pending_table *t, uint64_t unique,
		    void (*fn)(struct fp_pending *p, void *arg), void *arg);
/* Remove everything (e.g. oldest-first failing on backend death); calls fn
 * on each removed entry outside the lock, then releases it. */
void fp_pending_drain(struct fp_pending_table *t,
		      void (*fn)(struct fp_pending *p, void *arg), void *arg);
/* Call fn on every entry under the lock (keep fn short). */
void fp_pending_foreach(struct fp_pending_table *t,
			void (*fn)(struct fp_pending *p, void *arg), void *arg);
/* Oldest t_sent among entries the backend has (not FP_PR_QUEUED), 0 if none. */
uint64_t fp_pending_oldest(struct fp_pending_table *t);

#endif
