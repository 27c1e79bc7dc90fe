/* \summary: the per-format reader interface behind reader.h. */
#ifndef FP_READER_I_H
#define FP_READER_I_H

#include "reader.h"
#include "trace_i.h"

struct fp_reader;

struct fp_reader_ops {
	const char *name;
	/* fill r->ses and r->priv; -errno with err on failure (r->priv may
	 * be partly set up: close is called either way) */
	int (*open)(struct fp_reader *r, const char *path, unsigned flags,
		    char *err, size_t errlen);
	int (*next)(struct fp_reader *r, struct fp_trace_rec *rec, char *err, size_t errlen);
	void (*close)(struct fp_reader *r);
};

struct fp_reader {
	const struct fp_reader_ops *ops;
	const char *path;
	struct fp_trace_session ses;
	char *own[16];                /* strings/blobs of ses */
	void *priv;
};

extern const struct fp_reader_ops fp_sqlite_reader;
extern const struct fp_reader_ops fp_pcap_reader;

/* Keep a copy of n bytes (plus a NUL) for the session; NULL on ENOMEM. */
void *reader_keep(struct fp_reader *r, const void *p, size_t n);

#endif
