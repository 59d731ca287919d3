/* SPDX-License-Identifier: MIT */
/*
 * visible.h - may the calling user learn that a path exists?  The rule for
 * showing entries of an index that is not the user's own (the system index):
 * an entry is shown only if the user could reach it now, which takes search
 * permission on every directory on the way and read permission on each of
 * them, to learn the name in it.  So every directory above the entry must
 * pass access(R_OK | X_OK), checked as the real user (the group of a setgid
 * fsindex is gone by then) and remembered for the directories above the
 * last entry asked about: entries come depth-first, so each directory of a
 * query costs one access() at most, and nothing below a refused directory
 * costs one.
 */
#ifndef FSINDEX_VISIBLE_H
#define FSINDEX_VISIBLE_H

#include <stdbool.h>
#include <stddef.h>

struct visible;

/** A new checker with nothing cached; *ret is the caller's (visible_free()).  0 or -ENOMEM. */
int visible_new(struct visible **ret);

/** Accepts NULL. */
void visible_free(struct visible *v);

/**
 * May the user see the entry at absolute @path (@len bytes), whose last
 * component starts at @name_off?  "/" itself is always visible.  On -ENOMEM
 * (a deeper path than any before) the answer is false: hide when unsure.
 */
bool visible_entry(struct visible *v, const char *path, size_t len, size_t name_off);

/**
 * May the user learn the names in directory @dir (absolute, @len bytes, no
 * trailing slash but for "/"): is it and every directory above it readable
 * and searchable?  As visible_entry() for the entries in @dir.
 */
bool visible_dir(struct visible *v, const char *dir, size_t len);

/**
 * Does the index at @path need a visible checker for this user: true unless
 * the caller is root or owns the index's directory (its own index shows all).
 * An index that cannot be looked at is judged foreign (true).
 */
bool visible_needed(const char *path);

#endif /* FSINDEX_VISIBLE_H */
