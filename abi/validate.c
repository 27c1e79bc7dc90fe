/* \summary: bounds-checked validation of FUSE requests, replies and
 * notifications (see validate.h).
 *
 * Checks run in the order the kernel applies them (fs/fuse/dev.c
 * fuse_dev_do_write() for replies and notifications) so that the first
 * failure reported is the one the kernel would have hit.  Every failure is
 * -EPROTO plus one line naming the op and the numbers that disagree.
 * Message bytes are only ever read through a cursor or memcpy; nothing is
 * dereferenced in place, so unaligned trace buffers are fine.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cursor.h"
#include "opcodes.h"
#include "validate.h"

static int __attribute__((format(printf, 3, 4)))
bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

/* Field of the view's fixed argument; false if the view is missing it. */
static bool fixed_u32(const struct fuse_req_view *v, size_t off, uint32_t *val)
{
	if (!v || !v->fixed || v->fixed_len < off + sizeof *val)
		return false;
	memcpy(val, (const uint8_t *)v->fixed + off, sizeof *val);
	return true;
}

static bool fixed_u64(const struct fuse_req_view *v, size_t off, uint64_t *val)
{
	if (!v || !v->fixed || v->fixed_len < off + sizeof *val)
		return false;
	memcpy(val, (const uint8_t *)v->fixed + off, sizeof *val);
	return true;
}

/* ---- Requests ----------------------------------------------------------- */

/* Extensions: a run of fuse_ext_header-led blocks, each a multiple of 8. */
static int check_ext(const struct fuse_op *op, struct fuse_cursor x,
		     char *err, size_t errlen)
{
	struct fuse_ext_header xh;
	uint32_t nr = 0;

	while (cur_left(&x)) {
		const uint8_t *start = x.p;

		if (!cur_copy(&x, &xh, sizeof xh, sizeof xh))
			return bad(err, errlen, "%s: %zu stray bytes in the extension area",
				   op->name, cur_left(&x));
		if (xh.size < sizeof xh || xh.size % 8 ||
		    xh.size - sizeof xh > cur_left(&x))
			return bad(err, errlen,
				   "%s: extension type %u claims %u bytes, %zu left",
				   op->name, xh.type, xh.size,
				   cur_left(&x) + sizeof xh);
		if (xh.type == FUSE_EXT_GROUPS) {
			memcpy(&nr, x.p, xh.size > sizeof xh ? sizeof nr : 0);
			if (xh.size - sizeof xh < sizeof nr ||
			    (uint64_t)nr * 4 + sizeof nr > xh.size - sizeof xh)
				return bad(err, errlen,
					   "%s: supplementary groups extension of %u bytes "
					   "cannot hold its %u groups", op->name, xh.size,
					   xh.size - sizeof xh >= sizeof nr ? nr : 0);
		}
		x.p = start + xh.size;
	}
	return 0;
}

/* Size of INIT's fixed arg, from the init_in.major/minor it carries. */
static int init_in_size(struct fuse_cursor c, uint32_t *size, char *err, size_t errlen)
{
	uint32_t major, minor;

	if (!cur_u32(&c, &major) || !cur_u32(&c, &minor))
		return bad(err, errlen, "INIT: fuse_init_in needs at least 8 bytes, %zu present",
			   cur_left(&c));
	if (major != FUSE_KERNEL_VERSION || minor > FUSE_KERNEL_MINOR_VERSION) {
		/* Another major, or a newer kernel than this table: the
		 * layout beyond major/minor is not ours to judge. */
		*size = (uint32_t)cur_left(&c) + 8;
		if (major == FUSE_KERNEL_VERSION && *size < sizeof(struct fuse_init_in))
			return bad(err, errlen, "INIT: 7.%u sends at least %zu bytes of fuse_init_in, %u present",
				   minor, sizeof(struct fuse_init_in), *size);
		return 0;
	}
	*size = fuse_init_in_size(minor);
	return 0;
}

/* Bytes that must follow the names, as the fixed arg announces them. */
static int data_len(const struct fuse_op *op, const struct fuse_req_view *v,
		    size_t left, char *err, size_t errlen)
{
	uint32_t n = 0;
	uint64_t want;
	const char *what;

	switch (op->data) {
	case FUSE_D_WRITE:
		fixed_u32(v, offsetof(struct fuse_write_in, size), &n);
		want = n, what = "write_in.size";
		break;
	case FUSE_D_XATTR:
		fixed_u32(v, offsetof(struct fuse_setxattr_in, size), &n);
		want = n, what = "setxattr_in.size";
		break;
	case FUSE_D_IOCTL:
		fixed_u32(v, offsetof(struct fuse_ioctl_in, in_size), &n);
		want = n, what = "ioctl_in.in_size";
		break;
	case FUSE_D_RETRIEVE:
		fixed_u32(v, offsetof(struct fuse_notify_retrieve_in, size), &n);
		want = n, what = "notify_retrieve_in.size";
		break;
	case FUSE_D_FORGETS:
		fixed_u32(v, offsetof(struct fuse_batch_forget_in, count), &n);
		want = (uint64_t)n * sizeof(struct fuse_forget_one);
		what = "batch_forget_in.count";
		break;
	case FUSE_D_REMOVEMAPPING:
		fixed_u32(v, offsetof(struct fuse_removemapping_in, count), &n);
		want = (uint64_t)n * sizeof(struct fuse_removemapping_one);
		what = "removemapping_in.count";
		break;
	default:
		return 0;
	}
	if (want == left)
		return 0;
	if (want == n)
		return bad(err, errlen, "%s: %s %u but %zu data bytes follow",
			   op->name, what, n, left);
	return bad(err, errlen, "%s: %s %u needs %llu bytes, %zu follow",
		   op->name, what, n, (unsigned long long)want, left);
}

int fuse_validate_request(const void *msg, size_t len,
			  const struct fuse_wire_params *wp,
			  struct fuse_req_view *v, char *err, size_t errlen)
{
	static const struct fuse_wire_params unknown;   /* before INIT */
	struct fuse_req_view scratch;
	struct fuse_in_header ih;
	struct fuse_cursor c, x;
	const struct fuse_op *op;
	uint32_t fixed = 0, extlen;
	unsigned i;
	int ret;

	if (!wp)
		wp = &unknown;
	if (!v)
		v = &scratch;
	memset(v, 0, sizeof *v);
	if (err && errlen)
		err[0] = '\0';

	if (!msg || len < sizeof ih)
		return bad(err, errlen, "request of %zu bytes is shorter than fuse_in_header (%zu)",
			   len, sizeof ih);
	memcpy(&ih, msg, sizeof ih);
	v->h = msg;
	if (ih.len != len)
		return bad(err, errlen, "in_header.len %u but %zu bytes given", ih.len, len);
	op = fuse_op_get(ih.opcode);
	if (!op)
		return bad(err, errlen, "unknown opcode %u", ih.opcode);
	c = cur_make((const uint8_t *)msg + sizeof ih, len - sizeof ih);

	if (ih.total_extlen) {
		if (!(op->flags & FOP_EXT))
			return bad(err, errlen, "%s: total_extlen %u on an op without extensions",
				   op->name, ih.total_extlen);
		extlen = ih.total_extlen * 8u;
		if (!cur_split_tail(&c, extlen, &x))
			return bad(err, errlen, "%s: %u bytes of extensions but only %zu bytes of arguments",
				   op->name, extlen, cur_left(&c));
		ret = check_ext(op, x, err, errlen);
		if (ret)
			return ret;
		v->ext = x.p;
		v->ext_len = extlen;
	}

	if (op->opcode == FUSE_INIT) {
		ret = init_in_size(c, &fixed, err, errlen);
		if (ret)
			return ret;
	} else {
		fixed = fuse_op_in_size(op, wp->minor, wp->flags);
	}
	if (fixed) {
		v->fixed = cur_pull(&c, fixed);
		if (!v->fixed)
			return bad(err, errlen, "%s: fixed argument needs %u bytes, %zu present",
				   op->name, fixed, cur_left(&c));
		v->fixed_len = fixed;
	}

	for (i = 0; i < op->nnames; i++) {
		size_t slen;
		const char *s = cur_pull_str(&c, &slen);

		if (!s)
			return bad(err, errlen, "%s: name %u not NUL-terminated within the message",
				   op->name, i + 1);
		if (op->name_max[i] && slen > op->name_max[i])
			return bad(err, errlen, "%s: name %u is %zu bytes, longer than %u",
				   op->name, i + 1, slen, op->name_max[i]);
		if (i == 0)
			v->name = s;
		else
			v->name2 = s;
	}

	if (op->data != FUSE_D_NONE) {
		ret = data_len(op, v, cur_left(&c), err, errlen);
		if (ret)
			return ret;
		v->data_len = (uint32_t)cur_left(&c);
		v->data = v->data_len ? c.p : NULL;
		c.p = c.end;
	}
	if (cur_left(&c))
		return bad(err, errlen, "%s: %zu unexpected bytes after the arguments",
			   op->name, cur_left(&c));
	if (!ih.nodeid && !(op->flags & FOP_NODE0))
		return bad(err, errlen, "%s: nodeid 0", op->name);
	return 0;
}

/* ---- Replies ------------------------------------------------------------ */

/* Records of a READDIR / READDIRPLUS reply: each namelen in 1..NAME_MAX,
 * no '/', padded to 8 and wholly inside the payload. */
static int check_dirents(const struct fuse_op *op, struct fuse_cursor c,
			 char *err, size_t errlen)
{
	size_t head = op->reply == FUSE_R_DIRENTPLUS ? FUSE_NAME_OFFSET_DIRENTPLUS
						     : FUSE_NAME_OFFSET;
	size_t namelen_off = head - FUSE_NAME_OFFSET + offsetof(struct fuse_dirent, namelen);
	unsigned idx = 0;

	while (cur_left(&c)) {
		uint32_t namelen;
		size_t reclen;

		if (cur_left(&c) < head)
			return bad(err, errlen, "%s reply: %zu stray bytes after record %u",
				   op->name, cur_left(&c), idx);
		memcpy(&namelen, c.p + namelen_off, sizeof namelen);
		if (namelen == 0 || namelen > FUSE_NAME_MAX)
			return bad(err, errlen, "%s reply: record %u has namelen %u",
				   op->name, idx, namelen);
		reclen = FUSE_DIRENT_ALIGN(head + namelen);
		if (reclen > cur_left(&c))
			return bad(err, errlen, "%s reply: record %u needs %zu bytes, %zu left",
				   op->name, idx, reclen, cur_left(&c));
		if (memchr(c.p + head, '/', namelen))
			return bad(err, errlen, "%s reply: record %u name contains '/'",
				   op->name, idx);
		c.p += reclen;
		idx++;
	}
	return 0;
}

static int check_ioctl(const struct fuse_op *op, const struct fuse_req_view *req,
		       struct fuse_cursor c, char *err, size_t errlen)
{
	struct fuse_ioctl_out out;
	uint32_t out_size;
	uint64_t want;

	if (!cur_copy(&c, &out, sizeof out, sizeof out))
		return bad(err, errlen, "IOCTL reply: %zu bytes, fuse_ioctl_out needs %zu",
			   cur_left(&c), sizeof out);
	if (out.flags & FUSE_IOCTL_RETRY) {
		if (out.in_iovs > FUSE_IOCTL_MAX_IOV || out.out_iovs > FUSE_IOCTL_MAX_IOV)
			return bad(err, errlen, "IOCTL reply: retry with %u+%u iovecs (max %u each)",
				   out.in_iovs, out.out_iovs, FUSE_IOCTL_MAX_IOV);
		want = ((uint64_t)out.in_iovs + out.out_iovs) * sizeof(struct fuse_ioctl_iovec);
		if (cur_left(&c) != want)
			return bad(err, errlen, "IOCTL reply: retry with %u+%u iovecs needs %llu bytes, %zu follow",
				   out.in_iovs, out.out_iovs, (unsigned long long)want, cur_left(&c));
		return 0;
	}
	/* The kernel offers at least a page for out-data (it may hold iovecs). */
	if (fixed_u32(req, offsetof(struct fuse_ioctl_in, out_size), &out_size)) {
		want = out_size > 4096 ? out_size : 4096;
		if (cur_left(&c) > want)
			return bad(err, errlen, "IOCTL reply: %zu data bytes, out_size allows %llu",
				   cur_left(&c), (unsigned long long)want);
	}
	(void)op;
	return 0;
}

int fuse_validate_reply(uint32_t opcode, const struct fuse_req_view *req,
			const void *msg, size_t len,
			const struct fuse_wire_params *wp, char *err, size_t errlen)
{
	const struct fuse_op *op = fuse_op_get(opcode);
	const char *name = fuse_opname(opcode);
	struct fuse_out_header oh;
	struct fuse_in_header ih;
	struct fuse_cursor c;
	uint32_t minor = wp ? wp->minor : 0;
	uint32_t size, want;

	if (err && errlen)
		err[0] = '\0';
	if (!msg || len < sizeof oh)
		return bad(err, errlen, "%s reply: %zu bytes is shorter than fuse_out_header (%zu)",
			   name, len, sizeof oh);
	memcpy(&oh, msg, sizeof oh);
	if (oh.len != len)
		return bad(err, errlen, "%s reply: out_header.len %u but %zu bytes given",
			   name, oh.len, len);
	if (!op)
		return bad(err, errlen, "reply to unknown opcode %u", opcode);
	if (oh.unique == 0)
		return bad(err, errlen, "%s reply: unique 0 is reserved for notifications", name);
	if (req && req->h) {
		memcpy(&ih, req->h, sizeof ih);
		if (ih.opcode != opcode)
			return bad(err, errlen, "%s reply: the request is %s",
				   name, fuse_opname(ih.opcode));
		if (ih.unique != oh.unique)
			return bad(err, errlen, "%s reply: unique %#llx but the request is %#llx",
				   name, (unsigned long long)oh.unique,
				   (unsigned long long)ih.unique);
	}
	if (op->reply == FUSE_R_NONE)
		return bad(err, errlen, "%s takes no reply", name);
	if (oh.error > 0 || oh.error <= -FUSE_REPLY_ERRNO_LIMIT)
		return bad(err, errlen, "%s reply: error %d outside (-%d, 0]",
			   name, oh.error, FUSE_REPLY_ERRNO_LIMIT);
	c = cur_make((const uint8_t *)msg + sizeof oh, len - sizeof oh);
	if (oh.error) {
		if (cur_left(&c))
			return bad(err, errlen, "%s reply: error %d carries %zu payload bytes",
				   name, oh.error, cur_left(&c));
		return 0;
	}

	switch (op->reply) {
	case FUSE_R_INTERRUPT:
	case FUSE_R_EMPTY:
		if (cur_left(&c))
			return bad(err, errlen, "%s reply: %zu payload bytes, expected none",
				   name, cur_left(&c));
		return 0;
	case FUSE_R_FIXED:
		want = fuse_op_out_size(op, minor);
		if (cur_left(&c) != want)
			return bad(err, errlen, "%s reply: %zu payload bytes, expected %u",
				   name, cur_left(&c), want);
		return 0;
	case FUSE_R_DATA:
	case FUSE_R_DIRENT:
	case FUSE_R_DIRENTPLUS:
		if (fixed_u32(req, offsetof(struct fuse_read_in, size), &size) &&
		    cur_left(&c) > size)
			return bad(err, errlen, "%s reply: %zu bytes, more than the %u asked for",
				   name, cur_left(&c), size);
		if (op->reply == FUSE_R_DATA)
			return 0;
		return check_dirents(op, c, err, errlen);
	case FUSE_R_LINK:
		if (cur_left(&c) > FUSE_READLINK_MAX)
			return bad(err, errlen, "READLINK reply: %zu bytes, at most %u fit",
				   cur_left(&c), FUSE_READLINK_MAX);
		return 0;
	case FUSE_R_XATTR:
		if (!fixed_u32(req, offsetof(struct fuse_getxattr_in, size), &size))
			return 0;
		if (size == 0 && cur_left(&c) != sizeof(struct fuse_getxattr_out))
			return bad(err, errlen, "%s reply: size query answered with %zu bytes, expected %zu",
				   name, cur_left(&c), sizeof(struct fuse_getxattr_out));
		if (size && cur_left(&c) > size)
			return bad(err, errlen, "%s reply: %zu bytes, more than the %u asked for",
				   name, cur_left(&c), size);
		return 0;
	case FUSE_R_IOCTL:
		return check_ioctl(op, req, c, err, errlen);
	case FUSE_R_INIT:
		/* Old minors answer with 8 or 24 bytes; the kernel zero-fills. */
		if (cur_left(&c) < FUSE_COMPAT_INIT_OUT_SIZE || cur_left(&c) > op->out_size)
			return bad(err, errlen, "INIT reply: %zu bytes, expected %u..%u",
				   cur_left(&c), FUSE_COMPAT_INIT_OUT_SIZE, op->out_size);
		return 0;
	case FUSE_R_CUSE_INIT:
		if (cur_left(&c) < op->out_size ||
		    cur_left(&c) > op->out_size + (size_t)CUSE_INIT_INFO_MAX)
			return bad(err, errlen, "CUSE_INIT reply: %zu bytes, expected %u..%u",
				   cur_left(&c), op->out_size, op->out_size + CUSE_INIT_INFO_MAX);
		return 0;
	}
	return bad(err, errlen, "%s: no reply rule", name);
}

/* ---- Notifications ---------------------------------------------------------- */

/* INVAL_ENTRY and DELETE: fixed part, namelen bytes of name, NUL. */
static int check_notify_name(const struct fuse_notify *n, struct fuse_cursor c,
			     size_t namelen_off, char *err, size_t errlen)
{
	uint32_t namelen;
	size_t left = cur_left(&c);

	memcpy(&namelen, c.p + namelen_off, sizeof namelen);
	if (namelen > FUSE_NAME_MAX)
		return bad(err, errlen, "%s: namelen %u exceeds %u", n->name, namelen, FUSE_NAME_MAX);
	if (left != (size_t)n->size + namelen + 1)
		return bad(err, errlen, "%s: namelen %u needs %zu payload bytes, %zu given",
			   n->name, namelen, (size_t)n->size + namelen + 1, left);
	if (c.p[n->size + namelen] != '\0')
		return bad(err, errlen, "%s: name not NUL-terminated", n->name);
	return 0;
}

int fuse_validate_notify(const void *msg, size_t len, char *err, size_t errlen)
{
	const struct fuse_notify *n;
	struct fuse_out_header oh;
	struct fuse_cursor c;
	uint32_t v32;
	uint64_t want;

	if (err && errlen)
		err[0] = '\0';
	if (!msg || len < sizeof oh)
		return bad(err, errlen, "notification of %zu bytes is shorter than fuse_out_header (%zu)",
			   len, sizeof oh);
	memcpy(&oh, msg, sizeof oh);
	if (oh.len != len)
		return bad(err, errlen, "notification: out_header.len %u but %zu bytes given",
			   oh.len, len);
	if (oh.unique != 0)
		return bad(err, errlen, "notification with unique %#llx (must be 0)",
			   (unsigned long long)oh.unique);
	if (oh.error <= 0)
		return bad(err, errlen, "notification code %d (must be positive)", oh.error);
	n = fuse_notify_get((uint32_t)oh.error);
	if (!n)
		return bad(err, errlen, "unknown notification code %d", oh.error);
	c = cur_make((const uint8_t *)msg + sizeof oh, len - sizeof oh);
	if (cur_left(&c) < n->size || (n->exact && cur_left(&c) != n->size))
		return bad(err, errlen, "%s: payload of %zu bytes, expected %s%u",
			   n->name, cur_left(&c), n->exact ? "" : "at least ", n->size);

	switch (n->code) {
	case FUSE_NOTIFY_INVAL_ENTRY:
		memcpy(&v32, c.p + offsetof(struct fuse_notify_inval_entry_out, flags), sizeof v32);
		if (v32 & ~(uint32_t)FUSE_EXPIRE_ONLY)
			return bad(err, errlen, "INVAL_ENTRY: unknown flags %#x", v32);
		return check_notify_name(n, c, offsetof(struct fuse_notify_inval_entry_out, namelen),
					 err, errlen);
	case FUSE_NOTIFY_DELETE:
		return check_notify_name(n, c, offsetof(struct fuse_notify_delete_out, namelen),
					 err, errlen);
	case FUSE_NOTIFY_STORE:
		memcpy(&v32, c.p + offsetof(struct fuse_notify_store_out, size), sizeof v32);
		want = (uint64_t)n->size + v32;
		break;
	case FUSE_NOTIFY_PRUNE:
		memcpy(&v32, c.p + offsetof(struct fuse_notify_prune_out, count), sizeof v32);
		want = (uint64_t)n->size + (uint64_t)v32 * sizeof(uint64_t);
		break;
	default:
		return 0;
	}
	if (cur_left(&c) != want)
		return bad(err, errlen, "%s: size/count %u needs %llu payload bytes, %zu given",
			   n->name, v32, (unsigned long long)want, cur_left(&c));
	return 0;
}

/* ---- Handles, for recorders --------------------------------------------- */

static const struct fuse_op *view_op(const struct fuse_req_view *v)
{
	struct fuse_in_header ih;

	if (!v || !v->h)
		return NULL;
	memcpy(&ih, v->h, sizeof ih);
	return fuse_op_get(ih.opcode);
}

bool fuse_req_fh(const struct fuse_req_view *v, uint64_t *fh)
{
	const struct fuse_op *op = view_op(v);
	uint32_t cond;

	if (!op || op->fh_off < 0)
		return false;
	if (op->flags & FOP_FH_COND) {
		/* GETATTR/STATX: getattr_flags @0; SETATTR: valid @0 */
		if (!fixed_u32(v, 0, &cond))
			return false;
		if (op->opcode == FUSE_SETATTR ? !(cond & FATTR_FH) : !(cond & FUSE_GETATTR_FH))
			return false;
	}
	return fixed_u64(v, (size_t)op->fh_off, fh);
}

bool fuse_req_fh2(const struct fuse_req_view *v, uint64_t *fh)
{
	const struct fuse_op *op = view_op(v);

	return op && op->fh2_off >= 0 && fixed_u64(v, (size_t)op->fh2_off, fh);
}

bool fuse_req_node2(const struct fuse_req_view *v, uint64_t *nodeid)
{
	const struct fuse_op *op = view_op(v);

	return op && op->node2_off >= 0 && fixed_u64(v, (size_t)op->node2_off, nodeid);
}

bool fuse_reply_new_node(uint32_t opcode, const void *payload, size_t len, uint64_t *nodeid)
{
	const struct fuse_op *op = fuse_op_get(opcode);

	if (!op || !(op->flags & FOP_NEW_NODE) || len < FUSE_COMPAT_ENTRY_OUT_SIZE)
		return false;
	memcpy(nodeid, payload, sizeof *nodeid);   /* entry_out.nodeid @0 */
	return true;
}

bool fuse_reply_new_fh(uint32_t opcode, const void *payload, size_t len, uint64_t *fh)
{
	const struct fuse_op *op = fuse_op_get(opcode);
	size_t off;

	if (!op || !(op->flags & FOP_NEW_FH))
		return false;
	off = (size_t)op->new_fh_off;
	/* CREATE before 7.9: entry_out was 120 bytes */
	if (op->reply == FUSE_R_FIXED && off &&
	    len == FUSE_COMPAT_ENTRY_OUT_SIZE + sizeof(struct fuse_open_out))
		off = FUSE_COMPAT_ENTRY_OUT_SIZE;
	if (len < off + sizeof(struct fuse_open_out))
		return false;
	memcpy(fh, (const uint8_t *)payload + off, sizeof *fh);
	return true;
}
