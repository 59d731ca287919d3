/* SPDX-License-Identifier: MIT */
/*
 * store-writer.c - the single writer thread: the producers' queue and its
 * backpressure, transactions, commits, the grow gate and map growth, and
 * replaying a transaction LMDB failed late.  What each op does to the
 * databases is store-ops.c's.
 *
 * Writing.  Producers (walker threads) append encoded ops to a private
 * struct wbuf and hand it off when it reaches handoff_bytes, or on flush:
 *
 *   producer ─► wbuf ─► queue (FIFO) ─► writer thread ─► held list ─► commit ─► free
 *                        └──── bytes: queued + held, bounded by queue_bytes ───┘
 *
 * Producers wait while `bytes` is over the bound (backpressure), so memory
 * stays bounded when LMDB is the slower side.  A handoff wakes the writer
 * only when it sleeps with no transaction open or an eighth of the bound has
 * been queued since the last wake; otherwise the transaction's deadline
 * does.  The writer applies ops in order inside one write transaction and
 * keeps every buffer it applied (the held list) until that transaction
 * commits, because LMDB can fail a transaction late: MDB_MAP_FULL (grow
 * the map, then replay the held ops from the transaction's start) or
 * MDB_TXN_FULL (too many dirty pages: replay in transactions of half the
 * work that failed).  A transaction commits once
 * it has done txn_records units of work (a put, or one node removed by a
 * subtree delete), is older than txn_ns, holds half the byte bound, or the
 * queue is empty and either producers are waiting or txn_ns has passed.  A
 * subtree delete removes leaves first and may commit part way (a tree with
 * fewer leaves is still a consistent tree), so deleting a million files does
 * not need one giant transaction; the op is simply applied again.  Nothing
 * begins a transaction but an op, so an idle writer commits nothing.
 *
 * Jobs.  Each buffer carries the job of the batch that filled it.  A
 * failure no replay mends (fail_txn()) fails every job with ops in the
 * transaction, and the job of the op that met it; the driver then rewinds
 * to the transaction's start as for a replay, and from there on skips the
 * buffers of failed jobs, so whatever other jobs queued goes on in a new
 * transaction, and a failed job's later ops (a child of a directory that
 * was lost) are never applied.  A job waiter counts like a producer waiting
 * for space: once the queue is empty the writer commits for it.
 *
 * A full disk.  Without MDB_WRITEMAP the map is address space only: LMDB
 * maps the file read-only and grows it by writing pages at commit
 * (writev()/pwrite() in mdb_page_flush()), never by ftruncate(), so growing
 * the map never fails for want of disk and ENOSPC shows up at commit, as
 * the write's errno or, after a short write, as EIO (write_errno() tells
 * them apart).  The meta pages are rewritten in place and need no new
 * blocks on a filesystem that overwrites in place; where one fails anyway,
 * LMDB refuses every later transaction (MDB_PANIC), so each later job fails
 * too, with -EIO, until the index is opened again.
 *
 * Growth.  mdb_env_set_mapsize() may only run while no transaction of this
 * process is open: it remaps, and every pointer into the old map dies.  The
 * grow gate is a writer-preferring shared/exclusive lock: reader snapshots
 * (from begin/renew until pause/free) and the writer's transaction hold it
 * shared; growing holds it exclusively.  It is a mutex and a condition
 * variable rather than a pthread rwlock because a reader may start its
 * snapshot on one thread and end it on another, which rwlocks forbid.  A
 * reader that meets MDB_MAP_RESIZED (another process grew the map) adopts
 * the new size the same way.  Hence: a thread must not hold a snapshot while
 * it waits on the writer (store_reader_pause()), nor start a second reader's
 * snapshot while holding one.
 */
#include "store-priv.h"

#include "errors.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define BATCH_INIT (16 * 1024)
#define BATCH_HANDOFF (256 * 1024) /* large enough to amortize the queue lock */
#define QUEUE_DEFAULT ((size_t)4 << 20) /* queued + held until commit: bounds memory */
#define TXN_RECORDS_DEFAULT 50000
#define TXN_NS_DEFAULT 1000000000
#define SPARE_MAX 4		 /* recycled buffers kept for producers */

/* ---- the grow gate ------------------------------------------------------ */

void store_gate_enter(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (g->exclusive || g->waiting)
		pthread_cond_wait(&g->cv, &g->mu);
	g->shared++;
	pthread_mutex_unlock(&g->mu);
}

void store_gate_leave(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	assert(g->shared > 0);
	if (--g->shared == 0 && g->waiting)
		pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

void store_gate_lock(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->waiting++;
	while (g->shared || g->exclusive)
		pthread_cond_wait(&g->cv, &g->mu);
	g->waiting--;
	g->exclusive = true;
	pthread_mutex_unlock(&g->mu);
}

void store_gate_unlock(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->exclusive = false;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/*
 * The map size to adopt when another process grew the data file past our
 * map: what the file holds now (LMDB rounds a smaller size up to the last
 * page in use), not the size that process mapped, which may be more than
 * our address space allows.  A writer keeps its own headroom.
 */
size_t store_remap_size(struct store *s)
{
	MDB_envinfo info;
	struct stat st;
	size_t size = 1;
	int fd;

	if (!mdb_env_get_fd(s->env, &fd) && fstat(fd, &st) == 0 && st.st_size > 0)
		size = (size_t)st.st_size;
	mdb_env_info(s->env, &info);
	if (!(s->flags & STORE_RDONLY) && size < info.me_mapsize)
		size = info.me_mapsize;
	return size;
}

/*
 * Begin a transaction holding the gate shared, or renew the reset read
 * transaction *txnp.  MDB_MAP_RESIZED: another process grew the data past
 * our map; remap while no transaction of ours is open, and retry.
 */
int store_txn_begin(struct store *s, unsigned flags, MDB_txn **txnp, bool renew)
{
	int rc;

	for (;;) {
		store_gate_enter(&s->gate);
		if (renew)
			rc = mdb_txn_renew(*txnp);
		else
			rc = mdb_txn_begin(s->env, NULL, flags, txnp);
		if (rc != MDB_MAP_RESIZED)
			break;
		store_gate_leave(&s->gate);
		store_gate_lock(&s->gate);
		rc = mdb_env_set_mapsize(s->env, store_remap_size(s));
		store_gate_unlock(&s->gate);
		if (rc)
			return store_lmdb_err(rc);
	}
	if (rc) {
		store_gate_leave(&s->gate);
		return store_lmdb_err(rc);
	}
	return 0;
}

/* ---- the writer thread ------------------------------------------------- */

static struct wbuf *wbuf_new(size_t cap)
{
	struct wbuf *b = calloc(1, sizeof(*b));

	if (b && !(b->data = malloc(cap))) {
		free(b);
		return NULL;
	}
	if (b)
		b->cap = cap;
	return b;
}

static void wbuf_free(struct wbuf *b)
{
	if (b)
		free(b->data);
	free(b);
}

/*
 * Fail @job with @r (its first error stays), under mu: its producers' calls
 * return the error from now on, and the writer drops its ops unapplied.
 * Returns whether the job was not failed before.
 */
static bool job_fail_locked(struct store_writer *w, struct store_job *job, int r)
{
	int none = 0;

	if (!atomic_compare_exchange_strong(&job->error, &none, r))
		return false;
	log_debug("index writer: a job failed: %s", fsi_strerror(r));
	atomic_compare_exchange_strong(&w->error, &none, r);
	none = 0;
	/* Known at once, not only when the writer finishes: a daemon names the index. */
	atomic_compare_exchange_strong(&w->store->write_error, &none, r);
	return true;
}

static bool job_failed(const struct wbuf *b)
{
	return atomic_load(&b->job->error) != 0;
}

/* Give @b's bytes back to the bound, and the buffer to the spares. */
static void release_locked(struct store_writer *w, struct wbuf *b)
{
	w->bytes -= b->len;
	b->job->pending--;
	b->job = NULL;
	if (w->nspare < SPARE_MAX) {
		b->len = 0;
		b->next = w->spare;
		w->spare = b;
		w->nspare++;
	} else {
		wbuf_free(b);
	}
}

/* After a commit: drop the buffers whose ops are all committed. */
static void release_committed(struct store_writer *w)
{
	if (w->pos_buf && w->pos_off == w->pos_buf->len && w->pos_buf->next) {
		w->pos_buf = w->pos_buf->next;
		w->pos_off = 0;
	}
	pthread_mutex_lock(&w->mu);
	while (w->held_head && w->held_head != w->pos_buf) {
		struct wbuf *b = w->held_head;

		w->held_head = b->next;
		w->held_bytes -= b->len;
		release_locked(w, b);
	}
	if (w->pos_buf && w->pos_off == w->pos_buf->len) {
		w->held_bytes -= w->pos_buf->len;
		release_locked(w, w->pos_buf);
		w->held_head = w->held_tail = w->pos_buf = NULL;
		w->pos_off = 0;
	}
	w->start_off = w->pos_off;
	pthread_cond_broadcast(&w->cv_space);
	pthread_mutex_unlock(&w->mu);
}

static int txn_open(struct store_writer *w)
{
	int r = store_txn_begin(w->store, 0, &w->txn, false);

	if (r < 0) {
		w->txn = NULL;
		return r;
	}
	w->txn_begin_ns = now_mono_ns();
	w->txn_ops = w->txn_work = w->txn_puts = 0;
	return 0;
}

static void txn_abort(struct store_writer *w)
{
	store_keys_drop(w);
	if (!w->txn)
		return;
	mdb_txn_abort(w->txn);
	w->txn = NULL;
	store_gate_leave(&w->store->gate);
}

/* Commit the open txn.  Returns 0 or LMDB's code (the txn is gone either way). */
static int txn_commit(struct store_writer *w)
{
	int rc = store_keys_put(w);

	if (!rc && w->debug_fail_commit && ++w->commit_tries == w->debug_fail_commit)
		rc = w->debug_fail_err;
	if (rc) {
		txn_abort(w);
		return rc;
	}
	rc = mdb_txn_commit(w->txn);
	w->txn = NULL;
	store_gate_leave(&w->store->gate);
	if (rc)
		return rc;
	w->stats.commits++;
	w->stats.records += w->txn_ops;
	release_committed(w);
	return 0;
}

/* Double the map, with no transaction of this process open. */
static int grow_map(struct store_writer *w)
{
	struct store *s = w->store;
	MDB_envinfo info;
	size_t size;
	int rc;

	store_gate_lock(&s->gate);
	mdb_env_info(s->env, &info);
	size = info.me_mapsize * 2;
	rc = size > info.me_mapsize ? mdb_env_set_mapsize(s->env, size) : ENOSPC;
	store_gate_unlock(&s->gate);
	if (rc)
		return store_lmdb_err(rc);
	w->stats.map_grows++;
	log_debug("index map grown to %zu bytes", size);
	return 0;
}

/*
 * LMDB reports a short write as EIO, and a full disk usually shows up as
 * one (the write fills the last blocks).  Say ENOSPC when the disk is full.
 */
static int write_errno(struct store *s, int rc)
{
	struct statvfs sv;
	int fd;

	if (rc == EIO && !mdb_env_get_fd(s->env, &fd) && fstatvfs(fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < ((uint64_t)1 << 20))
		return ENOSPC;
	return rc;
}

/*
 * The txn failed with @rc (it may already be gone).  For MDB_MAP_FULL grow
 * the map, for MDB_TXN_FULL lower the work per txn; then rewind to the
 * txn's first op so the driver replays it.  Anything else is an error.
 */
static int recover(struct store_writer *w, int rc)
{
	uint64_t work = w->txn_work;
	int r;

	txn_abort(w);
	if (rc == MDB_MAP_FULL) {
		r = grow_map(w);
		if (r < 0)
			return r;
	} else if (rc == MDB_TXN_FULL && work > 0) {
		w->split_limit = work / 2 ? work / 2 : 1;
		w->stats.txn_splits++;
		log_debug("index transaction full after %" PRIu64 " records, splitting", work);
	} else {
		return store_lmdb_err(write_errno(w->store, rc));
	}
	w->pos_buf = w->held_head;
	w->pos_off = w->start_off;
	return 0;
}

/*
 * Fail the jobs with ops in the held range [txn start, pos), and with
 * @at_pos the job of the op at pos too (it met the error).  Returns how many
 * jobs failed now.
 */
static unsigned fail_range(struct store_writer *w, int r, bool at_pos)
{
	unsigned n = 0;

	pthread_mutex_lock(&w->mu);
	for (struct wbuf *b = w->held_head; b; b = b->next) {
		size_t from = b == w->held_head ? w->start_off : 0;
		size_t to = b == w->pos_buf ? w->pos_off : b->len;

		if ((to > from || (b == w->pos_buf && at_pos)) && job_fail_locked(w, b->job, r))
			n++;
		if (b == w->pos_buf)
			break;
	}
	pthread_cond_broadcast(&w->cv_space);
	pthread_mutex_unlock(&w->mu);
	return n;
}

/*
 * The txn is lost to error @r, which no retry mends (ENOSPC, EIO, a record
 * that cannot be applied): every job with ops in it fails, and so does the
 * job of the op at pos if @at_pos.  Then rewind to the txn's start: the
 * replay drops the failed jobs' ops unapplied (their later ops too, so no
 * child is committed without its parent) and applies what other jobs
 * queued, in a new txn.  Each failure fails some job, so this ends.
 */
static void fail_txn(struct store_writer *w, int r, bool at_pos)
{
	txn_abort(w);
	if (!fail_range(w, r, at_pos) && !fail_range(w, r, true)) {
		/* Nothing left to blame (cannot happen): drop what is held. */
		w->pos_buf = w->held_tail;
		w->pos_off = w->pos_buf ? w->pos_buf->len : 0;
		release_committed(w);
		return;
	}
	w->pos_buf = w->held_head;
	w->pos_off = w->start_off;
}

/* The txn failed with LMDB's @rc: replay it if LMDB says how, else fail its jobs. */
static void txn_failed(struct store_writer *w, int rc, bool at_pos)
{
	int r = recover(w, rc);

	if (r < 0)
		fail_txn(w, r, at_pos);
}

/*
 * Apply the held ops from pos to the end, committing whenever the txn has
 * done its share, replaying after a recoverable failure and skipping the
 * ops of failed jobs.
 */
static void run_held(struct store_writer *w)
{
	size_t len;
	int rc;

	while (w->pos_buf) {
		if (w->txn && w->txn_work >= txn_limit(w)) {
			rc = txn_commit(w);
			if (rc)
				txn_failed(w, rc, false);
			continue;
		}
		if (w->pos_off == w->pos_buf->len) {
			if (!w->pos_buf->next)
				break;
			w->pos_buf = w->pos_buf->next;
			w->pos_off = 0;
			continue;
		}
		if (job_failed(w->pos_buf)) {
			w->pos_off = w->pos_buf->len; /* a buffer holds one job's ops */
			continue;
		}
		if (!w->txn) {
			rc = txn_open(w);
			if (rc < 0)
				fail_txn(w, rc, true);
			continue;
		}
		rc = store_apply_op(w, &len);
		if (rc == 0) {
			w->pos_off += len;
			w->txn_ops++;
		} else if (rc == STEP_YIELD) {
			rc = txn_commit(w);
			if (rc)
				txn_failed(w, rc, true);
		} else {
			txn_failed(w, rc, true);
		}
	}
	if (!w->txn)
		release_committed(w); /* what is behind pos was committed or dropped */
}

/* Commit everything applied so far, replaying as often as LMDB asks. */
static void commit_now(struct store_writer *w)
{
	int rc;

	while (w->txn) {
		rc = txn_commit(w);
		if (!rc)
			break;
		txn_failed(w, rc, false);
		run_held(w);
	}
}

static bool commit_due(const struct store_writer *w)
{
	return w->held_bytes >= w->queue_bytes / 2 || now_mono_ns() - w->txn_begin_ns >= w->txn_ns;
}

/*
 * Wait for the next buffer.  NULL means: commit now (producers are waiting
 * for bytes the txn holds or for their job, or it has been open for
 * txn_ns), and, if *ret_stop, then exit.
 */
static struct wbuf *queue_pop(struct store_writer *w, bool *ret_stop)
{
	struct wbuf *b = NULL;
	struct timespec ts;
	int64_t deadline;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->q_head) {
			b = w->q_head;
			w->q_head = b->next;
			if (!w->q_head)
				w->q_tail = NULL;
			b->next = NULL;
			break;
		}
		if (w->stopping) {
			*ret_stop = true;
			break;
		}
		if (!w->txn) {
			w->asleep = true;
			pthread_cond_wait(&w->cv_work, &w->mu);
			w->asleep = false;
			continue;
		}
		deadline = w->txn_begin_ns + w->txn_ns;
		if (w->space_waiters || w->job_waiters || now_mono_ns() >= deadline)
			break;
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
		pthread_cond_timedwait(&w->cv_work, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return b;
}

static void *writer_main(void *arg)
{
	struct store_writer *w = arg;
	bool stop = false;
	struct wbuf *b;

	while (!stop) {
		b = queue_pop(w, &stop);
		if (!b) {
			commit_now(w);
			continue;
		}
		if (w->discard || job_failed(b)) {
			pthread_mutex_lock(&w->mu);
			release_locked(w, b);
			pthread_cond_broadcast(&w->cv_space);
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		if (w->txn && commit_due(w))
			commit_now(w);
		if (w->held_tail)
			w->held_tail->next = b;
		else
			w->held_head = w->pos_buf = b;
		w->held_tail = b;
		w->held_bytes += b->len;
		run_held(w);
	}
	return NULL;
}

/* The last id in `node`, or 0 when empty. */
static int last_node_id(struct store *s, uint64_t *ret)
{
	MDB_cursor *cur;
	MDB_val key, val;
	MDB_txn *txn;
	int rc, r;

	r = store_txn_begin(s, MDB_RDONLY, &txn, false);
	if (r < 0)
		return r;
	rc = mdb_cursor_open(txn, s->dbi_node, &cur);
	if (!rc) {
		rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
		if (!rc)
			*ret = key.mv_size == 8 ? get_be64(key.mv_data) : 0;
		else if (rc == MDB_NOTFOUND)
			*ret = 0, rc = 0;
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	store_gate_leave(&s->gate);
	return store_lmdb_err(rc);
}

int store_writer_start(struct store *s, const struct store_writer_opts *opts,
		       struct store_writer **ret_writer)
{
	struct store_writer_opts o = {0};
	struct store_writer *w;
	pthread_condattr_t ca;
	uint64_t last = 0;
	int r;

	if (s->flags & STORE_RDONLY)
		return -EROFS;
	if (!s->locked)
		return -ENOLCK;
	if (s->writer)
		return -EBUSY;
	if (opts)
		o = *opts;
	r = store_upgrade(s);
	if (r == 0)
		r = last_node_id(s, &last);
	if (r < 0)
		return r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->store = s;
	atomic_init(&w->next_id, last >= NODE_ID_TOP ? last + 1 : NODE_ID_TOP + 1);
	atomic_init(&w->error, 0);
	w->job0.writer = w;
	atomic_init(&w->job0.error, 0);
	w->queue_bytes = o.queue_bytes ? o.queue_bytes : QUEUE_DEFAULT;
	w->handoff_bytes = w->queue_bytes / 4 < BATCH_HANDOFF ? w->queue_bytes / 4 : BATCH_HANDOFF;
	w->txn_records = o.txn_records ? o.txn_records : TXN_RECORDS_DEFAULT;
	w->discard = o.discard;
	w->txn_ns = o.txn_ns > 0 ? o.txn_ns : TXN_NS_DEFAULT;
	w->debug_txn_full = o.debug_txn_full;
	w->debug_fail_commit = o.debug_fail_commit;
	w->debug_fail_err = o.debug_fail_errno > 0 ? o.debug_fail_errno : EIO;
	w->hashes = (struct keyset){.dbi = s->dbi_hash, .len = 24};

	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv_work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->cv_space, NULL);

	r = -pthread_create(&w->thread, NULL, writer_main, w);
	if (r < 0) {
		pthread_cond_destroy(&w->cv_space);
		pthread_cond_destroy(&w->cv_work);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return r;
	}
	s->writer = w;
	*ret_writer = w;
	return 0;
}

uint64_t store_alloc_ids(struct store_writer *w, unsigned n)
{
	return atomic_fetch_add(&w->next_id, n);
}

int store_writer_finish(struct store_writer *w, struct store_write_stats *ret_stats)
{
	struct store *s = w->store;
	int r;

	assert(w->nbatches == 0);
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv_work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);

	/* The meta page of the last commit is not synced (MDB_NOMETASYNC). */
	r = w->stats.commits ? store_lmdb_err(write_errno(s, mdb_env_sync(s->env, 1))) : 0;
	if (atomic_load(&w->error))
		r = atomic_load(&w->error);
	if (r < 0) {
		int none = 0;

		atomic_compare_exchange_strong(&s->write_error, &none, r);
	}
	if (ret_stats)
		*ret_stats = w->stats;

	assert(!w->q_head && !w->held_head && !w->txn && !w->job0.pending);
	while (w->spare) {
		struct wbuf *b = w->spare;

		w->spare = b->next;
		wbuf_free(b);
	}
	free(w->stack);
	free(w->hashes.keys);
	free(w->grams.v);
	free(w->grams.tmp);
	free(w->grams.ids);
	store_keys_free(w);
	pthread_cond_destroy(&w->cv_space);
	pthread_cond_destroy(&w->cv_work);
	pthread_mutex_destroy(&w->mu);
	s->writer = NULL;
	free(w);
	return r;
}

/* ---- producers ---------------------------------------------------------- */

int store_job_new(struct store_writer *w, struct store_job **ret_job)
{
	struct store_job *job = calloc(1, sizeof(*job));

	if (!job)
		return -ENOMEM;
	job->writer = w;
	atomic_init(&job->error, 0);
	*ret_job = job;
	return 0;
}

int store_job_wait(struct store_job *job)
{
	struct store_writer *w = job->writer;
	int r;

	pthread_mutex_lock(&w->mu);
	if (job->pending) {
		/* Once the queue is empty the writer commits for us, not at its deadline. */
		w->job_waiters++;
		pthread_cond_signal(&w->cv_work);
		while (job->pending)
			pthread_cond_wait(&w->cv_space, &w->mu);
		w->job_waiters--;
	}
	r = atomic_load(&job->error);
	pthread_mutex_unlock(&w->mu);
	return r;
}

void store_job_free(struct store_job *job)
{
	if (!job)
		return;
	assert(job->nbatches == 0 && job != &job->writer->job0);
	store_job_wait(job); /* the writer's buffers point at the job */
	free(job);
}

int store_batch_new(struct store_writer *w, struct store_job *job, struct store_batch **ret_batch)
{
	struct store_batch *b;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->writer = w;
	b->job = job ? job : &w->job0;
	b->buf = wbuf_new(BATCH_INIT);
	if (!b->buf) {
		free(b);
		return -ENOMEM;
	}
	pthread_mutex_lock(&w->mu);
	w->nbatches++;
	b->job->nbatches++;
	pthread_mutex_unlock(&w->mu);
	*ret_batch = b;
	return 0;
}

/* Queue the batch's buffer, waiting while the queue is over its bound. */
static int batch_handoff(struct store_batch *b)
{
	struct store_writer *w = b->writer;
	struct wbuf *buf = b->buf, *next;
	struct store_job *job = b->job;
	int r;

	if (!buf || !buf->len)
		return atomic_load(&job->error);
	/*
	 * The bound counts bytes used; a walker flushes once per new directory,
	 * often with little in the buffer, so give the slack back first or the
	 * held buffers would cost far more than the bound says.
	 */
	if (buf->cap - buf->len > buf->len + 1024) {
		void *p = realloc(buf->data, buf->len);

		if (p) {
			buf->data = p;
			buf->cap = buf->len;
		}
	}
	pthread_mutex_lock(&w->mu);
	while (!atomic_load(&job->error) && w->bytes >= w->queue_bytes) {
		w->space_waiters++;
		pthread_cond_signal(&w->cv_work);
		pthread_cond_wait(&w->cv_space, &w->mu);
		w->space_waiters--;
	}
	r = atomic_load(&job->error);
	if (r) {
		/* Nothing of a failed job is committed any more: drop the records. */
		pthread_mutex_unlock(&w->mu);
		buf->len = 0;
		return r;
	}
	buf->job = job;
	job->pending++;
	if (w->q_tail)
		w->q_tail->next = buf;
	else
		w->q_head = buf;
	w->q_tail = buf;
	w->bytes += buf->len;
	/*
	 * A walker hands off a small batch per directory: waking the writer
	 * for each would cost a context switch per directory.  With a
	 * transaction open the writer wakes by its deadline anyway, so wake
	 * it early only once a good share of the bound has piled up.
	 */
	w->unsignalled += buf->len;
	if (w->asleep || w->unsignalled >= w->queue_bytes / 8) {
		w->unsignalled = 0;
		pthread_cond_signal(&w->cv_work);
	}
	next = w->spare;
	if (next) {
		w->spare = next->next;
		w->nspare--;
		next->next = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	b->buf = next ? next : wbuf_new(BATCH_INIT);
	return 0;
}

/* Room for @need more bytes in the batch's buffer. */
int store_batch_reserve(struct store_batch *b, size_t need)
{
	struct wbuf *buf = b->buf;

	if (!buf && !(buf = b->buf = wbuf_new(BATCH_INIT)))
		return -ENOMEM;
	return GROW(buf->data, buf->cap, buf->len + need);
}

int store_batch_added(struct store_batch *b)
{
	if (b->buf->len >= b->writer->handoff_bytes)
		return batch_handoff(b);
	return 0;
}

int store_batch_flush(struct store_batch *b)
{
	return batch_handoff(b);
}

size_t store_batch_pending(const struct store_batch *b)
{
	return b->buf ? b->buf->len : 0;
}

void store_batch_free(struct store_batch *b)
{
	struct store_writer *w;

	if (!b)
		return;
	w = b->writer;
	batch_handoff(b);
	wbuf_free(b->buf);
	pthread_mutex_lock(&w->mu);
	w->nbatches--;
	b->job->nbatches--;
	pthread_mutex_unlock(&w->mu);
	free(b);
}
