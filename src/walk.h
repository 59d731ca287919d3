/* SPDX-License-Identifier: MIT */
/*
 * walk.h - one task per directory: list, stat, compare with the index, queue
 * changes for the writer, spawn a task per subdirectory.
 */
#ifndef FSINDEX_WALK_H
#define FSINDEX_WALK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cancel;
struct engine;
struct store_job;
struct walk;

enum walk_flags {
	WALK_XDEV = 1 << 0,		/* do not descend into other filesystems */
	WALK_NO_PRUNE_FS = 1 << 1,	/* descend into proc, sysfs, ... too */
	WALK_HASH = 1 << 2,		/* hash the content of regular files */
	WALK_RELIST = 1 << 3,		/* list every directory (the excludes changed) */
	WALK_ONE_LEVEL = 1 << 4,	/* the root's entries only: known subdirectories are not
					   walked (new and replaced ones are, whole) */
};

/** Called (from any worker, serialised by the caller if it needs) for each entry that failed. */
typedef void walk_error_fn(void *ctx, const char *path, size_t len, const char *what, int err);

struct node;

/**
 * Called by worker @worker for each regular file below root @root (as given
 * to walk_add_root()), in directory @dir (absolute, @dir_len bytes), with its
 * record as the index will hold it: stored hash fields are kept while the
 * stat is unchanged.  Everything is borrowed for the call.
 */
typedef void walk_file_fn(void *ctx, unsigned worker, const char *root, const char *dir,
			  size_t dir_len, const struct node *n);

struct walk_opts {
	unsigned fd_budget;		/* directory descriptors kept open (0: the engine's plan) */
	walk_error_fn *on_error;	/* may be NULL */
	void *error_ctx;
	const struct cancel *cancel;	/* when requested, stop promptly (NULL: the engine's) */
	struct store_job *job;		/* the writer job of the records (NULL: the default) */
	walk_file_fn *on_file;		/* may be NULL */
	void *file_ctx;
	int64_t start_sec;		/* scan start (CLOCK_REALTIME): newer mtimes are racy */
};

/** Counters, updated as the walk goes (relaxed atomics; read them any time). */
struct walk_stats {
	atomic_uint_fast64_t dirs;	/* directories listed */
	atomic_uint_fast64_t files;	/* non-directory entries seen */
	atomic_uint_fast64_t errors;	/* entries that could not be read */
	atomic_uint_fast64_t added;	/* new entries queued */
	atomic_uint_fast64_t changed;	/* entries whose metadata changed */
	atomic_uint_fast64_t removed;	/* vanished entries queued for deletion */
	atomic_uint_fast64_t moved;	/* entries found renamed or moved: identity kept */
	atomic_uint_fast64_t pending;	/* directory tasks not finished yet */
	atomic_uint_fast64_t max_pending;
	atomic_uint_fast64_t hashed;	/* files hashed */
	atomic_uint_fast64_t hashed_bytes;
};

/*
 * Descriptors (walk-fds.c).  A walk needs two per worker at the least (a
 * directory being listed and the file or subdirectory being opened in it);
 * with io_uring a worker also holds its ring, one descriptor per read in
 * flight and the directories of those reads.  walk_fd_plan() fits the
 * workers, the read depth and the directory cache into what RLIMIT_NOFILE
 * leaves free.
 */
#define WALK_MIN_FDS 2

/** How a walk spends the descriptors it may open: see walk_fd_plan(). */
struct walk_fd_plan {
	unsigned jobs;			/* workers that fit (at most as many as asked) */
	unsigned cache;			/* for walk_opts.fd_budget */
	unsigned depth;			/* for walk_opts.hash_depth */
	int io_mode;			/* enum ring_mode; RING_SYNC when io_uring does not fit */
};

/**
 * Raise RLIMIT_NOFILE's soft limit toward the hard one (up to 65536), then
 * count the descriptors the process can still open: that limit (in
 * *ret_limit) less the descriptors open below it.  Returns the count, or
 * -errno.  (Tests: FSINDEX_DEBUG_FDS=N in the environment makes it N.)
 */
int walk_fds_free(unsigned *ret_limit);

/**
 * Plan a walk (or dups' reads, which need no more) of @jobs workers reading
 * in @io_mode with @nfree descriptors free.  Returns 0, or -EMFILE when not
 * even one worker fits: fewer than WALK_MIN_FDS free, or fewer than
 * walk_fd_min(RING_URING) for io_uring alone.
 */
int walk_fd_plan(unsigned nfree, unsigned jobs, int io_mode, struct walk_fd_plan *ret);

/** The fewest free descriptors walk_fd_plan() accepts for @io_mode. */
unsigned walk_fd_min(int io_mode);

/**
 * An open met EMFILE for the (@tries + 1)th time while other workers hold
 * descriptors: let them close one (yield at first, then sleep a
 * millisecond) before trying again.
 */
void walk_fd_backoff(unsigned tries);

/**
 * Prepare a walk on @engine's workers (a task group of its own) that queues
 * its changes on the engine's writer, in opts->job, reading the previous
 * state through readers of the engine's store.  Everything is borrowed and
 * must outlive the walk.  *ret_walk is the caller's (walk_free()).
 */
int walk_new(struct engine *engine, const struct walk_opts *opts, struct walk **ret_walk);

/* What a root leaves out below it (globs; copied by walk_add_root()). */
struct walk_filter {
	char *const *excludes;		/* over names, or paths when a pattern has '/' */
	size_t nexcludes;
	char *const *fstypes;		/* over mount table types: a mount of one is not entered */
	size_t nfstypes;
};

/**
 * Add root directory @path (absolute, no symlinks) whose node @id exists or
 * is queued already (@fresh: it has no stored children).  @filter (may be
 * NULL) applies below it.  Returns 0 or -errno.
 */
int walk_add_root(struct walk *walk, const char *path, uint64_t id, bool fresh, uint64_t dev,
		  unsigned flags, const struct walk_filter *filter);

/**
 * Walk every root added, on the pool, and return when all is listed and
 * queued (not yet committed: that is store_job_wait() once the walk is
 * freed).  Other jobs on the engine go on meanwhile and are not waited for.
 * Returns 0, -ECANCELED if cancelled, or the first fatal error (the job's
 * writer error, or -ENOMEM).
 */
int walk_run(struct walk *walk);

/** The live counters of @walk. */
struct walk_stats *walk_stats(struct walk *walk);

/** Free the walk.  Accepts NULL. */
void walk_free(struct walk *walk);

/*
 * The longest exclude pattern accepted, in bytes: PATH_MAX.  A name is at
 * most 255 bytes and a longer path cannot be passed to a system call, so a
 * longer pattern is a mistake (the index could store up to 65535).
 */
#define WALK_EXCLUDE_MAX 4096

/** Does the pattern list @excludes exclude entry @name, or @path when a pattern has '/'? */
bool walk_is_excluded(char *const *excludes, size_t nexcludes, const char *name,
		      const char *path);

#endif /* FSINDEX_WALK_H */
