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
 * keep directory mtimes qualify (fs_kind()); a root is always listed.
 *
 * Hashing (WALK_HASH roots): a regular file that is new, changed, or has no
 * full hash yet is not queued at once; a read of its content goes on this
 * worker's ring instead, holding a reference and a descriptor pin on its
 * directory.  The completion (reaped by the same worker, between tasks or in
 * the pool's idle hook) hashes the stream and queues the record, hashes
 * included.  A file that changes while it is read gets no hash.  A file
 * modified within a second of the scan's start is marked racy and hashed
 * again next time, since a later write in the same timestamp tick would not
 * change its stat (git's "racy clean").
 *
 * Renames.  An entry is the stored one when its name and its (dev, ino)
 * both match.  A directory or regular file found under a name that was not
 * stored, or that held another inode, is an arrival; a stored child no
 * longer found is gone.  At the end of a complete listing, arrivals take
 * the identity of a gone child with the same (dev, ino) (a rename inside the
 * directory), then of the child stored under their own name (replaced on
 * disk: today's rewrite).  What is left waits for the rest of the walk:
 * arrivals are parked with their directory, gone children go into a table
 * keyed by (dev, ino) (moves.c), and the directory is not settled this scan.
 * When the first round is over every listed directory has reported what it
 * lost, so a second round pairs each parked arrival with the gone entry of
 * its (dev, ino), if any, and takes it in: a moved file keeps its node id
 * and its hashes (size and mtime unchanged: a rename changes ctime), a moved
 * directory its id and its stored subtree, which is then walked as any
 * stored directory.  Directories first walked in the second round pair
 * their entries with the table too.  Gone entries nobody took are deleted
 * once both rounds are over.  A removed subtree is one gone entry, its top,
 * so a file moved out of a directory that was then removed is indexed anew.
 *
 * Descriptors.  walk_fd_plan() sizes the workers, the reads in flight and
 * the directory cache from what RLIMIT_NOFILE leaves free when the walk
 * starts, so a walk within its plan never meets EMFILE.  Should it meet it
 * anyway (ENFILE: the system is out; something else of the process opened
 * files, the plan was overridden for a test), it gives back before it
 * gives up, cheapest first: the idle directories of the cache (which then
 * stays smaller), then the reads in flight on this worker's ring (ring.c
 * itself parks an OPENAT that meets EMFILE while other reads of the ring
 * hold descriptors), then the ring's own two (ring_give_back(): io_uring
 * becomes pread; once one worker is starved, every idle ring does so).  A
 * directory that still cannot be opened while other workers may hold
 * descriptors goes back on the pool, and a file's read is submitted again,
 * after a yield or a millisecond's sleep, up to EMFILE_RETRIES times.  Only
 * what keeps failing is an entry's error.  None of this costs anything
 * until an open fails.
 *
 * Errors on one entry (EACCES, EIO, ENOENT from a race) are reported through
 * the on_error callback and counted; the walk goes on.  A directory that
 * cannot be listed keeps its stored children: we do not know they are gone.
 */
#include "walk.h"

#include "cancel.h"
#include "fdcache.h"
#include "hash.h"
#include "mountinfo.h"
#include "moves.h"
#include "node.h"
#include "ring.h"
#include "store.h"
#include "task.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Large enough that a typical directory is listed in one or two calls. */
#define DENTS_BUF (64 * 1024)
#define DEFAULT_FD_BUDGET 1024
/* The soft RLIMIT_NOFILE is raised toward the hard one up to this (walk_fds_free()). */
#define FD_RAISE_MAX 65536
/* Descriptors walk_fds_free() looks at: the plan caps the cache at 1024 anyway. */
#define FD_COUNT_MAX 4096
/*
 * Times a directory that met EMFILE goes back on the pool, or a file's read
 * is submitted again, while other workers may hold descriptors: they finish
 * a listing or a read within microseconds to milliseconds (backoff()).
 */
#define EMFILE_RETRIES 1000

/* Everything but atime and btime: what a rescan compares. */
#define STATX_WANT (STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID | \
		    STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME)

struct walk_root {
	struct walk *walk;
	char *path;
	size_t path_len;
	uint64_t dev;
	unsigned flags;
	char **excludes;
	size_t nexcludes;
	bool path_excludes;		/* some pattern has a '/' */
};

struct walk_dir {
	struct task task;
	struct walk_dir *parent;	/* counted reference; NULL for a root */
	struct walk_root *root;
	uint64_t id;
	uint64_t dev;
	atomic_uint refs;		/* own task + one per live child */
	/* Written before the task is queued, or by its own worker only. */
	bool fresh : 1;			/* new in this scan: nothing stored below */
	bool mtime_ok : 1;		/* its filesystem keeps directory mtimes */
	bool settled : 1;		/* unchanged, and its record says NODE_F_SETTLED */
	bool reuse : 1;			/* ...so its stored children are its entries */
	bool settle : 1;		/* (re)written this scan and old enough to settle */
	bool settle_when_hashed : 1;	/* listed cleanly: settle once its files are hashed */
	bool deferred : 1;		/* parked arrivals or gone children: do not settle */
	uint16_t name_len;
	uint16_t requeues;		/* times its open met EMFILE and it went back on the pool */
	unsigned hashing;		/* its files being read (by the listing worker) */
	struct fdcache_entry fdc;
	char name[];
};

/* A stored child of the directory being listed. */
struct stored {
	struct node n;			/* n.name points into the worker's arena... */
	size_t name_off;		/* ...at this offset (the arena may move) */
	bool seen;
};

/* How a listed entry relates to what is stored (see "Renames" above). */
enum ident {
	ID_SAME,	/* its name's stored entry, same inode */
	ID_NEW,		/* nothing stored is it: a fresh id */
	ID_REPLACED,	/* another inode under a stored name: that id, rewritten */
	ID_MOVED,	/* a stored entry of the same inode, under another name or parent */
};

/* A listed directory or regular file whose stored identity is not settled yet. */
struct arrival {
	struct node n;			/* as stat'ed; n.name is set when it is taken in */
	size_t name_off;		/* into the worker's arrival names, or a group's */
	size_t same;			/* 1 + index of the stored child of its name, or 0 */
};

/* Arrivals of one directory parked for the second round; also its task. */
struct arrivals {
	struct task task;
	struct walk *walk;
	struct arrivals *next;
	struct walk_dir *dir;		/* counted reference */
	uint16_t requeues;		/* queued again after EMFILE */
	size_t n;
	struct arrival *v;
	char *names;
};

/* A file whose content is being read and hashed. */
struct hash_req {
	struct walk *walk;
	struct walk_worker *ww;
	struct walk_dir *dir;		/* reference and fd pin held until done */
	struct hash_req *next_free;
	struct hash_file hf;
	struct node n;			/* n.name points to name[] */
	enum ident how;
	uint16_t retries;		/* submitted again after EMFILE */
	uint8_t tick_retries;		/* ...after RING_E_TICK */
	int dfd;
	char name[NODE_NAME_MAX + 1];
};

/* Reads in flight per worker: the disk wants a deep queue (DESIGN.md, Ring). */
#define HASH_DEPTH 16

/* Per-worker scratch state, reused from one directory to the next. */
struct walk_worker {
	struct ring *ring;		/* content reads, WALK_HASH only */
	struct hash_req *free_reqs;
	struct store_reader *reader;
	struct store_batch *batch;
	char *dents;
	struct stored *stored;
	size_t nstored, stored_cap;
	struct store_node_req *reqs; /* reading the stored children's nodes */
	size_t reqs_cap;
	char *arena;
	size_t arena_len, arena_cap;
	struct walk_dir **spawn;
	size_t nspawn, spawn_cap;
	char *path;			/* path of the directory, built on demand */
	size_t path_cap;
	char *errpath;			/* path of an entry being reported */
	size_t errpath_cap;
	char *filepath;			/* directory of a hashed file, for on_file */
	size_t filepath_cap;
	struct arrival *arr;		/* arrivals of the directory being listed */
	size_t narr, arr_cap;
	char *arr_names;
	size_t arr_names_len, arr_names_cap;
	size_t *unseen;			/* indexes of gone stored children, by (dev, ino) */
	size_t unseen_cap;
	struct arrivals *parked;	/* this worker's parked directories */
	const struct walk_dir *listing;	/* the directory being listed... */
	bool listing_failed;		/* ...and whether an entry of it was reported */
	int error;			/* -ENOMEM during setup */
} __attribute__((aligned(64)));

struct walk {
	struct store *store;
	struct store_writer *writer;
	struct task_pool *pool;
	struct walk_opts opts;
	struct fdcache *fds;
	struct walk_worker *workers;
	unsigned nworkers;
	struct walk_root **roots;
	size_t nroots;
	struct walk_dir **root_dirs;
	bool hashing;			/* some root has WALK_HASH */
	bool second_round;		/* parked arrivals are being taken in */
	struct moves *gone;		/* vanished entries, by (dev, ino) */
	atomic_bool starved;		/* an open met EMFILE with nothing left to give back */
	atomic_int fatal;		/* first fatal error (negative) */
	struct walk_stats stats;
};

static void stat_inc(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void set_fatal(struct walk *w, int err)
{
	int expected = 0;

	atomic_compare_exchange_strong(&w->fatal, &expected, err);
}

static bool stopping(struct walk *w)
{
	return atomic_load_explicit(&w->fatal, memory_order_relaxed) ||
	       cancel_requested(w->opts.cancel);
}

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
	d->deferred = false;
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
static void dir_put(struct walk *w, struct walk_dir *d)
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
static ssize_t dir_path(char **buf, size_t *cap, const struct walk_dir *d, size_t extra)
{
	const struct walk_dir *p;
	size_t len = 0, pos;
	char *path;

	for (p = d; p->parent; p = p->parent)
		len += 1 + p->name_len;
	len += p->root->path_len;
	if (len + extra + 2 > *cap) {
		size_t ncap = (len + extra + 2) * 2;
		char *np = realloc(*buf, ncap);

		if (!np)
			return -ENOMEM;
		*buf = np;
		*cap = ncap;
	}
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

static void report(struct walk *w, struct walk_worker *ww, const struct walk_dir *d,
		   const char *name, size_t name_len, const char *what, int err)
{
	ssize_t len;

	stat_inc(&w->stats.errors);
	if (d == ww->listing)
		ww->listing_failed = true;
	if (!w->opts.on_error)
		return;
	/* Not ww->path: a read completing inside list_dir() may report. */
	len = dir_path(&ww->errpath, &ww->errpath_cap, d, name_len + 1);
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

static inline bool is_emfile(int err)
{
	return err == -EMFILE || err == -ENFILE;
}

/* Let other workers close a descriptor: yield at first, then sleep a millisecond. */
static void backoff(unsigned tries)
{
	if (tries < 100)
		sched_yield();
	else
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

/* Wait for every read in flight on @ww's ring: each holds a descriptor or two. */
static bool drain_reads(struct walk *w, struct walk_worker *ww)
{
	bool any = false;

	while (ww->ring && ring_inflight(ww->ring) > 0) {
		int r = ring_poll(ww->ring, true);

		if (r < 0) {
			set_fatal(w, r);
			break;
		}
		any = true;
	}
	return any;
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

		if (!c->parent) {
			fd = open(c->root->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
			if (fd < 0)
				fd = -errno;
		} else {
			fd = open_dir_at(pfd, c->name, c->name_len);
		}
		if (fd >= 0 || !is_emfile(fd))
			return fd;
		if (attempt == 0 && fdcache_shrink(w->fds) > 0)
			continue;
		if (attempt <= 1 && drain_reads(w, ww))
			continue;
		if (attempt <= 2 && ring_give_back(ww->ring))
			continue;
		/* The other workers' idle rings give theirs back (task_list_dir(), walk_idle()). */
		atomic_store_explicit(&w->starved, true, memory_order_relaxed);
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
	if (ww->arena_len + len + 1 > ww->arena_cap) {
		size_t cap = (ww->arena_len + len + 1) * 2 + 4096;
		char *na = realloc(ww->arena, cap);

		if (!na)
			return -ENOMEM;
		ww->arena = na;
		ww->arena_cap = cap;
	}
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

	if (ww->nstored == ww->stored_cap) {
		size_t cap = ww->stored_cap ? ww->stored_cap * 2 : 256;
		struct stored *ns = realloc(ww->stored, cap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		ww->stored = ns;
		ww->stored_cap = cap;
	}
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
		if (ww->nstored > ww->reqs_cap) {
			struct store_node_req *nr = reallocarray(ww->reqs, ww->stored_cap, sizeof(*nr));

			if (!nr) {
				store_reader_pause(ww->reader);
				return -ENOMEM;
			}
			ww->reqs = nr;
			ww->reqs_cap = ww->stored_cap;
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

static void node_from_statx(struct node *n, const struct statx *stx)
{
	memset(n, 0, sizeof(*n));
	n->dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	n->ino = stx->stx_ino;
	n->mode = stx->stx_mode;
	n->nlink = stx->stx_nlink;
	n->uid = stx->stx_uid;
	n->gid = stx->stx_gid;
	n->size = stx->stx_size;
	n->mtime_sec = stx->stx_mtime.tv_sec;
	n->mtime_nsec = stx->stx_mtime.tv_nsec;
	n->ctime_sec = stx->stx_ctime.tv_sec;
	n->ctime_nsec = stx->stx_ctime.tv_nsec;
}

enum fs_kind {
	FS_OTHER,
	FS_PSEUDO,	/* nothing to find there: pruned */
	FS_DIR_MTIME,	/* local, keeps directory mtimes: listings may be reused */
};

/*
 * What filesystem is @fd (of device @dev) on?  Pseudo filesystems are the
 * ones updatedb.conf prunes by default, and devtmpfs.  Directory mtimes are
 * trusted only on local disk filesystems and tmpfs: a network filesystem may
 * serve a cached mtime, FUSE and overlay may not update it at all.
 */
static enum fs_kind fs_kind(int fd, dev_t dev)
{
	static const long pseudo[] = {
		PROC_SUPER_MAGIC, SYSFS_MAGIC, DEVPTS_SUPER_MAGIC, CGROUP_SUPER_MAGIC,
		CGROUP2_SUPER_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC, SECURITYFS_MAGIC,
		PSTOREFS_MAGIC, BPF_FS_MAGIC, BINFMTFS_MAGIC, NSFS_MAGIC, SELINUX_MAGIC,
		0x62656570 /* configfs */, 0x65735543 /* fusectl */, 0x19800202 /* mqueue */,
		0x6e736673 /* nsfs */, 0x64626720 /* debugfs */, EFIVARFS_MAGIC,
	};
	static const long dir_mtime[] = {
		EXT4_SUPER_MAGIC /* ext2, ext3 too */, XFS_SUPER_MAGIC, BTRFS_SUPER_MAGIC,
		F2FS_SUPER_MAGIC, 0x2fc12fc1 /* zfs */, 0xca451a4e /* bcachefs */,
	};
	struct statfs sfs;
	char type[16];

	if (fstatfs(fd, &sfs) < 0)
		return FS_OTHER;
	for (size_t i = 0; i < ARRAY_SIZE(pseudo); i++)
		if ((long)sfs.f_type == pseudo[i])
			return FS_PSEUDO;
	for (size_t i = 0; i < ARRAY_SIZE(dir_mtime); i++)
		if ((long)sfs.f_type == dir_mtime[i])
			return FS_DIR_MTIME;
	if (sfs.f_type != TMPFS_MAGIC)
		return FS_OTHER;
	/*
	 * devtmpfs says it is tmpfs; only the mount table tells them apart.  A
	 * device it does not list (in a chroot, the filesystem its "/" lies on)
	 * is taken for tmpfs, as a build chroot's root on tmpfs is; a devtmpfs
	 * mounted inside, as /dev is, has its line.
	 */
	if (mountinfo_fstype("/proc/self/mountinfo", dev, type, sizeof(type)) == 0 &&
	    strcmp(type, "devtmpfs") == 0)
		return FS_PSEUDO;
	return FS_DIR_MTIME;
}

static int spawn_later(struct walk_worker *ww, struct walk_dir *child)
{
	if (ww->nspawn == ww->spawn_cap) {
		size_t cap = ww->spawn_cap ? ww->spawn_cap * 2 : 64;
		struct walk_dir **ns = realloc(ww->spawn, cap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		ww->spawn = ns;
		ww->spawn_cap = cap;
	}
	ww->spawn[ww->nspawn++] = child;
	return 0;
}

/* ---- hashing -------------------------------------------------------- */

static struct hash_req *req_get(struct walk *w, struct walk_worker *ww)
{
	struct hash_req *req = ww->free_reqs;

	if (req) {
		ww->free_reqs = req->next_free;
		return req;
	}
	req = malloc(sizeof(*req));
	if (!req)
		return NULL;
	if (hash_state_new(&req->hf.full) < 0) {
		free(req);
		return NULL;
	}
	req->walk = w;
	req->ww = ww;
	return req;
}

static void req_put(struct hash_req *req)
{
	req->next_free = req->ww->free_reqs;
	req->ww->free_reqs = req;
}

static void hash_data(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct hash_req *req = ctx;

	hash_file_update(&req->hf, buf, len, off);
}

/* Queue the record of @n, taken in as @how. */
static int queue_record(struct store_batch *batch, const struct node *n, enum ident how)
{
	if (how == ID_MOVED)
		return store_batch_move(batch, n);
	return store_batch_put(batch, n, how == ID_NEW);
}

static int submit_read(struct walk_worker *ww, struct hash_req *req);

static void hash_done(void *ctx, int result)
{
	struct hash_req *req = ctx;
	struct walk *w = req->walk;
	struct walk_worker *ww = req->ww;
	struct hash128 head, tail, full;
	int r;

	/*
	 * Out of descriptors with none of this ring's in flight (ring.c waits
	 * for those itself): give back the idle directories, let the other
	 * workers close theirs, and read it again.  Waiting here keeps only the
	 * pin of the directory this worker reads in; a list of reads to retry
	 * later would keep one per directory it moved on from.
	 */
	if (is_emfile(result) && req->retries < EMFILE_RETRIES) {
		atomic_store_explicit(&w->starved, true, memory_order_relaxed);
		if (fdcache_shrink(w->fds) == 0)
			backoff(req->retries);
		req->retries++;
		hash_file_begin(&req->hf, req->n.size);
		r = submit_read(ww, req);
		if (r == 0)
			return;
		result = r;
	}
	/* Modified in the clock tick its read began in: once more when it is over. */
	if (result == RING_E_TICK && req->tick_retries < RING_TICK_RETRIES) {
		req->tick_retries++;
		ring_wait_tick();
		hash_file_begin(&req->hf, req->n.size);
		r = submit_read(ww, req);
		if (r == 0)
			return;
		result = r;
	}
	if (result == RING_E_TICK)
		result = -ESTALE;	/* still being written: changed while read */
	if (result == 0) {
		hash_file_end(&req->hf, &head, &tail, &full);
		memcpy(req->n.head, head.b, sizeof(head.b));
		memcpy(req->n.tail, tail.b, sizeof(tail.b));
		memcpy(req->n.full, full.b, sizeof(full.b));
		req->n.hash_state = NODE_HASH_FULL;
		atomic_fetch_add_explicit(&w->stats.hashed, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->stats.hashed_bytes, req->n.size,
					  memory_order_relaxed);
	} else {
		/* Stored without a hash; a later scan tries again. */
		report(w, ww, req->dir, req->name, req->n.name_len,
		       result == -ESTALE ? "cannot hash" : "cannot read",
		       result);
	}
	r = queue_record(ww->batch, &req->n, req->how);
	/* The directory's last file is queued: its settling may follow it. */
	if (r == 0 && --req->dir->hashing == 0 && req->dir->settle_when_hashed)
		r = store_batch_settle(ww->batch, req->dir->id, true);
	if (r < 0)
		set_fatal(w, r);
	if (w->opts.on_file) {
		ssize_t len = dir_path(&ww->filepath, &ww->filepath_cap, req->dir, 0);

		if (len >= 0)
			w->opts.on_file(w->opts.file_ctx, (unsigned)(ww - w->workers),
					req->dir->root->path, ww->filepath, (size_t)len, &req->n);
	}
	fdcache_unpin(w->fds, &req->dir->fdc);
	dir_put(w, req->dir);
	req_put(req);
}

/*
 * Queue a read of regular file @n (named @name in @d, open as @dfd) whose
 * record is queued as @how once it is hashed.  Returns 0, or a fatal error.
 */
static int hash_file(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
		     const struct node *n, enum ident how)
{
	struct hash_req *req = req_get(w, ww);
	int r;

	if (!req)
		return -ENOMEM;
	req->n = *n;
	req->how = how;
	memcpy(req->name, n->name, n->name_len);
	req->name[n->name_len] = '\0';
	req->n.name = req->name;
	hash_file_begin(&req->hf, n->size);
	req->retries = req->tick_retries = 0;
	req->dfd = dfd;
	req->dir = d;
	atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
	fdcache_pin(w->fds, &d->fdc);
	d->hashing++;

	r = submit_read(ww, req);
	if (r < 0)
		hash_done(req, r);	/* stored without a hash, error named */
	return 0;
}

/* Queue the read of @req's file on @ww's ring.  Returns 0 or -errno (on_done not called). */
static int submit_read(struct walk_worker *ww, struct hash_req *req)
{
	const struct node *n = &req->n;
	struct ring_read rd = {
		.dirfd = req->dfd,
		.name = req->name,
		.dev = n->dev,
		.ino = n->ino,
		.size = n->size,
		.mtime_sec = n->mtime_sec,
		.mtime_nsec = n->mtime_nsec,
		.uid = n->uid,
		.offset = 0,
		.length = n->size,
		.on_data = hash_data,
		.on_done = hash_done,
		.ctx = req,
	};

	return ring_submit(ww->ring, &rd);
}

/* Does regular file @n, stored as @old (or new), need its content hashed? */
static bool wants_hash(const struct walk_root *root, const struct node *n,
		       const struct node *old, bool content_changed)
{
	if (!(root->flags & WALK_HASH) || !S_ISREG(n->mode))
		return false;
	return !old || content_changed || old->hash_state != NODE_HASH_FULL ||
	       (old->flags & NODE_F_RACY);
}

/* Give @n the hashes of @old, whose content it has. */
static void keep_hashes(struct node *n, const struct node *old)
{
	n->hash_state = old->hash_state;
	memcpy(n->head, old->head, sizeof(n->head));
	memcpy(n->tail, old->tail, sizeof(n->tail));
	memcpy(n->full, old->full, sizeof(n->full));
}

/* The pool's idle hook: a worker with reads in flight waits for them. */
static bool walk_idle(void *ctx, struct task_worker *tw)
{
	struct walk *w = ctx;
	struct walk_worker *ww = &w->workers[task_worker_id(tw)];
	int r;

	if (atomic_load_explicit(&w->starved, memory_order_relaxed))
		ring_give_back(ww->ring);
	r = ring_idle(ww->ring);
	if (r < 0)
		set_fatal(w, r);
	return r > 0;
}

/*
 * Take entry @n of @d (open as @dfd, its path @dirpath when needed) into the
 * index as @how, @old being the stored identity it takes (NULL for ID_NEW):
 * queue its record or a read of its content, report it, and remember a
 * directory to walk.  Returns 1 if a new directory was queued, 0, or a fatal
 * error.
 */
static int take_entry(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
		      const char *dirpath, size_t dirpath_len, struct node *n,
		      const struct node *old, enum ident how)
{
	struct walk_root *root = d->root;
	bool is_dir = S_ISDIR(n->mode), changed, content_changed;
	int r;

	switch (how) {
	case ID_NEW:
		n->id = store_alloc_ids(w->writer, 1);
		changed = content_changed = true;
		stat_inc(&w->stats.added);
		break;
	case ID_SAME:
		n->id = old->id;
		changed = content_changed = !node_stat_equal(n, old) || (old->flags & NODE_F_CHAIN);
		if (changed)
			stat_inc(&w->stats.changed);
		break;
	case ID_REPLACED:
		n->id = old->id;
		changed = content_changed = true;
		stat_inc(&w->stats.changed);
		break;
	case ID_MOVED:
	default:
		n->id = old->id;
		changed = true;
		/* A rename moves ctime, not the content's size or mtime. */
		content_changed = n->size != old->size || n->mtime_sec != old->mtime_sec ||
				  n->mtime_nsec != old->mtime_nsec;
		if (!content_changed)
			keep_hashes(n, old);
		stat_inc(&w->stats.moved);
		break;
	}
	if (wants_hash(root, n, old, content_changed)) {
		if (n->mtime_sec >= w->opts.start_sec - 1)
			n->flags |= NODE_F_RACY;
		r = hash_file(w, ww, d, dfd, n, how);
		if (r < 0)
			return r;
	} else {
		if (changed) {
			r = queue_record(ww->batch, n, how);
			if (r < 0)
				return r;
		}
		if (w->opts.on_file && S_ISREG(n->mode)) {
			if (!changed)
				keep_hashes(n, old);
			w->opts.on_file(w->opts.file_ctx, (unsigned)(ww - w->workers), root->path,
					dirpath, dirpath_len, n);
		}
	}

	if (is_dir && !((root->flags & WALK_XDEV) && n->dev != root->dev)) {
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
			dir_put(w, c);
			return r;
		}
		atomic_fetch_add_explicit(&w->stats.pending, 1, memory_order_relaxed);
	}
	return how == ID_NEW && is_dir;
}

/*
 * May entries of @d that are not their name's stored entry be renamed ones?
 * Not in a fresh directory of the first round (nothing can be gone yet), so
 * a first scan pays nothing for renames.
 */
static bool may_pair(const struct walk *w, const struct walk_dir *d)
{
	return !d->fresh || (w->second_round && moves_count(w->gone));
}

/* Remember @n (named @name) as an arrival of the directory being listed. */
static int add_arrival(struct walk_worker *ww, const struct node *n, const char *name,
		       size_t len, const struct stored *same)
{
	struct arrival *a;

	if (ww->narr == ww->arr_cap) {
		size_t cap = ww->arr_cap ? ww->arr_cap * 2 : 64;
		struct arrival *na = reallocarray(ww->arr, cap, sizeof(*na));

		if (!na)
			return -ENOMEM;
		ww->arr = na;
		ww->arr_cap = cap;
	}
	if (ww->arr_names_len + len > ww->arr_names_cap) {
		size_t cap = (ww->arr_names_len + len) * 2 + 4096;
		char *nn = realloc(ww->arr_names, cap);

		if (!nn)
			return -ENOMEM;
		ww->arr_names = nn;
		ww->arr_names_cap = cap;
	}
	a = &ww->arr[ww->narr++];
	a->n = *n;
	a->n.name = NULL;
	a->name_off = ww->arr_names_len;
	a->same = same ? (size_t)(same - ww->stored) + 1 : 0;
	memcpy(ww->arr_names + ww->arr_names_len, name, len);
	ww->arr_names_len += len;
	return 0;
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
		report(w, ww, d, name, len, "cannot stat", r);
		/* Keep what we knew about it rather than forget it. */
		old = find_stored(ww, name, len);
		if (old)
			old->seen = true;
		return 0;
	}

	node_from_statx(&n, &stx);
	n.parent = d->id;
	n.name = name;
	n.name_len = (uint16_t)len;
	if (S_ISDIR(n.mode))
		stat_inc(&w->stats.dirs);
	else
		stat_inc(&w->stats.files);

	old = find_stored(ww, name, len);
	if (old && old->n.dev == n.dev && old->n.ino == n.ino) {
		old->seen = true;
		return take_entry(w, ww, d, dfd, dirpath, dirpath_len, &n, &old->n, ID_SAME);
	}
	if ((S_ISDIR(n.mode) || S_ISREG(n.mode)) && may_pair(w, d))
		return add_arrival(ww, &n, name, len, old);
	if (old) {
		old->seen = true;
		return take_entry(w, ww, d, dfd, dirpath, dirpath_len, &n, &old->n, ID_REPLACED);
	}
	return take_entry(w, ww, d, dfd, dirpath, dirpath_len, &n, NULL, ID_NEW);
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
 * take_entry().
 */
static int take_moved_or_new(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
			     const char *dirpath, size_t dirpath_len, struct node *n)
{
	struct node old;

	if (moves_take(w->gone, n->dev, n->ino, n->mode & S_IFMT, &old))
		return take_entry(w, ww, d, dfd, dirpath, dirpath_len, n, &old, ID_MOVED);
	return take_entry(w, ww, d, dfd, dirpath, dirpath_len, n, NULL, ID_NEW);
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
static int settle_arrivals(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
			   const char *dirpath, size_t dirpath_len, bool complete)
{
	size_t nunseen = 0;
	bool new_dirs = false;
	int r;

	if (complete && ww->narr) {
		if (ww->nstored > ww->unseen_cap) {
			size_t *nu = reallocarray(ww->unseen, ww->stored_cap, sizeof(*nu));

			if (!nu) {
				r = -ENOMEM;
				goto out;
			}
			ww->unseen = nu;
			ww->unseen_cap = ww->stored_cap;
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
			enum ident how;

			if (a->n.name)
				continue;	/* taken in already */
			if (pass == 0) {
				old = nunseen ? unseen_find(ww, nunseen, &a->n) : NULL;
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
				r = take_entry(w, ww, d, dfd, dirpath, dirpath_len, &a->n, &old->n,
					       how);
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

/*
 * Put the path of @d in ww->path when excludes with a '/' or on_file need it
 * (else *ret_path is NULL).  Returns 0 or -ENOMEM.
 */
static int entry_dir_path(struct walk *w, struct walk_worker *ww, const struct walk_dir *d,
			  const char **ret_path, size_t *ret_len)
{
	ssize_t len;

	*ret_path = NULL;
	*ret_len = 0;
	if (!d->root->path_excludes && !w->opts.on_file)
		return 0;
	len = dir_path(&ww->path, &ww->path_cap, d, NODE_NAME_MAX + 2);
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

	r = entry_dir_path(w, ww, d, &dirpath, &dirpath_len);
	if (r < 0)
		return r;

	/* Its entries are the stored children: stat them, no listing. */
	for (size_t i = 0; d->reuse && i < ww->nstored; i++) {
		const struct stored *st = &ww->stored[i];

		r = visit_entry(w, ww, d, dfd, st->n.name, st->n.name_len, dirpath, dirpath_len);
		if (r < 0)
			return r;
		if (r > 0)
			new_dirs = true;
		if (stopping(w))
			return 0;
	}
	while (!d->reuse) {
		long nread = syscall(SYS_getdents64, dfd, ww->dents, DENTS_BUF);

		if (nread == 0)
			break;
		if (nread < 0) {
			report(w, ww, d, NULL, 0, "cannot list", -errno);
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
		if (stopping(w))
			return 0;
	}

	r = settle_arrivals(w, ww, d, dfd, dirpath, dirpath_len, complete);
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

static struct walk_worker *worker_state(struct walk *w, struct task_worker *tw)
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
	r = store_batch_new(w->writer, NULL, &ww->batch);
	if (r < 0)
		goto fail;
	if (w->hashing) {
		r = ring_new(w->opts.io_mode, w->opts.hash_depth, &ww->ring);
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
static void spawn_children(struct walk *w, struct walk_worker *ww, struct task_worker *tw, int r)
{
	if (r < 0)
		set_fatal(w, r);
	for (size_t i = 0; i < ww->nspawn; i++) {
		if (r < 0 || stopping(w)) {
			atomic_fetch_sub_explicit(&w->stats.pending, 1, memory_order_relaxed);
			dir_put(w, ww->spawn[i]);
		} else {
			task_spawn(tw, &ww->spawn[i]->task);
		}
	}
	if (r >= 0) {
		uint_fast64_t p = atomic_load_explicit(&w->stats.pending, memory_order_relaxed);
		uint_fast64_t m = atomic_load_explicit(&w->stats.max_pending, memory_order_relaxed);

		if (p > m)
			atomic_store_explicit(&w->stats.max_pending, p, memory_order_relaxed);
	}
}

static void arrivals_free(struct walk *w, struct arrivals *g)
{
	dir_put(w, g->dir);
	free(g->v);
	free(g->names);
	free(g);
}

/*
 * Open @d for @task, the one running on @tw.  Out of descriptors while other
 * workers hold some (they will release them), the task goes back on the pool
 * (*@requeues counts it) and -EAGAIN is returned: the caller just returns.
 * Other errors are reported, fatal or not; a directory that vanished is no
 * error unless it is a root.  Returns the pinned descriptor, or an error.
 */
static int task_dir_open(struct walk *w, struct walk_worker *ww, struct task_worker *tw,
			 struct walk_dir *d, struct task *task, uint16_t *requeues)
{
	int dfd;

	if (atomic_load_explicit(&w->starved, memory_order_relaxed))
		ring_give_back(ww->ring);
	dfd = dir_open(w, ww, d);
	if (is_emfile(dfd) && (w->nworkers > 1 || fdcache_open_count(w->fds) > 0) &&
	    *requeues < EMFILE_RETRIES) {
		backoff((*requeues)++);
		task_spawn(tw, task);
		return -EAGAIN;
	}
	if (dfd == -ENOMEM)
		set_fatal(w, dfd);
	else if (dfd < 0 && (dfd != -ENOENT || !d->parent))
		report(w, ww, d, NULL, 0, "cannot read", dfd);
	return dfd;
}

static void task_list_dir(struct task *task, struct task_worker *tw)
{
	struct walk_dir *d = container_of(task, struct walk_dir, task);
	struct walk *w = d->root->walk;
	struct walk_worker *ww = worker_state(w, tw);
	int dfd, r;

	if (ww->error) {
		set_fatal(w, ww->error);
		goto out;
	}
	if (stopping(w))
		goto out;
	dfd = task_dir_open(w, ww, tw, d, &d->task, &d->requeues);
	if (dfd == -EAGAIN)
		return;
	if (dfd < 0)
		goto out;

	if (!d->parent || d->dev != d->parent->dev) {
		enum fs_kind kind = fs_kind(dfd, d->dev);

		/* A mount of proc, sysfs, devtmpfs and the like below the root: list nothing. */
		if (kind == FS_PSEUDO && d->parent && !(d->root->flags & WALK_NO_PRUNE_FS)) {
			fdcache_unpin(w->fds, &d->fdc);
			goto out;
		}
		d->mtime_ok = kind == FS_DIR_MTIME;
	}

	ww->nspawn = 0;
	ww->listing = d;
	ww->listing_failed = false;
	r = load_stored(ww, d);
	if (r == 0)
		r = list_dir(w, ww, d, dfd);
	if (r == 0 && !stopping(w))
		r = settle(ww, d);
	ww->listing = NULL;
	fdcache_unpin(w->fds, &d->fdc);
	spawn_children(w, ww, tw, r);
out:
	atomic_fetch_sub_explicit(&w->stats.pending, 1, memory_order_relaxed);
	dir_put(w, d);
}

/* Second round: take in the parked arrivals of one directory (see "Renames"). */
static void task_arrivals(struct task *task, struct task_worker *tw)
{
	struct arrivals *g = container_of(task, struct arrivals, task);
	struct walk *w = g->walk;
	struct walk_worker *ww = worker_state(w, tw);
	struct walk_dir *d = g->dir;
	const char *dirpath = NULL;
	size_t dirpath_len = 0;
	bool new_dirs = false;
	int dfd, r = 0;

	if (ww->error) {
		set_fatal(w, ww->error);
		goto out;
	}
	if (stopping(w))
		goto out;
	dfd = task_dir_open(w, ww, tw, d, &g->task, &g->requeues);
	if (dfd == -EAGAIN)
		return;
	if (dfd < 0)
		goto out;
	ww->nspawn = 0;
	r = entry_dir_path(w, ww, d, &dirpath, &dirpath_len);
	for (size_t i = 0; r >= 0 && i < g->n && !stopping(w); i++) {
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
	spawn_children(w, ww, tw, r);
out:
	atomic_fetch_sub_explicit(&w->stats.pending, 1, memory_order_relaxed);
	arrivals_free(w, g);
}

/* ---- the descriptor budget ------------------------------------------ */

int walk_fds_free(unsigned *ret_limit)
{
	struct rlimit rl;
	unsigned limit, used = 0, n;
	struct pollfd *pfds;
	const char *env;
	int r;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	/* Nothing here uses select(): take what the hard limit allows, within reason. */
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < FD_RAISE_MAX) {
		rl.rlim_cur = rl.rlim_max < FD_RAISE_MAX ? rl.rlim_max : FD_RAISE_MAX;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	limit = rl.rlim_cur > INT_MAX ? INT_MAX : (unsigned)rl.rlim_cur;
	/*
	 * One poll(2) tells the open descriptors from the closed ones (POLLNVAL),
	 * without listing /proc/self/fd.  Past FD_COUNT_MAX the budget is capped
	 * long before the count would matter (walk_fd_plan()).
	 */
	n = limit < FD_COUNT_MAX ? limit : FD_COUNT_MAX;
	pfds = calloc(n ? n : 1, sizeof(*pfds));
	if (!pfds)
		return -ENOMEM;
	for (unsigned fd = 0; fd < n; fd++)
		pfds[fd].fd = (int)fd;
	if (poll(pfds, n, 0) < 0) {
		r = -errno;
		free(pfds);
		return r;
	}
	for (unsigned fd = 0; fd < n; fd++)
		used += !(pfds[fd].revents & POLLNVAL);
	free(pfds);
	*ret_limit = limit;
	/* Tests: plan for this many, to meet EMFILE mid-walk and adapt to it. */
	env = getenv("FSINDEX_DEBUG_FDS");
	if (env && *env)
		return (int)strtoul(env, NULL, 10);
	return used < limit ? (int)(limit - used) : 0;
}

/*
 * Descriptors one io_uring worker may hold with @depth reads in flight: the
 * ring and its eventfd, a file per read, the directory of each read (pinned
 * until it ends), the directory being listed and one being opened in it.
 */
static unsigned uring_worker_fds(unsigned depth)
{
	return 2 + depth + depth + 2;
}

unsigned walk_fd_min(int io_mode)
{
	return io_mode == RING_URING ? uring_worker_fds(1) : WALK_MIN_FDS;
}

/*
 * Within the plan the walk never holds more than @nfree descriptors: with
 * the cache at C and P of its directories pinned, at most max(C, P + 1) are
 * open in it (an insert evicts idle ones down to C), P is at most
 * jobs * (depth + 2) and the rest of each worker's is 2 + depth (io_uring)
 * or one file (pread), and C is what is left once those are set aside.
 */
int walk_fd_plan(unsigned nfree, unsigned jobs, int io_mode, struct walk_fd_plan *ret)
{
	struct walk_fd_plan p = { .io_mode = io_mode, .depth = HASH_DEPTH };
	unsigned per, other;

	if (nfree < walk_fd_min(io_mode))
		return -EMFILE;
	if (jobs == 0)
		jobs = 1;
	if (jobs > nfree / walk_fd_min(io_mode))
		jobs = nfree / walk_fd_min(io_mode);
	per = nfree / jobs;
	if (io_mode != RING_SYNC && per < uring_worker_fds(1))
		p.io_mode = RING_SYNC; /* RING_AUTO: pread needs two a worker */
	else if (io_mode != RING_SYNC && per < uring_worker_fds(HASH_DEPTH))
		p.depth = (per - 4) / 2;
	other = p.io_mode == RING_SYNC ? jobs : jobs * (2 + p.depth);
	p.cache = nfree - other;
	if (p.cache > DEFAULT_FD_BUDGET)
		p.cache = DEFAULT_FD_BUDGET;
	p.jobs = jobs;
	*ret = p;
	return 0;
}

/* ---- the walk as a whole -------------------------------------------- */

int walk_new(struct store *store, struct store_writer *writer, struct task_pool *pool,
	     const struct walk_opts *opts, struct walk **ret_walk)
{
	struct walk *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->store = store;
	w->writer = writer;
	w->pool = pool;
	if (opts)
		w->opts = *opts;
	if (!w->opts.fd_budget)
		w->opts.fd_budget = DEFAULT_FD_BUDGET;
	if (!w->opts.hash_depth)
		w->opts.hash_depth = HASH_DEPTH;
	w->nworkers = task_pool_workers(pool);
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
	*ret_walk = w;
	return 0;
fail:
	walk_free(w);
	return r;
}

static void root_free(struct walk_root *root)
{
	if (!root)
		return;
	for (size_t i = 0; i < root->nexcludes; i++)
		free(root->excludes[i]);
	free(root->excludes);
	free(root->path);
	free(root);
}

int walk_add_root(struct walk *w, const char *path, uint64_t id, bool fresh, uint64_t dev,
		  unsigned flags, char *const *excludes, size_t nexcludes)
{
	struct walk_root *root, **nr;
	struct walk_dir *d, **nd;

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
	root->excludes = calloc(nexcludes ? nexcludes : 1, sizeof(char *));
	if (!root->path || !root->excludes)
		goto fail;
	for (size_t i = 0; i < nexcludes; i++) {
		root->excludes[i] = strdup(excludes[i]);
		if (!root->excludes[i])
			goto fail;
		root->nexcludes++;
		if (strchr(excludes[i], '/'))
			root->path_excludes = true;
	}
	d = dir_new(root, NULL, "", 0, id, dev, fresh);
	if (!d)
		goto fail;
	nr = realloc(w->roots, (w->nroots + 1) * sizeof(*nr));
	if (!nr)
		goto fail_dir;
	w->roots = nr;
	nd = realloc(w->root_dirs, (w->nroots + 1) * sizeof(*nd));
	if (!nd)
		goto fail_dir;
	w->root_dirs = nd;
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

/* Run the pool until every task is done, then hand every batch to the writer. */
static int run_round(struct walk *w)
{
	int r = task_pool_run(w->pool);

	for (unsigned i = 0; i < w->nworkers; i++) {
		struct walk_worker *ww = &w->workers[i];

		if (ww->batch) {
			int fr = store_batch_flush(ww->batch);

			if (fr < 0)
				set_fatal(w, fr);
		}
	}
	return r;
}

/* Queue every parked directory for the second round; false if there is none. */
static bool submit_parked(struct walk *w)
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
			task_pool_submit(w->pool, &g->task);
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
		stat_inc(&gd->w->stats.removed);
	return r;
}

/* Both rounds are over: delete the gone entries nobody took in. */
static void delete_gone(struct walk *w)
{
	struct gone_del gd = {w, NULL};
	int r;

	if (!moves_count(w->gone))
		return;
	r = store_batch_new(w->writer, NULL, &gd.batch);
	if (r == 0)
		r = moves_drain(w->gone, delete_one, &gd);
	if (r == 0)
		r = store_batch_flush(gd.batch);
	store_batch_free(gd.batch);
	if (r < 0)
		set_fatal(w, r);
}

int walk_run(struct walk *w)
{
	int r;

	for (size_t i = 0; i < w->nroots; i++) {
		atomic_fetch_add_explicit(&w->stats.pending, 1, memory_order_relaxed);
		task_pool_submit(w->pool, &w->root_dirs[i]->task);
	}
	/* The root directories belong to their tasks from here on. */
	free(w->root_dirs);
	w->root_dirs = NULL;

	if (w->hashing)
		task_pool_set_idle(w->pool, walk_idle, w);
	r = run_round(w);
	/* Every listed directory has said what it lost: take in the arrivals. */
	if (r == 0 && !stopping(w) && submit_parked(w))
		r = run_round(w);
	task_pool_set_idle(w->pool, NULL, NULL);
	if (r == 0 && !stopping(w))
		delete_gone(w);
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

void walk_ring_stats(struct walk *w, struct ring_stats *ret)
{
	struct ring_stats sum = { 0 };

	for (unsigned i = 0; i < w->nworkers; i++) {
		struct ring_stats s;

		if (!w->workers[i].ring)
			continue;
		ring_stats(w->workers[i].ring, &s);
		sum.files += s.files;
		sum.bytes += s.bytes;
		if (s.peak_inflight > sum.peak_inflight)
			sum.peak_inflight = s.peak_inflight;
		sum.uring |= s.uring;
	}
	*ret = sum;
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
		/* Reads still in flight finish first: their records go to the batches. */
		for (unsigned i = 0; i < w->nworkers; i++) {
			ring_free(w->workers[i].ring);
			w->workers[i].ring = NULL;
		}
		for (unsigned i = 0; i < w->nworkers; i++) {
			struct walk_worker *ww = &w->workers[i];

			while (ww->free_reqs) {
				struct hash_req *req = ww->free_reqs;

				ww->free_reqs = req->next_free;
				hash_state_free(req->hf.full);
				free(req);
			}
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
				arrivals_free(w, g);
			}
		}
		free(w->workers);
	}
	moves_free(w->gone);
	fdcache_free(w->fds);
	free(w);
}
