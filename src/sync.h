/* SPDX-License-Identifier: MIT */
/*
 * sync.h - `find --sync` and `dups --sync`: wait until fsindexd has put
 * every change made before the call into the index (the `sync` request of
 * control.h), for at most a timeout; and `scan`/`rescan` of an index a
 * daemon serves, handed to it.
 */
#ifndef FSINDEX_SYNC_H
#define FSINDEX_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#define SYNC_DEFAULT_TIMEOUT_MS 10000

/** A daemon found by sync_find(). */
struct sync_peer {
	char *socket; /* its control socket (sync_peer_clear() frees it) */
	int pid;      /* its pid, -1 if unknown */
};

/**
 * Find the daemon serving index @db: the per-user one's socket
 * ($XDG_RUNTIME_DIR/fsindex/control) is asked first, then the system one,
 * for `status-json`, within @timeout_ms.  Returns 1 (*ret is that daemon;
 * also when a daemon too old to say which index it serves answers), 0
 * (daemons answer, none serves @db: *ret is one of them), -ENOENT (none
 * answers: *ret names the system socket), or another -errno of asking
 * (-ETIMEDOUT: a daemon stopped; -EPIPE: it died; *ret is it).  Clear *ret
 * with sync_peer_clear() in every case.
 */
int sync_find(const char *db, int timeout_ms, struct sync_peer *ret);

/** Free what sync_find() put in @p. */
void sync_peer_clear(struct sync_peer *p);

/**
 * Ask the daemon serving index @db (the one the caller reads) to sync
 * every root and wait for its answer, at most @timeout_ms (0:
 * SYNC_DEFAULT_TIMEOUT_MS) in all.  Never fails: no daemon is a note on
 * stderr; a daemon that serves another index, a timeout, a refusal or a
 * daemon gone mid-wait a warning; and the caller answers from the index as
 * it is.  Returns 0 when the daemon confirmed, 1 otherwise.
 */
int sync_wait(const char *cmd, const char *db, int timeout_ms);

/**
 * `scan` and `rescan` of an index daemon @p serves (sync_find() said 1):
 * ask it to rescan each of @paths (real paths) and wait, as long as it
 * takes, until that is committed.  Says on stderr what was done (unless
 * @quiet), or why not, naming the daemon and @db.  Returns 0 or the first error (-EPROTO:
 * the daemon refused, say a path under none of its roots).
 */
int sync_rescan(const char *cmd, const struct sync_peer *p, const char *db, char *const *paths,
		size_t n, bool quiet);

/** Parse --sync-timeout's SECONDS (a decimal > 0, at most a day) into *ret_ms: 0 or -EINVAL. */
int sync_parse_timeout(const char *arg, int *ret_ms);

#endif /* FSINDEX_SYNC_H */
