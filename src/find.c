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
 */
#include "find.h"

#include "node.h"
#include "query.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
	if (need <= f->path_cap)
		return 0;
	size_t cap = need * 2;
	char *np = realloc(f->path, cap);

	if (!np)
		return -ENOMEM;
	f->path = np;
	f->path_cap = cap;
	return 0;
}

static int add_kid(void *ctx, const struct store_child *c)
{
	struct level *l = ctx;
	struct kid *k;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct kid *nk = realloc(l->kids, cap * sizeof(*nk));

		if (!nk)
			return -ENOMEM;
		l->kids = nk;
		l->cap = cap;
	}
	if (l->names_len + c->name_len > l->names_cap) {
		size_t cap = (l->names_len + c->name_len) * 2 + 256;
		char *nn = realloc(l->names, cap);

		if (!nn)
			return -ENOMEM;
		l->names = nn;
		l->names_cap = cap;
	}
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
	struct level *l;

	if (f->depth == f->levels_cap) {
		size_t cap = f->levels_cap ? f->levels_cap * 2 : 32;
		struct level *nl = realloc(f->levels, cap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		memset(nl + f->levels_cap, 0, (cap - f->levels_cap) * sizeof(*nl));
		f->levels = nl;
		f->levels_cap = cap;
	}
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

int find_run(struct store *store, const struct query *query, unsigned type_mask, find_fn *fn,
	     void *ctx)
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
	r = top_traverse(&f);
	finder_destroy(&f);
	return r;
}
