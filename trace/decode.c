/* \summary: what a recorder pulls out of an exchange's bytes: the snaplen
 * header sizes, and the decoded sqlite columns (fh, offset, size, names,
 * handed-out node and fh), all driven by the abi opcode table plus one
 * small table for offset/size. */
#include <stddef.h>
#include <string.h>
#include "cursor.h"
#include "opcodes.h"
#include "trace_i.h"

#define IN_HDR  ((uint32_t)sizeof(struct fuse_in_header))
#define OUT_HDR ((uint32_t)sizeof(struct fuse_out_header))

uint32_t trace_req_hdrlen(uint32_t opcode)
{
	const struct fuse_op *op = fuse_op_get(opcode);

	return IN_HDR + (op ? op->in_size : 0);
}

uint32_t trace_reply_hdrlen(uint32_t opcode, uint32_t reply_len)
{
	const struct fuse_op *op = fuse_op_get(opcode);

	if (!op)
		return OUT_HDR;
	switch (op->reply) {
	case FUSE_R_FIXED:
	case FUSE_R_INIT:
	case FUSE_R_CUSE_INIT:
	case FUSE_R_IOCTL:
		return OUT_HDR + op->out_size;
	case FUSE_R_XATTR:
		/* size == 0 asked for the length: the reply is getxattr_out */
		if (reply_len == OUT_HDR + sizeof(struct fuse_getxattr_out))
			return reply_len;
		return OUT_HDR;
	default:
		return OUT_HDR;
	}
}

/* Where offset and size sit in an op's fixed argument. */
struct io_fields {
	uint8_t set;
	uint8_t off_at;             /* u64 offset */
	uint8_t has_off;
	uint8_t size_at;
	uint8_t size_bytes;         /* 4 or 8; 0 = none */
	uint8_t if_fattr_size;      /* SETATTR: only when valid & FATTR_SIZE */
};

#define OFF_SIZE(o, s, w) { .set = 1, .off_at = (o), .has_off = 1, .size_at = (s), .size_bytes = (w) }
#define OFF_ONLY(o)       { .set = 1, .off_at = (o), .has_off = 1 }
#define SIZE_ONLY(s, w)   { .set = 1, .size_at = (s), .size_bytes = (w) }

static const struct io_fields io_table[FUSE_OP_MAX] = {
	[FUSE_READ]        = OFF_SIZE(offsetof(struct fuse_read_in, offset),
				      offsetof(struct fuse_read_in, size), 4),
	[FUSE_READDIR]     = OFF_SIZE(offsetof(struct fuse_read_in, offset),
				      offsetof(struct fuse_read_in, size), 4),
	[FUSE_READDIRPLUS] = OFF_SIZE(offsetof(struct fuse_read_in, offset),
				      offsetof(struct fuse_read_in, size), 4),
	[FUSE_WRITE]       = OFF_SIZE(offsetof(struct fuse_write_in, offset),
				      offsetof(struct fuse_write_in, size), 4),
	[FUSE_LSEEK]       = OFF_ONLY(offsetof(struct fuse_lseek_in, offset)),
	[FUSE_FALLOCATE]   = OFF_SIZE(offsetof(struct fuse_fallocate_in, offset),
				      offsetof(struct fuse_fallocate_in, length), 8),
	[FUSE_COPY_FILE_RANGE] = OFF_SIZE(offsetof(struct fuse_copy_file_range_in, off_in),
					  offsetof(struct fuse_copy_file_range_in, len), 8),
	[FUSE_COPY_FILE_RANGE_64] = OFF_SIZE(offsetof(struct fuse_copy_file_range_in, off_in),
					     offsetof(struct fuse_copy_file_range_in, len), 8),
	[FUSE_SETATTR]     = { .set = 1, .size_at = offsetof(struct fuse_setattr_in, size),
			       .size_bytes = 8, .if_fattr_size = 1 },
	[FUSE_GETXATTR]    = SIZE_ONLY(offsetof(struct fuse_getxattr_in, size), 4),
	[FUSE_LISTXATTR]   = SIZE_ONLY(offsetof(struct fuse_getxattr_in, size), 4),
	[FUSE_SETXATTR]    = SIZE_ONLY(offsetof(struct fuse_setxattr_in, size), 4),
};

static bool fixed_get(const struct fuse_req_view *v, size_t off, size_t n, uint64_t *val)
{
	uint32_t v32;

	if (!v->fixed || v->fixed_len < off + n)
		return false;
	if (n == 4) {
		memcpy(&v32, (const uint8_t *)v->fixed + off, 4);
		*val = v32;
	} else {
		memcpy(val, (const uint8_t *)v->fixed + off, 8);
	}
	return true;
}

/* A view of a request that may be cut short: header, fixed argument and
 * names as far as the kept bytes reach. */
static void partial_view(const struct fp_trace_exchange *x, const struct fuse_op *op,
			 const struct fuse_wire_params *wp, struct fuse_req_view *v)
{
	struct fuse_cursor c = cur_make((const uint8_t *)x->req + IN_HDR, x->req_caplen - IN_HDR);
	uint32_t fixed = op->opcode == FUSE_INIT ? 0 : fuse_op_in_size(op, wp->minor, wp->flags);

	memset(v, 0, sizeof *v);
	v->h = x->req;
	if (fixed) {
		v->fixed = cur_pull(&c, fixed);
		v->fixed_len = v->fixed ? fixed : 0;
		if (!v->fixed)
			return;
	}
	for (unsigned i = 0; i < op->nnames; i++) {
		const char *s = cur_pull_str(&c, NULL);

		if (!s)
			return;
		if (i == 0)
			v->name = s;
		else
			v->name2 = s;
	}
}

void trace_decode(const struct fp_trace_exchange *x, const struct fuse_wire_params *wp,
		  struct trace_decoded *d)
{
	const struct fuse_op *op = fuse_op_get(x->opcode);
	const struct io_fields *io;
	struct fuse_req_view v;
	uint64_t valid;

	memset(d, 0, sizeof *d);
	if (!op || !x->req || x->req_caplen < IN_HDR)
		goto reply;
	if (x->req_caplen != x->req_len ||
	    fuse_validate_request(x->req, x->req_len, wp, &v, NULL, 0))
		partial_view(x, op, wp, &v);

	d->name = v.name;
	d->name2 = v.name2;
	d->has_fh = fuse_req_fh(&v, &d->fh);
	d->has_node2 = fuse_req_node2(&v, &d->node2);
	io = x->opcode < FUSE_OP_MAX ? &io_table[x->opcode] : NULL;
	if (io && io->set) {
		if (io->has_off)
			d->has_offset = fixed_get(&v, io->off_at, 8, &d->offset);
		if (io->size_bytes) {
			if (!io->if_fattr_size ||
			    (fixed_get(&v, offsetof(struct fuse_setattr_in, valid), 4, &valid) &&
			     (valid & FATTR_SIZE)))
				d->has_size = fixed_get(&v, io->size_at, io->size_bytes, &d->size);
		}
	}
reply:
	if (op && x->error == 0 && x->reply && x->reply_caplen > OUT_HDR) {
		const uint8_t *pl = (const uint8_t *)x->reply + OUT_HDR;
		size_t n = x->reply_caplen - OUT_HDR;

		d->has_out_nodeid = fuse_reply_new_node(x->opcode, pl, n, &d->out_nodeid);
		d->has_out_fh = fuse_reply_new_fh(x->opcode, pl, n, &d->out_fh);
	}
}

bool trace_init_params(const void *reply, size_t len, struct fuse_wire_params *wp,
		       uint32_t *major)
{
	struct fuse_out_header oh;
	struct fuse_init_out io;
	struct fuse_cursor c = cur_make(reply, len);

	if (!cur_copy(&c, &oh, sizeof oh, sizeof oh) || oh.error != 0)
		return false;
	/* 7.5 and older replied with just major/minor (8 bytes); copy what
	 * is there, the rest reads as 0. */
	if (cur_left(&c) < 8)
		return false;
	cur_copy(&c, &io, sizeof io, cur_left(&c) < sizeof io ? cur_left(&c) : sizeof io);
	wp->minor = io.minor;
	wp->flags = io.flags;
	if (io.flags & FUSE_INIT_EXT)
		wp->flags |= (uint64_t)io.flags2 << 32;
	if (major)
		*major = io.major;
	return true;
}
