/* SPDX-License-Identifier: MIT */
/*
 * pathmap.h - a map from byte strings (directory paths, or any key) to a
 * 64-bit value, by hash: the daemon's queue of directories to rescan keeps
 * one entry per directory in it, and a rescan remembers what its paths
 * resolved to, so that a thousand paths under one deleted directory cost
 * one look-up of each ancestor, not one each.
 */
#ifndef FSINDEX_PATHMAP_H
#define FSINDEX_PATHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pathmap_entry {
	char *key;		/* NUL-terminated copy (keys may hold NULs too: see len) */
	size_t len;
	uint64_t val;
};

/** Storage the caller provides; zero it (or pathmap_init()) before use. */
struct pathmap {
	struct pathmap_entry *v;	/* in the order first put */
	size_t n, cap;
	uint32_t *slots;		/* open addressing over v: index + 1, 0 empty */
	size_t nslots;
};

/** An empty map in @m. */
void pathmap_init(struct pathmap *m);

/** Free what @m holds and leave it empty.  Accepts a zeroed map. */
void pathmap_destroy(struct pathmap *m);

/** The value of @key (@len bytes) in @m, or NULL: borrowed until the next put. */
uint64_t *pathmap_get(const struct pathmap *m, const char *key, size_t len);

/**
 * The value of @key (@len bytes, copied), added with value @val when it
 * was not there (*@ret_added is then true; may be NULL).  Borrowed until
 * the next put.  NULL when out of memory (nothing added).
 */
uint64_t *pathmap_put(struct pathmap *m, const char *key, size_t len, uint64_t val,
		      bool *ret_added);

/**
 * The longest strict ancestor of absolute path @path (@len bytes) that is a
 * key of @m whose value @pick accepts (NULL: any), up to "/" ("/a/b" has
 * "/a" and "/"), or NULL.
 */
struct pathmap_entry *pathmap_ancestor(const struct pathmap *m, const char *path, size_t len,
				       bool (*pick)(uint64_t val));

#endif /* FSINDEX_PATHMAP_H */
