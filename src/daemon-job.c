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
 */
#include "daemon-priv.h"

#include "config.h"
#include "engine.h"
#include "errors.h"
#include "log.h"
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

/*
 * Directory @job->paths[@i] is not in the index (just made, or moved in;
 * or not below any root): its nearest known ancestor, one level, walks it
 * whole.  Climbs one name; drops the path at "/".
 */
static void climb(struct daemon_job *job, size_t i)
{
	char *slash = strrchr(job->paths[i], '/');

	job->flags |= RESCAN_ONE_LEVEL;
	if (slash && slash > job->paths[i]) {
		*slash = '\0';
		return;
	}
	free(job->paths[i]);
	job->paths[i] = job->paths[--job->npaths];
}

static int run_rescan(struct daemon *d, struct daemon_job *job)
{
	struct scan_result res = { 0 };
	struct scan_opts o;
	struct daemon_cfg *c;
	char *q = log_quote(job->paths[0], strlen(job->paths[0]));
	size_t bad = 0;
	int r;

	pthread_mutex_lock(&d->lock);
	c = daemon_cfg_get_locked(d);
	pthread_mutex_unlock(&d->lock);

	if (job->npaths > 1)
		daemon_set_state(d, "rescanning %s and %zu more", q ? q : "?", job->npaths - 1);
	else
		daemon_set_state(d, "rescanning %s", q ? q : "?");
	base_opts(d, c, &o);
	r = rescan_paths(d->engine, job->paths, job->npaths, job->flags, &o, &res, &bad);
	while (r == -ENOENT && bad < job->npaths) {
		climb(job, bad);
		if (!job->npaths)
			break;
		r = rescan_paths(d->engine, job->paths, job->npaths, job->flags, &o, &res, &bad);
	}
	if (r < 0 && r != -ECANCELED)
		log_warning("rescan of '%s' failed: %s", q ? q : "?", fsi_strerror(r));
	else if (r == 0)
		log_debug("rescanned '%s' (%zu directories): %llu dirs, %llu files, %llu moved",
			  q ? q : "?", job->npaths, (unsigned long long)res.dirs + res.roots_walked,
			  (unsigned long long)res.files, (unsigned long long)res.moved);
	daemon_cfg_put(d, c);
	free(q);
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
	if (job)
		free(job->paths);
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

		if (job->kind == DAEMON_JOB_DROP)
			r = run_drop(d, job);
		else
			r = job->kind == DAEMON_JOB_RECONCILE ? run_reconcile(d) : run_rescan(d, job);
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

int daemon_queue_rescan(struct daemon *d, const char *path, size_t len, unsigned flags)
{
	struct daemon_job *job;

	pthread_mutex_lock(&d->lock);
	for (job = d->queue; job; job = job->next)
		if (job->kind == DAEMON_JOB_RESCAN && job->npaths == 1 &&
		    strlen(job->paths[0]) == len && memcmp(job->paths[0], path, len) == 0) {
			job->flags &= flags;	/* a subtree covers one level */
			pthread_mutex_unlock(&d->lock);
			return 0;
		}
	job = calloc(1, sizeof(*job));
	if (job && (!(job->paths = calloc(1, sizeof(char *))) ||
		    !(job->paths[0] = strndup(path, len)))) {
		job_free(job);
		job = NULL;
	}
	if (job) {
		job->npaths = 1;
		job->kind = DAEMON_JOB_RESCAN;
		job->flags = flags;
		push(d, job);
	}
	pthread_mutex_unlock(&d->lock);
	return job ? 0 : -ENOMEM;
}

int daemon_queue_rescans(struct daemon *d, char **paths, size_t n)
{
	struct daemon_job *job = calloc(1, sizeof(*job));

	if (!job) {
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		return -ENOMEM;
	}
	*job = (struct daemon_job){ .kind = DAEMON_JOB_RESCAN, .paths = paths, .npaths = n,
				    .flags = RESCAN_ONE_LEVEL };
	pthread_mutex_lock(&d->lock);
	push(d, job);
	pthread_mutex_unlock(&d->lock);
	return 0;
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
}
