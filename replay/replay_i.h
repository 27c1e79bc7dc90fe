/* \summary: fusereplay internals shared by driver.c, idmap.c, report.c and
 * initcmp.c: the recorded-id tables and the report being built. */
#ifndef RP_REPLAY_I_H
#define RP_REPLAY_I_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "fuse_kernel.h"
#include "map.h"
#include "replay.h"
#include "sbuf.h"

/* ---- ids (idmap.c) ----------------------------------------------------- */

/* A node id handed out in the recording, and what the target handed out
 * for the same request.  Lookup references are counted on both sides so
 * FORGETs carry the target's own counts. */
struct rp_node {
	uint64_t rec, id;         /* recorded nodeid; the target's (0 = none) */
	int64_t rec_refs;         /* references the recorded kernel held */
	int64_t new_refs;         /* references the target granted us */
	uint64_t dead;            /* seq of the exchange after which the target
				     has no id for it (0 = not dead) */
	uint32_t dead_op;
	uint64_t taint;           /* root divergence it is involved in (0 = none) */
	char *path;               /* "/dir/file" when known */
};

struct rp_ds;
struct ds_cb;

/* A file handle value the recording handed out, on one node.  Daemons that
 * do not use handles answer every OPEN with the same value (often 0), so the
 * entry is per (value, node), and it holds the target's handles for every
 * open of it not yet released: requests use the latest, RELEASE gives one
 * back. */
struct rp_fh {
	struct rp_fh *next;       /* same recorded value, another node */
	uint64_t rec, node;       /* recorded handle, recorded nodeid */
	uint64_t *ids;            /* the target's handles, one per open */
	uint32_t nids, cap;
	uint64_t dead;            /* seq of the open the target refused (no ids) */
	uint32_t dead_op;
	uint64_t taint;
	bool dir;
	struct rp_ds *ds;         /* OPENDIR handles: the listing */
};

struct rp_ids {
	struct rp_map nodes;      /* recorded nodeid -> rp_node */
	struct rp_map fhs;        /* map_key(recorded fh) -> rp_fh chain */
	struct rp_node root;
};

void ids_init(struct rp_ids *ids);
void ids_fini(struct rp_ids *ids);
/* The entry for a recorded node id (the root is always there). */
struct rp_node *ids_node(struct rp_ids *ids, uint64_t rec);
struct rp_node *ids_node_add(struct rp_ids *ids, uint64_t rec);
void ids_node_del(struct rp_ids *ids, uint64_t rec);
struct rp_fh *ids_fh(struct rp_ids *ids, uint64_t rec, uint64_t node);
struct rp_fh *ids_fh_add(struct rp_ids *ids, uint64_t rec, uint64_t node);
/* Note one more open of f answered with the target's handle id. */
int ids_fh_push(struct rp_fh *f, uint64_t id);
/* Unlink and free f; the target's listing entries nobody matched go to cb. */
void ids_fh_del(struct rp_ids *ids, struct rp_fh *f, const struct ds_cb *cb);
/* The target's handle requests on f use (the latest open's). */
static inline uint64_t ids_fh_id(const struct rp_fh *f)
{
	return f->nids ? f->ids[f->nids - 1] : 0;
}
/* "parent/name" from the parent's path; NULL if the parent's is unknown. */
char *ids_child_path(struct rp_ids *ids, uint64_t parent_rec, const char *name);

/* ---- outcomes and the report (report.c) --------------------------------- */

enum rp_outcome {
	RP_O_MATCH,
	RP_O_DIVERGED,
	RP_O_SKIPPED,
	RP_O_TIMEOUT,
	RP_O_IGNORED,             /* --ignore: sent, not compared */
	RP_O_UNRECORDED,          /* answered; the trace has no reply to compare */
	RP_O_SENT,                /* takes no reply (FORGET, INTERRUPT, ...) */
	RP_O_COUNT
};

/* One line of the report: a divergence, a skip, an answer to a request the
 * recording left pending, or a request in flight when the target died. */
struct rp_item {
	uint64_t seq;             /* exchange number in the trace (1-based) */
	uint64_t unique;          /* recorded unique */
	uint32_t opcode;
	uint64_t cause;           /* seq of the root divergence it follows from;
				     == seq for a root */
	bool late;                /* in flight past its --timeout */
	char *request;            /* the abi formatter's line */
	char *path;
	char *recorded, *replayed;/* formatted replies */
	char *diff;               /* what differs, one line each */
	char *reason;             /* why skipped */
};

/* Items kept sorted by seq, at most `max` (the lowest seqs win). */
struct rp_list {
	struct rp_item *v;
	size_t n, cap, max;
	uint64_t total;           /* including those not kept */
};

#define RP_OPSLOTS (FUSE_OP_MAX + 1)  /* last slot: CUSE_INIT and unknown */

struct rp_opstat {
	uint64_t n[RP_O_COUNT];
};

struct rp_report {
	const struct rp_opts *o;
	const char *trace_format;
	char target[300];
	char *session_argv, *session_kernel;

	struct rp_opstat ops[RP_OPSLOTS];
	struct rp_opstat total;
	struct rp_opstat prefix;      /* --pending: the quiet state-building part */
	uint64_t exchanges;           /* in the trace (INIT included) */
	uint64_t duplicates;          /* exchanges recorded twice (not replayed) */
	uint64_t converted;           /* requests cut to the target's layout */
	uint64_t cleanup;             /* FORGET/RELEASE we added for the target's extra ids */
	uint64_t rec_notify[32], got_notify[32];
	uint64_t target_protocol_errors;

	struct rp_list div, skip, answers, inflight;
	uint64_t first_div;           /* seq, 0 = none */

	struct sbuf init;             /* capability differences, one per line */
	int init_major_diffs;         /* ... that matter */

	int end;                      /* RP_EXIT_* */
	char *end_reason;             /* trace error or target death/hang */
	double elapsed;               /* seconds of replay (after INIT) */
	uint64_t sent;                /* messages sent after INIT */
};

void rep_init(struct rp_report *r, const struct rp_opts *o);
void rep_fini(struct rp_report *r);
int rep_slot(uint32_t opcode);
/* Count an outcome (quiet: into the prefix counters only). */
void rep_count(struct rp_report *r, uint32_t opcode, int outcome, bool quiet);
/* Add an item (takes ownership of its strings). */
void rep_add(struct rp_list *l, struct rp_item *it);
void rep_item_free(struct rp_item *it);

void rep_text(const struct rp_report *r, FILE *f);
int rep_json(const struct rp_report *r, const char *path, char *err, size_t errlen);
int rep_junit(const struct rp_report *r, const char *path, char *err, size_t errlen);

/* ---- INIT (initcmp.c) ----------------------------------------------------- */

/* Compare the recorded negotiation with the target's; lines into r->init. */
void rp_init_compare(struct rp_report *r, const struct fuse_init_in *offered,
		     const struct fuse_init_out *rec, bool have_rec,
		     const struct fuse_init_out *got);

/* Flags a target reached without a kernel cannot use. */
#define RP_INIT_STRIP (FUSE_PASSTHROUGH | FUSE_OVER_IO_URING | FUSE_SPLICE_READ | \
		       FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE | FUSE_ALLOW_IDMAP)

static inline uint64_t rp_init_flags(uint32_t flags, uint32_t flags2)
{
	uint64_t f = flags;
	if (f & FUSE_INIT_EXT)
		f |= (uint64_t)flags2 << 32;
	return f;
}

#endif
