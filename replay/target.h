/* \summary: what fusereplay replays into: a FUSE daemon on a socketpair
 * (--backend, the /dev/fd/N convention of transports/daemon.h) or the
 * built-in passthrough served in-process (--passthrough, no mount).
 *
 * Both look the same to the driver: whole request messages go in with
 * rp_target_send(), and whole messages come out of rp_target_recv() in the
 * order the target produced them: replies (unique != 0) and notifications
 * (unique == 0).
 */
#ifndef RP_TARGET_H
#define RP_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "passthrough.h"

struct rp_target;

/* rp_target_send flags */
#define RP_SEND_ALONE 1u   /* nothing else will be in flight while this request
			      is: an in-process target may serve it on the
			      caller's thread instead of handing it to a worker */

struct rp_target_ops {
	int (*send)(struct rp_target *t, const void *msg, size_t len, unsigned flags);
	ssize_t (*recv)(struct rp_target *t, void *buf, size_t cap, int timeout_ms);
	/* Why the target is gone ("killed by SIGSEGV"), after recv returned 0
	 * or send failed; "" if it is not known to be gone. */
	void (*death)(struct rp_target *t, char *buf, size_t n);
	/* Orderly end: DESTROY has been sent by the caller if wanted; stop the
	 * target and free everything.  Writes how it ended to how. */
	void (*close)(struct rp_target *t, char *how, size_t n);
	/* Abandon a hung target at once (kill it); close() still frees. */
	void (*abort)(struct rp_target *t);
};

struct rp_target {
	const struct rp_target_ops *ops;
	char desc[256];           /* "backend './myfs -f' (pid 123)" */
	size_t max_msg;           /* largest message that fits through */
	bool in_process;
};

/* Start `cmd` with /dev/fd/N (or `{}`) as its FUSE device.  log_fd: where
 * its stdout/stderr go (-1 = ours).  NULL with a message on failure. */
struct rp_target *rp_target_backend(const char *cmd, int log_fd, char *err, size_t errlen);

/* Serve opt->source with the built-in passthrough through fuseproxy's own
 * engine (proxy/session.c), in this process.  workers = 0: each request is
 * served synchronously inside rp_target_send() (fastest, one at a time);
 * workers > 0: that many threads serve requests concurrently. */
struct rp_target *rp_target_passthrough(const struct pt_options *opt, int workers,
					char *err, size_t errlen);

/* Send one whole request.  Returns 0 or -errno (-EPIPE: the target is gone). */
static inline int rp_target_send(struct rp_target *t, const void *msg, size_t len)
{
	return t->ops->send(t, msg, len, 0);
}

static inline int rp_target_send_flags(struct rp_target *t, const void *msg, size_t len,
				       unsigned flags)
{
	return t->ops->send(t, msg, len, flags);
}

/* Wait up to timeout_ms (-1 = forever) for the next message.  Returns its
 * length, 0 if the target has gone away, -ETIMEDOUT, -EMSGSIZE (buf holds
 * the first cap bytes) or -errno. */
static inline ssize_t rp_target_recv(struct rp_target *t, void *buf, size_t cap, int timeout_ms)
{
	return t->ops->recv(t, buf, cap, timeout_ms);
}

#endif
