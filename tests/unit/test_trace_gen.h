/* Deterministic FUSE exchanges for the trace tests: exchange i of worker w
 * is always the same bytes, so a reader's output can be checked against a
 * regenerated copy.  unique = (w + 1) << 32 | (i + 1). */
#ifndef TEST_TRACE_GEN_H
#define TEST_TRACE_GEN_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "fuse_kernel.h"
#include "trace.h"

#define GEN_BASE_T 1000000000000ull      /* t_read of exchange 0 */
#define GEN_KINDS 9

struct gen {
	union { uint8_t req[16384]; uint64_t a1; };
	union { uint8_t reply[16384]; uint64_t a2; };
	char comm[16];
};

static inline uint64_t gen_unique(int w, uint64_t i)
{
	return ((uint64_t)(w + 1) << 32) | (i + 1);
}

static inline void gen_split(uint64_t unique, int *w, uint64_t *i)
{
	*w = (int)(unique >> 32) - 1;
	*i = (unique & 0xffffffffu) - 1;
}

static inline uint32_t gen_in(struct gen *g, uint32_t len, uint32_t op, uint64_t unique,
			      uint64_t node)
{
	struct fuse_in_header h = { .len = len, .opcode = op, .unique = unique, .nodeid = node,
				    .uid = 1000 + (uint32_t)(unique % 7), .gid = 100,
				    .pid = 4000 + (uint32_t)(unique % 13) };

	memcpy(g->req, &h, sizeof h);
	return len;
}

static inline uint32_t gen_out(struct gen *g, uint32_t len, int32_t error, uint64_t unique)
{
	struct fuse_out_header h = { .len = len, .error = error, .unique = unique };

	memcpy(g->reply, &h, sizeof h);
	return len;
}

/* Fill x (pointing into g) with exchange i of worker w.  Kinds: LOOKUP
 * hit, LOOKUP ENOENT, GETATTR, OPEN, READ (i % 4000 bytes), WRITE (i % 3000
 * bytes), FORGET (no reply), SETATTR (size), INIT (only for i == 0). */
static inline void gen_exchange(int w, uint64_t i, struct gen *g, struct fp_trace_exchange *x)
{
	uint64_t u = gen_unique(w, i), node = 1 + i % 50, fh = 0x1000 + i % 5;
	uint32_t kind = i == 0 ? 8 : (uint32_t)(i % (GEN_KINDS - 1));
	char name[32];
	int n;

	memset(x, 0, sizeof *x);
	x->unique = u;
	x->nodeid = node;
	x->uid = 1000 + (uint32_t)(u % 7);
	x->gid = 100;
	x->pid = 4000 + (uint32_t)(u % 13);
	x->worker = w;
	x->t_read = GEN_BASE_T + i * 1000 + (uint64_t)w;
	x->t_sent = x->t_read + 10;
	x->t_reply = x->t_read + 20 + i % 100;
	x->t_written = x->t_reply + 5;
	snprintf(g->comm, sizeof g->comm, "proc%u", x->pid % 5);
	x->comm = g->comm;
	x->req = g->req;
	x->reply = g->reply;

	switch (kind) {
	case 0:
	case 1: {
		n = snprintf(name, sizeof name, "file-%llu.txt", (unsigned long long)(i % 97));
		x->opcode = FUSE_LOOKUP;
		memcpy(g->req + 40, name, (size_t)n + 1);
		x->req_len = gen_in(g, 40 + (uint32_t)n + 1, FUSE_LOOKUP, u, node);
		if (kind == 1) {
			x->error = -ENOENT;
			x->reply_len = gen_out(g, 16, -ENOENT, u);
		} else {
			struct fuse_entry_out eo = { .nodeid = 100 + i, .generation = 1,
						     .attr.ino = 100 + i, .attr.mode = 0100644 };

			memcpy(g->reply + 16, &eo, sizeof eo);
			x->reply_len = gen_out(g, 16 + sizeof eo, 0, u);
		}
		break;
	}
	case 2: {
		struct fuse_getattr_in gi = { 0 };
		struct fuse_attr_out ao = { .attr_valid = 1, .attr.ino = node, .attr.size = i };

		x->opcode = FUSE_GETATTR;
		memcpy(g->req + 40, &gi, sizeof gi);
		x->req_len = gen_in(g, 40 + sizeof gi, FUSE_GETATTR, u, node);
		memcpy(g->reply + 16, &ao, sizeof ao);
		x->reply_len = gen_out(g, 16 + sizeof ao, 0, u);
		break;
	}
	case 3: {
		struct fuse_open_in oi = { .flags = 02 };
		struct fuse_open_out oo = { .fh = fh, .open_flags = 1 };

		x->opcode = FUSE_OPEN;
		memcpy(g->req + 40, &oi, sizeof oi);
		x->req_len = gen_in(g, 40 + sizeof oi, FUSE_OPEN, u, node);
		memcpy(g->reply + 16, &oo, sizeof oo);
		x->reply_len = gen_out(g, 16 + sizeof oo, 0, u);
		break;
	}
	case 4: {
		uint32_t size = (uint32_t)(i % 4000);
		struct fuse_read_in ri = { .fh = fh, .offset = i * 4096, .size = 4096 };

		x->opcode = FUSE_READ;
		memcpy(g->req + 40, &ri, sizeof ri);
		x->req_len = gen_in(g, 40 + sizeof ri, FUSE_READ, u, node);
		for (uint32_t k = 0; k < size; k++)
			g->reply[16 + k] = (uint8_t)(i + k);
		x->reply_len = gen_out(g, 16 + size, 0, u);
		break;
	}
	case 5: {
		uint32_t size = (uint32_t)(i % 3000);
		struct fuse_write_in wi = { .fh = fh, .offset = i * 512, .size = size };
		struct fuse_write_out wo = { .size = size };

		x->opcode = FUSE_WRITE;
		memcpy(g->req + 40, &wi, sizeof wi);
		for (uint32_t k = 0; k < size; k++)
			g->req[40 + sizeof wi + k] = (uint8_t)(i * 3 + k);
		x->req_len = gen_in(g, 40 + sizeof wi + size, FUSE_WRITE, u, node);
		memcpy(g->reply + 16, &wo, sizeof wo);
		x->reply_len = gen_out(g, 16 + sizeof wo, 0, u);
		break;
	}
	case 6: {
		struct fuse_forget_in fi = { .nlookup = 1 + i % 3 };

		x->opcode = FUSE_FORGET;
		memcpy(g->req + 40, &fi, sizeof fi);
		x->req_len = gen_in(g, 40 + sizeof fi, FUSE_FORGET, u, node);
		x->reply = NULL;
		x->flags = FP_TRACE_F_NOREPLY;
		x->t_sent = x->t_reply = x->t_written = 0;
		break;
	}
	case 7: {
		struct fuse_setattr_in si = { .valid = FATTR_SIZE | FATTR_FH, .fh = fh, .size = i * 7 };
		struct fuse_attr_out ao = { .attr_valid = 1, .attr.ino = node, .attr.size = i * 7 };

		x->opcode = FUSE_SETATTR;
		memcpy(g->req + 40, &si, sizeof si);
		x->req_len = gen_in(g, 40 + sizeof si, FUSE_SETATTR, u, node);
		memcpy(g->reply + 16, &ao, sizeof ao);
		x->reply_len = gen_out(g, 16 + sizeof ao, 0, u);
		x->flags = i % 16 == 7 ? FP_TRACE_F_INTERRUPTED : 0;
		break;
	}
	case 8: {
		struct fuse_init_in ii = { .major = 7, .minor = 45, .max_readahead = 131072,
					   .flags = (uint32_t)(FUSE_INIT_EXT | FUSE_ASYNC_READ) };
		struct fuse_init_out io = { .major = 7, .minor = 45, .max_readahead = 131072,
					    .flags = (uint32_t)(FUSE_INIT_EXT | FUSE_ASYNC_READ),
					    .max_write = 1 << 20, .max_pages = 256 };

		x->opcode = FUSE_INIT;
		memcpy(g->req + 40, &ii, sizeof ii);
		x->req_len = gen_in(g, 40 + sizeof ii, FUSE_INIT, u, 0);
		x->nodeid = 0;
		memcpy(g->reply + 16, &io, sizeof io);
		x->reply_len = gen_out(g, 16 + sizeof io, 0, u);
		break;
	}
	}
}

/* An INVAL_ENTRY notification for parent p, name "n<k>". */
static inline uint32_t gen_notify(uint8_t *buf, uint64_t k)
{
	struct fuse_notify_inval_entry_out ie = { .parent = 1 + k % 9 };
	char name[24];
	int n = snprintf(name, sizeof name, "n%llu", (unsigned long long)k);
	struct fuse_out_header h = { .len = (uint32_t)(16 + sizeof ie + (size_t)n + 1),
				     .error = FUSE_NOTIFY_INVAL_ENTRY, .unique = 0 };

	ie.namelen = (uint32_t)n;
	memcpy(buf, &h, sizeof h);
	memcpy(buf + 16, &ie, sizeof ie);
	memcpy(buf + 16 + sizeof ie, name, (size_t)n + 1);
	return h.len;
}

#endif
