/* SPDX-License-Identifier: MIT */
/*
 * fuzz-query.c - libFuzzer harness for query.c.
 *
 * Input: byte 0 holds the query flags (low 3 bits) and the number of
 * patterns (bits 3-4, 0..3); the rest is split at NUL bytes into that many
 * patterns and then a path (a missing leading '/' is added).  The harness
 * checks, besides what ASan and UBSan see:
 *   - query_new() fails only with -EINVAL plus an "invalid ..." message, and
 *     without QUERY_REGEX only for a glob with a trailing lone backslash;
 *   - a substring pattern agrees with a naive byte-by-byte search (folding
 *     A-Z only with QUERY_ICASE), on the path or on its last component;
 *   - the query with all patterns matches iff each one-pattern query does;
 *   - a query gives the same answer for a path again after matching other
 *     paths (the regex engine's lazily built DFA cache must not change it).
 * The path is matched from an exactly sized heap copy, so reading past its
 * NUL is caught.
 *
 * Build and run (not part of `make check`):
 *   clang -std=gnu17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *       src/query.c src/log.c tests/fuzz/fuzz-query.c -o fuzz-query
 *   ./fuzz-query -max_total_time=60 -max_len=512 -timeout=10
 *
 * glibc's fnmatch() backtracks (time grows like n^k for k stars), which costs
 * the user's own CPU and is not a bug in query.c, so globs with many stars
 * are skipped.  Regexes are not filtered at all: ere.c bounds the time and
 * memory of every pattern, intervals (`{`) and stacked repetitions included,
 * and a slow one would be a bug the fuzzer should find.
 */
#include "query.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_PATS = 3, MAX_STARS = 6 };

static unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool naive_find(const char *h, size_t hlen, const char *n, size_t nlen, bool icase)
{
	for (size_t i = 0; i + nlen <= hlen; i++) {
		size_t j = 0;

		while (j < nlen && (icase ? fold((unsigned char)h[i + j]) == fold((unsigned char)n[j])
					  : h[i + j] == n[j]))
			j++;
		if (j == nlen)
			return true;
	}
	return false;
}

static bool trailing_backslash(const char *p)
{
	for (; *p; p++)
		if (*p == '\\' && !*++p)
			return true;
	return false;
}

static bool too_costly(const char *p, unsigned flags)
{
	size_t stars = 0;

	if (flags & QUERY_REGEX)
		return false;
	for (; *p; p++)
		stars += *p == '*';
	return stars > MAX_STARS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pats[MAX_PATS];
	char *copy, *path, *err = NULL;
	struct query *q = NULL;
	size_t npats, len, name_off, off = 0;
	unsigned flags;
	bool expect_einval = false, all;
	int r;

	if (size < 1)
		return 0;
	flags = data[0] & 7;
	npats = (data[0] >> 3) & 3;
	data++;
	size--;

	/* One NUL-terminated copy of the rest: patterns, then the path. */
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i < npats; i++) {
		if (off > size) {
			free(copy);
			return 0;
		}
		pats[i] = copy + off;
		off += strlen(copy + off) + 1;
		if (too_costly(pats[i], flags)) {
			free(copy);
			return 0;
		}
		if (!(flags & QUERY_REGEX) && query_is_glob(pats[i]) && trailing_backslash(pats[i]))
			expect_einval = true;
	}
	if (off > size)
		off = size;

	/* The path, exactly sized: "/" + the rest up to the next NUL. */
	len = strlen(copy + off);
	if (copy[off] != '/')
		len++;
	path = malloc(len + 1);
	if (!path) {
		free(copy);
		return 0;
	}
	path[0] = '/';
	memcpy(path + (copy[off] == '/' ? 0 : 1), copy + off, strlen(copy + off) + 1);
	name_off = len;
	while (path[name_off - 1] != '/')
		name_off--;

	r = query_new(pats, npats, flags, &q, &err);
	if (r < 0) {
		if (r != -EINVAL || !err || strncmp(err, "invalid ", 8) != 0)
			abort();
		if (!(flags & QUERY_REGEX) && !expect_einval)
			abort();
		free(err);
		goto out;
	}
	if (expect_einval || err)
		abort();

	all = query_match(q, path, len, name_off);
	/* Other subjects in between (each suffix of the path), then the same again. */
	for (size_t k = 1; k < len; k++)
		query_match(q, path + k, len - k, name_off > k ? name_off - k : 0);
	if (query_match(q, path, len, name_off) != all)
		abort();
	query_free(q);

	/* AND of the single-pattern queries; substrings against the naive search. */
	{
		bool each = true;

		for (size_t i = 0; i < npats; i++) {
			bool m;

			q = NULL;
			if (query_new(&pats[i], 1, flags, &q, NULL) < 0)
				abort();
			m = query_match(q, path, len, name_off);
			query_free(q);
			if (!(flags & QUERY_REGEX) && !query_is_glob(pats[i])) {
				const char *s = flags & QUERY_NAME ? path + name_off : path;
				size_t slen = flags & QUERY_NAME ? len - name_off : len;

				if (m != naive_find(s, slen, pats[i], strlen(pats[i]),
						    flags & QUERY_ICASE))
					abort();
			}
			each = each && m;
		}
		if (all != each)
			abort();
	}
out:
	free(path);
	free(copy);
	return 0;
}
