/* \summary: reading pcap traces: check every record at open, pair requests
 * with replies by unique, then hand them out in time order.
 *
 * The file is mapped read-only; an index of {time, record offsets} is
 * built in one pass and sorted, so memory is ~32 bytes per exchange, not
 * a copy of the trace.
 */
#include <byteswap.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hash.h"
#include "pcap_format.h"
#include "reader_i.h"

#define NONE UINT64_MAX

struct entry {
	uint64_t t;
	uint64_t seq;               /* file order, the tie-break */
	uint64_t a, b;              /* record offsets: request/reply, or the record */
	uint8_t kind;               /* FP_REC_* */
};

/* unique -> entry index of a request still waiting for its reply */
struct pairmap {
	uint64_t *key;
	uint64_t *val;              /* NONE = empty slot */
	size_t cap, n;
};

struct pc_reader {
	const uint8_t *map;
	size_t size;
	bool swapped;               /* pcap header fields byte-swapped */
	bool nanos;
	struct entry *e;
	size_t n, cap, next;
	char comm[17];
	char *text;                 /* event text, NUL-terminated copy */
	uint64_t init_t;            /* t_read of the session's INIT */
	size_t text_cap;
};

/* ---- pairing map: open addressing, backward-shift delete ---------------- */

static size_t slot_of(const struct pairmap *m, uint64_t key)
{
	return (size_t)fp_mix64(key) & (m->cap - 1);
}

static int pm_grow(struct pairmap *m)
{
	struct pairmap nm = { .cap = m->cap ? m->cap * 2 : 1024 };

	nm.key = malloc(nm.cap * sizeof *nm.key);
	nm.val = malloc(nm.cap * sizeof *nm.val);
	if (!nm.key || !nm.val) {
		free(nm.key);
		free(nm.val);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nm.cap; i++)
		nm.val[i] = NONE;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->val[i] == NONE)
			continue;
		size_t s = slot_of(&nm, m->key[i]);

		while (nm.val[s] != NONE)
			s = (s + 1) & (nm.cap - 1);
		nm.key[s] = m->key[i];
		nm.val[s] = m->val[i];
	}
	nm.n = m->n;
	free(m->key);
	free(m->val);
	*m = nm;
	return 0;
}

static size_t pm_find(const struct pairmap *m, uint64_t key)
{
	if (!m->cap)
		return NONE;
	for (size_t s = slot_of(m, key); m->val[s] != NONE; s = (s + 1) & (m->cap - 1))
		if (m->key[s] == key)
			return s;
	return NONE;
}

/* Insert or replace. */
static int pm_put(struct pairmap *m, uint64_t key, uint64_t val)
{
	size_t s = pm_find(m, key);

	if (s != NONE) {
		m->val[s] = val;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap && pm_grow(m))
		return -ENOMEM;
	for (s = slot_of(m, key); m->val[s] != NONE; s = (s + 1) & (m->cap - 1))
		;
	m->key[s] = key;
	m->val[s] = val;
	m->n++;
	return 0;
}

static void pm_del(struct pairmap *m, size_t s)
{
	size_t j = s;

	m->val[s] = NONE;
	m->n--;
	for (;;) {
		j = (j + 1) & (m->cap - 1);
		if (m->val[j] == NONE)
			return;
		size_t home = slot_of(m, m->key[j]);

		/* can entry j move back to the hole at s? */
		if ((j > s && (home <= s || home > j)) || (j < s && (home <= s && home > j))) {
			m->key[s] = m->key[j];
			m->val[s] = m->val[j];
			m->val[j] = NONE;
			s = j;
		}
	}
}

/* ---- scanning ----------------------------------------------------------------- */

static uint32_t fix32(const struct pc_reader *p, uint32_t v)
{
	return p->swapped ? bswap_32(v) : v;
}

static int add_entry(struct pc_reader *p, const struct entry *e)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 4096;
		struct entry *ne = realloc(p->e, cap * sizeof *ne);

		if (!ne)
			return -ENOMEM;
		p->e = ne;
		p->cap = cap;
	}
	p->e[p->n++] = *e;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The record at off: pseudo-header and body. */
struct rec_view {
	struct fpt_hdr h;
	const uint8_t *body;
	uint32_t caplen;
};

static void view_at(const struct pc_reader *p, uint64_t off, struct rec_view *v)
{
	struct fpt_pcap_rechdr rh;

	memcpy(&rh, p->map + off, sizeof rh);
	/* checked at open: cannot fail */
	fpt_hdr_unpack(p->map + off + sizeof rh, fix32(p, rh.caplen), &v->h, NULL, 0);
	v->body = p->map + off + sizeof rh + v->h.hdr_len;
	v->caplen = fix32(p, rh.caplen) - v->h.hdr_len;
}

/* reader_keep slots are few: give one back */
static void drop_kept(struct fp_reader *r, const void *p)
{
	for (size_t i = 0; p && i < sizeof r->own / sizeof r->own[0]; i++) {
		if (r->own[i] == p) {
			free(r->own[i]);
			r->own[i] = NULL;
		}
	}
}

static void session_tlvs(struct fp_reader *r, const uint8_t *b, uint32_t n)
{
	while (n >= 8) {
		uint16_t tag;
		uint32_t len;
		uint64_t v64 = 0;
		uint32_t v32 = 0;

		memcpy(&tag, b, 2);
		memcpy(&len, b + 4, 4);
		tag = le16toh(tag);
		len = le32toh(len);
		if (len > n - 8)
			return;               /* cut short: keep what we have */
		if (len == 8)
			memcpy(&v64, b + 8, 8), v64 = le64toh(v64);
		if (len == 4)
			memcpy(&v32, b + 8, 4), v32 = le32toh(v32);
		const char *s = reader_keep(r, b + 8, len);

		switch (tag) {
		case FPT_TAG_FORMAT_VERSION: r->ses.format_version = v32; break;
		case FPT_TAG_START_WALL: r->ses.start_wall_ns = v64; break;
		case FPT_TAG_START_MONO: r->ses.start_mono_ns = v64; break;
		case FPT_TAG_ARGV: r->ses.argv = s; s = NULL; break;
		case FPT_TAG_MOUNTPOINT: r->ses.mountpoint = s; s = NULL; break;
		case FPT_TAG_TRANSPORT: r->ses.transport = s; s = NULL; break;
		case FPT_TAG_BACKEND: r->ses.backend = s; s = NULL; break;
		case FPT_TAG_KERNEL: r->ses.kernel = s; s = NULL; break;
		case FPT_TAG_SNAPLEN: r->ses.snaplen = v32; break;
		case FPT_TAG_FILTER: r->ses.filter = s; s = NULL; break;
		case FPT_TAG_DROP_POLICY: r->ses.drop_policy = s; s = NULL; break;
		case FPT_TAG_END_WALL: r->ses.end_wall_ns = v64; break;
		case FPT_TAG_END_MONO: r->ses.end_mono_ns = v64; break;
		case FPT_TAG_RECORDS: r->ses.records = v64; break;
		case FPT_TAG_DROPPED: r->ses.dropped = v64; break;
		case FPT_TAG_LOST: r->ses.lost = v64; break;
		default: break;               /* unknown tags are skipped */
		}
		drop_kept(r, s);      /* a copy nobody took */
		b += 8 + len;
		n -= 8 + len;
	}
}

/* The INIT exchange doubles as the session's INIT blobs. */
static void note_init(struct fp_reader *r, struct pc_reader *p, const struct rec_view *req,
		      const struct rec_view *rep)
{
	struct fuse_wire_params wp;
	uint32_t major;

	if ((r->ses.init_req && req->h.t_read >= p->init_t) || req->h.opcode != FUSE_INIT ||
	    rep->h.error || !trace_init_params(rep->body, rep->caplen, &wp, &major))
		return;
	p->init_t = req->h.t_read;
	drop_kept(r, r->ses.init_req);
	drop_kept(r, r->ses.init_reply);
	r->ses.init_req = reader_keep(r, req->body, req->caplen);
	r->ses.init_req_len = r->ses.init_req ? req->caplen : 0;
	r->ses.init_reply = reader_keep(r, rep->body, rep->caplen);
	r->ses.init_reply_len = r->ses.init_reply ? rep->caplen : 0;
	r->ses.proto_major = major;
	r->ses.proto_minor = wp.minor;
}

static int scan(struct fp_reader *r, struct pc_reader *p, unsigned flags, char *err, size_t errlen)
{
	struct pairmap pm = { 0 };
	uint64_t off = sizeof(struct fpt_pcap_filehdr), seq = 0;
	int ret = 0;

	while (off < p->size) {
		struct fpt_pcap_rechdr rh;
		struct fpt_hdr h;
		struct entry e = { .seq = seq, .a = off, .b = NONE };
		char why[160];
		uint32_t caplen, len;
		size_t s;

		if (p->size - off < sizeof rh) {
			if (flags & FP_READ_TRUNCATED_OK)
				break;
			ret = trace_err(err, errlen, -EINVAL, "%s: record %llu at offset %llu: "
					"truncated record header (%zu of %zu bytes)", r->path,
					(unsigned long long)seq + 1, (unsigned long long)off,
					(size_t)(p->size - off), sizeof rh);
			goto out;
		}
		memcpy(&rh, p->map + off, sizeof rh);
		caplen = fix32(p, rh.caplen);
		len = fix32(p, rh.len);
		if (caplen > FPT_PCAP_MAX_RECORD) {
			ret = trace_err(err, errlen, -EINVAL, "%s: record %llu at offset %llu: invalid "
					"record length %u, bigger than maximum of %u", r->path,
					(unsigned long long)seq + 1, (unsigned long long)off, caplen,
					FPT_PCAP_MAX_RECORD);
			goto out;
		}
		if (caplen > len) {
			ret = trace_err(err, errlen, -EINVAL, "%s: record %llu at offset %llu: captured "
					"length %u exceeds original length %u", r->path,
					(unsigned long long)seq + 1, (unsigned long long)off, caplen, len);
			goto out;
		}
		if (p->size - off - sizeof rh < caplen) {
			if (flags & FP_READ_TRUNCATED_OK)
				break;
			ret = trace_err(err, errlen, -EINVAL, "%s: record %llu at offset %llu: truncated "
					"(%u bytes recorded, %llu left in the file)", r->path,
					(unsigned long long)seq + 1, (unsigned long long)off, caplen,
					(unsigned long long)(p->size - off - sizeof rh));
			goto out;
		}
		if (fpt_hdr_unpack(p->map + off + sizeof rh, caplen, &h, why, sizeof why)) {
			ret = trace_err(err, errlen, -EINVAL, "%s: record %llu at offset %llu: %s",
					r->path, (unsigned long long)seq + 1,
					(unsigned long long)off, why);
			goto out;
		}
		if (caplen - h.hdr_len > h.orig_len) {
			ret = trace_err(err, errlen, -EINVAL, "%s: record %llu at offset %llu: keeps %u "
					"message bytes of a %u-byte message", r->path,
					(unsigned long long)seq + 1, (unsigned long long)off,
					caplen - h.hdr_len, h.orig_len);
			goto out;
		}
		e.t = h.t_read;
		switch (h.type) {
		case FPT_REQUEST:
			e.kind = FP_REC_EXCHANGE;
			if (add_entry(p, &e))
				goto nomem;
			if (!(h.flags & (FP_TRACE_F_NOREPLY | FP_TRACE_F_PENDING)) &&
			    pm_put(&pm, h.unique, p->n - 1))
				goto nomem;
			break;
		case FPT_REPLY:
			s = pm_find(&pm, h.unique);
			if (s != NONE) {
				struct entry *x = &p->e[pm.val[s]];
				struct rec_view rq, rp;

				x->b = off;
				pm_del(&pm, s);
				view_at(p, x->a, &rq);
				view_at(p, off, &rp);
				note_init(r, p, &rq, &rp);
			} else {
				/* a reply whose request is not in the file */
				e.kind = FP_REC_EXCHANGE;
				e.a = NONE;
				e.b = off;
				if (add_entry(p, &e))
					goto nomem;
			}
			break;
		case FPT_NOTIFY:
			e.kind = FP_REC_NOTIFY;
			if (add_entry(p, &e))
				goto nomem;
			break;
		case FPT_EVENT:
			e.kind = FP_REC_EVENT;
			if (add_entry(p, &e))
				goto nomem;
			break;
		case FPT_SESSION:
		case FPT_END:
			session_tlvs(r, p->map + off + sizeof rh + h.hdr_len, caplen - h.hdr_len);
			break;
		default:
			break;                /* unknown record types are skipped */
		}
		off += sizeof rh + caplen;
		seq++;
	}
	if (p->n)
		qsort(p->e, p->n, sizeof *p->e, cmp_entry);
	goto out;
nomem:
	ret = trace_err(err, errlen, -ENOMEM, "%s: out of memory", r->path);
out:
	free(pm.key);
	free(pm.val);
	return ret;
}

static int pc_open(struct fp_reader *r, const char *path, unsigned flags, char *err, size_t errlen)
{
	struct pc_reader *p = calloc(1, sizeof *p);
	struct fpt_pcap_filehdr fh;
	struct stat st;
	int fd, ret;

	if (!p)
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", path);
	r->priv = p;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return trace_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		ret = trace_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	if ((size_t)st.st_size < sizeof fh) {
		close(fd);
		return trace_err(err, errlen, -EINVAL, "%s: truncated pcap file header (%lld of %zu "
				 "bytes)", path, (long long)st.st_size, sizeof fh);
	}
	p->size = (size_t)st.st_size;
	p->map = mmap(NULL, p->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		return trace_err(err, errlen, -errno, "%s: mmap: %s", path, strerror(errno));
	}
	memcpy(&fh, p->map, sizeof fh);
	p->swapped = fh.magic == bswap_32(PCAP_MAGIC_US) || fh.magic == bswap_32(PCAP_MAGIC_NS);
	p->nanos = fix32(p, fh.magic) == PCAP_MAGIC_NS;
	if (p->swapped) {
		fh.version_major = bswap_16(fh.version_major);
		fh.linktype = bswap_32(fh.linktype);
	}
	if (fh.version_major != 2)
		return trace_err(err, errlen, -ENOTSUP, "%s: pcap version %u.x not supported",
				 path, fh.version_major);
	if ((fh.linktype & 0xffff) != PCAP_LINKTYPE_USER0)
		return trace_err(err, errlen, -EINVAL, "%s: pcap link type %u, not a fuseproxy trace "
				 "(LINKTYPE_USER0, 147)", path, fh.linktype & 0xffff);
	return scan(r, p, flags, err, errlen);
}

static void fill_from_hdr(struct fp_trace_exchange *x, const struct fpt_hdr *h)
{
	x->unique = h->unique;
	x->opcode = h->opcode;
	x->worker = h->worker == 0xffff ? -1 : h->worker;
	x->error = h->error;
	x->flags = h->flags;
	x->t_read = h->t_read;
	x->t_sent = h->t_sent;
	x->t_reply = h->t_reply;
	x->t_written = h->t_written;
}

static int pc_next(struct fp_reader *r, struct fp_trace_rec *rec, char *err, size_t errlen)
{
	struct pc_reader *p = r->priv;
	struct rec_view v, w;
	struct entry *e;

	(void)err;
	(void)errlen;
	if (p->next >= p->n)
		return 0;
	e = &p->e[p->next++];
	memset(rec, 0, sizeof *rec);
	rec->kind = e->kind;
	switch (e->kind) {
	case FP_REC_EXCHANGE: {
		struct fp_trace_exchange *x = &rec->x;

		if (e->a != NONE) {
			struct fuse_in_header ih;

			view_at(p, e->a, &v);
			fill_from_hdr(x, &v.h);
			x->req = v.caplen ? v.body : NULL;
			x->req_len = v.h.orig_len;
			x->req_caplen = v.caplen;
			if (v.caplen >= sizeof ih) {
				memcpy(&ih, v.body, sizeof ih);
				x->nodeid = ih.nodeid;
				x->uid = ih.uid;
				x->gid = ih.gid;
				x->pid = ih.pid;
			}
			memcpy(p->comm, v.h.comm, 16);
			p->comm[16] = '\0';
			x->comm = p->comm[0] ? p->comm : NULL;
		}
		if (e->b != NONE) {
			view_at(p, e->b, &w);
			if (e->a == NONE)
				fill_from_hdr(x, &w.h);
			x->reply = w.caplen ? w.body : NULL;
			x->reply_len = w.h.orig_len;
			x->reply_caplen = w.caplen;
		}
		if ((e->a == NONE && e->b != NONE) ||
		    (e->b == NONE && !(x->flags & (FP_TRACE_F_NOREPLY | FP_TRACE_F_PENDING))))
			x->flags |= FP_TRACE_F_UNPAIRED;
		break;
	}
	case FP_REC_NOTIFY:
		view_at(p, e->a, &v);
		rec->n.t = v.h.t_read;
		rec->n.unique = v.h.unique;
		rec->n.worker = v.h.worker == 0xffff ? -1 : v.h.worker;
		rec->n.dir = v.h.dir;
		rec->n.code = v.h.opcode;
		rec->n.msg = v.caplen ? v.body : NULL;
		rec->n.len = v.h.orig_len;
		rec->n.caplen = v.caplen;
		break;
	case FP_REC_EVENT:
		view_at(p, e->a, &v);
		if (v.caplen + 1 > p->text_cap) {
			char *t = realloc(p->text, v.caplen + 1);

			if (!t)
				return trace_err(err, errlen, -ENOMEM, "%s: out of memory", r->path);
			p->text = t;
			p->text_cap = v.caplen + 1;
		}
		memcpy(p->text, v.body, v.caplen);
		p->text[v.caplen] = '\0';
		rec->e.t = v.h.t_read;
		rec->e.kind = v.h.opcode;
		rec->e.text = p->text;
		break;
	}
	return 1;
}

static void pc_close(struct fp_reader *r)
{
	struct pc_reader *p = r->priv;

	if (!p)
		return;
	if (p->map)
		munmap((void *)p->map, p->size);
	free(p->e);
	free(p->text);
	free(p);
}

const struct fp_reader_ops fp_pcap_reader = {
	.name = "pcap",
	.open = pc_open,
	.next = pc_next,
	.close = pc_close,
};
