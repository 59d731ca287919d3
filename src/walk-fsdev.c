/* SPDX-License-Identifier: MIT */
/*
 * walk-fsdev.c - the walk's side of filesystem identity (fsdev.h): the
 * index's table as the walk began, and the filesystems the walk meets, one
 * fstatfs(2) each.  Each worker remembers the last st_dev it asked about,
 * so the lock is taken when a listing crosses to another filesystem, not
 * per entry.
 */
#include "walk-priv.h"

#include "store.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int walk_fsdev_load(struct walk *w)
{
	struct store_reader *rd;
	int r;

	r = pthread_mutex_init(&w->fs_mu, NULL);
	if (r)
		return -r;
	r = store_reader_new(w->store, &rd);
	if (r < 0)
		return r;
	r = store_load_fsdev(rd, &w->fsdevs);
	store_reader_free(rd);
	return r;
}

void walk_fsdev_free(struct walk *w)
{
	for (size_t i = 0; i < w->nfs_seen; i++)
		free(w->fs_seen[i]);
	free(w->fs_seen);
	fsdev_table_clear(&w->fsdevs);
	pthread_mutex_destroy(&w->fs_mu);
}

/*
 * Queue @s for the index: its identity now carries @s->dev, and whichever
 * other identity the table gave that number has no records under it any
 * more that this walk could tell from the new one's.
 */
static int record_seen(struct walk *w, struct walk_worker *ww, const struct walk_fs_seen *s)
{
	bool known = false;
	int r;

	for (size_t i = 0; i < w->fsdevs.n; i++) {
		const struct fsdev_ent *e = &w->fsdevs.v[i];

		if (!memcmp(&e->id, &s->id, sizeof(e->id))) {
			known = e->dev == s->dev;
			continue;
		}
		if (e->dev != s->dev)
			continue;
		r = store_batch_fsdev(ww->batch, &e->id, e->dev, false);
		if (r < 0)
			return r;
	}
	/* Nothing to write (no commit) when the table says it already. */
	return known ? 0 : store_batch_fsdev(ww->batch, &s->id, s->dev, true);
}

/* Learn the filesystem at st_dev @cur, that of @name in @dfd (or of @dfd itself). */
static struct walk_fs_seen *learn(struct walk *w, int dfd, const char *name, bool is_dir_fs,
				  uint64_t cur)
{
	struct walk_fs_seen *s = calloc(1, sizeof(*s));
	int fd = dfd;

	if (!s || GROW(w->fs_seen, w->fs_seen_cap, w->nfs_seen + 1)) {
		free(s);
		return NULL;
	}
	s->dev = cur;
	if (!is_dir_fs)
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		s->has_id = fsdev_ident_fd(fd, &s->id) == 0;
		if (fd != dfd)
			close(fd);
	}
	w->fs_seen[w->nfs_seen++] = s;
	return s;
}

static const struct walk_fs_seen *fs_of(struct walk *w, struct walk_worker *ww,
					const struct walk_dir *d, int dfd, const char *name,
					uint64_t cur)
{
	struct walk_fs_seen *s = NULL;
	bool learnt = false;

	pthread_mutex_lock(&w->fs_mu);
	for (size_t i = 0; i < w->nfs_seen && !s; i++)
		if (w->fs_seen[i]->dev == cur)
			s = w->fs_seen[i];
	if (!s) {
		s = learn(w, dfd, name, cur == d->dev, cur);
		learnt = s != NULL;
	}
	pthread_mutex_unlock(&w->fs_mu);
	/*
	 * Queued outside the lock (the queue may wait for the writer), once
	 * per filesystem.  Matching asks the table as the walk began, so a
	 * failure here only leaves the table as it was; an error of the
	 * batch is met by the walk's next record anyway.
	 */
	if (learnt && s->has_id)
		(void)record_seen(w, ww, s);
	return s;
}

bool walk_same_fs(struct walk *w, struct walk_worker *ww, const struct walk_dir *d, int dfd,
		  const char *name, uint64_t stored, uint64_t cur)
{
	if (!ww->fs_known || ww->fs_dev != cur) {
		const struct walk_fs_seen *s = fs_of(w, ww, d, dfd, name, cur);

		if (!s)
			return stored == cur;
		ww->fs_dev = cur;
		ww->fs_id = s->has_id ? &s->id : NULL;
		ww->fs_known = true;
	}
	return fsdev_same(&w->fsdevs, stored, cur, ww->fs_id);
}

bool walk_dev_is_fs(struct walk *w, uint64_t dev)
{
	const struct fsdev_id *id = NULL;

	if (!w->fsdevs.n)
		return true;
	pthread_mutex_lock(&w->fs_mu);
	for (size_t i = 0; i < w->nfs_seen; i++)
		if (w->fs_seen[i]->dev == dev && w->fs_seen[i]->has_id)
			id = &w->fs_seen[i]->id;
	pthread_mutex_unlock(&w->fs_mu);
	return fsdev_same(&w->fsdevs, dev, dev, id);
}
