/* SPDX-License-Identifier: MIT */
/*
 * daemon-events.h - the seam between fsindexd's main loop and a source of
 * file events (watch.h, once it exists).  The loop polls daemon_events_fd()
 * with its other descriptors, calls daemon_events_process() when it is
 * readable or daemon_events_deadline() has passed, and gets back directories
 * to rescan through a daemon_event_fn.  Without a source the fd is -1, the
 * deadline never comes, and the daemon lives on periodic reconciles.
 */
#ifndef FSINDEX_DAEMON_EVENTS_H
#define FSINDEX_DAEMON_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct daemon_events;

enum {
	DAEMON_EVENT_SUBTREE = 1 << 0,	/* rescan the whole subtree, not one level */
	DAEMON_EVENT_OVERFLOW = 1 << 1, /* events were lost: reconcile everything */
	DAEMON_EVENT_RENAME = 1 << 2,	/* alone: @dir is an entry renamed, see below */
};

/**
 * A directory @dir (@len bytes, not NUL-terminated) changed; DAEMON_EVENT_*
 * @flags.  With DAEMON_EVENT_RENAME, @dir is the old path of an entry that
 * was renamed within one root, NUL-terminated, and its new path follows as
 * a NUL-terminated string at @dir + @len + 1, then the paths it passed
 * through (watch.h), then an empty string; its directories are not emitted
 * for it: applying it, or rescanning them, is the callee's.
 */
typedef void daemon_event_fn(void *ctx, const char *dir, size_t len, unsigned flags);

/**
 * Make the event source, none watched yet: daemon_events_set_roots()
 * places the watches, after READY=1 (one inotify watch per directory takes
 * seconds on a big tree); the watch itself is made with the first root, so
 * a daemon with none has no descriptor.  @cfg is unused.  *ret is the
 * caller's (daemon_events_free()).  Returns 0 or a negative error.
 */
int daemon_events_new(const struct config *cfg, struct daemon_events **ret);

/**
 * Watch exactly the roots of @cfg, whose real paths are @real[0..cfg->nroots)
 * (NULL: it did not resolve; borrowed for the call): at start, and after a
 * reload, when the roots already watched are kept, those no longer listed
 * lose their watches (watch_remove_root()), and new ones get theirs.  A
 * root that cannot be watched is left to periodic reconciles.  Nothing when
 * the daemon watches nothing (FSINDEXD_WATCH=none).
 */
void daemon_events_set_roots(struct daemon_events *ev, const struct config *cfg,
			     char *const *real);

/** The descriptor to poll for POLLIN, or -1 when there is none. */
int daemon_events_fd(const struct daemon_events *ev);

/**
 * Read what is pending and emit the directories whose settle time has
 * passed at @now_ns (CLOCK_MONOTONIC).  Returns how many were emitted or a
 * negative error.
 */
int daemon_events_process(struct daemon_events *ev, int64_t now_ns, daemon_event_fn *fn,
			  void *ctx);

/**
 * The same, but emitting every pending directory, settled or not: for a
 * caller waiting on the events read so far.
 */
int daemon_events_flush(struct daemon_events *ev, int64_t now_ns, daemon_event_fn *fn, void *ctx);

/** When daemon_events_process() next has something to emit (INT64_MAX: never). */
int64_t daemon_events_deadline(const struct daemon_events *ev);

/** How root @path is kept up to date, for `fsindex status`: "periodic", "fanotify", ... */
const char *daemon_events_mode(const struct daemon_events *ev, const char *path);

/** Stop watching.  Accepts NULL. */
void daemon_events_free(struct daemon_events *ev);

#endif /* FSINDEX_DAEMON_EVENTS_H */
