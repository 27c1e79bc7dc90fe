/* \summary: trace-writer-bench: how many exchanges per second the writer
 * thread sustains into sqlite, pcap, or both.
 *
 *   trace-writer-bench [-n RECORDS] [-t PRODUCERS] [-p PAYLOAD] [-s SNAPLEN]
 *                      [-d DIR] [-r RING_KIB] [--sqlite|--pcap|--both|--all|--hotpath]
 *
 * Producers hammer fp_trace_exchange() with a metadata mix (LOOKUP, GETATTR,
 * OPEN/RELEASE-sized messages) plus READ replies of PAYLOAD bytes every
 * fourth record, under the block drop policy; the rate counts from open to
 * a completed close (everything committed), so it is the writer's
 * sustained capacity, not the rings' burst rate.
 *
 * --hotpath measures the other side: the producer's cost per call, with
 * 256 MiB rings (use -n 500000 or so, so that nothing is dropped), the drop
 * policy and a pcap to /dev/null, so producers never wait; the same loop
 * without a trace is subtracted.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuse_kernel.h"
#include "trace.h"

struct job {
	struct fp_trace *t;
	int worker;
	uint64_t n;
	uint32_t payload;
	uint64_t ns;                /* time spent in the loop */
};

struct msgs {
	uint8_t lookup[64], lookup_r[16 + sizeof(struct fuse_entry_out)];
	uint8_t getattr[40 + sizeof(struct fuse_getattr_in)], getattr_r[16 + sizeof(struct fuse_attr_out)];
	uint8_t read[40 + sizeof(struct fuse_read_in)];
	uint8_t *read_r;
};

static void in_hdr(uint8_t *p, uint32_t len, uint32_t op, uint64_t unique, uint64_t node)
{
	struct fuse_in_header h = { .len = len, .opcode = op, .unique = unique, .nodeid = node,
				    .uid = 1000, .gid = 1000, .pid = 4242 };

	memcpy(p, &h, sizeof h);
}

static void out_hdr(uint8_t *p, uint32_t len, uint64_t unique)
{
	struct fuse_out_header h = { .len = len, .error = 0, .unique = unique };

	memcpy(p, &h, sizeof h);
}

static void *producer(void *arg)
{
	struct job *j = arg;
	struct msgs m;
	uint32_t rlen = 16 + j->payload;

	memset(&m, 0, sizeof m);
	m.read_r = calloc(1, rlen);
	memcpy(m.lookup + 40, "somefile.txt", 13);
	j->ns = fp_trace_now();
	for (uint64_t i = 0; i < j->n; i++) {
		uint64_t unique = ((uint64_t)j->worker << 40) | (i * 2 + 2);
		uint64_t now = fp_trace_now();
		struct fp_trace_exchange x = {
			.unique = unique, .nodeid = 1 + i % 1000, .uid = 1000, .gid = 1000,
			.pid = 4242, .worker = j->worker, .comm = "bench",
			.t_read = now, .t_sent = now + 1000, .t_reply = now + 5000, .t_written = now + 6000,
		};

		switch (i % 4) {
		case 0:
			x.opcode = FUSE_LOOKUP;
			in_hdr(m.lookup, 53, FUSE_LOOKUP, unique, x.nodeid);
			out_hdr(m.lookup_r, sizeof m.lookup_r, unique);
			x.req = m.lookup, x.req_len = 53;
			x.reply = m.lookup_r, x.reply_len = sizeof m.lookup_r;
			break;
		case 1:
		case 2:
			x.opcode = FUSE_GETATTR;
			in_hdr(m.getattr, sizeof m.getattr, FUSE_GETATTR, unique, x.nodeid);
			out_hdr(m.getattr_r, sizeof m.getattr_r, unique);
			x.req = m.getattr, x.req_len = sizeof m.getattr;
			x.reply = m.getattr_r, x.reply_len = sizeof m.getattr_r;
			break;
		case 3:
			x.opcode = FUSE_READ;
			in_hdr(m.read, sizeof m.read, FUSE_READ, unique, x.nodeid);
			out_hdr(m.read_r, rlen, unique);
			x.req = m.read, x.req_len = sizeof m.read;
			x.reply = m.read_r, x.reply_len = rlen;
			break;
		}
		fp_trace_exchange(j->t, j->worker, &x);
	}
	j->ns = fp_trace_now() - j->ns;
	free(m.read_r);
	return NULL;
}

/* CPU seconds (user + system) the writer thread has used so far, found by
 * its name; -1 if not found.  CPU time is the steadier figure on a shared
 * machine: a busy neighbour stretches wall time far more than it does CPU. */
static double writer_cpu_s(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	double cpu = -1;

	while (d && (e = readdir(d))) {
		char path[300], buf[1024], *p;
		FILE *f;
		unsigned long long ut, st;

		snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof buf, f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		/* after "(comm)": state, then fields 4..; utime and stime are 14, 15 */
		if (!p || !strstr(buf, "(fp-trace-writer)") ||
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
			continue;
		cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	}
	if (d)
		closedir(d);
	return cpu;
}

/* Returns records/s up to the producers' end (the writer's sustained
 * rate: under FP_TRACE_BLOCK producers cannot run more than the rings
 * ahead of it); *close_s gets the time close() took (drain of the rings,
 * index build, checkpoint). */
static uint32_t ring_kib;

static double run(const char *db, const char *pcap, uint64_t n, int producers,
		  uint32_t payload, uint32_t snaplen, struct fp_trace_stats *st, double *close_s,
		  double *cpu_us)
{
	struct fp_trace_opts o = {
		.db_path = db, .pcap_path = pcap, .nworkers = producers, .snaplen = snaplen,
		.drop_policy = FP_TRACE_BLOCK, .transport = "fusedev", .ring_kib = ring_kib,
	};
	struct fp_trace *t;
	pthread_t th[64];
	struct job jobs[64];
	char err[256];
	uint64_t t0, t1, t2;

	t0 = fp_trace_now();
	if (fp_trace_open(&t, &o, err, sizeof err)) {
		fprintf(stderr, "trace-writer-bench: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < producers; i++) {
		jobs[i] = (struct job){ t, i, n / (uint64_t)producers, payload, 0 };
		pthread_create(&th[i], NULL, producer, &jobs[i]);
	}
	for (int i = 0; i < producers; i++)
		pthread_join(th[i], NULL);
	t1 = fp_trace_now();
	fp_trace_stats(t, st);
	*cpu_us = st->written ? writer_cpu_s() * 1e6 / (double)st->written : 0;
	if (fp_trace_close(t, st, err, sizeof err)) {
		fprintf(stderr, "trace-writer-bench: %s\n", err);
		exit(1);
	}
	t2 = fp_trace_now();
	*close_s = (double)(t2 - t1) / 1e9;
	return (double)st->written / ((double)(t1 - t0) / 1e9);
}

static void hotpath(uint64_t n, int producers, uint32_t payload)
{
	struct fp_trace_opts o = {
		.pcap_path = "/dev/null", .nworkers = producers, .snaplen = FP_TRACE_SNAPLEN_ALL,
		.drop_policy = FP_TRACE_DROP, .ring_kib = 262144, .transport = "fusedev",
	};
	struct fp_trace_stats st;
	struct fp_trace *t;
	pthread_t th[64];
	struct job jobs[64];
	char err[256];
	uint64_t ns = 0, calls = 0;

	if (fp_trace_open(&t, &o, err, sizeof err)) {
		fprintf(stderr, "trace-writer-bench: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < producers; i++) {
		jobs[i] = (struct job){ t, i, n / (uint64_t)producers, payload, 0 };
		pthread_create(&th[i], NULL, producer, &jobs[i]);
	}
	for (int i = 0; i < producers; i++) {
		pthread_join(th[i], NULL);
		ns += jobs[i].ns;
		calls += jobs[i].n;
	}
	fp_trace_close(t, &st, err, sizeof err);

	/* the same loop without a trace: what building the messages costs */
	struct job base = { NULL, 0, n / (uint64_t)producers, payload, 0 };

	producer(&base);
	double with = (double)ns / (double)calls, without = (double)base.ns / (double)base.n;

	printf("hot path     %6.0f ns per fp_trace_exchange() (loop %.0f ns with, %.0f ns without "
	       "a trace; %llu calls, %llu dropped)\n", with - without, with, without,
	       (unsigned long long)calls, (unsigned long long)st.dropped);
}

static long long file_size(const char *p)
{
	struct stat st;

	return p && !stat(p, &st) ? (long long)st.st_size : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sqlite", no_argument, NULL, 'S' }, { "pcap", no_argument, NULL, 'P' },
		{ "both", no_argument, NULL, 'B' }, { "all", no_argument, NULL, 'A' },
		{ "hotpath", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	uint64_t n = 2000000;
	int producers = 2, c, which = 7;
	uint32_t payload = 4096, snaplen = FP_TRACE_SNAPLEN_ALL;
	const char *dir = "/tmp";
	char db[4096], pcap[4096];

	while ((c = getopt_long(argc, argv, "n:t:p:s:d:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 't': producers = atoi(optarg); break;
		case 'p': payload = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': snaplen = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'd': dir = optarg; break;
		case 'r': ring_kib = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'S': which = 1; break;
		case 'P': which = 2; break;
		case 'B': which = 4; break;
		case 'A': which = 7; break;
		case 'H': which = 8; break;
		default:
			fprintf(stderr, "usage: %s [-n RECORDS] [-t PRODUCERS] [-p PAYLOAD] [-s SNAPLEN] "
				"[-d DIR] [-r RING_KIB] [--sqlite|--pcap|--both|--all|--hotpath]\n", argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	if (producers < 1 || producers > 64)
		producers = 2;
	snprintf(db, sizeof db, "%s/trace-writer-bench.%d.db", dir, (int)getpid());
	snprintf(pcap, sizeof pcap, "%s/trace-writer-bench.%d.pcap", dir, (int)getpid());
	printf("records=%llu producers=%d read_payload=%u snaplen=%s dir=%s\n",
	       (unsigned long long)n, producers, payload,
	       snaplen == FP_TRACE_SNAPLEN_ALL ? "all" : "set", dir);
	if (which == 8) {
		hotpath(n, producers, payload);
		return 0;
	}
	for (int k = 0; k < 3; k++) {
		static const char *const names[] = { "sqlite", "pcap", "sqlite+pcap" };
		struct fp_trace_stats st;
		double rate, close_s, cpu_us;

		if (!(which & (1 << k)))
			continue;
		rate = run(k != 1 ? db : NULL, k != 0 ? pcap : NULL, n, producers, payload,
			   snaplen, &st, &close_s, &cpu_us);
		printf("%-12s %9.0f records/s, writer CPU %.2f us/record, close %.2f s "
		       "(%llu written, %llu dropped, db %lld MB, pcap %lld MB)\n",
		       names[k], rate, cpu_us, close_s, (unsigned long long)st.written,
		       (unsigned long long)st.dropped,
		       file_size(k != 1 ? db : NULL) >> 20, file_size(k != 0 ? pcap : NULL) >> 20);
		unlink(db);
		unlink(pcap);
	}
	return 0;
}
