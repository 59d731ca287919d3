/* SPDX-License-Identifier: MIT */
/*
 * store.h - the index: one LMDB environment, read by anyone, written by one
 * writer thread.  The module (src/store-*.c, behind src/store-priv.h) is the
 * only one that includes <lmdb.h>.
 *
 * Schema 1 (named databases, integers big-endian so keys sort):
 *   cnode  id -> compact struct node (node.h), with STORE_FEAT_INCOMPAT 0x1;
 *   node   id -> fixed struct node (node.h), in indexes without it
 *   cchild (parent id, name) -> type and flags (NODE_F_CHILD_MASK of them) in
 *          a byte, id as a varint (node_child_encode()), with 0x1;
 *   child  (parent id, name) -> u64 id, type char, flags, in indexes without it
 *   hash   (XXH3-128, id) -> empty      files with a full hash (find --hash)
 *   gram   (trigram, first id) -> ids   the name index (src/store-names.c),
 *                                       with STORE_FEAT_RO_COMPAT_NAMES
 *   meta   "magic" -> "fsindex", "schema" -> u32 1,
 *          "features" -> u32 incompat, u32 ro_compat, u32 compat,
 *          "root" + id -> encoded struct store_root
 *
 * Schema evolution.  "schema" names the base format and stays 1 until a
 * change no feature bit can express.  What is added on top (a trigram
 * database, compact records) gets a bit in one of the three sets of
 * "features", ext4-style, chosen by what a version that does not know the
 * bit must do with an index that has it:
 *   incompat   it would misread the index: refused (STORE_E_SCHEMA), read
 *              or write;
 *   ro_compat  it reads the index correctly but, writing, would leave it
 *              inconsistent (say, a database it does not maintain): it may
 *              open it STORE_RDONLY, a writer is refused (STORE_E_RO_FEATURE);
 *   compat     nothing goes wrong: the bit is ignored.
 * An index without "features" was written before they existed; it is read
 * as it is, and the first writer (store_writer_start()) upgrades it in
 * place, in a transaction of its own: it records the features.  Bits:
 *   ro_compat 0x1 NAMES  `gram` indexes every node's name by trigrams; a
 *              writer that does not maintain it would leave it stale.  An
 *              index without it gets it built by its first writer.
 *   incompat 0x1  compact records (STORE_FEAT_INCOMPAT_COMPACT): node records
 *                 of variable-length integers, hashes only where they exist
 *                 and st_blocks, in `cnode`, and compact `child` values in
 *                 `cchild`.  An index without it keeps fixed ones in `node`
 *                 and `child`: read as it is, and rewritten by the first
 *                 writer (store-compact.c: copied into `cnode` and `cchild`
 *                 in transactions of their own, then `node` and `child`
 *                 dropped and the bit recorded in one more, so a crash
 *                 leaves one or the other whole).
 *
 * Nothing is kept that nothing reads: older indexes also held `size`, (size,
 * id) -> empty for every regular file, meant for duplicate candidates, which
 * dups takes from the scan before it instead.  The upgrade drops it (so a
 * version from before features, which wants it, refuses the upgraded index
 * as not its own, before writing anything).
 *
 * Ordering invariant: a node's id is allocated after its parent's, and a
 * producer flushes a new directory's record before anything inside it can be
 * queued (walk.c), so a committed node's parent is always committed.
 */
#ifndef FSINDEX_STORE_H
#define FSINDEX_STORE_H

#include "node.h"

#include <errno.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 1
#define STORE_FEAT_RO_COMPAT_NAMES 0x1u /* `gram`, the name index */

/* The store's own errors besides plain -errno; fsi_strerror() (errors.h) has their messages. */
#define STORE_E_FOREIGN (-EMEDIUMTYPE)		/* not an fsindex index, or corrupt */
#define STORE_E_SCHEMA (-EPROTONOSUPPORT)	/* an fsindex index of another schema, or with
						   incompat features we do not know */
#define STORE_E_RO_FEATURE (-ENOPROTOOPT)	/* readable, but has ro_compat features we do not
						   know: not for writing */
#define STORE_E_UNSAFE (-EKEYREJECTED)	/* directory of another user, or writable by others */
#define STORE_E_READERLOCK (-ENOLCK)	/* readable, but the lock file every reader needs is not
					   writable */
#define STORE_E_LOCKED (-EUSERS)	/* another process holds the scan lock */
#define STORE_E_CORRUPT (-EBADMSG)	/* a record (or a path of records) cannot be decoded */

struct store;
struct store_reader;
struct store_writer;
struct store_job;
struct store_batch;

enum store_open_flags {
	STORE_RDONLY = 1 << 0,	/* never create or write; -ENOENT if there is no index */
	STORE_LOCK = 1 << 1,	/* take the scan lock first, before the index is created */
};

/**
 * Open the index at @path: a directory holding data.mdb (created 0700 with
 * its parents when missing, unless STORE_RDONLY), that directory's data.mdb,
 * or an existing regular file of another name used as the data file itself.
 * Symlinks and "//./" in @path are resolved first, so every spelling of one
 * index means the same files and the same scan lock.  The directory holding
 * the files must belong to the caller or root and be writable by no one
 * else (STORE_E_UNSAFE; with setgid or capabilities only root's will do),
 * and the index's own files must not be symlinks (-ELOOP), so nobody can
 * redirect what LMDB writes.  An existing environment is first probed
 * read-only; anything that is not an fsindex index of this schema is refused
 * before a byte is written (STORE_E_FOREIGN, STORE_E_SCHEMA; without
 * STORE_RDONLY also STORE_E_RO_FEATURE).  A reader maps only what the file
 * holds.
 * Returns 0 and the caller's *ret_store (store_close()), or a negative error.
 */
int store_open(const char *path, unsigned flags, struct store **ret_store);

/** Close the index (no reader or writer may be left).  Accepts NULL. */
void store_close(struct store *store);

/**
 * Take the scan lock (an flock on a file next to the data), so a second
 * writer fails at once instead of queueing.  Held until store_close().
 * Returns 0, STORE_E_LOCKED if another process holds it, or -errno.
 */
int store_lock_scan(struct store *store);

/**
 * The first error writing to the index met since store_open() (an upgrade,
 * a job's transaction, as soon as it failed, the closing sync), or 0.  Any
 * thread.  So a caller can tell an
 * error of the index itself (say -ENOSPC on its filesystem) from others,
 * and name the index in its message.
 */
int store_write_error(const struct store *store);

struct store_info {
	uint64_t last_txnid;	/* LMDB's last committed transaction id */
	uint64_t map_size;	/* current map size in bytes */
	uint64_t nodes;		/* records in `node` */
};

/** Fill *ret with facts about the environment.  Returns 0 or -errno. */
int store_info(struct store *store, struct store_info *ret);

/* ---- reading ---------------------------------------------------------- */

/** One entry of a directory, as `child` holds it. */
struct store_child {
	uint64_t id;
	char type;		/* node_type_char() of the entry's mode */
	uint8_t flags;		/* NODE_F_* */
	uint16_t name_len;
	const char *name;	/* borrowed until the reader moves on */
};

/** A root and the options it was scanned with. */
struct store_root {
	uint64_t id;		/* its node */
	uint32_t flags;		/* STORE_ROOT_* */
	uint32_t nexcludes;
	char **excludes;	/* NUL-terminated globs */
};

enum store_root_flags {
	STORE_ROOT_XDEV = 1 << 0,	/* stay on the root's filesystem */
	STORE_ROOT_HASH = 1 << 1,	/* hash file content (scan --hash) */
};

/**
 * Start a read-only view of the last commit.  Readers never block the writer
 * and may be used from any thread, one at a time.  *ret_reader is the
 * caller's (store_reader_free()).  Returns 0 or a negative error.
 */
int store_reader_new(struct store *store, struct store_reader **ret_reader);

/** End the view.  Accepts NULL. */
void store_reader_free(struct store_reader *reader);

/**
 * Release the snapshot without freeing the reader: do this before anything
 * that may wait on the writer (store_batch_*), since the writer cannot grow
 * the map while a reader of this process holds a snapshot.  Borrowed data
 * becomes invalid.  The next read call takes a fresh snapshot.
 */
void store_reader_pause(struct store_reader *reader);

/** Read node @id into *ret (name borrowed).  Returns 0, -ENOENT or an error. */
int store_get_node(struct store_reader *reader, uint64_t id, struct node *ret);

/** One node for store_get_nodes(). */
struct store_node_req {
	uint64_t id;
	struct node *node; /* where to decode it */
};

/**
 * Read @n nodes (names borrowed), sorting @reqs by id first: ids allocated
 * together sit together, so one cursor reads them leaf by leaf instead of
 * searching from the root for each.  Returns 0, -ENOENT when one is missing,
 * or an error.
 */
int store_get_nodes(struct store_reader *reader, struct store_node_req *reqs, size_t n);

/** Look up @name under @parent.  Returns 0, -ENOENT or an error. */
int store_lookup(struct store_reader *reader, uint64_t parent, const char *name,
		 size_t name_len, struct store_child *ret);

/**
 * The id of the node at @abs_path, by following `child` from "/" one name
 * at a time.  @abs_path is absolute and spelled as the index stores paths
 * (real paths: "." and ".." components are -EINVAL); repeated and trailing
 * slashes are ignored; any length.  The ancestors of a root resolve too
 * (their records carry NODE_F_CHAIN).  Returns 0 and *ret_id, -ENOENT when
 * the path is not in the index, -ENAMETOOLONG for a component longer than
 * NODE_NAME_MAX, or an error.
 */
int store_resolve_path(struct store_reader *reader, const char *abs_path, uint64_t *ret_id);

/**
 * The absolute path of node @id, rebuilt from its chain of parents, into
 * @buf of @size bytes, NUL-terminated ("/" for NODE_ID_TOP).  Names are
 * bytes: a name holding a newline comes back as it is.  Returns the
 * path's length, -ERANGE when @size is too small (nothing useful in @buf;
 * see store_node_path_alloc()), -ENOENT when @id is not in the index,
 * -EBADMSG for a broken chain, or an error.
 */
int store_node_path(struct store_reader *reader, uint64_t id, char *buf, size_t size);

/**
 * As store_node_path(), into a buffer of the right size, however long:
 * *ret_path is the caller's (free()).  Returns the length or an error.
 */
int store_node_path_alloc(struct store_reader *reader, uint64_t id, char **ret_path);

typedef int store_child_fn(void *ctx, const struct store_child *child);

/**
 * Call @fn for each child of @parent in byte order of names.  A nonzero
 * return from @fn stops the loop and is returned.  Returns 0 or an error.
 * @fn may pause the reader (to queue deletes, say); the loop then goes on
 * after the last name seen, in a fresh snapshot.
 */
int store_foreach_child(struct store_reader *reader, uint64_t parent, store_child_fn *fn,
			void *ctx);

struct fsdev_id;
struct fsdev_table;

typedef int store_root_fn(void *ctx, const struct store_root *root);

/** Call @fn for each root (borrowed for the call).  As store_foreach_child(). */
int store_foreach_root(struct store_reader *reader, store_root_fn *fn, void *ctx);

/** Add the index's filesystem table (fsdev.h; none in an older index) to @t.  0 or -errno. */
int store_load_fsdev(struct store_reader *reader, struct fsdev_table *t);

/**
 * Copy root @src (borrowed from a store_root_fn, say) into @dst, which gets
 * excludes of its own.  Returns 0 or -ENOMEM; either way @dst is to be
 * released with store_root_clear().
 */
int store_root_copy(struct store_root *dst, const struct store_root *src);

/** Free what store_root_copy() gave @root; leaves it empty.  Accepts an empty root. */
void store_root_clear(struct store_root *root);

/**
 * Call @fn(@ctx, id) for each file whose full XXH3-128 is @full (16 bytes,
 * as node.full holds it), in order of id: a lookup in the `hash` database,
 * not a pass over every node.  As store_foreach_child().
 */
int store_foreach_hash(struct store_reader *reader, const uint8_t full[16],
		       int (*fn)(void *ctx, uint64_t id), void *ctx);

/**
 * Does the index hold a name index (`gram`, kept exact by every writer) that
 * store_name_ids() can read?  Not in an index from before it, until its
 * first writer builds it.
 */
bool store_has_name_index(const struct store *store);

/**
 * Append to *@ids (an array of *@cap, grown as needed; the caller's, free())
 * the ids of the nodes whose name, ASCII-folded to lower case, contains the
 * 3 bytes @tri (lower case already), in ascending order; *@n counts them.
 * Returns 0 or a negative error.
 */
int store_name_ids(struct store_reader *reader, const unsigned char tri[3], uint64_t **ids,
		   size_t *n, size_t *cap);

/**
 * The id of the commit @reader's snapshot shows (taking a snapshot if it
 * holds none): two readers with the same id see the same index.  With
 * @others_held (the calling thread holds other snapshots), a snapshot that
 * would first need the map remapped is -EAGAIN instead (remapping waits for
 * every snapshot to end): pause them all and try again.  0 or an error.
 */
int store_reader_txnid(struct store_reader *reader, bool others_held, uint64_t *ret_id);

/* ---- writing ---------------------------------------------------------- */

struct store_writer_opts {
	size_t queue_bytes;	/* bound on queued, uncommitted batch bytes (0: 4 MiB) */
	uint64_t txn_records;	/* commit after this many records (0: 50,000) */
	int64_t txn_ns;		/* commit after this long (0: 1 s) */
	uint64_t debug_txn_full; /* test hook: fail a txn with MDB_TXN_FULL after this many puts */
	uint64_t debug_fail_commit; /* test hook: the Nth commit (from 1) fails, */
	int debug_fail_errno;	    /* ... with this errno (0: EIO), as if LMDB said so */
	bool discard;		/* drop every record unapplied: a walk that keeps nothing */
};

struct store_write_stats {
	uint64_t records;	/* puts and deletes applied */
	uint64_t commits;	/* transactions committed */
	uint64_t map_grows;	/* MDB_MAP_FULL handled by growing the map */
	uint64_t txn_splits;	/* MDB_TXN_FULL handled by splitting */
};

/**
 * Start the writer thread.  Needs the scan lock (store_lock_scan()).  An
 * index from an older version is first upgraded in place (the schema
 * comment above): one transaction of its own, committed at once.
 * @opts may be NULL for defaults.  *ret_writer belongs to the caller until
 * store_writer_finish().  Returns 0 or a negative error.
 */
int store_writer_start(struct store *store, const struct store_writer_opts *opts,
		       struct store_writer **ret_writer);

/**
 * Reserve @n consecutive fresh node ids; returns the first.  Thread-safe.
 * Ids are never reused, so parent ids are always smaller than child ids.
 */
uint64_t store_alloc_ids(struct store_writer *writer, unsigned n);

/**
 * Commit everything flushed so far, sync, stop the thread and free @writer
 * (every batch and job must have been freed).  *ret_stats may be NULL.
 * Returns 0 or the first error any job met (see struct store_job; what other
 * jobs flushed was committed all the same).
 */
int store_writer_finish(struct store_writer *writer, struct store_write_stats *ret_stats);

/*
 * Jobs.  Every batch belongs to a job: a unit of work (a scan, later a
 * rescan of one path) whose records commit or fail together.  A transaction
 * holds the records of whichever jobs flushed them; when it fails in a way
 * no retry mends (ENOSPC, EIO, a record that cannot be applied), every job
 * with records in it fails with that error: its later records are dropped
 * unapplied, so no child is committed without its parent, and its batch
 * calls return the error.  Other jobs, and jobs started later, go on: the
 * writer keeps running.  A writer has a default job, for batches made with
 * job NULL, which is as good as any other.
 */

/**
 * Start a job on @writer.  *ret_job is the caller's (store_job_free(),
 * before store_writer_finish()).  Returns 0 or -ENOMEM.
 */
int store_job_new(struct store_writer *writer, struct store_job **ret_job);

/**
 * Wait until every record the job's batches flushed is committed (the
 * writer commits at once when its queue is empty) or dropped by a failure.
 * Records still buffered in a batch are not flushed: flush or free the
 * batches first.  Hold no reader snapshot meanwhile (store_reader_pause()).
 * Returns 0, or the job's first error.
 */
int store_job_wait(struct store_job *job);

/** store_job_wait(), then free @job (its batches must be freed).  Accepts NULL. */
void store_job_free(struct store_job *job);

/**
 * A producer's buffer of records for @job (NULL: the writer's default job);
 * one per thread.  Records reach the writer in the order they were added,
 * batches in the order they were flushed.  *ret_batch is the caller's
 * (store_batch_free()).
 */
int store_batch_new(struct store_writer *writer, struct store_job *job,
		    struct store_batch **ret_batch);

/** Flush what is left, then free.  Accepts NULL. */
void store_batch_free(struct store_batch *batch);

/**
 * Insert or replace node @n (its id, parent and name; @fresh when the id was
 * just allocated, so there is no old record to replace).  Replacing a
 * directory by a non-directory deletes the old subtree.  May block while the
 * writer's queue is full.  Returns 0, or the job's first error (then the
 * record is dropped).
 */
int store_batch_put(struct store_batch *batch, const struct node *n, bool fresh);

/**
 * Put node @n, stored until now under another parent or name (a rename):
 * its record, hashes and subtree stay, its old name is dropped if it still
 * names @n->id.  Another node holding the new name is not deleted, only
 * unnamed: queue its own move or delete too (a swap moves both).  As
 * store_batch_put().
 */
int store_batch_move(struct store_batch *batch, const struct node *n);

/** Delete node @id and everything below it.  As store_batch_put(). */
int store_batch_del(struct store_batch *batch, uint64_t id);

/**
 * Set (or clear) NODE_F_SETTLED on directory @id's stored record, leaving
 * the rest as it is; nothing if it is gone by then.  Ordered like every op:
 * queue it after the directory's children.  As store_batch_put().
 */
int store_batch_settle(struct store_batch *batch, uint64_t id, bool settled);

/** Record root @root (replacing an older record of the same id). */
int store_batch_put_root(struct store_batch *batch, const struct store_root *root);

/**
 * Forget that node @id is a root (its record in `meta`; the node and its
 * subtree stay: store_batch_del() them too, or not).  As store_batch_put().
 */
int store_batch_unroot(struct store_batch *batch, uint64_t id);

/**
 * Record that the filesystem @id's records carry device number @dev (@set),
 * or forget @id (@dev, the number it had, is not stored).  @dev is never 0
 * (no filesystem is mounted on device 0:0): -EINVAL.  As store_batch_put().
 */
int store_batch_fsdev(struct store_batch *batch, const struct fsdev_id *id, uint64_t dev,
		      bool set);

/** Hand what is buffered to the writer now.  Returns 0 or the job's error. */
int store_batch_flush(struct store_batch *batch);

/** Bytes buffered and not yet flushed. */
size_t store_batch_pending(const struct store_batch *batch);

#endif /* FSINDEX_STORE_H */
