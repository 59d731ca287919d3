/* SPDX-License-Identifier: MIT */
/*
 * rootdrop.c - take a root out of the index (rootdrop.h): what fsindexd
 * does with a root removed from its configuration on reload.
 *
 * Who keeps an entry: a root that holds it.  So the root's record always
 * goes, and its entries go unless a root that stays holds them:
 *
 *   a root left is the root or above it     only the record goes
 *   roots left lie below it                 everything else goes; the
 *                                           directories on the way down to
 *                                           them become chain nodes (as a
 *                                           scan makes a root's ancestors)
 *   none                                    the root's subtree goes, and
 *                                           the chain nodes above it that
 *                                           lead nowhere else
 *
 * The plan is made from one read snapshot, then queued after the reader is
 * released: a writer that must grow the map waits for this process's
 * snapshots to end.
 */
#include "rootdrop.h"

#include "engine.h"
#include "node.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plan {
	struct store_reader *rd;
	char **keep; /* the paths of the roots that stay */
	size_t nkeep, keep_cap;
	uint64_t *dels; /* subtrees to delete */
	size_t ndels, dels_cap;
	struct node *chains; /* records to put back as chain nodes (names owned) */
	size_t nchains, chains_cap;
	uint64_t id;   /* the root dropped */
	bool found;    /* it has a root record */
	uint64_t *ids; /* the other roots' nodes */
	size_t nids, ids_cap;
};

/* Is @a at or below @b (both absolute, no trailing '/')? */
static bool at_or_below(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (strncmp(a, b, n) != 0)
		return false;
	return a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/');
}

static int add_root_id(void *ctx, const struct store_root *root)
{
	struct plan *p = ctx;

	if (root->id == p->id) {
		p->found = true;
		return 0;
	}
	if (GROW(p->ids, p->ids_cap, p->nids + 1) < 0)
		return -ENOMEM;
	p->ids[p->nids++] = root->id;
	return 0;
}

static int keep_add(struct plan *p, const char *path)
{
	char *copy;

	if (GROW(p->keep, p->keep_cap, p->nkeep + 1) < 0 || !(copy = strdup(path)))
		return -ENOMEM;
	p->keep[p->nkeep++] = copy;
	return 0;
}

/* The paths of the roots left: the index's others (those whose node is there), and @extra. */
static int plan_keep(struct plan *p, char *const *extra, size_t nextra)
{
	int r = store_foreach_root(p->rd, add_root_id, p);

	for (size_t i = 0; i < p->nids && r >= 0; i++) {
		char *path;

		r = store_node_path_alloc(p->rd, p->ids[i], &path);
		if (r == -ENOENT) {
			r = 0; /* a stale record: its node went with its directory */
			continue;
		}
		if (r >= 0) {
			r = keep_add(p, path);
			free(path);
		}
	}
	for (size_t i = 0; i < nextra && r >= 0; i++)
		if (extra[i])
			r = keep_add(p, extra[i]);
	return r < 0 ? r : 0;
}

/* 0: no root left lies at or below @path; 1: one is @path itself; 2: one lies below it. */
static int kept_below(const struct plan *p, const char *path)
{
	int v = 0;

	for (size_t i = 0; i < p->nkeep; i++)
		if (strcmp(p->keep[i], path) == 0)
			return 1;
		else if (at_or_below(p->keep[i], path))
			v = 2;
	return v;
}

static int plan_del(struct plan *p, uint64_t id)
{
	if (GROW(p->dels, p->dels_cap, p->ndels + 1) < 0)
		return -ENOMEM;
	p->dels[p->ndels++] = id;
	return 0;
}

/* Put node @id back as a chain node. */
static int plan_chain(struct plan *p, uint64_t id)
{
	struct node n;
	char *name;
	int r = store_get_node(p->rd, id, &n);

	if (r < 0)
		return r;
	if (GROW(p->chains, p->chains_cap, p->nchains + 1) < 0 ||
	    !(name = malloc(n.name_len ? n.name_len : 1)))
		return -ENOMEM;
	memcpy(name, n.name, n.name_len);
	n.name = name;
	n.flags = (n.flags | NODE_F_CHAIN) & ~NODE_F_SETTLED;
	p->chains[p->nchains++] = n;
	return 0;
}

struct kids {
	uint64_t *ids;
	char **names;
	size_t n, cap, names_cap;
};

static int add_kid(void *ctx, const struct store_child *c)
{
	struct kids *k = ctx;
	char *name;

	if (GROW(k->ids, k->cap, k->n + 1) < 0 || GROW(k->names, k->names_cap, k->n + 1) < 0 ||
	    !(name = strndup(c->name, c->name_len)))
		return -ENOMEM;
	k->ids[k->n] = c->id;
	k->names[k->n++] = name;
	return 0;
}

static void kids_free(struct kids *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->names[i]);
	free(k->names);
	free(k->ids);
}

/* Directory @id at @path holds roots left below it: drop the rest of it, keep the way down. */
static int plan_prune(struct plan *p, uint64_t id, const char *path)
{
	struct kids k = {0};
	int r = store_foreach_child(p->rd, id, add_kid, &k);

	for (size_t i = 0; i < k.n && r >= 0; i++) {
		char *child;
		int below;

		if (asprintf(&child, "%s/%s", strcmp(path, "/") ? path : "", k.names[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		below = kept_below(p, child);
		if (below == 0)
			r = plan_del(p, k.ids[i]);
		else if (below == 2)
			r = plan_prune(p, k.ids[i], child);
		free(child);
	}
	kids_free(&k);
	return r < 0 ? r : plan_chain(p, id);
}

static int count_kid(void *ctx, const struct store_child *c)
{
	(void)c;
	return ++*(unsigned *)ctx > 1 ? 1 : 0;
}

/*
 * Nothing left below @id: the highest of it and its chain ancestors that
 * lead to it alone is what goes.
 */
static int plan_climb(struct plan *p, uint64_t id)
{
	for (;;) {
		struct node n, parent;
		unsigned kids = 0;
		int r = store_get_node(p->rd, id, &n);

		if (r < 0)
			return r;
		if (n.parent == 0 || n.parent == NODE_ID_TOP)
			break;
		r = store_get_node(p->rd, n.parent, &parent);
		if (r < 0)
			return r;
		if (!(parent.flags & NODE_F_CHAIN))
			break;
		r = store_foreach_child(p->rd, n.parent, count_kid, &kids);
		if (r < 0)
			return r;
		if (kids != 1)
			break;
		id = n.parent;
	}
	return plan_del(p, id);
}

static int plan_make(struct plan *p, const char *path, char *const *keep, size_t nkeep)
{
	int r = store_resolve_path(p->rd, path, &p->id);

	if (r == -ENOENT)
		return 0;
	if (r == 0)
		r = plan_keep(p, keep, nkeep);
	if (r < 0 || !p->found)
		return r;
	for (size_t i = 0; i < p->nkeep; i++)
		if (at_or_below(path, p->keep[i]))
			return 0; /* a root left holds it all: only the record goes */
	return kept_below(p, path) ? plan_prune(p, p->id, path) : plan_climb(p, p->id);
}

static void plan_clear(struct plan *p)
{
	for (size_t i = 0; i < p->nkeep; i++)
		free(p->keep[i]);
	free(p->keep);
	for (size_t i = 0; i < p->nchains; i++)
		free((char *)p->chains[i].name);
	free(p->chains);
	free(p->dels);
	free(p->ids);
}

/* Queue the plan: deletes, chain nodes (children before parents), the record. */
static int plan_apply(struct engine *e, const struct plan *p)
{
	struct store_batch *batch = NULL;
	struct store_job *job = NULL;
	int r = store_job_new(engine_writer(e), &job);

	if (r == 0)
		r = store_batch_new(engine_writer(e), job, &batch);
	for (size_t i = 0; i < p->ndels && r == 0; i++)
		r = store_batch_del(batch, p->dels[i]);
	for (size_t i = 0; i < p->nchains && r == 0; i++)
		r = store_batch_put(batch, &p->chains[i], false);
	if (r == 0)
		r = store_batch_unroot(batch, p->id);
	store_batch_free(batch);
	if (job) {
		int rw = store_job_wait(job);

		if (r == 0)
			r = rw;
		store_job_free(job);
	}
	return r;
}

int rootdrop_run(struct engine *e, const char *path, char *const *keep, size_t nkeep,
		 uint64_t *ret_deleted)
{
	struct plan p = {0};
	int r;

	r = store_reader_new(engine_store(e), &p.rd);
	if (r == 0)
		r = plan_make(&p, path, keep, nkeep);
	store_reader_free(p.rd);
	if (r == 0 && p.found)
		r = plan_apply(e, &p);
	if (r == 0 && ret_deleted)
		*ret_deleted = p.ndels;
	plan_clear(&p);
	return r < 0 ? r : p.found;
}
