/* \summary: fuseanalyze convert: sqlite <-> pcap through the trace library. */
#include <string.h>
#include "cmd.h"

int cmd_convert(const struct an_args *a)
{
	enum fp_trace_format fmt = FP_FMT_AUTO;
	char err[FP_TRACE_ERRBUF_SIZE];

	if (a->to) {
		if (!strcmp(a->to, "sqlite") || !strcmp(a->to, "db"))
			fmt = FP_FMT_SQLITE;
		else if (!strcmp(a->to, "pcap"))
			fmt = FP_FMT_PCAP;
		else
			return an_error("--to wants sqlite or pcap, not '%s'", a->to);
	}
	if (fp_trace_convert(a->pos[0], a->pos[1], fmt, err, sizeof err))
		return an_error("%s", err);
	return AN_EXIT_OK;
}
