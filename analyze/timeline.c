/* \summary: requests over time in fixed buckets: arrivals, errors, data,
 * latency (small histogram per bucket) and the number in flight, tracked
 * with a min-heap of the completion times of requests read so far.
 *
 * Requests arrive in t_read order, so a bucket is final as soon as a
 * request from a later bucket shows up: streaming mode hands it out and
 * forgets it.  Kept mode (the report) holds at most max_buckets and, when
 * the trace outgrows them, merges neighbours pairwise and doubles the
 * width: buckets are mergeable, histograms included. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "collect.h"

#define NEVER UINT64_MAX

static void init(struct an_timeline *t, uint64_t width)
{
	memset(t, 0, sizeof *t);
	t->width = width;
	an_hist_init(&t->cur.lat, AN_HIST_BITS_SMALL);
}

void an_timeline_init_stream(struct an_timeline *t, uint64_t width, an_bucket_fn *emit,
			     void *arg)
{
	init(t, width);
	t->emit = emit;
	t->emit_arg = arg;
}

void an_timeline_init_kept(struct an_timeline *t, uint64_t width, size_t max_buckets)
{
	init(t, width);
	t->max_buckets = max_buckets < 2 ? 2 : max_buckets & ~(size_t)1;
}

/* ---- completion-time heap ---------------------------------------------- */

static int heap_push(struct an_timeline *t, uint64_t v)
{
	size_t i;

	if (t->hlen == t->halloc) {
		size_t cap = t->halloc ? t->halloc * 2 : 1024;
		uint64_t *h = realloc(t->heap, cap * sizeof *h);

		if (!h)
			return -ENOMEM;
		t->heap = h;
		t->halloc = cap;
	}
	i = t->hlen++;
	t->heap[i] = v;
	while (i && t->heap[(i - 1) / 2] > t->heap[i]) {
		uint64_t tmp = t->heap[i];

		t->heap[i] = t->heap[(i - 1) / 2];
		t->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
	return 0;
}

/* Drop every request finished by time `now`. */
static void heap_pop_until(struct an_timeline *t, uint64_t now)
{
	while (t->hlen && t->heap[0] <= now) {
		size_t i = 0;

		t->heap[0] = t->heap[--t->hlen];
		for (;;) {
			size_t l = 2 * i + 1, m = i;
			uint64_t tmp;

			if (l < t->hlen && t->heap[l] < t->heap[m])
				m = l;
			if (l + 1 < t->hlen && t->heap[l + 1] < t->heap[m])
				m = l + 1;
			if (m == i)
				break;
			tmp = t->heap[i];
			t->heap[i] = t->heap[m];
			t->heap[m] = tmp;
			i = m;
		}
	}
}

/* ---- buckets --------------------------------------------------------------- */

static void merge_into(struct an_bucket *d, struct an_bucket *s)
{
	d->width += s->width;
	d->requests += s->requests;
	d->errors += s->errors;
	d->data += s->data;
	d->inflight_end = s->inflight_end;
	if (s->inflight_max > d->inflight_max)
		d->inflight_max = s->inflight_max;
	if (an_hist_merge(&d->lat, &s->lat))
		d->lat.n = 0;           /* cannot happen: same bits, d allocated or empty */
	an_hist_free(&s->lat);
}

/* Kept mode is full: pairs become one bucket of twice the width. */
static void halve(struct an_timeline *t)
{
	for (size_t i = 0; i < t->nb / 2; i++) {
		struct an_bucket a = t->b[2 * i], b = t->b[2 * i + 1];

		merge_into(&a, &b);
		t->b[i] = a;
	}
	t->nb /= 2;
	t->width *= 2;
}

static int keep(struct an_timeline *t, struct an_bucket *b)
{
	if (t->nb == t->alloc) {
		size_t cap = t->alloc ? t->alloc * 2 : 64;
		struct an_bucket *v = realloc(t->b, cap * sizeof *v);

		if (!v)
			return -ENOMEM;
		t->b = v;
		t->alloc = cap;
	}
	t->b[t->nb++] = *b;
	return 0;
}

/* Close the current bucket at origin-relative `end`; start the next. */
static int close_bucket(struct an_timeline *t, uint64_t t0, uint64_t end)
{
	struct an_bucket *c = &t->cur;
	int ret = 0;

	heap_pop_until(t, t0 + end);
	c->inflight_end = t->hlen;
	if (t->emit) {
		ret = t->emit(t->emit_arg, c);
		an_hist_reset(&c->lat);
	} else if (t->nb == t->max_buckets && c->width == t->width) {
		/* full: merge the kept ones, and let this bucket grow to the
		 * new width instead of closing */
		halve(t);
		c->width = t->width;
		return 0;
	} else {
		ret = keep(t, c);
		if (ret)
			return ret;
		an_hist_init(&c->lat, AN_HIST_BITS_SMALL);
	}
	c->start += c->width;
	c->width = t->width;
	c->requests = c->errors = c->data = 0;
	c->inflight_max = t->hlen;
	return ret;
}

static int consume(void *arg, struct an_engine *e, const struct an_req *r)
{
	struct an_timeline *t = arg;
	const struct fp_trace_exchange *x = r->x;
	uint64_t rel = x->t_read > e->t0 ? x->t_read - e->t0 : 0;
	int ret;

	if (t->err)
		return t->err;
	if (!t->started) {
		t->started = true;
		t->cur.start = rel - rel % t->width;
		t->cur.width = t->width;
	}
	while (rel >= t->cur.start + t->cur.width)
		if ((ret = close_bucket(t, e->t0, t->cur.start + t->cur.width)))
			return an_engine_fail(e, ret, "out of memory");
	heap_pop_until(t, x->t_read);
	if (!(x->flags & FP_TRACE_F_NOREPLY) &&
	    heap_push(t, r->pending ? NEVER : x->t_written ? x->t_written : x->t_read))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	if (t->hlen > t->cur.inflight_max)
		t->cur.inflight_max = t->hlen;
	if (t->hlen > t->peak_inflight)
		t->peak_inflight = t->hlen;
	t->cur.requests++;
	t->cur.errors += x->error != 0;
	t->cur.data += r->data;
	if (r->has_total && an_hist_add(&t->cur.lat, r->total))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	return 0;
}

/* The last bucket: run the clock to the end of the trace, so requests
 * still in flight there show, and cut the final bucket's width to what
 * the trace covers (its rates would read low otherwise). */
static int end(void *arg, struct an_engine *e)
{
	struct an_timeline *t = arg;
	uint64_t last = t->to_last_activity ? e->t_max : e->t_end;
	uint64_t rel_end = last > e->t0 ? last - e->t0 : 0;
	int ret;

	if (!t->started)
		return 0;
	while (rel_end >= t->cur.start + t->cur.width)
		if ((ret = close_bucket(t, e->t0, t->cur.start + t->cur.width)))
			return an_engine_fail(e, ret, "out of memory");
	if (rel_end > t->cur.start || t->cur.requests) {
		uint64_t full = t->cur.width;

		t->cur.width = rel_end > t->cur.start ? rel_end - t->cur.start : 1;
		if (t->cur.width > full)
			t->cur.width = full;
		heap_pop_until(t, e->t0 + rel_end);
		t->cur.inflight_end = t->hlen;
		if (t->emit) {
			ret = t->emit(t->emit_arg, &t->cur);
		} else {
			ret = keep(t, &t->cur);
			if (!ret)
				an_hist_init(&t->cur.lat, AN_HIST_BITS_SMALL);
		}
		if (ret)
			return an_engine_fail(e, ret, "out of memory");
	}
	return 0;
}

struct an_consumer an_timeline_consumer(struct an_timeline *t)
{
	return (struct an_consumer){ .arg = t, .exchange = consume, .end = end };
}

void an_timeline_free(struct an_timeline *t)
{
	for (size_t i = 0; i < t->nb; i++)
		an_hist_free(&t->b[i].lat);
	free(t->b);
	an_hist_free(&t->cur.lat);
	free(t->heap);
	memset(t, 0, sizeof *t);
}
