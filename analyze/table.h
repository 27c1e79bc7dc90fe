/* \summary: result tables and the three ways they are printed: aligned
 * human text (default), JSON (--json) and CSV (--csv).
 *
 * A column has a key (JSON member / CSV header), a title (human header) and
 * a kind that says how its number reads for humans: durations in ns print
 * as "1.23ms", bytes as "4.0MiB"; JSON and CSV always carry the raw number
 * (ns, bytes, percent as 12.5), and an unset cell is null / empty / "-".
 *
 * JSON: one object per command, {"trace": ..., TABLE: [ {row}, ... ], ...,
 * "notes": [...]}.  CSV: each table is preceded by a "# TABLE" comment line,
 * tables are separated by an empty line, notes are "# note: ..." lines.
 */
#ifndef AN_TABLE_H
#define AN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum an_kind {
	AN_K_STR,
	AN_K_INT,
	AN_K_NS,                    /* duration, ns */
	AN_K_BYTES,
	AN_K_PCT,                   /* percent (double) */
	AN_K_DPCT,                  /* signed change in percent: "+12.5%" */
	AN_K_DPP,                   /* signed change in percentage points */
	AN_K_RATE,                  /* per second (double): "12.3k" */
	AN_K_BRATE,                 /* bytes per second (double) */
	AN_K_SEC,                   /* seconds since the trace start (double) */
	AN_K_FLOAT,
};

struct an_col {
	const char *key;            /* JSON / CSV name */
	const char *title;          /* human header */
	uint8_t kind;               /* enum an_kind */
	const char *group;          /* human: a heading over consecutive columns
				       with the same group, NULL = none */
	uint8_t machine;            /* only in --json / --csv (too wide for people) */
};

struct an_cell {
	bool set;
	int64_t i;
	double d;
	char *s;
};

struct an_table {
	const char *name;           /* JSON member, CSV section */
	const char *title;          /* human heading, NULL = none */
	const struct an_col *cols;
	unsigned ncols;
	struct an_cell *cells;      /* nrows * ncols */
	size_t nrows, cap;
	int *width;                 /* human column widths (streaming) */
};

struct an_table *an_table_new(const char *name, const char *title,
			      const struct an_col *cols, unsigned ncols);
void an_table_free(struct an_table *t);
void an_table_clear(struct an_table *t);        /* drop the rows */

/* Append an empty row; returns its index, or -ENOMEM. */
long an_table_row(struct an_table *t);
/* Set a cell (row < nrows, col < ncols).  Strings are copied; -ENOMEM. */
int an_cell_str(struct an_table *t, size_t row, unsigned col, const char *s);
void an_cell_int(struct an_table *t, size_t row, unsigned col, int64_t v);
void an_cell_dbl(struct an_table *t, size_t row, unsigned col, double v);

enum an_format { AN_HUMAN, AN_JSON, AN_CSV };

struct an_out {
	FILE *f;
	enum an_format fmt;
	bool any;                   /* JSON: a member was written */
	bool first_table;
	char **notes;
	size_t nnotes;
	size_t row_in_table;        /* streaming JSON */
};

void an_out_begin(struct an_out *o, FILE *f, enum an_format fmt);
/* JSON members at the top level (ignored by human and CSV output). */
void an_out_kv_str(struct an_out *o, const char *key, const char *val);
void an_out_kv_int(struct an_out *o, const char *key, int64_t val);
void an_out_kv_dbl(struct an_out *o, const char *key, double val);
/* Human text (ignored by JSON and CSV). */
void an_out_text(struct an_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A note: human "note: ..." lines at the end, JSON "notes", CSV comments. */
void an_out_note(struct an_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A whole table. */
void an_out_table(struct an_out *o, struct an_table *t);
/* A table printed in pieces: header, then rows as they come (each call
 * prints and drops the rows t holds), then the end.  Human widths are
 * fixed per kind. */
void an_out_table_begin(struct an_out *o, struct an_table *t);
void an_out_table_rows(struct an_out *o, struct an_table *t);
void an_out_table_end(struct an_out *o, struct an_table *t);
/* Finish; returns 0 or -EIO if writing failed. */
int an_out_end(struct an_out *o);

/* Human renderings, also used by the HTML report. */
void an_fmt_ns(char *buf, size_t n, double ns);
void an_fmt_bytes(char *buf, size_t n, double bytes);
void an_fmt_rate(char *buf, size_t n, double per_s);
/* The human text of a cell. */
void an_fmt_cell(char *buf, size_t n, const struct an_col *c, const struct an_cell *cell);

/* Write s as a JSON string literal (with quotes); invalid UTF-8 becomes
 * U+FFFD. */
void an_json_str(FILE *f, const char *s);

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid. */
size_t an_utf8_len(const unsigned char *p);

#endif
