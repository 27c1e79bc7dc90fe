/* \summary: the N slowest requests: a bounded min-heap on total latency, so
 * only requests that make the cut are ever formatted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "collect.h"
#include "format.h"
#include "opcodes.h"

void an_slow_init(struct an_slow *s, size_t n)
{
	memset(s, 0, sizeof *s);
	s->n = n;
}

static void swap(struct an_slow_entry *a, struct an_slow_entry *b)
{
	struct an_slow_entry t = *a;

	*a = *b;
	*b = t;
}

static void sift_down(struct an_slow_entry *h, size_t len, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < len && h[l].total < h[m].total)
			m = l;
		if (l + 1 < len && h[l + 1].total < h[m].total)
			m = l + 1;
		if (m == i)
			return;
		swap(&h[i], &h[m]);
		i = m;
	}
}

static int consume(void *arg, struct an_engine *e, const struct an_req *r)
{
	struct an_slow *s = arg;
	struct an_slow_entry ent;

	if (!r->has_total || !s->n)
		return 0;
	if (s->len == s->n && r->total <= s->heap[0].total)
		return 0;               /* the common case: not slow enough */
	if (!s->heap && !(s->heap = calloc(s->n, sizeof *s->heap)))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	if (an_entry_fill(&ent, e, r))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	if (s->len < s->n) {
		size_t i = s->len++;

		s->heap[i] = ent;
		while (i && s->heap[(i - 1) / 2].total > s->heap[i].total) {
			swap(&s->heap[i], &s->heap[(i - 1) / 2]);
			i = (i - 1) / 2;
		}
	} else {
		an_entry_free(&s->heap[0]);
		s->heap[0] = ent;
		sift_down(s->heap, s->len, 0);
	}
	return 0;
}

struct an_consumer an_slow_consumer(struct an_slow *s)
{
	return (struct an_consumer){ .arg = s, .exchange = consume };
}

enum { C_TOTAL, C_BACKEND, C_OVERHEAD, C_AT, C_OP, C_UNIQUE, C_PID, C_COMM, C_WORKER,
       C_ERROR, C_PATH, C_DETAIL, C_NCOLS };

static const struct an_col cols[C_NCOLS] = {
	[C_TOTAL] = { "total_ns", "TOTAL", AN_K_NS, NULL },
	[C_BACKEND] = { "backend_ns", "BACKEND", AN_K_NS, NULL },
	[C_OVERHEAD] = { "overhead_ns", "OVERHEAD", AN_K_NS, NULL },
	[C_AT] = { "at_s", "AT(s)", AN_K_SEC, NULL },
	[C_OP] = { "op", "OPCODE", AN_K_STR, NULL },
	[C_UNIQUE] = { "unique", "UNIQUE", AN_K_INT, NULL },
	[C_PID] = { "pid", "PID", AN_K_INT, NULL },
	[C_COMM] = { "comm", "COMMAND", AN_K_STR, NULL },
	[C_WORKER] = { "worker", "WORKER", AN_K_INT, NULL },
	[C_ERROR] = { "error", "ERROR", AN_K_STR, NULL },
	[C_PATH] = { "path", "PATH", AN_K_STR, NULL },
	[C_DETAIL] = { "detail", "REQUEST -> REPLY", AN_K_STR, NULL },
};

static int by_total_desc(const void *a, const void *b)
{
	const struct an_slow_entry *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return x->t_read < y->t_read ? -1 : x->t_read > y->t_read;
}

int an_entry_row(struct an_table *t, size_t r, struct an_engine *e, const struct an_slow_entry *s,
		 unsigned c_at, unsigned c_op, unsigned c_unique, unsigned c_pid, unsigned c_comm,
		 unsigned c_worker, unsigned c_path, unsigned c_detail)
{
	an_cell_dbl(t, r, c_at, an_rel_s(e, s->t_read));
	an_cell_int(t, r, c_unique, (int64_t)s->unique);
	an_cell_int(t, r, c_pid, s->pid);
	if (s->worker >= 0)
		an_cell_int(t, r, c_worker, s->worker);
	if (an_cell_str(t, r, c_op, fuse_opname(s->opcode)) ||
	    an_cell_str(t, r, c_comm, s->comm[0] ? s->comm : NULL) ||
	    an_cell_str(t, r, c_path, s->path) || an_cell_str(t, r, c_detail, s->detail))
		return -ENOMEM;
	return 0;
}

struct an_table *an_slow_table(struct an_slow *s, struct an_engine *e)
{
	struct an_table *t = an_table_new("slow", NULL, cols, C_NCOLS);

	if (!t)
		return NULL;
	if (s->len)
		qsort(s->heap, s->len, sizeof *s->heap, by_total_desc);
	s->n = 0;                   /* no longer a heap */
	for (size_t i = 0; i < s->len; i++) {
		const struct an_slow_entry *x = &s->heap[i];
		long r = an_table_row(t);

		if (r < 0 || an_entry_row(t, (size_t)r, e, x, C_AT, C_OP, C_UNIQUE, C_PID, C_COMM,
					  C_WORKER, C_PATH, C_DETAIL))
			goto nomem;
		an_cell_int(t, (size_t)r, C_TOTAL, (int64_t)x->total);
		if (x->has_backend) {
			an_cell_int(t, (size_t)r, C_BACKEND, (int64_t)x->backend);
			an_cell_int(t, (size_t)r, C_OVERHEAD, (int64_t)(x->total - x->backend));
		} else {
			an_cell_int(t, (size_t)r, C_OVERHEAD, (int64_t)x->total);
		}
		if (x->error && an_cell_str(t, (size_t)r, C_ERROR, fuse_errno_name(-x->error)))
			goto nomem;
	}
	return t;
nomem:
	an_table_free(t);
	return NULL;
}

void an_slow_free(struct an_slow *s)
{
	for (size_t i = 0; i < s->len; i++)
		an_entry_free(&s->heap[i]);
	free(s->heap);
	s->heap = NULL;
	s->len = 0;
}
