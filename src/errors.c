/* SPDX-License-Identifier: MIT */
/*
 * errors.c - fsi_strerror(): the project's own error codes first, then
 * strerror(3).  A switch on constants, so two modules that picked the same
 * errno value for different meanings fail to compile here ("duplicate case
 * value") instead of printing one's message for the other's error.
 */
#include "errors.h"

#include "ring.h"
#include "store.h"

#include <string.h>

const char *fsi_strerror(int err)
{
	switch (err) {
	case STORE_E_FOREIGN:
		return "not an fsindex index (refusing to touch it)";
	case STORE_E_SCHEMA:
		return "index has an unsupported schema version";
	case STORE_E_RO_FEATURE:
		return "index has features of a newer fsindex that this one can read but not "
		       "write (scan it with the newer version)";
	case STORE_E_LOCKED:
		return "another scan is writing this index";
	case STORE_E_CORRUPT:
		return "the index holds a corrupt record (delete the index and scan again)";
	case STORE_E_UNSAFE:
		return "its directory belongs to another user or others may write to it, so its "
		       "files could be swapped for links to others (an index opens only in a "
		       "directory owned by you or root that no one else can write)";
	case STORE_E_READERLOCK:
		return "cannot write its lock file, which every reader of an LMDB index must "
		       "(read access alone is not enough: ask its owner, or query a copy)";
	case RING_E_TICK:
		return "file is being written (modified in the clock tick its read began in)";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
