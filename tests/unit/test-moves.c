/* SPDX-License-Identifier: MIT */
/*
 * test-moves.c - the table of vanished entries: each is taken once, by its
 * (dev, ino) and file type only; growth keeps every entry; what is left is
 * drained exactly once.
 */
#include "moves.h"

#include "tap.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#define N 5000

static int drained;
static uint64_t drained_sum;

static int count(void *ctx, const struct node *n)
{
	drained++;
	drained_sum += n->id;
	return 0;
}

static int stop_at_first(void *ctx, const struct node *n)
{
	(*(int *)ctx)++;
	return 7;
}

int main(void)
{
	struct moves *m;
	struct node n, got;
	bool all = true;
	int calls = 0;

	plan_lazy();
	ok(moves_new(&m) == 0, "table created");
	ok(!moves_take(m, 1, 2, S_IFREG, &got), "an empty table has nothing to take");

	memset(&n, 0, sizeof(n));
	n.name = "ignored";
	n.name_len = 7;
	for (uint64_t i = 1; i <= N; i++) {
		n.id = 1000 + i;
		n.dev = i % 3;
		n.ino = i;
		n.mode = (i % 2 ? S_IFREG : S_IFDIR) | 0644;
		n.size = i * 10;
		all &= moves_add(m, &n) == 0;
	}
	ok(all, "%d entries added (the table grew several times)", N);
	ok(moves_count(m) == N, "count is %d", N);

	ok(!moves_take(m, 0, 1, S_IFREG, &got), "another dev does not match");
	ok(!moves_take(m, 1, 1, S_IFDIR, &got), "another file type does not match");
	ok(moves_take(m, 1, 1, S_IFREG, &got) && got.id == 1001 && got.size == 10 &&
		   got.name == NULL && got.name_len == 0,
	   "(dev 1, ino 1, regular) is taken, fields copied, name not kept");
	ok(!moves_take(m, 1, 1, S_IFREG, &got), "...and only once");
	ok(moves_count(m) == N - 1, "count went down by one");

	all = true;
	for (uint64_t i = 2; i <= N; i += 2) {
		all &= moves_take(m, i % 3, i, S_IFDIR, &got) && got.id == 1000 + i;
	}
	ok(all, "every even (directory) entry is found after growth");
	ok(moves_count(m) == N - 1 - N / 2, "count matches what is left");

	uint64_t left = 0;

	for (uint64_t i = 3; i <= N; i += 2)
		left += 1000 + i;
	ok(moves_drain(m, count, NULL) == 0 && drained == N - 1 - N / 2 && drained_sum == left,
	   "drain visits each entry left exactly once");
	ok(moves_count(m) == 0 && !moves_take(m, 0, 3, S_IFREG, &got), "drained table is empty");

	n.id = 1;
	moves_add(m, &n);
	n.id = 2;
	n.ino++;
	moves_add(m, &n);
	ok(moves_drain(m, stop_at_first, &calls) == 7 && calls == 1 && moves_count(m) == 0,
	   "drain stops calling at the first nonzero return, and still empties the table");
	moves_free(m);
	moves_free(NULL);
	return done_testing();
}
