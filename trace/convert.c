/* \summary: db <-> pcap conversion: any reader feeding either sink. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "reader_i.h"

#define CONVERT_BATCH 65536

static enum fp_trace_format by_extension(const char *path)
{
	size_t n = strlen(path);

	if ((n >= 5 && !strcmp(path + n - 5, ".pcap")) || !strcmp(path, "-"))
		return FP_FMT_PCAP;
	return FP_FMT_SQLITE;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int fp_trace_convert(const char *in, const char *out, enum fp_trace_format fmt,
		     char *err, size_t errlen)
{
	const struct fp_sink_ops *ops;
	struct fp_trace_session ses;
	struct fp_trace_rec rec;
	struct fp_reader *r;
	struct fp_sink *s;
	uint64_t n = 0;
	char msg[256];
	int ret, cret;

	if (same_file(in, out))
		return trace_err(err, errlen, -EINVAL, "%s: input and output are the same file", out);
	ret = fp_reader_open(&r, in, 0, err, errlen);
	if (ret)
		return ret;
	if (fmt == FP_FMT_AUTO)
		fmt = by_extension(out);
	ops = fmt == FP_FMT_PCAP ? &fp_pcap_sink : &fp_sqlite_sink;
	ses = *fp_reader_session(r);
	if (!ses.format_version)
		ses.format_version = 1;
	ret = ops->open(&s, out, &ses, err, errlen);
	if (ret)
		goto out;
	while ((ret = fp_reader_next(r, &rec, err, errlen)) > 0) {
		ret = ops->put(s, &rec, err, errlen);
		if (ret)
			break;
		if (++n % CONVERT_BATCH == 0) {
			ret = ops->flush(s, &ses, err, errlen);
			if (ret)
				break;
		}
	}
	/* keep the original end counters; a trace without them gets ours */
	if (!ses.records)
		ses.records = n;
	cret = ops->close(s, &ses, msg, sizeof msg);
	if (!ret && cret)
		ret = trace_err(err, errlen, cret, "%s", msg);
out:
	fp_reader_close(r);
	return ret;
}
