/* SPDX-License-Identifier: MIT */
/*
 * test-names.c - the name index (store-names.c, find-names.c) against two
 * oracles: the full pass over the index (find_run() with the name index off)
 * must give the same output for thousands of random patterns, and the
 * index's posting lists must be exactly what a model of the tree says, after
 * random renames, moves, replacements and subtree deletes.
 *
 * The tree is built through the store's writer (no filesystem): names of
 * 1-10 bytes, half from a small alphabet (so trigrams repeat and lists get
 * long, past one block), half from every byte but '/' and NUL.
 */
#include "tap.h"

#include "find-names.h"
#include "find-par.h"
#include "ere.h"
#include "find.h"
#include "node.h"
#include "query.h"
#include "store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Overridable (-D) for longer runs by hand; the seed by TEST_NAMES_SEED. */
#ifndef NNODES
#define NNODES 1200
#endif
#ifndef NEDITS
#define NEDITS 400
#endif
#define NAME_MAXLEN 10

struct mnode {
	uint64_t id, parent; /* parent: index into model, -1 for top */
	long up;
	char name[NAME_MAXLEN + 1];
	bool dir, alive;
};

static struct mnode model[NNODES * 2];
static size_t nmodel;
static uint64_t rng = 0x9e3779b97f4a7c15u;
static char tmpdir[] = "/tmp/test-names.XXXXXX";

/* Names that were removed or replaced: (id, name). */
static struct {
	uint64_t id;
	char name[NAME_MAXLEN + 1];
} gone[NEDITS * 8];
static size_t ngone;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static char rbyte(void)
{
	static const char alpha[] = "abcABC.x_-*?[\\";

	if (rn(2))
		return alpha[rn(sizeof(alpha) - 1)];
	for (;;) {
		unsigned c = 1 + rn(255);

		if (c != '/')
			return (char)c;
	}
}

static bool name_taken(long parent, const char *name, size_t self)
{
	for (size_t i = 0; i < nmodel; i++)
		if (i != self && model[i].alive && model[i].up == parent &&
		    !strcmp(model[i].name, name))
			return true;
	return false;
}

static void rand_name(char *buf, long parent, size_t self)
{
	do {
		size_t len = 1 + rn(NAME_MAXLEN);

		for (size_t i = 0; i < len; i++)
			buf[i] = rbyte();
		/* A trigram in a third of the names: its list runs to several blocks. */
		if (len >= 3 && rn(3) == 0)
			memcpy(buf, rn(2) ? "xAb" : "xab", 3);
		buf[len] = '\0';
	} while (name_taken(parent, buf, self));
}

static long rand_dir(void)
{
	for (;;) {
		size_t i = rn((unsigned)nmodel);

		if (model[i].alive && model[i].dir)
			return (long)i;
	}
}

static struct node to_node(const struct mnode *m)
{
	struct node n = {0};

	n.id = m->id;
	n.parent = m->up < 0 ? 0 : model[m->up].id;
	n.name = m->name;
	n.name_len = (uint16_t)strlen(m->name);
	n.mode = m->dir ? S_IFDIR | 0755 : S_IFREG | 0644;
	n.nlink = 1;
	n.ino = m->id;
	n.dev = 1;
	return n;
}

/* The path of model node @i into @buf. */
static size_t path_of(size_t i, char *buf)
{
	size_t idx[64], d = 0, len = 0;

	for (long j = (long)i; model[j].up >= 0; j = model[j].up)
		idx[d++] = (size_t)j;
	if (!d)
		return (size_t)sprintf(buf, "/");
	while (d--) {
		buf[len++] = '/';
		len += (size_t)sprintf(buf + len, "%s", model[idx[d]].name);
	}
	return len;
}

/* ---- collecting output ----------------------------------------------------- */

struct out {
	char *buf;
	size_t len, cap;
	uint64_t hit_id; /* found_id(): seen? */
	bool hit;
};

static int collect(void *ctx, const struct find_entry *e)
{
	struct out *o = ctx;

	if (o->len + e->len + 3 > o->cap) {
		o->cap = (o->len + e->len + 3) * 2;
		o->buf = realloc(o->buf, o->cap);
		if (!o->buf)
			return -ENOMEM;
	}
	memcpy(o->buf + o->len, e->path, e->len + 1);
	o->len += e->len + 1;
	o->buf[o->len++] = e->type;
	if (e->id == o->hit_id)
		o->hit = true;
	return 0;
}

/* ---- random patterns ----------------------------------------------------------- */

static size_t rand_alive(void)
{
	for (;;) {
		size_t i = rn((unsigned)nmodel);

		if (model[i].alive && model[i].up >= 0)
			return i;
	}
}

/* A piece of a random alive path, around a slash when @cross. */
static size_t rand_sub(char *dst, bool cross)
{
	char path[1024];
	size_t i = rand_alive(), len = path_of(i, path), at, n;

	if (cross) {
		at = rn((unsigned)len);
		while (at > 0 && path[at] != '/')
			at--;
		at = at > 3 ? at - rn(4) : 0;
		n = 2 + rn(8);
	} else {
		const char *name = model[i].name;
		size_t nl = strlen(name);

		at = len - nl + rn((unsigned)nl);
		n = 1 + rn(8);
	}
	if (at + n > len)
		n = len - at;
	memcpy(dst, path + at, n);
	dst[n] = '\0';
	return n;
}

static void regex_escape(const char *s, char *dst)
{
	for (; *s; s++) {
		if (strchr(".[]()*+?{}|^$\\", *s))
			*dst++ = '\\';
		*dst++ = *s;
	}
	*dst = '\0';
}

static void rand_glob(char *p)
{
	char a[64], b[64];

	rand_sub(a, rn(3) == 0);
	rand_sub(b, false);
	switch (rn(5)) {
	case 0:
		sprintf(p, "*%s*", a);
		break;
	case 1:
		sprintf(p, "*%s*%s", a, b);
		break;
	case 2:
		a[rn((unsigned)strlen(a) + 1) % (strlen(a) ? strlen(a) : 1)] = '?';
		sprintf(p, "*%s*", a);
		break;
	case 3:
		sprintf(p, "*[%c%c]%s*", rbyte(), rbyte(), a);
		break;
	default:
		sprintf(p, "*[!a]%s*[[:alpha:]]%s", a, b);
		break;
	}
}

static void rand_regex(char *p)
{
	static const char meta[] = "ab.*+?|()[]{}^$\\12,x";
	char a[64], b[64], ea[160], eb[160];

	rand_sub(a, rn(3) == 0);
	rand_sub(b, false);
	regex_escape(a, ea);
	regex_escape(b, eb);
	switch (rn(7)) {
	case 0:
		sprintf(p, "%s", ea);
		break;
	case 1:
		sprintf(p, "%s.*%s", ea, eb);
		break;
	case 2: /* two whole names: each alternative alone must be found */
		strcpy(a, model[rand_alive()].name);
		strcpy(b, model[rand_alive()].name);
		regex_escape(a, ea);
		regex_escape(b, eb);
		sprintf(p, "(%s|%s)", ea, eb);
		break;
	case 3:
		sprintf(p, "(%s)+x?", ea);
		break;
	case 4:
		sprintf(p, "[ab]%s{1,2}$", ea);
		break;
	case 5:
		sprintf(p, "%s(x|y)*%s", ea, eb);
		break;
	default:
		for (unsigned i = 0, n = 1 + rn(8); i < n; i++)
			p[i] = meta[rn(sizeof(meta) - 1)], p[i + 1] = '\0';
		break;
	}
}

/* One random pattern into @p (at least 512 bytes); the QUERY_* flags it wants. */
static unsigned rand_pattern(char *p)
{
	unsigned flags = (rn(3) == 0 ? QUERY_ICASE : 0) | (rn(5) == 0 ? QUERY_NAME : 0);

	switch (rn(6)) {
	case 0:
		rand_sub(p, false);
		break;
	case 1:
		rand_sub(p, true);
		break;
	case 2:
		for (unsigned i = 0, n = 1 + rn(5); i < n; i++)
			p[i] = rbyte(), p[i + 1] = '\0';
		break;
	case 3:
		for (unsigned i = 0, n = 1 + rn(2); i < n; i++)
			p[i] = "abcAB."[rn(6)], p[i + 1] = '\0';
		break;
	case 4:
		rand_glob(p);
		break;
	default:
		rand_regex(p);
		flags |= QUERY_REGEX;
		break;
	}
	return flags;
}

/*
 * Run @count random queries both ways; the outputs must be the same.
 * Returns the number through the index, or -1 after a difference.
 */
static long compare_patterns(struct store *s, unsigned count, const char *when, long *ret_par)
{
	struct out full = {0}, idx = {0}, par = {0};
	long via_index = 0, bad = 0;

	for (unsigned i = 0; i < count; i++) {
		char pats[2][512];
		const char *pv[2] = {pats[0], pats[1]};
		unsigned flags = rand_pattern(pats[0]), mask = 0;
		size_t np = 1;
		struct query *q;
		bool used;
		int r1, r2;

		if (rn(8) == 0) {
			rand_sub(pats[1], false);
			np = 2;
		}
		if (rn(10) == 0)
			mask = find_type_bit(rn(2) ? 'f' : 'd');
		if (query_new(pv, np, flags, &q, NULL) < 0)
			continue;
		full.len = idx.len = par.len = 0;
		setenv("FSINDEX_DEBUG_NAMEINDEX", "off", 1);
		setenv("FSINDEX_DEBUG_PARALLEL", "off", 1);
		r1 = find_run(s, q, mask, collect, &full);
		/* A pool a query: every fifth pattern keeps the test short. */
		setenv("FSINDEX_DEBUG_PARALLEL", i % 5 ? "off" : "force", 1);
		r2 = find_par_run(s, q, mask, collect, &par, &used);
		if (used && (r2 != r1 || par.len != full.len ||
			     (full.len && memcmp(full.buf, par.buf, full.len)))) {
			if (bad++ < 5)
				diag("%s: pattern '%s' flags %#x mask %#x: the parallel pass differs",
				     when, pats[0], flags, mask);
		}
		*ret_par += used;
		unsetenv("FSINDEX_DEBUG_PARALLEL");
		setenv("FSINDEX_DEBUG_NAMEINDEX", "force", 1);
		r2 = find_names_run(s, q, mask, collect, &idx, &used);
		unsetenv("FSINDEX_DEBUG_NAMEINDEX");
		query_free(q);
		if (!used)
			continue;
		via_index++;
		if (r1 != 0 || r2 != 0 || full.len != idx.len ||
		    (full.len && memcmp(full.buf, idx.buf, full.len))) {
			if (bad++ < 5)
				diag("%s: pattern '%s' flags %#x mask %#x: full pass %zu bytes (%d), "
				     "index %zu bytes (%d)",
				     when, pats[0], flags, mask, full.len, r1, idx.len, r2);
		}
	}
	free(full.buf);
	free(idx.buf);
	free(par.buf);
	return bad ? -1 : via_index;
}

/* ---- the index against the model ---------------------------------------------- */

static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool name_has(const char *name, const unsigned char *tri)
{
	for (size_t i = 0; name[i] && name[i + 1] && name[i + 2]; i++)
		if (fold(name[i]) == (char)tri[0] && fold(name[i + 1]) == (char)tri[1] &&
		    fold(name[i + 2]) == (char)tri[2])
			return true;
	return false;
}

static int check_trigram(struct store_reader *rd, const unsigned char *tri)
{
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0, k = 0;
	uint64_t want = 0, got = 0;
	int bad = 0;

	if (store_name_ids(rd, tri, &ids, &n, &cap) < 0)
		return 1;
	/* Model nodes are in ascending id order. */
	for (size_t i = 0; i < nmodel && !bad; i++) {
		if (!model[i].alive || !name_has(model[i].name, tri))
			continue;
		if (k >= n || ids[k] != model[i].id) {
			bad = 1;
			want = model[i].id;
			got = k < n ? ids[k] : 0;
		}
		k++;
	}
	if (k != n && !bad) {
		bad = 1;
		got = ids[k];
	}
	if (bad)
		diag("trigram %02x%02x%02x: %zu ids in the index; the model has id %llu where it "
		     "has %llu",
		     tri[0], tri[1], tri[2], n, (unsigned long long)want, (unsigned long long)got);
	free(ids);
	return bad;
}

/* Every trigram of every name ever used lists exactly the alive nodes holding it. */
static int check_exact(struct store *s)
{
	struct store_reader *rd;
	int bad = 0;

	if (store_reader_new(s, &rd) < 0)
		return 1;
	for (size_t i = 0; i < nmodel + ngone && bad < 3; i++) {
		const char *name = i < nmodel ? model[i].name : gone[i - nmodel].name;

		for (size_t j = 0; name[j] && name[j + 1] && name[j + 2]; j++) {
			unsigned char tri[3] = {(unsigned char)fold(name[j]),
						(unsigned char)fold(name[j + 1]),
						(unsigned char)fold(name[j + 2])};

			bad += check_trigram(rd, tri);
		}
	}
	store_reader_free(rd);
	return bad;
}

/* A query for names equal to @name (escaped as a glob when it holds a wildcard). */
static struct query *own_query(const char *name)
{
	char pat[2 * NAME_MAXLEN + 1], *p = pat;
	const char *pv[1] = {pat};
	struct query *q;

	if (query_is_glob(name)) {
		for (const char *c = name; *c; c++) {
			if (strchr("*?[\\", *c))
				*p++ = '\\';
			*p++ = *c;
		}
		*p = '\0';
	} else {
		strcpy(pat, name);
	}
	return query_new(pv, 1, QUERY_NAME, &q, NULL) < 0 ? NULL : q;
}

/* Is node @id found by its own name @name (@want) through the index? */
static int found_by_name(struct store *s, uint64_t id, const char *name, bool want)
{
	struct out o = {.hit_id = id};
	struct query *q = own_query(name);
	bool used = false;
	int r;

	if (!q)
		return 1;
	setenv("FSINDEX_DEBUG_NAMEINDEX", "force", 1);
	r = find_names_run(s, q, 0, collect, &o, &used);
	unsetenv("FSINDEX_DEBUG_NAMEINDEX");
	query_free(q);
	free(o.buf);
	if (r < 0 || !used || o.hit != want) {
		diag("name '%s' (id %llu): %s", name, (unsigned long long)id,
		     want ? "not found" : "found though removed");
		return 1;
	}
	return 0;
}

/* Does alive node @id's name (now) match the query own_query(@name) all the same? */
static bool still_named(uint64_t id, const char *name)
{
	for (size_t i = 0; i < nmodel; i++)
		if (model[i].id == id && model[i].alive)
			return query_is_glob(name) ? !strcmp(model[i].name, name)
						   : strstr(model[i].name, name) != NULL;
	return false;
}

static int check_own_names(struct store *s)
{
	int bad = 0;

	for (size_t i = 0; i < nmodel && bad < 5; i++)
		if (model[i].alive && strlen(model[i].name) >= 3)
			bad += found_by_name(s, model[i].id, model[i].name, true);
	for (size_t i = 0; i < ngone && bad < 5; i++)
		if (strlen(gone[i].name) >= 3 && !still_named(gone[i].id, gone[i].name))
			bad += found_by_name(s, gone[i].id, gone[i].name, false);
	return bad;
}

/* ---- building and editing -------------------------------------------------- */

static void forget(size_t i)
{
	if (ngone < sizeof(gone) / sizeof(gone[0])) {
		gone[ngone].id = model[i].id;
		strcpy(gone[ngone++].name, model[i].name);
	}
}

/* Node @i and everything below it are gone (moves put children before parents too). */
static void kill_subtree(size_t i)
{
	bool more = true;

	model[i].alive = false;
	forget(i);
	while (more) {
		more = false;
		for (size_t j = 1; j < nmodel; j++) {
			if (model[j].alive && !model[model[j].up].alive) {
				model[j].alive = false;
				forget(j);
				more = true;
			}
		}
	}
}

static bool is_ancestor(size_t a, long d)
{
	for (; d >= 0; d = model[d].up)
		if ((size_t)d == a)
			return true;
	return false;
}

static int add_node(struct store_writer *w, struct store_batch *b, long up, bool dir)
{
	struct mnode *m = &model[nmodel];
	struct node n;

	m->id = store_alloc_ids(w, 1);
	m->up = up;
	m->dir = dir;
	m->alive = true;
	rand_name(m->name, up, nmodel);
	nmodel++;
	n = to_node(m);
	return store_batch_put(b, &n, true);
}

/* One random edit: a rename or move, a replacement put, a subtree delete, or a new node. */
static int edit(struct store_writer *w, struct store_batch *b)
{
	size_t i = rand_alive();
	struct mnode *m = &model[i];
	struct node n;
	long up;

	switch (rn(4)) {
	case 0: /* rename, maybe into another directory */
		up = rn(2) ? rand_dir() : m->up;
		if (is_ancestor(i, up))
			up = m->up;
		forget(i);
		m->up = up;
		rand_name(m->name, up, i);
		n = to_node(m);
		return store_batch_move(b, &n);
	case 1: /* the same id put again under a new name */
		forget(i);
		rand_name(m->name, m->up, i);
		n = to_node(m);
		return store_batch_put(b, &n, false);
	case 2:
		kill_subtree(i);
		return store_batch_del(b, m->id);
	default:
		return add_node(w, b, rand_dir(), rn(4) == 0);
	}
}

static int build(struct store *s, bool edits)
{
	struct store_writer *w;
	struct store_batch *b;
	struct node n;
	int r, r2;

	r = store_writer_start(s, NULL, &w);
	if (r < 0)
		return r;
	r = store_batch_new(w, NULL, &b);
	if (r < 0) {
		store_writer_finish(w, NULL);
		return r;
	}
	if (!edits) {
		model[0] = (struct mnode){.id = NODE_ID_TOP, .up = -1, .dir = true, .alive = true};
		nmodel = 1;
		n = to_node(&model[0]);
		r = store_batch_put(b, &n, true);
		for (size_t i = 1; i < NNODES && r == 0; i++)
			r = add_node(w, b, rand_dir(), rn(5) == 0);
	} else {
		for (unsigned i = 0; i < NEDITS && r == 0; i++)
			r = edit(w, b);
	}
	store_batch_free(b);
	r2 = store_writer_finish(w, NULL);
	return r ? r : r2;
}

/* Does @re's literal list (ere_literal()) hold @want, and nothing else when @only? */
static bool has_lit(const char *pattern, unsigned flags, const char *want, bool only)
{
	struct ere *re;
	bool found = false;
	size_t n;

	if (ere_new(pattern, flags, &re, NULL) < 0)
		return false;
	n = ere_nliterals(re);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *l = ere_literal(re, i, &len);

		found |= len == strlen(want) && !memcmp(l, want, len);
	}
	ere_free(re);
	return found && (!only || n == 1);
}

static void test_ere_literals(void)
{
	struct ere *re;

	ok(has_lit("abc", 0, "abc", true) && has_lit("^/a/Bc$", 0, "/a/bc", true),
	   "ere literals: a plain string, anchors aside, folded");
	ok(has_lit("x(abc|abd)y", 0, "xab", false) && !has_lit("x(abc|abd)y", 0, "xabc", false),
	   "ere literals: an alternation keeps what both sides share");
	ok(has_lit("foo[0-9]+bar", 0, "foo", false) && has_lit("foo[0-9]+bar", 0, "bar", false),
	   "ere literals: a set splits a literal");
	ok(has_lit("(ab){2,}", 0, "abab", false) && has_lit("q(xyz)+", ERE_ICASE, "qxyz", false),
	   "ere literals: a repetition of at least one keeps its operand's");
	ok(ere_new("(abc)?d*[xy]", 0, &re, NULL) == 0 && ere_nliterals(re) == 0,
	   "ere literals: none when every part is optional or a set");
	ere_free(re);
}

int main(void)
{
	struct store *s = NULL;
	long via, par = 0;

	if (getenv("TEST_NAMES_SEED"))
		rng = strtoull(getenv("TEST_NAMES_SEED"), NULL, 0) | 1;
	plan(14);
	test_ere_literals();
	if (!mkdtemp(tmpdir))
		skip_all("no temporary directory");
	ok(store_open(tmpdir, STORE_LOCK, &s) == 0, "a new index");
	if (!s)
		return 1;
	ok(store_has_name_index(s), "a new index has a name index");
	ok(build(s, false) == 0, "%d nodes with random names put", NNODES);
	ok(check_exact(s) == 0, "every trigram lists exactly the nodes whose names hold it");

	via = compare_patterns(s, 2000, "built", &par);
	ok(via > 500 && par > 300,
	   "2000 random patterns: index, parallel and full pass agree (%ld through the index, "
	   "%ld in parallel)",
	   via, par);

	ok(build(s, true) == 0, "%d random renames, moves, replacements, deletes, additions", NEDITS);
	ok(check_exact(s) == 0, "after the edits, every trigram is still exact");
	ok(check_own_names(s) == 0, "every name is found by a pattern of its own, no removed one is");
	par = 0;
	via = compare_patterns(s, 1500, "edited", &par);
	ok(via > 300 && par > 200,
	   "1500 more random patterns agree after the edits (%ld through the index, %ld in parallel)",
	   via, par);

	store_close(s);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmpdir);
	}
	return tap_failed ? 1 : 0;
}
