/* SPDX-License-Identifier: MIT */
/*
 * daemon-sync.c - the control socket's `sync` request: answer once every
 * change made under a root before the request is committed to the index.
 *
 * The kernel queues a file event when the change is made, and the event
 * source reads its queues in order, to the end, before it emits anything.
 * So the daemon makes a change of its own: it creates a cookie file
 * ".fsindex-sync-PID-N" in each root and removes it again at once.  Once
 * the root's directory comes out of the event source (which coalesces, so
 * it may come out early, with an older event: then the cookie's event has
 * been read with it), every event made before the request has been read
 * and its rescan queued; the daemon does not wait out the settle time for
 * that (daemon_events_flush()).  A barrier job behind those rescans runs when
 * they are committed (jobs run one at a time, in order), and the client
 * is answered.  The cookie lives microseconds, so no rescan finds it but
 * one racing the request, and the cookie's own event rescans the root's
 * directory again, after that one: the index has no cookie when "OK" goes.
 *
 * A root with no watch (periodic reconciles only) gets a reconcile, with
 * the barrier behind it.  A root the daemon may not write to (the installed
 * unit's ProtectSystem=strict and ProtectHome=read-only make every root
 * read-only to it) gets no cookie: Linux queues a file event in the
 * modifying call itself, so the client's changes are in the queues when it
 * sends the request, and the flush reads the queues to the end before the
 * barrier is queued.  The cookie only proves that where it can be made.
 * A sync not done in SYNC_MAX_NS is answered ERR.
 */
#include "daemon-priv.h"

#include "config.h"
#include "daemon-events.h"
#include "errors.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SYNC_MAX_NS (60 * 1000000000LL)	/* a watch that never answers */

struct daemon_sync {
	struct daemon_sync *next;
	int fd;
	char **dirs;		/* the roots' real paths, as the event source names them */
	size_t ndirs, unseen;	/* dirs[unseen..ndirs) have had their event */
	uint64_t barrier;	/* 0: not queued yet */
	int64_t deadline;
};

static void reply(int fd, const char *s)
{
	if (send(fd, s, strlen(s), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("sync: cannot answer: %s", strerror(errno));
	close(fd);
}

static void sync_free(struct daemon_sync *s)
{
	for (size_t i = 0; i < s->ndirs; i++)
		free(s->dirs[i]);
	free(s->dirs);
	free(s);
}

/* Is cookie()'s error @r that of a directory the daemon may not write to? */
static bool read_only(int r)
{
	return r == -EROFS || r == -EACCES || r == -EPERM;
}

/* Create and remove the cookie in @dir: 0, or -errno (no event to wait for). */
static int cookie(struct daemon *d, const char *dir)
{
	char *p;
	int fd, r = 0;

	if (asprintf(&p, "%s/.fsindex-sync-%d-%llu", dir, (int)getpid(),
		     (unsigned long long)++d->sync_cookies) < 0)
		return -ENOMEM;
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		if (read_only(r))
			log_debug("sync: no cookie in '%s': %s", dir, fsi_strerror(r));
		else
			log_warning("sync: cannot create '%s': %s", p, fsi_strerror(r));
	} else {
		close(fd);
		if (unlink(p) < 0)
			log_warning("sync: cannot remove '%s': %s", p, strerror(errno));
	}
	free(p);
	return r;
}

/* Does root @root cover @path (both absolute)? */
static bool covers(const char *root, const char *path)
{
	size_t n = strlen(root);

	if (n == 1 && root[0] == '/')
		return true;
	return strncmp(root, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The roots @arg asks for into @s (every root for NULL); 0, -ENOENT or -ENOMEM. */
static int pick_roots(struct daemon *d, const char *arg, struct daemon_sync *s)
{
	const struct config *cfg;
	struct daemon_cfg *c;
	const char *best = NULL;
	int r = 0;

	pthread_mutex_lock(&d->lock);
	c = daemon_cfg_get_locked(d);
	pthread_mutex_unlock(&d->lock);
	cfg = c->cfg;
	s->dirs = calloc(cfg->nroots + 1, sizeof(char *));
	if (!s->dirs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->nroots; i++) {
		/* As the event source and the client spell it: the real path. */
		const char *root = c->real[i] ? c->real[i] : cfg->roots[i].path;

		if (!arg)
			s->dirs[s->ndirs++] = strdup(root);
		else if (covers(root, arg) && (!best || strlen(root) > strlen(best)))
			best = root;
	}
	if (best)
		s->dirs[s->ndirs++] = strdup(best);
	else if (arg)
		r = -ENOENT;
	for (size_t i = 0; i < s->ndirs; i++)
		if (!s->dirs[i])
			r = -ENOMEM;
out:
	daemon_cfg_put(d, c);
	return r;
}

/*
 * Make the cookies.  A root without a watch, or whose cookie failed but for
 * want of write access, gets a reconcile; one read-only to the daemon relies
 * on the flush alone (see the top of the file).
 */
static void start_roots(struct daemon *d, struct daemon_sync *s)
{
	bool reconcile = false;
	char *real, *t;
	int r = 0;

	s->unseen = s->ndirs;
	for (size_t i = s->ndirs; i-- > 0;) {
		real = realpath(s->dirs[i], NULL);
		if (!real || strcmp(daemon_events_mode(d->events, s->dirs[i]), "periodic") == 0 ||
		    (r = cookie(d, real)) < 0) {
			free(real);
			if (!real || !read_only(r))
				reconcile = true;
			r = 0;
			/* Seen: swap it past the end of the unseen ones. */
			t = s->dirs[i];
			s->dirs[i] = s->dirs[--s->unseen];
			s->dirs[s->unseen] = t;
			continue;
		}
		free(s->dirs[i]);
		s->dirs[i] = real;
	}
	if (reconcile)
		daemon_queue_reconcile(d);
}

void daemon_sync_start(struct daemon *d, int fd, const char *arg)
{
	struct daemon_sync *s;
	int r;

	if (arg && arg[0] != '/') {
		reply(fd, "ERR sync: the path must be absolute\n");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		reply(fd, "ERR sync: out of memory\n");
		return;
	}
	s->fd = fd;
	r = pick_roots(d, arg, s);
	if (r < 0) {
		reply(fd, r == -ENOENT ? "ERR sync: the path is under no root\n"
				       : "ERR sync: out of memory\n");
		sync_free(s);
		return;
	}
	s->deadline = now_mono_ns() + SYNC_MAX_NS;
	s->next = d->syncs;
	d->syncs = s;
	start_roots(d, s);
	/*
	 * The client's events and the cookies' are queued: read the queues to
	 * the end now, not after the settle time.  With every root seen, the
	 * barrier goes behind the rescans this makes (daemon_sync_queue(); out
	 * of memory for it, the next events try again).
	 */
	daemon_take_events(d, true);
}

/* Did emitting @dir (@len bytes) read the cookie's event in @root? */
static bool emitted(const char *root, const char *dir, size_t len, unsigned flags)
{
	size_t n = strlen(root);

	if (n == len && memcmp(root, dir, len) == 0)
		return true;
	/* A subtree above the root (a root inside another) covers it. */
	return (flags & DAEMON_EVENT_SUBTREE) && len < n && memcmp(root, dir, len) == 0 &&
	       (root[len] == '/' || (len == 1 && dir[0] == '/'));
}

void daemon_sync_event(struct daemon *d, const char *dir, size_t len, unsigned flags)
{
	for (struct daemon_sync *s = d->syncs; s; s = s->next)
		for (size_t i = s->unseen; i-- > 0;) {
			char *t;

			if (!emitted(s->dirs[i], dir, len, flags))
				continue;
			t = s->dirs[i];
			s->dirs[i] = s->dirs[--s->unseen];
			s->dirs[s->unseen] = t;
		}
}

void daemon_sync_queue(struct daemon *d)
{
	uint64_t b = 0;

	for (struct daemon_sync *s = d->syncs; s; s = s->next) {
		if (s->unseen || s->barrier)
			continue;
		if (!b && !(b = daemon_queue_barrier(d)))
			return;	/* out of memory: tried again after the next events */
		s->barrier = b;
	}
}

void daemon_sync_answer(struct daemon *d, int64_t now_ns)
{
	struct daemon_sync **pp = &d->syncs, *s;
	uint64_t done;

	pthread_mutex_lock(&d->lock);
	done = d->barrier_done;
	pthread_mutex_unlock(&d->lock);
	while ((s = *pp)) {
		if (s->barrier && s->barrier <= done) {
			reply(s->fd, "OK\n");
		} else if (now_ns >= s->deadline) {
			log_warning("sync: no event came back in %lld s", SYNC_MAX_NS / 1000000000);
			reply(s->fd, "ERR sync: timed out waiting for the file events\n");
		} else {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		sync_free(s);
	}
}

int64_t daemon_sync_deadline(const struct daemon *d)
{
	int64_t t = INT64_MAX;

	for (const struct daemon_sync *s = d->syncs; s; s = s->next)
		if (s->deadline < t)
			t = s->deadline;
	return t;
}

void daemon_sync_free(struct daemon *d)
{
	struct daemon_sync *s;

	while ((s = d->syncs)) {
		d->syncs = s->next;
		close(s->fd);
		sync_free(s);
	}
}
