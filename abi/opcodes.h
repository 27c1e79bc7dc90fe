/* \summary: the one table that describes every FUSE opcode and notification.
 *
 * Validation, formatting, recording and replay all read their per-opcode
 * facts from here instead of keeping their own switches:
 *
 *   request  = fuse_in_header, fixed in-arg (in_size, compat sizes for old
 *              minors), nnames NUL-terminated names, trailing data (whose
 *              length `data` says how to find), extensions (FOP_EXT ops);
 *   reply    = fuse_out_header, then a payload shaped as `reply` says.
 *
 * CUSE_INIT (4096) lives outside the array indexed by opcode;
 * fuse_op_get() hides that.
 */
#ifndef FP_OPCODES_H
#define FP_OPCODES_H

#include <stddef.h>
#include <stdint.h>
#include "fuse_kernel.h"
#include "names.h"

/* fuse_op.flags */
#define FOP_NOREPLY   (1u << 0)  /* never answered: FORGET, BATCH_FORGET, NOTIFY_REPLY */
#define FOP_EXT       (1u << 1)  /* may carry extensions (in_header.total_extlen) */
#define FOP_NODE0     (1u << 2)  /* in_header.nodeid may be 0 (session ops, CUSE) */
#define FOP_NEW_NODE  (1u << 3)  /* success hands out a nodeid (fuse_entry_out) */
#define FOP_NEW_FH    (1u << 4)  /* success hands out an fh (fuse_open_out) */
#define FOP_FH_COND   (1u << 5)  /* fh_off is valid only if the op's own flag
				    says so (GETATTR_FH, FATTR_FH) */
#define FOP_SETXATTR_EXT (1u << 6) /* in_size needs FUSE_SETXATTR_EXT, else
				      FUSE_COMPAT_SETXATTR_IN_SIZE */
#define FOP_CUSE      (1u << 7)  /* also used by CUSE devices */
#define FOP_LOOKS     (1u << 8)  /* only looks: changes nothing in the filesystem,
				    so its order among other such requests does
				    not show in their answers (fusereplay) */

/* Opcode families (for -d colouring, per-family printers, statistics). */
enum fuse_family {
	FUSE_FAM_SESSION,        /* INIT, DESTROY, INTERRUPT, STATFS, SYNCFS, CUSE_INIT */
	FUSE_FAM_ENTRY,          /* names and inode lifetime: LOOKUP, MKDIR, FORGET.. */
	FUSE_FAM_ATTR,           /* GETATTR, SETATTR, STATX, ACCESS */
	FUSE_FAM_FILE,           /* open files: OPEN, READ, WRITE, CREATE, IOCTL.. */
	FUSE_FAM_DIR,            /* OPENDIR, READDIR(PLUS), RELEASEDIR, FSYNCDIR */
	FUSE_FAM_XATTR,
	FUSE_FAM_LOCK,
	FUSE_FAM_NOTIFY,         /* NOTIFY_REPLY, and the notifications */
	FUSE_FAM_COUNT
};

/* How the length of the bytes after the names is found (requests). */
enum fuse_data_kind {
	FUSE_D_NONE,             /* nothing may follow */
	FUSE_D_WRITE,            /* write_in.size bytes */
	FUSE_D_XATTR,            /* setxattr_in.size bytes (the value) */
	FUSE_D_FORGETS,          /* batch_forget_in.count * fuse_forget_one */
	FUSE_D_IOCTL,            /* ioctl_in.in_size bytes */
	FUSE_D_RETRIEVE,         /* notify_retrieve_in.size bytes */
	FUSE_D_REMOVEMAPPING,    /* removemapping_in.count * fuse_removemapping_one */
};

/* Shape of a successful reply's payload. */
enum fuse_reply_kind {
	FUSE_R_NONE,             /* never answered */
	FUSE_R_INTERRUPT,        /* header only; the error is the answer */
	FUSE_R_EMPTY,            /* header only */
	FUSE_R_FIXED,            /* exactly fuse_op_out_size() bytes */
	FUSE_R_DATA,             /* READ: at most read_in.size bytes */
	FUSE_R_LINK,             /* READLINK: at most FUSE_READLINK_MAX bytes */
	FUSE_R_DIRENT,           /* READDIR: fuse_dirent records, <= read_in.size */
	FUSE_R_DIRENTPLUS,       /* READDIRPLUS: fuse_direntplus records */
	FUSE_R_XATTR,            /* getxattr_in.size == 0: fuse_getxattr_out,
				    else at most size bytes */
	FUSE_R_IOCTL,            /* fuse_ioctl_out, then data or iovecs */
	FUSE_R_INIT,             /* fuse_init_out, shorter for old minors */
	FUSE_R_CUSE_INIT,        /* cuse_init_out + device info */
};

/* READLINK replies fill one page minus the NUL the kernel adds. */
#define FUSE_READLINK_MAX 4095
/* Longest name the VFS lets through for xattr names. */
#define FUSE_XATTR_NAME_MAX 255
/* Longest symlink target (PATH_MAX without its NUL). */
#define FUSE_SYMLINK_MAX 4095

struct fbuf;
struct fuse_cursor;
struct fuse_req_view;
struct fuse_op;
typedef void fuse_req_printer(struct fbuf *fb, const struct fuse_op *op,
			      const struct fuse_req_view *v);
typedef void fuse_reply_printer(struct fbuf *fb, const struct fuse_op *op,
				const struct fuse_req_view *req,
				struct fuse_cursor *c);

struct fuse_op {
	uint32_t opcode;
	const char *name;           /* "LOOKUP" */
	uint8_t family;             /* enum fuse_family */
	uint8_t min_minor;          /* protocol minor that introduced it */
	uint16_t flags;             /* FOP_* */

	/* request layout */
	uint16_t in_size;           /* fixed in-arg at 7.45 (0 = none) */
	uint16_t in_compat;         /* ... but this many bytes when */
	uint8_t in_compat_below;    /*     minor < in_compat_below  */
	uint8_t nnames;             /* NUL-terminated names after it */
	uint16_t name_max[2];       /* strlen bound per name (0 = none) */
	uint8_t data;               /* enum fuse_data_kind */

	/* reply layout */
	uint8_t reply;              /* enum fuse_reply_kind */
	uint16_t out_size;          /* R_FIXED size, or fixed head of R_IOCTL/R_CUSE_INIT/R_INIT */
	uint16_t out_compat;        /* R_FIXED size when */
	uint8_t out_compat_below;   /*     minor < out_compat_below */

	/* where the handles are, for recorders (-1 = none).  The target
	 * inode is always in_header.nodeid; node2 is a second inode. */
	int8_t fh_off;              /* u64 fh in the fixed in-arg */
	int8_t fh2_off;             /* second fh: COPY_FILE_RANGE fh_out */
	int8_t node2_off;           /* LINK oldnodeid, RENAME newdir, COPY_FILE_RANGE nodeid_out */
	int16_t new_fh_off;         /* offset of fh in a successful reply (OPEN 0, CREATE 128) */

	fuse_req_printer *print_req;
	fuse_reply_printer *print_reply;
};

/* The op for an opcode, NULL if unknown (gaps 7 and 19, > 53 except 4096). */
const struct fuse_op *fuse_op_get(uint32_t opcode);

/* "LOOKUP", or "???" for unknown opcodes. */
const char *fuse_opname(uint32_t opcode);

/* Size of the fixed in-arg for a negotiated minor (0 = newest) and flag
 * set.  INIT is special (its size follows init_in.minor of the message
 * itself, see fuse_init_in_size()). */
uint32_t fuse_op_in_size(const struct fuse_op *op, uint32_t minor, uint64_t flags);

/* init_in bytes a kernel speaking `minor` sends: 8 before 7.6, 16 before
 * 7.36, 64 since. */
uint32_t fuse_init_in_size(uint32_t minor);

/* Exact reply payload for R_FIXED ops at a negotiated minor (0 = newest):
 * compat sizes for entry_out/attr_out (< 7.9) and statfs (< 7.4). */
uint32_t fuse_op_out_size(const struct fuse_op *op, uint32_t minor);

/* Iterate all known opcodes: for (i = 0; (op = fuse_op_at(i)); i++). */
const struct fuse_op *fuse_op_at(size_t i);

/* ---- Notifications -------------------------------------------------- */

struct fuse_notify {
	uint32_t code;
	const char *name;           /* "INVAL_ENTRY" */
	uint32_t size;              /* fixed payload struct (0 = none) */
	uint8_t min_minor;
	uint8_t exact;              /* payload must be exactly `size` */
};

const struct fuse_notify *fuse_notify_get(uint32_t code);
const char *fuse_notify_name(uint32_t code);   /* "???" if unknown */

#endif
