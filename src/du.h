/* SPDX-License-Identifier: MIT */
/*
 * du.h - disk usage per directory, from the index alone (fsindex du).
 */
#ifndef FSINDEX_DU_H
#define FSINDEX_DU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct du;
struct store;
struct visible;

struct du_opts {
	unsigned max_depth;	/* report directories this far below a path (UINT_MAX: all) */
	bool apparent;		/* st_size instead of st_blocks * 512 */
	bool count_links;	/* a file with several links counts at each (du -l) */
	struct visible *visible; /* borrowed: in another's index, the user's reach (visible.h);
				  * a directory the user may not list counts its own size only,
				  * as du(1) run by the user would */
};

/**
 * Called for each directory at depth <= max_depth once its total is known
 * (children before their parent, as du(1) prints), and for each given path,
 * whatever it is, at depth 0.  @path (@len bytes, NUL-terminated) is the
 * path as given with the names below it appended, borrowed for the call.
 * A nonzero return stops the walk and is returned by du_path().
 */
typedef int du_fn(void *ctx, const char *path, size_t len, uint64_t bytes, unsigned depth);

/**
 * Start a count over @store (borrowed; one read snapshot for every path).
 * *ret is the caller's (du_free()).  Returns 0 or a negative error.
 */
int du_new(struct store *store, const struct du_opts *opts, struct du **ret);

/** Free @du.  Accepts NULL. */
void du_free(struct du *du);

/**
 * Count the subtree at @abs_path (absolute, as the index spells paths),
 * reporting it under the name @shown.  A file with several links is counted
 * once for the whole du, at the first place met, as du(1) does (by device
 * and inode), unless count_links.  *ret_total gets the path's total.  Returns 0, -ENOENT if the
 * path is not in the index (or not within the user's reach, with opts.visible), @fn's
 * nonzero return, or an error.
 */
int du_path(struct du *du, const char *abs_path, const char *shown, du_fn *fn, void *ctx,
	    uint64_t *ret_total);

#endif /* FSINDEX_DU_H */
