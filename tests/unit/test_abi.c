/* Description: abi/ unit tests.  Pins the 7.45 struct sizes and the opcode
 * table; for every opcode builds a valid request and checks that it is
 * accepted and that every truncation (header.len consistent and not),
 * trailing bytes, unterminated names and bad extensions are rejected; does
 * the same for replies and notifications; checks the formatter's output for
 * a handful of ops and that it never writes past a small buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fuse_kernel.h"
#include "cursor.h"
#include "format.h"
#include "names.h"
#include "opcodes.h"
#include "validate.h"

/* Negotiated at 7.45 with the flags that change request layouts. */
static const struct fuse_wire_params wp45 = {
	.minor = 45,
	.flags = FUSE_SETXATTR_EXT | FUSE_INIT_EXT | FUSE_SECURITY_CTX |
		 FUSE_CREATE_SUPP_GROUP,
};

/* ---- Message builder ------------------------------------------------------ */

struct msg {
	union {
		uint8_t b[8192];
		uint64_t align;
	};
	size_t len;
};

static void put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof m->b);
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void put_str(struct msg *m, const char *s)
{
	put(m, s, strlen(s) + 1);
}

static void put_fill(struct msg *m, int c, size_t n)
{
	assert_true(m->len + n <= sizeof m->b);
	memset(m->b + m->len, c, n);
	m->len += n;
}

#define PUT(m, type, ...) do { struct type x_ = { __VA_ARGS__ }; put(m, &x_, sizeof x_); } while (0)

static void req_begin(struct msg *m, uint32_t opcode, uint64_t unique, uint64_t nodeid)
{
	struct fuse_in_header h = {
		.opcode = opcode, .unique = unique, .nodeid = nodeid,
		.uid = 1000, .gid = 1000, .pid = 4242,
	};

	memset(m, 0, sizeof *m);
	put(m, &h, sizeof h);
}

/* Fix up in_header.len (and total_extlen) once the body is complete. */
static void req_end(struct msg *m, uint16_t extlen)
{
	struct fuse_in_header *h = (struct fuse_in_header *)m->b;

	h->len = (uint32_t)m->len;
	h->total_extlen = extlen;
}

/* A supplementary-groups extension: 16 bytes, total_extlen 2. */
static uint16_t put_ext(struct msg *m)
{
	PUT(m, fuse_ext_header, .size = 16, .type = FUSE_EXT_GROUPS);
	PUT(m, fuse_supp_groups, .nr_groups = 1);
	uint32_t g = 100;
	put(m, &g, sizeof g);
	return 2;
}

/* A valid request for each opcode, as a 7.45 kernel would send it. */
static void build_req(struct msg *m, uint32_t opcode)
{
	uint16_t ext = 0;
	uint64_t unique = 100, nodeid = 5;

	switch (opcode) {
	case FUSE_INIT: case FUSE_DESTROY: case FUSE_BATCH_FORGET: case CUSE_INIT:
		nodeid = 0;
		break;
	case FUSE_INTERRUPT:
		nodeid = 0, unique = 41;
		break;
	}
	req_begin(m, opcode, unique, nodeid);

	switch (opcode) {
	case FUSE_LOOKUP:
		put_str(m, "hello.txt");
		break;
	case FUSE_FORGET:
		PUT(m, fuse_forget_in, .nlookup = 3);
		break;
	case FUSE_GETATTR:
		PUT(m, fuse_getattr_in, .getattr_flags = FUSE_GETATTR_FH, .fh = 7);
		break;
	case FUSE_SETATTR:
		PUT(m, fuse_setattr_in, .valid = FATTR_SIZE | FATTR_MTIME, .size = 0,
		    .mtime = 1700000000);
		break;
	case FUSE_READLINK: case FUSE_STATFS: case FUSE_DESTROY:
		break;
	case FUSE_SYMLINK:
		put_str(m, "link");
		put_str(m, "target/path");
		ext = put_ext(m);
		break;
	case FUSE_MKNOD:
		PUT(m, fuse_mknod_in, .mode = S_IFIFO | 0644, .umask = 022);
		put_str(m, "fifo");
		ext = put_ext(m);
		break;
	case FUSE_MKDIR:
		PUT(m, fuse_mkdir_in, .mode = 0755, .umask = 022);
		put_str(m, "dir");
		ext = put_ext(m);
		break;
	case FUSE_UNLINK: case FUSE_RMDIR:
		put_str(m, "gone");
		break;
	case FUSE_RENAME:
		PUT(m, fuse_rename_in, .newdir = 9);
		put_str(m, "old");
		put_str(m, "new");
		break;
	case FUSE_RENAME2:
		PUT(m, fuse_rename2_in, .newdir = 9, .flags = RENAME_NOREPLACE);
		put_str(m, "old");
		put_str(m, "new");
		break;
	case FUSE_LINK:
		PUT(m, fuse_link_in, .oldnodeid = 6);
		put_str(m, "hard");
		break;
	case FUSE_OPEN: case FUSE_OPENDIR:
		PUT(m, fuse_open_in, .flags = O_RDWR | O_TRUNC);
		break;
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS:
		PUT(m, fuse_read_in, .fh = 3, .offset = 0, .size = 4096);
		break;
	case FUSE_WRITE:
		PUT(m, fuse_write_in, .fh = 3, .offset = 0, .size = 100);
		put_fill(m, 'w', 100);
		break;
	case FUSE_RELEASE: case FUSE_RELEASEDIR:
		PUT(m, fuse_release_in, .fh = 3, .flags = O_RDWR);
		break;
	case FUSE_FSYNC: case FUSE_FSYNCDIR:
		PUT(m, fuse_fsync_in, .fh = 3, .fsync_flags = FUSE_FSYNC_FDATASYNC);
		break;
	case FUSE_SETXATTR:
		PUT(m, fuse_setxattr_in, .size = 3);
		put_str(m, "user.x");
		put(m, "abc", 3);
		break;
	case FUSE_GETXATTR:
		PUT(m, fuse_getxattr_in, .size = 64);
		put_str(m, "user.x");
		break;
	case FUSE_LISTXATTR:
		PUT(m, fuse_getxattr_in, .size = 0);
		break;
	case FUSE_REMOVEXATTR:
		put_str(m, "user.x");
		break;
	case FUSE_FLUSH:
		PUT(m, fuse_flush_in, .fh = 3, .lock_owner = 0x1234);
		break;
	case FUSE_INIT:
		PUT(m, fuse_init_in, .major = 7, .minor = 45, .max_readahead = 131072,
		    .flags = (uint32_t)(FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_INIT_EXT),
		    .flags2 = (uint32_t)(FUSE_PASSTHROUGH >> 32));
		break;
	case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW:
		PUT(m, fuse_lk_in, .fh = 3, .owner = 0xabc,
		    .lk = { .start = 0, .end = INT64_MAX, .type = F_WRLCK, .pid = 42 });
		break;
	case FUSE_ACCESS:
		PUT(m, fuse_access_in, .mask = R_OK | W_OK);
		break;
	case FUSE_CREATE:
		PUT(m, fuse_create_in, .flags = O_RDWR | O_CREAT, .mode = S_IFREG | 0644,
		    .umask = 022);
		put_str(m, "new.txt");
		ext = put_ext(m);
		break;
	case FUSE_TMPFILE:
		PUT(m, fuse_create_in, .flags = O_RDWR, .mode = S_IFREG | 0600);
		put_str(m, "/");
		ext = put_ext(m);
		break;
	case FUSE_INTERRUPT:
		PUT(m, fuse_interrupt_in, .unique = 40);
		break;
	case FUSE_BMAP:
		PUT(m, fuse_bmap_in, .block = 10, .blocksize = 4096);
		break;
	case FUSE_IOCTL:
		PUT(m, fuse_ioctl_in, .fh = 3, .cmd = 0x5401, .in_size = 8, .out_size = 16);
		put_fill(m, 'i', 8);
		break;
	case FUSE_POLL:
		PUT(m, fuse_poll_in, .fh = 3, .kh = 1, .flags = FUSE_POLL_SCHEDULE_NOTIFY,
		    .events = POLLIN);
		break;
	case FUSE_NOTIFY_REPLY:
		PUT(m, fuse_notify_retrieve_in, .offset = 0, .size = 10);
		put_fill(m, 'r', 10);
		break;
	case FUSE_BATCH_FORGET:
		PUT(m, fuse_batch_forget_in, .count = 3);
		for (uint64_t i = 0; i < 3; i++)
			PUT(m, fuse_forget_one, .nodeid = 10 + i, .nlookup = 1);
		break;
	case FUSE_FALLOCATE:
		PUT(m, fuse_fallocate_in, .fh = 3, .length = 4096);
		break;
	case FUSE_LSEEK:
		PUT(m, fuse_lseek_in, .fh = 3, .offset = 100, .whence = SEEK_DATA);
		break;
	case FUSE_COPY_FILE_RANGE: case FUSE_COPY_FILE_RANGE_64:
		PUT(m, fuse_copy_file_range_in, .fh_in = 3, .nodeid_out = 6, .fh_out = 4,
		    .len = 65536);
		break;
	case FUSE_SETUPMAPPING:
		PUT(m, fuse_setupmapping_in, .fh = 3, .len = 2 << 20,
		    .flags = FUSE_SETUPMAPPING_FLAG_READ);
		break;
	case FUSE_REMOVEMAPPING:
		PUT(m, fuse_removemapping_in, .count = 2);
		PUT(m, fuse_removemapping_one, .moffset = 0, .len = 4096);
		PUT(m, fuse_removemapping_one, .moffset = 8192, .len = 4096);
		break;
	case FUSE_SYNCFS:
		PUT(m, fuse_syncfs_in, .padding = 0);
		break;
	case FUSE_STATX:
		PUT(m, fuse_statx_in, .getattr_flags = FUSE_GETATTR_FH, .fh = 3,
		    .sx_mask = 0x7ff);
		break;
	case CUSE_INIT:
		PUT(m, cuse_init_in, .major = 7, .minor = 45, .flags = CUSE_UNRESTRICTED_IOCTL);
		break;
	default:
		fail_msg("no builder for opcode %u", opcode);
	}
	req_end(m, ext);
}

static int vreq(const void *msg, size_t len, const struct fuse_wire_params *wp,
		struct fuse_req_view *v, char *err)
{
	return fuse_validate_request(msg, len, wp, v, err, 256);
}

/* ---- Struct sizes and tables ------------------------------------------------ */

static void test_struct_sizes(void **state)
{
	(void)state;
#define SZ(t, n) assert_int_equal(sizeof(struct t), n)
	SZ(fuse_in_header, 40); SZ(fuse_out_header, 16); SZ(fuse_attr, 88);
	SZ(fuse_entry_out, 128); SZ(fuse_attr_out, 104); SZ(fuse_getattr_in, 16);
	SZ(fuse_setattr_in, 88); SZ(fuse_open_in, 8); SZ(fuse_open_out, 16);
	SZ(fuse_create_in, 16); SZ(fuse_release_in, 24); SZ(fuse_flush_in, 24);
	SZ(fuse_read_in, 40); SZ(fuse_write_in, 40); SZ(fuse_write_out, 8);
	SZ(fuse_kstatfs, 80); SZ(fuse_statfs_out, 80); SZ(fuse_fsync_in, 16);
	SZ(fuse_setxattr_in, 16); SZ(fuse_getxattr_in, 8); SZ(fuse_getxattr_out, 8);
	SZ(fuse_file_lock, 24); SZ(fuse_lk_in, 48); SZ(fuse_lk_out, 24);
	SZ(fuse_access_in, 8); SZ(fuse_init_in, 64); SZ(fuse_init_out, 64);
	SZ(cuse_init_in, 16); SZ(cuse_init_out, 72); SZ(fuse_interrupt_in, 8);
	SZ(fuse_bmap_in, 16); SZ(fuse_bmap_out, 8); SZ(fuse_ioctl_in, 32);
	SZ(fuse_ioctl_out, 16); SZ(fuse_ioctl_iovec, 16); SZ(fuse_poll_in, 24);
	SZ(fuse_poll_out, 8); SZ(fuse_notify_poll_wakeup_out, 8);
	SZ(fuse_notify_inval_inode_out, 24); SZ(fuse_notify_inval_entry_out, 16);
	SZ(fuse_notify_delete_out, 24); SZ(fuse_notify_store_out, 24);
	SZ(fuse_notify_retrieve_out, 32); SZ(fuse_notify_retrieve_in, 40);
	SZ(fuse_notify_prune_out, 16); SZ(fuse_forget_in, 8); SZ(fuse_forget_one, 16);
	SZ(fuse_batch_forget_in, 8); SZ(fuse_fallocate_in, 32); SZ(fuse_dirent, 24);
	SZ(fuse_direntplus, 152); SZ(fuse_rename_in, 8); SZ(fuse_rename2_in, 16);
	SZ(fuse_link_in, 8); SZ(fuse_mknod_in, 16); SZ(fuse_mkdir_in, 8);
	SZ(fuse_lseek_in, 24); SZ(fuse_lseek_out, 8); SZ(fuse_copy_file_range_in, 56);
	SZ(fuse_copy_file_range_out, 8); SZ(fuse_setupmapping_in, 40);
	SZ(fuse_removemapping_in, 4); SZ(fuse_removemapping_one, 16);
	SZ(fuse_syncfs_in, 8); SZ(fuse_statx_in, 24); SZ(fuse_statx_out, 288);
	SZ(fuse_sx_time, 16); SZ(fuse_statx, 256); SZ(fuse_secctx, 8);
	SZ(fuse_secctx_header, 8); SZ(fuse_ext_header, 8); SZ(fuse_supp_groups, 4);
	SZ(fuse_backing_map, 16); SZ(fuse_uring_req_header, 288);
	SZ(fuse_uring_ent_in_out, 32); SZ(fuse_uring_cmd_req, 24);
#undef SZ
	assert_int_equal(offsetof(struct fuse_init_out, max_pages), 28);
	assert_int_equal(offsetof(struct fuse_init_out, flags2), 32);
	assert_int_equal(offsetof(struct fuse_init_out, request_timeout), 40);
	assert_int_equal(offsetof(struct fuse_uring_req_header, op_in), 128);
	assert_int_equal(offsetof(struct fuse_uring_cmd_req, qid), 16);
	assert_int_equal(FUSE_NAME_OFFSET, 24);
	assert_int_equal(FUSE_NAME_OFFSET_DIRENTPLUS, 152);
	assert_int_equal(FUSE_DEV_IOC_CLONE, 0x8004E500u);
	assert_int_equal(FUSE_DEV_IOC_BACKING_OPEN, 0x4010E501u);
	assert_int_equal(FUSE_DEV_IOC_BACKING_CLOSE, 0x4004E502u);
	assert_int_equal(FUSE_DEV_IOC_SYNC_INIT, 0xE503u);
	assert_true(FUSE_UNIQUE_RESEND == 0x8000000000000000ull);
	assert_int_equal(FUSE_REQUEST_TIMEOUT, 1ull << 42);
	assert_int_equal(FUSE_INIT_BSWAP_RESERVED, FUSE_INIT << 24);
}

static void test_op_table(void **state)
{
	const struct fuse_op *op;
	size_t i, n = 0;

	(void)state;
	for (i = 0; (op = fuse_op_at(i)); i++, n++) {
		assert_ptr_equal(fuse_op_get(op->opcode), op);
		assert_non_null(op->name);
		assert_string_equal(fuse_opname(op->opcode), op->name);
		assert_true(op->family < FUSE_FAM_COUNT);
		assert_true(op->min_minor >= 1 && op->min_minor <= FUSE_KERNEL_MINOR_VERSION);
		/* no-reply ops and NOREPLY flag agree */
		assert_int_equal(op->reply == FUSE_R_NONE, !!(op->flags & FOP_NOREPLY));
		if (op->reply == FUSE_R_FIXED)
			assert_true(op->out_size > 0);
		if (op->fh_off >= 0)
			assert_true((size_t)op->fh_off + 8 <= op->in_size);
		if (op->node2_off >= 0)
			assert_true((size_t)op->node2_off + 8 <= op->in_size);
	}
	assert_int_equal(n, 52);          /* 1..53 without 7 and 19, plus CUSE_INIT */
	assert_null(fuse_op_get(0));
	assert_null(fuse_op_get(7));
	assert_null(fuse_op_get(19));
	assert_null(fuse_op_get(54));
	assert_null(fuse_op_get(4095));
	assert_null(fuse_op_get(FUSE_INIT_BSWAP_RESERVED));
	assert_string_equal(fuse_opname(7), "???");
	assert_string_equal(fuse_opname(CUSE_INIT), "CUSE_INIT");
	assert_string_equal(fuse_opname(FUSE_COPY_FILE_RANGE_64), "COPY_FILE_RANGE_64");
	assert_true(fuse_op_get(FUSE_FORGET)->flags & FOP_NOREPLY);
	assert_true(fuse_op_get(FUSE_BATCH_FORGET)->flags & FOP_NOREPLY);
	assert_true(fuse_op_get(FUSE_NOTIFY_REPLY)->flags & FOP_NOREPLY);
	assert_false(fuse_op_get(FUSE_INTERRUPT)->flags & FOP_NOREPLY);

	/* compat sizes */
	op = fuse_op_get(FUSE_LOOKUP);
	assert_int_equal(fuse_op_out_size(op, 8), 120);
	assert_int_equal(fuse_op_out_size(op, 9), 128);
	assert_int_equal(fuse_op_out_size(op, 0), 128);
	assert_int_equal(fuse_op_out_size(fuse_op_get(FUSE_GETATTR), 8), 96);
	assert_int_equal(fuse_op_out_size(fuse_op_get(FUSE_STATFS), 3), 48);
	assert_int_equal(fuse_op_out_size(fuse_op_get(FUSE_CREATE), 8), 136);
	assert_int_equal(fuse_op_out_size(fuse_op_get(FUSE_CREATE), 45), 144);
	assert_int_equal(fuse_op_in_size(fuse_op_get(FUSE_MKNOD), 11, 0), 8);
	assert_int_equal(fuse_op_in_size(fuse_op_get(FUSE_MKNOD), 12, 0), 16);
	assert_int_equal(fuse_op_in_size(fuse_op_get(FUSE_WRITE), 8, 0), 24);
	assert_int_equal(fuse_op_in_size(fuse_op_get(FUSE_WRITE), 45, 0), 40);
	assert_int_equal(fuse_op_in_size(fuse_op_get(FUSE_SETXATTR), 45, 0), 8);
	assert_int_equal(fuse_op_in_size(fuse_op_get(FUSE_SETXATTR), 45, FUSE_SETXATTR_EXT), 16);
	assert_int_equal(fuse_init_in_size(5), 8);
	assert_int_equal(fuse_init_in_size(35), 16);
	assert_int_equal(fuse_init_in_size(36), 64);

	/* notifications */
	for (uint32_t c = 1; c < FUSE_NOTIFY_CODE_MAX; c++)
		assert_non_null(fuse_notify_get(c));
	assert_null(fuse_notify_get(0));
	assert_null(fuse_notify_get(FUSE_NOTIFY_CODE_MAX));
	assert_string_equal(fuse_notify_name(FUSE_NOTIFY_PRUNE), "PRUNE");
	assert_string_equal(fuse_notify_name(99), "???");
}

static void test_names(void **state)
{
	char buf[256];
	int i;

	(void)state;
	/* INIT flag table: bit i at index i, 43 bits */
	for (i = 0; fuse_init_flag_names[i].s; i++)
		assert_true(fuse_init_flag_names[i].v == 1ull << i);
	assert_int_equal(i, 43);
	assert_string_equal(fuse_init_flag_names[41].s, "OVER_IO_URING");
	for (i = 0; fuse_fopen_flag_names[i].s; i++)
		assert_true(fuse_fopen_flag_names[i].v == 1ull << i);
	assert_int_equal(i, 8);
	for (i = 0; fuse_fattr_names[i].s; i++)
		assert_true(fuse_fattr_names[i].v == 1ull << i);
	assert_int_equal(i, 12);

	assert_int_equal(fuse_flags_format(buf, sizeof buf, fuse_init_flag_names,
					   FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | (1ull << 50)),
			 (int)strlen("ASYNC_READ|POSIX_LOCKS|0x4000000000000"));
	assert_string_equal(buf, "ASYNC_READ|POSIX_LOCKS|0x4000000000000");
	fuse_flags_format(buf, sizeof buf, fuse_init_flag_names, 0);
	assert_string_equal(buf, "0");
	fuse_flags_format(buf, sizeof buf, fuse_init_flag_names, FUSE_PASSTHROUGH | FUSE_HAS_RESEND);
	assert_string_equal(buf, "PASSTHROUGH|HAS_RESEND");
	fuse_flags_format(buf, sizeof buf, fuse_fopen_flag_names, FOPEN_KEEP_CACHE | FOPEN_DIRECT_IO);
	assert_string_equal(buf, "DIRECT_IO|KEEP_CACHE");
	fuse_open_flags_format(buf, sizeof buf, O_WRONLY | O_CREAT | O_TRUNC);
	assert_string_equal(buf, "O_WRONLY|O_CREAT|O_TRUNC");
	fuse_open_flags_format(buf, sizeof buf, O_RDONLY | 00100000);
	assert_string_equal(buf, "O_RDONLY|O_LARGEFILE");

	assert_string_equal(fuse_errno_name(ENOENT), "ENOENT");
	assert_string_equal(fuse_errno_name(EAGAIN), "EAGAIN");
	assert_string_equal(fuse_errno_name(ENOTSUP), "EOPNOTSUPP");
	assert_string_equal(fuse_errno_name(ENODATA), "ENODATA");
	assert_string_equal(fuse_errno_name(4242), "E4242");
	assert_string_equal(fuse_tok_name(fuse_errno_names, ENOSYS), "ENOSYS");

	/* truncating flag formatter keeps snprintf semantics */
	memset(buf, 'Z', sizeof buf);
	assert_int_equal(fuse_flags_format(buf, 5, fuse_fattr_names, FATTR_SIZE | FATTR_MODE),
			 (int)strlen("MODE|SIZE"));
	assert_string_equal(buf, "MODE");
	assert_int_equal(buf[5], 'Z');
}

/* ---- Requests: every opcode -------------------------------------------------- */

static void all_opcodes(uint32_t *ops, size_t *n)
{
	const struct fuse_op *op;
	size_t i;

	for (i = 0; (op = fuse_op_at(i)); i++)
		ops[i] = op->opcode;
	*n = i;
}

static void test_request_valid_all(void **state)
{
	uint32_t ops[64];
	size_t n, i;
	struct msg m;
	struct fuse_req_view v;
	char err[256];

	(void)state;
	all_opcodes(ops, &n);
	for (i = 0; i < n; i++) {
		build_req(&m, ops[i]);
		if (vreq(m.b, m.len, &wp45, &v, err))
			fail_msg("%s rejected: %s", fuse_opname(ops[i]), err);
		assert_ptr_equal(v.h, m.b);
		const struct fuse_op *op = fuse_op_get(ops[i]);
		if (op->in_size)
			assert_non_null(v.fixed);
		if (op->nnames >= 1)
			assert_non_null(v.name);
		if (op->nnames >= 2)
			assert_non_null(v.name2);
		if (op->flags & FOP_EXT)
			assert_int_equal(v.ext_len, 16);
		/* ...and every view formats without trouble */
		char line[512];
		int r = fuse_format_request(line, sizeof line, &v);
		assert_true(r > 0 && (size_t)r < sizeof line);
		assert_memory_equal(line, op->name, strlen(op->name));
		assert_null(strstr(line, "[|"));
	}
}

/* Every truncation is rejected, with header.len left as sent (inconsistent)
 * and with header.len fixed up to the shorter length (consistent). */
static void test_request_truncations(void **state)
{
	uint32_t ops[64];
	size_t n, i, L;
	struct msg m, t;
	struct fuse_req_view v;
	char err[256], line[512];

	(void)state;
	all_opcodes(ops, &n);
	for (i = 0; i < n; i++) {
		build_req(&m, ops[i]);
		for (L = 0; L < m.len; L++) {
			/* exact-size heap copy so ASan catches any overread */
			uint8_t *p = malloc(L ? L : 1);

			memcpy(p, m.b, L);
			if (vreq(p, L, &wp45, &v, err) != -EPROTO)
				fail_msg("%s: truncation to %zu (len field %zu) accepted",
					 fuse_opname(ops[i]), L, m.len);
			assert_true(err[0] != '\0');
			fuse_format_request(line, sizeof line, &v);
			if (L >= 4) {
				uint32_t l32 = (uint32_t)L;
				memcpy(p, &l32, sizeof l32);
			}
			if (vreq(p, L, &wp45, &v, err) != -EPROTO)
				fail_msg("%s: truncation to %zu (consistent len) accepted",
					 fuse_opname(ops[i]), L);
			fuse_format_request(line, sizeof line, &v);
			free(p);
		}
		/* header.len larger or smaller than the bytes given */
		t = m;
		((struct fuse_in_header *)t.b)->len = (uint32_t)m.len + 1;
		assert_int_equal(vreq(t.b, m.len, &wp45, NULL, err), -EPROTO);
		((struct fuse_in_header *)t.b)->len = (uint32_t)m.len - 1;
		assert_int_equal(vreq(t.b, m.len, &wp45, NULL, err), -EPROTO);
	}
}

/* Extra bytes after a complete message are rejected. */
static void test_request_oversized(void **state)
{
	uint32_t ops[64];
	size_t n, i, extra;
	struct msg m;
	char err[256];

	(void)state;
	all_opcodes(ops, &n);
	for (i = 0; i < n; i++) {
		for (extra = 1; extra <= 16; extra += 7) {
			build_req(&m, ops[i]);
			put_fill(&m, 0, extra);
			((struct fuse_in_header *)m.b)->len = (uint32_t)m.len;
			if (vreq(m.b, m.len, &wp45, NULL, err) != -EPROTO)
				fail_msg("%s with %zu extra bytes accepted", fuse_opname(ops[i]), extra);
		}
	}
}

/* Replacing any NUL that ends a name makes the message invalid. */
static void test_request_unterminated_names(void **state)
{
	uint32_t ops[64];
	size_t n, i, k;
	struct msg m;
	struct fuse_req_view v;
	char err[256];
	int tried = 0;

	(void)state;
	all_opcodes(ops, &n);
	for (i = 0; i < n; i++) {
		const struct fuse_op *op = fuse_op_get(ops[i]);

		if (!op->nnames)
			continue;
		build_req(&m, ops[i]);
		assert_int_equal(vreq(m.b, m.len, &wp45, &v, err), 0);
		/* NULs of the names: positions in [name, after last name) */
		size_t from = (size_t)((const uint8_t *)v.name - m.b);
		size_t to = (size_t)((const uint8_t *)(v.name2 ? v.name2 : v.name) - m.b) +
			    strlen(v.name2 ? v.name2 : v.name) + 1;
		for (k = from; k < to; k++) {
			if (m.b[k])
				continue;
			struct msg t = m;
			t.b[k] = 'x';
			if (vreq(t.b, t.len, &wp45, NULL, err) != -EPROTO)
				fail_msg("%s: name NUL at %zu replaced, accepted", op->name, k);
			tried++;
		}
	}
	assert_int_equal(tried, 17);     /* every name NUL of every op */
}

static void test_request_names_bounded(void **state)
{
	struct msg m;
	char name[FUSE_NAME_MAX + 2], err[256];

	(void)state;
	memset(name, 'n', sizeof name);
	name[FUSE_NAME_MAX] = '\0';                    /* FUSE_NAME_MAX bytes: fine */
	req_begin(&m, FUSE_LOOKUP, 8, 1);
	put_str(&m, name);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), 0);

	name[FUSE_NAME_MAX] = 'n';
	name[FUSE_NAME_MAX + 1] = '\0';                /* one more: too long */
	req_begin(&m, FUSE_LOOKUP, 8, 1);
	put_str(&m, name);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
	assert_non_null(strstr(err, "longer than 4095"));

	/* xattr names stop at 255 */
	name[256] = '\0';
	req_begin(&m, FUSE_REMOVEXATTR, 8, 1);
	put_str(&m, name);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
}

static void test_request_extensions(void **state)
{
	struct msg m;
	char err[256];
	struct fuse_in_header *h;

	(void)state;
	/* extensions on an op that takes none */
	req_begin(&m, FUSE_LOOKUP, 8, 1);
	put_str(&m, "a");
	put_ext(&m);
	req_end(&m, 2);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
	assert_non_null(strstr(err, "total_extlen"));

	/* total_extlen beyond the message */
	build_req(&m, FUSE_MKDIR);
	h = (struct fuse_in_header *)m.b;
	h->total_extlen = 200;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	/* total_extlen swallowing the name */
	build_req(&m, FUSE_MKDIR);
	h = (struct fuse_in_header *)m.b;
	h->total_extlen = 3;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	/* total_extlen 0 with extension bytes present: leftover bytes */
	build_req(&m, FUSE_MKDIR);
	h = (struct fuse_in_header *)m.b;
	h->total_extlen = 0;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	/* malformed extension headers: size 0, size not a multiple of 8,
	 * size past the area, group count too large */
	static const uint32_t bad[][3] = {
		{ 0, FUSE_EXT_GROUPS, 1 }, { 12, FUSE_EXT_GROUPS, 1 },
		{ 24, FUSE_EXT_GROUPS, 1 }, { 16, FUSE_EXT_GROUPS, 2 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		build_req(&m, FUSE_CREATE);
		uint8_t *x = m.b + m.len - 16;
		memcpy(x, &bad[i][0], 4);
		memcpy(x + 4, &bad[i][1], 4);
		memcpy(x + 8, &bad[i][2], 4);
		if (vreq(m.b, m.len, &wp45, NULL, err) != -EPROTO)
			fail_msg("bad extension %zu accepted", i);
	}

	/* two extensions back to back are fine (a secctx then groups) */
	req_begin(&m, FUSE_MKDIR, 8, 1);
	PUT(&m, fuse_mkdir_in, .mode = 0755);
	put_str(&m, "d");
	PUT(&m, fuse_ext_header, .size = 24, .type = 0);
	put_fill(&m, 0, 16);
	put_ext(&m);
	req_end(&m, 5);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), 0);
}

static void test_request_data_lengths(void **state)
{
	struct msg m;
	char err[256];
	struct fuse_write_in *w;

	(void)state;
	build_req(&m, FUSE_WRITE);
	w = (struct fuse_write_in *)(m.b + sizeof(struct fuse_in_header));
	w->size = 4096;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
	assert_string_equal(err, "WRITE: write_in.size 4096 but 100 data bytes follow");

	build_req(&m, FUSE_BATCH_FORGET);
	((struct fuse_batch_forget_in *)(m.b + 40))->count = 2;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
	assert_non_null(strstr(err, "BATCH_FORGET"));
	((struct fuse_batch_forget_in *)(m.b + 40))->count = 0x80000000u;   /* *16 overflows u32 */
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	build_req(&m, FUSE_SETXATTR);
	((struct fuse_setxattr_in *)(m.b + 40))->size = 2;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	build_req(&m, FUSE_IOCTL);
	((struct fuse_ioctl_in *)(m.b + 40))->in_size = 9;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	build_req(&m, FUSE_NOTIFY_REPLY);
	((struct fuse_notify_retrieve_in *)(m.b + 40))->size = 0;
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	/* zero-length write is fine */
	req_begin(&m, FUSE_WRITE, 8, 5);
	PUT(&m, fuse_write_in, .fh = 1, .size = 0);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), 0);
}

static void test_request_nodeid(void **state)
{
	struct msg m;
	char err[256];

	(void)state;
	req_begin(&m, FUSE_LOOKUP, 8, 0);
	put_str(&m, "a");
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
	assert_string_equal(err, "LOOKUP: nodeid 0");

	/* session ops and CUSE file ops carry nodeid 0 */
	build_req(&m, FUSE_INIT);
	assert_int_equal(vreq(m.b, m.len, NULL, NULL, err), 0);
	req_begin(&m, FUSE_READ, 8, 0);
	PUT(&m, fuse_read_in, .size = 10);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), 0);

	/* unknown opcodes */
	req_begin(&m, 7, 8, 1);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
	assert_string_equal(err, "unknown opcode 7");
	req_begin(&m, 4095, 8, 1);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);
}

static void test_request_compat(void **state)
{
	struct msg m;
	char err[256];
	struct fuse_req_view v;
	struct fuse_wire_params old = { .minor = 8 };
	struct fuse_wire_params m11 = { .minor = 11 };
	struct fuse_wire_params noext = { .minor = 45 };

	(void)state;
	/* 7.8: 24-byte write_in */
	req_begin(&m, FUSE_WRITE, 8, 5);
	PUT(&m, fuse_write_in, .fh = 1, .size = 4);
	m.len -= 16;
	put(&m, "data", 4);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &old, &v, err), 0);
	assert_int_equal(v.fixed_len, 24);
	assert_int_equal(v.data_len, 4);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	/* 7.11: 8-byte mknod_in */
	req_begin(&m, FUSE_MKNOD, 8, 5);
	PUT(&m, fuse_mkdir_in, .mode = S_IFIFO | 0600);
	put_str(&m, "p");
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &m11, &v, err), 0);
	assert_int_equal(v.fixed_len, 8);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	/* SETXATTR without FUSE_SETXATTR_EXT: 8-byte setxattr_in */
	req_begin(&m, FUSE_SETXATTR, 8, 5);
	PUT(&m, fuse_getxattr_in, .size = 1);
	put_str(&m, "user.a");
	put(&m, "v", 1);
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &noext, &v, err), 0);
	assert_int_equal(v.fixed_len, 8);
	assert_int_equal(v.data_len, 1);
	assert_int_equal(vreq(m.b, m.len, &wp45, NULL, err), -EPROTO);

	/* INIT from a 7.23 kernel: 16-byte init_in, before negotiation */
	req_begin(&m, FUSE_INIT, 2, 0);
	PUT(&m, fuse_getattr_in, .getattr_flags = 7);   /* major = 7 */
	((uint32_t *)(m.b + 40))[1] = 23;               /* minor */
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, NULL, &v, err), 0);
	assert_int_equal(v.fixed_len, 16);
	/* a 7.45 INIT must carry all 64 bytes */
	((uint32_t *)(m.b + 40))[1] = 45;
	assert_int_equal(vreq(m.b, m.len, NULL, &v, err), -EPROTO);
}

/* ---- Replies ------------------------------------------------------------------ */

static void reply_begin(struct msg *m, int32_t error, uint64_t unique)
{
	struct fuse_out_header oh = { .error = error, .unique = unique };

	memset(m, 0, sizeof *m);
	put(m, &oh, sizeof oh);
}

static void reply_end(struct msg *m)
{
	((struct fuse_out_header *)m->b)->len = (uint32_t)m->len;
}

static void put_dirent(struct msg *m, const char *name, bool plus)
{
	size_t namelen = strlen(name), rec;

	if (plus)
		PUT(m, fuse_entry_out, .nodeid = 20, .attr = { .ino = 20, .mode = S_IFREG | 0644 });
	PUT(m, fuse_dirent, .ino = 20, .off = 1, .namelen = (uint32_t)namelen, .type = 8);
	put(m, name, namelen);
	rec = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen) - FUSE_NAME_OFFSET - namelen;
	put_fill(m, 0, rec);
}

/* A valid successful reply to build_req(opcode); false if none exists. */
static bool build_reply(struct msg *m, uint32_t opcode, uint64_t unique)
{
	const struct fuse_op *op = fuse_op_get(opcode);

	reply_begin(m, 0, unique);
	switch (op->reply) {
	case FUSE_R_NONE:
		return false;
	case FUSE_R_INTERRUPT:
	case FUSE_R_EMPTY:
		break;
	case FUSE_R_FIXED:
		if (op->flags & FOP_NEW_NODE)
			PUT(m, fuse_entry_out, .nodeid = 2, .attr = { .ino = 131,
			    .mode = S_IFREG | 0644, .size = 12 });
		if (op->flags & FOP_NEW_FH)
			PUT(m, fuse_open_out, .fh = 7, .open_flags = FOPEN_KEEP_CACHE);
		if (!(op->flags & (FOP_NEW_NODE | FOP_NEW_FH)))
			put_fill(m, 0, op->out_size);
		break;
	case FUSE_R_DATA:
		put_fill(m, 'd', 100);
		break;
	case FUSE_R_LINK:
		put(m, "target", 6);
		break;
	case FUSE_R_DIRENT:
	case FUSE_R_DIRENTPLUS:
		put_dirent(m, "a", op->reply == FUSE_R_DIRENTPLUS);
		put_dirent(m, "bbbbbbbbb", op->reply == FUSE_R_DIRENTPLUS);
		break;
	case FUSE_R_XATTR:
		if (opcode == FUSE_LISTXATTR)         /* request asked size 0 */
			PUT(m, fuse_getxattr_out, .size = 12);
		else
			put(m, "value", 5);
		break;
	case FUSE_R_IOCTL:
		PUT(m, fuse_ioctl_out, .result = 0);
		put_fill(m, 'o', 16);
		break;
	case FUSE_R_INIT:
		PUT(m, fuse_init_out, .major = 7, .minor = 45, .max_write = 131072,
		    .flags = (uint32_t)FUSE_ASYNC_READ);
		break;
	case FUSE_R_CUSE_INIT:
		PUT(m, cuse_init_out, .major = 7, .minor = 45, .dev_major = 10);
		put(m, "DEVNAME=x", 10);
		break;
	}
	reply_end(m);
	return true;
}

/* Validate from an exact-size heap copy, so that ASan/UBSan builds catch
 * any read past the reply even where the outcome would look right. */
static int vrep(uint32_t opcode, const struct fuse_req_view *req, const struct msg *m,
		size_t len, char *err)
{
	uint8_t *p = malloc(len ? len : 1);
	int r;

	memcpy(p, m->b, len);
	r = fuse_validate_reply(opcode, req, p, len, &wp45, err, 256);
	free(p);
	return r;
}

static void test_reply_all(void **state)
{
	uint32_t ops[64];
	size_t n, i, L;
	struct msg q, m, t;
	struct fuse_req_view v;
	char err[256], line[512];
	int r;

	(void)state;
	all_opcodes(ops, &n);
	for (i = 0; i < n; i++) {
		const struct fuse_op *op = fuse_op_get(ops[i]);
		uint64_t unique;

		build_req(&q, ops[i]);
		assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
		unique = v.h->unique;

		if (!build_reply(&m, ops[i], unique)) {
			/* no reply is ever valid, not even an error */
			reply_begin(&m, -ENOSYS, unique);
			reply_end(&m);
			assert_int_equal(vrep(ops[i], &v, &m, m.len, err), -EPROTO);
			assert_int_equal(vrep(ops[i], NULL, &m, m.len, err), -EPROTO);
			continue;
		}
		if (vrep(ops[i], &v, &m, m.len, err))
			fail_msg("%s reply rejected: %s", op->name, err);
		assert_int_equal(vrep(ops[i], NULL, &m, m.len, err), 0);
		r = fuse_format_reply(line, sizeof line, ops[i], &v, m.b, m.len);
		assert_true(r > 0 && (size_t)r < sizeof line);
		if (strstr(line, "[|"))
			fail_msg("%s reply formats as truncated: %s", op->name, line);

		/* header.len disagreeing with the bytes given */
		for (L = 0; L < m.len; L++) {
			uint8_t *p = malloc(L ? L : 1);

			memcpy(p, m.b, L);
			if (fuse_validate_reply(ops[i], &v, p, L, &wp45, err, sizeof err) != -EPROTO)
				fail_msg("%s reply: %zu of %zu bytes accepted", op->name, L, m.len);
			fuse_format_reply(line, sizeof line, ops[i], &v, p, L);
			free(p);
		}
		/* fixed-size replies: every other length is wrong */
		if (op->reply == FUSE_R_FIXED || op->reply == FUSE_R_CUSE_INIT ||
		    op->reply == FUSE_R_INTERRUPT || op->reply == FUSE_R_EMPTY) {
			/* (CUSE_INIT: only its fixed head; the info may be shorter) */
			size_t upto = op->reply == FUSE_R_CUSE_INIT ?
				      sizeof(struct fuse_out_header) + op->out_size : m.len;
			for (L = sizeof(struct fuse_out_header); L < upto; L++) {
				t = m;
				((struct fuse_out_header *)t.b)->len = (uint32_t)L;
				if (vrep(ops[i], &v, &t, L, err) != -EPROTO)
					fail_msg("%s reply truncated to %zu accepted", op->name, L);
				fuse_format_reply(line, sizeof line, ops[i], &v, t.b, L);
			}
		}
		/* one extra byte: only the variable replies of data may grow */
		t = m;
		put_fill(&t, 0, 1);
		reply_end(&t);
		r = vrep(ops[i], &v, &t, t.len, err);
		if (op->reply == FUSE_R_DATA || op->reply == FUSE_R_LINK ||
		    op->reply == FUSE_R_IOCTL || op->reply == FUSE_R_CUSE_INIT ||
		    (op->reply == FUSE_R_XATTR && ops[i] == FUSE_GETXATTR))
			assert_int_equal(r, 0);
		else if (r != -EPROTO)
			fail_msg("%s reply with one extra byte accepted", op->name);

		/* errors: header only, in (-512, 0] */
		reply_begin(&t, -ENOENT, unique);
		reply_end(&t);
		assert_int_equal(vrep(ops[i], &v, &t, t.len, err), 0);
		fuse_format_reply(line, sizeof line, ops[i], &v, t.b, t.len);
		assert_string_equal(line, "-ENOENT");
		put_fill(&t, 0, 8);
		reply_end(&t);
		assert_int_equal(vrep(ops[i], &v, &t, t.len, err), -EPROTO);
		static const int32_t bad_errors[] = { 1, ENOENT, -512, -1000, INT32_MIN };
		for (size_t k = 0; k < sizeof bad_errors / sizeof bad_errors[0]; k++) {
			reply_begin(&t, bad_errors[k], unique);
			reply_end(&t);
			if (vrep(ops[i], &v, &t, t.len, err) != -EPROTO)
				fail_msg("%s reply with error %d accepted", op->name, bad_errors[k]);
		}
		reply_begin(&t, -511, unique);
		reply_end(&t);
		assert_int_equal(vrep(ops[i], &v, &t, t.len, err), 0);

		/* unique 0 is a notification; a different unique is another request */
		t = m;
		((struct fuse_out_header *)t.b)->unique = 0;
		assert_int_equal(vrep(ops[i], &v, &t, t.len, err), -EPROTO);
		((struct fuse_out_header *)t.b)->unique = unique + 2;
		assert_int_equal(vrep(ops[i], &v, &t, t.len, err), -EPROTO);
		assert_int_equal(vrep(ops[i], NULL, &t, t.len, err), 0);
	}
}

static void test_reply_variable(void **state)
{
	struct msg q, m;
	struct fuse_req_view v;
	char err[256];
	struct fuse_wire_params old = { .minor = 8 };

	(void)state;
	/* READ: at most read_in.size (4096) */
	build_req(&q, FUSE_READ);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	reply_begin(&m, 0, 100);
	put_fill(&m, 'x', 4096);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_READ, &v, &m, m.len, err), 0);
	put_fill(&m, 'x', 1);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_READ, &v, &m, m.len, err), -EPROTO);
	assert_int_equal(vrep(FUSE_READ, NULL, &m, m.len, err), 0);
	reply_begin(&m, 0, 100);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_READ, &v, &m, m.len, err), 0);      /* EOF */

	/* READDIR records */
	build_req(&q, FUSE_READDIR);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	reply_begin(&m, 0, 100);
	put_dirent(&m, "a", false);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), 0);
	((struct fuse_dirent *)(m.b + 16))->namelen = 0;
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), -EPROTO);
	((struct fuse_dirent *)(m.b + 16))->namelen = 9;               /* runs past the end */
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), -EPROTO);
	((struct fuse_dirent *)(m.b + 16))->namelen = 2000;
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), -EPROTO);
	((struct fuse_dirent *)(m.b + 16))->namelen = 1;
	m.b[16 + 24] = '/';
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), -EPROTO);
	m.b[16 + 24] = 'a';
	put_fill(&m, 0, 8);                                             /* stray bytes */
	reply_end(&m);
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), -EPROTO);
	/* the last record without its padding */
	reply_begin(&m, 0, 100);
	put_dirent(&m, "a", false);
	m.len -= 7;
	reply_end(&m);
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), -EPROTO);
	assert_non_null(strstr(err, "needs 32 bytes, 25 left"));
	/* a record cut in the middle */
	reply_begin(&m, 0, 100);
	put_dirent(&m, "a", false);
	put_dirent(&m, "bbbbbbbbb", false);
	m.len -= 8;
	reply_end(&m);
	assert_int_equal(vrep(FUSE_READDIR, &v, &m, m.len, err), -EPROTO);

	/* GETXATTR: size query wants exactly getxattr_out */
	req_begin(&q, FUSE_GETXATTR, 100, 5);
	PUT(&q, fuse_getxattr_in, .size = 0);
	put_str(&q, "user.a");
	req_end(&q, 0);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	reply_begin(&m, 0, 100);
	put(&m, "value", 5);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_GETXATTR, &v, &m, m.len, err), -EPROTO);
	reply_begin(&m, 0, 100);
	PUT(&m, fuse_getxattr_out, .size = 5);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_GETXATTR, &v, &m, m.len, err), 0);

	/* IOCTL retry: iovec count must match */
	build_req(&q, FUSE_IOCTL);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	reply_begin(&m, 0, 100);
	PUT(&m, fuse_ioctl_out, .flags = FUSE_IOCTL_RETRY, .in_iovs = 1, .out_iovs = 1);
	PUT(&m, fuse_ioctl_iovec, .base = 0x1000, .len = 8);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_IOCTL, &v, &m, m.len, err), -EPROTO);
	PUT(&m, fuse_ioctl_iovec, .base = 0x2000, .len = 8);
	reply_end(&m);
	assert_int_equal(vrep(FUSE_IOCTL, &v, &m, m.len, err), 0);
	reply_begin(&m, 0, 100);
	PUT(&m, fuse_ioctl_out, .result = 0);
	put_fill(&m, 0, 4097);                      /* beyond max(out_size, page) */
	reply_end(&m);
	assert_int_equal(vrep(FUSE_IOCTL, &v, &m, m.len, err), -EPROTO);

	/* INIT: 8, 24 and 64 bytes are fine; 7 and 65 are not */
	build_req(&q, FUSE_INIT);
	assert_int_equal(vreq(q.b, q.len, NULL, &v, err), 0);
	static const size_t init_ok[] = { 8, 24, 64 }, init_bad[] = { 0, 7, 65 };
	for (size_t k = 0; k < 3; k++) {
		reply_begin(&m, 0, 100);
		PUT(&m, fuse_init_out, .major = 7, .minor = 22);
		m.len = 16 + init_ok[k];
		reply_end(&m);
		assert_int_equal(fuse_validate_reply(FUSE_INIT, &v, m.b, m.len, NULL, err, sizeof err), 0);
		reply_begin(&m, 0, 100);
		PUT(&m, fuse_init_out, .major = 7, .minor = 22);
		put_fill(&m, 0, 8);
		m.len = 16 + init_bad[k];
		reply_end(&m);
		assert_int_equal(fuse_validate_reply(FUSE_INIT, &v, m.b, m.len, NULL, err, sizeof err), -EPROTO);
	}

	/* 7.8 sizes: entry_out 120, attr_out 96 */
	build_req(&q, FUSE_LOOKUP);
	assert_int_equal(vreq(q.b, q.len, &old, &v, err), 0);
	reply_begin(&m, 0, 100);
	put_fill(&m, 0, 120);
	reply_end(&m);
	assert_int_equal(fuse_validate_reply(FUSE_LOOKUP, &v, m.b, m.len, &old, err, sizeof err), 0);
	assert_int_equal(fuse_validate_reply(FUSE_LOOKUP, &v, m.b, m.len, &wp45, err, sizeof err), -EPROTO);

	/* a reply validated against the wrong request */
	build_req(&q, FUSE_GETATTR);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	reply_begin(&m, 0, 100);
	put_fill(&m, 0, sizeof(struct fuse_entry_out));
	reply_end(&m);
	assert_int_equal(vrep(FUSE_LOOKUP, &v, &m, m.len, err), -EPROTO);
	assert_int_equal(fuse_validate_reply(9999, NULL, m.b, m.len, &wp45, err, sizeof err), -EPROTO);
}

/* ---- Notifications ----------------------------------------------------------- */

static void build_notify(struct msg *m, uint32_t code)
{
	uint64_t ids[2] = { 30, 31 };

	reply_begin(m, (int32_t)code, 0);
	switch (code) {
	case FUSE_NOTIFY_POLL:
		PUT(m, fuse_notify_poll_wakeup_out, .kh = 1);
		break;
	case FUSE_NOTIFY_INVAL_INODE:
		PUT(m, fuse_notify_inval_inode_out, .ino = 5, .off = 0, .len = -1);
		break;
	case FUSE_NOTIFY_INVAL_ENTRY:
		PUT(m, fuse_notify_inval_entry_out, .parent = 1, .namelen = 5,
		    .flags = FUSE_EXPIRE_ONLY);
		put_str(m, "a.txt");
		break;
	case FUSE_NOTIFY_STORE:
		PUT(m, fuse_notify_store_out, .nodeid = 5, .offset = 0, .size = 10);
		put_fill(m, 's', 10);
		break;
	case FUSE_NOTIFY_RETRIEVE:
		PUT(m, fuse_notify_retrieve_out, .notify_unique = 77, .nodeid = 5, .size = 10);
		break;
	case FUSE_NOTIFY_DELETE:
		PUT(m, fuse_notify_delete_out, .parent = 1, .child = 5, .namelen = 3);
		put_str(m, "old");
		break;
	case FUSE_NOTIFY_RESEND:
	case FUSE_NOTIFY_INC_EPOCH:
		break;
	case FUSE_NOTIFY_PRUNE:
		PUT(m, fuse_notify_prune_out, .count = 2);
		put(m, ids, sizeof ids);
		break;
	}
	reply_end(m);
}

static void test_notify(void **state)
{
	struct msg m, t;
	char err[256], line[256];
	size_t L;

	(void)state;
	for (uint32_t code = 1; code < FUSE_NOTIFY_CODE_MAX; code++) {
		const char *name = fuse_notify_name(code);

		build_notify(&m, code);
		if (fuse_validate_notify(m.b, m.len, err, sizeof err))
			fail_msg("%s rejected: %s", name, err);
		fuse_format_notify(line, sizeof line, m.b, m.len);
		assert_memory_equal(line, name, strlen(name));
		assert_null(strstr(line, "[|"));
		for (L = 0; L < m.len; L++) {
			uint8_t *p = malloc(L ? L : 1);

			memcpy(p, m.b, L);
			if (fuse_validate_notify(p, L, err, sizeof err) != -EPROTO)
				fail_msg("%s truncated to %zu accepted (len field kept)", name, L);
			fuse_format_notify(line, sizeof line, p, L);
			if (L >= 4) {
				uint32_t l32 = (uint32_t)L;
				memcpy(p, &l32, sizeof l32);
			}
			if (fuse_validate_notify(p, L, err, sizeof err) != -EPROTO)
				fail_msg("%s truncated to %zu accepted", name, L);
			fuse_format_notify(line, sizeof line, p, L);
			free(p);
		}
		t = m;
		put_fill(&t, 0, 1);
		reply_end(&t);
		if (fuse_validate_notify(t.b, t.len, err, sizeof err) != -EPROTO)
			fail_msg("%s with an extra byte accepted", name);
		t = m;
		((struct fuse_out_header *)t.b)->unique = 2;
		assert_int_equal(fuse_validate_notify(t.b, t.len, err, sizeof err), -EPROTO);
	}
	build_notify(&m, FUSE_NOTIFY_RESEND);
	((struct fuse_out_header *)m.b)->error = 10;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	assert_string_equal(err, "unknown notification code 10");
	((struct fuse_out_header *)m.b)->error = 0;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	((struct fuse_out_header *)m.b)->error = -2;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);

	/* INVAL_ENTRY: missing NUL, namelen too big, unknown flags */
	build_notify(&m, FUSE_NOTIFY_INVAL_ENTRY);
	m.b[m.len - 1] = 'x';
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	build_notify(&m, FUSE_NOTIFY_INVAL_ENTRY);
	((struct fuse_notify_inval_entry_out *)(m.b + 16))->namelen = 1025;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	build_notify(&m, FUSE_NOTIFY_INVAL_ENTRY);
	((struct fuse_notify_inval_entry_out *)(m.b + 16))->flags = 2;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	/* DELETE namelen disagreeing with the name */
	build_notify(&m, FUSE_NOTIFY_DELETE);
	((struct fuse_notify_delete_out *)(m.b + 16))->namelen = 2;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	/* STORE size, PRUNE count */
	build_notify(&m, FUSE_NOTIFY_STORE);
	((struct fuse_notify_store_out *)(m.b + 16))->size = 11;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	build_notify(&m, FUSE_NOTIFY_PRUNE);
	((struct fuse_notify_prune_out *)(m.b + 16))->count = 3;
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);
	((struct fuse_notify_prune_out *)(m.b + 16))->count = 0x20000000u;   /* *8 wraps u32 */
	assert_int_equal(fuse_validate_notify(m.b, m.len, err, sizeof err), -EPROTO);

	build_notify(&m, FUSE_NOTIFY_INVAL_ENTRY);
	fuse_format_notify(line, sizeof line, m.b, m.len);
	assert_string_equal(line, "INVAL_ENTRY parent=1 \"a.txt\" expire_only");
	build_notify(&m, FUSE_NOTIFY_STORE);
	fuse_format_notify(line, sizeof line, m.b, m.len);
	assert_string_equal(line, "STORE node=5 off=0 size=10");
}

/* ---- Formatter ------------------------------------------------------------------ */

static void expect_req(struct msg *m, const struct fuse_wire_params *wp, const char *want)
{
	struct fuse_req_view v;
	char err[256], line[512];

	if (vreq(m->b, m->len, wp, &v, err))
		fail_msg("rejected: %s", err);
	int r = fuse_format_request(line, sizeof line, &v);

	assert_string_equal(line, want);
	assert_int_equal(r, (int)strlen(want));
}

static void expect_reply(uint32_t opcode, const struct fuse_req_view *req,
			 const struct msg *m, const char *want)
{
	char line[512];
	int r = fuse_format_reply(line, sizeof line, opcode, req, m->b, m->len);

	assert_string_equal(line, want);
	assert_int_equal(r, (int)strlen(want));
}

static void test_format_requests(void **state)
{
	struct msg m;

	(void)state;
	req_begin(&m, FUSE_LOOKUP, 12, 1);
	put_str(&m, "hello.txt");
	req_end(&m, 0);
	expect_req(&m, &wp45, "LOOKUP #12 node=1 \"hello.txt\"");

	req_begin(&m, FUSE_READ, 40, 5);
	PUT(&m, fuse_read_in, .fh = 3, .offset = 0, .size = 4096);
	req_end(&m, 0);
	expect_req(&m, &wp45, "READ #40 node=5 fh=3 off=0 size=4096");

	req_begin(&m, FUSE_SETATTR, 8, 2);
	PUT(&m, fuse_setattr_in, .valid = FATTR_SIZE | FATTR_MTIME_NOW | FATTR_MTIME);
	req_end(&m, 0);
	expect_req(&m, &wp45, "SETATTR #8 node=2 valid=SIZE|MTIME|MTIME_NOW size=0");

	req_begin(&m, FUSE_OPEN, 10, 2);
	PUT(&m, fuse_open_in, .flags = O_RDWR | O_TRUNC);
	req_end(&m, 0);
	expect_req(&m, &wp45, "OPEN #10 node=2 flags=O_RDWR|O_TRUNC");

	req_begin(&m, FUSE_INIT, 2, 0);
	PUT(&m, fuse_init_in, .major = 7, .minor = 45, .max_readahead = 131072,
	    .flags = (uint32_t)(FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_INIT_EXT),
	    .flags2 = (uint32_t)(FUSE_OVER_IO_URING >> 32));
	req_end(&m, 0);
	expect_req(&m, NULL, "INIT #2 7.45 flags=ASYNC_READ|POSIX_LOCKS|INIT_EXT|OVER_IO_URING "
		   "max_readahead=131072");

	build_req(&m, FUSE_BATCH_FORGET);
	((struct fuse_in_header *)m.b)->unique = 6;
	expect_req(&m, &wp45, "BATCH_FORGET #6 count=3");

	req_begin(&m, FUSE_RENAME2, 14 | FUSE_UNIQUE_RESEND, 1);
	PUT(&m, fuse_rename2_in, .newdir = 9, .flags = RENAME_EXCHANGE);
	put_str(&m, "a\"b");
	put_str(&m, "c\n");
	req_end(&m, 0);
	expect_req(&m, &wp45, "RENAME2 #14 resent node=1 \"a\\\"b\" -> dir=9 \"c\\x0a\" "
		   "flags=EXCHANGE");

	build_req(&m, FUSE_WRITE);
	expect_req(&m, &wp45, "WRITE #100 node=5 fh=3 off=0 size=100");
	build_req(&m, FUSE_CREATE);
	expect_req(&m, &wp45, "CREATE #100 node=5 \"new.txt\" flags=O_RDWR|O_CREAT "
		   "mode=0100644 umask=022 ext=16");
	build_req(&m, FUSE_INTERRUPT);
	expect_req(&m, &wp45, "INTERRUPT #41 unique=40");
	build_req(&m, FUSE_GETLK);
	expect_req(&m, &wp45, "GETLK #100 node=5 fh=3 owner=0xabc type=F_WRLCK start=0 "
		   "end=EOF pid=42");
	build_req(&m, FUSE_SETXATTR);
	expect_req(&m, &wp45, "SETXATTR #100 node=5 \"user.x\" size=3");
	build_req(&m, FUSE_SYMLINK);
	expect_req(&m, &wp45, "SYMLINK #100 node=5 \"link\" -> \"target/path\" ext=16");
	build_req(&m, FUSE_COPY_FILE_RANGE_64);
	expect_req(&m, &wp45, "COPY_FILE_RANGE_64 #100 node=5 fh=3 off=0 -> node=6 fh=4 "
		   "off=0 len=65536");
	build_req(&m, FUSE_STATFS);
	expect_req(&m, &wp45, "STATFS #100 node=5");
	build_req(&m, FUSE_ACCESS);
	expect_req(&m, &wp45, "ACCESS #100 node=5 mask=R_OK|W_OK");
}

static void test_format_replies(void **state)
{
	struct msg q, m;
	struct fuse_req_view v;
	char err[256], line[64];

	(void)state;
	reply_begin(&m, 0, 12);
	PUT(&m, fuse_entry_out, .nodeid = 2, .attr = { .ino = 131, .mode = S_IFREG | 0644,
						       .size = 12 });
	reply_end(&m);
	expect_reply(FUSE_LOOKUP, NULL, &m, "node=2 ino=131 mode=0100644 size=12");

	reply_begin(&m, -ENOENT, 12);
	reply_end(&m);
	expect_reply(FUSE_LOOKUP, NULL, &m, "-ENOENT");

	reply_begin(&m, 0, 12);
	put_fill(&m, 'x', 4096);
	reply_end(&m);
	expect_reply(FUSE_READ, NULL, &m, "4096 bytes");

	reply_begin(&m, 0, 12);
	PUT(&m, fuse_open_out, .fh = 7, .open_flags = FOPEN_KEEP_CACHE);
	reply_end(&m);
	expect_reply(FUSE_OPEN, NULL, &m, "fh=7 KEEP_CACHE");

	reply_begin(&m, 0, 12);
	PUT(&m, fuse_attr_out, .attr = { .mode = S_IFREG | 0644, .size = 12 });
	reply_end(&m);
	expect_reply(FUSE_GETATTR, NULL, &m, "attr mode=0100644 size=12");

	reply_begin(&m, 0, 12);
	for (int i = 0; i < 12; i++)
		put_dirent(&m, "entry", false);
	reply_end(&m);
	expect_reply(FUSE_READDIR, NULL, &m, "12 entries");

	reply_begin(&m, 0, 12);
	PUT(&m, fuse_write_out, .size = 100);
	reply_end(&m);
	expect_reply(FUSE_WRITE, NULL, &m, "100 bytes");

	reply_begin(&m, 0, 12);
	reply_end(&m);
	expect_reply(FUSE_UNLINK, NULL, &m, "OK");

	reply_begin(&m, -4242, 12);
	reply_end(&m);
	expect_reply(FUSE_UNLINK, NULL, &m, "-E4242");

	reply_begin(&m, 0, 2);
	PUT(&m, fuse_init_out, .major = 7, .minor = 45, .max_readahead = 131072,
	    .flags = (uint32_t)(FUSE_ASYNC_READ | FUSE_MAX_PAGES), .max_write = 1048576,
	    .max_pages = 256, .time_gran = 1);
	reply_end(&m);
	expect_reply(FUSE_INIT, NULL, &m, "7.45 flags=ASYNC_READ|MAX_PAGES max_readahead=131072 "
		     "max_write=1048576 max_background=0 congestion_threshold=0 time_gran=1 "
		     "max_pages=256");

	/* LISTXATTR size query vs data */
	build_req(&q, FUSE_LISTXATTR);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	reply_begin(&m, 0, 100);
	PUT(&m, fuse_getxattr_out, .size = 12);
	reply_end(&m);
	expect_reply(FUSE_LISTXATTR, &v, &m, "size=12");

	/* truncated payloads print a marker */
	reply_begin(&m, 0, 12);
	put_fill(&m, 0, 50);
	reply_end(&m);
	expect_reply(FUSE_LOOKUP, NULL, &m, "[|LOOKUP]");
	reply_begin(&m, 0, 12);
	PUT(&m, fuse_entry_out, .nodeid = 2);
	put_fill(&m, 0, 4);
	reply_end(&m);
	expect_reply(FUSE_CREATE, NULL, &m, "node=2 ino=0 mode=0 size=0 [|CREATE]");
	reply_begin(&m, 0, 12);
	put_dirent(&m, "a", false);
	put_fill(&m, 0, 5);
	reply_end(&m);
	expect_reply(FUSE_READDIR, NULL, &m, "1 entry [|READDIR]");
	expect_reply(FUSE_READ, NULL, &m, "37 bytes");

	/* a too-short message at all */
	assert_int_equal(fuse_format_reply(line, sizeof line, FUSE_LOOKUP, NULL, m.b, 10), 9);
	assert_string_equal(line, "[|LOOKUP]");
	assert_int_equal(fuse_format_reply(line, sizeof line, FUSE_LOOKUP, NULL, NULL, 0), 9);
}

/* A view from a failed validation prints what it has plus a marker. */
static void test_format_truncated_views(void **state)
{
	struct msg m;
	struct fuse_req_view v;
	char err[256], line[256];

	(void)state;
	req_begin(&m, FUSE_LOOKUP, 12, 1);
	put(&m, "hello", 5);                     /* no NUL */
	req_end(&m, 0);
	assert_int_equal(vreq(m.b, m.len, &wp45, &v, err), -EPROTO);
	fuse_format_request(line, sizeof line, &v);
	assert_string_equal(line, "LOOKUP #12 node=1 [|LOOKUP]");

	build_req(&m, FUSE_READ);
	((struct fuse_in_header *)m.b)->len = 60;
	assert_int_equal(vreq(m.b, 60, &wp45, &v, err), -EPROTO);
	fuse_format_request(line, sizeof line, &v);
	assert_string_equal(line, "READ #100 node=5 [|READ]");

	assert_int_equal(vreq(m.b, 20, &wp45, &v, err), -EPROTO);
	fuse_format_request(line, sizeof line, &v);
	assert_string_equal(line, "[|fuse]");
	fuse_format_request(line, sizeof line, NULL);
	assert_string_equal(line, "[|fuse]");
}

/* Output into every buffer size from 0 up never passes n and always ends
 * in NUL, and the return value is the full length. */
static void check_small_buffers(const char *full, int fulllen,
				int (*fmt)(char *, size_t, const void *), const void *arg)
{
	char buf[600];

	for (size_t n = 0; n <= (size_t)fulllen + 2; n++) {
		memset(buf, 'Z', sizeof buf);
		int r = fmt(n ? buf : NULL, n, arg);

		assert_int_equal(r, fulllen);
		for (size_t k = n; k < sizeof buf; k++)
			if (buf[k] != 'Z')
				fail_msg("wrote byte %zu with n=%zu", k, n);
		if (n) {
			size_t got = strlen(buf);
			assert_int_equal(got, n - 1 < (size_t)fulllen ? n - 1 : (size_t)fulllen);
			assert_memory_equal(buf, full, got);
		}
	}
}

static const struct fuse_req_view *small_view;
static const struct msg *small_reply;

static int fmt_req(char *b, size_t n, const void *arg)
{
	(void)arg;
	return fuse_format_request(b, n, small_view);
}

static int fmt_reply(char *b, size_t n, const void *arg)
{
	return fuse_format_reply(b, n, *(const uint32_t *)arg, small_view,
				 small_reply->b, small_reply->len);
}

static void test_format_small_buffers(void **state)
{
	uint32_t ops[64];
	size_t n, i;
	struct msg q, m;
	struct fuse_req_view v;
	char err[256], full[600];

	(void)state;
	all_opcodes(ops, &n);
	for (i = 0; i < n; i++) {
		build_req(&q, ops[i]);
		assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
		small_view = &v;
		int len = fuse_format_request(full, sizeof full, &v);
		assert_true(len > 0 && (size_t)len < sizeof full);
		check_small_buffers(full, len, fmt_req, NULL);

		if (!build_reply(&m, ops[i], v.h->unique))
			continue;
		small_reply = &m;
		len = fmt_reply(full, sizeof full, &ops[i]);
		assert_true(len > 0 && (size_t)len < sizeof full);
		check_small_buffers(full, len, fmt_reply, &ops[i]);
	}
}

static void test_cursor(void **state)
{
	static const uint8_t data[] = { 'a', 'b', 0, 1, 2, 3, 4, 5, 6, 7 };
	struct fuse_cursor c = cur_make(data, sizeof data), tail;
	size_t sl;
	uint32_t u;
	uint64_t big;

	(void)state;
	assert_string_equal(cur_pull_str(&c, &sl), "ab");
	assert_int_equal(sl, 2);
	assert_int_equal(cur_left(&c), 7);
	assert_true(cur_split_tail(&c, 3, &tail));
	assert_int_equal(cur_left(&tail), 3);
	assert_true(cur_u32(&c, &u));
	assert_false(cur_u64(&c, &big));          /* 0 left */
	assert_null(cur_pull_str(&tail, NULL));   /* no NUL in 5,6,7 */
	assert_int_equal(cur_left(&tail), 3);
	assert_null(cur_pull(&tail, 4));
	assert_non_null(cur_pull(&tail, 3));
	assert_false(cur_split_tail(&tail, 1, &c));
	c = cur_make(NULL, 0);
	assert_null(cur_pull_str(&c, NULL));
	assert_false(cur_copy(&c, &u, sizeof u, 4));
}

static void test_handles(void **state)
{
	struct msg q, m;
	struct fuse_req_view v;
	char err[256];
	uint64_t x;

	(void)state;
	build_req(&q, FUSE_READ);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	assert_true(fuse_req_fh(&v, &x));
	assert_int_equal(x, 3);
	assert_false(fuse_req_node2(&v, &x));

	build_req(&q, FUSE_GETATTR);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	assert_true(fuse_req_fh(&v, &x));
	assert_int_equal(x, 7);
	((struct fuse_getattr_in *)(q.b + 40))->getattr_flags = 0;
	assert_false(fuse_req_fh(&v, &x));

	build_req(&q, FUSE_SETATTR);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	assert_false(fuse_req_fh(&v, &x));

	build_req(&q, FUSE_COPY_FILE_RANGE);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	assert_true(fuse_req_fh2(&v, &x));
	assert_int_equal(x, 4);
	assert_true(fuse_req_node2(&v, &x));
	assert_int_equal(x, 6);

	build_req(&q, FUSE_LINK);
	assert_int_equal(vreq(q.b, q.len, &wp45, &v, err), 0);
	assert_true(fuse_req_node2(&v, &x));
	assert_int_equal(x, 6);

	build_reply(&m, FUSE_CREATE, 100);
	assert_true(fuse_reply_new_node(FUSE_CREATE, m.b + 16, m.len - 16, &x));
	assert_int_equal(x, 2);
	assert_true(fuse_reply_new_fh(FUSE_CREATE, m.b + 16, m.len - 16, &x));
	assert_int_equal(x, 7);
	assert_false(fuse_reply_new_fh(FUSE_LOOKUP, m.b + 16, m.len - 16, &x));
	assert_false(fuse_reply_new_node(FUSE_OPEN, m.b + 16, m.len - 16, &x));
}

/* Mutated valid messages (random bytes flipped, random lengths) go through
 * validate and format from exact-size heap copies: nothing may crash or
 * read outside the copy (the ASan build checks the latter). */
static void test_fuzz(void **state)
{
	uint32_t ops[64];
	size_t n;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char err[256], line[256];
	struct msg m;

	(void)state;
	all_opcodes(ops, &n);
	for (int iter = 0; iter < 20000; iter++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		uint32_t op = ops[seed % n];
		bool reply = (seed >> 8) & 1, notify = ((seed >> 9) & 7) == 0;
		struct fuse_req_view v, rv;

		build_req(&m, op);
		if (vreq(m.b, m.len, &wp45, &rv, err))
			fail_msg("%s: %s", fuse_opname(op), err);
		if (notify)
			build_notify(&m, 1 + (uint32_t)(seed >> 12) % (FUSE_NOTIFY_CODE_MAX - 1));
		else if (reply && !build_reply(&m, op, rv.h->unique))
			reply = false;
		int flips = 1 + (int)((seed >> 16) % 4);
		for (int k = 0; k < flips; k++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			m.b[seed % m.len] ^= (uint8_t)(1u << ((seed >> 20) % 8));
		}
		size_t len = m.len - ((seed >> 24) % 3 == 0 ? (seed >> 28) % (m.len + 1) : 0);
		uint8_t *p = malloc(len ? len : 1);
		memcpy(p, m.b, len);
		if (notify) {
			fuse_validate_notify(p, len, err, sizeof err);
			fuse_format_notify(line, sizeof line, p, len);
		} else if (reply) {
			fuse_validate_reply(op, &rv, p, len, &wp45, err, sizeof err);
			fuse_format_reply(line, sizeof line, op, &rv, p, len);
		} else {
			fuse_validate_request(p, len, &wp45, &v, err, sizeof err);
			fuse_format_request(line, sizeof line, &v);
			uint64_t x;
			fuse_req_fh(&v, &x);
			fuse_req_fh2(&v, &x);
			fuse_req_node2(&v, &x);
		}
		free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_struct_sizes),
		cmocka_unit_test(test_op_table),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_request_valid_all),
		cmocka_unit_test(test_request_truncations),
		cmocka_unit_test(test_request_oversized),
		cmocka_unit_test(test_request_unterminated_names),
		cmocka_unit_test(test_request_names_bounded),
		cmocka_unit_test(test_request_extensions),
		cmocka_unit_test(test_request_data_lengths),
		cmocka_unit_test(test_request_nodeid),
		cmocka_unit_test(test_request_compat),
		cmocka_unit_test(test_reply_all),
		cmocka_unit_test(test_reply_variable),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_format_requests),
		cmocka_unit_test(test_format_replies),
		cmocka_unit_test(test_format_truncated_views),
		cmocka_unit_test(test_format_small_buffers),
		cmocka_unit_test(test_handles),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
