/* SPDX-License-Identifier: MIT */
/*
 * store-compact.c - the upgrade of an index of fixed node records (node.h)
 * to compact ones: STORE_FEAT_INCOMPAT_COMPACT.
 *
 * The compact records go into databases of their own, `cnode` and `cchild`
 * (compact `child` values), while the fixed ones stay in `node` and `child`
 * and remain what every reader reads: keys are copied in order with
 * MDB_APPEND (so the new pages are filled to the brim), a bounded number per
 * write transaction (an index of millions of entries does not fit LMDB's
 * dirty-page limit in one).  Only then does store_upgrade() drop `node` and
 * `child` and record the feature, in one transaction, so a crash at any
 * point leaves either the old index whole (and copies nobody reads, emptied
 * when the next writer starts over) or the new one.
 * Nothing else writes meanwhile: the caller holds the scan lock and its
 * writer has not started.
 *
 * The fixed record has no block count: copied records say
 * NODE_BLOCKS_UNKNOWN until a rescan stats their entries again (walk.c
 * stores a record whose blocks alone changed).
 */
#include "store-priv.h"

#include "log.h"
#include "node.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

/*
 * Records copied per transaction.  A record of ~50 bytes puts ~80 on a page,
 * so this dirties ~2,500 pages, far below LMDB's limit of 131,072.
 */
#define COPY_CHUNK 200000

/*
 * Test hooks: FSINDEX_DEBUG_UPGRADE_CHUNK=N copies N records per transaction,
 * FSINDEX_DEBUG_UPGRADE_KILL=K dies of SIGKILL once K transactions of the
 * copy are committed (0: before the first), so a test can stop it anywhere.
 */
static long debug_env(const char *name, long dflt)
{
	const char *v = secure_getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return dflt;
	n = strtol(v, &end, 10);
	return *end || n < 0 ? dflt : n;
}

/* Double the map, with no transaction of ours open (the writer's grow_map()). */
static int grow(struct store *s)
{
	MDB_envinfo info;
	size_t size;
	int rc;

	store_gate_lock(&s->gate);
	mdb_env_info(s->env, &info);
	size = info.me_mapsize * 2;
	rc = size > info.me_mapsize ? mdb_env_set_mapsize(s->env, size) : ENOSPC;
	store_gate_unlock(&s->gate);
	return rc;
}

/* A fixed record @val under @key as a compact one in @out; its length or -EBADMSG. */
static int convert_node(const MDB_val *key, const MDB_val *val, unsigned char *out, size_t size)
{
	struct node n;
	int r;

	if (key->mv_size != 8)
		return -EBADMSG;
	r = node_decode_v1(val->mv_data, val->mv_size, get_be64(key->mv_data), &n);
	if (r >= 0)
		r = node_encode(&n, out, size);
	if (r < 0)
		log_debug("node %llu: cannot convert its record", (unsigned long long)n.id);
	return r;
}

/* A fixed `child` value as a compact one. */
static int convert_child(const MDB_val *key, const MDB_val *val, unsigned char *out, size_t size)
{
	const unsigned char *v = val->mv_data;

	if (val->mv_size != CHILD_VAL_SIZE || size < CHILD_VAL_MAX || !get_be64(v))
		return -EBADMSG;
	return (int)node_child_encode(get_be64(v), (char)v[8], v[9] & NODE_F_CHILD_MASK, out);
}

typedef int convert_fn(const MDB_val *key, const MDB_val *val, unsigned char *out, size_t size);

/* Copy from @src the records after the last one in @dst, at most @chunk of them. */
static int copy_records(MDB_txn *txn, MDB_dbi src, MDB_dbi dst, convert_fn *convert,
			unsigned chunk, bool *ret_done)
{
	unsigned char k[CHILD_KEY_MAX], rec[NODE_COMPACT_MAX];
	MDB_cursor *in = NULL, *out = NULL;
	MDB_val key, val;
	int rc, r;

	rc = mdb_cursor_open(txn, src, &in);
	if (!rc)
		rc = mdb_cursor_open(txn, dst, &out);
	if (!rc) {
		/* After the last key copied: the same key, then one step on. */
		rc = mdb_cursor_get(out, &key, &val, MDB_LAST);
		if (rc == 0 && key.mv_size <= sizeof(k)) {
			size_t len = key.mv_size;

			memcpy(k, key.mv_data, len);
			key = val_of(k, len);
			rc = mdb_cursor_get(in, &key, &val, MDB_SET_RANGE);
			if (rc == 0 && key.mv_size == len && !memcmp(key.mv_data, k, len))
				rc = mdb_cursor_get(in, &key, &val, MDB_NEXT);
		} else if (rc == MDB_NOTFOUND) {
			rc = mdb_cursor_get(in, &key, &val, MDB_FIRST);
		} else if (rc == 0) {
			rc = -EBADMSG;
		}
	}
	for (unsigned i = 0; !rc && i < chunk; i++) {
		r = convert(&key, &val, rec, sizeof(rec));
		if (r < 0) {
			rc = r;
			break;
		}
		val = val_of(rec, (size_t)r);
		rc = mdb_cursor_put(out, &key, &val, MDB_APPEND);
		if (!rc)
			rc = mdb_cursor_get(in, &key, &val, MDB_NEXT);
	}
	*ret_done = rc == MDB_NOTFOUND;
	if (rc == MDB_NOTFOUND)
		rc = 0;
	mdb_cursor_close(out);
	mdb_cursor_close(in);
	return rc;
}

/* One transaction of the copy; @first empties what an interrupted upgrade left. */
/* What the upgrade copies: from, to, how. */
struct copy_job {
	const char *to;
	convert_fn *convert;
};

static int copy_step(struct store *s, const struct copy_job *job, MDB_dbi from, bool first,
		     unsigned chunk, MDB_dbi *ret_dbi, bool *ret_done)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc, r;

	r = store_txn_begin(s, 0, &txn, false);
	if (r < 0)
		return r;
	rc = mdb_dbi_open(txn, job->to, MDB_CREATE, &dbi);
	if (!rc && first)
		rc = mdb_drop(txn, dbi, 0);
	if (!rc)
		rc = copy_records(txn, from, dbi, job->convert, chunk, ret_done);
	if (!rc)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	store_gate_leave(&s->gate);
	if (rc == MDB_MAP_FULL) {
		rc = grow(s);
		if (!rc)
			return -EAGAIN;
	}
	if (rc)
		return store_lmdb_err(rc);
	*ret_dbi = dbi;
	return 0;
}

int store_compact_upgrade(struct store *s)
{
	static const struct copy_job jobs[] = {
		{"cnode", convert_node},
		{"cchild", convert_child},
	};
	long chunk = debug_env("FSINDEX_DEBUG_UPGRADE_CHUNK", COPY_CHUNK);
	long kill_at = debug_env("FSINDEX_DEBUG_UPGRADE_KILL", -1);
	MDB_dbi from[2] = {s->dbi_node, s->dbi_child}, to[2] = {0, 0};
	uint64_t steps = 0;
	int r;

	for (int j = 0; j < 2; j++) {
		bool done = false, first = true;

		while (!done) {
			if (kill_at >= 0 && steps == (uint64_t)kill_at)
				raise(SIGKILL);
			r = copy_step(s, &jobs[j], from[j], first, chunk ? (unsigned)chunk : 1,
				      &to[j], &done);
			if (r == -EAGAIN)
				continue; /* the map grew: that chunk again */
			if (r < 0)
				return r;
			first = false;
			steps++;
		}
	}
	if (kill_at >= 0 && steps == (uint64_t)kill_at)
		raise(SIGKILL); /* all copied, `node` and `child` not yet dropped */
	s->dbi_compact = to[0];
	s->dbi_compact_child = to[1];
	log_debug("%s: records rewritten compact in %llu transactions", s->path,
		  (unsigned long long)steps);
	return 0;
}
