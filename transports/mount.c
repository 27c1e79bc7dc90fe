/* \summary: mount/unmount of FUSE filesystems.
 *
 * As root we call mount(2) ourselves: open /dev/fuse, then
 * mount(fsname, mnt, "fuse.<subtype>", flags, "fd=N,rootmode=40000,
 * user_id=U,group_id=G[,allow_other][,default_permissions][,max_read=N]").
 * The kernel queues INIT and mount returns before it is answered.
 *
 * Otherwise fusermount3 mounts for us and passes the /dev/fuse fd back over
 * the socket named in $_FUSE_COMMFD (SCM_RIGHTS).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount.h"

struct mflag { const char *name; unsigned long set; unsigned long clear; };

static const struct mflag mflags[] = {
	{ "nosuid",   MS_NOSUID, 0 },  { "suid",   0, MS_NOSUID },
	{ "nodev",    MS_NODEV, 0 },   { "dev",    0, MS_NODEV },
	{ "noexec",   MS_NOEXEC, 0 },  { "exec",   0, MS_NOEXEC },
	{ "noatime",  MS_NOATIME, 0 }, { "atime",  0, MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "relatime", MS_RELATIME, 0 }, { "strictatime", MS_STRICTATIME, 0 },
	{ "sync",     MS_SYNCHRONOUS, 0 }, { "async", 0, MS_SYNCHRONOUS },
	{ "dirsync",  MS_DIRSYNC, 0 },
	{ "rw",       0, MS_RDONLY },
	{ NULL, 0, 0 }
};

int fp_mount_parse_opt(struct fp_mount_opts *mo, const char *opt)
{
	if (!strcmp(opt, "allow_other")) { mo->allow_other = 1; return 1; }
	if (!strcmp(opt, "default_permissions")) { mo->default_permissions = 1; return 1; }
	if (!strcmp(opt, "ro")) { mo->ro = 1; return 1; }
	if (!strncmp(opt, "fsname=", 7)) {
		if (!opt[7] || strchr(opt + 7, ','))
			return -EINVAL;
		mo->fsname = opt + 7;
		return 1;
	}
	if (!strncmp(opt, "subtype=", 8)) {
		if (!opt[8])
			return -EINVAL;
		mo->subtype = opt + 8;
		return 1;
	}
	if (!strncmp(opt, "max_read=", 9)) {
		char *end;
		unsigned long v = strtoul(opt + 9, &end, 10);
		if (*end || v < 4096 || v > UINT32_MAX)
			return -EINVAL;
		mo->max_read = (unsigned)v;
		return 1;
	}
	for (const struct mflag *f = mflags; f->name; f++) {
		if (!strcmp(opt, f->name)) {
			mo->mflags = (mo->mflags | f->set) & ~f->clear;
			if (!strcmp(opt, "rw"))
				mo->ro = 0;
			return 1;
		}
	}
	return 0;
}

/* "0:42" in field 3 of /proc/self/mountinfo is the connection id 42. */
static unsigned find_conn(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	unsigned conn = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		unsigned id, parent, major, minor;
		char mp[PATH_MAX];
		if (sscanf(line, "%u %u %u:%u %*s %4095s", &id, &parent, &major,
			   &minor, mp) != 5)
			continue;
		/* mountinfo escapes space, tab, newline and backslash as \ooo;
		 * mountpoints with those are compared unescaped below */
		char un[PATH_MAX];
		size_t j = 0;
		for (size_t i = 0; mp[i] && j < sizeof un - 1; i++) {
			if (mp[i] == '\\' && mp[i + 1] && mp[i + 2] && mp[i + 3]) {
				un[j++] = (char)((mp[i + 1] - '0') * 64 +
						 (mp[i + 2] - '0') * 8 + (mp[i + 3] - '0'));
				i += 3;
			} else {
				un[j++] = mp[i];
			}
		}
		un[j] = 0;
		if (!strcmp(un, mnt) && strstr(line, " - fuse"))
			conn = minor;	/* last match wins: the top of a stack */
	}
	fclose(f);
	return conn;
}

static int mount_direct(const struct fp_mount_opts *mo, struct fp_mount *m,
			char *errbuf, size_t errlen)
{
	char opts[512], type[128];
	const char *sub = mo->subtype ? mo->subtype : "fuseproxy";
	const char *src = mo->fsname ? mo->fsname : "fuseproxy";
	unsigned long flags = MS_NOSUID | MS_NODEV;
	int fd, n;

	flags = (flags | mo->mflags);
	if (mo->ro)
		flags |= MS_RDONLY;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "/dev/fuse: %s", strerror(e));
		return -e;
	}
	n = snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=%u,group_id=%u%s%s",
		     fd, getuid(), getgid(),
		     mo->allow_other ? ",allow_other" : "",
		     mo->default_permissions ? ",default_permissions" : "");
	if (mo->max_read)
		n += snprintf(opts + n, sizeof opts - n, ",max_read=%u", mo->max_read);
	snprintf(type, sizeof type, "fuse.%s", sub);
	if (mount(src, m->mountpoint, type, flags, opts) < 0) {
		int e = errno;
		/* kernels without subtype support only know plain "fuse" */
		if (e == ENODEV && mount(src, m->mountpoint, "fuse", flags, opts) == 0)
			goto ok;
		snprintf(errbuf, errlen, "mount %s: %s", m->mountpoint, strerror(e));
		close(fd);
		return -e;
	}
ok:
	m->fd = fd;
	return 0;
}

/* fusermount3 sends the fd as one SCM_RIGHTS message on the comm socket. */
static int recv_fd(int sock)
{
	char data;
	struct iovec iov = { &data, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	ssize_t r;

	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r < 0 ? -errno : -ECONNRESET;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

static int mount_fusermount(const struct fp_mount_opts *mo, struct fp_mount *m,
			    char *errbuf, size_t errlen)
{
	char opts[512], env[32];
	int sv[2], status, fd;
	pid_t pid;

	snprintf(opts, sizeof opts, "fsname=%s,subtype=%s%s%s%s%s%s%s",
		 mo->fsname ? mo->fsname : "fuseproxy",
		 mo->subtype ? mo->subtype : "fuseproxy",
		 mo->allow_other ? ",allow_other" : "",
		 mo->default_permissions ? ",default_permissions" : "",
		 mo->ro ? ",ro" : "",
		 (mo->mflags & MS_NOEXEC) ? ",noexec" : "",
		 (mo->mflags & MS_NOATIME) ? ",noatime" : "",
		 (mo->mflags & MS_SYNCHRONOUS) ? ",sync" : "");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "socketpair: %s", strerror(e));
		return -e;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		snprintf(errbuf, errlen, "fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		close(sv[0]);
		fcntl(sv[1], F_SETFD, 0);
		snprintf(env, sizeof env, "%d", sv[1]);
		setenv("_FUSE_COMMFD", env, 1);
		execlp("fusermount3", "fusermount3", "-o", opts, "--", m->mountpoint,
		       (char *)NULL);
		fprintf(stderr, "fuseproxy: cannot run fusermount3: %s\n", strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (fd < 0) {
		snprintf(errbuf, errlen, "mount %s: fusermount3 failed (exit %d)",
			 m->mountpoint, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return fd;
	}
	m->fd = fd;
	m->via_fusermount = 1;
	return 0;
}

int fp_mount(const struct fp_mount_opts *mo, struct fp_mount *m,
	     char *errbuf, size_t errlen)
{
	struct stat st;
	char real[PATH_MAX];
	int err;

	memset(m, 0, sizeof *m);
	m->fd = -1;
	if (!realpath(mo->mountpoint, real)) {
		err = -errno;
		snprintf(errbuf, errlen, "mountpoint %s: %s", mo->mountpoint, strerror(-err));
		return err;
	}
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(errbuf, errlen, "mountpoint %s: not a directory", mo->mountpoint);
		return -ENOTDIR;
	}
	m->mountpoint = strdup(real);
	if (!m->mountpoint)
		return -ENOMEM;
	if (geteuid() == 0)
		err = mount_direct(mo, m, errbuf, errlen);
	else
		err = mount_fusermount(mo, m, errbuf, errlen);
	if (err) {
		free(m->mountpoint);
		m->mountpoint = NULL;
		return err;
	}
	m->conn = find_conn(m->mountpoint);
	return 0;
}

static int run_fusermount_u(const char *mnt)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		execlp("fusermount3", "fusermount3", "-u", "-z", "--", mnt, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int fp_unmount(struct fp_mount *m)
{
	if (!m->mountpoint)
		return 0;
	/* Only unmount if the mountpoint still holds our connection: after an
	 * external umount the path may be a plain directory again, or have a
	 * different filesystem mounted on it. */
	if (!m->conn || find_conn(m->mountpoint) != m->conn)
		return 0;
	if (m->via_fusermount)
		return run_fusermount_u(m->mountpoint);
	if (umount2(m->mountpoint, UMOUNT_NOFOLLOW) == 0)
		return 0;
	if (errno == EBUSY && umount2(m->mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return 0;
	return -errno;
}

int fp_mount_abort(const struct fp_mount *m)
{
	char path[64];
	int fd;

	if (!m->conn)
		return -ENOENT;
	snprintf(path, sizeof path, "/sys/fs/fuse/connections/%u/abort", m->conn);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, NULL);
		fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	int r = write(fd, "1", 1) == 1 ? 0 : -errno;
	close(fd);
	return r;
}

void fp_mount_free(struct fp_mount *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	free(m->mountpoint);
	m->mountpoint = NULL;
}
