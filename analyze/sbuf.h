/* \summary: appending to a fixed caller buffer that never overflows: the
 * text is cut (and ends in "...") when it does not fit. */
#ifndef AN_SBUF_H
#define AN_SBUF_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct sbuf {
	char *p;
	size_t cap;                 /* bytes at p, including the NUL */
	size_t len;                 /* bytes written (<= cap - 1) */
	int cut;                    /* something did not fit */
};

static inline struct sbuf sbuf_make(char *p, size_t cap)
{
	struct sbuf s = { p, cap, 0, 0 };

	if (cap)
		p[0] = '\0';
	return s;
}

static inline void sbuf_putn(struct sbuf *s, const char *t, size_t n)
{
	size_t room = s->cap ? s->cap - 1 - s->len : 0;

	if (n > room) {
		n = room;
		s->cut = 1;
	}
	memcpy(s->p + s->len, t, n);
	s->len += n;
	if (s->cap)
		s->p[s->len] = '\0';
}

static inline void sbuf_puts(struct sbuf *s, const char *t)
{
	sbuf_putn(s, t, strlen(t));
}

__attribute__((format(printf, 2, 3)))
static inline void sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof tmp) {
		n = sizeof tmp - 1;
		s->cut = 1;
	}
	sbuf_putn(s, tmp, (size_t)n);
}

/* Mark a cut string with a trailing "..." (when it is long enough). */
static inline size_t sbuf_finish(struct sbuf *s)
{
	if (s->cut && s->cap >= 4) {
		memcpy(s->p + s->cap - 4, "...", 4);
		s->len = s->cap - 1;
	}
	return s->len;
}

#endif
