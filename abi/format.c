/* \summary: one-line formatting of FUSE requests and replies (format.h).
 *
 * This file holds the output buffer, the header part of each line and the
 * dispatch through the opcode table; the per-op argument printers live in
 * print-<family>.c.  Input is never trusted: every printer reads through
 * the view's lengths or a cursor and prints " [|NAME]" where bytes run out.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "format.h"
#include "format_i.h"

/* ---- Output buffer -------------------------------------------------------- */

void fb_init(struct fbuf *fb, char *buf, size_t n)
{
	fb->buf = buf;
	fb->n = buf ? n : 0;
	fb->len = 0;
	if (fb->n)
		buf[0] = '\0';
}

void fb_printf(struct fbuf *fb, const char *fmt, ...)
{
	char *dst = NULL;
	size_t room = 0;
	va_list ap;
	int r;

	if (fb->len < fb->n) {
		dst = fb->buf + fb->len;
		room = fb->n - fb->len;
	}
	va_start(ap, fmt);
	r = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (r > 0)
		fb->len += (size_t)r;
}

int fb_done(const struct fbuf *fb)
{
	return fb->len > INT_MAX ? INT_MAX : (int)fb->len;
}

void fb_flags(struct fbuf *fb, const struct fuse_tok *t, uint64_t v)
{
	const char *sep = "";
	uint64_t rest = v;

	if (!v) {
		fb_printf(fb, "0");
		return;
	}
	for (; t->s; t++) {
		if (t->v && (rest & t->v) == t->v) {
			fb_printf(fb, "%s%s", sep, t->s);
			sep = "|";
			rest &= ~t->v;
		}
	}
	if (rest)
		fb_printf(fb, "%s%#llx", sep, ULL(rest));
}

void fb_oflags(struct fbuf *fb, uint32_t flags)
{
	static const char *const acc[] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };

	fb_printf(fb, "%s", acc[flags & 3]);
	if (flags & ~3u) {
		fb_printf(fb, "|");
		fb_flags(fb, fuse_open_flag_names, flags & ~3u);
	}
}

void fb_quoted(struct fbuf *fb, const char *s, size_t len)
{
	size_t i, run;

	fb_printf(fb, "\"");
	for (i = 0; i < len; i += run) {
		unsigned char ch = (unsigned char)s[i];

		for (run = 0; i + run < len; run++) {
			ch = (unsigned char)s[i + run];
			if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
				break;
		}
		if (run) {
			fb_printf(fb, "%.*s", (int)run, s + i);
			continue;
		}
		if (ch == '"' || ch == '\\')
			fb_printf(fb, "\\%c", ch);
		else
			fb_printf(fb, "\\x%02x", ch);
		run = 1;
	}
	fb_printf(fb, "\"");
}

bool fb_fixed(const struct fuse_req_view *v, void *dst, size_t dstsize, size_t need)
{
	size_t k;

	if (!v->fixed || v->fixed_len < need)
		return false;
	k = v->fixed_len < dstsize ? v->fixed_len : dstsize;
	memcpy(dst, v->fixed, k);
	if (k < dstsize)
		memset((char *)dst + k, 0, dstsize - k);
	return true;
}

void fb_trunc(struct fbuf *fb, const struct fuse_op *op)
{
	fb_printf(fb, "%s[|%s]", fb->len ? " " : "", op ? op->name : "fuse");
}

/* ---- Pieces shared by several printers ------------------------------------ */

void fb_attr(struct fbuf *fb, const struct fuse_attr *a)
{
	fb_printf(fb, "mode=%#o size=%llu", a->mode, ULL(a->size));
}

bool fb_entry_out(struct fbuf *fb, struct fuse_cursor *c, size_t size)
{
	struct fuse_entry_out e;

	if (!cur_copy(c, &e, sizeof e, size))
		return false;
	if (!e.nodeid) {
		/* a negative entry: "no such name", cached for entry_valid */
		fb_printf(fb, "negative valid=%llu.%03us", ULL(e.entry_valid),
			  e.entry_valid_nsec / 1000000);
		return true;
	}
	fb_printf(fb, "node=%llu", ULL(e.nodeid));
	if (e.generation)
		fb_printf(fb, " gen=%llu", ULL(e.generation));
	fb_printf(fb, " ino=%llu ", ULL(e.attr.ino));
	fb_attr(fb, &e.attr);
	return true;
}

bool fb_open_out(struct fbuf *fb, struct fuse_cursor *c)
{
	struct fuse_open_out o;

	if (!cur_copy(c, &o, sizeof o, sizeof o))
		return false;
	fb_printf(fb, "fh=%llu", ULL(o.fh));
	if (o.open_flags) {
		fb_printf(fb, " ");
		fb_flags(fb, fuse_fopen_flag_names, o.open_flags);
	}
	if (o.open_flags & FOPEN_PASSTHROUGH)
		fb_printf(fb, " backing=%d", o.backing_id);
	return true;
}

/* ---- Entry points ----------------------------------------------------------- */

const char *fuse_errno_name(int err)
{
	static __thread char unknown[16];
	const char *s = err > 0 ? fuse_tok_name(fuse_errno_names, (uint64_t)err) : NULL;

	if (s)
		return s;
	snprintf(unknown, sizeof unknown, "E%d", err);
	return unknown;
}

int fuse_format_request(char *buf, size_t n, const struct fuse_req_view *v)
{
	const struct fuse_op *op;
	struct fuse_in_header ih;
	struct fbuf fb;

	fb_init(&fb, buf, n);
	if (!v || !v->h) {
		fb_trunc(&fb, NULL);
		return fb_done(&fb);
	}
	memcpy(&ih, v->h, sizeof ih);
	op = fuse_op_get(ih.opcode);
	if (op)
		fb_printf(&fb, "%s", op->name);
	else
		fb_printf(&fb, "opcode%u", ih.opcode);
	fb_printf(&fb, " #%llu", ULL(ih.unique & ~FUSE_UNIQUE_RESEND));
	if (ih.unique & FUSE_UNIQUE_RESEND)
		fb_printf(&fb, " resent");
	if (ih.nodeid || !op || !(op->flags & FOP_NODE0))
		fb_printf(&fb, " node=%llu", ULL(ih.nodeid));
	if (op && op->print_req)
		op->print_req(&fb, op, v);
	if (v->ext_len)
		fb_printf(&fb, " ext=%u", v->ext_len);
	return fb_done(&fb);
}

int fuse_format_reply(char *buf, size_t n, uint32_t opcode,
		      const struct fuse_req_view *req, const void *msg, size_t len)
{
	const struct fuse_op *op = fuse_op_get(opcode);
	struct fuse_out_header oh;
	struct fuse_cursor c;
	struct fbuf fb;

	fb_init(&fb, buf, n);
	if (!msg || len < sizeof oh) {
		fb_printf(&fb, "[|%s]", fuse_opname(opcode));
		return fb_done(&fb);
	}
	memcpy(&oh, msg, sizeof oh);
	c = cur_make((const uint8_t *)msg + sizeof oh, len - sizeof oh);
	if (oh.error < 0 && oh.error != INT32_MIN) {
		fb_printf(&fb, "-%s", fuse_errno_name(-oh.error));
	} else if (oh.error) {
		fb_printf(&fb, "error=%d", oh.error);
	} else if (op && op->print_reply) {
		op->print_reply(&fb, op, req, &c);
	} else if (!cur_left(&c)) {
		fb_printf(&fb, "OK");
	} else {
		fb_printf(&fb, "%zu bytes", cur_left(&c));
	}
	return fb_done(&fb);
}
