/* \summary: small helpers of the trace library: errors, clocks, event
 * names, argv as JSON, and the /proc/PID/comm cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "trace_i.h"

int trace_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

uint64_t fp_trace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *const event_names[FP_EV_KIND_COUNT] = {
	[FP_EV_INFO] = "info",
	[FP_EV_WARNING] = "warning",
	[FP_EV_ERROR] = "error",
	[FP_EV_BACKEND_START] = "backend_start",
	[FP_EV_BACKEND_EXIT] = "backend_exit",
	[FP_EV_BACKEND_RESTART] = "backend_restart",
	[FP_EV_DROPS] = "drops",
};

const char *fp_trace_event_name(uint32_t kind)
{
	return kind < FP_EV_KIND_COUNT ? event_names[kind] : "???";
}

uint32_t fp_trace_event_kind(const char *name)
{
	for (uint32_t k = 0; name && k < FP_EV_KIND_COUNT; k++)
		if (!strcasecmp(name, event_names[k]))
			return k;
	return FP_EV_INFO;
}

/* ---- argv as a JSON array --------------------------------------------------- */

static size_t json_str(char *out, const char *s)
{
	size_t n = 0;

#define PUT(c) do { if (out) out[n] = (c); n++; } while (0)
	PUT('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT((char)c);
		} else if (c < 0x20) {
			char esc[8];

			snprintf(esc, sizeof esc, "\\u%04x", c);
			for (int i = 0; esc[i]; i++)
				PUT(esc[i]);
		} else {
			PUT((char)c);
		}
	}
	PUT('"');
#undef PUT
	return n;
}

char *trace_argv_json(int argc, char *const *argv)
{
	size_t n = 2, k = 0;
	char *out;

	for (int i = 0; i < argc && argv && argv[i]; i++)
		n += json_str(NULL, argv[i]) + 2;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	out[k++] = '[';
	for (int i = 0; i < argc && argv && argv[i]; i++) {
		if (i)
			out[k++] = ',';
		k += json_str(out + k, argv[i]);
	}
	out[k++] = ']';
	out[k] = '\0';
	return out;
}

/* ---- /proc/PID/comm cache ---------------------------------------------------- */

/* Direct-mapped by pid.  An entry is trusted for a second: long enough to
 * make a busy process cost one read, short enough to follow exec(). */
#define COMM_SLOTS 1024
#define COMM_TTL_NS 1000000000ull

struct comm_cache {
	struct {
		uint32_t pid;
		uint64_t t;
		char comm[16];
	} e[COMM_SLOTS];
};

struct comm_cache *comm_cache_new(void)
{
	return calloc(1, sizeof(struct comm_cache));
}

void comm_cache_free(struct comm_cache *c)
{
	free(c);
}

/* /proc/PID/comm into comm[16]; false if the process is gone. */
bool comm_read(uint32_t pid, char comm[16])
{
	char path[32];
	ssize_t n;
	int fd;

	comm[0] = '\0';
	snprintf(path, sizeof path, "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, 15);
	close(fd);
	if (n <= 0) {
		comm[0] = '\0';
		return false;
	}
	comm[n] = '\0';
	if (comm[n - 1] == '\n')
		comm[n - 1] = '\0';
	return true;
}

const char *comm_lookup(struct comm_cache *c, uint32_t pid, uint64_t now_ns)
{
	__typeof__(c->e[0]) *e;

	if (!c || !pid)
		return NULL;
	e = &c->e[pid % COMM_SLOTS];
	if (e->pid == pid && e->t && now_ns - e->t < COMM_TTL_NS)
		return e->comm[0] ? e->comm : NULL;
	e->pid = pid;
	e->t = now_ns ? now_ns : 1;
	return comm_read(pid, e->comm) ? e->comm : NULL;
}
