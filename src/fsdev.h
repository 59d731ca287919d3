/* SPDX-License-Identifier: MIT */
/*
 * fsdev.h - filesystem identity across device numbers.
 *
 * st_dev names a filesystem only while it stays mounted: after a reboot, a
 * loop image attached elsewhere or NVMe probed in another order, the same
 * filesystem comes back under another number.  The index keeps a small
 * table (meta "fsdv" + identity -> the device number its records carry)
 * where the identity is statfs(2)'s f_type and f_fsid, which ext4, xfs and
 * btrfs derive from the filesystem's UUID.  A walk that meets records of a
 * device number the table gives to the filesystem it is walking takes them
 * as that filesystem's, and rewrites them under the current number with
 * their ids and hashes kept.  A filesystem without an f_fsid (0) has no
 * identity: its records match by st_dev alone, as before the table.
 */
#ifndef FSINDEX_FSDEV_H
#define FSINDEX_FSDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSDEV_ID_SIZE 16

/** A filesystem's identity: f_type and f_fsid, big-endian. */
struct fsdev_id {
	unsigned char b[FSDEV_ID_SIZE];
};

/** The table as the index holds it: identity -> device number of its records. */
struct fsdev_table {
	struct fsdev_ent {
		struct fsdev_id id;
		uint64_t dev;
	} *v;
	size_t n, cap;
};

/** The identity of the filesystem of @fd: 0, -ENODATA when it has none, or -errno. */
int fsdev_ident_fd(int fd, struct fsdev_id *ret);

/** Record @id -> @dev in @t (replacing what @id had).  0 or -ENOMEM. */
int fsdev_table_set(struct fsdev_table *t, const struct fsdev_id *id, uint64_t dev);

void fsdev_table_clear(struct fsdev_table *t);

/**
 * Are records stored under device number @stored those of the filesystem
 * now at @cur, whose identity is @id (NULL: it has none)?  The table
 * decides when it names an owner of @stored; otherwise (an index from
 * before the table, or a filesystem without identity) the numbers must be
 * equal.
 */
bool fsdev_same(const struct fsdev_table *t, uint64_t stored, uint64_t cur,
		const struct fsdev_id *id);

#endif /* FSINDEX_FSDEV_H */
