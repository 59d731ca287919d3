/* SPDX-License-Identifier: MIT */
/*
 * cmd-scan.c - `fsindex scan` and `fsindex rescan`: options, roots, signals,
 * messages, exit status.
 */
#include "cmd.h"

#include "cancel.h"
#include "cli.h"
#include "engine.h"
#include "errors.h"
#include "log.h"
#include "progress.h"
#include "rescan.h"
#include "ring.h"
#include "scan.h"
#include "store.h"
#include "sync.h"
#include "walk.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct cancel scan_cancel;

enum { OPT_EXCLUDE = CLI_OPT_OWN, OPT_NO_EXCLUDE, OPT_HASH };

static const struct cli_option scan_options[] = {
	{ "--one-file-system", "-x", 'x', NULL, "do not descend into other filesystems", CLI_SCAN },
	{ "--exclude", NULL, OPT_EXCLUDE, " GLOB",
	  "skip entries whose name (or, with a '/', whose\npath) matches GLOB; repeatable; "
	  "remembered per root", CLI_SCAN },
	{ "--no-exclude", NULL, OPT_NO_EXCLUDE, NULL,
	  "forget the excludes remembered for each PATH", CLI_SCAN },
	{ "--hash", NULL, OPT_HASH, NULL,
	  "also store the XXH3-128 of every regular file's\ncontent; remembered per root", CLI_SCAN },
};

static const struct cli_command scan_cmd = {
	.name = "scan",
	.bit = CLI_SCAN,
	.synopsis = "[OPTION]... PATH...",
	.about = "Index the directory trees at each PATH, or update them in place.\n",
	.notes = "With -v the summary also counts the entries added, changed, moved and\n"
		 "removed, and the work done (commits, tasks, steals).\n"
		 "\n"
		 "Exit status: 0 clean, 1 some entries could not be read, 2 fatal error,\n"
		 "130 interrupted.\n",
	.own = scan_options,
	.nown = ARRAY_SIZE(scan_options),
};

/* The options into @opts and @common; returns 0, CLI_HELP_SHOWN or -EINVAL. */
static int parse(int argc, char **argv, struct cli_common *common, struct scan_opts *opts,
		 char **excludes, size_t *nexcludes)
{
	struct cli_parser p;
	int c, r;

	cli_parser_init(&p, &scan_cmd);
	while ((c = cli_getopt(&p, argc, argv)) != -1) {
		r = cli_common_option(&p, c, common);
		if (r < 0 || r == CLI_HELP_SHOWN)
			return r;
		if (r)
			continue;
		switch (c) {
		case 'x':
			opts->walk_flags |= WALK_XDEV;
			break;
		case OPT_EXCLUDE:
			if (strlen(optarg) > WALK_EXCLUDE_MAX) {
				log_error("scan: --exclude: pattern too long (max %d bytes)",
					  WALK_EXCLUDE_MAX);
				return -EINVAL;
			}
			excludes[(*nexcludes)++] = optarg;
			opts->set_excludes = true;
			break;
		case OPT_NO_EXCLUDE:
			/* Later --exclude options still count: "--no-exclude --exclude X" = only X. */
			*nexcludes = 0;
			opts->set_excludes = true;
			break;
		case OPT_HASH:
			opts->walk_flags |= WALK_HASH;
			break;
		default:
			return -EINVAL;
		}
	}
	if (cli_common_finish(&p, common) < 0)
		return -EINVAL;
	if (optind == argc) {
		log_error("scan: no PATH given");
		return -EINVAL;
	}
	return 0;
}

/* The summary: one line, two with hashing, the counters with -v. */
static void report(const struct scan_result *res, const struct store_write_stats *ws,
		   const struct scan_opts *opts, const struct cli_common *common, int64_t t0)
{
	if (common->quiet)
		return;
	log_info("scanned %llu dirs, %llu files, %llu errors in %.2f s",
		 (unsigned long long)res->dirs + res->roots_walked, (unsigned long long)res->files,
		 (unsigned long long)res->errors, (double)(now_mono_ns() - t0) / 1e9);
	if (res->hashed || (opts->walk_flags & WALK_HASH))
		log_info("hashed %llu files, %llu bytes with %s, %u in flight at most",
			 (unsigned long long)res->hashed, (unsigned long long)res->hashed_bytes,
			 res->uring ? "io_uring" : "pread", res->peak_inflight);
	if (common->verbose)
		log_info("%llu added, %llu changed, %llu moved, %llu removed; %llu commits, "
			 "%llu map grows, %llu txn splits; %llu tasks, %llu steals, "
			 "%llu dirs pending at most",
			 (unsigned long long)res->added, (unsigned long long)res->changed,
			 (unsigned long long)res->moved, (unsigned long long)res->removed,
			 (unsigned long long)ws->commits, (unsigned long long)ws->map_grows,
			 (unsigned long long)ws->txn_splits, (unsigned long long)res->tasks.run,
			 (unsigned long long)res->tasks.steals, (unsigned long long)res->max_pending);
}

/* The exit status for scan_run()'s @r, with the reason on stderr. */
static int status_of(const char *verb, int r, const struct scan_result *res, struct store *store,
		     const char *db)
{
	if (r == -ECANCELED) {
		log_notice("interrupted; the index keeps what was committed");
		return EXIT_INTERRUPTED;
	}
	if (r < 0 && r == store_write_error(store)) {
		char *q = log_quote(db, strlen(db));

		log_error("%s failed: cannot write index '%s': %s", verb, q ? q : db,
			  fsi_strerror(r));
		free(q);
		return EXIT_FATAL;
	}
	if (r < 0) {
		log_error("%s failed: %s", verb, fsi_strerror(r));
		return EXIT_FATAL;
	}
	return res->errors ? EXIT_PARTIAL : EXIT_OK;
}

/*
 * The engine of one scan: every worker the descriptors allow, and io_uring
 * insisted on only when this scan hashes (a root that hashes already takes
 * it when it works).  Reports a shortage of descriptors itself.
 */
static int start_engine(struct store *store, const struct cli_common *common,
			const struct scan_opts *opts, struct engine **ret)
{
	struct engine_opts eo = {
		.jobs = common->jobs,
		.io_mode = (opts->walk_flags & WALK_HASH) || common->io != RING_URING ? common->io
											: RING_AUTO,
		.write = true,
		.cancel = &scan_cancel,
	};
	struct engine_fd_shortage sh = { 0 };
	int r = engine_new(store, &eo, ret, &sh);

	if (r == -EMFILE && sh.needed)
		cli_fd_shortage("scan", sh.limit, sh.used, sh.needed);
	else if (r < 0)
		log_error("scan failed: %s", fsi_strerror(r));
	return r;
}

/*
 * Open the index for writing (its scan lock taken), block the signals and
 * start the engine: *ret_db, *ret_store and *ret_engine are the caller's
 * also on failure.  Returns 0 or -1 (reported).
 */
static int open_index(const struct cli_common *common, const struct scan_opts *opts,
		      char **ret_db, struct store **ret_store, struct engine **ret_engine)
{
	int r;

	*ret_db = cli_db_path(common->db);
	if (!*ret_db)
		return -1;
	cli_debug_index(*ret_db);
	if (cli_open_store(*ret_db, STORE_LOCK, ret_store) < 0)
		return -1;
	/* Before any thread starts: they inherit the blocked signals. */
	r = cancel_on_signals(&scan_cancel);
	if (r < 0) {
		log_error("cannot watch for signals: %s", fsi_strerror(r));
		return -1;
	}
	return start_engine(*ret_store, common, opts, ret_engine) < 0 ? -1 : 0;
}

/*
 * A running fsindexd serves the index (and holds its scan lock for as long
 * as it runs): hand it the rescans of @paths instead, and wait for them.
 * @own: options of the command's own were given, which the daemon does not
 * take (its configuration says how it scans).  Returns true when a daemon
 * took it (*ret_status set), false to scan here.
 */
static bool handed_over(const char *cmd, const struct cli_common *common, bool own,
			char *const *paths, size_t n, int *ret_status)
{
	struct sync_peer peer;
	char *db = cli_db_path(common->db);
	int r;

	if (!db)
		return false;
	r = sync_find(db, SYNC_DEFAULT_TIMEOUT_MS, &peer);
	if (r == 1) {
		if (own)
			log_notice("%s: fsindexd scans with its own configuration: "
				   "the options of %s are not passed on", cmd, cmd);
		r = sync_rescan(cmd, &peer, db, paths, n, common->quiet);
		*ret_status = r == 0 ? EXIT_OK : EXIT_FATAL;
		r = 1;
	}
	sync_peer_clear(&peer);
	free(db);
	return r == 1;
}

/* Where the walk reports to, and the stop request it polls. */
static void hook_up(struct scan_opts *opts, struct progress **progress)
{
	opts->on_error = cli_report_entry;
	opts->cancel = &scan_cancel;
	opts->on_start = progress_scan_start;
	opts->on_end = progress_scan_end;
	opts->progress_ctx = progress;
}

int cmd_scan(int argc, char **argv)
{
	struct scan_opts opts = { 0 };
	struct cli_common common = { 0 };
	struct store_write_stats ws = { 0 };
	struct progress *progress = NULL;
	struct scan_result res = { 0 };
	struct engine *engine = NULL;
	struct store *store = NULL;
	char **excludes = NULL, **paths = NULL, *db = NULL;
	size_t nexcludes = 0, npaths = 0;
	int64_t t0;
	int r, fr, status = EXIT_FATAL;

	excludes = calloc((size_t)argc + 1, sizeof(char *));
	if (!excludes)
		return EXIT_FATAL;
	r = parse(argc, argv, &common, &opts, excludes, &nexcludes);
	if (r != 0) {
		status = r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("scan");
		goto out;
	}
	npaths = (size_t)(argc - optind);
	paths = calloc(npaths, sizeof(char *));
	if (!paths)
		goto out;
	if (cli_resolve_roots("scan", argv + optind, npaths, paths))
		goto out;
	if (handed_over("scan", &common, opts.walk_flags || opts.set_excludes, paths, npaths,
			&status))
		goto out;
	if ((opts.walk_flags & WALK_HASH) && cli_probe_io(common.io) < 0)
		goto out;
	if (open_index(&common, &opts, &db, &store, &engine) < 0)
		goto out;
	opts.excludes = excludes;
	opts.nexcludes = nexcludes;
	hook_up(&opts, &progress);

	t0 = now_mono_ns();
	r = scan_run(engine, paths, npaths, &opts, &res);
	fr = engine_free(engine, &ws);
	engine = NULL;
	if (fr < 0 && (r >= 0 || r == -ECANCELED))
		r = fr;
	report(&res, &ws, &opts, &common, t0);
	status = status_of("scan", r, &res, store, db);
out:
	engine_free(engine, NULL);
	store_close(store);
	if (paths)
		for (size_t i = 0; i < npaths; i++)
			free(paths[i]);
	free(paths);
	free(excludes);
	free(db);
	return status;
}

/* ---- fsindex rescan --------------------------------------------------- */

enum { OPT_ONE_LEVEL = CLI_OPT_OWN };

static const struct cli_option rescan_options[] = {
	{ "--one-level", NULL, OPT_ONE_LEVEL, NULL,
	  "compare each DIR's own entries only: known\nsubdirectories are not descended into "
	  "(new ones\nare walked whole)", CLI_RESCAN },
};

static const struct cli_command rescan_cmd = {
	.name = "rescan",
	.bit = CLI_RESCAN,
	.synopsis = "[OPTION]... DIR...",
	.about = "Update directories already in the index, each with the options of the\n"
		 "root it lies below (excludes, hashing, one filesystem); no root is\n"
		 "recorded.  A DIR that is no longer the indexed directory is taken in\n"
		 "from its parent.\n",
	.notes = "Exit status: 0 clean, 1 some entries could not be read, 2 fatal error\n"
		 "(also a DIR that is not in the index), 130 interrupted.\n",
	.own = rescan_options,
	.nown = ARRAY_SIZE(rescan_options),
};

static int parse_rescan(int argc, char **argv, struct cli_common *common, unsigned *flags)
{
	struct cli_parser p;
	int c, r;

	cli_parser_init(&p, &rescan_cmd);
	while ((c = cli_getopt(&p, argc, argv)) != -1) {
		r = cli_common_option(&p, c, common);
		if (r < 0 || r == CLI_HELP_SHOWN)
			return r;
		if (r)
			continue;
		if (c != OPT_ONE_LEVEL)
			return -EINVAL;
		*flags |= RESCAN_ONE_LEVEL;
	}
	if (cli_common_finish(&p, common) < 0)
		return -EINVAL;
	if (optind == argc) {
		log_error("rescan: no DIR given");
		return -EINVAL;
	}
	return 0;
}

/*
 * The real path of directory @arg, as the index spells it.  One that no
 * longer exists is spelt from its parent's real path, so that its removal
 * can be taken in.  Returns the path (the caller's) or NULL, with the
 * reason on stderr.
 */
static char *resolve_dir(const char *arg)
{
	char *p = realpath(arg, NULL), *copy = NULL, *parent = NULL, *slash;
	struct stat st;
	int err = 0;

	if (p) {
		if (stat(p, &st) < 0)
			err = errno;
		else if (!S_ISDIR(st.st_mode))
			err = ENOTDIR;
	} else if (errno == ENOENT && (copy = strdup(arg))) {
		/* "a/b/" is "a/b": its last name is what vanished. */
		for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
			copy[n - 1] = '\0';
		slash = strrchr(copy, '/');
		if (slash)
			*slash = '\0';
		parent = realpath(slash ? (slash == copy ? "/" : copy) : ".", NULL);
		if (parent && asprintf(&p, "%s/%s", strcmp(parent, "/") ? parent : "",
				       slash ? slash + 1 : copy) < 0)
			p = NULL;
		if (!p)
			err = ENOENT;
	} else {
		err = errno ? errno : ENOMEM;
	}
	if (err) {
		char *q = log_quote(arg, strlen(arg));

		log_error("cannot rescan '%s': %s", q ? q : "?", strerror(err));
		free(q);
		free(p);
		p = NULL;
	}
	free(copy);
	free(parent);
	return p;
}

/* Why a DIR cannot be rescanned, naming it. */
static void report_bad_dir(const char *path, int r)
{
	char *q = log_quote(path, strlen(path));

	if (r == -ENOENT)
		log_error("rescan: '%s' is not in the index (scan a directory that holds it first)",
			  q ? q : path);
	else
		log_error("rescan: '%s': %s", q ? q : path, fsi_strerror(r));
	free(q);
}

int cmd_rescan(int argc, char **argv)
{
	struct cli_common common = { 0 };
	struct scan_opts opts = { 0 };
	struct store_write_stats ws = { 0 };
	struct progress *progress = NULL;
	struct scan_result res = { 0 };
	struct engine *engine = NULL;
	struct store *store = NULL;
	char **paths = NULL, *db = NULL;
	size_t npaths = 0, bad = 0;
	unsigned flags = 0;
	int64_t t0;
	int r, fr, status = EXIT_FATAL;

	r = parse_rescan(argc, argv, &common, &flags);
	if (r != 0)
		return r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("rescan");
	npaths = (size_t)(argc - optind);
	paths = calloc(npaths, sizeof(char *));
	if (!paths)
		goto out;
	for (size_t i = 0; i < npaths; i++)
		if (!(paths[i] = resolve_dir(argv[optind + (int)i])))
			goto out;
	/* The daemon's rescan is of a subtree, which covers --one-level. */
	if (handed_over("rescan", &common, false, paths, npaths, &status))
		goto out;
	if (open_index(&common, &opts, &db, &store, &engine) < 0)
		goto out;
	hook_up(&opts, &progress);

	t0 = now_mono_ns();
	r = rescan_paths(engine, paths, npaths, flags, &opts, &res, &bad);
	fr = engine_free(engine, &ws);
	engine = NULL;
	if (fr < 0 && (r >= 0 || r == -ECANCELED))
		r = fr;
	if ((r == -ENOENT || r == -ENOTDIR) && res.roots_walked == 0) {
		report_bad_dir(paths[bad], r);
		goto out;
	}
	report(&res, &ws, &opts, &common, t0);
	status = status_of("rescan", r, &res, store, db);
out:
	engine_free(engine, NULL);
	store_close(store);
	for (size_t i = 0; paths && i < npaths; i++)
		free(paths[i]);
	free(paths);
	free(db);
	return status;
}
