/* Description: notifier, a libfuse3 low-level daemon whose files change behind the
 * kernel's caches and which tells the kernel so with notifications.  fuseproxy's
 * tests use it to show that every notification crosses the proxy, and that the
 * kernel's answer to RETRIEVE (NOTIFY_REPLY) comes back through it.
 *
 *   notifier [-f] [--no-notify] [--interval-ms=N] [libfuse options] MNT|/dev/fd/N
 *
 * Files (all cached for an hour unless a notification says otherwise):
 *   clock      "generation NNNNNN\n"; each change bumps the number  -> INVAL_INODE
 *   entry      names inode "entry one\n", then "entry two\n"        -> INVAL_ENTRY
 *   victim     removed from the directory                           -> DELETE
 *   stored     the daemon's bytes are "daemon's own bytes\n"; STORE puts
 *              "bytes from a STORE\n" into the kernel's page cache    -> STORE
 *   retrieved  what the last RETRIEVE brought back from the page cache of stored
 *                                                                     -> RETRIEVE
 *   pollable   poll() says POLLIN only after "poll"                  -> POLL
 *   ctl        write a command to make one of the above happen:
 *              inval_inode | inval_entry | delete | store | retrieve | poll
 *              The write returns once the notification was sent (for retrieve:
 *              once the kernel's answer arrived, or after 5 s); the daemon logs
 *              "notifier: NAME -> result" on stderr.
 *
 *   --no-notify       change the files but send no notification (the control case:
 *                     readers must then see stale cached data)
 *   --interval-ms=N   also bump clock (with INVAL_INODE) every N ms
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LONG_TIMEOUT 3600.0

enum {
	INO_ROOT = 1, INO_CLOCK, INO_CTL, INO_ENTRY_ONE, INO_ENTRY_TWO, INO_VICTIM,
	INO_STORED, INO_RETRIEVED, INO_POLLABLE, INO_MAX
};

static const char daemon_bytes[] = "daemon's own bytes\n";
static const char store_bytes[] = "bytes from a STORE\n";
_Static_assert(sizeof daemon_bytes == sizeof store_bytes, "same length: same i_size");

static struct {
	unsigned interval_ms;
	int no_notify;
} opt;

static const struct fuse_opt optspec[] = {
	{ "--interval-ms=%u", offsetof(typeof(opt), interval_ms), 0 },
	{ "--no-notify", offsetof(typeof(opt), no_notify), 1 },
	FUSE_OPT_END
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t retrieved_cv = PTHREAD_COND_INITIALIZER;
static struct fuse_session *se;
static unsigned generation;
static int entry_two;			/* "entry" names INO_ENTRY_TWO */
static int victim_gone;
static int poll_ready;
static struct fuse_pollhandle *poll_ph;
static char retrieved[4096] = "nothing retrieved\n";
static size_t retrieved_len = 18;
static unsigned retrieve_cookie, retrieve_done;

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
	if (write(2, line, (size_t)n) < 0)
		return;
}

/* The file's bytes now (caller holds mu); returns the length. */
static size_t content(fuse_ino_t ino, char *buf, size_t cap)
{
	switch (ino) {
	case INO_CLOCK:
		return (size_t)snprintf(buf, cap, "generation %06u\n", generation);
	case INO_ENTRY_ONE:
		return (size_t)snprintf(buf, cap, "entry one\n");
	case INO_ENTRY_TWO:
		return (size_t)snprintf(buf, cap, "entry two\n");
	case INO_VICTIM:
		return (size_t)snprintf(buf, cap, "victim\n");
	case INO_STORED:
		return (size_t)snprintf(buf, cap, "%s", daemon_bytes);
	case INO_RETRIEVED:
		memcpy(buf, retrieved, retrieved_len < cap ? retrieved_len : cap);
		return retrieved_len < cap ? retrieved_len : cap;
	case INO_POLLABLE:
		return (size_t)snprintf(buf, cap, "%s", poll_ready ? "ready\n" : "not ready\n");
	default:
		return 0;
	}
}

static int to_stat(fuse_ino_t ino, struct stat *st)
{
	char buf[4096];

	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	/* fixed times: nothing may invalidate the caches but our notifications */
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = 1700000000;
	if (ino == INO_ROOT) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (ino <= INO_ROOT || ino >= INO_MAX)
		return -ENOENT;
	st->st_mode = S_IFREG | (ino == INO_CTL ? 0666 : 0644);
	st->st_nlink = ino == INO_VICTIM && victim_gone ? 0 : 1;
	st->st_size = (off_t)content(ino, buf, sizeof buf);
	return 0;
}

/* The directory: name -> inode, as it is now (caller holds mu). */
static fuse_ino_t child(const char *name)
{
	if (!strcmp(name, "clock")) return INO_CLOCK;
	if (!strcmp(name, "ctl")) return INO_CTL;
	if (!strcmp(name, "entry")) return entry_two ? INO_ENTRY_TWO : INO_ENTRY_ONE;
	if (!strcmp(name, "victim") && !victim_gone) return INO_VICTIM;
	if (!strcmp(name, "stored")) return INO_STORED;
	if (!strcmp(name, "retrieved")) return INO_RETRIEVED;
	if (!strcmp(name, "pollable")) return INO_POLLABLE;
	return 0;
}

static const char *const names[] = {
	"clock", "ctl", "entry", "victim", "stored", "retrieved", "pollable"
};

static double timeout_of(fuse_ino_t ino)
{
	/* ctl and retrieved are read fresh each time; the rest relies on notifications */
	return ino == INO_CTL || ino == INO_RETRIEVED || ino == INO_POLLABLE ? 0 : LONG_TIMEOUT;
}

static void nf_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* a changed mtime must not invalidate anything behind our back */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

static void nf_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	fuse_ino_t ino;

	memset(&e, 0, sizeof e);
	pthread_mutex_lock(&mu);
	ino = parent == INO_ROOT ? child(name) : 0;
	if (ino)
		to_stat(ino, &e.attr);
	pthread_mutex_unlock(&mu);
	if (!ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = ino;
	e.generation = 1;
	e.attr_timeout = timeout_of(ino);
	e.entry_timeout = ino == INO_CTL ? 0 : LONG_TIMEOUT;
	fuse_reply_entry(req, &e);
}

static void nf_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int r;

	(void)fi;
	pthread_mutex_lock(&mu);
	r = to_stat(ino, &st);
	pthread_mutex_unlock(&mu);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout_of(ino));
}

static void nf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)attr;
	(void)to_set;
	/* only "> ctl" (O_TRUNC) gets here; nothing to change */
	nf_getattr(req, ino, fi);
}

static void nf_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == INO_ROOT) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (ino == INO_CTL || ino == INO_RETRIEVED || ino == INO_POLLABLE) {
		fi->direct_io = 1;
	} else {
		/* keep what is cached: only notifications may drop or fill it */
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

static void nf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char buf[4096];
	size_t len;

	(void)fi;
	pthread_mutex_lock(&mu);
	len = content(ino, buf, sizeof buf);
	pthread_mutex_unlock(&mu);
	if (ino == INO_STORED)
		say("notifier: READ of stored reached the daemon");
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, buf + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static void report(const char *what, int r)
{
	say("notifier: %s -> %s", what, r ? strerror(-r) : "ok");
}

/* One command from ctl.  Notifications go out before the write is answered, so the
 * writer knows they were delivered when its write(2) returns. */
static void command(const char *cmd)
{
	int r = 0;

	if (!strcmp(cmd, "inval_inode")) {
		pthread_mutex_lock(&mu);
		generation++;
		pthread_mutex_unlock(&mu);
		if (!opt.no_notify)
			report("INVAL_INODE clock", fuse_lowlevel_notify_inval_inode(se, INO_CLOCK, 0, 0));
	} else if (!strcmp(cmd, "inval_entry")) {
		pthread_mutex_lock(&mu);
		entry_two = !entry_two;
		pthread_mutex_unlock(&mu);
		if (!opt.no_notify)
			report("INVAL_ENTRY entry",
			       fuse_lowlevel_notify_inval_entry(se, INO_ROOT, "entry", 5));
	} else if (!strcmp(cmd, "delete")) {
		pthread_mutex_lock(&mu);
		victim_gone = 1;
		pthread_mutex_unlock(&mu);
		if (!opt.no_notify)
			report("DELETE victim",
			       fuse_lowlevel_notify_delete(se, INO_ROOT, INO_VICTIM, "victim", 6));
	} else if (!strcmp(cmd, "store")) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(sizeof store_bytes - 1);
		bv.buf[0].mem = (void *)store_bytes;
		if (!opt.no_notify)
			report("STORE stored", fuse_lowlevel_notify_store(se, INO_STORED, 0, &bv, 0));
	} else if (!strcmp(cmd, "retrieve")) {
		unsigned cookie;
		struct timespec until;
		pthread_mutex_lock(&mu);
		cookie = ++retrieve_cookie;
		pthread_mutex_unlock(&mu);
		if (opt.no_notify)
			return;
		r = fuse_lowlevel_notify_retrieve(se, INO_STORED, 4096, 0, (void *)(uintptr_t)cookie);
		report("RETRIEVE stored", r);
		if (r)
			return;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		pthread_mutex_lock(&mu);
		while (retrieve_done != cookie &&
		       pthread_cond_timedwait(&retrieved_cv, &mu, &until) != ETIMEDOUT)
			;
		if (retrieve_done != cookie)
			say("notifier: no NOTIFY_REPLY for RETRIEVE %u within 5 s", cookie);
		pthread_mutex_unlock(&mu);
	} else if (!strcmp(cmd, "poll")) {
		struct fuse_pollhandle *ph;
		pthread_mutex_lock(&mu);
		poll_ready = 1;
		ph = poll_ph;
		poll_ph = NULL;
		pthread_mutex_unlock(&mu);
		if (!ph)
			say("notifier: poll: nobody is polling");
		else if (!opt.no_notify)
			report("POLL pollable", fuse_lowlevel_notify_poll(ph));
		if (ph)
			fuse_pollhandle_destroy(ph);
	} else {
		say("notifier: unknown command '%s'", cmd);
	}
}

static void nf_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	char cmd[64];
	size_t n = size < sizeof cmd - 1 ? size : sizeof cmd - 1;

	(void)off;
	(void)fi;
	if (ino != INO_CTL) {
		fuse_reply_err(req, EACCES);
		return;
	}
	memcpy(cmd, data, n);
	while (n && (cmd[n - 1] == '\n' || cmd[n - 1] == ' '))
		n--;
	cmd[n] = 0;
	command(cmd);
	fuse_reply_write(req, size);
}

static void nf_retrieve_reply(fuse_req_t req, void *cookie, fuse_ino_t ino, off_t offset,
			      struct fuse_bufvec *bufv)
{
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(sizeof retrieved);
	char tmp[sizeof retrieved];
	ssize_t n;

	dst.buf[0].mem = tmp;
	n = fuse_buf_copy(&dst, bufv, 0);
	say("notifier: NOTIFY_REPLY for RETRIEVE %u: ino %lu offset %lld, %zd bytes",
	    (unsigned)(uintptr_t)cookie, (unsigned long)ino, (long long)offset, n);
	pthread_mutex_lock(&mu);
	if (n >= 0) {
		memcpy(retrieved, tmp, (size_t)n);
		retrieved_len = (size_t)n;
	}
	retrieve_done = (unsigned)(uintptr_t)cookie;
	pthread_cond_broadcast(&retrieved_cv);
	pthread_mutex_unlock(&mu);
	fuse_reply_none(req);
}

static void nf_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	unsigned revents = 0;

	(void)fi;
	pthread_mutex_lock(&mu);
	if (ino != INO_POLLABLE || poll_ready) {
		revents = POLLIN;
	} else if (ph) {
		/* remember the newest handle: "poll" wakes it */
		if (poll_ph)
			fuse_pollhandle_destroy(poll_ph);
		poll_ph = ph;
		ph = NULL;
	}
	pthread_mutex_unlock(&mu);
	if (ph)
		fuse_pollhandle_destroy(ph);
	fuse_reply_poll(req, revents);
}

static void nf_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char buf[4096];
	size_t used = 0;
	struct stat st;

	(void)fi;
	if (ino != INO_ROOT) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > sizeof buf)
		size = sizeof buf;
	pthread_mutex_lock(&mu);
	/* offsets: 1 ".", 2 "..", 3 + i names[i] */
	for (off_t o = off; o < 2 + (off_t)(sizeof names / sizeof names[0]); o++) {
		const char *name = o == 0 ? "." : o == 1 ? ".." : names[o - 2];
		fuse_ino_t c = o < 2 ? INO_ROOT : child(name);
		size_t need;
		if (!c)
			continue;
		to_stat(c, &st);
		need = fuse_add_direntry(req, buf + used, size - used, name, &st, o + 1);
		if (need > size - used)
			break;
		used += need;
	}
	pthread_mutex_unlock(&mu);
	fuse_reply_buf(req, buf, used);
}

static void *ticker(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(opt.interval_ms * 1000u);
		command("inval_inode");
	}
	return NULL;
}

static const struct fuse_lowlevel_ops ops = {
	.init = nf_init,
	.lookup = nf_lookup,
	.getattr = nf_getattr,
	.setattr = nf_setattr,
	.open = nf_open,
	.read = nf_read,
	.write = nf_write,
	.readdir = nf_readdir,
	.poll = nf_poll,
	.retrieve_reply = nf_retrieve_reply,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct fuse_loop_config *cfg;
	pthread_t t;
	int ret = 1;

	if (fuse_opt_parse(&args, &opt, optspec, NULL) == -1)
		return 1;
	if (fuse_parse_cmdline(&args, &o) != 0)
		return 1;
	if (o.show_help || !o.mountpoint) {
		printf("usage: %s [-f] [--no-notify] [--interval-ms=N] MNT|/dev/fd/N\n", argv[0]);
		fuse_cmdline_help();
		ret = !o.show_help;
		goto out_args;
	}
	se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(o.foreground);
	if (opt.interval_ms && pthread_create(&t, NULL, ticker, NULL) == 0)
		pthread_detach(t);
	/* multi-threaded: a RETRIEVE's NOTIFY_REPLY arrives while ctl's WRITE waits */
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 8);
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	fuse_session_unmount(se);
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;	/* the loop reports the signal that ended it */
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
