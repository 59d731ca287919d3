/* SPDX-License-Identifier: MIT */
/*
 * fsindex.c - the command line's entry point: dispatch to a subcommand.
 *
 * Module map.  Calls flow downward only:
 *
 *   fsindex.c ─► cmd-scan.c ─► scan.c, rescan.c ─┐
 *             ├► cmd-dups.c ─► scan.c, dups.c ───┼─► engine.c ─► task.c (pool, job groups)
 *             │            └► dupact.c, output.c │             ├► ring.c (one per worker)
 *             │                                  │             ├► store-*.c (the writer)
 *             │                                  │             └► mountinfo.c, walk-fds.c
 *             │                                  └─► walk.c ─► walk-hash.c ─► readhash.c ─► ring.c
 *             │                                             ├► walk-renames.c ─► moves.c
 *             │                                             └► fdcache.c, fskind.c, ident.c
 *             └► cmd-find.c ─► find.c ─► query.c ─► ere.c;  output.c;  store-*.c (reading)
 *   dups.c ─► dups-collect.c (candidates), readhash.c, ident.c;  dupact.c ─► ident.c, fskind.c
 *   store-*.c ─► node.c, lmdbcheck.c;   every cmd-*.c ─► cli.c, errors.c, log.c, progress.c
 *
 * Every file in src/, one line each (.c and its .h together):
 *
 *   fsindex.c       this entry point: dispatch to a subcommand
 *   cmd.h           the subcommands' entry points
 *   cmd-scan.c      `fsindex scan` and `fsindex rescan`: options, signals, summary, status
 *   cmd-find.c      `fsindex find`: its options, output, exit status
 *   cmd-dups.c      `fsindex dups`: its options, scan, report, actions, exit status
 *   cmd-status.c    `fsindex status` and `fsindex reload`: clients of fsindexd (control.c)
 *   cli.[ch]        the table of shared options, --help, index location, number parsing
 *   privs.[ch]      installed setgid: the system index opened with the group, then it is dropped
 *   visible.[ch]    may the user reach a path: entries of another's index are filtered
 *   errors.[ch]     fsi_strerror(): the project's own error codes, then strerror(3)
 *   log.[ch]        the only code that writes diagnostics; quoting of names
 *   progress.[ch]   a one-line progress display on a terminal
 *   cancel.[ch]     stop requests (nested tokens) and the thread that turns signals into one
 *   engine.[ch]     what the jobs of a process share: writer, pool, rings, descriptors, mounts
 *   scan.[ch]       one scan of a set of roots into the index: root chains, phases, jobs
 *   rescan.[ch]     rescans of known directories by id or path, with their roots' options
 *   walk.[ch]       one task per directory: list, stat, compare with the index
 *   walk-priv.h     the walker's private state, shared by walk*.c
 *   walk-hash.c     the walker's content reads (hashing roots)
 *   walk-renames.c  arrivals and gone entries paired by (dev, ino): renames keep identity
 *   walk-fds.c      the descriptor budget of a walk (and of dups' reads)
 *   fdcache.[ch]    a bounded LRU cache of open directory descriptors
 *   moves.[ch]      entries gone from their directory, kept by (dev, ino) for renames
 *   fskind.[ch]     what a filesystem type can be trusted with (pruned, mtimes, own files)
 *   mountinfo.[ch]  the mount table: device, mount point, type, source
 *   ident.[ch]      is it still the same file; stat to record; paths past PATH_MAX
 *   task.[ch]       the persistent work-stealing pool of stackless tasks, with job groups
 *   ring.[ch]       file content through io_uring, or pread(2) behind the same interface
 *   readhash.[ch]   read a file (or a range) through a worker's ring and hash it
 *   hash.[ch]       XXH3-128 of content, whole and of the first and last 4 KiB
 *   store.h         the index's interface: schema, open, readers, writer, jobs
 *   store-priv.h    the store's private state; the only header that includes lmdb.h
 *   store-env.c     opening (and refusing), the scan lock, features and upgrades
 *   store-read.c    readers: nodes, children, roots, hashes, paths <-> ids
 *   store-writer.c  the writer thread: queue, jobs, commits, map growth, txn splits
 *   store-ops.c     the operations and their derived keys (child, hash, roots)
 *   node.[ch]       one indexed entry, in memory and as a `node` record
 *   lmdbcheck.[ch]  is an LMDB data file shorter than the pages it uses?
 *   find.[ch]       walk the index depth-first for the entries a query matches
 *   find-sources.[ch] which indexes a query reads: the chosen one, or the user's and the system's
 *   pathset.[ch]    a set of paths by digest: each path reported once across indexes
 *   nodepaths.[ch]  paths of nodes met out of order, rebuilt and cached per directory, sorted
 *   query.[ch]      matching paths against find's patterns (substring, glob, regex)
 *   ere.[ch]        POSIX extended regular expressions over bytes, bounded cost
 *   output.[ch]     plain, -0, --printf and JSON Lines output of find and dups
 *   dups.[ch]       duplicates: size, first and last 4 KiB, whole-content hash
 *   dups-collect.c  dups' candidates: gathered per worker, merged, sorted, links folded
 *   dups-priv.h     dups' private state, shared by dups.c and dups-collect.c
 *   dupact.[ch]     --link, --reflink, --delete on a group, re-checked before acting
 *   config.[ch]     fsindex.conf for the daemon (not linked into fsindex)
 *   watch.[ch]      the daemon's event source: changed directories, coalesced into rescans
 *   watch-priv.h    the event source's private state, shared by watch*.c
 *   watch-fan.c     fanotify filesystem marks; directory handles resolved to paths
 *   watch-ino.c     inotify watches per directory: the wd -> path table, renames, the budget
 *   control.[ch]    fsindexd's control socket: path, line protocol, peer check, client
 *   fsindexd.c      fsindexd's entry point: options, then daemon_run() (its own map)
 *   daemon*.[ch]    fsindexd itself: loop, jobs, answers, the watch.h seam (daemon-events.c)
 *   rootdrop.[ch]   a root out of the index, keeping what other roots hold (fsindexd reload)
 *   sync.[ch]       the daemon's client: --sync, and scan/rescan of an index it serves
 *   util.h          attributes, container_of, big-endian keys, clocks, GROW()
 */
#include "cmd.h"

#include "cli.h"
#include "errors.h"
#include "log.h"
#include "privs.h"

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
	       "  status            show what the daemon fsindexd is doing\n"
	       "  reload            make fsindexd re-read its configuration\n"
	       "  du [PATH]...      disk usage per directory, from the index\n"
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
		{ "du", cmd_du },
		{ "status", cmd_status },
		{ "reload", cmd_reload },
	};

	/* Before anything of the user's is looked at (privs.h). */
	int r = privs_init();

	log_init("fsindex", false);
	if (r < 0) {
		log_error("cannot drop the privileges fsindex was started with: %s",
			  fsi_strerror(r));
		return EXIT_FATAL;
	}
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
