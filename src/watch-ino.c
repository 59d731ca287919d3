/* SPDX-License-Identifier: MIT */
/*
 * watch-ino.c - the inotify backend: a watch on every directory, and a table
 * from watch descriptor to the directory's path.
 *
 * The table is open addressing keyed by wd (backward-shift deletion, so no
 * tombstones), each entry owning its path.  A directory rename within the
 * watched trees comes as IN_MOVED_FROM and IN_MOVED_TO with one cookie: the
 * paths of the directory and of everything below it are rewritten.  Such a
 * pair, of a file or a directory, is noted as a rename (watch_note_rename()).
 * A MOVED_FROM left without its MOVED_TO once the queue is drained went out
 * of sight: its directory is noted, and a directory's watches are removed.
 * A MOVED_TO without its MOVED_FROM, and a new directory, are walked for
 * watches and queued for a subtree rescan,
 * since they may have been filled before their watches existed (the rescan
 * comes a settle window after the watches, so it sees all of it).
 *
 * Watches are one budget shared by every program of the user
 * (fs.inotify.max_user_watches): we take at most that minus a reserve.  A
 * directory that gets no watch (budget spent, ENOSPC, EACCES) is counted on
 * its root and queued for a subtree rescan with WATCH_OVERFLOW; its subtree
 * is not walked.  Watching goes on everywhere else, and the subtrees left
 * for want of watches are walked again when watches free up (IN_IGNORED).
 *
 * Paths are opened whole (open(2)), so a directory deeper than PATH_MAX is
 * one left unwatched; the watch itself is placed through /proc/self/fd/N,
 * on the directory just opened, not on a path that may have changed since.
 */
#include "util.h"
#include "watch-priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define INO_MASK                                                                                   \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE |        \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* When max_user_watches cannot be read: the kernel's floor. */
#define INO_DEFAULT_LIMIT 8192

struct ino_dir {
	int wd; /* 0: empty slot */
	size_t root;
	char *path;
	size_t len;
};

struct ino_move {
	uint32_t cookie;
	size_t root;
	char *path;	 /* the entry's old path: its directory, '/', its name */
	size_t len;
	size_t dir_len;	 /* of its directory */
	size_t name_off; /* where its name starts */
	bool is_dir;
};

/* The top of a subtree left unwatched for want of watches: retried as they free up. */
struct ino_gap {
	size_t root;
	char *path;
};

struct watch_ino {
	int fd;
	struct ino_dir *t; /* tcap slots, a power of two, at most half full */
	size_t tcap, n;
	uint64_t budget;
	struct ino_move *moves; /* MOVED_FROM of directories waiting for their MOVED_TO */
	size_t nmoves, moves_cap;
	struct ino_gap *gaps;
	size_t ngaps, gaps_cap;
	dev_t *skip; /* devices never walked: under fanotify, or pseudo filesystems */
	size_t nskip, skip_cap;
	char buf[64 * 1024] __attribute__((aligned(8)));
};

static size_t wd_home(const struct watch_ino *in, int wd)
{
	return ((uint32_t)wd * 2654435761u) & (in->tcap - 1);
}

static struct ino_dir *tab_find(struct watch_ino *in, int wd)
{
	if (!in->tcap || wd <= 0)
		return NULL;
	for (size_t i = wd_home(in, wd);; i = (i + 1) & (in->tcap - 1)) {
		if (in->t[i].wd == wd)
			return &in->t[i];
		if (!in->t[i].wd)
			return NULL;
	}
}

static void tab_place(struct watch_ino *in, struct ino_dir d)
{
	size_t i = wd_home(in, d.wd);

	while (in->t[i].wd)
		i = (i + 1) & (in->tcap - 1);
	in->t[i] = d;
}

static int tab_insert(struct watch_ino *in, struct ino_dir d)
{
	if ((in->n + 1) * 2 > in->tcap) {
		struct ino_dir *old = in->t;
		size_t oldcap = in->tcap, cap = oldcap ? oldcap * 2 : 64;

		in->t = calloc(cap, sizeof(*in->t));
		if (!in->t) {
			in->t = old;
			return -ENOMEM;
		}
		in->tcap = cap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].wd)
				tab_place(in, old[i]);
		free(old);
	}
	tab_place(in, d);
	in->n++;
	return 0;
}

/* Remove @d (freeing its path), shifting back the entries its slot displaced. */
static void tab_remove(struct watch_ino *in, struct ino_dir *d)
{
	size_t mask = in->tcap - 1, i = (size_t)(d - in->t), j = i;

	free(d->path);
	in->t[i].wd = 0;
	in->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!in->t[j].wd)
			return;
		home = wd_home(in, in->t[j].wd);
		/* Move t[j] back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		in->t[i] = in->t[j];
		in->t[j].wd = 0;
		i = j;
	}
}

static unsigned read_max_watches(void)
{
	unsigned v = INO_DEFAULT_LIMIT;
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "re");

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = INO_DEFAULT_LIMIT;
		fclose(f);
	}
	return v;
}

int ino_new(struct watch *w, struct watch_ino **ret)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WATCH_TAG_INO};
	struct watch_ino *in;
	unsigned limit, reserve;
	int r;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in->fd < 0) {
		r = -errno;
		free(in);
		return r;
	}
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, in->fd, &ev) < 0) {
		r = -errno;
		ino_free(in);
		return r;
	}
	limit = w->o.inotify_limit ? w->o.inotify_limit : read_max_watches();
	reserve = w->o.inotify_reserve;
	if (!reserve) {
		reserve = limit / 10 > 1000 ? limit / 10 : 1000;
		if (reserve > limit / 2)
			reserve = limit / 2;
	}
	in->budget = limit > reserve ? limit - reserve : 0;
	*ret = in;
	return 0;
}

/*
 * Directory @path of root @root gets no watch: count it, rescan it whole;
 * @gap: for want of watches, so try again when some free up.
 */
static int unwatched(struct watch *w, struct watch_ino *in, size_t root, const char *path, bool gap)
{
	struct watch_root *rt = &w->roots[root];

	if (gap) {
		if (GROW(in->gaps, in->gaps_cap, in->ngaps + 1) < 0)
			return -ENOMEM;
		in->gaps[in->ngaps].path = strdup(path);
		if (!in->gaps[in->ngaps].path)
			return -ENOMEM;
		in->gaps[in->ngaps++].root = root;
	}
	rt->unwatched++;
	if (strcmp(path, rt->path) == 0)
		rt->unwatchable = true;
	return watch_note(w, path, strlen(path), WATCH_SUBTREE | WATCH_OVERFLOW, false);
}

/* Watch open directory @fd at @path: 1 when placed (or moved), 0 to skip its subtree. */
static int watch_one(struct watch *w, struct watch_ino *in, size_t root, int fd, char *path)
{
	struct ino_dir *d;
	char proc[32];
	int wd;

	if (in->n >= in->budget)
		return unwatched(w, in, root, path, true) < 0 ? -ENOMEM : 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(in->fd, proc, INO_MASK);
	if (wd < 0)
		return unwatched(w, in, root, path, errno == ENOSPC) < 0 ? -ENOMEM : 0;
	d = tab_find(in, wd);
	if (d) {
		size_t len = strlen(path);

		/* Seen before: the same directory twice, or below itself (a bind mount). */
		if (d->len <= len && memcmp(d->path, path, d->len) == 0 &&
		    (len == d->len || path[d->len] == '/'))
			return 0;
		/* It moved here unseen: the new path is the live one. */
		char *np = strdup(path);

		if (!np)
			return -ENOMEM;
		free(d->path);
		d->path = np;
		d->len = len;
		return 1;
	}
	d = &(struct ino_dir){.wd = wd, .root = root, .path = strdup(path), .len = strlen(path)};
	if (!d->path || tab_insert(in, *d) < 0) {
		free(d->path);
		inotify_rm_watch(in->fd, wd);
		return -ENOMEM;
	}
	w->roots[root].watches++;
	return 1;
}

static bool skipped(dev_t dev, const dev_t *skip, size_t nskip)
{
	for (size_t i = 0; i < nskip; i++)
		if (skip[i] == dev)
			return true;
	return false;
}

/* Push the subdirectories of @fd (at @path; takes @fd) onto the walk's stack. */
static int push_children(int fd, const char *path, char ***stack, size_t *n, size_t *cap)
{
	DIR *dir = fdopendir(fd);
	struct dirent *e;
	int r = 0;

	if (!dir) {
		close(fd);
		return 0;
	}
	while (r == 0 && (e = readdir(dir))) {
		struct stat st;
		char *child;

		if (e->d_name[0] == '.' &&
		    (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (e->d_type != DT_DIR &&
		    (e->d_type != DT_UNKNOWN ||
		     fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		     !S_ISDIR(st.st_mode)))
			continue;
		if (asprintf(&child, "%s%s%s", path, strcmp(path, "/") ? "/" : "", e->d_name) < 0)
			r = -ENOMEM;
		else if (GROW(*stack, *cap, *n + 1) < 0) {
			free(child);
			r = -ENOMEM;
		} else {
			(*stack)[(*n)++] = child;
		}
	}
	closedir(dir);
	return r;
}

int ino_add_tree(struct watch *w, struct watch_ino *in, size_t root, const char *path,
		 const dev_t *skip, size_t nskip)
{
	char **stack = NULL;
	size_t n = 0, cap = 0;
	int r;

	for (size_t i = 0; i < nskip; i++) {
		if (skipped(skip[i], in->skip, in->nskip))
			continue;
		if (GROW(in->skip, in->skip_cap, in->nskip + 1) < 0)
			return -ENOMEM;
		in->skip[in->nskip++] = skip[i];
	}
	r = GROW(stack, cap, 1);
	if (r < 0 || !(stack[0] = strdup(path))) {
		free(stack);
		return -ENOMEM;
	}
	n = 1;
	while (n && r >= 0) {
		char *p = stack[--n];
		struct stat st;
		int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0) {
			if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
				r = unwatched(w, in, root, p, false);
		} else if (fstat(fd, &st) < 0 || skipped(st.st_dev, in->skip, in->nskip)) {
			close(fd);
		} else {
			r = watch_one(w, in, root, fd, p);
			if (r > 0)
				r = push_children(fd, p, &stack, &n, &cap);
			else
				close(fd);
		}
		free(p);
	}
	while (n)
		free(stack[--n]);
	free(stack);
	return r < 0 ? r : 0;
}

static bool pick_ino(const struct watch_root *r)
{
	return r->watches > 0;
}

/* Rewrite the paths at and below @old (@olen bytes) to lie at and below @nw. */
static int rename_paths(struct watch_ino *in, const char *old, size_t olen, const char *nw,
			size_t nlen)
{
	for (size_t i = 0; i < in->tcap; i++) {
		struct ino_dir *d = &in->t[i];
		char *p;

		if (!d->wd || d->len < olen || memcmp(d->path, old, olen) != 0 ||
		    (d->len > olen && d->path[olen] != '/'))
			continue;
		p = malloc(nlen + d->len - olen + 1);
		if (!p)
			return -ENOMEM;
		memcpy(p, nw, nlen);
		memcpy(p + nlen, d->path + olen, d->len - olen + 1);
		free(d->path);
		d->path = p;
		d->len = nlen + d->len - olen;
	}
	return 0;
}

/* Drop the watches at and below @path: it went out of sight. */
static int forget_paths(struct watch *w, struct watch_ino *in, const char *path, size_t len)
{
	int *wds = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < in->tcap; i++) {
		struct ino_dir *d = &in->t[i];

		if (!d->wd || d->len < len || memcmp(d->path, path, len) != 0 ||
		    (d->len > len && d->path[len] != '/'))
			continue;
		if (GROW(wds, cap, n + 1) < 0) {
			free(wds);
			return -ENOMEM;
		}
		wds[n++] = d->wd;
	}
	for (size_t i = 0; i < n; i++) {
		struct ino_dir *d = tab_find(in, wds[i]);

		inotify_rm_watch(in->fd, wds[i]); /* its IN_IGNORED finds no entry */
		if (d->root < w->nroots && w->roots[d->root].watches)
			w->roots[d->root].watches--;
		tab_remove(in, d);
	}
	free(wds);
	return 0;
}

/* A directory appeared at @child: watch it and below, rescan it whole. */
static int new_dir(struct watch *w, struct watch_ino *in, size_t root, const char *child)
{
	int r = ino_add_tree(w, in, root, child, NULL, 0);

	if (r < 0)
		return r;
	return watch_note(w, child, strlen(child), WATCH_SUBTREE, false);
}

/*
 * An entry arrived at @child (in directory @dir, @dlen bytes, of root @root)
 * by a rename of cookie @cookie: with its MOVED_FROM, a rename (a moved
 * directory's watch paths follow it); without, something new here.
 */
static int moved_to(struct watch *w, struct watch_ino *in, size_t root, uint32_t cookie,
		    const char *dir, size_t dlen, const char *child, bool is_dir)
{
	for (size_t i = 0; i < in->nmoves; i++) {
		struct ino_move m = in->moves[i];
		int r = 0;

		if (m.cookie != cookie)
			continue;
		in->moves[i] = in->moves[--in->nmoves];
		if (is_dir)
			r = rename_paths(in, m.path, m.len, child, strlen(child));
		if (r == 0)
			r = watch_note_rename(w, m.path, m.dir_len, m.path + m.name_off, dir, dlen,
					      child + (dlen > 1 ? dlen + 1 : 1), is_dir);
		free(m.path);
		return r;
	}
	if (is_dir)
		return new_dir(w, in, root, child);
	return 0;
}

/* A subdirectory event of @d: new. */
static int on_subdir(struct watch *w, struct watch_ino *in, const struct inotify_event *ev,
		     size_t root, char *child)
{
	if (ev->mask & IN_CREATE)
		return new_dir(w, in, root, child);
	return 0;
}

/*
 * IN_MOVED_FROM or IN_MOVED_TO of @ev->name in @d: a MOVED_FROM waits for
 * its MOVED_TO (ino_read() notes it as any event if none comes); a
 * MOVED_TO without one is noted as any event.
 */
static int on_move(struct watch *w, struct watch_ino *in, const struct inotify_event *ev,
		   struct ino_dir *d)
{
	bool is_dir = ev->mask & IN_ISDIR;
	size_t root = d->root, dlen = d->len;
	struct ino_move *m;
	char *child;
	int r;

	if (asprintf(&child, "%s%s%s", d->path, strcmp(d->path, "/") ? "/" : "", ev->name) < 0)
		return -ENOMEM;
	if (ev->mask & IN_MOVED_TO) {
		bool paired = false;

		for (size_t i = 0; i < in->nmoves; i++)
			paired |= in->moves[i].cookie == ev->cookie;
		r = paired ? 0 : watch_note(w, d->path, d->len, 0, true);
		/* d may move from here on: the table can grow. */
		if (r == 0)
			r = moved_to(w, in, root, ev->cookie, child, dlen, child, is_dir);
		free(child);
		return r;
	}
	if (GROW(in->moves, in->moves_cap, in->nmoves + 1) < 0) {
		free(child);
		return -ENOMEM;
	}
	m = &in->moves[in->nmoves++];
	*m = (struct ino_move){.cookie = ev->cookie,
			       .root = root,
			       .path = child,
			       .len = strlen(child),
			       .dir_len = dlen,
			       .name_off = dlen > 1 ? dlen + 1 : 1,
			       .is_dir = is_dir};
	return 0;
}

static int on_event(struct watch *w, struct watch_ino *in, const struct inotify_event *ev)
{
	bool counts = (ev->mask & ~(uint32_t)(IN_MODIFY | IN_ISDIR)) != 0;
	struct ino_dir *d;
	char *child;
	size_t root;
	int r;

	w->events++;
	if (ev->mask & IN_Q_OVERFLOW) {
		w->overflows++;
		watch_note_roots(w, pick_ino);
		return 0;
	}
	d = tab_find(in, ev->wd);
	if (!d)
		return 0; /* a watch we dropped, still reporting */
	if (ev->mask & IN_IGNORED) {
		if (d->root < w->nroots && w->roots[d->root].watches)
			w->roots[d->root].watches--;
		tab_remove(in, d);
		return 0;
	}
	if (ev->mask & IN_UNMOUNT)
		return watch_note(w, d->path, d->len, WATCH_SUBTREE | WATCH_OVERFLOW, false);
	if (!ev->len) /* on the directory itself: its parent tells of deletes and moves */
		return ev->mask & IN_ATTRIB ? watch_note(w, d->path, d->len, 0, counts) : 0;
	if (ev->mask & (IN_MOVED_FROM | IN_MOVED_TO))
		return on_move(w, in, ev, d);
	r = watch_note(w, d->path, d->len, 0, counts);
	if (r < 0 || !(ev->mask & IN_ISDIR))
		return r;
	root = d->root;
	if (asprintf(&child, "%s%s%s", d->path, strcmp(d->path, "/") ? "/" : "", ev->name) < 0)
		return -ENOMEM;
	/* d may move from here on: the table can grow. */
	r = on_subdir(w, in, ev, root, child);
	free(child);
	return r;
}

/*
 * Watches freed up: walk the gaps again, as far as they go.  What had no
 * watch may have changed unseen, so each gap still there is rescanned whole
 * (once more if it fails again).
 */
static int retry_gaps(struct watch *w, struct watch_ino *in)
{
	struct ino_gap *g = in->gaps;
	size_t n = in->ngaps, i;
	int r = 0;

	in->gaps = NULL;
	in->ngaps = in->gaps_cap = 0;
	for (i = 0; i < n && r >= 0 && in->n < in->budget; i++) {
		struct stat st;

		if (g[i].root >= w->nroots)
			continue; /* a root that failed to be added */
		if (w->roots[g[i].root].unwatched)
			w->roots[g[i].root].unwatched--;
		if (lstat(g[i].path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue; /* gone: its parent's events tell */
		r = ino_add_tree(w, in, g[i].root, g[i].path, NULL, 0);
		if (r >= 0)
			r = watch_note(w, g[i].path, strlen(g[i].path),
				       WATCH_SUBTREE | WATCH_OVERFLOW, false);
	}
	for (size_t j = 0; j < i; j++)
		free(g[j].path);
	/* The rest stay gaps: no watches left for them, or out of memory. */
	for (; i < n; i++) {
		if (GROW(in->gaps, in->gaps_cap, in->ngaps + 1) < 0) {
			free(g[i].path);
			r = -ENOMEM;
			continue;
		}
		in->gaps[in->ngaps++] = g[i];
	}
	free(g);
	return r;
}

int ino_read(struct watch *w, struct watch_ino *in)
{
	int r = 0;

	for (;;) {
		ssize_t n = read(in->fd, in->buf, sizeof(in->buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n <= 0)
			break;
		for (char *p = in->buf; p < in->buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;

			if (on_event(w, in, ev) < 0)
				r = -ENOMEM;
			p += sizeof(*ev) + ev->len;
		}
	}
	/* The queue is drained: a MOVED_FROM still unpaired went out of sight. */
	while (in->nmoves) {
		struct ino_move *m = &in->moves[--in->nmoves];

		if (watch_note(w, m->path, m->dir_len, 0, true) < 0 ||
		    (m->is_dir && forget_paths(w, in, m->path, m->len) < 0))
			r = -ENOMEM;
		free(m->path);
	}
	if (in->ngaps && in->n < in->budget && retry_gaps(w, in) < 0)
		r = -ENOMEM;
	return r;
}

/* Root @root's index once root @gone is taken out: the roots after it move down one. */
static size_t renumber(size_t root, size_t gone)
{
	return root > gone ? root - 1 : root;
}

void ino_drop_root(struct watch *w, struct watch_ino *in, size_t root)
{
	size_t kept = 0;
	bool again;

	/* Renumber or hand over first, remove after: a removal shifts entries back. */
	for (size_t i = 0; i < in->tcap; i++) {
		struct ino_dir *d = &in->t[i];
		ssize_t other;

		if (!d->wd)
			continue;
		if (d->root != root) {
			d->root = renumber(d->root, root);
			continue;
		}
		other = watch_root_of(w, d->path, d->len);
		if (other >= 0) {
			/* A directory of a nested root, or of one holding it: theirs now. */
			d->root = (size_t)other;
			w->roots[other].watches++;
		} else {
			d->root = SIZE_MAX;
		}
	}
	do {
		again = false;
		for (size_t i = 0; i < in->tcap; i++) {
			if (!in->t[i].wd || in->t[i].root != SIZE_MAX)
				continue;
			inotify_rm_watch(in->fd, in->t[i].wd); /* its IN_IGNORED finds no entry */
			tab_remove(in, &in->t[i]);
			again = true;
		}
	} while (again);
	for (size_t i = 0; i < in->ngaps; i++) {
		if (in->gaps[i].root == root) {
			free(in->gaps[i].path);
			continue;
		}
		in->gaps[kept] = in->gaps[i];
		in->gaps[kept++].root = renumber(in->gaps[i].root, root);
	}
	in->ngaps = kept;
	for (size_t i = 0; i < in->nmoves; i++)
		in->moves[i].root = renumber(in->moves[i].root, root);
}

void ino_free(struct watch_ino *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->tcap; i++)
		if (in->t[i].wd)
			free(in->t[i].path);
	free(in->t);
	for (size_t i = 0; i < in->nmoves; i++)
		free(in->moves[i].path);
	free(in->moves);
	for (size_t i = 0; i < in->ngaps; i++)
		free(in->gaps[i].path);
	free(in->gaps);
	free(in->skip);
	if (in->fd >= 0)
		close(in->fd);
	free(in);
}
