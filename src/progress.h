/* SPDX-License-Identifier: MIT */
/*
 * progress.h - a one-line progress display on a terminal, redrawn a few
 * times a second by its own thread from counters the workers bump.
 */
#ifndef FSINDEX_PROGRESS_H
#define FSINDEX_PROGRESS_H

#include <stddef.h>

struct progress;
struct walk_stats;

/** Format the current status into @buf (@size bytes, NUL-terminated, no newline). */
typedef void progress_fn(void *ctx, char *buf, size_t size);

/**
 * Start redrawing what @fn says on file descriptor @fd if it is a terminal;
 * otherwise do nothing.  *ret is the caller's (progress_stop()); it may be
 * NULL.  Returns 0 or -ENOMEM.
 */
int progress_start(int fd, progress_fn *fn, void *ctx, struct progress **ret);

/** Stop the thread and erase the line.  Accepts NULL. */
void progress_stop(struct progress *p);

/**
 * scan_opts.on_start / on_end for a scan's progress on stderr; their
 * context is a `struct progress *` variable that they set and clear.
 */
void progress_scan_start(void *ctx, struct walk_stats *stats);
void progress_scan_end(void *ctx);

#endif /* FSINDEX_PROGRESS_H */
