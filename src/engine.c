/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the shared machinery of one process's jobs (engine.h).
 *
 * Rings.  Each worker has one ring, made the first time a job reads content
 * on that worker and used by every job after: a request names its own
 * callbacks, so reads of a scan and of a dups pass can be in flight on one
 * ring at once.  The ring is only touched by its worker, in tasks (submit,
 * poll) and in the idle hook, so it needs no lock; only its counters are
 * read from elsewhere (engine_ring_stats(), when a job ends while others
 * read), so the pointer is published atomically and the counters are atomic.
 *
 * The idle hook (task.h) is the pool's only one.  A worker with no task:
 *   1. once the process ran out of descriptors (engine_starve()), lets its
 *      idle ring give its own back;
 *   2. with reads deferred after EMFILE (engine_defer()) and nothing in
 *      flight, gives the ring's descriptors back, waits a moment
 *      (walk_fd_backoff()) and submits them again;
 *   3. else waits for one read in flight to complete (ring_idle()).
 * It returns true while the worker has reads in flight or deferred, so the
 * worker neither parks nor leaves with work outside the pool.  Each job
 * holds its task group for every read it started (task_group_hold()), so
 * waiting for a job covers its reads wherever they complete.
 *
 * Mount tables are never freed before the engine: a refresh pushes a new
 * one on a list, and a lookup that read the old pointer keeps a valid table.
 */
#include "engine.h"

#include "mountinfo.h"
#include "readhash.h"
#include "ring.h"
#include "task.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOUNTINFO "/proc/self/mountinfo"

struct engine_worker {
	_Atomic(struct ring *) ring;	/* its worker's; published for engine_ring_stats() */
	struct readhash *deferred;	/* reads to submit again once the ring is idle */
} __attribute__((aligned(64)));

struct mount_list {
	struct mount_table *table;
	struct mount_list *older;
};

struct engine {
	struct store *store;
	struct store_writer *writer;
	struct task_pool *pool;
	struct engine_worker *workers;
	unsigned nworkers;
	struct walk_fd_plan plan;
	const struct cancel *cancel;
	atomic_uint fds_left;		/* of plan.cache, not taken by a running walk */
	atomic_bool starved;
	atomic_int ring_error;		/* first error of an idle ring (logged by nobody) */
	pthread_mutex_t mounts_lock;
	pthread_mutex_t plan_lock;	/* engine_plan_lock() */
	_Atomic(struct mount_list *) mounts;
};

static void retry_deferred(struct engine_worker *ew)
{
	struct readhash *rh = ew->deferred;

	ew->deferred = NULL;
	ring_give_back(ew->ring);
	walk_fd_backoff(rh->emfile_tries);
	while (rh) {
		struct readhash *next = rh->next_later;

		readhash_retry(rh);
		rh = next;
	}
}

static bool engine_idle(void *ctx, struct task_worker *tw)
{
	struct engine *e = ctx;
	struct engine_worker *ew = &e->workers[task_worker_id(tw)];
	int r, expected = 0;

	if (!ew->ring)
		return false;
	if (ew->deferred && ring_inflight(ew->ring) == 0) {
		retry_deferred(ew);
		return true;
	}
	if (atomic_load_explicit(&e->starved, memory_order_relaxed))
		ring_give_back(ew->ring);
	r = ring_idle(ew->ring);
	if (r < 0) {
		atomic_compare_exchange_strong(&e->ring_error, &expected, r);
		return ring_inflight(ew->ring) > 0 || ew->deferred;
	}
	return r > 0 || ew->deferred;
}

/* Fit the workers into the descriptors left free; -EMFILE fills *sh. */
static int plan_fds(struct engine *e, const struct engine_opts *opts,
		    struct engine_fd_shortage *sh)
{
	unsigned jobs = opts->jobs, limit = 0;
	int nfree, r;

	if (!jobs) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		jobs = n > 0 ? (unsigned)n : 1;
	}
	nfree = walk_fds_free(&limit);
	r = nfree < 0 ? nfree : walk_fd_plan((unsigned)nfree, jobs, opts->io_mode, &e->plan);
	if (r == -EMFILE && sh) {
		sh->limit = limit;
		sh->used = (unsigned)nfree < limit ? limit - (unsigned)nfree : 0;
		sh->needed = walk_fd_min(opts->io_mode);
	}
	return r;
}

int engine_new(struct store *store, const struct engine_opts *opts, struct engine **ret_engine,
	       struct engine_fd_shortage *ret_short)
{
	struct engine *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	e->store = store;
	e->cancel = opts->cancel;
	pthread_mutex_init(&e->mounts_lock, NULL);
	pthread_mutex_init(&e->plan_lock, NULL);
	r = plan_fds(e, opts, ret_short);
	if (r < 0)
		goto fail;
	e->nworkers = e->plan.jobs;
	atomic_init(&e->fds_left, e->plan.cache);
	e->workers = aligned_alloc(64, sizeof(*e->workers) * e->nworkers);
	if (!e->workers) {
		r = -ENOMEM;
		goto fail;
	}
	memset(e->workers, 0, sizeof(*e->workers) * e->nworkers);
	if (opts->write) {
		r = store_writer_start(store, &opts->writer, &e->writer);
		if (r < 0)
			goto fail;
	}
	r = task_pool_new(e->nworkers, &e->pool);
	if (r < 0)
		goto fail;
	task_pool_set_idle(e->pool, engine_idle, e);
	r = task_pool_start(e->pool);
	if (r < 0)
		goto fail;
	*ret_engine = e;
	return 0;
fail:
	engine_free(e, NULL);
	return r;
}

int engine_free(struct engine *e, struct store_write_stats *ret_stats)
{
	struct mount_list *m;
	int r = 0;

	if (ret_stats)
		*ret_stats = (struct store_write_stats){ 0 };
	if (!e)
		return 0;
	if (e->pool) {
		task_pool_stop(e->pool);
		task_pool_free(e->pool);
	}
	/* Reads still in flight finish first: their records go to their jobs' batches. */
	for (unsigned i = 0; e->workers && i < e->nworkers; i++)
		ring_free(e->workers[i].ring);
	free(e->workers);
	if (e->writer)
		r = store_writer_finish(e->writer, ret_stats);
	m = atomic_load(&e->mounts);
	while (m) {
		struct mount_list *older = m->older;

		mount_table_free(m->table);
		free(m);
		m = older;
	}
	pthread_mutex_destroy(&e->mounts_lock);
	pthread_mutex_destroy(&e->plan_lock);
	free(e);
	return r;
}

struct store *engine_store(const struct engine *e)
{
	return e->store;
}

struct store_writer *engine_writer(const struct engine *e)
{
	return e->writer;
}

struct task_pool *engine_pool(const struct engine *e)
{
	return e->pool;
}

unsigned engine_workers(const struct engine *e)
{
	return e->nworkers;
}

const struct cancel *engine_cancel(const struct engine *e)
{
	return e->cancel;
}

const struct walk_fd_plan *engine_fd_plan(const struct engine *e)
{
	return &e->plan;
}

int engine_ring(struct engine *e, struct task_worker *tw, struct ring **ret_ring)
{
	struct engine_worker *ew = &e->workers[task_worker_id(tw)];

	if (!ew->ring) {
		struct ring *ring;
		int r = ring_new(e->plan.io_mode, e->plan.depth, &ring);

		if (r < 0)
			return r;
		atomic_store_explicit(&ew->ring, ring, memory_order_release);
	}
	if (atomic_load_explicit(&e->starved, memory_order_relaxed))
		ring_give_back(ew->ring);
	*ret_ring = ew->ring;
	return 0;
}

void engine_ring_stats(const struct engine *e, struct ring_stats *ret)
{
	struct ring_stats sum = { 0 };

	for (unsigned i = 0; i < e->nworkers; i++) {
		struct ring *ring = atomic_load_explicit(&e->workers[i].ring, memory_order_acquire);
		struct ring_stats s;

		if (!ring)
			continue;
		ring_stats(ring, &s);
		sum.files += s.files;
		sum.bytes += s.bytes;
		if (s.peak_inflight > sum.peak_inflight)
			sum.peak_inflight = s.peak_inflight;
		sum.uring |= s.uring;
	}
	*ret = sum;
}

unsigned engine_fds_take(struct engine *e, unsigned want)
{
	unsigned left = atomic_load(&e->fds_left), got;

	do
		got = want < left ? want : left;
	while (!atomic_compare_exchange_weak(&e->fds_left, &left, left - got));
	return got;
}

void engine_fds_give(struct engine *e, unsigned n)
{
	atomic_fetch_add(&e->fds_left, n);
}

void engine_starve(struct engine *e)
{
	atomic_store_explicit(&e->starved, true, memory_order_relaxed);
}

bool engine_starved(const struct engine *e)
{
	return atomic_load_explicit(&e->starved, memory_order_relaxed);
}

void engine_defer(struct engine *e, unsigned worker, struct readhash *rh)
{
	struct engine_worker *ew = &e->workers[worker];

	engine_starve(e);
	rh->next_later = ew->deferred;
	ew->deferred = rh;
}

void engine_plan_lock(struct engine *e)
{
	pthread_mutex_lock(&e->plan_lock);
}

void engine_plan_unlock(struct engine *e)
{
	pthread_mutex_unlock(&e->plan_lock);
}

int engine_refresh_mounts(struct engine *e)
{
	struct mount_list *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = mount_table_load(MOUNTINFO, &m->table);
	if (r < 0) {
		free(m);
		return r;
	}
	pthread_mutex_lock(&e->mounts_lock);
	m->older = atomic_load(&e->mounts);
	atomic_store(&e->mounts, m);
	pthread_mutex_unlock(&e->mounts_lock);
	return 0;
}

const struct mount_table *engine_mounts(struct engine *e)
{
	struct mount_list *m = atomic_load(&e->mounts);

	if (!m && engine_refresh_mounts(e) == 0)
		m = atomic_load(&e->mounts);
	return m ? m->table : NULL;
}
