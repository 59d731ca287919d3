/* SPDX-License-Identifier: MIT */
/*
 * mountinfo.h - what /proc/self/mountinfo says about a mounted filesystem.
 *
 * statfs() cannot tell every filesystem apart: devtmpfs reports the magic
 * number of tmpfs.  The mount table names the type as it was mounted.
 */
#ifndef FSINDEX_MOUNTINFO_H
#define FSINDEX_MOUNTINFO_H

#include <stddef.h>
#include <sys/types.h>

/**
 * Copy into @type (@size bytes, NUL-terminated, truncated if need be) the
 * filesystem type of the first mount of device @dev in @path (normally
 * "/proc/self/mountinfo").  Returns 0, -ENOENT when no mount has that device,
 * or a negative errno when the table cannot be read.
 *
 * The kernel lists only the mounts reachable from the process's root.  In a
 * chroot (sbuild, pbuilder) the filesystem holding the chroot's "/" has no
 * line unless it is also mounted inside, so -ENOENT for the device of "/" is
 * normal there: callers must take it for "unknown", never for an error.
 */
int mountinfo_fstype(const char *path, dev_t dev, char *type, size_t size);

#endif
