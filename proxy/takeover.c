/* \summary: a proxy worker taking over from one that died (fuseproxy
 * --backend CMD --restart under its holder; doc/recovery.md section 8).
 *
 * The kernel connection, the very /dev/fuse files the dead worker read
 * from, and the journal survived in the holder.  The dead worker's backend
 * did not: the holder killed it (it may have been executing requests whose
 * outcome only the dead worker knew), so the new one starts from the
 * journal exactly as after a backend crash:
 *
 *  1. Replay the journal into the state tables.  A change made while
 *     tracking a reply counts only if that reply was journaled too (it is
 *     journaled before it goes to the kernel): without it the kernel never
 *     saw the reply, and will get the request again (step 3).
 *  2. Replies journaled but not marked delivered are written again, with
 *     their original unique, on the file that read the request: the kernel
 *     takes them if it still waits (the worker died before writing), or
 *     says ENOENT (it had them).  Either way the kernel has them now.
 *  3. NOTIFY_RESEND (after this returns, from main): the kernel queues
 *     again every request read and not answered, unique | 1 << 63.
 *  4. The reader thread starts as after a backend death: a backend is
 *     started with the recorded INIT, locks are re-taken, poll waiters
 *     woken, and the resent requests are judged like requests pending at a
 *     backend crash (recovery.c).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forward_i.h"
#include "journal.h"
#include "jcompact.h"
#include "jscan.h"

/* The FORGET or BATCH_FORGET in read slot i, if that is what the last
 * read() there returned: its entries and count, or NULL. */
static const struct fuse_forget_one *slot_forget(struct fp_journal *j, int i, uint64_t *unique,
						 uint64_t *done, struct fuse_forget_one *single,
						 uint32_t *count)
{
	const struct fuse_in_header *in = fp_journal_slot(j, i, done);
	size_t cap = fp_journal_slot_size(j), len;

	if (!in)
		return NULL;
	len = in->len;
	if (len < sizeof *in || len > cap)
		return NULL;
	*unique = in->unique;
	if (in->opcode == FUSE_FORGET && len >= sizeof *in + sizeof(struct fuse_forget_in)) {
		single->nodeid = in->nodeid;
		single->nlookup = ((const struct fuse_forget_in *)(in + 1))->nlookup;
		*count = 1;
		return single;
	}
	if (in->opcode == FUSE_BATCH_FORGET &&
	    len >= sizeof *in + sizeof(struct fuse_batch_forget_in)) {
		const struct fuse_batch_forget_in *b = (const void *)(in + 1);
		if (b->count > (len - sizeof *in - sizeof *b) / sizeof(struct fuse_forget_one))
			return NULL;
		*count = b->count;
		return (const struct fuse_forget_one *)(b + 1);
	}
	return NULL;
}

/* FORGETs the dead worker read and did not journal: the kernel never sends
 * them again, so they are applied (and journaled) here.  Returns how many. */
static uint32_t apply_slot_forgets(struct fp_state *st, struct fp_journal *j, struct fp_jscan *s)
{
	uint32_t n = 0;

	for (int i = 0; i < s->nslots; i++) {
		struct fuse_forget_one single;
		const struct fuse_forget_one *one;
		uint64_t unique, done, b;
		uint32_t count;

		if (!s->slot_unique[i])
			continue;
		one = slot_forget(j, i, &unique, &done, &single, &count);
		if (!one || unique != s->slot_unique[i])
			continue;
		fp_state_kforget(st, i, unique, one, count, NULL);
		for (uint32_t k = 0; k < count; k++)
			fp_state_forget_settle(st, one[k].nodeid, &b);
		n++;
	}
	return n;
}

int fwd_takeover(struct fp_fs *fs, struct fp_journal *j, const int *fds, int nfds,
		 char *errbuf, size_t errlen)
{
	struct fwd *f = FWD(fs);
	struct fp_journal_init ji;
	struct fp_jscan s = { .st = &f->st };
	uint64_t t0 = fp_now_ns();
	long nrec;
	uint32_t resent = 0, taken = 0, lost_forgets;
	int r;

	if (fp_journal_get_init(j, &ji) < 0 || !ji.backend_set) {
		snprintf(errbuf, errlen, "the journal holds no INIT");
		return -ENOENT;
	}
	memcpy(&f->init_req, &ji.breq, sizeof f->init_req);
	f->binit = ji.bout;

	s.nslots = fp_journal_nslots(j);
	for (int i = 0; i < s.nslots; i++) {
		struct fuse_forget_one single;
		uint64_t unique, done;
		uint32_t count;
		if (slot_forget(j, i, &unique, &done, &single, &count) && unique != done)
			s.slot_unique[i] = unique;
	}
	nrec = fp_journal_replay(j, fp_jscan_replies, &s);
	if (nrec == -ENOSPC) {
		snprintf(errbuf, errlen, "the journal filled up: the state cannot be rebuilt");
		fp_jscan_free(&s);
		return -ENOSPC;
	}
	if (s.nomem) {
		snprintf(errbuf, errlen, "out of memory reading the journal");
		fp_jscan_free(&s);
		return -ENOMEM;
	}
	fp_journal_replay(j, fp_jscan_apply, &s);
	f->st.journal = j;
	lost_forgets = apply_slot_forgets(&f->st, j, &s);

	/* replies the kernel may not have: write them again, same unique,
	 * same file; then they are delivered */
	for (size_t i = 0; s.t && i <= s.mask; i++) {
		struct fp_jreply *x = &s.t[i];
		if (!x->unique || !x->msg || x->done)
			continue;
		if ((int)x->worker < nfds) {
			ssize_t w = write(fds[x->worker], x->msg, x->len);
			resent++;
			if (w == (ssize_t)x->len)
				taken++;
		}
		fp_journal_append_u(j, FP_J_DONE, x->unique, NULL, 0, NULL, 0);
	}
	fp_jscan_free(&s);
	/* not before: the replies written again pointed into the region a
	 * compaction gives back */
	fp_journal_set_compactor(j, fp_journal_compact, NULL, 0);
	fp_state_new_generation(&f->st);

	pthread_mutex_lock(&f->stats_lock);
	f->takeover.records = (uint64_t)nrec;
	f->takeover.applied = (uint64_t)s.applied;
	f->takeover.skipped = (uint64_t)s.skipped;
	f->takeover.replies = resent;
	f->takeover.taken = taken;
	f->takeover.replay_ns = fp_now_ns() - t0;
	pthread_mutex_unlock(&f->stats_lock);
	if (f->o.verbose || s.bad)
		fprintf(stderr, "fuseproxy: takeover: journal replayed in %.1f ms: %ld records, "
			"%ld changes applied, %ld of replies the kernel never got, %ld malformed; "
			"%u journaled replies written again (%u still awaited by the kernel); "
			"%u FORGETs read and not journaled taken from the read slots\n",
			(double)(fp_now_ns() - t0) / 1e6, nrec, s.applied, s.skipped, s.bad,
			resent, taken, lost_forgets);

	/* the reader starts by bringing a backend up, as after a crash; until
	 * then requests wait in the table */
	atomic_store(&f->recovering, 1);
	f->gone = 1;
	snprintf(f->why, sizeof f->why, "died with the proxy worker before this one");
	r = fwd_start_reader(f);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot start the reader thread: %s", strerror(-r));
		return r;
	}
	return 0;
}
