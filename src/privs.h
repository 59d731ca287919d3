/* SPDX-License-Identifier: MIT */
/*
 * privs.h - fsindex installed setgid `fsindex`: the system index is opened
 * with that group before anything a user chose is looked at, then the group
 * is given up for good.
 *
 * The system index (/var/lib/fsindex, root:fsindex 2750, written by fsindexd)
 * holds every user's names; the group lets fsindex read it and nothing
 * else.  So the only thing done with the group is opening that one index
 * read-only, first thing in main(); every pattern, option, environment
 * variable and output is handled afterwards, as the user, and what is shown
 * from the system index is filtered by what the user may reach (visible.h).
 * A command that would write to the system index opens it as the user and
 * is refused by the kernel.
 */
#ifndef FSINDEX_PRIVS_H
#define FSINDEX_PRIVS_H

#include <stdbool.h>

struct store;

/** Where fsindexd keeps the system index (its default --db). */
#define PRIVS_SYSTEM_DB "/var/lib/fsindex"

/**
 * First thing in main().  When the process runs with a group (or user) it
 * was not started with, open PRIVS_SYSTEM_DB read-only with it, then drop
 * to the real ids for good and stay undumpable (the index's pages are
 * mapped).  Nothing to do otherwise.  Returns 0, or -errno if the ids could
 * not be dropped: the caller must exit then.
 */
int privs_init(void);

/** Was the process started with privileges it has since dropped (installed setgid)? */
bool privs_was_setgid(void);

/**
 * Does the process hold rights beyond its real user's: an effective or
 * saved id other than the real one, or capabilities (not counted for root)?
 */
bool privs_elevated(void);

/**
 * If @path names the index privs_init() opened (the same directory), hand
 * that store over: 1 and *ret_store (the caller's, store_close()), or the
 * error privs_init() met opening it (< 0).  0 when @path is another index
 * or nothing was opened: the caller opens @path itself.
 */
int privs_take_store(const char *path, struct store **ret_store);

#endif /* FSINDEX_PRIVS_H */
