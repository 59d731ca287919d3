/* SPDX-License-Identifier: MIT */
/*
 * store-env.c - the index's LMDB environment: finding the one directory
 * behind every spelling of a path, opening (and refusing), creating a data
 * file atomically, the scan lock, facts about it, and LMDB's codes as errno.
 *
 * Opening.  A data file is first opened MDB_RDONLY and must hold a `meta`
 * database with "magic" = "fsindex" and our schema, and be as long as its
 * last page; anything else is refused before a byte is written, and a lock
 * file the probe had to create is removed again.  Only a missing or empty
 * data file is replaced, by one built aside and linked into place, so a scan
 * killed at any moment never leaves a half-made environment that the next
 * one would have to refuse.  LMDB's own codes become negative errno here and
 * nowhere else (store_lmdb_err()).
 */
#include "store-priv.h"

#include "lmdbcheck.h"
#include "log.h"
#include "privs.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_MAGIC "fsindex"
#define ENV_MAXDBS 12 /* four now; node, child, size too while an older index is upgraded; `gram` */
#define ENV_MAXREADERS 256 /* reader slots are per reader object, not per thread */
#define MAP_HEADROOM ((size_t)64 << 20) /* a writer's map beyond the file, at first */

/*
 * LMDB's result to -errno.  LMDB passes system errors through as positive
 * errno values and has its own negative codes far below -4096; values in
 * -4095..-1 are already ours (node_decode(), allocation).
 */
int store_lmdb_err(int rc)
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

/*
 * Read meta "features" into s->features (none when the key is missing: an
 * index from before features) and judge them: a bit of the incompat set
 * that we do not know refuses the index, one of the ro_compat set refuses
 * only writing, compat bits are ignored.
 */
static int check_features(struct store *s, MDB_txn *txn, MDB_dbi dbi)
{
	const unsigned char *v;
	MDB_val key, val;
	int rc;

	key = val_of("features", 8);
	rc = mdb_get(txn, dbi, &key, &val);
	if (rc == MDB_NOTFOUND) {
		memset(s->features, 0, sizeof(s->features));
		s->has_features = false;
		return 0;
	}
	if (rc)
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : store_lmdb_err(rc);
	if (val.mv_size != FEATURES_SIZE)
		return STORE_E_SCHEMA; /* a layout of features we cannot read */
	v = val.mv_data;
	for (int i = 0; i < FEAT_SETS; i++)
		s->features[i] = get_be32(v + 4 * i);
	s->has_features = true;
	if (s->features[FEAT_INCOMPAT] & ~STORE_FEAT_INCOMPAT_KNOWN) {
		log_debug("%s: unknown incompat features %#x", s->path,
			  s->features[FEAT_INCOMPAT] & ~STORE_FEAT_INCOMPAT_KNOWN);
		return STORE_E_SCHEMA;
	}
	if ((s->features[FEAT_RO_COMPAT] & ~STORE_FEAT_RO_COMPAT_KNOWN) &&
	    !(s->flags & STORE_RDONLY)) {
		log_debug("%s: unknown ro-compat features %#x", s->path,
			  s->features[FEAT_RO_COMPAT] & ~STORE_FEAT_RO_COMPAT_KNOWN);
		return STORE_E_RO_FEATURE;
	}
	return 0;
}

/* Open the `meta` database in @txn and check magic, schema and features. */
static int check_meta(struct store *s, MDB_txn *txn, MDB_dbi *ret_dbi)
{
	MDB_val key, val;
	MDB_dbi dbi;
	int rc, r;

	rc = mdb_dbi_open(txn, "meta", 0, &dbi);
	if (rc == MDB_NOTFOUND || lmdb_foreign(rc))
		return STORE_E_FOREIGN;
	if (rc)
		return store_lmdb_err(rc);

	key = val_of("magic", 5);
	rc = mdb_get(txn, dbi, &key, &val);
	if (rc == MDB_NOTFOUND || lmdb_foreign(rc))
		return STORE_E_FOREIGN;
	if (rc)
		return store_lmdb_err(rc);
	if (val.mv_size != strlen(STORE_MAGIC) || memcmp(val.mv_data, STORE_MAGIC, val.mv_size))
		return STORE_E_FOREIGN;

	key = val_of("schema", 6);
	rc = mdb_get(txn, dbi, &key, &val);
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : store_lmdb_err(rc);
	if (rc || val.mv_size != 4 || get_be32(val.mv_data) != STORE_SCHEMA_VERSION)
		return STORE_E_SCHEMA;
	r = check_features(s, txn, dbi);
	if (r < 0)
		return r;
	*ret_dbi = dbi;
	return 0;
}

/* Record the features this version writes in meta (a new index, or an upgrade). */
/*
 * @ro_compat: STORE_FEAT_RO_COMPAT_WRITE for a new index; for an upgraded one
 * only the NAMES bit it already has (store_names_upgrade() records it once
 * the name index is built).
 */
static int put_features(MDB_txn *txn, MDB_dbi meta, uint32_t ro_compat)
{
	const uint32_t feat[FEAT_SETS] = {
		[FEAT_INCOMPAT] = STORE_FEAT_INCOMPAT_WRITE,
		[FEAT_RO_COMPAT] = ro_compat,
		[FEAT_COMPAT] = STORE_FEAT_COMPAT_WRITE,
	};
	unsigned char v[FEATURES_SIZE];
	MDB_val key = val_of("features", 8), val = val_of(v, sizeof(v));

	for (int i = 0; i < FEAT_SETS; i++)
		put_be32(v + 4 * i, feat[i]);
	return mdb_put(txn, meta, &key, &val, 0);
}

int store_upgrade(struct store *s)
{
	bool compact = store_is_compact(s);
	MDB_txn *txn;
	int r;

	if (s->has_features && !s->has_size && compact)
		return store_names_upgrade(s);
	if (!compact) {
		/* Copies in transactions of its own; `node`, `child` go below, with the features. */
		r = store_compact_upgrade(s);
		if (r < 0)
			goto fail;
	}
	r = store_txn_begin(s, 0, &txn, false);
	if (r < 0)
		goto fail;
	r = 0;
	if (!compact)
		r = store_lmdb_err(mdb_drop(txn, s->dbi_node, 1));
	if (!compact && r == 0)
		r = store_lmdb_err(mdb_drop(txn, s->dbi_child, 1));
	if (r == 0 && (!s->has_features || !compact))
		r = store_lmdb_err(put_features(txn, s->dbi_meta,
						s->features[FEAT_RO_COMPAT] & STORE_FEAT_RO_COMPAT_NAMES));
	if (r == 0 && s->has_size) {
		r = store_lmdb_err(mdb_drop(txn, s->dbi_size, 1));
		s->has_size = r < 0; /* dropping closes the handle, whatever comes next */
	}
	if (r == 0)
		r = store_lmdb_err(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	store_gate_leave(&s->gate);
fail:
	if (r < 0) {
		int none = 0;

		atomic_compare_exchange_strong(&s->write_error, &none, r);
		return r;
	}
	if (!compact) {
		s->dbi_node = s->dbi_compact;
		s->dbi_child = s->dbi_compact_child;
	}
	if (!s->has_features || !compact) {
		s->features[FEAT_INCOMPAT] = STORE_FEAT_INCOMPAT_WRITE;
		s->features[FEAT_RO_COMPAT] &= STORE_FEAT_RO_COMPAT_NAMES;
		s->features[FEAT_COMPAT] = STORE_FEAT_COMPAT_WRITE;
		s->has_features = true;
	}
	log_debug("%s: upgraded in place", s->path);
	/* Last: it reads the records as they are now, compact. */
	return store_names_upgrade(s);
}

/* Open every database of the schema in @txn; @dbflags is 0 or MDB_CREATE. */
static int open_dbis(struct store *s, MDB_txn *txn, unsigned dbflags)
{
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{store_is_compact(s) ? "cnode" : "node", &s->dbi_node}, {store_is_compact(s) ? "cchild" : "child", &s->dbi_child},
		{"hash", &s->dbi_hash}, {"meta", &s->dbi_meta},
	};
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(dbs); i++) {
		rc = mdb_dbi_open(txn, dbs[i].name, dbflags, dbs[i].dbi);
		if (rc == MDB_NOTFOUND || lmdb_foreign(rc))
			return STORE_E_FOREIGN; /* ours, but damaged */
		if (rc)
			return store_lmdb_err(rc);
	}
	/* An older version kept (size, id) in `size`; the first writer drops it. */
	rc = mdb_dbi_open(txn, "size", 0, &s->dbi_size);
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : store_lmdb_err(rc);
	s->has_size = rc == 0;
	/* The name index: in a new index (created here) and in upgraded ones. */
	rc = mdb_dbi_open(txn, "gram", dbflags, &s->dbi_gram);
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : store_lmdb_err(rc);
	s->has_gram = rc == 0;
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
		rc = mdb_env_set_mapsize(s->env, store_remap_size(s));
		if (rc)
			break;
	}
	if (rc)
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : store_lmdb_err(rc);
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
	r = check_meta(s, txn, &meta);
	if (r == 0)
		r = open_dbis(s, txn, 0);
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	/* Committing a read-only txn keeps the database handles it opened. */
	return store_lmdb_err(mdb_txn_commit(txn));
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

	dbs.features[FEAT_INCOMPAT] = STORE_FEAT_INCOMPAT_WRITE; /* which databases to make */
	rc = mdb_env_create(&env);
	if (rc)
		return store_lmdb_err(rc);
	rc = mdb_env_set_maxdbs(env, ENV_MAXDBS);
	if (!rc)
		rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0600);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc) {
		mdb_env_close(env);
		return store_lmdb_err(rc);
	}
	r = open_dbis(&dbs, txn, MDB_CREATE);
	if (r == 0) {
		key = val_of("magic", 5);
		val = val_of(STORE_MAGIC, strlen(STORE_MAGIC));
		r = store_lmdb_err(mdb_put(txn, dbs.dbi_meta, &key, &val, 0));
	}
	if (r == 0) {
		put_be32(schema, STORE_SCHEMA_VERSION);
		key = val_of("schema", 6);
		val = val_of(schema, 4);
		r = store_lmdb_err(mdb_put(txn, dbs.dbi_meta, &key, &val, 0));
	}
	if (r == 0)
		r = store_lmdb_err(put_features(txn, dbs.dbi_meta, STORE_FEAT_RO_COMPAT_WRITE));
	if (r == 0)
		r = store_lmdb_err(mdb_txn_commit(txn)); /* synchronous: no MDB_NOSYNC here */
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
		return store_lmdb_err(rc);
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
		return lmdb_foreign(rc) ? STORE_E_FOREIGN : store_lmdb_err(rc);
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
 * the last page in use; store_txn_begin() remaps when the file grows), so a query
 * of a small index needs little address space (ulimit -v).  A writer adds
 * headroom and doubles the map on MDB_MAP_FULL (grow_map()).  Overridable,
 * so tests can force growth.
 */
static size_t initial_mapsize(off_t file_size, bool rdonly)
{
	const char *env = secure_getenv("FSINDEX_DEBUG_MAPSIZE");
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
		return errno == EWOULDBLOCK ? STORE_E_LOCKED : -errno;
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
	ours = st.st_uid == geteuid() && !privs_elevated();
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

/*
 * A writer locks before it creates anything: a second scan must never slip
 * in between creation and locking.  The data file may not exist yet, so the
 * directory's flock guards this part: every writer takes it, only until its
 * data file's lock is taken (store_open()), and fails at once if another one
 * holds it, as it would on the data file's.
 */
static int lock_dir(struct store *s)
{
	if (flock(s->dir_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	return errno == EWOULDBLOCK ? STORE_E_LOCKED
	       : errno == EBADF	    ? -EACCES /* an O_PATH descriptor: not readable */
				    : -errno;
}

/*
 * Open the environment read-only and check that it is ours, refusing what
 * is not before anything is written.  On failure, a lock file the probe
 * made (@lock_present false) is removed again: leave no trace.
 */
static int probe(struct store *s, const char *data, off_t size, const char *lmdb_lock,
		 bool lock_present)
{
	int r;

	r = env_open(s, MDB_RDONLY, initial_mapsize(size, true));
	if (r == -EACCES && (s->flags & STORE_RDONLY) &&
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
			unlinkat(s->dir_fd, lmdb_lock, 0);
	}
	return r;
}

/* After the probe: open the environment again to write, with headroom. */
static int reopen_rw(struct store *s, off_t size)
{
	int r;

	mdb_env_close(s->env);
	s->env = NULL;
	r = env_open(s, 0, initial_mapsize(size, false));
	if (r == -ENOMEM) /* no room for headroom: start at the file, grow on demand */
		r = env_open(s, 0, initial_mapsize(size, true));
	if (r == 0)
		r = attach(s);
	return r;
}

/*
 * A directory with the setgid bit is shared with its group (the system
 * index: root:fsindex 2750, made by fsindex.tmpfiles), whose members read
 * the index: the group may read the data file and must be able to write
 * the lock file, where every reader registers.  The files inherit the
 * directory's group; their modes are set here, whatever the umask.
 */
static void share_with_group(const struct store *s, const char *data, const char *lock)
{
	struct stat st;

	if (fstat(s->dir_fd, &st) < 0 || !(st.st_mode & S_ISGID))
		return;
	if (fchmodat(s->dir_fd, data, 0640, 0) < 0 || fchmodat(s->dir_fd, lock, 0660, 0) < 0)
		log_warning("%s: cannot share the index with group %u: %s", s->dir,
			    (unsigned)st.st_gid, strerror(errno));
}

/* Make sure a data file is there (unless STORE_RDONLY), then probe and open it. */
static int open_env(struct store *s)
{
	bool present, lock_present;
	char *lmdb_lock = NULL;
	const char *data;
	struct stat st;
	int r;

	data = s->nosubdir ? s->name : "data.mdb";
	if (s->nosubdir ? asprintf(&lmdb_lock, "%s-lock", s->name) < 0
			: !(lmdb_lock = strdup("lock.mdb")))
		return -ENOMEM;
	r = check_entry(s, lmdb_lock, &st, &lock_present);
	if (r < 0)
		goto out;
	/* An empty data file is as good as none: there is nothing to misread. */
	r = check_entry(s, data, &st, &present);
	if (r < 0)
		goto out;
	if (st.st_size == 0) {
		r = -ENOENT;
		if (s->flags & STORE_RDONLY)
			goto out;
		r = create_data_file(s, data, present);
		if (r < 0)
			goto out;
	}
	r = probe(s, data, st.st_size, lmdb_lock, lock_present);
	if (r == 0 && !(s->flags & STORE_RDONLY))
		r = reopen_rw(s, st.st_size);
	if (r == 0 && !(s->flags & STORE_RDONLY))
		share_with_group(s, data, lmdb_lock);
out:
	free(lmdb_lock);
	return r;
}

int store_open(const char *path, unsigned flags, struct store **ret_store)
{
	struct store *s;
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
	if (r == 0 && (flags & STORE_LOCK))
		r = lock_dir(s);
	if (r == 0)
		r = open_env(s);
	if (r == 0 && (flags & STORE_LOCK))
		r = store_lock_scan(s);
	if (r < 0) {
		store_close(s);
		return r;
	}
	/* LMDB has its files open: the directory (and its flock) can go. */
	close(s->dir_fd);
	s->dir_fd = -1;
	*ret_store = s;
	return 0;
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

int store_write_error(const struct store *s)
{
	return atomic_load(&s->write_error);
}

int store_info(struct store *s, struct store_info *ret)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_txn *txn;
	int r;

	r = store_txn_begin(s, MDB_RDONLY, &txn, false);
	if (r < 0)
		return r;
	mdb_env_info(s->env, &info);
	r = store_lmdb_err(mdb_stat(txn, s->dbi_node, &st));
	mdb_txn_abort(txn);
	store_gate_leave(&s->gate);
	if (r < 0)
		return r;
	ret->last_txnid = info.me_last_txnid;
	ret->map_size = info.me_mapsize;
	ret->nodes = st.ms_entries;
	return 0;
}
