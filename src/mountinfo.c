/* SPDX-License-Identifier: MIT */
/*
 * mountinfo.c - look a device up in the mount table.
 *
 * A line of /proc/self/mountinfo (proc(5)):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *
 * The third field is major:minor; after the optional fields comes a lone "-",
 * then the type.  Mount points are octal-escaped, so no field holds a blank.
 */
#include "mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

/* The type named on @line, if its device is @dev; NULL otherwise. */
static char *line_fstype(char *line, dev_t dev)
{
	char *save = NULL, *f;
	unsigned maj, min;
	int i;

	f = strtok_r(line, " \n", &save);
	for (i = 0; f && i < 2; i++)
		f = strtok_r(NULL, " \n", &save);
	if (!f || sscanf(f, "%u:%u", &maj, &min) != 2 || makedev(maj, min) != dev)
		return NULL;
	while ((f = strtok_r(NULL, " \n", &save)) && strcmp(f, "-") != 0)
		;
	return f ? strtok_r(NULL, " \n", &save) : NULL;
}

int mountinfo_fstype(const char *path, dev_t dev, char *type, size_t size)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *t = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0)
		if ((t = line_fstype(line, dev)))
			break;
	if (t) {
		if (size)
			snprintf(type, size, "%s", t);
		r = 0;
	} else if (ferror(f)) {
		r = -EIO;
	}
	free(line);
	fclose(f);
	return r;
}
