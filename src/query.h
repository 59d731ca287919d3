/* SPDX-License-Identifier: MIT */
/*
 * query.h - matching paths against `fsindex find` patterns.
 *
 * Matching is on bytes (C locale).  A pattern without any of `* ? [` matches
 * a substring of the absolute path, like locate(1); with one of them it is an
 * fnmatch(3) glob over the whole absolute path without FNM_PATHNAME, so `*`
 * crosses `/`.  QUERY_NAME matches the last component instead of the path;
 * QUERY_REGEX makes every pattern an unanchored POSIX ERE.  QUERY_ICASE folds
 * ASCII case.  Several patterns must all match.
 */
#ifndef FSINDEX_QUERY_H
#define FSINDEX_QUERY_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>

struct query;

enum query_flags {
	QUERY_ICASE = 1 << 0,
	QUERY_NAME = 1 << 1,
	QUERY_REGEX = 1 << 2,
};

/**
 * Compile @npatterns patterns (NUL-terminated strings, borrowed for the
 * call).  On success *ret_query is the caller's (query_free()).  On a
 * malformed pattern returns -EINVAL and, if @ret_error is not NULL, a
 * malloc'd message naming the pattern and the problem (the caller frees).
 * Other errors: -ENOMEM.
 */
int query_new(const char *const *patterns, size_t npatterns, unsigned flags,
	      struct query **ret_query, char **ret_error);

/** Free @query.  Accepts NULL. */
void query_free(struct query *query);

/**
 * Does the absolute path @path (@len bytes, NUL-terminated at path[len])
 * match, given that its last component starts at @name_off?  A query with
 * no patterns matches everything.  Thread-safe.
 */
bool query_match(const struct query *query, const char *path, size_t len, size_t name_off);

/** Does @pattern contain a glob wildcard (`*`, `?` or `[`)? */
bool query_is_glob(const char *pattern);

/**
 * A copy of @query with state of its own (a regex's DFA cache, which a
 * query shares between threads behind a mutex): one per thread matching at
 * once.  *ret_query is the caller's (query_free()).  Returns 0 or -ENOMEM.
 */
int query_dup(const struct query *query, struct query **ret_query);

/** How many patterns @query has. */
size_t query_npatterns(const struct query *query);

/** The QUERY_* flags @query was compiled with. */
unsigned query_flags(const struct query *query);

typedef int query_lit_fn(void *ctx, const char *s, size_t len);

/**
 * Call @fn for strings that every path (with QUERY_NAME: every last
 * component) @query matches contains, ASCII case aside (compare them
 * folded): the needle of a substring, the runs of literal bytes of a glob,
 * what every match of a regex holds (ere_literal()).  Any of them alone
 * narrows the candidates; none at all (say, for `*.?`) means there is
 * nothing to narrow by.  @s is borrowed for the call.  Returns 0, @fn's
 * nonzero return, or -ENOMEM.
 */
int query_foreach_literal(const struct query *query, query_lit_fn *fn, void *ctx);

#endif /* FSINDEX_QUERY_H */
