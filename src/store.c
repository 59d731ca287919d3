/* SPDX-License-Identifier: MIT */
/*
 * store.c - the index in one LMDB environment: opening (and refusing),
 * readers, and the single writer thread.  The only file that includes lmdb.h.
 *
 * Opening.  A data file is first opened MDB_RDONLY and must hold a `meta`
 * database with "magic" = "fsindex" and our schema, and be as long as its
 * last page; anything else is refused before a byte is written, and a lock
 * file the probe had to create is removed again.  Only a missing or empty
 * data file is replaced, by one built aside and linked into place, so a scan
 * killed at any moment never leaves a half-made environment that the next
 * one would have to refuse.  LMDB's own codes become negative errno here and
 * nowhere else (lmdb_err()).
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
#include "store.h"

#include "lmdbcheck.h"
#include "log.h"
#include "node.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define STORE_MAGIC "fsindex"
#define ENV_MAXDBS 8	   /* five in schema 1, room for `gram` and more */
#define ENV_MAXREADERS 256 /* reader slots are per reader object, not per thread */
#define MAP_HEADROOM ((size_t)64 << 20) /* a writer's map beyond the file, at first */
#define BATCH_INIT (16 * 1024)
#define BATCH_HANDOFF (256 * 1024) /* large enough to amortize the queue lock */
#define QUEUE_DEFAULT ((size_t)4 << 20) /* queued + held until commit: bounds memory */
#define TXN_RECORDS_DEFAULT 50000
#define TXN_NS_DEFAULT 1000000000
#define SPARE_MAX 4		 /* recycled buffers kept for producers */
#define DEL_DEPTH_MAX (1u << 22) /* deeper than any real tree: a cycle */
#define CHILD_KEY_MAX (8 + NODE_NAME_MAX)
#define CHILD_VAL_SIZE 10
#define KEY_MAX 511 /* LMDB's default maximum key size */

/* apply_*() asks the driver to commit and apply the same op again. */
#define STEP_YIELD 0x7fffffff

/* ---- the grow gate ------------------------------------------------------ */

struct grow_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned shared;  /* open snapshots and write transactions */
	unsigned waiting; /* growers waiting for shared == 0 */
	bool exclusive;	  /* a grower is remapping */
};

static void gate_enter(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (g->exclusive || g->waiting)
		pthread_cond_wait(&g->cv, &g->mu);
	g->shared++;
	pthread_mutex_unlock(&g->mu);
}

static void gate_leave(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	assert(g->shared > 0);
	if (--g->shared == 0 && g->waiting)
		pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

static void gate_lock(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->waiting++;
	while (g->shared || g->exclusive)
		pthread_cond_wait(&g->cv, &g->mu);
	g->waiting--;
	g->exclusive = true;
	pthread_mutex_unlock(&g->mu);
}

static void gate_unlock(struct grow_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->exclusive = false;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* ---- the environment ---------------------------------------------------- */

struct store {
	MDB_env *env;
	MDB_dbi dbi_node, dbi_child, dbi_size, dbi_hash, dbi_meta;
	unsigned flags; /* STORE_* */
	bool nosubdir;	/* the data file is @name in @dir_fd, not data.mdb */
	char *path;	/* canonical: the directory, or the data file (nosubdir) */
	char *dir;	/* canonical path of the directory holding the files */
	char *name;	/* nosubdir: the data file's name in @dir_fd */
	int dir_fd;	/* the directory holding the data and lock files; open only in store_open() */
	char *lmdb_path; /* what LMDB opens: /proc/self/fd/<dir_fd>[/name] */
	bool locked;	/* the scan lock is ours: an flock on LMDB's data descriptor */
	struct grow_gate gate;
	struct store_writer *writer;
};

/*
 * LMDB's result to -errno.  LMDB passes system errors through as positive
 * errno values and has its own negative codes far below -4096; values in
 * -4095..-1 are already ours (node_decode(), allocation).
 */
static int lmdb_err(int rc)
{
	if (rc >= 0)
		return -rc;
	if (rc > -4096)
		return rc;
	switch (rc) {
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return STORE_E_FOREIGN;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_TXN_FULL:
		return -E2BIG; /* one record needs more than a whole transaction */
	default:
		log_debug("lmdb: %s", mdb_strerror(rc));
		return -EIO;
	}
}

/* Does @rc say the file is not an environment we can read (when probing)? */
static bool lmdb_foreign(int rc)
{
	return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED ||
	       rc == MDB_PAGE_NOTFOUND || rc == MDB_INCOMPATIBLE || rc == MDB_BAD_VALSIZE;
}

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_E_FOREIGN:
		return "not an fsindex index (refusing to touch it)";
	case STORE_E_SCHEMA:
		return "index has an unsupported schema version";
	case -EBUSY:
		return "another scan is writing this index";
	case -EBADMSG:
		return "the index holds a corrupt record (delete the index and scan again)";
	case STORE_E_UNSAFE:
		return "its directory belongs to another user or others may write to it, so its "
		       "files could be swapped for links to others (an index opens only in a "
		       "directory owned by you or root that no one else can write)";
	case -ELOOP:
		return "its data or lock file is a symbolic link (refusing to follow it)";
	case STORE_E_READERLOCK:
		return "cannot write its lock file, which every reader of an LMDB index must "
		       "(read access alone is not enough: ask its owner, or query a copy)";
	case -ENOMEM:
		return "Cannot allocate memory (the index is mapped into memory: if ulimit -v "
		       "limits the address space, raise it)";
	default:
		return strerror(-err);
	}
}

static MDB_val val_of(const void *p, size_t len)
{
	return (MDB_val){.mv_size = len, .mv_data = (void *)p};
}

/*
 * The map size to adopt when another process grew the data file past our
 * map: what the file holds now (LMDB rounds a smaller size up to the last
 * page in use), not the size that process mapped, which may be more than
 * our address space allows.  A writer keeps its own headroom.
 */
static size_t remap_size(struct store *s)
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
static int txn_begin(struct store *s, unsigned flags, MDB_txn **txnp, bool renew)
{
	int rc;

	for (;;) {
		gate_enter(&s->gate);
		if (renew)
			rc = mdb_txn_renew(*txnp);
		else
			rc = mdb_txn_begin(s->env, NULL, flags, txnp);
		if (rc != MDB_MAP_RESIZED)
			break;
		gate_leave(&s->gate);
		gate_lock(&s->gate);
		rc = mdb_env_set_mapsize(s->env, remap_size(s));
		gate_unlock(&s->gate);
		if (rc)
			return lmdb_err(rc);
	}
	if (rc) {
		gate_leave(&s->gate);
		return lmdb_err(rc);
	}
	return 0;
}

/* Open the `meta` database in @txn and check magic and schema. */
static int check_meta(MDB_txn *txn, MDB_dbi *ret_dbi)
{
	MDB_val key, val;
	MDB_dbi dbi;
	int rc;

	rc = mdb_dbi_open(txn, "meta", 0, &dbi);
	if (rc == MDB_NOTFOUND || lmdb_foreign(rc))
		return STORE_E_FOREIGN;
	if (rc)
		return lmdb_err(rc);

	key = val_of("magic", 5);
	rc = mdb_get(txn, dbi, &key, &val);
	if (rc == MDB_NOTFOUND || lmdb_foreign(rc))
		return STORE_E_FOREIGN;
	if (rc)
		return lmdb_err(rc);
	if (val.mv_size != strlen(STORE_MAGIC) || memcmp(val.mv_data, STORE_MAGIC, val.mv_size))
		return STORE_E_FOREIGN;

	key = val_of("schema", 6);
	rc = mdb_get(txn, dbi, &key, &val);
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : lmdb_err(rc);
	if (rc || val.mv_size != 4 || get_be32(val.mv_data) != STORE_SCHEMA_VERSION)
		return STORE_E_SCHEMA;
	*ret_dbi = dbi;
	return 0;
}

/* Open every database of the schema in @txn; @dbflags is 0 or MDB_CREATE. */
static int open_dbis(struct store *s, MDB_txn *txn, unsigned dbflags)
{
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{"node", &s->dbi_node}, {"child", &s->dbi_child}, {"size", &s->dbi_size},
		{"hash", &s->dbi_hash}, {"meta", &s->dbi_meta},
	};

	for (size_t i = 0; i < ARRAY_SIZE(dbs); i++) {
		int rc = mdb_dbi_open(txn, dbs[i].name, dbflags, dbs[i].dbi);

		if (rc == MDB_NOTFOUND || lmdb_foreign(rc))
			return STORE_E_FOREIGN; /* ours, but damaged */
		if (rc)
			return lmdb_err(rc);
	}
	return 0;
}

/*
 * A read-only transaction while opening (nothing else uses the env yet):
 * a writer elsewhere may grow the file past the map we just made.
 */
static int probe_txn(struct store *s, MDB_txn **ret_txn)
{
	int rc;

	while ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, ret_txn)) == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(s->env, remap_size(s));
		if (rc)
			break;
	}
	if (rc)
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : lmdb_err(rc);
	return 0;
}

/*
 * What LMDB does not check: a data file cut short, whose missing pages would
 * be SIGBUS when read through the map.  A file as long as its last page is
 * whole.  A shorter one may be valid too (LMDB never writes a page that a
 * transaction allocated and freed again), so then every page the current
 * snapshot reaches must be inside the file (lmdbcheck.c reads them with
 * pread, which fails where a map would fault).
 */
static int check_file(struct store *s)
{
	MDB_envinfo info;
	MDB_txn *txn;
	struct stat st;
	MDB_stat ms;
	int fd, rc, r = -EAGAIN;

	for (int tries = 0; tries < 8 && r == -EAGAIN; tries++) {
		rc = probe_txn(s, &txn);
		if (rc < 0)
			return rc;
		/* Facts of this snapshot, which the open txn keeps from reuse. */
		mdb_env_info(s->env, &info);
		mdb_env_stat(s->env, &ms);
		if (mdb_env_get_fd(s->env, &fd) || fstat(fd, &st) < 0)
			r = -EIO;
		else if ((uint64_t)st.st_size >= ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize)
			r = 0;
		else
			r = lmdbcheck_snapshot(fd, ms.ms_psize, mdb_txn_id(txn),
					       (uint64_t)st.st_size / ms.ms_psize);
		mdb_txn_abort(txn);
	}
	if (r == -EAGAIN)
		r = 0; /* a writer commits faster than we look: not a file cut short */
	if (r == -EBADMSG) {
		log_debug("%s: data file ends before a page it uses", s->path);
		return STORE_E_FOREIGN;
	}
	return r;
}

/* Check an existing environment and open its databases (read-only txn). */
static int attach(struct store *s)
{
	MDB_txn *txn;
	MDB_dbi meta;
	int r;

	r = probe_txn(s, &txn);
	if (r < 0)
		return r;
	r = check_meta(txn, &meta);
	if (r == 0)
		r = open_dbis(s, txn, 0);
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	/* Committing a read-only txn keeps the database handles it opened. */
	return lmdb_err(mdb_txn_commit(txn));
}

/* Write an empty index into the new data file @path (nobody else sees it yet). */
static int write_schema(const char *path)
{
	struct store dbs = {0};
	unsigned char schema[4];
	MDB_val key, val;
	MDB_env *env;
	MDB_txn *txn;
	int rc, r;

	rc = mdb_env_create(&env);
	if (rc)
		return lmdb_err(rc);
	rc = mdb_env_set_maxdbs(env, ENV_MAXDBS);
	if (!rc)
		rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc) {
		mdb_env_close(env);
		return lmdb_err(rc);
	}
	r = open_dbis(&dbs, txn, MDB_CREATE);
	if (r == 0) {
		key = val_of("magic", 5);
		val = val_of(STORE_MAGIC, strlen(STORE_MAGIC));
		r = lmdb_err(mdb_put(txn, dbs.dbi_meta, &key, &val, 0));
	}
	if (r == 0) {
		put_be32(schema, STORE_SCHEMA_VERSION);
		key = val_of("schema", 6);
		val = val_of(schema, 4);
		r = lmdb_err(mdb_put(txn, dbs.dbi_meta, &key, &val, 0));
	}
	if (r == 0)
		r = lmdb_err(mdb_txn_commit(txn)); /* synchronous: no MDB_NOSYNC here */
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return r;
}

/*
 * Create the data file @data (a name in s->dir_fd) atomically: build the
 * index where nobody looks (an O_TMPFILE, else a unique temporary name) and
 * link it into place.  A scan killed at any moment so leaves no data file or
 * a whole one, never an LMDB environment without our schema, which we would
 * have to refuse as someone else's.  @replace: @data exists, empty, and is
 * to be replaced.
 */
static int create_data_file(struct store *s, const char *data, bool replace)
{
	char *tmp = NULL, *tmpname = NULL, proc[64];
	int fd = -1, r;

	if (access("/proc/self/fd", F_OK) == 0)
		fd = openat(s->dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	} else {
		if (asprintf(&tmp, "%s/%s.XXXXXX", s->dir, data) < 0) {
			tmp = NULL;
			r = -ENOMEM;
			goto out;
		}
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			free(tmp);
			tmp = NULL;
			goto out;
		}
		tmpname = strrchr(tmp, '/') + 1;
	}
	r = write_schema(tmp ? tmp : proc);
	if (r < 0)
		goto out;
	if (replace) {
		struct stat st;

		/* Only while it is still empty: someone may have beaten us to it. */
		if (fstatat(s->dir_fd, data, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size == 0)
			unlinkat(s->dir_fd, data, 0);
	}
	if (tmp)
		r = linkat(s->dir_fd, tmpname, s->dir_fd, data, 0) < 0 ? -errno : 0;
	else
		r = linkat(AT_FDCWD, proc, s->dir_fd, data, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	if (r == -EEXIST)
		r = 0; /* created by another process meanwhile: judge that one */
	/* Make the new name durable, as the commit made the contents. */
	fsync(s->dir_fd);
out:
	if (tmp) {
		unlinkat(s->dir_fd, tmpname, 0);
		free(tmp);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

static int env_open(struct store *s, unsigned mdb_flags, size_t mapsize)
{
	int rc;

	rc = mdb_env_create(&s->env);
	if (rc)
		return lmdb_err(rc);
	rc = mdb_env_set_maxdbs(s->env, ENV_MAXDBS);
	if (!rc)
		rc = mdb_env_set_maxreaders(s->env, ENV_MAXREADERS);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, mapsize);
	if (!rc) {
		mdb_flags |= MDB_NOTLS | MDB_NORDAHEAD | MDB_NOMETASYNC;
		if (s->nosubdir)
			mdb_flags |= MDB_NOSUBDIR;
		rc = mdb_env_open(s->env, s->lmdb_path, mdb_flags, 0600);
	}
	if (rc) {
		mdb_env_close(s->env);
		s->env = NULL;
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : lmdb_err(rc);
	}
	return 0;
}

/* mkdir -p with mode 0700 for each missing component. */
static int mkdir_parents(const char *path)
{
	struct stat st;
	char *buf, *p;
	int r = 0;

	buf = strdup(path);
	if (!buf)
		return -ENOMEM;
	for (p = buf + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*p = c;
		if (!c)
			break;
	}
	free(buf);
	if (r == 0 && stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	return r;
}

/*
 * Initial map size.  A reader maps what the file holds (LMDB rounds up to
 * the last page in use; txn_begin() remaps when the file grows), so a query
 * of a small index needs little address space (ulimit -v).  A writer adds
 * headroom and doubles the map on MDB_MAP_FULL (grow_map()).  Overridable,
 * so tests can force growth.
 */
static size_t initial_mapsize(off_t file_size, bool rdonly)
{
	const char *env = getenv("FSINDEX_DEBUG_MAPSIZE");
	size_t size = (size_t)file_size;

	if (!rdonly)
		size += size / 2 > MAP_HEADROOM ? size / 2 : MAP_HEADROOM;
	if (env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 0);

		if (!*end && v)
			size = (size_t)v;
	}
	size = (size + 4095) & ~(size_t)4095;
	return size ? size : 4096;
}

/*
 * The scan lock is an flock on the data file, through the descriptor LMDB
 * holds anyway (LMDB itself locks only its lock file, with fcntl locks, which
 * flock does not meet), so a writer costs no descriptor of its own: every
 * one counts at `ulimit -n 8`.  Until the data file is there, an flock on the
 * index's directory stands in for it (see store_open()).
 */
int store_lock_scan(struct store *s)
{
	int fd;

	if (s->locked)
		return 0;
	if (mdb_env_get_fd(s->env, &fd))
		return -EINVAL;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	s->locked = true;
	return 0;
}

/*
 * Find the one directory behind every spelling of @path (a directory, its
 * data.mdb, a symlink to either, any number of "//./"), creating it when
 * missing unless @rdonly.  A regular file named otherwise is a data file of
 * its own (MDB_NOSUBDIR).  Sets s->path, s->dir and s->name.
 */
static int locate(struct store *s, const char *path, bool rdonly)
{
	struct stat st;
	char *real, *slash;
	int r;

	real = realpath(path, NULL);
	if (!real && errno == ENOENT && !rdonly) {
		r = mkdir_parents(path);
		if (r < 0)
			return r;
		real = realpath(path, NULL);
	}
	if (!real)
		return -errno;
	if (stat(real, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		s->dir = strdup(real);
		s->path = real;
		return s->dir ? 0 : -ENOMEM;
	}
	r = STORE_E_FOREIGN;
	if (!S_ISREG(st.st_mode))
		goto out;
	slash = strrchr(real, '/');
	r = -ENOMEM;
	if (strcmp(slash + 1, "data.mdb") == 0) {
		/* The directory's own data file: the same index as the directory. */
		s->dir = strndup(real, slash == real ? 1 : (size_t)(slash - real));
		s->path = s->dir ? strdup(s->dir) : NULL;
	} else {
		s->nosubdir = true;
		s->name = strdup(slash + 1);
		s->dir = strndup(real, slash == real ? 1 : (size_t)(slash - real));
		s->path = strdup(real);
	}
	if (s->dir && s->path && (s->name || !s->nosubdir))
		r = 0;
out:
	free(real);
	return r;
}

/*
 * Whoever may write the index's directory can swap its files for symlinks
 * between any check of ours and LMDB's open() (LMDB opens them by name and
 * follows symlinks), and so make us write lock bytes into a file of their
 * choosing.  So the directory must belong to us or root and be writable by
 * no one else: then only we or root can change what its names point to.
 * With privileges beyond our uid (setgid, file capabilities) only a
 * root-owned directory is trusted, since the user we run for is not.
 */
static int check_dir(struct store *s)
{
	struct stat st;
	bool ours;

	if (fstat(s->dir_fd, &st) < 0)
		return -errno;
	ours = st.st_uid == geteuid() && !getauxval(AT_SECURE);
	if (st.st_uid != 0 && !ours) {
		log_debug("%s: owned by uid %u", s->dir, (unsigned)st.st_uid);
		return STORE_E_UNSAFE;
	}
	if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != getegid())) {
		log_debug("%s: writable by others (mode %o)", s->dir, (unsigned)st.st_mode & 07777);
		return STORE_E_UNSAFE;
	}
	return 0;
}

/*
 * Is @name in the index directory absent (*ret_present false), or a regular
 * file?  A symlink is -ELOOP, anything else foreign.
 */
static int check_entry(const struct store *s, const char *name, struct stat *ret_st,
		       bool *ret_present)
{
	if (fstatat(s->dir_fd, name, ret_st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		*ret_present = false;
		ret_st->st_size = 0;
		return 0;
	}
	if (S_ISLNK(ret_st->st_mode))
		return -ELOOP;
	if (!S_ISREG(ret_st->st_mode))
		return STORE_E_FOREIGN;
	*ret_present = true;
	return 0;
}

/* Open s->dir, check it, and choose the path LMDB is to open. */
static int open_dir(struct store *s)
{
	char proc[64];
	int r;

	s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->dir_fd < 0 && errno == EACCES)
		s->dir_fd = open(s->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->dir_fd < 0)
		return errno == ELOOP ? -ELOOP : -errno;
	r = check_dir(s);
	if (r < 0)
		return r;
	/*
	 * LMDB opens its files by path.  Through /proc/self/fd/N a renamed
	 * or replaced directory (or parent) cannot redirect it elsewhere.
	 */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->dir_fd);
	if (access(proc, F_OK) < 0)
		r = s->nosubdir ? asprintf(&s->lmdb_path, "%s/%s", s->dir, s->name)
				: asprintf(&s->lmdb_path, "%s", s->dir);
	else
		r = s->nosubdir ? asprintf(&s->lmdb_path, "%s/%s", proc, s->name)
				: asprintf(&s->lmdb_path, "%s", proc);
	if (r < 0) {
		s->lmdb_path = NULL;
		return -ENOMEM;
	}
	return 0;
}

int store_open(const char *path, unsigned flags, struct store **ret_store)
{
	char *lmdb_lock = NULL;
	bool present, lock_present;
	const char *data;
	struct store *s;
	struct stat st;
	size_t mapsize;
	int r;

	if (!*path)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->flags = flags;
	s->dir_fd = -1;
	pthread_mutex_init(&s->gate.mu, NULL);
	pthread_cond_init(&s->gate.cv, NULL);

	r = locate(s, path, flags & STORE_RDONLY);
	if (r == 0)
		r = open_dir(s);
	if (r < 0)
		goto out_fail;
	/*
	 * A writer locks before it creates anything: a second scan must never
	 * slip in between creation and locking.  The data file may not exist
	 * yet, so the directory's flock guards this part: every writer takes
	 * it, only until its data file's lock is taken below, and fails at
	 * once if another one holds it, as it would on the data file's.
	 */
	if ((flags & STORE_LOCK) && flock(s->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY
		    : errno == EBADF	 ? -EACCES /* an O_PATH descriptor: not readable */
					 : -errno;
		goto out_fail;
	}

	data = s->nosubdir ? s->name : "data.mdb";
	if (s->nosubdir ? asprintf(&lmdb_lock, "%s-lock", s->name) < 0
			: !(lmdb_lock = strdup("lock.mdb"))) {
		lmdb_lock = NULL;
		r = -ENOMEM;
		goto out_fail;
	}
	r = check_entry(s, lmdb_lock, &st, &lock_present);
	if (r < 0)
		goto out_fail;
	/* An empty data file is as good as none: there is nothing to misread. */
	r = check_entry(s, data, &st, &present);
	if (r < 0)
		goto out_fail;
	if (st.st_size == 0) {
		if (flags & STORE_RDONLY) {
			r = -ENOENT;
			goto out_fail;
		}
		r = create_data_file(s, data, present);
		if (r < 0)
			goto out_fail;
	}
	mapsize = initial_mapsize(st.st_size, flags & STORE_RDONLY);

	/* Probe read-only: refuse what is not ours before writing anything. */
	r = env_open(s, MDB_RDONLY, initial_mapsize(st.st_size, true));
	if (r == -EACCES && (flags & STORE_RDONLY) &&
	    faccessat(s->dir_fd, data, R_OK, AT_EACCESS) == 0)
		r = STORE_E_READERLOCK; /* LMDB opens the lock file read-write */
	if (r == 0)
		r = check_file(s);
	if (r == 0)
		r = attach(s);
	if (r < 0) {
		mdb_env_close(s->env);
		s->env = NULL;
		if (!lock_present)
			unlinkat(s->dir_fd, lmdb_lock, 0); /* the probe made it: leave no trace */
		goto out_fail;
	}
	if (!(flags & STORE_RDONLY)) {
		mdb_env_close(s->env);
		s->env = NULL;
		r = env_open(s, 0, mapsize);
		if (r == -ENOMEM) /* no room for headroom: start at the file, grow on demand */
			r = env_open(s, 0, initial_mapsize(st.st_size, true));
		if (r == 0)
			r = attach(s);
		if (r < 0)
			goto out_fail;
	}
	if (flags & STORE_LOCK) {
		r = store_lock_scan(s);
		if (r < 0)
			goto out_fail;
	}
	/* LMDB has its files open: the directory (and its flock) can go. */
	close(s->dir_fd);
	s->dir_fd = -1;

	free(lmdb_lock);
	*ret_store = s;
	return 0;

out_fail:
	free(lmdb_lock);
	store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	assert(!s->writer);
	/* The scan lock goes with LMDB's data descriptor. */
	if (s->env)
		mdb_env_close(s->env);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	pthread_cond_destroy(&s->gate.cv);
	pthread_mutex_destroy(&s->gate.mu);
	free(s->lmdb_path);
	free(s->name);
	free(s->dir);
	free(s->path);
	free(s);
}

int store_info(struct store *s, struct store_info *ret)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn;
	int r;

	r = txn_begin(s, MDB_RDONLY, &txn, false);
	if (r < 0)
		return r;
	mdb_env_info(s->env, &info);
	r = lmdb_err(mdb_stat(txn, s->dbi_node, &st));
	mdb_txn_abort(txn);
	gate_leave(&s->gate);
	if (r < 0)
		return r;
	ret->last_txnid = info.me_last_txnid;
	ret->map_size = info.me_mapsize;
	ret->nodes = st.ms_entries;
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

struct store_reader {
	struct store *store;
	MDB_txn *txn; /* NULL until the first read; reset while paused */
	bool active;  /* holding a snapshot, and the gate */
	uint64_t gen; /* counts snapshots, so loops notice a pause */
};

int store_reader_new(struct store *s, struct store_reader **ret_reader)
{
	struct store_reader *rd;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->store = s;
	*ret_reader = rd;
	return 0;
}

void store_reader_free(struct store_reader *rd)
{
	if (!rd)
		return;
	if (rd->txn)
		mdb_txn_abort(rd->txn); /* valid on a reset read txn too */
	if (rd->active)
		gate_leave(&rd->store->gate);
	free(rd);
}

void store_reader_pause(struct store_reader *rd)
{
	if (!rd->active)
		return;
	mdb_txn_reset(rd->txn);
	rd->active = false;
	gate_leave(&rd->store->gate);
}

/* Make sure @rd holds a snapshot. */
static int reader_use(struct store_reader *rd)
{
	int r;

	if (rd->active)
		return 0;
	r = txn_begin(rd->store, MDB_RDONLY, &rd->txn, rd->txn != NULL);
	if (r < 0)
		return r;
	rd->active = true;
	rd->gen++;
	return 0;
}

int store_get_node(struct store_reader *rd, uint64_t id, struct node *ret)
{
	unsigned char k[8];
	MDB_val key, val;
	int r;

	r = reader_use(rd);
	if (r < 0)
		return r;
	put_be64(k, id);
	key = val_of(k, 8);
	r = lmdb_err(mdb_get(rd->txn, rd->store->dbi_node, &key, &val));
	if (r < 0)
		return r;
	return node_decode(val.mv_data, val.mv_size, id, ret);
}

static int req_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct store_node_req *)a)->id;
	uint64_t y = ((const struct store_node_req *)b)->id;

	return x < y ? -1 : x > y;
}

int store_get_nodes(struct store_reader *rd, struct store_node_req *reqs, size_t n)
{
	unsigned char k[8];
	MDB_cursor *cur = NULL;
	MDB_val key, val;
	int rc = 0, r;

	if (n == 0)
		return 0;
	qsort(reqs, n, sizeof(*reqs), req_cmp);
	r = reader_use(rd);
	if (r < 0)
		return r;
	rc = mdb_cursor_open(rd->txn, rd->store->dbi_node, &cur);
	for (size_t i = 0; i < n && !rc; i++) {
		/* The next key is often the next id: step instead of searching. */
		if (i && reqs[i].id == reqs[i - 1].id + 1) {
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
			if (!rc && (key.mv_size != 8 || get_be64(key.mv_data) != reqs[i].id))
				rc = MDB_NOTFOUND;
		} else {
			put_be64(k, reqs[i].id);
			key = val_of(k, 8);
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_KEY);
		}
		if (!rc && (r = node_decode(val.mv_data, val.mv_size, reqs[i].id, reqs[i].node)) < 0)
			break;
	}
	if (cur)
		mdb_cursor_close(cur);
	return r < 0 ? r : lmdb_err(rc);
}

static int decode_child(const MDB_val *key, const MDB_val *val, struct store_child *ret)
{
	const unsigned char *v = val->mv_data;

	if (val->mv_size != CHILD_VAL_SIZE || key->mv_size < 8 || key->mv_size > CHILD_KEY_MAX)
		return -EBADMSG;
	ret->id = get_be64(v);
	ret->type = (char)v[8];
	ret->flags = v[9];
	ret->name_len = (uint16_t)(key->mv_size - 8);
	ret->name = (const char *)key->mv_data + 8;
	return 0;
}

static size_t child_key(unsigned char *k, uint64_t parent, const char *name, size_t len)
{
	put_be64(k, parent);
	if (len)
		memcpy(k + 8, name, len);
	return 8 + len;
}

int store_lookup(struct store_reader *rd, uint64_t parent, const char *name, size_t name_len,
		 struct store_child *ret)
{
	unsigned char k[CHILD_KEY_MAX];
	struct store_child c;
	MDB_val key, val;
	int r;

	if (name_len > NODE_NAME_MAX)
		return -ENAMETOOLONG;
	r = reader_use(rd);
	if (r < 0)
		return r;
	key = val_of(k, child_key(k, parent, name, name_len));
	r = lmdb_err(mdb_get(rd->txn, rd->store->dbi_child, &key, &val));
	if (r < 0)
		return r;
	r = decode_child(&key, &val, &c);
	if (r < 0)
		return r;
	c.name = name; /* the caller's bytes outlive k */
	*ret = c;
	return 0;
}

typedef int walk_fn(void *ctx, const MDB_val *key, const MDB_val *val);

/*
 * Call @fn for each key of @dbi from @start on while its first @prefix_len
 * bytes equal @start's.  If @fn paused the reader, go on in a fresh
 * snapshot just after the last key seen.
 */
static int walk_keys(struct store_reader *rd, MDB_dbi dbi, const void *start, size_t start_len,
		     size_t prefix_len, walk_fn *fn, void *ctx)
{
	unsigned char last[KEY_MAX];
	size_t last_len = start_len;
	MDB_cursor *cur = NULL;
	bool have_last = false;
	uint64_t gen = 0;
	MDB_val key, val;
	int rc, r;

	assert(start_len <= sizeof(last) && prefix_len <= start_len);
	memcpy(last, start, start_len);
	for (;;) {
		if (!cur || !rd->active || gen != rd->gen) {
			if (cur)
				mdb_cursor_close(cur);
			cur = NULL;
			r = reader_use(rd);
			if (r < 0)
				return r;
			rc = mdb_cursor_open(rd->txn, dbi, &cur);
			if (rc)
				return lmdb_err(rc);
			gen = rd->gen;
			key = val_of(last, last_len);
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
			if (!rc && have_last && key.mv_size == last_len &&
			    !memcmp(key.mv_data, last, last_len))
				rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
		} else {
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
		}
		if (rc) {
			r = rc == MDB_NOTFOUND ? 0 : lmdb_err(rc);
			break;
		}
		if (key.mv_size < prefix_len || memcmp(key.mv_data, start, prefix_len)) {
			r = 0;
			break;
		}
		if (key.mv_size > sizeof(last)) {
			r = -EBADMSG;
			break;
		}
		memcpy(last, key.mv_data, key.mv_size);
		last_len = key.mv_size;
		have_last = true;
		r = fn(ctx, &key, &val); /* returned as is: may be any nonzero value */
		if (r)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

struct child_walk {
	store_child_fn *fn;
	void *ctx;
};

static int child_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct child_walk *cw = ctx;
	struct store_child c;
	int r;

	r = decode_child(key, val, &c);
	return r < 0 ? r : cw->fn(cw->ctx, &c);
}

int store_foreach_child(struct store_reader *rd, uint64_t parent, store_child_fn *fn, void *ctx)
{
	struct child_walk cw = {fn, ctx};
	unsigned char k[8];

	put_be64(k, parent);
	return walk_keys(rd, rd->store->dbi_child, k, 8, 8, child_step, &cw);
}

/*
 * A root record in `meta` under "root" + u64 id:
 *   u32 flags, u32 nexcludes, then per exclude u16 length and its bytes.
 */
static int root_encoded_size(const struct store_root *root, size_t *ret)
{
	size_t len = 8;

	for (uint32_t i = 0; i < root->nexcludes; i++) {
		size_t n = strlen(root->excludes[i]);

		if (n > UINT16_MAX)
			return -ENAMETOOLONG;
		len += 2 + n;
	}
	*ret = len;
	return 0;
}

static void root_encode(const struct store_root *root, unsigned char *p)
{
	put_be32(p, root->flags);
	put_be32(p + 4, root->nexcludes);
	p += 8;
	for (uint32_t i = 0; i < root->nexcludes; i++) {
		size_t n = strlen(root->excludes[i]);

		p[0] = (unsigned char)(n >> 8);
		p[1] = (unsigned char)n;
		memcpy(p + 2, root->excludes[i], n);
		p += 2 + n;
	}
}

/* Decode into *ret; ret->excludes is one allocation (pointers, then strings). */
static int root_decode(const unsigned char *p, size_t len, uint64_t id, struct store_root *ret)
{
	const unsigned char *end = p + len;
	uint32_t n;
	char **ex, *str;

	if (len < 8)
		return -EBADMSG;
	n = get_be32(p + 4);
	if (n > (len - 8) / 2)
		return -EBADMSG;
	ex = malloc(n * sizeof(*ex) + (len - 8) + 1);
	if (!ex)
		return -ENOMEM;
	ret->id = id;
	ret->flags = get_be32(p);
	ret->nexcludes = n;
	ret->excludes = ex;
	str = (char *)(ex + n);
	p += 8;
	for (uint32_t i = 0; i < n; i++) {
		size_t sl;

		if (end - p < 2 || (size_t)(end - p - 2) < (sl = (size_t)p[0] << 8 | p[1]))
			goto bad;
		memcpy(str, p + 2, sl);
		str[sl] = '\0';
		if (strlen(str) != sl)
			goto bad; /* an embedded NUL */
		ex[i] = str;
		str += sl + 1;
		p += 2 + sl;
	}
	if (p != end)
		goto bad;
	return 0;
bad:
	free(ex);
	return -EBADMSG;
}

struct root_walk {
	store_root_fn *fn;
	void *ctx;
};

static int root_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct root_walk *rw = ctx;
	struct store_root root;
	int r;

	if (key->mv_size != 12)
		return -EBADMSG;
	r = root_decode(val->mv_data, val->mv_size, get_be64((const char *)key->mv_data + 4),
			&root);
	if (r < 0)
		return r;
	r = rw->fn(rw->ctx, &root);
	free(root.excludes);
	return r;
}

int store_foreach_root(struct store_reader *rd, store_root_fn *fn, void *ctx)
{
	struct root_walk rw = {fn, ctx};

	return walk_keys(rd, rd->store->dbi_meta, "root", 4, 4, root_step, &rw);
}

struct size_walk {
	int (*fn)(void *ctx, uint64_t size, uint64_t id);
	void *ctx;
};

static int size_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct size_walk *sw = ctx;
	const unsigned char *k = key->mv_data;

	if (key->mv_size != 16)
		return -EBADMSG;
	return sw->fn(sw->ctx, get_be64(k), get_be64(k + 8));
}

int store_foreach_size(struct store_reader *rd, uint64_t min_size,
		       int (*fn)(void *ctx, uint64_t size, uint64_t id), void *ctx)
{
	struct size_walk sw = {fn, ctx};
	unsigned char k[16];

	put_be64(k, min_size);
	put_be64(k + 8, 0);
	return walk_keys(rd, rd->store->dbi_size, k, 16, 0, size_step, &sw);
}

struct hash_walk {
	int (*fn)(void *ctx, uint64_t id);
	void *ctx;
};

static int hash_step(void *ctx, const MDB_val *key, const MDB_val *val)
{
	struct hash_walk *hw = ctx;

	if (key->mv_size != 24)
		return -EBADMSG;
	return hw->fn(hw->ctx, get_be64((const unsigned char *)key->mv_data + 16));
}

int store_foreach_hash(struct store_reader *rd, const uint8_t full[16],
		       int (*fn)(void *ctx, uint64_t id), void *ctx)
{
	struct hash_walk hw = {fn, ctx};

	return walk_keys(rd, rd->store->dbi_hash, full, 16, 16, hash_step, &hw);
}

/* ---- writing ------------------------------------------------------------ */

/*
 * Ops in a wbuf: a type byte, then (integers big-endian)
 *   OP_PUT, OP_PUT_FRESH  u64 id, u16 len, node record of len bytes
 *   OP_DEL                u64 id
 *   OP_ROOT               u64 id, u32 len, root record of len bytes
 *   OP_SETTLE             u64 id, u8 1 to set NODE_F_SETTLED, 0 to clear it
 *   OP_MOVE               as OP_PUT
 */
enum {
	OP_PUT = 'P', OP_PUT_FRESH = 'F', OP_MOVE = 'M', OP_DEL = 'D', OP_ROOT = 'R',
	OP_SETTLE = 'S',
};

struct wbuf {
	struct wbuf *next;
	size_t len, cap;
	unsigned char *data;
};

/*
 * Keys of the size and hash indexes scatter over their B-trees: put one by
 * one as records arrive, each lands on another leaf (a cache miss, a page
 * copy, a search of the dirty list), and a fresh scan spent a third of its
 * time there.  So they are collected per transaction and put in key order
 * just before it commits, leaf after leaf.  A delete from either index puts
 * what is pending first, so puts and deletes still happen in op order.
 */
struct keyset {
	MDB_dbi dbi;
	size_t len; /* bytes per key */
	unsigned char *keys;
	size_t n, cap;
};

struct store_writer {
	struct store *store;
	pthread_t thread;
	atomic_uint_fast64_t next_id;
	atomic_int error; /* sticky: the first error; written under mu */

	/* Options, fixed at start. */
	size_t queue_bytes;
	size_t handoff_bytes;
	uint64_t txn_records;
	int64_t txn_ns;
	uint64_t debug_txn_full;
	bool discard;

	/* Shared with producers, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv_work;	 /* the writer: a buffer was queued, a producer waits, stop */
	pthread_cond_t cv_space; /* producers: bytes were released, or an error */
	struct wbuf *q_head, *q_tail;
	size_t bytes; /* queued, plus held by the writer until commit */
	unsigned space_waiters;
	struct wbuf *spare;
	unsigned nspare;
	unsigned nbatches;
	size_t unsignalled; /* queued since the writer was last woken */
	bool asleep;	    /* waiting with no transaction open, hence no deadline */
	bool stopping;

	/* The writer thread's own. */
	MDB_txn *txn;
	int64_t txn_begin_ns;
	uint64_t txn_ops;  /* ops completed in this txn */
	uint64_t txn_work; /* records put or removed in this txn */
	uint64_t txn_puts;
	uint64_t split_limit;		    /* after MDB_TXN_FULL: work per txn; 0: none */
	struct wbuf *held_head, *held_tail; /* the txn starts at held_head + start_off */
	size_t held_bytes, start_off;
	struct wbuf *pos_buf; /* the next op to apply */
	size_t pos_off;
	uint64_t *stack; /* subtree deletes */
	size_t stack_cap;
	struct keyset sizes, hashes; /* index keys put at commit */
	struct store_write_stats stats;
};

struct store_batch {
	struct store_writer *writer;
	struct wbuf *buf; /* NULL after a failed allocation */
};

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

static void set_error(struct store_writer *w, int r)
{
	pthread_mutex_lock(&w->mu);
	if (!atomic_load(&w->error)) {
		log_debug("index writer failed: %s", store_strerror(r));
		atomic_store(&w->error, r);
	}
	pthread_cond_broadcast(&w->cv_space);
	pthread_mutex_unlock(&w->mu);
}

/* Give @b's bytes back to the bound, and the buffer to the spares. */
static void release_locked(struct store_writer *w, struct wbuf *b)
{
	w->bytes -= b->len;
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

static void release_all(struct store_writer *w)
{
	w->pos_buf = w->held_tail;
	w->pos_off = w->pos_buf ? w->pos_buf->len : 0;
	release_committed(w);
}

static uint64_t txn_limit(const struct store_writer *w)
{
	if (w->split_limit && w->split_limit < w->txn_records)
		return w->split_limit;
	return w->txn_records;
}

static int txn_open(struct store_writer *w)
{
	int r = txn_begin(w->store, 0, &w->txn, false);

	if (r < 0) {
		w->txn = NULL;
		return r;
	}
	w->txn_begin_ns = now_mono_ns();
	w->txn_ops = w->txn_work = w->txn_puts = 0;
	return 0;
}

static int keyset_add(struct keyset *ks, const void *k)
{
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 1024;
		unsigned char *nk = reallocarray(ks->keys, cap, ks->len);

		if (!nk)
			return -ENOMEM;
		ks->keys = nk;
		ks->cap = cap;
	}
	memcpy(ks->keys + ks->n++ * ks->len, k, ks->len);
	return 0;
}

static int key_cmp(const void *a, const void *b, void *len)
{
	return memcmp(a, b, *(const size_t *)len);
}

/* Put the pending keys of @ks in order.  Returns 0 or LMDB's code. */
static int keyset_put(struct store_writer *w, struct keyset *ks)
{
	MDB_val val = val_of("", 0);
	int rc = 0;

	if (ks->n == 0)
		return 0;
	qsort_r(ks->keys, ks->n, ks->len, key_cmp, &ks->len);
	for (size_t i = 0; i < ks->n && !rc; i++) {
		MDB_val key = val_of(ks->keys + i * ks->len, ks->len);

		rc = mdb_put(w->txn, ks->dbi, &key, &val, 0);
	}
	ks->n = 0;
	return rc;
}

static void txn_abort(struct store_writer *w)
{
	w->sizes.n = w->hashes.n = 0;
	if (!w->txn)
		return;
	mdb_txn_abort(w->txn);
	w->txn = NULL;
	gate_leave(&w->store->gate);
}

/* Commit the open txn.  Returns 0 or LMDB's code (the txn is gone either way). */
static int txn_commit(struct store_writer *w)
{
	int rc = keyset_put(w, &w->sizes);

	if (!rc)
		rc = keyset_put(w, &w->hashes);
	if (rc) {
		txn_abort(w);
		return rc;
	}
	rc = mdb_txn_commit(w->txn);
	w->txn = NULL;
	gate_leave(&w->store->gate);
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

	gate_lock(&s->gate);
	mdb_env_info(s->env, &info);
	size = info.me_mapsize * 2;
	rc = size > info.me_mapsize ? mdb_env_set_mapsize(s->env, size) : ENOSPC;
	gate_unlock(&s->gate);
	if (rc)
		return lmdb_err(rc);
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
		return lmdb_err(write_errno(w->store, rc));
	}
	w->pos_buf = w->held_head;
	w->pos_off = w->start_off;
	return 0;
}

static int node_key_get(struct store_writer *w, uint64_t id, unsigned char *buf, struct node *ret)
{
	unsigned char k[8];
	MDB_val key, val;
	int rc;

	put_be64(k, id);
	key = val_of(k, 8);
	rc = mdb_get(w->txn, w->store->dbi_node, &key, &val);
	if (rc)
		return rc;
	if (val.mv_size > NODE_REC_MAX)
		return -EBADMSG;
	memcpy(buf, val.mv_data, val.mv_size); /* the map page may change under us */
	return node_decode(buf, val.mv_size, id, ret);
}

/* Delete @dbi's @key; a key that is already gone is fine. */
static int del_key(struct store_writer *w, MDB_dbi dbi, const void *k, size_t len)
{
	MDB_val key = val_of(k, len);
	int rc = mdb_del(w->txn, dbi, &key, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int del_size_key(struct store_writer *w, const struct node *n)
{
	unsigned char k[16];
	int rc = keyset_put(w, &w->sizes);

	if (rc)
		return rc;
	put_be64(k, n->size);
	put_be64(k + 8, n->id);
	return del_key(w, w->store->dbi_size, k, 16);
}

static int del_hash_key(struct store_writer *w, const struct node *n)
{
	unsigned char k[24];
	int rc = keyset_put(w, &w->hashes);

	if (rc)
		return rc;
	memcpy(k, n->full, 16);
	put_be64(k + 16, n->id);
	return del_key(w, w->store->dbi_hash, k, 24);
}

/* Delete (parent, name) if it still names @id (a newer node may own it now). */
static int del_child_key(struct store_writer *w, const struct node *n)
{
	unsigned char k[CHILD_KEY_MAX];
	MDB_val key, val;
	int rc;

	key = val_of(k, child_key(k, n->parent, n->name, n->name_len));
	rc = mdb_get(w->txn, w->store->dbi_child, &key, &val);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	if (val.mv_size == CHILD_VAL_SIZE && get_be64(val.mv_data) != n->id)
		return 0;
	return mdb_del(w->txn, w->store->dbi_child, &key, NULL);
}

/* Delete node @id and its keys, not its children. */
static int del_node(struct store_writer *w, uint64_t id)
{
	unsigned char buf[NODE_REC_MAX], k[8];
	struct node n;
	int rc;

	rc = node_key_get(w, id, buf, &n);
	if (rc)
		return rc == MDB_NOTFOUND ? 0 : rc;
	rc = del_child_key(w, &n);
	if (!rc && S_ISREG(n.mode))
		rc = del_size_key(w, &n);
	if (!rc && n.hash_state == NODE_HASH_FULL)
		rc = del_hash_key(w, &n);
	if (rc)
		return rc;
	put_be64(k, id);
	w->txn_work++;
	return del_key(w, w->store->dbi_node, k, 8);
}

/*
 * Is the child entry @key -> @val under @parent one to descend into?  An
 * entry whose node is missing or names another place is stale: drop it, or
 * the loop in del_tree() would find it forever.
 */
static int check_child(struct store_writer *w, MDB_cursor *cur, uint64_t parent, const MDB_val *key,
		       const MDB_val *val, uint64_t *ret_id)
{
	unsigned char buf[NODE_REC_MAX];
	struct node n;
	uint64_t id = 0;
	int rc;

	if (val->mv_size == CHILD_VAL_SIZE)
		id = get_be64(val->mv_data);
	if (id && id != parent) {
		rc = node_key_get(w, id, buf, &n);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		if (!rc && n.parent == parent && n.name_len == key->mv_size - 8 &&
		    !memcmp(n.name, (const char *)key->mv_data + 8, n.name_len)) {
			*ret_id = id;
			return 0;
		}
	}
	*ret_id = 0;
	w->txn_work++;
	return mdb_cursor_del(cur, 0);
}

/*
 * Delete everything below @top, and @top itself if @self: depth first with
 * an explicit stack (a 10,000-deep chain must not recurse on the C stack),
 * leaves before their parents, so stopping at any point (STEP_YIELD, when the
 * txn has done its share of work) leaves a consistent tree.
 */
static int del_tree(struct store_writer *w, uint64_t top, bool self)
{
	unsigned char k8[8];
	MDB_cursor *cur;
	size_t depth = 0;
	int rc;

	rc = mdb_cursor_open(w->txn, w->store->dbi_child, &cur);
	if (rc)
		return rc;
	if (!w->stack_cap) {
		w->stack = malloc(64 * sizeof(*w->stack));
		if (!w->stack) {
			rc = -ENOMEM;
			goto out;
		}
		w->stack_cap = 64;
	}
	w->stack[depth++] = top;
	while (depth > 0) {
		uint64_t id = w->stack[depth - 1], child;
		MDB_val key, val;

		put_be64(k8, id);
		key = val_of(k8, 8);
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc && rc != MDB_NOTFOUND)
			break;
		if (!rc && key.mv_size >= 8 && !memcmp(key.mv_data, k8, 8)) {
			rc = check_child(w, cur, id, &key, &val, &child);
			if (rc)
				break;
			if (!child)
				continue;
			if (depth == w->stack_cap) {
				uint64_t *st;

				if (depth >= DEL_DEPTH_MAX) {
					rc = -ELOOP;
					break;
				}
				st = realloc(w->stack, 2 * depth * sizeof(*st));
				if (!st) {
					rc = -ENOMEM;
					break;
				}
				w->stack = st;
				w->stack_cap = 2 * depth;
			}
			w->stack[depth++] = child;
			continue;
		}
		/* @id has no children left. */
		if (--depth == 0 && !self) {
			rc = 0;
			break;
		}
		if (w->txn_work >= txn_limit(w)) {
			rc = STEP_YIELD;
			break;
		}
		rc = del_node(w, id);
		if (rc)
			break;
	}
out:
	mdb_cursor_close(cur);
	return rc;
}

/*
 * Put node @id.  OP_PUT_FRESH: the id is new.  OP_PUT: it may replace an
 * older record of @id, and another node holding its name was replaced on
 * disk: that one goes, subtree and all.  OP_MOVE: as OP_PUT, but another
 * node holding the name only loses it; it is being moved away or deleted by
 * an op of its own (a swap of two names must not delete either subtree).
 */
/*
 * Would putting node @id under @parent make it its own ancestor?  Only a
 * move can ask for that, and only a walk gone wrong would: refuse it rather
 * than store a loop that no traversal could leave.
 */
static int check_no_loop(struct store_writer *w, uint64_t id, uint64_t parent)
{
	unsigned char buf[NODE_REC_MAX];
	struct node p;
	unsigned depth = 0;
	int rc;

	while (parent) {
		if (parent == id || ++depth > DEL_DEPTH_MAX)
			return -ELOOP;
		rc = node_key_get(w, parent, buf, &p);
		if (rc)
			return rc == MDB_NOTFOUND ? 0 : rc;
		parent = p.parent;
	}
	return 0;
}

static int apply_put(struct store_writer *w, uint64_t id, const unsigned char *rec, size_t len,
		     unsigned char op)
{
	bool fresh = op == OP_PUT_FRESH;
	struct store *s = w->store;
	unsigned char oldbuf[NODE_REC_MAX], k[CHILD_KEY_MAX], cval[CHILD_VAL_SIZE];
	struct node n, old;
	MDB_val key, val;
	int rc;

	if (w->debug_txn_full && w->txn_puts >= w->debug_txn_full)
		return MDB_TXN_FULL;
	rc = node_decode(rec, len, id, &n);
	if (rc < 0)
		return rc;

	if (!fresh) {
		rc = node_key_get(w, id, oldbuf, &old);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		if (!rc && S_ISDIR(old.mode) && !S_ISDIR(n.mode))
			rc = del_tree(w, id, false);
		if (!rc && op == OP_MOVE && old.parent != n.parent)
			rc = check_no_loop(w, id, n.parent);
		if (!rc && (old.parent != n.parent || old.name_len != n.name_len ||
			    memcmp(old.name, n.name, n.name_len)))
			rc = del_child_key(w, &old);
		if (!rc && S_ISREG(old.mode) && (!S_ISREG(n.mode) || old.size != n.size))
			rc = del_size_key(w, &old);
		if (!rc && old.hash_state == NODE_HASH_FULL &&
		    (n.hash_state != NODE_HASH_FULL || memcmp(old.full, n.full, 16)))
			rc = del_hash_key(w, &old);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
	}

	/* The name: if another node holds it, that one was replaced on disk. */
	put_be64(cval, id);
	cval[8] = (unsigned char)node_type_char(n.mode);
	cval[9] = n.flags & NODE_F_CHILD_MASK;
	key = val_of(k, child_key(k, n.parent, n.name, n.name_len));
	val = val_of(cval, CHILD_VAL_SIZE);
	rc = mdb_put(w->txn, s->dbi_child, &key, &val, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		uint64_t other = val.mv_size == CHILD_VAL_SIZE ? get_be64(val.mv_data) : 0;

		if (other && other != id && op != OP_MOVE) {
			rc = del_tree(w, other, true);
			if (rc)
				return rc;
		}
		val = val_of(cval, CHILD_VAL_SIZE);
		rc = mdb_put(w->txn, s->dbi_child, &key, &val, 0);
	}
	if (rc)
		return rc;

	put_be64(k, id);
	key = val_of(k, 8);
	val = val_of(rec, len);
	rc = mdb_put(w->txn, s->dbi_node, &key, &val, 0);
	if (!rc && S_ISREG(n.mode)) {
		put_be64(k, n.size);
		put_be64(k + 8, id);
		rc = keyset_add(&w->sizes, k);
	}
	if (!rc && n.hash_state == NODE_HASH_FULL) {
		memcpy(k, n.full, 16);
		put_be64(k + 16, id);
		rc = keyset_add(&w->hashes, k);
	}
	if (rc)
		return rc;
	w->txn_work++;
	w->txn_puts++;
	return 0;
}

static int apply_root(struct store_writer *w, uint64_t id, const unsigned char *rec, size_t len)
{
	unsigned char k[12];
	MDB_val key, val;
	int rc;

	if (w->debug_txn_full && w->txn_puts >= w->debug_txn_full)
		return MDB_TXN_FULL;
	memcpy(k, "root", 4);
	put_be64(k + 4, id);
	key = val_of(k, 12);
	val = val_of(rec, len);
	rc = mdb_put(w->txn, w->store->dbi_meta, &key, &val, 0);
	if (rc)
		return rc;
	w->txn_work++;
	w->txn_puts++;
	return 0;
}

/* Set or clear NODE_F_SETTLED on node @id, if it is still there. */
static int apply_settle(struct store_writer *w, uint64_t id, bool settled)
{
	unsigned char buf[NODE_REC_MAX], rec[NODE_REC_MAX], k[8]; /* n.name points into buf */
	MDB_val key, val;
	struct node n;
	uint8_t flags;
	int rc, len;

	rc = node_key_get(w, id, buf, &n);
	if (rc == MDB_NOTFOUND)
		return 0; /* removed since: nothing to settle */
	if (rc)
		return rc;
	flags = settled ? n.flags | NODE_F_SETTLED : n.flags & ~NODE_F_SETTLED;
	if (flags == n.flags)
		return 0;
	n.flags = flags;
	len = node_encode(&n, rec, sizeof(rec));
	if (len < 0)
		return len;
	put_be64(k, id);
	key = val_of(k, 8);
	val = val_of(rec, (size_t)len);
	rc = mdb_put(w->txn, w->store->dbi_node, &key, &val, 0);
	if (rc)
		return rc;
	w->txn_work++;
	w->txn_puts++;
	return 0;
}

/* Apply the op at pos; *ret_len is its encoded length. */
static int apply_op(struct store_writer *w, size_t *ret_len)
{
	const unsigned char *p = w->pos_buf->data + w->pos_off;
	uint64_t id = get_be64(p + 1);
	size_t len;

	switch (p[0]) {
	case OP_PUT:
	case OP_PUT_FRESH:
	case OP_MOVE:
		len = (size_t)p[9] << 8 | p[10];
		*ret_len = 11 + len;
		return apply_put(w, id, p + 11, len, p[0]);
	case OP_DEL:
		*ret_len = 9;
		return del_tree(w, id, true);
	case OP_ROOT:
		len = get_be32(p + 9);
		*ret_len = 13 + len;
		return apply_root(w, id, p + 13, len);
	case OP_SETTLE:
		*ret_len = 10;
		return apply_settle(w, id, p[9]);
	default:
		assert(!"unknown op");
		return -EINVAL;
	}
}

/*
 * Apply the held ops from pos to the end, committing whenever the txn has
 * done its share, and replaying after a recoverable failure.
 */
static int run_held(struct store_writer *w)
{
	size_t len;
	int rc = 0, r;

	while (w->pos_buf) {
		if (w->pos_off == w->pos_buf->len) {
			if (!w->pos_buf->next)
				break;
			w->pos_buf = w->pos_buf->next;
			w->pos_off = 0;
			continue;
		}
		if (w->txn && w->txn_work >= txn_limit(w)) {
			rc = txn_commit(w);
		} else if (!w->txn) {
			r = txn_open(w);
			if (r < 0)
				return r;
			continue;
		} else {
			rc = apply_op(w, &len);
			if (rc == 0) {
				w->pos_off += len;
				w->txn_ops++;
				continue;
			}
			if (rc == STEP_YIELD)
				rc = txn_commit(w);
		}
		if (rc) {
			r = recover(w, rc);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Commit everything applied so far, replaying as often as LMDB asks. */
static int commit_now(struct store_writer *w)
{
	int rc, r;

	while (w->txn) {
		rc = txn_commit(w);
		if (!rc)
			break;
		r = recover(w, rc);
		if (r == 0)
			r = run_held(w);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool commit_due(const struct store_writer *w)
{
	return w->held_bytes >= w->queue_bytes / 2 || now_mono_ns() - w->txn_begin_ns >= w->txn_ns;
}

/*
 * Wait for the next buffer.  NULL means: commit now (producers are waiting
 * for bytes the txn holds, or it has been open for txn_ns), and, if
 * *ret_stop, then exit.
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
		if (w->space_waiters || now_mono_ns() >= deadline)
			break;
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
		pthread_cond_timedwait(&w->cv_work, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return b;
}

static void writer_fail(struct store_writer *w, int r)
{
	txn_abort(w);
	release_all(w);
	set_error(w, r);
}

static void *writer_main(void *arg)
{
	struct store_writer *w = arg;
	bool stop = false;
	struct wbuf *b;
	int r;

	while (!stop) {
		b = queue_pop(w, &stop);
		if (!b) {
			r = commit_now(w);
			if (r < 0)
				writer_fail(w, r);
			continue;
		}
		if (atomic_load(&w->error) || w->discard) {
			pthread_mutex_lock(&w->mu);
			release_locked(w, b);
			pthread_cond_broadcast(&w->cv_space);
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		r = w->txn && commit_due(w) ? commit_now(w) : 0;
		if (w->held_tail)
			w->held_tail->next = b;
		else
			w->held_head = w->pos_buf = b;
		w->held_tail = b;
		w->held_bytes += b->len;
		if (r == 0)
			r = run_held(w);
		if (r < 0)
			writer_fail(w, r);
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

	r = txn_begin(s, MDB_RDONLY, &txn, false);
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
	gate_leave(&s->gate);
	return lmdb_err(rc);
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
	r = last_node_id(s, &last);
	if (r < 0)
		return r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->store = s;
	atomic_init(&w->next_id, last >= NODE_ID_TOP ? last + 1 : NODE_ID_TOP + 1);
	atomic_init(&w->error, 0);
	w->queue_bytes = o.queue_bytes ? o.queue_bytes : QUEUE_DEFAULT;
	w->handoff_bytes = w->queue_bytes / 4 < BATCH_HANDOFF ? w->queue_bytes / 4 : BATCH_HANDOFF;
	w->txn_records = o.txn_records ? o.txn_records : TXN_RECORDS_DEFAULT;
	w->discard = o.discard;
	w->txn_ns = o.txn_ns > 0 ? o.txn_ns : TXN_NS_DEFAULT;
	w->debug_txn_full = o.debug_txn_full;
	w->sizes = (struct keyset){.dbi = s->dbi_size, .len = 16};
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

	r = atomic_load(&w->error);
	/* The meta page of the last commit is not synced (MDB_NOMETASYNC). */
	if (r == 0 && w->stats.commits)
		r = lmdb_err(write_errno(s, mdb_env_sync(s->env, 1)));
	if (ret_stats)
		*ret_stats = w->stats;

	assert(!w->q_head && !w->held_head && !w->txn);
	while (w->spare) {
		struct wbuf *b = w->spare;

		w->spare = b->next;
		wbuf_free(b);
	}
	free(w->stack);
	free(w->sizes.keys);
	free(w->hashes.keys);
	pthread_cond_destroy(&w->cv_space);
	pthread_cond_destroy(&w->cv_work);
	pthread_mutex_destroy(&w->mu);
	s->writer = NULL;
	free(w);
	return r;
}

/* ---- producers ---------------------------------------------------------- */

int store_batch_new(struct store_writer *w, struct store_batch **ret_batch)
{
	struct store_batch *b;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->writer = w;
	b->buf = wbuf_new(BATCH_INIT);
	if (!b->buf) {
		free(b);
		return -ENOMEM;
	}
	pthread_mutex_lock(&w->mu);
	w->nbatches++;
	pthread_mutex_unlock(&w->mu);
	*ret_batch = b;
	return 0;
}

/* Queue the batch's buffer, waiting while the queue is over its bound. */
static int batch_handoff(struct store_batch *b)
{
	struct store_writer *w = b->writer;
	struct wbuf *buf = b->buf, *next;
	int r;

	if (!buf || !buf->len)
		return atomic_load(&w->error);
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
	while (!atomic_load(&w->error) && w->bytes >= w->queue_bytes) {
		w->space_waiters++;
		pthread_cond_signal(&w->cv_work);
		pthread_cond_wait(&w->cv_space, &w->mu);
		w->space_waiters--;
	}
	r = atomic_load(&w->error);
	if (r) {
		/* Nothing is committed after an error: drop the records. */
		pthread_mutex_unlock(&w->mu);
		buf->len = 0;
		return r;
	}
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
static int batch_reserve(struct store_batch *b, size_t need)
{
	struct wbuf *buf = b->buf;
	size_t cap;
	void *p;

	if (!buf && !(buf = b->buf = wbuf_new(BATCH_INIT)))
		return -ENOMEM;
	if (buf->cap - buf->len >= need)
		return 0;
	for (cap = buf->cap; cap - buf->len < need; cap *= 2)
		;
	p = realloc(buf->data, cap);
	if (!p)
		return -ENOMEM;
	buf->data = p;
	buf->cap = cap;
	return 0;
}

static int batch_added(struct store_batch *b)
{
	if (b->buf->len >= b->writer->handoff_bytes)
		return batch_handoff(b);
	return 0;
}

/* Queue @n as op @op (OP_PUT, OP_PUT_FRESH or OP_MOVE). */
static int batch_put_op(struct store_batch *b, const struct node *n, unsigned char op)
{
	unsigned char *p;
	int r, len;

	r = atomic_load(&b->writer->error);
	if (r)
		return r;
	if (!n->id || n->id == n->parent)
		return -EINVAL;
	r = batch_reserve(b, 11 + NODE_HDR_SIZE + (size_t)n->name_len);
	if (r < 0)
		return r;
	p = b->buf->data + b->buf->len;
	len = node_encode(n, p + 11, b->buf->cap - b->buf->len - 11);
	if (len < 0)
		return len;
	p[0] = op;
	put_be64(p + 1, n->id);
	p[9] = (unsigned char)(len >> 8);
	p[10] = (unsigned char)len;
	b->buf->len += 11 + (size_t)len;
	return batch_added(b);
}

int store_batch_put(struct store_batch *b, const struct node *n, bool fresh)
{
	return batch_put_op(b, n, fresh ? OP_PUT_FRESH : OP_PUT);
}

int store_batch_move(struct store_batch *b, const struct node *n)
{
	return batch_put_op(b, n, OP_MOVE);
}

/*
 * Reserve an op of @len bytes on @b (the type byte and the id included) and
 * write its header; *ret points just past the id, for the rest of it.
 */
static int batch_op(struct store_batch *b, unsigned char op, uint64_t id, size_t len,
		    unsigned char **ret)
{
	unsigned char *p;
	int r;

	r = atomic_load(&b->writer->error);
	if (r)
		return r;
	if (!id)
		return -EINVAL;
	r = batch_reserve(b, len);
	if (r < 0)
		return r;
	p = b->buf->data + b->buf->len;
	p[0] = op;
	put_be64(p + 1, id);
	b->buf->len += len;
	*ret = p + 9;
	return 0;
}

int store_batch_del(struct store_batch *b, uint64_t id)
{
	unsigned char *p;
	int r = batch_op(b, OP_DEL, id, 9, &p);

	return r < 0 ? r : batch_added(b);
}

int store_batch_settle(struct store_batch *b, uint64_t id, bool settled)
{
	unsigned char *p;
	int r = batch_op(b, OP_SETTLE, id, 10, &p);

	if (r < 0)
		return r;
	p[0] = settled;
	return batch_added(b);
}

int store_batch_put_root(struct store_batch *b, const struct store_root *root)
{
	unsigned char *p;
	size_t len;
	int r;

	r = atomic_load(&b->writer->error);
	if (r)
		return r;
	r = root_encoded_size(root, &len);
	if (r < 0)
		return r;
	if (len > UINT32_MAX)
		return -E2BIG;
	r = batch_reserve(b, 13 + len);
	if (r < 0)
		return r;
	p = b->buf->data + b->buf->len;
	p[0] = OP_ROOT;
	put_be64(p + 1, root->id);
	put_be32(p + 9, (uint32_t)len);
	root_encode(root, p + 13);
	b->buf->len += 13 + len;
	return batch_added(b);
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
	pthread_mutex_unlock(&w->mu);
	free(b);
}
