/* SPDX-License-Identifier: MIT */
/*
 * find-sources.h - the indexes a query reads.  One, when the user chose it
 * (--db, $FSINDEX_DB); else the per-user index and the system index that
 * fsindexd keeps, whichever of them exist, each path reported once.  An
 * index that is not the user's own shows only what the user may reach
 * (visible.h).
 */
#ifndef FSINDEX_FIND_SOURCES_H
#define FSINDEX_FIND_SOURCES_H

#include <stdbool.h>
#include <stddef.h>

struct store;
struct visible;

struct find_source {
	char *path;
	struct store *store;
	struct visible *visible;	/* NULL: the user's own index, everything shown */
};

struct find_sources {
	struct find_source src[2];
	size_t n;
	char **overlap;		/* the roots of src[1] when n == 2 */
	size_t noverlap;
};

/**
 * Open the indexes for --db @option (NULL: not given) read-only into *ret.
 * Fails (message printed, naming each index and why) only if none can be
 * opened; an unreadable system index beside a per-user one is skipped
 * quietly.  Returns 0 or a negative error; either way find_sources_close().
 */
int find_sources_open(const char *option, struct find_sources *ret);

/**
 * --sync for @cmd: wait until the daemon serving each of the indexes has
 * applied every change made before the call (sync.h), at most @timeout_ms
 * each.  Of two indexes, those no daemon serves are passed over quietly,
 * unless neither has one: then, as for one index, a note says so.
 */
void find_sources_sync(const struct find_sources *fs, const char *cmd, int timeout_ms);

/** Close what find_sources_open() opened.  Accepts a zeroed struct. */
void find_sources_close(struct find_sources *fs);

/**
 * For a command that reads one index about @paths (absolute, as the index
 * spells them): the only one, or of the user's and the system's the first
 * that holds every one of them (the user's when neither does, which then
 * names the paths it lacks).  Borrowed from @fs.
 */
const struct find_source *find_sources_pick(const struct find_sources *fs, char *const *paths,
					    size_t n);

/**
 * Is @path (@len bytes) one that src[1] may report too (under one of its
 * roots)?  Then src[0]'s report of it is to be remembered, and src[1]'s
 * skipped.
 */
bool find_sources_overlap(const struct find_sources *fs, const char *path, size_t len);

#endif /* FSINDEX_FIND_SOURCES_H */
