/* \summary: what fuseanalyze's subcommands share: parsed arguments, the
 * command table entry, and helpers for opening traces and output. */
#ifndef AN_CMD_H
#define AN_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include "engine.h"
#include "stats.h"
#include "table.h"

/* Exit status: 0 fine, 1 diff found a regression, 2 usage error or a trace
 * that cannot be read (missing, empty, corrupt) or any other failure. */
#define AN_EXIT_OK 0
#define AN_EXIT_REGRESSION 1
#define AN_EXIT_ERROR 2

/* Options a command accepts (struct an_cmd.opts). */
enum {
	O_FORMAT = 1u << 0,         /* --json, --csv */
	O_OPS = 1u << 1,            /* --op LIST */
	O_N = 1u << 2,              /* -n N */
	O_BY = 1u << 3,             /* --by KEY */
	O_BUCKET = 1u << 4,         /* --bucket DUR */
	O_OUTPUT = 1u << 5,         /* -o FILE */
	O_PERFETTO = 1u << 6,       /* --perfetto FILE */
	O_REGRESSION = 1u << 7,     /* --max-regression, --min-count, ... */
	O_TO = 1u << 8,             /* --to FORMAT */
	O_TITLE = 1u << 9,          /* --title TEXT */
};

struct an_args {
	enum an_format fmt;
	const char *ops;
	long n;                     /* -1 = command default */
	const char *by;
	uint64_t bucket_ns;         /* 0 = command default */
	const char *output;
	const char *perfetto;
	const char *to;
	const char *title;
	double max_regression;      /* fraction: 0.10 for 10% */
	double min_error_delta;     /* percentage points */
	uint64_t min_latency_delta; /* ns */
	long min_count;
	char **pos;                 /* positional arguments (traces) */
	int npos;
};

struct an_cmd {
	const char *name;
	int (*run)(const struct an_args *a);
	unsigned opts;
	int min_pos, max_pos;
	const char *synopsis;       /* after "fuseanalyze NAME " */
	const char *help;           /* what it prints, and its options */
};

int cmd_summary(const struct an_args *a);
int cmd_top(const struct an_args *a);
int cmd_slow(const struct an_args *a);
int cmd_inflight(const struct an_args *a);
int cmd_timeline(const struct an_args *a);
int cmd_report(const struct an_args *a);
int cmd_export(const struct an_args *a);
int cmd_convert(const struct an_args *a);
int cmd_diff(const struct an_args *a);

/* "fuseanalyze: MSG" on stderr; returns AN_EXIT_ERROR. */
int an_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open a trace for a command (prints the error). */
int an_open(struct an_engine *e, const char *path, const struct an_args *a, unsigned flags);

/* Human heading and JSON members that describe the trace. */
void an_out_trace(struct an_out *o, const struct an_engine *e);

/* Wall-clock text of a monotonic timestamp ("2024-05-01 12:00:03.123"),
 * or seconds since the start when the session has no wall time. */
void an_fmt_when(char *buf, size_t n, const struct an_engine *e, uint64_t t);

/* The opcode's name for a stats slot. */
const char *an_slot_name(const struct an_opstat *o);

/* Exit status for a finished output. */
int an_finish(struct an_out *o);

/* The summary's two tables (per opcode, errors by errno); -ENOMEM. */
int an_summary_tables(const struct an_stats *s, struct an_table **ops, struct an_table **errs);

/* Parse "100ms", "1s", "250us", "5000ns", "2" (seconds). 0 or -EINVAL. */
int an_parse_duration(const char *s, uint64_t *ns);

#endif
