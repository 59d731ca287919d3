/* SPDX-License-Identifier: MIT */
/*
 * find.c - depth-first traversal of the index.
 *
 * The `child` database is keyed by (parent id, name), so one cursor range per
 * directory lists its entries sorted by name.  The traversal is iterative:
 * each level of the stack holds the children of one directory (ids, types
 * and names copied out of LMDB) and the length of the path up to it, so a
 * 10,000-deep chain needs no C recursion and the path buffer simply grows.
 * All of it runs in one read transaction: a consistent snapshot, however
 * long the writer keeps committing meanwhile.
 *
 * A query by content hash does not traverse: the `hash` database lists the
 * ids of the files with that hash, each id's path is rebuilt by following
 * parent ids up to "/" (directories' paths are kept, so each is rebuilt
 * once), and the paths found are sorted as the traversal would have
 * visited them.
 */
#include "find.h"

#include "find-names.h"
#include "find-par.h"
#include "node.h"
#include "nodepaths.h"
#include "query.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct kid {
	uint64_t id;
	size_t name_off;		/* into the level's name buffer */
	uint16_t name_len;
	char type;
	uint8_t flags;
};

struct level {
	struct kid *kids;
	size_t n, cap, next;
	char *names;
	size_t names_len, names_cap;
	size_t path_len;		/* path length of this directory */
};

struct finder {
	struct store_reader *rd;
	const struct query *query;
	unsigned type_mask;
	find_fn *fn;
	void *ctx;
	char *path;
	size_t path_cap;
	struct level *levels;
	size_t depth, levels_cap;
};

unsigned find_type_bit(char c)
{
	static const char types[] = "fdlpscb?";
	const char *p = c ? strchr(types, c) : NULL;

	return p ? 1u << (p - types) : 0;
}

static int path_reserve(struct finder *f, size_t need)
{
	return GROW(f->path, f->path_cap, need);
}

static int add_kid(void *ctx, const struct store_child *c)
{
	struct level *l = ctx;
	struct kid *k;

	if (GROW(l->kids, l->cap, l->n + 1) < 0 ||
	    GROW(l->names, l->names_cap, l->names_len + c->name_len) < 0)
		return -ENOMEM;
	k = &l->kids[l->n++];
	k->id = c->id;
	k->type = c->type;
	k->flags = c->flags;
	k->name_len = c->name_len;
	k->name_off = l->names_len;
	memcpy(l->names + l->names_len, c->name, c->name_len);
	l->names_len += c->name_len;
	return 0;
}

/* Push a level holding the children of directory @id, whose path is f->path[0..path_len). */
static int push_level(struct finder *f, uint64_t id, size_t path_len)
{
	size_t old_cap = f->levels_cap;
	struct level *l;

	if (GROW(f->levels, f->levels_cap, f->depth + 1) < 0)
		return -ENOMEM;
	/* New levels own no arrays yet (finder_destroy() frees every level's). */
	memset(f->levels + old_cap, 0, (f->levels_cap - old_cap) * sizeof(*f->levels));
	l = &f->levels[f->depth++];
	l->n = l->next = l->names_len = 0;
	l->path_len = path_len;
	return store_foreach_child(f->rd, id, add_kid, l);
}

static int visit(struct finder *f, size_t len, size_t name_off, uint64_t id, char type,
		 uint8_t flags)
{
	struct find_entry e;

	if (flags & NODE_F_CHAIN)
		return 0;
	if (f->type_mask && !(f->type_mask & find_type_bit(type)))
		return 0;
	if (f->query && !query_match(f->query, f->path, len, name_off))
		return 0;
	e.path = f->path;
	e.len = len;
	e.name_off = name_off;
	e.id = id;
	e.type = type;
	e.reader = f->rd;
	return f->fn(f->ctx, &e);
}

/* Visit node @id at @path, then everything below it. */
static int traverse(struct finder *f, uint64_t id, const char *path, char type, uint8_t flags)
{
	size_t plen = strlen(path);
	int r;

	r = path_reserve(f, plen + 64);
	if (r < 0)
		return r;
	memcpy(f->path, path, plen + 1);
	r = visit(f, plen, plen == 1 ? 1 : (size_t)(strrchr(path, '/') - path) + 1, id, type,
		  flags);
	if (r != 0 || type != 'd')
		return r;
	/* Children of "/" start with "/", not "//". */
	r = push_level(f, id, plen == 1 ? 0 : plen);

	while (r == 0 && f->depth > 0) {
		struct level *l = &f->levels[f->depth - 1];
		struct kid *k;
		size_t len;

		if (l->next == l->n) {
			f->depth--;
			continue;
		}
		k = &l->kids[l->next++];
		len = l->path_len + 1 + k->name_len;
		r = path_reserve(f, len + 1);
		if (r < 0)
			break;
		l = &f->levels[f->depth - 1];
		f->path[l->path_len] = '/';
		memcpy(f->path + l->path_len + 1, l->names + k->name_off, k->name_len);
		f->path[len] = '\0';
		r = visit(f, len, l->path_len + 1, k->id, k->type, k->flags);
		if (r == 0 && k->type == 'd')
			r = push_level(f, k->id, len);
	}
	return r;
}

static int top_traverse(struct finder *f)
{
	struct store_child top;
	int r;

	r = store_lookup(f->rd, 0, "", 0, &top);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return traverse(f, top.id, "/", top.type, top.flags);
}

/* The subtree at @path: its node, found through `child`, is where the traversal starts. */
static int at_traverse(struct finder *f, const char *path)
{
	char *canon = NULL;
	struct node n;
	uint64_t id;
	int r;

	r = store_resolve_path(f->rd, path, &id);
	if (r == 0)
		r = store_get_node(f->rd, id, &n);
	/* Spelt as the traversal spells it: no repeated or trailing slash. */
	if (r == 0)
		r = store_node_path_alloc(f->rd, id, &canon);
	if (r >= 0)
		r = traverse(f, id, canon, node_type_char(n.mode), n.flags & NODE_F_CHILD_MASK);
	free(canon);
	return r;
}

static void finder_destroy(struct finder *f)
{
	for (size_t i = 0; i < f->levels_cap; i++) {
		free(f->levels[i].kids);
		free(f->levels[i].names);
	}
	free(f->levels);
	free(f->path);
	store_reader_free(f->rd);
}

/* ---- by content hash ------------------------------------------------ */

struct hits {
	struct nodepaths np;		/* its reader is the pass's */
	struct nodepaths_hit *v;
	size_t n, cap;
};

static int add_hit(void *ctx, uint64_t id)
{
	struct hits *h = ctx;
	struct nodepath dir, path;
	struct node n;
	int r;

	r = store_get_node(h->np.rd, id, &n);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	if (!n.parent)
		return 0;
	r = nodepaths_is_named(&h->np, &n);
	if (r <= 0)
		return r;
	r = nodepaths_dir(&h->np, n.parent, &dir);
	if (r <= 0)
		return r;
	if (GROW(h->v, h->cap, h->n + 1) < 0)
		return -ENOMEM;
	r = nodepaths_join(&h->np, &dir, n.name, n.name_len, &path);
	if (r < 0)
		return r;
	h->v[h->n++] = (struct nodepaths_hit){
		.off = path.off,
		.len = path.len,
		.name_off = path.len - n.name_len,
		.id = id,
		.type = node_type_char(n.mode),
		.flags = n.flags,
	};
	return 0;
}

int find_by_hash(struct store *store, const uint8_t full[16], const struct query *query,
		 unsigned type_mask, find_fn *fn, void *ctx)
{
	struct hits h = {0};
	struct finder f = {.query = query, .type_mask = type_mask, .fn = fn, .ctx = ctx};
	int r;

	r = store_reader_new(store, &h.np.rd);
	if (r < 0)
		return r;
	f.rd = h.np.rd;
	r = store_foreach_hash(h.np.rd, full, add_hit, &h);
	if (r == 0 && h.n) /* no hits: h.v is NULL, which qsort_r() must not get */
		qsort_r(h.v, h.n, sizeof(*h.v), nodepaths_hit_cmp, h.np.buf);
	for (size_t i = 0; r == 0 && i < h.n; i++) {
		/* visit() and the callback want a NUL-terminated path of their own. */
		r = path_reserve(&f, h.v[i].len + 1);
		if (r < 0)
			break;
		memcpy(f.path, h.np.buf + h.v[i].off, h.v[i].len);
		f.path[h.v[i].len] = '\0';
		r = visit(&f, h.v[i].len, h.v[i].name_off, h.v[i].id, h.v[i].type, h.v[i].flags);
	}
	free(f.path);
	free(h.v);
	nodepaths_destroy(&h.np);
	store_reader_free(h.np.rd);
	return r;
}

int find_run(struct store *store, const struct query *query, unsigned type_mask, find_fn *fn,
	     void *ctx)
{
	struct finder f = {
		.query = query,
		.type_mask = type_mask,
		.fn = fn,
		.ctx = ctx,
	};
	bool used;
	int r;

	/* A literal narrows by the name index, when there is one (find-names.c). */
	r = find_names_run(store, query, type_mask, fn, ctx, &used);
	if (r < 0 || used)
		return r;
	/* Else the pass, over several workers when it is worth it (find-par.c). */
	r = find_par_run(store, query, type_mask, fn, ctx, &used);
	if (r < 0 || used)
		return r;
	r = store_reader_new(store, &f.rd);
	if (r < 0)
		return r;
	r = top_traverse(&f);
	finder_destroy(&f);
	return r;
}

int find_run_at(struct store *store, const char *path, const struct query *query,
		unsigned type_mask, find_fn *fn, void *ctx)
{
	struct finder f = {
		.query = query,
		.type_mask = type_mask,
		.fn = fn,
		.ctx = ctx,
	};
	int r;

	r = store_reader_new(store, &f.rd);
	if (r < 0)
		return r;
	r = at_traverse(&f, path);
	finder_destroy(&f);
	return r;
}
