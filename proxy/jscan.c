/* \summary: reading a worker journal back (see jscan.h). */
#include <errno.h>
#include <stdlib.h>

#include "jscan.h"
#include "state.h"

static uint64_t mixu(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static struct fp_jreply *slot_of(struct fp_jscan *s, uint64_t unique, int add)
{
	if (add && (s->n + 1) * 2 > s->mask + 1) {
		size_t nm = s->mask ? s->mask * 2 + 1 : 1023;
		struct fp_jreply *nt = calloc(nm + 1, sizeof *nt);
		if (!nt) {
			s->nomem = 1;
			return NULL;
		}
		for (size_t i = 0; s->t && i <= s->mask; i++) {
			if (!s->t[i].unique)
				continue;
			size_t k = mixu(s->t[i].unique) & nm;
			while (nt[k].unique)
				k = (k + 1) & nm;
			nt[k] = s->t[i];
		}
		free(s->t);
		s->t = nt;
		s->mask = nm;
	}
	if (!s->t)
		return NULL;
	for (size_t k = mixu(unique) & s->mask;; k = (k + 1) & s->mask) {
		if (s->t[k].unique == unique)
			return &s->t[k];
		if (!s->t[k].unique) {
			if (!add)
				return NULL;
			s->t[k].unique = unique;
			s->n++;
			return &s->t[k];
		}
	}
}

void fp_jscan_replies(void *arg, uint16_t type, uint64_t unique, const void *pl, size_t len)
{
	struct fp_jscan *s = arg;
	struct fp_jreply *r;

	if (type == FP_J_KFORGET && len >= sizeof(struct fp_j_kforget)) {
		/* journaled, but killed before the slot was marked */
		const struct fp_j_kforget *jk = pl;
		if (jk->slot < (uint32_t)s->nslots && s->slot_unique[jk->slot] == jk->unique)
			s->slot_unique[jk->slot] = 0;
		return;
	}
	if (!unique || (type != FP_J_REPLY && type != FP_J_DONE))
		return;
	r = slot_of(s, unique, 1);
	if (!r)
		return;
	if (type == FP_J_DONE) {
		r->done = 1;
		return;
	}
	if (len < sizeof(struct fp_j_reply) + sizeof(struct fuse_out_header))
		return;
	r->worker = ((const struct fp_j_reply *)pl)->worker;
	r->msg = (const char *)pl + sizeof(struct fp_j_reply);
	r->len = (uint32_t)(len - sizeof(struct fp_j_reply));
}

void fp_jscan_apply(void *arg, uint16_t type, uint64_t unique, const void *pl, size_t len)
{
	struct fp_jscan *s = arg;
	struct fp_jreply *r;

	if (type == FP_J_REPLY || type == FP_J_DONE)
		return;
	if (unique) {
		r = slot_of(s, unique, 0);
		if (!r || !r->msg) {
			s->skipped++;	/* its reply never reached the kernel */
			return;
		}
	}
	if (fp_state_apply(s->st, type, pl, len) == -EINVAL)
		s->bad++;
	else
		s->applied++;
}

struct fp_jreply *fp_jscan_reply(struct fp_jscan *s, uint64_t unique)
{
	return slot_of(s, unique, 0);
}

void fp_jscan_free(struct fp_jscan *s)
{
	free(s->t);
	s->t = NULL;
	s->mask = s->n = 0;
}
