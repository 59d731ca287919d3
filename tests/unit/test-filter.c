/* SPDX-License-Identifier: MIT */
/*
 * test-filter.c - the parsers of find's filter arguments (sizes, dates,
 * owners, file times) and the node predicate: exact values, every boundary
 * of +N/-N/N, strict rejection of what is malformed, dates checked against
 * timegm(3) in UTC and in a zone with an offset, and the result of
 * filter_match() on nodes just inside and outside each filter.
 */
#include "filter.h"

#include "find.h"
#include "node.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool size_is(const char *s, int cmp, uint64_t bytes)
{
	struct filter_size fs = { 7, 7 };
	const char *why = NULL;

	return filter_parse_size(s, &fs, &why) == 0 && fs.cmp == cmp && fs.bytes == bytes;
}

static bool size_bad(const char *s)
{
	struct filter_size fs = { 7, 7 };
	const char *why = NULL;

	return filter_parse_size(s, &fs, &why) == -EINVAL && why && *why && fs.cmp == 7;
}

static void test_size(void)
{
	ok(size_is("0", 0, 0), "size 0");
	ok(size_is("4096", 0, 4096), "size 4096: bytes, exactly");
	ok(size_is("+10", 1, 10), "+10: more than 10");
	ok(size_is("-10", -1, 10), "-10: less than 10");
	ok(size_is("1k", 0, 1024) && size_is("1K", 0, 1024), "1k and 1K are 1024");
	ok(size_is("+3M", 1, 3u << 20), "+3M");
	ok(size_is("2G", 0, 2ull << 30), "2G");
	ok(size_is("-5T", -1, 5ull << 40), "-5T");
	ok(size_is("18446744073709551615", 0, UINT64_MAX), "UINT64_MAX bytes");
	ok(size_is("16777215T", 0, 16777215ull << 40), "the largest T that fits");
	ok(size_bad("16777216T"), "16777216T overflows");
	ok(size_bad("18446744073709551616"), "UINT64_MAX + 1 overflows");
	ok(size_bad("") && size_bad("+") && size_bad("-") && size_bad("k"), "no digits");
	ok(size_bad("1x") && size_bad("1kk") && size_bad("1 k") && size_bad(" 1"),
	   "unknown or trailing suffix, spaces");
	ok(size_bad("1c") && size_bad("1b") && size_bad("1m"), "find's c and b, lower-case m");
	ok(size_bad("++1") && size_bad("+-1") && size_bad("0x10") && size_bad("1.5k"),
	   "double sign, hex, fractions");
}

static bool date_is(const char *s, int64_t sec, uint32_t nsec)
{
	struct filter_time t = { 1, 1 };
	const char *why = NULL;
	int r = filter_parse_date(s, &t, &why);

	if (r != 0 || t.sec != sec || t.nsec != nsec)
		diag("'%s': r=%d sec=%lld nsec=%u (want %lld %u)", s, r, (long long)t.sec, t.nsec,
		     (long long)sec, nsec);
	return r == 0 && t.sec == sec && t.nsec == nsec;
}

static bool date_bad(const char *s)
{
	struct filter_time t = { 1, 1 };
	const char *why = NULL;

	return filter_parse_date(s, &t, &why) == -EINVAL && why && *why && t.sec == 1;
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm);
}

static void test_date(void)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	ok(date_is("2024-02-29", utc(2024, 2, 29, 0, 0, 0), 0), "a leap day, midnight");
	ok(date_is("2001-02-03 04:05", utc(2001, 2, 3, 4, 5, 0), 0), "with HH:MM");
	ok(date_is("2001-02-03T04:05:06", utc(2001, 2, 3, 4, 5, 6), 0), "T and :SS");
	ok(date_is("2001-02-03 04:05:06.123456789", utc(2001, 2, 3, 4, 5, 6), 123456789),
	   "nine decimals");
	ok(date_is("2001-02-03 04:05:06.5", utc(2001, 2, 3, 4, 5, 6), 500000000), "one decimal");
	ok(date_is("1969-12-31 23:59:59", -1, 0), "before the epoch");
	ok(date_is("@0", 0, 0) && date_is("@1700000000", 1700000000, 0) && date_is("@-86400", -86400, 0),
	   "@SECONDS, also negative");
	ok(date_bad("2001-02-03 04:05:06.1234567891"), "ten decimals");
	ok(date_bad("2023-02-29") && date_bad("2001-13-01") && date_bad("2001-00-10") &&
	   date_bad("2001-04-31") && date_bad("1900-02-29"), "no such day");
	ok(date_bad("2001-02-03 24:00") && date_bad("2001-02-03 12:60") &&
	   date_bad("2001-02-03 12:00:60"), "no such time");
	ok(date_bad("2001-2-3") && date_bad("01-02-03") && date_bad("2001/02/03") &&
	   date_bad("2001-02-03 4:05") && date_bad("2001-02-03 04") && date_bad("2001-02-03 "),
	   "not the format");
	ok(date_bad("2001-02-03x") && date_bad("2001-02-03 04:05x") && date_bad("2001-02-03 04:05:06."),
	   "trailing bytes");
	ok(date_bad("@") && date_bad("@1.5") && date_bad("@1e3") && date_bad("@+1") &&
	   date_bad("@9223372036854775808"), "bad @SECONDS");

	/* Local time, unless Z: UTC+2 all year (POSIX TZ: the sign is west of Greenwich). */
	setenv("TZ", "XST-2", 1);
	tzset();
	ok(date_is("2001-02-03 04:05", utc(2001, 2, 3, 2, 5, 0), 0), "local time two hours east");
	ok(date_is("2001-02-03 04:05Z", utc(2001, 2, 3, 4, 5, 0), 0), "Z: UTC");
	ok(date_is("2001-02-03Z", utc(2001, 2, 3, 0, 0, 0), 0), "a date alone with Z");
	setenv("TZ", "UTC0", 1);
	tzset();
}

static void test_when(void)
{
	char path[] = "/tmp/test-filter-XXXXXX";
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1234567890, 987654321 } };
	struct filter_time t = { 0, 0 };
	const char *why = NULL;
	int fd = mkstemp(path), r;

	if (!ok(fd >= 0 && futimens(fd, ts) == 0, "a file with a chosen mtime")) {
		if (fd >= 0)
			unlink(path);
		return;
	}
	close(fd);
	r = filter_parse_when(path, &t, &why);
	ok(r == 0 && t.sec == 1234567890 && t.nsec == 987654321, "a path: its mtime, nanoseconds too");
	ok(filter_parse_when("@5", &t, &why) == 0 && t.sec == 5, "@5 is a date");
	ok(filter_parse_when("2020-13-01", &t, &why) == -EINVAL, "a bad date is a bad date, not a file");
	unlink(path);
	r = filter_parse_when(path, &t, &why);
	ok(r == -ENOENT && why && strstr(why, "stat"), "a missing file: -ENOENT, 'cannot stat'");
}

static void test_owner(void)
{
	const char *why = NULL;
	uint32_t id = 7;

	ok(filter_parse_owner("root", false, &id, &why) == 0 && id == 0, "user root is 0");
	ok(filter_parse_owner("0", true, &id, &why) == 0 && id == 0, "group 0 by number");
	ok(filter_parse_owner("4294967294", false, &id, &why) == 0 && id == 4294967294u,
	   "the largest uid");
	id = 7;
	ok(filter_parse_owner("4294967295", false, &id, &why) == -EINVAL && id == 7,
	   "(uid_t)-1 is no uid");
	ok(filter_parse_owner("no-such-user-fsindex", false, &id, &why) == -EINVAL &&
	   strstr(why, "user"), "an unknown user name");
	ok(filter_parse_owner("no-such-group-fsindex", true, &id, &why) == -EINVAL &&
	   strstr(why, "group"), "an unknown group name");
	ok(filter_parse_owner("", false, &id, &why) == -EINVAL &&
	   filter_parse_owner("12a", false, &id, &why) == -EINVAL &&
	   filter_parse_owner("-1", true, &id, &why) == -EINVAL, "empty, trailing bytes, negative");
}

static int match(const struct filter *f, char type, const struct node *n)
{
	struct find_entry e = { .path = "/x", .len = 2, .name_off = 1, .id = n->id, .type = type };

	return filter_match(f, &e, n);
}

static void test_match(void)
{
	struct node n = { .id = 9, .mode = S_IFREG | 0644, .uid = 1000, .gid = 100, .size = 100,
			  .mtime_sec = 1000, .mtime_nsec = 500 };
	struct filter f = { .what = FILTER_SIZE, .size = { 1, 99 } };

	ok(!filter_needs_node(&(struct filter){ .what = FILTER_EXISTS }) && filter_needs_node(&f),
	   "--exists alone needs no node; --size does");
	ok(match(&f, 'f', &n) == 1, "100 > 99");
	f.size.bytes = 100;
	ok(match(&f, 'f', &n) == 0, "100 is not > 100 (no rounding)");
	f.size.cmp = 0;
	ok(match(&f, 'f', &n) == 1, "100 == 100");
	f.size.cmp = -1;
	ok(match(&f, 'f', &n) == 0, "100 is not < 100");
	f.size.bytes = 101;
	ok(match(&f, 'f', &n) == 1, "100 < 101");

	f = (struct filter){ .what = FILTER_NEWER, .newer = { 1000, 499 } };
	ok(match(&f, 'f', &n) == 1, "newer by one nanosecond");
	f.newer.nsec = 500;
	ok(match(&f, 'f', &n) == 0, "the same instant is not newer");
	f = (struct filter){ .what = FILTER_OLDER, .older = { 1000, 501 } };
	ok(match(&f, 'f', &n) == 1, "older by one nanosecond");
	f.older.nsec = 500;
	ok(match(&f, 'f', &n) == 0, "the same instant is not older");
	f = (struct filter){ .what = FILTER_NEWER | FILTER_OLDER, .newer = { 999, 0 },
			     .older = { 1001, 0 } };
	ok(match(&f, 'f', &n) == 1, "inside a window: both hold");
	f.older.sec = 1000;
	ok(match(&f, 'f', &n) == 0, "... and not when one fails");

	f = (struct filter){ .what = FILTER_USER | FILTER_GROUP, .uid = 1000, .gid = 100 };
	ok(match(&f, 'f', &n) == 1, "user and group");
	f.gid = 101;
	ok(match(&f, 'f', &n) == 0, "user, wrong group");
	f = (struct filter){ .what = FILTER_USER, .uid = 0 };
	ok(match(&f, 'f', &n) == 0, "wrong user");

	f = (struct filter){ .what = FILTER_EMPTY };
	ok(match(&f, 'f', &n) == 0, "--empty: a file of 100 bytes is not");
	n.size = 0;
	ok(match(&f, 'f', &n) == 1, "--empty: a file of 0 bytes is");
	ok(match(&f, 'l', &n) == 0 && match(&f, 'p', &n) == 0, "--empty: never a symlink or FIFO");
	f = (struct filter){ .what = FILTER_DUP };
	ok(match(&f, 'f', &n) == 0, "--dup: a file without a full hash is none");
	ok(match(&f, 'd', &n) == 0, "--dup: a directory is none");

	f = (struct filter){ .what = FILTER_EXISTS };
	{
		struct find_entry e = { .path = "/", .len = 1, .name_off = 1, .type = 'd' };
		struct find_entry g = { .path = "/no/such/fsindex/path", .len = 21, .type = 'f' };

		ok(filter_match(&f, &e, NULL) == 1 && filter_match(&f, &g, NULL) == 0,
		   "--exists: / exists, a made-up path does not");
	}
}

int main(void)
{
	plan_lazy();
	test_size();
	test_date();
	test_when();
	test_owner();
	test_match();
	return done_testing();
}
