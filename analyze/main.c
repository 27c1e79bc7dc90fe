/* \summary: fuseanalyze: answers from fuseproxy traces.  One commands[]
 * table (like git's) names each subcommand, its options and its help. */
#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"

#define LATENCY_HELP \
"latency columns (ns in --json/--csv), from the recording proxy's clock:\n" \
"  total     t_written - t_read: the proxy read the request from /dev/fuse ->\n" \
"            it wrote the reply.  Time the request queued inside the kernel\n" \
"            before the read is not in any trace: the kernel stamps nothing.\n" \
"  backend   t_reply - t_sent: time in the filesystem, i.e. the backend\n" \
"            daemon's round trip (socket hop included) or the built-in\n" \
"            passthrough handler.\n" \
"  overhead  total - backend: the proxy's own share (dispatch before the\n" \
"            filesystem plus writing the reply); equals total for requests\n" \
"            that never reached a filesystem.\n" \
"quantiles (p50 .. p99.9) are nearest-rank, from log-linear histograms: each\n" \
"is within 0.4% of the exact value; count, min, max and mean are exact.\n"

static const struct an_cmd commands[] = {
	{ "summary", cmd_summary, O_FORMAT | O_OPS, 1, 1, "TRACE",
	  "Per opcode: count, errors, pending, data bytes, latency quantiles (total,\n"
	  "backend, overhead), then errors by errno.\n\n" LATENCY_HELP },
	{ "top", cmd_top, O_FORMAT | O_OPS | O_N | O_BY, 1, 1, "TRACE [--by ops|bytes|time|errors] [-n N]",
	  "The hottest paths: requests are counted against the node they address\n"
	  "(in_header.nodeid; LOOKUP, CREATE, MKDIR, UNLINK... address the parent\n"
	  "directory), nodes are named from the trace's entry history and grouped\n"
	  "by path.  --by ops (default), bytes (READ/WRITE data), time (sum of\n"
	  "total latency) or errors.  -n rows (default 20).\n" },
	{ "slow", cmd_slow, O_FORMAT | O_OPS | O_N, 1, 1, "TRACE [-n N]",
	  "The N slowest requests by total latency (default 20), each with its\n"
	  "time, pid/command, path and the decoded request and reply.\n\n" LATENCY_HELP },
	{ "inflight", cmd_inflight, O_FORMAT | O_OPS, 1, 1, "TRACE",
	  "Requests without a reply at the end of the trace (what hung, or what\n"
	  "was in flight when the recording stopped), oldest first, with their\n"
	  "age at the end of the trace and where they waited: 'filesystem' (sent,\n"
	  "no reply), 'proxy' (never sent on), 'reply' (answered, never written).\n" },
	{ "timeline", cmd_timeline, O_FORMAT | O_OPS | O_BUCKET, 1, 1, "TRACE [--bucket DUR]",
	  "Per time bucket (default 1s; DUR like 100ms, 1s, 500us): requests/s,\n"
	  "errors/s, data bytes/s, in flight at the bucket's end and at most, and\n"
	  "p50/p99 total latency of the requests that arrived in it.  Streams:\n"
	  "rows are printed as the trace is read.\n" },
	{ "report", cmd_report, O_OPS | O_OUTPUT | O_TITLE, 1, 1, "TRACE -o FILE.html [--title TEXT]",
	  "One self-contained HTML page (inline SVG and CSS, nothing fetched):\n"
	  "session facts, summary table, per-opcode latency histograms, throughput\n"
	  "and in-flight over time, errors, top paths, slow and unanswered requests.\n" },
	{ "export", cmd_export, O_OPS | O_PERFETTO, 1, 1, "TRACE --perfetto FILE.json",
	  "Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing: one\n"
	  "complete event per request on a track per worker (a worker serving\n"
	  "requests concurrently gets lanes), the backend's part as a nested slice,\n"
	  "an in-flight counter, notifications and session events as instants.\n" },
	{ "convert", cmd_convert, O_TO, 2, 2, "IN OUT [--to sqlite|pcap]",
	  "Convert a trace between sqlite and pcap (by OUT's extension: .pcap is\n"
	  "pcap, anything else sqlite; --to overrides).  Every record and the\n"
	  "session description are kept.\n" },
	{ "diff", cmd_diff, O_FORMAT | O_OPS | O_REGRESSION, 2, 2,
	  "BASE NEW [--max-regression PCT] [--min-count N]\n"
	  "[--min-latency-delta DUR] [--min-error-delta PP]",
	  "Compare two traces per opcode: count, error rate, p50 and p99 total\n"
	  "latency, with changes, then a verdict.  An opcode regressed when, with\n"
	  "at least --min-count requests (default 20) in both traces:\n"
	  "  its p99 grew by more than --max-regression (default 10%) and by more\n"
	  "  than --min-latency-delta (default 20us, against clock noise), or\n"
	  "  its error rate grew by more than --max-regression relative and by\n"
	  "  more than --min-error-delta percentage points (default 0.1).\n"
	  "Exit status 1 names the opcodes that regressed; 0 if none did.\n" },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* A synopsis whose continuation lines line up under its first word. */
static void synopsis(FILE *f, int indent, const char *s)
{
	for (; *s; s++) {
		fputc(*s, f);
		if (*s == '\n')
			fprintf(f, "%*s", indent, "");
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: fuseanalyze COMMAND [options] TRACE...\n\n"
		"Answers from fuseproxy traces (sqlite -w or pcap --pcap, told apart by\n"
		"their content).\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		fprintf(f, "  %-9s ", commands[i].name);
		synopsis(f, 12, commands[i].synopsis);
		fputc('\n', f);
	}
	fprintf(f, "\n"
		"options of most commands:\n"
		"  --json, --csv     machine-readable output instead of aligned tables\n"
		"  --op LIST         only these opcodes: 'read,write' or '!forget,!getattr'\n"
		"  -h, --help        help (fuseanalyze COMMAND --help: the command's)\n"
		"  -V, --version\n\n");
	fputs(LATENCY_HELP, f);
	fprintf(f, "\n"
		"exit status: 0 ok, 1 diff found a regression, 2 usage error or a trace\n"
		"that cannot be read.  See fuseanalyze(1).\n");
}

static void command_help(const struct an_cmd *c)
{
	printf("usage: fuseanalyze %s ", c->name);
	synopsis(stdout, (int)strlen(c->name) + 20, c->synopsis);
	printf("\n\n%s", c->help);
	if (c->opts & O_FORMAT)
		printf("\n  --json, --csv     machine-readable output\n");
	if (c->opts & O_OPS)
		printf("  --op LIST         only these opcodes ('read,write', '!forget')\n");
}

int an_error(const char *fmt, ...)
{
	va_list ap;

	fputs("fuseanalyze: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return AN_EXIT_ERROR;
}

static int usage_error(const struct an_cmd *c, const char *fmt, ...)
{
	va_list ap;

	fputs("fuseanalyze: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'fuseanalyze %s%s--help' for more information.\n",
		c ? c->name : "", c ? " " : "");
	return AN_EXIT_ERROR;
}

enum {
	L_JSON = 256, L_CSV, L_OP, L_BY, L_BUCKET, L_PERFETTO, L_MAXREG, L_MINCOUNT,
	L_MINLAT, L_MINERR, L_TO, L_TITLE,
};

static const struct option longopts[] = {
	{ "json", no_argument, NULL, L_JSON },
	{ "csv", no_argument, NULL, L_CSV },
	{ "op", required_argument, NULL, L_OP },
	{ "by", required_argument, NULL, L_BY },
	{ "bucket", required_argument, NULL, L_BUCKET },
	{ "output", required_argument, NULL, 'o' },
	{ "perfetto", required_argument, NULL, L_PERFETTO },
	{ "max-regression", required_argument, NULL, L_MAXREG },
	{ "min-count", required_argument, NULL, L_MINCOUNT },
	{ "min-latency-delta", required_argument, NULL, L_MINLAT },
	{ "min-error-delta", required_argument, NULL, L_MINERR },
	{ "to", required_argument, NULL, L_TO },
	{ "title", required_argument, NULL, L_TITLE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Which O_* an option belongs to. */
static unsigned option_group(int ch)
{
	switch (ch) {
	case L_JSON: case L_CSV: return O_FORMAT;
	case L_OP: return O_OPS;
	case 'n': return O_N;
	case L_BY: return O_BY;
	case L_BUCKET: return O_BUCKET;
	case 'o': return O_OUTPUT;
	case L_PERFETTO: return O_PERFETTO;
	case L_MAXREG: case L_MINCOUNT: case L_MINLAT: case L_MINERR: return O_REGRESSION;
	case L_TO: return O_TO;
	case L_TITLE: return O_TITLE;
	default: return 0;
	}
}

static int parse_percent(const char *s, double *v)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || d < 0 || (*end && strcmp(end, "%")))
		return -EINVAL;
	*v = d;
	return 0;
}

static int parse_long(const char *s, long *v)
{
	char *end;
	long l;

	errno = 0;
	l = strtol(s, &end, 10);
	if (errno || end == s || *end || l < 0)
		return -EINVAL;
	*v = l;
	return 0;
}

int an_parse_duration(const char *s, uint64_t *ns)
{
	static const struct { const char *unit; double mul; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "", 1e9 },
		{ "m", 60e9 }, { "min", 60e9 },
	};
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || d < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (!strcmp(end, units[i].unit)) {
			if (d * units[i].mul > 1e19)
				return -EINVAL;
			*ns = (uint64_t)(d * units[i].mul + 0.5);
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_args(const struct an_cmd *c, int argc, char **argv, struct an_args *a)
{
	int ch;

	memset(a, 0, sizeof *a);
	a->fmt = AN_HUMAN;
	a->n = -1;
	a->max_regression = 0.10;
	a->min_error_delta = 0.1;
	a->min_latency_delta = 20000;
	a->min_count = 20;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "hVn:o:", longopts, NULL)) != -1) {
		unsigned g = option_group(ch);
		long l;

		if (g && !(c->opts & g))
			return usage_error(c, "%s does not take option '%s'", c->name,
					   argv[optind - 1]);
		switch (ch) {
		case 'h':
			command_help(c);
			exit(AN_EXIT_OK);
		case 'V':
			printf("fuseanalyze %s\n", FP_VERSION);
			exit(AN_EXIT_OK);
		case L_JSON: a->fmt = AN_JSON; break;
		case L_CSV: a->fmt = AN_CSV; break;
		case L_OP: a->ops = optarg; break;
		case 'n':
			if (parse_long(optarg, &a->n) || !a->n)
				return usage_error(c, "-n wants a positive count, not '%s'", optarg);
			break;
		case L_BY: a->by = optarg; break;
		case L_BUCKET:
			if (an_parse_duration(optarg, &a->bucket_ns) || !a->bucket_ns)
				return usage_error(c, "--bucket wants a duration like 100ms, not '%s'",
						   optarg);
			break;
		case 'o': a->output = optarg; break;
		case L_PERFETTO: a->perfetto = optarg; break;
		case L_MAXREG:
			if (parse_percent(optarg, &a->max_regression))
				return usage_error(c, "--max-regression wants a percentage like 10%%, "
						   "not '%s'", optarg);
			a->max_regression /= 100;
			break;
		case L_MINCOUNT:
			if (parse_long(optarg, &l))
				return usage_error(c, "--min-count wants a count, not '%s'", optarg);
			a->min_count = l;
			break;
		case L_MINLAT:
			if (an_parse_duration(optarg, &a->min_latency_delta))
				return usage_error(c, "--min-latency-delta wants a duration, not '%s'",
						   optarg);
			break;
		case L_MINERR:
			if (parse_percent(optarg, &a->min_error_delta))
				return usage_error(c, "--min-error-delta wants percentage points, "
						   "not '%s'", optarg);
			break;
		case L_TO: a->to = optarg; break;
		case L_TITLE: a->title = optarg; break;
		default:
			return usage_error(c, "bad option");
		}
	}
	a->pos = argv + optind;
	a->npos = argc - optind;
	if (a->npos < c->min_pos || a->npos > c->max_pos)
		return usage_error(c, "usage: fuseanalyze %s %.*s", c->name,
				   (int)strcspn(c->synopsis, "\n"), c->synopsis);
	return 0;
}

int main(int argc, char **argv)
{
	const struct an_cmd *c = NULL;
	struct an_args a;

	/* sqlite's allocation statistics take a global mutex on every malloc,
	 * which the parallel scan (pass.c) would fight over; nothing here
	 * reads them.  Must come before sqlite initialises. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

	if (argc < 2) {
		usage(stderr);
		return AN_EXIT_ERROR;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return AN_EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("fuseanalyze %s\n", FP_VERSION);
		return AN_EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			c = &commands[i];
	if (!c)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	if (parse_args(c, argc - 1, argv + 1, &a))
		return AN_EXIT_ERROR;
	return c->run(&a);
}
