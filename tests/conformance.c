/* Description: conformance [--ignore-blocks] [--as-uid UID[:GID]] DIR
 *
 * Runs a fixed, deterministic sequence of filesystem operations inside DIR and prints
 * one normalized line per operation: the operation, its arguments and its result (a
 * value, "ok" or the errno name). Stat results show type, permission bits, size, link
 * count, owner and whether blocks are allocated; never inode numbers, times or devices,
 * which legitimately differ between two trees. tests/conformance.sh runs this natively
 * on one copy of a fixture tree and through a fuseproxy mount of another copy; the two
 * outputs must be identical.
 *
 * DIR must contain the fixture made by conformance.sh (fixture/...). The program adds
 * a work directory w/ and leaves its final state there for the tree comparison.
 * With --as-uid the process drops to that uid/gid (and no supplementary groups) first.
 * Exit status: 0 when the sequence ran (whatever the results), 2 on usage/setup errors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024L * 1024L)

static int is_root;
static int ignore_blocks;   /* --ignore-blocks: see print_stat() */

/* ---- output ---------------------------------------------------------------------- */

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* Turns a libc return into a value or -errno, so results can be printed later. */
static long chk(long r)
{
	return r < 0 ? -errno : r;
}

/* Prints "<what> = <result>". show_val: print r itself when r >= 0, else "ok". */
static long vreport(int show_val, long r, const char *fmt, va_list ap)
{
	vprintf(fmt, ap);
	if (r < 0)
		printf(" = %s\n", ename((int)-r));
	else if (show_val)
		printf(" = %ld\n", r);
	else
		printf(" = ok\n");
	return r;
}

__attribute__((format(printf, 2, 3)))
static long ok(long r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(0, r, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 2, 3)))
static long val(long r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(1, r, fmt, ap);
	va_end(ap);
	return r;
}

static void section(const char *name)
{
	printf("## %s\n", name);
}

/* FNV-1a 64: content fingerprints that are stable across runs and machines. */
static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* Short printable data is shown as text, anything else as length:fingerprint. */
static const char *show(const void *buf, long n, char *out, size_t cap)
{
	const unsigned char *c = buf;
	int printable = n <= 40;
	for (long i = 0; printable && i < n; i++)
		printable = c[i] >= 0x20 && c[i] < 0x7f && c[i] != '"';
	if (printable)
		snprintf(out, cap, "\"%.*s\"", (int)n, (const char *)buf);
	else
		snprintf(out, cap, "%ld:%016" PRIx64, n, fnv(buf, (size_t)n, FNV_INIT));
	return out;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "reg";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "lnk";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFSOCK: return "sock";
	}
	return "???";
}

static const char *dtype_name(unsigned char t)
{
	switch (t) {
	case DT_REG: return "reg";
	case DT_DIR: return "dir";
	case DT_LNK: return "lnk";
	case DT_FIFO: return "fifo";
	case DT_CHR: return "chr";
	case DT_BLK: return "blk";
	case DT_SOCK: return "sock";
	case DT_UNKNOWN: return "unknown";
	}
	return "???";
}

/* Directory sizes are a property of the backing fs's directory format, not of the
 * proxy, and are left out; so is st_blocks beyond "any allocated". With a writeback
 * cache the backing fs allocates only when the kernel flushes, and the kernel keeps
 * serving its cached attributes, so --ignore-blocks drops even that. */
static void print_stat(const struct stat *st)
{
	printf("%s mode=%04o", type_name(st->st_mode), (unsigned)(st->st_mode & 07777));
	if (!S_ISDIR(st->st_mode))
		printf(" size=%lld", (long long)st->st_size);
	printf(" nlink=%lu uid=%u gid=%u", (unsigned long)st->st_nlink, st->st_uid, st->st_gid);
	if (S_ISREG(st->st_mode) && !ignore_blocks)
		printf(" blocks>0=%d", st->st_blocks > 0);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf(" rdev=%u:%u", major(st->st_rdev), minor(st->st_rdev));
	printf("\n");
}

static long do_stat(const char *op, const char *path)
{
	struct stat st;
	long r;
	if (strcmp(op, "stat") == 0)
		r = chk(stat(path, &st));
	else
		r = chk(lstat(path, &st));
	printf("%s %s = ", op, path);
	if (r < 0)
		printf("%s\n", ename((int)-r));
	else
		print_stat(&st);
	return r;
}

static void do_fstat(int fd, const char *label)
{
	struct stat st;
	long r = chk(fstat(fd, &st));
	printf("fstat %s = ", label);
	if (r < 0)
		printf("%s\n", ename((int)-r));
	else
		print_stat(&st);
}

/* Reads the whole file and prints its length and fingerprint. */
static void do_sum(const char *path)
{
	char buf[65536], s[64];
	uint64_t h = FNV_INIT;
	long total = 0, n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0) {
		printf("sum %s = %s\n", path, ename(errno));
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv(buf, (size_t)n, h);
		total += n;
	}
	if (n < 0)
		printf("sum %s = %s\n", path, ename(errno));
	else if (total <= 40) {
		/* small files: show the text itself, easier to read in a diff */
		if (pread(fd, buf, (size_t)total, 0) == total)
			printf("sum %s = %s\n", path, show(buf, total, s, sizeof(s)));
		else
			printf("sum %s = reread failed\n", path);
	} else
		printf("sum %s = %ld:%016" PRIx64 "\n", path, total, h);
	close(fd);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Prints all xattr names (sorted) and values of path, without following symlinks. */
static void do_xattrs(const char *path)
{
	char names[8192], value[8192], s[64];
	char *list[256];
	int n = 0;
	long len = chk(llistxattr(path, names, sizeof(names)));
	if (len < 0) {
		printf("llistxattr %s = %s\n", path, ename((int)-len));
		return;
	}
	for (char *p = names; p < names + len && n < 256; p += strlen(p) + 1)
		list[n++] = p;
	qsort(list, (size_t)n, sizeof(list[0]), cmpstr);
	for (int i = 0; i < n; i++) {
		long v = chk(lgetxattr(path, list[i], value, sizeof(value)));
		if (v < 0)
			printf("xattr %s %s = %s\n", path, list[i], ename((int)-v));
		else
			printf("xattr %s %s = %s\n", path, list[i], show(value, v, s, sizeof(s)));
	}
}

struct dent {
	char name[256];
	unsigned char type;
};

static int cmpdent(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* Reads a directory; returns the number of entries (sorted) or -errno. */
static long read_dir(const char *path, struct dent **out)
{
	DIR *d = opendir(path);
	struct dirent *e;
	struct dent *v = NULL;
	long n = 0, cap = 0;
	if (!d)
		return -errno;
	errno = 0;
	while ((e = readdir(d))) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = realloc(v, (size_t)cap * sizeof(*v));
			if (!v)
				abort();
		}
		snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name);
		v[n].type = e->d_type;
		n++;
	}
	long err = errno ? -errno : 0;
	closedir(d);
	if (err) {
		free(v);
		return err;
	}
	if (n > 0)   /* some filesystems list no "." and ".."; qsort(NULL, 0) is UB */
		qsort(v, (size_t)n, sizeof(*v), cmpdent);
	*out = v;
	return n;
}

/* Walks a tree in sorted order: stat, xattrs, contents or link target, entries. */
static void walk(const char *path)
{
	struct stat st;
	struct dent *v = NULL;
	char child[4096], target[4096];
	if (do_stat("lstat", path) < 0 || lstat(path, &st) < 0)
		return;
	do_xattrs(path);
	if (S_ISREG(st.st_mode))
		do_sum(path);
	if (S_ISLNK(st.st_mode)) {
		long n = chk(readlink(path, target, sizeof(target) - 1));
		if (n >= 0)
			target[n] = 0;
		char sh[64];
		printf("readlink %s = %s\n", path, n < 0 ? ename((int)-n) : show(target, n, sh, sizeof(sh)));
	}
	if (!S_ISDIR(st.st_mode))
		return;
	long n = read_dir(path, &v);
	printf("readdir %s =", path);
	if (n < 0) {
		printf(" %s\n", ename((int)-n));
		return;
	}
	for (long i = 0; i < n; i++)
		printf(" %s:%s", v[i].name, dtype_name(v[i].type));
	printf("\n");
	for (long i = 0; i < n; i++) {
		if (!strcmp(v[i].name, ".") || !strcmp(v[i].name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, v[i].name);
		walk(child);
	}
	free(v);
}

/* Creates path with the given content (no output: setup for a later check). */
static void put(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
		printf("setup put %s = %s\n", path, ename(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
}

static void do_read(int fd, size_t len, off_t off, const char *label)
{
	char buf[65536], s[64];
	long n = chk(pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), off));
	if (n < 0)
		printf("pread %s %zu@%lld = %s\n", label, len, (long long)off, ename((int)-n));
	else
		printf("pread %s %zu@%lld = %s\n", label, len, (long long)off, show(buf, n, s, sizeof(s)));
}

/* Runs fn in a child process and waits for it; the child prints its own lines. */
static void in_child(void (*fn)(void *), void *arg)
{
	int status;
	fflush(stdout);
	pid_t p = fork();
	if (p < 0) {
		printf("fork = %s\n", ename(errno));
		return;
	}
	if (p == 0) {
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(p, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("child = failed\n");
}

/* ---- sections ---------------------------------------------------------------------- */

static void t_open(void)
{
	char name[300];
	int fd;

	section("open/create");
	fd = (int)ok(chk(open("f1", O_CREAT | O_EXCL | O_WRONLY, 0666)), "open f1 O_CREAT|O_EXCL|O_WRONLY 0666");
	if (fd >= 0) {
		val(chk(write(fd, "hello world\n", 12)), "write f1 12");
		do_fstat(fd, "f1");
		close(fd);
	}
	ok(chk(open("f1", O_CREAT | O_EXCL | O_WRONLY, 0644)), "open f1 O_CREAT|O_EXCL again");
	do_stat("stat", "f1");

	fd = (int)ok(chk(open("f1", O_WRONLY | O_APPEND)), "open f1 O_WRONLY|O_APPEND");
	if (fd >= 0) {
		val(chk(write(fd, "more\n", 5)), "write f1 append 5");
		val(chk(pwrite(fd, "PW", 2, 0)), "pwrite f1 O_APPEND 2@0 (appends on Linux)");
		val(chk(lseek(fd, 0, SEEK_CUR)), "lseek f1 0 SEEK_CUR");
		do_fstat(fd, "f1");
		close(fd);
	}
	do_sum("f1");

	fd = (int)ok(chk(open("f1", O_RDWR | O_TRUNC)), "open f1 O_RDWR|O_TRUNC");
	if (fd >= 0) {
		do_fstat(fd, "f1 after O_TRUNC");
		val(chk(write(fd, "abc", 3)), "write f1 3");
		val(chk(pwrite(fd, "XYZ", 3, 10)), "pwrite f1 3@10");
		do_fstat(fd, "f1");
		do_read(fd, 100, 0, "f1");
		do_read(fd, 100, 13, "f1 at EOF");
		do_read(fd, 2, 11, "f1");
		val(chk(lseek(fd, 0, SEEK_END)), "lseek f1 0 SEEK_END");
		val(chk(lseek(fd, -100, SEEK_SET)), "lseek f1 -100 SEEK_SET");
		ok(chk(fsync(fd)), "fsync f1");
		ok(chk(fdatasync(fd)), "fdatasync f1");
		close(fd);
	}
	ok(chk(open("f1", O_RDONLY | O_CREAT, 0644)), "open f1 O_RDONLY|O_CREAT existing");
	ok(chk(open("missing", O_RDONLY)), "open missing O_RDONLY");
	ok(chk(open("f1/x", O_RDONLY)), "open f1/x");
	ok(chk(open("f1/x", O_CREAT | O_WRONLY, 0644)), "open f1/x O_CREAT");
	ok(chk(open(".", O_WRONLY)), "open . O_WRONLY");
	ok(chk(open(".", O_RDONLY | O_DIRECTORY)), "open . O_DIRECTORY");
	ok(chk(open("f1", O_RDONLY | O_DIRECTORY)), "open f1 O_DIRECTORY");
	ok(chk(open("missing-dir/f", O_CREAT | O_WRONLY, 0644)), "open missing-dir/f O_CREAT");

	memset(name, 'n', 255);
	name[255] = 0;
	fd = (int)ok(chk(open(name, O_CREAT | O_WRONLY, 0644)), "open <255 chars> O_CREAT");
	if (fd >= 0)
		close(fd);
	ok(chk(unlink(name)), "unlink <255 chars>");
	memset(name, 'n', 256);
	name[256] = 0;
	ok(chk(open(name, O_CREAT | O_WRONLY, 0644)), "open <256 chars> O_CREAT");
	ok(chk(mkdir(name, 0755)), "mkdir <256 chars>");
	{
		static char longpath[5000];
		size_t i;
		for (i = 0; i + 2 < sizeof(longpath) - 1; i += 2)
			memcpy(longpath + i, "a/", 2);
		longpath[i] = 0;
		ok(chk(access(longpath, F_OK)), "access <4998-char path>");
	}

	/* umask 022 is set in main: the kernel (or the daemon, with DONT_MASK) applies it */
	fd = (int)ok(chk(open("um", O_CREAT | O_WRONLY, 0777)), "open um O_CREAT 0777");
	if (fd >= 0)
		close(fd);
	do_stat("stat", "um");

	section("O_DIRECT");
	fd = (int)ok(chk(open("direct", O_CREAT | O_RDWR | O_DIRECT, 0644)), "open direct O_CREAT|O_RDWR|O_DIRECT");
	if (fd >= 0) {
		void *b1, *b2;
		if (posix_memalign(&b1, 4096, 8192) || posix_memalign(&b2, 4096, 8192))
			abort();
		for (int i = 0; i < 8192; i++)
			((unsigned char *)b1)[i] = (unsigned char)(i * 7 + 3);
		val(chk(pwrite(fd, b1, 8192, 0)), "pwrite direct 8192@0");
		val(chk(pwrite(fd, b1, 4096, 16384)), "pwrite direct 4096@16384");
		memset(b2, 0, 8192);
		val(chk(pread(fd, b2, 8192, 0)), "pread direct 8192@0");
		printf("compare direct = %s\n", memcmp(b1, b2, 8192) ? "differ" : "same");
		do_fstat(fd, "direct");
		free(b1);
		free(b2);
		close(fd);
	}
	do_sum("direct");

	section("O_TMPFILE");
	fd = (int)ok(chk(open(".", O_TMPFILE | O_RDWR, 0600)), "open . O_TMPFILE|O_RDWR 0600");
	if (fd >= 0) {
		char proc[64];
		val(chk(write(fd, "anonymous data\n", 15)), "write tmpfile 15");
		do_fstat(fd, "tmpfile before link");
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		ok(chk(linkat(AT_FDCWD, proc, AT_FDCWD, "tmplinked", AT_SYMLINK_FOLLOW)),
		   "linkat /proc/self/fd/N tmplinked AT_SYMLINK_FOLLOW");
		do_fstat(fd, "tmpfile after link");
		close(fd);
	}
	do_stat("stat", "tmplinked");
	do_sum("tmplinked");
	fd = (int)ok(chk(open(".", O_TMPFILE | O_RDWR | O_EXCL, 0600)), "open . O_TMPFILE|O_EXCL");
	if (fd >= 0) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		ok(chk(linkat(AT_FDCWD, proc, AT_FDCWD, "tmpexcl", AT_SYMLINK_FOLLOW)),
		   "linkat O_EXCL tmpfile");
		close(fd);
	}
}

static void t_truncate(void)
{
	int fd;
	section("truncate");
	put("tr", "0123456789abcdef", 0644);
	ok(chk(truncate("tr", 5)), "truncate tr 5");
	do_stat("stat", "tr");
	do_sum("tr");
	ok(chk(truncate("tr", 100000)), "truncate tr 100000");
	do_stat("stat", "tr");
	do_sum("tr");
	fd = open("tr", O_RDWR);
	ok(chk(ftruncate(fd, 3)), "ftruncate tr 3");
	do_fstat(fd, "tr");
	ok(chk(ftruncate(fd, -1)), "ftruncate tr -1");
	close(fd);
	fd = open("tr", O_RDONLY);
	ok(chk(ftruncate(fd, 1)), "ftruncate O_RDONLY fd");
	close(fd);
	do_sum("tr");
	ok(chk(truncate("missing", 1)), "truncate missing");
	ok(chk(truncate(".", 1)), "truncate .");
}

static void t_attr(void)
{
	int fd;
	struct stat st;
	struct timespec ts[2];

	section("chmod");
	put("at", "attributes\n", 0644);
	ok(chk(chmod("at", 0600)), "chmod at 0600");
	do_stat("stat", "at");
	fd = open("at", O_RDONLY);
	ok(chk(fchmod(fd, 0751)), "fchmod at 0751");
	do_fstat(fd, "at");
	close(fd);
	ok(chk(chmod("at", 07777)), "chmod at 07777");
	do_stat("stat", "at");
	ok(chk(chmod("missing", 0644)), "chmod missing");

	/* writing to a set-uid file must drop the bit (kernel or daemon: killpriv) */
	ok(chk(chmod("at", 04755)), "chmod at 04755");
	fd = open("at", O_WRONLY | O_APPEND);
	val(chk(write(fd, "x", 1)), "write at 1 (setuid file)");
	close(fd);
	do_stat("stat", "at");
	ok(chk(chmod("at", 02755)), "chmod at 02755");
	ok(chk(truncate("at", 2)), "truncate at 2 (setgid file)");
	do_stat("stat", "at");

	section("chown");
	ok(chk(chmod("at", 06755)), "chmod at 06755");
	if (is_root) {
		ok(chk(chown("at", 1234, 5678)), "chown at 1234:5678");
		do_stat("stat", "at");
		fd = open("at", O_RDONLY);
		ok(chk(fchown(fd, (uid_t)-1, 42)), "fchown at -1:42");
		do_fstat(fd, "at");
		close(fd);
	} else {
		ok(chk(chown("at", 0, (gid_t)-1)), "chown at 0:-1");
		ok(chk(chown("at", (uid_t)-1, 0)), "chown at -1:0");
		ok(chk(chown("at", getuid(), getgid())), "chown at self:self");
		do_stat("stat", "at");
	}
	ok(chk(chown("at", (uid_t)-1, (gid_t)-1)), "chown at -1:-1");
	ok(chk(symlink("at", "at-link")), "symlink at at-link");
	ok(chk(lchown("at-link", getuid(), getgid())), "lchown at-link self");
	do_stat("lstat", "at-link");
	ok(chk(chown("missing", 0, 0)), "chown missing");
	do_stat("stat", "at");

	section("sgid dir");
	ok(chk(mkdir("sg", 0775)), "mkdir sg 0775");
	if (is_root)
		ok(chk(chown("sg", (uid_t)-1, 4242)), "chown sg -1:4242");
	ok(chk(chmod("sg", 02775)), "chmod sg 02775");
	put("sg/file", "in sgid dir\n", 0664);
	ok(chk(mkdir("sg/sub", 0775)), "mkdir sg/sub");
	do_stat("stat", "sg");
	do_stat("stat", "sg/file");
	do_stat("stat", "sg/sub");

	section("utimensat");
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 500000000;
	ts[1].tv_sec = 1234567890;
	ts[1].tv_nsec = 123456789;
	ok(chk(utimensat(AT_FDCWD, "at", ts, 0)), "utimensat at 1000000000.5 1234567890.123456789");
	if (stat("at", &st) == 0)
		printf("stat at mtime = %s atime = %s\n",
		       st.st_mtim.tv_sec == ts[1].tv_sec && st.st_mtim.tv_nsec == ts[1].tv_nsec ? "as set" : "differs",
		       st.st_atim.tv_sec == ts[0].tv_sec && st.st_atim.tv_nsec == ts[0].tv_nsec ? "as set" : "differs");
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 2000000000;
	ts[1].tv_nsec = 0;
	fd = open("at", O_RDONLY);
	ok(chk(futimens(fd, ts)), "futimens at omit 2000000000");
	if (fstat(fd, &st) == 0)
		printf("fstat at mtime = %s atime = %s\n", st.st_mtim.tv_sec == 2000000000 ? "as set" : "differs",
		       st.st_atim.tv_sec == 1000000000 ? "kept" : "changed");
	close(fd);
	ok(chk(utimensat(AT_FDCWD, "at", NULL, 0)), "utimensat at now");
	if (stat("at", &st) == 0)
		printf("stat at mtime recent = %d\n", st.st_mtim.tv_sec > time(NULL) - 3600);
	ok(chk(utimensat(AT_FDCWD, "at-link", ts, AT_SYMLINK_NOFOLLOW)), "utimensat at-link NOFOLLOW");
	if (lstat("at-link", &st) == 0)
		printf("lstat at-link mtime = %s\n", st.st_mtim.tv_sec == 2000000000 ? "as set" : "differs");
	ok(chk(utimensat(AT_FDCWD, "missing", NULL, 0)), "utimensat missing");
}

static void t_dirs(void)
{
	section("mkdir/rmdir/unlink");
	ok(chk(mkdir("d1", 0777)), "mkdir d1 0777");
	do_stat("stat", "d1");
	ok(chk(mkdir("d1", 0755)), "mkdir d1 again");
	ok(chk(mkdir("d1/sub", 0700)), "mkdir d1/sub 0700");
	do_stat("stat", "d1");
	do_stat("stat", "d1/sub");
	ok(chk(rmdir("d1")), "rmdir d1 (not empty)");
	ok(chk(rmdir("d1/sub")), "rmdir d1/sub");
	put("d1/file", "x", 0644);
	ok(chk(rmdir("d1")), "rmdir d1 (has file)");
	ok(chk(unlink("d1")), "unlink d1");
	ok(chk(rmdir("d1/file")), "rmdir d1/file");
	ok(chk(unlink("d1/file")), "unlink d1/file");
	ok(chk(unlink("d1/file")), "unlink d1/file again");
	ok(chk(rmdir("d1")), "rmdir d1");
	ok(chk(rmdir("d1")), "rmdir d1 again");
	ok(chk(mkdir("f1/sub", 0755)), "mkdir f1/sub");
	ok(chk(rmdir(".")), "rmdir .");
	ok(chk(mkdir("keepdir", 0750)), "mkdir keepdir 0750");
	put("keepdir/inner", "inner file\n", 0640);
}

static void t_rename(void)
{
	section("rename");
	put("ra", "content of a\n", 0644);
	put("rb", "content of b, longer\n", 0600);
	ok(chk(rename("ra", "rc")), "rename ra rc");
	do_stat("stat", "ra");
	do_stat("stat", "rc");
	ok(chk(renameat2(AT_FDCWD, "rc", AT_FDCWD, "rb", RENAME_NOREPLACE)), "renameat2 rc rb NOREPLACE");
	ok(chk(renameat2(AT_FDCWD, "rc", AT_FDCWD, "rd", RENAME_NOREPLACE)), "renameat2 rc rd NOREPLACE");
	ok(chk(renameat2(AT_FDCWD, "rd", AT_FDCWD, "rb", RENAME_EXCHANGE)), "renameat2 rd rb EXCHANGE");
	do_stat("stat", "rb");
	do_stat("stat", "rd");
	do_sum("rb");
	do_sum("rd");
	ok(chk(renameat2(AT_FDCWD, "rd", AT_FDCWD, "nonexistent", RENAME_EXCHANGE)), "renameat2 rd nonexistent EXCHANGE");
	ok(chk(renameat2(AT_FDCWD, "rd", AT_FDCWD, "re", RENAME_EXCHANGE | RENAME_NOREPLACE)), "renameat2 EXCHANGE|NOREPLACE");
	ok(chk(rename("rb", "rd")), "rename rb rd (replace)");
	do_sum("rd");
	do_stat("stat", "rb");

	ok(chk(mkdir("rdir", 0755)), "mkdir rdir");
	ok(chk(mkdir("rdir2", 0755)), "mkdir rdir2");
	put("rdir2/x", "x", 0644);
	ok(chk(rename("rdir", "rdir2")), "rename rdir rdir2 (not empty)");
	ok(chk(rename("rd", "rdir")), "rename rd rdir (file over dir)");
	ok(chk(rename("rdir", "rd")), "rename rdir rd (dir over file)");
	ok(chk(rename("rdir", "rdir/inside")), "rename rdir rdir/inside");
	ok(chk(rename("rdir2", "rdir")), "rename rdir2 rdir (over empty dir)");
	do_stat("stat", "rdir/x");
	ok(chk(rename("missing", "x")), "rename missing x");
	ok(chk(rename("rd", "rd")), "rename rd rd");
	ok(chk(renameat2(AT_FDCWD, "rdir", AT_FDCWD, "rd", RENAME_EXCHANGE)), "renameat2 rdir rd EXCHANGE (dir<->file)");
	do_stat("stat", "rdir");
	do_stat("stat", "rd");
	ok(chk(renameat2(AT_FDCWD, "rd", AT_FDCWD, "rdir", RENAME_EXCHANGE)), "renameat2 rd rdir EXCHANGE back");

	put("rw", "to be whited out\n", 0644);
	ok(chk(renameat2(AT_FDCWD, "rw", AT_FDCWD, "rw2", RENAME_WHITEOUT)), "renameat2 rw rw2 WHITEOUT");
	do_stat("lstat", "rw");
	do_stat("lstat", "rw2");
	ok(chk(renameat2(AT_FDCWD, "rw2", AT_FDCWD, "rw3", 0x80)), "renameat2 flags 0x80");
}

static void t_links(void)
{
	char buf[256];
	long n;

	section("link");
	put("la", "linked content\n", 0644);
	ok(chk(link("la", "lb")), "link la lb");
	do_stat("stat", "la");
	do_stat("stat", "lb");
	ok(chk(link("la", "lb")), "link la lb again");
	ok(chk(link("missing", "lc")), "link missing lc");
	ok(chk(link("keepdir", "lc")), "link keepdir lc");
	ok(chk(link("la", "missing-dir/lc")), "link la missing-dir/lc");
	ok(chk(rename("lb", "keepdir/lb-moved")), "rename lb keepdir/lb-moved");
	do_stat("stat", "la");
	do_stat("stat", "keepdir/lb-moved");
	ok(chk(link("la", "lc")), "link la lc");
	do_stat("stat", "la");
	ok(chk(rename("la", "lc")), "rename la lc (same inode)");
	do_stat("stat", "la");
	do_stat("stat", "lc");
	ok(chk(unlink("keepdir/lb-moved")), "unlink keepdir/lb-moved");
	do_stat("stat", "lc");
	int fd = open("lc", O_RDONLY);
	ok(chk(unlink("lc")), "unlink lc (open)");
	do_fstat(fd, "lc unlinked");
	do_read(fd, 100, 0, "lc unlinked");
	close(fd);

	section("symlink");
	ok(chk(symlink("target-x", "s1")), "symlink target-x s1");
	do_stat("lstat", "s1");
	do_stat("stat", "s1");
	n = chk(readlink("s1", buf, sizeof(buf)));
	printf("readlink s1 = %.*s%s\n", n < 0 ? 0 : (int)n, buf, n < 0 ? ename((int)-n) : "");
	n = chk(readlink("s1", buf, 3));
	printf("readlink s1 bufsize 3 = %.*s%s\n", n < 0 ? 0 : (int)n, buf, n < 0 ? ename((int)-n) : "");
	ok(chk(readlink("f1", buf, sizeof(buf))), "readlink f1 (regular)");
	ok(chk(symlink("f1", "s1")), "symlink f1 s1 (exists)");
	ok(chk(symlink("f1", "s2")), "symlink f1 s2");
	do_stat("stat", "s2");
	do_sum("s2");
	ok(chk(open("s2", O_RDONLY | O_NOFOLLOW)), "open s2 O_NOFOLLOW");
	ok(chk(open("s2", O_RDONLY | O_PATH | O_NOFOLLOW)), "open s2 O_PATH|O_NOFOLLOW");
	ok(chk(symlink("loop2", "loop1")), "symlink loop2 loop1");
	ok(chk(symlink("loop1", "loop2")), "symlink loop1 loop2");
	ok(chk(open("loop1", O_RDONLY)), "open loop1");
	{
		char t[4097];
		memset(t, 't', 4095);
		t[4095] = 0;
		ok(chk(symlink(t, "s-long")), "symlink <4095 chars> s-long");
		do_stat("lstat", "s-long");
		memset(t, 't', 4096);
		t[4096] = 0;
		ok(chk(symlink(t, "s-toolong")), "symlink <4096 chars> s-toolong");
	}
	ok(chk(symlink("keepdir", "s-dir")), "symlink keepdir s-dir");
	do_stat("stat", "s-dir/inner");
	ok(chk(rmdir("s-dir")), "rmdir s-dir (symlink)");
	ok(chk(unlink("s-dir")), "unlink s-dir");

	section("mknod");
	ok(chk(mkfifo("p1", 0644)), "mkfifo p1 0644");
	do_stat("lstat", "p1");
	ok(chk(mkfifo("p1", 0644)), "mkfifo p1 again");
	int pr = (int)ok(chk(open("p1", O_RDONLY | O_NONBLOCK)), "open p1 O_RDONLY|O_NONBLOCK");
	int pw = (int)ok(chk(open("p1", O_WRONLY | O_NONBLOCK)), "open p1 O_WRONLY|O_NONBLOCK (reader open)");
	if (pw >= 0) {
		char c;
		val(chk(write(pw, "fifo", 4)), "write p1 4");
		val(chk(read(pr, &c, 1)), "read p1 1");
		close(pw);
	}
	if (pr >= 0)
		close(pr);
	ok(chk(open("p1", O_WRONLY | O_NONBLOCK)), "open p1 O_WRONLY|O_NONBLOCK (no reader)");
	ok(chk(mknod("n-reg", S_IFREG | 0640, 0)), "mknod n-reg S_IFREG 0640");
	do_stat("lstat", "n-reg");
	ok(chk(mknod("n-sock", S_IFSOCK | 0600, 0)), "mknod n-sock S_IFSOCK 0600");
	do_stat("lstat", "n-sock");
	ok(chk(mknod("n-chr", S_IFCHR | 0600, makedev(1, 3))), "mknod n-chr S_IFCHR 1:3");
	do_stat("lstat", "n-chr");
}

static void try_opendir(const char *path)
{
	DIR *d = opendir(path);
	printf("opendir %s = %s\n", path, d ? "ok" : ename(errno));
	if (d)
		closedir(d);
}

static void t_readdir(void)
{
	struct dent *v = NULL;
	char name[64];
	long n;
	uint64_t h = FNV_INIT;

	section("readdir");
	ok(chk(mkdir("big", 0755)), "mkdir big");
	for (int i = 0; i < 1000; i++) {
		/* long names make READDIR replies span many pages */
		snprintf(name, sizeof(name), "big/entry-%04d-%s", i, "padding-padding-padding-padding");
		if (i % 10 == 0)
			ok(chk(mkdir(name, 0755)), "mkdir big/entry-%04d-...", i);
		else if (i % 10 == 1)
			ok(chk(symlink("nowhere", name)), "symlink nowhere big/entry-%04d-...", i);
		else
			put(name, "", 0644);
	}
	n = read_dir("big", &v);
	for (long i = 0; i < n; i++) {
		h = fnv(v[i].name, strlen(v[i].name) + 1, h);
		h = fnv(&v[i].type, 1, h);
	}
	printf("readdir big = %ld entries, names+types %016" PRIx64 "\n", n, h);
	free(v);
	v = NULL;
	for (int i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "big/entry-%04d-%s", i, "padding-padding-padding-padding");
		if (i % 10 == 0)
			rmdir(name);
		else
			unlink(name);
	}
	n = read_dir("big", &v);
	h = FNV_INIT;
	for (long i = 0; i < n; i++)
		h = fnv(v[i].name, strlen(v[i].name) + 1, h);
	printf("readdir big after removing half = %ld entries, names %016" PRIx64 "\n", n, h);
	free(v);

	/* entries created and removed while a directory stream is open */
	DIR *d = opendir("keepdir");
	long cnt = 0;
	if (d) {
		while (readdir(d))
			cnt++;
		put("keepdir/added", "a", 0644);
		rewinddir(d);
		cnt = 0;
		while (readdir(d))
			cnt++;
		printf("readdir keepdir after rewinddir = %ld entries\n", cnt);
		closedir(d);
	}
	try_opendir("missing");
	try_opendir("f1");
	walk(".");
}

static void t_xattr(void)
{
	char buf[8192], s[64];
	long n;
	int fd;

	section("xattr");
	put("xa", "xattr carrier\n", 0644);
	ok(chk(setxattr("xa", "user.a", "va", 2, 0)), "setxattr xa user.a va");
	ok(chk(setxattr("xa", "user.a", "va2", 3, XATTR_CREATE)), "setxattr xa user.a XATTR_CREATE (exists)");
	ok(chk(setxattr("xa", "user.b", "vb", 2, XATTR_REPLACE)), "setxattr xa user.b XATTR_REPLACE (missing)");
	ok(chk(setxattr("xa", "user.b", "value-b", 7, XATTR_CREATE)), "setxattr xa user.b XATTR_CREATE");
	ok(chk(setxattr("xa", "user.a", "new-a", 5, XATTR_REPLACE)), "setxattr xa user.a XATTR_REPLACE");
	ok(chk(setxattr("xa", "user.empty", "", 0, 0)), "setxattr xa user.empty (empty value)");
	val(chk(getxattr("xa", "user.a", NULL, 0)), "getxattr xa user.a size query");
	val(chk(getxattr("xa", "user.a", buf, 1)), "getxattr xa user.a bufsize 1");
	n = chk(getxattr("xa", "user.a", buf, sizeof(buf)));
	printf("getxattr xa user.a = %s\n", n < 0 ? ename((int)-n) : show(buf, n, s, sizeof(s)));
	val(chk(getxattr("xa", "user.empty", buf, sizeof(buf))), "getxattr xa user.empty");
	val(chk(getxattr("xa", "user.none", buf, sizeof(buf))), "getxattr xa user.none");
	val(chk(getxattr("missing", "user.a", buf, sizeof(buf))), "getxattr missing user.a");
	val(chk(listxattr("xa", NULL, 0)), "listxattr xa size query");
	val(chk(listxattr("xa", buf, 3)), "listxattr xa bufsize 3");
	do_xattrs("xa");
	{
		static char big[4000];
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (char)(i * 13);
		ok(chk(setxattr("xa", "user.big", big, sizeof(big), 0)), "setxattr xa user.big 4000 bytes");
		n = chk(getxattr("xa", "user.big", buf, sizeof(buf)));
		printf("getxattr xa user.big = %s\n", n < 0 ? ename((int)-n) : show(buf, n, s, sizeof(s)));
		static char huge[70000];
		ok(chk(setxattr("xa", "user.huge", huge, sizeof(huge), 0)), "setxattr xa user.huge 70000 bytes");
	}
	ok(chk(removexattr("xa", "user.a")), "removexattr xa user.a");
	ok(chk(removexattr("xa", "user.a")), "removexattr xa user.a again");
	val(chk(getxattr("xa", "user.a", buf, sizeof(buf))), "getxattr xa user.a after remove");
	ok(chk(setxattr("xa", "bogus.ns", "v", 1, 0)), "setxattr xa bogus.ns");
	ok(chk(setxattr("xa", "trusted.t", "tv", 2, 0)), "setxattr xa trusted.t");
	val(chk(getxattr("xa", "trusted.t", buf, sizeof(buf))), "getxattr xa trusted.t");
	fd = open("xa", O_RDONLY);
	ok(chk(fsetxattr(fd, "user.viafd", "fdv", 3, 0)), "fsetxattr xa user.viafd");
	val(chk(fgetxattr(fd, "user.viafd", buf, sizeof(buf))), "fgetxattr xa user.viafd");
	val(chk(flistxattr(fd, NULL, 0)), "flistxattr xa size query");
	ok(chk(fremovexattr(fd, "user.viafd")), "fremovexattr xa user.viafd");
	close(fd);
	do_xattrs("xa");
	ok(chk(setxattr("keepdir", "user.dirattr", "d", 1, 0)), "setxattr keepdir user.dirattr");
	do_xattrs("keepdir");
	ok(chk(lsetxattr("at-link", "user.onlink", "l", 1, 0)), "lsetxattr at-link user.onlink");
	ok(chk(setxattr("p1", "user.onfifo", "p", 1, 0)), "setxattr p1 (fifo) user.onfifo");
	/* a name longer than XATTR_NAME_MAX (255) */
	{
		char longname[300] = "user.";
		memset(longname + 5, 'x', 260);
		longname[265] = 0;
		ok(chk(setxattr("xa", longname, "v", 1, 0)), "setxattr xa user.<260 chars>");
	}
}

struct lockarg {
	int fd;
	pid_t parent;
};

static void lock_child_probe(void *p)
{
	struct lockarg *a = p;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 10 };
	int fd = open("lk", O_RDWR);
	long r = chk(fcntl(fd, F_GETLK, &fl));
	printf("child F_GETLK wr 50+10 = %s type=%s start=%lld len=%lld pid=%s\n", r < 0 ? ename((int)-r) : "ok",
	       fl.l_type == F_WRLCK ? "F_WRLCK" : fl.l_type == F_RDLCK ? "F_RDLCK" : fl.l_type == F_UNLCK ? "F_UNLCK" : "?",
	       (long long)fl.l_start, (long long)fl.l_len,
	       fl.l_type == F_UNLCK ? "-" : fl.l_pid == a->parent ? "parent" : "other");
	struct flock w = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 10 };
	r = chk(fcntl(fd, F_SETLK, &w));
	/* EAGAIN and EACCES are both allowed by POSIX; print what the kernel says */
	printf("child F_SETLK wr 50+10 = %s\n", r < 0 ? ename((int)-r) : "ok");
	struct flock rd = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 200, .l_len = 10 };
	ok(chk(fcntl(fd, F_SETLK, &rd)), "child F_SETLK rd 200+10 (no conflict)");
	struct flock rd2 = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 300, .l_len = 10 };
	ok(chk(fcntl(fd, F_SETLK, &rd2)), "child F_SETLK rd 300+10 (parent holds rd)");
	close(fd);
}

static void lock_child_after_unlock(void *p)
{
	(void)p;
	struct flock w = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	int fd = open("lk", O_RDWR);
	ok(chk(fcntl(fd, F_SETLK, &w)), "child F_SETLK wr whole file after unlock");
	close(fd);
}

static void t_locks(void)
{
	struct lockarg a = { .parent = getpid() };
	int fd, fd2, pfd[2];

	section("posix locks");
	put("lk", "lock file with some content\n", 0666);
	fd = open("lk", O_RDWR);
	a.fd = fd;
	struct flock w = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	ok(chk(fcntl(fd, F_SETLK, &w)), "F_SETLK wr 0+100");
	struct flock r3 = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 300, .l_len = 10 };
	ok(chk(fcntl(fd, F_SETLK, &r3)), "F_SETLK rd 300+10");
	struct flock self = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 10 };
	ok(chk(fcntl(fd, F_GETLK, &self)), "F_GETLK own range");
	printf("F_GETLK own range type = %s\n", self.l_type == F_UNLCK ? "F_UNLCK" : "locked");
	in_child(lock_child_probe, &a);

	/* F_SETLKW in a child must block until the parent unlocks */
	if (pipe(pfd) == 0) {
		fflush(stdout);
		pid_t p = fork();
		if (p == 0) {
			struct flock ww = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
			int cfd = open("lk", O_RDWR);
			char c = 'r';
			if (write(pfd[1], &c, 1) != 1)
				_exit(1);
			long r = chk(fcntl(cfd, F_SETLKW, &ww));
			printf("child F_SETLKW wr 0+10 = %s\n", r < 0 ? ename((int)-r) : "ok");
			fflush(stdout);
			_exit(0);
		}
		char c;
		int status;
		if (read(pfd[0], &c, 1) != 1)
			printf("pipe = failed\n");
		usleep(300000);
		pid_t done = waitpid(p, &status, WNOHANG);
		struct flock un = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
		long r = chk(fcntl(fd, F_SETLK, &un));
		waitpid(p, &status, 0);
		printf("child F_SETLKW blocked while parent held the lock = %s\n", done == 0 ? "yes" : "no");
		printf("F_SETLK unlock 0+100 = %s\n", r < 0 ? ename((int)-r) : "ok");
		close(pfd[0]);
		close(pfd[1]);
	}
	struct flock un = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	ok(chk(fcntl(fd, F_SETLK, &un)), "F_SETLK unlock all");
	in_child(lock_child_after_unlock, NULL);
	struct flock bad = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = -5, .l_len = 1 };
	ok(chk(fcntl(fd, F_SETLK, &bad)), "F_SETLK start -5");
	close(fd);
	fd = open("lk", O_RDONLY);
	struct flock wr = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	ok(chk(fcntl(fd, F_SETLK, &wr)), "F_SETLK wr on O_RDONLY fd");
	close(fd);

	section("ofd locks");
	fd = open("lk", O_RDWR);
	fd2 = open("lk", O_RDWR);
	struct flock o1 = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	ok(chk(fcntl(fd, F_OFD_SETLK, &o1)), "F_OFD_SETLK fd1 wr 0+10");
	struct flock o2 = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 10 };
	ok(chk(fcntl(fd2, F_OFD_SETLK, &o2)), "F_OFD_SETLK fd2 wr 5+10 (conflict)");
	struct flock o3 = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	long r = chk(fcntl(fd2, F_OFD_GETLK, &o3));
	printf("F_OFD_GETLK fd2 rd 0+1 = %s type=%s start=%lld len=%lld pid=%d\n", r < 0 ? ename((int)-r) : "ok",
	       o3.l_type == F_WRLCK ? "F_WRLCK" : o3.l_type == F_UNLCK ? "F_UNLCK" : "?", (long long)o3.l_start,
	       (long long)o3.l_len, o3.l_pid);
	struct flock o4 = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 10 };
	ok(chk(fcntl(fd2, F_OFD_SETLK, &o4)), "F_OFD_SETLK fd2 wr 20+10");
	struct flock pl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5 };
	ok(chk(fcntl(fd2, F_SETLK, &pl)), "F_SETLK (classic) wr 0+5 vs OFD lock");
	close(fd);
	/* The kernel sends FUSE no unlock for OFD locks at close (fs/fuse/file.c skips
	 * FL_CLOSE_POSIX); they end with RELEASE, which it sends asynchronously after
	 * close() has returned. So through any FUSE fs the lock goes away a moment later. */
	for (int i = 0; i < 200; i++) {
		r = chk(fcntl(fd2, F_OFD_SETLK, &o2));
		if (r != -EAGAIN)
			break;
		usleep(10000);
	}
	ok(r, "F_OFD_SETLK fd2 wr 5+10 after fd1 closed (within 2 s)");
	struct flock bad2 = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 1 };
	ok(chk(fcntl(fd2, F_OFD_SETLK, &bad2)), "F_OFD_SETLK with l_pid != 0");
	close(fd2);

	section("flock");
	fd = open("lk", O_RDONLY);
	fd2 = open("lk", O_RDONLY);
	ok(chk(flock(fd, LOCK_EX)), "flock fd1 LOCK_EX");
	ok(chk(flock(fd2, LOCK_EX | LOCK_NB)), "flock fd2 LOCK_EX|LOCK_NB");
	ok(chk(flock(fd2, LOCK_SH | LOCK_NB)), "flock fd2 LOCK_SH|LOCK_NB");
	ok(chk(flock(fd, LOCK_SH)), "flock fd1 LOCK_SH (downgrade)");
	ok(chk(flock(fd2, LOCK_SH | LOCK_NB)), "flock fd2 LOCK_SH|LOCK_NB");
	ok(chk(flock(fd2, LOCK_EX | LOCK_NB)), "flock fd2 LOCK_EX|LOCK_NB (fd1 shares)");
	ok(chk(flock(fd, LOCK_UN)), "flock fd1 LOCK_UN");
	ok(chk(flock(fd2, LOCK_EX | LOCK_NB)), "flock fd2 LOCK_EX|LOCK_NB after unlock");
	{
		int fd3 = dup(fd2);
		close(fd2);
		ok(chk(flock(fd, LOCK_EX | LOCK_NB)), "flock fd1 LOCK_EX|LOCK_NB (dup of fd2 holds)");
		close(fd3);
		ok(chk(flock(fd, LOCK_EX | LOCK_NB)), "flock fd1 LOCK_EX|LOCK_NB (all closed)");
	}
	ok(chk(flock(fd, 12345)), "flock fd1 bad op");
	close(fd);
}

static void seek_line(int fd, off_t off, int whence, const char *label)
{
	val(chk(lseek(fd, off, whence)), "lseek sp %lld %s%s", (long long)off,
	    whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE", label);
}

static void t_sparse(void)
{
	static char a[4096], b[4096];
	struct stat st;
	int fd;

	section("sparse");
	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	fd = (int)ok(chk(open("sp", O_CREAT | O_RDWR | O_TRUNC, 0644)), "open sp");
	if (fd < 0)
		return;
	val(chk(pwrite(fd, a, sizeof(a), 1 * MiB)), "pwrite sp 4096@1MiB");
	val(chk(pwrite(fd, b, sizeof(b), 8 * MiB)), "pwrite sp 4096@8MiB");
	ok(chk(fsync(fd)), "fsync sp");
	do_fstat(fd, "sp");
	if (fstat(fd, &st) == 0 && !ignore_blocks)
		printf("fstat sp allocated < size = %d\n", st.st_blocks * 512 < st.st_size);
	seek_line(fd, 0, SEEK_DATA, "");
	seek_line(fd, 0, SEEK_HOLE, "");
	seek_line(fd, 1 * MiB, SEEK_HOLE, "");
	seek_line(fd, 1 * MiB + 4096, SEEK_DATA, "");
	seek_line(fd, 8 * MiB, SEEK_HOLE, "");
	seek_line(fd, 8 * MiB + 4096, SEEK_DATA, " (at EOF)");
	seek_line(fd, 9 * MiB, SEEK_HOLE, " (past EOF)");
	do_read(fd, 4096, 1 * MiB, "sp");
	do_read(fd, 4096, 4 * MiB, "sp (hole)");

	ok(chk(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1 * MiB, 4096)),
	   "fallocate sp PUNCH_HOLE|KEEP_SIZE 1MiB+4096");
	ok(chk(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 1 * MiB, 4096)), "fallocate sp PUNCH_HOLE without KEEP_SIZE");
	do_fstat(fd, "sp");
	seek_line(fd, 0, SEEK_DATA, " after punch");
	do_read(fd, 4096, 1 * MiB, "sp punched");

	ok(chk(fallocate(fd, FALLOC_FL_ZERO_RANGE, 8 * MiB + 1024, 1024)), "fallocate sp ZERO_RANGE 8MiB+1024 +1024");
	do_read(fd, 4096, 8 * MiB, "sp after zero range");
	ok(chk(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 8 * MiB, 2 * MiB)),
	   "fallocate sp ZERO_RANGE|KEEP_SIZE 8MiB +2MiB");
	do_fstat(fd, "sp");
	ok(chk(fallocate(fd, 0, 16 * MiB, 64 * 1024)), "fallocate sp mode 0 16MiB +64KiB");
	do_fstat(fd, "sp");
	ok(chk(fallocate(fd, FALLOC_FL_KEEP_SIZE, 20 * MiB, 64 * 1024)), "fallocate sp KEEP_SIZE 20MiB +64KiB");
	do_fstat(fd, "sp");
	ok(chk(fallocate(fd, 0, 0, 0)), "fallocate sp len 0");
	ok(chk(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096)), "fallocate sp PUNCH_HOLE alone");
	int pf = posix_fallocate(fd, 0, 4096);
	printf("posix_fallocate sp 0+4096 = %s\n", pf ? ename(pf) : "ok");
	close(fd);
	do_sum("sp");

	fd = open("sp", O_RDONLY);
	ok(chk(fallocate(fd, 0, 0, 4096)), "fallocate O_RDONLY fd");
	close(fd);
}

static void t_copy_mmap(void)
{
	static char buf[100000];
	loff_t in_off = 1000, out_off = 0;
	int in, out;
	long r;

	section("copy_file_range");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 31 + (i >> 8));
	in = open("cf_src", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (in < 0 || write(in, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		printf("setup cf_src = %s\n", ename(errno));
	out = open("cf_dst", O_CREAT | O_RDWR | O_TRUNC, 0644);
	r = chk(copy_file_range(in, &in_off, out, &out_off, 50000, 0));
	if (r < 0)
		printf("copy_file_range cf_src@1000 cf_dst@0 50000 = %s\n", ename((int)-r));
	else
		printf("copy_file_range cf_src@1000 cf_dst@0 50000 = %ld in_off=%lld out_off=%lld\n", r,
		       (long long)in_off, (long long)out_off);
	in_off = 99990;
	out_off = 60000;
	val(chk(copy_file_range(in, &in_off, out, &out_off, 100, 0)), "copy_file_range near EOF (10 bytes left)");
	in_off = 200000;
	val(chk(copy_file_range(in, &in_off, out, &out_off, 100, 0)), "copy_file_range past EOF");
	in_off = 0;
	out_off = 10;
	val(chk(copy_file_range(in, &in_off, in, &out_off, 100, 0)), "copy_file_range overlapping same file");
	val(chk(copy_file_range(in, NULL, out, NULL, 10, 1)), "copy_file_range flags 1");
	val(chk(lseek(in, 0, SEEK_CUR)), "lseek cf_src SEEK_CUR (unchanged)");
	close(in);
	close(out);
	do_stat("stat", "cf_dst");
	do_sum("cf_dst");

	section("mmap");
	int fd = open("mm", O_CREAT | O_RDWR | O_TRUNC, 0644);
	ok(chk(ftruncate(fd, 8192)), "ftruncate mm 8192");
	void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("mmap mm shared rw = %s\n", m == MAP_FAILED ? ename(errno) : "ok");
	if (m != MAP_FAILED) {
		for (int i = 0; i < 8192; i++)
			((char *)m)[i] = (char)(i ^ 0x5a);
		ok(chk(msync(m, 8192, MS_SYNC)), "msync mm");
		munmap(m, 8192);
	}
	do_read(fd, 8192, 0, "mm");
	close(fd);
}

static void t_misc(void)
{
	struct statfs sf;
	int fd;

	section("statfs");
	long r = chk(statfs(".", &sf));
	printf("statfs . = %s namelen=%ld bsize>0=%d\n", r < 0 ? ename((int)-r) : "ok",
	       r < 0 ? 0 : (long)sf.f_namelen, r < 0 ? 0 : sf.f_bsize > 0);
	fd = open("f1", O_RDONLY);
	r = chk(fstatfs(fd, &sf));
	printf("fstatfs f1 = %s namelen=%ld\n", r < 0 ? ename((int)-r) : "ok", r < 0 ? 0 : (long)sf.f_namelen);
	close(fd);
	ok(chk(statfs("missing", &sf)), "statfs missing");

	section("access");
	put("acc", "x", 0644);
	ok(chk(access("acc", R_OK | W_OK)), "access acc R_OK|W_OK");
	ok(chk(access("acc", X_OK)), "access acc X_OK");
	ok(chk(chmod("acc", 0)), "chmod acc 0");
	ok(chk(access("acc", R_OK)), "access acc R_OK (mode 0)");
	ok(chk(open("acc", O_RDONLY)), "open acc O_RDONLY (mode 0)");
	ok(chk(access("acc", F_OK)), "access acc F_OK");
	ok(chk(access("missing", F_OK)), "access missing F_OK");
	ok(chk(access("f1/x", F_OK)), "access f1/x F_OK");
	ok(chk(faccessat(AT_FDCWD, "acc", R_OK, AT_EACCESS)), "faccessat acc R_OK AT_EACCESS");
	ok(chk(chmod("acc", 0111)), "chmod acc 0111");
	ok(chk(access("acc", X_OK)), "access acc X_OK (mode 0111)");
	ok(chk(access(".", W_OK | X_OK)), "access . W_OK|X_OK");
}

/* Operations on the root-owned fixture entries: refused for other uids. */
static void t_perms(void)
{
	struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
	char buf[16];
	int fd;

	section("permissions on fixture");
	fd = (int)ok(chk(open("../fixture/secret", O_RDONLY)), "open fixture/secret (0000) O_RDONLY");
	if (fd >= 0)
		close(fd);
	fd = (int)ok(chk(open("../fixture/ro-dir/new", O_CREAT | O_WRONLY, 0644)), "open fixture/ro-dir/new O_CREAT");
	if (fd >= 0) {
		close(fd);
		unlink("../fixture/ro-dir/new");
	}
	ok(chk(mkdir("../fixture/ro-dir/newdir", 0755)), "mkdir fixture/ro-dir/newdir");
	rmdir("../fixture/ro-dir/newdir");
	ok(chk(unlink("../fixture/ro-dir/file")), "unlink fixture/ro-dir/file");
	ok(chk(rename("../fixture/ro-dir/file", "stolen")), "rename fixture/ro-dir/file stolen");
	ok(chk(open("../fixture/rootfile", O_WRONLY)), "open fixture/rootfile O_WRONLY");
	ok(chk(truncate("../fixture/rootfile", 0)), "truncate fixture/rootfile 0");
	ok(chk(chmod("../fixture/rootfile", 0666)), "chmod fixture/rootfile 0666");
	ok(chk(chown("../fixture/rootfile", getuid(), (gid_t)-1)), "chown fixture/rootfile self");
	ok(chk(utimensat(AT_FDCWD, "../fixture/rootfile", ts, 0)), "utimensat fixture/rootfile explicit");
	ok(chk(utimensat(AT_FDCWD, "../fixture/rootfile", NULL, 0)), "utimensat fixture/rootfile now");
	ok(chk(setxattr("../fixture/rootfile", "user.intruder", "x", 1, 0)), "setxattr fixture/rootfile user.intruder");
	val(chk(getxattr("../fixture/rootfile", "user.fixture", buf, sizeof(buf))), "getxattr fixture/rootfile user.fixture");
	ok(chk(link("../fixture/rootfile", "rootlink")), "link fixture/rootfile rootlink");
	ok(chk(unlink("../fixture/sticky/rootfile")), "unlink fixture/sticky/rootfile");
	put("../fixture/sticky/mine", "mine\n", 0644);
	ok(chk(unlink("../fixture/sticky/mine")), "unlink fixture/sticky/mine");
	ok(chk(access("../fixture/secret", R_OK)), "access fixture/secret R_OK");
	ok(chk(access("../fixture/ro-dir", W_OK)), "access fixture/ro-dir W_OK");
	int here = open(".", O_RDONLY | O_DIRECTORY);
	ok(chk(chdir("../fixture/noexec-dir")), "chdir fixture/noexec-dir (0600)");
	if (fchdir(here))
		printf("fchdir back = %s\n", ename(errno));
	close(here);
	do_stat("stat", "../fixture/noexec-dir/file");
}

int main(int argc, char **argv)
{
	const char *dir;
	long uid = -1, gid = -1;

	if (argc > 2 && strcmp(argv[1], "--ignore-blocks") == 0) {
		ignore_blocks = 1;
		argv++;
		argc--;
	}
	if (argc == 4 && strcmp(argv[1], "--as-uid") == 0) {
		char *end;
		uid = strtol(argv[2], &end, 10);
		gid = *end == ':' ? strtol(end + 1, &end, 10) : uid;
		if (*end || uid < 0 || gid < 0) {
			fprintf(stderr, "conformance: bad --as-uid %s\n", argv[2]);
			return 2;
		}
		dir = argv[3];
	} else if (argc == 2) {
		dir = argv[1];
	} else {
		fprintf(stderr, "usage: conformance [--ignore-blocks] [--as-uid UID[:GID]] DIR\n");
		return 2;
	}
	if (uid >= 0) {
		if (setgroups(0, NULL) || setgid((gid_t)gid) || setuid((uid_t)uid)) {
			fprintf(stderr, "conformance: dropping to %ld:%ld: %s\n", uid, gid, strerror(errno));
			return 2;
		}
	}
	is_root = geteuid() == 0;
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (chdir(dir)) {
		fprintf(stderr, "conformance: chdir %s: %s\n", dir, strerror(errno));
		return 2;
	}
	printf("# conformance as uid %u gid %u\n", getuid(), getgid());

	section("fixture");
	walk("fixture");

	section("setup");
	if (ok(chk(mkdir("w", 0755)), "mkdir w") < 0 || chdir("w")) {
		fprintf(stderr, "conformance: cannot create the work directory\n");
		return 2;
	}
	t_open();
	t_truncate();
	t_attr();
	t_dirs();
	t_rename();
	t_links();
	t_xattr();
	t_locks();
	t_sparse();
	t_copy_mmap();
	t_misc();
	t_perms();
	t_readdir();

	section("final tree");
	if (chdir("..") == 0)
		walk(".");
	return 0;
}
