/* \summary: printers for notifications (daemon -> kernel, unique 0) and
 * the NOTIFY_REPLY request that answers a RETRIEVE.
 *
 *   out_header{len, error=code, unique=0} | payload
 *   INVAL_ENTRY  fuse_notify_inval_entry_out | name | \0
 *   DELETE       fuse_notify_delete_out | name | \0
 *   STORE        fuse_notify_store_out | size bytes
 *   PRUNE        fuse_notify_prune_out | count x u64 nodeid
 */
#include <string.h>
#include "format.h"
#include "format_i.h"

void pr_notify_reply(struct fbuf *fb, const struct fuse_op *op, const struct fuse_req_view *v)
{
	struct fuse_notify_retrieve_in in;

	if (!fb_fixed(v, &in, sizeof in, sizeof in))
		{ fb_trunc(fb, op); return; }
	fb_printf(fb, " off=%llu size=%u", ULL(in.offset), in.size);
}

/* namelen bytes of name after the fixed part, as far as they are there. */
static void notify_name(struct fbuf *fb, struct fuse_cursor *c, uint32_t namelen)
{
	size_t n = namelen < cur_left(c) ? namelen : cur_left(c);

	fb_printf(fb, " ");
	fb_quoted(fb, (const char *)c->p, n);
	if (n < namelen)
		fb_printf(fb, " [|name]");
}

int fuse_format_notify(char *buf, size_t n, const void *msg, size_t len)
{
	struct fuse_out_header oh;
	struct fuse_cursor c;
	struct fbuf fb;
	union {
		struct fuse_notify_poll_wakeup_out poll;
		struct fuse_notify_inval_inode_out inode;
		struct fuse_notify_inval_entry_out entry;
		struct fuse_notify_store_out store;
		struct fuse_notify_retrieve_out retrieve;
		struct fuse_notify_delete_out del;
		struct fuse_notify_prune_out prune;
	} u;
	const struct fuse_notify *nt;

	fb_init(&fb, buf, n);
	if (!msg || len < sizeof oh) {
		fb_printf(&fb, "[|notify]");
		return fb_done(&fb);
	}
	memcpy(&oh, msg, sizeof oh);
	nt = oh.error > 0 ? fuse_notify_get((uint32_t)oh.error) : NULL;
	if (!nt) {
		fb_printf(&fb, "NOTIFY code=%d %zu bytes", oh.error, len - sizeof oh);
		return fb_done(&fb);
	}
	fb_printf(&fb, "%s", nt->name);
	c = cur_make((const uint8_t *)msg + sizeof oh, len - sizeof oh);
	if (!cur_copy(&c, &u, sizeof u, nt->size)) {
		fb_printf(&fb, " [|%s]", nt->name);
		return fb_done(&fb);
	}
	switch (nt->code) {
	case FUSE_NOTIFY_POLL:
		fb_printf(&fb, " kh=%llu", ULL(u.poll.kh));
		break;
	case FUSE_NOTIFY_INVAL_INODE:
		fb_printf(&fb, " node=%llu off=%lld len=%lld", ULL(u.inode.ino),
			  SLL(u.inode.off), SLL(u.inode.len));
		break;
	case FUSE_NOTIFY_INVAL_ENTRY:
		fb_printf(&fb, " parent=%llu", ULL(u.entry.parent));
		notify_name(&fb, &c, u.entry.namelen);
		if (u.entry.flags & FUSE_EXPIRE_ONLY)
			fb_printf(&fb, " expire_only");
		break;
	case FUSE_NOTIFY_STORE:
		fb_printf(&fb, " node=%llu off=%llu size=%u", ULL(u.store.nodeid),
			  ULL(u.store.offset), u.store.size);
		break;
	case FUSE_NOTIFY_RETRIEVE:
		fb_printf(&fb, " unique=%llu node=%llu off=%llu size=%u",
			  ULL(u.retrieve.notify_unique), ULL(u.retrieve.nodeid),
			  ULL(u.retrieve.offset), u.retrieve.size);
		break;
	case FUSE_NOTIFY_DELETE:
		fb_printf(&fb, " parent=%llu child=%llu", ULL(u.del.parent), ULL(u.del.child));
		notify_name(&fb, &c, u.del.namelen);
		break;
	case FUSE_NOTIFY_PRUNE:
		fb_printf(&fb, " count=%u", u.prune.count);
		break;
	default:   /* RESEND, INC_EPOCH: no payload */
		break;
	}
	return fb_done(&fb);
}
