/* SPDX-License-Identifier: MIT */
/*
 * scan.c - a scan from start to commit.
 *
 *   roots ──► chains of directory nodes from "/" (main thread, committed first)
 *         ──► one walk task per root on the pool (walk.c)
 *         ──► writer drains and commits (store-writer.c)
 *
 * A root is stored as the chain of its ancestors (NODE_F_CHAIN nodes, not
 * entries) ending in the root's own node, so overlapping roots share nodes
 * and no key holds a whole path.  Per-root options live in `meta` and are
 * only rewritten when they change: an unchanged rescan commits nothing.
 *
 * Scans of disjoint roots may run at once on one engine, and their chains
 * meet ("/tmp/a" and "/tmp/b" share "/" and "/tmp").  A scan that planned
 * a chain node the other cannot see yet would make a second "/tmp", whose
 * `child` entry replaces the first's and cuts the other tree off.  So the
 * chains and root records of a phase are planned under the engine's plan
 * lock (engine_plan_lock()), in a
 * writer job of their own, committed before the lock is released: the
 * next scan to plan reads them.  An unchanged chain queues nothing and
 * waits for nothing.
 */
#include "scan.h"

#include "engine.h"
#include "ident.h"
#include "node.h"
#include "ring.h"
#include "task.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A node queued by an earlier root of this scan: the reader cannot see it yet. */
struct planned {
	uint64_t parent, id;
	uint16_t len;
	char name[NODE_NAME_MAX];
};

struct plan_memo {
	struct planned *v;
	size_t n, cap;
};

static const struct planned *memo_find(const struct plan_memo *m, uint64_t parent,
				       const char *name, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].parent == parent && m->v[i].len == len &&
		    memcmp(m->v[i].name, name, len) == 0)
			return &m->v[i];
	return NULL;
}

static int memo_add(struct plan_memo *m, uint64_t parent, const char *name, size_t len,
		    uint64_t id)
{
	if (GROW(m->v, m->cap, m->n + 1))
		return -ENOMEM;
	m->v[m->n] = (struct planned){ .parent = parent, .id = id, .len = (uint16_t)len };
	memcpy(m->v[m->n].name, name, len);
	m->n++;
	return 0;
}

struct root_plan {
	const char *path;
	uint64_t id;
	uint64_t dev;
	bool fresh;
};

/*
 * Make sure every component of @p->path has a node: ancestors as chain
 * nodes, the root itself as an entry with fresh metadata.
 */
static int plan_chain(struct store_reader *rd, struct store_writer *wr, struct store_batch *batch,
		      struct plan_memo *memo, struct root_plan *p)
{
	const char *path = p->path;
	char prefix[PATH_MAX];
	uint64_t parent = 0;
	size_t pos = 0;
	int r;

	if (strlen(path) >= sizeof(prefix))
		return -ENAMETOOLONG;
	for (;;) {
		const char *name = path + pos;
		size_t len = pos == 0 ? 0 : strcspn(name, "/");
		bool last = name[len] == '\0' || (pos == 0 && path[1] == '\0');
		const struct planned *queued;
		struct store_child c;
		struct node n, old;
		struct stat st;
		bool fresh = false;

		memcpy(prefix, path, pos + len);
		prefix[pos + len] = '\0';
		if (fstatat(AT_FDCWD, pos == 0 ? "/" : prefix, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		ident_node_from_stat(&n, &st);
		n.parent = parent;
		n.name = name;
		n.name_len = (uint16_t)len;
		if (!last)
			n.flags = NODE_F_CHAIN;

		queued = memo_find(memo, parent, name, len);
		r = queued ? 0 : store_lookup(rd, parent, name, len, &c);
		if (queued) {
			/* Queued by an earlier root of this scan, as a chain node or a root. */
			n.id = queued->id;
			fresh = true;
			if (last)
				r = store_batch_put(batch, &n, false);
		} else if (r == 0) {
			n.id = c.id;
			fresh = false;
			r = store_get_node(rd, c.id, &old);
			if (r < 0)
				return r;
			/* Keep an entry an entry; refresh the root's own metadata. */
			if (!last && !(old.flags & NODE_F_CHAIN))
				n.flags = 0;
			if (last && ((old.flags & NODE_F_CHAIN) || !node_stat_equal(&n, &old)))
				r = store_batch_put(batch, &n, false);
		} else if (r == -ENOENT) {
			n.id = pos == 0 ? NODE_ID_TOP : store_alloc_ids(wr, 1);
			fresh = true;
			r = store_batch_put(batch, &n, true);
			if (r == 0)
				r = memo_add(memo, parent, name, len, n.id);
		}
		if (r < 0)
			return r;

		if (last) {
			p->id = n.id;
			p->dev = n.dev;
			p->fresh = fresh;
			return 0;
		}
		parent = n.id;
		pos = pos == 0 ? 1 : pos + len + 1;
	}
}

struct root_lookup {
	uint64_t id;
	bool found;
	struct store_root root;		/* when found: a copy of the stored root */
};

static int find_root(void *ctx, const struct store_root *root)
{
	struct root_lookup *l = ctx;
	int r;

	if (root->id != l->id)
		return 0;
	l->found = true;
	r = store_root_copy(&l->root, root);
	return r < 0 ? r : 1;
}

static bool same_excludes(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* As scan.h says. */
const struct walk_filter *scan_filter(const struct scan_opts *opts, const char *path,
				      char *const *excludes, size_t nexcludes,
				      struct walk_filter *filter)
{
	*filter = (struct walk_filter){ .excludes = excludes, .nexcludes = nexcludes };
	if (opts->fstypes_of)
		opts->fstypes_of(opts->fstypes_ctx, path, &filter->fstypes, &filter->nfstypes);
	return filter;
}

/* Record the root's options if they changed, and register it with the walk. */
static int plan_root(struct store_reader *rd, struct store_batch *batch, struct walk *walk,
		     const struct root_plan *p, const struct scan_opts *opts)
{
	struct root_lookup old = { .id = p->id };
	struct walk_filter filter;
	char *const *excl = opts->excludes;
	size_t nexcl = opts->nexcludes;
	unsigned walk_flags = opts->walk_flags;
	uint32_t flags;
	int r;

	r = store_foreach_root(rd, find_root, &old);
	if (r < 0)
		goto out;
	/* Hashing, once asked for, stays on for the root. */
	if (old.found && (old.root.flags & STORE_ROOT_HASH))
		walk_flags |= WALK_HASH;
	flags = ((walk_flags & WALK_XDEV) ? STORE_ROOT_XDEV : 0) |
		((walk_flags & WALK_HASH) ? STORE_ROOT_HASH : 0);
	if (old.found && !opts->set_excludes) {
		excl = old.root.excludes;
		nexcl = old.root.nexcludes;
	}
	/* Stored children were filtered by the old excludes: list afresh. */
	if (old.found && !same_excludes(old.root.excludes, old.root.nexcludes, excl, nexcl))
		walk_flags |= WALK_RELIST;
	if (!old.found || old.root.flags != flags || (walk_flags & WALK_RELIST)) {
		struct store_root root = {
			.id = p->id,
			.flags = flags,
			.nexcludes = (uint32_t)nexcl,
			.excludes = (char **)excl,
		};

		r = store_batch_put_root(batch, &root);
		if (r < 0)
			goto out;
	}
	r = walk_add_root(walk, p->path, p->id, p->fresh, p->dev, walk_flags,
			  scan_filter(opts, p->path, excl, nexcl, &filter));
out:
	store_root_clear(&old.root);
	return r;
}

/* Add the counters of @walk (done) to @res. */
static void add_walk_stats(struct scan_result *res, struct walk *walk)
{
	struct walk_stats *s = walk_stats(walk);
	uint64_t maxp = atomic_load(&s->max_pending);

	res->dirs += atomic_load(&s->dirs);
	res->files += atomic_load(&s->files);
	res->errors += atomic_load(&s->errors);
	res->added += atomic_load(&s->added);
	res->changed += atomic_load(&s->changed);
	res->removed += atomic_load(&s->removed);
	res->moved += atomic_load(&s->moved);
	res->hashed += atomic_load(&s->hashed);
	res->hashed_bytes += atomic_load(&s->hashed_bytes);
	if (maxp > res->max_pending)
		res->max_pending = maxp;
}

/*
 * Give every root of @plans its chain and root record, in a writer job of
 * their own, committed on return (or failed), and add the roots to @walk.
 */
static int plan_phase(struct engine *e, struct root_plan *plans, size_t n, struct walk *walk,
		      const struct scan_opts *opts)
{
	struct store_writer *writer = engine_writer(e);
	struct store_reader *rd = NULL;
	struct store_batch *batch = NULL;
	struct store_job *job = NULL;
	struct plan_memo memo = { 0 };
	int r, jr;

	/* Held until the chains are committed (top of file). */
	engine_plan_lock(e);
	r = store_job_new(writer, &job);
	if (r < 0)
		goto out;
	r = store_reader_new(engine_store(e), &rd);
	if (r == 0)
		r = store_batch_new(writer, job, &batch);
	for (size_t i = 0; i < n && r == 0; i++) {
		r = plan_chain(rd, writer, batch, &memo, &plans[i]);
		if (r == 0)
			r = plan_root(rd, batch, walk, &plans[i], opts);
	}
	store_reader_free(rd);
	if (r == 0)
		r = store_batch_flush(batch);
	store_batch_free(batch);
	/* The chains are committed before anything below them is queued. */
	jr = store_job_wait(job);
	store_job_free(job);
	if (jr < 0 && r >= 0)
		r = jr;
out:
	engine_plan_unlock(e);
	free(memo.v);
	return r;
}

int scan_walk_begin(struct engine *e, const struct scan_opts *opts, struct store_job **ret_job,
		    struct walk **ret_walk)
{
	struct walk_opts wo = {
		.on_error = opts->on_error,
		.error_ctx = opts->error_ctx,
		.cancel = opts->cancel,
		.on_file = opts->on_file,
		.file_ctx = opts->file_ctx,
		.start_sec = now_real_ns() / 1000000000,
	};
	int r;

	*ret_job = NULL;
	*ret_walk = NULL;
	r = store_job_new(engine_writer(e), ret_job);
	if (r < 0)
		return r;
	wo.job = *ret_job;
	return walk_new(e, &wo, ret_walk);
}

int scan_walk_end(struct walk *walk, struct store_job *job, int r, const struct scan_opts *opts,
		  struct scan_result *res)
{
	int jr;

	if (r == 0) {
		if (opts->on_start)
			opts->on_start(opts->progress_ctx, walk_stats(walk));
		r = walk_run(walk);
		if (opts->on_end)
			opts->on_end(opts->progress_ctx);
	}
	if (walk)
		add_walk_stats(res, walk);
	walk_free(walk);
	/* Everything the walk queued is committed (or failed) before anyone reads on. */
	jr = job ? store_job_wait(job) : 0;
	store_job_free(job);
	return jr < 0 && (r >= 0 || r == -ECANCELED) ? jr : r;
}

/* Scan roots none of which is inside another: plan their chains, walk, commit. */
static int scan_phase(struct engine *e, struct root_plan *plans, size_t n,
		      const struct scan_opts *opts, struct scan_result *res)
{
	struct store_job *job;
	struct walk *walk;
	int r = scan_walk_begin(e, opts, &job, &walk);

	if (r == 0)
		r = plan_phase(e, plans, n, walk, opts);
	return scan_walk_end(walk, job, r, opts, res);
}

void scan_engine_stats(struct scan_result *res, struct engine *e)
{
	struct ring_stats rs;

	task_pool_stats(engine_pool(e), &res->tasks);
	engine_ring_stats(e, &rs);
	res->peak_inflight = rs.peak_inflight;
	res->uring = rs.uring;
}

bool scan_path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	if (strcmp(outer, "/") == 0)
		return true;
	return strncmp(inner, outer, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

int scan_run(struct engine *e, char *const *paths, size_t npaths, const struct scan_opts *opts,
	     struct scan_result *ret_result)
{
	struct scan_result res = { 0 };
	struct root_plan *plans = NULL, *phase = NULL;
	size_t left = 0;
	int r = 0;

	plans = calloc(npaths ? npaths : 1, sizeof(*plans));
	phase = calloc(npaths ? npaths : 1, sizeof(*phase));
	if (!plans || !phase) {
		r = -ENOMEM;
		goto out;
	}
	/* Drop repeated paths; the rest is scanned outermost first. */
	for (size_t i = 0; i < npaths; i++) {
		bool dup = false;

		for (size_t j = 0; j < left && !dup; j++)
			dup = strcmp(plans[j].path, paths[i]) == 0;
		if (!dup)
			plans[left++].path = paths[i];
	}

	/*
	 * A root inside another root waits for a later phase: its nodes are
	 * found by the outer walk, and only once that is committed can its
	 * chain be resolved to the same ids.  Its own walk then finds nothing
	 * new unless its options differ.
	 */
	while (left > 0 && r == 0) {
		size_t n = 0, keep = 0;

		for (size_t i = 0; i < left; i++) {
			bool inner = false;

			for (size_t j = 0; j < left && !inner; j++)
				inner = j != i && scan_path_within(plans[i].path, plans[j].path);
			if (inner)
				plans[keep++] = plans[i];
			else
				phase[n++] = plans[i];
		}
		left = keep;
		res.roots_walked += (unsigned)n;
		r = scan_phase(e, phase, n, opts, &res);
	}
	scan_engine_stats(&res, e);
out:
	free(phase);
	free(plans);
	if (ret_result)
		*ret_result = res;
	return r;
}
