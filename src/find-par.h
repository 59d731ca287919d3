/* SPDX-License-Identifier: MIT */
/*
 * find-par.h - the full pass of a find, shared out over a task pool.
 */
#ifndef FSINDEX_FIND_PAR_H
#define FSINDEX_FIND_PAR_H

#include "find.h"

#include <stdbool.h>

/**
 * As find_run()'s full pass, same entries in the same order, with the
 * matching of subtrees spread over one worker per CPU (at most 8).  Not for
 * a query without patterns, a small index (under 50,000 entries), fewer
 * than 4 CPUs, or FSINDEX_DEBUG_PARALLEL=off ("force" uses it for any index
 * with a pattern, on 2 workers at least): then returns 0 with *ret_used
 * false, having called nothing.
 * Also when the workers' readers cannot be put on one commit in a few tries.
 * Otherwise *ret_used is true and the return is find_run()'s.
 */
int find_par_run(struct store *store, const struct query *query, unsigned type_mask,
		 find_fn *fn, void *ctx, bool *ret_used);

#endif /* FSINDEX_FIND_PAR_H */
