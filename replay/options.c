/* \summary: option values shared by the command line and the tests:
 * errno names and --tolerate maps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "replay.h"
#include "names.h"

int rp_parse_errno(const char *s, int *out)
{
	char *end;
	long v;

	if (!strcmp(s, "*")) {
		*out = -1;
		return 0;
	}
	if (!strcasecmp(s, "ok") || !strcasecmp(s, "success")) {
		*out = 0;
		return 0;
	}
	v = strtol(s, &end, 10);
	if (end != s && !*end && v >= 0 && v < 4096) {
		*out = (int)v;
		return 0;
	}
	for (const struct fuse_tok *t = fuse_errno_names; t->s; t++) {
		if (!strcasecmp(t->s, s)) {
			*out = (int)t->v;
			return 0;
		}
	}
	return -EINVAL;
}

int rp_parse_tolerate(const char *spec, struct rp_tolerance **tol, int *ntol,
		      char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int ret = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		struct rp_tolerance t;
		if (!eq) {
			snprintf(err, errlen, "--tolerate: '%s' is not REC=NEW", tok);
			ret = -EINVAL;
			break;
		}
		*eq = 0;
		if (rp_parse_errno(tok, &t.rec) < 0 || rp_parse_errno(eq + 1, &t.got) < 0) {
			snprintf(err, errlen, "--tolerate: unknown errno in '%s=%s'", tok, eq + 1);
			ret = -EINVAL;
			break;
		}
		struct rp_tolerance *v = realloc(*tol, (size_t)(*ntol + 1) * sizeof *v);
		if (!v) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			break;
		}
		v[(*ntol)++] = t;
		*tol = v;
	}
	free(copy);
	return ret;
}

