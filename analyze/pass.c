/* \summary: the statistics pass of summary and diff, split over threads for
 * sqlite traces: each thread scans a rowid range of the requests table
 * into its own an_stats, and the partial results merge (counts add,
 * histograms add bucket by bucket), so the answer is the same as one
 * thread's.  pcap traces, small traces and one CPU take a single pass. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stats.h"

#define MAX_PARTS 8
#define MIN_ROWS_PER_PART 250000      /* below this, threads cost more than they give */

struct part {
	struct an_engine e;
	struct an_stats s;
	bool open;
	int ret;
	pthread_t th;
};

/* One thread per idle CPU: on a busy machine extra threads only fight the
 * other load for the same cores (measured: more CPU time, no less wall). */
static unsigned nthreads(void)
{
	const char *env = getenv("FUSEANALYZE_THREADS");
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	double load;

	if (env)
		n = strtol(env, NULL, 10);
	else if (getloadavg(&load, 1) == 1)
		n -= (long)(load + 0.5);
	return n < 1 ? 1 : n > MAX_PARTS ? MAX_PARTS : (unsigned)n;
}

static void *run(void *arg)
{
	struct part *p = arg;

	p->ret = an_engine_run(&p->e);
	return NULL;
}

static void merge_op(struct an_opstat *d, const struct an_opstat *s, int *ret)
{
	if (!s->count)
		return;
	if (!d->count)
		d->opcode = s->opcode;
	d->count += s->count;
	d->errors += s->errors;
	d->pending += s->pending;
	d->noreply += s->noreply;
	d->interrupted += s->interrupted;
	d->req_bytes += s->req_bytes;
	d->reply_bytes += s->reply_bytes;
	d->data += s->data;
	if (s->errnos) {
		if (!d->errnos && !(d->errnos = calloc(AN_ERRNO_MAX, sizeof *d->errnos))) {
			*ret = -ENOMEM;
			return;
		}
		for (unsigned i = 0; i < AN_ERRNO_MAX; i++)
			d->errnos[i] += s->errnos[i];
	}
	if (an_hist_merge(&d->total, &s->total) || an_hist_merge(&d->backend, &s->backend) ||
	    an_hist_merge(&d->overhead, &s->overhead))
		*ret = -ENOMEM;
}

int an_stats_merge(struct an_stats *d, const struct an_stats *s)
{
	int ret = 0;

	for (unsigned i = 0; i < AN_NOPS; i++)
		merge_op(&d->op[i], &s->op[i], &ret);
	if (s->t_first < d->t_first)
		d->t_first = s->t_first;
	if (s->t_last > d->t_last)
		d->t_last = s->t_last;
	return ret ? ret : an_stats_finish(d);
}

int an_stats_pass(struct an_engine *e, struct an_stats *s, const char *path, const char *ops,
		  char *err, size_t errlen)
{
	struct part parts[MAX_PARTS];
	struct an_consumer c;
	unsigned n = nthreads();
	int64_t lo, hi;
	int ret;

	memset(parts, 0, sizeof parts);
	an_stats_init(s);
	ret = an_engine_open(e, path, ops, AN_UNORDERED, err, errlen);
	if (ret)
		return ret;
	c = an_stats_consumer(s);
	an_engine_add(e, &c);
	if (!e->scan || n < 2) {
		n = 1;
	} else if (!getenv("FUSEANALYZE_THREADS") && !an_scan_rowids_of(e, &lo, &hi)) {
		int64_t fit = (hi - lo) / MIN_ROWS_PER_PART;

		if (fit < (int64_t)n)
			n = fit > 1 ? (unsigned)fit : 1;
	}
	if (n > 1) {
		for (unsigned k = 1; k < n; k++) {
			struct part *p = &parts[k];

			ret = an_engine_open(&p->e, path, ops, AN_UNORDERED, err, errlen);
			if (ret)
				goto out;
			p->open = true;
			an_stats_init(&p->s);
			c = an_stats_consumer(&p->s);
			an_engine_add(&p->e, &c);
			if ((ret = an_engine_partition(&p->e, k, n))) {
				snprintf(err, errlen, "%s", p->e.err);
				goto out;
			}
		}
		if ((ret = an_engine_partition(e, 0, n))) {
			snprintf(err, errlen, "%s", e->err);
			goto out;
		}
		for (unsigned k = 1; k < n; k++) {
			if (pthread_create(&parts[k].th, NULL, run, &parts[k])) {
				/* no thread: that part runs here instead */
				parts[k].ret = an_engine_run(&parts[k].e);
				parts[k].th = 0;
			}
		}
	}
	ret = an_engine_run(e);
	if (ret)
		snprintf(err, errlen, "%s", e->err);
	for (unsigned k = 1; k < n; k++) {
		struct part *p = &parts[k];

		if (p->th)
			pthread_join(p->th, NULL);
		if (!ret && p->ret) {
			ret = p->ret;
			snprintf(err, errlen, "%s", p->e.err);
		}
		if (!ret) {
			an_engine_absorb(e, &p->e);
			ret = an_stats_merge(s, &p->s);
			if (ret)
				snprintf(err, errlen, "out of memory");
		}
	}
out:
	for (unsigned k = 1; k < n; k++) {
		if (parts[k].open) {
			an_stats_free(&parts[k].s);
			an_engine_close(&parts[k].e);
		}
	}
	return ret;
}
