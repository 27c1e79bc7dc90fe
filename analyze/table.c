/* \summary: tables printed as aligned text, JSON or CSV (table.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"

#define CELL_MAX 4096

struct an_table *an_table_new(const char *name, const char *title,
			      const struct an_col *cols, unsigned ncols)
{
	struct an_table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->name = name;
	t->title = title;
	t->cols = cols;
	t->ncols = ncols;
	return t;
}

void an_table_clear(struct an_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].s);
	t->nrows = 0;
}

void an_table_free(struct an_table *t)
{
	if (!t)
		return;
	an_table_clear(t);
	free(t->cells);
	free(t->width);
	free(t);
}

long an_table_row(struct an_table *t)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct an_cell *c = realloc(t->cells, cap * t->ncols * sizeof *c);

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof *t->cells);
	return (long)t->nrows++;
}

static struct an_cell *cell(struct an_table *t, size_t row, unsigned col)
{
	return &t->cells[row * t->ncols + col];
}

int an_cell_str(struct an_table *t, size_t row, unsigned col, const char *s)
{
	struct an_cell *c = cell(t, row, col);

	free(c->s);
	c->s = s ? strdup(s) : NULL;
	c->set = c->s != NULL;
	return s && !c->s ? -ENOMEM : 0;
}

void an_cell_int(struct an_table *t, size_t row, unsigned col, int64_t v)
{
	struct an_cell *c = cell(t, row, col);

	c->set = true;
	c->i = v;
	c->d = (double)v;
}

void an_cell_dbl(struct an_table *t, size_t row, unsigned col, double v)
{
	struct an_cell *c = cell(t, row, col);

	c->set = !isnan(v);
	c->d = v;
	c->i = (int64_t)v;
}

/* ---- human renderings ----------------------------------------------------- */

/* v in units[0], scaled by step until it prints with at most 3 digits
 * (decimal units) or below one step (binary units: "1023B", "1.00KiB"). */
static void scaled(char *buf, size_t n, double v, double step, const char *const *units,
		   int nunits, const char *suffix)
{
	double limit = step == 1000 ? 999.5 : step;
	int u = 0;
	double a;

	while (u + 1 < nunits && fabs(v) >= limit) {
		v /= step;
		u++;
	}
	a = fabs(v);
	if (u == 0 && v == floor(v))
		snprintf(buf, n, "%.0f%s%s", v, units[u], suffix);
	else if (a < 9.995)
		snprintf(buf, n, "%.2f%s%s", v, units[u], suffix);
	else if (a < 99.95)
		snprintf(buf, n, "%.1f%s%s", v, units[u], suffix);
	else
		snprintf(buf, n, "%.0f%s%s", v, units[u], suffix);
}

void an_fmt_ns(char *buf, size_t n, double ns)
{
	static const char *const u[] = { "ns", "us", "ms", "s" };

	if (fabs(ns) >= 999.5e9) {          /* beyond seconds: plain seconds */
		snprintf(buf, n, "%.0fs", ns / 1e9);
		return;
	}
	scaled(buf, n, ns, 1000, u, 4, "");
}

void an_fmt_bytes(char *buf, size_t n, double bytes)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };

	scaled(buf, n, bytes, 1024, u, 6, "");
}

void an_fmt_rate(char *buf, size_t n, double per_s)
{
	static const char *const u[] = { "", "k", "M", "G", "T" };

	scaled(buf, n, per_s, 1000, u, 5, "");
}

void an_fmt_cell(char *buf, size_t n, const struct an_col *c, const struct an_cell *cell)
{
	if (!cell->set) {
		snprintf(buf, n, "-");
		return;
	}
	switch (c->kind) {
	case AN_K_STR:
		snprintf(buf, n, "%s", cell->s);
		break;
	case AN_K_INT:
		snprintf(buf, n, "%lld", (long long)cell->i);
		break;
	case AN_K_NS:
		an_fmt_ns(buf, n, cell->d);
		break;
	case AN_K_BYTES:
		an_fmt_bytes(buf, n, cell->d);
		break;
	case AN_K_PCT:
		if (cell->d == 0)
			snprintf(buf, n, "0%%");
		else if (cell->d < 0.01)
			snprintf(buf, n, "<0.01%%");
		else
			snprintf(buf, n, "%.2f%%", cell->d);
		break;
	case AN_K_DPCT:
		if (isinf(cell->d))
			snprintf(buf, n, "%s", cell->d > 0 ? "+inf" : "-inf");
		else
			snprintf(buf, n, "%+.1f%%", cell->d);
		break;
	case AN_K_DPP:
		snprintf(buf, n, "%+.2fpp", cell->d);
		break;
	case AN_K_RATE:
		an_fmt_rate(buf, n, cell->d);
		break;
	case AN_K_BRATE: {
		char b[32];

		an_fmt_bytes(b, sizeof b, cell->d);
		snprintf(buf, n, "%s/s", b);
		break;
	}
	case AN_K_SEC:
		snprintf(buf, n, "%.3f", cell->d);
		break;
	default:
		snprintf(buf, n, "%.4g", cell->d);
		break;
	}
}

/* Display width: UTF-8 continuation bytes take no column. */
static int text_width(const char *s)
{
	int w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* ---- JSON and CSV ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one
 * (stray continuation, overlong form, surrogate, beyond U+10FFFF, cut). */
size_t an_utf8_len(const unsigned char *p)
{
	size_t n;
	uint32_t c;

	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2, c = *p & 0x1f;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3, c = *p & 0x0f;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4, c = *p & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/* JSON must be UTF-8: names in traces are whatever bytes a program used,
 * so invalid sequences become U+FFFD. */
void an_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p >= 0x80) {
			size_t n = an_utf8_len(p);

			if (!n) {
				fputs("\ufffd", f);
			} else {
				fwrite(p, 1, n, f);
				p += n - 1;
			}
			continue;
		}
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void json_num(FILE *f, const struct an_col *c, const struct an_cell *cell)
{
	if (!cell->set) {
		fputs("null", f);
		return;
	}
	switch (c->kind) {
	case AN_K_STR:
		an_json_str(f, cell->s);
		break;
	case AN_K_INT:
	case AN_K_NS:
	case AN_K_BYTES:
		if (cell->d == (double)cell->i)
			fprintf(f, "%lld", (long long)cell->i);
		else
			fprintf(f, "%.17g", cell->d);
		break;
	default:
		if (isinf(cell->d))   /* JSON has no infinity */
			fputs(cell->d > 0 ? "1e308" : "-1e308", f);
		else
			fprintf(f, "%.10g", cell->d);
		break;
	}
}

static void csv_str(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_cell(FILE *f, const struct an_col *c, const struct an_cell *cell)
{
	if (!cell->set)
		return;
	if (c->kind == AN_K_STR)
		csv_str(f, cell->s);
	else
		json_num(f, c, cell);
}

/* ---- output ----------------------------------------------------------------- */

void an_out_begin(struct an_out *o, FILE *f, enum an_format fmt)
{
	memset(o, 0, sizeof *o);
	o->f = f;
	o->fmt = fmt;
	o->first_table = true;
	if (fmt == AN_JSON)
		fputc('{', f);
}

static void json_key(struct an_out *o, const char *key)
{
	fputs(o->any ? ",\n" : "\n", o->f);
	o->any = true;
	an_json_str(o->f, key);
	fputs(": ", o->f);
}

void an_out_kv_str(struct an_out *o, const char *key, const char *val)
{
	if (o->fmt != AN_JSON)
		return;
	json_key(o, key);
	if (val)
		an_json_str(o->f, val);
	else
		fputs("null", o->f);
}

void an_out_kv_int(struct an_out *o, const char *key, int64_t val)
{
	if (o->fmt != AN_JSON)
		return;
	json_key(o, key);
	fprintf(o->f, "%lld", (long long)val);
}

void an_out_kv_dbl(struct an_out *o, const char *key, double val)
{
	if (o->fmt != AN_JSON)
		return;
	json_key(o, key);
	fprintf(o->f, "%.10g", val);
}

void an_out_text(struct an_out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->fmt != AN_HUMAN)
		return;
	va_start(ap, fmt);
	vfprintf(o->f, fmt, ap);
	va_end(ap);
}

void an_out_note(struct an_out *o, const char *fmt, ...)
{
	char **n;
	char *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return;
	n = realloc(o->notes, (o->nnotes + 1) * sizeof *n);
	if (!n) {
		free(s);
		return;
	}
	o->notes = n;
	o->notes[o->nnotes++] = s;
}

static int kind_width(uint8_t kind)
{
	switch (kind) {
	case AN_K_STR: return 12;
	case AN_K_INT: return 8;
	case AN_K_SEC: return 9;
	case AN_K_BRATE: return 11;
	default: return 7;
	}
}

/* "--- total: read->written ---" over the columns of each group */
static void human_groups(struct an_out *o, struct an_table *t)
{
	unsigned c = 0;
	bool any = false;

	for (unsigned i = 0; i < t->ncols; i++)
		any |= t->cols[i].group != NULL;
	if (!any)
		return;
	while (c < t->ncols) {
		const char *g = t->cols[c].group;
		unsigned end = c;
		int span = 0, len;

		if (t->cols[c].machine) {
			c++;
			continue;
		}
		while (end < t->ncols && !t->cols[end].machine &&
		       (g ? t->cols[end].group && !strcmp(t->cols[end].group, g) : !t->cols[end].group)) {
			span += t->width[end] + (end ? 2 : 0);
			end++;
		}
		if (!g && (end == t->ncols || t->cols[end].machine)) {
			break;          /* no trailing blanks */
		} else if (!g) {
			fprintf(o->f, "%*s", span, "");
		} else {
			if (c) {
				fputs("  ", o->f);
				span -= 2;
			}
			len = text_width(g) + 2;
			if (span >= len + 2) {
				int left = (span - len) / 2;

				for (int k = 0; k < left; k++)
					fputc('-', o->f);
				fprintf(o->f, " %s ", g);
				for (int k = left + len; k < span; k++)
					fputc('-', o->f);
			} else {
				fprintf(o->f, "%-*s", span, g);
			}
		}
		c = end;
	}
	fputc('\n', o->f);
}

static void human_header(struct an_out *o, struct an_table *t)
{
	if (!o->first_table)
		fputc('\n', o->f);
	if (t->title)
		fprintf(o->f, "%s\n", t->title);
	human_groups(o, t);
	for (unsigned c = 0; c < t->ncols; c++) {
		int w = t->width[c];

		if (t->cols[c].machine)
			continue;
		if (t->cols[c].kind == AN_K_STR && c + 1 == t->ncols)
			fprintf(o->f, "%s%s", c ? "  " : "", t->cols[c].title);
		else if (t->cols[c].kind == AN_K_STR)
			fprintf(o->f, "%s%-*s", c ? "  " : "", w, t->cols[c].title);
		else
			fprintf(o->f, "%s%*s", c ? "  " : "", w, t->cols[c].title);
	}
	fputc('\n', o->f);
}

static void human_rows(struct an_out *o, struct an_table *t)
{
	char buf[CELL_MAX];

	for (size_t r = 0; r < t->nrows; r++) {
		for (unsigned c = 0; c < t->ncols; c++) {
			int pad;

			if (t->cols[c].machine)
				continue;
			an_fmt_cell(buf, sizeof buf, &t->cols[c], cell(t, r, c));
			pad = t->width[c] - text_width(buf);
			if (pad < 0)
				pad = 0;
			if (c)
				fputs("  ", o->f);
			if (t->cols[c].kind == AN_K_STR) {
				fputs(buf, o->f);
				if (c + 1 < t->ncols)
					fprintf(o->f, "%*s", pad, "");
			} else {
				fprintf(o->f, "%*s%s", pad, "", buf);
			}
		}
		fputc('\n', o->f);
	}
}

static void json_rows(struct an_out *o, struct an_table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(o->row_in_table++ ? ",\n  {" : "\n  {", o->f);
		for (unsigned c = 0; c < t->ncols; c++) {
			if (c)
				fputs(", ", o->f);
			an_json_str(o->f, t->cols[c].key);
			fputs(": ", o->f);
			json_num(o->f, &t->cols[c], cell(t, r, c));
		}
		fputc('}', o->f);
	}
}

static void csv_rows(struct an_out *o, struct an_table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (unsigned c = 0; c < t->ncols; c++) {
			if (c)
				fputc(',', o->f);
			csv_cell(o->f, &t->cols[c], cell(t, r, c));
		}
		fputc('\n', o->f);
	}
}

static int set_widths(struct an_table *t, bool from_rows)
{
	char buf[CELL_MAX];

	if (!t->width && !(t->width = calloc(t->ncols, sizeof *t->width)))
		return -ENOMEM;
	for (unsigned c = 0; c < t->ncols; c++) {
		int w = text_width(t->cols[c].title);

		if (!from_rows && w < kind_width(t->cols[c].kind))
			w = kind_width(t->cols[c].kind);
		for (size_t r = 0; from_rows && r < t->nrows; r++) {
			an_fmt_cell(buf, sizeof buf, &t->cols[c], cell(t, r, c));
			if (text_width(buf) > w)
				w = text_width(buf);
		}
		t->width[c] = w;
	}
	return 0;
}

static void table_begin(struct an_out *o, struct an_table *t)
{
	o->row_in_table = 0;
	switch (o->fmt) {
	case AN_HUMAN:
		human_header(o, t);
		break;
	case AN_JSON:
		json_key(o, t->name);
		fputc('[', o->f);
		break;
	case AN_CSV:
		fprintf(o->f, "%s# %s\n", o->first_table ? "" : "\n", t->name);
		for (unsigned c = 0; c < t->ncols; c++)
			fprintf(o->f, "%s%s", c ? "," : "", t->cols[c].key);
		fputc('\n', o->f);
		break;
	}
	o->first_table = false;
}

void an_out_table_begin(struct an_out *o, struct an_table *t)
{
	if (o->fmt == AN_HUMAN && set_widths(t, false))
		return;
	table_begin(o, t);
}

void an_out_table_rows(struct an_out *o, struct an_table *t)
{
	switch (o->fmt) {
	case AN_HUMAN:
		if (t->width)
			human_rows(o, t);
		break;
	case AN_JSON:
		json_rows(o, t);
		break;
	case AN_CSV:
		csv_rows(o, t);
		break;
	}
	an_table_clear(t);
}

void an_out_table_end(struct an_out *o, struct an_table *t)
{
	(void)t;
	if (o->fmt == AN_JSON)
		fputs(o->row_in_table ? "\n]" : "]", o->f);
}

void an_out_table(struct an_out *o, struct an_table *t)
{
	if (o->fmt == AN_HUMAN) {
		if (set_widths(t, true))
			return;
		table_begin(o, t);
		if (!t->nrows)
			fputs("(none)\n", o->f);
	} else {
		table_begin(o, t);
	}
	an_out_table_rows(o, t);
	an_out_table_end(o, t);
}

int an_out_end(struct an_out *o)
{
	switch (o->fmt) {
	case AN_HUMAN:
		for (size_t i = 0; i < o->nnotes; i++)
			fprintf(o->f, "%snote: %s\n", i ? "" : "\n", o->notes[i]);
		break;
	case AN_JSON:
		if (o->nnotes) {
			json_key(o, "notes");
			fputc('[', o->f);
			for (size_t i = 0; i < o->nnotes; i++) {
				fputs(i ? ", " : "", o->f);
				an_json_str(o->f, o->notes[i]);
			}
			fputc(']', o->f);
		}
		fputs("\n}\n", o->f);
		break;
	case AN_CSV:
		for (size_t i = 0; i < o->nnotes; i++)
			fprintf(o->f, "# note: %s\n", o->notes[i]);
		break;
	}
	for (size_t i = 0; i < o->nnotes; i++)
		free(o->notes[i]);
	free(o->notes);
	o->notes = NULL;
	o->nnotes = 0;
	return fflush(o->f) || ferror(o->f) ? -EIO : 0;
}
