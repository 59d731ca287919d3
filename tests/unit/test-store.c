/* SPDX-License-Identifier: MIT */
/*
 * test-store.c - the index: schema checks and refusals (byte-for-byte),
 * feature bits and the upgrade of older indexes, creation that survives
 * SIGKILL, the writer's apply semantics (replace, rename, subtree deletes,
 * stale entries), transaction splitting, map growth under a concurrent
 * reader and in another process, backpressure, commits by time, jobs that
 * fail alone while the writer goes on, paths to ids and back over a scanned
 * tree, and the scan lock.
 *
 * The oracle for "the databases agree with each other" is check_index(),
 * which reads the environment with raw LMDB calls, independently of
 * store.c; it runs after the store is closed (LMDB forbids opening one
 * environment twice in a process while one handle does I/O).
 */
#include "fsdev.h"
#include "store.h"

#include "engine.h"
#include "errors.h"
#include "lmdbcheck.h"
#include "node.h"
#include "ring.h"
#include "scan.h"
#include "tap.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char base[64];

/* A path under the test directory (static rotating storage: use at once). */
static const char *tpath(const char *name)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s/%s", base, name);
	return b;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Does another open file description hold an flock on @path? */
static bool flocked(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Read a whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *ret_len)
{
	unsigned char *buf = NULL;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	*ret_len = (size_t)st.st_size;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		diag("cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* ---- building records --------------------------------------------------- */

/* @name is borrowed: store_batch_put() copies it at once. */
static struct node mk(uint64_t id, uint64_t parent, const char *name, uint32_t mode, uint64_t size)
{
	struct node n = {0};

	n.id = id;
	n.parent = parent;
	n.name = name;
	n.name_len = (uint16_t)strlen(name);
	n.mode = mode;
	n.size = size;
	n.ino = id * 7;
	n.dev = 0x801;
	n.nlink = 1;
	n.mtime_sec = (int64_t)id * 1000;
	n.ctime_sec = (int64_t)id * 1000 + 1;
	n.ctime_nsec = (uint32_t)id % 1000000000;
	return n;
}

static struct node mkdir_node(uint64_t id, uint64_t parent, const char *name)
{
	return mk(id, parent, name, S_IFDIR | 0755, 4096);
}

static struct node mkfile(uint64_t id, uint64_t parent, const char *name, uint64_t size)
{
	return mk(id, parent, name, S_IFREG | 0644, size);
}

static struct node top(void)
{
	return mk(NODE_ID_TOP, 0, "", S_IFDIR | 0755, 4096);
}

static void set_full_hash(struct node *n, uint8_t seed)
{
	n->hash_state = NODE_HASH_FULL;
	for (int i = 0; i < 16; i++)
		n->full[i] = n->head[i] = n->tail[i] = (uint8_t)(seed + i);
}

/* A writer session: start, batch, apply @fn, finish. */
struct session {
	struct store_writer *w;
	struct store_batch *b;
	int err; /* first error from a batch call */
};

static int begin(struct store *s, const struct store_writer_opts *o, struct session *ss)
{
	int r;

	memset(ss, 0, sizeof(*ss));
	r = store_writer_start(s, o, &ss->w);
	if (r < 0)
		return r;
	r = store_batch_new(ss->w, NULL, &ss->b);
	if (r < 0) {
		store_writer_finish(ss->w, NULL);
		return r;
	}
	return 0;
}

static void put(struct session *ss, struct node n, bool fresh)
{
	int r = store_batch_put(ss->b, &n, fresh);

	if (r < 0 && !ss->err)
		ss->err = r;
}

static void del(struct session *ss, uint64_t id)
{
	int r = store_batch_del(ss->b, id);

	if (r < 0 && !ss->err)
		ss->err = r;
}

static int end(struct session *ss, struct store_write_stats *st)
{
	int r;

	store_batch_free(ss->b);
	r = store_writer_finish(ss->w, st);
	return ss->err ? ss->err : r;
}

static struct store *open_locked(const char *path)
{
	struct store *s = NULL;
	int r = store_open(path, 0, &s);

	if (r == 0)
		r = store_lock_scan(s);
	if (r < 0) {
		diag("cannot open %s: %s", path, fsi_strerror(r));
		store_close(s);
		return NULL;
	}
	return s;
}

/* ---- the oracle: raw LMDB ------------------------------------------------ */

/*
 * Check that node, child and hash agree: every node is named by its child
 * entry (with the right type and flags) and has a parent, every child entry
 * names a node that names it back, and hash holds exactly the fully hashed
 * files; and that there is no `size` (older versions' duplicate candidates,
 * which nothing reads).  Returns the number of nodes, or -1 (with a
 * diagnostic).
 */
static long check_index(const char *path)
{
	struct stat st;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dn, dc, ds, dh;
	MDB_cursor *cur;
	MDB_val k, v;
	long nodes = 0, fulls = 0, count;
	const char *bad = NULL;
	unsigned char key[24 + NODE_NAME_MAX];
	uint64_t cid;
	uint8_t cflags;
	char ctype;
	int rc;

	stat(path, &st);
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	rc = mdb_env_open(env, path, MDB_RDONLY | (S_ISREG(st.st_mode) ? MDB_NOSUBDIR : 0), 0600);
	if (rc) {
		diag("check_index: %s", mdb_strerror(rc));
		mdb_env_close(env);
		return -1;
	}
	mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (mdb_dbi_open(txn, "cnode", 0, &dn) || mdb_dbi_open(txn, "cchild", 0, &dc) ||
	    mdb_dbi_open(txn, "hash", 0, &dh)) {
		bad = "missing database";
		goto out;
	}
	if (mdb_dbi_open(txn, "size", 0, &ds) != MDB_NOTFOUND) {
		bad = "a `size` database";
		goto out;
	}

	mdb_cursor_open(txn, dn, &cur);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && !bad;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct node n;
		MDB_val k2, v2;

		nodes++;
		if (k.mv_size != 8 || node_decode(v.mv_data, v.mv_size, get_be64(k.mv_data), &n)) {
			bad = "undecodable node";
			break;
		}
		if (n.parent) {
			put_be64(key, n.parent);
			k2 = (MDB_val){8, key};
			if (mdb_get(txn, dn, &k2, &v2))
				bad = "node without parent";
		}
		put_be64(key, n.parent);
		memcpy(key + 8, n.name, n.name_len);
		k2 = (MDB_val){8u + n.name_len, key};
		if (mdb_get(txn, dc, &k2, &v2) ||
		    node_child_decode(v2.mv_data, v2.mv_size, &cid, &ctype, &cflags) ||
		    cid != n.id || ctype != node_type_char(n.mode) ||
		    cflags != (n.flags & NODE_F_CHILD_MASK))
			bad = "node not named by its child entry";
		if (n.hash_state == NODE_HASH_FULL) {
			fulls++;
			memcpy(key, n.full, 16);
			put_be64(key + 16, n.id);
			k2 = (MDB_val){24, key};
			if (mdb_get(txn, dh, &k2, &v2))
				bad = "hashed file missing from hash";
		}
		if (bad)
			diag("node %llu: %s", (unsigned long long)n.id, bad);
	}
	mdb_cursor_close(cur);
	if (bad)
		goto out;

	count = 0;
	mdb_cursor_open(txn, dc, &cur);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc && !bad;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct node n;
		MDB_val k2, v2;

		count++;
		if (node_child_decode(v.mv_data, v.mv_size, &cid, &ctype, &cflags)) {
			bad = "bad child value";
			break;
		}
		put_be64(key, cid);
		k2 = (MDB_val){8, key};
		if (mdb_get(txn, dn, &k2, &v2) ||
		    node_decode(v2.mv_data, v2.mv_size, get_be64(key), &n) ||
		    n.parent != get_be64(k.mv_data) || n.name_len != k.mv_size - 8 ||
		    memcmp(n.name, (char *)k.mv_data + 8, n.name_len))
			bad = "stale child entry";
	}
	mdb_cursor_close(cur);
	if (!bad && count != nodes)
		bad = "child and node counts differ";

	MDB_stat ms;
	if (!bad && (mdb_stat(txn, dh, &ms) || (long)ms.ms_entries != fulls))
		bad = "hash holds more than the hashed files";
out:
	if (bad)
		diag("check_index(%s): %s", path, bad);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return bad ? -1 : nodes;
}

/* ---- reading helpers ---------------------------------------------------- */

struct names {
	char buf[8192];
	size_t len;
	int n;
	struct store_reader *pause; /* pause this reader in the callback */
};

static int collect(void *ctx, const struct store_child *c)
{
	struct names *nm = ctx;

	if (nm->len + c->name_len + 2 < sizeof(nm->buf)) {
		if (nm->n)
			nm->buf[nm->len++] = ',';
		memcpy(nm->buf + nm->len, c->name, c->name_len);
		nm->len += c->name_len;
		nm->buf[nm->len] = '\0';
	}
	nm->n++;
	if (nm->pause)
		store_reader_pause(nm->pause);
	return 0;
}

static const char *children(struct store_reader *rd, uint64_t parent)
{
	static struct names nm;

	memset(&nm, 0, sizeof(nm));
	if (store_foreach_child(rd, parent, collect, &nm) < 0)
		return "(error)";
	return nm.buf;
}

static bool has_node(struct store_reader *rd, uint64_t id)
{
	struct node n;

	return store_get_node(rd, id, &n) == 0;
}

/* Is node @id a regular file of @size bytes? */
static bool is_file(struct store_reader *rd, uint64_t id, uint64_t size)
{
	struct node n;

	return store_get_node(rd, id, &n) == 0 && S_ISREG(n.mode) && n.size == size;
}

/* ---- tests -------------------------------------------------------------- */

static void test_open(void)
{
	struct store *s = NULL;
	struct store_writer *w;
	struct stat st;
	int r;

	r = store_open(tpath("new/a/b"), 0, &s);
	ok(r == 0, "open creates a new index with missing parents (%d)", r);
	ok(stat(tpath("new/a"), &st) == 0 && (st.st_mode & 07777) == 0700 &&
		   stat(tpath("new/a/b"), &st) == 0 && (st.st_mode & 07777) == 0700,
	   "directories are created 0700");
	ok(exists(tpath("new/a/b/data.mdb")), "data.mdb is inside the directory");
	ok(store_writer_start(s, NULL, &w) == -ENOLCK, "a writer needs the scan lock");
	store_close(s);

	s = NULL;
	r = store_open(tpath("missing"), STORE_RDONLY, &s);
	ok(r == -ENOENT && !s && !exists(tpath("missing")),
	   "RDONLY on a missing path is -ENOENT and creates nothing");
	mkdir(tpath("emptydir"), 0700);
	r = store_open(tpath("emptydir"), STORE_RDONLY, &s);
	ok(r == -ENOENT && !exists(tpath("emptydir/data.mdb")) &&
		   !exists(tpath("emptydir/lock.mdb")),
	   "RDONLY on a directory without data is -ENOENT and creates nothing");

	r = store_open(tpath("new/a/b"), STORE_RDONLY, &s);
	ok(r == 0, "RDONLY opens an existing index");
	if (r == 0) {
		ok(store_lock_scan(s) == 0 && store_writer_start(s, NULL, &w) == -EROFS,
		   "no writer on a RDONLY store");
		store_close(s);
	}

	ok(store_open("/dev/null", 0, &s) == STORE_E_FOREIGN, "a device is not an index");
	ok(store_open("", 0, &s) == -EINVAL, "an empty path is -EINVAL");
	ok(!strcmp(fsi_strerror(STORE_E_FOREIGN),
		   "not an fsindex index (refusing to touch it)") &&
		   !strcmp(fsi_strerror(STORE_E_SCHEMA),
			   "index has an unsupported schema version") &&
		   !strcmp(fsi_strerror(STORE_E_LOCKED), "another scan is writing this index") &&
		   !strcmp(fsi_strerror(-ENOENT), strerror(ENOENT)),
	   "fsi_strerror has the store's messages");
}

struct root_seen {
	int n;
	bool ok;
};

static int check_root(void *ctx, const struct store_root *root)
{
	struct root_seen *rs = ctx;

	rs->n++;
	if (root->id == 2)
		rs->ok = rs->ok && root->flags == (STORE_ROOT_XDEV | STORE_ROOT_HASH) &&
			 root->nexcludes == 3 && !strcmp(root->excludes[0], "*.o") &&
			 !strcmp(root->excludes[1], "/proc") && !strcmp(root->excludes[2], "");
	else if (root->id == 9)
		rs->ok = rs->ok && root->flags == 0 && root->nexcludes == 0;
	else
		rs->ok = false;
	return 0;
}

static void test_round_trip(void)
{
	char longname[NODE_NAME_MAX + 1];
	struct store_reader *rd;
	struct store_info info;
	struct store_child c;
	struct session ss;
	struct store *s;
	struct node n;
	uint64_t id;
	int r;

	for (int i = 0, ch = 1; i < NODE_NAME_MAX; i++, ch = ch == 0xff ? 1 : ch + 1) {
		if (ch == '/')
			ch++;
		longname[i] = (char)ch;
	}
	longname[NODE_NAME_MAX] = '\0';

	s = open_locked(tpath("rt"));
	if (!s)
		return;
	r = begin(s, NULL, &ss);
	id = store_alloc_ids(ss.w, 3);
	ok(r == 0 && id == 2 && store_alloc_ids(ss.w, 1) == 5,
	   "ids start at 2 in an empty index and are handed out in runs");

	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "home"), true);
	n = mkfile(3, 2, "b.txt", 100);
	set_full_hash(&n, 7);
	n.flags = NODE_F_RACY;
	put(&ss, n, true);
	put(&ss, mkfile(4, 2, "a.txt", 0), true);
	put(&ss, mk(5, 2, "link", S_IFLNK | 0777, 7), true);
	put(&ss, mkfile(6, 2, longname, 255), true);
	put(&ss, mkdir_node(9, 1, "srv"), true);
	ok(store_batch_pending(ss.b) > 0, "records are buffered in the batch");
	{
		char ex0[] = "*.o", ex1[] = "/proc", ex2[] = "";
		char *ex[] = {ex0, ex1, ex2};
		struct store_root root = {.id = 2,
					  .flags = STORE_ROOT_XDEV | STORE_ROOT_HASH,
					  .nexcludes = 3,
					  .excludes = ex};
		struct store_root root9 = {.id = 9};

		r = store_batch_put_root(ss.b, &root);
		r = r ?: store_batch_put_root(ss.b, &root9);
		ok(r == 0, "roots are queued");
	}
	r = end(&ss, NULL);
	ok(r == 0, "writer finishes cleanly (%d)", r);

	store_reader_new(s, &rd);
	ok(store_get_node(rd, 3, &n) == 0 && n.parent == 2 && n.size == 100 && n.name_len == 5 &&
		   !memcmp(n.name, "b.txt", 5) && n.hash_state == NODE_HASH_FULL &&
		   n.full[0] == 7 && n.flags == NODE_F_RACY && n.ino == 21 && n.mtime_sec == 3000,
	   "get_node returns what was put");
	ok(store_get_node(rd, 6, &n) == 0 && n.name_len == NODE_NAME_MAX &&
		   !memcmp(n.name, longname, NODE_NAME_MAX),
	   "a 255-byte name with bytes 0x01-0xff survives");
	ok(store_get_node(rd, 1, &n) == 0 && n.parent == 0 && n.name_len == 0,
	   "\"/\" is node 1 with parent 0");
	ok(store_get_node(rd, 77, &n) == -ENOENT, "a missing node is -ENOENT");
	{
		/* Out of order, a run of consecutive ids, a gap, a repeat. */
		static const uint64_t ids[] = {6, 2, 3, 1, 3};
		struct node ns[5];
		struct store_node_req reqs[5];
		bool same = true;

		for (size_t i = 0; i < 5; i++)
			reqs[i] = (struct store_node_req){ids[i], &ns[i]};
		ok(store_get_nodes(rd, reqs, 5) == 0, "get_nodes reads five nodes");
		for (size_t i = 0; i < 5; i++) {
			struct node one;

			same &= ns[i].id == ids[i] && store_get_node(rd, ids[i], &one) == 0 &&
				one.parent == ns[i].parent && one.size == ns[i].size &&
				one.name_len == ns[i].name_len &&
				!memcmp(one.name, ns[i].name, one.name_len);
		}
		ok(same, "... each into its own request's node, as get_node reads it");
		reqs[0] = (struct store_node_req){3, &ns[0]};
		reqs[1] = (struct store_node_req){4, &ns[1]};
		reqs[2] = (struct store_node_req){77, &ns[2]};
		ok(store_get_nodes(rd, reqs, 3) == -ENOENT, "get_nodes with a missing id: -ENOENT");
		reqs[0] = (struct store_node_req){7, &ns[0]};
		reqs[1] = (struct store_node_req){8, &ns[1]};
		ok(store_get_nodes(rd, reqs, 2) == -ENOENT,
		   "... also when the missing id follows a present one (stepping)");
		ok(store_get_nodes(rd, reqs, 0) == 0, "get_nodes of nothing: 0");
	}
	ok(store_lookup(rd, 2, "b.txt", 5, &c) == 0 && c.id == 3 && c.type == 'f' &&
		   c.flags == NODE_F_RACY && c.name_len == 5,
	   "lookup finds a child with its type and flags");
	ok(store_lookup(rd, 2, longname, NODE_NAME_MAX, &c) == 0 && c.id == 6,
	   "lookup finds the 255-byte name");
	ok(store_lookup(rd, 2, "link", 4, &c) == 0 && c.type == 'l', "a symlink's type is 'l'");
	ok(store_lookup(rd, 0, "", 0, &c) == 0 && c.id == 1 && c.type == 'd',
	   "lookup (0, \"\") finds \"/\"");
	ok(store_lookup(rd, 2, "b.tx", 4, &c) == -ENOENT, "lookup of a prefix is -ENOENT");
	ok(store_lookup(rd, 2, longname, NODE_NAME_MAX + 1, &c) == -ENAMETOOLONG,
	   "lookup of a 256-byte name is -ENAMETOOLONG");
	{
		char exp[400];

		snprintf(exp, sizeof(exp), "%s,a.txt,b.txt,link", longname);
		/* 0x01 sorts first: byte order, not locale order. */
		ok(!strcmp(children(rd, 2), exp), "foreach_child goes in byte order of names");
	}
	ok(!strcmp(children(rd, 1), "home,srv") && !strcmp(children(rd, 3), ""),
	   "foreach_child lists only that parent's children");
	{
		struct root_seen rs = {0, true};

		r = store_foreach_root(rd, check_root, &rs);
		ok(r == 0 && rs.n == 2 && rs.ok, "roots round trip with flags and excludes");
	}
	r = store_info(s, &info);
	ok(r == 0 && info.nodes == 7 && info.map_size >= (64u << 20),
	   "store_info counts nodes (%llu) and a writer's map of 64 MiB headroom",
	   (unsigned long long)info.nodes);
	store_reader_free(rd);

	r = begin(s, NULL, &ss);
	ok(r == 0 && store_alloc_ids(ss.w, 1) == 10,
	   "a new writer allocates after the highest stored id");
	end(&ss, NULL);
	store_close(s);
	ok(check_index(tpath("rt")) == 7, "the databases agree");
}

static void test_replace(void)
{
	struct store_reader *rd;
	struct store_child c;
	struct session ss;
	struct store *s;
	struct node n;
	int r;

	s = open_locked(tpath("repl"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "d"), true);
	n = mkfile(3, 2, "f", 10);
	set_full_hash(&n, 1);
	put(&ss, n, true);
	put(&ss, mkfile(4, 2, "x", 5), true);
	put(&ss, mkdir_node(5, 2, "sub"), true);
	put(&ss, mkfile(6, 5, "inner", 1), true);
	r = end(&ss, NULL);

	begin(s, NULL, &ss);
	n = mkfile(3, 2, "f", 20); /* grew, hash no longer known */
	put(&ss, n, false);
	put(&ss, mkfile(7, 2, "x", 6), true);	   /* a new inode took the name "x" */
	put(&ss, mkfile(6, 2, "moved", 1), false); /* renamed and moved up */
	r = r ?: end(&ss, NULL);
	ok(r == 0, "replacing writer finishes cleanly");

	store_reader_new(s, &rd);
	ok(store_get_node(rd, 3, &n) == 0 && n.size == 20 && n.hash_state == NODE_HASH_NONE,
	   "the replaced record is the new one");
	ok(!has_node(rd, 4) && store_get_node(rd, 7, &n) == 0 && n.size == 6 &&
		   store_lookup(rd, 2, "x", 1, &c) == 0 && c.id == 7,
	   "a fresh node under a taken name removes the old node");
	ok(store_lookup(rd, 5, "inner", 5, &c) == -ENOENT &&
		   store_lookup(rd, 2, "moved", 5, &c) == 0 && c.id == 6,
	   "a rename moves the child entry");
	ok(!strcmp(children(rd, 2), "f,moved,sub,x"), "the directory lists the new names");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("repl")) == 6, "the databases agree after replaces (hash too)");
}

/*
 * Fresh puts wait for the commit (store-ops.c); within one transaction the
 * result must still be what the ops say in their order: a second fresh put
 * of a pending name replaces the first (subtree and all), a settle of a
 * pending directory sticks, a delete sees what is pending, and many fresh
 * records (several growths of the tables) all land.
 */
static void test_fresh_deferred(void)
{
	struct store_writer_opts o = {.txn_records = 1000000, .txn_ns = 60 * 1000000000LL};
	struct store_reader *rd;
	struct store_child c;
	struct session ss;
	struct store *s;
	struct node n;
	char name[32];
	bool all = true;
	int r;

	s = open_locked(tpath("fresh"));
	if (!s)
		return;
	r = begin(s, &o, &ss);
	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "d"), true);
	put(&ss, mkdir_node(3, 2, "x"), true);	 /* a directory "x" ... */
	put(&ss, mkfile(4, 3, "in-x", 7), true); /* ... with a file in it */
	put(&ss, mkfile(5, 2, "x", 9), true);	 /* replaced by a file "x" */
	if (!r && store_batch_settle(ss.b, 2, true) < 0)
		r = -EIO;
	put(&ss, mkfile(6, 2, "gone", 1), true);
	del(&ss, 6);
	put(&ss, mkfile(7, 2, "after-del", 1), true);
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "f%05u", (i * 7919) % 5000);
		put(&ss, mkfile(100 + i, 2, name, i), true);
	}
	r = r ?: end(&ss, NULL);
	ok(r == 0, "fresh puts in one transaction commit");

	store_reader_new(s, &rd);
	ok(store_lookup(rd, 2, "x", 1, &c) == 0 && c.id == 5 && c.type == 'f' && !has_node(rd, 3) &&
		   !has_node(rd, 4),
	   "a fresh put of a pending name replaces the pending node and its subtree");
	ok(store_get_node(rd, 2, &n) == 0 && (n.flags & NODE_F_SETTLED),
	   "a settle of a pending directory is kept");
	ok(!has_node(rd, 6) && store_lookup(rd, 2, "gone", 4, &c) == -ENOENT &&
		   store_lookup(rd, 2, "after-del", 9, &c) == 0 && c.id == 7,
	   "a delete sees the pending put before it, not the one after");
	for (unsigned i = 0; i < 5000 && all; i++) {
		snprintf(name, sizeof(name), "f%05u", (i * 7919) % 5000);
		all = store_lookup(rd, 2, name, strlen(name), &c) == 0 && c.id == 100 + i &&
		      store_get_node(rd, 100 + i, &n) == 0 && n.size == i;
	}
	ok(all, "5,000 fresh records put in key order at commit are all there");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("fresh")) == 5004, "the databases agree (%ld nodes)",
	   check_index(tpath("fresh")));
}

static void move(struct session *ss, struct node n)
{
	int r = store_batch_move(ss->b, &n);

	if (r < 0 && !ss->err)
		ss->err = r;
}

static bool has_hash(struct store_reader *rd, const struct node *n, uint64_t id)
{
	struct node got;

	return store_get_node(rd, id, &got) == 0 && got.hash_state == NODE_HASH_FULL &&
	       !memcmp(got.full, n->full, 16);
}

static void test_move(void)
{
	struct store_reader *rd;
	struct store_child c;
	struct session ss;
	struct store *s;
	struct node af;
	int r;

	s = open_locked(tpath("move"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "d"), true);
	put(&ss, mkdir_node(3, 2, "a"), true);
	af = mkfile(4, 3, "af", 10);
	set_full_hash(&af, 7);
	put(&ss, af, true);
	put(&ss, mkdir_node(5, 2, "b"), true);
	put(&ss, mkfile(6, 5, "bf", 3), true);
	put(&ss, mkfile(8, 2, "y", 1), true);
	put(&ss, mkfile(9, 2, "z", 2), true);
	r = end(&ss, NULL);

	begin(s, NULL, &ss);
	move(&ss, mkdir_node(3, 2, "b"));	/* a <-> b, each onto the other's name */
	move(&ss, mkdir_node(5, 2, "a"));
	move(&ss, mkfile(8, 2, "z", 1));	/* onto a name whose node is deleted next */
	del(&ss, 9);
	r = r ?: end(&ss, NULL);
	ok(r == 0, "moving writer finishes cleanly");

	store_reader_new(s, &rd);
	ok(store_lookup(rd, 2, "a", 1, &c) == 0 && c.id == 5 && store_lookup(rd, 2, "b", 1, &c) == 0 &&
		   c.id == 3,
	   "a swap: each name names the other node");
	ok(!strcmp(children(rd, 3), "af") && !strcmp(children(rd, 5), "bf"),
	   "a swap deletes neither subtree");
	ok(has_hash(rd, &af, 4), "the moved subtree keeps its hashes");
	ok(store_lookup(rd, 2, "z", 1, &c) == 0 && c.id == 8 && !has_node(rd, 9) &&
		   store_lookup(rd, 2, "y", 1, &c) == -ENOENT,
	   "a move onto a taken name, then a delete of the node it unnamed");
	ok(!strcmp(children(rd, 2), "a,b,z"), "the directory lists the new names");
	store_reader_free(rd);

	begin(s, NULL, &ss);
	move(&ss, mkdir_node(2, 3, "loop")); /* d under its own child */
	r = end(&ss, NULL);
	ok(r == -ELOOP, "a move under its own subtree is refused (%s)", strerror(-r));
	store_reader_new(s, &rd);
	ok(store_lookup(rd, 1, "d", 1, &c) == 0 && c.id == 2 && store_lookup(rd, 3, "loop", 4, &c) == -ENOENT,
	   "...and changes nothing");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("move")) == 7, "the databases agree after moves");
}

static void test_delete(void)
{
	struct store_write_stats st;
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	bool all;
	int r;

	s = open_locked(tpath("del"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "keep"), true);
	put(&ss, mkfile(3, 2, "k", 1), true);
	/* A tree: 4 with children 5 (dir, with 6, 7) and 8. */
	put(&ss, mkdir_node(4, 1, "tree"), true);
	put(&ss, mkdir_node(5, 4, "a"), true);
	put(&ss, mkfile(6, 5, "f1", 10), true);
	put(&ss, mkfile(7, 5, "f2", 10), true);
	put(&ss, mkfile(8, 4, "g", 10), true);
	/* A directory about to become a file. */
	put(&ss, mkdir_node(9, 1, "becomes-file"), true);
	put(&ss, mkdir_node(10, 9, "x"), true);
	put(&ss, mkfile(11, 10, "y", 3), true);
	/* A chain 10,000 directories deep. */
	put(&ss, mkdir_node(100, 1, "chain"), true);
	for (uint64_t id = 101; id < 10100; id++)
		put(&ss, mkdir_node(id, id - 1, "c"), true);
	put(&ss, mkfile(10100, 10099, "bottom", 42), true);
	r = end(&ss, NULL);
	ok(r == 0, "a 10,000-deep chain is written");

	store_reader_new(s, &rd);
	ok(has_node(rd, 10100) && is_file(rd, 10100, 42), "the chain's bottom file is there");
	store_reader_free(rd);

	begin(s, NULL, &ss);
	del(&ss, 4);
	put(&ss, mkfile(9, 1, "becomes-file", 77), false);
	del(&ss, 100);
	del(&ss, 123456); /* already gone: not an error */
	r = end(&ss, &st);
	ok(r == 0 && st.records == 4, "deletes apply, a missing id is fine (%d, %llu records)", r,
	   (unsigned long long)st.records);

	store_reader_new(s, &rd);
	ok(!has_node(rd, 4) && !has_node(rd, 5) && !has_node(rd, 6) && !has_node(rd, 7) &&
		   !has_node(rd, 8),
	   "a subtree delete removes every descendant");
	ok(has_node(rd, 2) && has_node(rd, 3), "and nothing beside it");
	ok(!has_node(rd, 10) && !has_node(rd, 11) && is_file(rd, 9, 77) &&
		   !strcmp(children(rd, 9), ""),
	   "a directory replaced by a file loses its subtree");
	all = !has_node(rd, 100) && !has_node(rd, 5000) && !has_node(rd, 10100);
	ok(all, "the 10,000-deep chain is gone");
	ok(!strcmp(children(rd, 1), "becomes-file,keep"), "\"/\" lists what is left");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("del")) == 4, "the databases agree after deletes");
}

/* Put a raw child entry (@parent, @name) -> @id behind the store's back. */
static void inject_child(const char *dir, uint64_t parent, const char *name, uint64_t id)
{
	unsigned char k[64], v[NODE_CHILD_VAL_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val key = {8 + strlen(name), k}, val = {node_child_encode(id, 'f', 0, v), v};

	put_be64(k, parent);
	memcpy(k + 8, name, strlen(name));
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_open(env, dir, 0, 0600);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "cchild", 0, &dbi);
	mdb_put(txn, dbi, &key, &val, 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
}

/* Deletes get through child entries that name missing or other nodes. */
static void test_stale_entries(void)
{
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	int r;

	s = open_locked(tpath("stale"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "d"), true);
	put(&ss, mkfile(3, 2, "f", 1), true);
	put(&ss, mkdir_node(4, 1, "e"), true);
	end(&ss, NULL);
	store_close(s);
	inject_child(tpath("stale"), 2, "ghost", 999); /* no such node */
	inject_child(tpath("stale"), 2, "alias", 3);   /* node 3 is called "f" */
	inject_child(tpath("stale"), 2, "self", 2);    /* a loop */
	inject_child(tpath("stale"), 2, "uncle", 4);   /* 4 lives under 1 */
	ok(check_index(tpath("stale")) == -1, "the injected entries are inconsistent");

	s = open_locked(tpath("stale"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	del(&ss, 2);
	r = end(&ss, NULL);
	store_reader_new(s, &rd);
	ok(r == 0 && !has_node(rd, 2) && !has_node(rd, 3) && has_node(rd, 4) &&
		   !strcmp(children(rd, 2), "") && !strcmp(children(rd, 1), "e"),
	   "a subtree delete drops stale entries and spares nodes they misname");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("stale")) == 2, "the databases agree again");
}

/* A huge delete commits in pieces when the txn has done txn_records of work. */
static void test_delete_yields(void)
{
	struct store_writer_opts o = {.txn_records = 2000};
	struct store_write_stats st;
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	int r;

	s = open_locked(tpath("yield"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "chain"), true);
	/* 5,000 directories deep, a file in each: 10,000 nodes below 2. */
	for (uint64_t id = 3; id < 5003; id++)
		put(&ss, mkdir_node(id, id - 1, "d"), true);
	for (uint64_t id = 5003; id < 10003; id++)
		put(&ss, mkfile(id, id - 5000, "f", id), true);
	r = end(&ss, NULL);

	begin(s, &o, &ss);
	del(&ss, 2);
	r = r ?: end(&ss, &st);
	ok(r == 0 && st.records == 1 && st.commits >= 5,
	   "one delete of 10,000 nodes commits in >= 5 pieces (%llu)",
	   (unsigned long long)st.commits);
	store_reader_new(s, &rd);
	ok(!has_node(rd, 2) && !has_node(rd, 9999) && !strcmp(children(rd, 1), ""),
	   "everything below is gone");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("yield")) == 1, "the databases agree");
}

static void test_txn_full(void)
{
	struct store_writer_opts o = {.debug_txn_full = 2000};
	struct store_write_stats st;
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	char name[32];
	bool all = true;
	int r;

	s = open_locked(tpath("txnfull"));
	if (!s)
		return;
	begin(s, &o, &ss);
	put(&ss, top(), true);
	for (uint64_t id = 2; id < 10002; id++) {
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)id);
		put(&ss, mkfile(id, 1, name, id), true);
	}
	r = end(&ss, &st);
	ok(r == 0 && st.txn_splits > 0 && st.commits >= 10 && st.records == 10001,
	   "MDB_TXN_FULL splits the transaction (%d, %llu splits, %llu commits)", r,
	   (unsigned long long)st.txn_splits, (unsigned long long)st.commits);
	store_reader_new(s, &rd);
	for (uint64_t id = 1; id < 10002; id++)
		all = all && has_node(rd, id);
	ok(all, "every record is there after splitting");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("txnfull")) == 10001, "the databases agree");
}

struct bg_reader {
	struct store *s;
	atomic_bool done;
	long reads, seen, errors;
};

static void *bg_read(void *arg)
{
	struct bg_reader *bg = arg;
	struct store_reader *rd;
	struct node n;

	if (store_reader_new(bg->s, &rd) < 0) {
		bg->errors++;
		return NULL;
	}
	while (!atomic_load(&bg->done)) {
		int r = store_get_node(rd, 2, &n);

		bg->reads++;
		if (r == 0 && n.name_len == 2)
			bg->seen++;
		else if (r != -ENOENT)
			bg->errors++;
		store_reader_pause(rd);
		usleep(100);
	}
	store_reader_free(rd);
	return NULL;
}

/*
 * ~50,000 records; 20,000 under TSan, whose interceptors make every key
 * comparison inside LMDB ten times slower (the map still grows five times).
 */
#if defined(__SANITIZE_THREAD__)
#define GROW_DIRS 100
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GROW_DIRS 100
#endif
#endif
#ifndef GROW_DIRS
#define GROW_DIRS 250
#endif

static void test_map_growth(void)
{
	struct bg_reader bg = {.errors = 0};
	struct store_write_stats st;
	struct store_reader *rd;
	struct store_info info;
	struct session ss;
	pthread_t th;
	struct store *s;
	char name[32];
	uint64_t id;
	bool all = true;
	int r;

	setenv("FSINDEX_DEBUG_MAPSIZE", "262144", 1);
	s = open_locked(tpath("grow"));
	unsetenv("FSINDEX_DEBUG_MAPSIZE");
	if (!s)
		return;
	ok(store_info(s, &info) == 0 && info.map_size == 262144, "the map starts at 256 KiB");

	bg.s = s;
	pthread_create(&th, NULL, bg_read, &bg);
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	id = 2;
	for (int d = 0; d < GROW_DIRS; d++) {
		uint64_t dir = id++;

		snprintf(name, sizeof(name), "d%d", d);
		put(&ss, mkdir_node(dir, 1, name), true);
		for (int f = 0; f < 199; f++, id++) {
			struct node n;

			snprintf(name, sizeof(name), "file-%d-%d", d, f);
			n = mkfile(id, dir, name, id * 13);
			if (f % 4 == 0)
				set_full_hash(&n, (uint8_t)id);
			put(&ss, n, true);
		}
		if (d % 50 == 0)
			store_batch_flush(ss.b);
	}
	r = end(&ss, &st);
	atomic_store(&bg.done, true);
	pthread_join(th, NULL);
	ok(r == 0 && st.map_grows > 0 && st.records == id - 1,
	   "%llu records in a 256 KiB map: it grew %llu times (%d)", (unsigned long long)st.records,
	   (unsigned long long)st.map_grows, r);
	ok(bg.errors == 0 && bg.reads > 0,
	   "a reader in another thread kept working (%ld reads, %ld saw data)", bg.reads, bg.seen);
	r = store_info(s, &info);
	ok(r == 0 && info.map_size > 262144 && info.nodes == id - 1,
	   "store_info shows the grown map (%llu bytes)", (unsigned long long)info.map_size);
	store_reader_new(s, &rd);
	for (uint64_t i = 1; i < id; i++)
		all = all && has_node(rd, i);
	ok(all, "every record is readable after growth");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("grow")) == (long)(id - 1), "the databases agree");

	/* Reopening with the small map override adopts the size the data needs. */
	setenv("FSINDEX_DEBUG_MAPSIZE", "262144", 1);
	s = open_locked(tpath("grow"));
	unsetenv("FSINDEX_DEBUG_MAPSIZE");
	ok(s && store_info(s, &info) == 0 && info.nodes == id - 1,
	   "a grown index reopens with a small map setting");
	store_close(s);
}

/*
 * Another process grows the map past ours: a reader here meets
 * MDB_MAP_RESIZED when it renews its snapshot, adopts the size and reads on.
 */
static void test_map_resized(void)
{
	struct store_reader *rd;
	struct store_info info;
	struct session ss;
	struct store *s;
	struct node n;
	pid_t pid;
	int status = -1, r;

	s = open_locked(tpath("resized"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	end(&ss, NULL);
	store_close(s);

	setenv("FSINDEX_DEBUG_MAPSIZE", "262144", 1);
	r = store_open(tpath("resized"), STORE_RDONLY, &s);
	if (r < 0) {
		unsetenv("FSINDEX_DEBUG_MAPSIZE");
		ok(false, "cannot reopen read-only: %s", fsi_strerror(r));
		return;
	}
	r = store_info(s, &info);
	ok(r == 0 && info.map_size == 262144, "this process maps 256 KiB");
	store_reader_new(s, &rd);
	ok(has_node(rd, 1) && !has_node(rd, 2), "a reader holds a snapshot before the growth");

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct store *cs = open_locked(tpath("resized"));
		char name[32];

		if (!cs || begin(cs, NULL, &ss) < 0)
			_exit(1);
		for (uint64_t id = 2; id < 5002; id++) {
			snprintf(name, sizeof(name), "file%llu", (unsigned long long)id);
			put(&ss, mkfile(id, 1, name, id), true);
		}
		struct store_write_stats st;
		r = end(&ss, &st);
		store_close(cs);
		_exit(r == 0 && st.map_grows > 0 ? 0 : 2);
	}
	unsetenv("FSINDEX_DEBUG_MAPSIZE");
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "another process grew the map while writing (status %d)", status);
	ok(!has_node(rd, 2), "the held snapshot is unaffected");
	store_reader_pause(rd);
	r = store_get_node(rd, 5001, &n);
	ok(r == 0 && n.size == 5001, "after a pause the reader adopts the new map size (%d)", r);
	store_reader_free(rd);
	r = store_info(s, &info);
	ok(r == 0 && info.nodes == 5001 && info.map_size > 262144,
	   "store_info sees the grown map (%llu bytes)", (unsigned long long)info.map_size);
	store_close(s);
}

static void test_no_empty_commit(void)
{
	struct store_info before, after;
	struct store_write_stats st;
	struct session ss;
	struct store *s;
	int r;

	s = open_locked(tpath("rt"));
	if (!s)
		return;
	store_info(s, &before);
	r = begin(s, NULL, &ss);
	r = r ?: end(&ss, &st);
	store_info(s, &after);
	ok(r == 0 && st.commits == 0 && after.last_txnid == before.last_txnid,
	   "a writer without records commits nothing (txnid %llu)",
	   (unsigned long long)after.last_txnid);

	begin(s, NULL, &ss);
	del(&ss, 999999);
	r = end(&ss, NULL);
	store_info(s, &after);
	ok(r == 0 && after.last_txnid == before.last_txnid,
	   "deleting what is not there changes nothing on disk");
	store_close(s);
}

/* The filesystem table (fsdev.h): recorded, replaced, forgotten, read back. */
static void test_fsdev_table(void)
{
	struct fsdev_table t = {0};
	struct fsdev_id a, b;
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	int r;

	memset(a.b, 'a', sizeof(a.b));
	memset(b.b, 'b', sizeof(b.b));
	s = open_locked(tpath("fsdev"));
	if (!s)
		return;
	store_reader_new(s, &rd);
	ok(store_load_fsdev(rd, &t) == 0 && t.n == 0, "a new index has no filesystem table");
	store_reader_free(rd);

	r = begin(s, NULL, &ss);
	r = r ?: store_batch_fsdev(ss.b, &a, 0x10001, true);
	r = r ?: store_batch_fsdev(ss.b, &b, 0x10002, true);
	r = r ?: store_batch_fsdev(ss.b, &a, 0x10003, true);
	r = r ?: end(&ss, NULL);
	store_reader_new(s, &rd);
	ok(r == 0 && store_load_fsdev(rd, &t) == 0 && t.n == 2 &&
		   !memcmp(&t.v[0].id, &a, sizeof(a)) && t.v[0].dev == 0x10003 &&
		   !memcmp(&t.v[1].id, &b, sizeof(b)) && t.v[1].dev == 0x10002,
	   "two filesystems read back, the later number of the first");
	store_reader_free(rd);
	fsdev_table_clear(&t);

	r = begin(s, NULL, &ss);
	r = r ?: store_batch_fsdev(ss.b, &b, 0x10002, false);
	r = r ?: store_batch_fsdev(ss.b, &b, 0x10002, false);
	r = r ?: end(&ss, NULL);
	store_reader_new(s, &rd);
	ok(r == 0 && store_load_fsdev(rd, &t) == 0 && t.n == 1 && t.v[0].dev == 0x10003,
	   "a forgotten filesystem is gone (forgetting it twice is no error)");
	store_reader_free(rd);
	fsdev_table_clear(&t);
	store_close(s);
}

static void test_reader_snapshot(void)
{
	struct store_reader *rd;
	struct session ss;
	struct names nm;
	struct store *s;
	int r;

	s = open_locked(tpath("snap"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	for (uint64_t id = 2; id < 12; id++) {
		char name[16];

		snprintf(name, sizeof(name), "n%02d", (int)id);
		put(&ss, mkfile(id, 1, name, id), true);
	}
	end(&ss, NULL);

	store_reader_new(s, &rd);
	ok(!has_node(rd, 12), "the reader's snapshot has no node 12");
	begin(s, NULL, &ss);
	put(&ss, mkfile(12, 1, "n12", 1), true);
	r = end(&ss, NULL);
	ok(r == 0 && !has_node(rd, 12), "a held snapshot does not see a later commit");
	store_reader_pause(rd);
	ok(has_node(rd, 12), "after a pause the next read sees it");

	memset(&nm, 0, sizeof(nm));
	nm.pause = rd;
	r = store_foreach_child(rd, 1, collect, &nm);
	ok(r == 0 && nm.n == 11 && !strcmp(nm.buf, "n02,n03,n04,n05,n06,n07,n08,n09,n10,n11,n12"),
	   "foreach_child resumes after a pause in the callback (%s)", nm.buf);
	store_reader_free(rd);
	store_close(s);
}

/* An idle writer commits what it holds once the txn is txn_ns old. */
static void test_commit_by_time(void)
{
	struct store_writer_opts o = {.txn_ns = 20 * 1000 * 1000};
	struct store_write_stats st;
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	int64_t t0;
	bool seen = false;
	int r;

	s = open_locked(tpath("timed"));
	if (!s)
		return;
	store_reader_new(s, &rd);
	begin(s, &o, &ss);
	put(&ss, top(), true);
	store_batch_flush(ss.b);
	t0 = now_mono_ns();
	while (!seen && now_mono_ns() - t0 < 5LL * 1000 * 1000 * 1000) {
		seen = has_node(rd, 1);
		store_reader_pause(rd);
		usleep(2000);
	}
	ok(seen, "a flushed record becomes visible without finishing (%.0f ms)",
	   (double)(now_mono_ns() - t0) / 1e6);
	r = end(&ss, &st);
	ok(r == 0 && st.commits == 1, "and was committed once");
	store_reader_free(rd);
	store_close(s);
}

struct producer {
	struct store_writer *w;
	uint64_t dir;
	int err;
};

#define PROD_FILES 2000

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct store_batch *b;
	uint64_t first;
	char name[32];
	int r;

	r = store_batch_new(p->w, NULL, &b);
	if (r < 0) {
		p->err = r;
		return NULL;
	}
	first = store_alloc_ids(p->w, PROD_FILES);
	for (int pass = 0; pass < 2 && !r; pass++) {
		for (int i = 0; i < PROD_FILES && !r; i++) {
			struct node n;

			snprintf(name, sizeof(name), "f%d", i);
			n = mkfile(first + (uint64_t)i, p->dir, name,
				   (uint64_t)(pass * 1000000 + i));
			r = store_batch_put(b, &n, pass == 0);
		}
	}
	store_batch_free(b);
	p->err = r;
	return NULL;
}

static void test_backpressure(void)
{
	struct store_writer_opts o = {.queue_bytes = 256 * 1024, .txn_records = 3000};
	struct producer prod[3];
	struct store_write_stats st;
	struct store_reader *rd;
	struct session ss;
	pthread_t th[3];
	struct store *s;
	struct node n;
	long bad = 0;
	int r;

	s = open_locked(tpath("bp"));
	if (!s)
		return;
	begin(s, &o, &ss);
	put(&ss, top(), true);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		prod[i] = (struct producer){.w = ss.w, .dir = store_alloc_ids(ss.w, 1)};
		put(&ss, mkdir_node(prod[i].dir, 1, name), true);
	}
	/* Directories are committed before anything inside them is queued. */
	store_batch_flush(ss.b);
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, produce, &prod[i]);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	r = end(&ss, &st);
	ok(r == 0 && !prod[0].err && !prod[1].err && !prod[2].err &&
		   st.records == 4 + 3 * 2 * PROD_FILES,
	   "three producers through a 256 KiB queue (%llu records, %llu commits)",
	   (unsigned long long)st.records, (unsigned long long)st.commits);

	store_reader_new(s, &rd);
	for (int i = 0; i < 3; i++) {
		struct store_child c;
		char name[32];

		for (int f = 0; f < PROD_FILES; f++) {
			snprintf(name, sizeof(name), "f%d", f);
			if (store_lookup(rd, prod[i].dir, name, strlen(name), &c) ||
			    store_get_node(rd, c.id, &n) || n.size != (uint64_t)(1000000 + f))
				bad++;
		}
	}
	ok(bad == 0, "each producer's records arrived in order (the replace won)");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("bp")) == 4 + 3 * PROD_FILES, "the databases agree");
}

static void test_write_error(void)
{
	struct store_writer_opts o = {.txn_records = 200};
	struct rlimit old, lim;
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	struct stat st;
	char name[32];
	int r, rput = 0, rfin, rjob, rlate;
	bool all = true;

	s = open_locked(tpath("err"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	for (uint64_t id = 2; id < 102; id++) {
		snprintf(name, sizeof(name), "keep%llu", (unsigned long long)id);
		put(&ss, mkfile(id, 1, name, id), true);
	}
	r = end(&ss, NULL);

	/* The file may not grow past 32 KiB more: commits fail with EFBIG/EIO. */
	signal(SIGXFSZ, SIG_IGN);
	stat(tpath("err/data.mdb"), &st);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 32768;
	setrlimit(RLIMIT_FSIZE, &lim);

	begin(s, &o, &ss);
	for (uint64_t id = 1000; id < 200000 && !rput; id++) {
		snprintf(name, sizeof(name), "more%llu", (unsigned long long)id);
		struct node n = mkfile(id, 1, name, id);

		rput = store_batch_put(ss.b, &n, true);
	}
	setrlimit(RLIMIT_FSIZE, &old);
	{
		/* With room again, the same writer commits a new job's records. */
		struct store_job *job = NULL;
		struct store_batch *b = NULL;
		struct node n = mkfile(300000, 1, "after", 1);

		rjob = store_job_new(ss.w, &job);
		rjob = rjob ?: store_batch_new(ss.w, job, &b);
		rjob = rjob ?: store_batch_put(b, &n, true);
		rjob = rjob ?: store_batch_flush(b);
		store_batch_free(b);
		rjob = rjob ?: store_job_wait(job);
		store_job_free(job);
		n = mkfile(300001, 1, "late", 1);
		rlate = store_batch_put(ss.b, &n, true);
	}
	rfin = end(&ss, NULL);
	ok(r == 0 && rput < 0 && rfin == rput && rlate == rput,
	   "a failed commit fails its job for good: its producers and finish see it (%s)",
	   fsi_strerror(rput));
	ok(rjob == 0, "the writer goes on: a later job commits (%s)", fsi_strerror(rjob));

	store_reader_new(s, &rd);
	for (uint64_t id = 1; id < 102; id++)
		all = all && has_node(rd, id);
	ok(all, "what was committed before the error is intact");
	ok(has_node(rd, 300000) && !has_node(rd, 300001),
	   "the later job's record is there, the failed job's later one is not");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("err")) >= 101, "the databases agree");
}

/* Queue @n for a new job's batch: the caller's job and batch, flushed. */
static int job_put(struct store_writer *w, struct store_job **job, struct store_batch **b,
		   struct node n)
{
	int r = *job ? 0 : store_job_new(w, job);

	r = r ?: *b ? 0 : store_batch_new(w, *job, b);
	r = r ?: store_batch_put(*b, &n, true);
	return r ?: store_batch_flush(*b);
}

/*
 * Jobs: a transaction that fails fails the jobs with records in it and no
 * other; the writer goes on with later jobs; a failed job's later records
 * are dropped and its batch calls return its error.
 */
static void test_jobs(void)
{
	/* Commits only when asked: one transaction holds whatever was queued. */
	struct store_writer_opts o = {.txn_records = 1000000, .txn_ns = 60 * 1000000000LL,
				      .debug_fail_commit = 1};
	struct store_job *ja = NULL, *jb = NULL, *jc = NULL, *jd = NULL, *je = NULL, *jf = NULL;
	struct store_batch *ba = NULL, *bb = NULL, *bc = NULL, *bd = NULL, *be = NULL, *bf = NULL;
	struct store_write_stats st;
	struct store_reader *rd;
	struct session ss;
	struct store *s;
	struct node n;
	int r, ra, rb, rc, rd_, re, rf, rchild, rfin;

	s = open_locked(tpath("jobs"));
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	put(&ss, mkdir_node(2, 1, "d"), true);
	put(&ss, mkdir_node(3, 2, "e"), true);
	r = end(&ss, NULL);

	r = r ?: store_writer_start(s, &o, &ss.w);
	if (r < 0) {
		ok(false, "writer for jobs: %s", fsi_strerror(r));
		store_close(s);
		return;
	}
	/* A and B share the first transaction, whose commit fails. */
	ra = job_put(ss.w, &ja, &ba, mkdir_node(10, 1, "a"));
	rb = job_put(ss.w, &jb, &bb, mkfile(20, 1, "b", 2));
	ok(ra == 0 && rb == 0, "two jobs queue records");
	ra = store_job_wait(ja);
	rb = store_job_wait(jb);
	ok(ra == -EIO && rb == -EIO,
	   "the failed commit fails both jobs with records in it (%s, %s)", fsi_strerror(ra),
	   fsi_strerror(rb));
	n = mkfile(11, 10, "child", 1);
	rchild = store_batch_put(ba, &n, true);
	ok(rchild == -EIO && store_batch_flush(ba) == -EIO,
	   "a failed job's batch calls return its error");
	rc = job_put(ss.w, &jc, &bc, mkfile(30, 1, "c", 3));
	rc = rc ?: store_job_wait(jc);
	ok(rc == 0, "a later job commits: the writer goes on (%s)", fsi_strerror(rc));

	/* E and D share a transaction in which D's record cannot be applied; F follows. */
	re = job_put(ss.w, &je, &be, mkfile(40, 1, "e", 4));
	n = mkdir_node(2, 3, "d"); /* under its own child: a loop */
	rd_ = store_job_new(ss.w, &jd);
	rd_ = rd_ ?: store_batch_new(ss.w, jd, &bd);
	rd_ = rd_ ?: store_batch_move(bd, &n);
	rd_ = rd_ ?: store_batch_flush(bd);
	rf = job_put(ss.w, &jf, &bf, mkfile(50, 1, "f", 5));
	ok(re == 0 && rd_ == 0 && rf == 0, "three more jobs queue records");
	rf = store_job_wait(jf);
	rd_ = store_job_wait(jd);
	re = store_job_wait(je);
	ok(rd_ == -ELOOP && re == -ELOOP,
	   "a record that cannot be applied fails its job and the jobs in its txn (%s, %s)",
	   fsi_strerror(rd_), fsi_strerror(re));
	ok(rf == 0, "the job queued behind them commits (%s)", fsi_strerror(rf));

	store_batch_free(ba);
	store_batch_free(bb);
	store_batch_free(bc);
	store_batch_free(bd);
	store_batch_free(be);
	store_batch_free(bf);
	store_job_free(ja);
	store_job_free(jb);
	store_job_free(jc);
	store_job_free(jd);
	store_job_free(je);
	store_job_free(jf);
	rfin = store_writer_finish(ss.w, &st);
	ok(rfin == -EIO, "finish returns the first error any job met (%s), %llu commits",
	   fsi_strerror(rfin), (unsigned long long)st.commits);

	store_reader_new(s, &rd);
	ok(!has_node(rd, 10) && !has_node(rd, 11) && !has_node(rd, 20) && !has_node(rd, 40),
	   "nothing of the failed jobs was committed");
	ok(has_node(rd, 30) && has_node(rd, 50), "the other jobs' records were");
	ok(store_get_node(rd, 2, &n) == 0 && n.parent == 1, "the loop was not stored");
	store_reader_free(rd);
	store_close(s);
	ok(check_index(tpath("jobs")) == 5, "the databases agree");
}

/* ---- paths ---------------------------------------------------------------- */

#define PT_MAX 64

/* The entries of the path tree, as built: absolute path and inode. */
struct ptree {
	char *path[PT_MAX];
	size_t len[PT_MAX];
	ino_t ino[PT_MAX];
	int n;
};

/* Record @name in @dirfd (whose path is @dir, @dlen bytes) as the next entry. */
static void pt_add(struct ptree *pt, int dirfd, const char *dir, size_t dlen, const char *name)
{
	size_t nlen = strlen(name);
	struct stat st;
	char *p;

	if (pt->n == PT_MAX || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !(p = malloc(dlen + 1 + nlen + 1)))
		return;
	memcpy(p, dir, dlen);
	p[dlen] = '/';
	memcpy(p + dlen + 1, name, nlen + 1);
	pt->path[pt->n] = p;
	pt->len[pt->n] = dlen + 1 + nlen;
	pt->ino[pt->n] = st.st_ino;
	pt->n++;
}

/* mkdir @name in @dirfd and open it; records it.  Returns the new fd or -1. */
static int pt_mkdir(struct ptree *pt, int dirfd, const char *dir, size_t dlen, const char *name)
{
	if (mkdirat(dirfd, name, 0755) < 0)
		return -1;
	pt_add(pt, dirfd, dir, dlen, name);
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void pt_file(struct ptree *pt, int dirfd, const char *dir, size_t dlen, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd >= 0) {
		close(fd);
		pt_add(pt, dirfd, dir, dlen, name);
	}
}

/*
 * Build the tree: odd names (a newline, 255 bytes), and a chain of 30
 * directories of 200-byte names, over 6,000 bytes, deeper than PATH_MAX:
 * built with *at() calls, since no path of it can be passed whole.
 */
static void pt_build(struct ptree *pt, const char *root)
{
	char l255[256], m255[256], long200[201], *dir;
	size_t dlen;
	int fd, sub, next;

	memset(l255, 'L', 255);
	l255[255] = '\0';
	memset(m255, 'M', 255);
	m255[255] = '\0';
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	pt_file(pt, fd, root, strlen(root), "plain");
	pt_file(pt, fd, root, strlen(root), "new\nline");
	pt_file(pt, fd, root, strlen(root), l255);
	sub = pt_mkdir(pt, fd, root, strlen(root), "dir\nwith newline");
	if (sub >= 0) {
		pt_file(pt, sub, pt->path[pt->n - 1], pt->len[pt->n - 1], l255);
		close(sub);
	}
	sub = pt_mkdir(pt, fd, root, strlen(root), m255);
	if (sub >= 0) {
		pt_file(pt, sub, pt->path[pt->n - 1], pt->len[pt->n - 1], "inner");
		close(sub);
	}
	for (int i = 0; i < 30 && fd >= 0; i++) {
		snprintf(long200, sizeof(long200), "%03d%0197d", i, 0);
		dir = i ? pt->path[pt->n - 1] : (char *)root;
		dlen = i ? pt->len[pt->n - 1] : strlen(root);
		next = pt_mkdir(pt, fd, dir, dlen, long200);
		close(fd);
		fd = next;
	}
	if (fd >= 0) {
		pt_file(pt, fd, pt->path[pt->n - 1], pt->len[pt->n - 1], "bottom");
		close(fd);
	}
}

static void test_paths(void)
{
	struct engine_opts eo = {.jobs = 2, .io_mode = RING_SYNC, .write = true};
	struct scan_opts so = {0};
	struct engine *e = NULL;
	struct ptree pt = {0};
	struct store_reader *rd = NULL;
	struct scan_result res;
	char root[256], *rootp = root, *alloc = NULL, buf[8192], small[64];
	struct store *s;
	uint64_t id, deep_id = 0;
	int r, good = 0, paths_ok = 0, deep = -1;
	struct node n;

	snprintf(root, sizeof(root), "%s", tpath("ptree"));
	mkdir(root, 0755);
	pt_build(&pt, root);
	ok(pt.n == 38 && pt.len[pt.n - 1] > PATH_MAX,
	   "the tree is built: %d entries, the deepest path %zu bytes", pt.n, pt.len[pt.n - 1]);
	s = open_locked(tpath("pdb"));
	if (!s)
		goto out;
	r = engine_new(s, &eo, &e, NULL);
	r = r ?: scan_run(e, &rootp, 1, &so, &res);
	r = r ?: engine_free(e, NULL);
	ok(r == 0 && res.files + res.dirs >= (uint64_t)pt.n, "scan of the tree (%s)",
	   fsi_strerror(r));
	store_reader_new(s, &rd);

	for (int i = 0; i < pt.n; i++) {
		r = store_resolve_path(rd, pt.path[i], &id);
		if (r == 0 && store_get_node(rd, id, &n) == 0 && n.ino == (uint64_t)pt.ino[i])
			good++;
		else
			diag("resolve %.60s...: %s", pt.path[i], r ? fsi_strerror(r) : "wrong inode");
		r = r ?: store_node_path(rd, id, buf, sizeof(buf));
		if (r == (int)pt.len[i] && !memcmp(buf, pt.path[i], pt.len[i] + 1))
			paths_ok++;
		if (pt.len[i] > PATH_MAX && deep < 0) {
			deep = i;
			deep_id = id;
		}
	}
	ok(good == pt.n, "every path resolves to the node of its inode (%d of %d): newlines, "
	   "255-byte names, paths past PATH_MAX", good, pt.n);
	ok(paths_ok == pt.n, "every node's path is rebuilt byte for byte (%d of %d)", paths_ok,
	   pt.n);
	r = deep >= 0 ? store_node_path_alloc(rd, deep_id, &alloc) : -1;
	ok(deep >= 0 && r == (int)pt.len[deep] && !strcmp(alloc, pt.path[deep]),
	   "store_node_path_alloc rebuilds a path of %d bytes", r);
	ok(store_node_path(rd, deep_id, small, sizeof(small)) == -ERANGE,
	   "a buffer too small is -ERANGE");

	ok(store_resolve_path(rd, "/", &id) == 0 && id == NODE_ID_TOP &&
		   store_node_path(rd, NODE_ID_TOP, small, sizeof(small)) == 1 &&
		   !strcmp(small, "/"),
	   "\"/\" is NODE_ID_TOP and back");
	snprintf(buf, sizeof(buf), "//%s//plain/", root + 1);
	ok(store_resolve_path(rd, buf, &id) == 0 && store_get_node(rd, id, &n) == 0 &&
		   n.ino == (uint64_t)pt.ino[0],
	   "repeated and trailing slashes are ignored");
	ok(store_resolve_path(rd, base, &id) == 0 && store_get_node(rd, id, &n) == 0 &&
		   (n.flags & NODE_F_CHAIN),
	   "a root's ancestor resolves, marked NODE_F_CHAIN");
	snprintf(buf, sizeof(buf), "%s/not-there", root);
	ok(store_resolve_path(rd, buf, &id) == -ENOENT, "a path not indexed is -ENOENT");
	snprintf(buf, sizeof(buf), "%s/plain/below-a-file", root);
	ok(store_resolve_path(rd, buf, &id) == -ENOENT, "... and so is one below a file");
	snprintf(buf, sizeof(buf), "%s/./plain", root);
	r = store_resolve_path(rd, buf, &id);
	snprintf(buf, sizeof(buf), "%s/x/../plain", root);
	ok(r == -EINVAL && store_resolve_path(rd, buf, &id) == -EINVAL &&
		   store_resolve_path(rd, "relative/path", &id) == -EINVAL,
	   "\".\", \"..\" and relative paths are -EINVAL");
	snprintf(buf, sizeof(buf), "%s/%0256d", root, 0);
	ok(store_resolve_path(rd, buf, &id) == -ENAMETOOLONG,
	   "a component over 255 bytes is -ENAMETOOLONG");
	ok(store_node_path(rd, 999999999, buf, sizeof(buf)) == -ENOENT,
	   "the path of an id not in the index is -ENOENT");
	store_reader_free(rd);
	store_close(s);
out:
	free(alloc);
	for (int i = 0; i < pt.n; i++)
		free(pt.path[i]);
}

/* ---- refusals ----------------------------------------------------------- */

/* store_open(@path) must fail with @want and leave @data (and the lock) as they were. */
static void refuse(const char *what, const char *path, const char *data, const char *lock,
		   unsigned flags, int want)
{
	unsigned char *before, *after;
	size_t lb = 0, la = 0;
	bool lock_before = exists(lock);
	struct store *s = NULL;
	int r;

	before = slurp(data, &lb);
	r = store_open(path, flags, &s);
	after = slurp(data, &la);
	ok(r == want && !s, "%s: refused with \"%s\"", what, fsi_strerror(r));
	ok(before && after && lb == la && !memcmp(before, after, lb),
	   "%s: the data file is byte-for-byte unchanged", what);
	ok(exists(lock) == lock_before, "%s: no lock file left behind", what);
	if (r == 0)
		store_close(s);
	free(before);
	free(after);
}

/* A foreign LMDB environment: its own named database, or a "meta" of its own. */
static void make_foreign(const char *dir, int kind)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {3, (void *)"key"}, v = {5, (void *)"value"};

	mkdir(dir, 0700);
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 4);
	mdb_env_open(env, dir, 0, 0600);
	mdb_txn_begin(env, NULL, 0, &txn);
	if (kind == 0) {
		mdb_dbi_open(txn, "stuff", MDB_CREATE, &dbi);
	} else if (kind == 1) {
		mdb_dbi_open(txn, NULL, 0, &dbi); /* "meta" as a plain key */
		k = (MDB_val){4, (void *)"meta"};
	} else {
		mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi); /* no magic */
		k = (MDB_val){5, (void *)"magic"};
		v = (MDB_val){7, (void *)"fsindeX"};
	}
	mdb_put(txn, dbi, &k, &v, 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
}

static void set_schema(const char *dir, uint32_t version)
{
	unsigned char b[4];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {6, (void *)"schema"}, v = {4, b};

	put_be32(b, version);
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_open(env, dir, 0, 0600);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "meta", 0, &dbi);
	mdb_put(txn, dbi, &k, &v, 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
}

/*
 * Set meta "features" of the index in @dir to the three sets, or delete the
 * key when @len is 0 (an index from before features); @len other than 12
 * writes that many bytes of the sets.
 */
static void set_features(const char *dir, uint32_t incompat, uint32_t ro, uint32_t compat,
			 size_t len)
{
	unsigned char b[16] = {0};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {8, (void *)"features"}, v = {len, b};

	put_be32(b, incompat);
	put_be32(b + 4, ro);
	put_be32(b + 8, compat);
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_open(env, dir, 0, 0600);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "meta", 0, &dbi);
	if (len)
		mdb_put(txn, dbi, &k, &v, 0);
	else
		mdb_del(txn, dbi, &k, NULL);
	mdb_txn_commit(txn);
	mdb_env_close(env);
}

/*
 * meta "features" of the index in @dir as hex ("" when the key is missing,
 * "?" when the environment cannot be read), in static storage.
 */
static const char *get_features(const char *dir)
{
	static char hex[2 * 32 + 1];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {8, (void *)"features"}, v;

	strcpy(hex, "?");
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	if (mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
		if (mdb_dbi_open(txn, "meta", 0, &dbi) == 0) {
			hex[0] = '\0';
			if (mdb_get(txn, dbi, &k, &v) == 0)
				for (size_t i = 0; i < v.mv_size && i < 32; i++)
					sprintf(hex + 2 * i, "%02x", ((unsigned char *)v.mv_data)[i]);
		}
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return hex;
}

/*
 * Turn the index in @dir into what versions before compact records wrote:
 * its `cnode` records rewritten fixed into `node` (as node_decode_v1() reads
 * them), its `cchild` values into `child`, `cnode` and `cchild` dropped.
 */
static void make_fixed(const char *dir)
{
	unsigned char rec[NODE_HDR_SIZE + NODE_NAME_MAX];
	MDB_dbi dc, dn;
	MDB_cursor *cur;
	MDB_env *env;
	MDB_txn *txn;
	MDB_val k, v;
	struct node n;

	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_open(env, dir, 0, 0600);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "cnode", 0, &dc);
	mdb_dbi_open(txn, "node", MDB_CREATE, &dn);
	mdb_cursor_open(txn, dc, &cur);
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (node_decode(v.mv_data, v.mv_size, get_be64(k.mv_data), &n) == 0) {
			MDB_val v1 = {(size_t)node_encode_v1(&n, rec, sizeof(rec)), rec};

			mdb_put(txn, dn, &k, &v1, 0);
		}
	}
	mdb_cursor_close(cur);
	mdb_drop(txn, dc, 1);
	mdb_dbi_open(txn, "cchild", 0, &dc);
	mdb_dbi_open(txn, "child", MDB_CREATE, &dn);
	mdb_cursor_open(txn, dc, &cur);
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint64_t id;
		uint8_t flags;
		char type;

		if (node_child_decode(v.mv_data, v.mv_size, &id, &type, &flags) == 0) {
			MDB_val v1 = {10, rec};

			put_be64(rec, id);
			rec[8] = (unsigned char)type;
			rec[9] = flags;
			mdb_put(txn, dn, &k, &v1, 0);
		}
	}
	mdb_cursor_close(cur);
	mdb_drop(txn, dc, 1);
	mdb_txn_commit(txn);
	mdb_env_close(env);
}

/* Give the index in @dir a `size` database as older versions kept: (size, id) of file 2. */
static void add_size_db(const char *dir)
{
	unsigned char k[16];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val key = {16, k}, val = {0, (void *)""};

	put_be64(k, 10);
	put_be64(k + 8, 2);
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_open(env, dir, 0, 0600);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "size", MDB_CREATE, &dbi);
	mdb_put(txn, dbi, &key, &val, 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
}

/* Does the index in @dir have a `size` database? */
static bool has_size_db(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	bool has = false;

	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 8);
	if (mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
		has = mdb_dbi_open(txn, "size", 0, &dbi) == 0;
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return has;
}

/* The index in @dir opens with @flags, and node @id reads back. */
static bool opens_and_reads(const char *dir, unsigned flags, uint64_t id)
{
	struct store_reader *rd = NULL;
	struct store *s = NULL;
	bool good;

	if (store_open(dir, flags, &s) < 0)
		return false;
	good = store_reader_new(s, &rd) == 0 && has_node(rd, id);
	store_reader_free(rd);
	store_close(s);
	return good;
}

/* As opens_and_reads(), and the data file @data is byte-for-byte as it was. */
static bool opens_unchanged(const char *dir, const char *data, unsigned flags, uint64_t id)
{
	unsigned char *before, *after;
	size_t lb = 0, la = 0;
	bool good;

	before = slurp(data, &lb);
	good = opens_and_reads(dir, flags, id);
	after = slurp(data, &la);
	good = good && before && after && lb == la && !memcmp(before, after, lb);
	free(before);
	free(after);
	return good;
}

/*
 * Schema evolution: a new index records its features; one from before them
 * is read as it is and upgraded by the first writer; an unknown incompat bit
 * refuses the index, an unknown ro_compat bit refuses only writers, an
 * unknown compat bit nothing.
 */
static void test_features(void)
{
	const char *dir = tpath("feat");
	struct store_info before, after;
	char data[512], lock[512];
	struct session ss;
	struct store *s;
	int r;

	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
	s = open_locked(dir);
	if (!s)
		return;
	begin(s, NULL, &ss);
	put(&ss, top(), true);
	put(&ss, mkfile(2, 1, "f", 10), true);
	r = end(&ss, NULL);
	store_close(s);
	ok(r == 0 && !strcmp(get_features(dir), "000000010000000100000000"),
	   "a new index records its features (compact records, ro_compat NAMES): %s", get_features(dir));

	ok(!has_size_db(dir), "a new index has no `size` database");

	/* An index from before features, with `size`: read as it is, upgraded by a writer. */
	set_features(dir, 0, 0, 0, 0);
	make_fixed(dir);
	add_size_db(dir);
	ok(opens_unchanged(dir, data, STORE_RDONLY, 2) && !strcmp(get_features(dir), ""),
	   "a pre-features index is read as it is: data file unchanged, no features");
	ok(opens_unchanged(dir, data, STORE_LOCK, 2),
	   "opening it to write (scan lock and all) writes nothing yet");
	s = open_locked(dir);
	if (!s)
		return;
	store_info(s, &before);
	r = begin(s, NULL, &ss);
	r = r ?: end(&ss, NULL);
	store_info(s, &after);
	store_close(s);
	ok(r == 0 && after.last_txnid == before.last_txnid + 4 &&
		   !strcmp(get_features(dir), "000000010000000100000000") && !has_size_db(dir),
	   "the first writer upgrades it in four commits of its own (records and child "
	   "values copied compact, then `node`, `child` and `size` dropped, then the name "
	   "index built): features %s",
	   get_features(dir));
	s = open_locked(dir);
	store_info(s, &before);
	r = begin(s, NULL, &ss);
	r = r ?: end(&ss, NULL);
	store_info(s, &after);
	store_close(s);
	ok(r == 0 && after.last_txnid == before.last_txnid,
	   "an upgraded index needs no second upgrade (nothing committed)");
	ok(opens_and_reads(dir, STORE_RDONLY, 2), "what it held is there after the upgrade");

	/* An unknown incompat bit: refused, whoever asks. */
	set_features(dir, 1u << 31, 0, 0, 12);
	refuse("an unknown incompat feature", dir, data, lock, 0, STORE_E_SCHEMA);
	refuse("an unknown incompat feature, RDONLY", dir, data, lock, STORE_RDONLY,
	       STORE_E_SCHEMA);
	refuse("an unknown incompat feature, STORE_LOCK", dir, data, lock, STORE_LOCK,
	       STORE_E_SCHEMA);

	/* An unknown ro_compat bit: readers may, writers may not. */
	set_features(dir, 1, 1u << 5, 0, 12);
	ok(opens_and_reads(dir, STORE_RDONLY, 2),
	   "an unknown ro_compat feature: the index opens read-only and reads");
	refuse("an unknown ro_compat feature, for writing", dir, data, lock, 0,
	       STORE_E_RO_FEATURE);
	refuse("an unknown ro_compat feature, STORE_LOCK", dir, data, lock, STORE_LOCK,
	       STORE_E_RO_FEATURE);
	ok(!strcmp(get_features(dir), "000000010000002000000000"),
	   "the writer refused left the features as they were");

	/* An unknown compat bit: nothing changes, and a writer keeps the bit. */
	set_features(dir, 1, 0, 1u << 7, 12);
	s = open_locked(dir);
	r = s ? begin(s, NULL, &ss) : -1;
	if (r == 0) {
		put(&ss, mkfile(3, 1, "g", 20), true);
		r = end(&ss, NULL);
	}
	store_close(s);
	ok(r == 0 && opens_and_reads(dir, STORE_RDONLY, 3) &&
		   !strcmp(get_features(dir), "000000010000000100000080"),
	   "an unknown compat feature: written to, and the bit kept (%s)", get_features(dir));
	add_size_db(dir);
	s = open_locked(dir);
	r = s ? begin(s, NULL, &ss) : -1;
	r = r ?: end(&ss, NULL);
	store_close(s);
	ok(r == 0 && !has_size_db(dir) && !strcmp(get_features(dir), "000000010000000100000080"),
	   "a `size` beside features is dropped too, the features kept as they were");

	/* Features in a layout we cannot read. */
	set_features(dir, 1, 0, 0, 8);
	refuse("features of another size", dir, data, lock, STORE_RDONLY, STORE_E_SCHEMA);
	set_features(dir, 1, 0, 0, 12);
	ok(opens_and_reads(dir, 0, 3), "put right, the index opens again");
	ok(check_index(dir) == 3, "the databases agree");
	ok(!strcmp(fsi_strerror(STORE_E_RO_FEATURE),
		   "index has features of a newer fsindex that this one can read but not write "
		   "(scan it with the newer version)"),
	   "the ro_compat refusal says what to do");
}

static void test_refusals(void)
{
	unsigned char junk[65536];
	uint32_t x = 0x9e3779b9u;
	struct store *s = NULL;
	char p[512], l[600];
	int r;

	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (unsigned char)x;
	}

	/* Files given as the path: MDB_NOSUBDIR mode. */
	snprintf(p, sizeof(p), "%s", tpath("random.bin"));
	snprintf(l, sizeof(l), "%s-lock", p);
	write_file(p, junk, sizeof(junk));
	refuse("random bytes", p, p, l, 0, STORE_E_FOREIGN);
	refuse("random bytes, RDONLY", p, p, l, STORE_RDONLY, STORE_E_FOREIGN);

	snprintf(p, sizeof(p), "%s", tpath("zeros.bin"));
	snprintf(l, sizeof(l), "%s-lock", p);
	memset(junk, 0, sizeof(junk));
	write_file(p, junk, sizeof(junk));
	refuse("a file of zeros", p, p, l, 0, STORE_E_FOREIGN);

	snprintf(p, sizeof(p), "%s", tpath("notes.txt"));
	snprintf(l, sizeof(l), "%s-lock", p);
	write_file(p, "remember the milk\n", 18);
	refuse("a short text file", p, p, l, 0, STORE_E_FOREIGN);

	/* A directory whose data.mdb is garbage. */
	mkdir(tpath("garbage"), 0700);
	write_file(tpath("garbage/data.mdb"), "\x01\x02\x03", 3);
	snprintf(p, sizeof(p), "%s", tpath("garbage/data.mdb"));
	snprintf(l, sizeof(l), "%s", tpath("garbage/lock.mdb"));
	refuse("garbage data.mdb", tpath("garbage"), p, l, 0, STORE_E_FOREIGN);

	/* Real LMDB environments that are not ours. */
	const char *kinds[] = {"a foreign env with its own db", "a foreign env with a \"meta\" key",
			       "a foreign env with a wrong magic"};
	for (int k = 0; k < 3; k++) {
		char dir[64];

		snprintf(dir, sizeof(dir), "foreign%d", k);
		make_foreign(tpath(dir), k);
		snprintf(p, sizeof(p), "%s/data.mdb", tpath(dir));
		snprintf(l, sizeof(l), "%s/lock.mdb", tpath(dir));
		refuse(kinds[k], tpath(dir), p, l, 0, STORE_E_FOREIGN);
	}
	/* Same, but without its lock file: the probe must remove the one it made. */
	unlink(tpath("foreign0/lock.mdb"));
	refuse("a foreign env without lock file", tpath("foreign0"), tpath("foreign0/data.mdb"),
	       tpath("foreign0/lock.mdb"), 0, STORE_E_FOREIGN);

	/* Our own index, from another schema. */
	s = open_locked(tpath("schema"));
	store_close(s);
	set_schema(tpath("schema"), 99);
	snprintf(p, sizeof(p), "%s", tpath("schema/data.mdb"));
	snprintf(l, sizeof(l), "%s", tpath("schema/lock.mdb"));
	refuse("schema 99", tpath("schema"), p, l, 0, STORE_E_SCHEMA);
	refuse("schema 99, RDONLY", tpath("schema"), p, l, STORE_RDONLY, STORE_E_SCHEMA);
	set_schema(tpath("schema"), STORE_SCHEMA_VERSION);
	r = store_open(tpath("schema"), 0, &s);
	ok(r == 0, "the same index with schema %d opens", STORE_SCHEMA_VERSION);
	store_close(s);

	/* An index cut down to its two meta pages: refused, not SIGBUS. */
	s = open_locked(tpath("cut"));
	if (s) {
		struct session ss;

		begin(s, NULL, &ss);
		put(&ss, top(), true);
		for (uint64_t id = 2; id < 2000; id++) {
			snprintf(p, sizeof(p), "f%llu", (unsigned long long)id);
			put(&ss, mkfile(id, 1, p, id), true);
		}
		end(&ss, NULL);
		store_close(s);
	}
	snprintf(p, sizeof(p), "%s", tpath("cut/data.mdb"));
	snprintf(l, sizeof(l), "%s", tpath("cut/lock.mdb"));
	ok(truncate(p, 2 * sysconf(_SC_PAGESIZE)) == 0, "an index is cut to two pages");
	refuse("a truncated index", tpath("cut"), p, l, 0, STORE_E_FOREIGN);
	refuse("a truncated index, RDONLY", tpath("cut"), p, l, STORE_RDONLY, STORE_E_FOREIGN);

	/* An LMDB environment nobody committed to is someone else's too. */
	{
		MDB_env *env;

		mkdir(tpath("blank"), 0700);
		mdb_env_create(&env);
		mdb_env_open(env, tpath("blank"), 0, 0600);
		mdb_env_close(env);
		unlink(tpath("blank/lock.mdb"));
	}
	snprintf(p, sizeof(p), "%s", tpath("blank/data.mdb"));
	snprintf(l, sizeof(l), "%s", tpath("blank/lock.mdb"));
	refuse("an empty LMDB environment", tpath("blank"), p, l, 0, STORE_E_FOREIGN);

	/* An empty file holds nothing to misread: it becomes an index (mkstemp users). */
	write_file(tpath("empty.idx"), "", 0);
	r = store_open(tpath("empty.idx"), 0, &s);
	ok(r == 0 && exists(tpath("empty.idx-lock")), "an empty regular file becomes an index");
	if (r == 0) {
		struct session ss;

		r = store_lock_scan(s);
		ok(r == 0 && flocked(tpath("empty.idx")) && !exists(tpath("empty.idx.fsindex-lock")),
		   "NOSUBDIR mode: the scan lock is an flock on the data file itself");
		begin(s, NULL, &ss);
		put(&ss, top(), true);
		end(&ss, NULL);
		store_close(s);
	}
	r = store_open(tpath("empty.idx"), STORE_RDONLY, &s);
	ok(r == 0, "and reopens as one");
	store_close(s);
	ok(check_index(tpath("empty.idx")) == 1, "NOSUBDIR index holds its record");
}

/* A first open killed at any moment leaves nothing the next open refuses. */
static void test_killed_create(void)
{
	int refused = 0, killed = 0;

	for (int i = 0; i < 12; i++) {
		char dir[32];
		struct store *s;
		pid_t pid;
		int status, r;

		snprintf(dir, sizeof(dir), "killed%d", i);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			s = NULL;
			r = store_open(tpath(dir), 0, &s);
			store_close(s);
			_exit(r == 0 ? 0 : 1);
		}
		usleep((useconds_t)(i * 600));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		killed += WIFSIGNALED(status);
		s = NULL;
		r = store_open(tpath(dir), 0, &s);
		if (r < 0) {
			diag("killed after %d us: %s", i * 600, fsi_strerror(r));
			refused++;
		}
		store_close(s);
	}
	ok(refused == 0, "an open killed at any moment (%d of 12 killed) leaves an index or none",
	   killed);
}

static void test_scan_lock(void)
{
	struct store *a, *b = NULL;
	int r;

	a = open_locked(tpath("lock"));
	if (!a)
		return;
	ok(flocked(tpath("lock/data.mdb")) && !exists(tpath("lock/fsindex.lock")),
	   "the scan lock is an flock on data.mdb, no file of its own");
	ok(store_lock_scan(a) == 0, "taking the lock twice through one store is fine");
	r = store_open(tpath("lock"), 0, &b);
	ok(r == 0 && store_lock_scan(b) == STORE_E_LOCKED, "a second store cannot take the scan lock");
	store_close(a);
	ok(b && store_lock_scan(b) == 0, "after the first closes, it can");
	store_close(b);
}

/* lmdbcheck_snapshot() on the current snapshot of @dir, as if the file held @npages. */
static int check_pages(const char *dir, uint64_t npages, uint64_t *ret_file_pages)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_stat ms;
	struct stat st;
	int fd, r = -EIO;

	mdb_env_create(&env);
	if (mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
		mdb_env_stat(env, &ms);
		mdb_env_get_fd(env, &fd);
		fstat(fd, &st);
		*ret_file_pages = (uint64_t)st.st_size / ms.ms_psize;
		r = lmdbcheck_snapshot(fd, ms.ms_psize, mdb_txn_id(txn),
				       npages ? npages : *ret_file_pages);
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return r;
}

/* Add @extra to the last page number in both meta pages of @data. */
static void bump_last_page(const char *data, uint64_t extra)
{
	long psize = sysconf(_SC_PAGESIZE);
	int fd = open(data, O_RDWR);

	for (int m = 0; m < 2; m++) {
		uint64_t last;
		off_t off = m * psize + 16 + 120; /* page header, then MDB_meta's mm_last_pg */

		if (pread(fd, &last, 8, off) == 8) {
			last += extra;
			if (pwrite(fd, &last, 8, off) != 8)
				diag("cannot patch %s", data);
		}
	}
	close(fd);
}

/*
 * A valid data file may be shorter than its last page: LMDB does not write
 * the pages a transaction allocated and freed again.  Only a file missing a
 * page that is still in use is cut short.
 */
static void test_short_file(void)
{
	uint64_t file_pages = 0, ignored;
	struct store *s;
	struct stat st;
	int r;

	s = open_locked(tpath("short"));
	if (s) {
		struct session ss;
		char p[32];

		begin(s, NULL, &ss);
		put(&ss, top(), true);
		for (uint64_t id = 2; id < 3000; id++) {
			snprintf(p, sizeof(p), "file-%llu", (unsigned long long)id);
			put(&ss, mkfile(id, 1, p, id), true);
		}
		end(&ss, NULL);
		store_close(s);
	}
	r = check_pages(tpath("short"), 0, &file_pages);
	ok(r == 0 && file_pages > 20, "lmdbcheck: a whole index of %llu pages passes",
	   (unsigned long long)file_pages);
	ok(check_pages(tpath("short"), 2, &ignored) == -EBADMSG,
	   "lmdbcheck: the same index seen as its two meta pages fails");
	ok(check_pages(tpath("short"), file_pages / 2, &ignored) == -EBADMSG,
	   "lmdbcheck: ... and as half of it");

	/* Pages counted as used but never written, as LMDB leaves them. */
	bump_last_page(tpath("short/data.mdb"), 5);
	r = store_open(tpath("short"), STORE_RDONLY, &s);
	ok(r == 0, "a data file 5 pages shorter than its last page opens read-only (%s)",
	   r ? fsi_strerror(r) : "ok");
	store_close(s);
	s = open_locked(tpath("short"));
	ok(s != NULL, "... and for writing");
	if (s) {
		struct session ss;

		begin(s, NULL, &ss);
		put(&ss, mkfile(5000, 1, "after", 1), true);
		ok(end(&ss, NULL) == 0, "... and takes a commit");
		store_close(s);
	}
	ok(check_index(tpath("short")) == 3000, "... and holds every record");
	stat(tpath("short/data.mdb"), &st);
	ok(truncate(tpath("short/data.mdb"), st.st_size / 2) == 0, "the index is cut in half");
	r = store_open(tpath("short"), STORE_RDONLY, &s);
	ok(r == STORE_E_FOREIGN, "... and refused, not SIGBUS");
	if (r == 0)
		store_close(s);
}

/* One index, one scan lock, however the path is spelled. */
static void test_lock_spellings(void)
{
	const char *spellings[] = {"spell/data.mdb", "spell//./data.mdb", "spell-link",
				   "spell-data-link", "spell/"};
	struct store *a, *b;
	char path[4200];
	int r;

	a = open_locked(tpath("spell"));
	if (!a)
		return;
	symlink(tpath("spell"), tpath("spell-link"));
	symlink(tpath("spell/data.mdb"), tpath("spell-data-link"));
	for (size_t i = 0; i < ARRAY_SIZE(spellings); i++) {
		snprintf(path, sizeof(path), "%s", tpath(spellings[i]));
		b = NULL;
		r = store_open(path, STORE_LOCK, &b);
		ok(r == STORE_E_LOCKED, "'%s' is the same index: its scan lock is taken (%s)", spellings[i],
		   r ? fsi_strerror(r) : "opened");
		store_close(b);
	}
	ok(!exists(tpath("spell/data.mdb-lock")) && !exists(tpath("spell/data.mdb.fsindex-lock")),
	   "no second set of lock files appeared");
	store_close(a);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/test-store.XXXXXX");
	if (!mkdtemp(base)) {
		printf("1..0 # SKIP cannot create a temporary directory\n");
		return 0;
	}
	plan_lazy();
	test_open();
	test_round_trip();
	test_no_empty_commit();
	test_fsdev_table();
	test_replace();
	test_fresh_deferred();
	test_move();
	test_delete();
	test_delete_yields();
	test_stale_entries();
	test_txn_full();
	test_map_growth();
	test_map_resized();
	test_reader_snapshot();
	test_commit_by_time();
	test_backpressure();
	test_write_error();
	test_jobs();
	test_paths();
	test_refusals();
	test_features();
	test_killed_create();
	test_scan_lock();
	test_short_file();
	test_lock_spellings();
	rm_rf(base);
	return done_testing();
}
