/* SPDX-License-Identifier: MIT */
/*
 * dups-index.c - the candidates of `dups --indexed`, read from the index
 * (no walk of the disk, no scan lock) and checked against the disk by one
 * fstatat (no symlink followed) of each file that shares its size: a record the disk no longer
 * matches is never trusted.
 */
#include "dups-index.h"

#include "dups.h"
#include "ident.h"
#include "log.h"
#include "node.h"
#include "store.h"
#include "util.h"
#include "visible.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* One child of a directory, copied out: the reader's names do not outlive a move. */
struct kid {
	uint64_t id;
	char type;
};

struct ctx {
	struct store_reader *rd;
	struct dups_collector *col;
	const char *root;
	struct dups_index_stats *st;
	struct visible *visible;	/* NULL: show everything */
	char *path;		/* the directory being listed, grown as needed */
	size_t cap;
	int dfd;		/* that directory, opened at its first fstatat; or -1 */
	struct kid *kids;	/* a stack: each level's children after its parent's */
	size_t nkids, capkids;
	bool counting;		/* the first pass: only gather sizes[] */
	uint64_t *sizes;	/* every file's size, sorted after the first pass */
	size_t nsizes, capsizes;
};

static int cmp_u64(const void *va, const void *vb)
{
	uint64_t a = *(const uint64_t *)va, b = *(const uint64_t *)vb;

	return a < b ? -1 : a > b;
}

/* Does another file of the index share @size?  Only those can be in a group. */
static bool size_shared(const struct ctx *x, uint64_t size)
{
	size_t lo = 0, hi = x->nsizes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->sizes[mid] < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1 < x->nsizes && x->sizes[lo] == size && x->sizes[lo + 1] == size;
}

static int add_kid(void *vctx, const struct store_child *c)
{
	struct ctx *x = vctx;

	if (c->type != 'f' && c->type != 'd')
		return 0;
	if (GROW(x->kids, x->capkids, x->nkids + 1))
		return -ENOMEM;
	x->kids[x->nkids++] = (struct kid){ .id = c->id, .type = c->type };
	return 0;
}

/* Check file @n (in directory x->path, @dlen bytes) against the disk, then collect it. */
static int take_file(struct ctx *x, size_t dlen, struct node *n)
{
	struct ident id;
	struct stat st;
	size_t len = dlen + 1 + n->name_len;

	if (x->counting) {
		if (GROW(x->sizes, x->capsizes, x->nsizes + 1))
			return -ENOMEM;
		x->sizes[x->nsizes++] = n->size;
		return 0;
	}
	x->st->files++;
	/* Alone in its size it is never read nor reported: no need to look. */
	if (!size_shared(x, n->size)) {
		dups_collect(x->col, 0, x->root, x->path, dlen, n);
		return 0;
	}
	if (GROW(x->path, x->cap, len + 1))
		return -ENOMEM;
	x->path[dlen] = '/';
	memcpy(x->path + dlen + 1, n->name, n->name_len);
	x->path[len] = '\0';
	ident_from_node(&id, n);
	errno = 0;
	if (x->dfd < 0)
		x->dfd = dlen ? ident_open_dir(x->path, dlen, NULL) : ident_open_dir("/", 1, NULL);
	if (x->visible && x->dfd >= 0 && faccessat(x->dfd, x->path + dlen + 1, R_OK, 0) < 0) {
		/* Not the user's to read: its stored hash is not theirs to compare. */
		x->path[dlen] = '\0';
		return 0;
	}
	if (x->dfd < 0 ? (errno = -x->dfd, true)
		       : fstatat(x->dfd, x->path + dlen + 1, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			 !ident_same_content(&id, &st)) {
		bool gone = errno == ENOENT;
		char *q = log_quote(x->path, len);

		log_notice("left out '%s': %s since it was indexed", q ? q : "?",
			   gone ? "gone" : "changed");
		free(q);
		x->st->changed++;
		x->path[dlen] = '\0';
		return 0;
	}
	/* The content may have changed within the timestamps' resolution. */
	if (n->hash_state != NODE_HASH_NONE &&
	    (!ident_same(&id, &st) || (n->flags & NODE_F_RACY))) {
		n->hash_state = NODE_HASH_NONE;
		x->st->rehash++;
	}
	x->path[dlen] = '\0';
	dups_collect(x->col, 0, x->root, x->path, dlen, n);
	return 0;
}

/* Everything below directory @dir, whose path is x->path (@dlen bytes). */
static int walk_dir(struct ctx *x, uint64_t dir, size_t dlen)
{
	size_t base = x->nkids, end;
	int dfd = x->dfd;	/* the parent's, back when this one is done */
	struct node n;
	int r;

	x->dfd = -1;
	if (x->visible && !visible_dir(x->visible, dlen ? x->path : "/", dlen ? dlen : 1)) {
		x->dfd = dfd;
		return 0; /* its names are not the user's to learn */
	}
	r = store_foreach_child(x->rd, dir, add_kid, x);
	end = x->nkids;
	for (size_t i = base; i < end && r >= 0; i++) {
		struct kid k = x->kids[i];

		r = store_get_node(x->rd, k.id, &n);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		if (k.type == 'f') {
			r = take_file(x, dlen, &n);
			continue;
		}
		size_t len = dlen + 1 + n.name_len;

		if (GROW(x->path, x->cap, len + 1)) {
			r = -ENOMEM;
			break;
		}
		x->path[dlen] = '/';
		memcpy(x->path + dlen + 1, n.name, n.name_len);
		x->path[len] = '\0';
		r = walk_dir(x, k.id, len);
		x->path[dlen] = '\0';
	}
	x->nkids = base;
	if (x->dfd >= 0)
		close(x->dfd);
	x->dfd = dfd;
	return r;
}

/* Where the last component of absolute @path starts. */
static size_t last_component(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) + 1 : 0;
}

/* PATH @path: a directory of the index, walked. */
static int one_path(struct ctx *x, const char *path, bool *missing)
{
	uint64_t id;
	struct node n;
	size_t len = strlen(path);
	int r = store_resolve_path(x->rd, path, &id);

	if (r == 0)
		r = store_get_node(x->rd, id, &n);
	if (r == 0 && x->visible && !visible_entry(x->visible, path, len, last_component(path)))
		r = -ENOENT; /* nothing to tell of what the user cannot reach */
	if (r == -ENOENT) {
		log_error("'%s' is not in the index (below no indexed root; scan it first)", path);
		*missing = true;
		return 0;
	}
	if (r < 0)
		return r;
	if (GROW(x->path, x->cap, len + 1))
		return -ENOMEM;
	memcpy(x->path, path, len + 1);
	x->root = path;
	if (S_ISDIR(n.mode))
		return walk_dir(x, id, strcmp(path, "/") == 0 ? 0 : len);
	log_error("'%s' is not a directory (dups --indexed takes directories)", path);
	*missing = true;
	return 0;
}

int dups_collect_indexed(struct store *store, struct visible *visible, char *const *paths,
			 size_t npaths, struct dups_collector *col, struct dups_index_stats *st)
{
	struct ctx x = { .col = col, .st = st, .visible = visible, .dfd = -1, .counting = true };
	bool missing = false;
	int r = store_reader_new(store, &x.rd);

	/* Twice over the index: the sizes first, so only candidates are looked at. */
	for (size_t i = 0; i < npaths && r >= 0; i++)
		r = one_path(&x, paths[i], &missing);
	if (r >= 0 && !missing) {
		qsort(x.sizes, x.nsizes, sizeof(*x.sizes), cmp_u64);
		x.counting = false;
		for (size_t i = 0; i < npaths && r >= 0; i++)
			r = one_path(&x, paths[i], &missing);
	}
	store_reader_free(x.rd);
	free(x.path);
	free(x.kids);
	free(x.sizes);
	if (r >= 0 && missing)
		r = -ENOENT;
	return r;
}
