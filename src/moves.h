/* SPDX-License-Identifier: MIT */
/*
 * moves.h - entries that vanished from their directory during a walk, kept
 * by (dev, ino) until the walk ends, so that the same file or directory
 * found under another name takes its stored identity (node id, hashes,
 * subtree) instead of being indexed anew.  See walk.c, "Renames".
 */
#ifndef FSINDEX_MOVES_H
#define FSINDEX_MOVES_H

#include "node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct moves;

/** An empty table.  *ret is the caller's (moves_free()).  Returns 0 or -ENOMEM. */
int moves_new(struct moves **ret);

/** Free the table and whatever it still holds.  Accepts NULL. */
void moves_free(struct moves *m);

/**
 * Remember stored entry @n (its name is not kept) as vanished from its
 * directory.  Thread-safe.  Returns 0 or -ENOMEM.
 */
int moves_add(struct moves *m, const struct node *n);

/**
 * Take the vanished entry of file type (S_IFMT bits) @fmt with inode @ino on
 * @dev, if there is one: it is removed from the table and copied to *ret
 * (ret->name is NULL).  Thread-safe.
 */
bool moves_take(struct moves *m, uint64_t dev, uint64_t ino, uint32_t fmt, struct node *ret);

/** How many vanished entries the table holds (a hint: others may be adding). */
size_t moves_count(const struct moves *m);

/**
 * Remove every entry left, calling @fn for each in no particular order
 * until it returns nonzero; that value is returned.  Not thread-safe: call
 * once the walk is over.
 */
int moves_drain(struct moves *m, int (*fn)(void *ctx, const struct node *n), void *ctx);

#endif /* FSINDEX_MOVES_H */
