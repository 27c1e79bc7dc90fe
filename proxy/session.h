/* \summary: the engine between a kernel transport and a filesystem:
 * INIT negotiation, validation, dispatch, interrupts, -d tracing. */
#ifndef FP_SESSION_H
#define FP_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "fuse_kernel.h"
#include "validate.h"
#include "request.h"
#include "fs.h"

/* Largest WRITE we ever negotiate, and so the read buffer size: a request
 * is at most header + write_in + max_write. */
#define FP_MAX_WRITE   (1u << 20)
#define FP_BUFSIZE     (FP_MAX_WRITE + 4096)

/* The request a worker is serving, for interrupts and `fuseproxy status`.
 * unique is written last (release) and cleared first; a reader copies the
 * fields and re-checks unique to see a consistent entry. */
struct fp_worker_slot {
	_Atomic uint64_t unique;       /* request being served, 0 if none */
	_Atomic uint32_t interrupted;  /* an INTERRUPT named it (for the trace) */
	uint64_t nodeid, t_read;
	uint32_t opcode, pid;
	pthread_t thread;
	int has_thread;
};

/* A request served on its own thread because it may block for as long as
 * another process holds a lock (SETLKW): on a worker it could take every
 * worker and deadlock the lock holder's unlock. */
struct fp_blocking {
	struct fp_blocking *next;
	_Atomic uint32_t interrupted;  /* an INTERRUPT named it (for the trace) */
	uint64_t unique, nodeid, t_read;
	uint32_t opcode, pid;
	pthread_t thread;
};

struct fp_journal;
struct fp_holder_info;

struct fp_session {
	struct fp_fs *fs;
	struct fuse_wire_params wp;    /* negotiated; written once at INIT */
	struct fuse_init_in kinit;     /* the kernel's INIT as received */
	struct fuse_init_out init;     /* what we answered */
	uint32_t init_len;             /* its length on the wire */
	struct fp_journal *journal;    /* under a holder (journal.h), or NULL */
	/* called once INIT is negotiated, before the kernel gets the answer
	 * (main.c journals it) */
	void (*init_done)(struct fp_session *s);
	const struct fp_holder_info *holder; /* under a holder (holder.h), or NULL */
	_Atomic int initialized;
	int debug;                     /* -d */
	int verbose;                   /* -v */
	int writeback;
	uint64_t t0;                   /* CLOCK_MONOTONIC ns at start */
	int nworkers;
	struct fp_worker_slot *slots;
	struct fp_chan *notify_chan;   /* any channel of the connection, for
					  notifications (set by the transport) */
	_Atomic uint64_t nreq, nerr;
	struct fp_trace *trace;        /* -w/--pcap recording, or NULL; rings
					  0..nworkers-1 are the workers',
					  nworkers the forwarder's reader */
	uint32_t trace_snaplen;        /* -s, for copies the forwarder keeps */
	pthread_mutex_t blk_lock;      /* guards blk and nblk */
	pthread_cond_t blk_cond;       /* signalled when nblk drops */
	struct fp_blocking *blk;
	int nblk;
};

int fp_session_init(struct fp_session *s, struct fp_fs *fs, int nworkers);
/* Interrupt requests served on their own threads and wait for them; call
 * before the transport's channels go away. */
void fp_session_drain(struct fp_session *s);
/* Drains, then frees. */
void fp_session_fini(struct fp_session *s);

/* Register the calling thread as worker `w` (for interrupts). */
void fp_session_worker_start(struct fp_session *s, int w);

/* Serve one request read by a transport; sends the reply on req->chan. */
void fp_session_process(struct fp_session *s, struct fp_req *req);

/* Requests in flight now (workers, blocking threads, and what the
 * filesystem holds, e.g. the forwarder's pending table), oldest first.
 * Returns how many were stored (at most max). */
int fp_session_inflight(struct fp_session *s, struct fp_inflight *out, int max);

/* One -d line: "[  1.002341] <reqtxt> uid=U pid=P(comm) -> <reptxt> (18us)" */
void fp_session_log(struct fp_session *s, const char *reqtxt, uint32_t uid,
		    uint32_t pid, const char *reptxt, uint64_t t_read, uint64_t t_done);

/* Command name of pid from /proc ("?" if gone). */
void fp_comm_of(uint32_t pid, char *buf, size_t n);

uint64_t fp_now_ns(void);

/* How long a thread that waits for the next message (the idle worker on
 * /dev/fuse, the forwarder's reader on the backend socket) keeps looking
 * without blocking after the last one, before it sleeps: a wake-up costs
 * more than a short look when the next message comes within it (spin() in
 * idle.c, recv_spin() in forward.c; measured figures at the latter). */
#define FP_SPIN_NS 100000ull

#endif
