/* SPDX-License-Identifier: MIT */
/*
 * fskind.h - what a filesystem type (statfs(2) f_type) can be trusted with:
 * pseudo filesystems the walker prunes, local ones whose directory mtimes
 * let a listing be reused, and ones that hold their own files, so that one
 * of their inodes is never another filesystem's file seen through them.
 */
#ifndef FSINDEX_FSKIND_H
#define FSINDEX_FSKIND_H

#include <stdbool.h>
#include <sys/types.h>

struct mount_table;

enum fskind {
	FSKIND_OTHER,
	FSKIND_PSEUDO,		/* nothing to find there (proc, sysfs, devtmpfs...): pruned */
	FSKIND_DIR_MTIME,	/* local, keeps directory mtimes: listings may be reused */
};

/**
 * The kind of the filesystem open directory @fd (on device @dev) lies on.
 * Pseudo filesystems are the ones updatedb.conf prunes by default, and
 * devtmpfs (told from tmpfs by the mount table @mounts, or by
 * /proc/self/mountinfo when @mounts is NULL or does not list @dev).  Directory mtimes are
 * trusted on local disk filesystems and tmpfs only.  FSKIND_OTHER when
 * fstatfs(2) fails.
 */
enum fskind fskind_of(int fd, dev_t dev, const struct mount_table *mounts);

/**
 * Does a filesystem of type @f_type hold its own files (ext4, XFS, Btrfs,
 * tmpfs, FAT...)?  Not overlay, FUSE, NFS, SMB, 9p, Ceph, ecryptfs, aufs, or
 * any type not known here: those may show another filesystem's file under
 * their own device and inode numbers.
 */
bool fskind_holds_own_files(long f_type);

#endif /* FSINDEX_FSKIND_H */
