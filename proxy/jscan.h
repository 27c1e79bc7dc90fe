/* \summary: reading a worker journal back (journal.h): which requests had
 * their reply journaled, and delivered, and the changes that count for a
 * successor.  Shared by the takeover (takeover.c) and the compaction
 * (jcompact.c), which writes what a takeover would rebuild.
 *
 * A change tagged with a request's unique counts only if that request's
 * reply was journaled (it is journaled before it goes to the kernel):
 * without it the kernel never saw the reply, and will send the request
 * again.  Changes tagged 0 always count.
 */
#ifndef FP_JSCAN_H
#define FP_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct fp_state;

struct fp_jreply {
	uint64_t unique;               /* 0: free slot */
	const void *msg;               /* the reply as the kernel got it (NULL: none) */
	uint32_t len, worker;
	int done;                      /* the kernel took it */
};

struct fp_jscan {
	struct fp_jreply *t;           /* by unique, open addressing */
	size_t mask, n;
	int nomem;
	struct fp_state *st;           /* fp_jscan_apply applies to it */
	long applied, skipped, bad;
	/* FORGETs found in the read slots, not marked journaled there: pass 1
	 * clears those it finds in a FP_J_KFORGET record */
	int nslots;
	uint64_t slot_unique[FP_J_MAX_SLOTS];   /* 0: none */
};

/* Pass 1 (an fp_journal_fn): replies and deliveries. */
void fp_jscan_replies(void *arg, uint16_t type, uint64_t unique, const void *pl, size_t len);
/* Pass 2: apply to s->st the changes that count. */
void fp_jscan_apply(void *arg, uint16_t type, uint64_t unique, const void *pl, size_t len);
/* The reply of unique after pass 1, or NULL. */
struct fp_jreply *fp_jscan_reply(struct fp_jscan *s, uint64_t unique);
void fp_jscan_free(struct fp_jscan *s);

#endif
