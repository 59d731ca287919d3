/* SPDX-License-Identifier: MIT */
/*
 * watch-priv.h - what the parts of the event source share: watch.c (the API,
 * the roots and the coalescer), watch-fan.c (fanotify) and watch-ino.c
 * (inotify).  The backends turn events into watch_note() calls; watch.c owns
 * every path it keeps.
 */
#ifndef FSINDEX_WATCH_PRIV_H
#define FSINDEX_WATCH_PRIV_H

#include "watch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct watch_fan;
struct watch_ino;

struct watch_root {
	char *path;
	size_t len;
	bool fan;	    /* part of it is under a fanotify mark */
	bool unwatchable;   /* the root directory itself got no watch */
	uint64_t watches;   /* inotify watches held for it */
	uint64_t unwatched; /* directories left unwatched (each with its subtree) */
};

/* A directory waiting for its settle window to end. */
struct watch_pend {
	char *path;
	size_t len;
	unsigned flags; /* enum watch_flags */
	unsigned count; /* events counted towards the burst threshold */
	bool other;	/* an event besides the renames emitted for it (else not emitted) */
	int64_t deadline;
};

/*
 * A rename waiting to be emitted: "from\0to\0", then the names it passed
 * through when a chain was merged ("via\0" each), then "\0"; one allocation.
 */
struct watch_ren {
	char *from;
	size_t from_len, to_len;
	size_t size;	  /* of the whole allocation */
	unsigned nvia;
	int64_t deadline; /* no later than its directories' */
};

struct watch {
	struct watch_opts o;
	int epfd;
	struct watch_root *roots;
	size_t nroots, roots_cap;
	/* Pending directories in the order they were first noted, hence of
	 * their deadlines too: what is due is always a prefix. */
	struct watch_pend *pend;
	size_t npend, pend_cap;
	uint32_t *slots; /* open addressing over pend: index + 1, 0 empty */
	size_t nslots;
	struct watch_ren *ren; /* in the order they happened */
	size_t nren, ren_cap;
	int64_t now; /* the time events being read are stamped with */
	struct watch_fan *fan;
	struct watch_ino *ino;
	bool fan_failed; /* fanotify_init() refused: AUTO stays with inotify */
	uint64_t events, emitted, overflows;
	struct watch_root_status *st; /* watch_status()'s answer */
	size_t st_cap;
};

/* Epoll tags of the backends' descriptors. */
enum { WATCH_TAG_FAN = 1, WATCH_TAG_INO = 2 };

/* At most this many directories pending: past it, a new directory's root is
 * queued for a subtree rescan instead, so memory stays bounded. */
#define WATCH_MAX_PENDING 65536

/**
 * Note an event in directory @dir (@len bytes, absolute, need not be
 * NUL-terminated; copied) at w->now with @flags (enum watch_flags).  Events
 * outside every root are dropped.  @counts: the event counts towards the
 * burst threshold (writes to one open file do not).  Returns 0 or -ENOMEM.
 */
int watch_note(struct watch *w, const char *dir, size_t len, unsigned flags, bool counts);

/**
 * Note that the entry @oname in directory @odir (@olen bytes) was renamed to
 * @nname in @ndir (@nlen bytes), as one event (absolute paths, need not be
 * NUL-terminated; names NUL-terminated; copied).  @is_dir: it is a
 * directory.  Within one root it is queued as a rename (see watch.h) and the
 * paths of pending directories at and below it are moved along; otherwise
 * both directories are noted as any event, and a directory moved into a root
 * from elsewhere for a subtree rescan.  Returns 0 or -ENOMEM.
 */
int watch_note_rename(struct watch *w, const char *odir, size_t olen, const char *oname,
		      const char *ndir, size_t nlen, const char *nname, bool is_dir);

/** Index of the root holding @path (the deepest one), or -1. */
ssize_t watch_root_of(const struct watch *w, const char *path, size_t len);

/** Queue every root for which @pick(root) holds for a subtree rescan with WATCH_OVERFLOW. */
void watch_note_roots(struct watch *w, bool (*pick)(const struct watch_root *r));

/* watch-fan.c */

/** fanotify_init() a group and add it to w->epfd; -errno (-EPERM unprivileged). */
int fan_new(struct watch *w, struct watch_fan **ret);
/** Mark the filesystem holding @point (a directory); 0 also if already marked; -errno. */
int fan_add_mount(struct watch_fan *f, const char *point);
/**
 * Remove the marks of every filesystem whose fsid is not among the @n of
 * @keep (the roots left need those), closing their descriptors.
 */
void fan_keep(struct watch_fan *f, const fsid_t *keep, size_t n);
/** Read every queued event into watch_note(); 0 or -errno. */
int fan_read(struct watch *w, struct watch_fan *f);
void fan_free(struct watch_fan *f);

/* watch-ino.c */

/** inotify_init1() and add it to w->epfd; -errno. */
int ino_new(struct watch *w, struct watch_ino **ret);
/**
 * Watch every directory of the tree at @path for root @root, skipping those
 * on the @nskip devices of @skip (covered by fanotify).  Directories that get
 * no watch are counted on the root and noted for a subtree rescan.  0 or -ENOMEM.
 */
int ino_add_tree(struct watch *w, struct watch_ino *in, size_t root, const char *path,
		 const dev_t *skip, size_t nskip);
/**
 * Root @root was taken out of w->roots (the roots after it moved down one):
 * hand its watches to the deepest root left that holds their directory,
 * remove the others, and renumber what refers to the roots after it.
 */
void ino_drop_root(struct watch *w, struct watch_ino *in, size_t root);
/** Read every queued event into watch_note(); 0 or -errno. */
int ino_read(struct watch *w, struct watch_ino *in);
void ino_free(struct watch_ino *in);

#endif /* FSINDEX_WATCH_PRIV_H */
