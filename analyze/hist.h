/* \summary: log-linear latency histograms: bounded memory, mergeable, and
 * quantiles with a known error bound, so nothing is ever sorted.
 *
 * Layout (like HdrHistogram with one significant binary digit group):
 * a value v < 2^(S+1) has its own bucket; above that, each power of two
 * [2^e, 2^(e+1)) is cut into 2^S equal buckets of width 2^(e-S).  S is the
 * histogram's sub_bits (AN_HIST_BITS = 7 for per-opcode latency, 4 for the
 * many small per-time-bucket histograms).
 *
 *   index(v) = v                                       if v < 2^S
 *            = (e - S + 1) << S | (v >> (e - S)) & (2^S - 1)   else, e = log2(v)
 *
 * Quantiles use the nearest-rank definition: q(p) is the smallest recorded
 * value x such that at least ceil(p * n) values are <= x.  The histogram
 * answers the middle of the bucket holding that value, clamped to the
 * recorded min and max.  Error bound: a bucket [lo, lo + w) with w = 2^(e-S)
 * and lo >= 2^e, so |answer - exact| < w / 2 <= exact * 2^-(S+1):
 *
 *   S = 7: relative error < 1/256 (0.39 %),  59 KiB per histogram
 *   S = 4: relative error < 1/32  (3.1 %),   7.6 KiB per histogram
 *
 * min, max, count and sum are exact.  Buckets are allocated on first use.
 */
#ifndef AN_HIST_H
#define AN_HIST_H

#include <stdbool.h>
#include <stdint.h>

#define AN_HIST_BITS 7          /* per-opcode latency histograms */
#define AN_HIST_BITS_SMALL 4    /* per-time-bucket histograms */

struct an_hist {
	uint64_t n, sum, min, max;
	uint64_t *b;                /* nbuckets counters, NULL until the first add */
	uint32_t nb;
	uint8_t bits;               /* S */
};

/* An empty histogram with S = bits (1..16).  Nothing is allocated yet. */
void an_hist_init(struct an_hist *h, unsigned bits);
void an_hist_free(struct an_hist *h);

/* Empty it again, keeping its buckets' memory. */
void an_hist_reset(struct an_hist *h);

/* Number of buckets for S = bits. */
uint32_t an_hist_nbuckets(unsigned bits);

static inline uint32_t an_hist_index(uint64_t v, unsigned bits)
{
	unsigned e;

	if (v < (1ull << bits))
		return (uint32_t)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return ((e - bits + 1) << bits) | (uint32_t)((v >> (e - bits)) & ((1ull << bits) - 1));
}

/* Smallest value of bucket i, and its width. */
uint64_t an_hist_bucket_lo(uint32_t i, unsigned bits);
uint64_t an_hist_bucket_width(uint32_t i, unsigned bits);

/* Add count copies of v.  Returns 0 or -ENOMEM (first add only). */
int an_hist_add_n(struct an_hist *h, uint64_t v, uint64_t count);

static inline int an_hist_add(struct an_hist *h, uint64_t v)
{
	if (h->b) {                 /* the hot path: no call, no branch on alloc */
		h->b[an_hist_index(v, h->bits)]++;
		h->n++;
		h->sum += v;
		if (v < h->min)
			h->min = v;
		if (v > h->max)
			h->max = v;
		return 0;
	}
	return an_hist_add_n(h, v, 1);
}

/* dst += src.  Both must have the same bits.  0, -EINVAL or -ENOMEM. */
int an_hist_merge(struct an_hist *dst, const struct an_hist *src);

/* Nearest-rank quantile for p in [0, 1] (0 gives min, 1 gives max);
 * 0 for an empty histogram. */
uint64_t an_hist_quantile(const struct an_hist *h, double p);

/* Upper bound of the relative error of an_hist_quantile(): 2^-(bits+1). */
double an_hist_error_bound(unsigned bits);

static inline uint64_t an_hist_mean(const struct an_hist *h)
{
	return h->n ? h->sum / h->n : 0;
}

#endif
