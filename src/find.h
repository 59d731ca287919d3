/* SPDX-License-Identifier: MIT */
/*
 * find.h - walk the index (never the disk) depth-first and report the
 * entries a query matches.
 */
#ifndef FSINDEX_FIND_H
#define FSINDEX_FIND_H

#include <stddef.h>
#include <stdint.h>

struct query;
struct store;
struct store_reader;

/** One matching entry; everything is borrowed for the duration of the callback. */
struct find_entry {
	const char *path;	/* absolute, NUL-terminated */
	size_t len;
	size_t name_off;	/* where the last component starts */
	uint64_t id;
	char type;		/* node_type_char() */
	struct store_reader *reader; /* for store_get_node() of the entry */
};

/** Return 0 to go on, > 0 to stop early (returned by find_run()), < 0 on error. */
typedef int find_fn(void *ctx, const struct find_entry *entry);

/** Bit for type letter @c in a type mask (find_type_bit('f')). */
unsigned find_type_bit(char c);

/**
 * Visit every entry of @store depth-first, names in byte order within a
 * directory, and call @fn for those that @query matches and whose type is in
 * @type_mask (0: any type).  Chain nodes (a root's ancestors) are walked
 * through but never reported.  Returns 0, @fn's positive value, or a
 * negative error.
 */
int find_run(struct store *store, const struct query *query, unsigned type_mask, find_fn *fn,
	     void *ctx);

/**
 * As find_run(), but from the entry at @path down: that entry and, if it is
 * a directory, everything below it, and nothing else is read.  @path is
 * absolute and spelt as the index stores it (store_resolve_path()).
 * Returns -ENOENT when the index holds no @path.
 */
int find_run_at(struct store *store, const char *path, const struct query *query,
		unsigned type_mask, find_fn *fn, void *ctx);

/**
 * As find_run(), but only for the files whose stored full XXH3-128 is @full:
 * a lookup in the index's hash database, so the cost grows with the number
 * of such files, not with the index.  Same order as find_run().
 */
int find_by_hash(struct store *store, const uint8_t full[16], const struct query *query,
		 unsigned type_mask, find_fn *fn, void *ctx);

#endif /* FSINDEX_FIND_H */
