/* \summary: the report's charts as inline SVG: step charts over time and
 * log-scaled latency histograms.  Pure output: styling is by CSS class
 * (report.c carries the stylesheet), so the charts follow the page. */
#ifndef AN_SVG_H
#define AN_SVG_H

#include <stddef.h>
#include <stdio.h>
#include "hist.h"

enum svg_unit { SVG_RATE, SVG_BYTES_RATE, SVG_COUNT, SVG_NS };

struct svg_series {
	const char *label;
	const char *cls;            /* CSS class: s1, s2, s3 ... */
	const double *y;            /* one value per bucket; NaN = no value */
	int area;                   /* fill below the line */
};

/* A step chart: bucket i spans [x0[i], x0[i] + w[i]) seconds. */
void svg_time_chart(FILE *f, const char *id, const char *title, enum svg_unit unit,
		    const double *x0, const double *w, size_t n,
		    const struct svg_series *s, size_t ns);

/* Latency histogram of h on a log time axis, with p50/p99 marked. */
void svg_latency_hist(FILE *f, const char *id, const char *title, const struct an_hist *h);

/* Text with <, >, &, " escaped. */
void html_esc(FILE *f, const char *s);

#endif
