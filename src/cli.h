/* SPDX-License-Identifier: MIT */
/*
 * cli.h - helpers shared by the subcommands: the options they share (one
 * table, parsed and described in one place), where the index lives, number
 * parsing, opening the index with a clear message.
 */
#ifndef FSINDEX_CLI_H
#define FSINDEX_CLI_H

#include "ring.h"
#include "util.h"

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct store;

/* Exit statuses shared by every subcommand. */
enum {
	EXIT_OK = 0,
	EXIT_PARTIAL = 1,	/* scan: some entries unreadable; find: nothing matched */
	EXIT_FATAL = 2,
	EXIT_ACTION_FAILED = 3, /* dups: some --link/--reflink/--delete could not be done */
	EXIT_INTERRUPTED = 130,
};

/* ---- options ---------------------------------------------------------- */

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


/* The subcommands, one bit each: which of them take a shared option. */
enum cli_cmd_bit {
	CLI_SCAN = 1 << 0,
	CLI_FIND = 1 << 1,
	CLI_DUPS = 1 << 2,
	CLI_RESCAN = 1 << 3,
	CLI_STATUS = 1 << 4,
	CLI_RELOAD = 1 << 5,
	CLI_DU = 1 << 6,
};

/*
 * What cli_getopt() returns for an option that has no short letter: the
 * shared ones below, a command's own from CLI_OPT_OWN up.
 */
enum {
	CLI_OPT_DB = 256,
	CLI_OPT_IO,
	CLI_OPT_SYNC,
	CLI_OPT_SYNC_TIMEOUT,
	CLI_OPT_OWN = 300,
};

/** One option: how it is spelt, parsed and described in --help. */
struct cli_option {
	const char *name;	/* the long spelling with its dashes: "--jobs" */
	const char *letter;	/* the short one, "-j", or NULL */
	int key;		/* what cli_getopt() returns: the letter, or a CLI_OPT_* */
	const char *arg;	/* its argument as --help writes it, separator
				   included (" N", "=MODE"); NULL if it takes none */
	const char *help;	/* --help's text; each '\n' starts an indented line */
	unsigned cmds;		/* shared options: the cli_cmd_bit of who takes them */
};

/*
 * The options several subcommands share, in --help order: --db, -j, --io,
 * -q, -v, -h.  One meaning each:
 *   -q, --quiet    no summary of the work on stderr (what went wrong still is)
 *   -v, --verbose  more detail on stderr; twice (-vv), debugging messages too
 * cli_common_option() parses them, cli_usage() describes them.
 */
extern const struct cli_option cli_shared_options[];
extern const size_t cli_nshared_options;

/** A subcommand as its --help presents it, and the options it has of its own. */
struct cli_command {
	const char *name;		/* "scan" */
	unsigned bit;			/* CLI_SCAN */
	const char *synopsis;		/* after "Usage: fsindex scan " */
	const char *about;		/* the lines under it, each ending in '\n' */
	const char *notes;		/* after the options (combinations, exit status) */
	const struct cli_option *own;	/* its own options, in --help order */
	size_t nown;
};

/* Options one command takes at most (its own and the shared ones together). */
#define CLI_MAX_OPTIONS 40

/**
 * getopt_long(3) set up from a command's own options and the shared options
 * it takes (cli_parser_init()), and how the last option was spelt.
 */
struct cli_parser {
	const struct cli_command *cmd;		/* borrowed, for the parser's life */
	const struct cli_option *opts[CLI_MAX_OPTIONS];	/* every option it takes */
	size_t nopts;
	struct option longopts[CLI_MAX_OPTIONS + 1];
	char shortopts[2 * CLI_MAX_OPTIONS + 1];
	const struct cli_option *opt;	/* the option cli_getopt() last returned */
	const char *spelt;		/* ...as written: its name or its letter */
};

/**
 * Set @p up for @cmd (borrowed while @p is used) and start a new parse of
 * argv (optind is reset).  Options GNU getopt permutes: they may follow
 * operands, and "--" ends them.
 */
void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd);

/**
 * The next option of @argv, as getopt_long(3): its key (struct cli_option),
 * '?' for one that is unknown or lacks its argument (getopt has said so on
 * stderr), or -1 after the last; optarg and optind as getopt leaves them.
 * Sets p->opt and p->spelt (NULL with '?' and -1).
 */
int cli_getopt(struct cli_parser *p, int argc, char **argv);

/** The values of the shared options.  Zero-initialise. */
struct cli_common {
	const char *db;		/* --db: argv's, or NULL (cli_db_path() decides) */
	unsigned jobs;		/* -j: 0 means one worker per online CPU */
	enum ring_mode io;	/* --io: RING_AUTO unless given */
	bool quiet;		/* -q */
	unsigned verbose;	/* how many -v */
	bool sync;		/* --sync, or --sync-timeout given (find, dups) */
	int sync_ms;		/* --sync-timeout; 0: sync_wait()'s default */
	struct cli_excl verbosity;	/* -q against -v */
};

/* cli_common_option(): the option was -h and the help is printed: exit 0. */
#define CLI_HELP_SHOWN 2

/**
 * Take the option cli_getopt() just returned (@key) into @c if it is a
 * shared one.  Returns 1 if it was, 0 if it is not shared (the command's own
 * or '?'), CLI_HELP_SHOWN after printing the help for -h, or -EINVAL after
 * a message saying what is wrong with its value.
 */
int cli_common_option(struct cli_parser *p, int key, struct cli_common *c);

/**
 * After the last option: refuse -q with -v ("CMD: -q and -v cannot be used
 * together", -EINVAL), and let debugging messages through for -vv.
 * Returns 0 or -EINVAL.
 */
int cli_common_finish(const struct cli_parser *p, struct cli_common *c);

/**
 * Print @cmd's --help on @out: usage line, about, its own options then the
 * shared ones it takes, aligned in one column, then the notes.
 */
void cli_usage(FILE *out, const struct cli_command *cmd);

/* ---- the index, numbers, roots, messages --------------------------------- */

/**
 * The index location: @option if not NULL, else $FSINDEX_DB, else
 * $XDG_CACHE_HOME/fsindex, else ~/.cache/fsindex.  Returns a malloc'd path
 * (the caller frees) or NULL with a message already printed.
 */
char *cli_db_path(const char *option);

/** With -vv: say which index @path the command uses ("index 'PATH'"). */
void cli_debug_index(const char *path);

/**
 * Was the index chosen (@option, --db, or $FSINDEX_DB), rather than left to
 * the default (find then reads the per-user and the system index)?
 */
bool cli_db_explicit(const char *option);

/**
 * Open the index at @path (STORE_RDONLY for queries): the system index that
 * a setgid fsindex opened before it dropped its group (privs.h) when @path
 * names it, else store_open().  Prints nothing.  0 or a negative error.
 */
int cli_try_open_store(const char *path, unsigned flags, struct store **ret_store);

/** The message for cli_try_open_store()'s error @r: names the path and the reason. */
void cli_store_error(const char *path, unsigned flags, int r);

/** cli_try_open_store(), then cli_store_error() on failure.  0 or a negative error. */
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

/** Print "Try 'fsindex @cmd --help'." after a usage error; returns EXIT_FATAL. */
int cli_usage_error(const char *cmd);

#endif /* FSINDEX_CLI_H */
