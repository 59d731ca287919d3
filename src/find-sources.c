/* SPDX-License-Identifier: MIT */
/*
 * find-sources.c - which indexes a query reads (find-sources.h).
 */
#include "find-sources.h"

#include "cli.h"
#include "errors.h"
#include "log.h"
#include "privs.h"
#include "store.h"
#include "sync.h"
#include "visible.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>

/* Open @path into the next source; 0, or the error (no message). */
static int add(struct find_sources *fs, char *path)
{
	struct find_source *src = &fs->src[fs->n];
	int r;

	r = cli_try_open_store(path, STORE_RDONLY, &src->store);
	if (r == 0 && visible_needed(path))
		r = visible_new(&src->visible);
	if (r < 0) {
		store_close(src->store);
		src->store = NULL;
		free(path);
		return r;
	}
	src->path = path;
	fs->n++;
	cli_debug_index(path);
	return 0;
}

struct overlap_ctx {
	struct find_sources *fs;
	struct store_reader *rd;
};

static int keep_root_path(void *ctx, const struct store_root *root)
{
	struct overlap_ctx *c = ctx;
	char **v, *path;
	int r;

	r = store_node_path_alloc(c->rd, root->id, &path);
	if (r < 0)
		return r;
	v = realloc(c->fs->overlap, (c->fs->noverlap + 1) * sizeof(*v));
	if (!v) {
		free(path);
		return -ENOMEM;
	}
	v[c->fs->noverlap++] = path;
	c->fs->overlap = v;
	return 0;
}

/* The roots of src[1], under which src[0]'s reports are remembered. */
static int load_overlap(struct find_sources *fs)
{
	struct overlap_ctx c = { fs, NULL };
	int r;

	r = store_reader_new(fs->src[1].store, &c.rd);
	if (r < 0)
		return r;
	r = store_foreach_root(c.rd, keep_root_path, &c);
	store_reader_free(c.rd);
	return r;
}

static bool same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Is @r what a system index that is not ours to read gives (no setgid fsindex)? */
static bool not_for_us(int r)
{
	return r == -ENOENT || r == -EACCES || r == -EPERM || r == STORE_E_READERLOCK ||
	       r == STORE_E_UNSAFE;
}

int find_sources_open(const char *option, struct find_sources *fs)
{
	char *user, *copy;
	int ru, rs;

	memset(fs, 0, sizeof(*fs));
	user = cli_db_path(option);
	if (!user)
		return -ENOMEM;
	if (cli_db_explicit(option) || same_dir(user, PRIVS_SYSTEM_DB)) {
		copy = strdup(user);
		ru = copy ? add(fs, copy) : -ENOMEM;
		if (ru < 0)
			cli_store_error(user, STORE_RDONLY, ru);
		free(user);
		return ru;
	}
	copy = strdup(user);
	ru = copy ? add(fs, copy) : -ENOMEM;
	if (ru < 0 && ru != -ENOENT) {
		cli_store_error(user, STORE_RDONLY, ru);
		free(user);
		return ru;
	}
	copy = strdup(PRIVS_SYSTEM_DB);
	rs = copy ? add(fs, copy) : -ENOMEM;
	if (fs->n == 0) {
		/* With no system index, the per-user one is what was missed. */
		if (rs == -ENOENT)
			cli_store_error(user, STORE_RDONLY, ru);
		else
			cli_store_error(PRIVS_SYSTEM_DB, STORE_RDONLY, rs);
		free(user);
		return rs;
	}
	if (rs < 0 && !not_for_us(rs))
		cli_store_error(PRIVS_SYSTEM_DB, STORE_RDONLY, rs); /* and go on with the user's */
	else if (rs < 0)
		log_debug("system index '%s' skipped: %s", PRIVS_SYSTEM_DB, fsi_strerror(rs));
	free(user);
	return fs->n == 2 ? load_overlap(fs) : 0;
}

void find_sources_sync(const struct find_sources *fs, const char *cmd, int timeout_ms)
{
	struct sync_peer peer;
	size_t served = 0;

	for (size_t i = 0; i < fs->n; i++) {
		if (fs->n > 1) {
			int r = sync_find(fs->src[i].path, timeout_ms, &peer);

			sync_peer_clear(&peer);
			if (r != 1)
				continue;
		}
		sync_wait(cmd, fs->src[i].path, timeout_ms);
		served++;
	}
	if (!served && fs->n)
		sync_wait(cmd, fs->src[0].path, timeout_ms);
}

void find_sources_close(struct find_sources *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		store_close(fs->src[i].store);
		visible_free(fs->src[i].visible);
		free(fs->src[i].path);
	}
	for (size_t i = 0; i < fs->noverlap; i++)
		free(fs->overlap[i]);
	free(fs->overlap);
	memset(fs, 0, sizeof(*fs));
}

bool find_sources_overlap(const struct find_sources *fs, const char *path, size_t len)
{
	for (size_t i = 0; i < fs->noverlap; i++) {
		size_t rl = strlen(fs->overlap[i]);

		if (rl == 1 || (len >= rl && memcmp(path, fs->overlap[i], rl) == 0 &&
				(len == rl || path[rl] == '/')))
			return true;
	}
	return false;
}

/* Does the index of @src hold every one of @paths? */
static bool holds_all(const struct find_source *src, char *const *paths, size_t n)
{
	struct store_reader *rd;
	uint64_t id;
	bool all = true;

	if (store_reader_new(src->store, &rd) < 0)
		return false;
	for (size_t i = 0; i < n && all; i++)
		all = store_resolve_path(rd, paths[i], &id) == 0;
	store_reader_free(rd);
	return all;
}

const struct find_source *find_sources_pick(const struct find_sources *fs, char *const *paths,
					    size_t n)
{
	if (fs->n == 2 && !holds_all(&fs->src[0], paths, n) && holds_all(&fs->src[1], paths, n))
		return &fs->src[1];
	return &fs->src[0];
}
