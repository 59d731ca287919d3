/* SPDX-License-Identifier: MIT */
/*
 * cmd-du.c - `fsindex du`: disk usage per directory from the index (du.c),
 * printed as du(1) prints it, so `du -B1` and `fsindex du` can be diffed.
 * The tree is never walked; only each PATH is resolved on disk
 * (realpath(3)), to spell it as the index does.
 */
#include "cmd.h"

#include "cli.h"
#include "du.h"
#include "errors.h"
#include "find-sources.h"
#include "log.h"
#include "output.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_DEPTH = CLI_OPT_OWN, OPT_SORT, OPT_APPARENT, OPT_JSON, OPT_HELP };

static const struct cli_option du_options[] = {
	{ "--depth", "-d", 'd', " N",
	  "list directories at most N levels below each PATH\n(0: only the totals of the PATHs; "
	  "default: all)", CLI_DU },
	{ "--sort", NULL, OPT_SORT, NULL, "largest first instead of children before parents", CLI_DU },
	{ "--human-readable", "-h", 'h', NULL, "sizes in powers of 1024 (4.0K 12M 1.1G), as du -h",
	  CLI_DU },
	{ "--apparent-size", NULL, OPT_APPARENT, NULL,
	  "count st_size instead of the blocks allocated", CLI_DU },
	{ "--count-links", "-l", 'l', NULL,
	  "count a file with several links at each of them", CLI_DU },
	{ "--null", "-0", '0', NULL, "end each line with NUL instead of newline", CLI_DU },
	{ "--json", NULL, OPT_JSON, NULL, "one JSON object per line: path, size (bytes), depth",
	  CLI_DU },
	{ "--help", NULL, OPT_HELP, NULL, "show this help and exit (-h is --human-readable)",
	  CLI_DU },
};

static const struct cli_command du_cmd = {
	.name = "du",
	.bit = CLI_DU,
	.synopsis = "[OPTION]... [PATH]...",
	.about = "Print the disk usage of each indexed directory below each PATH (default .),\n"
		 "from the index alone: size in bytes (st_blocks * 512, a directory's own\n"
		 "blocks included), a tab, the path; children before their parents, then\n"
		 "each PATH's total.  A file with several links counts once, where it is met\n"
		 "first.  The same numbers as du -B1 (du --apparent-size -B1) on the tree as\n"
		 "it was indexed.\n",
	.notes = "Exit status: 0 ok, 1 some PATH is not in the index, 2 error.\n",
	.own = du_options,
	.nown = ARRAY_SIZE(du_options),
};

struct du_line {
	char *path;
	uint64_t bytes;
	unsigned depth;
};

struct du_ctx {
	bool human, json, sort;
	char terminator;
	struct du_line *lines; /* --sort */
	size_t nlines, cap;
};

/* @v bytes as du -h writes it: rounded up, one decimal below 10 of a unit. */
static void human(char *buf, size_t size, uint64_t v)
{
	static const char units[] = "KMGTPEZY";
	unsigned __int128 unit = 1024;
	uint64_t tenths, whole;
	unsigned p = 0;

	if (v < 1024) {
		snprintf(buf, size, "%llu", (unsigned long long)v);
		return;
	}
	while (p + 1 < sizeof(units) - 1 && v >= unit * 1024) {
		unit *= 1024;
		p++;
	}
	for (;;) {
		tenths = (uint64_t)(((unsigned __int128)v * 10 + unit - 1) / unit);
		whole = (uint64_t)(((unsigned __int128)v + unit - 1) / unit);
		if (tenths < 100 || whole < 1024 || p + 1 >= sizeof(units) - 1)
			break;
		unit *= 1024; /* 1023.9K rounds up to 1024K: that is 1.0M */
		p++;
	}
	if (tenths < 100)
		snprintf(buf, size, "%llu.%llu%c", (unsigned long long)(tenths / 10),
			 (unsigned long long)(tenths % 10), units[p]);
	else
		snprintf(buf, size, "%llu%c", (unsigned long long)whole, units[p]);
}

static int print_line(struct du_ctx *c, const char *path, size_t len, uint64_t bytes,
		      unsigned depth)
{
	char num[32];

	if (c->json) {
		fputs("{\"path\":", stdout);
		output_json_string(stdout, path, len);
		printf(",\"size\":%llu,\"depth\":%u}\n", (unsigned long long)bytes, depth);
	} else {
		if (c->human)
			human(num, sizeof(num), bytes);
		else
			snprintf(num, sizeof(num), "%llu", (unsigned long long)bytes);
		printf("%s\t", num);
		fwrite(path, 1, len, stdout);
		putchar(c->terminator);
	}
	return ferror(stdout) ? -EIO : 0;
}

static int on_dir(void *ctx, const char *path, size_t len, uint64_t bytes, unsigned depth)
{
	struct du_ctx *c = ctx;

	if (!c->sort)
		return print_line(c, path, len, bytes, depth);
	if (GROW(c->lines, c->cap, c->nlines + 1) < 0)
		return -ENOMEM;
	c->lines[c->nlines].path = strndup(path, len);
	if (!c->lines[c->nlines].path)
		return -ENOMEM;
	c->lines[c->nlines].bytes = bytes;
	c->lines[c->nlines].depth = depth;
	c->nlines++;
	return 0;
}

static int by_size(const void *a, const void *b)
{
	const struct du_line *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* The options into @c, @common and @o; returns 0, CLI_HELP_SHOWN or -EINVAL. */
static int parse(int argc, char **argv, struct cli_common *common, struct du_ctx *c,
		 struct du_opts *o)
{
	struct cli_excl output = { 0 };
	struct cli_parser p;
	uint64_t v;
	int k, r;

	cli_parser_init(&p, &du_cmd);
	while ((k = cli_getopt(&p, argc, argv)) != -1) {
		r = cli_common_option(&p, k, common);
		if (r < 0 || r == CLI_HELP_SHOWN)
			return r;
		if (r)
			continue;
		switch (k) {
		case 'd':
			if (cli_parse_u64("--depth", optarg, 0, UINT_MAX, &v) < 0)
				return -EINVAL;
			o->max_depth = (unsigned)v;
			break;
		case OPT_SORT:
			c->sort = true;
			break;
		case 'h':
			cli_excl_add(&output, k, p.spelt);
			c->human = true;
			break;
		case OPT_APPARENT:
			o->apparent = true;
			break;
		case 'l':
			o->count_links = true;
			break;
		case '0':
			c->terminator = '\0';
			break;
		case OPT_JSON:
			cli_excl_add(&output, k, p.spelt);
			c->json = true;
			break;
		case OPT_HELP:
			cli_usage(stdout, &du_cmd);
			return CLI_HELP_SHOWN;
		default:
			return -EINVAL;
		}
	}
	if (cli_excl_check(&output, "du") < 0 || cli_common_finish(&p, common) < 0)
		return -EINVAL;
	return 0;
}

/* @arg as the index spells it: its real path, else made absolute as it is. */
static char *index_path(const char *arg)
{
	char *real = realpath(arg, NULL), *cwd, *abs;

	if (real || arg[0] == '/')
		return real ? real : strdup(arg);
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(&abs, "%s/%s", cwd, arg) < 0)
		abs = NULL;
	free(cwd);
	return abs;
}

/* Count each PATH; returns the exit status. */
static int run(struct store *store, const struct du_opts *o, struct du_ctx *c, char **paths,
	       size_t n)
{
	static char here[] = ".";
	static char *dot[] = { here };
	int status = EXIT_OK, r = 0;
	struct du *du = NULL;

	if (n == 0) {
		paths = dot;
		n = 1;
	}
	r = du_new(store, o, &du);
	for (size_t i = 0; i < n && r >= 0; i++) {
		char *abs = index_path(paths[i]), *q;
		uint64_t total;

		r = abs ? du_path(du, abs, paths[i], on_dir, c, &total) : -ENOMEM;
		free(abs);
		if (r != -ENOENT && r != -ENAMETOOLONG && r != -EINVAL)
			continue;
		q = log_quote(paths[i], strlen(paths[i]));
		log_error("'%s' is not in the index", q ? q : "?");
		free(q);
		status = EXIT_PARTIAL;
		r = 0;
	}
	du_free(du);
	if (r < 0) {
		log_error("cannot read index: %s", fsi_strerror(r));
		return EXIT_FATAL;
	}
	if (c->sort) {
		if (c->nlines)
			qsort(c->lines, c->nlines, sizeof(*c->lines), by_size);
		for (size_t i = 0; i < c->nlines && r >= 0; i++)
			r = print_line(c, c->lines[i].path, strlen(c->lines[i].path),
				       c->lines[i].bytes, c->lines[i].depth);
	}
	return status;
}

/* Which of @fs's indexes holds the PATHs (find_sources_pick()); NULL when out of memory. */
static const struct find_source *pick(const struct find_sources *fs, char **args, size_t n)
{
	static char here[] = ".";
	static char *dot[] = { here };
	const struct find_source *src = NULL;
	char **abs;
	size_t i;

	if (n == 0) {
		args = dot;
		n = 1;
	}
	abs = calloc(n, sizeof(*abs));
	for (i = 0; abs && i < n && (abs[i] = index_path(args[i])); i++)
		;
	if (abs && i == n)
		src = find_sources_pick(fs, abs, n);
	for (size_t j = 0; abs && j < i; j++)
		free(abs[j]);
	free(abs);
	if (!src)
		log_error("%s", fsi_strerror(-ENOMEM));
	return src;
}

int cmd_du(int argc, char **argv)
{
	struct du_opts o = { .max_depth = UINT_MAX };
	struct du_ctx c = { .terminator = '\n' };
	struct cli_common common = { 0 };
	struct find_sources sources = { 0 };
	const struct find_source *src;
	int r, status = EXIT_FATAL;

	r = parse(argc, argv, &common, &c, &o);
	if (r != 0) {
		status = r == CLI_HELP_SHOWN ? EXIT_OK : cli_usage_error("du");
		goto out;
	}
	if (find_sources_open(common.db, &sources) < 0)
		goto out;
	src = pick(&sources, argv + optind, (size_t)(argc - optind));
	if (!src)
		goto out;
	o.visible = src->visible;
	if (common.sync)
		sync_wait("du", src->path, common.sync_ms);
	setvbuf(stdout, NULL, _IOFBF, 64 * 1024);
	status = run(src->store, &o, &c, argv + optind, (size_t)(argc - optind));
out:
	if (fflush(stdout) != 0 && errno != EPIPE && status != EXIT_FATAL) {
		log_error("cannot write output: %s", strerror(errno));
		status = EXIT_FATAL;
	}
	for (size_t i = 0; i < c.nlines; i++)
		free(c.lines[i].path);
	free(c.lines);
	find_sources_close(&sources);
	return status;
}
