/* SPDX-License-Identifier: MIT */
/*
 * query.c - compiled `fsindex find` patterns and the per-path match.
 *
 * A query is one allocation: a header and an array of compiled patterns,
 * each of one kind:
 *
 *   SUBSTR  no `* ? [`: memmem(3) on the path (or its last component).  With
 *           QUERY_ICASE the needle is stored folded to lower case and the
 *           haystack is scanned with memchr(3) for both cases of the needle's
 *           first byte, then compared folding ASCII only, so a match costs no
 *           allocation and works on paths of any length (no PATH_MAX buffer).
 *   GLOB    fnmatch(3), flags 0 (so `*` crosses `/` and a leading `.` is not
 *           special), FNM_CASEFOLD with QUERY_ICASE.  A backslash escapes the
 *           next byte; a trailing lone backslash is refused up front because
 *           fnmatch would silently never match.  An unmatched `[` is literal.
 *   REGEX   ere.c: a POSIX ERE, unanchored, over the bytes of the path.
 *           Its automaton has a hard size limit, so time and memory are
 *           bounded for every pattern (glibc's regcomp() crashed, ran for
 *           minutes or took gigabytes on some).
 *
 * All patterns must match (AND).  They are evaluated cheapest first (stable:
 * substrings before globs), since the first miss decides.
 *
 * Bytes, not characters.  Paths hold any byte but NUL, including invalid
 * UTF-8, and `-i` must fold ASCII only, as the C locale does.  glibc's
 * fnmatch() consults the calling thread's LC_CTYPE (MB_CUR_MAX, toupper());
 * a main that calls setlocale(LC_ALL, "") for its messages would otherwise
 * make `?` skip bytes like 0xff and make -i fold 'É' with 'é'.  So globs
 * compile and match with uselocale() switched to the C locale for the
 * duration of the call: per-thread, cheap, and it leaves the caller's locale
 * alone.  ere.c never looks at the locale.
 *
 * Thread safety: query_match() only reads the query, but for a regex's DFA
 * cache, which ere.c keeps behind a mutex; fnmatch() and uselocale() have
 * no shared state.
 *
 * The last component: the caller passes name_off, where the name starts.  For
 * the root "/" the name is the empty string (name_off == len == 1), so with
 * QUERY_NAME it matches only patterns that match an empty string ("", "*",
 * a regex like "^$").
 */
#include "query.h"

#include "ere.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum pat_kind {
	PAT_SUBSTR,
	PAT_GLOB,
	PAT_REGEX,
};

struct query_pat {
	enum pat_kind kind;
	/* SUBSTR: the needle (folded with QUERY_ICASE); GLOB: the pattern. */
	char *str;
	size_t len;
	struct ere *re; /* REGEX only */
};

struct query {
	unsigned flags;
	/* The C locale, for fnmatch(); (locale_t)0 if no pattern needs it. */
	locale_t c_locale;
	size_t npats;
	struct query_pat pats[];
};

static inline unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static inline unsigned char unfold(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
}

bool query_is_glob(const char *pattern)
{
	return strpbrk(pattern, "*?[") != NULL;
}

/* Does the glob end in a backslash that escapes nothing? */
static bool has_trailing_backslash(const char *pattern)
{
	for (const char *p = pattern; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return true;
			p++;
		}
	}
	return false;
}

static bool is_printable(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

/* Show at most this much of a pattern in a message (a pattern may be 128 KiB). */
#define SHOWN_MAX 64

/*
 * Build "invalid <what> '<pattern>': <why>" in *ret_error (if wanted), the
 * pattern cut to SHOWN_MAX bytes and "..." if longer.
 * Returns -EINVAL, or -ENOMEM if the message could not be built.
 */
static int pattern_error(char **ret_error, const char *what, const char *pattern, const char *why)
{
	char *cut = NULL, *quoted = NULL, *msg;
	const char *shown = pattern;
	size_t len = strlen(pattern);
	int n;

	if (!ret_error)
		return -EINVAL;
	if (len > SHOWN_MAX) {
		cut = strndup(pattern, SHOWN_MAX);
		if (!cut)
			return -ENOMEM;
		shown = cut;
	}
	if (!is_printable(shown)) {
		quoted = log_quote(shown, strlen(shown));
		if (!quoted) {
			free(cut);
			return -ENOMEM;
		}
		shown = quoted;
	}
	n = asprintf(&msg, "invalid %s '%s%s': %s", what, shown, len > SHOWN_MAX ? "..." : "", why);
	free(quoted);
	free(cut);
	if (n < 0)
		return -ENOMEM;
	*ret_error = msg;
	return -EINVAL;
}

static int compile_regex(struct query_pat *pat, const char *pattern, unsigned flags,
			 char **ret_error)
{
	const char *why = NULL;
	int r;

	r = ere_new(pattern, flags & QUERY_ICASE ? ERE_ICASE : 0, &pat->re, &why);
	if (r == -EINVAL)
		return pattern_error(ret_error, "regular expression", pattern, why);
	if (r < 0)
		return r;
	pat->kind = PAT_REGEX;
	pat->str = strdup(pattern); /* for query_dup() */
	return pat->str ? 0 : -ENOMEM;
}

static int compile_one(struct query_pat *pat, const char *pattern, unsigned flags,
		       char **ret_error)
{
	size_t len = strlen(pattern);

	if (flags & QUERY_REGEX)
		return compile_regex(pat, pattern, flags, ret_error);

	if (query_is_glob(pattern)) {
		if (has_trailing_backslash(pattern))
			return pattern_error(ret_error, "pattern", pattern, "trailing backslash");
		pat->kind = PAT_GLOB;
	} else {
		pat->kind = PAT_SUBSTR;
	}
	pat->str = malloc(len + 1);
	if (!pat->str)
		return -ENOMEM;
	pat->len = len;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)pattern[i];

		/* fnmatch() folds by itself; only the substring needle is pre-folded. */
		pat->str[i] = (char)(pat->kind == PAT_SUBSTR && (flags & QUERY_ICASE) ? fold(c) : c);
	}
	return 0;
}

void query_free(struct query *query)
{
	if (!query)
		return;
	for (size_t i = 0; i < query->npats; i++) {
		struct query_pat *pat = &query->pats[i];

		ere_free(pat->re);
		free(pat->str);
	}
	if (query->c_locale)
		freelocale(query->c_locale);
	free(query);
}

/* Patterns in evaluation order: substrings (cheap) before globs. */
static const char **order_patterns(const char *const *patterns, size_t npatterns, unsigned flags)
{
	const char **ordered;
	size_t k = 0;

	ordered = malloc((npatterns ? npatterns : 1) * sizeof(*ordered));
	if (!ordered)
		return NULL;
	for (size_t i = 0; i < npatterns; i++)
		if ((flags & QUERY_REGEX) || !query_is_glob(patterns[i]))
			ordered[k++] = patterns[i];
	for (size_t i = 0; i < npatterns; i++)
		if (!(flags & QUERY_REGEX) && query_is_glob(patterns[i]))
			ordered[k++] = patterns[i];
	return ordered;
}

int query_new(const char *const *patterns, size_t npatterns, unsigned flags,
	      struct query **ret_query, char **ret_error)
{
	const char **ordered;
	struct query *query;
	locale_t old = (locale_t)0;
	bool need_locale = false;
	int r = 0;

	if (ret_error)
		*ret_error = NULL;
	if (npatterns > (SIZE_MAX - sizeof(*query)) / sizeof(query->pats[0]))
		return -ENOMEM;
	query = calloc(1, sizeof(*query) + npatterns * sizeof(query->pats[0]));
	if (!query)
		return -ENOMEM;
	query->flags = flags;

	for (size_t i = 0; i < npatterns; i++)
		if (!(flags & QUERY_REGEX) && query_is_glob(patterns[i]))
			need_locale = true;
	if (need_locale) {
		query->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
		if (!query->c_locale) {
			r = -ENOMEM;
			goto out_free;
		}
		old = uselocale(query->c_locale);
	}

	ordered = order_patterns(patterns, npatterns, flags);
	if (!ordered) {
		r = -ENOMEM;
		goto out_locale;
	}
	for (size_t i = 0; i < npatterns; i++) {
		/* Count it only once compiled, so query_free() frees what exists. */
		r = compile_one(&query->pats[i], ordered[i], flags, ret_error);
		if (r < 0)
			break;
		query->npats++;
	}
	free(ordered);
	if (r < 0)
		goto out_locale;

	if (need_locale)
		uselocale(old);
	*ret_query = query;
	return 0;

out_locale:
	if (need_locale)
		uselocale(old);
out_free:
	query_free(query);
	return r;
}

/* Is the folded needle @n (@nlen > 0 bytes) in @h, folding ASCII in @h? */
static bool find_icase(const unsigned char *h, size_t hlen, const unsigned char *n, size_t nlen)
{
	const unsigned char *end, *lo, *up;
	unsigned char c_lo = n[0], c_up = unfold(n[0]);

	if (nlen > hlen)
		return false;
	/* Candidate starts lie in [h, end). */
	end = h + (hlen - nlen + 1);
	/* If the first byte has no other case, both scans find the same bytes. */
	lo = memchr(h, c_lo, (size_t)(end - h));
	up = c_up == c_lo ? NULL : memchr(h, c_up, (size_t)(end - h));
	while (lo || up) {
		const unsigned char *p;
		size_t i;

		if (lo && (!up || lo < up)) {
			p = lo;
			lo = memchr(lo + 1, c_lo, (size_t)(end - lo - 1));
		} else {
			p = up;
			up = memchr(up + 1, c_up, (size_t)(end - up - 1));
		}
		for (i = 1; i < nlen && fold(p[i]) == n[i]; i++)
			;
		if (i == nlen)
			return true;
	}
	return false;
}

static bool match_one(const struct query *query, const struct query_pat *pat, const char *s,
		      size_t len)
{
	switch (pat->kind) {
	case PAT_SUBSTR:
		if (pat->len == 0)
			return true;
		if (query->flags & QUERY_ICASE)
			return find_icase((const unsigned char *)s, len,
					  (const unsigned char *)pat->str, pat->len);
		return memmem(s, len, pat->str, pat->len) != NULL;
	case PAT_GLOB:
		return fnmatch(pat->str, s, query->flags & QUERY_ICASE ? FNM_CASEFOLD : 0) == 0;
	case PAT_REGEX:
		return ere_match(pat->re, s, len);
	}
	return false;
}

bool query_match(const struct query *query, const char *path, size_t len, size_t name_off)
{
	locale_t old = (locale_t)0;
	bool matched = true;

	assert(name_off <= len);
	assert(path[len] == '\0');
	if (query->flags & QUERY_NAME) {
		path += name_off;
		len -= name_off;
	}
	for (size_t i = 0; i < query->npats && matched; i++) {
		const struct query_pat *pat = &query->pats[i];

		/* Only fnmatch() needs the locale; switch once, at the first glob. */
		if (pat->kind == PAT_GLOB && !old)
			old = uselocale(query->c_locale);
		matched = match_one(query, pat, path, len);
	}
	if (old)
		uselocale(old);
	return matched;
}

int query_dup(const struct query *query, struct query **ret_query)
{
	const char **pv = malloc((query->npats ? query->npats : 1) * sizeof(*pv));
	int r;

	if (!pv)
		return -ENOMEM;
	/* In evaluation order already, which query_new() keeps; a folded needle folds alike. */
	for (size_t i = 0; i < query->npats; i++)
		pv[i] = query->pats[i].str;
	r = query_new(pv, query->npats, query->flags, ret_query, NULL);
	free(pv);
	return r;
}

size_t query_npatterns(const struct query *query)
{
	return query->npats;
}

unsigned query_flags(const struct query *query)
{
	return query->flags;
}

/*
 * The end of the bracket expression that opens at @p (a '['), as fnmatch()
 * reads it, or NULL when there is none (then the '[' is a literal byte).
 */
static const char *bracket_end(const char *p)
{
	p++;
	if (*p == '!' || *p == '^')
		p++;
	if (*p == ']')
		p++;
	for (; *p; p++) {
		if (*p == ']')
			return p;
		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
			const char *q = p + 2;

			while (*q && !(q[0] == p[1] && q[1] == ']'))
				q++;
			if (!*q)
				return NULL;
			p = q + 1;
		}
	}
	return NULL;
}

/* The runs of literal bytes of glob @g, each to @fn; @buf holds strlen(@g) bytes. */
static int glob_literals(const char *g, char *buf, query_lit_fn *fn, void *ctx)
{
	size_t n = 0;
	int r = 0;

	for (const char *p = g; *p && !r; p++) {
		const char *end;

		if (*p == '\\' && p[1]) {
			buf[n++] = *++p;
			continue;
		}
		if (*p != '*' && *p != '?' && *p != '[') {
			buf[n++] = *p;
			continue;
		}
		if (n)
			r = fn(ctx, buf, n);
		n = 0;
		if (*p != '[')
			continue;
		/* Unsure how fnmatch() reads the rest: claim nothing of it. */
		if (!(end = bracket_end(p)))
			return r;
		p = end;
	}
	if (!r && n)
		r = fn(ctx, buf, n);
	return r;
}

int query_foreach_literal(const struct query *query, query_lit_fn *fn, void *ctx)
{
	int r = 0;

	for (size_t i = 0; i < query->npats && !r; i++) {
		const struct query_pat *pat = &query->pats[i];
		size_t len;
		char *buf;

		switch (pat->kind) {
		case PAT_SUBSTR:
			if (pat->len)
				r = fn(ctx, pat->str, pat->len);
			break;
		case PAT_GLOB:
			buf = malloc(pat->len + 1);
			if (!buf)
				return -ENOMEM;
			r = glob_literals(pat->str, buf, fn, ctx);
			free(buf);
			break;
		case PAT_REGEX:
			for (size_t k = 0; k < ere_nliterals(pat->re) && !r; k++) {
				const char *lit = ere_literal(pat->re, k, &len);

				r = fn(ctx, lit, len);
			}
			break;
		}
	}
	return r;
}
