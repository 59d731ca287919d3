/* SPDX-License-Identifier: MIT */
/*
 * store-compact.c - the upgrade of an index of fixed node records (node.h)
 * to compact ones: STORE_FEAT_INCOMPAT_COMPACT.
 *
 * The compact records go into a database of their own, `cnode`, while the
 * fixed ones stay in `node` and remain what every reader reads: ids are
 * copied in key order with MDB_APPEND (so `cnode`'s pages are filled to the
 * brim), a bounded number per write transaction (an index of millions of
 * entries does not fit LMDB's dirty-page limit in one).  Only then does
 * store_upgrade() drop `node` and record the feature, in one transaction,
 * so a crash at any point leaves either the old index whole (and a `cnode`
 * nobody reads, emptied when the next writer starts over) or the new one.
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
	const char *v = getenv(name);
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

/* Copy from @src the records after the last one in @dst, at most COPY_CHUNK of them. */
static int copy_records(MDB_txn *txn, MDB_dbi src, MDB_dbi dst, unsigned chunk, bool *ret_done)
{
	unsigned char k[8], rec[NODE_COMPACT_MAX];
	MDB_cursor *in = NULL, *out = NULL;
	MDB_val key, val;
	uint64_t next = 0;
	int rc, r;

	rc = mdb_cursor_open(txn, src, &in);
	if (!rc)
		rc = mdb_cursor_open(txn, dst, &out);
	if (!rc) {
		rc = mdb_cursor_get(out, &key, &val, MDB_LAST);
		if (!rc && key.mv_size == 8)
			next = get_be64(key.mv_data) + 1;
		put_be64(k, next);
		key = val_of(k, 8);
		if (rc == 0 || rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(in, &key, &val, MDB_SET_RANGE);
	}
	for (unsigned i = 0; !rc && i < chunk; i++) {
		struct node n;

		if (key.mv_size != 8) {
			rc = -EBADMSG;
			break;
		}
		r = node_decode_v1(val.mv_data, val.mv_size, get_be64(key.mv_data), &n);
		if (r >= 0)
			r = node_encode(&n, rec, sizeof(rec));
		if (r < 0) {
			log_debug("node %llu: cannot convert its record", (unsigned long long)n.id);
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
static int copy_step(struct store *s, bool first, unsigned chunk, MDB_dbi *ret_dbi,
		     bool *ret_done)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc, r;

	r = store_txn_begin(s, 0, &txn, false);
	if (r < 0)
		return r;
	rc = mdb_dbi_open(txn, "cnode", MDB_CREATE, &dbi);
	if (!rc && first)
		rc = mdb_drop(txn, dbi, 0);
	if (!rc)
		rc = copy_records(txn, s->dbi_node, dbi, chunk, ret_done);
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
	long chunk = debug_env("FSINDEX_DEBUG_UPGRADE_CHUNK", COPY_CHUNK);
	long kill_at = debug_env("FSINDEX_DEBUG_UPGRADE_KILL", -1);
	bool done = false, first = true;
	uint64_t steps = 0;
	MDB_dbi dbi = 0;
	int r;

	while (!done) {
		if (kill_at >= 0 && steps == (uint64_t)kill_at)
			raise(SIGKILL);
		r = copy_step(s, first, chunk ? (unsigned)chunk : 1, &dbi, &done);
		if (r == -EAGAIN)
			continue; /* the map grew: that chunk again */
		if (r < 0)
			return r;
		first = false;
		steps++;
	}
	if (kill_at >= 0 && steps == (uint64_t)kill_at)
		raise(SIGKILL); /* all copied, `node` not yet dropped */
	s->dbi_compact = dbi;
	log_debug("%s: node records rewritten compact in %llu transactions", s->path,
		  (unsigned long long)steps);
	return 0;
}
