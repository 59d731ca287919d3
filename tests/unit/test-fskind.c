/* SPDX-License-Identifier: MIT */
/*
 * test-fskind.c - filesystem kinds: the mounts of this machine get the kind
 * their type (as findmnt(8) names it, the oracle) calls for, devtmpfs
 * included, which statfs(2) calls tmpfs; the types that hold their own
 * files are told from overlay, FUSE and network filesystems, also when the
 * magic number arrives sign-extended from a 32-bit f_type.
 */
#include "fskind.h"
#include "mountinfo.h"

#include "tap.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum fskind kind_of_type(const char *type)
{
	static const char *const pseudo[] = {
		"proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs",
		"securityfs", "pstore", "bpf", "binfmt_misc", "nsfs", "selinuxfs", "efivarfs",
		"configfs", "fusectl", "mqueue",
	};
	static const char *const dir_mtime[] = {
		"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "bcachefs", "tmpfs",
	};

	for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
		if (strcmp(type, pseudo[i]) == 0)
			return FSKIND_PSEUDO;
	for (size_t i = 0; i < sizeof(dir_mtime) / sizeof(dir_mtime[0]); i++)
		if (strcmp(type, dir_mtime[i]) == 0)
			return FSKIND_DIR_MTIME;
	return FSKIND_OTHER;
}

/* The type findmnt(8) gives the filesystem @path is on, or "" if it cannot. */
static void findmnt_type(const char *path, char *out, size_t size)
{
	char cmd[512];
	FILE *p;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), "findmnt -n -o FSTYPE --target '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(out, (int)size, p))
		out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

static void test_mounts(void)
{
	static const char *const paths[] = { "/", "/tmp", "/proc", "/sys", "/dev", "/dev/shm",
					     "/sys/fs/cgroup", "/run" };
	struct mount_table *table = NULL;

	if (mount_table_load("/proc/self/mountinfo", &table) < 0)
		table = NULL;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char type[64];
		struct stat st;
		int fd = open(paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		enum fskind got;

		findmnt_type(paths[i], type, sizeof(type));
		if (fd < 0 || !type[0] || fstat(fd, &st) < 0) {
			skip("%s: not here, or findmnt cannot say", paths[i]);
			if (fd >= 0)
				close(fd);
			continue;
		}
		got = fskind_of(fd, st.st_dev, NULL);
		ok(got == kind_of_type(type), "%s (%s): kind %d", paths[i], type, (int)got);
		ok(!table || fskind_of(fd, st.st_dev, table) == got,
		   "%s: the same kind through a parsed mount table", paths[i]);
		close(fd);
	}
	mount_table_free(table);
	ok(fskind_of(-1, 0, NULL) == FSKIND_OTHER, "fstatfs fails: FSKIND_OTHER");
}

static void test_own_files(void)
{
	ok(fskind_holds_own_files(0xEF53) && fskind_holds_own_files(0x58465342) &&
	   fskind_holds_own_files(0x9123683E) && fskind_holds_own_files(0x01021994),
	   "ext4, XFS, Btrfs and tmpfs hold their own files");
	ok(fskind_holds_own_files((long)(int32_t)0xF2F52010),
	   "F2FS too, its magic sign-extended as a 32-bit f_type gives it");
	ok(!fskind_holds_own_files(0x794c7630) && !fskind_holds_own_files(0x65735546) &&
	   !fskind_holds_own_files(0x6969) && !fskind_holds_own_files(0xFE534D42),
	   "overlay, FUSE, NFS and SMB2 do not");
	ok(!fskind_holds_own_files(0x9fa0) && !fskind_holds_own_files(0),
	   "nor proc, nor an unknown type");
}

int main(void)
{
	plan_lazy();
	test_mounts();
	test_own_files();
	return done_testing();
}
