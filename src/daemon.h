/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - fsindexd: keep the configured roots of one index up to date
 * under systemd (sd_notify, the watchdog, a control socket).  fsindexd.c
 * parses the command line and calls daemon_run().
 */
#ifndef FSINDEX_DAEMON_H
#define FSINDEX_DAEMON_H

#include <stdbool.h>

struct daemon_opts {
	const char *config;	/* --config, or NULL: config_default_path(user) */
	const char *db;		/* --db, over the file's db= (NULL: not given) */
	bool user;		/* --user: per-user paths, same-uid callers only */
};

/**
 * Run the daemon until SIGTERM or SIGINT: load the configuration, open the
 * index (READY=1), reconcile every root, serve the control socket, reload
 * on SIGHUP or a `reload` request, reconcile at the configured interval.
 * Returns the exit status: 0 after a clean stop, 2 when it could not start
 * (a bad configuration, the index cannot be opened or is locked).
 *
 * For tests only, $FSINDEXD_TEST_FILE_DELAY_MS slows every file a scan
 * sees by that many milliseconds, so a scan can be caught running.
 */
int daemon_run(const struct daemon_opts *opts);

#endif /* FSINDEX_DAEMON_H */
