/* \summary: replay-gen: record golden traces without a kernel, for
 * fusereplay's tests and benchmark.
 *
 * It plays the kernel's part: sends INIT and then a scripted workload of
 * requests, shaped as the kernel shapes them, to a target (the in-process
 * passthrough or a daemon on a socketpair, the same targets fusereplay
 * uses) and records every exchange with the trace library, as fuseproxy -w
 * would.  Some steps send several requests before collecting the replies,
 * so the recording has overlapping requests for --concurrency recorded.
 *
 *   replay-gen [-w T.db] [--pcap T.pcap] (--passthrough DIR | --backend CMD)
 *              WORKLOAD [N]
 *
 * Workloads:
 *   conformance  every common opcode on a fixture that holds data.txt
 *                (reads it) and gets a tree of its own (d/ ...)
 *   bench N      creates 64 files, then N requests of a LOOKUP/GETATTR/
 *                OPEN/READ/RELEASE/FORGET mix over them, batches of 4
 *   truncate     create, write, truncate, stat a file (memfs
 *                --bug-truncate-size answers the truncate wrongly)
 *   crash        badfs: reads "good", then reads "crash" (the daemon dies;
 *                the READ is recorded as pending)
 *   hang         badfs: reads "hang", never answered (recorded pending)
 *   pending      memfs --slow-ms: builds a tree, starts two slow READs,
 *                then kills the daemon: both are recorded as pending
 *   interrupt    memfs --slow-ms: a slow READ interrupted by an INTERRUPT
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "fuse_kernel.h"
#include "opcodes.h"
#include "validate.h"
#include "target.h"
#include "trace.h"

#define RBUF (2u << 20)
#define MAXQ 64

struct out {
	uint32_t len;             /* reply length, 0 = none */
	int err;                  /* 0 or -errno */
	uint8_t *p;               /* payload (after fuse_out_header) */
};

struct pend {
	uint64_t unique;
	uint8_t *req;
	uint32_t len;
	uint64_t t_read;
	uint32_t flags;
	uint8_t *reply;
	uint32_t rlen;
};

struct gen {
	struct rp_target *t;
	struct fp_trace *tr;
	uint64_t unique;
	uint32_t uid, gid, pid;
	struct fuse_wire_params wp;
	uint8_t *rbuf;
	struct pend q[MAXQ];      /* sent, not yet answered */
	int nq;
	uint8_t last[RBUF];       /* payload of the last synchronous reply */
	struct pend init;         /* INIT, kept while --warmup runs unrecorded */
	uint8_t *init_req, *init_reply;
	uint64_t init_done;
	uint64_t requests;
};

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "replay-gen: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ns(void)
{
	return fp_trace_now();
}

static void record(struct gen *g, struct pend *p, uint64_t t_done, bool pending)
{
	const struct fuse_in_header *h = (const void *)p->req;
	struct fp_trace_exchange x;

	if (!g->tr) {
		/* before the trace is open (--warmup): keep INIT for it */
		if (h->opcode == FUSE_INIT && !g->init_req) {
			g->init_req = malloc(p->len);
			g->init_reply = malloc(p->rlen);
			if (!g->init_req || !g->init_reply)
				die("out of memory");
			memcpy(g->init_req, p->req, p->len);
			memcpy(g->init_reply, p->reply, p->rlen);
			g->init = *p;
			g->init.req = g->init_req;
			g->init.reply = g->init_reply;
			g->init_done = t_done;
		}
		return;
	}

	x = (struct fp_trace_exchange){ FP_TRACE_IDS(h) };
	x.t_read = p->t_read;
	x.req = p->req;
	x.req_len = p->len;
	x.comm = "replay-gen";
	x.flags = p->flags;
	if (pending) {
		fp_trace_pending(g->tr, &x);
		return;
	}
	x.t_sent = p->t_read;
	x.t_reply = t_done;
	x.t_written = t_done;
	if (p->reply) {
		x.reply = p->reply;
		x.reply_len = p->rlen;
		x.error = ((const struct fuse_out_header *)p->reply)->error;
	} else {
		x.flags |= FP_TRACE_F_NOREPLY;
	}
	fp_trace_exchange(g->tr, 0, &x);
}

/* Build a request: fixed arg (its size for the negotiated protocol), up
 * to two names, then data. */
static uint8_t *build(struct gen *g, uint32_t op, uint64_t node, const void *arg,
		      size_t arglen, const char *n1, const char *n2, const void *data,
		      size_t dlen, uint32_t *lenp)
{
	const struct fuse_op *o = fuse_op_get(op);
	size_t fixed = op == FUSE_INIT ? arglen : fuse_op_in_size(o, g->wp.minor, g->wp.flags);
	size_t l1 = n1 ? strlen(n1) + 1 : 0, l2 = n2 ? strlen(n2) + 1 : 0;
	size_t len = sizeof(struct fuse_in_header) + fixed + l1 + l2 + dlen;
	uint8_t *m = calloc(1, len);
	struct fuse_in_header *h = (void *)m;

	if (!m)
		die("out of memory");
	h->len = (uint32_t)len;
	h->opcode = op;
	h->unique = g->unique += 2;
	h->nodeid = node;
	h->uid = g->uid;
	h->gid = g->gid;
	h->pid = g->pid;
	uint8_t *p = m + sizeof *h;
	if (arg)
		memcpy(p, arg, arglen < fixed ? arglen : fixed);
	p += fixed;
	if (n1)
		memcpy(p, n1, l1);
	p += l1;
	if (n2)
		memcpy(p, n2, l2);
	p += l2;
	if (dlen)
		memcpy(p, data, dlen);
	*lenp = (uint32_t)len;
	return m;
}

/* Send without waiting; returns the queue slot. */
static int gsend(struct gen *g, uint32_t op, uint64_t node, const void *arg, size_t arglen,
		 const char *n1, const char *n2, const void *data, size_t dlen)
{
	const struct fuse_op *o = fuse_op_get(op);
	struct pend p = { 0 };
	int r;

	p.req = build(g, op, node, arg, arglen, n1, n2, data, dlen, &p.len);
	p.unique = ((struct fuse_in_header *)p.req)->unique;
	p.t_read = now_ns();
	r = rp_target_send(g->t, p.req, p.len);
	if (r < 0)
		die("send %s: %s", fuse_opname(op), strerror(-r));
	g->requests++;
	if ((o->flags & FOP_NOREPLY) || op == FUSE_INTERRUPT) {
		record(g, &p, p.t_read, false);
		free(p.req);
		return -1;
	}
	if (g->nq == MAXQ)
		die("too many requests in flight");
	g->q[g->nq] = p;
	return g->nq++;
}

/* Collect replies until at most `left` requests are in flight.  timeout_ms:
 * how long to wait for each; returns -1 if the target went away or timed
 * out (the rest stays queued). */
/* The next reply in g->rbuf: its length, 0 if the target went away, < 0 on
 * timeout.  Notifications (unique 0) are recorded and skipped, and a
 * message shorter than a header is fatal, so callers may read *oh. */
static ssize_t recv_reply(struct gen *g, int timeout_ms)
{
	for (;;) {
		ssize_t n = rp_target_recv(g->t, g->rbuf, RBUF, timeout_ms);
		if (n <= 0)
			return n;
		const struct fuse_out_header *oh = (const void *)g->rbuf;
		if ((size_t)n < sizeof *oh)
			die("short message from the target");
		if (oh->unique != 0)
			return n;
		if (g->tr)
			fp_trace_notify(g->tr, 0, FP_DIR_BACKEND_TO_PROXY, g->rbuf, (size_t)n,
					now_ns());
	}
}

/* Records queued request i with the reply of n bytes in g->rbuf and drops it. */
static void complete(struct gen *g, int i, uint32_t n)
{
	struct pend p = g->q[i];

	p.reply = g->rbuf;
	p.rlen = n;
	record(g, &p, now_ns(), false);
	free(p.req);
	g->q[i] = g->q[--g->nq];
}

static int gcollect(struct gen *g, int left, int timeout_ms)
{
	while (g->nq > left) {
		ssize_t n = recv_reply(g, timeout_ms);
		if (n <= 0)
			return -1;
		const struct fuse_out_header *oh = (const void *)g->rbuf;
		int i;
		for (i = 0; i < g->nq; i++)
			if (g->q[i].unique == (oh->unique & ~FUSE_INT_REQ_BIT))
				break;
		if (i == g->nq || (oh->unique & FUSE_INT_REQ_BIT))
			continue;
		complete(g, i, (uint32_t)n);
	}
	return 0;
}

/* Synchronous call: returns the reply error; payload in g->last. */
static int call(struct gen *g, uint32_t op, uint64_t node, const void *arg, size_t arglen,
		const char *n1, const char *n2, const void *data, size_t dlen, uint32_t *plen)
{
	int slot = gsend(g, op, node, arg, arglen, n1, n2, data, dlen);
	uint64_t u;

	if (slot < 0)
		return 0;
	u = g->q[slot].unique;
	for (;;) {
		ssize_t n = recv_reply(g, 30000);
		if (n <= 0)
			die("%s: the target %s", fuse_opname(op), n == 0 ? "went away" : "timed out");
		const struct fuse_out_header *oh = (const void *)g->rbuf;
		int i;
		for (i = 0; i < g->nq; i++)
			if (g->q[i].unique == oh->unique)
				break;
		if (i == g->nq)
			continue;
		complete(g, i, (uint32_t)n);
		if (oh->unique != u)
			continue;
		if (plen)
			*plen = (uint32_t)n - (uint32_t)sizeof *oh;
		memcpy(g->last, g->rbuf + sizeof *oh, (size_t)n - sizeof *oh);
		return oh->error;
	}
}

/* ---- request helpers (the kernel's shapes) ------------------------------- */

static uint64_t lookup(struct gen *g, uint64_t parent, const char *name)
{
	struct fuse_entry_out e;
	if (call(g, FUSE_LOOKUP, parent, NULL, 0, name, NULL, NULL, 0, NULL))
		return 0;
	memcpy(&e, g->last, sizeof e);
	return e.nodeid;
}

static void forget(struct gen *g, uint64_t node, uint64_t n)
{
	struct fuse_forget_in f = { n };
	gsend(g, FUSE_FORGET, node, &f, sizeof f, NULL, NULL, NULL, 0);
}

static uint64_t mkdir_(struct gen *g, uint64_t parent, const char *name, uint32_t mode)
{
	struct fuse_mkdir_in m = { .mode = mode, .umask = 022 };
	struct fuse_entry_out e;
	if (call(g, FUSE_MKDIR, parent, &m, sizeof m, name, NULL, NULL, 0, NULL))
		return 0;
	memcpy(&e, g->last, sizeof e);
	return e.nodeid;
}

/* CREATE: returns the node, fh in *fh */
static uint64_t create(struct gen *g, uint64_t parent, const char *name, uint32_t mode,
		       uint32_t flags, uint64_t *fh)
{
	struct fuse_create_in c = { .flags = flags | O_CREAT, .mode = mode, .umask = 022 };
	struct { struct fuse_entry_out e; struct fuse_open_out o; } r;
	if (call(g, FUSE_CREATE, parent, &c, sizeof c, name, NULL, NULL, 0, NULL))
		return 0;
	memcpy(&r, g->last, sizeof r);
	*fh = r.o.fh;
	return r.e.nodeid;
}

static int open_(struct gen *g, uint32_t op, uint64_t node, uint32_t flags, uint64_t *fh)
{
	struct fuse_open_in o = { .flags = flags };
	struct fuse_open_out r;
	int e = call(g, op, node, &o, sizeof o, NULL, NULL, NULL, 0, NULL);
	if (e)
		return e;
	memcpy(&r, g->last, sizeof r);
	*fh = r.fh;
	return 0;
}

static void release(struct gen *g, uint32_t op, uint64_t node, uint64_t fh, uint32_t flags)
{
	struct fuse_release_in r = { .fh = fh, .flags = flags };
	call(g, op, node, &r, sizeof r, NULL, NULL, NULL, 0, NULL);
}

static void write_(struct gen *g, uint64_t node, uint64_t fh, uint64_t off, const void *d,
		   uint32_t n)
{
	struct fuse_write_in w = { .fh = fh, .offset = off, .size = n, .flags = O_RDWR };
	call(g, FUSE_WRITE, node, &w, sizeof w, NULL, NULL, d, n, NULL);
}

static int read_(struct gen *g, uint64_t node, uint64_t fh, uint64_t off, uint32_t n)
{
	struct fuse_read_in r = { .fh = fh, .offset = off, .size = n, .flags = O_RDONLY };
	return call(g, FUSE_READ, node, &r, sizeof r, NULL, NULL, NULL, 0, NULL);
}

static void getattr(struct gen *g, uint64_t node)
{
	struct fuse_getattr_in a = { 0 };
	call(g, FUSE_GETATTR, node, &a, sizeof a, NULL, NULL, NULL, 0, NULL);
}

static void setattr(struct gen *g, uint64_t node, uint32_t valid, uint64_t size, uint32_t mode,
		    uint64_t fh)
{
	struct fuse_setattr_in s = { .valid = valid, .size = size, .mode = mode, .fh = fh };
	call(g, FUSE_SETATTR, node, &s, sizeof s, NULL, NULL, NULL, 0, NULL);
}

/* Read a whole directory READDIR(PLUS) chunk by chunk, as getdents does;
 * READDIRPLUS entries are forgotten afterwards (one lookup each). */
static void list_dir(struct gen *g, uint64_t dir, bool plus, uint32_t chunk)
{
	uint64_t fh, off = 0;
	uint64_t refs[512];
	int nrefs = 0;

	if (open_(g, FUSE_OPENDIR, dir, O_RDONLY | O_DIRECTORY, &fh))
		return;
	for (int i = 0; i < 1000; i++) {
		struct fuse_read_in r = { .fh = fh, .offset = off, .size = chunk };
		uint32_t n = 0;
		if (call(g, plus ? FUSE_READDIRPLUS : FUSE_READDIR, dir, &r, sizeof r, NULL, NULL,
			 NULL, 0, &n) || !n)
			break;
		size_t p = 0, fixed = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
		while (p + fixed <= n) {
			struct fuse_direntplus e;
			memset(&e, 0, sizeof e);
			if (plus)
				memcpy(&e, g->last + p, fixed);
			else
				memcpy(&e.dirent, g->last + p, fixed);
			const char *name = (const char *)g->last + p + fixed;
			bool dot = name[0] == '.' && (e.dirent.namelen == 1 ||
						      (e.dirent.namelen == 2 && name[1] == '.'));
			if (plus && e.entry_out.nodeid && !dot && nrefs < 512)
				refs[nrefs++] = e.entry_out.nodeid;
			off = e.dirent.off;
			p += FUSE_DIRENT_ALIGN(fixed + e.dirent.namelen);
		}
	}
	release(g, FUSE_RELEASEDIR, dir, fh, O_RDONLY | O_DIRECTORY);
	if (nrefs) {
		/* the kernel drops them later in one BATCH_FORGET */
		struct { struct fuse_batch_forget_in b; struct fuse_forget_one e[512]; } bf;
		memset(&bf, 0, sizeof bf);
		bf.b.count = (uint32_t)nrefs;
		for (int i = 0; i < nrefs; i++) {
			bf.e[i].nodeid = refs[i];
			bf.e[i].nlookup = 1;
		}
		gsend(g, FUSE_BATCH_FORGET, 0, &bf.b, sizeof bf.b, NULL, NULL, bf.e,
		      (size_t)nrefs * sizeof bf.e[0]);
	}
}

/* ---- workloads ------------------------------------------------------------- */

static void w_conformance(struct gen *g)
{
	char buf[65536], name[64];
	uint64_t fh, fh2, d, sub, f, l, big, priv;
	uint32_t n;

	call(g, FUSE_STATFS, 1, NULL, 0, NULL, NULL, NULL, 0, NULL);
	getattr(g, 1);
	lookup(g, 1, "no-such-file");

	/* the fixture's own file: read it back */
	uint64_t data = lookup(g, 1, "data.txt");
	if (data && !open_(g, FUSE_OPEN, data, O_RDONLY, &fh)) {
		read_(g, data, fh, 0, 4096);
		read_(g, data, fh, 4096, 4096);
		struct fuse_flush_in fl = { .fh = fh };
		call(g, FUSE_FLUSH, data, &fl, sizeof fl, NULL, NULL, NULL, 0, NULL);
		release(g, FUSE_RELEASE, data, fh, O_RDONLY);
	}

	d = mkdir_(g, 1, "d", 0755);
	lookup(g, 1, "d");
	getattr(g, d);
	sub = mkdir_(g, d, "sub", 0750);
	f = create(g, d, "f.txt", 0644, O_RDWR, &fh);
	for (int i = 0; i < 4096; i++)
		buf[i] = (char)('a' + i % 26);
	write_(g, f, fh, 0, buf, 4096);
	write_(g, f, fh, 4096, "tail\n", 5);
	struct fuse_flush_in fl = { .fh = fh };
	call(g, FUSE_FLUSH, f, &fl, sizeof fl, NULL, NULL, NULL, 0, NULL);
	struct fuse_fsync_in fs = { .fh = fh };
	call(g, FUSE_FSYNC, f, &fs, sizeof fs, NULL, NULL, NULL, 0, NULL);

	/* locks on the open file */
	struct fuse_lk_in lk = { .fh = fh, .owner = 0x1234,
				 .lk = { .start = 0, .end = 99, .type = F_WRLCK, .pid = g->pid } };
	call(g, FUSE_GETLK, f, &lk, sizeof lk, NULL, NULL, NULL, 0, NULL);
	call(g, FUSE_SETLK, f, &lk, sizeof lk, NULL, NULL, NULL, 0, NULL);
	lk.owner = 0x5678;
	call(g, FUSE_GETLK, f, &lk, sizeof lk, NULL, NULL, NULL, 0, NULL);
	lk.owner = 0x1234;
	lk.lk.type = F_UNLCK;
	call(g, FUSE_SETLKW, f, &lk, sizeof lk, NULL, NULL, NULL, 0, NULL);
	struct fuse_lseek_in ls = { .fh = fh, .offset = 0, .whence = SEEK_DATA };
	call(g, FUSE_LSEEK, f, &ls, sizeof ls, NULL, NULL, NULL, 0, NULL);
	struct fuse_fallocate_in fa = { .fh = fh, .offset = 0, .length = 16384,
					.mode = 1 /* KEEP_SIZE */ };
	call(g, FUSE_FALLOCATE, f, &fa, sizeof fa, NULL, NULL, NULL, 0, NULL);
	release(g, FUSE_RELEASE, f, fh, O_RDWR);

	getattr(g, f);
	setattr(g, f, FATTR_SIZE, 100, 0, 0);
	setattr(g, f, FATTR_MODE, 0, 0600, 0);
	getattr(g, f);
	if (!open_(g, FUSE_OPEN, f, O_RDONLY, &fh)) {
		read_(g, f, fh, 0, 4096);
		read_(g, f, fh, 100, 4096);
		release(g, FUSE_RELEASE, f, fh, O_RDONLY);
	}

	/* names: symlink, hard link, fifo, renames */
	struct fuse_entry_out e;
	if (!call(g, FUSE_SYMLINK, d, NULL, 0, "link", "f.txt", NULL, 0, NULL)) {
		memcpy(&e, g->last, sizeof e);
		l = e.nodeid;
		call(g, FUSE_READLINK, l, NULL, 0, NULL, NULL, NULL, 0, NULL);
		forget(g, l, 1);
	}
	struct fuse_link_in li = { .oldnodeid = f };
	if (!call(g, FUSE_LINK, d, &li, sizeof li, "hard", NULL, NULL, 0, NULL))
		forget(g, f, 1);	/* LINK returns the same node: one more lookup */
	getattr(g, f);
	struct fuse_mknod_in mk = { .mode = S_IFIFO | 0644, .umask = 022 };
	if (!call(g, FUSE_MKNOD, d, &mk, sizeof mk, "fifo", NULL, NULL, 0, NULL)) {
		memcpy(&e, g->last, sizeof e);
		forget(g, e.nodeid, 1);
	}
	struct fuse_rename_in rn = { .newdir = d };
	call(g, FUSE_RENAME, d, &rn, sizeof rn, "hard", "hard2", NULL, 0, NULL);
	struct fuse_rename2_in rn2 = { .newdir = sub, .flags = 0 };
	call(g, FUSE_RENAME2, d, &rn2, sizeof rn2, "hard2", "moved", NULL, 0, NULL);
	rn2.newdir = d;
	rn2.flags = 1;	/* RENAME_NOREPLACE onto an existing name: EEXIST */
	call(g, FUSE_RENAME2, sub, &rn2, sizeof rn2, "moved", "f.txt", NULL, 0, NULL);

	/* xattrs */
	struct fuse_setxattr_in sx = { .size = 5 };
	call(g, FUSE_SETXATTR, f, &sx, sizeof sx, "user.test", NULL, "value", 5, NULL);
	struct fuse_getxattr_in gx = { .size = 0 };
	call(g, FUSE_GETXATTR, f, &gx, sizeof gx, "user.test", NULL, NULL, 0, NULL);
	gx.size = 256;
	call(g, FUSE_GETXATTR, f, &gx, sizeof gx, "user.test", NULL, NULL, 0, NULL);
	gx.size = 0;
	call(g, FUSE_LISTXATTR, f, &gx, sizeof gx, NULL, NULL, NULL, 0, NULL);
	gx.size = 4096;
	call(g, FUSE_LISTXATTR, f, &gx, sizeof gx, NULL, NULL, NULL, 0, NULL);
	call(g, FUSE_REMOVEXATTR, f, NULL, 0, "user.test", NULL, NULL, 0, NULL);
	call(g, FUSE_GETXATTR, f, &gx, sizeof gx, "user.test", NULL, NULL, 0, NULL);
	struct fuse_access_in ac = { .mask = R_OK | W_OK };
	call(g, FUSE_ACCESS, d, &ac, sizeof ac, NULL, NULL, NULL, 0, NULL);

	/* a directory of many files: several READDIR replies, concurrent LOOKUPs */
	uint64_t many = mkdir_(g, d, "many", 0755), nodes[200];
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof name, "file-%03d-with-a-longer-name", i);
		nodes[i] = create(g, many, name, 0644, O_WRONLY, &fh);
		write_(g, nodes[i], fh, 0, name, (uint32_t)strlen(name));
		release(g, FUSE_RELEASE, nodes[i], fh, O_WRONLY);
	}
	list_dir(g, many, false, 1024);
	list_dir(g, many, true, 4096);
	for (int i = 0; i < 200; i += 8) {
		/* eight at once, as parallel stat(2) calls would */
		for (int k = 0; k < 8; k++) {
			struct fuse_getattr_in a = { 0 };
			gsend(g, FUSE_GETATTR, nodes[i + k], &a, sizeof a, NULL, NULL, NULL, 0);
		}
		gcollect(g, 0, 30000);
	}
	for (int i = 0; i < 200; i += 4) {
		for (int k = 0; k < 4; k++) {
			snprintf(name, sizeof name, "file-%03d-with-a-longer-name", i + k);
			gsend(g, FUSE_LOOKUP, many, NULL, 0, name, NULL, NULL, 0);
		}
		gcollect(g, 0, 30000);
	}
	for (int i = 0; i < 200; i++)
		forget(g, nodes[i], 2);	/* CREATE + LOOKUP */

	/* a bigger file, written and read in 64 KiB pieces */
	big = create(g, d, "big", 0644, O_RDWR, &fh2);
	for (int i = 0; i < (int)sizeof buf; i++)
		buf[i] = (char)(i * 7 + 3);
	for (int i = 0; i < 4; i++)
		write_(g, big, fh2, (uint64_t)i << 16, buf, sizeof buf);
	for (int i = 0; i < 4; i++) {
		struct fuse_read_in r = { .fh = fh2, .offset = (uint64_t)i << 16, .size = 65536 };
		gsend(g, FUSE_READ, big, &r, sizeof r, NULL, NULL, NULL, 0);
	}
	gcollect(g, 0, 30000);
	uint64_t cp, fh3;
	cp = create(g, d, "copy", 0644, O_RDWR, &fh3);
	struct fuse_copy_file_range_in cf = { .fh_in = fh2, .off_in = 0, .nodeid_out = cp,
					      .fh_out = fh3, .off_out = 0, .len = 100000 };
	call(g, FUSE_COPY_FILE_RANGE, big, &cf, sizeof cf, NULL, NULL, NULL, 0, NULL);
	release(g, FUSE_RELEASE, cp, fh3, O_RDWR);
	release(g, FUSE_RELEASE, big, fh2, O_RDWR);
	getattr(g, cp);

	/* permissions: a private directory another user cannot enter */
	priv = mkdir_(g, 1, "private", 0700);
	g->uid = g->gid = 1000;
	create(g, priv, "x", 0644, O_WRONLY, &fh);
	lookup(g, priv, "x");
	mkdir_(g, d, "no", 0755);	/* d is 0755 root: EACCES */
	g->uid = g->gid = 0;

	/* an INTERRUPT for a request already answered: nothing happens */
	struct fuse_interrupt_in ii = { .unique = g->unique };
	gsend(g, FUSE_INTERRUPT, 0, &ii, sizeof ii, NULL, NULL, NULL, 0);

	/* tear down */
	call(g, FUSE_UNLINK, d, NULL, 0, "link", NULL, NULL, 0, NULL);
	call(g, FUSE_UNLINK, d, NULL, 0, "fifo", NULL, NULL, 0, NULL);
	call(g, FUSE_UNLINK, sub, NULL, 0, "moved", NULL, NULL, 0, NULL);
	call(g, FUSE_RMDIR, d, NULL, 0, "sub", NULL, NULL, 0, NULL);
	lookup(g, d, "sub");
	call(g, FUSE_RMDIR, 1, NULL, 0, "d", NULL, NULL, 0, NULL);	/* ENOTEMPTY */
	list_dir(g, d, false, 4096);
	forget(g, sub, 1);
	forget(g, big, 1);
	forget(g, cp, 1);
	forget(g, f, 1);
	forget(g, many, 1);
	forget(g, d, 2);
	if (data)
		forget(g, data, 1);
	forget(g, priv, 1);
	(void)n;
}

static void w_bench(struct gen *g, uint64_t n)
{
	uint64_t nodes[64], fh, dir;
	char name[64], buf[256];

	memset(buf, 'x', sizeof buf);
	dir = mkdir_(g, 1, "bench", 0755);
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "f%02d", i);
		nodes[i] = create(g, dir, name, 0644, O_WRONLY, &fh);
		write_(g, nodes[i], fh, 0, buf, sizeof buf);
		release(g, FUSE_RELEASE, nodes[i], fh, O_WRONLY);
	}
	uint64_t done = g->requests, i = 0;
	while (g->requests - done < n) {
		int k = (int)(i++ % 64);
		snprintf(name, sizeof name, "f%02d", k);
		switch (i % 4) {
		case 0: {	/* a stat: LOOKUP + GETATTR, later FORGET */
			lookup(g, dir, name);
			getattr(g, nodes[k]);
			forget(g, nodes[k], 1);
			break;
		}
		case 1: {	/* open, two reads, release */
			if (open_(g, FUSE_OPEN, nodes[k], O_RDONLY, &fh))
				break;
			read_(g, nodes[k], fh, 0, 128);
			read_(g, nodes[k], fh, 128, 128);
			release(g, FUSE_RELEASE, nodes[k], fh, O_RDONLY);
			break;
		}
		case 2: {	/* four stats at once */
			for (int j = 0; j < 4; j++) {
				struct fuse_getattr_in a = { 0 };
				gsend(g, FUSE_GETATTR, nodes[(k + j * 16) % 64], &a, sizeof a, NULL,
				      NULL, NULL, 0);
			}
			gcollect(g, 0, 30000);
			break;
		}
		default: {
			struct fuse_access_in ac = { .mask = R_OK };
			call(g, FUSE_ACCESS, nodes[k], &ac, sizeof ac, NULL, NULL, NULL, 0, NULL);
			lookup(g, dir, "missing");
		}
		}
	}
}

static void w_truncate(struct gen *g)
{
	uint64_t fh, f = create(g, 1, "t.txt", 0644, O_RDWR, &fh);
	char buf[1000];

	memset(buf, 'z', sizeof buf);
	write_(g, f, fh, 0, buf, sizeof buf);
	release(g, FUSE_RELEASE, f, fh, O_RDWR);
	getattr(g, f);
	setattr(g, f, FATTR_SIZE, 10, 0, 0);
	getattr(g, f);
	if (!open_(g, FUSE_OPEN, f, O_RDONLY, &fh)) {
		read_(g, f, fh, 0, 4096);
		release(g, FUSE_RELEASE, f, fh, O_RDONLY);
	}
	forget(g, f, 1);
}

/* Wait for the queued requests for up to ms; record what is left pending. */
static void settle(struct gen *g, int ms)
{
	gcollect(g, 0, ms);
	for (int i = 0; i < g->nq; i++) {
		record(g, &g->q[i], 0, true);
		free(g->q[i].req);
	}
	g->nq = 0;
}

static void w_badfs(struct gen *g, const char *name)
{
	uint64_t fh, good = lookup(g, 1, "good"), n;

	if (good && !open_(g, FUSE_OPEN, good, O_RDONLY, &fh)) {
		read_(g, good, fh, 0, 4096);
		release(g, FUSE_RELEASE, good, fh, O_RDONLY);
	}
	n = lookup(g, 1, name);
	if (!n || open_(g, FUSE_OPEN, n, O_RDONLY, &fh))
		die("badfs has no file '%s'", name);
	struct fuse_read_in r = { .fh = fh, .offset = 0, .size = 4096 };
	gsend(g, FUSE_READ, n, &r, sizeof r, NULL, NULL, NULL, 0);
	settle(g, 1000);
}

static void w_pending(struct gen *g)
{
	uint64_t fh, d = mkdir_(g, 1, "dir", 0755), f, s;
	char buf[4096];

	memset(buf, 'p', sizeof buf);
	f = create(g, d, "plain", 0644, O_RDWR, &fh);
	write_(g, f, fh, 0, buf, 100);
	release(g, FUSE_RELEASE, f, fh, O_RDWR);
	s = create(g, d, "slowfile", 0644, O_RDWR, &fh);
	write_(g, s, fh, 0, buf, sizeof buf);
	release(g, FUSE_RELEASE, s, fh, O_RDWR);
	getattr(g, f);
	if (open_(g, FUSE_OPEN, s, O_RDONLY, &fh))
		die("cannot open slowfile");
	struct fuse_read_in r = { .fh = fh, .offset = 0, .size = 4096 };
	gsend(g, FUSE_READ, s, &r, sizeof r, NULL, NULL, NULL, 0);
	r.offset = 1024;
	gsend(g, FUSE_READ, s, &r, sizeof r, NULL, NULL, NULL, 0);
	usleep(200000);
	/* the daemon dies with both READs in its hands */
	g->t->ops->abort(g->t);
	settle(g, 2000);
}

static void w_interrupt(struct gen *g)
{
	uint64_t fh, s = create(g, 1, "slowfile", 0644, O_RDWR, &fh);
	char buf[512];

	memset(buf, 'i', sizeof buf);
	write_(g, s, fh, 0, buf, sizeof buf);
	release(g, FUSE_RELEASE, s, fh, O_RDWR);
	if (open_(g, FUSE_OPEN, s, O_RDONLY, &fh))
		die("cannot open slowfile");
	struct fuse_read_in r = { .fh = fh, .offset = 0, .size = 512 };
	int slot = gsend(g, FUSE_READ, s, &r, sizeof r, NULL, NULL, NULL, 0);
	g->q[slot].flags |= FP_TRACE_F_INTERRUPTED;
	usleep(100000);
	struct fuse_interrupt_in ii = { .unique = g->q[slot].unique };
	struct fuse_in_header *h;
	uint32_t len;
	uint8_t *m = build(g, FUSE_INTERRUPT, 0, &ii, sizeof ii, NULL, NULL, NULL, 0, &len);
	h = (void *)m;
	h->unique = ii.unique | FUSE_INT_REQ_BIT;
	struct pend p = { .req = m, .len = len, .t_read = now_ns() };
	rp_target_send(g->t, m, len);
	record(g, &p, p.t_read, false);
	free(m);
	gcollect(g, 0, 30000);
	release(g, FUSE_RELEASE, s, fh, O_RDONLY);
	forget(g, s, 1);
}

/* ---- main ------------------------------------------------------------------------- */

static void do_init(struct gen *g)
{
	struct fuse_init_in in = {
		.major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = 131072,
	};
	/* what a 6.18 kernel offers, minus what needs extensions we do not send */
	uint64_t offer = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_FILE_OPS |
		FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT | FUSE_BIG_WRITES | FUSE_DONT_MASK |
		FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_SPLICE_READ | FUSE_FLOCK_LOCKS |
		FUSE_HAS_IOCTL_DIR | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS |
		FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_WRITEBACK_CACHE |
		FUSE_NO_OPEN_SUPPORT | FUSE_PARALLEL_DIROPS | FUSE_HANDLE_KILLPRIV |
		FUSE_POSIX_ACL | FUSE_ABORT_ERROR | FUSE_MAX_PAGES | FUSE_CACHE_SYMLINKS |
		FUSE_NO_OPENDIR_SUPPORT | FUSE_EXPLICIT_INVAL_DATA | FUSE_MAP_ALIGNMENT |
		FUSE_SUBMOUNTS | FUSE_HANDLE_KILLPRIV_V2 | FUSE_SETXATTR_EXT | FUSE_INIT_EXT |
		FUSE_HAS_EXPIRE_ONLY | FUSE_DIRECT_IO_ALLOW_MMAP | FUSE_PASSTHROUGH |
		FUSE_NO_EXPORT_SUPPORT | FUSE_HAS_RESEND | FUSE_ALLOW_IDMAP |
		FUSE_OVER_IO_URING | FUSE_REQUEST_TIMEOUT;
	struct fuse_init_out out;

	in.flags = (uint32_t)offer;
	in.flags2 = (uint32_t)(offer >> 32);
	if (call(g, FUSE_INIT, 0, &in, sizeof in, NULL, NULL, NULL, 0, NULL))
		die("the target refused INIT");
	memcpy(&out, g->last, sizeof out);
	g->wp.minor = out.minor;
	g->wp.flags = out.flags;
	if (out.flags & FUSE_INIT_EXT)
		g->wp.flags |= (uint64_t)out.flags2 << 32;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "passthrough", required_argument, NULL, 'P' },
		{ "backend", required_argument, NULL, 'B' },
		{ "pcap", required_argument, NULL, 'p' },
		{ "warmup", required_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 },
	};
	struct fp_trace_opts to = { .nworkers = 1, .snaplen = FP_TRACE_SNAPLEN_ALL,
				    .drop_policy = FP_TRACE_BLOCK, .transport = "replay-gen" };
	const char *pt = NULL, *backend = NULL;
	int warmup = 0;
	struct pt_options po = { .entry_timeout = -1, .attr_timeout = -1 };
	struct gen *g = calloc(1, sizeof *g);
	char err[512];
	int c;

	if (!g)
		die("out of memory");
	while ((c = getopt_long(argc, argv, "w:", lo, NULL)) != -1) {
		switch (c) {
		case 'w': to.db_path = optarg; break;
		case 'p': to.pcap_path = optarg; break;
		case 'P': pt = optarg; break;
		case 'B': backend = optarg; break;
		case 'W': warmup = atoi(optarg); break;
		default: return 2;
		}
	}
	if (optind >= argc || (!pt == !backend) || (!to.db_path && !to.pcap_path)) {
		fprintf(stderr, "usage: replay-gen -w T.db [--pcap T.pcap] (--passthrough DIR | "
			"--backend CMD) conformance|bench N|truncate|crash|hang|pending|"
			"interrupt\n");
		return 2;
	}
	const char *w = argv[optind];
	signal(SIGPIPE, SIG_IGN);
	g->rbuf = malloc(RBUF);
	g->pid = (uint32_t)getpid();
	if (pt) {
		po.source = pt;
		g->t = rp_target_passthrough(&po, 0, err, sizeof err);
	} else {
		g->t = rp_target_backend(backend, -1, err, sizeof err);
	}
	if (!g->t || !g->rbuf)
		die("%s", err);
	to.argc = argc;
	to.argv = argv;
	to.backend = backend ? backend : pt;
	do_init(g);
	/* ids the recording will not show: the target's node ids and file
	 * handles in the trace are then not the ones a fresh target hands out
	 * first, so a replay that forgot to remap one cannot pass by luck */
	for (int i = 0; i < warmup; i++) {
		char name[32];
		uint64_t fh;
		snprintf(name, sizeof name, ".warmup-%d", i);
		create(g, 1, name, 0600, O_RDWR, &fh);
	}
	if (fp_trace_open(&g->tr, &to, err, sizeof err) < 0)
		die("%s", err);
	if (g->init_req) {
		/* the INIT that came before the warmup, for the session row */
		record(g, &g->init, g->init_done, false);
		free(g->init_req);
		free(g->init_reply);
	}

	if (!strcmp(w, "conformance"))
		w_conformance(g);
	else if (!strcmp(w, "bench"))
		w_bench(g, optind + 1 < argc ? strtoull(argv[optind + 1], NULL, 10) : 1000000);
	else if (!strcmp(w, "truncate"))
		w_truncate(g);
	else if (!strcmp(w, "crash"))
		w_badfs(g, "crash");
	else if (!strcmp(w, "hang"))
		w_badfs(g, "hang");
	else if (!strcmp(w, "pending"))
		w_pending(g);
	else if (!strcmp(w, "interrupt"))
		w_interrupt(g);
	else
		die("unknown workload '%s'", w);
	settle(g, 30000);

	struct fp_trace_stats st;
	if (fp_trace_close(g->tr, &st, err, sizeof err) < 0)
		die("%s", err);
	char how[128];
	g->t->ops->close(g->t, how, sizeof how);
	fprintf(stderr, "replay-gen: %s: %llu requests recorded (%llu records)\n", w,
		(unsigned long long)g->requests, (unsigned long long)st.written);
	free(g->rbuf);
	free(g);
	return 0;
}
