/* \summary: the kernel-side transport interface.
 *
 * A transport owns the connection to the kernel (a /dev/fuse fd and its
 * clones today; FUSE-over-io_uring queues and vhost-user virtqueues later).
 * Its workers read one request at a time into buffers they own, fill a
 * struct fp_req and call fp_session_process(); the reply goes back on the
 * same channel that delivered the request (the kernel finds a reply only in
 * the processing queue of the file that read it).
 *
 * Reply buffers: req->out is preceded by at least sizeof(struct
 * fuse_out_header) writable bytes, so header and payload can be sent as
 * one contiguous write with no copy.
 */
#ifndef FP_TRANSPORT_H
#define FP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct fp_chan;

struct fp_chan_ops {
	/* Write one whole message (fuse_out_header + payload, or a
	 * notification).  Returns 0 or -errno.  -ENOENT means the kernel no
	 * longer waits for that unique (interrupted or aborted): benign. */
	int (*send)(struct fp_chan *c, const void *msg, size_t len);
};

struct fp_chan {
	const struct fp_chan_ops *ops;
	int fd;
};

static inline int fp_chan_send(struct fp_chan *c, const void *msg, size_t len)
{
	return c->ops->send(c, msg, len);
}

#endif
