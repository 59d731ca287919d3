/* SPDX-License-Identifier: MIT */
/* test-mountinfo.c - the mount table lookup on a made-up table and on the live one. */
#include "mountinfo.h"

#include "tap.h"

#include <errno.h>
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

int main(void)
{
	char path[] = "/tmp/fsindex-mountinfo.XXXXXX";
	char type[16];
	struct stat st;
	FILE *f;
	int fd;

	plan_lazy();
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w")))
		skip_all("cannot create a temporary file");
	fputs(table, f);
	fclose(f);

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
	ok(mountinfo_fstype("/nonexistent/mountinfo", makedev(0, 6), type, sizeof(type)) ==
		   -ENOENT,
	   "a missing table: -ENOENT from open");
	unlink(path);

	if (stat("/", &st) == 0 && access("/proc/self/mountinfo", R_OK) == 0)
		ok(mountinfo_fstype("/proc/self/mountinfo", st.st_dev, type, sizeof(type)) == 0 &&
			   type[0],
		   "the live table knows the device of / (%s)", type);
	else
		skip("no /proc/self/mountinfo here");
	return done_testing();
}
