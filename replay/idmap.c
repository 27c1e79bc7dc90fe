/* \summary: recorded ids -> the target's ids (see replay_i.h). */
#include <errno.h>
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

static void fh_free(struct rp_fh *f, const struct ds_cb *cb)
{
	ds_free(f->ds, cb);
	free(f->ids);
	free(f);
}

static void free_fh(uint64_t key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	for (struct rp_fh *f = val, *n; f; f = n) {
		n = f->next;
		fh_free(f, NULL);
	}
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

struct rp_fh *ids_fh(struct rp_ids *ids, uint64_t rec, uint64_t node)
{
	for (struct rp_fh *f = map_get(&ids->fhs, map_key(rec)); f; f = f->next)
		if (f->node == node)
			return f;
	return NULL;
}

struct rp_fh *ids_fh_add(struct rp_ids *ids, uint64_t rec, uint64_t node)
{
	struct rp_fh *head = map_get(&ids->fhs, map_key(rec)), *f;

	for (f = head; f; f = f->next)
		if (f->node == node)
			return f;
	f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->rec = rec;
	f->node = node;
	f->next = head;
	if (map_put(&ids->fhs, map_key(rec), f) < 0) {
		free(f);
		return NULL;
	}
	return f;
}

int ids_fh_push(struct rp_fh *f, uint64_t id)
{
	if (f->nids == f->cap) {
		uint32_t cap = f->cap ? f->cap * 2 : 2;
		uint64_t *v = realloc(f->ids, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		f->ids = v;
		f->cap = cap;
	}
	f->ids[f->nids++] = id;
	return 0;
}

void ids_fh_del(struct rp_ids *ids, struct rp_fh *f, const struct ds_cb *cb)
{
	struct rp_fh *head = map_get(&ids->fhs, map_key(f->rec));

	if (head == f) {
		if (f->next)
			map_put(&ids->fhs, map_key(f->rec), f->next);
		else
			map_del(&ids->fhs, map_key(f->rec));
	} else {
		for (struct rp_fh *p = head; p; p = p->next) {
			if (p->next == f) {
				p->next = f->next;
				break;
			}
		}
	}
	fh_free(f, cb);
}

char *ids_child_path(struct rp_ids *ids, uint64_t parent_rec, const char *name)
{
	struct rp_node *p = ids_node(ids, parent_rec);
	char *s;

	if (!p || !p->path || !name)
		return NULL;
	if (!*name)	/* TMPFILE: a file in the directory, with no name yet */
		return strdup(p->path);
	if (asprintf(&s, "%s%s%s", p->path, strcmp(p->path, "/") ? "/" : "", name) < 0)
		return NULL;
	return s;
}
