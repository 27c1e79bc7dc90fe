/* \summary: value -> name tables for FUSE flag words and errno values.
 *
 * One list per flag word, shared by the formatter, the recorder's text
 * views and the unit tests, so they cannot drift apart.  Each table ends
 * with a {0, NULL} sentinel.  Names drop the FUSE_/FOPEN_/FATTR_ prefix
 * ("ASYNC_READ", "KEEP_CACHE", "SIZE"); errno and open(2) names keep theirs.
 */
#ifndef FP_NAMES_H
#define FP_NAMES_H

#include <stddef.h>
#include <stdint.h>

struct fuse_tok {
	uint64_t v;
	const char *s;
};

extern const struct fuse_tok fuse_init_flag_names[];   /* FUSE_ASYNC_READ.. (64-bit) */
extern const struct fuse_tok fuse_fopen_flag_names[];  /* FOPEN_* */
extern const struct fuse_tok fuse_fattr_names[];       /* FATTR_* */
extern const struct fuse_tok fuse_errno_names[];       /* ENOENT.. (positive) */
extern const struct fuse_tok fuse_open_flag_names[];   /* O_* bits, without O_ACCMODE */
extern const struct fuse_tok fuse_write_flag_names[];  /* FUSE_WRITE_* */
extern const struct fuse_tok fuse_release_flag_names[];/* FUSE_RELEASE_* */
extern const struct fuse_tok fuse_ioctl_flag_names[];  /* FUSE_IOCTL_* */
extern const struct fuse_tok fuse_rename_flag_names[]; /* RENAME_* */
extern const struct fuse_tok fuse_setxattr_flag_names[];/* XATTR_CREATE/REPLACE */

/* Name of the entry whose value is exactly v, or NULL. */
const char *fuse_tok_name(const struct fuse_tok *t, uint64_t v);

/* Format a flag word as "ASYNC_READ|POSIX_LOCKS|0x80000000": known single
 * bits by name in table order, the rest as one hex remainder; "0" for 0.
 * snprintf semantics: returns the full length, always NUL-terminates
 * when n > 0. */
int fuse_flags_format(char *buf, size_t n, const struct fuse_tok *t, uint64_t v);

/* open(2) flags as "O_RDWR|O_CREAT|O_TRUNC" (access mode first). */
int fuse_open_flags_format(char *buf, size_t n, uint32_t flags);

#endif
