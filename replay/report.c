/* \summary: the replay report: text on stdout, --json and --junit files. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replay_i.h"
#include "opcodes.h"
#include "format.h"

static const char *const outcome_key[RP_O_COUNT] = {
	[RP_O_MATCH] = "matched", [RP_O_DIVERGED] = "diverged", [RP_O_SKIPPED] = "skipped",
	[RP_O_TIMEOUT] = "timed_out", [RP_O_IGNORED] = "ignored",
	[RP_O_UNRECORDED] = "unrecorded", [RP_O_SENT] = "no_reply",
};

static const char *const family_name[FUSE_FAM_COUNT] = {
	[FUSE_FAM_SESSION] = "session", [FUSE_FAM_ENTRY] = "entry", [FUSE_FAM_ATTR] = "attr",
	[FUSE_FAM_FILE] = "file", [FUSE_FAM_DIR] = "dir", [FUSE_FAM_XATTR] = "xattr",
	[FUSE_FAM_LOCK] = "lock", [FUSE_FAM_NOTIFY] = "notify",
};

void rep_init(struct rp_report *r, const struct rp_opts *o)
{
	size_t max = o->max_report < 0 ? SIZE_MAX : (size_t)o->max_report;

	memset(r, 0, sizeof *r);
	r->o = o;
	r->div.max = r->skip.max = r->answers.max = max;
	r->inflight.max = SIZE_MAX;
}

void rep_item_free(struct rp_item *it)
{
	free(it->request);
	free(it->path);
	free(it->recorded);
	free(it->replayed);
	free(it->diff);
	free(it->reason);
	memset(it, 0, sizeof *it);
}

static void list_free(struct rp_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		rep_item_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

void rep_fini(struct rp_report *r)
{
	list_free(&r->div);
	list_free(&r->skip);
	list_free(&r->answers);
	list_free(&r->inflight);
	sb_free(&r->init);
	free(r->end_reason);
	free(r->session_argv);
	free(r->session_kernel);
}

int rep_slot(uint32_t opcode)
{
	return opcode < FUSE_OP_MAX ? (int)opcode : FUSE_OP_MAX;
}

void rep_count(struct rp_report *r, uint32_t opcode, int outcome, bool quiet)
{
	if (quiet) {
		r->prefix.n[outcome]++;
		return;
	}
	r->ops[rep_slot(opcode)].n[outcome]++;
	r->total.n[outcome]++;
}

void rep_add(struct rp_list *l, struct rp_item *it)
{
	size_t i;

	l->total++;
	if (!l->max) {
		rep_item_free(it);
		return;
	}
	/* replies arrive nearly in order: find the place from the end */
	for (i = l->n; i > 0 && l->v[i - 1].seq > it->seq; i--)
		;
	if (l->n == l->max) {
		if (i == l->n) {	/* later than every kept one */
			rep_item_free(it);
			return;
		}
		rep_item_free(&l->v[--l->n]);
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct rp_item *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			rep_item_free(it);
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof *l->v);
	l->v[i] = *it;
	l->n++;
}

static uint64_t sum(const struct rp_opstat *s)
{
	uint64_t n = 0;
	for (int i = 0; i < RP_O_COUNT; i++)
		n += s->n[i];
	return n;
}

static const char *slot_name(int slot)
{
	return slot < FUSE_OP_MAX ? fuse_opname((uint32_t)slot) : "other";
}

/* ---- text ---------------------------------------------------------------- */

static void text_lines(FILE *f, const char *label, const char *text)
{
	const char *p = text;
	bool first = true;

	if (!text || !*text)
		return;
	while (*p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		fprintf(f, "    %-10s %.*s\n", first ? label : "", len, p);
		first = false;
		p += len + (nl ? 1 : 0);
	}
}

static void text_item(const struct rp_report *r, FILE *f, const char *kind,
		      const struct rp_item *it)
{
	char tag[64] = "";

	if (!strcmp(kind, "DIVERGED")) {
		if (it->seq == r->first_div)
			snprintf(tag, sizeof tag, "  [first divergence]");
		else if (it->cause && it->cause != it->seq)
			snprintf(tag, sizeof tag, "  (follows from [%llu])",
				 (unsigned long long)it->cause);
	} else if (it->cause) {
		snprintf(tag, sizeof tag, "  (follows from [%llu])", (unsigned long long)it->cause);
	}
	fprintf(f, "%-9s [%llu] %s%s%s\n", kind, (unsigned long long)it->seq,
		it->request ? it->request : fuse_opname(it->opcode), it->late ? "  [late]" : "",
		tag);
	if (it->path)
		text_lines(f, "path:", it->path);
	text_lines(f, "why:", it->reason);
	text_lines(f, "recorded:", it->recorded);
	text_lines(f, "replayed:", it->replayed);
	text_lines(f, "differs:", it->diff);
}

static void text_list(const struct rp_report *r, FILE *f, const char *kind,
		      const struct rp_list *l, const char *what)
{
	for (size_t i = 0; i < l->n; i++)
		text_item(r, f, kind, &l->v[i]);
	if (l->total > l->n)
		fprintf(f, "(%llu more %s not shown; --max-report N)\n",
			(unsigned long long)(l->total - l->n), what);
}

static void text_row(FILE *f, const char *name, const struct rp_opstat *s)
{
	fprintf(f, "  %-16s %9llu %9llu %9llu %8llu %8llu %8llu %10llu %9llu\n", name,
		(unsigned long long)sum(s), (unsigned long long)s->n[RP_O_MATCH],
		(unsigned long long)s->n[RP_O_DIVERGED], (unsigned long long)s->n[RP_O_SKIPPED],
		(unsigned long long)s->n[RP_O_TIMEOUT], (unsigned long long)s->n[RP_O_IGNORED],
		(unsigned long long)s->n[RP_O_UNRECORDED], (unsigned long long)s->n[RP_O_SENT]);
}

void rep_text(const struct rp_report *r, FILE *f)
{
	const struct rp_opts *o = r->o;

	fprintf(f, "fusereplay: %s (%s, %llu exchanges)\n", o->trace,
		r->trace_format ? r->trace_format : "?", (unsigned long long)r->exchanges);
	if (r->session_argv && o->verbose)
		fprintf(f, "  recorded by: %s%s%s\n", r->session_argv,
			r->session_kernel ? " on Linux " : "",
			r->session_kernel ? r->session_kernel : "");
	if (r->target[0])
		fprintf(f, "  target: %s\n", r->target);
	if (r->init.len) {
		fprintf(f, "INIT: %d capability difference%s that matter%s:\n", r->init_major_diffs,
			r->init_major_diffs == 1 ? "" : "s", r->init_major_diffs == 1 ? "s" : "");
		fputs(sb_str(&r->init), f);
	}
	if (!o->quiet) {
		text_list(r, f, "DIVERGED", &r->div, "divergences");
		text_list(r, f, "SKIPPED", &r->skip, "skipped requests");
		text_list(r, f, o->pending ? "PENDING" : "UNRECORDED", &r->answers,
			  "answers to unrecorded requests");
	}
	if (r->inflight.n) {
		fprintf(f, "IN FLIGHT when the target %s:\n",
			r->end == RP_EXIT_TARGET ? "failed" : "stopped");
		for (size_t i = 0; i < r->inflight.n; i++)
			text_item(r, f, "INFLIGHT", &r->inflight.v[i]);
	}

	fprintf(f, "\n  %-16s %9s %9s %9s %8s %8s %8s %10s %9s\n", "opcode", "requests",
		"matched", "diverged", "skipped", "timeout", "ignored", "unrecorded",
		"no-reply");
	for (int i = 0; i < RP_OPSLOTS; i++)
		if (sum(&r->ops[i]))
			text_row(f, slot_name(i), &r->ops[i]);
	text_row(f, "total", &r->total);
	if (o->pending && sum(&r->prefix))
		fprintf(f, "  state-building prefix (--pending): %llu requests replayed quietly, "
			"%llu differed from the recording, %llu skipped\n",
			(unsigned long long)sum(&r->prefix),
			(unsigned long long)r->prefix.n[RP_O_DIVERGED],
			(unsigned long long)r->prefix.n[RP_O_SKIPPED]);
	if (r->converted)
		fprintf(f, "  %llu requests were cut to the layout the target negotiated "
			"(extensions, SETXATTR_EXT)\n", (unsigned long long)r->converted);
	if (r->duplicates)
		fprintf(f, "  %llu exchanges were recorded twice (same unique); the copies were "
			"not replayed\n", (unsigned long long)r->duplicates);
	if (r->cleanup)
		fprintf(f, "  %llu FORGET/RELEASE sent for ids the target handed out beyond the "
			"recording\n", (unsigned long long)r->cleanup);
	for (uint32_t c = 0; c < 32; c++)
		if (r->rec_notify[c] || r->got_notify[c])
			fprintf(f, "  notifications %-12s recorded %llu, from the target %llu\n",
				fuse_notify_name(c), (unsigned long long)r->rec_notify[c],
				(unsigned long long)r->got_notify[c]);
	if (r->target_protocol_errors)
		fprintf(f, "  %llu messages from the target broke the protocol (see stderr)\n",
			(unsigned long long)r->target_protocol_errors);
	if (r->elapsed > 0 && r->sent)
		fprintf(f, "  %llu requests in %.3f s: %.0f requests/s\n",
			(unsigned long long)r->sent, r->elapsed, (double)r->sent / r->elapsed);

	switch (r->end) {
	case RP_EXIT_BADTRACE:
		fprintf(f, "result: bad trace: %s (exit 2)\n", r->end_reason ? r->end_reason : "?");
		break;
	case RP_EXIT_TARGET:
		fprintf(f, "result: target %s (exit 3)\n", r->end_reason ? r->end_reason : "failed");
		break;
	case RP_EXIT_DIVERGED:
		fprintf(f, "result: %llu divergence%s in %llu requests (first: [%llu] %s), exit 1\n",
			(unsigned long long)r->total.n[RP_O_DIVERGED],
			r->total.n[RP_O_DIVERGED] == 1 ? "" : "s", (unsigned long long)sum(&r->total),
			(unsigned long long)r->first_div,
			r->div.n ? fuse_opname(r->div.v[0].opcode) : "?");
		break;
	default:
		if (o->pending)
			fprintf(f, "result: %llu pending request%s re-injected, all answered "
				"(exit 0)\n", (unsigned long long)r->answers.total,
				r->answers.total == 1 ? "" : "s");
		else
			fprintf(f, "result: same answers (%llu requests, exit 0)\n",
				(unsigned long long)sum(&r->total));
	}
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_item(struct sbuf *b, const struct rp_report *r, const struct rp_item *it)
{
	sb_printf(b, "{\"seq\": %llu, \"unique\": %llu, \"opcode\": ",
		  (unsigned long long)it->seq, (unsigned long long)it->unique);
	sb_json_str(b, fuse_opname(it->opcode));
	sb_printf(b, ", \"first\": %s, \"cause\": ", it->seq == r->first_div ? "true" : "false");
	if (it->cause)
		sb_printf(b, "%llu", (unsigned long long)it->cause);
	else
		sb_lit(b, "null");
	sb_lit(b, ", \"request\": ");
	sb_json_str(b, it->request);
	sb_lit(b, ", \"path\": ");
	sb_json_str(b, it->path);
	sb_lit(b, ", \"recorded\": ");
	sb_json_str(b, it->recorded);
	sb_lit(b, ", \"replayed\": ");
	sb_json_str(b, it->replayed);
	sb_lit(b, ", \"diff\": [");
	if (it->diff) {
		const char *p = it->diff;
		bool first = true;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			char *line = strndup(p, len);
			if (!first)
				sb_lit(b, ", ");
			sb_json_str(b, line ? line : "");
			free(line);
			first = false;
			p += len + (nl ? 1 : 0);
		}
	}
	sb_lit(b, "], \"reason\": ");
	sb_json_str(b, it->reason);
	sb_printf(b, ", \"late\": %s}", it->late ? "true" : "false");
}

static void json_list(struct sbuf *b, const struct rp_report *r, const char *name,
		      const struct rp_list *l)
{
	sb_printf(b, ",\n  \"%s\": [", name);
	for (size_t i = 0; i < l->n; i++) {
		sb_add(b, i ? ",\n    " : "\n    ", i ? 6 : 5);
		json_item(b, r, &l->v[i]);
	}
	sb_printf(b, "%s],\n  \"%s_total\": %llu", l->n ? "\n  " : "", name,
		  (unsigned long long)l->total);
}

static void json_stat(struct sbuf *b, const struct rp_opstat *s)
{
	sb_printf(b, "{\"requests\": %llu", (unsigned long long)sum(s));
	for (int i = 0; i < RP_O_COUNT; i++)
		sb_printf(b, ", \"%s\": %llu", outcome_key[i], (unsigned long long)s->n[i]);
	sb_lit(b, "}");
}

static int write_file(const char *path, const struct sbuf *b, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;

	if (!f) {
		int e = errno;	/* snprintf may change errno */
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	fputs(sb_str(b), f);
	if (f == stdout)
		return fflush(f) ? -EIO : 0;
	if (fclose(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* Writes a finished report (unless building it ran out of memory) and
 * frees it: the JSON and JUnit writers end the same way. */
static int write_report(const char *path, struct sbuf *b, char *err, size_t errlen)
{
	int ret = -ENOMEM;

	if (b->oom)
		snprintf(err, errlen, "%s: out of memory", path);
	else
		ret = write_file(path, b, err, errlen);
	sb_free(b);
	return ret;
}

static const char *result_word(int end)
{
	switch (end) {
	case RP_EXIT_SAME: return "same";
	case RP_EXIT_DIVERGED: return "diverged";
	case RP_EXIT_BADTRACE: return "bad_trace";
	case RP_EXIT_TARGET: return "target_failed";
	}
	return "?";
}

int rep_json(const struct rp_report *r, const char *path, char *err, size_t errlen)
{
	const struct rp_opts *o = r->o;
	struct sbuf b = { 0 };
	static const char *const cmp[] = { "semantic", "strict", "none" };
	static const char *const conc[] = { "serial", "recorded", "window" };
	bool first = true;

	sb_lit(&b, "{\n  \"tool\": \"fusereplay\", \"version\": ");
	sb_json_str(&b, FP_VERSION);
	sb_lit(&b, ",\n  \"trace\": ");
	sb_json_str(&b, o->trace);
	sb_lit(&b, ", \"format\": ");
	sb_json_str(&b, r->trace_format);
	sb_printf(&b, ", \"exchanges\": %llu,\n  \"target\": ", (unsigned long long)r->exchanges);
	sb_json_str(&b, r->target[0] ? r->target : NULL);
	sb_printf(&b, ",\n  \"options\": {\"compare\": \"%s\", \"strict_attrs\": %s, "
		  "\"readdir_order\": %s, \"concurrency\": \"%s\", \"window\": %d, "
		  "\"speed\": %g, \"timeout\": %g, \"pending\": %s},\n",
		  cmp[o->compare], o->strict_attrs ? "true" : "false",
		  o->readdir_order ? "true" : "false", conc[o->concurrency], o->window, o->speed,
		  o->timeout, o->pending ? "true" : "false");
	sb_printf(&b, "  \"exit\": %d, \"result\": \"%s\", \"reason\": ", r->end,
		  result_word(r->end));
	sb_json_str(&b, r->end_reason);
	sb_printf(&b, ", \"first_divergence\": ");
	if (r->first_div)
		sb_printf(&b, "%llu", (unsigned long long)r->first_div);
	else
		sb_lit(&b, "null");
	sb_printf(&b, ",\n  \"elapsed_s\": %.6f, \"sent\": %llu,\n  \"summary\": ", r->elapsed,
		  (unsigned long long)r->sent);
	json_stat(&b, &r->total);
	sb_lit(&b, ",\n  \"prefix\": ");
	json_stat(&b, &r->prefix);
	sb_lit(&b, ",\n  \"by_opcode\": {");
	for (int i = 0; i < RP_OPSLOTS; i++) {
		if (!sum(&r->ops[i]))
			continue;
		sb_add(&b, first ? "\n    " : ",\n    ", first ? 5 : 6);
		sb_json_str(&b, slot_name(i));
		sb_lit(&b, ": ");
		json_stat(&b, &r->ops[i]);
		first = false;
	}
	sb_printf(&b, "%s},\n  \"init\": {\"differences_that_matter\": %d, \"lines\": [",
		  first ? "" : "\n  ", r->init_major_diffs);
	{
		const char *p = sb_str(&r->init);
		bool f1 = true;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			char *line = strndup(p, len);
			if (!f1)
				sb_lit(&b, ", ");
			sb_json_str(&b, line ? line : "");
			free(line);
			f1 = false;
			p += len + (nl ? 1 : 0);
		}
	}
	sb_lit(&b, "]},\n  \"notifications\": {");
	first = true;
	for (uint32_t c = 0; c < 32; c++) {
		if (!r->rec_notify[c] && !r->got_notify[c])
			continue;
		sb_printf(&b, "%s\"%s\": {\"recorded\": %llu, \"target\": %llu}", first ? "" : ", ",
			  fuse_notify_name(c), (unsigned long long)r->rec_notify[c],
			  (unsigned long long)r->got_notify[c]);
		first = false;
	}
	sb_printf(&b, "}, \"cleanup_requests\": %llu, \"duplicate_records\": %llu, "
		  "\"converted_requests\": %llu", (unsigned long long)r->cleanup,
		  (unsigned long long)r->duplicates, (unsigned long long)r->converted);
	json_list(&b, r, "divergences", &r->div);
	json_list(&b, r, "skipped", &r->skip);
	json_list(&b, r, o->pending ? "pending_answers" : "unrecorded_answers", &r->answers);
	json_list(&b, r, "in_flight", &r->inflight);
	sb_lit(&b, "\n}\n");
	return write_report(path, &b, err, errlen);
}

/* ---- JUnit XML ------------------------------------------------------------- */

static void xml_attr(struct sbuf *b, const char *name, const char *val)
{
	sb_printf(b, " %s=\"", name);
	sb_xml_text(b, val);
	sb_lit(b, "\"");
}

/* An attribute whose value is printf-formatted (counts, seconds). */
static void xml_attrf(struct sbuf *b, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void xml_attrf(struct sbuf *b, const char *name, const char *fmt, ...)
{
	char val[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	xml_attr(b, name, val);
}

static void xml_item_text(struct sbuf *b, const struct rp_report *r, const struct rp_item *it)
{
	struct sbuf t = { 0 };

	sb_printf(&t, "[%llu] %s%s\n", (unsigned long long)it->seq,
		  it->request ? it->request : fuse_opname(it->opcode),
		  it->seq == r->first_div ? "  [first divergence]" : "");
	if (it->cause && it->cause != it->seq)
		sb_printf(&t, "  follows from [%llu]\n", (unsigned long long)it->cause);
	if (it->path)
		sb_printf(&t, "  path:     %s\n", it->path);
	if (it->reason)
		sb_printf(&t, "  why:      %s\n", it->reason);
	if (it->recorded)
		sb_printf(&t, "  recorded: %s\n", it->recorded);
	if (it->replayed)
		sb_printf(&t, "  replayed: %s\n", it->replayed);
	if (it->diff && *it->diff) {
		const char *p = it->diff;
		while (*p) {
			const char *nl = strchr(p, '\n');
			int len = nl ? (int)(nl - p) : (int)strlen(p);
			sb_printf(&t, "  differs:  %.*s\n", len, p);
			p += len + (nl ? 1 : 0);
		}
	}
	sb_xml_text(b, sb_str(&t));
	sb_free(&t);
}

int rep_junit(const struct rp_report *r, const char *path, char *err, size_t errlen)
{
	const struct rp_opts *o = r->o;
	struct sbuf b = { 0 };
	int tests = 0, failures = 0, errors = 0, skipped = 0;
	char host[256] = "localhost", stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gethostname(host, sizeof host - 1);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	for (int i = 0; i < RP_OPSLOTS; i++) {
		if (!sum(&r->ops[i]))
			continue;
		tests++;
		if (r->ops[i].n[RP_O_DIVERGED])
			failures++;
		else if (r->ops[i].n[RP_O_SKIPPED] == sum(&r->ops[i]))
			skipped++;
	}
	tests += 2;	/* INIT negotiation, the target itself */
	if (r->end == RP_EXIT_TARGET || r->end == RP_EXIT_BADTRACE)
		errors++;

	sb_lit(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
	xml_attr(&b, "name", "fusereplay");
	xml_attrf(&b, "tests", "%d", tests);
	xml_attrf(&b, "failures", "%d", failures);
	xml_attrf(&b, "errors", "%d", errors);
	xml_attrf(&b, "time", "%.3f", r->elapsed);
	sb_lit(&b, ">\n  <testsuite");
	{
		char name[512];
		snprintf(name, sizeof name, "fusereplay %s", o->trace);
		xml_attr(&b, "name", name);
	}
	xml_attrf(&b, "tests", "%d", tests);
	xml_attrf(&b, "failures", "%d", failures);
	xml_attrf(&b, "errors", "%d", errors);
	xml_attrf(&b, "skipped", "%d", skipped);
	xml_attrf(&b, "time", "%.3f", r->elapsed);
	xml_attr(&b, "timestamp", stamp);
	xml_attr(&b, "hostname", host);
	sb_lit(&b, ">\n    <properties>\n");
	sb_lit(&b, "      <property");
	xml_attr(&b, "name", "target");
	xml_attr(&b, "value", r->target);
	sb_lit(&b, "/>\n      <property");
	xml_attr(&b, "name", "trace_format");
	xml_attr(&b, "value", r->trace_format ? r->trace_format : "");
	sb_lit(&b, "/>\n    </properties>\n");

	/* the negotiation: informational, never a failure */
	sb_lit(&b, "    <testcase");
	xml_attr(&b, "classname", "fusereplay.session");
	xml_attr(&b, "name", "INIT negotiation");
	xml_attr(&b, "time", "0");
	if (r->init.len) {
		sb_lit(&b, ">\n      <system-out>");
		sb_xml_text(&b, sb_str(&r->init));
		sb_lit(&b, "</system-out>\n    </testcase>\n");
	} else {
		sb_lit(&b, "/>\n");
	}

	for (int i = 0; i < RP_OPSLOTS; i++) {
		const struct rp_opstat *s = &r->ops[i];
		const struct fuse_op *op = i < FUSE_OP_MAX ? fuse_op_get((uint32_t)i) : NULL;
		char cls[64], msg[256];

		if (!sum(s))
			continue;
		snprintf(cls, sizeof cls, "fusereplay.%s",
			 op ? family_name[op->family] : "other");
		sb_lit(&b, "    <testcase");
		xml_attr(&b, "classname", cls);
		xml_attr(&b, "name", slot_name(i));
		xml_attr(&b, "time", "0");
		if (s->n[RP_O_DIVERGED]) {
			snprintf(msg, sizeof msg, "%llu of %llu %s requests diverged",
				 (unsigned long long)s->n[RP_O_DIVERGED], (unsigned long long)sum(s),
				 slot_name(i));
			sb_lit(&b, ">\n      <failure");
			xml_attr(&b, "message", msg);
			xml_attr(&b, "type", "divergence");
			sb_lit(&b, ">");
			for (size_t k = 0; k < r->div.n; k++)
				if (rep_slot(r->div.v[k].opcode) == i)
					xml_item_text(&b, r, &r->div.v[k]);
			sb_lit(&b, "</failure>\n    </testcase>\n");
		} else if (s->n[RP_O_SKIPPED] == sum(s)) {
			snprintf(msg, sizeof msg, "all %llu %s requests were skipped",
				 (unsigned long long)sum(s), slot_name(i));
			sb_lit(&b, ">\n      <skipped");
			xml_attr(&b, "message", msg);
			sb_lit(&b, "/>\n    </testcase>\n");
		} else {
			sb_lit(&b, "/>\n");
		}
	}

	/* the target: crashed/hung, or the trace could not be read */
	sb_lit(&b, "    <testcase");
	xml_attr(&b, "classname", "fusereplay.target");
	xml_attr(&b, "name", "target answers every request");
	xml_attr(&b, "time", "0");
	if (r->end == RP_EXIT_TARGET || r->end == RP_EXIT_BADTRACE) {
		sb_lit(&b, ">\n      <error");
		xml_attr(&b, "message", r->end_reason ? r->end_reason : "failed");
		xml_attr(&b, "type", r->end == RP_EXIT_TARGET ? "target" : "trace");
		sb_lit(&b, ">");
		for (size_t k = 0; k < r->inflight.n; k++)
			xml_item_text(&b, r, &r->inflight.v[k]);
		sb_lit(&b, "</error>\n    </testcase>\n");
	} else {
		sb_lit(&b, "/>\n");
	}
	sb_lit(&b, "  </testsuite>\n</testsuites>\n");
	return write_report(path, &b, err, errlen);
}
