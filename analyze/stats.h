/* \summary: per-opcode statistics: counts, errors by errno, bytes, and
 * latency histograms for total / backend / overhead (engine.h). */
#ifndef AN_STATS_H
#define AN_STATS_H

#include <stdint.h>
#include "engine.h"
#include "hist.h"

#define AN_NOPS 64                   /* opcodes 0..62; slot 63 holds the rest */
#define AN_ERRNO_MAX 512             /* valid reply errors are > -512 */

struct an_opstat {
	uint32_t opcode;             /* first opcode seen in this slot */
	uint64_t count;
	uint64_t errors;             /* replies with error != 0 */
	uint64_t pending;            /* never answered */
	uint64_t noreply;            /* answered by design with nothing */
	uint64_t interrupted;
	uint64_t req_bytes, reply_bytes;     /* wire lengths */
	uint64_t data;               /* READ/WRITE payload */
	uint32_t *errnos;            /* [AN_ERRNO_MAX] counts, lazily */
	struct an_hist total, backend, overhead;
};

struct an_stats {
	struct an_opstat op[AN_NOPS];
	struct an_opstat all;        /* every opcode together (an_stats_finish) */
	uint64_t t_first, t_last;    /* first t_read, last t_read/t_written */
};

void an_stats_init(struct an_stats *s);
void an_stats_free(struct an_stats *s);
int an_stats_add(struct an_stats *s, const struct an_req *r);
/* Fill `all` from the per-opcode slots (histograms merge).  0 or -ENOMEM. */
int an_stats_finish(struct an_stats *s);

/* Slot of an opcode. */
static inline unsigned an_stats_slot(uint32_t opcode)
{
	return opcode < AN_NOPS - 1 ? opcode : AN_NOPS - 1;
}

/* Slots with count > 0, in descending count order (ties by opcode).
 * Returns how many were written to order[AN_NOPS]. */
unsigned an_stats_order(const struct an_stats *s, unsigned order[AN_NOPS]);

/* d += s (per-opcode slots and histograms), then an_stats_finish(d). */
int an_stats_merge(struct an_stats *d, const struct an_stats *s);

/* Open `path` into e (an_engine_open with AN_UNORDERED and the --op spec
 * ops) and run the statistics pass into s (initialised here), in parallel
 * rowid partitions for sqlite traces (FUSEANALYZE_THREADS overrides the CPU
 * count).  Returns 0 or -errno with err.  Either way the caller frees s
 * and closes e afterwards. */
int an_stats_pass(struct an_engine *e, struct an_stats *s, const char *path, const char *ops,
		  char *err, size_t errlen);

/* A consumer feeding s. */
struct an_consumer an_stats_consumer(struct an_stats *s);

#endif
