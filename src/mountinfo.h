/* SPDX-License-Identifier: MIT */
/*
 * mountinfo.h - the mount table as /proc/self/mountinfo tells it: each
 * mount's device, mount point, type and source.
 *
 * statfs() cannot tell every filesystem apart (devtmpfs reports the magic
 * number of tmpfs), and says nothing of where a filesystem is mounted; the
 * mount table names the type as it was mounted.  A table is parsed once and
 * read-only afterwards, so any thread may look things up in it; whoever
 * wants a fresh view loads a new one (the engine does, on a miss).
 */
#ifndef FSINDEX_MOUNTINFO_H
#define FSINDEX_MOUNTINFO_H

#include <stddef.h>
#include <sys/types.h>

struct mount_entry {
	dev_t dev;		/* st_dev of the files on it */
	const char *point;	/* mount point, unescaped (may hold blanks and newlines) */
	const char *type;	/* filesystem type, with subtype: "ext4", "fuse.sshfs" */
	const char *source;	/* "/dev/sda1", "tmpfs", ... */
};

struct mount_table {
	struct mount_entry *v;	/* in the kernel's order: parents before children */
	size_t n;
	char *strings;		/* every string of v, in one allocation */
};

/**
 * Parse @path (normally "/proc/self/mountinfo").  *ret_table is the caller's
 * (mount_table_free()).  Lines that do not parse are skipped.  Returns 0, or
 * -errno when the file cannot be read (-ENOMEM).
 */
int mount_table_load(const char *path, struct mount_table **ret_table);

/** Free a table.  Accepts NULL. */
void mount_table_free(struct mount_table *table);

/**
 * The first mount of device @dev, or NULL.  The kernel lists only the mounts
 * reachable from the process's root.  In a chroot (sbuild, pbuilder) the
 * filesystem holding the chroot's "/" has no line unless it is also mounted
 * inside, so a miss for the device of "/" is normal there: callers must take
 * it for "unknown", never for an error.
 */
const struct mount_entry *mount_table_find(const struct mount_table *table, dev_t dev);

/**
 * Copy into @type (@size bytes, NUL-terminated, truncated if need be) the
 * filesystem type of the first mount of device @dev in @path.  Returns 0,
 * -ENOENT when no mount has that device, or a negative errno when the table
 * cannot be read.  (One lookup: it parses the whole table each time.)
 */
int mountinfo_fstype(const char *path, dev_t dev, char *type, size_t size);

/**
 * As mountinfo_fstype(), looking in @table (may be NULL) first, and in
 * /proc/self/mountinfo afresh when it does not list @dev (mounted since it
 * was read).
 */
int mount_type(const struct mount_table *table, dev_t dev, char *type, size_t size);

#endif
