/* SPDX-License-Identifier: MIT */
/*
 * task.h - a persistent work-stealing pool of stackless tasks, shared by
 * several jobs at once (job groups).
 *
 * A task is a small struct the caller embeds in its own object (container_of
 * gets the object back).  Each worker owns a deque: it pushes and pops its own
 * newest task (depth-first, which keeps the frontier small) and, when empty,
 * takes a task submitted from outside or steals the oldest task of another
 * worker.  The pool owns no task memory: a task's function is responsible for
 * whatever the task points to, the task included.
 *
 * Every task belongs to a group (struct task_group): one job, such as a scan
 * of one root, a rescan or a hashing pass.  A group counts its queued and
 * running tasks and its holds (work outside tasks, such as reads in flight);
 * task_group_wait() returns when that count is zero.  Groups share the
 * workers: waiting for one does not wait for the others, cancelling one does
 * not touch the others.
 *
 * Lifetimes and threads.  One thread, the pool's owner, calls
 * task_pool_new(), task_pool_start(), task_pool_stop(), task_pool_run(),
 * task_pool_set_idle() and task_pool_free(), one at a time.  Between start
 * and stop, workers park (sleep, using no CPU) when there is nothing to do
 * and wake when a task is queued; a pool can be started and stopped any
 * number of times.  The functions below say which thread may call them:
 * "any thread" includes the workers; "a worker" means the worker's own
 * thread, inside a task or the idle hook; "not a worker" means the call may
 * block on the pool's progress, which a worker would stall or deadlock.
 *
 *	owner:   new ─ [set_idle] ─ start ─────────────────────── stop ─ free
 *	any:            group_new ─ submit, hold ... release, cancel ─ group_free
 *	not a worker:                          group_wait
 *	a worker:                 spawn, spawn_group, cancelled
 *
 * Memory: struct task carries two words for the pool (its group and the link
 * of the submission queue), so queueing a task never allocates, except when
 * a worker's deque has to grow (task_spawn() then may fail with -ENOMEM).
 *
 * Cancellation composes through struct cancel (cancel.h): each group has a
 * token whose parent is given at task_group_new() (the process-wide token
 * that signals set, say), so a group is cancelled when it is cancelled itself
 * or when its parent is.  task_group_cancel_token() hands the token to code
 * that only knows struct cancel (walk_opts.cancel, a child group's parent).
 */
#ifndef FSINDEX_TASK_H
#define FSINDEX_TASK_H

#include <stdbool.h>
#include <stdint.h>

struct cancel;
struct task_group;
struct task_pool;
struct task_worker;
struct task;

/** A task's body.  Runs on @worker; may spawn more tasks through task_spawn(). */
typedef void task_fn(struct task *task, struct task_worker *worker);

/**
 * Embed in your object; set @fn before queueing.  The other fields are the
 * pool's: they are written when the task is queued and read until its
 * function starts.  A task is queued at most once at a time; once its
 * function runs, it may be queued again (from that very function, too).
 */
struct task {
	task_fn *fn;
	struct task_group *group; /* the pool's: the group it was queued for */
	struct task *next;	  /* the pool's: link in the submission queue */
};

/** Counters, summed over all workers by task_pool_stats(). */
struct task_stats {
	uint64_t run;	    /* tasks executed */
	uint64_t steals;    /* tasks taken from another worker's deque */
	uint64_t parks;	    /* times a worker went to sleep for lack of work */
	uint64_t max_depth; /* deepest any deque grew */
};

/* ---- the pool ---------------------------------------------------------- */

/**
 * Create a pool of @nworkers (>= 1) workers, not started.  *ret_pool is the
 * caller's, who becomes the pool's owner (task_pool_free()).  Returns 0 or
 * -errno (-EINVAL for 0 workers, -ENOMEM).
 */
int task_pool_new(unsigned nworkers, struct task_pool **ret_pool);

/**
 * Free the pool.  Owner only; the pool must be stopped, every group made on
 * it freed, and no task queued.  Accepts NULL.
 */
void task_pool_free(struct task_pool *pool);

/** Number of workers.  Any thread. */
unsigned task_pool_workers(const struct task_pool *pool);

/**
 * Start the workers: one thread each, which inherits the caller's signal
 * mask (block signals before, to keep them off the pool).  Tasks queued
 * while the pool was stopped start running.  Owner only, on a stopped pool.
 * Returns 0, or -errno if a thread could not be started: then the pool is
 * stopped again (as by task_pool_stop(), so queued tasks may have run).
 */
int task_pool_start(struct task_pool *pool);

/**
 * Stop the workers and join them.  Stopping drains: a worker exits once it
 * finds no queued task anywhere and its idle hook reports no outside work,
 * so every task queued before the call, and every task those spawn, has run
 * when it returns; holds are not waited for.  A task submitted after the
 * call began may stay queued until the next start.  Usually called once
 * every group is done (task_group_wait()).  Owner only, not a worker; does
 * nothing on a stopped pool.
 */
void task_pool_stop(struct task_pool *pool);

/**
 * Called by a worker that found no task to run or steal.  Return true while
 * the worker has work of its own outside the pool (I/O in flight on its
 * ring): it then neither parks nor exits, and looks for tasks again before
 * calling once more.  The function may block until some of that work is done
 * (ring_idle() waits for one request to complete), but not longer: while it
 * blocks, the worker runs and steals nothing, and a task queued meanwhile
 * waits for another worker or for the block to end.  It runs outside any
 * task: task_worker_group() is NULL there, so completions that spawn use
 * task_spawn_group() with the group they hold.  One hook serves the pool:
 * every group's outside work goes through it.
 */
typedef bool task_idle_fn(void *ctx, struct task_worker *worker);

/** Install @fn (NULL: none) for every worker.  Owner only, while the pool is stopped. */
void task_pool_set_idle(struct task_pool *pool, task_idle_fn *fn, void *ctx);

/**
 * Sum the counters of all workers (since task_pool_new()).  Any thread;
 * while workers run, a snapshot that may be a few tasks behind.
 */
void task_pool_stats(const struct task_pool *pool, struct task_stats *ret_stats);

/* ---- job groups -------------------------------------------------------- */

/**
 * Create a group of tasks on @pool, with nothing queued.  Its cancel token
 * has @parent (borrowed, may be NULL; must outlive the group) as its parent:
 * the group counts as cancelled once either is.  *ret_group is the caller's
 * (task_group_free()).  Any thread.  Returns 0 or -ENOMEM.
 */
int task_group_new(struct task_pool *pool, const struct cancel *parent,
		   struct task_group **ret_group);

/**
 * Free @group, which must be done (no queued or running task, no hold:
 * after task_group_wait(), say).  Any thread.  Accepts NULL.
 */
void task_group_free(struct task_group *group);

/**
 * Queue @task for @group from any thread, a worker's included.  It goes on
 * the pool's submission queue, which is first come, first served and never
 * allocates; workers take from it when their own deque is empty, and every
 * few dozen tasks even when it is not (INJECT_EVERY in task.c), so a new job
 * starts while another keeps every worker busy.  On a stopped pool the task waits for
 * task_pool_start() or task_pool_run().  @task must stay valid until its
 * function runs; @group must stay alive until it is done.
 */
void task_group_submit(struct task_group *group, struct task *task);

/**
 * Queue @task from inside a running task, onto the calling worker's deque,
 * for the group of the running task.  From the idle hook (no running task)
 * it queues for the pool's default group (task_pool_submit()); use
 * task_spawn_group() there.  A worker only.  Returns 0, or -ENOMEM if the
 * deque could not grow: then @task is not queued, and stays the caller's.
 */
int task_spawn(struct task_worker *worker, struct task *task);

/**
 * Queue @task for @group onto the calling worker's deque: for a completion
 * callback (in a task or the idle hook) that spawns work for the group whose
 * hold it is about to release.  @group must be kept busy meanwhile, by that
 * hold or by a running task of it.  A worker only.  Returns 0 or -ENOMEM, as
 * task_spawn().
 */
int task_spawn_group(struct task_worker *worker, struct task_group *group, struct task *task);

/**
 * Count one unit of outside work (a read in flight, a batch being written)
 * for @group: task_group_wait() does not return until it is released.  Any
 * thread that knows @group is alive: its owner, a task of it, a holder of
 * another hold.  Each hold is released once.
 */
void task_group_hold(struct task_group *group);

/**
 * Release a hold taken by task_group_hold(), from any thread.  After the
 * last release @group may be freed at once by a waiter: do not touch it
 * after this call.
 */
void task_group_release(struct task_group *group);

/**
 * Block until @group has no queued or running task and no hold.  Other
 * groups go on running meanwhile and are not waited for.  Any thread but a
 * worker; several may wait at once.  The group may be used again afterwards.
 */
void task_group_wait(struct task_group *group);

/** Is @group done (nothing queued, running or held), right now?  Any thread. */
bool task_group_done(struct task_group *group);

/**
 * Ask @group's tasks to stop.  Tasks still run, so that they free what they
 * own, but should return at once, spawning nothing (check
 * task_cancelled()).  It stays cancelled for good.  Any thread.
 */
void task_group_cancel(struct task_group *group);

/** Was @group, or its parent token, cancelled?  Any thread. */
bool task_group_cancelled(const struct task_group *group);

/**
 * @group's cancel token, whose parent is the one given at task_group_new():
 * for code that polls a struct cancel, or as a child group's parent.
 * Borrowed: valid while @group lives.  Any thread.
 */
const struct cancel *task_group_cancel_token(const struct task_group *group);

/* ---- the calling worker ------------------------------------------------ */

/** Is the group of @worker's running task cancelled?  False in the idle hook.  A worker only. */
bool task_cancelled(const struct task_worker *worker);

/** The group of @worker's running task; NULL in the idle hook.  A worker only. */
struct task_group *task_worker_group(const struct task_worker *worker);

/** The index (0 .. nworkers-1) of @worker, for per-worker state.  Any thread. */
unsigned task_worker_id(const struct task_worker *worker);

/** The pool @worker belongs to.  Any thread. */
struct task_pool *task_worker_pool(const struct task_worker *worker);

/* ---- one job at a time (the pool's default group) ---------------------- */

/**
 * Queue @task for the pool's default group, from any thread: as
 * task_group_submit() on the group task_pool_run() waits for.
 */
void task_pool_submit(struct task_pool *pool, struct task *task);

/**
 * Run the default group to completion.  On a stopped pool: start the
 * workers (nworkers threads; the caller waits), let them run until the
 * default group is done and their idle hooks report no outside work, and
 * join them, so the pool is stopped again on return.  Tasks of other groups
 * queued meanwhile are run too, but not waited for: use task_pool_start()
 * for several jobs.  On a started pool: just task_group_wait() on the
 * default group.  Owner only.  Returns 0, or -errno if a thread could not be
 * started (the queued tasks are then run by the threads that did start, or
 * by the caller).
 */
int task_pool_run(struct task_pool *pool);

/* ---- testing ----------------------------------------------------------- */

/**
 * Fault injection: make the @n-th resource acquisition of this module from
 * now on fail (an allocation with -ENOMEM, a thread start with -EAGAIN),
 * counted over all threads; 0 disarms.  For tests, which loop n = 1, 2, ...
 * until the call under test succeeds.
 */
void task_debug_fail_at(unsigned long n);

#endif /* FSINDEX_TASK_H */
