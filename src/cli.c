/* SPDX-License-Identifier: MIT */
/*
 * cli.c - small pieces every subcommand needs, and the table of the options
 * they share.
 *
 * Options: each subcommand describes its own options in a table of struct
 * cli_option (cmd-*.c); cli_parser_init() joins that table and the rows of
 * cli_shared_options[] the command takes into one getopt_long(3) setup, and
 * cli_usage() prints both in one aligned list, so an option is accepted if
 * and only if --help describes it.  The shared options are parsed here too
 * (cli_common_option()), so -j, --io, -q and -v mean the same everywhere.
 */
#include "cli.h"

#include "errors.h"
#include "log.h"
#include "privs.h"
#include "ring.h"
#include "sync.h"
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cli_option cli_shared_options[] = {
	{ "--db", NULL, CLI_OPT_DB, " DIR",
	  "index location (default: $FSINDEX_DB, else\n$XDG_CACHE_HOME/fsindex or ~/.cache/fsindex)",
	  CLI_SCAN | CLI_RESCAN | CLI_FIND | CLI_DUPS | CLI_DU },
	{ "--jobs", "-j", 'j', " N", "worker threads (default: online CPUs)", CLI_SCAN | CLI_RESCAN | CLI_DUPS },
	{ "--io", NULL, CLI_OPT_IO, "=MODE",
	  "how content is read: auto (io_uring if it works,\nelse pread), uring, sync (default auto)",
	  CLI_SCAN | CLI_RESCAN | CLI_DUPS },
	{ "--quiet", "-q", 'q', NULL, "no summary of the work on stderr", CLI_SCAN | CLI_RESCAN | CLI_DUPS },
	{ "--verbose", "-v", 'v', NULL,
	  "more detail on stderr; twice (-vv), debugging\nmessages too", CLI_SCAN | CLI_RESCAN | CLI_DUPS },
	{ "--sync", NULL, CLI_OPT_SYNC, NULL,
	  "first wait until fsindexd has indexed every change\nmade before the call "
	  "(dups: with --indexed)", CLI_FIND | CLI_DUPS | CLI_DU },
	{ "--sync-timeout", NULL, CLI_OPT_SYNC_TIMEOUT, " SECONDS",
	  "--sync, waiting at most SECONDS (default 10),\nthen warning and answering anyway",
	  CLI_FIND | CLI_DUPS | CLI_DU },
	{ "--help", "-h", 'h', NULL, "show this help and exit",
	  CLI_SCAN | CLI_RESCAN | CLI_FIND | CLI_DUPS | CLI_STATUS | CLI_RELOAD },
};
const size_t cli_nshared_options = ARRAY_SIZE(cli_shared_options);

static bool is_shared(const struct cli_option *o)
{
	for (size_t i = 0; i < ARRAY_SIZE(cli_shared_options); i++)
		if (o == &cli_shared_options[i])
			return true;
	return false;
}

/* The options @cmd takes into @ret, its own first, in --help order; returns how many. */
static size_t options_of(const struct cli_command *cmd, const struct cli_option **ret)
{
	size_t n = 0;

	for (size_t i = 0; i < cmd->nown; i++)
		ret[n++] = &cmd->own[i];
	for (size_t i = 0; i < ARRAY_SIZE(cli_shared_options); i++)
		if (cli_shared_options[i].cmds & cmd->bit)
			ret[n++] = &cli_shared_options[i];
	assert(n <= CLI_MAX_OPTIONS);
	return n;
}

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd)
{
	char *s;

	assert(cmd->nown + ARRAY_SIZE(cli_shared_options) <= CLI_MAX_OPTIONS);
	*p = (struct cli_parser){ .cmd = cmd };
	p->nopts = options_of(cmd, p->opts);
	s = p->shortopts;
	for (size_t i = 0; i < p->nopts; i++) {
		const struct cli_option *o = p->opts[i];

		assert(o->name[0] == '-' && o->name[1] == '-' && (o->cmds & cmd->bit));
		assert(o->letter ? o->letter[1] == o->key && !o->letter[2] : o->key >= CLI_OPT_DB);
		p->longopts[i] = (struct option){
			.name = o->name + 2,
			.has_arg = o->arg ? required_argument : no_argument,
			.val = o->key,
		};
		if (o->letter) {
			*s++ = (char)o->key;
			if (o->arg)
				*s++ = ':';
		}
	}
	*s = '\0';
	/* 0, not 1: glibc then forgets the state of any earlier parse. */
	optind = 0;
}

int cli_getopt(struct cli_parser *p, int argc, char **argv)
{
	int idx = -1, c;

	c = getopt_long(argc, argv, p->shortopts, p->longopts, &idx);
	p->opt = NULL;
	p->spelt = NULL;
	if (c == -1 || c == '?')
		return c;
	if (idx >= 0) {
		p->opt = p->opts[idx];
		p->spelt = p->opt->name;
		return c;
	}
	for (size_t i = 0; i < p->nopts && !p->opt; i++)
		if (p->opts[i]->letter && p->opts[i]->key == c) {
			p->opt = p->opts[i];
			p->spelt = p->opt->letter;
		}
	return c;
}

int cli_common_option(struct cli_parser *p, int key, struct cli_common *c)
{
	uint64_t v;

	if (!p->opt || !is_shared(p->opt))
		return 0;
	switch (key) {
	case CLI_OPT_DB:
		c->db = optarg;
		return 1;
	case 'j':
		if (cli_parse_u64("--jobs", optarg, 1, 1024, &v) < 0)
			return -EINVAL;
		c->jobs = (unsigned)v;
		return 1;
	case CLI_OPT_IO:
		if (ring_parse_mode(optarg, &c->io) < 0) {
			log_error("invalid --io '%s' (expected auto, uring or sync)", optarg);
			return -EINVAL;
		}
		return 1;
	case CLI_OPT_SYNC_TIMEOUT:
		if (sync_parse_timeout(optarg, &c->sync_ms) < 0)
			return -EINVAL;
		c->sync = true;	/* a timeout asks for the sync */
		return 1;
	case CLI_OPT_SYNC:
		c->sync = true;
		return 1;
	case 'q':
		cli_excl_add(&c->verbosity, key, p->spelt);
		c->quiet = true;
		return 1;
	case 'v':
		cli_excl_add(&c->verbosity, key, p->spelt);
		c->verbose++;
		return 1;
	case 'h':
		cli_usage(stdout, p->cmd);
		return CLI_HELP_SHOWN;
	}
	assert(!"a shared option without a case");
	return 0;
}

int cli_common_finish(const struct cli_parser *p, struct cli_common *c)
{
	if (cli_excl_check(&c->verbosity, p->cmd->name) < 0)
		return -EINVAL;
	if (c->verbose >= 2)
		log_set_max_level(LOG_DEBUG);
	return 0;
}

/* "  -j, --jobs N" or "      --db DIR": the left column of @o's --help line. */
static int option_left(const struct cli_option *o, char *buf, size_t size)
{
	return snprintf(buf, size, "  %s%s%s%s", o->letter ? o->letter : "  ",
			o->letter ? ", " : "  ", o->name, o->arg ? o->arg : "");
}

static void print_option(FILE *out, const struct cli_option *o, int width)
{
	char left[128];
	const char *h = o->help;
	int n = option_left(o, left, sizeof(left));

	/* Too wide for the column: the text starts on the next line. */
	fprintf(out, "%s%*s", left, n < width ? width - n : 0, "");
	if (n >= width)
		fprintf(out, "\n%*s", width, "");
	for (const char *nl; (nl = strchr(h, '\n')); h = nl + 1)
		fprintf(out, "%.*s\n%*s", (int)(nl - h), h, width, "");
	fprintf(out, "%s\n", h);
}

void cli_usage(FILE *out, const struct cli_command *cmd)
{
	const struct cli_option *opts[CLI_MAX_OPTIONS];
	size_t n = options_of(cmd, opts);
	char left[128];
	int width = 0;

	/* One column for all, as wide as the widest left part unless that is too wide. */
	for (size_t i = 0; i < n; i++) {
		int w = option_left(opts[i], left, sizeof(left)) + 2;

		if (w > width && w <= 28)
			width = w;
	}
	fprintf(out, "Usage: fsindex %s %s\n%s\n", cmd->name, cmd->synopsis, cmd->about);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 && cmd->nown)
			fprintf(out, "Options:\n");
		if (i == cmd->nown)
			fprintf(out, "Common options:\n");
		print_option(out, opts[i], width);
	}
	if (cmd->notes)
		fprintf(out, "\n%s", cmd->notes);
}

char *cli_db_path(const char *option)
{
	const char *env, *home;
	char *path;

	if (option)
		return strdup(option);
	env = secure_getenv("FSINDEX_DB");
	if (env && *env)
		return strdup(env);
	env = secure_getenv("XDG_CACHE_HOME");
	/* The XDG spec says relative values are to be ignored. */
	if (env && env[0] == '/') {
		if (asprintf(&path, "%s/fsindex", env) < 0)
			return NULL;
		return path;
	}
	home = secure_getenv("HOME");
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home) {
		log_error("cannot find the index: set --db, FSINDEX_DB or HOME");
		return NULL;
	}
	if (asprintf(&path, "%s/.cache/fsindex", home) < 0)
		return NULL;
	return path;
}

void cli_debug_index(const char *path)
{
	char *q;

	if (!log_enabled(LOG_DEBUG))
		return;
	q = log_quote(path, strlen(path));
	log_debug("index '%s'", q ? q : "?");
	free(q);
}

bool cli_db_explicit(const char *option)
{
	const char *env = secure_getenv("FSINDEX_DB");

	return option || (env && *env);
}

int cli_try_open_store(const char *path, unsigned flags, struct store **ret_store)
{
	int r = 0;

	if (flags & STORE_RDONLY)
		r = privs_take_store(path, ret_store);
	if (r == 0)
		return store_open(path, flags, ret_store);
	return r < 0 ? r : 0;
}

void cli_store_error(const char *path, unsigned flags, int r)
{
	char *q = log_quote(path, strlen(path));

	if (r == -ENOENT && (flags & STORE_RDONLY))
		log_error("no index at '%s' (run 'fsindex scan DIR' first)", q ? q : path);
	else if (r == -ELOOP) /* store_open(): a data or lock file that is a symlink */
		log_error("cannot open index '%s': its data or lock file is a symbolic link "
			  "(refusing to follow it)", q ? q : path);
	else if (r == -ENOMEM)
		log_error("cannot open index '%s': %s (the index is mapped into memory: if "
			  "ulimit -v limits the address space, raise it)", q ? q : path,
			  fsi_strerror(r));
	else if (r == -EACCES && !(flags & STORE_RDONLY) && privs_was_setgid())
		log_error("cannot open index '%s' for writing: %s (fsindex reads the system "
			  "index with its group, and writes nothing with it)", q ? q : path,
			  fsi_strerror(r));
	else
		log_error("cannot open index '%s': %s", q ? q : path, fsi_strerror(r));
	free(q);
}

int cli_open_store(const char *path, unsigned flags, struct store **ret_store)
{
	int r = cli_try_open_store(path, flags, ret_store);

	if (r < 0)
		cli_store_error(path, flags, r);
	return r;
}

int cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*ret = v;
	return 0;
bad:
	log_error("invalid value '%s' for %s (expected a number from %llu to %llu)", s, opt,
		  (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

int cli_resolve_roots(const char *verb, char *const *args, size_t n, char **ret_paths)
{
	for (size_t i = 0; i < n; i++) {
		char *q = log_quote(args[i], strlen(args[i]));
		struct stat st;
		int err = 0;

		ret_paths[i] = realpath(args[i], NULL);
		if (!ret_paths[i] || stat(ret_paths[i], &st) < 0)
			err = errno;
		else if (!S_ISDIR(st.st_mode))
			err = ENOTDIR;
		if (err)
			log_error("cannot %s '%s': %s", verb, q ? q : "?", strerror(err));
		free(q);
		if (err)
			return EXIT_FATAL;
	}
	return 0;
}

int cli_probe_io(int mode)
{
	struct ring *ring;
	int r;

	if (mode == RING_SYNC)
		return 0;
	r = ring_new(RING_URING, 1, &ring);
	if (r == 0) {
		ring_free(ring);
		return 0;
	}
	if (mode == RING_URING) {
		log_error("io_uring unavailable: %s", fsi_strerror(r));
		return r;
	}
	log_notice("io_uring unavailable (%s), reading with pread", fsi_strerror(r));
	return 0;
}

void cli_fd_shortage(const char *cmd, unsigned limit, unsigned used, unsigned needed)
{
	log_error("%s: too few file descriptors: the limit (ulimit -n) is %u and %u are in use; "
		  "%u more are needed (raise the limit to %u or more)",
		  cmd, limit, used, needed, used + needed);
}

void cli_report_entry(void *ctx, const char *path, size_t len, const char *what, int err)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char *q = log_quote(path, len);

	pthread_mutex_lock(&lock);
	/*
	 * -ESTALE from a read: the file is not what the walker saw any more.
	 * Otherwise a system call's own errno: strerror(3), not fsi_strerror(),
	 * whose STORE_E_CORRUPT (-EBADMSG) is also what XFS returns for a
	 * metadata checksum error.
	 */
	log_warning("%s '%s': %s", what, q ? q : "?",
		    err == -ESTALE ? "file changed while read" : strerror(-err));
	pthread_mutex_unlock(&lock);
	free(q);
}

void cli_excl_add(struct cli_excl *x, int id, const char *name)
{
	if (!x->first) {
		x->first_id = id;
		x->first = name;
	} else if (!x->second && id != x->first_id) {
		x->second = name;
	}
}

int cli_excl_check(const struct cli_excl *x, const char *cmd)
{
	if (!x->second)
		return 0;
	log_error("%s: %s and %s cannot be used together", cmd, x->first, x->second);
	return -EINVAL;
}

int cli_usage_error(const char *cmd)
{
	if (cmd)
		fprintf(stderr, "Try 'fsindex %s --help'.\n", cmd);
	else
		fprintf(stderr, "Try 'fsindex --help'.\n");
	return EXIT_FATAL;
}
