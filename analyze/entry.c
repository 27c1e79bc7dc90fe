/* \summary: one request as slow and inflight show it: times, who asked,
 * path, and the request and reply decoded by the abi formatter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "collect.h"
#include "format.h"
#include "sbuf.h"

#define DETAIL_MAX 1024

static void detail(char *buf, size_t n, struct an_engine *e, const struct fp_trace_exchange *x)
{
	struct sbuf s = sbuf_make(buf, n);
	struct fuse_req_view v;
	char tmp[DETAIL_MAX];
	int ret = -1;

	if (x->req) {
		ret = fuse_validate_request(x->req, x->req_caplen, &e->wp, &v, NULL, 0);
		fuse_format_request(tmp, sizeof tmp, &v);
		sbuf_puts(&s, tmp);
		if (ret && x->req_caplen < x->req_len)
			sbuf_printf(&s, " [%u of %u bytes kept]", x->req_caplen, x->req_len);
		else if (ret)
			sbuf_puts(&s, " [malformed]");
	} else {
		sbuf_printf(&s, "%s #%llu node=%llu", fuse_opname(x->opcode),
			    (unsigned long long)x->unique, (unsigned long long)x->nodeid);
	}
	if (x->reply_len) {
		sbuf_puts(&s, " -> ");
		if (x->reply) {
			fuse_format_reply(tmp, sizeof tmp, x->opcode, ret ? NULL : &v, x->reply,
					  x->reply_caplen);
			sbuf_puts(&s, tmp);
		} else if (x->error) {
			sbuf_printf(&s, "-%s", fuse_errno_name(-x->error));
		} else {
			sbuf_printf(&s, "%u bytes", x->reply_len);
		}
	}
	sbuf_finish(&s);
}

int an_entry_fill(struct an_slow_entry *s, struct an_engine *e, const struct an_req *r)
{
	const struct fp_trace_exchange *x = r->x;
	char buf[DETAIL_MAX];

	memset(s, 0, sizeof *s);
	s->total = r->total;
	s->backend = r->backend;
	s->has_backend = r->has_backend;
	s->t_read = x->t_read;
	s->unique = x->unique;
	s->nodeid = x->nodeid;
	s->opcode = x->opcode;
	s->pid = x->pid;
	s->error = x->error;
	s->worker = x->worker;
	if (x->comm)
		strncpy(s->comm, x->comm, sizeof s->comm - 1);
	if (e->paths && x->nodeid) {
		an_paths_describe(e->paths, x, &e->wp, buf, sizeof buf);
		if (!(s->path = strdup(buf)))
			return -ENOMEM;
	}
	detail(buf, sizeof buf, e, x);
	if (!(s->detail = strdup(buf))) {
		free(s->path);
		s->path = NULL;
		return -ENOMEM;
	}
	return 0;
}

void an_entry_free(struct an_slow_entry *s)
{
	free(s->path);
	free(s->detail);
	s->path = s->detail = NULL;
}
