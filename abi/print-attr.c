/* \summary: printers for attribute ops: GETATTR, SETATTR, STATX, ACCESS.
 *
 *   GETATTR  in_header | fuse_getattr_in  -> fuse_attr_out (96 before 7.9)
 *   SETATTR  in_header | fuse_setattr_in  -> fuse_attr_out
 *   STATX    in_header | fuse_statx_in    -> fuse_statx_out
 *   ACCESS   in_header | fuse_access_in   -> (header only)
 */
#include <unistd.h>
#include "format_i.h"

void pr_getattr(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_getattr_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	if (in.getattr_flags & FUSE_GETATTR_FH)
		fb_printf(fb, " fh=%llu", ULL(in.fh));
}

static void stamp(struct fbuf *fb, const char *what, uint64_t sec, uint32_t nsec)
{
	fb_printf(fb, " %s=%llu.%09u", what, ULL(sec), nsec);
}

void pr_setattr(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_setattr_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " valid=");
	fb_flags(fb, fuse_fattr_names, in.valid);
	if (in.valid & FATTR_MODE)
		fb_printf(fb, " mode=%#o", in.mode);
	if (in.valid & FATTR_UID)
		fb_printf(fb, " uid=%u", in.uid);
	if (in.valid & FATTR_GID)
		fb_printf(fb, " gid=%u", in.gid);
	if (in.valid & FATTR_SIZE)
		fb_printf(fb, " size=%llu", ULL(in.size));
	if ((in.valid & FATTR_ATIME) && !(in.valid & FATTR_ATIME_NOW))
		stamp(fb, "atime", in.atime, in.atimensec);
	if ((in.valid & FATTR_MTIME) && !(in.valid & FATTR_MTIME_NOW))
		stamp(fb, "mtime", in.mtime, in.mtimensec);
	if (in.valid & FATTR_CTIME)
		stamp(fb, "ctime", in.ctime, in.ctimensec);
	if (in.valid & FATTR_FH)
		fb_printf(fb, " fh=%llu", ULL(in.fh));
	if (in.valid & FATTR_LOCKOWNER)
		fb_printf(fb, " owner=%#llx", ULL(in.lock_owner));
}

void pr_statx(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_statx_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " mask=%#x flags=%#x", in.sx_mask, in.sx_flags);
	if (in.getattr_flags & FUSE_GETATTR_FH)
		fb_printf(fb, " fh=%llu", ULL(in.fh));
}

void pr_access(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	static const struct fuse_tok modes[] = {
		{ R_OK, "R_OK" }, { W_OK, "W_OK" }, { X_OK, "X_OK" }, { 0, NULL }
	};
	struct fuse_access_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " mask=");
	if (in.mask == F_OK)
		fb_printf(fb, "F_OK");
	else
		fb_flags(fb, modes, in.mask);
}

void pr_r_attr(struct fbuf *fb, const struct fuse_op *op,
	       const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_attr_out a;
	size_t size = cur_left(c) == FUSE_COMPAT_ATTR_OUT_SIZE ?
		      FUSE_COMPAT_ATTR_OUT_SIZE : sizeof a;

	(void)req;
	if (!cur_copy(c, &a, sizeof a, size))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "attr ");
	fb_attr(fb, &a.attr);
}

void pr_r_statx(struct fbuf *fb, const struct fuse_op *op,
		const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_statx_out s;

	(void)req;
	if (!cur_copy(c, &s, sizeof s, sizeof s))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "statx mask=%#x mode=%#o size=%llu", s.stat.mask,
		  s.stat.mode, ULL(s.stat.size));
}
