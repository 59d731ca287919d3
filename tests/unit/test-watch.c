/* SPDX-License-Identifier: MIT */
/*
 * test-watch.c - the event source on a tmpfs of its own (or a directory in
 * /tmp when mounting is refused), with fanotify and with inotify forced:
 * what changes is emitted once its settle window ends, new trees, renames,
 * bursts, running out of inotify watches, and a filesystem mark's events
 * outside the root.  The oracle is the list of operations the test did;
 * waits are generous (the descriptor is polled with a timeout of seconds).
 */
#include "util.h"
#include "watch.h"

#include "log.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_EMIT 4096

struct emitted {
	char *path[MAX_EMIT];
	char *via[MAX_EMIT]; /* a rename's first name passed through, or NULL */
	unsigned flags[MAX_EMIT];
	size_t n;
	size_t outside; /* emissions not under root */
	const char *root;
};

static char base[256]; /* the tmpfs */
static char root[512]; /* base/root: what is watched */
static bool mounted;

static void on_emit(void *ctx, const char *dir, size_t len, unsigned flags)
{
	struct emitted *e = ctx;
	size_t rl = strlen(e->root);

	if (strlen(dir) != len)
		diag("emitted length %zu for '%s'", len, dir);
	if (len < rl || memcmp(dir, e->root, rl) != 0 || (len > rl && dir[rl] != '/')) {
		diag("emitted outside the root: %s", dir);
		e->outside++;
	}
	if (getenv("WATCH_TEST_VERBOSE"))
		diag("emit %s %u", dir, flags);
	if (e->n < MAX_EMIT && (flags & WATCH_RENAME)) {
		/* A rename: "old>new". */
		const char *to = dir + len + 1, *via = to + strlen(to) + 1;

		if (asprintf(&e->path[e->n], "%s>%s", dir, to) < 0)
			e->path[e->n] = NULL;
		e->via[e->n] = *via ? strdup(via) : NULL;
		e->flags[e->n++] = flags;
	} else if (e->n < MAX_EMIT) {
		e->via[e->n] = NULL;
		e->path[e->n] = strndup(dir, len);
		e->flags[e->n++] = flags;
	}
}

static void clear(struct emitted *e)
{
	while (e->n) {
		free(e->path[--e->n]);
		free(e->via[e->n]);
		e->via[e->n] = NULL;
	}
}

/* Process events until nothing is pending and the queue stayed empty for 200 ms (at most 20 s). */
static void drain(struct watch *w, struct emitted *e)
{
	int64_t stop = now_mono_ns() + 20LL * 1000000000;

	while (now_mono_ns() < stop) {
		struct pollfd p = {.fd = watch_fd(w), .events = POLLIN};
		int64_t dl = watch_next_deadline(w), now = now_mono_ns();
		int timeout = 200, n;

		if (dl >= 0)
			timeout = dl > now ? (int)((dl - now) / 1000000) + 1 : 0;
		n = poll(&p, 1, timeout);
		watch_process(w, now_mono_ns(), on_emit, e);
		if (n == 0 && dl < 0 && watch_next_deadline(w) < 0)
			return;
	}
	diag("drain: still busy after 20 s");
}

static char *at(const char *rel)
{
	static char buf[4][1024];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", root, rel);
	return buf[i];
}

/* Was exactly @path emitted (with all of @flags)? */
static bool emitted(const struct emitted *e, const char *path, unsigned flags)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->path[i], path) == 0 && (e->flags[i] & flags) == flags)
			return true;
	return false;
}

/* Is directory @path rescanned by what was emitted: itself, or an ancestor as a subtree? */
static bool covered(const struct emitted *e, const char *path)
{
	for (size_t i = 0; i < e->n; i++) {
		size_t l = strlen(e->path[i]);

		if (strcmp(e->path[i], path) == 0)
			return true;
		if ((e->flags[i] & WATCH_SUBTREE) && strncmp(path, e->path[i], l) == 0 &&
		    path[l] == '/')
			return true;
	}
	return false;
}

static void put(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, strlen(data)) < 0)
		diag("cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void run(const char *cmd)
{
	if (system(cmd) != 0)
		diag("failed: %s", cmd);
}

static void make_fresh_root(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s/outside' && mkdir -p '%s/d1' '%s/outside'",
		 root, base, root, base);
	run(cmd);
	put(at("d1/old"), "old");
}

static const char *mode_name(enum watch_mode m)
{
	return m == WATCH_FANOTIFY ? "fanotify" : m == WATCH_INOTIFY ? "inotify" : "auto";
}

static struct watch *start(enum watch_mode mode, unsigned burst, int64_t settle, unsigned limit,
			   unsigned reserve)
{
	struct watch_opts o = {.mode = mode,
			       .burst = burst,
			       .settle_ns = settle,
			       .inotify_limit = limit,
			       .inotify_reserve = reserve};
	struct watch *w;
	int r;

	if (watch_new(&o, &w) < 0)
		return NULL;
	r = watch_add_root(w, root);
	if (r < 0) {
		diag("watch_add_root(%s, %s): %s", root, mode_name(mode), strerror(-r));
		watch_free(w);
		return NULL;
	}
	return w;
}

/* Create, modify and delete a file; nothing before the window ends; nothing outside. */
static void test_files(enum watch_mode mode, const char *want_mode)
{
	struct emitted e = {.root = root};
	struct watch *w = start(mode, 0, 0, 0, 0);
	int64_t t0;
	const char *m = mode_name(mode);
	struct watch_status st;

	ok(w != NULL, "%s: watching %s", m, root);
	if (!w)
		return;
	drain(w, &e);
	clear(&e);

	t0 = now_mono_ns();
	put(at("d1/new"), "x");
	ok(watch_process(w, t0, on_emit, &e) == 0 && watch_next_deadline(w) > t0,
	   "%s: nothing emitted before the settle window ends", m);
	drain(w, &e);
	ok(emitted(&e, at("d1"), 0) && e.n == 1, "%s: create: d1 emitted once (%zu)", m, e.n);
	clear(&e);

	put(at("d1/old"), "changed");
	drain(w, &e);
	ok(emitted(&e, at("d1"), 0), "%s: modify: d1 emitted", m);
	clear(&e);

	unlink(at("d1/old"));
	drain(w, &e);
	ok(emitted(&e, at("d1"), 0) && !(e.n && (e.flags[0] & WATCH_OVERFLOW)),
	   "%s: delete: d1 emitted", m);
	clear(&e);

	/* Outside the root, on the same filesystem: a filesystem mark sees it. */
	{
		char p[1024];

		snprintf(p, sizeof(p), "%s/outside/f", base);
		put(p, "x");
		unlink(p);
		put(at("d1/after"), "x");
	}
	drain(w, &e);
	ok(e.outside == 0 && emitted(&e, at("d1"), 0) && e.n == 1,
	   "%s: events outside the root are not emitted", m);
	watch_status(w, &st);
	ok(st.nroots == 1 && strcmp(st.roots[0].mode, want_mode) == 0 && st.events > 0 &&
		   st.emitted >= 4,
	   "%s: status: mode %s, %" PRIu64 " events, %" PRIu64 " emitted", m,
	   st.nroots ? st.roots[0].mode : "?", st.events, st.emitted);
	clear(&e);
	watch_free(w);
}

/* mkdir -p a/b/c with files, quicker than any watch can follow. */
static void test_new_tree(enum watch_mode mode)
{
	struct emitted e = {.root = root};
	struct watch *w = start(mode, 0, 0, 0, 0);
	char cmd[2048];
	const char *m = mode_name(mode);

	if (!ok(w != NULL, "%s: watching for a new tree", m))
		return;
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && mkdir -p a/b/c && echo 1 > a/f && echo 2 > a/b/f && echo 3 > a/b/c/f",
		 root);
	run(cmd);
	drain(w, &e);
	ok(covered(&e, root) && covered(&e, at("a")) && covered(&e, at("a/b")) &&
		   covered(&e, at("a/b/c")),
	   "%s: new tree: the root and a, a/b, a/b/c are all rescanned", m);
	clear(&e);

	/* Later changes deep in the new tree are seen: its watches exist. */
	put(at("a/b/c/g"), "4");
	drain(w, &e);
	ok(emitted(&e, at("a/b/c"), 0), "%s: a change in the new a/b/c is emitted", m);
	clear(&e);
	watch_free(w);
}

/* Rename a directory and a file across directories. */
static void test_renames(enum watch_mode mode)
{
	struct emitted e = {.root = root};
	struct watch *w;
	char cmd[2048];
	const char *m = mode_name(mode);

	snprintf(cmd, sizeof(cmd), "cd '%s' && mkdir -p src/sub/deep dst && echo 1 > src/f", root);
	run(cmd);
	w = start(mode, 0, 0, 0, 0);
	if (!ok(w != NULL, "%s: watching for renames", m))
		return;
	rename(at("src/f"), at("dst/f"));
	rename(at("src/sub"), at("dst/sub"));
	drain(w, &e);
	snprintf(cmd, sizeof(cmd), "%s>%s", at("src/f"), at("dst/f"));
	ok(emitted(&e, cmd, WATCH_RENAME), "%s: a file's rename is emitted as one", m);
	snprintf(cmd, sizeof(cmd), "%s>%s", at("src/sub"), at("dst/sub"));
	ok(emitted(&e, cmd, WATCH_RENAME), "%s: a directory's rename is emitted as one", m);
	ok(!emitted(&e, at("src"), 0) && !emitted(&e, at("dst"), 0) && e.n == 2,
	   "%s: ...and their directories are not rescanned for them (%zu emitted)", m, e.n);
	clear(&e);

	/* A chain within the window is one rename; a create beside it is rescanned. */
	rename(at("dst/f"), at("dst/g"));
	rename(at("dst/g"), at("src/h"));
	put(at("dst/new"), "n");
	drain(w, &e);
	snprintf(cmd, sizeof(cmd), "%s>%s", at("dst/f"), at("src/h"));
	ok(emitted(&e, cmd, WATCH_RENAME) && emitted(&e, at("dst"), 0) && !emitted(&e, at("src"), 0),
	   "%s: mv f g; mv g h: one rename, f to h; dst rescanned for its new file", m);
	ok(e.n == 2 && e.via[0] && strcmp(e.via[0], at("dst/g")) == 0,
	   "%s: ...which says it passed through g", m);
	clear(&e);

	/* Written to, then renamed: the directory is rescanned at its new path. */
	put(at("dst/sub/deep/w"), "w");
	rename(at("dst/sub"), at("dst/sub2"));
	drain(w, &e);
	ok(emitted(&e, at("dst/sub2/deep"), 0) && !emitted(&e, at("dst/sub/deep"), 0),
	   "%s: an event before its directory's rename is rescanned at the new path", m);
	rename(at("dst/sub2"), at("dst/sub"));
	drain(w, &e);
	clear(&e);

	/* The moved directory's events carry its new path. */
	put(at("dst/sub/deep/x"), "x");
	drain(w, &e);
	ok(emitted(&e, at("dst/sub/deep"), 0) && e.n == 1,
	   "%s: after the rename, dst/sub/deep's events name it there", m);
	clear(&e);

	/* Moved out of the root and back in. */
	snprintf(cmd, sizeof(cmd), "%s/outside/sub", base);
	rename(at("dst/sub"), cmd);
	drain(w, &e);
	ok(emitted(&e, at("dst"), 0), "%s: moved out: dst emitted", m);
	clear(&e);
	put(strcat(cmd, "/deep/y"), "y");
	drain(w, &e);
	ok(e.n == 0, "%s: events of a directory moved out are not emitted (%zu)", m, e.n);
	snprintf(cmd, sizeof(cmd), "%s/outside/sub", base);
	rename(cmd, at("back"));
	drain(w, &e);
	ok(emitted(&e, root, 0) && covered(&e, at("back/deep")),
	   "%s: moved in: the root and the arrived tree rescanned", m);
	clear(&e);
	put(at("back/deep/z"), "z");
	drain(w, &e);
	ok(emitted(&e, at("back/deep"), 0), "%s: a directory moved in is watched", m);
	clear(&e);
	watch_free(w);
}

/* Many events in one directory: one subtree rescan of it. */
static void test_burst(enum watch_mode mode)
{
	struct emitted e = {.root = root};
	struct watch *w = start(mode, 100, 1000LL * 1000000, 0, 0);
	const char *m = mode_name(mode);
	size_t subtree = 0;

	if (!ok(w != NULL, "%s: watching for a burst", m))
		return;
	for (int i = 0; i < 300; i++) {
		char p[64];

		snprintf(p, sizeof(p), "d1/burst%d", i);
		put(at(p), "b");
	}
	drain(w, &e);
	for (size_t i = 0; i < e.n; i++)
		subtree += (e.flags[i] & WATCH_SUBTREE) != 0;
	ok(e.n == 1 && emitted(&e, at("d1"), WATCH_SUBTREE) && subtree == 1,
	   "%s: 300 files, burst 100: one subtree rescan of d1 (%zu emitted)", m, e.n);
	clear(&e);
	watch_free(w);
}

/* More events than the kernel queues (16384) before we read: the root, whole. */
static void test_overflow(enum watch_mode mode)
{
	struct emitted e = {.root = root};
	struct watch *w = start(mode, 0, 0, 0, 0);
	const char *m = mode_name(mode);
	struct watch_status st;

	if (!ok(w != NULL, "%s: watching for an overflow", m))
		return;
	for (int i = 0; i < 12000; i++) {
		char p[64];
		int fd;

		snprintf(p, sizeof(p), "d1/q%d", i);
		fd = open(at(p), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	drain(w, &e);
	watch_status(w, &st);
	ok(st.overflows >= 1 && emitted(&e, root, WATCH_SUBTREE | WATCH_OVERFLOW) && e.n == 1,
	   "%s: 24000 events unread: the root is emitted as an overflowed subtree (%" PRIu64
	   " overflows, %zu emitted)",
	   m, st.overflows, e.n);
	clear(&e);
	watch_free(w);
}

/* Too few inotify watches: partial coverage, the rest queued for rescans. */
static void test_limit(void)
{
	struct emitted e = {.root = root};
	struct watch_status st;
	struct watch *w;
	char cmd[2048];
	size_t over = 0;

	snprintf(cmd, sizeof(cmd), "cd '%s' && mkdir -p l1/a l1/b l2/a l2/b l3", root);
	run(cmd);
	/* max_user_watches 4, 1 kept for others: 3 of 9 directories watched. */
	w = start(WATCH_INOTIFY, 0, 0, 4, 1);
	if (!ok(w != NULL, "limit: watching with 3 watches"))
		return;
	watch_status(w, &st);
	ok(st.nroots == 1 && strcmp(st.roots[0].mode, "partial") == 0 && st.roots[0].watches == 3 &&
		   st.roots[0].unwatched_dirs >= 1,
	   "limit: status partial, %" PRIu64 " watches, %" PRIu64 " unwatched", st.roots[0].watches,
	   st.roots[0].unwatched_dirs);
	drain(w, &e);
	for (size_t i = 0; i < e.n; i++)
		over += e.flags[i] == (WATCH_SUBTREE | WATCH_OVERFLOW);
	ok(over == st.roots[0].unwatched_dirs && over == e.n,
	   "limit: each unwatched directory is emitted as an overflowed subtree (%zu)", over);
	clear(&e);
	put(at("f"), "x");
	drain(w, &e);
	ok(emitted(&e, root, 0), "limit: the watched part still reports");
	clear(&e);

	/* Fewer directories than watches: what was left out gets its watches. */
	snprintf(cmd, sizeof(cmd), "cd '%s' && rm -rf l1 l2", root);
	run(cmd);
	drain(w, &e);
	watch_status(w, &st);
	ok(st.roots[0].watches == 3 && st.roots[0].unwatched_dirs == 0 &&
		   strcmp(st.roots[0].mode, "inotify") == 0,
	   "limit: watches freed: root, d1 and l3 watched, none left out (%" PRIu64 ", %" PRIu64
	   ", %s)",
	   st.roots[0].watches, st.roots[0].unwatched_dirs, st.roots[0].mode);
	clear(&e);
	put(at("l3/f"), "x");
	drain(w, &e);
	ok(emitted(&e, at("l3"), 0), "limit: l3 reports once watched");
	clear(&e);
	watch_free(w);

	/* No watch at all: the root is for periodic rescans. */
	w = start(WATCH_INOTIFY, 0, 0, 2, 2);
	if (ok(w != NULL, "limit: watching with no watches")) {
		watch_status(w, &st);
		ok(strcmp(st.roots[0].mode, "periodic") == 0 && st.roots[0].watches == 0,
		   "limit: status periodic");
		drain(w, &e);
		ok(e.n == 1 && emitted(&e, root, WATCH_SUBTREE | WATCH_OVERFLOW),
		   "limit: the root is emitted for a rescan");
		clear(&e);
		watch_free(w);
	}
}

/*
 * AUTO with an overlayfs (which refuses filesystem marks) mounted inside the
 * root: fanotify for the tmpfs, inotify watches for the overlay's two
 * directories only, and changes on both emitted.
 */
static void test_auto_mixed(void)
{
	struct emitted e = {.root = root};
	struct watch_status st;
	struct watch *w;
	char cmd[2048], opts[1024], ov[1024];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/ovl/l/sub' '%s/ovl/u' '%s/ovl/w' '%s/ov'", base,
		 base, base, root);
	run(cmd);
	snprintf(opts, sizeof(opts), "lowerdir=%s/ovl/l,upperdir=%s/ovl/u,workdir=%s/ovl/w", base,
		 base, base);
	snprintf(ov, sizeof(ov), "%s/ov", root);
	if (mount("overlay", ov, "overlay", 0, opts) < 0) {
		skip("auto: cannot mount an overlayfs: %s", strerror(errno));
		return;
	}
	w = start(WATCH_AUTO, 0, 0, 0, 0);
	if (ok(w != NULL, "auto: watching a tmpfs with an overlayfs inside")) {
		watch_status(w, &st);
		ok(st.roots[0].watches == 2 && strcmp(st.roots[0].mode, "inotify") == 0,
		   "auto: inotify watches for the overlay's 2 directories only (%" PRIu64 ", %s)",
		   st.roots[0].watches, st.roots[0].mode);
		put(at("d1/f"), "x");
		put(at("ov/f"), "x");
		put(at("ov/sub/f"), "x");
		drain(w, &e);
		ok(e.n == 3 && emitted(&e, at("d1"), 0) && emitted(&e, at("ov"), 0) &&
			   emitted(&e, at("ov/sub"), 0),
		   "auto: changes on the tmpfs and on the overlay are emitted (%zu)", e.n);
		clear(&e);
		watch_free(w);
	}
	umount2(ov, MNT_DETACH);
}

static const struct watch_root_status *root_status(struct watch *w, const char *path)
{
	struct watch_status st;

	watch_status(w, &st);
	for (size_t i = 0; i < st.nroots; i++)
		if (strcmp(st.roots[i].path, path) == 0)
			return &st.roots[i];
	return NULL;
}

/*
 * Three roots side by side, the middle one removed: nothing of it is
 * emitted, the others go on (their watches counted on the right root, a
 * new directory too); then a nested root keeps the watches of the outer
 * one removed around it.
 */
static void test_remove_root(enum watch_mode mode)
{
	struct emitted e = {.root = root};
	struct watch_opts o = {.mode = mode};
	const struct watch_root_status *rs;
	const char *m = mode_name(mode);
	struct watch *w;
	bool added = true;

	for (int i = 1; i <= 3; i++) {
		char cmd[2048];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s/r%d/s' '%s/r%d/in/deep'", root, i, root,
			 i);
		run(cmd);
	}
	if (!ok(watch_new(&o, &w) == 0, "%s: remove: a watch", m))
		return;
	added &= watch_add_root(w, at("r1")) == 0;
	added &= watch_add_root(w, at("r2")) == 0;
	added &= watch_add_root(w, at("r3")) == 0;
	ok(added, "%s: remove: three roots watched", m);
	drain(w, &e);
	clear(&e);
	ok(watch_remove_root(w, at("r2")) == 0 && watch_remove_root(w, at("r2")) == -ENOENT,
	   "%s: remove: the middle root removed, once", m);
	put(at("r2/s/f"), "x");
	put(at("r1/s/f"), "x");
	put(at("r3/s/f"), "x");
	drain(w, &e);
	ok(e.n == 2 && emitted(&e, at("r1/s"), 0) && emitted(&e, at("r3/s"), 0),
	   "%s: remove: only the roots left are emitted (%zu)", m, e.n);
	clear(&e);
	mkdir(at("r3/new"), 0755);
	drain(w, &e);
	put(at("r3/new/f"), "x");
	drain(w, &e);
	ok(emitted(&e, at("r3/new"), 0), "%s: remove: a new directory of the last root is watched",
	   m);
	rs = root_status(w, at("r3"));
	if (mode == WATCH_INOTIFY)
		ok(rs && rs->watches == 5 && root_status(w, at("r1"))->watches == 4,
		   "%s: remove: watches counted on their own roots (%" PRIu64 ")", m,
		   rs ? rs->watches : 0);
	clear(&e);

	ok(watch_add_root(w, at("r3/in")) == 0 && watch_remove_root(w, at("r3")) == 0,
	   "%s: remove: the outer of two nested roots removed", m);
	put(at("r3/s/g"), "x");
	put(at("r3/in/deep/g"), "x");
	drain(w, &e);
	ok(e.n == 1 && emitted(&e, at("r3/in/deep"), 0),
	   "%s: remove: the inner root is still watched, the rest not (%zu)", m, e.n);
	rs = root_status(w, at("r3/in"));
	if (mode == WATCH_INOTIFY)
		ok(rs && rs->watches == 2 && strcmp(rs->mode, "inotify") == 0,
		   "%s: remove: the inner root holds the watches handed over (%" PRIu64 ")", m,
		   rs ? rs->watches : 0);
	clear(&e);
	watch_free(w);
}

static bool fanotify_works(void)
{
	int fd = fanotify_init(FAN_CLOEXEC | FAN_REPORT_DFID_NAME | FAN_REPORT_FID, O_RDONLY);
	bool ok_ = false;

	if (fd >= 0) {
		ok_ = fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CREATE, AT_FDCWD,
				    base) == 0;
		close(fd);
	}
	return ok_;
}

static void cleanup(void)
{
	char cmd[1024];

	if (mounted)
		umount2(base, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	run(cmd);
}

int main(void)
{
	enum watch_mode modes[] = {WATCH_FANOTIFY, WATCH_INOTIFY};
	const char *tmp = getenv("TMPDIR");

	snprintf(base, sizeof(base), "%s/test-watch.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		skip_all("cannot make a directory in /tmp");
	mounted = mount("none", base, "tmpfs", 0, "size=64m") == 0;
	{
		char real[PATH_MAX];

		if (!realpath(base, real) || strlen(real) >= sizeof(base)) {
			cleanup();
			skip_all("realpath");
		}
		memcpy(base, real, strlen(real) + 1);
	}
	snprintf(root, sizeof(root), "%s/root", base);
	if (getenv("WATCH_TEST_VERBOSE"))
		log_set_max_level(LOG_DEBUG);
	plan_lazy();
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		if (modes[i] == WATCH_FANOTIFY && !fanotify_works()) {
			skip("fanotify filesystem marks refused here");
			continue;
		}
		make_fresh_root();
		test_files(modes[i], mode_name(modes[i]));
		make_fresh_root();
		test_new_tree(modes[i]);
		make_fresh_root();
		test_renames(modes[i]);
		make_fresh_root();
		test_burst(modes[i]);
		make_fresh_root();
		test_overflow(modes[i]);
		make_fresh_root();
		test_remove_root(modes[i]);
	}
	make_fresh_root();
	test_limit();
	/* AUTO takes fanotify where it can, inotify elsewhere (unprivileged: everywhere). */
	make_fresh_root();
	test_files(WATCH_AUTO, fanotify_works() ? "fanotify" : "inotify");
	make_fresh_root();
	if (fanotify_works())
		test_auto_mixed();
	else
		skip("auto: no fanotify to mix with inotify");
	cleanup();
	return done_testing();
}
