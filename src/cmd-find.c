/* SPDX-License-Identifier: MIT */
/*
 * cmd-find.c - `fsindex find`: options, output, exit status.  Answers from
 * the index only; the disk is never looked at.
 */
#include "cmd.h"

#include "cli.h"
#include "find.h"
#include "hash.h"
#include "log.h"
#include "node.h"
#include "output.h"
#include "query.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	printf("Usage: fsindex find [OPTION]... [PATTERN]...\n"
	       "List indexed entries whose absolute path matches every PATTERN.\n"
	       "A PATTERN without * ? [ matches a substring of the path; with them it is a\n"
	       "glob over the whole path (* also matches /).  No PATTERN lists everything.\n"
	       "\n"
	       "  --db DIR            index location (default: $FSINDEX_DB, else\n"
	       "                      $XDG_CACHE_HOME/fsindex or ~/.cache/fsindex)\n"
	       "  -i, --ignore-case   fold ASCII case\n"
	       "      --name          match the last component only\n"
	       "      --regex         patterns are POSIX extended regular expressions\n"
	       "      --type T        only entries of type T: f d l p s c b (or a list: f,d)\n"
	       "  -0, --null          end each path with NUL instead of newline\n"
	       "      --count         print only the number of matches\n"
	       "      --limit N       stop after N matches\n"
	       "      --printf FORMAT print FORMAT per entry, as find -printf: %%p %%f %%h %%s\n"
	       "                      %%y %%m %%U %%G %%i %%n %%D %%T@ %%C@ %%%%, \\n \\t \\0 \\\\\n"
	       "      --json          one JSON object per entry: path, type, size, mtime, hash\n"
	       "      --hash HEX      only files whose stored XXH3-128 (scan --hash) is HEX\n"
	       "  -h, --help          show this help and exit\n"
	       "At most one of -0, --count, --printf and --json.\n"
	       "\n"
	       "Exit status: 0 something matched, 1 nothing matched, 2 error.\n");
}

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

int cmd_find(int argc, char **argv)
{
	enum {
		OPT_DB = 256, OPT_NAME, OPT_REGEX, OPT_TYPE, OPT_COUNT, OPT_LIMIT, OPT_PRINTF,
		OPT_JSON, OPT_HASH,
	};
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "ignore-case", no_argument, NULL, 'i' },
		{ "name", no_argument, NULL, OPT_NAME },
		{ "regex", no_argument, NULL, OPT_REGEX },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "null", no_argument, NULL, '0' },
		{ "count", no_argument, NULL, OPT_COUNT },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "printf", required_argument, NULL, OPT_PRINTF },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "hash", required_argument, NULL, OPT_HASH },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct find_ctx fc = { .terminator = '\n' };
	struct query *query = NULL;
	struct store *store = NULL;
	const char *db_opt = NULL, *printf_fmt = NULL;
	unsigned flags = 0, types = 0;
	char *db = NULL, *err = NULL;
	/* -0, --count, --printf and --json each decide how a match is printed. */
	struct cli_excl output = { 0 };
	int c, r, idx, status = EXIT_FATAL;

	while ((idx = -1, c = getopt_long(argc, argv, "i0h", longopts, &idx)) != -1) {
		switch (c) {
		case OPT_DB:
			db_opt = optarg;
			break;
		case 'i':
			flags |= QUERY_ICASE;
			break;
		case OPT_NAME:
			flags |= QUERY_NAME;
			break;
		case OPT_REGEX:
			flags |= QUERY_REGEX;
			break;
		case OPT_TYPE:
			if (parse_types(optarg, &types) < 0)
				goto out;
			break;
		case '0':
			cli_excl_add(&output, c, idx >= 0 ? "--null" : "-0");
			fc.terminator = '\0';
			break;
		case OPT_COUNT:
			cli_excl_add(&output, c, "--count");
			fc.count_only = true;
			break;
		case OPT_LIMIT:
			if (cli_parse_u64("--limit", optarg, 1, UINT64_MAX, &fc.limit) < 0)
				goto out;
			break;
		case OPT_PRINTF:
			cli_excl_add(&output, c, "--printf");
			printf_fmt = optarg;
			break;
		case OPT_JSON:
			cli_excl_add(&output, c, "--json");
			fc.json = true;
			break;
		case OPT_HASH:
			if (strlen(optarg) != 32 || hash_parse_hex(optarg, &fc.hash) < 0) {
				log_error("invalid --hash '%s' (expected 32 hex digits)", optarg);
				goto out;
			}
			fc.by_hash = true;
			break;
		case 'h':
			usage();
			status = EXIT_OK;
			goto out;
		default:
			status = cli_usage_error("find");
			goto out;
		}
	}

	if (cli_excl_check(&output, "find") < 0) {
		status = cli_usage_error("find");
		goto out;
	}
	r = query_new((const char *const *)argv + optind, (size_t)(argc - optind), flags, &query,
		      &err);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		goto out;
	}
	if (printf_fmt) {
		r = output_format_new(printf_fmt, &fc.fmt, &err);
		if (r < 0) {
			log_error("%s", err ? err : strerror(-r));
			goto out;
		}
	}
	db = cli_db_path(db_opt);
	if (!db || cli_open_store(db, STORE_RDONLY, &store) < 0)
		goto out;

	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	if (fc.by_hash)
		r = find_by_hash(store, fc.hash.b, query, types, on_match, &fc);
	else
		r = find_run(store, query, types, on_match, &fc);
	if (fflush(stdout) != 0 && !fc.error)
		fc.error = -errno;
	if (fc.error == -EPIPE) {
		/* The reader is gone (| head): that is no error of ours. */
		status = fc.matches ? EXIT_OK : EXIT_PARTIAL;
	} else if (fc.error) {
		log_error("cannot write output: %s", strerror(-fc.error));
	} else if (r < 0) {
		log_error("cannot read index: %s", store_strerror(r));
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
