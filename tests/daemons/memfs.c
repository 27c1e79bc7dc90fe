/* Description: memfs, an in-memory filesystem on libfuse3's low-level API, written for
 * fuseproxy's tests: it implements every operation tests/conformance.c exercises, so
 * the same program can be mounted on its own (memfs -f MNT) and behind the proxy
 * (fuseproxy --backend 'memfs -f' MNT), and the two compared.
 *
 *   memfs [memfs options] [libfuse options] MNT|/dev/fd/N
 *     --delay-ms=N          sleep N ms at the start of every operation
 *     --slow-ms=N           READs of files named slow* wait N ms (default 10000) or until
 *                           interrupted (then EINTR); those files are opened direct_io so
 *                           each read(2) is one synchronous, interruptible request
 *     --bug-truncate-size   SETATTR replies after a size change report a wrong st_size
 *     --timeout=S           entry and attribute timeout (default 1.0)
 *     --trace               one stderr line per FORGET/BATCH_FORGET and per interrupt wait
 *     --local-locks         leave POSIX/OFD/flock locks to the kernel (deterministic: a
 *                           daemon learns that a flock or OFD lock is gone only from the
 *                           RELEASE the kernel sends after close(2) has returned)
 *
 * Storage is kept simple and obviously correct rather than fast: one global mutex, an
 * inode table indexed by inode number (numbers are never reused), directories as arrays
 * of entries with stable readdir cookies, regular files as arrays of 4 KiB pages where
 * a missing page is a hole (so SEEK_DATA/SEEK_HOLE, PUNCH_HOLE and st_blocks are real).
 *
 * It counts the kernel's lookup references (nlookup) per inode and reports at exit how
 * many are still outstanding, so tests can show that FORGETs arrive.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#define FALLOC_FL_PUNCH_HOLE 0x02
#define FALLOC_FL_ZERO_RANGE 0x10
#endif

#define PAGE 4096u
#define MAX_FILE_SIZE (16ull << 30)	/* bounds the page-pointer array at 32 MiB */
#define NAME_MAX_LEN 255
#define XATTR_SIZE_MAX_ 65536
#define COOKIE_FIRST 3			/* 1 = ".", 2 = "..", entries after */

/* ---- options ---------------------------------------------------------------------- */

static struct memfs_opts {
	unsigned delay_ms;
	unsigned slow_ms;
	int bug_truncate_size;
	double timeout;
	char *timeout_str;
	int trace;
	int local_locks;
} opt = { .slow_ms = 10000, .timeout = 1.0 };

#define MOPT(t, f, v) { t, offsetof(struct memfs_opts, f), v }
static const struct fuse_opt memfs_optspec[] = {
	MOPT("--delay-ms=%u", delay_ms, 0),
	MOPT("--slow-ms=%u", slow_ms, 0),
	MOPT("--timeout=%s", timeout_str, 0),
	MOPT("--bug-truncate-size", bug_truncate_size, 1),
	MOPT("--trace", trace, 1),
	MOPT("--local-locks", local_locks, 1),
	FUSE_OPT_END
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* one write per line: lines of concurrent threads never interleave */
	if (write(2, line, (size_t)n) < 0)
		return;
}

/* ---- data model ------------------------------------------------------------------- */

struct dent {
	char *name;
	fuse_ino_t ino;
	uint64_t cookie;	/* readdir offset; increasing along the array */
};

struct xattr {
	char *name;
	char *value;
	size_t size;
};

/* A byte-range lock ([start, end] inclusive) or, with flock set, a whole-file flock. */
struct lock {
	uint64_t owner;
	uint64_t fh;		/* the open file it was taken through */
	uint64_t start, end;
	uint32_t pid;
	int type;		/* F_RDLCK or F_WRLCK */
	int flock;
};

struct node {
	fuse_ino_t ino;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	nlink_t nlink;
	uint64_t nlookup;	/* the kernel's references: +1 per entry reply, -n per forget */
	unsigned opens;
	int slow;		/* name started with "slow": interruptible slow reads */
	off_t size;
	struct timespec atime, mtime, ctime;
	/* regular file: pages[i] holds bytes [i*PAGE, (i+1)*PAGE) or is a hole */
	char **pages;
	size_t npages_cap, npages_used;
	/* symlink */
	char *target;
	/* directory */
	struct dent *ents;
	size_t nents, ents_cap;
	uint64_t next_cookie;
	fuse_ino_t parent;
	/* everyone */
	struct xattr *xattrs;
	size_t nxattrs;
	struct lock *locks;
	size_t nlocks;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_fh = 1;	/* every open gets its own handle: locks remember it */
static pthread_cond_t lock_cv = PTHREAD_COND_INITIALIZER;	/* a lock went away */
static struct node **tab;	/* indexed by inode number; [0] unused */
static size_t ntab, tabcap;

static struct timespec now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static struct node *get(fuse_ino_t ino)
{
	return ino < ntab ? tab[ino] : NULL;
}

static struct node *new_node(mode_t mode, uid_t uid, gid_t gid)
{
	struct node *n;

	if (ntab >= tabcap) {
		size_t cap = tabcap ? tabcap * 2 : 1024;
		struct node **t = realloc(tab, cap * sizeof *t);
		if (!t)
			return NULL;
		tab = t;
		tabcap = cap;
	}
	n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->ino = ntab;
	n->mode = mode;
	n->uid = uid;
	n->gid = gid;
	n->nlink = S_ISDIR(mode) ? 2 : 1;
	n->next_cookie = COOKIE_FIRST;
	n->atime = n->mtime = n->ctime = now();
	tab[ntab++] = n;
	return n;
}

static void free_pages_from(struct node *n, size_t first)
{
	for (size_t i = first; i < n->npages_cap; i++) {
		if (n->pages[i]) {
			free(n->pages[i]);
			n->pages[i] = NULL;
			n->npages_used--;
		}
	}
}

/* Frees the node once nothing refers to it: no name, no kernel reference, no open file. */
static void maybe_free(struct node *n)
{
	if (n->ino == FUSE_ROOT_ID || n->nlink || n->nlookup || n->opens)
		return;
	tab[n->ino] = NULL;
	free_pages_from(n, 0);
	free(n->pages);
	free(n->target);
	for (size_t i = 0; i < n->nents; i++)
		free(n->ents[i].name);
	free(n->ents);
	for (size_t i = 0; i < n->nxattrs; i++) {
		free(n->xattrs[i].name);
		free(n->xattrs[i].value);
	}
	free(n->xattrs);
	free(n->locks);
	free(n);
}

static void to_stat(const struct node *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_blksize = PAGE;
	if (S_ISREG(n->mode)) {
		st->st_size = n->size;
		st->st_blocks = (blkcnt_t)n->npages_used * (PAGE / 512);
	} else if (S_ISLNK(n->mode)) {
		st->st_size = (off_t)strlen(n->target);
	} else if (S_ISDIR(n->mode)) {
		st->st_size = (off_t)(n->nents + 2) * 32;
	}
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

/* Fills an entry reply for n and takes one lookup reference (the kernel now holds it). */
static void make_entry(struct node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = opt.timeout;
	e->entry_timeout = opt.timeout;
	to_stat(n, &e->attr);
	n->nlookup++;
}

/* Sends an entry reply; if the kernel no longer wants it (request interrupted), the
 * reference it would have held is dropped again. */
static void reply_entry(fuse_req_t req, struct fuse_entry_param *e)
{
	if (fuse_reply_entry(req, e) != 0) {
		pthread_mutex_lock(&mu);
		struct node *n = get(e->ino);
		if (n && n->nlookup) {
			n->nlookup--;
			maybe_free(n);
		}
		pthread_mutex_unlock(&mu);
	}
}

static void reply_create(fuse_req_t req, struct fuse_entry_param *e, struct fuse_file_info *fi)
{
	if (fuse_reply_create(req, e, fi) != 0) {
		pthread_mutex_lock(&mu);
		struct node *n = get(e->ino);
		if (n) {
			if (n->nlookup)
				n->nlookup--;
			if (n->opens)
				n->opens--;
			maybe_free(n);
		}
		pthread_mutex_unlock(&mu);
	}
}

static void delay(void)
{
	if (opt.delay_ms)
		usleep(opt.delay_ms * 1000u);
}

/* ---- directories ------------------------------------------------------------------ */

static struct dent *find_dent(struct node *dir, const char *name)
{
	for (size_t i = 0; i < dir->nents; i++)
		if (strcmp(dir->ents[i].name, name) == 0)
			return &dir->ents[i];
	return NULL;
}

static int add_dent(struct node *dir, const char *name, fuse_ino_t ino)
{
	if (dir->nents == dir->ents_cap) {
		size_t cap = dir->ents_cap ? dir->ents_cap * 2 : 16;
		struct dent *v = realloc(dir->ents, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		dir->ents = v;
		dir->ents_cap = cap;
	}
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	dir->ents[dir->nents].name = copy;
	dir->ents[dir->nents].ino = ino;
	dir->ents[dir->nents].cookie = dir->next_cookie++;
	dir->nents++;
	dir->mtime = dir->ctime = now();
	return 0;
}

static void del_dent(struct node *dir, struct dent *d)
{
	size_t i = (size_t)(d - dir->ents);
	free(d->name);
	memmove(&dir->ents[i], &dir->ents[i + 1], (dir->nents - i - 1) * sizeof *d);
	dir->nents--;
	dir->mtime = dir->ctime = now();
}

static int check_name(const char *name)
{
	size_t l = strlen(name);
	if (l > NAME_MAX_LEN)
		return -ENAMETOOLONG;
	if (l == 0 || strchr(name, '/'))
		return -EINVAL;
	return 0;
}

static int lookup_dir(fuse_ino_t parent, struct node **dir)
{
	*dir = get(parent);
	if (!*dir)
		return -ENOENT;
	if (!S_ISDIR((*dir)->mode))
		return -ENOTDIR;
	return 0;
}

static void ml_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct node *dir, *n = NULL;
	int r;

	delay();
	pthread_mutex_lock(&mu);
	r = lookup_dir(parent, &dir);
	if (!r)
		r = check_name(name) == -ENAMETOOLONG ? -ENAMETOOLONG : 0;
	if (!r) {
		if (strcmp(name, ".") == 0)
			n = dir;
		else if (strcmp(name, "..") == 0)
			n = get(dir->parent ? dir->parent : FUSE_ROOT_ID);
		else {
			struct dent *d = find_dent(dir, name);
			n = d ? get(d->ino) : NULL;
		}
		if (!n)
			r = -ENOENT;
		else
			make_entry(n, &e);
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &e);
}

static void forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n = get(ino);
	if (!n) {
		say("memfs: FORGET of unknown inode %lu", (unsigned long)ino);
		return;
	}
	if (n->nlookup < nlookup) {
		say("memfs: FORGET %lu of inode %lu which has only %lu lookups",
		    (unsigned long)nlookup, (unsigned long)ino, (unsigned long)n->nlookup);
		nlookup = n->nlookup;
	}
	n->nlookup -= nlookup;
	if (opt.trace)
		say("memfs: FORGET ino=%lu nlookup=%lu left=%lu", (unsigned long)ino,
		    (unsigned long)nlookup, (unsigned long)n->nlookup);
	maybe_free(n);
}

static void ml_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&mu);
	forget_one(ino, nlookup);
	pthread_mutex_unlock(&mu);
	fuse_reply_none(req);
}

static void ml_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	pthread_mutex_lock(&mu);
	if (opt.trace)
		say("memfs: BATCH_FORGET of %zu inodes", count);
	for (size_t i = 0; i < count; i++)
		forget_one(f[i].ino, f[i].nlookup);
	pthread_mutex_unlock(&mu);
	fuse_reply_none(req);
}

/* Creates a node named name in parent; type-specific setup by the caller. */
static int make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct node **out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct node *dir, *n;
	gid_t gid = ctx->gid;
	int r;

	r = lookup_dir(parent, &dir);
	if (r)
		return r;
	r = check_name(name);
	if (r)
		return r;
	if (find_dent(dir, name))
		return -EEXIST;
	if (dir->mode & S_ISGID) {	/* BSD group semantics of a set-gid directory */
		gid = dir->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	n = new_node(mode, ctx->uid, gid);
	if (!n)
		return -ENOMEM;
	r = add_dent(dir, name, n->ino);
	if (r) {
		n->nlink = 0;
		maybe_free(n);
		return r;
	}
	if (S_ISDIR(mode)) {
		n->parent = dir->ino;
		dir->nlink++;
	}
	n->slow = strncmp(name, "slow", 4) == 0;
	*out = n;
	return 0;
}

static void ml_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct fuse_entry_param e;
	struct node *n;
	int r;

	delay();
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFIFO: case S_IFCHR: case S_IFBLK: case S_IFSOCK:
		break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&mu);
	r = make_node(req, parent, name, mode, &n);
	if (!r) {
		n->rdev = rdev;
		make_entry(n, &e);
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &e);
}

static void ml_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	struct node *n;
	int r;

	delay();
	pthread_mutex_lock(&mu);
	r = make_node(req, parent, name, S_IFDIR | (mode & 07777), &n);
	if (!r)
		make_entry(n, &e);
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &e);
}

static void ml_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct node *n;
	char *t = strdup(link);
	int r;

	delay();
	if (!t) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&mu);
	r = make_node(req, parent, name, S_IFLNK | 0777, &n);
	if (!r) {
		n->target = t;
		t = NULL;
		make_entry(n, &e);
	}
	pthread_mutex_unlock(&mu);
	free(t);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &e);
}

static void ml_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fuse_entry_param e;
	struct node *dir, *n;
	int r;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	r = lookup_dir(newparent, &dir);
	if (!r && !n)
		r = -ENOENT;
	if (!r && S_ISDIR(n->mode))
		r = -EPERM;
	if (!r)
		r = check_name(newname);
	if (!r && find_dent(dir, newname))
		r = -EEXIST;
	if (!r)
		r = add_dent(dir, newname, ino);
	if (!r) {
		n->nlink++;
		n->ctime = now();
		make_entry(n, &e);
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, &e);
}

static int remove_entry(fuse_ino_t parent, const char *name, int want_dir)
{
	struct node *dir, *n;
	struct dent *d;
	int r = lookup_dir(parent, &dir);

	if (r)
		return r;
	d = find_dent(dir, name);
	if (!d)
		return -ENOENT;
	n = get(d->ino);
	if (want_dir) {
		if (!S_ISDIR(n->mode))
			return -ENOTDIR;
		if (n->nents)
			return -ENOTEMPTY;
	} else if (S_ISDIR(n->mode)) {
		return -EISDIR;
	}
	del_dent(dir, d);
	if (S_ISDIR(n->mode)) {
		dir->nlink--;
		n->nlink = 0;
	} else {
		n->nlink--;
	}
	n->ctime = now();
	maybe_free(n);
	return 0;
}

static void ml_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int r;
	delay();
	pthread_mutex_lock(&mu);
	r = remove_entry(parent, name, 0);
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, -r);
}

static void ml_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int r;
	delay();
	pthread_mutex_lock(&mu);
	r = remove_entry(parent, name, 1);
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, -r);
}

/* Is a (a directory) the same as or an ancestor of b? */
static int is_ancestor(struct node *a, struct node *b)
{
	for (struct node *x = b; x; x = x->ino == FUSE_ROOT_ID ? NULL : get(x->parent))
		if (x == a)
			return 1;
	return 0;
}

static int do_rename(fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		     const char *newname, unsigned flags)
{
	struct node *sd, *dd, *sn, *dn = NULL;
	struct dent *s, *d;
	int r;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	if ((r = lookup_dir(parent, &sd)) || (r = lookup_dir(newparent, &dd)))
		return r;
	if ((r = check_name(newname)))
		return r;
	s = find_dent(sd, name);
	if (!s)
		return -ENOENT;
	sn = get(s->ino);
	d = find_dent(dd, newname);
	if (d)
		dn = get(d->ino);
	if (S_ISDIR(sn->mode) && is_ancestor(sn, dd))
		return -EINVAL;
	if (flags & RENAME_EXCHANGE) {
		if (!dn)
			return -ENOENT;
		if (dn && S_ISDIR(dn->mode) && is_ancestor(dn, sd))
			return -EINVAL;
		s->ino = dn->ino;
		d->ino = sn->ino;
		if (S_ISDIR(sn->mode) != S_ISDIR(dn->mode) && sd != dd) {
			struct node *gains = S_ISDIR(sn->mode) ? dd : sd;
			struct node *loses = S_ISDIR(sn->mode) ? sd : dd;
			gains->nlink++;
			loses->nlink--;
		}
		if (S_ISDIR(sn->mode))
			sn->parent = dd->ino;
		if (S_ISDIR(dn->mode))
			dn->parent = sd->ino;
		sd->mtime = sd->ctime = dd->mtime = dd->ctime = now();
		sn->ctime = dn->ctime = now();
		return 0;
	}
	if (dn) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (dn == sn)
			return 0;	/* two names of one inode: nothing happens */
		if (S_ISDIR(sn->mode) && !S_ISDIR(dn->mode))
			return -ENOTDIR;
		if (!S_ISDIR(sn->mode) && S_ISDIR(dn->mode))
			return -EISDIR;
		if (S_ISDIR(dn->mode) && dn->nents)
			return -ENOTEMPTY;
		/* replace: the target loses its name */
		d->ino = sn->ino;
		if (S_ISDIR(dn->mode)) {
			dn->nlink = 0;
			dd->nlink--;
		} else {
			dn->nlink--;
		}
		dn->ctime = now();
		dd->mtime = dd->ctime = now();
		s = find_dent(sd, name);	/* d's slot is unchanged; s too, same array */
		del_dent(sd, s);
		maybe_free(dn);
	} else {
		r = add_dent(dd, newname, sn->ino);
		if (r)
			return r;
		s = find_dent(sd, name);	/* add_dent may have moved the array */
		del_dent(sd, s);
	}
	if (S_ISDIR(sn->mode) && sd != dd) {
		sd->nlink--;
		dd->nlink++;
	}
	if (S_ISDIR(sn->mode))
		sn->parent = dd->ino;
	sn->ctime = now();
	return 0;
}

static void ml_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct node *w;
	int r;

	delay();
	pthread_mutex_lock(&mu);
	if (flags & RENAME_WHITEOUT) {
		/* an overlayfs whiteout: the 0:0 character device left behind */
		r = flags & RENAME_EXCHANGE ? -EINVAL :
		    do_rename(parent, name, newparent, newname, flags & ~(unsigned)RENAME_WHITEOUT);
		if (!r && !make_node(req, parent, name, S_IFCHR, &w))
			w->rdev = 0;
	} else {
		r = do_rename(parent, name, newparent, newname, flags);
	}
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, -r);
}

static void ml_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;
	int r = 0;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n)
		r = -ENOENT;
	else if (!S_ISDIR(n->mode))
		r = -ENOTDIR;
	else
		n->opens++;
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_lock(&mu);
		n->opens--;
		maybe_free(n);
		pthread_mutex_unlock(&mu);
	}
}

static void ml_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;

	(void)fi;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (n && n->opens) {
		n->opens--;
		maybe_free(n);
	}
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, 0);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct node *dir;
	char *buf = malloc(size ? size : 1);
	fuse_ino_t *taken = NULL;	/* references made for readdirplus entries */
	size_t used = 0, ntaken = 0;
	int r = 0;

	delay();
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&mu);
	dir = get(ino);
	if (!dir) {
		r = -ENOENT;
		goto out;
	}
	if (!S_ISDIR(dir->mode)) {
		r = -ENOTDIR;
		goto out;
	}
	if (plus && !(taken = malloc((dir->nents + 1) * sizeof *taken))) {
		r = -ENOMEM;
		goto out;
	}
	dir->atime = now();
	for (uint64_t c = (uint64_t)off + 1; ; c++) {
		const char *name;
		struct node *n;
		struct stat st;
		size_t need;

		if (c == 1) {
			name = ".";
			n = dir;
		} else if (c == 2) {
			name = "..";
			n = get(dir->parent ? dir->parent : FUSE_ROOT_ID);
		} else {
			/* first entry whose cookie is >= c (cookies increase) */
			size_t lo = 0, hi = dir->nents;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (dir->ents[mid].cookie < c)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo == dir->nents)
				break;
			c = dir->ents[lo].cookie;
			name = dir->ents[lo].name;
			n = get(dir->ents[lo].ino);
		}
		if (!plus) {
			to_stat(n, &st);
			need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)c);
		} else if (c <= 2) {
			/* the kernel takes no reference for "." and "..": nodeid 0 */
			struct fuse_entry_param e;
			memset(&e, 0, sizeof e);
			to_stat(n, &e.attr);
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)c);
		} else {
			struct fuse_entry_param e;
			make_entry(n, &e);
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)c);
			if (need > size - used) {
				n->nlookup--;
				break;
			}
			taken[ntaken++] = n->ino;
		}
		if (need > size - used)
			break;
		used += need;
	}
out:
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else if (fuse_reply_buf(req, buf, used) != 0 && ntaken) {
		pthread_mutex_lock(&mu);
		for (size_t i = 0; i < ntaken; i++) {
			struct node *n = get(taken[i]);
			if (n && n->nlookup) {
				n->nlookup--;
				maybe_free(n);
			}
		}
		pthread_mutex_unlock(&mu);
	}
	free(taken);
	free(buf);
}

static void ml_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void ml_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void ml_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* ---- attributes ------------------------------------------------------------------- */

static void acl_chmod(struct node *n);

static void ml_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	struct node *n;

	(void)fi;
	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (n)
		to_stat(n, &st);
	pthread_mutex_unlock(&mu);
	if (!n)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_attr(req, &st, opt.timeout);
}

/* Sets the size of a regular file: pages past the end go, the tail of the last page
 * is zeroed so that growing the file later shows zeros. */
static int set_size(struct node *n, uint64_t size)
{
	if (size > MAX_FILE_SIZE)
		return -EFBIG;
	if ((off_t)size < n->size) {
		size_t keep = (size_t)((size + PAGE - 1) / PAGE);
		free_pages_from(n, keep);
		if (size % PAGE && keep && keep - 1 < n->npages_cap && n->pages[keep - 1])
			memset(n->pages[keep - 1] + size % PAGE, 0, PAGE - size % PAGE);
	}
	n->size = (off_t)size;
	return 0;
}

static struct timespec ts_of(const struct timespec *t)
{
	return *t;
}

static void ml_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct stat st;
	struct node *n;
	int r = 0;

	(void)fi;
	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		r = -ENOENT;
		goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(n->mode))
			r = -EISDIR;
		else if (!S_ISREG(n->mode))
			r = -EINVAL;
		else
			r = set_size(n, (uint64_t)attr->st_size);
		if (r)
			goto out;
		n->mtime = now();
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
		acl_chmod(n);
	}
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		n->atime = now();
	else if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime = ts_of(&attr->st_atim);
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		n->mtime = now();
	else if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime = ts_of(&attr->st_mtim);
	if (to_set & FUSE_SET_ATTR_CTIME)
		n->ctime = ts_of(&attr->st_ctim);
	else
		n->ctime = now();
	to_stat(n, &st);
	if ((to_set & FUSE_SET_ATTR_SIZE) && opt.bug_truncate_size)
		st.st_size += 4096;	/* deliberately wrong, for replay tests */
out:
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, opt.timeout);
}

static void ml_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n;
	char *t = NULL;
	int r = 0;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n)
		r = -ENOENT;
	else if (!S_ISLNK(n->mode))
		r = -EINVAL;
	else if (!(t = strdup(n->target)))
		r = -ENOMEM;
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, t);
	free(t);
}

static void ml_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	uint64_t used = 0, files = 0;

	(void)ino;
	delay();
	pthread_mutex_lock(&mu);
	for (size_t i = 1; i < ntab; i++) {
		if (tab[i]) {
			files++;
			used += tab[i]->npages_used;
		}
	}
	pthread_mutex_unlock(&mu);
	memset(&sv, 0, sizeof sv);
	sv.f_bsize = PAGE;
	sv.f_frsize = PAGE;
	sv.f_blocks = MAX_FILE_SIZE / PAGE;
	sv.f_bfree = sv.f_blocks > used ? sv.f_blocks - used : 0;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = 1u << 24;
	sv.f_ffree = sv.f_files - files;
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = NAME_MAX_LEN;
	fuse_reply_statfs(req, &sv);
}

/* Unix permission check for ACCESS (the kernel does the others under
 * default_permissions; root passes everything but X without any x bit). */
static void ml_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct node *n;
	int r = 0;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		r = -ENOENT;
	} else if (mask != F_OK) {
		mode_t m = n->mode;
		if (ctx->uid == 0) {
			if ((mask & X_OK) && !S_ISDIR(m) && !(m & 0111))
				r = -EACCES;
		} else {
			unsigned bits = ctx->uid == n->uid ? (m >> 6) & 7 :
					ctx->gid == n->gid ? (m >> 3) & 7 : m & 7;
			if ((unsigned)mask & ~bits)
				r = -EACCES;
		}
	}
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, -r);
}

/* ---- xattrs ----------------------------------------------------------------------- */

static struct xattr *find_xattr(struct node *n, const char *name)
{
	for (size_t i = 0; i < n->nxattrs; i++)
		if (strcmp(n->xattrs[i].name, name) == 0)
			return &n->xattrs[i];
	return NULL;
}

/* POSIX ACLs arrive as plain xattrs (memfs does not ask for FUSE_POSIX_ACL), so it
 * does what a disk filesystem does with system.posix_acl_access: the ACL's owner,
 * group-or-mask and other entries are the mode bits, and an ACL that says no more
 * than the mode is not kept at all.  Wire format: u32 version 2, then entries of
 * u16 tag, u16 perm, u32 id. */
#define ACL_XATTR "system.posix_acl_access"
enum { ACL_USER_OBJ_ = 0x01, ACL_USER_ = 0x02, ACL_GROUP_OBJ_ = 0x04, ACL_GROUP_ = 0x08,
       ACL_MASK_ = 0x10, ACL_OTHER_ = 0x20 };

/* Returns 1 if the ACL is equivalent to a mode (stored in *mode's permission bits),
 * 0 if it has named entries (mode bits still updated), -EINVAL if malformed. */
static int acl_to_mode(const char *v, size_t size, mode_t *mode)
{
	int ext = 0, have_mask = 0;
	unsigned u = 0, g = 0, o = 0, m = 0;

	if (size < 4 || (size - 4) % 8 || v[0] != 2 || v[1] || v[2] || v[3])
		return -EINVAL;
	for (size_t off = 4; off < size; off += 8) {
		uint16_t tag, perm;
		memcpy(&tag, v + off, 2);
		memcpy(&perm, v + off + 2, 2);
		perm &= 7;
		switch (tag) {
		case ACL_USER_OBJ_: u = perm; break;
		case ACL_GROUP_OBJ_: g = perm; break;
		case ACL_OTHER_: o = perm; break;
		case ACL_MASK_: m = perm; have_mask = 1; break;
		case ACL_USER_: case ACL_GROUP_: ext = 1; break;
		default: return -EINVAL;
		}
	}
	*mode = (*mode & ~(mode_t)0777) | u << 6 | (have_mask ? m : g) << 3 | o;
	return !ext;
}

/* chmod keeps a stored ACL in step with the new mode bits. */
static void acl_chmod(struct node *n)
{
	struct xattr *x = NULL;
	for (size_t i = 0; i < n->nxattrs; i++)
		if (strcmp(n->xattrs[i].name, ACL_XATTR) == 0)
			x = &n->xattrs[i];
	if (!x || x->size < 4)
		return;
	int have_mask = 0;
	for (size_t off = 4; off + 8 <= x->size; off += 8) {
		uint16_t tag;
		memcpy(&tag, x->value + off, 2);
		have_mask |= tag == ACL_MASK_;
	}
	for (size_t off = 4; off + 8 <= x->size; off += 8) {
		uint16_t tag, perm;
		memcpy(&tag, x->value + off, 2);
		if (tag == ACL_USER_OBJ_)
			perm = (n->mode >> 6) & 7;
		else if (tag == (have_mask ? ACL_MASK_ : ACL_GROUP_OBJ_))
			perm = (n->mode >> 3) & 7;
		else if (tag == ACL_OTHER_)
			perm = n->mode & 7;
		else
			continue;
		memcpy(x->value + off + 2, &perm, 2);
	}
}

static void del_xattr(struct node *n, struct xattr *x)
{
	free(x->name);
	free(x->value);
	*x = n->xattrs[--n->nxattrs];
}

static void ml_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct node *n;
	struct xattr *x;
	char *v = NULL, *nm = NULL;
	int r = 0;

	delay();
	if (size > XATTR_SIZE_MAX_) {
		fuse_reply_err(req, E2BIG);
		return;
	}
	if (strncmp(name, "user.", 5) && strncmp(name, "trusted.", 8) &&
	    strncmp(name, "security.", 9) && strncmp(name, "system.", 7)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	v = malloc(size ? size : 1);
	if (!v) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(v, value, size);
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		r = -ENOENT;
		goto out;
	}
	x = find_xattr(n, name);
	if (strcmp(name, ACL_XATTR) == 0) {
		mode_t mode = n->mode;
		int plain = acl_to_mode(value, size, &mode);
		if (plain < 0) {
			r = plain;
			goto out;
		}
		n->mode = mode;
		if (plain) {	/* nothing beyond the mode: no ACL to keep */
			if (x)
				del_xattr(n, x);
			n->ctime = now();
			goto out;
		}
	}
	if (x && (flags & XATTR_CREATE)) {
		r = -EEXIST;
	} else if (!x && (flags & XATTR_REPLACE)) {
		r = -ENODATA;
	} else if (x) {
		free(x->value);
		x->value = v;
		x->size = size;
		v = NULL;
	} else {
		struct xattr *nv = realloc(n->xattrs, (n->nxattrs + 1) * sizeof *nv);
		if (!nv || !(nm = strdup(name))) {
			if (nv)
				n->xattrs = nv;
			r = -ENOMEM;
			goto out;
		}
		n->xattrs = nv;
		nv[n->nxattrs].name = nm;
		nv[n->nxattrs].value = v;
		nv[n->nxattrs].size = size;
		n->nxattrs++;
		v = NULL;
	}
	if (!r)
		n->ctime = now();
out:
	pthread_mutex_unlock(&mu);
	free(v);
	fuse_reply_err(req, -r);
}

static void ml_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct node *n;
	struct xattr *x;
	char *copy = NULL;
	size_t len = 0;
	int r = 0;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n)
		r = -ENOENT;
	else if (!(x = find_xattr(n, name)))
		r = -ENODATA;
	else {
		len = x->size;
		if (size && len > size)
			r = -ERANGE;
		else if (size && !(copy = malloc(len ? len : 1)))
			r = -ENOMEM;
		else if (size)
			memcpy(copy, x->value, len);
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else if (!size)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, copy, len);
	free(copy);
}

static void ml_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct node *n;
	char *buf = NULL;
	size_t len = 0;
	int r = 0;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		r = -ENOENT;
	} else {
		for (size_t i = 0; i < n->nxattrs; i++)
			len += strlen(n->xattrs[i].name) + 1;
		if (size && len > size) {
			r = -ERANGE;
		} else if (size) {
			char *p = buf = malloc(len ? len : 1);
			if (!buf)
				r = -ENOMEM;
			for (size_t i = 0; buf && i < n->nxattrs; i++)
				p = stpcpy(p, n->xattrs[i].name) + 1;
		}
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else if (!size)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void ml_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct node *n;
	struct xattr *x;
	int r = 0;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n)
		r = -ENOENT;
	else if (!(x = find_xattr(n, name)))
		r = -ENODATA;
	else {
		del_xattr(n, x);
		n->ctime = now();
	}
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, -r);
}

/* ---- files ------------------------------------------------------------------------ */

static void ml_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;
	int r = 0;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n)
		r = -ENOENT;
	else if (S_ISDIR(n->mode))
		r = -EISDIR;
	else {
		n->opens++;
		fi->fh = next_fh++;
		if (n->slow)
			fi->direct_io = 1;
		if ((fi->flags & O_TRUNC) && S_ISREG(n->mode)) {
			set_size(n, 0);
			n->mtime = n->ctime = now();
		}
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_lock(&mu);
		n->opens--;
		maybe_free(n);
		pthread_mutex_unlock(&mu);
	}
}

static void ml_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct node *n, *dir;
	struct dent *d;
	int r;

	delay();
	pthread_mutex_lock(&mu);
	r = lookup_dir(parent, &dir);
	if (!r && (d = find_dent(dir, name))) {
		/* lost a race with another creator: open it unless O_EXCL */
		n = get(d->ino);
		if (fi->flags & O_EXCL)
			r = -EEXIST;
		else if (S_ISDIR(n->mode))
			r = -EISDIR;
	} else if (!r) {
		r = make_node(req, parent, name, S_IFREG | (mode & 07777), &n);
	}
	if (!r) {
		n->opens++;
		fi->fh = next_fh++;
		if (n->slow)
			fi->direct_io = 1;
		make_entry(n, &e);
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_create(req, &e, fi);
}

struct waiter {
	int interrupted;
};

/* Called by libfuse when the kernel interrupts the request (from another thread, or
 * at once from fuse_req_interrupt_func if the INTERRUPT came first); never called with
 * mu held by the caller, see wait_interruptible(). */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct waiter *w = data;
	(void)req;
	pthread_mutex_lock(&mu);
	w->interrupted = 1;
	pthread_cond_broadcast(&lock_cv);
	pthread_mutex_unlock(&mu);
}

static void ml_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct node *n;
	char *buf = NULL;
	size_t len = 0;
	int r = 0;

	(void)fi;
	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (n && n->slow) {
		/* wait for opt.slow_ms or an interrupt, whichever comes first */
		struct waiter w = { 0 };
		struct timespec t0 = now(), until = t0;
		pthread_mutex_unlock(&mu);
		fuse_req_interrupt_func(req, on_interrupt, &w);
		pthread_mutex_lock(&mu);
		until.tv_sec += opt.slow_ms / 1000;
		until.tv_nsec += (long)(opt.slow_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (opt.trace)
			say("memfs: READ ino=%lu waits up to %u ms", (unsigned long)ino, opt.slow_ms);
		while (!w.interrupted &&
		       pthread_cond_timedwait(&lock_cv, &mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&mu);
		fuse_req_interrupt_func(req, NULL, NULL);
		if (w.interrupted) {
			struct timespec t1 = now();
			long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
			say("memfs: INTERRUPT: READ of ino %lu interrupted after %ld ms, answering EINTR",
			    (unsigned long)ino, ms);
			fuse_reply_err(req, EINTR);
			return;
		}
		pthread_mutex_lock(&mu);
		n = get(ino);
	}
	if (!n) {
		r = -ENOENT;
	} else if (!S_ISREG(n->mode)) {
		r = -EINVAL;
	} else if (off < n->size) {
		len = size;
		if ((uint64_t)off + len > (uint64_t)n->size)
			len = (size_t)(n->size - off);
		buf = malloc(len ? len : 1);
		if (!buf) {
			r = -ENOMEM;
		} else {
			for (size_t done = 0; done < len; ) {
				uint64_t pos = (uint64_t)off + done;
				size_t pi = (size_t)(pos / PAGE), po = (size_t)(pos % PAGE);
				size_t chunk = PAGE - po < len - done ? PAGE - po : len - done;
				if (pi < n->npages_cap && n->pages[pi])
					memcpy(buf + done, n->pages[pi] + po, chunk);
				else
					memset(buf + done, 0, chunk);
				done += chunk;
			}
			n->atime = now();
		}
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

/* Makes sure pages [first, last] exist (allocating zeroed ones). */
static int alloc_pages(struct node *n, size_t first, size_t last)
{
	if (last >= n->npages_cap) {
		size_t cap = n->npages_cap ? n->npages_cap : 16;
		while (cap <= last)
			cap *= 2;
		char **p = realloc(n->pages, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		memset(p + n->npages_cap, 0, (cap - n->npages_cap) * sizeof *p);
		n->pages = p;
		n->npages_cap = cap;
	}
	for (size_t i = first; i <= last; i++) {
		if (!n->pages[i]) {
			n->pages[i] = calloc(1, PAGE);
			if (!n->pages[i])
				return -ENOMEM;
			n->npages_used++;
		}
	}
	return 0;
}

static int write_bytes(struct node *n, const char *data, size_t len, uint64_t off)
{
	int r;

	if (!len)
		return 0;
	if (off + len > MAX_FILE_SIZE)
		return -EFBIG;
	r = alloc_pages(n, (size_t)(off / PAGE), (size_t)((off + len - 1) / PAGE));
	if (r)
		return r;
	for (size_t done = 0; done < len; ) {
		uint64_t pos = off + done;
		size_t pi = (size_t)(pos / PAGE), po = (size_t)(pos % PAGE);
		size_t chunk = PAGE - po < len - done ? PAGE - po : len - done;
		memcpy(n->pages[pi] + po, data + done, chunk);
		done += chunk;
	}
	if ((off_t)(off + len) > n->size)
		n->size = (off_t)(off + len);
	n->mtime = n->ctime = now();
	return 0;
}

static void ml_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct node *n;
	int r;

	(void)fi;
	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n)
		r = -ENOENT;
	else if (!S_ISREG(n->mode))
		r = -EINVAL;
	else
		r = write_bytes(n, data, size, (uint64_t)off);
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, size);
}

/* Drops every lock of owner on n (flock ones or byte-range ones), or with owner 0
 * every lock taken through file handle fh. */
static void drop_locks(struct node *n, uint64_t owner, int flock, uint64_t fh)
{
	size_t j = 0;
	for (size_t i = 0; i < n->nlocks; i++) {
		const struct lock *l = &n->locks[i];
		int drop = owner ? l->owner == owner && l->flock == flock : l->fh == fh;
		if (!drop)
			n->locks[j++] = *l;
	}
	if (j != n->nlocks) {
		n->nlocks = j;
		pthread_cond_broadcast(&lock_cv);
	}
}

static void ml_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;

	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	/* POSIX locks die with any close of the file by their owner */
	if (n)
		drop_locks(n, fi->lock_owner, 0, 0);
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, 0);
}

static void ml_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n;

	pthread_mutex_lock(&mu);
	n = get(ino);
	if (n) {
		/* the open file description is gone, and with it its flock and OFD
		 * locks; the kernel says so (FUSE_RELEASE_FLOCK_UNLOCK) only for
		 * flock, and OFD locks share that owner id, so go by the handle */
		if (fi->flock_release)
			drop_locks(n, fi->lock_owner, 1, 0);
		drop_locks(n, 0, 0, fi->fh);
		if (n->opens)
			n->opens--;
		maybe_free(n);
	}
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, 0);
}

static void ml_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	delay();
	fuse_reply_err(req, 0);
}

static void ml_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
			 struct fuse_file_info *fi)
{
	struct node *n;
	uint64_t off = (uint64_t)offset, end;
	int r = 0;

	(void)fi;
	delay();
	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	end = off + (uint64_t)length;
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		r = -ENOENT;
		goto out;
	}
	if (!S_ISREG(n->mode)) {
		r = -ENODEV;
		goto out;
	}
	if (end > MAX_FILE_SIZE) {
		r = -EFBIG;
		goto out;
	}
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		/* zero the partial pages, drop the whole ones (a hole reads as zeros) */
		for (uint64_t pos = off; pos < end; ) {
			size_t pi = (size_t)(pos / PAGE), po = (size_t)(pos % PAGE);
			uint64_t chunk = PAGE - po < end - pos ? PAGE - po : end - pos;
			if (pi < n->npages_cap && n->pages[pi]) {
				if (chunk == PAGE) {
					free(n->pages[pi]);
					n->pages[pi] = NULL;
					n->npages_used--;
				} else {
					memset(n->pages[pi] + po, 0, chunk);
				}
			}
			pos += chunk;
		}
	} else {
		/* mode 0, KEEP_SIZE, ZERO_RANGE: the range ends up allocated, and
		 * for ZERO_RANGE zeroed (like unwritten extents of a disk fs) */
		r = alloc_pages(n, (size_t)(off / PAGE), (size_t)((end - 1) / PAGE));
		if (r)
			goto out;
		for (uint64_t pos = off; (mode & FALLOC_FL_ZERO_RANGE) && pos < end; ) {
			size_t pi = (size_t)(pos / PAGE), po = (size_t)(pos % PAGE);
			uint64_t chunk = PAGE - po < end - pos ? PAGE - po : end - pos;
			memset(n->pages[pi] + po, 0, chunk);
			pos += chunk;
		}
		if (!(mode & FALLOC_FL_KEEP_SIZE) && (off_t)end > n->size)
			n->size = (off_t)end;
	}
	n->mtime = n->ctime = now();
out:
	pthread_mutex_unlock(&mu);
	fuse_reply_err(req, -r);
}

static void ml_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct node *n;
	off_t res = -1;
	int r = 0;

	(void)fi;
	delay();
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		r = -ENOENT;
	} else if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		r = -EINVAL;
	} else if (off < 0 || off >= n->size) {
		r = -ENXIO;
	} else {
		size_t pi = (size_t)((uint64_t)off / PAGE);
		size_t last = (size_t)(((uint64_t)n->size - 1) / PAGE);
		int want_data = whence == SEEK_DATA;
		for (; pi <= last; pi++) {
			int data = pi < n->npages_cap && n->pages[pi];
			if (data == want_data)
				break;
		}
		if (pi > last)
			res = want_data ? -1 : n->size;	/* the end of file is a hole */
		else
			res = (off_t)pi * PAGE > off ? (off_t)pi * PAGE : off;
		if (res < 0)
			r = -ENXIO;
		else if (res > n->size)
			res = n->size;
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, res);
}

static void ml_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct node *in, *out;
	char *tmp = NULL;
	size_t n = 0;
	int r = 0;

	(void)fi_in;
	(void)fi_out;
	delay();
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&mu);
	in = get(ino_in);
	out = get(ino_out);
	if (!in || !out) {
		r = -ENOENT;
		goto out;
	}
	if (!S_ISREG(in->mode) || !S_ISREG(out->mode)) {
		r = -EINVAL;
		goto out;
	}
	if (off_in < in->size) {
		n = len;
		if ((uint64_t)off_in + n > (uint64_t)in->size)
			n = (size_t)(in->size - off_in);
	}
	if (!n)
		goto out;
	/* through a copy: source and destination may overlap in one file */
	tmp = malloc(n);
	if (!tmp) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t done = 0; done < n; ) {
		uint64_t pos = (uint64_t)off_in + done;
		size_t pi = (size_t)(pos / PAGE), po = (size_t)(pos % PAGE);
		size_t chunk = PAGE - po < n - done ? PAGE - po : n - done;
		if (pi < in->npages_cap && in->pages[pi])
			memcpy(tmp + done, in->pages[pi] + po, chunk);
		else
			memset(tmp + done, 0, chunk);
		done += chunk;
	}
	r = write_bytes(out, tmp, n, (uint64_t)off_out);
out:
	pthread_mutex_unlock(&mu);
	free(tmp);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, n);
}

/* ---- locks ------------------------------------------------------------------------ */

static int conflicts(const struct lock *a, const struct lock *b)
{
	if (a->owner == b->owner && a->flock == b->flock)
		return 0;
	if (a->flock != b->flock)
		return 0;	/* flock and POSIX locks do not interact (as on Linux) */
	if (a->type == F_RDLCK && b->type == F_RDLCK)
		return 0;
	return a->start <= b->end && b->start <= a->end;
}

static struct lock *find_conflict(struct node *n, const struct lock *want)
{
	for (size_t i = 0; i < n->nlocks; i++)
		if (conflicts(&n->locks[i], want))
			return &n->locks[i];
	return NULL;
}

/* Removes owner's range [start, end] (splitting locks that stick out) from n. */
static int unlock_range(struct node *n, uint64_t owner, int flock, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < n->nlocks; i++) {
		struct lock *l = &n->locks[i];
		if (l->owner != owner || l->flock != flock || l->end < start || l->start > end)
			continue;
		if (l->start < start && l->end > end) {	/* split in two */
			struct lock *v = realloc(n->locks, (n->nlocks + 1) * sizeof *v);
			if (!v)
				return -ENOLCK;
			n->locks = v;
			l = &n->locks[i];
			n->locks[n->nlocks] = *l;
			n->locks[n->nlocks].start = end + 1;
			n->nlocks++;
			l->end = start - 1;
		} else if (l->start < start) {
			l->end = start - 1;
		} else if (l->end > end) {
			l->start = end + 1;
		} else {
			n->locks[i--] = n->locks[--n->nlocks];
		}
	}
	pthread_cond_broadcast(&lock_cv);
	return 0;
}

static int add_lock(struct node *n, const struct lock *l)
{
	int r = unlock_range(n, l->owner, l->flock, l->start, l->end);
	if (r)
		return r;
	if (l->type == F_UNLCK)
		return 0;
	struct lock *v = realloc(n->locks, (n->nlocks + 1) * sizeof *v);
	if (!v)
		return -ENOLCK;
	n->locks = v;
	n->locks[n->nlocks++] = *l;
	return 0;
}

static void to_range(const struct flock *fl, struct lock *l)
{
	l->start = (uint64_t)fl->l_start;
	l->end = fl->l_len == 0 ? UINT64_MAX : (uint64_t)(fl->l_start + fl->l_len - 1);
}

static void ml_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *fl)
{
	struct lock want = { .owner = fi->lock_owner, .type = fl->l_type };
	struct node *n;
	struct flock res = *fl;
	int r = 0;

	delay();
	to_range(fl, &want);
	pthread_mutex_lock(&mu);
	n = get(ino);
	if (!n) {
		r = -ENOENT;
	} else {
		struct lock *c = find_conflict(n, &want);
		if (c) {
			res.l_type = (short)c->type;
			res.l_whence = SEEK_SET;
			res.l_start = (off_t)c->start;
			res.l_len = c->end == UINT64_MAX ? 0 : (off_t)(c->end - c->start + 1);
			res.l_pid = (pid_t)c->pid;
		} else {
			res.l_type = F_UNLCK;
		}
	}
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lock(req, &res);
}

/* Takes (or waits for) lock want on ino; a wait ends early with EINTR when the kernel
 * interrupts the request. */
static int take_lock(fuse_req_t req, fuse_ino_t ino, struct lock *want, int sleep)
{
	struct waiter w = { 0 };
	struct node *n;
	int r = 0, registered = 0;

	if (sleep && want->type != F_UNLCK) {
		fuse_req_interrupt_func(req, on_interrupt, &w);
		registered = 1;
	}
	pthread_mutex_lock(&mu);
	for (;;) {
		n = get(ino);
		if (!n) {
			r = -ENOENT;
			break;
		}
		if (want->type == F_UNLCK || !find_conflict(n, want)) {
			r = add_lock(n, want);
			break;
		}
		if (!sleep) {
			r = -EAGAIN;
			break;
		}
		if (w.interrupted) {
			r = -EINTR;
			if (opt.trace)
				say("memfs: INTERRUPT: lock wait on ino %lu interrupted",
				    (unsigned long)ino);
			break;
		}
		pthread_cond_wait(&lock_cv, &mu);
	}
	pthread_mutex_unlock(&mu);
	if (registered)
		fuse_req_interrupt_func(req, NULL, NULL);
	return r;
}

static void ml_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *fl, int sleep)
{
	struct lock want = { .owner = fi->lock_owner, .fh = fi->fh, .type = fl->l_type,
			     .pid = (uint32_t)fl->l_pid };

	delay();
	to_range(fl, &want);
	fuse_reply_err(req, -take_lock(req, ino, &want, sleep));
}

static void ml_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct lock want = { .owner = fi->lock_owner, .fh = fi->fh, .flock = 1, .start = 0,
			     .end = UINT64_MAX };
	int r;

	delay();
	switch (op & ~LOCK_NB) {
	case LOCK_SH: want.type = F_RDLCK; break;
	case LOCK_EX: want.type = F_WRLCK; break;
	case LOCK_UN: want.type = F_UNLCK; break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = take_lock(req, ino, &want, !(op & LOCK_NB));
	fuse_reply_err(req, r == -EAGAIN ? EWOULDBLOCK : -r);
}

/* ---- session ---------------------------------------------------------------------- */

static void ml_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* locks are ours to keep (the lock ops above implement both kinds) unless the
	 * kernel is to keep them */
	if (opt.local_locks) {
		conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
		return;
	}
	if (conn->capable & FUSE_CAP_POSIX_LOCKS)
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
}

/* The number of inodes the kernel still holds references to (the root excluded). */
static void count_lookups(size_t *inodes, uint64_t *refs)
{
	*inodes = 0;
	*refs = 0;
	for (size_t i = 2; i < ntab; i++) {
		if (tab[i] && tab[i]->nlookup) {
			(*inodes)++;
			*refs += tab[i]->nlookup;
		}
	}
}

static void ml_destroy(void *userdata)
{
	size_t inodes;
	uint64_t refs;

	(void)userdata;
	pthread_mutex_lock(&mu);
	count_lookups(&inodes, &refs);
	pthread_mutex_unlock(&mu);
	say("memfs: DESTROY: %zu inodes still looked up (%llu lookups)", inodes,
	    (unsigned long long)refs);
}

static const struct fuse_lowlevel_ops ops = {
	.init = ml_init,
	.destroy = ml_destroy,
	.lookup = ml_lookup,
	.forget = ml_forget,
	.forget_multi = ml_forget_multi,
	.getattr = ml_getattr,
	.setattr = ml_setattr,
	.readlink = ml_readlink,
	.mknod = ml_mknod,
	.mkdir = ml_mkdir,
	.unlink = ml_unlink,
	.rmdir = ml_rmdir,
	.symlink = ml_symlink,
	.rename = ml_rename,
	.link = ml_link,
	.open = ml_open,
	.read = ml_read,
	.write = ml_write,
	.flush = ml_flush,
	.release = ml_release,
	.fsync = ml_fsync,
	.opendir = ml_opendir,
	.readdir = ml_readdir,
	.readdirplus = ml_readdirplus,
	.releasedir = ml_releasedir,
	.fsyncdir = ml_fsyncdir,
	.statfs = ml_statfs,
	.setxattr = ml_setxattr,
	.getxattr = ml_getxattr,
	.listxattr = ml_listxattr,
	.removexattr = ml_removexattr,
	.access = ml_access,
	.create = ml_create,
	.getlk = ml_getlk,
	.setlk = ml_setlk,
	.flock = ml_flock,
	.fallocate = ml_fallocate,
	.lseek = ml_lseek,
	.copy_file_range = ml_copy_file_range,
};

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT|/dev/fd/N\n"
	       "memfs options:\n"
	       "    --delay-ms=N           sleep N ms in every operation\n"
	       "    --slow-ms=N            reads of slow* files wait N ms or for an interrupt\n"
	       "    --bug-truncate-size    report a wrong st_size after a size change\n"
	       "    --timeout=S            entry/attr timeout in seconds (default 1)\n"
	       "    --trace                log forgets and interrupt waits to stderr\n"
	       "    --local-locks          let the kernel keep the locks\n\n",
	       prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct fuse_session *se;
	struct fuse_loop_config *cfg = NULL;
	struct node *root;
	size_t inodes;
	uint64_t refs;
	int ret = 1;

	if (fuse_opt_parse(&args, &opt, memfs_optspec, NULL) == -1)
		return 1;
	if (opt.timeout_str) {
		/* fuse_opt hands over "=S" for the --timeout=S form */
		char *v = opt.timeout_str + (opt.timeout_str[0] == '='), *end;
		opt.timeout = strtod(v, &end);
		if (end == v || *end || opt.timeout < 0) {
			fprintf(stderr, "memfs: bad --timeout %s\n", opt.timeout_str);
			return 1;
		}
	}
	if (fuse_parse_cmdline(&args, &o) != 0)
		return 1;
	if (o.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out_args;
	}
	if (o.show_version) {
		printf("memfs (libfuse %s)\n", fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	if (!o.mountpoint) {
		fprintf(stderr, "memfs: no mountpoint (see --help)\n");
		goto out_args;
	}

	/* inode 0 is never used; 1 is the root */
	ntab = 1;
	root = new_node(S_IFDIR | 0755, getuid(), getgid());
	if (!root)
		goto out_args;
	root->parent = FUSE_ROOT_ID;

	se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(o.foreground);
	if (o.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, o.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, o.max_threads > 16 ? o.max_threads : 16);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
	pthread_mutex_lock(&mu);
	count_lookups(&inodes, &refs);
	pthread_mutex_unlock(&mu);
	say("memfs: exit: %zu inodes still looked up (%llu lookups), loop status %d", inodes,
	    (unsigned long long)refs, ret);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	/* the loop reports the signal that ended it: that is a clean stop */
	return ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP ? 0 : 1;
}
