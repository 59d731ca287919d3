/* SPDX-License-Identifier: MIT */
/*
 * test-readhash.c - read and hash through a ring the caller owns, on both
 * backends: a whole file gives the digests of its first and last 4 KiB and
 * of everything, a range the digest of those bytes (the oracle: the bytes
 * written, hashed in memory); a file written in the clock tick its read
 * began in is read again, not failed; out of descriptors, the owner's hook
 * decides: fail, again now, or later through readhash_retry(), and a read
 * is not tried more than READHASH_EMFILE_RETRIES times.
 */
#include "readhash.h"

#include "hash.h"
#include "ring.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG (600 * 1024 + 123)	/* three read rounds of the ring, and a bit */

static int dirfd_;
static unsigned char data[BIG];

struct req {
	struct readhash rh;
	int done, result;
	unsigned emfile_calls;
	enum readhash_emfile answer;	/* what the hook says */
	unsigned restore_at;		/* the hook lifts the limit at this call (0: never) */
	struct rlimit *old;
};

static void on_done(struct readhash *rh, int result)
{
	struct req *q = (struct req *)rh;

	q->done++;
	q->result = result;
}

static enum readhash_emfile on_emfile(struct readhash *rh, unsigned tries)
{
	struct req *q = (struct req *)rh;

	if (tries != q->emfile_calls)
		q->result = 1000;	/* tries must count the calls */
	q->emfile_calls++;
	if (q->restore_at && q->emfile_calls == q->restore_at)
		setrlimit(RLIMIT_NOFILE, q->old);
	return q->answer;
}

static void write_file(const char *name, const void *buf, size_t len)
{
	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* Prepare @q to read @name from @off, @len bytes. */
static void setup(struct req *q, const char *name, uint64_t off, uint64_t len)
{
	struct stat st;

	if (fstatat(dirfd_, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		abort();
	q->done = 0;
	q->result = 1;
	q->emfile_calls = 0;
	q->answer = READHASH_FAIL;
	q->restore_at = 0;
	q->rh.dirfd = dirfd_;
	q->rh.name = name;
	q->rh.id = (struct ident){ .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
				   .mtime_sec = st.st_mtim.tv_sec,
				   .mtime_nsec = (uint32_t)st.st_mtim.tv_nsec };
	q->rh.uid = st.st_uid;
	q->rh.offset = off;
	q->rh.length = len;
	q->rh.on_done = on_done;
	q->rh.on_emfile = on_emfile;
}

static void run(struct ring *ring, struct req *q)
{
	readhash_start(ring, &q->rh);
	while (ring_inflight(ring) > 0)
		if (ring_poll(ring, true) < 0)
			break;
}

static void test_digests(struct ring *ring, const char *tag)
{
	struct hash128 head, tail, full, h, want;
	struct req q = { .result = 0 };

	if (readhash_init(&q.rh) < 0)
		abort();
	setup(&q, "big", 0, BIG);
	run(ring, &q);
	readhash_digests(&q.rh, &head, &tail, &full);
	hash_buffer(data, BIG, &want);
	ok(q.done == 1 && q.result == 0 && readhash_whole(&q.rh) &&
	   memcmp(full.b, want.b, 16) == 0, "%s: a whole file: its XXH3-128", tag);
	hash_buffer(data, HASH_PARTIAL, &h);
	hash_buffer(data + BIG - HASH_PARTIAL, HASH_PARTIAL, &want);
	ok(memcmp(head.b, h.b, 16) == 0 && memcmp(tail.b, want.b, 16) == 0,
	   "%s: ...and those of its first and last 4 KiB", tag);

	setup(&q, "big", BIG - HASH_PARTIAL, HASH_PARTIAL);
	run(ring, &q);
	readhash_digest(&q.rh, &h);
	ok(q.done == 1 && q.result == 0 && !readhash_whole(&q.rh) && memcmp(h.b, want.b, 16) == 0,
	   "%s: a range (the last 4 KiB): the digest of those bytes", tag);

	setup(&q, "big", 1000, 70000);
	run(ring, &q);
	readhash_digest(&q.rh, &h);
	hash_buffer(data + 1000, 70000, &want);
	ok(q.done == 1 && q.result == 0 && memcmp(h.b, want.b, 16) == 0,
	   "%s: a range in the middle", tag);

	write_file("small", data, 100);
	setup(&q, "small", 0, 100);
	run(ring, &q);
	readhash_digests(&q.rh, &head, &tail, &full);
	hash_buffer(data, 100, &want);
	ok(q.done == 1 && q.result == 0 && memcmp(head.b, want.b, 16) == 0 &&
	   memcmp(tail.b, want.b, 16) == 0 && memcmp(full.b, want.b, 16) == 0,
	   "%s: a file under 4 KiB: its head, tail and whole are all of it", tag);

	setup(&q, "small", 0, 100);
	q.rh.id.size = 99;
	run(ring, &q);
	ok(q.done == 1 && q.result == -ESTALE, "%s: not the file it should be: -ESTALE, once", tag);

	setup(&q, "small", 0, 100);
	q.rh.name = "gone";
	run(ring, &q);
	ok(q.done == 1 && q.result == -ENOENT, "%s: a file that is gone: -ENOENT, once", tag);
	readhash_destroy(&q.rh);
}

/* Written just now: the read may start in the same clock tick, and must then be redone. */
static void test_tick(struct ring *ring, const char *tag)
{
	struct hash128 h, want;
	int retried = 0, good = 0;
	struct req q = { .result = 0 };

	if (readhash_init(&q.rh) < 0)
		abort();
	hash_buffer(data, 5000, &want);
	for (int i = 0; i < 20; i++) {
		write_file("fresh", data, 5000);
		setup(&q, "fresh", 0, 5000);
		run(ring, &q);
		readhash_digest(&q.rh, &h);
		good += q.done == 1 && q.result == 0 && memcmp(h.b, want.b, 16) == 0;
		retried += q.rh.tick_tries > 0;
	}
	ok(good == 20, "%s: a file read right after it was written: hashed, not failed (%d/20)",
	   tag, good);
	ok(retried > 0, "%s: ...because it was read again once the tick was over (%d/20)", tag,
	   retried);
	readhash_destroy(&q.rh);
}

/* Lower RLIMIT_NOFILE so that no descriptor can be opened; *old to restore. */
static bool no_fds(struct rlimit *old)
{
	struct rlimit rl;
	int probe = dup(0);

	if (probe < 0 || getrlimit(RLIMIT_NOFILE, old) < 0)
		return false;
	close(probe);
	rl = (struct rlimit){ .rlim_cur = (rlim_t)probe, .rlim_max = old->rlim_max };
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static void test_emfile(struct ring *ring, const char *tag)
{
	struct rlimit old;
	struct req q = { .result = 0 };

	if (readhash_init(&q.rh) < 0)
		abort();
	setup(&q, "small", 0, 100);
	if (!no_fds(&old)) {
		ok(false, "%s: cannot lower RLIMIT_NOFILE", tag);
		readhash_destroy(&q.rh);
		return;
	}
	q.old = &old;
	run(ring, &q);
	ok(q.done == 1 && q.result == -EMFILE && q.emfile_calls == 1,
	   "%s: the hook says fail: -EMFILE, after one call", tag);

	setup(&q, "small", 0, 100);
	q.old = &old;
	q.rh.on_emfile = NULL;
	run(ring, &q);
	ok(q.done == 1 && q.result == -EMFILE && q.emfile_calls == 0, "%s: no hook: -EMFILE", tag);

	setup(&q, "small", 0, 100);
	q.old = &old;
	q.answer = READHASH_NOW;
	q.restore_at = 3;
	run(ring, &q);
	ok(q.done == 1 && q.result == 0 && q.emfile_calls == 3,
	   "%s: again now, until the hook made room: read (3 calls)", tag);

	no_fds(&old);
	setup(&q, "small", 0, 100);
	q.old = &old;
	q.answer = READHASH_LATER;
	run(ring, &q);
	ok(q.done == 0 && q.emfile_calls == 1, "%s: later: not over yet", tag);
	setrlimit(RLIMIT_NOFILE, &old);
	readhash_retry(&q.rh);
	while (ring_inflight(ring) > 0)
		if (ring_poll(ring, true) < 0)
			break;
	ok(q.done == 1 && q.result == 0, "%s: ...readhash_retry() reads it", tag);

	no_fds(&old);
	setup(&q, "small", 0, 100);
	q.old = &old;
	q.answer = READHASH_NOW;
	run(ring, &q);
	setrlimit(RLIMIT_NOFILE, &old);
	ok(q.done == 1 && q.result == -EMFILE && q.emfile_calls == READHASH_EMFILE_RETRIES,
	   "%s: never any room: -EMFILE after %u calls", tag, q.emfile_calls);
	readhash_destroy(&q.rh);
}

static void backend(enum ring_mode mode, const char *tag)
{
	struct ring *ring;
	int r = ring_new(mode, 4, &ring);

	if (r < 0) {
		skip("%s: %s", tag, strerror(-r));
		return;
	}
	test_digests(ring, tag);
	test_tick(ring, tag);
	test_emfile(ring, tag);
	ring_free(ring);
}

int main(void)
{
	char dir[] = "/tmp/test-readhash.XXXXXX";
	char cmd[64];

	plan_lazy();
	if (!mkdtemp(dir))
		skip_all("mkdtemp: %s", strerror(errno));
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (unsigned char)(i * 131 + (i >> 9));
	write_file("big", data, BIG);
	ring_wait_tick();	/* not "just written" any more */

	backend(RING_URING, "uring");
	backend(RING_SYNC, "sync");

	close(dirfd_);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
