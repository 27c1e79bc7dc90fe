/* \summary: printers for session ops: INIT, CUSE_INIT, INTERRUPT, STATFS
 * (DESTROY and SYNCFS print no arguments).
 *
 *   INIT       in_header | fuse_init_in (8/16/64 by minor) -> fuse_init_out (8/24/64)
 *   CUSE_INIT  in_header | cuse_init_in -> cuse_init_out | device info
 *   INTERRUPT  in_header (unique = target|1) | fuse_interrupt_in -> none or header
 *   STATFS     in_header -> fuse_statfs_out (48 before 7.4)
 */
#include "format_i.h"

/* The 64-bit flag set: flags2 counts only with FUSE_INIT_EXT. */
static uint64_t init_flags(uint32_t flags, uint32_t flags2)
{
	uint64_t all = flags;

	if (all & FUSE_INIT_EXT)
		all |= (uint64_t)flags2 << 32;
	return all;
}

void pr_init(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_init_in in;

	if (!fb_fixed(v, &in, sizeof in, 8))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " %u.%u", in.major, in.minor);
	if (v->fixed_len < 16)
		return;
	fb_printf(fb, " flags=");
	fb_flags(fb, fuse_init_flag_names, init_flags(in.flags, in.flags2));
	fb_printf(fb, " max_readahead=%u", in.max_readahead);
}

void pr_cuse_init(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct cuse_init_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " %u.%u flags=%#x", in.major, in.minor, in.flags);
}

void pr_interrupt(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_interrupt_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " unique=%llu", ULL(in.unique));
}

/* Print the fields a reply of its length carries (8, 24 or 64 bytes). */
void pr_r_init(struct fbuf *fb, const struct fuse_op *op,
	       const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_init_out o;
	size_t have = cur_left(c);
	uint64_t flags;

	(void)req;
	if (have > sizeof o)
		have = sizeof o;
	if (have < FUSE_COMPAT_INIT_OUT_SIZE || !cur_copy(c, &o, sizeof o, have))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "%u.%u", o.major, o.minor);
	if (have < 16)
		return;
	flags = have >= 36 ? init_flags(o.flags, o.flags2) : o.flags;
	fb_printf(fb, " flags=");
	fb_flags(fb, fuse_init_flag_names, flags);
	fb_printf(fb, " max_readahead=%u", o.max_readahead);
	if (have < FUSE_COMPAT_22_INIT_OUT_SIZE)
		return;
	fb_printf(fb, " max_write=%u max_background=%u congestion_threshold=%u",
		  o.max_write, o.max_background, o.congestion_threshold);
	if (have < sizeof o)
		return;
	fb_printf(fb, " time_gran=%u", o.time_gran);
	if (flags & FUSE_MAX_PAGES)
		fb_printf(fb, " max_pages=%u", o.max_pages);
	if (flags & FUSE_MAP_ALIGNMENT)
		fb_printf(fb, " map_alignment=%u", o.map_alignment);
	if (flags & FUSE_PASSTHROUGH)
		fb_printf(fb, " max_stack_depth=%u", o.max_stack_depth);
	if (flags & FUSE_REQUEST_TIMEOUT)
		fb_printf(fb, " request_timeout=%u", o.request_timeout);
}

void pr_r_cuse_init(struct fbuf *fb, const struct fuse_op *op,
		    const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct cuse_init_out o;

	(void)req;
	if (!cur_copy(c, &o, sizeof o, sizeof o))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "%u.%u flags=%#x max_read=%u max_write=%u dev=%u:%u info=",
		  o.major, o.minor, o.flags, o.max_read, o.max_write,
		  o.dev_major, o.dev_minor);
	fb_quoted(fb, (const char *)c->p, cur_left(c));
}

void pr_r_statfs(struct fbuf *fb, const struct fuse_op *op,
		 const struct fuse_req_view *req, struct fuse_cursor *c)
{
	struct fuse_kstatfs st;
	size_t have = cur_left(c);

	(void)req;
	if (have != FUSE_COMPAT_STATFS_SIZE)
		have = sizeof st;
	if (!cur_copy(c, &st, sizeof st, have))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, "blocks=%llu bfree=%llu bavail=%llu files=%llu ffree=%llu bsize=%u namelen=%u",
		  ULL(st.blocks), ULL(st.bfree), ULL(st.bavail), ULL(st.files),
		  ULL(st.ffree), st.bsize, st.namelen);
	if (have == sizeof st)
		fb_printf(fb, " frsize=%u", st.frsize);
}
