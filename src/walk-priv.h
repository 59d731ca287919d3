/* SPDX-License-Identifier: MIT */
/*
 * walk-priv.h - what the files of the walker share and nothing else sees:
 * walk.c (directories: opening, listing, taking entries in), walk-hash.c
 * (reading the content of the files it takes in), walk-renames.c (pairing
 * arrivals with gone entries, the second round) and walk-fds.c (the
 * descriptor budget).  The design is in walk.c's opening comment.
 */
#ifndef FSINDEX_WALK_PRIV_H
#define FSINDEX_WALK_PRIV_H

#include "walk.h"

#include "cancel.h"
#include "fdcache.h"
#include "fsdev.h"
#include "node.h"
#include "task.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct moves;
struct ring;
struct store_batch;
struct store_node_req;
struct store_reader;
struct task_group;
struct walk_hash_req;

/*
 * Times a directory that met EMFILE goes back on the pool while other
 * workers may hold descriptors: they finish a listing or a read within
 * microseconds to milliseconds (walk_fd_backoff()).
 */
#define WALK_EMFILE_RETRIES 1000

struct walk_root {
	struct walk *walk;
	char *path;
	size_t path_len;
	uint64_t dev;
	unsigned flags;
	char **excludes;
	size_t nexcludes;
	bool path_excludes;		/* some pattern has a '/' */
	char **fstypes;			/* mounts of these types are not entered */
	size_t nfstypes;
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
	bool pruned : 1;		/* a mount of an excluded type: listed as empty */
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

/* How a listed entry relates to what is stored (walk.c, "Renames"). */
enum walk_id {
	ID_SAME,	/* its name's stored entry, same inode */
	ID_NEW,		/* nothing stored is it: a fresh id */
	ID_REPLACED,	/* another inode under a stored name: that id, rewritten */
	ID_MOVED,	/* a stored entry of the same inode, under another name or parent */
	ID_RELABEL,	/* its name's stored entry, same inode of a filesystem now at another st_dev */
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

/* Per-worker scratch state, reused from one directory to the next. */
struct walk_worker {
	uint64_t fs_dev;		/* the last st_dev walk_fs_of() answered for, */
	const struct fsdev_id *fs_id;	/* ...and its identity (NULL: none) */
	bool fs_known;
	struct ring *ring;		/* content reads, WALK_HASH only */
	struct walk_hash_req *free_reqs;
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
	struct engine *engine;
	struct store *store;		/* the engine's */
	struct store_writer *writer;	/* the engine's */
	struct task_group *group;	/* the walk's tasks and reads in flight */
	unsigned fds_taken;		/* of the engine's cache descriptors (engine_fds_take()) */
	struct walk_opts opts;		/* opts.cancel: the group's token */
	struct fdcache *fds;
	struct walk_worker *workers;
	unsigned nworkers;
	struct walk_root **roots;
	size_t nroots, roots_cap;
	struct walk_dir **root_dirs;	/* until walk_run() hands them to their tasks */
	size_t root_dirs_cap;
	bool hashing;			/* some root has WALK_HASH */
	bool second_round;		/* parked arrivals are being taken in */
	struct moves *gone;		/* vanished entries, by (dev, ino) */
	atomic_int fatal;		/* first fatal error (negative) */
	struct walk_stats stats;
	struct fsdev_table fsdevs;	/* the index's, as the walk began */
	pthread_mutex_t fs_mu;		/* guards fs_seen */
	struct walk_fs_seen {
		uint64_t dev;
		bool has_id;
		struct fsdev_id id;
	} **fs_seen;			/* filesystems met, by current st_dev; stable addresses */
	size_t nfs_seen, fs_seen_cap;
};

static inline void walk_stat_inc(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Remember the first fatal error @err (negative) of the walk. */
static inline void walk_set_fatal(struct walk *w, int err)
{
	int expected = 0;

	atomic_compare_exchange_strong(&w->fatal, &expected, err);
}

/* Must the walk stop (a fatal error, or cancelled)? */
static inline bool walk_stopping(struct walk *w)
{
	return atomic_load_explicit(&w->fatal, memory_order_relaxed) ||
	       cancel_requested(w->opts.cancel);
}

static inline bool walk_is_emfile(int err)
{
	return err == -EMFILE || err == -ENFILE;
}

/* ---- walk.c ------------------------------------------------------------ */

/* Drop a reference to @d; the last one closes its descriptor and releases its parent. */
void walk_dir_put(struct walk *w, struct walk_dir *d);

/*
 * Write the absolute path of @d into *@buf (grown as needed, with room for
 * @extra more bytes); returns its length or -ENOMEM.
 */
ssize_t walk_dir_path(char **buf, size_t *cap, const struct walk_dir *d, size_t extra);

/*
 * Put the path of @d in ww->path when excludes with a '/' or on_file need it
 * (else *ret_path is NULL).  Returns 0 or -ENOMEM.
 */
int walk_entry_dir_path(struct walk *w, struct walk_worker *ww, const struct walk_dir *d,
			const char **ret_path, size_t *ret_len);

/* Count and report (on_error) entry @name of @d, or @d itself when @name is NULL. */
void walk_report(struct walk *w, struct walk_worker *ww, const struct walk_dir *d,
		 const char *name, size_t name_len, const char *what, int err);

/* Queue the record of @n, taken in as @how, on @batch.  Returns 0 or -errno. */
int walk_queue_record(struct store_batch *batch, const struct node *n, enum walk_id how);

/*
 * Take entry @n of @d (open as @dfd, its path @dirpath when needed) into the
 * index as @how, @old being the stored identity it takes (NULL for ID_NEW):
 * queue its record or a read of its content, report it, and remember a
 * directory to walk.  Returns 1 if a new directory was queued, 0, or a fatal
 * error.
 */
int walk_take_entry(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
		    const char *dirpath, size_t dirpath_len, struct node *n,
		    const struct node *old, enum walk_id how);

/* ---- filesystem identity (walk-fsdev.c) -------------------------------- */

/* Read the index's filesystem table into @w (walk_new()).  0 or -errno. */
int walk_fsdev_load(struct walk *w);
void walk_fsdev_free(struct walk *w);

/*
 * Are records stored under st_dev @stored those of entry @name of @d (open
 * as @dfd), now at @cur?  The first time the walk meets @cur, learn its
 * filesystem's identity and queue it for the index's table.  Errors (of
 * fstatfs or the queue) are taken as "no identity".
 */
bool walk_same_fs(struct walk *w, struct walk_worker *ww, const struct walk_dir *d, int dfd,
		  const char *name, uint64_t stored, uint64_t cur);

/*
 * Are records stored under st_dev @dev those of the filesystem now at @dev
 * (which the walk has met)?  Not when the table gives that number to
 * another filesystem: a rename is paired by (dev, ino) only then.
 */
bool walk_dev_is_fs(struct walk *w, uint64_t dev);

/* The state of the worker running on @tw, set up on first use (ww->error if that failed). */
struct walk_worker *walk_worker_state(struct walk *w, struct task_worker *tw);

/*
 * Open @d for @task, the one running on @tw.  Out of descriptors while other
 * workers hold some, the task goes back on the pool (*@requeues counts it)
 * and -EAGAIN is returned: the caller just returns.  Other errors are
 * reported.  Returns the pinned descriptor, or an error.
 */
int walk_task_dir_open(struct walk *w, struct walk_worker *ww, struct task_worker *tw,
		       struct walk_dir *d, struct task *task, uint16_t *requeues);

/*
 * Spawn the directories the task just run queued, or drop them if it failed
 * with @r < 0 (then fatal) or the walk is stopping.
 */
void walk_spawn_children(struct walk *w, struct walk_worker *ww, struct task_worker *tw, int r);

/* ---- walk-hash.c ---------------------------------------------------------- */

/* Does regular file @n, stored as @old (or new), need its content hashed? */
bool walk_wants_hash(const struct walk_root *root, const struct node *n,
		     const struct node *old, bool content_changed);

/* Give @n the hashes of @old, whose content it has. */
void walk_keep_hashes(struct node *n, const struct node *old);

/*
 * Queue a read of regular file @n (named n->name in @d, open as @dfd, pinned
 * again for the read) whose record is queued as @how once it is hashed, or
 * without hashes if it cannot be.  Returns 0, or a fatal error.
 */
int walk_hash_file(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
		   const struct node *n, enum walk_id how);

/*
 * Wait for every read in flight on @ww's ring, each holding a descriptor or
 * two.  Returns whether there was any.
 */
bool walk_drain_reads(struct walk *w, struct walk_worker *ww);

/* Free @ww's pool of read requests (the walk's group is done: none is in flight). */
void walk_hash_free_reqs(struct walk_worker *ww);

/* ---- walk-renames.c -------------------------------------------------------- */

/* May entries of @d that are not their name's stored entry be renamed ones? */
bool walk_may_pair(const struct walk *w, const struct walk_dir *d);

/* Remember @n (named @name) as an arrival of the directory being listed. */
int walk_add_arrival(struct walk_worker *ww, const struct node *n, const char *name, size_t len,
		     const struct stored *same);

/*
 * The listing of @d is over: settle its arrivals and gone children.
 * @complete: the listing met no error, so a stored child not seen is gone.
 * Returns 1 if a new directory was queued, 0, or an error.
 */
int walk_settle_arrivals(struct walk *w, struct walk_worker *ww, struct walk_dir *d, int dfd,
			 const char *dirpath, size_t dirpath_len, bool complete);

/* Queue every parked directory for the second round; false if there is none. */
bool walk_submit_parked(struct walk *w);

/* Both rounds are over: delete the gone entries nobody took in. */
void walk_delete_gone(struct walk *w);

/* Free a parked group of arrivals that was never run. */
void walk_arrivals_free(struct walk *w, struct arrivals *g);

/* ---- walk-fds.c ------------------------------------------------------------ */

/* Reads in flight per worker: the disk wants a deep queue (DESIGN.md, Ring). */
#define WALK_HASH_DEPTH 16
#define WALK_DEFAULT_FD_BUDGET 1024

#endif /* FSINDEX_WALK_PRIV_H */
