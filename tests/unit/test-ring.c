/* SPDX-License-Identifier: MIT */
/*
 * test-ring.c - both backends deliver every byte, in order, many files in
 * flight; a file that is not what the walker saw is never read (-ESTALE),
 * a FIFO never blocks; a worker sleeping in ring_idle() wakes for each read;
 * out of descriptors (RLIMIT_NOFILE lowered), reads wait for one another
 * instead of failing, and fail with -EMFILE, once each, only when none can
 * open at all.
 *
 * `test-ring --expect-sync` is run under tests/helpers/no-uring (a seccomp
 * filter that fails io_uring_setup): then RING_AUTO must fall back to pread
 * and RING_URING must fail with -EPERM or -ENOSYS.
 */
#include "ring.h"

#include "tap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFILES 7
#define BIG_SPARSE ((5ULL << 30) + 5) /* past 4 GiB: 64-bit offsets */

struct file {
	char name[32];
	uint8_t *data; /* content from byte @base on */
	uint64_t base;
	struct stat st;
};

struct sink {
	const struct file *f;
	uint64_t start, next; /* first byte wanted; next byte expected */
	bool bad;	      /* a gap, an overlap or a wrong byte */
	int done;	      /* on_done calls */
	int result;
	void (*hook)(struct sink *s, uint64_t off); /* runs in on_data */
	struct ring *ring;			    /* for hooks that submit */
	struct sink *chained;			    /* submitted from on_done */
};

static int dirfd_;
static struct file files[NFILES];
static const size_t sizes[NFILES] = {0, 1, 4095, 4096, 131072, 131073, (5u << 20) + 7};

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint8_t rand8(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)(rng >> 32);
}


static void on_data(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct sink *s = ctx;

	if (off != s->next || len == 0 || off < s->f->base ||
	    off + len > (uint64_t)s->f->st.st_size ||
	    memcmp(s->f->data + (off - s->f->base), buf, len) != 0)
		s->bad = true;
	s->next = off + len;
	if (s->hook)
		s->hook(s, off);
}

static void on_done(void *ctx, int result)
{
	struct sink *s = ctx;

	s->done++;
	s->result = result;
}

static void sink_init(struct sink *s, const struct file *f, uint64_t start)
{
	memset(s, 0, sizeof(*s));
	s->f = f;
	s->start = s->next = start;
	s->result = 1;
}

static struct ring_read request(const struct file *f, struct sink *s, uint64_t off, uint64_t len)
{
	return (struct ring_read){
		.dirfd = dirfd_,
		.name = f->name,
		.id = {
			.dev = f->st.st_dev,
			.ino = f->st.st_ino,
			.size = f->st.st_size,
			.mtime_sec = f->st.st_mtim.tv_sec,
			.mtime_nsec = (uint32_t)f->st.st_mtim.tv_nsec,
			/* Not checked before the read (ring.h): a wrong one must not matter. */
			.ctime_sec = 1,
		},
		.uid = f->st.st_uid,
		.offset = off,
		.length = len,
		.on_data = on_data,
		.on_done = on_done,
		.ctx = s,
	};
}

static void drain(struct ring *ring)
{
	while (ring_inflight(ring) > 0)
		if (ring_poll(ring, true) < 0)
			break;
}

/* One request, waited for; returns on_done's result (or 1 if never called). */
static int read_one(struct ring *ring, struct ring_read *rd, struct sink *s)
{
	int r = ring_submit(ring, rd);

	if (r < 0)
		return r;
	drain(ring);
	return s->done == 1 ? s->result : 100 + s->done;
}

static void make_files(void)
{
	for (int i = 0; i < NFILES; i++) {
		struct file *f = &files[i];
		int fd;

		snprintf(f->name, sizeof(f->name), "f%zu", sizes[i]);
		f->data = malloc(sizes[i] + 1);
		for (size_t j = 0; j < sizes[i]; j++)
			f->data[j] = rand8();
		fd = openat(dirfd_, f->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, f->data, sizes[i]) != (ssize_t)sizes[i] ||
		    fstat(fd, &f->st) < 0 || close(fd) < 0)
			skip_all("cannot create test files: %s", strerror(errno));
	}
}

/* The bytes the test wrote are what pread sees (the oracle for on_data). */
static void check_files_with_pread(void)
{
	bool same = true;

	for (int i = 0; i < NFILES; i++) {
		uint8_t *buf = malloc(sizes[i] + 1);
		int fd = openat(dirfd_, files[i].name, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || pread(fd, buf, sizes[i] + 1, 0) != (ssize_t)sizes[i] ||
		    memcmp(buf, files[i].data, sizes[i]) != 0)
			same = false;
		close(fd);
		free(buf);
	}
	ok(same, "pread agrees with the written content");
}

static void test_many(enum ring_mode mode, const char *tag)
{
	enum { N = 40, DEPTH = 8 };
	struct sink s[N];
	struct ring_stats st;
	struct ring *ring;
	uint64_t bytes = 0;
	int good = 0, submitted = 0;

	if (ring_new(mode, DEPTH, &ring) < 0) {
		ok(false, "%s: ring_new", tag);
		return;
	}
	for (int i = 0; i < N; i++) {
		const struct file *f = &files[i % NFILES];
		struct ring_read rd;

		sink_init(&s[i], f, 0);
		rd = request(f, &s[i], 0, UINT64_MAX);
		submitted += ring_submit(ring, &rd) == 0;
		bytes += f->st.st_size;
	}
	ok(submitted == N, "%s: %d files submitted into a depth-%d ring", tag, submitted, DEPTH);
	drain(ring);
	for (int i = 0; i < N; i++)
		good += s[i].done == 1 && s[i].result == 0 && !s[i].bad &&
			s[i].next == (uint64_t)s[i].f->st.st_size;
	ok(good == N, "%s: %d/%d files whole, in order, byte-identical, on_done(0) once", tag, good,
	   N);
	ring_stats(ring, &st);
	ok(st.files == N && st.bytes == bytes, "%s: stats count %llu files, %llu bytes", tag,
	   (unsigned long long)st.files, (unsigned long long)st.bytes);
	if (mode == RING_SYNC)
		ok(st.peak_inflight == 1 && !st.uring, "%s: pread backend, one at a time", tag);
	else
		ok(st.peak_inflight == DEPTH && st.uring, "%s: io_uring with %u in flight at peak",
		   tag, st.peak_inflight);
	ring_free(ring);
}

static void test_partial(struct ring *ring, const char *tag)
{
	const struct file *big = &files[NFILES - 1], *small = &files[2];
	uint64_t size = big->st.st_size;
	struct ring_read rd;
	struct sink s;
	int r;

	sink_init(&s, big, 0);
	rd = request(big, &s, 0, 4096);
	r = read_one(ring, &rd, &s);
	ok(r == 0 && !s.bad && s.next == 4096, "%s: head 4 KiB (%d)", tag, r);

	sink_init(&s, big, size - 4096);
	rd = request(big, &s, size - 4096, 4096);
	r = read_one(ring, &rd, &s);
	ok(r == 0 && !s.bad && s.next == size, "%s: tail 4 KiB (%d)", tag, r);

	sink_init(&s, big, 131072 + 5);
	rd = request(big, &s, 131072 + 5, 3 * 131072);
	r = read_one(ring, &rd, &s);
	ok(r == 0 && !s.bad && s.next == 4 * 131072 + 5, "%s: unaligned middle range (%d)", tag, r);

	sink_init(&s, small, 0);
	rd = request(small, &s, 0, 4096);
	r = read_one(ring, &rd, &s);
	ok(r == 0 && !s.bad && s.next == 4095, "%s: a range past EOF is clamped to the size", tag);

	sink_init(&s, small, 5000);
	rd = request(small, &s, 5000, 4096);
	r = read_one(ring, &rd, &s);
	ok(r == 0 && s.next == 5000, "%s: an offset past the size delivers nothing, result 0", tag);
}

static void test_sparse(struct ring *ring, const char *tag)
{
	static const char tail[] = "the end";
	struct file f = {.name = "sparse"};
	struct ring_read rd;
	struct sink s;
	int fd, r;

	fd = openat(dirfd_, f.name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || pwrite(fd, tail, 7, BIG_SPARSE - 7) != 7 || fstat(fd, &f.st) < 0) {
		skip("%s: no sparse file of 5 GiB here", tag);
		close(fd);
		return;
	}
	close(fd);
	ring_wait_tick(); /* just written: see test_tick() */
	f.data = calloc(1, 8192);
	f.base = BIG_SPARSE - 8192;
	memcpy(f.data + 8192 - 7, tail, 7);

	sink_init(&s, &f, BIG_SPARSE - 8192);
	rd = request(&f, &s, BIG_SPARSE - 8192, 8192);
	r = read_one(ring, &rd, &s);
	ok(r == 0 && !s.bad && s.next == BIG_SPARSE, "%s: the last 8 KiB of a 5 GiB file (%d)", tag,
	   r);
	free(f.data);
	unlinkat(dirfd_, f.name, 0);
}

static bool same_ts(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * A file written in the tick of the coarse clock its read begins in proves
 * nothing (a write during the read may leave its timestamps as they were):
 * RING_E_TICK.  Once the tick is over the same read succeeds.
 */
static void test_tick(struct ring *ring, const char *tag)
{
	static const char data[] = "written just now";
	struct file f = {.name = "fresh", .data = (uint8_t *)data};
	struct timespec t0, t1;
	struct ring_read rd;
	struct sink s;
	int fd, r = 0, in_tick = 0, ticks = 0, bad = 0;

	for (int i = 0; i < 20 && (!in_tick || !ticks); i++) {
		clock_gettime(CLOCK_REALTIME_COARSE, &t0);
		fd = openat(dirfd_, f.name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data) ||
		    fstat(fd, &f.st) < 0) {
			close(fd);
			bad++;
			break;
		}
		close(fd);
		sink_init(&s, &f, 0);
		rd = request(&f, &s, 0, sizeof(data));
		r = read_one(ring, &rd, &s);
		clock_gettime(CLOCK_REALTIME_COARSE, &t1);
		if (r == RING_E_TICK)
			ticks++;
		else if (r != 0)
			bad++;
		/* Written and read within one tick: nothing else can be right. */
		if (same_ts(&t0, &t1)) {
			in_tick++;
			bad += r != RING_E_TICK;
		}
	}
	ok(!bad && in_tick && ticks, "%s: a file written in the tick its read began in: RING_E_TICK "
	   "(%d of %d reads inside one tick)", tag, ticks, in_tick);
	ring_wait_tick();
	sink_init(&s, &f, 0);
	rd = request(&f, &s, 0, sizeof(data));
	r = read_one(ring, &rd, &s);
	ok(r == 0 && !s.bad && s.next == sizeof(data), "%s: once the tick is over it reads (%d)",
	   tag, r);
	unlinkat(dirfd_, f.name, 0);
}

static void test_stale(struct ring *ring, const char *tag)
{
	const struct file *f = &files[4];
	struct ring_read rd;
	struct sink s;
	struct stat st;
	struct file fifo = {.name = "fifo"}, link = {.name = "link"}, dir = {.name = "dir"};
	int r;

	sink_init(&s, f, 0);
	rd = request(f, &s, 0, UINT64_MAX);
	rd.id.ino++;
	ok(read_one(ring, &rd, &s) == -ESTALE && s.next == 0, "%s: other inode: -ESTALE, no data",
	   tag);

	sink_init(&s, f, 0);
	rd = request(f, &s, 0, UINT64_MAX);
	rd.id.dev ^= 1;
	ok(read_one(ring, &rd, &s) == -ESTALE && s.next == 0, "%s: other device: -ESTALE", tag);

	sink_init(&s, f, 0);
	rd = request(f, &s, 0, UINT64_MAX);
	rd.id.size--;
	ok(read_one(ring, &rd, &s) == -ESTALE && s.next == 0, "%s: other size: -ESTALE", tag);

	sink_init(&s, f, 0);
	rd = request(f, &s, 0, UINT64_MAX);
	rd.id.mtime_nsec = (rd.id.mtime_nsec + 1) % 1000000000;
	ok(read_one(ring, &rd, &s) == -ESTALE && s.next == 0, "%s: other mtime: -ESTALE", tag);

	/* A FIFO where a regular file was: opened O_NONBLOCK, refused, never read. */
	unlinkat(dirfd_, fifo.name, 0);
	if (mkfifoat(dirfd_, fifo.name, 0644) == 0 &&
	    fstatat(dirfd_, fifo.name, &fifo.st, AT_SYMLINK_NOFOLLOW) == 0) {
		sink_init(&s, &fifo, 0);
		rd = request(&fifo, &s, 0, UINT64_MAX);
		alarm(10); /* a hang would be the bug: die instead */
		r = read_one(ring, &rd, &s);
		alarm(0);
		ok(r == -ESTALE && s.next == 0, "%s: a FIFO is -ESTALE and does not block (%d)",
		   tag, r);
	} else {
		skip("%s: mkfifo: %s", tag, strerror(errno));
	}

	/* A symlink (to a good file) in its place: O_NOFOLLOW refuses it. */
	unlinkat(dirfd_, link.name, 0);
	if (symlinkat(f->name, dirfd_, link.name) == 0 && fstatat(dirfd_, f->name, &st, 0) == 0) {
		link.st = st;
		sink_init(&s, &link, 0);
		rd = request(&link, &s, 0, UINT64_MAX);
		r = read_one(ring, &rd, &s);
		ok(r == -ESTALE && s.next == 0, "%s: a symlink is not followed: -ESTALE (%d)", tag,
		   r);
	} else {
		skip("%s: symlink: %s", tag, strerror(errno));
	}

	mkdirat(dirfd_, dir.name, 0755);
	fstatat(dirfd_, dir.name, &dir.st, 0);
	sink_init(&s, &dir, 0);
	rd = request(&dir, &s, 0, UINT64_MAX);
	r = read_one(ring, &rd, &s);
	ok(r == -ESTALE, "%s: a directory is -ESTALE (%d)", tag, r);

	sink_init(&s, f, 0);
	rd = request(f, &s, 0, UINT64_MAX);
	rd.name = "missing";
	r = read_one(ring, &rd, &s);
	ok(r == -ENOENT && s.done == 1, "%s: a missing file is -ENOENT (%d)", tag, r);
}

/* Make a scratch copy of the big file to change while it is being read. */
static void scratch(struct file *f)
{
	const struct file *big = &files[NFILES - 1];
	size_t n = big->st.st_size;
	int fd;

	snprintf(f->name, sizeof(f->name), "scratch");
	f->data = big->data;
	fd = openat(dirfd_, f->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, f->data, n) != (ssize_t)n || fstat(fd, &f->st) < 0)
		f->st.st_size = -1;
	close(fd);
}

static void shrink_hook(struct sink *s, uint64_t off)
{
	int fd;

	if (off != 0)
		return;
	fd = openat(dirfd_, s->f->name, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (1 << 20) + 100) < 0)
		s->bad = true;
	close(fd);
}

static void grow_hook(struct sink *s, uint64_t off)
{
	int fd;

	if (off != 0)
		return;
	fd = openat(dirfd_, s->f->name, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "more", 4) != 4)
		s->bad = true;
	close(fd);
}

static bool ctime_moved;

/* Overwrite a byte already read and put mtime back: only ctime tells. */
static void rewrite_hook(struct sink *s, uint64_t off)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, s->f->st.st_mtim};
	struct stat st;
	uint8_t b = (uint8_t)~s->f->data[0];
	int fd;

	if (off != 0)
		return;
	/* Let the coarse timestamp clock tick (jiffies: 10 ms at HZ=100). */
	usleep(20000);
	fd = openat(dirfd_, s->f->name, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, &b, 1, 0) != 1 || futimens(fd, ts) < 0 || fstat(fd, &st) < 0)
		s->bad = true;
	else
		ctime_moved = st.st_ctim.tv_sec != s->f->st.st_ctim.tv_sec ||
			      st.st_ctim.tv_nsec != s->f->st.st_ctim.tv_nsec;
	close(fd);
}

static void test_change(struct ring *ring, const char *tag)
{
	static const struct {
		void (*hook)(struct sink *s, uint64_t off);
		const char *what;
		uint64_t next; /* bytes delivered before the end */
	} cases[] = {
		/* Shrunk mid-chunk: a short read, then EOF before the expected size. */
		{shrink_hook, "shrinks", (1 << 20) + 100},
		{grow_hook, "grows", (5u << 20) + 7},
		{rewrite_hook, "is rewritten with mtime restored", (5u << 20) + 7},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct file f;
		struct ring_read rd;
		struct sink s;
		int r;

		scratch(&f);
		if (f.st.st_size < 0) {
			skip("%s: cannot write a scratch file", tag);
			continue;
		}
		sink_init(&s, &f, 0);
		s.hook = cases[i].hook;
		ctime_moved = false;
		rd = request(&f, &s, 0, UINT64_MAX);
		r = read_one(ring, &rd, &s);
		if (cases[i].hook == rewrite_hook && !ctime_moved)
			skip("%s: ctime did not move on this filesystem", tag);
		else
			ok(r == -ESTALE && !s.bad && s.next == cases[i].next,
			   "%s: a file that %s while read is -ESTALE (%d) after %llu bytes", tag,
			   cases[i].what, r, (unsigned long long)s.next);
		unlinkat(dirfd_, f.name, 0);
	}
}

static struct ring_read chained_rd;

static void on_done_chain(void *ctx, int result)
{
	struct sink *s = ctx;

	on_done(ctx, result);
	/* on_done may submit: the slot it ran in is free already. */
	if (s->chained && ring_submit(s->ring, &chained_rd) < 0)
		s->bad = true;
}

static void test_reentry(enum ring_mode mode, const char *tag)
{
	struct sink a[4], b[4];
	struct ring *ring;
	int good = 0;

	if (ring_new(mode, 1, &ring) < 0) {
		ok(false, "%s: ring_new depth 1", tag);
		return;
	}
	/* Depth 1: each follow-up can only run in the slot its parent left. */
	for (int i = 0; i < 4; i++) {
		struct ring_read rd;

		sink_init(&a[i], &files[6], 0);
		sink_init(&b[i], &files[5], 0);
		a[i].ring = ring;
		a[i].chained = &b[i];
		rd = request(&files[6], &a[i], 0, UINT64_MAX);
		rd.on_done = on_done_chain;
		chained_rd = request(&files[5], &b[i], 0, UINT64_MAX);
		if (ring_submit(ring, &rd) < 0)
			break;
		drain(ring);
	}
	for (int i = 0; i < 4; i++)
		good += a[i].done == 1 && a[i].result == 0 && !a[i].bad && b[i].done == 1 &&
			b[i].result == 0 && !b[i].bad && b[i].next == (uint64_t)files[5].st.st_size;
	ok(good == 4, "%s: on_done can submit the next request (%d/4)", tag, good);
	ring_free(ring);
}

/* Every on_done submits the next file: a loop, not a recursion as deep as the chain. */
static struct {
	struct ring *ring;
	struct ring_read rd;
	struct sink sink;
	int left, failed;
	uintptr_t lo, hi; /* stack addresses seen in on_done */
} chain;

static void on_done_next(void *ctx, int result)
{
	uintptr_t here = (uintptr_t)&result;

	if (result != 0 || chain.sink.bad)
		chain.failed++;
	chain.lo = chain.lo && chain.lo < here ? chain.lo : here;
	chain.hi = chain.hi > here ? chain.hi : here;
	if (chain.left-- > 0) {
		sink_init(&chain.sink, &files[1], 0);
		if (ring_submit(chain.ring, &chain.rd) < 0)
			chain.failed++;
	}
}

static void test_long_chain(enum ring_mode mode, const char *tag)
{
	if (ring_new(mode, 1, &chain.ring) < 0) {
		ok(false, "%s: ring_new depth 1", tag);
		return;
	}
	chain.left = 5000;
	chain.failed = 0;
	chain.lo = chain.hi = 0;
	sink_init(&chain.sink, &files[1], 0);
	chain.rd = request(&files[1], &chain.sink, 0, UINT64_MAX);
	chain.rd.on_done = on_done_next;
	if (ring_submit(chain.ring, &chain.rd) == 0)
		drain(chain.ring);
	ok(chain.left == -1 && chain.failed == 0 && chain.hi - chain.lo < 16384,
	   "%s: 5000 submits from on_done, stack spread %zu bytes", tag,
	   (size_t)(chain.hi - chain.lo));
	ring_free(chain.ring);
}

static void test_free_waits(enum ring_mode mode, const char *tag)
{
	struct sink s[8];
	struct ring *ring;
	int good = 0;

	if (ring_new(mode, 8, &ring) < 0) {
		ok(false, "%s: ring_new", tag);
		return;
	}
	for (int i = 0; i < 8; i++) {
		struct ring_read rd;

		sink_init(&s[i], &files[6 - i % 3], 0);
		rd = request(s[i].f, &s[i], 0, UINT64_MAX);
		ring_submit(ring, &rd);
	}
	ring_free(ring);
	for (int i = 0; i < 8; i++)
		good += s[i].done == 1 && s[i].result == 0 && !s[i].bad &&
			s[i].next == (uint64_t)s[i].f->st.st_size;
	ok(good == 8, "%s: ring_free finishes what is in flight (%d/8)", tag, good);
}

/*
 * A worker with nothing else to do sleeps in ring_idle() until one of its
 * reads completes (1), and is told when none is in flight (0).
 */
static void test_idle(enum ring_mode mode, const char *tag)
{
	struct sink s[3];
	struct ring *ring;
	int wakes = 0, r = 0;

	if (ring_new(mode, 4, &ring) < 0) {
		ok(false, "%s: ring_new", tag);
		return;
	}
	ok(ring_idle(ring) == 0, "%s: ring_idle with nothing in flight: 0", tag);
	for (int i = 0; i < 3; i++) {
		struct ring_read rd;

		sink_init(&s[i], &files[6 - i], 0);
		rd = request(s[i].f, &s[i], 0, UINT64_MAX);
		ring_submit(ring, &rd);
	}
	while (wakes < 10 && (r = ring_idle(ring)) > 0)
		wakes++;
	ok(r == 0 && ring_inflight(ring) == 0 && s[0].done == 1 && s[1].done == 1 &&
	   s[2].done == 1 && s[0].result == 0 && s[1].result == 0 && s[2].result == 0,
	   "%s: ring_idle sleeps until reads complete, then says none is left (%d wakes)", tag,
	   wakes);
	ok(mode == RING_SYNC ? wakes == 0 : wakes >= 1 && wakes <= 3,
	   "%s: one wake per completion at most (%d)", tag, wakes);
	ring_free(ring);
	ok(ring_idle(NULL) == 0, "%s: ring_idle(NULL) is 0", tag);
}

/*
 * O_NOATIME on a file we do not own fails with EPERM; a request whose uid is
 * stale (the file changed owner since the walk) must still be read.  Uses
 * /etc/passwd (not ours unless we are root); as root, in a child that drops
 * to nobody first.  Returns a bit per backend that failed.
 */
static int noatime_case(bool uring)
{
	struct file f = {.name = "/etc/passwd"};
	struct ring_read rd;
	struct ring *ring;
	struct sink s;
	int fd, r, bad = 0;

	fd = open(f.name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &f.st) < 0 || f.st.st_uid == geteuid())
		return 4;
	f.data = malloc(f.st.st_size + 1);
	if (pread(fd, f.data, f.st.st_size, 0) != f.st.st_size)
		bad = 4;
	close(fd);
	for (int u = 0; u <= (int)uring && !(bad & 4); u++) {
		if (ring_new(u ? RING_URING : RING_SYNC, 2, &ring) < 0)
			return 4;
		sink_init(&s, &f, 0);
		rd = request(&f, &s, 0, UINT64_MAX);
		rd.dirfd = AT_FDCWD;
		rd.uid = geteuid(); /* a stale owner: O_NOATIME will be tried */
		r = read_one(ring, &rd, &s);
		if (r != 0 || s.bad || s.next != (uint64_t)f.st.st_size)
			bad |= 1 << u;
		ring_free(ring);
	}
	free(f.data);
	return bad;
}

static void test_noatime(bool uring)
{
	int bad, status;
	pid_t pid;

	if (geteuid() != 0) {
		bad = noatime_case(uring);
	} else {
		pid = fork();
		if (pid == 0)
			_exit(setgid(65534) == 0 && setuid(65534) == 0 ? noatime_case(uring) : 4);
		bad = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
			      ? WEXITSTATUS(status)
			      : 4;
	}
	if (bad & 4) {
		skip("O_NOATIME: no readable file owned by someone else");
		return;
	}
	ok(!(bad & 1), "sync: a file not ours is read though O_NOATIME is refused");
	if (uring)
		ok(!(bad & 2), "uring: a file not ours is read though O_NOATIME is refused");
}

static void test_parse(void)
{
	enum ring_mode m = RING_SYNC;

	ok(ring_parse_mode("auto", &m) == 0 && m == RING_AUTO, "parse auto");
	ok(ring_parse_mode("uring", &m) == 0 && m == RING_URING, "parse uring");
	ok(ring_parse_mode("sync", &m) == 0 && m == RING_SYNC, "parse sync");
	ok(ring_parse_mode("Sync", &m) == -EINVAL && ring_parse_mode("", &m) == -EINVAL &&
		   m == RING_SYNC,
	   "parse refuses anything else, *ret untouched");
}

/* Lower RLIMIT_NOFILE so that @room more descriptors can be opened; *old to restore. */
static bool limit_fds(unsigned room, struct rlimit *old)
{
	struct rlimit rl;
	int probe = dup(0);

	if (probe < 0 || getrlimit(RLIMIT_NOFILE, old) < 0)
		return false;
	close(probe);
	/* Numbers below the probe are taken; fds above the new limit do not count. */
	rl = (struct rlimit){ .rlim_cur = (rlim_t)probe + room, .rlim_max = old->rlim_max };
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

static void test_emfile(enum ring_mode mode, const char *tag)
{
	enum { N = 24, DEPTH = 8 };
	struct sink s[N];
	struct rlimit old;
	struct ring *ring;
	int good = 0, emfile = 0, submitted = 0;

	if (ring_new(mode, DEPTH, &ring) < 0) {
		ok(false, "%s: ring_new", tag);
		return;
	}
	/* Three descriptors for eight reads in flight. */
	if (!limit_fds(3, &old)) {
		ok(false, "%s: cannot lower RLIMIT_NOFILE: %s", tag, strerror(errno));
		ring_free(ring);
		return;
	}
	for (int i = 0; i < N; i++) {
		const struct file *f = &files[i % NFILES];
		struct ring_read rd;

		sink_init(&s[i], f, 0);
		rd = request(f, &s[i], 0, UINT64_MAX);
		submitted += ring_submit(ring, &rd) == 0;
	}
	drain(ring);
	for (int i = 0; i < N; i++)
		good += s[i].done == 1 && s[i].result == 0 && !s[i].bad &&
			s[i].next == (uint64_t)s[i].f->st.st_size;
	ok(submitted == N && good == N,
	   "%s: 3 descriptors free, depth %d: %d/%d files read whole (none fails with EMFILE)",
	   tag, DEPTH, good, N);

	/* None free: every read fails with EMFILE, exactly once, and nothing hangs. */
	setrlimit(RLIMIT_NOFILE, &old);
	limit_fds(0, &old);
	submitted = 0;
	for (int i = 0; i < 5; i++) {
		struct ring_read rd;

		sink_init(&s[i], &files[2], 0);
		rd = request(&files[2], &s[i], 0, UINT64_MAX);
		submitted += ring_submit(ring, &rd) == 0;
	}
	drain(ring);
	for (int i = 0; i < 5; i++)
		emfile += s[i].done == 1 && s[i].result == -EMFILE;
	ok(submitted == 5 && emfile == 5, "%s: no descriptor free: %d/5 reads end with -EMFILE once",
	   tag, emfile);
	setrlimit(RLIMIT_NOFILE, &old);

	/* The limit back up: the ring reads again, to its full depth in time. */
	for (int i = 0; i < 3; i++)
		sink_init(&s[i], &files[4], 0);
	good = 0;
	for (int i = 0; i < 3; i++) {
		struct ring_read rd = request(&files[4], &s[i], 0, UINT64_MAX);

		good += read_one(ring, &rd, &s[i]) == 0 && !s[i].bad;
	}
	ok(good == 3, "%s: reads succeed again once descriptors are back", tag);
	ring_free(ring);
}

static void run_backend(enum ring_mode mode, const char *tag)
{
	struct ring *ring;

	test_many(mode, tag);
	if (ring_new(mode, 4, &ring) < 0) {
		ok(false, "%s: ring_new depth 4", tag);
		return;
	}
	test_partial(ring, tag);
	test_sparse(ring, tag);
	test_tick(ring, tag);
	test_stale(ring, tag);
	test_change(ring, tag);
	ring_free(ring);
	test_reentry(mode, tag);
	test_long_chain(mode, tag);
	test_free_waits(mode, tag);
	test_emfile(mode, tag);
}

static void cleanup(const char *dir)
{
	static const char *const extra[] = {"fifo", "link", "scratch", "sparse"};

	for (int i = 0; i < NFILES; i++) {
		unlinkat(dirfd_, files[i].name, 0);
		free(files[i].data);
	}
	for (size_t i = 0; i < ARRAY_SIZE(extra); i++)
		unlinkat(dirfd_, extra[i], 0);
	unlinkat(dirfd_, "dir", AT_REMOVEDIR);
	close(dirfd_);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	bool expect_sync = argc > 1 && strcmp(argv[1], "--expect-sync") == 0;
	char dir[] = "/tmp/test-ring.XXXXXX";
	struct ring_stats st;
	struct ring *ring;
	bool have_uring;
	int r;

	plan_lazy();
	if (!mkdtemp(dir))
		skip_all("mkdtemp: %s", strerror(errno));
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	make_files();
	ring_wait_tick(); /* just written: see test_tick() */
	check_files_with_pread();
	test_parse();

	ok(ring_new(RING_AUTO, 0, &ring) == 0, "RING_AUTO always gives a ring");
	ring_stats(ring, &st);
	ring_free(ring);
	r = ring_new(RING_URING, 8, &ring);
	have_uring = r == 0;
	ring_free(have_uring ? ring : NULL);
	if (expect_sync) {
		ok(!st.uring, "under no-uring, RING_AUTO falls back to pread");
		ok(r == -EPERM || r == -ENOSYS, "under no-uring, RING_URING fails: %s",
		   strerror(-r));
	} else {
		ok(st.uring == have_uring, "RING_AUTO uses io_uring iff RING_URING works (%s)",
		   have_uring ? "it does" : strerror(-r));
	}

	if (have_uring) {
		run_backend(RING_URING, "uring");
		test_idle(RING_URING, "uring");
	} else {
		diag("no io_uring (%s): skipping its cases", strerror(-r));
		skip("uring: no io_uring here");
	}
	run_backend(RING_SYNC, "sync");
	test_idle(RING_SYNC, "sync");
	test_noatime(have_uring);
	ring_free(NULL);

	cleanup(dir);
	return done_testing();
}
