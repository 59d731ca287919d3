/* SPDX-License-Identifier: MIT */
/*
 * rootdrop.h - take a root out of the index: its record goes, and so do
 * its entries, except those another root holds (fsindexd, when a root is
 * removed from its configuration).
 */
#ifndef FSINDEX_ROOTDROP_H
#define FSINDEX_ROOTDROP_H

#include <stddef.h>
#include <stdint.h>

struct engine;

/**
 * Drop root @path (absolute, as the index spells it) from the index of
 * @e, keeping the entries of every other root recorded in the index and of
 * the @nkeep paths @keep (roots about to be scanned; NULL entries are
 * skipped), all borrowed for the call.  Waits until it is committed.
 * *ret_deleted (may be NULL): the subtrees deleted.  Returns 1 when @path
 * was a root, 0 when it was not (nothing done), or a negative error.
 */
int rootdrop_run(struct engine *e, const char *path, char *const *keep, size_t nkeep,
		 uint64_t *ret_deleted);

#endif /* FSINDEX_ROOTDROP_H */
