/* SPDX-License-Identifier: MIT */
/*
 * test-task-group.c - the persistent pool and its job groups: several groups
 * at once, each with thousands of tasks and holds released by another
 * thread, waited for one by one; a cancelled group next to one that
 * completes; parent tokens; a job submitted behind a busy one starts; parked
 * workers use no CPU and wake for a submission; start and stop many times;
 * the idle hook spawning into the groups it holds.  (One job at a time, and
 * fault injection: test-task.c.)
 *
 * No test relies on timing alone: what must not have happened yet is kept
 * from happening by a hold, and a wait that never returns is ended by
 * alarm() in main().
 */
#include "task.h"

#include "cancel.h"
#include "util.h"

#include "tap.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	nanosleep(&ts, NULL);
}

static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
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

/* ---- job groups: shared pieces ----------------------------------------- */

#define HOLD_EVERY 8 /* every 8th tree task leaves a hold for the completer thread */

struct job;

struct jnode {
	struct task task;
	struct job *job;
	atomic_uint hits;
};

/*
 * One job: a binary tree of counted tasks in group @g.  With @holds, every
 * HOLD_EVERY-th task takes a hold and posts a follow-up to the completer
 * thread, which submits it from outside and only then releases the hold, as
 * an I/O completion would.
 */
struct job {
	struct task_group *g;
	struct jnode *v;
	size_t n;
	bool holds;
	struct jnode *follow; /* one per hold */
	atomic_size_t nholds;
	atomic_uint wrong_group;	  /* tasks that saw another group than theirs as current */
	atomic_bool cancel_seen;	  /* a task saw task_cancelled() */
	atomic_size_t next, ran, spawned; /* the spinning job of the cancel test */
};

static struct job *job_new(struct task_pool *pool, const struct cancel *parent, size_t n,
			   bool holds, task_fn *fn)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		abort();
	j->g = group_new(pool, parent);
	j->v = calloc(n, sizeof(*j->v));
	j->follow = calloc(n / HOLD_EVERY + 1, sizeof(*j->follow));
	if (!j->v || !j->follow)
		abort();
	j->n = n;
	j->holds = holds;
	for (size_t i = 0; i < n; i++) {
		j->v[i].task.fn = fn;
		j->v[i].job = j;
	}
	return j;
}

static void job_free(struct job *j)
{
	task_group_free(j->g);
	free(j->v);
	free(j->follow);
	free(j);
}

/* Did every tree task and every follow-up run exactly once, in its own group? */
static bool job_complete(struct job *j)
{
	size_t want = j->holds ? (j->n + HOLD_EVERY - 1) / HOLD_EVERY : 0;

	for (size_t i = 0; i < j->n; i++) {
		if (atomic_load(&j->v[i].hits) != 1) {
			diag("job node %zu ran %u times", i, atomic_load(&j->v[i].hits));
			return false;
		}
	}
	if (atomic_load(&j->nholds) != want) {
		diag("%zu holds taken, %zu expected", atomic_load(&j->nholds), want);
		return false;
	}
	for (size_t k = 0; k < want; k++) {
		if (atomic_load(&j->follow[k].hits) != 1) {
			diag("follow-up %zu ran %u times", k, atomic_load(&j->follow[k].hits));
			return false;
		}
	}
	return atomic_load(&j->wrong_group) == 0;
}

/* The completer thread: takes posted follow-ups, submits each, then releases its hold. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct jnode *q[1 << 15];
	size_t head, tail;
	bool quit;
	pthread_t thread;
} comp = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void comp_post(struct jnode *f)
{
	pthread_mutex_lock(&comp.lock);
	if (comp.tail == ARRAY_SIZE(comp.q))
		abort();
	comp.q[comp.tail++] = f;
	pthread_cond_signal(&comp.cond);
	pthread_mutex_unlock(&comp.lock);
}

static void *comp_main(void *arg)
{
	pthread_mutex_lock(&comp.lock);
	for (;;) {
		struct jnode *f;

		while (comp.head == comp.tail && !comp.quit)
			pthread_cond_wait(&comp.cond, &comp.lock);
		if (comp.head == comp.tail)
			break;
		f = comp.q[comp.head++];
		pthread_mutex_unlock(&comp.lock);
		if (comp.head % 64 == 0)
			sleep_ns(200000); /* now and then late, so holds outlive the tasks */
		task_group_submit(f->job->g, &f->task);
		task_group_release(f->job->g);
		pthread_mutex_lock(&comp.lock);
	}
	pthread_mutex_unlock(&comp.lock);
	return NULL;
}

static void comp_start(void)
{
	comp.head = comp.tail = 0;
	comp.quit = false;
	if (pthread_create(&comp.thread, NULL, comp_main, NULL))
		abort();
}

static void comp_stop(void)
{
	pthread_mutex_lock(&comp.lock);
	comp.quit = true;
	pthread_cond_signal(&comp.cond);
	pthread_mutex_unlock(&comp.lock);
	pthread_join(comp.thread, NULL);
}

static void jfollow_fn(struct task *task, struct task_worker *w)
{
	struct jnode *f = container_of(task, struct jnode, task);

	atomic_fetch_add(&f->hits, 1);
	if (task_worker_group(w) != f->job->g)
		atomic_fetch_add(&f->job->wrong_group, 1);
}

static void jtree_fn(struct task *task, struct task_worker *w)
{
	struct jnode *nd = container_of(task, struct jnode, task);
	struct job *j = nd->job;
	size_t i = (size_t)(nd - j->v);

	atomic_fetch_add(&nd->hits, 1);
	if (task_worker_group(w) != j->g)
		atomic_fetch_add(&j->wrong_group, 1);
	if (task_cancelled(w))
		atomic_store(&j->cancel_seen, true);
	for (size_t c = 2 * i + 1; c <= 2 * i + 2 && c < j->n; c++) {
		if (task_spawn(w, &j->v[c].task) < 0)
			abort();
	}
	if (j->holds && i % HOLD_EVERY == 0) {
		struct jnode *f = &j->follow[atomic_fetch_add(&j->nholds, 1)];

		f->job = j;
		f->task.fn = jfollow_fn;
		task_group_hold(j->g);
		comp_post(f);
	}
}

static void start_or_abort(struct task_pool *pool)
{
	if (task_pool_start(pool) < 0)
		abort();
}

/* ---- several groups at once -------------------------------------------- */

/*
 * Three jobs on one pool, each a tree with holds released by the completer.
 * Job 2 also has a hold of ours: waiting for jobs 0 and 1 must return while
 * it is held, and each wait must cover the follow-ups of its own holds.
 */
static void test_groups(unsigned nworkers)
{
	static const size_t sizes[3] = {4000, 3000, 20000};
	struct task_pool *pool = pool_new(nworkers);
	struct job *jobs[3];
	struct task_stats st;
	uint64_t want_run = 0;
	size_t slow_done = 0;
	bool held;

	comp_start();
	for (int k = 0; k < 3; k++) {
		jobs[k] = job_new(pool, NULL, sizes[k], true, jtree_fn);
		want_run += sizes[k] + (sizes[k] + HOLD_EVERY - 1) / HOLD_EVERY;
	}
	start_or_abort(pool);
	task_group_hold(jobs[2]->g);
	for (int k = 0; k < 3; k++)
		task_group_submit(jobs[k]->g, &jobs[k]->v[0].task);

	task_group_wait(jobs[0]->g);
	for (size_t i = 0; i < sizes[2]; i++)
		slow_done += atomic_load(&jobs[2]->v[i].hits);
	ok(job_complete(jobs[0]),
	   "%u workers: job 0 waited for: its %zu tasks and %zu follow-ups ran", nworkers, sizes[0],
	   atomic_load(&jobs[0]->nholds));
	task_group_wait(jobs[1]->g);
	ok(job_complete(jobs[1]), "%u workers: job 1 waited for: complete", nworkers);
	held = !task_group_done(jobs[2]->g);
	ok(held,
	   "%u workers: job 2, still held, is not done: the waits did not wait for it "
	   "(%zu of its %zu tree tasks had run when job 0 was done)",
	   nworkers, slow_done, sizes[2]);
	task_group_release(jobs[2]->g);
	task_group_wait(jobs[2]->g);
	ok(job_complete(jobs[2]), "%u workers: job 2 complete once released", nworkers);
	task_pool_stop(pool);
	comp_stop();
	task_pool_stats(pool, &st);
	ok(st.run == want_run, "%u workers: the pool ran %llu tasks, %llu expected", nworkers,
	   (unsigned long long)st.run, (unsigned long long)want_run);
	for (int k = 0; k < 3; k++)
		job_free(jobs[k]);
	task_pool_free(pool);
}

/* ---- cancelling one group ---------------------------------------------- */

#define SPIN_CAP 400000 /* the cancelled job's tasks if cancelling did nothing */

/* Each task spawns two more until the cap, unless its group is cancelled. */
static void jspin_fn(struct task *task, struct task_worker *w)
{
	struct jnode *nd = container_of(task, struct jnode, task);
	struct job *j = nd->job;

	atomic_fetch_add(&j->ran, 1);
	atomic_fetch_add(&nd->hits, 1);
	if (task_cancelled(w)) {
		atomic_store(&j->cancel_seen, true);
		return;
	}
	for (int c = 0; c < 2; c++) {
		size_t k = atomic_fetch_add(&j->next, 1);

		if (k >= j->n)
			return;
		atomic_fetch_add(&j->spawned, 1);
		if (task_spawn(w, &j->v[k].task) < 0)
			abort();
	}
}

static void test_cancel_group(unsigned nworkers)
{
	struct task_pool *pool = pool_new(nworkers);
	struct job *a, *b;
	bool once = true;

	comp_start();
	a = job_new(pool, NULL, SPIN_CAP, false, jspin_fn);
	b = job_new(pool, NULL, 20000, true, jtree_fn);
	atomic_store(&a->next, 1);
	start_or_abort(pool);
	task_group_submit(a->g, &a->v[0].task);
	task_group_submit(b->g, &b->v[0].task);
	while (atomic_load(&a->ran) < 1000)
		sleep_ns(100000);
	task_group_cancel(a->g);
	task_group_wait(a->g);
	task_group_wait(b->g);
	for (size_t i = 0; i < a->n; i++)
		once = once && atomic_load(&a->v[i].hits) == (i <= atomic_load(&a->spawned));
	ok(task_group_cancelled(a->g) && atomic_load(&a->cancel_seen),
	   "%u workers: the cancelled group's tasks saw task_cancelled()", nworkers);
	ok(once && atomic_load(&a->ran) == atomic_load(&a->spawned) + 1,
	   "%u workers: every task it had queued still ran, once (%zu)", nworkers,
	   atomic_load(&a->ran));
	ok(atomic_load(&a->spawned) + 1 < SPIN_CAP, "%u workers: and it stopped early (%zu of %d)",
	   nworkers, atomic_load(&a->spawned) + 1, SPIN_CAP);
	ok(job_complete(b) && !task_group_cancelled(b->g) && !atomic_load(&b->cancel_seen),
	   "%u workers: the other group, not cancelled, completed fully", nworkers);
	task_pool_stop(pool);
	comp_stop();
	job_free(a);
	job_free(b);
	task_pool_free(pool);
}

/* ---- parent tokens ----------------------------------------------------- */

struct probe {
	struct task task;
	atomic_int seen;	     /* 0: not run; 1: ran, not cancelled; 2: ran, cancelled */
	struct task_group *relay_to; /* if set, submit relay_probe there from the worker */
	struct probe *relay_probe;
};

static void probe_fn(struct task *task, struct task_worker *w)
{
	struct probe *p = container_of(task, struct probe, task);

	atomic_store(&p->seen, task_cancelled(w) ? 2 : 1);
	if (p->relay_to)
		task_group_submit(p->relay_to, &p->relay_probe->task);
}

/* Run a probe in each of @g[0..n) and return their findings as digits: "121", say. */
static const char *probe_groups(struct task_group **g, int n)
{
	static char out[8];
	struct probe p[8];

	memset(p, 0, sizeof(p));

	for (int i = 0; i < n; i++) {
		p[i].task.fn = probe_fn;
		task_group_submit(g[i], &p[i].task);
	}
	for (int i = 0; i < n; i++) {
		task_group_wait(g[i]);
		out[i] = (char)('0' + atomic_load(&p[i].seen));
	}
	out[n] = 0;
	return out;
}

static void test_parents(void)
{
	struct task_pool *pool = pool_new(2);
	struct cancel proc;
	struct task_group *g[3]; /* under proc; alone; under g[0] */
	struct probe relay = {.task.fn = probe_fn}, relayed = {.task.fn = probe_fn};
	const char *seen;

	cancel_init(&proc, NULL);
	g[0] = group_new(pool, &proc);
	g[1] = group_new(pool, NULL);
	g[2] = group_new(pool, task_group_cancel_token(g[0]));
	start_or_abort(pool);
	seen = probe_groups(g, 3);
	ok(!strcmp(seen, "111"), "fresh groups: no task sees a cancel (%s)", seen);

	relay.relay_to = g[1];
	relay.relay_probe = &relayed;
	task_group_submit(g[0], &relay.task);
	task_group_wait(g[0]);
	task_group_wait(g[1]);
	ok(atomic_load(&relayed.seen) == 1, "a task submitted to another group from a worker ran");

	task_group_cancel(g[2]);
	seen = probe_groups(g, 3);
	ok(!strcmp(seen, "112") && !task_group_cancelled(g[0]) && !cancel_requested(&proc),
	   "cancelling a child group reaches neither its parent nor the root (%s)", seen);

	cancel_request(&proc, SIGTERM);
	seen = probe_groups(g, 3);
	ok(!strcmp(seen, "212"), "a request on the root token cancels the groups under it (%s)",
	   seen);
	ok(task_group_cancelled(g[0]) && !task_group_cancelled(g[1]) &&
		   cancel_reason(task_group_cancel_token(g[0])) == SIGTERM &&
		   cancel_reason(task_group_cancel_token(g[2])) == -1 &&
		   cancel_reason(task_group_cancel_token(g[1])) == 0,
	   "task_group_cancelled() and the tokens' reasons agree");
	task_pool_stop(pool);
	for (int i = 0; i < 3; i++)
		task_group_free(g[i]);
	task_pool_free(pool);
}

/* ---- a job behind a busy one ------------------------------------------- */

static atomic_bool fair_b_ran;
static atomic_size_t fair_a_at_b;
static struct job *fair_a;

static void fair_b_fn(struct task *task, struct task_worker *w)
{
	atomic_store(&fair_a_at_b, atomic_load(&fair_a->ran));
	atomic_store(&fair_b_ran, true);
}

/* Job A spins (jspin_fn) until B ran, then winds down by cancel. */
static void test_fairness(void)
{
	struct task_pool *pool = pool_new(1); /* its deque is never empty while A spins */
	struct task b = {.fn = fair_b_fn};
	struct task_group *gb;
	size_t a_at_submit;

	fair_a = job_new(pool, NULL, SPIN_CAP, false, jspin_fn);
	gb = group_new(pool, NULL);
	atomic_store(&fair_a->next, 1);
	atomic_store(&fair_b_ran, false);
	start_or_abort(pool);
	task_group_submit(fair_a->g, &fair_a->v[0].task);
	while (atomic_load(&fair_a->ran) < 2000)
		sleep_ns(100000);
	a_at_submit = atomic_load(&fair_a->ran);
	task_group_submit(gb, &b);
	task_group_wait(gb);
	task_group_cancel(fair_a->g);
	task_group_wait(fair_a->g);
	ok(atomic_load(&fair_b_ran) && atomic_load(&fair_a_at_b) < SPIN_CAP / 2,
	   "1 worker busy with job A: job B, submitted at A's task %zu, ran at A's task %zu",
	   a_at_submit, atomic_load(&fair_a_at_b));
	task_pool_stop(pool);
	task_group_free(gb);
	job_free(fair_a);
	task_pool_free(pool);
}

/* ---- parked workers ---------------------------------------------------- */

/* Started and idle, workers park and burn no CPU; a submission wakes one. */
static void test_park_wake(unsigned nworkers)
{
	struct task_pool *pool = pool_new(nworkers);
	struct task_group *g;
	struct task_stats st;
	bool good = true;

	g = group_new(pool, NULL);
	start_or_abort(pool);
	for (int round = 0; round < 3; round++) {
		struct probe p = {.task.fn = probe_fn};
		int64_t cpu, t;

		sleep_ns(20000000);
		cpu = cpu_ns();
		sleep_ns(200000000);
		cpu = cpu_ns() - cpu;
		task_pool_stats(pool, &st);
		t = now_mono_ns();
		task_group_submit(g, &p.task);
		task_group_wait(g);
		t = now_mono_ns() - t;
		diag("round %d: %lld ms CPU while idle for 200 ms, parks %llu, woken in %lld us",
		     round, (long long)(cpu / 1000000), (unsigned long long)st.parks,
		     (long long)(t / 1000));
		good = good && cpu < 40000000 && st.parks >= nworkers + (unsigned)round &&
		       atomic_load(&p.seen) == 1;
	}
	ok(good, "%u workers: parked while idle (no CPU), woken by each submission", nworkers);
	task_pool_stop(pool);
	task_group_free(g);
	task_pool_free(pool);
}

/* ---- start and stop ---------------------------------------------------- */

static void test_start_stop(unsigned nworkers, int rounds)
{
	struct task_pool *pool = pool_new(nworkers);
	bool good = true;
	struct job *j;

	for (int round = 0; round < rounds && good; round++) {
		start_or_abort(pool);
		if (round % 2) {
			j = job_new(pool, NULL, 100, false, jtree_fn);
			task_group_submit(j->g, &j->v[0].task);
			task_group_wait(j->g);
			good = job_complete(j);
			job_free(j);
		}
		task_pool_stop(pool);
	}
	ok(good, "%u workers: started and stopped %d times, a job every other time", nworkers,
	   rounds);

	j = job_new(pool, NULL, 5000, false, jtree_fn);
	task_group_submit(j->g, &j->v[0].task);
	start_or_abort(pool);
	task_pool_stop(pool);
	ok(job_complete(j) && task_group_done(j->g),
	   "%u workers: a job submitted to a stopped pool runs; stop without a wait drains it",
	   nworkers);
	job_free(j);
	task_pool_stop(pool);
	ok(true, "stopping a stopped pool is a no-op");
	task_pool_free(pool);
}

/* ---- the idle hook and groups ------------------------------------------ */

/*
 * A fake ring per worker: producer tasks leave units of outside work, each
 * held for the producer's group; the hook completes one unit per call,
 * spawning its follow-up into that group (task_spawn_group()) and releasing
 * the hold, as a read completion would.  Rings are touched by their worker only.
 */
#define HOOK_PRODUCERS 500
#define HOOK_UNITS 3

struct unit {
	struct task_group *g;
	struct jnode *follow;
};

static struct {
	struct unit u[2 * HOOK_PRODUCERS * HOOK_UNITS];
	size_t n;
} fake_rings[4];

static void hook_producer_fn(struct task *task, struct task_worker *w)
{
	struct jnode *nd = container_of(task, struct jnode, task);
	struct job *j = nd->job;
	typeof(fake_rings[0]) *ring = &fake_rings[task_worker_id(w)];

	atomic_fetch_add(&nd->hits, 1);
	for (int k = 0; k < HOOK_UNITS; k++) {
		struct jnode *f = &j->follow[atomic_fetch_add(&j->nholds, 1)];

		f->job = j;
		f->task.fn = jfollow_fn;
		task_group_hold(task_worker_group(w));
		ring->u[ring->n++] = (struct unit){task_worker_group(w), f};
	}
}

static bool fake_ring_idle(void *ctx, struct task_worker *w)
{
	typeof(fake_rings[0]) *ring = &fake_rings[task_worker_id(w)];
	struct unit u;

	if (ring->n == 0)
		return false;
	if (task_worker_group(w) != NULL)
		abort(); /* the hook runs outside any task */
	u = ring->u[--ring->n];
	if (task_spawn_group(w, u.g, &u.follow->task) < 0)
		abort();
	task_group_release(u.g);
	return true;
}

static void test_hook_groups(unsigned nworkers)
{
	struct task_pool *pool = pool_new(nworkers);
	struct job *jobs[2];
	bool good = true;

	memset(fake_rings, 0, sizeof(fake_rings));
	task_pool_set_idle(pool, fake_ring_idle, NULL);
	for (int k = 0; k < 2; k++) {
		jobs[k] = job_new(pool, NULL, HOOK_PRODUCERS, false, hook_producer_fn);
		free(jobs[k]->follow);
		jobs[k]->follow = calloc(HOOK_PRODUCERS * HOOK_UNITS, sizeof(*jobs[k]->follow));
		if (!jobs[k]->follow)
			abort();
	}
	start_or_abort(pool);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < HOOK_PRODUCERS; i++)
			task_group_submit(jobs[k]->g, &jobs[k]->v[i].task);
	}
	for (int k = 0; k < 2; k++) {
		task_group_wait(jobs[k]->g);
		for (size_t i = 0; i < HOOK_PRODUCERS * HOOK_UNITS; i++)
			good = good && atomic_load(&jobs[k]->follow[i].hits) == 1;
		good = good && atomic_load(&jobs[k]->nholds) == HOOK_PRODUCERS * HOOK_UNITS &&
		       atomic_load(&jobs[k]->wrong_group) == 0;
	}
	ok(good,
	   "%u workers: each wait covered its group's outside work and the follow-ups the "
	   "hook spawned into it",
	   nworkers);
	task_pool_stop(pool);
	for (int k = 0; k < 2; k++)
		job_free(jobs[k]);
	task_pool_free(pool);
}

int main(void)
{
	alarm(300); /* a wait that never returns fails the test instead of hanging it */
	plan_lazy();
	test_groups(1);
	test_groups(2);
	test_groups(4);
	test_cancel_group(1);
	test_cancel_group(2);
	test_parents();
	test_fairness();
	test_park_wake(2);
	test_start_stop(1, 50);
	test_start_stop(4, 200);
	test_hook_groups(1);
	test_hook_groups(3);
	return done_testing();
}
