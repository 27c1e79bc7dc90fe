/* \summary: fuseanalyze diff: two traces compared per opcode (count, error
 * rate, p50/p99 total latency) with a verdict and an exit status a CI job
 * can gate on.  Rules in main.c's help and fuseanalyze(1). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "sbuf.h"

enum {
	C_OP, C_BCOUNT, C_NCOUNT, C_DCOUNT, C_BERR, C_NERR, C_DERR,
	C_BP50, C_NP50, C_DP50, C_BP99, C_NP99, C_DP99, C_VERDICT, C_NCOLS
};

static const struct an_col cols[C_NCOLS] = {
	[C_OP] = { "op", "OPCODE", AN_K_STR, NULL },
	[C_BCOUNT] = { "base_count", "base", AN_K_INT, "count" },
	[C_NCOUNT] = { "new_count", "new", AN_K_INT, "count" },
	[C_DCOUNT] = { "count_change_pct", "change", AN_K_DPCT, "count" },
	[C_BERR] = { "base_error_pct", "base", AN_K_PCT, "error rate" },
	[C_NERR] = { "new_error_pct", "new", AN_K_PCT, "error rate" },
	[C_DERR] = { "error_change_pp", "change", AN_K_DPP, "error rate" },
	[C_BP50] = { "base_p50_ns", "base", AN_K_NS, "p50 total" },
	[C_NP50] = { "new_p50_ns", "new", AN_K_NS, "p50 total" },
	[C_DP50] = { "p50_change_pct", "change", AN_K_DPCT, "p50 total" },
	[C_BP99] = { "base_p99_ns", "base", AN_K_NS, "p99 total" },
	[C_NP99] = { "new_p99_ns", "new", AN_K_NS, "p99 total" },
	[C_DP99] = { "p99_change_pct", "change", AN_K_DPCT, "p99 total" },
	[C_VERDICT] = { "verdict", "VERDICT", AN_K_STR, NULL },
};

struct side {
	struct an_engine e;
	struct an_stats s;
	bool open, init;
};

static int load(struct side *sd, const char *path, const struct an_args *a)
{
	char err[FP_TRACE_ERRBUF_SIZE];
	int ret = an_stats_pass(&sd->e, &sd->s, path, a->ops, err, sizeof err);

	sd->open = sd->init = true;
	if (ret)
		return an_error("%s", err);
	if (!sd->e.n_exchanges)
		return an_error("%s: the trace holds no requests; nothing to compare", path);
	return 0;
}

static double pct_change(double base, double now)
{
	if (base == 0)
		return now == 0 ? 0 : INFINITY;
	return 100 * (now - base) / base;
}

static double err_rate(const struct an_opstat *o)
{
	return o->count ? 100.0 * (double)o->errors / (double)o->count : 0;
}

struct judge {
	unsigned regressed;
	char why[4096];
	struct sbuf w;
};

/* Compare one opcode; fills the row's cells and returns its verdict. */
static const char *compare(const struct an_args *a, struct an_table *t, size_t r,
			   const struct an_opstat *b, const struct an_opstat *n, const char *name,
			   struct judge *j)
{
	bool enough = b->count >= (uint64_t)a->min_count && n->count >= (uint64_t)a->min_count;
	bool lat_enough = b->total.n >= (uint64_t)a->min_count && n->total.n >= (uint64_t)a->min_count;
	double be = err_rate(b), ne = err_rate(n);
	uint64_t bp50 = an_hist_quantile(&b->total, 0.5), np50 = an_hist_quantile(&n->total, 0.5);
	uint64_t bp99 = an_hist_quantile(&b->total, 0.99), np99 = an_hist_quantile(&n->total, 0.99);
	const char *verdict = "ok";
	bool reg = false;

	an_cell_int(t, r, C_BCOUNT, (int64_t)b->count);
	an_cell_int(t, r, C_NCOUNT, (int64_t)n->count);
	if (!b->count || !n->count)
		return b->count ? "only in base" : "only in new";
	an_cell_dbl(t, r, C_DCOUNT, pct_change((double)b->count, (double)n->count));
	an_cell_dbl(t, r, C_BERR, be);
	an_cell_dbl(t, r, C_NERR, ne);
	an_cell_dbl(t, r, C_DERR, ne - be);
	if (b->total.n && n->total.n) {
		an_cell_int(t, r, C_BP50, (int64_t)bp50);
		an_cell_int(t, r, C_NP50, (int64_t)np50);
		an_cell_dbl(t, r, C_DP50, pct_change((double)bp50, (double)np50));
		an_cell_int(t, r, C_BP99, (int64_t)bp99);
		an_cell_int(t, r, C_NP99, (int64_t)np99);
		an_cell_dbl(t, r, C_DP99, pct_change((double)bp99, (double)np99));
	}
	if (!enough)
		return "few samples";
	if (lat_enough && (double)np99 > (double)bp99 * (1 + a->max_regression) &&
	    np99 - bp99 > a->min_latency_delta) {
		char x[32], y[32];

		an_fmt_ns(x, sizeof x, (double)bp99);
		an_fmt_ns(y, sizeof y, (double)np99);
		sbuf_printf(&j->w, "%s%s p99 %+.1f%% (%s -> %s)", j->regressed ? "; " : "", name,
			    pct_change((double)bp99, (double)np99), x, y);
		verdict = "REGRESSED: p99";
		reg = true;
	}
	if (ne > be * (1 + a->max_regression) && ne - be > a->min_error_delta) {
		sbuf_printf(&j->w, "%s%s error rate %.2f%% -> %.2f%%", j->regressed || reg ? "; " : "",
			    name, be, ne);
		verdict = reg ? "REGRESSED: p99, errors" : "REGRESSED: errors";
		reg = true;
	}
	if (reg) {
		j->regressed++;
		return verdict;
	}
	if (lat_enough && (double)np99 < (double)bp99 / (1 + a->max_regression) &&
	    bp99 - np99 > a->min_latency_delta)
		return "improved";
	return verdict;
}

int cmd_diff(const struct an_args *a)
{
	struct side base = { 0 }, now = { 0 };
	struct an_table *t = NULL;
	struct judge j = { 0 };
	unsigned order[AN_NOPS], n;
	struct an_out o;
	int ret;

	j.w = sbuf_make(j.why, sizeof j.why);
	if ((ret = load(&base, a->pos[0], a)) || (ret = load(&now, a->pos[1], a)))
		goto out;
	t = an_table_new("diff", NULL, cols, C_NCOLS);
	if (!t) {
		ret = an_error("out of memory");
		goto out;
	}
	/* opcodes of either trace, busiest in the base first */
	n = an_stats_order(&base.s, order);
	for (unsigned i = 0; i < AN_NOPS; i++)
		if (now.s.op[i].count && !base.s.op[i].count)
			order[n++] = i;
	for (unsigned i = 0; i < n; i++) {
		const struct an_opstat *b = &base.s.op[order[i]], *w = &now.s.op[order[i]];
		const char *name = an_slot_name(b->count ? b : w);
		long r = an_table_row(t);
		const char *v;

		if (r < 0 || an_cell_str(t, (size_t)r, C_OP, name)) {
			ret = an_error("out of memory");
			goto out;
		}
		v = compare(a, t, (size_t)r, b, w, name, &j);
		if (an_cell_str(t, (size_t)r, C_VERDICT, v)) {
			ret = an_error("out of memory");
			goto out;
		}
	}
	sbuf_finish(&j.w);
	an_out_begin(&o, stdout, a->fmt);
	an_out_kv_str(&o, "base", a->pos[0]);
	an_out_kv_str(&o, "new", a->pos[1]);
	an_out_kv_dbl(&o, "max_regression_pct", 100 * a->max_regression);
	an_out_text(&o, "base  %s: %llu requests\nnew   %s: %llu requests\n"
		    "limits: p99 +%.4g%% (and +", a->pos[0], (unsigned long long)base.e.n_exchanges,
		    a->pos[1], (unsigned long long)now.e.n_exchanges, 100 * a->max_regression);
	{
		char d[32];

		an_fmt_ns(d, sizeof d, (double)a->min_latency_delta);
		an_out_text(&o, "%s), error rate x%.4g (and +%.4g points), at least %ld requests\n\n",
			    d, 1 + a->max_regression, a->min_error_delta, a->min_count);
	}
	an_out_table(&o, t);
	if (j.regressed) {
		an_out_kv_str(&o, "verdict", "regression");
		an_out_kv_str(&o, "regressions", j.why);
		an_out_text(&o, "\nverdict: REGRESSION in %u opcode%s: %s\n", j.regressed,
			    j.regressed == 1 ? "" : "s", j.why);
	} else {
		an_out_kv_str(&o, "verdict", "ok");
		an_out_text(&o, "\nverdict: OK, no opcode regressed beyond the limits\n");
	}
	if (a->fmt == AN_CSV)
		fprintf(stdout, "# verdict: %s%s%s\n", j.regressed ? "REGRESSION: " : "ok",
			j.regressed ? j.why : "", "");
	ret = an_finish(&o);
	if (!ret && j.regressed) {
		fprintf(stderr, "fuseanalyze: regression: %s\n", j.why);
		ret = AN_EXIT_REGRESSION;
	}
out:
	an_table_free(t);
	if (base.init)
		an_stats_free(&base.s);
	if (now.init)
		an_stats_free(&now.s);
	if (base.open)
		an_engine_close(&base.e);
	if (now.open)
		an_engine_close(&now.e);
	return ret;
}
