/* SPDX-License-Identifier: MIT */
/*
 * daemon-job.c - fsindexd's job thread: one job at a time from the queue,
 * run on the engine while the main loop stays free to answer the control
 * socket and ping the watchdog.
 *
 *   main loop ── daemon_queue_*() ──► queue ──► job thread ──► scan_run() /
 *        ▲                                          │          rescan_paths()
 *        └──────── wake_fd (eventfd) ◄── job done ──┘          on the engine
 *
 * A reconcile walks the roots of the configuration it started with, one
 * after the other (so STATUS= can name the root), each with its own
 * settings from fsindex.conf.  Rescans queue behind it: jobs over
 * overlapping subtrees must not run at once (engine.h), and one at a time
 * keeps the index's load that of one scan.
 *
 * Coalescing.  The directories events name join the rescan job still
 * waiting in the queue, a set keyed by path: a directory is in it once,
 * a subtree covers what is below it, and the set is walked in one job
 * (rescan_batch(): directories gone since climb to their nearest ancestor
 * still there, once for all of them).  So however many events arrive while
 * a job runs, they cost one more pass, not one each.  A directory may join
 * a job queued before a barrier: walking it sooner is no harm, and a sync
 * is only ever owed what came before its barrier.  A job of another kind
 * queued behind the set closes it, so rescans keep their order with
 * reconciles (and whatever else comes to be queued).
 */
#include "daemon-priv.h"

#include "config.h"
#include "engine.h"
#include "errors.h"
#include "log.h"
#include "pathmap.h"
#include "rescan.h"
#include "rootdrop.h"
#include "scan.h"
#include "util.h"
#include "walk.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void entry_error(void *ctx, const char *path, size_t len, const char *what, int err)
{
	char *q;

	if (!log_enabled(LOG_DEBUG))
		return;
	q = log_quote(path, len);
	log_debug("%s '%s': %s", what, q ? q : "?", fsi_strerror(err));
	free(q);
}

/* $FSINDEXD_TEST_FILE_DELAY_MS: see daemon.h. */
static void slow_file(void *ctx, unsigned worker, const char *root, const char *dir,
		      size_t dir_len, const struct node *n)
{
	const struct daemon *d = ctx;
	struct timespec ts = { d->file_delay_ms / 1000, (long)(d->file_delay_ms % 1000) * 1000000 };

	if (!cancel_requested(&d->stop))
		nanosleep(&ts, NULL);
}

/*
 * scan_opts.fstypes_of for configuration @ctx (a struct daemon_cfg): the
 * exclude-fs of the root holding @path (the deepest, when roots nest), else
 * [index]'s.  The roots' real paths were resolved when it was loaded.
 */
static void root_fstypes(void *ctx, const char *path, char *const **ret, size_t *ret_n)
{
	const struct daemon_cfg *c = ctx;
	const struct config *cfg = c->cfg;
	const struct config_root *hit = NULL;
	size_t best = 0;

	for (size_t i = 0; i < cfg->nroots; i++) {
		const char *real = c->real[i];
		size_t len = real ? strlen(real) : 0;

		if (real && len >= best && strncmp(path, real, len) == 0 &&
		    (path[len] == '/' || path[len] == '\0' || len == 1)) {
			hit = &cfg->roots[i];
			best = len;
		}
	}
	*ret = hit ? hit->exclude_fs : cfg->exclude_fs;
	*ret_n = hit ? hit->nexclude_fs : cfg->nexclude_fs;
}

/* Options every scan of the daemon's takes, with configuration @c (held meanwhile). */
static void base_opts(struct daemon *d, const struct daemon_cfg *c, struct scan_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->on_error = entry_error;
	o->cancel = &d->stop;
	o->fstypes_of = root_fstypes;
	o->fstypes_ctx = (void *)c;
	if (d->file_delay_ms > 0) {
		o->on_file = slow_file;
		o->file_ctx = d;
	}
}

static void record_root(struct daemon *d, const char *path, int64_t rt, int64_t ns, int r,
			uint64_t errors)
{
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nroots; i++) {
		if (strcmp(d->roots[i].path, path))
			continue;
		d->roots[i].last_rt = rt;
		d->roots[i].last_ns = ns;
		d->roots[i].last_r = r;
		d->roots[i].errors = errors;
	}
	pthread_mutex_unlock(&d->lock);
}

/* One root of a reconcile, with its configuration @cfg; returns scan_run()'s result. */
static int reconcile_root(struct daemon *d, const struct daemon_cfg *c,
			  const struct config_root *root)
{
	struct scan_result res = { 0 };
	struct scan_opts o;
	char *real, *q;
	int64_t t0 = now_mono_ns(), rt = time(NULL);
	int r;

	q = log_quote(root->path, strlen(root->path));
	daemon_set_state(d, "scanning %s", q ? q : "?");
	real = realpath(root->path, NULL);
	if (!real) {
		r = -errno;
		log_warning("cannot scan root '%s': %s", q ? q : "?", fsi_strerror(r));
		goto out;
	}
	base_opts(d, c, &o);
	o.walk_flags = (root->xdev ? WALK_XDEV : 0) | (root->hash ? WALK_HASH : 0);
	o.excludes = root->excludes;
	o.nexcludes = root->nexcludes;
	o.set_excludes = true;
	r = scan_run(d->engine, &real, 1, &o, &res);
	if (r < 0 && r != -ECANCELED)
		log_error("scan of '%s' failed: %s", q ? q : "?", fsi_strerror(r));
	else if (r == 0)
		log_info("scanned '%s': %llu dirs, %llu files, %llu errors in %.2f s", q ? q : "?",
			 (unsigned long long)res.dirs + res.roots_walked,
			 (unsigned long long)res.files, (unsigned long long)res.errors,
			 (double)(now_mono_ns() - t0) / 1e9);
	free(real);
out:
	record_root(d, root->path, rt, now_mono_ns() - t0, r, res.errors);
	free(q);
	return r;
}

static int run_reconcile(struct daemon *d)
{
	struct daemon_cfg *c;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	c = daemon_cfg_get_locked(d);
	d->reconcile_queued = false;
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < c->cfg->nroots && r != -ECANCELED; i++)
		r = reconcile_root(d, c, &c->cfg->roots[i]);
	pthread_mutex_lock(&d->lock);
	if (c->cfg->reconcile)
		d->next_reconcile_ns = now_mono_ns() + (int64_t)c->cfg->reconcile * 1000000000;
	else
		d->next_reconcile_ns = INT64_MAX;
	pthread_mutex_unlock(&d->lock);
	daemon_cfg_put(d, c);
	return r;
}

/* How many directories @job rescans: of its set, or of a renames job's paths. */
static size_t job_dirs(const struct daemon_job *job)
{
	return job->set ? job->set->n : job->npaths;
}

/*
 * Set @job's directories out as arrays (borrowed from the set, or from a
 * renames job's paths, all with its flags) for rescan_batch().
 */
static int set_arrays(const struct daemon_job *job, char ***ret_paths, unsigned **ret_flags)
{
	size_t n = job_dirs(job);
	char **paths = calloc(n ? n : 1, sizeof(*paths));
	unsigned *flags = calloc(n ? n : 1, sizeof(*flags));

	if (!paths || !flags) {
		free(paths);
		free(flags);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		paths[i] = job->set ? job->set->v[i].key : job->paths[i];
		flags[i] = job->set ? (unsigned)job->set->v[i].val : job->flags;
	}
	*ret_paths = paths;
	*ret_flags = flags;
	return 0;
}

/*
 * Say what a rescan does, naming the root it is under, never the directory:
 * `fsindex status` and the unit's Status= are for everyone to read, and a
 * path below a root may be a name only its owner may see (visible.h).
 */
static void rescan_state(struct daemon *d, const char *first, size_t n)
{
	const char *root = NULL;
	char *q;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nroots && !root; i++) {
		size_t len = strlen(d->roots[i].path);

		if (strncmp(first, d->roots[i].path, len) == 0 &&
		    (len == 1 || first[len] == '/' || first[len] == '\0'))
			root = d->roots[i].path;
	}
	q = root ? log_quote(root, strlen(root)) : NULL;
	pthread_mutex_unlock(&d->lock);
	daemon_set_state(d, "rescanning %zu %s under %s", n, n == 1 ? "directory" : "directories",
			 q ? q : "the roots");
	free(q);
}

static int run_rescan(struct daemon *d, struct daemon_job *job)
{
	struct scan_result res = { 0 };
	struct scan_opts o;
	struct daemon_cfg *c;
	size_t n = job_dirs(job);
	char **paths, *q;
	unsigned *flags;
	int r;

	if (!n)
		return 0;
	r = set_arrays(job, &paths, &flags);
	if (r < 0) {
		log_warning("cannot rescan %zu directories: %s", n, fsi_strerror(r));
		daemon_queue_reconcile(d);
		return r;
	}
	pthread_mutex_lock(&d->lock);
	c = daemon_cfg_get_locked(d);
	pthread_mutex_unlock(&d->lock);

	q = log_quote(paths[0], strlen(paths[0]));
	rescan_state(d, paths[0], n);
	base_opts(d, c, &o);
	r = rescan_batch(d->engine, paths, flags, n, &o, &res);
	if (r < 0 && r != -ECANCELED) {
		log_warning("rescan of '%s' failed: %s", q ? q : "?", fsi_strerror(r));
		daemon_queue_reconcile(d);	/* what it missed */
	} else if (r == 0) {
		log_debug("rescanned '%s' (%zu directories): %llu dirs, %llu files, %llu moved, "
			  "%llu walked from", q ? q : "?", n,
			  (unsigned long long)res.dirs + res.roots_walked,
			  (unsigned long long)res.files, (unsigned long long)res.moved,
			  (unsigned long long)res.roots_walked);
	}
	daemon_cfg_put(d, c);
	free(q);
	free(paths);
	free(flags);
	return r;
}

/* Roots taken out of the configuration: out of the index, but for what the current one keeps. */
static int run_drop(struct daemon *d, struct daemon_job *job)
{
	struct daemon_cfg *c;
	uint64_t n = 0;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	c = daemon_cfg_get_locked(d);
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < job->npaths && r >= 0; i++) {
		char *q = log_quote(job->paths[i], strlen(job->paths[i]));

		daemon_set_state(d, "dropping %s", q ? q : "?");
		r = rootdrop_run(d->engine, job->paths[i], c->real, c->cfg->nroots, &n);
		if (r < 0)
			log_error("cannot drop root '%s' from the index: %s", q ? q : "?",
				  fsi_strerror(r));
		else if (r > 0)
			log_info("dropped root '%s' from the index (%llu subtrees deleted)",
				 q ? q : "?", (unsigned long long)n);
		free(q);
	}
	daemon_cfg_put(d, c);
	return r < 0 ? r : 0;
}

static void job_free(struct daemon_job *job)
{
	for (size_t i = 0; job && i < job->npaths; i++)
		free(job->paths[i]);
	for (size_t i = 0; job && i < job->nrenames; i++)
		free(job->renames[i]);
	if (job) {
		free(job->paths);
		free(job->renames);
		if (job->set)
			pathmap_destroy(job->set);
		free(job->set);
	}
	free(job);
}

static void *job_thread(void *arg)
{
	struct daemon *d = arg;
	struct daemon_job *job;
	int r;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->queue && !d->stopping)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stopping)
			break;
		job = d->queue;
		d->queue = job->next;
		if (!d->queue)
			d->queue_tail = &d->queue;
		if (job == d->open_rescan)
			d->open_rescan = NULL;	/* what comes now waits for the next pass */
		if (job->kind == DAEMON_JOB_BARRIER) {
			/* Jobs run in order: every one queued before it is committed. */
			d->barrier_done = job->seq;
			pthread_mutex_unlock(&d->lock);
			job_free(job);
			daemon_wake(d);
			pthread_mutex_lock(&d->lock);
			continue;
		}
		d->busy = true;
		pthread_mutex_unlock(&d->lock);

		if (job->kind == DAEMON_JOB_DROP) {
			r = run_drop(d, job);
		} else if (job->kind == DAEMON_JOB_RECONCILE) {
			r = run_reconcile(d);
		} else {
			r = job->kind == DAEMON_JOB_RENAMES ? daemon_apply_renames(d, job) : 0;
			if (r != -ECANCELED)
				r = run_rescan(d, job);	/* a renames job's fallbacks too */
		}
		job_free(job);

		pthread_mutex_lock(&d->lock);
		d->busy = false;
		d->jobs_done++;
		pthread_mutex_unlock(&d->lock);
		if (r != -ECANCELED)
			daemon_wake(d);	/* the loop sets STATUS= to idle and plans the next */
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int daemon_jobs_start(struct daemon *d)
{
	int r = pthread_create(&d->thread, NULL, job_thread, d);

	if (r)
		return -r;
	d->thread_started = true;
	return 0;
}

static void push(struct daemon *d, struct daemon_job *job)
{
	/* A barrier keeps the set open: see "Coalescing" above. */
	if (job->kind != DAEMON_JOB_BARRIER)
		d->open_rescan = job->kind == DAEMON_JOB_RESCAN ? job : NULL;
	*d->queue_tail = job;
	d->queue_tail = &job->next;
	pthread_cond_signal(&d->cond);
}

void daemon_queue_reconcile(struct daemon *d)
{
	struct daemon_job *job;

	pthread_mutex_lock(&d->lock);
	if (!d->reconcile_queued && !d->stopping && (job = calloc(1, sizeof(*job)))) {
		job->kind = DAEMON_JOB_RECONCILE;
		d->reconcile_queued = true;
		d->next_reconcile_ns = INT64_MAX;	/* planned again when it ends */
		push(d, job);
	}
	pthread_mutex_unlock(&d->lock);
}

/* The queued rescan that takes new directories, made and queued if there is none. */
static struct daemon_job *open_rescan_locked(struct daemon *d)
{
	struct daemon_job *job = d->open_rescan;

	if (job)
		return job;
	job = calloc(1, sizeof(*job));
	if (job && !(job->set = calloc(1, sizeof(*job->set)))) {
		free(job);
		job = NULL;
	}
	if (job) {
		job->kind = DAEMON_JOB_RESCAN;
		pathmap_init(job->set);
		push(d, job);
	}
	return job;
}

static bool is_subtree(uint64_t flags)
{
	return !(flags & RESCAN_ONE_LEVEL);
}

static int add_locked(struct daemon *d, const char *path, size_t len, unsigned flags)
{
	struct daemon_job *job = open_rescan_locked(d);
	uint64_t *v;
	bool added;

	if (!job)
		return -ENOMEM;
	if (pathmap_ancestor(job->set, path, len, is_subtree))
		return 0;	/* walked with a subtree queued already */
	if (job->set->n >= DAEMON_QUEUE_MAX && !pathmap_get(job->set, path, len))
		return -ENOSPC;
	v = pathmap_put(job->set, path, len, flags, &added);
	if (!v)
		return -ENOMEM;
	*v &= flags;	/* a subtree covers one level */
	return 0;
}

int daemon_queue_rescan(struct daemon *d, const char *path, size_t len, unsigned flags)
{
	int r;

	pthread_mutex_lock(&d->lock);
	r = add_locked(d, path, len, flags & RESCAN_ONE_LEVEL);
	pthread_mutex_unlock(&d->lock);
	if (log_enabled(LOG_DEBUG) && !(flags & RESCAN_ONE_LEVEL)) {
		char *q = log_quote(path, len);

		log_debug("subtree '%s' queued", q ? q : "?");
		free(q);
	}
	return r;
}

int daemon_queue_rescans(struct daemon *d, char **paths, size_t n)
{
	int r = 0;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < n && r == 0; i++)
		r = add_locked(d, paths[i], strlen(paths[i]), RESCAN_ONE_LEVEL);
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return r;
}

void daemon_queue_job(struct daemon *d, struct daemon_job *job)
{
	pthread_mutex_lock(&d->lock);
	push(d, job);
	pthread_mutex_unlock(&d->lock);
}

int daemon_queue_drop(struct daemon *d, char **paths, size_t n)
{
	struct daemon_job *job = calloc(1, sizeof(*job));

	if (!job) {
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		return -ENOMEM;
	}
	*job = (struct daemon_job){ .kind = DAEMON_JOB_DROP, .paths = paths, .npaths = n };
	pthread_mutex_lock(&d->lock);
	push(d, job);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

uint64_t daemon_queue_barrier(struct daemon *d)
{
	struct daemon_job *job = calloc(1, sizeof(*job));
	uint64_t seq = 0;

	if (!job)
		return 0;
	job->kind = DAEMON_JOB_BARRIER;
	pthread_mutex_lock(&d->lock);
	seq = job->seq = ++d->barrier_seq;
	push(d, job);
	pthread_mutex_unlock(&d->lock);
	return seq;
}

void daemon_jobs_stop(struct daemon *d)
{
	struct daemon_job *job;

	cancel_request(&d->stop, SIGTERM);
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->thread_started)
		pthread_join(d->thread, NULL);
	d->thread_started = false;
	while ((job = d->queue)) {
		d->queue = job->next;
		job_free(job);
	}
	d->queue_tail = &d->queue;
	d->open_rescan = NULL;
}
