/* SPDX-License-Identifier: MIT */
/*
 * nodepaths.c - paths of index nodes rebuilt from their parents, cached per
 * directory (nodepaths.h).
 */
#include "nodepaths.h"

#include "node.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void nodepaths_destroy(struct nodepaths *np)
{
	free(np->buf);
	free(np->dirs);
	free(np->chain);
	np->buf = NULL;
	np->dirs = NULL;
	np->chain = NULL;
}

/* Make room for @len more bytes at the end of np->buf (which may move). */
static int reserve(struct nodepaths *np, size_t len)
{
	if (len > SIZE_MAX - np->len)
		return -ENOMEM;
	return GROW(np->buf, np->cap, np->len + len);
}

int nodepaths_join(struct nodepaths *np, const struct nodepath *dir, const char *name,
		   size_t name_len, struct nodepath *ret)
{
	size_t sep = dir->len > 1, off = np->len;
	int r = reserve(np, dir->len + sep + name_len);

	if (r < 0)
		return r;
	memcpy(np->buf + off, np->buf + dir->off, dir->len);
	if (sep)
		np->buf[off + dir->len] = '/';
	memcpy(np->buf + off + dir->len + sep, name, name_len);
	np->len = off + dir->len + sep + name_len;
	*ret = (struct nodepath){0, off, np->len - off, dir->covered};
	return 0;
}

static size_t slot_of(uint64_t id, size_t cap)
{
	return (size_t)((id * 0x9e3779b97f4a7c15u) >> 32) & (cap - 1);
}

struct nodepath *nodepaths_find(struct nodepaths *np, uint64_t id)
{
	if (!np->dirs_cap)
		return NULL;
	for (size_t i = slot_of(id, np->dirs_cap);; i = (i + 1) & (np->dirs_cap - 1)) {
		if (np->dirs[i].id == id)
			return &np->dirs[i];
		if (!np->dirs[i].id)
			return NULL;
	}
}

int nodepaths_add(struct nodepaths *np, uint64_t id, size_t off, size_t len, bool covered)
{
	size_t i;

	if (2 * (np->ndirs + 1) > np->dirs_cap) {
		size_t cap = np->dirs_cap ? 2 * np->dirs_cap : 256;
		struct nodepath *nd = calloc(cap, sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		for (size_t j = 0; j < np->dirs_cap; j++) {
			if (!np->dirs[j].id)
				continue;
			for (i = slot_of(np->dirs[j].id, cap); nd[i].id; i = (i + 1) & (cap - 1))
				;
			nd[i] = np->dirs[j];
		}
		free(np->dirs);
		np->dirs = nd;
		np->dirs_cap = cap;
	}
	for (i = slot_of(id, np->dirs_cap); np->dirs[i].id; i = (i + 1) & (np->dirs_cap - 1))
		;
	np->dirs[i] = (struct nodepath){id, off, len, covered};
	np->ndirs++;
	return 0;
}

int nodepaths_is_named(struct nodepaths *np, const struct node *n)
{
	struct store_child c;
	int r = store_lookup(np->rd, n->parent, n->name, n->name_len, &c);

	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : c.id == n->id;
}

int nodepaths_dir(struct nodepaths *np, uint64_t id, struct nodepath *ret)
{
	size_t depth = 0;
	struct nodepath *known;
	struct node n;
	int r;

	/* Up to a known directory or "/", remembering each step. */
	while (!(known = nodepaths_find(np, id))) {
		r = store_get_node(np->rd, id, &n);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		if (!n.parent) {
			r = reserve(np, 1);
			if (r < 0)
				return r;
			np->buf[np->len++] = '/';
			r = nodepaths_add(np, id, np->len - 1, 1, false);
			if (r < 0)
				return r;
			known = nodepaths_find(np, id);
			break;
		}
		r = nodepaths_is_named(np, &n);
		if (r <= 0)
			return r;
		if (depth >= (1u << 24))
			return -EBADMSG; /* deeper than any tree: a loop */
		if (GROW(np->chain, np->chain_cap, depth + 1) < 0)
			return -ENOMEM;
		np->chain[depth++] = (struct nodepaths_up){id, n.name, n.name_len};
		id = n.parent;
	}
	/* Down again: each path is its parent's, a slash and its name. */
	*ret = *known;
	while (depth > 0) {
		const struct nodepaths_up *u = &np->chain[--depth];
		struct nodepath d;

		r = nodepaths_join(np, ret, u->name, u->name_len, &d);
		if (r == 0)
			r = nodepaths_add(np, u->id, d.off, d.len, d.covered);
		if (r < 0)
			return r;
		*ret = (struct nodepath){u->id, d.off, d.len, d.covered};
	}
	return 1;
}

int nodepaths_hit_cmp(const void *a, const void *b, void *buf)
{
	const struct nodepaths_hit *x = a, *y = b;
	const unsigned char *p = (const unsigned char *)buf + x->off;
	const unsigned char *q = (const unsigned char *)buf + y->off;
	size_t n = x->len < y->len ? x->len : y->len, i = 0;

	/* Paths share long prefixes: skip the equal part 8 bytes at a time. */
	for (uint64_t u, v; i + 8 <= n; i += 8) {
		memcpy(&u, p + i, 8);
		memcpy(&v, q + i, 8);
		if (u != v)
			break;
	}
	for (; i < n; i++) {
		int cp = p[i] == '/' ? 0 : p[i] + 1, cq = q[i] == '/' ? 0 : q[i] + 1;

		if (cp != cq)
			return cp - cq;
	}
	return x->len < y->len ? -1 : x->len > y->len;
}
