/* SPDX-License-Identifier: MIT */
/*
 * store-names.c - the name index: `gram`, every node's name by trigrams, kept
 * by the writer in the transaction that changes the names it covers.
 *
 * What is indexed.  Names (path components), not paths, each under its
 * node's id: a directory rename then changes one name's trigrams, not those
 * of every path below it.  Bytes are folded to ASCII lower case, so one
 * index serves `find -i` and plain queries alike (a plain query verifies
 * its candidates with the real matcher anyway).  A name shorter than 3
 * bytes has no trigram; queries whose literals are that short do a full
 * pass (find-names.c).
 *
 * Layout.  A posting list is cut into blocks, each one LMDB record:
 *
 *   key   trigram (3 bytes) | first id (u64, big-endian)
 *   value the other ids, ascending, as varint deltas (LEB128) from the one
 *         before, the first from the key's id
 *
 * at most BLOCK_IDS ids a block.  Keys sort by trigram, then id, so a
 * trigram's list is a cursor range, and adding or removing one id rewrites
 * one block of a few hundred bytes, not a list that for a common trigram
 * (".tx", "ing") runs to megabytes (plocate's single compressed list per
 * trigram cannot be updated in place; ours has to be, for the daemon).
 *
 * Writing.  Changes are not applied as ops arrive: a txn of 50,000 records
 * touches each common trigram thousands of times.  They are queued as
 * (trigram, id, add or delete, sequence) and merged at commit: sorted, the
 * last change of each (trigram, id) wins (a rename that keeps a trigram
 * deletes and re-adds it), and each block touched is read, merged and
 * written once.  A fresh scan allocates ids in ascending order, so its
 * changes append to a trigram's last block, which fills to BLOCK_IDS and is
 * then followed by a new one; an insert into the middle of a full block
 * splits it in halves.
 *
 * Upgrade.  An index without STORE_FEAT_RO_COMPAT_NAMES (from before the
 * name index) gets `gram` built from `node` by the first writer, in
 * transactions of BACKFILL_NODES nodes, the feature recorded in the last
 * one: a writer killed half way leaves the bit unset, and the next one
 * starts over from an emptied `gram`.
 */
#include "store-priv.h"

#include "log.h"
#include "node.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GRAM_KEY 11	     /* trigram + u64 first id */
#define BLOCK_IDS 128	     /* ids a block: ~150-400 bytes, many blocks a page */
#define BACKFILL_NODES 50000 /* nodes a backfill txn: as many as a scan's txn */
#define OPS_FLUSH (1u << 18)  /* queued changes merged before commit: 4 MiB, twice */

static inline unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int ops_add(struct gram_ops *g, uint64_t id, const char *name, size_t len, bool add)
{
	if (len < 3)
		return 0;
	if (GROW(g->v, g->cap, g->n + len - 2) < 0)
		return -ENOMEM;
	for (size_t i = 0; i + 3 <= len; i++) {
		struct gram_op *op = &g->v[g->n++];

		op->tri = (uint32_t)fold((unsigned char)name[i]) << 24 |
			  (uint32_t)fold((unsigned char)name[i + 1]) << 16 |
			  (uint32_t)fold((unsigned char)name[i + 2]) << 8 | add;
		op->seq = g->seq++;
		op->id = id;
	}
	return 0;
}

static int ops_put(MDB_txn *txn, MDB_dbi dbi, struct gram_ops *g);

/*
 * Queue; past OPS_FLUSH changes, merge what is queued now (still in the
 * txn, so still all or nothing), which bounds the queue's memory: a txn of
 * 50,000 long names would queue millions.
 */
int store_names_change(struct store_writer *w, uint64_t id, const char *name, size_t len, bool add)
{
	int r = ops_add(&w->grams, id, name, len, add);

	if (r == 0 && w->grams.n >= OPS_FLUSH)
		r = ops_put(w->txn, w->store->dbi_gram, &w->grams);
	return r;
}

void store_names_drop(struct gram_ops *g)
{
	g->n = 0;
	g->seq = 0;
}

static inline bool op_add(const struct gram_op *op)
{
	return op->tri & 1;
}

static inline bool same_tri(const struct gram_op *a, const struct gram_op *b)
{
	return (a->tri ^ b->tri) >> 8 == 0;
}

static void tri_bytes(const struct gram_op *op, unsigned char *tri)
{
	tri[0] = (unsigned char)(op->tri >> 24);
	tri[1] = (unsigned char)(op->tri >> 16);
	tri[2] = (unsigned char)(op->tri >> 8);
}

/* By trigram, id, then the order the changes were made in (integers: this sort is hot). */
static int op_cmp(const void *a, const void *b)
{
	const struct gram_op *x = a, *y = b;

	if (x->tri >> 8 != y->tri >> 8)
		return x->tri >> 8 < y->tri >> 8 ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static size_t put_varint(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

int store_names_decode(const MDB_val *key, const MDB_val *val, uint64_t **ids, size_t *n,
		       size_t *cap)
{
	const unsigned char *p = val->mv_data, *end = p + val->mv_size;
	uint64_t id;

	if (key->mv_size != GRAM_KEY)
		return -EBADMSG;
	id = get_be64((const unsigned char *)key->mv_data + 3);
	/* At least one id; each further one takes at least a byte. */
	if (GROW(*ids, *cap, *n + 1 + val->mv_size) < 0)
		return -ENOMEM;
	(*ids)[(*n)++] = id;
	while (p < end) {
		uint64_t d = 0;
		unsigned shift = 0;

		do {
			if (p == end || shift > 63)
				return -EBADMSG;
			d |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
		} while (*p++ & 0x80);
		if (!d || id + d < id)
			return -EBADMSG; /* ids ascend strictly */
		id += d;
		(*ids)[(*n)++] = id;
	}
	return 0;
}

/* Write ids[0..n) as one block of trigram @tri; over the block @cur is on, if not NULL. */
static int put_block(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, const unsigned char *tri,
		     const uint64_t *ids, size_t n)
{
	unsigned char k[GRAM_KEY], v[BLOCK_IDS * 10];
	size_t len = 0;
	MDB_val key, val;

	memcpy(k, tri, 3);
	put_be64(k + 3, ids[0]);
	for (size_t i = 1; i < n; i++)
		len += put_varint(v + len, ids[i] - ids[i - 1]);
	key = val_of(k, GRAM_KEY);
	val = val_of(v, len);
	return cur ? mdb_cursor_put(cur, &key, &val, MDB_CURRENT) : mdb_put(txn, dbi, &key, &val, 0);
}

/* Write the merged ids of a block as blocks: halves after an insert inside, else full ones. */
static int put_blocks(MDB_txn *txn, MDB_dbi dbi, const unsigned char *tri, const uint64_t *ids,
		      size_t n, bool appended)
{
	size_t k = (n + BLOCK_IDS - 1) / BLOCK_IDS, step = appended ? BLOCK_IDS : (n + k - 1) / k;
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i += step)
		rc = put_block(txn, dbi, NULL, tri, ids + i, n - i < step ? n - i : step);
	return rc;
}

static bool key_is(const MDB_val *key, const unsigned char *tri)
{
	return key->mv_size == GRAM_KEY && !memcmp(key->mv_data, tri, 3);
}

/*
 * The block that id @id of trigram @tri belongs in: the last one whose
 * first id is <= @id, else the trigram's first.  *ret_first is its first id
 * (*ret_found false: the trigram has no block), *ret_limit the next block's
 * first id (UINT64_MAX: none).  Its ids are appended to g->ids, and @cur is
 * left on it, so that it is rewritten without another search.
 */
static int find_block(MDB_cursor *cur, const unsigned char *tri, uint64_t id, struct gram_ops *g,
		      size_t *nids, bool *ret_found, uint64_t *ret_first, uint64_t *ret_limit)
{
	unsigned char k[GRAM_KEY];
	MDB_val key, val;
	int rc;

	memcpy(k, tri, 3);
	put_be64(k + 3, id);
	key = val_of(k, GRAM_KEY);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	if (rc || !key_is(&key, tri) || get_be64((unsigned char *)key.mv_data + 3) != id) {
		bool after = !rc && key_is(&key, tri);
		int rp = mdb_cursor_get(cur, &key, &val, rc ? MDB_LAST : MDB_PREV);

		if (rp && rp != MDB_NOTFOUND)
			return rp;
		if (rp || !key_is(&key, tri)) {
			if (!after) {
				*ret_found = false;
				*ret_limit = UINT64_MAX;
				return 0;
			}
			/* No block before @id: the trigram's first one takes it. */
			key = val_of(k, GRAM_KEY);
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
			if (rc)
				return rc;
		}
	}
	*ret_found = true;
	*ret_first = get_be64((unsigned char *)key.mv_data + 3);
	rc = store_names_decode(&key, &val, &g->ids, nids, &g->ids_cap);
	if (rc < 0)
		return rc;
	rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	*ret_limit = !rc && key_is(&key, tri) ? get_be64((unsigned char *)key.mv_data + 3)
					     : UINT64_MAX;
	if (rc == 0)
		return mdb_cursor_get(cur, &key, &val, MDB_PREV);
	/* The last key of all: find it again rather than step back from the end. */
	put_be64(k + 3, *ret_first);
	key = val_of(k, GRAM_KEY);
	return mdb_cursor_get(cur, &key, &val, MDB_SET);
}

/*
 * Merge the sorted changes @ops[0..n) (one trigram, ids below the limit of
 * one block) into that block's ids g->ids[0..nold), into g->ids[nold..).
 * Returns the merged count; *ret_appended when every added id came last.
 */
static size_t merge(struct gram_ops *g, size_t nold, const struct gram_op *ops, size_t n,
		    bool *ret_appended)
{
	uint64_t *old = g->ids, *out = g->ids + nold;
	size_t i = 0, j = 0, m = 0;

	*ret_appended = true;
	while (i < nold || j < n) {
		if (j == n || (i < nold && old[i] < ops[j].id)) {
			out[m++] = old[i++];
			continue;
		}
		/* The last change of this id decides. */
		while (j + 1 < n && ops[j + 1].id == ops[j].id)
			j++;
		if (i < nold && old[i] == ops[j].id)
			i++;
		else if (op_add(&ops[j]) && i < nold)
			*ret_appended = false;
		if (op_add(&ops[j]))
			out[m++] = ops[j].id;
		j++;
	}
	return m;
}

/* Apply the changes @ops[0..n) of one trigram. */
static int merge_trigram(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, struct gram_ops *g,
			 const struct gram_op *ops, size_t n)
{
	unsigned char tri[3];
	size_t i = 0;
	int rc;

	tri_bytes(ops, tri);
	while (i < n) {
		uint64_t first = 0, limit;
		size_t j = i, nold = 0, m;
		bool found, appended;

		rc = find_block(cur, tri, ops[i].id, g, &nold, &found, &first, &limit);
		if (rc)
			return rc;
		while (j < n && ops[j].id < limit)
			j++;
		if (GROW(g->ids, g->ids_cap, 2 * nold + (j - i)) < 0)
			return -ENOMEM;
		m = merge(g, nold, ops + i, j - i, &appended);
		if (found && m && m <= BLOCK_IDS && g->ids[nold] == first) {
			/* Same key: the value is replaced where the cursor is. */
			rc = put_block(txn, dbi, cur, tri, g->ids + nold, m);
		} else {
			rc = found ? mdb_cursor_del(cur, 0) : 0;
			if (!rc && m)
				rc = put_blocks(txn, dbi, tri, g->ids + nold, m, appended);
		}
		if (rc)
			return rc;
		i = j;
	}
	return 0;
}

/*
 * Sort the changes by trigram, then id, then order made.  They are queued
 * in order made (seq), so a stable radix sort on the trigram's three bytes
 * leaves each trigram's changes in seq order, which for a scan is nearly
 * id order too: a group is sorted again only when it is not.  A qsort() of
 * the whole queue cost a fresh scan a tenth of its time.
 */
static int ops_sort(struct gram_ops *g)
{
	size_t count[256];

	if (GROW(g->tmp, g->tmp_cap, g->n) < 0)
		return -ENOMEM;
	for (unsigned shift = 8; shift <= 24; shift += 8) {
		struct gram_op *t;
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < g->n; i++)
			count[g->v[i].tri >> shift & 0xff]++;
		for (unsigned b = 0; b < 256; b++) {
			size_t c = count[b];

			count[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < g->n; i++)
			g->tmp[count[g->v[i].tri >> shift & 0xff]++] = g->v[i];
		t = g->v, g->v = g->tmp, g->tmp = t;
		sum = g->cap, g->cap = g->tmp_cap, g->tmp_cap = sum;
	}
	for (size_t i = 0, j; i < g->n; i = j) {
		bool sorted = true;

		for (j = i + 1; j < g->n && same_tri(&g->v[j], &g->v[i]); j++)
			sorted &= g->v[j - 1].id <= g->v[j].id;
		if (sorted)
			continue;
		if (j - i > 16) {
			qsort(g->v + i, j - i, sizeof(*g->v), op_cmp);
			continue;
		}
		/* Short and nearly in order (two walkers' id runs interleaved): insertion. */
		for (size_t a = i + 1; a < j; a++) {
			struct gram_op op = g->v[a];
			size_t b = a;

			for (; b > i && op_cmp(&g->v[b - 1], &op) > 0; b--)
				g->v[b] = g->v[b - 1];
			g->v[b] = op;
		}
	}
	return 0;
}

/* Merge every queued change of @g into @dbi.  Returns 0 or LMDB's code. */
static int ops_put(MDB_txn *txn, MDB_dbi dbi, struct gram_ops *g)
{
	MDB_cursor *cur = NULL;
	size_t i = 0;
	int rc;

	if (g->n == 0)
		return 0;
	rc = ops_sort(g);
	if (!rc)
		rc = mdb_cursor_open(txn, dbi, &cur);
	while (!rc && i < g->n) {
		size_t j = i + 1;

		while (j < g->n && same_tri(&g->v[j], &g->v[i]))
			j++;
		rc = merge_trigram(txn, dbi, cur, g, g->v + i, j - i);
		i = j;
	}
	if (cur)
		mdb_cursor_close(cur);
	store_names_drop(g);
	return rc;
}

int store_names_put(struct store_writer *w)
{
	return ops_put(w->txn, w->store->dbi_gram, &w->grams);
}

bool store_has_name_index(const struct store *s)
{
	return s->has_gram && (s->features[FEAT_RO_COMPAT] & STORE_FEAT_RO_COMPAT_NAMES);
}

/* ---- building it for an older index -------------------------------------- */

/* Record ro_compat NAMES in meta "features", keeping the other bits. */
static int put_feature(struct store *s, MDB_txn *txn)
{
	unsigned char v[FEATURES_SIZE];
	MDB_val key = val_of("features", 8), val = val_of(v, sizeof(v));

	s->features[FEAT_RO_COMPAT] |= STORE_FEAT_RO_COMPAT_NAMES;
	for (int i = 0; i < FEAT_SETS; i++)
		put_be32(v + 4 * i, s->features[i]);
	return mdb_put(txn, s->dbi_meta, &key, &val, 0);
}

/* Queue the names of up to BACKFILL_NODES nodes from id *@from on; *@from moves past them. */
static int backfill_collect(struct store *s, MDB_txn *txn, struct gram_ops *g, uint64_t *from,
			    bool *ret_done)
{
	unsigned char k[8];
	MDB_cursor *cur;
	MDB_val key, val;
	struct node n;
	size_t count = 0;
	int rc, r = 0;

	rc = mdb_cursor_open(txn, s->dbi_node, &cur);
	if (rc)
		return rc;
	put_be64(k, *from);
	key = val_of(k, 8);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	while (!rc && count++ < BACKFILL_NODES) {
		uint64_t id = key.mv_size == 8 ? get_be64(key.mv_data) : 0;

		r = node_decode(val.mv_data, val.mv_size, id, &n);
		if (r == 0)
			r = ops_add(g, id, n.name, n.name_len, true);
		if (r < 0)
			break;
		*from = id + 1;
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (r < 0)
		return r;
	*ret_done = rc == MDB_NOTFOUND;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Double the map, with no transaction of ours open (the upgrade runs alone). */
static int grow(struct store *s)
{
	MDB_envinfo info;
	int rc;

	store_gate_lock(&s->gate);
	mdb_env_info(s->env, &info);
	rc = mdb_env_set_mapsize(s->env, info.me_mapsize * 2);
	store_gate_unlock(&s->gate);
	return rc;
}

/* One backfill txn: the first empties `gram`, the last records the feature. */
static int backfill_step(struct store *s, struct gram_ops *g, uint64_t *from, bool *ret_done)
{
	uint64_t start = *from;
	MDB_txn *txn;
	int rc, r;

	r = store_txn_begin(s, 0, &txn, false);
	if (r < 0)
		return r;
	rc = mdb_dbi_open(txn, "gram", MDB_CREATE, &s->dbi_gram);
	if (!rc && start == 0)
		rc = mdb_drop(txn, s->dbi_gram, 0); /* what a killed upgrade left */
	if (!rc)
		rc = backfill_collect(s, txn, g, from, ret_done);
	if (!rc)
		rc = ops_put(txn, s->dbi_gram, g);
	if (!rc && *ret_done)
		rc = put_feature(s, txn);
	if (!rc)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	store_gate_leave(&s->gate);
	store_names_drop(g);
	if (rc == MDB_MAP_FULL) {
		*from = start;
		*ret_done = false;
		s->features[FEAT_RO_COMPAT] &= ~STORE_FEAT_RO_COMPAT_NAMES;
		rc = grow(s);
		return rc ? store_lmdb_err(rc) : 0;
	}
	return store_lmdb_err(rc);
}

int store_names_upgrade(struct store *s)
{
	struct gram_ops g = {0};
	uint64_t from = 0;
	bool done = false;
	int r = 0;

	if (store_has_name_index(s))
		return 0;
	log_debug("%s: building the name index", s->path);
	while (!done && r == 0)
		r = backfill_step(s, &g, &from, &done);
	free(g.v);
	free(g.tmp);
	free(g.ids);
	if (r < 0) {
		s->features[FEAT_RO_COMPAT] &= ~STORE_FEAT_RO_COMPAT_NAMES;
		return r;
	}
	s->has_gram = true;
	return 0;
}
