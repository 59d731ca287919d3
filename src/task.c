/* SPDX-License-Identifier: MIT */
/*
 * task.c - the work-stealing pool and its job groups.
 *
 * The scheduling idea is Blumofe and Leiserson's work stealing ("Scheduling
 * multithreaded computations by work stealing", JACM 1999): each worker treats
 * its own deque as a stack and takes the newest task, so it runs the tree
 * depth-first and its frontier stays small; an idle worker takes the *oldest*
 * task of a victim, which is the root of the largest unexplored subtree, so
 * one steal buys much work and thieves rarely meet the owner.  The deque's
 * shape (a power-of-two ring indexed by two ever-growing counters, grown by
 * doubling) is the one of Chase and Lev, "Dynamic circular work-stealing
 * deque" (SPAA 2005), but each deque is guarded by a mutex instead of their
 * fences and CAS: with two cores the lock is almost never contended, and
 * ThreadSanitizer can check it (it does not model the standalone fences
 * Chase-Lev needs; STYLE.md section 7).  Only its owner pushes onto a deque.
 *
 *	task_group_submit() ──► submission queue (FIFO, intrusive: task->next)
 *	                                   │ taken when the own deque is empty,
 *	                                   ▼ and every INJECT_EVERY tasks anyway
 *	                            ┌──────────────────────┐
 *	                            │ top              bot │ ◄── task_spawn() pushes,
 *	  thieves take the oldest ◄─┤ t0 t1 t2 ...      tn │ ──► owner pops the newest
 *	                            └──────────────────────┘
 *
 * Submissions from outside go through one queue instead of a worker's deque,
 * so that they need no allocation (the link is in the task) and are served
 * in order.  A worker that always has tasks of its own would never look at
 * the queue, and a small rescan submitted during a full scan would wait for
 * the scan to end; so every INJECT_EVERY tasks a worker takes from the queue
 * first (Go's scheduler does the same with its global run queue every 61st
 * scheduling tick, runtime/proc.go).  Once a job's first task runs, its
 * children sit on top of that worker's deque and run next, depth-first.
 *
 * Groups: each task records its group when queued (task->group); the worker
 * notes the group of the task it runs (worker->cur), which task_spawn() uses.
 * A group's @pending counts its queued and running tasks and its holds.  It
 * goes up before a task is made visible and down after its function returns,
 * so it is zero only when nothing of the group is left anywhere.  The step
 * that may reach zero is taken under the group's lock, which the waiter
 * holds while it checks: a waiter that sees zero knows the last decrementer
 * has left the group, so it may free it at once (task_group_free() takes the
 * lock once more for a caller that polled task_group_done() instead).  Every
 * other step is one CAS.
 *
 * Parking: a worker that finds nothing after SPIN_ROUNDS sweeps over every
 * victim sleeps on @park_cond.  It announces itself in @parked and re-checks
 * the queue and every deque, under their locks, before waiting; a pusher
 * unlocks its deque (or the queue) and only then reads @parked, so either
 * the parker sees the new task or the pusher sees the parker and signals it
 * (the lock orders the two).  The hot path, a push with nobody parked, costs
 * one atomic load.
 *
 * Ending: between task_pool_start() and task_pool_stop(), workers never exit
 * on their own.  task_pool_stop() sets @stopping, and each worker exits once
 * it finds no task anywhere and its idle hook reports nothing outstanding.
 * task_pool_run(), the one-job layer, starts the workers with @until set to
 * the default group instead: they exit once that group is done, the way the
 * pool worked before groups (nothing parks after the job is over).
 *
 * Outside work: a worker may own I/O in flight (its ring).  When it finds no
 * task, the idle hook reaps and briefly waits for that I/O; while the hook
 * says work is outstanding the worker neither parks nor exits, so each ring
 * is drained by the one thread allowed to touch it.
 *
 * Memory: no allocation per task (tasks are the caller's, the queue is
 * intrusive); only a deque may grow (doubling, 8 bytes a task), and if it
 * cannot, task_spawn() says -ENOMEM.  Counters are per worker, written by
 * their owner only, and add up over all runs since task_pool_new().
 */
#include "task.h"

#include "cancel.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Initial ring size per worker (2 KiB); it doubles for directories with more subdirectories. */
#define DEQUE_INIT_CAP 256
/* Sweeps (with a sched_yield between) before parking: covers the short gap between
 * a task ending and its sibling being spawned, without burning a core when idle. */
#define SPIN_ROUNDS 4
/* Tasks between two looks at the submission queue by a busy worker: often enough
 * that a new job starts within microseconds, rarely enough to cost nothing. */
#define INJECT_EVERY 61
#define CACHELINE 64

struct deque {
	pthread_mutex_t lock;
	struct task **buf;
	size_t cap;    /* a power of two */
	size_t top;    /* index of the oldest task; thieves take from here */
	size_t bottom; /* one past the newest task; the owner's end */
};

/* Written by the owning worker only; atomic so that task_pool_stats() may read them any time. */
struct worker_stats {
	atomic_uint_fast64_t run, steals, parks, max_depth;
};

/* Aligned so that two workers' deques and counters never share a cache line. */
struct task_worker {
	struct deque dq;
	struct task_pool *pool;
	struct task_group *cur; /* the group of the running task; NULL between tasks */
	pthread_t thread;
	unsigned id;
	uint32_t rng;  /* victim choice; only the owning thread uses it */
	unsigned tick; /* find_task() calls since the queue was looked at first */
	struct worker_stats stats;
} __attribute__((aligned(CACHELINE)));

struct task_group {
	struct task_pool *pool;
	struct cancel cancel;
	pthread_mutex_t lock; /* taken for the step that may reach zero, and by waiters */
	pthread_cond_t done;
	/* Written by every task start and end of the group: keep it off the line above. */
	_Alignas(CACHELINE) atomic_size_t pending; /* queued + running tasks + holds */
};

struct task_pool {
	unsigned nworkers;
	unsigned ninit;			    /* workers whose deque is initialised */
	unsigned nthreads;		    /* workers started by task_pool_start(); owner only */
	_Atomic(struct task_group *) until; /* task_pool_run(): exit when it is done */
	atomic_bool stopping;		    /* task_pool_stop(): exit when nothing is left */
	atomic_uint parked;		    /* workers in park(); read on every push */
	atomic_uint ngroups;		    /* live groups made by task_group_new() */
	task_idle_fn *idle_fn;		    /* outside work (I/O) of an idle worker */
	void *idle_ctx;
	struct task_group *dflt; /* task_pool_submit() and task_pool_run() */
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	/* The submission queue, touched by outside threads: keep it off the lines above. */
	_Alignas(CACHELINE) pthread_mutex_t inject_lock;
	struct task *inject_head;
	struct task **inject_tail;
	atomic_size_t ninject; /* written under inject_lock; read without, as a hint */
	struct task_worker workers[];
};

/* The worker running on this thread, for the "a worker only" / "not a worker" rules. */
static _Thread_local struct task_worker *self;

/* ---- fault injection --------------------------------------------------- */

static atomic_ulong fail_countdown;

void task_debug_fail_at(unsigned long n)
{
	atomic_store(&fail_countdown, n);
}

/* Must this resource acquisition fail? */
static bool fail_now(void)
{
	unsigned long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
			return n == 1;
	}
	return false;
}

/* ---- deques ------------------------------------------------------------ */

static void stat_inc(atomic_uint_fast64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static int deque_init(struct deque *dq)
{
	int r;

	dq->buf = fail_now() ? NULL : malloc(DEQUE_INIT_CAP * sizeof(*dq->buf));
	if (!dq->buf)
		return -ENOMEM;
	r = pthread_mutex_init(&dq->lock, NULL);
	if (r) {
		free(dq->buf);
		return -r;
	}
	dq->cap = DEQUE_INIT_CAP;
	dq->top = dq->bottom = 0;
	return 0;
}

/*
 * Double the ring.  Indices stay valid, only the mask that maps them
 * changes: index i moves from slot i & (cap-1) to i & (2cap-1), the same
 * slot or the one cap higher, which is in the new half (no overlap).
 */
static int deque_grow(struct deque *dq)
{
	size_t cap = dq->cap;

	if (fail_now() || GROW(dq->buf, dq->cap, cap + 1) < 0)
		return -ENOMEM;
	for (size_t i = dq->top; i != dq->bottom; i++) {
		size_t from = i & (cap - 1), to = i & (dq->cap - 1);

		if (to != from)
			dq->buf[to] = dq->buf[from];
	}
	return 0;
}

/* Only the owner pushes. */
static int deque_push(struct task_worker *w, struct task *task)
{
	struct deque *dq = &w->dq;
	size_t depth;
	int r = 0;

	pthread_mutex_lock(&dq->lock);
	depth = dq->bottom - dq->top;
	if (depth == dq->cap)
		r = deque_grow(dq);
	if (r == 0) {
		dq->buf[dq->bottom++ & (dq->cap - 1)] = task;
		if (depth + 1 > atomic_load_explicit(&w->stats.max_depth, memory_order_relaxed))
			atomic_store_explicit(&w->stats.max_depth, depth + 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&dq->lock);
	return r;
}

/* The owner takes the newest task, a thief the oldest. */
static struct task *deque_take(struct deque *dq, bool newest)
{
	struct task *task = NULL;

	pthread_mutex_lock(&dq->lock);
	if (dq->bottom != dq->top) {
		if (newest)
			task = dq->buf[--dq->bottom & (dq->cap - 1)];
		else
			task = dq->buf[dq->top++ & (dq->cap - 1)];
	}
	pthread_mutex_unlock(&dq->lock);
	return task;
}

static bool deque_empty(struct deque *dq)
{
	bool empty;

	pthread_mutex_lock(&dq->lock);
	empty = dq->bottom == dq->top;
	pthread_mutex_unlock(&dq->lock);
	return empty;
}

/* ---- the submission queue ---------------------------------------------- */

static void inject_push(struct task_pool *pool, struct task *task)
{
	task->next = NULL;
	pthread_mutex_lock(&pool->inject_lock);
	*pool->inject_tail = task;
	pool->inject_tail = &task->next;
	atomic_fetch_add_explicit(&pool->ninject, 1, memory_order_relaxed);
	pthread_mutex_unlock(&pool->inject_lock);
}

static struct task *inject_take(struct task_pool *pool)
{
	struct task *task;

	if (atomic_load_explicit(&pool->ninject, memory_order_relaxed) == 0)
		return NULL;
	pthread_mutex_lock(&pool->inject_lock);
	task = pool->inject_head;
	if (task) {
		pool->inject_head = task->next;
		if (!pool->inject_head)
			pool->inject_tail = &pool->inject_head;
		atomic_fetch_sub_explicit(&pool->ninject, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&pool->inject_lock);
	return task;
}

/* Is a task queued anywhere?  Under the locks, so it orders with pushes (see "Parking"). */
static bool pool_has_work(struct task_pool *pool)
{
	bool queued;

	pthread_mutex_lock(&pool->inject_lock);
	queued = pool->inject_head != NULL;
	pthread_mutex_unlock(&pool->inject_lock);
	for (unsigned i = 0; !queued && i < pool->nworkers; i++)
		queued = !deque_empty(&pool->workers[i].dq);
	return queued;
}

/* ---- parking and waking ------------------------------------------------ */

/* Called after a push, with no deque lock held. */
static void wake_one(struct task_pool *pool)
{
	if (atomic_load(&pool->parked) == 0)
		return;
	pthread_mutex_lock(&pool->park_lock);
	pthread_cond_signal(&pool->park_cond);
	pthread_mutex_unlock(&pool->park_lock);
}

static void wake_all(struct task_pool *pool)
{
	pthread_mutex_lock(&pool->park_lock);
	pthread_cond_broadcast(&pool->park_cond);
	pthread_mutex_unlock(&pool->park_lock);
}

/* May a worker that found nothing to do, and no outside work, exit? */
static bool may_exit(struct task_pool *pool)
{
	struct task_group *until = atomic_load(&pool->until);

	if (until)
		return atomic_load(&until->pending) == 0;
	return atomic_load(&pool->stopping);
}

static void park(struct task_worker *w)
{
	struct task_pool *pool = w->pool;

	pthread_mutex_lock(&pool->park_lock);
	atomic_fetch_add(&pool->parked, 1);
	if (!may_exit(pool) && !pool_has_work(pool)) {
		stat_inc(&w->stats.parks);
		pthread_cond_wait(&pool->park_cond, &pool->park_lock);
	}
	atomic_fetch_sub(&pool->parked, 1);
	pthread_mutex_unlock(&pool->park_lock);
}

/* ---- group counts ------------------------------------------------------ */

/* One unit of @g's work is over (see "Groups" for why the last step locks). */
static void group_put(struct task_group *g)
{
	struct task_pool *pool = g->pool;
	size_t n = atomic_load_explicit(&g->pending, memory_order_relaxed);
	bool wake_pool;

	while (n > 1) {
		if (atomic_compare_exchange_weak(&g->pending, &n, n - 1))
			return;
	}
	pthread_mutex_lock(&g->lock);
	n = atomic_fetch_sub(&g->pending, 1);
	assert(n > 0);
	if (n == 1)
		pthread_cond_broadcast(&g->done);
	wake_pool = n == 1 && atomic_load(&pool->until) == g;
	pthread_mutex_unlock(&g->lock);
	/* @g may be gone now; the pool is not. */
	if (wake_pool)
		wake_all(pool);
}

/* Push @task for @g onto the calling worker's own deque. */
static int queue_local(struct task_worker *w, struct task_group *g, struct task *task)
{
	int r;

	assert(self == w && g->pool == w->pool);
	atomic_fetch_add(&g->pending, 1);
	task->group = g;
	r = deque_push(w, task);
	if (r < 0) {
		group_put(g);
		return r;
	}
	wake_one(w->pool);
	return 0;
}

/* ---- workers ----------------------------------------------------------- */

static void run_task(struct task_worker *w, struct task *task)
{
	struct task_group *g = task->group;

	w->cur = g;
	/* @task may be freed, or queued again, by its function: do not touch it afterwards. */
	task->fn(task, w);
	w->cur = NULL;
	stat_inc(&w->stats.run);
	group_put(g);
}

/* xorshift32: any cheap spread of start victims will do. */
static unsigned next_victim(struct task_worker *w, unsigned n)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 17;
	w->rng ^= w->rng << 5;
	return w->rng % n;
}

static struct task *steal(struct task_worker *w)
{
	struct task_pool *pool = w->pool;
	unsigned n = pool->nworkers, start;

	if (n == 1)
		return NULL;
	start = next_victim(w, n);
	for (unsigned i = 0; i < n; i++) {
		struct task_worker *victim = &pool->workers[(start + i) % n];
		struct task *task;

		if (victim == w)
			continue;
		task = deque_take(&victim->dq, false);
		if (task) {
			stat_inc(&w->stats.steals);
			return task;
		}
	}
	return NULL;
}

static struct task *find_task(struct task_worker *w)
{
	struct task *task = NULL;

	/* Now and then the queue first, so that a job submitted behind a busy one starts. */
	if (++w->tick >= INJECT_EVERY) {
		w->tick = 0;
		task = inject_take(w->pool);
	}
	if (!task)
		task = deque_take(&w->dq, true);
	if (!task)
		task = inject_take(w->pool);
	if (!task)
		task = steal(w);
	return task;
}

static void worker_loop(struct task_worker *w)
{
	struct task_pool *pool = w->pool;
	unsigned idle = 0;

	for (;;) {
		struct task *task = find_task(w);

		if (task) {
			run_task(w, task);
			idle = 0;
		} else if (pool->idle_fn && pool->idle_fn(pool->idle_ctx, w)) {
			/* It waited on its own I/O; look for tasks again. */
			idle = 0;
		} else if (may_exit(pool)) {
			/* The sweep may have raced a push that came before the stop: re-check under
			 * the locks. */
			if (!pool_has_work(pool))
				break;
		} else if (idle++ < SPIN_ROUNDS) {
			sched_yield();
		} else {
			park(w);
			idle = 0;
		}
	}
}

static void *worker_main(void *arg)
{
	self = arg;
	worker_loop(arg);
	return NULL;
}

static int start_thread(struct task_worker *w)
{
	if (fail_now())
		return -EAGAIN;
	return -pthread_create(&w->thread, NULL, worker_main, w);
}

/* ---- groups ------------------------------------------------------------ */

static void group_destroy(struct task_group *g)
{
	pthread_cond_destroy(&g->done);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static int group_new(struct task_pool *pool, const struct cancel *parent,
		     struct task_group **ret_group)
{
	struct task_group *g;
	int r;

	g = fail_now() ? NULL : aligned_alloc(CACHELINE, sizeof(*g));
	if (!g)
		return -ENOMEM;
	memset(g, 0, sizeof(*g));
	g->pool = pool;
	cancel_init(&g->cancel, parent);
	atomic_init(&g->pending, 0);
	r = pthread_mutex_init(&g->lock, NULL);
	if (r) {
		free(g);
		return -r;
	}
	r = pthread_cond_init(&g->done, NULL);
	if (r) {
		pthread_mutex_destroy(&g->lock);
		free(g);
		return -r;
	}
	*ret_group = g;
	return 0;
}

int task_group_new(struct task_pool *pool, const struct cancel *parent,
		   struct task_group **ret_group)
{
	int r = group_new(pool, parent, ret_group);

	if (r == 0)
		atomic_fetch_add(&pool->ngroups, 1);
	return r;
}

void task_group_free(struct task_group *group)
{
	if (!group)
		return;
	/* A last release may still be inside its locked step: let it leave first. */
	pthread_mutex_lock(&group->lock);
	assert(atomic_load(&group->pending) == 0);
	pthread_mutex_unlock(&group->lock);
	atomic_fetch_sub(&group->pool->ngroups, 1);
	group_destroy(group);
}

void task_group_submit(struct task_group *group, struct task *task)
{
	struct task_pool *pool = group->pool;

	atomic_fetch_add(&group->pending, 1);
	task->group = group;
	inject_push(pool, task);
	wake_one(pool);
}

void task_group_hold(struct task_group *group)
{
	atomic_fetch_add(&group->pending, 1);
}

void task_group_release(struct task_group *group)
{
	group_put(group);
}

void task_group_wait(struct task_group *group)
{
	assert(!self);
	pthread_mutex_lock(&group->lock);
	while (atomic_load(&group->pending) != 0)
		pthread_cond_wait(&group->done, &group->lock);
	pthread_mutex_unlock(&group->lock);
}

bool task_group_done(struct task_group *group)
{
	return atomic_load(&group->pending) == 0;
}

void task_group_cancel(struct task_group *group)
{
	cancel_request(&group->cancel, 0);
}

bool task_group_cancelled(const struct task_group *group)
{
	return cancel_requested(&group->cancel);
}

const struct cancel *task_group_cancel_token(const struct task_group *group)
{
	return &group->cancel;
}

/* ---- the calling worker ------------------------------------------------ */

int task_spawn(struct task_worker *worker, struct task *task)
{
	return queue_local(worker, worker->cur ? worker->cur : worker->pool->dflt, task);
}

int task_spawn_group(struct task_worker *worker, struct task_group *group, struct task *task)
{
	return queue_local(worker, group, task);
}

bool task_cancelled(const struct task_worker *worker)
{
	return worker->cur && task_group_cancelled(worker->cur);
}

struct task_group *task_worker_group(const struct task_worker *worker)
{
	return worker->cur;
}

unsigned task_worker_id(const struct task_worker *worker)
{
	return worker->id;
}

struct task_pool *task_worker_pool(const struct task_worker *worker)
{
	return worker->pool;
}

/* ---- the pool ---------------------------------------------------------- */

static int pool_locks_init(struct task_pool *pool)
{
	int r;

	r = pthread_mutex_init(&pool->park_lock, NULL);
	if (r)
		return -r;
	r = pthread_cond_init(&pool->park_cond, NULL);
	if (r)
		goto out_park_lock;
	r = pthread_mutex_init(&pool->inject_lock, NULL);
	if (r)
		goto out_park_cond;
	return 0;

out_park_cond:
	pthread_cond_destroy(&pool->park_cond);
out_park_lock:
	pthread_mutex_destroy(&pool->park_lock);
	return -r;
}

int task_pool_new(unsigned nworkers, struct task_pool **ret_pool)
{
	struct task_pool *pool;
	size_t size;
	int r;

	if (nworkers == 0)
		return -EINVAL;
	/* Both sizes are multiples of CACHELINE, as aligned_alloc() wants. */
	if (__builtin_mul_overflow(nworkers, sizeof(pool->workers[0]), &size) ||
	    __builtin_add_overflow(size, sizeof(*pool), &size))
		return -ENOMEM;
	pool = fail_now() ? NULL : aligned_alloc(CACHELINE, size);
	if (!pool)
		return -ENOMEM;
	memset(pool, 0, size);
	pool->nworkers = nworkers;
	pool->inject_tail = &pool->inject_head;
	r = pool_locks_init(pool);
	if (r < 0) {
		free(pool);
		return r;
	}
	r = group_new(pool, NULL, &pool->dflt);
	if (r < 0)
		goto out_free;
	for (; pool->ninit < nworkers; pool->ninit++) {
		struct task_worker *w = &pool->workers[pool->ninit];

		r = deque_init(&w->dq);
		if (r < 0)
			goto out_free;
		w->pool = pool;
		w->id = pool->ninit;
		w->rng = 2654435761u * (w->id + 1); /* xorshift needs a nonzero seed */
	}
	*ret_pool = pool;
	return 0;

out_free:
	task_pool_free(pool);
	return r;
}

void task_pool_free(struct task_pool *pool)
{
	if (!pool)
		return;
	assert(pool->nthreads == 0 && atomic_load(&pool->ngroups) == 0);
	for (unsigned i = 0; i < pool->ninit; i++) {
		pthread_mutex_destroy(&pool->workers[i].dq.lock);
		free(pool->workers[i].dq.buf);
	}
	/* Tasks still queued are never run; they were and stay their owners'. */
	if (pool->dflt)
		group_destroy(pool->dflt);
	pthread_mutex_destroy(&pool->inject_lock);
	pthread_cond_destroy(&pool->park_cond);
	pthread_mutex_destroy(&pool->park_lock);
	free(pool);
}

unsigned task_pool_workers(const struct task_pool *pool)
{
	return pool->nworkers;
}

int task_pool_start(struct task_pool *pool)
{
	int r;

	assert(!self && pool->nthreads == 0);
	atomic_store(&pool->until, NULL);
	atomic_store(&pool->stopping, false);
	for (unsigned i = 0; i < pool->nworkers; i++) {
		r = start_thread(&pool->workers[i]);
		if (r < 0) {
			task_pool_stop(pool);
			return r;
		}
		pool->nthreads++;
	}
	return 0;
}

void task_pool_stop(struct task_pool *pool)
{
	assert(!self);
	if (pool->nthreads == 0)
		return;
	/* Under the park lock, so that no parker misses it (see "Parking"). */
	pthread_mutex_lock(&pool->park_lock);
	atomic_store(&pool->stopping, true);
	pthread_cond_broadcast(&pool->park_cond);
	pthread_mutex_unlock(&pool->park_lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->workers[i].thread, NULL);
	pool->nthreads = 0;
	atomic_store(&pool->stopping, false);
}

void task_pool_set_idle(struct task_pool *pool, task_idle_fn *fn, void *ctx)
{
	pool->idle_fn = fn;
	pool->idle_ctx = ctx;
}

void task_pool_stats(const struct task_pool *pool, struct task_stats *ret_stats)
{
	struct task_stats sum = {0};

	for (unsigned i = 0; i < pool->nworkers; i++) {
		const struct worker_stats *s = &pool->workers[i].stats;
		uint64_t depth = atomic_load_explicit(&s->max_depth, memory_order_relaxed);

		sum.run += atomic_load_explicit(&s->run, memory_order_relaxed);
		sum.steals += atomic_load_explicit(&s->steals, memory_order_relaxed);
		sum.parks += atomic_load_explicit(&s->parks, memory_order_relaxed);
		if (depth > sum.max_depth)
			sum.max_depth = depth;
	}
	*ret_stats = sum;
}

/* ---- one job at a time ------------------------------------------------- */

void task_pool_submit(struct task_pool *pool, struct task *task)
{
	task_group_submit(pool->dflt, task);
}

int task_pool_run(struct task_pool *pool)
{
	unsigned started = 0;
	int r = 0;

	assert(!self);
	if (pool->nthreads) {
		task_group_wait(pool->dflt);
		return 0;
	}
	if (task_group_done(pool->dflt) && !pool_has_work(pool))
		return 0;
	atomic_store(&pool->until, pool->dflt);
	for (; started < pool->nworkers; started++) {
		r = start_thread(&pool->workers[started]);
		if (r < 0)
			break;
	}
	/* With no thread, the caller is worker 0 (no deque but a thread's own is ever pushed to).
	 */
	if (started == 0) {
		self = &pool->workers[0];
		worker_loop(self);
		self = NULL;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(pool->workers[i].thread, NULL);
	atomic_store(&pool->until, NULL);
	return r;
}
