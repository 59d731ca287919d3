/* SPDX-License-Identifier: MIT */
/*
 * cmd-find.c - `fsindex find`: options, output, exit status.  Answers from
 * the index only; the disk is looked at for --exists (each match) and for
 * the file a --newer/--older names, nothing else.
 *
 * Each match goes through on_match(): whether the user may see it and has
 * not been shown it from another index (find-sources.h), --under's prefix (with --hash), the
 * node read when a filter or the output needs it (filter_needs_node(),
 * output_format_needs_node(), -l, --json, --sort by size or mtime), the
 * filters, then either the output or, with --sort, the sort buffer that
 * print_sorted() empties after the pass.
 */
#include "cmd.h"

#include "cli.h"
#include "errors.h"
#include "filter.h"
#include "find-sources.h"
#include "find.h"
#include "hash.h"
#include "log.h"
#include "longlist.h"
#include "node.h"
#include "output.h"
#include "pathset.h"
#include "query.h"
#include "sortbuf.h"
#include "store.h"
#include "sync.h"
#include "visible.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct find_ctx {
	bool count_only, json, by_hash;
	bool need_node;		/* some filter or output reads the entry's node */
	struct hash128 hash;
	char terminator;
	uint64_t limit;
	uint64_t matches;
	struct output_format *fmt;
	struct longlist *ll;	/* -l */
	struct filter filter;
	struct sortbuf *sort;	/* --sort: matches are kept, printed after the pass */
	const char *under;	/* --under with --hash: the prefix paths must have */
	int error;		/* of the output */
	/* Of the index being read: */
	struct visible *visible;	/* NULL: show everything */
	const struct find_sources *sources;
	struct pathset *seen;		/* what the first of two indexes reported */
	bool second;			/* reading the second: skip what is seen */
};

/*
 * May the user learn what the index knows of @e's content?  In another's
 * index, only of a file the user may read: a stored hash of one they may
 * not would tell which of their own files it equals.
 */
static bool content_known(const struct find_ctx *fc, const struct find_entry *e)
{
	return !fc->visible || access(e->path, R_OK) == 0;
}

/* Is @e hidden from the user, or reported already from the other index? */
static bool skip(struct find_ctx *fc, const struct find_entry *e)
{
	int r;

	if (fc->visible && !visible_entry(fc->visible, e->path, e->len, e->name_off))
		return true;
	if (fc->by_hash && !content_known(fc, e))
		return true;
	if (!fc->seen)
		return false;
	if (fc->second)
		return pathset_has(fc->seen, e->path, e->len);
	if (find_sources_overlap(fc->sources, e->path, e->len)) {
		r = pathset_add(fc->seen, e->path, e->len);
		if (r < 0)
			fc->error = r;
	}
	return false;
}

/* Print one match as the options say; @n may be NULL when no output needs it. */
static int emit(struct find_ctx *fc, const char *path, size_t len, size_t name_off,
		const struct node *n)
{
	if (fc->json)
		return output_json_entry(stdout, path, len, n);
	if (fc->fmt)
		return output_format_print(fc->fmt, stdout, path, len, name_off, n);
	if (fc->ll)
		return longlist_print(fc->ll, stdout, path, len, n, fc->terminator);
	return output_path(stdout, path, len, fc->terminator);
}

/* Is @path (@len bytes) fc->under or below it? */
static bool is_under(const struct find_ctx *fc, const char *path, size_t len)
{
	size_t ulen = strlen(fc->under);

	return len >= ulen && !memcmp(path, fc->under, ulen) &&
	       (len == ulen || path[ulen] == '/' || ulen == 1);
}

static int on_match(void *ctx, const struct find_entry *e)
{
	struct find_ctx *fc = ctx;
	struct node n;
	int r = 0;

	if (fc->under && !is_under(fc, e->path, e->len))
		return 0;
	if (skip(fc, e))
		return 0;
	if (fc->error)
		return fc->error;
	if (fc->need_node) {
		r = store_get_node(e->reader, e->id, &n);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r; /* listed, so it must be there */
		if (fc->json && n.hash_state != NODE_HASH_NONE && !content_known(fc, e))
			n.hash_state = NODE_HASH_NONE;
	}
	if (fc->filter.what) {
		r = filter_match(&fc->filter, e, &n);
		if (r <= 0)
			return r;
	}
	if (fc->sort)
		return sortbuf_add(fc->sort, e->path, e->len, e->name_off, fc->need_node ? &n : NULL);
	if (!fc->count_only) {
		r = emit(fc, e->path, e->len, e->name_off, fc->need_node ? &n : NULL);
		if (r < 0) {
			fc->error = r;
			return r;
		}
	}
	fc->matches++;
	return fc->limit && fc->matches >= fc->limit ? 1 : 0;
}

/* --sort: print what on_match() kept, in order, up to --limit. */
static void print_sorted(struct find_ctx *fc)
{
	struct sortbuf_entry se;
	size_t n = sortbuf_count(fc->sort);

	sortbuf_sort(fc->sort);
	for (size_t i = 0; i < n && !(fc->limit && fc->matches >= fc->limit); i++) {
		sortbuf_get(fc->sort, i, &se);
		fc->error = emit(fc, se.path, se.len, se.name_off, se.node);
		if (fc->error)
			return;
		fc->matches++;
	}
}

static int parse_types(const char *arg, unsigned *mask)
{
	for (const char *p = arg; *p; p++) {
		if (*p == ',')
			continue;
		if (*p == '?' || !find_type_bit(*p) || (p[1] && p[1] != ',')) {
			log_error("invalid --type '%s' (expected letters from f d l p s c b)", arg);
			return -EINVAL;
		}
		*mask |= find_type_bit(*p);
	}
	if (!*mask) {
		log_error("invalid --type '%s' (expected letters from f d l p s c b)", arg);
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_REGEX = CLI_OPT_OWN, OPT_TYPE, OPT_PRINTF, OPT_JSON, OPT_HASH, OPT_SIZE, OPT_NEWER,
	OPT_OLDER, OPT_UNDER, OPT_USER, OPT_GROUP, OPT_EMPTY, OPT_DUP, OPT_SORT, OPT_REVERSE,
	OPT_EXISTS,
};

/* -b, -c, -n, -r and --regexp are locate(1)'s spellings. */
static const struct cli_option find_options[] = {
	{ "--ignore-case", "-i", 'i', NULL, "fold ASCII case", CLI_FIND },
	{ "--name", "-b", 'b', NULL, "match the last component only", CLI_FIND },
	{ "--regex", NULL, OPT_REGEX, NULL,
	  "patterns are POSIX extended regular expressions", CLI_FIND },
	{ "--regexp", "-r", 'r', " REGEX",
	  "REGEX is a pattern, and every pattern a regex\n(as --regex)", CLI_FIND },
	{ "--type", NULL, OPT_TYPE, " T",
	  "only entries of type T: f d l p s c b (or a list: f,d)", CLI_FIND },
	{ "--size", NULL, OPT_SIZE, " SIZE",
	  "size above (+N), below (-N) or exactly N bytes;\n"
	  "suffixes k M G T: powers of 1024", CLI_FIND },
	{ "--newer", NULL, OPT_NEWER, " WHEN",
	  "modified after WHEN: YYYY-MM-DD[ HH:MM[:SS]],\n@SECONDS, or a file's mtime", CLI_FIND },
	{ "--older", NULL, OPT_OLDER, " WHEN", "modified before WHEN (as --newer)", CLI_FIND },
	{ "--under", NULL, OPT_UNDER, " DIR",
	  "only DIR and what is below it (reads only that)", CLI_FIND },
	{ "--user", NULL, OPT_USER, " USER", "owned by USER (a name or a uid)", CLI_FIND },
	{ "--group", NULL, OPT_GROUP, " GROUP", "of group GROUP (a name or a gid)", CLI_FIND },
	{ "--empty", NULL, OPT_EMPTY, NULL, "empty regular files and directories", CLI_FIND },
	{ "--dup", NULL, OPT_DUP, NULL,
	  "files with a duplicate in the index: another inode\nof the same content hash (scan --hash)", CLI_FIND },
	{ "--exists", NULL, OPT_EXISTS, NULL, "only entries still on disk (lstat)", CLI_FIND },
	{ "--null", "-0", '0', NULL, "end each path with NUL instead of newline", CLI_FIND },
	{ "--count", "-c", 'c', NULL, "print only the number of matches", CLI_FIND },
	{ "--limit", "-n", 'n', " N", "stop after N matches", CLI_FIND },
	{ "--long", "-l", 'l', NULL,
	  "mode, links, owner, group, size, mtime, path\n(as ls -l, one line each)", CLI_FIND },
	{ "--sort", NULL, OPT_SORT, "=KEY", "print in order of KEY: path, size or mtime", CLI_FIND },
	{ "--reverse", NULL, OPT_REVERSE, NULL, "--sort in descending order", CLI_FIND },
	{ "--printf", NULL, OPT_PRINTF, " FORMAT",
	  "print FORMAT per entry, as find -printf: %p %f %h %s\n"
	  "%y %m %U %G %i %n %D %T@ %C@ %%, \\n \\t \\0 \\\\", CLI_FIND },
	{ "--json", NULL, OPT_JSON, NULL,
	  "one JSON object per entry: path, type, size, mtime, hash", CLI_FIND },
	{ "--hash", NULL, OPT_HASH, " HEX",
	  "only files whose stored XXH3-128 (scan --hash) is HEX", CLI_FIND },
};

static const struct cli_command find_cmd = {
	.name = "find",
	.bit = CLI_FIND,
	.synopsis = "[OPTION]... [PATTERN]...",
	.about = "List indexed entries whose absolute path matches every PATTERN.\n"
		 "A PATTERN without * ? [ matches a substring of the path; with them it is a\n"
		 "glob over the whole path (* also matches /).  No PATTERN lists everything.\n",
	.notes = "At most one of -0, --count, --printf and --json, and of -l, --count,\n"
		 "--printf and --json.  Filters and patterns must all match.\n"
		 "\n"
		 "Exit status: 0 something matched, 1 nothing matched, 2 error.\n",
	.own = find_options,
	.nown = ARRAY_SIZE(find_options),
};

struct find_cli {
	struct cli_common common;
	unsigned flags, types;	/* QUERY_*; find_type_bit()s, 0 for all */
	const char *printf_fmt;
	const char **regexps;	/* -r's, then the operands: the patterns */
	size_t nregexps;
	const char *under;	/* --under as given */
	bool long_list, sort, reverse;
	enum sortbuf_key sort_key;
};

/* "invalid --OPT 'ARG': WHY[: ERROR]" */
static int bad_arg(const char *opt, const char *arg, const char *why, int err)
{
	char *q = log_quote(arg, strlen(arg));

	if (err && err != -EINVAL)
		log_error("invalid %s '%s': %s: %s", opt, q ? q : "?", why, strerror(-err));
	else
		log_error("invalid %s '%s': %s", opt, q ? q : "?", why);
	free(q);
	return -EINVAL;
}

/* The filter options into @f; returns 0, 1 if @c is none of them, or -EINVAL. */
static int parse_filter(int c, const char *spelt, struct filter *f)
{
	const char *why = NULL;
	int r = 0;

	switch (c) {
	case OPT_SIZE:
		r = filter_parse_size(optarg, &f->size, &why);
		f->what |= FILTER_SIZE;
		break;
	case OPT_NEWER:
		r = filter_parse_when(optarg, &f->newer, &why);
		f->what |= FILTER_NEWER;
		break;
	case OPT_OLDER:
		r = filter_parse_when(optarg, &f->older, &why);
		f->what |= FILTER_OLDER;
		break;
	case OPT_USER:
		r = filter_parse_owner(optarg, false, &f->uid, &why);
		f->what |= FILTER_USER;
		break;
	case OPT_GROUP:
		r = filter_parse_owner(optarg, true, &f->gid, &why);
		f->what |= FILTER_GROUP;
		break;
	case OPT_EMPTY:
		f->what |= FILTER_EMPTY;
		break;
	case OPT_DUP:
		f->what |= FILTER_DUP;
		break;
	case OPT_EXISTS:
		f->what |= FILTER_EXISTS;
		break;
	default:
		return 1;
	}
	return r < 0 ? bad_arg(spelt, optarg, why, r) : 0;
}

/* The output and order options into @cli; returns 0, 1 if @c is none of them, or -EINVAL. */
static int parse_listing(int c, struct find_cli *cli)
{
	switch (c) {
	case OPT_SORT:
		if (sortbuf_parse_key(optarg, &cli->sort_key) < 0) {
			log_error("invalid --sort '%s' (expected path, size or mtime)", optarg);
			return -EINVAL;
		}
		cli->sort = true;
		return 0;
	case OPT_REVERSE:
		cli->reverse = true;
		return 0;
	case OPT_UNDER:
		if (cli->under && strcmp(cli->under, optarg)) {
			log_error("find: --under may be given once");
			return -EINVAL;
		}
		cli->under = optarg;
		return 0;
	case 'r':
		cli->flags |= QUERY_REGEX;
		cli->regexps[cli->nregexps++] = optarg;
		return 0;
	}
	return 1;
}

/* The options into @cli and @fc; returns 0, CLI_HELP_SHOWN or -EINVAL. */
/* Options that need another: --reverse orders only what --sort orders. */
static int check_combinations(const struct find_cli *cli)
{
	if (cli->reverse && !cli->sort) {
		log_error("find: --reverse needs --sort");
		return -EINVAL;
	}
	return 0;
}

/* The options into @cli and @fc; returns 0, CLI_HELP_SHOWN or -EINVAL. */
static int parse(int argc, char **argv, struct find_cli *cli, struct find_ctx *fc)
{
	/* -0, --count, --printf and --json each decide how a match is printed; so does -l. */
	struct cli_excl output = { 0 }, shape = { 0 };
	struct cli_parser p;
	int c, r;

	cli_parser_init(&p, &find_cmd);
	while ((c = cli_getopt(&p, argc, argv)) != -1) {
		r = cli_common_option(&p, c, &cli->common);
		if (r == 1)
			continue;
		if (r == 0)
			r = parse_filter(c, p.spelt, &fc->filter);
		if (r == 1)
			r = parse_listing(c, cli);
		if (r < 0 || r == CLI_HELP_SHOWN)
			return r;
		if (r == 0)
			continue;
		switch (c) {
		case 'i':
			cli->flags |= QUERY_ICASE;
			break;
		case 'b':
			cli->flags |= QUERY_NAME;
			break;
		case OPT_REGEX:
			cli->flags |= QUERY_REGEX;
			break;
		case OPT_TYPE:
			if (parse_types(optarg, &cli->types) < 0)
				return -EINVAL;
			break;
		case '0':
			cli_excl_add(&output, c, p.spelt);
			fc->terminator = '\0';
			break;
		case 'l':
			cli_excl_add(&shape, c, p.spelt);
			cli->long_list = true;
			break;
		case 'c':
			cli_excl_add(&output, c, p.spelt);
			cli_excl_add(&shape, c, p.spelt);
			fc->count_only = true;
			break;
		case 'n':
			if (cli_parse_u64(p.spelt, optarg, 1, UINT64_MAX, &fc->limit) < 0)
				return -EINVAL;
			break;
		case OPT_PRINTF:
			cli_excl_add(&output, c, p.spelt);
			cli_excl_add(&shape, c, p.spelt);
			cli->printf_fmt = optarg;
			break;
		case OPT_JSON:
			cli_excl_add(&output, c, p.spelt);
			cli_excl_add(&shape, c, p.spelt);
			fc->json = true;
			break;
		case OPT_HASH:
			if (strlen(optarg) != 32 || hash_parse_hex(optarg, &fc->hash) < 0) {
				log_error("invalid --hash '%s' (expected 32 hex digits)", optarg);
				return -EINVAL;
			}
			fc->by_hash = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (cli_excl_check(&output, "find") < 0 || cli_excl_check(&shape, "find") < 0 ||
	    check_combinations(cli) < 0 || cli_common_finish(&p, &cli->common) < 0)
		return -EINVAL;
	return 0;
}

/* The printers and buffers the options ask for, into @fc; returns 0 or -errno after a message. */
static int prepare_output(const struct find_cli *cli, struct find_ctx *fc)
{
	char *err = NULL;
	bool keep_nodes;
	int r = 0;

	if (cli->printf_fmt) {
		r = output_format_new(cli->printf_fmt, &fc->fmt, &err);
		if (r < 0) {
			log_error("%s", err ? err : fsi_strerror(r));
			free(err);
			return r;
		}
	}
	if (cli->long_list)
		r = longlist_new(&fc->ll);
	keep_nodes = fc->json || fc->ll || (fc->fmt && output_format_needs_node(fc->fmt));
	/* Counting needs no order. */
	if (r == 0 && cli->sort && !fc->count_only)
		r = sortbuf_new(cli->sort_key, cli->reverse, keep_nodes, &fc->sort);
	if (r < 0) {
		log_error("%s", fsi_strerror(r));
		return r;
	}
	fc->need_node = keep_nodes || filter_needs_node(&fc->filter) ||
			(fc->sort && sortbuf_key_needs_node(cli->sort_key));
	return 0;
}

/*
 * --under DIR as the index spells it: DIR's real path, or DIR itself when it
 * is absolute but gone from the disk.  Malloc'd, or NULL after a message.
 */
static char *resolve_under(const char *dir)
{
	char *path = realpath(dir, NULL), *q;

	if (path || (dir[0] == '/' && (path = strdup(dir))))
		return path;
	q = log_quote(dir, strlen(dir));
	log_error("cannot resolve --under '%s': %s", q ? q : "?", strerror(errno));
	free(q);
	return NULL;
}

/* The pass over one index, or over the part of it the options name. */
static int run(const struct find_source *src, const struct find_cli *cli, const char *under,
	       const struct query *query, struct find_ctx *fc)
{
	/* The hash database lists files anywhere: --under is then a test of each path. */
	fc->under = fc->by_hash ? under : NULL;
	fc->visible = src->visible;
	fc->filter.visible = src->visible;
	if (fc->by_hash)
		return find_by_hash(src->store, fc->hash.b, query, cli->types, on_match, fc);
	if (under) {
		/* Whether the index holds what the user may not reach is not theirs to learn. */
		if (src->visible && !visible_entry(src->visible, under, strlen(under),
						   (size_t)(strrchr(under, '/') - under) + 1))
			return -ENOENT;
		return find_run_at(src->store, under, query, cli->types, on_match, fc);
	}
	return find_run(src->store, query, cli->types, on_match, fc);
}

/* Every index of @fs in turn, then what --sort kept: 0, > 0 (--limit reached) or an error. */
static int run_all(const struct find_sources *fs, const struct find_cli *cli, const char *under,
		   const struct query *query, struct find_ctx *fc)
{
	size_t missing = 0;
	int r = 0;

	fc->sources = fs;
	for (size_t i = 0; i < fs->n && r >= 0 && r != 1 && !fc->error; i++) {
		fc->second = i > 0;
		r = run(&fs->src[i], cli, under, query, fc);
		if (r == -ENOENT && under && !fc->by_hash && fs->n > 1) {
			missing++; /* --under is in the other index, maybe */
			r = 0;
		}
	}
	if (missing == fs->n)
		r = -ENOENT;
	if (r >= 0 && fc->sort)
		print_sorted(fc);
	return r;
}

int cmd_find(int argc, char **argv)
{
	struct find_ctx fc = { .terminator = '\n' };
	struct find_cli cli = { 0 };
	struct find_sources sources = { 0 };
	struct query *query = NULL;
	char *err = NULL, *under = NULL;
	int r, status = EXIT_FATAL;

	cli.regexps = calloc((size_t)argc + 1, sizeof(*cli.regexps));
	if (!cli.regexps)
		goto out;
	r = parse(argc, argv, &cli, &fc);
	if (r != 0) {
		status = r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("find");
		goto out;
	}
	/* -r's patterns, then the operands. */
	for (int i = optind; i < argc; i++)
		cli.regexps[cli.nregexps++] = argv[i];
	r = query_new(cli.regexps, cli.nregexps, cli.flags, &query, &err);
	if (r < 0) {
		log_error("%s", err ? err : fsi_strerror(r));
		goto out;
	}
	if (prepare_output(&cli, &fc) < 0)
		goto out;
	if (cli.under && !(under = resolve_under(cli.under)))
		goto out;
	if (find_sources_open(cli.common.db, &sources) < 0)
		goto out;
	if (cli.common.sync)
		find_sources_sync(&sources, "find", cli.common.sync_ms);
	if (sources.n == 2 && pathset_new(&fc.seen) < 0) {
		log_error("%s", fsi_strerror(-ENOMEM));
		goto out;
	}

	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	r = run_all(&sources, &cli, under, query, &fc);
	if (fflush(stdout) != 0 && !fc.error)
		fc.error = -errno;
	if (fc.error == -EPIPE) {
		/* The reader is gone (| head): that is no error of ours. */
		status = fc.matches ? EXIT_OK : EXIT_PARTIAL;
	} else if (fc.error) {
		log_error("cannot write output: %s", fsi_strerror(fc.error));
	} else if (r == -ENOENT && under && !fc.by_hash) {
		char *q = log_quote(under, strlen(under));

		log_error("--under '%s': not in the index", q ? q : "?");
		free(q);
	} else if (r < 0) {
		log_error("cannot read index: %s", fsi_strerror(r));
	} else {
		if (fc.count_only)
			printf("%llu\n", (unsigned long long)fc.matches);
		status = fc.matches ? EXIT_OK : EXIT_PARTIAL;
	}
out:
	if (fflush(stdout) != 0 && errno != EPIPE && status != EXIT_FATAL) {
		log_error("cannot write output: %s", strerror(errno));
		status = EXIT_FATAL;
	}
	find_sources_close(&sources);
	pathset_free(fc.seen);
	output_format_free(fc.fmt);
	longlist_free(fc.ll);
	sortbuf_free(fc.sort);
	query_free(query);
	free(cli.regexps);
	free(under);
	free(err);
	return status;
}
