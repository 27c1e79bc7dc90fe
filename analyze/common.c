/* \summary: helpers the subcommands share: opening a trace, describing it,
 * time and name formatting. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cmd.h"

int an_open(struct an_engine *e, const char *path, const struct an_args *a, unsigned flags)
{
	char err[FP_TRACE_ERRBUF_SIZE];

	if (an_engine_open(e, path, a->ops, flags, err, sizeof err))
		return an_error("%s", err);
	return 0;
}

void an_fmt_when(char *buf, size_t n, const struct an_engine *e, uint64_t t)
{
	const struct fp_trace_session *s = e->ses;
	uint64_t wall;
	struct tm tm;
	time_t sec;

	if (!s->start_wall_ns || !s->start_mono_ns) {
		snprintf(buf, n, "+%.6fs", an_rel_s(e, t));
		return;
	}
	wall = s->start_wall_ns + (t - s->start_mono_ns);
	sec = (time_t)(wall / 1000000000u);
	localtime_r(&sec, &tm);
	snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d.%06u", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(wall % 1000000000u / 1000u));
}

void an_out_trace(struct an_out *o, const struct an_engine *e)
{
	const struct fp_trace_session *s = e->ses;
	double dur = e->t_end > e->t0 ? (double)(e->t_end - e->t0) / 1e9 : 0;
	char when[64];

	an_fmt_when(when, sizeof when, e, e->t0);
	an_out_kv_str(o, "trace", e->path);
	an_out_kv_str(o, "format", fp_reader_format(e->r));
	an_out_kv_str(o, "start", when);
	an_out_kv_dbl(o, "duration_s", dur);
	an_out_kv_int(o, "requests", (int64_t)e->n_exchanges);
	if (e->filtered)
		an_out_kv_int(o, "selected", (int64_t)e->n_selected);
	an_out_kv_int(o, "pending", (int64_t)e->n_pending);
	an_out_kv_int(o, "notifications", (int64_t)e->n_notify);
	an_out_kv_int(o, "events", (int64_t)e->n_events);
	an_out_kv_str(o, "closed_cleanly", e->clean_end ? "yes" : "no");
	an_out_kv_str(o, "kernel", s->kernel);
	an_out_kv_str(o, "transport", s->transport);
	if (e->have_init) {
		char proto[32];

		snprintf(proto, sizeof proto, "%u.%u", e->proto_major, e->wp.minor);
		an_out_kv_str(o, "protocol", proto);
	}
	an_out_kv_dbl(o, "quantile_error_bound", an_hist_error_bound(AN_HIST_BITS));

	an_out_text(o, "trace     %s (%s%s), started %s\n", e->path, fp_reader_format(e->r),
		    e->clean_end ? "" : ", not closed cleanly", when);
	an_out_text(o, "requests  %llu in %.3f s", (unsigned long long)e->n_exchanges, dur);
	if (dur > 0)
		an_out_text(o, " (%.0f/s)", (double)e->n_exchanges / dur);
	if (e->filtered)
		an_out_text(o, ", %llu selected by --op", (unsigned long long)e->n_selected);
	if (e->n_pending)
		an_out_text(o, ", %llu unanswered", (unsigned long long)e->n_pending);
	an_out_text(o, "\n");
	if (s->kernel || s->transport || e->have_init)
		an_out_text(o, "session   kernel %s, %s, protocol %u.%u%s%s\n",
			    s->kernel ? s->kernel : "?", s->transport ? s->transport : "?",
			    e->proto_major, e->wp.minor, s->backend ? ", backend " : "",
			    s->backend ? s->backend : "");
	an_out_text(o, "\n");
	if (s->dropped || s->lost)
		an_out_note(o, "the recorder dropped %llu and lost %llu records: counts are low",
			    (unsigned long long)s->dropped, (unsigned long long)s->lost);
	if (e->n_bad_time)
		an_out_note(o, "%llu exchanges have t_written before t_read and no latency",
			    (unsigned long long)e->n_bad_time);
}

const char *an_slot_name(const struct an_opstat *o)
{
	return fuse_opname(o->opcode);
}

int an_finish(struct an_out *o)
{
	if (an_out_end(o))
		return an_error("writing the output: %s", strerror(errno ? errno : EIO));
	return AN_EXIT_OK;
}
