/* SPDX-License-Identifier: MIT */
/*
 * walk.c - the directory walker.
 *
 * Every directory being walked is a struct walk_dir, which is also the task
 * that lists it.  A pending directory holds a counted reference to its
 * parent and its own name, never a path or an open descriptor, so a million
 * pending directories cost about a hundred bytes each:
 *
 *      root ◄── a ◄── a/b ◄── a/b/c        (refs point to the parent)
 *                └─── a/x                  (freed when its last child is done)
 *
 * Listing directory D (on some worker):
 *   1. open D with openat() relative to its parent's descriptor, taken from
 *      the fd cache; if the parent's was evicted, reopen the chain from the
 *      nearest ancestor still open, one component at a time (never through
 *      an absolute path, which breaks past PATH_MAX);
 *   2. unless D is new in this scan, load D's stored children (names, ids,
 *      stat fields) into a sorted array and release the read snapshot;
 *   3. getdents64 in large batches; statx every entry, without following
 *      symlinks; queue a put for entries that are new or whose stat changed;
 *      remember subdirectories to walk.  A settled directory (NODE_F_SETTLED,
 *      node.h) whose stat is unchanged is not listed: its entries are its
 *      stored children, each statx'ed the same way;
 *   4. queue a delete for stored children that are gone;
 *   5. if a new directory was queued, flush this worker's batch *before*
 *      spawning its task, so a child never reaches the index before its
 *      parent (store.h's ordering invariant); then spawn.
 * An unchanged directory thus costs statx + index reads (plus getdents64 if
 * it is not settled) and queues nothing.
 *
 * Settling.  A directory's mtime and ctime move whenever an entry is added,
 * removed or renamed in it, so while they stay the same its stored children
 * are its entries, with two exceptions.  A change within the same timestamp
 * tick as the stat we stored would not move them: a directory is settled
 * only if both are over a second older than the scan's start (any later
 * change then moves them).  And a listing that met an error stored only
 * part of the entries: such a directory is stored again, unsettled, so the
 * next scan lists it and reports the error again.  Only filesystems known to
 * keep directory mtimes qualify (fskind.h); a root is always listed.
 *
 * Hashing (WALK_HASH roots, walk-hash.c): a regular file that is new,
 * changed, or has no full hash yet is queued once its content is read and
 * hashed on this worker's ring.  A file modified within a second of the
 * scan's start is marked racy and hashed again next time, since a later
 * write in the same timestamp tick would not change its stat (git's "racy
 * clean").
 *
 * Renames (walk-renames.c).  An entry is the stored one when its name and
 * its (dev, ino) both match.  Others are arrivals, paired at the end of the
 * listing with gone children of the same directory, or in a second round
 * with entries gone anywhere else in the walk; they keep the identity (node
 * id, hashes, subtree) of what they pair with.
 *
 * Descriptors.  walk_fd_plan() (walk-fds.c) sizes the workers, the reads
 * in flight and the directory cache from what RLIMIT_NOFILE leaves free
 * when the walk starts, so a walk within its plan never meets EMFILE.
 * Should it meet it anyway (ENFILE: the system is out; something else of
 * the process opened files, the plan was overridden for a test), it gives
 * back before it gives up, cheapest first: the idle directories of the
 * cache (which then stays smaller), then the reads in flight on this
 * worker's ring (ring.c itself parks an OPENAT that meets EMFILE while
 * other reads of the ring hold descriptors), then the ring's own
 * (ring_give_back(): io_uring becomes pread; once one worker is starved,
 * every idle ring does so).  A directory that still cannot be opened while
 * other workers may hold descriptors goes back on the pool, and a file's
 * read is submitted again (walk-hash.c), after a yield or a millisecond's
 * sleep (walk_fd_backoff()), up to WALK_EMFILE_RETRIES or
 * READHASH_EMFILE_RETRIES times.  Only what keeps failing is an entry's
 * error.  None of this costs anything until an open fails.
 *
 * Errors on one entry (EACCES, EIO, ENOENT from a race) are reported through
 * the on_error callback and counted; the walk goes on.  A directory that
 * cannot be listed keeps its stored children: we do not know they are gone.
 */
#include "walk.h"
#include "walk-priv.h"

#include "engine.h"
#include "fskind.h"
#include "mountinfo.h"
#include "ident.h"
#include "moves.h"
#include "ring.h"
#include "store.h"
#include "task.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Large enough that a typical directory is listed in one or two calls. */
#define DENTS_BUF (64 * 1024)

/* Everything but atime and btime: what a rescan compares. */
#define STATX_WANT (STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID | \
		    STATX_INO | STATX_SIZE | STATX_BLOCKS | STATX_MTIME | STATX_CTIME)

bool walk_is_excluded(char *const *excludes, size_t nexcludes, const char *name, const char *path)
{
	for (size_t i = 0; i < nexcludes; i++) {
		const char *pat = excludes[i];

		if (strchr(pat, '/')) {
			if (path && fnmatch(pat, path, 0) == 0)
				return true;
		} else if (fnmatch(pat, name, 0) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- directory objects ---------------------------------------------- */

static void task_list_dir(struct task *task, struct task_worker *tw);

static struct walk_dir *dir_new(struct walk_root *root, struct walk_dir *parent, const char *name,
				size_t len, uint64_t id, uint64_t dev, bool fresh)
{
	struct walk_dir *d = malloc(sizeof(*d) + len);

	if (!d)
		return NULL;
	d->task.fn = task_list_dir;
	d->parent = parent;
	d->root = root;
	d->id = id;
	d->dev = dev;
	atomic_init(&d->refs, 1);
	d->fresh = fresh;
	d->mtime_ok = d->settled = d->reuse = d->settle = d->settle_when_hashed = false;
	d->deferred = d->pruned = false;
	d->hashing = 0;
	d->requeues = 0;
	fdcache_entry_init(&d->fdc);
	d->name_len = (uint16_t)len;
	memcpy(d->name, name, len);
	if (parent)
		atomic_fetch_add_explicit(&parent->refs, 1, memory_order_relaxed);
	return d;
}

/* Drop a reference; the last one closes the descriptor and releases the parent. */
void walk_dir_put(struct walk *w, struct walk_dir *d)
{
	while (d && atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1) {
		struct walk_dir *parent = d->parent;

		fdcache_remove(w->fds, &d->fdc);
		free(d);
		d = parent;
	}
}

/*
 * Write the absolute path of @d into *@buf (grown as needed, with room for
 * @extra more bytes); returns its length or -ENOMEM.
 */
ssize_t walk_dir_path(char **buf, size_t *cap, const struct walk_dir *d, size_t extra)
{
	const struct walk_dir *p;
	size_t len = 0, pos;
	char *path;

	for (p = d; p->parent; p = p->parent)
		len += 1 + p->name_len;
	len += p->root->path_len;
	if (GROW(*buf, *cap, len + extra + 2))
		return -ENOMEM;
	path = *buf;
	pos = len;
	for (p = d; p->parent; p = p->parent) {
		pos -= p->name_len;
		memcpy(path + pos, p->name, p->name_len);
		path[--pos] = '/';
	}
	memcpy(path, p->root->path, p->root->path_len);
	/* The root "/" followed by "/name" would double the slash. */
	if (p->root->path_len == 1 && len > 1) {
		memmove(path + 1, path + 2, len - 2);
		len--;
	}
	path[len] = '\0';
	return (ssize_t)len;
}

void walk_report(struct walk *w, struct walk_worker *ww, const struct walk_dir *d,
		 const char *name, size_t name_len, const char *what, int err)
{
	ssize_t len;

	walk_stat_inc(&w->stats.errors);
	if (d == ww->listing)
		ww->listing_failed = true;
	if (!w->opts.on_error)
		return;
	/* Not ww->path: a read completing inside list_dir() may report. */
	len = walk_dir_path(&ww->errpath, &ww->errpath_cap, d, name_len + 1);
	if (len < 0)
		return;
	if (name) {
		if (len > 1)
			ww->errpath[len++] = '/';
		memcpy(ww->errpath + len, name, name_len);
		len += (ssize_t)name_len;
		ww->errpath[len] = '\0';
	}
	w->opts.on_error(w->opts.error_ctx, ww->errpath, (size_t)len, what, err);
}

/* ---- opening directories -------------------------------------------- */

static int open_dir_at(int dirfd, const char *name, size_t len)
{
	char buf[NODE_NAME_MAX + 1];
	int fd;

	memcpy(buf, name, len);
	buf[len] = '\0';
	fd = openat(dirfd, buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* Open a root directory, whose absolute path may be longer than PATH_MAX (a rescan's). */
static int open_root(const struct walk_root *root)
{
	int fd, pfd;

	if (root->path_len < PATH_MAX) {
		fd = open(root->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
		return fd < 0 ? -errno : fd;
	}
	pfd = ident_open_dir(root->path, root->path_len, NULL);
	if (pfd < 0)
		return pfd;
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
	fd = fd < 0 ? -errno : fd;
	close(pfd);
	return fd;
}

/*
 * Open directory @c of a chain, relative to its parent's @pfd (pinned by the
 * caller).  Out of descriptors, give back the idle cached directories, then
 * this worker's reads, and try again after each.
 */
static int open_step(struct walk *w, struct walk_worker *ww, struct walk_dir *c, int pfd)
{
	for (int attempt = 0;; attempt++) {
		int fd;

		if (!c->parent)
			fd = open_root(c->root);
		else
			fd = open_dir_at(pfd, c->name, c->name_len);
		if (fd >= 0 || !walk_is_emfile(fd))
			return fd;
		if (attempt == 0 && fdcache_shrink(w->fds) > 0)
			continue;
		if (attempt <= 1 && walk_drain_reads(w, ww))
			continue;
		if (attempt <= 2 && ring_give_back(ww->ring))
			continue;
		/* The other workers' idle rings give theirs back (engine.c's idle hook). */
		engine_starve(w->engine);
		return fd;
	}
}

/*
 * Return @d's descriptor, pinned.  Reopen from the nearest ancestor whose
 * descriptor is still cached, or from the root's absolute path.
 */
static int dir_open(struct walk *w, struct walk_worker *ww, struct walk_dir *d)
{
	struct walk_dir *chain[64];
	struct walk_dir **stack = chain;
	size_t n = 0, cap = ARRAY_SIZE(chain);
	struct walk_dir *p;
	int fd = -1, r;

	/* Collect the directories to open, nearest first, up to an open one. */
	for (p = d; p; p = p->parent) {
		fd = fdcache_pin(w->fds, &p->fdc);
		if (fd >= 0)
			break;
		if (n == cap) {
			struct walk_dir **ns = malloc(2 * cap * sizeof(*ns));

			if (!ns) {
				r = -ENOMEM;
				goto out;
			}
			memcpy(ns, stack, n * sizeof(*ns));
			if (stack != chain)
				free(stack);
			stack = ns;
			cap *= 2;
		}
		stack[n++] = p;
	}
	/* Open them top-down, caching each one on the way. */
	while (n > 0) {
		struct walk_dir *c = stack[--n];
		int cfd = open_step(w, ww, c, fd);

		if (c->parent)
			fdcache_unpin(w->fds, &c->parent->fdc);
		if (cfd < 0) {
			r = cfd;
			goto out;
		}
		fd = fdcache_insert(w->fds, &c->fdc, cfd);
	}
	r = fd;
out:
	if (stack != chain)
		free(stack);
	return r;
}

/* ---- the stored state of a directory --------------------------------- */

/* Copy @len bytes of @s and a NUL into the arena. */
static int arena_add(struct walk_worker *ww, const char *s, size_t len, size_t *ret_off)
{
	if (GROW(ww->arena, ww->arena_cap, ww->arena_len + len + 1))
		return -ENOMEM;
	memcpy(ww->arena + ww->arena_len, s, len);
	ww->arena[ww->arena_len + len] = '\0';
	*ret_off = ww->arena_len;
	ww->arena_len += len + 1;
	return 0;
}

static int collect_child(void *ctx, const struct store_child *c)
{
	struct walk_worker *ww = ctx;
	struct stored *s;
	int r;

	if (GROW(ww->stored, ww->stored_cap, ww->nstored + 1))
		return -ENOMEM;
	s = &ww->stored[ww->nstored];
	s->n.id = c->id;
	r = arena_add(ww, c->name, c->name_len, &s->name_off);
	if (r < 0)
		return r;
	s->n.name = NULL;
	s->seen = false;
	ww->nstored++;
	return 0;
}

/* Load @d's stored children, sorted by name as LMDB keeps them. */
static int load_stored(struct walk_worker *ww, const struct walk_dir *d)
{
	int r;

	ww->nstored = 0;
	ww->arena_len = 0;
	if (d->fresh)
		return 0;
	r = store_foreach_child(ww->reader, d->id, collect_child, ww);
	if (r == 0 && ww->nstored) {
		if (GROW(ww->reqs, ww->reqs_cap, ww->nstored)) {
			store_reader_pause(ww->reader);
			return -ENOMEM;
		}
		for (size_t i = 0; i < ww->nstored; i++)
			ww->reqs[i] = (struct store_node_req){ww->stored[i].n.id, &ww->stored[i].n};
		r = store_get_nodes(ww->reader, ww->reqs, ww->nstored);
	}
	/* Let the writer grow the map if it must; we copied what we need. */
	store_reader_pause(ww->reader);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ww->nstored; i++)
		ww->stored[i].n.name = ww->arena + ww->stored[i].name_off;
	return 0;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static struct stored *find_stored(struct walk_worker *ww, const char *name, size_t len)
{
	size_t lo = 0, hi = ww->nstored;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct stored *s = &ww->stored[mid];
		int c = name_cmp(name, len, s->n.name, s->n.name_len);

		if (c == 0)
			return s;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- listing -------------------------------------------------------- */

static int spawn_later(struct walk_worker *ww, struct walk_dir *child)
{
	if (GROW(ww->spawn, ww->spawn_cap, ww->nspawn + 1))
		return -ENOMEM;
	ww->spawn[ww->nspawn++] = child;
	return 0;
}

/* Queue the record of @n, taken in as @how. */
int walk_queue_record(struct store_batch *batch, const struct node *n, enum walk_id how)
{
	if (how == ID_MOVED)
		return store_batch_move(batch, n);
	return store_batch_put(batch, n, how == ID_NEW);
}

/*
 * Is directory @n, an entry of @d taken in as @how, to be walked?  Not on
 * another filesystem with WALK_XDEV; below a WALK_ONE_LEVEL root only when
 * the index knows nothing of its entries (new, or another directory now).
 */
static bool walk_descends(const struct walk_root *root, const struct walk_dir *d,
			  const struct node *n, const struct node *old, enum walk_id how)
{
	if ((root->flags & WALK_XDEV) && n->dev != root->dev)
		return false;
	if ((root->flags & WALK_ONE_LEVEL) && !d->parent)
		return how == ID_NEW || how == ID_REPLACED || !S_ISDIR(old->mode);
	return true;
}

/*
 * Take entry @n of @d (open as @dfd, its path @dirpath when needed) into the
 * index as @how, @old being the stored identity it takes (NULL for ID_NEW):
 * queue its record or a read of its content, report it, and remember a
 * directory to walk.  Returns 1 if a new directory was queued, 0, or a fatal
 * error.
 */
int walk_take_entry(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
		    const char *dirpath, size_t dirpath_len, struct node *n,
		    const struct node *old, enum walk_id how)
{
	struct walk_root *root = d->root;
	bool is_dir = S_ISDIR(n->mode), changed, content_changed;
	int r;

	switch (how) {
	case ID_NEW:
		n->id = store_alloc_ids(w->writer, 1);
		changed = content_changed = true;
		walk_stat_inc(&w->stats.added);
		break;
	case ID_SAME:
		n->id = old->id;
		changed = content_changed = !node_stat_equal(n, old) || (old->flags & NODE_F_CHAIN);
		if (changed)
			walk_stat_inc(&w->stats.changed);
		else if (n->blocks != old->blocks) {
			/* Only the allocation moved, or an upgraded index did not keep it. */
			changed = true;
			walk_keep_hashes(n, old);
		}
		break;
	case ID_RELABEL:
		/* Rewritten under the new st_dev, its hashes kept if nothing else moved. */
		n->id = old->id;
		changed = true;
		content_changed = !node_stat_equal(n, old) || (old->flags & NODE_F_CHAIN);
		if (content_changed)
			walk_stat_inc(&w->stats.changed);
		else
			walk_keep_hashes(n, old);
		break;
	case ID_REPLACED:
		n->id = old->id;
		changed = content_changed = true;
		walk_stat_inc(&w->stats.changed);
		break;
	case ID_MOVED:
	default:
		n->id = old->id;
		changed = true;
		/* A rename moves ctime, not the content's size or mtime. */
		content_changed = n->size != old->size || n->mtime_sec != old->mtime_sec ||
				  n->mtime_nsec != old->mtime_nsec;
		if (!content_changed)
			walk_keep_hashes(n, old);
		walk_stat_inc(&w->stats.moved);
		break;
	}
	if (walk_wants_hash(root, n, old, content_changed)) {
		if (n->mtime_sec >= w->opts.start_sec - 1)
			n->flags |= NODE_F_RACY;
		r = walk_hash_file(w, ww, d, dfd, n, how);
		if (r < 0)
			return r;
	} else {
		if (changed) {
			r = walk_queue_record(ww->batch, n, how);
			if (r < 0)
				return r;
		}
		if (w->opts.on_file && S_ISREG(n->mode)) {
			if (!changed)
				walk_keep_hashes(n, old);
			w->opts.on_file(w->opts.file_ctx, (unsigned)(ww - w->workers), root->path,
					dirpath, dirpath_len, n);
		}
	}

	if (is_dir && walk_descends(root, d, n, old, how)) {
		/* A fresh id has no stored children; neither does an old non-directory. */
		bool child_fresh = how == ID_NEW || !S_ISDIR(old->mode);
		struct walk_dir *c = dir_new(root, d, n->name, n->name_len, n->id, n->dev,
					     child_fresh);

		if (!c)
			return -ENOMEM;
		c->mtime_ok = d->mtime_ok && n->dev == d->dev;
		c->settled = !changed && (old->flags & NODE_F_SETTLED);
		c->reuse = c->settled && !(root->flags & WALK_RELIST);
		/* Written without the flag just now; it is set once the listing is stored. */
		c->settle = changed && c->mtime_ok && n->mtime_sec < w->opts.start_sec - 1 &&
			    n->ctime_sec < w->opts.start_sec - 1;
		r = spawn_later(ww, c);
		if (r < 0) {
			walk_dir_put(w, c);
			return r;
		}
		atomic_fetch_add_explicit(&w->stats.pending, 1, memory_order_relaxed);
	}
	return how == ID_NEW && is_dir;
}

/* Handle one directory entry.  Returns 1 if a new directory was queued, 0, or a fatal error. */
static int visit_entry(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
		       const char *name, size_t len, const char *dirpath, size_t dirpath_len)
{
	struct walk_root *root = d->root;
	struct stored *old;
	struct statx stx;
	struct node n;

	if (root->nexcludes) {
		const char *path = NULL;

		if (root->path_excludes) {
			size_t off = dirpath_len > 1 ? dirpath_len + 1 : dirpath_len;

			ww->path[dirpath_len] = '/';
			memcpy(ww->path + off, name, len + 1);
			path = dirpath;
		}
		if (walk_is_excluded(root->excludes, root->nexcludes, name, path))
			return 0;
	}

	if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_WANT, &stx) < 0) {
		int r = -errno;

		if (r == -ENOENT)
			return 0;	/* vanished since getdents: not an error */
		walk_report(w, ww, d, name, len, "cannot stat", r);
		/* Keep what we knew about it rather than forget it. */
		old = find_stored(ww, name, len);
		if (old)
			old->seen = true;
		return 0;
	}

	ident_node_from_statx(&n, &stx);
	n.parent = d->id;
	n.name = name;
	n.name_len = (uint16_t)len;
	if (S_ISDIR(n.mode))
		walk_stat_inc(&w->stats.dirs);
	else
		walk_stat_inc(&w->stats.files);

	old = find_stored(ww, name, len);
	if (walk_same_fs(w, ww, d, dfd, name, old ? old->n.dev : n.dev, n.dev) && old &&
	    old->n.ino == n.ino) {
		struct node o = old->n;

		old->seen = true;
		if (o.dev == n.dev)
			return walk_take_entry(w, ww, d, dfd, dirpath, dirpath_len, &n, &o, ID_SAME);
		/* The same file, its filesystem at another st_dev now (fsdev.h). */
		o.dev = n.dev;
		return walk_take_entry(w, ww, d, dfd, dirpath, dirpath_len, &n, &o, ID_RELABEL);
	}
	if ((S_ISDIR(n.mode) || S_ISREG(n.mode)) && walk_may_pair(w, d))
		return walk_add_arrival(ww, &n, name, len, old);
	if (old) {
		old->seen = true;
		return walk_take_entry(w, ww, d, dfd, dirpath, dirpath_len, &n, &old->n,
				       ID_REPLACED);
	}
	return walk_take_entry(w, ww, d, dfd, dirpath, dirpath_len, &n, NULL, ID_NEW);
}

/* As walk-priv.h says. */
int walk_entry_dir_path(struct walk *w, struct walk_worker *ww, const struct walk_dir *d,
			const char **ret_path, size_t *ret_len)
{
	ssize_t len;

	*ret_path = NULL;
	*ret_len = 0;
	if (!d->root->path_excludes && !w->opts.on_file)
		return 0;
	len = walk_dir_path(&ww->path, &ww->path_cap, d, NODE_NAME_MAX + 2);
	if (len < 0)
		return (int)len;
	*ret_path = ww->path;
	*ret_len = (size_t)len;
	return 0;
}

static int list_dir(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd)
{
	const char *dirpath = NULL;
	size_t dirpath_len = 0;
	bool complete = true, new_dirs = false;
	int r;

	r = walk_entry_dir_path(w, ww, d, &dirpath, &dirpath_len);
	if (r < 0)
		return r;

	/* Its entries are the stored children: stat them, no listing. */
	for (size_t i = 0; d->reuse && !d->pruned && i < ww->nstored; i++) {
		const struct stored *st = &ww->stored[i];

		r = visit_entry(w, ww, d, dfd, st->n.name, st->n.name_len, dirpath, dirpath_len);
		if (r < 0)
			return r;
		if (r > 0)
			new_dirs = true;
		if (walk_stopping(w))
			return 0;
	}
	while (!d->reuse && !d->pruned) {
		long nread = syscall(SYS_getdents64, dfd, ww->dents, DENTS_BUF);

		if (nread == 0)
			break;
		if (nread < 0) {
			walk_report(w, ww, d, NULL, 0, "cannot list", -errno);
			complete = false;
			break;
		}
		for (long off = 0; off < nread;) {
			struct dirent64 *de = (struct dirent64 *)(ww->dents + off);
			const char *name = de->d_name;
			size_t len = strlen(name);

			off += de->d_reclen;
			if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')))
				continue;
			r = visit_entry(w, ww, d, dfd, name, len, dirpath, dirpath_len);
			if (r < 0)
				return r;
			if (r > 0)
				new_dirs = true;
		}
		if (walk_stopping(w))
			return 0;
	}

	r = walk_settle_arrivals(w, ww, d, dfd, dirpath, dirpath_len, complete);
	if (r < 0)
		return r;
	if (r > 0)
		new_dirs = true;
	/* Start the reads this directory queued, and reap what is done. */
	if (ww->ring) {
		r = ring_poll(ww->ring, false);
		if (r < 0)
			return r;
	}
	/* Parents reach the writer before anything inside them can. */
	if (new_dirs)
		return store_batch_flush(ww->batch);
	return 0;
}

/*
 * @d is listed and its changes queued.  Settle it if it was (re)written in
 * this scan and is old enough, once the records of the files being hashed
 * for it are queued too (they are queued by this worker: same batch, after
 * them).  A settled directory whose listing met an error loses the flag, so
 * the next scan lists it and meets the error again.
 */
static int settle(struct walk_worker *ww, struct walk_dir *d)
{
	if (ww->listing_failed || d->deferred)
		return d->settled ? store_batch_settle(ww->batch, d->id, false) : 0;
	if (!d->settle || !d->parent)
		return 0;
	if (d->hashing) {
		d->settle_when_hashed = true;
		return 0;
	}
	return store_batch_settle(ww->batch, d->id, true);
}

struct walk_worker *walk_worker_state(struct walk *w, struct task_worker *tw)
{
	struct walk_worker *ww = &w->workers[task_worker_id(tw)];
	int r;

	if (ww->batch || ww->error)
		return ww;
	ww->dents = malloc(DENTS_BUF);
	if (!ww->dents) {
		r = -ENOMEM;
		goto fail;
	}
	r = store_reader_new(w->store, &ww->reader);
	if (r < 0)
		goto fail;
	r = store_batch_new(w->writer, w->opts.job, &ww->batch);
	if (r < 0)
		goto fail;
	if (w->hashing) {
		r = engine_ring(w->engine, tw, &ww->ring);
		if (r < 0)
			goto fail;
	}
	return ww;
fail:
	ww->error = r;
	return ww;
}

/*
 * Spawn the directories the task just run queued, or drop them if it failed
 * with @r < 0 (then fatal) or the walk is stopping.
 */
void walk_spawn_children(struct walk *w, struct walk_worker *ww, struct task_worker *tw, int r)
{
	if (r < 0)
		walk_set_fatal(w, r);
	for (size_t i = 0; i < ww->nspawn; i++) {
		if (r < 0 || walk_stopping(w)) {
			atomic_fetch_sub_explicit(&w->stats.pending, 1, memory_order_relaxed);
			walk_dir_put(w, ww->spawn[i]);
		} else if (task_spawn(tw, &ww->spawn[i]->task) < 0) {
			walk_set_fatal(w, -ENOMEM);
			atomic_fetch_sub_explicit(&w->stats.pending, 1, memory_order_relaxed);
			walk_dir_put(w, ww->spawn[i]);
		}
	}
	if (r >= 0) {
		uint_fast64_t p = atomic_load_explicit(&w->stats.pending, memory_order_relaxed);
		uint_fast64_t m = atomic_load_explicit(&w->stats.max_pending, memory_order_relaxed);

		if (p > m)
			atomic_store_explicit(&w->stats.max_pending, p, memory_order_relaxed);
	}
}


/*
 * Open @d for @task, the one running on @tw.  Out of descriptors while other
 * workers hold some (they will release them), the task goes back on the pool
 * (*@requeues counts it) and -EAGAIN is returned: the caller just returns.
 * Other errors are reported, fatal or not; a directory that vanished is no
 * error unless it is a root.  Returns the pinned descriptor, or an error.
 */
int walk_task_dir_open(struct walk *w, struct walk_worker *ww, struct task_worker *tw,
		       struct walk_dir *d, struct task *task, uint16_t *requeues)
{
	int dfd;

	if (ww->ring && engine_starved(w->engine))
		ring_give_back(ww->ring);
	dfd = dir_open(w, ww, d);
	if (walk_is_emfile(dfd) && (w->nworkers > 1 || fdcache_open_count(w->fds) > 0) &&
	    *requeues < WALK_EMFILE_RETRIES) {
		walk_fd_backoff((*requeues)++);
		if (task_spawn(tw, task) == 0)
			return -EAGAIN;
		dfd = -ENOMEM; /* not requeued: fatal, below */
	}
	if (dfd == -ENOMEM)
		walk_set_fatal(w, dfd);
	else if (dfd < 0 && (dfd != -ENOENT || !d->parent))
		walk_report(w, ww, d, NULL, 0, "cannot read", dfd);
	return dfd;
}

/*
 * Is the filesystem of @d (open as @dfd), a mount point, of a type its root
 * excludes?  A root is walked whatever it lies on, but a directory walked as
 * a root of its own (a rescan of one directory) is looked at when it lies on
 * another filesystem than its root.  An unknown type is not excluded.
 */
static bool fstype_excluded(struct walk *w, const struct walk_dir *d, int dfd)
{
	dev_t dev = (dev_t)d->dev;
	char type[64];
	struct stat st;

	if (!d->root->nfstypes)
		return false;
	if (!d->parent) {
		if (fstat(dfd, &st) < 0 || st.st_dev == (dev_t)d->root->dev)
			return false;
		dev = st.st_dev;
	}
	if (mount_type(engine_mounts(w->engine), dev, type, sizeof(type)) < 0)
		return false;
	for (size_t i = 0; i < d->root->nfstypes; i++)
		if (fnmatch(d->root->fstypes[i], type, 0) == 0)
			return true;
	return false;
}

static void task_list_dir(struct task *task, struct task_worker *tw)
{
	struct walk_dir *d = container_of(task, struct walk_dir, task);
	struct walk *w = d->root->walk;
	struct walk_worker *ww = walk_worker_state(w, tw);
	int dfd, r;

	if (ww->error) {
		walk_set_fatal(w, ww->error);
		goto out;
	}
	if (walk_stopping(w))
		goto out;
	dfd = walk_task_dir_open(w, ww, tw, d, &d->task, &d->requeues);
	if (dfd == -EAGAIN)
		return;
	if (dfd < 0)
		goto out;

	if (!d->parent || d->dev != d->parent->dev) {
		enum fskind kind = fskind_of(dfd, d->dev, engine_mounts(w->engine));

		/* A mount of proc, sysfs, devtmpfs and the like below the root: list nothing. */
		if (kind == FSKIND_PSEUDO && d->parent && !(d->root->flags & WALK_NO_PRUNE_FS)) {
			fdcache_unpin(w->fds, &d->fdc);
			goto out;
		}
		d->mtime_ok = kind == FSKIND_DIR_MTIME;
		/*
		 * A mount of a type the root excludes: listed as empty, so what was
		 * stored below it goes, and never settled, so that a listing is not
		 * reused once the type is no longer excluded.
		 */
		if (fstype_excluded(w, d, dfd))
			d->pruned = d->deferred = true;
	}

	ww->nspawn = 0;
	ww->listing = d;
	ww->listing_failed = false;
	r = load_stored(ww, d);
	if (r == 0)
		r = list_dir(w, ww, d, dfd);
	if (r == 0 && !walk_stopping(w))
		r = settle(ww, d);
	ww->listing = NULL;
	fdcache_unpin(w->fds, &d->fdc);
	walk_spawn_children(w, ww, tw, r);
out:
	atomic_fetch_sub_explicit(&w->stats.pending, 1, memory_order_relaxed);
	walk_dir_put(w, d);
}


/* ---- the walk as a whole -------------------------------------------- */

int walk_new(struct engine *engine, const struct walk_opts *opts, struct walk **ret_walk)
{
	struct walk *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->engine = engine;
	w->store = engine_store(engine);
	w->writer = engine_writer(engine);
	if (opts)
		w->opts = *opts;
	if (!w->opts.fd_budget) {
		/* A share of the engine's: other walks may be running. */
		unsigned plan = engine_fd_plan(engine)->cache;

		w->fds_taken = engine_fds_take(engine, plan);
		w->opts.fd_budget = w->fds_taken ? w->fds_taken
				    : plan < ENGINE_FDS_FLOOR ? plan : ENGINE_FDS_FLOOR;
		if (!w->opts.fd_budget)
			w->opts.fd_budget = 1;
	}
	r = task_group_new(engine_pool(engine),
			   w->opts.cancel ? w->opts.cancel : engine_cancel(engine), &w->group);
	if (r < 0)
		goto fail;
	/* Stop when the group is cancelled, or whatever it descends from. */
	w->opts.cancel = task_group_cancel_token(w->group);
	w->nworkers = engine_workers(engine);
	w->workers = aligned_alloc(64, sizeof(*w->workers) * w->nworkers);
	if (!w->workers) {
		r = -ENOMEM;
		goto fail;
	}
	memset(w->workers, 0, sizeof(*w->workers) * w->nworkers);
	r = fdcache_new(w->opts.fd_budget, &w->fds);
	if (r < 0)
		goto fail;
	r = moves_new(&w->gone);
	if (r < 0)
		goto fail;
	r = walk_fsdev_load(w);
	if (r < 0)
		goto fail;
	*ret_walk = w;
	return 0;
fail:
	walk_free(w);
	return r;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void root_free(struct walk_root *root)
{
	if (!root)
		return;
	free_list(root->excludes, root->nexcludes);
	free_list(root->fstypes, root->nfstypes);
	free(root->path);
	free(root);
}

/* Copy @n strings of @src into *@dst (never NULL on success), counting them in *@ndst. */
static int copy_list(char ***dst, size_t *ndst, char *const *src, size_t n)
{
	*dst = calloc(n ? n : 1, sizeof(char *));
	if (!*dst)
		return -ENOMEM;
	for (*ndst = 0; *ndst < n; (*ndst)++) {
		(*dst)[*ndst] = strdup(src[*ndst]);
		if (!(*dst)[*ndst])
			return -ENOMEM;
	}
	return 0;
}

int walk_add_root(struct walk *w, const char *path, uint64_t id, bool fresh, uint64_t dev,
		  unsigned flags, const struct walk_filter *filter)
{
	static const struct walk_filter none;
	struct walk_root *root;
	struct walk_dir *d;

	if (!filter)
		filter = &none;
	root = calloc(1, sizeof(*root));
	if (!root)
		return -ENOMEM;
	root->walk = w;
	root->dev = dev;
	root->flags = flags;
	if (flags & WALK_HASH)
		w->hashing = true;
	root->path = strdup(path);
	root->path_len = strlen(path);
	if (!root->path ||
	    copy_list(&root->excludes, &root->nexcludes, filter->excludes, filter->nexcludes) ||
	    copy_list(&root->fstypes, &root->nfstypes, filter->fstypes, filter->nfstypes))
		goto fail;
	for (size_t i = 0; i < root->nexcludes; i++)
		if (strchr(root->excludes[i], '/'))
			root->path_excludes = true;
	d = dir_new(root, NULL, "", 0, id, dev, fresh);
	if (!d)
		goto fail;
	if (GROW(w->roots, w->roots_cap, w->nroots + 1) ||
	    GROW(w->root_dirs, w->root_dirs_cap, w->nroots + 1))
		goto fail_dir;
	w->roots[w->nroots] = root;
	w->root_dirs[w->nroots] = d;
	w->nroots++;
	return 0;
fail_dir:
	free(d);
fail:
	root_free(root);
	return -ENOMEM;
}

/* Wait until every task and read of the walk is done, then hand every batch to the writer. */
static int run_round(struct walk *w)
{
	int r = 0;

	task_group_wait(w->group);
	for (unsigned i = 0; i < w->nworkers; i++) {
		struct walk_worker *ww = &w->workers[i];

		if (ww->batch) {
			int fr = store_batch_flush(ww->batch);

			if (fr < 0)
				walk_set_fatal(w, fr);
		}
	}
	return r;
}


int walk_run(struct walk *w)
{
	int r;

	for (size_t i = 0; i < w->nroots; i++) {
		atomic_fetch_add_explicit(&w->stats.pending, 1, memory_order_relaxed);
		task_group_submit(w->group, &w->root_dirs[i]->task);
	}
	/* The root directories belong to their tasks from here on. */
	free(w->root_dirs);
	w->root_dirs = NULL;

	r = run_round(w);
	/* Every listed directory has said what it lost: take in the arrivals. */
	if (r == 0 && !walk_stopping(w) && walk_submit_parked(w))
		r = run_round(w);
	if (r == 0 && !walk_stopping(w))
		walk_delete_gone(w);
	if (atomic_load(&w->fatal))
		return atomic_load(&w->fatal);
	if (r < 0)
		return r;
	if (cancel_requested(w->opts.cancel))
		return -ECANCELED;
	return 0;
}

struct walk_stats *walk_stats(struct walk *w)
{
	return &w->stats;
}

void walk_free(struct walk *w)
{
	if (!w)
		return;
	if (w->root_dirs) {
		/* Added but never run. */
		for (size_t i = 0; i < w->nroots; i++)
			free(w->root_dirs[i]);
		free(w->root_dirs);
	}
	for (size_t i = 0; i < w->nroots; i++)
		root_free(w->roots[i]);
	free(w->roots);
	if (w->workers) {
		for (unsigned i = 0; i < w->nworkers; i++) {
			struct walk_worker *ww = &w->workers[i];

			walk_hash_free_reqs(ww);
			store_batch_free(ww->batch);
			store_reader_free(ww->reader);
			free(ww->dents);
			free(ww->stored);
			free(ww->reqs);
			free(ww->arena);
			free(ww->spawn);
			free(ww->path);
			free(ww->errpath);
			free(ww->filepath);
			free(ww->arr);
			free(ww->arr_names);
			free(ww->unseen);
			while (ww->parked) {
				struct arrivals *g = ww->parked;

				ww->parked = g->next;
				walk_arrivals_free(w, g);
			}
		}
		free(w->workers);
	}
	moves_free(w->gone);
	walk_fsdev_free(w);
	fdcache_free(w->fds);
	engine_fds_give(w->engine, w->fds_taken);
	task_group_free(w->group);
	free(w);
}
