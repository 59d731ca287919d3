/* SPDX-License-Identifier: MIT */
/*
 * task.h - a work-stealing pool of stackless tasks.
 *
 * A task is a small struct the caller embeds in its own object (container_of
 * gets the object back).  Each worker owns a deque: it pushes and pops its own
 * newest task (depth-first, which keeps the frontier small) and, when empty,
 * steals the oldest task of another worker.  The pool owns no task memory: a
 * task's function is responsible for whatever the task points to.
 */
#ifndef FSINDEX_TASK_H
#define FSINDEX_TASK_H

#include <stdbool.h>
#include <stdint.h>

struct task_pool;
struct task_worker;
struct task;

/** A task's body.  Runs on @worker; may spawn more tasks through task_spawn(). */
typedef void task_fn(struct task *task, struct task_worker *worker);

/** Embed in your object; set @fn before submitting. */
struct task {
	task_fn *fn;
};

/** Counters, summed over all workers by task_pool_stats(). */
struct task_stats {
	uint64_t run;		/* tasks executed */
	uint64_t steals;	/* tasks taken from another worker's deque */
	uint64_t parks;		/* times a worker went to sleep for lack of work */
	uint64_t max_depth;	/* deepest any deque grew */
};

/**
 * Create a pool of @nworkers (>= 1) workers.  No thread runs until
 * task_pool_run().  *ret_pool is the caller's (task_pool_free()).
 * Returns 0 or -errno (-EINVAL for 0 workers, -ENOMEM).
 */
int task_pool_new(unsigned nworkers, struct task_pool **ret_pool);

/** Free the pool; it must not be running.  Accepts NULL. */
void task_pool_free(struct task_pool *pool);

/** Number of workers. */
unsigned task_pool_workers(const struct task_pool *pool);

/**
 * Queue @task from outside the pool (before or during task_pool_run()).  It
 * lands on worker 0's deque, so other workers only get work by stealing.  The
 * task must stay valid until its function has run.
 */
void task_pool_submit(struct task_pool *pool, struct task *task);

/** Queue @task from inside a running task, onto the calling worker's deque. */
void task_spawn(struct task_worker *worker, struct task *task);

/**
 * Start the workers (nworkers threads; the caller waits) and return once
 * every submitted and spawned task has run.  The pool can be run again.
 * Returns 0 or -errno if a thread could not be started (queued tasks are
 * then run by the threads that did start, or by the caller).
 */
int task_pool_run(struct task_pool *pool);

/**
 * Called by a worker that found no task to run or steal.  Return true while
 * the worker has work of its own outside the pool (I/O in flight on its
 * ring): it then neither parks nor exits, and looks for tasks again before
 * calling once more.  The function may block until some of that work is done
 * (ring_idle() waits for one request to complete), but not longer: while it
 * blocks, the worker steals nothing.
 */
typedef bool task_idle_fn(void *ctx, struct task_worker *worker);

/** Install @fn (NULL: none) for every worker; call while the pool is not running. */
void task_pool_set_idle(struct task_pool *pool, task_idle_fn *fn, void *ctx);

/** The index (0 .. nworkers-1) of @worker, for per-worker state. */
unsigned task_worker_id(const struct task_worker *worker);

/** The pool @worker belongs to. */
struct task_pool *task_worker_pool(const struct task_worker *worker);

/** Sum the counters of all workers; call while the pool is not running. */
void task_pool_stats(const struct task_pool *pool, struct task_stats *ret_stats);

#endif /* FSINDEX_TASK_H */
