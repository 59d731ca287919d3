/* SPDX-License-Identifier: MIT */
/*
 * ere.h - POSIX extended regular expressions over bytes, with a bound on
 * time and memory that holds for every pattern.
 *
 * The syntax is glibc's regcomp(3) REG_EXTENDED in the C locale, without
 * REG_NEWLINE (`.` and `[^a]` match a newline; `^` and `$` hold only at the
 * ends of the subject), minus back-references and the GNU word-boundary
 * operators, which are refused.  A pattern compiles to an automaton of at most
 * ERE_MAX_STATES states or is refused, so a compiled regex holds O(that)
 * memory and a match costs O(subject length x states) at worst, and one table
 * look-up per byte once the lazily built DFA has the states it needs.
 *
 * (Named ere, not regex: src/ is on the include path, and a "regex.h" here
 * would shadow the C library's <regex.h>.)
 */
#ifndef FSINDEX_ERE_H
#define FSINDEX_ERE_H

#include "util.h"

#include <stdbool.h>
#include <stddef.h>

struct ere;

/* The automaton's size limit.  '(b{63}){63}' or 4,000 bytes of literals fit;
 * a match costs at most this many steps per byte on a DFA cache miss. */
#define ERE_MAX_STATES 4096

enum ere_flags {
	ERE_ICASE = 1 << 0, /* fold ASCII letters, as REG_ICASE in the C locale */
};

/**
 * Compile the NUL-terminated @pattern.  On success *ret_re is the caller's
 * (ere_free()).  A malformed, unsupported or too complex pattern returns
 * -EINVAL and, if @ret_why is not NULL, a static string saying why (never
 * freed).  Other errors: -ENOMEM.
 */
int ere_new(const char *pattern, unsigned flags, struct ere **ret_re, const char **ret_why);

/** Free @re.  Accepts NULL. */
void ere_free(struct ere *re);

/**
 * Does @re match anywhere in the @len bytes at @s (any bytes, NUL included)?
 * Never fails: the cache grows within a fixed budget, and when it is full or an
 * allocation fails it is flushed and rebuilt as the match goes on.  Thread-safe:
 * the DFA cache is behind a mutex, so threads sharing one regex take turns.
 */
bool ere_match(struct ere *re, const char *s, size_t len);

/* The longest required literal ere_literal() gives. */
#define ERE_LIT_MAX 32

/** How many strings ere_literal() has for @re (0 to 3). */
size_t ere_nliterals(const struct ere *re);

/**
 * The @i-th string (of ere_nliterals()) that every match of @re contains,
 * ASCII-folded to lower case (compare folding the subject, even without
 * ERE_ICASE), @ret_len bytes, not NUL-terminated; borrowed from @re.
 * Anchors and the unanchored search do not matter: the string is somewhere
 * in every subject that matches.
 */
const char *ere_literal(const struct ere *re, size_t i, size_t *ret_len);

#endif /* FSINDEX_ERE_H */
