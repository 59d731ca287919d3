/* SPDX-License-Identifier: MIT */
/*
 * pathset.c - paths by digest, in an open-addressing table kept at most
 * half full (pathset.h).
 */
#include "pathset.h"

#include "hash.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pathset {
	struct hash128 *slots;	/* an all-zero slot is empty; a zero digest is kept aside */
	size_t cap, n;		/* cap: a power of two */
	bool has_zero;
};

static const struct hash128 zero;

int pathset_new(struct pathset **ret)
{
	struct pathset *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

void pathset_free(struct pathset *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

static size_t slot_of(const struct hash128 *h, size_t cap)
{
	uint64_t x;

	memcpy(&x, h->b, sizeof(x));
	return (size_t)x & (cap - 1);
}

/* The slot holding @h, or the empty one where it would go. */
static struct hash128 *probe(struct hash128 *slots, size_t cap, const struct hash128 *h)
{
	size_t i = slot_of(h, cap);

	while (memcmp(&slots[i], &zero, sizeof(zero)) != 0 &&
	       memcmp(&slots[i], h, sizeof(*h)) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static int grow(struct pathset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024;
	struct hash128 *nslots;

	if (ncap > SIZE_MAX / 2 / sizeof(*nslots))
		return -ENOMEM;
	nslots = calloc(ncap, sizeof(*nslots));
	if (!nslots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (memcmp(&s->slots[i], &zero, sizeof(zero)) != 0)
			*probe(nslots, ncap, &s->slots[i]) = s->slots[i];
	free(s->slots);
	s->slots = nslots;
	s->cap = ncap;
	return 0;
}

int pathset_add(struct pathset *s, const char *path, size_t len)
{
	struct hash128 h, *slot;

	hash_buffer(path, len, &h);
	if (memcmp(&h, &zero, sizeof(zero)) == 0) {
		bool was = s->has_zero;

		s->has_zero = true;
		return !was;
	}
	if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
		return -ENOMEM;
	slot = probe(s->slots, s->cap, &h);
	if (memcmp(slot, &zero, sizeof(zero)) != 0)
		return 0;
	*slot = h;
	s->n++;
	return 1;
}

bool pathset_has(const struct pathset *s, const char *path, size_t len)
{
	struct hash128 h;

	hash_buffer(path, len, &h);
	if (memcmp(&h, &zero, sizeof(zero)) == 0)
		return s->has_zero;
	return s->cap && memcmp(probe(s->slots, s->cap, &h), &zero, sizeof(zero)) != 0;
}
