/* SPDX-License-Identifier: MIT */
/*
 * test-output.c - exact bytes of every output form: --printf directives as
 * find(1) 4.9 prints them (checked against it on Debian 12), JSON strings
 * (escapes, strict UTF-8, U+FFFD), base64 (RFC 4648 vectors, coreutils
 * base64 as an oracle), find --json lines, dups groups in the three modes
 * and the summary; jq, when installed, must parse every JSON line and give
 * back the exact bytes of a non-UTF-8 path; stdio errors come back as
 * -errno.
 */
#include "output.h"

#include "dups.h"
#include "hash.h"
#include "log.h"
#include "node.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- capturing output ----------------------------------------------------- */

static char *mem_buf;
static size_t mem_len;

static FILE *mem_begin(void)
{
	FILE *f;

	mem_buf = NULL;
	mem_len = 0;
	f = open_memstream(&mem_buf, &mem_len);
	if (!f) {
		printf("Bail out! open_memstream: %s\n", strerror(errno));
		exit(1);
	}
	return f;
}

/* Show @len bytes readably in a diagnostic. */
static void diag_bytes(const char *what, const char *s, size_t len)
{
	char *q = log_quote(s, len);

	diag("%s: '%s'", what, q ? q : "(no memory)");
	free(q);
}

/* Close @f; did it receive exactly the @wlen bytes at @want (and did @r say 0)? */
static bool mem_end(FILE *f, int r, const char *want, size_t wlen)
{
	bool same;

	fclose(f);
	same = r == 0 && mem_len == wlen && memcmp(mem_buf, want, wlen) == 0;
	if (!same) {
		if (r != 0)
			diag("returned %d", r);
		diag_bytes("got ", mem_buf, mem_len);
		diag_bytes("want", want, wlen);
	}
	free(mem_buf);
	mem_buf = NULL;
	return same;
}

/* For string literals, which may hold NUL bytes. */
#define MEM_IS(f, r, lit) mem_end(f, r, lit, sizeof(lit) - 1)

/* ---- --printf --------------------------------------------------------------- */

static struct node sample_node(void)
{
	return (struct node){
		.id = 42,
		.dev = makedev(8, 1),
		.ino = 123456,
		.mode = S_IFREG | 0644,
		.nlink = 3,
		.uid = 1000,
		.gid = 100,
		.size = 4096,
		.mtime_sec = 1700000000,
		.mtime_nsec = 123456789,
		.ctime_sec = 1700000001,
		.ctime_nsec = 5,
	};
}

static bool printf_is(const char *format, const char *path, size_t name_off, const struct node *n,
		      const char *want, size_t wlen)
{
	struct output_format *fmt;
	char *err = NULL;
	FILE *f;
	int r;

	r = output_format_new(format, &fmt, &err);
	if (r < 0) {
		diag("output_format_new(\"%s\"): %d %s", format, r, err ? err : "");
		free(err);
		return false;
	}
	f = mem_begin();
	r = output_format_print(fmt, f, path, strlen(path), name_off, n);
	output_format_free(fmt);
	return mem_end(f, r, want, wlen);
}

#define PRINTF_IS(format, path, name_off, n, lit) \
	printf_is(format, path, name_off, n, lit, sizeof(lit) - 1)

static bool printf_rejects(const char *format, const char *want_msg)
{
	struct output_format *fmt = NULL;
	char *err = NULL;
	bool good;
	int r;

	r = output_format_new(format, &fmt, &err);
	good = r == -EINVAL && !fmt && err && strcmp(err, want_msg) == 0;
	if (!good)
		diag("\"%s\": r=%d message '%s', want '%s'", format, r, err ? err : "(none)",
		     want_msg);
	free(err);
	output_format_free(fmt);
	/* A NULL message pointer is allowed too. */
	if (output_format_new(format, &fmt, NULL) != -EINVAL)
		good = false;
	return good;
}

static void test_printf(void)
{
	struct node n = sample_node(), m;
	struct output_format *fmt;

	ok(PRINTF_IS("%y %m %U %G %i %n %D %s %T@ %C@ %p %f %h %%\\t|\\n", "/tmp/x", 5, &n,
		     "f 644 1000 100 123456 3 2049 4096 1700000000.1234567890 "
		     "1700000001.0000000050 /tmp/x x /tmp %\t|\n"),
	   "every directive on a regular file");
	ok(PRINTF_IS("a\\0b\\\\c%%d", "/x", 1, NULL, "a\0b\\c%d"), "escapes \\0 \\\\ and %%%%");
	ok(PRINTF_IS("", "/x", 1, NULL, ""), "an empty format prints nothing");
	ok(PRINTF_IS("%p", "/tmp/x", 5, NULL, "/tmp/x"), "no newline is added");

	/* find / /tmp /tmp/x -maxdepth 0 -printf '%h|%f\n' */
	ok(PRINTF_IS("%h|%f", "/", 1, NULL, "|/"), "%%h and %%f of / are \"\" and \"/\", as find");
	ok(PRINTF_IS("%h|%f", "/tmp", 1, NULL, "|tmp"), "%%h and %%f of /tmp are \"\" and \"tmp\"");
	ok(PRINTF_IS("%h|%f", "/tmp/x", 5, NULL, "/tmp|x"), "%%h and %%f of /tmp/x");
	ok(PRINTF_IS("%h|%f", "/a/b/c", 5, NULL, "/a/b|c"), "%%h and %%f of /a/b/c");

	/* touch -d @-1.5 f; find f -printf '%T@' prints -2.5000000000 (findutils 4.9). */
	m = n;
	m.mtime_sec = -2;
	m.mtime_nsec = 500000000;
	m.ctime_sec = -1;
	m.ctime_nsec = 750000000;
	ok(PRINTF_IS("%T@ %C@", "/x", 1, &m, "-2.5000000000 -1.7500000000"),
	   "%%T@ and %%C@ before the epoch print the stored fields, as find does");
	m.mtime_sec = -3;
	m.mtime_nsec = 0;
	ok(PRINTF_IS("%T@", "/x", 1, &m, "-3.0000000000"), "%%T@ of a whole negative second");
	m.mtime_sec = 10000000000; /* year 2286: past 64-bit nanoseconds */
	m.mtime_nsec = 1;
	ok(PRINTF_IS("%T@", "/x", 1, &m, "10000000000.0000000010"), "%%T@ after 2262");
	m.mtime_sec = 0;
	m.mtime_nsec = 0;
	ok(PRINTF_IS("%T@", "/x", 1, &m, "0.0000000000"), "%%T@ of the epoch");

	m = n;
	m.mode = S_IFREG;
	ok(PRINTF_IS("%m", "/x", 1, &m, "0"), "%%m of mode 000 is 0");
	m.mode = S_IFREG | 04755;
	ok(PRINTF_IS("%m", "/x", 1, &m, "4755"), "%%m keeps setuid");
	m.mode = S_IFDIR | 01777;
	ok(PRINTF_IS("%m %y", "/x", 1, &m, "1777 d"),
	   "%%m keeps the sticky bit; %%y of a directory");
	m.mode = S_IFLNK | 0777;
	ok(PRINTF_IS("%y", "/x", 1, &m, "l"), "%%y of a symlink");
	ok(PRINTF_IS("%y", "/x", 1, NULL, "?"), "%%y without metadata");

	ok(output_format_new("%p %f %h\\n", &fmt, NULL) == 0 && !output_format_needs_node(fmt),
	   "names alone need no metadata");
	output_format_free(fmt);
	ok(output_format_new("%p %s", &fmt, NULL) == 0 && output_format_needs_node(fmt),
	   "%%s needs metadata");
	output_format_free(fmt);

	ok(printf_rejects("%z", "invalid --printf format: unknown directive '%z'"),
	   "unknown directive %%z");
	ok(printf_rejects("x%zab", "invalid --printf format: unknown directive '%z'"),
	   "the message names the directive alone");
	ok(printf_rejects("abc%", "invalid --printf format: unknown directive '%'"),
	   "a lone %% at the end");
	ok(printf_rejects("%T", "invalid --printf format: unknown directive '%T'"), "%%T alone");
	ok(printf_rejects("%Tk", "invalid --printf format: unknown directive '%Tk'"),
	   "%%Tk (only %%T@ is known)");
	ok(printf_rejects("%C+", "invalid --printf format: unknown directive '%C+'"), "%%C+");
	ok(printf_rejects("\\q", "invalid --printf format: unknown escape '\\q'"),
	   "unknown escape \\q");
	ok(printf_rejects("abc\\", "invalid --printf format: unknown escape '\\'"),
	   "a trailing backslash");
}

/* ---- UTF-8 ------------------------------------------------------------------ */

static bool utf8_is(const char *s, size_t len, bool want)
{
	if (output_is_utf8(s, len) == want)
		return true;
	diag_bytes(want ? "rejected" : "accepted", s, len);
	return false;
}

#define UTF8(lit, want) utf8_is(lit, sizeof(lit) - 1, want)

static void test_utf8(void)
{
	ok(UTF8("", true) && UTF8("plain ASCII /a/b", true) && UTF8("a\0b", true) &&
		   UTF8("\x7f", true),
	   "ASCII, NUL and DEL are valid");
	ok(UTF8("\xc3\xa9", true) && UTF8("\xc2\x80", true) && UTF8("\xdf\xbf", true),
	   "2-byte sequences: U+00E9, U+0080, U+07FF");
	ok(UTF8("\xe2\x82\xac", true) && UTF8("\xe0\xa0\x80", true) && UTF8("\xed\x9f\xbf", true) &&
		   UTF8("\xee\x80\x80", true) && UTF8("\xef\xbf\xbf", true),
	   "3-byte sequences: U+20AC, U+0800, U+D7FF, U+E000, U+FFFF");
	ok(UTF8("\xf0\x9f\x98\x80", true) && UTF8("\xf0\x90\x80\x80", true) &&
		   UTF8("\xf4\x8f\xbf\xbf", true) && UTF8("\xf3\xbf\xbf\xbf", true),
	   "4-byte sequences: U+1F600, U+10000, U+10FFFF, U+FFFFF");
	ok(UTF8("/home/\xc3\xa9t\xc3\xa9/\xe2\x82\xac\xf0\x9f\x98\x80.txt", true),
	   "a path mixing all lengths");

	ok(UTF8("\xc0\x80", false) && UTF8("\xc1\xbf", false) && UTF8("\xe0\x80\x80", false) &&
		   UTF8("\xe0\x9f\xbf", false) && UTF8("\xf0\x80\x80\x80", false) &&
		   UTF8("\xf0\x8f\xbf\xbf", false),
	   "overlong forms are rejected (C0 80, C1 BF, E0 80 80, E0 9F BF, F0 80.., F0 8F..)");
	ok(UTF8("\xed\xa0\x80", false) && UTF8("\xed\xbf\xbf", false) &&
		   UTF8("\xed\xa0\xbd\xed\xb8\x80", false),
	   "surrogates are rejected (ED A0 80, ED BF BF, a CESU-8 pair)");
	ok(UTF8("\xf4\x90\x80\x80", false) && UTF8("\xf5\x80\x80\x80", false) &&
		   UTF8("\xf7\xbf\xbf\xbf", false),
	   "code points past U+10FFFF are rejected");
	ok(UTF8("\x80", false) && UTF8("\xbf", false) && UTF8("a\xbf", false) &&
		   UTF8("\xfe", false) && UTF8("\xff", false),
	   "stray continuation bytes and FE/FF are rejected");
	ok(UTF8("\xc3", false) && UTF8("\xe2\x82", false) && UTF8("\xf0\x9f\x98", false) &&
		   UTF8("a\xc3", false) && UTF8("\xe2\x82" "A", false) &&
		   UTF8("\xf0\x9f" "A\x80", false) && UTF8("\xc3\xc3\xa9", false),
	   "truncated sequences are rejected");
	ok(output_is_utf8("\xc3\xa9", 1) == false, "the length bounds the check");
}

/* ---- base64 ------------------------------------------------------------------ */

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

/* The test's own decoder (strict: padded, whole quads).  Returns the length or -1. */
static long b64_decode(const char *s, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		bool last = i + 4 == len;

		for (int k = 0; k < 4; k++) {
			v[k] = b64val(s[i + k]);
			if (v[k] < 0 && !(last && k >= 2 && s[i + k] == '='))
				return -1;
		}
		if (v[2] < 0 && v[3] >= 0)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (v[2] >= 0)
			out[o++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
		if (v[3] >= 0)
			out[o++] = (unsigned char)(v[2] << 6 | v[3]);
	}
	return (long)o;
}

/* Encode @len bytes with coreutils' base64 into @out (NUL-terminated). */
static bool coreutils_base64(const void *buf, size_t len, char *out, size_t outsz)
{
	char tmpl[] = "/tmp/test-output-XXXXXX", cmd[128];
	FILE *p;
	bool good;
	int fd;

	fd = mkstemp(tmpl);
	if (fd < 0)
		return false;
	good = write(fd, buf, len) == (ssize_t)len;
	close(fd);
	snprintf(cmd, sizeof(cmd), "base64 -w0 < %s 2>/dev/null", tmpl);
	p = good ? popen(cmd, "r") : NULL;
	if (p) {
		size_t n = fread(out, 1, outsz - 1, p);

		out[n] = '\0';
		good = pclose(p) == 0;
	} else {
		good = false;
	}
	unlink(tmpl);
	return good;
}

static void test_base64(void)
{
	static const char *const rfc[][2] = {
		{ "", "" },	    { "f", "Zg==" },	     { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	unsigned char all[256], back[256];
	char enc[400], oracle[400];
	bool good = true;
	FILE *f;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(rfc); i++) {
		size_t n = output_base64_encode(enc, rfc[i][0], strlen(rfc[i][0]));

		if (n != strlen(rfc[i][1]) || strcmp(enc, rfc[i][1]) != 0 ||
		    output_base64_len(strlen(rfc[i][0])) != n) {
			diag("base64(\"%s\") = \"%s\", want \"%s\"", rfc[i][0], enc, rfc[i][1]);
			good = false;
		}
	}
	ok(good, "RFC 4648 section 10 test vectors");

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(255 - i);
	good = true;
	for (size_t len = 0; len <= sizeof(all); len += len < 8 ? 1 : 31) {
		long m;

		output_base64_encode(enc, all, len);
		m = b64_decode(enc, strlen(enc), back);
		if (m != (long)len || memcmp(back, all, len) != 0) {
			diag("length %zu does not round-trip", len);
			good = false;
		}
	}
	ok(good, "every byte value round-trips, lengths 0..8 and up to 256");

	if (coreutils_base64(all, sizeof(all), oracle, sizeof(oracle))) {
		output_base64_encode(enc, all, sizeof(all));
		ok(strcmp(enc, oracle) == 0, "equals coreutils base64 on all 256 byte values");
		if (coreutils_base64("\xff\xfe", 2, oracle, sizeof(oracle))) {
			output_base64_encode(enc, "\xff\xfe", 2);
			ok(strcmp(enc, oracle) == 0 && strcmp(enc, "//4=") == 0,
			   "the alphabet's last digits are + and / (\"//4=\")");
		} else {
			skip("base64 failed");
		}
	} else {
		skip("no coreutils base64");
		skip("no coreutils base64");
	}

	/* The stream form crosses its 48-byte chunks without padding inside. */
	output_base64_encode(enc, all, 100);
	f = mem_begin();
	r = output_json_base64(f, all, 100);
	fclose(f);
	ok(r == 0 && mem_len == strlen(enc) + 2 && mem_buf[0] == '"' &&
		   memcmp(mem_buf + 1, enc, strlen(enc)) == 0 && mem_buf[mem_len - 1] == '"',
	   "output_json_base64 of 100 bytes is the quoted encoding");
	free(mem_buf);
}

/* ---- JSON strings ------------------------------------------------------------ */

static bool json_string_is(const char *s, size_t len, const char *want, size_t wlen)
{
	FILE *f = mem_begin();

	return mem_end(f, output_json_string(f, s, len), want, wlen);
}

#define JSON_STR(lit, want) json_string_is(lit, sizeof(lit) - 1, want, sizeof(want) - 1)

static void test_json_string(void)
{
	bool good = true;

	for (int c = 0; c < 0x20; c++) {
		static const char *const named[0x20] = {
			['\b'] = "\\b", ['\t'] = "\\t", ['\n'] = "\\n",
			['\f'] = "\\f", ['\r'] = "\\r",
		};
		char in[3] = { 'a', (char)c, 'b' }, want[16];

		if (named[c])
			snprintf(want, sizeof(want), "\"a%sb\"", named[c]);
		else
			snprintf(want, sizeof(want), "\"a\\u%04xb\"", (unsigned)c);
		if (!json_string_is(in, 3, want, strlen(want))) {
			diag("control byte 0x%02x", (unsigned)c);
			good = false;
		}
	}
	ok(good, "all 32 control bytes: \\b \\t \\n \\f \\r, else \\u00xx");
	ok(JSON_STR("\x01\x1f", "\"\\u0001\\u001f\""), "\\u0001 and \\u001f spelled out");
	ok(JSON_STR("say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\""), "quotes and backslashes");
	ok(JSON_STR("del\x7f/slash", "\"del\x7f/slash\""), "DEL and / stay raw");
	ok(JSON_STR("", "\"\""), "the empty string");
	ok(JSON_STR("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
		    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""),
	   "valid UTF-8 is kept");
	ok(JSON_STR("a\xff" "b", "\"a\xef\xbf\xbd" "b\""), "an invalid byte becomes U+FFFD");
	ok(JSON_STR("\xe2\x82" "x", "\"\xef\xbf\xbd\xef\xbf\xbdx\""),
	   "each byte of a truncated sequence becomes U+FFFD");
	ok(JSON_STR("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
	   "a surrogate's three bytes become three U+FFFD");
	ok(JSON_STR("\xc0\x80\n", "\"\xef\xbf\xbd\xef\xbf\xbd\\n\""),
	   "overlong NUL, then an escape");
	ok(JSON_STR("\xc3", "\"\xef\xbf\xbd\""), "a sequence cut by the end of the string");
	ok(JSON_STR("x\xf4\x90\x80\x80\xf4\x8f\xbf\xbf",
		    "\"x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xf4\x8f\xbf\xbf\""),
	   "past U+10FFFF replaced, U+10FFFF kept");
	ok(JSON_STR("a\0b", "\"a\\u0000b\""), "a NUL byte is \\u0000");
}

/* ---- find --json ----------------------------------------------------------- */

static bool entry_is(const char *path, size_t len, const struct node *n, const char *want,
		     size_t wlen)
{
	FILE *f = mem_begin();

	return mem_end(f, output_json_entry(f, path, len, n), want, wlen);
}

#define ENTRY_IS(path, n, lit) entry_is(path, strlen(path), n, lit, sizeof(lit) - 1)

static bool mtime_is(int64_t sec, uint32_t nsec, const char *want)
{
	struct node n = sample_node();
	char line[256];

	n.mtime_sec = sec;
	n.mtime_nsec = nsec;
	snprintf(line, sizeof(line),
		 "{\"path\":\"/x\",\"type\":\"f\",\"size\":4096,\"mtime\":%s}\n", want);
	return entry_is("/x", 2, &n, line, strlen(line));
}

static void test_json_entry(void)
{
	struct node n = sample_node();

	ok(ENTRY_IS("/tmp/x", &n,
		    "{\"path\":\"/tmp/x\",\"type\":\"f\",\"size\":4096,"
		    "\"mtime\":1700000000.123456789}\n"),
	   "a regular file without a hash");
	n.hash_state = NODE_HASH_PARTIAL;
	memset(n.head, 0xaa, sizeof(n.head));
	ok(ENTRY_IS("/tmp/x", &n,
		    "{\"path\":\"/tmp/x\",\"type\":\"f\",\"size\":4096,"
		    "\"mtime\":1700000000.123456789}\n"),
	   "partial hashes are not printed");
	n.hash_state = NODE_HASH_FULL;
	for (int i = 0; i < 16; i++)
		n.full[i] = (uint8_t)(i * 0x11);
	ok(ENTRY_IS("/tmp/x", &n,
		    "{\"path\":\"/tmp/x\",\"type\":\"f\",\"size\":4096,"
		    "\"mtime\":1700000000.123456789,"
		    "\"hash\":\"00112233445566778899aabbccddeeff\"}\n"),
	   "a full hash, in stored byte order");

	n = sample_node();
	n.mode = S_IFDIR | 0755;
	ok(ENTRY_IS("/", &n, "{\"path\":\"/\",\"type\":\"d\",\"size\":4096,"
			     "\"mtime\":1700000000.123456789}\n"),
	   "the root directory");
	n = sample_node();
	ok(ENTRY_IS("/a\n\"b\"\\\t\x01", &n,
		    "{\"path\":\"/a\\n\\\"b\\\"\\\\\\t\\u0001\",\"type\":\"f\",\"size\":4096,"
		    "\"mtime\":1700000000.123456789}\n"),
	   "control characters, quotes and backslashes in a path");
	ok(ENTRY_IS("/caf\xc3\xa9", &n,
		    "{\"path\":\"/caf\xc3\xa9\",\"type\":\"f\",\"size\":4096,"
		    "\"mtime\":1700000000.123456789}\n"),
	   "a valid UTF-8 path has no path_b64");
	ok(ENTRY_IS("/caf\xe9", &n,
		    "{\"path\":\"/caf\xef\xbf\xbd\",\"path_b64\":\"L2NhZuk=\",\"type\":\"f\","
		    "\"size\":4096,\"mtime\":1700000000.123456789}\n"),
	   "a Latin-1 path: U+FFFD in path, exact bytes in path_b64");

	ok(mtime_is(-2, 500000000, "-1.500000000"), "mtime -1.5 s (stored -2 s + 0.5 s)");
	ok(mtime_is(-1, 750000000, "-0.250000000"), "mtime -0.25 s keeps its minus sign");
	ok(mtime_is(-1, 1, "-0.999999999"), "mtime just after -1 s");
	ok(mtime_is(-3, 0, "-3.000000000"), "mtime -3 s");
	ok(mtime_is(0, 0, "0.000000000"), "mtime at the epoch");
	ok(mtime_is(0, 1, "0.000000001"), "mtime one nanosecond after the epoch");
	ok(mtime_is(10000000000, 1, "10000000000.000000001"), "mtime in 2286 (past 2262)");
	ok(mtime_is(INT64_MAX, 999999999, "9223372036854775807.999999999"), "mtime INT64_MAX");
	ok(mtime_is(INT64_MIN, 0, "-9223372036854775808.000000000"), "mtime INT64_MIN");
	ok(mtime_is(INT64_MIN, 1, "-9223372036854775807.999999999"), "mtime INT64_MIN + 1 ns");
}

/* ---- dups ---------------------------------------------------------------------- */

/*
 * Two groups: 3 files of 100 bytes (the first with two names), and 2 files
 * of 7 bytes, one with a name that is not UTF-8 and one with a newline.
 */
static struct dups_name names_a1[] = { { "/r/a", 4, 0 }, { "/r/sub/a-link", 13, 0 } };
static struct dups_name names_a2[] = { { "/r/b", 4, 0 } };
static struct dups_name names_a3[] = { { "/s/c", 4, 1 } };
static struct dups_name names_b1[] = { { "/r/caf\xe9", 7, 0 }, { "/r/ok", 5, 0 } };
static struct dups_name names_b2[] = { { "/r/new\nline", 11, 0 } };

static struct dups_file files_a[] = {
	{ .size = 100, .names = names_a1, .nnames = 2 },
	{ .size = 100, .names = names_a2, .nnames = 1 },
	{ .size = 100, .names = names_a3, .nnames = 1 },
};
static struct dups_file files_b[] = {
	{ .size = 7, .names = names_b1, .nnames = 2 },
	{ .size = 7, .names = names_b2, .nnames = 1 },
};

static struct dups_group group_a = { .size = 100, .files = files_a, .nfiles = 3 };
static struct dups_group group_b = { .size = 7, .files = files_b, .nfiles = 2 };

static bool groups_are(enum output_mode mode, bool all_names, const char *want, size_t wlen)
{
	FILE *f = mem_begin();
	int r;

	r = output_dups_group(f, mode, &group_a, all_names, true);
	if (r == 0)
		r = output_dups_group(f, mode, &group_b, all_names, false);
	return mem_end(f, r, want, wlen);
}

#define GROUPS_ARE(mode, all, lit) groups_are(mode, all, lit, sizeof(lit) - 1)

static void test_dups(void)
{
	FILE *f;

	for (int i = 0; i < 16; i++) {
		group_a.hash.b[i] = (uint8_t)(0xf0 + i);
		group_b.hash.b[i] = (uint8_t)i;
	}

	ok(GROUPS_ARE(OUTPUT_PLAIN, false, "/r/a\n/r/b\n/s/c\n"
					   "\n"
					   "/r/caf\xe9\n/r/new\nline\n"),
	   "plain: first names, one blank line between groups, none before or after");
	ok(GROUPS_ARE(OUTPUT_PLAIN, true, "/r/a\n/r/sub/a-link\n/r/b\n/s/c\n"
					  "\n"
					  "/r/caf\xe9\n/r/ok\n/r/new\nline\n"),
	   "plain --all-names: every name, consecutively");
	ok(GROUPS_ARE(OUTPUT_NUL, false, "/r/a\0/r/b\0/s/c\0\0/r/caf\xe9\0/r/new\nline\0\0"),
	   "-0: NUL after each path and after each group");
	ok(GROUPS_ARE(OUTPUT_NUL, true,
		      "/r/a\0/r/sub/a-link\0/r/b\0/s/c\0\0/r/caf\xe9\0/r/ok\0/r/new\nline\0\0"),
	   "-0 --all-names");
	ok(GROUPS_ARE(OUTPUT_JSON, false,
		      "{\"size\":100,\"hash\":\"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\","
		      "\"paths\":[\"/r/a\",\"/r/b\",\"/s/c\"]}\n"
		      "{\"size\":7,\"hash\":\"000102030405060708090a0b0c0d0e0f\","
		      "\"paths\":[\"/r/caf\xef\xbf\xbd\",\"/r/new\\nline\"],"
		      "\"paths_b64\":[\"L3IvY2Fm6Q==\",null]}\n"),
	   "--json: paths_b64 only for the group with a non-UTF-8 name");
	ok(GROUPS_ARE(OUTPUT_JSON, true,
		      "{\"size\":100,\"hash\":\"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\","
		      "\"paths\":[\"/r/a\",\"/r/sub/a-link\",\"/r/b\",\"/s/c\"]}\n"
		      "{\"size\":7,\"hash\":\"000102030405060708090a0b0c0d0e0f\","
		      "\"paths\":[\"/r/caf\xef\xbf\xbd\",\"/r/ok\",\"/r/new\\nline\"],"
		      "\"paths_b64\":[\"L3IvY2Fm6Q==\",null,null]}\n"),
	   "--json --all-names: paths_b64 as long as paths");

	f = mem_begin();
	ok(mem_end(f, output_dups_group(f, OUTPUT_PLAIN, &group_b, false, false),
		   "\n/r/caf\xe9\n/r/new\nline\n", 21),
	   "plain: a later group starts with the blank line");

	f = mem_begin();
	ok(MEM_IS(f, output_dups_summary(f, OUTPUT_PLAIN, 2, 3, 207),
		  "2 groups, 3 duplicate files, 207 bytes reclaimable\n"),
	   "summary line");
	f = mem_begin();
	ok(MEM_IS(f, output_dups_summary(f, OUTPUT_NUL, 0, 0, 0),
		  "0 groups, 0 duplicate files, 0 bytes reclaimable\n"),
	   "summary line in -0 mode is the same text");
	f = mem_begin();
	ok(MEM_IS(f, output_dups_summary(f, OUTPUT_JSON, 2, 3, UINT64_MAX),
		  "{\"summary\":{\"groups\":2,\"files\":3,"
		  "\"reclaimable\":18446744073709551615}}\n"),
	   "summary object");
}

/* ---- an outside parser ---------------------------------------------------------- */

/* Run @cmd on a file holding @len bytes at @in; does it print exactly @want? */
static bool pipe_through(const char *cmd, const char *in, size_t len, const char *want,
			 size_t wlen)
{
	char tmpl[] = "/tmp/test-output-XXXXXX", full[512], got[1024];
	size_t n = 0;
	bool good;
	FILE *p;
	int fd;

	fd = mkstemp(tmpl);
	if (fd < 0)
		return false;
	good = write(fd, in, len) == (ssize_t)len;
	close(fd);
	snprintf(full, sizeof(full), "(%s) < %s", cmd, tmpl);
	p = good ? popen(full, "r") : NULL;
	if (p) {
		n = fread(got, 1, sizeof(got), p);
		good = pclose(p) == 0 && n == wlen && memcmp(got, want, wlen) == 0;
		if (!good) {
			diag("%s", cmd);
			diag_bytes("got ", got, n);
			diag_bytes("want", want, wlen);
		}
	} else {
		good = false;
	}
	unlink(tmpl);
	return good;
}

static void test_jq(void)
{
	/* Controls, quote, backslash, FF FE, overlong, surrogate, > U+10FFFF, cut, U+1F600. */
	static const char odd[] = "/d/\x01\x1f\x7f\"\\\n\t\xff\xfe\xc0\x80\xed\xa0\x80"
				  "\xf4\x90\x80\x80\xe2\x82\xf0\x9f\x98\x80=";
	static const char jq_dups[] = "[[\"L3IvY2Fm6Q==\",null,null],null]\n"
				      "[null,{\"groups\":1,\"files\":2,\"reclaimable\":14}]\n";
	struct node n = sample_node();
	FILE *f;

	if (system("jq --version > /dev/null 2>&1") != 0 ||
	    system("base64 --version > /dev/null 2>&1") != 0) {
		skip("jq or base64 not installed");
		skip("jq or base64 not installed");
		skip("jq or base64 not installed");
		return;
	}
	n.hash_state = NODE_HASH_FULL;
	f = mem_begin();
	output_json_entry(f, odd, sizeof(odd) - 1, &n);
	fclose(f);
	ok(pipe_through("jq -j .path_b64 | base64 -d", mem_buf, mem_len, odd, sizeof(odd) - 1),
	   "jq parses a find --json line and path_b64 decodes to the exact bytes");
	ok(pipe_through("jq -j '.path|length'", mem_buf, mem_len, "25", 2),
	   "jq sees one character per replaced byte");
	free(mem_buf);

	f = mem_begin();
	output_dups_group(f, OUTPUT_JSON, &group_b, true, true);
	output_dups_summary(f, OUTPUT_JSON, 1, 2, 14);
	fclose(f);
	ok(pipe_through("jq -c '[.paths_b64, .summary]'", mem_buf, mem_len, jq_dups,
			sizeof(jq_dups) - 1),
	   "jq parses the dups lines");
	free(mem_buf);
}

/* ---- stdio errors --------------------------------------------------------------- */

static void test_errors(void)
{
	struct node n = sample_node();
	int fds[2], r;
	FILE *f;

	f = fopen("/dev/full", "w");
	if (f) {
		setvbuf(f, NULL, _IONBF, 0);
		r = output_json_entry(f, "/x", 2, &n);
		ok(r == -ENOSPC, "a full device gives -ENOSPC (got %d)", r);
		clearerr(f);
		r = output_dups_summary(f, OUTPUT_PLAIN, 1, 1, 1);
		ok(r == -ENOSPC, "the summary too (got %d)", r);
		fclose(f);
	} else {
		skip("no /dev/full");
		skip("no /dev/full");
	}

	signal(SIGPIPE, SIG_IGN);
	if (pipe(fds) == 0) {
		close(fds[0]);
		f = fdopen(fds[1], "w");
		setvbuf(f, NULL, _IONBF, 0);
		r = output_dups_group(f, OUTPUT_NUL, &group_a, false, true);
		ok(r == -EPIPE, "a closed pipe gives -EPIPE (got %d)", r);
		fclose(f);
	} else {
		skip("pipe failed");
	}
}

int main(void)
{
	plan_lazy();
	test_printf();
	test_utf8();
	test_base64();
	test_json_string();
	test_json_entry();
	test_dups();
	test_jq();
	test_errors();
	return done_testing();
}
