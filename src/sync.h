/* SPDX-License-Identifier: MIT */
/*
 * sync.h - `find --sync` and `dups --sync`: wait until fsindexd has put
 * every change made before the call into the index (the `sync` request of
 * control.h), for at most a timeout.
 */
#ifndef FSINDEX_SYNC_H
#define FSINDEX_SYNC_H

#define SYNC_DEFAULT_TIMEOUT_MS 10000

/**
 * Ask the daemon to sync every root and wait for its answer, at most
 * @timeout_ms (0: SYNC_DEFAULT_TIMEOUT_MS).  The per-user daemon's socket ($XDG_RUNTIME_DIR/fsindex/
 * control) is asked when it exists, else the system one.  Never fails: no
 * daemon is a note on stderr, a timeout, a refusal or a daemon gone
 * mid-wait a warning, and the caller answers from the index as it is.
 * Returns 0 when the daemon confirmed, 1 otherwise.
 */
int sync_wait(const char *cmd, int timeout_ms);

/** Parse --sync-timeout's SECONDS (a decimal > 0, at most a day) into *ret_ms: 0 or -EINVAL. */
int sync_parse_timeout(const char *arg, int *ret_ms);

#endif /* FSINDEX_SYNC_H */
