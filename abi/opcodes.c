/* \summary: the opcode and notification tables (see opcodes.h). */
#include "opcodes.h"
#include "format_i.h"

/* Each entry starts from "no handles, header-only reply" and overrides
 * what differs; the later designator winning is the point here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"

#define OP(code, fam, minor, ...)                                          \
	[FUSE_##code] = {                                                  \
		.opcode = FUSE_##code, .name = #code,                      \
		.family = FUSE_FAM_##fam, .min_minor = minor,              \
		.reply = FUSE_R_EMPTY,                                     \
		.fh_off = -1, .fh2_off = -1, .node2_off = -1,              \
		.new_fh_off = -1,                                          \
		__VA_ARGS__                                                \
	}

/* Replies carrying fuse_entry_out (120 bytes before 7.9). */
#define ENTRY_REPLY                                                        \
	.reply = FUSE_R_FIXED, .out_size = sizeof(struct fuse_entry_out),  \
	.out_compat = FUSE_COMPAT_ENTRY_OUT_SIZE, .out_compat_below = 9,   \
	.print_reply = pr_r_entry
#define ATTR_REPLY                                                         \
	.reply = FUSE_R_FIXED, .out_size = sizeof(struct fuse_attr_out),   \
	.out_compat = FUSE_COMPAT_ATTR_OUT_SIZE, .out_compat_below = 9,    \
	.print_reply = pr_r_attr
/* CREATE/TMPFILE: fuse_entry_out + fuse_open_out. */
#define CREATE_REPLY                                                       \
	.reply = FUSE_R_FIXED,                                             \
	.out_size = sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out), \
	.out_compat = FUSE_COMPAT_ENTRY_OUT_SIZE + sizeof(struct fuse_open_out),  \
	.out_compat_below = 9, .new_fh_off = sizeof(struct fuse_entry_out),\
	.print_reply = pr_r_create
#define IN(type)        .in_size = sizeof(struct type)
#define FIXED_OUT(type) .reply = FUSE_R_FIXED, .out_size = sizeof(struct type)
#define NAMES1(max)     .nnames = 1, .name_max = { max, 0 }
#define NAMES2(m1, m2)  .nnames = 2, .name_max = { m1, m2 }
/* A file-handle op that CUSE devices use too (their nodeid is 0). */
#define FH_OP           .fh_off = 0
#define CUSE_OP         FOP_NODE0 | FOP_CUSE

static const struct fuse_op ops[FUSE_OP_MAX] = {
	OP(LOOKUP, ENTRY, 1, NAMES1(FUSE_NAME_MAX), .flags = FOP_NEW_NODE | FOP_LOOKS,
	   ENTRY_REPLY, .print_req = pr_name),
	OP(FORGET, ENTRY, 1, IN(fuse_forget_in), .flags = FOP_NOREPLY,
	   .reply = FUSE_R_NONE, .print_req = pr_forget),
	OP(GETATTR, ATTR, 1, IN(fuse_getattr_in), .flags = FOP_FH_COND | FOP_LOOKS,
	   .fh_off = 8, ATTR_REPLY, .print_req = pr_getattr),
	OP(SETATTR, ATTR, 1, IN(fuse_setattr_in), .flags = FOP_FH_COND,
	   .fh_off = 8, ATTR_REPLY, .print_req = pr_setattr),
	OP(READLINK, ENTRY, 1, .flags = FOP_LOOKS, .reply = FUSE_R_LINK, .print_reply = pr_r_link),
	OP(SYMLINK, ENTRY, 1, NAMES2(FUSE_NAME_MAX, FUSE_SYMLINK_MAX),
	   .flags = FOP_EXT | FOP_NEW_NODE, ENTRY_REPLY, .print_req = pr_symlink),
	OP(MKNOD, ENTRY, 1, IN(fuse_mknod_in),
	   .in_compat = FUSE_COMPAT_MKNOD_IN_SIZE, .in_compat_below = 12,
	   NAMES1(FUSE_NAME_MAX), .flags = FOP_EXT | FOP_NEW_NODE,
	   ENTRY_REPLY, .print_req = pr_mknod),
	OP(MKDIR, ENTRY, 1, IN(fuse_mkdir_in), NAMES1(FUSE_NAME_MAX),
	   .flags = FOP_EXT | FOP_NEW_NODE, ENTRY_REPLY, .print_req = pr_mkdir),
	OP(UNLINK, ENTRY, 1, NAMES1(FUSE_NAME_MAX), .print_req = pr_name),
	OP(RMDIR, ENTRY, 1, NAMES1(FUSE_NAME_MAX), .print_req = pr_name),
	OP(RENAME, ENTRY, 1, IN(fuse_rename_in), NAMES2(FUSE_NAME_MAX, FUSE_NAME_MAX),
	   .node2_off = 0, .print_req = pr_rename),
	OP(LINK, ENTRY, 1, IN(fuse_link_in), NAMES1(FUSE_NAME_MAX),
	   .node2_off = 0, .flags = FOP_NEW_NODE, ENTRY_REPLY, .print_req = pr_link),
	OP(OPEN, FILE, 1, IN(fuse_open_in), .flags = CUSE_OP | FOP_NEW_FH,
	   FIXED_OUT(fuse_open_out), .new_fh_off = 0,
	   .print_req = pr_open, .print_reply = pr_r_open),
	OP(READ, FILE, 1, IN(fuse_read_in), FH_OP, .flags = CUSE_OP | FOP_LOOKS,
	   .reply = FUSE_R_DATA, .print_req = pr_read, .print_reply = pr_r_data),
	OP(WRITE, FILE, 1, IN(fuse_write_in),
	   .in_compat = FUSE_COMPAT_WRITE_IN_SIZE, .in_compat_below = 9,
	   FH_OP, .flags = CUSE_OP, .data = FUSE_D_WRITE,
	   FIXED_OUT(fuse_write_out), .print_req = pr_write, .print_reply = pr_r_write),
	OP(STATFS, SESSION, 1, FIXED_OUT(fuse_statfs_out), .flags = FOP_LOOKS,
	   .out_compat = FUSE_COMPAT_STATFS_SIZE, .out_compat_below = 4,
	   .print_reply = pr_r_statfs),
	OP(RELEASE, FILE, 1, IN(fuse_release_in), FH_OP, .flags = CUSE_OP,
	   .print_req = pr_release),
	OP(FSYNC, FILE, 1, IN(fuse_fsync_in), FH_OP, .flags = CUSE_OP,
	   .print_req = pr_fsync),
	OP(SETXATTR, XATTR, 1, IN(fuse_setxattr_in), .flags = FOP_SETXATTR_EXT,
	   NAMES1(FUSE_XATTR_NAME_MAX), .data = FUSE_D_XATTR, .print_req = pr_setxattr),
	OP(GETXATTR, XATTR, 1, IN(fuse_getxattr_in), NAMES1(FUSE_XATTR_NAME_MAX), .flags = FOP_LOOKS,
	   .reply = FUSE_R_XATTR, .print_req = pr_getxattr, .print_reply = pr_r_xattr),
	OP(LISTXATTR, XATTR, 1, IN(fuse_getxattr_in), .flags = FOP_LOOKS,
	   .reply = FUSE_R_XATTR, .print_req = pr_getxattr, .print_reply = pr_r_xattr),
	OP(REMOVEXATTR, XATTR, 1, NAMES1(FUSE_XATTR_NAME_MAX), .print_req = pr_name),
	OP(FLUSH, FILE, 1, IN(fuse_flush_in), FH_OP, .flags = CUSE_OP,
	   .print_req = pr_flush),
	OP(INIT, SESSION, 1, IN(fuse_init_in), .flags = FOP_NODE0,
	   .reply = FUSE_R_INIT, .out_size = sizeof(struct fuse_init_out),
	   .print_req = pr_init, .print_reply = pr_r_init),
	OP(OPENDIR, DIR, 1, IN(fuse_open_in), .flags = FOP_NEW_FH,
	   FIXED_OUT(fuse_open_out), .new_fh_off = 0,
	   .print_req = pr_open, .print_reply = pr_r_open),
	OP(READDIR, DIR, 1, IN(fuse_read_in), FH_OP, .flags = FOP_LOOKS, .reply = FUSE_R_DIRENT,
	   .print_req = pr_read, .print_reply = pr_r_dirent),
	OP(RELEASEDIR, DIR, 1, IN(fuse_release_in), FH_OP, .print_req = pr_release),
	OP(FSYNCDIR, DIR, 1, IN(fuse_fsync_in), FH_OP, .print_req = pr_fsync),
	OP(GETLK, LOCK, 7, IN(fuse_lk_in), FH_OP, .flags = FOP_LOOKS, FIXED_OUT(fuse_lk_out),
	   .print_req = pr_lk, .print_reply = pr_r_lk),
	OP(SETLK, LOCK, 7, IN(fuse_lk_in), FH_OP, .print_req = pr_lk),
	OP(SETLKW, LOCK, 7, IN(fuse_lk_in), FH_OP, .print_req = pr_lk),
	OP(ACCESS, ATTR, 3, IN(fuse_access_in), .flags = FOP_LOOKS, .print_req = pr_access),
	OP(CREATE, FILE, 3, IN(fuse_create_in),
	   /* before 7.12 CREATE sent a bare fuse_open_in */
	   .in_compat = sizeof(struct fuse_open_in), .in_compat_below = 12,
	   NAMES1(FUSE_NAME_MAX), .flags = FOP_EXT | FOP_NEW_NODE | FOP_NEW_FH,
	   CREATE_REPLY, .print_req = pr_create),
	OP(INTERRUPT, SESSION, 7, IN(fuse_interrupt_in), .flags = CUSE_OP,
	   .reply = FUSE_R_INTERRUPT, .print_req = pr_interrupt),
	OP(BMAP, FILE, 8, IN(fuse_bmap_in), .flags = FOP_LOOKS, FIXED_OUT(fuse_bmap_out),
	   .print_req = pr_bmap, .print_reply = pr_r_bmap),
	OP(DESTROY, SESSION, 8, .flags = FOP_NODE0),
	OP(IOCTL, FILE, 11, IN(fuse_ioctl_in), FH_OP, .flags = CUSE_OP,
	   .data = FUSE_D_IOCTL, .reply = FUSE_R_IOCTL,
	   .out_size = sizeof(struct fuse_ioctl_out),
	   .print_req = pr_ioctl, .print_reply = pr_r_ioctl),
	OP(POLL, FILE, 11, IN(fuse_poll_in), FH_OP, .flags = CUSE_OP | FOP_LOOKS,
	   FIXED_OUT(fuse_poll_out), .print_req = pr_poll, .print_reply = pr_r_poll),
	OP(NOTIFY_REPLY, NOTIFY, 15, IN(fuse_notify_retrieve_in),
	   .flags = FOP_NOREPLY, .data = FUSE_D_RETRIEVE, .reply = FUSE_R_NONE,
	   .print_req = pr_notify_reply),
	OP(BATCH_FORGET, ENTRY, 16, IN(fuse_batch_forget_in),
	   .flags = FOP_NOREPLY | FOP_NODE0, .data = FUSE_D_FORGETS,
	   .reply = FUSE_R_NONE, .print_req = pr_batch_forget),
	OP(FALLOCATE, FILE, 19, IN(fuse_fallocate_in), FH_OP,
	   .print_req = pr_fallocate),
	OP(READDIRPLUS, DIR, 21, IN(fuse_read_in), FH_OP, .flags = FOP_LOOKS,
	   .reply = FUSE_R_DIRENTPLUS, .print_req = pr_read,
	   .print_reply = pr_r_direntplus),
	OP(RENAME2, ENTRY, 23, IN(fuse_rename2_in),
	   NAMES2(FUSE_NAME_MAX, FUSE_NAME_MAX), .node2_off = 0,
	   .print_req = pr_rename),
	OP(LSEEK, FILE, 24, IN(fuse_lseek_in), FH_OP, .flags = FOP_LOOKS, FIXED_OUT(fuse_lseek_out),
	   .print_req = pr_lseek, .print_reply = pr_r_lseek),
	OP(COPY_FILE_RANGE, FILE, 28, IN(fuse_copy_file_range_in), FH_OP,
	   .fh2_off = 24, .node2_off = 16, FIXED_OUT(fuse_write_out),
	   .print_req = pr_copy_file_range, .print_reply = pr_r_write),
	OP(SETUPMAPPING, FILE, 31, IN(fuse_setupmapping_in), FH_OP,
	   .print_req = pr_setupmapping),
	OP(REMOVEMAPPING, FILE, 31, IN(fuse_removemapping_in),
	   .data = FUSE_D_REMOVEMAPPING, .print_req = pr_removemapping),
	OP(SYNCFS, SESSION, 34, IN(fuse_syncfs_in)),
	OP(TMPFILE, FILE, 37, IN(fuse_create_in), NAMES1(FUSE_NAME_MAX),
	   .flags = FOP_EXT | FOP_NEW_NODE | FOP_NEW_FH, CREATE_REPLY,
	   .print_req = pr_create),
	OP(STATX, ATTR, 39, IN(fuse_statx_in), .flags = FOP_FH_COND | FOP_LOOKS, .fh_off = 8,
	   FIXED_OUT(fuse_statx_out), .print_req = pr_statx,
	   .print_reply = pr_r_statx),
	OP(COPY_FILE_RANGE_64, FILE, 45, IN(fuse_copy_file_range_in), FH_OP,
	   .fh2_off = 24, .node2_off = 16, FIXED_OUT(fuse_copy_file_range_out),
	   .print_req = pr_copy_file_range, .print_reply = pr_r_copy64),
};

/* CUSE_INIT is 4096, far outside the array. */
static const struct fuse_op cuse_init_op = {
	.opcode = CUSE_INIT, .name = "CUSE_INIT", .family = FUSE_FAM_SESSION,
	.min_minor = 11, .flags = CUSE_OP, IN(cuse_init_in),
	.reply = FUSE_R_CUSE_INIT, .out_size = sizeof(struct cuse_init_out),
	.fh_off = -1, .fh2_off = -1, .node2_off = -1, .new_fh_off = -1,
	.print_req = pr_cuse_init, .print_reply = pr_r_cuse_init,
};

#pragma GCC diagnostic pop

const struct fuse_op *fuse_op_get(uint32_t opcode)
{
	if (opcode < FUSE_OP_MAX)
		return ops[opcode].name ? &ops[opcode] : NULL;
	if (opcode == CUSE_INIT)
		return &cuse_init_op;
	return NULL;
}

const char *fuse_opname(uint32_t opcode)
{
	const struct fuse_op *op = fuse_op_get(opcode);

	return op ? op->name : "???";
}

const struct fuse_op *fuse_op_at(size_t i)
{
	size_t k;

	for (k = 0; k < FUSE_OP_MAX; k++) {
		if (!ops[k].name)
			continue;
		if (i-- == 0)
			return &ops[k];
	}
	return i == 0 ? &cuse_init_op : NULL;
}

uint32_t fuse_init_in_size(uint32_t minor)
{
	if (minor < 6)
		return 8;                 /* major, minor */
	if (minor < 36)
		return 16;                /* + max_readahead, flags */
	return sizeof(struct fuse_init_in);
}

uint32_t fuse_op_in_size(const struct fuse_op *op, uint32_t minor, uint64_t flags)
{
	if (!minor)
		minor = FUSE_KERNEL_MINOR_VERSION;
	if ((op->flags & FOP_SETXATTR_EXT) && !(flags & FUSE_SETXATTR_EXT))
		return FUSE_COMPAT_SETXATTR_IN_SIZE;
	if (op->in_compat_below && minor < op->in_compat_below)
		return op->in_compat;
	return op->in_size;
}

uint32_t fuse_op_out_size(const struct fuse_op *op, uint32_t minor)
{
	if (!minor)
		minor = FUSE_KERNEL_MINOR_VERSION;
	if (op->out_compat_below && minor < op->out_compat_below)
		return op->out_compat;
	return op->out_size;
}

/* ---- Notifications -------------------------------------------------- */

#define NT(c, minor, type, is_exact) \
	[FUSE_NOTIFY_##c] = { FUSE_NOTIFY_##c, #c, type, minor, is_exact }

static const struct fuse_notify notes[FUSE_NOTIFY_CODE_MAX] = {
	NT(POLL,        11, sizeof(struct fuse_notify_poll_wakeup_out), 1),
	NT(INVAL_INODE, 12, sizeof(struct fuse_notify_inval_inode_out), 1),
	NT(INVAL_ENTRY, 12, sizeof(struct fuse_notify_inval_entry_out), 0),
	NT(STORE,       15, sizeof(struct fuse_notify_store_out), 0),
	NT(RETRIEVE,    15, sizeof(struct fuse_notify_retrieve_out), 1),
	NT(DELETE,      18, sizeof(struct fuse_notify_delete_out), 0),
	NT(RESEND,      40, 0, 1),
	NT(INC_EPOCH,   44, 0, 1),
	NT(PRUNE,       45, sizeof(struct fuse_notify_prune_out), 0),
};

const struct fuse_notify *fuse_notify_get(uint32_t code)
{
	if (code < FUSE_NOTIFY_CODE_MAX && notes[code].name)
		return &notes[code];
	return NULL;
}

const char *fuse_notify_name(uint32_t code)
{
	const struct fuse_notify *n = fuse_notify_get(code);

	return n ? n->name : "???";
}
