/* SPDX-License-Identifier: MIT */
/*
 * fsindex.c - the command line's entry point: dispatch to a subcommand.
 *
 * Module map (calls flow downward only):
 *
 *   fsindex.c ─► cmd-scan.c ─► scan.c ─► walk.c ─► fdcache.c (descriptor cache, budget)
 *             │               │         ├────────► moves.c (renames: gone entries by inode)
 *             │               │         ├────────► fskind.c (fs types) ─► mountinfo.c
 *             │               │         └────────► task.c (work-stealing pool)
 *             │               └───────────────────► store-*.c (LMDB, writer thread) ─► node.c
 *             │                                     └► lmdbcheck.c (short data files)
 *             ├► cmd-find.c ─► find.c ─► query.c (substring, glob) ─► ere.c (regex)
 *             │              └► output.c (plain, -0, --printf, JSON)
 *             └► cmd-dups.c ─► scan.c, then dups.c ─► readhash.c ─► ring.c (io_uring / pread)
 *                            │                                 └► hash.c (XXH3)
 *                            └► dupact.c (--link, --reflink, --delete), output.c
 *   walk.c also hashes (scan --hash) through readhash.c; its parts are walk-*.c,
 *   and dups.c's collection is dups-collect.c.  ident.c (is it still the same
 *   file? paths past PATH_MAX) serves walk, ring, dups and dupact.
 *   config.c reads fsindex.conf for the daemon (not linked into fsindex).
 *   shared: cli.c (index location, options), log.c (messages), progress.c, util.h
 */
#include "cmd.h"

#include "cli.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void usage(void)
{
	printf("Usage: fsindex [--help] [--version] COMMAND [ARGS]...\n"
	       "A fast indexer of directory trees.\n"
	       "\n"
	       "Commands:\n"
	       "  scan PATH...      index directory trees, or update them in place\n"
	       "  find [PATTERN]... list indexed paths matching every PATTERN\n"
	       "  dups PATH...      find duplicate files below each PATH\n"
	       "\n"
	       "Run 'fsindex COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "scan", cmd_scan },
		{ "find", cmd_find },
		{ "dups", cmd_dups },
	};

	log_init("fsindex", false);
	if (argc < 2) {
		log_error("no command given");
		return cli_usage_error(NULL);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage();
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("fsindex %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	log_error("unknown command '%s'", argv[1]);
	return cli_usage_error(NULL);
}
