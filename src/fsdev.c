/* SPDX-License-Identifier: MIT */
/*
 * fsdev.c - filesystem identity across device numbers (fsdev.h).
 */
#include "fsdev.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

int fsdev_ident_fd(int fd, struct fsdev_id *ret)
{
	struct statfs sf;
	uint32_t f[2];

	if (fstatfs(fd, &sf) < 0)
		return -errno;
	memcpy(f, &sf.f_fsid, sizeof(f));
	if (!f[0] && !f[1])
		return -ENODATA;
	put_be64(ret->b, (uint64_t)sf.f_type);
	put_be32(ret->b + 8, f[0]);
	put_be32(ret->b + 12, f[1]);
	return 0;
}

int fsdev_table_set(struct fsdev_table *t, const struct fsdev_id *id, uint64_t dev)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!memcmp(&t->v[i].id, id, sizeof(*id))) {
			t->v[i].dev = dev;
			return 0;
		}
	}
	if (GROW(t->v, t->cap, t->n + 1))
		return -ENOMEM;
	t->v[t->n++] = (struct fsdev_ent){ .id = *id, .dev = dev };
	return 0;
}

void fsdev_table_clear(struct fsdev_table *t)
{
	free(t->v);
	*t = (struct fsdev_table){0};
}

bool fsdev_same(const struct fsdev_table *t, uint64_t stored, uint64_t cur,
		const struct fsdev_id *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].dev == stored)
			return id && !memcmp(&t->v[i].id, id, sizeof(*id));
	return stored == cur;
}
