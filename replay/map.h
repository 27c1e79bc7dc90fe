/* \summary: a hash map from 64-bit ids to pointers (open addressing,
 * linear probing, backward-shift deletion), for the replay's id tables:
 * recorded node ids, file handles and request uniques.
 *
 * Key 0 is reserved as "empty"; callers that may see 0 as an id (fh 0 is
 * legal) store key+1 via map_key() below.
 */
#ifndef RP_MAP_H
#define RP_MAP_H

#include <stddef.h>
#include <stdint.h>

struct rp_map {
	uint64_t *keys;
	void **vals;
	size_t cap;               /* power of two, 0 before the first insert */
	size_t n;
};

/* An id as a map key: ids may be 0 (fh), keys may not. */
static inline uint64_t map_key(uint64_t id)
{
	return id + 1;
}

void *map_get(const struct rp_map *m, uint64_t key);
/* Insert or replace.  Returns 0 or -ENOMEM. */
int map_put(struct rp_map *m, uint64_t key, void *val);
/* Remove and return the value (NULL if absent). */
void *map_del(struct rp_map *m, uint64_t key);
/* Call fn for every entry (the map must not change meanwhile). */
void map_each(const struct rp_map *m, void (*fn)(uint64_t key, void *val, void *arg), void *arg);
void map_free(struct rp_map *m);

#endif
