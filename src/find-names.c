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
 * candidates' paths sort in that order (nodepaths_hit_cmp()), and a subtree
 * is walked as find.c walks it.  The index only narrows; the matcher decides, so the
 * folding, case and '/' never make an answer wrong, only the narrowing
 * weaker.  Everything runs in one read snapshot, as find_run().
 *
 * Paths are rebuilt and ordered by nodepaths.c, as for find_by_hash().  The
 * depth-first walk of a candidate's subtree repeats find.c's (~60 lines
 * both must keep in step: nodepaths_hit_cmp() is the order of traverse()).
 */
#include "find-names.h"

#include "log.h"
#include "node.h"
#include "nodepaths.h"
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
	/*
	 * Candidates with their paths; a cached directory's covered mark: it
	 * or a directory above is a candidate, so its subtree is walked.
	 */
	struct nodepaths np;	/* its reader is rd */
	struct nodepaths_hit *v;
	size_t n, cap;
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

/*
 * Candidate @id, with its path, unless it is below a candidate directory
 * already known (@subtrees): that one's walk visits it.  Ids ascend, and a
 * parent's id is below its children's unless a move put it there, so this
 * spares most such candidates; visit_hits() drops the others.
 */
static int add_hit(struct names *nm, uint64_t id, bool subtrees)
{
	struct nodepath dir, path, *known;
	struct node n;
	int r;

	r = store_get_node(nm->rd, id, &n);
	if (r == -ENOENT)
		return 0; /* cannot be: the index is exact; but a missing node has no path */
	if (r < 0)
		return r;
	if (!n.parent)
		return 0;
	known = nodepaths_find(&nm->np, n.parent);
	if (subtrees && known && known->covered)
		return 0;
	r = nodepaths_is_named(&nm->np, &n);
	if (r <= 0)
		return r;
	r = nodepaths_dir(&nm->np, n.parent, &dir);
	if (r <= 0)
		return r;
	if (subtrees && dir.covered)
		return 0;
	if (GROW(nm->v, nm->cap, nm->n + 1) < 0)
		return -ENOMEM;
	r = nodepaths_join(&nm->np, &dir, n.name, n.name_len, &path);
	if (r < 0)
		return r;
	if (subtrees && S_ISDIR(n.mode)) {
		known = nodepaths_find(&nm->np, id);
		if (known)
			known->covered = true;
		else if ((r = nodepaths_add(&nm->np, id, path.off, path.len, true)) < 0)
			return r;
	}
	nm->v[nm->n++] = (struct nodepaths_hit){
		.off = path.off,
		.len = path.len,
		.name_off = path.len - n.name_len,
		.id = id,
		.type = node_type_char(n.mode),
		.flags = n.flags,
	};
	return 0;
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
static bool is_below(const struct names *nm, const struct nodepaths_hit *d,
		     const struct nodepaths_hit *h)
{
	return h->len > d->len && nm->np.buf[h->off + d->len] == '/' &&
	       !memcmp(nm->np.buf + h->off, nm->np.buf + d->off, d->len);
}

static int visit_hits(struct names *nm)
{
	bool subtrees = !(query_flags(nm->query) & QUERY_NAME);
	const struct nodepaths_hit *dir = NULL; /* the last candidate directory walked */
	int r = 0;

	if (nm->n)
		qsort_r(nm->v, nm->n, sizeof(*nm->v), nodepaths_hit_cmp, nm->np.buf);
	for (size_t i = 0; i < nm->n && r == 0; i++) {
		const struct nodepaths_hit *h = &nm->v[i];

		if (dir && is_below(nm, dir, h))
			continue; /* visited with dir's subtree */
		if (GROW(nm->path, nm->path_cap, h->len + 1) < 0)
			return -ENOMEM;
		memcpy(nm->path, nm->np.buf + h->off, h->len);
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
	nodepaths_destroy(&nm->np);
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
	const char *env = secure_getenv("FSINDEX_DEBUG_NAMEINDEX");
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
	nm.np.rd = nm.rd;
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
