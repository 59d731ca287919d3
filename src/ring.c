/* SPDX-License-Identifier: MIT */
/*
 * ring.c - file content through io_uring, many files in flight, with a
 * pread(2) backend behind the same interface.
 *
 * One struct ring per worker thread; nothing here is locked, so one thread
 * at a time uses a ring.  A ring has @depth request slots.  Each slot owns
 * RING_CHAIN * RING_CHUNK bytes of one buffer pool allocated once, so
 * buffers are reused from file to file and memory never depends on file
 * size: a 3 GiB file streams through the same 256 KiB as a 3-byte one.  The
 * pool is not registered (READ_FIXED): that would pin all of it, charged to
 * RLIMIT_MEMLOCK, and measured here it bought nothing over plain READs
 * (buffered reads copy from the page cache either way), while unregistered
 * pages that small files never reach are never touched.
 *
 * A request is two-phase, because the identity check must come before any
 * byte is read:
 *
 *   ring_submit ──► OPENAT (plain fd, O_NONBLOCK so a FIFO or a device that
 *                   replaced the file cannot block us)
 *   CQE ──► fstat(fd): still the file (ident.h, IDENT_CONTENT)? ──no──► -ESTALE
 *            │ yes
 *            ▼
 *          READ ─link─► READ ─link─► … (one round: up to RING_CHAIN chunks)
 *   all CQEs of the round in ──► deliver chunks in order ──► next round …
 *   last byte delivered ──► fstat again: size, mtime, ctime unchanged? ──► done
 *                                        └─no──► -ESTALE (changed while read)
 *   then CLOSE (queued on the ring; its CQE carries no request).
 *
 * The variant DESIGN.md sketches - OPENAT into a direct descriptor linked to
 * READs of that fixed file and a CLOSE, all in one submission - saves the two
 * fstat(2) calls and a round trip per file, but a direct descriptor cannot be
 * fstat'ed, so what is read would be whatever the name pointed to at that
 * instant: a FIFO (the READ would wait for a writer), a device, or a file
 * swapped in after the walker's statx.  The two-phase form reads only what it
 * has verified, needs no IORING_FEAT_LINKED_FILE (5.17) and no slot allocator
 * (liburing 2.3 encodes IORING_FILE_INDEX_ALLOC as slot 0 in
 * io_uring_prep_openat_direct()), and runs on 5.6+.
 *
 * Measured with a warm cache, one thread, depth 16, on a 2-core VM where a
 * syscall costs 0.55 us (best of 9-11 runs; medians agree within 10%):
 * /usr/share, 59k files, 0.8 GB: 0.52 s through the ring, 0.53 s with pread;
 * /usr/lib, 65k files, 4.8 GB: 1.46 s vs 1.38 s.  Path lookup, the page
 * cache copy and hashing dominate; the ring saves three syscalls a file.
 * An unchecked direct-descriptor chain read the files up to 512 KiB of
 * /usr/share in 0.40 s against 0.48 s here: the price of the two fstats.
 *
 * In a round, a short read (fewer bytes than asked, not an error) makes the
 * kernel cancel the rest of the chain (-ECANCELED); we deliver what came and
 * start the next round at the first missing byte.  EOF before the expected
 * size means the file shrank: -ESTALE.  A READ that returns -EAGAIN (a
 * filesystem without nowait support, on a file still O_NONBLOCK) clears
 * O_NONBLOCK - the file is known to be regular by then - and is retried.
 *
 * Everything the kernel may touch (the name, the buffers) lives in the slot
 * until the last CQE naming it is reaped; user_data is the slot pointer with
 * the op and the chain index in its low bits (slots are 64-byte aligned).
 *
 * Submissions are batched: ring_submit() only queues SQEs; ring_poll() (and
 * ring_submit() on a full ring) flushes them with one io_uring_enter().  A
 * worker with nothing else to do sleeps in ring_idle(), inside that
 * io_uring_enter(), until one request completes.  (No eventfd is
 * registered: nothing sleeps on one, and draining it cost a read(2) per
 * poll.  A worker that must wake for a task *or* a completion would add it.)
 *
 * Features are probed, not inferred from the kernel version: OPENAT and READ
 * are required, CLOSE is used when present (else close(2)).  The ring is set
 * up with no flags: SINGLE_ISSUER would tie it to the thread that created it
 * (a worker may get its ring from another thread), and DEFER_TASKRUN would
 * post completions only when the worker enters the kernel for them, which
 * an eventfd (should one be registered) would not see.
 *
 * When the ring cannot be set up (ENOSYS, EPERM from seccomp or
 * kernel.io_uring_disabled, ENOMEM from RLIMIT_MEMLOCK on kernels before
 * 5.12) or lacks an opcode, RING_AUTO serves each request synchronously
 * inside ring_submit() with openat/fstat/pread/fstat/close and the same
 * checks; a request submitted from a callback is queued and served by the
 * outermost ring_submit(), so chains of submissions loop instead of
 * recursing.  Nothing is printed: ring_stats().uring tells the caller which
 * backend runs.
 *
 * Descriptors run out.  An OPENAT that fails with EMFILE or ENFILE while
 * other requests of this ring are reading is parked, not failed: those
 * requests hold descriptors and will close them.  The ring lowers its depth
 * to what it had open (ring_submit() waits for a slot below the new limit),
 * and each request that finishes re-issues one parked OPENAT.  The depth
 * creeps back up after a run of clean opens.  Only an open that fails with
 * nothing else of this ring in flight goes back to the caller as -EMFILE,
 * who may have descriptors of its own to give up before trying again (the
 * walker's directory cache).  The pread backend has one file open at a
 * time, so its EMFILE always goes back to the caller.  A caller that finds
 * no descriptor to give back may have an idle RING_AUTO ring give back its
 * own (ring_give_back()): it reads with pread from then on.
 *
 * Callbacks may call ring_submit() and ring_poll() (a slot is released
 * before its on_done runs, and CQEs are consumed one at a time), but not
 * ring_free().
 */
#include "ring.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * 128 KiB is the kernel's default readahead window: smaller reads add
 * syscalls or SQEs, larger ones only add memory per slot.
 */
#define RING_CHUNK (128u * 1024)
/*
 * READs linked in one round: 256 KiB in flight per file.  Four chunks (512
 * KiB) measured no faster warm or cold on dups over 2.1 GB, and the buffers
 * of 16 slots on 2 workers are a quarter of what dups keeps (RssAnon 58-64
 * MiB -> 54-57 MiB).
 */
#define RING_CHAIN 2u
#define RING_SLOT_BYTES (RING_CHUNK * RING_CHAIN)
/* Default requests in flight: a disk wants a deep queue (DESIGN.md). */
#define RING_DEFAULT_DEPTH 16u
/* 256 KiB of buffer per slot: past this, memory grows with no gain in throughput. */
#define RING_MAX_DEPTH 256u
/* Clean opens after which a depth lowered by EMFILE goes up by one again. */
#define RING_REGROW_OPENS 64u
/* -EAGAIN retries of one read before giving up (each clears O_NONBLOCK). */
#define RING_MAX_EAGAIN 8

enum tag {
	TAG_OPEN = 1,
	TAG_READ = 2,
	TAG_CLOSE = 3, /* no request: user_data is TAG_CLOSE alone */
};
#define TAG_MASK 3u
#define IDX_SHIFT 2
#define IDX_MASK 15u
_Static_assert(RING_CHAIN <= IDX_MASK + 1, "chain index must fit in user_data's low bits");

struct req {
	struct ring_read rd; /* copy of the caller's request */
	struct ring *ring;
	struct req *next_free; /* free list; pread backend: queue of waiting requests;
				  parked list (open failed with EMFILE, to re-issue) */
	unsigned char *buf;    /* RING_SLOT_BYTES of the pool */
	int fd;
	int oflags;	  /* as passed to open; O_NOATIME dropped on EPERM */
	uint64_t pos;	  /* next byte to deliver */
	uint64_t end;	  /* first byte not wanted */
	struct timespec began; /* the coarse clock just before the first fstat */
	unsigned pending; /* CQEs of this request still to come */
	unsigned nchain;  /* READs in the current round */
	unsigned eagain;
	uint32_t asked[RING_CHAIN];
	int32_t res[RING_CHAIN];
} __attribute__((aligned(64)));

/*
 * ThreadSanitizer follows descriptors through the calls it intercepts:
 * close(2) forgets the number, a CLOSE the kernel runs does not, so when
 * another worker reuses the number TSan takes the two for a race.  Under
 * TSan the ring closes with close(2).
 */
#if defined(__SANITIZE_THREAD__)
#define RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_TSAN 1
#endif
#endif
#ifndef RING_TSAN
#define RING_TSAN 0
#endif

/*
 * struct ring_stats as the ring keeps it: written by the ring's thread,
 * read by ring_stats() from any (the engine sums every worker's while jobs
 * run).
 */
struct ring_counters {
	atomic_uint_fast64_t files, bytes;
	atomic_uint peak_inflight;
	bool uring; /* set before the ring is handed out, never changed */
};

struct ring {
	enum ring_mode mode;
	bool uring;
	bool has_close; /* IORING_OP_CLOSE probed */
	unsigned depth;
	unsigned limit;	   /* slots usable now: depth, less after EMFILE */
	unsigned inflight; /* slots in use */
	unsigned nparked;  /* of which waiting to re-issue their OPENAT */
	unsigned clean_opens; /* since the limit was last lowered */
	struct req *parked;
	unsigned ops;	   /* SQEs submitted or queued, CQE not yet reaped */
	bool serving;			 /* pread backend: a request is being served */
	struct req *queue, **queue_tail; /* pread backend: submitted from callbacks */
	uid_t euid;
	struct req *slots;
	struct req *free;
	unsigned char *pool;
	size_t pool_bytes;
	struct ring_counters stats;
	struct io_uring uring_ring;
};

/*
 * Add @n to a counter only the ring's thread writes: a plain load and store,
 * atomic only so that ring_stats() may read it from another thread.
 */
static inline void count(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t counted(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static int open_flags(const struct ring *ring, const struct ring_read *rd)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;

	/* Anyone else gets EPERM for O_NOATIME (open(2)). */
	if (ring->euid == 0 || rd->uid == ring->euid)
		flags |= O_NOATIME;
	return flags;
}

/*
 * Is the open file still what the walker saw?  Its ctime, as it is now, is
 * what check_after() expects.  Returns 0 or -ESTALE/-errno.
 */
static int check_before(struct req *req, int fd)
{
	struct ring_read *rd = &req->rd;
	uint64_t size = rd->id.size;
	int r;

	/* Taken first: see check_after(). */
	clock_gettime(CLOCK_REALTIME_COARSE, &req->began);
	r = ident_refresh_fd(&rd->id, fd, NULL);
	if (r < 0)
		return r;
	req->pos = rd->offset < size ? rd->offset : size;
	req->end = req->pos + (rd->length < size - req->pos ? rd->length : size - req->pos);
	return 0;
}

/*
 * Did the file change while it was read?  Any write moves ctime, even one
 * that restores size and mtime afterwards, so compare ctime with the first
 * fstat's as well.  But a write stamps the coarse clock's time (a tick is
 * 4 ms here), and a write in the same tick as the one before it stamps the
 * same time: a ctime at or after the tick the read began in cannot tell a
 * quiet file from one being written while it was read.  Such a read counts
 * as changed too (a file that is still being written gets no hash).
 */
static int check_after(const struct req *req, int fd)
{
	struct stat st;
	int r;

	r = ident_check_fd(&req->rd.id, fd, IDENT_EXACT, &st, NULL);
	if (r < 0)
		return r;
	if (st.st_ctim.tv_sec > req->began.tv_sec ||
	    (st.st_ctim.tv_sec == req->began.tv_sec && st.st_ctim.tv_nsec >= req->began.tv_nsec))
		return RING_E_TICK;
	return 0;
}

static void deliver(struct req *req, const void *buf, size_t len)
{
	if (req->rd.on_data)
		req->rd.on_data(req->rd.ctx, buf, len, req->pos);
	req->pos += len;
	count(&req->ring->stats.bytes, len);
}

static struct req *slot_get(struct ring *ring)
{
	struct req *req = ring->free;

	if (!req || ring->inflight >= ring->limit)
		return NULL;
	ring->free = req->next_free;
	ring->inflight++;
	if (ring->inflight > atomic_load_explicit(&ring->stats.peak_inflight, memory_order_relaxed))
		atomic_store_explicit(&ring->stats.peak_inflight, ring->inflight,
				      memory_order_relaxed);
	return req;
}

static int queue_open(struct req *req);

/*
 * Release the slot, then tell the caller: on_done may submit into it.  A
 * request that ends has closed (or queued the CLOSE of) its descriptor, so
 * an OPENAT parked for want of one goes out again, after that CLOSE.
 */
static void finish(struct req *req, int result)
{
	struct ring *ring = req->ring;
	ring_done_fn *done = req->rd.on_done;
	void *ctx = req->rd.ctx;

	req->next_free = ring->free;
	ring->free = req;
	ring->inflight--;
	count(&ring->stats.files, 1);
	while (ring->parked) {
		struct req *p = ring->parked;
		int r;

		ring->parked = p->next_free;
		ring->nparked--;
		r = queue_open(p);
		if (r == 0)
			break;
		finish(p, r);	/* the SQ cannot take it: as a failed open */
	}
	done(ctx, result);
}

static inline bool is_emfile(int err)
{
	return err == -EMFILE || err == -ENFILE;
}

/* ---- pread backend ------------------------------------------------------ */

static int sync_read(struct req *req, int fd)
{
	while (req->pos < req->end) {
		size_t want = RING_SLOT_BYTES;
		ssize_t n;

		if (want > req->end - req->pos)
			want = (size_t)(req->end - req->pos);
		n = pread(fd, req->buf, want, (off_t)req->pos);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Regular files ignore O_NONBLOCK almost everywhere; not everywhere. */
			if (errno == EAGAIN && req->eagain++ < RING_MAX_EAGAIN) {
				fcntl(fd, F_SETFL, req->oflags & ~O_NONBLOCK);
				continue;
			}
			return -errno;
		}
		if (n == 0)
			return -ESTALE; /* EOF before the expected size: it shrank */
		deliver(req, req->buf, (size_t)n);
	}
	return 0;
}

static void sync_serve(struct req *req)
{
	const struct ring_read *rd = &req->rd;
	int fd, r;

	fd = openat(rd->dirfd, rd->name, req->oflags);
	if (fd < 0 && errno == EPERM && (req->oflags & O_NOATIME)) {
		req->oflags &= ~O_NOATIME;
		fd = openat(rd->dirfd, rd->name, req->oflags);
	}
	if (fd < 0) {
		finish(req, ident_open_error(-errno));
		return;
	}
	r = check_before(req, fd);
	if (r == 0 && req->pos < req->end) {
		r = sync_read(req, fd);
		if (r == 0)
			r = check_after(req, fd);
	}
	close(fd);
	finish(req, r);
}

/*
 * A request submitted from a callback waits in a queue that the outermost
 * ring_submit() serves, so that a callback that always submits the next file
 * makes a loop here, not a recursion as deep as the list of files.
 */
static void sync_submit(struct ring *ring, struct req *req)
{
	req->next_free = NULL;
	if (ring->serving) {
		*ring->queue_tail = req;
		ring->queue_tail = &req->next_free;
		return;
	}
	ring->serving = true;
	ring->queue = req;
	ring->queue_tail = &req->next_free;
	while ((req = ring->queue)) {
		ring->queue = req->next_free;
		if (!ring->queue)
			ring->queue_tail = &ring->queue;
		sync_serve(req);
	}
	ring->serving = false;
}

/* ---- io_uring backend --------------------------------------------------- */

static inline uint64_t udata(struct req *req, enum tag tag, unsigned idx)
{
	return (uint64_t)(uintptr_t)req | (uint64_t)idx << IDX_SHIFT | tag;
}

static int flush(struct ring *ring, bool wait);

/*
 * An SQE, flushing queued ones if the SQ is full.  The SQ has room for every
 * op that can be outstanding (uring_setup() sizes it), so after a flush the
 * kernel has consumed the queue and there is room again; NULL only if that
 * flush failed (-EAGAIN from the kernel: out of memory for requests).
 */
static struct io_uring_sqe *get_sqe(struct ring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->uring_ring);

	if (!sqe && flush(ring, false) == 0)
		sqe = io_uring_get_sqe(&ring->uring_ring);
	if (sqe)
		ring->ops++;
	return sqe;
}

static int queue_open(struct req *req)
{
	struct io_uring_sqe *sqe = get_sqe(req->ring);

	if (!sqe)
		return -EAGAIN;
	io_uring_prep_openat(sqe, req->rd.dirfd, req->rd.name, req->oflags, 0);
	io_uring_sqe_set_data64(sqe, udata(req, TAG_OPEN, 0));
	req->pending = 1;
	return 0;
}

/* Close @req's fd and finish it with @result. */
static void uring_finish(struct req *req, int result)
{
	struct ring *ring = req->ring;
	struct io_uring_sqe *sqe = NULL;

	if (ring->has_close)
		sqe = get_sqe(ring);
	if (sqe) {
		/* The kernel drops the fd at issue; the CQE only needs reaping. */
		io_uring_prep_close(sqe, req->fd);
		io_uring_sqe_set_data64(sqe, TAG_CLOSE);
	} else {
		close(req->fd);
	}
	req->fd = -1;
	finish(req, result);
}

static int queue_round(struct req *req)
{
	struct ring *ring = req->ring;
	struct io_uring *u = &ring->uring_ring;
	uint64_t off = req->pos;
	unsigned n = 0, room;

	/* A chain must go out in one submission: make room for all of it first. */
	if (io_uring_sq_space_left(u) < RING_CHAIN)
		flush(ring, false);
	room = io_uring_sq_space_left(u);
	if (room == 0)
		return -EAGAIN;
	while (n < RING_CHAIN && n < room && off < req->end) {
		struct io_uring_sqe *sqe = get_sqe(ring);
		uint32_t len = RING_CHUNK;
		void *buf = req->buf + (size_t)n * RING_CHUNK;

		if (len > req->end - off)
			len = (uint32_t)(req->end - off);
		io_uring_prep_read(sqe, req->fd, buf, len, off);
		io_uring_sqe_set_data64(sqe, udata(req, TAG_READ, n));
		req->asked[n] = len;
		off += len;
		n++;
		if (n < RING_CHAIN && n < room && off < req->end)
			sqe->flags |= IOSQE_IO_LINK;
	}
	req->nchain = n;
	req->pending = n;
	return 0;
}

/* The file is open: check it, then read or finish. */
static void on_open(struct req *req, int res)
{
	struct ring *ring = req->ring;
	int r;

	if (res < 0) {
		if (res == -EPERM && (req->oflags & O_NOATIME)) {
			/* The owner changed since the walker looked; open without it. */
			req->oflags &= ~O_NOATIME;
			r = queue_open(req);
			if (r < 0)
				finish(req, r);
			return;
		}
		if (is_emfile(res) && ring->inflight - ring->nparked > 1) {
			/* Others of ours hold descriptors: wait for one to close. */
			ring->limit = ring->inflight - ring->nparked - 1;
			ring->clean_opens = 0;
			req->next_free = ring->parked;
			ring->parked = req;
			ring->nparked++;
			return;
		}
		finish(req, ident_open_error(res));
		return;
	}
	if (ring->limit < ring->depth && ++ring->clean_opens >= RING_REGROW_OPENS) {
		ring->limit++;
		ring->clean_opens = 0;
	}
	req->fd = res;
	r = check_before(req, req->fd);
	if (r < 0 || req->pos >= req->end) {
		uring_finish(req, r);
		return;
	}
	r = queue_round(req);
	if (r < 0)
		uring_finish(req, r);
}

/* Every CQE of the round is in: deliver in order, then continue or finish. */
static void on_round(struct req *req)
{
	int r = 0;

	for (unsigned i = 0; i < req->nchain; i++) {
		int res = req->res[i];

		if (res > 0) {
			deliver(req, req->buf + (size_t)i * RING_CHUNK, (size_t)res);
			if ((uint32_t)res == req->asked[i])
				continue;
			break; /* short: the rest was cancelled or is moot */
		}
		if (res == 0) {
			r = -ESTALE; /* EOF before the expected size: it shrank */
		} else if (res == -EAGAIN && req->eagain++ < RING_MAX_EAGAIN) {
			fcntl(req->fd, F_SETFL, req->oflags & ~O_NONBLOCK);
			break;
		} else {
			r = res;
		}
		uring_finish(req, r);
		return;
	}
	if (req->pos < req->end) {
		r = queue_round(req);
		if (r < 0)
			uring_finish(req, r);
		return;
	}
	uring_finish(req, check_after(req, req->fd));
}

static void on_cqe(struct ring *ring, uint64_t data, int res)
{
	struct req *req = (struct req *)(uintptr_t)(data & ~(uint64_t)63);
	unsigned tag = data & TAG_MASK;

	ring->ops--;
	switch (tag) {
	case TAG_OPEN:
		req->pending = 0;
		on_open(req, res);
		break;
	case TAG_READ:
		req->res[(data >> IDX_SHIFT) & IDX_MASK] = res;
		if (--req->pending == 0)
			on_round(req);
		break;
	default:
		/* TAG_CLOSE: the fd is gone either way; nothing waits on it. */
		break;
	}
}

/* Handle every CQE already posted; returns how many. */
static unsigned reap(struct ring *ring)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	/* One at a time: a callback may re-enter and reap too. */
	while (io_uring_peek_cqe(&ring->uring_ring, &cqe) == 0) {
		uint64_t data = cqe->user_data;
		int res = cqe->res;

		io_uring_cqe_seen(&ring->uring_ring, cqe);
		on_cqe(ring, data, res);
		n++;
	}
	return n;
}

/* Flush queued SQEs; with @wait, also block until a CQE is posted. */
static int flush(struct ring *ring, bool wait)
{
	for (;;) {
		int r = wait ? io_uring_submit_and_wait(&ring->uring_ring, 1)
			     : io_uring_submit(&ring->uring_ring);

		if (r >= 0)
			return 0;
		if (r == -EINTR)
			continue;
		/* CQ backlog (no IORING_FEAT_NODROP, or overflow): make room first. */
		if ((r == -EBUSY || r == -EAGAIN) && reap(ring) > 0)
			return 0;
		return r;
	}
}

static int uring_poll(struct ring *ring, bool wait)
{
	uint64_t before = counted(&ring->stats.files);
	int r;

	r = flush(ring, false);
	if (r < 0)
		return r;
	reap(ring);
	while (wait && counted(&ring->stats.files) == before && ring->inflight > 0) {
		/* Every request in flight is up the stack in a callback: none can end. */
		if (ring->ops == 0 && !io_uring_sq_ready(&ring->uring_ring))
			return -EDEADLK;
		r = flush(ring, true);
		if (r < 0)
			return r;
		reap(ring);
	}
	/* Hand the kernel what the callbacks queued (next rounds, closes, opens). */
	if (io_uring_sq_ready(&ring->uring_ring)) {
		r = flush(ring, false);
		if (r < 0)
			return r;
	}
	return (int)(counted(&ring->stats.files) - before);
}

static bool probe_ok(struct ring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&ring->uring_ring);
	bool good;

	if (!p)
		return false; /* before 5.6: no probe, and no OPENAT either */
	good = io_uring_opcode_supported(p, IORING_OP_OPENAT) &&
	       io_uring_opcode_supported(p, IORING_OP_READ);
	ring->has_close = !RING_TSAN && io_uring_opcode_supported(p, IORING_OP_CLOSE);
	io_uring_free_probe(p);
	return good;
}

static int uring_setup(struct ring *ring)
{
	struct io_uring_params params = {0};
	unsigned entries = 1;
	int r;

	/* Every slot may have a full chain, plus a CLOSE, queued at once. */
	while (entries < ring->depth * (RING_CHAIN + 1))
		entries <<= 1;
	r = io_uring_queue_init_params(entries, &ring->uring_ring, &params);
	if (r < 0)
		return r;
	if (!probe_ok(ring)) {
		r = -EOPNOTSUPP;
		goto out_exit;
	}
	ring->uring = true;
	return 0;

out_exit:
	io_uring_queue_exit(&ring->uring_ring);
	return r;
}

/* ---- interface ------------------------------------------------------------ */

int ring_new(enum ring_mode mode, unsigned depth, struct ring **ret)
{
	struct ring *ring;
	int r;

	if (mode != RING_AUTO && mode != RING_URING && mode != RING_SYNC)
		return -EINVAL;
	if (depth == 0)
		depth = RING_DEFAULT_DEPTH;
	if (depth > RING_MAX_DEPTH)
		return -EINVAL;

	ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	ring->mode = mode;
	ring->depth = depth;
	ring->limit = depth;
	ring->euid = geteuid();

	ring->slots = aligned_alloc(_Alignof(struct req), depth * sizeof(struct req));
	ring->pool_bytes = (size_t)depth * RING_SLOT_BYTES;
	if (posix_memalign((void **)&ring->pool, 4096, ring->pool_bytes) != 0)
		ring->pool = NULL;
	if (!ring->slots || !ring->pool) {
		r = -ENOMEM;
		goto out_free;
	}
	memset(ring->slots, 0, depth * sizeof(struct req));
	for (unsigned i = depth; i-- > 0;) {
		struct req *req = &ring->slots[i];

		req->ring = ring;
		req->fd = -1;
		req->buf = ring->pool + (size_t)i * RING_SLOT_BYTES;
		req->next_free = ring->free;
		ring->free = req;
	}

	if (mode != RING_SYNC) {
		r = uring_setup(ring);
		if (r < 0 && mode == RING_URING)
			goto out_free;
	}
	ring->stats.uring = ring->uring;
	*ret = ring;
	return 0;

out_free:
	ring_free(ring);
	return r;
}

void ring_free(struct ring *ring)
{
	if (!ring)
		return;
	if (ring->uring) {
		/* In-flight requests complete (callbacks run); then queued CLOSEs are reaped. */
		while (ring->ops > 0) {
			if (flush(ring, true) < 0)
				break;
			reap(ring);
		}
		io_uring_queue_exit(&ring->uring_ring);
	}
	free(ring->pool);
	free(ring->slots);
	free(ring);
}

int ring_submit(struct ring *ring, const struct ring_read *rd)
{
	struct req *req;
	int r;

	if (!rd->name || !rd->on_done)
		return -EINVAL;
	while (!(req = slot_get(ring))) {
		/* The pread backend has nothing to reap: only re-entry fills it. */
		if (!ring->uring)
			return -EBUSY;
		r = uring_poll(ring, true);
		if (r < 0)
			return r;
	}
	req->rd = *rd;
	req->oflags = open_flags(ring, rd);
	req->eagain = 0;
	req->fd = -1;
	if (!ring->uring) {
		sync_submit(ring, req);
		return 0;
	}
	r = queue_open(req);
	if (r < 0) {
		/* Not queued: give the slot back without calling on_done. */
		req->next_free = ring->free;
		ring->free = req;
		ring->inflight--;
	}
	return r;
}

int ring_poll(struct ring *ring, bool wait)
{
	if (!ring->uring)
		return 0;
	return uring_poll(ring, wait);
}

int ring_idle(struct ring *ring)
{
	int r;

	if (!ring || ring_inflight(ring) == 0)
		return 0;
	r = ring_poll(ring, true);
	return r < 0 ? r : 1;
}

int ring_give_back(struct ring *ring)
{
	if (!ring || !ring->uring || ring->mode != RING_AUTO || ring->inflight > 0)
		return 0;
	/* Queued CLOSEs first: their descriptors are ours too. */
	while (ring->ops > 0) {
		if (flush(ring, true) < 0)
			return 0;
		reap(ring);
	}
	io_uring_queue_exit(&ring->uring_ring);
	ring->uring = false;
	return 1;
}

unsigned ring_inflight(const struct ring *ring)
{
	return ring->inflight;
}

void ring_stats(const struct ring *ring, struct ring_stats *ret)
{
	ret->files = counted(&ring->stats.files);
	ret->bytes = counted(&ring->stats.bytes);
	ret->peak_inflight = atomic_load_explicit(&ring->stats.peak_inflight, memory_order_relaxed);
	ret->uring = ring->stats.uring;
}

int ring_parse_mode(const char *s, enum ring_mode *ret)
{
	static const char *const names[] = {
		[RING_AUTO] = "auto",
		[RING_URING] = "uring",
		[RING_SYNC] = "sync",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum ring_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

void ring_wait_tick(void)
{
	struct timespec res, now, coarse;

	if (clock_getres(CLOCK_REALTIME_COARSE, &res) < 0 || res.tv_sec || !res.tv_nsec)
		res = (struct timespec){ .tv_nsec = 10000000 }; /* HZ=100, the coarsest */
	/*
	 * Until the coarse clock has passed the precise time of now, which is
	 * after any ctime the file had: a tick is usually enough, but a busy
	 * virtual machine can let the coarse clock lag by several (bounded at
	 * about a second).
	 */
	clock_gettime(CLOCK_REALTIME, &now);
	for (int i = 0; i < 100; i++) {
		struct timespec d = res;

		while (nanosleep(&d, &d) < 0 && errno == EINTR)
			;
		clock_gettime(CLOCK_REALTIME_COARSE, &coarse);
		if (coarse.tv_sec > now.tv_sec ||
		    (coarse.tv_sec == now.tv_sec && coarse.tv_nsec > now.tv_nsec))
			break;
	}
}
