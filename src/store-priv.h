/* SPDX-License-Identifier: MIT */
/*
 * store-priv.h - what the files of the store share, and the only header that
 * includes <lmdb.h>.  Nothing outside src/store-*.c (and lmdbcheck.c, which
 * needs none of it today) may include it: every other module sees store.h.
 *
 *   store-env.c     the environment: locate, refuse, create, open, lock, info,
 *                   LMDB's codes as errno
 *   store-read.c    readers: snapshots, get, lookup, foreach
 *   store-writer.c  the writer thread: queue, backpressure, commits, the grow
 *                   gate and map growth, replaying a failed transaction
 *   store-ops.c     the ops: their encoding in a batch, applying them to the
 *                   databases with their derived keys
 *
 * Functions declared here are the store's own, not an interface: they keep
 * the store_ prefix only so that no other module's names can collide.
 */
#ifndef FSINDEX_STORE_PRIV_H
#define FSINDEX_STORE_PRIV_H

#include "store.h"

#include "node.h"
#include "util.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CHILD_KEY_MAX (8 + NODE_NAME_MAX)
#define CHILD_VAL_SIZE 10 /* fixed (before compact records): u64 id, type char, flags */
#define CHILD_VAL_MAX NODE_CHILD_VAL_MAX /* what writers put: node_child_encode() */

/* store_apply_op() asks the driver to commit and apply the same op again. */
#define STEP_YIELD 0x7fffffff

/* ---- the environment (store-env.c) ------------------------------------- */

/*
 * meta "features": three sets of bits (store.h's schema comment), each a
 * big-endian u32, in this order.  _KNOWN: the bits of a set this version
 * understands; _WRITE: the bits it records in a new or upgraded index.  A
 * later addition (`gram`, a compact record) gets a bit here, in the set that
 * says what an older version must do with an index that has it.
 */
enum { FEAT_INCOMPAT, FEAT_RO_COMPAT, FEAT_COMPAT, FEAT_SETS };
#define FEATURES_SIZE (4 * FEAT_SETS)
/*
 * Node records are compact (node.h) and live in `cnode`, `child` values too
 * (node_child_encode()) in `cchild`; without it, fixed ones in `node` and
 * `child`.
 */
#define STORE_FEAT_INCOMPAT_COMPACT 0x1u
#define STORE_FEAT_INCOMPAT_KNOWN STORE_FEAT_INCOMPAT_COMPACT
#define STORE_FEAT_RO_COMPAT_KNOWN STORE_FEAT_RO_COMPAT_NAMES
#define STORE_FEAT_INCOMPAT_WRITE STORE_FEAT_INCOMPAT_COMPACT
#define STORE_FEAT_RO_COMPAT_WRITE STORE_FEAT_RO_COMPAT_NAMES
#define STORE_FEAT_COMPAT_WRITE 0u

/* The grow gate (store-writer.c says why it is not a pthread rwlock). */
struct grow_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned shared;  /* open snapshots and write transactions */
	unsigned waiting; /* growers waiting for shared == 0 */
	bool exclusive;	  /* a grower is remapping */
};

struct store {
	MDB_env *env;
	MDB_dbi dbi_node, dbi_child, dbi_hash, dbi_meta; /* dbi_node: `cnode`, or `node` */
	MDB_dbi dbi_size; /* an older version's `size`, to drop; with has_size */
	MDB_dbi dbi_gram; /* the name index (store-names.c); with has_gram */
	bool has_gram;
	MDB_dbi dbi_compact, dbi_compact_child; /* `cnode`, `cchild` while store_upgrade()
						   makes them the node and child databases */
	unsigned flags; /* STORE_* */
	bool nosubdir;	/* the data file is @name in @dir_fd, not data.mdb */
	char *path;	/* canonical: the directory, or the data file (nosubdir) */
	char *dir;	/* canonical path of the directory holding the files */
	char *name;	/* nosubdir: the data file's name in @dir_fd */
	int dir_fd;	/* the directory holding the data and lock files; open only in store_open() */
	char *lmdb_path; /* what LMDB opens: /proc/self/fd/<dir_fd>[/name] */
	bool locked;	/* the scan lock is ours: an flock on LMDB's data descriptor */
	uint32_t features[FEAT_SETS]; /* as meta records them (0s when it does not) */
	bool has_features; /* meta has "features" */
	bool has_size;	   /* there is a `size` database (an older version's) */
	atomic_int write_error; /* store_write_error(): set by the writer thread too */
	struct grow_gate gate;
	struct store_writer *writer;
};

/*
 * LMDB's result @rc to -errno: positive system errors negated, MDB_NOTFOUND
 * -ENOENT, MDB_INVALID and MDB_VERSION_MISMATCH STORE_E_FOREIGN, others -EIO
 * (logged at debug level); values in -4095..-1 are already ours and pass.
 */
int store_lmdb_err(int rc);

/*
 * Upgrade in place what an older version wrote, in a write transaction of
 * its own: record the features (an index from before them) and drop the
 * `size` database nothing reads any more.  Only for the holder of the scan
 * lock, before the writer starts; nothing to do (and no commit) on a
 * current index.  Returns 0 or -errno.
 */
int store_upgrade(struct store *s);

/*
 * Rewrite an index without STORE_FEAT_INCOMPAT_COMPACT into compact records
 * (store-compact.c), before store_upgrade() records the features.  Only for
 * the holder of the scan lock, before the writer starts.  Returns 0 or -errno.
 */
int store_compact_upgrade(struct store *s);

/* Does @s hold compact node records? */
static inline bool store_is_compact(const struct store *s)
{
	return s->features[FEAT_INCOMPAT] & STORE_FEAT_INCOMPAT_COMPACT;
}

/* Decode a record of @s's node database, in whichever encoding it holds. */
static inline int store_node_decode(const struct store *s, const void *buf, size_t len,
				    uint64_t id, struct node *ret)
{
	if (store_is_compact(s))
		return node_decode(buf, len, id, ret);
	return node_decode_v1(buf, len, id, ret);
}

/*
 * Decode the `child` value @val of @s (compact or fixed) into *ret_id,
 * *ret_type, *ret_flags.  Returns 0 or -EBADMSG.
 */
static inline int store_child_decode(const struct store *s, const void *v, size_t len,
				     uint64_t *ret_id, char *ret_type, uint8_t *ret_flags)
{
	const unsigned char *p = v;

	if (store_is_compact(s))
		return node_child_decode(v, len, ret_id, ret_type, ret_flags);
	if (len != CHILD_VAL_SIZE)
		return -EBADMSG;
	*ret_id = get_be64(p);
	*ret_type = (char)p[8];
	*ret_flags = p[9];
	return 0;
}

/* The id a `child` value of @s names, or 0 if it cannot be decoded. */
static inline uint64_t store_child_id(const struct store *s, const void *v, size_t len)
{
	uint64_t id;
	uint8_t flags;
	char type;

	return store_child_decode(s, v, len, &id, &type, &flags) ? 0 : id;
}

static inline MDB_val val_of(const void *p, size_t len)
{
	return (MDB_val){.mv_size = len, .mv_data = (void *)p};
}

/* The key of @name under @parent in `child`, in @k (CHILD_KEY_MAX bytes); its length. */
static inline size_t child_key(unsigned char *k, uint64_t parent, const char *name, size_t len)
{
	put_be64(k, parent);
	if (len)
		memcpy(k + 8, name, len);
	return 8 + len;
}

/* ---- the grow gate and transactions (store-writer.c) ------------------- */

/* Hold the gate shared (a snapshot or the write txn), and let it go. */
void store_gate_enter(struct grow_gate *g);
void store_gate_leave(struct grow_gate *g);
/* Hold it exclusively, to remap: waits until no transaction is open. */
void store_gate_lock(struct grow_gate *g);
void store_gate_unlock(struct grow_gate *g);

/* The map size to adopt when another process grew the data file past ours. */
size_t store_remap_size(struct store *s);

/*
 * Begin a transaction of @flags holding the gate shared (renew the reset
 * read txn *@txnp if @renew), remapping on MDB_MAP_RESIZED.  On success the
 * caller leaves the gate after ending the txn.  Returns 0 or -errno.
 */
int store_txn_begin(struct store *s, unsigned flags, MDB_txn **txnp, bool renew);

/* ---- the writer and its producers (store-writer.c) --------------------- */

/* A producer's buffer of encoded ops (store-ops.c has the format). */
struct wbuf {
	struct wbuf *next;
	struct store_job *job; /* whose ops these are: set at handoff */
	size_t len, cap;
	unsigned char *data;
};

/* A unit of work whose ops commit or fail together (store.h). */
struct store_job {
	struct store_writer *writer;
	atomic_int error; /* the first error of a txn that held its ops; set under mu */
	size_t pending;	  /* buffers handed off, not yet committed or dropped; under mu */
	unsigned nbatches; /* under mu */
};

/* Derived keys put in order at commit (store-ops.c says why). */
struct keyset {
	MDB_dbi dbi;
	size_t len; /* bytes per key */
	unsigned char *keys;
	size_t n, cap;
};

/* Name index changes of one txn (store-names.c): (trigram, id, add or delete, order). */
struct gram_op {
	uint32_t tri; /* the 3 bytes big-endian, then (low byte) 1 to add, 0 to delete */
	uint32_t seq;
	uint64_t id;
};

struct gram_ops {
	struct gram_op *v, *tmp; /* tmp: the radix sort's other half */
	size_t n, cap, tmp_cap;
	uint32_t seq;
	uint64_t *ids; /* scratch for merging a block */
	size_t ids_cap;
};

/*
 * Fresh puts whose records go in at commit, in key order (store-ops.c says
 * why).  Records and names point into the wbufs the writer holds until then.
 */
struct fresh_put {
	uint64_t id, parent, seq;
	const unsigned char *rec;
	const char *name;
	uint16_t len, name_len;
	unsigned char type, flags;
	signed char settle; /* an OP_SETTLE since: 1 set NODE_F_SETTLED, -1 clear it, 0 none */
	bool dead;	    /* replaced by a later pending put of its name, or below one */
};

/* An OP_SETTLE of a node that may be pending. */
struct fresh_settle {
	uint64_t id;
	signed char settle;
};

struct freshset {
	struct fresh_put *v;
	size_t n, cap;
	struct fresh_put **by_id, **by_name; /* v sorted, at commit (pointers: cheap to move) */
	size_t cap_id, cap_name;
	struct fresh_settle *settles; /* in op order */
	size_t nsettles, cap_settles;
};

struct store_writer {
	struct store *store;
	pthread_t thread;
	atomic_uint_fast64_t next_id;
	atomic_int error; /* the first error any job met; set under mu */
	struct store_job job0; /* the default job (store_batch_new(w, NULL, ...)) */

	/* Options, fixed at start. */
	size_t queue_bytes;
	size_t handoff_bytes;
	uint64_t txn_records;
	int64_t txn_ns;
	uint64_t debug_txn_full;
	uint64_t debug_fail_commit;
	int debug_fail_err;
	bool discard;

	/* Shared with producers, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv_work;	 /* the writer: a buffer was queued, a producer waits, stop */
	pthread_cond_t cv_space; /* producers and job waiters: bytes were released, or an error */
	struct wbuf *q_head, *q_tail;
	size_t bytes; /* queued, plus held by the writer until commit */
	unsigned space_waiters;
	unsigned job_waiters; /* in store_job_wait() */
	struct wbuf *spare;
	unsigned nspare;
	unsigned nbatches;
	size_t unsignalled; /* queued since the writer was last woken */
	bool asleep;	    /* waiting with no transaction open, hence no deadline */
	bool stopping;

	/* The writer thread's own. */
	MDB_txn *txn;
	int64_t txn_begin_ns;
	uint64_t txn_ops;  /* ops completed in this txn */
	uint64_t txn_work; /* records put or removed in this txn */
	uint64_t txn_puts;
	uint64_t commit_tries; /* for debug_fail_commit */
	uint64_t split_limit;		    /* after MDB_TXN_FULL: work per txn; 0: none */
	struct wbuf *held_head, *held_tail; /* the txn starts at held_head + start_off */
	size_t held_bytes, start_off;
	struct wbuf *pos_buf; /* the next op to apply */
	size_t pos_off;
	uint64_t *stack; /* subtree deletes */
	size_t stack_cap;
	struct keyset hashes; /* index keys put at commit */
	struct gram_ops grams; /* name index changes, merged at commit */
	struct freshset fresh; /* node and child records put at commit */
	struct store_write_stats stats;
};

struct store_batch {
	struct store_writer *writer;
	struct store_job *job;
	struct wbuf *buf; /* NULL after a failed allocation */
};

/* The work one transaction may do before it commits. */
static inline uint64_t txn_limit(const struct store_writer *w)
{
	if (w->split_limit && w->split_limit < w->txn_records)
		return w->split_limit;
	return w->txn_records;
}

/* Room for @need more bytes in @b's buffer.  Returns 0 or -ENOMEM. */
int store_batch_reserve(struct store_batch *b, size_t need);

/* An op was added to @b: hand the buffer off if it is full enough. */
int store_batch_added(struct store_batch *b);

/* ---- the ops (store-ops.c) --------------------------------------------- */

/*
 * Apply the op at the writer's position in its open txn; *ret_len is the
 * op's encoded length.  Returns 0, STEP_YIELD, LMDB's code or -errno.
 */
int store_apply_op(struct store_writer *w, size_t *ret_len);

/* Put the derived keys pending in the writer's txn.  Returns 0 or LMDB's code. */
int store_keys_put(struct store_writer *w);

/* Forget them (the txn is aborted). */
void store_keys_drop(struct store_writer *w);

/* Free what the deferred puts hold (the writer is done). */
void store_keys_free(struct store_writer *w);

/*
 * Decode a root record @p of @len bytes for root @id into *ret; ret->excludes
 * is one allocation the caller frees.  Returns 0, -EBADMSG or -ENOMEM.
 */
int store_root_decode(const unsigned char *p, size_t len, uint64_t id, struct store_root *ret);

/* ---- the name index (store-names.c) ------------------------------------ */

/* Queue the trigrams of @name (node @id) for adding (@add) or deleting at commit. */
int store_names_change(struct store_writer *w, uint64_t id, const char *name, size_t len,
		       bool add);

/* Merge the queued changes into `gram`.  Returns 0 or LMDB's code. */
int store_names_put(struct store_writer *w);

/* Forget them (the txn is aborted). */
void store_names_drop(struct gram_ops *g);

/*
 * Build the name index of an index that has none (STORE_FEAT_RO_COMPAT_NAMES
 * not recorded), in transactions of its own, and record the feature last.
 * Only for the holder of the scan lock, before the writer starts.  0 or -errno.
 */
int store_names_upgrade(struct store *s);

/*
 * Decode the block of `gram` key @key (trigram, first id) and value @val,
 * appending its ids to *ids (growing it).  Returns 0, -EBADMSG or -ENOMEM.
 */
int store_names_decode(const MDB_val *key, const MDB_val *val, uint64_t **ids, size_t *n,
		       size_t *cap);

#endif /* FSINDEX_STORE_PRIV_H */
