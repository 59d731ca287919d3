/* SPDX-License-Identifier: MIT */
/*
 * dups-index.h - `dups --indexed`: gather the candidates of a duplicate
 * search from the index as it is, instead of from a scan.
 */
#ifndef FSINDEX_DUPS_INDEX_H
#define FSINDEX_DUPS_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct dups_collector;
struct store;
struct visible;

struct dups_index_stats {
	uint64_t files;		/* regular files of the index below the PATHs */
	uint64_t changed;	/* left out: not on disk as the index has them */
	uint64_t rehash;	/* their stored hashes not trusted: read again */
};

/**
 * Hand every regular file the index (@store, opened read-only) holds below
 * each of @paths (absolute, real; the collector's roots) to @col, as a scan
 * would have.  Each file that shares its size with another is looked at
 * first: one whose (dev, ino, size, mtime) differ from the record is left
 * out with a note on stderr; one whose ctime differs or whose record is
 * racy loses its stored hashes, so they are computed again.  With @visible
 * (not NULL: another's index), what the user may not reach (visible.h) is
 * skipped before it is looked at or named, and a PATH hidden so is one the
 * index does not hold.  Returns 0, -ENOENT after naming each PATH the index
 * does not hold (or that is not a directory there), or another negative
 * error.
 */
int dups_collect_indexed(struct store *store, struct visible *visible, char *const *paths,
			 size_t npaths, struct dups_collector *col, struct dups_index_stats *st);

#endif /* FSINDEX_DUPS_INDEX_H */
