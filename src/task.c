/* SPDX-License-Identifier: MIT */
/*
 * task.c - the work-stealing pool.
 *
 * The scheduling idea is Blumofe and Leiserson's work stealing ("Scheduling
 * multithreaded computations by work stealing", JACM 1999): each worker treats
 * its own deque as a stack and takes the newest task, so it runs the tree
 * depth-first and its frontier stays small; an idle worker takes the *oldest*
 * task of a victim, which is the root of the largest unexplored subtree, so
 * one steal buys much work and thieves rarely meet the owner.  The deque's
 * shape (a power-of-two ring indexed by two ever-growing counters, grown by
 * copying into a ring twice the size) is the one of Chase and Lev, "Dynamic
 * circular work-stealing deque" (SPAA 2005), but each deque is guarded by a
 * mutex instead of their fences and CAS: with two cores the lock is almost
 * never contended, and ThreadSanitizer can check it (it does not model the
 * standalone fences Chase-Lev needs; STYLE.md section 7).
 *
 *	task_pool_submit() ──► worker 0 ┌──────────────────────┐
 *	                                │ top              bot │ ◄── task_spawn() pushes,
 *	      thieves take the oldest ◄─┤ t0 t1 t2 ...      tn │ ──► owner pops the newest
 *	                                └──────────────────────┘
 *
 * Termination: @pending counts tasks queued or running.  It goes up before a
 * task is pushed and down after its function returns, so it is zero only
 * when nothing is left anywhere; whoever brings it to zero wakes everyone and
 * the workers exit.  A task submitted from outside after that moment stays
 * queued for the next task_pool_run().
 *
 * Parking: a worker that finds nothing after SPIN_ROUNDS sweeps over every
 * victim sleeps on @park_cond.  It announces itself in @parked and re-checks
 * every deque under @park_lock before waiting; a pusher unlocks its deque and
 * only then reads @parked, so either the parker sees the new task or the
 * pusher sees the parker and signals it (the deque lock orders the two).
 * The hot path, a push with nobody parked, costs one atomic load.
 *
 * Outside work: a worker may own I/O in flight (its ring).  When it finds no
 * task, the idle hook reaps and briefly waits for that I/O; while the hook
 * says work is outstanding the worker neither parks nor exits, so each ring
 * is drained by the one thread allowed to touch it.
 *
 * No memory is allocated per task: tasks are the caller's and the deques only
 * grow (doubling, 8 bytes a task).  A deque that cannot grow is fatal (log
 * and abort), as task_spawn() and task_pool_submit() return void.  Counters
 * are per worker and add up over all runs since task_pool_new().  Workers
 * inherit the signal mask of task_pool_run()'s caller: block signals there
 * to keep them off the pool's threads.
 */
#include "task.h"

#include "log.h"
#include "util.h"

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
#define CACHELINE 64

struct deque {
	pthread_mutex_t lock;
	struct task **buf;
	size_t mask;   /* capacity - 1; capacity is a power of two */
	size_t top;    /* index of the oldest task; thieves take from here */
	size_t bottom; /* one past the newest task; the owner's end */
};

/* Aligned so that two workers' deques and counters never share a cache line. */
struct task_worker {
	struct deque dq;
	struct task_pool *pool;
	pthread_t thread;
	unsigned id;
	uint32_t rng;		 /* victim choice; only the owning thread uses it */
	struct task_stats stats; /* max_depth under dq.lock, the rest owner-only */
} __attribute__((aligned(CACHELINE)));

struct task_pool {
	unsigned nworkers;
	unsigned ninit;	    /* workers whose deque is initialised */
	atomic_uint parked; /* workers in park(); read on every push */
	task_idle_fn *idle_fn; /* outside work (I/O) of an idle worker */
	void *idle_ctx;
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	/* Written by every task start and end: keep it off the line above. */
	_Alignas(CACHELINE) atomic_size_t pending;
	struct task_worker workers[];
};

static int deque_init(struct deque *dq)
{
	int r;

	dq->buf = malloc(DEQUE_INIT_CAP * sizeof(*dq->buf));
	if (!dq->buf)
		return -ENOMEM;
	r = pthread_mutex_init(&dq->lock, NULL);
	if (r) {
		free(dq->buf);
		return -r;
	}
	dq->mask = DEQUE_INIT_CAP - 1;
	dq->top = dq->bottom = 0;
	return 0;
}

/* Double the ring.  Indices stay valid: only the mask that maps them changes. */
static int deque_grow(struct deque *dq)
{
	size_t cap = dq->mask + 1, newmask = 2 * cap - 1;
	struct task **buf;

	if (cap > SIZE_MAX / 2 / sizeof(*buf))
		return -ENOMEM;
	buf = malloc(2 * cap * sizeof(*buf));
	if (!buf)
		return -ENOMEM;
	for (size_t i = dq->top; i != dq->bottom; i++)
		buf[i & newmask] = dq->buf[i & dq->mask];
	free(dq->buf);
	dq->buf = buf;
	dq->mask = newmask;
	return 0;
}

static int deque_push(struct task_worker *w, struct task *task)
{
	struct deque *dq = &w->dq;
	size_t depth;
	int r = 0;

	pthread_mutex_lock(&dq->lock);
	depth = dq->bottom - dq->top;
	if (depth > dq->mask)
		r = deque_grow(dq);
	if (r == 0) {
		dq->buf[dq->bottom++ & dq->mask] = task;
		if (depth + 1 > w->stats.max_depth)
			w->stats.max_depth = depth + 1;
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
			task = dq->buf[--dq->bottom & dq->mask];
		else
			task = dq->buf[dq->top++ & dq->mask];
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

static bool pool_has_work(struct task_pool *pool)
{
	for (unsigned i = 0; i < pool->nworkers; i++) {
		if (!deque_empty(&pool->workers[i].dq))
			return true;
	}
	return false;
}

/* Called after a push, with no deque lock held. */
static void wake_one(struct task_pool *pool)
{
	if (atomic_load(&pool->parked) == 0)
		return;
	pthread_mutex_lock(&pool->park_lock);
	pthread_cond_signal(&pool->park_cond);
	pthread_mutex_unlock(&pool->park_lock);
}

static void queue_task(struct task_worker *w, struct task *task)
{
	atomic_fetch_add(&w->pool->pending, 1);
	if (deque_push(w, task) < 0) {
		/*
		 * The void API cannot report it, and running the task here
		 * instead would re-enter the caller's per-worker state.
		 */
		log_error("task pool: out of memory queueing a task");
		abort();
	}
	wake_one(w->pool);
}

static void run_task(struct task_worker *w, struct task *task)
{
	struct task_pool *pool = w->pool;

	/* @task may be freed by its function: do not touch it afterwards. */
	task->fn(task, w);
	w->stats.run++;
	if (atomic_fetch_sub(&pool->pending, 1) == 1) {
		pthread_mutex_lock(&pool->park_lock);
		pthread_cond_broadcast(&pool->park_cond);
		pthread_mutex_unlock(&pool->park_lock);
	}
}

/* xorshift32: any cheap spread of start victims will do. */
static unsigned next_victim(struct task_worker *w, unsigned n)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 17;
	w->rng ^= w->rng << 5;
	return w->rng % n;
}

static struct task *find_task(struct task_worker *w)
{
	struct task_pool *pool = w->pool;
	unsigned n = pool->nworkers, start;
	struct task *task;

	task = deque_take(&w->dq, true);
	if (task || n == 1)
		return task;
	start = next_victim(w, n);
	for (unsigned i = 0; i < n; i++) {
		struct task_worker *victim = &pool->workers[(start + i) % n];

		if (victim == w)
			continue;
		task = deque_take(&victim->dq, false);
		if (task) {
			w->stats.steals++;
			return task;
		}
	}
	return NULL;
}

static void park(struct task_worker *w)
{
	struct task_pool *pool = w->pool;

	pthread_mutex_lock(&pool->park_lock);
	atomic_fetch_add(&pool->parked, 1);
	if (atomic_load(&pool->pending) != 0 && !pool_has_work(pool)) {
		w->stats.parks++;
		pthread_cond_wait(&pool->park_cond, &pool->park_lock);
	}
	atomic_fetch_sub(&pool->parked, 1);
	pthread_mutex_unlock(&pool->park_lock);
}

static void worker_loop(struct task_worker *w)
{
	unsigned idle = 0;

	for (;;) {
		struct task *task = find_task(w);

		if (task) {
			run_task(w, task);
			idle = 0;
		} else if (w->pool->idle_fn && w->pool->idle_fn(w->pool->idle_ctx, w)) {
			/* It waited on its own I/O; look for tasks again. */
			idle = 0;
		} else if (atomic_load(&w->pool->pending) == 0) {
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
	worker_loop(arg);
	return NULL;
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
	pool = aligned_alloc(CACHELINE, size);
	if (!pool)
		return -ENOMEM;
	memset(pool, 0, size);
	pool->nworkers = nworkers;
	r = pthread_mutex_init(&pool->park_lock, NULL);
	if (r) {
		free(pool);
		return -r;
	}
	r = pthread_cond_init(&pool->park_cond, NULL);
	if (r) {
		pthread_mutex_destroy(&pool->park_lock);
		free(pool);
		return -r;
	}
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
	for (unsigned i = 0; i < pool->ninit; i++) {
		pthread_mutex_destroy(&pool->workers[i].dq.lock);
		free(pool->workers[i].dq.buf);
	}
	pthread_cond_destroy(&pool->park_cond);
	pthread_mutex_destroy(&pool->park_lock);
	free(pool);
}

unsigned task_pool_workers(const struct task_pool *pool)
{
	return pool->nworkers;
}

void task_pool_submit(struct task_pool *pool, struct task *task)
{
	queue_task(&pool->workers[0], task);
}

void task_spawn(struct task_worker *worker, struct task *task)
{
	queue_task(worker, task);
}

int task_pool_run(struct task_pool *pool)
{
	unsigned started = 0;
	int r = 0;

	if (atomic_load(&pool->pending) == 0)
		return 0;
	for (; started < pool->nworkers; started++) {
		struct task_worker *w = &pool->workers[started];

		r = -pthread_create(&w->thread, NULL, worker_main, w);
		if (r < 0)
			break;
	}

	/* Worker 0 holds the submitted tasks; with no thread, the caller is worker 0. */
	if (started == 0)
		worker_loop(&pool->workers[0]);
	for (unsigned i = 0; i < started; i++)
		pthread_join(pool->workers[i].thread, NULL);
	return r;
}

void task_pool_set_idle(struct task_pool *pool, task_idle_fn *fn, void *ctx)
{
	pool->idle_fn = fn;
	pool->idle_ctx = ctx;
}

unsigned task_worker_id(const struct task_worker *worker)
{
	return worker->id;
}

struct task_pool *task_worker_pool(const struct task_worker *worker)
{
	return worker->pool;
}

void task_pool_stats(const struct task_pool *pool, struct task_stats *ret_stats)
{
	struct task_stats sum = {0};

	for (unsigned i = 0; i < pool->nworkers; i++) {
		const struct task_stats *s = &pool->workers[i].stats;

		sum.run += s->run;
		sum.steals += s->steals;
		sum.parks += s->parks;
		if (s->max_depth > sum.max_depth)
			sum.max_depth = s->max_depth;
	}
	*ret_stats = sum;
}
