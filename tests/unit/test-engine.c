/* SPDX-License-Identifier: MIT */
/*
 * test-engine.c - one engine, several jobs (issue 7): two scans at once
 * into one index, each exact, with hashes; a small scan that returns while
 * a big one is held up; one job cancelled through its own token while the
 * other completes; a job whose commit fails while the writer goes on; the
 * engine's process-wide token stopping every job at once; too few
 * descriptors (-EMFILE and the shortage); the mount table.
 *
 * The oracle is the tree on disk, read with readdir() and lstat() and
 * hashed with libxxhash's XXH3-128 here, never with the walker or hash.c:
 * every directory's children in the index must be its entries, every node
 * must carry its entry's inode, type, size and link count, and every file
 * of a hashed root its three digests; and the index must hold nothing else
 * (its node count: a second chain node, or what a failed job left, would
 * show).  A full disk is tests/integ/enospc.sh's.
 *
 * Nothing relies on timing.  What must not have happened yet is kept from
 * happening by a callback that waits for an event another thread sets
 * (struct event), and only ever for something that needs no worker of the
 * engine: a scan's on_start or return, which run on the scan's own thread.
 * So a waiting worker can hold up its own job but not the job it waits for
 * (a worker that waits inside a read's completion stalls the other reads
 * of its ring, so a job waited for never reads on a ring a waiting worker
 * may hold).  The trees are small enough that the writer never grows the
 * map, which would wait for the read snapshots of a waiting worker.  A wait
 * that never ends is ended by alarm(), as a failure.
 */
#include "engine.h"

#include "cancel.h"
#include "errors.h"
#include "mountinfo.h"
#include "node.h"
#include "ring.h"
#include "scan.h"
#include "store.h"
#include "util.h"
#include "walk.h"

#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <xxhash.h>

/* The big trees: BIG_DIRS directories of BIG_FILES files, each with a subdirectory of a quarter. */
#define BIG_DIRS 40
#define BIG_FILES 50
#define ROOT_FILES 6	 /* files right in a tree's root, so its first task sees some */
#define CANCEL_AFTER 200 /* files a cancelled job sees before it cancels itself */
#define DUP_EVERY 8	 /* every 8th file has the same content in every tree */
#define DUP_SIZE 5000
#define NOISE 16384   /* file content is a window of this much noise */
#define MAX_SIZE 9000 /* larger than two HASH_PARTIAL blocks: head and tail differ */

static char base[64];
static struct cancel proc_cancel; /* the process-wide token of most engines here */
static volatile const char *section = "setup";
static unsigned char noise[NOISE + MAX_SIZE];

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! a wait never ended in: ";
	const char *s = (const char *)section;

	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	(void)!write(STDOUT_FILENO, s, strlen(s));
	(void)!write(STDOUT_FILENO, "\n", 1);
	_exit(1);
}

/* ---- events: set once, waited for by anyone ---------------------------- */

struct event {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool set;
};

static void event_init(struct event *ev)
{
	pthread_mutex_init(&ev->mu, NULL);
	pthread_cond_init(&ev->cv, NULL);
	ev->set = false;
}

static void event_destroy(struct event *ev)
{
	pthread_cond_destroy(&ev->cv);
	pthread_mutex_destroy(&ev->mu);
}

static void event_set(struct event *ev)
{
	pthread_mutex_lock(&ev->mu);
	ev->set = true;
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
}

static void event_wait(struct event *ev)
{
	pthread_mutex_lock(&ev->mu);
	while (!ev->set)
		pthread_cond_wait(&ev->cv, &ev->mu);
	pthread_mutex_unlock(&ev->mu);
}

static bool event_is_set(struct event *ev)
{
	bool set;

	pthread_mutex_lock(&ev->mu);
	set = ev->set;
	pthread_mutex_unlock(&ev->mu);
	return set;
}

/* ---- trees on disk ------------------------------------------------------ */

struct tree {
	char path[PATH_MAX];
	unsigned files, dirs; /* regular files and directories below the root */
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void noise_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < sizeof(noise); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		noise[i] = (unsigned char)x;
	}
}

/* File @k of a tree with @seed: a window of the noise, or the content every tree shares. */
static void make_file(int dirfd, const char *name, unsigned seed, unsigned k)
{
	unsigned h = (seed * 2654435761u) ^ (k * 40503u);
	size_t off = (h >> 8) % NOISE, size = (h * 7919u) % MAX_SIZE;
	int fd;

	if (k % DUP_EVERY == 0) {
		off = 0;
		size = DUP_SIZE;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, noise + off, size) != (ssize_t)size)
		diag("cannot write %s: %s", name, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* @nfiles files named f000... in @dirfd; returns how many. */
static unsigned make_files(int dirfd, unsigned nfiles, unsigned seed, unsigned *k)
{
	char name[32];

	for (unsigned i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%03u%s", i, i % 5 == 0 ? " with blank" : "");
		make_file(dirfd, name, seed, (*k)++);
	}
	return nfiles;
}

/*
 * Build tree @name under the test directory: ROOT_FILES files, then @ndirs
 * directories of @nfiles files, each holding "sub" with a quarter as many.
 */
static bool build_tree(struct tree *t, const char *name, unsigned ndirs, unsigned nfiles,
		       unsigned seed)
{
	char dname[32];
	unsigned k = 0;
	int fd, d, s;

	snprintf(t->path, sizeof(t->path), "%s/%s", base, name);
	t->files = t->dirs = 0;
	if (mkdir(t->path, 0755) < 0)
		return false;
	fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	t->files += make_files(fd, ROOT_FILES, seed, &k);
	for (unsigned i = 0; i < ndirs; i++) {
		snprintf(dname, sizeof(dname), "d%03u", i);
		if (mkdirat(fd, dname, 0755) < 0 ||
		    (d = openat(fd, dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			break;
		t->files += make_files(d, nfiles, seed, &k);
		if (mkdirat(d, "sub", 0755) == 0 &&
		    (s = openat(d, "sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			t->files += make_files(s, nfiles / 4, seed, &k);
			close(s);
			t->dirs++;
		}
		close(d);
		t->dirs++;
	}
	close(fd);
	return t->dirs == 2 * ndirs;
}

/* ---- the oracle --------------------------------------------------------- */

struct check {
	unsigned files, dirs, bad;
	bool hashed; /* files must carry their digests (else none) */
};

struct kid {
	char name[NODE_NAME_MAX + 1];
	uint64_t id;
	char type;
};

struct kids {
	struct kid *v;
	size_t n, cap;
};

static int collect(void *ctx, const struct store_child *c)
{
	struct kids *ks = ctx;

	if (GROW(ks->v, ks->cap, ks->n + 1))
		return -ENOMEM;
	memcpy(ks->v[ks->n].name, c->name, c->name_len);
	ks->v[ks->n].name[c->name_len] = '\0';
	ks->v[ks->n].id = c->id;
	ks->v[ks->n].type = c->type;
	ks->n++;
	return 0;
}

static int kid_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kid *)a)->name, ((const struct kid *)b)->name);
}

/* The entries of directory @path, sorted, in *ret (the caller frees v). */
static int list_disk(const char *path, struct kids *ret)
{
	DIR *dir = opendir(path);
	struct dirent *de;

	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (GROW(ret->v, ret->cap, ret->n + 1)) {
			closedir(dir);
			return -ENOMEM;
		}
		snprintf(ret->v[ret->n++].name, sizeof(ret->v[0].name), "%s", de->d_name);
	}
	closedir(dir);
	qsort(ret->v, ret->n, sizeof(*ret->v), kid_cmp);
	return 0;
}

__attribute__((format(printf, 2, 3))) static void bad(struct check *ck, const char *fmt, ...)
{
	va_list ap;
	char msg[PATH_MAX + 128];

	if (ck->bad++ >= 5)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag("%s", msg);
}

/* Do node @n's digests match XXH3-128 of the file at @path, computed here? */
static bool digests_match(const char *path, const struct node *n)
{
	static unsigned char buf[MAX_SIZE + 1];
	XXH128_canonical_t head, tail, full;
	size_t part;
	ssize_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf));
	close(fd);
	if (len < 0 || (uint64_t)len != n->size)
		return false;
	part = (size_t)len < 4096 ? (size_t)len : 4096;
	XXH128_canonicalFromHash(&full, XXH3_128bits(buf, (size_t)len));
	XXH128_canonicalFromHash(&head, XXH3_128bits(buf, part));
	XXH128_canonicalFromHash(&tail, XXH3_128bits(buf + len - part, part));
	return n->hash_state == NODE_HASH_FULL && !memcmp(n->full, full.digest, 16) &&
	       !memcmp(n->head, head.digest, 16) && !memcmp(n->tail, tail.digest, 16);
}

static void check_dir(struct store_reader *rd, const char *path, uint64_t id, struct check *ck);

/* One entry: its node against lstat() (and the digests), then below it. */
static void check_entry(struct store_reader *rd, const char *path, const struct kid *k,
			struct check *ck)
{
	struct node n;
	struct stat st;
	int r;

	if (lstat(path, &st) < 0 || (r = store_get_node(rd, k->id, &n)) < 0) {
		bad(ck, "%s: cannot compare: %s", path, strerror(errno));
		return;
	}
	if (n.ino != st.st_ino || n.mode != st.st_mode || n.nlink != st.st_nlink ||
	    (S_ISREG(st.st_mode) && n.size != (uint64_t)st.st_size) ||
	    k->type != node_type_char(st.st_mode) || (n.flags & NODE_F_CHAIN))
		bad(ck, "%s: the node is not the entry's", path);
	if (S_ISDIR(st.st_mode)) {
		ck->dirs++;
		check_dir(rd, path, k->id, ck);
	} else if (S_ISREG(st.st_mode)) {
		ck->files++;
		if (ck->hashed ? !digests_match(path, &n) : n.hash_state != NODE_HASH_NONE)
			bad(ck, "%s: digests %s", path,
			    ck->hashed ? "wrong or missing" : "not asked");
	}
}

/* Is directory @path's listing in the index (node @id) its entries on disk, all the way down? */
static void check_dir(struct store_reader *rd, const char *path, uint64_t id, struct check *ck)
{
	struct kids disk = {0}, idx = {0};
	char sub[PATH_MAX];
	int r;

	r = list_disk(path, &disk);
	if (r == 0)
		r = store_foreach_child(rd, id, collect, &idx);
	if (r < 0) {
		bad(ck, "%s: cannot list: %s", path, fsi_strerror(r));
		goto out;
	}
	qsort(idx.v, idx.n, sizeof(*idx.v), kid_cmp);
	if (idx.n != disk.n)
		bad(ck, "%s: %zu entries on disk, %zu in the index", path, disk.n, idx.n);
	for (size_t i = 0; i < idx.n && i < disk.n; i++) {
		if (strcmp(idx.v[i].name, disk.v[i].name) != 0) {
			bad(ck, "%s: '%s' on disk, '%s' in the index", path, disk.v[i].name,
			    idx.v[i].name);
			break;
		}
		snprintf(sub, sizeof(sub), "%s/%s", path, idx.v[i].name);
		check_entry(rd, sub, &idx.v[i], ck);
	}
out:
	free(disk.v);
	free(idx.v);
}

/* Does @s's index hold tree @t exactly (with digests if @hashed)? */
static bool holds_tree(struct store *s, const struct tree *t, bool hashed)
{
	struct check ck = {.hashed = hashed};
	struct store_reader *rd = NULL;
	uint64_t id;
	int r;

	r = store_reader_new(s, &rd);
	if (r == 0)
		r = store_resolve_path(rd, t->path, &id);
	if (r == 0)
		check_dir(rd, t->path, id, &ck);
	else
		diag("%s: not in the index: %s", t->path, fsi_strerror(r));
	store_reader_free(rd);
	if (r == 0 && (ck.files != t->files || ck.dirs != t->dirs))
		diag("%s: %u files and %u dirs checked, %u and %u built", t->path, ck.files,
		     ck.dirs, t->files, t->dirs);
	return r == 0 && ck.bad == 0 && ck.files == t->files && ck.dirs == t->dirs;
}

/*
 * Does @s hold exactly the nodes of @nroots trees of @entries entries in
 * all, below the test directory?  Orphans (a node cut off by a second
 * node of one name, or left by a failed job) would count.
 */
static bool holds_nodes(struct store *s, unsigned nroots, uint64_t entries)
{
	struct store_info info;
	uint64_t want = 1 + nroots + entries; /* "/", the roots, what is below them */

	for (const char *p = base; *p; p++)
		want += *p == '/'; /* base's components: chain nodes */
	if (store_info(s, &info) < 0)
		return false;
	if (info.nodes != want)
		diag("the index holds %llu nodes, not %llu", (unsigned long long)info.nodes,
		     (unsigned long long)want);
	return info.nodes == want;
}

/* ---- engines, stores and jobs ------------------------------------------ */

static struct store *open_locked(const char *name)
{
	char path[PATH_MAX];
	struct store *s = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/%s", base, name);
	r = store_open(path, 0, &s);
	if (r == 0)
		r = store_lock_scan(s);
	if (r < 0) {
		diag("cannot open %s: %s", path, fsi_strerror(r));
		store_close(s);
		return NULL;
	}
	return s;
}

static struct engine *engine_of(struct store *s, const struct store_writer_opts *wo,
				const struct cancel *token)
{
	struct engine_opts eo = {.jobs = 2, .io_mode = RING_AUTO, .write = true, .cancel = token};
	struct engine *e = NULL;
	int r;

	if (wo)
		eo.writer = *wo;
	r = engine_new(s, &eo, &e, NULL);
	if (r < 0)
		diag("engine_new: %s", fsi_strerror(r));
	return r < 0 ? NULL : e;
}

/* One scan_run() of one tree, on a thread of its own, with its hooks. */
struct job {
	struct engine *e;
	const struct tree *tree;
	char *root;
	struct scan_opts so;
	struct scan_result res;
	int r;
	pthread_t thread;
	struct cancel token;  /* the job's own, under the engine's */
	struct event started; /* on_start ran (or scan_run returned before it) */
	struct event blocked; /* the first on_file waits (or scan_run returned) */
	struct event done;    /* scan_run returned */
	/* Hooks, set before the job starts. */
	struct event *start_waits; /* on_start waits for this */
	struct event *first_waits; /* the first on_file waits for this */
	unsigned cancel_after;	   /* the job cancels its token at this file (0: never) */
	struct job *other;	   /* on_start notes whether this one had returned */
	/* What the hooks saw. */
	atomic_uint files;   /* on_file calls */
	atomic_uint foreign; /* ... for a file outside the job's root */
	bool other_done_at_start;
};

static void job_on_start(void *ctx, struct walk_stats *stats)
{
	struct job *j = ctx;

	if (j->start_waits)
		event_wait(j->start_waits);
	if (j->other)
		j->other_done_at_start = event_is_set(&j->other->done);
	event_set(&j->started);
}

static void job_on_file(void *ctx, unsigned worker, const char *root, const char *dir,
			size_t dir_len, const struct node *n)
{
	struct job *j = ctx;
	unsigned seen = atomic_fetch_add(&j->files, 1) + 1;
	size_t rlen = strlen(j->root);

	if (strcmp(root, j->root) != 0 || dir_len < rlen || memcmp(dir, j->root, rlen) != 0)
		atomic_fetch_add(&j->foreign, 1);
	if (seen == 1 && j->first_waits) {
		event_set(&j->blocked);
		event_wait(j->first_waits);
	}
	if (seen == j->cancel_after)
		cancel_request(&j->token, SIGINT);
}

static void job_init(struct job *j, struct engine *e, const struct tree *t, bool hash)
{
	memset(j, 0, sizeof(*j));
	j->e = e;
	j->tree = t;
	j->root = (char *)t->path;
	cancel_init(&j->token, engine_cancel(e));
	event_init(&j->started);
	event_init(&j->blocked);
	event_init(&j->done);
	atomic_init(&j->files, 0);
	atomic_init(&j->foreign, 0);
	j->so.walk_flags = hash ? WALK_HASH : 0;
	j->so.cancel = &j->token;
	j->so.on_file = job_on_file;
	j->so.file_ctx = j;
	j->so.on_start = job_on_start;
	j->so.progress_ctx = j;
}

static void job_destroy(struct job *j)
{
	event_destroy(&j->started);
	event_destroy(&j->blocked);
	event_destroy(&j->done);
}

static void *job_thread(void *arg)
{
	struct job *j = arg;

	j->r = scan_run(j->e, &j->root, 1, &j->so, &j->res);
	/* A job that failed early must not leave anyone waiting for its hooks. */
	event_set(&j->started);
	event_set(&j->blocked);
	event_set(&j->done);
	return NULL;
}

static void job_start(struct job *j)
{
	if (pthread_create(&j->thread, NULL, job_thread, j) != 0)
		abort();
}

static int job_join(struct job *j)
{
	pthread_join(j->thread, NULL);
	return j->r;
}

/* Scan @t once more on @e, with nothing waited for; returns scan_run()'s result. */
static int scan_again(struct engine *e, const struct tree *t, bool hash)
{
	struct job j;
	int r;

	job_init(&j, e, t, hash);
	job_start(&j);
	r = job_join(&j);
	job_destroy(&j);
	return r;
}

/* ---- the tests ---------------------------------------------------------- */

static struct tree tree_a, tree_b, tree_small;

/* A locked store @name with an engine of two workers over it, or NULL (a failed test). */
static struct engine *setup(const char *name, const struct store_writer_opts *wo,
			    const struct cancel *token, struct store **ret_store)
{
	struct store *s = open_locked(name);
	struct engine *e = s ? engine_of(s, wo, token) : NULL;

	if (e && engine_workers(e) < 2) {
		diag("only %u worker: the tests need two", engine_workers(e));
		engine_free(e, NULL);
		e = NULL;
	}
	if (!e) {
		ok(false, "an engine of two workers over a fresh index (%s)", name);
		store_close(s);
		return NULL;
	}
	*ret_store = s;
	return e;
}

/*
 * Two hashed scans at once on one engine, of disjoint trees.  Each job's
 * first file waits until the other's walk has started (its on_start, on its
 * own thread), so neither walk can end before both are under way.
 */
static void test_two_at_once(void)
{
	struct store *s;
	struct engine *e;
	struct job a, b;
	int ra, rb, rf;

	section = "two jobs at once";
	e = setup("db-two", NULL, &proc_cancel, &s);
	if (!e)
		return;
	job_init(&a, e, &tree_a, true);
	job_init(&b, e, &tree_b, true);
	a.first_waits = &b.started;
	a.other = &b;
	b.first_waits = &a.started;
	b.other = &a;
	job_start(&a);
	job_start(&b);
	ra = job_join(&a);
	rb = job_join(&b);
	ok(ra == 0 && rb == 0, "two scans at once on one engine both return 0 (%s, %s)",
	   fsi_strerror(ra), fsi_strerror(rb));
	ok(!a.other_done_at_start && !b.other_done_at_start,
	   "each job's walk started while the other job was running");
	ok(a.foreign == 0 && b.foreign == 0 && a.files == tree_a.files && b.files == tree_b.files,
	   "each job's on_file saw its own files, each once (%u and %u of %u and %u)",
	   atomic_load(&a.files), atomic_load(&b.files), tree_a.files, tree_b.files);
	ok(a.res.files == tree_a.files && b.res.files == tree_b.files &&
		   a.res.hashed == tree_a.files && b.res.hashed == tree_b.files,
	   "each job counted and hashed its own files (%llu, %llu hashed; reads: %s)",
	   (unsigned long long)a.res.hashed, (unsigned long long)b.res.hashed,
	   a.res.uring ? "io_uring" : "pread");
	ok(holds_tree(s, &tree_a, true),
	   "the index holds the first tree exactly, with XXH3-128 digests computed here");
	ok(holds_tree(s, &tree_b, true), "... and the second one");
	ok(holds_nodes(s, 2, tree_a.files + tree_a.dirs + tree_b.files + tree_b.dirs),
	   "and nothing else: one chain from \"/\" serves both roots");
	rf = engine_free(e, NULL);
	ok(rf == 0, "engine_free after both: %s", fsi_strerror(rf));
	job_destroy(&a);
	job_destroy(&b);
	store_close(s);
}

/*
 * A small job is waited for while a big one runs: the big job's first file
 * waits (holding one worker) until the small job's scan_run() has returned
 * and its tree has been checked in the index.
 */
static void test_wait_for_one(void)
{
	struct event small_checked;
	struct job big, small;
	struct store *s;
	struct engine *e;
	bool running, exact;
	int rs, rb;

	section = "wait for one while another runs";
	e = setup("db-wait", NULL, &proc_cancel, &s);
	if (!e)
		return;
	event_init(&small_checked);
	job_init(&big, e, &tree_a, true);
	big.first_waits = &small_checked;
	job_start(&big);
	event_wait(&big.blocked);
	job_init(&small, e, &tree_small, true);
	job_start(&small);
	rs = job_join(&small);
	running = !event_is_set(&big.done);
	exact = holds_tree(s, &tree_small, true);
	event_set(&small_checked);
	rb = job_join(&big);
	ok(rs == 0 && running, "the small job's scan returns (%s) while the big one still runs",
	   fsi_strerror(rs));
	ok(exact, "the small tree is committed by then, exact, with digests");
	ok(rb == 0, "then the big job completes (%s)", fsi_strerror(rb));
	ok(holds_tree(s, &tree_a, true), "... and its tree is exact too");
	ok(holds_nodes(s, 2, tree_a.files + tree_a.dirs + tree_small.files + tree_small.dirs),
	   "and nothing else");
	ok(engine_free(e, NULL) == 0, "engine_free");
	job_destroy(&big);
	job_destroy(&small);
	event_destroy(&small_checked);
	store_close(s);
}

/*
 * One job cancelled through its own token, midway, while the other runs on:
 * the cancelled job's walk starts once the other's has (its on_start waits),
 * the other's first file waits until the cancelled scan has returned.  The
 * cancelled job does not hash: it reads on no ring that the waiting worker
 * could hold.
 */
static void test_cancel_one(void)
{
	struct store *s;
	struct engine *e;
	struct job a, b;
	int ra, rb, r;

	section = "cancel one job";
	e = setup("db-cancel", NULL, &proc_cancel, &s);
	if (!e)
		return;
	job_init(&a, e, &tree_a, false);
	job_init(&b, e, &tree_b, true);
	a.start_waits = &b.started;
	a.cancel_after = CANCEL_AFTER;
	b.first_waits = &a.done;
	job_start(&a);
	job_start(&b);
	ra = job_join(&a);
	rb = job_join(&b);
	ok(ra == -ECANCELED && a.res.files >= CANCEL_AFTER && a.res.files < tree_a.files,
	   "the job cancelled at its %dth file returns -ECANCELED (%s), midway: %llu of %u files",
	   CANCEL_AFTER, fsi_strerror(ra), (unsigned long long)a.res.files, tree_a.files);
	ok(rb == 0 && !cancel_requested(&b.token) && !cancel_requested(engine_cancel(e)),
	   "the other job completes (%s); its token and the engine's are not cancelled",
	   fsi_strerror(rb));
	ok(holds_tree(s, &tree_b, true), "... and its tree is exact, with digests");
	r = scan_again(e, &tree_a, false);
	ok(r == 0 && holds_tree(s, &tree_a, false),
	   "the engine goes on: a third scan completes the cancelled tree, exact (%s)",
	   fsi_strerror(r));
	ok(holds_nodes(s, 2, tree_a.files + tree_a.dirs + tree_b.files + tree_b.dirs),
	   "and nothing else");
	ok(engine_free(e, NULL) == 0, "engine_free");
	job_destroy(&a);
	job_destroy(&b);
	store_close(s);
}

/* The engine's own token stops every job on it: each first file waits for it. */
static void test_cancel_all(void)
{
	struct cancel token;
	struct event stop;
	struct store *s;
	struct engine *e;
	struct job a, b;
	int ra, rb, rf;

	section = "cancel the engine";
	cancel_init(&token, NULL);
	e = setup("db-stop", NULL, &token, &s);
	if (!e)
		return;
	event_init(&stop);
	job_init(&a, e, &tree_a, false);
	job_init(&b, e, &tree_b, false);
	a.first_waits = b.first_waits = &stop;
	job_start(&a);
	job_start(&b);
	event_wait(&a.blocked);
	event_wait(&b.blocked);
	cancel_request(&token, SIGTERM);
	event_set(&stop);
	ra = job_join(&a);
	rb = job_join(&b);
	ok(ra == -ECANCELED && rb == -ECANCELED && a.res.files < tree_a.files &&
		   b.res.files < tree_b.files,
	   "the engine's token stops both jobs midway (%s, %s; %llu and %llu files)",
	   fsi_strerror(ra), fsi_strerror(rb), (unsigned long long)a.res.files,
	   (unsigned long long)b.res.files);
	ok(cancel_reason(&a.token) == SIGTERM && cancel_reason(&b.token) == SIGTERM,
	   "each job's token tells the engine's reason");
	rf = engine_free(e, NULL);
	ok(rf == 0, "engine_free after a stop: %s", fsi_strerror(rf));
	job_destroy(&a);
	job_destroy(&b);
	event_destroy(&stop);
	store_close(s);
}

/* The writer fails one commit (a test hook): its job fails, the writer goes on. */
static void test_failed_commit(void)
{
	struct store_writer_opts wo = {.debug_fail_commit = 1, .debug_fail_errno = EDQUOT};
	struct store_write_stats ws;
	struct store *s;
	struct engine *e;
	int r1, r2, r3, rf;

	section = "a failed commit";
	e = setup("db-fail", &wo, &proc_cancel, &s);
	if (!e)
		return;
	r1 = scan_again(e, &tree_small, true);
	ok(r1 == -EDQUOT, "the scan whose commit fails returns that error (%s)", fsi_strerror(r1));
	ok(store_write_error(s) == -EDQUOT,
	   "the store names it as the index's write error at once, engine still running");
	r2 = scan_again(e, &tree_b, true);
	ok(r2 == 0 && holds_tree(s, &tree_b, true),
	   "a later scan on the same engine commits (%s): the writer goes on", fsi_strerror(r2));
	r3 = scan_again(e, &tree_small, true);
	ok(r3 == 0 && holds_tree(s, &tree_small, true),
	   "the failed tree scanned again is exact (%s)", fsi_strerror(r3));
	rf = engine_free(e, &ws);
	ok(rf == -EDQUOT && ws.commits > 0,
	   "engine_free returns the first error a job met (%s), after %llu commits",
	   fsi_strerror(rf), (unsigned long long)ws.commits);
	ok(store_write_error(s) == -EDQUOT, "... and still after the engine is gone");
	ok(holds_nodes(s, 2, tree_b.files + tree_b.dirs + tree_small.files + tree_small.dirs),
	   "nothing of the failed job is left over");
	store_close(s);
}

/* FSINDEX_DEBUG_FDS=N: engine_new() believes N descriptors are free. */
static void test_fd_shortage(void)
{
	struct engine_fd_shortage sh = {0};
	struct engine_opts eo = {.jobs = 4, .io_mode = RING_SYNC, .write = true};
	struct engine *e = NULL;
	struct rlimit rl;
	struct store *s;
	char n[16];
	int r;

	section = "too few descriptors";
	s = open_locked("db-fds");
	if (!s) {
		ok(false, "a store for the descriptor tests");
		return;
	}
	setenv("FSINDEX_DEBUG_FDS", "1", 1);
	r = engine_new(s, &eo, &e, &sh);
	getrlimit(RLIMIT_NOFILE, &rl);
	ok(r == -EMFILE && !e && sh.needed == walk_fd_min(RING_SYNC) && sh.needed > 1 &&
		   sh.limit == rl.rlim_cur && sh.used == sh.limit - 1,
	   "one free descriptor: -EMFILE (%s), %u needed, limit %u, %u used", fsi_strerror(r),
	   sh.needed, sh.limit, sh.used);
	memset(&sh, 0, sizeof(sh));
	eo.io_mode = RING_URING;
	snprintf(n, sizeof(n), "%u", walk_fd_min(RING_URING) - 1);
	setenv("FSINDEX_DEBUG_FDS", n, 1);
	r = engine_new(s, &eo, &e, &sh);
	ok(r == -EMFILE && !e && sh.needed == walk_fd_min(RING_URING),
	   "one short of an io_uring worker: -EMFILE, %u needed", sh.needed);
	eo.io_mode = RING_SYNC;
	snprintf(n, sizeof(n), "%u", walk_fd_min(RING_SYNC));
	setenv("FSINDEX_DEBUG_FDS", n, 1);
	r = engine_new(s, &eo, &e, NULL);
	unsetenv("FSINDEX_DEBUG_FDS");
	ok(r == 0 && engine_workers(e) == 1,
	   "just enough for one worker: an engine of one worker, not four (%s)", fsi_strerror(r));
	r = r ?: scan_again(e, &tree_small, false);
	ok(r == 0 && holds_tree(s, &tree_small, false),
	   "it scans (so the refused engines left no writer behind): %s", fsi_strerror(r));
	ok(engine_free(e, NULL) == 0, "engine_free");
	store_close(s);
}

struct mount_worker {
	struct engine *e;
	dev_t dev;
	atomic_uint *misses;
};

/* Look up and refresh, over and over, next to other threads doing the same. */
static void *mounts_thread(void *arg)
{
	struct mount_worker *mw = arg;

	for (int i = 0; i < 50; i++) {
		const struct mount_table *t = engine_mounts(mw->e);

		if (!t || !mount_table_find(t, mw->dev) ||
		    (i % 5 == 0 && engine_refresh_mounts(mw->e)))
			atomic_fetch_add(mw->misses, 1);
	}
	return NULL;
}

static void test_mounts(void)
{
	struct engine_opts eo = {.jobs = 1, .io_mode = RING_SYNC};
	const struct mount_table *t, *t2;
	const struct mount_entry *m;
	struct mount_worker mw;
	pthread_t th[4];
	atomic_uint misses;
	struct engine *e = NULL;
	struct store *s;
	struct statfs sf;
	struct stat st;
	int r;

	section = "the mount table";
	if (statfs("/proc", &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC) {
		skip("no proc on /proc to look for");
		return;
	}
	s = open_locked("db-mounts");
	if (!s || stat("/proc", &st) < 0 || engine_new(s, &eo, &e, NULL) < 0) {
		ok(false, "an engine without a writer");
		store_close(s);
		return;
	}
	t = engine_mounts(e);
	m = t ? mount_table_find(t, st.st_dev) : NULL;
	ok(m && !strcmp(m->type, "proc") && !strcmp(m->point, "/proc"),
	   "engine_mounts() has /proc's device: %s on %s", m ? m->type : "-", m ? m->point : "-");
	ok(engine_mounts(e) == t, "the table is parsed once");
	r = engine_refresh_mounts(e);
	t2 = engine_mounts(e);
	ok(r == 0 && t2 && t2 != t && mount_table_find(t2, st.st_dev),
	   "engine_refresh_mounts() loads a new table (%s)", fsi_strerror(r));
	ok(mount_table_find(t, st.st_dev) == m && !strcmp(m->type, "proc"),
	   "the old table stays valid until engine_free()");
	atomic_init(&misses, 0);
	mw = (struct mount_worker){.e = e, .dev = st.st_dev, .misses = &misses};
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, mounts_thread, &mw);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ok(atomic_load(&misses) == 0, "four threads look up and refresh at once: no miss");
	ok(engine_free(e, NULL) == 0, "engine_free");
	store_close(s);
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	bool built;

	snprintf(base, sizeof(base), "/tmp/test-engine.XXXXXX");
	if (!mkdtemp(base))
		skip_all("cannot create a temporary directory");
	sigaction(SIGALRM, &sa, NULL);
	alarm(600); /* a wait that never ends fails the test instead of hanging it */
	plan_lazy();
	noise_init();
	built = build_tree(&tree_a, "a", BIG_DIRS, BIG_FILES, 1) &&
		build_tree(&tree_b, "b", BIG_DIRS, BIG_FILES, 2) &&
		build_tree(&tree_small, "small", 2, 8, 3);
	ok(built, "the trees are built: %u, %u and %u files", tree_a.files, tree_b.files,
	   tree_small.files);
	test_two_at_once();
	test_wait_for_one();
	test_cancel_one();
	test_cancel_all();
	test_failed_commit();
	test_fd_shortage();
	test_mounts();
	rm_rf(base);
	return done_testing();
}
