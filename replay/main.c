/* \summary: fusereplay's command line (see doc/fusereplay.1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "replay.h"
#include "fuse_kernel.h"
#include "names.h"

static const char usage_text[] =
"Usage: fusereplay [options] TRACE --backend CMD\n"
"       fusereplay [options] TRACE --passthrough DIR\n"
"Replay a recorded FUSE trace (sqlite or pcap, from fuseproxy -w/--pcap) into a\n"
"filesystem daemon or the built-in passthrough, and report where it answers\n"
"differently.  No kernel, mount or root is needed.\n"
"\n"
"Target:\n"
"  --backend CMD          start CMD with a FUSE device at /dev/fd/N (appended, or\n"
"                         where CMD says {}), as fuseproxy --backend does\n"
"  --backend-log FILE     append the backend's stdout/stderr to FILE\n"
"  --passthrough DIR      serve DIR with the built-in passthrough, in-process\n"
"  -o OPT[,OPT]           passthrough options: writeback, entry_timeout=S,\n"
"                         attr_timeout=S (as given to the recording)\n"
"  -j, --threads N        passthrough worker threads when replaying\n"
"                         concurrently (default 2)\n"
"Comparison:\n"
"  --compare MODE         semantic (default): errno, reply length, meaningful\n"
"                         attributes, data, listings; strict: every field but\n"
"                         ids; none: only that every request is answered\n"
"  --strict-attrs         also compare ino, blocks, times, attr flags, timeouts\n"
"  --readdir-order        compare directory listings in order, not as sets\n"
"  --ignore OP[,OP]       send these opcodes but do not compare their replies\n"
"  --tolerate REC=NEW[,..] a recorded errno answered with NEW is a match\n"
"                         (names or numbers; 0 = success; * = any)\n"
"Scheduling:\n"
"  --concurrency MODE     serial (default): one request at a time; recorded:\n"
"                         keep together what overlapped in the recording; N: up\n"
"                         to N in flight, ordered per node and handle\n"
"  --speed max|F          max (default): no pauses; F: the recording's pacing\n"
"                         F times faster (1 = as recorded)\n"
"  --timeout S            a request unanswered for S seconds (plus what it took\n"
"                         when recorded) means the target hung (default 10)\n"
"  --pending              replay the trace quietly to rebuild the state, then\n"
"                         re-inject the requests it left unanswered and report\n"
"                         their answers\n"
"  --allow-truncated      accept a pcap trace whose last record was cut short\n"
"                         (a recorder killed mid-write); it ends there\n"
"Output:\n"
"  --json FILE            the report as JSON ('-' = stdout)\n"
"  --junit FILE           the report as JUnit XML ('-' = stdout)\n"
"  --max-report N         divergences and skips listed (default 20, 'all')\n"
"  -w FILE                record the replay itself as an sqlite trace\n"
"  --pcap FILE            ... or as a pcap trace\n"
"  -q, --quiet            summary and result only\n"
"  -v, --verbose          more detail (all capability differences, target exit)\n"
"  -V, --version ; -h, --help\n"
"\n"
"Exit status: 0 same answers, 1 divergences, 2 bad trace or usage,\n"
"3 the target crashed or hung (the requests in flight are named).\n";

enum {
	OPT_BACKEND = 256, OPT_BACKEND_LOG, OPT_PASSTHROUGH, OPT_COMPARE, OPT_STRICT_ATTRS,
	OPT_READDIR_ORDER, OPT_IGNORE, OPT_TOLERATE, OPT_CONCURRENCY, OPT_SPEED,
	OPT_TIMEOUT, OPT_PENDING, OPT_ALLOW_TRUNCATED, OPT_JSON, OPT_JUNIT, OPT_MAX_REPORT, OPT_PCAP,
};

static const struct option longopts[] = {
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "backend-log", required_argument, NULL, OPT_BACKEND_LOG },
	{ "passthrough", required_argument, NULL, OPT_PASSTHROUGH },
	{ "threads", required_argument, NULL, 'j' },
	{ "compare", required_argument, NULL, OPT_COMPARE },
	{ "strict-attrs", no_argument, NULL, OPT_STRICT_ATTRS },
	{ "readdir-order", no_argument, NULL, OPT_READDIR_ORDER },
	{ "ignore", required_argument, NULL, OPT_IGNORE },
	{ "tolerate", required_argument, NULL, OPT_TOLERATE },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "speed", required_argument, NULL, OPT_SPEED },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "pending", no_argument, NULL, OPT_PENDING },
	{ "allow-truncated", no_argument, NULL, OPT_ALLOW_TRUNCATED },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "junit", required_argument, NULL, OPT_JUNIT },
	{ "max-report", required_argument, NULL, OPT_MAX_REPORT },
	{ "pcap", required_argument, NULL, OPT_PCAP },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage_error(const char *fmt, const char *arg) __attribute__((noreturn));
static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "fusereplay: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'fusereplay --help' for more information.\n");
	exit(RP_EXIT_BADTRACE);
}

static double parse_num(const char *opt, const char *s, double min)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || v < min || v != v)
		usage_error("bad number for %s", opt);
	return v;
}

static void parse_o(struct rp_opts *o, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	if (!copy)
		exit(RP_EXIT_BADTRACE);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "writeback"))
			o->pt.writeback = 1;
		else if (!strncmp(tok, "entry_timeout=", 14))
			o->pt.entry_timeout = parse_num("-o entry_timeout", tok + 14, 0);
		else if (!strncmp(tok, "attr_timeout=", 13))
			o->pt.attr_timeout = parse_num("-o attr_timeout", tok + 13, 0);
		else
			usage_error("unknown -o option '%s'", tok);
	}
	free(copy);
}

int main(int argc, char **argv)
{
	struct rp_opts o;
	char err[256];
	int c;

	memset(&o, 0, sizeof o);
	o.compare = RP_CMP_SEMANTIC;
	o.concurrency = RP_CONC_SERIAL;
	o.timeout = 10;
	o.max_report = 20;
	o.workers = 2;
	o.pt.entry_timeout = -1;
	o.pt.attr_timeout = -1;
	o.argc = argc;
	o.argv = argv;

	while ((c = getopt_long(argc, argv, "o:j:w:r:qvVh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BACKEND: o.backend = optarg; break;
		case OPT_BACKEND_LOG: o.backend_log = optarg; break;
		case OPT_PASSTHROUGH: o.passthrough = optarg; break;
		case 'o': parse_o(&o, optarg); break;
		case 'j': o.workers = (int)parse_num("--threads", optarg, 1); break;
		case OPT_COMPARE:
			if (!strcmp(optarg, "semantic"))
				o.compare = RP_CMP_SEMANTIC;
			else if (!strcmp(optarg, "strict"))
				o.compare = RP_CMP_STRICT;
			else if (!strcmp(optarg, "none"))
				o.compare = RP_CMP_NONE;
			else
				usage_error("--compare takes semantic, strict or none, not '%s'", optarg);
			break;
		case OPT_STRICT_ATTRS: o.strict_attrs = true; break;
		case OPT_READDIR_ORDER: o.readdir_order = true; break;
		case OPT_IGNORE:
			/* the recorder's opcode filter syntax: names or numbers */
			if (!optarg[0] || fp_trace_filter_parse(optarg, &o.ignore, err, sizeof err) < 0)
				usage_error("--ignore: %s", optarg[0] ? err : "empty list");
			o.have_ignore = true;
			break;
		case OPT_TOLERATE:
			if (rp_parse_tolerate(optarg, &o.tol, &o.ntol, err, sizeof err) < 0)
				usage_error("%s", err);
			break;
		case OPT_CONCURRENCY:
			if (!strcmp(optarg, "serial")) {
				o.concurrency = RP_CONC_SERIAL;
			} else if (!strcmp(optarg, "recorded")) {
				o.concurrency = RP_CONC_RECORDED;
			} else {
				o.concurrency = RP_CONC_WINDOW;
				o.window = (int)parse_num("--concurrency", optarg, 1);
				if (o.window == 1)
					o.concurrency = RP_CONC_SERIAL;
			}
			break;
		case OPT_SPEED:
			o.speed = !strcmp(optarg, "max") ? 0 : parse_num("--speed", optarg, 1e-6);
			break;
		case OPT_TIMEOUT: o.timeout = parse_num("--timeout", optarg, 0.001); break;
		case OPT_PENDING: o.pending = true; break;
		case OPT_ALLOW_TRUNCATED: o.allow_truncated = true; break;
		case OPT_JSON: o.json = optarg; break;
		case OPT_JUNIT: o.junit = optarg; break;
		case OPT_MAX_REPORT:
			o.max_report = !strcmp(optarg, "all") ? -1
				       : (int)parse_num("--max-report", optarg, 0);
			break;
		case 'w': o.record = optarg; break;
		case OPT_PCAP: o.record_pcap = optarg; break;
		case 'r': o.trace = optarg; break;
		case 'q': o.quiet = true; break;
		case 'v': o.verbose++; break;
		case 'V':
			printf("fusereplay %s (FUSE protocol %u.%u)\n", FP_VERSION,
			       FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION);
			return 0;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'fusereplay --help' for more information.\n");
			return RP_EXIT_BADTRACE;
		}
	}
	if (!o.trace && optind < argc)
		o.trace = argv[optind++];
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o.trace)
		usage_error("no trace given%s", "");
	if (!o.backend && !o.passthrough)
		usage_error("no target: use --backend CMD or --passthrough DIR%s", "");
	if (o.backend && o.passthrough)
		usage_error("--backend and --passthrough exclude each other%s", "");
	if (o.backend && (o.pt.writeback || o.pt.entry_timeout >= 0 || o.pt.attr_timeout >= 0))
		usage_error("-o options are for --passthrough%s", "");
	if (o.json && o.junit && !strcmp(o.json, "-") && !strcmp(o.junit, "-"))
		usage_error("--json and --junit cannot both go to stdout%s", "");
	o.pt.source = o.passthrough;
	c = rp_run(&o);
	free(o.tol);
	return c;
}
