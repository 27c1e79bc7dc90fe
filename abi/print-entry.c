/* \summary: printers for the name/inode-lifetime ops: LOOKUP, FORGET,
 * BATCH_FORGET, SYMLINK, MKNOD, MKDIR, UNLINK, RMDIR, RENAME(2), LINK,
 * READLINK.
 *
 *   LOOKUP   in_header | name\0                      -> fuse_entry_out
 *   MKNOD    in_header | fuse_mknod_in | name\0 [ext] -> fuse_entry_out
 *   RENAME2  in_header | fuse_rename2_in | old\0 new\0
 */
#include <string.h>
#include "format_i.h"

static void quoted_name(struct fbuf *fb, const char *s)
{
	fb_printf(fb, " ");
	fb_quoted(fb, s, strlen(s));
}

void pr_name(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	if (!v->name)
		{ fb_trunc(fb, op); return; }
	quoted_name(fb, v->name);
}

void pr_forget(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_forget_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " nlookup=%llu", ULL(in.nlookup));
}

void pr_batch_forget(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_batch_forget_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " count=%u", in.count);
}

void pr_symlink(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	if (!v->name || !v->name2)
		{ fb_trunc(fb, op); return; }
	quoted_name(fb, v->name);
	fb_printf(fb, " ->");
	quoted_name(fb, v->name2);
}

void pr_mknod(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_mknod_in in;

	if (!fb_fixed(v, &in, sizeof in, FUSE_COMPAT_MKNOD_IN_SIZE) || !v->name)
		{ fb_trunc(fb, op); return; }
	quoted_name(fb, v->name);
	fb_printf(fb, " mode=%#o rdev=%#x", in.mode, in.rdev);
	if (v->fixed_len >= sizeof in)
		fb_printf(fb, " umask=%#o", in.umask);
}

void pr_mkdir(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_mkdir_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in) || !v->name)
		{ fb_trunc(fb, op); return; }
	quoted_name(fb, v->name);
	fb_printf(fb, " mode=%#o umask=%#o", in.mode, in.umask);
}

/* RENAME and RENAME2 share the prefix {u64 newdir}. */
void pr_rename(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_rename2_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof(struct fuse_rename_in)) ||
	    !v->name || !v->name2)
		{ fb_trunc(fb, op); return; }
	quoted_name(fb, v->name);
	fb_printf(fb, " -> dir=%llu", ULL(in.newdir));
	quoted_name(fb, v->name2);
	if (in.flags) {
		fb_printf(fb, " flags=");
		fb_flags(fb, fuse_rename_flag_names, in.flags);
	}
}

/* LINK: header nodeid is the new parent, link_in.oldnodeid the inode. */
void pr_link(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_link_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in) || !v->name)
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " old=%llu", ULL(in.oldnodeid));
	quoted_name(fb, v->name);
}

void pr_r_entry(struct fbuf *fb, const struct fuse_op *op,
		const struct fuse_req_view *req, struct fuse_cursor *c)
{
	size_t size = cur_left(c) == FUSE_COMPAT_ENTRY_OUT_SIZE ?
		      FUSE_COMPAT_ENTRY_OUT_SIZE : sizeof(struct fuse_entry_out);

	(void)req;
	if (!fb_entry_out(fb, c, size))
		fb_trunc(fb, op);
}

void pr_r_link(struct fbuf *fb, const struct fuse_op *op,
	       const struct fuse_req_view *req, struct fuse_cursor *c)
{
	(void)op;
	(void)req;
	fb_quoted(fb, (const char *)c->p, cur_left(c));
}
