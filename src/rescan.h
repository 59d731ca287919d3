/* SPDX-License-Identifier: MIT */
/*
 * rescan.h - rescanning directories the index knows, by id or by path: the
 * job a daemon runs for a file event, and `fsindex rescan`.
 *
 * Unlike scan_run(), a rescan records no root: each directory is walked
 * with the options of the root it lies below (excludes, hashing, one
 * filesystem), as the last scan of that root would have walked it.
 */
#ifndef FSINDEX_RESCAN_H
#define FSINDEX_RESCAN_H

#include "scan.h"

#include <stddef.h>
#include <stdint.h>

struct engine;

enum rescan_flags {
	RESCAN_ONE_LEVEL = 1 << 0,	/* the directory's own entries; known subdirectories are
					   not descended into (new ones are walked whole) */
};

/**
 * Rescan directories @ids[0..n) of @engine's index (the caller holds the
 * scan lock), each a subtree, or one level with RESCAN_ONE_LEVEL, in one
 * writer job, committed when this returns 0.  A directory that is no longer
 * the one the index knows at its path (removed, replaced, renamed away) is
 * rescanned from its nearest ancestor that still is, one level, so the
 * change is taken in (a new directory there is walked whole).  A directory
 * inside another of the same call is covered by the outer one (subtrees).
 * opts->excludes, walk_flags and set_excludes are ignored: the roots' own
 * options apply.  *ret_result (may be NULL) counts what was done; its
 * roots_walked is the number of directories walked from.  Returns 0,
 * -ENOENT (an id not in the index, or not below any root), -ENOTDIR (not a
 * directory), -ECANCELED, or another negative error; nothing is walked
 * unless every id is good.
 */
int rescan_ids(struct engine *engine, const uint64_t *ids, size_t n, unsigned flags,
	       const struct scan_opts *opts, struct scan_result *ret_result);

/**
 * As rescan_ids(), for absolute paths spelled as the index stores them
 * (real paths, as realpath(3) gives).  On -ENOENT or -ENOTDIR, *ret_bad (may
 * be NULL) is the index in @paths of the first path at fault.
 */
int rescan_paths(struct engine *engine, char *const *paths, size_t n, unsigned flags,
		 const struct scan_opts *opts, struct scan_result *ret_result, size_t *ret_bad);

#endif /* FSINDEX_RESCAN_H */
