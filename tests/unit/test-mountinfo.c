/* SPDX-License-Identifier: MIT */
/*
 * test-mountinfo.c - the mount table lookup on made-up tables and on the live
 * one, which inside a chroot (where Debian packages are built) has no line
 * for "/": the kernel lists only mounts reachable from the process's root.
 */
#include "mountinfo.h"

#include "tap.h"

#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char table[] =
	"22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
	/* No optional fields at all, and an escaped blank in the mount point. */
	"26 25 0:6 / /dev rw,nosuid - devtmpfs udev rw,size=4096k\n"
	"27 25 0:27 / /my\\040mnt rw master:1 shared:4 propagate_from:2 - tmpfs tmpfs rw\n"
	/* The same device mounted twice: the first line wins. */
	"28 25 0:6 / /tmp/dev2 rw - devtmpfs none rw\n"
	/* A type longer than the caller's buffer. */
	"29 25 0:40 / /x rw - fuse.a-very-long-filesystem-type-name x rw\n"
	/* Malformed lines are skipped, not misread. */
	"30 25\n"
	"31 25 0:41 / /y rw shared:9\n"
	"32 25 notadev / /z rw - ext4 x rw\n";

/*
 * /proc/self/mountinfo as a process chrooted into /srv/chroot of 8:1 sees it:
 * the mount its root lies on has its mount point outside, so no line says
 * "/"; the parent of the first line is not in the table either.
 */
static const char chroot_table[] =
	"54 27 0:46 / /proc rw,relatime - proc proc rw\n"
	"55 27 0:6 / /dev rw,relatime - devtmpfs udev rw\n"
	/* A bind mount from the root's filesystem: 8:1 is known through it only. */
	"56 27 8:2 /build /build rw,relatime - xfs /dev/sda2 rw\n";

/* The type /proc/self/mounts (read by getmntent, not by us) gives for the mount on "/". */
static bool mounts_root_type(char *type, size_t size)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *m;
	bool found = false;

	if (!f)
		return false;
	while ((m = getmntent(f)))
		if (strcmp(m->mnt_dir, "/") == 0) {
			snprintf(type, size, "%s", m->mnt_type);
			found = true;
		}
	endmntent(f);
	return found;
}

static int write_table(char *path, const char *text)
{
	int fd = mkstemp(path);
	FILE *f;

	if (fd < 0 || !(f = fdopen(fd, "w")))
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* The parsed table: every field kept, escapes undone, bad lines skipped. */
static void test_table(const char *path)
{
	struct mount_table *t = NULL;
	const struct mount_entry *e;

	ok(mount_table_load(path, &t) == 0 && t, "the table parses");
	if (!t)
		return;
	ok(t->n == 6, "six lines parse, three are skipped (got %zu)", t->n);
	e = mount_table_find(t, makedev(0, 27));
	ok(e && strcmp(e->point, "/my mnt") == 0 && strcmp(e->type, "tmpfs") == 0 &&
		   strcmp(e->source, "tmpfs") == 0,
	   "0:27: mount point unescaped to '/my mnt', type and source kept");
	e = mount_table_find(t, makedev(0, 6));
	ok(e && strcmp(e->point, "/dev") == 0 && strcmp(e->source, "udev") == 0,
	   "a device mounted twice: its first mount");
	e = mount_table_find(t, makedev(0, 40));
	ok(e && strcmp(e->type, "fuse.a-very-long-filesystem-type-name") == 0,
	   "the table keeps a long type whole");
	ok(mount_table_find(t, makedev(0, 41)) == NULL, "a line without a type is not in the table");
	ok(t->v[0].dev == makedev(0, 21) && strcmp(t->v[1].point, "/") == 0,
	   "the kernel's order is kept");
	mount_table_free(t);
	ok(mount_table_load("/nonexistent/mountinfo", &t) == -ENOENT, "a missing table: -ENOENT");
}

int main(void)
{
	char path[] = "/tmp/fsindex-mountinfo.XXXXXX", cpath[] = "/tmp/fsindex-mountinfo.XXXXXX";
	char type[16], want[256];
	struct stat st;
	int r;

	plan_lazy();
	if (write_table(path, table) < 0 || write_table(cpath, chroot_table) < 0)
		skip_all("cannot create a temporary file");

	ok(mountinfo_fstype(path, makedev(0, 6), type, sizeof(type)) == 0 &&
		   strcmp(type, "devtmpfs") == 0,
	   "0:6 is devtmpfs (a line with no optional fields)");
	ok(mountinfo_fstype(path, makedev(0, 27), type, sizeof(type)) == 0 &&
		   strcmp(type, "tmpfs") == 0,
	   "0:27 is tmpfs (three optional fields before the '-')");
	ok(mountinfo_fstype(path, makedev(8, 1), type, sizeof(type)) == 0 &&
		   strcmp(type, "ext4") == 0,
	   "8:1 is ext4");
	ok(mountinfo_fstype(path, makedev(0, 40), type, sizeof(type)) == 0 &&
		   strcmp(type, "fuse.a-very-lon") == 0,
	   "a long type is truncated to the buffer, NUL-terminated");
	ok(mountinfo_fstype(path, makedev(0, 41), type, sizeof(type)) == -ENOENT,
	   "a line without a type does not match");
	ok(mountinfo_fstype(path, makedev(7, 7), type, sizeof(type)) == -ENOENT,
	   "an unknown device: -ENOENT");
	test_table(path);
	ok(mountinfo_fstype("/nonexistent/mountinfo", makedev(0, 6), type, sizeof(type)) ==
		   -ENOENT,
	   "a missing table: -ENOENT from open");
	unlink(path);

	ok(mountinfo_fstype(cpath, makedev(8, 1), type, sizeof(type)) == -ENOENT,
	   "chroot table: the device of / has no line, -ENOENT (not an error)");
	ok(mountinfo_fstype(cpath, makedev(0, 6), type, sizeof(type)) == 0 &&
		   strcmp(type, "devtmpfs") == 0,
	   "chroot table: /dev is still devtmpfs");
	ok(mountinfo_fstype(cpath, makedev(8, 2), type, sizeof(type)) == 0 &&
		   strcmp(type, "xfs") == 0,
	   "chroot table: a bind mount (root field /build) is found by its device");
	unlink(cpath);

	if (access("/proc/self/mountinfo", R_OK) != 0) {
		skip("no /proc/self/mountinfo here");
		return done_testing();
	}
	/* /proc is mounted inside the root, or the table could not be read. */
	type[0] = '\0';
	ok(stat("/proc/self", &st) == 0 &&
		   mountinfo_fstype("/proc/self/mountinfo", st.st_dev, type, sizeof(type)) == 0 &&
		   strcmp(type, "proc") == 0,
	   "the live table knows the device of /proc: proc (got '%s')", type);

	/*
	 * "/" is in the table unless the process is chrooted below a mount
	 * point; getmntent(3) over /proc/self/mounts tells which, and the type
	 * (one device, one superblock, one type).
	 */
	type[0] = '\0';
	r = stat("/", &st) < 0 ? -errno
			       : mountinfo_fstype("/proc/self/mountinfo", st.st_dev, type, sizeof(type));
	if (mounts_root_type(want, sizeof(want))) {
		want[sizeof(type) - 1] = '\0';
		ok(r == 0 && strcmp(type, want) == 0,
		   "/ is a mount point here: the live table gives its type, %s (got %d, '%s')", want,
		   r, type);
	} else {
		ok(r == -ENOENT || (r == 0 && type[0]),
		   "/ is no mount point here (a chroot): its device is unknown or found through "
		   "another mount (got %d, '%s')",
		   r, type);
	}
	return done_testing();
}
