/* SPDX-License-Identifier: MIT */
/*
 * test-sortbuf.c - find --sort's buffer: the three keys, ties broken by
 * path, --reverse reversing the whole order, paths compared as bytes
 * (0xff after 'z', '/' by its value, a prefix first), nodes handed back
 * with their names pointing into the kept path.
 */
#include "sortbuf.h"

#include "node.h"
#include "tap.h"

#include <errno.h>
#include <string.h>

struct item {
	const char *path;
	uint64_t size;
	int64_t sec;
	uint32_t nsec;
};

static const struct item items[] = {
	{ "/b", 10, 5, 0 },
	{ "/a/z", 10, 5, 1 },
	{ "/a", 3, 7, 0 },
	{ "/a\xff", 30, 1, 0 },
	{ "/a-b", 3, 5, 0 },
	{ "/", 4096, 2, 0 },
};

/* The paths of @sb in order, joined by spaces, into @buf. */
static const char *order(enum sortbuf_key key, bool reverse, bool keep, char *buf, size_t size)
{
	struct sortbuf *sb;
	struct sortbuf_entry e;
	size_t used = 0;

	buf[0] = '\0';
	if (sortbuf_new(key, reverse, keep, &sb) < 0)
		return "ENOMEM";
	for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
		struct node n = { .size = items[i].size, .mtime_sec = items[i].sec,
				  .mtime_nsec = items[i].nsec, .nlink = (uint32_t)i };
		const char *slash = strrchr(items[i].path, '/');
		size_t len = strlen(items[i].path);

		sortbuf_add(sb, items[i].path, len, len == 1 ? 1 : (size_t)(slash - items[i].path) + 1,
			    &n);
	}
	sortbuf_sort(sb);
	for (size_t i = 0; i < sortbuf_count(sb); i++) {
		sortbuf_get(sb, i, &e);
		if (keep && (!e.node || e.node->name != e.path + e.name_off ||
			     e.node->size != items[e.node->nlink].size ||
			     strcmp(items[e.node->nlink].path, e.path))) {
			sortbuf_free(sb);
			return "BAD NODE";
		}
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? " " : "", e.path);
	}
	sortbuf_free(sb);
	return buf;
}

int main(void)
{
	enum sortbuf_key k;
	char buf[256];

	plan_lazy();
	ok(sortbuf_parse_key("path", &k) == 0 && k == SORTBUF_PATH &&
	   sortbuf_parse_key("size", &k) == 0 && k == SORTBUF_SIZE &&
	   sortbuf_parse_key("mtime", &k) == 0 && k == SORTBUF_MTIME, "the three keys parse");
	ok(sortbuf_parse_key("name", &k) == -EINVAL && sortbuf_parse_key("", &k) == -EINVAL &&
	   sortbuf_parse_key("Size", &k) == -EINVAL, "others do not");
	ok(!strcmp(order(SORTBUF_PATH, false, false, buf, sizeof(buf)), "/ /a /a-b /a/z /a\xff /b"),
	   "path: bytes, '-' (0x2d) before '/' (0x2f), 0xff after letters: %s", buf);
	ok(!strcmp(order(SORTBUF_PATH, true, false, buf, sizeof(buf)), "/b /a\xff /a/z /a-b /a /"),
	   "path reversed: %s", buf);
	ok(!strcmp(order(SORTBUF_SIZE, false, true, buf, sizeof(buf)), "/a /a-b /a/z /b /a\xff /"),
	   "size, ties by path: %s", buf);
	ok(!strcmp(order(SORTBUF_SIZE, true, false, buf, sizeof(buf)), "/ /a\xff /b /a/z /a-b /a"),
	   "size reversed, ties too: %s", buf);
	ok(!strcmp(order(SORTBUF_MTIME, false, true, buf, sizeof(buf)), "/a\xff / /a-b /b /a/z /a"),
	   "mtime, nanoseconds count, ties by path: %s", buf);
	return done_testing();
}
