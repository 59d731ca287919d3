/* SPDX-License-Identifier: MIT */
/*
 * daemon-events.c - fsindexd's source of file events (daemon-events.h): the
 * configured roots watched through watch.h (fanotify filesystem marks where
 * the kernel grants them, inotify elsewhere), its requests handed to the
 * main loop as rescans.
 *
 * The mode is AUTO as root and inotify otherwise (an unprivileged process
 * cannot mark a filesystem); FSINDEXD_WATCH=auto|fanotify|inotify|none and
 * FSINDEXD_INOTIFY_LIMIT=N (act as if fs.inotify.max_user_watches were N)
 * override it, for tests and for trouble (fsindexd(8)).  A root that cannot
 * be watched at all is left to the periodic reconciles, and says so in
 * `fsindex status`.
 */
#include "daemon-events.h"

#include "config.h"
#include "errors.h"
#include "log.h"
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct daemon_events {
	struct watch *watch;		/* NULL: nothing is watched (yet) */
	struct watch_opts wo;
	bool enabled;			/* not FSINDEXD_WATCH=none, and watch_new() worked */
};

struct forward {
	daemon_event_fn *fn;
	void *ctx;
	int emitted;
};

/* The mode from FSINDEXD_WATCH, or the default; false for "none". */
static bool watch_mode(enum watch_mode *ret)
{
	const char *env = secure_getenv("FSINDEXD_WATCH");

	*ret = geteuid() == 0 ? WATCH_AUTO : WATCH_INOTIFY;
	if (!env || !*env)
		return true;
	if (strcmp(env, "none") == 0)
		return false;
	if (strcmp(env, "fanotify") == 0)
		*ret = WATCH_FANOTIFY;
	else if (strcmp(env, "inotify") == 0)
		*ret = WATCH_INOTIFY;
	else if (strcmp(env, "auto") != 0)
		log_warning("FSINDEXD_WATCH='%s' is not auto, fanotify, inotify or none: auto",
			    env);
	return true;
}

static unsigned inotify_limit(void)
{
	const char *env = secure_getenv("FSINDEXD_INOTIFY_LIMIT");
	char *end;
	unsigned long v;

	if (!env || !*env)
		return 0;
	errno = 0;
	v = strtoul(env, &end, 10);
	return errno || *end || v > UINT_MAX ? 0 : (unsigned)v;
}

/*
 * No burst threshold: a busy directory is listed one level like any other.
 * The job queue merges what comes in while a job runs (daemon-job.c), so a
 * burst costs one listing per pass; as a subtree it would walk everything
 * below it again (all of a tree being copied in, each pass).
 */
int daemon_events_new(const struct config *cfg, struct daemon_events **ret)
{
	struct daemon_events *ev = calloc(1, sizeof(*ev));

	(void)cfg;
	if (!ev)
		return -ENOMEM;
	ev->wo.inotify_limit = inotify_limit();
	ev->wo.burst = UINT_MAX;	/* no burst threshold, as said above */
	ev->enabled = watch_mode(&ev->wo.mode);
	*ret = ev;
	return 0;
}

/* The source itself, made when there is a first root to watch. */
static bool have_watch(struct daemon_events *ev)
{
	int r;

	if (ev->watch || !ev->enabled)
		return ev->watch != NULL;
	r = watch_new(&ev->wo, &ev->watch);
	if (r < 0) {
		log_warning("cannot watch for changes (%s): periodic reconciles only",
			    fsi_strerror(r));
		ev->watch = NULL;
		ev->enabled = false;
	}
	return ev->watch != NULL;
}

static bool listed(char *const *real, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (real[i] && strcmp(real[i], path) == 0)
			return true;
	return false;
}

/* Stop watching the roots not in @real[0..n). */
static void drop_roots(struct daemon_events *ev, char *const *real, size_t n)
{
	struct watch_status st;
	char **gone;
	size_t ngone = 0;

	watch_status(ev->watch, &st);
	gone = calloc(st.nroots ? st.nroots : 1, sizeof(*gone));
	if (!gone)
		return;
	for (size_t i = 0; i < st.nroots; i++)
		if (!listed(real, n, st.roots[i].path) && (gone[ngone] = strdup(st.roots[i].path)))
			ngone++;
	for (size_t i = 0; i < ngone; i++) {
		watch_remove_root(ev->watch, gone[i]);
		log_info("no longer watching '%s'", gone[i]);
		free(gone[i]);
	}
	free(gone);
}

void daemon_events_set_roots(struct daemon_events *ev, const struct config *cfg,
			     char *const *real)
{
	int r;

	if (ev->watch)
		drop_roots(ev, real, cfg->nroots);
	if (!cfg->nroots || !have_watch(ev))
		return;
	for (size_t i = 0; i < cfg->nroots; i++) {
		r = real[i] ? watch_add_root(ev->watch, real[i]) : -ENOENT;
		if (r < 0 && r != -EEXIST)
			log_warning("cannot watch '%s' (%s): periodic reconciles only",
				    cfg->roots[i].path, fsi_strerror(r));
	}
}

int daemon_events_fd(const struct daemon_events *ev)
{
	return ev->watch ? watch_fd(ev->watch) : -1;
}

static void forward(void *ctx, const char *dir, size_t len, unsigned flags)
{
	struct forward *f = ctx;

	/* Lost events are rescanned where they were lost, as a subtree. */
	if (flags & WATCH_RENAME)
		f->fn(f->ctx, dir, len, DAEMON_EVENT_RENAME);
	else
		f->fn(f->ctx, dir, len,
		      flags & (WATCH_SUBTREE | WATCH_OVERFLOW) ? DAEMON_EVENT_SUBTREE : 0);
	f->emitted++;
}

int daemon_events_process(struct daemon_events *ev, int64_t now_ns, daemon_event_fn *fn,
			  void *ctx)
{
	struct forward f = { fn, ctx, 0 };
	int r;

	if (!ev->watch)
		return 0;
	r = watch_process(ev->watch, now_ns, forward, &f);
	return r < 0 ? r : f.emitted;
}

/*
 * Settling only saves work: when a caller waits (`sync`), what is pending
 * goes out now.  Each pass is told it is the first entry's deadline, so
 * that entry is due and whatever arrives meanwhile is noted behind it; the
 * passes end when nothing is left (or after FLUSH_PASSES, under a storm).
 */
#define FLUSH_PASSES 64

int daemon_events_flush(struct daemon_events *ev, int64_t now_ns, daemon_event_fn *fn, void *ctx)
{
	struct forward f = { fn, ctx, 0 };
	int64_t t;
	int r;

	if (!ev->watch)
		return 0;
	r = watch_process(ev->watch, now_ns, forward, &f);
	for (int i = 0; r >= 0 && i < FLUSH_PASSES; i++) {
		t = watch_next_deadline(ev->watch);
		if (t < 0)
			break;
		r = watch_process(ev->watch, t > now_ns ? t : now_ns, forward, &f);
	}
	return r < 0 ? r : f.emitted;
}

int64_t daemon_events_deadline(const struct daemon_events *ev)
{
	int64_t t = ev->watch ? watch_next_deadline(ev->watch) : -1;

	return t < 0 ? INT64_MAX : t;
}

const char *daemon_events_mode(const struct daemon_events *ev, const char *path)
{
	struct watch_status st;

	if (!ev->watch || !path)
		return "periodic";
	watch_status(ev->watch, &st);
	for (size_t i = 0; i < st.nroots; i++)
		if (strcmp(st.roots[i].path, path) == 0)
			return st.roots[i].mode;
	return "periodic";
}

void daemon_events_free(struct daemon_events *ev)
{
	if (ev)
		watch_free(ev->watch);
	free(ev);
}
