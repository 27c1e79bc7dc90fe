/* \summary: the forwarder's insides, shared by forward.c (hot path, reader,
 * INIT), track.c (state kept from the traffic, id translation) and
 * recovery.c (backend restart, rebuild, replay). */
#ifndef FP_FORWARD_I_H
#define FP_FORWARD_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "forward.h"
#include "daemon.h"
#include "pending.h"
#include "session.h"
#include "state.h"
#include "validate.h"

/* Our own requests to the backend use uniques the kernel never does
 * (the kernel's are even and far below 2^62). */
#define FWD_OWN_UNIQUE (1ull << 62)

#define RBUF_SIZE (FP_BUFSIZE + 4096)

/* How long our own requests to a backend may take before it counts as
 * dead (when --backend-timeout is not given). */
#define FWD_CALL_TIMEOUT_MS 30000

/* One recovery, for logs and `fuseproxy status`. */
struct fwd_recovery_stats {
	uint64_t t_death;              /* death noticed */
	uint64_t start_ns;             /* backend start: fork to INIT reply */
	uint64_t rebuild_ns;           /* INIT reply to requests re-injected */
	uint64_t total_ns;             /* death to all its requests answered */
	uint32_t attempts;             /* backends started for it */
	uint32_t pending;              /* requests pending or queued */
	uint32_t reinjected, judged, answered_here, failed;
	uint32_t resolved, stale, reopened, reopen_failed, locks, locks_lost, polls;
	int done;                      /* total_ns is final */
};

/* One spliced reply being put back together (forward.c, join_piece). */
struct fwd_join {
	int open;
	uint64_t unique, t_open;
	uint32_t want, have, cap;
	char *buf;
	uint64_t orphans;
};

struct fwd {
	struct fp_fs fs;
	struct fp_session *s;
	struct fp_daemon d;
	struct fp_pending_table pt;
	struct fwd_options o;
	pthread_t reader;
	int reader_started;
	_Atomic int stopping;
	_Atomic int dead;
	char death[256];
	void *rbuf;
	struct fwd_join join;            /* reader thread only */
	struct fuse_init_out binit;      /* the backend's INIT answer */
	_Atomic uint64_t own_unique;

	struct fp_state st;              /* nodes, handles, locks, polls */

	/* --restart */
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} init_req;                      /* the INIT the backend was given */
	int log_fd;                      /* --backend-log, kept for restarts */
	pthread_rwlock_t gate;           /* workers read-lock it around sending;
					    recovery write-locks it to swap the
					    backend and to re-inject */
	_Atomic int recovering;          /* new requests wait in the table */
	pthread_mutex_t call_lock;       /* waiters of our own requests */
	pthread_mutex_t resolve_lock;    /* one re-resolution at a time */
	void *callbuf;                   /* reply buffer for the reader's own calls */
	char why[256];                   /* what the pump saw die */
	int gone;                        /* the pump saw the backend die */
	uint64_t last_msg;               /* when the pump last got a message */
	uint64_t *restart_times;         /* ring of the last restarts (rate cap) */
	uint32_t nrestarts;              /* under stats_lock */
	int pid_now;                     /* backend pid, for status (stats_lock) */
	_Atomic uint32_t rec_left;       /* requests the running recovery waits for */
	pthread_mutex_t stats_lock;
	struct fwd_recovery_stats last, cur;
	uint64_t reinjected_total, judged_total, failed_total;
	_Atomic int notifiers;           /* detached notification threads */
	char *cmd_owned;                 /* o.cmd after an upgrade */
	/* `fuseproxy upgrade`: the control thread asks, the reader does it */
	int wake[2];                     /* pipe: wakes the reader's poll */
	pthread_mutex_t up_lock;
	pthread_cond_t up_cond;
	char *up_cmd;                    /* asked for, not done yet */
	int up_done, up_result;
	char up_msg[512];
	struct {                         /* the takeover that started us (stats_lock) */
		uint64_t records, applied, skipped, replay_ns;
		uint32_t replies, taken;
		_Atomic uint32_t resent; /* requests the kernel sent again */
	} takeover;
};

#define FWD(fs) ((struct fwd *)(fs))

/* A synchronous request of ours (resolution, reopen, judging). */
struct fwd_call {
	pthread_cond_t cond;
	int done;
	int err;                         /* -ERESTART: the backend went away */
	void *buf;
	size_t cap, len;
};

/* ---- forward.c ---------------------------------------------------------- */

/* Send our own request (iov: the complete message, header first; its
 * unique is set here) and wait for the reply, copied to buf.  Returns the
 * reply's length, -ERESTART if the backend died meanwhile, -EPROTO if the
 * reply was malformed or larger than cap, or -errno. */
ssize_t fwd_call(struct fwd *f, struct iovec *iov, int niov, void *buf, size_t cap);
/* Send a message as it is (kernel FORGETs). */
int fwd_send_raw(struct fwd *f, const struct iovec *iov, int niov);
/* Fire and forget (FORGET, RELEASE of something the kernel never got). */
void fwd_send_own(struct fwd *f, void *msg, size_t len);

/* Send a kernel request (pending entry p) to the backend: translated when
 * ids differ.  Returns 0 (sent) or -ERESTART (left pending for a recovery,
 * or answered here when `answer`); without `answer`, the engine answers:
 * -errno, or FP_SENT_HERE for success (p is then no longer pending). */
#define FP_SENT_HERE 1
int fwd_send_request(struct fwd *f, struct fp_pending *p, const struct fuse_in_header *in,
		     const struct fuse_req_view *v, int answer);

/* Finish pending entry p (already taken from the table) with a backend
 * reply msg (its unique is p->unique): validate, track, translate, send
 * to the kernel, log, record, release p. */
void fwd_complete(struct fwd *f, struct fp_pending *p, void *msg, size_t len, int truncated);
/* Answer p (taken from the table) with an error, no backend involved. */
void fwd_answer(struct fwd *f, struct fp_pending *p, int err, const char *why);

/* Give backend d the INIT recorded at the first one; its answer in *bi.
 * Returns 0 or -errno with a reason. */
int fwd_backend_init(struct fwd *f, struct fp_daemon *d, struct fuse_init_out *bi,
		     char *why, size_t whylen);

/* From the reader thread only: wait up to ms for one backend message and
 * dispatch it.  0: dispatched or nothing came; -ERESTART: the backend is
 * gone (f->why says how). */
int fwd_pump(struct fwd *f, int ms);
int fwd_is_reader(struct fwd *f);

/* Give up on the backend: fail everything with EIO, unmount. */
void fwd_give_up(struct fwd *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Send a notification to the kernel from a thread of its own (the kernel
 * may block it until a request we are serving completes). */
void fwd_notify_later(struct fwd *f, const void *msg, size_t len);

/* Start the reader thread.  0 or -errno. */
int fwd_start_reader(struct fwd *f);

/* ---- track.c ------------------------------------------------------------ */

/* Request-time tracking (RELEASE, FLUSH, POLL, O_APPEND pre-size).
 * Returns 1 if the request is answered here (*err: what with), 0 to
 * forward it. */
int fwd_track_request(struct fwd *f, struct fp_pending *p, const struct fuse_req_view *v,
		      int *err);
/* A successful reply: update the tables and rewrite backend ids to the
 * kernel's in place.  Returns 0, or -EIO if it cannot be translated. */
int fwd_track_reply(struct fwd *f, struct fp_pending *p, void *msg, size_t len);
/* The kernel refused that reply (write failed): undo what it counted. */
void fwd_track_undo(struct fwd *f, struct fp_pending *p, void *msg, size_t len);
/* FORGET and BATCH_FORGET (read into read slot `slot`, journal.h): keep
 * counts, forward what the backend must forget (translated).  Call without
 * the gate: the kernel's side is journaled first, then the gate is taken
 * for the backend's. */
void fwd_track_forget(struct fwd *f, const struct fuse_in_header *in,
		      const struct fuse_req_view *v, int slot);
/* Rewrite a validated backend notification to kernel ids in place.
 * Returns 0, or -ENOENT when it names nothing the kernel knows. */
int fwd_translate_notify(struct fwd *f, void *msg, size_t len);

/* Translation of a kernel request for the backend: header and fixed
 * argument copied to head (ids rewritten), the rest of the message sent
 * from where it is. */
struct fwd_xlate {
	unsigned char head[sizeof(struct fuse_in_header) + 128];
	struct iovec iov[2];
	int niov;
	int err;
};
/* p: the pending entry (NULL for NOTIFY_REPLY).  Returns 0; 1 if the
 * request is answered here with x->err (RELEASE or FLUSH of a handle the
 * new backend never had); -ESTALE/-EIO (answer the kernel); -ERESTART. */
int fwd_translate_request(struct fwd *f, struct fp_pending *p,
			  const struct fuse_in_header *in,
			  const struct fuse_req_view *v, struct fwd_xlate *x);

/* ---- recovery.c --------------------------------------------------------- */

/* The backend died (reason why): restart it, rebuild, re-inject.  From
 * the reader thread.  Returns 0 when a backend serves again, -1 after
 * giving up (everything failed with EIO, owner told). */
int fwd_recover(struct fwd *f, const char *why);
/* Kernel node -> backend node of this generation, re-resolving it by
 * name from the root if needed.  0, -ESTALE, -EIO, -ERESTART. */
int fwd_resolve(struct fwd *f, uint64_t knode, uint64_t *bnode);
/* Kernel handle -> backend handle, reopening it if needed. */
int fwd_reopen(struct fwd *f, uint64_t knode, uint64_t kfh, uint64_t *bfh);
/* From the reader thread: replace the backend by `cmd` at a request
 * boundary (hold new requests, drain, stop the old one in order, start the
 * new one as after a crash; back to the old command if it cannot take
 * over).  msg says what happened.  0, -EPROTO (the old one serves again),
 * -EIO (given up). */
int fwd_upgrade_run(struct fwd *f, const char *cmd, char *msg, size_t n);
/* The backend command from now on (restarts use it). */
void fwd_set_cmd(struct fwd *f, const char *cmd);
/* A request that was part of a recovery got its answer. */
void fwd_recovery_answered(struct fwd *f, struct fp_pending *p);
/* A request the kernel sent again after a worker died (unique | 1 << 63),
 * in the table and queued: judge it like one pending at a backend crash.
 * Returns -ERESTART if the backend went away meanwhile (p stays queued). */
int fwd_reinject(struct fwd *f, struct fp_pending *p);
/* Status lines for `fuseproxy status`. */
void fwd_recovery_status(struct fwd *f, FILE *out);

#endif
