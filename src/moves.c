/* SPDX-License-Identifier: MIT */
/*
 * moves.c - vanished entries by (dev, ino): a chained hash table behind one
 * mutex.  It holds only the entries that vanished from a directory that was
 * listed (a removed subtree is one entry, its top), so it stays small and an
 * uncontended lock per operation is cheap next to the statx that found them.
 * The bucket array doubles when the table is as full as it is long.
 */
#include "moves.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>

struct gone {
	struct gone *next;
	struct node n;
};

struct moves {
	pthread_mutex_t mu;
	struct gone **buckets;
	size_t nbuckets;	/* a power of two, or 0 before the first add */
	atomic_size_t count;
};

int moves_new(struct moves **ret)
{
	struct moves *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->mu, NULL);
	atomic_init(&m->count, 0);
	*ret = m;
	return 0;
}

void moves_free(struct moves *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		while (m->buckets[i]) {
			struct gone *g = m->buckets[i];

			m->buckets[i] = g->next;
			free(g);
		}
	}
	free(m->buckets);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static size_t bucket_of(uint64_t dev, uint64_t ino, size_t nbuckets)
{
	uint64_t h = (ino ^ (dev * 0x9e3779b97f4a7c15u)) * 0xff51afd7ed558ccdu;

	return (size_t)(h >> 32) & (nbuckets - 1);
}

/* Double the bucket array (with m->mu held); on -ENOMEM the old one stays. */
static int grow(struct moves *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
	struct gone **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < m->nbuckets; i++) {
		while (m->buckets[i]) {
			struct gone *g = m->buckets[i];
			size_t j = bucket_of(g->n.dev, g->n.ino, n);

			m->buckets[i] = g->next;
			g->next = b[j];
			b[j] = g;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
	return 0;
}

int moves_add(struct moves *m, const struct node *n)
{
	struct gone *g = malloc(sizeof(*g));
	size_t i;

	if (!g)
		return -ENOMEM;
	g->n = *n;
	g->n.name = NULL;
	g->n.name_len = 0;
	pthread_mutex_lock(&m->mu);
	if (atomic_load_explicit(&m->count, memory_order_relaxed) >= m->nbuckets && grow(m) < 0 &&
	    !m->nbuckets) {
		pthread_mutex_unlock(&m->mu);
		free(g);
		return -ENOMEM;
	}
	i = bucket_of(g->n.dev, g->n.ino, m->nbuckets);
	g->next = m->buckets[i];
	m->buckets[i] = g;
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
	pthread_mutex_unlock(&m->mu);
	return 0;
}

bool moves_take(struct moves *m, uint64_t dev, uint64_t ino, uint32_t fmt, struct node *ret)
{
	struct gone **pp, *g = NULL;

	if (!atomic_load_explicit(&m->count, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&m->mu);
	if (m->nbuckets) {
		for (pp = &m->buckets[bucket_of(dev, ino, m->nbuckets)]; *pp; pp = &(*pp)->next) {
			if ((*pp)->n.dev == dev && (*pp)->n.ino == ino &&
			    ((*pp)->n.mode & S_IFMT) == fmt) {
				g = *pp;
				*pp = g->next;
				atomic_fetch_sub_explicit(&m->count, 1, memory_order_relaxed);
				break;
			}
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (!g)
		return false;
	*ret = g->n;
	free(g);
	return true;
}

size_t moves_count(const struct moves *m)
{
	return atomic_load_explicit(&m->count, memory_order_relaxed);
}

int moves_drain(struct moves *m, int (*fn)(void *ctx, const struct node *n), void *ctx)
{
	int r = 0;

	for (size_t i = 0; i < m->nbuckets; i++) {
		while (m->buckets[i]) {
			struct gone *g = m->buckets[i];

			m->buckets[i] = g->next;
			atomic_fetch_sub_explicit(&m->count, 1, memory_order_relaxed);
			if (!r)
				r = fn(ctx, &g->n);
			free(g);
		}
	}
	return r;
}
