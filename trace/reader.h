/* \summary: reading traces back (sqlite or pcap, chosen by magic), in time
 * order, for fusereplay, fuseanalyze and conversion.
 *
 *   struct fp_reader *r;
 *   struct fp_trace_rec rec;
 *   char err[FP_TRACE_ERRBUF_SIZE];
 *   int ret;
 *
 *   if (fp_reader_open(&r, "trace.db", 0, err, sizeof err)) { puts(err); ... }
 *   while ((ret = fp_reader_next(r, &rec, err, sizeof err)) > 0)
 *           ... rec.kind: FP_REC_EXCHANGE (rec.x), FP_REC_NOTIFY (rec.n),
 *               FP_REC_EVENT (rec.e) ...
 *   if (ret < 0) puts(err);
 *   fp_reader_close(r);
 *
 * Order: exchanges by t_read, notifications and events by t, merged; ties
 * keep file order.  Pointers in a record (bytes, comm, text) stay valid
 * until the next fp_reader_next() or fp_reader_close().  In pcap traces a
 * request and its reply are two records, paired by unique.
 *
 * Corrupt or truncated input is an error with a message naming the file,
 * the record and what is wrong; it never crashes the reader.  pcap traces
 * are checked completely at open, sqlite traces row by row.
 */
#ifndef FP_READER_H
#define FP_READER_H

#include <stddef.h>
#include "trace.h"

#define FP_TRACE_ERRBUF_SIZE 512

/* fp_reader_open flags */
#define FP_READ_TRUNCATED_OK (1u << 0)  /* pcap: a final record cut short (a
					   killed writer) ends the trace instead
					   of failing the open */

struct fp_reader;

/* Returns 0, or -errno with a message: unknown format, not a fuseproxy
 * trace, unsupported version, corrupt/truncated record, I/O error. */
int fp_reader_open(struct fp_reader **rp, const char *path, unsigned flags,
		   char *err, size_t errlen);

/* "sqlite" or "pcap". */
const char *fp_reader_format(const struct fp_reader *r);

/* The session description (strings owned by the reader). */
const struct fp_trace_session *fp_reader_session(const struct fp_reader *r);

/* Next record: 1 = *rec filled, 0 = end of trace, -errno = error (err). */
int fp_reader_next(struct fp_reader *r, struct fp_trace_rec *rec, char *err, size_t errlen);

void fp_reader_close(struct fp_reader *r);

/* Format of a file by its magic: "sqlite", "pcap", or NULL with the
 * reason in err. */
const char *fp_trace_detect(const char *path, char *err, size_t errlen);

/* Build the sqlite indexes a trace gets at a clean close (doc/trace-format.md
 * 4.3) if they are missing, e.g. after the recorder was killed.  Needs
 * write access.  Returns 0 or -errno with err. */
int fp_trace_db_index(const char *path, char *err, size_t errlen);

/* ---- Conversion (fuseanalyze convert) --------------------------------------- */

enum fp_trace_format { FP_FMT_AUTO = 0, FP_FMT_SQLITE, FP_FMT_PCAP };

/* Read `in` (any format) and write every record to `out` in `fmt`
 * (FP_FMT_AUTO: by out's extension, .pcap -> pcap, else sqlite).  The
 * session description travels along.  Returns 0 or -errno with err. */
int fp_trace_convert(const char *in, const char *out, enum fp_trace_format fmt,
		     char *err, size_t errlen);

#endif
