/* \summary: printers for extended attributes: SETXATTR, GETXATTR,
 * LISTXATTR, REMOVEXATTR (the last uses pr_name).
 *
 *   SETXATTR   in_header | fuse_setxattr_in (8 without SETXATTR_EXT) | name\0 | value
 *   GETXATTR   in_header | fuse_getxattr_in | name\0 -> size==0: fuse_getxattr_out
 *   LISTXATTR  in_header | fuse_getxattr_in          ->   else: <= size bytes
 */
#include <string.h>
#include "format_i.h"

void pr_setxattr(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_setxattr_in in;

	if (!fb_fixed(v, &in, sizeof in, FUSE_COMPAT_SETXATTR_IN_SIZE) || !v->name)
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " ");
	fb_quoted(fb, v->name, strlen(v->name));
	fb_printf(fb, " size=%u", in.size);
	if (in.flags) {
		fb_printf(fb, " flags=");
		fb_flags(fb, fuse_setxattr_flag_names, in.flags);
	}
	if (in.setxattr_flags & FUSE_SETXATTR_ACL_KILL_SGID)
		fb_printf(fb, " acl_kill_sgid");
}

/* GETXATTR (with a name) and LISTXATTR (without) */
void pr_getxattr(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_getxattr_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in) || (op->nnames && !v->name))
		{ fb_trunc(fb, op); return; }
	if (op->nnames) {
		fb_printf(fb, " ");
		fb_quoted(fb, v->name, strlen(v->name));
	}
	fb_printf(fb, " size=%u", in.size);
}

void pr_r_xattr(struct fbuf *fb, const struct fuse_op *op,
		const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_getxattr_out out;
	uint32_t size = 1;

	if (req && req->fixed && req->fixed_len >= sizeof size)
		memcpy(&size, req->fixed, sizeof size);   /* getxattr_in.size @0 */
	if (size == 0) {
		if (!cur_copy(c, &out, sizeof out, sizeof out))
			{ fb_trunc(fb, op); return; }
		fb_printf(fb, "size=%u", out.size);
		return;
	}
	fb_printf(fb, "%zu bytes", cur_left(c));
}
