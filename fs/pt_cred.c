/* \summary: per-thread caller credentials for the passthrough.
 *
 * Operations run with the caller's fsuid/fsgid and supplementary groups, so
 * the source filesystem does the permission checks and ownership exactly as
 * for a local caller.  All of these are per-thread on purpose:
 *   - setfsuid/setfsgid are per-thread syscalls;
 *   - glibc's setgroups() changes every thread (it broadcasts a signal), so we
 *     call the raw syscall;
 *   - umask is per fs_struct, so each worker unshares CLONE_FS once.
 * Each switch is skipped when the thread already has the wanted value.
 *
 * Supplementary groups come from /proc/<pid>/status (cached per thread for a
 * second, keyed by pid, uid and gid) plus any FUSE_EXT_GROUPS extension.
 * A daemon that is not root cannot switch and runs everything as itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pt_i.h"

#define GROUP_CACHE_SLOTS 4
#define GROUP_CACHE_NS    1000000000ull
#define NOBODY            65534u

struct group_entry {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint64_t expires;
	int n, cap;
	gid_t *g;
};

struct pt_thread {
	bool init;
	uid_t fsuid;
	gid_t fsgid;
	bool groups_known;
	int ngroups, groups_cap;
	gid_t *groups;                /* what the thread has now */
	bool fs_unshared, fs_unshare_failed;
	mode_t umask;
	unsigned next_victim;
	struct group_entry cache[GROUP_CACHE_SLOTS];
	gid_t *want;                  /* scratch: groups wanted for a request */
	int want_cap;
};

static __thread struct pt_thread thr;
static int can_switch = -1;           /* root or not: decided once */
static pthread_key_t thr_key;
static pthread_once_t thr_once = PTHREAD_ONCE_INIT;

/* Thread exit: free the group lists (the pointer passed is &thr). */
static void thr_free(void *p)
{
	struct pt_thread *t = p;

	free(t->groups);
	free(t->want);
	for (int i = 0; i < GROUP_CACHE_SLOTS; i++)
		free(t->cache[i].g);
	memset(t, 0, sizeof *t);
}

static void thr_key_init(void)
{
	pthread_key_create(&thr_key, thr_free);
}

static struct pt_thread *self(void)
{
	if (!thr.init) {
		pthread_once(&thr_once, thr_key_init);
		pthread_setspecific(thr_key, &thr);
		thr.init = true;
		thr.fsuid = (uid_t)syscall(SYS_setfsuid, -1);
		thr.fsgid = (gid_t)syscall(SYS_setfsgid, -1);
		if (can_switch < 0)
			can_switch = geteuid() == 0;
	}
	return &thr;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int grow(gid_t **v, int *cap, int need)
{
	if (need <= *cap)
		return 0;
	int ncap = *cap ? *cap : 32;
	while (ncap < need)
		ncap *= 2;
	gid_t *n = realloc(*v, (size_t)ncap * sizeof *n);
	if (!n)
		return -ENOMEM;
	*v = n;
	*cap = ncap;
	return 0;
}

/* Parse "Groups:\t1 2 3\n" out of /proc/<pid>/status into e. */
static int read_proc_groups(pid_t pid, struct group_entry *e)
{
	static __thread char buf[16384];
	char path[40];
	size_t len = 0;
	ssize_t r;
	int fd;

	e->n = 0;
	snprintf(path, sizeof path, "/proc/%u/status", (unsigned)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = 0;

	char *p = strstr(buf, "\nGroups:");
	if (!p)
		return -ENOENT;
	p += 8;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		char *end;
		unsigned long g = strtoul(p, &end, 10);
		if (grow(&e->g, &e->cap, e->n + 1))
			return -ENOMEM;
		e->g[e->n++] = (gid_t)g;
		p = end;
	}
	return 0;
}

static struct group_entry *cached_groups(struct pt_thread *t, pid_t pid, uid_t uid, gid_t gid)
{
	uint64_t now = now_ns();
	struct group_entry *e;

	for (int i = 0; i < GROUP_CACHE_SLOTS; i++) {
		e = &t->cache[i];
		if (e->pid == pid && e->uid == uid && e->gid == gid && e->expires > now)
			return e;
	}
	e = &t->cache[t->next_victim++ % GROUP_CACHE_SLOTS];
	e->pid = pid;
	e->uid = uid;
	e->gid = gid;
	e->expires = now + GROUP_CACHE_NS;
	if (read_proc_groups(pid, e) < 0)
		e->n = 0;             /* gone already: primary group only */
	return e;
}

static bool has_gid(const gid_t *v, int n, gid_t g)
{
	for (int i = 0; i < n; i++)
		if (v[i] == g)
			return true;
	return false;
}

/* Append the groups of a FUSE_EXT_GROUPS extension to t->want. */
static int add_ext_groups(struct pt_thread *t, const struct fp_req *req, int *n)
{
	const uint8_t *p = req->v.ext, *end = p + req->v.ext_len;

	while (p && end - p >= (ptrdiff_t)sizeof(struct fuse_ext_header)) {
		struct fuse_ext_header xh;
		memcpy(&xh, p, sizeof xh);
		if (xh.size < sizeof xh || xh.size > (size_t)(end - p))
			break;
		if (xh.type == FUSE_EXT_GROUPS && xh.size >= sizeof xh + sizeof(uint32_t)) {
			uint32_t nr;
			memcpy(&nr, p + sizeof xh, sizeof nr);
			const uint8_t *g = p + sizeof xh + sizeof nr;
			size_t room = (xh.size - sizeof xh - sizeof nr) / sizeof(uint32_t);
			if (nr > room)
				nr = (uint32_t)room;
			for (uint32_t i = 0; i < nr; i++) {
				uint32_t gid;
				memcpy(&gid, g + i * sizeof gid, sizeof gid);
				if (has_gid(t->want, *n, gid))
					continue;
				if (grow(&t->want, &t->want_cap, *n + 1))
					return -ENOMEM;
				t->want[(*n)++] = gid;
			}
		}
		p += xh.size;
	}
	return 0;
}

static int set_groups(struct pt_thread *t, const gid_t *g, int n)
{
	if (t->groups_known && t->ngroups == n &&
	    (n == 0 || memcmp(t->groups, g, (size_t)n * sizeof *g) == 0))
		return 0;
	if (syscall(SYS_setgroups, (size_t)n, g) < 0)
		return -errno;
	if (grow(&t->groups, &t->groups_cap, n)) {
		t->groups_known = false;
		return 0;
	}
	if (n)
		memcpy(t->groups, g, (size_t)n * sizeof *g);
	t->ngroups = n;
	t->groups_known = true;
	return 0;
}

int pt_cred_apply(const struct fp_req *req, enum pt_cred_kind kind)
{
	struct pt_thread *t = self();
	const struct fuse_in_header *h = req->in;
	uid_t uid = 0;
	gid_t gid = 0;
	int err;

	if (kind == PT_CRED_NONE || !can_switch)
		return 0;
	if (kind != PT_CRED_ROOT) {
		uid = h->uid == (uint32_t)-1 ? NOBODY : h->uid;
		gid = h->gid == (uint32_t)-1 ? NOBODY : h->gid;
	}
	if (kind == PT_CRED_FULL && uid != 0) {
		/* root passes group checks by capability: skip the lookup */
		int n = 0;
		if (h->pid) {
			struct group_entry *e = cached_groups(t, (pid_t)h->pid, uid, gid);
			if (grow(&t->want, &t->want_cap, e->n))
				return -ENOMEM;
			if (e->n)
				memcpy(t->want, e->g, (size_t)e->n * sizeof *e->g);
			n = e->n;
		}
		if (req->v.ext_len && (err = add_ext_groups(t, req, &n)))
			return err;
	if ((err = set_groups(t, t->want, n)))
			return err;
	}
	if (gid != t->fsgid) {
		syscall(SYS_setfsgid, gid);
		t->fsgid = gid;
	}
	if (uid != t->fsuid) {
		syscall(SYS_setfsuid, uid);
		t->fsuid = uid;
	}
	return 0;
}

uid_t pt_cred_fsuid(void)
{
	return self()->fsuid;
}

uid_t pt_cred_root_begin(void)
{
	struct pt_thread *t = self();
	uid_t saved = t->fsuid;

	if (saved != 0 && can_switch)
		syscall(SYS_setfsuid, 0);
	return saved;
}

void pt_cred_root_end(uid_t saved)
{
	if (saved != 0 && can_switch)
		syscall(SYS_setfsuid, saved);
}

bool pt_cred_umask(mode_t mask)
{
	struct pt_thread *t = self();

	if (!t->fs_unshared) {
		if (t->fs_unshare_failed)
			return false;
		if (unshare(CLONE_FS) < 0) {
			t->fs_unshare_failed = true;
			return false;
		}
		t->fs_unshared = true;
		t->umask = umask(0);
		umask(t->umask);
	}
	mask &= 07777;
	if (mask != t->umask) {
		umask(mask);
		t->umask = mask;
	}
	return true;
}

int pt_kill_suidgid(int fd)
{
	struct stat st;
	mode_t m;

	if (fstat(fd, &st) < 0)
		return -errno;
	m = st.st_mode;
	if (!S_ISREG(m))
		return 0;
	if (m & S_ISUID)
		m &= ~S_ISUID;
	if ((m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		m &= ~S_ISGID;
	if (m != st.st_mode && fchmod(fd, m & 07777) < 0) {
		char p[PT_PROC_FD_LEN];
		if (errno != EBADF)
			return -errno;
		pt_proc_path(p, fd);    /* O_PATH fd */
		if (chmod(p, m & 07777) < 0)
			return -errno;
	}
	return 0;
}
