/* \summary: printers for directory listings: READDIR and READDIRPLUS
 * replies.  (OPENDIR/READDIR/RELEASEDIR/FSYNCDIR requests reuse the file
 * printers.)
 *
 *   READDIR      -> { fuse_dirent | name | pad to 8 }*
 *   READDIRPLUS  -> { fuse_entry_out | fuse_dirent | name | pad to 8 }*
 */
#include "format_i.h"

/* Count whole records; stop with a marker at the first malformed one. */
static void entries(struct fbuf *fb, const struct fuse_op *op,
		    struct fuse_cursor *c, size_t head)
{
	size_t namelen_off = head - FUSE_NAME_OFFSET + offsetof(struct fuse_dirent, namelen);
	unsigned count = 0;
	bool bad = false;

	while (cur_left(c)) {
		uint32_t namelen;
		size_t reclen;

		if (cur_left(c) < head) {
			bad = true;
			break;
		}
		memcpy(&namelen, c->p + namelen_off, sizeof namelen);
		reclen = FUSE_DIRENT_ALIGN(head + (size_t)namelen);
		if (!namelen || namelen > FUSE_NAME_MAX || reclen > cur_left(c)) {
			bad = true;
			break;
		}
		c->p += reclen;
		count++;
	}
	fb_printf(fb, "%u %s", count, count == 1 ? "entry" : "entries");
	if (bad)
		fb_trunc(fb, op);
}

void pr_r_dirent(struct fbuf *fb, const struct fuse_op *op,
		 const struct fuse_req_view *req, struct fuse_cursor *c)
{
	(void)req;
	entries(fb, op, c, FUSE_NAME_OFFSET);
}

void pr_r_direntplus(struct fbuf *fb, const struct fuse_op *op,
		     const struct fuse_req_view *req, struct fuse_cursor *c)
{
	(void)req;
	entries(fb, op, c, FUSE_NAME_OFFSET_DIRENTPLUS);
}
