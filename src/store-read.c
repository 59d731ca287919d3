/* SPDX-License-Identifier: MIT */
/*
 * store-read.c - readers of the index: snapshots that never block the
 * writer, node and name lookups, and loops over a database's keys that
 * survive a pause (a fresh snapshot, going on after the last key seen).
 */
#include "store-priv.h"

#include "node.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 511 /* LMDB's default maximum key size */

struct store_reader {
	struct store *store;
	MDB_txn *txn; /* NULL until the first read; reset while paused */
	bool active;  /* holding a snapshot, and the gate */
	uint64_t gen; /* counts snapshots, so loops notice a pause */
};

int store_reader_new(struct store *s, struct store_reader **ret_reader)
{
	struct store_reader *rd;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->store = s;
	*ret_reader = rd;
	return 0;
}

void store_reader_free(struct store_reader *rd)
{
	if (!rd)
		return;
	if (rd->txn)
		mdb_txn_abort(rd->txn); /* valid on a reset read txn too */
	if (rd->active)
		store_gate_leave(&rd->store->gate);
	free(rd);
}

void store_reader_pause(struct store_reader *rd)
{
	if (!rd->active)
		return;
	mdb_txn_reset(rd->txn);
	rd->active = false;
	store_gate_leave(&rd->store->gate);
}

/* Make sure @rd holds a snapshot. */
static int reader_use(struct store_reader *rd)
{
	int r;

	if (rd->active)
		return 0;
	r = store_txn_begin(rd->store, MDB_RDONLY, &rd->txn, rd->txn != NULL);
	if (r < 0)
		return r;
	rd->active = true;
	rd->gen++;
	return 0;
}

int store_get_node(struct store_reader *rd, uint64_t id, struct node *ret)
{
	unsigned char k[8];
	MDB_val key, val;
	int r;

	r = reader_use(rd);
	if (r < 0)
		return r;
	put_be64(k, id);
	key = val_of(k, 8);
	r = store_lmdb_err(mdb_get(rd->txn, rd->store->dbi_node, &key, &val));
	if (r < 0)
		return r;
	return node_decode(val.mv_data, val.mv_size, id, ret);
}

static int req_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct store_node_req *)a)->id;
	uint64_t y = ((const struct store_node_req *)b)->id;

	return x < y ? -1 : x > y;
}

int store_get_nodes(struct store_reader *rd, struct store_node_req *reqs, size_t n)
{
	unsigned char k[8];
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	int rc = 0, r;

	if (n == 0)
		return 0;
	qsort(reqs, n, sizeof(*reqs), req_cmp);
	r = reader_use(rd);
	if (r < 0)
		return r;
	rc = mdb_cursor_open(rd->txn, rd->store->dbi_node, &cur);
	for (size_t i = 0; i < n && !rc; i++) {
		/* The next key is often the next id: step instead of searching. */
		if (i && reqs[i].id == reqs[i - 1].id + 1) {
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
			if (!rc && (key.mv_size != 8 || get_be64(key.mv_data) != reqs[i].id))
				rc = MDB_NOTFOUND;
		} else {
			put_be64(k, reqs[i].id);
			key = val_of(k, 8);
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
		}
		if (!rc && (r = node_decode(val.mv_data, val.mv_size, reqs[i].id, reqs[i].node)) < 0)
			break;
	}
	if (cur)
		mdb_cursor_close(cur);
	return r < 0 ? r : store_lmdb_err(rc);
}

static int decode_child(const MDB_val *key, const MDB_val *val, struct store_child *ret)
{
	const unsigned char *v = val->mv_data;

	if (val->mv_size != CHILD_VAL_SIZE || key->mv_size < 8 || key->mv_size > CHILD_KEY_MAX)
		return -EBADMSG;
	ret->id = get_be64(v);
	ret->type = (char)v[8];
	ret->flags = v[9];
	ret->name_len = (uint16_t)(key->mv_size - 8);
	ret->name = (const char *)key->mv_data + 8;
	return 0;
}

int store_lookup(struct store_reader *rd, uint64_t parent, const char *name, size_t name_len,
		 struct store_child *ret)
{
	unsigned char k[CHILD_KEY_MAX];
	struct store_child c;
	MDB_val key, val;
	int r;

	if (name_len > NODE_NAME_MAX)
		return -ENAMETOOLONG;
	r = reader_use(rd);
	if (r < 0)
		return r;
	key = val_of(k, child_key(k, parent, name, name_len));
	r = store_lmdb_err(mdb_get(rd->txn, rd->store->dbi_child, &key, &val));
	if (r < 0)
		return r;
	r = decode_child(&key, &val, &c);
	if (r < 0)
		return r;
	c.name = name; /* the caller's bytes outlive k */
	*ret = c;
	return 0;
}

typedef int walk_fn(void *ctx, const MDB_val *key, const MDB_val *val);

/*
 * Call @fn for each key of @dbi from @start on while its first @prefix_len
 * bytes equal @start's.  If @fn paused the reader, go on in a fresh
 * snapshot just after the last key seen.
 */
static int walk_keys(struct store_reader *rd, MDB_dbi dbi, const void *start, size_t start_len,
		     size_t prefix_len, walk_fn *fn, void *ctx)
{
	unsigned char last[KEY_MAX];
	size_t last_len = start_len;
	MDB_cursor *cur = NULL;
	bool have_last = false;
	uint64_t gen = 0;
	MDB_val key, val;
	int rc, r;

	assert(start_len <= sizeof(last) && prefix_len <= start_len);
	memcpy(last, start, start_len);
	for (;;) {
		if (!cur || !rd->active || gen != rd->gen) {
			if (cur)
				mdb_cursor_close(cur);
			cur = NULL;
			r = reader_use(rd);
			if (r < 0)
				return r;
			rc = mdb_cursor_open(rd->txn, dbi, &cur);
			if (rc)
				return store_lmdb_err(rc);
			gen = rd->gen;
			key = val_of(last, last_len);
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
			if (!rc && have_last && key.mv_size == last_len &&
			    !memcmp(key.mv_data, last, last_len))
				rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
		} else {
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
		}
		if (rc) {
			r = rc == MDB_NOTFOUND ? 0 : store_lmdb_err(rc);
			break;
		}
		if (key.mv_size < prefix_len || memcmp(key.mv_data, start, prefix_len)) {
			r = 0;
			break;
		}
		if (key.mv_size > sizeof(last)) {
			r = -EBADMSG;
			break;
		}
		memcpy(last, key.mv_data, key.mv_size);
		last_len = key.mv_size;
		have_last = true;
		r = fn(ctx, &key, &val); /* returned as is: may be any nonzero value */
		if (r)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

struct child_walk {
	store_child_fn *fn;
	void *ctx;
};

static int child_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct child_walk *cw = ctx;
	struct store_child c;
	int r;

	r = decode_child(key, val, &c);
	return r < 0 ? r : cw->fn(cw->ctx, &c);
}

int store_foreach_child(struct store_reader *rd, uint64_t parent, store_child_fn *fn, void *ctx)
{
	struct child_walk cw = {fn, ctx};
	unsigned char k[8];

	put_be64(k, parent);
	return walk_keys(rd, rd->store->dbi_child, k, 8, 8, child_step, &cw);
}

struct root_walk {
	store_root_fn *fn;
	void *ctx;
};

static int root_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct root_walk *rw = ctx;
	struct store_root root;
	int r;

	if (key->mv_size != 12)
		return -EBADMSG;
	r = store_root_decode(val->mv_data, val->mv_size,
			      get_be64((const char *)key->mv_data + 4), &root);
	if (r < 0)
		return r;
	r = rw->fn(rw->ctx, &root);
	free(root.excludes);
	return r;
}

int store_foreach_root(struct store_reader *rd, store_root_fn *fn, void *ctx)
{
	struct root_walk rw = {fn, ctx};

	return walk_keys(rd, rd->store->dbi_meta, "root", 4, 4, root_step, &rw);
}

struct hash_walk {
	int (*fn)(void *ctx, uint64_t id);
	void *ctx;
};

static int hash_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct hash_walk *hw = ctx;

	if (key->mv_size != 24)
		return -EBADMSG;
	return hw->fn(hw->ctx, get_be64((const unsigned char *)key->mv_data + 16));
}

int store_foreach_hash(struct store_reader *rd, const uint8_t full[16],
		       int (*fn)(void *ctx, uint64_t id), void *ctx)
{
	struct hash_walk hw = {fn, ctx};

	return walk_keys(rd, rd->store->dbi_hash, full, 16, 16, hash_step, &hw);
}
