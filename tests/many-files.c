/* Description: many-files DIR N
 *
 * Creates N small files under DIR (1000 per subdirectory), then stats every one, reads
 * and checks every one, lists every subdirectory, and unlinks everything again. Each
 * file's content names the file, so a mixed-up inode shows as a content mismatch.
 * Meant to run through a fuseproxy mount: the daemon must not keep a file descriptor per
 * inode the kernel has seen, or it runs out of descriptors (EMFILE) long before N.
 * Prints one line per phase with its duration; exits 1 at the first failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PER_DIR 1000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, const char *path)
{
	fprintf(stderr, "many-files: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void name_of(long i, char *path, size_t n)
{
	snprintf(path, n, "d%04ld/f%07ld", i / PER_DIR, i);
}

static void phase_done(const char *name, long n, double t0)
{
	double dt = now() - t0;
	printf("%-8s %8ld in %6.2f s (%.0f/s)\n", name, n, dt, dt > 0 ? (double)n / dt : 0.0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char path[64], want[64], got[64];
	long n, ndirs, i;
	double t0;
	struct stat st;

	if (argc != 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: many-files DIR N\n");
		return 2;
	}
	if (chdir(argv[1]))
		fail("chdir", argv[1]);
	ndirs = (n + PER_DIR - 1) / PER_DIR;

	t0 = now();
	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "d%04ld", i);
		if (mkdir(path, 0755))
			fail("mkdir", path);
	}
	for (i = 0; i < n; i++) {
		name_of(i, path, sizeof(path));
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			fail("create", path);
		int len = snprintf(want, sizeof(want), "%s\n", path);
		if (write(fd, want, (size_t)len) != len)
			fail("write", path);
		if (close(fd))
			fail("close", path);
	}
	phase_done("create", n, t0);

	t0 = now();
	for (i = 0; i < n; i++) {
		name_of(i, path, sizeof(path));
		if (stat(path, &st))
			fail("stat", path);
		if (!S_ISREG(st.st_mode) || st.st_size != (off_t)strlen(path) + 1) {
			errno = EBADMSG;
			fail("stat (wrong type/size)", path);
		}
	}
	phase_done("stat", n, t0);

	t0 = now();
	for (i = 0; i < n; i++) {
		name_of(i, path, sizeof(path));
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			fail("open", path);
		int len = snprintf(want, sizeof(want), "%s\n", path);
		ssize_t r = read(fd, got, sizeof(got));
		if (r < 0)
			fail("read", path);
		if (r != len || memcmp(got, want, (size_t)len) != 0) {
			errno = EBADMSG;
			fail("read (wrong content)", path);
		}
		close(fd);
	}
	phase_done("read", n, t0);

	t0 = now();
	long seen = 0;
	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "d%04ld", i);
		DIR *d = opendir(path);
		struct dirent *e;
		if (!d)
			fail("opendir", path);
		errno = 0;
		while ((e = readdir(d)))
			if (e->d_name[0] == 'f')
				seen++;
		if (errno)
			fail("readdir", path);
		closedir(d);
	}
	if (seen != n) {
		fprintf(stderr, "many-files: readdir found %ld files, expected %ld\n", seen, n);
		return 1;
	}
	phase_done("readdir", seen, t0);

	t0 = now();
	for (i = 0; i < n; i++) {
		name_of(i, path, sizeof(path));
		if (unlink(path))
			fail("unlink", path);
	}
	for (i = 0; i < ndirs; i++) {
		snprintf(path, sizeof(path), "d%04ld", i);
		if (rmdir(path))
			fail("rmdir", path);
	}
	phase_done("unlink", n, t0);
	return 0;
}
