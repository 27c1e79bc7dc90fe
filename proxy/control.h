/* \summary: the control socket: `fuseproxy status MNT` asks a running
 * fuseproxy what is in flight, over a unix socket only its owner can use. */
#ifndef FP_CONTROL_H
#define FP_CONTROL_H

#include <stddef.h>

struct fp_session;
struct fp_control;

/* Where the control socket of mountpoint `mnt` (absolute, resolved) lives:
 * /run/fuseproxy/<hash>.sock for root, $XDG_RUNTIME_DIR/fuseproxy/ (or
 * /tmp/fuseproxy-<uid>/) otherwise.  Returns 0 or -ENAMETOOLONG. */
int fp_control_path(const char *mnt, char *buf, size_t n);

/* Listen (mode 0600) and serve requests on a thread.  `what` describes the
 * filesystem ("passthrough /srv", "backend 'myfs -f'").  Returns NULL with
 * a message on failure (the mount works without it). */
struct fp_control *fp_control_start(struct fp_session *s, const char *mnt,
				    const char *what, char *errbuf, size_t errlen);
void fp_control_stop(struct fp_control *c);

/* Client: `fuseproxy status MNT`.  Returns the exit status. */
int fp_control_status(int argc, char **argv);
/* Client: `fuseproxy upgrade MNT --backend CMD`: 0 if CMD serves now. */
int fp_control_upgrade(int argc, char **argv);

#endif
