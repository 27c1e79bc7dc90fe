/* \summary: bounds-checked reads over a byte range of a wire message.
 *
 * A cursor is {p, end}.  Every getter checks the remaining length first
 * and fails (NULL / false) without moving when the bytes are not there, so
 * a caller can decode a message field by field and never read past it.
 * Wire buffers need not be aligned: fixed structs are copied out with
 * memcpy (cur_copy), never dereferenced in place.
 */
#ifndef FP_CURSOR_H
#define FP_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuse_cursor {
	const uint8_t *p;
	const uint8_t *end;
};

static inline struct fuse_cursor cur_make(const void *p, size_t len)
{
	struct fuse_cursor c = { (const uint8_t *)p, (const uint8_t *)p + (p ? len : 0) };
	return c;
}

static inline size_t cur_left(const struct fuse_cursor *c)
{
	return (size_t)(c->end - c->p);
}

/* Take n bytes; NULL (cursor unchanged) if fewer remain. */
static inline const void *cur_pull(struct fuse_cursor *c, size_t n)
{
	const uint8_t *p = c->p;

	if (n > cur_left(c))
		return NULL;
	c->p += n;
	return p;
}

/* Take n bytes and copy them into a dst of dstsize bytes; bytes beyond n
 * are zeroed, so a short compat struct reads as its full form with the
 * newer fields 0.  False (cursor unchanged, dst untouched) if short. */
static inline bool cur_copy(struct fuse_cursor *c, void *dst, size_t dstsize, size_t n)
{
	const void *src = cur_pull(c, n);

	size_t k = n < dstsize ? n : dstsize;

	if (!src)
		return false;
	if (k)
		memcpy(dst, src, k);
	if (n < dstsize)
		memset((uint8_t *)dst + n, 0, dstsize - n);
	return true;
}

/* Take a NUL-terminated string; NULL (cursor unchanged) if no NUL occurs
 * before end.  *slen (may be NULL) gets strlen. */
static inline const char *cur_pull_str(struct fuse_cursor *c, size_t *slen)
{
	const uint8_t *nul = cur_left(c) ? memchr(c->p, 0, cur_left(c)) : NULL;
	const char *s = (const char *)c->p;

	if (!nul)
		return NULL;
	if (slen)
		*slen = (size_t)(nul - c->p);
	c->p = nul + 1;
	return s;
}

static inline bool cur_u32(struct fuse_cursor *c, uint32_t *v)
{
	return cur_copy(c, v, sizeof *v, sizeof *v);
}

static inline bool cur_u64(struct fuse_cursor *c, uint64_t *v)
{
	return cur_copy(c, v, sizeof *v, sizeof *v);
}

/* Split off the last n bytes as their own cursor (e.g. extensions). */
static inline bool cur_split_tail(struct fuse_cursor *c, size_t n, struct fuse_cursor *tail)
{
	if (n > cur_left(c))
		return false;
	tail->p = c->end - n;
	tail->end = c->end;
	c->end -= n;
	return true;
}

#endif
