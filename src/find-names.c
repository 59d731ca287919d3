/* SPDX-License-Identifier: MIT */
/*
 * find-names.c - a find answered from the name index instead of a pass over
 * every entry.
 *
 * The index (store-names.c) maps each trigram of a name, ASCII-folded, to
 * the ids of the nodes whose name holds it.  A pattern matches a whole path,
 * and a literal every match contains (query_foreach_literal()) may cross
 * components: "proj/src" is in /home/proj/src/x but in no single name.  So
 * each literal is cut at its slashes, and only the segments of 3 bytes or
 * more count: every path holding the literal has a component holding each
 * segment.  For one segment, the ids whose names hold all its trigrams are
 * the candidates; the segment (of all the query's literals) with the fewest
 * candidates is used.  A path matches only if some component of it is a
 * candidate's name: the candidate itself, or, for a directory, anything
 * below it (its name is in all their paths).  With QUERY_NAME the literal
 * must be in the last component, so only the candidates themselves count.
 *
 *   literals ──cut at '/'──► segments ──trigrams──► id lists ──∩──► candidates
 *   candidates ──paths (parents' paths cached)──► sorted as the full pass
 *     visits them, candidates below a candidate directory dropped
 *     ──► each candidate, and each candidate directory's subtree, visited
 *         depth-first, every entry checked by the real matcher (query_match())
 *
 * The output is the full pass's, entry for entry and in its order (names in
 * byte order in a directory, a directory's subtree right after it): the
 * candidates' paths sort in that order (hit_cmp()), and a subtree is walked
 * as find.c walks it.  The index only narrows; the matcher decides, so the
 * folding, case and '/' never make an answer wrong, only the narrowing
 * weaker.  Everything runs in one read snapshot, as find_run().
 *
 * This repeats find.c's depth-first walk and path rebuilding on purpose: it
 * is kept apart from the traversal others change (find.c), at the cost of
 * ~100 lines both must keep in step (hit_cmp() is the order of traverse()).
 */
#include "find-names.h"

#include "log.h"
#include "node.h"
#include "query.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct seg {
	char s[NODE_NAME_MAX + 1]; /* folded; a longer segment is in no name */
	size_t len;
	bool too_long;
};

struct hit {
	size_t off, len, name_off; /* its path in paths */
	uint64_t id;
	char type;
	uint8_t flags;
};

/* A directory whose path is known: paths[off, off + len). */
struct dslot {
	uint64_t id; /* 0: empty */
	size_t off, len;
	bool covered; /* it or a directory above is a candidate: its subtree is walked */
};

struct up {
	uint64_t id;
	const char *name; /* borrowed from the snapshot */
	uint16_t name_len;
};

struct kid {
	uint64_t id;
	size_t name_off;
	uint16_t name_len;
	char type;
	uint8_t flags;
};

struct level {
	struct kid *kids;
	size_t n, cap, next;
	char *names;
	size_t names_len, names_cap;
	size_t path_len;
};

struct names;
static void names_destroy(struct names *nm);

struct names {
	struct store_reader *rd;
	const struct query *query;
	unsigned type_mask;
	find_fn *fn;
	void *ctx;
	bool trace;
	/* The best segment so far and its candidates. */
	struct seg best_seg;
	bool have_best;
	uint64_t *best, *cand, *list;
	size_t nbest, best_cap, ncand, cand_cap, nlist, list_cap;
	/* Candidates with their paths. */
	struct hit *v;
	size_t n, cap;
	char *paths;
	size_t paths_len, paths_cap;
	struct dslot *dirs; /* open addressing, a power of two, at most half full */
	size_t ndirs, dirs_cap;
	struct up *chain;
	size_t chain_cap;
	/* The walk of a candidate directory's subtree. */
	char *path;
	size_t path_cap;
	struct level *levels;
	size_t depth, levels_cap;
};

static inline char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* ---- candidates ----------------------------------------------------------- */

/* Keep in nm->cand only the ids also in nm->list (both ascending). */
static void intersect(struct names *nm)
{
	size_t i = 0, j = 0, k = 0;

	while (i < nm->ncand && j < nm->nlist) {
		if (nm->cand[i] < nm->list[j]) {
			i++;
		} else if (nm->cand[i] > nm->list[j]) {
			j++;
		} else {
			nm->cand[k++] = nm->cand[i++];
			j++;
		}
	}
	nm->ncand = k;
}

/* The ids whose names hold every trigram of @sg, into nm->cand. */
static int seg_candidates(struct names *nm, const struct seg *sg)
{
	int r;

	for (size_t i = 0; i + 3 <= sg->len; i++) {
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = !memcmp(sg->s + j, sg->s + i, 3);
		if (seen)
			continue;
		nm->nlist = 0;
		r = store_name_ids(nm->rd, (const unsigned char *)sg->s + i, &nm->list, &nm->nlist,
				   &nm->list_cap);
		if (r < 0)
			return r;
		if (i == 0) {
			uint64_t *t = nm->cand;
			size_t c = nm->cand_cap;

			nm->cand = nm->list, nm->cand_cap = nm->list_cap, nm->ncand = nm->nlist;
			nm->list = t, nm->list_cap = c;
		} else {
			intersect(nm);
		}
		if (nm->ncand == 0)
			break;
	}
	return 0;
}

/* Take segment @sg (folded) if it has fewer candidates than the best so far. */
static int try_seg(struct names *nm, const struct seg *sg)
{
	int r;

	if (sg->too_long) {
		/* No name holds it: nothing can match. */
		nm->nbest = 0;
		nm->best_seg = *sg;
		nm->have_best = true;
		return 1;
	}
	r = seg_candidates(nm, sg);
	if (r < 0)
		return r;
	if (!nm->have_best || nm->ncand < nm->nbest) {
		uint64_t *t = nm->best;
		size_t c = nm->best_cap;

		nm->best = nm->cand, nm->best_cap = nm->cand_cap, nm->nbest = nm->ncand;
		nm->cand = t, nm->cand_cap = c;
		nm->best_seg = *sg;
		nm->have_best = true;
	}
	return nm->nbest == 0; /* no candidate: stop looking */
}

/* query_lit_fn: each segment of 3 bytes or more of literal @s. */
static int on_literal(void *ctx, const char *s, size_t len)
{
	struct names *nm = ctx;
	size_t i = 0;
	int r;

	while (i < len) {
		size_t j = i;
		struct seg sg;

		while (j < len && s[j] != '/')
			j++;
		sg.len = j - i;
		sg.too_long = sg.len > NODE_NAME_MAX;
		if (sg.len >= 3) {
			for (size_t k = 0; k < sg.len && k < NODE_NAME_MAX; k++)
				sg.s[k] = fold(s[i + k]);
			r = try_seg(nm, &sg);
			if (r != 0)
				return r;
		}
		i = j + 1;
	}
	return 0;
}

/* ---- their paths ---------------------------------------------------------- */

static int paths_reserve(struct names *nm, size_t len)
{
	if (len > SIZE_MAX - nm->paths_len)
		return -ENOMEM;
	return GROW(nm->paths, nm->paths_cap, nm->paths_len + len);
}

/* Append the path of @dir, a slash unless it is "/", and @name; *ret is the result. */
static int paths_join(struct names *nm, const struct dslot *dir, const char *name,
		      size_t name_len, struct dslot *ret)
{
	size_t sep = dir->len > 1, off = nm->paths_len;
	int r = paths_reserve(nm, dir->len + sep + name_len);

	if (r < 0)
		return r;
	memcpy(nm->paths + off, nm->paths + dir->off, dir->len);
	if (sep)
		nm->paths[off + dir->len] = '/';
	memcpy(nm->paths + off + dir->len + sep, name, name_len);
	nm->paths_len = off + dir->len + sep + name_len;
	*ret = (struct dslot){0, off, nm->paths_len - off, dir->covered};
	return 0;
}

static size_t dslot_of(uint64_t id, size_t cap)
{
	return (size_t)((id * 0x9e3779b97f4a7c15u) >> 32) & (cap - 1);
}

static struct dslot *dir_find(struct names *nm, uint64_t id)
{
	if (!nm->dirs_cap)
		return NULL;
	for (size_t i = dslot_of(id, nm->dirs_cap);; i = (i + 1) & (nm->dirs_cap - 1)) {
		if (nm->dirs[i].id == id)
			return &nm->dirs[i];
		if (!nm->dirs[i].id)
			return NULL;
	}
}

static int dir_add(struct names *nm, uint64_t id, size_t off, size_t len, bool covered)
{
	size_t i;

	if (2 * (nm->ndirs + 1) > nm->dirs_cap) {
		size_t cap = nm->dirs_cap ? 2 * nm->dirs_cap : 256;
		struct dslot *nd = calloc(cap, sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		for (size_t j = 0; j < nm->dirs_cap; j++) {
			if (!nm->dirs[j].id)
				continue;
			for (i = dslot_of(nm->dirs[j].id, cap); nd[i].id; i = (i + 1) & (cap - 1))
				;
			nd[i] = nm->dirs[j];
		}
		free(nm->dirs);
		nm->dirs = nd;
		nm->dirs_cap = cap;
	}
	for (i = dslot_of(id, nm->dirs_cap); nm->dirs[i].id; i = (i + 1) & (nm->dirs_cap - 1))
		;
	nm->dirs[i] = (struct dslot){id, off, len, covered};
	nm->ndirs++;
	return 0;
}

/* Does @n's parent's entry under its name name @n (not so after a half-done rename)? */
static int is_named(struct names *nm, const struct node *n)
{
	struct store_child c;
	int r = store_lookup(nm->rd, n->parent, n->name, n->name_len, &c);

	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : c.id == n->id;
}

/*
 * The path of directory @id, rebuilt up to "/" or a directory whose path is
 * known, caching each on the way.  1 with *ret, 0 if one on the way is not
 * named, or an error (-EBADMSG: a missing parent or a loop).
 */
static int dir_path_of(struct names *nm, uint64_t id, struct dslot *ret)
{
	size_t depth = 0;
	struct dslot *known;
	struct node n;
	int r;

	while (!(known = dir_find(nm, id))) {
		r = store_get_node(nm->rd, id, &n);
		if (r < 0)
			return r == -ENOENT ? -EBADMSG : r;
		if (!n.parent) {
			r = paths_reserve(nm, 1);
			if (r < 0)
				return r;
			nm->paths[nm->paths_len++] = '/';
			r = dir_add(nm, id, nm->paths_len - 1, 1, false);
			if (r < 0)
				return r;
			known = dir_find(nm, id);
			break;
		}
		r = is_named(nm, &n);
		if (r <= 0)
			return r;
		if (depth >= (1u << 24))
			return -EBADMSG;
		if (GROW(nm->chain, nm->chain_cap, depth + 1) < 0)
			return -ENOMEM;
		nm->chain[depth++] = (struct up){id, n.name, n.name_len};
		id = n.parent;
	}
	*ret = *known;
	while (depth > 0) {
		const struct up *u = &nm->chain[--depth];
		struct dslot d;

		r = paths_join(nm, ret, u->name, u->name_len, &d);
		if (r == 0)
			r = dir_add(nm, u->id, d.off, d.len, d.covered);
		if (r < 0)
			return r;
		*ret = (struct dslot){u->id, d.off, d.len, d.covered};
	}
	return 1;
}

/*
 * Candidate @id, with its path, unless it is below a candidate directory
 * already known (@subtrees): that one's walk visits it.  Ids ascend, and a
 * parent's id is below its children's unless a move put it there, so this
 * spares most such candidates; visit_hits() drops the others.
 */
static int add_hit(struct names *nm, uint64_t id, bool subtrees)
{
	struct dslot dir, path, *known;
	struct node n;
	int r;

	r = store_get_node(nm->rd, id, &n);
	if (r == -ENOENT)
		return 0; /* cannot be: the index is exact; but a missing node has no path */
	if (r < 0)
		return r;
	if (!n.parent)
		return 0;
	known = dir_find(nm, n.parent);
	if (subtrees && known && known->covered)
		return 0;
	r = is_named(nm, &n);
	if (r <= 0)
		return r;
	r = dir_path_of(nm, n.parent, &dir);
	if (r <= 0)
		return r;
	if (subtrees && dir.covered)
		return 0;
	if (GROW(nm->v, nm->cap, nm->n + 1) < 0)
		return -ENOMEM;
	r = paths_join(nm, &dir, n.name, n.name_len, &path);
	if (r < 0)
		return r;
	if (subtrees && S_ISDIR(n.mode)) {
		known = dir_find(nm, id);
		if (known)
			known->covered = true;
		else if ((r = dir_add(nm, id, path.off, path.len, true)) < 0)
			return r;
	}
	nm->v[nm->n++] = (struct hit){
		.off = path.off,
		.len = path.len,
		.name_off = path.len - n.name_len,
		.id = id,
		.type = node_type_char(n.mode),
		.flags = n.flags,
	};
	return 0;
}

/*
 * find.c's order: byte order of whole paths, '/' before every byte a name
 * holds.  Paths share long prefixes: skip the equal part 8 bytes at a time.
 */
static int hit_cmp(const void *a, const void *b, void *ctx)
{
	const struct hit *x = a, *y = b;
	const unsigned char *p = (const unsigned char *)ctx + x->off;
	const unsigned char *q = (const unsigned char *)ctx + y->off;
	size_t n = x->len < y->len ? x->len : y->len, i = 0;

	for (uint64_t u, v; i + 8 <= n; i += 8) {
		memcpy(&u, p + i, 8);
		memcpy(&v, q + i, 8);
		if (u != v)
			break;
	}
	for (; i < n; i++) {
		int cp = p[i] == '/' ? 0 : p[i] + 1, cq = q[i] == '/' ? 0 : q[i] + 1;

		if (cp != cq)
			return cp - cq;
	}
	return x->len < y->len ? -1 : x->len > y->len;
}

/* ---- visiting ------------------------------------------------------------- */

static int visit(struct names *nm, size_t len, size_t name_off, uint64_t id, char type,
		 uint8_t flags)
{
	struct find_entry e;

	if (flags & NODE_F_CHAIN)
		return 0;
	if (nm->type_mask && !(nm->type_mask & find_type_bit(type)))
		return 0;
	if (!query_match(nm->query, nm->path, len, name_off))
		return 0;
	e = (struct find_entry){
		.path = nm->path, .len = len, .name_off = name_off, .id = id, .type = type,
		.reader = nm->rd,
	};
	return nm->fn(nm->ctx, &e);
}

static int add_kid(void *ctx, const struct store_child *c)
{
	struct level *l = ctx;
	struct kid *k;

	if (GROW(l->kids, l->cap, l->n + 1) < 0 ||
	    GROW(l->names, l->names_cap, l->names_len + c->name_len) < 0)
		return -ENOMEM;
	k = &l->kids[l->n++];
	*k = (struct kid){c->id, l->names_len, c->name_len, c->type, c->flags};
	memcpy(l->names + l->names_len, c->name, c->name_len);
	l->names_len += c->name_len;
	return 0;
}

static int push_level(struct names *nm, uint64_t id, size_t path_len)
{
	size_t old_cap = nm->levels_cap;
	struct level *l;

	if (GROW(nm->levels, nm->levels_cap, nm->depth + 1) < 0)
		return -ENOMEM;
	memset(nm->levels + old_cap, 0, (nm->levels_cap - old_cap) * sizeof(*nm->levels));
	l = &nm->levels[nm->depth++];
	l->n = l->next = l->names_len = 0;
	l->path_len = path_len;
	return store_foreach_child(nm->rd, id, add_kid, l);
}

/* Visit everything below directory @id, whose path is nm->path[0..len), as find.c does. */
static int walk_below(struct names *nm, uint64_t id, size_t len)
{
	int r = push_level(nm, id, len);

	while (r == 0 && nm->depth > 0) {
		struct level *l = &nm->levels[nm->depth - 1];
		struct kid *k;
		size_t plen;

		if (l->next == l->n) {
			nm->depth--;
			continue;
		}
		k = &l->kids[l->next++];
		plen = l->path_len + 1 + k->name_len;
		if (GROW(nm->path, nm->path_cap, plen + 1) < 0)
			return -ENOMEM;
		nm->path[l->path_len] = '/';
		memcpy(nm->path + l->path_len + 1, l->names + k->name_off, k->name_len);
		nm->path[plen] = '\0';
		r = visit(nm, plen, l->path_len + 1, k->id, k->type, k->flags);
		if (r == 0 && k->type == 'd')
			r = push_level(nm, k->id, plen);
	}
	nm->depth = 0;
	return r;
}

/* Is hit @h inside the directory @d (its path a prefix, then a slash)? */
static bool is_below(const struct names *nm, const struct hit *d, const struct hit *h)
{
	return h->len > d->len && nm->paths[h->off + d->len] == '/' &&
	       !memcmp(nm->paths + h->off, nm->paths + d->off, d->len);
}

static int visit_hits(struct names *nm)
{
	bool subtrees = !(query_flags(nm->query) & QUERY_NAME);
	const struct hit *dir = NULL; /* the last candidate directory walked */
	int r = 0;

	if (nm->n)
		qsort_r(nm->v, nm->n, sizeof(*nm->v), hit_cmp, nm->paths);
	for (size_t i = 0; i < nm->n && r == 0; i++) {
		const struct hit *h = &nm->v[i];

		if (dir && is_below(nm, dir, h))
			continue; /* visited with dir's subtree */
		if (GROW(nm->path, nm->path_cap, h->len + 1) < 0)
			return -ENOMEM;
		memcpy(nm->path, nm->paths + h->off, h->len);
		nm->path[h->len] = '\0';
		r = visit(nm, h->len, h->name_off, h->id, h->type, h->flags);
		if (r == 0 && subtrees && h->type == 'd') {
			dir = h;
			r = walk_below(nm, h->id, h->len);
		}
	}
	return r;
}

int find_names_walk(struct store_reader *rd, const struct query *query, unsigned type_mask,
		    uint64_t id, const char *path, size_t len, find_fn *fn, void *ctx)
{
	struct names nm = {.rd = rd, .query = query, .type_mask = type_mask, .fn = fn, .ctx = ctx};
	int r = -ENOMEM;

	nm.path = malloc(len + 1);
	if (nm.path) {
		nm.path_cap = len + 1;
		memcpy(nm.path, path, len);
		nm.path[len] = '\0';
		r = walk_below(&nm, id, len == 1 ? 0 : len);
	}
	nm.rd = NULL; /* the caller's */
	names_destroy(&nm);
	return r;
}

static void names_destroy(struct names *nm)
{
	for (size_t i = 0; i < nm->levels_cap; i++) {
		free(nm->levels[i].kids);
		free(nm->levels[i].names);
	}
	free(nm->levels);
	free(nm->path);
	free(nm->best);
	free(nm->cand);
	free(nm->list);
	free(nm->v);
	free(nm->paths);
	free(nm->dirs);
	free(nm->chain);
	store_reader_free(nm->rd);
}

/*
 * Past this share of the index's entries, candidates cost more than the full
 * pass they would spare: each is a node read, a name lookup and a path,
 * where the pass spends a cursor step and a memmem() per entry.  Measured on
 * 250,001 entries: 6,459 candidates (2.6%) took half the pass's time, 16,334
 * (6.5%) a fifth more than the pass: the break-even is near 4%.
 */
#define CANDIDATES_SHARE 24

int find_names_run(struct store *store, const struct query *query, unsigned type_mask,
		   find_fn *fn, void *ctx, bool *ret_used)
{
	const char *env = getenv("FSINDEX_DEBUG_NAMEINDEX");
	struct names nm = {
		.query = query, .type_mask = type_mask, .fn = fn, .ctx = ctx,
		.trace = env && strstr(env, "trace"),
	};
	bool force = env && strstr(env, "force");
	struct store_info info;
	int r;

	*ret_used = false;
	if (!query || !store_has_name_index(store) || (env && strstr(env, "off")))
		return 0;
	r = store_reader_new(store, &nm.rd);
	if (r < 0)
		return r;
	r = query_foreach_literal(query, on_literal, &nm);
	if (r < 0 || !nm.have_best)
		goto out;
	r = force ? 0 : store_info(store, &info);
	if (r < 0)
		goto out;
	if (!force && nm.nbest > info.nodes / CANDIDATES_SHARE) {
		if (nm.trace)
			log_notice("name index not used: %zu candidates for '%.*s' of %llu entries",
				   nm.nbest, (int)(nm.best_seg.len > NODE_NAME_MAX ? NODE_NAME_MAX
									 : nm.best_seg.len),
				   nm.best_seg.s, (unsigned long long)info.nodes);
		goto out;
	}
	if (nm.trace)
		log_notice("name index: %zu candidates for '%.*s'", nm.nbest,
			   (int)(nm.best_seg.len > NODE_NAME_MAX ? NODE_NAME_MAX : nm.best_seg.len),
			   nm.best_seg.s);
	*ret_used = true;
	for (size_t i = 0; i < nm.nbest && r == 0; i++)
		r = add_hit(&nm, nm.best[i], !(query_flags(query) & QUERY_NAME));
	if (r == 0)
		r = visit_hits(&nm);
out:
	names_destroy(&nm);
	return r;
}
