/* \summary: the passthrough's bounded cache of inode fds.
 *
 * At most cache.cap inodes hold an O_PATH fd; the positions of those that
 * do form a clock.  When the cache is full, a sweep closes the fds of
 * inodes that nobody is using and that were not used since the hand last
 * passed (their referenced bit is clear), a sixteenth of the cap at a time.
 * An inode that finds no room keeps its fd only while in use ("transient").
 * Pinned inodes (no usable handle) never enter the cache.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "pt_i.h"

/* Evict unused, unreferenced fds until count <= target; cache.lock held. */
static void sweep(struct pt_fs *fs, uint32_t target)
{
	struct pt_cache *c = &fs->cache;
	uint32_t scanned = 0;

	while (c->count > target && scanned < 2 * c->cap + 2) {
		uint32_t pos = c->hand;
		c->hand = (c->hand + 1) % c->cap;
		scanned++;
		uint32_t idx = c->slots[pos];
		if (!idx)
			continue;
		struct pt_inode *ino = pt_slots_at(&fs->inodes, idx);
		if (pthread_mutex_trylock(&ino->lock))
			continue;
		if (ino->users == 0 && !ino->pinned) {
			if (ino->referenced) {
				ino->referenced = 0;
			} else {
				if (ino->fd >= 0)
					pt_fd_closed(fs, ino->fd);
				ino->fd = -1;
				ino->clock_pos = -1;
				c->slots[pos] = 0;
				c->freepos[c->nfreepos++] = pos;
				c->count--;
			}
		}
		pthread_mutex_unlock(&ino->lock);
	}
}

void pt_cache_shrink(struct pt_fs *fs, uint32_t target)
{
	pthread_mutex_lock(&fs->cache.lock);
	sweep(fs, target);
	pthread_mutex_unlock(&fs->cache.lock);
}

int pt_openat_retry(struct pt_fs *fs, int dirfd, const char *path, int flags, mode_t mode)
{
	int fd = openat(dirfd, path, flags, mode);

	if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
		pt_cache_shrink(fs, fs->cache.cap / 2);
		fd = openat(dirfd, path, flags, mode);
	}
	return fd;
}

/* Account a freshly set ino->fd in the cache.  If there is no room even
 * after a sweep, the fd becomes transient: closed when its last user
 * leaves (now, if it has none). */
void pt_cache_insert(struct pt_fs *fs, struct pt_inode *ino)
{
	struct pt_cache *c = &fs->cache;
	bool placed = false;

	pthread_mutex_lock(&c->lock);
	if (c->count >= c->cap) {
		uint32_t batch = c->cap / 16 ? c->cap / 16 : 1;
		sweep(fs, c->cap - batch);
	}
	pthread_mutex_lock(&ino->lock);
	if (ino->fd < 0 || ino->clock_pos >= 0 || ino->pinned) {
		placed = true;           /* someone else dealt with it */
	} else if (c->nfreepos) {
		uint32_t pos = c->freepos[--c->nfreepos];
		c->slots[pos] = (uint32_t)ino->nodeid;
		ino->clock_pos = (int32_t)pos;
		c->count++;
		placed = true;
	}
	if (!placed) {
		if (ino->users == 0) {
			pt_fd_closed(fs, ino->fd);
			ino->fd = -1;
		} else {
			ino->transient = 1;
		}
	}
	pthread_mutex_unlock(&ino->lock);
	pthread_mutex_unlock(&c->lock);
}

int pt_cache_init(struct pt_fs *fs, uint32_t cap)
{
	struct pt_cache *c = &fs->cache;

	c->cap = cap;
	c->slots = calloc(cap, sizeof *c->slots);
	c->freepos = calloc(cap, sizeof *c->freepos);
	if (!c->slots || !c->freepos)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		c->freepos[i] = cap - 1 - i;
	c->nfreepos = cap;
	return -pthread_mutex_init(&c->lock, NULL);
}

/* Take ino out of the clock array (slot being freed); cache.lock and
 * ino->lock held. */
void pt_cache_remove_locked(struct pt_fs *fs, struct pt_inode *ino)
{
	struct pt_cache *c = &fs->cache;

	if (ino->clock_pos >= 0) {
		c->slots[ino->clock_pos] = 0;
		c->freepos[c->nfreepos++] = (uint32_t)ino->clock_pos;
		c->count--;
		ino->clock_pos = -1;
	}
}

void pt_cache_fini(struct pt_fs *fs)
{
	free(fs->cache.slots);
	free(fs->cache.freepos);
	pthread_mutex_destroy(&fs->cache.lock);
}
