/* SPDX-License-Identifier: MIT */
/*
 * test-config.c - fsindex.conf parsing: the minimal file, every key,
 * defaults, per-root overrides, escapes, line endings, every error with its
 * line and message, the size limits, config_load() on odd files, and that
 * man/fsindex.conf.5 documents exactly the keys the parser knows.
 */
/* Not "config.h": outside src/ that names autoconf's header (-I. comes first). */
#include "../../src/config.h"

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct config *parse_n(const char *text, size_t len, const char *what)
{
	struct config *cfg = NULL;
	char *err = NULL;
	int r = config_parse("t.conf", text, len, &cfg, &err);

	if (!ok(r == 0 && cfg && !err, "parses: %s", what))
		diag("r=%d err=%s", r, err ? err : "(none)");
	free(err);
	return r == 0 ? cfg : NULL;
}

static struct config *parse(const char *text, const char *what)
{
	return parse_n(text, strlen(text), what);
}

static void fails_n(const char *text, size_t len, const char *want)
{
	struct config *cfg = (struct config *)&cfg; /* must stay untouched */
	char *err = NULL;
	int r = config_parse("t.conf", text, len, &cfg, &err);

	if (!ok(r == -EINVAL && err && strcmp(err, want) == 0 && cfg == (struct config *)&cfg,
		"error: %s", want))
		diag("r=%d err=%s", r, err ? err : "(none)");
	free(err);
}

static void fails(const char *text, const char *want)
{
	fails_n(text, strlen(text), want);
}

static bool list_is(char **v, size_t n, const char *const *want)
{
	size_t i;

	for (i = 0; want[i]; i++)
		if (i >= n || strcmp(v[i], want[i]) != 0)
			return false;
	return i == n && v[n] == NULL;
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const[]){NULL})

static void test_minimal(void)
{
	struct config *cfg = parse("[index]\nroots = /home /srv\ndb = /var/lib/fsindex\n",
				   "the issue's minimal file");

	if (!cfg)
		return;
	ok(cfg->nroots == 2 && strcmp(cfg->roots[0].path, "/home") == 0 &&
		   strcmp(cfg->roots[1].path, "/srv") == 0,
	   "two roots, in order");
	ok(strcmp(cfg->db, "/var/lib/fsindex") == 0, "db");
	ok(cfg->workers == 0 && cfg->reconcile == 86400 && cfg->nice == 10 &&
		   cfg->io_class == CONFIG_IO_IDLE && cfg->io_level == -1,
	   "defaults: workers 0, reconcile 1d, nice 10, io-class idle");
	ok(!cfg->roots[0].xdev && !cfg->roots[0].hash && cfg->roots[0].nexcludes == 0 &&
		   cfg->roots[0].excludes[0] == NULL && cfg->roots[0].nexclude_fs == 0 &&
		   cfg->roots[0].exclude_fs[0] == NULL,
	   "defaults: no one-filesystem, no hash, empty NULL-terminated lists");
	ok(cfg->roots[0].line == 2 && cfg->roots[1].line == 2, "roots remember their line");
	/* A command-line override: the caller's pointer is not freed by config_free(). */
	static char mine[] = "/elsewhere";

	cfg->db = mine;
	config_free(cfg);
	config_free(NULL);
	ok(1, "config_free() leaves a caller's field alone and takes NULL");
}

static void test_every_key(void)
{
	struct config *cfg = parse("[index]\n"
				   "roots = /a /b\n"
				   "roots = /c\n"
				   "db = /var/lib/x\n"
				   "exclude = *.tmp .git\n"
				   "exclude = /a/cache/*\n"
				   "exclude-fs = nfs fuse.*\n"
				   "one-filesystem = yes\n"
				   "hash = true\n"
				   "workers = 1024\n"
				   "reconcile = 6h\n"
				   "nice = -20\n"
				   "io-class = best-effort:3\n",
				   "every key in [index]");

	if (!cfg)
		return;
	ok(cfg->nroots == 3 && strcmp(cfg->roots[2].path, "/c") == 0 && cfg->roots[2].line == 3,
	   "roots repeat and append");
	ok(strcmp(cfg->db, "/var/lib/x") == 0, "db");
	ok(list_is(cfg->excludes, cfg->nexcludes, LIST("*.tmp", ".git", "/a/cache/*")),
	   "exclude repeats and appends");
	ok(list_is(cfg->exclude_fs, cfg->nexclude_fs, LIST("nfs", "fuse.*")), "exclude-fs");
	ok(cfg->xdev && cfg->hash, "one-filesystem and hash");
	ok(cfg->workers == 1024 && cfg->reconcile == 6 * 3600 && cfg->nice == -20,
	   "workers, reconcile, nice");
	ok(cfg->io_class == CONFIG_IO_BEST_EFFORT && cfg->io_level == 3, "io-class");
	for (size_t i = 0; i < cfg->nroots; i++)
		if (!cfg->roots[i].xdev || !cfg->roots[i].hash ||
		    !list_is(cfg->roots[i].excludes, cfg->roots[i].nexcludes,
			     LIST("*.tmp", ".git", "/a/cache/*")) ||
		    !list_is(cfg->roots[i].exclude_fs, cfg->roots[i].nexclude_fs,
			     LIST("nfs", "fuse.*")))
			break;
		else if (i + 1 == cfg->nroots)
			ok(1, "every root inherits [index]");
	config_free(cfg);
}

static void test_roots(void)
{
	struct config *cfg;

	cfg = parse("[root /srv]\n"
		    "hash = no\n"
		    "exclude = *.iso\n"
		    "exclude-fs =\n"
		    "exclude-fs = tmpfs\n"
		    "[index]\n"
		    "roots = /home /srv /data\n"
		    "hash = yes\n"
		    "exclude = .cache\n"
		    "exclude-fs = nfs\n"
		    "[root /data]\n"
		    "exclude =\n"
		    "one-filesystem = on\n"
		    "[root /mnt/x]\n",
		    "[root] sections before and after [index]");
	if (!cfg)
		return;
	ok(cfg->nroots == 4 && strcmp(cfg->roots[0].path, "/srv") == 0 &&
		   strcmp(cfg->roots[1].path, "/home") == 0 &&
		   strcmp(cfg->roots[2].path, "/data") == 0 &&
		   strcmp(cfg->roots[3].path, "/mnt/x") == 0,
	   "roots in the order first named; a [root] section alone makes a root");
	ok(cfg->roots[0].line == 1 && cfg->roots[1].line == 7 && cfg->roots[3].line == 14,
	   "a root's line is where it is first named");
	ok(!cfg->roots[0].hash && cfg->roots[1].hash && cfg->roots[2].hash && cfg->roots[3].hash,
	   "hash: per root over [index]");
	ok(!cfg->roots[0].xdev && cfg->roots[2].xdev && !cfg->roots[3].xdev,
	   "one-filesystem per root");
	ok(list_is(cfg->roots[0].excludes, cfg->roots[0].nexcludes, LIST(".cache", "*.iso")),
	   "a root's excludes add to those of [index]");
	ok(list_is(cfg->roots[0].exclude_fs, cfg->roots[0].nexclude_fs, LIST("tmpfs")),
	   "an empty exclude-fs drops the inherited ones");
	ok(list_is(cfg->roots[2].excludes, cfg->roots[2].nexcludes, NONE) &&
		   list_is(cfg->roots[2].exclude_fs, cfg->roots[2].nexclude_fs, LIST("nfs")),
	   "an empty exclude drops the inherited excludes only");
	ok(list_is(cfg->roots[1].excludes, cfg->roots[1].nexcludes, LIST(".cache")) &&
		   list_is(cfg->roots[3].excludes, cfg->roots[3].nexcludes, LIST(".cache")),
	   "roots without overrides get [index]'s lists");
	ok(cfg->excludes[0] == cfg->roots[1].excludes[0], "inherited lists share strings");
	config_free(cfg);

	cfg = parse("[index]\nexclude = a b\nexclude =\nexclude = c\n", "empty exclude in [index]");
	if (cfg)
		ok(list_is(cfg->excludes, cfg->nexcludes, LIST("c")), "drops what came before");
	config_free(cfg);

	cfg = parse("[index]\nroots = //srv///a/./b/ / /x/.\n", "root normalisation");
	if (cfg)
		ok(cfg->nroots == 3 && strcmp(cfg->roots[0].path, "/srv/a/b") == 0 &&
			   strcmp(cfg->roots[1].path, "/") == 0 &&
			   strcmp(cfg->roots[2].path, "/x") == 0,
		   "'//' and '.' and trailing '/' go");
	config_free(cfg);

	cfg = parse("[index]\nroots = /a /a/b\n[root /a/b/]\nhash = 1\n", "nested roots");
	if (cfg)
		ok(cfg->nroots == 2 && !cfg->roots[0].hash && cfg->roots[1].hash,
		   "a nested root is its own root; [root /a/b/] names /a/b");
	config_free(cfg);

	cfg = parse("[index]\ndb = /var//lib/fsindex/\n", "db is normalised");
	if (cfg)
		ok(strcmp(cfg->db, "/var/lib/fsindex") == 0 && cfg->nroots == 0, "db normalised");
	config_free(cfg);
}

static void test_syntax(void)
{
	struct config *cfg;
	static const char nonl[] = "[index]\nroots = /a";

	cfg = parse("[index]\n"
		    "roots = \"/with space\" /a\\ b /q\\\"uote /back\\\\slash /x\\x41\\x42\n"
		    "roots = \"/tab\\there\" /mixed\"  two\"parts /#hash\n",
		    "quotes and escapes");
	if (cfg) {
		static const char *const want[] = {
			"/with space",	    "/a b",   "/q\"uote",
			"/back\\slash",	    "/xAB",   "/tab\there",
			"/mixed  twoparts", "/#hash", NULL,
		};
		size_t i;

		for (i = 0; want[i] && i < cfg->nroots; i++)
			if (strcmp(cfg->roots[i].path, want[i]) != 0)
				break;
		ok(!want[i] && i == cfg->nroots,
		   "each escaped root decoded (first mismatch at %zu)", i);
	}
	config_free(cfg);
	/* ";semi" is not absolute: a ';' inside a value is not a comment. */
	fails("[index]\nroots = /a ;semi\n", "t.conf:2: roots: ';semi' is not an absolute path");

	cfg = parse("[index]\nroots = /\\xff\\xfe \"/x\\\\*\"\nexclude = \"\\n\" *\\\\* [ab]?\n",
		    "bytes above 0x7f, and escaped globs");
	if (cfg) {
		ok(cfg->nroots == 2 && strcmp(cfg->roots[0].path, "/\xff\xfe") == 0 &&
			   strcmp(cfg->roots[1].path, "/x\\*") == 0,
		   "\\xHH writes any byte");
		ok(list_is(cfg->excludes, cfg->nexcludes, LIST("\n", "*\\*", "[ab]?")),
		   "globs keep an escaped backslash for fnmatch");
	}
	config_free(cfg);

	cfg = parse("# comment\r\n; another\r\n\r\n  \t\r\n[index]\r\n\troots\t=\t/a  /b \t\r\n"
		    "  hash=yes\r\n  [ root   /c ]  \r\n",
		    "CRLF, comments, blank lines, blanks everywhere");
	if (cfg)
		ok(cfg->nroots == 3 && strcmp(cfg->roots[1].path, "/b") == 0 &&
			   strcmp(cfg->roots[2].path, "/c") == 0 && cfg->roots[0].hash,
		   "CR dropped, blanks trimmed");
	config_free(cfg);

	cfg = parse_n(nonl, sizeof(nonl) - 1, "no final newline");
	if (cfg)
		ok(cfg->nroots == 1 && strcmp(cfg->roots[0].path, "/a") == 0, "last line read");
	config_free(cfg);

	cfg = parse_n("", 0, "an empty file");
	if (cfg)
		ok(cfg->nroots == 0 && !cfg->db && cfg->roots && cfg->excludes[0] == NULL,
		   "an empty file is valid: no roots, no db");
	config_free(cfg);
	cfg = parse("# nothing\n\n[index]\n", "comments and an empty [index]");
	config_free(cfg);

	static const struct {
		const char *v;
		uint32_t s;
	} iv[] = {
		{"0", 0},	    {"never", 0},	{"90", 90},    {"45s", 45},
		{"30m", 1800},	    {"6h", 21600},	{"1d", 86400}, {"1d12h", 129600},
		{"1h30m15s", 5415}, {"366d", 31622400}, {"0d", 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(iv); i++) {
		char text[64];

		snprintf(text, sizeof(text), "[index]\nreconcile = %s\n", iv[i].v);
		cfg = parse(text, iv[i].v);
		if (cfg)
			ok(cfg->reconcile == iv[i].s, "reconcile %s is %u s", iv[i].v, iv[i].s);
		config_free(cfg);
	}

	static const char *const bools[] = {"yes", "no", "true", "false", "on",	  "off",
					    "1",   "0",	 "YES",	 "No",	  "True", "OFF"};
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++) {
		char text[64];

		snprintf(text, sizeof(text), "[index]\none-filesystem = %s\n", bools[i]);
		cfg = parse(text, bools[i]);
		if (cfg)
			ok(cfg->xdev == !(i % 2), "%s is %s", bools[i], i % 2 ? "false" : "true");
		config_free(cfg);
	}

	cfg = parse("[index]\nio-class = best-effort\nnice = 19\nworkers = 0\n", "io-class");
	if (cfg)
		ok(cfg->io_class == CONFIG_IO_BEST_EFFORT && cfg->io_level == -1 &&
			   cfg->nice == 19 && cfg->workers == 0,
		   "best-effort alone: level from nice");
	config_free(cfg);
	cfg = parse("[index]\nio-class = idle\n", "io-class idle");
	if (cfg)
		ok(cfg->io_class == CONFIG_IO_IDLE, "idle");
	config_free(cfg);
}

static void test_errors(void)
{
	static const char nul[] = "[index]\nroots = /a\n# x\0y\n";
	static const char *const bad[][2] = {
		{"roots = /a\n", "t.conf:1: 'roots' before any section (start with [index])"},
		{"[index]\nbogus = 1\n", "t.conf:2: unknown key 'bogus'"},
		{"[index]\nHash = 1\n", "t.conf:2: unknown key 'Hash'"},
		{"[index]\none filesystem = 1\n", "t.conf:2: unknown key 'one filesystem'"},
		{"[index]\n\xff\x01 = 1\n",
		 "t.conf:2: control byte \\x01 (inside a value, write \\x01)"},
		{"[index]\n\xff\xfe = 1\n", "t.conf:2: unknown key '\\xff\\xfe'"},
		{"[index]\n[indx]\n",
		 "t.conf:2: unknown section '[indx]' (known: [index], [root PATH])"},
		{"[]\n", "t.conf:1: unknown section '[]' (known: [index], [root PATH])"},
		{"[index]\n\n[index]\n", "t.conf:3: section [index] repeated (first on line 1)"},
		{"[index\n", "t.conf:1: missing ']'"},
		{"[root /a\n", "t.conf:1: missing ']'"},
		{"[index] # c\n", "t.conf:1: text after ']' (comments take a line of their own)"},
		{"[root /a]]\n", "t.conf:1: text after ']' (comments take a line of their own)"},
		{"[root]\n", "t.conf:1: [root] needs a path, as in [root /srv]"},
		{"[root /a /b]\n", "t.conf:1: [root] takes one path (quote a path with blanks)"},
		{"[root a]\n", "t.conf:1: [root]: 'a' is not an absolute path"},
		{"[root /a/..]\n", "t.conf:1: [root]: '/a/..' has a '..' component"},
		{"[root /a]\n[root //a/]\n",
		 "t.conf:2: section [root /a] repeated (first on line 1)"},
		{"[root /a]\nworkers = 2\n",
		 "t.conf:2: 'workers' belongs in [index], not in a [root] section"},
		{"[root /a]\nroots = /b\n",
		 "t.conf:2: 'roots' belongs in [index], not in a [root] section"},
		{"[root /a]\ndb = /b\n",
		 "t.conf:2: 'db' belongs in [index], not in a [root] section"},
		{"[index]\nhash = yes\nhash = no\n", "t.conf:3: 'hash' is already set on line 2"},
		{"[root /a]\nhash = yes\n# x\nhash = yes\n",
		 "t.conf:4: 'hash' is already set on line 2"},
		{"[index]\ndb = /a\ndb = /a\n", "t.conf:3: 'db' is already set on line 2"},
		{"[index]\nhash = maybe\n", "t.conf:2: hash: 'maybe' is not yes or no"},
		{"[index]\none-filesystem = 2\n", "t.conf:2: one-filesystem: '2' is not yes or no"},
		{"[index]\nhash =\n", "t.conf:2: 'hash' needs a value"},
		{"[index]\nhash = \"\"\n", "t.conf:2: hash: '' is not yes or no"},
		{"[index]\nroots =  \n", "t.conf:2: 'roots' needs a value"},
		{"[index]\nhash = yes no\n",
		 "t.conf:2: 'hash' takes one value (quote a value with blanks)"},
		{"[index]\ndb = /a /b\n",
		 "t.conf:2: 'db' takes one value (quote a value with blanks)"},
		{"[index]\nroots = /a ../b\n", "t.conf:2: roots: '../b' is not an absolute path"},
		{"[index]\nroots = \"\"\n", "t.conf:2: roots: '' is not an absolute path"},
		{"[index]\nroots = /a/../b\n", "t.conf:2: roots: '/a/../b' has a '..' component"},
		{"[index]\nroots = /a /b\nroots = /c /a/\n",
		 "t.conf:3: roots: '/a' is listed twice (first on line 2)"},
		{"[index]\ndb = var/lib\n", "t.conf:2: db: 'var/lib' is not an absolute path"},
		{"[index]\nworkers = 1025\n",
		 "t.conf:2: workers: '1025' is not a number from 0 (one per CPU) to 1024"},
		{"[index]\nworkers = -1\n",
		 "t.conf:2: workers: '-1' is not a number from 0 (one per CPU) to 1024"},
		{"[index]\nworkers = 4x\n",
		 "t.conf:2: workers: '4x' is not a number from 0 (one per CPU) to 1024"},
		{"[index]\nworkers = 99999999999999999999\n",
		 "t.conf:2: workers: '99999999999999999999' is not a number from 0 (one per CPU) "
		 "to 1024"},
		{"[index]\nnice = 20\n", "t.conf:2: nice: '20' is not a number from -20 to 19"},
		{"[index]\nnice = -21\n", "t.conf:2: nice: '-21' is not a number from -20 to 19"},
		{"[index]\nnice = +5\n", "t.conf:2: nice: '+5' is not a number from -20 to 19"},
		{"[index]\nnice = -\n", "t.conf:2: nice: '-' is not a number from -20 to 19"},
		{"[index]\nreconcile = 1h30\n",
		 "t.conf:2: reconcile: '1h30' is not an interval such as 30m, 6h or 1d "
		 "(at most 366d; 0 or never: none)"},
		{"[index]\nreconcile = 367d\n",
		 "t.conf:2: reconcile: '367d' is not an interval such as 30m, 6h or 1d "
		 "(at most 366d; 0 or never: none)"},
		{"[index]\nreconcile = 366d1s\n",
		 "t.conf:2: reconcile: '366d1s' is not an interval such as 30m, 6h or 1d "
		 "(at most 366d; 0 or never: none)"},
		{"[index]\nreconcile = 5w\n",
		 "t.conf:2: reconcile: '5w' is not an interval such as 30m, 6h or 1d "
		 "(at most 366d; 0 or never: none)"},
		{"[index]\nreconcile = h\n",
		 "t.conf:2: reconcile: 'h' is not an interval such as 30m, 6h or 1d "
		 "(at most 366d; 0 or never: none)"},
		{"[index]\nio-class = realtime\n",
		 "t.conf:2: io-class: 'realtime' is not idle, best-effort or best-effort:0..7"},
		{"[index]\nio-class = best-effort:8\n",
		 "t.conf:2: io-class: 'best-effort:8' is not idle, best-effort or "
		 "best-effort:0..7"},
		{"[index]\nio-class = best-effort:\n",
		 "t.conf:2: io-class: 'best-effort:' is not idle, best-effort or best-effort:0..7"},
		{"[index]\nexclude = a \"\"\n", "t.conf:2: exclude: empty pattern"},
		{"[index]\nexclude-fs = a/b\n", "t.conf:2: exclude-fs: 'a/b' has a '/' (it names "
						"filesystem types, such as fuse.*)"},
		{"[index]\nexclude = a\\\\\n",
		 "t.conf:2: exclude: 'a\\\\' ends in a lone backslash"},
		{"[index]\nexclude = \"abc\n", "t.conf:2: unterminated '\"'"},
		{"[index]\nexclude = a\\q\n",
		 "t.conf:2: unknown escape '\\q' (known: \\\\ \\\" \\<space> \\t \\n \\xHH)"},
		{"[index]\nexclude = a\\x4\n", "t.conf:2: '\\x' needs two hex digits"},
		{"[index]\nexclude = a\\xg0\n", "t.conf:2: '\\x' needs two hex digits"},
		{"[index]\nexclude = a\\x00\n",
		 "t.conf:2: '\\x00': a value cannot hold a NUL byte"},
		{"[index]\nexclude = a\\\n",
		 "t.conf:2: a '\\' ends the line (write \\\\ for a backslash)"},
		{"[index]\njust words\n",
		 "t.conf:2: expected 'key = value', a [section] or a comment"},
		{"[index]\n = 3\n", "t.conf:2: missing key before '='"},
		{"[index]\nroots = /a\r\r\n",
		 "t.conf:2: control byte \\x0d (inside a value, write \\x0d)"},
		{"[index]\rroots = /a\n",
		 "t.conf:1: control byte \\x0d (inside a value, write \\x0d)"},
		{"# ok\r\n\r\n[index]\r\nbad = 1\r\n", "t.conf:4: unknown key 'bad'"},
		{"[index]\nroots = /a\x7f\n",
		 "t.conf:2: control byte \\x7f (inside a value, write \\x7f)"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		fails(bad[i][0], bad[i][1]);
	/* A NUL is an error where it stands, not the end of the text. */
	fails_n(nul, sizeof(nul) - 1, "t.conf:3: NUL byte (no value can hold one)");
	fails_n("[index]\0\n", 9, "t.conf:1: NUL byte (no value can hold one)");

	/* No error text wanted: the return value alone. */
	{
		struct config *cfg = NULL;

		ok(config_parse("t.conf", "x\n", 2, &cfg, NULL) == -EINVAL && !cfg,
		   "ret_err may be NULL");
	}
	/* The path is quoted in messages. */
	{
		struct config *cfg = NULL;
		char *err = NULL;
		int r = config_parse("a\nb.conf", "x", 1, &cfg, &err);

		ok(r == -EINVAL && err &&
			   strcmp(err, "a\\nb.conf:1: expected 'key = value', a [section] or a "
				       "comment") == 0,
		   "a newline in the file name cannot forge a line");
		free(err);
	}
}

static void test_limits(void)
{
	size_t cap = CONFIG_MAX_SIZE + 64, n;
	char *big = malloc(cap), *p;
	struct config *cfg;

	if (!big) {
		ok(0, "malloc");
		return;
	}
	/* A line of exactly CONFIG_MAX_LINE bytes, then one byte more. */
	n = (size_t)sprintf(big, "[index]\n");
	memset(big + n, '#', CONFIG_MAX_LINE);
	n += CONFIG_MAX_LINE;
	memcpy(big + n, "\r\nroots = /a\n", 13);
	cfg = parse_n(big, n + 13, "a line of 4096 bytes (and CR LF)");
	config_free(cfg);
	big[n] = '#';
	fails_n(big, n + 13, "t.conf:2: line longer than 4096 bytes");
	/* A long value: a root path of 4000 bytes. */
	n = (size_t)sprintf(big, "[index]\nroots = /");
	memset(big + n, 'x', 4000);
	n += 4000;
	cfg = parse_n(big, n, "a 4001-byte root on the last line");
	if (cfg)
		ok(strlen(cfg->roots[0].path) == 4001, "kept whole");
	config_free(cfg);

	/* CONFIG_MAX_ROOTS roots, then one more. */
	p = big + sprintf(big, "[index]\n");
	for (int i = 0; i < CONFIG_MAX_ROOTS; i++)
		p += sprintf(p, "roots = /r%d\n", i);
	cfg = parse_n(big, (size_t)(p - big), "256 roots");
	if (cfg)
		ok(cfg->nroots == CONFIG_MAX_ROOTS && strcmp(cfg->roots[255].path, "/r255") == 0,
		   "all 256");
	config_free(cfg);
	p += sprintf(p, "[root /r0]\n[root /one-more]\n");
	fails_n(big, (size_t)(p - big), "t.conf:259: more than 256 roots");

	/* CONFIG_MAX_LIST patterns in one list, then one more; then with inherited ones. */
	p = big + sprintf(big, "[index]\nroots = /a\n");
	for (int i = 0; i < CONFIG_MAX_LIST; i++)
		p += sprintf(p, "exclude = p%d\n", i);
	cfg = parse_n(big, (size_t)(p - big), "1024 excludes");
	if (cfg)
		ok(cfg->roots[0].nexcludes == CONFIG_MAX_LIST, "all 1024 reach the root");
	config_free(cfg);
	p += sprintf(p, "exclude = x y\n");
	fails_n(big, (size_t)(p - big), "t.conf:1027: exclude: more than 1024 patterns");
	p = big + sprintf(big, "[index]\nroots = /a\nexclude = a b\n");
	p += sprintf(p, "[root /a]\nhash = 1\nexclude = x\n");
	for (int i = 1; i < CONFIG_MAX_LIST; i++)
		p += sprintf(p, "exclude = p%d\n", i);
	fails_n(big, (size_t)(p - big),
		"t.conf:4: [root /a]: more than 1024 patterns with those of [index]");

	/* The whole text: at most CONFIG_MAX_SIZE bytes (this one is valid otherwise). */
	memset(big, '\n', CONFIG_MAX_SIZE + 1);
	cfg = parse_n(big, CONFIG_MAX_SIZE, "1 MiB of empty lines");
	config_free(cfg);
	fails_n(big, CONFIG_MAX_SIZE + 1, "t.conf: larger than 1048576 bytes");
	free(big);
}

static int write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool good;

	if (fd < 0)
		return -1;
	good = write(fd, text, len) == (ssize_t)len;
	return close(fd) == 0 && good ? 0 : -1;
}

static void test_load(void)
{
	char dir[] = "/tmp/fsindex-config.XXXXXX", path[128], link[128], fifo[128], big[128];
	char *err = NULL, *want = NULL;
	struct config *cfg = NULL;
	const char *srcdir = getenv("top_srcdir");
	char *bigtext;
	int r;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/fsindex.conf", dir);
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(big, sizeof(big), "%s/big.conf", dir);

	ok(write_file(path, "[index]\nroots = /srv\n\nbad\n", 25) == 0, "wrote a config file");
	r = config_load(path, &cfg, &err);
	if (asprintf(&want, "%s:4: expected 'key = value', a [section] or a comment", path) < 0)
		want = NULL;
	ok(r == -EINVAL && err && want && strcmp(err, want) == 0, "config_load: FILE:LINE: reason");
	if (err && want && strcmp(err, want))
		diag("got %s", err);
	free(err);
	free(want);
	err = NULL;

	write_file(path, "[index]\nroots = /srv\n", 21);
	r = symlink("fsindex.conf", link);
	r = r == 0 ? config_load(link, &cfg, &err) : -errno;
	ok(r == 0 && cfg && cfg->nroots == 1, "config_load follows a symlink");
	config_free(cfg);
	cfg = NULL;

	r = config_load(dir, &cfg, &err);
	ok(r == -EINVAL && err && strstr(err, ": not a regular file") && !cfg, "a directory: %s",
	   err ? err : "?");
	free(err);
	err = NULL;

	if (mkfifo(fifo, 0600) == 0) {
		r = config_load(fifo, &cfg, &err);
		ok(r == -EINVAL && err && strstr(err, ": not a regular file"),
		   "a FIFO is refused without blocking");
		free(err);
		err = NULL;
	} else {
		skip("mkfifo: %s", strerror(errno));
	}

	r = config_load("/nonexistent/fsindex.conf", &cfg, &err);
	ok(r == -ENOENT && err &&
		   strcmp(err, "/nonexistent/fsindex.conf: No such file or directory") == 0,
	   "a missing file: -ENOENT and its name");
	free(err);
	err = NULL;

	bigtext = malloc(CONFIG_MAX_SIZE + 1);
	if (bigtext) {
		memset(bigtext, '\n', CONFIG_MAX_SIZE + 1);
		write_file(big, bigtext, CONFIG_MAX_SIZE);
		r = config_load(big, &cfg, &err);
		ok(r == 0 && cfg, "a file of exactly 1 MiB loads");
		config_free(cfg);
		cfg = NULL;
		write_file(big, bigtext, CONFIG_MAX_SIZE + 1);
		r = config_load(big, &cfg, &err);
		ok(r == -EFBIG && err && strstr(err, ": larger than 1 MiB"),
		   "a larger one: -EFBIG");
		free(err);
		err = NULL;
		free(bigtext);
	}

	/* The shipped default file parses. */
	if (srcdir) {
		char def[4096];

		snprintf(def, sizeof(def), "%s/systemd/fsindex.conf", srcdir);
		r = config_load(def, &cfg, &err);
		if (!ok(r == 0 && cfg, "systemd/fsindex.conf parses"))
			diag("%s", err ? err : strerror(-r));
		if (cfg)
			ok(cfg->nroots >= 1 && cfg->db, "and names a root and the db");
		config_free(cfg);
		cfg = NULL;
		free(err);
		err = NULL;
	} else {
		skip("top_srcdir not set");
	}

	unlink(path);
	unlink(link);
	unlink(fifo);
	unlink(big);
	rmdir(dir);
}

static void test_default_path(void)
{
	char *s = NULL;

	ok(config_default_path(false, &s) == 0 && strcmp(s, "/etc/fsindex.conf") == 0,
	   "system: /etc/fsindex.conf");
	free(s);
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	ok(config_default_path(true, &s) == 0 && strcmp(s, "/xdg/fsindex/fsindex.conf") == 0,
	   "user: $XDG_CONFIG_HOME/fsindex/fsindex.conf");
	free(s);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	ok(config_default_path(true, &s) == 0 &&
		   strcmp(s, "/home/u/.config/fsindex/fsindex.conf") == 0,
	   "a relative XDG_CONFIG_HOME is ignored: ~/.config");
	free(s);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	s = NULL;
	ok(config_default_path(true, &s) == -ENOENT && !s, "neither set: -ENOENT");
}

/* Parse one .EX block of the man page, its roff escapes undone. */
static void man_example(const char *ex, size_t len, unsigned line)
{
	char *text = malloc(len + 16), *o = text, what[64];
	struct config *cfg;

	if (!text)
		return;
	/* A one-line example of a key stands in [index] (the [root] keys are valid there too). */
	if (ex[0] != '[')
		o += sprintf(o, "[index]\n");
	for (size_t i = 0; i < len; i++) {
		if (ex[i] == '\\' && i + 1 < len && (ex[i + 1] == '-' || ex[i + 1] == 'e')) {
			*o++ = ex[i + 1] == '-' ? '-' : '\\';
			i++;
		} else {
			*o++ = ex[i];
		}
	}
	snprintf(what, sizeof(what), "the man page's example on line %u", line);
	cfg = parse_n(text, (size_t)(o - text), what);
	config_free(cfg);
	free(text);
}

/* The keys man/fsindex.conf.5 documents: ".TP" then ".B key" or ".BI \"key = \" ...". */
static void test_man(void)
{
	const char *srcdir = getenv("top_srcdir");
	char path[4096], line[1024], documented[64][32], ex[4096];
	size_t ndoc = 0, exlen = 0;
	unsigned lineno = 0, exline = 0;
	bool in_keys = false, after_tp = false, in_examples = false, in_ex = false;
	FILE *f;

	if (!srcdir) {
		skip("top_srcdir not set");
		return;
	}
	snprintf(path, sizeof(path), "%s/man/fsindex.conf.5", srcdir);
	f = fopen(path, "r");
	if (!ok(f != NULL, "man/fsindex.conf.5 exists"))
		return;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (strncmp(line, ".SH", 3) == 0) {
			in_keys = strncmp(line, ".SH KEYS", 8) == 0;
			in_examples = in_keys || strncmp(line, ".SH EXAMPLES", 12) == 0 ||
				      strncmp(line, ".SH DESCRIPTION", 15) == 0;
			continue;
		}
		if (strncmp(line, ".EX", 3) == 0) {
			exlen = 0;
			exline = lineno + 1;
			in_ex = true;
			continue;
		}
		if (strncmp(line, ".EE", 3) == 0) {
			/* DESCRIPTION also shows an error message ("/etc/...: ..."): no config. */
			if (in_ex && in_examples && exlen && ex[0] != '/')
				man_example(ex, exlen, exline);
			in_ex = false;
			continue;
		}
		if (in_ex && exlen + strlen(line) < sizeof(ex)) {
			memcpy(ex + exlen, line, strlen(line));
			exlen += strlen(line);
		}
		if (in_keys && after_tp && strncmp(line, ".B", 2) == 0 && ndoc < 64) {
			const char *s = line + 2;
			size_t o = 0;

			while (*s && *s != ' ')
				s++; /* the macro: .B, .BI, .BR */
			while (*s == ' ' || *s == '"')
				s++;
			while (*s && *s != ' ' && *s != '"' && *s != '\n' && o < 31) {
				if (s[0] == '\\' && s[1] == '-')
					s++;
				documented[ndoc][o++] = *s++;
			}
			documented[ndoc++][o] = '\0';
		}
		after_tp = in_keys && strncmp(line, ".TP", 3) == 0;
	}
	fclose(f);

	for (size_t i = 0; config_key_name(i); i++) {
		size_t j;

		for (j = 0; j < ndoc; j++)
			if (strcmp(documented[j], config_key_name(i)) == 0)
				break;
		ok(j < ndoc, "the man page documents '%s'", config_key_name(i));
	}
	for (size_t j = 0; j < ndoc; j++) {
		size_t i;

		for (i = 0; config_key_name(i); i++)
			if (strcmp(documented[j], config_key_name(i)) == 0)
				break;
		ok(config_key_name(i) != NULL, "the man page's '%s' is a key the parser knows",
		   documented[j]);
	}
}

int main(void)
{
	plan_lazy();
	test_minimal();
	test_every_key();
	test_roots();
	test_syntax();
	test_errors();
	test_limits();
	test_load();
	test_default_path();
	test_man();
	return done_testing();
}
