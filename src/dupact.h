/* SPDX-License-Identifier: MIT */
/*
 * dupact.h - acting on a duplicate group: hard-link, reflink (FIDEDUPERANGE)
 * or delete all but one file.  Safe by construction: the stat tuple of every
 * file is re-checked right before acting on it, `link` and `delete` compare
 * bytes first (XXH3 is not collision-resistant against crafted files),
 * replacement is atomic (link to a temporary name, then rename over), the
 * kept file is never touched, the last copy is never removed (not even when
 * two names may reach one file through different filesystems), and nothing
 * falls back silently to a weaker action.
 */
#ifndef FSINDEX_DUPACT_H
#define FSINDEX_DUPACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cancel;
struct dups_group;
struct dups_file;

enum dupact_kind {
	DUPACT_LINK,		/* replace each other name by a hard link to the kept file */
	DUPACT_REFLINK,		/* share extents with the kept file (FIDEDUPERANGE) */
	DUPACT_DELETE,		/* unlink every name of the other files */
};

enum dupact_keep {
	DUPACT_KEEP_FIRST,	/* first PATH argument order, then byte order of the path */
	DUPACT_KEEP_OLDEST,	/* smallest mtime (ties: first) */
	DUPACT_KEEP_NEWEST,	/* largest mtime (ties: first) */
};

/**
 * What happened (or, with @dry_run, would happen) to one name: @what is
 * "link", "reflink" (once per file, its first name), "delete", or "remove"
 * for a temporary name an interrupted --link left behind (@kept_path is then
 * the first name of the file it links to); otherwise @kept_path is the first
 * name of the file kept.  The kept file itself is not reported.
 *
 * Called right after the action, before the next one.  Return 0 to go on,
 * or a negative errno when the record could not be written: nothing more is
 * then done and dupact_group() returns that error (never act unrecorded).
 */
typedef int dupact_report_fn(void *ctx, const char *what, const char *path, size_t len,
			     const char *kept_path, size_t kept_len, bool dry_run);

/**
 * A name that could not be acted on; nothing was lost.  @what names the step:
 * "cannot link", "cannot reflink", "cannot delete", or "kept file" when the
 * file to keep itself failed its checks (then the whole group is left as it
 * was), or "cannot remove" for a leftover temporary name.  @kept_path is the
 * first name of the file kept (for "kept file", @path itself).  @err is
 * -errno; describe it with dupact_strerror(), which knows the reasons
 * particular to this module (-ESTALE, -EBADE, -EXDEV, -EOPNOTSUPP, -ENOTUNIQ).
 */
typedef void dupact_error_fn(void *ctx, const char *path, size_t len, const char *what, int err,
			     const char *kept_path, size_t kept_len);

struct dupact_opts {
	enum dupact_kind kind;
	enum dupact_keep keep;
	bool dry_run;		/* report what would be done, change nothing */
	dupact_report_fn *on_report; /* may be NULL */
	dupact_error_fn *on_error;   /* may be NULL */
	void *ctx;
	/* When it becomes non-zero (a signal handler), stop before the next file. */
	const struct cancel *cancel; /* may be NULL */
};

struct dupact_stats {
	uint64_t acted;		/* names linked / files reflinked / names deleted */
	uint64_t bytes;		/* bytes reclaimed (or that would be) */
	uint64_t errors;	/* names left as they were because of an error */
	uint64_t removed;	/* leftover temporary names removed (or that would be) */
};

/**
 * Apply @opts->kind to group @g: keep one file chosen by @opts->keep and act
 * on the others.  Errors on one file are reported and counted, and the rest
 * of the group is still handled.  Adds to *stats, also when it stops early.
 * Returns 0, or a negative error only for a failure that is not about one
 * file: -ENOMEM, -EINVAL for a group whose kept file has no name,
 * -ECANCELED when @opts->cancel was requested (checked before each file), or the
 * error @opts->on_report returned.
 *
 * Before acting on a name, its stat tuple and the kept file's (dev, ino,
 * size, mtime, ctime) must still be those in @g, else -ESTALE.  "link" and
 * "delete" then compare bytes with the kept file (-EBADE when they differ),
 * also in a dry run; "link" refuses another filesystem (-EXDEV); "reflink"
 * lets the kernel compare and fails with -EOPNOTSUPP where the filesystem
 * cannot share extents.  A name that already is the kept inode is left alone.
 * A file on another device than the kept one is deleted only when both lie
 * on filesystems that hold their own files (ext4, XFS, Btrfs, tmpfs...) and
 * are not one filesystem mounted twice; an overlay, FUSE or network
 * filesystem may show another filesystem's file under its own device and
 * inode number, so there the file is left alone with -ENOTUNIQ.
 * Paths of any length work (directories are opened piecewise past PATH_MAX).
 *
 * Before all that, the leftover temporary names of each file of @g
 * (dups_file.temps: a --link killed between link and rename) are removed
 * (reported as "remove"; with @opts->dry_run only reported), each only while
 * it is still a link to that file, the file keeps its first name, and the
 * name it was made to replace is still beside it.
 *
 * Fault injection (tests): when FSINDEX_DEBUG_FAIL_AT=N is set in the
 * environment, the Nth system call that can fail in this call (open, stat,
 * read, link, rename, unlink, ioctl; cleanup of a temporary name excepted)
 * fails with EIO.  The count restarts at every call.  Likewise
 * FSINDEX_DEBUG_RAISE_AT=N:SIG raises signal number SIG right before the Nth
 * such system call of the process (counted over all calls, not restarted),
 * which then proceeds if the process survives: a signal, or a kill, at an
 * exact point.
 */
int dupact_group(const struct dups_group *g, const struct dupact_opts *opts,
		 struct dupact_stats *stats);

/** Index of the file @opts->keep chooses in @g. */
size_t dupact_choose_keeper(const struct dups_group *g, enum dupact_keep keep);

/**
 * Describe error @err (-errno) as reported by dupact_error_fn: the module's
 * own meanings ("changed since it was hashed" for -ESTALE, "content differs
 * from the kept file" for -EBADE, ...), else strerror().  Static string.
 */
const char *dupact_strerror(int err);

#endif /* FSINDEX_DUPACT_H */
