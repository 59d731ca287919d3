/* SPDX-License-Identifier: MIT */
/*
 * cmd-scan.c - `fsindex scan`: options, roots, signals, messages, exit status.
 */
#include "cmd.h"

#include "cancel.h"
#include "cli.h"
#include "log.h"
#include "progress.h"
#include "ring.h"
#include "scan.h"
#include "store.h"
#include "walk.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct cancel scan_cancel;

static void usage(void)
{
	printf("Usage: fsindex scan [OPTION]... PATH...\n"
	       "Index the directory trees at each PATH, or update them in place.\n"
	       "\n"
	       "  --db DIR                 index location (default: $FSINDEX_DB, else\n"
	       "                           $XDG_CACHE_HOME/fsindex or ~/.cache/fsindex)\n"
	       "  -j, --jobs N             worker threads (default: online CPUs)\n"
	       "  -x, --one-file-system    do not descend into other filesystems\n"
	       "      --exclude GLOB       skip entries whose name (or, with a '/', whose\n"
	       "                           path) matches GLOB; repeatable; remembered per root\n"
	       "      --no-exclude         forget the excludes remembered for each PATH\n"
	       "      --hash               also store the XXH3-128 of every regular file's\n"
	       "                           content; remembered per root\n"
	       "      --io=MODE            how content is read: auto (io_uring if it works,\n"
	       "                           else pread), uring, sync (default auto)\n"
	       "  -q, --quiet              no summary line\n"
	       "  -v, --verbose            more detail in the summary\n"
	       "  -h, --help               show this help and exit\n"
	       "\n"
	       "Exit status: 0 clean, 1 some entries could not be read, 2 fatal error,\n"
	       "130 interrupted.\n");
}

/* Allow more descriptors than the default 1024; the walk keeps a share of them. */
int cmd_scan(int argc, char **argv)
{
	enum { OPT_DB = 256, OPT_EXCLUDE, OPT_NO_EXCLUDE, OPT_HASH, OPT_IO };
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "jobs", required_argument, NULL, 'j' },
		{ "one-file-system", no_argument, NULL, 'x' },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "no-exclude", no_argument, NULL, OPT_NO_EXCLUDE },
		{ "hash", no_argument, NULL, OPT_HASH },
		{ "io", required_argument, NULL, OPT_IO },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct scan_opts opts = { 0 };
	struct progress *progress = NULL;
	struct scan_result res;
	struct store *store = NULL;
	const char *db_opt = NULL;
	char **excludes = NULL, **paths = NULL, *db = NULL;
	size_t nexcludes = 0, npaths;
	bool quiet = false, verbose = false;
	enum ring_mode io_mode = RING_AUTO;
	struct cli_excl verbosity = { 0 };
	int64_t t0;
	uint64_t v;
	int c, r, idx, status = EXIT_FATAL;

	excludes = calloc((size_t)argc + 1, sizeof(char *));
	if (!excludes)
		return EXIT_FATAL;
	while ((idx = -1, c = getopt_long(argc, argv, "j:xqvh", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_DB:
			db_opt = optarg;
			break;
		case 'j':
			if (cli_parse_u64("--jobs", optarg, 1, 1024, &v) < 0)
				goto out;
			opts.jobs = (unsigned)v;
			break;
		case 'x':
			opts.walk_flags |= WALK_XDEV;
			break;
		case OPT_EXCLUDE:
			if (strlen(optarg) > WALK_EXCLUDE_MAX) {
				log_error("scan: --exclude: pattern too long (max %d bytes)",
					  WALK_EXCLUDE_MAX);
				status = cli_usage_error("scan");
				goto out;
			}
			excludes[nexcludes++] = optarg;
			opts.set_excludes = true;
			break;
		case OPT_NO_EXCLUDE:
			/* Later --exclude options still count: "--no-exclude --exclude X" = only X. */
			nexcludes = 0;
			opts.set_excludes = true;
			break;
		case OPT_HASH:
			opts.walk_flags |= WALK_HASH;
			break;
		case OPT_IO:
			if (ring_parse_mode(optarg, &io_mode) < 0) {
				log_error("invalid --io '%s' (expected auto, uring or sync)", optarg);
				status = cli_usage_error("scan");
				goto out;
			}
			break;
		case 'q':
			cli_excl_add(&verbosity, c, idx >= 0 ? "--quiet" : "-q");
			quiet = true;
			break;
		case 'v':
			cli_excl_add(&verbosity, c, idx >= 0 ? "--verbose" : "-v");
			verbose = true;
			break;
		case 'h':
			usage();
			status = EXIT_OK;
			goto out;
		default:
			status = cli_usage_error("scan");
			goto out;
		}
	}
	if (cli_excl_check(&verbosity, "scan") < 0) {
		status = cli_usage_error("scan");
		goto out;
	}
	npaths = (size_t)(argc - optind);
	if (npaths == 0) {
		log_error("scan: no PATH given");
		status = cli_usage_error("scan");
		goto out;
	}
	paths = calloc(npaths, sizeof(char *));
	if (!paths)
		goto out;
	if (cli_resolve_roots("scan", argv + optind, npaths, paths))
		goto out;

	if ((opts.walk_flags & WALK_HASH) && cli_probe_io(io_mode) < 0)
		goto out;
	opts.io_mode = io_mode;

	db = cli_db_path(db_opt);
	if (!db)
		goto out;
	if (cli_open_store(db, STORE_LOCK, &store) < 0)
		goto out;

	/* Before any thread starts: they inherit the blocked signals. */
	r = cancel_on_signals(&scan_cancel);
	if (r < 0) {
		log_error("cannot watch for signals: %s", strerror(-r));
		goto out;
	}
	opts.excludes = excludes;
	opts.nexcludes = nexcludes;
	opts.on_error = cli_report_entry;
	opts.cancel = &scan_cancel;
	opts.on_start = progress_scan_start;
	opts.on_end = progress_scan_end;
	opts.progress_ctx = &progress;

	t0 = now_mono_ns();
	r = scan_run(store, paths, npaths, &opts, &res);
	/* Nothing was walked for want of descriptors: no summary, only the reason. */
	if (res.fd_needed)
		quiet = true;
	if (!quiet)
		log_info("scanned %llu dirs, %llu files, %llu errors in %.2f s",
			 (unsigned long long)res.dirs + res.roots_walked,
			 (unsigned long long)res.files, (unsigned long long)res.errors,
			 (double)(now_mono_ns() - t0) / 1e9);
	if (!quiet && (res.hashed || (opts.walk_flags & WALK_HASH)))
		log_info("hashed %llu files, %llu bytes with %s, %u in flight at most",
			 (unsigned long long)res.hashed, (unsigned long long)res.hashed_bytes,
			 res.uring ? "io_uring" : "pread", res.peak_inflight);
	if (verbose)
		log_info("%llu added, %llu changed, %llu moved, %llu removed; %llu commits, "
			 "%llu map grows, "
			 "%llu txn splits; %llu tasks, %llu steals, %llu dirs pending at most",
			 (unsigned long long)res.added, (unsigned long long)res.changed,
			 (unsigned long long)res.moved, (unsigned long long)res.removed, (unsigned long long)res.writes.commits,
			 (unsigned long long)res.writes.map_grows,
			 (unsigned long long)res.writes.txn_splits,
			 (unsigned long long)res.tasks.run, (unsigned long long)res.tasks.steals,
			 (unsigned long long)res.max_pending);
	if (r == -ECANCELED) {
		log_notice("interrupted; the index keeps what was committed");
		status = EXIT_INTERRUPTED;
	} else if (r == -EMFILE && res.fd_needed) {
		cli_fd_shortage("scan", res.fd_limit, res.fd_used, res.fd_needed);
	} else if (r < 0 && r == store_write_error(store)) {
		char *q = log_quote(db, strlen(db));

		log_error("scan failed: cannot write index '%s': %s", q ? q : db, store_strerror(r));
		free(q);
	} else if (r < 0) {
		log_error("scan failed: %s", store_strerror(r));
	} else {
		status = res.errors ? EXIT_PARTIAL : EXIT_OK;
	}
out:
	store_close(store);
	if (paths)
		for (size_t i = 0; i < npaths; i++)
			free(paths[i]);
	free(paths);
	free(excludes);
	free(db);
	return status;
}
