/* SPDX-License-Identifier: MIT */
/*
 * fdcache.c - bounded LRU cache of directory descriptors.
 *
 * Every directory the walker knows embeds a struct fdcache_entry.  An entry
 * with fd >= 0 is either pinned (pins > 0: some thread is using the fd, it is
 * on no list) or idle (on the LRU list, most recent at the head).  When the
 * number of open descriptors would exceed the capacity, the idle entry at the
 * tail is closed.  Pinned descriptors may push the count past the capacity
 * for a moment; that is bounded by the number of workers times the few
 * descriptors each holds at once, never by the size of the tree.
 *
 * One mutex guards everything: an operation is a few pointer moves, and with
 * a handful of workers the lock is uncontended next to the openat() and
 * getdents64() calls it brackets, as long as no system call is made under
 * it: descriptors are closed after the lock is dropped.  (bfs's bftw.c keeps
 * a similar cache.)
 */
#include "fdcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* Most descriptors one insert evicts; more than one only after pins overshot. */
#define EVICT_BATCH 8

struct fdcache {
	pthread_mutex_t lock;
	unsigned capacity;
	unsigned open;			/* descriptors held by entries */
	struct fdcache_entry lru;	/* list head: lru.next is most recent */
};

void fdcache_entry_init(struct fdcache_entry *e)
{
	e->fd = -1;
	e->pins = 0;
	e->prev = e->next = NULL;
}

int fdcache_new(unsigned capacity, struct fdcache **ret)
{
	struct fdcache *c;

	if (capacity < 1)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->capacity = capacity;
	c->lru.next = c->lru.prev = &c->lru;
	*ret = c;
	return 0;
}

void fdcache_free(struct fdcache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void lru_unlink(struct fdcache_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct fdcache *c, struct fdcache_entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

/*
 * Evict idle descriptors from the cold end until one more fits (at most
 * EVICT_BATCH); their fds go to @fds, to be closed once the lock is dropped
 * (a close() under the lock would stall every other worker).
 */
static void make_room(struct fdcache *c, int *fds, unsigned *nfds)
{
	*nfds = 0;
	while (c->open >= c->capacity && c->lru.prev != &c->lru && *nfds < EVICT_BATCH) {
		struct fdcache_entry *victim = c->lru.prev;

		lru_unlink(victim);
		fds[(*nfds)++] = victim->fd;
		victim->fd = -1;
		c->open--;
	}
}

static void close_all(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int fdcache_pin(struct fdcache *c, struct fdcache_entry *e)
{
	int fd;

	pthread_mutex_lock(&c->lock);
	fd = e->fd;
	if (fd >= 0 && e->pins++ == 0)
		lru_unlink(e);
	pthread_mutex_unlock(&c->lock);
	return fd;
}

void fdcache_unpin(struct fdcache *c, struct fdcache_entry *e)
{
	pthread_mutex_lock(&c->lock);
	if (--e->pins == 0)
		lru_push(c, e);
	pthread_mutex_unlock(&c->lock);
}

int fdcache_insert(struct fdcache *c, struct fdcache_entry *e, int fd)
{
	int evicted[EVICT_BATCH];
	unsigned n = 0;
	int dup = -1;

	pthread_mutex_lock(&c->lock);
	if (e->fd >= 0) {
		/* Another thread opened the same directory first: use its fd. */
		dup = fd;
		if (e->pins++ == 0)
			lru_unlink(e);
		fd = e->fd;
	} else {
		make_room(c, evicted, &n);
		e->fd = fd;
		e->pins = 1;
		c->open++;
	}
	pthread_mutex_unlock(&c->lock);
	close_all(evicted, n);
	if (dup >= 0)
		close(dup);
	return fd;
}

void fdcache_remove(struct fdcache *c, struct fdcache_entry *e)
{
	int fd;

	pthread_mutex_lock(&c->lock);
	fd = e->fd;
	if (fd >= 0) {
		if (e->pins == 0)
			lru_unlink(e);
		e->fd = -1;
		c->open--;
	}
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		close(fd);
}

unsigned fdcache_shrink(struct fdcache *c)
{
	int evicted[EVICT_BATCH];
	unsigned n, total = 0;

	pthread_mutex_lock(&c->lock);
	if (c->open > 1 && c->open - 1 < c->capacity)
		c->capacity = c->open - 1;
	pthread_mutex_unlock(&c->lock);
	/* In batches, each closed with the lock dropped; rare enough not to matter. */
	do {
		n = 0;
		pthread_mutex_lock(&c->lock);
		while (c->lru.prev != &c->lru && n < EVICT_BATCH) {
			struct fdcache_entry *victim = c->lru.prev;

			lru_unlink(victim);
			evicted[n++] = victim->fd;
			victim->fd = -1;
			c->open--;
		}
		pthread_mutex_unlock(&c->lock);
		close_all(evicted, n);
		total += n;
	} while (n == EVICT_BATCH);
	return total;
}

unsigned fdcache_open_count(struct fdcache *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->open;
	pthread_mutex_unlock(&c->lock);
	return n;
}
