/* \summary: fuseanalyze report: one self-contained HTML page (inline CSS
 * and SVG, no script, nothing fetched) built from a single pass that runs
 * every collector: per-opcode stats, a kept timeline, top paths, the
 * slowest and the unanswered requests, and the session's events. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cmd.h"
#include "collect.h"
#include "cursor.h"
#include "format.h"
#include "names.h"
#include "report_css.h"
#include "svg.h"

#define TIMELINE_BUCKETS 240        /* kept buckets: 120..240 points per chart */
#define TIMELINE_START_NS 1000000   /* 1 ms, doubled as the trace needs */
#define N_SLOW 25
#define N_TOP 15
#define N_HISTS 12
#define N_EVENTS 200
#define N_INFLIGHT 200

struct evkeep {
	struct ev {
		uint64_t t;
		uint32_t kind;
		char *text;
	} *v;
	size_t n, alloc;
	uint64_t total;
};

static int keep_event(void *arg, struct an_engine *e, const struct fp_trace_event *ev)
{
	struct evkeep *k = arg;

	k->total++;
	if (k->n == N_EVENTS)
		return 0;
	if (k->n == k->alloc) {
		size_t cap = k->alloc ? k->alloc * 2 : 16;
		struct ev *v = realloc(k->v, cap * sizeof *v);

		if (!v)
			return an_engine_fail(e, -ENOMEM, "out of memory");
		k->v = v;
		k->alloc = cap;
	}
	k->v[k->n].t = ev->t;
	k->v[k->n].kind = ev->kind;
	k->v[k->n].text = strdup(ev->text ? ev->text : "");
	if (!k->v[k->n].text)
		return an_engine_fail(e, -ENOMEM, "out of memory");
	k->n++;
	return 0;
}

/* ---- HTML pieces ---------------------------------------------------------------- */

static const char *col_class(const struct an_col *c)
{
	if (c->kind != AN_K_STR)
		return "num";
	if (!strcmp(c->key, "path"))
		return "path";
	if (!strcmp(c->key, "detail") || !strcmp(c->key, "request"))
		return "mono";
	return "";
}

/* Columns the report leaves out (their content is in the detail text). */
static bool hidden(const struct an_col *c)
{
	return !strcmp(c->key, "unique") || !strcmp(c->key, "error") ||
	       !strcmp(c->key, "request_bytes") || !strcmp(c->key, "reply_bytes");
}

/* An an_table as an HTML table; rows whose first cell equals `total_row`
 * are emphasised. */
static void html_table(FILE *f, const struct an_table *t, const char *total_row)
{
	char buf[4096];
	bool groups = false;
	unsigned shown = 0;

	for (unsigned c = 0; c < t->ncols; c++) {
		groups |= t->cols[c].group != NULL;
		shown += !hidden(&t->cols[c]);
	}
	fputs("<div class=\"scroll\"><table>\n<thead>", f);
	if (groups) {
		fputs("<tr>", f);
		for (unsigned c = 0; c < t->ncols;) {
			const char *g = t->cols[c].group;
			unsigned span = 1;

			unsigned vis;

			while (c + span < t->ncols &&
			       (g ? t->cols[c + span].group && !strcmp(t->cols[c + span].group, g)
				  : !t->cols[c + span].group))
				span++;
			vis = 0;
			for (unsigned k = c; k < c + span; k++)
				vis += !hidden(&t->cols[k]);
			if (vis) {
				fprintf(f, "<th colspan=\"%u\"%s>", vis, g ? " class=\"grp\"" : "");
				html_esc(f, g ? g : "");
				fputs("</th>", f);
			}
			c += span;
		}
		fputs("</tr>\n", f);
	}
	fputs("<tr>", f);
	for (unsigned c = 0; c < t->ncols; c++) {
		if (hidden(&t->cols[c]))
			continue;
		fprintf(f, "<th class=\"%s\" title=\"", col_class(&t->cols[c]));
		html_esc(f, t->cols[c].key);
		fputs("\">", f);
		html_esc(f, t->cols[c].title);
		fputs("</th>", f);
	}
	fputs("</tr></thead>\n<tbody>\n", f);
	for (size_t r = 0; r < t->nrows; r++) {
		const struct an_cell *row = &t->cells[r * t->ncols];
		bool total = total_row && row[0].set && row[0].s && !strcmp(row[0].s, total_row);

		fputs(total ? "<tr class=\"total\">" : "<tr>", f);
		for (unsigned c = 0; c < t->ncols; c++) {
			if (hidden(&t->cols[c]))
				continue;
			an_fmt_cell(buf, sizeof buf, &t->cols[c], &row[c]);
			fprintf(f, "<td class=\"%s\">", col_class(&t->cols[c]));
			html_esc(f, buf);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	if (!t->nrows)
		fprintf(f, "<tr><td colspan=\"%u\" class=\"note\">none</td></tr>\n", shown);
	fputs("</tbody></table></div>\n", f);
}

/* argv as stored (a JSON array of strings) back into a shell-like line. */
static void html_argv(FILE *f, const char *json)
{
	const char *p = json;
	bool first = true;

	if (!p || *p != '[') {
		html_esc(f, json ? json : "-");
		return;
	}
	while ((p = strchr(p, '"'))) {
		char word[1024];
		size_t n = 0;

		for (p++; *p && *p != '"' && n + 1 < sizeof word; p++) {
			if (*p == '\\' && p[1])
				p++;
			word[n++] = *p;
		}
		word[n] = '\0';
		if (*p)
			p++;
		if (!first)
			fputc(' ', f);
		first = false;
		if (!n || strpbrk(word, " \t'\"$")) {
			fputc('\'', f);
			html_esc(f, word);
			fputc('\'', f);
		} else {
			html_esc(f, word);
		}
	}
}

static void chips(FILE *f, uint64_t on, uint64_t offered)
{
	for (const struct fuse_tok *t = fuse_init_flag_names; t->s; t++)
		if (on & t->v)
			fprintf(f, "<span class=\"chip\">%s</span>", t->s);
	for (const struct fuse_tok *t = fuse_init_flag_names; t->s; t++)
		if ((offered & t->v) && !(on & t->v))
			fprintf(f, "<span class=\"chip off\" title=\"offered by the kernel, not "
				"enabled\">%s</span>", t->s);
}

static bool init_in_flags(const struct fp_trace_session *s, uint64_t *flags)
{
	struct fuse_cursor c = cur_make(s->init_req, s->init_req_len);
	struct fuse_init_in ii;
	size_t n;

	if (!cur_pull(&c, sizeof(struct fuse_in_header)))
		return false;
	n = cur_left(&c) < sizeof ii ? cur_left(&c) : sizeof ii;
	if (n < 16 || !cur_copy(&c, &ii, sizeof ii, n))
		return false;
	*flags = ii.flags | ((ii.flags & FUSE_INIT_EXT) ? (uint64_t)ii.flags2 << 32 : 0);
	return true;
}

static bool init_out(const struct fp_trace_session *s, struct fuse_init_out *io)
{
	struct fuse_cursor c = cur_make(s->init_reply, s->init_reply_len);
	size_t n;

	if (!cur_pull(&c, sizeof(struct fuse_out_header)))
		return false;
	n = cur_left(&c) < sizeof *io ? cur_left(&c) : sizeof *io;
	return n >= 12 && cur_copy(&c, io, sizeof *io, n);
}

static void fact(FILE *f, const char *k, const char *v)
{
	fprintf(f, "<dt>%s</dt><dd>", k);
	html_esc(f, v && *v ? v : "-");
	fputs("</dd>\n", f);
}

static void session_facts(FILE *f, const struct an_engine *e)
{
	const struct fp_trace_session *s = e->ses;
	struct fuse_init_out io;
	uint64_t offered = 0;
	char buf[256], a[64], b[64];

	fputs("<section id=\"session\"><h2>Session</h2><dl class=\"facts\">\n", f);
	fputs("<dt>command</dt><dd><code>", f);
	html_argv(f, s->argv);
	fputs("</code></dd>\n", f);
	fact(f, "mount point", s->mountpoint);
	fact(f, "backend", s->backend ? s->backend : "built-in (no backend process)");
	fact(f, "transport", s->transport);
	fact(f, "kernel", s->kernel);
	if (e->have_init) {
		snprintf(buf, sizeof buf, "%u.%u", e->proto_major, e->wp.minor);
		fact(f, "FUSE protocol", buf);
		init_in_flags(s, &offered);
		fputs("<dt>INIT flags negotiated</dt><dd>", f);
		chips(f, e->wp.flags, offered);
		fputs("</dd>\n", f);
		if (init_out(s, &io)) {
			an_fmt_bytes(a, sizeof a, io.max_write);
			an_fmt_bytes(b, sizeof b, io.max_readahead);
			snprintf(buf, sizeof buf, "max_write %s, max_readahead %s, max_pages %u, "
				 "max_background %u, congestion_threshold %u, time_gran %u ns",
				 a, b, io.max_pages, io.max_background, io.congestion_threshold,
				 io.time_gran);
			fact(f, "INIT limits", buf);
		}
	} else {
		fact(f, "FUSE protocol", "unknown (no INIT in this trace)");
	}
	an_fmt_when(a, sizeof a, e, e->t0);
	fact(f, "started", a);
	if (e->clean_end) {
		an_fmt_when(b, sizeof b, e, e->ses->end_mono_ns);
		fact(f, "ended", b);
	} else {
		fact(f, "ended", "not closed cleanly (the recorder was killed or is still running)");
	}
	if (s->snaplen == FP_TRACE_SNAPLEN_ALL)
		snprintf(buf, sizeof buf, "whole messages");
	else
		snprintf(buf, sizeof buf, "headers + %u bytes", s->snaplen);
	fact(f, "snaplen", buf);
	fact(f, "opcode filter", s->filter ? s->filter : "all opcodes");
	snprintf(buf, sizeof buf, "%llu records, %llu dropped (rings full), %llu lost (write "
		 "errors); drop policy %s", (unsigned long long)s->records,
		 (unsigned long long)s->dropped, (unsigned long long)s->lost,
		 s->drop_policy ? s->drop_policy : "-");
	fact(f, "recorder", buf);
	snprintf(buf, sizeof buf, "%s (%s)", e->path, fp_reader_format(e->r));
	fact(f, "trace file", buf);
	fputs("</dl></section>\n", f);
}

static void kpi(FILE *f, const char *label, const char *value, bool bad)
{
	fprintf(f, "<div class=\"kpi%s\"><div class=\"v\">", bad ? " bad" : "");
	html_esc(f, value);
	fprintf(f, "</div><div class=\"l\">%s</div></div>\n", label);
}

static void kpis(FILE *f, const struct an_engine *e, const struct an_stats *s,
		 const struct an_timeline *tl)
{
	double dur = e->t_end > e->t0 ? (double)(e->t_end - e->t0) / 1e9 : 0;
	const struct an_opstat *all = &s->all;
	char v[64], w[40];

	fputs("<div class=\"kpis\">\n", f);
	snprintf(v, sizeof v, "%llu", (unsigned long long)all->count);
	kpi(f, "requests", v, false);
	an_fmt_ns(v, sizeof v, dur * 1e9);
	kpi(f, "duration", v, false);
	an_fmt_rate(w, sizeof w, dur > 0 ? (double)all->count / dur : 0);
	snprintf(v, sizeof v, "%s/s", w);
	kpi(f, "mean rate", v, false);
	snprintf(v, sizeof v, "%.2f%%", all->count ? 100.0 * (double)all->errors / (double)all->count : 0);
	kpi(f, "errors", v, all->errors > 0);
	snprintf(v, sizeof v, "%llu", (unsigned long long)all->pending);
	kpi(f, "unanswered", v, all->pending > 0);
	an_fmt_ns(v, sizeof v, (double)an_hist_quantile(&all->total, 0.5));
	kpi(f, "p50 total", all->total.n ? v : "-", false);
	an_fmt_ns(v, sizeof v, (double)an_hist_quantile(&all->total, 0.99));
	kpi(f, "p99 total", all->total.n ? v : "-", false);
	an_fmt_bytes(v, sizeof v, (double)s->op[FUSE_READ].data);
	kpi(f, "data read", v, false);
	an_fmt_bytes(v, sizeof v, (double)s->op[FUSE_WRITE].data);
	kpi(f, "data written", v, false);
	snprintf(v, sizeof v, "%llu", (unsigned long long)tl->peak_inflight);
	kpi(f, "peak in flight", v, false);
	fputs("</div>\n", f);
}

static void charts(FILE *f, const struct an_timeline *tl)
{
	size_t n = tl->nb;
	double *x0 = calloc(n ? n : 1, sizeof *x0), *w = calloc(n ? n : 1, sizeof *w);
	double *req = calloc(n ? n : 1, sizeof *req), *err = calloc(n ? n : 1, sizeof *err);
	double *data = calloc(n ? n : 1, sizeof *data), *imax = calloc(n ? n : 1, sizeof *imax);
	double *iend = calloc(n ? n : 1, sizeof *iend), *p50 = calloc(n ? n : 1, sizeof *p50);
	double *p99 = calloc(n ? n : 1, sizeof *p99);
	char bw[32];

	fputs("<section id=\"time\"><h2>Over time</h2><div class=\"charts\">\n", f);
	if (!x0 || !w || !req || !err || !data || !imax || !iend || !p50 || !p99) {
		fputs("<p class=\"warn\">out of memory for the charts</p>\n", f);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct an_bucket *b = &tl->b[i];
		double s = (double)b->width / 1e9;

		x0[i] = (double)b->start / 1e9;
		w[i] = s;
		req[i] = (double)b->requests / s;
		err[i] = (double)b->errors / s;
		data[i] = (double)b->data / s;
		imax[i] = (double)b->inflight_max;
		iend[i] = (double)b->inflight_end;
		p50[i] = b->lat.n ? (double)an_hist_quantile(&b->lat, 0.5) : NAN;
		p99[i] = b->lat.n ? (double)an_hist_quantile(&b->lat, 0.99) : NAN;
	}
	{
		const struct svg_series rs[] = {
			{ "requests/s", "s1", req, 1 }, { "errors/s", "s3", err, 0 },
		};
		const struct svg_series ds[] = { { "READ+WRITE data/s", "s2", data, 1 } };
		const struct svg_series is[] = {
			{ "most in flight", "s4", imax, 1 }, { "in flight at bucket end", "s5", iend, 0 },
		};
		const struct svg_series ls[] = {
			{ "p50", "s1", p50, 0 }, { "p99", "s3", p99, 0 },
		};

		svg_time_chart(f, "chart-rate", "Requests per second (by arrival)", SVG_RATE, x0, w,
			       n, rs, 2);
		svg_time_chart(f, "chart-data", "Data per second (READ and WRITE payload)",
			       SVG_BYTES_RATE, x0, w, n, ds, 1);
		svg_time_chart(f, "chart-inflight", "Requests in flight (read, reply not yet written)",
			       SVG_COUNT, x0, w, n, is, 2);
		svg_time_chart(f, "chart-latency", "Total latency of the requests arriving in each bucket",
			       SVG_NS, x0, w, n, ls, 2);
	}
	an_fmt_ns(bw, sizeof bw, (double)tl->width);
	fprintf(f, "<p class=\"note\">%zu buckets of %s.</p>\n", n, bw);
out:
	fputs("</div></section>\n", f);
	free(x0); free(w); free(req); free(err); free(data);
	free(imax); free(iend); free(p50); free(p99);
}

static void histograms(FILE *f, const struct an_stats *s)
{
	unsigned order[AN_NOPS], n = an_stats_order(s, order), shown = 0;

	fputs("<section id=\"latency\"><h2>Latency by operation</h2>\n"
	      "<p class=\"note\">Total latency (the proxy reading the request to writing the "
	      "reply), log scale; dashed: p50 and p99.</p>\n<div class=\"hists\">\n", f);
	for (unsigned i = 0; i < n && shown < N_HISTS; i++) {
		const struct an_opstat *o = &s->op[order[i]];
		char title[128], id[32];

		if (!o->total.n)
			continue;
		snprintf(title, sizeof title, "%s  \xc2\xb7  %llu requests", an_slot_name(o),
			 (unsigned long long)o->total.n);
		snprintf(id, sizeof id, "hist-%s", an_slot_name(o));
		svg_latency_hist(f, id, title, &o->total);
		shown++;
	}
	if (!shown)
		fputs("<p class=\"note\">No answered requests.</p>\n", f);
	fputs("</div></section>\n", f);
}

static void events(FILE *f, const struct an_engine *e, const struct evkeep *k)
{
	if (!k->total)
		return;
	fputs("<section id=\"events\"><h2>Session events</h2><div class=\"scroll\"><table>"
	      "<thead><tr><th class=\"num\">AT(s)</th><th>KIND</th><th>TEXT</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; i < k->n; i++) {
		fprintf(f, "<tr><td class=\"num\">%.3f</td><td>%s</td><td class=\"mono\">",
			an_rel_s(e, k->v[i].t), fp_trace_event_name(k->v[i].kind));
		html_esc(f, k->v[i].text);
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table></div>\n", f);
	if (k->total > k->n)
		fprintf(f, "<p class=\"note\">first %zu of %llu events.</p>\n", k->n,
			(unsigned long long)k->total);
	fputs("</section>\n", f);
}

static void page(FILE *f, const struct an_args *a, struct an_engine *e, struct an_stats *s,
		 struct an_timeline *tl, struct an_top *top, struct an_slow *slow,
		 struct an_inflight *infl, const struct evkeep *ev)
{
	struct an_table *ops = NULL, *errs = NULL, *slowt = NULL, *inft = NULL, *tt = NULL, *to = NULL;
	const char *base = strrchr(e->path, '/') ? strrchr(e->path, '/') + 1 : e->path;
	char when[64], title[512];
	time_t now = time(NULL);
	struct tm tm;

	snprintf(title, sizeof title, "%s", a->title ? a->title : "FUSE trace report");
	an_fmt_when(when, sizeof when, e, e->t0);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
	      "<meta name=\"generator\" content=\"fuseanalyze " FP_VERSION "\">\n<title>", f);
	html_esc(f, title);
	fputs(" \xe2\x80\x94 ", f);
	html_esc(f, base);
	fprintf(f, "</title>\n<style>\n%s</style></head><body>\n<header><h1>", report_css);
	html_esc(f, title);
	fputs("</h1><div class=\"sub\">", f);
	html_esc(f, e->path);
	fputs(" \xc2\xb7 ", f);
	html_esc(f, e->ses->mountpoint ? e->ses->mountpoint : "");
	fprintf(f, " \xc2\xb7 started %s</div></header>\n", when);
	fputs("<nav><a href=\"#summary\">Summary</a><a href=\"#time\">Over time</a>"
	      "<a href=\"#latency\">Latency</a><a href=\"#errors\">Errors</a><a href=\"#paths\">Paths</a>"
	      "<a href=\"#slow\">Slowest</a><a href=\"#inflight\">Unanswered</a>"
	      "<a href=\"#session\">Session</a></nav>\n<main>\n", f);

	kpis(f, e, s, tl);
	if (!e->clean_end || e->ses->dropped || e->ses->lost || e->n_pending) {
		if (!e->clean_end)
			fputs("<div class=\"warn\">This trace was not closed cleanly: requests in flight "
			      "when the recorder stopped are not in it.</div>\n", f);
		if (e->ses->dropped || e->ses->lost)
			fprintf(f, "<div class=\"warn\">The recorder dropped %llu and lost %llu records: "
				"counts below are low.</div>\n", (unsigned long long)e->ses->dropped,
				(unsigned long long)e->ses->lost);
		if (e->n_pending)
			fprintf(f, "<div class=\"warn\">%llu request%s never answered: see "
				"<a href=\"#inflight\">Unanswered</a>.</div>\n",
				(unsigned long long)e->n_pending, e->n_pending == 1 ? " was" : "s were");
	}

	if (an_summary_tables(s, &ops, &errs))
		goto nomem;
	fputs("<section id=\"summary\"><h2>Operations</h2>\n", f);
	html_table(f, ops, "(all)");
	fputs("<p class=\"note\"><b>total</b> = t_written \xe2\x88\x92 t_read: the proxy read the "
	      "request from /dev/fuse \xe2\x86\x92 it wrote the reply (time queued in the kernel "
	      "before the read is not measurable). <b>backend</b> = t_reply \xe2\x88\x92 t_sent: "
	      "time in the filesystem. <b>overhead</b> = total \xe2\x88\x92 backend: the proxy's "
	      "share. Quantiles are nearest-rank from log-linear histograms, within 0.4% of the "
	      "exact value.</p>\n</section>\n", f);

	charts(f, tl);
	histograms(f, s);

	fputs("<section id=\"errors\"><h2>Errors</h2>\n", f);
	html_table(f, errs, NULL);
	fputs("</section>\n", f);

	tt = an_top_table(top, AN_BY_TIME, N_TOP, "top_time", NULL);
	to = an_top_table(top, AN_BY_OPS, N_TOP, "top_ops", NULL);
	if (!tt || !to)
		goto nomem;
	fputs("<section id=\"paths\"><h2>Top paths</h2>\n"
	      "<p class=\"note\">Requests count against the node they address; LOOKUP, CREATE, "
	      "MKDIR, UNLINK\xe2\x80\xa6 address the parent directory. Paths come from the trace's "
	      "own entry history; \xe2\x80\x9c(unknown)\xe2\x80\x9d marks what it never named.</p>\n"
	      "<div class=\"two\"><div><h3>by total time</h3>\n", f);
	html_table(f, tt, NULL);
	fputs("</div><div><h3>by requests</h3>\n", f);
	html_table(f, to, NULL);
	fputs("</div></div>\n", f);
	if (top->dropped_rows)
		fprintf(f, "<p class=\"note\">%llu rarely used paths were not kept (at most %llu ns "
			"of total time each).</p>\n", (unsigned long long)top->dropped_rows,
			(unsigned long long)top->dropped_max);
	fputs("</section>\n", f);

	if (!(slowt = an_slow_table(slow, e)))
		goto nomem;
	fprintf(f, "<section id=\"slow\"><h2>Slowest %d requests</h2>\n", N_SLOW);
	html_table(f, slowt, NULL);
	fputs("</section>\n", f);

	if (!(inft = an_inflight_table(infl, e)))
		goto nomem;
	if (inft->nrows > N_INFLIGHT)
		inft->nrows = N_INFLIGHT;   /* the rest stay in the table's memory */
	fputs("<section id=\"inflight\"><h2>Unanswered requests</h2>\n", f);
	if (infl->n)
		html_table(f, inft, NULL);
	else
		fputs("<p class=\"ok\">Every request was answered.</p>\n", f);
	if (infl->n > N_INFLIGHT)
		fprintf(f, "<p class=\"note\">oldest %d of %zu shown.</p>\n", N_INFLIGHT, infl->n);
	fputs("</section>\n", f);

	events(f, e, ev);
	session_facts(f, e);
	localtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
	fprintf(f, "</main><footer>fuseanalyze %s \xc2\xb7 generated %s \xc2\xb7 "
		"self-contained: no scripts, nothing loaded from the network</footer>\n"
		"</body></html>\n", FP_VERSION, when);
	goto out;
nomem:
	fputs("<p class=\"warn\">out of memory while building this report</p></main></body></html>\n", f);
out:
	if (inft)
		inft->nrows = inft->nrows > infl->n ? inft->nrows : infl->n;
	an_table_free(ops);
	an_table_free(errs);
	an_table_free(slowt);
	an_table_free(inft);
	an_table_free(tt);
	an_table_free(to);
}

int cmd_report(const struct an_args *a)
{
	struct an_consumer cs[5];
	struct evkeep ev = { 0 };
	struct an_inflight infl;
	struct an_timeline tl;
	struct an_engine e;
	struct an_slow slow;
	struct an_stats s;
	struct an_top top;
	FILE *f = NULL;
	int ret = AN_EXIT_OK;

	if (!a->output)
		return an_error("report wants -o FILE.html");
	if (an_open(&e, a->pos[0], a, AN_PATHS))
		return AN_EXIT_ERROR;
	an_stats_init(&s);
	an_top_init(&top, AN_BY_TIME);
	an_slow_init(&slow, N_SLOW);
	an_inflight_init(&infl);
	an_timeline_init_kept(&tl, TIMELINE_START_NS, TIMELINE_BUCKETS);
	tl.to_last_activity = true;     /* no empty tail up to the session's close */
	cs[0] = an_stats_consumer(&s);
	cs[1] = an_top_consumer(&top);
	cs[2] = an_slow_consumer(&slow);
	cs[3] = an_inflight_consumer(&infl);
	cs[4] = an_timeline_consumer(&tl);
	for (int i = 0; i < 5; i++)
		an_engine_add(&e, &cs[i]);
	an_engine_add(&e, &(struct an_consumer){ .arg = &ev, .event = keep_event });
	if (an_engine_run(&e)) {
		ret = an_error("%s", e.err);
		goto out;
	}
	if (an_top_finish(&top, &e)) {
		ret = an_error("out of memory");
		goto out;
	}
	f = strcmp(a->output, "-") ? fopen(a->output, "w") : stdout;
	if (!f) {
		ret = an_error("%s: %s", a->output, strerror(errno));
		goto out;
	}
	page(f, a, &e, &s, &tl, &top, &slow, &infl, &ev);
	if (fflush(f) || ferror(f))
		ret = an_error("%s: write failed: %s", a->output, strerror(errno));
	if (f != stdout && fclose(f) && !ret)
		ret = an_error("%s: %s", a->output, strerror(errno));
out:
	/* the engine first: closing hands its nodes' statistics to top */
	an_engine_close(&e);
	for (size_t i = 0; i < ev.n; i++)
		free(ev.v[i].text);
	free(ev.v);
	an_timeline_free(&tl);
	an_inflight_free(&infl);
	an_slow_free(&slow);
	an_top_free(&top);
	an_stats_free(&s);
	return ret;
}
