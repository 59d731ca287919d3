/* SPDX-License-Identifier: MIT */
/*
 * fsindex.c - the command line's entry point: dispatch to a subcommand.
 *
 * Module map.  Calls flow downward only:
 *
 *   fsindex.c ─► cmd-scan.c ─► scan.c ─► walk.c ─► fdcache.c, moves.c, mountinfo.c
 *             │                          │        └► ring.c, hash.c (scan --hash)
 *             │                          └► task.c; store.c ─► node.c, lmdbcheck.c
 *             ├► cmd-find.c ─► find.c ─► query.c ─► ere.c;  output.c
 *             └► cmd-dups.c ─► scan.c, then dups.c ─► ring.c, hash.c;  dupact.c, output.c
 *   every cmd-*.c ─► cli.c (shared options, index location), errors.c, log.c, progress.c
 *
 * Every file in src/, one line each (.c and its .h together):
 *
 *   fsindex.c       this entry point: dispatch to a subcommand
 *   cmd.h           the subcommands' entry points
 *   cmd-scan.c      `fsindex scan`: its options, roots, signals, summary, exit status
 *   cmd-find.c      `fsindex find`: its options, output, exit status
 *   cmd-dups.c      `fsindex dups`: its options, scan, report, actions, exit status
 *   cli.[ch]        the table of shared options, --help, index location, number parsing
 *   errors.[ch]     fsi_strerror(): the project's own error codes, then strerror(3)
 *   log.[ch]        the only code that writes diagnostics; quoting of names
 *   progress.[ch]   a one-line progress display on a terminal
 *   cancel.[ch]     a stop request that SIGINT, SIGTERM and SIGHUP set
 *   scan.[ch]       one scan of a set of roots into the index: roots, walk, writer
 *   walk.[ch]       one task per directory: list, stat, compare with the index
 *   fdcache.[ch]    a bounded LRU cache of open directory descriptors
 *   moves.[ch]      entries gone from their directory, kept by (dev, ino) for renames
 *   mountinfo.[ch]  what /proc/self/mountinfo says about a mount (fs type)
 *   task.[ch]       the work-stealing pool of stackless tasks
 *   ring.[ch]       file content through io_uring, or pread(2) behind the same interface
 *   hash.[ch]       XXH3-128 of content, whole and of the first and last 4 KiB
 *   store.[ch]      the index: the one LMDB environment, its writer thread
 *   node.[ch]       one indexed entry, in memory and as a `node` record
 *   lmdbcheck.[ch]  is an LMDB data file shorter than the pages it uses?
 *   find.[ch]       walk the index depth-first for the entries a query matches
 *   query.[ch]      matching paths against find's patterns (substring, glob, regex)
 *   ere.[ch]        POSIX extended regular expressions over bytes, bounded cost
 *   output.[ch]     plain, -0, --printf and JSON Lines output of find and dups
 *   dups.[ch]       duplicates: size, first and last 4 KiB, whole-content hash
 *   dupact.[ch]     --link, --reflink, --delete on a group, re-checked before acting
 *   config.[ch]     fsindex.conf for the daemon (not linked into fsindex)
 *   util.h          attributes, container_of, big-endian keys, clocks, GROW()
 *
 *   (files being added by the split of store.c, walk.c and dups.c go here:
 *   store-env.c, store-read.c, store-writer.c, store-ops.c, store-priv.h,
 *   ident.c, readhash.c, fskind.c, dups-collect.c, dups-priv.h, engine.c)
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
	       "  rescan DIR...     update directories already indexed, with their roots'\n"
	       "                    options, recording no new root\n"
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
		{ "rescan", cmd_rescan },
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
