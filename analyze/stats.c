/* \summary: per-opcode statistics (stats.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "stats.h"

static void op_init(struct an_opstat *o)
{
	memset(o, 0, sizeof *o);
	an_hist_init(&o->total, AN_HIST_BITS);
	an_hist_init(&o->backend, AN_HIST_BITS);
	an_hist_init(&o->overhead, AN_HIST_BITS);
}

static void op_free(struct an_opstat *o)
{
	free(o->errnos);
	an_hist_free(&o->total);
	an_hist_free(&o->backend);
	an_hist_free(&o->overhead);
}

void an_stats_init(struct an_stats *s)
{
	memset(s, 0, sizeof *s);
	for (unsigned i = 0; i < AN_NOPS; i++)
		op_init(&s->op[i]);
	op_init(&s->all);
	s->t_first = UINT64_MAX;
}

void an_stats_free(struct an_stats *s)
{
	for (unsigned i = 0; i < AN_NOPS; i++)
		op_free(&s->op[i]);
	op_free(&s->all);
}

static int op_add(struct an_opstat *o, const struct an_req *r)
{
	const struct fp_trace_exchange *x = r->x;

	if (!o->count)
		o->opcode = x->opcode;
	o->count++;
	o->req_bytes += x->req_len;
	o->reply_bytes += x->reply_len;
	o->data += r->data;
	o->pending += r->pending;
	o->noreply += !!(x->flags & FP_TRACE_F_NOREPLY);
	o->interrupted += !!(x->flags & FP_TRACE_F_INTERRUPTED);
	if (x->error) {
		uint32_t e = x->error < 0 ? (uint32_t)-(int64_t)x->error : (uint32_t)x->error;

		o->errors++;
		if (!o->errnos && !(o->errnos = calloc(AN_ERRNO_MAX, sizeof *o->errnos)))
			return -ENOMEM;
		o->errnos[e < AN_ERRNO_MAX ? e : 0]++;     /* 0: out of range */
	}
	if (r->has_total) {
		if (an_hist_add(&o->total, r->total) || an_hist_add(&o->overhead, r->overhead))
			return -ENOMEM;
		if (r->has_backend && an_hist_add(&o->backend, r->backend))
			return -ENOMEM;
	}
	return 0;
}

int an_stats_add(struct an_stats *s, const struct an_req *r)
{
	const struct fp_trace_exchange *x = r->x;

	if (x->t_read < s->t_first)
		s->t_first = x->t_read;
	if (x->t_read > s->t_last)
		s->t_last = x->t_read;
	if (x->t_written > s->t_last)
		s->t_last = x->t_written;
	return op_add(&s->op[an_stats_slot(x->opcode)], r);
}

int an_stats_finish(struct an_stats *s)
{
	struct an_opstat *a = &s->all;

	op_free(a);
	op_init(a);
	for (unsigned i = 0; i < AN_NOPS; i++) {
		const struct an_opstat *o = &s->op[i];

		if (!o->count)
			continue;
		a->count += o->count;
		a->errors += o->errors;
		a->pending += o->pending;
		a->noreply += o->noreply;
		a->interrupted += o->interrupted;
		a->req_bytes += o->req_bytes;
		a->reply_bytes += o->reply_bytes;
		a->data += o->data;
		if (an_hist_merge(&a->total, &o->total) || an_hist_merge(&a->backend, &o->backend) ||
		    an_hist_merge(&a->overhead, &o->overhead))
			return -ENOMEM;
	}
	return 0;
}

static int by_count(const void *a, const void *b, void *ctx)
{
	const struct an_stats *s = ctx;
	const struct an_opstat *x = &s->op[*(const unsigned *)a];
	const struct an_opstat *y = &s->op[*(const unsigned *)b];

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->opcode < y->opcode ? -1 : x->opcode > y->opcode;
}

unsigned an_stats_order(const struct an_stats *s, unsigned order[AN_NOPS])
{
	unsigned n = 0;

	for (unsigned i = 0; i < AN_NOPS; i++)
		if (s->op[i].count)
			order[n++] = i;
	qsort_r(order, n, sizeof *order, by_count, (void *)s);
	return n;
}

static int consume(void *arg, struct an_engine *e, const struct an_req *r)
{
	if (an_stats_add(arg, r))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	return 0;
}

static int finish(void *arg, struct an_engine *e)
{
	if (an_stats_finish(arg))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	return 0;
}

struct an_consumer an_stats_consumer(struct an_stats *s)
{
	return (struct an_consumer){ .arg = s, .exchange = consume, .end = finish };
}
