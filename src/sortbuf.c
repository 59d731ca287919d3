/* SPDX-License-Identifier: MIT */
/*
 * sortbuf.c - matches kept for sorting.
 *
 * Paths go back to back into one growing byte buffer (each NUL-terminated,
 * for the output functions), entries hold their offset and the sort keys,
 * and nodes, only when the output needs them, go into a parallel array.
 * Offsets, not pointers, since the buffers move as they grow.  One qsort_r()
 * at the end: O(n log n) over entries of a few dozen bytes.
 */
#include "sortbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sb_ent {
	size_t off, len, name_off;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	size_t node;		/* index into sb->nodes when kept */
};

struct sortbuf {
	enum sortbuf_key key;
	bool reverse, keep_nodes;
	struct sb_ent *v;
	size_t n, cap;
	char *paths;
	size_t paths_len, paths_cap;
	struct node *nodes;
	size_t nodes_cap;
	struct node out;	/* sortbuf_get()'s node, its name pointed at the path */
};

int sortbuf_parse_key(const char *s, enum sortbuf_key *ret)
{
	static const char *const names[] = { "path", "size", "mtime" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*ret = (enum sortbuf_key)i;
			return 0;
		}
	return -EINVAL;
}

int sortbuf_new(enum sortbuf_key key, bool reverse, bool keep_nodes, struct sortbuf **ret)
{
	struct sortbuf *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return -ENOMEM;
	sb->key = key;
	sb->reverse = reverse;
	sb->keep_nodes = keep_nodes;
	*ret = sb;
	return 0;
}

void sortbuf_free(struct sortbuf *sb)
{
	if (!sb)
		return;
	free(sb->v);
	free(sb->paths);
	free(sb->nodes);
	free(sb);
}

bool sortbuf_key_needs_node(enum sortbuf_key key)
{
	return key != SORTBUF_PATH;
}

int sortbuf_add(struct sortbuf *sb, const char *path, size_t len, size_t name_off,
		const struct node *n)
{
	struct sb_ent *e;

	if (len >= SIZE_MAX - sb->paths_len ||
	    GROW(sb->paths, sb->paths_cap, sb->paths_len + len + 1) < 0 ||
	    GROW(sb->v, sb->cap, sb->n + 1) < 0 ||
	    (sb->keep_nodes && GROW(sb->nodes, sb->nodes_cap, sb->n + 1) < 0))
		return -ENOMEM;
	e = &sb->v[sb->n];
	*e = (struct sb_ent){ .off = sb->paths_len, .len = len, .name_off = name_off,
			      .node = sb->n };
	if (sortbuf_key_needs_node(sb->key) || sb->keep_nodes) {
		e->size = n->size;
		e->mtime_sec = n->mtime_sec;
		e->mtime_nsec = n->mtime_nsec;
	}
	if (sb->keep_nodes) {
		sb->nodes[sb->n] = *n;
		sb->nodes[sb->n].name = NULL;	/* borrowed from the index: gone by output */
	}
	memcpy(sb->paths + sb->paths_len, path, len);
	sb->paths[sb->paths_len + len] = '\0';
	sb->paths_len += len + 1;
	sb->n++;
	return 0;
}

static int path_cmp(const struct sb_ent *x, const struct sb_ent *y, const char *paths)
{
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(paths + x->off, paths + y->off, n);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int ent_cmp(const void *a, const void *b, void *ctx)
{
	const struct sortbuf *sb = ctx;
	const struct sb_ent *x = a, *y = b;
	int c = 0;

	if (sb->key == SORTBUF_SIZE && x->size != y->size)
		c = x->size < y->size ? -1 : 1;
	else if (sb->key == SORTBUF_MTIME && x->mtime_sec != y->mtime_sec)
		c = x->mtime_sec < y->mtime_sec ? -1 : 1;
	else if (sb->key == SORTBUF_MTIME && x->mtime_nsec != y->mtime_nsec)
		c = x->mtime_nsec < y->mtime_nsec ? -1 : 1;
	if (!c)
		c = path_cmp(x, y, sb->paths);
	return sb->reverse ? -c : c;
}

void sortbuf_sort(struct sortbuf *sb)
{
	if (sb->n) /* sb->v may be NULL: qsort_r() must not get it */
		qsort_r(sb->v, sb->n, sizeof(*sb->v), ent_cmp, sb);
}

size_t sortbuf_count(const struct sortbuf *sb)
{
	return sb->n;
}

void sortbuf_get(struct sortbuf *sb, size_t i, struct sortbuf_entry *ret)
{
	const struct sb_ent *e = &sb->v[i];

	ret->path = sb->paths + e->off;
	ret->len = e->len;
	ret->name_off = e->name_off;
	ret->node = NULL;
	if (sb->keep_nodes) {
		sb->out = sb->nodes[e->node];
		sb->out.name = ret->path + e->name_off;
		sb->out.name_len = (uint16_t)(e->len - e->name_off);
		ret->node = &sb->out;
	}
}
