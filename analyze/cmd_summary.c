/* \summary: fuseanalyze summary: per opcode counts, errors, bytes and
 * latency quantiles, then errors by errno. */
#include <errno.h>
#include <string.h>
#include "cmd.h"
#include "format.h"

enum {
	C_OP, C_COUNT, C_ERRORS, C_PENDING, C_DATA,
	C_P50, C_P90, C_P99, C_P999, C_MAX, C_MEAN,
	C_BE_P50, C_BE_P99, C_OV_P50, C_OV_P99,
	C_REQ_BYTES, C_REPLY_BYTES, C_NCOLS
};

#define TOTAL "total: read->written"
#define BACKEND "backend"
#define OVERHEAD "overhead"

static const struct an_col cols[C_NCOLS] = {
	[C_OP] = { "op", "OPCODE", AN_K_STR, NULL },
	[C_COUNT] = { "count", "COUNT", AN_K_INT, NULL },
	[C_ERRORS] = { "errors", "ERRORS", AN_K_INT, NULL },
	[C_PENDING] = { "pending", "PENDING", AN_K_INT, NULL },
	[C_DATA] = { "data_bytes", "DATA", AN_K_BYTES, NULL },
	[C_P50] = { "total_p50_ns", "p50", AN_K_NS, TOTAL },
	[C_P90] = { "total_p90_ns", "p90", AN_K_NS, TOTAL },
	[C_P99] = { "total_p99_ns", "p99", AN_K_NS, TOTAL },
	[C_P999] = { "total_p99.9_ns", "p99.9", AN_K_NS, TOTAL },
	[C_MAX] = { "total_max_ns", "max", AN_K_NS, TOTAL },
	[C_MEAN] = { "total_mean_ns", "mean", AN_K_NS, TOTAL },
	[C_BE_P50] = { "backend_p50_ns", "p50", AN_K_NS, BACKEND },
	[C_BE_P99] = { "backend_p99_ns", "p99", AN_K_NS, BACKEND },
	[C_OV_P50] = { "overhead_p50_ns", "p50", AN_K_NS, OVERHEAD },
	[C_OV_P99] = { "overhead_p99_ns", "p99", AN_K_NS, OVERHEAD },
	[C_REQ_BYTES] = { "request_bytes", "REQ.BYTES", AN_K_BYTES, NULL, 1 },
	[C_REPLY_BYTES] = { "reply_bytes", "REPLY.BYTES", AN_K_BYTES, NULL, 1 },
};

enum { E_OP, E_ERRNO, E_CODE, E_COUNT, E_PCT, E_NCOLS };

static const struct an_col ecols[E_NCOLS] = {
	[E_OP] = { "op", "OPCODE", AN_K_STR, NULL },
	[E_ERRNO] = { "errno", "ERRNO", AN_K_STR, NULL },
	[E_CODE] = { "code", "CODE", AN_K_INT, NULL },
	[E_COUNT] = { "count", "COUNT", AN_K_INT, NULL },
	[E_PCT] = { "percent_of_op", "OF OP", AN_K_PCT, NULL },
};

static void quant(struct an_table *t, size_t row, unsigned col, const struct an_hist *h, double p)
{
	if (h->n)
		an_cell_int(t, row, col, (int64_t)an_hist_quantile(h, p));
}

/* One row of the per-opcode table. */
static int op_row(struct an_table *t, const char *name, const struct an_opstat *o)
{
	long r = an_table_row(t);

	if (r < 0 || an_cell_str(t, (size_t)r, C_OP, name))
		return -ENOMEM;
	an_cell_int(t, (size_t)r, C_COUNT, (int64_t)o->count);
	an_cell_int(t, (size_t)r, C_ERRORS, (int64_t)o->errors);
	an_cell_int(t, (size_t)r, C_PENDING, (int64_t)o->pending);
	/* "-" for opcodes that never carry READ/WRITE payload */
	if (o->data || !fuse_op_get(o->opcode) || fuse_op_get(o->opcode)->data == FUSE_D_WRITE ||
	    fuse_op_get(o->opcode)->reply == FUSE_R_DATA || !strcmp(name, "(all)"))
		an_cell_int(t, (size_t)r, C_DATA, (int64_t)o->data);
	quant(t, (size_t)r, C_P50, &o->total, 0.50);
	quant(t, (size_t)r, C_P90, &o->total, 0.90);
	quant(t, (size_t)r, C_P99, &o->total, 0.99);
	quant(t, (size_t)r, C_P999, &o->total, 0.999);
	quant(t, (size_t)r, C_MAX, &o->total, 1);
	if (o->total.n)
		an_cell_int(t, (size_t)r, C_MEAN, (int64_t)an_hist_mean(&o->total));
	quant(t, (size_t)r, C_BE_P50, &o->backend, 0.50);
	quant(t, (size_t)r, C_BE_P99, &o->backend, 0.99);
	quant(t, (size_t)r, C_OV_P50, &o->overhead, 0.50);
	quant(t, (size_t)r, C_OV_P99, &o->overhead, 0.99);
	an_cell_int(t, (size_t)r, C_REQ_BYTES, (int64_t)o->req_bytes);
	an_cell_int(t, (size_t)r, C_REPLY_BYTES, (int64_t)o->reply_bytes);
	return 0;
}

int an_summary_tables(const struct an_stats *s, struct an_table **ops, struct an_table **errs)
{
	unsigned order[AN_NOPS], n = an_stats_order(s, order);

	*ops = an_table_new("ops", NULL, cols, C_NCOLS);
	*errs = an_table_new("errors", "errors by errno", ecols, E_NCOLS);
	if (!*ops || !*errs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++)
		if (op_row(*ops, an_slot_name(&s->op[order[i]]), &s->op[order[i]]))
			return -ENOMEM;
	if (n > 1 && op_row(*ops, "(all)", &s->all))
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		const struct an_opstat *o = &s->op[order[i]];

		for (unsigned e = 0; o->errnos && e < AN_ERRNO_MAX; e++) {
			long r;

			if (!o->errnos[e])
				continue;
			r = an_table_row(*errs);
			if (r < 0 || an_cell_str(*errs, (size_t)r, E_OP, an_slot_name(o)) ||
			    an_cell_str(*errs, (size_t)r, E_ERRNO, e ? fuse_errno_name((int)e) : "(out of range)"))
				return -ENOMEM;
			if (e)
				an_cell_int(*errs, (size_t)r, E_CODE, -(int64_t)e);
			an_cell_int(*errs, (size_t)r, E_COUNT, o->errnos[e]);
			an_cell_dbl(*errs, (size_t)r, E_PCT, 100.0 * o->errnos[e] / (double)o->count);
		}
	}
	return 0;
}

int cmd_summary(const struct an_args *a)
{
	struct an_table *ops = NULL, *errs = NULL;
	char err[FP_TRACE_ERRBUF_SIZE];
	struct an_engine e;
	struct an_stats s;
	struct an_out o;
	int ret;

	if (an_stats_pass(&e, &s, a->pos[0], a->ops, err, sizeof err)) {
		ret = an_error("%s", err);
		goto out;
	}
	if (an_summary_tables(&s, &ops, &errs)) {
		ret = an_error("out of memory");
		goto out;
	}
	an_out_begin(&o, stdout, a->fmt);
	an_out_trace(&o, &e);
	if (!e.n_selected)
		an_out_note(&o, "%s", e.filtered ? "no request matches --op" : "the trace holds no requests");
	an_out_table(&o, ops);
	if (errs->nrows || a->fmt != AN_HUMAN)
		an_out_table(&o, errs);
	ret = an_finish(&o);
out:
	an_table_free(ops);
	an_table_free(errs);
	an_stats_free(&s);
	an_engine_close(&e);
	return ret;
}
