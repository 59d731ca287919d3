/* SPDX-License-Identifier: MIT */
/*
 * engine.h - what every long job of one process shares: the index and its
 * one writer, one persistent pool of workers, one ring per worker behind the
 * pool's only idle hook, the descriptor budget, the mount table and the
 * process-wide stop request.
 *
 * scan, dups and the daemon borrow an engine instead of building their own.
 * Several jobs may run on it at once (a full scan, rescans, a dups pass),
 * each with a task group of its own (task.h: waited for or cancelled alone)
 * and a writer job of its own (store.h: a failed transaction fails the jobs
 * whose records it held, and the writer goes on).  Jobs over overlapping
 * subtrees of the index must not run at once: the caller queues them.
 *
 *   engine ─┬─ store ── writer (one thread; jobs commit or fail apart)
 *           ├─ pool ─── workers ── ring each (content reads of every job)
 *           │            └── idle hook: give descriptors back, retry
 *           │                deferred reads, wait for a completion
 *           ├─ descriptor plan (workers, reads in flight, directory cache)
 *           ├─ mount table (parsed once, refreshed on demand)
 *           └─ cancel token (signals); each job's group token is below it
 *
 * Threads: engine_new() and engine_free() from the thread that owns the
 * engine; functions taking a struct task_worker from that worker only; the
 * rest from any thread.
 */
#ifndef FSINDEX_ENGINE_H
#define FSINDEX_ENGINE_H

#include "store.h"
#include "walk.h"

#include <stdbool.h>
#include <sys/types.h>

struct cancel;
struct engine;
struct mount_table;
struct readhash;
struct ring;
struct ring_stats;
struct task_pool;
struct task_stats;
struct task_worker;

struct engine_opts {
	unsigned jobs;			/* workers (0: online CPUs); fewer if descriptors are short */
	int io_mode;			/* enum ring_mode for content reads */
	bool write;			/* start the writer: the caller holds the scan lock */
	struct store_writer_opts writer; /* zero for defaults */
	const struct cancel *cancel;	/* the process-wide stop (signals); may be NULL */
};

/* Why engine_new() failed with -EMFILE: too few descriptors for one worker. */
struct engine_fd_shortage {
	unsigned limit;			/* RLIMIT_NOFILE */
	unsigned used;			/* open when the engine was made */
	unsigned needed;		/* free ones one worker needs at the least */
};

/**
 * Make an engine over @store (borrowed; must outlive the engine): plan the
 * descriptors (walk_fd_plan()), start the workers and, with opts->write, the
 * writer.  Block signals before (cancel_on_signals()): the workers inherit
 * the mask.  *ret_engine is the caller's (engine_free()).  Returns 0,
 * -EMFILE with *ret_short (may be NULL) filled when not even one worker
 * fits, or another negative error.
 */
int engine_new(struct store *store, const struct engine_opts *opts, struct engine **ret_engine,
	       struct engine_fd_shortage *ret_short);

/**
 * Stop the workers, free the rings, commit and stop the writer.  Every job
 * must be over.  *ret_stats (may be NULL) gets the writer's counters.
 * Returns 0 or the first error a writer job met.  Accepts NULL.
 */
int engine_free(struct engine *e, struct store_write_stats *ret_stats);

struct store *engine_store(const struct engine *e);

/** The writer, or NULL when the engine was made without opts->write. */
struct store_writer *engine_writer(const struct engine *e);

struct task_pool *engine_pool(const struct engine *e);

unsigned engine_workers(const struct engine *e);

/** The process-wide stop token (may be NULL): the parent of every job's token. */
const struct cancel *engine_cancel(const struct engine *e);

/** How the descriptors are spent: workers, reads in flight, directory cache, read mode. */
const struct walk_fd_plan *engine_fd_plan(const struct engine *e);

/*
 * The directory descriptors the plan leaves for caches (plan.cache) are
 * shared by the walks running at once: each takes what is left, up to what
 * it wants, and gives it back when done, so two jobs never plan on the same
 * descriptors.  A walk that gets little still works: it reopens directories
 * more often (walk.c, "Descriptors").
 */
#define ENGINE_FDS_FLOOR 8	/* a walk's cache is never smaller than this */

/**
 * Take up to @want of the cache descriptors left; returns how many were
 * taken (maybe 0, when other walks hold them all: the walk then keeps
 * ENGINE_FDS_FLOOR, or the plan's cache if smaller, all the same).
 */
unsigned engine_fds_take(struct engine *e, unsigned want);

/** Give back @n descriptors engine_fds_take() returned. */
void engine_fds_give(struct engine *e, unsigned n);

/**
 * The ring of worker @tw, made on its first use with the plan's mode and
 * depth (from that worker).  Returns 0 and *ret_ring, or a negative error
 * (io_uring refused with RING_URING, -ENOMEM).
 */
int engine_ring(struct engine *e, struct task_worker *tw, struct ring **ret_ring);

/** Sum the counters of every worker's ring (all zero if none was made). */
void engine_ring_stats(const struct engine *e, struct ring_stats *ret);

/**
 * A read met EMFILE with nothing else of its ring in flight and nothing of
 * its own to give back: from now on every ring gives its own descriptors
 * back when idle (io_uring becomes pread there).  Any thread.
 */
void engine_starve(struct engine *e);

/** Has engine_starve() been called? */
bool engine_starved(const struct engine *e);

/**
 * Keep read @rh (which met EMFILE; its on_emfile returns READHASH_LATER
 * after this) on the list of worker @worker (task_worker_id()), whose ring
 * it was read on: once that ring is idle, the idle hook gives the ring's
 * descriptors back, waits a moment and submits the list again
 * (readhash_retry()).  The read's job must hold its group meanwhile, as
 * for any read in flight.  From a ring callback on that worker.
 */
void engine_defer(struct engine *e, unsigned worker, struct readhash *rh);

/**
 * Serialise the jobs that make nodes outside any walk (a scan's root
 * chains, which scans of disjoint roots share): lock, plan, commit, unlock,
 * so the next one reads what the last one made.  Not while a walk of the
 * caller waits on the lock's holder.
 */
void engine_plan_lock(struct engine *e);
void engine_plan_unlock(struct engine *e);

/**
 * The mount table, parsed on first use.  Tables stay valid until
 * engine_free(), so lookups never race with a refresh.  NULL when
 * /proc/self/mountinfo cannot be read.
 */
const struct mount_table *engine_mounts(struct engine *e);

/** Parse the mount table again (after a mount or unmount); 0 or -errno. */
int engine_refresh_mounts(struct engine *e);

#endif /* FSINDEX_ENGINE_H */
