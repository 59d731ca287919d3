/* SPDX-License-Identifier: MIT */
/*
 * sortbuf.h - `fsindex find --sort`: the matches kept until the last one
 * is found, then handed back in order.
 */
#ifndef FSINDEX_SORTBUF_H
#define FSINDEX_SORTBUF_H

#include "node.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>

struct sortbuf;

enum sortbuf_key {
	SORTBUF_PATH,	/* bytes of the path, as `LC_ALL=C sort` */
	SORTBUF_SIZE,	/* size, then path */
	SORTBUF_MTIME,	/* mtime (seconds, then nanoseconds), then path */
};

/**
 * Parse a --sort value ("path", "size", "mtime").  Returns 0 and *ret, or
 * -EINVAL.
 */
int sortbuf_parse_key(const char *s, enum sortbuf_key *ret);

/**
 * A buffer sorting by @key, descending with @reverse (the whole order, ties
 * included).  With @keep_nodes every entry's node is kept for the output
 * (-l, --printf, --json).  *ret is the caller's (sortbuf_free()).
 * Returns 0 or -ENOMEM.
 */
int sortbuf_new(enum sortbuf_key key, bool reverse, bool keep_nodes, struct sortbuf **ret);

/** Free @sb.  Accepts NULL. */
void sortbuf_free(struct sortbuf *sb);

/** Does a buffer sorting by @key need each entry's node, even without keep_nodes? */
bool sortbuf_key_needs_node(enum sortbuf_key key);

/**
 * Copy in one match: @path (@len bytes, last component at @name_off) and,
 * when the buffer keeps nodes or its key needs one, its node @n (else
 * ignored; its name is not copied).  Returns 0 or -ENOMEM.
 */
int sortbuf_add(struct sortbuf *sb, const char *path, size_t len, size_t name_off,
		const struct node *n);

/** Sort what was added. */
void sortbuf_sort(struct sortbuf *sb);

/** The number of entries added. */
size_t sortbuf_count(const struct sortbuf *sb);

/** One entry, borrowed from the buffer until the next sortbuf_add() or sortbuf_free(). */
struct sortbuf_entry {
	const char *path;	/* NUL-terminated */
	size_t len, name_off;
	const struct node *node;	/* NULL unless the buffer keeps nodes; its name is the path's */
};

/** Entry @i (< sortbuf_count()) in sorted order, after sortbuf_sort(). */
void sortbuf_get(struct sortbuf *sb, size_t i, struct sortbuf_entry *ret);

#endif /* FSINDEX_SORTBUF_H */
