/* SPDX-License-Identifier: MIT */
/*
 * ere.c - a POSIX ERE engine whose cost is bounded by construction.
 *
 * Why not regcomp(3): glibc's parser recurses on group depth (60,000 '()'
 * overflowed the stack), its matcher backtracks into exponential time
 * ('(a*)*' repeated), and it expands every counted repetition eagerly ('a?'
 * repeated 60,000 times took 24 GB).  Refusing known bad shapes leaves the
 * next one open; here the bound comes from the construction instead:
 *
 *   pattern ──parse (loop + explicit stack)──► syntax tree, each node
 *        knowing how many automaton states it will need (refused past the cap)
 *     ──emit──► Thompson NFA of <= ERE_MAX_STATES states
 *     ──match──► DFA built lazily from NFA state sets, in a bounded cache
 *
 * Parsing.  One pass over the bytes with a stack of open groups (no recursion,
 * so nesting depth costs heap, not stack).  Every tree node is built through
 * a constructor that simplifies (an empty operand of a concatenation
 * vanishes, a repeated empty is empty, x{1} is x, x{0} is empty) and computes
 * the node's state count from its children's; a node whose count passes the
 * cap fails the compile then and there, so neither the tree's expansion nor
 * its states are ever built for a pattern that is too big.  Because of those
 * simplifications every node but EMPTY needs at least one state and a child
 * needs fewer than its parent, so the emitter's recursion is at most
 * ERE_MAX_STATES deep.
 *
 * The NFA (Thompson, 1968): states of kind SET (one byte from a 256-bit set,
 * then `out`), SPLIT (both `out` and `out1`), BOL/EOL (the assertions `^` and
 * `$`) and MATCH.  Counted repetition is unrolled: x{2,4} is x x (x (x)?)?,
 * whose optional copies skip straight to the end, so the states grow linearly
 * in the count.  An unanchored search is a leading loop `.*` (a SPLIT and an
 * any-byte SET), so every position starts a match without restarting.
 *
 * Matching simulates the NFA a set of states at a time, and caches each set
 * as a DFA state with a transition row per byte class (bytes no set in the
 * pattern tells apart share a class: [a-z]+ has two).  A row entry is
 * filled the first time it is taken, so a typical pattern costs one look-up
 * per byte after a few paths (entries hold the next row's offset, and a tag
 * bit on the few that need a look at the state).  Between matches the DFA
 * sits in the set of the leading loop alone, which every byte but those that
 * can start a match leads back to; when only one byte can, memchr() skips to
 * it ('\.c$' runs at memchr speed).  The cache has a budget (CACHE_BYTES); when it
 * is full it is flushed and refilled, as RE2 does, so memory stays bounded
 * and a cache miss costs O(states): the worst case of a match is
 * O(length x ERE_MAX_STATES) whatever the pattern.  The first MATCH state
 * ends a match (the answer is boolean); `$` is kept pending in a set and
 * resolved at the end of the subject; `^` is followed only at position 0.
 *
 * Thread safety: the DFA cache is shared and behind a mutex.
 */
#include "ere.h"

#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* glibc's RE_DUP_MAX: a larger count is an error there too. */
#define DUP_MAX 32767
#define DUP_INF UINT32_MAX
/* States the leading `.*` loop and the final MATCH add to the pattern's. */
#define EXTRA_STATES 3
/* The DFA cache's budget: transition rows plus the state sets they lead to. */
#define CACHE_BYTES (2u << 20)
#define NONE UINT32_MAX
/* Set in a transition to a state that ends the match loop (MATCH, dead); NONE has it too. */
#define TAG (UINT32_C(1) << 31)

#define STR(x) #x
#define XSTR(x) STR(x)

struct bset {
	uint64_t w[4];
};

static inline bool bset_has(const struct bset *s, unsigned c)
{
	return s->w[c >> 6] >> (c & 63) & 1;
}

static inline void bset_add(struct bset *s, unsigned c)
{
	s->w[c >> 6] |= (uint64_t)1 << (c & 63);
}

static void bset_add_range(struct bset *s, unsigned lo, unsigned hi)
{
	for (unsigned c = lo; c <= hi; c++)
		bset_add(s, c);
}

static inline unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ---- syntax tree ----------------------------------------------------- */

enum node_kind {
	N_EMPTY, /* matches the empty string; node 0 is the only one */
	N_SET,	 /* one byte of sets[set] */
	N_BOL,
	N_EOL,
	N_CAT, /* a then b */
	N_ALT, /* a or b */
	N_REP, /* a, min to max (DUP_INF) times */
};

struct node {
	enum node_kind kind;
	uint32_t a, b;	      /* children (CAT, ALT; REP uses a) */
	uint32_t min, max;    /* REP */
	uint32_t set;	      /* SET */
	uint32_t size;	      /* NFA states this node emits, <= the cap */
};

struct parser {
	const unsigned char *p;
	bool icase;
	struct node *nodes;
	size_t nnodes, nodes_cap;
	struct bset *sets;
	size_t nsets, sets_cap;
	const char *why; /* set with -EINVAL */
};

/* An open group: what it has parsed so far. */
struct frame {
	uint32_t alt;  /* the alternatives before the last '|' (NONE: no '|' yet) */
	uint32_t cat;  /* the current alternative, less its last atom */
	uint32_t last; /* the last atom, which a repetition applies to (NONE: none) */
	bool last_rep; /* may @last be repeated (not an anchor)? */
};

static int too_complex(struct parser *ps)
{
	ps->why = "too complex (over " XSTR(ERE_MAX_STATES) " states)";
	return -EINVAL;
}

/* Append a node of @size states; returns its index in *ret or -errno. */
static int add_node(struct parser *ps, struct node n, uint64_t size, uint32_t *ret)
{
	int r;

	if (size > ERE_MAX_STATES - EXTRA_STATES)
		return too_complex(ps);
	r = GROW(ps->nodes, ps->nodes_cap, ps->nnodes + 1);
	if (r < 0)
		return r;
	n.size = (uint32_t)size;
	ps->nodes[ps->nnodes] = n;
	*ret = (uint32_t)ps->nnodes++;
	return 0;
}

static int mk_cat(struct parser *ps, uint32_t a, uint32_t b, uint32_t *ret)
{
	if (ps->nodes[a].kind == N_EMPTY || ps->nodes[b].kind == N_EMPTY) {
		*ret = ps->nodes[a].kind == N_EMPTY ? b : a;
		return 0;
	}
	return add_node(ps, (struct node){ .kind = N_CAT, .a = a, .b = b },
			(uint64_t)ps->nodes[a].size + ps->nodes[b].size, ret);
}

static int mk_alt(struct parser *ps, uint32_t a, uint32_t b, uint32_t *ret)
{
	if (ps->nodes[a].kind == N_EMPTY && ps->nodes[b].kind == N_EMPTY) {
		*ret = a;
		return 0;
	}
	return add_node(ps, (struct node){ .kind = N_ALT, .a = a, .b = b },
			(uint64_t)ps->nodes[a].size + ps->nodes[b].size + 1, ret);
}

static int mk_rep(struct parser *ps, uint32_t a, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t s = ps->nodes[a].size, size;

	if (ps->nodes[a].kind == N_EMPTY || max == 0) {
		*ret = 0;
		return 0;
	}
	if (min == 1 && max == 1) {
		*ret = a;
		return 0;
	}
	/* As emit() builds it: x* and x+ add one SPLIT; each optional copy adds one. */
	if (max == DUP_INF)
		size = (min ? min * s : s) + 1;
	else
		size = min * s + (uint64_t)(max - min) * (s + 1);
	return add_node(ps, (struct node){ .kind = N_REP, .a = a, .min = min, .max = max }, size,
			ret);
}

/* A SET node for *set, folded for -i as glibc's REG_ICASE does (see parse_bracket()). */
static int mk_set(struct parser *ps, const struct bset *set, bool negate, uint32_t *ret)
{
	struct bset s = { { 0 } };
	int r;

	for (unsigned c = 0; c < 256; c++) {
		unsigned t = ps->icase ? lower((unsigned char)c) : c;

		if (bset_has(set, t) != negate)
			bset_add(&s, c);
	}
	r = GROW(ps->sets, ps->sets_cap, ps->nsets + 1);
	if (r < 0)
		return r;
	ps->sets[ps->nsets] = s;
	r = add_node(ps, (struct node){ .kind = N_SET, .set = (uint32_t)ps->nsets }, 1, ret);
	if (r == 0)
		ps->nsets++;
	return r;
}

static int mk_byte(struct parser *ps, unsigned char c, uint32_t *ret)
{
	struct bset s = { { 0 } };

	bset_add(&s, ps->icase ? lower(c) : c);
	return mk_set(ps, &s, false, ret);
}

static int syntax(struct parser *ps, const char *why)
{
	ps->why = why;
	return -EINVAL;
}

/* ---- bracket expressions ----------------------------------------------- */

/* The C locale's character classes, independent of the caller's locale. */
static bool add_class(struct bset *s, const char *name, size_t len, bool icase)
{
	static const char *const names[] = { "alpha", "digit", "alnum", "upper", "lower", "space",
					     "blank", "punct", "print", "graph", "cntrl", "xdigit" };
	size_t k;

	for (k = 0; k < ARRAY_SIZE(names); k++)
		if (strlen(names[k]) == len && memcmp(names[k], name, len) == 0)
			break;
	if (k == ARRAY_SIZE(names))
		return false;
	/* glibc: with REG_ICASE, [:upper:] and [:lower:] both mean [:alpha:]. */
	if (icase && (k == 3 || k == 4))
		k = 0;
	for (unsigned c = 0; c < 256; c++) {
		bool up = c >= 'A' && c <= 'Z', lo = c >= 'a' && c <= 'z', dg = c >= '0' && c <= '9';
		bool in;

		switch (k) {
		case 0: in = up || lo; break;
		case 1: in = dg; break;
		case 2: in = up || lo || dg; break;
		case 3: in = up; break;
		case 4: in = lo; break;
		case 5: in = c == ' ' || (c >= '\t' && c <= '\r'); break;
		case 6: in = c == ' ' || c == '\t'; break;
		case 7: in = c > 0x20 && c < 0x7f && !(up || lo || dg); break;
		case 8: in = c >= 0x20 && c < 0x7f; break;
		case 9: in = c > 0x20 && c < 0x7f; break;
		case 10: in = c < 0x20 || c == 0x7f; break;
		default: in = dg || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); break;
		}
		if (in)
			bset_add(s, c);
	}
	return true;
}

enum elem_kind { E_BYTE, E_CLASS, E_EQUIV };

/*
 * One bracket element at ps->p: a byte, [.x.], [=x=] or [:class:] (added to
 * @s).  Returns its kind (and the byte in *ret_c) or -EINVAL.
 */
static int bracket_elem(struct parser *ps, struct bset *s, unsigned char *ret_c)
{
	const unsigned char *p = ps->p, *name, *end;
	unsigned char delim;

	if (!(p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=') && p[2])) {
		*ret_c = ps->icase ? lower(p[0]) : p[0];
		ps->p = p + 1;
		return E_BYTE;
	}
	/* As glibc: the name runs to the first delimiter followed by ']', under 32 bytes. */
	delim = p[1];
	name = p + 2;
	for (end = name; *end && !(end[0] == delim && end[1] == ']'); end++)
		;
	if (!*end || end - name >= 32)
		return syntax(ps, "unmatched [");
	ps->p = end + 2;
	if (delim == ':') {
		if (!add_class(s, (const char *)name, (size_t)(end - name), ps->icase))
			return syntax(ps, "invalid character class name");
		return E_CLASS;
	}
	/* The C locale's collating elements and equivalence classes are single bytes. */
	if (end - name != 1)
		return syntax(ps, "invalid collating element");
	*ret_c = ps->icase ? lower(name[0]) : name[0];
	return delim == '.' ? E_BYTE : E_EQUIV;
}

/*
 * The bracket expression at ps->p, just past its '['.  With -i, glibc folds
 * the pattern's bytes to lower case (not the class names) and a subject byte
 * matches if its lower case is in the set; mk_set() does the latter.
 */
static int parse_bracket(struct parser *ps, uint32_t *ret)
{
	struct bset s = { { 0 } };
	bool negate = false, first = true;
	unsigned char lo, hi;
	int k;

	if (*ps->p == '^') {
		negate = true;
		ps->p++;
	}
	for (;;) {
		const unsigned char *at = ps->p;

		if (!*at)
			return syntax(ps, "unmatched [");
		if (*at == ']' && !first) {
			ps->p++;
			break;
		}
		/* A '-' that starts an element must be first or last (glibc: REG_ERANGE). */
		if (*at == '-' && !first && at[1] != ']')
			return syntax(ps, "invalid range end");
		k = bracket_elem(ps, &s, &lo);
		if (k < 0)
			return k;
		first = false;
		if (ps->p[0] != '-' || ps->p[1] == ']' || !ps->p[1]) {
			if (k != E_CLASS)
				bset_add(&s, lo);
			continue;
		}
		/* A range: both ends single bytes, in order. */
		ps->p++;
		if (k != E_BYTE)
			return syntax(ps, "invalid range end");
		if (!*ps->p)
			return syntax(ps, "unmatched [");
		k = bracket_elem(ps, &s, &hi);
		if (k < 0)
			return k;
		if (k != E_BYTE || hi < lo)
			return syntax(ps, "invalid range end");
		bset_add_range(&s, lo, hi);
	}
	return mk_set(ps, &s, negate, ret);
}

/* ---- the parser -------------------------------------------------------- */

/* Read an interval's bound (saturating past DUP_MAX); false if no digits. */
static bool read_count(struct parser *ps, uint32_t *ret)
{
	uint32_t v = 0;

	if (*ps->p < '0' || *ps->p > '9')
		return false;
	for (; *ps->p >= '0' && *ps->p <= '9'; ps->p++)
		v = v > DUP_MAX ? v : v * 10 + (uint32_t)(*ps->p - '0');
	*ret = v;
	return true;
}

/* The interval at ps->p, just past its '{': "m}", "m,}", "m,n}", ",n}" or ",}". */
static int parse_interval(struct parser *ps, uint32_t *ret_min, uint32_t *ret_max)
{
	uint32_t min = 0, max;
	bool have_min = read_count(ps, &min);

	if (*ps->p == ',') {
		ps->p++;
		if (!read_count(ps, &max))
			max = DUP_INF;
	} else if (have_min) {
		max = min;
	} else {
		return syntax(ps, *ps->p ? "invalid interval" : "unmatched {");
	}
	if (*ps->p != '}')
		return syntax(ps, *ps->p ? "invalid interval" : "unmatched {");
	ps->p++;
	if ((max != DUP_INF && max > DUP_MAX) || min > DUP_MAX)
		return syntax(ps, "repetition count above " XSTR(DUP_MAX));
	if (min > max)
		return syntax(ps, "invalid interval (minimum above maximum)");
	*ret_min = min;
	*ret_max = max;
	return 0;
}

/* A backslash escape at ps->p (just past the '\'): an atom in *ret, or refused. */
static int parse_escape(struct parser *ps, uint32_t *ret, bool *ret_rep)
{
	struct bset s = { { 0 } };
	unsigned char c = *ps->p;

	if (!c)
		return syntax(ps, "trailing backslash");
	ps->p++;
	*ret_rep = true;
	switch (c) {
	case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
		return syntax(ps, "back-references (\\1 to \\9) are not supported");
	case 'b': case 'B': case '<': case '>':
		return syntax(ps, "the GNU word-boundary operators \\b, \\B, \\< and \\> are not "
				  "supported");
	case '`':
		*ret_rep = false;
		return add_node(ps, (struct node){ .kind = N_BOL }, 1, ret);
	case '\'':
		*ret_rep = false;
		return add_node(ps, (struct node){ .kind = N_EOL }, 1, ret);
	case 'w': case 'W':
		add_class(&s, "alnum", 5, false);
		bset_add(&s, '_');
		return mk_set(ps, &s, c == 'W', ret);
	case 's': case 'S':
		add_class(&s, "space", 5, false);
		return mk_set(ps, &s, c == 'S', ret);
	default:
		return mk_byte(ps, c, ret);
	}
}

/* Fold a frame's last atom into its concatenation. */
static int flush_atom(struct parser *ps, struct frame *f)
{
	int r = 0;

	if (f->last != NONE)
		r = mk_cat(ps, f->cat, f->last, &f->cat);
	f->last = NONE;
	return r;
}

/* Close frame @f: its alternatives, as one node. */
static int close_frame(struct parser *ps, struct frame *f, uint32_t *ret)
{
	int r = flush_atom(ps, f);

	if (r < 0)
		return r;
	if (f->alt == NONE) {
		*ret = f->cat;
		return 0;
	}
	return mk_alt(ps, f->alt, f->cat, ret);
}

static int parse(struct parser *ps, uint32_t *ret_root)
{
	struct frame *stack = NULL;
	size_t depth = 0, stack_cap = 0;
	int r;

	r = GROW(stack, stack_cap, 1);
	if (r < 0)
		return r;
	stack[0] = (struct frame){ .alt = NONE, .cat = 0, .last = NONE };
	while (*ps->p) {
		struct frame *f = &stack[depth];
		unsigned char c = *ps->p++;
		uint32_t atom, min, max;
		bool rep = true;

		switch (c) {
		case '*': case '+': case '?': case '{':
			if (f->last == NONE || !f->last_rep) {
				r = syntax(ps, "a repetition operator with nothing to repeat");
				goto out;
			}
			min = c == '+' ? 1 : 0;
			max = c == '?' ? 1 : DUP_INF;
			if (c == '{' && (r = parse_interval(ps, &min, &max)) < 0)
				goto out;
			/* Stacked operators nest, as in glibc: a{2}{3} is (a{2}){3}. */
			r = mk_rep(ps, f->last, min, max, &f->last);
			if (r < 0)
				goto out;
			continue;
		case '|':
			if ((r = flush_atom(ps, f)) < 0)
				goto out;
			if (f->alt == NONE)
				f->alt = f->cat;
			else if ((r = mk_alt(ps, f->alt, f->cat, &f->alt)) < 0)
				goto out;
			f->cat = 0;
			continue;
		case '(':
			if ((r = GROW(stack, stack_cap, depth + 2)) < 0)
				goto out;
			stack[++depth] = (struct frame){ .alt = NONE, .cat = 0, .last = NONE };
			continue;
		case ')':
			if (depth > 0) {
				if ((r = close_frame(ps, f, &atom)) < 0)
					goto out;
				depth--;
				break;
			}
			/* An unmatched ')' is an ordinary byte (glibc's ERE syntax). */
			r = mk_byte(ps, c, &atom);
			break;
		case '^':
			rep = false;
			r = add_node(ps, (struct node){ .kind = N_BOL }, 1, &atom);
			break;
		case '$':
			rep = false;
			r = add_node(ps, (struct node){ .kind = N_EOL }, 1, &atom);
			break;
		case '.': {
			struct bset all;

			memset(&all, 0xff, sizeof(all));
			r = mk_set(ps, &all, false, &atom);
			break;
		}
		case '[':
			r = parse_bracket(ps, &atom);
			break;
		case '\\':
			r = parse_escape(ps, &atom, &rep);
			break;
		default:
			r = mk_byte(ps, c, &atom);
			break;
		}
		if (r < 0)
			goto out;
		f = &stack[depth];
		if ((r = flush_atom(ps, f)) < 0)
			goto out;
		f->last = atom;
		f->last_rep = rep;
	}
	if (depth > 0) {
		r = syntax(ps, "unmatched (");
		goto out;
	}
	r = close_frame(ps, &stack[0], ret_root);
out:
	free(stack);
	return r;
}

/* ---- the NFA ------------------------------------------------------------ */

enum state_kind { S_SET, S_SPLIT, S_BOL, S_EOL, S_MATCH };

struct state {
	enum state_kind kind;
	uint32_t out, out1;
	uint32_t set; /* S_SET */
};

/* One cached set of NFA states. */
struct dstate {
	uint32_t off, n; /* its NFA states: pool[off .. off + n), sorted */
	uint32_t hash;
	bool at_start;	/* the set at position 0 (`^` was followed) */
	bool match;	/* holds MATCH: the subject matches */
	bool match_end; /* matches if the subject ends here (`$` pending) */
	bool dead;	/* nothing but the leading loop: no match can follow */
	int skip;	/* the idle set (see struct ere): the one byte that leaves it,
			 * 256 if none does, or -1 */
};

struct ere {
	struct state *st;
	uint32_t nst, start, any;
	struct bset *sets;
	uint8_t cls[256];  /* byte -> class */
	uint8_t rep[256];  /* class -> a byte of it */
	uint32_t ncls;

	pthread_mutex_t lock;
	/* The DFA cache, flushed when full. */
	struct dstate *ds;
	size_t nds, ds_cap, max_ds;
	/* ds_cap rows of ncls: the next dstate's row (id x ncls, | TAG if the match
	 * loop must look at it), or NONE if not built yet. */
	uint32_t *trans;
	uint32_t *pool;
	size_t npool, pool_cap, max_pool;
	uint32_t *htab; /* open addressing, at least 2 * nds slots (a power of two) */
	size_t hmask;
	uint32_t dstart; /* NONE until built (again, after a flush) */
	uint64_t flushes;
	/* The set between matches, the leading loop's closure away from position 0:
	 * every byte not in its states' sets leads back to it, so when only one
	 * byte leaves it the match loop skips to that byte with memchr(). */
	uint32_t *idle, nidle;
	/* Scratch for closures, each of nst entries. */
	uint32_t *mark, gen, *stack, *buf, *seeds;
	/* Strings every match contains, folded (ere_literal()). */
	unsigned char lits[3][ERE_LIT_MAX];
	uint8_t lit_len[3];
	unsigned nlits;
};

static uint32_t new_state(struct ere *re, enum state_kind kind, uint32_t out, uint32_t out1,
			  uint32_t set)
{
	re->st[re->nst] = (struct state){ .kind = kind, .out = out, .out1 = out1, .set = set };
	return re->nst++;
}

/*
 * Emit @n's states, leading to @out; returns its entry.  Recursion is at
 * most ERE_MAX_STATES deep (children are smaller than parents).
 */
static uint32_t emit(struct ere *re, const struct node *nodes, uint32_t n, uint32_t out)
{
	const struct node *nd = &nodes[n];
	uint32_t s, t;

	switch (nd->kind) {
	case N_EMPTY:
		return out;
	case N_SET:
		return new_state(re, S_SET, out, NONE, nd->set);
	case N_BOL:
		return new_state(re, S_BOL, out, NONE, 0);
	case N_EOL:
		return new_state(re, S_EOL, out, NONE, 0);
	case N_CAT:
		return emit(re, nodes, nd->a, emit(re, nodes, nd->b, out));
	case N_ALT:
		s = new_state(re, S_SPLIT, NONE, NONE, 0);
		t = emit(re, nodes, nd->a, out);
		re->st[s].out = t;
		t = emit(re, nodes, nd->b, out);
		re->st[s].out1 = t;
		return s;
	case N_REP:
		break;
	}
	t = out;
	if (nd->max == DUP_INF) {
		/* x* : s -> (x -> s | out);  x+ : x -> s -> (x | out). */
		s = new_state(re, S_SPLIT, NONE, out, 0);
		t = emit(re, nodes, nd->a, s);
		re->st[s].out = t;
		t = nd->min ? t : s;
		for (uint32_t i = 1; i < nd->min; i++)
			t = emit(re, nodes, nd->a, t);
		return t;
	}
	/* x{m,n}: m copies, then n - m optional ones nested, each able to skip to @out. */
	for (uint32_t i = nd->min; i < nd->max; i++) {
		s = new_state(re, S_SPLIT, NONE, out, 0);
		t = emit(re, nodes, nd->a, t);
		re->st[s].out = t;
		t = s;
	}
	for (uint32_t i = 0; i < nd->min; i++)
		t = emit(re, nodes, nd->a, t);
	return t;
}

/* Partition the bytes into classes no SET state tells apart. */
static void byte_classes(struct ere *re)
{
	memset(re->cls, 0, sizeof(re->cls));
	re->ncls = 1;
	for (uint32_t i = 0; i < re->nst; i++) {
		const struct bset *s = &re->sets[re->st[i].set];
		uint16_t in[256], out[256];
		uint32_t n = 0;

		if (re->st[i].kind != S_SET)
			continue;
		for (uint32_t k = 0; k < re->ncls; k++)
			in[k] = out[k] = UINT16_MAX;
		for (unsigned c = 0; c < 256; c++) {
			uint16_t *slot = bset_has(s, c) ? &in[re->cls[c]] : &out[re->cls[c]];

			if (*slot == UINT16_MAX)
				*slot = (uint16_t)n++;
			re->cls[c] = (uint8_t)*slot;
		}
		re->ncls = n;
	}
	for (unsigned c = 256; c-- > 0;)
		re->rep[re->cls[c]] = (uint8_t)c;
}

static uint32_t closure(struct ere *re, const uint32_t *seeds, uint32_t nseeds, bool at_start,
			bool at_end, bool *ret_match);

void ere_free(struct ere *re)
{
	if (!re)
		return;
	pthread_mutex_destroy(&re->lock);
	free(re->st);
	free(re->sets);
	free(re->ds);
	free(re->trans);
	free(re->pool);
	free(re->htab);
	free(re->mark);
	free(re->stack);
	free(re->buf);
	free(re->seeds);
	free(re->idle);
	free(re);
}

/* ---- required literals --------------------------------------------------- */

/*
 * Strings that every match of a subtree contains, for the name index
 * (find-names.c), ASCII-folded so that one answer serves -i as well.  The
 * classic reduction (as in trigram code search): for each node, whether it
 * matches exactly one string, else a prefix every match starts with, a
 * suffix every match ends with, and the longest string found so far that
 * every match holds somewhere.  A concatenation joins the left suffix to the
 * right prefix; an alternation keeps only what both sides share at their
 * ends; a repetition of at least one keeps its operand's; `x?`, `x*` and
 * sets of more than one folded byte know nothing.  Strings are cut to
 * ERE_LIT_MAX bytes, always to a part of what they were, so every answer
 * stays a substring of every match: less knowledge, never a wrong one.
 */
struct lit {
	unsigned char s[ERE_LIT_MAX];
	uint8_t len;
};

struct litinfo {
	bool exact;		/* every match is e */
	struct lit e, pre, suf, req;
};

/* The byte every member of set @set folds to, or -1. */
static int set_byte(const struct bset *set)
{
	int c = -1;

	for (unsigned b = 0; b < 256; b++) {
		if (!bset_has(set, b))
			continue;
		if (c >= 0 && c != lower((unsigned char)b))
			return -1;
		c = lower((unsigned char)b);
	}
	return c;
}

/* @a then @b, keeping the first (@tail false) or last ERE_LIT_MAX bytes. */
static struct lit lit_join(const struct lit *a, const struct lit *b, bool tail)
{
	struct lit r;
	size_t n = (size_t)a->len + b->len, skip = n > ERE_LIT_MAX && tail ? n - ERE_LIT_MAX : 0;
	size_t k = 0;

	for (size_t i = skip; i < n && k < ERE_LIT_MAX; i++)
		r.s[k++] = i < a->len ? a->s[i] : b->s[i - a->len];
	r.len = (uint8_t)k;
	return r;
}

/* The part of @a and @b where one ends and the other starts, at most ERE_LIT_MAX bytes. */
static struct lit lit_seam(const struct lit *a, const struct lit *b)
{
	struct lit x = *a, y = *b;
	size_t half = ERE_LIT_MAX / 2;

	if ((size_t)x.len + y.len > ERE_LIT_MAX) {
		size_t ka = x.len < half ? x.len : (y.len < half ? (size_t)ERE_LIT_MAX - y.len : half);

		memmove(x.s, x.s + (x.len - ka), ka);
		x.len = (uint8_t)ka;
		y.len = (uint8_t)(ERE_LIT_MAX - ka < y.len ? ERE_LIT_MAX - ka : y.len);
	}
	return lit_join(&x, &y, false);
}

static const struct lit *lit_longer(const struct lit *a, const struct lit *b)
{
	return b->len > a->len ? b : a;
}

/* Fill in pre, suf and req of an exact @i: all of them are e. */
static void lit_exact(struct litinfo *i)
{
	i->pre = i->suf = i->req = i->e;
}

static void lits_cat(const struct litinfo *a, const struct litinfo *b, struct litinfo *r)
{
	struct lit seam;

	if (a->exact && b->exact && (size_t)a->e.len + b->e.len <= ERE_LIT_MAX) {
		r->exact = true;
		r->e = lit_join(&a->e, &b->e, false);
		lit_exact(r);
		return;
	}
	r->exact = false;
	r->pre = a->exact ? lit_join(&a->e, &b->pre, false) : a->pre;
	r->suf = b->exact ? lit_join(&a->suf, &b->e, true) : b->suf;
	seam = lit_seam(&a->suf, &b->pre);
	r->req = *lit_longer(lit_longer(&a->req, &b->req), lit_longer(&seam, lit_longer(&r->pre,
											&r->suf)));
}

static void lits_alt(const struct litinfo *a, const struct litinfo *b, struct litinfo *r)
{
	size_t n = 0;

	if (a->exact && b->exact && a->e.len == b->e.len && !memcmp(a->e.s, b->e.s, a->e.len)) {
		*r = *a;
		return;
	}
	r->exact = false;
	while (n < a->pre.len && n < b->pre.len && a->pre.s[n] == b->pre.s[n])
		n++;
	r->pre = a->pre;
	r->pre.len = (uint8_t)n;
	for (n = 0; n < a->suf.len && n < b->suf.len &&
		    a->suf.s[a->suf.len - 1 - n] == b->suf.s[b->suf.len - 1 - n];
	     n++)
		;
	memcpy(r->suf.s, a->suf.s + a->suf.len - n, n);
	r->suf.len = (uint8_t)n;
	r->req = *lit_longer(&r->pre, &r->suf);
}

/* What node @n's matches all contain (recursion as deep as emit()'s). */
static void lits_of(const struct node *nodes, const struct bset *sets, uint32_t n,
		    struct litinfo *r)
{
	const struct node *nd = &nodes[n];
	struct litinfo a, b;
	int c;

	memset(r, 0, sizeof(*r));
	switch (nd->kind) {
	case N_EMPTY:
	case N_BOL:
	case N_EOL:
		r->exact = true;
		return;
	case N_SET:
		c = set_byte(&sets[nd->set]);
		if (c >= 0) {
			r->exact = true;
			r->e.s[0] = (unsigned char)c;
			r->e.len = 1;
			lit_exact(r);
		}
		return;
	case N_CAT:
		lits_of(nodes, sets, nd->a, &a);
		lits_of(nodes, sets, nd->b, &b);
		lits_cat(&a, &b, r);
		return;
	case N_ALT:
		lits_of(nodes, sets, nd->a, &a);
		lits_of(nodes, sets, nd->b, &b);
		lits_alt(&a, &b, r);
		return;
	case N_REP:
		if (nd->min == 0)
			return;
		lits_of(nodes, sets, nd->a, &a);
		r->pre = a.pre;
		r->suf = a.suf;
		r->req = a.req;
		if (nd->min >= 2) {
			struct lit seam = lit_seam(&a.suf, &a.pre);

			r->req = *lit_longer(&r->req, &seam);
		}
		return;
	}
}

/* Keep what the whole pattern's matches contain in re->lits. */
static void find_literals(struct ere *re, const struct node *nodes, uint32_t root)
{
	struct litinfo i;
	const struct lit *cand[3];

	lits_of(nodes, re->sets, root, &i);
	cand[0] = &i.req;
	cand[1] = &i.pre;
	cand[2] = &i.suf;
	for (int k = 0; k < 3; k++) {
		bool dup = false;

		for (unsigned j = 0; j < re->nlits; j++)
			dup |= re->lit_len[j] == cand[k]->len &&
			       !memcmp(re->lits[j], cand[k]->s, cand[k]->len);
		if (!cand[k]->len || dup)
			continue;
		memcpy(re->lits[re->nlits], cand[k]->s, cand[k]->len);
		re->lit_len[re->nlits++] = cand[k]->len;
	}
}

size_t ere_nliterals(const struct ere *re)
{
	return re->nlits;
}

const char *ere_literal(const struct ere *re, size_t i, size_t *ret_len)
{
	*ret_len = re->lit_len[i];
	return (const char *)re->lits[i];
}

int ere_new(const char *pattern, unsigned flags, struct ere **ret_re, const char **ret_why)
{
	struct parser ps = { .p = (const unsigned char *)pattern, .icase = flags & ERE_ICASE };
	struct ere *re;
	struct bset all;
	uint32_t root, body, match;
	size_t hslots;
	int r;

	/* Node 0 is the one EMPTY; set 0 is every byte, for `.*`. */
	memset(&all, 0xff, sizeof(all));
	if ((r = GROW(ps.sets, ps.sets_cap, 1)) < 0 ||
	    (r = GROW(ps.nodes, ps.nodes_cap, 1)) < 0)
		goto out_parser;
	ps.sets[ps.nsets++] = all;
	ps.nodes[ps.nnodes++] = (struct node){ .kind = N_EMPTY };
	r = parse(&ps, &root);
	if (r < 0) {
		if (r == -EINVAL && ret_why)
			*ret_why = ps.why;
		goto out_parser;
	}

	r = -ENOMEM;
	re = calloc(1, sizeof(*re));
	if (!re)
		goto out_parser;
	if (pthread_mutex_init(&re->lock, NULL) != 0) {
		free(re);
		goto out_parser;
	}
	re->sets = ps.sets;
	ps.sets = NULL;
	re->st = malloc((ps.nodes[root].size + EXTRA_STATES) * sizeof(*re->st));
	if (!re->st)
		goto out_free;
	match = new_state(re, S_MATCH, NONE, NONE, 0);
	body = emit(re, ps.nodes, root, match);
	/* The leading `.*`: start -> (body | any -> start). */
	re->start = new_state(re, S_SPLIT, body, NONE, 0);
	re->any = new_state(re, S_SET, re->start, NONE, 0);
	re->st[re->start].out1 = re->any;
	byte_classes(re);

	re->mark = calloc(re->nst, sizeof(*re->mark));
	re->stack = malloc(re->nst * sizeof(*re->stack));
	re->buf = malloc(re->nst * sizeof(*re->buf));
	re->seeds = malloc(re->nst * sizeof(*re->seeds));
	/* Rows cost ncls entries each; state sets share the rest of the budget. */
	re->max_ds = CACHE_BYTES / 2 / (re->ncls * sizeof(uint32_t) + sizeof(struct dstate));
	re->max_ds = re->max_ds < 16 ? 16 : re->max_ds;
	re->max_pool = CACHE_BYTES / 2 / sizeof(uint32_t);
	re->max_pool = re->max_pool < 2 * (size_t)re->nst ? 2 * (size_t)re->nst : re->max_pool;
	hslots = 64; /* doubled as the cache fills (cache_room()) */
	re->htab = malloc(hslots * sizeof(*re->htab));
	/* Room for one dstate with any set, so a flushed cache can always go on. */
	re->ds_cap = 16;
	re->ds = malloc(re->ds_cap * sizeof(*re->ds));
	re->trans = malloc(re->ds_cap * re->ncls * sizeof(*re->trans));
	re->pool_cap = re->nst;
	re->pool = malloc(re->pool_cap * sizeof(*re->pool));
	if (!re->mark || !re->stack || !re->buf || !re->seeds || !re->htab || !re->ds ||
	    !re->trans || !re->pool)
		goto out_free;
	re->hmask = hslots - 1;
	memset(re->htab, 0xff, hslots * sizeof(*re->htab));
	re->dstart = NONE;
	{
		bool unused;

		re->nidle = closure(re, &re->start, 1, false, false, &unused);
		re->idle = malloc(re->nidle * sizeof(*re->idle));
		if (!re->idle)
			goto out_free;
		memcpy(re->idle, re->buf, re->nidle * sizeof(*re->idle));
	}
	find_literals(re, ps.nodes, root);
	free(ps.nodes);
	*ret_re = re;
	return 0;

out_free:
	ere_free(re);
out_parser:
	free(ps.nodes);
	free(ps.sets);
	return r;
}

/* ---- matching ------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * The states reachable from @seeds by SPLIT (and BOL if @at_start, EOL if
 * @at_end) into re->buf, keeping SET, MATCH and pending EOL states, sorted.
 * Returns their number; *ret_match says whether MATCH is among them.
 */
static uint32_t closure(struct ere *re, const uint32_t *seeds, uint32_t nseeds, bool at_start,
			bool at_end, bool *ret_match)
{
	uint32_t n = 0, sp = 0, gen;
	bool match = false;

	if (++re->gen == 0) {
		memset(re->mark, 0, re->nst * sizeof(*re->mark));
		re->gen = 1;
	}
	gen = re->gen;
	for (uint32_t i = 0; i < nseeds; i++)
		if (re->mark[seeds[i]] != gen) {
			re->mark[seeds[i]] = gen;
			re->stack[sp++] = seeds[i];
		}
	while (sp > 0) {
		uint32_t s = re->stack[--sp], next[2], nn = 0;
		const struct state *st = &re->st[s];

		switch (st->kind) {
		case S_SPLIT:
			next[nn++] = st->out1;
			next[nn++] = st->out;
			break;
		case S_BOL:
			if (at_start)
				next[nn++] = st->out;
			break;
		case S_EOL:
			if (at_end)
				next[nn++] = st->out;
			else
				re->buf[n++] = s;
			break;
		case S_MATCH:
			match = true;
			re->buf[n++] = s;
			break;
		case S_SET:
			re->buf[n++] = s;
			break;
		}
		for (uint32_t k = 0; k < nn; k++)
			if (re->mark[next[k]] != gen) {
				re->mark[next[k]] = gen;
				re->stack[sp++] = next[k];
			}
	}
	/* Sorted by id, so one set is one cache entry. */
	if (n > 16) {
		qsort(re->buf, n, sizeof(*re->buf), cmp_u32);
	} else {
		for (uint32_t i = 1; i < n; i++) {
			uint32_t v = re->buf[i], j = i;

			for (; j > 0 && re->buf[j - 1] > v; j--)
				re->buf[j] = re->buf[j - 1];
			re->buf[j] = v;
		}
	}
	*ret_match = match;
	return n;
}

static void flush_cache(struct ere *re)
{
	re->nds = 0;
	re->npool = 0;
	re->dstart = NONE;
	re->flushes++;
	memset(re->htab, 0xff, (re->hmask + 1) * sizeof(*re->htab));
}

static uint32_t hash_set(const uint32_t *v, uint32_t n, bool at_start)
{
	uint32_t h = 2166136261u ^ at_start;

	for (uint32_t i = 0; i < n; i++)
		h = (h ^ v[i]) * 16777619u;
	return h;
}

/* Double the hash table; false if out of memory. */
static bool rehash(struct ere *re)
{
	size_t slots = 2 * (re->hmask + 1);
	uint32_t *h = malloc(slots * sizeof(*h));

	if (!h)
		return false;
	memset(h, 0xff, slots * sizeof(*h));
	for (uint32_t id = 0; id < re->nds; id++) {
		size_t slot = re->ds[id].hash & (slots - 1);

		while (h[slot] != NONE)
			slot = (slot + 1) & (slots - 1);
		h[slot] = id;
	}
	free(re->htab);
	re->htab = h;
	re->hmask = slots - 1;
	return true;
}

/* Room for one more dstate of @n members; false if the budget (or memory) says flush. */
static bool cache_room(struct ere *re, uint32_t n)
{
	if (re->nds >= re->max_ds || re->npool + n > re->max_pool)
		return false;
	if (re->nds == re->ds_cap) {
		size_t cap = re->ds_cap;
		uint32_t *t;

		if (GROW(re->ds, cap, re->nds + 1) < 0)
			return false;
		t = reallocarray(re->trans, cap, re->ncls * sizeof(*t));
		if (!t)
			return false; /* re->ds is larger than ds_cap says: harmless */
		re->trans = t;
		re->ds_cap = cap;
	}
	if (2 * (re->nds + 1) > re->hmask + 1 && !rehash(re))
		return false;
	return GROW(re->pool, re->pool_cap, re->npool + n) == 0;
}

/* The dstate for the set in re->buf[0 .. n), found or added (flushing if need be). */
static uint32_t intern(struct ere *re, uint32_t n, bool match, bool at_start)
{
	uint32_t h = hash_set(re->buf, n, at_start), id;
	struct dstate *d;
	size_t slot;
	bool match_end = match, pending_eol = false;

	for (slot = h & re->hmask; re->htab[slot] != NONE; slot = (slot + 1) & re->hmask) {
		d = &re->ds[re->htab[slot]];
		if (d->hash == h && d->n == n && d->at_start == at_start &&
		    memcmp(re->pool + d->off, re->buf, n * sizeof(*re->buf)) == 0)
			return re->htab[slot];
	}
	if (!cache_room(re, n)) {
		flush_cache(re);
		/* ere_new() reserved room for one state and any set: this holds. */
		if (!cache_room(re, n))
			abort();
		slot = h & re->hmask;
	}
	id = (uint32_t)re->nds++;
	d = &re->ds[id];
	*d = (struct dstate){ .off = (uint32_t)re->npool, .n = n, .hash = h, .at_start = at_start,
			      .match = match };
	memcpy(re->pool + re->npool, re->buf, n * sizeof(*re->buf));
	re->npool += n;
	memset(re->trans + (size_t)id * re->ncls, 0xff, re->ncls * sizeof(*re->trans));
	re->htab[slot] = id;
	d->dead = n == 1 && re->pool[d->off] == re->any;
	d->skip = -1;
	if (!at_start && n == re->nidle && memcmp(re->buf, re->idle, n * sizeof(*re->buf)) == 0) {
		struct bset out = { { 0 } };
		unsigned count = 0;

		for (uint32_t i = 0; i < n; i++) {
			const struct state *st = &re->st[re->idle[i]];

			if (st->kind == S_SET && re->idle[i] != re->any)
				for (int w = 0; w < 4; w++)
					out.w[w] |= re->sets[st->set].w[w];
		}
		for (int w = 0; w < 4; w++)
			count += (unsigned)__builtin_popcountll(out.w[w]);
		for (unsigned c = 0; c < 256 && count == 1 && d->skip < 0; c++)
			if (bset_has(&out, c))
				d->skip = (int)c;
		if (count == 0)
			d->skip = 256;
	}

	/* Would the subject match if it ended here?  Follow the pending `$`s. */
	for (uint32_t i = 0; i < n && !match; i++)
		pending_eol |= re->st[re->pool[d->off + i]].kind == S_EOL;
	if (pending_eol) {
		uint32_t k = 0;

		for (uint32_t i = 0; i < n; i++)
			if (re->st[re->pool[d->off + i]].kind == S_EOL)
				re->seeds[k++] = re->pool[d->off + i];
		closure(re, re->seeds, k, at_start, true, &match_end);
	}
	d->match_end = match_end;
	return id;
}

/* The dstate after @from on a byte of class @c; fills the row entry. */
static uint32_t step(struct ere *re, uint32_t from, uint32_t c)
{
	const struct dstate *d = &re->ds[from];
	unsigned char b = re->rep[c];
	uint32_t k = 0, n, to;
	uint64_t flushes = re->flushes;
	bool match;

	for (uint32_t i = 0; i < d->n; i++) {
		const struct state *st = &re->st[re->pool[d->off + i]];

		if (st->kind == S_SET && bset_has(&re->sets[st->set], b))
			re->seeds[k++] = st->out;
	}
	n = closure(re, re->seeds, k, false, false, &match);
	to = intern(re, n, match, false);
	/* Unless that flushed the cache (and @from with it), remember the edge. */
	if (re->flushes == flushes)
		re->trans[(size_t)from * re->ncls + c] =
			(uint32_t)(to * re->ncls) |
			(re->ds[to].match || re->ds[to].dead || re->ds[to].skip >= 0 ? TAG : 0);
	return to;
}

bool ere_match(struct ere *re, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	const uint32_t *trans;
	uint32_t ncls = re->ncls, cur, row, next, c;
	const struct dstate *d;
	bool m;

	pthread_mutex_lock(&re->lock);
	if (re->dstart == NONE) {
		uint32_t n = closure(re, &re->start, 1, true, false, &m);

		re->dstart = intern(re, n, m, true);
	}
	cur = re->dstart;
	trans = re->trans;
	for (;;) {
		d = &re->ds[cur];
		if (d->match || d->dead)
			break;
		if (d->skip >= 0) {
			const unsigned char *q = d->skip < 256 ? memchr(p, d->skip, (size_t)(end - p))
							       : NULL;

			p = q ? q : end;
		}
		if (p == end)
			break;
		/* The hot loop: one look-up per byte until an entry with TAG. */
		row = cur * ncls;
		c = re->cls[*p++];
		while (!((next = trans[row + c]) & TAG)) {
			row = next;
			if (p == end) {
				cur = row / ncls;
				goto out;
			}
			c = re->cls[*p++];
		}
		if (next == NONE) {
			cur = step(re, row / ncls, c);
			trans = re->trans; /* step() may have moved it */
		} else {
			cur = (next & ~TAG) / ncls;
		}
	}
out:
	d = &re->ds[cur];
	m = d->match || (p == end && d->match_end);
	pthread_mutex_unlock(&re->lock);
	return m;
}
