/* SPDX-License-Identifier: MIT */
/*
 * ring.h - reading file content without blocking: one io_uring per worker,
 * many files in flight, with a pread(2) fallback behind the same interface.
 *
 * A request names a file relative to an open directory and the identity the
 * walker saw (ident.h).  The file is opened
 * O_RDONLY|O_NOFOLLOW|O_NOCTTY|O_NONBLOCK (plus O_NOATIME when the caller
 * owns it), checked to still be that regular file (IDENT_CONTENT), then
 * read in order:
 * on_data() receives consecutive chunks from the requested offset, and
 * on_done() is called exactly once at the end.  Callbacks run on the thread
 * that calls ring_poll() (or ring_submit(), which may reap to make room).
 */
#ifndef FSINDEX_RING_H
#define FSINDEX_RING_H

#include "ident.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring;

enum ring_mode {
	RING_AUTO = 0,	/* io_uring when it works, else pread */
	RING_URING,	/* io_uring or fail (-ENOSYS/-EPERM...) */
	RING_SYNC,	/* pread only */
};

/** Chunk @len bytes at file offset @off; chunks arrive in order, without gaps. */
typedef void ring_data_fn(void *ctx, const void *buf, size_t len, uint64_t off);

/*
 * The read is over but proves nothing: the file's ctime is in the tick of
 * the coarse clock that the read began in, so a write during the read may
 * have left every timestamp as it was.  Reading it again once the tick is
 * over (ring_wait_tick()) settles it.
 */
#define RING_E_TICK (-EINPROGRESS)
/* Reads that may end in RING_E_TICK before a file counts as being written. */
#define RING_TICK_RETRIES 2

/**
 * The request is over: @result is 0 (all requested bytes delivered, or EOF
 * reached exactly at the expected size), -ESTALE (the file is no longer
 * what the walker saw: other inode, type, size or mtime, before or after the
 * read), RING_E_TICK, or another -errno (EACCES, EIO, ...).
 */
typedef void ring_done_fn(void *ctx, int result);

struct ring_read {
	int dirfd;		/* borrowed; must stay open until on_done */
	const char *name;	/* borrowed until on_done; NUL-terminated */
	struct ident id;	/* what the walker saw (ctime aside: the read keeps
				   the one its first fstat finds) */
	uint32_t uid;		/* owner, to decide on O_NOATIME */
	uint64_t offset;	/* first byte wanted */
	uint64_t length;	/* bytes wanted from offset (clamped to size) */
	ring_data_fn *on_data;
	ring_done_fn *on_done;
	void *ctx;
};

struct ring_stats {
	uint64_t files;		/* requests completed */
	uint64_t bytes;		/* bytes delivered */
	unsigned peak_inflight;	/* most requests in flight at once */
	bool uring;		/* io_uring is in use (else pread) */
};

/**
 * Create a ring with room for @depth requests in flight (0: 16).  In
 * RING_AUTO mode, an io_uring that cannot be set up or lacks an opcode this
 * file needs (probed, not assumed from the kernel version) silently becomes
 * the pread backend; ring_stats().uring says which.  *ret is the caller's
 * (ring_free()).  Returns 0 or -errno.
 */
int ring_new(enum ring_mode mode, unsigned depth, struct ring **ret);

/** Wait for everything in flight, then free.  Accepts NULL. */
void ring_free(struct ring *ring);

/**
 * Queue @req.  If the ring is full, reaps completions (running callbacks)
 * until there is room.  With the pread backend the whole request may be
 * served, callbacks included, before this returns.  Returns 0 or -errno (the
 * request was not queued and on_done will not be called).
 */
int ring_submit(struct ring *ring, const struct ring_read *req);

/**
 * Reap completions and run their callbacks; with @wait, block until at least
 * one request finishes (if any is in flight).  Returns the number of
 * requests finished, or -errno.
 */
int ring_poll(struct ring *ring, bool wait);

/**
 * For a task pool's idle hook: with requests in flight, flush, wait for at
 * least one to finish and return 1; with none (or a NULL @ring) return 0.
 * Returns -errno on failure.
 */
int ring_idle(struct ring *ring);

/** Sleep until the coarse clock has passed the present moment (after RING_E_TICK). */
void ring_wait_tick(void);

/**
 * The process is out of descriptors: if @ring is an io_uring ring of
 * RING_AUTO with nothing in flight, make it the pread backend, which holds
 * no descriptor of its own (the ring is closed).  Not from
 * a callback.  Returns 1 if it did, else 0.
 */
int ring_give_back(struct ring *ring);

/** Requests in flight. */
unsigned ring_inflight(const struct ring *ring);

/**
 * Counters of @ring.  Any thread (the others only read @ring through this):
 * while the ring runs, a snapshot that may be a request behind.
 */
void ring_stats(const struct ring *ring, struct ring_stats *ret);

/** Parse "auto", "uring" or "sync".  Returns 0 or -EINVAL. */
int ring_parse_mode(const char *s, enum ring_mode *ret);

#endif /* FSINDEX_RING_H */
