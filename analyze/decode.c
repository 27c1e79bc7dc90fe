/* \summary: bounds-checked extraction of names, nodes and sizes from trace
 * bytes (see decode.h), driven by the abi opcode table. */
#include <stddef.h>
#include <string.h>
#include "cursor.h"
#include "decode.h"
#include "opcodes.h"

#define IN_HDR  sizeof(struct fuse_in_header)
#define OUT_HDR sizeof(struct fuse_out_header)

void an_decode_names(const struct fp_trace_exchange *x, const struct fuse_wire_params *wp,
		     struct an_names *nm)
{
	const struct fuse_op *op = fuse_op_get(x->opcode);
	struct fuse_cursor c = cur_make(x->req, x->req_caplen);
	const uint8_t *fixed;
	uint32_t fixed_len;

	memset(nm, 0, sizeof *nm);
	if (!op || !cur_pull(&c, IN_HDR))
		return;
	fixed_len = fuse_op_in_size(op, wp->minor, wp->flags);
	fixed = cur_pull(&c, fixed_len);
	if (!fixed)
		return;
	/* where the second inode sits is the opcode table's to say */
	if (op->node2_off >= 0 && (uint32_t)op->node2_off + sizeof nm->node2 <= fixed_len) {
		memcpy(&nm->node2, fixed + op->node2_off, sizeof nm->node2);
		nm->has_node2 = true;
	}
	if (x->opcode == FUSE_RENAME2)
		memcpy(&nm->rename_flags, fixed + offsetof(struct fuse_rename2_in, flags),
		       sizeof nm->rename_flags);
	else if (x->opcode == FUSE_FORGET)
		memcpy(&nm->forget_nlookup, fixed, sizeof nm->forget_nlookup);
	if (op->nnames >= 1)
		nm->name = cur_pull_str(&c, NULL);
	if (op->nnames >= 2 && nm->name)
		nm->name2 = cur_pull_str(&c, NULL);
}

bool an_decode_new_node(const struct fp_trace_exchange *x, uint64_t *nodeid)
{
	const struct fuse_op *op = fuse_op_get(x->opcode);
	struct fuse_entry_out eo;

	if (!op || !(op->flags & FOP_NEW_NODE) || x->error || !x->reply ||
	    x->reply_caplen < OUT_HDR + offsetof(struct fuse_entry_out, nodeid) + 8)
		return false;
	memcpy(&eo.nodeid, (const uint8_t *)x->reply + OUT_HDR + offsetof(struct fuse_entry_out, nodeid),
	       sizeof eo.nodeid);
	*nodeid = eo.nodeid;
	return eo.nodeid != 0;
}

bool an_decode_forget_one(const struct fp_trace_exchange *x, uint32_t i,
			  uint64_t *nodeid, uint64_t *nlookup)
{
	struct fuse_cursor c = cur_make(x->req, x->req_caplen);
	struct fuse_batch_forget_in bf;
	struct fuse_forget_one one;

	if (x->opcode != FUSE_BATCH_FORGET || !cur_pull(&c, IN_HDR) ||
	    !cur_copy(&c, &bf, sizeof bf, sizeof bf) || i >= bf.count)
		return false;
	if ((size_t)i * sizeof one > cur_left(&c) || !cur_pull(&c, (size_t)i * sizeof one) ||
	    !cur_copy(&c, &one, sizeof one, sizeof one))
		return false;
	*nodeid = one.nodeid;
	*nlookup = one.nlookup;
	return true;
}

bool an_decode_direntplus(const struct fp_trace_exchange *x, uint32_t *off,
			  uint64_t *nodeid, const char **name, uint32_t *namelen)
{
	struct fuse_cursor c;
	struct fuse_direntplus d;
	size_t len;

	if (x->opcode != FUSE_READDIRPLUS || x->error || !x->reply || x->reply_caplen < OUT_HDR)
		return false;
	c = cur_make((const uint8_t *)x->reply + OUT_HDR, x->reply_caplen - OUT_HDR);
	if (!cur_pull(&c, *off))
		return false;
	if (!cur_copy(&c, &d, sizeof d, FUSE_NAME_OFFSET_DIRENTPLUS))
		return false;
	if (d.dirent.namelen == 0 || d.dirent.namelen > FUSE_NAME_MAX ||
	    cur_left(&c) < d.dirent.namelen)
		return false;
	*nodeid = d.entry_out.nodeid;
	*name = (const char *)c.p;
	*namelen = d.dirent.namelen;
	len = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + d.dirent.namelen);
	*off += (uint32_t)len;
	return true;
}

uint64_t an_data_bytes(const struct fp_trace_exchange *x, const struct fuse_wire_params *wp)
{
	const struct fuse_op *op = fuse_op_get(x->opcode);
	uint64_t head;

	if (!op)
		return 0;
	if (op->data == FUSE_D_WRITE) {
		head = IN_HDR + fuse_op_in_size(op, wp->minor, wp->flags);
		return x->req_len > head ? x->req_len - head : 0;
	}
	if (op->reply == FUSE_R_DATA && !x->error && x->reply_len > OUT_HDR)
		return x->reply_len - OUT_HDR;
	return 0;
}

bool an_decode_init_reply(const void *msg, uint32_t len, struct fuse_wire_params *wp,
			  uint32_t *major)
{
	struct fuse_cursor c = cur_make(msg, len);
	struct fuse_out_header oh;
	struct fuse_init_out io;
	size_t n;

	if (!cur_copy(&c, &oh, sizeof oh, sizeof oh) || oh.error)
		return false;
	n = cur_left(&c) < sizeof io ? cur_left(&c) : sizeof io;
	if (n < 12 || !cur_copy(&c, &io, sizeof io, n) || io.major != FUSE_KERNEL_VERSION)
		return false;
	wp->minor = io.minor;
	wp->flags = io.flags;
	if (io.flags & FUSE_INIT_EXT)
		wp->flags |= (uint64_t)io.flags2 << 32;
	*major = io.major;
	return true;
}
