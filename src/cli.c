/* SPDX-License-Identifier: MIT */
/*
 * cli.c - small pieces every subcommand needs.
 */
#include "cli.h"

#include "log.h"
#include "store.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *cli_db_path(const char *option)
{
	const char *env, *home;
	char *path;

	if (option)
		return strdup(option);
	env = getenv("FSINDEX_DB");
	if (env && *env)
		return strdup(env);
	env = getenv("XDG_CACHE_HOME");
	/* The XDG spec says relative values are to be ignored. */
	if (env && env[0] == '/') {
		if (asprintf(&path, "%s/fsindex", env) < 0)
			return NULL;
		return path;
	}
	home = getenv("HOME");
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

int cli_open_store(const char *path, unsigned flags, struct store **ret_store)
{
	char *q;
	int r;

	r = store_open(path, flags, ret_store);
	if (r == 0)
		return 0;
	q = log_quote(path, strlen(path));
	if (r == -ENOENT && (flags & STORE_RDONLY))
		log_error("no index at '%s' (run 'fsindex scan DIR' first)", q ? q : path);
	else
		log_error("cannot open index '%s': %s", q ? q : path, store_strerror(r));
	free(q);
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

int cli_usage_error(const char *cmd)
{
	if (cmd)
		fprintf(stderr, "Try 'fsindex %s --help'.\n", cmd);
	else
		fprintf(stderr, "Try 'fsindex --help'.\n");
	return EXIT_FATAL;
}
