/* SPDX-License-Identifier: MIT */
/*
 * fdcache.h - a bounded, thread-safe LRU cache of open directory descriptors.
 *
 * The walker keeps a directory open after listing it so its subdirectories
 * can be opened with openat() relative to it.  The cache bounds how many stay
 * open: when full, the least recently used unpinned descriptor is closed.  A
 * pinned descriptor (in use by a thread) is never closed under it.
 */
#ifndef FSINDEX_FDCACHE_H
#define FSINDEX_FDCACHE_H

#include "util.h"

#include <stdint.h>

struct fdcache;

/** One cache slot, embedded in the caller's directory object. */
struct fdcache_entry {
	int fd;				/* -1 when not cached */
	unsigned pins;			/* users currently holding fd */
	struct fdcache_entry *prev, *next; /* LRU list of unpinned entries */
};

/** Initialise @e as "not open". */
void fdcache_entry_init(struct fdcache_entry *e);

/**
 * Create a cache holding at most @capacity (>= 1) descriptors.  *ret is the
 * caller's (fdcache_free()).  Returns 0 or -ENOMEM.
 */
int fdcache_new(unsigned capacity, struct fdcache **ret);

/** Free the cache; every entry must have been removed.  Accepts NULL. */
void fdcache_free(struct fdcache *cache);

/**
 * If @e has an open descriptor, pin it and return it (>= 0); else -1.
 * A pinned descriptor stays open until fdcache_unpin().
 */
int fdcache_pin(struct fdcache *cache, struct fdcache_entry *e);

/** Release one pin taken by fdcache_pin() or fdcache_insert(). */
void fdcache_unpin(struct fdcache *cache, struct fdcache_entry *e);

/**
 * Store the open descriptor @fd in @e (which must have none) and pin it; the
 * cache now owns @fd.  May close the least recently used unpinned descriptor
 * to stay within capacity.  If @e already got a descriptor from another
 * thread meanwhile, @fd is closed and that one is pinned instead.  Returns the
 * pinned descriptor.
 */
int fdcache_insert(struct fdcache *cache, struct fdcache_entry *e, int fd);

/** Close @e's descriptor if it has one; @e must not be pinned. */
void fdcache_remove(struct fdcache *cache, struct fdcache_entry *e);

/**
 * The process ran out of descriptors (EMFILE, ENFILE): close every idle
 * descriptor and lower the capacity to what was open less one, so the cache
 * stays within what the process can hold.  Returns how many were closed.
 */
unsigned fdcache_shrink(struct fdcache *cache);

/** Descriptors currently open in the cache. */
unsigned fdcache_open_count(struct fdcache *cache);

#endif /* FSINDEX_FDCACHE_H */
