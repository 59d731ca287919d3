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
 * parent ids up to "/", and the few paths found are sorted as the traversal
 * would have visited them.
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

/* ---- by content hash ------------------------------------------------ */

struct hit {
	char *path;			/* malloc'd, NUL-terminated */
	size_t len, name_off;
	uint64_t id;
	char type;
	uint8_t flags;
};

struct hits {
	struct store_reader *rd;
	struct hit *v;
	size_t n, cap;
	char *buf;			/* names from a leaf up, reversed at the end */
	size_t buf_cap;
	int error;
};

/*
 * Rebuild the path of node @leaf by following parents up to "/" into
 * h->buf; returns its length, 0 if some node on the way is not named by its
 * parent's entry (unnamed by a rename whose other half a killed scan never
 * wrote: no path leads to it), or a negative error.  A parent that is
 * missing means the index is inconsistent: -EBADMSG.
 */
static ssize_t rebuild_path(struct hits *h, const struct node *leaf)
{
	struct node n = *leaf;
	size_t len = 0;
	unsigned depth = 0;

	/* Components are written reversed, then the whole is reversed once. */
	while (n.parent) {
		size_t need = len + n.name_len + 2;
		struct store_child c;
		int r = store_lookup(h->rd, n.parent, n.name, n.name_len, &c);

		if (r == -ENOENT || (r == 0 && c.id != n.id))
			return 0;
		if (r < 0)
			return r;

		if (need > h->buf_cap) {
			char *nb = realloc(h->buf, need * 2);

			if (!nb)
				return -ENOMEM;
			h->buf = nb;
			h->buf_cap = need * 2;
		}
		for (size_t i = 0; i < n.name_len; i++)
			h->buf[len++] = n.name[n.name_len - 1 - i];
		h->buf[len++] = '/';
		/* A loop of parents would never reach "/". */
		if (++depth > (1u << 24))
			return -EBADMSG;
		r = store_get_node(h->rd, n.parent, &n);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
	}
	if (len == 0) {
		if (h->buf_cap < 2) {
			char *nb = realloc(h->buf, 16);

			if (!nb)
				return -ENOMEM;
			h->buf = nb;
			h->buf_cap = 16;
		}
		h->buf[len++] = '/';
	}
	for (size_t i = 0; i < len / 2; i++) {
		char c = h->buf[i];

		h->buf[i] = h->buf[len - 1 - i];
		h->buf[len - 1 - i] = c;
	}
	h->buf[len] = '\0';
	return (ssize_t)len;
}

static int add_hit(void *ctx, uint64_t id)
{
	struct hits *h = ctx;
	struct node n;
	struct hit *hit;
	ssize_t len;
	int r;

	r = store_get_node(h->rd, id, &n);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct hit *nv = reallocarray(h->v, cap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		h->v = nv;
		h->cap = cap;
	}
	hit = &h->v[h->n];
	hit->id = id;
	hit->type = node_type_char(n.mode);
	hit->flags = n.flags;
	len = rebuild_path(h, &n);
	if (len <= 0)
		return (int)len;
	hit->path = strndup(h->buf, (size_t)len);
	if (!hit->path)
		return -ENOMEM;
	hit->len = (size_t)len;
	hit->name_off = (size_t)len - n.name_len;
	h->n++;
	return 0;
}

/*
 * The traversal's order: names in byte order within a directory, a
 * directory's subtree right after it.  That is byte order of whole paths
 * with '/' sorting before every byte a name can hold.
 */
static int hit_cmp(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct hit *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct hit *)b)->path;

	for (;; x++, y++) {
		int cx = *x == '/' ? 1 : *x ? *x + 1 : 0;
		int cy = *y == '/' ? 1 : *y ? *y + 1 : 0;

		if (cx != cy || !cx)
			return cx - cy;
	}
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
	if (r == 0)
		qsort(h.v, h.n, sizeof(*h.v), hit_cmp);
	for (size_t i = 0; r == 0 && i < h.n; i++) {
		f.path = h.v[i].path;
		r = visit(&f, h.v[i].len, h.v[i].name_off, h.v[i].id, h.v[i].type, h.v[i].flags);
	}
	for (size_t i = 0; i < h.n; i++)
		free(h.v[i].path);
	free(h.v);
	free(h.buf);
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
	int r;

	r = store_reader_new(store, &f.rd);
	if (r < 0)
		return r;
	r = top_traverse(&f);
	finder_destroy(&f);
	return r;
}
