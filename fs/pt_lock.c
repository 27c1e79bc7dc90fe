/* \summary: passthrough file locks: GETLK, SETLK, SETLKW, and flock().
 *
 * POSIX locks belong to a process (the kernel's lock_owner identifies its
 * files_struct) and are shared by all of its fds on the file.  We give each
 * (nodeid, lock_owner) pair its own open file description on the source and
 * put OFD locks on it.  So, as on a local filesystem:
 *   - two fds of one process never conflict with each other,
 *   - two processes conflict,
 *   - close() of any fd of the file (FLUSH with that lock_owner) drops all of
 *     the process's locks on it: we unlock and close the pair's fd.
 * OFD locks (F_OFD_SETLK on the mount) arrive with the kernel file as
 * lock_owner, and no FLUSH names that owner; the kernel file is our fh, so
 * RELEASE of an fh drops the owners created through it.  That is also right
 * for POSIX owners: by the time the last reference to an fh goes, every
 * process that locked through it has closed it, and its FLUSH came first.
 * Locks also conflict with POSIX/OFD locks taken directly on the source.
 * GETLK reports the holder's pid when the holder is one of our owners.
 *
 * FUSE_LK_FLOCK requests (flock(2)) go to flock() on the fh's own fd: one fh
 * per kernel open file, which is exactly flock's per-open-file scope.
 *
 * SETLKW blocks until the lock is granted.  The engine runs it on a thread of
 * its own and signals that thread on INTERRUPT; the EINTR goes back to the
 * kernel as the answer.
 */
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "pt_i.h"

#define LOCK_BUCKETS 256
#define OFFSET_MAX   INT64_MAX

struct lock_owner {
	struct lock_owner *next;
	uint64_t nodeid, owner;
	uint64_t fh;              /* the open file it was created through */
	int fd;
	uint32_t pid;             /* last pid that locked through this owner
				     (under pt_locks.lock) */
	int users;                /* SETLK(W)/GETLK in progress */
	bool dead;                /* released while in use: last user closes */
};

struct pt_locks {
	pthread_mutex_t lock;
	struct lock_owner *b[LOCK_BUCKETS];
	unsigned count;
};

static unsigned bucket(uint64_t nodeid, uint64_t owner)
{
	uint64_t k = (nodeid * 0x9E3779B97F4A7C15ull) ^ owner;
	return (unsigned)((k ^ (k >> 29)) % LOCK_BUCKETS);
}

int pt_locks_init(struct pt_fs *fs)
{
	fs->locks = calloc(1, sizeof *fs->locks);
	if (!fs->locks)
		return -ENOMEM;
	return -pthread_mutex_init(&fs->locks->lock, NULL);
}

void pt_locks_fini(struct pt_fs *fs)
{
	if (!fs->locks)
		return;
	for (unsigned i = 0; i < LOCK_BUCKETS; i++) {
		for (struct lock_owner *o = fs->locks->b[i], *n; o; o = n) {
			n = o->next;
			pt_fd_closed(fs, o->fd);
			free(o);
		}
	}
	pthread_mutex_destroy(&fs->locks->lock);
	free(fs->locks);
	fs->locks = NULL;
}

static struct lock_owner *find_locked(struct pt_locks *l, uint64_t nodeid, uint64_t owner)
{
	for (struct lock_owner *o = l->b[bucket(nodeid, owner)]; o; o = o->next)
		if (o->nodeid == nodeid && o->owner == owner)
			return o;
	return NULL;
}

static void owner_close(struct pt_fs *fs, struct lock_owner *o)
{
	pt_fd_closed(fs, o->fd);
	free(o);
}

static void owner_put(struct pt_fs *fs, struct lock_owner *o)
{
	bool close_it;

	pthread_mutex_lock(&fs->locks->lock);
	close_it = --o->users == 0 && o->dead;
	pthread_mutex_unlock(&fs->locks->lock);
	if (close_it)
		owner_close(fs, o);
}

/* The pair's lock fd, opened on first use from `src` (an fd of the file).
 * Read-write if the source allows, so both lock types can be taken. */
static struct lock_owner *owner_get(struct pt_fs *fs, uint64_t nodeid, uint64_t owner,
				    uint64_t fh, int src, bool create, uint32_t pid, int *err)
{
	struct pt_locks *l = fs->locks;
	struct lock_owner *o;
	char p[PT_PROC_FD_LEN];

	pthread_mutex_lock(&l->lock);
	o = find_locked(l, nodeid, owner);
	if (o) {
		o->users++;
		if (create)
			o->pid = pid;
	}
	pthread_mutex_unlock(&l->lock);
	if (o || !create) {
		*err = 0;
		return o;
	}

	pt_proc_path(p, src);
	int fd = open(p, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fd = open(p, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	o = calloc(1, sizeof *o);
	if (!o) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	o->nodeid = nodeid;
	o->owner = owner;
	o->fh = fh;
	o->fd = fd;
	o->pid = pid;
	o->users = 1;
	pt_fd_opened(fs);

	pthread_mutex_lock(&l->lock);
	struct lock_owner *race = find_locked(l, nodeid, owner);
	if (race) {
		race->users++;
		race->pid = pid;
	} else {
		unsigned b = bucket(nodeid, owner);
		o->next = l->b[b];
		l->b[b] = o;
		l->count++;
	}
	pthread_mutex_unlock(&l->lock);
	if (race) {
		owner_close(fs, o);
		o = race;
	}
	*err = 0;
	return o;
}

/* o is off the list but a SETLKW of it is still waiting (locks->lock
 * held): drop what it holds now; its fd goes when the SETLKW returns. */
static void owner_orphan(struct lock_owner *o)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	o->dead = true;
	fcntl(o->fd, F_OFD_SETLK, &fl);
}

void pt_locks_release_fh(struct pt_fs *fs, uint64_t nodeid, uint64_t fh)
{
	struct pt_locks *l = fs->locks;
	struct lock_owner *drop = NULL;

	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; l->count && i < LOCK_BUCKETS; i++) {
		for (struct lock_owner **link = &l->b[i], *o; (o = *link);) {
			if (o->nodeid != nodeid || o->fh != fh) {
				link = &o->next;
				continue;
			}
			*link = o->next;
			l->count--;
			if (o->users) {
				owner_orphan(o);
			} else {
				o->next = drop;
				drop = o;
			}
		}
	}
	pthread_mutex_unlock(&l->lock);
	while (drop) {
		struct lock_owner *n = drop->next;
		owner_close(fs, drop);
		drop = n;
	}
}

void pt_locks_release_owner(struct pt_fs *fs, uint64_t nodeid, uint64_t owner)
{
	struct pt_locks *l = fs->locks;
	struct lock_owner *o, **link;
	bool close_now = false;

	pthread_mutex_lock(&l->lock);
	if (!l->count) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	for (link = &l->b[bucket(nodeid, owner)]; (o = *link); link = &o->next) {
		if (o->nodeid == nodeid && o->owner == owner) {
			*link = o->next;
			l->count--;
			break;
		}
	}
	if (o) {
		if (o->users)
			owner_orphan(o);
		else
			close_now = true;
	}
	pthread_mutex_unlock(&l->lock);
	if (close_now)
		owner_close(fs, o);
}

static int to_flock(const struct fuse_file_lock *lk, struct flock *fl)
{
	memset(fl, 0, sizeof *fl);
	if (lk->type != F_RDLCK && lk->type != F_WRLCK && lk->type != F_UNLCK)
		return -EINVAL;
	if (lk->start > OFFSET_MAX || lk->end < lk->start)
		return -EINVAL;
	fl->l_type = (short)lk->type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)lk->start;
	fl->l_len = lk->end >= OFFSET_MAX ? 0 : (off_t)(lk->end - lk->start + 1);
	return 0;
}

/* Which of our other owners holds the lock `c` that conflicts with
 * `self`?  A holder does not see its own lock as a conflict. */
static uint32_t holder_pid(struct pt_fs *fs, uint64_t nodeid, uint64_t self,
			   const struct flock *c)
{
	struct pt_locks *l = fs->locks;
	uint32_t pid = 0;

	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < LOCK_BUCKETS && !pid; i++) {
		for (struct lock_owner *o = l->b[i]; o; o = o->next) {
			if (o->nodeid != nodeid || o->owner == self || o->dead)
				continue;
			struct flock t = *c;
			t.l_pid = 0;
			if (fcntl(o->fd, F_OFD_GETLK, &t) < 0)
				continue;
			if (t.l_type == F_UNLCK || t.l_start != c->l_start ||
			    t.l_len != c->l_len || t.l_type != c->l_type) {
				pid = o->pid;
				break;
			}
		}
	}
	pthread_mutex_unlock(&l->lock);
	return pid;
}

int pt_getlk(struct pt_fs *fs, struct fp_req *req)
{
	PT_ARG(req, struct fuse_lk_in, in);
	struct flock fl;
	int fd = pt_fh_fd(fs, in.fh), err;

	if (fd < 0)
		return fd;
	if ((err = to_flock(&in.lk, &fl)))
		return err;
	struct lock_owner *o = owner_get(fs, req->in->nodeid, in.owner, in.fh, fd, false, 0, &err);
	/* ask through the owner's own fd so its own locks do not conflict */
	int r = fcntl(o ? o->fd : fd, F_OFD_GETLK, &fl);
	err = r < 0 ? -errno : 0;
	if (o)
		owner_put(fs, o);
	if (err)
		return err;

	struct fuse_lk_out out;
	memset(&out, 0, sizeof out);
	if (fl.l_type == F_UNLCK) {
		out.lk.type = F_UNLCK;
		out.lk.start = in.lk.start;
		out.lk.end = in.lk.end;
	} else {
		out.lk.type = (uint32_t)fl.l_type;
		out.lk.start = (uint64_t)fl.l_start;
		out.lk.end = fl.l_len == 0 ? OFFSET_MAX : (uint64_t)(fl.l_start + fl.l_len - 1);
		out.lk.pid = holder_pid(fs, req->in->nodeid, in.owner, &fl);
	}
	memcpy(req->out, &out, sizeof out);
	return sizeof out;
}

static int setlk(struct pt_fs *fs, struct fp_req *req, bool wait)
{
	PT_ARG(req, struct fuse_lk_in, in);
	struct flock fl;
	int fd = pt_fh_fd(fs, in.fh), err;

	if (fd < 0)
		return fd;
	if (in.lk_flags & FUSE_LK_FLOCK) {
		int op = in.lk.type == F_RDLCK ? LOCK_SH : in.lk.type == F_WRLCK ? LOCK_EX : LOCK_UN;
		if (!wait && op != LOCK_UN)
			op |= LOCK_NB;
		return flock(fd, op) < 0 ? -errno : 0;
	}
	if ((err = to_flock(&in.lk, &fl)))
		return err;
	bool unlock = fl.l_type == F_UNLCK;
	struct lock_owner *o = owner_get(fs, req->in->nodeid, in.owner, in.fh, fd, !unlock,
					 in.lk.pid, &err);
	if (!o)
		return err;            /* unlocking what was never locked: 0 */
	int r = fcntl(o->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
	err = r < 0 ? -errno : 0;
	owner_put(fs, o);
	return err;
}

int pt_setlk(struct pt_fs *fs, struct fp_req *req) { return setlk(fs, req, false); }
int pt_setlkw(struct pt_fs *fs, struct fp_req *req) { return setlk(fs, req, true); }
