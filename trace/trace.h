/* \summary: recording FUSE traffic to sqlite and pcap, off the hot path.
 *
 * The engine's worker threads hand each finished exchange, notification
 * and event to fp_trace_*(); those copy the record (bytes cut to the
 * snaplen) into a bounded lock-free ring owned by the calling worker and
 * return.  One writer thread drains every ring and feeds the sinks
 * (sqlite_writer.c, pcap_writer.c) in large batches.
 *
 *   worker 0 --ring 0--\
 *   worker 1 --ring 1---+--> writer thread --> sqlite (WAL, batched txns)
 *   others  --shared ring/                 \-> pcap (LINKTYPE_USER0)
 *              (mutex)
 *
 * Hot-path contract (fp_trace_exchange/fp_trace_notify with a worker id in
 * [0, nworkers)): one table lookup, one bounded memcpy into the ring and
 * one atomic store.  No malloc, no lock, no syscall — except when the ring
 * is full under FP_TRACE_BLOCK, where the caller sleeps until the writer
 * frees space, and when a record takes the ring past half full while the
 * writer naps, where the caller wakes it (one futex wake per crossing).
 * Each worker id must be used by one thread at a time (its ring has a
 * single producer).  Any other id (e.g. -1) goes through the
 * shared, mutex-protected ring: for rare records from other threads.
 *
 * Formats: doc/trace-format.md.  Reading back: reader.h.
 *
 * Use from the engine:
 *
 *   struct fp_trace_opts o = { .db_path = "trace.db", .pcap_path = NULL,
 *                              .nworkers = nthreads, .snaplen = FP_TRACE_SNAPLEN_ALL,
 *                              .filter = filter_arg, .argc = argc, .argv = argv,
 *                              .mountpoint = mnt, .transport = "fusedev" };
 *   if (fp_trace_open(&t, &o, err, sizeof err)) -> print err, exit 1
 *
 *   worker w, after writing the reply (or deciding there is none):
 *     struct fp_trace_exchange x = {
 *             FP_TRACE_IDS(in), .worker = w,
 *             .t_read = req->t_read, .t_sent = .., .t_reply = .., .t_written = now,
 *             .error = err, .flags = .., .req = in, .req_len = in->len,
 *             .reply = out_hdr, .reply_len = out_len };
 *     fp_trace_exchange(t, w, &x);
 *   notifications: fp_trace_notify(t, w, FP_DIR_PROXY_TO_KERNEL, msg, len, now);
 *   lifecycle:     fp_trace_event(t, FP_EV_BACKEND_EXIT, "backend exited: %d", st);
 *   at shutdown, after the workers stopped: fp_trace_pending() for each
 *   request still in flight, then fp_trace_close(t, &stats, err, n) and
 *   print stats.dropped / stats.lost if not 0.
 */
#ifndef FP_TRACE_H
#define FP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Records ------------------------------------------------------------ */

/* fp_trace_exchange.flags (also stored in both formats) */
#define FP_TRACE_F_INTERRUPTED (1u << 0) /* an INTERRUPT named this request */
#define FP_TRACE_F_RESENT      (1u << 1) /* the kernel resent it (NOTIFY_RESEND) */
#define FP_TRACE_F_NOREPLY     (1u << 2) /* no reply was sent: the op takes none
					    (FORGET, BATCH_FORGET) or the proxy
					    chose not to answer */
#define FP_TRACE_F_PENDING     (1u << 3) /* still unanswered when recording
					    stopped (fp_trace_pending) */
#define FP_TRACE_F_REQ_TRUNC   (1u << 4) /* request bytes cut (snaplen/ring/pcap) */
#define FP_TRACE_F_REPLY_TRUNC (1u << 5) /* reply bytes cut */
#define FP_TRACE_F_INVALID     (1u << 6) /* the engine rejected the message */
#define FP_TRACE_F_BACKEND     (1u << 7) /* served by a backend (t_sent/t_reply
					    are the backend round trip) */
#define FP_TRACE_F_UNPAIRED    (1u << 8) /* set by the pcap reader: the reply
					    record of this request (or the
					    request of this reply) is not in
					    the file, e.g. cut off by a kill */

/* One finished request/reply exchange.
 *
 * Writing (fp_trace_exchange): req/req_len is the whole request as read
 * from the kernel (fuse_in_header included), reply/reply_len the whole
 * reply written back (fuse_out_header included; NULL/0 if none).
 * Timestamps are CLOCK_MONOTONIC ns, 0 = does not apply.  comm may be
 * NULL: the writer thread then reads /proc/PID/comm (cached).  The *_caplen
 * fields are ignored: the library decides what it keeps.
 *
 * Reading (reader.h): req_len/reply_len are the lengths on the wire,
 * req_caplen/reply_caplen how many of those bytes the trace kept (and
 * req/reply point to); pointers stay valid until the next read. */
struct fp_trace_exchange {
	uint64_t unique;
	uint64_t nodeid;
	uint32_t opcode;
	uint32_t uid, gid, pid;
	int32_t worker;              /* worker/queue that served it, -1 none */
	int32_t error;               /* reply error: 0 or -errno */
	uint32_t flags;              /* FP_TRACE_F_* */
	uint64_t t_read;             /* read from the kernel */
	uint64_t t_sent;             /* sent to the backend (or handler start) */
	uint64_t t_reply;            /* backend's reply arrived (or handler end) */
	uint64_t t_written;          /* reply written to the kernel */
	const void *req;
	uint32_t req_len, req_caplen;
	const void *reply;
	uint32_t reply_len, reply_caplen;
	const char *comm;            /* command name of pid, NUL-terminated */
};

/* Initializer of the fields an exchange takes from its request's
 * fuse_in_header:  struct fp_trace_exchange x = { FP_TRACE_IDS(in), ... }; */
#define FP_TRACE_IDS(in) .unique = (in)->unique, .nodeid = (in)->nodeid, \
	.opcode = (in)->opcode, .uid = (in)->uid, .gid = (in)->gid, .pid = (in)->pid

/* Who sent a message to whom (pcap pseudo-header `dir`, notifications). */
enum fp_trace_dir {
	FP_DIR_NONE = 0,
	FP_DIR_KERNEL_TO_PROXY = 1,  /* requests; NOTIFY_REPLY from the kernel */
	FP_DIR_PROXY_TO_BACKEND = 2,
	FP_DIR_BACKEND_TO_PROXY = 3,
	FP_DIR_PROXY_TO_KERNEL = 4,  /* replies; notifications to the kernel */
};

/* A notification or notification reply.  Messages travelling to the
 * kernel (dirs 3, 4) start with fuse_out_header and `code` is its error
 * field (FUSE_NOTIFY_*); messages from the kernel (dirs 1, 2) start with
 * fuse_in_header and `code` is its opcode (FUSE_NOTIFY_REPLY). */
struct fp_trace_notify {
	uint64_t t;
	uint64_t unique;
	int32_t worker;
	uint32_t dir;                /* enum fp_trace_dir */
	uint32_t code;
	const void *msg;
	uint32_t len, caplen;        /* as in fp_trace_exchange */
};

enum fp_trace_event_kind {
	FP_EV_INFO = 0,
	FP_EV_WARNING,
	FP_EV_ERROR,
	FP_EV_BACKEND_START,
	FP_EV_BACKEND_EXIT,
	FP_EV_BACKEND_RESTART,
	FP_EV_DROPS,                 /* written by the library itself */
	FP_EV_KIND_COUNT
};

struct fp_trace_event {
	uint64_t t;
	uint32_t kind;               /* enum fp_trace_event_kind */
	const char *text;            /* NUL-terminated */
};

enum fp_trace_rec_kind { FP_REC_EXCHANGE = 1, FP_REC_NOTIFY, FP_REC_EVENT };

/* What readers return and sinks consume. */
struct fp_trace_rec {
	int kind;                    /* enum fp_trace_rec_kind */
	union {
		struct fp_trace_exchange x;
		struct fp_trace_notify n;
		struct fp_trace_event e;
	};
};

/* What a trace says about the session it recorded (the sqlite `session`
 * row; pcap SESSION and END records).  Strings may be NULL. */
struct fp_trace_session {
	uint32_t format_version;
	uint64_t start_wall_ns;      /* CLOCK_REALTIME at open */
	uint64_t start_mono_ns;      /* CLOCK_MONOTONIC at the same moment */
	uint64_t end_wall_ns;        /* 0 until a clean close */
	uint64_t end_mono_ns;
	const char *argv;            /* JSON array of strings */
	const char *mountpoint;
	const char *transport;
	const char *backend;
	const char *kernel;          /* uname release, e.g. "6.18.0-1-amd64" */
	const char *filter;          /* filter spec as given, NULL = all */
	const char *drop_policy;     /* "block" / "drop" */
	uint32_t snaplen;            /* FP_TRACE_SNAPLEN_ALL = everything */
	uint32_t proto_major, proto_minor;   /* negotiated (INIT reply), 0 = none */
	const void *init_req;        /* the kernel's INIT request, whole */
	uint32_t init_req_len;
	const void *init_reply;      /* the INIT reply sent to the kernel, whole */
	uint32_t init_reply_len;
	uint64_t records, dropped, lost;     /* end counters (see fp_trace_stats) */
};

/* "backend_start", ..., "???" */
const char *fp_trace_event_name(uint32_t kind);
/* The kind for a name, FP_EV_INFO if unknown. */
uint32_t fp_trace_event_kind(const char *name);

/* ---- Opcode filter -------------------------------------------------------- */

#define FP_TRACE_FILTER_BITS 64      /* opcodes 0..62; bit 63 stands for
					CUSE_INIT and any opcode >= 63 */

struct fp_trace_filter {
	uint64_t pass;               /* bit per opcode: record it */
};

/* Parse "lookup,getattr,read,write" (only these) or "!forget,!batch_forget"
 * (all but these); both kinds may be mixed (the listed ones minus the
 * negated ones).  Names are case-insensitive, with or without "FUSE_",
 * numbers are opcodes.  NULL or "" passes everything.  INIT always passes:
 * replay needs the negotiation.  Returns 0 or -EINVAL with a message. */
int fp_trace_filter_parse(const char *spec, struct fp_trace_filter *f,
			  char *err, size_t errlen);

static inline bool fp_trace_filter_passes(const struct fp_trace_filter *f, uint32_t opcode)
{
	uint32_t bit = opcode < FP_TRACE_FILTER_BITS - 1 ? opcode : FP_TRACE_FILTER_BITS - 1;

	return (f->pass >> bit) & 1;
}

/* ---- Recording -------------------------------------------------------------- */

#define FP_TRACE_SNAPLEN_ALL UINT32_MAX

enum fp_trace_drop_policy {
	FP_TRACE_POLICY_DEFAULT = 0, /* block when writing sqlite, else drop */
	FP_TRACE_BLOCK,              /* wait for ring space: complete traces */
	FP_TRACE_DROP,               /* count the record as dropped, go on */
};

struct fp_trace_opts {
	const char *db_path;         /* -w: sqlite trace, NULL = none */
	const char *pcap_path;       /* --pcap: pcap trace, NULL = none, "-" = stdout */
	int nworkers;                /* rings 0..nworkers-1 (>= 0) */
	uint32_t snaplen;            /* -s: body bytes kept per message beyond the
					headers and fixed argument; 0 = headers
					only; FP_TRACE_SNAPLEN_ALL = everything */
	int drop_policy;             /* enum fp_trace_drop_policy */
	const char *filter;          /* --filter spec, NULL = every opcode */
	uint32_t ring_kib;           /* per-ring size, 0 = 4096 (rounded up to 2^n;
					nworkers + 1 rings, resident from the
					start; a message longer than half a ring
					is cut) */
	uint32_t flush_ms;           /* commit/flush at least this often, 0 = 200 */
	uint32_t batch_rows;         /* ... and after this many records, 0 = 65536 */

	/* Session description, copied at open. */
	int argc;
	char *const *argv;
	const char *mountpoint;
	const char *transport;       /* "fusedev", "io_uring", "backend", ... */
	const char *backend;         /* backend command line, NULL if none */

	/* Warnings from the writer thread (write failures, drops).  NULL:
	 * "fuseproxy: trace: MSG" on stderr. */
	void (*log)(void *arg, const char *msg);
	void *log_arg;
};

struct fp_trace_stats {
	uint64_t records;            /* accepted into a ring */
	uint64_t written;            /* handed to the sinks by the writer */
	uint64_t dropped;            /* lost to full rings (FP_TRACE_DROP) */
	uint64_t lost;               /* missing from a file whose writes failed
					(the worse file's count) */
	uint64_t filtered;           /* exchanges the opcode filter skipped */
	int write_error;             /* first sink error (-errno), 0 if none */
};

struct fp_trace;

/* Create the trace files (0600, replacing existing ones) and start the
 * writer thread.  Returns 0, or -errno with a message naming the file and
 * the cause in err ("trace.db: cannot create: Permission denied"). */
int fp_trace_open(struct fp_trace **tp, const struct fp_trace_opts *o,
		  char *err, size_t errlen);

/* Record a finished exchange.  worker selects the ring (see above);
 * x->worker is what the trace stores.  t may be NULL (no-op). */
void fp_trace_exchange(struct fp_trace *t, int worker, const struct fp_trace_exchange *x);

/* Record a request that never got its reply (pending when the session
 * ends, or abandoned): stored with FP_TRACE_F_PENDING and no reply.  Any
 * thread; goes through the shared ring. */
void fp_trace_pending(struct fp_trace *t, const struct fp_trace_exchange *x);

/* Record a notification (see struct fp_trace_notify for dir and msg). */
void fp_trace_notify(struct fp_trace *t, int worker, int dir,
		     const void *msg, size_t len, uint64_t tns);

/* Record an event (any thread, shared ring; timestamped now).  Not
 * async-signal-safe (it takes a mutex): from a signal handler, set a flag
 * and record the event from a thread. */
void fp_trace_event(struct fp_trace *t, int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The command name of pid into comm[16] ("" if unknown), from a cache of
 * worker's (call it from that worker's thread only; other callers get a
 * fresh read).  Exchanges carry it in fp_trace_exchange.comm. */
void fp_trace_comm(struct fp_trace *t, int worker, uint32_t pid, uint64_t now_ns, char comm[16]);

/* Would an exchange of this opcode be recorded?  (lets the engine skip
 * work for filtered opcodes) */
bool fp_trace_wants(const struct fp_trace *t, uint32_t opcode);

/* Counters so far (any thread). */
void fp_trace_stats(struct fp_trace *t, struct fp_trace_stats *st);

/* Drain every ring, write the end-of-session counters, commit, checkpoint
 * and close the files; frees t.  Call after every producer has stopped.
 * Returns 0, or the first write error (-errno, message in err); final
 * counters go to *st if not NULL. */
int fp_trace_close(struct fp_trace *t, struct fp_trace_stats *st, char *err, size_t errlen);

/* CLOCK_MONOTONIC in ns (what every timestamp above uses). */
uint64_t fp_trace_now(void);

#endif
