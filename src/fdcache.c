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
 * getdents64() calls it brackets.  (bfs's bftw.c keeps a similar cache.)
 */
#include "fdcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

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

/* Close idle descriptors from the cold end until one more fits. */
static void make_room(struct fdcache *c)
{
	while (c->open >= c->capacity && c->lru.prev != &c->lru) {
		struct fdcache_entry *victim = c->lru.prev;

		lru_unlink(victim);
		close(victim->fd);
		victim->fd = -1;
		c->open--;
	}
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
	pthread_mutex_lock(&c->lock);
	if (e->fd >= 0) {
		/* Another thread opened the same directory first: use its fd. */
		close(fd);
		if (e->pins++ == 0)
			lru_unlink(e);
		fd = e->fd;
	} else {
		make_room(c);
		e->fd = fd;
		e->pins = 1;
		c->open++;
	}
	pthread_mutex_unlock(&c->lock);
	return fd;
}

void fdcache_remove(struct fdcache *c, struct fdcache_entry *e)
{
	pthread_mutex_lock(&c->lock);
	if (e->fd >= 0) {
		if (e->pins == 0)
			lru_unlink(e);
		close(e->fd);
		e->fd = -1;
		c->open--;
	}
	pthread_mutex_unlock(&c->lock);
}

unsigned fdcache_open_count(struct fdcache *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->open;
	pthread_mutex_unlock(&c->lock);
	return n;
}
