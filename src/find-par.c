/* SPDX-License-Identifier: MIT */
/*
 * find-par.c - the full pass of a find over the task pool, for patterns the
 * name index cannot narrow (find-names.c).
 *
 * Matching dominates such a pass (a regex's automaton over every path), and
 * subtrees are independent, so they are matched on several workers.  The
 * output must stay the sequential pass's, entry for entry and in order, so:
 *
 *   main thread: expand the tree from "/" breadth first, level by level,
 *     into an ordered list of units, until there are SPLIT_UNITS subtrees:
 *       [entry /] [entry /a] [tree /a/b] [entry /a/c] [tree /d] ...
 *   workers: one task per tree unit, walking it as find.c does (its own
 *     reader), keeping the matches in the unit's buffer
 *   main thread: once all are done, visit the units in order: an entry is
 *     matched there, a tree's buffered matches are reported
 *
 * Every reader must see one commit: each worker's reader takes its snapshot
 * first, and the pass goes ahead only when all of them name the same commit
 * (store_reader_txnid()), else it retries, and after a few tries leaves the
 * index to the sequential pass.  The callback runs on the calling thread
 * with the main reader, as find_run()'s does.  Matches of a subtree are
 * buffered (paths and ids), not streamed: the pass is for selective
 * patterns, and a pattern-less find (everything) does not use it.
 */
#include "find-par.h"

#include "find-names.h"
#include "node.h"
#include "query.h"
#include "store.h"
#include "task.h"
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPLIT_UNITS 64	     /* subtrees to share out: enough to even out their sizes */
#define SPLIT_ROUNDS 12	     /* levels expanded at most (roots sit below chains of dirs) */
#define PAR_MIN_NODES 50000  /* smaller indexes: a thread costs more than it saves */
#define PAR_MAX_WORKERS 8
/*
 * Fewer CPUs than this: one thread.  Measured on 2 shared cores (other jobs
 * running), a literal-free regex over 250,001 entries took a median 106 ms
 * on the pool against 95 ms on one thread (best runs 64 against 75 ms): the
 * second core is seldom free, and the pool adds threads and a copy of every
 * match.
 */
#define PAR_MIN_CPUS 4
#define SNAPSHOT_TRIES 5

struct match {
	size_t off, len, name_off; /* the path in the unit's buffer */
	uint64_t id;
	char type;
};

struct unit {
	struct task task;
	struct par *par;
	bool tree;
	uint64_t id;
	char type;
	uint8_t flags;
	char *path; /* owned */
	size_t len, name_off;
	/* A tree's matches. */
	struct match *m;
	size_t n, cap;
	char *buf;
	size_t buf_len, buf_cap;
	int err;
};

struct par {
	const struct query *query;
	struct query **wq; /* a copy a worker: a regex's DFA cache is locked per query */
	unsigned type_mask;
	struct store_reader **rd; /* [0] the main thread's, [1 + worker] the workers' */
	struct unit *u;
	size_t n, cap;
};

static int collect(void *ctx, const struct find_entry *e)
{
	struct unit *u = ctx;
	struct match *m;

	if (GROW(u->m, u->cap, u->n + 1) < 0 || GROW(u->buf, u->buf_cap, u->buf_len + e->len + 1) < 0)
		return -ENOMEM;
	m = &u->m[u->n++];
	*m = (struct match){u->buf_len, e->len, e->name_off, e->id, e->type};
	memcpy(u->buf + u->buf_len, e->path, e->len + 1);
	u->buf_len += e->len + 1;
	return 0;
}

static void walk_task(struct task *t, struct task_worker *w)
{
	struct unit *u = container_of(t, struct unit, task);
	unsigned k = task_worker_id(w);

	u->err = find_names_walk(u->par->rd[1 + k], u->par->wq[k], u->par->type_mask, u->id,
				 u->path, u->len, collect, u);
}

static int add_unit(struct par *p, const char *dir, size_t dlen, const struct store_child *c,
		    bool tree)
{
	size_t sep = dlen > 1, len = dlen + sep + c->name_len;
	struct unit *u;

	if (GROW(p->u, p->cap, p->n + 1) < 0)
		return -ENOMEM;
	u = &p->u[p->n];
	*u = (struct unit){.par = p, .tree = tree, .id = c->id, .type = c->type, .flags = c->flags};
	u->path = malloc(len + 1);
	if (!u->path)
		return -ENOMEM;
	memcpy(u->path, dir, dlen);
	if (sep)
		u->path[dlen] = '/';
	memcpy(u->path + dlen + sep, c->name, c->name_len);
	u->path[len] = '\0';
	u->len = len;
	u->name_off = len - c->name_len;
	p->n++;
	return 0;
}

struct expand {
	struct par *next; /* the units being built (which may move as they grow) */
	size_t dir;	  /* the directory's unit in it */
};

static int add_child(void *ctx, const struct store_child *c)
{
	struct expand *x = ctx;
	const struct unit *d = &x->next->u[x->dir];

	return add_unit(x->next, d->path, d->len, c, c->type == 'd');
}

/* Replace each tree unit of @p by its directory and its children, into a new list. */
static int expand_level(struct par *p, size_t *ret_trees)
{
	struct par next = *p;
	size_t trees = 0;
	int r = 0;

	next.u = NULL;
	next.n = next.cap = 0;
	for (size_t i = 0; i < p->n && r == 0; i++) {
		struct unit *u = &p->u[i];
		struct expand x = {&next, next.n};

		if (GROW(next.u, next.cap, next.n + 1) < 0) {
			r = -ENOMEM;
			break;
		}
		next.u[next.n] = *u;
		next.u[next.n++].tree = false;
		u->path = NULL; /* moved */
		if (!u->tree)
			continue;
		r = store_foreach_child(p->rd[0], u->id, add_child, &x);
	}
	for (size_t i = 0; i < p->n; i++)
		free(p->u[i].path);
	free(p->u);
	p->u = next.u;
	p->n = next.n;
	p->cap = next.cap;
	for (size_t i = 0; i < p->n; i++)
		trees += p->u[i].tree;
	*ret_trees = trees;
	return r;
}

/* The ordered units: expand from "/" until there are SPLIT_UNITS subtrees. */
static int split(struct par *p)
{
	struct store_child top;
	size_t trees = 1;
	int r;

	r = store_lookup(p->rd[0], 0, "", 0, &top);
	if (r < 0)
		return r;
	r = GROW(p->u, p->cap, 1);
	if (r < 0)
		return r;
	p->u[0] = (struct unit){.par = p, .tree = top.type == 'd', .id = top.id, .type = top.type,
				.flags = top.flags, .path = strdup("/"), .len = 1, .name_off = 1};
	p->n = 1;
	if (!p->u[0].path)
		return -ENOMEM;
	for (int round = 0; round < SPLIT_ROUNDS && trees && trees < SPLIT_UNITS && r == 0; round++)
		r = expand_level(p, &trees);
	/* Built in lists of expand_level()'s own: point them at p. */
	for (size_t i = 0; i < p->n; i++)
		p->u[i].par = p;
	return r;
}

/* Readers for the main thread and each worker, all on one commit. */
static int snapshots(struct store *store, struct store_reader **rd, unsigned n)
{
	for (int tries = 0; tries < SNAPSHOT_TRIES; tries++) {
		uint64_t first = 0, id;
		bool same = true;
		int r;

		for (unsigned i = 0; i < n && same; i++) {
			r = store_reader_txnid(rd[i], i > 0, &id);
			if (r == -EAGAIN)
				same = false; /* the map grew: remap with nothing held */
			else if (r < 0)
				return r;
			if (i == 0)
				first = id;
			same &= id == first;
		}
		if (same)
			return 1;
		for (unsigned i = 0; i < n; i++)
			store_reader_pause(rd[i]);
	}
	return 0;
}

static int report(struct par *p, find_fn *fn, void *ctx)
{
	int r = 0;

	for (size_t i = 0; i < p->n && r == 0; i++) {
		struct unit *u = &p->u[i];
		struct find_entry e = {.reader = p->rd[0]};

		if (u->err)
			return u->err;
		if (!(u->flags & NODE_F_CHAIN) &&
		    (!p->type_mask || (p->type_mask & find_type_bit(u->type))) &&
		    query_match(p->query, u->path, u->len, u->name_off)) {
			e.path = u->path, e.len = u->len, e.name_off = u->name_off;
			e.id = u->id, e.type = u->type;
			r = fn(ctx, &e);
		}
		for (size_t k = 0; k < u->n && r == 0; k++) {
			const struct match *m = &u->m[k];

			e.path = u->buf + m->off, e.len = m->len, e.name_off = m->name_off;
			e.id = m->id, e.type = m->type;
			r = fn(ctx, &e);
		}
	}
	return r;
}

static unsigned par_workers(const char *env)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (env && strstr(env, "force"))
		n = n < 2 ? 2 : n;
	else if (n < PAR_MIN_CPUS)
		n = 1;
	return n > PAR_MAX_WORKERS ? PAR_MAX_WORKERS : (unsigned)n;
}

/* Run the tree units on a pool of @nw workers. */
static int run_pool(struct par *p, unsigned nw)
{
	struct task_pool *pool = NULL;
	struct task_group *group = NULL;
	int r;

	r = task_pool_new(nw, &pool);
	if (r == 0)
		r = task_group_new(pool, NULL, &group);
	if (r == 0)
		r = task_pool_start(pool);
	if (r == 0) {
		for (size_t i = 0; i < p->n; i++) {
			if (!p->u[i].tree)
				continue;
			p->u[i].task.fn = walk_task;
			task_group_submit(group, &p->u[i].task);
		}
		task_group_wait(group);
		task_pool_stop(pool);
	}
	task_group_free(group);
	task_pool_free(pool);
	return r;
}

int find_par_run(struct store *store, const struct query *query, unsigned type_mask,
		 find_fn *fn, void *ctx, bool *ret_used)
{
	const char *env = secure_getenv("FSINDEX_DEBUG_PARALLEL");
	struct par p = {.query = query, .type_mask = type_mask};
	unsigned nw = par_workers(env);
	struct store_info info;
	int r = 0;

	*ret_used = false;
	if (!query || !query_npatterns(query) || nw < 2 || (env && strstr(env, "off")))
		return 0;
	if (!(env && strstr(env, "force")) &&
	    (store_info(store, &info) < 0 || info.nodes < PAR_MIN_NODES))
		return 0;
	p.rd = calloc(nw + 1, sizeof(*p.rd));
	p.wq = calloc(nw, sizeof(*p.wq));
	if (!p.rd || !p.wq) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < nw && r >= 0; i++)
		r = query_dup(query, &p.wq[i]);
	for (unsigned i = 0; i <= nw && r >= 0; i++)
		r = store_reader_new(store, &p.rd[i]);
	if (r >= 0)
		r = snapshots(store, p.rd, nw + 1);
	if (r <= 0)
		goto out;
	*ret_used = true;
	r = split(&p);
	if (r == 0)
		r = run_pool(&p, nw);
	if (r == 0)
		r = report(&p, fn, ctx);
out:
	for (size_t i = 0; i < p.n; i++) {
		free(p.u[i].path);
		free(p.u[i].m);
		free(p.u[i].buf);
	}
	free(p.u);
	for (unsigned i = 0; p.rd && i <= nw; i++)
		store_reader_free(p.rd[i]);
	for (unsigned i = 0; p.wq && i < nw; i++)
		query_free(p.wq[i]);
	free(p.rd);
	free(p.wq);
	return r;
}
