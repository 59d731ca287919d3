/* SPDX-License-Identifier: MIT */
/*
 * test-cli.c - the option table: a command's own options and the shared
 * ones it takes are parsed by one getopt_long(3) setup and described once
 * in --help (the same set, each once); the shared options are taken by
 * exactly the commands their row names and mean the same in each (-j, --io,
 * --db, -q against -v, -v counted, -vv lets debugging messages through);
 * how an option was spelt is what an exclusion message names.
 */
#include "cli.h"

#include "log.h"
#include "ring.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A writable string, as getopt wants argv (it permutes the pointers). */
#define W(s) ((char[]){ s })

enum { OPT_LONG_ONLY = CLI_OPT_OWN, OPT_VALUE };

static const struct cli_option own[] = {
	{ "--flag", "-f", 'f', NULL, "a flag", CLI_SCAN | CLI_FIND | CLI_DUPS },
	{ "--long-only", NULL, OPT_LONG_ONLY, NULL, "no letter", CLI_SCAN | CLI_FIND | CLI_DUPS },
	{ "--value", NULL, OPT_VALUE, " X",
	  "takes X\nover two lines", CLI_SCAN | CLI_FIND | CLI_DUPS },
};

static struct cli_command cmd_for(unsigned bit, bool with_own)
{
	return (struct cli_command){
		.name = bit == CLI_SCAN ? "scan" : bit == CLI_FIND ? "find" : "dups",
		.bit = bit,
		.synopsis = "[OPTION]... ARG...",
		.about = "About it.\n",
		.notes = "Notes.\n",
		.own = with_own ? own : NULL,
		.nown = with_own ? ARRAY_SIZE(own) : 0,
	};
}

/* Parse the NULL-terminated @args (argv[0] first) into @c; returns the keys seen, as a string. */
static char *parse(const struct cli_command *cmd, struct cli_common *c, char **args, int *ret_r,
		   struct cli_parser *p)
{
	static char seen[256];
	size_t n = 0;
	int argc = 0, key, r = 0;

	while (args[argc])
		argc++;
	cli_parser_init(p, cmd);
	seen[0] = '\0';
	while ((key = cli_getopt(p, argc, args)) != -1) {
		r = cli_common_option(p, key, c);
		n += (size_t)snprintf(seen + n, sizeof(seen) - n, "%s%s", n ? " " : "",
				      key == '?' ? "?" : p->spelt);
		if (r < 0 || r == CLI_HELP_SHOWN || key == '?')
			break;
	}
	*ret_r = r;
	return seen;
}

static void test_parse(void)
{
	struct cli_command scan = cmd_for(CLI_SCAN, true);
	struct cli_common c = { 0 };
	struct cli_parser p;
	char *args[] = {
		W("scan"), W("-f"), W("PATH"), W("--long-only"), W("--value"), W("v"),
		W("-j"), W("3"), W("--io=sync"), W("--db"), W("D"), W("-vv"),
		W("--verbose"), W("PATH2"), NULL,
	};
	const char *seen;
	int r;

	seen = parse(&scan, &c, args, &r, &p);
	ok(!strcmp(seen, "-f --long-only --value -j --io --db -v -v --verbose"),
	   "keys and spellings in order (%s)", seen);
	ok(r == 1, "the last one was a shared option");
	ok(c.jobs == 3 && c.io == RING_SYNC && c.db && !strcmp(c.db, "D") && c.verbose == 3 &&
		   !c.quiet,
	   "-j 3 --io=sync --db D -vv --verbose: jobs 3, pread, D, verbose 3");
	ok(optind == 12 && !strcmp(args[optind], "PATH") && !strcmp(args[optind + 1], "PATH2"),
	   "operands are moved after the options (optind %d)", optind);
	log_set_max_level(LOG_INFO);
	ok(cli_common_finish(&p, &c) == 0 && log_enabled(LOG_DEBUG), "-vv lets debugging through");
	log_set_max_level(LOG_INFO);

	char *one_v[] = { W("dups"), W("-v"), W("X"), NULL };
	struct cli_command dups = cmd_for(CLI_DUPS, false);

	c = (struct cli_common){ 0 };
	parse(&dups, &c, one_v, &r, &p);
	ok(c.verbose == 1 && cli_common_finish(&p, &c) == 0 && !log_enabled(LOG_DEBUG),
	   "one -v: more detail, but no debugging messages");

	char *qv[] = { W("dups"), W("--quiet"), W("-j"), W("1"), W("-v"), W("X"), NULL };

	c = (struct cli_common){ 0 };
	parse(&dups, &c, qv, &r, &p);
	ok(c.quiet && c.verbose == 1 && cli_common_finish(&p, &c) == -EINVAL,
	   "-q with -v is refused by cli_common_finish()");
	ok(c.verbosity.first && !strcmp(c.verbosity.first, "--quiet") && c.verbosity.second &&
		   !strcmp(c.verbosity.second, "-v"),
	   "... naming them as spelt: --quiet and -v");

	char *qq[] = { W("scan"), W("-q"), W("--quiet"), NULL };

	c = (struct cli_common){ 0 };
	parse(&scan, &c, qq, &r, &p);
	ok(cli_common_finish(&p, &c) == 0, "-q --quiet is one option twice: fine");
}

static void test_bad_values(void)
{
	static const char *const bad[][3] = {
		{ "-j", "0", "-j 0" },		{ "-j", "1025", "-j 1025" },
		{ "-j", "x", "-j x" },		{ "--jobs", "-1", "--jobs -1" },
		{ "--io", "fast", "--io fast" }, { "--io", "", "--io ''" },
	};
	struct cli_command scan = cmd_for(CLI_SCAN, true);
	struct cli_parser p;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct cli_common c = { 0 };
		char arg0[16], arg1[16];
		char *args[] = { W("scan"), arg0, arg1, NULL };
		int r;

		snprintf(arg0, sizeof(arg0), "%s", bad[i][0]);
		snprintf(arg1, sizeof(arg1), "%s", bad[i][1]);
		parse(&scan, &c, args, &r, &p);
		ok(r == -EINVAL, "%s is refused", bad[i][2]);
	}

	struct cli_common c = { 0 };
	char *ok_args[] = { W("scan"), W("-j1024"), W("--io=uring"), NULL };
	int r;

	parse(&scan, &c, ok_args, &r, &p);
	ok(r == 1 && c.jobs == 1024 && c.io == RING_URING, "-j1024 --io=uring are taken");

	/* getopt's own refusals: its message on stderr, '?' here. */
	opterr = 0;
	char *unknown[] = { W("scan"), W("--nope"), NULL };
	char *noarg[] = { W("scan"), W("--value"), NULL };
	char *letter[] = { W("scan"), W("-Z"), NULL };

	ok(!strcmp(parse(&scan, &c, unknown, &r, &p), "?"), "an unknown long option is '?'");
	ok(!strcmp(parse(&scan, &c, noarg, &r, &p), "?"), "an option without its argument is '?'");
	ok(!strcmp(parse(&scan, &c, letter, &r, &p), "?"), "an unknown letter is '?'");
	opterr = 1;
}

/* Each shared option is taken by exactly the commands its row names. */
static void test_who_takes_what(void)
{
	static const unsigned bits[] = { CLI_SCAN, CLI_FIND, CLI_DUPS };
	unsigned wrong = 0, tried = 0;

	opterr = 0;
	for (size_t b = 0; b < ARRAY_SIZE(bits); b++) {
		struct cli_command cmd = cmd_for(bits[b], false);

		for (size_t i = 0; i < cli_nshared_options; i++) {
			const struct cli_option *o = &cli_shared_options[i];
			char name[32], one[] = "1";
			char *args[] = { W("x"), name, o->arg ? one : NULL, NULL };
			struct cli_parser p;
			bool takes;
			int key;

			snprintf(name, sizeof(name), "%s", o->name);
			cli_parser_init(&p, &cmd);
			key = cli_getopt(&p, o->arg ? 3 : 2, args);
			takes = key == o->key && p.opt == o;
			wrong += takes != !!(o->cmds & bits[b]);
			tried++;
		}
	}
	opterr = 1;
	ok(wrong == 0 && tried == 3 * cli_nshared_options,
	   "each of the %zu shared options is accepted by exactly the commands it names",
	   cli_nshared_options);

	/* The commands that take a shared option: the ones the brief and man page say. */
	static const struct {
		const char *name;
		unsigned cmds;
	} want[] = {
		{ "--db", CLI_SCAN | CLI_RESCAN | CLI_FIND | CLI_DUPS | CLI_DU },
		{ "--jobs", CLI_SCAN | CLI_RESCAN | CLI_DUPS },
		{ "--io", CLI_SCAN | CLI_RESCAN | CLI_DUPS },
		{ "--quiet", CLI_SCAN | CLI_RESCAN | CLI_DUPS },
		{ "--verbose", CLI_SCAN | CLI_RESCAN | CLI_DUPS },
		{ "--sync", CLI_FIND | CLI_DUPS | CLI_DU },
		{ "--sync-timeout", CLI_FIND | CLI_DUPS | CLI_DU },
		{ "--help", CLI_SCAN | CLI_RESCAN | CLI_FIND | CLI_DUPS | CLI_STATUS | CLI_RELOAD },
	};
	bool same = cli_nshared_options == ARRAY_SIZE(want);

	for (size_t i = 0; same && i < ARRAY_SIZE(want); i++)
		same = !strcmp(cli_shared_options[i].name, want[i].name) &&
		       cli_shared_options[i].cmds == want[i].cmds;
	ok(same, "the shared options: --db (all), -j, --io, -q, -v (scan, rescan, dups), "
	   "--sync, --sync-timeout (find, dups, du), -h (all but du)");
}

/* --help lists exactly the options getopt takes, each once, in one column. */
static void test_help(void)
{
	static const unsigned bits[] = { CLI_SCAN, CLI_FIND, CLI_DUPS };

	for (size_t b = 0; b < ARRAY_SIZE(bits); b++) {
		struct cli_command cmd = cmd_for(bits[b], true);
		struct cli_parser p;
		char *buf = NULL, *line, *save = NULL;
		size_t len = 0, listed = 0, found = 0, col = 0;
		bool once = true, aligned = true;
		FILE *f = open_memstream(&buf, &len);

		cli_parser_init(&p, &cmd);
		cli_usage(f, &cmd);
		fclose(f);
		ok(!strncmp(buf, "Usage: fsindex ", 15) && strstr(buf, "About it.\n") &&
			   strstr(buf, "\nNotes.\n"),
		   "%s: usage line, about and notes", cmd.name);
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *dd = strstr(line, "--");
			size_t text;

			if (strncmp(line, "  -", 3) && strncmp(line, "      --", 8)) {
				/* A continuation line starts at the text column. */
				if (col && line[0] == ' ')
					aligned &= strspn(line, " ") == col;
				continue;
			}
			listed++;
			for (size_t i = 0; i < p.nopts; i++) {
				const struct cli_option *o = p.opts[i];
				size_t n = strlen(o->name), left;

				if (strncmp(dd, o->name, n) || (dd[n] != ' ' && dd[n] != '=' && dd[n]))
					continue;
				found++;
				once &= strstr(dd + n, o->name) == NULL;
				/* "  -x, " or six spaces, the name, the argument, then spaces. */
				left = 6 + n + (o->arg ? strlen(o->arg) : 0);
				aligned &= (size_t)(dd - line) == 6;
				/* Too long for the column: its text is the next line's. */
				if (!line[left] && col)
					continue;
				text = left + strspn(line + left, " ");
				if (!col)
					col = text;
				aligned &= text == col;
			}
		}
		ok(listed == p.nopts && found == p.nopts && once,
		   "%s: --help lists the %zu options getopt takes, each once (%zu lines)", cmd.name,
		   p.nopts, listed);
		ok(aligned && col > 0, "%s: every description starts in column %zu", cmd.name, col);
		free(buf);
	}
}

/* -h prints the help on stdout and tells the command to exit 0. */
static void test_help_option(void)
{
	struct cli_command find = cmd_for(CLI_FIND, true);
	struct cli_common c = { 0 };
	struct cli_parser p;
	char *hargs[] = { W("find"), W("-f"), W("-h"), W("--nope"), NULL };
	int out = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY | O_CLOEXEC), r;
	const char *seen;

	fflush(stdout);
	dup2(null, STDOUT_FILENO);
	seen = parse(&find, &c, hargs, &r, &p);
	fflush(stdout);
	dup2(out, STDOUT_FILENO);
	close(out);
	close(null);
	ok(r == CLI_HELP_SHOWN && !strcmp(seen, "-f -h"),
	   "-h: CLI_HELP_SHOWN, and parsing stops there (%s)", seen);
}

int main(void)
{
	plan_lazy();
	test_parse();
	test_bad_values();
	test_who_takes_what();
	test_help();
	test_help_option();
	return done_testing();
}
