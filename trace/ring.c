/* \summary: ring setup and the two slow paths (sleeping producer, waking it). */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "ring.h"

int ring_init(struct fp_ring *r, size_t size)
{
	void *p;

	memset(r, 0, sizeof *r);
	if (size < 4096 || (size & (size - 1)))
		return -EINVAL;
	/* Populated up front: a first touch in the hot path would be a page
	 * fault, i.e. a trip into the kernel per 4 KiB of records. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->buf = p;
	r->size = size;
	return 0;
}

void ring_destroy(struct fp_ring *r)
{
	if (r->buf)
		munmap(r->buf, r->size);
	r->buf = NULL;
}

static void futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };

	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void ring_wait_space(struct fp_ring *r, uint64_t len, uint64_t timeout_ns)
{
	uint32_t seq = atomic_load_explicit(&r->space_seq, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	atomic_store_explicit(&r->waiting, 1, memory_order_relaxed);
	/* Pairs with the fence in ring_release(): either the consumer sees
	 * `waiting`, or we see the tail it stored before looking. */
	atomic_thread_fence(memory_order_seq_cst);
	if (head + 2 * len - atomic_load_explicit(&r->tail, memory_order_relaxed) > r->size)
		futex_wait(&r->space_seq, seq, timeout_ns);
	atomic_store_explicit(&r->waiting, 0, memory_order_relaxed);
}

void ring_release(struct fp_ring *r, uint64_t tail)
{
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->waiting, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&r->space_seq, 1, memory_order_release);
		futex_wake(&r->space_seq);
	}
}

/* Also used for the writer's doorbell. */
void fp_futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t timeout_ns);
void fp_futex_wake(_Atomic uint32_t *w);

void fp_futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t timeout_ns)
{
	futex_wait(w, val, timeout_ns);
}

void fp_futex_wake(_Atomic uint32_t *w)
{
	futex_wake(w);
}
