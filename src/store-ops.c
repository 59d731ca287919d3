/* SPDX-License-Identifier: MIT */
/*
 * store-ops.c - the operations producers queue and the writer applies:
 * their encoding in a batch, and what each does to `node`, `child`, `hash`
 * and `meta`, keeping the derived keys in step with the records.
 *
 * Ops in a wbuf: a type byte, then (integers big-endian)
 *   OP_PUT, OP_PUT_FRESH  u64 id, u16 len, node record of len bytes
 *   OP_DEL                u64 id
 *   OP_ROOT               u64 id, u32 len, root record of len bytes
 *   OP_SETTLE             u64 id, u8 1 to set NODE_F_SETTLED, 0 to clear it
 *   OP_MOVE               as OP_PUT
 *   OP_FSDEV              u64 device number, 16-byte identity (fsdev.h),
 *                         u8 1 to record it, 0 to forget the identity
 *   OP_UNROOT             u64 id: the root record of node id goes
 */
#include "store-priv.h"

#include "fsdev.h"
#include "node.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEL_DEPTH_MAX (1u << 22) /* deeper than any real tree: a cycle */

enum {
	OP_PUT = 'P', OP_PUT_FRESH = 'F', OP_MOVE = 'M', OP_DEL = 'D', OP_ROOT = 'R',
	OP_SETTLE = 'S', OP_FSDEV = 'V', OP_UNROOT = 'U',
};

/*
 * A root record in `meta` under "root" + u64 id:
 *   u32 flags, u32 nexcludes, then per exclude u16 length and its bytes.
 */
static int root_encoded_size(const struct store_root *root, size_t *ret)
{
	size_t len = 8;

	for (uint32_t i = 0; i < root->nexcludes; i++) {
		size_t n = strlen(root->excludes[i]);

		if (n > UINT16_MAX)
			return -ENAMETOOLONG;
		len += 2 + n;
	}
	*ret = len;
	return 0;
}

static void root_encode(const struct store_root *root, unsigned char *p)
{
	put_be32(p, root->flags);
	put_be32(p + 4, root->nexcludes);
	p += 8;
	for (uint32_t i = 0; i < root->nexcludes; i++) {
		size_t n = strlen(root->excludes[i]);

		p[0] = (unsigned char)(n >> 8);
		p[1] = (unsigned char)n;
		memcpy(p + 2, root->excludes[i], n);
		p += 2 + n;
	}
}

/* Decode into *ret; ret->excludes is one allocation (pointers, then strings). */
int store_root_decode(const unsigned char *p, size_t len, uint64_t id, struct store_root *ret)
{
	const unsigned char *end = p + len;
	uint32_t n;
	char **ex, *str;

	if (len < 8)
		return -EBADMSG;
	n = get_be32(p + 4);
	if (n > (len - 8) / 2)
		return -EBADMSG;
	ex = malloc(n * sizeof(*ex) + (len - 8) + 1);
	if (!ex)
		return -ENOMEM;
	ret->id = id;
	ret->flags = get_be32(p);
	ret->nexcludes = n;
	ret->excludes = ex;
	str = (char *)(ex + n);
	p += 8;
	for (uint32_t i = 0; i < n; i++) {
		size_t sl;

		if (end - p < 2 || (size_t)(end - p - 2) < (sl = (size_t)p[0] << 8 | p[1]))
			goto bad;
		memcpy(str, p + 2, sl);
		str[sl] = '\0';
		if (strlen(str) != sl)
			goto bad; /* an embedded NUL */
		ex[i] = str;
		str += sl + 1;
		p += 2 + sl;
	}
	if (p != end)
		goto bad;
	return 0;
bad:
	free(ex);
	return -EBADMSG;
}

/*
 * Keys of the hash index scatter over its B-tree: put one by
 * one as records arrive, each lands on another leaf (a cache miss, a page
 * copy, a search of the dirty list), and a fresh scan spent a third of its
 * time there.  So they are collected per transaction and put in key order
 * just before it commits, leaf after leaf.  A delete from the index puts
 * what is pending first, so puts and deletes still happen in op order.
 */
static int keyset_add(struct keyset *ks, const void *k)
{
	if (ks->n == ks->cap) {
		/* GROW() needs a typed element: here a key is ks->len bytes. */
		unsigned char *nk = grow_array(ks->keys, &ks->cap, ks->n + 1, ks->len);

		if (!nk)
			return -ENOMEM;
		ks->keys = nk;
	}
	memcpy(ks->keys + ks->n++ * ks->len, k, ks->len);
	return 0;
}

static int key_cmp(const void *a, const void *b, void *len)
{
	return memcmp(a, b, *(const size_t *)len);
}

/* Put the pending keys of @ks in order.  Returns 0 or LMDB's code. */
static int keyset_put(struct store_writer *w, struct keyset *ks)
{
	MDB_val val = val_of("", 0);
	int rc = 0;

	if (ks->n == 0)
		return 0;
	qsort_r(ks->keys, ks->n, ks->len, key_cmp, &ks->len);
	for (size_t i = 0; i < ks->n && !rc; i++) {
		MDB_val key = val_of(ks->keys + i * ks->len, ks->len);

		rc = mdb_put(w->txn, ks->dbi, &key, &val, 0);
	}
	ks->n = 0;
	return rc;
}

/*
 * Fresh puts, in key order at commit.  A scan's workers queue their
 * entries interleaved, and a directory's in the order getdents64 returns
 * them, so `node` and `child` received keys all over their last pages and
 * LMDB split each full page in half: they ended up ~75% and ~57% full.
 * Put in key order, nearly every key is the last of its page, and LMDB then
 * leaves the full page full and starts the next one.
 *
 * Only fresh puts wait (a new id, nothing of the old tree read or changed),
 * and only while nothing can tell.  OP_PUT, OP_MOVE and OP_DEL read the
 * tree: what is pending goes in first (as a delete does for the hash keys).
 * A fresh put whose name is taken in `child` replaces its holder now, after
 * what is pending.  An OP_SETTLE of a node not in `node` may be of a pending
 * one: it waits too, and is applied to the record as it goes in.  Two
 * pending puts of one name (a file made and replaced within a commit) are
 * found next to each other once sorted: as in op order, the later one wins,
 * and the earlier one is dropped with every pending node below it (a new
 * node has no other children).  No table is kept per put: at ~50,000 puts
 * a transaction, its random probes cost more than the sorts.
 */
static int fresh_by_id(const void *a, const void *b)
{
	const struct fresh_put *x = *(struct fresh_put *const *)a, *y = *(struct fresh_put *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* child's key order: parent, then name bytes, a prefix first; then op order. */
static int fresh_by_name(const void *a, const void *b)
{
	const struct fresh_put *x = *(struct fresh_put *const *)a, *y = *(struct fresh_put *const *)b;
	int c;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	c = memcmp(x->name, y->name, x->name_len < y->name_len ? x->name_len : y->name_len);
	if (c)
		return c;
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_name(const struct fresh_put *x, const struct fresh_put *y)
{
	return x->parent == y->parent && x->name_len == y->name_len &&
	       !memcmp(x->name, y->name, x->name_len);
}

/* The pending put of @id in fs->by_id (sorted), or NULL. */
static struct fresh_put *fresh_find(struct freshset *fs, uint64_t id)
{
	size_t lo = 0, hi = fs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fs->by_id[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < fs->n && fs->by_id[lo]->id == id ? fs->by_id[lo] : NULL;
}

/*
 * Sort the pending puts both ways, drop the ones a later put of the same
 * name replaced (and what is below them), apply the waiting settles.
 */
static int fresh_sort(struct freshset *fs)
{
	bool dropped = false;

	if (GROW(fs->by_id, fs->cap_id, fs->n) < 0 || GROW(fs->by_name, fs->cap_name, fs->n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < fs->n; i++)
		fs->by_id[i] = fs->by_name[i] = &fs->v[i];
	qsort(fs->by_name, fs->n, sizeof(*fs->by_name), fresh_by_name);
	for (size_t i = 0; i + 1 < fs->n; i++) {
		if (same_name(fs->by_name[i], fs->by_name[i + 1])) {
			fs->by_name[i]->dead = true;
			dropped = true;
		}
	}
	qsort(fs->by_id, fs->n, sizeof(*fs->by_id), fresh_by_id);
	/* A parent's id is below its children's: one pass in id order reaches them all. */
	for (size_t i = 0; dropped && i < fs->n; i++) {
		struct fresh_put *p = fresh_find(fs, fs->by_id[i]->parent);

		if (p && p->dead)
			fs->by_id[i]->dead = true;
	}
	for (size_t i = 0; i < fs->nsettles; i++) {
		struct fresh_put *f = fresh_find(fs, fs->settles[i].id);

		if (f)
			f->settle = fs->settles[i].settle;
	}
	return 0;
}

static void fresh_clear(struct freshset *fs)
{
	fs->n = fs->nsettles = 0;
}

/* Put the pending fresh records: `node`, `child`, hash keys.  Returns 0 or LMDB's code. */
static int fresh_put_all(struct store_writer *w)
{
	struct freshset *fs = &w->fresh;
	unsigned char k[CHILD_KEY_MAX], cval[CHILD_VAL_MAX], rec[NODE_COMPACT_MAX];
	MDB_val key, val;
	int rc = 0;

	if (fs->n == 0)
		return 0;
	rc = fresh_sort(fs);
	for (size_t i = 0; i < fs->n && !rc; i++) {
		const struct fresh_put *f = fs->by_id[i];
		struct node n;

		if (f->dead)
			continue;
		put_be64(k, f->id);
		key = val_of(k, 8);
		val = val_of(f->rec, f->len);
		if (f->settle) {
			/* The flags are the compact record's first byte (node.h). */
			memcpy(rec, f->rec, f->len);
			rec[0] = f->settle > 0 ? rec[0] | NODE_F_SETTLED : rec[0] & ~NODE_F_SETTLED;
			val = val_of(rec, f->len);
		}
		rc = mdb_put(w->txn, w->store->dbi_node, &key, &val, 0);
		if (!rc)
			rc = store_names_change(w, f->id, f->name, f->name_len, true);
		if (!rc && f->rec[0] >> 5 == NODE_HASH_FULL &&
		    (rc = node_decode(f->rec, f->len, f->id, &n)) == 0) {
			memcpy(k, n.full, 16);
			put_be64(k + 16, f->id);
			rc = keyset_add(&w->hashes, k);
		}
	}
	for (size_t i = 0; i < fs->n && !rc; i++) {
		const struct fresh_put *f = fs->by_name[i];

		if (f->dead)
			continue;
		key = val_of(k, child_key(k, f->parent, f->name, f->name_len));
		val = val_of(cval, node_child_encode(f->id, (char)f->type, f->flags, cval));
		rc = mdb_put(w->txn, w->store->dbi_child, &key, &val, 0);
	}
	fresh_clear(fs);
	return rc;
}

/*
 * Keep the fresh put of @n (record @rec of @len bytes) for the commit, if
 * nothing can tell.  Returns 1 if kept, 0 if it is to be put now (after
 * what is pending), or a negative error.
 */
static int fresh_defer(struct store_writer *w, const struct node *n, const unsigned char *rec,
		       size_t len)
{
	struct freshset *fs = &w->fresh;
	unsigned char k[CHILD_KEY_MAX];
	MDB_val key, val;
	int rc;

	key = val_of(k, child_key(k, n->parent, n->name, n->name_len));
	rc = mdb_get(w->txn, w->store->dbi_child, &key, &val);
	if (rc != MDB_NOTFOUND)
		return rc ? rc : 0; /* the name is taken: replace its holder now */
	if (GROW(fs->v, fs->cap, fs->n + 1) < 0)
		return -ENOMEM;
	fs->v[fs->n] = (struct fresh_put){
		.id = n->id, .parent = n->parent, .seq = fs->n, .rec = rec, .name = n->name,
		.len = (uint16_t)len, .name_len = n->name_len,
		.type = (unsigned char)node_type_char(n->mode),
		.flags = n->flags & NODE_F_CHILD_MASK,
	};
	fs->n++;
	return 1;
}

/* Keep a settle of @id, which `node` does not hold, for a pending put it may be of. */
static int fresh_settle(struct freshset *fs, uint64_t id, bool settled)
{
	if (GROW(fs->settles, fs->cap_settles, fs->nsettles + 1) < 0)
		return -ENOMEM;
	fs->settles[fs->nsettles++] = (struct fresh_settle){.id = id, .settle = settled ? 1 : -1};
	return 0;
}

int store_keys_put(struct store_writer *w)
{
	int rc = fresh_put_all(w);

	if (!rc)
		rc = keyset_put(w, &w->hashes);
	return rc ? rc : store_names_put(w);
}

void store_keys_drop(struct store_writer *w)
{
	w->hashes.n = 0;
	store_names_drop(&w->grams);
	fresh_clear(&w->fresh);
}

void store_keys_free(struct store_writer *w)
{
	free(w->fresh.v);
	free(w->fresh.by_id);
	free(w->fresh.by_name);
	free(w->fresh.settles);
	w->fresh = (struct freshset){0};
}

static int node_key_get(struct store_writer *w, uint64_t id, unsigned char *buf, struct node *ret)
{
	unsigned char k[8];
	MDB_val key, val;
	int rc;

	put_be64(k, id);
	key = val_of(k, 8);
	rc = mdb_get(w->txn, w->store->dbi_node, &key, &val);
	if (rc)
		return rc;
	if (val.mv_size > NODE_REC_MAX)
		return -EBADMSG;
	memcpy(buf, val.mv_data, val.mv_size); /* the map page may change under us */
	return node_decode(buf, val.mv_size, id, ret);
}

/* Delete @dbi's @key; a key that is already gone is fine. */
static int del_key(struct store_writer *w, MDB_dbi dbi, const void *k, size_t len)
{
	MDB_val key = val_of(k, len);
	int rc = mdb_del(w->txn, dbi, &key, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int del_hash_key(struct store_writer *w, const struct node *n)
{
	unsigned char k[24];
	int rc = keyset_put(w, &w->hashes);

	if (rc)
		return rc;
	memcpy(k, n->full, 16);
	put_be64(k + 16, n->id);
	return del_key(w, w->store->dbi_hash, k, 24);
}

/* Delete (parent, name) if it still names @id (a newer node may own it now). */
static int del_child_key(struct store_writer *w, const struct node *n)
{
	unsigned char k[CHILD_KEY_MAX];
	MDB_val key, val;
	int rc;

	key = val_of(k, child_key(k, n->parent, n->name, n->name_len));
	rc = mdb_get(w->txn, w->store->dbi_child, &key, &val);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (store_child_id(w->store, val.mv_data, val.mv_size) != n->id)
		return 0;
	return mdb_del(w->txn, w->store->dbi_child, &key, NULL);
}

/* Delete node @id and its keys, not its children. */
static int del_node(struct store_writer *w, uint64_t id)
{
	unsigned char buf[NODE_REC_MAX], k[8];
	struct node n;
	int rc;

	rc = node_key_get(w, id, buf, &n);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	rc = del_child_key(w, &n);
	if (!rc && n.hash_state == NODE_HASH_FULL)
		rc = del_hash_key(w, &n);
	if (!rc)
		rc = store_names_change(w, id, n.name, n.name_len, false);
	if (rc)
		return rc;
	put_be64(k, id);
	w->txn_work++;
	return del_key(w, w->store->dbi_node, k, 8);
}

/*
 * Is the child entry @key -> @val under @parent one to descend into?  An
 * entry whose node is missing or names another place is stale: drop it, or
 * the loop in del_tree() would find it forever.
 */
static int check_child(struct store_writer *w, MDB_cursor *cur, uint64_t parent, const MDB_val *key,
		       const MDB_val *val, uint64_t *ret_id)
{
	unsigned char buf[NODE_REC_MAX];
	struct node n;
	uint64_t id = 0;
	int rc;

	id = store_child_id(w->store, val->mv_data, val->mv_size);
	if (id && id != parent) {
		rc = node_key_get(w, id, buf, &n);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		if (!rc && n.parent == parent && n.name_len == key->mv_size - 8 &&
		    !memcmp(n.name, (const char *)key->mv_data + 8, n.name_len)) {
			*ret_id = id;
			return 0;
		}
	}
	*ret_id = 0;
	w->txn_work++;
	return mdb_cursor_del(cur, 0);
}

/*
 * Delete everything below @top, and @top itself if @self: depth first with
 * an explicit stack (a 10,000-deep chain must not recurse on the C stack),
 * leaves before their parents, so stopping at any point (STEP_YIELD, when the
 * txn has done its share of work) leaves a consistent tree.
 */
static int del_tree(struct store_writer *w, uint64_t top, bool self)
{
	unsigned char k8[8];
	MDB_cursor *cur;
	size_t depth = 0;
	int rc;

	rc = mdb_cursor_open(w->txn, w->store->dbi_child, &cur);
	if (rc)
		return rc;
	if (GROW(w->stack, w->stack_cap, 1) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	w->stack[depth++] = top;
	while (depth > 0) {
		uint64_t id = w->stack[depth - 1], child;
		MDB_val key, val;

		put_be64(k8, id);
		key = val_of(k8, 8);
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc && rc != MDB_NOTFOUND)
			break;
		if (!rc && key.mv_size >= 8 && !memcmp(key.mv_data, k8, 8)) {
			rc = check_child(w, cur, id, &key, &val, &child);
			if (rc)
				break;
			if (!child)
				continue;
			if (depth >= DEL_DEPTH_MAX) {
				rc = -ELOOP;
				break;
			}
			if (GROW(w->stack, w->stack_cap, depth + 1) < 0) {
				rc = -ENOMEM;
				break;
			}
			w->stack[depth++] = child;
			continue;
		}
		/* @id has no children left. */
		if (--depth == 0 && !self) {
			rc = 0;
			break;
		}
		if (w->txn_work >= txn_limit(w)) {
			rc = STEP_YIELD;
			break;
		}
		rc = del_node(w, id);
		if (rc)
			break;
	}
out:
	mdb_cursor_close(cur);
	return rc;
}

/*
 * Put node @id.  OP_PUT_FRESH: the id is new.  OP_PUT: it may replace an
 * older record of @id, and another node holding its name was replaced on
 * disk: that one goes, subtree and all.  OP_MOVE: as OP_PUT, but another
 * node holding the name only loses it; it is being moved away or deleted by
 * an op of its own (a swap of two names must not delete either subtree).
 */
/*
 * Would putting node @id under @parent make it its own ancestor?  Only a
 * move can ask for that, and only a walk gone wrong would: refuse it rather
 * than store a loop that no traversal could leave.
 */
static int check_no_loop(struct store_writer *w, uint64_t id, uint64_t parent)
{
	unsigned char buf[NODE_REC_MAX];
	struct node p;
	unsigned depth = 0;
	int rc;

	while (parent) {
		if (parent == id || ++depth > DEL_DEPTH_MAX)
			return -ELOOP;
		rc = node_key_get(w, parent, buf, &p);
		if (rc)
			return rc == MDB_NOTFOUND ? 0 : rc;
		parent = p.parent;
	}
	return 0;
}

static int apply_put(struct store_writer *w, uint64_t id, const unsigned char *rec, size_t len,
		     unsigned char op)
{
	bool fresh = op == OP_PUT_FRESH;
	struct store *s = w->store;
	unsigned char oldbuf[NODE_REC_MAX], k[CHILD_KEY_MAX], cval[CHILD_VAL_MAX];
	size_t cval_len;
	struct node n, old;
	MDB_val key, val;
	bool renamed;
	int rc;

	if (w->debug_txn_full && w->txn_puts >= w->debug_txn_full)
		return MDB_TXN_FULL;
	rc = node_decode(rec, len, id, &n);
	if (rc < 0)
		return rc;

	renamed = true;
	if (fresh) {
		rc = fresh_defer(w, &n, rec, len);
		if (rc < 0 || (rc == 0 && (rc = fresh_put_all(w))))
			return rc;
		if (rc == 1) {
			w->txn_work++; /* put at commit, its hash key too */
			w->txn_puts++;
			return 0;
		}
	} else {
		rc = node_key_get(w, id, oldbuf, &old);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		renamed = rc || old.name_len != n.name_len || memcmp(old.name, n.name, n.name_len);
		if (!rc && renamed)
			rc = store_names_change(w, id, old.name, old.name_len, false);
		if (!rc && S_ISDIR(old.mode) && !S_ISDIR(n.mode))
			rc = del_tree(w, id, false);
		if (!rc && op == OP_MOVE && old.parent != n.parent)
			rc = check_no_loop(w, id, n.parent);
		if (!rc && (old.parent != n.parent || old.name_len != n.name_len ||
			    memcmp(old.name, n.name, n.name_len)))
			rc = del_child_key(w, &old);
		if (!rc && old.hash_state == NODE_HASH_FULL &&
		    (n.hash_state != NODE_HASH_FULL || memcmp(old.full, n.full, 16)))
			rc = del_hash_key(w, &old);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
	}

	/* The name: if another node holds it, that one was replaced on disk. */
	cval_len = node_child_encode(id, node_type_char(n.mode), n.flags & NODE_F_CHILD_MASK, cval);
	key = val_of(k, child_key(k, n.parent, n.name, n.name_len));
	val = val_of(cval, cval_len);
	rc = mdb_put(w->txn, s->dbi_child, &key, &val, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		uint64_t other = store_child_id(s, val.mv_data, val.mv_size);

		if (other && other != id && op != OP_MOVE) {
			rc = del_tree(w, other, true);
			if (rc)
				return rc;
		}
		val = val_of(cval, cval_len);
		rc = mdb_put(w->txn, s->dbi_child, &key, &val, 0);
	}
	if (rc)
		return rc;

	put_be64(k, id);
	key = val_of(k, 8);
	val = val_of(rec, len);
	rc = mdb_put(w->txn, s->dbi_node, &key, &val, 0);
	if (rc)
		return rc;
	if (n.hash_state == NODE_HASH_FULL) {
		memcpy(k, n.full, 16);
		put_be64(k + 16, id);
		rc = keyset_add(&w->hashes, k);
		if (rc)
			return rc;
	}
	if (renamed)
		rc = store_names_change(w, id, n.name, n.name_len, true);
	if (rc)
		return rc;
	w->txn_work++;
	w->txn_puts++;
	return 0;
}

static int apply_root(struct store_writer *w, uint64_t id, const unsigned char *rec, size_t len)
{
	unsigned char k[12];
	MDB_val key, val;
	int rc;

	if (w->debug_txn_full && w->txn_puts >= w->debug_txn_full)
		return MDB_TXN_FULL;
	memcpy(k, "root", 4);
	put_be64(k + 4, id);
	key = val_of(k, 12);
	val = val_of(rec, len);
	rc = mdb_put(w->txn, w->store->dbi_meta, &key, &val, 0);
	if (rc)
		return rc;
	w->txn_work++;
	w->txn_puts++;
	return 0;
}

/* Delete the root record of node @id; nothing if there is none. */
static int apply_unroot(struct store_writer *w, uint64_t id)
{
	unsigned char k[12];

	memcpy(k, "root", 4);
	put_be64(k + 4, id);
	w->txn_work++;
	w->txn_puts++;
	return del_key(w, w->store->dbi_meta, k, sizeof(k));
}

/* Set or clear NODE_F_SETTLED on node @id, if it is still there. */
static int apply_settle(struct store_writer *w, uint64_t id, bool settled)
{
	unsigned char buf[NODE_REC_MAX], rec[NODE_REC_MAX], k[8]; /* n.name points into buf */
	MDB_val key, val;
	struct node n;
	uint8_t flags;
	int rc, len;

	rc = node_key_get(w, id, buf, &n);
	if (rc == MDB_NOTFOUND) {
		/* Removed since (nothing to settle), or its put is pending. */
		rc = w->fresh.n ? fresh_settle(&w->fresh, id, settled) : 0;
		if (rc == 0)
			w->txn_work++;
		return rc;
	}
	if (rc)
		return rc;
	flags = settled ? n.flags | NODE_F_SETTLED : n.flags & ~NODE_F_SETTLED;
	if (flags == n.flags)
		return 0;
	n.flags = flags;
	len = node_encode(&n, rec, sizeof(rec));
	if (len < 0)
		return len;
	put_be64(k, id);
	key = val_of(k, 8);
	val = val_of(rec, (size_t)len);
	rc = mdb_put(w->txn, w->store->dbi_node, &key, &val, 0);
	if (rc)
		return rc;
	w->txn_work++;
	w->txn_puts++;
	return 0;
}

/* meta "fsdv" + identity -> u64 device number (fsdev.h), or no such key. */
static int apply_fsdev(struct store_writer *w, uint64_t dev, const unsigned char *id, bool set)
{
	unsigned char k[4 + FSDEV_ID_SIZE], v[8];
	MDB_val key, val;
	int rc;

	memcpy(k, "fsdv", 4);
	memcpy(k + 4, id, FSDEV_ID_SIZE);
	key = val_of(k, sizeof(k));
	put_be64(v, dev);
	val = val_of(v, sizeof(v));
	rc = set ? mdb_put(w->txn, w->store->dbi_meta, &key, &val, 0)
		 : mdb_del(w->txn, w->store->dbi_meta, &key, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	w->txn_work++;
	w->txn_puts++;
	return 0;
}

/* Apply the op at pos; *ret_len is its encoded length. */
int store_apply_op(struct store_writer *w, size_t *ret_len)
{
	const unsigned char *p = w->pos_buf->data + w->pos_off;
	uint64_t id = get_be64(p + 1);
	size_t len;
	int rc;

	/*
	 * Ops that read or change `node` or `child` beyond a record of their
	 * own see what is pending; OP_SETTLE finds a pending record itself, and
	 * the others touch only `meta`.
	 */
	if ((p[0] == OP_PUT || p[0] == OP_MOVE || p[0] == OP_DEL) && (rc = fresh_put_all(w)))
		return rc;
	switch (p[0]) {
	case OP_PUT:
	case OP_PUT_FRESH:
	case OP_MOVE:
		len = (size_t)p[9] << 8 | p[10];
		*ret_len = 11 + len;
		return apply_put(w, id, p + 11, len, p[0]);
	case OP_DEL:
		*ret_len = 9;
		return del_tree(w, id, true);
	case OP_ROOT:
		len = get_be32(p + 9);
		*ret_len = 13 + len;
		return apply_root(w, id, p + 13, len);
	case OP_SETTLE:
		*ret_len = 10;
		return apply_settle(w, id, p[9]);
	case OP_UNROOT:
		*ret_len = 9;
		return apply_unroot(w, id);
	case OP_FSDEV:
		*ret_len = 10 + FSDEV_ID_SIZE;
		return apply_fsdev(w, id, p + 9, p[9 + FSDEV_ID_SIZE]);
	default:
		assert(!"unknown op");
		return -EINVAL;
	}
}

/* Queue @n as op @op (OP_PUT, OP_PUT_FRESH or OP_MOVE). */
static int batch_put_op(struct store_batch *b, const struct node *n, unsigned char op)
{
	unsigned char *p;
	int r, len;

	r = atomic_load(&b->job->error);
	if (r)
		return r;
	if (!n->id || n->id == n->parent)
		return -EINVAL;
	r = store_batch_reserve(b, 11 + NODE_COMPACT_MAX);
	if (r < 0)
		return r;
	p = b->buf->data + b->buf->len;
	len = node_encode(n, p + 11, b->buf->cap - b->buf->len - 11);
	if (len < 0)
		return len;
	p[0] = op;
	put_be64(p + 1, n->id);
	p[9] = (unsigned char)(len >> 8);
	p[10] = (unsigned char)len;
	b->buf->len += 11 + (size_t)len;
	return store_batch_added(b);
}

int store_batch_put(struct store_batch *b, const struct node *n, bool fresh)
{
	return batch_put_op(b, n, fresh ? OP_PUT_FRESH : OP_PUT);
}

int store_batch_move(struct store_batch *b, const struct node *n)
{
	return batch_put_op(b, n, OP_MOVE);
}

/*
 * Reserve an op of @len bytes on @b (the type byte and the id included) and
 * write its header; *ret points just past the id, for the rest of it.
 */
static int batch_op(struct store_batch *b, unsigned char op, uint64_t id, size_t len,
		    unsigned char **ret)
{
	unsigned char *p;
	int r;

	r = atomic_load(&b->job->error);
	if (r)
		return r;
	if (!id)
		return -EINVAL;
	r = store_batch_reserve(b, len);
	if (r < 0)
		return r;
	p = b->buf->data + b->buf->len;
	p[0] = op;
	put_be64(p + 1, id);
	b->buf->len += len;
	*ret = p + 9;
	return 0;
}

int store_batch_del(struct store_batch *b, uint64_t id)
{
	unsigned char *p;
	int r = batch_op(b, OP_DEL, id, 9, &p);

	return r < 0 ? r : store_batch_added(b);
}

int store_batch_settle(struct store_batch *b, uint64_t id, bool settled)
{
	unsigned char *p;
	int r = batch_op(b, OP_SETTLE, id, 10, &p);

	if (r < 0)
		return r;
	p[0] = settled;
	return store_batch_added(b);
}

int store_batch_fsdev(struct store_batch *b, const struct fsdev_id *id, uint64_t dev, bool set)
{
	unsigned char *p;
	int r = batch_op(b, OP_FSDEV, dev, 10 + FSDEV_ID_SIZE, &p);

	if (r < 0)
		return r;
	memcpy(p, id->b, FSDEV_ID_SIZE);
	p[FSDEV_ID_SIZE] = set;
	return store_batch_added(b);
}

int store_batch_unroot(struct store_batch *b, uint64_t id)
{
	unsigned char *p;
	int r = batch_op(b, OP_UNROOT, id, 9, &p);

	return r < 0 ? r : store_batch_added(b);
}

int store_batch_put_root(struct store_batch *b, const struct store_root *root)
{
	unsigned char *p;
	size_t len;
	int r;

	r = atomic_load(&b->job->error);
	if (r)
		return r;
	r = root_encoded_size(root, &len);
	if (r < 0)
		return r;
	if (len > UINT32_MAX)
		return -E2BIG;
	r = store_batch_reserve(b, 13 + len);
	if (r < 0)
		return r;
	p = b->buf->data + b->buf->len;
	p[0] = OP_ROOT;
	put_be64(p + 1, root->id);
	put_be32(p + 9, (uint32_t)len);
	root_encode(root, p + 13);
	b->buf->len += 13 + len;
	return store_batch_added(b);
}
