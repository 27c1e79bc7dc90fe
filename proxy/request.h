/* \summary: one FUSE request as the engine, transports and filesystems see it.
 *
 * A transport reads one complete kernel message into a buffer it owns and
 * hands the engine a struct fp_req pointing at it.  The engine validates it
 * with the abi layer (which fills req->v, the parsed view of the arguments),
 * then gives it to the filesystem, which writes its reply payload straight
 * into req->out (the bytes after struct fuse_out_header) and returns:
 *
 *     >= 0            length of the reply payload written at req->out
 *     -errno          error reply (header only)
 *     FP_NOREPLY      the opcode takes no reply (FORGET, BATCH_FORGET, ...)
 *     FP_ASYNC        the filesystem took the request and will send the
 *                     reply itself later on req->chan (the forwarder)
 *
 * req->out may alias the request's own buffer on transports that reuse one
 * buffer for both directions (FUSE-over-io_uring): a handler must finish
 * reading its arguments before it writes the reply.
 */
#ifndef FP_REQUEST_H
#define FP_REQUEST_H

#include <stdint.h>
#include "fuse_kernel.h"
#include "validate.h"

#define FP_NOREPLY  (1 << 30)
#define FP_ASYNC    (1 << 29)

struct fp_chan;           /* transport-private: where the reply goes */

struct fp_req {
	const struct fuse_in_header *in;   /* whole message: in->len bytes */
	struct fuse_req_view v;            /* parsed arguments (abi/validate.h) */
	void *out;                         /* reply payload area */
	uint32_t outcap;                   /* bytes available at out */
	uint32_t minor;                    /* negotiated protocol minor */
	struct fp_chan *chan;              /* set by the transport */
	int worker;                        /* worker/queue index */
	uint64_t t_read;                   /* CLOCK_MONOTONIC ns when read */
	char comm[16];                     /* the caller's command name, taken while
					      it waits (recording only; "" if not) */
};

#endif
