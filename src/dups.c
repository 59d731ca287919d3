/* SPDX-License-Identifier: MIT */
/*
 * dups.c - finding duplicate files in the index.
 *
 * Candidates come from the scan that precedes the search: the walker hands
 * every regular file it sees, with the hashes the index holds for it, to
 * dups_collect() (one shard per worker, no locks), so no second pass over
 * the index is needed.  One record each in a flat array, the paths in
 * per-worker arenas.  Then the stages, each reading only what the
 * previous one left standing:
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
 * Reads run on the task pool: a task per batch of files queues their reads
 * on its worker's ring (ring.c), and the pool's idle hook drains the ring;
 * completions only fill in their own candidate, so no locks are needed.
 * Each read checks the file is still what the index says (ring.c), so a
 * file changed since the scan is left out instead of hashed wrongly.
 *
 * A worker holds its ring (two descriptors with io_uring), a file per read
 * in flight and, for a path past PATH_MAX, the directory it is opened in:
 * no more than a walker, so walk_fd_plan() sizes the workers and the reads
 * in flight here too, from what RLIMIT_NOFILE leaves free.  Should a read
 * meet EMFILE anyway with nothing else of its ring in flight (ring.c waits
 * for those), it waits on its worker's retry list: once the ring is idle,
 * the pool's idle hook lets the other workers close theirs for a moment,
 * has the ring give back its own (ring_give_back(): io_uring becomes pread)
 * and submits it again.  Only a read that keeps failing is left out.
 */
#include "dups.h"

#include "cancel.h"
#include "hash.h"
#include "node.h"
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
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Files up to this size are read whole at the first stage: that is cheaper than two reads. */
#define SMALL_FILE (2 * HASH_PARTIAL)
/* Reads in flight per worker, and files per task. */
#define READ_DEPTH 16
#define BATCH 64
/* Times a read that met EMFILE is submitted again (backoff() between). */
#define EMFILE_RETRIES 1000

enum stage { STAGE_SIZE, STAGE_HEAD, STAGE_TAIL, STAGE_FULL };

/* The three digests of a candidate; only files that share their size get them. */
struct digests {
	uint8_t head[16], tail[16], full[16];
};

#define NO_HASHES UINT32_MAX
#define NO_ROOT UINT32_MAX

/* What a candidate needs of its node: kept small, there is one per regular file. */
struct cand {
	uint64_t id, dev, ino, size;
	int64_t mtime_sec, ctime_sec;
	uint32_t mtime_nsec, ctime_nsec;
	uint32_t nlink, uid;
	uint32_t h;			/* its digests in dups_priv.h[], or NO_HASHES */
	uint32_t path_off;
	uint32_t path_len;
	uint32_t root;
	uint16_t shard;			/* whose arena holds the path */
	uint32_t next_name;		/* next hard link of the same inode, or UINT32_MAX */
	uint8_t have;			/* HAVE_* hashes known */
	bool from_index;		/* had hashes before this run */
	uint8_t dirty;			/* HAVE_* computed here, to write back */
	int err;			/* the read failed: left out */
};

enum { HAVE_HEAD = 1, HAVE_TAIL = 2, HAVE_FULL = 4 };

struct dups_priv {
	struct cand *c;
	size_t n, cap;
	char *arenas[DUPS_MAX_WORKERS];	/* each shard's paths, indexed by cand.shard */
	char *const *roots;		/* PATH arguments the relative paths hang off */
	size_t nnames;			/* names[] in use, their paths malloc'd */
	struct digests *h;		/* indexed by cand.h */
	size_t nh;
	struct dups_name *names;
	struct dups_file *files;
};

struct reader {
	struct dups *d;
	struct worker *w;
	struct cand *c;
	enum stage stage;
	int dirfd;			/* to close when done, or -1 */
	unsigned retries;		/* submitted again after EMFILE */
	unsigned tick_retries;		/* ...after RING_E_TICK */
	struct reader *next_retry;	/* on worker.retry */
	struct hash_file hf;
	char *name;			/* what ring.c opens relative to dirfd */
	char small[PATH_MAX];
};

struct worker {
	struct ring *ring;
	char *path;			/* whole path being opened or reported */
	size_t path_cap;
	struct reader *free_readers[READ_DEPTH * 2];
	unsigned nfree;
	struct reader *retry;		/* reads that met EMFILE, to submit again */
} __attribute__((aligned(64)));

struct batch_task {
	struct task task;
	struct dups *d;
	size_t *idx;			/* candidates to read */
	size_t n;
	enum stage stage;
};

struct dups {
	struct store *store;
	const struct dups_opts *opts;
	struct dups_priv *p;
	struct task_pool *pool;
	struct worker *workers;
	unsigned nworkers;
	unsigned depth;			/* reads in flight per worker */
	int io_mode;			/* enum ring_mode, as the plan allows */
	atomic_bool starved;		/* a read met EMFILE: idle rings give back theirs */
	atomic_int fatal;
	atomic_uint_fast64_t head_reads, full_reads, bytes, errors;
};

/* ---- candidates ------------------------------------------------------ */

/* Candidates as workers find them: one shard per worker, merged by dups_run(). */
struct shard {
	struct cand *c;
	size_t n, cap;
	char *arena;
	size_t arena_len, arena_cap;
	struct digests *h;		/* digests the index already holds */
	size_t nh, caph;
	const char *last_root;		/* the walker's string for the root of... */
	uint32_t last_index;		/* ...this PATH argument... */
	size_t last_root_len;		/* ...and its length */
	int err;
} __attribute__((aligned(64)));

struct dups_collector {
	char *const *roots;		/* borrowed from the caller */
	size_t nroots;
	uint64_t min_size;
	bool empty;
	struct shard shards[DUPS_MAX_WORKERS];
};

int dups_collector_new(char *const *root_paths, size_t nroots, const struct dups_opts *opts,
		       struct dups_collector **ret)
{
	struct dups_collector *col = aligned_alloc(64, sizeof(*col));

	if (!col)
		return -ENOMEM;
	memset(col, 0, sizeof(*col));
	col->roots = root_paths;
	col->nroots = nroots;
	col->min_size = opts->min_size;
	col->empty = opts->empty;
	*ret = col;
	return 0;
}

void dups_collector_free(struct dups_collector *col)
{
	if (!col)
		return;
	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++) {
		free(col->shards[i].c);
		free(col->shards[i].arena);
		free(col->shards[i].h);
	}
	free(col);
}

/* The PATH argument @root is (NO_ROOT if none: the path is then kept whole). */
static uint32_t root_index(struct dups_collector *col, struct shard *sh, const char *root)
{
	if (root != sh->last_root) {
		sh->last_root = root;
		sh->last_index = NO_ROOT;
		sh->last_root_len = 0;
		for (size_t i = 0; i < col->nroots; i++)
			if (strcmp(col->roots[i], root) == 0) {
				sh->last_index = (uint32_t)i;
				/* Below "/" the relative path starts right after it. */
				sh->last_root_len = strcmp(root, "/") == 0 ? 0 : strlen(root);
				break;
			}
	}
	return sh->last_index;
}

void dups_collect(void *ctx, unsigned worker, const char *root, const char *dir, size_t dir_len,
		  const struct node *n)
{
	struct dups_collector *col = ctx;
	struct shard *sh = &col->shards[worker % DUPS_MAX_WORKERS];
	uint32_t ri;
	size_t len;
	struct cand *c;
	char *path;

	if (sh->err || (n->size == 0 ? !col->empty : n->size < col->min_size))
		return;
	/*
	 * Paths are kept relative to their root (for 200k files below a long
	 * root that is megabytes): "dir/name" for DIR below ROOT, plain "name"
	 * in ROOT itself.  Whole paths are rebuilt only where one is needed.
	 */
	ri = root_index(col, sh, root);
	if (ri != NO_ROOT && dir_len >= sh->last_root_len) {
		dir += sh->last_root_len;
		dir_len -= sh->last_root_len;
		if (dir_len && *dir == '/') {
			dir++;
			dir_len--;
		}
	}
	len = (dir_len ? dir_len + 1 : 0) + n->name_len;
	if (sh->arena_len + len + 1 > UINT32_MAX) {
		sh->err = -EOVERFLOW;	/* 4 GiB of paths in one worker's share */
		return;
	}
	if (sh->n == sh->cap) {
		size_t cap = sh->cap ? sh->cap + sh->cap / 2 : 1024;
		struct cand *nc = realloc(sh->c, cap * sizeof(*nc));

		if (!nc)
			goto oom;
		sh->c = nc;
		sh->cap = cap;
	}
	if (sh->arena_len + len + 1 > sh->arena_cap) {
		size_t cap = (sh->arena_len + len + 1) * 3 / 2 + 65536;
		char *na = realloc(sh->arena, cap);

		if (!na)
			goto oom;
		sh->arena = na;
		sh->arena_cap = cap;
	}
	c = &sh->c[sh->n++];
	memset(c, 0, sizeof(*c));
	c->id = n->id;
	c->dev = n->dev;
	c->ino = n->ino;
	c->size = n->size;
	c->mtime_sec = n->mtime_sec;
	c->mtime_nsec = n->mtime_nsec;
	c->ctime_sec = n->ctime_sec;
	c->ctime_nsec = n->ctime_nsec;
	c->nlink = n->nlink;
	c->uid = n->uid;
	c->h = NO_HASHES;
	if (n->hash_state != NODE_HASH_NONE) {
		if (sh->nh == sh->caph) {
			size_t cap = sh->caph ? sh->caph + sh->caph / 2 : 1024;
			struct digests *nd = realloc(sh->h, cap * sizeof(*nd));

			if (!nd)
				goto oom;
			sh->h = nd;
			sh->caph = cap;
		}
		memcpy(sh->h[sh->nh].head, n->head, 16);
		memcpy(sh->h[sh->nh].tail, n->tail, 16);
		memcpy(sh->h[sh->nh].full, n->full, 16);
		c->h = (uint32_t)sh->nh++;
	}
	if (n->hash_state >= NODE_HASH_HEAD)
		c->have = HAVE_HEAD;
	if (n->hash_state >= NODE_HASH_PARTIAL)
		c->have |= HAVE_TAIL;
	if (n->hash_state == NODE_HASH_FULL)
		c->have |= HAVE_FULL;
	c->from_index = c->have != 0;
	c->root = ri;
	c->shard = (uint16_t)(sh - col->shards);
	c->next_name = UINT32_MAX;
	c->path_off = sh->arena_len;
	c->path_len = (uint32_t)len;
	path = sh->arena + sh->arena_len;
	if (dir_len) {
		memcpy(path, dir, dir_len);
		path[dir_len] = '/';
	}
	memcpy(path + len - n->name_len, n->name, n->name_len);
	path[len] = '\0';
	sh->arena_len += len + 1;
	return;
oom:
	sh->err = -ENOMEM;
}

/* Where shard @which's digests start once all shards' are concatenated in order. */
static size_t hash_base(const struct dups_collector *col, size_t which)
{
	size_t base = 0;

	for (size_t i = 0; i < which; i++)
		base += col->shards[i].nh;
	return base;
}

/*
 * Move every shard's candidates into @p: one array, grown from the largest
 * shard's so that little is copied; the arenas stay where they are.
 */
static int merge_shards(struct dups_collector *col, struct dups_priv *p)
{
	size_t total = 0, big = 0, nh = 0, big_base;

	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++) {
		if (col->shards[i].err)
			return col->shards[i].err;
		total += col->shards[i].n;
		if (col->shards[i].n > col->shards[big].n)
			big = i;
	}
	p->c = realloc(col->shards[big].c, (total ? total : 1) * sizeof(*p->c));
	if (!p->c)
		return -ENOMEM;
	col->shards[big].c = NULL;
	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++)
		nh += col->shards[i].nh;
	p->h = malloc((nh ? nh : 1) * sizeof(*p->h));
	if (!p->h)
		return -ENOMEM;
	p->n = col->shards[big].n;
	/* The big shard's candidates are in place already: renumber their digests. */
	big_base = hash_base(col, big);
	for (size_t k = 0; k < p->n; k++)
		if (p->c[k].h != NO_HASHES)
			p->c[k].h += (uint32_t)big_base;
	col->shards[big].n = 0;
	for (size_t i = 0; i < DUPS_MAX_WORKERS; i++) {
		struct shard *sh = &col->shards[i];
		size_t base = p->nh;

		if (sh->nh)
			memcpy(p->h + p->nh, sh->h, sh->nh * sizeof(*sh->h));
		p->nh += sh->nh;
		free(sh->h);
		sh->h = NULL;
		sh->nh = 0;
		for (size_t k = 0; k < sh->n; k++)
			if (sh->c[k].h != NO_HASHES)
				sh->c[k].h += (uint32_t)base;
		p->arenas[i] = sh->arena;
		sh->arena = NULL;
		if (sh->n)
			memcpy(p->c + p->n, sh->c, sh->n * sizeof(*sh->c));
		p->n += sh->n;
		free(sh->c);
		sh->c = NULL;
		sh->n = 0;
	}
	return 0;
}

static struct digests *dg(const struct dups_priv *p, const struct cand *c)
{
	return &p->h[c->h];
}

/* The path of @c relative to its root (or whole, for NO_ROOT). */
static const char *cand_path(const struct dups_priv *p, const struct cand *c)
{
	return p->arenas[c->shard] + c->path_off;
}

/*
 * The whole path of @c in *@buf (grown as needed; the caller frees it).
 * Returns its length, or -ENOMEM.
 */
static ssize_t full_path(const struct dups_priv *p, const struct cand *c, char **buf, size_t *cap)
{
	const char *root = c->root == NO_ROOT ? "" : p->roots[c->root];
	size_t rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
	size_t len = rlen + (c->root == NO_ROOT ? 0 : 1) + c->path_len;

	if (len + 1 > *cap) {
		char *nb = realloc(*buf, len + 1);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = len + 1;
	}
	memcpy(*buf, root, rlen);
	if (c->root != NO_ROOT)
		(*buf)[rlen] = '/';
	memcpy(*buf + len - c->path_len, cand_path(p, c), c->path_len + 1);
	return (ssize_t)len;
}

/* qsort_r() order of two candidates by root, then path; @ctx is the dups_priv. */
static int cmp_name(const void *va, const void *vb, void *ctx)
{
	const struct cand *a = va, *b = vb;
	const struct dups_priv *p = ctx;
	size_t la = a->path_len, lb = b->path_len;
	int c;

	if (a->root != b->root)
		return a->root < b->root ? -1 : 1;
	c = memcmp(cand_path(p, a), cand_path(p, b), la < lb ? la : lb);
	if (c)
		return c;
	return la < lb ? -1 : la > lb;
}

/* Byte @pos (0 = least significant) of a (size, dev, ino) key. */
static unsigned key_byte(const uint64_t *key, unsigned pos)
{
	return (unsigned)(key[2 - pos / 8] >> (8 * (pos % 8))) & 0xff;
}

static bool same_inode(const struct cand *a, const struct cand *b)
{
	return a->size == b->size && a->dev == b->dev && a->ino == b->ino;
}

/*
 * Reorder @n elements of @size bytes at @base so that position k holds what
 * was at @from[k], in place: each cycle of the permutation is followed with
 * one element in @spare.  @from ends up as the identity.
 */
static void permute(void *base, size_t size, uint32_t *from, size_t n, void *spare)
{
	unsigned char *a = base;

	for (size_t i = 0; i < n; i++) {
		size_t k = i;

		if (from[i] == i)
			continue;
		memcpy(spare, a + i * size, size);
		while (from[k] != i) {
			size_t src = from[k];

			memcpy(a + k * size, a + src * size, size);
			from[k] = (uint32_t)k;
			k = src;
		}
		memcpy(a + k * size, spare, size);
		from[k] = (uint32_t)k;
	}
}

/*
 * Put the digests in candidate order, so that the stage passes read them in
 * turn instead of all over the array; in place, like the candidates, with
 * @from (room for p->nh) as scratch.  Each candidate owns its slot.
 */
static int renumber_digests(struct dups_priv *p, uint32_t *from)
{
	struct digests spare;
	uint32_t m = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->c[i].h != NO_HASHES) {
			from[m] = p->c[i].h;
			p->c[i].h = m++;
		}
	if (m != p->nh)
		return -EINVAL; /* a slot without its candidate: a bug */
	permute(p->h, sizeof(*p->h), from, m, &spare);
	return 0;
}

/*
 * Sort the candidates by size, then inode, then name order, so an inode's
 * names end up together, first name first.  An LSD radix sort of 32-bit
 * indices by a copy of the 24-byte (size, dev, ino) keys: byte positions
 * that are the same in every key (the high bytes of sizes, a lone dev) cost
 * nothing, and only the rare names of one inode are compared.  The
 * permutation is then applied in place: no second copy of the 80-byte
 * candidates (peak memory is what dups is compared on).
 */
static int sort_inode_order(struct dups_priv *p)
{
	size_t n = p->n, (*count)[256] = calloc(24, sizeof(*count));
	uint32_t *x = malloc((n ? n : 1) * sizeof(*x)), *y = malloc((n ? n : 1) * sizeof(*y));
	uint64_t (*key)[3] = malloc((n ? n : 1) * sizeof(*key)); /* 24 B each, not 80 */
	struct cand spare;
	int r = -ENOMEM;

	if (!count || !x || !y || !key)
		goto out;
	if (n > UINT32_MAX) {
		r = -EOVERFLOW;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		x[i] = (uint32_t)i;
		key[i][0] = p->c[i].size;
		key[i][1] = p->c[i].dev;
		key[i][2] = p->c[i].ino;
		for (unsigned pos = 0; pos < 24; pos++)
			count[pos][key_byte(key[i], pos)]++;
	}
	for (unsigned pos = 0; n && pos < 24; pos++) {
		size_t sum = 0;
		uint32_t *t;

		if (count[pos][key_byte(key[0], pos)] == n)
			continue; /* one value at this position: already in order */
		for (unsigned v = 0; v < 256; v++) {
			size_t c = count[pos][v];

			count[pos][v] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			y[count[pos][key_byte(key[x[i]], pos)]++] = x[i];
		t = x, x = y, y = t;
	}
	free(key);
	key = NULL;
	/* Position k takes candidate x[k]. */
	permute(p->c, sizeof(*p->c), x, n, &spare);
	/* The names of one inode (hard links): in name order. */
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && same_inode(&p->c[i], &p->c[j]))
			j++;
		if (j - i > 1)
			qsort_r(p->c + i, j - i, sizeof(*p->c), cmp_name, p);
		i = j;
	}
	r = renumber_digests(p, x);
out:
	free(count);
	free(x);
	free(y);
	free(key);
	return r;
}

static bool same_name(const struct dups_priv *p, const struct cand *a, const struct cand *b)
{
	char *pa = NULL, *pb = NULL;
	size_t ca = 0, cb = 0;
	ssize_t la, lb;
	bool same;

	if (a->id == b->id)
		return true;
	/* Rare (an inode met twice): compare whole paths, roots may nest. */
	la = full_path(p, a, &pa, &ca);
	lb = full_path(p, b, &pb, &cb);
	same = la >= 0 && la == lb && memcmp(pa, pb, (size_t)la) == 0;
	free(pa);
	free(pb);
	return same;
}

/*
 * Fold hard links: the first name of an inode stays a candidate, the others
 * hang off it through next_name and leave the array of candidates.  Also
 * drops the same node reached through two overlapping roots.  Returns the
 * number of inodes; @idx receives their indices.
 */
static size_t fold_links(struct dups_priv *p, size_t *idx)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct cand *c = &p->c[i];

		if (n > 0) {
			struct cand *head = &p->c[idx[n - 1]];

			if (head->dev == c->dev && head->ino == c->ino &&
			    head->size == c->size) {
				struct cand *t = head;

				/* The same node, or the same path, seen twice: one name. */
				while (t->next_name != UINT32_MAX && !same_name(p, t, c))
					t = &p->c[t->next_name];
				if (!same_name(p, t, c))
					t->next_name = (uint32_t)i;
				continue;
			}
		}
		idx[n++] = i;
	}
	return n;
}

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
	if (hash_state_new(&rd->hf.full) < 0) {
		free(rd);
		return NULL;
	}
	rd->d = d;
	return rd;
}

static void reader_put(struct worker *w, struct reader *rd)
{
	if (rd->dirfd >= 0)
		close(rd->dirfd);
	rd->dirfd = -1;
	if (w->nfree < ARRAY_SIZE(w->free_readers)) {
		w->free_readers[w->nfree++] = rd;
	} else {
		hash_state_free(rd->hf.full);
		free(rd);
	}
}

static void on_data(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct reader *rd = ctx;

	hash_file_update(&rd->hf, buf, len, off);
}

static int reader_submit(struct dups *d, struct worker *w, struct reader *rd);

/* Let other workers close a descriptor: yield at first, then sleep a millisecond. */
static void backoff(unsigned tries)
{
	if (tries < 100)
		sched_yield();
	else
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

static void on_done(void *ctx, int result)
{
	struct reader *rd = ctx;
	struct dups *d = rd->d;
	struct cand *c = rd->c;
	struct hash128 head, tail, full;

	if ((result == -EMFILE || result == -ENFILE) && rd->retries < EMFILE_RETRIES) {
		/* Not from here, inside the ring's callback: see retry_reads(). */
		atomic_store_explicit(&d->starved, true, memory_order_relaxed);
		rd->retries++;
		rd->next_retry = rd->w->retry;
		rd->w->retry = rd;
		return;
	}
	/* Modified in the clock tick its read began in (ring.h): once more when it is over. */
	if (result == RING_E_TICK && rd->tick_retries < RING_TICK_RETRIES) {
		int r;

		rd->tick_retries++;
		ring_wait_tick();
		r = reader_submit(d, rd->w, rd);
		if (r == 0)
			return;
		result = r;
	}
	if (result == RING_E_TICK)
		result = -ESTALE;	/* still being written: left out, as if changed */
	if (result < 0) {
		c->err = result;
		atomic_fetch_add_explicit(&d->errors, 1, memory_order_relaxed);
		ssize_t len = full_path(d->p, c, &rd->w->path, &rd->w->path_cap);

		if (d->opts->on_error && len >= 0)
			d->opts->on_error(d->opts->error_ctx, rd->w->path, (size_t)len, result);
	} else if (rd->stage == STAGE_HEAD && c->size > SMALL_FILE) {
		hash_digest(rd->hf.full, &head);
		memcpy(dg(d->p, c)->head, head.b, 16);
		c->have |= HAVE_HEAD;
		c->dirty |= HAVE_HEAD;
	} else if (rd->stage == STAGE_TAIL) {
		hash_digest(rd->hf.full, &tail);
		memcpy(dg(d->p, c)->tail, tail.b, 16);
		c->have |= HAVE_TAIL;
		c->dirty |= HAVE_TAIL;
	} else {
		/* The whole file was read: all three at once. */
		hash_file_end(&rd->hf, &head, &tail, &full);
		memcpy(dg(d->p, c)->head, head.b, 16);
		memcpy(dg(d->p, c)->tail, tail.b, 16);
		memcpy(dg(d->p, c)->full, full.b, 16);
		c->have = c->dirty = HAVE_HEAD | HAVE_TAIL | HAVE_FULL;
	}
	if (result >= 0) {
		uint64_t n = rd->stage == STAGE_FULL || c->size <= SMALL_FILE ? c->size
									       : HASH_PARTIAL;

		atomic_fetch_add_explicit(&d->bytes, n, memory_order_relaxed);
		if (d->opts->progress)
			atomic_fetch_add_explicit(&d->opts->progress->bytes_done, n,
						  memory_order_relaxed);
	}
	if (d->opts->progress)
		atomic_fetch_add_explicit(&d->opts->progress->files_done, 1, memory_order_relaxed);
	reader_put(rd->w, rd);
}

/*
 * Open the directory holding @path (absolute, any length) one component at
 * a time, O_PATH, never following a symlink; *ret_last is the name in it.
 */
static int open_dir_of(const char *path, const char **ret_last)
{
	const char *last = strrchr(path, '/') + 1;
	int fd, nfd;

	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (const char *p = path + 1; p < last;) {
		size_t n = strcspn(p, "/");
		char comp[NAME_MAX + 1];

		if (n > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (nfd < 0)
			return -errno;
		fd = nfd;
		p += n + 1;
	}
	*ret_last = last;
	return fd;
}

/*
 * Name @path for ring.c: as it is when short enough, else open its
 * directory one component at a time and name the last component.
 */
static int reader_target(struct reader *rd, const char *path, size_t len)
{
	const char *last;
	int fd;

	rd->dirfd = -1;
	if (len < PATH_MAX) {
		memcpy(rd->small, path, len + 1);
		rd->name = rd->small;
		return AT_FDCWD;
	}
	fd = open_dir_of(path, &last);
	if (fd < 0)
		return fd;
	memcpy(rd->small, last, strlen(last) + 1);
	rd->name = rd->small;
	rd->dirfd = fd;
	return fd;
}

static void read_one(struct dups *d, struct worker *w, struct cand *c, enum stage stage)
{
	struct reader *rd = reader_get(d, w);
	ssize_t len;
	int dirfd, r;

	if (!rd) {
		set_fatal(d, -ENOMEM);
		return;
	}
	rd->w = w;
	rd->c = c;
	rd->stage = stage;
	rd->retries = rd->tick_retries = 0;
	len = full_path(d->p, c, &w->path, &w->path_cap);
	dirfd = len < 0 ? (int)len : reader_target(rd, w->path, (size_t)len);
	if (dirfd < 0 && dirfd != AT_FDCWD) {
		rd->dirfd = -1;
		rd->retries = EMFILE_RETRIES;	/* nothing named to submit again */
		on_done(rd, dirfd);
		return;
	}
	if (stage == STAGE_FULL || c->size <= SMALL_FILE)
		atomic_fetch_add_explicit(&d->full_reads, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&d->head_reads, 1, memory_order_relaxed);
	r = reader_submit(d, w, rd);
	if (r < 0)
		on_done(rd, r);
}

/* Queue @rd's read (its target named already).  Returns 0 or -errno (on_done not called). */
static int reader_submit(struct dups *d, struct worker *w, struct reader *rd)
{
	const struct cand *c = rd->c;
	enum stage stage = rd->stage;
	struct ring_read req = {
		.dirfd = rd->dirfd >= 0 ? rd->dirfd : AT_FDCWD,
		.name = rd->name,
		.dev = c->dev,
		.ino = c->ino,
		.size = c->size,
		.mtime_sec = c->mtime_sec,
		.mtime_nsec = c->mtime_nsec,
		.uid = c->uid,
		.on_data = on_data,
		.on_done = on_done,
		.ctx = rd,
	};

	if (stage == STAGE_FULL || c->size <= SMALL_FILE) {
		req.offset = 0;
		req.length = c->size;
		hash_file_begin(&rd->hf, c->size);
	} else {
		req.offset = stage == STAGE_HEAD ? 0 : c->size - HASH_PARTIAL;
		req.length = HASH_PARTIAL;
		/* Only the running digest of the range is wanted. */
		hash_file_begin(&rd->hf, 0);
	}
	return ring_submit(w->ring, &req);
}

static void batch_run(struct task *task, struct task_worker *tw)
{
	struct batch_task *bt = container_of(task, struct batch_task, task);
	struct dups *d = bt->d;
	struct worker *w = &d->workers[task_worker_id(tw)];
	int r;

	if (!w->ring) {
		r = ring_new(d->io_mode, d->depth, &w->ring);
		if (r < 0) {
			set_fatal(d, r);
			return;
		}
	}
	if (atomic_load_explicit(&d->starved, memory_order_relaxed))
		ring_give_back(w->ring);
	for (size_t i = 0; i < bt->n; i++) {
		if (atomic_load(&d->fatal) || cancel_requested(d->opts->cancel))
			break;
		read_one(d, w, &d->p->c[bt->idx[i]], bt->stage);
	}
	r = ring_poll(w->ring, false);
	if (r < 0)
		set_fatal(d, r);
}

/* @w's ring is idle: give its descriptors back, wait a moment, submit the retry list again. */
static void retry_reads(struct dups *d, struct worker *w)
{
	struct reader *rd = w->retry;
	bool stop = atomic_load(&d->fatal) || cancel_requested(d->opts->cancel);

	w->retry = NULL;
	ring_give_back(w->ring);
	if (!stop)
		backoff(rd->retries);
	while (rd) {
		struct reader *next = rd->next_retry;
		int r = -EMFILE;

		if (stop)
			rd->retries = EMFILE_RETRIES;
		else
			r = reader_submit(d, w, rd);
		if (r < 0)
			on_done(rd, r);
		rd = next;
	}
}

static bool dups_idle(void *ctx, struct task_worker *tw)
{
	struct dups *d = ctx;
	struct worker *w = &d->workers[task_worker_id(tw)];
	int r;

	if (w->retry && (!w->ring || ring_inflight(w->ring) == 0)) {
		retry_reads(d, w);
		return true;
	}
	if (atomic_load_explicit(&d->starved, memory_order_relaxed))
		ring_give_back(w->ring);
	r = ring_idle(w->ring);
	if (r < 0)
		set_fatal(d, r);
	return r > 0 || w->retry;
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
	for (size_t t = 0; t < ntasks; t++) {
		tasks[t].task.fn = batch_run;
		tasks[t].d = d;
		tasks[t].idx = (size_t *)idx + t * BATCH;
		tasks[t].n = t + 1 < ntasks ? BATCH : n - t * BATCH;
		tasks[t].stage = stage;
		task_pool_submit(d->pool, &tasks[t].task);
	}
	r = task_pool_run(d->pool);
	free(tasks);
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

	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
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

/*
 * Open candidate @c by its path (of any length), read-only, and check it is
 * still the regular file that was hashed.  Returns the fd, -ESTALE when it
 * is not, or -errno.
 */
static int open_cand(const struct dups_priv *p, const struct cand *c)
{
	const int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
	char *path = NULL;
	size_t cap = 0;
	ssize_t len = full_path(p, c, &path, &cap);
	const char *name = path;
	int dirfd = AT_FDCWD, fd;
	struct stat st;

	if (len < 0) {
		free(path);
		return (int)len;
	}
	if (len >= PATH_MAX && (dirfd = open_dir_of(path, &name)) < 0) {
		free(path);
		return dirfd;
	}
	fd = openat(dirfd, name, flags);
	/* Now a symlink (O_NOFOLLOW), a socket or a device without a driver. */
	if (fd < 0)
		fd = errno == ELOOP || errno == ENXIO ? -ESTALE : -errno;
	if (dirfd >= 0)
		close(dirfd);
	free(path);
	if (fd >= 0 && fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	if (fd >= 0 && (!S_ISREG(st.st_mode) || (uint64_t)st.st_dev != c->dev ||
			(uint64_t)st.st_ino != c->ino || (uint64_t)st.st_size != c->size ||
			st.st_mtim.tv_sec != c->mtime_sec ||
			(uint32_t)st.st_mtim.tv_nsec != c->mtime_nsec)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/*
 * --verify: are candidates @a and @b byte for byte the same?  1, 0, or
 * -errno (-ESTALE: one is no longer the file that was hashed, or shrank).
 */
static int compare_files(const struct dups_priv *p, const struct cand *a, const struct cand *b)
{
	static const size_t chunk = 256 * 1024;
	char *ba = malloc(chunk), *bb = malloc(chunk);
	int fa = open_cand(p, a), fb = fa < 0 ? -1 : open_cand(p, b);
	int r = fa < 0 ? fa : fb < 0 ? fb : 1;
	uint64_t done = 0;

	if (r == 1 && (!ba || !bb))
		r = -ENOMEM;
	while (r == 1 && done < b->size) {
		size_t want = b->size - done < chunk ? (size_t)(b->size - done) : chunk;
		ssize_t na = pread(fa, ba, want, (off_t)done);
		ssize_t nb = na < 0 ? 0 : pread(fb, bb, want, (off_t)done);

		if (na < 0 || nb < 0)
			r = -errno;
		else if (na == 0 || nb == 0)
			r = -ESTALE;
		else if (na != nb || memcmp(ba, bb, (size_t)na) != 0)
			r = 0;
		else
			done += (uint64_t)na;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(ba);
	free(bb);
	return r;
}

/* ---- writing back ---------------------------------------------------- */

/* Is @n still the file @c was read as? */
static bool cand_matches(const struct cand *c, const struct node *n)
{
	return S_ISREG(n->mode) && n->dev == c->dev && n->ino == c->ino && n->size == c->size &&
	       n->mtime_sec == c->mtime_sec && n->mtime_nsec == c->mtime_nsec &&
	       n->ctime_sec == c->ctime_sec && n->ctime_nsec == c->ctime_nsec;
}

static int record_hashes(struct dups *d, const size_t *idx, size_t n)
{
	struct store_writer *writer = NULL;
	struct store_reader *rd = NULL;
	struct store_batch *batch = NULL;
	int r, fr;

	if (n == 0)
		return 0;
	r = store_writer_start(d->store, NULL, &writer);
	if (r < 0)
		return r;
	r = store_reader_new(d->store, &rd);
	if (r < 0)
		goto out;
	r = store_batch_new(writer, NULL, &batch);
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
		if (r < 0 || !cand_matches(c, &cur))
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
	fr = store_writer_finish(writer, NULL);
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
	ssize_t len = full_path(p, t, &path, &cap);

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
	f->dev = c->dev;
	f->ino = c->ino;
	f->size = c->size;
	f->mtime_sec = c->mtime_sec;
	f->mtime_nsec = c->mtime_nsec;
	f->ctime_sec = c->ctime_sec;
	f->ctime_nsec = c->ctime_nsec;
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
 * Turn runs of equal full hashes in @idx[0..n) into groups; with --verify,
 * split each run into classes of identical bytes.
 */
static int build_groups(struct dups *d, const size_t *idx, size_t n, struct dups_result *res)
{
	struct dups_priv *p = d->p;
	size_t nfiles_max = n, name_pos = 0, nf = 0, ng = 0, vcap = 0;
	size_t *cls = NULL;
	char *vbuf = NULL;
	int r = 0;

	p->names = calloc(p->n ? p->n : 1, sizeof(*p->names));
	p->files = calloc(nfiles_max ? nfiles_max : 1, sizeof(*p->files));
	res->groups = calloc(n / 2 + 1, sizeof(*res->groups));
	cls = calloc(n ? n : 1, sizeof(*cls));
	if (!p->names || !p->files || !res->groups || !cls) {
		free(cls);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i + 1, nclass = 0;

		while (j < n && cmp_key(p, &p->c[idx[i]], &p->c[idx[j]], STAGE_FULL) == 0)
			j++;
		/* cls[k]: class of idx[i + k]; without --verify one class. */
		for (size_t k = i; k < j; k++) {
			size_t c = 0;

			if (d->opts->verify) {
				const struct cand *ck = &p->c[idx[k]];

				for (c = 0; c < nclass; c++) {
					const struct cand *rep = NULL;

					for (size_t q = i; q < k && !rep; q++)
						if (cls[q - i] == c)
							rep = &p->c[idx[q]];
					r = compare_files(p, rep, ck);
					if (r < 0) {
						ssize_t len = full_path(p, ck, &vbuf, &vcap);

						if (d->opts->on_error && len >= 0)
							d->opts->on_error(d->opts->error_ctx, vbuf,
									  (size_t)len, r);
						atomic_fetch_add(&d->errors, 1);
						c = SIZE_MAX;
						break;
					}
					if (r == 1)
						break;
				}
				r = 0;
			}
			if (c == nclass)
				nclass++;
			cls[k - i] = c;
		}
		for (size_t c = 0; c < nclass; c++) {
			struct dups_group *g = &res->groups[ng];
			size_t first = nf;

			for (size_t k = i; k < j && r == 0; k++)
				if (cls[k - i] == c)
					r = fill_file(p, idx[k], &p->files[nf++], &name_pos);
			if (r < 0)
				break;
			if (nf - first < 2) {
				nf = first;
				continue;
			}
			g->size = p->c[idx[i]].size;
			memcpy(g->hash.b, dg(p, &p->c[idx[i]])->full, 16);
			g->files = &p->files[first];
			g->nfiles = nf - first;
			qsort(g->files, g->nfiles, sizeof(*g->files), cmp_file);
			ng++;
		}
		i = j;
	}
	free(cls);
	free(vbuf);
	res->ngroups = ng;
	qsort(res->groups, ng, sizeof(*res->groups), cmp_group);
	return r;
}

/* ---- the whole run --------------------------------------------------- */

static void dups_destroy(struct dups *d)
{
	if (d->workers) {
		for (unsigned i = 0; i < d->nworkers; i++) {
			struct worker *w = &d->workers[i];

			ring_free(w->ring);
			free(w->path);
			while (w->nfree) {
				struct reader *rd = w->free_readers[--w->nfree];

				hash_state_free(rd->hf.full);
				free(rd);
			}
		}
		free(d->workers);
	}
	task_pool_free(d->pool);
}

/*
 * Give every candidate (files sharing their size) room for its digests;
 * empty files get theirs at once.  Returns 0 or -ENOMEM.
 */
static int give_digests(struct dups_priv *p, const size_t *idx, size_t n)
{
	size_t missing = 0;
	struct digests *nh;
	struct hash128 h;

	for (size_t i = 0; i < n; i++)
		missing += p->c[idx[i]].h == NO_HASHES;
	if (p->nh + missing > NO_HASHES)
		return -EOVERFLOW;
	nh = realloc(p->h, (p->nh + missing + 1) * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	p->h = nh;
	hash_buffer("", 0, &h);
	for (size_t i = 0; i < n; i++) {
		struct cand *c = &p->c[idx[i]];

		if (c->h == NO_HASHES)
			c->h = (uint32_t)p->nh++;
		if (c->size == 0) {
			memcpy(dg(p, c)->head, h.b, 16);
			memcpy(dg(p, c)->tail, h.b, 16);
			memcpy(dg(p, c)->full, h.b, 16);
			c->have = HAVE_HEAD | HAVE_TAIL | HAVE_FULL;
		}
	}
	return 0;
}

int dups_run(struct store *store, struct dups_collector *col, const struct dups_opts *opts,
	     struct dups_result *ret)
{
	static const struct {
		enum stage stage;
		uint8_t have;
	} stages[] = {
		{ STAGE_HEAD, HAVE_HEAD },
		{ STAGE_TAIL, HAVE_TAIL },
		{ STAGE_FULL, HAVE_FULL },
	};
	struct dups d = { .store = store, .opts = opts };
	struct dups_result res = { 0 };
	size_t *idx = NULL, *todo = NULL, ninodes, n;
	unsigned jobs = opts->jobs, limit;
	struct walk_fd_plan fdp;
	int r;

	d.p = calloc(1, sizeof(*d.p));
	if (!d.p)
		return -ENOMEM;
	res.priv = d.p;
	d.p->roots = col->roots;
	r = merge_shards(col, d.p);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < d.p->n; i++)
		res.stats.reused += d.p->c[i].from_index;

	r = sort_inode_order(d.p);
	if (r < 0)
		goto out;
	idx = malloc((d.p->n ? d.p->n : 1) * sizeof(*idx));
	todo = malloc((d.p->n ? d.p->n : 1) * sizeof(*todo));
	if (!idx || !todo) {
		r = -ENOMEM;
		goto out;
	}
	ninodes = fold_links(d.p, idx);
	res.stats.files = ninodes;
	n = keep_shared(d.p, idx, ninodes, STAGE_SIZE);
	res.stats.candidates = n;
	r = give_digests(d.p, idx, n);
	if (r < 0)
		goto out;

	if (!jobs) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		jobs = cpus > 0 ? (unsigned)cpus : 1;
	}
	r = walk_fds_free(&limit);
	if (r >= 0)
		r = walk_fd_plan((unsigned)r, jobs, opts->io_mode, &fdp);
	if (r < 0)
		goto out;
	jobs = fdp.jobs;
	d.depth = fdp.depth < READ_DEPTH ? fdp.depth : READ_DEPTH;
	d.io_mode = fdp.io_mode;
	r = task_pool_new(jobs, &d.pool);
	if (r < 0)
		goto out;
	d.nworkers = jobs;
	d.workers = aligned_alloc(64, sizeof(*d.workers) * jobs);
	if (!d.workers) {
		r = -ENOMEM;
		goto out;
	}
	memset(d.workers, 0, sizeof(*d.workers) * jobs);
	task_pool_set_idle(d.pool, dups_idle, &d);

	/* Every digest known (a repeat run): one pass instead of three. */
	if (n > 0 && missing(d.p, idx, n, HAVE_HEAD | HAVE_TAIL | HAVE_FULL, todo) == 0)
		n = keep_shared_from(d.p, idx, n, STAGE_SIZE, STAGE_FULL);
	for (size_t s = 0; s < ARRAY_SIZE(stages) && n > 0; s++) {
		size_t m = missing(d.p, idx, n, stages[s].have, todo);

		r = read_stage(&d, todo, m, stages[s].stage);
		if (r < 0)
			goto out;
		n = keep_shared(d.p, idx, n, stages[s].stage);
	}

	if (opts->record) {
		/* Every inode read at any stage, not only the survivors. */
		size_t m = 0;

		for (size_t i = 0; i < d.p->n; i++)
			if (d.p->c[i].dirty)
				todo[m++] = i;
		r = record_hashes(&d, todo, m);
		if (r < 0)
			goto out;
	}
	r = build_groups(&d, idx, n, &res);
out:
	for (unsigned i = 0; d.workers && i < d.nworkers; i++) {
		struct ring_stats rs;

		if (!d.workers[i].ring)
			continue;
		ring_stats(d.workers[i].ring, &rs);
		res.stats.uring |= rs.uring;
		if (rs.peak_inflight > res.stats.peak_inflight)
			res.stats.peak_inflight = rs.peak_inflight;
	}
	res.stats.head_reads = atomic_load(&d.head_reads);
	res.stats.full_reads = atomic_load(&d.full_reads);
	res.stats.bytes_read = atomic_load(&d.bytes);
	res.stats.errors = atomic_load(&d.errors);
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
