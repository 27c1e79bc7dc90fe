/* \summary: --filter: which opcodes get recorded (names from the abi table). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "opcodes.h"
#include "trace_i.h"

static int opcode_by_name(const char *s, size_t n, uint32_t *opcode)
{
	const struct fuse_op *op;
	char *end;
	unsigned long v;

	if (n > 5 && !strncasecmp(s, "FUSE_", 5))
		s += 5, n -= 5;
	if (n && isdigit((unsigned char)s[0])) {
		v = strtoul(s, &end, 10);
		if ((size_t)(end - s) != n || !fuse_op_get((uint32_t)v))
			return -EINVAL;
		*opcode = (uint32_t)v;
		return 0;
	}
	for (size_t i = 0; (op = fuse_op_at(i)); i++) {
		if (strlen(op->name) == n && !strncasecmp(op->name, s, n)) {
			*opcode = op->opcode;
			return 0;
		}
	}
	return -EINVAL;
}

static uint64_t opcode_bit(uint32_t opcode)
{
	return 1ull << (opcode < FP_TRACE_FILTER_BITS - 1 ? opcode : FP_TRACE_FILTER_BITS - 1);
}

int fp_trace_filter_parse(const char *spec, struct fp_trace_filter *f,
			  char *err, size_t errlen)
{
	uint64_t want = 0, unwant = 0;
	bool any_positive = false;
	const char *p = spec;

	f->pass = ~0ull;
	if (!spec)
		return 0;
	while (*p) {
		const char *start, *end;
		bool neg = false;
		uint32_t opcode;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (*p == '!') {
			neg = true;
			p++;
		}
		start = p;
		while (*p && *p != ',' && !isspace((unsigned char)*p))
			p++;
		end = p;
		if (end == start || opcode_by_name(start, (size_t)(end - start), &opcode))
			return trace_err(err, errlen, -EINVAL,
					 "filter: unknown opcode '%.*s' (names as in LOOKUP, GETATTR, ...; "
					 "prefix ! to exclude)", (int)(end - start), start);
		if (neg) {
			unwant |= opcode_bit(opcode);
		} else {
			want |= opcode_bit(opcode);
			any_positive = true;
		}
	}
	f->pass = (any_positive ? want : ~0ull) & ~unwant;
	/* Replay cannot do without the negotiation. */
	f->pass |= opcode_bit(FUSE_INIT);
	return 0;
}
