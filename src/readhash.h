/* SPDX-License-Identifier: MIT */
/*
 * readhash.h - a file's content read through a worker's ring (ring.h) and
 * hashed with XXH3-128 as it streams in: the whole file, giving its three
 * digests (hash.h: head, tail, full), or one range, giving the digest of
 * that range.  The retries every reader needs are made here: a read that
 * ends in RING_E_TICK is read again once the clock tick is over, and one
 * that meets EMFILE asks its owner what to do.
 *
 * The caller embeds a struct readhash in its own request, fills in the
 * public fields and starts it on the ring of the worker it runs on: the ring
 * is the caller's (one per worker, shared by every kind of read it makes).
 * Callbacks run on the thread that polls that ring, as ring.h says.
 */
#ifndef FSINDEX_READHASH_H
#define FSINDEX_READHASH_H

#include "hash.h"
#include "ident.h"

#include <stdint.h>

struct ring;
struct readhash;

/*
 * Times one read is submitted again after EMFILE: other workers release
 * their descriptors within microseconds to milliseconds, and the owner's
 * on_emfile hook waits that long between tries.
 */
#define READHASH_EMFILE_RETRIES 1000

/**
 * The read of @rh is over: @result is 0 (the digests are ready), -ESTALE
 * (the file is not, or was not all along the read, the one @rh->id names,
 * or was still being written), or another -errno.  Called exactly once per
 * readhash_start(); @rh may be started again from here.
 */
typedef void readhash_done_fn(struct readhash *rh, int result);

/** What to do with a read that met EMFILE with nothing else of its ring in flight. */
enum readhash_emfile {
	READHASH_FAIL,		/* end it: on_done gets the error */
	READHASH_NOW,		/* submit it again at once (the hook made room or waited) */
	READHASH_LATER,		/* the hook keeps it and calls readhash_retry() later */
};

/**
 * @rh met EMFILE for the (@tries + 1)th time (at most
 * READHASH_EMFILE_RETRIES times; after that on_done gets the error).  Runs
 * inside a ring callback: it may sleep or give back descriptors the caller
 * owns, but not call ring_give_back() or ring_free() on @rh's ring.
 */
typedef enum readhash_emfile readhash_emfile_fn(struct readhash *rh, unsigned tries);

struct readhash {
	/* Set by the caller before readhash_start(); borrowed until on_done. */
	int dirfd;			/* @name is relative to it (or AT_FDCWD) */
	const char *name;		/* NUL-terminated */
	struct ident id;		/* what the file must be (ring.h) */
	uint32_t uid;			/* its owner, for O_NOATIME */
	uint64_t offset;		/* the range: 0 and id.size for the whole file */
	uint64_t length;
	readhash_done_fn *on_done;
	readhash_emfile_fn *on_emfile;	/* NULL: EMFILE ends the read */
	/* Read-only for the caller: times this read met EMFILE, and RING_E_TICK. */
	unsigned emfile_tries;
	unsigned tick_tries;
	struct readhash *next_later;	/* the link of the engine's deferred list */
	/* Private to readhash.c. */
	struct ring *ring;
	struct hash_file hf;
};

/** Prepare @rh (storage the caller provides) for any number of reads.  Returns 0 or -ENOMEM. */
int readhash_init(struct readhash *rh);

/** Release what readhash_init() allocated.  Not while a read of @rh is in flight. */
void readhash_destroy(struct readhash *rh);

/**
 * Read and hash what @rh names on @ring (borrowed until on_done).  on_done
 * is called exactly once, possibly before this returns (the pread backend,
 * or a request the ring could not take).
 */
void readhash_start(struct ring *ring, struct readhash *rh);

/**
 * Submit again, on the same ring, a read that on_emfile kept
 * (READHASH_LATER).  Not from a ring callback.  on_done is called once, as
 * after readhash_start().
 */
void readhash_retry(struct readhash *rh);

/** Did @rh read the whole file (so that readhash_digests() applies)? */
bool readhash_whole(const struct readhash *rh);

/** After a successful whole-file read: the digests of the head, the tail and everything. */
void readhash_digests(struct readhash *rh, struct hash128 *ret_head, struct hash128 *ret_tail,
		      struct hash128 *ret_full);

/** After a successful read: the digest of the range read. */
void readhash_digest(const struct readhash *rh, struct hash128 *ret);

#endif /* FSINDEX_READHASH_H */
