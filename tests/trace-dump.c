/* Description: trace-dump, the recording tests' view of a trace (sqlite or
 * pcap) through our own reader (trace/reader.h), one line per record, so a
 * shell test can compare the two files of a run with each other, with the
 * -d log and with sqlite3/tshark.
 *
 *   trace-dump [-k] [-s] FILE
 *     -k   accept a pcap whose last record was cut short (a killed writer)
 *     -s   print the session description first ("S key value" lines)
 *
 * Exchanges:  X unique opname opcode req_len reply_len t_read t_sent t_reply
 *               t_written error flags req_cap reply_cap hdr
 *             (reply_len/timestamps "-" when absent; hdr is "ok" when the kept
 *             request bytes start with a fuse_in_header whose len, opcode and
 *             unique equal the exchange's, and the kept reply bytes with a
 *             fuse_out_header whose len, error and unique do; else what differs)
 * Notifications:  N t dir code unique len caplen
 * Events:         E t kind text
 * Exit: 0, or 1 with the reader's message on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuse_kernel.h"
#include "opcodes.h"
#include "reader.h"

static void num_or_dash(uint64_t v, int has)
{
	if (has)
		printf(" %" PRIu64, v);
	else
		printf(" -");
}

/* Do the kept bytes carry the headers the exchange's fields claim? */
static const char *check_headers(const struct fp_trace_exchange *x)
{
	struct fuse_in_header ih;
	struct fuse_out_header oh;

	if (x->req_caplen < sizeof ih)
		return x->req_len ? "req-short" : "no-req";
	memcpy(&ih, x->req, sizeof ih);
	if (ih.len != x->req_len)
		return "req-len";
	if (ih.opcode != x->opcode)
		return "req-opcode";
	if (ih.unique != x->unique)
		return "req-unique";
	if (x->reply_len) {
		if (x->reply_caplen < sizeof oh)
			return "reply-short";
		memcpy(&oh, x->reply, sizeof oh);
		if (oh.len != x->reply_len)
			return "reply-len";
		if (oh.error != x->error)
			return "reply-error";
		if (oh.unique != x->unique)
			return "reply-unique";
	}
	return "ok";
}

static void print_session(const struct fp_trace_session *s)
{
	printf("S format_version %u\n", s->format_version);
	printf("S start_mono_ns %" PRIu64 "\n", s->start_mono_ns);
	printf("S end_mono_ns %" PRIu64 "\n", s->end_mono_ns);
	printf("S records %" PRIu64 "\n", s->records);
	printf("S dropped %" PRIu64 "\n", s->dropped);
	printf("S lost %" PRIu64 "\n", s->lost);
	printf("S proto %u.%u\n", s->proto_major, s->proto_minor);
	printf("S init_req_len %u\n", s->init_req_len);
	printf("S init_reply_len %u\n", s->init_reply_len);
	printf("S transport %s\n", s->transport ? s->transport : "-");
	printf("S backend %s\n", s->backend ? s->backend : "-");
}

int main(int argc, char **argv)
{
	char err[FP_TRACE_ERRBUF_SIZE];
	struct fp_reader *r;
	struct fp_trace_rec rec;
	unsigned flags = 0;
	int ses = 0, opt, ret;

	while ((opt = getopt(argc, argv, "ks")) != -1) {
		switch (opt) {
		case 'k': flags |= FP_READ_TRUNCATED_OK; break;
		case 's': ses = 1; break;
		default:
			fprintf(stderr, "usage: trace-dump [-k] [-s] FILE\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: trace-dump [-k] [-s] FILE\n");
		return 2;
	}
	if (fp_reader_open(&r, argv[optind], flags, err, sizeof err) < 0) {
		fprintf(stderr, "trace-dump: %s\n", err);
		return 1;
	}
	if (ses)
		print_session(fp_reader_session(r));
	while ((ret = fp_reader_next(r, &rec, err, sizeof err)) > 0) {
		switch (rec.kind) {
		case FP_REC_EXCHANGE: {
			const struct fp_trace_exchange *x = &rec.x;

			printf("X %" PRIu64 " %s %u %u", x->unique, fuse_opname(x->opcode),
			       x->opcode, x->req_len);
			num_or_dash(x->reply_len, x->reply != NULL || x->reply_len);
			num_or_dash(x->t_read, x->t_read != 0);
			num_or_dash(x->t_sent, x->t_sent != 0);
			num_or_dash(x->t_reply, x->t_reply != 0);
			num_or_dash(x->t_written, x->t_written != 0);
			printf(" %d %u %u %u %s\n", x->error, x->flags, x->req_caplen,
			       x->reply_caplen, check_headers(x));
			break;
		}
		case FP_REC_NOTIFY:
			printf("N %" PRIu64 " %u %u %" PRIu64 " %u %u\n", rec.n.t, rec.n.dir,
			       rec.n.code, rec.n.unique, rec.n.len, rec.n.caplen);
			break;
		case FP_REC_EVENT:
			printf("E %" PRIu64 " %s %s\n", rec.e.t, fp_trace_event_name(rec.e.kind),
			       rec.e.text ? rec.e.text : "");
			break;
		}
	}
	fp_reader_close(r);
	if (ret < 0) {
		fprintf(stderr, "trace-dump: %s\n", err);
		return 1;
	}
	return 0;
}
