/* Description: trace/ readers against hostile input.  Unknown formats, pcap
 * files cut at every offset (with and without FP_READ_TRUNCATED_OK), each
 * kind of malformed pcap record, byte-swapped pcap headers, random byte
 * flips, corrupted and truncated sqlite files and rows that contradict
 * themselves: each must give a clear error or a consistent read, never a
 * crash (run under ASan/UBSan in the sanitizer build).
 */
#include <errno.h>
#include <byteswap.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "reader.h"
#include "trace.h"
#include "test_trace_gen.h"

#define N 60

static char dir[64] = "/dev/shm/test_trace_reader.XXXXXX";
static char db[256], pcap[256], tmp[256];
static uint8_t *pcap_bytes;
static size_t pcap_size;
static uint64_t full_count;

/* ---- fixture --------------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	*n = 0;
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	b = malloc((size_t)st.st_size + 1);
	if (b && read(fd, b, (size_t)st.st_size) != st.st_size) {
		free(b);
		b = NULL;
	}
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

static void spit(const char *path, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
}

/* Records in a trace; -errno if it does not open or read. */
static int64_t count(const char *path, unsigned flags, char *err, size_t errlen)
{
	struct fp_reader *r;
	struct fp_trace_rec rec;
	int64_t n = 0;
	int ret;

	ret = fp_reader_open(&r, path, flags, err, errlen);
	if (ret)
		return ret;
	while ((ret = fp_reader_next(r, &rec, err, errlen)) > 0) {
		/* touch every byte the reader hands out */
		volatile uint8_t sum = 0;

		if (rec.kind == FP_REC_EXCHANGE) {
			for (uint32_t i = 0; i < rec.x.req_caplen; i++)
				sum ^= ((const uint8_t *)rec.x.req)[i];
			for (uint32_t i = 0; i < rec.x.reply_caplen; i++)
				sum ^= ((const uint8_t *)rec.x.reply)[i];
			if (rec.x.comm)
				sum ^= (uint8_t)strlen(rec.x.comm);
		} else if (rec.kind == FP_REC_NOTIFY) {
			for (uint32_t i = 0; i < rec.n.caplen; i++)
				sum ^= ((const uint8_t *)rec.n.msg)[i];
		} else {
			sum ^= (uint8_t)strlen(rec.e.text);
		}
		(void)sum;
		n++;
	}
	fp_reader_close(r);
	return ret < 0 ? ret : n;
}

static int setup(void **state)
{
	struct fp_trace_opts o = { .nworkers = 1, .snaplen = FP_TRACE_SNAPLEN_ALL,
				   .transport = "fusedev" };
	struct fp_trace *t;
	struct gen *g = malloc(sizeof *g);
	uint8_t note[128];
	char err[256];

	(void)state;
	/* tmpfs when there is one: thousands of small rewrites */
	if (!mkdtemp(dir)) {
		strcpy(dir, "/tmp/test_trace_reader.XXXXXX");
		if (!mkdtemp(dir))
			return -1;
	}
	snprintf(db, sizeof db, "%s/t.db", dir);
	snprintf(pcap, sizeof pcap, "%s/t.pcap", dir);
	snprintf(tmp, sizeof tmp, "%s/bad", dir);
	o.db_path = db;
	o.pcap_path = pcap;
	if (fp_trace_open(&t, &o, err, sizeof err))
		return -1;
	for (uint64_t i = 0; i < N; i++) {
		struct fp_trace_exchange x;

		gen_exchange(0, i * 97 % 1000, g, &x);   /* payloads of various sizes */
		x.t_read = GEN_BASE_T + i * 1000;
		fp_trace_exchange(t, 0, &x);
		if (i % 10 == 0)
			fp_trace_notify(t, 0, FP_DIR_PROXY_TO_KERNEL, note, gen_notify(note, i),
					GEN_BASE_T + i * 1000 + 1);
	}
	fp_trace_event(t, FP_EV_INFO, "done");
	free(g);
	if (fp_trace_close(t, NULL, err, sizeof err))
		return -1;
	pcap_bytes = slurp(pcap, &pcap_size);
	return pcap_bytes ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	free(pcap_bytes);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static void expect_error(const char *path, unsigned flags, const char *needle)
{
	char err[FP_TRACE_ERRBUF_SIZE] = "";
	int64_t n = count(path, flags, err, sizeof err);

	if (n >= 0)
		fail_msg("%s opened (%lld records); expected an error with '%s'", path,
			 (long long)n, needle);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
	assert_non_null(strstr(err, path));          /* names the file */
}

/* ---- tests ---------------------------------------------------------------- */

static void test_valid(void **state)
{
	char err[FP_TRACE_ERRBUF_SIZE];

	(void)state;
	full_count = (uint64_t)count(pcap, 0, err, sizeof err);
	assert_int_equal(full_count, N + N / 10 + 1);
	assert_int_equal(count(db, 0, err, sizeof err), full_count);
}

static void test_unknown_formats(void **state)
{
	static const uint8_t pcapng[] = { 0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0 };
	uint8_t junk[4096];

	(void)state;
	spit(tmp, "", 0);
	expect_error(tmp, 0, "empty file");
	spit(tmp, "hello, world\n", 13);
	expect_error(tmp, 0, "not a trace");
	spit(tmp, pcapng, sizeof pcapng);
	expect_error(tmp, 0, "pcapng is not supported");
	expect_error("/nonexistent/trace.db", 0, "No such file");

	/* the sqlite magic followed by garbage */
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	memcpy(junk, "SQLite format 3", 16);
	spit(tmp, junk, sizeof junk);
	expect_error(tmp, 0, tmp);

	/* a pcap header and nothing else: a valid, empty trace? no: too short */
	spit(tmp, pcap_bytes, 10);
	expect_error(tmp, 0, "truncated pcap file header");
}

static void test_foreign_sqlite(void **state)
{
	sqlite3 *h;
	char sql[128];

	(void)state;
	unlink(tmp);
	assert_int_equal(sqlite3_open(tmp, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE x(a); INSERT INTO x VALUES (1)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	expect_error(tmp, 0, "not a fuseproxy trace");

	/* ours, but from the future */
	unlink(tmp);
	spit(tmp, "", 0);
	{
		size_t n;
		uint8_t *b = slurp(db, &n);

		spit(tmp, b, n);
		free(b);
	}
	assert_int_equal(sqlite3_open(tmp, &h), SQLITE_OK);
	snprintf(sql, sizeof sql, "PRAGMA user_version = 99");
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	expect_error(tmp, 0, "trace format version 99");
}

static void copy_db(void)
{
	size_t n;
	uint8_t *b = slurp(db, &n);

	assert_non_null(b);
	spit(tmp, b, n);
	free(b);
}

static void db_exec(const char *sql)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(tmp, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void test_sqlite_bad_rows(void **state)
{
	(void)state;
	copy_db();
	db_exec("UPDATE requests SET req_len = 1 WHERE id = 5");
	expect_error(tmp, 0, "requests row 5: keeps more bytes than the message had");
	copy_db();
	db_exec("UPDATE requests SET reply_len = -3 WHERE id = 7");
	expect_error(tmp, 0, "requests row 7: length out of range");
	copy_db();
	db_exec("UPDATE notifications SET len = 0 WHERE id = 2");
	expect_error(tmp, 0, "notifications row 2");
	copy_db();
	db_exec("DELETE FROM session");
	expect_error(tmp, 0, "session table is empty");
	copy_db();
	db_exec("DROP TABLE events");
	expect_error(tmp, 0, "events");
}

static void test_sqlite_corrupt(void **state)
{
	size_t n;
	uint8_t *b = slurp(db, &n);
	char err[FP_TRACE_ERRBUF_SIZE];

	(void)state;
	assert_non_null(b);
	/* garbage over pages, one region at a time; then cut the file */
	for (size_t off = 8192; off < n; off += 8192) {
		uint8_t *c = malloc(n);
		int64_t got;

		memcpy(c, b, n);
		for (size_t i = off; i < off + 3000 && i < n; i++)
			c[i] = (uint8_t)(i * 7 + off);
		spit(tmp, c, n);
		got = count(tmp, 0, err, sizeof err);
		if (got < 0)
			assert_non_null(strstr(err, tmp));
		spit(tmp, c, off);
		got = count(tmp, 0, err, sizeof err);
		if (got < 0)
			assert_non_null(strstr(err, tmp));
		free(c);
	}
	free(b);
}

static void test_pcap_truncated(void **state)
{
	char err[FP_TRACE_ERRBUF_SIZE];
	int64_t last = 0;
	size_t boundaries = 0;

	(void)state;
	for (size_t len = 0; len < pcap_size; len++) {
		int64_t strict, lenient;

		spit(tmp, pcap_bytes, len);
		strict = count(tmp, 0, err, sizeof err);
		if (strict < 0) {
			assert_non_null(strstr(err, tmp));
			if (len >= 24 && !strstr(err, "truncated"))
				fail_msg("cut at %zu: '%s'", len, err);
		} else {
			boundaries++;
		}
		lenient = count(tmp, FP_READ_TRUNCATED_OK, err, sizeof err);
		if (len < 24) {
			assert_true(lenient < 0);
			continue;
		}
		if (lenient < 0)
			fail_msg("cut at %zu, lenient: %s", len, err);
		/* more file never means fewer records; whole records only */
		assert_true(lenient >= last);
		assert_true((uint64_t)lenient <= full_count);
		if (strict >= 0)
			assert_int_equal(strict, lenient);
		last = lenient;
	}
	/* each record boundary opens strictly (SESSION, N exchanges' requests
	 * and replies, notifications, event, END) */
	assert_true(boundaries >= N + N / 10 + 1);
}

/* Offset of the n-th record header (0 = first, after the file header). */
static size_t rec_off(const uint8_t *b, size_t n)
{
	size_t off = 24;
	uint32_t caplen;

	while (n--) {
		memcpy(&caplen, b + off + 8, 4);
		off += 16 + caplen;
	}
	return off;
}

static void patch_and_expect(size_t at, const void *v, size_t n, const char *needle)
{
	uint8_t *c = malloc(pcap_size);

	memcpy(c, pcap_bytes, pcap_size);
	memcpy(c + at, v, n);
	spit(tmp, c, pcap_size);
	free(c);
	expect_error(tmp, 0, needle);
}

static void test_pcap_bad_records(void **state)
{
	size_t r1 = rec_off(pcap_bytes, 1);          /* first exchange's request */
	uint32_t v32;
	uint8_t v8;

	(void)state;
	v32 = 300000;
	patch_and_expect(r1 + 8, &v32, 4, "invalid record length 300000, bigger than maximum of 262144");
	patch_and_expect(r1 + 12, &(uint32_t){ 20 }, 4, "exceeds original length 20");
	patch_and_expect(r1 + 16, "FPTX", 4, "not a fuseproxy record");
	v8 = 2;
	patch_and_expect(r1 + 16 + 4, &v8, 1, "unsupported record version 2");
	v8 = 10;
	patch_and_expect(r1 + 16 + 5, &v8, 1, "pseudo-header length 10 invalid");
	v8 = 255;
	patch_and_expect(r1 + 16 + 5, &v8, 1, "pseudo-header length 255 invalid");
	v32 = 3;                                       /* orig_len smaller than what is kept */
	patch_and_expect(r1 + 16 + 16, &v32, 4, "message bytes of a 3-byte message");
	v32 = 1;
	patch_and_expect(20, &v32, 4, "link type 1");
	patch_and_expect(4, &(uint16_t){ 3 }, 2, "pcap version 3");
	/* a record of only 5 bytes */
	{
		uint8_t *c = malloc(pcap_size);

		memcpy(c, pcap_bytes, r1 + 16);
		memcpy(c + r1 + 8, &(uint32_t){ 5 }, 4);
		memcpy(c + r1 + 16, "FPTR\1", 5);
		spit(tmp, c, r1 + 16 + 5);
		free(c);
		expect_error(tmp, 0, "shorter than the pseudo-header");
	}
}

static void test_pcap_unknown_type_skipped(void **state)
{
	uint8_t *c = malloc(pcap_size);
	char err[FP_TRACE_ERRBUF_SIZE];
	size_t r = rec_off(pcap_bytes, 0);           /* the SESSION record */

	(void)state;
	memcpy(c, pcap_bytes, pcap_size);
	c[r + 16 + 6] = 99;                          /* type */
	spit(tmp, c, pcap_size);
	free(c);
	assert_int_equal(count(tmp, 0, err, sizeof err), full_count);
}

/* The same trace with a big-endian pcap header and record headers (the
 * pseudo-header stays little-endian by definition). */
static void test_pcap_swapped(void **state)
{
	uint8_t *c = malloc(pcap_size);
	char err[FP_TRACE_ERRBUF_SIZE];
	size_t off = 24;
	uint32_t v;
	uint16_t h;

	(void)state;
	memcpy(c, pcap_bytes, pcap_size);
	for (int i = 0; i < 24; i += 4) {
		if (i == 4) {                        /* two u16 */
			memcpy(&h, c + 4, 2); h = bswap_16(h); memcpy(c + 4, &h, 2);
			memcpy(&h, c + 6, 2); h = bswap_16(h); memcpy(c + 6, &h, 2);
			continue;
		}
		memcpy(&v, c + i, 4); v = bswap_32(v); memcpy(c + i, &v, 4);
	}
	while (off < pcap_size) {
		uint32_t caplen;

		memcpy(&caplen, pcap_bytes + off + 8, 4);
		for (int i = 0; i < 16; i += 4) {
			memcpy(&v, c + off + i, 4); v = bswap_32(v); memcpy(c + off + i, &v, 4);
		}
		off += 16 + caplen;
	}
	spit(tmp, c, pcap_size);
	free(c);
	assert_int_equal(count(tmp, 0, err, sizeof err), full_count);
}

static void test_pcap_fuzz(void **state)
{
	uint8_t *c = malloc(pcap_size);
	char err[FP_TRACE_ERRBUF_SIZE];
	unsigned seed = 12345;
	int failures = 0;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		int flips = 1 + (int)(rand_r(&seed) % 8);

		memcpy(c, pcap_bytes, pcap_size);
		for (int k = 0; k < flips; k++) {
			size_t at = (size_t)rand_r(&seed) % pcap_size;

			/* aim at headers half of the time: they are what can go wrong */
			if (k % 2 == 0) {
				size_t r = rec_off(pcap_bytes, (size_t)rand_r(&seed) % (2 * N));

				if (r < pcap_size)
					at = r + (size_t)rand_r(&seed) % 104;
			}
			if (at < pcap_size)
				c[at] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
		}
		spit(tmp, c, pcap_size);
		if (count(tmp, 0, err, sizeof err) < 0) {
			failures++;
			assert_non_null(strstr(err, tmp));
		}
		count(tmp, FP_READ_TRUNCATED_OK, err, sizeof err);
	}
	free(c);
	/* most flips in headers must be caught */
	assert_true(failures > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_unknown_formats),
		cmocka_unit_test(test_foreign_sqlite),
		cmocka_unit_test(test_sqlite_bad_rows),
		cmocka_unit_test(test_sqlite_corrupt),
		cmocka_unit_test(test_pcap_truncated),
		cmocka_unit_test(test_pcap_bad_records),
		cmocka_unit_test(test_pcap_unknown_type_skipped),
		cmocka_unit_test(test_pcap_swapped),
		cmocka_unit_test(test_pcap_fuzz),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
