/* \summary: the pcap sink: LINKTYPE_USER0 records of our pseudo-header plus
 * the raw FUSE message (doc/trace-format.md, "pcap"), written directly
 * through one buffer so every write error is seen and reported. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "pcap_format.h"
#include "trace_i.h"

#define BUF_SIZE (1u << 20)
#define BIG_BODY (64u << 10)	/* bodies this large skip the buffer copy */

struct fp_sink {
	int fd;
	uint8_t *buf;
	size_t len;
	char *path;
	uint8_t transport;
	uint64_t wall0, mono0;      /* pcap timestamps: wall0 + (t - mono0) */
};

static int write_all(struct fp_sink *s, const void *p, size_t n, char *err, size_t errlen)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(s->fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return trace_err(err, errlen, w < 0 ? -errno : -EIO, "%s: write failed: %s",
					 s->path, w < 0 ? strerror(errno) : "no progress");
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int buf_flush(struct fp_sink *s, char *err, size_t errlen)
{
	int ret = write_all(s, s->buf, s->len, err, errlen);

	s->len = 0;
	return ret;
}

/* The buffer, then body: one writev instead of a copy into the buffer. */
static int buf_flush_with(struct fp_sink *s, const void *body, size_t n, char *err, size_t errlen)
{
	struct iovec iov[2] = { { s->buf, s->len }, { (void *)body, n } };
	size_t total = s->len + n;
	ssize_t w;

	do
		w = writev(s->fd, iov, 2);
	while (w < 0 && errno == EINTR);
	s->len = 0;
	if (w < 0)
		return trace_err(err, errlen, -errno, "%s: write failed: %s", s->path,
				 strerror(errno));
	if ((size_t)w == total)
		return 0;
	/* short write (disk full on the way?): finish it the plain way */
	if ((size_t)w < iov[0].iov_len) {
		int ret = write_all(s, (uint8_t *)iov[0].iov_base + w, iov[0].iov_len - (size_t)w, err,
				    errlen);
		if (ret)
			return ret;
		w = (ssize_t)iov[0].iov_len;
	}
	return write_all(s, (const uint8_t *)body + ((size_t)w - iov[0].iov_len),
			 total - (size_t)w, err, errlen);
}

/* One pcap record: record header, pseudo-header, body (cut to fit). */
static int record(struct fp_sink *s, struct fpt_hdr *h, uint64_t t,
		  const void *body, uint32_t caplen, char *err, size_t errlen)
{
	const uint32_t room = FPT_PCAP_MAX_RECORD - FPT_HDR_LEN;
	struct fpt_pcap_rechdr rh;
	uint64_t wall = t >= s->mono0 ? s->wall0 + (t - s->mono0) : s->wall0;
	uint64_t orig = (uint64_t)FPT_HDR_LEN + h->orig_len;
	int ret;

	if (caplen > room)
		caplen = room;
	rh.ts_sec = (uint32_t)(wall / 1000000000u);
	rh.ts_frac = (uint32_t)(wall % 1000000000u);
	rh.caplen = FPT_HDR_LEN + caplen;
	rh.len = orig > UINT32_MAX ? UINT32_MAX : (uint32_t)orig;
	if (s->len + sizeof rh + FPT_HDR_LEN + (caplen >= BIG_BODY ? 0 : caplen) > BUF_SIZE) {
		ret = buf_flush(s, err, errlen);
		if (ret)
			return ret;
	}
	memcpy(s->buf + s->len, &rh, sizeof rh);
	s->len += sizeof rh;
	fpt_hdr_pack(h, s->buf + s->len);
	s->len += FPT_HDR_LEN;
	if (caplen >= BIG_BODY)
		return buf_flush_with(s, body, caplen, err, errlen);
	if (caplen)
		memcpy(s->buf + s->len, body, caplen);
	s->len += caplen;
	return 0;
}

/* ---- SESSION / END: TLVs -------------------------------------------------- */

struct tlv_buf {
	uint8_t b[8192];
	uint32_t n;
};

static void tlv(struct tlv_buf *t, uint16_t tag, const void *v, uint32_t len)
{
	uint16_t tg = htole16(tag), zero = 0;
	uint32_t l;

	if (t->n + 8 > sizeof t->b)
		return;
	if (len > sizeof t->b - t->n - 8)
		len = (uint32_t)(sizeof t->b - t->n - 8);   /* a very long argv */
	l = htole32(len);
	memcpy(t->b + t->n, &tg, 2);
	memcpy(t->b + t->n + 2, &zero, 2);
	memcpy(t->b + t->n + 4, &l, 4);
	memcpy(t->b + t->n + 8, v, len);
	t->n += 8 + len;
}

static void tlv_str(struct tlv_buf *t, uint16_t tag, const char *s)
{
	if (s)
		tlv(t, tag, s, (uint32_t)strlen(s));
}

static void tlv_u32(struct tlv_buf *t, uint16_t tag, uint32_t v)
{
	v = htole32(v);
	tlv(t, tag, &v, 4);
}

static void tlv_u64(struct tlv_buf *t, uint16_t tag, uint64_t v)
{
	v = htole64(v);
	tlv(t, tag, &v, 8);
}

static int meta_record(struct fp_sink *s, uint8_t type, const struct tlv_buf *t, uint64_t time,
		       char *err, size_t errlen)
{
	struct fpt_hdr h = { .type = type, .transport = s->transport, .worker = 0xffff,
			     .orig_len = t->n, .t_read = time };

	return record(s, &h, time, t->b, t->n, err, errlen);
}

static int session_record(struct fp_sink *s, const struct fp_trace_session *ses,
			  char *err, size_t errlen)
{
	struct tlv_buf *t = calloc(1, sizeof *t);
	int ret;

	if (!t)
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", s->path);
	tlv_u32(t, FPT_TAG_FORMAT_VERSION, ses->format_version ? ses->format_version : 1);
	tlv_u64(t, FPT_TAG_START_WALL, ses->start_wall_ns);
	tlv_u64(t, FPT_TAG_START_MONO, ses->start_mono_ns);
	tlv_str(t, FPT_TAG_ARGV, ses->argv);
	tlv_str(t, FPT_TAG_MOUNTPOINT, ses->mountpoint);
	tlv_str(t, FPT_TAG_TRANSPORT, ses->transport);
	tlv_str(t, FPT_TAG_BACKEND, ses->backend);
	tlv_str(t, FPT_TAG_KERNEL, ses->kernel);
	tlv_u32(t, FPT_TAG_SNAPLEN, ses->snaplen);
	tlv_str(t, FPT_TAG_FILTER, ses->filter);
	tlv_str(t, FPT_TAG_DROP_POLICY, ses->drop_policy);
	ret = meta_record(s, FPT_SESSION, t, ses->start_mono_ns, err, errlen);
	free(t);
	return ret;
}

static int end_record(struct fp_sink *s, const struct fp_trace_session *ses,
		      char *err, size_t errlen)
{
	struct tlv_buf *t = calloc(1, sizeof *t);
	int ret;

	if (!t)
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", s->path);
	tlv_u64(t, FPT_TAG_END_WALL, ses->end_wall_ns);
	tlv_u64(t, FPT_TAG_END_MONO, ses->end_mono_ns);
	tlv_u64(t, FPT_TAG_RECORDS, ses->records);
	tlv_u64(t, FPT_TAG_DROPPED, ses->dropped);
	tlv_u64(t, FPT_TAG_LOST, ses->lost);
	ret = meta_record(s, FPT_END, t, ses->end_mono_ns ? ses->end_mono_ns : s->mono0,
			  err, errlen);
	free(t);
	return ret;
}

/* ---- sink ops ------------------------------------------------------------------ */

static void sink_free(struct fp_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	free(s->path);
	free(s);
}

static int pc_open(struct fp_sink **sp, const char *path, const struct fp_trace_session *ses,
		   char *err, size_t errlen)
{
	struct fpt_pcap_filehdr fh = {
		.magic = PCAP_MAGIC_NS, .version_major = 2, .version_minor = 4,
		.snaplen = FPT_PCAP_MAX_RECORD, .linktype = PCAP_LINKTYPE_USER0,
	};
	struct fp_sink *s;
	int ret;

	*sp = NULL;
	s = calloc(1, sizeof *s);
	if (!s)
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", path);
	s->fd = -1;
	s->buf = malloc(BUF_SIZE);
	s->path = strdup(path);
	if (!s->buf || !s->path) {
		sink_free(s);
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	if (!strcmp(path, "-")) {
		s->fd = dup(STDOUT_FILENO);
		if (s->fd < 0) {
			ret = trace_err(err, errlen, -errno, "stdout: %s", strerror(errno));
			sink_free(s);
			return ret;
		}
	} else {
		struct stat st;

		s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		/* an existing file keeps its mode on open: tighten it (but
		 * never touch a device node such as /dev/stdout) */
		if (s->fd < 0 || fstat(s->fd, &st) ||
		    (S_ISREG(st.st_mode) && fchmod(s->fd, 0600))) {
			ret = trace_err(err, errlen, -errno, "%s: cannot create: %s", path,
					strerror(errno));
			sink_free(s);
			return ret;
		}
	}
	s->transport = fpt_transport_id(ses->transport);
	s->wall0 = ses->start_wall_ns;
	s->mono0 = ses->start_mono_ns;
	memcpy(s->buf, &fh, sizeof fh);
	s->len = sizeof fh;
	ret = session_record(s, ses, err, errlen) ?: buf_flush(s, err, errlen);
	if (ret) {
		sink_free(s);
		if (strcmp(path, "-"))
			unlink(path);
		return ret;
	}
	*sp = s;
	return 0;
}

static void exchange_hdr(struct fp_sink *s, const struct fp_trace_exchange *x, struct fpt_hdr *h)
{
	memset(h, 0, sizeof *h);
	h->transport = s->transport;
	h->worker = x->worker < 0 ? 0xffff : x->worker > 0xfffe ? 0xfffe : (uint16_t)x->worker;
	h->flags = x->flags;
	h->opcode = x->opcode;
	h->error = x->error;
	h->unique = x->unique;
	h->t_read = x->t_read;
	h->t_sent = x->t_sent;
	h->t_reply = x->t_reply;
	h->t_written = x->t_written;
	trace_comm_copy(h->comm, x->comm);
	/* what the 256 KiB record limit will cut */
	if (x->req_caplen > FPT_PCAP_MAX_RECORD - FPT_HDR_LEN)
		h->flags |= FP_TRACE_F_REQ_TRUNC;
	if (x->reply_caplen > FPT_PCAP_MAX_RECORD - FPT_HDR_LEN)
		h->flags |= FP_TRACE_F_REPLY_TRUNC;
}

static int pc_put(struct fp_sink *s, const struct fp_trace_rec *r, char *err, size_t errlen)
{
	struct fpt_hdr h;
	int ret;

	switch (r->kind) {
	case FP_REC_EXCHANGE:
		exchange_hdr(s, &r->x, &h);
		h.type = FPT_REQUEST;
		h.dir = FP_DIR_KERNEL_TO_PROXY;
		h.orig_len = r->x.req_len;
		ret = record(s, &h, r->x.t_read, r->x.req, r->x.req_caplen, err, errlen);
		if (ret || !r->x.reply_len)
			return ret;
		h.type = FPT_REPLY;
		h.dir = FP_DIR_PROXY_TO_KERNEL;
		h.orig_len = r->x.reply_len;
		return record(s, &h, r->x.t_written ? r->x.t_written : r->x.t_read,
			      r->x.reply, r->x.reply_caplen, err, errlen);
	case FP_REC_NOTIFY:
		memset(&h, 0, sizeof h);
		h.type = FPT_NOTIFY;
		h.dir = (uint8_t)r->n.dir;
		h.transport = s->transport;
		h.worker = r->n.worker < 0 ? 0xffff : (uint16_t)r->n.worker;
		h.orig_len = r->n.len;
		h.opcode = r->n.code;
		h.unique = r->n.unique;
		h.t_read = r->n.t;
		return record(s, &h, r->n.t, r->n.msg, r->n.caplen, err, errlen);
	case FP_REC_EVENT:
		memset(&h, 0, sizeof h);
		h.type = FPT_EVENT;
		h.transport = s->transport;
		h.worker = 0xffff;
		h.opcode = r->e.kind;
		h.orig_len = r->e.text ? (uint32_t)strlen(r->e.text) : 0;
		h.t_read = r->e.t;
		return record(s, &h, r->e.t, r->e.text, h.orig_len, err, errlen);
	}
	return 0;
}

static int pc_flush(struct fp_sink *s, const struct fp_trace_session *ses, char *err, size_t errlen)
{
	(void)ses;
	return buf_flush(s, err, errlen);
}

static int pc_close(struct fp_sink *s, const struct fp_trace_session *ses, char *err, size_t errlen)
{
	int ret = end_record(s, ses, err, errlen) ?: buf_flush(s, err, errlen);

	if (!ret && close(s->fd))
		ret = trace_err(err, errlen, -errno, "%s: close: %s", s->path, strerror(errno));
	s->fd = -1;
	sink_free(s);
	return ret;
}

const struct fp_sink_ops fp_pcap_sink = {
	.name = "pcap",
	.open = pc_open,
	.put = pc_put,
	.flush = pc_flush,
	.close = pc_close,
};
