/* SPDX-License-Identifier: MIT */
/*
 * longlist.c - the `find -l` line.
 *
 * Owner and group names come from NSS, which may be a network lookup, so
 * each id is looked up once: a small direct-mapped cache per kind (a tree
 * has few owners; a collision only costs a second lookup).  The format is
 * that of `ls -l --time-style=long-iso` without padding, so it can be
 * compared with find -printf '%M %n %u %g %s %TY-%Tm-%Td %TH:%TM %p'.
 */
#include "longlist.h"

#include "node.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Slots per cache: more than the owners of most trees. */
#define LL_SLOTS 64

struct ll_name {
	bool used;
	uint32_t id;
	char name[65];		/* a name, or the id in decimal; longer names are cut */
};

struct longlist {
	struct ll_name users[LL_SLOTS], groups[LL_SLOTS];
};

int longlist_new(struct longlist **ret)
{
	struct longlist *ll = calloc(1, sizeof(*ll));

	if (!ll)
		return -ENOMEM;
	*ret = ll;
	return 0;
}

void longlist_free(struct longlist *ll)
{
	free(ll);
}

void longlist_mode_string(uint32_t mode, char buf[11])
{
	static const char rwx[] = "rwxrwxrwx";
	char t = node_type_char(mode);

	buf[0] = t == 'f' ? '-' : t;
	for (int i = 0; i < 9; i++)
		buf[1 + i] = mode & (0400u >> i) ? rwx[i] : '-';
	if (mode & S_ISUID)
		buf[3] = buf[3] == 'x' ? 's' : 'S';
	if (mode & S_ISGID)
		buf[6] = buf[6] == 'x' ? 's' : 'S';
	if (mode & S_ISVTX)
		buf[9] = buf[9] == 'x' ? 't' : 'T';
	buf[10] = '\0';
}

static const char *name_of(struct ll_name *cache, uint32_t id, bool group)
{
	struct ll_name *slot = &cache[id % LL_SLOTS];
	const char *name = NULL;

	if (slot->used && slot->id == id)
		return slot->name;
	if (group) {
		struct group *gr = getgrgid((gid_t)id);

		name = gr ? gr->gr_name : NULL;
	} else {
		struct passwd *pw = getpwuid((uid_t)id);

		name = pw ? pw->pw_name : NULL;
	}
	if (name)
		snprintf(slot->name, sizeof(slot->name), "%s", name);
	else
		snprintf(slot->name, sizeof(slot->name), "%" PRIu32, id);
	slot->used = true;
	slot->id = id;
	return slot->name;
}

int longlist_print(struct longlist *ll, FILE *out, const char *path, size_t len,
		   const struct node *n, char terminator)
{
	char mode[11], when[32] = "?";
	time_t t = (time_t)n->mtime_sec;
	struct tm tm;

	longlist_mode_string(n->mode, mode);
	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	fprintf(out, "%s %" PRIu32 " %s ", mode, n->nlink, name_of(ll->users, n->uid, false));
	fprintf(out, "%s %" PRIu64 " %s ", name_of(ll->groups, n->gid, true), n->size, when);
	fwrite(path, 1, len, out);
	putc(terminator, out);
	if (ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
