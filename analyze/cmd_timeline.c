/* \summary: fuseanalyze timeline: per-bucket rates, in flight and latency,
 * printed while the trace is read. */
#include <errno.h>
#include "cmd.h"
#include "collect.h"

enum { C_TIME, C_REQS, C_ERRS, C_DATA, C_INFL, C_INFL_MAX, C_P50, C_P99, C_COUNT, C_NCOLS };

static const struct an_col cols[C_NCOLS] = {
	[C_TIME] = { "t_s", "TIME(s)", AN_K_SEC, NULL },
	[C_REQS] = { "requests_per_s", "REQ/S", AN_K_RATE, NULL },
	[C_ERRS] = { "errors_per_s", "ERR/S", AN_K_RATE, NULL },
	[C_DATA] = { "data_bytes_per_s", "DATA/S", AN_K_BRATE, NULL },
	[C_INFL] = { "inflight_end", "INFLIGHT", AN_K_INT, NULL },
	[C_INFL_MAX] = { "inflight_max", "MAX", AN_K_INT, NULL },
	[C_P50] = { "total_p50_ns", "p50", AN_K_NS, NULL },
	[C_P99] = { "total_p99_ns", "p99", AN_K_NS, NULL },
	[C_COUNT] = { "requests", "REQUESTS", AN_K_INT, NULL },
};

struct printer {
	struct an_out *o;
	struct an_table *t;
	bool begun;
	size_t rows;
};

static int emit(void *arg, const struct an_bucket *b)
{
	struct printer *p = arg;
	double s = (double)b->width / 1e9;
	long r;

	if (!p->begun) {
		an_out_table_begin(p->o, p->t);
		p->begun = true;
	}
	r = an_table_row(p->t);
	if (r < 0)
		return -ENOMEM;
	an_cell_dbl(p->t, (size_t)r, C_TIME, (double)b->start / 1e9);
	an_cell_dbl(p->t, (size_t)r, C_REQS, (double)b->requests / s);
	an_cell_dbl(p->t, (size_t)r, C_ERRS, (double)b->errors / s);
	an_cell_dbl(p->t, (size_t)r, C_DATA, (double)b->data / s);
	an_cell_int(p->t, (size_t)r, C_INFL, (int64_t)b->inflight_end);
	an_cell_int(p->t, (size_t)r, C_INFL_MAX, (int64_t)b->inflight_max);
	if (b->lat.n) {
		an_cell_int(p->t, (size_t)r, C_P50, (int64_t)an_hist_quantile(&b->lat, 0.5));
		an_cell_int(p->t, (size_t)r, C_P99, (int64_t)an_hist_quantile(&b->lat, 0.99));
	}
	an_cell_int(p->t, (size_t)r, C_COUNT, (int64_t)b->requests);
	if (++p->rows % 256 == 0)
		an_out_table_rows(p->o, p->t);
	return 0;
}

int cmd_timeline(const struct an_args *a)
{
	uint64_t width = a->bucket_ns ? a->bucket_ns : 1000000000ull;
	struct printer p = { 0 };
	struct an_timeline tl;
	struct an_consumer c;
	struct an_engine e;
	struct an_out o;
	char w[32];
	int ret;

	if (an_open(&e, a->pos[0], a, 0))
		return AN_EXIT_ERROR;
	p.o = &o;
	p.t = an_table_new("timeline", NULL, cols, C_NCOLS);
	if (!p.t) {
		an_engine_close(&e);
		return an_error("out of memory");
	}
	an_timeline_init_stream(&tl, width, emit, &p);
	c = an_timeline_consumer(&tl);
	an_engine_add(&e, &c);
	an_out_begin(&o, stdout, a->fmt);
	an_fmt_ns(w, sizeof w, (double)width);
	an_out_kv_int(&o, "bucket_ns", (int64_t)width);
	an_out_text(&o, "timeline of %s, %s buckets; p50/p99: total latency of the requests "
		    "that arrived in the bucket (within %.1f%%)\n\n", a->pos[0], w,
		    100 * an_hist_error_bound(AN_HIST_BITS_SMALL));
	ret = an_engine_run(&e);
	if (p.begun) {
		an_out_table_rows(&o, p.t);
		an_out_table_end(&o, p.t);
	} else {
		an_out_table(&o, p.t);
	}
	if (ret) {
		an_out_end(&o);
		ret = an_error("%s", e.err);
		goto out;
	}
	an_out_kv_int(&o, "requests", (int64_t)e.n_exchanges);
	an_out_kv_int(&o, "peak_inflight", (int64_t)tl.peak_inflight);
	ret = an_finish(&o);
out:
	an_timeline_free(&tl);
	an_table_free(p.t);
	an_engine_close(&e);
	return ret;
}
