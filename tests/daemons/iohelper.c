/* Description: iohelper, small I/O probes for the proxy tests, each printing one line.
 *
 *   iohelper read-alarm FILE MS   read(2) 4096 bytes of FILE with a SIGALRM (handler
 *                                 installed without SA_RESTART) due after MS ms; prints
 *                                 "read: EINTR after N ms" or "read: 12 bytes after N ms"
 *   iohelper poll FILE MS         poll(2) FILE for POLLIN up to MS ms; prints
 *                                 "poll: POLLIN after N ms" or "poll: timeout after N ms"
 *   iohelper lock FILE rd|wr START LEN MS
 *                                 F_SETLK a POSIX lock; prints "lock: ok" or the errno
 *                                 name, then (if taken) holds it MS ms before exiting
 *   iohelper getlk FILE rd|wr START LEN
 *                                 F_GETLK; prints "getlk: F_UNLCK" or the conflicting
 *                                 lock "getlk: F_WRLCK 0+100 pid=N"
 * Exit status: 0 when the probe ran (whatever it found), 2 on usage or open errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

static int usage(void)
{
	fprintf(stderr, "usage: iohelper read-alarm|poll FILE MS\n"
			"       iohelper lock FILE rd|wr START LEN MS\n"
			"       iohelper getlk FILE rd|wr START LEN\n");
	return 2;
}

static int do_read_alarm(int fd, long ms)
{
	struct sigaction sa;
	struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };
	struct timespec t0;
	char buf[4096];
	ssize_t n;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;	/* no SA_RESTART: read(2) must see the signal */
	sigaction(SIGALRM, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	setitimer(ITIMER_REAL, &it, NULL);
	n = read(fd, buf, sizeof buf);
	if (n < 0)
		printf("read: %s after %ld ms\n", ename(errno), ms_since(&t0));
	else
		printf("read: %zd bytes after %ld ms\n", n, ms_since(&t0));
	return 0;
}

static int do_poll(int fd, long ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = poll(&p, 1, (int)ms);
	if (r < 0)
		printf("poll: %s after %ld ms\n", ename(errno), ms_since(&t0));
	else if (r == 0)
		printf("poll: timeout after %ld ms\n", ms_since(&t0));
	else
		printf("poll: %s after %ld ms\n", p.revents & POLLIN ? "POLLIN" : "other",
		       ms_since(&t0));
	return 0;
}

static int do_lock(int fd, int getlk, char **a)
{
	struct flock fl = { .l_whence = SEEK_SET, .l_start = atol(a[1]), .l_len = atol(a[2]) };

	if (!strcmp(a[0], "rd"))
		fl.l_type = F_RDLCK;
	else if (!strcmp(a[0], "wr"))
		fl.l_type = F_WRLCK;
	else
		return usage();
	if (getlk) {
		if (fcntl(fd, F_GETLK, &fl) < 0)
			printf("getlk: %s\n", ename(errno));
		else if (fl.l_type == F_UNLCK)
			printf("getlk: F_UNLCK\n");
		else
			printf("getlk: %s %lld+%lld pid=%d\n", fl.l_type == F_WRLCK ? "F_WRLCK" : "F_RDLCK",
			       (long long)fl.l_start, (long long)fl.l_len, (int)fl.l_pid);
		return 0;
	}
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		printf("lock: %s\n", ename(errno));
		return 0;
	}
	printf("lock: ok\n");
	fflush(stdout);
	usleep((useconds_t)atol(a[3]) * 1000);
	return 0;
}

int main(int argc, char **argv)
{
	int fd, r;

	if (argc < 3)
		return usage();
	if ((!strcmp(argv[1], "read-alarm") || !strcmp(argv[1], "poll")) && argc != 4)
		return usage();
	if (!strcmp(argv[1], "lock") && argc != 7)
		return usage();
	if (!strcmp(argv[1], "getlk") && argc != 6)
		return usage();
	if (!strcmp(argv[1], "lock") || !strcmp(argv[1], "getlk"))
		fd = open(argv[2], O_RDWR);
	else if (!strcmp(argv[1], "poll"))
		fd = open(argv[2], O_RDONLY | O_NONBLOCK);
	else if (!strcmp(argv[1], "read-alarm"))
		fd = open(argv[2], O_RDONLY);
	else
		return usage();
	if (fd < 0) {
		fprintf(stderr, "iohelper: open %s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	if (!strcmp(argv[1], "read-alarm"))
		r = do_read_alarm(fd, atol(argv[3]));
	else if (!strcmp(argv[1], "poll"))
		r = do_poll(fd, atol(argv[3]));
	else
		r = do_lock(fd, argv[1][0] == 'g', argv + 3);
	close(fd);
	return r;
}
