/* Description: iohelper, small I/O probes for the proxy tests, each printing one line.
 *
 *   iohelper read-alarm FILE MS   read(2) 4096 bytes of FILE with a SIGALRM (handler
 *                                 installed without SA_RESTART) due after MS ms; prints
 *                                 "read: EINTR after N ms" or "read: 12 bytes after N ms"
 *   iohelper poll FILE MS         poll(2) FILE for POLLIN up to MS ms; prints
 *                                 "poll: POLLIN after N ms" or "poll: timeout after N ms"
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

int main(int argc, char **argv)
{
	struct timespec t0;
	long ms;
	int fd;

	if (argc != 4 || (strcmp(argv[1], "read-alarm") && strcmp(argv[1], "poll"))) {
		fprintf(stderr, "usage: iohelper read-alarm|poll FILE MS\n");
		return 2;
	}
	ms = atol(argv[3]);
	fd = open(argv[2], O_RDONLY | (argv[1][0] == 'p' ? O_NONBLOCK : 0));
	if (fd < 0) {
		fprintf(stderr, "iohelper: open %s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (argv[1][0] == 'r') {
		struct sigaction sa;
		struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };
		char buf[4096];
		ssize_t n;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm;	/* no SA_RESTART: read(2) must see the signal */
		sigaction(SIGALRM, &sa, NULL);
		setitimer(ITIMER_REAL, &it, NULL);
		n = read(fd, buf, sizeof buf);
		if (n < 0)
			printf("read: %s after %ld ms\n", ename(errno), ms_since(&t0));
		else
			printf("read: %zd bytes after %ld ms\n", n, ms_since(&t0));
	} else {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)ms);
		if (r < 0)
			printf("poll: %s after %ld ms\n", ename(errno), ms_since(&t0));
		else if (r == 0)
			printf("poll: timeout after %ld ms\n", ms_since(&t0));
		else
			printf("poll: %s after %ld ms\n", p.revents & POLLIN ? "POLLIN" : "other", ms_since(&t0));
	}
	close(fd);
	return 0;
}
