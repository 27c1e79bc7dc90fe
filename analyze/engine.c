/* \summary: the streaming pass over a trace (see engine.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "decode.h"
#include "engine.h"
#include "scan_sqlite.h"

int an_engine_fail(struct an_engine *e, int ret, const char *fmt, ...)
{
	va_list ap;

	if (e->err && e->errlen) {
		va_start(ap, fmt);
		vsnprintf(e->err, e->errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* The recorder's filter syntax always lets INIT through (replay needs
 * it); for analysis, --op means what it says: INIT only when named.
 * Returns whether INIT was selected. */
static bool ops_select_init(const char *spec)
{
	bool positive = false, init = false, not_init = false;
	char tok[64];

	for (const char *p = spec; *p;) {
		size_t n = strcspn(p, ",");
		const char *t = p;
		bool neg;

		p += n + (p[n] == ',');
		while (n && (*t == ' ' || *t == '\t'))
			t++, n--;
		neg = n && *t == '!';
		if (neg)
			t++, n--;
		if (!n || n >= sizeof tok)
			continue;
		for (size_t i = 0; i < n; i++)
			tok[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] + 32 : t[i]);
		tok[n] = '\0';
		if (!strncmp(tok, "fuse_", 5))
			memmove(tok, tok + 5, n - 4);
		bool is_init = !strcmp(tok, "init") || !strcmp(tok, "26");

		if (neg)
			not_init |= is_init;
		else {
			positive = true;
			init |= is_init;
		}
	}
	return !not_init && (!positive || init);
}

int an_engine_open(struct an_engine *e, const char *path, const char *ops, unsigned flags,
		   char *err, size_t errlen)
{
	int ret;

	memset(e, 0, sizeof *e);
	e->path = path;
	e->err = e->errbuf;
	e->errlen = sizeof e->errbuf;
	e->filter.pass = UINT64_MAX;
	if (ops) {
		ret = fp_trace_filter_parse(ops, &e->filter, err, errlen);
		if (ret)
			return ret;
		if (!ops_select_init(ops))
			e->filter.pass &= ~(1ull << FUSE_INIT);
		e->filtered = true;
	}
	ret = fp_reader_open(&e->r, path, 0, err, errlen);
	if (ret)
		return ret;
	e->ses = fp_reader_session(e->r);
	if (e->ses->init_reply && an_decode_init_reply(e->ses->init_reply, e->ses->init_reply_len,
						       &e->wp, &e->proto_major))
		e->have_init = true;
	e->clean_end = e->ses->end_mono_ns != 0;
	e->t0 = e->ses->start_mono_ns;
	if ((flags & AN_UNORDERED) && !strcmp(fp_reader_format(e->r), "sqlite")) {
		ret = an_scan_open(&e->scan, path, err, errlen);
		if (ret) {
			an_engine_close(e);
			return ret;
		}
		e->scan_others = true;
	}
	if (flags & AN_PATHS) {
		e->paths = an_paths_new(NULL, NULL);
		if (!e->paths) {
			an_engine_close(e);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

void an_engine_add(struct an_engine *e, const struct an_consumer *c)
{
	if (e->nc < AN_MAX_CONSUMERS)
		e->c[e->nc++] = *c;
}

static void seen(struct an_engine *e, uint64_t t)
{
	if (t > e->t_max)
		e->t_max = t;
}

/* The origin is the session's start, unless records are older (a clock
 * the session did not share, or no session start). */
static void origin(struct an_engine *e, uint64_t t)
{
	if (t && (!e->t0 || t < e->t0))
		e->t0 = t;
}

static void derive(struct an_engine *e, const struct fp_trace_exchange *x, struct an_req *r)
{
	memset(r, 0, sizeof *r);
	r->x = x;
	r->op = fuse_op_get(x->opcode);
	r->pending = !x->reply_len && !(x->flags & FP_TRACE_F_NOREPLY);
	if (!r->pending && x->reply_len && x->t_written) {
		if (x->t_written >= x->t_read) {
			r->total = x->t_written - x->t_read;
			r->has_total = true;
		} else {
			e->n_bad_time++;
		}
	}
	if (r->has_total && x->t_sent && x->t_reply && x->t_reply >= x->t_sent &&
	    x->t_sent >= x->t_read && x->t_reply <= x->t_written) {
		r->backend = x->t_reply - x->t_sent;
		r->has_backend = true;
	}
	if (r->has_total)
		r->overhead = r->total - r->backend;
	r->data = an_data_bytes(x, &e->wp);
}

static int exchange(struct an_engine *e, const struct fp_trace_exchange *x)
{
	struct an_req r;
	uint32_t major;
	int ret;

	if (!e->n_exchanges || e->scan)
		origin(e, x->t_read);
	e->n_exchanges++;
	seen(e, x->t_read);
	seen(e, x->t_written);
	if (!e->have_init && x->opcode == FUSE_INIT && x->reply &&
	    an_decode_init_reply(x->reply, x->reply_caplen, &e->wp, &major)) {
		e->have_init = true;
		e->proto_major = major;
	}
	derive(e, x, &r);
	e->n_pending += r.pending;
	e->n_unpaired += !!(x->flags & FP_TRACE_F_UNPAIRED);
	if (fp_trace_filter_passes(&e->filter, x->opcode)) {
		e->n_selected++;
		for (int i = 0; i < e->nc; i++) {
			if (!e->c[i].exchange)
				continue;
			ret = e->c[i].exchange(e->c[i].arg, e, &r);
			if (ret)
				return ret;
		}
	}
	/* effects after the consumers: they see the namespace as the
	 * request found it (an UNLINK still names its file) */
	if (e->paths && (ret = an_paths_apply(e->paths, x, &e->wp)))
		return an_engine_fail(e, ret, "%s: out of memory for the path table", e->path);
	return 0;
}

static int run_scan(struct an_engine *e)
{
	struct fp_trace_exchange x;
	int ret;

	while ((ret = an_scan_next(e->scan, &x, e->err, e->errlen)) > 0)
		if ((ret = exchange(e, &x)))
			return ret;
	if (ret < 0)
		return ret;
	if (!e->scan_others)
		return 0;
	return an_scan_others(e->scan, &e->n_notify, &e->n_events, &e->t_max, e->err, e->errlen);
}

int an_engine_partition(struct an_engine *e, unsigned part, unsigned nparts)
{
	int64_t lo, hi, span;
	int ret;

	if (!e->scan || !nparts || part >= nparts)
		return -ENOTSUP;
	ret = an_scan_rowids(e->scan, &lo, &hi, e->err, e->errlen);
	if (ret)
		return ret;
	span = (hi - lo + (int64_t)nparts - 1) / (int64_t)nparts;
	an_scan_close(e->scan);
	e->scan = NULL;
	ret = an_scan_open_range(&e->scan, e->path, part ? lo + span * part : INT64_MIN,
				 part + 1 < nparts ? lo + span * (part + 1) : INT64_MAX,
				 e->err, e->errlen);
	e->scan_others = part == 0;
	return ret;
}

int an_scan_rowids_of(struct an_engine *e, int64_t *lo, int64_t *hi)
{
	return e->scan ? an_scan_rowids(e->scan, lo, hi, e->err, e->errlen) : -ENOTSUP;
}

void an_engine_absorb(struct an_engine *e, const struct an_engine *p)
{
	e->n_exchanges += p->n_exchanges;
	e->n_notify += p->n_notify;
	e->n_events += p->n_events;
	e->n_pending += p->n_pending;
	e->n_unpaired += p->n_unpaired;
	e->n_bad_time += p->n_bad_time;
	e->n_selected += p->n_selected;
	if (p->n_exchanges && p->t0 && (!e->t0 || p->t0 < e->t0))
		e->t0 = p->t0;
	if (p->t_max > e->t_max)
		e->t_max = p->t_max;
	if (!e->have_init && p->have_init) {
		e->have_init = true;
		e->wp = p->wp;
		e->proto_major = p->proto_major;
	}
	e->t_end = e->ses->end_mono_ns > e->t_max ? e->ses->end_mono_ns : e->t_max;
}

int an_engine_run(struct an_engine *e)
{
	struct fp_trace_rec rec;
	int ret;

	if (e->scan) {
		ret = run_scan(e);
		if (ret)
			return ret;
		goto end;
	}
	while ((ret = fp_reader_next(e->r, &rec, e->err, e->errlen)) > 0) {
		switch (rec.kind) {
		case FP_REC_EXCHANGE:
			ret = exchange(e, &rec.x);
			break;
		case FP_REC_NOTIFY:
			if (!e->n_notify)
				origin(e, rec.n.t);
			e->n_notify++;
			seen(e, rec.n.t);
			for (int i = 0; !ret && i < e->nc; i++)
				if (e->c[i].notify)
					ret = e->c[i].notify(e->c[i].arg, e, &rec.n);
			break;
		case FP_REC_EVENT:
			if (!e->n_events)
				origin(e, rec.e.t);
			e->n_events++;
			seen(e, rec.e.t);
			for (int i = 0; !ret && i < e->nc; i++)
				if (e->c[i].event)
					ret = e->c[i].event(e->c[i].arg, e, &rec.e);
			break;
		default:
			ret = 0;
			break;
		}
		if (ret)
			return ret < 0 ? ret : -EIO;
	}
	if (ret < 0)
		return ret;
end:
	e->t_end = e->ses->end_mono_ns > e->t_max ? e->ses->end_mono_ns : e->t_max;
	for (int i = 0; i < e->nc; i++) {
		if (e->c[i].end && (ret = e->c[i].end(e->c[i].arg, e)))
			return ret;
	}
	return 0;
}

void an_engine_close(struct an_engine *e)
{
	an_paths_free(e->paths);
	e->paths = NULL;
	an_scan_close(e->scan);
	e->scan = NULL;
	fp_reader_close(e->r);
	e->r = NULL;
}
