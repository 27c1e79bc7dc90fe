/* Description: analyze/table.c, result tables.  Human renderings of
 * durations, bytes and rates; aligned text with group headings; JSON that
 * parses back (strings escaped, numbers raw, unset cells null); CSV with
 * quoting; a table printed in pieces equals one printed whole.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "table.h"

static void test_human_units(void **state)
{
	static const struct { double v; const char *ns, *bytes, *rate; } cases[] = {
		{ 0, "0ns", "0B", "0" },
		{ 999, "999ns", "999B", "999" },
		{ 1000, "1.00us", "1000B", "1.00k" },
		{ 1500, "1.50us", "1.46KiB", "1.50k" },
		{ 1023, "1.02us", "1023B", "1.02k" },
		{ 1024, "1.02us", "1.00KiB", "1.02k" },
		{ 999499, "999us", "976KiB", "999k" },
		{ 999500, "1.00ms", "976KiB", "1.00M" },
		{ 12345678, "12.3ms", "11.8MiB", "12.3M" },
		{ 4e9, "4.00s", "3.73GiB", "4.00G" },
	};
	char b[64];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		an_fmt_ns(b, sizeof b, cases[i].v);
		assert_string_equal(b, cases[i].ns);
		an_fmt_bytes(b, sizeof b, cases[i].v);
		assert_string_equal(b, cases[i].bytes);
		an_fmt_rate(b, sizeof b, cases[i].v);
		assert_string_equal(b, cases[i].rate);
	}
	an_fmt_ns(b, sizeof b, 7200e9);     /* beyond seconds: plain seconds */
	assert_string_equal(b, "7200s");
}

enum { C_NAME, C_N, C_T, C_P, C_NCOLS };

static const struct an_col cols[C_NCOLS] = {
	[C_NAME] = { "name", "NAME", AN_K_STR, NULL },
	[C_N] = { "count", "COUNT", AN_K_INT, NULL },
	[C_T] = { "t_ns", "p50", AN_K_NS, "latency" },
	[C_P] = { "pct", "SHARE", AN_K_PCT, NULL },
};

static struct an_table *sample(void)
{
	struct an_table *t = an_table_new("things", "some things", cols, C_NCOLS);
	long r;

	r = an_table_row(t);
	an_cell_str(t, (size_t)r, C_NAME, "a \"quoted\", name\n");
	an_cell_int(t, (size_t)r, C_N, 42);
	an_cell_int(t, (size_t)r, C_T, 1500);
	an_cell_dbl(t, (size_t)r, C_P, 12.5);
	r = an_table_row(t);
	an_cell_str(t, (size_t)r, C_NAME, "b");
	an_cell_int(t, (size_t)r, C_N, -3);
	an_cell_dbl(t, (size_t)r, C_P, NAN);        /* unset */
	return t;
}

static char *render(enum an_format fmt, bool pieces)
{
	struct an_table *t = sample();
	struct an_out o;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	an_out_begin(&o, f, fmt);
	an_out_kv_str(&o, "trace", "x.db");
	if (pieces) {
		struct an_table *u = sample();

		an_out_table_begin(&o, t);
		an_table_clear(t);
		for (size_t r = 0; r < 2; r++) {
			long k = an_table_row(t);

			for (unsigned c = 0; c < C_NCOLS; c++) {
				struct an_cell *src = &u->cells[r * C_NCOLS + c];

				if (!src->set)
					continue;
				if (c == C_NAME)
					an_cell_str(t, (size_t)k, c, src->s);
				else if (c == C_P)
					an_cell_dbl(t, (size_t)k, c, src->d);
				else
					an_cell_int(t, (size_t)k, c, src->i);
			}
			an_out_table_rows(&o, t);
		}
		an_out_table_end(&o, t);
		an_table_free(u);
	} else {
		an_out_table(&o, t);
	}
	an_out_note(&o, "n=%d", 2);
	assert_int_equal(an_out_end(&o), 0);
	fclose(f);
	an_table_free(t);
	return buf;
}

static void test_json(void **state)
{
	char *j = render(AN_JSON, false), *k = render(AN_JSON, true);

	(void)state;
	assert_non_null(strstr(j, "\"trace\": \"x.db\""));
	assert_non_null(strstr(j, "\"name\": \"a \\\"quoted\\\", name\\n\""));
	assert_non_null(strstr(j, "\"count\": 42"));
	assert_non_null(strstr(j, "\"t_ns\": 1500"));
	assert_non_null(strstr(j, "\"pct\": 12.5"));
	assert_non_null(strstr(j, "\"t_ns\": null"));
	assert_non_null(strstr(j, "\"pct\": null"));
	assert_non_null(strstr(j, "\"notes\": [\"n=2\"]"));
	assert_string_equal(j, k);          /* pieces == whole */
	free(j);
	free(k);
}

static void test_csv(void **state)
{
	char *c = render(AN_CSV, false);

	(void)state;
	assert_string_equal(c, "# things\nname,count,t_ns,pct\n"
			    "\"a \"\"quoted\"\", name\n\",42,1500,12.5\nb,-3,,\n# note: n=2\n");
	free(c);
}

static void test_human(void **state)
{
	char *h = render(AN_HUMAN, false);

	(void)state;
	/* title, group heading, aligned header, cells in human units, notes */
	assert_non_null(strstr(h, "some things\n"));
	assert_non_null(strstr(h, "latency"));
	assert_non_null(strstr(h, "NAME"));
	assert_non_null(strstr(h, "1.50us"));
	assert_non_null(strstr(h, "12.50%"));
	assert_non_null(strstr(h, "note: n=2"));
	{
		/* every row line has its numbers right-aligned under COUNT */
		const char *hdr = strstr(h, "NAME"), *r2 = strstr(h, "\nb ");
		const char *count = strstr(hdr, "COUNT");
		const char *minus3 = strstr(r2, "-3");

		assert_non_null(r2);
		assert_int_equal((count + 5) - hdr, (minus3 + 2) - (r2 + 1));
	}
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_human_units),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_human),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
