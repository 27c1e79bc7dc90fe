/* \summary: SVG charts for the HTML report (svg.h).  Geometry is computed
 * here; colours and fonts come from the page's CSS classes. */
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include "svg.h"
#include "table.h"

/* chart geometry (viewBox units) */
#define TW 960.0
#define TH 230.0
#define TL 64.0                 /* left margin: y labels */
#define TR 16.0
#define TT 30.0                 /* top: title */
#define TB 34.0                 /* bottom: x labels */

void html_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if ((unsigned char)*s >= 0x80) {     /* the page says UTF-8: keep it so */
			size_t n = an_utf8_len((const unsigned char *)s);

			if (!n) {
				fputs("\xef\xbf\xbd", f);
			} else {
				fwrite(s, 1, n, f);
				s += n - 1;
			}
			continue;
		}
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* A "nice" step (1, 2 or 5 times a power of ten) for about n ticks. */
static double nice_step(double range, int n)
{
	double raw = range / n, mag, r;

	if (raw <= 0)
		return 1;
	mag = pow(10, floor(log10(raw)));
	r = raw / mag;
	return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

/* Axis labels read better as "10us" than "10.0us": drop zero decimals. */
static void trim_zeros(char *buf)
{
	char *dot = strchr(buf, '.'), *p;

	if (!dot)
		return;
	for (p = dot + 1; *p == '0'; p++)
		;
	if (*p >= '1' && *p <= '9') {
		/* keep significant decimals, drop trailing zeros after them */
		char *q = p;

		while (*q >= '0' && *q <= '9')
			q++;
		p = q;
		while (p[-1] == '0')
			p--;
		memmove(p, q, strlen(q) + 1);
		return;
	}
	memmove(dot, p, strlen(p) + 1);
}

static void fmt_unit(char *buf, size_t n, enum svg_unit u, double v)
{
	switch (u) {
	case SVG_RATE: an_fmt_rate(buf, n, v); break;
	case SVG_BYTES_RATE: an_fmt_bytes(buf, n, v); break;
	case SVG_NS: an_fmt_ns(buf, n, v); break;
	default: snprintf(buf, n, "%.0f", v); break;
	}
	trim_zeros(buf);
	if (u == SVG_BYTES_RATE && strlen(buf) + 3 <= n)
		strcat(buf, "/s");
}

static void fmt_secs(char *buf, size_t n, double s, double step)
{
	if (step >= 1)
		snprintf(buf, n, "%.0fs", s);
	else if (step >= 0.1)
		snprintf(buf, n, "%.1fs", s);
	else if (step >= 0.01)
		snprintf(buf, n, "%.2fs", s);
	else
		snprintf(buf, n, "%.0fms", s * 1000);
}

void svg_time_chart(FILE *f, const char *id, const char *title, enum svg_unit unit,
		    const double *x0, const double *w, size_t n,
		    const struct svg_series *s, size_t ns)
{
	double xmin, xmax, ymax = 0, ystep, xstep, pw = TW - TL - TR, ph = TH - TT - TB;
	char lab[48];

	fprintf(f, "<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		"aria-label=\"", id, TW, TH);
	html_esc(f, title);
	fprintf(f, "\">\n<text class=\"ctitle\" x=\"%.0f\" y=\"18\">", TL);
	html_esc(f, title);
	fputs("</text>\n", f);
	if (!n) {
		fprintf(f, "<text class=\"empty\" x=\"%.0f\" y=\"%.0f\">no requests</text></svg>\n",
			TW / 2, TH / 2);
		return;
	}
	xmin = x0[0];
	xmax = x0[n - 1] + w[n - 1];
	if (xmax <= xmin)
		xmax = xmin + 1e-3;
	for (size_t k = 0; k < ns; k++)
		for (size_t i = 0; i < n; i++)
			if (!isnan(s[k].y[i]) && s[k].y[i] > ymax)
				ymax = s[k].y[i];
	if (ymax <= 0)
		ymax = 1;
	if (unit == SVG_BYTES_RATE) {
		/* steps of 1, 2 or 5 in the binary unit the labels use */
		double scale = 1;

		while (ymax / scale >= 1000)
			scale *= 1024;
		ystep = nice_step(ymax / scale, 4) * scale;
	} else {
		ystep = nice_step(ymax, 4);
	}
	if (unit == SVG_COUNT && ystep < 1)
		ystep = 1;
	ymax = ceil(ymax / ystep) * ystep;
	xstep = nice_step(xmax - xmin, 8);

#define X(v) (TL + ((v) - xmin) / (xmax - xmin) * pw)
#define Y(v) (TT + ph - (v) / ymax * ph)
	/* grid and y labels */
	for (double v = 0; v <= ymax * 1.0001; v += ystep) {
		fmt_unit(lab, sizeof lab, unit, v);
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
			"<text class=\"ylab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
			TL, TW - TR, Y(v), Y(v), TL - 6, Y(v) + 4, lab);
	}
	for (double v = ceil(xmin / xstep) * xstep; v <= xmax + 1e-12; v += xstep) {
		fmt_secs(lab, sizeof lab, v, xstep);
		fprintf(f, "<line class=\"tick\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
			"<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
			X(v), X(v), TT + ph, TT + ph + 5, X(v), TT + ph + 19, lab);
	}
	fprintf(f, "<text class=\"xunit\" x=\"%.1f\" y=\"%.1f\">time since start</text>\n",
		TW - TR, TH - 2);
	/* series as step paths */
	for (size_t k = 0; k < ns; k++) {
		const double *y = s[k].y;
		bool pen = false;

		if (s[k].area) {
			fprintf(f, "<path class=\"area %s\" d=\"", s[k].cls);
			for (size_t i = 0; i < n; i++) {
				double v = isnan(y[i]) ? 0 : y[i];

				fprintf(f, "%s%.1f %.1f L%.1f %.1f ", i ? "L" : "M", X(x0[i]),
					i ? Y(v) : Y(0), X(x0[i]), Y(v));
				fprintf(f, "L%.1f %.1f ", X(x0[i] + w[i]), Y(v));
			}
			fprintf(f, "L%.1f %.1f Z\"/>\n", X(x0[n - 1] + w[n - 1]), Y(0));
		}
		fprintf(f, "<path class=\"line %s\" d=\"", s[k].cls);
		for (size_t i = 0; i < n; i++) {
			if (isnan(y[i])) {
				pen = false;
				continue;
			}
			fprintf(f, "%s%.1f %.1f L%.1f %.1f ", pen ? "L" : "M", X(x0[i]), Y(y[i]),
				X(x0[i] + w[i]), Y(y[i]));
			pen = true;
		}
		fputs("\"/>\n", f);
	}
	/* legend */
	for (size_t k = 0; k < ns && ns > 1; k++) {
		double lx = TW - TR - 170.0 * (double)(ns - k);

		fprintf(f, "<rect class=\"key %s\" x=\"%.1f\" y=\"8\" width=\"12\" height=\"12\" rx=\"2\"/>"
			"<text class=\"legend\" x=\"%.1f\" y=\"18\">", s[k].cls, lx, lx + 17);
		html_esc(f, s[k].label);
		fputs("</text>\n", f);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
		TL, TW - TR, TT + ph, TT + ph);
	fputs("</svg>\n", f);
#undef X
#undef Y
}

/* histogram geometry */
#define HW 420.0
#define HH 190.0
#define HL 44.0
#define HR 12.0
#define HT 28.0
#define HB 30.0
#define BINS_PER_OCTAVE 4

void svg_latency_hist(FILE *f, const char *id, const char *title, const struct an_hist *h)
{
	double lo2, hi2, pw = HW - HL - HR, ph = HH - HT - HB;
	double bins[64 * BINS_PER_OCTAVE] = { 0 }, peak = 0;
	int nbins;
	char lab[32];

	fprintf(f, "<svg class=\"hist\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		"aria-label=\"", id, HW, HH);
	html_esc(f, title);
	fprintf(f, "\">\n<text class=\"ctitle\" x=\"%.0f\" y=\"17\">", HL);
	html_esc(f, title);
	fputs("</text>\n", f);
	if (!h->n || !h->b) {
		fprintf(f, "<text class=\"empty\" x=\"%.0f\" y=\"%.0f\">no latencies</text></svg>\n",
			HW / 2, HH / 2);
		return;
	}
	lo2 = floor(log2(h->min > 0 ? (double)h->min : 1));
	hi2 = ceil(log2((double)h->max + 1));
	if (hi2 - lo2 < 3) {        /* at least three octaves wide */
		lo2 = floor((lo2 + hi2) / 2) - 1.5;
		hi2 = lo2 + 3;
	}
	nbins = (int)((hi2 - lo2) * BINS_PER_OCTAVE);
	if (nbins > 64 * BINS_PER_OCTAVE)
		nbins = 64 * BINS_PER_OCTAVE;
	for (uint32_t i = 0; i < h->nb; i++) {
		double v;
		int b;

		if (!h->b[i])
			continue;
		v = (double)an_hist_bucket_lo(i, h->bits) + (double)an_hist_bucket_width(i, h->bits) / 2;
		b = (int)floor((log2(v > 0 ? v : 1) - lo2) * BINS_PER_OCTAVE);
		b = b < 0 ? 0 : b >= nbins ? nbins - 1 : b;
		bins[b] += (double)h->b[i];
	}
	for (int b = 0; b < nbins; b++)
		if (bins[b] > peak)
			peak = bins[b];

#define X(l2) (HL + ((l2) - lo2) / (hi2 - lo2) * pw)
	/* decade ticks: 1, 10, 100 ... ns, labelled as durations */
	for (double d = pow(10, ceil(lo2 * log10(2))); log2(d) <= hi2; d *= 10) {
		an_fmt_ns(lab, sizeof lab, d);
		trim_zeros(lab);
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
			"<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
			X(log2(d)), X(log2(d)), HT, HT + ph, X(log2(d)), HT + ph + 16, lab);
	}
	for (int b = 0; b < nbins; b++) {
		double x = X(lo2 + (double)b / BINS_PER_OCTAVE), bw = pw / nbins;
		double bh = bins[b] / peak * (ph - 26);     /* headroom for the marks' labels */

		if (!bins[b])
			continue;
		if (bh < 1)
			bh = 1;     /* a single request stays visible */
		fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			"<title>%.0f requests</title></rect>\n",
			x + 0.5, HT + ph - bh, bw > 1.5 ? bw - 1 : bw, bh, bins[b]);
	}
	{
		static const struct { double p; const char *name, *cls; } marks[] = {
			{ 0.5, "p50", "m50" }, { 0.99, "p99", "m99" },
		};

		for (size_t k = 0; k < 2; k++) {
			double q = (double)an_hist_quantile(h, marks[k].p);
			double x = X(log2(q > 0 ? q : 1)), y = HT + 9 + 12.0 * (double)k;
			/* about 6 units per character at this size: flip the
			 * label to the left of its line near the right edge */
			bool left = x + 3 + 6.0 * (4 + 7) > HW - HR;

			an_fmt_ns(lab, sizeof lab, q);
			fprintf(f, "<line class=\"mark %s\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
				"<text class=\"mlab %s\" x=\"%.1f\" y=\"%.1f\"%s>%s %s</text>\n",
				marks[k].cls, x, x, y - 9, HT + ph, marks[k].cls, left ? x - 3 : x + 3, y,
				left ? " text-anchor=\"end\"" : "", marks[k].name, lab);
		}
	}
	fprintf(f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
		HL, HW - HR, HT + ph, HT + ph);
	fputs("</svg>\n", f);
#undef X
}
