/* \summary: fuseanalyze top: the hottest paths by ops, bytes, time or errors. */
#include "cmd.h"
#include "collect.h"

int cmd_top(const struct an_args *a)
{
	int by = a->by ? an_top_parse_by(a->by) : AN_BY_OPS;
	struct an_table *t = NULL;
	struct an_consumer c;
	struct an_engine e;
	struct an_top top;
	struct an_out o;
	int ret;

	if (by < 0)
		return an_error("--by wants ops, bytes, time or errors, not '%s'", a->by);
	if (an_open(&e, a->pos[0], a, AN_PATHS))
		return AN_EXIT_ERROR;
	an_top_init(&top, (enum an_top_by)by);
	c = an_top_consumer(&top);
	an_engine_add(&e, &c);
	if (an_engine_run(&e)) {
		ret = an_error("%s", e.err);
		goto out;
	}
	if (an_top_finish(&top, &e) ||
	    !(t = an_top_table(&top, (enum an_top_by)by, a->n > 0 ? (size_t)a->n : 20, "top", NULL))) {
		ret = an_error("out of memory");
		goto out;
	}
	an_out_begin(&o, stdout, a->fmt);
	an_out_trace(&o, &e);
	an_out_kv_str(&o, "by", a->by ? a->by : "ops");
	an_out_table(&o, t);
	if (top.dropped_rows)
		an_out_note(&o, "too many distinct nodes to keep: %llu rows with at most %llu (by %s) "
			    "each were dropped", (unsigned long long)top.dropped_rows,
			    (unsigned long long)top.dropped_max, a->by ? a->by : "ops");
	ret = an_finish(&o);
out:
	/* the engine first: closing hands its nodes' statistics to top */
	an_engine_close(&e);
	an_table_free(t);
	an_top_free(&top);
	return ret;
}
