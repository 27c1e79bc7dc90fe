/* \summary: internals shared by format.c and the print-<family>.c printers.
 *
 * struct fbuf appends to a caller's buffer with snprintf semantics: it
 * counts the full length even after the buffer is full and always leaves
 * it NUL-terminated, so printers never check space themselves.
 */
#ifndef FP_FORMAT_I_H
#define FP_FORMAT_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cursor.h"
#include "names.h"
#include "opcodes.h"
#include "validate.h"

/* uint64_t is unsigned long here; printf wants one spelling. */
#define ULL(x) ((unsigned long long)(x))
#define SLL(x) ((long long)(x))

struct fbuf {
	char *buf;
	size_t n;
	size_t len;        /* length the full output would have */
};

void fb_init(struct fbuf *fb, char *buf, size_t n);
void fb_printf(struct fbuf *fb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fb_flags(struct fbuf *fb, const struct fuse_tok *t, uint64_t v);
void fb_oflags(struct fbuf *fb, uint32_t flags);
/* "name" with non-printable bytes, quotes and backslashes escaped. */
void fb_quoted(struct fbuf *fb, const char *s, size_t len);
int fb_done(const struct fbuf *fb);

/* Printers the opcode table points at (opcodes.h).  A request printer
 * gets the view (pointers inside the message, fixed_len as sent); a reply
 * printer gets a cursor over the payload after fuse_out_header of a
 * successful reply.  Both print the arguments only, each preceded by a
 * space, and print " [|NAME]" and stop when something they need is
 * missing (fb_trunc). */

/* print-entry.c */
fuse_req_printer pr_name, pr_forget, pr_batch_forget, pr_symlink, pr_mknod,
	pr_mkdir, pr_rename, pr_link;
fuse_reply_printer pr_r_entry, pr_r_link;
/* print-attr.c */
fuse_req_printer pr_getattr, pr_setattr, pr_statx, pr_access;
fuse_reply_printer pr_r_attr, pr_r_statx;
/* print-file.c */
fuse_req_printer pr_open, pr_create, pr_read, pr_write, pr_release, pr_flush,
	pr_fsync, pr_ioctl, pr_poll, pr_fallocate, pr_lseek, pr_copy_file_range,
	pr_bmap, pr_setupmapping, pr_removemapping;
fuse_reply_printer pr_r_open, pr_r_create, pr_r_data, pr_r_write, pr_r_ioctl,
	pr_r_poll, pr_r_lseek, pr_r_copy64, pr_r_bmap;
/* print-dir.c */
fuse_reply_printer pr_r_dirent, pr_r_direntplus;
/* print-xattr.c */
fuse_req_printer pr_setxattr, pr_getxattr;
fuse_reply_printer pr_r_xattr;
/* print-lock.c */
fuse_req_printer pr_lk;
fuse_reply_printer pr_r_lk;
/* print-session.c */
fuse_req_printer pr_init, pr_cuse_init, pr_interrupt;
fuse_reply_printer pr_r_init, pr_r_cuse_init, pr_r_statfs;
/* print-notify.c */
fuse_req_printer pr_notify_reply;

/* Copy the op's fixed in-arg into a zeroed dst of dstsize bytes; false if
 * the view holds fewer than `need` bytes of it (need = the smallest size
 * the op was ever sent with). */
bool fb_fixed(const struct fuse_req_view *v, void *dst, size_t dstsize, size_t need);
void fb_trunc(struct fbuf *fb, const struct fuse_op *op);

/* Shared pieces */
/* "mode=0100644 size=12" */
void fb_attr(struct fbuf *fb, const struct fuse_attr *a);
/* entry_out of `size` bytes (128, or 120 before 7.9): "node=2 ino=131 mode=.. size=.." */
bool fb_entry_out(struct fbuf *fb, struct fuse_cursor *c, size_t size);
/* open_out: "fh=7 KEEP_CACHE" */
bool fb_open_out(struct fbuf *fb, struct fuse_cursor *c);

#endif
