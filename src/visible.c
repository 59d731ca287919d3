/* SPDX-License-Identifier: MIT */
/*
 * visible.c - the reach check of entries from another's index (visible.h).
 *
 * The cache is the chain of directories above the last entry asked about:
 * dir holds the deepest one judged, ends[i] where its i-th ancestor ends
 * (ends[0] = 1, "/"), all of them allowed but for the deepest when refused
 * is set.  An entry in another directory keeps the levels it shares with
 * the chain and judges the rest.
 */
#include "visible.h"

#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct visible {
	char *dir;		/* NUL-terminated; its first ends[n - 1] bytes are judged */
	size_t dir_cap;
	size_t *ends;
	size_t n, ends_cap;
	bool refused;		/* the deepest level, ends[n - 1], failed */
};

int visible_new(struct visible **ret)
{
	struct visible *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

void visible_free(struct visible *v)
{
	if (!v)
		return;
	free(v->dir);
	free(v->ends);
	free(v);
}

bool visible_needed(const char *path)
{
	struct stat st;
	uid_t uid = getuid();

	if (uid == 0)
		return false;
	return stat(path, &st) < 0 || st.st_uid != uid;
}

/* How many levels of the chain are ancestors (or the whole) of @dir (@len bytes)? */
static size_t shared_levels(const struct visible *v, const char *dir, size_t len)
{
	size_t k = 0;

	while (k < v->n) {
		size_t end = v->ends[k];

		if (end > len || memcmp(v->dir, dir, end) != 0 ||
		    (end < len && end > 1 && dir[end] != '/'))
			break;
		k++;
	}
	return k;
}

/* Judge one more level of the chain: the prefix of @dir ending at @end. */
static int push_level(struct visible *v, const char *dir, size_t end)
{
	if (GROW(v->ends, v->ends_cap, v->n + 1) < 0 || GROW(v->dir, v->dir_cap, end + 1) < 0)
		return -ENOMEM;
	memcpy(v->dir, dir, end);
	v->dir[end] = '\0';
	v->ends[v->n++] = end;
	/* Gone, past PATH_MAX, anything: hide when unsure. */
	v->refused = access(v->dir, R_OK | X_OK) < 0;
	return 0;
}

bool visible_dir(struct visible *v, const char *dir, size_t len)
{
	size_t k = shared_levels(v, dir, len);

	if (k < v->n) {
		/* Only the deepest level can be the refused one, and it is cut. */
		v->n = k;
		v->refused = false;
	}
	if (v->n == 0 && push_level(v, dir, 1) < 0)
		return false;
	while (!v->refused && v->ends[v->n - 1] < len) {
		size_t end = v->ends[v->n - 1];
		const char *slash = memchr(dir + end + 1, '/', len - end - 1);

		if (push_level(v, dir, slash ? (size_t)(slash - dir) : len) < 0)
			return false;
	}
	return !v->refused;
}

bool visible_entry(struct visible *v, const char *path, size_t len, size_t name_off)
{
	size_t dlen;

	if (len <= 1 || name_off == 0)
		return true; /* "/" */
	dlen = name_off > 1 ? name_off - 1 : 1;
	return visible_dir(v, path, dlen);
}
