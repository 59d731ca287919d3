/* SPDX-License-Identifier: MIT */
/*
 * test-pathmap.c - the map of paths: every key put is found again with its
 * value through growth, once however often it is put; keys are compared
 * whole (a prefix or a NUL-holding key is another key); the nearest
 * ancestor is found by components, with a predicate, up to "/".
 */
#include "pathmap.h"

#include "tap.h"

#include <stdio.h>
#include <string.h>

#define N 20000

static bool odd(uint64_t v)
{
	return v & 1;
}

static void test_growth(void)
{
	struct pathmap m;
	char key[64];
	bool all = true, added, once = true;
	uint64_t *v;

	pathmap_init(&m);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/d%d/e%d", i % 97, i);
		v = pathmap_put(&m, key, strlen(key), (uint64_t)i, &added);
		all &= v && *v == (uint64_t)i && added;
	}
	ok(all && m.n == N, "%d keys put, each new, with its value", N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "/d%d/e%d", i % 97, i);
		v = pathmap_get(&m, key, strlen(key));
		all &= v && *v == (uint64_t)i;
		v = pathmap_put(&m, key, strlen(key), 7, &added);
		once &= v && *v == (uint64_t)i && !added;
	}
	ok(all, "each found again after the table grew");
	ok(once && m.n == N, "put again: the value kept, no second entry");
	ok(!pathmap_get(&m, "/d1/e", 5), "a prefix of a key is not a key");
	ok(!pathmap_get(&m, "/d1/e1\0x", 8), "nor a key with bytes after a NUL");
	pathmap_destroy(&m);
	ok(m.n == 0 && !pathmap_get(&m, "/d1/e1", 6), "destroyed: empty, and usable as such");
}

static void test_ancestor(void)
{
	struct pathmap m;
	struct pathmap_entry *e;

	pathmap_init(&m);
	ok(!pathmap_ancestor(&m, "/a/b", 4, NULL), "an empty map has no ancestor");
	pathmap_put(&m, "/a", 2, 2, NULL);
	pathmap_put(&m, "/a/b", 4, 1, NULL);
	pathmap_put(&m, "/a/bc", 5, 3, NULL);
	e = pathmap_ancestor(&m, "/a/b/c/d", 8, NULL);
	ok(e && strcmp(e->key, "/a/b") == 0, "the nearest ancestor of /a/b/c/d is /a/b");
	e = pathmap_ancestor(&m, "/a/b/c/d", 8, odd);
	ok(e && strcmp(e->key, "/a/b") == 0, "... with odd values too");
	pathmap_put(&m, "/a/b", 4, 5, NULL);
	e = pathmap_ancestor(&m, "/a/b", 4, NULL);
	ok(e && strcmp(e->key, "/a") == 0, "a key is not its own ancestor");
	e = pathmap_ancestor(&m, "/a/bcd", 6, odd);
	ok(!e, "/a/bc is no ancestor of /a/bcd, and /a's value is even");
	e = pathmap_ancestor(&m, "/a/bc/x", 7, odd);
	ok(e && e->val == 3, "/a/bc is one of /a/bc/x");
	ok(!pathmap_ancestor(&m, "/", 1, NULL), "/ has no ancestor");
	pathmap_put(&m, "/", 1, 9, NULL);
	e = pathmap_ancestor(&m, "/x", 2, odd);
	ok(e && strcmp(e->key, "/") == 0, "/ is the ancestor of /x");
	e = pathmap_ancestor(&m, "/x/y", 4, NULL);
	ok(e && strcmp(e->key, "/") == 0, "... and of /x/y");
	pathmap_destroy(&m);
}

int main(void)
{
	plan_lazy();
	test_growth();
	test_ancestor();
	return done_testing();
}
