/* SPDX-License-Identifier: MIT */
/*
 * filter.h - `fsindex find`'s metadata filters (--size, --newer, --older,
 * --user, --group, --empty, --dup, --exists): parsing their arguments, and
 * the predicate on a matched entry and its stored node.
 */
#ifndef FSINDEX_FILTER_H
#define FSINDEX_FILTER_H

#include <stdbool.h>
#include <stdint.h>

struct find_entry;
struct node;
struct visible;

/** Which filters a struct filter holds (any number, all must pass). */
enum filter_what {
	FILTER_SIZE = 1 << 0,
	FILTER_NEWER = 1 << 1,
	FILTER_OLDER = 1 << 2,
	FILTER_USER = 1 << 3,
	FILTER_GROUP = 1 << 4,
	FILTER_EMPTY = 1 << 5,
	FILTER_DUP = 1 << 6,
	FILTER_EXISTS = 1 << 7,
};

/** A --size: the size is below (-1), exactly (0) or above (+1) @bytes. */
struct filter_size {
	int cmp;
	uint64_t bytes;
};

/** An instant, as node mtimes are kept. */
struct filter_time {
	int64_t sec;
	uint32_t nsec;
};

/** The filters of one query.  Zero-initialise, then set @what and the fields it names. */
struct filter {
	unsigned what;			/* FILTER_* */
	struct filter_size size;
	struct filter_time newer;	/* mtime strictly after */
	struct filter_time older;	/* mtime strictly before */
	uint32_t uid, gid;
	struct visible *visible;	/* borrowed: the reach check of the index read (visible.h),
					 * NULL when it shows everything */
};

/**
 * Parse a --size argument "[+-]N[kMGT]": N bytes, or N KiB, MiB, GiB or TiB
 * with a suffix (k and K are the same); '+' means more than that, '-' less,
 * neither exactly that.  No rounding to the unit as find(1) does.  Returns
 * 0 and *ret, or -EINVAL with a static reason in *ret_why.
 */
int filter_parse_size(const char *s, struct filter_size *ret, const char **ret_why);

/**
 * Parse a date: "YYYY-MM-DD", optionally followed by " HH:MM" or "THH:MM",
 * ":SS", a fraction ".NNN" (up to nine digits) and "Z" (UTC; else local
 * time), or "@SECONDS" since the Epoch (may be negative).  Returns 0 and
 * *ret, or -EINVAL with a static reason in *ret_why.
 */
int filter_parse_date(const char *s, struct filter_time *ret, const char **ret_why);

/**
 * A --newer/--older argument: a date (filter_parse_date()) if @s looks like
 * one (starts with '@' or with four digits and '-'), else the modification
 * time of the file @s (stat(2): symlinks followed, as find -newer does).
 * Returns 0 and *ret; -EINVAL with *ret_why for a malformed date; or
 * -errno of stat() with *ret_why set to "cannot stat it".
 */
int filter_parse_when(const char *s, struct filter_time *ret, const char **ret_why);

/**
 * A --user (@group false) or --group (true) argument: a name the system
 * knows (getpwnam(3)/getgrnam(3)), else a decimal id.  Returns 0 and *ret,
 * or -EINVAL with a static reason in *ret_why.
 */
int filter_parse_owner(const char *s, bool group, uint32_t *ret, const char **ret_why);

/** Does filter_match() need the entry's node for the filters of @f? */
bool filter_needs_node(const struct filter *f);

/**
 * Does entry @e (borrowed, as find_fn gets it) pass every filter of @f?
 * @n is its node, read by the caller when filter_needs_node(), else
 * ignored.  --empty and --dup read more of the index through e->reader,
 * --exists lstat()s the path.  Returns 1, 0, or a negative error from the
 * index.
 */
int filter_match(const struct filter *f, const struct find_entry *e, const struct node *n);

#endif /* FSINDEX_FILTER_H */
