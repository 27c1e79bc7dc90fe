/* \summary: bounded lock-free single-producer/single-consumer byte ring.
 *
 * Records are variable-length, 8-byte aligned and contiguous in the
 * buffer: a record that would cross the end is preceded by a PAD record
 * filling the rest of the buffer.  head and tail count bytes since the
 * start and only grow; head - tail is the fill level.
 *
 * The producer owns head (and a cached copy of tail), the consumer owns
 * tail.  Publishing a record is one release store of head; freeing space
 * is one release store of tail.  A producer that finds the ring full may
 * sleep on space_seq (a futex word the consumer bumps when `waiting` is
 * set); that is the only syscall on the producer side.
 */
#ifndef FP_RING_H
#define FP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every record starts with this. */
struct trec {
	uint32_t size;          /* whole record incl. this header, multiple of 8 */
	uint16_t type;          /* TREC_* (trace_i.h); TREC_PAD = 0 */
	uint16_t aux;
};

#define TREC_PAD 0
#define RING_ALIGN(n) (((n) + 7u) & ~(uint64_t)7u)

struct fp_ring {
	/* producer's line */
	_Alignas(64) _Atomic uint64_t head;
	uint64_t tail_seen;             /* producer's last look at tail */
	_Atomic uint64_t produced;      /* records published */
	_Atomic uint64_t dropped;       /* records not published (ring full) */
	_Atomic uint64_t filtered;      /* records the opcode filter skipped */
	_Atomic uint32_t waiting;       /* producer sleeps on space_seq */

	/* consumer's line */
	_Alignas(64) _Atomic uint64_t tail;
	_Atomic uint32_t space_seq;

	/* read-only after init */
	_Alignas(64) uint8_t *buf;
	uint64_t size;                  /* power of two */
};

/* A reservation: where to write, and the head to publish. */
struct ring_slot {
	void *p;
	uint64_t next_head;
};

int ring_init(struct fp_ring *r, size_t size);     /* size: power of two >= 4096 */
void ring_destroy(struct fp_ring *r);

/* Largest record ring_reserve() accepts. */
static inline uint64_t ring_max_record(const struct fp_ring *r)
{
	return r->size / 2;
}

/* Reserve len bytes (a multiple of 8, <= ring_max_record()).  False if
 * the ring is full right now. */
static inline bool ring_reserve(struct fp_ring *r, uint64_t len, struct ring_slot *s)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t pos = head & (r->size - 1);
	uint64_t room = r->size - pos;
	uint64_t need = len <= room ? len : room + len;

	if (head + need - r->tail_seen > r->size) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + need - r->tail_seen > r->size)
			return false;
	}
	if (need != len) {
		/* Not enough room before the end: pad it out, start at 0. */
		struct trec *pad = (struct trec *)(r->buf + pos);

		pad->size = (uint32_t)room;
		pad->type = TREC_PAD;
		pos = 0;
	}
	s->p = r->buf + pos;
	s->next_head = head + need;
	return true;
}

static inline void ring_publish(struct fp_ring *r, const struct ring_slot *s)
{
	atomic_store_explicit(&r->head, s->next_head, memory_order_release);
	atomic_store_explicit(&r->produced,
			      atomic_load_explicit(&r->produced, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}


/* Producer-owned counters: a plain increment the writer may read any time. */
static inline void ring_count(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Producer: sleep until the consumer frees space for a len-byte record
 * (counting a possible pad) or timeout_ns passes.  The caller wakes the
 * consumer first and retries ring_reserve() after. */
void ring_wait_space(struct fp_ring *r, uint64_t len, uint64_t timeout_ns);

/* Consumer: the next record at *tail (skipping pads), NULL if none
 * below head.  The record stays valid until ring_release(). */
static inline const struct trec *ring_peek(struct fp_ring *r, uint64_t *tail, uint64_t head)
{
	while (*tail < head) {
		const struct trec *h = (const struct trec *)(r->buf + (*tail & (r->size - 1)));

		if (h->type != TREC_PAD)
			return h;
		*tail += h->size;
	}
	return NULL;
}

/* Consumer: give bytes up to tail back to the producer; wake it if it
 * sleeps on a full ring. */
void ring_release(struct fp_ring *r, uint64_t tail);

#endif
