/* SPDX-License-Identifier: MIT */
/*
 * pathmap.c - byte strings to 64-bit values, FNV-1a over open addressing
 * (pathmap.h).  Entries are never removed: a map lives as long as one batch
 * of work and is destroyed whole.
 */
#include "pathmap.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_key(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len--)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

void pathmap_init(struct pathmap *m)
{
	*m = (struct pathmap){ 0 };
}

void pathmap_destroy(struct pathmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].key);
	free(m->v);
	free(m->slots);
	pathmap_init(m);
}

static void slot_put(struct pathmap *m, size_t idx)
{
	size_t mask = m->nslots - 1, i;

	for (i = hash_key(m->v[idx].key, m->v[idx].len) & mask; m->slots[i]; i = (i + 1) & mask)
		;
	m->slots[i] = (uint32_t)idx + 1;
}

/* Keep the table at most half full. */
static int make_room(struct pathmap *m)
{
	size_t n = m->nslots ? m->nslots : 64;
	uint32_t *s;

	if ((m->n + 1) * 2 <= m->nslots)
		return 0;
	if (m->n + 1 > UINT32_MAX - 1)
		return -ENOMEM;
	while (n < (m->n + 1) * 2)
		n *= 2;
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	free(m->slots);
	m->slots = s;
	m->nslots = n;
	for (size_t i = 0; i < m->n; i++)
		slot_put(m, i);
	return 0;
}

uint64_t *pathmap_get(const struct pathmap *m, const char *key, size_t len)
{
	size_t mask = m->nslots - 1, i;

	if (!m->nslots)
		return NULL;
	for (i = hash_key(key, len) & mask; m->slots[i]; i = (i + 1) & mask) {
		struct pathmap_entry *e = &m->v[m->slots[i] - 1];

		if (e->len == len && memcmp(e->key, key, len) == 0)
			return &e->val;
	}
	return NULL;
}

uint64_t *pathmap_put(struct pathmap *m, const char *key, size_t len, uint64_t val,
		      bool *ret_added)
{
	uint64_t *old = pathmap_get(m, key, len);
	char *copy;

	if (ret_added)
		*ret_added = !old;
	if (old)
		return old;
	if (GROW(m->v, m->cap, m->n + 1) < 0 || make_room(m) < 0)
		return NULL;
	copy = malloc(len + 1);
	if (!copy)
		return NULL;
	memcpy(copy, key, len);
	copy[len] = '\0';
	m->v[m->n] = (struct pathmap_entry){ .key = copy, .len = len, .val = val };
	slot_put(m, m->n);
	return &m->v[m->n++].val;
}

struct pathmap_entry *pathmap_ancestor(const struct pathmap *m, const char *path, size_t len,
				       bool (*pick)(uint64_t val))
{
	uint64_t *v;

	while (len > 1) {
		while (len > 0 && path[len - 1] != '/')
			len--;
		if (len == 0)
			return NULL;
		if (len > 1)
			len--;	/* "/a/b" -> "/a"; "/a" -> "/" */
		v = pathmap_get(m, path, len);
		if (v && (!pick || pick(*v)))
			return container_of(v, struct pathmap_entry, val);
	}
	return NULL;
}
