/* \summary: opening a trace: the format is picked by magic through one table
 * (like libpcap's savefile.c check_headers[]). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "reader_i.h"

static const struct magic {
	const char *bytes;
	size_t len;
	const struct fp_reader_ops *ops;    /* NULL: known but unsupported */
	const char *why;
} magics[] = {
	{ "SQLite format 3", 16, &fp_sqlite_reader, NULL },      /* includes the NUL */
	{ "\xd4\xc3\xb2\xa1", 4, &fp_pcap_reader, NULL },        /* pcap, us, little-endian */
	{ "\xa1\xb2\xc3\xd4", 4, &fp_pcap_reader, NULL },        /* pcap, us, big-endian */
	{ "\x4d\x3c\xb2\xa1", 4, &fp_pcap_reader, NULL },        /* pcap, ns, little-endian */
	{ "\xa1\xb2\x3c\x4d", 4, &fp_pcap_reader, NULL },        /* pcap, ns, big-endian */
	{ "\x0a\x0d\x0d\x0a", 4, NULL,
	  "pcapng is not supported; convert it with: editcap -F pcap IN OUT" },
};

static int detect(const char *path, const struct magic **out, char *err, size_t errlen)
{
	unsigned char head[16];
	ssize_t n;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return trace_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
	n = read(fd, head, sizeof head);
	close(fd);
	if (n < 0)
		return trace_err(err, errlen, -EIO, "%s: read: %s", path, strerror(errno));
	if (n == 0)
		return trace_err(err, errlen, -EINVAL, "%s: empty file, not a trace", path);
	for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++) {
		if ((size_t)n >= magics[i].len && !memcmp(head, magics[i].bytes, magics[i].len)) {
			if (!magics[i].ops)
				return trace_err(err, errlen, -ENOTSUP, "%s: %s", path, magics[i].why);
			*out = &magics[i];
			return 0;
		}
	}
	return trace_err(err, errlen, -EINVAL, "%s: not a trace (neither sqlite nor pcap; "
			 "first bytes %02x %02x %02x %02x)", path, head[0], n > 1 ? head[1] : 0,
			 n > 2 ? head[2] : 0, n > 3 ? head[3] : 0);
}

const char *fp_trace_detect(const char *path, char *err, size_t errlen)
{
	const struct magic *m;

	return detect(path, &m, err, errlen) ? NULL : m->ops->name;
}

void *reader_keep(struct fp_reader *r, const void *p, size_t n)
{
	char *c;

	for (size_t i = 0; i < sizeof r->own / sizeof r->own[0]; i++) {
		if (r->own[i])
			continue;
		c = malloc(n + 1);
		if (!c)
			return NULL;
		if (n)
			memcpy(c, p, n);
		c[n] = '\0';
		r->own[i] = c;
		return c;
	}
	return NULL;
}

int fp_reader_open(struct fp_reader **rp, const char *path, unsigned flags,
		   char *err, size_t errlen)
{
	const struct magic *m;
	struct fp_reader *r;
	int ret;

	*rp = NULL;
	ret = detect(path, &m, err, errlen);
	if (ret)
		return ret;
	r = calloc(1, sizeof *r);
	if (!r)
		return trace_err(err, errlen, -ENOMEM, "%s: out of memory", path);
	r->ops = m->ops;
	r->path = path;
	ret = r->ops->open(r, path, flags, err, errlen);
	if (ret) {
		fp_reader_close(r);
		return ret;
	}
	*rp = r;
	return 0;
}

const char *fp_reader_format(const struct fp_reader *r)
{
	return r->ops->name;
}

const struct fp_trace_session *fp_reader_session(const struct fp_reader *r)
{
	return &r->ses;
}

int fp_reader_next(struct fp_reader *r, struct fp_trace_rec *rec, char *err, size_t errlen)
{
	return r->ops->next(r, rec, err, errlen);
}

void fp_reader_close(struct fp_reader *r)
{
	if (!r)
		return;
	r->ops->close(r);
	for (size_t i = 0; i < sizeof r->own / sizeof r->own[0]; i++)
		free(r->own[i]);
	free(r);
}
