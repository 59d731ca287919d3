/* SPDX-License-Identifier: MIT */
/*
 * cmd-dups.c - `fsindex dups`: scan the trees into the index, find
 * duplicates there, print them, and act on them if asked.
 */
#include "cmd.h"

#include "cancel.h"
#include "cli.h"
#include "dupact.h"
#include "engine.h"
#include "dups.h"
#include "dups-index.h"
#include "errors.h"
#include "find-sources.h"
#include "log.h"
#include "output.h"
#include "progress.h"
#include "ring.h"
#include "scan.h"
#include "store.h"
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cancel dups_cancel;

static void report_read_error(void *ctx, const char *path, size_t len, int err)
{
	cli_report_entry(ctx, path, len,
			 err == -ESTALE ? "left out" : "cannot read", err);
}

/*
 * Action lines go to stdout, unless stdout carries -0 or --json records.
 * Each is flushed as soon as the action is done, so what was done is on
 * record before anything else is.  If it cannot be written, the line goes to
 * stderr instead and the actions stop (dupact_report_fn).
 */
static char *action_line(const char *what, const char *q, const char *k, bool dry_run)
{
	char *line = NULL;
	int n;

	if (strcmp(what, "delete") == 0)
		n = asprintf(&line, "%s '%s' (keeping '%s')\n", dry_run ? "would delete" : "deleted",
			     q, k);
	else if (strcmp(what, "remove") == 0)
		n = asprintf(&line, "%s leftover temporary link '%s' (to '%s')\n",
			     dry_run ? "would remove" : "removed", q, k);
	else
		n = asprintf(&line, "%s '%s' to '%s'\n",
			     strcmp(what, "link") == 0	  ? (dry_run ? "would link" : "linked")
			     : strcmp(what, "reflink") == 0 ? (dry_run ? "would reflink" : "reflinked")
							    : what,
			     q, k);
	return n < 0 ? NULL : line;
}

static int report_action(void *ctx, const char *what, const char *path, size_t len,
			 const char *kept, size_t kept_len, bool dry_run)
{
	FILE *out = *(const enum output_mode *)ctx == OUTPUT_PLAIN ? stdout : stderr;
	char *q = log_quote(path, len), *k = log_quote(kept, kept_len), *line = NULL;
	int r = -ENOMEM;

	if (q && k)
		line = action_line(what, q, k, dry_run);
	if (line) {
		errno = 0;
		r = fputs(line, out) < 0 || fflush(out) != 0 ? (errno ? -errno : -EIO) : 0;
	}
	if (r < 0) {
		clearerr(out);
		/* Not on record where it belongs: at least on stderr. */
		if (out != stderr)
			fprintf(stderr, "fsindex: %s", line ? line : "an action, unrecorded\n");
	}
	free(line);
	free(q);
	free(k);
	return r;
}

static void report_action_error(void *ctx, const char *path, size_t len, const char *what,
				int err, const char *kept, size_t kept_len)
{
	char *q = log_quote(path, len), *k = NULL;

	if (err == -ENOTUNIQ)
		k = log_quote(kept, kept_len);
	if (k)
		log_warning("%s '%s' (keeping '%s'): %s", what, q ? q : "?", k,
			    dupact_strerror(err));
	else
		log_warning("%s '%s': %s", what, q ? q : "?", dupact_strerror(err));
	free(q);
	free(k);
}

/* After actions stopped early (@why): say what was done, so nothing was done unsaid. */
static void report_actions_done(const struct dupact_opts *act, const struct dupact_stats *st,
				const char *why)
{
	static const char *const done[] = {
		[DUPACT_LINK] = "names linked",
		[DUPACT_REFLINK] = "files reflinked",
		[DUPACT_DELETE] = "names deleted",
	};
	char removed[64] = "";

	if (st->removed)
		snprintf(removed, sizeof(removed), ", %llu leftover temporary links removed",
			 (unsigned long long)st->removed);
	log_notice("%s: %s%llu %s (%llu bytes)%s, %llu failed; nothing more was changed", why,
		   act->dry_run ? "would have " : "", (unsigned long long)st->acted,
		   done[act->kind], (unsigned long long)st->bytes, removed,
		   (unsigned long long)st->errors);
}

struct read_progress {
	const struct dups_progress *p;
	int64_t t0;
};

static void read_line(void *ctx, char *buf, size_t size)
{
	static const char *const what[] = { "files", "first 4 KiB", "last 4 KiB", "whole files" };
	const struct read_progress *rp = ctx;
	int stage = atomic_load(&rp->p->stage);
	double mib = (double)atomic_load(&rp->p->bytes_done) / (1 << 20);
	double secs = (double)(now_mono_ns() - rp->t0) / 1e9;

	snprintf(buf, size, "reading %s: %llu/%llu files, %.1f MiB (%.1f MiB/s)",
		 what[stage >= 0 && stage < 4 ? stage : 0],
		 (unsigned long long)atomic_load(&rp->p->files_done),
		 (unsigned long long)atomic_load(&rp->p->files_total), mib,
		 secs > 0 ? mib / secs : 0.0);
}

/* Remove the temporary index of --no-index: its few files, then the directory. */
static void remove_index_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

struct dups_cli {
	struct cli_common common;
	bool no_index, summary, all_names, action, dry_run;
	bool indexed;		/* --indexed: no scan, the index as it is */
	bool report_failed;	/* stdout (or stderr) refused a line: acting stopped */
	enum output_mode mode;
	struct dups_opts opts;
	struct dupact_opts act;
};

enum {
	OPT_NO_INDEX = CLI_OPT_OWN, OPT_MIN_SIZE, OPT_EMPTY, OPT_VERIFY, OPT_ALL_NAMES,
	OPT_JSON, OPT_SUMMARY, OPT_LINK, OPT_REFLINK, OPT_DELETE, OPT_KEEP, OPT_DRY_RUN,
	OPT_INDEXED,
};

static const struct cli_option dups_options[] = {
	{ "--no-index", NULL, OPT_NO_INDEX, NULL,
	  "use a temporary index, removed afterwards", CLI_DUPS },
	{ "--min-size", NULL, OPT_MIN_SIZE, " N",
	  "ignore files smaller than N bytes (default 1)", CLI_DUPS },
	{ "--empty", NULL, OPT_EMPTY, NULL, "also group empty files", CLI_DUPS },
	{ "--verify", NULL, OPT_VERIFY, NULL, "compare bytes before reporting a group", CLI_DUPS },
	{ "--all-names", NULL, OPT_ALL_NAMES, NULL,
	  "list every hard link of a file, not only the first", CLI_DUPS },
	{ "--null", "-0", '0', NULL,
	  "end each path with NUL, each group with another NUL", CLI_DUPS },
	{ "--json", NULL, OPT_JSON, NULL, "one JSON object per group", CLI_DUPS },
	{ "--summary", NULL, OPT_SUMMARY, NULL,
	  "end with groups, duplicate files, bytes reclaimable", CLI_DUPS },
	{ "--link", NULL, OPT_LINK, NULL,
	  "replace duplicates by hard links to the kept file", CLI_DUPS },
	{ "--reflink", NULL, OPT_REFLINK, NULL,
	  "share the kept file's extents (FIDEDUPERANGE)", CLI_DUPS },
	{ "--delete", NULL, OPT_DELETE, NULL, "delete duplicates", CLI_DUPS },
	{ "--keep", NULL, OPT_KEEP, "=WHICH",
	  "the file kept: first (default), oldest or newest", CLI_DUPS },
	{ "--dry-run", NULL, OPT_DRY_RUN, NULL,
	  "show what --link, --reflink or --delete would do", CLI_DUPS },
	{ "--indexed", NULL, OPT_INDEXED, NULL,
	  "no scan: the files the index holds below each PATH\n"
	  "(read-only, works while fsindexd runs)", CLI_DUPS },
};

static const struct cli_command dups_cmd = {
	.name = "dups",
	.bit = CLI_DUPS,
	.synopsis = "[OPTION]... PATH...",
	.about = "Find duplicate files below each PATH: same size, then same first and last\n"
		 "4 KiB, then same XXH3-128 of the whole content.  The trees are scanned into\n"
		 "the index first, so a repeat over unchanged files reads no content.\n",
	.notes = "At most one of -0 and --json, of --db and --no-index, and of --link,\n"
		 "--reflink and --delete; --keep and --dry-run need one of the latter.\n"
		 "-q leaves out the line about the files read; -v adds how long each phase took.\n"
		 "\n"
		 "Exit status: 0 duplicates found, 1 none found, 2 error, 3 an action failed,\n"
		 "130 interrupted (actions stop before the next file).\n",
	.own = dups_options,
	.nown = ARRAY_SIZE(dups_options),
};

/* One of dups' own options, @c, into @cli; returns 0 or -EINVAL. */
static int own_option(struct dups_cli *cli, const struct cli_parser *p, int c,
		      struct cli_excl *output, struct cli_excl *action, bool *keep)
{
	uint64_t v;

	switch (c) {
	case OPT_NO_INDEX:
		cli->no_index = true;
		break;
	case OPT_MIN_SIZE:
		if (cli_parse_u64("--min-size", optarg, 0, UINT64_MAX, &v) < 0)
			return -EINVAL;
		cli->opts.min_size = v;
		break;
	case OPT_EMPTY:
		cli->opts.empty = true;
		break;
	case OPT_VERIFY:
		cli->opts.verify = true;
		break;
	case OPT_ALL_NAMES:
		cli->all_names = true;
		break;
	case '0':
	case OPT_JSON:
		cli_excl_add(output, c, p->spelt);
		cli->mode = c == '0' ? OUTPUT_NUL : OUTPUT_JSON;
		break;
	case OPT_SUMMARY:
		cli->summary = true;
		break;
	case OPT_LINK:
	case OPT_REFLINK:
	case OPT_DELETE:
		cli_excl_add(action, c, p->spelt);
		cli->action = true;
		cli->act.kind = c == OPT_LINK	   ? DUPACT_LINK
				: c == OPT_REFLINK ? DUPACT_REFLINK
						   : DUPACT_DELETE;
		break;
	case OPT_KEEP:
		*keep = true;
		if (strcmp(optarg, "first") == 0)
			cli->act.keep = DUPACT_KEEP_FIRST;
		else if (strcmp(optarg, "oldest") == 0)
			cli->act.keep = DUPACT_KEEP_OLDEST;
		else if (strcmp(optarg, "newest") == 0)
			cli->act.keep = DUPACT_KEEP_NEWEST;
		else {
			log_error("invalid --keep '%s' (expected first, oldest or newest)", optarg);
			return -EINVAL;
		}
		break;
	case OPT_DRY_RUN:
		cli->dry_run = true;
		break;
	case OPT_INDEXED:
		cli->indexed = true;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* The options into @cli; returns 0, CLI_HELP_SHOWN or -EINVAL. */
static int parse(struct dups_cli *cli, int argc, char **argv)
{
	/* Options of one set exclude each other; see cli_excl_add(). */
	struct cli_excl output = { 0 }, action = { 0 }, location = { 0 }, source = { 0 };
	struct cli_parser p;
	bool keep = false;
	int c, r;

	cli->opts.min_size = 1;
	cli_parser_init(&p, &dups_cmd);
	while ((c = cli_getopt(&p, argc, argv)) != -1) {
		if (c == CLI_OPT_DB || c == OPT_NO_INDEX)
			cli_excl_add(&location, c, p.spelt);
		if (c == OPT_NO_INDEX || c == OPT_INDEXED)
			cli_excl_add(&source, c, p.spelt);
		r = cli_common_option(&p, c, &cli->common);
		if (r == 0)
			r = own_option(cli, &p, c, &output, &action, &keep);
		if (r < 0 || r == CLI_HELP_SHOWN)
			return r;
	}
	if (cli_excl_check(&output, "dups") < 0 || cli_excl_check(&action, "dups") < 0 ||
	    cli_excl_check(&location, "dups") < 0 || cli_excl_check(&source, "dups") < 0 ||
	    cli_common_finish(&p, &cli->common) < 0)
		return -EINVAL;
	/* Without an action they would silently do nothing. */
	if (!cli->action && (keep || cli->dry_run)) {
		log_error("dups: %s needs --link, --reflink or --delete",
			  keep ? "--keep" : "--dry-run");
		return -EINVAL;
	}
	/* A scan looks at the disk itself: there is nothing to wait for. */
	if (cli->common.sync && !cli->indexed) {
		log_error("dups: --sync needs --indexed (without it dups scans the trees itself)");
		return -EINVAL;
	}
	if (optind == argc) {
		log_error("dups: no PATH given");
		return -EINVAL;
	}
	cli->opts.record = !cli->no_index && !cli->indexed;
	cli->act.dry_run = cli->dry_run;
	return 0;
}

/* Print the groups (and act on them); returns 0 or -errno from output. */
static int emit(struct dups_cli *cli, const struct dups_result *res, struct dupact_stats *st)
{
	uint64_t files = 0, bytes = 0;
	int r = 0;

	for (size_t i = 0; i < res->ngroups && r >= 0; i++) {
		const struct dups_group *g = &res->groups[i];

		files += g->nfiles - 1;
		bytes += dups_group_reclaimable(g);
		r = output_dups_group(stdout, cli->mode, g, cli->all_names, i == 0);
		if (r < 0 || !cli->action)
			continue;
		/* Nothing is changed while the report cannot be written. */
		if (fflush(stdout) != 0) {
			r = -errno;
			cli->report_failed = true;
			break;
		}
		r = dupact_group(g, &cli->act, st);
		if (r < 0 && r != -ECANCELED && r != -ENOMEM)
			cli->report_failed = true;
	}
	if (r < 0)
		return r;
	if (r >= 0 && cli->summary)
		r = output_dups_summary(cli->mode == OUTPUT_NUL ? stderr : stdout, cli->mode,
					res->ngroups, files, bytes);
	if (fflush(stdout) != 0 && r >= 0)
		r = -errno;
	return r;
}

/*
 * The index to scan into: with --no-index a new temporary directory (which
 * cmd_dups() removes), else --db's or the default.  *ret_db is the caller's
 * to free, even on failure.  Returns 0 or -errno, with a message.
 */
static int open_index(const struct dups_cli *cli, char **ret_db, struct store **ret_store)
{
	char tmpl[PATH_MAX];

	if (cli->no_index) {
		const char *tmp = secure_getenv("TMPDIR");

		snprintf(tmpl, sizeof(tmpl), "%s/fsindex-dups.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(tmpl)) {
			int r = -errno;

			log_error("cannot create a temporary index in '%s': %s", tmpl,
				  strerror(-r));
			return r;
		}
		*ret_db = strdup(tmpl);
	} else {
		*ret_db = cli_db_path(cli->common.db);
	}
	if (!*ret_db)
		return -ENOMEM;
	cli_debug_index(*ret_db);
	return cli_open_store(*ret_db, STORE_LOCK, ret_store);
}

/* The summary of the work unless -q: how many files, how many were read and how. */
static void report_reads(const struct dups_stats *st)
{
	if (st->head_reads + st->full_reads)
		log_info("%llu files, %llu share a size; read %llu partial and %llu whole files "
			 "(%llu bytes) with %s, %u in flight at most; %llu hashes reused",
			 (unsigned long long)st->files, (unsigned long long)st->candidates,
			 (unsigned long long)st->head_reads, (unsigned long long)st->full_reads,
			 (unsigned long long)st->bytes_read, st->uring ? "io_uring" : "pread",
			 st->peak_inflight, (unsigned long long)st->reused);
	else
		log_info("%llu files, %llu share a size; no content read, %llu hashes reused",
			 (unsigned long long)st->files, (unsigned long long)st->candidates,
			 (unsigned long long)st->reused);
}

/* The scan before the search: into the index, each file handed to @col too. */
static void scan_opts_of(const struct dups_cli *cli, struct dups_collector *col,
			 struct progress **progress, struct scan_opts *sopts)
{
	sopts->on_error = cli_report_entry;
	sopts->on_start = progress_scan_start;
	sopts->on_end = progress_scan_end;
	sopts->progress_ctx = progress;
	sopts->cancel = &dups_cancel;
	sopts->on_file = dups_collect;
	sopts->file_ctx = col;
}

/*
 * The engine of the scan and the search.  A throwaway index (--no-index)
 * need not be written: the walk hands dups what it needs.  Reports a
 * shortage of descriptors itself.
 */
static int start_engine(const struct dups_cli *cli, struct store *store, struct engine **ret)
{
	struct engine_opts eo = {
		.jobs = cli->common.jobs,
		.io_mode = cli->common.io,
		.write = true,
		.writer.discard = cli->no_index,
		.cancel = &dups_cancel,
	};
	struct engine_fd_shortage sh = { 0 };
	int r = engine_new(store, &eo, ret, &sh);

	if (r == -EMFILE && sh.needed)
		cli_fd_shortage("dups", sh.limit, sh.used, sh.needed);
	else if (r < 0)
		log_error("dups failed: %s", fsi_strerror(r));
	return r;
}

/* What the search and the actions report to, and the stop request they poll. */
static void hook_up(struct dups_cli *cli, struct dups_progress *dprog)
{
	cli->opts.cancel = &dups_cancel;
	cli->opts.on_error = report_read_error;
	cli->opts.progress = dprog;
	cli->act.on_report = report_action;
	cli->act.on_error = report_action_error;
	cli->act.ctx = &cli->mode;
	cli->act.cancel = &dups_cancel;
}

/*
 * Scan @paths into @store and search the duplicates among them, on one
 * engine that is gone again when this returns.  Returns 0 or a negative error.
 */
static int search(struct dups_cli *cli, struct store *store, char **paths, size_t npaths,
		  struct dups_collector *col, struct dups_result *res)
{
	struct scan_opts sopts = { 0 };
	struct scan_result sres = { 0 };
	struct engine *engine = NULL;
	struct dups_progress dprog = { 0 };
	struct read_progress rprog;
	struct progress *progress = NULL;
	int64_t t0, t1;
	int r, fr;

	scan_opts_of(cli, col, &progress, &sopts);
	t0 = now_mono_ns();
	r = start_engine(cli, store, &engine);
	if (r < 0)
		return EXIT_FATAL; /* reported */
	r = scan_run(engine, paths, npaths, &sopts, &sres);
	t1 = now_mono_ns();
	if (r == 0) {
		/* Hand the scan's buffers back before the candidates are gathered. */
		malloc_trim(0);
		hook_up(cli, &dprog);
		rprog = (struct read_progress){ .p = &dprog, .t0 = now_mono_ns() };
		progress_start(STDERR_FILENO, read_line, &rprog, &progress);
		r = dups_run(engine, col, &cli->opts, res);
	}
	/* The hashes are committed: the workers and the writer have done their part. */
	fr = engine_free(engine, NULL);
	progress_stop(progress);
	if (r >= 0)
		r = fr;
	if (r == 0 && cli->common.verbose)
		log_info("scan %.3f s, duplicate search %.3f s", (double)(t1 - t0) / 1e9,
			 (double)(now_mono_ns() - t1) / 1e9);
	return r;
}

/*
 * --indexed: the candidates from the index @store (read-only) instead of a
 * scan, then the same search, on an engine without a writer: nothing is
 * written back.  Returns 0, EXIT_FATAL (reported) or a negative error.
 */
static int search_indexed(struct dups_cli *cli, const struct find_source *src, char **paths,
			  size_t npaths, struct dups_collector *col, struct dups_result *res)
{
	struct store *store = src->store;
	struct engine_opts eo = {
		.jobs = cli->common.jobs, .io_mode = cli->common.io, .cancel = &dups_cancel,
	};
	struct engine_fd_shortage sh = { 0 };
	struct dups_index_stats ist = { 0 };
	struct dups_progress dprog = { 0 };
	struct engine *engine = NULL;
	int64_t t0 = now_mono_ns(), t1;
	int r, fr;

	r = dups_collect_indexed(store, src->visible, paths, npaths, col, &ist);
	if (r == -ENOENT)
		return EXIT_FATAL; /* reported */
	if (r < 0) {
		log_error("cannot read index: %s", fsi_strerror(r));
		return EXIT_FATAL;
	}
	if (ist.changed && !cli->common.quiet)
		log_info("%llu of %llu indexed files left out: changed or gone since they were indexed",
			 (unsigned long long)ist.changed, (unsigned long long)ist.files);
	t1 = now_mono_ns();
	r = engine_new(store, &eo, &engine, &sh);
	if (r == -EMFILE && sh.needed)
		cli_fd_shortage("dups", sh.limit, sh.used, sh.needed);
	else if (r < 0)
		log_error("dups failed: %s", fsi_strerror(r));
	if (r < 0)
		return EXIT_FATAL;
	hook_up(cli, &dprog);
	r = dups_run(engine, col, &cli->opts, res);
	fr = engine_free(engine, NULL);
	if (r >= 0)
		r = fr;
	if (r == 0 && cli->common.verbose)
		log_info("index %.3f s, duplicate search %.3f s", (double)(t1 - t0) / 1e9,
			 (double)(now_mono_ns() - t1) / 1e9);
	return r;
}

/* Report the groups found (and act on them); returns the exit status. */
static int report(struct dups_cli *cli, const struct dups_result *res)
{
	struct dupact_stats ast = { 0 };
	int r;

	if (!cli->common.quiet)
		report_reads(&res->stats);
	/*
	 * From here a signal stops the actions between files (no write of the
	 * report is interrupted: signals are taken by their own thread), and
	 * a closed pipe fails a write (EPIPE) rather than kill us with a line
	 * unsaid.
	 */
	if (cli->action)
		signal(SIGPIPE, SIG_IGN);
	r = emit(cli, res, &ast);
	if (r < 0 && cli->action && (r == -ECANCELED || cli->report_failed)) {
		if (r != -ECANCELED)
			log_error("cannot write the report of actions: %s", fsi_strerror(r));
		report_actions_done(&cli->act, &ast, r == -ECANCELED ? "interrupted" : "stopped");
		return r == -ECANCELED ? EXIT_INTERRUPTED : EXIT_FATAL;
	}
	if (r < 0 && r != -EPIPE)
		return r;
	/* A script must not take a --delete that left files behind for done. */
	if (ast.errors)
		return EXIT_ACTION_FAILED;
	return res->ngroups ? EXIT_OK : EXIT_PARTIAL;
}

int cmd_dups(int argc, char **argv)
{
	struct dups_cli cli = { .mode = OUTPUT_PLAIN };
	struct dups_result res = { 0 };
	struct find_sources sources = { 0 };
	const struct find_source *src = NULL;
	struct store *store = NULL;
	char **paths = NULL, *db = NULL;
	struct dups_collector *col = NULL;
	size_t npaths = 0;
	int r, status = EXIT_FATAL;

	r = parse(&cli, argc, argv);
	if (r != 0) {
		status = r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("dups");
		goto out;
	}
	npaths = (size_t)(argc - optind);
	paths = calloc(npaths, sizeof(*paths));
	if (!paths)
		goto out;
	if (cli_resolve_roots("scan", argv + optind, npaths, paths))
		goto out;
	if (cli_probe_io(cli.common.io) < 0)
		goto out;
	if (cli.indexed) {
		if (find_sources_open(cli.common.db, &sources) < 0)
			goto out;
		src = find_sources_pick(&sources, paths, npaths);
		if (cli.common.sync)
			sync_wait("dups", src->path, cli.common.sync_ms);
	} else if (open_index(&cli, &db, &store) < 0) {
		goto out;
	}
	/* Before any thread starts: they inherit the blocked signals. */
	r = cancel_on_signals(&dups_cancel);
	if (r < 0) {
		log_error("cannot watch for signals: %s", fsi_strerror(r));
		goto out;
	}
	if (dups_collector_new(paths, npaths, &cli.opts, &col) < 0)
		goto out;
	if (cli.indexed)
		r = search_indexed(&cli, src, paths, npaths, col, &res);
	else
		r = search(&cli, store, paths, npaths, col, &res);
	if (r == 0)
		r = report(&cli, &res);
	if (r >= 0) {
		status = r;
	} else if (r == -ECANCELED) {
		log_notice("interrupted");
		status = EXIT_INTERRUPTED;
	} else {
		log_error("dups failed: %s", fsi_strerror(r));
	}
out:
	dups_result_destroy(&res);
	store_close(store);
	find_sources_close(&sources);
	if (cli.no_index && db)
		remove_index_dir(db);
	for (size_t i = 0; paths && i < npaths; i++)
		free(paths[i]);
	free(paths);
	dups_collector_free(col);
	free(db);
	return status;
}
