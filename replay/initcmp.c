/* \summary: INIT: what the target negotiated compared with the recording.
 *
 * Only differences that change which requests the kernel would have sent,
 * or how they are laid out, make the report's "matter" list; the rest
 * (cache and performance hints) are listed under -v.
 */
#include <stdio.h>
#include <string.h>
#include "replay_i.h"
#include "names.h"

struct cap_note {
	uint64_t flag;
	const char *why;          /* NULL: a cache/performance hint */
};

static const struct cap_note notes[] = {
	{ FUSE_POSIX_LOCKS, "GETLK/SETLK/SETLKW: the recording's kernel left POSIX locks to the "
	  "filesystem" },
	{ FUSE_FLOCK_LOCKS, "flock(2) arrives as SETLK(W) with FUSE_LK_FLOCK" },
	{ FUSE_ATOMIC_O_TRUNC, "OPEN carries O_TRUNC instead of a separate SETATTR size=0" },
	{ FUSE_EXPORT_SUPPORT, "LOOKUP of \".\" and \"..\"" },
	{ FUSE_DONT_MASK, "modes in MKNOD/MKDIR/CREATE arrive without the umask applied" },
	{ FUSE_DO_READDIRPLUS, "directories are read with READDIRPLUS" },
	{ FUSE_READDIRPLUS_AUTO, "READDIRPLUS and READDIR mixed by the kernel" },
	{ FUSE_WRITEBACK_CACHE, "writes are cached by the kernel: WRITE sizes, SETATTR and "
	  "FLUSH traffic differ" },
	{ FUSE_NO_OPEN_SUPPORT, "OPEN answered ENOSYS means \"no open needed\"" },
	{ FUSE_NO_OPENDIR_SUPPORT, "OPENDIR answered ENOSYS means \"no opendir needed\"" },
	{ FUSE_HANDLE_KILLPRIV, "clearing suid/sgid on write is the filesystem's job" },
	{ FUSE_HANDLE_KILLPRIV_V2, "clearing suid/sgid (KILL_SUIDGID flags) is the "
	  "filesystem's job" },
	{ FUSE_POSIX_ACL, "the filesystem enforces POSIX ACLs" },
	{ FUSE_SETXATTR_EXT, "SETXATTR requests use the extended fuse_setxattr_in; cut to "
	  "the short one for a target without it" },
	{ FUSE_CREATE_SUPP_GROUP, "creating requests carry a supplementary group extension; "
	  "removed for a target without it" },
	{ FUSE_SECURITY_CTX, "creating requests carry a security context extension; removed "
	  "for a target without it" },
	{ FUSE_ASYNC_READ, NULL }, { FUSE_FILE_OPS, NULL }, { FUSE_BIG_WRITES, NULL },
	{ FUSE_HAS_IOCTL_DIR, NULL }, { FUSE_AUTO_INVAL_DATA, NULL }, { FUSE_ASYNC_DIO, NULL },
	{ FUSE_PARALLEL_DIROPS, NULL }, { FUSE_ABORT_ERROR, NULL }, { FUSE_MAX_PAGES, NULL },
	{ FUSE_CACHE_SYMLINKS, NULL }, { FUSE_EXPLICIT_INVAL_DATA, NULL },
	{ FUSE_MAP_ALIGNMENT, NULL }, { FUSE_SUBMOUNTS, NULL }, { FUSE_INIT_EXT, NULL },
	{ FUSE_HAS_INODE_DAX, NULL }, { FUSE_HAS_EXPIRE_ONLY, NULL },
	{ FUSE_DIRECT_IO_ALLOW_MMAP, NULL }, { FUSE_NO_EXPORT_SUPPORT, NULL },
	{ FUSE_HAS_RESEND, NULL }, { FUSE_REQUEST_TIMEOUT, NULL },
};

void rp_init_compare(struct rp_report *r, const struct fuse_init_in *offered,
		     const struct fuse_init_out *rec, bool have_rec,
		     const struct fuse_init_out *got)
{
	uint64_t off = rp_init_flags(offered->flags, offered->flags2) & ~(uint64_t)RP_INIT_STRIP;
	uint64_t gf = rp_init_flags(got->flags, got->flags2) & off;
	uint64_t rf;

	if (!have_rec) {
		sb_printf(&r->init, "the trace holds no INIT reply: nothing to compare with\n");
		return;
	}
	rf = rp_init_flags(rec->flags, rec->flags2) & off;
	if (got->minor < rec->minor) {
		sb_printf(&r->init, "* protocol: recorded 7.%u, target 7.%u: requests are sent "
			  "in the recording's 7.%u layout\n", rec->minor, got->minor, rec->minor);
		r->init_major_diffs++;
	} else if (got->minor != rec->minor && r->o->verbose) {
		sb_printf(&r->init, "  protocol: recorded 7.%u, target 7.%u\n", rec->minor,
			  got->minor);
	}
	if (got->max_write < rec->max_write) {
		sb_printf(&r->init, "* max_write: recorded %u, target %u: WRITEs up to %u bytes "
			  "will be sent\n", rec->max_write, got->max_write, rec->max_write);
		r->init_major_diffs++;
	}
	for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
		uint64_t f = notes[i].flag;
		if (!((rf ^ gf) & f))
			continue;
		const char *name = fuse_tok_name(fuse_init_flag_names, f);
		if (notes[i].why) {
			sb_printf(&r->init, "* %s: recorded %s, target %s (%s)\n", name ? name : "?",
				  rf & f ? "yes" : "no", gf & f ? "yes" : "no", notes[i].why);
			r->init_major_diffs++;
		} else if (r->o->verbose) {
			sb_printf(&r->init, "  %s: recorded %s, target %s\n", name ? name : "?",
				  rf & f ? "yes" : "no", gf & f ? "yes" : "no");
		}
	}
}
