/* SPDX-License-Identifier: MIT */
/*
 * longlist.h - `fsindex find -l`: one line per entry in the manner of
 * `ls -l`, from the index's metadata.
 */
#ifndef FSINDEX_LONGLIST_H
#define FSINDEX_LONGLIST_H

#include "util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct longlist;
struct node;

/** A printer with its caches of user and group names; *ret is the caller's (longlist_free()). */
int longlist_new(struct longlist **ret);

/** Free @ll.  Accepts NULL. */
void longlist_free(struct longlist *ll);

/**
 * Write @mode as ls(1) does in its first column, "drwxr-xr-x": the type
 * letter ('-' for a regular file, '?' for an unknown type), then rwx per
 * class, with s/S and t/T for setuid, setgid and sticky.  @buf holds 11
 * bytes (NUL-terminated).
 */
void longlist_mode_string(uint32_t mode, char buf[11]);

/**
 * Print one entry:
 *
 *   MODE NLINK OWNER GROUP SIZE YYYY-MM-DD HH:MM PATH<terminator>
 *
 * fields one space apart (no column alignment: lines are printed as they
 * are found); OWNER and GROUP are names, or the number when the system has
 * none; the time is the mtime in local time.  Returns 0 or -errno of stdio.
 */
int longlist_print(struct longlist *ll, FILE *out, const char *path, size_t len,
		   const struct node *n, char terminator);

#endif /* FSINDEX_LONGLIST_H */
