/* SPDX-License-Identifier: MIT */
/*
 * test-query.c - pattern matching for `fsindex find`: substrings, globs,
 * regexes, -i, --name, malformed patterns, odd bytes and long paths.
 */
#include "query.h"

#include "tap.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Offset of the last component of @path, as the index reports it ("/" -> 1). */
static size_t name_off_of(const char *path, size_t len)
{
	size_t off = len;

	while (off > 0 && path[off - 1] != '/')
		off--;
	return off;
}

static bool matchn(const char *const *pats, size_t n, unsigned flags, const char *path,
		   size_t len)
{
	struct query *q = NULL;
	char *err = NULL;
	bool m;
	int r;

	r = query_new(pats, n, flags, &q, &err);
	if (r < 0) {
		diag("query_new failed: %d %s", r, err ? err : "");
		free(err);
		return false;
	}
	m = query_match(q, path, len, name_off_of(path, len));
	query_free(q);
	return m;
}

static bool match(const char *pat, unsigned flags, const char *path)
{
	return matchn(&pat, 1, flags, path, strlen(path));
}

/* query_new() must fail with -EINVAL and a message containing @want. */
static void expect_invalid(const char *pat, unsigned flags, const char *want, const char *what)
{
	struct query *q = NULL;
	char *err = NULL;
	int r;

	r = query_new(&pat, 1, flags, &q, &err);
	ok(r == -EINVAL && q == NULL && err && strstr(err, want), "%s: -EINVAL, message \"%s\"",
	   what, err ? err : "(null)");
	free(err);
	query_free(q);
	/* A NULL ret_error is allowed. */
	r = query_new(&pat, 1, flags, &q, NULL);
	ok(r == -EINVAL, "%s: -EINVAL without ret_error", what);
}

static void test_is_glob(void)
{
	ok(!query_is_glob("foo/bar.txt"), "is_glob: plain");
	ok(!query_is_glob(""), "is_glob: empty");
	ok(!query_is_glob("a\\b]{}"), "is_glob: backslash, ] and braces are not wildcards");
	ok(query_is_glob("*.c"), "is_glob: *");
	ok(query_is_glob("a?c"), "is_glob: ?");
	ok(query_is_glob("[ab]"), "is_glob: [");
	ok(query_is_glob("x\\*"), "is_glob: escaped * still counts");
}

static void test_substring(void)
{
	ok(match("foo", 0, "/home/foo/bar"), "substring in the middle");
	ok(match("/home", 0, "/home/foo/bar"), "substring at the start");
	ok(match("bar", 0, "/home/foo/bar"), "substring at the end");
	ok(match("/home/foo/bar", 0, "/home/foo/bar"), "substring: the whole path");
	ok(!match("/home/foo/bar/", 0, "/home/foo/bar"), "substring longer than the path misses");
	ok(!match("baz", 0, "/home/foo/bar"), "substring miss");
	ok(!match("Foo", 0, "/home/foo/bar"), "substring is case-sensitive by default");
	ok(match("o/b", 0, "/home/foo/bar"), "substring crosses /");
	ok(match("", 0, "/x"), "empty pattern matches");
	ok(match("", QUERY_NAME, "/"), "empty pattern matches the root's empty name");
	ok(match("a\\b", 0, "/x/a\\b"), "substring: backslash is literal");
	ok(!match("a\\b", 0, "/x/ab"), "substring: backslash does not escape");
	ok(match("dir\\", 0, "/x/dir\\/y"), "substring: trailing backslash is literal, not an error");
	ok(match("a]b", 0, "/a]b"), "substring: ] is literal");
}

static void test_icase(void)
{
	ok(match("FOO", QUERY_ICASE, "/home/foo/bar"), "-i: upper pattern, lower path");
	ok(match("foo", QUERY_ICASE, "/home/FoO/bar"), "-i: lower pattern, mixed path");
	ok(match("r", QUERY_ICASE, "/BAR"), "-i: one byte at the end");
	ok(match("/HOME", QUERY_ICASE, "/home"), "-i: non-letter first byte");
	ok(!match("fooz", QUERY_ICASE, "/home/FOO"), "-i: miss past the end");
	ok(match("ab", QUERY_ICASE, "/aAaAaB"), "-i: candidates of both cases, late hit");
	ok(!match("ab", QUERY_ICASE, "/aAaAaA"), "-i: candidates of both cases, no hit");
	ok(match("*A[B", QUERY_ICASE, "/a[b"), "-i glob: unmatched [ is literal, letters fold");
	ok(!match("{", QUERY_ICASE, "/a[b"), "-i: [ and { are not folded into each other");
	ok(!match("@", QUERY_ICASE, "/a`b"), "-i: @ and ` are not folded into each other");
	/* 'É' is c3 89, 'é' is c3 a9: only ASCII folds. */
	ok(!match("\xc3\x89", QUERY_ICASE, "/caf\xc3\xa9"), "-i: É does not fold to é (substring)");
	ok(!match("*\xc3\x89", QUERY_ICASE, "/caf\xc3\xa9"), "-i: É does not fold to é (glob)");
	ok(!match("\xc3\x89", QUERY_ICASE | QUERY_REGEX, "/caf\xc3\xa9"),
	   "-i: É does not fold to é (regex)");
	ok(match("CAF\xc3\xa9", QUERY_ICASE, "/caf\xc3\xa9"), "-i: ASCII folds next to UTF-8");
	ok(!match("\xc9", QUERY_ICASE, "/\xe9"), "-i: Latin-1 É does not fold to é");
}

static void test_glob(void)
{
	ok(match("/home/*/bar", 0, "/home/foo/bar"), "glob * in one component");
	ok(match("/home/*", 0, "/home/foo/bar"), "glob * crosses /");
	ok(match("*bar", 0, "/home/foo/bar"), "glob *bar");
	ok(!match("*foo", 0, "/home/foo/bar"), "glob is anchored at the end");
	ok(!match("home*", 0, "/home/foo/bar"), "glob is anchored at the start");
	ok(match("*/.hidden", 0, "/x/.hidden"), "glob: leading dot not special");
	ok(match("/ho?e/foo/bar", 0, "/home/foo/bar"), "glob ?");
	ok(match("/a?b", 0, "/a/b"), "glob ? matches /");
	ok(!match("/ho?e", 0, "/hoome"), "glob ? is one byte");
	ok(match("*/[abc]ar", 0, "/home/foo/bar"), "bracket class hit");
	ok(!match("*/[!abc]ar", 0, "/home/foo/bar"), "negated bracket class miss");
	ok(match("*/[a-c]ar", 0, "/home/foo/bar"), "bracket range");
	ok(match("*[[:digit:]]", 0, "/f9"), "bracket character class");
	ok(!match("*[[:digit:]]", 0, "/f"), "bracket character class miss");
	ok(match("*\\*", 0, "/a/star*"), "escaped \\* matches a literal *");
	ok(!match("*\\*", 0, "/a/stars"), "escaped \\* does not match anything else");
	ok(match("*\\?x", 0, "/a?x"), "escaped \\? matches a literal ?");
	ok(!match("*\\?x", 0, "/abx"), "escaped \\? is not a wildcard");
	ok(match("*\\\\", 0, "/a\\"), "escaped backslash at the end is fine");
	ok(match("/a[b", 0, "/a[b"), "unmatched [ is literal");
	ok(match("*FOO*", QUERY_ICASE, "/home/foo/bar"), "glob -i");
	ok(!match("*FOO*", 0, "/home/foo/bar"), "glob without -i is case-sensitive");
	ok(match("*", QUERY_NAME, "/"), "glob * matches the root's empty name");
}

static void test_name(void)
{
	ok(!match("foo", QUERY_NAME, "/foo/bar"), "--name: directory component does not count");
	ok(match("foo", 0, "/foo/bar"), "without --name the directory counts");
	ok(match("ba", QUERY_NAME, "/foo/bar"), "--name substring");
	ok(match("bar", QUERY_NAME, "/foo/bar"), "--name whole name");
	ok(!match("/bar", QUERY_NAME, "/foo/bar"), "--name: the slash is not part of the name");
	ok(match("b*", QUERY_NAME, "/foo/bar"), "--name glob anchored at the name");
	ok(!match("f*", QUERY_NAME, "/foo/bar"), "--name glob does not see the directory");
	ok(!match("*/bar", QUERY_NAME, "/foo/bar"), "--name glob with / never matches");
	ok(match("B?R", QUERY_NAME | QUERY_ICASE, "/foo/bar"), "--name glob -i");
	ok(match("^bar$", QUERY_NAME | QUERY_REGEX, "/foo/bar"), "--name regex anchors on the name");
	ok(!match("^foo", QUERY_NAME | QUERY_REGEX, "/foo/bar"), "--name regex ^ is the name start");
	ok(match("^$", QUERY_NAME | QUERY_REGEX, "/"), "--name: root's name is empty");
	ok(!match("x", QUERY_NAME, "/"), "--name: root's name contains nothing");
}

static void test_regex(void)
{
	ok(match("^/tmp", QUERY_REGEX, "/tmp/x"), "regex ^/tmp hit");
	ok(!match("^/tmp", QUERY_REGEX, "/var/tmp/x"), "regex ^/tmp miss");
	ok(match("bar$", QUERY_REGEX, "/foo/bar"), "regex bar$ hit");
	ok(!match("bar$", QUERY_REGEX, "/bar/foo"), "regex bar$ miss");
	ok(match("o+/b", QUERY_REGEX, "/foo/bar"), "regex unanchored, ERE +");
	ok(match("(x|ba)r", QUERY_REGEX, "/foo/bar"), "regex ERE alternation");
	ok(match("a.b", QUERY_REGEX, "/a\nb"), "regex . matches newline");
	ok(match("a.b", QUERY_REGEX, "/a\xff" "b"), "regex . matches byte 0xff");
	ok(match("[^a]", QUERY_REGEX, "/\x80"), "regex [^a] matches byte 0x80");
	ok(match("x*", QUERY_REGEX, "/abc"), "regex: * is ERE repetition (x* matches empty)");
	ok(!match("x*", 0, "/abc"), "glob x* for comparison misses");
	ok(match("foo", QUERY_REGEX, "/x/foo.c"), "regex: a pattern without wildcards is still ERE");
	ok(match("f.o", QUERY_REGEX, "/x/fao"), "regex: . is a wildcard");
	ok(!match("f.o", 0, "/x/fao"), "substring: . is literal");
	ok(match("BAR$", QUERY_REGEX | QUERY_ICASE, "/foo/bar"), "regex -i");
	ok(!match("BAR$", QUERY_REGEX, "/foo/bar"), "regex without -i is case-sensitive");
	ok(match("", QUERY_REGEX, "/foo"), "empty regex matches");
}

static void test_malformed(void)
{
	struct query *q;
	const char *pats[] = { "ok", "*bad\\" };

	expect_invalid("a(", QUERY_REGEX, "invalid regular expression 'a(': ", "regex a(");
	expect_invalid("[z-a]", QUERY_REGEX, "invalid regular expression '[z-a]': ", "regex [z-a]");
	expect_invalid("x\\", QUERY_REGEX, "invalid regular expression 'x\\': ", "regex x\\");
	expect_invalid("(.*)\\1x", QUERY_REGEX, "back-references (\\1 to \\9) are not supported",
		       "regex back-reference (exponential in glibc)");
	expect_invalid("a[]]\\9", QUERY_REGEX, "back-references", "regex back-reference after a ']' member");
	expect_invalid("[[:alpha:]]\\2", QUERY_REGEX, "back-references", "regex back-reference after a class");
	/* Stacked repetition, undefined in POSIX, nests as in glibc; the engine's cost is
	 * bounded whatever the shape, so no shape is refused. */
	ok(match("a+*", QUERY_REGEX, "/x") && match("^/a{2}+$", QUERY_REGEX, "/aaaa") &&
	   !match("^/a{2}+$", QUERY_REGEX, "/aaa") && match("x{,3}*y", QUERY_REGEX, "/xxxxy"),
	   "regex: stacked repetitions a+*, a{2}+, x{,3}* are accepted");
	/* The input that kept glibc's regcomp() busy past the fuzzer's 10 s. */
	ok(!match("\x8d+++$\xd9*+++++\".\xce", QUERY_REGEX | QUERY_ICASE, "/\x8d"),
	   "regex with '+++' compiles and answers (regcomp took over 30 s)");
	ok(match("/a{256}$", QUERY_REGEX, "/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") &&
	   match("a{1,1000}b", QUERY_REGEX, "/aab c") && !match("a{300}", QUERY_REGEX, "/aab"),
	   "regex: counts above 255 are accepted within the state cap");
	expect_invalid("a{99999999999}", QUERY_REGEX, "above 32767", "regex a{99999999999} (a bound past the saturation)");
	expect_invalid("a{1,99999999999}", QUERY_REGEX, "above 32767", "regex a{1,99999999999}");
	ok(match("ab{255}", QUERY_REGEX, "/xab") == false && match("b{2}c", QUERY_REGEX, "/bbc"),
	   "regex: intervals up to 255 are accepted");
	expect_invalid("((a{200}){200}){200}", QUERY_REGEX, "too complex (over 4096 states)",
		       "regex nested intervals (8M copies: 1.6 GB in regcomp)");
	expect_invalid("(a{200}){200}", QUERY_REGEX, "too complex (over 4096 states)",
		       "regex (a{200}){200}: 40,000 states");
	ok(match("(a{60}){60}", QUERY_REGEX, "/a") == false && match("(b{60}){60}|x", QUERY_REGEX, "/x"),
	   "regex: nested intervals of 3,600 states are accepted");
	{
		/* 20,000 nested groups crashed glibc's recursive regcomp(). */
		size_t n = 20000;
		char *deep = malloc(2 * n + 2);

		memset(deep, '(', n);
		deep[n] = 'a';
		memset(deep + n + 1, ')', n);
		deep[2 * n + 1] = '\0';
		ok(match(deep, QUERY_REGEX, "/a") && !match(deep, QUERY_REGEX, "/b"),
		   "regex: 20,000 nested groups compile (no recursion on depth)");
		/* 4,000 optional groups need 8,000 states; the message shows 64 bytes. */
		for (size_t i = 0; i < 4000; i++)
			memcpy(deep + 4 * i, "(a)?", 4);
		deep[16000] = '\0';
		expect_invalid(deep, QUERY_REGEX,
			       "invalid regular expression '(a)?(a)?(a)?(a)?(a)?(a)?(a)?(a)?(a)?(a)?"
			       "(a)?(a)?(a)?(a)?(a)?(a)?...': too complex (over 4096 states)",
			       "regex of 16,000 bytes: too complex, message cut to 64 bytes");
		free(deep);
	}
	ok(match("(((((((x)))))))", QUERY_REGEX, "/x"), "regex: a few nested groups are fine");
	ok(match("(a+)+b", QUERY_REGEX, "/aab") && match("a+b*", QUERY_REGEX, "/a"),
	   "regex: repetitions not right after another are accepted");
	ok(match("[+*]+x", QUERY_REGEX, "/*+x") && match("a\\*+", QUERY_REGEX, "/a**"),
	   "regex: '+' and '*' as bracket members or escaped are not operators");
	ok(match("[\\1]x", QUERY_REGEX, "/1x"), "regex: \\1 inside brackets is two members, not a back-reference");
	ok(match("[[:digit:]\\1]x", QUERY_REGEX, "/\\x"), "... also after a character class");
	ok(match("\\\\1", QUERY_REGEX, "/a\\1"), "regex: \\\\1 is a literal backslash, then 1");
	expect_invalid("*foo\\", 0, "invalid pattern '*foo\\': trailing backslash", "glob *foo\\");
	expect_invalid("[\\", 0, "invalid pattern '[\\': trailing backslash", "glob [\\");
	expect_invalid("a(\n\xff", QUERY_REGEX, "invalid regular expression 'a(\\n\\xff': ",
		       "regex with odd bytes is quoted");
	expect_invalid("*\t\\", 0, "invalid pattern '*\\t\\\\': trailing backslash",
		       "glob with odd bytes is quoted");

	/* A later bad pattern fails the whole query and frees the good one. */
	q = NULL;
	ok(query_new(pats, 2, 0, &q, NULL) == -EINVAL && q == NULL, "second pattern bad: -EINVAL");
}

static void test_multiple(void)
{
	const char *both[] = { "foo", "bar" };
	const char *mixed[] = { "/home/*", "foo", "*.c" };
	const char *rx[] = { "^/home", "\\.c$" };
	const char *none[] = { NULL };

	ok(matchn(both, 2, 0, "/foo/bar", 8), "AND: both present");
	ok(matchn(both, 2, 0, "/bar/foo", 8), "AND: order in the path does not matter");
	ok(!matchn(both, 2, 0, "/foo/baz", 8), "AND: one missing");
	ok(!matchn(both, 2, 0, "/qux/bar", 8), "AND: the other missing");
	ok(matchn(mixed, 3, 0, "/home/foo/x.c", 13), "AND: glob, substring, glob");
	ok(!matchn(mixed, 3, 0, "/home/foo/x.h", 13), "AND: last glob misses");
	ok(!matchn(mixed, 3, 0, "/home/fo/x.c", 12), "AND: substring misses between globs");
	ok(matchn(rx, 2, QUERY_REGEX, "/home/a.c", 9), "AND: regexes");
	ok(!matchn(rx, 2, QUERY_REGEX, "/tmp/a.c", 8), "AND: regexes, one misses");
	ok(matchn(none, 0, 0, "/anything", 9), "no patterns match everything");
	ok(matchn(none, 0, QUERY_NAME | QUERY_REGEX | QUERY_ICASE, "/", 1),
	   "no patterns match the root");
}

static void test_odd_bytes(void)
{
	static const char nl[] = "/dir/a\nb";
	static const char ff[] = "/dir/\xff\xfe\x80name";

	ok(match("a\nb", 0, nl), "newline in path, substring");
	ok(match("*a?b", 0, nl), "newline in path, glob ? matches it");
	ok(match("a\nb", QUERY_NAME, nl), "newline in name, --name");
	ok(match("^a\nb$", QUERY_NAME | QUERY_REGEX, nl), "newline in name, regex (no REG_NEWLINE)");
	ok(!match("b$", QUERY_REGEX, "/a\nb\nc"), "regex $ is the end of the path, not of a line");
	ok(match("\xff\xfe", 0, ff), "0xff 0xfe substring");
	ok(match("\xff\xfe", QUERY_ICASE, ff), "0xff 0xfe substring -i");
	ok(match("*/\xff?\x80*", 0, ff), "0xff glob with ? over 0xfe");
	ok(match("*/[\xf0-\xff]*", 0, ff), "bracket range over high bytes");
	ok(match("/\xff.\x80", QUERY_REGEX, ff), "regex over high bytes");
	ok(match("\xff\xfe\x80NAME", QUERY_ICASE | QUERY_NAME, ff), "--name -i next to high bytes");
	ok(!match("\xff\xff", 0, ff), "high-byte miss");
}

static void test_long_path(void)
{
	enum { LEN = 10000 };
	char *p = malloc(LEN + 1);
	const char *tail[] = { "needle" };
	const char *ipat[] = { "NEEDLE" };
	const char *glob[] = { "/aaaa/a*/aa/needle" };
	const char *nglob[] = { "*/x*" };
	const char *rx[] = { "/a+/needle$" };
	size_t name_off;

	if (!p) {
		ok(false, "malloc");
		return;
	}
	/* "/aaaa/aaaa/.../needle", 10,000 bytes. */
	for (size_t i = 0; i < LEN; i++)
		p[i] = i % 5 == 0 ? '/' : 'a';
	memcpy(p + LEN - 7, "/needle", 7);
	p[LEN] = '\0';
	name_off = name_off_of(p, LEN);

	ok(name_off == LEN - 6, "long path: name offset");
	ok(matchn(tail, 1, 0, p, LEN), "10,000-byte path: substring at the end");
	ok(matchn(ipat, 1, QUERY_ICASE, p, LEN), "10,000-byte path: -i substring at the end");
	ok(matchn(glob, 1, 0, p, LEN), "10,000-byte path: glob");
	ok(!matchn(nglob, 1, 0, p, LEN), "10,000-byte path: glob miss");
	ok(matchn(rx, 1, QUERY_REGEX, p, LEN), "10,000-byte path: regex");
	ok(matchn(tail, 1, QUERY_NAME, p, LEN), "10,000-byte path: --name");
	p[LEN - 1] = 'E';
	ok(!matchn(tail, 1, 0, p, LEN), "10,000-byte path: substring miss");
	ok(matchn(ipat, 1, QUERY_ICASE, p, LEN), "10,000-byte path: -i still hits");
	free(p);
}

/* The caller's locale must not change what -i folds or what `.` matches. */
static void test_locale(void)
{
	if (!setlocale(LC_ALL, "C.UTF-8")) {
		skip("no C.UTF-8 locale");
		skip("no C.UTF-8 locale");
		skip("no C.UTF-8 locale");
		return;
	}
	ok(match("/a.b", QUERY_REGEX, "/a\xff" "b"), "UTF-8 locale: regex . matches byte 0xff");
	ok(!match("*\xc3\x89", QUERY_ICASE, "/caf\xc3\xa9"), "UTF-8 locale: glob -i folds only ASCII");
	ok(!match("\xc3\x89", QUERY_ICASE | QUERY_REGEX, "/caf\xc3\xa9"),
	   "UTF-8 locale: regex -i folds only ASCII");
	setlocale(LC_ALL, "C");
}

struct thread_arg {
	const struct query *q;
	int hits;
};

static void *match_thread(void *p)
{
	struct thread_arg *arg = p;
	char path[64];

	for (int i = 0; i < 2000; i++) {
		int len = snprintf(path, sizeof(path), "/home/u%d/src/f%d.C", i % 7, i);

		arg->hits += query_match(arg->q, path, (size_t)len, 0);
	}
	return NULL;
}

/* One compiled query shared by threads, as find's workers use it. */
static void test_threads(void)
{
	const char *pats[] = { "/HOME/", "/src/", "U[0-3]/.*\\.c$" };
	struct thread_arg args[4];
	pthread_t tids[4];
	struct query *q = NULL;
	int started = 0;
	bool same = true;

	if (query_new(pats, 3, QUERY_REGEX | QUERY_ICASE, &q, NULL) < 0) {
		ok(false, "threads: query_new");
		return;
	}
	for (; started < 4; started++) {
		args[started] = (struct thread_arg){ .q = q };
		if (pthread_create(&tids[started], NULL, match_thread, &args[started]) != 0)
			break;
	}
	for (int t = 0; t < started; t++) {
		pthread_join(tids[t], NULL);
		same = same && args[t].hits == args[0].hits;
	}
	/* i % 7 in 0..3: 285 full cycles of 7 give 1140, then i = 1995..1998. */
	ok(started == 4 && same && args[0].hits == 1144, "threads: shared query, same answers (%d)",
	   args[0].hits);
	query_free(q);
}

int main(void)
{
	plan_lazy();
	test_is_glob();
	test_substring();
	test_icase();
	test_glob();
	test_name();
	test_regex();
	test_malformed();
	test_multiple();
	test_odd_bytes();
	test_long_path();
	test_locale();
	test_threads();
	return done_testing();
}
