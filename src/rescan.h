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

/**
 * Rescan the directories at absolute paths @paths[0..n), each a subtree or
 * one level by its own RESCAN_* @flags[i], in one writer job: a batch of a
 * daemon's file events.  Unlike rescan_paths(), no path is at fault: one
 * the index has no directory at (just made; gone, and already taken out;
 * a file now) is taken in by the listing of its nearest ancestor that the
 * index has, one level, and one below no root is dropped.  Paths that come
 * to the same directory are one target, walked once (a subtree if any of
 * them asked for one), and a target below a subtree target is walked as
 * part of it; each path and each vanished ancestor is looked up once per
 * call.  Returns 0 (also when nothing was left to walk), -ECANCELED, or
 * another negative error.  *ret_result (may be NULL) as rescan_ids().
 */
int rescan_batch(struct engine *engine, char *const *paths, const unsigned *flags, size_t n,
		 const struct scan_opts *opts, struct scan_result *ret_result);

#endif /* FSINDEX_RESCAN_H */
