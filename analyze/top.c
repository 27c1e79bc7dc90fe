/* \summary: per-path totals for "top": statistics live on the path table's
 * nodes while they exist, and become a row (with the node's last path)
 * when the node is forgotten or the trace ends; rows are grouped by path.
 *
 * Memory is bounded: past `cap` rows, rows are grouped by path, and if
 * that is not enough, the half with the smallest value of the chosen
 * metric is dropped.  A path missing from the result then has at most
 * dropped_max of that metric in the part of the trace that was dropped
 * (the output says so). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "collect.h"

#define TOP_CAP (1u << 18)

struct nstat {
	uint64_t ops, errors, data, time_ns;
};

int an_top_parse_by(const char *name)
{
	static const char *const names[] = {
		[AN_BY_OPS] = "ops", [AN_BY_BYTES] = "bytes", [AN_BY_TIME] = "time",
		[AN_BY_ERRORS] = "errors",
	};

	for (int i = 0; i < 4; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

void an_top_init(struct an_top *t, enum an_top_by by)
{
	memset(t, 0, sizeof *t);
	t->by = by;
	t->cap = TOP_CAP;
}

static uint64_t metric(const struct an_top_row *r, enum an_top_by by)
{
	switch (by) {
	case AN_BY_BYTES: return r->data;
	case AN_BY_TIME: return r->time_ns;
	case AN_BY_ERRORS: return r->errors;
	default: return r->ops;
	}
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct an_top_row *)a)->path, ((const struct an_top_row *)b)->path);
}

static int by_metric(const void *a, const void *b, void *ctx)
{
	const struct an_top_row *x = a, *y = b;
	enum an_top_by by = *(const enum an_top_by *)ctx;
	uint64_t mx = metric(x, by), my = metric(y, by);

	if (mx != my)
		return mx > my ? -1 : 1;
	if (x->ops != y->ops)
		return x->ops > y->ops ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Merge rows with equal paths. */
static void group(struct an_top *t)
{
	size_t w = 0;

	if (!t->n)
		return;
	qsort(t->rows, t->n, sizeof *t->rows, by_path);
	for (size_t i = 1; i < t->n; i++) {
		struct an_top_row *d = &t->rows[w], *s = &t->rows[i];

		if (!strcmp(d->path, s->path)) {
			d->ops += s->ops;
			d->errors += s->errors;
			d->data += s->data;
			d->time_ns += s->time_ns;
			d->nodes += s->nodes;
			free(s->path);
		} else {
			t->rows[++w] = *s;
		}
	}
	t->n = w + 1;
}

static void compact(struct an_top *t)
{
	size_t keep = t->cap / 2;

	group(t);
	if (t->n <= keep)
		return;
	qsort_r(t->rows, t->n, sizeof *t->rows, by_metric, &t->by);
	for (size_t i = keep; i < t->n; i++) {
		uint64_t m = metric(&t->rows[i], t->by);

		if (m > t->dropped_max)
			t->dropped_max = m;
		free(t->rows[i].path);
	}
	t->dropped_rows += t->n - keep;
	t->n = keep;
}

static void gone(void *arg, void *user, uint64_t nodeid, const char *path)
{
	struct an_top *t = arg;
	struct nstat *s = user;
	struct an_top_row *r;
	char own[64];

	/* unknown nodes stay apart: one "(unknown)" row would hide them all */
	if (!strcmp(path, "(unknown)")) {
		snprintf(own, sizeof own, "(unknown node %llu)", (unsigned long long)nodeid);
		path = own;
	}

	if (t->n == t->alloc) {
		size_t cap = t->alloc ? t->alloc * 2 : 256;
		struct an_top_row *v = realloc(t->rows, cap * sizeof *v);

		if (!v) {
			t->err = -ENOMEM;
			free(s);
			return;
		}
		t->rows = v;
		t->alloc = cap;
	}
	r = &t->rows[t->n];
	r->path = strdup(path);
	if (!r->path) {
		t->err = -ENOMEM;
		free(s);
		return;
	}
	r->ops = s->ops;
	r->errors = s->errors;
	r->data = s->data;
	r->time_ns = s->time_ns;
	r->nodes = 1;
	t->n++;
	free(s);
	if (t->n >= t->cap)
		compact(t);
}

static int consume(void *arg, struct an_engine *e, const struct an_req *r)
{
	struct an_top *t = arg;
	struct nstat *s;
	void **u;

	if (!r->x->nodeid || !e->paths)
		return 0;
	if (t->err)
		return an_engine_fail(e, t->err, "out of memory");
	an_paths_set_gone(e->paths, gone, t);
	u = an_paths_user(e->paths, r->x->nodeid);
	if (!u)
		return an_engine_fail(e, -ENOMEM, "out of memory");
	if (!*u && !(*u = calloc(1, sizeof(struct nstat))))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	s = *u;
	s->ops++;
	s->errors += r->x->error != 0;
	s->data += r->data;
	s->time_ns += r->total;
	return 0;
}

struct an_consumer an_top_consumer(struct an_top *t)
{
	return (struct an_consumer){ .arg = t, .exchange = consume };
}

int an_top_finish(struct an_top *t, struct an_engine *e)
{
	if (e->paths) {
		an_paths_set_gone(e->paths, gone, t);
		an_paths_release_users(e->paths);
	}
	if (t->err)
		return t->err;
	group(t);
	return 0;
}

enum { C_PATH, C_OPS, C_ERRORS, C_DATA, C_TIME, C_MEAN, C_NODES, C_NCOLS };

static const struct an_col cols[C_NCOLS] = {
	[C_PATH] = { "path", "PATH", AN_K_STR, NULL },
	[C_OPS] = { "ops", "OPS", AN_K_INT, NULL },
	[C_ERRORS] = { "errors", "ERRORS", AN_K_INT, NULL },
	[C_DATA] = { "data_bytes", "DATA", AN_K_BYTES, NULL },
	[C_TIME] = { "time_ns", "TIME", AN_K_NS, NULL },
	[C_MEAN] = { "mean_ns", "MEAN", AN_K_NS, NULL },
	[C_NODES] = { "nodes", "NODES", AN_K_INT, NULL },
};

struct an_table *an_top_table(struct an_top *t, enum an_top_by by, size_t n, const char *name,
			      const char *title)
{
	struct an_table *tb = an_table_new(name, title, cols, C_NCOLS);

	if (!tb)
		return NULL;
	if (t->n)
		qsort_r(t->rows, t->n, sizeof *t->rows, by_metric, &by);
	for (size_t i = 0; i < t->n && i < n; i++) {
		const struct an_top_row *x = &t->rows[i];
		long r;

		if (!metric(x, by))
			break;
		r = an_table_row(tb);
		if (r < 0 || an_cell_str(tb, (size_t)r, C_PATH, x->path)) {
			an_table_free(tb);
			return NULL;
		}
		an_cell_int(tb, (size_t)r, C_OPS, (int64_t)x->ops);
		an_cell_int(tb, (size_t)r, C_ERRORS, (int64_t)x->errors);
		an_cell_int(tb, (size_t)r, C_DATA, (int64_t)x->data);
		an_cell_int(tb, (size_t)r, C_TIME, (int64_t)x->time_ns);
		if (x->ops)
			an_cell_int(tb, (size_t)r, C_MEAN, (int64_t)(x->time_ns / x->ops));
		an_cell_int(tb, (size_t)r, C_NODES, (int64_t)x->nodes);
	}
	return tb;
}

void an_top_free(struct an_top *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->rows[i].path);
	free(t->rows);
	memset(t, 0, sizeof *t);
}
