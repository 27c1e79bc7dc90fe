/* \summary: requests never answered: kept in arrival order, listed oldest
 * first with their age at the end of the trace and where they waited. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "collect.h"

enum an_wait {
	W_PROXY,                    /* never sent on to the filesystem */
	W_FS,                       /* sent, the filesystem never answered */
	W_REPLY,                    /* answered, the reply was never written */
	W_CUT,                      /* pcap: the REPLY record is missing */
};

static const char *const wait_names[] = {
	[W_PROXY] = "proxy",
	[W_FS] = "filesystem",
	[W_REPLY] = "reply",
	[W_CUT] = "reply lost (trace cut)",
};

void an_inflight_init(struct an_inflight *f)
{
	memset(f, 0, sizeof *f);
}

static int consume(void *arg, struct an_engine *e, const struct an_req *r)
{
	struct an_inflight *f = arg;
	const struct fp_trace_exchange *x = r->x;
	uint8_t w;

	if (!r->pending)
		return 0;
	if (f->n == f->alloc) {
		size_t cap = f->alloc ? f->alloc * 2 : 64;
		struct an_slow_entry *v = realloc(f->v, cap * sizeof *v);
		uint8_t *wh;

		if (!v)
			return an_engine_fail(e, -ENOMEM, "out of memory");
		f->v = v;
		wh = realloc(f->where, cap);
		if (!wh)
			return an_engine_fail(e, -ENOMEM, "out of memory");
		f->where = wh;
		f->alloc = cap;
	}
	if ((x->flags & FP_TRACE_F_UNPAIRED) && !(x->flags & FP_TRACE_F_PENDING))
		w = W_CUT;
	else if (x->t_reply)
		w = W_REPLY;
	else if (x->t_sent)
		w = W_FS;
	else
		w = W_PROXY;
	if (an_entry_fill(&f->v[f->n], e, r))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	f->where[f->n++] = w;
	return 0;
}

struct an_consumer an_inflight_consumer(struct an_inflight *f)
{
	return (struct an_consumer){ .arg = f, .exchange = consume };
}

enum { C_AGE, C_AT, C_OP, C_UNIQUE, C_PID, C_COMM, C_WORKER, C_WAIT, C_PATH, C_DETAIL,
       C_NCOLS };

static const struct an_col cols[C_NCOLS] = {
	[C_AGE] = { "age_ns", "AGE", AN_K_NS, NULL },
	[C_AT] = { "at_s", "AT(s)", AN_K_SEC, NULL },
	[C_OP] = { "op", "OPCODE", AN_K_STR, NULL },
	[C_UNIQUE] = { "unique", "UNIQUE", AN_K_INT, NULL },
	[C_PID] = { "pid", "PID", AN_K_INT, NULL },
	[C_COMM] = { "comm", "COMMAND", AN_K_STR, NULL },
	[C_WORKER] = { "worker", "WORKER", AN_K_INT, NULL },
	[C_WAIT] = { "waiting_in", "WAITING IN", AN_K_STR, NULL },
	[C_PATH] = { "path", "PATH", AN_K_STR, NULL },
	[C_DETAIL] = { "request", "REQUEST", AN_K_STR, NULL },
};

struct an_table *an_inflight_table(struct an_inflight *f, struct an_engine *e)
{
	struct an_table *t = an_table_new("inflight", NULL, cols, C_NCOLS);

	if (!t)
		return NULL;
	/* the pass delivers t_read order: oldest first already */
	for (size_t i = 0; i < f->n; i++) {
		const struct an_slow_entry *x = &f->v[i];
		long r = an_table_row(t);

		if (r < 0 || an_entry_row(t, (size_t)r, e, x, C_AT, C_OP, C_UNIQUE, C_PID, C_COMM,
					  C_WORKER, C_PATH, C_DETAIL) ||
		    an_cell_str(t, (size_t)r, C_WAIT, wait_names[f->where[i]])) {
			an_table_free(t);
			return NULL;
		}
		if (e->t_end >= x->t_read)
			an_cell_int(t, (size_t)r, C_AGE, (int64_t)(e->t_end - x->t_read));
	}
	return t;
}

void an_inflight_free(struct an_inflight *f)
{
	for (size_t i = 0; i < f->n; i++)
		an_entry_free(&f->v[i]);
	free(f->v);
	free(f->where);
	memset(f, 0, sizeof *f);
}
