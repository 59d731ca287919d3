/* SPDX-License-Identifier: MIT */
/*
 * dups.c - finding duplicate files in the index: the reading stages,
 * grouping and the result.
 *
 * Candidates come from the scan that precedes the search (dups-collect.c:
 * the walker hands every regular file it sees, with the hashes the index
 * holds for it, to dups_collect()), so no second pass over the index is
 * needed.  Then the stages, each reading only what the previous one left
 * standing:
 *
 *   sort by (size, dev, ino)  ──► inodes: hard links fold into one file
 *   same size?                ──► read the first 4 KiB      (files <= 8 KiB:
 *   same size and head?       ──► read the last 4 KiB        read whole once,
 *   same size, head and tail? ──► read everything             all three done)
 *   same full XXH3-128?       ──► a group (--verify: and the same bytes)
 *
 * A hash already in the index is used as it is: the scan just checked the
 * file's stat tuple, and the walker drops stored hashes when it changes.  So
 * a second run over an unchanged tree reads nothing.  Hashes computed here
 * are written back (opts->record) when the file still has the stat tuple it
 * had when it was read.
 *
 * Reads run on the engine's pool (engine.h), one task group per stage: a
 * task per batch of files queues their reads (readhash.h) on its worker's
 * ring, each holding the group until it completes, and the engine's idle
 * hook drains the ring; completions only fill in their own candidate, so no
 * locks are needed.  Each read checks the file is still what the index says (ring.c),
 * so a file changed since the scan is left out instead of hashed wrongly.
 *
 * A worker holds its ring (one descriptor with io_uring), a file per read
 * in flight and, for a path past PATH_MAX, the directory it is opened in:
 * no more than a walker, so the engine's descriptor plan covers the reads
 * here too.  Should a read meet EMFILE anyway with nothing else of its ring
 * in flight (ring.c waits for those), it waits on the engine's list for its
 * worker (engine_defer()): once the ring is idle, the idle hook lets the
 * other workers close theirs for a moment, has the ring give back its own
 * (ring_give_back(): io_uring becomes pread) and submits it again.  Only a
 * read that keeps failing is left out.
 */
#include "dups.h"

#include "cancel.h"
#include "dups-priv.h"
#include "engine.h"
#include "hash.h"
#include "ident.h"
#include "node.h"
#include "readhash.h"
#include "ring.h"
#include "store.h"
#include "task.h"
#include "util.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files up to this size are read whole at the first stage: that is cheaper than two reads. */
#define SMALL_FILE (2 * HASH_PARTIAL)
/* Reads in flight per worker, and files per task. */
#define READ_DEPTH 16
#define BATCH 64

enum stage { STAGE_SIZE, STAGE_HEAD, STAGE_TAIL, STAGE_FULL };

struct reader {
	struct readhash rh;
	struct dups *d;
	struct worker *w;
	struct cand *c;
	enum stage stage;
	int dirfd;			/* to close when done, or -1 */
	char name[PATH_MAX];		/* what the ring opens relative to rh.dirfd */
};

struct worker {
	struct ring *ring;
	char *path;			/* whole path being opened or reported */
	size_t path_cap;
	struct reader *free_readers[READ_DEPTH * 2];
	unsigned nfree;
} __attribute__((aligned(64)));

struct batch_task {
	struct task task;
	struct dups *d;
	size_t *idx;			/* candidates to read */
	size_t n;
	enum stage stage;
};

struct dups {
	struct engine *engine;
	struct store *store;		/* the engine's */
	const struct dups_opts *opts;
	struct dups_priv *p;
	struct task_group *group;	/* the stage being read: its tasks and reads */
	struct worker *workers;		/* one per engine worker */
	unsigned nworkers;
	atomic_int fatal;
	atomic_uint_fast64_t head_reads, full_reads, bytes, errors;
};

/* ---- reading --------------------------------------------------------- */

static void set_fatal(struct dups *d, int err)
{
	int expected = 0;

	atomic_compare_exchange_strong(&d->fatal, &expected, err);
}

static struct reader *reader_get(struct dups *d, struct worker *w)
{
	struct reader *rd;

	if (w->nfree)
		return w->free_readers[--w->nfree];
	rd = malloc(sizeof(*rd));
	if (!rd)
		return NULL;
	if (readhash_init(&rd->rh) < 0) {
		free(rd);
		return NULL;
	}
	rd->d = d;
	rd->dirfd = -1;
	return rd;
}

static void reader_free(struct reader *rd)
{
	readhash_destroy(&rd->rh);
	free(rd);
}

static void reader_put(struct worker *w, struct reader *rd)
{
	if (rd->dirfd >= 0)
		close(rd->dirfd);
	rd->dirfd = -1;
	if (w->nfree < ARRAY_SIZE(w->free_readers))
		w->free_readers[w->nfree++] = rd;
	else
		reader_free(rd);
}

/* The read of @rd's candidate is over: keep its digests, or leave it out. */
static void read_done(struct readhash *rh, int result)
{
	struct reader *rd = container_of(rh, struct reader, rh);
	struct dups *d = rd->d;
	struct cand *c = rd->c;
	struct hash128 head, tail, full;

	if (result < 0) {
		ssize_t len = dups_full_path(d->p, c, &rd->w->path, &rd->w->path_cap);

		c->err = result;
		atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
		if (d->opts->on_error && len >= 0)
			d->opts->on_error(d->opts->error_ctx, rd->w->path, (size_t)len, result);
	} else if (readhash_whole(rh)) {
		/* The whole file was read: all three at once. */
		readhash_digests(rh, &head, &tail, &full);
		memcpy(dg(d->p, c)->head, head.b, 16);
		memcpy(dg(d->p, c)->tail, tail.b, 16);
		memcpy(dg(d->p, c)->full, full.b, 16);
		c->have = c->dirty = HAVE_HEAD | HAVE_TAIL | HAVE_FULL;
	} else {
		uint8_t have = rd->stage == STAGE_HEAD ? HAVE_HEAD : HAVE_TAIL;

		readhash_digest(rh, &head);
		memcpy(have == HAVE_HEAD ? dg(d->p, c)->head : dg(d->p, c)->tail, head.b, 16);
		c->have |= have;
		c->dirty |= have;
	}
	if (result >= 0) {
		atomic_fetch_add_explicit(&d->bytes, rh->length, memory_order_relaxed);
		if (d->opts->progress)
			atomic_fetch_add_explicit(&d->opts->progress->bytes_done, rh->length,
						  memory_order_relaxed);
	}
	if (d->opts->progress)
		atomic_fetch_add_explicit(&d->opts->progress->files_done, 1, memory_order_relaxed);
	reader_put(rd->w, rd);
	task_group_release(d->group);
}

/*
 * Out of descriptors with nothing else of this ring in flight: the read
 * waits on the engine's list for this worker until its ring is idle (the
 * engine's idle hook gives the ring's own descriptors back and submits it
 * again), not here inside the ring's callback.
 */
static enum readhash_emfile read_emfile(struct readhash *rh, unsigned tries)
{
	struct reader *rd = container_of(rh, struct reader, rh);

	engine_defer(rd->d->engine, (unsigned)(rd->w - rd->d->workers), rh);
	return READHASH_LATER;
}

/*
 * Name @path for the ring: as it is when short enough, else open its
 * directory in pieces (ident.h) and name the last component.
 */
static int reader_target(struct reader *rd, const char *path, size_t len)
{
	const char *base;
	int fd;

	if (len < PATH_MAX) {
		memcpy(rd->name, path, len + 1);
		rd->rh.dirfd = AT_FDCWD;
		return 0;
	}
	fd = ident_open_parent(path, len, &base, NULL);
	if (fd < 0)
		return fd;
	memcpy(rd->name, base, len - (size_t)(base - path) + 1);
	rd->dirfd = rd->rh.dirfd = fd;
	return 0;
}

static void read_one(struct dups *d, struct worker *w, struct cand *c, enum stage stage)
{
	struct reader *rd = reader_get(d, w);
	struct readhash *rh;
	ssize_t len;
	int r;

	if (!rd) {
		set_fatal(d, -ENOMEM);
		return;
	}
	/* Released by read_done(), which every path below ends in. */
	task_group_hold(d->group);
	rd->w = w;
	rd->c = c;
	rd->stage = stage;
	rh = &rd->rh;
	len = dups_full_path(d->p, c, &w->path, &w->path_cap);
	r = len < 0 ? (int)len : reader_target(rd, w->path, (size_t)len);
	if (r < 0) {
		read_done(rh, r);	/* nothing named to submit again */
		return;
	}
	rh->name = rd->name;
	rh->id = c->fid;
	rh->uid = c->uid;
	if (stage == STAGE_FULL || c->fid.size <= SMALL_FILE) {
		rh->offset = 0;
		rh->length = c->fid.size;
		atomic_fetch_add_explicit(&d->full_reads, 1, memory_order_relaxed);
	} else {
		/* Only the digest of the range is wanted. */
		rh->offset = stage == STAGE_HEAD ? 0 : c->fid.size - HASH_PARTIAL;
		rh->length = HASH_PARTIAL;
		atomic_fetch_add_explicit(&d->head_reads, 1, memory_order_relaxed);
	}
	rh->on_done = read_done;
	rh->on_emfile = read_emfile;
	readhash_start(w->ring, rh);
}

static void batch_run(struct task *task, struct task_worker *tw)
{
	struct batch_task *bt = container_of(task, struct batch_task, task);
	struct dups *d = bt->d;
	struct worker *w = &d->workers[task_worker_id(tw)];
	int r;

	r = engine_ring(d->engine, tw, &w->ring);
	if (r < 0) {
		set_fatal(d, r);
		return;
	}
	for (size_t i = 0; i < bt->n; i++) {
		if (atomic_load(&d->fatal) || cancel_requested(d->opts->cancel))
			break;
		read_one(d, w, &d->p->c[bt->idx[i]], bt->stage);
	}
	r = ring_poll(w->ring, false);
	if (r < 0)
		set_fatal(d, r);
}

/* Read the candidates @idx[0..n) for @stage on the pool. */
static int read_stage(struct dups *d, const size_t *idx, size_t n, enum stage stage)
{
	size_t ntasks = (n + BATCH - 1) / BATCH;
	struct batch_task *tasks;
	int r;

	if (n == 0)
		return 0;
	if (d->opts->progress) {
		atomic_store(&d->opts->progress->files_done, 0);
		atomic_store(&d->opts->progress->files_total, n);
		atomic_store(&d->opts->progress->stage, (int)stage);
	}
	tasks = calloc(ntasks, sizeof(*tasks));
	if (!tasks)
		return -ENOMEM;
	r = task_group_new(engine_pool(d->engine),
			   d->opts->cancel ? d->opts->cancel : engine_cancel(d->engine), &d->group);
	if (r < 0) {
		free(tasks);
		return r;
	}
	for (size_t t = 0; t < ntasks; t++) {
		tasks[t].task.fn = batch_run;
		tasks[t].d = d;
		tasks[t].idx = (size_t *)idx + t * BATCH;
		tasks[t].n = t + 1 < ntasks ? BATCH : n - t * BATCH;
		tasks[t].stage = stage;
		task_group_submit(d->group, &tasks[t].task);
	}
	task_group_wait(d->group);
	task_group_free(d->group);
	d->group = NULL;
	free(tasks);
	r = 0;
	if (r == 0)
		r = atomic_load(&d->fatal);
	if (r == 0 && cancel_requested(d->opts->cancel))
		r = -ECANCELED;
	return r;
}

/* ---- grouping -------------------------------------------------------- */

static int cmp_key(const struct dups_priv *p, const struct cand *a, const struct cand *b,
		   enum stage stage)
{
	const struct digests *da, *db;
	int c;

	if (a->fid.size != b->fid.size)
		return a->fid.size < b->fid.size ? -1 : 1;
	if (stage == STAGE_SIZE)
		return 0;
	da = dg(p, a);
	db = dg(p, b);
	c = memcmp(da->head, db->head, 16);
	if (c || stage == STAGE_HEAD)
		return c;
	c = memcmp(da->tail, db->tail, 16);
	if (c || stage == STAGE_TAIL)
		return c;
	return memcmp(da->full, db->full, 16);
}

/* What cmp_idx() compares: candidates of @p by their key up to @stage. */
struct idx_order {
	const struct dups_priv *p;
	enum stage stage;
};

static int cmp_idx(const void *va, const void *vb, void *ctx)
{
	const struct idx_order *o = ctx;
	const struct cand *a = &o->p->c[*(const size_t *)va];
	const struct cand *b = &o->p->c[*(const size_t *)vb];
	int c = cmp_key(o->p, a, b, o->stage);

	return c ? c : (*(const size_t *)va < *(const size_t *)vb ? -1 : 1);
}

/*
 * Keep the candidates that share their key up to @stage with another one;
 * failed reads drop out.  @idx comes grouped by the key of stage @grouped
 * (by size for STAGE_SIZE: the inode order), so only each such group needs
 * sorting, not the whole array.  Returns the new count.
 */
static size_t keep_shared_from(struct dups_priv *p, size_t *idx, size_t n, enum stage grouped,
			       enum stage stage)
{
	size_t out = 0, m = 0;

	for (size_t k = 0; k < n; k++)
		if (!p->c[idx[k]].err)
			idx[m++] = idx[k];
	struct idx_order order = {p, stage};

	for (size_t g = 0; g < m;) {
		size_t end = g + 1;

		while (end < m && cmp_key(p, &p->c[idx[g]], &p->c[idx[end]], grouped) == 0)
			end++;
		if (stage != STAGE_SIZE && end - g > 2)
			qsort_r(idx + g, end - g, sizeof(*idx), cmp_idx, &order);
		for (size_t i = g; i < end;) {
			size_t j = i + 1;

			while (j < end && cmp_key(p, &p->c[idx[i]], &p->c[idx[j]], stage) == 0)
				j++;
			if (j - i >= 2)
				for (size_t k = i; k < j; k++)
					idx[out++] = idx[k];
			i = j;
		}
		g = end;
	}
	return out;
}

/* keep_shared_from() of @idx grouped by the key of the stage before @stage. */
static size_t keep_shared(struct dups_priv *p, size_t *idx, size_t n, enum stage stage)
{
	return keep_shared_from(p, idx, n, stage == STAGE_SIZE ? STAGE_SIZE : stage - 1, stage);
}

/* Those of @idx[0..n) still missing @have. */
static size_t missing(const struct dups_priv *p, const size_t *idx, size_t n, uint8_t have,
		      size_t *ret)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if ((p->c[idx[i]].have & have) != have)
			ret[m++] = idx[i];
	return m;
}

/* ---- verifying ------------------------------------------------------- */

/* What the comparisons of one build_groups() reuse: two buffers and a path. */
struct verify {
	void *buf[2];			/* IDENT_CMP_CHUNK each */
	char *path;
	size_t cap;
};

/*
 * Open candidate @c by its path (of any length), read-only, and check it is
 * still the regular file that was hashed (IDENT_CONTENT).  Returns the fd,
 * -ESTALE when it is not, or -errno.
 */
static int open_cand(const struct dups_priv *p, const struct cand *c, struct verify *v)
{
	const int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
	ssize_t len = dups_full_path(p, c, &v->path, &v->cap);
	const char *name = v->path;
	int dirfd = AT_FDCWD, fd, r;

	if (len < 0)
		return (int)len;
	if (len >= PATH_MAX && (dirfd = ident_open_parent(v->path, (size_t)len, &name, NULL)) < 0)
		return dirfd;
	fd = openat(dirfd, name, flags);
	if (fd < 0)
		fd = ident_open_error(-errno);
	if (dirfd >= 0)
		close(dirfd);
	if (fd < 0)
		return fd;
	r = ident_check_fd(&c->fid, fd, IDENT_CONTENT, NULL, NULL);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/*
 * --verify: are candidates @a and @b byte for byte the same?  1, 0, or
 * -errno (-ESTALE: one is no longer the file that was hashed, or shrank).
 */
static int compare_files(const struct dups_priv *p, const struct cand *a, const struct cand *b,
			 struct verify *v)
{
	int fa = open_cand(p, a, v), fb = fa < 0 ? -1 : open_cand(p, b, v);
	int r = fa < 0 ? fa : fb;

	if (r >= 0)
		r = ident_compare_fds(fa, fb, b->fid.size, v->buf[0], v->buf[1], NULL);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return r;
}

/* ---- writing back ---------------------------------------------------- */

static int record_hashes(struct dups *d, const size_t *idx, size_t n)
{
	struct store_writer *writer = engine_writer(d->engine);
	struct store_job *job = NULL;
	struct store_reader *rd = NULL;
	struct store_batch *batch = NULL;
	int r, fr;

	if (n == 0 || !writer)
		return 0;
	r = store_job_new(writer, &job);
	if (r < 0)
		return r;
	r = store_reader_new(d->store, &rd);
	if (r < 0)
		goto out;
	r = store_batch_new(writer, job, &batch);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct cand *c = &d->p->c[idx[i]];
		char name[NODE_NAME_MAX];
		struct node cur;

		if (!c->dirty || c->err)
			continue;
		/* Only onto the record the content was read against. */
		r = store_get_node(rd, c->id, &cur);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0 || !ident_node_is(&c->fid, &cur))
			continue;
		memcpy(cur.head, dg(d->p, c)->head, 16);
		memcpy(cur.tail, dg(d->p, c)->tail, 16);
		memcpy(cur.full, dg(d->p, c)->full, 16);
		cur.hash_state = (c->have & HAVE_FULL)	   ? NODE_HASH_FULL
				 : (c->have & HAVE_TAIL) ? NODE_HASH_PARTIAL
							 : NODE_HASH_HEAD;
		/* The put may wait for the writer: release the snapshot, keep a copy of the name. */
		memcpy(name, cur.name, cur.name_len);
		cur.name = name;
		store_reader_pause(rd);
		r = store_batch_put(batch, &cur, false);
	}
out:
	store_batch_free(batch);
	store_reader_free(rd);
	/* Committed, or failed with the job's own error: the writer goes on. */
	fr = store_job_wait(job);
	store_job_free(job);
	return r < 0 ? r : fr;
}

/* ---- results --------------------------------------------------------- */

static int cmp_group(const void *va, const void *vb)
{
	const struct dups_group *a = va, *b = vb;
	uint64_t ra = dups_group_reclaimable(a), rb = dups_group_reclaimable(b);
	const struct dups_name *na = &a->files[0].names[0], *nb = &b->files[0].names[0];
	int c;

	if (ra != rb)
		return ra > rb ? -1 : 1;
	if (na->root != nb->root)
		return na->root < nb->root ? -1 : 1;
	c = memcmp(na->path, nb->path, na->len < nb->len ? na->len : nb->len);
	return c ? c : (na->len < nb->len ? -1 : na->len > nb->len);
}

static int cmp_file(const void *va, const void *vb)
{
	const struct dups_file *a = va, *b = vb;
	const struct dups_name *na = &a->names[0], *nb = &b->names[0];
	int c;

	if (na->root != nb->root)
		return na->root < nb->root ? -1 : 1;
	c = memcmp(na->path, nb->path, na->len < nb->len ? na->len : nb->len);
	return c ? c : (na->len < nb->len ? -1 : na->len > nb->len);
}

bool dups_is_temp_name(const char *name, size_t len, size_t *ret_base_len)
{
	const size_t tag = sizeof(DUPS_TEMP_TAG) - 1, extra = 1 + tag + DUPS_TEMP_RANDOM;
	const char *t;

	/* At least one byte of NAME, and never more than dupact.c keeps of it. */
	if (len <= extra || len - extra > DUPS_TEMP_MAX_BASE || name[0] != '.')
		return false;
	t = name + len - DUPS_TEMP_RANDOM - tag;
	if (memcmp(t, DUPS_TEMP_TAG, tag) != 0)
		return false;
	for (size_t i = 0; i < DUPS_TEMP_RANDOM; i++) {
		unsigned char ch = (unsigned char)t[tag + i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9')))
			return false;
	}
	if (ret_base_len)
		*ret_base_len = len - extra;
	return true;
}

static bool cand_is_temp(const struct dups_priv *p, const struct cand *c)
{
	const char *path = cand_path(p, c), *slash = memrchr(path, '/', c->path_len);
	const char *base = slash ? slash + 1 : path;

	return dups_is_temp_name(base, c->path_len - (size_t)(base - path), NULL);
}

/* Append the name of candidate @t to @f's names (or temps) at *@name_pos. */
static int add_name(struct dups_priv *p, const struct cand *t, size_t *name_pos, size_t *count)
{
	struct dups_name *nm = &p->names[(*name_pos)++];
	char *path = NULL;
	size_t cap = 0;
	ssize_t len = dups_full_path(p, t, &path, &cap);

	/* Owned by the result: p->nnames counts what dups_result_destroy() frees. */
	p->nnames = *name_pos;
	if (len < 0)
		return (int)len;
	nm->path = path;
	nm->len = (size_t)len;
	nm->root = t->root;
	(*count)++;
	return 0;
}

/*
 * Describe candidate @ci as a file with all its names.  Leftover temporary
 * names of an interrupted --link go to f->temps, after the others, but only
 * when the inode has another name here: a lone name of that shape may be the
 * user's, and stays an ordinary name.
 */
static int fill_file(struct dups_priv *p, size_t ci, struct dups_file *f, size_t *name_pos)
{
	struct cand *c = &p->c[ci], *t;
	size_t others = 0;
	int r;

	for (t = c;; t = &p->c[t->next_name]) {
		others += !cand_is_temp(p, t);
		if (t->next_name == UINT32_MAX)
			break;
	}
	f->dev = c->fid.dev;
	f->ino = c->fid.ino;
	f->size = c->fid.size;
	f->mtime_sec = c->fid.mtime_sec;
	f->mtime_nsec = c->fid.mtime_nsec;
	f->ctime_sec = c->fid.ctime_sec;
	f->ctime_nsec = c->fid.ctime_nsec;
	f->nlink = c->nlink;
	f->uid = c->uid;
	f->id = 0;
	f->names = &p->names[*name_pos];
	f->nnames = 0;
	for (t = c;; t = &p->c[t->next_name]) {
		if (!others || !cand_is_temp(p, t)) {
			if (!f->nnames)
				f->id = t->id;
			r = add_name(p, t, name_pos, &f->nnames);
			if (r < 0)
				return r;
		}
		if (t->next_name == UINT32_MAX)
			break;
	}
	f->temps = &p->names[*name_pos];
	f->ntemps = 0;
	for (t = c; others;) {
		if (cand_is_temp(p, t)) {
			r = add_name(p, t, name_pos, &f->ntemps);
			if (r < 0)
				return r;
		}
		if (t->next_name == UINT32_MAX)
			break;
		t = &p->c[t->next_name];
	}
	return 0;
}

/*
 * --verify: split the run @idx[i..j) of equal full hashes into classes of
 * identical bytes; cls[k - i] is the class of idx[k], SIZE_MAX for a file
 * that could not be compared (reported, left out).  Returns the number of
 * classes.
 */
static size_t classify(struct dups *d, struct verify *v, const size_t *idx, size_t i, size_t j,
		       size_t *cls)
{
	struct dups_priv *p = d->p;
	size_t nclass = 0;

	for (size_t k = i; k < j; k++) {
		const struct cand *ck = &p->c[idx[k]];
		size_t c;

		for (c = 0; c < nclass; c++) {
			const struct cand *rep = NULL;
			int r;

			for (size_t q = i; q < k && !rep; q++)
				if (cls[q - i] == c)
					rep = &p->c[idx[q]];
			r = compare_files(p, rep, ck, v);
			if (r < 0) {
				ssize_t len = dups_full_path(p, ck, &v->path, &v->cap);

				if (d->opts->on_error && len >= 0)
					d->opts->on_error(d->opts->error_ctx, v->path, (size_t)len, r);
				atomic_fetch_add(&d->errors, 1);
				c = SIZE_MAX;
				break;
			}
			if (r == 1)
				break;
		}
		if (c == nclass)
			nclass++;
		cls[k - i] = c;
	}
	return nclass;
}

/*
 * Turn class @c of the run @idx[i..j) into the next group of @res when it
 * has two files or more.  *@nf and *@name_pos are the files and names of
 * p used so far.  Returns 0 or -ENOMEM.
 */
static int add_group(struct dups_priv *p, const size_t *idx, size_t i, size_t j,
		     const size_t *cls, size_t c, size_t *nf, size_t *name_pos,
		     struct dups_result *res)
{
	struct dups_group *g = &res->groups[res->ngroups];
	size_t first = *nf;
	int r;

	for (size_t k = i; k < j; k++) {
		if (cls[k - i] != c)
			continue;
		r = fill_file(p, idx[k], &p->files[(*nf)++], name_pos);
		if (r < 0)
			return r;
	}
	if (*nf - first < 2) {
		*nf = first;
		return 0;
	}
	g->size = p->c[idx[i]].fid.size;
	memcpy(g->hash.b, dg(p, &p->c[idx[i]])->full, 16);
	g->files = &p->files[first];
	g->nfiles = *nf - first;
	qsort(g->files, g->nfiles, sizeof(*g->files), cmp_file);
	res->ngroups++;
	return 0;
}

/*
 * Turn runs of equal full hashes in @idx[0..n) into groups; with --verify,
 * split each run into classes of identical bytes.
 */
static int build_groups(struct dups *d, const size_t *idx, size_t n, struct dups_result *res)
{
	struct dups_priv *p = d->p;
	struct verify v = { { NULL, NULL }, NULL, 0 };
	size_t name_pos = 0, nf = 0, *cls;
	int r = -ENOMEM;

	p->names = calloc(p->n ? p->n : 1, sizeof(*p->names));
	p->files = calloc(n ? n : 1, sizeof(*p->files));
	res->groups = calloc(n / 2 + 1, sizeof(*res->groups));
	res->ngroups = 0;
	cls = calloc(n ? n : 1, sizeof(*cls));
	if (d->opts->verify) {
		v.buf[0] = malloc(IDENT_CMP_CHUNK);
		v.buf[1] = malloc(IDENT_CMP_CHUNK);
		if (!v.buf[0] || !v.buf[1])
			goto out;
	}
	if (!p->names || !p->files || !res->groups || !cls)
		goto out;
	r = 0;
	for (size_t i = 0, j; i < n && r == 0; i = j) {
		size_t nclass = 1;

		for (j = i + 1; j < n && cmp_key(p, &p->c[idx[i]], &p->c[idx[j]], STAGE_FULL) == 0;)
			j++;
		if (d->opts->verify)
			nclass = classify(d, &v, idx, i, j, cls);
		else
			memset(cls, 0, (j - i) * sizeof(*cls));
		for (size_t c = 0; c < nclass && r == 0; c++)
			r = add_group(p, idx, i, j, cls, c, &nf, &name_pos, res);
	}
	qsort(res->groups, res->ngroups, sizeof(*res->groups), cmp_group);
out:
	free(cls);
	free(v.buf[0]);
	free(v.buf[1]);
	free(v.path);
	return r;
}

/* ---- the whole run --------------------------------------------------- */

static void dups_destroy(struct dups *d)
{
	if (d->workers) {
		for (unsigned i = 0; i < d->nworkers; i++) {
			struct worker *w = &d->workers[i];

			free(w->path);
			while (w->nfree)
				reader_free(w->free_readers[--w->nfree]);
		}
		free(d->workers);
	}
}

/*
 * Merge, sort and fold the candidates of @col into d->p, then keep in *@idx
 * those sharing their size; *@ret_n is their count.  *@idx and *@todo
 * (scratch) have room for every candidate and are the caller's, also on
 * failure.  Allocated after the sort: its own scratch is gone by then.
 */
static int prepare(struct dups *d, struct dups_collector *col, size_t **idx, size_t **todo,
		   size_t *ret_n, struct dups_stats *st)
{
	size_t ninodes, n;
	int r;

	r = dups_merge_shards(col, d->p);
	if (r < 0)
		return r;
	for (size_t i = 0; i < d->p->n; i++)
		st->reused += d->p->c[i].from_index;
	r = dups_sort_inodes(d->p);
	if (r < 0)
		return r;
	n = d->p->n ? d->p->n : 1;
	*idx = malloc(n * sizeof(**idx));
	*todo = malloc(n * sizeof(**todo));
	if (!*idx || !*todo)
		return -ENOMEM;
	ninodes = dups_fold_links(d->p, *idx);
	st->files = ninodes;
	*ret_n = keep_shared(d->p, *idx, ninodes, STAGE_SIZE);
	st->candidates = *ret_n;
	return dups_give_digests(d->p, *idx, *ret_n);
}

/* One worker state per engine worker: its ring is the engine's, its readers are ours. */
static int start_workers(struct dups *d)
{
	d->nworkers = engine_workers(d->engine);
	d->workers = aligned_alloc(64, sizeof(*d->workers) * d->nworkers);
	if (!d->workers)
		return -ENOMEM;
	memset(d->workers, 0, sizeof(*d->workers) * d->nworkers);
	return 0;
}

/*
 * Read, stage after stage, what the candidates @idx[0..*n) still miss, and
 * keep in @idx those that still share their key; @todo is scratch.
 */
static int run_stages(struct dups *d, size_t *idx, size_t *n, size_t *todo)
{
	static const struct {
		enum stage stage;
		uint8_t have;
	} stages[] = {
		{ STAGE_HEAD, HAVE_HEAD },
		{ STAGE_TAIL, HAVE_TAIL },
		{ STAGE_FULL, HAVE_FULL },
	};
	int r;

	/* Every digest known (a repeat run): one pass instead of three. */
	if (*n > 0 && missing(d->p, idx, *n, HAVE_HEAD | HAVE_TAIL | HAVE_FULL, todo) == 0)
		*n = keep_shared_from(d->p, idx, *n, STAGE_SIZE, STAGE_FULL);
	for (size_t s = 0; s < ARRAY_SIZE(stages) && *n > 0; s++) {
		size_t m = missing(d->p, idx, *n, stages[s].have, todo);

		r = read_stage(d, todo, m, stages[s].stage);
		if (r < 0)
			return r;
		*n = keep_shared(d->p, idx, *n, stages[s].stage);
	}
	if (!d->opts->record)
		return 0;
	/* Every inode read at any stage, not only the survivors. */
	size_t m = 0;

	for (size_t i = 0; i < d->p->n; i++)
		if (d->p->c[i].dirty)
			todo[m++] = i;
	return record_hashes(d, todo, m);
}

/* Add what the readers counted to @st. */
static void reading_stats(struct dups *d, struct dups_stats *st)
{
	struct ring_stats rs;

	engine_ring_stats(d->engine, &rs);
	st->uring = rs.uring;
	st->peak_inflight = rs.peak_inflight;
	st->head_reads = atomic_load(&d->head_reads);
	st->full_reads = atomic_load(&d->full_reads);
	st->bytes_read = atomic_load(&d->bytes);
	st->errors = atomic_load(&d->errors);
}

int dups_run(struct engine *engine, struct dups_collector *col, const struct dups_opts *opts,
	     struct dups_result *ret)
{
	struct dups d = { .engine = engine, .store = engine_store(engine), .opts = opts };
	struct dups_result res = { 0 };
	size_t *idx = NULL, *todo = NULL, n = 0;
	int r;

	d.p = calloc(1, sizeof(*d.p));
	if (!d.p)
		return -ENOMEM;
	res.priv = d.p;
	r = prepare(&d, col, &idx, &todo, &n, &res.stats);
	if (r == 0)
		r = start_workers(&d);
	if (r == 0)
		r = run_stages(&d, idx, &n, todo);
	if (r == 0)
		r = build_groups(&d, idx, n, &res);
	reading_stats(&d, &res.stats);
	dups_destroy(&d);
	free(idx);
	free(todo);
	if (r < 0) {
		ret->stats = res.stats;
		dups_result_destroy(&res);
		return r;
	}
	*ret = res;
	return 0;
}

void dups_result_destroy(struct dups_result *res)
{
	struct dups_priv *p = res->priv;

	if (p) {
		free(p->c);
		for (size_t i = 0; i < DUPS_MAX_WORKERS; i++)
			free(p->arenas[i]);
		free(p->h);
		for (size_t i = 0; i < p->nnames; i++)
			free((char *)p->names[i].path);
		free(p->names);
		free(p->files);
		free(p);
	}
	free(res->groups);
	res->groups = NULL;
	res->ngroups = 0;
	res->priv = NULL;
}
