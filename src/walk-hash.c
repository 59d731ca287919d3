/* SPDX-License-Identifier: MIT */
/*
 * walk-hash.c - the walker's content reads (WALK_HASH roots).
 *
 * A regular file that is new, changed, or has no full hash yet is not
 * queued at once: walk_hash_file() starts a read of it on this worker's
 * ring (readhash.h), holding a reference and a descriptor pin on its
 * directory.  The completion, reaped by the same worker between tasks or in
 * the pool's idle hook, queues the record with the three digests, or
 * without them if the file could not be read or changed while it was (a
 * later scan tries again), then lets its directory settle once its last
 * file is queued (walk.c, settle()).
 *
 * Out of descriptors with none of this ring's reads in flight (ring.c waits
 * for those itself), a read gives back the idle directories of the cache or
 * lets the other workers close theirs, and goes again at once: waiting here
 * keeps only the pin of the directory this worker reads in, where a list of
 * reads to retry later would keep one per directory it moved on from.
 */
#include "walk-priv.h"

#include "engine.h"
#include "readhash.h"
#include "ring.h"
#include "store.h"
#include "task.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A file whose content is being read and hashed. */
struct walk_hash_req {
	struct readhash rh;
	struct walk *walk;
	struct walk_worker *ww;
	struct walk_dir *dir;		/* reference and fd pin held until done */
	struct walk_hash_req *next_free;
	struct node n;			/* n.name points to name[] */
	enum walk_id how;
	char name[NODE_NAME_MAX + 1];
};

static void hash_done(struct readhash *rh, int result);
static enum readhash_emfile hash_emfile(struct readhash *rh, unsigned tries);

static struct walk_hash_req *req_get(struct walk *w, struct walk_worker *ww)
{
	struct walk_hash_req *req = ww->free_reqs;

	if (req) {
		ww->free_reqs = req->next_free;
		return req;
	}
	req = malloc(sizeof(*req));
	if (!req)
		return NULL;
	if (readhash_init(&req->rh) < 0) {
		free(req);
		return NULL;
	}
	req->walk = w;
	req->ww = ww;
	return req;
}

static void req_put(struct walk_hash_req *req)
{
	req->next_free = req->ww->free_reqs;
	req->ww->free_reqs = req;
}

void walk_hash_free_reqs(struct walk_worker *ww)
{
	while (ww->free_reqs) {
		struct walk_hash_req *req = ww->free_reqs;

		ww->free_reqs = req->next_free;
		readhash_destroy(&req->rh);
		free(req);
	}
}

static enum readhash_emfile hash_emfile(struct readhash *rh, unsigned tries)
{
	struct walk_hash_req *req = container_of(rh, struct walk_hash_req, rh);
	struct walk *w = req->walk;

	engine_starve(w->engine);
	if (fdcache_shrink(w->fds) == 0)
		walk_fd_backoff(tries);
	return READHASH_NOW;
}

static void hash_done(struct readhash *rh, int result)
{
	struct walk_hash_req *req = container_of(rh, struct walk_hash_req, rh);
	struct walk *w = req->walk;
	struct walk_worker *ww = req->ww;
	struct task_group *group = w->group;
	struct hash128 head, tail, full;
	int r;

	if (result == 0) {
		readhash_digests(rh, &head, &tail, &full);
		memcpy(req->n.head, head.b, sizeof(head.b));
		memcpy(req->n.tail, tail.b, sizeof(tail.b));
		memcpy(req->n.full, full.b, sizeof(full.b));
		req->n.hash_state = NODE_HASH_FULL;
		atomic_fetch_add_explicit(&w->stats.hashed, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->stats.hashed_bytes, req->n.size,
					  memory_order_relaxed);
	} else {
		/* Stored without a hash; a later scan tries again. */
		walk_report(w, ww, req->dir, req->name, req->n.name_len,
			    result == -ESTALE ? "cannot hash" : "cannot read", result);
	}
	r = walk_queue_record(ww->batch, &req->n, req->how);
	/* The directory's last file is queued: its settling may follow it. */
	if (r == 0 && --req->dir->hashing == 0 && req->dir->settle_when_hashed)
		r = store_batch_settle(ww->batch, req->dir->id, true);
	if (r < 0)
		walk_set_fatal(w, r);
	if (w->opts.on_file) {
		ssize_t len = walk_dir_path(&ww->filepath, &ww->filepath_cap, req->dir, 0);

		if (len >= 0)
			w->opts.on_file(w->opts.file_ctx, (unsigned)(ww - w->workers),
					req->dir->root->path, ww->filepath, (size_t)len, &req->n);
	}
	fdcache_unpin(w->fds, &req->dir->fdc);
	walk_dir_put(w, req->dir);
	req_put(req);
	/* The last touch of the walk: once released, its waiter may free it. */
	task_group_release(group);
}

int walk_hash_file(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
		   const struct node *n, enum walk_id how)
{
	struct walk_hash_req *req = req_get(w, ww);

	if (!req)
		return -ENOMEM;
	req->n = *n;
	req->how = how;
	memcpy(req->name, n->name, n->name_len);
	req->name[n->name_len] = '\0';
	req->n.name = req->name;
	req->dir = d;
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	fdcache_pin(w->fds, &d->fdc);
	d->hashing++;

	req->rh.dirfd = dfd;
	req->rh.name = req->name;
	ident_from_node(&req->rh.id, n);
	req->rh.uid = n->uid;
	req->rh.offset = 0;
	req->rh.length = n->size;
	req->rh.on_done = hash_done;
	req->rh.on_emfile = hash_emfile;
	/* Whatever happens, hash_done() queues the record (without a hash on error). */
	task_group_hold(w->group);
	readhash_start(ww->ring, &req->rh);
	return 0;
}

bool walk_wants_hash(const struct walk_root *root, const struct node *n, const struct node *old,
		     bool content_changed)
{
	if (!(root->flags & WALK_HASH) || !S_ISREG(n->mode))
		return false;
	return !old || content_changed || old->hash_state != NODE_HASH_FULL ||
	       (old->flags & NODE_F_RACY);
}

void walk_keep_hashes(struct node *n, const struct node *old)
{
	n->hash_state = old->hash_state;
	memcpy(n->head, old->head, sizeof(n->head));
	memcpy(n->tail, old->tail, sizeof(n->tail));
	memcpy(n->full, old->full, sizeof(n->full));
}

bool walk_drain_reads(struct walk *w, struct walk_worker *ww)
{
	bool any = false;

	while (ww->ring && ring_inflight(ww->ring) > 0) {
		int r = ring_poll(ww->ring, true);

		if (r < 0) {
			walk_set_fatal(w, r);
			break;
		}
		any = true;
	}
	return any;
}

