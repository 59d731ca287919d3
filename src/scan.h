/* SPDX-License-Identifier: MIT */
/*
 * scan.h - one scan of a set of roots into the index: root chains, the
 * walk on the pool, the writer, per-root options.
 */
#ifndef FSINDEX_SCAN_H
#define FSINDEX_SCAN_H

struct cancel;

#include "store.h"
#include "task.h"
#include "walk.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scan_opts {
	unsigned jobs;			/* worker threads (0: online CPUs) */
	unsigned walk_flags;		/* WALK_* (WALK_HASH: hash this time and from now on) */
	int io_mode;			/* enum ring_mode for content reads */
	char *const *excludes;		/* --exclude patterns */
	size_t nexcludes;
	bool set_excludes;		/* replace the stored excludes (else reuse them) */
	walk_error_fn *on_error;	/* per-entry errors; may be NULL */
	walk_file_fn *on_file;		/* every regular file seen; may be NULL */
	void *file_ctx;
	void *error_ctx;
	const struct cancel *cancel;	/* may be NULL */
	/* Called with the live counters once the walk starts and when it ends. */
	void (*on_start)(void *ctx, struct walk_stats *stats);
	void (*on_end)(void *ctx);
	void *progress_ctx;
	struct store_writer_opts writer; /* zero for defaults */
};

struct scan_result {
	uint64_t dirs, files, errors;
	uint64_t added, changed, removed, moved;
	uint64_t max_pending;		/* most directory tasks pending at once */
	unsigned roots_walked;		/* distinct roots walked */
	uint64_t hashed, hashed_bytes;	/* files whose content was hashed */
	unsigned peak_inflight;		/* most reads in flight on one worker */
	bool uring;			/* reads went through io_uring (else pread) */
	/* Set when scan_run() fails with -EMFILE before walking: too few descriptors. */
	unsigned fd_limit;		/* RLIMIT_NOFILE */
	unsigned fd_used;		/* open when the scan started */
	unsigned fd_needed;		/* free ones the walk needs at the least */
	struct task_stats tasks;
	struct store_write_stats writes;
};

/**
 * Scan @npaths roots (absolute paths without symlinks, each a directory) into
 * @store, whose scan lock the caller holds.  A root inside another root of the
 * same call is walked after the outer one is committed.  The workers, reads
 * in flight and directory cache fit in what RLIMIT_NOFILE leaves free
 * (walk_fd_plan()); when not even one worker fits, nothing is walked and
 * -EMFILE is returned with ret_result's fd_* fields set.  *ret_result (may be NULL) is filled
 * even on failure, with what was done.  Returns 0, -ECANCELED when cancelled
 * (what was queued is committed), or a negative error.
 */
int scan_run(struct store *store, char *const *paths, size_t npaths, const struct scan_opts *opts,
	     struct scan_result *ret_result);

#endif /* FSINDEX_SCAN_H */
