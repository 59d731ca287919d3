/* SPDX-License-Identifier: MIT */
/*
 * cli.c - small pieces every subcommand needs.
 */
#include "cli.h"

#include "log.h"
#include "ring.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/stat.h>
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
		log_error("io_uring unavailable: %s", strerror(-r));
		return r;
	}
	log_notice("io_uring unavailable (%s), reading with pread", strerror(-r));
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
	/* -ESTALE from a read: the file is not what the walker saw any more. */
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
