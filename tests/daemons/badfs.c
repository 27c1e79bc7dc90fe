/* Description: badfs, a FUSE daemon that misbehaves on purpose, for fuseproxy's
 * backend validation tests.  It speaks the wire protocol itself (no libfuse): one
 * message per read() and per write() on the /dev/fd/N socket fuseproxy passes, using
 * the project's own abi/fuse_kernel.h.
 *
 *   badfs [-f] [--quiet] /dev/fd/N
 *
 * It answers INIT correctly and serves a flat directory.  Opening or reading some of
 * its files triggers one misbehaviour, always the same for that name:
 *
 *   good            nothing: opens and reads "content of good\n"
 *   bad-length      OPEN reply with an 8-byte payload (fuse_open_out is 16)
 *   hdr-mismatch    OPEN reply whose out_header.len is 8 more than the bytes sent
 *   bad-unique      an OPEN reply to a unique nobody sent first, then the right reply
 *   pos-errno       OPEN reply with error +5 (errors are negative)
 *   big-errno       OPEN reply with error -1000 (out of the kernel's range)
 *   err-payload     OPEN reply with error -ENOENT that still carries 16 bytes
 *   oversize        READ reply 4096 bytes longer than the READ asked for
 *   oversize-huge   READ reply of 2 MiB, more than any FUSE message may be
 *   bad-notify      a notification whose name length disagrees with its size before
 *                   the (correct) OPEN reply
 *   bad-notify-code a notification with code 1000 before the (correct) OPEN reply
 *   hang            READ never answered
 *   crash           READ: abort() before answering
 *   baddir/         READDIR reply whose dirent name runs past the message
 *
 * Every misbehaviour is announced on stderr ("badfs: OPEN bad-length: ...") so a
 * test log shows what the proxy was fed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuse_kernel.h"

#define BUFSIZE ((1u << 20) + 4096)
#define MAX_WRITE (128u * 1024)

enum bug {
	BUG_NONE, BUG_BAD_LENGTH, BUG_HDR_MISMATCH, BUG_BAD_UNIQUE, BUG_POS_ERRNO,
	BUG_BIG_ERRNO, BUG_ERR_PAYLOAD, BUG_OVERSIZE, BUG_OVERSIZE_HUGE, BUG_BAD_NOTIFY,
	BUG_BAD_NOTIFY_CODE, BUG_HANG, BUG_CRASH, BUG_BAD_DIRENT,
};

struct file {
	const char *name;
	enum bug bug;
	int dir;
};

/* inode number = index + 2; the root is 1 */
static const struct file files[] = {
	{ "good", BUG_NONE, 0 },
	{ "bad-length", BUG_BAD_LENGTH, 0 },
	{ "hdr-mismatch", BUG_HDR_MISMATCH, 0 },
	{ "bad-unique", BUG_BAD_UNIQUE, 0 },
	{ "pos-errno", BUG_POS_ERRNO, 0 },
	{ "big-errno", BUG_BIG_ERRNO, 0 },
	{ "err-payload", BUG_ERR_PAYLOAD, 0 },
	{ "oversize", BUG_OVERSIZE, 0 },
	{ "oversize-huge", BUG_OVERSIZE_HUGE, 0 },
	{ "bad-notify", BUG_BAD_NOTIFY, 0 },
	{ "bad-notify-code", BUG_BAD_NOTIFY_CODE, 0 },
	{ "hang", BUG_HANG, 0 },
	{ "crash", BUG_CRASH, 0 },
	{ "baddir", BUG_BAD_DIRENT, 1 },
};
#define NFILES (sizeof files / sizeof files[0])

static int fd = -1;
static int quiet;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "badfs: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const struct file *file_of(uint64_t ino)
{
	return ino >= 2 && ino < 2 + NFILES ? &files[ino - 2] : NULL;
}

/* Sends one message: header fields as given (len_adjust skews out_header.len). */
static void send_raw(uint64_t unique, int32_t error, const void *payload, size_t len,
		     int len_adjust)
{
	struct fuse_out_header oh = {
		.len = (uint32_t)(sizeof oh + len + len_adjust), .error = error, .unique = unique
	};
	struct iovec iov[2] = { { &oh, sizeof oh }, { (void *)payload, len } };
	ssize_t r = writev(fd, iov, len ? 2 : 1);

	if (r < 0)
		say("writev (%zu bytes): %s", sizeof oh + len, strerror(errno));
}

static void reply(uint64_t unique, int err, const void *payload, size_t len)
{
	send_raw(unique, err ? -err : 0, payload, err ? 0 : len, 0);
}

static void fill_attr(uint64_t ino, struct fuse_attr *a)
{
	const struct file *f = file_of(ino);
	char content[64];

	memset(a, 0, sizeof *a);
	a->ino = ino;
	if (ino == 1 || (f && f->dir)) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0644;
		a->nlink = 1;
		a->size = (uint64_t)snprintf(content, sizeof content, "content of %s\n", f->name);
	}
	a->blksize = 4096;
	a->atime = a->mtime = a->ctime = 1700000000;
}

static void do_init(const struct fuse_in_header *h, const void *arg)
{
	const struct fuse_init_in *in = arg;
	struct fuse_init_out out;

	memset(&out, 0, sizeof out);
	out.major = FUSE_KERNEL_VERSION;
	out.minor = in->minor < FUSE_KERNEL_MINOR_VERSION ? in->minor : FUSE_KERNEL_MINOR_VERSION;
	out.max_readahead = in->max_readahead;
	out.max_write = MAX_WRITE;
	out.max_background = 16;
	out.congestion_threshold = 12;
	out.time_gran = 1;
	say("INIT %u.%u answered", in->major, in->minor);
	reply(h->unique, 0, &out, sizeof out);
}

static void do_lookup(const struct fuse_in_header *h, const char *name)
{
	struct fuse_entry_out e;

	if (h->nodeid != 1) {
		reply(h->unique, ENOENT, NULL, 0);
		return;
	}
	for (size_t i = 0; i < NFILES; i++) {
		if (strcmp(files[i].name, name) == 0) {
			memset(&e, 0, sizeof e);
			e.nodeid = i + 2;
			e.generation = 1;
			e.entry_valid = 1;
			e.attr_valid = 1;
			fill_attr(i + 2, &e.attr);
			reply(h->unique, 0, &e, sizeof e);
			return;
		}
	}
	reply(h->unique, ENOENT, NULL, 0);
}

static void do_getattr(const struct fuse_in_header *h)
{
	struct fuse_attr_out a;

	if (h->nodeid != 1 && !file_of(h->nodeid)) {
		reply(h->unique, ENOENT, NULL, 0);
		return;
	}
	memset(&a, 0, sizeof a);
	a.attr_valid = 1;
	fill_attr(h->nodeid, &a.attr);
	reply(h->unique, 0, &a, sizeof a);
}

static void bad_notify(const char *why, uint32_t code, uint32_t namelen)
{
	struct {
		struct fuse_notify_inval_entry_out e;
		char name[8];
	} n;

	memset(&n, 0, sizeof n);
	n.e.parent = 1;
	n.e.namelen = namelen;
	memcpy(n.name, "good", 5);
	say("%s", why);
	send_raw(0, (int32_t)code, &n, sizeof n, 0);
}

static void do_open(const struct fuse_in_header *h)
{
	const struct file *f = file_of(h->nodeid);
	struct fuse_open_out o;

	if (!f) {
		reply(h->unique, h->nodeid == 1 ? EISDIR : ENOENT, NULL, 0);
		return;
	}
	memset(&o, 0, sizeof o);
	o.fh = h->nodeid;
	/* every read(2) becomes exactly one READ: no page cache, no readahead */
	o.open_flags = FOPEN_DIRECT_IO;
	switch (f->bug) {
	case BUG_BAD_LENGTH:
		say("OPEN %s: sending an 8-byte payload", f->name);
		send_raw(h->unique, 0, &o, 8, 0);
		return;
	case BUG_HDR_MISMATCH:
		say("OPEN %s: out_header.len 8 bytes more than sent", f->name);
		send_raw(h->unique, 0, &o, sizeof o, 8);
		return;
	case BUG_BAD_UNIQUE:
		say("OPEN %s: first a reply to unique %#llx, which was never sent", f->name,
		    (unsigned long long)(h->unique ^ 0x7ead000000000000ull));
		send_raw(h->unique ^ 0x7ead000000000000ull, 0, &o, sizeof o, 0);
		break;
	case BUG_POS_ERRNO:
		say("OPEN %s: error +5", f->name);
		send_raw(h->unique, 5, NULL, 0, 0);
		return;
	case BUG_BIG_ERRNO:
		say("OPEN %s: error -1000", f->name);
		send_raw(h->unique, -1000, NULL, 0, 0);
		return;
	case BUG_ERR_PAYLOAD:
		say("OPEN %s: error -ENOENT with a 16-byte payload", f->name);
		send_raw(h->unique, -ENOENT, &o, sizeof o, 0);
		return;
	case BUG_BAD_NOTIFY:
		bad_notify("OPEN bad-notify: INVAL_ENTRY notification with namelen 100", 
			   FUSE_NOTIFY_INVAL_ENTRY, 100);
		break;
	case BUG_BAD_NOTIFY_CODE:
		bad_notify("OPEN bad-notify-code: notification code 1000", 1000, 4);
		break;
	default:
		break;
	}
	reply(h->unique, 0, &o, sizeof o);
}

static void do_read(const struct fuse_in_header *h, const void *arg)
{
	const struct fuse_read_in *in = arg;
	const struct file *f = file_of(h->nodeid);
	static char data[2u << 20];
	int n;
	size_t len;

	if (!f || f->dir) {
		reply(h->unique, f ? EISDIR : ENOENT, NULL, 0);
		return;
	}
	n = snprintf(data, sizeof data, "content of %s\n", f->name);
	switch (f->bug) {
	case BUG_OVERSIZE:
		len = (size_t)in->size + 4096;
		memset(data + n, 'x', len - (size_t)n);
		say("READ %s: %zu bytes for a %u-byte READ", f->name, len, in->size);
		reply(h->unique, 0, data, len);
		return;
	case BUG_OVERSIZE_HUGE: {
		int big = (int)sizeof data;
		len = sizeof data;
		memset(data + n, 'y', len - (size_t)n);
		/* a SEQPACKET message must fit the send buffer: make room (root) */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
		say("READ %s: %zu bytes for a %u-byte READ", f->name, len, in->size);
		reply(h->unique, 0, data, len);
		return;
	}
	case BUG_HANG:
		say("READ %s: never answering unique %llu", f->name,
		    (unsigned long long)h->unique);
		return;
	case BUG_CRASH:
		say("READ %s: abort()", f->name);
		fflush(stderr);
		abort();
	default:
		break;
	}
	if (in->offset >= (uint64_t)n) {
		reply(h->unique, 0, NULL, 0);
		return;
	}
	len = (size_t)n - (size_t)in->offset;
	if (len > in->size)
		len = in->size;
	reply(h->unique, 0, data + in->offset, len);
}

/* Appends one dirent; returns the new length or 0 if it does not fit. */
static size_t add_dirent(char *buf, size_t used, size_t cap, uint64_t ino, uint64_t off,
			 uint32_t type, const char *name)
{
	struct fuse_dirent d;
	size_t nl = strlen(name), sz = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);

	if (used + sz > cap)
		return 0;
	memset(buf + used, 0, sz);
	d.ino = ino;
	d.off = off;
	d.namelen = (uint32_t)nl;
	d.type = type;
	memcpy(buf + used, &d, FUSE_NAME_OFFSET);
	memcpy(buf + used + FUSE_NAME_OFFSET, name, nl);
	return used + sz;
}

static void do_readdir(const struct fuse_in_header *h, const void *arg)
{
	const struct fuse_read_in *in = arg;
	const struct file *f = file_of(h->nodeid);
	static char buf[64 * 1024];
	size_t cap = in->size < sizeof buf ? in->size : sizeof buf, used = 0, n;

	if (f && f->bug == BUG_BAD_DIRENT) {
		struct fuse_dirent d = { .ino = 99, .off = 1, .namelen = 200, .type = 8 };
		memset(buf, 0, 64);
		memcpy(buf, &d, FUSE_NAME_OFFSET);
		memcpy(buf + FUSE_NAME_OFFSET, "short", 5);
		say("READDIR baddir: a dirent with namelen 200 in a 64-byte reply");
		reply(h->unique, 0, buf, 64);
		return;
	}
	if (h->nodeid != 1) {
		reply(h->unique, ENOTDIR, NULL, 0);
		return;
	}
	/* offsets: 1 ".", 2 "..", 3 + i files[i] */
	for (uint64_t o = in->offset; o < 2 + NFILES; o++) {
		if (o == 0)
			n = add_dirent(buf, used, cap, 1, 1, S_IFDIR >> 12, ".");
		else if (o == 1)
			n = add_dirent(buf, used, cap, 1, 2, S_IFDIR >> 12, "..");
		else
			n = add_dirent(buf, used, cap, o, o + 1,
				       (files[o - 2].dir ? S_IFDIR : S_IFREG) >> 12,
				       files[o - 2].name);
		if (!n)
			break;
		used = n;
	}
	reply(h->unique, 0, buf, used);
}

static void do_statfs(const struct fuse_in_header *h)
{
	struct fuse_statfs_out s;

	memset(&s, 0, sizeof s);
	s.st.blocks = 1000;
	s.st.bfree = 500;
	s.st.bavail = 500;
	s.st.files = 100;
	s.st.ffree = 50;
	s.st.bsize = 4096;
	s.st.frsize = 4096;
	s.st.namelen = 255;
	reply(h->unique, 0, &s, sizeof s);
}

static void do_getxattr(const struct fuse_in_header *h, const void *arg)
{
	const struct fuse_getxattr_in *in = arg;
	struct fuse_getxattr_out o = { 0 };

	/* no xattrs anywhere: an empty list, and ENODATA for any name */
	if (h->opcode == FUSE_LISTXATTR && in->size == 0)
		reply(h->unique, 0, &o, sizeof o);
	else if (h->opcode == FUSE_LISTXATTR)
		reply(h->unique, 0, NULL, 0);
	else
		reply(h->unique, ENODATA, NULL, 0);
}

static void usage(void)
{
	fprintf(stderr, "usage: badfs [-f] [--quiet] /dev/fd/N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char *buf = malloc(BUFSIZE);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f"))
			continue;
		if (!strcmp(argv[i], "--quiet"))
			quiet = 1;
		else if (!strncmp(argv[i], "/dev/fd/", 8))
			fd = atoi(argv[i] + 8);
		else
			usage();
	}
	if (fd < 0 || !buf)
		usage();
	setvbuf(stderr, NULL, _IOLBF, 0);

	for (;;) {
		ssize_t n = read(fd, buf, BUFSIZE);
		const struct fuse_in_header *h = (const void *)buf;
		const char *arg = buf + sizeof *h;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == ENODEV)
				break;
			say("read: %s", strerror(errno));
			return 1;
		}
		if (n == 0)
			break;	/* the proxy closed the connection */
		if ((size_t)n < sizeof *h || h->len != (uint32_t)n) {
			say("bad request of %zd bytes", n);
			return 1;
		}
		switch (h->opcode) {
		case FUSE_INIT: do_init(h, arg); break;
		case FUSE_LOOKUP: do_lookup(h, arg); break;
		case FUSE_GETATTR: do_getattr(h); break;
		case FUSE_OPEN: do_open(h); break;
		case FUSE_READ: do_read(h, arg); break;
		case FUSE_OPENDIR: {
			struct fuse_open_out o = { .fh = h->nodeid };
			reply(h->unique, 0, &o, sizeof o);
			break;
		}
		case FUSE_READDIR: do_readdir(h, arg); break;
		case FUSE_STATFS: do_statfs(h); break;
		case FUSE_GETXATTR:
		case FUSE_LISTXATTR: do_getxattr(h, arg); break;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
		case FUSE_RELEASEDIR:
		case FUSE_FSYNC:
		case FUSE_FSYNCDIR:
		case FUSE_ACCESS:
		case FUSE_DESTROY:
			reply(h->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
		case FUSE_NOTIFY_REPLY:
			break;	/* no reply */
		default:
			reply(h->unique, ENOSYS, NULL, 0);
			break;
		}
	}
	say("connection closed, exiting");
	return 0;
}
