/* \summary: one open directory handle's listing, as recorded and as the
 * target gives it.
 *
 * Readdir cookies (fuse_dirent.off) are the daemon's own: a recorded
 * READDIR at cookie C continues after the entry that carried C, which is
 * entry k of the recorded stream; the target is asked to continue after
 * its own entry k (or from where its listing stopped, if it is shorter).
 * Listings are compared across the whole stream, not per reply, because
 * two daemons fill replies differently: by default as sets of (name, type)
 * when the recording read the directory to its end, or in order with
 * --readdir-order.  READDIRPLUS entries are matched by name so that the
 * nodes they hand out can be mapped and their attributes compared.
 */
#ifndef RP_DIRSTREAM_H
#define RP_DIRSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fuse_kernel.h"
#include "replay.h"
#include "sbuf.h"

struct rp_ds;

/* Where a READDIR starts in both streams, noted when it is sent. */
struct ds_pos {
	size_t rec, got;
};

/* Events while feeding listings.  Entries are whole direntplus records
 * (for READDIR only the dirent part is valid and entry_out is zeroed). */
struct ds_cb {
	/* a name listed on both sides */
	void (*match)(void *arg, const char *name, const struct fuse_direntplus *rec,
		      const struct fuse_direntplus *got, struct sbuf *diff);
	/* a name the target listed that the recording never did (reported
	 * at the end of the stream, or at ds_free) */
	void (*got_only)(void *arg, const char *name, const struct fuse_direntplus *got);
	void *arg;
};

struct rp_ds *ds_new(void);
/* Reports the target's unmatched entries through cb->got_only (if cb). */
void ds_free(struct rp_ds *ds, const struct ds_cb *cb);

/* The target's cookie for a recorded one.  Returns 0, or -ENOENT when the
 * recorded cookie was never handed out on this handle (why says so). */
int ds_map(struct rp_ds *ds, uint64_t rec_off, uint64_t *got_off, struct ds_pos *pos,
	   char *why, size_t n);

/* One READDIR/READDIRPLUS answered on both sides (payloads after
 * fuse_out_header; rec_cut: the trace kept only rec_len bytes of it).
 * Returns false and appends to diff where the listings disagree. */
bool ds_feed(struct rp_ds *ds, const struct rp_opts *o, bool plus, const struct ds_pos *pos,
	     const uint8_t *rec, uint32_t rec_len, bool rec_cut,
	     const uint8_t *got, uint32_t got_len, const struct ds_cb *cb, struct sbuf *diff);

/* Parse one listing (for the driver's node bookkeeping and tests): calls
 * fn for each whole entry; returns the number of entries, or -EPROTO if a
 * record runs past the end (entries before it were delivered). */
int ds_parse(const uint8_t *p, uint32_t len, bool plus,
	     void (*fn)(void *arg, const char *name, size_t namelen,
			const struct fuse_direntplus *e), void *arg);

#endif
