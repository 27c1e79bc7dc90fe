/* \summary: journal compaction (see journal.h): what a successor would
 * rebuild from the active region, written as a snapshot into the other.
 *
 * Runs in the thread whose append passed the threshold, under the journal
 * lock (no record can be added meanwhile).  The new region holds:
 *
 *  1. the tables a takeover would replay from the active region (jscan.c:
 *     every change tagged 0, and every change of a request whose reply
 *     was journaled), built in a scratch state and dumped by
 *     fp_state_dump, tagged 0;
 *  2. then, as they were: the changes of requests whose reply is not
 *     journaled (yet: it may come after the switch, and then they count),
 *     and the replies not marked delivered (a successor writes them again;
 *     their changes are in 1, and an undo tagged with their unique that
 *     comes later still finds them).
 *
 * Moving the changes of 2 after the snapshot reorders them against
 * changes that count.  Lookup counts add up in any order; names cannot
 * conflict, because the kernel holds the directory of a LOOKUP, CREATE,
 * ... until it has the reply, so no rename or unlink of that name can come
 * between the change and the reply's journaling.
 */
#include <string.h>

#include "jcompact.h"
#include "jscan.h"
#include "state.h"

struct carry {
	struct fp_jscan *s;
	struct fp_journal *j;
	int err;
};

static int emit(void *arg, uint16_t type, const void *a, size_t alen, const void *b,
		size_t blen)
{
	return fp_journal_rewrite_append(arg, type, 0, a, alen, b, blen);
}

static void carry(void *arg, uint16_t type, uint64_t unique, const void *pl, size_t len)
{
	struct carry *c = arg;
	struct fp_jreply *r;

	if (c->err || !unique || type == FP_J_DONE)
		return;
	r = fp_jscan_reply(c->s, unique);
	if (type == FP_J_REPLY ? r && r->done : r && r->msg)
		return;		/* delivered, or counted in the snapshot */
	c->err = fp_journal_rewrite_append(c->j, type, unique, pl, len, NULL, 0);
}

void fp_journal_compact(void *arg, struct fp_journal *j)
{
	struct fp_jscan s;
	struct fp_state st;
	int inited, ok;

	(void)arg;
	memset(&s, 0, sizeof s);
	ok = inited = fp_state_init(&st) == 0;
	s.st = &st;
	if (ok) {
		fp_journal_walk_locked(j, fp_jscan_replies, &s);
		ok = !s.nomem;
	}
	if (ok)
		fp_journal_walk_locked(j, fp_jscan_apply, &s);
	fp_journal_rewrite_begin(j);
	if (ok)
		ok = fp_state_dump(&st, emit, j) == 0;
	if (ok) {
		struct carry c = { &s, j, 0 };
		fp_journal_walk_locked(j, carry, &c);
		ok = !c.err;
	}
	/* not ok (out of memory, the snapshot does not fit): the active
	 * region stays, and fills up */
	fp_journal_rewrite_end(j, ok);
	if (inited)
		fp_state_fini(&st);
	fp_jscan_free(&s);
}
