/* \summary: printers for POSIX and BSD locks: GETLK, SETLK, SETLKW.
 *
 *   GETLK   in_header | fuse_lk_in -> fuse_lk_out
 *   SETLK   in_header | fuse_lk_in -> (header only)
 */
#include <fcntl.h>
#include <stdint.h>
#include "format_i.h"

static void lock(struct fbuf *fb, const struct fuse_file_lock *lk)
{
	static const struct fuse_tok types[] = {
		{ F_RDLCK, "F_RDLCK" }, { F_WRLCK, "F_WRLCK" }, { F_UNLCK, "F_UNLCK" },
		{ 0, NULL }
	};
	const char *t = fuse_tok_name(types, lk->type);

	if (t)
		fb_printf(fb, "type=%s", t);
	else
		fb_printf(fb, "type=%u", lk->type);
	if (lk->type == F_UNLCK && !lk->start && !lk->end)
		return;
	fb_printf(fb, " start=%llu", ULL(lk->start));
	if (lk->end == (uint64_t)INT64_MAX)
		fb_printf(fb, " end=EOF");
	else
		fb_printf(fb, " end=%llu", ULL(lk->end));
	fb_printf(fb, " pid=%u", lk->pid);
}

void pr_lk(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_lk_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu owner=%#llx ", ULL(in.fh), ULL(in.owner));
	lock(fb, &in.lk);
	if (in.lk_flags & FUSE_LK_FLOCK)
		fb_printf(fb, " flock");
}

void pr_r_lk(struct fbuf *fb, const struct fuse_op *op,
	     const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_lk_out out;

	(void)req;
	if (!cur_copy(c, &out, sizeof out, sizeof out))
		{ fb_trunc(fb, op); return; }
	lock(fb, &out.lk);
}
