/* \summary: printers for open-file ops: OPEN, CREATE, TMPFILE, READ, WRITE,
 * RELEASE, FLUSH, FSYNC, IOCTL, POLL, FALLOCATE, LSEEK, COPY_FILE_RANGE(_64),
 * BMAP, SETUPMAPPING, REMOVEMAPPING.  (Directory handles share OPEN, READ,
 * RELEASE and FSYNC's printers.)
 *
 *   OPEN    in_header | fuse_open_in            -> fuse_open_out
 *   CREATE  in_header | fuse_create_in | name\0 [ext]
 *                                               -> fuse_entry_out | fuse_open_out
 *   READ    in_header | fuse_read_in            -> data (<= size)
 *   WRITE   in_header | fuse_write_in | data    -> fuse_write_out
 *   IOCTL   in_header | fuse_ioctl_in | in-data -> fuse_ioctl_out | data or iovecs
 */
#include <string.h>
#include <unistd.h>
#include "format_i.h"

void pr_open(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_open_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " flags=");
	fb_oflags(fb, in.flags);
	if (in.open_flags & FUSE_OPEN_KILL_SUIDGID)
		fb_printf(fb, " kill_suidgid");
}

/* Before 7.12 CREATE carried {flags, mode} only. */
void pr_create(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_create_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof(struct fuse_open_in)) || !v->name)
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " ");
	fb_quoted(fb, v->name, strlen(v->name));
	fb_printf(fb, " flags=");
	fb_oflags(fb, in.flags);
	fb_printf(fb, " mode=%#o", in.mode);
	if (v->fixed_len >= sizeof in)
		fb_printf(fb, " umask=%#o", in.umask);
}

/* READ, READDIR, READDIRPLUS */
void pr_read(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_read_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu off=%llu size=%u", ULL(in.fh), ULL(in.offset), in.size);
}

/* The 24-byte pre-7.9 write_in is a prefix of the current one. */
void pr_write(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_write_in in;

	if (!fb_fixed(v, &in, sizeof in, FUSE_COMPAT_WRITE_IN_SIZE))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu off=%llu size=%u", ULL(in.fh), ULL(in.offset), in.size);
	if (in.write_flags) {
		fb_printf(fb, " flags=");
		fb_flags(fb, fuse_write_flag_names, in.write_flags);
	}
}

/* RELEASE, RELEASEDIR */
void pr_release(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_release_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu flags=", ULL(in.fh));
	fb_oflags(fb, in.flags);
	if (in.release_flags) {
		fb_printf(fb, " release=");
		fb_flags(fb, fuse_release_flag_names, in.release_flags);
		fb_printf(fb, " owner=%#llx", ULL(in.lock_owner));
	}
}

void pr_flush(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_flush_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu owner=%#llx", ULL(in.fh), ULL(in.lock_owner));
}

/* FSYNC, FSYNCDIR */
void pr_fsync(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_fsync_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu", ULL(in.fh));
	if (in.fsync_flags & FUSE_FSYNC_FDATASYNC)
		fb_printf(fb, " datasync");
}

void pr_ioctl(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_ioctl_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu cmd=%#x arg=%#llx in=%u out=%u", ULL(in.fh), in.cmd,
		  ULL(in.arg), in.in_size, in.out_size);
	if (in.flags) {
		fb_printf(fb, " flags=");
		fb_flags(fb, fuse_ioctl_flag_names, in.flags);
	}
}

void pr_poll(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_poll_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu kh=%llu events=%#x", ULL(in.fh), ULL(in.kh), in.events);
	if (in.flags & FUSE_POLL_SCHEDULE_NOTIFY)
		fb_printf(fb, " notify");
}

void pr_fallocate(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_fallocate_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu off=%llu len=%llu mode=%#x", ULL(in.fh),
		  ULL(in.offset), ULL(in.length), in.mode);
}

void pr_lseek(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	static const struct fuse_tok whence[] = {
		{ SEEK_SET, "SEEK_SET" }, { SEEK_CUR, "SEEK_CUR" }, { SEEK_END, "SEEK_END" },
		{ SEEK_DATA, "SEEK_DATA" }, { SEEK_HOLE, "SEEK_HOLE" }, { 0, NULL }
	};
	struct fuse_lseek_in in;
	const char *w;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu off=%llu", ULL(in.fh), ULL(in.offset));
	w = fuse_tok_name(whence, in.whence);
	if (w)
		fb_printf(fb, " whence=%s", w);
	else
		fb_printf(fb, " whence=%u", in.whence);
}

void pr_copy_file_range(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_copy_file_range_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu off=%llu -> node=%llu fh=%llu off=%llu len=%llu",
		  ULL(in.fh_in), ULL(in.off_in), ULL(in.nodeid_out), ULL(in.fh_out),
		  ULL(in.off_out), ULL(in.len));
	if (in.flags)
		fb_printf(fb, " flags=%#llx", ULL(in.flags));
}

void pr_bmap(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_bmap_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " block=%llu blocksize=%u", ULL(in.block), in.blocksize);
}

void pr_setupmapping(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_setupmapping_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " fh=%llu foff=%llu len=%llu moff=%llu flags=%#llx", ULL(in.fh),
		  ULL(in.foffset), ULL(in.len), ULL(in.moffset), ULL(in.flags));
}

void pr_removemapping(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_removemapping_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " count=%u", in.count);
}

/* ---- Replies ------------------------------------------------------------- */

void pr_r_open(struct fbuf *fb, const struct fuse_op *op,
	       const struct fuse_req_view *req, struct fuse_cursor *c)
{
	(void)req;
	if (!fb_open_out(fb, c))
		fb_trunc(fb, op);
}

void pr_r_create(struct fbuf *fb, const struct fuse_op *op,
		 const struct fuse_req_view *req, struct fuse_cursor *c)
{
	size_t esize = cur_left(c) == FUSE_COMPAT_ENTRY_OUT_SIZE + sizeof(struct fuse_open_out) ?
		       FUSE_COMPAT_ENTRY_OUT_SIZE : sizeof(struct fuse_entry_out);

	(void)req;
	if (!fb_entry_out(fb, c, esize))
		{ fb_trunc(fb, op); return; }
	if (cur_left(c) < sizeof(struct fuse_open_out)) {
		fb_trunc(fb, op);
		return;
	}
	fb_printf(fb, " ");
	fb_open_out(fb, c);
}

void pr_r_data(struct fbuf *fb, const struct fuse_op *op,
	       const struct fuse_req_view *req, struct fuse_cursor *c)
{
	(void)op;
	(void)req;
	fb_printf(fb, "%zu bytes", cur_left(c));
}

/* WRITE, COPY_FILE_RANGE: fuse_write_out */
void pr_r_write(struct fbuf *fb, const struct fuse_op *op,
		const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_write_out out;

	(void)req;
	if (!cur_copy(c, &out, sizeof out, sizeof out))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "%u bytes", out.size);
}

void pr_r_copy64(struct fbuf *fb, const struct fuse_op *op,
		 const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_copy_file_range_out out;

	(void)req;
	if (!cur_copy(c, &out, sizeof out, sizeof out))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "%llu bytes", ULL(out.bytes_copied));
}

void pr_r_ioctl(struct fbuf *fb, const struct fuse_op *op,
		const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_ioctl_out out;

	(void)req;
	if (!cur_copy(c, &out, sizeof out, sizeof out))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "result=%d", out.result);
	if (out.flags & FUSE_IOCTL_RETRY)
		fb_printf(fb, " retry in_iovs=%u out_iovs=%u", out.in_iovs, out.out_iovs);
	else if (cur_left(c))
		fb_printf(fb, " %zu bytes", cur_left(c));
}

void pr_r_poll(struct fbuf *fb, const struct fuse_op *op,
	       const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_poll_out out;

	(void)req;
	if (!cur_copy(c, &out, sizeof out, sizeof out))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "revents=%#x", out.revents);
}

void pr_r_lseek(struct fbuf *fb, const struct fuse_op *op,
		const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_lseek_out out;

	(void)req;
	if (!cur_copy(c, &out, sizeof out, sizeof out))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "off=%llu", ULL(out.offset));
}

void pr_r_bmap(struct fbuf *fb, const struct fuse_op *op,
	       const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_bmap_out out;

	(void)req;
	if (!cur_copy(c, &out, sizeof out, sizeof out))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "block=%llu", ULL(out.block));
}
