/* SPDX-License-Identifier: MIT */
/*
 * rescan.c - walk directories the index knows, by id, with their roots'
 * options, recording no root (rescan.h).
 *
 *   ids ──► targets: path (rebuilt from the parents), governing root,
 *           identity checked on disk (else the nearest ancestor that is
 *           still itself, one level)
 *       ──► one walk, each target a walk root (walk.c) ──► one writer job
 *
 * A target is walked as a root of the walk (it is always listed, and its
 * stored entries are the previous state), but keeps its place in the tree:
 * its own record gets the directory's fresh metadata (and loses
 * NODE_F_SETTLED, so the next full scan lists it once more and settles it
 * again), never another name or parent.
 */
#include "rescan.h"

#include "engine.h"
#include "fsdev.h"
#include "ident.h"
#include "node.h"
#include "pathmap.h"
#include "store.h"
#include "util.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parents followed at most before a chain counts as broken (paths hold fewer). */
#define MAX_DEPTH (1 << 16)

struct roots {
	struct store_root *v;
	size_t n, cap;
	struct fsdev_table fsdevs;	/* the index's filesystem table (fsdev.h) */
};

struct target {
	uint64_t id;
	char *path;
	const struct store_root *root;
	uint64_t root_dev;
	bool one_level;
	bool skip;			/* covered by another target: not walked */
	bool have_record;		/* record holds its fresh metadata */
	struct node record;		/* record.name points to name[] */
	char name[NODE_NAME_MAX];
};

static void roots_clear(struct roots *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		store_root_clear(&rs->v[i]);
	free(rs->v);
	fsdev_table_clear(&rs->fsdevs);
}

/* Keep a copy of @root: the reader's copy is borrowed for the call only. */
static int keep_root(void *ctx, const struct store_root *root)
{
	struct roots *rs = ctx;

	if (GROW(rs->v, rs->cap, rs->n + 1))
		return -ENOMEM;
	/* Counted at once: roots_clear() frees what a failed copy holds. */
	return store_root_copy(&rs->v[rs->n++], root);
}

static const struct store_root *root_with_id(const struct roots *rs, uint64_t id)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->v[i].id == id)
			return &rs->v[i];
	return NULL;
}

/* The root @id lies below (or is), and the device of its directory. */
static int find_root(struct store_reader *rd, const struct roots *rs, uint64_t id,
		     const struct store_root **ret_root, uint64_t *ret_dev)
{
	struct node n;
	int r;

	for (unsigned depth = 0; depth < MAX_DEPTH; depth++) {
		const struct store_root *root = root_with_id(rs, id);

		r = store_get_node(rd, id, &n);
		if (r < 0)
			return r == -ENOENT && depth ? STORE_E_CORRUPT : r;
		if (root) {
			*ret_root = root;
			*ret_dev = n.dev;
			return 0;
		}
		if (id == NODE_ID_TOP)
			return -ENOENT; /* "/" and no root above */
		id = n.parent;
	}
	return STORE_E_CORRUPT;
}

/*
 * Is the directory at @path (any length) still @n, the same inode of the
 * same device?  If so, and @t is given, @t's record is @n with the
 * directory's fresh metadata.
 */
static bool still_there(const char *path, size_t len, const struct node *n,
			const struct fsdev_table *fsdevs, struct target *t)
{
	int fd = ident_open_dir(path, len, NULL);
	struct fsdev_id fs;
	struct stat st;
	bool same, has_fs;

	if (fd < 0)
		return false;
	has_fs = fsdev_ident_fd(fd, &fs) == 0;
	/* Its filesystem may be at another st_dev now: the table says. */
	same = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && (uint64_t)st.st_ino == n->ino &&
	       fsdev_same(fsdevs, n->dev, st.st_dev, has_fs ? &fs : NULL);
	close(fd);
	if (same && t) {
		ident_node_from_stat(&t->record, &st);
		t->record.id = n->id;
		t->record.parent = n->parent;
		t->record.flags = n->flags & ~NODE_F_SETTLED;
		t->record.name_len = n->name_len;
		memcpy(t->name, n->name, n->name_len);
		t->record.name = t->name;
		t->have_record = true;
	}
	return same;
}

/*
 * The root's filesystem as it is mounted now: its st_dev may have changed
 * since its record was written (fsdev.h), and -x compares with this one.
 * The stored number stays when the root cannot be looked at.
 */
static int root_dev_now(struct store_reader *rd, struct target *t)
{
	struct stat st;
	char *path;
	int len = store_node_path_alloc(rd, t->root->id, &path);

	if (len < 0)
		return len;
	if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		t->root_dev = st.st_dev;
	free(path);
	return 0;
}

/*
 * Fill @t for directory @id: its root, and the nearest of it and its
 * ancestors that is still itself on disk (a root is taken as it is: its
 * walk reports what became of it).  @gone (may be NULL) holds the ids found
 * gone so far, by their 8 bytes, and gets those found now: the paths of one
 * deleted tree each climb through the same ancestors.
 */
static int resolve(struct store_reader *rd, const struct roots *rs, uint64_t id, bool one_level,
		   struct pathmap *gone, struct target *t)
{
	struct node n;
	int r, len;

	r = store_get_node(rd, id, &n);
	if (r < 0)
		return r;
	if (!S_ISDIR(n.mode) || (n.flags & NODE_F_CHAIN))
		return S_ISDIR(n.mode) ? -ENOENT : -ENOTDIR;
	r = find_root(rd, rs, id, &t->root, &t->root_dev);
	if (r < 0)
		return r;
	r = root_dev_now(rd, t);
	if (r < 0)
		return r;
	for (;;) {
		if (gone && id != t->root->id && pathmap_get(gone, (const char *)&id, sizeof(id)))
			goto climb;
		len = store_node_path_alloc(rd, id, &t->path);
		if (len < 0)
			return len;
		if (still_there(t->path, (size_t)len, &n, &rs->fsdevs, t) || id == t->root->id)
			break;
		/* Gone, replaced or renamed away: its parent's listing takes that in. */
		free(t->path);
		t->path = NULL;
		if (gone && !pathmap_put(gone, (const char *)&id, sizeof(id), 0, NULL))
			return -ENOMEM;
climb:
		id = n.parent;
		one_level = true;
		r = store_get_node(rd, id, &n);
		if (r < 0)
			return r == -ENOENT ? STORE_E_CORRUPT : r;
	}
	t->id = id;
	t->one_level = one_level;
	return 0;
}

/* Paths in an order where a directory's subtree follows it at once: '/' sorts first. */
static int path_cmp(const char *a, const char *b)
{
	for (; *a && *a == *b; a++, b++)
		;
	if (*a == *b)
		return 0;
	if (!*a || !*b)
		return *a ? 1 : -1;
	if (*a == '/' || *b == '/')
		return *a == '/' ? -1 : 1;
	return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
}

/* The same directory twice: the subtree one first. */
static int target_cmp(const void *pa, const void *pb)
{
	const struct target *a = pa, *b = pb;
	int c = path_cmp(a->path, b->path);

	return c ? c : (int)a->one_level - (int)b->one_level;
}

/*
 * Mark the targets covered by others: the same directory again, or below a
 * subtree target.  Sorted, a subtree's targets follow it, so one pass does.
 */
static void mark_covered(struct target *v, size_t n)
{
	const struct target *cover = NULL, *prev = NULL;

	if (n)
		qsort(v, n, sizeof(*v), target_cmp);
	for (size_t i = 0; i < n; i++) {
		v[i].skip = (cover && scan_path_within(v[i].path, cover->path)) ||
			    (prev && strcmp(prev->path, v[i].path) == 0);
		if (v[i].skip)
			continue;
		prev = &v[i];
		if (!v[i].one_level)
			cover = &v[i];
	}
}

static unsigned walk_flags_of(const struct target *t)
{
	return ((t->root->flags & STORE_ROOT_XDEV) ? WALK_XDEV : 0) |
	       ((t->root->flags & STORE_ROOT_HASH) ? WALK_HASH : 0) |
	       (t->one_level ? WALK_ONE_LEVEL : 0);
}

/* Walk the targets not covered by others, in one job; wait for its commit. */
static int walk_targets(struct engine *e, struct target *v, size_t n,
			const struct scan_opts *opts, struct scan_result *res)
{
	struct store_batch *batch = NULL;
	struct walk_filter filter;
	struct store_job *job;
	struct walk *walk;
	int r = scan_walk_begin(e, opts, &job, &walk);

	if (r == 0)
		r = store_batch_new(engine_writer(e), job, &batch);
	mark_covered(v, n);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (v[i].skip)
			continue;
		v[i].record.name = v[i].name;	/* targets are moved about, name[] with them */
		if (v[i].have_record)
			r = store_batch_put(batch, &v[i].record, false);
		if (r == 0)
			r = walk_add_root(walk, v[i].path, v[i].id, false, v[i].root_dev,
					  walk_flags_of(&v[i]),
					  scan_filter(opts, v[i].path, v[i].root->excludes,
						      v[i].root->nexcludes, &filter));
		res->roots_walked++;
	}
	/* The records reach the writer before the walk's. */
	if (r == 0)
		r = store_batch_flush(batch);
	store_batch_free(batch);
	return scan_walk_end(walk, job, r, opts, res);
}

/* Resolve @ids into @v, with the roots kept in @rs; on failure *ret_bad is the id's index. */
static int resolve_all(struct engine *e, const uint64_t *ids, size_t n, bool one_level,
		       struct roots *rs, struct target *v, size_t *ret_bad)
{
	struct store_reader *rd = NULL;
	int r = store_reader_new(engine_store(e), &rd);

	if (r == 0)
		r = store_foreach_root(rd, keep_root, rs);
	if (r == 0)
		r = store_load_fsdev(rd, &rs->fsdevs);
	for (size_t i = 0; i < n && r == 0; i++) {
		r = resolve(rd, rs, ids[i], one_level, NULL, &v[i]);
		if (r < 0 && ret_bad)
			*ret_bad = i;
	}
	store_reader_free(rd);
	return r;
}

static int rescan_ids_at(struct engine *e, const uint64_t *ids, size_t n, unsigned flags,
			 const struct scan_opts *opts, struct scan_result *ret_result,
			 size_t *ret_bad)
{
	struct scan_result res = { 0 };
	struct roots rs = { 0 };
	struct target *v = calloc(n ? n : 1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	r = resolve_all(e, ids, n, flags & RESCAN_ONE_LEVEL, &rs, v, ret_bad);
	if (r == 0) {
		r = walk_targets(e, v, n, opts, &res);
		scan_engine_stats(&res, e);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
	roots_clear(&rs);
	if (ret_result)
		*ret_result = res;
	return r;
}

int rescan_ids(struct engine *e, const uint64_t *ids, size_t n, unsigned flags,
	       const struct scan_opts *opts, struct scan_result *ret_result)
{
	return rescan_ids_at(e, ids, n, flags, opts, ret_result, NULL);
}

int rescan_paths(struct engine *e, char *const *paths, size_t n, unsigned flags,
		 const struct scan_opts *opts, struct scan_result *ret_result, size_t *ret_bad)
{
	struct store_reader *rd = NULL;
	uint64_t *ids = calloc(n ? n : 1, sizeof(*ids));
	int r;

	if (!ids)
		return -ENOMEM;
	r = store_reader_new(engine_store(e), &rd);
	for (size_t i = 0; i < n && r == 0; i++) {
		r = store_resolve_path(rd, paths[i], &ids[i]);
		if (r < 0 && ret_bad)
			*ret_bad = i;
	}
	store_reader_free(rd);
	if (r == 0)
		r = rescan_ids_at(e, ids, n, flags, opts, ret_result, ret_bad);
	else if (ret_result)
		*ret_result = (struct scan_result){ 0 };
	free(ids);
	return r;
}

/* ---- a batch of the daemon's ------------------------------------------------ */

struct batch {
	struct store_reader *rd;
	struct roots rs;
	struct pathmap known;	/* path -> its id, 0 when the index has no directory there */
	struct pathmap gone;	/* ids of directories no longer on disk */
	struct pathmap seen;	/* id asked for or resolved to -> index in v */
	struct target *v;
	size_t n, cap;
};

/* Is @id a directory of the index?  (A path may name a file now, or not be there.) */
static int dir_id(struct batch *b, const char *path, uint64_t *ret_id)
{
	struct node n;
	uint64_t id;
	int r = store_resolve_path(b->rd, path, &id);

	if (r == -ENOENT || r == -ENAMETOOLONG || r == -EINVAL)
		return 0;
	if (r == 0)
		r = store_get_node(b->rd, id, &n);
	if (r < 0)
		return r;
	*ret_id = S_ISDIR(n.mode) ? id : 0;
	return 0;
}

/*
 * The id of the nearest directory of the index at or above @path (0 when
 * not even "/" is one), each path looked up once per batch.  *@one_level
 * is set when it had to climb: the ancestor's listing takes the change in.
 */
static int climb_path(struct batch *b, const char *path, uint64_t *ret_id, bool *one_level)
{
	size_t len = strlen(path);
	char *buf = strdup(path);
	uint64_t *known, id;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		buf[len] = '\0';
		known = pathmap_get(&b->known, buf, len);
		id = known ? *known : 0;
		if (!known && (r = dir_id(b, buf, &id)) == 0 &&
		    !pathmap_put(&b->known, buf, len, id, NULL))
			r = -ENOMEM;
		if (r < 0 || id || len <= 1)
			break;
		*one_level = true;
		while (len > 1 && buf[len - 1] != '/')
			len--;
		if (len > 1)
			len--;
	}
	free(buf);
	*ret_id = id;
	return r;
}

/* Remember that asking for @id means target @idx. */
static int seen_put(struct batch *b, uint64_t id, size_t idx)
{
	return pathmap_put(&b->seen, (const char *)&id, sizeof(id), idx, NULL) ? 0 : -ENOMEM;
}

/* Add @path to the batch's targets, or merge it into the one it resolves to. */
static int batch_add(struct batch *b, const char *path, bool one_level)
{
	struct target t = { 0 };
	uint64_t id, *seen;
	int r = climb_path(b, path, &id, &one_level);

	if (r < 0 || !id)
		return r;
	seen = pathmap_get(&b->seen, (const char *)&id, sizeof(id));
	if (seen) {
		b->v[*seen].one_level &= one_level;
		return 0;
	}
	r = resolve(b->rd, &b->rs, id, one_level, &b->gone, &t);
	if (r == -ENOENT || r == -ENOTDIR) {
		free(t.path);	/* below no root (or an ancestor of one): not ours */
		return 0;
	}
	seen = r == 0 ? pathmap_get(&b->seen, (const char *)&t.id, sizeof(t.id)) : NULL;
	if (seen) {
		b->v[*seen].one_level &= t.one_level;
		free(t.path);
		return seen_put(b, id, *seen);
	}
	if (r == 0 && (r = GROW(b->v, b->cap, b->n + 1)) == 0) {
		b->v[b->n] = t;
		t.path = NULL;
		r = seen_put(b, t.id, b->n);
		if (r == 0 && id != t.id)
			r = seen_put(b, id, b->n);
		b->n++;
	}
	free(t.path);
	return r;
}

int rescan_batch(struct engine *e, char *const *paths, const unsigned *flags, size_t n,
		 const struct scan_opts *opts, struct scan_result *ret_result)
{
	struct scan_result res = { 0 };
	struct batch b = { 0 };
	int r = store_reader_new(engine_store(e), &b.rd);

	if (r == 0)
		r = store_foreach_root(b.rd, keep_root, &b.rs);
	if (r == 0)
		r = store_load_fsdev(b.rd, &b.rs.fsdevs);
	for (size_t i = 0; i < n && r == 0; i++)
		r = batch_add(&b, paths[i], flags[i] & RESCAN_ONE_LEVEL);
	store_reader_free(b.rd);
	/* The memos go before the walk: its memory is the batch's peak. */
	pathmap_destroy(&b.known);
	pathmap_destroy(&b.gone);
	pathmap_destroy(&b.seen);
	if (r == 0 && b.n) {
		r = walk_targets(e, b.v, b.n, opts, &res);
		scan_engine_stats(&res, e);
	}
	for (size_t i = 0; i < b.n; i++)
		free(b.v[i].path);
	free(b.v);
	roots_clear(&b.rs);
	if (ret_result)
		*ret_result = res;
	return r;
}
