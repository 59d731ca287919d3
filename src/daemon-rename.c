/* SPDX-License-Identifier: MIT */
/*
 * daemon-rename.c - renames the event source named exactly (watch.h), each
 * applied to the index as one record moved: its child key dropped and put
 * under the new (parent, name), its node's parent, name and stat written,
 * its subtree, id and hashes kept (store_batch_move(), what the walk does
 * for a move it pairs).  No directory is listed.
 *
 *   old path ──► index: (parent id, name) ──► node X ─┐
 *   new path ──► disk: lstat (dev by the fsdev table, ino, type) ─┴─► same? move X
 *                                                             else: rescan both
 *
 * A rename is applied only if everything agrees: the old directory and the
 * new one are in the index and still themselves on disk, the old name holds
 * X, the new path on disk is X's inode (same filesystem, ino and type; a
 * file of the same size and mtime, with no other link), the new name holds
 * nothing in the index, both lie under the same root, X holds no root and is
 * not excluded by its root's patterns there.  Anything else (replaced,
 * renamed again since, never indexed, overwritten a name) leaves both
 * directories to the job's one-level rescan, as before renames were known:
 * correctness first.  A swap (RENAME_EXCHANGE: "a to a through b" once the
 * event source merged its two renames) is two records moved, when a holds
 * what the index has at b and b what it has at a.  Renames come in the
 * order they happened; one that
 * could depend on an earlier one not yet committed (a directory moved, or
 * the same names) waits for that commit first.
 */
#include "daemon-priv.h"

#include "engine.h"
#include "fsdev.h"
#include "ident.h"
#include "log.h"
#include "node.h"
#include "rescan.h"
#include "store.h"
#include "util.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parents followed at most, looking for a root. */
#define MAX_DEPTH (1 << 16)

/* One (parent, name) a rename not yet committed touched. */
struct ren_key {
	uint64_t parent;
	uint16_t len;
	char name[NODE_NAME_MAX];
};

struct ren {
	struct daemon *d;
	struct store_reader *rd;
	struct store_job *job;
	struct store_batch *batch;
	struct store_root *roots;
	size_t nroots, roots_cap;
	struct fsdev_table fsdevs;
	struct ren_key *keys;	/* of the renames queued since the last commit */
	size_t nkeys, keys_cap;
	bool moved_dir;		/* one of them moved a directory: paths changed */
	size_t moved;		/* records queued */
};

/* A path split at its last slash: the directory ("/" for the top) and the name. */
struct split {
	const char *path;
	size_t len, dir_len;
	const char *name;
	size_t name_len;
	uint64_t dir_id;
};

static int split_path(const char *path, struct split *s)
{
	const char *slash = strrchr(path, '/');

	if (!slash || !slash[1] || strlen(slash + 1) > NODE_NAME_MAX)
		return -EINVAL;
	s->path = path;
	s->len = strlen(path);
	s->dir_len = slash == path ? 1 : (size_t)(slash - path);
	s->name = slash + 1;
	s->name_len = strlen(slash + 1);
	return 0;
}

/* The first path a merged chain passed through in rename @from, or NULL. */
static const char *first_via(const char *from)
{
	const char *to = from + strlen(from) + 1, *via = to + strlen(to) + 1;

	return *via ? via : NULL;
}

static const char *next_via(const char *via)
{
	via += strlen(via) + 1;
	return *via ? via : NULL;
}

int daemon_rename_add(char ***v, size_t *n, size_t *cap, const char *from, size_t len)
{
	const char *end = from + len + 1;
	char *p;

	while (*end)
		end += strlen(end) + 1;	/* the new path, then the ones passed through */
	if (GROW(*v, *cap, *n + 1) < 0 || !(p = malloc((size_t)(end - from) + 1)))
		return -ENOMEM;
	memcpy(p, from, (size_t)(end - from) + 1);
	(*v)[(*n)++] = p;
	return 0;
}

int daemon_queue_renames(struct daemon *d, char **renames, size_t nren, char **paths, size_t n)
{
	struct daemon_job *job = calloc(1, sizeof(*job));

	if (!job) {
		for (size_t i = 0; i < nren; i++)
			free(renames[i]);
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(renames);
		free(paths);
		return -ENOMEM;
	}
	*job = (struct daemon_job){ .kind = DAEMON_JOB_RENAMES, .paths = paths, .npaths = n,
				    .flags = RESCAN_ONE_LEVEL, .renames = renames,
				    .nrenames = nren };
	daemon_queue_job(d, job);
	return 0;
}

static int keep_root(void *ctx, const struct store_root *root)
{
	struct ren *rn = ctx;

	if (GROW(rn->roots, rn->roots_cap, rn->nroots + 1))
		return -ENOMEM;
	return store_root_copy(&rn->roots[rn->nroots++], root);
}

/*
 * The root directory @id lies in (the nearest root at or above it), or
 * NULL; also NULL when @avoid is on the way up (a directory moved below
 * itself, which the disk does not allow: the index is behind).
 */
static const struct store_root *root_of(struct ren *rn, uint64_t id, uint64_t avoid)
{
	struct node n;

	for (unsigned depth = 0; depth < MAX_DEPTH; depth++) {
		if (id == avoid)
			return NULL;
		for (size_t i = 0; i < rn->nroots; i++)
			if (rn->roots[i].id == id)
				return &rn->roots[i];
		if (id == NODE_ID_TOP || store_get_node(rn->rd, id, &n) < 0)
			return NULL;
		id = n.parent;
	}
	return NULL;
}

/* Does node @id hold a root (is it one, or above one)? */
static bool holds_root(struct ren *rn, uint64_t id)
{
	for (size_t i = 0; i < rn->nroots; i++) {
		uint64_t up = rn->roots[i].id;
		struct node n;

		for (unsigned depth = 0; depth < MAX_DEPTH && up; depth++) {
			if (up == id)
				return true;
			if (up == NODE_ID_TOP || store_get_node(rn->rd, up, &n) < 0)
				break;
			up = n.parent;
		}
	}
	return false;
}

/*
 * Is the entry at @path (@len bytes, not followed) node @n: the same
 * filesystem (by the fsdev table), inode and type?  Its stat into *ret_st.
 */
static bool same_node(struct ren *rn, const char *path, size_t len, const struct node *n,
		      struct stat *ret_st)
{
	char *p = strndup(path, len);
	struct fsdev_id fs;
	bool has_fs, same;
	int fd;

	if (!p)
		return false;
	fd = open(p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return false;
	has_fs = fsdev_ident_fd(fd, &fs) == 0;
	same = fstat(fd, ret_st) == 0 && (uint64_t)ret_st->st_ino == n->ino &&
	       (ret_st->st_mode & S_IFMT) == (n->mode & S_IFMT) &&
	       fsdev_same(&rn->fsdevs, n->dev, ret_st->st_dev, has_fs ? &fs : NULL);
	close(fd);
	return same;
}

/* The directory of @s in the index, still itself on disk: its id into s->dir_id. */
static const char *find_dir(struct ren *rn, struct split *s)
{
	char *dir = strndup(s->path, s->dir_len);
	struct node n;
	struct stat st;
	int r;

	if (!dir)
		return "out of memory";
	r = store_resolve_path(rn->rd, dir, &s->dir_id);
	free(dir);
	if (r < 0)
		return "its directory is not in the index";
	if (store_get_node(rn->rd, s->dir_id, &n) < 0 || !S_ISDIR(n.mode))
		return "its directory is not in the index";
	if (!same_node(rn, s->path, s->dir_len, &n, &st))
		return "its directory is another one on disk now";
	return NULL;
}

static bool key_is(const struct ren_key *k, uint64_t parent, const char *name, size_t len)
{
	return k->parent == parent && k->len == len && memcmp(k->name, name, len) == 0;
}

/* Did a rename not yet committed touch the name of @s? */
static bool touched(const struct ren *rn, const struct split *s)
{
	for (size_t i = 0; i < rn->nkeys; i++)
		if (key_is(&rn->keys[i], s->dir_id, s->name, s->name_len))
			return true;
	return false;
}

static int add_key(struct ren *rn, const struct split *s)
{
	struct ren_key *k;

	if (GROW(rn->keys, rn->keys_cap, rn->nkeys + 1) < 0)
		return -ENOMEM;
	k = &rn->keys[rn->nkeys++];
	k->parent = s->dir_id;
	k->len = (uint16_t)s->name_len;
	memcpy(k->name, s->name, s->name_len);
	return 0;
}

/* Commit what is queued; the reader then sees it.  0 or the writer's error. */
static int commit(struct ren *rn)
{
	int r;

	if (!rn->nkeys)
		return 0;
	r = store_batch_flush(rn->batch);
	store_reader_pause(rn->rd);
	if (r == 0)
		r = store_job_wait(rn->job);
	rn->nkeys = 0;
	rn->moved_dir = false;
	return r;
}

/* Would @root's patterns leave the entry at @n out, or change below a directory there? */
static bool excluded(const struct store_root *root, const struct split *n, bool is_dir)
{
	for (size_t i = 0; is_dir && i < root->nexcludes; i++)
		if (strchr(root->excludes[i], '/'))
			return true; /* the paths below it moved too */
	return walk_is_excluded(root->excludes, root->nexcludes, n->name, n->path);
}

/* Does the file @x still have the content (size, mtime) and the one link the index knows? */
static bool same_file(const struct node *x, const struct stat *st)
{
	return S_ISDIR(x->mode) ||
	       (st->st_nlink == 1 && (uint64_t)st->st_size == x->size &&
		st->st_mtim.tv_sec == x->mtime_sec && (uint32_t)st->st_mtim.tv_nsec == x->mtime_nsec);
}

/* Queue X's record at @n with the fresh stat @st: its id, hashes and subtree stay. */
static int queue_move(struct ren *rn, struct node *x, const struct split *o, const struct split *n,
		      const struct stat *st)
{
	struct node fresh;
	int r;

	ident_node_from_stat(&fresh, st);
	x->mode = fresh.mode;
	x->nlink = fresh.nlink;
	x->uid = fresh.uid;
	x->gid = fresh.gid;
	x->size = fresh.size;
	x->mtime_sec = fresh.mtime_sec;
	x->mtime_nsec = fresh.mtime_nsec;
	x->ctime_sec = fresh.ctime_sec;
	x->ctime_nsec = fresh.ctime_nsec;
	x->parent = n->dir_id;
	x->name = n->name;
	x->name_len = (uint16_t)n->name_len;
	/* Listed once more by the next reconcile, which settles it again (as rescan.c). */
	if (S_ISDIR(x->mode))
		x->flags &= ~NODE_F_SETTLED;
	/* A batch call may wait on the writer, which may wait on our snapshot to grow the map. */
	store_reader_pause(rn->rd);
	r = store_batch_move(rn->batch, x);
	if (r == 0) {
		rn->moved++;
		r = add_key(rn, o);
	}
	if (r == 0)
		r = add_key(rn, n);
	rn->moved_dir |= S_ISDIR(x->mode);
	return r;
}

/*
 * A chain merged by the event source ("mv a b; mv b c": a to c through b)
 * holds if no name it passed through held anything in the index: else one
 * was overwritten on the way (its entry is gone), or swapped, not moved on.
 */
static const char *check_vias(struct ren *rn, const char *from)
{
	for (const char *via = first_via(from); via; via = next_via(via)) {
		struct store_child c;
		struct split v;
		char *dir;
		int r;

		if (split_path(via, &v) < 0 || !(dir = strndup(via, v.dir_len)))
			return "a path without a name";
		r = store_resolve_path(rn->rd, dir, &v.dir_id);
		free(dir);
		if (r < 0)
			return "a directory it passed through is not in the index";
		if (store_lookup(rn->rd, v.dir_id, v.name, v.name_len, &c) == 0)
			return "a name it passed through held another entry";
	}
	return NULL;
}

/* May @x (@st on disk now) be moved in place to @n, under @root? */
static const char *movable(struct ren *rn, const struct store_root *root, const struct node *x,
			   const struct split *n, const struct stat *st)
{
	if (x->flags & NODE_F_CHAIN)
		return "it leads to a root";
	if (!same_file(x, st))
		return "a file changed since, or with other links";
	if (root != root_of(rn, n->dir_id, x->id))
		return "not within one root";
	if (S_ISDIR(x->mode) && holds_root(rn, x->id))
		return "it holds a root";
	if (excluded(root, n, S_ISDIR(x->mode)))
		return "excluded there";
	return NULL;
}

/*
 * "a to a through b" with a holding another entry now: a swap of a and b
 * (renameat2() RENAME_EXCHANGE, two renames the event source merged) if a
 * holds what the index has at b and b what it has at a (@x): both moved.
 */
static const char *try_swap(struct ren *rn, const struct split *o, const char *via,
			    struct node *x, int *ret_r)
{
	const struct store_root *root;
	struct stat sx, sy;
	struct store_child c;
	struct split v;
	struct node y;
	const char *why;

	if (split_path(via, &v) < 0)
		return "a path without a name";
	if ((why = find_dir(rn, &v)))
		return why;
	if (store_lookup(rn->rd, v.dir_id, v.name, v.name_len, &c) < 0 ||
	    store_get_node(rn->rd, c.id, &y) < 0)
		return "the new path is another entry now";
	y.name = NULL;
	if (!same_node(rn, o->path, o->len, &y, &sy) || !same_node(rn, v.path, v.len, x, &sx))
		return "the new path is another entry now";
	root = root_of(rn, o->dir_id, 0);
	if (!root)
		return "not within one root";
	if ((why = movable(rn, root, x, &v, &sx)) || (why = movable(rn, root, &y, o, &sy)))
		return why;
	*ret_r = queue_move(rn, x, o, &v, &sx);
	if (*ret_r == 0)
		*ret_r = queue_move(rn, &y, &v, o, &sy);
	return *ret_r < 0 ? "the index cannot be written" : NULL;
}

/* Is rename @from -> @to "a to a" through one name only? */
static bool is_swap(const char *from, const char *to)
{
	const char *via = first_via(from);

	return via && !next_via(via) && strcmp(from, to) == 0;
}

/*
 * Apply the rename @from -> @to: NULL when done (or nothing to do), else
 * why it was not (*ret_r: an error of memory or of the index, else 0).
 */
static const char *try_one(struct ren *rn, const char *from, const char *to, int *ret_r)
{
	const struct store_root *root;
	struct store_child c;
	struct split o, n;
	struct node x;
	struct stat st;
	const char *why;

	*ret_r = 0;
	if (split_path(from, &o) < 0 || split_path(to, &n) < 0)
		return "a path without a name";
	if ((why = find_dir(rn, &o)) || (why = find_dir(rn, &n)))
		return why;
	/* It may depend on a rename not committed yet: commit, look again. */
	if (rn->nkeys &&
	    (rn->moved_dir || touched(rn, &o) || touched(rn, &n) || first_via(from))) {
		*ret_r = commit(rn);
		if (*ret_r < 0)
			return "the index cannot be written";
		if ((why = find_dir(rn, &o)) || (why = find_dir(rn, &n)))
			return why;
	}
	if (store_lookup(rn->rd, o.dir_id, o.name, o.name_len, &c) < 0 ||
	    store_get_node(rn->rd, c.id, &x) < 0)
		return "the old name is not in the index";
	x.name = NULL; /* borrowed from the reader, which moves on */
	if (!same_node(rn, n.path, n.len, &x, &st))
		return is_swap(from, to) ? try_swap(rn, &o, first_via(from), &x, ret_r)
					 : "the new path is another entry now";
	if ((why = check_vias(rn, from)))
		return why;
	if (store_lookup(rn->rd, n.dir_id, n.name, n.name_len, &c) == 0)
		return c.id == x.id ? NULL : "the new name held another entry (overwritten)";
	root = root_of(rn, o.dir_id, 0);
	if (!root)
		return "not within one root";
	if ((why = movable(rn, root, &x, &n, &st)))
		return why;
	*ret_r = queue_move(rn, &x, &o, &n, &st);
	return *ret_r < 0 ? "the index cannot be written" : NULL;
}

/* Rescan directory @path (@len bytes) in @job too, once. */
static int add_path(struct daemon_job *job, const char *path, size_t len)
{
	char **v, *p;

	for (size_t i = 0; i < job->npaths; i++)
		if (strlen(job->paths[i]) == len && memcmp(job->paths[i], path, len) == 0)
			return 0;
	v = realloc(job->paths, (job->npaths + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	job->paths = v;
	p = strndup(path, len);
	if (!p)
		return -ENOMEM;
	job->paths[job->npaths++] = p;
	return 0;
}

/* Both directories of the rename @from -> @to go to the job's rescan. */
static int fall_back(struct daemon_job *job, const char *from, const char *to, const char *why)
{
	struct split o, n;
	int r = 0;

	if (log_enabled(LOG_DEBUG)) {
		char *qf = log_quote(from, strlen(from)), *qt = log_quote(to, strlen(to));

		log_debug("rename of '%s' to '%s' not applied (%s): rescanning both directories",
			  qf ? qf : "?", qt ? qt : "?", why);
		free(qf);
		free(qt);
	}
	if (split_path(from, &o) == 0)
		r = add_path(job, from, o.dir_len);
	if (r == 0 && split_path(to, &n) == 0)
		r = add_path(job, to, n.dir_len);
	for (const char *via = first_via(from); r == 0 && via; via = next_via(via))
		if (split_path(via, &o) == 0)
			r = add_path(job, via, o.dir_len);
	return r;
}

/* Log what was done for @from -> @to: @n records moved (2: a swap with what @from passed through). */
static void applied(const char *from, const char *to, int n)
{
	char *qf, *qt;

	if (!log_enabled(LOG_DEBUG))
		return;
	if (n == 2)
		to = first_via(from);
	qf = log_quote(from, strlen(from));
	qt = log_quote(to, strlen(to));
	if (n == 0)
		log_debug("renamed '%s' back in the index (nothing to write)", qf ? qf : "?");
	else if (n == 2)
		log_debug("swapped '%s' and '%s' in the index (two records)", qf ? qf : "?",
			  qt ? qt : "?");
	else
		log_debug("renamed '%s' to '%s' in the index (one record)", qf ? qf : "?",
			  qt ? qt : "?");
	free(qf);
	free(qt);
}

static int ren_open(struct daemon *d, struct ren *rn)
{
	struct store_writer *wr = engine_writer(d->engine);
	int r = store_reader_new(engine_store(d->engine), &rn->rd);

	if (r == 0)
		r = store_foreach_root(rn->rd, keep_root, rn);
	if (r == 0)
		r = store_load_fsdev(rn->rd, &rn->fsdevs);
	if (r == 0)
		r = store_job_new(wr, &rn->job);
	if (r == 0)
		r = store_batch_new(wr, rn->job, &rn->batch);
	return r;
}

/* Commit what is left and free it all; 0 or the writer's error. */
static int ren_close(struct ren *rn)
{
	int r = rn->batch ? commit(rn) : 0;

	store_batch_free(rn->batch);
	store_reader_free(rn->rd);
	store_job_free(rn->job);
	for (size_t i = 0; i < rn->nroots; i++)
		store_root_clear(&rn->roots[i]);
	free(rn->roots);
	fsdev_table_clear(&rn->fsdevs);
	free(rn->keys);
	return r;
}

int daemon_apply_renames(struct daemon *d, struct daemon_job *job)
{
	struct ren rn = { .d = d };
	size_t done = 0, left = 0, i;
	int r = ren_open(d, &rn), e;

	if (r < 0)
		log_debug("renames: cannot use the index: %s", strerror(-r));
	for (i = 0; i < job->nrenames && !cancel_requested(&d->stop); i++) {
		const char *from = job->renames[i], *to = from + strlen(from) + 1;
		size_t before = rn.moved;
		const char *why = r < 0 ? "the index cannot be used" : try_one(&rn, from, to, &r);

		if (!why) {
			applied(from, to, (int)(rn.moved - before));
			done++;
			continue;
		}
		left++;
		e = fall_back(job, from, to, why);
		if (e < 0)
			r = e;
	}
	e = ren_close(&rn);
	if (r < 0 || e < 0) {
		/* Memory or the index failed us: what was missed is found by a reconcile. */
		log_warning("renames: %s: reconciling", strerror(-(r < 0 ? r : e)));
		daemon_queue_reconcile(d);
	}
	pthread_mutex_lock(&d->lock);
	d->renames_applied += done;
	d->renames_rescanned += left;
	log_debug("renames: %zu applied in the index, %zu left to rescans (since start: %llu, %llu)",
		  done, left, (unsigned long long)d->renames_applied,
		  (unsigned long long)d->renames_rescanned);
	pthread_mutex_unlock(&d->lock);
	return i < job->nrenames ? -ECANCELED : 0;
}
