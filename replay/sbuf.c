/* \summary: growable strings and report escaping (see sbuf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sbuf.h"

static bool reserve(struct sbuf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 128;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->oom = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		sb_add(b, small, (size_t)n);
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *sb_str(const struct sbuf *b)
{
	return b->s ? b->s : "";
}

char *sb_take(struct sbuf *b)
{
	char *s = b->s ? b->s : strdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = false;
	return s;
}

void sb_free(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

void sb_json_str(struct sbuf *b, const char *s)
{
	if (!s) {
		sb_lit(b, "null");
		return;
	}
	sb_lit(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':  sb_lit(b, "\\\""); break;
		case '\\': sb_lit(b, "\\\\"); break;
		case '\n': sb_lit(b, "\\n"); break;
		case '\t': sb_lit(b, "\\t"); break;
		case '\r': sb_lit(b, "\\r"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				sb_printf(b, "\\u%04x", *p);
			else
				sb_add(b, (const char *)p, 1);
		}
	}
	sb_lit(b, "\"");
}

void sb_xml_text(struct sbuf *b, const char *s)
{
	if (!s)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '&': sb_lit(b, "&amp;"); break;
		case '<': sb_lit(b, "&lt;"); break;
		case '>': sb_lit(b, "&gt;"); break;
		case '"': sb_lit(b, "&quot;"); break;
		case '\'': sb_lit(b, "&apos;"); break;
		default:
			/* XML 1.0 allows no control characters but tab/newline/CR */
			if (*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
				sb_lit(b, "?");
			else
				sb_add(b, (const char *)p, 1);
		}
	}
}
