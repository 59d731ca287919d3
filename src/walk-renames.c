/* SPDX-License-Identifier: MIT */
/*
 * walk-renames.c - renames and moves: which stored entry a listed one is.
 *
 * An entry is the stored one when its name and its (dev, ino) both match.
 * A directory or regular file found under a name that was not stored, or
 * that held another inode, is an arrival; a stored child no longer found is
 * gone.  At the end of a complete listing, arrivals take the identity of a
 * gone child with the same (dev, ino) (a rename inside the directory), then
 * of the child stored under their own name (replaced on disk: today's
 * rewrite).  What is left waits for the rest of the walk: arrivals are
 * parked with their directory, gone children go into a table keyed by
 * (dev, ino) (moves.c), and the directory is not settled this scan.
 *
 *   first round:   list ──► arrivals ──► same dir: renamed / replaced
 *                                └─────► parked          gone ──► moves table
 *   second round:  parked ──► moves_take(dev, ino) ──► moved, or new
 *   then:          what the table still holds ──► deleted
 *
 * When the first round is over every listed directory has reported what it
 * lost, so a second round pairs each parked arrival with the gone entry of
 * its (dev, ino), if any, and takes it in: a moved file keeps its node id
 * and its hashes (size and mtime unchanged: a rename changes ctime), a moved
 * directory its id and its stored subtree, which is then walked as any
 * stored directory.  Directories first walked in the second round pair
 * their entries with the table too.  Gone entries nobody took are deleted
 * once both rounds are over.  A removed subtree is one gone entry, its top,
 * so a file moved out of a directory that was then removed is indexed anew.
 */
#include "walk-priv.h"

#include "moves.h"
#include "ring.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * May entries of @d that are not their name's stored entry be renamed ones?
 * Not in a fresh directory of the first round (nothing can be gone yet), so
 * a first scan pays nothing for renames.
 */
bool walk_may_pair(const struct walk *w, const struct walk_dir *d)
{
	return !d->fresh || (w->second_round && moves_count(w->gone));
}

/* Remember @n (named @name) as an arrival of the directory being listed. */
int walk_add_arrival(struct walk_worker *ww, const struct node *n, const char *name, size_t len,
		     const struct stored *same)
{
	struct arrival *a;

	if (GROW(ww->arr, ww->arr_cap, ww->narr + 1) ||
	    GROW(ww->arr_names, ww->arr_names_cap, ww->arr_names_len + len))
		return -ENOMEM;
	a = &ww->arr[ww->narr++];
	a->n = *n;
	a->n.name = NULL;
	a->name_off = ww->arr_names_len;
	a->same = same ? (size_t)(same - ww->stored) + 1 : 0;
	memcpy(ww->arr_names + ww->arr_names_len, name, len);
	ww->arr_names_len += len;
	return 0;
}


static int id_cmp(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int unseen_cmp(const void *a, const void *b, void *ctx)
{
	const struct stored *st = ctx;
	const struct node *x = &st[*(const size_t *)a].n, *y = &st[*(const size_t *)b].n;

	return x->dev != y->dev ? id_cmp(x->dev, y->dev) : id_cmp(x->ino, y->ino);
}

/* The gone stored child of the same (dev, ino) and file type as @n, not taken yet. */
static struct stored *unseen_find(struct walk_worker *ww, size_t nunseen, const struct node *n)
{
	size_t lo = 0, hi = nunseen;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct node *m = &ww->stored[ww->unseen[mid]].n;
		int c = n->dev != m->dev ? id_cmp(n->dev, m->dev) : id_cmp(n->ino, m->ino);

		if (c < 0) {
			hi = mid;
		} else if (c > 0) {
			lo = mid + 1;
		} else {
			/* Step back to the first of equal keys, then look for a free one. */
			while (mid > 0 && ww->stored[ww->unseen[mid - 1]].n.ino == n->ino &&
			       ww->stored[ww->unseen[mid - 1]].n.dev == n->dev)
				mid--;
			for (; mid < nunseen; mid++) {
				struct stored *s = &ww->stored[ww->unseen[mid]];

				if (s->n.ino != n->ino || s->n.dev != n->dev)
					break;
				if (!s->seen && (s->n.mode & S_IFMT) == (n->mode & S_IFMT))
					return s;
			}
			return NULL;
		}
	}
	return NULL;
}

/*
 * Take in arrival @n of @d that nothing in @d was: the entry gone elsewhere
 * with its (dev, ino), if the table has one, else something new.  As
 * walk_take_entry().
 */
static int take_moved_or_new(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
			     const char *dirpath, size_t dirpath_len, struct node *n)
{
	struct node old;

	if (walk_dev_is_fs(w, n->dev) && moves_take(w->gone, n->dev, n->ino, n->mode & S_IFMT, &old))
		return walk_take_entry(w, ww, d, dfd, dirpath, dirpath_len, n, &old, ID_MOVED);
	return walk_take_entry(w, ww, d, dfd, dirpath, dirpath_len, n, NULL, ID_NEW);
}

/* Park the arrivals of @d still in @ww->arr (not taken in: no name yet) for the second round. */
static int park(struct walk *w, struct walk_worker *ww, struct walk_dir *d)
{
	struct arrivals *g;
	size_t n = 0, names = 0;

	for (size_t i = 0; i < ww->narr; i++) {
		if (!ww->arr[i].n.name) {
			n++;
			names += ww->arr[i].n.name_len;
		}
	}
	if (!n)
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->v = calloc(n, sizeof(*g->v));
	g->names = malloc(names ? names : 1);
	if (!g->v || !g->names) {
		free(g->v);
		free(g->names);
		free(g);
		return -ENOMEM;
	}
	names = 0;
	for (size_t i = 0; i < ww->narr; i++) {
		const struct arrival *a = &ww->arr[i];

		if (a->n.name)
			continue;
		g->v[g->n] = *a;
		g->v[g->n].name_off = names;
		g->v[g->n].same = 0;
		memcpy(g->names + names, ww->arr_names + a->name_off, a->n.name_len);
		names += a->n.name_len;
		g->n++;
	}
	g->walk = w;
	g->dir = d;
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	g->next = ww->parked;
	ww->parked = g;
	d->deferred = true;
	return 0;
}

/*
 * The listing of @d is over: settle its arrivals and gone children (see
 * "Renames").  @complete: the listing met no error, so a stored child not
 * seen is gone.  Returns 1 if a new directory was queued, 0, or an error.
 */
int walk_settle_arrivals(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
			 const char *dirpath, size_t dirpath_len, bool complete)
{
	size_t nunseen = 0;
	bool new_dirs = false;
	int r;

	if (complete && ww->narr) {
		if (GROW(ww->unseen, ww->unseen_cap, ww->nstored)) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < ww->nstored; i++)
			if (!ww->stored[i].seen)
				ww->unseen[nunseen++] = i;
		if (nunseen)
			qsort_r(ww->unseen, nunseen, sizeof(*ww->unseen), unseen_cmp, ww->stored);
	}
	/* Renamed within @d first, then replaced under their own name. */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < ww->narr; i++) {
			struct arrival *a = &ww->arr[i];
			struct stored *old = NULL;
			enum walk_id how;

			if (a->n.name)
				continue;	/* taken in already */
			if (pass == 0) {
				old = nunseen && walk_dev_is_fs(w, a->n.dev)
					? unseen_find(ww, nunseen, &a->n) : NULL;
				how = ID_MOVED;
			} else if (pass == 1) {
				old = a->same ? &ww->stored[a->same - 1] : NULL;
				if (old && old->seen)
					old = NULL;
				how = ID_REPLACED;
			} else if (complete && !w->second_round) {
				continue;	/* parked below */
			} else {
				how = ID_NEW;
			}
			if (pass < 2 && !old)
				continue;
			a->n.name = ww->arr_names + a->name_off;
			if (old)
				old->seen = true;
			if (how == ID_NEW)
				r = take_moved_or_new(w, ww, d, dfd, dirpath, dirpath_len, &a->n);
			else
				r = walk_take_entry(w, ww, d, dfd, dirpath, dirpath_len, &a->n,
						    &old->n, how);
			if (r < 0)
				goto out;
			if (r > 0)
				new_dirs = true;
		}
	}
	r = park(w, ww, d);
out:
	/* The next listing starts with no arrivals, whatever happened to these. */
	ww->narr = ww->arr_names_len = 0;
	if (r < 0)
		return r;
	if (!complete)
		return new_dirs;
	for (size_t i = 0; i < ww->nstored; i++) {
		if (ww->stored[i].seen)
			continue;
		r = moves_add(w->gone, &ww->stored[i].n);
		if (r < 0)
			return r;
		d->deferred = true;
	}
	return new_dirs;
}


void walk_arrivals_free(struct walk *w, struct arrivals *g)
{
	walk_dir_put(w, g->dir);
	free(g->v);
	free(g->names);
	free(g);
}

/* Second round: take in the parked arrivals of one directory (see "Renames"). */
static void task_arrivals(struct task *task, struct task_worker *tw)
{
	struct arrivals *g = container_of(task, struct arrivals, task);
	struct walk *w = g->walk;
	struct walk_worker *ww = walk_worker_state(w, tw);
	struct walk_dir *d = g->dir;
	const char *dirpath = NULL;
	size_t dirpath_len = 0;
	bool new_dirs = false;
	int dfd, r = 0;

	if (ww->error) {
		walk_set_fatal(w, ww->error);
		goto out;
	}
	if (walk_stopping(w))
		goto out;
	dfd = walk_task_dir_open(w, ww, tw, d, &g->task, &g->requeues);
	if (dfd == -EAGAIN)
		return;
	if (dfd < 0)
		goto out;
	ww->nspawn = 0;
	r = walk_entry_dir_path(w, ww, d, &dirpath, &dirpath_len);
	for (size_t i = 0; r >= 0 && i < g->n && !walk_stopping(w); i++) {
		struct arrival *a = &g->v[i];

		a->n.name = g->names + a->name_off;
		r = take_moved_or_new(w, ww, d, dfd, dirpath, dirpath_len, &a->n);
		if (r > 0)
			new_dirs = true;
	}
	if (r >= 0 && ww->ring)
		r = ring_poll(ww->ring, false);
	if (r >= 0 && new_dirs)
		r = store_batch_flush(ww->batch);
	fdcache_unpin(w->fds, &d->fdc);
	walk_spawn_children(w, ww, tw, r);
out:
	atomic_fetch_sub_explicit(&w->stats.pending, 1, memory_order_relaxed);
	walk_arrivals_free(w, g);
}

/* Queue every parked directory for the second round; false if there is none. */
bool walk_submit_parked(struct walk *w)
{
	bool any = false;

	w->second_round = true;
	for (unsigned i = 0; i < w->nworkers; i++) {
		struct walk_worker *ww = &w->workers[i];

		while (ww->parked) {
			struct arrivals *g = ww->parked;

			ww->parked = g->next;
			g->task.fn = task_arrivals;
			atomic_fetch_add_explicit(&w->stats.pending, 1, memory_order_relaxed);
			task_group_submit(w->group, &g->task);
			any = true;
		}
	}
	return any;
}

struct gone_del {
	struct walk *w;
	struct store_batch *batch;
};

static int delete_one(void *ctx, const struct node *n)
{
	struct gone_del *gd = ctx;
	int r = store_batch_del(gd->batch, n->id);

	if (r == 0)
		walk_stat_inc(&gd->w->stats.removed);
	return r;
}

/* Both rounds are over: delete the gone entries nobody took in. */
void walk_delete_gone(struct walk *w)
{
	struct gone_del gd = {w, NULL};
	int r;

	if (!moves_count(w->gone))
		return;
	r = store_batch_new(w->writer, w->opts.job, &gd.batch);
	if (r == 0)
		r = moves_drain(w->gone, delete_one, &gd);
	if (r == 0)
		r = store_batch_flush(gd.batch);
	store_batch_free(gd.batch);
	if (r < 0)
		walk_set_fatal(w, r);
}
