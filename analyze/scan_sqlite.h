/* \summary: a fast, unordered scan of a sqlite trace's exchanges for
 * commands that need neither time order nor message bytes (summary, diff).
 *
 * The general reader (trace/reader.h) returns exchanges in t_read order
 * with their bytes, through the t_read index and a row lookup each; this
 * scan walks the requests table in storage order and selects only the
 * columns statistics use, about twice as fast.  Records come back with
 * opcode, times, error, flags and wire lengths only: req/reply NULL,
 * unique, nodeid, uid, gid, pid 0, worker -1.  The trace must already have been opened (and so checked)
 * by fp_reader_open().
 */
#ifndef AN_SCAN_SQLITE_H
#define AN_SCAN_SQLITE_H

#include <stddef.h>
#include <stdint.h>
#include "trace.h"

struct an_scan;

/* 0 or -errno with err. */
int an_scan_open(struct an_scan **sp, const char *path, char *err, size_t errlen);

/* Only rows with lo <= rowid < hi (a partition for a parallel scan). */
int an_scan_open_range(struct an_scan **sp, const char *path, int64_t lo, int64_t hi,
		       char *err, size_t errlen);

/* The requests table's rowid range [*lo, *hi) (empty table: lo == hi). */
int an_scan_rowids(struct an_scan *s, int64_t *lo, int64_t *hi, char *err, size_t errlen);
/* 1 = *x filled, 0 = end, -errno = error (err). */
int an_scan_next(struct an_scan *s, struct fp_trace_exchange *x, char *err, size_t errlen);
/* Counts and last time of notifications and events. */
int an_scan_others(struct an_scan *s, uint64_t *nnotify, uint64_t *nevents, uint64_t *t_max,
		   char *err, size_t errlen);
void an_scan_close(struct an_scan *s);

#endif
