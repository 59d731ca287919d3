/* SPDX-License-Identifier: MIT */
/*
 * test-fdcache.c - the descriptor cache stays within budget and never closes a pinned fd;
 * out of descriptors, shrinking closes every idle one and keeps the cache smaller.
 */
#include "fdcache.h"

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

int main(void)
{
	struct fdcache_entry e[8];
	struct fdcache *c;
	int fds[8], fd;

	plan_lazy();
	ok(fdcache_new(0, &c) == -EINVAL, "capacity 0 is refused");
	ok(fdcache_new(3, &c) == 0, "cache of 3 created");
	for (int i = 0; i < 8; i++)
		fdcache_entry_init(&e[i]);

	ok(fdcache_pin(c, &e[0]) == -1, "an empty entry has no descriptor");
	for (int i = 0; i < 3; i++) {
		fds[i] = fdcache_insert(c, &e[i], open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		fdcache_unpin(c, &e[i]);
	}
	ok(fdcache_open_count(c) == 3, "three descriptors cached");

	/* e[0] is the least recently used: inserting a fourth closes it. */
	fds[3] = fdcache_insert(c, &e[3], open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	ok(fdcache_open_count(c) == 3, "still three after a fourth insert");
	ok(e[0].fd == -1 && !fd_is_open(fds[0]), "the least recently used was closed");
	ok(e[1].fd == fds[1] && fd_is_open(fds[1]), "a more recent one stayed");

	/* Pin e[1] (now the coldest); further inserts must evict around it. */
	fd = fdcache_pin(c, &e[1]);
	ok(fd == fds[1], "pin returns the cached descriptor");
	fds[4] = fdcache_insert(c, &e[4], open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	fds[5] = fdcache_insert(c, &e[5], open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	ok(fd_is_open(fds[1]) && e[1].fd == fds[1], "a pinned descriptor is never closed");
	ok(fdcache_open_count(c) <= 4, "over budget by at most the pinned ones (%u)",
	   fdcache_open_count(c));

	/* A second insert for an entry that already has an fd reuses it. */
	fd = fdcache_insert(c, &e[1], open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	ok(fd == fds[1], "a racing insert yields the existing descriptor");
	fdcache_unpin(c, &e[1]);
	fdcache_unpin(c, &e[1]);
	fdcache_unpin(c, &e[3]);
	fdcache_unpin(c, &e[4]);
	fdcache_unpin(c, &e[5]);

	for (int i = 0; i < 8; i++)
		fdcache_remove(c, &e[i]);
	ok(fdcache_open_count(c) == 0, "removing every entry closes everything");
	ok(!fd_is_open(fds[5]), "removed descriptors are closed");
	fdcache_free(c);

	/* Shrinking: 6 cached, 2 of them pinned. */
	ok(fdcache_new(100, &c) == 0, "cache of 100 created");
	for (int i = 0; i < 6; i++) {
		fds[i] = fdcache_insert(c, &e[i], open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (i >= 2)
			fdcache_unpin(c, &e[i]);
	}
	ok(fdcache_shrink(c) == 4, "shrink closes the four idle descriptors");
	ok(fd_is_open(fds[0]) && fd_is_open(fds[1]) && !fd_is_open(fds[2]) && !fd_is_open(fds[5]),
	   "...and only those: the pinned stay open");
	ok(fdcache_open_count(c) == 2, "two left open");
	fdcache_unpin(c, &e[0]);
	fdcache_unpin(c, &e[1]);
	for (int i = 2; i < 8; i++) {
		fds[i] = fdcache_insert(c, &e[i], open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		fdcache_unpin(c, &e[i]);
	}
	ok(fdcache_open_count(c) == 5, "the capacity is now what was open less one (%u open)",
	   fdcache_open_count(c));
	ok(fdcache_shrink(c) == 5 && fdcache_open_count(c) == 0, "shrinking again closes all");
	for (int i = 0; i < 8; i++)
		fdcache_remove(c, &e[i]);
	fdcache_free(c);
	fdcache_free(NULL);
	return done_testing();
}
