/* \summary: trace library internals: ring record layouts, the sink
 * interface both writers implement, and helpers shared by writers,
 * readers and conversion. */
#ifndef FP_TRACE_I_H
#define FP_TRACE_I_H

#include <stdint.h>
#include <string.h>
#include "ring.h"
#include "trace.h"
#include "validate.h"

/* ---- Ring records (host layout, never leave the process) ---------------- */

enum { TREC_EXCHANGE = 1, TREC_NOTIFY, TREC_EVENT };

/* followed by req_cap request bytes, then reply_cap reply bytes */
struct trec_x {
	struct trec h;
	int32_t worker;
	uint32_t opcode, uid, gid, pid;
	int32_t error;
	uint32_t flags;
	uint32_t req_len, req_cap, reply_len, reply_cap;
	uint64_t unique, nodeid;
	uint64_t t_read, t_sent, t_reply, t_written;
	char comm[16];
};

/* h.aux = dir; followed by cap message bytes */
struct trec_n {
	struct trec h;
	int32_t worker;
	uint32_t code, len, cap;
	uint64_t unique, t;
};

/* h.aux = kind; followed by len text bytes and a NUL */
struct trec_e {
	struct trec h;
	uint32_t len;
	uint64_t t;
};

/* ---- Sinks ---------------------------------------------------------------- */

struct fp_sink;

/* One trace file format being written.  put/flush return 0 or -errno
 * (message in err); after an error the caller stops using the sink. */
struct fp_sink_ops {
	const char *name;                   /* "sqlite", "pcap" */
	int (*open)(struct fp_sink **s, const char *path,
		    const struct fp_trace_session *ses, char *err, size_t errlen);
	int (*put)(struct fp_sink *s, const struct fp_trace_rec *r, char *err, size_t errlen);
	/* end of a batch: commit (sqlite) / write out buffers (pcap); ses
	 * carries the current counters */
	int (*flush)(struct fp_sink *s, const struct fp_trace_session *ses,
		     char *err, size_t errlen);
	/* final counters and end time are in ses; frees s even on error */
	int (*close)(struct fp_sink *s, const struct fp_trace_session *ses,
		     char *err, size_t errlen);
};

extern const struct fp_sink_ops fp_sqlite_sink;
extern const char fp_trace_db_indexes[];      /* sqlite_writer.c */
extern const struct fp_sink_ops fp_pcap_sink;

/* ---- Decoding what the sqlite columns hold ------------------------------- */

struct trace_decoded {
	bool has_fh, has_offset, has_size, has_node2, has_out_nodeid, has_out_fh;
	uint64_t fh, offset, size, node2, out_nodeid, out_fh;
	const char *name, *name2;           /* inside the request bytes; not */
	uint32_t name_len, name2_len;       /* NUL-terminated if cut short  */
};

/* Decode the columns of an exchange from its kept bytes (which may be
 * cut by the snaplen: what is missing stays unset). */
void trace_decode(const struct fp_trace_exchange *x, const struct fuse_wire_params *wp,
		  struct trace_decoded *d);

/* Negotiated parameters from a whole INIT reply; false if it is not one. */
bool trace_init_params(const void *reply, size_t len, struct fuse_wire_params *wp,
		       uint32_t *major);

/* ---- Misc ----------------------------------------------------------------- */

/* Bytes of a message that count as "headers" for the snaplen: in/out
 * header plus the op's fixed argument / fixed reply struct. */
uint32_t trace_req_hdrlen(uint32_t opcode);
uint32_t trace_reply_hdrlen(uint32_t opcode, uint32_t reply_len);

/* /proc/PID/comm, cached (writer thread only). */
struct comm_cache;
struct comm_cache *comm_cache_new(void);
void comm_cache_free(struct comm_cache *c);
const char *comm_lookup(struct comm_cache *c, uint32_t pid, uint64_t now_ns);
bool comm_read(uint32_t pid, char comm[16]);

/* argv as a JSON array (malloc'd). */
char *trace_argv_json(int argc, char *const *argv);

/* snprintf into err if err/errlen given; returns ret. */
int trace_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A comm field: up to 16 bytes, NUL-padded, not always NUL-terminated. */
static inline void trace_comm_copy(char dst[16], const char *src)
{
	size_t n = src ? strnlen(src, 16) : 0;

	memcpy(dst, src ? src : "", n);
	memset(dst + n, 0, 16 - n);
}

/* Wall-clock ns for a monotonic timestamp of the session. */
static inline uint64_t trace_wall(const struct fp_trace_session *s, uint64_t mono)
{
	return s->start_wall_ns + (mono - s->start_mono_ns);
}

/* futex helpers from ring.c */
void fp_futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t timeout_ns);
void fp_futex_wake(_Atomic uint32_t *w);

#endif
