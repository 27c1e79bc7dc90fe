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
#include "holder.h"
#include "journal.h"
#include <fcntl.h>
#include <sys/wait.h>

#define EXIT_RUNTIME 1
/* The journal memfd: sparse, pages used as records are appended. */
#define FP_JOURNAL_SIZE ((size_t)1 << 30)
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
"                       unanswered for S seconds (default: off); with\n"
"                       --restart, restart it instead\n"
"  --restart[=N]        when the backend dies (exits, closes its socket, or\n"
"                       times out), start it again and carry on: requests\n"
"                       wait instead of failing, what the kernel holds is\n"
"                       rebuilt, pending requests are re-injected (see\n"
"                       doc/recovery.md); N caps restarts per minute\n"
"                       (default: unlimited).  Also runs the proxy as a\n"
"                       worker process under a holder that keeps the\n"
"                       mount: a worker that dies (kill -9) is replaced\n"
"                       and the mount survives\n"
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
"  fuseproxy upgrade MNT --backend CMD\n"
"                       replace the backend without unmounting (needs\n"
"                       --restart; see doc/recovery.md)\n"
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
	int restart, restart_per_min;
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
		{ "restart",     optional_argument, NULL, 'R' },
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
		case 'R': {
			char *end;
			long n = optarg ? strtol(optarg, &end, 10) : 0;
			if (optarg && (*end || end == optarg || n < 1 || n > 1000000))
				usage_error("--restart=N wants a number of restarts per minute, "
					    "not '%s'", optarg);
			c->restart = 1;
			c->restart_per_min = (int)n;
			break;
		}
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
	if (c->restart && !c->backend)
		usage_error("--restart goes with --backend%s", "");
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
	{ "upgrade", fp_control_upgrade },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return run(argc, argv);
}

/* The mount of the holder mode, for the holder's unmount callback. */
struct held {
	struct cli *c;
	int argc;
	char **argv;
	struct fp_mount m;
};

static int serve(struct cli *c, int argc, char **argv, struct fp_mount *held_m,
		 const struct fp_holder_info *hi);

static int worker_run(void *arg, const struct fp_holder_info *hi)
{
	struct held *h = arg;
	return serve(h->c, h->argc, h->argv, &h->m, hi);
}

static void holder_unmount(void *arg)
{
	struct held *h = arg;
	if (fp_unmount(&h->m) < 0)
		fp_mount_abort(&h->m);
}

/* --backend CMD --restart: this process becomes the holder (holder.h):
 * mount, make every worker's /dev/fuse file and the journal, then run
 * the proxy in worker processes it restarts when they die. */
static int run_held(struct cli *c, int argc, char **argv)
{
	struct held h = { c, argc, argv, { 0 } };
	struct fp_holder_info hi;
	struct fp_holder_opts ho = {
		.verbose = c->verbose, .restart_per_min = c->restart_per_min, .mnt = c->mnt,
		.worker = worker_run, .arg = &h, .unmount = holder_unmount,
	};
	char err[512];
	int fds[256], rc = EXIT_RUNTIME, nfds = 0;

	memset(&hi, 0, sizeof hi);
	/* -j is at most 256 = FP_J_MAX_SLOTS; the workers read into the journal's slots (journal.h) */
	hi.journal_fd = fp_journal_create(FP_JOURNAL_SIZE, c->threads, FP_BUFSIZE);
	if (hi.journal_fd < 0) {
		fprintf(stderr, "fuseproxy: journal memfd: %s\n", strerror(-hi.journal_fd));
		return EXIT_RUNTIME;
	}
	if (fp_mount(&c->mo, &h.m, err, sizeof err) < 0) {
		fprintf(stderr, "fuseproxy: %s\n", err);
		close(hi.journal_fd);
		return EXIT_RUNTIME;
	}
	fds[nfds++] = h.m.fd;
	while (nfds < c->threads) {
		int fd = fp_fusedev_clone(h.m.fd, err, sizeof err);
		if (fd < 0) {
			fprintf(stderr, "fuseproxy: %s\n", err);
			goto out;
		}
		fds[nfds++] = fd;
	}
	hi.holder = getpid();
	hi.fds = fds;
	hi.nfds = nfds;
	rc = fp_holder_run(&ho, &hi);
out:
	fp_unmount(&h.m);
	for (int i = 1; i < nfds; i++)
		close(fds[i]);
	fp_mount_free(&h.m);
	close(hi.journal_fd);
	for (int i = 0; i < c->noptbuf; i++)
		free(c->optbuf[i]);
	return rc;
}

static int run(int argc, char **argv)
{
	struct cli c;
	sigset_t set;

	memset(&c, 0, sizeof c);
	c.mo.max_read = FP_MOUNT_MAX_READ;
	parse_args(&c, argc, argv);
	c.mo.mountpoint = c.mnt;
	raise_nofile();

	/* Block the signals we wait for before any thread exists, so every
	 * thread inherits the mask and only the main thread takes them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (c.backend && c.restart && fd_mountpoint(c.mnt) < 0)
		return run_held(&c, argc, argv);
	return serve(&c, argc, argv, NULL, NULL);
}

/* A worker taking over from a dead one: rebuild from the journal, get
 * back from the kernel what the dead one had read.  0 or -1. */
static int take_over(struct fp_fs *fs, struct fp_journal *j, const struct fp_holder_info *hi)
{
	char err[512];

	if (fwd_takeover(fs, j, hi->fds, hi->nfds, err, sizeof err) < 0) {
		fprintf(stderr, "fuseproxy: cannot take over from the dead worker: %s\n", err);
		return -1;
	}
	return 0;
}

static void journal_init(struct fp_session *s)
{
	fp_journal_set_kernel_init(s->journal, &s->kinit, &s->init, s->init_len, &s->wp);
}

/* Before the transport reads: the kernel queues again, unique | 1 << 63,
 * every request read by the dead worker and not answered. */
static void ask_resend(struct fp_session *s, const struct fp_holder_info *hi)
{
	struct fuse_out_header oh = { sizeof oh, FUSE_NOTIFY_RESEND, 0 };
	uint64_t offered = s->kinit.flags;

	if (s->kinit.flags & FUSE_INIT_EXT)
		offered |= (uint64_t)s->kinit.flags2 << 32;
	if (!(offered & FUSE_HAS_RESEND)) {
		fprintf(stderr, "fuseproxy: takeover: this kernel cannot resend requests "
			"(no FUSE_HAS_RESEND, Linux < 6.9): what the dead worker had read "
			"waits for ever\n");
		return;
	}
	if (write(hi->fds[0], &oh, sizeof oh) != (ssize_t)sizeof oh)
		fprintf(stderr, "fuseproxy: takeover: NOTIFY_RESEND: %s\n", strerror(errno));
}

static int serve(struct cli *cp, int argc, char **argv, struct fp_mount *held_m,
		 const struct fp_holder_info *hi)
{
	struct cli c = *cp;
	struct fp_session s;
	struct fp_mount m;
	struct fp_fs *fs;
	struct fp_fusedev *dev;
	struct fp_control *ctl = NULL;
	struct fp_journal *journal = NULL;
	struct fp_journal_init ji;
	char err[512], tpath[PATH_MAX], ppath[PATH_MAX];
	int e, rc = 0, takeover = 0;
	_Atomic int ended_err = 0;	/* written by a worker */
	sigset_t set;
	siginfo_t si;

	main_thread = pthread_self();
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);

	if (fp_session_init(&s, NULL, c.threads) < 0) {
		fprintf(stderr, "fuseproxy: out of memory\n");
		return EXIT_RUNTIME;
	}
	s.debug = c.debug;
	s.verbose = c.verbose;
	s.holder = hi;
	if (hi) {
		journal = fp_journal_attach(hi->journal_fd, err, sizeof err);
		if (!journal) {
			fprintf(stderr, "fuseproxy: %s\n", err);
			fp_session_fini(&s);
			return EXIT_RUNTIME;
		}
		s.journal = journal;
		s.init_done = journal_init;
		if (fp_journal_get_init(journal, &ji) == 0) {
			/* no INIT comes again: the one the kernel negotiated */
			takeover = 1;
			s.kinit = ji.kinit;
			s.init = ji.kout;
			s.init_len = ji.kout_len;
			s.wp = ji.wp;
			atomic_store(&s.initialized, 1);
			fprintf(stderr, "fuseproxy: takeover: worker %u (pid %d) starts %.1f ms after "
				"worker %u died\n", hi->worker_no, (int)getpid(),
				(double)(fp_now_ns() - hi->t_death) / 1e6, hi->worker_no - 1);
		}
		/* a later worker records next to the first one's trace */
		if (c.trace_db && hi->worker_no) {
			snprintf(tpath, sizeof tpath, "%s.%u", c.trace_db, hi->worker_no);
			c.trace_db = tpath;
		}
		if (c.trace_pcap && hi->worker_no && strcmp(c.trace_pcap, "-")) {
			snprintf(ppath, sizeof ppath, "%s.%u", c.trace_pcap, hi->worker_no);
			c.trace_pcap = ppath;
		}
	}
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
			fp_journal_detach(journal);
			return EXIT_RUNTIME;
		}
		s.trace_snaplen = c.snaplen;
		if (takeover)
			fp_trace_event(s.trace, FP_EV_WARNING, "proxy worker %u taking over from "
				       "worker %u (killed by signal %d)", hi->worker_no,
				       hi->worker_no - 1, hi->last_signal);
	} else if (c.filter || c.snaplen != FP_TRACE_SNAPLEN_ALL || c.drop_policy) {
		usage_error("--filter, -s and --drop-policy go with -w or --pcap%s", "");
	}
	if (c.backend) {
		struct fwd_options fo = {
			.cmd = c.backend, .log_fd = -1, .timeout = c.backend_timeout,
			.verbose = c.verbose, .debug = c.debug,
			.restart = c.restart, .restart_per_min = c.restart_per_min,
			.died = on_backend_died, .died_arg = NULL,
			.journal = journal, .takeover = takeover,
			.t_death = takeover ? hi->t_death : 0,
		};
		if (c.backend_log) {
			fo.log_fd = open(c.backend_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
					 0644);
			if (fo.log_fd < 0) {
				fprintf(stderr, "fuseproxy: --backend-log %s: %s\n", c.backend_log,
					strerror(errno));
				fp_session_fini(&s);
				fp_journal_detach(journal);
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
		fp_journal_detach(journal);
		return EXIT_RUNTIME;
	}
	s.fs = fs;

	int given_fd = held_m ? -1 : fd_mountpoint(c.mnt);
	if (held_m) {
		m = *held_m;	/* the holder's: unmounting it ends the connection */
	} else if (given_fd >= 0) {
		/* "/dev/fd/N": serve an already-open FUSE connection (e.g. as the
		 * backend of another fuseproxy) instead of mounting */
		memset(&m, 0, sizeof m);
		m.fd = given_fd;
	} else if (fp_mount(&c.mo, &m, err, sizeof err) < 0) {
		fprintf(stderr, "fuseproxy: %s\n", err);
		rc = EXIT_RUNTIME;
		goto out_session;
	}
	if (c.verbose && !takeover)
		fprintf(stderr, "fuseproxy: mounted %s on %s (connection %u, %d workers)\n",
			c.src ? c.src : c.backend, c.mnt, m.conn, c.threads);
	if (takeover && take_over(fs, journal, hi) < 0) {
		rc = EXIT_RUNTIME;
		goto out_unmount;
	}

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
	/* before anything is read: NOTIFY_RESEND requeues every request in a
	 * processing list, ours too, which would then come twice */
	if (takeover)
		ask_resend(&s, hi);
	if (hi) {
		void *slots[FP_J_MAX_SLOTS];
		int e = fp_journal_map_slots(journal);
		if (e < 0)
			fprintf(stderr, "fuseproxy: warning: cannot map the read slots in advance "
				"(%s): a worker killed while it reads a request may fail it\n",
				strerror(-e));
		for (int i = 0; i < hi->nfds; i++)
			slots[i] = fp_journal_slot(journal, i, NULL);
		dev = fp_fusedev_start_fds(hi->fds, slots, hi->nfds, &s, on_ended, &ended_err, err,
					   sizeof err);
	}
	else
		dev = fp_fusedev_start(m.fd, c.threads, given_fd >= 0, &s, on_ended, &ended_err,
				       err, sizeof err);
	if (!dev) {
		fprintf(stderr, "fuseproxy: %s\n", err);
		rc = EXIT_RUNTIME;
		goto out_unmount;
	}
	if (takeover) {
		fprintf(stderr, "fuseproxy: takeover: serving again %.1f ms after worker %u died "
			"(%.1f ms after this one started)\n",
			(double)(fp_now_ns() - hi->t_death) / 1e6, hi->worker_no - 1,
			(double)(fp_now_ns() - hi->t_fork) / 1e6);
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
	if (!held_m)
		fp_mount_free(&m);
out_session:
	fp_session_fini(&s);
	fs->ops->destroy(fs);
	if (close_trace(&s) < 0 && !rc)
		rc = EXIT_RUNTIME;
	fp_journal_detach(journal);
	for (int i = 0; i < c.noptbuf; i++)
		free(c.optbuf[i]);
	return rc;
}
