/* SPDX-License-Identifier: MIT */
/*
 * watch.h - the daemon's event source: which directories of the configured
 * roots changed, as "rescan this directory" (one level) or "rescan this
 * subtree" requests, coalesced over a short settle window.
 *
 * fanotify filesystem marks where the kernel grants them (root, CAP_SYS_ADMIN
 * and CAP_DAC_READ_SEARCH; ext4, xfs, tmpfs...), inotify watches per
 * directory elsewhere (per mount), and "rescan" requests whenever events may
 * have been lost.  The caller polls watch_fd(), calls watch_process() when it
 * is readable or when watch_next_deadline() has passed, and rescans what is
 * emitted.  Single-threaded: one thread owns a struct watch.
 *
 * Memory stays bounded: the kernel queues are its bounded defaults (16384
 * events; no FAN_UNLIMITED_QUEUE), an overflow becomes a subtree rescan of
 * the roots it touches (WATCH_OVERFLOW), and at most 65536 directories wait
 * for their window, past which a directory's whole root is queued instead.
 *
 * Renames.  When the kernel says exactly what moved (fanotify's FAN_RENAME
 * with both its records, an inotify IN_MOVED_FROM/IN_MOVED_TO pair), within
 * one root, the rename itself is emitted (WATCH_RENAME: old and new path),
 * and its two directories are not emitted for it: a directory is emitted
 * only if something else happened there too.  The caller applies the rename
 * or, when it cannot, rescans both directories itself.  A rename is emitted
 * no later than its directories, and renames in the order they happened;
 * "mv a b; mv b c" within a window is one rename, a to c, through b.  Anything else
 * about a rename (into or out of a root, across roots, a queue full of
 * renames) is emitted as today, as rescans of the directories.
 * inotify costs one watch and one path per directory; watch_add_root() walks
 * such a tree once to place them (a readdir per directory).
 */
#ifndef FSINDEX_WATCH_H
#define FSINDEX_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct watch;

enum watch_mode {
	WATCH_AUTO,	/* fanotify where a mount accepts it, else inotify, per mount */
	WATCH_FANOTIFY, /* fanotify only: a mount that refuses it fails watch_add_root() */
	WATCH_INOTIFY,	/* inotify only (what an unprivileged daemon gets) */
};

struct watch_opts {
	enum watch_mode mode;
	int64_t settle_ns; /* settle window from a directory's first event (0: 200 ms) */
	unsigned burst;	   /* events in one directory that make it a subtree rescan (0: 1000) */
	unsigned inotify_reserve; /* watches left for other programs (0: 10% of
				   * max_user_watches, at least 1000, at most half) */
	unsigned inotify_limit;	  /* test hook: act as if max_user_watches were this (0: real) */
};

enum watch_flags {
	WATCH_SUBTREE = 1,  /* rescan the whole subtree, not one level */
	WATCH_OVERFLOW = 2, /* because events were lost (or cannot be had) there */
	WATCH_RENAME = 4,   /* not a directory: the entry at @dir was renamed (see below) */
};

/**
 * Called by watch_process() for each directory to rescan.  @dir is an
 * absolute path of @len bytes (NUL-terminated too), borrowed for the call;
 * @flags is a set of enum watch_flags (0: rescan @dir one level).
 * With WATCH_RENAME (alone), @dir is the old path of an entry (file or
 * directory) and the new one follows it: the NUL-terminated string at
 * @dir + @len + 1.  Both lie in one root.  After it come the paths a merged
 * chain passed through ("mv a b; mv b c": b), each NUL-terminated, then an
 * empty string.  The chain holds only if those names held nothing before.
 */
typedef void watch_emit_fn(void *ctx, const char *dir, size_t len, unsigned flags);

/**
 * A new event source with no roots; *ret is the caller's (watch_free()).
 * @opts may be NULL (all defaults).  Returns 0 or -errno (-ENOMEM, or the
 * epoll_create1() error).
 */
int watch_new(const struct watch_opts *opts, struct watch **ret);

/**
 * Watch the tree at @path, an absolute real path of a directory (copied).
 * Each mount in the tree gets a fanotify filesystem mark or inotify watches
 * on every directory, by the mode.  Directories that cannot be watched
 * (watches exhausted, EACCES, too deep) are counted in watch_status() and
 * queued for a subtree rescan with WATCH_OVERFLOW; that is not an error.
 * Returns 0; -EINVAL (not absolute), -ENOTDIR, -errno of stat(); -EEXIST
 * when @path is already a root; under WATCH_FANOTIFY the error of a mount
 * that refused its mark (-EPERM, -EXDEV, -EOPNOTSUPP, -ENODEV...).
 */
int watch_add_root(struct watch *w, const char *path);

/**
 * Stop watching root @path (as watch_add_root() was given it): its inotify
 * watches are removed, or handed to another root that holds their
 * directories (nested roots); a fanotify filesystem mark goes when no root
 * left has a mount on that filesystem; what is pending under it and under
 * no other root is dropped.  Returns 0 or -ENOENT (not a root).
 */
int watch_remove_root(struct watch *w, const char *path);

/** One descriptor to poll for POLLIN (an epoll of the fanotify and inotify ones). */
int watch_fd(const struct watch *w);

/**
 * Read every event ready (never blocks), then call @emit for each directory
 * whose settle window ended at @now_ns (CLOCK_MONOTONIC) or before.
 * @emit must not call back into @w.
 * Returns the number emitted, or -errno when reading an event queue failed
 * (what was due is emitted all the same).  Out of memory is not returned:
 * an event that could not be queued is lost, the rest goes on.
 */
int watch_process(struct watch *w, int64_t now_ns, watch_emit_fn *emit, void *ctx);

/** CLOCK_MONOTONIC ns at which the next settle window ends, or -1 when nothing is pending. */
int64_t watch_next_deadline(const struct watch *w);

struct watch_root_status {
	const char *path;
	const char *mode;	 /* "fanotify" (all of it), "inotify" (some or all of it
				  * under inotify watches), "partial" (some directories
				  * unwatched: rescan it periodically), "periodic" (nothing
				  * watched) */
	uint64_t watches;	 /* inotify watches held for it */
	uint64_t unwatched_dirs; /* directories left unwatched, each with its subtree */
};

struct watch_status {
	uint64_t events;    /* events read */
	uint64_t emitted;   /* directories emitted */
	uint64_t overflows; /* queue overflows seen */
	uint64_t pending;   /* directories waiting for their settle window */
	size_t nroots;
	struct watch_root_status *roots;
};

/**
 * Fill @ret.  Its roots array is borrowed until the next call or
 * watch_free(); on -ENOMEM nroots is 0.
 */
void watch_status(const struct watch *w, struct watch_status *ret);

/** Close every descriptor and free @w.  Accepts NULL. */
void watch_free(struct watch *w);

#endif /* FSINDEX_WATCH_H */
