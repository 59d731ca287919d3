/* SPDX-License-Identifier: MIT */
/*
 * dups-collect.c - gathering the candidates of dups and putting them in
 * order.
 *
 * The walker hands every regular file it sees, with the hashes the index
 * holds for it, to dups_collect(): one shard per worker, so no locks, one
 * 96-byte record each in a flat array and the paths, relative to their
 * root, in the shard's arena.  dups_run() then merges the shards into one
 * array (dups_merge_shards(): the largest shard's array is grown in place,
 * the arenas are kept), sorts it by (size, dev, ino) and name
 * (dups_sort_inodes(): an LSD radix sort of 32-bit indices, the permutation
 * applied in place, so peak memory stays one copy of the records) and folds
 * the names of one inode into one candidate (dups_fold_links()).  What the
 * stages read, and how, is dups.c's.
 */
#include "dups-priv.h"

#include "hash.h"
#include "node.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Candidates as workers find them: one shard per worker, merged by dups_run(). */
struct shard {
	struct cand *c;
	size_t n, cap;
	char *arena;
	size_t arena_len, arena_cap;
	struct digests *h;		/* digests the index already holds */
	size_t nh, caph;
	const char *last_root;		/* the walker's string for the root of... */
	uint32_t last_index;		/* ...this PATH argument... */
	size_t last_root_len;		/* ...and its length */
	int err;
} __attribute__((aligned(64)));

struct dups_collector {
	char *const *roots;		/* borrowed from the caller */
	size_t nroots;
	uint64_t min_size;
	bool empty;
	struct shard shards[DUPS_MAX_WORKERS];
};

int dups_collector_new(char *const *root_paths, size_t nroots, const struct dups_opts *opts,
		       struct dups_collector **ret)
{
	struct dups_collector *col = aligned_alloc(64, sizeof(*col));

	if (!col)
		return -ENOMEM;
	memset(col, 0, sizeof(*col));
	col->roots = root_paths;
	col->nroots = nroots;
	col->min_size = opts->min_size;
	col->empty = opts->empty;
	*ret = col;
	return 0;
}

void dups_collector_free(struct dups_collector *col)
{
	if (!col)
		return;
	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++) {
		free(col->shards[i].c);
		free(col->shards[i].arena);
		free(col->shards[i].h);
	}
	free(col);
}

/* The PATH argument @root is (NO_ROOT if none: the path is then kept whole). */
static uint32_t root_index(struct dups_collector *col, struct shard *sh, const char *root)
{
	if (root != sh->last_root) {
		sh->last_root = root;
		sh->last_index = NO_ROOT;
		sh->last_root_len = 0;
		for (size_t i = 0; i < col->nroots; i++)
			if (strcmp(col->roots[i], root) == 0) {
				sh->last_index = (uint32_t)i;
				/* Below "/" the relative path starts right after it. */
				sh->last_root_len = strcmp(root, "/") == 0 ? 0 : strlen(root);
				break;
			}
	}
	return sh->last_index;
}

void dups_collect(void *ctx, unsigned worker, const char *root, const char *dir, size_t dir_len,
		  const struct node *n)
{
	struct dups_collector *col = ctx;
	struct shard *sh = &col->shards[worker % DUPS_MAX_WORKERS];
	uint32_t ri;
	size_t len;
	struct cand *c;
	char *path;

	if (sh->err || (n->size == 0 ? !col->empty : n->size < col->min_size))
		return;
	/*
	 * Paths are kept relative to their root (for 200k files below a long
	 * root that is megabytes): "dir/name" for DIR below ROOT, plain "name"
	 * in ROOT itself.  Whole paths are rebuilt only where one is needed.
	 */
	ri = root_index(col, sh, root);
	if (ri != NO_ROOT && dir_len >= sh->last_root_len) {
		dir += sh->last_root_len;
		dir_len -= sh->last_root_len;
		if (dir_len && *dir == '/') {
			dir++;
			dir_len--;
		}
	}
	len = (dir_len ? dir_len + 1 : 0) + n->name_len;
	if (sh->arena_len + len + 1 > UINT32_MAX) {
		sh->err = -EOVERFLOW;	/* 4 GiB of paths in one worker's share */
		return;
	}
	if (GROW(sh->c, sh->cap, sh->n + 1) ||
	    GROW(sh->arena, sh->arena_cap, sh->arena_len + len + 1))
		goto oom;
	c = &sh->c[sh->n++];
	memset(c, 0, sizeof(*c));
	c->id = n->id;
	ident_from_node(&c->fid, n);
	c->nlink = n->nlink;
	c->uid = n->uid;
	c->h = NO_HASHES;
	if (n->hash_state != NODE_HASH_NONE) {
		if (GROW(sh->h, sh->caph, sh->nh + 1))
			goto oom;
		memcpy(sh->h[sh->nh].head, n->head, 16);
		memcpy(sh->h[sh->nh].tail, n->tail, 16);
		memcpy(sh->h[sh->nh].full, n->full, 16);
		c->h = (uint32_t)sh->nh++;
	}
	if (n->hash_state >= NODE_HASH_HEAD)
		c->have = HAVE_HEAD;
	if (n->hash_state >= NODE_HASH_PARTIAL)
		c->have |= HAVE_TAIL;
	if (n->hash_state == NODE_HASH_FULL)
		c->have |= HAVE_FULL;
	c->from_index = c->have != 0;
	c->root = ri;
	c->shard = (uint16_t)(sh - col->shards);
	c->next_name = UINT32_MAX;
	c->path_off = sh->arena_len;
	c->path_len = (uint32_t)len;
	path = sh->arena + sh->arena_len;
	if (dir_len) {
		memcpy(path, dir, dir_len);
		path[dir_len] = '/';
	}
	memcpy(path + len - n->name_len, n->name, n->name_len);
	path[len] = '\0';
	sh->arena_len += len + 1;
	return;
oom:
	sh->err = -ENOMEM;
}

/* Where shard @which's digests start once all shards' are concatenated in order. */
static size_t hash_base(const struct dups_collector *col, size_t which)
{
	size_t base = 0;

	for (size_t i = 0; i < which; i++)
		base += col->shards[i].nh;
	return base;
}

/* As dups-priv.h says: the big shard's array grows, the others are appended. */
int dups_merge_shards(struct dups_collector *col, struct dups_priv *p)
{
	size_t total = 0, big = 0, nh = 0, big_base;

	p->roots = col->roots;
	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++) {
		if (col->shards[i].err)
			return col->shards[i].err;
		total += col->shards[i].n;
		if (col->shards[i].n > col->shards[big].n)
			big = i;
	}
	p->c = realloc(col->shards[big].c, (total ? total : 1) * sizeof(*p->c));
	if (!p->c)
		return -ENOMEM;
	col->shards[big].c = NULL;
	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++)
		nh += col->shards[i].nh;
	p->h = malloc((nh ? nh : 1) * sizeof(*p->h));
	if (!p->h)
		return -ENOMEM;
	p->n = col->shards[big].n;
	/* The big shard's candidates are in place already: renumber their digests. */
	big_base = hash_base(col, big);
	for (size_t k = 0; k < p->n; k++)
		if (p->c[k].h != NO_HASHES)
			p->c[k].h += (uint32_t)big_base;
	col->shards[big].n = 0;
	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++) {
		struct shard *sh = &col->shards[i];
		size_t base = p->nh;

		if (sh->nh)
			memcpy(p->h + p->nh, sh->h, sh->nh * sizeof(*sh->h));
		p->nh += sh->nh;
		free(sh->h);
		sh->h = NULL;
		sh->nh = 0;
		for (size_t k = 0; k < sh->n; k++)
			if (sh->c[k].h != NO_HASHES)
				sh->c[k].h += (uint32_t)base;
		p->arenas[i] = sh->arena;
		sh->arena = NULL;
		if (sh->n)
			memcpy(p->c + p->n, sh->c, sh->n * sizeof(*sh->c));
		p->n += sh->n;
		free(sh->c);
		sh->c = NULL;
		sh->n = 0;
	}
	return 0;
}

/*
 * The whole path of @c in *@buf (grown as needed; the caller frees it).
 * Returns its length, or -ENOMEM.
 */
ssize_t dups_full_path(const struct dups_priv *p, const struct cand *c, char **buf, size_t *cap)
{
	const char *root = c->root == NO_ROOT ? "" : p->roots[c->root];
	size_t rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
	size_t len = rlen + (c->root == NO_ROOT ? 0 : 1) + c->path_len;

	if (len + 1 > *cap) {
		char *nb = realloc(*buf, len + 1);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = len + 1;
	}
	memcpy(*buf, root, rlen);
	if (c->root != NO_ROOT)
		(*buf)[rlen] = '/';
	memcpy(*buf + len - c->path_len, cand_path(p, c), c->path_len + 1);
	return (ssize_t)len;
}

/* qsort_r() order of two candidates by root, then path; @ctx is the dups_priv. */
static int cmp_name(const void *va, const void *vb, void *ctx)
{
	const struct cand *a = va, *b = vb;
	const struct dups_priv *p = ctx;
	size_t la = a->path_len, lb = b->path_len;
	int c;

	if (a->root != b->root)
		return a->root < b->root ? -1 : 1;
	c = memcmp(cand_path(p, a), cand_path(p, b), la < lb ? la : lb);
	if (c)
		return c;
	return la < lb ? -1 : la > lb;
}

/* Byte @pos (0 = least significant) of a (size, dev, ino) key. */
static unsigned key_byte(const uint64_t *key, unsigned pos)
{
	return (unsigned)(key[2 - pos / 8] >> (8 * (pos % 8))) & 0xff;
}

static bool same_inode(const struct cand *a, const struct cand *b)
{
	return a->fid.size == b->fid.size && a->fid.dev == b->fid.dev && a->fid.ino == b->fid.ino;
}

/*
 * Reorder @n elements of @size bytes at @base so that position k holds what
 * was at @from[k], in place: each cycle of the permutation is followed with
 * one element in @spare.  @from ends up as the identity.
 */
static void permute(void *base, size_t size, uint32_t *from, size_t n, void *spare)
{
	unsigned char *a = base;

	for (size_t i = 0; i < n; i++) {
		size_t k = i;

		if (from[i] == i)
			continue;
		memcpy(spare, a + i * size, size);
		while (from[k] != i) {
			size_t src = from[k];

			memcpy(a + k * size, a + src * size, size);
			from[k] = (uint32_t)k;
			k = src;
		}
		memcpy(a + k * size, spare, size);
		from[k] = (uint32_t)k;
	}
}

/*
 * Put the digests in candidate order, so that the stage passes read them in
 * turn instead of all over the array; in place, like the candidates, with
 * @from (room for p->nh) as scratch.  Each candidate owns its slot.
 */
static int renumber_digests(struct dups_priv *p, uint32_t *from)
{
	struct digests spare;
	uint32_t m = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->c[i].h != NO_HASHES) {
			from[m] = p->c[i].h;
			p->c[i].h = m++;
		}
	if (m != p->nh)
		return -EINVAL; /* a slot without its candidate: a bug */
	permute(p->h, sizeof(*p->h), from, m, &spare);
	return 0;
}

/*
 * Sort the candidates by size, then inode, then name order, so an inode's
 * names end up together, first name first.  An LSD radix sort of 32-bit
 * indices by a copy of the 24-byte (size, dev, ino) keys: byte positions
 * that are the same in every key (the high bytes of sizes, a lone dev) cost
 * nothing, and only the rare names of one inode are compared.  The
 * permutation is then applied in place: no second copy of the 80-byte
 * candidates (peak memory is what dups is compared on).
 */
int dups_sort_inodes(struct dups_priv *p)
{
	size_t n = p->n, (*count)[256] = calloc(24, sizeof(*count));
	uint32_t *x = malloc((n ? n : 1) * sizeof(*x)), *y = malloc((n ? n : 1) * sizeof(*y));
	uint64_t (*key)[3] = malloc((n ? n : 1) * sizeof(*key)); /* 24 B each, not 80 */
	struct cand spare;
	int r = -ENOMEM;

	if (!count || !x || !y || !key)
		goto out;
	if (n > UINT32_MAX) {
		r = -EOVERFLOW;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		x[i] = (uint32_t)i;
		key[i][0] = p->c[i].fid.size;
		key[i][1] = p->c[i].fid.dev;
		key[i][2] = p->c[i].fid.ino;
		for (unsigned pos = 0; pos < 24; pos++)
			count[pos][key_byte(key[i], pos)]++;
	}
	for (unsigned pos = 0; n && pos < 24; pos++) {
		size_t sum = 0;
		uint32_t *t;

		if (count[pos][key_byte(key[0], pos)] == n)
			continue; /* one value at this position: already in order */
		for (unsigned v = 0; v < 256; v++) {
			size_t c = count[pos][v];

			count[pos][v] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			y[count[pos][key_byte(key[x[i]], pos)]++] = x[i];
		t = x, x = y, y = t;
	}
	free(key);
	key = NULL;
	/* Position k takes candidate x[k]. */
	permute(p->c, sizeof(*p->c), x, n, &spare);
	/* The names of one inode (hard links): in name order. */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && same_inode(&p->c[i], &p->c[j]))
			j++;
		if (j - i > 1)
			qsort_r(p->c + i, j - i, sizeof(*p->c), cmp_name, p);
		i = j;
	}
	r = renumber_digests(p, x);
out:
	free(count);
	free(x);
	free(y);
	free(key);
	return r;
}

static bool same_name(const struct dups_priv *p, const struct cand *a, const struct cand *b)
{
	char *pa = NULL, *pb = NULL;
	size_t ca = 0, cb = 0;
	ssize_t la, lb;
	bool same;

	if (a->id == b->id)
		return true;
	/* Rare (an inode met twice): compare whole paths, roots may nest. */
	la = dups_full_path(p, a, &pa, &ca);
	lb = dups_full_path(p, b, &pb, &cb);
	same = la >= 0 && la == lb && memcmp(pa, pb, (size_t)la) == 0;
	free(pa);
	free(pb);
	return same;
}

/*
 * Fold hard links: the first name of an inode stays a candidate, the others
 * hang off it through next_name and leave the array of candidates.  Also
 * drops the same node reached through two overlapping roots.  Returns the
 * number of inodes; @idx receives their indices.
 */
size_t dups_fold_links(struct dups_priv *p, size_t *idx)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct cand *c = &p->c[i];

		if (n > 0) {
			struct cand *head = &p->c[idx[n - 1]];

			if (head->fid.dev == c->fid.dev && head->fid.ino == c->fid.ino &&
			    head->fid.size == c->fid.size) {
				struct cand *t = head;

				/* The same node, or the same path, seen twice: one name. */
				while (t->next_name != UINT32_MAX && !same_name(p, t, c))
					t = &p->c[t->next_name];
				if (!same_name(p, t, c))
					t->next_name = (uint32_t)i;
				continue;
			}
		}
		idx[n++] = i;
	}
	return n;
}

/*
 * Give every candidate (files sharing their size) room for its digests;
 * empty files get theirs at once.  Returns 0 or -ENOMEM.
 */
int dups_give_digests(struct dups_priv *p, const size_t *idx, size_t n)
{
	size_t missing = 0;
	struct digests *nh;
	struct hash128 h;

	for (size_t i = 0; i < n; i++)
		missing += p->c[idx[i]].h == NO_HASHES;
	if (p->nh + missing > NO_HASHES)
		return -EOVERFLOW;
	nh = realloc(p->h, (p->nh + missing + 1) * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	p->h = nh;
	hash_buffer("", 0, &h);
	for (size_t i = 0; i < n; i++) {
		struct cand *c = &p->c[idx[i]];

		if (c->h == NO_HASHES)
			c->h = (uint32_t)p->nh++;
		if (c->fid.size == 0) {
			memcpy(dg(p, c)->head, h.b, 16);
			memcpy(dg(p, c)->tail, h.b, 16);
			memcpy(dg(p, c)->full, h.b, 16);
			c->have = HAVE_HEAD | HAVE_TAIL | HAVE_FULL;
		}
	}
	return 0;
}
