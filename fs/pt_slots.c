/* \summary: chunked slot tables with delayed FIFO reuse (nodeids, fhs). */
#include <errno.h>
#include <stdlib.h>

#include "pt_i.h"

int pt_slots_init(struct pt_slots *s, size_t esize, uint32_t first, uint32_t reuse_delay)
{
	memset(s, 0, sizeof *s);
	s->esize = esize;
	s->first = first;
	s->reuse_delay = reuse_delay;
	atomic_store(&s->hiwater, first);
	return -pthread_mutex_init(&s->lock, NULL);
}

void pt_slots_fini(struct pt_slots *s)
{
	for (uint32_t i = 0; i < PT_MAX_CHUNKS; i++)
		free(atomic_load(&s->chunks[i]));
	free(s->next);
	pthread_mutex_destroy(&s->lock);
}

/* Make sure slot `idx` has memory; called with s->lock held. */
static int ensure_chunk(struct pt_slots *s, uint32_t idx)
{
	uint32_t c = idx >> PT_CHUNK_SHIFT;

	if (c >= PT_MAX_CHUNKS)
		return -ENOSPC;
	if (atomic_load_explicit(&s->chunks[c], memory_order_relaxed))
		return 0;
	if ((c + 1) * PT_CHUNK > s->next_cap) {
		uint32_t cap = (c + 1) * PT_CHUNK;
		uint32_t *n = realloc(s->next, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		s->next = n;
		s->next_cap = cap;
	}
	char *mem = calloc(PT_CHUNK, s->esize);
	if (!mem)
		return -ENOMEM;
	atomic_store_explicit(&s->chunks[c], mem, memory_order_release);
	return 0;
}

uint32_t pt_slots_alloc(struct pt_slots *s, bool *reused)
{
	uint32_t idx = 0;

	pthread_mutex_lock(&s->lock);
	if (s->nfree > s->reuse_delay) {
		idx = s->free_head;
		s->free_head = s->next[idx];
		if (--s->nfree == 0)
			s->free_tail = 0;
		*reused = true;
	} else {
		uint32_t hw = atomic_load_explicit(&s->hiwater, memory_order_relaxed);
		if (ensure_chunk(s, hw) == 0) {
			idx = hw;
			/* publish after the chunk exists; the element is zeroed */
			atomic_store_explicit(&s->hiwater, hw + 1, memory_order_release);
			*reused = false;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return idx;
}

void pt_slots_free(struct pt_slots *s, uint32_t idx)
{
	pthread_mutex_lock(&s->lock);
	s->next[idx] = 0;
	if (s->nfree)
		s->next[s->free_tail] = idx;
	else
		s->free_head = idx;
	s->free_tail = idx;
	s->nfree++;
	pthread_mutex_unlock(&s->lock);
}
