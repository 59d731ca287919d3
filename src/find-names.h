/* SPDX-License-Identifier: MIT */
/*
 * find-names.h - answering a find from the name index (store.h's `gram`)
 * instead of a pass over every entry.
 */
#ifndef FSINDEX_FIND_NAMES_H
#define FSINDEX_FIND_NAMES_H

#include "find.h"

#include <stdbool.h>

/**
 * As find_run(), same entries in the same order, but visiting only the
 * candidates the name index gives for a literal of @query (and, unless
 * QUERY_NAME, the subtrees of candidate directories).  When that is not
 * possible or not worth it (no name index, no literal of 3 bytes within one
 * path component, more candidates than a pass would cost), returns 0 with
 * *ret_used false, having called nothing: the caller does the full pass.
 * Otherwise *ret_used is true and the return is find_run()'s.
 * FSINDEX_DEBUG_NAMEINDEX, a list of words: "off" never uses the index,
 * "force" uses it however many the candidates, "trace" logs at notice level
 * which literal chose how many candidates.
 */
int find_names_run(struct store *store, const struct query *query, unsigned type_mask,
		   find_fn *fn, void *ctx, bool *ret_used);

/**
 * Visit everything below directory @id, whose path is @path (@len bytes),
 * as find_run() would, with @rd (borrowed: its snapshot) and @query (may be
 * NULL), calling @fn for each match.  For the parallel pass (find-par.c).
 * Returns 0, @fn's positive value or a negative error.
 */
int find_names_walk(struct store_reader *rd, const struct query *query, unsigned type_mask,
		    uint64_t id, const char *path, size_t len, find_fn *fn, void *ctx);

#endif /* FSINDEX_FIND_NAMES_H */
