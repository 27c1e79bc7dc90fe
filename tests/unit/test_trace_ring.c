/* Description: the lock-free single-producer/single-consumer ring under
 * trace/.  One thread publishes variable-length records (8 bytes to half
 * the ring, so records wrap and pads appear) carrying a sequence number
 * and a byte pattern; another consumes them and checks order, length and
 * every byte, and that a producer sleeping on a full ring is woken.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ring.h"

#define RING_SIZE 65536
#define RECORDS 400000

struct rec {
	struct trec h;
	uint64_t seq;
};

static uint32_t body_len(uint64_t seq)
{
	/* mostly small, sometimes up to the largest record the ring takes */
	uint64_t x = seq * 2654435761u;

	if (x % 97 == 0)
		return (uint32_t)(RING_SIZE / 2 - sizeof(struct rec) - (x % 64));
	return (uint32_t)(x % 300);
}

static void *producer(void *arg)
{
	struct fp_ring *r = arg;

	for (uint64_t seq = 0; seq < RECORDS; seq++) {
		uint32_t n = body_len(seq);
		uint64_t len = RING_ALIGN(sizeof(struct rec) + n);
		struct ring_slot s;
		struct rec *p;

		assert_true(len <= ring_max_record(r));
		while (!ring_reserve(r, len, &s))
			ring_wait_space(r, len, 1000000);
		p = s.p;
		p->h.size = (uint32_t)len;
		p->h.type = 1;
		p->h.aux = (uint16_t)n;
		p->seq = seq;
		for (uint32_t i = 0; i < n; i++)
			((uint8_t *)(p + 1))[i] = (uint8_t)(seq + i);
		ring_publish(r, &s);
	}
	return NULL;
}

static void test_spsc(void **state)
{
	struct fp_ring r;
	pthread_t th;
	uint64_t want = 0, tail = 0, pads_seen = 0;

	(void)state;
	assert_int_equal(ring_init(&r, RING_SIZE), 0);
	assert_int_equal(pthread_create(&th, NULL, producer, &r), 0);
	while (want < RECORDS) {
		uint64_t head = atomic_load_explicit(&r.head, memory_order_acquire);
		uint64_t before = tail;
		const struct trec *h;

		while ((h = ring_peek(&r, &tail, head))) {
			const struct rec *p = (const struct rec *)h;
			uint32_t n = h->aux;

			assert_int_equal(h->type, 1);
			assert_int_equal(p->seq, want);
			assert_int_equal(n, body_len(want));
			assert_int_equal(h->size, RING_ALIGN(sizeof *p + n));
			for (uint32_t i = 0; i < n; i++)
				assert_int_equal(((const uint8_t *)(p + 1))[i], (uint8_t)(want + i));
			tail += h->size;
			want++;
		}
		ring_peek(&r, &tail, head);       /* trailing pad */
		if (tail != before)
			ring_release(&r, tail);
		pads_seen += (tail - before) % 8 != 0;   /* never: everything is 8-aligned */
	}
	pthread_join(th, NULL);
	assert_int_equal(pads_seen, 0);
	assert_int_equal(atomic_load(&r.produced), RECORDS);
	/* wrapped many times */
	assert_true(atomic_load(&r.head) > 100 * RING_SIZE);
	ring_destroy(&r);
}

static void test_bounds(void **state)
{
	struct fp_ring r;
	struct ring_slot s = { 0 };
	uint64_t tail = 0;

	(void)state;
	assert_int_equal(ring_init(&r, 1000), -22);       /* not a power of two */
	assert_int_equal(ring_init(&r, 4096), 0);
	/* fill it: two half-ring records, then nothing fits */
	assert_true(ring_reserve(&r, 2048, &s));
	((struct trec *)s.p)->size = 2048;
	((struct trec *)s.p)->type = 1;
	ring_publish(&r, &s);
	assert_true(ring_reserve(&r, 2048, &s));
	((struct trec *)s.p)->size = 2048;
	((struct trec *)s.p)->type = 1;
	ring_publish(&r, &s);
	assert_false(ring_reserve(&r, 8, &s));
	/* free the first: a 1024-byte record fits at the start again */
	assert_non_null(ring_peek(&r, &tail, atomic_load(&r.head)));
	tail += 2048;
	ring_release(&r, tail);
	assert_true(ring_reserve(&r, 1024, &s));
	assert_ptr_equal(s.p, r.buf);
	ring_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_spsc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
