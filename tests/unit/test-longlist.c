/* SPDX-License-Identifier: MIT */
/*
 * test-longlist.c - find -l: the mode column as ls(1) writes it for every
 * type and special bit, and the whole line (unknown ids as numbers, UTC
 * time, odd path bytes kept, the terminator).
 */
#include "longlist.h"

#include "node.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static bool mode_is(uint32_t mode, const char *want)
{
	char buf[11];

	longlist_mode_string(mode, buf);
	if (strcmp(buf, want))
		diag("mode 0%o: '%s', want '%s'", mode, buf, want);
	return !strcmp(buf, want);
}

int main(void)
{
	struct node n = { .mode = S_IFREG | 0640, .nlink = 2, .uid = 4000000001u,
			  .gid = 4000000002u, .size = 12345, .mtime_sec = 1000000000 };
	struct longlist *ll;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	plan_lazy();
	ok(mode_is(S_IFREG | 0644, "-rw-r--r--"), "a regular file");
	ok(mode_is(S_IFDIR | 0755, "drwxr-xr-x"), "a directory");
	ok(mode_is(S_IFLNK | 0777, "lrwxrwxrwx"), "a symlink");
	ok(mode_is(S_IFIFO | 0600, "prw-------") && mode_is(S_IFSOCK | 0755, "srwxr-xr-x") &&
	   mode_is(S_IFCHR | 0620, "crw--w----") && mode_is(S_IFBLK | 0660, "brw-rw----"),
	   "FIFO, socket, devices");
	ok(mode_is(S_IFREG | 04755, "-rwsr-xr-x") && mode_is(S_IFREG | 04644, "-rwSr--r--"),
	   "setuid with and without x");
	ok(mode_is(S_IFREG | 02755, "-rwxr-sr-x") && mode_is(S_IFREG | 02745, "-rwxr-Sr-x"),
	   "setgid with and without x");
	ok(mode_is(S_IFDIR | 01777, "drwxrwxrwt") && mode_is(S_IFDIR | 01776, "drwxrwxrwT"),
	   "sticky with and without x");
	ok(mode_is(0644, "?rw-r--r--"), "no type: '?'");

	setenv("TZ", "UTC0", 1);
	tzset();
	f = open_memstream(&buf, &len);
	if (!ok(f && longlist_new(&ll) == 0, "a printer")) {
		return done_testing();
	}
	ok(longlist_print(ll, f, "/a\nb\xff", 5, &n, '\0') == 0, "prints");
	ok(longlist_print(ll, f, "/c", 2, &n, '\n') == 0, "prints again (from the caches)");
	fclose(f);
	/* 58 bytes before the path; a path of 5 and its NUL, then one of 2 and a newline. */
	ok(len == 64 + 61 && !memcmp(buf, "-rw-r----- 2 4000000001 4000000002 12345 "
				     "2001-09-09 01:46 /a\nb\xff", 64) &&
	   !strcmp(buf + 64, "-rw-r----- 2 4000000001 4000000002 12345 2001-09-09 01:46 /c\n"),
	   "fields, ids without names as numbers, bytes of the path and the terminators");
	free(buf);
	longlist_free(ll);
	return done_testing();
}
