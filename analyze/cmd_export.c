/* \summary: fuseanalyze export --perfetto: Chrome trace-event JSON, written
 * while the trace is read.
 *
 *   {"displayTimeUnit": "ns", "otherData": {session facts},
 *    "traceEvents": [
 *      {"ph": "M", ...process_name / thread_name / thread_sort_index},
 *      {"ph": "X", "cat": "request", "name": "LOOKUP", "tid": T, "ts": us,
 *       "dur": us, "args": {unique, node, path, pid, comm, error, ...}},
 *      {"ph": "X", "cat": "backend", ...}   nested: the filesystem's part
 *      {"ph": "C", "name": "in flight", "args": {"requests": n}}
 *      {"ph": "i", "cat": "notify"|"event", ...}
 *    ]}
 *
 * Exactly one "request" event per exchange.  Slices on one track must
 * nest, but a worker may serve several requests at once (an async backend),
 * so each worker's track is split into lanes: a request goes to the first
 * lane that is free at its t_read.  Timestamps are microseconds since the
 * trace's origin, with ns precision.  Requests never answered end at the
 * end of the trace and are named "OP (unanswered)".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "collect.h"
#include "format.h"

#define PID 1
#define TID_NOTIFY 1
#define TID_EVENTS 2

struct lane {
	int32_t worker;
	uint32_t index;             /* within the worker */
	uint64_t busy_until;
	uint32_t tid;
};

struct pf {
	FILE *f;
	struct an_engine *e;
	struct lane *lanes;
	size_t nlanes, alloc;
	uint32_t next_tid;
	uint64_t *heap;             /* completion times in flight */
	size_t hlen, halloc;
	uint64_t requests;
	int err;
};

static void ts(FILE *f, const struct an_engine *e, uint64_t t)
{
	uint64_t rel = t > e->t0 ? t - e->t0 : 0;

	fprintf(f, "%llu.%03llu", (unsigned long long)(rel / 1000), (unsigned long long)(rel % 1000));
}

static void meta(struct pf *p, uint32_t tid, const char *what, const char *name, uint64_t sort)
{
	fprintf(p->f, ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"%s\",\"args\":{\"name\":",
		PID, tid, what);
	an_json_str(p->f, name);
	fputs("}}", p->f);
	fprintf(p->f, ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"thread_sort_index\","
		"\"args\":{\"sort_index\":%llu}}", PID, tid, (unsigned long long)sort);
}

/* The lane of `worker` that is free at t (a new one if none is). */
static struct lane *lane_for(struct pf *p, int32_t worker, uint64_t t)
{
	uint32_t index = 0;
	struct lane *l;
	char name[64];

	for (size_t i = 0; i < p->nlanes; i++) {
		l = &p->lanes[i];
		if (l->worker != worker)
			continue;
		if (l->busy_until <= t)
			return l;
		index++;
	}
	if (p->nlanes == p->alloc) {
		size_t cap = p->alloc ? p->alloc * 2 : 16;

		l = realloc(p->lanes, cap * sizeof *l);
		if (!l)
			return NULL;
		p->lanes = l;
		p->alloc = cap;
	}
	l = &p->lanes[p->nlanes++];
	l->worker = worker;
	l->index = index;
	l->busy_until = 0;
	l->tid = p->next_tid++;
	if (worker < 0)
		snprintf(name, sizeof name, index ? "no worker (%u)" : "no worker", index + 1);
	else
		snprintf(name, sizeof name, index ? "worker %d (%u)" : "worker %d", worker, index + 1);
	/* workers in order, their lanes under them, "no worker" last */
	meta(p, l->tid, "thread_name", name,
	     (worker < 0 ? 1000000ull : (uint64_t)worker * 1000) + index + 10);
	return l;
}

static int heap_push(struct pf *p, uint64_t v)
{
	size_t i;

	if (p->hlen == p->halloc) {
		size_t cap = p->halloc ? p->halloc * 2 : 1024;
		uint64_t *h = realloc(p->heap, cap * sizeof *h);

		if (!h)
			return -ENOMEM;
		p->heap = h;
		p->halloc = cap;
	}
	i = p->hlen++;
	p->heap[i] = v;
	for (; i && p->heap[(i - 1) / 2] > p->heap[i]; i = (i - 1) / 2) {
		uint64_t tmp = p->heap[i];

		p->heap[i] = p->heap[(i - 1) / 2];
		p->heap[(i - 1) / 2] = tmp;
	}
	return 0;
}

static uint64_t heap_pop(struct pf *p)
{
	uint64_t top = p->heap[0];
	size_t i = 0;

	p->heap[0] = p->heap[--p->hlen];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		uint64_t tmp;

		if (l < p->hlen && p->heap[l] < p->heap[m])
			m = l;
		if (l + 1 < p->hlen && p->heap[l + 1] < p->heap[m])
			m = l + 1;
		if (m == i)
			return top;
		tmp = p->heap[i];
		p->heap[i] = p->heap[m];
		p->heap[m] = tmp;
		i = m;
	}
}

static void counter(struct pf *p, uint64_t t)
{
	fprintf(p->f, ",\n{\"ph\":\"C\",\"pid\":%d,\"name\":\"in flight\",\"ts\":", PID);
	ts(p->f, p->e, t);
	fprintf(p->f, ",\"args\":{\"requests\":%zu}}", p->hlen);
}

/* Counter steps for every completion up to t. */
static void complete_until(struct pf *p, uint64_t t)
{
	while (p->hlen && p->heap[0] <= t) {
		uint64_t done = heap_pop(p);

		/* several completions at one instant: one step */
		if (!p->hlen || p->heap[0] != done)
			counter(p, done);
	}
}

static int on_exchange(void *arg, struct an_engine *e, const struct an_req *r)
{
	const struct fp_trace_exchange *x = r->x;
	struct pf *p = arg;
	struct an_slow_entry s;
	uint64_t end = r->pending ? (e->t_max > x->t_read ? e->t_max : x->t_read)
				  : r->has_total ? x->t_written : x->t_read;
	struct lane *l;

	complete_until(p, x->t_read);
	l = lane_for(p, x->worker, x->t_read);
	if (!l || an_entry_fill(&s, e, r))
		return an_engine_fail(e, -ENOMEM, "out of memory");
	l->busy_until = end;
	fprintf(p->f, ",\n{\"ph\":\"X\",\"cat\":\"request\",\"name\":\"%s%s\",\"pid\":%d,"
		"\"tid\":%u,\"ts\":", fuse_opname(x->opcode), r->pending ? " (unanswered)" : "",
		PID, l->tid);
	ts(p->f, e, x->t_read);
	fprintf(p->f, ",\"dur\":%llu.%03llu,\"args\":{\"unique\":%llu,\"node\":%llu,\"pid\":%u",
		(unsigned long long)((end - x->t_read) / 1000),
		(unsigned long long)((end - x->t_read) % 1000), (unsigned long long)x->unique,
		(unsigned long long)x->nodeid, x->pid);
	if (s.comm[0]) {
		fputs(",\"comm\":", p->f);
		an_json_str(p->f, s.comm);
	}
	if (s.path) {
		fputs(",\"path\":", p->f);
		an_json_str(p->f, s.path);
	}
	if (x->error)
		fprintf(p->f, ",\"error\":\"%s\"", fuse_errno_name(-x->error));
	if (r->has_backend)
		fprintf(p->f, ",\"backend_us\":%.3f", (double)r->backend / 1e3);
	if (r->pending)
		fputs(",\"unanswered\":true", p->f);
	fputs(",\"detail\":", p->f);
	an_json_str(p->f, s.detail);
	fputs("}}", p->f);
	an_entry_free(&s);
	if (r->has_backend) {
		fprintf(p->f, ",\n{\"ph\":\"X\",\"cat\":\"backend\",\"name\":\"filesystem\",\"pid\":%d,"
			"\"tid\":%u,\"ts\":", PID, l->tid);
		ts(p->f, e, x->t_sent);
		fprintf(p->f, ",\"dur\":%llu.%03llu}", (unsigned long long)(r->backend / 1000),
			(unsigned long long)(r->backend % 1000));
	}
	p->requests++;
	if (!(x->flags & FP_TRACE_F_NOREPLY)) {
		if (heap_push(p, r->pending ? UINT64_MAX : end))
			return an_engine_fail(e, -ENOMEM, "out of memory");
		counter(p, x->t_read);
	}
	return ferror(p->f) ? an_engine_fail(e, -EIO, "writing the export failed") : 0;
}

static int on_notify(void *arg, struct an_engine *e, const struct fp_trace_notify *n)
{
	struct pf *p = arg;
	char text[512];

	if (n->msg && (n->dir == FP_DIR_PROXY_TO_KERNEL || n->dir == FP_DIR_BACKEND_TO_PROXY))
		fuse_format_notify(text, sizeof text, n->msg, n->caplen);
	else
		snprintf(text, sizeof text, "%s", n->code == FUSE_NOTIFY_REPLY ? "NOTIFY_REPLY"
			 : fuse_notify_name(n->code));
	fprintf(p->f, ",\n{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"notify\",\"pid\":%d,\"tid\":%d,"
		"\"name\":", PID, TID_NOTIFY);
	an_json_str(p->f, text);
	fputs(",\"ts\":", p->f);
	ts(p->f, e, n->t);
	fputs("}", p->f);
	return 0;
}

static int on_event(void *arg, struct an_engine *e, const struct fp_trace_event *ev)
{
	struct pf *p = arg;
	char text[600];

	snprintf(text, sizeof text, "%s: %s", fp_trace_event_name(ev->kind), ev->text);
	fprintf(p->f, ",\n{\"ph\":\"i\",\"s\":\"g\",\"cat\":\"event\",\"pid\":%d,\"tid\":%d,"
		"\"name\":", PID, TID_EVENTS);
	an_json_str(p->f, text);
	fputs(",\"ts\":", p->f);
	ts(p->f, e, ev->t);
	fputs("}", p->f);
	return 0;
}

static int on_end(void *arg, struct an_engine *e)
{
	struct pf *p = arg;

	(void)e;
	complete_until(p, UINT64_MAX - 1);
	return 0;
}

static void header(struct pf *p, const struct an_engine *e)
{
	const struct fp_trace_session *s = e->ses;
	char name[300];

	fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"trace\":", p->f);
	an_json_str(p->f, e->path);
	fputs(",\"kernel\":", p->f);
	an_json_str(p->f, s->kernel ? s->kernel : "");
	fputs(",\"transport\":", p->f);
	an_json_str(p->f, s->transport ? s->transport : "");
	fputs(",\"backend\":", p->f);
	an_json_str(p->f, s->backend ? s->backend : "");
	fputs(",\"argv\":", p->f);
	an_json_str(p->f, s->argv ? s->argv : "");
	fputs("},\n\"traceEvents\":[\n", p->f);
	snprintf(name, sizeof name, "fuseproxy %s", s->mountpoint ? s->mountpoint : "");
	fprintf(p->f, "{\"ph\":\"M\",\"pid\":%d,\"name\":\"process_name\",\"args\":{\"name\":", PID);
	an_json_str(p->f, name);
	fputs("}}", p->f);
	meta(p, TID_NOTIFY, "thread_name", "notifications", 1);
	meta(p, TID_EVENTS, "thread_name", "session events", 2);
}

int cmd_export(const struct an_args *a)
{
	struct pf p = { .next_tid = 10 };
	struct an_consumer c = { .arg = &p, .exchange = on_exchange, .notify = on_notify,
				 .event = on_event, .end = on_end };
	struct an_engine e;
	int ret = AN_EXIT_OK;

	if (!a->perfetto)
		return an_error("export wants --perfetto FILE.json");
	if (an_open(&e, a->pos[0], a, AN_PATHS))
		return AN_EXIT_ERROR;
	p.f = strcmp(a->perfetto, "-") ? fopen(a->perfetto, "w") : stdout;
	if (!p.f) {
		ret = an_error("%s: %s", a->perfetto, strerror(errno));
		goto out;
	}
	p.e = &e;
	header(&p, &e);
	an_engine_add(&e, &c);
	if (an_engine_run(&e)) {
		ret = an_error("%s", e.err);
		goto out;
	}
	fputs("\n]}\n", p.f);
	if (fflush(p.f) || ferror(p.f))
		ret = an_error("%s: write failed: %s", a->perfetto, strerror(errno));
	else if (p.f != stdout)
		fprintf(stderr, "fuseanalyze: %s: %llu requests on %zu tracks\n", a->perfetto,
			(unsigned long long)p.requests, p.nlanes);
out:
	if (p.f && p.f != stdout && fclose(p.f) && !ret)
		ret = an_error("%s: %s", a->perfetto, strerror(errno));
	free(p.lanes);
	free(p.heap);
	an_engine_close(&e);
	return ret;
}
