/* SPDX-License-Identifier: MIT */
/*
 * watch.c - the event source's API, its roots and the coalescer.
 *
 *   fanotify group ─┐                       ┌─ pend[]: dir, flags, count, deadline
 *   (watch-fan.c)   ├─ watch_note(dir) ───► │  in first-noted order, hashed by path
 *   inotify fd ─────┘                       └─ watch_process(): emit the due prefix
 *   (watch-ino.c)
 *
 * Coalescing.  Every event names a directory; the first event of a
 * directory starts its settle window (opts.settle_ns), later ones merge into
 * it (their masks are not kept: the daemon re-stats), and the directory is
 * emitted when the window ends.  The window does not slide, so a directory
 * written to without pause is still rescanned every window.  Since every
 * entry's deadline is its first event's time plus the same window, the array
 * is sorted by deadline and what is due is a prefix.
 *
 * A directory that gets more than opts.burst events within its window turns
 * into a subtree rescan; so does a new directory (its contents may predate
 * any watch), and an overflowing queue makes every affected root one.  A
 * pending subtree covers the pending directories below it: those are
 * dropped when they come due, and new events below it are not queued.
 *
 * Renames (watch.h) wait in ren[], in the order they happened, each due no
 * later than its two directories (which it notes without marking them
 * "other": a directory only renames touched is not emitted).  What is due
 * of ren[] is emitted before pend[]'s prefix, and with every rename before
 * it, so the caller applies them in order and before the rescans.
 *
 * Memory: the kernel queues are bounded (no FAN_UNLIMITED_QUEUE; an
 * overflow costs a rescan of the roots, not the daemon's memory), and at
 * most WATCH_MAX_PENDING directories wait here, beyond which a directory's
 * whole root is queued instead.
 */
#include "watch.h"

#include "fskind.h"
#include "mountinfo.h"
#include "util.h"
#include "watch-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define WATCH_DEFAULT_SETTLE_NS (50 * 1000 * 1000)
#define WATCH_DEFAULT_BURST 1000

static uint64_t hash_path(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	while (len--)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

/* The pending entry for @path, or NULL. */
static struct watch_pend *pend_find(const struct watch *w, const char *path, size_t len)
{
	size_t mask = w->nslots - 1, i;

	if (!w->nslots)
		return NULL;
	for (i = hash_path(path, len) & mask; w->slots[i]; i = (i + 1) & mask) {
		struct watch_pend *p = &w->pend[w->slots[i] - 1];

		if (p->len == len && memcmp(p->path, path, len) == 0)
			return p;
	}
	return NULL;
}

static void slot_put(struct watch *w, size_t idx)
{
	size_t mask = w->nslots - 1, i;

	i = hash_path(w->pend[idx].path, w->pend[idx].len) & mask;
	while (w->slots[i])
		i = (i + 1) & mask;
	w->slots[i] = (uint32_t)idx + 1;
}

/* Rebuild the hash for pend[0..npend), with room for at least @want entries. */
static int slots_rebuild(struct watch *w, size_t want)
{
	size_t n = w->nslots ? w->nslots : 64;

	while (n < want * 2)
		n *= 2;
	if (n != w->nslots) {
		uint32_t *s = calloc(n, sizeof(*s));

		if (!s)
			return -ENOMEM;
		free(w->slots);
		w->slots = s;
		w->nslots = n;
	} else {
		memset(w->slots, 0, n * sizeof(*w->slots));
	}
	for (size_t i = 0; i < w->npend; i++)
		slot_put(w, i);
	return 0;
}

ssize_t watch_root_of(const struct watch *w, const char *path, size_t len)
{
	ssize_t best = -1;

	for (size_t i = 0; i < w->nroots; i++) {
		const struct watch_root *r = &w->roots[i];

		if (len < r->len || memcmp(path, r->path, r->len) != 0)
			continue;
		if (len > r->len && r->len > 1 && path[r->len] != '/')
			continue;
		if (best < 0 || r->len > w->roots[best].len)
			best = (ssize_t)i;
	}
	return best;
}

/* Is a strict ancestor of @path, no higher than @top bytes, pending as a subtree? */
static bool covered(const struct watch *w, const char *path, size_t len, size_t top)
{
	while (len > top) {
		const struct watch_pend *p;

		while (len > top && path[len - 1] != '/')
			len--;
		if (len > top && len > 1)
			len--; /* drop the slash, but keep "/" itself */
		if (len < top)
			break;
		p = pend_find(w, path, len);
		if (p && (p->flags & WATCH_SUBTREE))
			return true;
		if (len == top)
			break;
	}
	return false;
}

static int pend_add(struct watch *w, const char *dir, size_t len, unsigned flags)
{
	struct watch_pend *p;
	char *copy;

	if (GROW(w->pend, w->pend_cap, w->npend + 1) < 0)
		return -ENOMEM;
	if (w->nslots < (w->npend + 1) * 2 && slots_rebuild(w, w->npend + 1) < 0)
		return -ENOMEM;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, dir, len);
	copy[len] = '\0';
	p = &w->pend[w->npend];
	*p = (struct watch_pend){
		.path = copy, .len = len, .flags = flags, .deadline = w->now + w->o.settle_ns};
	slot_put(w, w->npend++);
	return 0;
}

/* Note @dir; @other: an event that is not a rename queued as such. */
static int note(struct watch *w, const char *dir, size_t len, unsigned flags, bool counts,
		bool other)
{
	struct watch_pend *p;
	ssize_t root;
	int r;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	root = watch_root_of(w, dir, len);
	if (root < 0)
		return 0;
	if (covered(w, dir, len, w->roots[root].len))
		return 0;
	p = pend_find(w, dir, len);
	if (!p) {
		if (w->npend >= WATCH_MAX_PENDING && len != w->roots[root].len) {
			const struct watch_root *rt = &w->roots[root];

			return watch_note(w, rt->path, rt->len, WATCH_SUBTREE | WATCH_OVERFLOW,
					  false);
		}
		r = pend_add(w, dir, len, flags);
		if (r < 0)
			return r;
		p = &w->pend[w->npend - 1];
	}
	p->flags |= flags;
	p->other |= other;
	if (counts && ++p->count > w->o.burst)
		p->flags |= WATCH_SUBTREE;
	return 0;
}

int watch_note(struct watch *w, const char *dir, size_t len, unsigned flags, bool counts)
{
	return note(w, dir, len, flags, counts, true);
}

/* At most this many renames wait: past it, a rename is noted as its two directories. */
#define WATCH_MAX_RENAMES 4096
/* Pending directories below a renamed one are moved along only while fewer wait. */
#define WATCH_MAX_REWRITE 4096

/* "@dir/@name" into a new string, its length in *ret_len; NULL when out of memory. */
static char *join(const char *dir, size_t len, const char *name, size_t *ret_len)
{
	size_t nl = strlen(name), sep = len > 1 || dir[0] != '/';
	char *p = malloc(len + sep + nl + 1);

	if (!p)
		return NULL;
	memcpy(p, dir, len);
	if (sep)
		p[len] = '/';
	memcpy(p + len + sep, name, nl + 1);
	*ret_len = len + sep + nl;
	return p;
}

/* Is @path (@len bytes) @top or below it? */
static bool at_or_below(const char *path, size_t len, const char *top, size_t tlen)
{
	return len >= tlen && memcmp(path, top, tlen) == 0 &&
	       (len == tlen || path[tlen] == '/' || tlen == 1);
}

/*
 * Directory @from was renamed to @to: pending directories at and below it
 * are rescanned at their new paths (an event read before the rename named
 * the old one), after the rename: *@deadline is lowered to theirs.  Skipped
 * when too many wait: then as before renames existed.
 */
static int move_pending(struct watch *w, const char *from, size_t flen, const char *to,
			size_t tlen, int64_t *deadline)
{
	bool moved = false;

	if (w->npend > WATCH_MAX_REWRITE)
		return 0;
	for (size_t i = 0; i < w->npend; i++) {
		struct watch_pend *p = &w->pend[i];
		char *np;

		if (!at_or_below(p->path, p->len, from, flen))
			continue;
		np = malloc(tlen + p->len - flen + 1);
		if (!np)
			return -ENOMEM;
		memcpy(np, to, tlen);
		memcpy(np + tlen, p->path + flen, p->len - flen + 1);
		free(p->path);
		p->path = np;
		p->len = tlen + p->len - flen;
		moved = true;
		if (p->deadline < *deadline)
			*deadline = p->deadline;
	}
	/* Rebuilding at the same size cannot fail. */
	return moved ? slots_rebuild(w, 0) : 0;
}

/* The deadline of a rename between directories @a and @b, just noted. */
static int64_t ren_deadline(const struct watch *w, const char *a, size_t alen, const char *b,
			    size_t blen)
{
	const struct watch_pend *pa = pend_find(w, a, alen), *pb = pend_find(w, b, blen);
	int64_t t = w->now + w->o.settle_ns;

	if (pa && pa->deadline < t)
		t = pa->deadline;
	if (pb && pb->deadline < t)
		t = pb->deadline;
	return t;
}

/* Merged chains keep at most this many names passed through. */
#define WATCH_MAX_VIA 8

/*
 * Queue the rename @from -> @to (taken over: "from\0to\0\0", @size bytes).
 * "mv a b; mv b c" is one rename, a to c, where a's was (it happened first),
 * passing through b: the caller checks that b held nothing before (else a
 * name was overwritten, or b was swapped, not moved on).
 */
static int ren_add(struct watch *w, char *from, size_t flen, size_t tlen, int64_t deadline)
{
	const char *to = from + flen + 1;

	for (size_t i = w->nren; i-- > 0;) {
		struct watch_ren *r = &w->ren[i];
		size_t rest, size;
		char *m, *p;

		if (r->to_len != flen || memcmp(r->from + r->from_len + 1, from, flen) != 0)
			continue;
		if (r->nvia >= WATCH_MAX_VIA)
			break;
		/* from, the new to, the old vias, the old to (= this from), the end. */
		rest = r->size - (r->from_len + 1) - (r->to_len + 1);
		size = r->from_len + 1 + tlen + 1 + rest + flen + 1;
		m = malloc(size);
		if (!m) {
			free(from);
			return -ENOMEM;
		}
		p = mempcpy(m, r->from, r->from_len + 1);
		p = mempcpy(p, to, tlen + 1);
		p = mempcpy(p, r->from + r->from_len + 1 + r->to_len + 1, rest - 1);
		p = mempcpy(p, from, flen + 1);
		*p = '\0';
		free(r->from);
		free(from);
		r->from = m;
		r->to_len = tlen;
		r->size = size;
		r->nvia++;
		if (deadline < r->deadline)
			r->deadline = deadline;
		return 0;
	}
	if (GROW(w->ren, w->ren_cap, w->nren + 1) < 0) {
		free(from);
		return -ENOMEM;
	}
	w->ren[w->nren++] = (struct watch_ren){.from = from,
					       .from_len = flen,
					       .to_len = tlen,
					       .size = flen + tlen + 3,
					       .deadline = deadline};
	return 0;
}

/* A rename that is not emitted as one: its directories, as any event would. */
static int rename_as_rescans(struct watch *w, const char *odir, size_t olen, const char *ndir,
			     size_t nlen, const char *nname, bool moved_in)
{
	char *child;
	size_t clen;
	int r = watch_note(w, odir, olen, 0, true);

	if (r == 0)
		r = watch_note(w, ndir, nlen, 0, true);
	if (r < 0 || !moved_in)
		return r;
	child = join(ndir, nlen, nname, &clen);
	if (!child)
		return -ENOMEM;
	r = watch_note(w, child, clen, WATCH_SUBTREE, false);
	free(child);
	return r;
}

int watch_note_rename(struct watch *w, const char *odir, size_t olen, const char *oname,
		      const char *ndir, size_t nlen, const char *nname, bool is_dir)
{
	ssize_t ro, rn;
	size_t flen, tlen;
	char *from, *to, *both;
	int64_t deadline;
	int r;

	while (olen > 1 && odir[olen - 1] == '/')
		olen--;
	while (nlen > 1 && ndir[nlen - 1] == '/')
		nlen--;
	ro = watch_root_of(w, odir, olen);
	rn = watch_root_of(w, ndir, nlen);
	if (ro < 0 || rn != ro || w->nren >= WATCH_MAX_RENAMES)
		return rename_as_rescans(w, odir, olen, ndir, nlen, nname, is_dir && ro != rn);
	from = join(odir, olen, oname, &flen);
	to = join(ndir, nlen, nname, &tlen);
	both = from && to ? malloc(flen + tlen + 3) : NULL;
	if (!both) {
		free(from);
		free(to);
		return -ENOMEM;
	}
	memcpy(both, from, flen + 1);
	memcpy(both + flen + 1, to, tlen + 1);
	both[flen + tlen + 2] = '\0';
	free(from);
	free(to);
	r = note(w, odir, olen, 0, true, false);
	if (r == 0)
		r = note(w, ndir, nlen, 0, true, false);
	deadline = ren_deadline(w, odir, olen, ndir, nlen);
	if (r == 0 && is_dir)
		r = move_pending(w, both, flen, both + flen + 1, tlen, &deadline);
	if (r == 0)
		r = ren_add(w, both, flen, tlen, deadline); /* takes both */
	else
		free(both);
	if (r < 0) {
		/* Not queued as a rename: its directories are rescanned after all. */
		watch_note(w, odir, olen, 0, false);
		watch_note(w, ndir, nlen, 0, false);
	}
	return r;
}

void watch_note_roots(struct watch *w, bool (*pick)(const struct watch_root *r))
{
	for (size_t i = 0; i < w->nroots; i++)
		if (pick(&w->roots[i]))
			watch_note(w, w->roots[i].path, w->roots[i].len,
				   WATCH_SUBTREE | WATCH_OVERFLOW, false);
}

int watch_new(const struct watch_opts *opts, struct watch **ret)
{
	struct watch *w;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	if (opts)
		w->o = *opts;
	if (w->o.settle_ns <= 0)
		w->o.settle_ns = WATCH_DEFAULT_SETTLE_NS;
	if (!w->o.burst)
		w->o.burst = WATCH_DEFAULT_BURST;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		int r = -errno;

		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int watch_fd(const struct watch *w)
{
	return w->epfd;
}

struct mnt {
	dev_t dev;
	char *point;
	bool pruned; /* a pseudo filesystem (proc, sysfs...): not watched, as the walker prunes it
		      */
	bool fan;    /* under a fanotify mark */
};

static void mnts_free(struct mnt *m, size_t n)
{
	while (n)
		free(m[--n].point);
	free(m);
}

/* The mounts in the tree at @path, one per device, its own (device @dev) first. */
static int mounts_under(const char *path, dev_t dev, struct mnt **ret, size_t *ret_n)
{
	struct mount_table *t;
	size_t len = strlen(path), n = 0, cap = 0;
	struct mnt *m = NULL;

	if (mount_table_load("/proc/self/mountinfo", &t) < 0)
		t = NULL; /* no table: the root's own mount alone */
	for (size_t i = 0; i <= (t ? t->n : 0); i++) {
		const char *pt = i ? t->v[i - 1].point : path;
		dev_t d = i ? t->v[i - 1].dev : dev;
		bool dup = false;

		if (i &&
		    (strncmp(pt, path, len) != 0 || (len > 1 && pt[len] != '/' && pt[len] != '\0')))
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= m[j].dev == d;
		if (dup)
			continue;
		if (GROW(m, cap, n + 1) < 0 || !(m[n].point = strdup(pt))) {
			mount_table_free(t);
			mnts_free(m, n);
			return -ENOMEM;
		}
		m[n].dev = d;
		m[n].fan = false;
		m[n].pruned = false;
		if (i) {
			int fd = open(pt, O_PATH | O_DIRECTORY | O_CLOEXEC);

			m[n].pruned = fd >= 0 && fskind_of(fd, d, t) == FSKIND_PSEUDO;
			if (fd >= 0)
				close(fd);
		}
		n++;
	}
	mount_table_free(t);
	*ret = m;
	*ret_n = n;
	return 0;
}

/* Mark what fanotify takes of the mounts @m. */
static int add_fan(struct watch *w, struct watch_root *rt, struct mnt *m, size_t n)
{
	int r;

	if (w->o.mode == WATCH_INOTIFY || w->fan_failed)
		return 0;
	if (!w->fan) {
		r = fan_new(w, &w->fan);
		if (r < 0) {
			if (w->o.mode == WATCH_FANOTIFY)
				return r;
			w->fan_failed = true;
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].pruned)
			continue;
		r = fan_add_mount(w->fan, m[i].point);
		if (r < 0 && w->o.mode == WATCH_FANOTIFY)
			return r;
		m[i].fan = r == 0;
		rt->fan |= r == 0;
	}
	return 0;
}

/* Watch with inotify what fanotify did not take of the mounts @m, skipping what it took. */
static int add_ino(struct watch *w, size_t root, const struct mnt *m, size_t n)
{
	dev_t *skip;
	size_t nskip = 0;
	int r = 0;

	skip = calloc(n, sizeof(*skip));
	if (!skip)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (m[i].fan || m[i].pruned)
			skip[nskip++] = m[i].dev;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (m[i].fan || m[i].pruned)
			continue;
		if (!w->ino)
			r = ino_new(w, &w->ino);
		if (r >= 0)
			r = ino_add_tree(w, w->ino, root, m[i].point, skip, nskip);
	}
	free(skip);
	return r;
}

int watch_add_root(struct watch *w, const char *path)
{
	struct watch_root *rt;
	struct stat st;
	struct mnt *m = NULL;
	size_t n = 0, idx;
	int r;

	if (path[0] != '/')
		return -EINVAL;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	for (size_t i = 0; i < w->nroots; i++)
		if (strcmp(w->roots[i].path, path) == 0)
			return -EEXIST;
	if (GROW(w->roots, w->roots_cap, w->nroots + 1) < 0)
		return -ENOMEM;
	idx = w->nroots;
	rt = &w->roots[idx];
	*rt = (struct watch_root){.path = strdup(path)};
	if (!rt->path)
		return -ENOMEM;
	rt->len = strlen(path);
	while (rt->len > 1 && rt->path[rt->len - 1] == '/')
		rt->path[--rt->len] = '\0';
	w->nroots++;
	w->now = now_mono_ns();

	r = mounts_under(rt->path, st.st_dev, &m, &n);
	if (r < 0)
		goto out_drop;
	r = add_fan(w, rt, m, n);
	if (r < 0)
		goto out_drop;
	r = add_ino(w, idx, m, n);
	if (r < 0)
		goto out_drop;
	goto out_free;

out_drop:
	/* Marks and watches already placed stay until watch_free(); their events
	 * fall outside every root and are dropped. */
	free(w->roots[--w->nroots].path);
out_free:
	mnts_free(m, n);
	return r;
}

/* Drop the pending directories no root holds any more, keeping the others' order. */
static void pend_prune(struct watch *w)
{
	size_t kept = 0;

	for (size_t i = 0; i < w->npend; i++) {
		if (watch_root_of(w, w->pend[i].path, w->pend[i].len) < 0)
			free(w->pend[i].path);
		else
			w->pend[kept++] = w->pend[i];
	}
	if (kept == w->npend)
		return;
	w->npend = kept;
	slots_rebuild(w, 0); /* at the same size: cannot fail */
}

/*
 * The filesystems the fanotify roots left have mounts on.  A root whose
 * directory cannot be stat'ed now is skipped: nothing of it can be seen.
 */
static int fan_needed(const struct watch *w, fsid_t **ret, size_t *ret_n)
{
	size_t n = 0, cap = 0;
	fsid_t *v = NULL;

	for (size_t i = 0; i < w->nroots; i++) {
		struct mnt *m = NULL;
		struct stat st;
		size_t nm = 0;

		if (!w->roots[i].fan || stat(w->roots[i].path, &st) < 0)
			continue;
		if (mounts_under(w->roots[i].path, st.st_dev, &m, &nm) < 0) {
			free(v);
			return -ENOMEM;
		}
		for (size_t j = 0; j < nm; j++) {
			struct statfs sfs;

			if (m[j].pruned || statfs(m[j].point, &sfs) < 0)
				continue;
			if (GROW(v, cap, n + 1) < 0) {
				mnts_free(m, nm);
				free(v);
				return -ENOMEM;
			}
			v[n++] = sfs.f_fsid;
		}
		mnts_free(m, nm);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int watch_remove_root(struct watch *w, const char *path)
{
	size_t len = strlen(path), i;
	fsid_t *keep;
	size_t nkeep;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (i = 0; i < w->nroots; i++)
		if (w->roots[i].len == len && memcmp(w->roots[i].path, path, len) == 0)
			break;
	if (i == w->nroots)
		return -ENOENT;
	free(w->roots[i].path);
	memmove(w->roots + i, w->roots + i + 1, (w->nroots - i - 1) * sizeof(*w->roots));
	w->nroots--;
	if (w->ino)
		ino_drop_root(w, w->ino, i);
	pend_prune(w);
	/* Out of memory: the marks stay, their events fall outside every root. */
	if (w->fan && fan_needed(w, &keep, &nkeep) == 0) {
		fan_keep(w->fan, keep, nkeep);
		free(keep);
	}
	return 0;
}

/* Emit the renames due, and every one before them: they are applied in order. */
static int emit_renames(struct watch *w, int64_t now, watch_emit_fn *emit, void *ctx)
{
	size_t due = 0;

	for (size_t i = 0; i < w->nren; i++)
		if (w->ren[i].deadline <= now)
			due = i + 1;
	for (size_t i = 0; i < due; i++) {
		emit(ctx, w->ren[i].from, w->ren[i].from_len, WATCH_RENAME);
		free(w->ren[i].from);
	}
	if (!due)
		return 0; /* w->ren may be NULL: no memmove of it */
	memmove(w->ren, w->ren + due, (w->nren - due) * sizeof(*w->ren));
	w->nren -= due;
	return (int)due;
}

/*
 * Emit the due renames, then the due prefix of pend[], dropping what a
 * pending subtree covers and what only renames emitted as such touched.
 */
static int emit_due(struct watch *w, int64_t now, watch_emit_fn *emit, void *ctx)
{
	size_t due = 0, i;
	int n = emit_renames(w, now, emit, ctx);

	while (due < w->npend && w->pend[due].deadline <= now)
		due++;
	if (!due) {
		w->emitted += (uint64_t)n;
		return n;
	}
	for (i = 0; i < due; i++) {
		struct watch_pend *p = &w->pend[i];
		ssize_t root = watch_root_of(w, p->path, p->len);

		if (!p->other && !(p->flags & WATCH_SUBTREE))
			continue;
		if (root >= 0 && covered(w, p->path, p->len, w->roots[root].len))
			continue;
		emit(ctx, p->path, p->len, p->flags & (WATCH_SUBTREE | WATCH_OVERFLOW));
		n++;
	}
	for (i = 0; i < due; i++)
		free(w->pend[i].path);
	memmove(w->pend, w->pend + due, (w->npend - due) * sizeof(*w->pend));
	w->npend -= due;
	/* Rebuilding at the same size cannot fail. */
	slots_rebuild(w, 0);
	w->emitted += (uint64_t)n;
	return n;
}

int watch_process(struct watch *w, int64_t now_ns, watch_emit_fn *emit, void *ctx)
{
	int r = 0, ri = 0, n;

	w->now = now_ns;
	if (w->fan)
		r = fan_read(w, w->fan);
	if (w->ino)
		ri = ino_read(w, w->ino);
	n = emit_due(w, now_ns, emit, ctx);
	if (r < 0 && r != -ENOMEM)
		return r;
	return ri < 0 && ri != -ENOMEM ? ri : n;
}

int64_t watch_next_deadline(const struct watch *w)
{
	int64_t t = w->npend ? w->pend[0].deadline : -1;

	for (size_t i = 0; i < w->nren; i++)
		if (t < 0 || w->ren[i].deadline < t)
			t = w->ren[i].deadline;
	return t;
}

static const char *root_mode(const struct watch_root *r)
{
	if (!r->fan && (r->unwatchable || !r->watches))
		return "periodic";
	if (r->unwatched)
		return "partial";
	return r->watches ? "inotify" : "fanotify";
}

void watch_status(const struct watch *cw, struct watch_status *ret)
{
	struct watch *w = (struct watch *)cw; /* the answer's buffer lives in w */

	*ret = (struct watch_status){.events = w->events,
				     .emitted = w->emitted,
				     .overflows = w->overflows,
				     .pending = w->npend};
	if (GROW(w->st, w->st_cap, w->nroots) < 0)
		return;
	for (size_t i = 0; i < w->nroots; i++) {
		const struct watch_root *r = &w->roots[i];

		w->st[i] = (struct watch_root_status){.path = r->path,
						      .mode = root_mode(r),
						      .watches = r->watches,
						      .unwatched_dirs = r->unwatched};
	}
	ret->nroots = w->nroots;
	ret->roots = w->st;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	fan_free(w->fan);
	ino_free(w->ino);
	if (w->epfd >= 0)
		close(w->epfd);
	for (size_t i = 0; i < w->npend; i++)
		free(w->pend[i].path);
	free(w->pend);
	free(w->slots);
	for (size_t i = 0; i < w->nren; i++)
		free(w->ren[i].from);
	free(w->ren);
	for (size_t i = 0; i < w->nroots; i++)
		free(w->roots[i].path);
	free(w->roots);
	free(w->st);
	free(w);
}
