/* Description: analyze/hist.c, the log-linear latency histogram.  Every
 * bucket's bounds contain exactly the values that map to it; quantiles of
 * many distributions (uniform, log-normal, heavy tail, constant, tiny
 * counts, huge values) agree with an exact nearest-rank computation within
 * the documented bound 2^-(S+1); merging equals adding everything to one
 * histogram; min/max/count/sum are exact.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hist.h"

static uint64_t rng = 12345;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
	double r = ceil(p * (double)n);
	size_t k = r < 1 ? 1 : (size_t)r;

	return sorted[(p >= 1 ? n : k) - 1];
}

static const double ps[] = { 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1 };

/* Fill a histogram with v[0..n), check every quantile against sorting. */
static void check(uint64_t *v, size_t n, unsigned bits)
{
	struct an_hist h;
	uint64_t sum = 0;
	double bound = an_hist_error_bound(bits);

	an_hist_init(&h, bits);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(an_hist_add(&h, v[i]), 0);
		sum += v[i];
	}
	qsort(v, n, sizeof *v, cmp);
	assert_int_equal(h.n, n);
	assert_int_equal(h.sum, sum);
	assert_int_equal(h.min, v[0]);
	assert_int_equal(h.max, v[n - 1]);
	assert_int_equal(an_hist_quantile(&h, 0), v[0]);
	for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
		uint64_t want = exact(v, n, ps[i]), got = an_hist_quantile(&h, ps[i]);
		double err = want ? fabs((double)got - (double)want) / (double)want : (double)got;

		if (err >= bound && !(want == 0 && got == 0))
			fail_msg("bits %u p%g: got %llu, exact %llu, error %.5f >= bound %.5f", bits,
				 ps[i] * 100, (unsigned long long)got, (unsigned long long)want, err,
				 bound);
	}
	an_hist_free(&h);
}

static void test_bucket_bounds(void **state)
{
	(void)state;
	for (unsigned bits = 1; bits <= 10; bits++) {
		uint32_t nb = an_hist_nbuckets(bits);

		/* consecutive buckets tile the value range without gaps */
		for (uint32_t i = 0; i + 1 < nb; i++) {
			uint64_t lo = an_hist_bucket_lo(i, bits), w = an_hist_bucket_width(i, bits);

			assert_int_equal(lo + w, an_hist_bucket_lo(i + 1, bits));
			assert_int_equal(an_hist_index(lo, bits), i);
			assert_int_equal(an_hist_index(lo + w - 1, bits), i);
		}
		assert_int_equal(an_hist_index(UINT64_MAX, bits), nb - 1);
		assert_int_equal(an_hist_bucket_lo(nb - 1, bits) + (an_hist_bucket_width(nb - 1, bits) - 1),
				 UINT64_MAX);
		/* relative width never exceeds 2^-bits */
		for (uint32_t i = 1u << bits; i < nb; i++)
			assert_true((double)an_hist_bucket_width(i, bits) /
				    (double)an_hist_bucket_lo(i, bits) <= 1.0 / (1u << bits) + 1e-12);
	}
}

static void test_uniform(void **state)
{
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof *v);

	(void)state;
	for (unsigned bits = AN_HIST_BITS_SMALL; bits <= AN_HIST_BITS; bits += AN_HIST_BITS - AN_HIST_BITS_SMALL) {
		for (size_t i = 0; i < n; i++)
			v[i] = 1000 + rnd() % 5000000;
		check(v, n, bits);
	}
	free(v);
}

static void test_lognormal_heavy_tail(void **state)
{
	size_t n = 300000;
	uint64_t *v = malloc(n * sizeof *v);

	(void)state;
	for (int round = 0; round < 5; round++) {
		for (size_t i = 0; i < n; i++) {
			double u = rnd01(), w = rnd01();
			double g = sqrt(-2 * log(u > 1e-300 ? u : 1e-300)) * cos(2 * M_PI * w);

			v[i] = (uint64_t)(20000 * exp(0.9 * g)) * (rnd() % 100 == 0 ? 50 : 1);
		}
		check(v, n, AN_HIST_BITS);
		check(v, n, AN_HIST_BITS_SMALL);
	}
	free(v);
}

static void test_small_and_odd(void **state)
{
	uint64_t one[1] = { 777 }, two[2] = { 5, 1000000007 }, zeros[10] = { 0 };
	uint64_t same[1000], huge[64], exact_small[300];

	(void)state;
	check(one, 1, AN_HIST_BITS);
	check(two, 2, AN_HIST_BITS);
	check(zeros, 10, AN_HIST_BITS);
	for (size_t i = 0; i < 1000; i++)
		same[i] = 123456789;
	check(same, 1000, AN_HIST_BITS);
	for (size_t i = 0; i < 64; i++)
		huge[i] = UINT64_MAX - i * 0x0123456789abcdefull;
	check(huge, 64, AN_HIST_BITS);
	/* below 2^(S+1) every value has its own bucket: quantiles are exact */
	for (size_t i = 0; i < 300; i++)
		exact_small[i] = rnd() % 256;
	{
		struct an_hist h;
		uint64_t copy[300];

		memcpy(copy, exact_small, sizeof copy);
		an_hist_init(&h, AN_HIST_BITS);
		for (size_t i = 0; i < 300; i++)
			an_hist_add(&h, exact_small[i]);
		qsort(copy, 300, sizeof *copy, cmp);
		for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
			assert_int_equal(an_hist_quantile(&h, ps[i]), exact(copy, 300, ps[i]));
		an_hist_free(&h);
	}
}

static void test_empty(void **state)
{
	struct an_hist h;

	(void)state;
	an_hist_init(&h, AN_HIST_BITS);
	assert_int_equal(an_hist_quantile(&h, 0.5), 0);
	assert_int_equal(an_hist_mean(&h), 0);
	assert_null(h.b);           /* nothing allocated until the first add */
	an_hist_free(&h);
}

static void test_merge(void **state)
{
	struct an_hist a, b, all, other;

	(void)state;
	an_hist_init(&a, AN_HIST_BITS);
	an_hist_init(&b, AN_HIST_BITS);
	an_hist_init(&all, AN_HIST_BITS);
	an_hist_init(&other, AN_HIST_BITS_SMALL);
	for (int i = 0; i < 100000; i++) {
		uint64_t v = rnd() % 10000000;

		an_hist_add(i % 3 ? &a : &b, v);
		an_hist_add(&all, v);
	}
	assert_int_equal(an_hist_merge(&a, &b), 0);
	assert_int_equal(a.n, all.n);
	assert_int_equal(a.sum, all.sum);
	assert_int_equal(a.min, all.min);
	assert_int_equal(a.max, all.max);
	assert_memory_equal(a.b, all.b, a.nb * sizeof *a.b);
	assert_int_equal(an_hist_merge(&a, &other), -EINVAL);   /* different layouts */
	an_hist_reset(&a);
	assert_int_equal(a.n, 0);
	assert_int_equal(an_hist_quantile(&a, 0.99), 0);
	an_hist_free(&a);
	an_hist_free(&b);
	an_hist_free(&all);
	an_hist_free(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_lognormal_heavy_tail),
		cmocka_unit_test(test_small_and_odd),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
