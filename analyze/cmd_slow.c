/* \summary: fuseanalyze slow: the N slowest requests, decoded. */
#include "cmd.h"
#include "collect.h"

int cmd_slow(const struct an_args *a)
{
	struct an_table *t = NULL;
	struct an_consumer c;
	struct an_engine e;
	struct an_slow s;
	struct an_out o;
	int ret;

	if (an_open(&e, a->pos[0], a, AN_PATHS))
		return AN_EXIT_ERROR;
	an_slow_init(&s, a->n > 0 ? (size_t)a->n : 20);
	c = an_slow_consumer(&s);
	an_engine_add(&e, &c);
	if (an_engine_run(&e)) {
		ret = an_error("%s", e.err);
		goto out;
	}
	if (!(t = an_slow_table(&s, &e))) {
		ret = an_error("out of memory");
		goto out;
	}
	an_out_begin(&o, stdout, a->fmt);
	an_out_trace(&o, &e);
	an_out_table(&o, t);
	ret = an_finish(&o);
out:
	an_table_free(t);
	an_slow_free(&s);
	an_engine_close(&e);
	return ret;
}
