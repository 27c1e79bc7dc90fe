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

#define J_MAGIC    0x6670726f786a6e31ull   /* "fproxjn1" */
#define REC_COMMIT 0x52454321u             /* "!CER" */
#define J_HDR_SIZE 8192                    /* read slots, then records, after it */

__thread uint64_t fp_journal_unique;
__thread uint32_t fp_journal_count;

/* At offset 0 of the memfd. */
struct j_hdr {
	uint64_t magic;
	uint64_t size;
	_Atomic uint32_t init_valid;     /* written after init */
	_Atomic uint32_t full;
	_Atomic uint64_t hw;             /* highest offset a record ever reached */
	struct fp_journal_init init;
	uint32_t nslots, pad;
	uint64_t slot_size, rec_off;     /* slots start at J_HDR_SIZE */
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
	size_t rec_off;                  /* records start here */
	size_t tail;                     /* next record goes here (under lock) */
	pthread_mutex_t lock;
};

_Static_assert(sizeof(struct j_hdr) <= J_HDR_SIZE, "journal header too large");

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
	h.slot_size = (slot_size + 4095) & ~(uint64_t)4095;
	h.rec_off = J_HDR_SIZE + (uint64_t)nslots * h.slot_size;
	/* the records get `size` bytes whatever the slots take */
	h.size = h.rec_off + size;
	if (ftruncate(fd, (off_t)h.size) < 0)
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
	    j->h->rec_off + J_HDR_SIZE > j->size) {
		snprintf(errbuf, errlen, "journal memfd: bad magic");
		munmap(m, j->size);
		free(j);
		return NULL;
	}
	j->rec_off = j->tail = j->h->rec_off;
	pthread_mutex_init(&j->lock, NULL);
	return j;
}

int fp_journal_nslots(struct fp_journal *j)
{
	return j ? (int)j->h->nslots : 0;
}

void *fp_journal_slot(struct fp_journal *j, int i, uint64_t *done)
{
	if (!j || i < 0 || (uint32_t)i >= j->h->nslots)
		return NULL;
	if (done)
		*done = atomic_load(&j->h->slot_done[i]);
	return j->base + J_HDR_SIZE + (size_t)i * j->h->slot_size;
}

size_t fp_journal_slot_size(struct fp_journal *j)
{
	return j ? j->h->slot_size : 0;
}

void fp_journal_detach(struct fp_journal *j)
{
	if (!j)
		return;
	munmap(j->base, j->size);
	pthread_mutex_destroy(&j->lock);
	free(j);
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

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int append(struct fp_journal *j, uint16_t type, uint64_t unique, const void *a,
		  size_t alen, const void *b, size_t blen, int slot, uint64_t kunique)
{
	size_t need = sizeof(struct j_rec) + pad8(alen + blen);
	struct j_rec *r;

	if (!j)
		return 0;
	pthread_mutex_lock(&j->lock);
	if (atomic_load_explicit(&j->h->full, memory_order_relaxed) ||
	    j->tail + need + sizeof(struct j_rec) > j->size) {
		if (!atomic_exchange(&j->h->full, 1))
			fprintf(stderr, "fuseproxy: the journal is full (%zu bytes): a crash of "
				"this worker can no longer be survived\n", j->size);
		pthread_mutex_unlock(&j->lock);
		return -ENOSPC;
	}
	r = (struct j_rec *)(j->base + j->tail);
	/* what a successor must wipe if we die before the commit */
	if (atomic_load_explicit(&j->h->hw, memory_order_relaxed) < j->tail + need)
		atomic_store_explicit(&j->h->hw, j->tail + need, memory_order_relaxed);
	r->type = type;
	r->len = (uint32_t)(alen + blen);
	r->unique = unique;
	if (alen)
		memcpy(r + 1, a, alen);
	if (blen)
		memcpy((char *)(r + 1) + alen, b, blen);
	atomic_store_explicit(&r->commit, REC_COMMIT, memory_order_release);
	/* after the commit: a successor that finds the slot not marked looks
	 * for the record (takeover.c) */
	if (slot >= 0 && (uint32_t)slot < j->h->nslots)
		atomic_store_explicit(&j->h->slot_done[slot], kunique, memory_order_release);
	j->tail += need;
	fp_journal_count++;
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
	return fp_journal_append_u(j, type, fp_journal_unique, a, alen, b, blen);
}

long fp_journal_replay(struct fp_journal *j, fp_journal_fn fn, void *arg)
{
	size_t off = j->rec_off, hw;
	long n = 0;

	pthread_mutex_lock(&j->lock);
	while (off + sizeof(struct j_rec) <= j->size) {
		struct j_rec *r = (struct j_rec *)(j->base + off);
		size_t need;
		if (atomic_load_explicit(&r->commit, memory_order_acquire) != REC_COMMIT)
			break;
		need = sizeof *r + pad8(r->len);
		if (off + need > j->size)
			break;
		if (fn)
			fn(arg, r->type, r->unique, r + 1, r->len);
		off += need;
		n++;
	}
	/* a record begun and never committed: wipe it, so that what is
	 * appended over it cannot leave a stale commit word behind */
	hw = atomic_load(&j->h->hw);
	if (hw > j->size)
		hw = j->size;
	if (hw > off)
		memset(j->base + off, 0, hw - off);
	j->tail = off;
	pthread_mutex_unlock(&j->lock);
	return atomic_load(&j->h->full) ? -ENOSPC : n;
}

size_t fp_journal_used(struct fp_journal *j)
{
	return j ? j->tail - j->rec_off : 0;
}
