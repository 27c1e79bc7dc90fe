/* \summary: the pending-request table: a chained hash under one mutex.
 *
 * Work under the lock is a few pointer moves; the number of requests in
 * flight is bounded by the kernel (max_background plus one per blocked
 * application thread), so one lock and a fixed bucket array suffice.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pending.h"

#define NBUCKET 4096

static inline uint32_t slot(const struct fp_pending_table *t, uint64_t unique)
{
	/* uniques step by 2: drop bit 0 before mixing */
	uint64_t h = (unique >> 1) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 40) & (t->nbucket - 1);
}

int fp_pending_init(struct fp_pending_table *t)
{
	memset(t, 0, sizeof *t);
	t->nbucket = NBUCKET;
	t->bucket = calloc(NBUCKET, sizeof *t->bucket);
	if (!t->bucket)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void fp_pending_fini(struct fp_pending_table *t)
{
	if (!t->bucket)
		return;
	for (uint32_t i = 0; i < t->nbucket; i++) {
		for (struct fp_pending *p = t->bucket[i], *n; p; p = n) {
			n = p->next;
			free(p->text);
			free(p->req);
			free(p->names);
			free(p);
		}
	}
	for (struct fp_pending *p = t->free, *n; p; p = n) {
		n = p->next;
		free(p->req);
		free(p->names);
		free(p);
	}
	free(t->bucket);
	t->bucket = NULL;
	pthread_mutex_destroy(&t->lock);
}

struct fp_pending *fp_pending_alloc(struct fp_pending_table *t)
{
	struct fp_pending *p;

	pthread_mutex_lock(&t->lock);
	p = t->free;
	if (p)
		t->free = p->next;
	pthread_mutex_unlock(&t->lock);
	if (!p)
		return calloc(1, sizeof *p);
	memset(p, 0, offsetof(struct fp_pending, fixed));
	return p;
}

void fp_pending_release(struct fp_pending_table *t, struct fp_pending *p)
{
	free(p->text);
	p->text = NULL;
	pthread_mutex_lock(&t->lock);
	p->next = t->free;
	t->free = p;
	pthread_mutex_unlock(&t->lock);
}

int fp_pending_insert(struct fp_pending_table *t, struct fp_pending *p)
{
	uint32_t s = slot(t, p->unique);

	pthread_mutex_lock(&t->lock);
	for (struct fp_pending *q = t->bucket[s]; q; q = q->next) {
		if (q->unique == p->unique) {
			pthread_mutex_unlock(&t->lock);
			return -EEXIST;
		}
	}
	p->next = t->bucket[s];
	t->bucket[s] = p;
	t->count++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct fp_pending *fp_pending_take(struct fp_pending_table *t, uint64_t unique)
{
	uint32_t s = slot(t, unique);
	struct fp_pending *p = NULL;

	pthread_mutex_lock(&t->lock);
	for (struct fp_pending **pp = &t->bucket[s]; *pp; pp = &(*pp)->next) {
		if ((*pp)->unique == unique) {
			p = *pp;
			*pp = p->next;
			t->count--;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return p;
}

int fp_pending_with(struct fp_pending_table *t, uint64_t unique,
		    void (*fn)(struct fp_pending *p, void *arg), void *arg)
{
	uint32_t s = slot(t, unique);
	int found = 0;

	pthread_mutex_lock(&t->lock);
	for (struct fp_pending *q = t->bucket[s]; q; q = q->next) {
		if (q->unique == unique) {
			fn(q, arg);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

void fp_pending_drain(struct fp_pending_table *t,
		      void (*fn)(struct fp_pending *p, void *arg), void *arg)
{
	struct fp_pending *all = NULL;

	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < t->nbucket; i++) {
		while (t->bucket[i]) {
			struct fp_pending *p = t->bucket[i];
			t->bucket[i] = p->next;
			p->next = all;
			all = p;
		}
	}
	t->count = 0;
	pthread_mutex_unlock(&t->lock);
	while (all) {
		struct fp_pending *p = all;
		all = p->next;
		fn(p, arg);
		fp_pending_release(t, p);
	}
}

uint64_t fp_pending_oldest(struct fp_pending_table *t)
{
	uint64_t oldest = 0;

	pthread_mutex_lock(&t->lock);
	if (t->count) {
		for (uint32_t i = 0; i < t->nbucket; i++)
			for (struct fp_pending *p = t->bucket[i]; p; p = p->next)
				if (!(p->rflags & FP_PR_QUEUED) && p->t_sent &&
				    (!oldest || p->t_sent < oldest))
					oldest = p->t_sent;
	}
	pthread_mutex_unlock(&t->lock);
	return oldest;
}

void fp_pending_foreach(struct fp_pending_table *t,
			void (*fn)(struct fp_pending *p, void *arg), void *arg)
{
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < t->nbucket; i++)
		for (struct fp_pending *p = t->bucket[i]; p; p = p->next)
			fn(p, arg);
	pthread_mutex_unlock(&t->lock);
}

/* Buffers grow to the largest request seen and stay with the entry, so a
 * steady stream of WRITEs costs a memcpy, not a malloc. */
int fp_pending_keep_request(struct fp_pending *p, const void *msg, uint32_t len)
{
	if (len > p->reqcap) {
		void *n = realloc(p->req, len);
		if (!n)
			return -ENOMEM;
		p->req = n;
		p->reqcap = len;
	}
	memcpy(p->req, msg, len);
	p->reqlen = len;
	return 0;
}
