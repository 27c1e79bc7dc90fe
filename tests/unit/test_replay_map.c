/* Description: replay/map.c, the id hash map behind node, handle and unique
 * remapping: get/put/replace/delete against a reference array over random
 * operations, including dense and colliding keys, so backward-shift deletion
 * never loses an entry that follows a removed one in its probe run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "map.h"

#define KEYS 5000

static void test_basic(void **state)
{
	struct rp_map m = { 0 };
	int a, b;

	(void)state;
	assert_null(map_get(&m, 1));
	assert_null(map_del(&m, 1));
	assert_int_equal(map_put(&m, map_key(0), &a), 0);	/* id 0 is a legal fh */
	assert_ptr_equal(map_get(&m, map_key(0)), &a);
	assert_int_equal(map_put(&m, map_key(0), &b), 0);	/* replace */
	assert_ptr_equal(map_get(&m, map_key(0)), &b);
	assert_int_equal(m.n, 1);
	assert_ptr_equal(map_del(&m, map_key(0)), &b);
	assert_null(map_get(&m, map_key(0)));
	assert_int_equal(m.n, 0);
	map_free(&m);
}

static void count_one(uint64_t key, void *val, void *arg)
{
	(void)key;
	(void)val;
	(*(size_t *)arg)++;
}

/* Random puts and deletes on a small key space (many collisions and long
 * probe runs) and on sparse 64-bit keys, checked against an array. */
static void run_random(uint64_t (*key_of)(unsigned), unsigned seed)
{
	static void *ref[KEYS];
	struct rp_map m = { 0 };
	size_t live = 0, seen = 0;

	srand(seed);
	for (unsigned i = 0; i < KEYS; i++)
		ref[i] = NULL;
	for (int step = 0; step < 100000; step++) {
		unsigned k = (unsigned)rand() % KEYS;
		uint64_t key = key_of(k);
		if (rand() % 3) {
			void *v = (void *)(uintptr_t)(step * 8 + 8);
			assert_int_equal(map_put(&m, key, v), 0);
			if (!ref[k])
				live++;
			ref[k] = v;
		} else {
			assert_ptr_equal(map_del(&m, key), ref[k]);
			if (ref[k])
				live--;
			ref[k] = NULL;
		}
		if (step % 2500 == 0)
			for (unsigned j = 0; j < KEYS; j++)
				assert_ptr_equal(map_get(&m, key_of(j)), ref[j]);
	}
	assert_int_equal(m.n, live);
	map_each(&m, count_one, &seen);
	assert_int_equal(seen, live);
	map_free(&m);
}

static uint64_t dense(unsigned k) { return map_key(k); }
static uint64_t sparse(unsigned k) { return (uint64_t)k * 0x9e3779b97f4a7c15ull | 1; }
/* keys that differ only above the bits the slot index uses */
static uint64_t high(unsigned k) { return ((uint64_t)k << 40) | 1; }

static void test_random_dense(void **state) { (void)state; run_random(dense, 1); }
static void test_random_sparse(void **state) { (void)state; run_random(sparse, 2); }
static void test_random_high(void **state) { (void)state; run_random(high, 3); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_random_dense),
		cmocka_unit_test(test_random_sparse),
		cmocka_unit_test(test_random_high),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
