/* \summary: fuseanalyze inflight: requests without a reply at the end. */
#include "cmd.h"
#include "collect.h"

int cmd_inflight(const struct an_args *a)
{
	struct an_inflight f;
	struct an_table *t = NULL;
	struct an_consumer c;
	struct an_engine e;
	struct an_out o;
	int ret;

	if (an_open(&e, a->pos[0], a, AN_PATHS))
		return AN_EXIT_ERROR;
	an_inflight_init(&f);
	c = an_inflight_consumer(&f);
	an_engine_add(&e, &c);
	if (an_engine_run(&e)) {
		ret = an_error("%s", e.err);
		goto out;
	}
	if (!(t = an_inflight_table(&f, &e))) {
		ret = an_error("out of memory");
		goto out;
	}
	an_out_begin(&o, stdout, a->fmt);
	an_out_trace(&o, &e);
	an_out_table(&o, t);
	if (!e.clean_end)
		an_out_note(&o, "the recorder did not close this trace: requests in flight when it "
			    "stopped were never written and cannot be listed");
	ret = an_finish(&o);
out:
	an_table_free(t);
	an_inflight_free(&f);
	an_engine_close(&e);
	return ret;
}
