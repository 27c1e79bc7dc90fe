/* Description: metadata micro-benchmark for bench/run. In a fresh
 * subdirectory of DIR it creates N empty files (open O_CREAT|O_EXCL + close),
 * then stats them all, then unlinks them all, and prints the rate of each
 * phase. With -b B the three phases run per batch of B files, which keeps the
 * number of inodes a daemon caches at once below B (passthrough_hp pins one
 * fd per cached inode, and the hard fd limit here is 20000).
 *
 * Output, one line per phase, summed over batches:
 *   metaloop create files=20000 seconds=0.234567 ops_per_s=85263
 * Exit status: 0 on success, 1 on a failed syscall, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { PH_CREATE, PH_STAT, PH_UNLINK, PH_COUNT };
static const char *const phase_name[PH_COUNT] = { "create", "stat", "unlink" };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One syscall on file number i of the directory fd; returns 0 or -errno. */
static int do_one(int phase, int dirfd, long i)
{
	char name[32];
	struct stat st;
	int fd;

	snprintf(name, sizeof(name), "f%06ld", i);
	switch (phase) {
	case PH_CREATE:
		fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		return close(fd) < 0 ? -errno : 0;
	case PH_STAT:
		return fstatat(dirfd, name, &st, 0) < 0 ? -errno : 0;
	case PH_UNLINK:
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	}
	return -EINVAL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: metaloop [-n FILES] [-b BATCH] DIR\n"
		   "  -n FILES  files in total (default 20000)\n"
		   "  -b BATCH  create/stat/unlink in batches of BATCH files (default: all at once)\n");
}

static long parse_count(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > 100000000)
		return -1;
	return v;
}

int main(int argc, char **argv)
{
	double spent[PH_COUNT] = { 0 };
	long nfiles = 20000, batch = 0;
	char sub[64];
	int opt, dirfd = -1, ret = 1;
	int rootfd;

	while ((opt = getopt(argc, argv, "n:b:h")) != -1) {
		switch (opt) {
		case 'n':
			nfiles = parse_count(optarg);
			break;
		case 'b':
			batch = parse_count(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (nfiles < 0 || batch < 0) {
			fprintf(stderr, "metaloop: bad count '%s'\n", optarg);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (batch == 0 || batch > nfiles)
		batch = nfiles;

	rootfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		fprintf(stderr, "metaloop: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	/* A private subdirectory: a leftover from an aborted run cannot collide. */
	snprintf(sub, sizeof(sub), "metaloop.%ld", (long)getpid());
	if (mkdirat(rootfd, sub, 0755) < 0) {
		fprintf(stderr, "metaloop: mkdir %s: %s\n", sub, strerror(errno));
		goto out_root;
	}
	dirfd = openat(rootfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "metaloop: open %s: %s\n", sub, strerror(errno));
		goto out_rmdir;
	}

	for (long first = 0; first < nfiles; first += batch) {
		long last = first + batch < nfiles ? first + batch : nfiles;

		for (int ph = 0; ph < PH_COUNT; ph++) {
			double t0 = now_s();

			for (long i = first; i < last; i++) {
				int err = do_one(ph, dirfd, i);

				if (err) {
					fprintf(stderr, "metaloop: %s f%06ld: %s\n",
						phase_name[ph], i, strerror(-err));
					goto out_dir;
				}
			}
			spent[ph] += now_s() - t0;
		}
	}
	for (int ph = 0; ph < PH_COUNT; ph++)
		printf("metaloop %s files=%ld seconds=%.6f ops_per_s=%.0f\n", phase_name[ph],
		       nfiles, spent[ph], spent[ph] > 0 ? nfiles / spent[ph] : 0.0);
	ret = 0;

out_dir:
	/* After a failure, remove what this run left so the source stays clean. */
	if (ret)
		for (long i = 0; i < nfiles; i++)
			do_one(PH_UNLINK, dirfd, i);
	close(dirfd);
out_rmdir:
	if (unlinkat(rootfd, sub, AT_REMOVEDIR) < 0 && !ret) {
		fprintf(stderr, "metaloop: rmdir %s: %s\n", sub, strerror(errno));
		ret = 1;
	}
out_root:
	close(rootfd);
	return ret;
}
