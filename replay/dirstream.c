/* \summary: readdir cookie remapping and listing comparison (dirstream.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirstream.h"

#define MAX_NAME_LINES 20         /* per side, per comparison */

struct ds_name {
	char *name;
	uint32_t hash;
	uint16_t rec_n, got_n;
	bool matched;
	struct fuse_direntplus rec, got;
};

struct rp_ds {
	uint64_t *rec_off, *got_off;   /* cookie of stream entry k, each side */
	size_t nrec, ngot, caprec, capgot;
	bool valid;                    /* read from 0, no rewinds, nothing cut */
	bool compared;                 /* the set comparison was done */
	struct ds_name *names;
	size_t nnames, capnames;
	uint32_t *index;               /* open addressing: names[] index + 1 */
	size_t icap;
};

struct rp_ds *ds_new(void)
{
	struct rp_ds *ds = calloc(1, sizeof *ds);

	if (ds)
		ds->valid = true;
	return ds;
}

static void flush_got_only(struct rp_ds *ds, const struct ds_cb *cb)
{
	for (size_t i = 0; i < ds->nnames; i++) {
		struct ds_name *t = &ds->names[i];
		if (t->got_n && !t->matched && cb && cb->got_only)
			cb->got_only(cb->arg, t->name, &t->got);
		t->matched = true;	/* reported once */
	}
}

static void reset_names(struct rp_ds *ds)
{
	for (size_t i = 0; i < ds->nnames; i++)
		free(ds->names[i].name);
	ds->nnames = 0;
	if (ds->index)
		memset(ds->index, 0, ds->icap * sizeof *ds->index);
}

void ds_free(struct rp_ds *ds, const struct ds_cb *cb)
{
	if (!ds)
		return;
	flush_got_only(ds, cb);
	reset_names(ds);
	free(ds->names);
	free(ds->index);
	free(ds->rec_off);
	free(ds->got_off);
	free(ds);
}

int ds_map(struct rp_ds *ds, uint64_t rec_off, uint64_t *got_off, struct ds_pos *pos,
	   char *why, size_t n)
{
	size_t p = 0, q;

	if (rec_off) {
		/* usually the last entry of the previous reply: search backwards */
		size_t k = ds->nrec;
		while (k > 0 && ds->rec_off[k - 1] != rec_off)
			k--;
		if (!k) {
			snprintf(why, n, "readdir cookie %#llx was never handed out on this "
				 "directory handle in the trace", (unsigned long long)rec_off);
			return -ENOENT;
		}
		p = k;
	}
	q = p < ds->ngot ? p : ds->ngot;
	pos->rec = p;
	pos->got = q;
	*got_off = q ? ds->got_off[q - 1] : 0;
	return 0;
}

int ds_parse(const uint8_t *p, uint32_t len, bool plus,
	     void (*fn)(void *arg, const char *name, size_t namelen,
			const struct fuse_direntplus *e), void *arg)
{
	size_t off = 0, fixed = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
	int n = 0;

	while (off < len) {
		struct fuse_direntplus e;
		char name[FUSE_NAME_MAX + 1];

		if (len - off < fixed)
			return -EPROTO;
		memset(&e, 0, sizeof e);
		if (plus)
			memcpy(&e, p + off, fixed);
		else
			memcpy(&e.dirent, p + off, fixed);
		uint32_t nl = e.dirent.namelen;
		size_t rec = FUSE_DIRENT_ALIGN(fixed + nl);
		if (nl > FUSE_NAME_MAX || fixed + nl > len - off)
			return -EPROTO;
		memcpy(name, p + off + fixed, nl);
		name[nl] = 0;
		if (fn)
			fn(arg, name, nl, &e);
		n++;
		/* the last record may lack its padding */
		off += rec < len - off ? rec : len - off;
	}
	return n;
}

/* ---- name table ------------------------------------------------------- */

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int rehash(struct rp_ds *ds, size_t cap)
{
	uint32_t *ix = calloc(cap, sizeof *ix);

	if (!ix)
		return -ENOMEM;
	for (size_t i = 0; i < ds->nnames; i++) {
		size_t s = ds->names[i].hash & (cap - 1);
		while (ix[s])
			s = (s + 1) & (cap - 1);
		ix[s] = (uint32_t)i + 1;
	}
	free(ds->index);
	ds->index = ix;
	ds->icap = cap;
	return 0;
}

static struct ds_name *name_get(struct rp_ds *ds, const char *name)
{
	uint32_t h = hash_name(name);
	size_t s;

	if ((ds->nnames + 1) * 2 > ds->icap && rehash(ds, ds->icap ? ds->icap * 2 : 64) < 0)
		return NULL;
	for (s = h & (ds->icap - 1); ds->index[s]; s = (s + 1) & (ds->icap - 1)) {
		struct ds_name *t = &ds->names[ds->index[s] - 1];
		if (t->hash == h && !strcmp(t->name, name))
			return t;
	}
	if (ds->nnames == ds->capnames) {
		size_t cap = ds->capnames ? ds->capnames * 2 : 32;
		struct ds_name *v = realloc(ds->names, cap * sizeof *v);
		if (!v)
			return NULL;
		ds->names = v;
		ds->capnames = cap;
	}
	struct ds_name *t = &ds->names[ds->nnames];
	memset(t, 0, sizeof *t);
	t->name = strdup(name);
	if (!t->name)
		return NULL;
	t->hash = h;
	ds->index[s] = (uint32_t)++ds->nnames;
	return t;
}

/* ---- feeding ---------------------------------------------------------- */

struct side {
	struct rp_ds *ds;
	bool got;                 /* which side is being parsed */
	bool plus;
	const struct ds_cb *cb;
	struct sbuf *diff;
	bool ok;
	/* this reply's entries, for the in-order comparison */
	struct { char name[FUSE_NAME_MAX + 1]; uint32_t type; } *v;
	size_t n, cap;
	bool oom;
};

static int push_off(uint64_t **v, size_t *n, size_t *cap, uint64_t off)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		uint64_t *nv = realloc(*v, c * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = off;
	return 0;
}

static void dtype_name(uint32_t t, char *buf, size_t n)
{
	static const char *const names[16] = {
		[0] = "UNKNOWN", [1] = "FIFO", [2] = "CHR", [4] = "DIR", [6] = "BLK",
		[8] = "REG", [10] = "LNK", [12] = "SOCK", [14] = "WHT",
	};
	if (t < 16 && names[t])
		snprintf(buf, n, "%s", names[t]);
	else
		snprintf(buf, n, "%u", t);
}

static void on_entry(void *arg, const char *name, size_t namelen, const struct fuse_direntplus *e)
{
	struct side *s = arg;
	struct rp_ds *ds = s->ds;
	struct ds_name *t;

	(void)namelen;
	if (s->got)
		push_off(&ds->got_off, &ds->ngot, &ds->capgot, e->dirent.off);
	else
		push_off(&ds->rec_off, &ds->nrec, &ds->caprec, e->dirent.off);
	if (s->n == s->cap) {
		size_t c = s->cap ? s->cap * 2 : 32;
		void *nv = realloc(s->v, c * sizeof *s->v);
		if (!nv) {
			s->oom = true;
		} else {
			s->v = nv;
			s->cap = c;
		}
	}
	if (s->n < s->cap) {
		snprintf(s->v[s->n].name, sizeof s->v[s->n].name, "%s", name);
		s->v[s->n++].type = e->dirent.type;
	}

	t = name_get(ds, name);
	if (!t)
		return;
	if (s->got) {
		if (!t->got_n++)
			t->got = *e;
	} else {
		if (!t->rec_n++)
			t->rec = *e;
	}
	if (t->rec_n && t->got_n && !t->matched) {
		t->matched = true;
		if (t->rec.dirent.type != t->got.dirent.type) {
			char a[16], b[16];
			dtype_name(t->rec.dirent.type, a, sizeof a);
			dtype_name(t->got.dirent.type, b, sizeof b);
			sb_printf(s->diff, "\"%s\": type recorded %s, replayed %s\n", name, a, b);
			s->ok = false;
		}
		if (s->cb && s->cb->match) {
			size_t before = s->diff->len;
			s->cb->match(s->cb->arg, name, &t->rec, &t->got, s->diff);
			if (s->diff->len != before)
				s->ok = false;
		}
	}
}

/* The whole stream has been read on the recorded side: names listed on
 * one side only. */
static bool compare_sets(struct rp_ds *ds, struct sbuf *diff)
{
	size_t only_rec = 0, only_got = 0;

	for (size_t i = 0; i < ds->nnames; i++) {
		struct ds_name *t = &ds->names[i];
		if (t->rec_n && !t->got_n && only_rec++ < MAX_NAME_LINES)
			sb_printf(diff, "\"%s\": listed in the recording only\n", t->name);
		if (t->got_n && !t->rec_n && only_got++ < MAX_NAME_LINES)
			sb_printf(diff, "\"%s\": listed by the target only\n", t->name);
		if (t->rec_n > 1 || t->got_n > 1)
			sb_printf(diff, "\"%s\": listed %u times in the recording, %u times by "
				  "the target\n", t->name, t->rec_n, t->got_n);
	}
	if (only_rec > MAX_NAME_LINES)
		sb_printf(diff, "... and %zu more names listed in the recording only\n",
			  only_rec - MAX_NAME_LINES);
	if (only_got > MAX_NAME_LINES)
		sb_printf(diff, "... and %zu more names listed by the target only\n",
			  only_got - MAX_NAME_LINES);
	return !only_rec && !only_got;
}

bool ds_feed(struct rp_ds *ds, const struct rp_opts *o, bool plus, const struct ds_pos *pos,
	     const uint8_t *rec, uint32_t rec_len, bool rec_cut,
	     const uint8_t *got, uint32_t got_len, const struct ds_cb *cb, struct sbuf *diff)
{
	bool ordered = o->readdir_order || o->compare == RP_CMP_STRICT;
	bool compare = o->compare != RP_CMP_NONE;
	struct side rs = { .ds = ds, .got = false, .plus = plus, .cb = cb, .diff = diff, .ok = true };
	struct side gs = rs;
	struct sbuf scratch = { 0 };
	int r;

	gs.got = true;
	if (!compare) {
		rs.diff = gs.diff = &scratch;
	}
	if (pos->rec == 0) {
		/* a listing from the start (again): the target's entries nobody
		 * matched are handed back before the table is cleared */
		flush_got_only(ds, cb);
		reset_names(ds);
		ds->valid = true;
		ds->compared = false;
	} else if (pos->rec < ds->nrec) {
		ds->valid = false;	/* seekdir backwards: sets would mix */
	}
	if (pos->rec < ds->nrec)
		ds->nrec = pos->rec;
	if (pos->got < ds->ngot)
		ds->ngot = pos->got;

	r = ds_parse(rec, rec_len, plus, on_entry, &rs);
	if (r < 0 || rec_cut)
		ds->valid = false;	/* entries the trace did not keep */
	r = ds_parse(got, got_len, plus, on_entry, &gs);
	if (r < 0) {
		sb_printf(diff, "the target's listing has a record running past its end\n");
		gs.ok = false;
	}
	bool ok = rs.ok && gs.ok;

	if (compare && ordered && !rec_cut) {
		size_t n = rs.n > gs.n ? rs.n : gs.n, shown = 0;
		for (size_t i = 0; i < n && shown < MAX_NAME_LINES; i++) {
			if (i >= rs.n) {
				sb_printf(diff, "entry %zu: \"%s\" listed by the target only\n",
					  pos->rec + i, gs.v[i].name);
			} else if (i >= gs.n) {
				sb_printf(diff, "entry %zu: \"%s\" listed in the recording only\n",
					  pos->rec + i, rs.v[i].name);
			} else if (strcmp(rs.v[i].name, gs.v[i].name)) {
				sb_printf(diff, "entry %zu: recorded \"%s\", replayed \"%s\"\n",
					  pos->rec + i, rs.v[i].name, gs.v[i].name);
			} else {
				continue;
			}
			shown++;
			ok = false;
		}
	} else if (compare && !rec_len && ds->valid && !ds->compared) {
		/* the recording read this directory to its end */
		ds->compared = true;
		if (!compare_sets(ds, diff))
			ok = false;
		if (got_len) {
			sb_printf(diff, "the target's listing goes on where the recording's ended\n");
			ok = false;
		}
	}
	free(rs.v);
	free(gs.v);
	sb_free(&scratch);
	return compare ? ok : true;
}
