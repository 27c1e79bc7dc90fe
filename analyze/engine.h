/* \summary: the one streaming pass every fuseanalyze command makes over a
 * trace: read records in time order (trace/reader.h, sqlite or pcap),
 * derive each exchange's latencies, keep the path table current, and hand
 * everything to the command's consumers.  Nothing is kept per request, so
 * memory does not grow with the trace (the pcap reader itself keeps a
 * 40-byte index entry per record; sqlite streams).
 *
 * Latencies of an exchange (ns, CLOCK_MONOTONIC of the recording proxy;
 * the kernel stamps nothing, so its queueing before the proxy's read is
 * not in any trace):
 *
 *   total    = t_written - t_read   proxy read of the request -> reply
 *                                   written to /dev/fuse
 *   backend  = t_reply - t_sent     time in the filesystem: the backend
 *                                   daemon's round trip (socket hop
 *                                   included) or the built-in passthrough
 *                                   handler
 *   overhead = total - backend      the proxy's own share: dispatch before
 *                                   the filesystem plus writing the reply;
 *                                   equals total when no filesystem was
 *                                   involved (no t_sent/t_reply)
 *
 * A request without a reply that did not ask for none (FP_TRACE_F_PENDING,
 * or a pcap REQUEST whose REPLY is missing) is "pending": no latency, it is
 * what inflight lists.
 */
#ifndef AN_ENGINE_H
#define AN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include "opcodes.h"
#include "paths.h"
#include "reader.h"
#include "validate.h"

struct an_engine;

/* An exchange plus what the engine derived from it. */
struct an_req {
	const struct fp_trace_exchange *x;
	const struct fuse_op *op;   /* NULL for unknown opcodes */
	uint64_t total, backend, overhead;
	bool has_total, has_backend;
	bool pending;
	uint64_t data;              /* READ/WRITE payload bytes */
};

/* What a command plugs into the pass.  Each callback may be NULL and
 * returns 0 or -errno (message via an_engine_fail). */
struct an_consumer {
	void *arg;
	int (*exchange)(void *arg, struct an_engine *e, const struct an_req *r);
	int (*notify)(void *arg, struct an_engine *e, const struct fp_trace_notify *n);
	int (*event)(void *arg, struct an_engine *e, const struct fp_trace_event *ev);
	int (*end)(void *arg, struct an_engine *e);
};

#define AN_MAX_CONSUMERS 8

/* an_engine_open flags */
#define AN_PATHS (1u << 0)          /* keep the path table (costs decoding) */
#define AN_UNORDERED (1u << 1)      /* the consumers need neither time order nor
				       message bytes nor notify/event callbacks:
				       sqlite traces are then read with a column
				       scan (scan_sqlite.h), twice as fast */

struct an_engine {
	const char *path;
	struct fp_reader *r;
	const struct fp_trace_session *ses;
	struct fuse_wire_params wp;     /* from the session's INIT reply */
	uint32_t proto_major;
	bool have_init;
	struct fp_trace_filter filter;  /* --op */
	bool filtered;
	struct an_paths *paths;         /* with AN_PATHS */
	struct an_scan *scan;           /* with AN_UNORDERED on a sqlite trace */
	bool scan_others;               /* this scan also counts notifications/events */

	uint64_t t0;                    /* time origin: session start, else first record */
	uint64_t t_end;                 /* session end, else the last timestamp seen */
	uint64_t t_max;                 /* last timestamp seen */
	bool clean_end;                 /* the recorder closed the trace */

	/* counts over the whole trace (before --op) */
	uint64_t n_exchanges, n_notify, n_events, n_pending, n_unpaired, n_bad_time;
	uint64_t n_selected;            /* exchanges that passed --op */

	struct an_consumer c[AN_MAX_CONSUMERS];
	int nc;
	char *err;                      /* = errbuf: the engine's own, so it outlives */
	size_t errlen;                  /* whatever frame opened it */
	char errbuf[FP_TRACE_ERRBUF_SIZE];
};

/* Open a trace.  ops: an --op filter spec (trace.h syntax) or NULL.
 * Returns 0 or -errno with the reason in err.  Later errors are in e->err. */
int an_engine_open(struct an_engine *e, const char *path, const char *ops, unsigned flags,
		   char *err, size_t errlen);

void an_engine_add(struct an_engine *e, const struct an_consumer *c);

/* Split an AN_UNORDERED sqlite pass into nparts engines over rowid ranges:
 * each of nparts engines opened on the same trace calls this with its
 * part (0 .. nparts-1) before an_engine_run; part 0 also counts the
 * notifications and events.  -ENOTSUP if this engine has no column scan
 * (pcap, or not AN_UNORDERED). */
int an_engine_partition(struct an_engine *e, unsigned part, unsigned nparts);

/* The rowid range of a column-scanned trace; -ENOTSUP without a scan. */
int an_scan_rowids_of(struct an_engine *e, int64_t *lo, int64_t *hi);

/* Fold a partition's counters and time range into e (after both ran). */
void an_engine_absorb(struct an_engine *e, const struct an_engine *part);

/* The pass.  Returns 0 or -errno with err (corrupt record, ENOMEM, a
 * consumer's failure). */
int an_engine_run(struct an_engine *e);

void an_engine_close(struct an_engine *e);

/* For consumers: record an error message, return ret. */
int an_engine_fail(struct an_engine *e, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Seconds since the time origin. */
static inline double an_rel_s(const struct an_engine *e, uint64_t t)
{
	return t >= e->t0 ? (double)(t - e->t0) / 1e9 : -(double)(e->t0 - t) / 1e9;
}

#endif
