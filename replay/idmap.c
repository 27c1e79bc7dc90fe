/* \summary: recorded ids -> the target's ids (see replay_i.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "replay_i.h"
#include "dirstream.h"

void ids_init(struct rp_ids *ids)
{
	memset(ids, 0, sizeof *ids);
	ids->root.rec = FUSE_ROOT_ID;
	ids->root.id = FUSE_ROOT_ID;
	ids->root.path = (char *)"/";
}

static void free_node(uint64_t key, void *val, void *arg)
{
	struct rp_node *n = val;
	(void)key;
	(void)arg;
	free(n->path);
	free(n);
}

static void free_fh(uint64_t key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	ids_fh_free(val);
}

void ids_fini(struct rp_ids *ids)
{
	map_each(&ids->nodes, free_node, NULL);
	map_each(&ids->fhs, free_fh, NULL);
	map_free(&ids->nodes);
	map_free(&ids->fhs);
}

struct rp_node *ids_node(struct rp_ids *ids, uint64_t rec)
{
	if (rec == FUSE_ROOT_ID)
		return &ids->root;
	return map_get(&ids->nodes, map_key(rec));
}

struct rp_node *ids_node_add(struct rp_ids *ids, uint64_t rec)
{
	struct rp_node *n = ids_node(ids, rec);

	if (n)
		return n;
	n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->rec = rec;
	if (map_put(&ids->nodes, map_key(rec), n) < 0) {
		free(n);
		return NULL;
	}
	return n;
}

void ids_node_del(struct rp_ids *ids, uint64_t rec)
{
	struct rp_node *n;

	if (rec == FUSE_ROOT_ID)
		return;
	n = map_del(&ids->nodes, map_key(rec));
	if (n)
		free_node(0, n, NULL);
}

struct rp_fh *ids_fh(struct rp_ids *ids, uint64_t rec)
{
	return map_get(&ids->fhs, map_key(rec));
}

struct rp_fh *ids_fh_add(struct rp_ids *ids, uint64_t rec)
{
	struct rp_fh *f = ids_fh(ids, rec);

	if (f)
		return f;
	f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->rec = rec;
	if (map_put(&ids->fhs, map_key(rec), f) < 0) {
		free(f);
		return NULL;
	}
	return f;
}

struct rp_fh *ids_fh_take(struct rp_ids *ids, uint64_t rec)
{
	return map_del(&ids->fhs, map_key(rec));
}

void ids_fh_free(struct rp_fh *f)
{
	if (!f)
		return;
	ds_free(f->ds, NULL);
	free(f);
}

char *ids_child_path(struct rp_ids *ids, uint64_t parent_rec, const char *name)
{
	struct rp_node *p = ids_node(ids, parent_rec);
	char *s;

	if (!p || !p->path || !name)
		return NULL;
	if (asprintf(&s, "%s%s%s", p->path, strcmp(p->path, "/") ? "/" : "", name) < 0)
		return NULL;
	return s;
}
