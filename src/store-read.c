/* SPDX-License-Identifier: MIT */
/*
 * store-read.c - readers of the index: snapshots that never block the
 * writer, node and name lookups, and loops over a database's keys that
 * survive a pause (a fresh snapshot, going on after the last key seen).
 */
#include "store-priv.h"

#include "fsdev.h"
#include "node.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 511 /* LMDB's default maximum key size */
#define PATH_DEPTH_MAX (1u << 22) /* deeper than any real tree: a loop */

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
	return store_node_decode(rd->store, val.mv_data, val.mv_size, id, ret);
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
		if (!rc && (r = store_node_decode(rd->store, val.mv_data, val.mv_size, reqs[i].id,
						 reqs[i].node)) < 0)
			break;
	}
	if (cur)
		mdb_cursor_close(cur);
	return r < 0 ? r : store_lmdb_err(rc);
}

static int decode_child(const struct store *s, const MDB_val *key, const MDB_val *val,
			struct store_child *ret)
{
	if (key->mv_size < 8 || key->mv_size > CHILD_KEY_MAX ||
	    store_child_decode(s, val->mv_data, val->mv_size, &ret->id, &ret->type, &ret->flags))
		return -EBADMSG;
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
	r = decode_child(rd->store, &key, &val, &c);
	if (r < 0)
		return r;
	c.name = name; /* the caller's bytes outlive k */
	*ret = c;
	return 0;
}

/*
 * Paths.  A path is not stored: a node holds its parent's id and its own
 * name, `child` maps (parent, name) back to the id.  So a path resolves by
 * one lookup per component from "/", and a node's path is rebuilt by
 * reading its ancestors up to "/" (their names are borrowed from one
 * snapshot, so they stay valid until the path is assembled).
 */

/* The next component of @p at *@pos on, or length 0 at the end. */
static size_t next_name(const char *p, size_t *pos)
{
	while (p[*pos] == '/')
		(*pos)++;
	return strcspn(p + *pos, "/");
}

/* Is @path absolute and without "." and ".." components? */
static bool path_is_real(const char *path)
{
	size_t pos = 0, len;

	if (path[0] != '/')
		return false;
	while ((len = next_name(path, &pos))) {
		if (path[pos] == '.' && (len == 1 || (len == 2 && path[pos + 1] == '.')))
			return false;
		pos += len;
	}
	return true;
}

int store_resolve_path(struct store_reader *rd, const char *path, uint64_t *ret_id)
{
	uint64_t id = NODE_ID_TOP;
	struct store_child c;
	size_t pos = 0, len;
	struct node n;
	int r;

	if (!path_is_real(path))
		return -EINVAL;
	r = store_get_node(rd, NODE_ID_TOP, &n); /* "/" itself: an index that has it */
	if (r < 0)
		return r;
	while ((len = next_name(path, &pos))) {
		const char *p = path + pos;

		r = store_lookup(rd, id, p, len, &c);
		if (r < 0)
			return r;
		id = c.id;
		pos += len;
	}
	*ret_id = id;
	return 0;
}

/* The names from @id up to "/" (borrowed from the reader's snapshot). */
struct path_parts {
	struct {
		const char *name;
		uint16_t len;
	} *v;
	size_t n, cap;
	size_t len; /* of the whole path, without the NUL */
};

static int path_parts(struct store_reader *rd, uint64_t id, struct path_parts *pp)
{
	struct node n;
	int r;

	pp->n = 0;
	pp->len = 0;
	while (id != NODE_ID_TOP) {
		r = store_get_node(rd, id, &n);
		if (r == -ENOENT && pp->n)
			return -EBADMSG; /* a node without its parent */
		if (r < 0)
			return r;
		if (!n.parent || !n.name_len || pp->n >= PATH_DEPTH_MAX)
			return -EBADMSG; /* a second top, or a loop */
		if (GROW(pp->v, pp->cap, pp->n + 1) < 0)
			return -ENOMEM;
		pp->v[pp->n].name = n.name;
		pp->v[pp->n].len = n.name_len;
		pp->n++;
		pp->len += 1 + n.name_len;
		id = n.parent;
	}
	if (!pp->n) {
		r = store_get_node(rd, NODE_ID_TOP, &n);
		if (r < 0)
			return r;
		pp->len = 1; /* "/" */
	}
	return 0;
}

/* Write the path @pp holds into @buf (pp->len + 1 bytes). */
static void path_write(const struct path_parts *pp, char *buf)
{
	char *p = buf;

	if (!pp->n)
		*p++ = '/';
	for (size_t i = pp->n; i-- > 0;) {
		*p++ = '/';
		memcpy(p, pp->v[i].name, pp->v[i].len);
		p += pp->v[i].len;
	}
	*p = '\0';
}

int store_node_path(struct store_reader *rd, uint64_t id, char *buf, size_t size)
{
	struct path_parts pp = {0};
	int r;

	r = path_parts(rd, id, &pp);
	if (r == 0 && pp.len >= size)
		r = -ERANGE;
	if (r == 0 && pp.len > INT_MAX)
		r = -EOVERFLOW;
	if (r == 0) {
		path_write(&pp, buf);
		r = (int)pp.len;
	}
	free(pp.v);
	return r;
}

int store_node_path_alloc(struct store_reader *rd, uint64_t id, char **ret_path)
{
	struct path_parts pp = {0};
	char *buf = NULL;
	int r;

	r = path_parts(rd, id, &pp);
	if (r == 0 && pp.len > INT_MAX)
		r = -EOVERFLOW;
	if (r == 0 && !(buf = malloc(pp.len + 1)))
		r = -ENOMEM;
	if (r == 0) {
		path_write(&pp, buf);
		*ret_path = buf;
		r = (int)pp.len;
	}
	free(pp.v);
	return r;
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
	const struct store *store;
};

static int child_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct child_walk *cw = ctx;
	struct store_child c;
	int r;

	r = decode_child(cw->store, key, val, &c);
	return r < 0 ? r : cw->fn(cw->ctx, &c);
}

int store_foreach_child(struct store_reader *rd, uint64_t parent, store_child_fn *fn, void *ctx)
{
	struct child_walk cw = {fn, ctx, rd->store};
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

static int fsdev_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct fsdev_id id;

	if (key->mv_size != 4 + FSDEV_ID_SIZE || val->mv_size != 8)
		return -EBADMSG;
	memcpy(id.b, (const char *)key->mv_data + 4, FSDEV_ID_SIZE);
	return fsdev_table_set(ctx, &id, get_be64(val->mv_data));
}

int store_load_fsdev(struct store_reader *rd, struct fsdev_table *t)
{
	return walk_keys(rd, rd->store->dbi_meta, "fsdv", 4, 4, fsdev_step, t);
}

int store_root_copy(struct store_root *dst, const struct store_root *src)
{
	*dst = *src;
	dst->nexcludes = 0;
	dst->excludes = calloc(src->nexcludes ? src->nexcludes : 1, sizeof(char *));
	if (!dst->excludes)
		return -ENOMEM;
	for (uint32_t i = 0; i < src->nexcludes; i++) {
		dst->excludes[i] = strdup(src->excludes[i]);
		if (!dst->excludes[i])
			return -ENOMEM;
		dst->nexcludes++;
	}
	return 0;
}

void store_root_clear(struct store_root *root)
{
	for (uint32_t i = 0; i < root->nexcludes; i++)
		free(root->excludes[i]);
	free(root->excludes);
	root->excludes = NULL;
	root->nexcludes = 0;
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

int store_name_ids(struct store_reader *rd, const unsigned char tri[3], uint64_t **ids, size_t *n,
		   size_t *cap)
{
	unsigned char k[11];
	MDB_cursor *cur;
	MDB_val key, val;
	int rc, r = 0;

	if (!store_has_name_index(rd->store))
		return -ENOENT;
	r = reader_use(rd);
	if (r < 0)
		return r;
	rc = mdb_cursor_open(rd->txn, rd->store->dbi_gram, &cur);
	if (rc)
		return store_lmdb_err(rc);
	memcpy(k, tri, 3);
	memset(k + 3, 0, 8);
	key = val_of(k, sizeof(k));
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	while (!rc && key.mv_size == sizeof(k) && !memcmp(key.mv_data, tri, 3)) {
		r = store_names_decode(&key, &val, ids, n, cap);
		if (r < 0)
			break;
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (r < 0)
		return r;
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_lmdb_err(rc);
}

/*
 * As reader_use(), for a thread that may hold other snapshots: remapping
 * would wait for them to end (the grow gate), so MDB_MAP_RESIZED is -EAGAIN.
 */
static int reader_use_held(struct store_reader *rd)
{
	struct store *s = rd->store;
	int rc;

	if (rd->active)
		return 0;
	store_gate_enter(&s->gate);
	rc = rd->txn ? mdb_txn_renew(rd->txn) : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rd->txn);
	if (rc) {
		store_gate_leave(&s->gate);
		return rc == MDB_MAP_RESIZED ? -EAGAIN : store_lmdb_err(rc);
	}
	rd->active = true;
	rd->gen++;
	return 0;
}

int store_reader_txnid(struct store_reader *rd, bool others_held, uint64_t *ret_id)
{
	int r = others_held ? reader_use_held(rd) : reader_use(rd);

	if (r < 0)
		return r;
	*ret_id = (uint64_t)mdb_txn_id(rd->txn);
	return 0;
}
