/* SPDX-License-Identifier: MIT */
/*
 * test-task.c - the work-stealing pool, one job at a time (task_pool_run()):
 * every task runs exactly once however many there are, stealing really
 * happens, one worker runs submissions in order and spawns newest-first and
 * never steals, an idle worker sleeps, tasks submitted from outside (before
 * and during a run) are run, and a pool can be run again.  Out of memory and
 * thread starts that fail, by fault injection, for both the one-job and the
 * persistent API.  Job groups on a started pool: test-task-group.c.
 *
 * Tests that need another worker to act never rely on timing alone: the task
 * holding the first worker waits (up to WAIT_NS) until the other has acted.
 * A hang (a wait that never returns) is ended by alarm() in main().
 */
#include "task.h"

#include "util.h"

#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* How long a blocking task waits for another worker; only a failure takes this long. */
#define WAIT_NS (10 * 1000000000LL)

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	nanosleep(&ts, NULL);
}

/* Wait until *@flag is set or WAIT_NS passed; returns the flag. */
static bool wait_flag(atomic_bool *flag)
{
	int64_t deadline = now_mono_ns() + WAIT_NS;

	while (!atomic_load(flag) && now_mono_ns() < deadline)
		sleep_ns(100000);
	return atomic_load(flag);
}

/* ---- trees of counted tasks ------------------------------------------- */

struct node {
	struct task task;
	atomic_uint hits;
};

static struct node *nodes;
static size_t nnodes;

static size_t node_index(struct task *task)
{
	return (size_t)(container_of(task, struct node, task) - nodes);
}

static void hit(struct task *task, struct task_worker *w)
{
	struct node *n = container_of(task, struct node, task);

	atomic_fetch_add(&n->hits, 1);
}

/* Node i spawns 2i+1 and 2i+2: a complete binary tree, split by stealing. */
static void tree_fn(struct task *task, struct task_worker *w)
{
	size_t i = node_index(task);

	hit(task, w);
	for (size_t c = 2 * i + 1; c <= 2 * i + 2 && c < nnodes; c++)
		task_spawn(w, &nodes[c].task);
}

/* Node 0 spawns every other node at once, so one deque must grow. */
static void wide_fn(struct task *task, struct task_worker *w)
{
	hit(task, w);
	for (size_t c = 1; c < nnodes; c++)
		task_spawn(w, &nodes[c].task);
}

static void nodes_setup(size_t n, task_fn *root_fn, task_fn *fn)
{
	nodes = calloc(n, sizeof(*nodes));
	if (!nodes)
		abort();
	nnodes = n;
	for (size_t i = 0; i < n; i++)
		nodes[i].task.fn = i == 0 ? root_fn : fn;
}

static bool nodes_all_once(void)
{
	for (size_t i = 0; i < nnodes; i++) {
		if (atomic_load(&nodes[i].hits) != 1) {
			diag("node %zu ran %u times", i, atomic_load(&nodes[i].hits));
			return false;
		}
	}
	return true;
}

static void nodes_reset(void)
{
	for (size_t i = 0; i < nnodes; i++)
		atomic_store(&nodes[i].hits, 0);
}

static struct task_pool *pool_new(unsigned nworkers)
{
	struct task_pool *pool;

	if (task_pool_new(nworkers, &pool) < 0)
		abort();
	return pool;
}

static struct task_group *group_new(struct task_pool *pool, const struct cancel *parent)
{
	struct task_group *g;

	if (task_group_new(pool, parent, &g) < 0)
		abort();
	return g;
}

/* Run a @n-task binary tree @rounds times on one pool. */
static void test_tree(unsigned nworkers, size_t n, int rounds)
{
	struct task_pool *pool = pool_new(nworkers);
	struct task_stats st;
	int r;

	nodes_setup(n, tree_fn, tree_fn);
	for (int round = 1; round <= rounds; round++) {
		nodes_reset();
		task_pool_submit(pool, &nodes[0].task);
		r = task_pool_run(pool);
		task_pool_stats(pool, &st);
		ok(r == 0 && nodes_all_once(),
		   "%u worker(s), run %d: each of %zu tree tasks ran once", nworkers, round, n);
		ok(st.run == (uint64_t)round * n,
		   "%u worker(s), run %d: stats.run %llu (cumulative)", nworkers, round,
		   (unsigned long long)st.run);
	}
	diag("%u worker(s): steals %llu parks %llu max_depth %llu", nworkers,
	     (unsigned long long)st.steals, (unsigned long long)st.parks,
	     (unsigned long long)st.max_depth);
	if (nworkers == 1)
		ok(st.steals == 0 && st.parks == 0, "1 worker: no steals (%llu), no parks (%llu)",
		   (unsigned long long)st.steals, (unsigned long long)st.parks);
	free(nodes);
	task_pool_free(pool);
}

#define WIDE_N 100001 /* a root and 100,000 children: the deque grows 9 times */

static void test_wide(unsigned nworkers)
{
	struct task_pool *pool = pool_new(nworkers);
	struct task_stats st;
	int r;

	nodes_setup(WIDE_N, wide_fn, hit);
	task_pool_submit(pool, &nodes[0].task);
	r = task_pool_run(pool);
	task_pool_stats(pool, &st);
	ok(r == 0 && nodes_all_once() && st.run == WIDE_N,
	   "%u worker(s): a task spawning %d children, each ran once", nworkers, WIDE_N - 1);
	/* Alone, the root pushes every child before anything is popped. */
	if (nworkers == 1)
		ok(st.max_depth == WIDE_N - 1, "1 worker: max_depth %llu == %d",
		   (unsigned long long)st.max_depth, WIDE_N - 1);
	free(nodes);
	task_pool_free(pool);
}

/* Tasks queued from outside before the run: they wait in the submission queue, on no deque. */
static void test_submit_before_run(void)
{
	struct task_pool *pool = pool_new(4);
	struct task_stats st;
	int r;

	nodes_setup(1000, hit, hit);
	for (size_t i = 0; i < nnodes; i++)
		task_pool_submit(pool, &nodes[i].task);
	r = task_pool_run(pool);
	task_pool_stats(pool, &st);
	ok(r == 0 && nodes_all_once() && st.run == 1000,
	   "1000 tasks submitted before the run: each ran once");
	ok(st.max_depth == 0, "none of them sat on a deque (max_depth %llu)",
	   (unsigned long long)st.max_depth);
	free(nodes);
	task_pool_free(pool);
}

/* ---- stealing, made certain ------------------------------------------- */

#define KIDS 64

static struct task steal_root;
static struct node kids[KIDS];
static atomic_uint root_worker;
static atomic_bool stolen; /* a kid ran on another worker than the root */
static bool root_saw_steal;

static void kid_fn(struct task *task, struct task_worker *w)
{
	struct node *n = container_of(task, struct node, task);
	volatile unsigned sink = 0;

	atomic_fetch_add(&n->hits, 1);
	for (unsigned i = 0; i < 10000; i++) /* a little work, so kids are worth stealing */
		sink += i;
	(void)sink;
	if (task_worker_id(w) != atomic_load(&root_worker))
		atomic_store(&stolen, true);
}

/* Spawn the kids on our own deque, then keep our worker busy until another took one. */
static void steal_root_fn(struct task *task, struct task_worker *w)
{
	atomic_store(&root_worker, task_worker_id(w));
	for (int i = 0; i < KIDS; i++)
		task_spawn(w, &kids[i].task);
	root_saw_steal = wait_flag(&stolen);
}

static void test_steal(unsigned nworkers)
{
	struct task_pool *pool = pool_new(nworkers);
	struct task_stats st;
	bool once = true;
	int r;

	atomic_store(&stolen, false);
	root_saw_steal = false;
	steal_root.fn = steal_root_fn;
	for (int i = 0; i < KIDS; i++) {
		kids[i].task.fn = kid_fn;
		atomic_store(&kids[i].hits, 0);
	}
	task_pool_submit(pool, &steal_root);
	r = task_pool_run(pool);
	task_pool_stats(pool, &st);
	for (int i = 0; i < KIDS; i++)
		once = once && atomic_load(&kids[i].hits) == 1;
	ok(r == 0 && root_saw_steal, "%u workers: a spawned task ran on another worker", nworkers);
	ok(st.steals >= 1, "%u workers: stats.steals %llu >= 1", nworkers,
	   (unsigned long long)st.steals);
	ok(once && st.run == KIDS + 1, "%u workers: all %d tasks ran once", nworkers, KIDS + 1);
	task_pool_free(pool);
}

/* ---- one worker: submissions in order, spawns newest first ------------- */

static struct task order_tasks[5]; /* X Y Z, and Z's children Z1 Z2 */
static int order_log[5];
static int order_len;
static bool order_ctx_ok = true;
static struct task_pool *order_pool;

static void order_fn(struct task *task, struct task_worker *w)
{
	int i = (int)(task - order_tasks);

	order_log[order_len++] = i;
	if (task_worker_pool(w) != order_pool || task_worker_id(w) != 0)
		order_ctx_ok = false;
	if (i == 2) {
		task_spawn(w, &order_tasks[3]);
		task_spawn(w, &order_tasks[4]);
	}
}

static void test_lifo(void)
{
	static const int want[5] = {0, 1, 2, 4, 3}; /* X Y Z Z2 Z1 */
	struct task_stats st;
	bool same = true;
	int r;

	order_pool = pool_new(1);
	for (int i = 0; i < 5; i++)
		order_tasks[i].fn = order_fn;
	for (int i = 0; i < 3; i++)
		task_pool_submit(order_pool, &order_tasks[i]);
	r = task_pool_run(order_pool);
	task_pool_stats(order_pool, &st);
	for (int i = 0; i < 5; i++)
		same = same && order_len == 5 && order_log[i] == want[i];
	ok(r == 0 && same,
	   "1 worker: submitted tasks in order, spawned ones newest first (X Y Z Z2 Z1)");
	ok(order_ctx_ok, "task_worker_pool() and task_worker_id() name the running worker");
	ok(st.run == 5 && st.steals == 0, "1 worker: run %llu, steals %llu",
	   (unsigned long long)st.run, (unsigned long long)st.steals);
	task_pool_free(order_pool);
}

/* ---- submitting from outside during a run ------------------------------ */

#define EXTERNAL 200

static struct task_pool *ext_pool;
static struct task ext_root;
static atomic_bool ext_started, ext_done, ext_foreign;
static bool ext_root_ok;

static void ext_fn(struct task *task, struct task_worker *w)
{
	hit(task, w);
	if (task_worker_id(w) != atomic_load(&root_worker))
		atomic_store(&ext_foreign, true);
}

/* Hold one worker until the submitter is done and another worker ran its tasks. */
static void ext_root_fn(struct task *task, struct task_worker *w)
{
	atomic_store(&root_worker, task_worker_id(w));
	atomic_store(&ext_started, true);
	ext_root_ok = wait_flag(&ext_done) && wait_flag(&ext_foreign);
}

static void *submitter(void *arg)
{
	if (wait_flag(&ext_started)) {
		for (size_t i = 0; i < nnodes; i++) {
			/* Pauses let the idle worker park, so submits must wake it. */
			if (i % 50 == 0)
				sleep_ns(2000000);
			task_pool_submit(ext_pool, &nodes[i].task);
		}
	}
	atomic_store(&ext_done, true);
	return NULL;
}

static void test_submit_during_run(void)
{
	struct task_stats st;
	pthread_t thread;
	int r;

	ext_pool = pool_new(2);
	nodes_setup(EXTERNAL, ext_fn, ext_fn);
	ext_root.fn = ext_root_fn;
	task_pool_submit(ext_pool, &ext_root);
	if (pthread_create(&thread, NULL, submitter, NULL))
		abort();
	r = task_pool_run(ext_pool);
	pthread_join(thread, NULL);
	task_pool_stats(ext_pool, &st);
	ok(r == 0 && ext_root_ok, "tasks submitted during a run wake and feed the idle worker");
	ok(nodes_all_once() && st.run == EXTERNAL + 1, "all %d of them ran once, in that run",
	   EXTERNAL);
	free(nodes);
	task_pool_free(ext_pool);
}

/* ---- idle workers sleep ------------------------------------------------ */

static void sleepy_fn(struct task *task, struct task_worker *w)
{
	sleep_ns(100000000);
}

static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/*
 * While one task sleeps 100 ms the other worker must park, not spin.  A
 * freshly started thread may, on a loaded machine, not get the CPU in time to
 * park at all; a few attempts make that harmless without hiding a spinner.
 */
static void test_idle_parks(void)
{
	struct task_pool *pool = pool_new(2);
	struct task sleepy = {.fn = sleepy_fn};
	struct task_stats st = {0};
	int64_t cpu = 0;
	bool good = false;

	for (int attempt = 0; attempt < 5 && !good; attempt++) {
		uint64_t parks = st.parks;

		cpu = cpu_ns();
		task_pool_submit(pool, &sleepy);
		task_pool_run(pool);
		cpu = cpu_ns() - cpu;
		task_pool_stats(pool, &st);
		good = st.parks > parks && cpu < 50000000;
	}
	ok(good, "an idle worker parks (parks %llu, %lld ms CPU during a 100 ms task)",
	   (unsigned long long)st.parks, (long long)(cpu / 1000000));
	task_pool_free(pool);
}

/* ---- API edges --------------------------------------------------------- */

/*
 * The idle hook: each task leaves "outside work" (like a read in flight) on
 * its worker; the hook finishes one unit per call, and every fourth unit
 * spawns a follow-up task, as a completion callback may.  The run must not
 * end before every unit is done on the worker that owns it.
 */
struct outside {
	atomic_uint owned[8]; /* units in flight per worker */
	atomic_uint done;
	atomic_uint followups_run;
	struct task followups[4096];
	atomic_uint nfollowups;
};

static struct outside outside;

static void followup_fn(struct task *task, struct task_worker *worker)
{
	atomic_fetch_add(&outside.followups_run, 1);
}

static void producer_fn(struct task *task, struct task_worker *worker)
{
	atomic_fetch_add(&outside.owned[task_worker_id(worker)], 3);
}

static bool idle_hook(void *ctx, struct task_worker *worker)
{
	atomic_uint *mine = &((struct outside *)ctx)->owned[task_worker_id(worker)];
	unsigned n = atomic_load(mine);

	if (n == 0)
		return false;
	atomic_fetch_sub(mine, 1);
	if (atomic_fetch_add(&outside.done, 1) % 4 == 0) {
		unsigned i = atomic_fetch_add(&outside.nfollowups, 1);

		outside.followups[i].fn = followup_fn;
		task_spawn(worker, &outside.followups[i]);
	}
	return true;
}

static void test_idle_hook(unsigned nworkers)
{
	static struct task producers[1000];
	struct task_pool *pool;
	unsigned left = 0;

	memset(&outside, 0, sizeof(outside));
	if (task_pool_new(nworkers, &pool) < 0) {
		ok(false, "idle hook: pool created");
		return;
	}
	task_pool_set_idle(pool, idle_hook, &outside);
	for (int i = 0; i < 1000; i++) {
		producers[i].fn = producer_fn;
		task_pool_submit(pool, &producers[i]);
	}
	ok(task_pool_run(pool) == 0, "idle hook (%u workers): run returns 0", nworkers);
	for (unsigned i = 0; i < nworkers; i++)
		left += atomic_load(&outside.owned[i]);
	ok(left == 0 && atomic_load(&outside.done) == 3000,
	   "idle hook (%u workers): all 3000 units of outside work done before the run ends (%u)",
	   nworkers, atomic_load(&outside.done));
	ok(atomic_load(&outside.followups_run) == atomic_load(&outside.nfollowups) &&
		   atomic_load(&outside.nfollowups) == 750,
	   "idle hook (%u workers): the 750 tasks spawned from the hook ran", nworkers);
	task_pool_free(pool);
}

static void test_api(void)
{
	struct task_pool *pool = (struct task_pool *)&pool; /* must stay untouched */
	struct task_stats st;

	ok(task_pool_new(0, &pool) == -EINVAL && pool == (struct task_pool *)&pool,
	   "task_pool_new(0) is -EINVAL and leaves *ret_pool alone");
	task_pool_free(NULL);
	ok(true, "task_pool_free(NULL) is a no-op");

	pool = pool_new(3);
	ok(task_pool_workers(pool) == 3, "task_pool_workers() is 3");
	ok(task_pool_run(pool) == 0, "running an empty pool returns at once");
	task_pool_stats(pool, &st);
	ok(st.run == 0 && st.steals == 0 && st.parks == 0 && st.max_depth == 0,
	   "an empty run leaves the counters at zero");
	task_pool_free(pool);
}

/* ---- fault injection --------------------------------------------------- */

static void start_or_abort(struct task_pool *pool)
{
	if (task_pool_start(pool) < 0)
		abort();
}

static void test_alloc_failures(void)
{
	struct task_pool *pool = NULL;
	struct task_group *g = NULL;
	unsigned long n;
	int r = -1;

	/* The pool, its default group, one deque per worker: 5 acquisitions for 3 workers. */
	for (n = 1; n < 100; n++) {
		task_debug_fail_at(n);
		r = task_pool_new(3, &pool);
		if (r == 0 || r != -ENOMEM)
			break;
	}
	task_debug_fail_at(0);
	ok(r == 0 && n == 6,
	   "task_pool_new() fails with -ENOMEM at each of its 5 allocations, "
	   "then succeeds (n %lu)",
	   n);
	task_debug_fail_at(1);
	r = task_group_new(pool, NULL, &g);
	task_debug_fail_at(0);
	ok(r == -ENOMEM, "task_group_new() fails with -ENOMEM");
	ok(task_group_new(pool, NULL, &g) == 0, "...and then succeeds");
	task_group_free(g);
	task_pool_free(pool);
}

/* A task that spawns children until the deque must grow, which fails once. */
static struct {
	struct node kids[1000];
	struct task root;
	int failed_at; /* index of the child whose spawn said -ENOMEM, or -1 */
	int other_errors;
} oom;

static void oom_kid_fn(struct task *task, struct task_worker *w)
{
	atomic_fetch_add(&container_of(task, struct node, task)->hits, 1);
}

static void oom_root_fn(struct task *task, struct task_worker *w)
{
	task_debug_fail_at(1); /* the next allocation: the deque's first growth */
	for (int i = 0; i < (int)ARRAY_SIZE(oom.kids); i++) {
		int r = task_spawn(w, &oom.kids[i].task);

		if (r == -ENOMEM && oom.failed_at < 0) {
			oom.failed_at = i;
			r = task_spawn(w, &oom.kids[i].task); /* once more: memory is back */
		}
		if (r != 0)
			oom.other_errors++;
	}
	task_debug_fail_at(0);
}

static void test_spawn_enomem(void)
{
	struct task_pool *pool = pool_new(1);
	struct task_group *g;
	struct task_stats st;
	bool once = true;

	memset(&oom, 0, sizeof(oom));
	oom.failed_at = -1;
	oom.root.fn = oom_root_fn;
	for (size_t i = 0; i < ARRAY_SIZE(oom.kids); i++)
		oom.kids[i].task.fn = oom_kid_fn;
	g = group_new(pool, NULL);
	start_or_abort(pool);
	task_group_submit(g, &oom.root);
	task_group_wait(g);
	task_pool_stop(pool);
	task_pool_stats(pool, &st);
	for (size_t i = 0; i < ARRAY_SIZE(oom.kids); i++)
		once = once && atomic_load(&oom.kids[i].hits) == 1;
	ok(oom.failed_at > 0 && oom.other_errors == 0,
	   "task_spawn() says -ENOMEM when the deque cannot grow (child %d), and works again after",
	   oom.failed_at);
	ok(once && st.run == ARRAY_SIZE(oom.kids) + 1,
	   "the task it refused was not queued: every child ran once (run %llu), the wait returned",
	   (unsigned long long)st.run);
	task_group_free(g);
	task_pool_free(pool);
}

static void test_thread_failures(void)
{
	struct task_pool *pool = pool_new(3);
	struct task_group *g;
	struct task t = {.fn = sleepy_fn};
	int r;

	g = group_new(pool, NULL);
	task_group_submit(g, &t);
	task_debug_fail_at(1);
	r = task_pool_start(pool);
	ok(r == -EAGAIN && !task_group_done(g),
	   "no thread starts: task_pool_start() says -EAGAIN, the task stays queued");
	task_debug_fail_at(3);
	r = task_pool_start(pool);
	ok(r == -EAGAIN && task_group_done(g),
	   "the third thread fails: -EAGAIN, and the stop that follows drained the queue");
	task_debug_fail_at(0);
	start_or_abort(pool);
	task_pool_stop(pool);
	ok(true, "the pool starts and stops after both failures");

	/* task_pool_run(): the threads that started, or the caller, run everything. */
	for (unsigned long n = 1; n <= 2; n++) {
		nodes_setup(5000, tree_fn, tree_fn);
		task_pool_submit(pool, &nodes[0].task);
		task_debug_fail_at(n);
		r = task_pool_run(pool);
		task_debug_fail_at(0);
		ok(r == -EAGAIN && nodes_all_once(),
		   "task_pool_run() with thread %lu failing: -EAGAIN, and all 5000 tasks ran once",
		   n);
		free(nodes);
	}
	task_group_free(g);
	task_pool_free(pool);
}

int main(void)
{
	alarm(300); /* a wait that never returns fails the test instead of hanging it */
	plan_lazy();
	test_api();
	test_lifo();
	test_tree(1, 20000, 1);
	test_tree(4, 200000, 2); /* many more tasks than workers, and a second run */
	test_wide(1);
	test_wide(4);
	test_submit_before_run();
	test_steal(2);
	test_steal(4);
	test_submit_during_run();
	test_idle_parks();
	test_idle_hook(1);
	test_idle_hook(4);
	test_alloc_failures();
	test_spawn_enomem();
	test_thread_failures();
	return done_testing();
}
