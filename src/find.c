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

struct hit {
	size_t off, len, name_off;	/* its path in hits.paths */
	uint64_t id;
	char type;
	uint8_t flags;
};

/* A directory whose path is known: paths[off, off + len). */
struct dslot {
	uint64_t id;			/* 0: empty */
	size_t off, len;
};

/* One step of a path being rebuilt, from a leaf up. */
struct up {
	uint64_t id;
	const char *name;		/* borrowed from the reader's snapshot */
	uint16_t name_len;
};

struct hits {
	struct store_reader *rd;
	struct hit *v;
	size_t n, cap;
	char *paths;			/* hits' and directories' paths, back to back */
	size_t paths_len, paths_cap;
	struct dslot *dirs;		/* open addressing, a power of two, at most half full */
	size_t ndirs, dirs_cap;
	struct up *chain;
	size_t chain_cap;
};

/* Make room for @len more bytes at the end of h->paths (which may move). */
static int paths_reserve(struct hits *h, size_t len)
{
	if (len > SIZE_MAX - h->paths_len)
		return -ENOMEM;
	return GROW(h->paths, h->paths_cap, h->paths_len + len);
}

/*
 * Append the path of the directory @dir, a slash unless it is "/", and
 * @name to h->paths; *ret is where the result is (its name at
 * ret->len - @name_len).
 */
static int paths_join(struct hits *h, const struct dslot *dir, const char *name,
		      size_t name_len, struct dslot *ret)
{
	size_t sep = dir->len > 1, off = h->paths_len;
	int r = paths_reserve(h, dir->len + sep + name_len);

	if (r < 0)
		return r;
	memcpy(h->paths + off, h->paths + dir->off, dir->len);
	if (sep)
		h->paths[off + dir->len] = '/';
	memcpy(h->paths + off + dir->len + sep, name, name_len);
	h->paths_len = off + dir->len + sep + name_len;
	*ret = (struct dslot){0, off, h->paths_len - off};
	return 0;
}

static size_t dslot_of(uint64_t id, size_t cap)
{
	return (size_t)((id * 0x9e3779b97f4a7c15u) >> 32) & (cap - 1);
}

static struct dslot *dir_find(struct hits *h, uint64_t id)
{
	if (!h->dirs_cap)
		return NULL;
	for (size_t i = dslot_of(id, h->dirs_cap);; i = (i + 1) & (h->dirs_cap - 1)) {
		if (h->dirs[i].id == id)
			return &h->dirs[i];
		if (!h->dirs[i].id)
			return NULL;
	}
}

static int dir_add(struct hits *h, uint64_t id, size_t off, size_t len)
{
	size_t i;

	if (2 * (h->ndirs + 1) > h->dirs_cap) {
		size_t cap = h->dirs_cap ? 2 * h->dirs_cap : 256;
		struct dslot *nd = calloc(cap, sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		for (size_t j = 0; j < h->dirs_cap; j++) {
			if (!h->dirs[j].id)
				continue;
			for (i = dslot_of(h->dirs[j].id, cap); nd[i].id; i = (i + 1) & (cap - 1))
				;
			nd[i] = h->dirs[j];
		}
		free(h->dirs);
		h->dirs = nd;
		h->dirs_cap = cap;
	}
	for (i = dslot_of(id, h->dirs_cap); h->dirs[i].id; i = (i + 1) & (h->dirs_cap - 1))
		;
	h->dirs[i] = (struct dslot){id, off, len};
	h->ndirs++;
	return 0;
}

/*
 * Is @n (of id n->id) what its parent's entry under its name names?  Not
 * when a rename unnamed it and a killed scan never wrote the other half:
 * then no path leads to it.
 */
static int is_named(struct hits *h, const struct node *n)
{
	struct store_child c;
	int r = store_lookup(h->rd, n->parent, n->name, n->name_len, &c);

	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : c.id == n->id;
}

/*
 * Find the path of directory @id, rebuilding it (and caching those of the
 * directories on the way) by following parents up to "/" or to one whose
 * path is known.  Returns 1 with *ret, 0 if some directory on the way is not
 * named (see is_named()), or a negative error (-EBADMSG for a missing
 * parent or a loop: the index is inconsistent).
 */
static int dir_path_of(struct hits *h, uint64_t id, struct dslot *ret)
{
	size_t depth = 0;
	struct dslot *known = NULL;
	struct node n;
	int r;

	/* Up to a known directory or "/", remembering each step. */
	while (!(known = dir_find(h, id))) {
		r = store_get_node(h->rd, id, &n);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		if (!n.parent) {
			r = paths_reserve(h, 1);
			if (r < 0)
				return r;
			h->paths[h->paths_len++] = '/';
			r = dir_add(h, id, h->paths_len - 1, 1);
			if (r < 0)
				return r;
			known = dir_find(h, id);
			break;
		}
		r = is_named(h, &n);
		if (r <= 0)
			return r;
		if (depth >= (1u << 24))
			return -EBADMSG; /* deeper than any tree: a loop */
		if (GROW(h->chain, h->chain_cap, depth + 1) < 0)
			return -ENOMEM;
		h->chain[depth++] = (struct up){id, n.name, n.name_len};
		id = n.parent;
	}
	/* Down again: each path is its parent's, a slash and its name. */
	*ret = *known;
	while (depth > 0) {
		const struct up *u = &h->chain[--depth];
		struct dslot d;

		r = paths_join(h, ret, u->name, u->name_len, &d);
		if (r == 0)
			r = dir_add(h, u->id, d.off, d.len);
		if (r < 0)
			return r;
		*ret = (struct dslot){u->id, d.off, d.len};
	}
	return 1;
}

static int add_hit(void *ctx, uint64_t id)
{
	struct hits *h = ctx;
	struct dslot dir, path;
	struct node n;
	struct hit *hit;
	int r;

	r = store_get_node(h->rd, id, &n);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	if (!n.parent)
		return 0;
	r = is_named(h, &n);
	if (r <= 0)
		return r;
	r = dir_path_of(h, n.parent, &dir);
	if (r <= 0)
		return r;
	if (GROW(h->v, h->cap, h->n + 1) < 0)
		return -ENOMEM;
	r = paths_join(h, &dir, n.name, n.name_len, &path);
	if (r < 0)
		return r;
	hit = &h->v[h->n++];
	*hit = (struct hit){
		.off = path.off,
		.len = path.len,
		.name_off = path.len - n.name_len,
		.id = id,
		.type = node_type_char(n.mode),
		.flags = n.flags,
	};
	return 0;
}

/*
 * The traversal's order: names in byte order within a directory, a
 * directory's subtree right after it.  That is byte order of whole paths
 * with '/' sorting before every byte a name can hold.
 */
static int hit_cmp(const void *a, const void *b, void *ctx)
{
	const struct hit *x = a, *y = b;
	const unsigned char *p = (const unsigned char *)ctx + x->off;
	const unsigned char *q = (const unsigned char *)ctx + y->off;
	size_t n = x->len < y->len ? x->len : y->len;

	for (size_t i = 0; i < n; i++) {
		int cp = p[i] == '/' ? 0 : p[i] + 1, cq = q[i] == '/' ? 0 : q[i] + 1;

		if (cp != cq)
			return cp - cq;
	}
	return x->len < y->len ? -1 : x->len > y->len;
}

int find_by_hash(struct store *store, const uint8_t full[16], const struct query *query,
		 unsigned type_mask, find_fn *fn, void *ctx)
{
	struct hits h = {0};
	struct finder f = {.query = query, .type_mask = type_mask, .fn = fn, .ctx = ctx};
	int r;

	r = store_reader_new(store, &h.rd);
	if (r < 0)
		return r;
	f.rd = h.rd;
	r = store_foreach_hash(h.rd, full, add_hit, &h);
	if (r == 0 && h.n) /* no hits: h.v is NULL, which qsort_r() must not get */
		qsort_r(h.v, h.n, sizeof(*h.v), hit_cmp, h.paths);
	for (size_t i = 0; r == 0 && i < h.n; i++) {
		/* visit() and the callback want a NUL-terminated path of their own. */
		r = path_reserve(&f, h.v[i].len + 1);
		if (r < 0)
			break;
		memcpy(f.path, h.paths + h.v[i].off, h.v[i].len);
		f.path[h.v[i].len] = '\0';
		r = visit(&f, h.v[i].len, h.v[i].name_off, h.v[i].id, h.v[i].type, h.v[i].flags);
	}
	free(f.path);
	free(h.v);
	free(h.paths);
	free(h.dirs);
	free(h.chain);
	store_reader_free(h.rd);
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
