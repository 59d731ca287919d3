/* SPDX-License-Identifier: MIT */
/*
 * test-ere.c - regex.c against glibc's regcomp()/regexec() as the oracle:
 * thousands of random EREs over a small alphabet (brackets, classes,
 * anchors anywhere, alternation, nested groups, every repetition operator
 * including intervals) matched against random subjects with newlines and
 * high bytes, with and without -i.  Wherever glibc accepts a pattern, our
 * answer must be its answer, or our refusal one of the documented ones;
 * then the state cap and hostile patterns.
 */
#include "ere.h"

#include "tap.h"

#include <errno.h>
#include <locale.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A longer run by hand: -DDIFF_N=200000 -DSEED=7 (some seeds reach patterns
 * on which glibc's own regcomp() takes minutes). */
#ifndef DIFF_N
#define DIFF_N 20000
#endif
#ifndef SEED
#define SEED 0x9e3779b97f4a7c15u
#endif
static uint64_t rng = SEED;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* A pattern, and the same for the oracle: see gen(). */
struct pat {
	char s[256], o[512];
	size_t n, no;
	int depth;	  /* groups open */
	bool group_anchor; /* an anchor inside a group */
};

static void put(struct pat *p, const char *s)
{
	size_t n = strlen(s);
	const char *o = strcmp(s, "^") == 0 ? "\\`" : strcmp(s, "$") == 0 ? "\\'" : s;

	if (p->depth && (strcmp(s, "^") == 0 || strcmp(s, "$") == 0 || strcmp(s, "\\`") == 0 ||
			 strcmp(s, "\\'") == 0))
		p->group_anchor = true;
	memcpy(p->s + p->n, s, n);
	p->n += n;
	memcpy(p->o + p->no, o, strlen(o));
	p->no += strlen(o);
}

/*
 * Append a random ERE piece of nesting depth at most @depth.  The oracle's
 * copy spells `^` and `$` as glibc's \` and \', which mean the same without
 * REG_NEWLINE and which glibc handles strictly: glibc 2.36 also lets `^` and
 * `$` match next to a newline that a `.`, a bracket or \W consumes ('a$.'
 * matches "a\nb"), against POSIX and against its own '($)\n'.
 */
static void gen(struct pat *p, int depth)
{
	static const char *const atoms[] = {
		"a", "b", "c", "A", ".", "\\.", "\\w", "\\W", "\\s", "\\S", "\n", "\xff", "-", "_",
		"[ab]", "[^a]", "[a-c]", "[]a]", "[^]b]", "[a-]", "[[:alpha:]]", "[[:upper:]]",
		"[[:lower:]b]", "[^[:space:]]", "[[:punct:]]", "[[:digit:][:xdigit:]]", "[[:cntrl:]]",
		"[[.a.]-c]", "[[=b=]]", "[\\]", "[B-a]", "[+--]", "[%--]", "[\x80-\xff]",
		"[[:print:]]", "[[:graph:]]", "[[:blank:]]", "[[:alnum:]_]", "^", "$", "()", "\\`",
		"\\'", "[.]", "[a-a]", ")", "\\(", "{", "\\{", "*", "|",
	};
	static const char *const reps[] = { "*", "+", "?", "{0}", "{1}", "{2}", "{0,1}", "{1,2}",
					    "{2,}", "{,2}", "{0,}", "{,}", "{3}", "{1,3}" };
	int n = 1 + (int)rnd(4);

	for (int i = 0; i < n && p->n + 40 < sizeof(p->s); i++) {
		unsigned k = rnd(12);

		const char *rep1 = rnd(3) == 0 ? reps[rnd(ARRAY_SIZE(reps))] : "";
		const char *rep2 = rnd(12) == 0 ? reps[rnd(ARRAY_SIZE(reps))] : ""; /* stacked */

		if (k < 2 && depth > 0) {
			put(p, "(");
			p->depth++;
			gen(p, depth - 1);
			if (rnd(3) == 0) {
				put(p, "|");
				gen(p, depth - 1);
			}
			p->depth--;
			put(p, ")");
		} else if (k == 2) {
			put(p, "|");
		} else {
			put(p, atoms[rnd(ARRAY_SIZE(atoms))]);
		}
		put(p, rep1);
		put(p, rep2);
	}
}

static size_t gen_subject(char *s)
{
	static const char alpha[] = "abcAB_ -.\n\xff/";
	size_t n = rnd(17);

	for (size_t i = 0; i < n; i++)
		s[i] = alpha[rnd(sizeof(alpha) - 1)];
	s[n] = '\0';
	return n;
}

static bool documented_refusal(const char *why)
{
	return strstr(why, "not supported") || strstr(why, "too complex");
}

static void test_differential(void)
{
	int agree = 0, differ = 0, refused = 0, bad_refusals = 0, glibc_refused = 0, lax = 0;
	int both = 0, skipped = 0;

	for (int i = 0; i < DIFF_N; i++) {
		struct pat gp = { .n = 0 };
		const char *pat = gp.s;
		char subj[24];
		bool icase = i % 4 == 3;
		struct ere *re = NULL;
		const char *why = NULL;
		regex_t g, go;
		int rg, r;

		gen(&gp, 3);
		gp.s[gp.n] = gp.o[gp.no] = '\0';
		rg = regcomp(&g, pat, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
		r = ere_new(pat, icase ? ERE_ICASE : 0, &re, &why);
		if (rg != 0) {
			glibc_refused++;
			if (r == 0) {
				/* We accept something glibc does not: note it, it is not an error. */
				if (lax++ < 5)
					diag("glibc refuses, we accept: '%s'", pat);
				ere_free(re);
			}
			continue;
		}
		if (r < 0) {
			refused++;
			if (r != -EINVAL || !documented_refusal(why)) {
				if (bad_refusals++ < 10)
					diag("glibc accepts, we refuse: '%s' (%s)", pat, why);
			}
			regfree(&g);
			continue;
		}
		both++;
		regfree(&g);
		if (gp.group_anchor && strpbrk(pat, "*+?{")) {
			skipped++;
			ere_free(re);
			continue;
		}
		if (regcomp(&go, gp.o, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0) {
			ok(false, "oracle pattern '%s' compiles", gp.o);
			ere_free(re);
			continue;
		}
		for (int j = 0; j < 30; j++) {
			size_t n = gen_subject(subj);
			bool want = regexec(&go, subj, 0, NULL, 0) == 0;
			bool got = ere_match(re, subj, n);

			if (want == got) {
				agree++;
			} else if (differ++ < 10) {
				diag("'%s'%s on '%s': glibc %d, ours %d", pat, icase ? " -i" : "", subj,
				     want, got);
			}
		}
		regfree(&go);
		ere_free(re);
	}
	diag("%d patterns both accept (%d not compared: anchor in a group, and repetition), %d glibc "
	     "refuses (%d of them we accept), %d we refuse",
	     both, skipped, glibc_refused, lax, refused);
	ok(both > 10000, "differential: most random patterns compile in both (%d)", both);
	ok(differ == 0, "differential: same answers as glibc regexec (%d agree, %d differ)", agree,
	   differ);
	ok(bad_refusals == 0, "differential: we refuse only what is documented (%d others)",
	   bad_refusals);
}

static bool m(const char *pat, unsigned flags, const char *s)
{
	struct ere *re = NULL;
	bool hit;

	if (ere_new(pat, flags, &re, NULL) < 0)
		return false;
	hit = ere_match(re, s, strlen(s));
	ere_free(re);
	return hit;
}

static void expect_refused(const char *pat, const char *want)
{
	struct ere *re = NULL;
	const char *why = NULL;
	int r = ere_new(pat, 0, &re, &why);

	ok(r == -EINVAL && !re && why && strstr(why, want), "'%.40s' refused: %s", pat,
	   why ? why : "(accepted)");
	ere_free(re);
}

/* @unit repeated @n times, as one pattern. */
static char *repeat(const char *unit, size_t n)
{
	size_t len = strlen(unit);
	char *s = malloc(len * n + 1);

	if (!s)
		abort();
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * len, unit, len);
	s[len * n] = '\0';
	return s;
}

static void test_bounds(void)
{
	char *s;

	expect_refused("(a*)\\1", "back-references");
	expect_refused("\\bfoo", "word-boundary");
	expect_refused("foo\\>", "word-boundary");
	expect_refused("a{32768}", "above 32767");
	expect_refused("((a{200}){200}){200}", "too complex (over 4096 states)");
	expect_refused("(a{64}){64}", "too complex");
	ok(m("(b{60}){60}x", 0, "/x") == false && m("(b{60}){60}|x", 0, "/x"),
	   "3,600 states after unrolling are accepted");
	ok(m("a{4000}", 0, "/b") == false, "a{4000} is accepted");

	/* The issue's three patterns: a crash, minutes, 24 GB in glibc. */
	s = repeat("()", 60000);
	ok(m(s, 0, "/x") && m(s, 0, ""), "'()' x 60000: empty groups need no state, match all");
	free(s);
	s = repeat("(a*)*", 4000);
	expect_refused(s, "too complex");
	free(s);
	s = repeat("(a*)*", 300);
	ok(m(s, 0, "/b") && m(s, 0, "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"),
	   "'(a*)*' x 300: within the cap, and linear");
	free(s);
	s = repeat("a?", 60000);
	expect_refused(s, "too complex");
	free(s);
	{
		/* 100,000 nested groups: the parser keeps its stack on the heap. */
		char *deep = malloc(200002);

		memset(deep, '(', 100000);
		deep[100000] = 'a';
		memset(deep + 100001, ')', 100000);
		deep[200001] = '\0';
		ok(m(deep, 0, "/a") && !m(deep, 0, "/b"), "100,000 nested groups");
		free(deep);
	}
	{
		/* The deepest tree the cap allows: 4,000 nested stars, 4,001 states. */
		char *deep = malloc(3 * 4000 + 2);

		memset(deep, '(', 4000);
		deep[4000] = 'a';
		for (int i = 0; i < 4000; i++)
			memcpy(deep + 4001 + 2 * i, ")*", 2);
		deep[12001] = '\0';
		ok(m(deep, 0, "/") && m(deep, 0, "aaa"), "4,000 nested stars: within the cap");
		free(deep);
	}
	{
		/* 2^20 DFA states along a long subject: the cache flushes and refills,
		 * and the answer stays right. */
		char subj[20001];

		for (int i = 0; i < 20000; i++)
			subj[i] = "ab"[rnd(2)];
		subj[19999] = 'c';
		subj[20000] = '\0';
		subj[19979] = 'a';
		ok(m("a[ab]{19}c$", 0, subj), "2^20 DFA states over 20,000 bytes: the hit");
		subj[19979] = 'b';
		ok(!m("a[ab]{19}c$", 0, subj), "... and the miss");
	}
}

/* Anchors where glibc's answers are not POSIX's (see gen()), checked by hand. */
static void test_anchors(void)
{
	ok(!m("(b|^c){2}", 0, "bc") && m("(b|^c){2}", 0, "cb"), "'(b|^c){2}' is '(b|^c)(b|^c)'");
	ok(m("(^a|b)+$", 0, "xab") && !m("(^a|b)+$", 0, "ba"), "'^' in a repeated group");
	ok(!m("a$.", 0, "a\nb") && !m(".^b", 0, "a\nb"),
	   "'^' and '$' hold only at the ends, not at a newline");
	ok(!m("x^y", 0, "x^y") && !m("x$y", 0, "x$y"), "'^' and '$' in the middle are anchors");
	ok(m("a|^b", 0, "b") && m("(^a)", 0, "a") && !m("c(^a)", 0, "ca"), "'^' after '|' and '('");
	ok(m("$^", 0, "") && !m("$^", 0, "a") && m("^$", 0, ""), "'$^' and '^$' match only \"\"");
	ok(m("\\`a", 0, "a") && !m("\\`a", 0, "ba") && m("a\\'", 0, "a") && !m("a\\'", 0, "ab"),
	   "GNU \\` and \\' are ^ and $");
	ok(m("(a$)*b", 0, "b") && !m("(a$)+b", 0, "ab"), "'$' inside a star");
	expect_refused("^*", "nothing to repeat");
	expect_refused("a|*b", "nothing to repeat");
	ok(m("a**", 0, "x") && m("a+*", 0, "x") && m("a{2}{3}", 0, "aaaaaa") &&
	   !m("a{2}{3}", 0, "aaaaa") && m("a{2}+$", 0, "aaaa") && !m("^a{2}+$", 0, "aaa"),
	   "stacked repetitions nest: a{2}{3} is (a{2}){3}");
	ok(m("[[:upper:]]", ERE_ICASE, "a") && !m("[^A]", ERE_ICASE, "a") && m("[B-Y]", ERE_ICASE, "c") &&
	   !m("[B-Y]", ERE_ICASE, "_"), "-i as glibc: pattern folded to lower, [:upper:] is [:alpha:]");
}

int main(void)
{
	/* The oracle runs in the C locale, which regex.c always assumes. */
	setlocale(LC_ALL, "C");
	plan_lazy();
	test_differential();
	test_bounds();
	test_anchors();
	return done_testing();
}
