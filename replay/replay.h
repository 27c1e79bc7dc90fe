/* \summary: fusereplay: replay a recorded FUSE trace into a filesystem
 * daemon (or the built-in passthrough) and report where it answers
 * differently.  main.c parses the command line into struct rp_opts and
 * calls rp_run(); everything else lives behind it:
 *
 *   driver.c      read the trace, schedule, send, receive, time out
 *   idmap.c       recorded ids -> the target's ids (nodes, fhs), paths, refs
 *   dirstream.c   readdir cookies by position, listings compared as sets
 *   compare.c     recorded reply vs new reply, per opcode
 *   initcmp.c     INIT negotiation differences that matter
 *   report.c      text summary, --json, --junit
 *   target_*.c    where requests go (target.h)
 */
#ifndef RP_REPLAY_H
#define RP_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include "passthrough.h"
#include "trace.h"

/* Exit codes (documented in fusereplay(1)). */
#define RP_EXIT_SAME      0   /* every compared reply matched */
#define RP_EXIT_DIVERGED  1   /* at least one divergence */
#define RP_EXIT_BADTRACE  2   /* unreadable/corrupt trace, or usage */
#define RP_EXIT_TARGET    3   /* the target crashed or hung */

enum rp_compare_mode {
	RP_CMP_SEMANTIC,          /* meaningful fields (default) */
	RP_CMP_STRICT,            /* every byte but ids */
	RP_CMP_NONE,              /* only: every request gets an answer */
};

enum rp_concurrency {
	RP_CONC_SERIAL,           /* one request at a time */
	RP_CONC_RECORDED,         /* what overlapped in the recording */
	RP_CONC_WINDOW,           /* up to N, ordered per node/handle */
};

/* --tolerate REC=NEW: a recorded errno answered with another counts as a
 * match.  Positive errnos; 0 = success; -1 = any. */
struct rp_tolerance {
	int rec, got;
};

struct rp_opts {
	const char *trace;
	const char *backend;          /* --backend CMD */
	const char *backend_log;      /* --backend-log FILE (default: our stderr) */
	const char *passthrough;      /* --passthrough DIR */
	struct pt_options pt;         /* -o writeback,entry_timeout=,attr_timeout= */
	int workers;                  /* passthrough threads when concurrent (-j) */

	int compare;                  /* enum rp_compare_mode */
	bool strict_attrs;
	bool readdir_order;
	struct fp_trace_filter ignore;/* --ignore: opcodes not compared */
	bool have_ignore;
	struct rp_tolerance *tol;
	int ntol;

	int concurrency;              /* enum rp_concurrency */
	int window;                   /* cap on requests in flight */
	double speed;                 /* 0 = as fast as possible */
	double timeout;               /* seconds per request */
	bool pending;                 /* --pending */
	bool allow_truncated;         /* --allow-truncated: a pcap cut short by a
					 killed recorder ends there */

	const char *json, *junit;     /* report files */
	const char *record;           /* -w replay.db */
	const char *record_pcap;      /* --pcap replay.pcap */
	int max_report;               /* divergences/skips printed, < 0 = all */
	int verbose;
	bool quiet;                   /* summary and result line only */
	int argc;
	char **argv;
};

/* Replay per opts; prints the report on stdout (messages on stderr) and
 * writes the report files.  Returns an RP_EXIT_* code. */
int rp_run(const struct rp_opts *o);

/* Parsers shared with the tests.  Return 0 or -EINVAL with a message. */
int rp_parse_tolerate(const char *spec, struct rp_tolerance **tol, int *ntol,
		      char *err, size_t errlen);
/* "ENOENT", "enoent", "2", "0"/"OK", "*" -> errno (positive), 0, -1 */
int rp_parse_errno(const char *s, int *out);

#endif
