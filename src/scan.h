/* SPDX-License-Identifier: MIT */
/*
 * scan.h - one scan of a set of roots into the index: root chains, the
 * walk on the pool, the writer, per-root options.
 */
#ifndef FSINDEX_SCAN_H
#define FSINDEX_SCAN_H

struct cancel;
struct engine;

#include "store.h"
#include "task.h"
#include "walk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scan_opts {
	unsigned walk_flags;		/* WALK_* (WALK_HASH: hash this time and from now on) */
	char *const *excludes;		/* --exclude patterns */
	size_t nexcludes;
	bool set_excludes;		/* replace the stored excludes (else reuse them) */
	/*
	 * The filesystem types not entered below a walk from directory @path
	 * (fsindexd's exclude-fs for the root holding it), valid until the scan
	 * returns; NULL: none.
	 */
	void (*fstypes_of)(void *ctx, const char *path, char *const **ret, size_t *ret_n);
	void *fstypes_ctx;
	walk_error_fn *on_error;	/* per-entry errors; may be NULL */
	walk_file_fn *on_file;		/* every regular file seen; may be NULL */
	void *file_ctx;
	void *error_ctx;
	const struct cancel *cancel;	/* may be NULL */
	/* Called with the live counters once the walk starts and when it ends. */
	void (*on_start)(void *ctx, struct walk_stats *stats);
	void (*on_end)(void *ctx);
	void *progress_ctx;
};

struct scan_result {
	uint64_t dirs, files, errors;
	uint64_t added, changed, removed, moved;
	uint64_t max_pending;		/* most directory tasks pending at once */
	unsigned roots_walked;		/* distinct roots walked */
	uint64_t hashed, hashed_bytes;	/* files whose content was hashed */
	unsigned peak_inflight;		/* most reads in flight on one ring of the engine */
	bool uring;			/* the engine's reads went through io_uring (else pread) */
	struct task_stats tasks;	/* the engine's pool so far */
};

/**
 * Scan @npaths roots (absolute paths without symlinks, each a directory) into
 * @engine's index, whose scan lock the caller holds (the engine has a
 * writer), recording each as a root.  A root inside another root of the
 * same call is walked after the outer one is committed.  Each phase is a
 * writer job of its own, waited for before the next phase and before this
 * returns: what it returns 0 for is committed.  *ret_result (may be NULL) is
 * filled even on failure, with what was done.  Returns 0, -ECANCELED when
 * cancelled (what was queued is committed), or a negative error (a write
 * error of the scan's own job: the engine's writer goes on).
 */
int scan_run(struct engine *engine, char *const *paths, size_t npaths,
	     const struct scan_opts *opts, struct scan_result *ret_result);

/** Is path @inner @outer itself or below it (both absolute, without "//")? */
bool scan_path_within(const char *inner, const char *outer);

/**
 * Prepare a walk for @opts on @engine, its records in a writer job of its
 * own: *ret_job and *ret_walk (NULL when not made) go to scan_walk_end()
 * whatever this returns.  Returns 0 or a negative error.  For scan_run()
 * and rescans, which then add roots to the walk.
 */
int scan_walk_begin(struct engine *engine, const struct scan_opts *opts,
		    struct store_job **ret_job, struct walk **ret_walk);

/**
 * Finish what scan_walk_begin() made: when @r is 0, run the walk between
 * opts->on_start and on_end; add its counters to @res; free it; wait for
 * the job's commit and free the job.  Returns @r if it is an error, else
 * the walk's result, or the job's error when it came first.
 */
int scan_walk_end(struct walk *walk, struct store_job *job, int r, const struct scan_opts *opts,
		  struct scan_result *res);

/**
 * Fill @filter for a walk from directory @path with @excludes and the
 * filesystem types opts->fstypes_of names for it; returns @filter.
 */
const struct walk_filter *scan_filter(const struct scan_opts *opts, const char *path,
				      char *const *excludes, size_t nexcludes,
				      struct walk_filter *filter);

/** Set @res's pool and read counters from @engine's (so far). */
void scan_engine_stats(struct scan_result *res, struct engine *engine);

#endif /* FSINDEX_SCAN_H */
