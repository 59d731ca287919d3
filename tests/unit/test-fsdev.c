/* SPDX-License-Identifier: MIT */
/*
 * test-fsdev.c - the filesystem table (fsdev.h): records under a device
 * number the table gives to a filesystem are that filesystem's wherever it
 * is now, and no other's, even on the same number; numbers the table does
 * not know match only themselves (an index from before the table).  The
 * identity of a directory is that of its filesystem: equal for two
 * directories of one, its f_type the one stat -f prints (the oracle).
 */
#include "fsdev.h"

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct fsdev_id id_of(unsigned char c)
{
	struct fsdev_id id;

	memset(id.b, c, sizeof(id.b));
	return id;
}

static void test_table(void)
{
	struct fsdev_table t = {0};
	struct fsdev_id a = id_of('a'), b = id_of('b');

	ok(fsdev_same(&t, 7, 7, &a), "empty table: the same number matches");
	ok(!fsdev_same(&t, 7, 8, &a), "empty table: another number does not");

	ok(fsdev_table_set(&t, &a, 5) == 0 && t.n == 1, "A -> 5 recorded");
	ok(fsdev_same(&t, 5, 9, &a), "records of 5 are A's, A now at 9");
	ok(!fsdev_same(&t, 5, 9, &b), "...not B's at 9");
	ok(!fsdev_same(&t, 5, 5, &b), "...not B's on A's old number");
	ok(!fsdev_same(&t, 5, 5, NULL), "...not those of a filesystem without identity");
	ok(fsdev_same(&t, 7, 7, NULL), "a number the table does not know matches itself");
	ok(fsdev_same(&t, 7, 7, &b), "...whatever the filesystem");
	ok(!fsdev_same(&t, 7, 9, &a), "...and nothing else");

	ok(fsdev_table_set(&t, &a, 9) == 0 && t.n == 1, "A -> 9 replaces A -> 5");
	ok(fsdev_same(&t, 9, 9, &a) && !fsdev_same(&t, 9, 9, &b), "9 is A's now");
	ok(fsdev_same(&t, 5, 5, &b), "5 is nobody's: matches itself");
	ok(fsdev_table_set(&t, &b, 5) == 0 && t.n == 2, "B -> 5 recorded next to A");
	ok(fsdev_same(&t, 5, 3, &b) && !fsdev_same(&t, 5, 3, &a), "5 is B's");
	fsdev_table_clear(&t);
	ok(t.n == 0 && !t.v, "cleared");
}

/* f_type as stat -f prints it (hex), or 0. */
static unsigned long long oracle_type(const char *path)
{
	char cmd[512], out[64] = "";
	unsigned long long v = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "stat -f -c %%t '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	if (fgets(out, sizeof(out), p))
		v = strtoull(out, NULL, 16);
	pclose(p);
	return v;
}

static void test_ident(void)
{
	struct fsdev_id x, y;
	unsigned long long type = 0;
	int fa = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fb = open("src", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int ra, rb;

	if (fa < 0 || fb < 0) {
		skip("no ./src to compare with");
		if (fa >= 0)
			close(fa);
		return;
	}
	ra = fsdev_ident_fd(fa, &x);
	rb = fsdev_ident_fd(fb, &y);
	if (ra == -ENODATA) {
		skip("this filesystem has no f_fsid");
	} else {
		ok(ra == 0 && rb == 0, "identities of . and src");
		ok(!memcmp(&x, &y, sizeof(x)), "one filesystem, one identity");
		for (int i = 0; i < 8; i++)
			type = type << 8 | x.b[i];
		ok(type == oracle_type("."), "its f_type is stat -f's (%llx)", type);
	}
	close(fa);
	close(fb);
	ok(fsdev_ident_fd(-1, &x) == -EBADF, "a bad descriptor: -EBADF");
}

int main(void)
{
	plan_lazy();
	test_table();
	test_ident();
	return done_testing();
}
