/* SPDX-License-Identifier: MIT */
/*
 * mountinfo.c - parse the mount table.
 *
 * A line of /proc/self/mountinfo (proc(5)):
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *
 * The third field is major:minor, the fifth the mount point; after the
 * optional fields comes a lone "-", then the type and the source.  Blanks,
 * tabs, newlines and backslashes in a field are written as octal escapes
 * ("\040"), so fields are split at blanks and unescaped afterwards.
 */
#include "mountinfo.h"

#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

/* Undo the kernel's octal escapes in @s, in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Split @line into the fields we keep; false if it does not parse. */
static bool parse_line(char *line, dev_t *dev, char **point, char **type, char **source)
{
	char *save = NULL, *f[5];
	unsigned maj, min;

	for (int i = 0; i < 5; i++)
		if (!(f[i] = strtok_r(i ? NULL : line, " \n", &save)))
			return false;
	if (sscanf(f[2], "%u:%u", &maj, &min) != 2)
		return false;
	while ((f[0] = strtok_r(NULL, " \n", &save)) && strcmp(f[0], "-") != 0)
		;
	if (!f[0] || !(*type = strtok_r(NULL, " \n", &save)))
		return false;
	*source = strtok_r(NULL, " \n", &save);
	if (!*source)
		*source = *type + strlen(*type); /* "" */
	*dev = makedev(maj, min);
	*point = f[4];
	unescape(*point);
	unescape(*type);
	unescape(*source);
	return true;
}

/* Append @s to the string arena; its offset, or -1 when out of memory. */
static ptrdiff_t arena_add(char **arena, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;
	ptrdiff_t at = (ptrdiff_t)*len;

	if (GROW(*arena, *cap, *len + n))
		return -1;
	memcpy(*arena + *len, s, n);
	*len += n;
	return at;
}

struct offsets {
	ptrdiff_t point, type, source;
};

int mount_table_load(const char *path, struct mount_table **ret_table)
{
	FILE *f = fopen(path, "re");
	struct mount_table *t = NULL;
	struct offsets *off = NULL;
	char *line = NULL, *arena = NULL;
	size_t cap = 0, alen = 0, acap = 0, n = 0, vcap = 0, ocap = 0;
	struct mount_entry *v = NULL;
	int r = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *point, *type, *source;
		dev_t dev;

		if (!parse_line(line, &dev, &point, &type, &source))
			continue;
		if (GROW(v, vcap, n + 1) || GROW(off, ocap, n + 1)) {
			r = -ENOMEM;
			break;
		}
		v[n].dev = dev;
		off[n].point = arena_add(&arena, &alen, &acap, point);
		off[n].type = arena_add(&arena, &alen, &acap, type);
		off[n].source = arena_add(&arena, &alen, &acap, source);
		if (off[n].point < 0 || off[n].type < 0 || off[n].source < 0) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	if (r == 0 && !(t = calloc(1, sizeof(*t))))
		r = -ENOMEM;
	if (r == 0) {
		/* The arena may have moved while it grew: point into it only now. */
		for (size_t i = 0; i < n; i++) {
			v[i].point = arena + off[i].point;
			v[i].type = arena + off[i].type;
			v[i].source = arena + off[i].source;
		}
		*t = (struct mount_table){ .v = v, .n = n, .strings = arena };
		*ret_table = t;
	} else {
		free(v);
		free(arena);
	}
	free(off);
	free(line);
	fclose(f);
	return r;
}

void mount_table_free(struct mount_table *table)
{
	if (!table)
		return;
	free(table->v);
	free(table->strings);
	free(table);
}

const struct mount_entry *mount_table_find(const struct mount_table *table, dev_t dev)
{
	for (size_t i = 0; i < table->n; i++)
		if (table->v[i].dev == dev)
			return &table->v[i];
	return NULL;
}

int mount_type(const struct mount_table *table, dev_t dev, char *type, size_t size)
{
	const struct mount_entry *e = table ? mount_table_find(table, dev) : NULL;

	if (!e)
		return mountinfo_fstype("/proc/self/mountinfo", dev, type, size);
	if (size)
		snprintf(type, size, "%s", e->type);
	return 0;
}

int mountinfo_fstype(const char *path, dev_t dev, char *type, size_t size)
{
	struct mount_table *t;
	const struct mount_entry *e;
	int r = mount_table_load(path, &t);

	if (r < 0)
		return r;
	e = mount_table_find(t, dev);
	if (e && size)
		snprintf(type, size, "%s", e->type);
	mount_table_free(t);
	return e ? 0 : -ENOENT;
}
