/* \summary: fuseproxy command line: parse options, mount, run workers,
 * unmount on SIGINT/SIGTERM or when the kernel ends the connection. */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fusedev.h"
#include "mount.h"
#include "passthrough.h"
#include "session.h"
#include "forward.h"
#include "daemon.h"
#include "control.h"
#include "trace.h"
#include <fcntl.h>
#include <sys/wait.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

static const char usage_text[] =
"usage: fuseproxy [options] --passthrough SRC MNT\n"
"       fuseproxy [options] --backend 'CMD [ARGS]' MNT\n"
"\n"
"Mount MNT through the kernel's /dev/fuse and serve it either with the\n"
"built-in passthrough of directory SRC, or by forwarding every request to an\n"
"unmodified FUSE daemon CMD, started with /dev/fd/N (a socket) as its FUSE\n"
"device.  Runs in the foreground until SIGINT/SIGTERM (unmounts) or until\n"
"MNT is unmounted.\n"
"\n"
"options:\n"
"  --passthrough SRC    serve directory SRC with the built-in passthrough\n"
"  --backend CMD        run daemon CMD (split into words like a shell would,\n"
"                       without running one); {} marks where /dev/fd/N goes,\n"
"                       else it is appended: --backend './myfs -f'\n"
"  --backend-log FILE   the backend's stdout/stderr (default: our stderr)\n"
"  --backend-timeout S  give up on a backend that leaves a request\n"
"                       unanswered for S seconds (default: off)\n"
"  -d, --debug          print one line per request and reply, with latency\n"
"  -v, --verbose        lifecycle messages (INIT negotiation, mount, exit)\n"
"  -j, --threads N      worker threads, each with its own /dev/fuse clone\n"
"                       (default: twice the CPUs, at least 4)\n"
"  -o OPT[,OPT...]      mount options: allow_other, default_permissions, ro,\n"
"                       max_read=N, fsname=NAME, subtype=NAME, nosuid, nodev,\n"
"                       noexec, noatime, sync, dirsync\n"
"                       passthrough options: writeback (kernel writeback cache),\n"
"                       entry_timeout=SECS, attr_timeout=SECS (default 1)\n"
"recording (see doc/trace-format.md):\n"
"  -w FILE              record every exchange to sqlite trace FILE\n"
"  --pcap FILE          record every message to pcap FILE (LINKTYPE_USER0;\n"
"                       decode with contrib/wireshark/fuse.lua); - is stdout\n"
"  -s, --snaplen N      keep N bytes of each message body beyond headers and\n"
"                       fixed arguments (0 = headers only; default: all)\n"
"  --filter OPS         record only these opcodes: 'lookup,read,write', or\n"
"                       all but these: '!forget,!batch_forget'\n"
"  --drop-policy P      block (default with -w: complete traces) or drop\n"
"                       (never wait for the writer; drops are counted)\n"
"\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           print this help and exit\n"
"\n"
"subcommands:\n"
"  fuseproxy status MNT list requests in flight now, oldest first\n"
"\n"
"exit status: 0 after a clean unmount, 1 on a runtime error (mount failed,\n"
"SRC unusable, backend died or crashed), 2 on a usage error.\n";

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "fuseproxy: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'fuseproxy --help' for more information.\n");
	exit(EXIT_USAGE);
}

struct cli {
	const char *src;
	const char *backend;
	const char *backend_log;
	double backend_timeout;
	const char *trace_db, *trace_pcap, *filter;
	uint32_t snaplen;
	int drop_policy;
	const char *mnt;
	int debug, verbose, threads;
	struct fp_mount_opts mo;
	struct pt_options pt;
	char *optbuf[64];
	int noptbuf;
};

static double parse_secs(const char *opt, const char *v)
{
	char *end;
	double d = strtod(v, &end);
	if (end == v || *end || d < 0 || d > 1e9)
		usage_error("bad number of seconds for %s", opt);
	return d;
}

static void parse_o(struct cli *c, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;

	if (!copy || c->noptbuf >= 64)
		usage_error("too many -o options%s", "");
	c->optbuf[c->noptbuf++] = copy;	/* fsname/subtype point into it */
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		int r = fp_mount_parse_opt(&c->mo, o);
		if (r < 0)
			usage_error("bad value in -o %s", o);
		if (r > 0)
			continue;
		if (!strcmp(o, "writeback"))
			c->pt.writeback = 1;
		else if (!strcmp(o, "no_writeback"))
			c->pt.writeback = 0;
		else if (!strncmp(o, "entry_timeout=", 14))
			c->pt.entry_timeout = parse_secs(o, o + 14);
		else if (!strncmp(o, "attr_timeout=", 13))
			c->pt.attr_timeout = parse_secs(o, o + 13);
		else
			usage_error("unknown option -o %s", o);
	}
}

static void parse_args(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "passthrough", required_argument, NULL, 'P' },
		{ "backend",     required_argument, NULL, 'B' },
		{ "backend-log", required_argument, NULL, 'L' },
		{ "backend-timeout", required_argument, NULL, 'T' },
		{ "debug",       no_argument,       NULL, 'd' },
		{ "verbose",     no_argument,       NULL, 'v' },
		{ "threads",     required_argument, NULL, 'j' },
		{ "pcap",        required_argument, NULL, 'p' },
		{ "snaplen",     required_argument, NULL, 's' },
		{ "filter",      required_argument, NULL, 'F' },
		{ "drop-policy", required_argument, NULL, 'D' },
		{ "version",     no_argument,       NULL, 'V' },
		{ "help",        no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	c->pt.entry_timeout = 1.0;
	c->pt.attr_timeout = 1.0;
	c->pt.writeback = 0;
	c->snaplen = FP_TRACE_SNAPLEN_ALL;
	while ((ch = getopt_long(argc, argv, "dvj:o:w:s:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'P': c->src = optarg; break;
		case 'B': c->backend = optarg; break;
		case 'L': c->backend_log = optarg; break;
		case 'T': c->backend_timeout = parse_secs("--backend-timeout", optarg); break;
		case 'd': c->debug = 1; break;
		case 'v': c->verbose++; break;
		case 'j': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 256)
				usage_error("-j wants 1..256 threads, not '%s'", optarg);
			c->threads = (int)n;
			break;
		}
		case 'o': parse_o(c, optarg); break;
		case 'w': c->trace_db = optarg; break;
		case 'p': c->trace_pcap = optarg; break;
		case 'F': c->filter = optarg; break;
		case 's': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end || end == optarg || n >= UINT32_MAX)
				usage_error("-s wants a byte count, not '%s'", optarg);
			c->snaplen = (uint32_t)n;
			break;
		}
		case 'D':
			if (!strcmp(optarg, "block"))
				c->drop_policy = FP_TRACE_BLOCK;
			else if (!strcmp(optarg, "drop"))
				c->drop_policy = FP_TRACE_DROP;
			else
				usage_error("--drop-policy is block or drop, not '%s'", optarg);
			break;
		case 'V': printf("fuseproxy %s (FUSE protocol %u.%u)\n", FP_VERSION,
				 FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION);
			  exit(0);
		case 'h': fputs(usage_text, stdout); exit(0);
		default:
			fprintf(stderr, "Try 'fuseproxy --help' for more information.\n");
			exit(EXIT_USAGE);
		}
	}
	if (optind >= argc)
		usage_error("missing mountpoint%s", "");
	c->mnt = argv[optind++];
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!c->src && !c->backend)
		usage_error("no filesystem given: use --passthrough SRC or --backend CMD%s", "");
	if (c->src && c->backend)
		usage_error("--passthrough and --backend exclude each other%s", "");
	if (c->backend && (c->pt.writeback || c->pt.entry_timeout != 1.0 ||
			   c->pt.attr_timeout != 1.0))
		usage_error("-o writeback/entry_timeout/attr_timeout are passthrough options; "
			    "the backend decides those%s", "");
	if (!c->threads) {
		/* twice the CPUs, at least 4: a worker blocks for the whole of a
		 * request (a disk read, a backend round trip), and applications
		 * issue more requests at once than there are CPUs */
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		n = n > 0 ? 2 * n : 4;
		c->threads = (int)(n < 4 ? 4 : n > 64 ? 64 : n);
	}
	c->pt.source = c->src;
	c->pt.verbose = c->verbose;
}

static pthread_t main_thread;
static int run(int argc, char **argv);

/* The connection ended on its own (umount, abort): wake the main thread. */
static void on_ended(void *arg, int err)
{
	_Atomic int *status = arg;
	atomic_store(status, err);
	pthread_kill(main_thread, SIGUSR2);
}

static void on_backend_died(void *arg)
{
	(void)arg;
	pthread_kill(main_thread, SIGUSR2);
}

/* Raise the soft fd limit to the hard one: the passthrough's fd cache and
 * open files both draw from it. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The libfuse convention: a mountpoint of exactly "/dev/fd/N" is an
 * already-open FUSE fd.  Returns N, or -1 for an ordinary mountpoint. */
static int fd_mountpoint(const char *mnt)
{
	char *end;
	unsigned long n;

	if (strncmp(mnt, "/dev/fd/", 8) || !mnt[8])
		return -1;
	n = strtoul(mnt + 8, &end, 10);
	if (*end || n > INT_MAX || fcntl((int)n, F_GETFD) < 0)
		return -1;
	return (int)n;
}

/* Flush and close the trace after every producer stopped; say what was
 * lost.  Returns 0 or -errno. */
static int close_trace(struct fp_session *s)
{
	struct fp_trace_stats st;
	char err[512];
	int r;

	if (!s->trace)
		return 0;
	r = fp_trace_close(s->trace, &st, err, sizeof err);
	s->trace = NULL;
	if (r < 0)
		fprintf(stderr, "fuseproxy: trace: %s\n", err);
	if (st.dropped || st.lost)
		fprintf(stderr, "fuseproxy: trace: %llu records dropped (rings full), %llu lost "
			"(write errors) of %llu\n", (unsigned long long)st.dropped,
			(unsigned long long)st.lost, (unsigned long long)st.records);
	return r;
}

/* Subcommands, git style: `fuseproxy status MNT`. */
static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "status", fp_control_status },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return run(argc, argv);
}

static int run(int argc, char **argv)
{
	struct cli c;
	struct fp_session s;
	struct fp_mount m;
	struct fp_fs *fs;
	struct fp_fusedev *dev;
	struct fp_control *ctl = NULL;
	char err[512];
	int e, rc = 0;
	_Atomic int ended_err = 0;	/* written by a worker */
	sigset_t set;
	siginfo_t si;

	memset(&c, 0, sizeof c);
	parse_args(&c, argc, argv);
	c.mo.mountpoint = c.mnt;
	raise_nofile();

	/* Block the signals we wait for before any thread exists, so every
	 * thread inherits the mask and only the main thread takes them. */
	main_thread = pthread_self();
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (fp_session_init(&s, NULL, c.threads) < 0) {
		fprintf(stderr, "fuseproxy: out of memory\n");
		return EXIT_RUNTIME;
	}
	s.debug = c.debug;
	s.verbose = c.verbose;
	if (c.trace_db || c.trace_pcap) {
		struct fp_trace_opts to = {
			.db_path = c.trace_db, .pcap_path = c.trace_pcap,
			.nworkers = c.threads + 1,	/* + the forwarder's reader */
			.snaplen = c.snaplen, .drop_policy = c.drop_policy,
			.filter = c.filter, .argc = argc, .argv = argv,
			.mountpoint = c.mnt, .transport = "fusedev", .backend = c.backend,
		};
		if (fp_trace_open(&s.trace, &to, err, sizeof err) < 0) {
			fprintf(stderr, "fuseproxy: %s\n", err);
			fp_session_fini(&s);
			return EXIT_RUNTIME;
		}
		s.trace_snaplen = c.snaplen;
	} else if (c.filter || c.snaplen != FP_TRACE_SNAPLEN_ALL || c.drop_policy) {
		usage_error("--filter, -s and --drop-policy go with -w or --pcap%s", "");
	}
	if (c.backend) {
		struct fwd_options fo = {
			.cmd = c.backend, .log_fd = -1, .timeout = c.backend_timeout,
			.verbose = c.verbose, .debug = c.debug,
			.died = on_backend_died, .died_arg = NULL,
		};
		if (c.backend_log) {
			fo.log_fd = open(c.backend_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
					 0644);
			if (fo.log_fd < 0) {
				fprintf(stderr, "fuseproxy: --backend-log %s: %s\n", c.backend_log,
					strerror(errno));
				fp_session_fini(&s);
				return EXIT_RUNTIME;
			}
		}
		fs = fwd_create(&fo, &s, err, sizeof err);
		if (fo.log_fd >= 0)
			close(fo.log_fd);
	} else {
		fs = pt_create(&c.pt, &e, err, sizeof err);
	}
	if (!fs) {
		fprintf(stderr, "fuseproxy: %s\n", err);
		close_trace(&s);
		fp_session_fini(&s);
		return EXIT_RUNTIME;
	}
	s.fs = fs;

	int given_fd = fd_mountpoint(c.mnt);
	if (given_fd >= 0) {
		/* "/dev/fd/N": serve an already-open FUSE connection (e.g. as the
		 * backend of another fuseproxy) instead of mounting */
		memset(&m, 0, sizeof m);
		m.fd = given_fd;
	} else if (fp_mount(&c.mo, &m, err, sizeof err) < 0) {
		fprintf(stderr, "fuseproxy: %s\n", err);
		rc = EXIT_RUNTIME;
		goto out_session;
	}
	if (c.verbose)
		fprintf(stderr, "fuseproxy: mounted %s on %s (connection %u, %d workers)\n",
			c.src ? c.src : c.backend, c.mnt, m.conn, c.threads);

	{
		char what[PATH_MAX + 64];
		snprintf(what, sizeof what, c.backend ? "backend '%s'" : "passthrough %s",
			 c.backend ? c.backend : c.src);
		ctl = m.mountpoint ? fp_control_start(&s, m.mountpoint, what, err, sizeof err)
				   : NULL;
		if (!ctl && m.mountpoint)
			fprintf(stderr, "fuseproxy: warning: %s; `fuseproxy status` will not work\n",
				err);
	}
	dev = fp_fusedev_start(m.fd, c.threads, given_fd >= 0, &s, on_ended, &ended_err, err, sizeof err);
	if (!dev) {
		fprintf(stderr, "fuseproxy: %s\n", err);
		rc = EXIT_RUNTIME;
		goto out_unmount;
	}

	for (;;) {
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue;
		if (sig == SIGUSR2) {
			const char *why = c.backend ? fwd_death_reason(fs) : NULL;
			if (why) {
				fprintf(stderr, "fuseproxy: unmounting %s: the backend %s\n",
					c.mnt, why);
				rc = EXIT_RUNTIME;
			} else if (c.verbose) {
				fprintf(stderr, "fuseproxy: connection ended%s\n",
					ended_err ? " with an error" : "");
			}
			if (ended_err)
				rc = EXIT_RUNTIME;
			break;
		}
		if (c.verbose)
			fprintf(stderr, "fuseproxy: %s, unmounting %s\n", strsignal(sig), c.mnt);
		break;
	}

	/* Unmount first: a successful umount ends the connection, and every
	 * worker's read() returns ENODEV. */
	e = fp_unmount(&m);
	if (e < 0)
		fprintf(stderr, "fuseproxy: unmount %s: %s\n", c.mnt, strerror(-e));
	if (fp_fusedev_stop(dev, 2000) == -ETIMEDOUT) {
		/* still busy (lazily detached with users, or a stuck call):
		 * abort the connection so nothing waits on us any more */
		fprintf(stderr, "fuseproxy: workers still busy, aborting connection %u\n",
			m.conn);
		fp_mount_abort(&m);
		fp_fusedev_stop(dev, 5000);
	}
	fp_session_drain(&s);
	if (c.backend) {
		/* The backend's replies go out on the workers' fds: stop it
		 * before those close.  A libfuse daemon whose device goes away
		 * any other way than a real unmount (ENODEV) exits 1, so once we
		 * have asked it to stop only a crash counts as a failure. */
		int st = fwd_stop(fs);
		if (!rc && WIFSIGNALED(st) && WTERMSIG(st) != SIGTERM) {
			char d[96];
			fp_daemon_describe(st, d, sizeof d);
			fprintf(stderr, "fuseproxy: backend %s while stopping\n", d);
			rc = EXIT_RUNTIME;
		}
	}
	fp_fusedev_free(dev);
	if (c.verbose)
		fprintf(stderr, "fuseproxy: %llu requests, %llu errors\n",
			(unsigned long long)s.nreq, (unsigned long long)s.nerr);
out_unmount:
	fp_control_stop(ctl);
	fp_unmount(&m);
	fp_mount_free(&m);
out_session:
	fp_session_fini(&s);
	fs->ops->destroy(fs);
	if (close_trace(&s) < 0 && !rc)
		rc = EXIT_RUNTIME;
	for (int i = 0; i < c.noptbuf; i++)
		free(c.optbuf[i]);
	return rc;
}
