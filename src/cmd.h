/* SPDX-License-Identifier: MIT */
/*
 * cmd.h - the subcommands of fsindex(1).  Each has a table of its own
 * options, takes the shared ones from cli.c's (cli_parser_init()), and
 * returns the process exit status.
 */
#ifndef FSINDEX_CMD_H
#define FSINDEX_CMD_H

/** fsindex scan: index directory trees.  See cmd-scan.c. */
int cmd_scan(int argc, char **argv);

/** fsindex rescan: update known directories of the index.  See cmd-scan.c. */
int cmd_rescan(int argc, char **argv);

/** fsindex find: query the index.  See cmd-find.c. */
int cmd_find(int argc, char **argv);

/** fsindex dups: find duplicate files.  See cmd-dups.c. */
int cmd_dups(int argc, char **argv);

/** fsindex status: ask fsindexd what it is doing.  See cmd-status.c. */
int cmd_status(int argc, char **argv);

/** fsindex reload: make fsindexd re-read its configuration.  See cmd-status.c. */
int cmd_reload(int argc, char **argv);

/** fsindex du: disk usage per directory from the index.  See cmd-du.c. */
int cmd_du(int argc, char **argv);

#endif /* FSINDEX_CMD_H */
