/* SPDX-License-Identifier: MIT */
/*
 * pathset.h - a set of paths, kept as their XXH3-128 digests (16 bytes a
 * path, whatever its length): what `find` printed from one index, so that
 * the next one prints each path once.  Two paths share a digest with a
 * chance of about 2^-128 per pair.
 */
#ifndef FSINDEX_PATHSET_H
#define FSINDEX_PATHSET_H

#include <stdbool.h>
#include <stddef.h>

struct pathset;

/** An empty set; *ret is the caller's (pathset_free()).  0 or -ENOMEM. */
int pathset_new(struct pathset **ret);

/** Accepts NULL. */
void pathset_free(struct pathset *set);

/** Add @path (@len bytes): 1 if it was new, 0 if it was there, -ENOMEM. */
int pathset_add(struct pathset *set, const char *path, size_t len);

/** Is @path in the set? */
bool pathset_has(const struct pathset *set, const char *path, size_t len);

#endif /* FSINDEX_PATHSET_H */
