/* SPDX-License-Identifier: MIT */
/*
 * cli.h - helpers shared by the subcommands: where the index lives, number
 * parsing, opening the index with a clear message.
 */
#ifndef FSINDEX_CLI_H
#define FSINDEX_CLI_H

#include "util.h"

#include <stdbool.h>
#include <stdint.h>

struct store;

/* Exit statuses shared by every subcommand. */
enum {
	EXIT_OK = 0,
	EXIT_PARTIAL = 1,	/* scan: some entries unreadable; find: nothing matched */
	EXIT_FATAL = 2,
	EXIT_ACTION_FAILED = 3, /* dups: some --link/--reflink/--delete could not be done */
	EXIT_INTERRUPTED = 130,
};

/**
 * The index location: @option if not NULL, else $FSINDEX_DB, else
 * $XDG_CACHE_HOME/fsindex, else ~/.cache/fsindex.  Returns a malloc'd path
 * (the caller frees) or NULL with a message already printed.
 */
char *cli_db_path(const char *option);

/**
 * Open the index at @path (STORE_RDONLY for queries), printing a message that
 * names the path and the reason on failure.  Returns 0 or a negative error.
 */
int cli_open_store(const char *path, unsigned flags, struct store **ret_store);

/**
 * Parse a decimal number in [@min, @max] for option @opt; prints a message
 * and returns -EINVAL when @s is not one.
 */
int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/**
 * Check that content can be read in @mode (enum ring_mode): with auto, say
 * once on stderr when io_uring is unavailable and pread is used instead;
 * with uring, fail with a message.  Returns 0 or a negative error.
 */
int cli_probe_io(int mode);

/**
 * Say that @cmd cannot run with the descriptors it has: RLIMIT_NOFILE is
 * @limit, @used were open, and it needs @needed more.
 */
void cli_fd_shortage(const char *cmd, unsigned limit, unsigned used, unsigned needed);

/**
 * Resolve each of @n PATH arguments with realpath(3) into @ret_paths (malloc'd,
 * the caller frees them); each must be a directory.  On failure names the
 * path and the reason ("cannot @verb 'PATH': ...") and returns EXIT_FATAL.
 */
int cli_resolve_roots(const char *verb, char *const *args, size_t n, char **ret_paths);

/**
 * A walk_error_fn: print "fsindex: WHAT 'PATH': REASON" for one entry, the
 * path quoted, one whole line at a time from any thread.
 */
void cli_report_entry(void *ctx, const char *path, size_t len, const char *what, int err);

/**
 * A set of options that exclude each other (output modes, actions): each is
 * noted with cli_excl_add() as it is parsed, and cli_excl_check() after the
 * last one refuses the command line if two different ones were given.  The
 * names are not copied: string literals, or argv's.
 */
struct cli_excl {
	int first_id;
	const char *first, *second;
};

/** Note option @id, spelt @name on the command line (the same id twice is fine). */
void cli_excl_add(struct cli_excl *x, int id, const char *name);

/**
 * Returns 0 if at most one of the options of @x was given; else prints
 * "@cmd: A and B cannot be used together", naming the first two, and
 * returns -EINVAL.
 */
int cli_excl_check(const struct cli_excl *x, const char *cmd);

/** Print "Try 'fsindex @cmd --help'." after a usage error; returns EXIT_FATAL. */
int cli_usage_error(const char *cmd);

#endif /* FSINDEX_CLI_H */
