/* \summary: the worker's journal in a shared memfd (see journal.h): INIT
 * block, then records, each committed by a word written last. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define J_MAGIC    0x6670726f786a6e32ull   /* "fproxjn2" */
#define REC_COMMIT 0x52454321u             /* "!CER" */
#define J_HDR_SIZE 8192                    /* read slots, then two regions */
#define J_COMPACT_DEFAULT ((size_t)16 << 20)

__thread uint64_t fp_journal_unique;
__thread uint32_t fp_journal_count;

/* At offset 0 of the memfd. */
struct j_hdr {
	uint64_t magic;
	uint64_t size;
	_Atomic uint32_t init_valid;     /* written after init */
	_Atomic uint32_t full;
	/* the region records go to (0 or 1): compaction writes the other one
	 * and switches with this one store */
	_Atomic uint32_t active;
	uint32_t nslots;
	_Atomic uint64_t hw[2];          /* highest offset a record ever reached */
	struct fp_journal_init init;
	uint64_t slot_size, rec_off;     /* slots start at J_HDR_SIZE */
	uint64_t region_size;            /* region r starts at rec_off + r * it */
	/* the unique of the last FORGET read into slot i that is journaled */
	_Atomic uint64_t slot_done[FP_J_MAX_SLOTS];
};

struct j_rec {
	_Atomic uint32_t commit;         /* REC_COMMIT once the rest is written */
	uint16_t type, pad;
	uint32_t len, pad2;              /* payload bytes */
	uint64_t unique;
};

struct fp_journal {
	struct j_hdr *h;
	char *base;
	size_t size;
	int act;                         /* h->active as we use it (under lock) */
	size_t start[2], end[2];         /* the regions */
	size_t tail;                     /* next record goes here (under lock) */
	size_t wtail;                    /* compaction: next record of the other region */
	size_t threshold, compact_at;    /* compact when the region holds more */
	int compacting;
	fp_journal_compact_fn compact;
	void *compact_arg;
	uint64_t ncompactions;
	pthread_mutex_t lock;
};

_Static_assert(sizeof(struct j_hdr) <= J_HDR_SIZE, "journal header too large");

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

int fp_journal_create(size_t size, int nslots, size_t slot_size)
{
	int fd = memfd_create("fuseproxy-journal", MFD_CLOEXEC);
	struct j_hdr h;

	if (fd < 0)
		return -errno;
	if (nslots < 0 || nslots > FP_J_MAX_SLOTS) {
		close(fd);
		return -EINVAL;
	}
	memset(&h, 0, sizeof h);
	h.magic = J_MAGIC;
	h.nslots = (uint32_t)nslots;
	/* one page more: see SLOT_LEAD */
	h.slot_size = ((slot_size + 4095) & ~(uint64_t)4095) + 4096;
	h.rec_off = J_HDR_SIZE + (uint64_t)nslots * h.slot_size;
	/* two regions of size / 2, whatever the slots take */
	h.region_size = (size / 2) & ~(uint64_t)4095;
	h.size = h.rec_off + 2 * h.region_size;
	if (h.region_size < 4096 || ftruncate(fd, (off_t)h.size) < 0)
		goto fail;
	if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		goto fail;
	return fd;
fail:;
	int e = errno ? errno : EIO;
	close(fd);
	return -e;
}

struct fp_journal *fp_journal_attach(int fd, char *errbuf, size_t errlen)
{
	struct fp_journal *j = calloc(1, sizeof *j);
	struct stat stb;
	const char *env;
	void *m;

	if (!j) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if (fstat(fd, &stb) < 0 || stb.st_size < J_HDR_SIZE * 2) {
		snprintf(errbuf, errlen, "journal memfd: bad size");
		free(j);
		return NULL;
	}
	m = mmap(NULL, (size_t)stb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(errbuf, errlen, "journal mmap: %s", strerror(errno));
		free(j);
		return NULL;
	}
	j->h = m;
	j->base = m;
	j->size = (size_t)stb.st_size;
	if (j->h->magic != J_MAGIC || j->h->size != j->size || j->h->nslots > FP_J_MAX_SLOTS ||
	    j->h->rec_off + 2 * j->h->region_size != j->size || j->h->active > 1) {
		snprintf(errbuf, errlen, "journal memfd: bad header");
		munmap(m, j->size);
		free(j);
		return NULL;
	}
	for (int r = 0; r < 2; r++) {
		j->start[r] = j->h->rec_off + (size_t)r * j->h->region_size;
		j->end[r] = j->start[r] + j->h->region_size;
	}
	j->act = (int)atomic_load(&j->h->active);
	j->tail = j->start[j->act];
	j->threshold = J_COMPACT_DEFAULT;
	/* tests make it small */
	env = getenv("FUSEPROXY_JOURNAL_COMPACT");
	if (env && strtoull(env, NULL, 0) >= 4096)
		j->threshold = (size_t)strtoull(env, NULL, 0);
	j->compact_at = j->threshold;
	pthread_mutex_init(&j->lock, NULL);
	return j;
}

void fp_journal_detach(struct fp_journal *j)
{
	if (!j)
		return;
	munmap(j->base, j->size);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

void fp_journal_set_compactor(struct fp_journal *j, fp_journal_compact_fn fn, void *arg,
			      size_t threshold)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->compact = fn;
	j->compact_arg = arg;
	if (threshold)
		j->threshold = j->compact_at = threshold;
	pthread_mutex_unlock(&j->lock);
}

int fp_journal_nslots(struct fp_journal *j)
{
	return j ? (int)j->h->nslots : 0;
}

/* A message starts SLOT_LEAD bytes before a page boundary, so that a
 * WRITE's data lands on it, as in transports/fusedev.c's own buffers:
 * O_DIRECT sources are then written in place, without a bounce copy. */
#define SLOT_LEAD (sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))

void *fp_journal_slot(struct fp_journal *j, int i, uint64_t *done)
{
	if (!j || i < 0 || (uint32_t)i >= j->h->nslots)
		return NULL;
	if (done)
		*done = atomic_load(&j->h->slot_done[i]);
	return j->base + J_HDR_SIZE + (size_t)i * j->h->slot_size + 4096 - SLOT_LEAD;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

int fp_journal_map_slots(struct fp_journal *j)
{
	char *p;
	size_t len;

	if (!j || !j->h->nslots)
		return 0;
	p = j->base + J_HDR_SIZE;
	len = j->h->rec_off - J_HDR_SIZE;
	if (madvise(p, len, MADV_POPULATE_WRITE) < 0) {
		if (errno != EINVAL)
			return -errno;
		/* an older kernel: a write fault on every page */
		for (size_t o = 0; o < len; o += 4096) {
			volatile char *c = p + o;
			*c = *c;
		}
	}
	/* a page swapped out would be faulted in again the slow way; without
	 * the privilege or the limit for it, swap stays a (small) window */
	(void)mlock(p, len);
	return 0;
}

size_t fp_journal_slot_size(struct fp_journal *j)
{
	return j ? j->h->slot_size - 4096 : 0;
}

void fp_journal_set_backend_init(struct fp_journal *j, const void *req, size_t reqlen,
				 const struct fuse_init_out *bout)
{
	if (!j || reqlen > sizeof j->h->init.breq)
		return;
	memcpy(&j->h->init.breq, req, reqlen);
	j->h->init.bout = *bout;
	j->h->init.backend_set = 1;
}

void fp_journal_set_kernel_init(struct fp_journal *j, const struct fuse_init_in *kinit,
				const struct fuse_init_out *kout, uint32_t kout_len,
				const struct fuse_wire_params *wp)
{
	if (!j)
		return;
	j->h->init.kinit = *kinit;
	j->h->init.kout = *kout;
	j->h->init.kout_len = kout_len;
	j->h->init.wp = *wp;
	atomic_store_explicit(&j->h->init_valid, 1, memory_order_release);
}

int fp_journal_get_init(struct fp_journal *j, struct fp_journal_init *out)
{
	if (!j || !atomic_load_explicit(&j->h->init_valid, memory_order_acquire))
		return -ENOENT;
	*out = j->h->init;
	return 0;
}

/* Write one record at *at in region r (the caller holds the lock and has
 * checked the room); *at moves past it. */
static void put(struct fp_journal *j, int r, size_t *at, uint16_t type, uint64_t unique,
		const void *a, size_t alen, const void *b, size_t blen)
{
	size_t need = sizeof(struct j_rec) + pad8(alen + blen);
	struct j_rec *rec = (struct j_rec *)(j->base + *at);

	/* what a successor must wipe if we die before the commit */
	if (atomic_load_explicit(&j->h->hw[r], memory_order_relaxed) < *at + need)
		atomic_store_explicit(&j->h->hw[r], *at + need, memory_order_relaxed);
	rec->type = type;
	rec->len = (uint32_t)(alen + blen);
	rec->unique = unique;
	if (alen)
		memcpy(rec + 1, a, alen);
	if (blen)
		memcpy((char *)(rec + 1) + alen, b, blen);
	atomic_store_explicit(&rec->commit, REC_COMMIT, memory_order_release);
	*at += need;
}

static int fits(size_t at, size_t end, size_t need)
{
	/* room for the record and a zero commit word after it */
	return at + need + sizeof(struct j_rec) <= end;
}

static void try_compact(struct fp_journal *j)
{
	if (!j->compact || j->compacting)
		return;
	j->compacting = 1;
	j->compact(j->compact_arg, j);
	j->compacting = 0;
}

static int append(struct fp_journal *j, uint16_t type, uint64_t unique, const void *a,
		  size_t alen, const void *b, size_t blen, int slot, uint64_t kunique)
{
	size_t need = sizeof(struct j_rec) + pad8(alen + blen);

	if (!j)
		return 0;
	pthread_mutex_lock(&j->lock);
	if (!atomic_load_explicit(&j->h->full, memory_order_relaxed) &&
	    !fits(j->tail, j->end[j->act], need))
		try_compact(j);
	if (atomic_load_explicit(&j->h->full, memory_order_relaxed) ||
	    !fits(j->tail, j->end[j->act], need)) {
		if (!atomic_exchange(&j->h->full, 1))
			fprintf(stderr, "fuseproxy: the journal is full (%zu bytes, compacted "
				"%llu times): a crash of this worker can no longer be survived\n",
				j->end[j->act] - j->start[j->act],
				(unsigned long long)j->ncompactions);
		pthread_mutex_unlock(&j->lock);
		return -ENOSPC;
	}
	put(j, j->act, &j->tail, type, unique, a, alen, b, blen);
	/* after the commit: a successor that finds the slot not marked looks
	 * for the record (takeover.c) */
	if (slot >= 0 && (uint32_t)slot < j->h->nslots)
		atomic_store_explicit(&j->h->slot_done[slot], kunique, memory_order_release);
	fp_journal_count++;
	if (j->tail - j->start[j->act] > j->compact_at)
		try_compact(j);
	pthread_mutex_unlock(&j->lock);
	return 0;
}

int fp_journal_append_u(struct fp_journal *j, uint16_t type, uint64_t unique, const void *a,
			size_t alen, const void *b, size_t blen)
{
	return append(j, type, unique, a, alen, b, blen, -1, 0);
}

int fp_journal_append_kforget(struct fp_journal *j, int slot, uint64_t kunique,
			      const struct fuse_forget_one *one, uint32_t count)
{
	struct fp_j_kforget k = { kunique, count, (uint32_t)slot };

	return append(j, FP_J_KFORGET, 0, &k, sizeof k, one, count * sizeof *one, slot, kunique);
}

int fp_journal_append(struct fp_journal *j, uint16_t type, const void *a, size_t alen,
		      const void *b, size_t blen)
{
	return append(j, type, fp_journal_unique, a, alen, b, blen, -1, 0);
}

/* The committed records of the active region, oldest first; returns the
 * offset after the last. */
static size_t walk(struct fp_journal *j, fp_journal_fn fn, void *arg, long *n)
{
	size_t off = j->start[j->act], end = j->end[j->act];

	while (off + sizeof(struct j_rec) <= end) {
		struct j_rec *r = (struct j_rec *)(j->base + off);
		size_t need;
		if (atomic_load_explicit(&r->commit, memory_order_acquire) != REC_COMMIT)
			break;
		need = sizeof *r + pad8(r->len);
		if (off + need > end)
			break;
		if (fn)
			fn(arg, r->type, r->unique, r + 1, r->len);
		off += need;
		if (n)
			++*n;
	}
	return off;
}

long fp_journal_replay(struct fp_journal *j, fp_journal_fn fn, void *arg)
{
	size_t off, hw;
	long n = 0;

	pthread_mutex_lock(&j->lock);
	j->act = (int)atomic_load(&j->h->active);
	off = walk(j, fn, arg, &n);
	/* a record begun and never committed: wipe it, so that what is
	 * appended over it cannot leave a stale commit word behind */
	hw = atomic_load(&j->h->hw[j->act]);
	if (hw > j->end[j->act])
		hw = j->end[j->act];
	if (hw > off)
		memset(j->base + off, 0, hw - off);
	j->tail = off;
	pthread_mutex_unlock(&j->lock);
	return atomic_load(&j->h->full) ? -ENOSPC : n;
}

/* ---- compaction (the compactor runs under j->lock, from append) -------- */

void fp_journal_walk_locked(struct fp_journal *j, fp_journal_fn fn, void *arg)
{
	walk(j, fn, arg, NULL);
}

/* Give region r's memory back; it reads as zeros after. */
static void wipe_region(struct fp_journal *j, int r)
{
	size_t hw = atomic_load(&j->h->hw[r]);

	if (hw <= j->start[r])
		return;
	if (madvise(j->base + j->start[r], j->end[r] - j->start[r], MADV_REMOVE) < 0)
		memset(j->base + j->start[r], 0, (hw > j->end[r] ? j->end[r] : hw) - j->start[r]);
	atomic_store(&j->h->hw[r], 0);
}

void fp_journal_rewrite_begin(struct fp_journal *j)
{
	int o = !j->act;

	/* what a compaction killed half-way left there */
	wipe_region(j, o);
	j->wtail = j->start[o];
}

int fp_journal_rewrite_append(struct fp_journal *j, uint16_t type, uint64_t unique,
			      const void *a, size_t alen, const void *b, size_t blen)
{
	int o = !j->act;

	if (!fits(j->wtail, j->end[o], sizeof(struct j_rec) + pad8(alen + blen)))
		return -ENOSPC;
	put(j, o, &j->wtail, type, unique, a, alen, b, blen);
	return 0;
}

void fp_journal_rewrite_end(struct fp_journal *j, int ok)
{
	int o = !j->act;
	size_t used;

	if (!ok) {
		wipe_region(j, o);
		/* not again before the region has grown as much once more */
		j->compact_at = j->tail - j->start[j->act] + j->threshold;
		return;
	}
	/* the one store that switches: every record of the new region is
	 * committed before it, a kill -9 on either side of it leaves one
	 * whole journal */
	atomic_store_explicit(&j->h->active, (uint32_t)o, memory_order_release);
	wipe_region(j, j->act);
	j->act = o;
	j->tail = j->wtail;
	j->ncompactions++;
	used = j->tail - j->start[o];
	/* a big state compacts to a big snapshot: not again before the log
	 * has grown by as much as the threshold and the snapshot */
	j->compact_at = used + (used > j->threshold ? used : j->threshold);
}

size_t fp_journal_used(struct fp_journal *j)
{
	return j ? j->tail - j->start[j->act] : 0;
}

uint64_t fp_journal_compactions(struct fp_journal *j)
{
	return j ? j->ncompactions : 0;
}
