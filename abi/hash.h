/* \summary: hashes of FUSE ids (nodeids, uniques, handles) and of directory
 * entries (parent nodeid + name), for the hash tables that index them: the
 * proxy's state tables, the trace readers and the analyzer's path table. */
#ifndef FP_HASH_H
#define FP_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Ids are often small and sequential: a full 64-bit finalizer (murmur3's)
 * spreads them over every bit, so any bucket mask works. */
static inline uint64_t fp_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* (parent, name): FNV-1a over the name, seeded with the mixed parent. */
static inline uint64_t fp_name_hash(uint64_t parent, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ fp_mix64(parent);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
	return fp_mix64(h);
}

#endif
