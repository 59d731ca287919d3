/* SPDX-License-Identifier: MIT */
/*
 * lmdbcheck.h - is an LMDB data file shorter than the pages it refers to?
 *
 * LMDB maps the data file and trusts it: a page past the end of the file is
 * SIGBUS, not an error.  Yet a valid file may end before its last page
 * number, because LMDB never writes a page that was allocated and freed in
 * the same transaction.  This module reads the pages of one snapshot with
 * pread() (never through a map) and says whether each page the snapshot
 * reaches lies inside the file.  It knows LMDB's on-disk format (data
 * version 1, unchanged since LMDB 0.9.0) but not lmdb.h: store-priv.h stays the
 * only file that includes it.
 */
#ifndef FSINDEX_LMDBCHECK_H
#define FSINDEX_LMDBCHECK_H

#include <stddef.h>
#include <stdint.h>

/**
 * Check the snapshot of transaction @txnid in the data file @fd (borrowed)
 * of page size @psize: every branch page of every database, and every
 * leaf of the main and free databases and of small named ones, is read
 * and must lie inside the file's first @npages pages and say so in its
 * header; the other leaves are only checked to lie inside the file.  The
 * caller holds a read transaction of @txnid, so no page of it is reused.
 * Returns 0 when everything is inside, -EBADMSG when something is not (or
 * the pages make no sense), -EAGAIN when neither meta page holds @txnid
 * (a writer committed twice since), or -errno from pread().
 */
int lmdbcheck_snapshot(int fd, size_t psize, uint64_t txnid, uint64_t npages);

#endif /* FSINDEX_LMDBCHECK_H */
