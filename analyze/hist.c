/* \summary: log-linear histograms (layout and error bound in hist.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hist.h"

void an_hist_init(struct an_hist *h, unsigned bits)
{
	memset(h, 0, sizeof *h);
	h->bits = (uint8_t)bits;
	h->nb = an_hist_nbuckets(bits);
	h->min = UINT64_MAX;
}

void an_hist_free(struct an_hist *h)
{
	free(h->b);
	h->b = NULL;
}

void an_hist_reset(struct an_hist *h)
{
	if (h->b)
		memset(h->b, 0, h->nb * sizeof *h->b);
	h->n = h->sum = h->max = 0;
	h->min = UINT64_MAX;
}

uint32_t an_hist_nbuckets(unsigned bits)
{
	/* the largest index belongs to e = 63 */
	return (uint32_t)(65 - bits) << bits;
}

uint64_t an_hist_bucket_lo(uint32_t i, unsigned bits)
{
	uint32_t g = i >> bits, m = i & ((1u << bits) - 1);

	if (!g)
		return i;
	/* group g holds exponent e = g + bits - 1 */
	return ((1ull << bits) + m) << (g - 1);
}

uint64_t an_hist_bucket_width(uint32_t i, unsigned bits)
{
	uint32_t g = i >> bits;

	return g ? 1ull << (g - 1) : 1;
}

static int alloc_buckets(struct an_hist *h)
{
	h->b = calloc(h->nb, sizeof *h->b);
	return h->b ? 0 : -ENOMEM;
}

int an_hist_add_n(struct an_hist *h, uint64_t v, uint64_t count)
{
	if (!count)
		return 0;
	if (!h->b && alloc_buckets(h))
		return -ENOMEM;
	h->b[an_hist_index(v, h->bits)] += count;
	h->n += count;
	h->sum += v * count;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	return 0;
}

int an_hist_merge(struct an_hist *dst, const struct an_hist *src)
{
	if (dst->bits != src->bits)
		return -EINVAL;
	if (!src->n)
		return 0;
	if (!dst->b && alloc_buckets(dst))
		return -ENOMEM;
	for (uint32_t i = 0; i < dst->nb; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	return 0;
}

uint64_t an_hist_quantile(const struct an_hist *h, double p)
{
	uint64_t rank, seen = 0, v;

	if (!h->n)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 1)
		return h->max;
	/* nearest rank: ceil(p * n), computed without float surprises at
	 * exact multiples (0.5 * 1000 must be 500, not 501) */
	rank = (uint64_t)(p * (double)h->n);
	if ((double)rank < p * (double)h->n)
		rank++;
	if (rank < 1)
		rank = 1;
	for (uint32_t i = 0; i < h->nb; i++) {
		seen += h->b[i];
		if (seen < rank)
			continue;
		v = an_hist_bucket_lo(i, h->bits) + (an_hist_bucket_width(i, h->bits) - 1) / 2;
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
		return v;
	}
	return h->max;
}

double an_hist_error_bound(unsigned bits)
{
	return 1.0 / (double)(2u << bits);
}
