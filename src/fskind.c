/* SPDX-License-Identifier: MIT */
/*
 * fskind.c - one table of filesystem types and what each is trusted with.
 *
 * A type not in the table is trusted with nothing: the walker lists it
 * every time and dupact never deletes across devices on it.  Magic numbers
 * are compared as the 32 bits the kernel defines them with, so a type whose
 * magic has the top bit set (F2FS, bcachefs) matches on 32-bit systems too,
 * where f_type is a signed 32-bit long.
 */
#include "fskind.h"

#include "mountinfo.h"
#include "util.h"

#include <linux/magic.h>
#include <stdint.h>
#include <string.h>
#include <sys/statfs.h>

enum {
	PSEUDO = 1 << 0,	/* pruned by the walker */
	DIR_MTIME = 1 << 1,	/* directory mtimes are kept faithfully */
	OWN_FILES = 1 << 2,	/* its inodes are its own files */
};

static const struct {
	uint32_t magic;
	uint8_t flags;
} types[] = {
	{ EXT4_SUPER_MAGIC, DIR_MTIME | OWN_FILES },	/* ext2, ext3 too */
	{ XFS_SUPER_MAGIC, DIR_MTIME | OWN_FILES },
	{ BTRFS_SUPER_MAGIC, DIR_MTIME | OWN_FILES },
	{ F2FS_SUPER_MAGIC, DIR_MTIME | OWN_FILES },
	{ 0x2fc12fc1, DIR_MTIME | OWN_FILES },		/* ZFS */
	{ 0xca451a4e, DIR_MTIME | OWN_FILES },		/* bcachefs */
	/* DIR_MTIME unless it is devtmpfs, which says it is tmpfs: fskind_of(). */
	{ TMPFS_MAGIC, OWN_FILES },
	{ RAMFS_MAGIC, OWN_FILES },
	{ 0x3153464a, OWN_FILES },			/* JFS */
	{ REISERFS_SUPER_MAGIC, OWN_FILES },
	{ NILFS_SUPER_MAGIC, OWN_FILES },
	{ MSDOS_SUPER_MAGIC, OWN_FILES },		/* FAT */
	{ EXFAT_SUPER_MAGIC, OWN_FILES },
	{ 0x5346544e, OWN_FILES },			/* NTFS */
	{ 0x482b, OWN_FILES },				/* HFS+ */
	{ UDF_SUPER_MAGIC, OWN_FILES },
	{ PROC_SUPER_MAGIC, PSEUDO },
	{ SYSFS_MAGIC, PSEUDO },
	{ DEVPTS_SUPER_MAGIC, PSEUDO },
	{ CGROUP_SUPER_MAGIC, PSEUDO },
	{ CGROUP2_SUPER_MAGIC, PSEUDO },
	{ DEBUGFS_MAGIC, PSEUDO },
	{ TRACEFS_MAGIC, PSEUDO },
	{ SECURITYFS_MAGIC, PSEUDO },
	{ PSTOREFS_MAGIC, PSEUDO },
	{ BPF_FS_MAGIC, PSEUDO },
	{ BINFMTFS_MAGIC, PSEUDO },
	{ NSFS_MAGIC, PSEUDO },
	{ SELINUX_MAGIC, PSEUDO },
	{ EFIVARFS_MAGIC, PSEUDO },
	{ 0x62656570, PSEUDO },				/* configfs */
	{ 0x65735543, PSEUDO },				/* fusectl */
	{ 0x19800202, PSEUDO },				/* mqueue */
};

static unsigned type_flags(long f_type)
{
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if ((uint32_t)f_type == types[i].magic)
			return types[i].flags;
	return 0;
}

enum fskind fskind_of(int fd, dev_t dev, const struct mount_table *mounts)
{
	struct statfs sfs;
	unsigned flags;
	char type[16];

	if (fstatfs(fd, &sfs) < 0)
		return FSKIND_OTHER;
	flags = type_flags((long)sfs.f_type);
	if (flags & PSEUDO)
		return FSKIND_PSEUDO;
	if (flags & DIR_MTIME)
		return FSKIND_DIR_MTIME;
	if ((uint32_t)sfs.f_type != TMPFS_MAGIC)
		return FSKIND_OTHER;
	/*
	 * devtmpfs says it is tmpfs; only the mount table tells them apart.  A
	 * device it does not list (in a chroot, the filesystem its "/" lies on)
	 * is taken for tmpfs, as a build chroot's root on tmpfs is; a devtmpfs
	 * mounted inside, as /dev is, has its line.
	 */
	if (mount_type(mounts, dev, type, sizeof(type)) == 0 && strcmp(type, "devtmpfs") == 0)
		return FSKIND_PSEUDO;
	return FSKIND_DIR_MTIME;
}

bool fskind_holds_own_files(long f_type)
{
	return type_flags(f_type) & OWN_FILES;
}
