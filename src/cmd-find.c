/* SPDX-License-Identifier: MIT */
/*
 * cmd-find.c - `fsindex find`: options, output, exit status.  Answers from
 * the index only; the disk is never looked at.
 */
#include "cmd.h"

#include "cli.h"
#include "errors.h"
#include "find.h"
#include "hash.h"
#include "log.h"
#include "node.h"
#include "output.h"
#include "query.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct find_ctx {
	bool count_only, json, by_hash;
	struct hash128 hash;
	char terminator;
	uint64_t limit;
	uint64_t matches;
	struct output_format *fmt;
	int error;
};

static int on_match(void *ctx, const struct find_entry *e)
{
	struct find_ctx *fc = ctx;
	int r = 0;

	struct node n;

	if (fc->json || (fc->fmt && output_format_needs_node(fc->fmt))) {
		r = store_get_node(e->reader, e->id, &n);
		if (r < 0) {
			fc->error = r;
			return r;
		}
	}
	if (!fc->count_only) {
		if (fc->json) {
			r = output_json_entry(stdout, e->path, e->len, &n);
		} else if (fc->fmt) {
			r = output_format_print(fc->fmt, stdout, e->path, e->len, e->name_off, &n);
		} else {
			r = output_path(stdout, e->path, e->len, fc->terminator);
		}
		if (r < 0) {
			fc->error = r;
			return r;
		}
	}
	fc->matches++;
	return fc->limit && fc->matches >= fc->limit ? 1 : 0;
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
	OPT_NAME = CLI_OPT_OWN, OPT_REGEX, OPT_TYPE, OPT_COUNT, OPT_LIMIT, OPT_PRINTF, OPT_JSON,
	OPT_HASH,
};

static const struct cli_option find_options[] = {
	{ "--ignore-case", "-i", 'i', NULL, "fold ASCII case", CLI_FIND },
	{ "--name", NULL, OPT_NAME, NULL, "match the last component only", CLI_FIND },
	{ "--regex", NULL, OPT_REGEX, NULL,
	  "patterns are POSIX extended regular expressions", CLI_FIND },
	{ "--type", NULL, OPT_TYPE, " T",
	  "only entries of type T: f d l p s c b (or a list: f,d)", CLI_FIND },
	{ "--null", "-0", '0', NULL, "end each path with NUL instead of newline", CLI_FIND },
	{ "--count", NULL, OPT_COUNT, NULL, "print only the number of matches", CLI_FIND },
	{ "--limit", NULL, OPT_LIMIT, " N", "stop after N matches", CLI_FIND },
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
	.notes = "At most one of -0, --count, --printf and --json.\n"
		 "\n"
		 "Exit status: 0 something matched, 1 nothing matched, 2 error.\n",
	.own = find_options,
	.nown = ARRAY_SIZE(find_options),
};

struct find_cli {
	struct cli_common common;
	unsigned flags, types;	/* QUERY_*; find_type_bit()s, 0 for all */
	const char *printf_fmt;
};

/* The options into @cli and @fc; returns 0, CLI_HELP_SHOWN or -EINVAL. */
static int parse(int argc, char **argv, struct find_cli *cli, struct find_ctx *fc)
{
	/* -0, --count, --printf and --json each decide how a match is printed. */
	struct cli_excl output = { 0 };
	struct cli_parser p;
	int c, r;

	cli_parser_init(&p, &find_cmd);
	while ((c = cli_getopt(&p, argc, argv)) != -1) {
		r = cli_common_option(&p, c, &cli->common);
		if (r < 0 || r == CLI_HELP_SHOWN)
			return r;
		if (r)
			continue;
		switch (c) {
		case 'i':
			cli->flags |= QUERY_ICASE;
			break;
		case OPT_NAME:
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
		case OPT_COUNT:
			cli_excl_add(&output, c, p.spelt);
			fc->count_only = true;
			break;
		case OPT_LIMIT:
			if (cli_parse_u64("--limit", optarg, 1, UINT64_MAX, &fc->limit) < 0)
				return -EINVAL;
			break;
		case OPT_PRINTF:
			cli_excl_add(&output, c, p.spelt);
			cli->printf_fmt = optarg;
			break;
		case OPT_JSON:
			cli_excl_add(&output, c, p.spelt);
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
	if (cli_excl_check(&output, "find") < 0 || cli_common_finish(&p, &cli->common) < 0)
		return -EINVAL;
	return 0;
}

int cmd_find(int argc, char **argv)
{
	struct find_ctx fc = { .terminator = '\n' };
	struct find_cli cli = { 0 };
	struct query *query = NULL;
	struct store *store = NULL;
	char *db = NULL, *err = NULL;
	int r, status = EXIT_FATAL;

	r = parse(argc, argv, &cli, &fc);
	if (r != 0) {
		status = r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("find");
		goto out;
	}
	r = query_new((const char *const *)argv + optind, (size_t)(argc - optind), cli.flags,
		      &query, &err);
	if (r < 0) {
		log_error("%s", err ? err : fsi_strerror(r));
		goto out;
	}
	if (cli.printf_fmt) {
		r = output_format_new(cli.printf_fmt, &fc.fmt, &err);
		if (r < 0) {
			log_error("%s", err ? err : fsi_strerror(r));
			goto out;
		}
	}
	db = cli_db_path(cli.common.db);
	if (db && cli.common.sync)
		sync_wait("find", db, cli.common.sync_ms);
	if (!db || cli_open_store(db, STORE_RDONLY, &store) < 0)
		goto out;

	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	if (fc.by_hash)
		r = find_by_hash(store, fc.hash.b, query, cli.types, on_match, &fc);
	else
		r = find_run(store, query, cli.types, on_match, &fc);
	if (fflush(stdout) != 0 && !fc.error)
		fc.error = -errno;
	if (fc.error == -EPIPE) {
		/* The reader is gone (| head): that is no error of ours. */
		status = fc.matches ? EXIT_OK : EXIT_PARTIAL;
	} else if (fc.error) {
		log_error("cannot write output: %s", fsi_strerror(fc.error));
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
	store_close(store);
	output_format_free(fc.fmt);
	query_free(query);
	free(err);
	free(db);
	return status;
}
