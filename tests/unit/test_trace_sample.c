/* Description: writes a sample trace (sqlite and pcap of the same run)
 * for the tshark dissector test: the generator's mix from two workers
 * (LOOKUP hit/ENOENT, GETATTR, OPEN, READ, WRITE, FORGET, SETATTR, INIT),
 * plus CREATE, MKDIR, UNLINK, RENAME, READDIR, STATFS, GETXATTR (ENODATA),
 * RELEASE and FLUSH, notifications, events and a pending request.
 *
 *   test_trace_sample DB PCAP [SNAPLEN]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuse_kernel.h"
#include "trace.h"
#include "test_trace_gen.h"

static uint8_t req[8192], rep[8192];

static uint32_t in(uint32_t len, uint32_t op, uint64_t unique, uint64_t node)
{
	struct fuse_in_header h = { .len = len, .opcode = op, .unique = unique, .nodeid = node,
				    .uid = 0, .gid = 0, .pid = 777 };

	memcpy(req, &h, sizeof h);
	return len;
}

static uint32_t out(uint32_t len, int32_t error, uint64_t unique)
{
	struct fuse_out_header h = { .len = len, .error = error, .unique = unique };

	memcpy(rep, &h, sizeof h);
	return len;
}

static void emit(struct fp_trace *t, uint32_t op, uint32_t rqlen, uint32_t rplen, int32_t error,
		 uint64_t unique, uint64_t node, uint64_t tr)
{
	struct fp_trace_exchange x = {
		.unique = unique, .nodeid = node, .opcode = op, .pid = 777, .worker = 1,
		.error = error, .t_read = tr, .t_sent = tr + 3, .t_reply = tr + 40, .t_written = tr + 50,
		.req = req, .req_len = rqlen, .reply = rep, .reply_len = rplen, .comm = "sample",
	};

	fp_trace_exchange(t, 1, &x);
}

static void extras(struct fp_trace *t)
{
	uint64_t u = 900000, tr = GEN_BASE_T + 10000000;

	for (int k = 0; k < 20; k++, u += 10, tr += 10000) {
		uint32_t n;

		/* CREATE "new-k" 0644 O_WRONLY|O_CREAT|O_TRUNC */
		{
			struct fuse_create_in ci = { .flags = 01 | 0100 | 01000, .mode = 0100644, .umask = 022 };
			struct fuse_entry_out eo = { .nodeid = 5000 + (uint64_t)k, .attr.ino = 5000 + (uint64_t)k,
						     .attr.mode = 0100644, .attr.nlink = 1 };
			struct fuse_open_out oo = { .fh = 0xabc0 + (uint64_t)k };

			memcpy(req + 40, &ci, sizeof ci);
			n = (uint32_t)sprintf((char *)req + 40 + sizeof ci, "new-%d", k) + 1;
			memcpy(rep + 16, &eo, sizeof eo);
			memcpy(rep + 16 + sizeof eo, &oo, sizeof oo);
			emit(t, FUSE_CREATE, in(40 + sizeof ci + n, FUSE_CREATE, u, 1),
			     out(16 + sizeof eo + sizeof oo, 0, u), 0, u, 1, tr);
		}
		/* MKDIR "dir-k" */
		{
			struct fuse_mkdir_in mi = { .mode = 040755, .umask = 022 };
			struct fuse_entry_out eo = { .nodeid = 6000 + (uint64_t)k, .attr.mode = 040755 };

			memcpy(req + 40, &mi, sizeof mi);
			n = (uint32_t)sprintf((char *)req + 40 + sizeof mi, "dir-%d", k) + 1;
			memcpy(rep + 16, &eo, sizeof eo);
			emit(t, FUSE_MKDIR, in(40 + sizeof mi + n, FUSE_MKDIR, u + 1, 1),
			     out(16 + sizeof eo, k % 5 ? 0 : -EEXIST, u + 1), k % 5 ? 0 : -EEXIST,
			     u + 1, 1, tr + 100);
			if (k % 5 == 0)
				out(16, -EEXIST, u + 1);
		}
		/* UNLINK, RENAME */
		n = (uint32_t)sprintf((char *)req + 40, "old-%d", k) + 1;
		emit(t, FUSE_UNLINK, in(40 + n, FUSE_UNLINK, u + 2, 1), out(16, 0, u + 2), 0, u + 2, 1,
		     tr + 200);
		{
			struct fuse_rename_in ri = { .newdir = 7 };
			uint32_t a = (uint32_t)sprintf((char *)req + 48, "a-%d", k) + 1;
			uint32_t b = (uint32_t)sprintf((char *)req + 48 + a, "b-%d", k) + 1;

			memcpy(req + 40, &ri, sizeof ri);
			emit(t, FUSE_RENAME, in(48 + a + b, FUSE_RENAME, u + 3, 1), out(16, 0, u + 3), 0,
			     u + 3, 1, tr + 300);
		}
		/* READDIR with three entries */
		{
			struct fuse_read_in ri = { .fh = 0xd1, .size = 4096 };
			const char *names[] = { ".", "..", "hello.txt" };
			uint32_t o = 16;

			memcpy(req + 40, &ri, sizeof ri);
			for (int e = 0; e < 3; e++) {
				struct fuse_dirent de = { .ino = 10 + (uint64_t)e, .off = (uint64_t)e + 1,
							  .namelen = (uint32_t)strlen(names[e]), .type = 4 };

				memcpy(rep + o, &de, sizeof de);
				memcpy(rep + o + sizeof de, names[e], de.namelen);
				o += (uint32_t)((sizeof de + de.namelen + 7) & ~7u);
			}
			emit(t, FUSE_READDIR, in(40 + sizeof ri, FUSE_READDIR, u + 4, 1), out(o, 0, u + 4), 0,
			     u + 4, 1, tr + 400);
		}
		/* STATFS, GETXATTR ENODATA, FLUSH, RELEASE */
		{
			struct fuse_statfs_out so = { .st.blocks = 1000, .st.bfree = 500, .st.bsize = 4096 };
			struct fuse_getxattr_in gi = { .size = 0 };
			struct fuse_flush_in fi = { .fh = 0xabc0 + (uint64_t)k };
			struct fuse_release_in rl = { .fh = 0xabc0 + (uint64_t)k };

			memcpy(rep + 16, &so, sizeof so);
			emit(t, FUSE_STATFS, in(40, FUSE_STATFS, u + 5, 1), out(16 + sizeof so, 0, u + 5), 0,
			     u + 5, 1, tr + 500);
			memcpy(req + 40, &gi, sizeof gi);
			n = (uint32_t)sprintf((char *)req + 48, "security.capability") + 1;
			emit(t, FUSE_GETXATTR, in(48 + n, FUSE_GETXATTR, u + 6, 5000), out(16, -ENODATA, u + 6),
			     -ENODATA, u + 6, 5000, tr + 600);
			memcpy(req + 40, &fi, sizeof fi);
			emit(t, FUSE_FLUSH, in(40 + sizeof fi, FUSE_FLUSH, u + 7, 5000), out(16, 0, u + 7), 0,
			     u + 7, 5000, tr + 700);
			memcpy(req + 40, &rl, sizeof rl);
			emit(t, FUSE_RELEASE, in(40 + sizeof rl, FUSE_RELEASE, u + 8, 5000), out(16, 0, u + 8),
			     0, u + 8, 5000, tr + 800);
		}
	}
}

int main(int argc, char **argv)
{
	struct fp_trace_opts o = { .nworkers = 2, .snaplen = FP_TRACE_SNAPLEN_ALL,
				   .transport = "fusedev", .mountpoint = "/mnt/sample" };
	struct fp_trace *t;
	struct gen *g = malloc(sizeof *g);
	uint8_t note[128];
	char err[256];

	if (argc < 3) {
		fprintf(stderr, "usage: %s DB PCAP [SNAPLEN]\n", argv[0]);
		return 2;
	}
	o.db_path = argv[1];
	o.pcap_path = argv[2];
	if (argc > 3)
		o.snaplen = (uint32_t)strtoul(argv[3], NULL, 0);
	o.argc = argc;
	o.argv = argv;
	if (fp_trace_open(&t, &o, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (uint64_t i = 0; i < 600; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i, g, &x);
		fp_trace_exchange(t, 0, &x);
		if (i % 50 == 0)
			fp_trace_notify(t, 0, FP_DIR_PROXY_TO_KERNEL, note, gen_notify(note, i),
					x.t_read + 1);
	}
	extras(t);
	fp_trace_event(t, FP_EV_BACKEND_START, "backend pid 1234 started");
	{
		struct fp_trace_exchange x;

		gen_exchange(0, 601, g, &x);
		x.unique = 999999;
		fp_trace_pending(t, &x);
	}
	free(g);
	if (fp_trace_close(t, NULL, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}
