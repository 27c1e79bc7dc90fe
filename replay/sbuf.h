/* \summary: a growable string for report text (divergence diffs, JSON,
 * XML).  Appends never fail visibly: on allocation failure the buffer
 * keeps what it had and sets `oom`, which the caller may check once. */
#ifndef RP_SBUF_H
#define RP_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *s;                  /* NUL-terminated once anything was added */
	size_t len, cap;
	bool oom;
};

void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_add(struct sbuf *b, const char *s, size_t n);
/* Append a string literal. */
#define sb_lit(b, lit) sb_add((b), (lit), sizeof(lit) - 1)
/* The text so far ("" if none); stays owned by b. */
const char *sb_str(const struct sbuf *b);
/* Hand the text over (caller frees); b is empty afterwards. */
char *sb_take(struct sbuf *b);
void sb_free(struct sbuf *b);

/* Escapes for the report formats. */
void sb_json_str(struct sbuf *b, const char *s);   /* "..." with JSON escapes; null for NULL */
void sb_xml_text(struct sbuf *b, const char *s);   /* &amp; &lt; ...; control bytes dropped */

#endif
