/* SPDX-License-Identifier: MIT */
/*
 * progress.h - a one-line progress display on a terminal, redrawn a few
 * times a second by its own thread from the walk's live counters.
 */
#ifndef FSINDEX_PROGRESS_H
#define FSINDEX_PROGRESS_H

struct progress;
struct walk_stats;

/**
 * Start drawing @stats on file descriptor @fd if it is a terminal; otherwise
 * do nothing.  *ret is the caller's (progress_stop()); it may be NULL.
 */
int progress_start(int fd, struct walk_stats *stats, struct progress **ret);

/** Stop the thread and erase the line.  Accepts NULL. */
void progress_stop(struct progress *p);

#endif /* FSINDEX_PROGRESS_H */
